"""Minari datasets <-> :class:`~sb3_ogpo.common.demonstrations.Demonstrations`.

Writing uses ``minari.create_dataset_from_buffers`` with ready-made ``EpisodeBuffer`` arrays, which needs
neither jax nor the ``minari[create]`` extra (only ``DataCollector`` / ``EpisodeBuffer.add_step_data`` do).
Datasets live under ``root`` (default: ``$MINARI_DATASETS_PATH``, else ``~/.minari/datasets``) at
``<root>/<dataset_id>/data``, as ``minari.load_dataset`` expects.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import re
import shutil
import warnings
from pathlib import Path
from typing import Any, Iterator, Sequence

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from sb3_ogpo.common.demonstrations import (
    EPISODE_SEEDS,
    EPISODE_TERMINATED,
    FINAL_OBSERVATIONS,
    STEP_SUCCESSES,
    Demonstrations,
    map_observations,
)
from sb3_ogpo.datasets._common import (
    SB3_OGPO_ATTR,
    episode_success_flags,
    finish,
    flatten_keys,
    infer_space,
    json_metadata,
    resolve_spaces,
    select_observations,
)

DEFAULT_NAMESPACE = "sb3_ogpo"
_ID_RE = re.compile(r"^(?:[-_\w][-_\w/]*[-_\w]+/)?[-_\w]+?-v\d+$")  # minari's DATASET_ID_RE, version required
_SUCCESS_INFO_KEYS = ("success", "is_success", "goal_achieved")
_EPISODE_MEMBERS = ("observations", "actions", "rewards", "terminations", "truncations")


def datasets_root(root: str | os.PathLike | None = None) -> Path:
    """Where Minari datasets live: ``root``, else ``$MINARI_DATASETS_PATH``, else ``~/.minari/datasets``."""
    if root is not None:
        return Path(root).expanduser()
    env_root = os.environ.get("MINARI_DATASETS_PATH")
    return Path(env_root).expanduser() if env_root else Path.home() / ".minari" / "datasets"


def default_dataset_id(env_id: str, name: str = "expert", version: int = 0) -> str:
    """``sb3_ogpo/<EnvName>/<name>-v<version>``, e.g. ``sb3_ogpo/AdroitHandDoor/expert-v0``."""
    env_name = re.sub(r"[^-\w]", "_", re.sub(r"-v\d+$", "", env_id))
    return f"{DEFAULT_NAMESPACE}/{env_name}/{name}-v{version}"


@contextlib.contextmanager
def _minari_root(root: Path) -> Iterator[None]:
    """Point minari (which reads ``MINARI_DATASETS_PATH`` on every call) at ``root`` for a while."""
    previous = os.environ.get("MINARI_DATASETS_PATH")
    os.environ["MINARI_DATASETS_PATH"] = str(root)
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("MINARI_DATASETS_PATH", None)
        else:
            os.environ["MINARI_DATASETS_PATH"] = previous


def _env_spec_of(env: gym.Env | gym.envs.registration.EnvSpec | str | None) -> Any:
    """An EnvSpec that minari can store as JSON (custom wrappers without recorded arguments are dropped)."""
    if env is None:
        return None
    if isinstance(env, str):
        import sb3_ogpo  # noqa: F401  (registers the project's env ids)

        try:
            spec = gym.spec(env)
        except gym.error.Error:
            return None
    elif isinstance(env, gym.envs.registration.EnvSpec):
        spec = env
    else:
        spec = env.spec
    if spec is None:
        return None
    for candidate in (spec, dataclasses.replace(spec, additional_wrappers=())):
        try:
            candidate.to_json()
            return candidate
        except (ValueError, TypeError):
            continue
    return None


def save_minari(
    demos: Demonstrations,
    dataset_id: str,
    *,
    root: str | os.PathLike | None = None,
    env: gym.Env | str | None = None,
    observation_space: spaces.Space | None = None,
    action_space: spaces.Space | None = None,
    overwrite: bool = False,
    description: str | None = None,
    algorithm_name: str | None = None,
) -> Path:
    """Write ``demos`` as the local Minari dataset ``dataset_id`` and return its directory.

    :param root: datasets root (default ``$MINARI_DATASETS_PATH`` or ``~/.minari/datasets``).
    :param env: env (or id) the demos come from: its spaces and spec are recorded (``recover_environment``).
    :param observation_space: overrides the env's; without env nor spaces, unbounded Boxes fit to the arrays.
    :param overwrite: replace an existing dataset of that id (minari refuses otherwise).

    Each episode stores ``len + 1`` observations: the last is ``metadata["final_observations"]`` when present,
    else a copy of the episode's last observation (flagged so that loading drops it again). Successes go to
    ``infos["success"]`` (per step when ``metadata["step_successes"]`` exists, else on the last step).
    """
    import minari
    from minari.data_collector import EpisodeBuffer

    if not _ID_RE.match(dataset_id):
        raise ValueError(
            f"Malformed Minari dataset id {dataset_id!r}: use (namespace/)name-v<version>, "
            f"e.g. {default_dataset_id('AdroitHandDoor-v1')!r}."
        )
    observation_space, action_space = resolve_spaces(env, observation_space, action_space)
    observation_space = observation_space or infer_space(demos.observations)
    action_space = action_space or infer_space(demos.actions)
    demos.validate(observation_space, action_space)
    demos = demos.cast_to_spaces(observation_space, action_space)

    root = datasets_root(root)
    path = root / dataset_id
    if path.exists():
        if not overwrite:
            raise FileExistsError(
                f"A Minari dataset {dataset_id!r} already exists at {path}; pass overwrite=True (--overwrite) "
                "or choose another id / version."
            )
        shutil.rmtree(path)

    metadata = demos.metadata
    final = metadata.get(FINAL_OBSERVATIONS)
    terminated = metadata.get(EPISODE_TERMINATED)
    seeds = metadata.get(EPISODE_SEEDS)
    success_flags = episode_success_flags(demos, metadata.get(STEP_SUCCESSES))
    rewards = demos.rewards if demos.rewards is not None else np.zeros(len(demos), dtype=np.float32)
    buffers = []
    for index, part in enumerate(demos.episode_slices()):
        length = part.stop - part.start
        if final is not None:
            last = map_observations(final, lambda array: array[index : index + 1])
        else:
            last = map_observations(demos.observations, lambda array: array[part.stop - 1 : part.stop])
        observations = _join(map_observations(demos.observations, lambda array: array[part]), last)
        ended = bool(terminated[index]) if terminated is not None else False
        terminations = np.zeros(length, dtype=bool)
        truncations = np.zeros(length, dtype=bool)
        (terminations if ended else truncations)[-1] = True
        infos = None
        if success_flags[index] is not None:
            infos = {"success": np.concatenate([[False], success_flags[index]])}  # index 0: the reset info
        buffers.append(
            EpisodeBuffer(
                id=index,
                seed=None if seeds is None else int(seeds[index]),
                observations=observations,
                actions=demos.actions[part],
                rewards=rewards[part],
                terminations=terminations,
                truncations=truncations,
                infos=infos,
            )
        )

    extras = {
        "has_rewards": demos.rewards is not None,
        "has_final_observations": final is not None,
        "has_episode_terminated": terminated is not None,
        "has_step_successes": STEP_SUCCESSES in metadata,
        "metadata": json.loads(json_metadata(metadata)),
    }
    root.mkdir(parents=True, exist_ok=True)
    with _minari_root(root), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # author / permalink / eval_env "recommended" warnings
        dataset = minari.create_dataset_from_buffers(
            dataset_id,
            buffers,
            env=_env_spec_of(env),
            observation_space=observation_space,
            action_space=action_space,
            algorithm_name=algorithm_name or str(metadata.get("algorithm", "scripted expert")),
            author="sb3_ogpo",
            description=description,
            jpeg_encoding=False,
        )
        dataset.storage.update_metadata({SB3_OGPO_ATTR: json.dumps(extras)})
    return path


def _join(observations: Any, last: Any) -> Any:
    if isinstance(observations, dict):
        return {key: np.concatenate([observations[key], last[key]]) for key in observations}
    return np.concatenate([observations, last])


def resolve_minari_path(dataset: str | os.PathLike, root: str | os.PathLike | None = None) -> Path:
    """The ``data`` directory of a Minari dataset given by id (under ``root``) or by path.

    A path may name the dataset directory, its ``data`` directory or ``data/main_data.hdf5``.
    """
    candidate = Path(dataset).expanduser()
    if candidate.is_file() and candidate.name == "main_data.hdf5":
        return candidate.parent
    if candidate.is_dir():
        return candidate if (candidate / "metadata.json").exists() or candidate.name == "data" else candidate / "data"
    base = datasets_root(root)
    if _ID_RE.match(str(dataset)):
        data_path = base / str(dataset) / "data"
        if data_path.is_dir():
            return data_path
        local = list_local_minari(base)
        raise FileNotFoundError(
            f"Minari dataset {str(dataset)!r} is not at {data_path}. "
            + (f"Datasets under {base}: {local[:20]}. " if local else f"No datasets under {base}. ")
            + "Set MINARI_DATASETS_PATH or root= to the folder holding it, download it once with "
            f"`minari download {dataset}` where there is internet, or write one with `python -m sb3_ogpo.experts.collect`."
        )
    raise FileNotFoundError(
        f"{str(dataset)!r} is neither an existing path nor a Minari dataset id of the form (namespace/)name-v<N> "
        f"(looked under {base})."
    )


def list_local_minari(root: str | os.PathLike | None = None) -> list[str]:
    """Ids of the Minari datasets under ``root``."""
    base = datasets_root(root)
    if not base.is_dir():
        return []
    return sorted(str(meta.parent.parent.relative_to(base)) for meta in base.glob("**/data/metadata.json"))


def _check_hdf5_layout(data_path: Path) -> None:
    """Fail with a named problem on a truncated file, a missing member or inconsistent episode lengths."""
    import h5py

    file_path = data_path / "main_data.hdf5"
    if not file_path.is_file():
        raise FileNotFoundError(f"Minari dataset at {data_path} has no main_data.hdf5 (incomplete copy?).")
    try:
        file = h5py.File(file_path, "r")
    except OSError as error:
        raise ValueError(
            f"Minari data file {file_path} cannot be opened as HDF5 ({error}); it is truncated or corrupted: "
            "download or write the dataset again."
        ) from None
    with file:
        for name, group in file.items():
            where = f"{file_path}: {name}"
            try:
                missing = [member for member in _EPISODE_MEMBERS if member not in group]
                if missing:
                    raise ValueError(f"{where} lacks {missing}; the dataset is incomplete or corrupted.")
                n_actions = _leading_length(group["actions"])
                for member in ("rewards", "terminations", "truncations"):
                    if len(group[member]) != n_actions:
                        raise ValueError(
                            f"{where}: {member} has {len(group[member])} steps but actions has {n_actions}."
                        )
                for key, length in _leaf_lengths(group["observations"], "observations"):
                    if length != n_actions + 1:
                        raise ValueError(
                            f"{where}: {key} has {length} entries, expected {n_actions + 1} (one per action plus "
                            "the final observation)."
                        )
            except (OSError, KeyError, RuntimeError) as error:
                raise ValueError(f"{where} cannot be read ({error}); the file is corrupted.") from None


def _leading_length(node: Any) -> int:
    lengths = {length for _, length in _leaf_lengths(node, "")}
    if len(lengths) != 1:
        raise ValueError(f"{node.name} holds arrays of different lengths {sorted(lengths)}.")
    return lengths.pop()


def _leaf_lengths(node: Any, name: str) -> list[tuple[str, int]]:
    import h5py

    if isinstance(node, h5py.Group):
        return [pair for key in node for pair in _leaf_lengths(node[key], f"{name}/{key}")]
    return [(name, len(node))]


def load_minari(
    dataset: str | os.PathLike,
    *,
    root: str | os.PathLike | None = None,
    env: gym.Env | str | None = None,
    observation_space: spaces.Space | None = None,
    action_space: spaces.Space | None = None,
    obs_keys: Sequence[str] | None = None,
) -> Demonstrations:
    """Read a Minari dataset (an id under ``root``, or a path) into :class:`Demonstrations`.

    :param env: env (or id) whose spaces the data must fit; observations are selected / flattened to match
        (see :func:`~sb3_ogpo.datasets._common.select_observations`) and cast to the env's dtypes.
    :param obs_keys: for dict observations, the keys to use (concatenated in order for a Box env).

    The final observation of each episode, terminations, seeds and per-step success flags go to ``metadata``.
    ``episode_successes`` comes from ``infos["success"]`` (or ``is_success`` / ``goal_achieved``) when present.
    """
    from minari import MinariDataset

    data_path = resolve_minari_path(dataset, root)
    source = f"Minari dataset {str(dataset)!r}"
    meta_path = data_path / "metadata.json"
    if not meta_path.is_file():
        raise FileNotFoundError(f"{source} at {data_path} has no metadata.json: not a Minari dataset directory.")
    try:
        raw_metadata = json.loads(meta_path.read_text())
    except (OSError, ValueError) as error:
        raise ValueError(f"{source}: {meta_path} is not valid JSON ({error}); the dataset is corrupted.") from None
    if raw_metadata.get("data_format", "hdf5") == "hdf5":
        _check_hdf5_layout(data_path)
    try:
        minari_dataset = MinariDataset(data_path)
        episodes = list(minari_dataset.storage.get_episodes(minari_dataset.episode_indices))
        episode_metadata = list(minari_dataset.storage.get_episode_metadata(minari_dataset.episode_indices))
    except (OSError, KeyError, AssertionError, RuntimeError, ImportError, TypeError) as error:
        raise ValueError(f"{source} at {data_path} cannot be read: {type(error).__name__}: {error}") from None
    if not episodes:
        raise ValueError(f"{source} at {data_path} holds no episodes.")
    extras = json.loads(raw_metadata.get(SB3_OGPO_ATTR, "{}"))

    observation_space, action_space = resolve_spaces(env, observation_space, action_space)
    observations = select_observations(
        _stack_episodes([_drop_last(flatten_keys(episode["observations"])) for episode in episodes]),
        observation_space,
        obs_keys,
        source,
        dataset_space=minari_dataset.storage.observation_space,
    )
    finals = select_observations(
        _stack_episodes([_last(flatten_keys(episode["observations"])) for episode in episodes]),
        observation_space,
        obs_keys,
        source,
        dataset_space=minari_dataset.storage.observation_space,
    )
    actions = np.concatenate([np.asarray(episode["actions"]) for episode in episodes])
    lengths = [len(episode["rewards"]) for episode in episodes]
    episode_starts = np.zeros(sum(lengths), dtype=bool)
    episode_starts[np.cumsum([0] + lengths[:-1])] = True

    metadata: dict[str, Any] = dict(extras.get("metadata", {}))
    metadata.update(format="minari", source=str(data_path), dataset_id=raw_metadata.get("dataset_id"))
    if extras.get("has_final_observations", True):
        metadata[FINAL_OBSERVATIONS] = finals
    if extras.get("has_episode_terminated", True):
        metadata[EPISODE_TERMINATED] = np.array([bool(episode["terminations"][-1]) for episode in episodes])
    seeds = [meta.get("seed") for meta in episode_metadata]
    if all(seed is not None for seed in seeds):
        metadata[EPISODE_SEEDS] = np.array(seeds, dtype=np.int64)

    step_successes = _step_successes(episodes)
    episode_successes = None
    if step_successes is not None:
        episode_successes = np.array([flags.any() for flags in step_successes])
        if extras.get("has_step_successes", True):
            metadata[STEP_SUCCESSES] = np.concatenate(step_successes)

    demos = Demonstrations(
        observations=observations,
        actions=actions,
        episode_starts=episode_starts,
        rewards=np.concatenate([episode["rewards"] for episode in episodes]) if extras.get("has_rewards", True) else None,
        episode_successes=episode_successes,
        metadata=metadata,
    )
    return finish(demos, observation_space, action_space, source)


def _drop_last(observations: Any) -> Any:
    return map_observations(observations, lambda array: np.asarray(array)[:-1])


def _last(observations: Any) -> Any:
    return map_observations(observations, lambda array: np.asarray(array)[-1:])


def _stack_episodes(parts: list[Any]) -> Any:
    if isinstance(parts[0], dict):
        return {key: np.concatenate([part[key] for part in parts]) for key in parts[0]}
    return np.concatenate(parts)


def _step_successes(episodes: list[dict]) -> list[np.ndarray] | None:
    """Each episode's per-step success flags from its infos (reset entry dropped), or None if absent."""
    flags = []
    for episode in episodes:
        infos = episode.get("infos") or {}
        key = next((key for key in _SUCCESS_INFO_KEYS if key in infos), None)
        if key is None:
            return None
        values = np.asarray(infos[key]).astype(bool).reshape(-1)
        n = len(episode["rewards"])
        flags.append(values[1:] if len(values) == n + 1 else values[-n:])
    return flags
