"""Demonstration datasets: Minari and robomimic-hdf5 round trips, robomimic's own layout, clear errors, CLI."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys

import gymnasium as gym
import h5py
import numpy as np
import pytest
from gymnasium import spaces

import sb3_ogpo  # noqa: F401  (registers env ids)
from sb3_ogpo.common.demonstrations import (
    EPISODE_SEEDS,
    EPISODE_TERMINATED,
    FINAL_OBSERVATIONS,
    STEP_SUCCESSES,
    Demonstrations,
)
from sb3_ogpo.datasets import (
    load_demonstrations,
    load_minari,
    load_robomimic_hdf5,
    save_minari,
    save_robomimic_hdf5,
)

DICT_SPACE = spaces.Dict(
    {
        "robot0_eef_pos": spaces.Box(-np.inf, np.inf, (3,), np.float32),
        "robot0_eef_quat": spaces.Box(-np.inf, np.inf, (4,), np.float32),
        "robot0_gripper_qpos": spaces.Box(-np.inf, np.inf, (2,), np.float32),
        "object": spaces.Box(-np.inf, np.inf, (10,), np.float32),
    }
)
LIFT_ACTIONS = spaces.Box(-1.0, 1.0, (7,), np.float32)
LENGTHS = (5, 3, 7)


@pytest.fixture(scope="module")
def door_spaces():
    env = gym.make("AdroitHandDoor-v1")
    yield env.observation_space, env.action_space
    env.close()


def _obs(space: spaces.Space, n: int, rng: np.random.Generator):
    if isinstance(space, spaces.Dict):
        return {key: _obs(sub, n, rng) for key, sub in space.spaces.items()}
    return rng.normal(size=(n, *space.shape)).astype(space.dtype)


def _demos(observation_space, action_space, seed=0, extras=True) -> Demonstrations:
    rng = np.random.default_rng(seed)
    n = sum(LENGTHS)
    starts = np.zeros(n, dtype=bool)
    starts[np.cumsum((0,) + LENGTHS[:-1])] = True
    metadata = {"env_id": "test", "noise_scale": 0.1}
    successes = np.array([True, False, True])
    step_successes = (rng.random(n) < 0.3) & np.repeat(successes, LENGTHS)
    step_successes[np.cumsum(LENGTHS) - 1] = successes  # consistent: an episode succeeded iff some step did
    if extras:
        metadata.update(
            {
                FINAL_OBSERVATIONS: _obs(observation_space, len(LENGTHS), rng),
                EPISODE_TERMINATED: np.array([False, True, False]),
                EPISODE_SEEDS: np.array([4, 5, 9]),
                STEP_SUCCESSES: step_successes,
            }
        )
    return Demonstrations(
        observations=_obs(observation_space, n, rng),
        actions=rng.uniform(-1, 1, size=(n, *action_space.shape)).astype(np.float32),
        episode_starts=starts,
        rewards=rng.normal(size=n).astype(np.float32) if extras else None,
        episode_successes=successes if extras else None,
        metadata=metadata,
    )


def _assert_obs_equal(a, b):
    if isinstance(a, dict):
        assert list(a) == list(b)
        for key in a:
            _assert_obs_equal(a[key], b[key])
    else:
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)


def _assert_same(loaded: Demonstrations, demos: Demonstrations):
    _assert_obs_equal(loaded.observations, demos.observations)
    _assert_obs_equal(loaded.actions, demos.actions)
    np.testing.assert_array_equal(loaded.episode_starts, demos.episode_starts)
    for name in ("rewards", "episode_successes"):
        expected = getattr(demos, name)
        assert (getattr(loaded, name) is None) == (expected is None), name
        if expected is not None:
            np.testing.assert_array_equal(getattr(loaded, name), expected)
    for key in (FINAL_OBSERVATIONS, EPISODE_TERMINATED, EPISODE_SEEDS, STEP_SUCCESSES):
        assert (key in loaded.metadata) == (key in demos.metadata), key
        if key in demos.metadata:
            _assert_obs_equal(loaded.metadata[key], demos.metadata[key])
    assert loaded.metadata["noise_scale"] == 0.1


# --- round trips ------------------------------------------------------------------------------------


@pytest.mark.parametrize("extras", [True, False])
def test_minari_round_trip_box(tmp_path, door_spaces, extras):
    obs_space, act_space = door_spaces
    demos = _demos(obs_space, act_space, extras=extras)
    path = save_minari(demos, "sb3_ogpo/door/test-v0", root=tmp_path, env="AdroitHandDoor-v1")
    assert path == tmp_path / "sb3_ogpo/door/test-v0" and (path / "data" / "main_data.hdf5").is_file()
    for source, kwargs in (("sb3_ogpo/door/test-v0", {"root": tmp_path}), (path, {}), (path / "data", {})):
        loaded = load_minari(source, observation_space=obs_space, action_space=act_space, **kwargs)
        _assert_same(loaded, demos)
    # minari itself reads it, with the env spec recorded
    import minari

    dataset = minari.MinariDataset(path / "data")
    assert dataset.total_steps == len(demos) and dataset.spec.env_spec.id == "AdroitHandDoor-v1"


def test_minari_round_trip_dict_and_env_var(tmp_path, monkeypatch):
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "root"))
    demos = _demos(DICT_SPACE, LIFT_ACTIONS)
    save_minari(demos, "lift/test-v1", observation_space=DICT_SPACE, action_space=LIFT_ACTIONS)
    assert (tmp_path / "root" / "lift/test-v1" / "data" / "metadata.json").is_file()
    _assert_same(load_minari("lift/test-v1"), demos)
    _assert_same(load_demonstrations("lift/test-v1", observation_space=DICT_SPACE, action_space=LIFT_ACTIONS), demos)
    with pytest.raises(FileExistsError, match="already exists.*overwrite=True"):
        save_minari(demos, "lift/test-v1", observation_space=DICT_SPACE, action_space=LIFT_ACTIONS)
    save_minari(demos, "lift/test-v1", observation_space=DICT_SPACE, action_space=LIFT_ACTIONS, overwrite=True)
    # a Box env over a Dict dataset: flattened in the dataset space's (gymnasium flatten) order
    flat_space = spaces.Box(-np.inf, np.inf, (19,), np.float32)
    flat = load_minari("lift/test-v1", observation_space=flat_space, action_space=LIFT_ACTIONS)
    expected = np.concatenate([demos.observations[key] for key in sorted(DICT_SPACE.spaces)], axis=1)
    np.testing.assert_array_equal(flat.observations, expected)


@pytest.mark.parametrize("dict_obs", [False, True])
def test_hdf5_round_trip(tmp_path, door_spaces, dict_obs):
    obs_space, act_space = (DICT_SPACE, LIFT_ACTIONS) if dict_obs else door_spaces
    for extras in (True, False):
        demos = _demos(obs_space, act_space, extras=extras)
        path = save_robomimic_hdf5(demos, tmp_path / f"d{extras}.hdf5", env_id="RobomimicLift-v0", filters={"train": [0, 2]})
        _assert_same(load_robomimic_hdf5(path, observation_space=obs_space, action_space=act_space), demos)
        _assert_same(load_demonstrations(path), demos)
        train = load_robomimic_hdf5(path, filter_key="train")
        _assert_obs_equal(train.actions, demos.select_episodes([0, 2]).actions)
    with h5py.File(path, "r") as file:  # robomimic's SequenceDataset needs these
        assert file["data"].attrs["total"] == len(demos)
        assert json.loads(file["data"].attrs["env_args"])["env_name"] == "Lift"
        assert file["data/demo_1"].attrs["num_samples"] == LENGTHS[1]
        assert file["data/demo_1/dones"][-1] == 1
        key = "object" if dict_obs else "obs"
        np.testing.assert_array_equal(file[f"data/demo_0/next_obs/{key}"][:-1], file[f"data/demo_0/obs/{key}"][1:])


def _write_robomimic_file(path, n_demos=3, length=10, corrupt=None):
    """A file in robomimic's own layout (as in low_dim_v15.hdf5): float64, extra keys, demo_1.., masks."""
    rng = np.random.default_rng(0)
    with h5py.File(path, "w") as file:
        data = file.create_group("data")
        data.attrs["total"] = n_demos * length
        data.attrs["env_args"] = json.dumps({"env_name": "Lift", "type": 1, "env_kwargs": {"control_freq": 20}})
        for i in range(1, n_demos + 1):
            demo = data.create_group(f"demo_{i}")
            demo.attrs["num_samples"] = length
            demo.attrs["model_file"] = "<mujoco/>"
            for group in ("obs", "next_obs"):
                for key, dim in (("robot0_eef_pos", 3), ("robot0_eef_quat", 4), ("robot0_gripper_qpos", 2),
                                 ("object", 10), ("robot0_joint_pos", 7), ("robot0_eef_vel_lin", 3)):
                    demo.create_dataset(f"{group}/{key}", data=rng.normal(size=(length, dim)))
            demo.create_dataset("actions", data=rng.uniform(-1, 1, size=(length, 7)))
            demo.create_dataset("rewards", data=np.r_[np.zeros(length - 1), 1.0])
            demo.create_dataset("dones", data=np.r_[np.zeros(length - 1, dtype=np.int64), 1])
            demo.create_dataset("states", data=rng.normal(size=(length, 32)))
        file.create_dataset("mask/train", data=np.array([b"demo_1", b"demo_3"]))
        file.create_dataset("mask/valid", data=np.array([b"demo_2"]))
        if corrupt:
            corrupt(file)
    return path


