"""``ampsim compare --resimulate``: score the model as it is now against measurements already taken.

Measuring takes a quiet machine and minutes; simulating takes seconds. When the model changes (a new rule,
a recalibration, a ``--set hardware.*`` what-if), the measured runs that ``ampsim compare`` left under
``<dir>/runs/<config>/multicore*`` still describe the machine, so this module simulates each configuration
again, with the placement the measurement used, and writes a new table beside them: measured values,
the cores and speed measured with them and the message counts are the table's; only the simulated side
(and so the error, the demand and the slowdown) is new.

It also returns, per measured run, the controller's CPU time, instances and messages, which
:func:`~ampsim.calibration.transport.fit_controller` fits per instance and per message as ``ampsim
calibrate`` does over its own runs: what the ``[host]`` table of a model of that machine would hold.

The model (``--hardware``, default ``hardware_models/local_cpu.toml``) should describe the machine the
measurements were taken on, which need not be this one: nothing is measured here, so unlike ``ampsim
compare`` this does not refuse a model calibrated elsewhere.

Output: ``compare.csv``, ``compare.png`` and ``runs/<config>/sim`` under ``out`` (default
``<dir>/resimulated``; never ``<dir>`` itself, whose table records what was simulated when it was measured, nor
another measured compare folder). The table and the runs' summaries are checked before anything is simulated:
a value that is not what a compare wrote is one line naming the file and the column or key.
"""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path
from typing import Any

from ampsim import runfiles
from ampsim.errors import ConfigError, shown

log = logging.getLogger(__name__)

__all__ = ["check_rows_of_runs", "measured_runs", "resimulate"]

#: how many characters of a value a message shows (a table's cell or a summary's key may hold any length of text)
_CUT = 40


def resimulate(measured: str | Path, overrides: list[tuple[str, Any]] = (), hardware: str | Path | None = None,
               out: str | Path | None = None, experiment: str | None = None) -> tuple[list[dict], dict, list[dict]]:
    """Simulate every configuration of the compare folder ``measured`` again on the model ``hardware``
    (default: ``hardware_models/local_cpu.toml``) with ``overrides``; write the table under ``out``. Returns
    (rows, ranking agreement, per measured run its instances, messages and controller CPU: what
    :func:`~ampsim.calibration.transport.fit_controller` fits). ``experiment``: the name the measurements must
    be of (the command line's experiment file: measurements of another are one ConfigError line); ``overrides``
    only of :data:`WHAT_IFS` (:func:`check_what_ifs`)."""
    from ampsim.calibration.compare import scored_row, simulate_run
    from ampsim.calibration.outfolder import check_compare_folder, into_folder
    from ampsim.calibration.report import COMPARE_PLOT, COMPARE_TABLE, plot, ranking_agreement, read_csv, write_csv
    from ampsim.calibration.simulated import calibrated_system, simulated_plan
    from ampsim.folders import check_not_in_staging
    from ampsim.hardware.local import LOCAL_MODEL, local_model_path
    from ampsim.hardware.parse import load_system
    from ampsim.outputs import check_output_dir

    check_what_ifs(overrides)
    measured = Path(measured)
    table = measured / COMPARE_TABLE
    # (a folder named compare.csv is a mistake, said so in one line: it was read as no table, the rows taken from
    # runs/ on a dedicated machine)
    if os.path.lexists(table) or not (measured / "runs").is_dir():
        rows_in = _table_rows(table, read_csv(table))
    else:
        rows_in = _rows_from_runs(measured)
    out = Path(out) if out else measured / "resimulated"
    if out.resolve() == measured.resolve():
        raise ConfigError(f"{out}: would replace the measured table; give another --out")
    check_not_in_staging(out)
    check_output_dir(out)
    _check_not_measured(out)
    configs = [(r, _run_dir(measured, r["config"])) for r in rows_in]
    runs = {r["config"]: measured_runs(d) for r, d in configs}  # every input read before anything is run
    hw_path = Path(hardware) if hardware else local_model_path()
    if hw_path is None or not os.path.lexists(hw_path):  # (a folder, a pipe: load_system says which, in one line)
        raise ConfigError(f"{hardware or LOCAL_MODEL}: no such hardware model (give --hardware: the model of the "
                          "machine the measurements were taken on)")
    if not (model := load_system(hw_path)).measured:  # (compare itself refuses one: not this machine's)
        log.warning("%s: a hand-written model (%s), not a calibrated one: the errors against it compare the machine "
                    "the measurements were taken on with another one, not the simulator with its machine", hw_path,
                    model.description or model.name)
    plans = []
    for r, d in configs:
        cfg = _config(d, overrides)
        plans.append((r, d, cfg, _placement(d, _workers(table, r, d, runs[r["config"]]), runs[r["config"]], cfg),
                      calibrated_system(hw_path, r["workers"], cfg.hardware)))
    names = list(dict.fromkeys(p[2].experiment.name for p in plans))  # (one, unless the measurements were mixed)
    if experiment is not None and names != [experiment]:
        raise ConfigError(f"{measured}: holds measurements of {', '.join(map(repr, names))}, not of experiment "
                          f"{experiment!r}; give that experiment's file, or its measurements (--from)")
    for name in names:
        check_compare_folder(out, name)
    # every configuration planned before the first is simulated: a placement.json naming other nodes than the
    # model's was refused once the configurations before it were simulated, into the output folder
    planned = [simulated_plan(cfg, placement, system, hw_path) for _, _, cfg, placement, system in plans]
    for (r, d, cfg, _, _), p in zip(plans, planned):
        _check_config_of_runs(d, cfg, p.task, runs[r["config"]])

    def score(folder: Path) -> tuple[list[dict], dict, list[dict]]:
        rows, sides = [], []
        for (r, d, cfg, placement, system), p in zip(plans, planned):
            summaries = runs[r["config"]]
            sides += [{"instances": m["instances"], "messages": m["messages_processed"],
                       "controller_cpu_s": m["controller_cpu_s"]} for m in summaries]
            simulated = simulate_run(cfg, placement, system, folder / "runs" / d.name / "sim", hw_path, planned=p)
            counts = {k: r[k] for k in ("messages_per_instance", "remote_per_instance")}
            rows.append(scored_row(r["config"], cfg, summaries, simulated, counts, speed=r["speed"],
                                   cores=r["cores"]))
        agreement = ranking_agreement(rows)
        write_csv(rows, folder / COMPARE_TABLE)
        plot(rows, agreement, folder / COMPARE_PLOT, f"{measured.name}: measured vs resimulated ({hw_path.name})")
        return rows, agreement, sides

    return into_folder(out, score)  # an earlier table there is replaced whole, or not at all


