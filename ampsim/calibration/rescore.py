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
``<dir>/resimulated``; never ``<dir>`` itself, whose table records what was simulated when it was measured).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from ampsim.errors import ConfigError

log = logging.getLogger(__name__)

__all__ = ["measured_runs", "resimulate"]


def resimulate(measured: str | Path, overrides: list[tuple[str, Any]] = (), hardware: str | Path | None = None,
               out: str | Path | None = None) -> tuple[list[dict], dict, list[dict]]:
    """Simulate every configuration of the compare folder ``measured`` again on the model ``hardware``
    (default: ``hardware_models/local_cpu.toml``) with ``overrides``; write the table under ``out``. Returns
    (rows, ranking agreement, per measured run its instances, messages and controller CPU: what
    :func:`~ampsim.calibration.transport.fit_controller` fits)."""
    from ampsim.calibration.compare import _sim_system, scored_row, simulate_run
    from ampsim.calibration.report import plot, ranking_agreement, read_csv, write_csv
    from ampsim.files import check_output_dir
    from ampsim.hardware.local import LOCAL_MODEL, local_model_path

    measured = Path(measured)
    table = measured / "compare.csv"
    rows_in = read_csv(table) if table.is_file() or not (measured / "runs").is_dir() else _rows_from_runs(measured)
    out = Path(out) if out else measured / "resimulated"
    if out.resolve() == measured.resolve():
        raise ConfigError(f"{out}: would replace the measured table; give another --out")
    check_output_dir(out)
    configs = [(r, _run_dir(measured, r["config"])) for r in rows_in]
    runs = {r["config"]: measured_runs(d) for r, d in configs}  # every input read before anything is run
    hw_path = Path(hardware) if hardware else local_model_path()
    if hw_path is None or not hw_path.is_file():
        raise ConfigError(f"{hardware or LOCAL_MODEL}: no such hardware model (give --hardware: the model of the "
                          "machine the measurements were taken on)")
    rows, sides = [], []
    for r, d in configs:
        cfg = _config(d, overrides)
        summaries = runs[r["config"]]
        sides += [{"instances": m["instances"], "messages": m["messages_processed"],
                   "controller_cpu_s": m["controller_cpu_s"]} for m in summaries]
        simulated = simulate_run(cfg, _placement(d), _sim_system(hw_path, int(r["workers"]), cfg.hardware),
                                 out / "runs" / d.name / "sim")
        counts = {k: float(r[k]) for k in ("messages_per_instance", "remote_per_instance")}
        rows.append(scored_row(r["config"], cfg, summaries, simulated, counts, speed=float(r["speed"]),
                               cores=float(r["cores"])))
    agreement = ranking_agreement(rows)
    write_csv(rows, out / "compare.csv")
    plot(rows, agreement, out / "compare.png", f"{measured.name}: measured vs resimulated ({hw_path.name})")
    return rows, agreement, sides


def _rows_from_runs(measured: Path) -> list[dict]:
    """The table of a compare that stopped after its measurements, before it wrote ``compare.csv``: one row
    per ``runs/<config>/multicore`` (the folder's name for the configuration's), in order of workers.
    The cores and the machine's speed measured around the runs are lost with the table: the rows take a
    dedicated machine (a core per worker, speed 1), so the simulation is not stretched; said in a warning."""
    rows = []
    for d in sorted(p for p in (measured / "runs").iterdir() if (p / "multicore" / "summary.json").is_file()):
        runs = measured_runs(d)
        n = int(runs[0].get("n_workers") or 1)
        insts = max(sum(m["instances"] for m in runs), 1)
        rows.append({"config": d.name, "workers": n, "speed": 1.0, "cores": float(n),
                     "messages_per_instance": sum(m["messages_processed"] for m in runs) / insts,
                     "remote_per_instance": sum(m.get("network_messages", 0) for m in runs) / insts})
    if not rows:
        raise ConfigError(f"{measured}: no compare.csv and no measured run under runs/*/multicore")
    log.warning("%s: no compare.csv (compare stopped after measuring): %d configuration(s) from runs/, scored as "
                "on a dedicated machine (cores and speed were not measured)", measured, len(rows))
    return sorted(rows, key=lambda r: r["workers"])


def _run_dir(measured: Path, label: str) -> Path:
    from ampsim.calibration.compare import run_folder

    d = measured / "runs" / run_folder(label)
    if not (d / "multicore" / "config.toml").is_file():
        raise ConfigError(f"{d}: no measured run of configuration {label!r} (multicore/config.toml)")
    return d


def measured_runs(d: Path) -> list[dict]:
    """The summaries of the measured runs of one configuration's folder ``d`` (``multicore*/summary.json``,
    in name order: ``multicore`` first); a file that is not JSON is a one-line :class:`ConfigError`."""
    from ampsim.files import read_text

    out = []
    for f in sorted(d.glob("multicore*/summary.json")):
        try:
            out.append(json.loads(read_text(f)))
        except json.JSONDecodeError as e:
            raise ConfigError(f"{f}: not JSON ({e.msg}, line {e.lineno})") from None
    return out


def _config(d: Path, overrides: list[tuple[str, Any]]):
    """The measured run's resolved configuration, for the simulated executor, with ``overrides``."""
    from ampsim.config import load_config

    return load_config(d / "multicore" / "config.toml", [*overrides, ("executor.kind", "sim")])


def _placement(d: Path) -> dict[str, int]:
    from ampsim.files import read_text

    f = d / "multicore" / "placement.json"
    try:
        return dict(json.loads(read_text(f))["strategy_output"])
    except (json.JSONDecodeError, KeyError, TypeError):
        raise ConfigError(f"{f}: not a placement file (no strategy_output)") from None
