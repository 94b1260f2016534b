"""The SB3 API of OGPO: policies, save/load, VecEnvs, callbacks, chunk execution and bad input."""

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from gymnasium import spaces
from stable_baselines3.common.callbacks import EvalCallback
from stable_baselines3.common.env_util import make_vec_env

from sb3_ogpo import OGPO
from sb3_ogpo.common.demonstrations import Demonstrations
from sb3_ogpo.envs.point_mass import PointMassMultimodalEnv

ENV_ID = "PointMassMultimodal-v0"
TINY = dict(
    learning_starts=20, batch_size=16, n_group=4, denoising_steps=3, chunk_size=2, n_critics=2, buffer_size=1000,
    policy_kwargs=dict(actor_net_arch=[16, 16], critic_net_arch=[16, 16]),
)


class DictPointMass(gym.ObservationWrapper):
    """The point mass with a Dict observation, as robomimic-style tasks have."""

    def __init__(self, env):
        super().__init__(env)
        self.observation_space = spaces.Dict(
            {"position": env.observation_space, "bias": spaces.Box(-1, 1, (1,), np.float32)}
        )

    def observation(self, observation):
        return {"position": observation, "bias": np.ones(1, dtype=np.float32)}


def test_save_load_gives_identical_predictions_and_continues_training(tmp_path):
    model = OGPO("MlpPolicy", ENV_ID, seed=0, **TINY)
    model.learn(60)
    observations = np.random.default_rng(0).normal(size=(5, 2)).astype(np.float32)
    model.save(tmp_path / "ogpo")
    loaded = OGPO.load(tmp_path / "ogpo", env=make_vec_env(ENV_ID, n_envs=1))
    before, _ = model.predict(observations, deterministic=True)
    after, _ = loaded.predict(observations, deterministic=True)
    th.manual_seed(0)  # the ODE still draws x_0, so fix the seed for both
    before, _ = model.predict(observations, deterministic=True)
    th.manual_seed(0)
    after, _ = loaded.predict(observations, deterministic=True)
    assert np.array_equal(before, after)
    for name in ("actor", "actor_target", "actor_slow", "critic", "critic_target"):
        for a, b in zip(getattr(model.policy, name).parameters(), getattr(loaded.policy, name).parameters()):
            assert th.equal(a, b), name
    assert loaded.critic_optimizer.state_dict()["state"], "critic optimizer state must be saved"
    loaded.learn(40, reset_num_timesteps=False)
    assert loaded.num_timesteps == 100 and loaded._n_updates > model._n_updates


def test_a_model_saved_on_the_cosine_part_of_the_learning_rate_schedule_loads(tmp_path):
    """The actor's learning rate lives in its optimizer's state, which SB3 loads with torch's weights_only: it must
    be a Python float on every part of the warm restarts (a numpy float made every long run's zip unloadable)."""
    model = OGPO("MlpPolicy", ENV_ID, seed=0, actor_lr_restart_period=30, actor_lr_warmup_steps=3, **TINY)
    model.learn(60)
    assert type(model.policy.optimizer.param_groups[0]["lr"]) is float
    model.save(tmp_path / "cosine")
    loaded = OGPO.load(tmp_path / "cosine")
    assert loaded.policy.optimizer.param_groups[0]["lr"] == model.policy.optimizer.param_groups[0]["lr"]


@pytest.mark.parametrize("name, attribute", [("ema", "actor_target"), ("slow", "actor_slow")])
def test_deterministic_actor_integrates_the_named_actor_and_survives_save_load(tmp_path, name, attribute):
    kwargs = {**TINY, "policy_kwargs": {**TINY["policy_kwargs"], "deterministic_actor": name}}
    model = OGPO("MlpPolicy", ENV_ID, seed=0, **kwargs)
    with th.no_grad():  # make the three actors differ
        for actor, scale in ((model.policy.actor, 0.5), (model.policy.actor_target, 0.3)):
            for parameter in actor.parameters():
                parameter.add_(scale * th.randn_like(parameter))
    observations = th.randn(5, 2)

    def ode(actor):
        th.manual_seed(0)
        return model.policy.sample_chunks(model.policy.features(observations), actor, stochastic=False)[0]

    th.manual_seed(0)
    planned = model.policy.plan_chunks(observations, deterministic=True)
    named = getattr(model.policy, attribute)
    assert th.equal(planned, ode(named))
    others = [actor for actor in (model.policy.actor, model.policy.actor_target, model.policy.actor_slow) if actor is not named]
    assert not any(th.equal(planned, ode(actor)) for actor in others)
    model.save(tmp_path / name)
    assert OGPO.load(tmp_path / name).policy.deterministic_actor == name
    with pytest.raises(ValueError, match="deterministic_actor"):
        OGPO("MlpPolicy", ENV_ID, policy_kwargs=dict(deterministic_actor="median"))


