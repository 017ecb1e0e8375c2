"""``ampsim compare``: the same experiment measured (multicore executor) and simulated (calibrated model).

For every configuration (a set of overrides such as ``mak=4`` or ``workers=1,mak=1``) the experiment
runs with the *same placement* on the multicore executor (wall-clock time) and on the simulated executor
with the calibrated hardware model of this machine (``hardware_models/local_cpu.toml``, its topology
resized to the configuration's worker count). The simulator assumes a core per worker; on a machine
shared with other jobs (or sessions: Linux groups a session's processes) the workers may get less, so
``cores`` is measured before and after the measurements and the simulated time is stretched accordingly
(see :func:`shared_machine_slowdown`); likewise ``speed``, the machine's speed on the calibration
workloads relative to calibration time (it drifts on shared virtual machines). The unstretched
``dedicated`` prediction is reported too. With ``repeat`` > 1 the configurations are measured round-robin
(a drift hits all alike) and the median counts; the min-max spread decides which pairs the measurement
cannot order (ranking ties, :func:`~ampsim.calibration.report.ranking_agreement`). The table (its rows,
``compare.csv`` and the figure: :mod:`ampsim.calibration.report`) reports throughput and time to target,
the simulator's error in percent of the measurement, and whether measured and simulated rank the
configurations alike.

The model must describe *this* machine (:func:`ampsim.calibration.thismachine.model_of_this_machine`):
without one, this machine is calibrated first (with a warning); a model calibrated on another machine
stops compare with a :class:`~ampsim.errors.ConfigError` before anything is measured, because its errors
would describe the other machine, not the simulator.

Outputs (``--out``, default ``results/compare/<experiment>``): ``compare.csv``, ``compare.png`` and one run
folder per configuration and executor under ``runs/``. Default budgets are short (1 epoch of at most
300 instances, evaluation on 500); ``--set`` overrides them. A folder that holds an earlier compare is never
mixed with a new one: the new one is written into ``<out>.partial/`` and swapped in whole when it is done
(what else ``<out>`` holds, such as ``resimulated/``, moves along); cut short, it stays there (``compare
--resimulate --from`` reads its measured runs) and ``<out>`` is untouched. Into a new folder, a compare cut
short keeps its measured runs where they are (:mod:`.outfolder`).
"""

from __future__ import annotations

import logging
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Container, Mapping, Sequence

from ampsim.calibration.outfolder import check_compare_folder, check_not_rescored, into_folder
from ampsim.calibration.report import COMPARE_PLOT, COMPARE_TABLE, noisy, plot, ranking_agreement, row, write_csv
from ampsim.calibration.simulated import calibrated_system, simulate_run  # (rescore and tests reach it here)
from ampsim.config import Config, load_config, parse_override
from ampsim.errors import ConfigError
from ampsim.tables import mean_staleness

__all__ = ["default_folder", "parse_configs", "run_compare", "run_folder", "scored_row", "set_keys",
           "shared_machine_slowdown", "simulate_run"]

log = logging.getLogger(__name__)

#: applied before the user's --set, so the user can lengthen the runs
SHORT_BUDGET = [("train.epochs", 1), ("train.max_instances", 300), ("eval.limit", 500)]
#: short names accepted in --configs
ALIASES = {"mak": "train.mak", "muf": "train.muf", "workers": "executor.workers",
           "placement": "placement.strategy", "strategy": "placement.strategy"}


def default_configs(workers: int) -> str:
    """Worker counts 1 and ``workers``, mak 1 and more: enough to see whether rankings agree."""
    if workers == 1:
        return "mak=1;mak=4"
    return f"workers=1,mak=1;workers={workers},mak=1;workers={workers},mak=4;workers={workers},mak=16"


