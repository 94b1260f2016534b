"""Evaluate other actors of an OGPO run (its slow EMA, its current actor) beside RL Zoo's own evaluation, without
changing the run.

``ActorEval`` is an SB3 callback for RL Zoo's ``callback`` hyperparameter. Every ``eval_freq`` steps it evaluates
each actor in ``actors`` (``deterministic_actor`` names: "current", "ema", "slow") with the deterministic ODE on
``n_eval_episodes`` episodes of its own evaluation env, made as RL Zoo makes the run's (same env id, wrapper and
seed: the same episodes), each actor from the same torch random state (the same flow noise), and writes
``eval_<actor>/evaluations.npz`` in the run's folder (the format of ``EvalCallback``: ``benchmarks/plot_success.py``
reads it as a run). The torch random state is restored after each evaluation, so the run trains, collects and is
evaluated by RL Zoo exactly as without the callback: its curves and these are evaluations of one training run.

    python -m rl_zoo3.train --algo ogpo --env AdroitHandDoorSparse-v1 --seed 1 --eval-freq 5000 --eval-episodes 64 \
        -f runs/door -n 40000 -params "callback:'actor_eval.ActorEval'"            # benchmarks/ on PYTHONPATH
    -params "callback:{'actor_eval.ActorEval': dict(actors=['slow', 'current'], eval_freq=5000, n_eval_episodes=64)}"
"""

from __future__ import annotations

import os
from typing import Any, Optional, Sequence

import gymnasium as gym
import numpy as np
import torch as th
from stable_baselines3.common.callbacks import BaseCallback, EvalCallback
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.logger import Logger
from stable_baselines3.common.monitor import Monitor


def _run_folder_and_env(training_env: Any) -> tuple[str, str, Optional[type]]:
    """The run's folder (where RL Zoo's Monitor writes), env id and outer wrapper class of the first training env."""
    env = training_env.envs[0]
    wrapper = None if isinstance(env, Monitor) else type(env)
    layer = env
    while not isinstance(layer, Monitor):
        if not isinstance(layer, gym.Wrapper):
            raise ValueError("ActorEval needs RL Zoo's training env (a Monitor inside the env wrapper); pass log_path.")
        layer = layer.env
    if wrapper is not None and layer is not env.env:
        raise ValueError("ActorEval rebuilds one env wrapper outside the Monitor; this env has more: pass log_path.")
    folder = os.path.dirname(layer.results_writer.file_handler.name) if layer.results_writer is not None else ""
    return folder, env.unwrapped.spec.id, wrapper


class _UnloggedEvalCallback(EvalCallback):
    """``EvalCallback`` that writes only its evaluations.npz: RL Zoo's own evaluation owns eval/* in the run's log."""

    _silent = Logger(folder=None, output_formats=[])

    @property
    def logger(self) -> Logger:
        return self._silent


class ActorEval(BaseCallback):
    """Evaluate ``actors`` every ``eval_freq`` steps on ``n_eval_episodes`` episodes, leaving the run unchanged.

    :param actors: ``deterministic_actor`` names to evaluate ("current", "ema", "slow").
    :param eval_freq: steps between evaluations (RL Zoo's ``--eval-freq`` with one env).
    :param n_eval_episodes: episodes per evaluation (RL Zoo's ``--eval-episodes``).
    :param log_path: folder of the ``eval_<actor>`` folders (default: the run's folder, found from its Monitor).
    """

    def __init__(self, actors: Sequence[str] = ("slow",), eval_freq: int = 5000, n_eval_episodes: int = 64,
                 log_path: Optional[str] = None, verbose: int = 0):
        super().__init__(verbose)
        self.actors = list(actors)
        self.eval_freq = int(eval_freq)
        self.n_eval_episodes = int(n_eval_episodes)
        self.log_path = log_path
        self.evaluators: dict[str, EvalCallback] = {}

    def _init_callback(self) -> None:
        folder, env_id, wrapper = _run_folder_and_env(self.training_env)
        folder = self.log_path or folder
        if not folder:
            raise ValueError("ActorEval found no Monitor file to put its evaluations beside: pass log_path.")
        for actor in self.actors:
            eval_env = make_vec_env(env_id, n_envs=1, seed=self.model.seed, wrapper_class=wrapper)
            evaluator = _UnloggedEvalCallback(eval_env, n_eval_episodes=self.n_eval_episodes, eval_freq=self.eval_freq,
                                     log_path=os.path.join(folder, f"eval_{actor}"), deterministic=True, verbose=0)
            evaluator.init_callback(self.model)
            self.evaluators[actor] = evaluator

    def _on_step(self) -> bool:
        if self.n_calls % self.eval_freq != 0:
            return all(evaluator.on_step() for evaluator in self.evaluators.values())  # counts the step only
        policy = self.model.policy
        own_actor, rng_state = policy.deterministic_actor, th.get_rng_state()
        try:
            for actor, evaluator in self.evaluators.items():
                th.set_rng_state(rng_state)  # every actor gets the same flow noise
                policy.deterministic_actor = actor
                evaluator.on_step()
                if self.verbose:
                    print(f"ActorEval: {actor} actor at {self.num_timesteps} steps, success "
                          f"{np.mean(evaluator.evaluations_successes[-1]):.2f}", flush=True)
        finally:
            policy.deterministic_actor = own_actor
            th.set_rng_state(rng_state)
        return True