def test_ode_noise_scale_zero_integrates_from_the_noise_mean_and_survives_save_load(tmp_path):
    kwargs = {**TINY, "policy_kwargs": {**TINY["policy_kwargs"], "ode_noise_scale": 0.0}}
    model = OGPO("MlpPolicy", ENV_ID, seed=0, **kwargs)
    policy, observations = model.policy, th.randn(5, 2)
    features = policy.features(observations)
    x0 = th.zeros(5, policy.flow_dim)
    mode = policy.sampler.sample(policy.velocity_fn(policy.actor, features), x0, False, False)[0]
    planned = [policy.plan_chunks(observations, deterministic=True) for _ in range(2)]
    assert th.allclose(planned[0], mode) and th.equal(planned[0], planned[1])  # no randomness left in the ODE
    stochastic = [policy.plan_chunks(observations, deterministic=False) for _ in range(2)]
    assert not th.equal(stochastic[0], stochastic[1])  # collection still samples N(0, I) and the SDE
    policy.ode_noise_scale = 1.0
    assert not th.allclose(policy.plan_chunks(observations, deterministic=True), mode)
    model.policy.ode_noise_scale = 0.0
    model.save(tmp_path / "mode")
    assert OGPO.load(tmp_path / "mode").policy.ode_noise_scale == 0.0
    with pytest.raises(ValueError, match="ode_noise_scale"):
        OGPO("MlpPolicy", ENV_ID, policy_kwargs=dict(ode_noise_scale=-1.0))


def test_multi_input_policy_with_two_envs_progress_bar_and_eval_callback(tmp_path):
    def make_env():
        return DictPointMass(gym.wrappers.TimeLimit(PointMassMultimodalEnv(), 40))

    env = make_vec_env(make_env, n_envs=2)
    eval_callback = EvalCallback(make_vec_env(make_env, n_envs=1), eval_freq=30, n_eval_episodes=2,
                                 log_path=str(tmp_path), verbose=0)
    model = OGPO("MultiInputPolicy", env, seed=0, tensorboard_log=str(tmp_path / "tb"), **TINY)
    model.learn(120, callback=eval_callback, progress_bar=True)
    assert model.num_timesteps == 120
    evaluations = np.load(tmp_path / "evaluations.npz")
    assert len(evaluations["timesteps"]) >= 1 and "successes" in evaluations
    action, state = model.predict(env.reset(), deterministic=False)
    assert action.shape == (2, 2) and np.all(np.abs(action) <= 1)


def test_predict_executes_chunks_through_state():
    model = OGPO("MlpPolicy", ENV_ID, seed=0, **{**TINY, "chunk_size": 3})
    observation = np.zeros((1, 2), dtype=np.float32)
    first, state = model.predict(observation, deterministic=False)
    chunk = state[0][0].copy()
    second, state = model.predict(observation + 5.0, state=state, episode_start=np.array([False]))
    third, state = model.predict(observation, state=state, episode_start=np.array([False]))
    assert np.allclose([first[0], second[0], third[0]], chunk)  # the pending chunk, open-loop
    replanned, state = model.predict(observation, state=state, episode_start=np.array([False]))
    assert state[1][0] == 1 and not np.allclose(replanned[0], chunk[0])
    # A new episode re-plans at once; without state every call re-plans.
    _, state = model.predict(observation, state=state, episode_start=np.array([True]))
    assert state[1][0] == 1
    single, _ = model.predict(np.zeros(2, dtype=np.float32))
    assert single.shape == (2,)


