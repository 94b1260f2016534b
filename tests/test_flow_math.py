"""The flow sampler's math checked against independent computations."""

import math

import pytest
import torch as th

from sb3_ogpo.ogpo.policies import FlowSampler

MODE_MEANS = th.tensor([[0.5, 0.5], [-0.5, 0.3], [0.0, -0.5]])
MODE_STD = 0.08


def mixture_velocity(x: th.Tensor, tau: th.Tensor) -> th.Tensor:
    """Exact velocity E[a - x0 | x_tau = x] of the linear interpolant for an isotropic Gaussian mixture."""
    tau = tau.unsqueeze(-1)
    var = (1 - tau) ** 2 + tau**2 * MODE_STD**2  # variance of x_tau within a mode
    diff = x.unsqueeze(1) - tau.unsqueeze(1) * MODE_MEANS  # (B, modes, 2)
    log_weights = -(diff**2).sum(-1) / (2 * var) - math.log(1.0)  # equal mode weights, same var
    weights = th.softmax(log_weights, dim=1).unsqueeze(-1)
    posterior_mean = MODE_MEANS + (tau * MODE_STD**2 / var).unsqueeze(1) * diff
    expected_action = (weights * posterior_mean).sum(1)
    return (expected_action - x) / (1 - tau).clamp(min=1e-4)


def mmd(x: th.Tensor, y: th.Tensor, bandwidth: float = 0.1) -> float:
    """Unbiased squared maximum mean discrepancy with a Gaussian kernel."""

    def kernel(a, b):
        return th.exp(-th.cdist(a, b).pow(2) / (2 * bandwidth**2))

    n, m = len(x), len(y)
    kxx, kyy, kxy = kernel(x, x), kernel(y, y), kernel(x, y)
    return float((kxx.sum() - kxx.diag().sum()) / (n * (n - 1)) + (kyy.sum() - kyy.diag().sum()) / (m * (m - 1)) - 2 * kxy.mean())


def sample_final(mode: str, stochastic: bool, seed: int, n: int = 2000) -> th.Tensor:
    # Unclipped, so that the ODE itself transports N(0, I) to the mixture; K = 20, sigma = 0.15
    # inject enough noise (sum of step variances ~0.23) for an uncorrected sampler to show.
    th.manual_seed(seed)
    final, _, _ = FlowSampler(20, 0.15, mode, clip=None).sample(mixture_velocity, th.randn(n, 2), stochastic=stochastic)
    return final


def test_stochastic_sampler_keeps_the_ode_marginals():
    ode = sample_final("consistent", stochastic=False, seed=0)
    threshold = 5e-3
    assert mmd(ode, sample_final("consistent", stochastic=False, seed=1)) < threshold  # two-sample noise level
    assert mmd(ode, sample_final("consistent", stochastic=True, seed=2)) < threshold
    # Noise without the score correction, or with the released code's 1/K-scaled one, spreads the modes.
    assert mmd(ode, sample_final("none", stochastic=True, seed=3)) > threshold
    assert mmd(ode, sample_final("released", stochastic=True, seed=4)) > threshold


def test_deterministic_sampler_is_plain_euler():
    sampler = FlowSampler(n_steps=5, sigma=0.5, marginal_correction="consistent", clip=None)
    x0 = th.randn(4, 2)
    final, _, log_prob = sampler.sample(mixture_velocity, x0, stochastic=False)
    x = x0
    for k in range(5):
        x = x + mixture_velocity(x, th.full((4,), k / 5)) / 5
    assert log_prob is None and th.allclose(final, x, atol=1e-6)


def test_step_log_prob_is_the_gaussian_density():
    sampler = FlowSampler(n_steps=4, sigma=0.3, marginal_correction="consistent")
    th.manual_seed(0)
    weight = th.randn(3, 3) * 0.5

    def velocity(x, tau):
        return x @ weight + tau.unsqueeze(-1)

    _, chain, log_prob = sampler.sample(velocity, th.randn(5, 3), stochastic=True, return_chain=True)
    expected = th.zeros(5)
    for k in range(4):
        tau, x = k / 4, chain[k]
        v = x @ weight + tau
        mean = (x + v / 4 + 0.3**2 / 2 * (tau * v - x)).clamp(-1, 1)
        std = 0.3 * math.sqrt(1 - tau)
        expected += th.distributions.Normal(mean, std).log_prob(chain[k + 1]).sum(-1)
    expected /= (4 + 1) * 3
    assert th.allclose(log_prob, expected, atol=1e-5)
    assert th.allclose(sampler.chain_log_prob(velocity, chain), expected, atol=1e-5)


@pytest.mark.parametrize("mode,factor", [("consistent", 1.0), ("released", 0.25), ("none", 0.0)])
def test_marginal_correction_modes(mode, factor):
    sampler = FlowSampler(n_steps=4, sigma=0.2, marginal_correction=mode)
    x, v = th.tensor([[0.3, -0.2]]), th.tensor([[1.0, 0.5]])
    expected = x + v / 4 + factor * 0.02 * (0.5 * v - x)
    assert th.allclose(sampler.step_mean(v, x, 0.5), expected)


def test_sampler_rejects_bad_settings():
    with pytest.raises(ValueError, match="denoising steps K"):
        FlowSampler(0, 0.1)
    with pytest.raises(ValueError, match="marginal_correction"):
        FlowSampler(5, 0.1, "approximate")
