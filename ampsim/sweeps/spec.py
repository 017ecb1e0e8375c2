"""Sweep files: a base experiment plus a grid (or list) of overrides, expanded into validated points.

A sweep file (``experiments/sweeps/*.toml``)::

    [sweep]
    description = "time to target vs link bandwidth"
    experiment = "../mnist_mlp.toml"                   # relative to this file (or to the working dir)
    hardware = "../../hardware_models/ring4.toml"      # optional: executor.kind = "sim" on this model
    seeds = [0, 1]                                     # or repeats = 2 (seeds 0, 1); default: the file's seed
    numerics = "auto"                                  # optional: replay where no figure needs a loss/metric
    [fixed]                                            # applied to every point
    "train.epochs" = 4
    [grid]                                             # cartesian product of these values
    "hardware.link.bandwidth_bytes_per_s" = [1e9, 1e10, 1e11]
    [[points]]                                         # explicit points (crossed with [grid] if both)
    label = "synchronous"                              # (a key of [grid], [fixed] or the seeds: refused)
    "train.mak" = 1
    [[points]]
    label = "mak 8"
    "train.mak" = 8
    [quick]                                            # used by ``ampsim sweep --quick``
    seeds = [0]
    fixed = { "train.epochs" = 1 }                     # merged into [fixed]
    grid = { "hardware.link.bandwidth_bytes_per_s" = [1e9, 1e11] }  # replaces these grid axes
    [[figure]]                                         # see :mod:`ampsim.sweeps.figspec`
    name = "ttt_vs_bandwidth"
    kind = "xy"
    x = "hardware.link.bandwidth_bytes_per_s"
    y = "time_to_target_s"

Keys are dotted experiment fields (``train.mak``, ``hardware.topology`` as a whole table...), nested tables flattened
(but :data:`WHOLE_TABLES`), each set in one place: [fixed], a [grid] axis, the seeds or the points, not two
(:mod:`ampsim.sweeps.places`). Every point is resolved and validated (experiment *and* hardware model) by
:func:`load_sweep` before anything runs; any problem is one ConfigError line naming the sweep file and the field.

A point's id is a hash of its fully resolved experiment and hardware model: stable across runs and machines, changed
when anything that affects the result changes (:func:`id_view`: each config field says how the id counts it, so
options added later leave older ids alone). ``numerics = "auto"`` (:mod:`ampsim.sweeps.numerics`) sets
``executor.numerics = false`` on the points that can replay when no figure needs a loss or a metric.
"""

from __future__ import annotations

import itertools
import json
import logging
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ampsim.blame import blamed
from ampsim.config import Config, load_config, read_toml
from ampsim.errors import ConfigError
from ampsim.fieldspec import other_kind, unknown_key
from ampsim.hardware.topology import routing_key
from ampsim.outputs import check_folder_name
from ampsim.placement import check_names
from ampsim.planning import check_executor, resolve_system
from ampsim.replicas import check_collective
from ampsim.sweeps.early import check_memory_early, check_muf_early, check_placement_chips
from ampsim.sweeps.figspec import FigureSpec, parse_figures
from ampsim.sweeps.ids import id_text, id_view, point_id
from ampsim.sweeps.numerics import check_figures, figure_needs, numerics_mode, replayable, runs_compiled_loop
from ampsim.sweeps.places import SEED_KEY, WHOLE_TABLES, check_key, check_set_once, flatten
from ampsim.wording import SWEEP_HARDWARE, reworded

_TOP = ("sweep", "fixed", "grid", "points", "quick", "figure")
_SWEEP_KEYS = ("name", "description", "experiment", "hardware", "seeds", "repeats", "numerics")
_QUICK_KEYS = ("seeds", "repeats", "fixed", "grid", "points")
MAX_POINTS = 50_000  # points in one sweep at most (resolving 10,000 takes ~16 s; a typo like 10**8 would never end)