#: what ``--set`` may change when re-scoring (docs/calibration.md): the model (``hardware.*`` what-ifs) and whether
#: the simulator replays the run (``executor.numerics``); an allow-list, since any other key (train.*, data.*,
#: model.*, placement.*, replicas.*, the executor's workers, ...) changes the run itself, which was measured as it was
WHAT_IFS = ("hardware", "executor.numerics")


def check_what_ifs(overrides: list[tuple[str, Any]]) -> None:
    """Refuse, in one line, an override of a key outside :data:`WHAT_IFS` (or of one inside a table,
    ``train={mak=16}``): the simulated run would not be the measured one, and the table would score the two
    against each other without a word."""
    from ampsim.calibration.compare import set_keys

    for key in (k for o in overrides for k in set_keys(*o)):
        if not any(key == w or key.startswith(w + ".") for w in WHAT_IFS):
            raise ConfigError(f"--set {key}: not with --resimulate, which scores the runs as they were measured "
                              "(it takes hardware.* what-ifs and executor.numerics); measure the changed run with "
                              "ampsim compare")


def _rows_from_runs(measured: Path) -> list[dict]:
    """The table of a compare that stopped after its measurements, before it wrote ``compare.csv``: one row
    per ``runs/<config>/multicore`` (the folder's name for the configuration's), in order of workers.
    The cores and the machine's speed measured around the runs are lost with the table: the rows take a
    dedicated machine (a core per worker, speed 1), so the simulation is not stretched; said in a warning."""
    from ampsim.calibration.report import COMPARE_TABLE

    rows = []
    for d in sorted(p for p in (measured / "runs").iterdir() if (p / "multicore" / runfiles.SUMMARY).is_file()):
        runs = measured_runs(d)
        n = int(runs[0].get("n_workers") or 1)
        insts = max(sum(m["instances"] for m in runs), 1)
        rows.append({"config": d.name, "workers": n, "speed": 1.0, "cores": float(n),
                     "messages_per_instance": sum(m["messages_processed"] for m in runs) / insts,
                     "remote_per_instance": sum(m.get("network_messages", 0) for m in runs) / insts})
    if not rows:
        raise ConfigError(f"{measured}: no {COMPARE_TABLE} and no measured run under runs/*/multicore")
    log.warning("%s: no %s (compare stopped after measuring): %d configuration(s) from runs/, scored as "
                "on a dedicated machine (cores and speed were not measured)", measured, COMPARE_TABLE, len(rows))
    return sorted(rows, key=lambda r: r["workers"])


