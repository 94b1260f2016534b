"""The in-memory form of a demonstration dataset, shared by the loaders, BC and the starts."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Sequence, Union

import numpy as np
from gymnasium import spaces

ObsArray = Union[np.ndarray, dict[str, np.ndarray]]

# Optional extras that the loaders and the collector keep in ``Demonstrations.metadata``.
# Per-episode arrays (leading dimension n_episodes):
FINAL_OBSERVATIONS = "final_observations"  # ObsArray: the observation after each episode's last action
EPISODE_TERMINATED = "episode_terminated"  # bools: the episode ended by termination, not truncation
EPISODE_SEEDS = "episode_seeds"  # ints: the reset seed of each episode
# Per-step arrays (leading dimension N):
STEP_SUCCESSES = "step_successes"  # bools: the success flag of each step's info
STATES = "states"  # floats: flattened simulator states (robomimic files)
EPISODE_METADATA_KEYS = (FINAL_OBSERVATIONS, EPISODE_TERMINATED, EPISODE_SEEDS)
STEP_METADATA_KEYS = (STEP_SUCCESSES, STATES)


def map_observations(observations: ObsArray, fn: Callable[[np.ndarray], np.ndarray]) -> ObsArray:
    """Apply ``fn`` to an observation array, or to each array of a dict of them."""
    if isinstance(observations, dict):
        return {key: fn(value) for key, value in observations.items()}
    return fn(observations)


def stack_observations(observations: Sequence[Any]) -> ObsArray:
    """Stack per-step observations (arrays, or dicts of arrays, possibly nested) into an ``ObsArray``.

    Nested dicts are flattened into ``"outer/inner"`` keys.
    """
    first = observations[0]
    if isinstance(first, dict):
        stacked: dict[str, np.ndarray] = {}
        for key in first:
            value = stack_observations([obs[key] for obs in observations])
            if isinstance(value, dict):
                stacked.update({f"{key}/{inner}": array for inner, array in value.items()})
            else:
                stacked[key] = value
        return stacked
    return np.stack([np.asarray(obs) for obs in observations])


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

    def episode_slices(self) -> list[slice]:
        """One ``slice`` into the step arrays per episode, in order."""
        starts = np.flatnonzero(self.episode_starts).tolist()
        return [slice(start, end) for start, end in zip(starts, starts[1:] + [len(self)])]

    @property
    def episode_lengths(self) -> np.ndarray:
        return np.diff(np.append(np.flatnonzero(self.episode_starts), len(self)))

    def select_episodes(self, indices: Sequence[int] | np.ndarray) -> Demonstrations:
        """A new ``Demonstrations`` holding only the episodes ``indices`` (ints or a bool mask), in that order.

        The per-episode and per-step arrays of ``metadata`` are selected along; other entries are copied.
        """
        indices = np.asarray(indices)
        if indices.dtype == bool:
            indices = np.flatnonzero(indices)
        slices = self.episode_slices()
        steps = np.concatenate([np.arange(len(self))[slices[i]] for i in indices]) if len(indices) else np.zeros(0, int)
        metadata = dict(self.metadata)
        for key in EPISODE_METADATA_KEYS:
            if key in metadata:
                metadata[key] = map_observations(metadata[key], lambda array: array[indices])
        for key in STEP_METADATA_KEYS:
            if key in metadata:
                metadata[key] = metadata[key][steps]
        return Demonstrations(
            observations=map_observations(self.observations, lambda array: array[steps]),
            actions=self.actions[steps],
            episode_starts=self.episode_starts[steps],
            rewards=None if self.rewards is None else self.rewards[steps],
            episode_successes=None if self.episode_successes is None else self.episode_successes[indices],
            metadata=metadata,
        )

    @classmethod
    def concatenate(cls, parts: Sequence[Demonstrations]) -> Demonstrations:
        """Join several ``Demonstrations`` (same observation layout) one after the other.

        ``rewards``, ``episode_successes`` and the per-episode / per-step metadata arrays are kept only where
        every part has them; the other metadata entries come from the first part.
        """
        if not parts:
            raise ValueError("Demonstrations.concatenate needs at least one part.")

        def join(arrays: list[Any]) -> Any:
            if any(array is None for array in arrays):
                return None
            if isinstance(arrays[0], dict):
                if any(set(array) != set(arrays[0]) for array in arrays):
                    raise ValueError("Cannot concatenate demonstrations whose observation dicts have different keys.")
                return {key: np.concatenate([array[key] for array in arrays]) for key in arrays[0]}
            return np.concatenate(arrays)

        metadata = dict(parts[0].metadata)
        for key in EPISODE_METADATA_KEYS + STEP_METADATA_KEYS:
            joined = join([part.metadata.get(key) for part in parts]) if key in metadata else None
            if joined is None:
                metadata.pop(key, None)
            else:
                metadata[key] = joined
        return cls(
            observations=join([part.observations for part in parts]),
            actions=np.concatenate([part.actions for part in parts]),
            episode_starts=np.concatenate([part.episode_starts for part in parts]),
            rewards=join([part.rewards for part in parts]),
            episode_successes=join([part.episode_successes for part in parts]),
            metadata=metadata,
        )

    def cast_to_spaces(self, observation_space: spaces.Space, action_space: spaces.Space) -> Demonstrations:
        """A copy whose observations and actions have the dtypes of the env's spaces (call ``validate`` first)."""

        def cast(array: np.ndarray, space: spaces.Space) -> np.ndarray:
            return array.astype(space.dtype, copy=False) if space.dtype is not None else array

        if isinstance(observation_space, spaces.Dict) and isinstance(self.observations, dict):
            observations = {key: cast(self.observations[key], space) for key, space in observation_space.spaces.items()}
        else:
            observations = cast(self.observations, observation_space)
        return Demonstrations(
            observations=observations,
            actions=cast(self.actions, action_space),
            episode_starts=self.episode_starts,
            rewards=self.rewards,
            episode_successes=self.episode_successes,
            metadata=dict(self.metadata),
        )

    def validate(self, observation_space: spaces.Space, action_space: spaces.Space) -> None:
        """Raise a ``ValueError`` naming the mismatch if these demos do not fit the env's spaces."""
        n = len(self.actions)
        if self.actions.ndim != 2 or self.actions.shape[1:] != action_space.shape:
            raise ValueError(
                f"Demonstration actions have shape {self.actions.shape}, expected (N, {action_space.shape[0]}) "
                f"for the env's action space {action_space}."
            )
        self._check_dtype(self.actions, action_space, "actions")
        if not np.all(np.isfinite(self.actions)):
            raise ValueError(
                f"Demonstration actions contain NaN or inf values (first bad step: {_first_bad_row(self.actions)})."
            )
        if self.episode_starts.shape != (n,) or (n > 0 and not self.episode_starts[0]):
            raise ValueError("episode_starts must be a (N,) bool array whose first entry is True.")
        if self.rewards is not None:
            if self.rewards.shape != (n,):
                raise ValueError(f"Demonstration rewards have shape {self.rewards.shape}, expected ({n},).")
            if not np.all(np.isfinite(self.rewards)):
                raise ValueError("Demonstration rewards contain NaN or inf values.")
        if self.episode_successes is not None and self.episode_successes.shape != (self.n_episodes,):
            raise ValueError(
                f"episode_successes has shape {self.episode_successes.shape}, expected ({self.n_episodes},): "
                "one flag per episode."
            )
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
        Demonstrations._check_dtype(array, space, name)
        if not np.all(np.isfinite(array)):
            raise ValueError(f"Demonstration {name} contains NaN or inf values (first bad step: {_first_bad_row(array)}).")

    @staticmethod
    def _check_dtype(array: np.ndarray, space: spaces.Space, name: str) -> None:
        """Numeric arrays that convert to the space's dtype without changing kind (float64 -> float32 is fine)."""
        if space.dtype is None:
            return
        if array.dtype.kind not in "biuf" or not np.can_cast(array.dtype, space.dtype, casting="same_kind"):
            raise ValueError(
                f"Demonstration {name} has dtype {array.dtype}, which does not convert to the env's dtype {space.dtype}."
            )


def _first_bad_row(array: np.ndarray) -> int:
    return int(np.flatnonzero(~np.isfinite(array.reshape(len(array), -1)).all(axis=1))[0])
