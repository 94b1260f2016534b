"""Franka Kitchen (gymnasium-robotics ``FrankaKitchen-v1``) with a flat Dict observation for SB3.

``make_kitchen`` is the entry point of ``KitchenMicrowaveKettleLightSlider-v0`` (registered with
``max_episode_steps=280``, so the 280-step horizon is added once, by ``gym.make``). The underlying
``KitchenEnv`` is built directly (not through ``gym.make("FrankaKitchen-v1")``), so it carries no
TimeLimit of its own.

Semantics (with the env's defaults ``remove_task_when_completed=True`` and
``terminate_on_tasks_completed=True``):

* reward = number of requested subtasks completed at that step (each counts once, because completed
  tasks are removed), so an episode's return is the number of subtasks completed;
* ``info["is_success"]`` is True once every requested subtask is done (False in the reset info);
* the episode terminates when every requested subtask is done.

The module also carries a small compatibility patch for gymnasium-robotics 1.4.2 with
mujoco >= 3.12 (see :func:`patch_gymnasium_robotics_joint_type_check`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import mujoco
import numpy as np
from gymnasium import spaces
from gymnasium.utils import RecordConstructorArgs

#: The subtasks of ``KitchenMicrowaveKettleLightSlider-v0``, in the order of the D4RL "mixed"/"partial" datasets.
DEFAULT_TASKS: tuple[str, ...] = ("microwave", "kettle", "light switch", "slide cabinet")


def task_key(task: str) -> str:
    """Observation-key form of a task name: ``"light switch"`` -> ``"light_switch"``."""
    return task.replace(" ", "_").replace("/", "_")


# --------------------------------------------------------------------------------------------------
# mujoco >= 3.12 compatibility
# --------------------------------------------------------------------------------------------------
_PATCH_FLAG = "_sb3_ogpo_joint_type_patch"


def _joint_type_check_is_broken() -> bool:
    """True when ``np.int32 in (mujoco.mjtJoint.mjJNT_HINGE, ...)`` is False for a hinge joint.

    From mujoco 3.12 on (pybind11 3 enums), ``mjtJoint.__eq__`` returns False for NumPy integers (it
    used to compare by value), and tuple membership calls the enum's ``__eq__`` first. The reversed
    comparison (``np.int32 == enum``) still works, which is why only the ``in`` checks break.
    """
    hinge = mujoco.mjtJoint.mjJNT_HINGE
    return np.int32(int(hinge)) not in (hinge,)


def _joint_width(model: mujoco.MjModel, joint_id: int, velocity: bool) -> int:
    """Number of qpos (``velocity=False``) or qvel entries of a joint, comparing types as ints."""
    joint_type = int(model.jnt_type[joint_id])
    if joint_type == int(mujoco.mjtJoint.mjJNT_FREE):
        return 6 if velocity else 7
    if joint_type == int(mujoco.mjtJoint.mjJNT_BALL):
        return 3 if velocity else 4
    assert joint_type in (int(mujoco.mjtJoint.mjJNT_HINGE), int(mujoco.mjtJoint.mjJNT_SLIDE))
    return 1


def _joint_id(model: mujoco.MjModel, name: str) -> int:
    joint_id = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, name)
    assert joint_id != -1, f"Joint with name '{name}' is not part of the model!"
    return joint_id


def _joint_slice(model: mujoco.MjModel, name: str, velocity: bool) -> slice:
    """The joint's entries in ``data.qvel`` (``velocity=True``) or ``data.qpos``."""
    joint_id = _joint_id(model, name)
    start = model.jnt_dofadr[joint_id] if velocity else model.jnt_qposadr[joint_id]
    return slice(start, start + _joint_width(model, joint_id, velocity))


def _set_joint(model, data, name, value, velocity: bool) -> None:
    entries = _joint_slice(model, name, velocity)
    value = np.array(value)
    width = entries.stop - entries.start
    if width > 1:
        assert value.shape == (width,), f"Value has incorrect shape {name}: {value}"
    (data.qvel if velocity else data.qpos)[entries] = value


# Int-safe replacements of gymnasium-robotics' four joint helpers (same signatures).
def _get_joint_qpos(model, data, name):
    return data.qpos[_joint_slice(model, name, velocity=False)].copy()


def _get_joint_qvel(model, data, name):
    return data.qvel[_joint_slice(model, name, velocity=True)].copy()


def _set_joint_qpos(model, data, name, value):
    _set_joint(model, data, name, value, velocity=False)


def _set_joint_qvel(model, data, name, value):
    _set_joint(model, data, name, value, velocity=True)


