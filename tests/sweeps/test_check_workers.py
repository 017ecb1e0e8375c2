"""``sweep --check`` refuses what a multicore point's plan refuses of its workers before any data is read: more
workers than the process can open sockets for, and a watchdog too short to tell a busy worker from a stuck
one. They were refused only when the point ran, after the sweep had run the points before it (README: every
point is validated before anything runs)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ampsim.cli import main

ROOT = Path(__file__).resolve().parents[2]
BLOBS = ROOT / "experiments" / "blobs_mlp.toml"


@pytest.mark.parametrize("fixed, axis, bad", [
    ("", '"executor.workers" = [2, 100000]', "executor.workers: 100000 workers need about"),
    ('"executor.workers" = 2', '"executor.watchdog_s" = [0.0, 0.001]',
     "executor.watchdog_s: 0.001 s is shorter than the watchdog can tell"),
], ids=["open-files", "watchdog"])
def test_sweep_check_refuses_the_workers_a_point_cannot_run(tmp_path, capsys, fixed, axis, bad):
    path = tmp_path / "sw.toml"
    path.write_text(f'[sweep]\nexperiment = "{BLOBS}"\n[fixed]\n"executor.kind" = "multicore"\n"train.epochs" = 1\n'
                    f'{fixed}\n[grid]\n{axis}\n')
    assert main(["sweep", str(path), "--check"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith(f"ampsim: error: {path}: point 1 ("), err
    assert bad in err[0], err
