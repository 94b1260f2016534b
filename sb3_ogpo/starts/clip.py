"""Clipping: behaviour cloning stopped at the first periodic evaluation that reaches a success threshold,
and the final measurement of the kept policy under a success cap."""

from __future__ import annotations

import collections
import dataclasses
import time
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Optional

import numpy as np

from sb3_ogpo.common.evaluation import EvalResult
from sb3_ogpo.starts.config import DEFAULT_THRESHOLD

if TYPE_CHECKING:  # pragma: no cover
    import gymnasium as gym
    from stable_baselines3.common.vec_env import VecEnv

    from sb3_ogpo.common.demonstrations import Demonstrations
    from sb3_ogpo.ogpo import OGPO

Snapshot = tuple[int, dict[str, Any]]  # (BC step, actor weights)


def _evaluate_success(*args: Any, **kwargs: Any) -> EvalResult:
    """``sb3_ogpo.starts.evaluate_success``, looked up at each call so that replacing it there (as the tests
    do) replaces every evaluation the starts make."""
    from sb3_ogpo import starts

    return starts.evaluate_success(*args, **kwargs)


def _write(text: str) -> None:
    from tqdm.auto import tqdm

    tqdm.write(text)


@dataclass
class ClipResult:
    """Outcome of :func:`clip_bc`.

    :param steps: BC gradient steps of the kept policy.
    :param reached: whether an evaluation reached the threshold (BC stopped there).
    :param success: success rate of the kept policy's evaluation (None if none ran).
    :param history: one dict per evaluation: ``step``, ``success_rate``, ``episodes``, ``successes``,
        ``decided_early``, ``passed``, ``refined`` (an evaluation of a snapshot) and ``bc_loss``.
    :param evaluation: the history entry of the kept policy.
    :param earlier: (step, actor weights) of the last policies evaluated below the threshold, oldest first.
    """

    steps: int
    reached: bool
    success: Optional[float]
    threshold: Optional[float]
    max_steps: int
    eval_freq: int
    history: list[dict[str, Any]] = field(default_factory=list)
    time_s: float = 0.0
    evaluation: Optional[dict[str, Any]] = None
    earlier: list[Snapshot] = field(default_factory=list, repr=False)


def bc_loss_probe(model: OGPO, demos: Demonstrations, n: int = 1024, seed: int = 0) -> Callable[[OGPO], float]:
    """The flow-matching BC loss of a model on a fixed subset of ``demos`` with fixed noise (a diagnostic
    recorded with each evaluation: it tells under-fitting from compounding errors)."""
    import torch as th

    from sb3_ogpo.common.demonstrations import map_observations
    from sb3_ogpo.common.tensors import obs_to_device
    from sb3_ogpo.ogpo.losses import chunk_targets

    rows = np.random.default_rng(seed).permutation(len(demos))[:n]
    actions = np.clip(model.policy.scale_action(demos.actions.astype(np.float32)), -1.0, 1.0)
    targets = th.as_tensor(chunk_targets(actions, demos.episode_starts, model.chunk_size)[rows], device=model.device)
    observations = obs_to_device(map_observations(demos.observations, lambda array: array[rows]), model.device)
    devices = [model.device] if model.device.type == "cuda" else []

    def probe(current: OGPO) -> float:
        with th.no_grad(), th.random.fork_rng(devices=devices):
            th.manual_seed(seed)
            return float(current.policy.flow_matching_loss(current.policy.features(observations), targets))

    return probe


