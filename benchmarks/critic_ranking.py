"""Does the critic rank a group's chunks like their true returns?

    OMP_NUM_THREADS=1 python benchmarks/critic_ranking.py --train-steps 10000 --set '{"critic_learning_rate": 3e-4}'
    OMP_NUM_THREADS=1 python benchmarks/critic_ranking.py --env AdroitHandDoorSparse-v1 --states 40 --rollouts 8 \
        --train-steps 5000 10000 20000 --probes runs/probes/door_start.npz
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

``--probes FILE`` keeps the probe states, their chunks and the chunks' returns: written by the first run, read by
later ones (for the same EMA actor only; it is checked), so that critics of other budgets or settings are ranked on
the same chunks. Several ``--train-steps`` rank the critics after each budget. Each result also gives the returns'
own split-half Spearman (the ceiling for a critic) and which chunks critics and returns favour (centrality).

A probe state is reached from a seeded reset by a recorded action sequence; the simulator returns to it by replaying
that sequence (any task whose reset is deterministic given its seed: Adroit, Kitchen, Robomimic). The script checks
that the replay reproduces the recorded observation.
"""

import argparse
import json
from pathlib import Path
from typing import Optional

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
    """The entry's model whose critics learn on the start policy's data (actor frozen, or success-BC steps only)."""
    documented = DOCUMENTED if env_id == "AdroitHandDoor-v1" else {}
    overrides = {**documented, "learning_starts": args.learning_starts, "seed": args.seed, "actor_utd": int(args.bc_actor),
                 "policy_gradient_starts": 10**9, **json.loads(args.set)}
    preset = load_preset(env_id, overrides=overrides)
    model = OGPO(preset.policy, preset.make_env(), **preset.kwargs)
    model.set_logger(configure(None, []))
    return model


def actor_fingerprint(model: OGPO) -> float:
    """A number that changes when the EMA actor (the policy the Monte-Carlo returns follow) changes."""
    return float(sum(p.double().abs().sum() for p in model.policy.actor_target.parameters()))


def build_probe_set(model: OGPO, preset, args: argparse.Namespace) -> dict:
    """Probe states, a group of the EMA actor's chunks at each, and each chunk's Monte-Carlo returns."""
    policy = model.policy
    envs = [preset.make_env() for _ in range(args.group * args.rollouts)]
    probes = probe_states(model, preset.make_env(), args.states, 10_000 + args.seed, args.probe_steps)
    all_chunks, all_returns = [], []
    for probe in probes:
        with th.no_grad():
            features = policy.features(policy.obs_to_tensor(probe[2])[0])
            chunks, _, _ = policy.sample_chunks(features, policy.actor_target, stochastic=True, n_samples=args.group)
        chunks = chunks.float().numpy()
        repeated = np.repeat(chunks, args.rollouts, axis=0)
        all_chunks.append(chunks)
        all_returns.append(monte_carlo_returns(model, envs, probe, repeated, args.horizon).reshape(args.group, args.rollouts))
    return {"reset_seeds": np.array([p[0] for p in probes]), "observations": [p[2] for p in probes],
            "chunks": np.stack(all_chunks), "returns": np.stack(all_returns),
            "fingerprint": actor_fingerprint(model), "horizon": args.horizon}


def save_probe_set(path: str, probe_set: dict) -> None:
    observations = stack_observations(probe_set["observations"])
    observations = {f"obs_{key}": value for key, value in observations.items()} if isinstance(observations, dict) \
        else {"obs": observations}
    np.savez(path, reset_seeds=probe_set["reset_seeds"], chunks=probe_set["chunks"], returns=probe_set["returns"],
             fingerprint=probe_set["fingerprint"], horizon=probe_set["horizon"], **observations)


def load_probe_set(path: str) -> dict:
    data = np.load(path)
    n_states = len(data["reset_seeds"])
    if "obs" in data:
        observations = list(data["obs"])
    else:
        keys = [name for name in data.files if name.startswith("obs_")]
        observations = [{name[len("obs_"):]: data[name][i] for name in keys} for i in range(n_states)]
    return {"reset_seeds": data["reset_seeds"], "chunks": data["chunks"], "returns": data["returns"],
            "fingerprint": float(data["fingerprint"]), "horizon": int(data["horizon"]), "observations": observations}


