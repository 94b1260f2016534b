"""Flow-matching behaviour cloning of an OGPO model's actor on demonstrations (h-step chunk targets)."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Optional

import numpy as np
import torch as th
from stable_baselines3.common.logger import configure
from stable_baselines3.common.utils import polyak_update
from tqdm.auto import tqdm

from sb3_ogpo.common.demonstrations import Demonstrations
from sb3_ogpo.common.tensors import obs_to_device
from sb3_ogpo.ogpo.losses import chunk_targets

if TYPE_CHECKING:  # pragma: no cover
    from sb3_ogpo.ogpo.ogpo import OGPO


def pretrain_bc(
    model: OGPO,
    demonstrations: Demonstrations,
    gradient_steps: int,
    batch_size: int,
    learning_rate: float,
    eval_freq: int,
    eval_callback: Optional[Callable[[OGPO, int], bool]],
    progress_bar: bool,
    ema_tau: Optional[float],
    max_grad_norm: float,
) -> int:
    """:meth:`OGPO.pretrain_bc <sb3_ogpo.ogpo.ogpo.OGPO.pretrain_bc>` (see there); returns the steps taken."""
    if max_grad_norm <= 0:
        raise ValueError(f"max_grad_norm must be > 0, got {max_grad_norm}.")
    if ema_tau is not None and not 0.0 < ema_tau <= 1.0:
        raise ValueError(f"ema_tau must be in (0, 1], got {ema_tau}.")
    demonstrations.validate(model.observation_space, model.action_space)
    policy = model.policy
    actions = policy.scale_action(demonstrations.actions.astype(np.float32))
    if np.any(np.abs(actions) > 1.0 + 1e-6):
        warnings.warn("Some demonstration actions lie outside the action space bounds; they are clipped.")
        actions = np.clip(actions, -1.0, 1.0)
    targets = th.as_tensor(chunk_targets(actions, demonstrations.episode_starts, model.chunk_size), device=model.device)
    observations = obs_to_device(demonstrations.observations, model.device)
    optimizer = th.optim.AdamW(policy.actor.parameters(), lr=learning_rate)
    logger = model._logger if hasattr(model, "_logger") else configure(None, ["stdout"] if model.verbose else [])
    policy.set_training_mode(True)
    average = policy.actor_target  # holds the EMA of the iterates with ema_tau
    average.load_state_dict(policy.actor.state_dict())
    step, n, stopped = 0, len(actions), False
    for step in tqdm(range(1, gradient_steps + 1), disable=not progress_bar, desc="BC"):
        index = th.randint(0, n, (batch_size,), device=model.device)
        batch_obs = {k: v[index] for k, v in observations.items()} if isinstance(observations, dict) else observations[index]
        with model._autocast():
            loss = policy.flow_matching_loss(policy.features(batch_obs), targets[index]).float()
        optimizer.zero_grad()
        loss.backward()
        th.nn.utils.clip_grad_norm_(policy.actor.parameters(), max_grad_norm)
        optimizer.step()
        if ema_tau is not None:
            polyak_update(policy.actor.parameters(), average.parameters(), ema_tau)
        logger.record_mean("pretrain/bc_loss", loss.item())
        if eval_freq > 0 and step % eval_freq == 0:
            logger.record("pretrain/step", step)
            logger.dump(step)
            if eval_callback is None:
                continue
            iterate = policy.actor_weights()
            if ema_tau is not None:  # the callback evaluates (and may keep) the average
                policy.actor.load_state_dict(average.state_dict())
            else:
                average.load_state_dict(iterate)
            if eval_callback(model, step) is False:
                stopped = True
                break
            policy.actor.load_state_dict(iterate)
    if ema_tau is not None and not stopped:
        policy.actor.load_state_dict(average.state_dict())
    for target in (policy.actor_target, policy.actor_slow):
        target.load_state_dict(policy.actor.state_dict())
    policy.set_training_mode(False)
    return step
