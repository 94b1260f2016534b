"""The flow: the velocity network (with its time embedding) and the K-step sampler whose single definition of
a denoising step (drift with the marginal-preserving correction, tapered noise, clipping) serves sampling,
the chain log-prob and the deterministic ODE."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Optional

import torch as th
from torch import nn

# A velocity field v(x, tau) -> velocity, with the observation features already bound.
VelocityFn = Callable[[th.Tensor, th.Tensor], th.Tensor]

MARGINAL_CORRECTIONS = ("consistent", "released", "none")


class SinusoidalTimeEmbedding(nn.Module):
    """Fixed sinusoidal embedding of the flow time ``tau`` in [0, 1]."""

    def __init__(self, dim: int = 32, max_period: float = 1000.0) -> None:
        super().__init__()
        half = dim // 2
        frequencies = th.exp(-math.log(max_period) * th.arange(half, dtype=th.float32) / half)
        self.register_buffer("frequencies", frequencies, persistent=False)
        self.dim = dim

    def forward(self, tau: th.Tensor) -> th.Tensor:
        angles = 1000.0 * tau.unsqueeze(-1) * self.frequencies
        return th.cat([th.sin(angles), th.cos(angles)], dim=-1)


def mlp(input_dim: int, net_arch: list[int], output_dim: int, activation: type[nn.Module] = nn.SiLU) -> nn.Sequential:
    layers: list[nn.Module] = []
    for width in net_arch:
        layers += [nn.Linear(input_dim, width), activation()]
        input_dim = width
    layers.append(nn.Linear(input_dim, output_dim))
    return nn.Sequential(*layers)


class FlowVelocityNet(nn.Module):
    """Velocity MLP ``v_theta(features(s), x, tau)``; no LayerNorm, as in the paper's actor."""

    def __init__(self, features_dim: int, flow_dim: int, net_arch: list[int], time_embedding_dim: int = 32) -> None:
        super().__init__()
        self.time_embedding = SinusoidalTimeEmbedding(time_embedding_dim)
        self.net = mlp(features_dim + flow_dim + time_embedding_dim, net_arch, flow_dim)

    def forward(self, features: th.Tensor, x: th.Tensor, tau: th.Tensor) -> th.Tensor:
        return self.net(th.cat([features, x, self.time_embedding(tau)], dim=-1))


