"""DSRL-NA: DSRL with a noise-aliased critic (Wagenmaker et al., 2025).

A critic on (observation, executed chunk) learns from the env's data by TD; the noise-space critic that SAC's actor
maximizes is distilled from it, ``Q_W(s, w) -> Q_A(s, ODE(s, w))`` for fresh noise ``w ~ N(0, I)``, so it also
learns about noises that were never executed but alias to the same chunks.
"""

from __future__ import annotations

from typing import Any

import torch as th
from stable_baselines3.common.utils import polyak_update
from torch.nn import functional as F

from sb3_ogpo.dsrl.dsrl import DSRL
from sb3_ogpo.ogpo.frozen_flow import FrozenFlow


class _SkipStep:
    """Stands in for an optimizer whose step must not run (see :meth:`DSRLNA.train`)."""

    param_groups: list = []

    def zero_grad(self, set_to_none: bool = True) -> None:
        pass

    def step(self) -> None:
        pass


class DSRLNA(DSRL):
    """DSRL-NA: SAC's actor over the flow's noise maximizes a noise critic distilled from a chunk critic.

    Same arguments as :class:`~sb3_ogpo.dsrl.DSRL`. SAC's own critic is the noise critic ``Q_W``; the chunk critic
    ``policy.action_critic`` (same net architecture, its own optimizer and Polyak target) learns by TD with next
    chunks ``ODE(s', w')``, ``w'`` from SAC's actor, and the mean over its members as the target.
    """

    def _setup_model(self) -> None:
        super()._setup_model()
        self.flow = FrozenFlow(self.init_policy, ema=self.flow_ema, device=self.device)
        self.policy.action_critic = self.policy.make_critic(features_extractor=None)
        self.policy.action_critic_target = self.policy.make_critic(features_extractor=None)
        self.policy.action_critic_target.load_state_dict(self.policy.action_critic.state_dict())
        self.policy.action_critic_target.set_training_mode(False)
        self.action_critic_optimizer = self.policy.optimizer_class(
            self.policy.action_critic.parameters(), lr=self.lr_schedule(1), **self.policy.optimizer_kwargs)

    def _excluded_save_params(self) -> list[str]:
        return [*super()._excluded_save_params(), "flow"]

    def _get_torch_save_params(self) -> tuple[list[str], list[str]]:
        state_dicts, variables = super()._get_torch_save_params()
        return [*state_dicts, "action_critic_optimizer"], variables

    def _noise(self, scaled_actions: th.Tensor) -> th.Tensor:
        """SAC's actions (scaled to [-1, 1]) as the flow's noise."""
        return scaled_actions * self.action_magnitude

    def _chunk_critic_step(self, batch_size: int) -> float:
        data = self.replay_buffer.sample(batch_size, env=self._vec_normalize_env)  # type: ignore[union-attr]
        with th.no_grad():
            next_noise = self._noise(self.actor(data.next_observations, deterministic=False))
            next_chunks = self.flow.scaled_chunks(data.next_observations, next_noise)
            next_q = th.cat(self.policy.action_critic_target(data.next_observations, next_chunks), dim=1).mean(1, keepdim=True)
            target = data.rewards + (1 - data.dones) * self.gamma * next_q
            chunks = self.flow.scaled_chunks(data.observations, self._noise(data.actions))
        loss = sum(F.mse_loss(q, target) for q in self.policy.action_critic(data.observations, chunks))
        self.action_critic_optimizer.zero_grad()
        loss.backward()
        self.action_critic_optimizer.step()
        polyak_update(self.policy.action_critic.parameters(), self.policy.action_critic_target.parameters(), self.tau)
        return float(loss.item())

    def _distill_step(self, batch_size: int) -> float:
        observations = self.replay_buffer.sample(batch_size, env=self._vec_normalize_env).observations  # type: ignore[union-attr]
        magnitude = self.action_magnitude
        noise = th.randn(batch_size, self.flow.flow_dim, device=self.device).clamp(-magnitude, magnitude)
        with th.no_grad():
            targets = self.policy.action_critic(observations, self.flow.scaled_chunks(observations, noise))
        loss = sum(F.mse_loss(q, target) for q, target in zip(self.critic(observations, noise / magnitude), targets))
        self.critic.optimizer.zero_grad()
        loss.backward()
        self.critic.optimizer.step()
        return float(loss.item())

    def train(self, gradient_steps: int, batch_size: int = 64) -> None:
        chunk_losses, distill_losses = [], []
        for _ in range(gradient_steps):
            chunk_losses.append(self._chunk_critic_step(batch_size))
            distill_losses.append(self._distill_step(batch_size))
            # SAC's step for its actor and entropy coefficient; its TD step of the noise critic is skipped
            # (the noise critic learns by distillation only).
            optimizer, self.critic.optimizer = self.critic.optimizer, _SkipStep()
            try:
                super().train(1, batch_size)
            finally:
                self.critic.optimizer = optimizer
        # SAC logged its (skipped) TD loss of the noise critic as train/critic_loss: replace it by the chunk critic's.
        self.logger.record("train/critic_loss", sum(chunk_losses) / len(chunk_losses))
        self.logger.record("train/distill_loss", sum(distill_losses) / len(distill_losses))

    def learn(self, *args: Any, **kwargs: Any) -> DSRLNA:
        kwargs.setdefault("tb_log_name", "DSRLNA")
        return super().learn(*args, **kwargs)
