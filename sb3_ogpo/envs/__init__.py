"""Gymnasium registrations of the project's task families.

Entry points are strings, so registering imports nothing heavy; robosuite and MuJoCo load only when
an env is made. Adroit and Franka Kitchen ids come from gymnasium-robotics (imported here when
installed); the project's wrappers for them are applied through ``make_*`` entry points or RL Zoo's
``env_wrapper``.
"""

from __future__ import annotations

import warnings

import gymnasium as gym

ROBOMIMIC_TASKS = {
    # id: (robosuite env name, robomimic horizon)
    "RobomimicLift-v0": ("Lift", 400),
    "RobomimicPickPlaceCan-v0": ("PickPlaceCan", 400),
    "RobomimicNutAssemblySquare-v0": ("NutAssemblySquare", 400),
}
# The released OGPO code's Robomimic reward: -1 per step, +5 on the success step (which terminates),
# horizons 300 (Lift, Can) / 400 (Square). Same observations and starts as the -v0 ids.
RELEASED_ROBOMIMIC_TASKS = {
    "RobomimicLiftSuccessBonus-v0": ("Lift", 300),
    "RobomimicPickPlaceCanSuccessBonus-v0": ("PickPlaceCan", 300),
    "RobomimicNutAssemblySquareSuccessBonus-v0": ("NutAssemblySquare", 400),
}
RELEASED_SUCCESS_REWARD = 5.0
# The released code trains Adroit on gymnasium-robotics' sparse ids (+10 on success steps, -0.1 otherwise).
RELEASED_ADROIT_IDS = ("AdroitHandDoorSparse-v1", "AdroitHandHammerSparse-v1", "AdroitHandRelocateSparse-v1",
                       "AdroitHandPenSparse-v1")
KITCHEN_ID = "KitchenMicrowaveKettleLightSlider-v0"
# The released code's Kitchen reward ((subtasks done) - 7 per step, 0 on success, which terminates) and horizon 600,
# on the project's four subtasks (the released D4RL mixed-v2 env swaps the slide cabinet for the bottom burner).
RELEASED_KITCHEN_ID = "KitchenMicrowaveKettleLightSliderStepPenalty-v0"
RELEASED_KITCHEN_HORIZON = 600
ADROIT_IDS = ("AdroitHandDoor-v1", "AdroitHandHammer-v1", "AdroitHandRelocate-v1", "AdroitHandPen-v1")
POINT_MASS_ID = "PointMassMultimodal-v0"


def register_envs() -> None:
    """Register every env id of the project (idempotent)."""
    try:
        import gymnasium_robotics  # noqa: F401  (registers Adroit and FrankaKitchen ids)
    except ImportError as error:  # pragma: no cover - depends on the installation
        warnings.warn(f"gymnasium-robotics is not importable ({error}); Adroit and Kitchen envs are unavailable.")

    def _register(env_id: str, entry_point: str, **kwargs) -> None:
        if env_id not in gym.registry:
            gym.register(env_id, entry_point=entry_point, **kwargs)

    for env_id, (task, horizon) in ROBOMIMIC_TASKS.items():
        _register(
            env_id,
            "sb3_ogpo.envs.robomimic:RobomimicEnv",
            max_episode_steps=horizon,
            kwargs={"task": task},
        )
    for env_id, (task, horizon) in RELEASED_ROBOMIMIC_TASKS.items():
        _register(
            env_id,
            "sb3_ogpo.envs.robomimic:RobomimicEnv",
            max_episode_steps=horizon,
            kwargs={"task": task, "success_reward": RELEASED_SUCCESS_REWARD},
        )
    _register(KITCHEN_ID, "sb3_ogpo.envs.kitchen:make_kitchen", max_episode_steps=280)
    _register(RELEASED_KITCHEN_ID, "sb3_ogpo.envs.kitchen:make_kitchen", max_episode_steps=RELEASED_KITCHEN_HORIZON,
              kwargs={"reward": "step_penalty"})
    _register(POINT_MASS_ID, "sb3_ogpo.envs.point_mass:PointMassMultimodalEnv", max_episode_steps=40)
