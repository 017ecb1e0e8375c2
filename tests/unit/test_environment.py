"""Every run folder says what it ran with beyond its config (``environment.json``): the ampsim commit, the library
versions, the BLAS thread and kernel settings in force, the CPU. The same run twice writes the same file (no
times, no process ids), so re-runs stay byte-identical."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ampsim.blas import openblas_in_force
from ampsim.cli import main
from ampsim.environment import describe
from ampsim.runfiles import ENVIRONMENT

ROOT = Path(__file__).resolve().parents[2]
RUN = ["train", str(ROOT / "experiments" / "blobs_mlp.toml"), "--no-progress", "--set", "train.epochs=1",
       "--set", "data.n_train=128", "--set", "data.n_test=32"]


def _train(out: Path) -> dict:
    assert main([*RUN, "--out", str(out)]) == 0
    return json.loads((out / ENVIRONMENT).read_text())


def test_a_run_records_the_blas_settings_it_ran_under(tmp_path, monkeypatch):
    """The variables, and what the libraries compute with: a variable set after numpy loaded asks for nothing
    (the record said "3" while OpenBLAS ran one thread)."""
    monkeypatch.setenv("OMP_NUM_THREADS", "3")  # too late: numpy is loaded
    monkeypatch.delenv("MKL_NUM_THREADS", raising=False)
    facts = _train(tmp_path / "run")
    assert facts["arithmetic"]["variables"]["OMP_NUM_THREADS"] == "3"
    assert facts["arithmetic"]["variables"]["MKL_NUM_THREADS"] is None
    threads = facts["arithmetic"]["blas_threads"]
    assert threads is not None and threads == openblas_in_force()[0] and threads != 3
    assert facts["packages"]["numpy"] == __import__("numpy").__version__
    assert facts["machine"]["logical_cpus"] == os.cpu_count()


@pytest.mark.parametrize("order, pinned", [("import ampsim, numpy", True), ("import numpy, ampsim", False)])
def test_what_is_in_force_depends_on_when_numpy_loaded(order, pinned):
    """``OPENBLAS_NUM_THREADS=2`` before anything loads: two threads, Haswell kernels (the pin), no AVX-512 in
    numpy's dispatch. numpy loaded before ampsim: its own choice, which the record must show as such."""
    code = f"{order}; import json; from ampsim.environment import describe; print(json.dumps(describe()['arithmetic']))"
    env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_CORETYPE", "NPY_DISABLE_CPU_FEATURES")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True,
                         env={**env, "OPENBLAS_NUM_THREADS": "2"})
    facts = json.loads(out.stdout)
    assert facts["variables"]["OPENBLAS_NUM_THREADS"] == "2" and isinstance(facts["numpy_simd"], list)
    assert facts["blas_threads"] == 2 and facts["blas_kernels"]  # asked for before either loaded: in force
    avx512 = any("512" in t or t == "X86_V4" for t in facts["numpy_simd"])
    if facts["variables"]["OPENBLAS_CORETYPE"] == "Haswell":  # the pin (a CPU with AVX2 and FMA)
        if pinned:  # ampsim first: in force
            assert facts["blas_kernels"] == "Haswell" and not avx512
        else:  # numpy first: asked for too late; the record says what the libraries chose (on an AVX-512
            # CPU not Haswell, and numpy's AVX-512 targets), not what the variables say
            cpu_avx512 = "avx512f" in Path("/proc/cpuinfo").read_text()
            assert (facts["blas_kernels"] != "Haswell") == cpu_avx512 and avx512 == cpu_avx512


def test_the_same_run_twice_writes_the_same_file(tmp_path):
    assert (_train(tmp_path / "a") == _train(tmp_path / "b")
            and (tmp_path / "a" / ENVIRONMENT).read_bytes() == (tmp_path / "b" / ENVIRONMENT).read_bytes())


def test_the_commit_is_the_checkouts():
    facts = describe()["ampsim"]
    if shutil.which("git") is None or not (ROOT / ".git").exists():  # an installed copy: no commit to name
        assert facts["commit"] is None and facts["modified"] is None
        return
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    assert facts["commit"] == head and isinstance(facts["modified"], bool)