def _run_dir(measured: Path, label: str) -> Path:
    from ampsim.calibration.compare import run_folder

    d = measured / "runs" / run_folder(label)
    if not (d / "multicore" / runfiles.CONFIG).is_file():
        raise ConfigError(f"{d}: no measured run of configuration {label!r} (multicore/config.toml)")
    return d


def measured_runs(d: Path) -> list[dict]:
    """The summaries of the measured runs of one configuration's folder ``d`` (``multicore*/summary.json``,
    in name order: ``multicore`` first); none, or a file that is not a run summary (not JSON, not an object, a
    value resimulate uses that is not a number: :func:`_checked_summary`), is a one-line :class:`ConfigError`."""
    from ampsim.files import read_json

    out = [_checked_summary(f, read_json(f)) for f in sorted(d.glob("multicore*/summary.json"))]
    if not out:
        raise ConfigError(f"{d / 'multicore' / runfiles.SUMMARY}: no such file (no measured run of this configuration)")
    return out


#: the numbers of a measured run's summary that resimulate computes with (``network_messages`` may be absent)
_SUMMARY_NUMBERS = ("instances", "messages_processed", "controller_cpu_s", "throughput_instances_per_s", "time_s")


def _checked_summary(f: Path, m: Any) -> dict:
    """``m``, the run summary read from ``f``, if every value resimulate computes with or looks into is what it
    must be (the table copies the rest as it is); else one line naming ``f`` and the key."""
    if not isinstance(m, dict):
        raise ConfigError(f"{f}: not a run summary (a JSON {type(m).__name__}, expected an object)")
    for key in _SUMMARY_NUMBERS:
        _number(m.get(key), f"{f}: {key}")
    if m.get("network_messages") is not None:
        _number(m["network_messages"], f"{f}: network_messages")
    if "final_metric" not in m:
        raise ConfigError(f"{f}: final_metric: missing (a number, or null where the run had no evaluation)")
    if m.get("n_workers") is not None:
        _whole(m["n_workers"], f"{f}: n_workers")
    cpu = m.get("worker_cpu_s")
    if cpu is not None and not isinstance(cpu, list):
        raise ConfigError(f"{f}: worker_cpu_s: expected a list of numbers, got {shown(cpu, _CUT)}")
    for v in cpu or []:
        _number(v, f"{f}: worker_cpu_s")
    ttt = m.get("time_to_target")
    if ttt is not None and not isinstance(ttt, dict):
        raise ConfigError(f"{f}: time_to_target: expected an object (or null), got {shown(ttt, _CUT)}")
    if ttt:
        _number(ttt.get("time_s"), f"{f}: time_to_target.time_s")
    for key in ("staleness", "completion_lag_s"):  # per node (per part): an object
        table = m.get(key)
        if table is not None and not isinstance(table, dict):
            raise ConfigError(f"{f}: {key}: expected an object, got {shown(table, _CUT)}")
        for name, v in (table or {}).items():
            if not isinstance(v, dict):
                raise ConfigError(f"{f}: {key}.{name}: expected an object, got {shown(v, _CUT)}")
            if key == "staleness" and v.get("count") is not None:  # the mean of a node's count steps
                if _number(v["count"], f"{f}: staleness.{name}.count"):
                    _number(v.get("mean"), f"{f}: staleness.{name}.mean")
    return m


def _table_rows(table: Path, rows: list[dict]) -> list[dict]:
    """The rows of ``table`` checked (:func:`_table_row`), each configuration once: one given twice (a line copied
    in) was simulated twice into one folder and ranked against itself, its runs counted twice in the controller fit;
    and one for every configuration with runs under ``runs/`` beside it (:func:`check_rows_of_runs`)."""
    from ampsim.calibration.compare import run_folder

    out, lines = [], {}
    for line, r in enumerate(rows, 2):
        out.append(_table_row(table, line, r))
        if (first := lines.setdefault(run_folder(r["config"]), line)) != line:
            raise ConfigError(f"{table}: line {line} ({r['config']}): the configuration of line {first} again (its "
                              f"runs' folder runs/{run_folder(r['config'])}); a compare measures each once")
    check_rows_of_runs(table, [r["config"] for r in rows])
    return out


