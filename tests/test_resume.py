"""Resume without loss: the replay and success buffers through SB3's save/load and RL Zoo's -i, and bad
inputs refused where they enter."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

import sb3_ogpo  # noqa: F401
from sb3_ogpo import OGPO

ENV_ID = "PointMassMultimodal-v0"
SMALL = dict(policy_kwargs=dict(actor_net_arch=[32, 32], critic_net_arch=[32, 32]), n_critics=3, chunk_size=2,
             denoising_steps=3, n_group=4, batch_size=16, learning_starts=50, success_bc_coef=1.0)


def _buffer_arrays(buffer) -> dict[str, np.ndarray]:
    arrays = {f"observations/{k}": v for k, v in buffer.observations.items()}
    arrays.update({f"next_observations/{k}": v for k, v in buffer.next_observations.items()})
    arrays.update(actions=buffer.actions, rewards=buffer.rewards, dones=buffer.dones, terminations=buffer.terminations,
                  episode_lengths=buffer._episode_lengths, position=np.array([buffer.pos, buffer.full]))
    return arrays


def _assert_same_buffers(saved, loaded) -> None:
    for part_saved, part_loaded in ((saved, loaded), (saved.success_buffer, loaded.success_buffer)):
        expected, actual = _buffer_arrays(part_saved), _buffer_arrays(part_loaded)
        assert expected.keys() == actual.keys()
        for key in expected:
            np.testing.assert_array_equal(actual[key], expected[key], err_msg=key)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    model = OGPO("MlpPolicy", ENV_ID, seed=0, **SMALL)
    model.learn(410)  # stops inside an episode (40 steps each)
    assert model.replay_buffer.success_buffer.pos > 0, "the run should have stored successful episodes"
    folder = tmp_path_factory.mktemp("resume")
    model.save(folder / "model")
    model.save_replay_buffer(folder / "buffer")
    return model, folder


def test_save_load_continue_keeps_the_replay_and_success_buffers(trained):
    model, folder = trained
    loaded = OGPO.load(folder / "model", env=gym.make(ENV_ID))
    loaded.load_replay_buffer(folder / "buffer.pkl", truncate_last_traj=False)
    _assert_same_buffers(model.replay_buffer, loaded.replay_buffer)
    position = loaded.replay_buffer.pos
    loaded.learn(100, reset_num_timesteps=False)
    assert loaded.num_timesteps == 510
    assert loaded.replay_buffer.pos == position + 100
    np.testing.assert_array_equal(loaded.replay_buffer.actions[:position], model.replay_buffer.actions[:position])


def test_checkpoint_callback_saves_a_loadable_buffer(tmp_path):
    from stable_baselines3.common.callbacks import CheckpointCallback

    model = OGPO("MlpPolicy", ENV_ID, seed=0, **SMALL)
    model.learn(120, callback=CheckpointCallback(100, str(tmp_path), save_replay_buffer=True))
    loaded = OGPO.load(tmp_path / "rl_model_100_steps", env=gym.make(ENV_ID))
    loaded.load_replay_buffer(tmp_path / "rl_model_replay_buffer_100_steps.pkl", truncate_last_traj=False)
    # SB3 calls the callback before it stores the step's transition (for SAC too): 99 transitions at step 100
    assert loaded.replay_buffer.pos == 99
    np.testing.assert_array_equal(loaded.replay_buffer.actions[:99], model.replay_buffer.actions[:99])


def test_load_truncates_the_interrupted_episode_by_default(trained):
    model, folder = trained
    loaded = OGPO.load(folder / "model", env=gym.make(ENV_ID))
    loaded.load_replay_buffer(folder / "buffer.pkl")
    saved, buffer = model.replay_buffer, loaded.replay_buffer
    last = buffer.pos - 1
    open_episode = saved._episode_lengths[0] > 0
    assert open_episode, "the fixture should stop inside an episode"
    assert buffer.dones[last, 0] and not buffer.terminations[last, 0]
    assert (buffer._episode_lengths == 0).all()
    # everything else as saved
    np.testing.assert_array_equal(np.delete(buffer.dones, last, 0), np.delete(saved.dones, last, 0))
    np.testing.assert_array_equal(buffer.success_buffer.actions, saved.success_buffer.actions)


@pytest.mark.parametrize("change, message", [
    (dict(chunk_size=3), "chunk_size: buffer 2, model 3"),
    (dict(success_bc_coef=0.0), "success buffer: buffer True, model False"),
    (dict(env="Pendulum-v1"), "observation space"),
])
def test_a_buffer_from_other_settings_is_refused(trained, change, message):
    _, folder = trained
    settings = {**SMALL, **change}
    env = settings.pop("env", ENV_ID)
    other = OGPO("MlpPolicy", env, seed=0, **settings)
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        other.load_replay_buffer(folder / "buffer.pkl")


def test_a_foreign_buffer_is_refused(tmp_path):
    from stable_baselines3 import SAC

    sac = SAC("MlpPolicy", "Pendulum-v1", buffer_size=100)
    sac.save_replay_buffer(tmp_path / "sac")
    with pytest.raises(ValueError, match="not OGPO's ChunkReplayBuffer"):
        OGPO("MlpPolicy", ENV_ID, **SMALL).load_replay_buffer(tmp_path / "sac.pkl")


# ----- bad inputs --------------------------------------------------------------------------------
@pytest.mark.parametrize("name, value", [
    ("clip_range", -1), ("clip_range", 0.0), ("clip_range", lambda progress: progress * 0.01),
    ("gamma", 1.5), ("gamma", 0.0), ("tau_actor", 2.0), ("tau_critic", 0.0), ("tau_slow_actor", -0.1), ("slow_tau", 2.0),
    ("success_bc_coef", -1.0), ("chi2_coef", -0.5), ("actor_weight_decay", -1e-5), ("critic_weight_decay", -1.0),
    ("max_grad_norm", 0.0), ("critic_utd", -1),
])
def test_bad_hyperparameters_are_refused_by_name(name, value):
    with pytest.raises(ValueError, match=name):
        OGPO("MlpPolicy", ENV_ID, **{**SMALL, name: value})


def test_a_nan_reward_is_refused_at_the_step_it_arrives():
    class NaNReward(gym.Wrapper):
        steps = 0

        def step(self, action):
            observation, reward, terminated, truncated, info = self.env.step(action)
            NaNReward.steps += 1
            return observation, (float("nan") if NaNReward.steps == 30 else reward), terminated, truncated, info

    model = OGPO("MlpPolicy", NaNReward(gym.make(ENV_ID)), seed=0, **SMALL)
    with pytest.raises(ValueError, match="non-finite reward"):
        model.learn(200)
    assert NaNReward.steps == 30  # refused at once, before any update (learning_starts 50)
    assert model.replay_buffer.pos == 29  # the NaN transition was not stored
    assert np.isfinite(model.replay_buffer.rewards).all()


@pytest.mark.parametrize("env_id, suggestion", [
    ("RobomimicLft-v0", "RobomimicLift-v0"),
    ("KitchenMicrowaveKettleLightSlidr-v0", "KitchenMicrowaveKettleLightSlider-v0"),
    ("AdroitHandDor-v1", "AdroitHandDoor-v1"),
])
def test_a_mistyped_task_id_suggests_the_registered_ones(env_id, suggestion):
    from sb3_ogpo.experts import make_expert
    from sb3_ogpo.starts import get_start_config

    with pytest.raises(ValueError, match=suggestion):
        OGPO("MlpPolicy", env_id, **SMALL)
    with pytest.raises(ValueError, match=suggestion):
        get_start_config(env_id)
    with pytest.raises(ValueError, match=suggestion):
        make_expert(env_id, None)


# ----- RL Zoo: Ctrl-C keeps the model and its buffers, -i continues from them -----------------------
def _zoo(args: list[str], cwd: Path, log: Path | None = None) -> subprocess.Popen:
    """RL Zoo's train in a subprocess; its output goes to ``log`` (a file: nothing blocks on a full pipe) or a pipe.

    The child gets the default Ctrl-C handling even where the tests run as a background job, whose shell starts them
    with SIGINT ignored (Python then installs no KeyboardInterrupt handler, and Ctrl-C does nothing).
    """
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore", "PYTHONUNBUFFERED": "1"}
    stdout = open(log, "w") if log is not None else subprocess.PIPE
    process = subprocess.Popen([sys.executable, "-m", "rl_zoo3.train", *args], cwd=cwd, env=env,
                               stdout=stdout, stderr=subprocess.STDOUT, text=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    if log is not None:
        stdout.close()  # the child holds its own descriptor
    return process


def _interrupt(process: subprocess.Popen, log: Path) -> str:
    """Ctrl-C, then the zoo's output once it has saved and exited (killed after 120 s)."""
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=120)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    return log.read_text()


