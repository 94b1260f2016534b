"""Deterministic-ODE success of a saved OGPO model's current actor and of its EMA actor, same episodes.

    python benchmarks/eval_actor_vs_ema.py logs/ogpo/AdroitHandDoor-v1_2/AdroitHandDoor-v1.zip \
        --env AdroitHandDoor-v1 --episodes 100 --seed 123

``predict(deterministic=True)`` (and so RL Zoo's evaluations) use the current actor, as the paper does;
the EMA actor is the one that collects data. On Door their success differed a lot (docs/benchmarks.md).
"""

import argparse

import gymnasium as gym
import torch as th

import sb3_ogpo  # noqa: F401  (registers the env ids)
from sb3_ogpo import OGPO
from sb3_ogpo.envs.adroit import AdroitSuccessWrapper
from sb3_ogpo.starts import evaluate_success


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
    # Same env seed and flow noise for both, so the two actors see the same episodes.
    actor = evaluate_success(model, env, args.episodes, seed=args.seed).success_rate
    model.policy.deterministic_actor = "ema"
    ema = evaluate_success(model, env, args.episodes, seed=args.seed).success_rate
    print(f"{args.model}: current actor {actor:.2f}, EMA actor {ema:.2f} ({args.episodes} episodes, seed {args.seed})")


if __name__ == "__main__":
    main()
