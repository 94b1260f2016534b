"""The machinery the Adroit experts share: the actuator map (joint targets -> normalized commands with gravity
compensation) and the arm-mounted hand expert base (IK on the ``S_grasp`` site, finger postures, noise)."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import mujoco
import numpy as np

from sb3_ogpo.experts.base import ScriptedExpert
from sb3_ogpo.experts.ik import DampedLeastSquaresIK

WRIST_JOINTS = ("WRJ1", "WRJ0")
# flexion joints of the four fingers (MCP, PIP, DIP); the J3 joints are ab-/adduction
FINGER_FLEX_JOINTS = tuple(f"{f}J{i}" for f in ("FF", "MF", "RF", "LF") for i in (2, 1, 0))
THUMB_JOINTS = ("THJ4", "THJ3", "THJ2", "THJ1", "THJ0")
ARM_PREFIXES = ("ART", "ARR")


def rotation_about_axis(axis: np.ndarray, angle: float) -> np.ndarray:
    """3x3 rotation matrix of ``angle`` radians about the unit vector ``axis``."""
    quat = np.empty(4)
    mujoco.mju_axisAngle2Quat(quat, np.asarray(axis, dtype=np.float64), float(angle))
    mat = np.empty(9)
    mujoco.mju_quat2Mat(mat, quat)
    return mat.reshape(3, 3)


def rotate_pose(
    pos: np.ndarray, mat: np.ndarray, anchor: np.ndarray, axis: np.ndarray, angle: float
) -> tuple[np.ndarray, np.ndarray]:
    """The pose (``pos``, ``mat``) carried by a rotation of ``angle`` about the line ``anchor + t * axis``."""
    rot = rotation_about_axis(axis, angle)
    return anchor + rot @ (pos - anchor), rot @ mat


class ActuatorMap:
    """Maps desired joint positions to the normalized Adroit action, with gravity compensation.

    Adroit's position actuators are affine: ``force = gain * ctrl + b0 + b1 * q`` (arm: 500 and
    -200; wrist: 10 and -10; fingers: 1 and -1), and the env maps an action ``a`` in [-1, 1] to
    ``ctrl = act_mean + a * act_rng``. To *hold* ``q_des`` against gravity and Coriolis forces the
    command is ``ctrl = (qfrc_bias - b0 - b1 * q_des) / gain``; without the bias term the arm sags.

    :param env: an Adroit env (wrappers allowed).
    """

    def __init__(self, env: gym.Env) -> None:
        base = env.unwrapped
        self.model: mujoco.MjModel = base.model
        self.data: mujoco.MjData = base.data
        model = self.model
        joint_ids = model.actuator_trnid[:, 0]
        self.joint_names = [mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_JOINT, j) for j in joint_ids]
        self.qpos_ids = model.jnt_qposadr[joint_ids]
        self.dof_ids = model.jnt_dofadr[joint_ids]
        self.gain = model.actuator_gainprm[:, 0].copy()
        self.bias0 = model.actuator_biasprm[:, 0].copy()
        self.bias1 = model.actuator_biasprm[:, 1].copy()
        self.act_mean = np.asarray(base.act_mean, dtype=np.float64)
        self.act_rng = np.asarray(base.act_rng, dtype=np.float64)
        # joint positions the actuators can hold at zero load (used to clip targets); all Adroit
        # actuators have a position bias b1 < 0
        ctrl_range = model.actuator_ctrlrange
        self.lower = -(self.gain * ctrl_range[:, 0] + self.bias0) / self.bias1
        self.upper = -(self.gain * ctrl_range[:, 1] + self.bias0) / self.bias1

    @property
    def nu(self) -> int:
        return len(self.gain)

    def index(self, joint_names: tuple[str, ...] | list[str]) -> np.ndarray:
        """Actuator indices of the given joints."""
        return np.array([self.joint_names.index(name) for name in joint_names], dtype=int)

    def joint_positions(self) -> np.ndarray:
        """Current positions of the actuated joints, in actuator order."""
        return self.data.qpos[self.qpos_ids].copy()

    def action(self, q_des: np.ndarray, gravity_compensation: bool = True) -> np.ndarray:
        """Normalized action (float32, clipped to [-1, 1]) whose equilibrium is ``q_des``."""
        force = self.data.qfrc_bias[self.dof_ids] if gravity_compensation else 0.0
        ctrl = (force - self.bias0 - self.bias1 * np.asarray(q_des, dtype=np.float64)) / self.gain
        return np.clip((ctrl - self.act_mean) / self.act_rng, -1.0, 1.0).astype(np.float32)


class AdroitExpert(ScriptedExpert):
    """Shared machinery of the Adroit experts: IK on ``S_grasp``, rate-limited joint targets, noise.

    Subclasses implement :meth:`_plan`, which sets ``self.q_des`` (desired joint positions in
    actuator order) for the current step, typically through :meth:`_reach` and :meth:`_set_fingers`.

    :param env: an Adroit env (wrappers allowed).
    :param noise_scale: standard deviation of the Gaussian action noise on the wrist and finger
        dims (the arm dims get ``arm_noise_factor`` times it); also scales the per-episode jitter.
    :param arm_noise_factor: relative noise on the arm dims.
    :param max_arm_step: largest change of an arm/wrist joint target per env step (rad or m).
    :param arm_boost: the arm/wrist command overshoots the target by ``arm_boost`` times the current
        tracking error (a stiffer servo than the env's own gains; 0 disables).
    :param ik_iterations: DLS iterations per control step.
    """

    ik_damping = 0.02
    ik_rotation_weight = 0.3
    ik_posture_gain = 0.02
    hover_height = 0.08  # m above the grasp point before descending
    curl = 1.4  # finger flexion of the grasp (rad, each of the 3 flexion joints)
    grasp_steps = 15

    def __init__(
        self,
        env: gym.Env,
        noise_scale: float = 0.0,
        arm_noise_factor: float = 0.25,
        max_arm_step: float = 0.06,
        arm_boost: float = 0.0,
        ik_iterations: int = 20,
        **kwargs: Any,
    ) -> None:
        super().__init__(env, noise_scale=noise_scale, **kwargs)
        self.actuators = ActuatorMap(env)
        self.model = self.actuators.model
        self.data = self.actuators.data
        names = self.actuators.joint_names
        self.arm_joints = tuple(n for n in names if n.startswith(ARM_PREFIXES)) + WRIST_JOINTS
        self.arm_idx = self.actuators.index(self.arm_joints)
        self.finger_idx = self.actuators.index(FINGER_FLEX_JOINTS)
        self.thumb_idx = self.actuators.index(THUMB_JOINTS)
        self.ik = DampedLeastSquaresIK(
            self.model,
            "S_grasp",
            self.arm_joints,
            damping=self.ik_damping,
            rotation_weight=self.ik_rotation_weight,
            posture_gain=self.ik_posture_gain,
        )
        self.ik_iterations = ik_iterations
        self.arm_boost = arm_boost
        self.max_arm_step = max_arm_step
        self.noise_std = np.full(self.actuators.nu, 1.0)
        self.noise_std[[i for i, n in enumerate(names) if n.startswith(ARM_PREFIXES)]] = arm_noise_factor
        self.rest_qpos = np.zeros(len(self.arm_joints))
        self.q_des = self.actuators.joint_positions()
        self.step_count = 0
        self.phase, self.phase_steps = "approach", 0
        self.speed = 1.0

    # -- per-episode state -------------------------------------------------------------------
    def reset(self, rng: np.random.Generator) -> None:
        super().reset(rng)
        self.q_des = self.actuators.joint_positions()
        self.step_count = 0
        self.phase, self.phase_steps = "approach", 0
        jitter = self.noise_scale > 0
        self.speed = float(rng.uniform(0.9, 1.2)) if jitter else 1.0
        self._reset_task(rng)

    def _reset_task(self, rng: np.random.Generator) -> None:
        """Per-episode task state and noise (offsets), after ``env.reset``."""

    def _set_phase(self, phase: str) -> None:
        self.phase, self.phase_steps = phase, 0

    def jitter(self, size: int | tuple[int, ...], scale: float = 0.1) -> np.ndarray:
        """Per-episode offset: ``N(0, scale * noise_scale)`` (zeros without noise)."""
        if self.noise_scale <= 0:
            return np.zeros(size)
        return self.rng.normal(0.0, scale * self.noise_scale, size=size)

    # -- building blocks ---------------------------------------------------------------------
    def site_pose(self) -> tuple[np.ndarray, np.ndarray]:
        """Current position and rotation matrix of ``S_grasp``."""
        return self.ik.site_pose(self.data)

    def _reach(
        self,
        target_pos: np.ndarray,
        target_mat: np.ndarray | None = None,
        rotation_weight: float | None = None,
        max_step: float | None = None,
    ) -> None:
        """Set the arm/wrist targets so that ``S_grasp`` moves toward the target pose (rate-limited)."""
        q_ik = self.ik.solve(
            self.data,
            target_pos,
            target_mat,
            rest_qpos=self.rest_qpos,
            iterations=self.ik_iterations,
            rotation_weight=rotation_weight,
        )
        limit = (self.max_arm_step if max_step is None else max_step) * self.speed
        current = self.q_des[self.arm_idx]
        self.q_des[self.arm_idx] = current + np.clip(q_ik - current, -limit, limit)

    def _set_fingers(self, flex: float, thumb: np.ndarray | None = None, rate: float = 0.15) -> None:
        """Move the finger flexion targets (and optionally the thumb's) toward the given posture."""
        current = self.q_des[self.finger_idx]
        self.q_des[self.finger_idx] = current + np.clip(flex - current, -rate, rate)
        if thumb is not None:
            current = self.q_des[self.thumb_idx]
            self.q_des[self.thumb_idx] = current + np.clip(thumb - current, -rate, rate)

    def _grasp_sequence(
        self,
        point: np.ndarray,
        mat: np.ndarray,
        thumb: np.ndarray | None = None,
        approach_steps: int = 50,
        descend_steps: int = 30,
    ) -> bool:
        """Phases "approach" (hover ``hover_height`` above ``point``) -> "descend" (grasp site to
        ``point`` with orientation ``mat``) -> "grasp" (curl the fingers to ``curl`` and the thumb to
        ``thumb`` for ``grasp_steps``). Returns True on the step the grasp is complete."""
        pos = self.site_pose()[0]
        if self.phase == "approach":
            goal = point + np.array([0.0, 0.0, self.hover_height])
            self._reach(goal, mat)
            self._set_fingers(0.0, None if thumb is None else np.zeros(len(self.thumb_idx)), rate=0.3)
            if np.linalg.norm(goal - pos) < 0.02 or self.phase_steps > approach_steps:
                self._set_phase("descend")
        elif self.phase == "descend":
            self._reach(point, mat)
            if np.linalg.norm(point - pos) < 0.01 or self.phase_steps > descend_steps:
                self._set_phase("grasp")
        elif self.phase == "grasp":
            self._reach(point, mat)
            self._set_fingers(self.curl, thumb)
            return self.phase_steps > self.grasp_steps
        return False

    # -- control loop ------------------------------------------------------------------------
    def _plan(self) -> None:
        """Update ``self.q_des`` for this step (task specific)."""
        raise NotImplementedError

    def act(self, observation: Any) -> np.ndarray:
        self.phase_steps += 1
        self._plan()
        self.q_des = np.clip(self.q_des, self.actuators.lower, self.actuators.upper)
        command = self.q_des.copy()
        if self.arm_boost > 0:  # stiffer tracking: overshoot the target by the current error
            error = self.q_des[self.arm_idx] - self.actuators.joint_positions()[self.arm_idx]
            command[self.arm_idx] += self.arm_boost * error
        action = self.actuators.action(command)
        if self.noise_scale > 0:
            action = action + self.noise_scale * self.noise_std * self.rng.normal(size=action.shape)
        self.step_count += 1
        return np.clip(action, -1.0, 1.0).astype(np.float32)