def parse_configs(text: str) -> list[tuple[str, list[tuple[str, Any]]]]:
    """``"mak=1;workers=2,mak=4"`` → [(label, overrides), ...]. Configurations are separated by ``;``,
    settings within one by ``,`` (outside brackets); keys may be short (mak, muf, workers, placement)."""
    out = []
    for part in (p.strip() for p in text.split(";")):
        if not part:
            continue
        overrides = []
        for item in re.split(r",(?![^{\[]*[}\]])", part):
            key, value = parse_override(item.strip(), "--configs", "mak=4")
            key = ALIASES.get(key, key)
            if any(k == key for k, _ in overrides):  # (the last won, silently)
                raise ConfigError(f"--configs {part!r}: {key} set twice in one configuration (\";\" separates "
                                  "configurations)")
            overrides.append((key, value))
        out.append((part.replace(" ", ""), overrides))  # (one given twice: run_compare refuses it, resolved)
    if not out:
        raise ConfigError(f"--configs {text!r}: no configuration given (e.g. \"mak=1;mak=4\")")
    return out


def message_split(model, instances, mapping: Mapping[str, int]) -> tuple[float, float, float]:
    """Messages per instance, how many of them cross between workers under ``mapping``, and their bytes."""
    import copy

    from ampsim.ir.pump import pump

    m = copy.deepcopy(model)
    graph = m.graph.validate()
    total = remote = remote_bytes = 0
    for inst in instances:
        for visit in pump(graph, m.inject(inst)):
            total += 1
            for dst, _, snd in visit.targets:
                if mapping[dst.name] != mapping[visit.node.name]:
                    remote += 1
                    remote_bytes += snd.msg.payload.nbytes
        for node in graph.param_nodes:
            node.complete(inst.key)
    n = max(len(instances), 1)
    return total / n, remote / n, remote_bytes / n


def _calibration(hw_path: Path) -> dict:
    """The calibration's raw measurements beside the model (``<model>.calibration.json``), checked before
    anything is measured: the speeds compare scales by (``speed_index_s``, ``speed_by_workload_s``) must be
    finite positive seconds (a hand-edited -0.05 or NaN gave negative or nan throughputs, 0 a
    ZeroDivisionError after every measurement). A sidecar that is also another calibrated model's beside it
    (``m`` and ``m.toml``) is refused: whose measurements it holds cannot be told."""
    from ampsim.calibration.targets import sharing_sidecar, sidecar
    from ampsim.files import read_json

    path = sidecar(hw_path)
    if not os.path.lexists(path):  # (a folder or a broken link there is a mistake: read_json says which, in one line)
        log.warning("%s not found: no correction for busy cores or cross-worker messages", path)
        return {}
    if others := sharing_sidecar(Path(hw_path)):
        raise ConfigError(f"{path}: the measurements of {hw_path} or of the calibrated model {others[0]} beside it (a "
                          "model's measurements are named by its name less the suffix), which compare cannot tell; "
                          "give each calibrated model a name of its own (its measurements renamed with it)")
    raw = read_json(path)
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: not a calibration's measurements (expected a JSON object); run ampsim calibrate")
    speeds = raw.get("speed_by_workload_s", {})
    if not isinstance(speeds, dict):
        raise ConfigError(f"{path}: speed_by_workload_s: expected an object of seconds, got {speeds!r:.40}")
    for key, v in [("speed_index_s", raw.get("speed_index_s", 1.0)),
                   *((f"speed_by_workload_s.{k}", x) for k, x in speeds.items())]:
        if v is not None and not (isinstance(v, (int, float)) and not isinstance(v, bool) and 0 < v < math.inf):
            raise ConfigError(f"{path}: {key}: expected a positive number of seconds, got {v!r:.40}; run ampsim "
                              "calibrate again")
    return raw


@dataclass
class _Pair:
    """One configuration: its measured runs (filled round by round) and what both sides share."""

    label: str
    cfg: Config
    out: Path
    workers: int
    mapping: Mapping[str, int]  # (the plan's own: read-only)
    load: Sequence[Mapping] | None
    fix: dict
    runs: list[dict] = field(default_factory=list)


