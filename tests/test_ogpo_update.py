"""OGPO's update math: the PPO ratio, the advantages and the chunked TD targets."""

from collections import defaultdict

import numpy as np
import pytest
import torch as th
from gymnasium import spaces

import sb3_ogpo  # noqa: F401
from sb3_ogpo import OGPO
from sb3_ogpo.common.buffers import ChunkReplayBuffer
from sb3_ogpo.ogpo.diagnostics import advantage_outlier_correlation
from sb3_ogpo.ogpo.losses import chi2_advantage, chunked_td_target, ensemble_td_loss, group_advantage

SMALL = dict(policy_kwargs=dict(actor_net_arch=[32, 32], critic_net_arch=[32, 32]), n_critics=3, learning_starts=0)


def test_ratio_is_one_when_actor_equals_ema_actor():
    model = OGPO("MlpPolicy", "PointMassMultimodal-v0", chunk_size=2, denoising_steps=4, sde_sigma=0.1, seed=0, **SMALL)
    policy = model.policy
    policy.actor_target.load_state_dict(policy.actor.state_dict())
    features = policy.features(th.randn(16, 2))
    with th.no_grad():
        _, chains, old_log_prob = policy.sample_chunks(features, policy.actor_target, n_samples=8, return_chain=True)
        new_log_prob = policy.chain_log_prob(policy.actor, features, chains)
    assert th.allclose(th.exp(new_log_prob - old_log_prob), th.ones(128), atol=1e-5)
    # ... and it moves away from 1 once the actor changes.
    with th.no_grad():
        for parameter in policy.actor.parameters():
            parameter.add_(0.05 * th.randn_like(parameter))
        moved = th.exp(policy.chain_log_prob(policy.actor, features, chains) - old_log_prob)
    assert (moved - 1).abs().max() > 1e-3


def test_clipped_chain_end_starts_the_ratio_above_one_where_actions_saturate():
    """The released chain storage (``clipped_chain_end``): at identical weights the ratio is >= 1, and > 1 exactly
    for the chains whose final sample left [-1, 1]; the default keeps the ratio at 1."""
    for clipped_chain_end in (False, True):
        model = OGPO("MlpPolicy", "PointMassMultimodal-v0", chunk_size=2, denoising_steps=4, sde_sigma=0.5, seed=0,
                     clipped_chain_end=clipped_chain_end, **SMALL)
        policy = model.policy
        policy.actor_target.load_state_dict(policy.actor.state_dict())
        features = policy.features(th.randn(64, 2))
        with th.no_grad():
            chunks, chains, old_log_prob = policy.sample_chunks(features, policy.actor_target, n_samples=8, return_chain=True)
            ratio = th.exp(policy.chain_log_prob(policy.actor, features, chains) - old_log_prob)
        saturated = (chains[-1].abs() >= 1.0).any(-1)
        if clipped_chain_end:
            assert bool(saturated.any()) and bool((~saturated).any())
            assert bool((ratio[saturated] >= 1.0 - 1e-5).all()) and ratio[saturated].mean() > 1.01
            assert th.allclose(ratio[~saturated], th.ones_like(ratio[~saturated]), atol=1e-5)
            assert th.equal(chains[-1], chunks)
        else:
            assert th.allclose(ratio, th.ones_like(ratio), atol=1e-5)
    assert OGPO.load  # the option is a constructor argument, saved with the policy's constructor parameters
    assert policy.sampler.clipped_chain_end and policy._get_constructor_parameters()["clipped_chain_end"]


def test_vanilla_advantage_is_group_centred_ensemble_mean():
    q = th.tensor([[[1.0], [2.0], [6.0]], [[3.0], [2.0], [4.0]]])  # (M=2, G=3, B=1)
    # member means 2, 2, 5 -> group mean 3
    assert th.allclose(group_advantage(q, "vanilla").squeeze(-1), th.tensor([-1.0, -1.0, 2.0]))


