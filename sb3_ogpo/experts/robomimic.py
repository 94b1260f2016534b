"""Scripted experts for the robomimic tasks (Lift, PickPlaceCan, NutAssemblySquare) on robosuite 1.5.

All three are one pick-and-place state machine, :class:`PickAndPlaceExpert`, driven by privileged
simulator state (``env.unwrapped.sim``) and commanding robosuite's delta OSC_POSE controller:

    a[:3] = clip(pos_gain * (target_pos - eef_pos), -1, 1)     (1 = 5 cm goal offset)
    a[3:6] = clip(rot_gain * rotvec(R_target R_eef^T), -1, 1)   (1 = 0.5 rad, world frame)
    a[6] = -1 open / +1 close

Phases: hover above the grasp point (gripper open, yaw matched) -> descend -> close -> lift (and, for
the Square nut, turn the nut square to its peg) -> carry the object's centre over its goal -> check
xy alignment -> lower -> release -> retreat. Lift stops after the lift phase (success ends the
episode). A dropped object sends the machine back to hover for a new grasp.

The gripper points down; at yaw 0 its fingers close along world y. Orientation targets are that
pose turned about world z by a yaw (the gripper is symmetric under half turns).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from sb3_ogpo.experts.base import ScriptedExpert
from sb3_ogpo.experts.ik import orientation_error

# Gripper pointing down with its x axis along world y (robosuite's Panda at its default pose).
_DOWN = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, -1.0]])
OPEN, CLOSE = -1.0, 1.0
HOVER, DESCEND, GRASP, LIFT, CARRY, LOWER, RELEASE, RETREAT = range(8)


def wrap(angle: float, period: float) -> float:
    """``angle`` wrapped to ``[-period / 2, period / 2)``."""
    return float((angle + period / 2) % period - period / 2)


def rot_z(yaw: float) -> np.ndarray:
    c, s = np.cos(yaw), np.sin(yaw)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def yaw_of(mat: np.ndarray) -> float:
    """Yaw (about world z) of a rotation matrix whose z axis is (nearly) vertical."""
    return float(np.arctan2(mat[1, 0], mat[0, 0]))


def gripper_target(yaw: float) -> np.ndarray:
    """Orientation of the downward-pointing gripper turned by ``yaw`` about world z."""
    return rot_z(yaw) @ _DOWN


def osc_delta_action(
    eef_pos: np.ndarray,
    eef_mat: np.ndarray,
    target_pos: np.ndarray,
    target_mat: np.ndarray,
    gripper: float,
    pos_gain: float = 15.0,
    rot_gain: float = 3.0,
) -> np.ndarray:
    """The 7-d delta OSC_POSE action that moves the end effector toward a target pose.

    :param pos_gain: action per metre of position error (an action of 1 offsets the goal by 5 cm).
    :param rot_gain: action per radian of orientation error (an action of 1 offsets it by 0.5 rad).
    """
    action = np.empty(7)
    action[:3] = np.clip(pos_gain * (target_pos - eef_pos), -1.0, 1.0)
    action[3:6] = np.clip(rot_gain * orientation_error(target_mat, eef_mat), -1.0, 1.0)
    action[6] = gripper
    return action


class PickAndPlaceExpert(ScriptedExpert):
    """Shared grasp / lift / carry / place state machine; subclasses give the task's geometry.

    :param env: a :class:`~sb3_ogpo.envs.robomimic.RobomimicEnv` (possibly wrapped).
    :param noise_scale: standard deviation of the Gaussian noise added to the arm's action dims each
        step (rotation dims get half of it, precise phases a third); it also scales per-episode
        jitter of the grasp point (up to 5 mm at 0.1), hover height and speed.
    :param pos_gain: position gain of :func:`osc_delta_action`.
    :param rot_gain: orientation gain of :func:`osc_delta_action`.
    """

    hover_height = 0.08  # above the grasp point before descending
    grasp_height_offset = 0.0  # eef z relative to the grasp point when closing
    close_steps = 10
    release_steps = 8
    place_tolerance = 0.01  # xy error of the object's centre over its goal before lowering
    precise_lowering = False  # scale the noise down while aligning / lowering
    drop_distance = 0.04  # object this much farther from the eef than at the grasp: regrasp
    integral_gain = 1.0  # integral action per metre of position error and step

    def __init__(
        self,
        env: gym.Env,
        noise_scale: float = 0.0,
        pos_gain: float = 15.0,
        rot_gain: float = 3.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(env, noise_scale=noise_scale, **kwargs)
        self.pos_gain = pos_gain
        self.rot_gain = rot_gain
        self.reset(np.random.default_rng())

    # --- privileged state -------------------------------------------------------------------
    @property
    def suite(self):
        """The underlying robosuite env."""
        return self.env.unwrapped.robosuite_env

    @property
    def sim(self):
        return self.env.unwrapped.sim

    def eef_pose(self) -> tuple[np.ndarray, np.ndarray]:
        """Position and rotation matrix of the site the OSC controller drives (the grip site)."""
        site = self.suite.robots[0].eef_site_id["right"]
        return np.array(self.sim.data.site_xpos[site]), np.array(self.sim.data.site_xmat[site]).reshape(3, 3)

    def body_pose(self, body_id: int) -> tuple[np.ndarray, np.ndarray]:
        return np.array(self.sim.data.body_xpos[body_id]), np.array(self.sim.data.body_xmat[body_id]).reshape(3, 3)

    # --- task geometry (subclasses) --------------------------------------------------------------
    def grasp_point(self) -> tuple[np.ndarray, float]:
        """World position to grasp at and the gripper yaw that grasps it."""
        raise NotImplementedError

    def object_center(self) -> np.ndarray:
        """The object's centre, the point placed over the goal."""
        raise NotImplementedError

    def carry_yaw(self, eef_yaw: float) -> float:
        """Gripper yaw while carrying (default: keep the grasp yaw)."""
        return self.grasp_yaw

    def on_grasp(self, eef_yaw: float) -> None:
        """Called once the gripper has closed, before lifting (for per-grasp decisions)."""

    def lift_height(self) -> float:
        """Absolute eef height after the grasp (and while carrying)."""
        raise NotImplementedError

    def place_target(self) -> tuple[np.ndarray, float] | None:
        """Goal xy of the object's centre and the eef height to release at; None: lift only."""
        return None

    # --- episode -----------------------------------------------------------------------------
    def reset(self, rng: np.random.Generator) -> None:
        """Draw this episode's jitter (grasp offset, hover height, speed) and restart the phases."""
        super().reset(rng)
        scale = min(self.noise_scale / 0.1, 2.0)
        self.grasp_jitter = np.clip(rng.normal(0.0, 0.003 * scale, size=2), -0.005 * scale, 0.005 * scale)
        self.hover_jitter = rng.uniform(-0.02, 0.02) * scale
        self.speed = 1.0 + rng.uniform(-0.1, 0.1) * scale
        self.phase = HOVER
        self.phase_steps = 0
        self.grasp_yaw = 0.0
        self.grasp_pos = np.zeros(3)
        self.grasp_distance = 0.0
        self.integral = np.zeros(3)

    def _set_phase(self, phase: int) -> None:
        self.phase, self.phase_steps = phase, 0

    def _yaw_near(self, yaw: float, eef_yaw: float) -> float:
        """Of ``yaw`` and ``yaw + pi`` (same grasp), the one closer to the gripper's current yaw."""
        return eef_yaw + wrap(yaw - eef_yaw, np.pi)

    def act(self, observation: Any) -> np.ndarray:
        eef_pos, eef_mat = self.eef_pose()
        eef_yaw = yaw_of(eef_mat @ _DOWN.T)
        point, point_yaw = self.grasp_point()
        point = point + np.r_[self.grasp_jitter, self.grasp_height_offset]
        gripper, yaw, target, noise_factor = OPEN, self.grasp_yaw, eef_pos, 1.0
        self.phase_steps += 1

        # A dropped object (while it should be held) restarts the grasp.
        if self.phase in (LIFT, CARRY, LOWER):
            if np.linalg.norm(point - eef_pos) > self.grasp_distance + self.drop_distance:
                self._set_phase(HOVER)

        if self.phase == HOVER:
            self.grasp_yaw = yaw = self._yaw_near(point_yaw, eef_yaw)
            target = point + np.r_[0.0, 0.0, self.hover_height + self.hover_jitter]
            if (self._arrived(target, eef_pos, 0.015) and abs(wrap(yaw - eef_yaw, np.pi)) < 0.08) or (
                self.phase_steps > 80
            ):
                self._set_phase(DESCEND)
        if self.phase == DESCEND:
            self.grasp_yaw = yaw = self._yaw_near(point_yaw, eef_yaw)
            target = point
            if self._arrived(target, eef_pos, 0.008) or self.phase_steps > 40:
                self.grasp_pos = point
                self._set_phase(GRASP)
        if self.phase == GRASP:
            gripper, target = CLOSE, self.grasp_pos
            if self.phase_steps > self.close_steps:
                self.grasp_distance = float(np.linalg.norm(point - eef_pos))
                self.on_grasp(eef_yaw)
                self._set_phase(LIFT)
        if self.phase == LIFT:
            gripper, yaw = CLOSE, self.carry_yaw(eef_yaw)
            target = np.r_[self.grasp_pos[:2], self.lift_height()]
            if abs(target[2] - eef_pos[2]) < 0.02 and self.place_target() is not None:
                self._set_phase(CARRY)
        if self.phase in (CARRY, LOWER):
            goal_xy, release_z = self.place_target()
            gripper, yaw = CLOSE, self.carry_yaw(eef_yaw)
            # Move the eef so that the object's centre (not the grasp point) ends over the goal.
            eef_goal_xy = goal_xy + (eef_pos[:2] - self.object_center()[:2])
            xy_error = float(np.linalg.norm(goal_xy - self.object_center()[:2]))
            if self.phase == CARRY:
                target = np.r_[eef_goal_xy, self.lift_height()]
                if self.precise_lowering and xy_error < 3 * self.place_tolerance:
                    noise_factor = 0.3
                settled = np.linalg.norm(self._eef_velocity()) < 0.05
                if (xy_error < self.place_tolerance and settled) or self.phase_steps > 120:
                    self._set_phase(LOWER)
            else:
                noise_factor = 0.3 if self.precise_lowering else 1.0
                # Lower only while the object stays over the goal; otherwise hold height and realign.
                z = release_z if xy_error < 2 * self.place_tolerance else eef_pos[2]
                target = np.r_[eef_goal_xy, z]
                if eef_pos[2] - release_z < 0.01 or self.phase_steps > 80:
                    self._set_phase(RELEASE)
        if self.phase == RELEASE:
            gripper, target, yaw, noise_factor = OPEN, eef_pos, eef_yaw, 0.0
            if self.phase_steps > self.release_steps:
                self._set_phase(RETREAT)
        if self.phase == RETREAT:
            gripper, yaw = OPEN, eef_yaw
            target = eef_pos + np.r_[0.0, 0.0, 0.05]

        action = osc_delta_action(
            eef_pos,
            eef_mat,
            target,
            gripper_target(yaw),
            gripper,
            pos_gain=self.pos_gain * self.speed,
            rot_gain=self.rot_gain,
        )
        # Integral action near the target removes the OSC's steady-state error (gravity and contact
        # loads, the arm stretched at the edge of its workspace); reset at every phase change.
        error = target - eef_pos
        if self.phase_steps <= 1:
            self.integral[:] = 0.0
        if np.linalg.norm(error) < 0.03:
            self.integral = np.clip(self.integral + self.integral_gain * error, -0.3, 0.3)
        action[:3] = np.clip(action[:3] + self.integral, -1.0, 1.0)
        if self.noise_scale > 0:
            sigma = self.noise_scale * noise_factor
            action[:3] += self.rng.normal(0.0, sigma, size=3)
            action[3:6] += self.rng.normal(0.0, 0.5 * sigma, size=3)
        return np.clip(action, -1.0, 1.0).astype(np.float32)

    def _arrived(self, target: np.ndarray, eef_pos: np.ndarray, tolerance: float) -> bool:
        """Within ``tolerance`` of ``target``, or settled within 2.5x of it (the OSC's steady-state
        error near obstacles and the workspace edge)."""
        error = np.linalg.norm(target - eef_pos)
        settled = np.linalg.norm(self._eef_velocity()) < 0.01
        return bool(error < tolerance or (error < 2.5 * tolerance and settled))

    def _eef_velocity(self) -> np.ndarray:
        return np.asarray(self.suite.robots[0].composite_controller.part_controllers["right"].ref_pos_vel)