class FlowSampler:
    """K-step Euler(-Maruyama) sampler of the linear-interpolant flow, and its chain log-prob.

    One denoising step from ``x_k`` at ``tau_k = k / K`` with velocity ``v`` is
    ``mu_k = clip(x_k + v / K + c * sigma^2 / 2 * (tau_k v - x_k), -1, 1)`` and
    ``x_{k+1} = mu_k + sigma_k * xi`` with ``sigma_k = sigma * sqrt(1 - tau_k)`` and ``xi`` truncated
    at +-3. ``(tau v - x) / (1 - tau)`` is the score of the interpolant, so ``c = 1`` keeps the ODE's
    marginals (Euler-Maruyama with per-step std sigma_k); ``c = 1 / K`` is the released code's form
    ("released"); ``c = 0`` ("none") adds noise without correction.

    :param n_steps: number of denoising steps K.
    :param sigma: base per-step noise std of the stochastic sampler.
    :param marginal_correction: "consistent" (c = 1), "released" (c = 1/K) or "none" (c = 0).
    :param clip: bound of the means and the final sample (actions live in [-1, 1]); None disables it.
    :param clipped_chain_end: the returned chain ends at the clipped sample while the returned log-prob is the
        unclipped one's, as the released code stores them; re-evaluating such a chain then gives a log-prob at or
        above the returned one (a PPO ratio above 1 at identical weights for chains with saturated actions).
    """

    def __init__(self, n_steps: int, sigma: float, marginal_correction: str = "consistent", clip: Optional[float] = 1.0,
                 clipped_chain_end: bool = False) -> None:
        if n_steps < 1:
            raise ValueError(f"The number of denoising steps K must be >= 1, got {n_steps}.")
        if sigma < 0:
            raise ValueError(f"The sampler noise sigma must be >= 0, got {sigma}.")
        if marginal_correction not in MARGINAL_CORRECTIONS:
            raise ValueError(f"marginal_correction must be one of {MARGINAL_CORRECTIONS}, got {marginal_correction!r}.")
        self.n_steps = n_steps
        self.sigma = sigma
        self.marginal_correction = marginal_correction
        self.delta = 1.0 / n_steps
        self.correction = {"consistent": 1.0, "released": self.delta, "none": 0.0}[marginal_correction]
        self.clip = clip
        self.clipped_chain_end = clipped_chain_end

    def _clip(self, x: th.Tensor) -> th.Tensor:
        return x if self.clip is None else x.clamp(-self.clip, self.clip)

    def tau(self, k: int) -> float:
        return k * self.delta

    def step_std(self, k: int) -> float:
        return self.sigma * math.sqrt(1.0 - self.tau(k))

    def step_mean(self, velocity: th.Tensor, x: th.Tensor, tau: th.Tensor | float, stochastic: bool = True) -> th.Tensor:
        """Mean of the next chain element given the velocity at ``(x, tau)``: drift, correction, clip.

        The deterministic (ODE) step is plain Euler: the score correction only offsets injected noise.
        """
        drift = self.delta * velocity
        if stochastic:
            drift = drift + self.correction * (self.sigma**2 / 2.0) * (tau * velocity - x)
        return self._clip(x + drift)

    @staticmethod
    def gaussian_log_prob(x_next: th.Tensor, mean: th.Tensor, std: th.Tensor | float) -> th.Tensor:
        """Sum over the last dim of log N(x_next; mean, std^2) (the +-3 std truncation is ignored)."""
        std = th.as_tensor(std, dtype=mean.dtype, device=mean.device)
        z = (x_next - mean) / std
        return (-0.5 * z.pow(2) - th.log(std) - 0.5 * math.log(2 * math.pi)).sum(-1)

    def normalize(self, chain_log_prob: th.Tensor, flow_dim: int) -> th.Tensor:
        """Per-step, per-dim log-prob ``l = log p(chain) / ((K + 1) d)`` used by the clipped ratio."""
        return chain_log_prob / ((self.n_steps + 1) * flow_dim)

    def sample(
        self,
        velocity_fn: VelocityFn,
        x0: th.Tensor,
        stochastic: bool = True,
        return_chain: bool = False,
    ) -> tuple[th.Tensor, Optional[th.Tensor], Optional[th.Tensor]]:
        """Run the K denoising steps from ``x0``.

        :return: the final sample ``clip(x_K, -1, 1)``, the chain ``(K + 1, *x0.shape)`` (if asked for)
            and the normalized log-prob of the chain under ``velocity_fn`` (stochastic only).
        """
        x = x0
        chain = [x0] if return_chain else None
        log_prob = th.zeros(x0.shape[:-1], device=x0.device) if stochastic else None
        for k in range(self.n_steps):
            tau = self.tau(k)
            velocity = velocity_fn(x, th.full(x.shape[:-1], tau, device=x.device))
            mean = self.step_mean(velocity.float(), x, tau, stochastic)
            if stochastic and self.sigma > 0:
                std = self.step_std(k)
                x = mean + std * th.randn_like(mean).clamp(-3.0, 3.0)
                log_prob = log_prob + self.gaussian_log_prob(x, mean, std)
            else:
                x = mean
            if chain is not None:
                chain.append(x)
        if log_prob is not None:
            log_prob = self.normalize(log_prob, x0.shape[-1])
        if chain is not None and self.clipped_chain_end:
            chain[-1] = self._clip(x)
        return self._clip(x), (th.stack(chain) if chain is not None else None), log_prob

    def chain_log_prob(self, velocity_fn: VelocityFn, chain: th.Tensor) -> th.Tensor:
        """Normalized log-prob of given chains ``(K + 1, B, d)`` under ``velocity_fn``.

        All K steps are evaluated in one batched forward pass of ``K * B`` rows.
        """
        n_steps, batch, dim = chain.shape
        n_steps -= 1
        if n_steps != self.n_steps:
            raise ValueError(f"Chain has {n_steps} steps but the sampler uses K = {self.n_steps}.")
        x = chain[:-1].reshape(n_steps * batch, dim)  # explicit width: batch may be 0 (no chain with an advantage)
        taus = (th.arange(n_steps, device=chain.device, dtype=th.float32) * self.delta).repeat_interleave(batch)
        velocity = velocity_fn(x, taus).float()
        mean = self.step_mean(velocity, x, taus.unsqueeze(-1))
        stds = self.sigma * th.sqrt(1.0 - taus).unsqueeze(-1)
        step_log_probs = self.gaussian_log_prob(chain[1:].reshape(n_steps * batch, dim), mean, stds)
        return self.normalize(step_log_probs.view(n_steps, batch).sum(0), dim)


__all__ = ["FlowSampler", "FlowVelocityNet", "MARGINAL_CORRECTIONS", "SinusoidalTimeEmbedding", "VelocityFn", "mlp"]
