"""Damped-least-squares inverse kinematics on the MuJoCo Jacobian, shared by the scripted experts.

The experts use privileged simulator state: they copy the live ``MjData`` into a scratch copy, solve
for joint positions that bring a site to a target pose there, and then translate those joint
targets into the env's own action space (each expert knows its actuators).
"""

from __future__ import annotations

from collections.abc import Sequence

import mujoco
import numpy as np


def orientation_error(target_mat: np.ndarray, current_mat: np.ndarray) -> np.ndarray:
    """Rotation vector (axis * angle, world frame) that turns ``current_mat`` into ``target_mat``."""
    error_mat = target_mat @ current_mat.T
    quat = np.empty(4)
    mujoco.mju_mat2Quat(quat, error_mat.reshape(-1))
    if quat[0] < 0:  # shortest rotation
        quat = -quat
    rotvec = np.empty(3)
    mujoco.mju_quat2Vel(rotvec, quat, 1.0)
    return rotvec


class DampedLeastSquaresIK:
    """Iterative DLS IK for one site over a subset of 1-dof (hinge/slide) joints.

    :param model: the MuJoCo model.
    :param site_name: the site whose pose is controlled (e.g. the grasp site).
    :param joint_names: the joints the solver may move; all others stay fixed.
    :param damping: Tikhonov damping lambda in ``dq = J^T (J J^T + lambda^2 I)^-1 e``.
    :param rotation_weight: weight of the orientation error relative to position (metres vs radians).
    :param posture_gain: weak pull of the solution toward ``rest_qpos`` in the Jacobian's null space.
    :param max_step: largest joint change per iteration (radians or metres), for stability.
    """

    def __init__(
        self,
        model: mujoco.MjModel,
        site_name: str,
        joint_names: Sequence[str],
        damping: float = 0.02,
        rotation_weight: float = 0.3,
        posture_gain: float = 0.02,
        max_step: float = 0.2,
    ) -> None:
        self.model = model
        self.scratch = mujoco.MjData(model)
        self.site_id = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_SITE, site_name)
        if self.site_id < 0:
            raise ValueError(f"Site {site_name!r} not found in the MuJoCo model.")
        joint_ids = [mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, name) for name in joint_names]
        missing = [name for name, jid in zip(joint_names, joint_ids) if jid < 0]
        if missing:
            raise ValueError(f"Joints {missing} not found in the MuJoCo model.")
        self.qpos_ids = np.array([model.jnt_qposadr[j] for j in joint_ids])
        self.dof_ids = np.array([model.jnt_dofadr[j] for j in joint_ids])
        self.lower = np.array([model.jnt_range[j, 0] if model.jnt_limited[j] else -np.inf for j in joint_ids])
        self.upper = np.array([model.jnt_range[j, 1] if model.jnt_limited[j] else np.inf for j in joint_ids])
        self.damping = damping
        self.rotation_weight = rotation_weight
        self.posture_gain = posture_gain
        self.max_step = max_step
        self._jacp = np.zeros((3, model.nv))
        self._jacr = np.zeros((3, model.nv))

    def site_pose(self, data: mujoco.MjData) -> tuple[np.ndarray, np.ndarray]:
        """Position and 3x3 rotation of the controlled site in ``data``."""
        return data.site_xpos[self.site_id].copy(), data.site_xmat[self.site_id].reshape(3, 3).copy()

    def solve(
        self,
        data: mujoco.MjData,
        target_pos: np.ndarray,
        target_mat: np.ndarray | None = None,
        rest_qpos: np.ndarray | None = None,
        iterations: int = 20,
        rotation_weight: float | None = None,
    ) -> np.ndarray:
        """Joint positions (for ``joint_names``) that bring the site to the target pose.

        Starts from the joint state in ``data`` (which is not modified). ``target_mat=None`` solves
        for position only.
        """
        scratch = self.scratch
        scratch.qpos[:] = data.qpos
        scratch.qvel[:] = 0.0
        weight = self.rotation_weight if rotation_weight is None else rotation_weight
        q = scratch.qpos[self.qpos_ids].copy()
        for _ in range(iterations):
            mujoco.mj_kinematics(self.model, scratch)
            mujoco.mj_comPos(self.model, scratch)
            pos, mat = self.site_pose(scratch)
            mujoco.mj_jacSite(self.model, scratch, self._jacp, self._jacr, self.site_id)
            error = [target_pos - pos]
            jac = [self._jacp[:, self.dof_ids]]
            if target_mat is not None and weight > 0:
                error.append(weight * orientation_error(target_mat, mat))
                jac.append(weight * self._jacr[:, self.dof_ids])
            err, jacobian = np.concatenate(error), np.concatenate(jac)
            system = jacobian @ jacobian.T + self.damping**2 * np.eye(len(err))
            dq = jacobian.T @ np.linalg.solve(system, err)
            if rest_qpos is not None and self.posture_gain > 0:
                null_space = np.eye(len(q)) - np.linalg.pinv(jacobian) @ jacobian
                dq += self.posture_gain * null_space @ (rest_qpos - q)
            dq = np.clip(dq, -self.max_step, self.max_step)
            q = np.clip(q + dq, self.lower, self.upper)
            scratch.qpos[self.qpos_ids] = q
        return q
