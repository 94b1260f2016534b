"""Does the critic rank a group's chunks like their true returns?

    OMP_NUM_THREADS=1 python benchmarks/critic_ranking.py --train-steps 10000 --set '{"critic_learning_rate": 3e-4}'
    OMP_NUM_THREADS=1 python benchmarks/critic_ranking.py --env KitchenMicrowaveKettleLightSliderStepPenalty-v0 \
        --model runs/kitchen/pg/seed0/ogpo/KitchenMicrowaveKettleLightSliderStepPenalty-v0_1/KitchenMicrowaveKettleLightSliderStepPenalty-v0.zip

OGPO's policy update only sees the critics' values of the N_group chunks sampled for a state, through
group-relative advantages. For probe states reached by the policy, this script samples a group of chunks from the
EMA actor and compares each chunk's critic value (the target critics' ensemble mean, what the update uses) with its
Monte-Carlo return: the simulator is brought back to the probe state, the chunk executed, and the EMA actor's SDE
continues for ``--horizon`` steps (``--rollouts`` times per chunk, discounted with the model's gamma; a rollout
that ends stops adding reward). Reported per probe state: Spearman correlation of critic value and MC return over
the group, and the spread of the MC returns between chunks against their spread between rollouts of one chunk
(how much signal there is to find at all).

The critics come either from a saved model (``--model``: e.g. a fine-tuning run's final zip, its critics and actors
as the run left them) or are trained here on the entry of hyperparams/ogpo.yml for ``--env`` (actor frozen:
``actor_utd=0``, or taking success-BC steps only with ``--bc-actor``) on the start policy's own data.

A probe state is reached from a seeded reset by a recorded action sequence; the simulator returns to it by replaying
that sequence (any task whose reset is deterministic given its seed: Adroit, Kitchen, Robomimic). The script checks
that the replay reproduces the recorded observation.
"""

import argparse
import json

import numpy as np
import torch as th
from stable_baselines3.common.logger import configure

from sb3_ogpo import OGPO
from sb3_ogpo.common.demonstrations import stack_observations
from sb3_ogpo.zoo.presets import load_preset

# The collection settings of the documented Door measurements (sessions 3-4): Best-of-8 rollouts.
DOCUMENTED = dict(best_of_n=8, policy_kwargs=dict(actor_net_arch=[256] * 3, critic_net_arch=[256] * 3))


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Rank correlation (ties share their mean rank); NaN when either side is constant (nothing to rank)."""
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan")
    return float(np.corrcoef(average_ranks(x), average_ranks(y))[0, 1])


def average_ranks(values: np.ndarray) -> np.ndarray:
    ranks = np.empty(len(values))
    ranks[np.argsort(values, kind="stable")] = np.arange(len(values))
    _, tie = np.unique(values, return_inverse=True)
    return (np.bincount(tie, ranks) / np.bincount(tie))[tie]


def flat(obs) -> np.ndarray:
    return np.concatenate([np.ravel(obs[key]) for key in sorted(obs)]) if isinstance(obs, dict) else np.ravel(obs)


def replay(env, seed: int, actions: list[np.ndarray]):
    """Reset ``env`` with ``seed`` and replay ``actions``: the observation of the probe state."""
    obs, _ = env.reset(seed=seed)
    for action in actions:
        obs, *_ = env.step(action)
    return obs


def probe_states(model: OGPO, env, n_states: int, seed: int, max_steps: int) -> list[tuple[int, list, object]]:
    """(reset seed, actions, observation) of states the policy's SDE reaches after a random number of steps, so
    that no episode ended on the way."""
    rng = np.random.default_rng(seed)
    probes = []
    while len(probes) < n_states:
        reset_seed = seed + len(probes) + 1000 * int(rng.integers(0, 1000))
        obs, _ = env.reset(seed=reset_seed)
        state, actions, ended = None, [], False
        for _ in range(int(rng.integers(0, max_steps))):
            action, state = model.predict(obs, state=state, deterministic=False)
            actions.append(action)
            obs, _, terminated, truncated, _ = env.step(action)
            if terminated or truncated:
                ended = True
                break
        if not ended:
            probes.append((reset_seed, actions, obs))
    return probes


@th.no_grad()
def monte_carlo_returns(model: OGPO, envs: list, probe: tuple, chunks: np.ndarray, horizon: int) -> np.ndarray:
    """Discounted return of executing ``chunks[i]`` in ``envs[i]`` from the probe state, then the EMA actor's SDE."""
    policy, h = model.policy, model.chunk_size
    reset_seed, actions, recorded = probe
    observations = [replay(env, reset_seed, actions) for env in envs]
    if not np.allclose(flat(observations[0]), flat(recorded), atol=1e-5):
        raise RuntimeError("Replaying the recorded actions from the seeded reset did not reproduce the probe state: "
                           "this env's reset or dynamics are not deterministic given its seed.")
    planned = chunks.reshape(len(envs), h, policy.action_dim)
    returns, alive = np.zeros(len(envs)), np.ones(len(envs), dtype=bool)
    for step in range(horizon):
        if step % h == 0 and step > 0:
            features = policy.features(policy.obs_to_tensor(stack_observations(observations))[0])
            sampled, _, _ = policy.sample_chunks(features, policy.actor_target, stochastic=True)
            planned = sampled.float().cpu().numpy().reshape(len(envs), h, policy.action_dim)
        env_actions = policy.unscale_action(planned[:, step % h])
        for i, env in enumerate(envs):
            if alive[i]:
                observations[i], reward, terminated, truncated, _ = env.step(env_actions[i])
                returns[i] += model.gamma**step * reward
                alive[i] = not (terminated or truncated)
        if not alive.any():
            break
    return returns


