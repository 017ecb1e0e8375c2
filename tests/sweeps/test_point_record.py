"""A point's ``point.json`` says what ran: a pattern table's keys (first match wins) in the order its run read them,
the order its ``config.toml`` keeps, not sorted (two orders, two runs, two records that read alike)."""

from __future__ import annotations

import csv
import json
import tomllib

from sweep_kit import tiny_sweep

from ampsim.sweeps.run import run_sweep
from ampsim.sweeps.spec import load_sweep

#: two orders of one placement map: fc0 on chip 3, then on chip 1
ORDERS = ('"placement.map" = [{"fc*" = 3, "*0" = 1, "*" = 0}, {"*0" = 1, "fc*" = 3, "*" = 0}]\n'
          '[fixed.placement]\nstrategy = "explicit"\n')


def test_a_points_record_keeps_its_pattern_tables_order(tmp_path):
    """Both records wrote ``{"*": 0, "*0": 1, "fc*": 3}``, in their values and overrides, where each point's config
    read its own order."""
    path = tmp_path / "s.toml"
    path.write_text(tiny_sweep() + ORDERS)
    sweep = load_sweep(path)
    run_sweep(sweep, tmp_path / "out", jobs=1)
    orders = []
    for p in sweep.points:
        folder = tmp_path / "out" / p.point_id
        ran = list(tomllib.loads((folder / "config.toml").read_text())["placement"]["map"])
        record = json.loads((folder / "point.json").read_text())  # (json keeps the order it reads)
        assert list(record["values"]["placement.map"]) == ran
        assert list(dict(record["overrides"])["placement.map"]) == ran
        assert record["overrides"][:-1] == [[k, v] for k, v in p.overrides[:-1]]  # (the rest as it was)
        orders.append(ran)
    assert orders == [["fc*", "*0", "*"], ["*0", "fc*", "*"]]


def test_a_label_changed_in_the_file_is_the_tables_and_not_the_finished_points_record(tmp_path):
    """A label names a point and is no part of its run: the point is kept, the table written again takes the new
    label, and ``point.json`` keeps the one it ran under (as documented: experiments/sweeps/README.md)."""
    path = tmp_path / "s.toml"

    def labelled(first: str) -> str:
        return (tiny_sweep().replace("[grid]\n", "") + f'[[points]]\nlabel = "{first}"\n"train.mak" = 1\n'
                '[[points]]\nlabel = "amp"\n"train.mak" = 4\n')

    path.write_text(labelled("sync"))
    run_sweep(load_sweep(path), tmp_path / "out", jobs=1)
    point = tmp_path / "out" / load_sweep(path).points[0].point_id
    ran = (point / "summary.json").stat().st_mtime_ns
    path.write_text(labelled("synchronous"))
    with open(run_sweep(load_sweep(path), tmp_path / "out", jobs=1), newline="") as f:
        labels = {row["point_id"]: row["label"] for row in csv.DictReader(f)}
    assert labels[point.name] == "synchronous" and sorted(labels.values()) == ["amp", "synchronous"]
    assert json.loads((point / "point.json").read_text())["label"] == "sync"
    assert (point / "summary.json").stat().st_mtime_ns == ran  # (not run again)
