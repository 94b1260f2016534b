"""Does behaviour cloning on the policy's own successes raise its success? (the success-BC phase, isolated)

    python benchmarks/filtered_bc.py --start <start zip> --env AdroitHandPen-v1 --rounds 4 \
        --episodes-per-round 100 --learning-rate 4.5e-5 --eval-episodes 64 --eval-repeats 2

The fine-tuning presets' actor learns from the success buffer alone (``policy_gradient_starts`` beyond the
budget), i.e. iterated filtered BC: roll out the stochastic policy, keep the episodes that end in success,
clone them. This script runs that loop without critics or replay machinery: each round collects
``--episodes-per-round`` episodes with the SDE sampler (on ``--n-envs`` envs, so whole batches of episodes
end together; the first ``--episodes-per-round`` count), adds the successful ones to everything kept so
far, and takes as many BC steps (batch 64, fresh AdamW) as the round had env steps, all envs counted
(update-to-data 1, as online). After every round the deterministic ODE policy is evaluated on the same episodes (same env
seeds and flow noise), so the curve shows what the success-BC term does to success, round by round.
``--with-demos`` also clones the start's demonstrations in every round (a reference, not OGPO). Controls:
``--keep-all`` clones every rollout (no selection), ``--rollout-sigma`` / ``--rollout-denoising-steps`` change
the rollouts' sampler noise / Euler steps (``--rollout-sigma 0``: the deterministic ODE).
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Optional

import numpy as np
import torch as th
from stable_baselines3.common.vec_env import DummyVecEnv

import sb3_ogpo  # noqa: F401  (registers the env ids)
from sb3_ogpo import OGPO
from sb3_ogpo.common.evaluation import episode_succeeded
from sb3_ogpo.datasets import Demonstrations
from sb3_ogpo.ogpo.policies import FlowSampler
from sb3_ogpo.starts import collect_start_demos, evaluate_success, get_start_config, make_start_env

EVAL_SEED = 777  # env seeds / flow noise of the evaluations (disjoint from the rollouts' seeds)


def collect(model: OGPO, env: DummyVecEnv, n_episodes: int, sampler: Optional[FlowSampler] = None) -> tuple[list[dict], int]:
    """``n_episodes`` episodes of the stochastic policy: per episode its observations, actions and final success.

    ``sampler`` replaces the policy's sampler for these rollouts only."""
    policy, original = model.policy, model.policy.sampler
    policy.sampler = sampler or original
    try:
        return _collect(model, env, n_episodes)
    finally:
        policy.sampler = original


def _collect(model: OGPO, env: DummyVecEnv, n_episodes: int) -> tuple[list[dict], int]:
    episodes, steps = [], 0
    current = [{"observations": [], "actions": []} for _ in range(env.num_envs)]
    obs = env.reset()
    state, episode_start = None, np.ones(env.num_envs, dtype=bool)
    while len(episodes) < n_episodes:
        actions, state = model.predict(obs, state=state, episode_start=episode_start, deterministic=False)
        next_obs, _, dones, infos = env.step(actions)
        steps += env.num_envs
        for i in range(env.num_envs):
            current[i]["observations"].append(obs[i])
            current[i]["actions"].append(actions[i])
            if dones[i]:
                episodes.append({**current[i], "success": episode_succeeded(infos[i])})
                current[i] = {"observations": [], "actions": []}
        obs, episode_start = next_obs, dones
    return episodes[:n_episodes], steps