def trained_model(env_id: str, args: argparse.Namespace) -> OGPO:
    """The entry's critics trained on the start policy's data (actor frozen, or success-BC steps only)."""
    documented = DOCUMENTED if env_id == "AdroitHandDoor-v1" else {}
    overrides = {**documented, "learning_starts": args.learning_starts, "seed": args.seed, "actor_utd": int(args.bc_actor),
                 "policy_gradient_starts": 10**9, **json.loads(args.set)}
    preset = load_preset(env_id, overrides=overrides)
    model = OGPO(preset.policy, preset.make_env(), **preset.kwargs)
    model.set_logger(configure(None, []))
    model.learn(args.train_steps)
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="AdroitHandDoor-v1", help="an entry of hyperparams/ogpo.yml")
    parser.add_argument("--model", help="a saved OGPO model to probe (default: train the entry's critics here)")
    parser.add_argument("--set", default="{}", help="JSON overrides of the OGPO kwargs (training here only)")
    parser.add_argument("--train-steps", type=int, default=10_000, help="env steps (critic updates after learning_starts)")
    parser.add_argument("--learning-starts", type=int, default=2000)
    parser.add_argument("--states", type=int, default=16)
    parser.add_argument("--group", type=int, default=16)
    parser.add_argument("--rollouts", type=int, default=4)
    parser.add_argument("--horizon", type=int, default=60)
    parser.add_argument("--probe-steps", type=int, default=120, help="probe states lie up to this many steps into an episode")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--bc-actor", action="store_true",
                        help="let the actor take success-BC steps (no policy-gradient term) while the critics learn")
    args = parser.parse_args()
    th.set_num_threads(1)
    preset = load_preset(args.env)
    model = OGPO.load(args.model, device="cpu") if args.model else trained_model(args.env, args)
    policy = model.policy.eval()
    envs = [preset.make_env() for _ in range(args.group * args.rollouts)]
    correlations, chunk_spread, rollout_spread = [], [], []
    for probe in probe_states(model, preset.make_env(), args.states, 10_000 + args.seed, args.probe_steps):
        with th.no_grad():
            features = policy.features(policy.obs_to_tensor(probe[2])[0])
            chunks, _, _ = policy.sample_chunks(features, policy.actor_target, stochastic=True, n_samples=args.group)
            q_values = policy.critic_target(features.repeat(args.group, 1), chunks.float()).float().mean(0).numpy()
        repeated = np.repeat(chunks.float().numpy(), args.rollouts, axis=0)
        returns = monte_carlo_returns(model, envs, probe, repeated, args.horizon).reshape(args.group, args.rollouts)
        mc_mean = returns.mean(1)
        correlations.append(spearman(q_values, mc_mean))
        chunk_spread.append(mc_mean.std())
        rollout_spread.append(returns.std(1).mean())
        print(f"state {len(correlations):2d}: spearman {correlations[-1]:+.2f}  Q {q_values.mean():7.2f} +- {q_values.std():.2f}"
              f"  MC {mc_mean.mean():7.2f} +- {mc_mean.std():.2f} (per-chunk rollout std {rollout_spread[-1]:.2f})", flush=True)
    correlations = np.array(correlations)
    ranked = correlations[~np.isnan(correlations)]  # states where the chunks' MC returns differ at all
    print(json.dumps({
        "env": args.env, "model": args.model, "settings": json.loads(args.set),
        "train_steps": None if args.model else args.train_steps, "horizon": args.horizon,
        "states_with_a_ranking": f"{len(ranked)}/{len(correlations)}",
        "mean_spearman": round(float(ranked.mean()), 3) if len(ranked) else None,
        "positive_fraction": round(float((ranked > 0).mean()), 3) if len(ranked) else None,
        "mc_std_between_chunks": round(float(np.mean(chunk_spread)), 3),
        "mc_std_between_rollouts": round(float(np.mean(rollout_spread)), 3),
    }))


if __name__ == "__main__":
    main()
