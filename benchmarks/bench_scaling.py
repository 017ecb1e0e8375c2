"""Replica scaling of the multicore executor on this machine, measured and simulated side by side.

The SST Tree-LSTM in G whole-model replica groups on G worker processes (``replicas.groups = G``,
``placement.strategy = "groups"``: group g on worker g), G = 1, 2, 4, … up to one worker per core (and the
core count itself when it is not a power of two), 16 instances in flight per group (mak = 16 G), the
copies' parameters averaged through the controller after every update (``replicas.sync_every = 1``;
with the most workers also every 4 updates); then the same from 2 workers up with ``replicas.sparse_sync``
(the embedding's rounds move only the rows the copies changed, ``sync = sparse``).
Every configuration trains the same first ``FULL.instances`` trees of one epoch.

It is ``ampsim compare`` with those configurations: each one is measured ``FULL.repeats`` times on the
multicore executor (wall clock, the median counts) and simulated on a model of *this* machine that
``ampsim calibrate`` measures first, so the table says how far this machine scales and how well the
simulator predicts it. Columns: ``measured_instances_per_s`` / ``simulated_instances_per_s``, the
simulator's ``error_pct``, the speedups over one worker (``measured_speedup``, ``simulated_speedup``),
``measured_efficiency`` (speedup ÷ workers; one worker, one group, has no synchronization: both series
share its run), the controller's CPU seconds and the parameter bytes the
synchronizations moved (``sync_gbytes``, both from the measured run), ``cores`` (what G busy processes got).

Writes ``results/bench/scaling.csv``, and beside it ``scaling/``: compare's folder (``compare.csv``,
``compare.png``, every run's config, summary and placement under ``runs/``) with the calibrated model
(``machine.toml`` and its ``.calibration.json``), so ``ampsim compare --resimulate --from
results/bench/scaling --hardware results/bench/scaling/machine.toml`` scores a changed simulator against
the same measurements on any machine. On 16 cores it takes over ten minutes (on the lent machine of
2026-12-04 17:05: calibration 1, the 22 measured runs 5, then a full simulation of each configuration, about
half a minute each), more than a lease's call allows: the README's 16-core figures come from such a run, cut
off while it simulated, finished here by ``--from`` (:func:`finish`: the simulations again, in a replay).
``python -m benchmarks.bench_scaling [--quick --out DIR | --from DIR]``.
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from ampsim.errors import AmpsimError, DataError
from benchmarks.common import OUT, ROOT, data_missing, load, machine, output_folder, parser, write_csv


@dataclass(frozen=True)
class Size:
    """How much each configuration trains, how often it is measured, how long calibration measures."""

    instances: int
    repeats: int
    quick_calibration: bool
    max_workers: int | None  # None: one per core
    sync_every: tuple[int, ...]  # with the most workers, also averaging every k updates (sync costs less)
    sparse: bool  # the series again with replicas.sparse_sync (from 2 workers)


FULL = Size(instances=1600, repeats=2, quick_calibration=False, max_workers=None, sync_every=(4,), sparse=True)
QUICK = Size(instances=8, repeats=1, quick_calibration=True, max_workers=2, sync_every=(), sparse=True)
#: instances in flight per replica group
MAK_PER_GROUP = 16
COLUMNS = ("workers", "groups", "mak", "sync", "instances", "measured_instances_per_s", "simulated_instances_per_s",
           "error_pct", "measured_speedup", "simulated_speedup", "measured_efficiency", "controller_cpu_s",
           "sync_rounds", "sync_gbytes", "cores", "config", "note", "machine", "load")


def worker_counts(cores: int) -> list[int]:
    """1, 2, 4, … up to ``cores``, and ``cores`` itself.

    >>> worker_counts(16), worker_counts(12), worker_counts(1)
    ([1, 2, 4, 8, 16], [1, 2, 4, 8, 12], [1])
    """
    counts = [g for g in (2 ** i for i in range(cores.bit_length())) if g <= cores]
    return counts if counts[-1] == cores else [*counts, cores]


def configs(counts: list[int], every: tuple[int, ...] = (), sparse: bool = False) -> list[tuple[int, str]]:
    """(workers, compare's configuration) for these worker counts, one replica group per worker, and for the
    most workers once more per synchronization interval in ``every``; with ``sparse``, all of it again with
    sparse synchronization from 2 workers up.

    >>> [label for _, label in configs([1, 2], sparse=True)][1:]
    ['workers=2,replicas.groups=2,placement="groups",mak=32', \
'workers=2,replicas.groups=2,placement="groups",mak=32,replicas.sparse_sync=true']
    """
    def label(g: int) -> str:
        return f'workers={g},replicas.groups={g},placement="groups",mak={MAK_PER_GROUP * g}'
    dense = [(g, label(g)) for g in counts] + [(counts[-1], f"{label(counts[-1])},replicas.sync_every={k}")
                                               for k in every]
    return dense + [(g, f"{c},replicas.sparse_sync=true") for g, c in dense if g > 1 and sparse]


def _measured_summary(folder: Path, label: str) -> dict:
    """The first measured run's summary of configuration ``label`` in compare's ``folder`` ({} if none)."""
    from ampsim.calibration.compare import run_folder
    from ampsim.calibration.rescore import measured_runs

    runs = measured_runs(folder / "runs" / run_folder(label))
    return runs[0] if runs else {}


def main(out: Path = OUT, quick: bool = False) -> list[dict]:
    """Calibrate this machine, compare every worker count; writes ``out/scaling.csv`` (+ ``out/scaling/``)."""
    from ampsim.calibration.compare import run_compare
    from ampsim.calibration.thismachine import run_calibration
    from ampsim.hardware.local import default_workers

    size = QUICK if quick else FULL
    cores = min(default_workers(), size.max_workers or default_workers())
    counts = configs(worker_counts(cores), size.sync_every, size.sparse)
    folder = out / "scaling"
    model = folder / "machine.toml"
    # quick: too few trees for a minibatch of 25, too few to spend seconds evaluating
    sets = [("train.max_instances", size.instances)] + ([("train.muf", 4), ("eval.limit", 10)] if quick else [])
    try:
        run_calibration(model, cores, quick=size.quick_calibration)
        rows_in, _ = run_compare(ROOT / "experiments" / "sst_treelstm.toml", sets, ";".join(c for _, c in counts),
                                 workers=cores, hardware=model, out=folder, repeat=size.repeats)
    except DataError as e:
        rows = [{"note": data_missing(e, "sst_treelstm", quick), "machine": machine(), "load": load()}]
        write_csv(out, "scaling.csv", COLUMNS, rows)
        return rows
    return _table(out, folder, rows_in, machine())


def finish(measured: Path, out: Path = OUT) -> list[dict]:
    """The table of a run cut off after its measurements (a lent machine's time limit): simulate every
    configuration measured under ``measured`` (compare's folder) again on the model calibrated with it
    (``measured/machine.toml``), in a replay (``executor.numerics = false``: the full simulation's times
    bit for bit, without the numpy), into ``measured/resimulated/``; then ``out/scaling.csv`` as above."""
    from ampsim.calibration.rescore import resimulate

    rows_in, _, _ = resimulate(measured, [("executor.numerics", False)], hardware=measured / "machine.toml")
    return _table(out, measured, rows_in, f"measured in {measured.name}/ (device_machine.txt); simulated: {machine()}")


def _table(out: Path, folder: Path, rows_in: list[dict], where: str) -> list[dict]:
    """``out/scaling.csv`` from compare's rows (the one-worker configuration first)."""
    one = rows_in[0]
    rows = []
    for r in rows_in:
        g = int(r["workers"])
        m = _measured_summary(folder, r["config"])
        measured, simulated = float(r["measured_throughput"]), float(r["simulated_throughput"])
        speedup = measured / float(one["measured_throughput"])
        every = re.search(r"sync_every=(\d+)", r["config"])
        rows.append({"workers": g, "groups": g, "mak": MAK_PER_GROUP * g, "instances": r["instances"],
                     "sync": "sparse" if "sparse_sync" in r["config"] else "dense",
                     "note": f"sync_every={every[1]}" if every else "",
                     "measured_instances_per_s": measured, "simulated_instances_per_s": simulated,
                     "error_pct": r["throughput_error_pct"], "measured_speedup": speedup,
                     "simulated_speedup": simulated / float(one["simulated_throughput"]),
                     "measured_efficiency": speedup / g, "controller_cpu_s": m.get("controller_cpu_s"),
                     "sync_rounds": m.get("sync_rounds"), "sync_gbytes": m.get("sync_bytes", 0) / 1e9,
                     "cores": r["cores"], "config": r["config"], "machine": where, "load": load()})
    path = write_csv(out, "scaling.csv", COLUMNS, rows)
    for r in rows:
        print(f"{r['workers']:>3} workers, {r['sync']} {r['note']:>12} {r['measured_instances_per_s']:8.1f}/s measured "
              f"(x{r['measured_speedup']:.2f}, efficiency {r['measured_efficiency']:.2f}), "
              f"{r['simulated_instances_per_s']:8.1f}/s simulated ({r['error_pct']:+.1f} %)")
    print(f"wrote {path} and {folder}/ (cores: {os.cpu_count()})")
    return rows


if __name__ == "__main__":
    cli = parser(__doc__)
    cli.add_argument("--from", dest="measured", type=Path, default=None,
                     help="finish a run cut off after measuring: resimulate this compare folder (see finish())")
    args = cli.parse_args()
    if args.measured is None:
        main(out=output_folder(cli, args), quick=args.quick)
    else:
        try:
            finish(args.measured, out=output_folder(cli, args))
        except AmpsimError as e:  # a folder that holds no measurements, a model that does not load: one line
            print(f"bench_scaling: error: {e}", file=sys.stderr)
            sys.exit(2)