def test_conservative_advantage_acts_only_on_ensemble_consensus():
    # Per member, centred over the group of 3 samples:
    # member 0: [1, 2, 6] - 3 = [-2, -1, 3]; member 1: [3, 2, 4] - 3 = [0, -1, 1]; member 2: [0, 1, 8] - 3 = [-3, -2, 5]
    q = th.tensor([[1.0, 2.0, 6.0], [3.0, 2.0, 4.0], [0.0, 1.0, 8.0]]).unsqueeze(-1)
    advantage = group_advantage(q, "conservative").squeeze(-1)
    # sample 0: signs (-, 0, -) -> no consensus -> 0; sample 1: all negative -> max = -1; sample 2: all positive -> min = 1
    assert th.allclose(advantage, th.tensor([0.0, -1.0, 1.0]))


def _buffer_with_episode(chunk_size=3, gamma=0.9):
    space = spaces.Box(-10, 10, (1,), np.float32)
    buffer = ChunkReplayBuffer(20, space, spaces.Box(-1, 1, (1,), np.float32), "cpu", chunk_size=chunk_size, gamma=gamma)
    # Episode A: 4 steps, terminates at step 3. Episode B: 3 steps, time-out at step 2. Then 2 steps of episode C.
    steps = [(0, False, False), (1, False, False), (2, False, False), (3, True, False),
             (10, False, False), (11, False, False), (12, True, True), (20, False, False), (21, False, False)]
    for t, (obs, done, timeout) in enumerate(steps):
        buffer.add(np.array([[obs]]), np.array([[obs + 0.5]]), np.array([[t / 10]]), np.array([float(t + 1)]),
                   np.array([done]), [{"TimeLimit.truncated": timeout}])
    return buffer


def test_advantage_outlier_correlation_sees_critics_that_favour_outlying_chunks():
    generator = th.Generator().manual_seed(0)
    chunks = th.randn(16, 8, 6, generator=generator)
    distance = (chunks - chunks.mean(0, keepdim=True)).norm(dim=-1)
    assert advantage_outlier_correlation(distance - distance.mean(0), chunks) == pytest.approx(1.0)
    assert advantage_outlier_correlation(-distance, chunks) == pytest.approx(-1.0)
    unrelated = th.randn(16, 8, generator=generator)
    assert abs(advantage_outlier_correlation(unrelated, chunks)) < 0.3
    flat = th.zeros(16, 8)
    assert np.isnan(advantage_outlier_correlation(flat, chunks))
    flat[:, 0] = distance[:, 0]  # only the first state has distinct advantages: the mean is over it alone
    assert advantage_outlier_correlation(flat, chunks) == pytest.approx(1.0)


def test_chunked_td_target_with_termination_inside_window():
    gamma = 0.9
    buffer = _buffer_with_episode(gamma=gamma)
    batch = buffer.windows(np.array([0, 2, 3, 4, 5, 7]), np.zeros(6, dtype=int))
    # start 0: rewards 1, 2, 3 in full, bootstrap from next_obs of step 2 (2.5) with gamma^3
    # start 2: rewards 3, 4 then termination at step 3: no bootstrap, action padded with step 3's
    # start 3: terminal step alone; start 4: runs into episode B's time-out at its 3rd step -> valid
    # start 5: time-out after 2 steps, window cut short without termination -> invalid
    # start 7: the window reaches steps not written yet -> invalid
    expected_rewards = [1 + gamma * 2 + gamma**2 * 3, 3 + gamma * 4, 4, 5 + gamma * 6 + gamma**2 * 7, 6 + gamma * 7]
    assert np.allclose(batch.rewards.numpy()[:5], expected_rewards)
    assert np.allclose(batch.discounts.numpy()[:5], [gamma**3, 0, 0, gamma**3, gamma**3])
    assert np.allclose(batch.valid.numpy(), [1, 1, 1, 1, 0, 0])
    assert np.allclose(batch.next_observations.numpy()[:4, 0], [2.5, 3.5, 3.5, 12.5])
    assert np.allclose(batch.actions.numpy()[1], [0.2, 0.3, 0.3])
    next_q = th.tensor([[[2.0, 2.0, 2.0, 2.0, 2.0, 2.0]], [[4.0, 4.0, 4.0, 4.0, 4.0, 4.0]]])  # (M=2, G'=1, B=6)
    target = chunked_td_target(batch.rewards, batch.discounts, next_q, "mean", "mean")
    assert np.allclose(target.numpy()[:2], [expected_rewards[0] + gamma**3 * 3.0, expected_rewards[1]])


