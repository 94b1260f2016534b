"""robomimic-style HDF5 files <-> :class:`~sb3_ogpo.common.demonstrations.Demonstrations`.

Layout (what robomimic's ``SequenceDataset`` reads)::

    data                       attrs: total (int), env_args (JSON str)
    data/demo_<i>              attrs: num_samples (int); written here also: success (bool), seed (int)
    data/demo_<i>/obs/<key>        (T, ...)
    data/demo_<i>/next_obs/<key>   (T, ...)
    data/demo_<i>/actions          (T, action_dim)
    data/demo_<i>/rewards          (T,)
    data/demo_<i>/dones            (T,)
    data/demo_<i>/states           (T, state_dim)   optional
    mask/<filter>                  demo names (bytes), optional

Box observations are stored under the single key ``obs``. The reader also takes robomimic's own files
(e.g. ``low_dim_v15.hdf5``), keeping the obs keys of the env's Dict space.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any, Mapping, Sequence

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from sb3_ogpo.common.demonstrations import (
    EPISODE_SEEDS,
    EPISODE_TERMINATED,
    FINAL_OBSERVATIONS,
    STATES,
    STEP_SUCCESSES,
    Demonstrations,
    map_observations,
)
from sb3_ogpo.datasets._common import (
    SB3_OGPO_ATTR,
    finish,
    json_metadata,
    resolve_spaces,
    select_observations,
)

# The low-dim observation keys of the robomimic tasks (the project's Robomimic* envs use these).
ROBOMIMIC_LOW_DIM_KEYS = ("robot0_eef_pos", "robot0_eef_quat", "robot0_gripper_qpos", "object")
BOX_OBS_KEY = "obs"
ROBOSUITE_ENV_TYPE, GYM_ENV_TYPE = 1, 2  # robomimic's EnvType values
_DEMO_RE = re.compile(r"^demo_(\d+)$")


def default_env_args(env_id: str | None) -> dict:
    """robomimic's ``env_args``: robosuite env name and type for Robomimic* ids, the gym id otherwise."""
    from sb3_ogpo.envs import ROBOMIMIC_TASKS

    if env_id in ROBOMIMIC_TASKS:
        return {"env_name": ROBOMIMIC_TASKS[env_id][0], "type": ROBOSUITE_ENV_TYPE, "env_kwargs": {}, "env_id": env_id}
    return {"env_name": env_id or "unknown", "type": GYM_ENV_TYPE, "env_kwargs": {}, "env_id": env_id}


def save_robomimic_hdf5(
    demos: Demonstrations,
    path: str | os.PathLike,
    *,
    env_id: str | None = None,
    env_args: Mapping | None = None,
    filters: Mapping[str, Sequence[int]] | None = None,
    observation_space: spaces.Space | None = None,
    action_space: spaces.Space | None = None,
    compression: str | None = None,
) -> Path:
    """Write ``demos`` to ``path`` (replaced atomically) and return it.

    :param env_args: robomimic's ``data.attrs["env_args"]``; default: ``metadata["env_args"]`` (a file read
        earlier), else built from ``env_id`` (or ``metadata["env_id"]``).
    :param filters: ``mask/<name>`` entries: name -> episode indices (e.g. ``{"train": [...], "valid": [...]}``).
    :param observation_space: when given, demos are checked against it first (and action_space).
    """
    import h5py

    if observation_space is not None and action_space is not None:
        demos.validate(observation_space, action_space)
    else:
        finish(demos, observation_space, action_space, "Demonstrations to write")  # NaN / shapes
    path = Path(path).expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    metadata = demos.metadata
    box = not isinstance(demos.observations, dict)
    final = metadata.get(FINAL_OBSERVATIONS)
    terminated = metadata.get(EPISODE_TERMINATED)
    seeds = metadata.get(EPISODE_SEEDS)
    states = metadata.get(STATES)
    step_successes = metadata.get(STEP_SUCCESSES)
    as_dict = (lambda obs: {BOX_OBS_KEY: obs}) if box else (lambda obs: obs)
    extras = {
        "box_observations": box,
        "has_rewards": demos.rewards is not None,
        "has_final_observations": final is not None,
        "has_episode_terminated": terminated is not None,
        "metadata": json.loads(json_metadata(metadata)),
    }
    kwargs = {"compression": compression} if compression else {}
    try:
        with h5py.File(temporary, "w") as file:
            data = file.create_group("data")
            data.attrs["total"] = len(demos)
            if env_args is None:
                env_args = metadata.get("env_args") or default_env_args(env_id or metadata.get("env_id"))
            data.attrs["env_args"] = json.dumps(dict(env_args))
            data.attrs[SB3_OGPO_ATTR] = json.dumps(extras)
            for index, part in enumerate(demos.episode_slices()):
                length = part.stop - part.start
                group = data.create_group(f"demo_{index}")
                group.attrs["num_samples"] = length
                obs = as_dict(map_observations(demos.observations, lambda array: array[part]))
                if final is not None:
                    last = as_dict(map_observations(final, lambda array: array[index : index + 1]))
                else:
                    last = {key: array[-1:] for key, array in obs.items()}
                for key, array in obs.items():
                    group.create_dataset(f"obs/{key}", data=array, **kwargs)
                    group.create_dataset(f"next_obs/{key}", data=np.concatenate([array[1:], last[key]]), **kwargs)
                group.create_dataset("actions", data=demos.actions[part], **kwargs)
                rewards = demos.rewards[part] if demos.rewards is not None else np.zeros(length)
                group.create_dataset("rewards", data=rewards)
                dones = np.zeros(length, dtype=np.int64)
                dones[-1] = 1  # robomimic's convention: the last step of a demo is done
                group.create_dataset("dones", data=dones)
                if states is not None:
                    group.create_dataset("states", data=states[part], **kwargs)
                if step_successes is not None:
                    group.create_dataset("step_successes", data=np.asarray(step_successes[part], dtype=bool))
                if demos.episode_successes is not None:
                    group.attrs["success"] = bool(demos.episode_successes[index])
                if terminated is not None:
                    group.attrs["terminated"] = bool(terminated[index])
                if seeds is not None:
                    group.attrs["seed"] = int(seeds[index])
            for name, indices in (filters or {}).items():
                file.create_dataset(f"mask/{name}", data=np.array([f"demo_{i}" for i in indices], dtype="S"))
        os.replace(temporary, path)
    finally:
        if temporary.exists():
            temporary.unlink()
    return path