class LiftExpert(PickAndPlaceExpert):
    """Lift: grasp the cube with the fingers square to its faces (yaw modulo 90 degrees), lift it."""

    def grasp_point(self) -> tuple[np.ndarray, float]:
        pos, mat = self.body_pose(self.suite.cube_body_id)
        return pos, wrap(yaw_of(mat), np.pi / 2)

    def object_center(self) -> np.ndarray:
        return self.body_pose(self.suite.cube_body_id)[0]

    def lift_height(self) -> float:
        return self.grasp_pos[2] + 0.2


class PickPlaceCanExpert(PickAndPlaceExpert):
    """PickPlaceCan: grasp the can around its middle, carry it over its target bin, drop it in."""

    carry_clearance = 0.17  # eef height over the bins while carrying
    place_tolerance = 0.015
    wall_margin = 0.055  # goal distance from the target quadrant's walls

    def _can_body(self) -> int:
        return self.suite.obj_body_id[self.suite.objects[self.suite.object_id].name]

    def grasp_point(self) -> tuple[np.ndarray, float]:
        return self.body_pose(self._can_body())[0], 0.0

    def object_center(self) -> np.ndarray:
        return self.body_pose(self._can_body())[0]

    def lift_height(self) -> float:
        return self.suite.bin2_pos[2] + self.carry_clearance

    def place_target(self) -> tuple[np.ndarray, float]:
        # Any point of the target quadrant of bin 2 counts; its centre is at the edge of the arm's
        # reach, so aim ``wall_margin`` inside the quadrant's corner nearest to the robot.
        suite, object_id = self.suite, self.suite.object_id
        low = suite.bin2_pos[:2].copy()
        low[0] -= suite.bin_size[0] / 2 if object_id in (0, 2) else 0.0
        low[1] -= suite.bin_size[1] / 2 if object_id < 2 else 0.0
        high = low + suite.bin_size[:2] / 2
        corner = np.where(np.abs(low - self._robot_base()[:2]) < np.abs(high - self._robot_base()[:2]), low, high)
        goal = corner + np.sign((low + high) / 2 - corner) * self.wall_margin
        return goal, suite.bin2_pos[2] + 0.1

    def _robot_base(self) -> np.ndarray:
        return np.array(self.sim.data.body_xpos[self.sim.model.body_name2id("robot0_base")])


