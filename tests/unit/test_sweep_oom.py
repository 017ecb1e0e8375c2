"""A sweep point whose chip runs out of memory is an outcome, as one that diverges: a finished point whose
summary says where it stopped and whose row says "out of memory", not a failure that blocked the table and
was run again by every later run."""

import json
from pathlib import Path

import pandas as pd
import pytest

from ampsim.cli import main
from ampsim.errors import RunError
from ampsim.sweeps.run import run_sweep
from ampsim.sweeps.spec import load_sweep

ROOT = Path(__file__).resolve().parents[2]

#: list reduction on 16 chips: at 100 kB a chip holds its parameters (99,328 bytes) but not the first instance's
#: state, which stops the run at t > 0; at 400 MB every point fits
SWEEP = f"""
[sweep]
experiment = "{ROOT / 'experiments' / 'list_reduction.toml'}"
hardware = "{ROOT / 'hardware_models' / 'mesh4x4.toml'}"
[fixed]
"train.epochs" = 1
"data.n_train" = 160
"data.n_test" = 16
[grid]
"hardware.chip.memory_bytes" = [1.0e5, 4.0e8]
"executor.numerics" = [true, false]
[[figure]]
name = "throughput"
kind = "xy"
x = "hardware.chip.memory_bytes"
y = "throughput"
logx = true
[[figure]]
name = "bars"
kind = "bar"
x = "hardware.chip.memory_bytes"
y = "time_s"
[[figure]]
name = "heat"
kind = "heatmap"
y = "hardware.chip.memory_bytes"
where = {{ "executor.numerics" = false }}
"""


def _summaries(out: Path) -> dict[str, dict]:
    return {p.name: json.loads((p / "summary.json").read_text()) for p in out.iterdir() if p.is_dir()}


def test_a_point_that_runs_out_of_chip_memory_is_a_row_saying_so(tmp_path, monkeypatch):
    monkeypatch.setenv("AMPSIM_RECORDINGS", "off")
    path = tmp_path / "oom.toml"
    path.write_text(SWEEP)
    out = tmp_path / "out"
    table = pd.read_csv(run_sweep(load_sweep(path), out, jobs=1))  # (it raised "2 of 4 point(s) failed")
    assert len(table) == 4
    small = table[table["hardware.chip.memory_bytes"] == 1e5]
    big = table[table["hardware.chip.memory_bytes"] == 4e8]
    assert small["out_of_memory"].str.startswith("chip ").all() and small["out_of_memory"].str.contains(
        "out of memory at t=").all()
    assert small[["final_metric", "time_s", "throughput", "chip_util_mean"]].isna().all().all()
    assert (small["epochs"] == 0).all()
    assert big["out_of_memory"].isna().all() and (big["epochs"] == 1).all() and big["throughput"].notna().all()
    assert big[big["executor.numerics"]]["final_metric"].notna().all()
    assert (table["hardware"] == "mesh4x4").all() and (table["n_chips"] == 16).all()  # (blank where it stopped)
    # the summary records where it stopped; a replay stops where the full run does, on the same chip and bytes
    summaries = _summaries(out)
    records = [summaries[pid]["out_of_memory"] for pid in small.sort_values("executor.numerics")["point_id"]]
    assert records[0] == records[1]
    assert records[0]["time_s"] > 0 and records[0]["used_bytes"] > records[0]["memory_bytes"] == 100_000
    assert records[0]["used_bytes"] == (records[0]["param_bytes"] + records[0]["instance_bytes"]
                                        + records[0]["queued_bytes"])
    assert set(records[0]) == {"chip", "time_s", "used_bytes", "memory_bytes", "param_bytes", "instance_bytes",
                               "queued_bytes", "error"}
    # done: a re-run runs nothing and writes the same table
    written = {p.name: (p / "summary.json").stat().st_mtime_ns for p in out.iterdir() if p.is_dir()}
    assert pd.read_csv(run_sweep(load_sweep(path), out, jobs=1)).equals(table)
    assert written == {p.name: (p / "summary.json").stat().st_mtime_ns for p in out.iterdir() if p.is_dir()}
    # figures draw the points that fit and leave out (or blank) those that did not
    assert main(["plot", str(path), "--sweep-dir", str(out), "--out", str(tmp_path / "figs")]) == 0
    assert sorted(p.name for p in (tmp_path / "figs").glob("*.png")) == ["bars.png", "heat.png", "throughput.png"]


