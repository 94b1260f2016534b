"""Every env id the project registers (and the Adroit ids it wraps) passes gymnasium's and SB3's env checkers."""

import warnings

import gymnasium as gym
import pytest
from gymnasium.utils.env_checker import check_env as gymnasium_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import sb3_ogpo  # noqa: F401
from sb3_ogpo.envs import (ADROIT_IDS, KITCHEN_ID, POINT_MASS_ID, RELEASED_ADROIT_IDS, RELEASED_KITCHEN_ID,
                           RELEASED_ROBOMIMIC_TASKS, ROBOMIMIC_TASKS)
from sb3_ogpo.envs.adroit import make_adroit

PROJECT_IDS = (*ROBOMIMIC_TASKS, *RELEASED_ROBOMIMIC_TASKS, KITCHEN_ID, RELEASED_KITCHEN_ID, POINT_MASS_ID)


def _make(env_id: str) -> gym.Env:
    return make_adroit(env_id) if env_id.startswith("AdroitHand") else gym.make(env_id)


@pytest.mark.parametrize("env_id", [*PROJECT_IDS, *ADROIT_IDS, *RELEASED_ADROIT_IDS])
def test_env_passes_gymnasium_and_sb3_checkers(env_id):
    env = _make(env_id)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # advice (dtypes, bounds) is fine; failures raise
        gymnasium_check_env(env, skip_render_check=True)  # rendering is tested per family
        env.close()
        env = _make(env_id)
        sb3_check_env(env, warn=False)
    env.close()
