"""OGPO's arguments and the env's data, checked where they enter: a ``ValueError`` naming the knob or the value."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any, Optional, Union

import numpy as np
from stable_baselines3.common.type_aliases import Schedule
from stable_baselines3.common.vec_env import VecEnv

from sb3_ogpo.ogpo.losses import ADVANTAGE_STRATEGIES, SAMPLE_REDUCERS, TARGET_AGGREGATIONS


def cpu_has_fast_bf16() -> bool:
    """Whether this CPU multiplies bfloat16 matrices in hardware (AVX-512 BF16 or AMX), as torch reports it."""
    import torch as th

    probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(getattr(th.cpu, name, lambda: True)() for name in probes)


def warn_if_bf16_is_emulated(bf16: bool, device: Any) -> None:
    """Warn when ``bf16`` autocast would run on a CPU without bf16 hardware: its matmuls are emulated there, many
    times slower than float32 (docs/benchmarks.md, "Session 28")."""
    from stable_baselines3.common.utils import get_device

    if bf16 and get_device(device).type == "cpu" and not cpu_has_fast_bf16():
        warnings.warn("bf16=True on a CPU without AVX-512 BF16 or AMX: bfloat16 matmuls are emulated here and run many "
                      "times slower than float32. Pass bf16=False (RL Zoo: -params bf16:False).", stacklevel=3)


def check_arguments(arguments: Mapping[str, Any]) -> None:
    """Check the constructor arguments of :class:`~sb3_ogpo.ogpo.ogpo.OGPO` (its ``locals()``)."""
    denoising_steps = arguments["denoising_steps"]
    n_group = arguments["n_group"]
    n_critics = arguments["n_critics"]
    chunk_size = arguments["chunk_size"]
    n_target_samples = arguments["n_target_samples"]
    best_of_n = arguments["best_of_n"]
    batch_size = arguments["batch_size"]
    success_buffer_min_size = arguments["success_buffer_min_size"]
    actor_utd = arguments["actor_utd"]
    critic_warmup_steps = arguments["critic_warmup_steps"]
    policy_gradient_starts = arguments["policy_gradient_starts"]
    critic_utd = arguments["critic_utd"]
    actor_lr_restart_period = arguments["actor_lr_restart_period"]
    actor_lr_warmup_steps = arguments["actor_lr_warmup_steps"]
    gamma = arguments["gamma"]
    tau_actor = arguments["tau_actor"]
    tau_critic = arguments["tau_critic"]
    tau_slow_actor = arguments["tau_slow_actor"]
    success_bc_coef = arguments["success_bc_coef"]
    chi2_coef = arguments["chi2_coef"]
    actor_weight_decay = arguments["actor_weight_decay"]
    critic_weight_decay = arguments["critic_weight_decay"]
    clip_range = arguments["clip_range"]
    actor_lr_floor_ratio = arguments["actor_lr_floor_ratio"]
    max_grad_norm = arguments["max_grad_norm"]
    advantage = arguments["advantage"]
    target_q_aggregation = arguments["target_q_aggregation"]
    target_sample_reducer = arguments["target_sample_reducer"]
    _check_positive_int(denoising_steps=denoising_steps, n_group=n_group, n_critics=n_critics,
                        chunk_size=chunk_size,
                        n_target_samples=n_target_samples, best_of_n=best_of_n, batch_size=batch_size)
    if success_buffer_min_size is not None:
        _check_positive_int(success_buffer_min_size=success_buffer_min_size)
    if not isinstance(actor_utd, (int, np.integer)) or actor_utd < 0:
        raise ValueError(f"actor_utd must be a non-negative integer (0 switches the policy update off), got {actor_utd!r}.")
    for name, value in (("critic_warmup_steps", critic_warmup_steps), ("policy_gradient_starts", policy_gradient_starts),
                        ("critic_utd", critic_utd), ("actor_lr_restart_period", actor_lr_restart_period),
                        ("actor_lr_warmup_steps", actor_lr_warmup_steps)):
        if not isinstance(value, (int, np.integer)) or value < 0:
            raise ValueError(f"{name} must be a non-negative integer, got {value!r}.")
    _check_unit_interval(gamma=gamma, tau_actor=tau_actor, tau_critic=tau_critic, tau_slow_actor=tau_slow_actor,
                         critic_bootstrap_fraction=arguments["critic_bootstrap_fraction"])
    _check_non_negative(success_bc_coef=success_bc_coef, chi2_coef=chi2_coef, actor_weight_decay=actor_weight_decay,
                        critic_weight_decay=critic_weight_decay)
    _check_clip_range(clip_range)
    if not 0.0 <= actor_lr_floor_ratio <= 1.0:
        raise ValueError(f"actor_lr_floor_ratio must be in [0, 1], got {actor_lr_floor_ratio!r}.")
    if actor_lr_restart_period and actor_lr_warmup_steps >= actor_lr_restart_period:
        raise ValueError(f"actor_lr_warmup_steps ({actor_lr_warmup_steps}) must be shorter than "
                         f"actor_lr_restart_period ({actor_lr_restart_period}).")
    if not max_grad_norm > 0:
        raise ValueError(f"max_grad_norm must be > 0, got {max_grad_norm!r}.")
    if n_group < 2:
        raise ValueError(f"n_group must be >= 2: group advantages of a single chain are always 0 (got {n_group}).")
    if advantage not in ADVANTAGE_STRATEGIES:
        raise ValueError(f"advantage must be one of {ADVANTAGE_STRATEGIES}, got {advantage!r}.")
    if target_q_aggregation not in TARGET_AGGREGATIONS:
        raise ValueError(f"target_q_aggregation must be one of {TARGET_AGGREGATIONS}, got {target_q_aggregation!r}.")
    warn_if_bf16_is_emulated(arguments["bf16"], arguments["device"])
    if target_sample_reducer not in SAMPLE_REDUCERS:
        raise ValueError(f"target_sample_reducer must be one of {SAMPLE_REDUCERS}, got {target_sample_reducer!r}.")
    if not isinstance(arguments["success_td"], (bool, np.bool_)):
        raise ValueError(f"success_td must be True or False, got {arguments['success_td']!r}.")
    if best_of_n > 1 and n_critics < 2:
        raise ValueError("best_of_n > 1 scores samples with the min over two critics: use n_critics >= 2.")


def _check_positive_int(**values: int) -> None:
    for name, value in values.items():
        if not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}.")


def _check_unit_interval(**values: float) -> None:
    for name, value in values.items():
        if not isinstance(value, (int, float, np.number)) or not 0.0 < value <= 1.0:
            raise ValueError(f"{name} must be in (0, 1], got {value!r}.")


def _check_non_negative(**values: float) -> None:
    for name, value in values.items():
        if not isinstance(value, (int, float, np.number)) or not value >= 0.0:
            raise ValueError(f"{name} must be >= 0, got {value!r}.")


def _check_clip_range(clip_range: Union[float, Schedule]) -> None:
    """``clip_range`` (or a schedule's values at the start and the end of training) must be > 0."""
    values = [clip_range(1.0), clip_range(0.0)] if callable(clip_range) else [clip_range]
    for value in values:
        if not isinstance(value, (int, float, np.number)) or not value > 0.0:
            kind = "a schedule whose value is" if callable(clip_range) else "a value of"
            raise ValueError(f"clip_range must be > 0 (the PPO clip epsilon), got {kind} {value!r}.")


def check_scheduled_clip_range(clip_range: float, progress_remaining: float) -> None:
    """The clip range a schedule gives during training must be > 0."""
    if not clip_range > 0:
        raise ValueError(f"clip_range must be > 0, but its schedule gave {clip_range!r} "
                         f"at progress remaining {progress_remaining:.3f}.")


def renamed_slow_tau(slow_tau: Optional[float], tau_slow_actor: float) -> float:
    """``tau_slow_actor``, or the deprecated ``slow_tau`` when it is given (with a DeprecationWarning)."""
    if slow_tau is None:
        return tau_slow_actor
    warnings.warn("slow_tau was renamed tau_slow_actor", DeprecationWarning, stacklevel=3)
    if not 0.0 < slow_tau <= 1.0:
        raise ValueError(f"slow_tau (now tau_slow_actor) must be in (0, 1], got {slow_tau!r}.")
    return slow_tau


def check_finite_reward(reward: np.ndarray) -> None:
    reward = np.asarray(reward, dtype=np.float64).reshape(-1)
    bad = np.flatnonzero(~np.isfinite(reward))
    if len(bad):
        raise ValueError(
            f"The env returned a non-finite reward ({reward[bad[0]]} in env {bad[0]}); OGPO cannot learn from it and "
            "does not store it. Fix the env's reward (e.g. find the step with stable_baselines3.common.vec_env.VecCheckNan)."
        )


def check_finite_observation(observation: Any) -> None:
    arrays = observation.values() if isinstance(observation, dict) else [observation]
    for array in arrays:
        array = np.asarray(array)
        if np.issubdtype(array.dtype, np.floating) and not np.all(np.isfinite(array)):
            raise ValueError(
                "The env returned an observation with NaN or inf values; OGPO cannot learn from it. "
                "Check the env (e.g. with stable_baselines3.common.vec_env.VecCheckNan) or clip its observations."
            )


def check_env_compatibility(env: VecEnv, chunk_size: int, buffer_size: int) -> None:
    """Checks of OGPO's settings that need the env. SB3 already rejects non-Box and unbounded action spaces."""
    if chunk_size > buffer_size:
        raise ValueError(f"chunk_size h = {chunk_size} is larger than the buffer ({buffer_size}).")
    max_steps = _max_episode_steps(env)
    if max_steps is not None and chunk_size > max_steps:
        raise ValueError(
            f"chunk_size h = {chunk_size} is longer than the env's episodes ({max_steps} steps): "
            "a chunk would never be executed in full. Use a chunk size of at most the horizon (typically 1-8)."
        )


def _max_episode_steps(env: Optional[VecEnv]) -> Optional[int]:
    if env is None:
        return None
    try:
        specs = env.get_attr("spec")
    except (AttributeError, Exception):  # noqa: BLE001 - VecEnvs differ in what they expose
        return None
    steps = [spec.max_episode_steps for spec in specs if spec is not None and spec.max_episode_steps]
    return min(steps) if steps else None
