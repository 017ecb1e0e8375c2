"""A traced point without its trace.json is unfinished: results are committed without traces (they pass the
repository's 1 MB bound), so resuming the sweep of a checkout runs its traced points again, and their timeline
figures can be drawn; points that trace nothing are kept as they are."""

from __future__ import annotations

from pathlib import Path

from sweep_kit import tiny_sweep

from ampsim.cli import main
from ampsim.sweeps.run import finished, point_tasks, run_point
from ampsim.sweeps.spec import load_sweep


def _sweep_file(tmp_path: Path) -> Path:
    sweep = tmp_path / "s.toml"
    sweep.write_text(tiny_sweep() + '"executor.trace" = [true, false]\n')
    return sweep


def _sweep(tmp_path: Path, out: Path) -> int:
    return main(["sweep", str(_sweep_file(tmp_path)), "--out", str(out), "--jobs", "1", "--no-progress"])


def _points(out: Path) -> dict[bool, Path]:
    """Point folder by whether it traces."""
    return {"trace = true" in (p / "config.toml").read_text(): p for p in out.iterdir() if p.is_dir()}


def test_a_traced_point_without_its_trace_is_run_again(tmp_path: Path):
    out = tmp_path / "out"
    assert _sweep(tmp_path, out) == 0
    traced, untraced = _points(out)[True], _points(out)[False]
    assert (traced / "trace.json").is_file() and not (untraced / "trace.json").exists()
    trace = (traced / "trace.json").read_bytes()
    table = (out / "table.csv").read_bytes()
    (traced / "trace.json").unlink()
    kept = {p: p.stat().st_mtime_ns for p in (traced / "summary.json", untraced / "summary.json")}

    assert _sweep(tmp_path, out) == 0
    assert (traced / "trace.json").read_bytes() == trace  # the same run again: the same trace, bit for bit
    assert (out / "table.csv").read_bytes() == table
    assert (traced / "summary.json").stat().st_mtime_ns != kept[traced / "summary.json"]  # run again
    assert (untraced / "summary.json").stat().st_mtime_ns == kept[untraced / "summary.json"]  # kept


def test_the_point_run_again_says_what_it_lacked(tmp_path: Path, caplog):
    out = tmp_path / "out"
    assert _sweep(tmp_path, out) == 0
    traced = _points(out)[True]
    (traced / "trace.json").unlink()
    (task,) = [t for t in point_tasks(load_sweep(_sweep_file(tmp_path)), out) if t.point_id == traced.name]
    assert not finished(task)
    with caplog.at_level("WARNING", logger="ampsim.sweeps.run"):
        run_point(task)
    assert finished(task)
    said = f"point {traced.name}: {traced} has no trace.json (its config traces); replaced by the point run again"
    assert said in caplog.text


def test_a_finished_sweep_with_its_traces_runs_nothing_again(tmp_path: Path):
    out = tmp_path / "out"
    assert _sweep(tmp_path, out) == 0
    kept = {p: p.stat().st_mtime_ns for p in out.glob("*/summary.json")}
    assert _sweep(tmp_path, out) == 0
    assert {p: p.stat().st_mtime_ns for p in out.glob("*/summary.json")} == kept
