"""Scripted experts for the gymnasium-robotics Adroit hand tasks (Door, Hammer, Relocate).

All three read privileged state from ``env.unwrapped.model`` / ``env.unwrapped.data``, solve for arm
and wrist joint targets with :class:`~sb3_ogpo.experts.ik.DampedLeastSquaresIK` on the ``S_grasp``
site, choose finger postures per phase, and convert the desired joint positions into the env's
normalized position commands with gravity compensation (:class:`ActuatorMap`).

Diversity (``noise_scale > 0``): Gaussian noise on the normalized action (arm dims scaled down,
because 0.05 on an arm dim moves the hand ~5 cm), per-episode jitter of grasp offsets
(~``noise_scale / 10`` metres) and a per-episode speed factor.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import mujoco
import numpy as np

from sb3_ogpo.experts.adroit_base import (  # noqa: F401  (ActuatorMap: re-exported)
    FINGER_FLEX_JOINTS,
    THUMB_JOINTS,
    WRIST_JOINTS,
    ActuatorMap,
    AdroitExpert,
    rotate_pose,
    rotation_about_axis,
)

class DoorExpert(AdroitExpert):
    """Opens the door of ``AdroitHandDoor-v1``: grasp the lever, turn the latch, pull, let go.

    Phases: hover above the handle -> lower onto the bar -> curl the four fingers around it -> turn
    the lever along its arc (the hand rolls with it) until the latch passes ``latch_open`` -> pull
    along the door's arc, keeping the lever pressed down until the bolt clears the frame -> open the
    hand once the door's momentum will carry it past the goal angle (1.35 rad) -> move the hand out
    of the door's sweep (away from the hinge and ahead of the door). The arm cannot follow the
    handle much beyond ~1.0 rad, so the last part of the opening is the door's own momentum.

    Measured (``benchmarks/expert_success.py``, seeds 0..49): 48/50 with ``noise_scale=0.1``,
    49/50 without noise; success arrives around step 120-170 of 200.
    """

    hover_height = 0.06  # m above the grasp point before descending
    grasp_offset = (0.0, -0.02, -0.02)  # grasp site relative to S_handle (world frame, door closed)
    turn_lead = 0.7  # rad the lever target leads the latch while turning
    latch_open = 1.4  # latch angle at which the pull starts (the latch unlocks near 1.0-1.2)
    hold_lead = 0.3  # keep pressing the lever down while the door is below `hold_until`
    hold_until = 0.35
    pull_lead = 0.4  # rad the hand target leads the door along its arc
    pull_rotation_weight = 0.1  # orientation weight while pulling, faded out by `rotation_fade`
    rotation_fade = 0.8
    release_angle = 0.6  # open the hand past this door angle once the coast reaches `coast_goal`
    max_release_angle = 0.85  # ... and past this angle in any case (the arm's reach ends ~1.0)
    coast_goal = 1.5
    door_deceleration = 3.5  # rad/s^2 of a free door (friction and damping), measured
    open_steps = 3
    retreat = (0.2, 0.2, 0.05)  # m away from the hinge, ahead along the door's arc, up

    def __init__(self, env: gym.Env, noise_scale: float = 0.0, **kwargs: Any) -> None:
        kwargs.setdefault("max_arm_step", 0.1)
        kwargs.setdefault("arm_boost", 1.0)
        super().__init__(env, noise_scale=noise_scale, **kwargs)
        model = self.model
        self.handle_site = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_SITE, "S_handle")
        self.latch_joint = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, "latch")
        self.hinge_joint = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, "door_hinge")
        self.latch_body = model.jnt_bodyid[self.latch_joint]
        self.latch_qpos = model.jnt_qposadr[self.latch_joint]
        self.hinge_qpos = model.jnt_qposadr[self.hinge_joint]
        self.hinge_dof = model.jnt_dofadr[self.hinge_joint]

    def _reset_task(self, rng: np.random.Generator) -> None:
        self.offset = np.asarray(self.grasp_offset) + self.jitter(3)  # ~1 cm jitter at noise 0.1
        self.home_mat = self.site_pose()[1]
        self.rel: tuple[np.ndarray, np.ndarray] | None = None
        self.retreat_pos: np.ndarray | None = None

    def _attach(self) -> None:
        """Remember the current grasp-site pose in the latch body's frame."""
        pos, mat = self.site_pose()
        frame_pos, frame_mat = self.data.xpos[self.latch_body], self.data.xmat[self.latch_body].reshape(3, 3)
        self.rel = (frame_mat.T @ (pos - frame_pos), frame_mat.T @ mat)

    def _attached_pose(self) -> tuple[np.ndarray, np.ndarray]:
        """The remembered grasp-site pose, carried along with the latch body."""
        frame_pos, frame_mat = self.data.xpos[self.latch_body], self.data.xmat[self.latch_body].reshape(3, 3)
        return frame_pos + frame_mat @ self.rel[0], frame_mat @ self.rel[1]

    def _about(
        self, joint: int, pose: tuple[np.ndarray, np.ndarray], angle: float
    ) -> tuple[np.ndarray, np.ndarray]:
        """``pose`` rotated by ``angle`` about the axis of ``joint`` (latch or door hinge)."""
        return rotate_pose(*pose, self.data.xanchor[joint], self.data.xaxis[joint], angle)

    def _plan(self) -> None:
        data = self.data
        handle = data.site_xpos[self.handle_site]
        door, velocity = data.qpos[self.hinge_qpos], data.qvel[self.hinge_dof]
        pos = self.site_pose()[0]
        if self.phase in ("approach", "descend", "grasp"):
            if self._grasp_sequence(handle + self.offset, self.home_mat, approach_steps=60):
                self._attach()
                self._set_phase("turn")
        elif self.phase == "turn":
            self._set_fingers(self.curl)
            self._reach(*self._about(self.latch_joint, self._attached_pose(), self.turn_lead))
            if data.qpos[self.latch_qpos] > self.latch_open:
                self._attach()
                self._set_phase("pull")
        elif self.phase == "pull":
            self._set_fingers(self.curl)
            hold = self.hold_lead if door < self.hold_until else 0.0
            pose = self._about(self.latch_joint, self._attached_pose(), hold)
            pose = self._about(self.hinge_joint, pose, self.pull_lead)
            weight = self.pull_rotation_weight * max(0.0, 1.0 - door / self.rotation_fade)
            self._reach(*pose, rotation_weight=weight)
            coast = door + velocity * abs(velocity) / (2.0 * self.door_deceleration)
            if door > self.max_release_angle or (door > self.release_angle and coast > self.coast_goal):
                self._set_phase("release")
        elif self.phase == "release":  # open the hand while moving along with the handle
            self._set_fingers(0.0, rate=0.5)
            self._reach(*self._attached_pose(), rotation_weight=self.pull_rotation_weight)
            if self.phase_steps >= self.open_steps:
                radial = pos - data.xanchor[self.hinge_joint]
                radial[2] = 0.0
                radial /= np.linalg.norm(radial)
                ahead = np.cross(data.xaxis[self.hinge_joint], radial)
                away, forward, up = self.retreat
                self.retreat_pos = pos + away * radial + forward * ahead + np.array([0.0, 0.0, up])
                self._set_phase("retreat")
        elif self.phase == "retreat":
            self._set_fingers(0.0, rate=0.5)
            self._reach(self.retreat_pos, None, max_step=0.15)