def test_visited_observations_follow_the_policy_through_episode_ends():
    from sb3_ogpo.common.rollouts import visited_observations

    env = gym.make(ENV_ID)
    model = OGPO("MlpPolicy", env, seed=0, **{**TINY, "chunk_size": 3})
    horizon = env.spec.max_episode_steps
    observations = visited_observations(model, env, n_steps=2 * horizon + 10, every=4, seed=3)
    assert len(observations) == len(range(0, 2 * horizon + 10, 4))
    assert all(env.observation_space.contains(observation) for observation in observations)
    assert len({observation.tobytes() for observation in observations}) > len(observations) // 2  # the policy moves
    again = visited_observations(model, env, n_steps=8, every=4, seed=3)
    assert not np.allclose(again[0], visited_observations(model, env, n_steps=8, every=4, seed=4)[0])


def test_pretrain_bc_reduces_the_flow_matching_loss():
    rng = np.random.default_rng(0)
    observations = rng.uniform(-1, 1, size=(200, 2)).astype(np.float32)
    # One-step episodes: the chunk target of every step is its action repeated (padding past the end).
    demos = Demonstrations(observations, observations[:, ::-1].copy(), np.ones(200, dtype=bool))
    model = OGPO("MlpPolicy", ENV_ID, seed=0, **TINY)
    chunks = th.as_tensor(np.tile(demos.actions, (1, 2)))
    features = model.policy.features(th.as_tensor(observations))
    th.manual_seed(0)
    loss_before = model.policy.flow_matching_loss(features, chunks).item()
    model.pretrain_bc(demos, gradient_steps=300, batch_size=64, learning_rate=3e-3)
    th.manual_seed(0)
    assert model.policy.flow_matching_loss(features, chunks).item() < 0.7 * loss_before
    assert all(th.equal(a, b) for a, b in zip(model.policy.actor.parameters(), model.policy.actor_target.parameters()))


# ----- bad input ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs,message",
    [
        (dict(denoising_steps=0), "denoising_steps must be a positive integer"),
        (dict(n_group=0), "n_group must be a positive integer"),
        (dict(n_group=1), "n_group must be >= 2"),
        (dict(n_critics=-1), "n_critics must be a positive integer"),
        (dict(chunk_size=0), "chunk_size must be a positive integer"),
        (dict(chunk_size=50), "chunk_size h = 50 is longer than the env's episodes"),
        (dict(advantage="optimistic"), "advantage must be one of"),
        (dict(marginal_correction="approx"), "marginal_correction must be one of"),
    ],
)
def test_bad_settings_get_clear_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        OGPO("MlpPolicy", ENV_ID, **{**TINY, **kwargs})


def test_discrete_action_space_is_rejected():
    with pytest.raises(AssertionError, match="Box"):
        OGPO("MlpPolicy", "CartPole-v1")


def test_unbounded_action_space_is_rejected():
    env = PointMassMultimodalEnv()
    env.action_space = spaces.Box(-np.inf, np.inf, (2,), np.float32)
    with pytest.raises(AssertionError, match="finite lower and upper bound"):
        OGPO("MlpPolicy", env, **TINY)


class NaNObservation(gym.ObservationWrapper):
    def observation(self, observation):
        return np.full_like(observation, np.nan)


def test_nan_observations_are_rejected():
    model = OGPO("MlpPolicy", NaNObservation(PointMassMultimodalEnv()), **TINY)
    with pytest.raises(ValueError, match="NaN or inf"):
        model.learn(5)


def test_mismatched_demonstrations_are_rejected():
    model = OGPO("MlpPolicy", ENV_ID, **TINY)
    wrong_actions = Demonstrations(np.zeros((10, 2), np.float32), np.zeros((10, 3), np.float32), np.arange(10) == 0)
    with pytest.raises(ValueError, match="actions have shape"):
        model.pretrain_bc(wrong_actions, gradient_steps=1)
    wrong_obs = Demonstrations(np.zeros((10, 5), np.float32), np.zeros((10, 2), np.float32), np.arange(10) == 0)
    with pytest.raises(ValueError, match="observations has shape"):
        model.pretrain_bc(wrong_obs, gradient_steps=1)