def check_rows_of_runs(table: Path, labels: list[str]) -> None:
    """One ConfigError line where a configuration's runs under ``runs/`` beside the compare table ``table``
    (``runs/<config>/multicore`` measured, or ``sim`` simulated) are named by none of its rows' ``labels``.

    A compare (and a re-scoring) writes its table and a folder of runs per row into a folder of its own (or staged
    and swapped in whole, :func:`~ampsim.calibration.outfolder.into_folder`), so the two agree: a table cut at the end
    of a row, which reads as a valid one of fewer configurations, does not. A table without ``runs/`` beside it
    (copied alone) has nothing to check against."""
    from ampsim.calibration.compare import run_folder

    runs = table.parent / "runs"
    named = {run_folder(str(label)) for label in labels}
    lost = sorted(d.name for d in runs.iterdir() if d.name not in named and any(
        (d / kind / runfiles.SUMMARY).is_file() for kind in ("multicore", "sim"))) if runs.is_dir() else []
    if lost:
        raise ConfigError(f"{table}: no row for the configuration of runs/{lost[0]}"
                          f"{f' (and {len(lost) - 1} more)' if len(lost) > 1 else ''}, whose runs the compare that "
                          "wrote the table made: cut short or edited since; copy or run the compare again")


def _table_row(table: Path, line: int, r: dict) -> dict:
    """The row ``r`` (on ``line``) of ``table`` with the values resimulate computes with checked and converted
    (workers a whole number up to the most a model can have, speed and cores > 0, the message counts >= 0);
    else one line naming the file, the line and the column."""
    from ampsim.calibration.compare import run_folder
    from ampsim.calibration.targets import MAX_WORKERS

    label = r.get("config")
    if None in r or None in r.values():  # (csv's marks of a row with more cells than the header, or fewer)
        cells = sum(v is not None for k, v in r.items() if k is not None) + len(r.get(None) or [])
        raise ConfigError(f"{table}: line {line}: {cells} cells, but the header has {len(r) - (None in r)} columns "
                          "(a table cut short, or edited)")
    if not label or run_folder(label) in (".", ".."):
        raise ConfigError(f"{table}: line {line}: config: expected a configuration's name, got {shown(label, _CUT)}")
    where = f"{table}: line {line} ({label})"
    out = dict(r, workers=_whole(r.get("workers"), f"{where}: workers", MAX_WORKERS, cell=True))
    for column in ("speed", "cores", "messages_per_instance", "remote_per_instance"):
        out[column] = _number(r.get(column), f"{where}: {column}", column in ("speed", "cores"), cell=True)
    return out


def _number(v: Any, where: str, positive: bool = False, cell: bool = False) -> float:
    """``v`` as a finite number >= 0 (> 0 if ``positive``): a number, or the text of one if ``cell`` (a table's)."""
    number = isinstance(v, (int, float)) and not isinstance(v, bool)
    try:
        x = float(v) if number or cell and isinstance(v, str) else math.nan
    except (ValueError, OverflowError):
        x = math.nan
    if not math.isfinite(x) or x < 0 or (positive and x == 0):
        sign = "positive" if positive else "non-negative"
        raise ConfigError(f"{where}: expected a {sign} number, got {shown(v, _CUT)}")
    return x


def _whole(v: Any, where: str, most: int | None = None, cell: bool = False) -> int:
    """``v`` as a whole number >= 1 (at most ``most``): an integer, or the text of one if ``cell`` (a table's)."""
    try:
        n = int(v) if cell and isinstance(v, str) or isinstance(v, int) and not isinstance(v, bool) else 0
    except ValueError:
        n = 0
    if n < 1 or (most is not None and n > most):
        bounds = f"from 1 to {most}" if most else ">= 1"
        raise ConfigError(f"{where}: expected a whole number {bounds}, got {shown(v, _CUT)}")
    return n


def _check_not_measured(out: Path) -> None:
    """Refuse an ``out`` that holds measurements: measured runs (``runs/*/multicore*``, a compare folder's) or a
    ``compare.csv`` without the simulated runs (``runs/*/sim``) that --resimulate writes beside its own."""
    from ampsim.calibration.report import COMPARE_TABLE

    if next(out.glob("runs/*/multicore*"), None) is not None:
        raise ConfigError(f"{out}: holds a measured compare table (runs/*/multicore), which --resimulate would "
                          "overwrite; give another --out")
    if os.path.lexists(out / COMPARE_TABLE) and next(out.glob("runs/*/sim"), None) is None:
        raise ConfigError(f"{out}: holds a {COMPARE_TABLE} that --resimulate did not write (no runs/*/sim beside it); "
                          "give another --out")


