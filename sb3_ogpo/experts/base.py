"""The scripted-expert interface, the registry lookup and one expert episode."""

from __future__ import annotations

import abc
import importlib
from typing import Any

import gymnasium as gym
import numpy as np

from sb3_ogpo.common.env_ids import known_ids_hint
from sb3_ogpo.common.evaluation import episode_succeeded


class ScriptedExpert(abc.ABC):
    """A controller that acts in the env's own action space using privileged state.

    :param env: the env the expert acts in (wrappers allowed; privileged state via ``env.unwrapped``).
    :param noise_scale: scale of the per-episode / per-step noise that makes demonstrations diverse;
        0 gives the expert's cleanest behaviour.
    """

    def __init__(self, env: gym.Env, noise_scale: float = 0.0, **kwargs: Any) -> None:
        self.env = env
        self.noise_scale = noise_scale
        self.rng = np.random.default_rng()

    def reset(self, rng: np.random.Generator) -> None:
        """Start a new episode; call right after ``env.reset()``. Draw per-episode noise from ``rng``."""
        self.rng = rng

    @abc.abstractmethod
    def act(self, observation: Any) -> np.ndarray:
        """The next action (in the env's action space, float32) for the current simulator state."""


def make_expert(env_id: str, env: gym.Env, noise_scale: float = 0.0, **kwargs: Any) -> ScriptedExpert:
    """Build the scripted expert registered for ``env_id``."""
    from sb3_ogpo.experts import EXPERTS

    if env_id not in EXPERTS:
        raise ValueError(f"No scripted expert for env id {env_id!r}. {known_ids_hint(env_id, EXPERTS)}")
    module_name, class_name = EXPERTS[env_id].split(":")
    expert_class = getattr(importlib.import_module(module_name), class_name)
    return expert_class(env, noise_scale=noise_scale, **kwargs)


def rollout_expert(env: gym.Env, expert: ScriptedExpert, seed: int) -> dict[str, Any]:
    """Run one episode of ``expert`` in ``env`` (reset with ``seed``) and return its transitions.

    Returns a dict with ``observations`` (list, one per step, before acting), ``actions``,
    ``rewards``, ``terminated``, ``truncated``, ``success`` (True if any step reported success) and
    ``final_success`` (the last step's flag: what evaluations and the success buffer count).
    """
    observation, _ = env.reset(seed=seed)
    expert.reset(np.random.default_rng(seed))
    observations, actions, rewards = [], [], []
    success, terminated, truncated = False, False, False
    while not (terminated or truncated):
        action = np.asarray(expert.act(observation), dtype=np.float32)
        observations.append(observation)
        actions.append(action)
        observation, reward, terminated, truncated, info = env.step(action)
        rewards.append(float(reward))
        success = success or episode_succeeded(info)
    return {
        "observations": observations,
        "actions": np.stack(actions),
        "rewards": np.asarray(rewards, dtype=np.float32),
        "terminated": terminated,
        "truncated": truncated,
        "success": success,
        "final_success": episode_succeeded(info),
        "final_observation": observation,
    }
