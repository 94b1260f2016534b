"""OGPO diagnostic on AdroitHandDoor-v1 from its cached clipped start, with a trace of what changes.

    OMP_NUM_THREADS=1 python benchmarks/door_diagnostic.py --updates 3000 --eval-every 500 \
        --set '{"tau_actor": 0.005}' --out /tmp/door_tau.csv

Builds OGPO from the Door entry of hyperparams/ogpo.yml with the settings it had in sessions 1-2
(``SESSION_1_2``: Best-of-8, policy-gradient term from the first update, the optimizer settings of then, so
that the documented runs reproduce; ``learning_starts`` shortened so that updates start soon) plus the JSON
overrides. ``--success-bc-only`` is the control without the policy-gradient term (``policy_gradient_starts``
beyond the run); for a consistent push without information use ``--set '{"critic_utd": 0}'`` (frozen random
critics). Every ``--eval-every`` updates it evaluates the deterministic ODE
policy (mean return, success rate), does the same with the EMA actor's weights, measures how saturated its actions are (fraction of action
entries at |a| > 0.99, which a critic that extrapolates off the data pushes towards) and how far the
actor moved from the start (mean |ODE chunk - start's ODE chunk| on fixed replay states), and writes
these with the latest ``train/*`` metrics to a CSV. Used to find out why the Door fine-tuning
collapsed (docs/benchmarks.md).
"""

import argparse
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
from sb3_ogpo.common.evaluation import episode_succeeded
from sb3_ogpo.envs.adroit import AdroitSuccessWrapper
from sb3_ogpo.zoo.presets import load_preset

# What differed in sessions 1-2 from today's Door entry (its other settings were the same).
SESSION_1_2 = dict(best_of_n=8, policy_gradient_starts=0, max_grad_norm=1.0, reset_optimizers=False,
                   actor_lr_restart_period=0, policy_kwargs=dict(actor_net_arch=[256] * 3, critic_net_arch=[256] * 3))


TRAIN_KEYS = ("critic_loss", "q_mean", "q_ensemble_std", "clip_fraction", "approx_kl", "advantage_abs",
              "advantage_nonzero", "action_std", "bc_loss", "success_buffer_size")


def evaluate(model: OGPO, eval_env: gym.Env, episodes: int) -> tuple[float, float]:
    successes = []

    def record(locals_, globals_):
        if locals_["done"]:
            successes.append(episode_succeeded(locals_["info"]))

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
    parser.add_argument("--success-bc-only", action="store_true",
                        help="no policy-gradient term: only the success-BC term moves the actor (a control)")
    args = parser.parse_args()
    th.set_num_threads(1)
    overrides = {**SESSION_1_2, "learning_starts": args.learning_starts, "seed": args.seed, **json.loads(args.set)}
    if args.success_bc_only:
        overrides["policy_gradient_starts"] = 10**9
    settings = load_preset("AdroitHandDoor-v1", overrides=overrides).kwargs
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