@dataclass(frozen=True)
class Point:
    """One run of a sweep. ``overrides`` are applied to the experiment file in order; ``values`` are the
    swept keys' values (filled from the resolved config where a point does not set a key)."""

    index: int
    point_id: str
    overrides: list[tuple[str, Any]]
    values: dict[str, Any]
    label: str | None = None
    #: it replays a recording (``executor.numerics = false``): times only, no loss or metric
    replays: bool = False
    #: what its machine's routes depend on (:func:`~ampsim.hardware.topology.routing_key`; None off the simulator)
    machine: Any = None
    #: its worker runs the compiled replay loop (:func:`~ampsim.sweeps.numerics.runs_compiled_loop`)
    compiled: bool = False


@dataclass(frozen=True)
class Sweep:
    """A validated sweep: every point resolved, ids computed, figure specs checked."""

    path: Path
    name: str
    description: str
    experiment: Path
    keys: list[str]  # the swept keys, in file order, then SEED_KEY
    points: list[Point]
    figures: list[FigureSpec] = field(default_factory=list)
    quick: bool = False
    #: the file has a ``[quick]`` table (``sweep --check`` validates that variant's points too)
    has_quick: bool = False

    @property
    def default_dir(self) -> Path:
        """Its points' and table's folder without ``--out``: ``results/[quick/]sweeps/<name>/``; a name that is not
        one plain folder name is refused here, where it would make one (with ``--out`` it names the sweep only)."""
        under = "results/quick/sweeps/" if self.quick else "results/sweeps/"
        return Path(under) / check_folder_name(self.name, f"{self.path}: sweep.name", under=under)


def _resolve_file(source: str, base: Path, value: Any, where: str) -> Path:
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{source}: {where}: expected a file path (string), got {value!r}")
    for cand in (base / value, Path(value)):
        if cand.is_file():
            return cand.resolve()
    for there in (c for c in (base / value, Path(value)) if os.path.lexists(c)):  # there, but not a file
        kind = "a folder" if there.is_dir() else "a link to nothing" if not there.exists() else "a pipe or device"
        raise ConfigError(f"{source}: {where}: {value!r} is {kind}, not an experiment or hardware file")
    raise ConfigError(f"{source}: {where}: no such file {value!r} (relative to {base} or the working directory)")


def _seeds(source: str, where: str, table: dict) -> list[int] | None:
    if "seeds" in table and "repeats" in table:
        raise ConfigError(f"{source}: {where}.repeats: give seeds or repeats, not both")
    if "repeats" in table:
        n = table["repeats"]
        if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= MAX_POINTS:
            raise ConfigError(f"{source}: {where}.repeats: must be an integer from 1 to {MAX_POINTS:,}, got {n!r}")
        return list(range(n))
    if "seeds" in table:
        s = table["seeds"]
        if (not isinstance(s, list) or not s
                or not all(isinstance(x, int) and not isinstance(x, bool) and x >= 0 for x in s)):
            raise ConfigError(f"{source}: {where}.seeds: must be a non-empty array of integers >= 0, got {s!r}")
        if len(set(s)) != len(s):
            raise ConfigError(f"{source}: {where}.seeds: repeated seed in {s}")
        return list(s)
    return None


def _table(source: str, raw: dict, key: str, allowed: tuple[str, ...] | None = None, within: str = "") -> dict:
    """Table ``key`` of ``raw`` (``within``: the dotted name of ``raw`` itself, for messages)."""
    t, name = raw.get(key, {}), f"{within}.{key}" if within else key
    if not isinstance(t, dict):
        raise ConfigError(f"{source}: {name}: must be a table")
    if allowed is not None:
        for k in t:
            if k not in allowed:
                raise ConfigError(f"{source}: {name}.{k}: {unknown_key(k, allowed)}")
    return t


