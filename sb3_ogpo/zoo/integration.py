"""Registration of OGPO into RL Zoo (``rl_zoo3``), applied module by module.

:mod:`sb3_ogpo.zoo.hook` calls :func:`patch_module` right after each watched ``rl_zoo3`` module has
run (and :func:`patch_code` on the code of ``enjoy``/``record_video``/``push_to_hub`` before it
runs); :func:`register` does the same explicitly for modules already imported and installs the hook
for the others (no ``.pth`` needed). Every step is idempotent.

What is registered, for the algorithm key ``"ogpo"``:

* ``rl_zoo3.ALGOS["ogpo"] = sb3_ogpo.OGPO`` (importing :mod:`sb3_ogpo` also registers the env ids);
* ``HYPERPARAMS_SAMPLER["ogpo"]``/``HYPERPARAMS_CONVERTER["ogpo"]`` from
  :mod:`sb3_ogpo.zoo.hyperparams_opt`;
* ``ExperimentManager``: without ``-conf``, ``--algo ogpo`` reads the package's ``hyperparams/ogpo.yml``
  (the zoo would look for ``rl_zoo3/hyperparams/ogpo.yml``); ``--trial-id 0`` is honoured (the zoo
  drops it with a truthiness test); hyperparameter optimization uses :func:`ogpo_objective`, which
  optimizes the evaluation **success rate** and prunes trials that fail numerically, and a study in
  which no trial completed ends with a message instead of the zoo's ``best_trial`` traceback;
* ``"ogpo"`` joins the off-policy list of ``enjoy``/``record_video``/``push_to_hub`` (load with a
  1-transition buffer instead of allocating the full replay buffer; one env for ``push_to_hub``).
"""

from __future__ import annotations

import functools
import inspect
import math
import os
import sys
import types
import warnings
from pathlib import Path
from pprint import pprint
from typing import Any

ALGO = "ogpo"
#: The package's algorithms for RL Zoo: key -> "module:Class" (imported on registration).
ALGORITHMS: dict[str, str] = {
    ALGO: "sb3_ogpo.ogpo:OGPO",
    "bon_sft": "sb3_ogpo.bon_sft:BestOfNSFT",
    "dsrl": "sb3_ogpo.dsrl:DSRL",
    "dsrl_na": "sb3_ogpo.dsrl:DSRLNA",
    "residual_sac": "sb3_ogpo.residual:ResidualSAC",
}

#: Exceptions that turn a trial into a pruned trial instead of ending the study. The zoo itself only
#: catches AssertionError/ValueError, and only around ``learn``; OGPO's constructor raises ValueError
#: on inconsistent settings, torch raises RuntimeError on NaN/inf inputs to some ops (and on
#: out-of-memory), numpy may raise FloatingPointError.
PRUNED_EXCEPTIONS: tuple[type[BaseException], ...] = (AssertionError, ValueError, RuntimeError, FloatingPointError)

_OFF_POLICY_ALGOS = ("qrdqn", "dqn", "ddpg", "sac", "her", "td3", "tqc")
_PATCHED_FLAG = "_sb3_ogpo_patched"


# ----- locating the config -------------------------------------------------------------------------
def default_config_path(algo: str = ALGO) -> str:
    """``hyperparams/<algo>.yml`` of this package (``ogpo.yml`` by default).

    Regular installs ship it inside the package (``sb3_ogpo/hyperparams/``); in a source checkout
    (and an editable install) it lives at the repository root (``hyperparams/``), the same layout
    as rl_zoo3's own.
    """
    package_dir = Path(__file__).resolve().parent.parent
    for candidate in (package_dir / "hyperparams" / f"{algo}.yml", package_dir.parent / "hyperparams" / f"{algo}.yml"):
        if candidate.is_file():
            return str(candidate)
    raise FileNotFoundError(f"hyperparams/{algo}.yml not found next to {package_dir}")


# ----- per-module patches --------------------------------------------------------------------------
def patch_module(name: str, module: types.ModuleType) -> None:
    """Register OGPO into the freshly executed ``rl_zoo3`` module ``name``."""
    patcher = _MODULE_PATCHERS.get(name)
    if patcher is not None:
        patcher(module)


def patch_code(name: str, code: types.CodeType) -> types.CodeType:
    """Add ``"ogpo"`` to the off-policy list in the code of ``rl_zoo3.enjoy`` & co.

    The list is a local variable (``off_policy_algos = ["qrdqn", ..., "tqc"]``), compiled to one
    tuple constant; every code object holding that exact tuple gets a copy with ``"ogpo"`` appended.
    If rl_zoo3 changes the list, nothing matches and the code is returned unchanged.
    """
    del name
    return _replace_const(code, _OFF_POLICY_ALGOS, (*_OFF_POLICY_ALGOS, *ALGORITHMS))


