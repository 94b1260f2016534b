"""Scripted expert for Franka Kitchen: microwave, kettle, light switch and slide cabinet.

The expert reads privileged simulator state (``env.unwrapped.data``: handle sites, joint angles),
plans Cartesian targets for the ``end_effector`` site, solves joint targets with the shared
:class:`~sb3_ogpo.experts.ik.DampedLeastSquaresIK` and converts them into the env's action.

Action model of ``FrankaKitchen-v1``: the position target of every actuator is
``last_observed_qpos + 2 * a * dt`` (``dt = 0.08`` s, ``a`` clipped to [-1, 1]), so
``a = (q_cmd - last_observed_qpos) / (2 dt)`` puts the target on ``q_cmd``. The arm's position servos
sag under gravity, so ``q_cmd`` adds ``qfrc_bias / kp`` to the IK solution. Fingers: +1 opens, -1 closes.

Each subtask is a short generator of actions built from shared motions: a joint-space transfer to a
safe point in front of the fixture (:meth:`KitchenExpert._move_joints`, seeded from the start posture
so that a subtask behaves the same whatever came before it), straight Cartesian moves
(:meth:`KitchenExpert._move_to`), grasping (:meth:`KitchenExpert._grasp`), pushing along a line
(:meth:`KitchenExpert._push`) and a retreat. A subtask ends when it is completed (its script stops
pushing/pulling as soon as the env's criterion holds) or when its step budget runs out, so a chain
goes on to the next subtask either way.

Reset is deterministic in this env (only observations are noisy), so diversity comes from per-episode
jitter of waypoints (~1 cm at ``noise_scale=0.1``) and speed (up to 20 % slower) plus per-step Gaussian
action noise, all scaled by ``noise_scale``.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from functools import partial
from typing import Any

import gymnasium as gym
import mujoco
import numpy as np
from gymnasium_robotics.envs.franka_kitchen.kitchen_env import BONUS_THRESH, OBS_ELEMENT_GOALS, OBS_ELEMENT_INDICES

from sb3_ogpo.envs.kitchen import DEFAULT_TASKS
from sb3_ogpo.experts.base import ScriptedExpert
from sb3_ogpo.experts.ik import DampedLeastSquaresIK

ARM_JOINTS = tuple(f"robot:panda0_joint{i}" for i in range(1, 8))
SUBTASKS = DEFAULT_TASKS  # the subtasks the expert scripts: those of KitchenMicrowaveKettleLightSlider-v0
OPEN, CLOSED = 1.0, -1.0

Script = Generator[np.ndarray, None, bool]


def _rot_z(angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


class KitchenExpert(ScriptedExpert):
    """Scripted Franka Kitchen expert that completes subtasks one after the other.

    :param env: a Franka Kitchen env (e.g. ``gym.make("KitchenMicrowaveKettleLightSlider-v0")``).
    :param noise_scale: diversity: 0 is the clean, deterministic expert; 0.1 jitters waypoints by
        up to 1 cm, slows the episode by up to 20 % and adds Gaussian action noise (std
        ``noise_scale`` on the fingers, a quarter of it on the arm joints).
    :param tasks: the subtasks to do, in order (any of ``microwave``, ``kettle``, ``light switch``,
        ``slide cabinet``); None means the env's requested tasks in the env's order. Subtasks the env
        did not request can still be done (they just give no reward), which is how "mixed" datasets,
        where episodes complete different subsets, can be built.
    """

    #: options of the shared DLS IK (holding the gripper orientation with weight 0.5)
    IK_OPTIONS = {"damping": 0.02, "rotation_weight": 0.5, "posture_gain": 0.02}
    #: per-subtask step budgets (a subtask that runs out of time is abandoned); they sum to the
    #: 280-step horizon, while a clean chain of all four takes ~150 steps
    TIMEOUTS = {"microwave": 95, "kettle": 75, "light switch": 55, "slide cabinet": 55}

    def __init__(
        self, env: gym.Env, noise_scale: float = 0.0, tasks: Sequence[str] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(env, noise_scale=noise_scale, **kwargs)
        self.base = env.unwrapped
        self.model: mujoco.MjModel = self.base.model
        self.data: mujoco.MjData = self.base.data
        if tasks is not None:
            tasks = tuple(task.replace("_", " ") for task in ([tasks] if isinstance(tasks, str) else tasks))
            unknown = [task for task in tasks if task not in SUBTASKS]
            if unknown:
                raise ValueError(f"KitchenExpert cannot do {unknown}; it knows {list(SUBTASKS)}")
        self.tasks = tasks
        self.ik = DampedLeastSquaresIK(self.model, "end_effector", ARM_JOINTS, **self.IK_OPTIONS)
        self._sub_iks: dict[tuple[int, ...], tuple[list[int], DampedLeastSquaresIK]] = {}
        self._seed_data = mujoco.MjData(self.model)
        self.kp = self.model.actuator_gainprm[:7, 0].copy()
        self.rest_qpos = np.asarray(self.base.robot_env.init_qpos[:7], dtype=float).copy()
        self._site = {
            name: mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_SITE, name)
            for name in ("microhandle_site", "light_site", "slide_site")
        }
        self._joint_qpos = {
            name: self.model.jnt_qposadr[mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_JOINT, name)]
            for name in ("microwave", "kettle")
        }
        self._microwave_body = mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_BODY, "microdoorroot")
        self._script: Script | None = None
        self._speed = 1.0
        self._jitter = {task: np.zeros(3) for task in SUBTASKS}
        self.home_mat = np.eye(3)

    # ------------------------------------------------------------------ episode control
    def reset(self, rng: np.random.Generator) -> None:
        """Plan the episode (call right after ``env.reset()``): task order, speed and waypoint jitter."""
        super().reset(rng)
        mujoco.mj_forward(self.model, self.data)
        _, self.home_mat = self.ik.site_pose(self.data)
        tasks = self.tasks if self.tasks is not None else tuple(self.base.goal.keys())
        unknown = [task for task in tasks if task not in SUBTASKS]
        if unknown:
            raise ValueError(f"KitchenExpert cannot do {unknown}; it knows {list(SUBTASKS)}")
        noise = self.noise_scale
        # per-episode diversity: a speed cap on the arm action and a waypoint jitter per subtask
        self._speed = 1.0 - float(rng.uniform(0.0, min(2.0 * noise, 0.4)))
        self._jitter = {task: noise * 0.1 * rng.uniform(-1.0, 1.0, size=3) for task in SUBTASKS}
        self._script = self._run(tasks)

    def act(self, observation: Any) -> np.ndarray:
        """Next action from the privileged state (``observation`` itself is not used)."""
        if self._script is None:
            self.reset(self.rng)
        action = next(self._script)
        if self.noise_scale > 0:
            scale = np.full(9, self.noise_scale)
            scale[:7] *= 0.25
            action = action + self.rng.normal(0.0, 1.0, 9) * scale
        return np.clip(action, -1.0, 1.0).astype(np.float32)

    def _run(self, tasks: Sequence[str]) -> Script:
        scripts: dict[str, Callable[[], Script]] = {
            "microwave": self._microwave,
            "kettle": self._kettle,
            "light switch": self._light_switch,
            "slide cabinet": self._slide_cabinet,
        }
        for task in tasks:
            if not self._done(task):
                yield from self._timed(scripts[task](), self.TIMEOUTS[task])
        while True:  # all done (or abandoned): hold still with open fingers
            yield self._command(self.ee_pos, OPEN)

    # ------------------------------------------------------------------ state
    @property
    def ee_pos(self) -> np.ndarray:
        return self.data.site_xpos[self.ik.site_id].copy()

    def site(self, name: str) -> np.ndarray:
        return self.data.site_xpos[self._site[name]].copy()

    def joint(self, name: str, width: int = 1) -> np.ndarray:
        start = self._joint_qpos[name]
        return self.data.qpos[start : start + width].copy()

    def _done(self, task: str) -> bool:
        """Completed per the env's criterion (also for tasks the env was not asked to track)."""
        if task in getattr(self.base, "episode_task_completions", []):
            return True
        error = self.data.qpos[OBS_ELEMENT_INDICES[task]] - OBS_ELEMENT_GOALS[task]
        return bool(np.linalg.norm(error) < BONUS_THRESH)

    # ------------------------------------------------------------------ low-level command
    def _command(
        self, target: np.ndarray, gripper: float, mat: np.ndarray | None = None, max_step: float = 0.12
    ) -> np.ndarray:
        """Action that moves the end effector toward ``target`` (at most ``max_step`` metres ahead)."""
        mat = self.home_mat if mat is None else mat
        position = self.ee_pos
        delta = target - position
        distance = np.linalg.norm(delta)
        if distance > max_step:
            target = position + delta * (max_step / distance)
        return self._joint_action(self._solve_ik(target, mat), gripper)

    def _joint_action(self, q_des: np.ndarray, gripper: float) -> np.ndarray:
        """Action that puts the arm's position targets on ``q_des``.

        When a joint would saturate, the whole arm action is scaled down (to the episode's speed cap)
        so that the joint-space direction, hence the hand's path, is kept.
        """
        q_cmd = q_des + self.data.qfrc_bias[:7] / self.kp  # gravity compensation of the position servos
        robot = self.base.robot_env
        arm = (q_cmd - robot._last_robot_qpos[:7]) / (2.0 * robot.dt)
        peak = np.max(np.abs(arm))
        if peak > self._speed:
            arm = arm * (self._speed / peak)
        return np.concatenate([arm, [gripper, gripper]])

    def _solve_ik(
        self, target: np.ndarray, mat: np.ndarray, seed: mujoco.MjData | None = None, iterations: int = 30
    ) -> np.ndarray:
        """IK over the 7 arm joints from ``seed`` (default: the live state), re-solved without pinned joints.

        The shared DLS solver clips joints to their limits after each step; a joint pinned at a limit
        (typically the shoulder, joint 2, which starts at its lower limit) then absorbs part of every
        step and the solver stalls centimetres short of low targets. Re-solving over the remaining
        joints (the pinned one held where it is) removes the stall.
        """
        seed = self.data if seed is None else seed
        ik = self.ik
        q = ik.solve(seed, target, mat, self.rest_qpos, iterations=iterations)
        error = np.linalg.norm(ik.scratch.site_xpos[ik.site_id] - target)
        pinned = tuple(int(i) for i in np.flatnonzero((q <= ik.lower + 1e-6) | (q >= ik.upper - 1e-6)))
        if not pinned or error < 0.003:
            return q
        if pinned not in self._sub_iks:
            free = [i for i in range(len(ARM_JOINTS)) if i not in pinned]
            self._sub_iks[pinned] = (
                free,
                DampedLeastSquaresIK(self.model, "end_effector", [ARM_JOINTS[i] for i in free], **self.IK_OPTIONS),
            )
        free, sub_ik = self._sub_iks[pinned]
        q_free = sub_ik.solve(seed, target, mat, self.rest_qpos[free], iterations=iterations)
        if np.linalg.norm(sub_ik.scratch.site_xpos[sub_ik.site_id] - target) >= error:
            return q
        q = seed.qpos[:7].copy()
        q[free] = q_free
        return q

    def _canonical_ik(self, target: np.ndarray, mat: np.ndarray) -> np.ndarray:
        """IK solution seeded from the start posture, so it does not depend on where the arm comes from."""
        seed = self._seed_data
        seed.qpos[:] = self.data.qpos
        seed.qpos[:7] = self.rest_qpos
        return self._solve_ik(target, mat, seed=seed, iterations=100)

    # ------------------------------------------------------------------ shared motions
    def _timed(self, script: Script, steps: int) -> Script:
        """Run ``script`` for at most ``steps`` steps; return its result (False on timeout)."""
        for _ in range(steps):
            try:
                yield next(script)
            except StopIteration as stop:
                return bool(stop.value) if stop.value is not None else True
        return False

    def _move_to(
        self,
        target: np.ndarray,
        gripper: float,
        mat: np.ndarray | None = None,
        tolerance: float = 0.02,
        timeout: int = 40,
        max_step: float = 0.12,
    ) -> Script:
        """Move the end effector to ``target``; True once within ``tolerance``."""
        for _ in range(timeout):
            if np.linalg.norm(target - self.ee_pos) < tolerance:
                return True
            yield self._command(target, gripper, mat, max_step)
        return False

    def _move_joints(
        self,
        target: np.ndarray,
        gripper: float,
        mat: np.ndarray | None = None,
        tolerance: float = 0.03,
        timeout: int = 45,
    ) -> Script:
        """Transfer move: go in joint space to the start-posture-seeded IK solution for ``target``.

        Used for the first waypoint of every subtask, so that each subtask starts from the same arm
        configuration whatever was done before (Cartesian moves from an unusual configuration can
        drag the wrist through long reorientations or stall at joint limits).
        """
        mat = self.home_mat if mat is None else mat
        q_goal = self._canonical_ik(target, mat)
        for _ in range(timeout):
            if np.linalg.norm(target - self.ee_pos) < tolerance:
                return True
            yield self._joint_action(q_goal, gripper)
        return False

    def _set_gripper(self, gripper: float, steps: int, mat: np.ndarray | None = None) -> Script:
        """Hold the current position for ``steps`` steps while opening/closing the fingers."""
        hold = self.ee_pos
        for _ in range(steps):
            yield self._command(hold, gripper, mat)
        return True

    def _grasp(
        self, target: np.ndarray, approach: np.ndarray, mat: np.ndarray | None = None, standoff: float = 0.08
    ) -> Script:
        """Come in along ``approach`` (unit vector) with open fingers, stop at ``target``, close."""
        yield from self._move_joints(target - standoff * approach, OPEN, mat, tolerance=0.03)
        yield from self._move_to(target, OPEN, mat, tolerance=0.015, timeout=20, max_step=0.06)
        yield from self._set_gripper(CLOSED, 4, mat)
        return True

    def _finger_gap(self) -> float:
        """Distance between the fingers (0 closed, 0.08 open)."""
        return float(self.data.qpos[7] + self.data.qpos[8])

    def _push(
        self,
        direction: np.ndarray,
        gripper: float,
        done: Callable[[], bool],
        mat: np.ndarray | None = None,
        lead: float = 0.06,
        timeout: int = 30,
        max_step: float = 0.12,
    ) -> Script:
        """Push along ``direction`` until ``done()``, on the line through the start point.

        The target is ``lead`` metres ahead of the hand along the line, so sideways drift is corrected.
        """
        direction = direction / np.linalg.norm(direction)
        anchor = self.ee_pos
        for _ in range(timeout):
            if done():
                return True
            position = self.ee_pos
            along = anchor + np.dot(position - anchor, direction) * direction
            yield self._command(along + lead * direction, gripper, mat, max_step)
        return done()

    # ------------------------------------------------------------------ subtasks
    MICROWAVE_YAW = 0.3  # the microwave body is rotated 0.3 rad about z
    MICROWAVE_LEAD = 0.25  # the pull target leads the handle by this door angle (rad)

    def _microwave_frame(self) -> tuple[np.ndarray, np.ndarray]:
        """Hinge position and the door's outward normal (toward the robot)."""
        angle = float(self.joint("microwave")[0])
        hinge = self.data.xpos[self._microwave_body].copy()
        return hinge, _rot_z(self.MICROWAVE_YAW + angle) @ np.array([0.0, -1.0, 0.0])

    def _microwave(self) -> Script:
        """Grasp the door's vertical handle bar, pull it along the hinge arc, release, back off.

        The hand keeps the closed door's yaw while pulling (following the door's rotation makes the
        bar slip out of the fingers); if the bar slips anyway the grasp is retried once.
        """
        grasp_offset = np.array([0.0, 0.0, 0.05 + self._jitter["microwave"][2]])
        mat = _rot_z(self.MICROWAVE_YAW) @ self.home_mat
        for _attempt in range(2):
            hinge, normal = self._microwave_frame()
            handle = self.site("microhandle_site") + grasp_offset
            yield from self._grasp(handle - 0.01 * normal, -normal, mat, standoff=0.15)
            for _ in range(50):
                if self._done("microwave") or self._finger_gap() < 0.01:  # done, or the bar slipped out
                    break
                hinge, normal = self._microwave_frame()
                handle = self.site("microhandle_site") + grasp_offset
                yield self._command(hinge + _rot_z(-self.MICROWAVE_LEAD) @ (handle - hinge), CLOSED, mat)
            yield from self._set_gripper(OPEN, 3, mat)
            hinge, normal = self._microwave_frame()
            yield from self._move_to(self.ee_pos + 0.08 * normal, OPEN, mat, tolerance=0.03, timeout=10)
            if self._done("microwave"):
                return True
        return False

    KETTLE_GOAL_YAW = 2.0 * np.arctan2(OBS_ELEMENT_GOALS["kettle"][6], OBS_ELEMENT_GOALS["kettle"][3])

    def _kettle_pose(self) -> tuple[np.ndarray, float]:
        """Kettle position and yaw (its free joint's quaternion is w, x, y, z)."""
        qpos = self.joint("kettle", 7)
        w, x, y, z = qpos[3:]
        return qpos[:3], float(np.arctan2(2.0 * (w * z + x * y), 1.0 - 2.0 * (y * y + z * z)))

    def _kettle(self) -> Script:
        """Push the kettle along +y from behind (open fingers as a two-point paddle) onto the back burner.

        The env's criterion includes the kettle's quaternion, and an off-centre push turns the kettle,
        so the contact point is steered sideways against the yaw error while pushing.
        """
        jitter = self._jitter["kettle"]
        kettle, _ = self._kettle_pose()
        # the base is a 0.244 m box; the fingertips reach ~5 cm beyond the end-effector site
        behind = kettle + np.array([0.0, -0.122 - 0.045, 0.075]) + jitter * np.array([1.0, 0.0, 0.3])
        yield from self._move_joints(behind + np.array([0.0, -0.05, 0.2]), OPEN, tolerance=0.04)
        yield from self._move_to(behind + np.array([0.0, -0.05, 0.0]), OPEN, tolerance=0.03, timeout=20)
        for _ in range(40):
            kettle, yaw = self._kettle_pose()
            if self._done("kettle") or kettle[1] > 0.65:
                break
            side = np.clip(0.3 * (self.KETTLE_GOAL_YAW - yaw), -0.04, 0.04)
            target = np.array([kettle[0] + jitter[0] + side, self.ee_pos[1] + 0.08, behind[2]])
            yield self._command(target, OPEN)
        yield from self._move_to(self.ee_pos + np.array([0.0, -0.08, 0.1]), OPEN, tolerance=0.04, timeout=8)
        return self._done("kettle")

    def _light_switch(self) -> Script:
        """Closed gripper as a paddle: come in on the +x side of the switch lever and push it along -x."""
        jitter = self._jitter["light switch"]
        lever = self.site("light_site") + np.array([0.035, 0.0, 0.005]) + jitter * np.array([0.1, 0.3, 0.5])
        yield from self._move_joints(lever + np.array([0.01, -0.14, 0.0]), CLOSED, tolerance=0.02)
        yield from self._move_to(lever + np.array([0.01, -0.08, 0.0]), CLOSED, tolerance=0.015, timeout=15)
        yield from self._move_to(lever, CLOSED, tolerance=0.015, timeout=15)
        done = partial(self._done, "light switch")
        yield from self._push(np.array([-1.0, 0.0, 0.0]), CLOSED, done, lead=0.1, timeout=25)
        yield from self._move_to(self.ee_pos + np.array([0.0, -0.14, 0.0]), CLOSED, tolerance=0.03, timeout=10)
        return self._done("light switch")

    def _slide_cabinet(self) -> Script:
        """Closed gripper as a paddle on the -x side of the vertical handle bar; push it along +x."""
        jitter = self._jitter["slide cabinet"]
        handle = self.site("slide_site") + np.array([0.0, 0.0, -0.09]) + jitter * np.array([0.0, 0.3, 1.0])
        yield from self._move_joints(handle + np.array([-0.06, -0.14, 0.0]), CLOSED, tolerance=0.03)
        yield from self._move_to(handle + np.array([-0.05, 0.0, 0.0]), CLOSED, tolerance=0.02, timeout=15)
        done = partial(self._done, "slide cabinet")
        yield from self._push(np.array([1.0, 0.0, 0.0]), CLOSED, done, lead=0.06, timeout=25)
        yield from self._move_to(self.ee_pos + np.array([0.0, -0.14, 0.0]), CLOSED, tolerance=0.03, timeout=10)
        return self._done("slide cabinet")
