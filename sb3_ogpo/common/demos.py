"""The in-memory form of a demonstration dataset, shared by the loaders, BC and the starts."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Union

import numpy as np
from gymnasium import spaces

ObsArray = Union[np.ndarray, dict[str, np.ndarray]]


@dataclass
class Demonstrations:
    """Transitions of several episodes, concatenated in time order.

    :param observations: ``(N, *obs_shape)`` array, or a dict of such arrays for Dict observation spaces.
    :param actions: ``(N, action_dim)`` actions in the env's own units (not rescaled).
    :param episode_starts: ``(N,)`` bools, True at the first step of each episode.
    :param rewards: optional ``(N,)`` rewards.
    :param episode_successes: optional ``(n_episodes,)`` bools: whether each episode succeeded.
    """

    observations: ObsArray
    actions: np.ndarray
    episode_starts: np.ndarray
    rewards: np.ndarray | None = None
    episode_successes: np.ndarray | None = None
    metadata: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.actions)

    @property
    def n_episodes(self) -> int:
        return int(np.sum(self.episode_starts))

    def validate(self, observation_space: spaces.Space, action_space: spaces.Space) -> None:
        """Raise a ``ValueError`` naming the mismatch if these demos do not fit the env's spaces."""
        n = len(self.actions)
        if self.actions.ndim != 2 or self.actions.shape[1:] != action_space.shape:
            raise ValueError(
                f"Demonstration actions have shape {self.actions.shape}, expected (N, {action_space.shape[0]}) "
                f"for the env's action space {action_space}."
            )
        if not np.all(np.isfinite(self.actions)):
            raise ValueError("Demonstration actions contain NaN or inf values.")
        if self.episode_starts.shape != (n,) or (n > 0 and not self.episode_starts[0]):
            raise ValueError("episode_starts must be a (N,) bool array whose first entry is True.")
        if isinstance(observation_space, spaces.Dict):
            if not isinstance(self.observations, dict):
                raise ValueError("The env has Dict observations but the demonstrations hold a plain array.")
            missing = set(observation_space.spaces) - set(self.observations)
            if missing:
                raise ValueError(f"Demonstration observations lack the keys {sorted(missing)} of the env.")
            for key, space in observation_space.spaces.items():
                self._check_obs_array(self.observations[key], space, n, f"observations[{key!r}]")
        else:
            if isinstance(self.observations, dict):
                raise ValueError("The env has array observations but the demonstrations hold a dict.")
            self._check_obs_array(self.observations, observation_space, n, "observations")

    @staticmethod
    def _check_obs_array(array: np.ndarray, space: spaces.Space, n: int, name: str) -> None:
        if array.shape != (n, *space.shape):
            raise ValueError(
                f"Demonstration {name} has shape {array.shape}, expected {(n, *space.shape)} to match the env."
            )
        if not np.all(np.isfinite(array)):
            raise ValueError(f"Demonstration {name} contains NaN or inf values.")