def _demo_names(data: Any, source: str) -> list[str]:
    names = [name for name in data if _DEMO_RE.match(name)]
    if not names:
        raise ValueError(f"{source} has no demo_<i> groups under 'data' (found {sorted(data)[:10]}).")
    return sorted(names, key=lambda name: int(_DEMO_RE.match(name).group(1)))


def load_robomimic_hdf5(
    path: str | os.PathLike,
    *,
    env: gym.Env | str | None = None,
    observation_space: spaces.Space | None = None,
    action_space: spaces.Space | None = None,
    obs_keys: Sequence[str] | None = None,
    filter_key: str | None = None,
    load_states: bool = True,
) -> Demonstrations:
    """Read a robomimic-style HDF5 file into :class:`Demonstrations`.

    :param env: env (or id) whose spaces the data must fit. For a Dict env the env's keys are read (robomimic's
        files hold more, e.g. joint positions); for a Box env a file written from Box observations is read
        as is, robomimic's own files need ``obs_keys`` (concatenated in that order).
    :param obs_keys: obs keys to read (default: the env's keys, else all of them).
    :param filter_key: read only the demos listed in ``mask/<filter_key>`` (e.g. ``"train"``, ``"20_percent"``).
    :param load_states: read ``states`` into ``metadata["states"]`` when every demo has them.
    """
    import h5py

    path = Path(path).expanduser()
    source = f"robomimic file {str(path)!r}"
    if not path.exists():
        raise FileNotFoundError(
            f"No demonstration file at {path}. Write one with `python -m sb3_ogpo.experts.collect --env <ID> --episodes N "
            f"--format hdf5 --out {path}` (formerly python -m sb3_ogpo.demos) or give the path of an existing robomimic "
            ".hdf5 file."
        )
    try:
        file = h5py.File(path, "r")
    except OSError as error:
        raise ValueError(
            f"{source} cannot be opened as HDF5 ({error}); it is truncated or corrupted (an interrupted copy or "
            "download?): fetch or write it again."
        ) from None
    observation_space, action_space = resolve_spaces(env, observation_space, action_space)
    try:
        with file:
            return _read(file, path, source, observation_space, action_space, obs_keys, filter_key, load_states)
    except (OSError, KeyError, RuntimeError) as error:
        raise ValueError(f"{source} cannot be read ({type(error).__name__}: {error}); the file is corrupted.") from None