def _grid(source: str, where: str, table: dict, task: str) -> dict[str, list]:
    grid = flatten(table)
    for key, values in grid.items():
        check_key(source, where, key, task)
        if not isinstance(values, list):
            raise ConfigError(f"{source}: {where}.{key}: must be an array of values, got {values!r}")
        if not values:
            raise ConfigError(f"{source}: {where}.{key}: empty grid (give at least one value)")
        check_key(source, where, key, task, [(f"[{j}]", v) for j, v in enumerate(values)])
    return grid


def _points(source: str, where: str, raw: Any, task: str) -> list[dict]:
    if not isinstance(raw, list) or not all(isinstance(p, dict) for p in raw):
        raise ConfigError(f"{source}: {where}: must be an array of tables ([[points]])")
    if not raw:
        raise ConfigError(f"{source}: {where}: empty list of points")
    out = []
    for i, p in enumerate(raw):
        flat = flatten(p)
        for key, value in flat.items():
            check_key(source, f"{where}[{i}]", key, task, [("", value)])
        if "label" in flat and not isinstance(flat["label"], str):
            raise ConfigError(f"{source}: {where}[{i}].label: expected a string")
        out.append(flat)
    return out


def load_sweep(path: str | Path, *, quick: bool = False, sized: bool = True) -> Sweep:
    """Read a sweep file, expand it (applying ``[quick]`` when ``quick``) and validate every point; ``sized``
    false leaves out the checks that size a point against the host and its data (memory, ``train.muf`` against its
    instances: they read MNIST's labels, SST's trees), for ``ampsim plot``, which draws a table already made."""
    path = Path(path)
    source = str(path)
    raw = read_toml(path)
    for k in raw:
        if k not in _TOP:
            raise ConfigError(f"{source}: {k}: unknown section (known: {', '.join(_TOP)}){other_kind(raw, 'sweep')}")
    head = _table(source, raw, "sweep", _SWEEP_KEYS)
    if "experiment" not in head:
        raise ConfigError(f"{source}: sweep.experiment: required (the base experiment TOML)")
    experiment = _resolve_file(source, path.parent, head["experiment"], "sweep.experiment")
    base = load_config(experiment)  # the base experiment must itself be valid
    task = base.experiment.task
    fixed_over: list[tuple[str, Any]] = []
    if "hardware" in head:
        hw = _resolve_file(source, path.parent, head["hardware"], "sweep.hardware")
        fixed_over += [("executor.kind", "sim"), ("executor.hardware", str(hw))]
    fixed = flatten(_table(source, raw, "fixed"))
    for key, value in fixed.items():
        check_key(source, "fixed", key, task, [("", value)])
    grid = _grid(source, "grid", _table(source, raw, "grid"), task) if "grid" in raw else None
    if grid is not None and not grid:
        raise ConfigError(f"{source}: grid: empty grid (give at least one KEY = [values])")
    points = _points(source, "points", raw["points"], task) if "points" in raw else None
    seeds = _seeds(source, "sweep", head)
    if "quick" in raw:  # validated even when not used, so that --check catches its mistakes
        q = _table(source, raw, "quick", _QUICK_KEYS)
        qseeds = _seeds(source, "quick", q)
        qfixed = flatten(_table(source, q, "fixed", within="quick"))
        for key, value in qfixed.items():
            check_key(source, "quick.fixed", key, task, [("", value)])
        qgrid = _grid(source, "quick.grid", _table(source, q, "grid", within="quick"), task) if "grid" in q else {}
        for key in qgrid:
            if grid is None or key not in grid:
                raise ConfigError(f"{source}: quick.grid.{key}: not an axis of [grid]")
        qpoints = _points(source, "quick.points", q["points"], task) if "points" in q else None
        if quick:
            seeds = qseeds or (seeds[:1] if seeds else seeds)
            fixed = {**fixed, **qfixed}
            grid = {**grid, **qgrid} if grid is not None else None
            points = qpoints if qpoints is not None else points
    elif quick and seeds and len(seeds) > 1:
        seeds = seeds[:1]
    elif quick:  # (it ran the whole sweep, silently)
        logging.getLogger(__name__).warning("%s: no [quick] table, no seeds to cut: its quick variant is all", source)
    if grid is None and points is None:
        raise ConfigError(f"{source}: nothing to sweep: give a [grid] table or [[points]]")
    check_set_once(source, raw, quick)
    fixed_over += [(k, _path_value(k, v, path.parent)) for k, v in fixed.items()]
    if (n := len(points or [{}]) * len(seeds or [None]) * math.prod(map(len, (grid or {}).values()))) > MAX_POINTS:
        raise ConfigError(f"{source}: {n:,} points; a sweep has at most {MAX_POINTS:,} (split it into several)")
    combos = _expand(grid or {}, points or [{}])
    keys = list(dict.fromkeys([k for p in (points or []) for k in p if k != "label"] + list(grid or {})))
    if seeds is not None:
        keys.append(SEED_KEY)
    figures = parse_figures(raw.get("figure", []), source, keys)
    # numerics = "auto": replay the points that can, unless a figure needs a loss or a metric
    auto = numerics_mode(source, head) == "auto" and not any(figure_needs(f) for f in figures)
    out: list[Point] = []
    seen: dict[str, int] = {}
    # each point's muf against its instances after every point's names and machine (its count reads the data)
    muf_checks: list[tuple[str, Config]] = []
    kept: dict[tuple, tuple[int, ...] | None] = {}  # what the data decides, per distinct data setting, where read
    point = "[quick] point" if quick else "point"  # (sweep --check validates both variants)
    for combo in combos:
        label = combo.get("label")
        body = {k: v for k, v in combo.items() if k != "label"}
        for seed in seeds if seeds is not None else [None]:
            over = fixed_over + [(k, _path_value(k, v, path.parent)) for k, v in body.items()]
            if seed is not None:
                over.append((SEED_KEY, seed))
            i = len(out)
            pid, values, run, replays, machine, compiled = _resolve(source, experiment, over, keys, body, i, auto,
                                                                     point, muf_checks, kept, sized)
            if pid in seen or run in seen:  # (the same run: a hardware key set to the model's own value, or not set)
                raise ConfigError(f"{source}: {point} {i} ({_describe(body, seed)}) resolves to the same run as "
                                  f"point {seen.get(pid, seen.get(run))}: remove the duplicate")
            seen[pid] = seen[run] = i
            out.append(Point(i, pid, over, values, label, replays, machine, compiled))
    counts: dict[tuple, int] = {}  # instances per epoch, per distinct data setting (its data read once)
    for where, cfg in muf_checks:
        try:
            check_muf_early(cfg, counts)
        except ConfigError as e:
            raise ConfigError(f"{where}: {e}") from None
    check_figures(source, figures, [p.index for p in out if p.replays],
                  any(dict(p.overrides).get("executor.trace", base.executor.trace) for p in out))
    name = head.get("name", path.stem)
    if not isinstance(name, str):
        raise ConfigError(f"{source}: sweep.name: expected a folder name, got {name!r}")
    if not name.strip() or any(ord(c) < 32 for c in name):  # (in every line the sweep says; a folder: default_dir)
        check_folder_name(name, f"{source}: sweep.name", under="results/sweeps/")
    if not isinstance(description := head.get("description", ""), str):
        raise ConfigError(f"{source}: sweep.description: expected text, got {description!r}")
    return Sweep(path, name, description, experiment, keys, out, figures, quick, "quick" in raw)


