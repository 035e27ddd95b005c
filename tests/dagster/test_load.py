"""Episode runs at once on one SQLite instance against the hosted models' protocols
(bench/load.py at a size CI affords; the note gives the full 6 × 150 figures)."""

import re
import subprocess
import sys

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.slow


def test_three_episode_runs_at_once_complete_without_database_locks():
    result = subprocess.run([sys.executable, "bench/load.py", "--episodes", "3", "--scenes", "3", "--job-seconds", "1"],
                            cwd=REPO, capture_output=True, text=True, timeout=600)
    out = result.stdout + result.stderr
    assert result.returncode == 0, out[-3000:]
    assert "'database is locked' lines: 0; other database errors: 0" in out
    runs = re.findall(r"(ep0\d): success=True takes=(\d+)", out)
    assert len(runs) == 3 and all(int(takes) > 0 for _, takes in runs)
