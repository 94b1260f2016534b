"""OGPO (Off-Policy Generative Policy Optimization) for Stable-Baselines3."""

from sb3_ogpo.envs import register_envs
from sb3_ogpo.ogpo import OGPO

__version__ = "0.1.0"
__all__ = ["OGPO", "__version__"]

register_envs()
