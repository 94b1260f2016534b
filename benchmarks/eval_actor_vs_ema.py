"""Deterministic-ODE success of a saved OGPO model's current actor and of its EMA actor, same episodes.

    python benchmarks/eval_actor_vs_ema.py logs/ogpo/AdroitHandDoor-v1_2/AdroitHandDoor-v1.zip \
        --env AdroitHandDoor-v1 --episodes 100 --seed 123

``predict(deterministic=True)`` (and so RL Zoo's evaluations) use the current actor, as the paper does;
the EMA actor is the one that collects data. On Door their success differed a lot (docs/benchmarks.md).
"""

import argparse

import gymnasium as gym
import numpy as np
import torch as th
from stable_baselines3.common.evaluation import evaluate_policy

import sb3_ogpo  # noqa: F401  (registers the env ids)
from sb3_ogpo import OGPO
from sb3_ogpo.envs.adroit import AdroitSuccessWrapper


def success_rate(model: OGPO, env: gym.Env, episodes: int, seed: int) -> float:
    successes: list[bool] = []

    def record(locals_, globals_):
        if locals_["done"]:
            successes.append(bool(locals_["info"].get("is_success", False)))

    env.reset(seed=seed)  # the same episode sequence for both actors
    th.manual_seed(seed)
    evaluate_policy(model, env, n_eval_episodes=episodes, deterministic=True, callback=record, warn=False)
    return float(np.mean(successes))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model")
    parser.add_argument("--env", default="AdroitHandDoor-v1")
    parser.add_argument("--episodes", type=int, default=100)
    parser.add_argument("--seed", type=int, default=123)
    args = parser.parse_args()
    th.set_num_threads(1)
    model = OGPO.load(args.model, custom_objects={"buffer_size": 1})
    env = gym.make(args.env)
    if args.env.startswith("AdroitHand"):
        env = AdroitSuccessWrapper(env)
    actor = success_rate(model, env, args.episodes, args.seed)
    model.policy.actor.load_state_dict(model.policy.actor_target.state_dict())
    ema = success_rate(model, env, args.episodes, args.seed)
    print(f"{args.model}: current actor {actor:.2f}, EMA actor {ema:.2f} ({args.episodes} episodes, seed {args.seed})")


if __name__ == "__main__":
    main()
