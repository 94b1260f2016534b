"""The math of OGPO's update, one definition each: group advantages (vanilla, conservative, chi-squared),
the clipped surrogate, chunked TD targets, Best-of-N selection, the actor's learning-rate warm restarts and
the BC chunk targets. Pure functions of tensors and arrays."""

from __future__ import annotations

import math
from typing import Union

import numpy as np
import torch as th

ADVANTAGE_STRATEGIES = ("vanilla", "conservative")
TARGET_AGGREGATIONS = ("mean", "min")
SAMPLE_REDUCERS = ("mean", "median", "trimmed_mean")


def group_advantage(q_values: th.Tensor, strategy: str = "vanilla") -> th.Tensor:
    """Group-relative advantages from ensemble values ``q_values`` of shape ``(M, G, B)``.

    ``vanilla``: ``A_ij = Q_ij - mean_j Q_ij`` with ``Q_ij`` the ensemble mean (no std normalization).
    ``conservative``: per member ``A_m = Q_m - mean_j Q_m``; ``min_m A_m`` where all members agree the
    sample is better than its group, ``max_m A_m`` where all agree it is worse, and 0 otherwise.

    :return: advantages of shape ``(G, B)``.
    """
    if strategy == "vanilla":
        q_mean = q_values.mean(0)
        return q_mean - q_mean.mean(0, keepdim=True)
    if strategy == "conservative":
        per_member = q_values - q_values.mean(1, keepdim=True)
        all_positive, all_negative = (per_member > 0).all(0), (per_member < 0).all(0)
        zero = th.zeros_like(per_member[0])
        return th.where(all_positive, per_member.min(0).values, th.where(all_negative, per_member.max(0).values, zero))
    raise ValueError(f"advantage must be one of {ADVANTAGE_STRATEGIES}, got {strategy!r}.")


def reduce_samples(q_values: th.Tensor, reducer: str, dim: int) -> th.Tensor:
    """Reduce several next-action samples' values along ``dim`` (Q-variance reduction)."""
    if reducer == "mean":
        return q_values.mean(dim)
    if reducer == "median":
        return q_values.median(dim).values
    if reducer == "trimmed_mean":
        n = q_values.shape[dim]
        cut = n // 4
        return q_values.sort(dim).values.narrow(dim, cut, n - 2 * cut).mean(dim)
    raise ValueError(f"target_sample_reducer must be one of {SAMPLE_REDUCERS}, got {reducer!r}.")


def aggregate_members(q_values: th.Tensor, aggregation: Union[str, float]) -> th.Tensor:
    """Aggregate ensemble members (dim 0): "mean" (the paper; min over-conservatizes), "min", or a float ``w``:
    the blend ``w min + (1 - w) mean`` (chi^2 regularization's drift-driven pessimism)."""
    if isinstance(aggregation, float):
        return blend_mean_min(q_values, aggregation)
    if aggregation == "mean":
        return q_values.mean(0)
    if aggregation == "min":
        return q_values.min(0).values
    raise ValueError(f"target_q_aggregation must be one of {TARGET_AGGREGATIONS}, got {aggregation!r}.")


def blend_mean_min(q_values: th.Tensor, weight: Union[float, th.Tensor]) -> th.Tensor:
    """``weight * min_m Q + (1 - weight) * mean_m Q`` over the ensemble members of ``q_values`` (dim 0)."""
    return weight * q_values.min(0).values + (1 - weight) * q_values.mean(0)


def best_of_n_choice(q_values: th.Tensor, n_candidates: int) -> th.Tensor:
    """Index of the best of ``n_candidates`` chunks per state under the min of two critics drawn at random,
    independently for each candidate (as the released code does), from ensemble values ``(M, N * B)``.

    :return: the chosen candidate per state, shape ``(B,)``.
    """
    n_members, n_rows = q_values.shape
    rows = th.arange(n_rows, device=q_values.device)
    first = th.randint(0, n_members, (n_rows,), device=q_values.device)
    second = (first + th.randint(1, n_members, (n_rows,), device=q_values.device)) % n_members  # another member
    pessimistic = th.minimum(q_values[first, rows], q_values[second, rows])
    return pessimistic.view(n_candidates, -1).argmax(0)


def clipped_surrogate_loss(ratio: th.Tensor, advantages: th.Tensor, clip_low: float, clip_high: float) -> th.Tensor:
    """PPO's pessimistic clipped objective, negated: ``-mean min(w A, clip(w, lo, hi) A)``."""
    return -th.min(ratio * advantages, ratio.clamp(clip_low, clip_high) * advantages).mean()


def chunked_td_target(
    rewards: th.Tensor, discounts: th.Tensor, next_q_values: th.Tensor, reducer: str, aggregation: Union[str, float]
) -> th.Tensor:
    """``y = sum_j gamma^j r_{t+j} + gamma^h m Qbar(s_{t+h}, a')`` from next values ``(M, G', B)``."""
    per_member = reduce_samples(next_q_values, reducer, dim=1)
    return rewards + discounts * aggregate_members(per_member, aggregation)