def _path_value(key: str, value: Any, base: Path) -> Any:
    """``executor.hardware`` values are paths relative to the sweep file (or the working directory)."""
    if key == "executor.hardware" and isinstance(value, str) and (base / value).is_file():
        return str((base / value).resolve())
    return value


def _expand(grid: dict[str, list], points: list[dict]) -> list[dict]:
    """Points × grid, points outermost; each combination a fresh dict."""
    axes = list(grid.items())
    out = []
    for p in points:
        for values in itertools.product(*[v for _, v in axes]):
            out.append({**p, **{k: v for (k, _), v in zip(axes, values)}})
    return out


def _describe(combo: dict, seed: int | None) -> str:
    parts = [f"{k}={_short(v)}" for k, v in combo.items() if k != "label"]
    if seed is not None:
        parts.append(f"seed={seed}")
    return ", ".join(parts) or "base"


def _short(v: Any) -> str:
    return json.dumps(v, separators=(",", ":")) if isinstance(v, (dict, list)) else str(v)


def _resolve(source: str, experiment: Path, over: list, keys: list[str], combo: dict, i: int, auto: bool = False,
             point: str = "point", muf_checks: list | None = None, kept: dict | None = None,
             sized: bool = True):
    """Validate one point (experiment + hardware model, its ``train.muf`` against its instances); return its id,
    swept keys' values, run (the id's text less the hardware overrides), whether it replays, its
    machine's routing key and whether it runs the compiled replay loop. ``auto``: a point that can replay and sets
    no numerics replays. ``muf_checks``: where the point's muf check (its error's prefix and config) goes to be
    made later, instead of now. ``kept``: what the data decides (examples, widths) read so far, for the next points.
    ``sized`` false: the point is not sized against the host and its data (:func:`load_sweep`'s ``sized``)."""
    seed = next((v for k, v in over if k == SEED_KEY), None)
    where = f"{source}: {point} {i} ({_describe(combo, seed)})"
    try:
        cfg = load_config(experiment, over, "")
        if auto and cfg.executor.numerics and replayable(cfg) and all(k != "executor.numerics" for k, _ in over):
            over.append(("executor.numerics", False))
            cfg = load_config(experiment, over, "")
    except ConfigError as e:
        raise ConfigError(f"{where}: {e}") from None
    try:
        check_executor(cfg)
        with reworded(**SWEEP_HARDWARE):  # (the sweep file names it, not an option of the command or the API)
            system = resolve_system(cfg) if cfg.executor.kind == "sim" else None
        check_placement_chips(cfg, system)
        if sized:
            check_memory_early(cfg, kept)  # (before the names' check: same sized model, but names no file)
        # its node names, and replica groups and copies against the chips (or workers, where given) it places on
        units = system.n_chips if system is not None else cfg.executor.workers * (cfg.executor.kind == "multicore")
        check_names(cfg, units or None)
        check_collective(cfg, system)
        if sized and muf_checks is None:
            check_muf_early(cfg, {})
        elif sized:
            muf_checks.append((where, cfg))
        hw = system.to_dict() if system is not None else None
    except ConfigError as e:  # (a value the sweep set named by its key, not as the experiment file's)
        raise ConfigError(f"{where}: {blamed(e, cfg)}") from None
    resolved = id_view(cfg)
    pid = point_id(resolved, hw)
    values = {}
    for key in keys:
        if key in combo:
            values[key] = combo[key]
        else:
            values[key] = _lookup(resolved, hw, key)
    if SEED_KEY in keys:
        values[SEED_KEY] = cfg.experiment.seed
    resolved.pop("hardware", None)
    return (pid, values, id_text(resolved, hw), not cfg.executor.numerics, system and routing_key(system),
            runs_compiled_loop(cfg, system))


def _lookup(resolved: dict, hw: dict | None, key: str) -> Any:
    """The value of dotted ``key`` in the resolved config (``hardware.*`` in the resolved hardware model)."""
    parts = key.split(".")
    node: Any = hw if parts[0] == "hardware" else resolved
    for p in parts[1:] if parts[0] == "hardware" else parts:
        if not isinstance(node, dict) or p not in node:
            return None
        node = node[p]
    return node


__all__ = ["Point", "Sweep", "load_sweep", "flatten", "SEED_KEY", "WHOLE_TABLES"]
