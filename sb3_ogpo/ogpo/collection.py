"""Collecting with action chunks: each env executes its pending chunk open-loop and re-plans when it is used
up or an episode ends; transitions are checked and stored in the chunk replay buffer, which can be saved and
loaded with its success buffer."""

from __future__ import annotations

import io
import pathlib
from typing import TYPE_CHECKING, Any, Optional, Union

import numpy as np
import torch as th
from stable_baselines3.common.buffers import ReplayBuffer
from stable_baselines3.common.save_util import load_from_pkl
from stable_baselines3.common.type_aliases import MaybeCallback

from sb3_ogpo.common.buffers import ChunkReplayBuffer
from sb3_ogpo.common.evaluation import episode_succeeded
from sb3_ogpo.ogpo.losses import best_of_n_choice
from sb3_ogpo.ogpo.validation import check_finite_observation, check_finite_reward

if TYPE_CHECKING:  # pragma: no cover
    from sb3_ogpo.ogpo.policies import OGPOPolicy


class ChunkedCollection:
    """Mixin of :class:`~sb3_ogpo.ogpo.ogpo.OGPO` (an SB3 ``OffPolicyAlgorithm``): rollouts with action chunks."""

    policy: OGPOPolicy
    replay_buffer: ChunkReplayBuffer

    def _reset_rollout_chunks(self) -> None:
        action_dim = self.policy.action_dim
        self._rollout_chunks = np.zeros((self.n_envs, self.chunk_size, action_dim), dtype=np.float32)
        self._rollout_chunk_index = np.full(self.n_envs, self.chunk_size)

    def load_replay_buffer(self, path: Union[str, pathlib.Path, io.BufferedIOBase], truncate_last_traj: bool = True) -> None:
        """Load a replay buffer saved by :meth:`save_replay_buffer`, with its success buffer and episode bookkeeping.

        A buffer from a model with other spaces, number of envs, chunk size or success-buffer setting is refused
        with a ``ValueError`` naming the differences. Pending action chunks are not part of the buffer: every env
        re-plans at its next step.

        :param path: the pickled buffer.
        :param truncate_last_traj: the envs start new episodes after loading (as after ``OGPO.load``): mark each
            env's interrupted episode as timed out, so that no window runs across into the next episode. False
            keeps the buffer as saved, for continuing the very same episodes in this process.
        """
        buffer = load_from_pkl(path, self.verbose)
        if not isinstance(buffer, ChunkReplayBuffer):
            raise ValueError(f"{path!r} holds a {type(buffer).__name__}, not OGPO's ChunkReplayBuffer.")
        buffer.check_compatible(self.observation_space, self.action_space, self.n_envs, self.chunk_size,
                                with_success_buffer=self.has_success_buffer)
        buffer.gamma = self.gamma  # rewards are stored per step: windows use this model's discount
        for part in (buffer, buffer.success_buffer):
            if part is not None:
                part.device = self.device
        if truncate_last_traj:
            buffer.truncate_last_trajectory()
        self.replay_buffer = buffer
        self._reset_rollout_chunks()

    def _setup_learn(self, total_timesteps: int, callback: MaybeCallback = None, reset_num_timesteps: bool = True,
                     tb_log_name: str = "run", progress_bar: bool = False) -> tuple[int, Any]:
        result = super()._setup_learn(total_timesteps, callback, reset_num_timesteps, tb_log_name, progress_bar)
        if reset_num_timesteps or not hasattr(self, "_rollout_chunks"):
            self._reset_rollout_chunks()
        return result

    def _sample_action(
        self, learning_starts: int, action_noise: Any = None, n_envs: int = 1
    ) -> tuple[np.ndarray, np.ndarray]:
        """Next action of each env from its pending chunk; envs whose chunk is used up re-plan.

        Chunks come from the EMA actor's stochastic sampler (Best-of-N if ``best_of_n > 1``), also
        before ``learning_starts``: the (BC) flow policy collects the warm-up data.
        """
        check_finite_observation(self._last_obs)
        replan = self._rollout_chunk_index >= self.chunk_size
        if replan.any():
            observation, _ = self.policy.obs_to_tensor(self._last_obs)
            chunks = self._exploration_chunks(observation).cpu().numpy()
            self._rollout_chunks[replan] = chunks[replan].reshape(-1, self.chunk_size, self.policy.action_dim)
            self._rollout_chunk_index[replan] = 0
        buffer_action = self._rollout_chunks[np.arange(n_envs), self._rollout_chunk_index].copy()
        self._rollout_chunk_index += 1
        return self.policy.unscale_action(buffer_action), buffer_action

    @th.no_grad()
    def _exploration_chunks(self, observation: Any) -> th.Tensor:
        policy = self.policy
        with self._autocast():
            features = policy.features(observation)
            chunks, _, _ = policy.sample_chunks(features, policy.actor_target, stochastic=True, n_samples=self.best_of_n)
            if self.best_of_n == 1:
                return chunks.float()
            q_values = policy.critic_target(features.repeat(self.best_of_n, 1), chunks)
        best = best_of_n_choice(q_values, self.best_of_n)
        return chunks.float().view(self.best_of_n, -1, policy.flow_dim)[best, th.arange(best.shape[0])]

    def _store_transition(self, replay_buffer: ReplayBuffer, buffer_action: np.ndarray, new_obs: Any,
                          reward: np.ndarray, dones: np.ndarray, infos: list[dict[str, Any]]) -> None:
        check_finite_reward(reward)
        check_finite_observation(new_obs)
        super()._store_transition(replay_buffer, buffer_action, new_obs, reward, dones, infos)
        self._rollout_chunk_index[np.asarray(dones, dtype=bool)] = self.chunk_size  # new episode: re-plan

    def _update_info_buffer(self, infos: list[dict[str, Any]], dones: Optional[np.ndarray] = None) -> None:
        # Adroit reports info["success"]; SB3's rollout/success_rate reads info["is_success"].
        infos = [info if "is_success" in info or "success" not in info else {**info, "is_success": episode_succeeded(info)}
                 for info in infos]
        super()._update_info_buffer(infos, dones)
