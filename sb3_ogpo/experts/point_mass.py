"""Scripted expert of the point-mass test task."""

from __future__ import annotations

from typing import Any

import numpy as np

from sb3_ogpo.envs.point_mass import EXPERT_GOAL_PROBABILITIES, GOALS
from sb3_ogpo.experts.base import ScriptedExpert


class PointMassExpert(ScriptedExpert):
    """Heads straight to one goal per episode (chosen with EXPERT_GOAL_PROBABILITIES), with noise."""

    def reset(self, rng: np.random.Generator) -> None:
        super().reset(rng)
        self.goal = GOALS[rng.choice(len(GOALS), p=EXPERT_GOAL_PROBABILITIES)]

    def act(self, observation: Any) -> np.ndarray:
        direction = (self.goal - np.asarray(observation)) / self.env.unwrapped.step_size
        action = np.clip(direction, -1.0, 1.0) + self.noise_scale * self.rng.standard_normal(2)
        return np.clip(action, -1.0, 1.0).astype(np.float32)
