"""Smoke test of the benchmarks: ``python -m benchmarks.run_all --quick`` runs every benchmark to the end.

Nothing ran the benchmarks, so an import broke unnoticed (issue 11). Here each one runs on a few instances
(seconds in all) into a temporary folder, and every CSV must exist with the benchmark's columns and rows,
so an import error or a crash fails CI. No timing is asserted: speed targets live only in the full
benchmarks (``make bench``), whose numbers mean something on a quiet machine.

It runs as a subprocess, as ``make bench`` does: the multicore benchmark starts worker processes, and the
BLAS-thread default of ``ampsim/__init__.py`` only holds in a fresh interpreter. ``AMPSIM_OFFLINE=1``
stands in for the ``no_network`` fixture there. The benchmarks on MNIST and SST take the ``data_root``
fixture: without ``AMPSIM_DATA`` they skip, and with ``AMPSIM_REQUIRE_DATA=1`` (CI) a missing dataset
fails, in the benchmark itself too.
"""

from __future__ import annotations

import csv
import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

from ampsim.environment import cpu_model

ROOT = Path(__file__).resolve().parents[1]

#: per benchmark: its CSV's header, the column every measured row must fill, and whether it needs datasets
EXPECTED: dict[str, tuple[tuple[str, ...], str, bool]] = {
    "allocator": (("workload", "executor", "glibc_ms_per_instance", "steady_ms_per_instance", "steady_over_glibc",
                   "pairs", "machine", "load"), "steady_over_glibc", False),
    "data": (("case", "first_s", "again_s", "parsed_again_s", "again_over_parsed", "note", "machine", "load"),
             "first_s", True),
    "engine": (("case", "engine_us", "direct_numpy_us", "ratio", "goal_ratio", "machine", "load"), "ratio", False),
    "event_queue": (("case", "pending", "events", "heap_ns_per_event", "calendar_ns_per_event",
                     "heap_relative_to_fewest", "kernel_heap_ns_per_event", "kernel_heap_relative_to_fewest",
                     "kernel_queue_ns_per_event", "kernel_queue_relative_to_fewest", "queue_ns_per_message",
                     "machine", "load"),
                    "kernel_queue_ns_per_event", False),
    "info": (("case", "chips", "links", "info_s", "build_s", "describe_s", "diameter_hops", "goal_s", "machine",
              "load"), "info_s", False),
    "sim": (("case", "chips", "messages", "network_messages", "reference_wall_s", "sim_wall_s",
             "sim_over_reference", "goal", "messages_per_wall_s", "wall_us_per_message", "relative_to_fastest",
             "machine", "load"), "messages", False),
    "sst": (("system", "threads", "trees", "seconds", "trees_per_s", "hidden", "embed", "note", "machine",
             "load"), "trees_per_s", True),
    "replay": (("case", "chips", "instances", "messages", "full_wall_s", "record_wall_s", "replay_wall_s",
                "simpy_replay_wall_s", "replay_over_full", "goal", "same_time", "messages_per_wall_s", "wall_us_per_message",
                "relative_to_fastest", "series", "busy_chips", "hops_per_message", "wall_us_per_hop",
                "loop_us_per_message", "loop_relative_to_fastest", "events_per_message", "loop_ns_per_event",
                "routes_cold_s", "note", "machine", "load"), "messages_per_wall_s", True),
    "sweep": (("case", "chips", "points", "settled_ms_per_point", "unsettled_ms_per_point", "settled_over_unsettled",
               "settled_full_collections_per_point", "unsettled_full_collections_per_point", "plan_ms", "executor_ms",
               "train_ms", "loop_ms", "summary_ms", "note", "machine", "load"), "settled_ms_per_point", True),
    "scaling": (("workers", "groups", "mak", "sync", "instances", "measured_instances_per_s", "simulated_instances_per_s",
                 "error_pct", "measured_speedup", "simulated_speedup", "measured_efficiency", "controller_cpu_s",
                 "sync_rounds", "sync_gbytes", "cores", "config", "note", "machine", "load"),
                "measured_instances_per_s", True),
    "multicore": (("workload", "system", "instances", "best_instances_per_s", "median_instances_per_s",
                   "speedup_vs_reference", "cpu_ms_per_instance", "controller_cpu_ms", "cpu_bound_speedup",
                   "free_cores", "goal", "note", "machine", "load"), "best_instances_per_s", True),
}


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], Path]:
    """All benchmarks in quick mode, once for this module: the finished process and its output folder."""
    out = tmp_path_factory.mktemp("bench-quick")
    env = {**os.environ, "AMPSIM_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, "-m", "benchmarks.run_all", "--quick", "--out", str(out)], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=600)  # (a fresh checkout on a busy
    # host: 273 s, the compiled replay loop's first compile included; 62 s once warm)
    return proc, out


def _rows(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        return list(reader.fieldnames or ()), list(reader)


def test_every_benchmark_is_checked() -> None:
    # a new bench_<name>.py must be added to EXPECTED, or it would run here without being checked
    found = sorted(p.stem.removeprefix("bench_") for p in (ROOT / "benchmarks").glob("bench_*.py"))
    assert found == sorted(EXPECTED)


def test_quick_run_succeeds(quick_run: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    proc, _ = quick_run
    assert proc.returncode == 0, f"benchmarks failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_benchmark_wrote_its_csv(name: str, quick_run: tuple[subprocess.CompletedProcess[str], Path],
                                 request: pytest.FixtureRequest) -> None:
    columns, measured, needs_data = EXPECTED[name]
    if needs_data:
        request.getfixturevalue("data_root")  # skips without AMPSIM_DATA, fails if CI requires the data
    proc, out = quick_run
    assert f"== bench {name} (quick)" in proc.stdout, f"{name} did not run:\n{proc.stdout[-2000:]}"
    assert f"== bench {name} done" in proc.stdout, f"{name} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
    header, rows = _rows(out / f"{name}.csv")
    assert header == list(columns)
    assert rows, f"{name}.csv has no rows"
    for row in rows:
        note = row.get("note", "")
        # the data is there (data_root said so): no benchmark may have skipped for want of it
        assert not note.startswith("skipped"), f"{name}: {row}"
        if not note:
            assert float(row[measured]) > 0, f"{name}: {measured} not measured in {row}"
        if "machine" in row:  # the processor by name: "x86_64" told an AMD EPYC and an Intel Xeon host apart in no row
            assert row["machine"].startswith(cpu_model() or platform.machine()), row["machine"]


def test_a_sweep_points_phases_are_measured_and_within_it(quick_run: tuple[subprocess.CompletedProcess[str], Path],
                                                          data_root: Path) -> None:
    _, out = quick_run
    for row in _rows(out / "sweep.csv")[1]:
        phases = [float(row[f"{p}_ms"]) for p in ("plan", "executor", "train", "summary")]
        assert all(p > 0 for p in phases) and 0 < float(row["loop_ms"]) <= float(row["train_ms"]), row
        assert sum(phases) <= float(row["settled_ms_per_point"]) * 1.5, row  # (medians of each, not one point's)


@pytest.mark.parametrize("name", ["sst", "multicore"])
def test_pytorch_comparison_is_reported(name: str, quick_run: tuple[subprocess.CompletedProcess[str], Path],
                                        data_root: Path) -> None:
    # CI installs only .[dev] (no torch): the PyTorch row must then say so, never vanish silently
    _, out = quick_run
    _, rows = _rows(out / f"{name}.csv")
    torch_rows = [r for r in rows if r["system"].startswith("pytorch eager")]
    assert torch_rows, f"{name}.csv has no PyTorch row"
    for r in torch_rows:
        measured = EXPECTED[name][1]
        assert r[measured] or "torch not installed" in r["note"], r


def test_scaling_finishes_a_run_cut_off_after_measuring(quick_run: tuple[subprocess.CompletedProcess[str], Path],
                                                        data_root: Path, tmp_path: Path) -> None:
    # `bench_scaling --from DIR`: a lent machine's run stopped before compare.csv is scored from its measured
    # runs; the replay it simulates in gives each configuration the full simulation's time, bit for bit
    import json
    import shutil

    _, out = quick_run
    measured = tmp_path / "measured"
    shutil.copytree(out / "scaling", measured, ignore=shutil.ignore_patterns("compare.csv", "compare.png", "sim"))
    proc = subprocess.run([sys.executable, "-m", "benchmarks.bench_scaling", "--from", str(measured), "--out",
                           str(tmp_path)], cwd=ROOT, env={**os.environ, "AMPSIM_OFFLINE": "1"}, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-4000:]
    _, before = _rows(out / "scaling.csv")
    _, after = _rows(tmp_path / "scaling.csv")
    def key(r: dict) -> tuple:  # (the cut-off table names a configuration by its folder)
        return r["workers"], r["sync"], r["note"], r["measured_instances_per_s"]
    assert [key(r) for r in after] == [key(r) for r in before]
    for run in sorted((out / "scaling" / "runs").iterdir()):
        full = json.loads((run / "sim" / "summary.json").read_text())
        replayed = json.loads((measured / "resimulated" / "runs" / run.name / "sim" / "summary.json").read_text())
        assert replayed["time_s"] == full["time_s"] > 0, run.name


def test_scaling_from_a_folder_without_measurements_is_one_line(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "benchmarks.bench_scaling", "--from", str(tmp_path), "--out",
                           str(tmp_path / "out")], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.startswith("bench_scaling: error: ") and proc.stderr.count("\n") == 1, proc.stderr


def test_the_replay_chains_ran_on_the_compiled_loop(quick_run: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    """Every chain row times the compiled loop apart from the call's setup (its events counted)."""
    _, out = quick_run
    _, rows = _rows(out / "replay.csv")
    chains = [r for r in rows if r["case"].startswith("chain")]
    assert chains
    for r in chains:
        assert float(r["loop_ns_per_event"]) > 0 and 2 <= float(r["events_per_message"]) <= 5, r
        assert float(r["loop_us_per_message"]) <= float(r["wall_us_per_message"]), r


def test_the_next_epoch_of_sst_is_composed(quick_run: tuple[subprocess.CompletedProcess[str], Path],
                                           data_root: Path) -> None:
    """The bench's epoch row: the second epoch's recording has the first's messages, made in less time."""
    _, out = quick_run
    _, rows = _rows(out / "replay.csv")
    (row,) = [r for r in rows if r["case"] == "sst_epoch2_composed"]
    assert int(row["messages"]) > 0 and str(row["messages"]) in row["note"]
    assert 0 < float(row["replay_wall_s"]) < float(row["record_wall_s"]), row
