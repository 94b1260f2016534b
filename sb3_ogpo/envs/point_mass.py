"""A small sparse-reward multimodal task for tests and quick experiments.

A point mass starts near the origin and moves with velocity actions. Four goals sit on the unit
circle at 45, 135, 225 and 315 degrees; reaching any goal ends the episode, but only the two upper
goals (y > 0) count as success (reward 1). The scripted expert visits all four, favouring the failing
ones, so behaviour cloning on its demonstrations succeeds about 40% of the time: a policy has to
learn from reward which of its modes to keep.
"""

from __future__ import annotations

from typing import Any, Optional

import gymnasium as gym
import numpy as np
from gymnasium import spaces

GOAL_ANGLES = np.deg2rad([45.0, 135.0, 225.0, 315.0])
GOALS = np.stack([np.cos(GOAL_ANGLES), np.sin(GOAL_ANGLES)], axis=1).astype(np.float32)
SUCCESS_GOALS = GOALS[:, 1] > 0
# How often the expert heads to each goal: the failing goals are visited more often.
EXPERT_GOAL_PROBABILITIES = np.array([0.2, 0.2, 0.3, 0.3])


class PointMassMultimodalEnv(gym.Env):
    """Point mass with four terminal goals, two of which succeed.

    :param step_size: distance moved per step at full action.
    :param goal_radius: distance at which a goal counts as reached.
    :param start_noise: std of the initial position around the origin.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 10}

    def __init__(self, step_size: float = 0.1, goal_radius: float = 0.25, start_noise: float = 0.05,
                 render_mode: Optional[str] = None) -> None:
        self.step_size = step_size
        self.goal_radius = goal_radius
        self.start_noise = start_noise
        self.render_mode = render_mode
        self.observation_space = spaces.Box(-2.0, 2.0, shape=(2,), dtype=np.float32)
        self.action_space = spaces.Box(-1.0, 1.0, shape=(2,), dtype=np.float32)
        self.position = np.zeros(2, dtype=np.float32)

    def reset(self, *, seed: Optional[int] = None, options: Optional[dict[str, Any]] = None):
        super().reset(seed=seed)
        self.position = (self.start_noise * self.np_random.standard_normal(2)).astype(np.float32)
        return self.position.copy(), {"is_success": False}

    def step(self, action: np.ndarray):
        action = np.clip(np.asarray(action, dtype=np.float32), -1.0, 1.0)
        self.position = np.clip(self.position + self.step_size * action, -2.0, 2.0).astype(np.float32)
        distances = np.linalg.norm(GOALS - self.position, axis=1)
        reached = distances < self.goal_radius
        success = bool(np.any(reached & SUCCESS_GOALS))
        terminated = bool(np.any(reached))
        return self.position.copy(), float(success), terminated, False, {"is_success": success}

    def render(self) -> np.ndarray:
        image = np.full((64, 64, 3), 255, dtype=np.uint8)
        for goal, good in zip(GOALS, SUCCESS_GOALS):
            row, col = _pixel(goal)
            image[max(row - 3, 0) : row + 4, max(col - 3, 0) : col + 4] = (0, 160, 0) if good else (200, 0, 0)
        row, col = _pixel(self.position)
        image[max(row - 2, 0) : row + 3, max(col - 2, 0) : col + 3] = (0, 0, 255)
        return image


def _pixel(point: np.ndarray) -> tuple[int, int]:
    return int(np.clip(32 - 20 * point[1], 0, 63)), int(np.clip(32 + 20 * point[0], 0, 63))
