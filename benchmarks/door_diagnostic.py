"""OGPO diagnostic on AdroitHandDoor-v1 from its cached clipped start, with a trace of what changes.

    OMP_NUM_THREADS=1 python benchmarks/door_diagnostic.py --updates 3000 --eval-every 500 \
        --set '{"tau_actor": 0.005}' --out /tmp/door_tau.csv

Builds OGPO with the Door settings that hyperparams/ogpo.yml had in sessions 1-2 (``DOOR_SETTINGS``:
Best-of-8, policy-gradient term from the first update, so that the documented runs reproduce;
``learning_starts`` shortened so that updates start soon) plus the JSON overrides. Every ``--eval-every`` updates it evaluates the deterministic ODE
policy (mean return, success rate), does the same with the EMA actor's weights, measures how saturated its actions are (fraction of action
entries at |a| > 0.99, which a critic that extrapolates off the data pushes towards) and how far the
actor moved from the start (mean |ODE chunk - start's ODE chunk| on fixed replay states), and writes
these with the latest ``train/*`` metrics to a CSV. Used to find out why the Door fine-tuning
collapsed (docs/benchmarks.md).
"""

import argparse
import copy
import csv
import json
import time

import gymnasium as gym
import numpy as np
import torch as th
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.logger import configure

from sb3_ogpo import OGPO
from sb3_ogpo.ogpo import ogpo as ogpo_module
from sb3_ogpo.envs.adroit import AdroitSuccessWrapper

DOOR_SETTINGS = dict(
    buffer_size=100_000, batch_size=64, n_group=16, n_critics=5, bf16=True, gamma=0.95,
    tau_actor=0.05, tau_critic=0.05, denoising_steps=3, chunk_size=4, success_bc_coef=1.0, best_of_n=8,
    learning_rate=4.5e-5, critic_learning_rate=4.5e-5, init_policy="start:AdroitHandDoor-v1",
    policy_kwargs=dict(actor_net_arch=[256] * 3, critic_net_arch=[256] * 3),
)


def zero_advantages() -> None:
    """Make every group advantage 0, so that only the success-BC term moves the actor (a control)."""
    ogpo_module.group_advantage = lambda q_values, strategy="vanilla": th.zeros_like(q_values[0])


TRAIN_KEYS = ("critic_loss", "q_mean", "q_ensemble_std", "clip_fraction", "approx_kl", "advantage_abs",
              "advantage_nonzero", "action_std", "bc_loss", "success_buffer_size")


def evaluate(model: OGPO, eval_env: gym.Env, episodes: int) -> tuple[float, float]:
    successes = []

    def record(locals_, globals_):
        if locals_["done"]:
            successes.append(bool(locals_["info"].get("is_success", False)))

    mean_return, _ = evaluate_policy(model, eval_env, n_eval_episodes=episodes, deterministic=True, callback=record)
    return float(mean_return), float(np.mean(successes))


class Trace(BaseCallback):
    """Evaluates and records the policy's drift every ``every`` updates after ``learning_starts``."""

    def __init__(self, env_id: str, every: int, episodes: int, probe_obs: th.Tensor, writer: csv.DictWriter) -> None:
        super().__init__()
        self.every, self.episodes, self.probe_obs, self.writer = every, episodes, probe_obs, writer
        self.eval_env = AdroitSuccessWrapper(gym.make(env_id))
        self.sums: dict[str, list[float]] = {}
        self.last_recorded = -1
        self.start_chunks: th.Tensor | None = None
        self.started = time.time()

    def _probe(self) -> th.Tensor:
        th.manual_seed(0)  # same x0 every time: differences come from the actor only
        return self.model.policy.plan_chunks(self.probe_obs, deterministic=True)

    def record(self) -> None:
        chunks = self._probe()
        if self.start_chunks is None:
            self.start_chunks = chunks
        mean_return, success = evaluate(self.model, self.eval_env, self.episodes)
        # the EMA actor (rollouts, pi_old) evaluated the same way: is a collapse in both or in the actor only?
        policy = self.model.policy
        policy.deterministic_actor = "ema"
        ema_return, ema_success = evaluate(self.model, self.eval_env, self.episodes)
        policy.deterministic_actor = "current"
        row = {
            "env_steps": self.num_timesteps, "updates": self.model._n_updates, "wall_s": round(time.time() - self.started),
            "eval_return": round(mean_return, 1), "eval_success": success,
            "ema_return": round(ema_return, 1), "ema_success": ema_success,
            "saturated": round(float((chunks.abs() > 0.99).float().mean()), 4),
            "drift_from_start": round(float((chunks - self.start_chunks).abs().mean()), 4),
        }
        for key, values in self.sums.items():  # train metrics averaged since the last row
            row[key] = round(float(np.mean(values)), 5)
        self.sums = {}
        self.writer.writerow(row)
        print(row, flush=True)

    def _on_training_start(self) -> None:
        self.record()

    def _on_step(self) -> bool:
        values = self.model.logger.name_to_value  # the latest train() call's metrics
        for key in TRAIN_KEYS:
            if f"train/{key}" in values:
                self.sums.setdefault(key, []).append(float(values[f"train/{key}"]))
        updates = self.model._n_updates
        if updates > 0 and updates % self.every == 0 and updates != self.last_recorded:
            self.last_recorded = updates
            self.record()
        return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--set", default="{}", help="JSON overrides of the OGPO kwargs")
    parser.add_argument("--learning-starts", type=int, default=2000)
    parser.add_argument("--updates", type=int, default=3000)
    parser.add_argument("--eval-every", type=int, default=500)
    parser.add_argument("--eval-episodes", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--env", default="AdroitHandDoor-v1",
                        help="AdroitHandDoorSparse-v1 is the released code's online env (reward 10 / -0.1)")
    parser.add_argument("--out", default="door_diagnostic.csv")
    parser.add_argument("--zero-advantage", action="store_true",
                        help="replace the group advantages by 0: only the success-BC term moves the actor")
    parser.add_argument("--random-advantage", type=float, default=0.0,
                        help="replace the group advantages by centred Gaussian noise of this std (a no-signal control)")
    args = parser.parse_args()
    th.set_num_threads(1)
    if args.zero_advantage:
        zero_advantages()
    if args.random_advantage > 0:
        def noise_advantage(q_values: th.Tensor, strategy: str = "vanilla") -> th.Tensor:
            noise = th.randn_like(q_values[0]) * args.random_advantage
            return noise - noise.mean(0, keepdim=True)

        ogpo_module.group_advantage = noise_advantage
    settings = {**copy.deepcopy(DOOR_SETTINGS), "learning_starts": args.learning_starts, "seed": args.seed,
                **json.loads(args.set)}
    model = OGPO("MlpPolicy", AdroitSuccessWrapper(gym.make(args.env)), **settings)
    model.set_logger(configure(None, []))
    probe_env = AdroitSuccessWrapper(gym.make("AdroitHandDoor-v1"))
    probe_obs = th.as_tensor(np.stack([probe_env.reset(seed=1000 + i)[0] for i in range(32)]), dtype=th.float32)
    fields = ["env_steps", "updates", "wall_s", "eval_return", "eval_success", "ema_return", "ema_success", "saturated", "drift_from_start",
              *TRAIN_KEYS]
    with open(args.out, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        print("settings:", json.loads(args.set), flush=True)
        model.learn(args.learning_starts + args.updates, callback=Trace(args.env, args.eval_every, args.eval_episodes, probe_obs, writer))


if __name__ == "__main__":
    main()