def test_a_model_larger_than_a_chips_memory_is_a_row_saying_so(tmp_path):
    """Parameters that do not fit stop the run before it trains: refused by the placement (a node it finds no
    chip with room for: a ConfigError for ``ampsim train``) or, placed as told (``single``), by the executor at
    t=0. Either point is done as well, with its config and summary, and no metrics."""
    path = tmp_path / "big.toml"
    path.write_text(f"""
[sweep]
experiment = "{ROOT / 'experiments' / 'blobs_mlp.toml'}"
hardware = "{ROOT / 'hardware_models' / 'ring4.toml'}"
[fixed]
"data.n_train" = 320
"data.n_test" = 100
"model.hidden" = [16]
"train.epochs" = 2
[grid]
"hardware.chip.memory_bytes" = [1.0e9, 16.0]
"placement.strategy" = ["round_robin", "single"]
[[figure]]
name = "curves"
kind = "curves"
x = "epoch"
y = "metric"
[[figure]]
name = "final"
kind = "xy"
x = "hardware.chip.memory_bytes"
y = "final_metric"
logx = true
""")
    out = tmp_path / "out"
    assert main(["sweep", str(path), "--out", str(out), "--no-progress", "--jobs", "2"]) == 0
    table = pd.read_csv(out / "table.csv")
    tiny = table[table["hardware.chip.memory_bytes"] == 16].set_index("placement.strategy")
    fits = table[table["hardware.chip.memory_bytes"] == 1e9]
    assert "finds no chip with room for node fc0" in tiny.loc["round_robin", "out_of_memory"]
    assert "chip 0 out of memory at t=0 s" in tiny.loc["single", "out_of_memory"]
    assert tiny["final_metric"].isna().all() and (tiny["epochs"] == 0).all()
    assert fits["out_of_memory"].isna().all() and (fits["final_metric"] > 0).all()
    summaries = _summaries(out)
    for strategy in ("round_robin", "single"):
        folder = out / tiny.loc[strategy, "point_id"]
        assert (folder / "config.toml").is_file() and not (folder / "metrics.csv").exists()
        record = summaries[folder.name]["out_of_memory"]
        assert record["time_s"] == 0 and record["used_bytes"] > record["memory_bytes"] == 16
    assert summaries[tiny.loc["round_robin", "point_id"]]["out_of_memory"]["node"] == "fc0"
    assert main(["sweep", str(path), "--out", str(out), "--no-progress", "--jobs", "1"]) == 0  # nothing to run
    assert summaries == _summaries(out)
    # (no metrics.csv; a row that names no metric, first in the table, crashed the axis label)
    assert main(["plot", str(path), "--sweep-dir", str(out), "--out", str(tmp_path / "figs")]) == 0
    assert sorted(p.name for p in (tmp_path / "figs").glob("*.png")) == ["curves.png", "final.png"]


