"""Making a start (demonstrations, clipped BC, measurement, files) and finding it in the cache."""

from __future__ import annotations

import dataclasses
import os
import platform
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping, Optional

import numpy as np

from sb3_ogpo.starts.cache import LOCK_FILE, MODEL_FILE, is_cached, locked, start_dir, write_start
from sb3_ogpo.starts.clip import ClipResult, Measurement, clip_bc, measure_start
from sb3_ogpo.starts.config import (
    ActorSpec,
    StartConfig,
    StartUnavailableError,
    actor_variant,
    clip_eval_seed,
    final_eval_seed,
    first_demo_seed,
    get_start_config,
)

if TYPE_CHECKING:  # pragma: no cover
    import gymnasium as gym

    from sb3_ogpo.common.demonstrations import Demonstrations
    from sb3_ogpo.ogpo import OGPO


# ----- environment and demonstrations -----------------------------------------------------------------
def _check_expert(env_id: str, config: StartConfig) -> None:
    """Raise :class:`StartUnavailableError` unless ``env_id`` has a scripted expert that can be imported."""
    import importlib

    from sb3_ogpo.experts import EXPERTS

    hint = (
        f"build it from a dataset instead: `python -m sb3_ogpo.starts --env {env_id} --demos <Minari id, "
        "dataset directory or robomimic .hdf5>` (written into the cache, where init_policy='start:...' finds it)."
    )
    if config.unavailable:
        raise StartUnavailableError(f"Cannot generate the clipped BC start of {env_id}: {config.unavailable}; {hint}")
    if env_id not in EXPERTS:
        raise StartUnavailableError(f"Cannot generate the clipped BC start of {env_id}: no scripted expert; {hint}")
    module_name, class_name = EXPERTS[env_id].split(":")
    try:
        getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as error:
        raise StartUnavailableError(
            f"Cannot generate the clipped BC start of {env_id}: its scripted expert {EXPERTS[env_id]} is not "
            f"available ({error}); {hint}"
        ) from None


def make_start_env(config: StartConfig, seed: Optional[int] = None) -> gym.Env:
    """The env of ``config`` (the one demonstrations, BC evaluation and fine-tuning use); ``seed`` goes to
    the constructor when ``config.seed_constructor``."""
    from sb3_ogpo.tasks import make_task_env as make_demo_env

    kwargs = dict(config.env_kwargs)
    if seed is not None and config.seed_constructor:
        kwargs["seed"] = int(seed)
    return make_demo_env(config.env_id, **kwargs)


def collect_start_demos(config: StartConfig, seed: int = 0, progress: bool = False) -> Demonstrations:
    """The scripted-expert demonstrations a start of ``config`` (and ``seed``) is cloned from."""
    from sb3_ogpo.experts.collect import collect_demonstrations

    _check_expert(config.env_id, config)
    demo_seed = first_demo_seed(config, seed)
    demo_env = make_start_env(config, seed=demo_seed)
    try:
        return collect_demonstrations(config.env_id, config.demo_episodes, noise_scale=config.demo_noise, seed=demo_seed,
                                      successful_only=config.successful_only, env=demo_env, progress=progress)
    finally:
        demo_env.close()


def _demos_info(demos: Demonstrations, source: Optional[str]) -> dict[str, Any]:
    """The ``demos`` section of ``start.json``."""
    meta = demos.metadata
    expert_success = meta.get("success_rate")
    if expert_success is None and demos.episode_successes is not None and len(demos.episode_successes):
        expert_success = float(np.mean(demos.episode_successes))
    return {
        "source": source or "given",
        "episodes": demos.n_episodes,
        "transitions": len(demos),
        "expert_success_rate": None if expert_success is None else float(expert_success),
        "attempts": meta.get("attempts"),
        "noise_scale": meta.get("noise_scale"),
        "successful_only": meta.get("successful_only"),
        "seed": meta.get("seed"),
        "collection_time_s": meta.get("collection_time_s"),
    }