class RelocateExpert(AdroitExpert):
    """Picks up the ball of ``AdroitHandRelocate-v1`` and carries it to the target site.

    Phases: hover above the ball -> lower the (slightly pitched) hand onto it -> close fingers and
    thumb -> lift straight up -> carry so that the ball's centre reaches the target and hold it
    there. If the ball drops during the carry, the expert starts over from the hover.

    Measured (seeds 0..49): 39/50 without noise but only 23/50 with ``noise_scale=0.1``: the grasp
    is fragile (fingertips in front, thumb behind-below, weak finger actuators) and action noise or
    a late/early start of the curl lets the ball slip out while lifting.
    """

    grasp_offset = (0.0, 0.0, 0.0)  # grasp site relative to the ball centre
    pitch = -0.3  # fingers tilted down (rad) so that the palm gets low enough
    curl = 1.0
    thumb_grip = (0.9, 1.0, 0.0, 0.4, -0.5)  # THJ4..THJ0: the thumb closes under the ball
    descend_steps = 30
    lift_height = 0.08  # ball height (m) to reach before moving toward the target

    def __init__(self, env: gym.Env, noise_scale: float = 0.0, **kwargs: Any) -> None:
        kwargs.setdefault("max_arm_step", 0.1)
        kwargs.setdefault("arm_boost", 1.0)
        super().__init__(env, noise_scale=noise_scale, **kwargs)
        self.obj_body = mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_BODY, "Object")
        self.target_site = mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_SITE, "target")

    def _reset_task(self, rng: np.random.Generator) -> None:
        self.offset = np.asarray(self.grasp_offset) + self.jitter(3)
        self.home_mat = rotation_about_axis(np.array([1.0, 0.0, 0.0]), self.pitch) @ self.site_pose()[1]
        self.hold = np.zeros(3)
        self.lift_from = np.zeros(3)

    def _plan(self) -> None:
        data = self.data
        ball = data.xpos[self.obj_body].copy()
        target = data.site_xpos[self.target_site]
        pos = self.site_pose()[0]
        thumb = np.asarray(self.thumb_grip)
        if self.phase in ("approach", "descend", "grasp"):
            point = ball + self.offset
            if self._grasp_sequence(point, self.home_mat, thumb, descend_steps=self.descend_steps):
                self.hold, self.lift_from = pos - ball, pos.copy()
                self._set_phase("lift")
        elif self.phase in ("lift", "carry"):
            self._set_fingers(self.curl, thumb)
            if self.phase == "lift":  # straight up first
                goal = self.lift_from + np.array([0.0, 0.0, self.lift_height + 0.05])
                if ball[2] > self.lift_height or self.phase_steps > 30:
                    self._set_phase("carry")
            else:
                goal = target + self.hold
            self._reach(goal, self.home_mat, rotation_weight=0.1)
            if self.phase_steps > 20 and ball[2] < 0.045 and pos[2] - ball[2] > 0.03:  # dropped: try again
                self._set_phase("approach")


