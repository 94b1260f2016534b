"""DSRL: diffusion steering by reinforcement learning (Wagenmaker et al., 2025), on SB3's SAC.

SAC learns a policy over the frozen flow's initial noise (:class:`~sb3_ogpo.dsrl.noise_env.NoiseActionWrapper`):
the flow itself is never changed. One SAC step is one executed chunk, so ``gamma`` applies per chunk (DSRL's
convention), while ``num_timesteps``, ``learning_starts`` and ``learn(total_timesteps)`` count env steps
(RL Zoo's ``--eval-freq`` counts chunks).
"""

from __future__ import annotations

from typing import Any, Optional, Union

import gymnasium as gym
import numpy as np
from stable_baselines3 import SAC
from stable_baselines3.common.buffers import ReplayBuffer
from stable_baselines3.common.vec_env import VecEnv

from sb3_ogpo.common.flow_env import env_for_load, flow_env
from sb3_ogpo.dsrl.noise_env import NoiseActionWrapper


class DSRL(SAC):
    """SAC in the noise space of a frozen flow policy (DSRL-SAC).

    :param policy: SAC's policy ("MlpPolicy" or "MultiInputPolicy").
    :param env: the task env (a string, a gym env: wrapped here) or a VecEnv whose envs are already wrapped in
        :class:`NoiseActionWrapper` (RL Zoo: the entry's ``env_wrapper``).
    :param init_policy: the frozen flow, a saved OGPO model or ``"start:<env id>"`` (needed unless ``env`` is wrapped).
    :param action_magnitude: bound of the noise actions (DSRL's ``action_magnitude``).
    :param flow_ema: integrate the flow's EMA actor instead of its actor.
    :param warmup_noise: the noise executed before ``learning_starts``: ``"gaussian"`` runs the frozen flow as it
        was trained (N(0, I) noise clipped to the bound; DSRL's initial rollouts of the base policy), ``"uniform"``
        SAC's uniform random actions over the bound.
    :param kwargs: SAC's arguments (``gamma`` per chunk).
    """

    def __init__(self, policy: Any, env: Union[gym.Env, VecEnv, str, None], init_policy: Optional[str] = None,
                 action_magnitude: float = 1.0, flow_ema: bool = False, warmup_noise: str = "gaussian",
                 **kwargs: Any) -> None:
        if warmup_noise not in ("gaussian", "uniform"):
            raise ValueError(f"warmup_noise must be 'gaussian' or 'uniform', got {warmup_noise!r}.")
        self.warmup_noise = warmup_noise
        env, settings = flow_env(env, NoiseActionWrapper, init_policy, "action_magnitude", action_magnitude, flow_ema)
        self.init_policy, self.action_magnitude, self.flow_ema = (
            settings["init_policy"], settings["action_magnitude"], settings["flow_ema"])
        super().__init__(policy, env, **kwargs)

    def _sample_action(self, learning_starts: int, action_noise: Any = None, n_envs: int = 1) -> tuple[np.ndarray, np.ndarray]:
        if self.warmup_noise == "uniform" or self.num_timesteps >= learning_starts:
            return super()._sample_action(learning_starts, action_noise, n_envs)
        # Warm-up: the frozen flow's own noise distribution, so the first data is the base policy's behaviour.
        noise = self.action_space.np_random.standard_normal((n_envs, *self.action_space.shape))
        action = np.clip(noise, self.action_space.low, self.action_space.high).astype(np.float32)
        return action, self.policy.scale_action(action)

    def _store_transition(self, replay_buffer: ReplayBuffer, buffer_action: np.ndarray, new_obs: Any,
                          reward: np.ndarray, dones: np.ndarray, infos: list[dict[str, Any]]) -> None:
        # SB3 counted one step per env; a chunk ran info["env_steps"] of them.
        self.num_timesteps += sum(int(info.get("env_steps", 1)) - 1 for info in infos)
        super()._store_transition(replay_buffer, buffer_action, new_obs, reward, dones, infos)

    @classmethod
    def load(cls, path: Any, env: Union[gym.Env, VecEnv, str, None] = None, **kwargs: Any) -> DSRL:  # type: ignore[override]
        """SB3's load; a raw ``env`` is wrapped with the saved model's frozen flow."""
        return super().load(path, env=env_for_load(path, env, NoiseActionWrapper, "action_magnitude"), **kwargs)