def _replace_const(code: types.CodeType, old: tuple, new: tuple) -> types.CodeType:
    changed = False
    consts = []
    for const in code.co_consts:
        if isinstance(const, tuple) and const == old:
            const, changed = new, True
        elif isinstance(const, types.CodeType):
            replaced = _replace_const(const, old, new)
            changed = changed or replaced is not const
            const = replaced
        consts.append(const)
    return code.replace(co_consts=tuple(consts)) if changed else code


def _patch_off_policy_functions(module: types.ModuleType) -> None:
    """Same as :func:`patch_code`, on the functions of an already imported module."""
    for value in vars(module).values():
        if isinstance(value, types.FunctionType) and value.__module__ == module.__name__:
            value.__code__ = patch_code(module.__name__, value.__code__)


def _algorithm_class(algo: str) -> type:
    import importlib

    import sb3_ogpo  # noqa: F401  (importing sb3_ogpo registers the env ids, and gymnasium-robotics')

    module, name = ALGORITHMS[algo].split(":")
    return getattr(importlib.import_module(module), name)


def _patch_rl_zoo3(module: types.ModuleType) -> None:
    """``ALGOS["ogpo"]``, ``ALGOS["bon_sft"]`` (the dict shared by rl_zoo3.utils, train, enjoy and exp_manager)."""
    algos = module.ALGOS
    for algo in ALGORITHMS:
        algorithm = _algorithm_class(algo)
        if algos.get(algo) is not algorithm:
            if algo in algos:
                warnings.warn(f"rl_zoo3 already had an algorithm {algo!r} ({algos[algo]}); replacing it with {algorithm}")
            algos[algo] = algorithm


def _patch_hyperparams_opt(module: types.ModuleType) -> None:
    from sb3_ogpo.zoo.hyperparams_opt import SAMPLERS, convert_ogpo_params

    for algo, sampler in SAMPLERS.items():
        module.HYPERPARAMS_SAMPLER[algo] = sampler
        module.HYPERPARAMS_CONVERTER[algo] = convert_ogpo_params


class _TrialNumber(int):
    """An int that is always truthy: the zoo tests ``if ... and self.trial_id`` (drops trial 0)."""

    def __bool__(self) -> bool:
        return True


def _patch_exp_manager(module: types.ModuleType) -> None:
    manager_cls = module.ExperimentManager
    if getattr(manager_cls, _PATCHED_FLAG, False):
        return
    original_init = manager_cls.__init__
    original_objective = manager_cls.objective
    original_optimization = manager_cls.hyperparameters_optimization
    signature = inspect.signature(original_init)

    @functools.wraps(original_init)
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        if self.algo not in ALGORITHMS:
            return
        try:
            config = signature.bind(self, *args, **kwargs).arguments.get("config")
        except TypeError:
            config = None
        if config is None:
            self.config = default_config_path(self.algo)
        if self.trial_id is not None and self.trial_id == 0:
            self.trial_id = _TrialNumber(0)

    @functools.wraps(original_objective)
    def objective(self, trial: Any) -> float:
        if self.algo in ALGORITHMS:
            return ogpo_objective(self, trial)
        return original_objective(self, trial)

    @functools.wraps(original_optimization)
    def hyperparameters_optimization(self) -> None:
        try:
            original_optimization(self)
        except ValueError as error:
            # The zoo's report reads `study.best_trial`, which raises when every trial was pruned or
            # failed: the study itself is intact, so report that instead of a traceback.
            if self.algo not in ALGORITHMS or "No trials are completed yet" not in str(error):
                raise
            print("No trial completed: every trial was pruned or failed (see the trials' 'error' attribute).")

    manager_cls.__init__ = __init__
    manager_cls.objective = objective
    manager_cls.hyperparameters_optimization = hyperparameters_optimization
    setattr(manager_cls, _PATCHED_FLAG, True)


_MODULE_PATCHERS = {
    "rl_zoo3": _patch_rl_zoo3,
    "rl_zoo3.hyperparams_opt": _patch_hyperparams_opt,
    "rl_zoo3.exp_manager": _patch_exp_manager,
    "rl_zoo3.enjoy": _patch_off_policy_functions,
    "rl_zoo3.record_video": _patch_off_policy_functions,
    "rl_zoo3.push_to_hub": _patch_off_policy_functions,
}


def register() -> None:
    """Register OGPO into RL Zoo explicitly (what the ``.pth`` hook does automatically).

    Patches the watched ``rl_zoo3`` modules that are already imported and installs the import hook
    for the others (even when ``SB3_OGPO_ZOO_HOOK=0`` disables the automatic one). Errors propagate.
    """
    from sb3_ogpo.zoo import hook

    hook.install(force=True)
    import rl_zoo3  # noqa: F401  (patched by the hook if it was not imported yet)

    for name in _MODULE_PATCHERS:
        module = sys.modules.get(name)
        if module is not None:
            patch_module(name, module)