class NutAssemblySquareExpert(PickAndPlaceExpert):
    """NutAssemblySquare: grasp the nut's handle, turn the nut square to the peg, drop it over the peg.

    The grasp yaw equals the nut's yaw (the handle runs along the nut's x axis, so the fingers close
    across it); after the grasp the gripper turns until the nut's yaw is a multiple of 90 degrees
    (the peg is square and axis-aligned). The nut's centre is aligned over the peg within
    ``place_tolerance`` before lowering, and kept aligned while lowering.
    """

    place_tolerance = 0.004
    precise_lowering = True
    handle_offset = 0.01  # grasp this far beyond the handle site, along the handle
    grasp_height_offset = 0.005

    def _nut_pose(self) -> tuple[np.ndarray, np.ndarray]:
        return self.body_pose(self.suite.obj_body_id["SquareNut"])

    def grasp_point(self) -> tuple[np.ndarray, float]:
        # The handle site is 1 cm from the nut's ring: grasp a bit farther out so that the finger
        # pads (2 cm wide) straddle the handle only.
        site = self.sim.model.site_name2id("SquareNut_handle_site")
        pos, mat = self._nut_pose()
        return np.array(self.sim.data.site_xpos[site]) + self.handle_offset * mat[:, 0], yaw_of(mat)

    def object_center(self) -> np.ndarray:
        return self._nut_pose()[0]

    max_gripper_yaw = np.pi / 2 + 0.35  # keep the wrist joint well inside its range

    def carry_yaw(self, eef_yaw: float) -> float:
        nut_yaw = yaw_of(self._nut_pose()[1])
        # Feedback on the nut's own yaw: turn the gripper by the nut's misalignment to its goal yaw.
        return eef_yaw + wrap(self.nut_goal_yaw - nut_yaw, 2 * np.pi)

    def on_grasp(self, eef_yaw: float) -> None:
        self.nut_goal_yaw = self._choose_nut_yaw(yaw_of(self._nut_pose()[1]), eef_yaw)

    def _choose_nut_yaw(self, nut_yaw: float, eef_yaw: float) -> float:
        """The nut yaw (a multiple of 90 degrees: the peg is square) to insert at: the one that brings
        the handle, hence the arm, closest to the robot, among those the wrist can turn to."""
        peg = self.place_target()[0]
        base = np.array(self.sim.data.body_xpos[self.sim.model.body_name2id("robot0_base")])[:2]
        handle = np.linalg.norm(self.grasp_point()[0][:2] - self.object_center()[:2])
        best, best_cost = 0.0, np.inf
        for k in range(4):
            goal = k * np.pi / 2
            gripper_yaw = eef_yaw + wrap(goal - nut_yaw, 2 * np.pi)
            eef_xy = peg + handle * np.array([np.cos(goal), np.sin(goal)])
            cost = np.linalg.norm(eef_xy - base) + 0.02 * abs(gripper_yaw - eef_yaw)
            if abs(gripper_yaw) <= self.max_gripper_yaw and cost < best_cost:
                best, best_cost = goal, cost
        return best

    def lift_height(self) -> float:
        return self.suite.table_offset[2] + 0.2

    def place_target(self) -> tuple[np.ndarray, float]:
        peg = np.array(self.sim.data.body_xpos[self.suite.peg1_body_id])
        return peg[:2], self.suite.table_offset[2] + 0.06
