"""Residual SAC (ResFiT / EXPO style), on SB3's SAC: a bounded correction of a frozen flow policy's actions."""

from __future__ import annotations

from typing import Any, Optional, Union

import gymnasium as gym
import torch as th
from stable_baselines3 import SAC
from stable_baselines3.common.vec_env import VecEnv

from sb3_ogpo.common.flow_env import env_for_load, flow_env
from sb3_ogpo.residual.residual_env import ResidualActionWrapper


class ResidualSAC(SAC):
    """SAC on a bounded residual added to a frozen flow policy's action chunks
    (:class:`~sb3_ogpo.residual.residual_env.ResidualActionWrapper`). The actor's mean starts at zero, so the
    deterministic policy plays the flow until SAC learns a correction.

    :param policy: SAC's policy ("MlpPolicy" or "MultiInputPolicy").
    :param env: the task env (a string, a gym env: wrapped here) or a VecEnv whose envs are already wrapped in
        :class:`ResidualActionWrapper` (RL Zoo: the entry's ``env_wrapper``).
    :param init_policy: the frozen flow, a saved OGPO model or ``"start:<env id>"`` (needed unless ``env`` is wrapped).
    :param residual_scale: the largest correction, as a fraction of the action range's half-width.
    :param flow_ema: integrate the flow's EMA actor instead of its actor.
    :param kwargs: SAC's arguments.
    """

    def __init__(self, policy: Any, env: Union[gym.Env, VecEnv, str, None], init_policy: Optional[str] = None,
                 residual_scale: float = 0.2, flow_ema: bool = False, **kwargs: Any) -> None:
        env, settings = flow_env(env, ResidualActionWrapper, init_policy, "residual_scale", residual_scale, flow_ema)
        self.init_policy, self.residual_scale, self.flow_ema = (
            settings["init_policy"], settings["residual_scale"], settings["flow_ema"])
        super().__init__(policy, env, **kwargs)

    def _setup_model(self) -> None:
        super()._setup_model()
        with th.no_grad():  # a zero mean residual: the deterministic policy starts as the flow
            self.policy.actor.mu.weight.zero_()
            self.policy.actor.mu.bias.zero_()

    @classmethod
    def load(cls, path: Any, env: Union[gym.Env, VecEnv, str, None] = None, **kwargs: Any) -> ResidualSAC:  # type: ignore[override]
        """SB3's load; a raw ``env`` is wrapped with the saved model's frozen flow."""
        return super().load(path, env=env_for_load(path, env, ResidualActionWrapper, "residual_scale"), **kwargs)