def test_robomimic_own_layout_loads(tmp_path):
    path = _write_robomimic_file(tmp_path / "low_dim_v15.hdf5")
    demos = load_robomimic_hdf5(path, observation_space=DICT_SPACE, action_space=LIFT_ACTIONS)
    assert list(demos.observations) == list(DICT_SPACE.spaces) and len(demos) == 30 and demos.n_episodes == 3
    assert demos.observations["object"].dtype == np.float32 and demos.actions.dtype == np.float32
    assert demos.metadata["states"].shape == (30, 32) and demos.metadata["env_args"]["env_name"] == "Lift"
    with h5py.File(path, "r") as file:
        np.testing.assert_allclose(demos.observations["object"][10:20], file["data/demo_2/obs/object"][()], rtol=1e-6)
        np.testing.assert_allclose(demos.metadata[FINAL_OBSERVATIONS]["object"][0], file["data/demo_1/next_obs/object"][-1], rtol=1e-6)
    train = load_robomimic_hdf5(path, observation_space=DICT_SPACE, action_space=LIFT_ACTIONS, filter_key="train")
    assert train.n_episodes == 2 and train.metadata["demo_names"] == ["demo_1", "demo_3"]
    box = load_robomimic_hdf5(path, obs_keys=["robot0_eef_pos", "object"], action_space=LIFT_ACTIONS,
                              observation_space=spaces.Box(-np.inf, np.inf, (13,), np.float32))
    assert box.observations.shape == (30, 13)
    everything = load_robomimic_hdf5(path)  # no env: every obs key, the file's dtypes
    assert len(everything.observations) == 6 and everything.actions.dtype == np.float64


