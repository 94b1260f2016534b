"""A positive control of OGPO's policy-gradient update: the same update, with a signal known to point somewhere good.

``ModeSeekingCritic`` is an SB3 callback that, for the whole run, makes the target critics score each chunk of an
actor step's groups by minus its distance from its group's mean chunk (the same value for every ensemble member).
The group advantage then favours the chunks nearest the centre of the flow's distribution at that state: a push
towards the flow's mode, which succeeds 0.88 on Door's clipped start against 0.46 for N(0, I) draws
(docs/benchmarks.md, session 12). Everything else (sampler, chain log-probs, clipped surrogate, EMA, success-BC,
critic training, TD targets) runs as in the entry; critic calls outside the actor step (TD targets, Best-of-N) keep
the trained critics.

If this run rises where the critics' run does not, the update can raise the task and the critics' signal is what
fails; if it does not rise either, the update itself (its step sizes, clip, budget) is too weak at this scale.

    python benchmarks/finetune_controls.py --env AdroitHandDoorSparse-v1 --variant mode_seeking --seed 0 -n 40000
"""

from __future__ import annotations

from typing import Any, Callable

import torch as th
from stable_baselines3.common.callbacks import BaseCallback


def mode_seeking_values(chunks: th.Tensor, n_group: int, n_members: int) -> th.Tensor:
    """Values ``(n_members, G * B)`` of sample-major chunks ``(G * B, d)``: minus each chunk's distance from the mean
    chunk of its group (the G chunks of one state)."""
    grouped = chunks.float().view(n_group, -1, chunks.shape[-1])
    distance = (grouped - grouped.mean(0, keepdim=True)).norm(dim=-1)
    return (-distance).reshape(1, -1).expand(n_members, -1)


def use_mode_seeking_values(model: Any, actor_rows: int) -> Callable[[], None]:
    """Make ``model``'s target critics return :func:`mode_seeking_values` for calls with ``actor_rows`` chunks (the
    actor step's N_batch x N_group); other calls (TD targets, Best-of-N) keep the trained critics. Returns the undo."""
    critic = model.policy.critic_target
    trained_forward = critic.forward

    def forward(features: th.Tensor, actions: th.Tensor) -> th.Tensor:
        if actions.shape[0] != actor_rows:
            return trained_forward(features, actions)
        return mode_seeking_values(actions, model.n_group, model.policy.n_critics).to(actions.dtype)

    critic.forward = forward

    def undo() -> None:
        critic.forward = trained_forward

    return undo


class ModeSeekingCritic(BaseCallback):
    """Replace the target critics' values in OGPO's actor step by :func:`mode_seeking_values` (see the module)."""

    def _on_training_start(self) -> None:
        algorithm: Any = self.model
        actor_rows = algorithm.n_group * algorithm.batch_size
        if actor_rows == (algorithm.critic_batch_size or algorithm.batch_size) * algorithm.n_target_samples:
            raise ValueError("ModeSeekingCritic tells the actor step's critic calls by their rows: make n_group * "
                             "batch_size differ from critic_batch_size * n_target_samples.")
        use_mode_seeking_values(algorithm, actor_rows)

    def _on_step(self) -> bool:
        return True
