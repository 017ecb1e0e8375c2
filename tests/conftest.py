"""Shared fixtures.

Tests that need the real datasets take the ``data_root`` fixture. Property tests (hypothesis) run
derandomized under CI. Without ``AMPSIM_DATA`` they skip,
unless ``AMPSIM_REQUIRE_DATA=1`` (as in CI), where a missing dataset is a failure, never a silent skip.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import ampsim  # noqa: F401  # isort: skip - first: pins numpy's and OpenBLAS's kernels before anything loads numpy
import pytest
from hypothesis import settings

# CI explores the same examples every run (a property test must not turn red by chance on a submission);
# locally, new examples are drawn each time. HYPOTHESIS_PROFILE=dev overrides.
settings.register_profile("ci", derandomize=True, print_blob=True)
settings.register_profile("dev")
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))


def pytest_sessionstart(session) -> None:
    """Bring the compiled replay loop into numba's on-disk cache before any test runs, in a process of its own
    (:func:`ampsim.executors.sim.jitwarm.compile_kernel`: a few seconds where it is filed already). A clean clone
    compiles it once, for a minute or more of CPU: the first test that replayed paid it inside its own 300 s
    timeout, and on a loaded host (two cores shared with others: 430 s of wall time at load 5, 2026-12-07) that
    test failed for nothing it checks. A failure here fails nothing (its traceback is on stderr): the tests
    compile it themselves."""
    if os.environ.get("AMPSIM_COMPILED", "1") == "0":
        return
    code = "from ampsim.executors.sim.jitwarm import compile_kernel; compile_kernel()"
    subprocess.run([sys.executable, "-c", code], stdout=subprocess.DEVNULL, check=False)  # (its warnings: stderr)


@pytest.fixture(scope="session")
def data_root() -> Path:
    root = os.environ.get("AMPSIM_DATA")
    required = os.environ.get("AMPSIM_REQUIRE_DATA") == "1"
    if not root or not Path(root).is_dir():
        msg = f"real datasets not found (AMPSIM_DATA={root!r})"
        if required:
            pytest.fail(msg + " but AMPSIM_REQUIRE_DATA=1")
        pytest.skip(msg)
    return Path(root).resolve()


@pytest.fixture(scope="session", autouse=True)
def own_measuring_lock(tmp_path_factory):
    """The session's own measuring lock (ampsim.locks.measuring): a calibration in another test session on this
    machine, or a compare someone runs meanwhile, would put its warning into this session's output."""
    os.environ["AMPSIM_MEASURING_LOCK"] = str(tmp_path_factory.mktemp("measuring") / "ampsim-measuring.lock")


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Tests never download: a data file that is missing must surface as the missing-data error."""
    from ampsim.data import store

    def refuse(url, dest, timeout=None):
        raise OSError("network disabled in tests")

    monkeypatch.setattr(store, "_download", refuse)


@pytest.fixture
def statuses(monkeypatch) -> list[int]:
    """Every status the compiled replay loop returned in the test (the loop switched on whatever
    ``AMPSIM_COMPILED`` says, and put back after; recordings kept in memory only)."""
    from ampsim.executors.sim import jitkernel
    from ampsim.executors.sim.jitreplay import JitReplay

    seen: list[int] = []
    run = jitkernel.run

    def counting(*args):
        seen.append(run(*args))
        return seen[-1]

    monkeypatch.setattr(jitkernel, "run", counting)
    monkeypatch.setattr(JitReplay, "compiled", True)
    monkeypatch.setenv("AMPSIM_RECORDINGS", "off")
    return seen
