"""``eval.advances_time``: an evaluation costs simulated time, so a run's clock is one clock. Each metrics row's
``time_s`` is the time its metric was known (after its evaluation), and the summary's time is all of it: the
row read the clock before its own evaluation and so held every evaluation but its own (the summary's throughput
left the last one out, while the utilizations counted it)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

import ampsim

ROOT = Path(__file__).resolve().parents[2]
SETS = {"executor.kind": "sim", "executor.hardware": str(ROOT / "hardware_models" / "ring4.toml"), "train.epochs": 3,
        "data.n_train": 480, "data.n_test": 64, "train.mak": 4}


def test_a_rows_time_is_after_its_evaluation_and_the_summary_counts_every_one(tmp_path):
    timed = ampsim.train(ROOT / "experiments" / "blobs_mlp.toml", tmp_path / "timed",
                         overrides={**SETS, "eval.advances_time": True})
    free = ampsim.train(ROOT / "experiments" / "blobs_mlp.toml", tmp_path / "free", overrides=SETS)
    s = timed.summary
    assert s["time_s"] == s["simulated_time_s"] and s["throughput_instances_per_s"] == s["instances"] / s["time_s"]
    rows, base = pd.read_csv(tmp_path / "timed" / "metrics.csv"), pd.read_csv(tmp_path / "free" / "metrics.csv")
    evaluation = (rows["time_s"].iloc[0] - base["time_s"].iloc[0])  # the first evaluation's simulated time
    assert evaluation > 0
    for k in range(3):  # every epoch trains as long and evaluates as long: row k holds k + 1 of each
        assert abs(rows["time_s"].iloc[k] - (k + 1) * (base["time_s"].iloc[0] + evaluation)) < 1e-12
    assert free.summary["time_s"] == free.summary["simulated_time_s"]  # without it, as before
