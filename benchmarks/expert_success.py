"""Success rate of a scripted expert: python benchmarks/expert_success.py --env ID --episodes 50 --noise 0.1"""

import argparse
import time

import gymnasium as gym
from tqdm import tqdm

import sb3_ogpo  # noqa: F401  (registers env ids)
from sb3_ogpo.experts import make_expert, rollout_expert

parser = argparse.ArgumentParser()
parser.add_argument("--env", required=True)
parser.add_argument("--episodes", type=int, default=50)
parser.add_argument("--noise", type=float, default=0.0)
parser.add_argument("--seed", type=int, default=0)
args = parser.parse_args()

env = gym.make(args.env)
expert = make_expert(args.env, env, noise_scale=args.noise)
start, successes, final_successes, steps = time.time(), 0, 0, 0
for episode in tqdm(range(args.episodes)):
    result = rollout_expert(env, expert, seed=args.seed + episode)
    successes += result["success"]
    final_successes += result["final_success"]
    steps += len(result["actions"])
print(
    f"{args.env}: expert success {successes}/{args.episodes} = {successes / args.episodes:.2f} at any step, "
    f"{final_successes}/{args.episodes} = {final_successes / args.episodes:.2f} at the last step "
    f"(noise {args.noise}, seeds {args.seed}..{args.seed + args.episodes - 1}, {steps} steps, {time.time() - start:.0f}s)"
)
