"""Collect scripted-expert demonstrations and write them as a dataset.

    python -m sb3_ogpo.experts.collect --env AdroitHandDoor-v1 --episodes 50 --noise 0.1 --successful-only
    python -m sb3_ogpo.experts.collect --env RobomimicLift-v0 --episodes 20 --out demos/lift.hdf5
    python -m sb3_ogpo.experts.collect --env KitchenMicrowaveKettleLightSlider-v0 --episodes 10 --tasks microwave,kettle

The default format is robomimic-style HDF5 for Robomimic* ids and a Minari dataset otherwise.
:func:`collect_demonstrations` is the Python entry point.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from pathlib import Path
from typing import Any, Sequence

import gymnasium as gym
import numpy as np
from tqdm import tqdm

import sb3_ogpo  # noqa: F401  (registers the project's env ids)
from sb3_ogpo.common.demonstrations import (
    EPISODE_SEEDS,
    EPISODE_TERMINATED,
    FINAL_OBSERVATIONS,
    STEP_SUCCESSES,
    Demonstrations,
    stack_observations,
)
from sb3_ogpo.experts import make_expert, rollout_expert
from sb3_ogpo.tasks import TASKS, get_task, make_task_env

FORMATS = ("minari", "hdf5")


#: The env demonstrations are collected in: :func:`sb3_ogpo.tasks.make_task_env`.
make_demo_env = make_task_env


def default_format(env_id: str) -> str:
    """``"hdf5"`` for Robomimic* ids, ``"minari"`` otherwise."""
    is_robomimic = env_id.startswith("Robomimic") or (env_id in TASKS and get_task(env_id).family == "robomimic")
    return "hdf5" if is_robomimic else "minari"


def collect_demonstrations(
    env_id: str,
    n_episodes: int,
    noise_scale: float = 0.0,
    seed: int = 0,
    successful_only: bool = False,
    *,
    env: gym.Env | None = None,
    env_kwargs: dict | None = None,
    expert_kwargs: dict | None = None,
    max_attempts: int | None = None,
    progress: bool = True,
) -> Demonstrations:
    """Run the expert registered for ``env_id`` and return its episodes as :class:`Demonstrations`.

    Episode ``i`` (counting attempts) resets with seed ``seed + i``. An episode is successful when its last
    step reports success (what evaluations and the success buffer count: Relocate's expert reaches the
    target and loses the ball again in ~20% of its episodes). With ``successful_only`` failed episodes
    are dropped and collection goes on until ``n_episodes`` succeeded or ``max_attempts`` (default
    ``3 * n_episodes + 10``) episodes ran; a shortfall warns, no success at all raises ``RuntimeError``.

    :param env: an env to use instead of ``make_demo_env(env_id, **env_kwargs)`` (not closed here).
    :return: demos with rewards and episode_successes; ``metadata`` holds the final observation, the
        termination flag and seed of each episode, per-step success flags when the rollout reports them,
        and ``env_id``, ``noise_scale``, ``seed``, ``attempts``, ``success_rate`` (over all attempts) and
        ``collection_time_s``.
    """
    if n_episodes < 1:
        raise ValueError(f"n_episodes must be positive, got {n_episodes}.")
    if max_attempts is None:
        max_attempts = 3 * n_episodes + 10 if successful_only else n_episodes
    own_env = env is None
    env = make_demo_env(env_id, **(env_kwargs or {})) if own_env else env
    expert = make_expert(env_id, env, noise_scale=noise_scale, **(expert_kwargs or {}))
    kept: list[dict] = []
    attempts = successes = 0
    start = time.perf_counter()
    bar = tqdm(total=n_episodes, desc=env_id, unit="ep", disable=not progress, leave=False)
    try:
        while len(kept) < n_episodes and attempts < max_attempts:
            result = rollout_expert(env, expert, seed=seed + attempts)
            result["seed"] = seed + attempts
            attempts += 1
            successes += bool(result["final_success"])
            if result["final_success"] or not successful_only:
                kept.append(result)
                bar.update(1)
            bar.set_postfix(success=f"{successes}/{attempts}")
    finally:
        bar.close()
        if own_env:
            env.close()
    elapsed = time.perf_counter() - start
    if not kept:
        raise RuntimeError(
            f"The {env_id} expert succeeded in none of {attempts} episodes (noise {noise_scale}); "
            "lower the noise or check the expert."
        )
    if len(kept) < n_episodes:
        warnings.warn(
            f"Only {len(kept)} of the {n_episodes} requested successful episodes after {attempts} attempts "
            f"(success rate {successes / attempts:.0%}); raise max_attempts or lower the noise."
        )

    lengths = [len(result["actions"]) for result in kept]
    episode_starts = np.zeros(sum(lengths), dtype=bool)
    episode_starts[np.cumsum([0] + lengths[:-1])] = True
    metadata: dict[str, Any] = {
        "env_id": env_id,
        "algorithm": "scripted expert",
        "noise_scale": float(noise_scale),
        "seed": int(seed),
        "successful_only": bool(successful_only),
        "attempts": attempts,
        "success_rate": successes / attempts,
        "collection_time_s": elapsed,
        FINAL_OBSERVATIONS: stack_observations([result["final_observation"] for result in kept]),
        EPISODE_TERMINATED: np.array([bool(result["terminated"]) for result in kept]),
        EPISODE_SEEDS: np.array([result["seed"] for result in kept], dtype=np.int64),
    }
    if all("successes" in result for result in kept):  # per-step flags, if the rollout helper reports them
        metadata[STEP_SUCCESSES] = np.concatenate([np.asarray(result["successes"], dtype=bool) for result in kept])
    return Demonstrations(
        observations=stack_observations([obs for result in kept for obs in result["observations"]]),
        actions=np.concatenate([result["actions"] for result in kept]).astype(np.float32, copy=False),
        episode_starts=episode_starts,
        rewards=np.concatenate([result["rewards"] for result in kept]).astype(np.float32, copy=False),
        episode_successes=np.array([bool(result["final_success"]) for result in kept]),
        metadata=metadata,
    )


def save_demonstrations(
    demos: Demonstrations,
    env_id: str,
    fmt: str | None = None,
    out: str | os.PathLike | None = None,
    *,
    dataset_id: str | None = None,
    overwrite: bool = False,
    env: gym.Env | None = None,
) -> Path:
    """Write ``demos`` collected in ``env_id``; return the file (hdf5) or dataset directory (minari).

    :param fmt: ``"hdf5"`` or ``"minari"`` (default: :func:`default_format`).
    :param out: hdf5: the file (default ``demos/<env_id>_expert.hdf5``); minari: the datasets root the
        dataset goes under (default ``$MINARI_DATASETS_PATH`` or ``~/.minari/datasets``).
    :param dataset_id: minari id (default ``sb3_ogpo/<EnvName>/expert-v0``).
    """
    from sb3_ogpo.datasets import default_dataset_id, save_minari, save_robomimic_hdf5

    fmt = fmt or default_format(env_id)
    spaces_kwargs = {}
    if env is not None:
        spaces_kwargs = {"observation_space": env.observation_space, "action_space": env.action_space}
    if fmt == "hdf5":
        path = Path(out) if out is not None else Path("demos") / f"{env_id}_expert.hdf5"
        if path.exists() and not overwrite:
            raise FileExistsError(f"{path} exists; pass overwrite=True (--overwrite) or another --out.")
        return save_robomimic_hdf5(demos, path, env_id=env_id, **spaces_kwargs)
    if fmt == "minari":
        return save_minari(
            demos,
            dataset_id or default_dataset_id(env_id),
            root=out,
            env=env if env is not None else env_id,
            overwrite=overwrite,
            description=f"Scripted-expert demonstrations for {env_id} (noise {demos.metadata.get('noise_scale')}).",
            **spaces_kwargs,
        )
    raise ValueError(f"Unknown format {fmt!r}; choose one of {FORMATS}.")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sb3_ogpo.experts.collect", description=__doc__.split("\n\n")[0])
    parser.add_argument("--env", required=True, help="env id with a registered scripted expert")
    parser.add_argument("--episodes", type=int, required=True, help="episodes to keep")
    parser.add_argument("--noise", type=float, default=0.0, help="expert noise scale (diversity)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the first episode (then +1 per episode)")
    parser.add_argument("--format", choices=FORMATS, default=None, help="default: hdf5 for Robomimic*, else minari")
    parser.add_argument("--out", default=None, help="hdf5: output file; minari: datasets root directory")
    parser.add_argument("--dataset-id", default=None, help="minari dataset id (default sb3_ogpo/<EnvName>/expert-v0)")
    parser.add_argument("--successful-only", action="store_true", help="keep only successful episodes")
    parser.add_argument("--max-attempts", type=int, default=None, help="episode budget with --successful-only")
    parser.add_argument("--tasks", default=None, help="Franka Kitchen subtasks, comma separated")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)

    tasks = [task.strip() for task in args.tasks.split(",") if task.strip()] if args.tasks else None
    fmt = args.format or default_format(args.env)
    try:
        env = make_demo_env(args.env, tasks=tasks)
    except (gym.error.Error, ValueError, ImportError) as error:
        print(f"error: cannot make env {args.env!r}: {error}", file=sys.stderr)
        return 2
    try:
        demos = collect_demonstrations(
            args.env,
            args.episodes,
            noise_scale=args.noise,
            seed=args.seed,
            successful_only=args.successful_only,
            env=env,
            max_attempts=args.max_attempts,
            progress=not args.no_progress,
        )
        if tasks:
            demos.metadata["tasks"] = tasks
        meta = demos.metadata
        print(
            f"{args.env}: success rate {meta['success_rate']:.0%} over {meta['attempts']} episodes "
            f"(noise {args.noise}); kept {demos.n_episodes} episodes ({int(np.sum(demos.episode_successes))} "
            f"successful), {len(demos)} transitions, {meta['collection_time_s']:.1f} s "
            f"({len(demos) / max(meta['collection_time_s'], 1e-9):.0f} steps/s)"
        )
        path = save_demonstrations(
            demos, args.env, fmt, args.out, dataset_id=args.dataset_id, overwrite=args.overwrite, env=env
        )
    except (ValueError, RuntimeError, FileExistsError, ImportError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    finally:
        env.close()
    if fmt == "minari":
        print(f"wrote Minari dataset to {path} (load: sb3_ogpo.datasets.load_minari({str(path)!r}))")
    else:
        print(f"wrote robomimic-style hdf5 to {path} (load: sb3_ogpo.datasets.load_robomimic_hdf5({str(path)!r}))")
    return 0


if __name__ == "__main__":
    sys.exit(main())