# ----- generation -------------------------------------------------------------------------------------
def _clip_and_measure(config: StartConfig, demos: Demonstrations, seed: int, device: str, verbose: int,
                      progress: bool) -> tuple[OGPO, ClipResult, Measurement]:
    """A fresh model of ``config``, cloned from ``demos`` up to the threshold, then measured under the cap."""
    from stable_baselines3.common.vec_env import DummyVecEnv

    from sb3_ogpo.ogpo import OGPO

    eval_env = DummyVecEnv([lambda: make_start_env(config, seed=clip_eval_seed(seed))])
    try:
        # n_critics=2: the critics start fresh in fine-tuning, so keep the file small
        model = OGPO(config.policy, eval_env, buffer_size=max(64, config.chunk_size), learning_starts=0, n_critics=2,
                     seed=int(seed), device=device, **config.model_kwargs())
        clip = clip_bc(model, demos, eval_env, threshold=config.threshold, eval_freq=config.eval_freq,
                       max_steps=config.max_gradient_steps, eval_episodes=config.clip_eval_episodes,
                       refine=config.eval_refine, learning_rate=config.bc_learning_rate, batch_size=config.bc_batch_size,
                       ema_tau=config.bc_ema_tau, eval_seed=clip_eval_seed(seed), progress_bar=progress, verbose=verbose)
        if verbose:
            print(f"{config.env_id}: measuring the start's success on {config.eval_episodes} episodes ...")
        final = measure_start(model, clip, eval_env, config.eval_episodes, final_eval_seed(seed), config.max_success,
                              name=config.env_id, verbose=verbose)
    finally:
        eval_env.close()
    return model, clip, final