def _config(d: Path, overrides: list[tuple[str, Any]]):
    """The measured run's resolved configuration, for the simulated executor, with ``overrides``."""
    from ampsim.config import load_config

    return load_config(d / "multicore" / runfiles.CONFIG, [*overrides, ("executor.kind", "sim")])


def _check_config_of_runs(d: Path, cfg, task, summaries: list[dict]) -> None:
    """Refuse the measured run's ``config.toml`` (``cfg``, of ``task``) where it does not say what its runs did, as
    their ``summaries`` record it (:func:`~ampsim.runread.config_unsaid`, as ``read_run`` checks a run): the
    experiment, the task, at least the epochs they ran, the instances trained in them, and the target. Cut at a line's
    end it is TOML still, the keys after the cut at their defaults: it was simulated over the whole data set, not the
    300 instances measured, and scored against them."""
    from ampsim.muf import instances_per_epoch
    from ampsim.runread import config_unsaid

    f = d / "multicore" / runfiles.CONFIG
    per_epoch = instances_per_epoch(cfg, task)
    for s, m in zip(sorted(d.glob("multicore*/summary.json")), summaries):
        # (not executor.kind: cfg is the measured run's configuration set to be simulated, the summary's multicore)
        if (unsaid := config_unsaid(cfg, m, per_epoch, skip=("executor.kind",))) is None:
            continue
        key, value, recorded = unsaid
        if key == "instances":
            why = (f"trains {value} instances an epoch, but its measured run {s} trained {recorded[0]} in "
                   f"{recorded[1]} epoch(s)")
        elif key == "train.epochs":
            why = f"{key}: {value}, but its measured run {s} ran {recorded} epochs"
        else:
            why = f"{key}: {shown(value, _CUT)}, but its measured run {s} had {shown(recorded, _CUT)}"
        raise ConfigError(f"{f}: {why}; not the configuration it was measured with (cut short? compare writes it "
                          "whole)")


def _workers(table: Path, r: dict, d: Path, summaries: list[dict]) -> int:
    """The row ``r``'s workers, which its measured runs ran on (their summaries' ``n_workers``, where they have
    it): a table edited or mixed up with another's would have its runs simulated on another number of chips
    and scored against them without a word."""
    for f, m in zip(sorted(d.glob("multicore*/summary.json")), summaries):
        if m.get("n_workers") not in (None, r["workers"]):
            raise ConfigError(f"{table}: configuration {r['config']!r}: {r['workers']} worker(s), but its measured "
                              f"run {f} ran on {m['n_workers']}")
    return r["workers"]


def _placement(d: Path, workers: int, summaries: list[dict], cfg) -> dict[str, int]:
    """The measured run's placement: node name -> worker, each from 0 to ``workers`` - 1; the one its summary
    records (``placement``), where it records one; one worker for each node of the model of ``cfg`` (its
    ``config.toml``), and no other."""
    from ampsim.errors import listed
    from ampsim.files import read_json
    from ampsim.placement.strategies import placed_names

    f = d / "multicore" / runfiles.PLACEMENT
    try:
        placement = dict(read_json(f)["strategy_output"])
    except (ValueError, KeyError, TypeError):
        raise ConfigError(f"{f}: not a placement file (no strategy_output)") from None
    for node, chip in placement.items():
        if isinstance(chip, bool) or not isinstance(chip, int) or not 0 <= chip < workers:
            raise ConfigError(f"{f}: strategy_output.{node}: expected a worker from 0 to {workers - 1} (the "
                              f"configuration's workers), got {shown(chip, _CUT)}")
    # (one damaged to name other nodes was refused as the run's config.toml's placement.map, once simulating)
    recorded = summaries[0].get("placement") if summaries else None
    if isinstance(recorded, dict) and recorded != placement:
        raise ConfigError(f"{f}: strategy_output: not the placement the run measured with (its summary.json's "
                          "placement)")
    # (where the summary records none, one naming other nodes was refused as the config.toml's placement.map,
    # which compare wrote itself: the damaged file is this one)
    names = placed_names(cfg)
    if other := [node for node in placement if node not in set(names)]:
        raise ConfigError(f"{f}: strategy_output.{other[0]}: names no node of the model of {cfg.path} (nodes: "
                          f"{listed(names)})")
    if missing := [node for node in names if node not in placement]:
        raise ConfigError(f"{f}: strategy_output: no worker for node(s) {listed(missing)} of the model of {cfg.path}")
    return placement