def test_success_buffer_keeps_only_successful_episodes():
    space = spaces.Box(-10, 10, (1,), np.float32)
    buffer = ChunkReplayBuffer(50, space, spaces.Box(-1, 1, (1,), np.float32), "cpu", n_envs=2, chunk_size=2,
                               success_buffer_size=10)
    for t in range(3):
        done = t == 2
        infos = [{"is_success": done}, {"success": False}]  # env 0 succeeds, env 1 fails (Adroit-style key)
        buffer.add(np.full((2, 1), t), np.full((2, 1), t + 1), np.zeros((2, 1)), np.zeros(2), np.array([done, done]), infos)
    success = buffer.success_buffer
    assert success.pos == 3 and not success.full
    assert np.allclose(success.observations["__array__"][:3, 0, 0], [0, 1, 2])


def test_target_sample_reducers_and_aggregation():
    next_q = th.tensor([[[1.0], [2.0], [9.0], [4.0]], [[3.0], [3.0], [3.0], [3.0]]])  # (M=2, G'=4, B=1)
    zeros, ones = th.zeros(1), th.ones(1)
    assert chunked_td_target(zeros, ones, next_q, "mean", "mean").item() == pytest.approx((4.0 + 3.0) / 2)
    assert chunked_td_target(zeros, ones, next_q, "median", "min").item() == pytest.approx(2.0)
    assert chunked_td_target(zeros, ones, next_q, "trimmed_mean", "mean").item() == pytest.approx((3.0 + 3.0) / 2)


def test_policy_update_moves_towards_high_q_chunks():
    """One actor step with a critic that prefers +x raises the mean first action coordinate."""
    model = OGPO("MlpPolicy", "PointMassMultimodal-v0", chunk_size=1, denoising_steps=3, sde_sigma=0.2, n_group=16,
                 learning_rate=3e-3, tau_actor=1.0, clip_range=0.2, seed=1, **SMALL)
    env = model.get_env()
    model.learn(10)
    policy = model.policy
    # A critic that prefers chunks with a large first coordinate: Q(s, a) = a_x for every member.
    policy.critic_target.forward = lambda features, actions: actions[:, 0].unsqueeze(0).expand(3, -1)
    observations = th.zeros(64, 2)

    def mean_x():
        with th.no_grad():
            chunks, _, _ = policy.sample_chunks(policy.features(observations), policy.actor_target, n_samples=32)
        return chunks[:, 0].mean().item()

    before = mean_x()
    model.replay_buffer.sample_observations = lambda batch_size: observations
    for _ in range(20):
        model._actor_step(64, 0.2, defaultdict(list))
    assert mean_x() > before + 0.05
    env.close()


