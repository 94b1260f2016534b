"""OGPO (Off-Policy Generative Policy Optimization) for Stable-Baselines3.

Importing the package registers the task families' env ids; the algorithm (and torch) is imported
lazily on first access of ``sb3_ogpo.OGPO`` so that env registration stays cheap.
"""

from typing import Any

from sb3_ogpo.common.init_policy import register_init_policy_scheme
from sb3_ogpo.envs import register_envs

__version__ = "0.1.0"
__all__ = ["OGPO", "__version__"]

register_envs()
# OGPO(init_policy="start:<env id>"): the task's clipped BC start, generated and cached on first use.
register_init_policy_scheme("start", "sb3_ogpo.starts:resolve_start")


def __getattr__(name: str) -> Any:
    if name == "OGPO":
        from sb3_ogpo.ogpo import OGPO

        return OGPO
    raise AttributeError(f"module 'sb3_ogpo' has no attribute {name!r}")