def patch_gymnasium_robotics_joint_type_check() -> bool:
    """Make gymnasium-robotics 1.4.2's joint helpers work with mujoco >= 3.12; return True if patched.

    ``gymnasium_robotics.utils.mujoco_utils.{get,set}_joint_{qpos,qvel}`` assert
    ``model.jnt_type[j] in (mjtJoint.mjJNT_HINGE, mjtJoint.mjJNT_SLIDE)``. ``jnt_type[j]`` is an
    ``np.int32``; since mujoco 3.12 the enum's ``__eq__`` no longer equals NumPy integers, so the
    assertion fails for every hinge/slide joint and ``FrankaKitchen-v1`` cannot even reset (its
    ``robot_get_obs`` calls ``get_joint_qpos``). The patch replaces the four module functions with
    versions that compare ``int(...)`` values (``robot_get_obs`` looks them up in the module at call
    time, so the env picks them up). It is applied only when the check is actually broken and only
    once (idempotent); with mujoco < 3.12 nothing is changed. Newer gymnasium-robotics releases fix
    this upstream. One deliberate difference: ``get_joint_qvel`` of a ball joint returns 3 entries
    (upstream 1.4.2 returns 4); the kitchen model has no ball joints.
    """
    try:
        from gymnasium_robotics.utils import mujoco_utils
    except ImportError:  # pragma: no cover - depends on the installation
        return False
    if getattr(mujoco_utils, _PATCH_FLAG, False) or not _joint_type_check_is_broken():
        return False
    mujoco_utils.get_joint_qpos = _get_joint_qpos
    mujoco_utils.get_joint_qvel = _get_joint_qvel
    mujoco_utils.set_joint_qpos = _set_joint_qpos
    mujoco_utils.set_joint_qvel = _set_joint_qvel
    setattr(mujoco_utils, _PATCH_FLAG, True)
    return True


# --------------------------------------------------------------------------------------------------
# Wrapper and factory
# --------------------------------------------------------------------------------------------------
class KitchenDictWrapper(gym.ObservationWrapper, RecordConstructorArgs):
    """Flatten Franka Kitchen's nested Dict observation into a flat Dict of float32 Boxes.

    Keys: ``observation`` (59,), ``achieved_goal_<task>`` for every requested task (the task's joint
    positions, noise-free) and, with ``include_desired_goal=True``, ``desired_goal_<task>``. Task names
    use underscores (``light_switch``). The desired goals are constants of the env (they do not change
    within or across episodes, nor when a task is completed), so they carry no information for a
    policy trained on one task set and are dropped by default.

    Adds ``info["is_success"]`` (every requested task done; False at reset) and copies the env's
    ``episode_task_completions`` list (the raw env hands out the same list object every step and
    clears it on reset, which would silently empty stored terminal infos).

    :param env: a ``gymnasium_robotics`` ``KitchenEnv`` (possibly wrapped).
    :param include_desired_goal: also return the constant ``desired_goal_<task>`` entries.
    """

    def __init__(self, env: gym.Env, include_desired_goal: bool = False) -> None:
        RecordConstructorArgs.__init__(self, include_desired_goal=include_desired_goal)
        gym.ObservationWrapper.__init__(self, env)
        self.include_desired_goal = include_desired_goal
        self.tasks: tuple[str, ...] = tuple(env.unwrapped.goal.keys())
        source = env.observation_space
        flat: dict[str, spaces.Box] = {"observation": self._box(source["observation"].shape)}
        for task in self.tasks:
            flat[f"achieved_goal_{task_key(task)}"] = self._box(source["achieved_goal"][task].shape)
        if include_desired_goal:
            for task in self.tasks:
                flat[f"desired_goal_{task_key(task)}"] = self._box(source["desired_goal"][task].shape)
        self.observation_space = spaces.Dict(flat)

    @staticmethod
    def _box(shape: tuple[int, ...]) -> spaces.Box:
        return spaces.Box(-np.inf, np.inf, shape=shape, dtype=np.float32)

    def observation(self, observation: dict[str, Any]) -> dict[str, np.ndarray]:
        """Flatten one nested observation (float64 -> float32)."""
        # np.array copies: the raw env hands out the same goal arrays every step (and the desired goals are
        # constants), so without a copy a stored observation would change under the user's feet.
        flat = {"observation": np.array(observation["observation"], dtype=np.float32)}
        for task in self.tasks:
            flat[f"achieved_goal_{task_key(task)}"] = np.array(observation["achieved_goal"][task], dtype=np.float32)
        if self.include_desired_goal:
            for task in self.tasks:
                flat[f"desired_goal_{task_key(task)}"] = np.array(observation["desired_goal"][task], dtype=np.float32)
        return flat

    def _with_success(self, info: dict[str, Any]) -> dict[str, Any]:
        info = dict(info)
        completed = list(info.get("episode_task_completions", []))
        info["episode_task_completions"] = completed
        info["is_success"] = set(self.tasks).issubset(completed)
        return info

    def reset(self, **kwargs: Any):
        observation, info = self.env.reset(**kwargs)
        info = self._with_success(info)
        info["is_success"] = False
        return self.observation(observation), info

    def step(self, action):
        observation, reward, terminated, truncated, info = self.env.step(action)
        return self.observation(observation), float(reward), terminated, truncated, self._with_success(info)


