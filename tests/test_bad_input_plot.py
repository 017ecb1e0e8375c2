"""Bad input to ``ampsim plot``: every case ends in exit status 2 and exactly one stderr line
``ampsim: error: …`` naming the file (or option) and the cause, with no traceback and no figure written;
the folders it was made from are left byte for byte.

A module fixture trains one tiny traced run (simulated, on ring4) and writes a small sweep table by hand;
each case copies what it corrupts into its own ``tmp_path``. Cases run the CLI in this process
(``ampsim.cli.main``), as tests/test_bad_input.py does.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from test_bad_input import one_error_line

from ampsim.cli import main
from ampsim.figures.canvas import pyplot
from ampsim.sweeps.spec import load_sweep

ROOT = Path(__file__).resolve().parents[1]
RING4 = ROOT / "hardware_models" / "ring4.toml"
SMALL = ["--no-progress", "--set", "data.n_train=200", "--set", "data.n_test=50", "--set", "train.epochs=2"]
#: a table of the sweep below (``s.toml``), its point ids filled in by the fixture
TABLE = ("train.lr,label,metric,throughput,time_unit,point_id\n"
         "0.001,slow,test_accuracy,100.0,simulated,{0}\n"
         "0.003,mid,test_accuracy,250.5,simulated,{1}\n"
         "0.01,fast,test_accuracy,300.0,simulated,{2}\n")
SWEEP = f"""
[sweep]
experiment = "{ROOT / 'experiments' / 'blobs_mlp.toml'}"

[grid]
"train.lr" = [0.001, 0.003, 0.01]