# ----- Optuna: optimize the success rate ----------------------------------------------------------
def _trial_eval_callback_class() -> type:
    from rl_zoo3.callbacks import TrialEvalCallback

    class SuccessTrialEvalCallback(TrialEvalCallback):
        """RL Zoo's ``TrialEvalCallback`` reporting the success rate instead of the mean reward.

        After each evaluation the value reported to the trial (and used by the pruner) is the
        fraction of evaluation episodes whose last ``info["is_success"]`` is true. Envs that do not
        report ``is_success`` fall back to the mean reward (with a warning), as in the zoo.
        """

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.last_success_rate = float("nan")
            self.metric = "success_rate"
            self.last_value = float("nan")

        def _on_step(self) -> bool:
            if not (self.eval_freq > 0 and self.n_calls % self.eval_freq == 0):
                return True
            continue_training = super(TrialEvalCallback, self)._on_step()  # EvalCallback: evaluate
            self.eval_idx += 1
            if len(self._is_success_buffer) > 0:
                self.last_success_rate = float(sum(map(float, self._is_success_buffer)) / len(self._is_success_buffer))
                self.last_value = self.last_success_rate
            else:
                if self.metric == "success_rate":
                    warnings.warn("The evaluation env reports no info['is_success']: optimizing the mean reward instead.")
                self.metric = "mean_reward"
                self.last_value = float(self.last_mean_reward)
            if math.isnan(self.last_value):
                # The pruner cannot rank NaN; stop here and let the objective prune the trial.
                return False
            self.trial.report(self.last_value, self.eval_idx)
            if self.trial.should_prune():
                self.is_pruned = True
                return False
            return continue_training

    return SuccessTrialEvalCallback


def ogpo_objective(manager: Any, trial: Any) -> float:
    """``ExperimentManager.objective`` for OGPO: returns the last evaluation's success rate.

    The zoo's objective, with three changes: the reported/returned value is the success rate
    (mean reward when the env reports no ``is_success``); model construction is inside the guarded
    block; and :data:`PRUNED_EXCEPTIONS` or a NaN result prune the trial (the error is kept in the
    trial's ``error`` user attribute) instead of ending the study. The mean reward of the last
    evaluation is stored in the ``mean_reward`` user attribute.
    """
    import optuna
    from rl_zoo3.exp_manager import HYPERPARAMS_SAMPLER
    from rl_zoo3.utils import ALGOS, get_callback_list
    from stable_baselines3 import HerReplayBuffer

    kwargs = manager._hyperparams.copy()
    n_envs = manager.n_envs
    additional_args = {
        "using_her_replay_buffer": kwargs.get("replay_buffer_class") == HerReplayBuffer,
        "her_kwargs": kwargs.get("replay_buffer_kwargs", {}),
    }
    sampled_hyperparams = HYPERPARAMS_SAMPLER[manager.algo](trial, manager.n_actions, n_envs, additional_args)
    kwargs.update(sampled_hyperparams)

    def prune(error: BaseException | str) -> optuna.exceptions.TrialPruned:
        message = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
        trial.set_user_attr("error", str(message)[:1000])
        print(message)
        print("============")
        print("Sampled hyperparams:")
        pprint(sampled_hyperparams)
        return optuna.exceptions.TrialPruned(message)

    trial_verbosity = manager.verbose if manager.verbose >= 2 else 0
    optuna_eval_freq = max(int(manager.n_timesteps / manager.n_evaluations) // n_envs, 1)
    path = None
    if manager.optimization_log_path is not None:
        path = os.path.join(manager.optimization_log_path, f"trial_{trial.number!s}")

    env = eval_env = model = None
    try:
        env = manager.create_envs(n_envs, no_log=True)
        model = ALGOS[manager.algo](
            env=env, tensorboard_log=None, seed=None, verbose=trial_verbosity, device=manager.device, **kwargs
        )
        eval_env = manager.create_envs(n_envs=manager.n_eval_envs, eval_env=True)
        callbacks = get_callback_list({"callback": manager.specified_callbacks})
        eval_callback = _trial_eval_callback_class()(
            eval_env,
            trial,
            best_model_save_path=path,
            log_path=path,
            n_eval_episodes=manager.n_eval_episodes,
            eval_freq=optuna_eval_freq,
            deterministic=manager.deterministic_eval,
        )
        callbacks.append(eval_callback)
        model.learn(manager.n_timesteps, callback=callbacks)
    except PRUNED_EXCEPTIONS as error:
        raise prune(error) from error
    finally:
        for vec_env in (env, eval_env):
            if vec_env is not None:
                try:
                    vec_env.close()
                except Exception:  # pragma: no cover - closing must not hide the real error
                    pass
        del model

    trial.set_user_attr("mean_reward", float(eval_callback.last_mean_reward))
    trial.set_user_attr("metric", eval_callback.metric)
    value = eval_callback.last_value
    if eval_callback.eval_idx == 0:
        raise prune("no evaluation ran (n_timesteps / n_evaluations is too large?)")
    if math.isnan(value):
        raise prune(f"the evaluation returned NaN ({eval_callback.metric})")
    if eval_callback.is_pruned:
        raise optuna.exceptions.TrialPruned()
    return value