def _read(
    file: Any,
    path: Path,
    source: str,
    observation_space: spaces.Space | None,
    action_space: spaces.Space | None,
    obs_keys: Sequence[str] | None,
    filter_key: str | None,
    load_states: bool,
) -> Demonstrations:
    if "data" not in file:
        raise ValueError(f"{source} has no 'data' group (top-level keys: {sorted(file)}): not a robomimic file.")
    data = file["data"]
    all_names = _demo_names(data, source)
    extras = json.loads(data.attrs.get(SB3_OGPO_ATTR, "{}"))
    if "total" in data.attrs:
        total = sum(_demo_length(data[name], name, source) for name in all_names)
        if int(data.attrs["total"]) != total:
            raise ValueError(
                f"{source}: data.attrs['total'] = {int(data.attrs['total'])} but the demos hold {total} steps; "
                "demos are missing (truncated file?) or the attribute is stale."
            )
    names = all_names
    if filter_key is not None:
        if "mask" not in file or filter_key not in file["mask"]:
            available = sorted(file["mask"]) if "mask" in file else []
            raise ValueError(f"{source} has no filter mask/{filter_key}; available filters: {available}.")
        names = [name.decode() if isinstance(name, bytes) else str(name) for name in file["mask"][filter_key][()]]
        unknown = [name for name in names if name not in data]
        if unknown:
            raise ValueError(f"{source}: mask/{filter_key} lists demos that are not in the file: {unknown[:5]}.")

    if obs_keys is not None:
        keys = list(obs_keys)
    elif isinstance(observation_space, spaces.Dict):
        keys = list(observation_space.spaces)
    else:
        keys = None  # all keys of the first demo
    box = bool(extras.get("box_observations"))

    observations: dict[str, list[np.ndarray]] = {}
    finals: dict[str, list[np.ndarray]] = {}
    actions, rewards, states, step_successes, successes, terminated, seeds = [], [], [], [], [], [], []
    for name in names:
        demo = data[name]
        where = f"{source}, {name}"
        length = _demo_length(demo, name, source)
        if "obs" not in demo:
            raise ValueError(f"{where} has no 'obs' group.")
        if keys is None:
            keys = sorted(demo["obs"])  # every demo must hold the first demo's keys
        missing = [key for key in keys if key not in demo["obs"]]
        if missing:
            raise ValueError(
                f"{where} lacks the obs keys {missing}; it has {sorted(demo['obs'])}. "
                "Pass obs_keys= (or an env) whose keys the file holds."
            )
        for key in keys:
            array = demo["obs"][key][()]
            if len(array) != length:
                raise ValueError(f"{where}: obs/{key} has {len(array)} steps but actions has {length}.")
            observations.setdefault(key, []).append(array)
            has_next = "next_obs" in demo and key in demo["next_obs"] and len(demo["next_obs"][key]) == length
            finals.setdefault(key, []).append(demo["next_obs"][key][-1:] if has_next else array[-1:])
        actions.append(demo["actions"][()])
        rewards.append(demo["rewards"][()] if "rewards" in demo else None)
        states.append(demo["states"][()] if load_states and "states" in demo else None)
        step_successes.append(demo["step_successes"][()] if "step_successes" in demo else None)
        successes.append(demo.attrs.get("success"))
        terminated.append(demo.attrs.get("terminated"))
        seeds.append(demo.attrs.get("seed"))
        for member in ("rewards", "dones", "states"):
            if member in demo and len(demo[member]) != length:
                raise ValueError(f"{where}: {member} has {len(demo[member])} steps but actions has {length}.")

    def select(arrays: dict[str, list[np.ndarray]]) -> Any:
        stacked = {key: np.concatenate(parts) for key, parts in arrays.items()}
        if box and obs_keys is None and list(stacked) == [BOX_OBS_KEY]:
            stacked = stacked[BOX_OBS_KEY]
        return select_observations(stacked, observation_space, obs_keys, source)

    lengths = [len(a) for a in actions]
    episode_starts = np.zeros(sum(lengths), dtype=bool)
    episode_starts[np.cumsum([0] + lengths[:-1])] = True
    metadata: dict[str, Any] = dict(extras.get("metadata", {}))
    metadata.update(format="hdf5", source=str(path), env_args=_env_args(data))
    if filter_key is not None:
        metadata["filter_key"] = filter_key
    metadata["demo_names"] = names
    if extras.get("has_final_observations", True):
        metadata[FINAL_OBSERVATIONS] = select(finals)
    if all(flag is not None for flag in terminated):
        metadata[EPISODE_TERMINATED] = np.array(terminated, dtype=bool)
    if all(seed is not None for seed in seeds):
        metadata[EPISODE_SEEDS] = np.array(seeds, dtype=np.int64)
    if all(s is not None for s in states):
        metadata[STATES] = np.concatenate(states)
    if all(s is not None for s in step_successes):
        metadata[STEP_SUCCESSES] = np.concatenate(step_successes).astype(bool)
    keep_rewards = extras.get("has_rewards", True) and all(r is not None for r in rewards)
    demos = Demonstrations(
        observations=select(observations),
        actions=np.concatenate(actions),
        episode_starts=episode_starts,
        rewards=np.concatenate(rewards) if keep_rewards else None,
        episode_successes=np.array(successes, dtype=bool) if all(s is not None for s in successes) else None,
        metadata=metadata,
    )
    return finish(demos, observation_space, action_space, source)


def _demo_length(demo: Any, name: str, source: str) -> int:
    if "actions" not in demo:
        raise ValueError(f"{source}, {name} has no 'actions' dataset (members: {sorted(demo)}): incomplete demo.")
    length = len(demo["actions"])
    if "num_samples" in demo.attrs and int(demo.attrs["num_samples"]) != length:
        raise ValueError(
            f"{source}, {name}: attrs['num_samples'] = {int(demo.attrs['num_samples'])} but actions has {length} steps."
        )
    return length


def _env_args(data: Any) -> dict | None:
    try:
        return json.loads(data.attrs["env_args"]) if "env_args" in data.attrs else None
    except (TypeError, ValueError):
        return None
