"""Every run folder says what it ran with beyond its config (``environment.json``): the ampsim commit, the library
versions, the BLAS thread and kernel settings in force, the CPU. The same run twice writes the same file (no
times, no process ids), so re-runs stay byte-identical."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

from ampsim.cli import main
from ampsim.environment import ENVIRONMENT_FILE, describe

ROOT = Path(__file__).resolve().parents[2]
RUN = ["train", str(ROOT / "experiments" / "blobs_mlp.toml"), "--no-progress", "--set", "train.epochs=1",
       "--set", "data.n_train=128", "--set", "data.n_test=32"]


def _train(out: Path) -> dict:
    assert main([*RUN, "--out", str(out)]) == 0
    return json.loads((out / ENVIRONMENT_FILE).read_text())


def test_a_run_records_the_blas_settings_it_ran_under(tmp_path, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "3")  # the user's own setting (ampsim's default is 1)
    monkeypatch.delenv("MKL_NUM_THREADS", raising=False)
    facts = _train(tmp_path / "run")
    assert facts["arithmetic"]["OMP_NUM_THREADS"] == "3" and facts["arithmetic"]["MKL_NUM_THREADS"] is None
    assert facts["packages"]["numpy"] == __import__("numpy").__version__
    assert facts["machine"]["logical_cpus"] == os.cpu_count()


def test_the_same_run_twice_writes_the_same_file(tmp_path):
    assert (_train(tmp_path / "a") == _train(tmp_path / "b")
            and (tmp_path / "a" / ENVIRONMENT_FILE).read_bytes() == (tmp_path / "b" / ENVIRONMENT_FILE).read_bytes())


def test_the_commit_is_the_checkouts():
    facts = describe()["ampsim"]
    if shutil.which("git") is None or not (ROOT / ".git").exists():  # an installed copy: no commit to name
        assert facts["commit"] is None and facts["modified"] is None
        return
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    assert facts["commit"] == head and isinstance(facts["modified"], bool)
