"""Demonstration datasets on disk: Minari datasets and robomimic-style HDF5 files.

Both formats read into and write from :class:`~sb3_ogpo.common.demonstrations.Demonstrations`;
:func:`load_demonstrations` picks the reader from the source.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from sb3_ogpo.common.demonstrations import Demonstrations
from sb3_ogpo.datasets.minari_io import (
    datasets_root,
    default_dataset_id,
    list_local_minari,
    load_minari,
    save_minari,
)
from sb3_ogpo.datasets.robomimic_hdf5 import ROBOMIMIC_LOW_DIM_KEYS, load_robomimic_hdf5, save_robomimic_hdf5

__all__ = [
    "ROBOMIMIC_LOW_DIM_KEYS",
    "datasets_root",
    "default_dataset_id",
    "list_local_minari",
    "load_demonstrations",
    "load_minari",
    "load_robomimic_hdf5",
    "save_minari",
    "save_robomimic_hdf5",
]

HDF5_SUFFIXES = (".hdf5", ".h5", ".hdf")


def load_demonstrations(source: str | os.PathLike, **kwargs: Any) -> Demonstrations:
    """Read demonstrations from a robomimic-style HDF5 file (``*.hdf5`` / ``*.h5``, not Minari's own
    ``main_data.hdf5``) or a Minari dataset (an id such as ``D4RL/door/expert-v2``, or its directory).

    Keyword arguments go to :func:`load_robomimic_hdf5` or :func:`load_minari` (``env=``, ``obs_keys=`` ...).
    """
    path = Path(source).expanduser()
    if path.suffix in HDF5_SUFFIXES and path.name != "main_data.hdf5":
        return load_robomimic_hdf5(path, **kwargs)
    return load_minari(source, **kwargs)