def ensemble_td_loss(q_values: th.Tensor, target: th.Tensor, weights: th.Tensor) -> th.Tensor:
    """Mean over members of each member's weighted mean squared TD error: ``q_values`` ``(M, B)``, ``target`` ``(B,)``,
    ``weights`` ``(M, B)`` or ``(B,)`` (0 for transitions a member does not learn from)."""
    weights = weights.expand_as(q_values)
    squared_errors = (q_values - target.unsqueeze(0)).pow(2)
    return ((squared_errors * weights).sum(1) / weights.sum(1).clamp(min=1.0)).mean()


def warm_restart_factor(step: int, period: int, warmup_steps: int, floor_ratio: float) -> float:
    """Multiplier of the actor learning rate at actor step ``step`` (cosine with warm restarts).

    Each period of ``period`` steps rises linearly from ``floor_ratio`` to 1 over ``warmup_steps``,
    then decays along a cosine back to ``floor_ratio`` (the released code: 2e-5 -> 4.5e-5 over 2k
    steps, back to 2e-5 at 50k, repeat). ``period`` 0 means a constant 1.
    """
    if period <= 0:
        return 1.0
    position = step % period
    if position < warmup_steps:
        return floor_ratio + (1.0 - floor_ratio) * position / warmup_steps
    progress = (position - warmup_steps) / max(period - warmup_steps, 1)
    # A Python float: the factor ends up in the optimizer's state, which SB3 loads with torch's weights_only.
    return floor_ratio + (1.0 - floor_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


def chi2_advantage(q_values: th.Tensor, log_density_ratio: th.Tensor, coef: float, alpha: float, max_ratio: float,
                   clip_range: float) -> tuple[th.Tensor, float, dict[str, float]]:
    """Chi-squared regularized group advantage, the ratio's upper clip and statistics (beta, the density ratio).

    ``beta = coef * mean ensemble std`` (population std over the ``M`` members of ``q_values`` ``(M, G, B)``);
    ``Qtilde = b min_m Q + (1 - b) mean_m Q`` with ``b = sigmoid(alpha (r - 1))`` and ``r`` the density ratio to the
    slow EMA actor (``exp`` of ``log_density_ratio``, shape ``(G, B)``); the score ``Qtilde - beta r`` is centred over
    the group; the upper clip is ``min(1 + eps, 1 + max_ratio / beta)``.
    """
    density_ratio = log_density_ratio.exp()
    beta = max(coef * q_values.std(0, correction=0).mean().item(), 1e-8)
    q_tilde = blend_mean_min(q_values, chi2_pessimism(density_ratio, alpha))
    score = q_tilde - beta * density_ratio
    drift = density_ratio.mean().item()
    stats = {"chi2_beta": beta, "slow_density_ratio_mean": drift, "slow_density_ratio_max": density_ratio.max().item(),
             "chi2_target_pessimism": float(chi2_pessimism(drift, alpha))}
    return score - score.mean(0, keepdim=True), min(1.0 + clip_range, 1.0 + max_ratio / beta), stats


def chi2_pessimism(density_ratio: Union[float, th.Tensor], alpha: float) -> Union[float, th.Tensor]:
    """Weight of the ensemble min in chi^2's mean/min blend, ``sigmoid(alpha (r - 1))`` of a density ratio ``r``
    (per chain in the advantage; the last actor step's mean ratio, its drift, in the critics' TD target)."""
    weight = th.sigmoid(alpha * (th.as_tensor(density_ratio) - 1.0))
    return float(weight) if isinstance(density_ratio, float) else weight


def chunk_targets(actions: np.ndarray, episode_starts: np.ndarray, chunk_size: int) -> np.ndarray:
    """Flat chunks ``a_t .. a_{t+h-1}`` per step, repeating the episode's last action past its end."""
    n = len(actions)
    episode_id = np.cumsum(episode_starts) - 1
    episode_end = np.zeros(n, dtype=np.int64)  # index of the last step of each step's episode
    ends = np.flatnonzero(np.append(episode_starts[1:], True))
    episode_end[:] = ends[episode_id]
    rows = np.minimum(np.arange(n)[:, None] + np.arange(chunk_size)[None, :], episode_end[:, None])
    return actions[rows].reshape(n, chunk_size * actions.shape[1]).astype(np.float32)


__all__ = ["ADVANTAGE_STRATEGIES", "SAMPLE_REDUCERS", "TARGET_AGGREGATIONS", "aggregate_members", "best_of_n_choice",
           "blend_mean_min", "chi2_advantage", "chi2_pessimism", "chunk_targets", "chunked_td_target",
           "clipped_surrogate_loss", "ensemble_td_loss", "group_advantage", "reduce_samples", "warm_restart_factor"]
