"""What an actor step logs: statistics of its ratios, advantages and groups (``train/...``). Read-only
diagnostics; nothing here changes an update."""

from __future__ import annotations

from typing import Optional

import numpy as np
import torch as th


def advantage_outlier_correlation(advantages: th.Tensor, chunks: th.Tensor) -> float:
    """The mean over states of the correlation, within a group, between a chunk's advantage and its distance
    from the group's mean chunk. Near 0 when the critics rank chunks by something other than how unusual they
    are; clearly positive when they favour the outliers of the group (values extrapolated away from the data).

    :param advantages: shape ``(G, B)``; states whose advantages are all equal are left out.
    :param chunks: shape ``(G, B, D)``.
    :return: the mean correlation, NaN when no state has distinct advantages.
    """
    distance = (chunks - chunks.mean(0, keepdim=True)).norm(dim=-1)
    a = advantages - advantages.mean(0, keepdim=True)
    d = distance - distance.mean(0, keepdim=True)
    denominator = a.norm(dim=0) * d.norm(dim=0)
    keep = denominator > 0
    if not bool(keep.any()):
        return float("nan")
    return float(((a * d).sum(0)[keep] / denominator[keep]).mean())


@th.no_grad()
def actor_step_statistics(
    policy_loss: th.Tensor,
    log_ratio: th.Tensor,
    clip_range: float,
    advantages: th.Tensor,
    q_values: th.Tensor,
    chunks: th.Tensor,
    bc_loss: Optional[th.Tensor] = None,
) -> dict[str, float]:
    """The statistics of one actor step.

    :param policy_loss: the clipped surrogate loss.
    :param log_ratio: ``l_theta - l_old`` of the chains that had an advantage (may be empty).
    :param clip_range: PPO clip epsilon of the step.
    :param advantages: every chain's advantage, shape ``(G, B)``.
    :param q_values: the target critics' values of the chains, shape ``(M, G, B)``.
    :param chunks: the chains' final chunks, shape ``(G, B, D)``.
    :param bc_loss: the success-BC loss of the step, if any.
    :return: name -> value (ratio statistics only when some chain had an advantage; ``advantage_outlier_corr``
        only when some state's advantages differ).
    """
    statistics = {"policy_loss": policy_loss.item()}
    if log_ratio.numel():
        ratio = log_ratio.exp()
        clip_fraction = ((ratio - 1).abs() > clip_range).float().mean().item()
        statistics.update(ratio=ratio.mean().item(), clip_fraction=clip_fraction,
                          approx_kl=(ratio - 1 - log_ratio).mean().item())
    statistics.update(advantage_mean=advantages.mean().item(), advantage_abs=advantages.abs().mean().item(),
                      advantage_std=advantages.std().item(), advantage_nonzero=(advantages != 0).float().mean().item(),
                      group_q_mean=q_values.mean().item(), action_std=chunks.std(0).mean().item())
    outlier_corr = advantage_outlier_correlation(advantages, chunks)
    if not np.isnan(outlier_corr):
        statistics["advantage_outlier_corr"] = outlier_corr
    if bc_loss is not None:
        statistics["bc_loss"] = bc_loss.item()
    return statistics


@th.no_grad()
def critic_step_statistics(loss: th.Tensor, q_values: th.Tensor, target: th.Tensor, grad_norm: th.Tensor) -> dict[str, float]:
    """The statistics of one critic step: its TD loss, the members' values ``(M, B)`` of the batch's chunks, their
    spread over the ensemble, the TD targets ``(B,)`` and the gradient's norm before clipping."""
    return {"critic_loss": loss.item(), "q_mean": q_values.mean().item(), "q_ensemble_std": q_values.std(0).mean().item(),
            "td_target_mean": target.mean().item(), "critic_grad_norm": grad_norm.item()}


__all__ = ["actor_step_statistics", "advantage_outlier_correlation", "critic_step_statistics"]