def test_chi2_advantage_matches_hand_computation():
    """The released chi^2 advantage: beta from the population std over members, a sigmoid mean/min blend, centred."""
    q = th.tensor([[[1.0], [3.0]], [[3.0], [5.0]]])  # (M=2, G=2, B=1): member std 1 everywhere
    ratio = th.tensor([[1.0], [2.0]])  # (G, B)
    advantages, clip_high, stats = chi2_advantage(q, ratio.log(), coef=0.5, alpha=2.0, max_ratio=0.1, clip_range=0.3)
    assert stats["chi2_beta"] == pytest.approx(0.5) and stats["slow_density_ratio_max"] == pytest.approx(2.0)
    blend = th.sigmoid(th.tensor([0.0, 2.0]))  # sigmoid(alpha (r - 1))
    q_tilde = blend * th.tensor([1.0, 3.0]) + (1 - blend) * th.tensor([2.0, 4.0])
    score = q_tilde - 0.5 * th.tensor([1.0, 2.0])
    assert th.allclose(advantages.squeeze(-1), score - score.mean())
    assert clip_high == pytest.approx(1.2)  # min(1 + 0.3, 1 + 0.1 / 0.5)
    _, clip_high, _ = chi2_advantage(q, ratio.log(), coef=0.1, alpha=1.0, max_ratio=100.0, clip_range=0.01)
    assert clip_high == pytest.approx(1.01)  # the released R_max leaves the PPO clip in charge


def test_chi2_pessimism_blends_min_and_mean():
    from sb3_ogpo.ogpo.losses import aggregate_members, chi2_pessimism

    q = th.tensor([[1.0, 4.0], [3.0, 0.0]])  # (M=2, B=2)
    assert chi2_pessimism(1.0, 5.0) == pytest.approx(0.5)  # no drift: halfway
    assert chi2_pessimism(2.0, 1.0) == pytest.approx(float(chi2_pessimism(th.tensor(2.0), 1.0)))
    assert th.allclose(aggregate_members(q, 0.25), th.tensor([0.25 * 1 + 0.75 * 2, 0.25 * 0 + 0.75 * 2]))


def test_chi2_critic_target_follows_the_actor_drift(monkeypatch):
    """As released: with chi^2 on, the TD target's member aggregation is the drift-driven mean/min blend."""
    import sb3_ogpo.ogpo.ogpo as ogpo_module

    model = OGPO("MlpPolicy", "PointMassMultimodal-v0", chunk_size=2, denoising_steps=3, n_group=4, batch_size=16,
                 seed=0, chi2=True, chi2_alpha=2.0, **{**SMALL, "learning_starts": 30})
    model.learn(80)
    assert model._chi2_drift != 1.0  # the actor steps set it
    seen = []
    original = ogpo_module.chunked_td_target
    monkeypatch.setattr(ogpo_module, "chunked_td_target", lambda *args: seen.append(args[-1]) or original(*args))
    model._chi2_drift = 1.5
    model._critic_step(16, defaultdict(list))
    assert seen == [pytest.approx(1 / (1 + np.exp(-2.0 * 0.5)))]
    model.chi2 = False
    model._critic_step(16, defaultdict(list))
    assert seen[-1] == "mean"


def test_ensemble_td_loss_averages_each_members_own_transitions():
    q = th.tensor([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]])
    target = th.tensor([0.0, 0.0, 1.0])
    valid = th.tensor([1.0, 1.0, 0.0])  # the third window is unusable
    squared = (q - target).pow(2)
    assert ensemble_td_loss(q, target, valid) == pytest.approx(float((squared.mean(0) * valid).sum() / valid.sum()))
    masks = th.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 1.0]])  # member 0 learns from window 0, member 1 from 1 and 2
    assert ensemble_td_loss(q, target, valid * masks) == pytest.approx((1.0 + 0.0) / 2)


@pytest.mark.parametrize("fraction", [1.0, 0.5])
def test_critic_bootstrap_fraction_lets_identical_members_diverge(fraction):
    """With the whole batch (released), critics that start equal stay equal; with bootstrap masks they part."""
    model = OGPO("MlpPolicy", "PointMassMultimodal-v0", chunk_size=2, denoising_steps=3, n_group=4, batch_size=16,
                 seed=0, critic_bootstrap_fraction=fraction, **{**SMALL, "learning_starts": 30, "actor_utd": 0})
    model.learn(40)
    with th.no_grad():
        for parameter in model.policy.critic.parameters():
            parameter.copy_(parameter[:1].expand_as(parameter))
    model._create_optimizers(actor=False, critic=True)
    model._critic_step(16, defaultdict(list))
    weights = model.policy.critic.net[0].weight
    spread = (weights - weights[:1]).abs().max().item()
    assert (spread == 0.0) if fraction == 1.0 else (spread > 1e-6)


