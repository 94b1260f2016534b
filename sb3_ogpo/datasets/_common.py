"""Pieces shared by the Minari and robomimic readers/writers: spaces, observation keys, validation."""

from __future__ import annotations

import json
from typing import Any, Sequence

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from sb3_ogpo.common.demonstrations import Demonstrations, ObsArray

# The metadata entries that are plain JSON values (the arrays have their own place in each format).
SB3_OGPO_ATTR = "sb3_ogpo"


def resolve_spaces(
    env: gym.Env | str | None,
    observation_space: spaces.Space | None,
    action_space: spaces.Space | None,
) -> tuple[spaces.Space | None, spaces.Space | None]:
    """The spaces to check demonstrations against: explicit ones first, else the env's (an id is made)."""
    if env is not None and (observation_space is None or action_space is None):
        if isinstance(env, str):
            import sb3_ogpo  # noqa: F401  (registers the project's env ids)

            made = gym.make(env)
            observation_space = observation_space or made.observation_space
            action_space = action_space or made.action_space
            made.close()
        else:
            observation_space = observation_space or env.observation_space
            action_space = action_space or env.action_space
    return observation_space, action_space


def infer_space(observations: ObsArray) -> spaces.Space:
    """An unbounded Box (or Dict of them) matching step-major arrays."""
    if isinstance(observations, dict):
        return spaces.Dict({key: infer_space(value) for key, value in observations.items()})
    return spaces.Box(-np.inf, np.inf, observations.shape[1:], observations.dtype)


def flatten_batch(observations: Any, space: spaces.Space | None = None) -> np.ndarray:
    """Concatenate step-major (possibly nested) dict observations into ``(N, D)``.

    The order follows ``space`` (gymnasium's ``flatten`` order, as ``FlattenObservation`` produces) when given,
    else the dict's own order.
    """
    if isinstance(observations, dict):
        keys = list(space.spaces) if isinstance(space, spaces.Dict) else list(observations)
        sub = space.spaces if isinstance(space, spaces.Dict) else {}
        return np.concatenate([flatten_batch(observations[key], sub.get(key)) for key in keys], axis=1)
    return observations.reshape(len(observations), -1)


def flatten_keys(observations: Any, prefix: str = "") -> Any:
    """Nested dicts of arrays -> one flat dict with ``"outer/inner"`` keys (arrays pass through)."""
    if not isinstance(observations, dict):
        return observations
    flat: dict[str, np.ndarray] = {}
    for key, value in observations.items():
        if isinstance(value, dict):
            flat.update(flatten_keys(value, f"{prefix}{key}/"))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def select_observations(
    observations: Any,
    observation_space: spaces.Space | None,
    obs_keys: Sequence[str] | None,
    source: str,
    dataset_space: spaces.Space | None = None,
) -> ObsArray:
    """Pick / arrange a dataset's observations so that they match the env's observation space.

    - ``obs_keys`` given: those keys of a dict dataset; concatenated in that order for a Box env (or no env),
      kept as a dict for a Dict env.
    - Dict env: the env's keys, taken from the dataset (extra dataset keys are dropped).
    - Box env and dict dataset: one key is used as is; several are concatenated in the dataset space's order.
    """
    nested = observations
    flat = flatten_keys(observations)
    if obs_keys is not None:
        if not isinstance(flat, dict):
            raise ValueError(f"obs_keys={list(obs_keys)} was given but {source} holds array observations, not a dict.")
        missing = [key for key in obs_keys if key not in flat]
        if missing:
            raise ValueError(f"{source} has no observation keys {missing}; it has {sorted(flat)}.")
        if isinstance(observation_space, spaces.Dict):
            return {key: flat[key] for key in obs_keys}
        return np.concatenate([flat[key].reshape(len(flat[key]), -1) for key in obs_keys], axis=1)
    if isinstance(observation_space, spaces.Dict):
        if not isinstance(flat, dict):
            raise ValueError(
                f"The env has Dict observations with keys {sorted(observation_space.spaces)} but {source} holds "
                "one observation array."
            )
        missing = [key for key in observation_space.spaces if key not in flat]
        if missing:
            raise ValueError(
                f"{source} lacks the observation keys {missing} of the env; it has {sorted(flat)}. "
                "Pass obs_keys= or an env whose observation keys the dataset has."
            )
        return {key: flat[key] for key in observation_space.spaces}
    if isinstance(observation_space, spaces.Box) and isinstance(flat, dict):
        if len(flat) == 1:
            (array,) = flat.values()
            return array
        if dataset_space is None:
            raise ValueError(
                f"The env has one Box observation but {source} holds the keys {sorted(flat)}; pass obs_keys=[...] "
                "to say which to concatenate, in which order."
            )
        array = flatten_batch(nested, dataset_space)
        if array.shape[1:] != observation_space.shape:
            raise ValueError(
                f"{source} holds dict observations that flatten to {array.shape[1:]}, but the env's observations "
                f"have shape {observation_space.shape}; pass obs_keys=[...] to pick the keys."
            )
        return array
    return flat


def finish(
    demos: Demonstrations,
    observation_space: spaces.Space | None,
    action_space: spaces.Space | None,
    source: str,
) -> Demonstrations:
    """Validate against the env's spaces (or the data's own shapes: NaN still fails) and cast to their dtypes."""
    observation_space = observation_space or infer_space(demos.observations)
    action_space = action_space or infer_space(demos.actions)
    try:
        demos.validate(observation_space, action_space)
    except ValueError as error:
        raise ValueError(f"{source}: {error}") from None
    return demos.cast_to_spaces(observation_space, action_space)


def json_metadata(metadata: dict) -> str:
    """The JSON-serialisable scalar / list entries of ``metadata`` (arrays are stored elsewhere)."""
    kept = {}
    for key, value in metadata.items():
        if isinstance(value, np.generic):
            value = value.item()
        try:
            json.dumps(value)
        except (TypeError, ValueError):
            continue
        kept[key] = value
    return json.dumps(kept)


def episode_success_flags(demos: Demonstrations, step_successes: np.ndarray | None) -> list[np.ndarray | None]:
    """Per episode: each step's success flag (exact when recorded, else only the last step carries the outcome)."""
    flags: list[np.ndarray | None] = []
    for index, part in enumerate(demos.episode_slices()):
        if step_successes is not None:
            flags.append(np.asarray(step_successes[part], dtype=bool))
        elif demos.episode_successes is not None:
            episode = np.zeros(part.stop - part.start, dtype=bool)
            episode[-1] = bool(demos.episode_successes[index])
            flags.append(episode)
        else:
            flags.append(None)
    return flags
