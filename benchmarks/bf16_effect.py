"""What bf16 autocast does to the numbers the actor step uses, on a saved model's own states.

    OMP_NUM_THREADS=1 python benchmarks/bf16_effect.py --env AdroitHandDoorSparse-v1 \
        --model runs/door_nobc/pg/seed1/ogpo/AdroitHandDoorSparse-v1_1/AdroitHandDoorSparse-v1.zip

The model's SDE policy runs ``--steps`` env steps; every ``--every``-th observation becomes a state. At each state
the EMA actor samples a group of chunks under bf16 autocast, as the actor step does. Reported: how well the critics'
values of the group under bf16 rank like the same values in float32 (mean within-group Spearman), the spread of the
bf16 - float32 difference against the spread of the values within a group, the chain log-prob's bf16 error, and
the fraction of chains whose PPO ratio (current actor over EMA actor) leaves [1 - eps, 1 + eps] with bf16 log-probs
(as trained) and with float32 ones.
"""

import argparse
import json

import numpy as np
import torch as th

from sb3_ogpo import OGPO
from sb3_ogpo.common.demonstrations import stack_observations
from sb3_ogpo.common.rollouts import visited_observations
from sb3_ogpo.zoo.presets import load_preset
from critic_ranking import spearman


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", required=True, help="an entry of hyperparams/ogpo.yml")
    parser.add_argument("--model", required=True, help="a saved OGPO model")
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--every", type=int, default=10)
    parser.add_argument("--group", type=int, default=16)
    parser.add_argument("--clip-range", type=float, default=0.01)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    th.set_num_threads(1)
    th.manual_seed(args.seed)
    env = load_preset(args.env).make_env()
    model = OGPO.load(args.model, device="cpu")
    policy = model.policy.eval()
    observations = visited_observations(model, env, args.steps, args.every, args.seed)
    bf16 = th.autocast("cpu", dtype=th.bfloat16)
    with th.no_grad():
        features = policy.features(policy.obs_to_tensor(stack_observations(observations))[0])
        with bf16:
            chunks, chains, sampled_log_prob = policy.sample_chunks(
                features, policy.actor_target, stochastic=True, n_samples=args.group, return_chain=True)
        chunks, chains, chain_features = chunks.float(), chains.float(), features.repeat(args.group, 1)
        with bf16:
            q_bf16 = policy.critic_target(chain_features, chunks).float().mean(0).view(args.group, -1)
            current_bf16 = policy.chain_log_prob(policy.actor, chain_features, chains).float()
        q_float32 = policy.critic_target(chain_features, chunks).float().mean(0).view(args.group, -1)
        old_float32 = policy.chain_log_prob(policy.actor_target, chain_features, chains).float()
        current_float32 = policy.chain_log_prob(policy.actor, chain_features, chains).float()
    rank_agreement = [spearman(q_bf16[:, i].numpy(), q_float32[:, i].numpy()) for i in range(q_bf16.shape[1])]

    def clipped(ratio: th.Tensor) -> float:
        return round(float(((ratio - 1).abs() > args.clip_range).float().mean()), 3)

    print(json.dumps({
        "env": args.env, "model": args.model, "states": len(observations), "group": args.group,
        "q_within_group_std": round(float(q_float32.std(0).mean()), 3),
        "q_bf16_error_std": round(float((q_bf16 - q_float32).std()), 4),
        "q_rank_agreement_bf16_float32": round(float(np.nanmean(rank_agreement)), 3),
        "log_prob_bf16_error_std": round(float((sampled_log_prob.float() - old_float32).std()), 4),
        "log_prob_std_between_chains": round(float(old_float32.std()), 4),
        "ratio_outside_clip_bf16": clipped(th.exp(current_bf16 - sampled_log_prob.float())),
        "ratio_outside_clip_float32": clipped(th.exp(current_float32 - old_float32)),
    }))


if __name__ == "__main__":
    main()