def test_critic_bootstrap_fraction_must_be_a_fraction():
    for bad in (0.0, 1.5):
        with pytest.raises(ValueError, match="critic_bootstrap_fraction"):
            OGPO("MlpPolicy", "PointMassMultimodal-v0", critic_bootstrap_fraction=bad)


def test_chi2_defaults_are_the_released_ones():
    import inspect

    defaults = inspect.signature(OGPO.__init__).parameters
    assert (defaults["chi2_coef"].default, defaults["chi2_alpha"].default, defaults["chi2_max_ratio"].default,
            defaults["tau_slow_actor"].default) == (0.1, 1.0, 100.0, 5e-4)


@pytest.mark.parametrize(
    "variant",
    [
        dict(success_bc_coef=1.0),  # OGPO+
        dict(success_bc_coef=1.0, advantage="conservative"),  # OGPO+CA
        dict(chi2=True),
        dict(best_of_n=4, n_target_samples=4, target_sample_reducer="trimmed_mean", target_q_aggregation="min"),
        dict(marginal_correction="released", bf16=True),
    ],
    ids=["ogpo+", "ogpo+ca", "chi2", "best-of-n+q-variance", "released+bf16"],
)
def test_variants_train_and_log(variant):
    from stable_baselines3.common.logger import configure

    model = OGPO("MlpPolicy", "PointMassMultimodal-v0", chunk_size=2, denoising_steps=3, n_group=4, batch_size=16,
                 seed=0, **{**SMALL, "learning_starts": 30}, **variant)
    model.set_logger(configure(None, []))
    model.learn(120)
    logged = model.logger.name_to_value
    assert np.isfinite(logged["train/critic_loss"]) and np.isfinite(logged["train/policy_loss"])
    assert logged["train/actor_grad_norm"] > 0 and logged["train/critic_grad_norm"] > 0
    if variant.get("chi2"):
        assert logged["train/chi2_beta"] > 0 and np.isfinite(logged["train/slow_density_ratio_max"])
        assert 0 < logged["train/chi2_target_pessimism"] < 1
    assert 0.0 <= logged["train/clip_fraction"] <= 1.0
    assert -1.0 <= logged["train/advantage_outlier_corr"] <= 1.0
    if variant.get("success_bc_coef"):
        assert np.isfinite(logged["train/bc_loss"]) and "train/success_buffer_size" in logged


def test_critic_warmup_delays_the_policy_update():
    model = OGPO("MlpPolicy", "PointMassMultimodal-v0", chunk_size=2, denoising_steps=3, n_group=4, batch_size=16,
                 critic_warmup_steps=40, seed=0, **{**SMALL, "learning_starts": 20})
    initial = [p.clone() for p in model.policy.actor.parameters()]
    model.learn(50)  # 30 update rounds, all inside the warm-up
    assert all(th.equal(a, b) for a, b in zip(initial, model.policy.actor.parameters()))
    model.learn(30, reset_num_timesteps=False)
    assert not all(th.equal(a, b) for a, b in zip(initial, model.policy.actor.parameters()))


def test_policy_gradient_starts_runs_success_bc_alone_first():
    from stable_baselines3.common.logger import configure

    model = OGPO("MlpPolicy", "PointMassMultimodal-v0", chunk_size=2, denoising_steps=3, n_group=4, batch_size=16,
                 success_bc_coef=1.0, policy_gradient_starts=40, seed=0, **{**SMALL, "learning_starts": 20})
    model.set_logger(configure(None, []))
    initial = [p.clone() for p in model.policy.actor.parameters()]
    model.learn(50)  # 30 update rounds before the policy-gradient term starts
    logged = dict(model.logger.name_to_value)
    assert np.isfinite(logged["train/bc_loss"]) and "train/policy_loss" not in logged
    assert not all(th.equal(a, b) for a, b in zip(initial, model.policy.actor.parameters()))  # BC moved it
    model.learn(30, reset_num_timesteps=False)
    assert np.isfinite(model.logger.name_to_value["train/policy_loss"])


