"""The start cache: where starts live, whether one is there, the lock around making one, atomic writes."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Mapping, Optional

import numpy as np

from sb3_ogpo.starts.config import ActorSpec, StartConfig

if TYPE_CHECKING:  # pragma: no cover
    from sb3_ogpo.ogpo import OGPO

CACHE_ENV_VAR = "SB3_OGPO_CACHE"
MODEL_FILE = "model.zip"
INFO_FILE = "start.json"
LOCK_FILE = ".lock"


def cache_root() -> Path:
    """``$SB3_OGPO_CACHE`` if set, else ``~/.cache/sb3_ogpo``."""
    root = os.environ.get(CACHE_ENV_VAR)
    return Path(root).expanduser() if root else Path.home() / ".cache" / "sb3_ogpo"


def start_dir(env_id: str, seed: int = 0, root: str | os.PathLike | None = None, variant: Optional[str] = None) -> Path:
    """``<root>/starts/<env_id>/seed<seed>/`` (``root`` defaults to :func:`cache_root`); a start with another
    actor than the task's (see :func:`actor_variant`) lives in ``<root>/starts/<env_id>/<variant>/seed<seed>/``."""
    base = (Path(root).expanduser() if root is not None else cache_root()) / "starts" / env_id
    return (base / variant if variant else base) / f"seed{int(seed)}"


def read_start_info(directory: str | os.PathLike) -> Optional[dict[str, Any]]:
    """The ``start.json`` of a start directory, or None when there is no complete start there."""
    directory = Path(directory)
    if not (directory / MODEL_FILE).is_file():
        return None
    try:
        return json.loads((directory / INFO_FILE).read_text())
    except (OSError, ValueError):
        return None


def is_cached(directory: str | os.PathLike, config: StartConfig) -> bool:
    """Whether ``directory`` holds a complete start with the actor and policy class of ``config``; a start
    with another actor is reported (a warning) as stale."""
    info = read_start_info(directory)
    if info is None:
        return False
    kwargs = info.get("model_kwargs") or {}
    cached, wanted = ActorSpec.from_model_kwargs(kwargs), ActorSpec.of_config(config)
    if cached != wanted or info.get("policy", config.policy) != config.policy:
        warnings.warn(
            f"The cached start in {directory} has the actor {cached.as_dict() if cached else kwargs} "
            f"({info.get('policy')}) but {config.env_id} now uses {wanted.as_dict()} ({config.policy}): "
            "generating it again."
        )
        return False
    return True


@contextlib.contextmanager
def locked(path: str | os.PathLike, verbose: int = 0) -> Iterator[None]:
    """An exclusive ``fcntl.flock`` on ``path`` (created if needed), held for the block."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if verbose:
                print(f"Waiting for another process that is generating the start in {path.parent} ...")
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _file_mode() -> int:
    """0o666 less the process umask (mkstemp's files are 0o600, which would hide a shared cache)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


@contextlib.contextmanager
def _replacing(path: Path, prefix: str, suffix: str) -> Iterator[str]:
    """A temporary file next to ``path`` for the block to fill; it then replaces ``path`` (or is removed on
    error), so readers see the old file or the complete new one."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=prefix, suffix=suffix)
    os.close(fd)
    try:
        yield tmp
        os.chmod(tmp, _file_mode())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    with _replacing(path, f".{path.name}.", ".tmp") as tmp, open(tmp, "w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())


def atomic_save_model(model: OGPO, path: Path) -> None:
    with _replacing(path, f".{path.stem}.", ".zip") as tmp:
        model.save(tmp)


def _json_default(value: Any) -> Any:
    if isinstance(value, (np.integer, np.floating, np.bool_)):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


def write_start(directory: Path, model: OGPO, info: Mapping[str, Any]) -> None:
    """Write ``model.zip`` and then ``start.json`` into ``directory``: a directory with both is a complete start."""
    atomic_save_model(model, directory / MODEL_FILE)
    atomic_write_text(directory / INFO_FILE, json.dumps(info, indent=2, default=_json_default) + "\n")
