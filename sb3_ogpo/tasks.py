"""The project's tasks, one record per env id: its family, how its env is made, and its scripted expert.

A task's clipped BC start is configured in :mod:`sb3_ogpo.starts` (``get_start_config(env_id)``) and its RL Zoo
hyperparameters in ``hyperparams/ogpo.yml``. The gymnasium registration of the project's own ids is in
:mod:`sb3_ogpo.envs`.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Optional

import gymnasium as gym

from sb3_ogpo.common.env_ids import known_ids_hint
from sb3_ogpo.envs import (
    ADROIT_IDS,
    KITCHEN_ID,
    POINT_MASS_ID,
    RELEASED_ADROIT_IDS,
    RELEASED_KITCHEN_ID,
    RELEASED_ROBOMIMIC_TASKS,
    ROBOMIMIC_TASKS,
)

FAMILIES = ("adroit", "robomimic", "kitchen", "point_mass")


@dataclass(frozen=True)
class Task:
    """One env id of the project.

    :param env_id: the gymnasium id.
    :param family: ``"adroit"``, ``"robomimic"``, ``"kitchen"`` or ``"point_mass"``.
    :param expert: ``"module:Class"`` of its scripted expert (None: none).
    :param same_observations_as: the id whose demonstrations and clipped start this id shares (the released
        code's reward ids share them with the project's ids); None: its own.
    """

    env_id: str
    family: str
    expert: Optional[str]
    same_observations_as: Optional[str] = None


_ADROIT_EXPERTS = {
    "AdroitHandDoor-v1": "sb3_ogpo.experts.adroit:DoorExpert",
    "AdroitHandHammer-v1": "sb3_ogpo.experts.adroit:HammerExpert",
    "AdroitHandRelocate-v1": "sb3_ogpo.experts.adroit:RelocateExpert",
    "AdroitHandPen-v1": "sb3_ogpo.experts.adroit_pen:PenExpert",
}
_ROBOMIMIC_EXPERTS = {
    "Lift": "sb3_ogpo.experts.robomimic:LiftExpert",
    "PickPlaceCan": "sb3_ogpo.experts.robomimic:PickPlaceCanExpert",
    "NutAssemblySquare": "sb3_ogpo.experts.robomimic:NutAssemblySquareExpert",
}


def _tasks() -> dict[str, Task]:
    tasks = [Task(env_id, "adroit", expert) for env_id, expert in _ADROIT_EXPERTS.items()]
    tasks += [Task(sparse, "adroit", _ADROIT_EXPERTS[dense], same_observations_as=dense)
              for sparse, dense in zip(RELEASED_ADROIT_IDS, ADROIT_IDS)]
    tasks += [Task(env_id, "robomimic", _ROBOMIMIC_EXPERTS[name]) for env_id, (name, _) in ROBOMIMIC_TASKS.items()]
    v0_ids = {name: env_id for env_id, (name, _) in ROBOMIMIC_TASKS.items()}
    tasks += [Task(env_id, "robomimic", _ROBOMIMIC_EXPERTS[name], same_observations_as=v0_ids[name])
              for env_id, (name, _) in RELEASED_ROBOMIMIC_TASKS.items()]
    tasks += [Task(KITCHEN_ID, "kitchen", "sb3_ogpo.experts.kitchen:KitchenExpert"),
              Task(RELEASED_KITCHEN_ID, "kitchen", "sb3_ogpo.experts.kitchen:KitchenExpert",
                   same_observations_as=KITCHEN_ID),
              Task(POINT_MASS_ID, "point_mass", "sb3_ogpo.experts.point_mass:PointMassExpert")]
    return {task.env_id: task for task in tasks}


TASKS: dict[str, Task] = _tasks()


def get_task(env_id: str) -> Task:
    """The :class:`Task` of ``env_id``; a ``ValueError`` naming the closest task ids otherwise."""
    try:
        return TASKS[env_id]
    except KeyError:
        raise ValueError(f"{env_id!r} is not one of the project's tasks. {known_ids_hint(env_id, TASKS)}") from None


def make_task_env(env_id: str, *, tasks: Sequence[str] | None = None, **env_kwargs: Any) -> gym.Env:
    """The env demonstrations are collected in (and BC / OGPO train in): ``gym.make(env_id, **env_kwargs)``,
    for Adroit ids through ``sb3_ogpo.envs.adroit.make_adroit`` (``AdroitSuccessWrapper``: ``success`` /
    ``is_success`` at reset and every step; ``sparse`` / ``terminate_on_success`` may be passed).

    :param tasks: Franka Kitchen subtasks (e.g. ``["microwave", "kettle"]``), passed to ``make_kitchen``.
    """
    family = TASKS[env_id].family if env_id in TASKS else None
    if tasks:
        if family != "kitchen":
            raise ValueError(f"tasks={list(tasks)} only applies to the Kitchen ids ({KITCHEN_ID}, {RELEASED_KITCHEN_ID}), not {env_id!r}.")
        env_kwargs["tasks"] = tuple(tasks)
    if family == "adroit":
        try:
            from sb3_ogpo.envs.adroit import make_adroit
        except ImportError:
            warnings.warn("sb3_ogpo.envs.adroit is not available: using the raw Adroit env.")
        else:
            return make_adroit(env_id, **env_kwargs)
    return gym.make(env_id, **env_kwargs)


__all__ = ["FAMILIES", "TASKS", "Task", "get_task", "make_task_env"]
