"""DSRL's environment: the action is the frozen flow's initial noise, and one step executes the whole chunk the
flow's ODE turns it into."""

from __future__ import annotations

from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from sb3_ogpo.ogpo.frozen_flow import FrozenFlowWrapper


class NoiseActionWrapper(FrozenFlowWrapper):
    """Steer a frozen flow policy through its initial noise (Wagenmaker et al., 2025).

    An action ``w`` in ``[-action_magnitude, action_magnitude]^(h * A)`` is the flow's initial noise; the step runs
    the flow's Euler ODE from ``w`` on the current observation and executes the ``h`` actions of the chunk
    open-loop, stopping early when the episode ends. The reward is the sum of the executed steps' rewards;
    ``info["env_steps"]`` says how many steps ran (the last step's info is passed on).

    :param env: the env the flow was trained in (same spaces).
    :param init_policy: the frozen flow: a saved OGPO model or ``"start:<env id>"``.
    :param action_magnitude: bound of the noise actions (the flow was trained on N(0, I) noise).
    :param flow_ema: integrate the flow's EMA actor instead of its actor.
    """

    def __init__(self, env: gym.Env, init_policy: str, action_magnitude: float = 1.0, flow_ema: bool = False) -> None:
        super().__init__(env, init_policy, flow_ema, "DSRL's init_policy", action_magnitude=action_magnitude)
        self.action_space = spaces.Box(-self.action_magnitude, self.action_magnitude, (self.flow.flow_dim,), np.float32)
        self._observation: Any = None

    def reset(self, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        self._observation, info = self.env.reset(**kwargs)
        return self._observation, info

    def step(self, action: np.ndarray) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        noise = np.clip(np.asarray(action, dtype=np.float32), -self.action_magnitude, self.action_magnitude)
        chunk = self.flow.chunk(self._observation, noise)
        total, terminated, truncated, info, steps = 0.0, False, False, {}, 0
        for env_action in chunk:
            self._observation, reward, terminated, truncated, info = self.env.step(env_action)
            total += float(reward)
            steps += 1
            if terminated or truncated:
                break
        return self._observation, total, terminated, truncated, {**info, "env_steps": steps}
