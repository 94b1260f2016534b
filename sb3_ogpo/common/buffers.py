"""Replay buffer of primitive transitions that samples h-step windows (Q-chunking targets).

Transitions are stored one env step at a time (as SB3 collects them); sampling draws windows
``t .. t + h - 1`` of one env and returns the flat action chunk, the discounted reward sum, the
bootstrap discount (zero after a termination inside the window) and a validity weight (zero for
windows that run past an episode end without termination, or into steps not written yet).
"""

from __future__ import annotations

from typing import Any, NamedTuple, Optional, Union

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.buffers import BaseBuffer
from stable_baselines3.common.preprocessing import get_action_dim

from sb3_ogpo.common.evaluation import episode_succeeded

TensorObs = Union[th.Tensor, dict[str, th.Tensor]]
_ARRAY_KEY = "__array__"  # storage key of non-Dict observations


class ChunkSamples(NamedTuple):
    observations: TensorObs
    actions: th.Tensor  # (B, h * A) flat chunks, padded with the last action after an episode end
    rewards: th.Tensor  # (B,) sum_j gamma^j r_{t+j} over the steps inside the episode
    discounts: th.Tensor  # (B,) gamma^h * (no termination inside the window)
    next_observations: TensorObs  # observation after the window (s_{t+h}, or the terminal one)
    valid: th.Tensor  # (B,) 1.0 for usable windows, 0.0 otherwise


