"""The entries of the RL Zoo YAMLs as OGPO arguments, for scripts that build models themselves (benchmarks).

    from sb3_ogpo.zoo.presets import load_preset
    preset = load_preset("AdroitHandDoor-v1", overrides={"policy_gradient_starts": 0})
    model = OGPO(preset.policy, preset.make_env(), **preset.kwargs)
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import gymnasium as gym
import yaml

#: Keys of an entry that RL Zoo's ExperimentManager consumes itself (not OGPO arguments).
ZOO_KEYS = frozenset({
    "n_timesteps", "policy", "env_wrapper", "vec_env_wrapper", "monitor_kwargs", "n_envs", "normalize",
    "frame_stack", "callback", "env_kwargs", "noise_type", "noise_std",
})


@dataclass
class Preset:
    """One YAML entry: the policy name, the budget, the env wrapper and the OGPO keyword arguments."""

    env_id: str
    policy: str
    n_timesteps: int
    kwargs: dict[str, Any]
    env_wrapper: Optional[str] = None
    env_kwargs: dict[str, Any] = field(default_factory=dict)

    def make_env(self) -> gym.Env:
        """The env as RL Zoo makes it (``gym.make`` plus the entry's ``env_wrapper``), without its Monitor."""
        env = gym.make(self.env_id, **self.env_kwargs)
        if self.env_wrapper:
            module, _, name = self.env_wrapper.rpartition(".")
            env = getattr(importlib.import_module(module), name)(env)
        return env


def load_preset(env_id: str, config: Optional[str | Path] = None, overrides: Optional[Mapping[str, Any]] = None) -> Preset:
    """The entry ``env_id`` of ``config`` (default: the package's ``hyperparams/ogpo.yml``; ``"paper"``:
    ``hyperparams/ogpo_paper.yml``), parsed as RL Zoo parses it (``policy_kwargs`` strings are evaluated), with
    ``overrides`` applied to the OGPO arguments (as ``-params`` would)."""
    from sb3_ogpo.zoo import default_config_path, paper_config_path

    path = Path(paper_config_path() if config == "paper" else (config or default_config_path()))
    entries = yaml.safe_load(path.read_text())
    if env_id not in entries:
        from sb3_ogpo.common.env_ids import known_ids_hint

        raise ValueError(f"{path} has no entry {env_id!r}. {known_ids_hint(env_id, entries)}")
    entry = dict(entries[env_id])
    kwargs = {key: value for key, value in entry.items() if key not in ZOO_KEYS}
    if isinstance(kwargs.get("policy_kwargs"), str):
        kwargs["policy_kwargs"] = eval(kwargs["policy_kwargs"], {"dict": dict})  # as RL Zoo reads it
    kwargs.update(overrides or {})
    env_kwargs = entry.get("env_kwargs") or {}
    return Preset(env_id, entry["policy"], int(float(entry["n_timesteps"])), kwargs, entry.get("env_wrapper"),
                  dict(env_kwargs))


__all__ = ["Preset", "ZOO_KEYS", "load_preset"]
