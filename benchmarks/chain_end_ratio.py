"""The PPO ratio at identical weights under the released chain storage (``clipped_chain_end=True``).

    python benchmarks/chain_end_ratio.py --env AdroitHandDoorSparse-v1 --init start:AdroitHandDoor-v1

The released sampler stores the chain's last step clipped to [-1, 1] but returns the log-prob of the unclipped one,
so re-evaluating a chain under the same weights gives a ratio at or above 1 wherever the final sample left [-1, 1].
This script rolls the model's SDE policy out for ``--steps`` env steps, takes every ``--every``-th state, draws
``--group`` chains per state from the EMA actor and reports the ratio's distribution and how many chains start above
the upper clip ``1 + --clip-range`` (for those, a positive advantage has no gradient).
"""

import argparse

import torch as th

import sb3_ogpo  # noqa: F401  (registers env ids and the "start" scheme)
from sb3_ogpo import OGPO
from sb3_ogpo.common.demonstrations import stack_observations
from sb3_ogpo.common.init_policy import resolve_init_policy
from sb3_ogpo.common.rollouts import visited_observations
from sb3_ogpo.zoo.presets import load_preset

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("--env", required=True, help="an entry of hyperparams/ogpo.yml")
parser.add_argument("--init", required=True, help='"start:<env id>" or the path of a saved OGPO model')
parser.add_argument("--steps", type=int, default=600)
parser.add_argument("--every", type=int, default=5)
parser.add_argument("--group", type=int, default=16)
parser.add_argument("--clip-range", type=float, default=0.01)
parser.add_argument("--seed", type=int, default=0)
args = parser.parse_args()

th.manual_seed(args.seed)
preset = load_preset(args.env)
env = preset.make_env()
actor = {key: preset.kwargs[key] for key in ("chunk_size", "denoising_steps") if key in preset.kwargs}
actor["actor_net_arch"] = preset.kwargs["policy_kwargs"]["actor_net_arch"]
model = OGPO.load(resolve_init_policy(args.init, actor), env=env, device="cpu", custom_objects={"buffer_size": 1})
policy = model.policy

observations = visited_observations(model, env, args.steps, args.every, args.seed)
batch = policy.obs_to_tensor(stack_observations(observations))[0]

policy.sampler.clipped_chain_end = True
with th.no_grad():
    features = policy.features(batch)
    _, chains, old_log_prob = policy.sample_chunks(features, policy.actor_target, n_samples=args.group, return_chain=True)
    ratio = th.exp(policy.chain_log_prob(policy.actor_target, features.repeat(args.group, 1), chains) - old_log_prob)
saturated = chains[-1].abs() >= 1.0
print(f"{args.env}, {args.init}: {ratio.numel()} chains ({len(observations)} states x {args.group}); ratio at identical "
      f"weights mean {ratio.mean():.4f}, median {ratio.median():.4f}, max {ratio.max():.4f}; above 1 + {args.clip_range}: "
      f"{(ratio > 1 + args.clip_range).float().mean():.3f}; chains with a saturated dimension "
      f"{saturated.any(-1).float().mean():.3f}, saturated dimensions {saturated.float().mean():.3f}")