def _prepare(label: str, cfg: Config, hw_path: Path, out: Path) -> _Pair:
    """The configuration's placement (the strategy's, on the calibrated chips) and its message counts."""
    from ampsim.hardware.local import default_workers
    from ampsim.planning import plan

    n = cfg.executor.workers or default_workers()
    p = plan(cfg, system=calibrated_system(hw_path, n, cfg.hardware))
    mapping, load, task = p.placement, p.estimated_load, p.task
    per_inst, remote, remote_bytes = message_split(task.model, list(task.train_instances(1))[:8], mapping)
    return _Pair(label, cfg, out, n, mapping, load, {"messages_per_instance": per_inst, "remote_per_instance": remote,
                                                     "remote_bytes_per_instance": remote_bytes})


def _measure(pair: _Pair) -> None:
    """Train the configuration once on the multicore executor (the same numerics every time: only the
    timing differs); the first run's folder is ``multicore``, the next ``multicore-2``, ..."""
    from ampsim.executors import make_executor
    from ampsim.planning import plan
    from ampsim.results import RunDir
    from ampsim.training import run_training

    p = plan(pair.cfg, placement=pair.mapping, estimated=pair.load)
    k = len(pair.runs) + 1
    # the run folder first, as train makes it (its environment's git query before any worker starts)
    with RunDir(pair.out / ("multicore" if k == 1 else f"multicore-{k}")) as run, make_executor(p) as ex:
        pair.runs.append(run_training(p, ex, run))


def _simulate(pair: _Pair, hw_path: Path) -> dict:
    """Train the configuration in the simulator, on the calibrated model, with the same placement."""
    import dataclasses

    cfg = dataclasses.replace(pair.cfg, executor=dataclasses.replace(pair.cfg.executor, kind="sim"))
    return simulate_run(cfg, pair.mapping, calibrated_system(hw_path, pair.workers, cfg.hardware), pair.out / "sim",
                        hw_path)


