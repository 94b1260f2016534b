"""RL Zoo (``rl_zoo3``) integration of OGPO.

Installed normally (``pip install sb3_ogpo`` or ``pip install -e .``), a ``.pth`` start-up hook
(:mod:`sb3_ogpo.zoo.hook`) registers the ``ogpo`` algorithm whenever ``rl_zoo3`` is imported, so the
zoo's own commands work unchanged::

    python -m rl_zoo3.train --algo ogpo --env AdroitHandDoor-v1
    python -m rl_zoo3.enjoy --algo ogpo --env AdroitHandDoor-v1 -f logs/
    python -m rl_zoo3.train --algo ogpo --env PointMassMultimodal-v0 -optimize --n-trials 20

Where ``.pth`` files are not processed (``python -S``, some embedded interpreters, or with
``SB3_OGPO_ZOO_HOOK=0``), call :func:`register` before using the zoo, or run
``zoo_scripts/train.py``/``zoo_scripts/enjoy.py``.

Hyperparameters: ``hyperparams/ogpo.yml`` (CPU-practical defaults, used when no ``-conf`` is given)
and ``hyperparams/ogpo_paper.yml`` (the released per-task settings; pass it with ``-conf``).
With ``-optimize`` the study maximizes the evaluation success rate (see
:func:`sb3_ogpo.zoo.integration.ogpo_objective`).
"""

from typing import Any

__all__ = ["register", "default_config_path", "paper_config_path"]


def register() -> None:
    """Register OGPO into RL Zoo explicitly (see :func:`sb3_ogpo.zoo.integration.register`)."""
    from sb3_ogpo.zoo.integration import register as _register

    _register()


def default_config_path() -> str:
    """Path of the package's ``hyperparams/ogpo.yml``."""
    from sb3_ogpo.zoo.integration import default_config_path as _default_config_path

    return _default_config_path()


def paper_config_path() -> str:
    """Path of the package's ``hyperparams/ogpo_paper.yml`` (the released per-task settings)."""
    import os

    return os.path.join(os.path.dirname(default_config_path()), "ogpo_paper.yml")


def __getattr__(name: str) -> Any:
    if name in ("sample_ogpo_params", "convert_ogpo_params"):
        from sb3_ogpo.zoo import hyperparams_opt

        return getattr(hyperparams_opt, name)
    raise AttributeError(f"module 'sb3_ogpo.zoo' has no attribute {name!r}")