class ChunkReplayBuffer(BaseBuffer):
    """Replay buffer for OGPO with h-step window sampling and a success buffer.

    :param buffer_size: capacity in transitions (over all envs).
    :param observation_space: Box or Dict observation space.
    :param action_space: Box action space (actions are stored rescaled to [-1, 1]).
    :param device: device of the sampled tensors.
    :param n_envs: number of parallel envs.
    :param chunk_size: window length h.
    :param gamma: discount used for the reward sums and bootstrap discounts.
    :param success_buffer_size: capacity of the success buffer (every transition of the episodes
        that ended in success); 0 disables it.
    """

    def __init__(
        self,
        buffer_size: int,
        observation_space: spaces.Space,
        action_space: spaces.Space,
        device: Union[th.device, str] = "auto",
        n_envs: int = 1,
        chunk_size: int = 1,
        gamma: float = 0.99,
        success_buffer_size: int = 0,
        **unused_kwargs: Any,
    ) -> None:
        super().__init__(buffer_size, observation_space, action_space, device, n_envs=n_envs)
        self.chunk_size = chunk_size
        self.gamma = gamma
        self.action_dim = get_action_dim(action_space)
        obs_spaces = observation_space.spaces if isinstance(observation_space, spaces.Dict) else {_ARRAY_KEY: observation_space}
        self.is_dict = isinstance(observation_space, spaces.Dict)

        def obs_storage() -> dict[str, np.ndarray]:
            return {
                key: np.zeros((self.buffer_size, n_envs, *space.shape), dtype=_storage_dtype(space))
                for key, space in obs_spaces.items()
            }

        self.observations, self.next_observations = obs_storage(), obs_storage()
        self.actions = np.zeros((self.buffer_size, n_envs, self.action_dim), dtype=np.float32)
        self.rewards = np.zeros((self.buffer_size, n_envs), dtype=np.float32)
        self.dones = np.zeros((self.buffer_size, n_envs), dtype=bool)
        self.terminations = np.zeros((self.buffer_size, n_envs), dtype=bool)
        self._episode_lengths = np.zeros(n_envs, dtype=np.int64)
        self.success_buffer: Optional[ChunkReplayBuffer] = None
        if success_buffer_size > 0:
            self.success_buffer = ChunkReplayBuffer(
                success_buffer_size, observation_space, action_space, device, 1, chunk_size, gamma, success_buffer_size=0
            )

    # ----- writing ----------------------------------------------------------------------------
    def add(  # type: ignore[override]
        self,
        obs: Union[np.ndarray, dict[str, np.ndarray]],
        next_obs: Union[np.ndarray, dict[str, np.ndarray]],
        action: np.ndarray,
        reward: np.ndarray,
        done: np.ndarray,
        infos: list[dict[str, Any]],
    ) -> None:
        timeouts = np.array([info.get("TimeLimit.truncated", False) for info in infos], dtype=bool)
        done = np.asarray(done, dtype=bool).reshape(self.n_envs)
        self._write(
            self.pos,
            slice(None),
            self._as_dict(obs),
            self._as_dict(next_obs),
            np.asarray(action).reshape(self.n_envs, self.action_dim),
            np.asarray(reward).reshape(self.n_envs),
            done,
            done & ~timeouts,
        )
        self.pos += 1
        if self.pos == self.buffer_size:
            self.full, self.pos = True, 0
        self._episode_lengths += 1
        for env_index in np.flatnonzero(done):
            if self.success_buffer is not None and episode_succeeded(infos[env_index]):
                self._copy_episode_to_success_buffer(env_index)
            self._episode_lengths[env_index] = 0

    def _write(self, index: Any, env: Any, obs: dict, next_obs: dict, action, reward, done, terminated) -> None:
        for key in self.observations:
            self.observations[key][index, env] = obs[key]
            self.next_observations[key][index, env] = next_obs[key]
        self.actions[index, env] = action
        self.rewards[index, env] = reward
        self.dones[index, env] = done
        self.terminations[index, env] = terminated

    def _copy_episode_to_success_buffer(self, env_index: int) -> None:
        assert self.success_buffer is not None
        length = int(min(self._episode_lengths[env_index], self.buffer_size))
        rows = (self.pos - length + np.arange(length)) % self.buffer_size
        target = self.success_buffer
        for start in range(0, length, target.buffer_size):  # an episode longer than the buffer wraps
            part = rows[start : start + target.buffer_size]
            dest = (target.pos + np.arange(len(part))) % target.buffer_size
            target._write(
                dest,
                0,
                {key: value[part, env_index] for key, value in self.observations.items()},
                {key: value[part, env_index] for key, value in self.next_observations.items()},
                self.actions[part, env_index],
                self.rewards[part, env_index],
                self.dones[part, env_index],
                self.terminations[part, env_index],
            )
            target.full = target.full or target.pos + len(part) >= target.buffer_size
            target.pos = int((target.pos + len(part)) % target.buffer_size)

    def _as_dict(self, obs: Union[np.ndarray, dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
        if self.is_dict:
            return {key: np.asarray(value).reshape(self.n_envs, *self.obs_shape[key]) for key, value in obs.items()}  # type: ignore[union-attr,index]
        return {_ARRAY_KEY: np.asarray(obs).reshape(self.n_envs, *self.obs_shape)}  # type: ignore[misc]

    def truncate_last_trajectory(self) -> None:
        """Mark each env's last stored step as a time-out (done, not terminated) and start new episodes.

        After loading a saved buffer the envs start fresh episodes, so a window must not run from the
        interrupted episode into the next one; the interrupted episode is never copied to the success buffer.
        """
        if self.pos == 0 and not self.full:
            return
        last = (self.pos - 1) % self.buffer_size
        open_episodes = self._episode_lengths > 0
        self.dones[last, open_episodes] = True
        self.terminations[last, open_episodes] = False
        self._episode_lengths[:] = 0

    def n_transitions(self) -> int:
        """Transitions stored, over all envs."""
        return self.size() * self.n_envs

    def check_compatible(self, observation_space: spaces.Space, action_space: spaces.Space, n_envs: int,
                         chunk_size: int, with_success_buffer: bool) -> None:
        """Raise a ``ValueError`` naming every difference between this buffer and a model that would use it."""
        differences = []
        for name, ours, theirs in (("observation space", self.observation_space, observation_space),
                                   ("action space", self.action_space, action_space),
                                   ("number of envs", self.n_envs, n_envs),
                                   ("chunk_size", self.chunk_size, chunk_size),
                                   ("success buffer", self.success_buffer is not None, with_success_buffer)):
            if ours != theirs:
                differences.append(f"{name}: buffer {ours}, model {theirs}")
        if differences:
            raise ValueError(
                "This replay buffer was saved by a model with other settings and cannot be loaded into this one ("
                + "; ".join(differences) + "). Load it into a model with the same env and chunk_size "
                "(and success_bc_coef > 0 or success_td exactly when the buffer has a success buffer)."
            )

    # ----- sampling ---------------------------------------------------------------------------
    def sample(self, batch_size: int, env: Any = None) -> ChunkSamples:  # type: ignore[override]
        upper = self.buffer_size if self.full else self.pos
        if upper == 0:
            raise ValueError("Cannot sample from an empty replay buffer.")
        starts = np.random.randint(0, upper, size=batch_size)
        env_indices = np.random.randint(0, self.n_envs, size=batch_size)
        return self.windows(starts, env_indices)

    def windows(self, starts: np.ndarray, env_indices: np.ndarray) -> ChunkSamples:
        """The h-step windows beginning at rows ``starts`` of envs ``env_indices`` (vectorized)."""
        h = self.chunk_size
        offsets = np.arange(h)
        rows = (starts[:, None] + offsets) % self.buffer_size  # (B, h)
        envs = env_indices[:, None]
        dones = self.dones[rows, envs]
        # Step j belongs to the episode of step 0 if no episode ended at an earlier step.
        ended_before = np.concatenate([np.zeros((len(starts), 1), dtype=bool), np.cumsum(dones, 1)[:, :-1] > 0], 1)
        inside = ~ended_before
        # Steps not written yet (the write head lies inside the window) cannot be used.
        written_upto = (self.pos - 1 - starts) % self.buffer_size if self.full else self.pos - 1 - starts
        written = offsets[None, :] <= written_upto[:, None]
        last = inside.sum(1) - 1  # index of the last step of the window inside the episode
        valid = np.all(written | ~inside, axis=1)
        last_rows = rows[np.arange(len(starts)), last]
        ended = dones[np.arange(len(starts)), last]
        terminated = self.terminations[last_rows, env_indices]
        # A window that stops early at a time-out (not a termination) has no bootstrap target.
        valid &= ~(ended & ~terminated & (last < h - 1))
        discounts = np.where(terminated, 0.0, self.gamma**h)
        rewards = (self.rewards[rows, envs] * inside * self.gamma**offsets).sum(1)
        padded_rows = np.where(inside, rows, last_rows[:, None])
        actions = self.actions[padded_rows, envs].reshape(len(starts), h * self.action_dim)
        to_tensor = self.to_torch
        return ChunkSamples(
            observations=self._obs_to_tensor(self.observations, starts, env_indices),
            actions=to_tensor(actions),
            rewards=to_tensor(rewards.astype(np.float32)),
            discounts=to_tensor(discounts.astype(np.float32)),
            next_observations=self._obs_to_tensor(self.next_observations, last_rows, env_indices),
            valid=to_tensor(valid.astype(np.float32)),
        )

    def sample_observations(self, batch_size: int) -> TensorObs:
        upper = self.buffer_size if self.full else self.pos
        rows = np.random.randint(0, upper, size=batch_size)
        return self._obs_to_tensor(self.observations, rows, np.random.randint(0, self.n_envs, size=batch_size))

    def _obs_to_tensor(self, storage: dict[str, np.ndarray], rows: np.ndarray, envs: np.ndarray) -> TensorObs:
        tensors = {key: self.to_torch(value[rows, envs].astype(np.float32)) for key, value in storage.items()}
        return tensors if self.is_dict else tensors[_ARRAY_KEY]

    def _get_samples(self, batch_inds: np.ndarray, env: Any = None) -> ChunkSamples:  # type: ignore[override]
        return self.windows(batch_inds, np.random.randint(0, self.n_envs, size=len(batch_inds)))


def _storage_dtype(space: spaces.Space) -> np.dtype:
    dtype = np.dtype(space.dtype) if space.dtype is not None else np.dtype(np.float32)
    return np.dtype(np.float32) if dtype == np.float64 else dtype