def scored_row(label: str, cfg: Config, runs: list[dict], simulated: dict, counts: dict, *, speed: float,
               cores: float) -> dict:
    """The table row of a configuration from its measured ``runs`` (summaries; the median one is shown: a run
    measured, with all its figures, so for an even number the faster of the two middle ones),
    its ``simulated`` summary, its message ``counts`` and the machine's ``speed`` and free ``cores`` during
    the measurements: the simulation is stretched by the shared-machine slowdown over that speed."""
    runs = sorted(runs, key=lambda m: m["throughput_instances_per_s"])
    demand = float(sum(simulated.get("chip_utilization", [1.0])))
    fix = dict(counts, measured=[m["throughput_instances_per_s"] for m in runs], speed=speed, cores=cores,
               demand=demand, slowdown=shared_machine_slowdown(demand, cores) / speed,
               measured_staleness=mean_staleness(runs))
    return row(label, cfg, runs[len(runs) // 2], simulated, fix)


def run_folder(label: str) -> str:
    """The folder under ``runs/`` of the configuration ``label`` (``workers=2,mak=4`` → ``workers=2_mak=4``)."""
    return re.sub(r"[^A-Za-z0-9_.=-]+", "_", label)


def _speed_meter(calib: dict, task: str):
    """Measure the machine's speed index now; the returned function measures it again and returns
    calibration-time index / mean of the two (1.0 when the calibration recorded none). The index of the
    calibration workload of ``task``'s family where the calibration recorded one per workload (a shared
    host slows memory-bound work more than the rest), else that of the three together."""
    if not calib.get("speed_index_s"):
        return lambda: 1.0
    from ampsim.calibration.workloads import WORKLOAD_OF_TASK, speed_index

    key = WORKLOAD_OF_TASK.get(task, "all")
    then = calib.get("speed_by_workload_s", {}).get(key)
    if then is None:
        key, then = "all", calib["speed_index_s"]
    log.info("compare follows the speed of the %s calibration workload%s", key, "s" if key == "all" else "")
    first = speed_index()[key]
    return lambda: then / ((first + speed_index()[key]) / 2)


def shared_machine_slowdown(demand: float, cores: float) -> float:
    """How much longer a run takes on a shared machine than on dedicated cores (processor sharing).

    ``demand`` is the simulated run's total busy fraction (sum of chip utilizations, in cores); ``cores``
    is the CPU the workers get when all are busy. A run that keeps 1.8 cores busy on a machine that gives
    it 1 core takes 1.8x as long; one whose workers take turns (demand 1) is not slowed down by a cap of
    one core; with less than one core, every run is. An approximation: it treats demand as smooth.
    """
    cores = max(cores, 1e-9)
    return max(1.0, demand / cores, 1.0 / min(cores, 1.0))


#: what compare sets itself (the value was overridden, silently), and what to give instead
SETS_ITSELF = {"executor.kind": "it runs each configuration on the multicore executor and the simulator",
               "executor.workers": "give --workers N, or workers=N in --configs"}


def set_keys(key: str, value: Any) -> list[str]:
    """The dotted keys an override sets: ``executor={kind="sim"}`` sets ``executor.kind`` as ``executor.kind=...``
    does."""
    if not isinstance(value, dict):
        return [key]
    return [k for sub, v in value.items() for k in set_keys(f"{key}.{sub}", v)]


def check_not_set(overrides: list[tuple[str, Any]], where: str, keys: Container[str]) -> None:
    """Refuse, in one line starting with ``where`` (``"--set "``, ``"--configs 'mak=4': "``), an override of one
    of ``keys``, which compare sets itself (:data:`SETS_ITSELF`)."""
    for key in (k for o in overrides for k in set_keys(*o)):
        if key in keys:
            raise ConfigError(f"{where}{key}: compare sets it itself ({SETS_ITSELF[key]})")


def default_folder(cfg: Config, instead: str = "give the output folder with --out") -> Path:
    """Where a compare of the experiment ``cfg`` writes (and ``--resimulate`` reads) without ``--out``/``--from``:
    a name that would leave ``results/compare/`` (``../x``) is refused in one line naming its experiment file, or
    the ``--set`` that gave the name, and what to do ``instead``, as ``ampsim train`` refuses it for ``results/``."""
    from ampsim.blame import blaming
    from ampsim.outputs import check_folder_name

    with blaming(cfg):  # (a --set experiment.name was refused as the file's, which holds no such name)
        return Path("results") / "compare" / check_folder_name(cfg.experiment.name, f"{cfg.path}: experiment.name",
                                                               under="results/compare/", instead=instead)


def run_compare(experiment: str | Path, overrides: list[tuple[str, Any]] = (), configs: str | None = None,
                workers: int | None = None, hardware: str | Path | None = None,
                out: str | Path | None = None, repeat: int = 1) -> tuple[list[dict], dict]:
    """Run every configuration both ways; write CSV and figure; return (rows, agreement)."""
    from ampsim.calibration.thismachine import model_of_this_machine
    from ampsim.hardware.local import check_workers, default_workers
    from ampsim.outputs import check_output_dir

    check_workers(workers)  # (as --workers: -2 was refused as --set executor.workers)
    n = workers or default_workers()
    check_not_set(overrides, "--set ", SETS_ITSELF)
    base = [*SHORT_BUDGET, *overrides, ("executor.kind", "multicore"), ("executor.workers", n)]
    # the user's mistakes in the experiment or --configs first: a calibration below may take a while
    given = load_config(experiment, base)
    exp = given.experiment
    name = exp.name
    settings: list[tuple[str, Config]] = []
    resolved: dict[Config, int] = {}  # each configuration's and runs' folder's place in settings
    folders: dict[str, int] = {}
    for label, extra in parse_configs(default_configs(n) if configs is None else configs):
        check_not_set(extra, f"--configs {label!r}: ", ("executor.kind",))  # (workers=N is how one gets its count)
        if any(key == "executor" for key, _ in extra):  # (its kind went with it: a TypeError, reference's no placement)
            raise ConfigError(f"--configs {label!r}: executor={{...}} replaces the whole [executor] table, the "
                              "multicore executor compare sets in it too; give its keys one by one (executor.numerics"
                              "=false, workers=2)")
        # (the plan stage's errors about a value of --configs or --workers name them, not --set or the file)
        given_by = {"executor.workers": "--workers", **{key: f"--configs {label!r}: {key}" for key, _ in extra}}
        try:
            cfg = load_config(experiment, base + extra, given_by=given_by)
        except ConfigError as e:  # the mistake is in --configs, not in the experiment file
            raise ConfigError(str(e) if str(e).startswith("--configs ") else f"--configs {label!r}: {e}") from None
        if cfg.executor.workers == 0:  # (one per core: it ran that many, under the label "workers=0")
            raise ConfigError(f"--configs {label!r}: workers=0 (one per core in an experiment file) names no count "
                              f"for the row: give workers=N (this machine: {default_workers()})")
        # the same run resolved (lr=1 and lr=1.0), or one folder of runs/ (x="a b" and x="a_b"): measured twice.
        # Looked up (a Config hashes as it compares), not compared pairwise: 300 configurations took 7 s so
        first = [i for i in (resolved.get(cfg), folders.get(run_folder(label))) if i is not None]
        if first:
            raise ConfigError(f"--configs {label!r}: the same configuration as {settings[min(first)][0]!r} (or its "
                              f"runs' folder, runs/{run_folder(label)}), given twice")
        resolved[cfg] = folders[run_folder(label)] = len(settings)
        settings.append((label, cfg))
    out = check_output_dir(Path(out) if out else default_folder(given))  # before measuring
    check_compare_folder(out, name)
    check_not_rescored(out)
    # before anything is measured: errors against another machine's model must never become results
    hw_path = model_of_this_machine(hardware or None, n)
    calib = _calibration(hw_path)
    return into_folder(out, lambda folder: _compare(name, exp.task, settings, hw_path, calib, folder, repeat))


def _compare(name: str, task: str, settings: list, hw_path: Path, calib: dict, out: Path,
             repeat: int) -> tuple[list[dict], dict]:
    """:func:`run_compare` once its inputs are checked: measure, simulate and score into ``out``."""
    from ampsim.calibration.microbench import cores_available
    from ampsim.locks import measuring

    pairs = []
    for label, cfg in settings:
        pairs.append(_prepare(label, cfg, hw_path, out / "runs" / run_folder(label)))
    counts = sorted({p.workers for p in pairs})
    cores = {k: [cores_available(k)] for k in counts}
    speed = _speed_meter(calib, task)
    with measuring(f"compare {name}"):
        for r in range(repeat):  # round-robin: a drifting machine affects every configuration alike
            for pair in pairs:
                log.info("compare %s: %s (measurement %d of %d)", name, pair.label, r + 1, repeat)
                _measure(pair)
    for k in counts:
        cores[k].append(cores_available(k))
    machine_speed = speed()
    rows = []
    for pair in pairs:
        rows.append(scored_row(pair.label, pair.cfg, pair.runs, _simulate(pair, hw_path), pair.fix,
                               speed=machine_speed, cores=sum(cores[pair.workers]) / 2))
    agreement = ranking_agreement(rows)
    if shaky := noisy(rows):
        log.warning("the machine was noisy: repeats of %s; calibrate and compare again when it is quiet",
                    ", ".join(shaky))
    write_csv(rows, out / COMPARE_TABLE)
    plot(rows, agreement, out / COMPARE_PLOT, f"{name}: measured vs simulated ({hw_path.name})")
    return rows, agreement
