"""One OGPO run of a YAML entry through the public API, on any device, within a wall-clock budget.

    python benchmarks/preset_run.py --env AdroitHandDoorSparse-v1 --config paper --device cuda --seed 0 \
        [--variant pg|success_bc|frozen_actor|random_critic] [-n 40000] [--max-seconds 300] [--eval-freq 10000] [--eval-episodes 64] \
        [--out run.json] [-params key:value ...]

Made for the GPU machine, where RL Zoo is not installed: it builds ``OGPO(entry's policy, entry's env, **entry's
arguments, device=...)`` as the zoo would (``sb3_ogpo.zoo.presets.load_preset``), evaluates the start, trains until
``-n`` env steps or ``--max-seconds`` (whichever comes first), evaluating the deterministic ODE on the same
``--eval-episodes`` episodes every ``--eval-freq`` env steps and at the end, and reports env steps/s of the online
phase and the peak accelerator memory. ``--variant`` takes ``finetune_controls.py``'s variants (``success_bc``: the
policy-gradient term never joins; ``frozen_actor``; ``random_critic``). It also checks that the critics return float32 under bf16
autocast on the device.
"""

from __future__ import annotations

import argparse
import json
import time

import torch as th
import yaml
from stable_baselines3.common.callbacks import BaseCallback

import sb3_ogpo  # noqa: F401  (registers env ids and the "start" scheme)
from sb3_ogpo import OGPO
from sb3_ogpo.common.evaluation import evaluate_success
from sb3_ogpo.zoo.presets import load_preset

from finetune_controls import VARIANTS  # OGPO's variants as -params overrides (benchmarks/ is on sys.path)


class EvalAndBudget(BaseCallback):
    """Evaluates every ``eval_freq`` env steps and stops training after ``max_seconds`` of it."""

    def __init__(self, eval_env, eval_freq: int, episodes: int, seed: int, max_seconds: float, report: dict):
        super().__init__()
        self.eval_env, self.eval_freq, self.episodes, self.seed = eval_env, eval_freq, episodes, seed
        self.max_seconds, self.report = max_seconds, report
        self.began = time.perf_counter()
        self.online_began: float | None = None
        self.online_steps_began = 0
        self.eval_seconds = 0.0

    def evaluate(self) -> None:
        began = time.perf_counter()
        rate = evaluate_success(self.model, self.eval_env, self.episodes, seed=self.seed).success_rate
        self.eval_seconds += time.perf_counter() - began
        self.report["evaluations"].append((int(self.model.num_timesteps), rate))
        print(f"env step {self.model.num_timesteps}: success {rate:.3f} ({self.episodes} episodes), "
              f"{time.perf_counter() - self.began:.0f} s", flush=True)

    def _on_step(self) -> bool:
        if self.online_began is None and self.model.num_timesteps >= self.model.learning_starts:
            self.online_began, self.eval_seconds = time.perf_counter(), 0.0
            self.online_steps_began = self.model.num_timesteps
        if self.model.num_timesteps % self.eval_freq == 0:
            self.evaluate()
        return time.perf_counter() - self.began < self.max_seconds

    def online_steps_per_second(self) -> float:
        if self.online_began is None:
            return float("nan")
        seconds = time.perf_counter() - self.online_began - self.eval_seconds
        return (self.model.num_timesteps - self.online_steps_began) / max(seconds, 1e-9)


def critic_dtype_under_bf16(model: OGPO) -> str:
    """The dtype ``policy.critic`` returns inside a bf16 autocast on the model's device."""
    observation = model.observation_space.sample()
    obs, _ = model.policy.obs_to_tensor(observation)
    action = th.zeros((1, model.policy.flow_dim), device=model.device)
    with th.no_grad(), th.autocast(device_type=model.device.type, dtype=th.bfloat16):
        return str(model.policy.critic(model.policy.features(obs), action).dtype)


def parse_params(pairs: list[str]) -> dict:
    """``key:value`` pairs (values read as YAML, as RL Zoo's ``-params`` reads them)."""
    return {key: yaml.safe_load(value) for key, _, value in (pair.partition(":") for pair in pairs)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", required=True)
    parser.add_argument("--config", default=None, help='"paper" for hyperparams/ogpo_paper.yml, a path, or none (ogpo.yml)')
    parser.add_argument("--device", default="auto")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--variant", choices=list(VARIANTS), default="pg")
    parser.add_argument("-n", "--n-timesteps", type=int, default=None, help="env steps (default: the entry's budget)")
    parser.add_argument("--max-seconds", type=float, default=float("inf"))
    parser.add_argument("--eval-freq", type=int, default=10_000)
    parser.add_argument("--eval-episodes", type=int, default=64)
    parser.add_argument("--out", default=None, help="write the report as JSON here")
    parser.add_argument("-params", "--hyperparams", nargs="*", default=[], help="key:value overrides of the entry")
    args = parser.parse_args()

    preset = load_preset(args.env, args.config, parse_params(VARIANTS[args.variant] + list(args.hyperparams)))
    report = {"env": args.env, "config": args.config or "ogpo.yml", "variant": args.variant, "seed": args.seed,
              "evaluations": []}
    began = time.perf_counter()
    model = OGPO(preset.policy, preset.make_env(), seed=args.seed, device=args.device, **preset.kwargs)
    report["setup_seconds"] = time.perf_counter() - began  # includes generating a missing start
    report["device"] = str(model.device)
    if model.device.type == "cuda":
        report["accelerator"] = th.cuda.get_device_name(model.device)
        th.cuda.reset_peak_memory_stats(model.device)
    report["critic_dtype_under_bf16"] = critic_dtype_under_bf16(model)
    print(f"{args.env} ({report['config']}, {args.variant}, seed {args.seed}) on {report['device']}: "
          f"critic under bf16 returns {report['critic_dtype_under_bf16']}", flush=True)
    callback = EvalAndBudget(preset.make_env(), args.eval_freq, args.eval_episodes, args.seed, args.max_seconds, report)
    callback.init_callback(model)
    callback.evaluate()  # the start
    model.learn(args.n_timesteps or preset.n_timesteps, callback=callback)
    if report["evaluations"][-1][0] != model.num_timesteps:
        callback.evaluate()
    report["env_steps"] = int(model.num_timesteps)
    report["online_env_steps_per_second"] = callback.online_steps_per_second()
    if model.device.type == "cuda":
        report["peak_accelerator_memory_gib"] = th.cuda.max_memory_allocated(model.device) / 1024**3
    report["wall_seconds"] = time.perf_counter() - began
    print(json.dumps(report), flush=True)
    if args.out:
        with open(args.out, "w") as file:
            json.dump(report, file, indent=1)


if __name__ == "__main__":
    main()
