import os

import pytest
import torch as th

os.environ.setdefault("MUJOCO_GL", "egl")
th.set_num_threads(1)


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Keep generated BC starts and datasets out of the user's home directory."""
    if "SB3_OGPO_CACHE" not in os.environ:
        monkeypatch.setenv("SB3_OGPO_CACHE", str(tmp_path_factory.getbasetemp() / "sb3_ogpo_cache"))
