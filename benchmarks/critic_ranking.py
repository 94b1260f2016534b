"""Does the critic rank a group's chunks like their true returns? (AdroitHandDoor-v1)

    OMP_NUM_THREADS=1 python benchmarks/critic_ranking.py --train-steps 10000 --set '{"critic_learning_rate": 3e-4}'

OGPO's policy update only sees the critics' values of the N_group chunks sampled for a state, through
group-relative advantages. This script trains the critics of the Door preset (hyperparams/ogpo.yml,
actor frozen: ``actor_utd=0``, or taking
success-BC steps only with ``--bc-actor``) on the start policy's own data, then, for probe states reached by the
start policy, samples a group of chunks from the EMA actor, and compares each chunk's critic value
with its Monte-Carlo return: the simulator is restored to the probe state, the chunk executed, and the
policy continues for ``--horizon`` steps (``--rollouts`` times per chunk, discounted with the preset's
gamma). Reported per probe state: Spearman correlation of critic value and MC return over the group,
and the spread of the MC returns between chunks against their spread between rollouts of one chunk
(how much signal there is to find at all).
"""

import argparse
import json

import gymnasium as gym
import numpy as np
import torch as th
from stable_baselines3.common.logger import configure

from sb3_ogpo import OGPO
from sb3_ogpo.envs.adroit import AdroitSuccessWrapper
from sb3_ogpo.zoo.presets import load_preset

# The collection settings of the documented measurements (sessions 3-4): Best-of-8 rollouts.
DOCUMENTED = dict(best_of_n=8, policy_kwargs=dict(actor_net_arch=[256] * 3, critic_net_arch=[256] * 3))


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    rank_x, rank_y = np.argsort(np.argsort(x)), np.argsort(np.argsort(y))
    return float(np.corrcoef(rank_x, rank_y)[0, 1])


def probe_states(model: OGPO, n_states: int, seed: int) -> list[tuple[dict, np.ndarray]]:
    """Simulator states (and observations) the start policy reaches after a random number of steps."""
    env = AdroitSuccessWrapper(gym.make("AdroitHandDoor-v1"))
    rng = np.random.default_rng(seed)
    probes = []
    for index in range(n_states):
        obs, _ = env.reset(seed=seed + index)
        state = None
        for _ in range(int(rng.integers(0, 120))):
            action, state = model.predict(obs, state=state, deterministic=False)
            obs, *_ = env.step(action)
        probes.append((env.unwrapped.get_env_state(), obs))
    return probes


@th.no_grad()
def monte_carlo_returns(model: OGPO, envs: list[gym.Env], state: dict, chunks: np.ndarray, horizon: int) -> np.ndarray:
    """Discounted return of executing ``chunks[i]`` in ``envs[i]`` from ``state``, then the EMA actor's SDE."""
    policy, h = model.policy, model.chunk_size
    observations = []
    for env in envs:
        env.reset()
        env.unwrapped.set_env_state(state)
        observations.append(env.unwrapped._get_obs())
    planned = chunks.reshape(len(envs), h, policy.action_dim)
    returns = np.zeros(len(envs))
    for step in range(horizon):
        if step % h == 0 and step > 0:
            features = policy.features(th.as_tensor(np.stack(observations), dtype=th.float32))
            sampled, _, _ = policy.sample_chunks(features, policy.actor_target, stochastic=True)
            planned = sampled.float().numpy().reshape(len(envs), h, policy.action_dim)
        actions = policy.unscale_action(planned[:, step % h])
        for i, env in enumerate(envs):
            observations[i], reward, *_ = env.step(actions[i])
            returns[i] += model.gamma**step * reward
    return returns


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--set", default="{}", help="JSON overrides of the OGPO kwargs")
    parser.add_argument("--train-steps", type=int, default=10_000, help="env steps (critic updates after learning_starts)")
    parser.add_argument("--learning-starts", type=int, default=2000)
    parser.add_argument("--states", type=int, default=16)
    parser.add_argument("--group", type=int, default=16)
    parser.add_argument("--rollouts", type=int, default=4)
    parser.add_argument("--horizon", type=int, default=60)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--bc-actor", action="store_true",
                        help="let the actor take success-BC steps (no policy-gradient term) while the critics learn")
    args = parser.parse_args()
    th.set_num_threads(1)
    overrides = {**DOCUMENTED, "learning_starts": args.learning_starts, "seed": args.seed, "actor_utd": int(args.bc_actor),
                 "policy_gradient_starts": 10**9, **json.loads(args.set)}
    settings = load_preset("AdroitHandDoor-v1", overrides=overrides).kwargs
    model = OGPO("MlpPolicy", AdroitSuccessWrapper(gym.make("AdroitHandDoor-v1")), **settings)
    model.set_logger(configure(None, []))
    model.learn(args.train_steps)
    policy = model.policy
    envs = [AdroitSuccessWrapper(gym.make("AdroitHandDoor-v1")) for _ in range(args.group * args.rollouts)]
    correlations, chunk_spread, rollout_spread = [], [], []
    for state, obs in probe_states(model, args.states, seed=10_000 + args.seed):
        features = policy.features(th.as_tensor(obs[None], dtype=th.float32))
        with th.no_grad():
            chunks, _, _ = policy.sample_chunks(features, policy.actor_target, stochastic=True, n_samples=args.group)
            q_values = policy.critic_target(features.repeat(args.group, 1), chunks.float()).float().mean(0).numpy()
        repeated = np.repeat(chunks.float().numpy(), args.rollouts, axis=0)
        returns = monte_carlo_returns(model, envs, state, repeated, args.horizon).reshape(args.group, args.rollouts)
        mc_mean = returns.mean(1)
        correlations.append(spearman(q_values, mc_mean))
        chunk_spread.append(mc_mean.std())
        rollout_spread.append(returns.std(1).mean())
        print(f"state {len(correlations):2d}: spearman {correlations[-1]:+.2f}  Q {q_values.mean():7.2f} +- {q_values.std():.2f}"
              f"  MC {mc_mean.mean():7.2f} +- {mc_mean.std():.2f} (per-chunk rollout std {rollout_spread[-1]:.2f})", flush=True)
    correlations = np.nan_to_num(np.array(correlations))
    print(json.dumps({
        "settings": json.loads(args.set), "train_steps": args.train_steps,
        "mean_spearman": round(float(correlations.mean()), 3),
        "positive_fraction": round(float((correlations > 0).mean()), 3),
        "mc_std_between_chunks": round(float(np.mean(chunk_spread)), 3),
        "mc_std_between_rollouts": round(float(np.mean(rollout_spread)), 3),
    }))


if __name__ == "__main__":
    main()
