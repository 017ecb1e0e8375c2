"""A point's ``point.json`` says what ran: a pattern table's keys (first match wins) in the order its run read them,
the order its ``config.toml`` keeps, not sorted (two orders, two runs, two records that read alike)."""

from __future__ import annotations

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
