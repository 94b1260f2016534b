"""Robomimic-style manipulation tasks (Lift, PickPlaceCan, NutAssemblySquare) on robosuite 1.5.

robomimic's own env wrapper imports ``mujoco_py`` and cannot drive robosuite 1.5, so this module
rebuilds the robomimic benchmark setting directly on robosuite: a Panda arm under delta OSC_POSE
control at 20 Hz (the controller of the robomimic v1.5 datasets: kp 150, critical damping, outputs
scaled to 5 cm / 0.5 rad per step), sparse task success, and the robomimic low-dim observation keys.

Observation (``spaces.Dict`` of float32 boxes), following robomimic's low-dim keys and the
robosuite 1.4 layout of its datasets:

- ``robot0_eef_pos`` (3), ``robot0_eef_quat`` (4, xyzw), ``robot0_gripper_qpos`` (2);
- ``object``: Lift: cube position (3), cube quaternion (4, xyzw), ``eef_pos - cube_pos`` (3);
  PickPlaceCan / NutAssemblySquare: object position (3), object quaternion (4, xyzw), object pose in
  the end-effector frame: position (3) and quaternion (4, xyzw). These are computed from the current
  simulator state (robosuite 1.5's own ``object-state`` orders the entries differently and fills the
  relative pose from the previous step's cache, zeros right after a reset). Other robosuite tasks fall
  back to robosuite's ``object-state``.

Reward is -1 per step and ``success_reward`` on the step that reaches success, which also terminates the
episode: 0 for the ``Robomimic<Task>-v0`` ids, +5 for the ``Robomimic<Task>SuccessBonus-v0`` ids (the released
OGPO code's reward, with its horizons 300 / 300 / 400). The horizon is the gymnasium ``TimeLimit`` of the registration (robosuite runs with
``ignore_done=True``).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

# robosuite task -> name prefix of the object's observables (``<name>_pos``, ``<name>_quat``) and
# whether the relative part is Lift's ``eef_pos - obj_pos`` (True) or the pose in the eef frame.
_OBJECT_KEYS: dict[str, tuple[str, bool]] = {
    "Lift": ("cube", True),
    "PickPlaceCan": ("Can", False),
    "NutAssemblySquare": ("SquareNut", False),
}
ROBOT_KEYS = ("robot0_eef_pos", "robot0_eef_quat", "robot0_gripper_qpos")

_PATCHED = False


def _patch_robosuite_for_new_mujoco() -> None:
    """Make robosuite 1.5.2's controllers work with MuJoCo versions that dropped ``MjData.qM``.

    robosuite 1.5.2 builds the mass matrix with ``mujoco.mj_fullM(model, dst, data.qM)``; newer MuJoCo
    (3.11 here) removed ``qM`` and changed the signature to ``mj_fullM(model, data, dst)``. When that
    is the case, ``Controller.update`` is replaced by an equivalent that uses the new call. On MuJoCo
    versions with ``qM`` nothing is changed.
    """
    global _PATCHED
    if _PATCHED:
        return
    import mujoco

    _PATCHED = True
    if hasattr(mujoco.MjData, "qM"):
        return
    from robosuite.controllers.parts import controller as controller_module

    def update(self, force: bool = False) -> None:  # mirrors robosuite 1.5.2's Controller.update
        if self.new_update or force:
            if not (self.lite_physics and not force):
                self.sim.forward()
            if self.ref_name is not None:
                self.update_reference_data()
            self.joint_pos = np.array(self.sim.data.qpos[self.qpos_index])
            self.joint_vel = np.array(self.sim.data.qvel[self.qvel_index])
            nv = self.sim.model.nv
            mass_matrix = np.zeros((nv, nv), dtype=np.float64)
            mujoco.mj_fullM(self.sim.model._model, self.sim.data._data, mass_matrix)
            self.mass_matrix = mass_matrix[self.qvel_index, :][:, self.qvel_index]
            self.new_update = False

    controller_module.Controller.update = update


def _quat_xyzw_to_mat(quat: np.ndarray) -> np.ndarray:
    x, y, z, w = quat / np.linalg.norm(quat)
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )


def _mat_to_quat_xyzw(mat: np.ndarray) -> np.ndarray:
    import mujoco

    quat_wxyz = np.empty(4)
    mujoco.mju_mat2Quat(quat_wxyz, np.ascontiguousarray(mat, dtype=np.float64).reshape(-1))
    return np.array([quat_wxyz[1], quat_wxyz[2], quat_wxyz[3], quat_wxyz[0]])


class RobomimicEnv(gym.Env):
    """A robomimic benchmark task (low-dim observations, sparse reward) on robosuite 1.5.

    :param task: robosuite env name: ``"Lift"``, ``"PickPlaceCan"`` or ``"NutAssemblySquare"``
        (other single-arm robosuite tasks work with robosuite's ``object-state`` as ``object``).
    :param render_mode: ``None`` or ``"rgb_array"``; only the latter creates robosuite's offscreen
        renderer (needed by RL Zoo's ``record_video``; requires a working ``MUJOCO_GL`` backend).
    :param camera_name: robosuite camera used by :meth:`render`.
    :param render_size: ``(height, width)`` of rendered frames.
    :param seed: seed of robosuite's internal RNG at construction, which also draws what the scene keeps for the
        env's life (Lift's cube size); ``reset(seed=...)`` re-seeds it (object placements, initial joint noise). The
        default 0 builds the same scene in every instance, so a reset seed reproduces an episode in any of them (two
        runs' evaluations meet the same episodes); None draws a different scene per instance.
    :param success_reward: reward of the step that reaches success (0; the released code's +5: ``*SuccessBonus-v0``).
    :param robosuite_kwargs: overrides of the arguments passed to ``robosuite.make`` (e.g.
        ``robots``, ``controller_configs``, ``control_freq``).
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 20}

    def __init__(
        self,
        task: str,
        render_mode: str | None = None,
        camera_name: str = "agentview",
        render_size: tuple[int, int] = (256, 256),
        seed: int | None = 0,
        success_reward: float = 0.0,
        **robosuite_kwargs: Any,
    ) -> None:
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        import robosuite
        from robosuite.controllers import load_composite_controller_config

        _patch_robosuite_for_new_mujoco()
        self.task = task
        self.success_reward = float(success_reward)
        self.render_mode = render_mode
        self.camera_name = camera_name
        self.render_size = tuple(render_size)
        robot = robosuite_kwargs.pop("robots", "Panda")
        kwargs: dict[str, Any] = dict(
            robots=robot,
            # robosuite 1.5's BASIC composite controller with the robot's default arm part config:
            # delta OSC_POSE in the base frame, kp 150, outputs +-0.05 m / +-0.5 rad per unit action.
            controller_configs=load_composite_controller_config(
                controller="BASIC", robot=robot if isinstance(robot, str) else robot[0]
            ),
            has_renderer=False,
            has_offscreen_renderer=render_mode == "rgb_array",
            use_camera_obs=False,
            use_object_obs=True,
            reward_shaping=False,
            hard_reset=False,
            ignore_done=True,
            control_freq=20,
            seed=seed,
        )
        if render_mode == "rgb_array":
            kwargs["render_camera"] = camera_name
        kwargs.update(robosuite_kwargs)
        self.robosuite_env = robosuite.make(task, **kwargs)

        observation = self._observation(self.robosuite_env.reset())
        self.observation_space = spaces.Dict(
            {
                key: spaces.Box(-np.inf, np.inf, shape=value.shape, dtype=np.float32)
                for key, value in observation.items()
            }
        )
        self.action_space = spaces.Box(-1.0, 1.0, shape=(self.robosuite_env.action_dim,), dtype=np.float32)

    @property
    def sim(self):
        """robosuite's ``MjSim`` (privileged state for scripted experts)."""
        return self.robosuite_env.sim

    def _observation(self, raw: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        observation = {key: np.asarray(raw[key], dtype=np.float32) for key in ROBOT_KEYS}
        if self.task in _OBJECT_KEYS:
            name, lift_style = _OBJECT_KEYS[self.task]
            obj_pos, obj_quat = np.asarray(raw[f"{name}_pos"]), np.asarray(raw[f"{name}_quat"])
            eef_pos, eef_quat = np.asarray(raw["robot0_eef_pos"]), np.asarray(raw["robot0_eef_quat"])
            if lift_style:
                relative = [eef_pos - obj_pos]
            else:
                eef_mat = _quat_xyzw_to_mat(eef_quat)
                rel_pos = eef_mat.T @ (obj_pos - eef_pos)
                rel_mat = eef_mat.T @ _quat_xyzw_to_mat(obj_quat)
                relative = [rel_pos, _mat_to_quat_xyzw(rel_mat)]
            observation["object"] = np.concatenate([obj_pos, obj_quat, *relative]).astype(np.float32)
        else:
            observation["object"] = np.asarray(raw["object-state"], dtype=np.float32)
        return observation

    def is_success(self) -> bool:
        """Whether the task is currently solved (robosuite's own success check)."""
        return bool(self.robosuite_env._check_success())

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Reset the task; a ``seed`` re-seeds robosuite's RNG so the initial state is reproducible."""
        super().reset(seed=seed)
        if seed is not None:
            # robosuite's placement samplers and robot init noise hold this very Generator: re-seed it
            # in place instead of replacing it.
            self.robosuite_env.rng.bit_generator.state = np.random.default_rng(seed).bit_generator.state
        raw = self.robosuite_env.reset()
        return self._observation(raw), {"is_success": False}

    def step(self, action: np.ndarray) -> tuple[dict[str, np.ndarray], float, bool, bool, dict[str, Any]]:
        """Apply a 7-d action in [-1, 1] (delta position, delta rotation, gripper: -1 open, +1 close)."""
        action = np.clip(np.asarray(action, dtype=np.float64), -1.0, 1.0)
        raw, _, _, _ = self.robosuite_env.step(action)
        success = self.is_success()
        reward = self.success_reward if success else -1.0
        return self._observation(raw), reward, success, False, {"is_success": success}

    def render(self) -> np.ndarray | None:
        """An RGB frame (``render_size``, uint8) from ``camera_name`` when ``render_mode="rgb_array"``."""
        if self.render_mode != "rgb_array":
            return None
        height, width = self.render_size
        frame = self.sim.render(width=width, height=height, camera_name=self.camera_name)
        return np.ascontiguousarray(frame[::-1])  # MuJoCo's offscreen buffer is bottom-up

    def close(self) -> None:
        """Release robosuite's simulator (and renderer)."""
        env = getattr(self, "robosuite_env", None)
        if env is not None:
            env.close()
            self.robosuite_env = None