def test_policy_gradient_starts_without_success_bc_leaves_the_actor_alone():
    model = OGPO("MlpPolicy", "PointMassMultimodal-v0", chunk_size=2, denoising_steps=3, n_group=4, batch_size=16,
                 policy_gradient_starts=40, seed=0, **{**SMALL, "learning_starts": 20})
    initial = [p.clone() for p in model.policy.actor.parameters()]
    model.learn(50)
    assert all(th.equal(a, b) for a, b in zip(initial, model.policy.actor.parameters()))


@pytest.mark.parametrize("min_size, expected", [(None, "success"), (1000, "replay")])
def test_success_bc_samples_the_success_buffer_once_it_holds_success_buffer_min_size(min_size, expected):
    model = OGPO("MlpPolicy", "PointMassMultimodal-v0", chunk_size=2, denoising_steps=3, n_group=4, batch_size=16,
                 success_bc_coef=1.0, success_buffer_min_size=min_size, seed=0, **SMALL)
    model.learn(10)
    buffers = {"success": model.replay_buffer.success_buffer, "replay": model.replay_buffer}
    buffers["success"].pos = 100  # pretend 100 successful transitions are stored
    sampled = []
    for name, buffer in buffers.items():
        original = buffer.sample
        buffer.sample = lambda batch_size, env=None, name=name, original=original: sampled.append(name) or original(batch_size, env)
    model._success_bc_loss(16)
    assert sampled == [expected]
    with pytest.raises(ValueError, match="success_buffer_min_size"):
        OGPO("MlpPolicy", "PointMassMultimodal-v0", success_buffer_min_size=0, **SMALL)


@pytest.mark.parametrize("advantage, advantage_clip_min", [("conservative", None), ("vanilla", 0.0)])
def test_skipping_zero_advantage_chains_gives_the_full_gradient(advantage, advantage_clip_min):
    """Chains with a zero advantage (conservative, or clipped at ``advantage_clip_min=0``) are left out of the log-prob
    pass: the same gradient as the full loss over the (clipped) advantages."""
    from sb3_ogpo.ogpo.losses import clipped_surrogate_loss

    model = OGPO("MlpPolicy", "PointMassMultimodal-v0", chunk_size=2, denoising_steps=3, n_group=8, batch_size=16,
                 advantage=advantage, advantage_clip_min=advantage_clip_min, seed=0, **{**SMALL, "learning_starts": 20})
    model.learn(80)
    policy = model.policy
    with th.no_grad():
        for parameter in policy.actor.parameters():
            parameter.add_(0.02 * th.randn_like(parameter))
    policy.optimizer.step = lambda: None  # keep the gradients of the step for inspection
    np.random.seed(1), th.manual_seed(1)
    metrics = defaultdict(list)
    model._actor_step(16, 0.01, metrics)
    assert 0 < metrics["advantage_nonzero"][0] < 1, "some chains should have a zero advantage"
    skipped = [parameter.grad.clone() for parameter in policy.actor.parameters()]

    np.random.seed(1), th.manual_seed(1)  # the same draws, every chain's log-prob
    features = policy.features(model.replay_buffer.sample_observations(16))
    with th.no_grad():
        chunks, chains, old_log_prob = policy.sample_chunks(features, policy.actor_target, n_samples=8, return_chain=True)
        q_values = policy.critic_target(features.repeat(8, 1), chunks).view(policy.n_critics, 8, -1)
    advantages = group_advantage(q_values, advantage).reshape(-1)
    if advantage_clip_min is not None:
        assert bool((advantages < advantage_clip_min).any())
        advantages = advantages.clamp(min=advantage_clip_min)
    ratio = th.exp(policy.chain_log_prob(policy.actor, features, chains) - old_log_prob)
    policy.actor.zero_grad()
    clipped_surrogate_loss(ratio, advantages, 0.99, 1.01).backward()
    for fast, full in zip(skipped, (parameter.grad for parameter in policy.actor.parameters())):
        # 0.1-0.3% apart: batches of other sizes round differently and move chains across the clip's edges
        assert (fast - full).norm() <= 1e-2 * full.norm() + 1e-6, ((fast - full).norm(), full.norm())