class BCClipper:
    """The evaluation callback of :meth:`OGPO.pretrain_bc` that stops BC at the threshold, and its state.

    Every ``eval_freq`` steps the policy is evaluated; with ``refine > 1`` it is also snapshotted every
    ``eval_freq // refine`` steps, and when an evaluation reaches the threshold the snapshots since the
    previous evaluation are evaluated in order: BC stops at the first that reaches it (its weights are restored).
    Arguments as in :func:`clip_bc`.
    """

    def __init__(self, model: OGPO, demos: Demonstrations, eval_env: gym.Env | VecEnv, threshold: Optional[float],
                 eval_freq: int, max_steps: int, eval_episodes: int, *, refine: int = 1, keep_earlier: int = 4,
                 eval_seed: Optional[int] = 0, verbose: int = 0) -> None:
        if max_steps < 1:
            raise ValueError(f"max_steps must be positive, got {max_steps}.")
        if threshold is not None and eval_freq < 1:
            raise ValueError(f"Clipping at a threshold needs eval_freq >= 1, got {eval_freq}.")
        if refine < 1 or (refine > 1 and eval_freq % refine):
            raise ValueError(f"refine must be a positive divisor of eval_freq ({eval_freq}), got {refine}.")
        self.model, self.demos, self.eval_env = model, demos, eval_env
        self.threshold, self.eval_freq, self.max_steps, self.eval_episodes = threshold, eval_freq, max_steps, eval_episodes
        self.refine, self.keep_earlier, self.eval_seed, self.verbose = refine, keep_earlier, eval_seed, verbose
        self.bc_loss = bc_loss_probe(model, demos)
        self.history: list[dict[str, Any]] = []
        self.snapshots: list[Snapshot] = []  # taken since the last evaluation
        self.earlier: collections.deque[Snapshot] = collections.deque(maxlen=keep_earlier)
        self.reached_at: Optional[int] = None  # step of the policy that reached the threshold
        self.kept: Optional[dict[str, Any]] = None  # the history entry of the kept policy

    def evaluate(self, model: OGPO, step: int, refined: bool) -> bool:
        """Evaluate the current policy, record it and return whether it reaches the threshold."""
        result = _evaluate_success(model, self.eval_env, self.eval_episodes, seed=self.eval_seed, threshold=self.threshold)
        passed = result.passed if result.passed is not None else result.success_rate >= self.threshold
        if not passed and self.keep_earlier:
            self.earlier.append((step, model.policy.actor_weights()))
        loss = self.bc_loss(model)
        self.history.append({"step": step, **dataclasses.asdict(result), "passed": passed, "refined": refined,
                             "bc_loss": loss})
        if passed or not refined:
            self.kept = dict(self.history[-1])
        if self.verbose:
            early = f" (of {self.eval_episodes}, decided early)" if result.decided_early else ""
            _write(f"BC step {step}{' (snapshot)' if refined else ''}: success {result.successes}/{result.episodes} = "
                   f"{result.success_rate:.2f}{early}, BC loss {loss:.4f}" + (f" >= {self.threshold}" if passed else ""))
        return passed

    def __call__(self, model: OGPO, step: int) -> bool:
        """The ``eval_callback``: False stops BC."""
        if step % self.eval_freq:  # a snapshot between two evaluations
            self.snapshots.append((step, model.policy.actor_weights()))
            return True
        if not self.evaluate(model, step, refined=False):
            self.snapshots.clear()
            return True
        self.reached_at = step
        if self.snapshots:
            latest = model.policy.actor_weights()
            for snap_step, state in self.snapshots:
                model.policy.actor.load_state_dict(state)
                if self.evaluate(model, snap_step, refined=True):
                    self.reached_at = snap_step
                    break
            else:
                model.policy.actor.load_state_dict(latest)
        if self.verbose:
            _write(f"BC stops: the policy of step {self.reached_at} is the start.")
        return False

    def run(self, learning_rate: float = 1e-3, batch_size: int = 256, ema_tau: Optional[float] = None,
            progress_bar: bool = False) -> ClipResult:
        """Run BC with this callback and return the outcome."""
        start = time.perf_counter()
        steps = self.model.pretrain_bc(
            self.demos,
            gradient_steps=self.max_steps,
            batch_size=batch_size,
            learning_rate=learning_rate,
            eval_freq=(self.eval_freq // self.refine) if self.threshold is not None else 0,
            eval_callback=self,
            progress_bar=progress_bar,
            ema_tau=ema_tau,
        )
        elapsed = time.perf_counter() - start
        reached = self.reached_at is not None
        if self.threshold is not None and not reached:
            history = self.history
            last = f"{history[-1]['success_rate']:.2f} at step {history[-1]['step']}" if history else "never evaluated"
            best = max((entry["success_rate"] for entry in history), default=float("nan"))
            warnings.warn(
                f"BC did not reach success {self.threshold} within {self.max_steps} steps (last evaluation {last}, "
                f"best {best:.2f}); keeping the last policy as the start."
            )
        return ClipResult(
            steps=self.reached_at if reached else steps,
            reached=reached,
            success=self.kept["success_rate"] if self.kept else None,
            evaluation=dict(self.kept) if self.kept else None,
            threshold=self.threshold,
            max_steps=self.max_steps,
            eval_freq=self.eval_freq,
            history=self.history,
            time_s=elapsed,
            earlier=list(self.earlier),
        )


def clip_bc(
    model: OGPO,
    demos: Demonstrations,
    eval_env: gym.Env | VecEnv,
    threshold: Optional[float] = DEFAULT_THRESHOLD,
    eval_freq: int = 500,
    max_steps: int = 20_000,
    eval_episodes: int = 20,
    *,
    refine: int = 1,
    keep_earlier: int = 4,
    learning_rate: float = 1e-3,
    batch_size: int = 256,
    ema_tau: Optional[float] = None,
    eval_seed: Optional[int] = 0,
    progress_bar: bool = False,
    verbose: int = 0,
) -> ClipResult:
    """Behaviour cloning of ``model`` on ``demos``, stopped at the first periodic evaluation whose
    success rate is >= ``threshold`` (the clipped start).

    Every ``eval_freq`` BC steps the policy is evaluated on ``eval_episodes`` episodes of ``eval_env``
    (:func:`evaluate_success`, re-seeded with ``eval_seed`` each time so evaluations are comparable). If
    ``max_steps`` pass without reaching the threshold the last policy is kept, ``reached`` is False and a
    warning says so. ``threshold=None`` trains ``max_steps`` steps without evaluating.

    :param refine: with ``refine > 1`` the actor is also snapshotted every ``eval_freq // refine`` steps and
        the snapshots before a passing evaluation are evaluated too (see :class:`BCClipper`).
    :param keep_earlier: keep the weights of the last this many policies evaluated below the threshold
        (``ClipResult.earlier``), for :func:`measure_start`'s success cap.
    :param ema_tau: clip the EMA of the BC iterates instead of the last iterate (every evaluation and
        snapshot is of the average; see :meth:`OGPO.pretrain_bc`).
    """
    clipper = BCClipper(model, demos, eval_env, threshold, eval_freq, max_steps, eval_episodes, refine=refine,
                        keep_earlier=keep_earlier, eval_seed=eval_seed, verbose=verbose)
    return clipper.run(learning_rate=learning_rate, batch_size=batch_size, ema_tau=ema_tau, progress_bar=progress_bar)


@dataclass
class Measurement:
    """The success of a start on fresh episodes.

    :param result: the measurement of the kept policy.
    :param steps: BC steps of the kept policy.
    :param capped: ``{"step", "success"}`` of each policy measured above the cap (an earlier one was kept).
    :param time_s: wall-clock of the measurements.
    """

    result: EvalResult
    steps: int
    capped: list[dict[str, Any]]
    time_s: float


def measure_start(model: OGPO, clip: ClipResult, eval_env: gym.Env | VecEnv, episodes: int, seed: Optional[int],
                  max_success: Optional[float], *, name: str = "the start", verbose: int = 0) -> Measurement:
    """Measure the clipped policy of ``model`` on ``episodes`` episodes; while it measures above ``max_success``,
    load and measure the policies of ``clip.earlier`` in turn (latest first) and keep the first at or below it."""
    start = time.perf_counter()
    result = _evaluate_success(model, eval_env, episodes, seed=seed)
    steps, capped = clip.steps, []
    earlier = list(clip.earlier)
    while max_success is not None and result.success_rate > max_success and earlier:
        capped.append({"step": steps, "success": result.success_rate})
        steps, state = earlier.pop()
        model.policy.load_actor_weights(state)
        if verbose:
            print(f"{name}: success {capped[-1]['success']:.2f} > {max_success}: measuring the policy "
                  f"of BC step {steps} instead ...")
        result = _evaluate_success(model, eval_env, episodes, seed=seed)
    if max_success is not None and result.success_rate > max_success:
        warnings.warn(f"The start of {name} measures {result.success_rate:.2f} > max_success "
                      f"{max_success} and no earlier policy is left to fall back on.")
    return Measurement(result=result, steps=steps, capped=capped, time_s=time.perf_counter() - start)