def as_demonstrations(episodes: list[dict]) -> Demonstrations:
    lengths = [len(episode["actions"]) for episode in episodes]
    starts = np.zeros(sum(lengths), dtype=bool)
    starts[np.cumsum([0] + lengths[:-1])] = True
    return Demonstrations(
        observations=np.concatenate([np.asarray(e["observations"], dtype=np.float32) for e in episodes]),
        actions=np.concatenate([np.asarray(e["actions"], dtype=np.float32) for e in episodes]),
        episode_starts=starts,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--start", required=True, help="a saved OGPO zip (e.g. the task's cached start)")
    parser.add_argument("--env", default="AdroitHandPen-v1")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--episodes-per-round", type=int, default=100)
    parser.add_argument("--n-envs", type=int, default=16)
    parser.add_argument("--learning-rate", type=float, default=4.5e-5)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--utd", type=float, default=1.0, help="BC steps per env step of the round")
    parser.add_argument("--with-demos", action="store_true", help="also clone the start's demonstrations")
    parser.add_argument("--demos-only", action="store_true",
                        help="control: clone only the start's demonstrations (no rollouts), same number of steps")
    parser.add_argument("--keep-all", action="store_true",
                        help="control: clone every rollout, failures included (self-distillation, no filtering)")
    parser.add_argument("--replay-fraction", type=float, default=0.0,
                        help="share of every BC batch drawn from ALL rollouts so far (self-distillation anchor); "
                        "the rest from the successful ones")
    parser.add_argument("--ema-tau", type=float, default=None,
                        help="keep (and roll out / evaluate) the EMA of the BC iterates (pretrain_bc ema_tau)")
    parser.add_argument("--rollout-sigma", type=float, default=None,
                        help="SDE noise of the rollouts (default: the start's sde_sigma); evaluations stay deterministic")
    parser.add_argument("--rollout-denoising-steps", type=int, default=None,
                        help="Euler steps K of the rollouts' sampler (default: the start's); BC and evaluations keep the start's K")
    parser.add_argument("--eval-episodes", type=int, default=64)
    parser.add_argument("--eval-repeats", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None, help="write the curve as JSON here")
    args = parser.parse_args()
    th.set_num_threads(1)
    th.manual_seed(args.seed)
    config = get_start_config(args.env)
    model = OGPO.load(args.start, custom_objects={"buffer_size": 1})
    own = model.policy.sampler
    rollout_sampler = FlowSampler(args.rollout_denoising_steps or own.n_steps,
                                  own.sigma if args.rollout_sigma is None else args.rollout_sigma,
                                  own.marginal_correction, own.clip)
    rollout_env = DummyVecEnv([lambda: make_start_env(config)] * args.n_envs)
    rollout_env.seed(args.seed)
    eval_env = DummyVecEnv([lambda: make_start_env(config)])
    demos = collect_start_demos(config, 0) if args.with_demos or args.demos_only else None

    def evaluate() -> float:
        return float(np.mean([evaluate_success(model, eval_env, args.eval_episodes, seed=EVAL_SEED + r).success_rate
                              for r in range(args.eval_repeats)]))

    curve = [{"round": 0, "eval_success": evaluate()}]
    print(f"round 0: eval success {curve[0]['eval_success']:.3f}", flush=True)
    kept: list[dict] = []
    everything: list[dict] = []
    for round_index in range(1, args.rounds + 1):
        start = time.perf_counter()
        episodes, steps = collect(model, rollout_env, args.episodes_per_round, rollout_sampler)
        kept += [episode for episode in episodes if episode["success"] or args.keep_all]
        everything += episodes
        rollout_success = float(np.mean([episode["success"] for episode in episodes]))
        bc_steps = int(args.utd * steps)
        if kept:
            successes = data = as_demonstrations(kept)
            if args.replay_fraction > 0:  # successes replicated so that they make up 1 - f of the data
                replay = as_demonstrations(everything)
                copies = max(1, round((1 - args.replay_fraction) * len(replay.actions) / (args.replay_fraction * len(successes.actions))))
                data = Demonstrations.concatenate([successes] * copies + [replay])
            if demos is not None:
                data = demos if args.demos_only else Demonstrations.concatenate([data, demos])
            model.pretrain_bc(data, gradient_steps=bc_steps, batch_size=args.batch_size, learning_rate=args.learning_rate,
                              ema_tau=args.ema_tau)
        row = {"round": round_index, "rollout_success": rollout_success, "kept_episodes": len(kept),
               "bc_steps": bc_steps, "eval_success": evaluate(), "time_s": time.perf_counter() - start}
        curve.append(row)
        print(f"round {round_index}: rollouts {rollout_success:.2f}, kept {len(kept)} episodes, {bc_steps} BC steps, "
              f"eval success {row['eval_success']:.3f} ({row['time_s']:.0f} s)", flush=True)
    if args.out:
        with open(args.out, "w") as handle:
            json.dump({"args": vars(args), "curve": curve}, handle, indent=1)


if __name__ == "__main__":
    main()
