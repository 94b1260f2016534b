"""Success, defined once: the success test of an info dict and the success evaluation of a model."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Optional

if TYPE_CHECKING:  # pragma: no cover
    import gymnasium as gym
    from stable_baselines3.common.base_class import BaseAlgorithm
    from stable_baselines3.common.vec_env import VecEnv


def episode_succeeded(info: dict[str, Any]) -> bool:
    """Success as signalled by ``info["is_success"]`` or (Adroit) ``info["success"]``."""
    return bool(info.get("is_success", info.get("success", False)))


@dataclass
class EvalResult:
    """Success of a (possibly early-decided) evaluation."""

    success_rate: float
    episodes: int
    successes: int
    decided_early: bool = False
    passed: Optional[bool] = None  # success_rate >= threshold over all n episodes (None: no threshold)


class _Decided(Exception):
    """Raised by the evaluation callback once the outcome against the threshold is certain."""


def evaluate_success(
    model: BaseAlgorithm,
    env: gym.Env | VecEnv,
    n_episodes: int,
    seed: Optional[int] = None,
    threshold: Optional[float] = None,
    deterministic: bool = True,
) -> EvalResult:
    """Success rate of ``model``'s deterministic ODE policy (``deterministic=False``: the current
    actor's stochastic sampler, ``predict(deterministic=False)``) over ``n_episodes``, read from ``info["is_success"]`` (or
    ``info["success"]``) at each episode's end.

    Runs :func:`stable_baselines3.common.evaluation.evaluate_policy` (which passes the action-chunk
    ``state`` of ``model.predict`` back). With ``seed`` the env is re-seeded first and the flow's initial
    noise comes from a forked torch generator seeded with it, so an evaluation is reproducible and leaves
    the global torch RNG alone. With ``threshold`` the evaluation stops as soon as ``success_rate >=
    threshold`` over the ``n_episodes`` is certain either way (same decision, fewer episodes); the returned
    rate is then over the episodes run.
    """
    import torch as th
    from stable_baselines3.common.evaluation import evaluate_policy
    from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv

    vec_env = env if isinstance(env, VecEnv) else DummyVecEnv([lambda: env])
    outcomes: list[bool] = []
    needed = None if threshold is None else max(0, math.ceil(threshold * n_episodes - 1e-9))

    def callback(locals_: dict[str, Any], _globals: dict[str, Any]) -> None:
        if not locals_["done"]:
            return
        outcomes.append(episode_succeeded(locals_["info"]))
        if needed is not None:
            successes = sum(outcomes)
            if successes >= needed or len(outcomes) - successes > n_episodes - needed:
                raise _Decided

    devices = [model.device] if model.device.type == "cuda" else []
    with th.random.fork_rng(devices=devices):
        if seed is not None:
            vec_env.seed(int(seed))
            th.manual_seed(int(seed))
        try:
            evaluate_policy(model, vec_env, n_eval_episodes=n_episodes, deterministic=deterministic, callback=callback, warn=False)
        except _Decided:
            pass
    successes = int(sum(outcomes))
    return EvalResult(
        success_rate=successes / max(len(outcomes), 1),
        episodes=len(outcomes),
        successes=successes,
        decided_early=len(outcomes) < n_episodes,
        passed=None if needed is None else successes >= needed,
    )


__all__ = ["EvalResult", "episode_succeeded", "evaluate_success"]
