"""A sweep writes its table before its runner closes: closing a local Ray instance resets SIGTERM to the
default for about a second (:func:`ampsim.sweeps.ray_cluster.shutdown_ray`), and a SIGTERM then ended the
sweep with every point finished and no table."""

from __future__ import annotations

from pathlib import Path

from sweep_kit import tiny_sweep

from ampsim.cli import main
from ampsim.sweeps import run


def test_the_table_is_written_before_the_runner_closes(tmp_path: Path, monkeypatch):
    seen: list[bool] = []  # at the runner's close: whether the table was there
    pool = run._run_pool

    def runner(todo, jobs, address):
        try:
            yield from pool(todo, jobs, address)
        finally:
            seen.append((tmp_path / "out" / "table.csv").is_file())
    monkeypatch.setattr(run, "_run_pool", runner)
    sweep = tmp_path / "s.toml"
    sweep.write_text(tiny_sweep() + '"train.mak" = [1, 2]\n')
    assert main(["sweep", str(sweep), "--out", str(tmp_path / "out"), "--jobs", "1", "--no-progress"]) == 0
    assert seen == [True]
