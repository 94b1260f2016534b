"""Optuna search space of OGPO for RL Zoo (``python -m rl_zoo3.train --algo ogpo -optimize``).

:func:`sample_ogpo_params` is registered as ``rl_zoo3.hyperparams_opt.HYPERPARAMS_SAMPLER["ogpo"]``
and :func:`convert_ogpo_params` as ``HYPERPARAMS_CONVERTER["ogpo"]`` (used by ``--trial-id`` to turn
a stored trial's params back into constructor kwargs). The sampled values override the YAML entry of
the task; everything else (``denoising_steps``, ``chunk_size``, ``gamma``, nets, ``init_policy``...)
stays as configured there, since those are task properties rather than tuning knobs.

Ranges are centred on the paper's values (actor lr 4.5e-5, eps 0.01, sigma 0.05, N_group 32,
tau_actor 0.005, tau_critic 0.05, UTD 1) and span roughly an order of magnitude around them.
"""

from __future__ import annotations

from typing import Any

#: Search space: name -> (kind, arguments). Kept as data so the tests and docs can read it.
SEARCH_SPACE: dict[str, tuple[str, dict[str, Any]]] = {
    "learning_rate": ("float", dict(low=1e-5, high=3e-4, log=True)),
    "critic_learning_rate": ("float", dict(low=1e-5, high=1e-3, log=True)),
    "clip_range": ("float", dict(low=2e-3, high=5e-2, log=True)),
    "sde_sigma": ("float", dict(low=0.01, high=0.2, log=True)),
    "n_group": ("categorical", dict(choices=[8, 16, 32])),
    "success_bc_coef": ("categorical", dict(choices=[0.0, 0.1, 1.0])),
    # When the policy-gradient term joins the success-BC term (0: from the first update, the paper).
    "policy_gradient_starts": ("categorical", dict(choices=[0, 2000, 10000, 100000])),
    "advantage": ("categorical", dict(choices=["vanilla", "conservative"])),
    "critic_utd": ("int", dict(low=1, high=4)),
    "actor_utd": ("int", dict(low=1, high=2)),
    "tau_actor": ("float", dict(low=1e-3, high=5e-2, log=True)),
    "tau_critic": ("float", dict(low=5e-3, high=1e-1, log=True)),
}

#: The search space of SFT on Best-of-N (``--algo bon_sft``): no policy-gradient knobs.
BON_SFT_SEARCH_SPACE: dict[str, tuple[str, dict[str, Any]]] = {
    "learning_rate": SEARCH_SPACE["learning_rate"],
    "critic_learning_rate": SEARCH_SPACE["critic_learning_rate"],
    "sde_sigma": SEARCH_SPACE["sde_sigma"],
    "best_of_n": ("categorical", dict(choices=[4, 8, 16])),
    "success_bc_coef": SEARCH_SPACE["success_bc_coef"],
    "critic_utd": SEARCH_SPACE["critic_utd"],
    "tau_actor": SEARCH_SPACE["tau_actor"],
    "tau_critic": SEARCH_SPACE["tau_critic"],
}

_INT_PARAMS = ("n_group", "critic_utd", "actor_utd", "policy_gradient_starts", "best_of_n", "batch_size")
_FLOAT_PARAMS = (
    "learning_rate",
    "critic_learning_rate",
    "clip_range",
    "sde_sigma",
    "success_bc_coef",
    "tau_actor",
    "tau_critic",
    "tau",
    "gamma",
)


def sample_ogpo_params(trial: Any, n_actions: int, n_envs: int, additional_args: dict) -> dict[str, Any]:
    """Sample OGPO hyperparameters (RL Zoo's sampler signature).

    :param trial: the Optuna trial.
    :param n_actions: action dimension (unused: OGPO needs no action noise).
    :param n_envs: number of training envs (unused).
    :param additional_args: the zoo's extra arguments (HER flags; unused).
    :return: constructor keyword arguments of :class:`sb3_ogpo.OGPO`.
    """
    del n_actions, n_envs, additional_args
    return _sample(trial, SEARCH_SPACE)


def sample_bon_sft_params(trial: Any, n_actions: int, n_envs: int, additional_args: dict) -> dict[str, Any]:
    """Sample hyperparameters of :class:`sb3_ogpo.bon_sft.BestOfNSFT` (RL Zoo's sampler signature)."""
    del n_actions, n_envs, additional_args
    return _sample(trial, BON_SFT_SEARCH_SPACE)


def _sample(trial: Any, space: dict[str, tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for name, (kind, arguments) in space.items():
        if kind == "float":
            params[name] = trial.suggest_float(name, **arguments)
        elif kind == "int":
            params[name] = trial.suggest_int(name, **arguments)
        else:
            params[name] = trial.suggest_categorical(name, **arguments)
    return convert_ogpo_params(params)


def convert_ogpo_params(params: dict[str, Any]) -> dict[str, Any]:
    """Map a trial's stored params back to constructor kwargs (RL Zoo's converter signature; every algorithm of
    the package).

    The sampled names are the constructor's own, so this only restores types (storages may give
    floats for ints) and drops nothing: unknown keys pass through, so trials of an older search
    space still reload.
    """
    hyperparams = dict(params)
    for name in _INT_PARAMS:
        if name in hyperparams:
            hyperparams[name] = int(hyperparams[name])
    for name in _FLOAT_PARAMS:
        if name in hyperparams:
            hyperparams[name] = float(hyperparams[name])
    if "advantage" in hyperparams:
        hyperparams["advantage"] = str(hyperparams["advantage"])
    return hyperparams


#: The search space of the SAC-based methods (``--algo dsrl``, ``--algo residual_sac``).
SAC_SEARCH_SPACE: dict[str, tuple[str, dict[str, Any]]] = {
    "learning_rate": ("float", dict(low=3e-5, high=1e-3, log=True)),
    "batch_size": ("categorical", dict(choices=[64, 128, 256])),
    "tau": ("float", dict(low=1e-3, high=2e-2, log=True)),
    "gamma": ("categorical", dict(choices=[0.95, 0.98, 0.99])),
}


def sample_sac_params(trial: Any, n_actions: int, n_envs: int, additional_args: dict) -> dict[str, Any]:
    """Sample hyperparameters of :class:`sb3_ogpo.dsrl.DSRL` / :class:`sb3_ogpo.residual.ResidualSAC` (SAC's
    knobs; the wrapper's ``action_magnitude`` / ``residual_scale`` stay as the YAML's env_wrapper sets them)."""
    del n_actions, n_envs, additional_args
    return _sample(trial, SAC_SEARCH_SPACE)


#: RL Zoo algorithm key -> its sampler (all share :func:`convert_ogpo_params`).
SAMPLERS = {"ogpo": sample_ogpo_params, "bon_sft": sample_bon_sft_params, "dsrl": sample_sac_params,
            "dsrl_na": sample_sac_params, "residual_sac": sample_sac_params}
