"""Short OGPO diagnostic on AdroitHandDoor-v1 from its cached clipped start.

    OMP_NUM_THREADS=1 python benchmarks/door_diagnostic.py '{"tau_actor": 0.005}' 1500

Builds OGPO with hyperparams/ogpo.yml's Door settings (``learning_starts=2000`` so that updates start
soon) plus the JSON overrides, evaluates the deterministic ODE policy on 10 episodes (mean return,
success), runs ``learning_starts + updates`` env steps and evaluates again. Used to find out why the
Door fine-tuning collapses (docs/benchmarks.md).
"""

import json
import sys
import time

import gymnasium as gym
import numpy as np
import torch as th
from stable_baselines3.common.evaluation import evaluate_policy

from sb3_ogpo import OGPO
from sb3_ogpo.envs.adroit import AdroitSuccessWrapper

overrides = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}
updates = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
th.set_num_threads(1)
settings = dict(
    learning_starts=2000, buffer_size=30_000, batch_size=64, n_group=16, n_critics=5, bf16=True, gamma=0.95,
    tau_actor=0.05, tau_critic=0.05, denoising_steps=3, chunk_size=4, success_bc_coef=1.0, best_of_n=8,
    learning_rate=4.5e-5, critic_learning_rate=4.5e-5, init_policy="start:AdroitHandDoor-v1", seed=0,
    policy_kwargs=dict(actor_net_arch=[256] * 3, critic_net_arch=[256] * 3),
)
settings.update(overrides)
model = OGPO("MlpPolicy", AdroitSuccessWrapper(gym.make("AdroitHandDoor-v1")), **settings)


def evaluate() -> tuple[float, float]:
    successes = []

    def record(locals_, globals_):
        if locals_["done"]:
            successes.append(bool(locals_["info"].get("is_success", False)))

    mean_return, _ = evaluate_policy(model, model.get_env(), n_eval_episodes=10, deterministic=True, callback=record)
    return round(float(mean_return), 1), float(np.mean(successes))


print(overrides, "start (return, success):", evaluate(), flush=True)
start = time.time()
model.learn(settings["learning_starts"] + updates)
print(overrides, f"after {updates} updates:", evaluate(), f"{time.time() - start:.0f}s", flush=True)