class HammerExpert(AdroitExpert):
    """Drives the nail of ``AdroitHandHammer-v1``: grasp the hammer, lift it, strike the nail.

    The Hammer arm has only two rotations (``ARRx`` pitch, ``ARRy`` yaw; no slide), so the grasp is
    scripted in joint space: forearm pitched down (``ARRx`` near its 0.25 limit) and wrist flexed so
    that the curling fingers scoop the handle lying on the table into the palm while the thumb
    closes over it; then the forearm pitches up. The grasp posture came from a random search over
    postures that keep the hammer in the hand through fast arm motions, preferring a long reach (palm
    to striking face ~0.31 m): the face has to get ~9 cm past the nail head's start along the nail's
    axis, and a grip nearer the head falls 1-4 cm short.
    Striking: the hammer is treated as rigidly attached to the palm in its current in-hand pose; a
    DLS IK over ``ARRx, ARRy, WRJ1, WRJ0`` (joints at a limit are dropped from the Jacobian) places
    the face centre on the nail's axis with the face normal's yaw along the axis. The expert
    alternates a rate-limited wind-up to ``windup`` in front of the nail head and a fast strike
    toward ``follow_through`` past it, re-solving from the nail's current position every swing.

    Measured (``benchmarks/expert_success.py`` logic, 50 episodes): 48/50 with ``noise_scale=0.1``
    (seeds 0..49; 47/50 on seeds 50..99) and 50/50 without noise; the nail is in after ~4 strikes,
    first success at step ~134 of 200.
    """

    grasp_posture = {"ARRx": 0.237, "WRJ0": 0.566}  # forearm down, wrist flexed: fingertips reach the table
    grasp_shift = -0.008  # m along world x (toward the head) of the hand from the handle's centre
    curl = 1.57
    thumb_grip = (0.8, 0.66, 0.19, 0.17, -0.89)  # THJ4..THJ0: the thumb closes over the handle
    reach_steps = 20
    close_steps = 15
    lift_steps = 20
    lift_to = -0.4  # ARRx after lifting (the hammer clears the board's top)
    face_point = (-0.24, 0.0, -0.04)  # centre of the striking face in the hammer's frame
    windup = 0.06  # m in front of the nail head along its axis (the face stops here before a strike)
    follow_through = 0.04  # m past the nail head
    yaw_weight = 0.1  # weight of the face-normal yaw error against the position error (m vs rad)
    strike_step = 0.2  # rad per step toward the strike posture
    strike_steps = 8

    def __init__(self, env: gym.Env, noise_scale: float = 0.0, **kwargs: Any) -> None:
        kwargs.setdefault("arm_boost", 1.0)
        super().__init__(env, noise_scale=noise_scale, **kwargs)
        model = self.model
        self.obj_body = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, "Object")
        self.palm_body = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, "palm")
        self.nail_site = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_SITE, "S_target")
        self.nail_joint = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, "nail_dir")
        self.arm_dofs = self.actuators.dof_ids[self.arm_idx]
        self._jacp = np.zeros((3, model.nv))
        self._jacr = np.zeros((3, model.nv))

    def _reset_task(self, rng: np.random.Generator) -> None:
        names = list(self.arm_joints)
        self.start_q = self.q_des.copy()
        self.grasp_q = self.q_des.copy()
        for joint, value in self.grasp_posture.items():
            self.grasp_q[self.arm_idx[names.index(joint)]] = value
        # ARRy (yaw about the shoulder, ~0.46 m from the palm) shifts the hand along x; the wrist
        # deviation WRJ1 undoes the yaw
        yaw = -(self.grasp_shift + self.jitter(1, 0.1)[0]) / 0.46
        self.grasp_q[self.arm_idx[names.index("ARRy")]] = yaw
        self.grasp_q[self.arm_idx[names.index("WRJ1")]] = -yaw
        self.arrx = self.arm_idx[names.index("ARRx")]
        self.phase = "reach"

    def _face(self) -> tuple[np.ndarray, np.ndarray]:
        """Centre and outward normal of the striking face (world frame)."""
        mat = self.data.xmat[self.obj_body].reshape(3, 3)
        return self.data.xpos[self.obj_body] + mat @ np.asarray(self.face_point), -mat[:, 2]

    def _solve_face(self, target: np.ndarray, axis: np.ndarray, iterations: int = 15) -> np.ndarray:
        """Arm/wrist joint targets that put the face centre at ``target`` with its normal's yaw along
        ``axis``, treating the hammer as rigidly attached to the palm in its current in-hand pose
        (DLS iterations on a scratch copy of the state within the joint ranges)."""
        data, scratch = self.data, self.ik.scratch
        face, normal = self._face()
        palm_pos, palm_mat = data.xpos[self.palm_body], data.xmat[self.palm_body].reshape(3, 3)
        face_rel, normal_rel = palm_mat.T @ (face - palm_pos), palm_mat.T @ normal
        scratch.qpos[:] = data.qpos
        q = self.q_des[self.arm_idx].copy()
        lower, upper = self.ik.lower, self.ik.upper
        for _ in range(iterations):
            scratch.qpos[self.ik.qpos_ids] = q
            mujoco.mj_kinematics(self.model, scratch)
            mujoco.mj_comPos(self.model, scratch)
            palm_mat = scratch.xmat[self.palm_body].reshape(3, 3)
            face = scratch.xpos[self.palm_body] + palm_mat @ face_rel
            normal = palm_mat @ normal_rel
            mujoco.mj_jac(self.model, scratch, self._jacp, self._jacr, face, self.palm_body)
            yaw_error = np.arctan2(normal[0] * axis[1] - normal[1] * axis[0], normal[:2] @ axis[:2])
            error = np.concatenate([target - face, [self.yaw_weight * yaw_error]])
            jac = np.vstack([self._jacp[:, self.arm_dofs], self.yaw_weight * self._jacr[2:3, self.arm_dofs]])
            free = np.ones(len(q), dtype=bool)
            for _ in range(len(q)):  # drop the joints that sit at a limit and would push past it
                j = jac * free
                dq = j.T @ np.linalg.solve(j @ j.T + self.ik_damping**2 * np.eye(4), error)
                blocked = free & (((q <= lower) & (dq < 0)) | ((q >= upper) & (dq > 0)))
                if not blocked.any():
                    break
                free &= ~blocked
            q = np.clip(q + np.clip(dq, -0.2, 0.2), lower, upper)
        return q

    def _move_arm(self, q_target: np.ndarray, max_step: float) -> None:
        current = self.q_des[self.arm_idx]
        self.q_des[self.arm_idx] = current + np.clip(q_target - current, -max_step, max_step)

    def _plan(self) -> None:
        thumb = np.asarray(self.thumb_grip)
        if self.phase == "reach":
            frac = min(1.0, self.phase_steps / (self.reach_steps / self.speed))
            self.q_des[self.arm_idx] = self.start_q[self.arm_idx] + frac * (self.grasp_q - self.start_q)[self.arm_idx]
            if frac >= 1.0:
                self._set_phase("close")
        elif self.phase == "close":
            self._set_fingers(self.curl, thumb, rate=self.curl / self.close_steps)
            if self.phase_steps >= self.close_steps:
                self._set_phase("lift")
        elif self.phase == "lift":
            self._set_fingers(self.curl, thumb)
            rate = (self.grasp_posture["ARRx"] - self.lift_to) / self.lift_steps
            self.q_des[self.arrx] = max(self.lift_to, self.q_des[self.arrx] - rate * self.speed)
            if self.phase_steps >= self.lift_steps / self.speed:
                self._set_phase("windup")
        else:
            self._set_fingers(self.curl, thumb)
            nail = self.data.site_xpos[self.nail_site]
            axis = self.data.xaxis[self.nail_joint]  # the direction that drives the nail in
            face = self._face()[0]
            if self.phase == "windup":
                target = nail - self.windup * axis
                self._move_arm(self._solve_face(target, axis), self.max_arm_step * self.speed)
                if np.linalg.norm(target - face) < 0.015 or self.phase_steps > 25:
                    self.strike_q = self._solve_face(nail + self.follow_through * axis, axis)
                    self._set_phase("strike")
            else:
                self._move_arm(self.strike_q, self.strike_step)
                if self.phase_steps > self.strike_steps:
                    self._set_phase("windup")
