# Start-up hook that plugs OGPO into RL Zoo (``rl_zoo3``) without any action from the user.
#
# RL Zoo has no plugin entry point: its algorithm table (``rl_zoo3.utils.ALGOS``) is a plain dict that
# ``train.py`` reads when it builds ``--algo``'s choices, before ``--gym-packages`` is imported. So the
# registration has to happen while ``rl_zoo3`` itself is being imported. This module does that with a
# meta-path finder:
#
# * ``sb3_ogpo_zoo_hook.pth``, installed at the root of ``site-packages``, holds the single line
#   ``import _sb3_ogpo_zoo_hook``. That top-level module, installed next to it, is a copy of this file
#   (editable installs prefix the copy with a check that runs the source tree's file instead if it
#   has changed since installation; see ``setup.py``). Imported under that name, the module calls
#   :func:`install` (last lines). No ``sb3_ogpo/__init__`` (which imports gymnasium) and no ``importlib.util`` (4 ms) run
#   at start-up: only this byte-compiled file, about 0.2 ms.
# * :func:`install` puts a finder first on ``sys.meta_path``. For every module name but a handful of
#   ``rl_zoo3`` modules its ``find_spec`` returns ``None`` after one set lookup.
# * When one of those ``rl_zoo3`` modules is imported, the finder asks the other finders for the real
#   spec and hooks its loader: after the module has run, ``sb3_ogpo.zoo.integration.patch_module``
#   registers OGPO (``ALGOS``, ``HYPERPARAMS_SAMPLER``/``HYPERPARAMS_CONVERTER``, the default config
#   path, the success-reporting Optuna objective); for ``enjoy``/``record_video``/``push_to_hub`` the
#   code object is patched before it runs, so that ``"ogpo"`` is in their off-policy list (also under
#   ``python -m``, where runpy asks the loader for the code).
#
# This file must stay standard-library-only and must never raise: it runs inside ``site`` for every
# Python process of the environment. Failures become warnings and ``import rl_zoo3`` goes on as if
# the hook were absent. ``SB3_OGPO_ZOO_HOOK=0`` disables it. ``sb3_ogpo.zoo.register()`` does the same
# registration explicitly (``zoo_scripts/train.py``, ``zoo_scripts/enjoy.py``).
#
# Documentation is kept in comments rather than docstrings: the byte code of this file is loaded at
# every interpreter start-up, and its size is most of that cost.

import os
import sys

# Environment variable that disables the hook when set to 0, false, no or off.
DISABLE_ENV_VAR = "SB3_OGPO_ZOO_HOOK"
# Modules whose loading is hooked; everything else goes through the finder untouched.
WATCHED = frozenset(
    (
        "rl_zoo3",
        "rl_zoo3.hyperparams_opt",
        "rl_zoo3.exp_manager",
        "rl_zoo3.enjoy",
        "rl_zoo3.record_video",
        "rl_zoo3.push_to_hub",
    )
)
# Modules whose code is patched ("ogpo" added to their off-policy list).
CODE_PATCHED = frozenset(("rl_zoo3.enjoy", "rl_zoo3.record_video", "rl_zoo3.push_to_hub"))
# The .pth file and the top-level module its line imports.
PTH_NAME = "sb3_ogpo_zoo_hook.pth"
BOOTSTRAP_NAME = "_sb3_ogpo_zoo_hook"


def _warn(message):
    import warnings

    warnings.warn(f"sb3_ogpo RL Zoo hook: {message}", RuntimeWarning, stacklevel=3)


def disabled():
    # Whether SB3_OGPO_ZOO_HOOK turns the hook off.
    return os.environ.get(DISABLE_ENV_VAR, "1").strip().lower() in ("0", "false", "no", "off")


def _integration():
    # Imported only once an rl_zoo3 module is loaded (which imports torch, SB3, gymnasium anyway).
    from sb3_ogpo.zoo import integration

    return integration


class _HookedLoader:
    # The callables that replace exec_module/get_code on one loader instance.

    def __init__(self, name, loader):
        self.name = name
        self.exec_module = loader.exec_module
        self.get_code = getattr(loader, "get_code", None)

    def hooked_exec_module(self, module):
        self.exec_module(module)  # errors of rl_zoo3 itself propagate unchanged
        try:
            _integration().patch_module(self.name, module)
        except Exception as error:  # never break `import rl_zoo3`
            _warn(f"could not register OGPO into {self.name} ({type(error).__name__}: {error})")

    def hooked_get_code(self, fullname):
        code = self.get_code(fullname)
        try:
            return _integration().patch_code(self.name, code)
        except Exception as error:
            _warn(f"could not patch {self.name} ({type(error).__name__}: {error})")
            return code


class ZooFinder:
    # Meta-path finder that hooks the loaders of the WATCHED modules. The class attribute below marks
    # instances of every copy of this module (install() checks it, so only one finder is ever active).
    sb3_ogpo_zoo_hook = True

    def __init__(self):
        self._busy = set()

    def find_spec(self, fullname, path=None, target=None):
        if fullname not in WATCHED or fullname in self._busy:
            return None
        self._busy.add(fullname)
        try:
            spec = None
            for finder in sys.meta_path:
                if getattr(finder, "sb3_ogpo_zoo_hook", False):
                    continue
                find_spec = getattr(finder, "find_spec", None)
                if find_spec is not None:
                    spec = find_spec(fullname, path, target)
                    if spec is not None:
                        break
            if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
                return None
            hooked = _HookedLoader(fullname, spec.loader)
            # Instance attributes shadow the loader's methods: its type and identity stay the same
            # (importlib.resources, inspect and pkgutil keep working), while exec_module (which calls
            # self.get_code) and runpy (`python -m rl_zoo3.enjoy`) use the hooked versions.
            spec.loader.exec_module = hooked.hooked_exec_module
            if fullname in CODE_PATCHED and hooked.get_code is not None:
                spec.loader.get_code = hooked.hooked_get_code
            return spec
        except Exception as error:
            _warn(f"finder failed for {fullname} ({type(error).__name__}: {error})")
            return None
        finally:
            self._busy.discard(fullname)

    def invalidate_caches(self):
        pass


def installed():
    # Whether a ZooFinder (from any copy of this module) is on sys.meta_path.
    return any(getattr(finder, "sb3_ogpo_zoo_hook", False) for finder in sys.meta_path)


def install(force=False):
    # Put the finder first on sys.meta_path (the standard PathFinder would otherwise find rl_zoo3
    # first). Idempotent; a no-op when SB3_OGPO_ZOO_HOOK disables the hook, unless force is true.
    # Returns whether a finder is installed.
    if disabled() and not force:
        return False
    if not installed():
        sys.meta_path.insert(0, ZooFinder())
    return True


def uninstall():
    # Remove every ZooFinder from sys.meta_path (modules already patched stay patched).
    sys.meta_path[:] = [finder for finder in sys.meta_path if not getattr(finder, "sb3_ogpo_zoo_hook", False)]


if __name__ == BOOTSTRAP_NAME:  # imported by the .pth line at start-up
    try:
        install()
    except Exception:  # never break interpreter start-up
        pass
