"""DSRL (SAC over a frozen flow's initial noise) and Residual SAC (a bounded correction of its actions)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import yaml

import sb3_ogpo  # noqa: F401
from sb3_ogpo import OGPO
from sb3_ogpo.dsrl import DSRL, DSRLNA, NoiseActionWrapper
from sb3_ogpo.experts.collect import collect_demonstrations
from sb3_ogpo.ogpo.frozen_flow import FrozenFlow
from sb3_ogpo.residual import ResidualActionWrapper, ResidualSAC

REPO = Path(__file__).resolve().parent.parent
ENV_ID = "PointMassMultimodal-v0"
SAC_KWARGS = dict(learning_starts=50, batch_size=32, policy_kwargs=dict(net_arch=[32, 32]), seed=0)


@pytest.fixture(scope="module")
def flow_path(tmp_path_factory) -> str:
    """A small flow BC'd on the point mass's expert (chunks of 2 actions)."""
    demos = collect_demonstrations(ENV_ID, 100, noise_scale=0.1, seed=0, progress=False)
    model = OGPO("MlpPolicy", ENV_ID, chunk_size=2, denoising_steps=3, n_critics=2, seed=0,
                 policy_kwargs=dict(actor_net_arch=[32, 32], critic_net_arch=[32, 32]))
    model.pretrain_bc(demos, gradient_steps=300, learning_rate=1e-3)
    path = tmp_path_factory.mktemp("flow") / "flow.zip"
    model.save(path)
    return str(path)


class RecordActions(gym.Wrapper):
    def reset(self, **kwargs):
        self.actions = []
        self.observations = []
        observation, info = self.env.reset(**kwargs)
        self.observations.append(observation)
        return observation, info

    def step(self, action):
        self.actions.append(np.asarray(action))
        result = self.env.step(action)
        self.observations.append(result[0])
        return result


def test_dsrl_executes_the_frozen_flows_ode_of_the_chosen_noise(flow_path):
    recorder = RecordActions(gym.make(ENV_ID))
    env = NoiseActionWrapper(recorder, flow_path, action_magnitude=1.5)
    observation, _ = env.reset(seed=3)
    noise = np.array([0.5, -1.0, 1.2, 0.3], dtype=np.float32)
    _, _, _, _, info = env.step(noise)
    expected = FrozenFlow(flow_path).chunk(observation, noise)
    assert info["env_steps"] == len(recorder.actions) == 2
    np.testing.assert_allclose(np.stack(recorder.actions), expected, atol=1e-6)
    assert env.action_space.shape == (4,) and env.action_space.high[0] == 1.5


def test_dsrl_counts_env_steps_and_saves_and_loads(flow_path, tmp_path):
    model = DSRL("MlpPolicy", ENV_ID, init_policy=flow_path, **SAC_KWARGS)
    model.learn(300)
    transitions = model.replay_buffer.pos
    assert model.num_timesteps >= 300 and transitions <= model.num_timesteps <= 2 * transitions + 2
    model.save(tmp_path / "dsrl")
    loaded = DSRL.load(tmp_path / "dsrl", env=ENV_ID)
    observations = np.random.default_rng(0).uniform(-1, 1, (5, 2)).astype(np.float32)
    np.testing.assert_allclose(loaded.predict(observations, deterministic=True)[0],
                               model.predict(observations, deterministic=True)[0], atol=1e-6)
    assert loaded.init_policy == flow_path


@pytest.mark.parametrize("warmup_noise", ["gaussian", "uniform"])
def test_dsrl_warmup_runs_the_flows_own_noise(flow_path, warmup_noise):
    """Before learning_starts, "gaussian" executes N(0, I) noise clipped to the bound (the base policy's behaviour)."""
    model = DSRL("MlpPolicy", ENV_ID, init_policy=flow_path, action_magnitude=1.5, warmup_noise=warmup_noise,
                 **{**SAC_KWARGS, "learning_starts": 10_000})
    model.learn(600)
    noise = model.replay_buffer.actions[: model.replay_buffer.pos].reshape(-1) * 1.5  # stored scaled to [-1, 1]
    at_bound = float(np.mean(np.abs(noise) > 1.5 - 1e-4))
    if warmup_noise == "gaussian":
        assert 0.07 < at_bound < 0.2  # P(|z| > 1.5) = 0.134 for z ~ N(0, 1)
        assert 0.55 < float(np.median(np.abs(noise))) < 0.8  # 0.674 for N(0, 1), 0.75 for uniform on [-1.5, 1.5]
    else:
        assert at_bound == 0.0


def test_dsrl_rejects_an_unknown_warmup_noise(flow_path):
    with pytest.raises(ValueError, match="warmup_noise"):
        DSRL("MlpPolicy", ENV_ID, init_policy=flow_path, warmup_noise="normal", **SAC_KWARGS)


def test_dsrl_na_distills_the_chunk_critic_through_the_flow(flow_path, tmp_path):
    import torch as th

    model = DSRLNA("MlpPolicy", ENV_ID, init_policy=flow_path, learning_rate=3e-3, **SAC_KWARGS)
    model.learn(200)
    assert np.isfinite(model.logger.name_to_value["train/distill_loss"])
    # A chunk critic with a known value, the sum of the chunk: the noise critic must learn it through the flow.
    model.policy.__dict__["action_critic"] = lambda observations, chunks: (chunks.sum(1, keepdim=True),) * 2
    for _ in range(400):
        model._distill_step(64)
    observations = model.replay_buffer.sample(256).observations
    noise = th.randn(256, model.flow.flow_dim).clamp(-1.0, 1.0)
    with th.no_grad():
        expected = model.flow.scaled_chunks(observations, noise).sum(1)
        learned = model.critic(observations, noise / model.action_magnitude)[0].squeeze(1)
    assert np.corrcoef(expected.numpy(), learned.numpy())[0, 1] > 0.9
    model.save(tmp_path / "na")
    loaded = DSRLNA.load(tmp_path / "na", env=ENV_ID)
    assert loaded.action_critic_optimizer.state_dict()["state"], "the chunk critic's optimizer is saved"


def test_residual_zero_reproduces_the_base_policy(flow_path):
    recorder = RecordActions(gym.make(ENV_ID))
    env = ResidualActionWrapper(recorder, flow_path, residual_scale=0.3)
    env.reset(seed=5)
    for _ in range(4):  # two chunks of 2
        env.step(np.zeros(2, dtype=np.float32))
    flow, rng = FrozenFlow(flow_path), np.random.default_rng(5)
    expected = []
    for start in (0, 2):
        noise = rng.standard_normal(flow.flow_dim).astype(np.float32)
        expected.append(flow.chunk(recorder.observations[start], noise))
    np.testing.assert_allclose(np.stack(recorder.actions), np.concatenate(expected), atol=1e-5)


def test_residual_sac_starts_at_a_zero_residual_and_saves_and_loads(flow_path, tmp_path):
    model = ResidualSAC("MlpPolicy", ENV_ID, init_policy=flow_path, **SAC_KWARGS)
    observations = np.random.default_rng(0).uniform(-1, 1, (5, 4)).astype(np.float32)  # observation + base action
    np.testing.assert_array_equal(model.predict(observations, deterministic=True)[0], 0.0)
    model.learn(200)
    model.save(tmp_path / "residual")
    loaded = ResidualSAC.load(tmp_path / "residual", env=ENV_ID)
    np.testing.assert_allclose(loaded.predict(observations, deterministic=True)[0],
                               model.predict(observations, deterministic=True)[0], atol=1e-6)


@pytest.mark.parametrize("algo", ["dsrl", "dsrl_na", "residual_sac"])
def test_hyperparams_cover_every_task_from_ogpos_starts(algo):
    config = yaml.safe_load((REPO / "hyperparams" / f"{algo}.yml").read_text())
    ogpo_entries = yaml.safe_load((REPO / "hyperparams" / "ogpo.yml").read_text())
    assert set(config) == set(ogpo_entries)
    for env_id, entry in config.items():
        wrapper = entry["env_wrapper"][-1]
        (name, kwargs), = wrapper.items()
        assert name.endswith("ResidualActionWrapper" if algo == "residual_sac" else "NoiseActionWrapper")
        assert kwargs["init_policy"] == ogpo_entries[env_id]["init_policy"], env_id
        assert float(entry["n_timesteps"]) == float(ogpo_entries[env_id]["n_timesteps"]), env_id


@pytest.mark.parametrize("algo", ["dsrl", "dsrl_na", "residual_sac"])
def test_zoo_train_as_typed(algo, tmp_path):
    pytest.importorskip("rl_zoo3")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    command = [sys.executable, "-m", "rl_zoo3.train", "--algo", algo, "--env", ENV_ID, "-n", "300", "-f", "logs",
               "--eval-freq", "100", "--eval-episodes", "3"]
    result = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    run = tmp_path / "logs" / algo / f"{ENV_ID}_1"
    assert (run / f"{ENV_ID}.zip").is_file() and "successes" in np.load(run / "evaluations.npz")
