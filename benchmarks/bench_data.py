"""Building a task again in the same process, as every point of a sweep does in its worker: the dataset
parsed once (:mod:`ampsim.data.memo`) against parsed every time. Writes results/bench/data.csv.

For each experiment with real data (the whole train and test splits, as the experiment file has them):
``first_s``, the first build in this process (files read and parsed); ``again_s``, the next builds with the
memo (the best of ``REPEATS``); ``parsed_again_s``, the same with the memo off, interleaved with them
(side by side). What a build costs besides the files (the model, its parameters, each instance's data) is
in both.

``python -m benchmarks.bench_data [--quick --out DIR]``.
"""

from __future__ import annotations

import time
from pathlib import Path
from unittest import mock

from ampsim.config import load_config, parse_override
from ampsim.data import memo
from ampsim.errors import DataError
from ampsim.models import build_task
from benchmarks.common import OUT, ROOT, data_missing, load, machine, run_one, write_csv

EXPERIMENTS = ("sst_treelstm", "qm9_ggnn", "mnist_mlp")
#: the quick run's limits (a few instances)
QUICK = {"sst_treelstm": ("data.limit_train=40", "data.limit_test=8"),
         "qm9_ggnn": ("data.limit_train=40", "data.limit_valid=8"),
         "mnist_mlp": ("data.limit_train=320", "data.limit_test=32")}
REPEATS = 3
COLUMNS = ("case", "first_s", "again_s", "parsed_again_s", "again_over_parsed", "note", "machine", "load")


def _build_s(cfg) -> float:
    t0 = time.perf_counter()
    build_task(cfg)
    return time.perf_counter() - t0


def case(name: str, quick: bool) -> dict:
    cfg = load_config(ROOT / "experiments" / f"{name}.toml",
                      [parse_override(o) for o in ('executor.kind="sim"', *(QUICK[name] if quick else ()))])
    memo.clear()
    try:
        first = _build_s(cfg)
    except DataError as e:
        return {"case": name, "note": data_missing(e, name, quick)}
    again = parsed = float("inf")
    for _ in range(1 if quick else REPEATS):
        again = min(again, _build_s(cfg))
        with mock.patch.object(memo, "enabled", False):
            parsed = min(parsed, _build_s(cfg))
    memo.clear()
    return {"case": name, "first_s": round(first, 3), "again_s": round(again, 3), "parsed_again_s": round(parsed, 3),
            "again_over_parsed": round(again / parsed, 3), "machine": machine(), "load": load()}


def main(out: Path = OUT, quick: bool = False) -> list[dict]:
    """Time every experiment's task build, write ``out/data.csv`` and return its rows."""
    rows = [case(name, quick) for name in EXPERIMENTS]
    path = write_csv(out, "data.csv", COLUMNS, rows)
    for r in rows:
        if "again_s" in r:
            print(f"{r['case']}: first build {r['first_s']} s, again {r['again_s']} s with the dataset kept, "
                  f"{r['parsed_again_s']} s parsed again ({r['again_over_parsed']}×)")
        else:
            print(f"{r['case']}: {r['note']}")
    print(f"wrote {path}")
    return rows


if __name__ == "__main__":
    run_one(main, __doc__)