[[figure]]
name = "fig"
kind = "{{kind}}"
x = "train.lr"
y = "{{y}}"
"""


def snapshot(root: Path) -> dict[str, bytes | None]:
    """Every file (its bytes) and folder (None) under ``root``."""
    return {str(p.relative_to(root)): (p.read_bytes() if p.is_file() else None) for p in sorted(root.rglob("*"))}


@pytest.fixture(scope="module")
def made(tmp_path_factory) -> Path:
    """``run``: a finished traced run folder; ``sweep``: a folder with a hand-written table.csv of sweep ``s``
    (its points' ids, and a sweep.json naming it, as ``plot SWEEP.toml`` checks)."""
    root = tmp_path_factory.mktemp("plot_inputs")
    argv = ["train", str(ROOT / "experiments" / "blobs_mlp.toml"), "--out", str(root / "run"), *SMALL,
            "--executor", "sim", "--hardware", str(ROOT / "hardware_models" / "ring4.toml"), "--trace"]
    assert main(argv) == 0
    assert (root / "run" / "trace.json").is_file()
    (root / "sweep").mkdir()
    (root / "s.toml").write_text(SWEEP.format(kind="xy", y="throughput"))
    ids = [p.point_id for p in load_sweep(root / "s.toml").points]
    (root / "s.toml").unlink()
    (root / "sweep" / "table.csv").write_text(TABLE.format(*ids))
    (root / "sweep" / "sweep.json").write_text(json.dumps({"name": "s", "keys": ["train.lr"], "quick": False}))
    return root


@pytest.fixture
def base(made, tmp_path, monkeypatch):
    """The made folders, checked unchanged after the case; the case runs in ``tmp_path``."""
    monkeypatch.chdir(tmp_path)
    before = snapshot(made)
    yield made
    assert snapshot(made) == before, "the folders the cases copy from changed"


def copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


# -- a column of text as y ----------------------------------------------------------------------------------
def test_a_text_column_as_y_of_a_table_names_the_table_the_column_and_a_value(base, tmp_path, capsys):
    line = one_error_line(capsys, ["plot", base / "sweep", "--x", "train.lr", "--y", "metric", "--out",
                                   tmp_path / "f.png"])
    assert f"{base / 'sweep' / 'table.csv'}: column 'metric' must hold numbers" in line
    assert "line 2 has 'test_accuracy'" in line
    assert not list(tmp_path.glob("f.*"))


def test_a_text_column_as_y_with_a_text_x_bars_is_one_line_too(base, tmp_path, capsys):
    line = one_error_line(capsys, ["plot", base / "sweep", "--x", "label", "--y", "metric", "--out",
                                   tmp_path / "f.png"])
    assert "table.csv: column 'metric' must hold numbers" in line


@pytest.mark.parametrize("where", ["folder", "csv"])
def test_a_corrupt_number_in_a_table_names_the_table_the_column_its_line_and_value(base, tmp_path, capsys, where):
    sweep = copy(base / "sweep", tmp_path / "sweep")
    csv = sweep / "table.csv"
    csv.write_text(csv.read_text().replace("250.5", "abc"))
    if where == "csv":  # any CSV table, e.g. results/compare/<exp>/compare.csv
        csv = csv.rename(sweep / "compare.csv")
    line = one_error_line(capsys, ["plot", sweep if where == "folder" else csv, "--x", "train.lr", "--y", "throughput",
                                   "--out", tmp_path / "f.png"])
    assert f"{csv}: column 'throughput' must hold numbers, but line 3 has 'abc'" in line


@pytest.mark.parametrize("kind", ["xy", "bar"])
@pytest.mark.parametrize("where", ["folder", "sweep-file"])
def test_an_integer_beyond_64_bits_in_a_table_is_a_number(base, tmp_path, capsys, kind, where):
    """pandas reads a column whose first cell is an integer of more than 64 bits (10**30) as text: the mean of a
    figure's line was a TypeError traceback ("dtype 'str' does not support operation 'mean'")."""
    sweep = copy(base / "sweep", tmp_path / "sweep")
    (sweep / "table.csv").write_text((sweep / "table.csv").read_text().replace("100.0", str(10**30)))
    toml = tmp_path / "s.toml"
    toml.write_text(SWEEP.format(kind=kind, y="throughput"))
    argv = (["plot", toml, "--sweep-dir", sweep, "--out", tmp_path / "figs"] if where == "sweep-file" else
            ["plot", sweep, "--x", "train.lr" if kind == "xy" else "label", "--y", "throughput", "--out",
             tmp_path / "f.png"])
    assert main([str(a) for a in argv]) == 0, capsys.readouterr().err
    assert list(tmp_path.glob("f.png" if where == "folder" else "figs/fig.*"))


@pytest.mark.parametrize("kind", ["xy", "bar"])
def test_a_sweep_figure_of_a_text_column_is_refused_with_the_sweep_file(base, tmp_path, capsys, kind):
    toml = tmp_path / "s.toml"
    toml.write_text(SWEEP.format(kind=kind, y="metric"))
    line = one_error_line(capsys, ["plot", toml, "--sweep-dir", base / "sweep", "--out", tmp_path / "figs"])
    assert f"{toml}: figure[0].y: 'metric' is a text column of the table; y must be a number" in line


def test_a_sweep_figure_of_a_corrupt_column_names_its_line(base, tmp_path, capsys):
    sweep = copy(base / "sweep", tmp_path / "sweep")
    (sweep / "table.csv").write_text((sweep / "table.csv").read_text().replace("300.0", "n/a!"))
    toml = tmp_path / "s.toml"
    toml.write_text(SWEEP.format(kind="xy", y="throughput"))
    line = one_error_line(capsys, ["plot", toml, "--sweep-dir", sweep, "--out", tmp_path / "figs"])
    assert "table.csv: column 'throughput' must hold numbers, but line 4 has 'n/a!'" in line


def test_a_corrupt_number_in_a_runs_metrics_names_metrics_csv(base, tmp_path, capsys):
    run = copy(base / "run", tmp_path / "run")
    lines = (run / "metrics.csv").read_text().splitlines()
    head = lines[0].split(",")
    cells = lines[1].split(",")
    cells[head.index("train_loss")] = "oops"
    (run / "metrics.csv").write_text("\n".join([lines[0], ",".join(cells), *lines[2:]]) + "\n")
    line = one_error_line(capsys, ["plot", run, "--y", "train_loss", "--out", tmp_path / "f.png"])
    assert f"{run / 'metrics.csv'}: column 'train_loss' must hold numbers, but line 2 has 'oops'" in line


@pytest.mark.parametrize("cell", ["inf", "-inf", ""])
def test_a_runs_column_of_no_finite_value_is_one_line_not_an_empty_figure(base, tmp_path, capsys, cell):
    """Every train_loss cell infinite: an empty figure was saved, exit 0 (every cell empty: refused, but said to
    have "no rows")."""
    run = copy(base / "run", tmp_path / "run")
    lines = (run / "metrics.csv").read_text().splitlines()
    i = lines[0].split(",").index("train_loss")
    rows = [",".join(cell if j == i else c for j, c in enumerate(line.split(","))) for line in lines[1:]]
    (run / "metrics.csv").write_text("\n".join([lines[0], *rows]) + "\n")
    line = one_error_line(capsys, ["plot", run, "--y", "train_loss", "--out", tmp_path / "f.png"])
    assert line.endswith(f"{run / 'metrics.csv'}: column 'train_loss' holds no value (its cells are empty or "
                         "infinite); plot another --y")
    assert not (tmp_path / "f.png").exists()


# -- a summary.json that is not an object -------------------------------------------------------------------
@pytest.mark.parametrize("content, got", [("[1, 2]", "an array"), ('"done"', "a string"), ("null", "null"),
                                           ("3", "a number")])
@pytest.mark.parametrize("timeline", [False, True])
def test_a_summary_that_is_not_an_object_names_summary_json(base, tmp_path, capsys, content, got, timeline):
    run = copy(base / "run", tmp_path / "run")
    (run / "summary.json").write_text(content)
    line = one_error_line(capsys, ["plot", run, *(["--timeline"] if timeline else []), "--out", tmp_path / "f.png"])
    assert line.endswith(f"{run / 'summary.json'}: expected a JSON object, got {got}")
    assert not (tmp_path / "f.png").exists()


# -- malformed trace events -----------------------------------------------------------------------------------
@pytest.mark.parametrize("key, value", [("staleness", {"fc0": 5}), ("time_to_target", 5),
                                        ("chip_utilization", "abc"), ("chip_utilization", [0.5, "x"]),
                                        ("link_utilization", {"0->1": [1]}), ("staleness", {"fc0": {"mean": "x"}}),
                                        ("throughput_instances_per_s", "fast"), ("epochs", [2]), ("final_metric", True),
                                        ("time_unit", [1]), ("metric", {"a": 1}), ("executor", 5),
                                        # null where a run writes a number (a sweep's table summed them: a
                                        # TypeError traceback resuming the sweep), or left out (a KeyError)
                                        ("link_utilization", {"0->1": None}),
                                        ("staleness", {"fc0": {"count": 4, "mean": None, "max": 1}}),
                                        ("staleness", {"fc0": {"count": 4, "mean": 0.5, "max": None}}),
                                        ("staleness", {"fc0": {"count": 4}})])
def test_a_summary_value_not_as_a_run_writes_it_names_summary_json_and_the_key(base, tmp_path, capsys, key, value):
    """A hand-edited summary.json: what the tables and figures compute with is checked as it is read (these
    were AttributeError and TypeError tracebacks, in ``plot`` and in a sweep's table)."""
    run = copy(base / "run", tmp_path / "run")
    summary = json.loads((run / "summary.json").read_text())
    (run / "summary.json").write_text(json.dumps({**summary, key: value}))
    line = one_error_line(capsys, ["plot", run, "--out", tmp_path / "f.png"])
    assert f"{run / 'summary.json'}: {key}: not as a run writes it (" in line
    assert line.endswith("the run's folder was edited: run it again")


@pytest.mark.parametrize("record", ['"s"', "[1, 2]", '{"name": "s", "keys": null}', '{"name": "s", "keys": 5}',
                                    '{"name": "s", "keys": [["a"]]}', "{}"])
def test_a_sweep_record_not_as_a_sweep_writes_it_is_one_line(base, tmp_path, capsys, record):
    sweep = copy(base / "sweep", tmp_path / "sweep")
    (sweep / "sweep.json").write_text(record)
    line = one_error_line(capsys, ["plot", sweep, "--x", "train.lr", "--y", "throughput", "--out", tmp_path / "f.png"])
    assert f"{sweep / 'sweep.json'}: not a sweep's record (expected an object with the sweep's name" in line


def first(events: list[dict], ph: str, **match) -> int:
    return next(i for i, e in enumerate(events) if e.get("ph") == ph and all(e.get(k) == v for k, v in match.items()))


SPAN = {"ph": "X", "pid": 1}  # (chip 0: process ids count from 1)
BREAKS = [  # (id, the event (ph and fields it must match), how it is broken, expected part)
    ("span-no-ts", SPAN, lambda e: e.pop("ts"), "no 'ts' field"),
    ("span-text-ts", SPAN, lambda e: e.update(ts="abc"), "'ts' must be a number of µs within ±1e15, got \"abc\""),
    ("span-null-dur", SPAN, lambda e: e.update(dur=None), "'dur' must be a number of µs from 0 to 1e15, got null"),
    ("span-no-dur", SPAN, lambda e: e.pop("dur"), "no 'dur' field"),
    ("span-infinite-dur", SPAN, lambda e: e.update(dur=float("inf")), "'dur' must be a number of µs from 0 to 1e15, got Infinity"),
    ("span-negative-dur", SPAN, lambda e: e.update(dur=-5.0), "'dur' must be a number of µs from 0 to 1e15, got -5.0"),
    ("span-text-pid", SPAN, lambda e: e.update(pid="x"), "'pid' must be an integer, got \"x\""),
    ("span-no-name", SPAN, lambda e: e.pop("name"), "no 'name' field"),
    ("span-huge-ts", SPAN, lambda e: e.update(ts=1e308, dur=1e308), "'ts' must be a number of µs within ±1e15, got 1e+308"),
    ("admit-text-ts", {"ph": "i", "name": "admit"}, lambda e: e.update(ts="soon"), "'ts' must be a number of µs"),
    ("link-name-args", {"ph": "M", "name": "thread_name"}, lambda e: e.update(args=[]), "'args' must be an object"),
]


@pytest.mark.parametrize("match, breaks, part", [b[1:] for b in BREAKS], ids=[b[0] for b in BREAKS])
def test_a_malformed_trace_event_names_the_trace_the_event_and_the_field(base, tmp_path, capsys, match, breaks, part):
    run = copy(base / "run", tmp_path / "run")
    data = json.loads((run / "trace.json").read_text())
    i = first(data["traceEvents"], **match)
    breaks(data["traceEvents"][i])
    (run / "trace.json").write_text(json.dumps(data))
    line = one_error_line(capsys, ["plot", run, "--timeline", "--out", tmp_path / "f.png"])
    assert f"{run / 'trace.json'}: event {i}" in line and part in line, line
    assert not (tmp_path / "f.png").exists()


@pytest.mark.parametrize("source", ["runs", "timeline", "table"])
def test_an_out_linked_to_an_input_is_refused_and_the_input_kept(base, tmp_path, capsys, source):
    """--out fig.png, a symlink to the run's metrics.csv or to the table drawn: the figure was written over it
    (the table a PNG, exit 0) or was a traceback (matplotlib took the format from the target's suffix)."""
    run, sweep = copy(base / "run", tmp_path / "run"), copy(base / "sweep", tmp_path / "sweep")
    target = sweep / "table.csv" if source == "table" else run / "metrics.csv"
    (tmp_path / "fig.png").symlink_to(target)
    argv = {"runs": ["plot", run], "timeline": ["plot", run, "--timeline"],
            "table": ["plot", sweep, "--x", "train.lr", "--y", "throughput"]}[source]
    before = snapshot(tmp_path)
    line = one_error_line(capsys, [*argv, "--out", tmp_path / "fig.png"])
    assert line.endswith(f"fig.png: a link to {target}, a file of another kind (.csv): not written through; give "
                         "another path")
    assert snapshot(tmp_path) == before


def test_a_reference_runs_missing_trace_says_that_executor_writes_none(base, tmp_path, capsys):
    """A reference run trained with --trace (warned of: ignored) was told to "train the run with --trace"."""
    run = copy(base / "run", tmp_path / "run")
    (run / "trace.json").unlink()
    summary = json.loads((run / "summary.json").read_text())
    (run / "summary.json").write_text(json.dumps({**summary, "executor": "reference"}))
    line = one_error_line(capsys, ["plot", run, "--timeline", "--out", tmp_path / "f.png"])
    assert line.endswith(f"{run / 'trace.json'}: no such file (the reference executor writes none; train it with "
                         "--executor sim or multicore, and --trace)")


def test_a_trace_object_without_trace_events_is_not_a_chrome_trace(base, tmp_path, capsys):
    run = copy(base / "run", tmp_path / "run")
    (run / "trace.json").write_text('{"events": []}')
    line = one_error_line(capsys, ["plot", run, "--timeline", "--out", tmp_path / "f.png"])
    assert f"{run / 'trace.json'}: not a Chrome trace" in line


# -- a time window that is no number of seconds ---------------------------------------------------------------
@pytest.mark.parametrize("option, value", [("--start-s", "inf"), ("--start-s", "-inf"), ("--start-s", "nan"),
                                           ("--start-s", "1e308"), ("--start-s", "-1"), ("--window-s", "inf"),
                                           ("--window-s", "nan"), ("--window-s", "-inf"), ("--window-s", "1e308")])
def test_a_start_or_window_that_is_not_finite_names_the_option(base, tmp_path, capsys, option, value):
    line = one_error_line(capsys, ["plot", base / "run", "--timeline", f"{option}={value}", "--out",
                                   tmp_path / "f.png"])
    assert line.startswith(f"ampsim: error: {option} must be a finite number")
    assert not (tmp_path / "f.png").exists()


@pytest.mark.parametrize("options, part", [
    (["--window-s", "1e-300"], "--window-s 1e-300: a window of 1e-300 s from 0 s is narrower than a timeline draws"),
    (["--start-s", "1e-4", "--window-s", "1e-300"], "--window-s 1e-300: a window of 0 s from 0.0001 s is narrower"),
    (["--start-s", "1e-4", "--window-s", "1e-13"], "--window-s 1e-13: a window of 1e-13 s from 0.0001 s is narrower"),
], ids=["from-zero", "lost-in-the-start", "under-a-picosecond"])
def test_a_window_too_narrow_to_draw_is_one_line(base, tmp_path, capsys, options, part):
    """matplotlib widened an axis whose ends it could not tell apart to ±0.05 µs about them: negative times
    drawn, exit 0."""
    line = one_error_line(capsys, ["plot", base / "run", "--timeline", *options, "--out", tmp_path / "f.png"])
    assert part in line and line.endswith("(at least 1e-12 s there: an axis cannot tell a narrower one's ends apart)")
    assert not (tmp_path / "f.png").exists()


def test_a_sweep_timeline_of_too_narrow_a_window_is_one_line(base, tmp_path, capsys):
    """The window fraction of the run's end: the same axis, widened."""
    fixed = f'\n[fixed]\n"executor.kind" = "sim"\n"executor.trace" = true\n"executor.hardware" = "{RING4}"\n'
    timeline = SWEEP.format(kind="timeline", y="throughput").replace('x = "train.lr"\ny = "throughput"\n', "")
    (tmp_path / "s.toml").write_text(timeline + "window = 1e-300\n" + fixed)  # (a timeline reads no x or y)
    sweep = copy(base / "sweep", tmp_path / "sweep")
    ids = [p.point_id for p in load_sweep(tmp_path / "s.toml").points]
    (sweep / "table.csv").write_text(TABLE.format(*ids))
    point = ids[0]
    (sweep / point).mkdir()
    shutil.copy(base / "run" / "trace.json", sweep / point / "trace.json")
    line = one_error_line(capsys, ["plot", tmp_path / "s.toml", "--sweep-dir", sweep, "--out", tmp_path / "figs"])
    assert "figure fig: window 1e-300: a window of " in line and "s from 0 s is narrower than a timeline draws" in line
    assert not (tmp_path / "figs").exists() or not list((tmp_path / "figs").iterdir())


def test_a_narrow_window_is_drawn_at_its_own_times(base, tmp_path, monkeypatch):
    """A nanosecond from 0.3 ms: every tick read 0.3 (six digits of ms)."""
    drawn = []
    monkeypatch.setattr("ampsim.figures.trace.save_image", lambda fig, out: drawn.append(fig) or Path(out))
    assert main(["plot", str(base / "run"), "--timeline", "--start-s", "3e-4", "--window-s", "1e-9", "--out",
                 str(tmp_path / "f.png")]) == 0
    fig = drawn[0]
    try:
        ax = fig.axes[-1]
        assert ax.get_xlim() == pytest.approx((300.0, 300.001), abs=1e-9)  # (µs)
        fig.canvas.draw()
        labels = [t.get_text() for t in ax.get_xticklabels()]
        assert len(labels) > 1 and len(set(labels)) == len(labels), labels
    finally:
        pyplot().close(fig)


# -- a metrics.csv cut at the end of a row: as many rows as the run's summary counts epochs -------------------
@pytest.mark.parametrize("keep", [2, 1], ids=["last-row-lost", "header-alone"])
def test_a_metrics_csv_cut_at_a_rows_end_is_one_line(base, tmp_path, capsys, keep):
    """The lines left are a valid table: the run was drawn as one of fewer epochs, exit 0."""
    run = copy(base / "run", tmp_path / "run")
    lines = (run / "metrics.csv").read_text().splitlines(keepends=True)
    (run / "metrics.csv").write_text("".join(lines[:keep]))
    line = one_error_line(capsys, ["plot", run, "--out", tmp_path / "f.png"])
    rows = f"{keep - 1} row{'s' if keep != 2 else ''}"
    assert line.endswith(f"{run / 'metrics.csv'}: {rows} of metrics, but the run had 2 epochs (its summary.json), "
                         "a row each: cut short or edited since it was written; copy the run again, or run it again")
    assert not (tmp_path / "f.png").exists()


@pytest.mark.parametrize("finished", [True, False], ids=["finished", "no-summary"])
def test_a_metrics_csv_cut_inside_its_last_row_is_one_line(base, tmp_path, capsys, finished):
    """Cut inside the last cell (test_accuracy 0.98 left as 0.9), every row had its fields and the run its count of
    rows: drawn with the cut value, exit 0. The run ends every row it writes with a line end."""
    run = copy(base / "run", tmp_path / "run")
    if not finished:
        (run / "summary.json").unlink()
    (run / "metrics.csv").write_bytes((run / "metrics.csv").read_bytes()[:-3])
    line = one_error_line(capsys, ["plot", run, "--y", "test_accuracy", "--out", tmp_path / "f.png"])
    assert line.endswith(f"{run / 'metrics.csv'}: its last line has no line end, so it was cut off inside a row (as "
                         "written, every row ends with one); copy the run again, or run it again")
    assert not (tmp_path / "f.png").exists()


def test_a_sweep_points_metrics_cut_at_a_rows_end_is_one_line_in_its_curves(base, tmp_path, capsys):
    (tmp_path / "s.toml").write_text(SWEEP.format(kind="curves", y="train_loss").replace('x = "train.lr"\n', ""))
    sweep = copy(base / "sweep", tmp_path / "sweep")
    point = (sweep / "table.csv").read_text().splitlines()[1].rsplit(",", 1)[1]
    copy(base / "run", sweep / point)
    lines = (sweep / point / "metrics.csv").read_text().splitlines(keepends=True)
    (sweep / point / "metrics.csv").write_text("".join(lines[:-1]))
    line = one_error_line(capsys, ["plot", tmp_path / "s.toml", "--sweep-dir", sweep, "--out", tmp_path / "figs"])
    assert f"{sweep / point / 'metrics.csv'}: 1 row of metrics, but the run had 2 epochs" in line


@pytest.mark.parametrize("missing", ["time_unit", "metric"])
def test_a_sweep_table_without_a_column_its_curves_read_is_one_line(base, tmp_path, capsys, missing):
    """A table.csv edited by hand without its time_unit (or metric) column: a KeyError traceback as its curves
    were drawn (each row's cells name the metric and the clock)."""
    import pandas as pd

    (tmp_path / "s.toml").write_text(SWEEP.format(kind="curves", y="train_loss").replace('x = "train.lr"\n', ""))
    sweep = copy(base / "sweep", tmp_path / "sweep")
    table = pd.read_csv(sweep / "table.csv").drop(columns=["throughput", missing])
    table.to_csv(sweep / "table.csv", index=False)
    for point in table["point_id"]:
        copy(base / "run", sweep / point)
    line = one_error_line(capsys, ["plot", tmp_path / "s.toml", "--sweep-dir", sweep, "--out", tmp_path / "figs"])
    assert line.endswith(f"{sweep / 'table.csv'}: has no {missing} column, which figure fig (curves) reads, so it is "
                         f"no table `ampsim sweep` wrote; run the sweep (ampsim sweep {tmp_path / 's.toml'} --out "
                         f"{sweep})")
    assert not (tmp_path / "figs").exists() or not list((tmp_path / "figs").iterdir())


@pytest.mark.parametrize("kind,x,y", [("curves", "time_s", "train_loss"), ("xy", "train.lr", "throughput")])
def test_a_sweep_figure_over_two_clocks_is_one_line(base, tmp_path, capsys, kind, x, y):
    """A sweep over executor.kind (simulated and reference) drew simulated and wall-clock seconds on one axis,
    labelled with one clock, exit 0 (plotting the runs themselves refused it); the other axes draw."""
    spec = SWEEP.format(kind=kind, y=y).replace('x = "train.lr"\n', f'x = "{x}"\n')
    (tmp_path / "s.toml").write_text(spec)
    sweep = copy(base / "sweep", tmp_path / "sweep")
    lines = (sweep / "table.csv").read_text().splitlines()
    (sweep / "table.csv").write_text("\n".join([*lines[:2], lines[2].replace(",simulated,", ",wall,"), *lines[3:]])
                                     + "\n")
    for row in lines[1:]:
        copy(base / "run", sweep / row.rsplit(",", 1)[1])
    line = one_error_line(capsys, ["plot", tmp_path / "s.toml", "--sweep-dir", sweep, "--out", tmp_path / "figs"])
    assert line.endswith(f"figure fig: {x if kind == 'curves' else y} is simulated seconds in some of its points and "
                         "wall-clock seconds in others; plot them apart, or against epoch or instances (the table's "
                         "time_unit)")
    if kind == "curves":  # against epochs, the same points draw
        (tmp_path / "e").mkdir()  # (the same sweep's name: the folder holds the table of 's')
        (tmp_path / "e" / "s.toml").write_text(spec.replace('x = "time_s"', 'x = "epoch"'))
        assert main(["plot", str(tmp_path / "e" / "s.toml"), "--sweep-dir", str(sweep), "--out", str(tmp_path / "ok")]) == 0


def test_an_empty_metric_cell_of_a_sweep_table_drawn_as_curves_of_the_metric_names_its_line(base, tmp_path, capsys):
    """It said "metrics.csv of <point> has no column nan": the run's file blamed for the table's empty cell."""
    (tmp_path / "s.toml").write_text(SWEEP.format(kind="curves", y="metric").replace('x = "train.lr"\n', ""))
    sweep = copy(base / "sweep", tmp_path / "sweep")
    lines = (sweep / "table.csv").read_text().splitlines()
    (sweep / "table.csv").write_text("\n".join([*lines[:2], lines[2].replace("test_accuracy", ""), *lines[3:]]) + "\n")
    for row in lines[1:]:
        copy(base / "run", sweep / row.rsplit(",", 1)[1])
    line = one_error_line(capsys, ["plot", tmp_path / "s.toml", "--sweep-dir", sweep, "--out", tmp_path / "figs"])
    assert line.endswith(f"figure fig: {sweep / 'table.csv'}: line 3 has no metric (its metric cell is empty), which "
                         "names the metrics.csv column the figure draws (y = metric)")


def test_runs_of_fewer_rows_than_train_epochs_still_read(base, tmp_path, capsys, monkeypatch):
    """The count is the summary's epochs, a row each, not train.epochs: a run that stopped after its first epoch
    (a sweep's point that diverged) has one row and counts one; a run evaluated every other epoch a row per epoch
    all the same; an unfinished run (no summary) has nothing to count."""
    from ampsim import training
    from ampsim.config import load_config
    from ampsim.errors import Diverged

    calls = []

    def diverging(reports):
        calls.append(1)
        if len(calls) == 2:
            raise Diverged("loss became nan (made so by the test)")
        return 1.0

    monkeypatch.setattr(training, "mean_loss", diverging)
    cfg = load_config(ROOT / "experiments" / "blobs_mlp.toml", [("data.n_train", 200), ("data.n_test", 50),
                                                                ("train.epochs", 3)])
    summary = training.train_experiment(cfg, tmp_path / "stopped", record_outcome=True)
    assert summary["epochs"] == 1 and "diverged" in summary
    monkeypatch.undo()
    every_other = tmp_path / "every_other"
    assert main(["train", str(ROOT / "experiments" / "blobs_mlp.toml"), "--out", str(every_other), *SMALL, "--set",
                 "eval.every_epochs=2", "--set", "train.epochs=3"]) == 0
    unfinished = copy(base / "run", tmp_path / "unfinished")
    (unfinished / "summary.json").unlink()
    (unfinished / "metrics.csv").write_text("".join((unfinished / "metrics.csv").read_text().splitlines(True)[:2]))
    capsys.readouterr()
    for run in ("stopped", "every_other", "unfinished"):
        assert main(["plot", str(tmp_path / run), "--y", "train_loss", "--out", str(tmp_path / f"{run}.png")]) == 0
        assert (tmp_path / f"{run}.png").is_file()


def test_every_committed_run_has_a_row_per_epoch_its_summary_counts():
    """The committed runs (sweeps' points, compares' runs) read as they are: their counts agree."""
    from ampsim.runread import read_metrics

    runs = [p.parent for p in (ROOT / "results").rglob("metrics.csv") if (p.parent / "summary.json").is_file()]
    assert len(runs) > 100
    for run in runs:
        read_metrics(run)


# -- the same folders, whole, still draw ----------------------------------------------------------------------
def test_the_valid_folders_still_draw(base, tmp_path, capsys):
    run, sweep = base / "run", base / "sweep"
    for argv, out in [(["plot", run], "curves.png"), (["plot", run, "--timeline"], "timeline.png"),
                      (["plot", run, "--timeline", "--start-s", "0", "--window-s", "0.0005"], "window.png"),
                      (["plot", sweep, "--x", "train.lr", "--y", "throughput"], "table.png"),
                      (["plot", sweep, "--x", "label", "--y", "throughput"], "bars.png")]:
        assert main([str(a) for a in [*argv, "--out", tmp_path / out]]) == 0, capsys.readouterr().err
        assert (tmp_path / out).stat().st_size > 1000
    toml = tmp_path / "s.toml"
    toml.write_text(SWEEP.format(kind="xy", y="throughput"))
    assert main(["plot", str(toml), "--sweep-dir", str(sweep), "--out", str(tmp_path / "figs")]) == 0
    assert (tmp_path / "figs" / "fig.png").is_file()


@pytest.mark.parametrize("column", ["x", "y"])
def test_numbers_beyond_what_an_axis_spans_name_the_column_and_line(base, tmp_path, capsys, column):
    """±1e308 in a table: matplotlib's ticks overflowed ("arange: cannot compute length", a traceback)."""
    table = tmp_path / "t.csv"
    table.write_text("a,b\n1,2\n" + ("1e308,3\n-1e308,4\n" if column == "x" else "2,1e308\n3,-1e308\n"))
    line = one_error_line(capsys, ["plot", table, "--x", "a", "--y", "b", "--out", tmp_path / "f.png"])
    assert line.endswith(f"{table}: column {'a' if column == 'x' else 'b'!r} must hold numbers a figure's axis can "
                         "span (|v| < 1e+300), but line 3 has 1e+308 and 1 more")
    assert not (tmp_path / "f.png").exists()


def test_an_empty_x_column_is_named_not_the_y(base, tmp_path, capsys):
    """It said "no throughput values to draw (is the target never reached?)" of an empty x column."""
    table = tmp_path / "t.csv"
    table.write_text("e,throughput\n,1.0\n,2.0\n")
    line = one_error_line(capsys, ["plot", table, "--x", "e", "--y", "throughput", "--out", tmp_path / "f.png"])
    assert line.endswith("no e values to draw")


def test_a_log_axis_without_positive_values_is_one_line(base, tmp_path, capsys):
    """matplotlib's "Data has no positive values" UserWarning took two more stderr lines."""
    table = tmp_path / "t.csv"
    table.write_text("a,b\n0,1.0\n-1,2.0\n")
    line = one_error_line(capsys, ["plot", table, "--x", "a", "--y", "b", "--logx", "--out", tmp_path / "f.png"])
    assert line.endswith("no positive a values for a log axis (logx)")


def test_two_sweep_files_are_refused_as_one_at_a_time(base, tmp_path, capsys):
    """It said of a sweep file "not a run folder ... and not a sweep file (.toml)"."""
    toml = tmp_path / "s.toml"
    toml.write_text(SWEEP.format(kind="xy", y="throughput"))
    line = one_error_line(capsys, ["plot", toml, toml, "--out", tmp_path / "f.png"])
    assert line.endswith(f"{toml}: a sweep file or table is plotted alone (one per command), not beside 1 other "
                         "source(s)")


@pytest.mark.parametrize("make, words", [(lambda p: p.mkdir(), "is a directory"), (os.mkfifo, "not a regular file")],
                         ids=["folder", "fifo"])
def test_a_trace_that_is_a_folder_or_pipe_says_so(base, tmp_path, capsys, make, words):
    """It said "no such file (train the run with --trace)" of a trace.json that was there."""
    run = copy(base / "run", tmp_path / "run")
    (run / "trace.json").unlink()
    make(run / "trace.json")
    line = one_error_line(capsys, ["plot", run, "--timeline", "--out", tmp_path / "f.png"])
    assert f"{run / 'trace.json'}: {words}" in line


@pytest.mark.parametrize("make, words", [(lambda p: p.mkdir(), "is a directory"), (os.mkfifo, "not a regular file"),
                                         (lambda p: p.symlink_to("/dev/zero"), "not a regular file")],
                         ids=["folder", "fifo", "device"])
@pytest.mark.parametrize("timeline", [False, True])
def test_a_metrics_csv_that_is_a_folder_pipe_or_device_says_so(base, tmp_path, capsys, make, words, timeline):
    """It said "not a run folder (no metrics.csv)" of a folder whose metrics.csv was there, as something else."""
    run = copy(base / "run", tmp_path / "run")
    (run / "metrics.csv").unlink()
    make(run / "metrics.csv")
    line = one_error_line(capsys, ["plot", run, *(["--timeline"] if timeline else []), "--out", tmp_path / "f.png"])
    assert line.startswith(f"ampsim: error: {run / 'metrics.csv'}: {words}")


def test_a_start_after_the_traces_end_is_one_line(base, tmp_path, capsys):
    """``--start-s 1e9`` drew an empty figure without a word."""
    line = one_error_line(capsys, ["plot", base / "run", "--timeline", "--start-s", "1e9", "--out", tmp_path / "f.png"])
    assert "--start-s 1e+09: after the end of the runs' traces (" in line
    assert not (tmp_path / "f.png").exists()


def test_runs_of_two_clocks_on_one_time_axis_are_refused(base, tmp_path, capsys):
    """The axis was named after the last run's clock: simulated seconds drawn as wall-clock time."""
    ref = tmp_path / "ref"
    assert main(["train", str(ROOT / "experiments" / "blobs_mlp.toml"), "--out", str(ref), *SMALL]) == 0
    capsys.readouterr()
    line = one_error_line(capsys, ["plot", base / "run", ref, "--x", "time_s", "--out", tmp_path / "f.png"])
    assert "time_s is simulated seconds in some of these runs and wall-clock seconds in others" in line
    assert main(["plot", str(base / "run"), str(ref), "--out", str(tmp_path / "g.png")]) == 0  # by epoch: fine


def test_a_replayed_run_has_no_metric_to_draw(base, tmp_path, capsys):
    """An empty figure was saved, exit 0."""
    run = tmp_path / "replay"
    assert main(["train", str(ROOT / "experiments" / "blobs_mlp.toml"), "--out", str(run), *SMALL, "--executor", "sim",
                 "--hardware", str(ROOT / "hardware_models" / "ring4.toml"), "--set", "executor.numerics=false"]) == 0
    capsys.readouterr()
    line = one_error_line(capsys, ["plot", run, "--out", tmp_path / "f.png"])
    assert "column 'test_accuracy' holds no value (a replay measures no metric); plot another --y" in line
    assert not (tmp_path / "f.png").exists()


def test_a_timeline_of_more_chips_than_it_can_draw_is_one_line(base, tmp_path, capsys):
    """3,000 chips' rows took 18 s and a 90,222-pixel PNG; 20,000 ran past two minutes at 3 GB."""
    run = copy(base / "run", tmp_path / "run")
    data = json.loads((run / "trace.json").read_text())
    span = data["traceEvents"][first(data["traceEvents"], "X", pid=1)]  # (chip 0's: process ids count from 1)
    data["traceEvents"] += [{**span, "pid": pid} for pid in range(2, 301)]
    (run / "trace.json").write_text(json.dumps(data))
    line = one_error_line(capsys, ["plot", run, "--timeline", "--out", tmp_path / "f.png"])
    assert "300 chips' rows to draw; a timeline draws at most 256" in line


@pytest.mark.parametrize("source, options, part", [
    ("run", ["--hue", "x"], "--hue: not read when plotting run folders"),
    ("run", ["--window-s", "1"], "--window-s: not read when plotting run folders"),
    ("run", ["--timeline", "--y", "train_loss"], "--y: not read when plotting a timeline (--timeline)"),
    ("sweep", ["--x", "train.lr", "--y", "throughput", "--timeline"], "--timeline: not read when plotting a table"),
    ("run", ["--out", "{tmp}/fig.svg"], "fig.svg: figures are written as .png (and .pdf), in lower case"),
    ("run", ["--out", "{tmp}/fig.PNG"], "fig.PNG: figures are written as .png (and .pdf), in lower case"),
    ("sweep", ["--x", "train.lr", "--y", "throughput", "--out", "{tmp}/fig.svg"], "fig.svg: figures are written as"),
])
def test_an_option_the_source_does_not_read_is_one_line(base, tmp_path, capsys, source, options, part):
    """They were ignored without a word (and --out fig.svg made a folder fig.svg/ holding runs.png)."""
    argv = ["plot", base / source, *[o.format(tmp=tmp_path) for o in options]]
    if "--out" not in options:
        argv += ["--out", tmp_path / "f.png"]
    line = one_error_line(capsys, argv)
    assert part in line
    assert not list(tmp_path.iterdir())
