"""The lab suite relies on pytest-xdist's ``loadgroup``: tests sharing a lab resource run on one worker, in turn.

pytest 9.2 silently broke it (xdist sets ``item._nodeid``, which 9.2 no longer reads): four tests of one group ran
on three workers at once and the backup tests fought over the one SSH server's address. This runs a tiny suite
under xdist and checks the grouping itself, so a dependency upgrade cannot break it unnoticed.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SUITE = """
import os, pathlib, pytest

pytestmark = pytest.mark.xdist_group("shared")

@pytest.mark.parametrize("i", range(6))
def test_member(i):
    with open(os.environ["GROUP_LOG"], "a") as f:
        f.write(os.environ.get("PYTEST_XDIST_WORKER", "none") + "\\n")
"""


def test_a_group_runs_on_one_worker(tmp_path: Path) -> None:
    (tmp_path / "test_grouped.py").write_text(SUITE)
    log = tmp_path / "workers.log"
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-n", "3", "--dist", "loadgroup", "-p", "no:cacheprovider",
         str(tmp_path / "test_grouped.py")],
        cwd=tmp_path, env={**os.environ, "GROUP_LOG": str(log)}, capture_output=True, text=True,
        timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    workers = log.read_text().split()
    assert len(workers) == 6 and len(set(workers)) == 1 and workers[0].startswith("gw"), workers