class KitchenStepPenaltyReward(gym.Wrapper, RecordConstructorArgs):
    """The released OGPO code's Kitchen reward: (subtasks done so far) - ``penalty`` per step, 0 on the step that
    completes the last one (which terminates).

    With four subtasks and ``penalty=7`` a step is worth -7 .. -4 before success, so every step short of success
    costs at least 4 and each completed subtask lowers the cost of every later step by 1.

    :param env: a :class:`KitchenDictWrapper` env (its ``info`` carries ``episode_task_completions`` and ``is_success``).
    :param penalty: what a step costs with no subtask done (the released code's 7).
    """

    def __init__(self, env: gym.Env, penalty: float = 7.0) -> None:
        RecordConstructorArgs.__init__(self, penalty=penalty)
        gym.Wrapper.__init__(self, env)
        self.penalty = float(penalty)

    def step(self, action):
        observation, _, terminated, truncated, info = self.env.step(action)
        reward = 0.0 if info["is_success"] else float(len(info["episode_task_completions"])) - self.penalty
        return observation, reward, terminated, truncated, info


def _flat_kitchen_env_class() -> type:
    """``KitchenEnv`` without a public ``compute_reward``.

    Checkers (SB3's ``check_env``) take an env whose unwrapped core has ``compute_reward`` for a goal-conditioned
    env and then require ``achieved_goal`` / ``desired_goal`` observation keys, which the flattened observation
    does not have (nor need: its reward is the env's own). The goal reward stays available to ``step`` only.
    """
    from gymnasium_robotics.envs.franka_kitchen.kitchen_env import KitchenEnv

    class FlatKitchenEnv(KitchenEnv):
        _stepping = False

        @property
        def compute_reward(self):  # type: ignore[override]
            if not self._stepping:
                raise AttributeError("the flattened kitchen env is not goal-conditioned: its reward comes from step()")
            return super().compute_reward

        def step(self, action):
            self._stepping = True
            try:
                return super().step(action)
            finally:
                self._stepping = False

    return FlatKitchenEnv


def _normalize_tasks(tasks: Sequence[str] | str) -> tuple[str, ...]:
    from gymnasium_robotics.envs.franka_kitchen.kitchen_env import OBS_ELEMENT_GOALS

    if isinstance(tasks, str):
        tasks = (tasks,)
    # accept the observation-key spelling too ("light_switch")
    normalized = tuple(task.replace("_", " ") for task in tasks)
    if not normalized:
        raise ValueError("tasks must name at least one subtask.")
    unknown = [task for task in normalized if task not in OBS_ELEMENT_GOALS]
    if unknown:
        raise ValueError(f"Unknown kitchen task(s) {unknown}; available: {list(OBS_ELEMENT_GOALS)}")
    if len(set(normalized)) != len(normalized):
        raise ValueError(f"Duplicate kitchen tasks in {list(tasks)}")
    return normalized


def make_kitchen(
    tasks: Sequence[str] | str = DEFAULT_TASKS,
    render_mode: str | None = None,
    include_desired_goal: bool = False,
    max_episode_steps: int | None = None,
    reward: str = "completions",
    **kwargs: Any,
) -> gym.Env:
    """Build ``FrankaKitchen-v1`` for ``tasks`` wrapped in :class:`KitchenDictWrapper`.

    :param tasks: the subtasks to complete, in order (the order is kept in the env's goal dict, which
        the scripted expert follows). Any non-empty subset of ``microwave``, ``kettle``,
        ``light switch``, ``slide cabinet``, ``bottom burner``, ``top burner``, ``hinge cabinet``
        (underscores are accepted for spaces). Subsets give "partial kitchen" variants, e.g.
        ``gym.make("KitchenMicrowaveKettleLightSlider-v0", tasks=("microwave",))``.
    :param render_mode: ``None``, ``"human"``, ``"rgb_array"`` or ``"depth_array"``.
    :param include_desired_goal: also put the constant ``desired_goal_<task>`` vectors in the observation.
    :param max_episode_steps: add a TimeLimit here; leave None under ``gym.make`` with the registered
        id, which already adds the 280-step limit (the raw env built here has none).
    :param reward: ``"completions"`` (+1 per subtask completed, the module docstring's semantics) or
        ``"step_penalty"`` (the released OGPO code's reward, :class:`KitchenStepPenaltyReward`).
    :param kwargs: passed to ``KitchenEnv`` (e.g. ``robot_noise_ratio``, ``object_noise_ratio``,
        ``terminate_on_tasks_completed``, ``remove_task_when_completed``; the reward/return semantics
        described in the module docstring assume the last two keep their defaults).
    """
    if reward not in ("completions", "step_penalty"):
        raise ValueError(f"reward must be 'completions' or 'step_penalty', got {reward!r}.")
    patch_gymnasium_robotics_joint_type_check()
    env: gym.Env = _flat_kitchen_env_class()(tasks_to_complete=list(_normalize_tasks(tasks)), render_mode=render_mode, **kwargs)
    env = KitchenDictWrapper(env, include_desired_goal=include_desired_goal)
    if reward == "step_penalty":
        env = KitchenStepPenaltyReward(env)
    if max_episode_steps is not None:
        env = gym.wrappers.TimeLimit(env, max_episode_steps=max_episode_steps)
    return env
