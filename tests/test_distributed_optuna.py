"""Distributed RL Zoo hyperparameter search on PostgreSQL (tests/distributed_optuna.sh).

Two ``python -m rl_zoo3.train --algo ogpo -optimize`` workers share one study on a throwaway
PostgreSQL server; every trial must be recorded once and the best one must reload with
``--trial-id``. Slow (about a minute) and it starts a database server, so it only runs with
``SB3_OGPO_TEST_POSTGRES=1``, where PostgreSQL is installed or installable (root + apt-get).
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent / "distributed_optuna.sh"


def _postgres_available() -> bool:
    if glob.glob("/usr/lib/postgresql/*/bin/initdb"):
        return True
    return os.geteuid() == 0 and shutil.which("apt-get") is not None


@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("SB3_OGPO_TEST_POSTGRES") != "1", reason="set SB3_OGPO_TEST_POSTGRES=1 to run")
@pytest.mark.skipif(not _postgres_available(), reason="PostgreSQL is neither installed nor installable")
def test_two_workers_share_a_postgres_study() -> None:
    pytest.importorskip("psycopg2")
    env = {**os.environ, "PYTHON": sys.executable}
    result = subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=900, cwd="/")
    if result.returncode == 77:
        pytest.skip(result.stderr.strip().splitlines()[-1])
    assert result.returncode == 0, f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    assert result.stdout.strip().endswith("OK")
