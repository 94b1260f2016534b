"""SFT on Best-of-N: the OGPO paper's baseline that replaces the policy-gradient update by supervised fine-tuning.

The critic ensemble learns off-policy from every real transition exactly as in OGPO (chunked TD targets), rollouts
execute the Best-of-N chunk under the critics, and the flow is fine-tuned by flow matching on the Best-of-N chunks
of replay states: N chunks from the EMA actor per state, the one with the highest value under the min of two
random target critics (each candidate its own pair) is the BC target.
"""

from __future__ import annotations

from typing import Any, Union

import torch as th

from sb3_ogpo.ogpo.losses import best_of_n_choice
from sb3_ogpo.ogpo.ogpo import OGPO
from sb3_ogpo.ogpo.policies import OGPOPolicy


class BestOfNSFT(OGPO):
    """SFT on Best-of-N chunks with an off-policy critic ensemble (the baseline of the OGPO paper).

    Takes every argument of :class:`~sb3_ogpo.ogpo.ogpo.OGPO` (the critics, replay, rollouts, starts and controls are
    OGPO's); the policy-gradient arguments (``n_group``, ``clip_range``, ``advantage``, ``chi2*``) are unused. The
    actor step is flow matching on the Best-of-N chunks (``best_of_n`` candidates, also used for the rollouts), plus
    ``success_bc_coef`` times the success-buffer BC term; ``policy_gradient_starts`` delays the SFT term the same way.

    :param best_of_n: N, candidates per state for the rollouts and the SFT targets (8, as the released scripts).
    :param success_bc_coef: coefficient of the success-buffer BC term (0: SFT on Best-of-N alone).
    """

    def __init__(self, policy: Union[str, type[OGPOPolicy]], env: Any, best_of_n: int = 8, success_bc_coef: float = 0.0,
                 **kwargs: Any) -> None:
        if best_of_n < 2:
            raise ValueError(f"best_of_n must be >= 2 for SFT on Best-of-N (1 would clone the policy's own samples), got {best_of_n}.")
        super().__init__(policy, env, best_of_n=best_of_n, success_bc_coef=success_bc_coef, **kwargs)

    def _actor_step(self, batch_size: int, clip_range: float, metrics: dict[str, list[float]]) -> None:
        """Flow matching on the Best-of-N chunk of each of ``batch_size`` replay states (``clip_range`` unused)."""
        policy, n = self.policy, self.best_of_n
        features = policy.features(self.replay_buffer.sample_observations(batch_size))
        with th.no_grad(), self._autocast():
            chunks, _, _ = policy.sample_chunks(features, policy.actor_target, stochastic=True, n_samples=n)
            q_values = policy.critic_target(features.repeat(n, 1), chunks)
        best = best_of_n_choice(q_values, n)
        candidates = chunks.float().view(n, -1, policy.flow_dim)
        targets = candidates[best, th.arange(best.shape[0], device=best.device)]
        with self._autocast():
            loss = policy.flow_matching_loss(features, targets).float()
        bc_loss = self._success_bc_loss(batch_size) if self.success_bc_coef > 0 else None
        self._apply_actor_gradient(loss if bc_loss is None else loss + self.success_bc_coef * bc_loss, metrics)
        with th.no_grad():
            q_mean = q_values.mean(0).view(n, -1)
            metrics["sft_loss"].append(loss.item())
            metrics["best_q_gap"].append((q_mean.max(0).values - q_mean.mean(0)).mean().item())
            metrics["group_q_mean"].append(q_mean.mean().item())
            metrics["action_std"].append(candidates.std(0).mean().item())
            if bc_loss is not None:
                metrics["bc_loss"].append(bc_loss.item())

    def learn(self, total_timesteps: int, callback: Any = None, log_interval: int = 4, tb_log_name: str = "BestOfNSFT",
              reset_num_timesteps: bool = True, progress_bar: bool = False) -> BestOfNSFT:
        return super().learn(total_timesteps, callback, log_interval, tb_log_name, reset_num_timesteps, progress_bar)