def actor_fingerprint(model: "OGPO") -> str:
    """SHA-256 (first 16 hex digits) of the actor's weights: equal fingerprints, equal starts. The same command
    can make different weights on different CPUs (their bf16/fp32 kernels round differently)."""
    import hashlib

    digest = hashlib.sha256()
    for name, tensor in sorted(model.policy.actor.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().float().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def _start_info(config: StartConfig, seed: int, demos: dict[str, Any], clip: ClipResult, final: Measurement,
                wall_clock_s: float, fingerprint: str) -> dict[str, Any]:
    """The content of ``start.json``."""
    import torch as th

    import sb3_ogpo

    return {
        "env_id": config.env_id,
        "seed": int(seed),
        "success": final.result.success_rate,
        "success_episodes": final.result.episodes,
        "successes": final.result.successes,
        "actor_sha256": fingerprint,
        "policy": config.policy,
        "model_kwargs": config.model_kwargs(),
        "demos": demos,
        "bc": {
            "steps": final.steps,
            "stop_steps": clip.steps,
            "capped": final.capped,  # measured above max_success: an earlier policy was kept
            "max_success": config.max_success,
            "reached_threshold": clip.reached,
            "threshold": clip.threshold,
            "stop_success": clip.success,
            "stop_evaluation": clip.evaluation,
            "eval_refine": config.eval_refine,
            "clip_eval_episodes": config.clip_eval_episodes,
            "eval_freq": clip.eval_freq,
            "max_steps": clip.max_steps,
            "learning_rate": config.bc_learning_rate,
            "batch_size": config.bc_batch_size,
            "ema_tau": config.bc_ema_tau,
            "history": clip.history,
            "time_s": clip.time_s,
        },
        "eval_time_s": final.time_s,
        "wall_clock_s": wall_clock_s,
        "config": config.to_json(),
        "package_version": sb3_ogpo.__version__,
        "torch_version": th.__version__,
        "python_version": platform.python_version(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def generate_start(
    env_id: str,
    out_dir: str | os.PathLike,
    seed: int = 0,
    *,
    demos: Optional[Demonstrations] = None,
    demos_source: Optional[str] = None,
    overrides: Optional[Mapping[str, Any]] = None,
    device: str = "cpu",
    verbose: int = 0,
    progress: bool = False,
) -> dict[str, Any]:
    """Make the clipped BC start of ``env_id`` and write ``model.zip`` and ``start.json`` into ``out_dir``
    (atomically; no locking here, see :func:`resolve_start`).

    :param demos: demonstrations to clone (default: collect them with the task's scripted expert).
    :param demos_source: where ``demos`` came from (recorded in ``start.json``).
    :param overrides: replacements of :class:`StartConfig` fields (e.g. ``threshold``, ``eval_freq``,
        ``max_gradient_steps``, ``eval_episodes``, ``demo_episodes``).
    :return: the ``start.json`` content.
    """
    from stable_baselines3.common.utils import set_random_seed

    config = get_start_config(env_id)
    if overrides:
        config = dataclasses.replace(config, **overrides)
    if demos is None:
        _check_expert(env_id, config)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    set_random_seed(int(seed))

    if demos is None:
        if verbose:
            print(f"{env_id}: collecting {config.demo_episodes} expert episodes (noise {config.demo_noise}) ...")
        demos, demos_source = collect_start_demos(config, seed, progress=progress), "scripted expert"
    demos_info = _demos_info(demos, demos_source)
    if verbose:
        rate = demos_info["expert_success_rate"]
        print(f"{env_id}: {demos.n_episodes} demo episodes, {len(demos)} transitions (expert success "
              f"{'n/a' if rate is None else f'{rate:.2f}'})")
    model, clip, final = _clip_and_measure(config, demos, seed, device, verbose, progress)
    info = _start_info(config, seed, demos_info, clip, final, wall_clock_s=time.perf_counter() - start,
                       fingerprint=actor_fingerprint(model))
    write_start(out_dir, model, info)
    return info


# ----- the cache ----------------------------------------------------------------------------------------
def resolve_start(
    env_id: str,
    seed: int = 0,
    verbose: int = 0,
    *,
    actor: Optional[Mapping[str, Any]] = None,
    root: str | os.PathLike | None = None,
    device: str = "cpu",
    progress: Optional[bool] = None,
    generate: Callable[..., dict[str, Any]] | None = None,
) -> Path:
    """The path of ``env_id``'s clipped BC start (``model.zip``), generated and cached on first use.

    The cache is ``<root>/starts/<env_id>/seed<seed>/`` (root: ``$SB3_OGPO_CACHE`` or ``~/.cache/sb3_ogpo``).
    A cached start whose actor (``chunk_size``, ``denoising_steps``, ``actor_net_arch``, policy class) differs
    from the config's is generated again. Generation holds an exclusive file lock, so concurrent callers (e.g.
    Optuna workers) generate it once and the others wait and then read it.

    :param actor: the fine-tuning model's actor (``chunk_size``, ``denoising_steps``, ``actor_net_arch``); if it
        differs from the task's, a start of that shape is made and cached separately (:func:`actor_variant`).
    :param generate: the generator (default: ``sb3_ogpo.starts.generate_start``, looked up there at each call
        so that tests can replace it).
    """
    from sb3_ogpo import starts

    config, variant = actor_variant(env_id, actor)
    overrides = ActorSpec.of_config(config).as_dict() if variant else None
    directory = start_dir(env_id, seed, root, variant)
    path = directory / MODEL_FILE
    if is_cached(directory, config):
        return path
    if generate is None:
        _check_expert(env_id, config)  # fail before locking / waiting
    with locked(directory / LOCK_FILE, verbose=verbose):
        if is_cached(directory, config):  # made by another process while we waited
            return path
        if verbose:
            print(f"No cached start for {env_id} (seed {seed}) in {directory}: generating it (this takes a while).")
        info = (generate or starts.generate_start)(
            env_id, directory, seed, overrides=overrides, device=device, verbose=verbose,
            progress=bool(verbose) if progress is None else progress,
        )
        if verbose:
            print(starts.summary(info, path))
    return path


def summary(info: Mapping[str, Any], path: str | os.PathLike | None = None) -> str:
    """A short human-readable summary of a ``start.json``."""
    demos, bc = info["demos"], info["bc"]
    expert = demos.get("expert_success_rate")
    expert = "n/a" if expert is None else f"{expert:.2f}"
    if bc.get("threshold") is None:
        stop = "no clipping"
    elif bc.get("reached_threshold"):
        evaluation = bc.get("stop_evaluation") or {}
        stop = (
            f"stopped at the first evaluation >= {bc['threshold']}: {evaluation.get('successes')}/"
            f"{evaluation.get('episodes')} successes"
            + (f" (of {bc['clip_eval_episodes']}, decided early)" if evaluation.get("decided_early") else "")
        )
    else:
        stop = f"threshold {bc['threshold']} NOT reached, kept the last policy"
    lines = [
        f"start {info['env_id']} (seed {info['seed']}):",
        f"  demos: {demos['episodes']} episodes, {demos['transitions']} transitions from {demos['source']} "
        f"(expert success {expert})",
        f"  BC: {bc['steps']} steps (lr {bc['learning_rate']}, batch {bc['batch_size']}"
        + (f", EMA of the iterates, rate {bc['ema_tau']}" if bc.get("ema_tau") else "") + f"), {stop}",
        f"  start success: {info['success']:.3f} ({info['successes']}/{info['success_episodes']} episodes, "
        "deterministic ODE)" + (f", actor weights {info['actor_sha256']}" if info.get("actor_sha256") else ""),
        f"  wall-clock: {info['wall_clock_s']:.0f} s (BC + clipping evaluations {bc['time_s']:.0f} s, "
        f"final evaluation {info['eval_time_s']:.0f} s)",
    ]
    if path is not None:
        lines.append(f"  saved: {path}")
    return "\n".join(lines)