def test_sigint_keeps_model_and_buffer_and_minus_i_continues(tmp_path):
    pytest.importorskip("rl_zoo3")
    params = ["-params", "init_policy:None", "learning_starts:100", "batch_size:16", "n_group:4", "n_critics:2",
              "success_bc_coef:1.0"]
    log = tmp_path / "interrupted.log"
    process = _zoo(["--algo", "ogpo", "--env", ENV_ID, "-n", "1000000", "-f", "logs", "--save-replay-buffer",
                    "--seed", "0", *params], tmp_path, log)
    monitor = tmp_path / "logs" / "ogpo" / f"{ENV_ID}_1" / "0.monitor.csv"
    deadline = time.time() + 240
    while time.time() < deadline and process.poll() is None:  # wait for 10 finished episodes (400 steps)
        if monitor.exists() and len(monitor.read_text().splitlines()) >= 12:
            break
        time.sleep(1)
    assert process.poll() is None, log.read_text()[-3000:]
    output = _interrupt(process, log)
    assert process.returncode == 0, output[-3000:]
    run = tmp_path / "logs" / "ogpo" / f"{ENV_ID}_1"
    model_path, buffer_path = run / f"{ENV_ID}.zip", run / "replay_buffer.pkl"
    assert model_path.is_file() and buffer_path.is_file(), sorted(p.name for p in run.iterdir())
    interrupted = OGPO.load(model_path)
    interrupted.load_replay_buffer(buffer_path, truncate_last_traj=False)
    stored = interrupted.replay_buffer.pos
    assert stored >= 400 and interrupted.num_timesteps == stored

    process = _zoo(["--algo", "ogpo", "--env", ENV_ID, "-n", "200", "-f", "logs", "--save-replay-buffer",
                    "--seed", "1", "-i", str(model_path), *params], tmp_path)
    output = process.communicate(timeout=300)[0]
    assert process.returncode == 0, output[-3000:]
    assert "Loading replay buffer" in output
    continued_run = tmp_path / "logs" / "ogpo" / f"{ENV_ID}_2"
    continued = OGPO.load(continued_run / f"{ENV_ID}.zip")
    continued.load_replay_buffer(continued_run / "replay_buffer.pkl", truncate_last_traj=False)
    assert continued.replay_buffer.pos == stored + 200
    np.testing.assert_array_equal(continued.replay_buffer.actions[:stored], interrupted.replay_buffer.actions[:stored])
    # (the success buffer's contents are compared where the run has successes, in the round-trip test above)
    successes = interrupted.replay_buffer.success_buffer.pos
    assert continued.replay_buffer.success_buffer.pos >= successes
    np.testing.assert_array_equal(continued.replay_buffer.success_buffer.actions[:successes],
                                  interrupted.replay_buffer.success_buffer.actions[:successes])