# --- clear errors -------------------------------------------------------------------------------------


def test_hdf5_errors(tmp_path, door_spaces):
    def load(path, **kwargs):
        kwargs.setdefault("observation_space", DICT_SPACE)
        kwargs.setdefault("action_space", LIFT_ACTIONS)
        return load_robomimic_hdf5(path, **kwargs)

    with pytest.raises(FileNotFoundError, match="No demonstration file at .*python -m sb3_ogpo.demos"):
        load(tmp_path / "missing.hdf5")

    good = _write_robomimic_file(tmp_path / "good.hdf5")
    cut = tmp_path / "cut.hdf5"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(ValueError, match="truncated or corrupted"):
        load(cut)
    (tmp_path / "text.hdf5").write_text("not hdf5")
    with pytest.raises(ValueError, match="cannot be opened as HDF5"):
        load(tmp_path / "text.hdf5")

    def drop_actions(file):
        del file["data/demo_2/actions"]

    with pytest.raises(ValueError, match="demo_2 has no 'actions' dataset"):
        load(_write_robomimic_file(tmp_path / "a.hdf5", corrupt=drop_actions))

    def short_obs(file):
        del file["data/demo_3/obs/object"]
        file["data/demo_3/obs/object"] = np.zeros((9, 10))

    with pytest.raises(ValueError, match=r"demo_3: obs/object has 9 steps but actions has 10"):
        load(_write_robomimic_file(tmp_path / "b.hdf5", corrupt=short_obs))

    def fewer_demos(file):
        del file["data/demo_3"]

    with pytest.raises(ValueError, match=r"attrs\['total'\] = 30 but the demos hold 20 steps"):
        load(_write_robomimic_file(tmp_path / "c.hdf5", corrupt=fewer_demos))

    def nan(file):
        file["data/demo_2/obs/robot0_eef_pos"][4, 1] = np.nan

    with pytest.raises(ValueError, match=r"observations\['robot0_eef_pos'\] contains NaN .*first bad step: 14"):
        load(_write_robomimic_file(tmp_path / "d.hdf5", corrupt=nan))

    with pytest.raises(ValueError, match=r"lacks the obs keys \['cube_pos'\]"):
        load(good, observation_space=spaces.Dict({"cube_pos": spaces.Box(-1, 1, (3,))}))
    with pytest.raises(ValueError, match=r"actions have shape \(30, 7\), expected \(N, 28\)"):
        load(good, action_space=door_spaces[1])
    with pytest.raises(ValueError, match=r"dtype float64, which does not convert to the env's dtype int64"):
        load(good, action_space=spaces.Box(-1, 1, (7,), np.int64))
    with pytest.raises(ValueError, match="has no filter mask/20_percent; available filters: \\['train', 'valid'\\]"):
        load(good, filter_key="20_percent")
    with pytest.raises(ValueError, match="holds the keys .* pass obs_keys"):
        load(good, observation_space=spaces.Box(-1, 1, (19,)))
    with h5py.File(tmp_path / "empty.hdf5", "w") as file:
        file.create_group("stuff")
    with pytest.raises(ValueError, match="no 'data' group"):
        load(tmp_path / "empty.hdf5")