def test_plotting_a_run_that_stopped_before_its_first_epoch_says_so(tmp_path, capsys):
    """``plot RUN`` on such a point said it was no run folder (no metrics.csv)."""
    run = tmp_path / "point"
    run.mkdir()
    (run / "summary.json").write_text(json.dumps({"time_s": None, "instances": 0,
                                                 "out_of_memory": {"chip": 1, "error": "chip 1 out of memory"}}))
    assert main(["plot", str(run), "--out", str(tmp_path / "r.png")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "a run that stopped (out of memory) before its first epoch ended" in err[0]


@pytest.mark.parametrize("strategy,line", [("single", "ampsim: error: chip 0 out of memory at t=0 s"),
                                           ("round_robin", "finds no chip with room for node fc0")])
def test_a_run_on_its_own_still_fails_in_one_line(tmp_path, capsys, strategy, line):
    """Only a sweep keeps it as a result: ``ampsim train`` exits 2 with its line and writes no run."""
    out = tmp_path / "run"
    assert main(["train", str(ROOT / "experiments" / "blobs_mlp.toml"), "--executor", "sim", "--hardware",
                 str(ROOT / "hardware_models" / "ring4.toml"), "--set", "hardware.chip.memory_bytes=16",
                 "--set", f'placement.strategy="{strategy}"', "--set", "train.epochs=1", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("ampsim: error: ") and line in err[0]
    assert not out.exists()


def test_the_error_is_a_run_error_that_pickles_with_its_record():
    import pickle

    from ampsim.errors import OutOfMemory

    e = OutOfMemory("chip 1 out of memory", {"chip": 1, "used_bytes": 9})
    back = pickle.loads(pickle.dumps(e))
    assert isinstance(back, RunError) and str(back) == str(e) and back.record() == {**e.where, "error": str(e)}


@pytest.mark.parametrize("edit", [{"out_of_memory": "no"}, {"out_of_memory": {"chip": 1}}])
def test_an_edited_out_of_memory_record_is_a_damaged_point(tmp_path, edit):
    """(its line goes into the table: a point whose record is not one is run again, as one damaged otherwise)"""
    from ampsim.sweeps.folder import point_lacks

    (tmp_path / "summary.json").write_text(json.dumps({"time_s": None, "instances": 0, **edit}))
    assert point_lacks(tmp_path) == "has a damaged summary.json (out_of_memory: not an object with the error's line)"
    (tmp_path / "summary.json").write_text(json.dumps({"time_s": None, "instances": 0,
                                                       "out_of_memory": {"error": "chip 1 out of memory"}}))
    assert point_lacks(tmp_path) is None


def test_a_traced_point_that_stops_is_done_without_a_trace(tmp_path, monkeypatch):
    """A traced point is finished only with its trace.json, which a run that stopped never writes: it was run
    again by every later run. A timeline draws the first matching point that ran."""
    monkeypatch.setenv("AMPSIM_RECORDINGS", "off")
    path = tmp_path / "traced.toml"
    path.write_text(SWEEP.replace('"executor.numerics" = [true, false]', '"executor.numerics" = [false]').replace(
        '"train.epochs" = 1', '"train.epochs" = 1\n"executor.trace" = true').split("[[figure]]")[0]
                    + '[[figure]]\nname = "timeline"\nkind = "timeline"\n')
    out = tmp_path / "out"
    table = pd.read_csv(run_sweep(load_sweep(path), out, jobs=1))
    assert table["out_of_memory"].notna().tolist() == [True, False]
    written = {p.name: (p / "summary.json").stat().st_mtime_ns for p in out.iterdir() if p.is_dir()}
    run_sweep(load_sweep(path), out, jobs=1)
    assert written == {p.name: (p / "summary.json").stat().st_mtime_ns for p in out.iterdir() if p.is_dir()}
    assert main(["plot", str(path), "--sweep-dir", str(out), "--out", str(tmp_path / "figs")]) == 0
    assert (tmp_path / "figs" / "timeline.png").is_file()


def test_a_traced_point_that_diverged_is_done_too(tmp_path):
    path = tmp_path / "div.toml"
    path.write_text(f"""
[sweep]
experiment = "{ROOT / 'experiments' / 'blobs_mlp.toml'}"
hardware = "{ROOT / 'hardware_models' / 'ring4.toml'}"
[fixed]
"data.n_train" = 320
"data.n_test" = 100
"model.hidden" = [16]
"train.epochs" = 2
"train.optimizer" = "sgd"
"executor.trace" = true
[grid]
"train.lr" = [0.003, 1.0e6]
""")
    out = tmp_path / "out"
    table = pd.read_csv(run_sweep(load_sweep(path), out, jobs=1))
    assert table.sort_values("train.lr")["diverged"].notna().tolist() == [False, True]
    written = {p.name: (p / "summary.json").stat().st_mtime_ns for p in out.iterdir() if p.is_dir()}
    run_sweep(load_sweep(path), out, jobs=1)
    assert written == {p.name: (p / "summary.json").stat().st_mtime_ns for p in out.iterdir() if p.is_dir()}


@pytest.mark.parametrize("edit", [{"diverged": {"note": "edited"}}, {"diverged": 3}])
def test_an_edited_divergence_line_is_a_damaged_point(tmp_path, edit):
    """Its line goes into the table too: a record that is no line (an object) made the table's writing fail with
    KeyError's traceback, and the point was never run again."""
    from ampsim.sweeps.folder import point_lacks

    (tmp_path / "summary.json").write_text(json.dumps({"time_s": None, "instances": 0, **edit}))
    assert point_lacks(tmp_path) == "has a damaged summary.json (diverged: not the error's line)"
    (tmp_path / "summary.json").write_text(json.dumps({"time_s": None, "instances": 0, "diverged": "loss nan"}))
    assert point_lacks(tmp_path) is None


#: what a summary says of the run beside its numbers: a stopped point's row left the machine's columns blank
IDENTITY = ("experiment", "task", "executor", "time_unit", "metric", "target", "hardware", "n_chips", "numerics")


@pytest.mark.parametrize("memory_bytes", [1.0e3, 1.0e5])  # refused by the placement; out of memory at t > 0
@pytest.mark.parametrize("numerics", [True, False])
def test_a_stopped_point_names_its_machine_as_a_finished_one_does(tmp_path, monkeypatch, memory_bytes, numerics):
    from ampsim.config import load_config
    from ampsim.tables import summary_columns
    from ampsim.training import train_experiment

    monkeypatch.setenv("AMPSIM_RECORDINGS", "off")

    def run(memory: float, out: str) -> dict:
        cfg = load_config(ROOT / "experiments" / "list_reduction.toml", [
            ("executor.kind", "sim"), ("executor.hardware", str(ROOT / "hardware_models" / "mesh4x4.toml")),
            ("executor.numerics", numerics), ("train.epochs", 1), ("data.n_train", 32), ("data.n_test", 16),
            ("hardware.chip.memory_bytes", memory)])
        return train_experiment(cfg, tmp_path / out, record_outcome=True)

    finished, stopped = run(4.0e8, "finished"), run(memory_bytes, "stopped")
    assert "out_of_memory" in stopped and "out_of_memory" not in finished
    assert {k: stopped.get(k) for k in IDENTITY} == {k: finished.get(k) for k in IDENTITY}
    assert stopped["hardware"] == "mesh4x4" and stopped["n_chips"] == 16 and stopped["metric"] == "test_accuracy"
    assert json.loads((tmp_path / "stopped" / "summary.json").read_text()) == stopped
    row = summary_columns(stopped)
    assert (row["hardware"], row["n_chips"], row["metric"]) == ("mesh4x4", 16, "test_accuracy")
