"""Residual RL's environment: a frozen flow plays its chunks, and the action is a bounded correction added to
each of its actions (ResFiT / EXPO style)."""

from __future__ import annotations

from typing import Any, Optional, SupportsFloat

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from sb3_ogpo.ogpo.frozen_flow import FrozenFlowWrapper

BASE_ACTION_KEY = "base_action"


class ResidualActionWrapper(FrozenFlowWrapper):
    """Correct a frozen flow policy with a residual action.

    The flow plans a chunk (its ODE from fresh N(0, I) noise, drawn from this wrapper's generator, seeded by
    ``reset(seed=...)``) and plays it open-loop; the observation carries the base action of the coming step
    (appended to a Box observation, or as ``"base_action"`` in a Dict one), and the action ``r`` in ``[-1, 1]^A``
    is added to it as ``clip(base + residual_scale * r)`` in the env's normalized action units. ``r = 0`` plays
    the flow.

    :param env: the env the flow was trained in (same spaces).
    :param init_policy: the frozen flow: a saved OGPO model or ``"start:<env id>"``.
    :param residual_scale: the largest correction, as a fraction of the action range's half-width.
    :param flow_ema: integrate the flow's EMA actor instead of its actor.
    """

    def __init__(self, env: gym.Env, init_policy: str, residual_scale: float = 0.2, flow_ema: bool = False) -> None:
        super().__init__(env, init_policy, flow_ema, "Residual SAC's init_policy", residual_scale=residual_scale)
        action_space = env.action_space
        assert isinstance(action_space, spaces.Box)
        self._low, self._high = action_space.low, action_space.high
        self.action_space = spaces.Box(-1.0, 1.0, action_space.shape, np.float32)
        base_space = spaces.Box(-1.0, 1.0, action_space.shape, np.float32)
        source = env.observation_space
        if isinstance(source, spaces.Dict):
            self.observation_space = spaces.Dict({**source.spaces, BASE_ACTION_KEY: base_space})
        elif isinstance(source, spaces.Box) and len(source.shape) == 1:
            self.observation_space = spaces.Box(np.concatenate([source.low, base_space.low]).astype(np.float32),
                                                np.concatenate([source.high, base_space.high]).astype(np.float32),
                                                dtype=np.float32)
        else:
            raise ValueError(f"ResidualActionWrapper supports flat Box and Dict observations, got {source}.")
        self._rng = np.random.default_rng()
        self._observation: Any = None
        self._chunk = np.zeros((0, *action_space.shape), dtype=np.float32)
        self._index = 0

    def _scale(self, action: np.ndarray) -> np.ndarray:
        return 2.0 * (action - self._low) / (self._high - self._low) - 1.0

    def _unscale(self, scaled: np.ndarray) -> np.ndarray:
        return self._low + 0.5 * (scaled + 1.0) * (self._high - self._low)

    def base_action(self) -> np.ndarray:
        """The flow's action for the coming step, in normalized units ([-1, 1])."""
        if self._index >= len(self._chunk):
            noise = self._rng.standard_normal(self.flow.flow_dim).astype(np.float32)
            self._chunk = self._scale(self.flow.chunk(self._observation, noise)).astype(np.float32)
            self._index = 0
        return self._chunk[self._index]

    def _with_base(self, observation: Any) -> Any:
        base = self.base_action()
        if isinstance(observation, dict):
            return {**observation, BASE_ACTION_KEY: base.copy()}
        return np.concatenate([np.asarray(observation, dtype=np.float32), base]).astype(np.float32)

    def reset(self, *, seed: Optional[int] = None, options: Optional[dict[str, Any]] = None) -> tuple[Any, dict[str, Any]]:
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        self._observation, info = self.env.reset(seed=seed, options=options)
        self._chunk, self._index = self._chunk[:0], 0
        return self._with_base(self._observation), info

    def step(self, action: np.ndarray) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        base = self.base_action()
        residual = np.clip(np.asarray(action, dtype=np.float32), -1.0, 1.0)
        executed = self._unscale(np.clip(base + self.residual_scale * residual, -1.0, 1.0))
        self._observation, reward, terminated, truncated, info = self.env.step(executed.astype(self._low.dtype))
        self._index += 1
        return self._with_base(self._observation), reward, terminated, truncated, info