def test_actor_step_applies_the_gradient_of_actor_loss():
    """``_actor_step`` is ``_actor_loss`` (the gradient benchmarks/gradient_snr.py measures) plus the optimizer step."""
    model = OGPO("MlpPolicy", "PointMassMultimodal-v0", chunk_size=2, denoising_steps=3, n_group=8, batch_size=16,
                 seed=0, **{**SMALL, "learning_starts": 20})
    model.learn(80)
    policy = model.policy
    parameters = list(policy.actor.parameters())
    np.random.seed(3), th.manual_seed(3)
    loss = model._actor_loss(16, 0.01, defaultdict(list))
    measured = th.autograd.grad(loss, parameters)
    before = [parameter.detach().clone() for parameter in parameters]
    np.random.seed(3), th.manual_seed(3)
    model._actor_step(16, 0.01, defaultdict(list))
    assert any(not th.equal(old, new) for old, new in zip(before, parameters)), "the step must move the actor"
    for stepped, expected in zip((parameter.grad for parameter in parameters), measured):
        assert th.allclose(stepped, expected, atol=1e-6), (stepped - expected).abs().max()


@pytest.mark.parametrize("success_bc_coef", [0.0, 1.0])
def test_actor_step_with_no_chain_advantage(monkeypatch, success_bc_coef):
    """When no chain has an advantage (a conservative ensemble that never agrees), the step still runs: the
    gradient is the success-BC term's alone, zero without it (Adam's momentum still moves the actor, as in the
    released code's optax step on a zero loss)."""
    import sb3_ogpo.ogpo.ogpo as ogpo_module

    model = OGPO("MlpPolicy", "PointMassMultimodal-v0", chunk_size=2, denoising_steps=3, n_group=8, batch_size=16,
                 advantage="conservative", success_bc_coef=success_bc_coef, seed=0, **{**SMALL, "learning_starts": 20})
    model.learn(40)
    monkeypatch.setattr(ogpo_module, "group_advantage", lambda q_values, kind: th.zeros_like(q_values[0]))
    metrics = defaultdict(list)
    model._actor_step(16, 0.01, metrics)
    assert metrics["advantage_nonzero"] == [0.0] and metrics["policy_loss"] == [0.0]
    gradient_norm = sum(parameter.grad.abs().sum().item() for parameter in model.policy.actor.parameters())
    assert (gradient_norm > 0) == (success_bc_coef > 0)


def test_bf16_on_a_cpu_without_bf16_hardware_warns(monkeypatch):
    """bf16 autocast on a CPU that emulates bfloat16 matmuls warns and names the fix; float32 and bf16 hardware do not."""
    import warnings

    from sb3_ogpo.ogpo import validation

    monkeypatch.setattr(validation, "cpu_has_fast_bf16", lambda: False)
    with pytest.warns(UserWarning, match="bf16=False"):
        OGPO("MlpPolicy", "PointMassMultimodal-v0", bf16=True, device="cpu")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        OGPO("MlpPolicy", "PointMassMultimodal-v0", bf16=False, device="cpu")
        monkeypatch.setattr(validation, "cpu_has_fast_bf16", lambda: True)
        OGPO("MlpPolicy", "PointMassMultimodal-v0", bf16=True, device="cpu")