def split_half_spearman(returns: np.ndarray) -> Optional[float]:
    """The ranking the Monte-Carlo returns themselves allow: Spearman between the chunks' mean returns over even and
    over odd rollouts, averaged over the states where both halves differ (the ceiling for a critic's Spearman)."""
    halves = [spearman(state[:, ::2].mean(1), state[:, 1::2].mean(1)) for state in returns]
    halves = np.array([value for value in halves if not np.isnan(value)])
    return round(float(halves.mean()), 3) if len(halves) else None


@th.no_grad()
def ranking(model: OGPO, probe_set: dict) -> dict:
    """The critics' (target ensemble mean) within-group Spearman against the probe set's Monte-Carlo returns."""
    if not np.isclose(actor_fingerprint(model), probe_set["fingerprint"], rtol=1e-6):
        raise ValueError("The probe set's returns follow another EMA actor than this model's: build a new probe set "
                         "(a fresh --probes file) for this model, or train with the actor frozen (no --bc-actor).")
    policy = model.policy.eval()
    correlations, rows, q_centrality, mc_centrality = [], [], [], []
    for observation, chunks, returns in zip(probe_set["observations"], probe_set["chunks"], probe_set["returns"]):
        features = policy.features(policy.obs_to_tensor(observation)[0])
        q_values = policy.critic_target(features.repeat(len(chunks), 1), th.as_tensor(chunks)).float().mean(0).numpy()
        mc_mean = returns.mean(1)
        correlations.append(spearman(q_values, mc_mean))
        # Which chunks each side favours: the central ones of the group (near its mean chunk) or the outlying ones.
        closeness = -np.linalg.norm(chunks - chunks.mean(0), axis=1)
        q_centrality.append(spearman(q_values, closeness))
        mc_centrality.append(spearman(mc_mean, closeness))
        rows.append(f"state {len(correlations):2d}: spearman {correlations[-1]:+.2f}  Q {q_values.mean():7.2f} +- "
                    f"{q_values.std():.2f}  MC {mc_mean.mean():7.2f} +- {mc_mean.std():.2f} (per-chunk rollout std "
                    f"{returns.std(1).mean():.2f})")
    correlations = np.array(correlations)
    rankable = ~np.isnan(correlations)  # states where the chunks' MC returns differ at all

    def mean_over_ranked(values) -> Optional[float]:
        return round(float(np.asarray(values)[rankable].mean()), 3) if rankable.any() else None

    return {"rows": rows, "states_with_a_ranking": f"{rankable.sum()}/{len(correlations)}",
            "mean_spearman": mean_over_ranked(correlations),
            "positive_fraction": mean_over_ranked(correlations > 0),
            # Spearman with the chunk's closeness to its group's mean chunk, over the ranked states: > 0 favours the centre.
            "q_centrality": mean_over_ranked(q_centrality),
            "mc_centrality": mean_over_ranked(mc_centrality),
            "mc_split_half_spearman": split_half_spearman(probe_set["returns"]),
            "mc_std_between_chunks": round(float(probe_set["returns"].mean(2).std(1).mean()), 3),
            "mc_std_between_rollouts": round(float(probe_set["returns"].std(2).mean()), 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="AdroitHandDoor-v1", help="an entry of hyperparams/ogpo.yml")
    parser.add_argument("--model", help="a saved OGPO model to probe (default: train the entry's critics here)")
    parser.add_argument("--set", default="{}", help="JSON overrides of the OGPO kwargs (training here only)")
    parser.add_argument("--train-steps", type=int, nargs="+", default=[10_000],
                        help="env steps (critic updates after learning_starts); several: rank after each")
    parser.add_argument("--learning-starts", type=int, default=2000)
    parser.add_argument("--probes", help="an .npz of probe states, chunks and their returns: read if it exists (the "
                                         "same EMA actor only), else written, so that several critics meet the same chunks")
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
    budgets = [None] if args.model else sorted(args.train_steps)
    probe_set = None
    for budget in budgets:
        if budget is not None:
            model.learn(budget - model.num_timesteps, reset_num_timesteps=False)
        if probe_set is None:
            if args.probes and Path(args.probes).exists():
                probe_set = load_probe_set(args.probes)
            else:
                probe_set = build_probe_set(model, preset, args)
                if args.probes:
                    save_probe_set(args.probes, probe_set)
        result = ranking(model, probe_set)
        print("\n".join(result.pop("rows")), flush=True)
        print(json.dumps({"env": args.env, "model": args.model, "settings": json.loads(args.set), "train_steps": budget,
                          "horizon": probe_set["horizon"], **result}), flush=True)


if __name__ == "__main__":
    main()