def test_minari_errors(tmp_path, door_spaces):
    obs_space, act_space = door_spaces
    with pytest.raises(FileNotFoundError, match="D4RL/door/expert-v2.* is not at .*MINARI_DATASETS_PATH"):
        load_minari("D4RL/door/expert-v2", root=tmp_path)
    with pytest.raises(FileNotFoundError, match="neither an existing path nor a Minari dataset id"):
        load_minari(str(tmp_path / "nowhere"), root=tmp_path)
    with pytest.raises(ValueError, match="Malformed Minari dataset id"):
        save_minari(_demos(obs_space, act_space), "no version", root=tmp_path)

    def saved(name, demos=None):
        return save_minari(demos or _demos(obs_space, act_space), f"tt/{name}-v0", root=tmp_path, env="AdroitHandDoor-v1") / "data"

    data = saved("cut")
    main = data / "main_data.hdf5"
    main.write_bytes(main.read_bytes()[: main.stat().st_size // 2])
    with pytest.raises(ValueError, match="cannot be opened as HDF5 .*truncated or corrupted"):
        load_minari("tt/cut-v0", root=tmp_path)

    data = saved("noact")
    with h5py.File(data / "main_data.hdf5", "a") as file:
        del file["episode_1/actions"]
    with pytest.raises(ValueError, match=r"episode_1 lacks \['actions'\]"):
        load_minari(data)

    data = saved("short")
    with h5py.File(data / "main_data.hdf5", "a") as file:
        del file["episode_2/observations"]
        file["episode_2/observations"] = np.zeros((4, 39))
    with pytest.raises(ValueError, match=r"episode_2: observations has 4 entries, expected 8"):
        load_minari(data)

    bad = _demos(obs_space, act_space)
    bad.observations[6, 3] = np.nan
    with pytest.raises(ValueError, match="observations contains NaN"):
        save_minari(bad, "tt/nan-v0", root=tmp_path)
    data = saved("nan")
    with h5py.File(data / "main_data.hdf5", "a") as file:
        file["episode_0/actions"][2, 0] = np.inf
    with pytest.raises(ValueError, match=r"Minari dataset .*: Demonstration actions contain NaN or inf values \(first bad step: 2\)"):
        load_minari(data)
    with pytest.raises(ValueError, match="holds one observation array"):
        load_minari(saved("ok"), observation_space=DICT_SPACE)
    (saved("meta") / "metadata.json").write_text("{broken")
    with pytest.raises(ValueError, match="metadata.json is not valid JSON"):
        load_minari(tmp_path / "tt/meta-v0")


def test_select_and_concatenate(door_spaces):
    demos = _demos(*door_spaces)
    parts = [demos.select_episodes([i]) for i in range(3)]
    assert [len(part) for part in parts] == list(LENGTHS)
    _assert_same(Demonstrations.concatenate(parts), demos)
    subset = demos.select_episodes(np.array([True, False, True]))
    assert subset.n_episodes == 2 and list(subset.metadata[EPISODE_SEEDS]) == [4, 9]
    np.testing.assert_array_equal(subset.episode_lengths, [5, 7])


# --- collection CLI --------------------------------------------------------------------------------------


class _ZeroExpert:
    def __init__(self, env, noise_scale=0.0, **kwargs):
        self.env = env

    def reset(self, rng):
        pass

    def act(self, observation):
        return np.zeros(self.env.action_space.shape, dtype=np.float32)


def test_cli_with_stub_expert(tmp_path, monkeypatch, capsys, door_spaces):
    import sb3_ogpo.experts.collect as demos_cli

    monkeypatch.setattr(demos_cli, "make_expert", lambda env_id, env, noise_scale=0.0, **kw: _ZeroExpert(env))
    argv = ["--env", "AdroitHandDoor-v1", "--episodes", "2", "--no-progress", "--seed", "3"]
    assert demos_cli.main(argv + ["--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "success rate 0% over 2 episodes" in out and "400 transitions" in out
    demos = load_minari("sb3_ogpo/AdroitHandDoor/expert-v0", root=tmp_path, observation_space=door_spaces[0],
                        action_space=door_spaces[1])
    assert len(demos) == 400 and demos.n_episodes == 2 and list(demos.metadata[EPISODE_SEEDS]) == [3, 4]
    assert not demos.episode_successes.any() and demos.metadata["env_id"] == "AdroitHandDoor-v1"

    assert demos_cli.main(argv + ["--format", "hdf5", "--out", str(tmp_path / "door.hdf5")]) == 0
    from_hdf5 = load_robomimic_hdf5(tmp_path / "door.hdf5", env="AdroitHandDoor-v1")
    _assert_obs_equal(from_hdf5.observations, demos.observations)

    assert demos_cli.main(argv + ["--format", "hdf5", "--out", str(tmp_path / "door.hdf5")]) == 1
    assert "exists; pass overwrite=True (--overwrite)" in capsys.readouterr().err
    assert demos_cli.main(argv + ["--successful-only", "--max-attempts", "1"]) == 1
    assert "succeeded in none of 1 episodes" in capsys.readouterr().err


def _available_expert():
    from sb3_ogpo.experts import EXPERTS

    for env_id in ("PointMassMultimodal-v0", "AdroitHandDoor-v1"):
        module = EXPERTS[env_id].split(":")[0]
        try:
            importlib.import_module(module)
        except ImportError:
            continue
        return env_id
    return None


def test_cli_end_to_end(tmp_path):
    env_id = _available_expert()
    if env_id is None:
        pytest.skip("no scripted expert module (point mass / Adroit door) is available yet")
    env = dict(os.environ, OMP_NUM_THREADS="1", MINARI_DATASETS_PATH=str(tmp_path))
    result = subprocess.run(
        [sys.executable, "-m", "sb3_ogpo.demos", "--env", env_id, "--episodes", "2", "--noise", "0.1"],
        capture_output=True, text=True, env=env, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "success rate" in result.stdout and "transitions" in result.stdout
    from sb3_ogpo.experts.collect import make_demo_env

    demo_env = make_demo_env(env_id)
    demos = load_minari(f"sb3_ogpo/{env_id.rsplit('-v', 1)[0]}/expert-v0", root=tmp_path, env=demo_env)
    demo_env.close()
    assert demos.n_episodes == 2 and demos.episode_successes.shape == (2,)
