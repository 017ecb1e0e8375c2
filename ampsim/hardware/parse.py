"""Reading hardware models: TOML file or dict → validated :class:`~ampsim.hardware.spec.SystemSpec`.

:func:`system_from_dict` is the primary entry point (sweeps edit the parsed dict before building);
:func:`load_system` reads a file (through :func:`ampsim.files.read_toml`, the one TOML reader) and calls
it, with an experiment's ``[hardware]`` overrides merged in when it has any. Every user error raises
:class:`ampsim.errors.ConfigError` with one line ``<file>: <dotted.field>: <problem>`` (the format is in
:mod:`ampsim.hardware.spec`).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import reprlib
from pathlib import Path
from typing import Any, Mapping

from ampsim.errors import ConfigError
from ampsim.fieldspec import other_kind, type_name
from ampsim.files import read_toml
from ampsim.hardware._fields import MAX_FACTOR, REQUIRED, FieldReader
from ampsim.hardware.spec import (
    CHIP_KEYS,
    COMPUTE_COST_KEYS,
    HARDWARE_SECTIONS,
    HOST_KEYS,
    LINK_KEYS,
    LINK_ONLY_KEYS,
    MAX_CHIPS,
    MAX_COMPUTE_UNITS,
    MAX_LINKS,
    OPTIONAL_ZERO_CHIP_KEYS,
    SWITCH_RE,
    SWITCHING_MODES,
    SYSTEM_KEYS,
    TOPOLOGY_PARAMS,
    ChipSpec,
    ComputeCost,
    HostSpec,
    LinkOverride,
    LinkSpec,
    Node,
    SystemSpec,
    TopologySpec,
    node_sort_key,
)
from ampsim.tomltext import MAX_NESTING, deeper_than

__all__ = ["TOPOLOGY_MIN_N", "TOPOLOGY_MIN_SIZE", "check_system", "load_system", "merge_overrides", "system_from_dict"]

log = logging.getLogger(__name__)


#: the fewest chips a topology of these kinds takes (``n``; any other kind: 1)
TOPOLOGY_MIN_N = {"ring": 3, "switch": 2}
#: the smallest size of each dimension of a grid of these kinds (``shape``; mesh2d: 1): a torus of 2 would wrap
#: around on a link it already has
TOPOLOGY_MIN_SIZE = {"torus2d": 3, "torus3d": 3}


def load_system(path: str | Path, overrides: Mapping[str, Any] | None = None, *,
                overridden_by: str = "") -> SystemSpec:
    """Read and validate a hardware TOML file, with ``overrides`` (an experiment's ``[hardware]`` table)
    merged in first (:func:`merge_overrides`). Errors name ``path`` as given (and ``overridden_by``, the
    file the overrides come from, when there are any). Arguments of another type are one ConfigError line: the API
    names this function to make a ``plan(cfg, system=...)`` with (an int path was read as a file descriptor).

    Overrides given from Python (no ``overridden_by``) may name a field by its dotted key, as
    ``ampsim.load_experiment``'s do: ``{"link.latency_s": 1e-6}`` is ``{"link": {"latency_s": 1e-6}}``, each merged
    in turn. A table that comes from a file (``overridden_by``: an experiment's ``[hardware]``) is TOML's, where a
    quoted key with a dot is one key, refused as in any file.

    >>> ring = "hardware_models/ring4.toml"                  # (from the repository root)
    >>> load_system(ring, {"link.latency_s": 5e-6}) == load_system(ring, {"link": {"latency_s": 5e-6}})
    True
    """
    if not isinstance(path, (str, os.PathLike)):
        raise ConfigError(f"load_system: path: expected a hardware file's path (str or os.PathLike), got "
                          f"{type(path).__name__} {reprlib.repr(path)}")
    if overrides is not None and not isinstance(overrides, Mapping):
        raise ConfigError("load_system: overrides: expected a table of hardware-model overrides such as {'link': "
                          "{'latency_s': 1e-06}} (an experiment's cfg.hardware) or None, got "
                          f"{type(overrides).__name__}")
    raw = read_toml(path)
    if deeper_than(raw, MAX_NESTING):  # (as in an experiment: no field nests more than a few tables deep)
        raise ConfigError(f"{path}: nested too deep (more than {MAX_NESTING} tables or arrays)")
    if not overrides:
        return system_from_dict(raw, str(path))
    merged = raw
    for key, value in overrides.items():  # (in turn: "link.latency_s" and "link" both reach the file's [link])
        if not overridden_by and isinstance(key, str) and "." in key:
            key, *inner = key.split(".")
            for part in reversed(inner):
                value = {part: value}
        merged = merge_overrides(merged, {key: value})
    spec = system_from_dict(merged, f"{path} (with the hardware overrides of {overridden_by or '<overrides>'})")
    for key in ("chip_override", "link_override"):
        # an array replaces the file's whole (it is no table to merge), and the file's overrides (a straggler chip,
        # a slow link) then vanished without a word when an experiment added one of its own
        if key in overrides and isinstance(file_has := raw.get(key), list) and file_has and overrides[key] != file_has:
            log.warning("%s: hardware.%s (from %s) replaces the file's %d [[%s]] table(s) whole; repeat them in "
                        "it to keep them", path, key, overridden_by or "<overrides>", len(file_has), key)
    return spec


def merge_overrides(base: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict:
    """``base`` with ``overrides`` merged in, table by table. A ``topology`` table that names a new
    ``kind`` replaces the base topology whole (its size parameters differ per kind).

    >>> merge_overrides({"link": {"latency_s": 1e-6, "bandwidth_bytes_per_s": 1e9}},
    ...                 {"link": {"latency_s": 5e-6}})
    {'link': {'latency_s': 5e-06, 'bandwidth_bytes_per_s': 1000000000.0}}
    >>> merge_overrides({"topology": {"kind": "ring", "n": 4}}, {"topology": {"kind": "mesh2d", "shape": [2, 2]}})
    {'topology': {'kind': 'mesh2d', 'shape': [2, 2]}}
    >>> merge_overrides({"topology": {"kind": "ring", "n": 4}}, {"topology": {"kind": "ring"}})
    {'topology': {'kind': 'ring', 'n': 4}}
    """
    out = dict(base)
    for key, value in overrides.items():
        tables = isinstance(value, dict) and isinstance(out.get(key), dict)
        # a topology of another kind replaces the table whole; the same kind again keeps the other fields
        # ("missing required field" was all a --set of its kind gave)
        new_kind = tables and key == "topology" and value.get("kind", out[key].get("kind")) != out[key].get("kind")
        if tables and not new_kind:
            out[key] = merge_overrides(out[key], value)
        else:
            out[key] = value
    return out


def system_from_dict(d: Mapping[str, Any], source_name: str) -> SystemSpec:
    """Validate a TOML-shaped dict and build the :class:`SystemSpec`; ``d`` is not modified.

    ``source_name`` (usually the file path) prefixes every error message.
    """
    v = _Validator(source_name)
    v.check_keys(d, "", HARDWARE_SECTIONS, other_kind(d, "system"))  # (an experiment or sweep file named as hardware)
    sysd = v.table(d, "system")
    v.check_keys(sysd, "system", SYSTEM_KEYS)
    name = v.string(sysd, "system", "name")
    description = v.string(sysd, "system", "description", default="", allow_empty=True)
    source = v.string(sysd, "system", "source")
    measured = v.boolean(sysd, "system", "measured", default=False)
    switching = v.string(sysd, "system", "switching", default="store_and_forward")
    if switching not in SWITCHING_MODES:
        v.fail("system.switching", f"must be one of {', '.join(SWITCHING_MODES)}, got {switching!r}")

    chipd = v.table(d, "chip")
    v.check_keys(chipd, "chip", CHIP_KEYS)
    chip_default = v.chip(chipd, "chip", None)
    linkd = v.table(d, "link")
    v.check_keys(linkd, "link", LINK_KEYS + LINK_ONLY_KEYS)
    link = LinkSpec(latency_s=v.number(linkd, "link", "latency_s", minimum=0.0),
                    bandwidth_bytes_per_s=v.number(linkd, "link", "bandwidth_bytes_per_s"),
                    packet_bytes=v.packet_bytes(linkd))
    topology = v.topology(v.table(d, "topology"))
    host = v.host(d["host"]) if "host" in d else HostSpec()

    chips = [chip_default] * topology.n_chips
    # chips with equal specs share one object (interned by value): an override naming every chip of a 65,536-chip
    # machine read its table once per chip and made a spec per chip, and build_topology's per-spec work grew with it
    interned: dict[ChipSpec, ChipSpec] = {chip_default: chip_default}
    for k, ov in enumerate(v.array_of_tables(d, "chip_override")):
        where = f"chip_override[{k}]"
        v.check_keys(ov, where, ("chips",) + CHIP_KEYS)
        ids = v.int_list(ov, where, "chips", topology.n_chips)
        if len(ov) == 1:
            v.fail(where, f"overrides no field (give one of: {', '.join(CHIP_KEYS)})")
        # this override on each spec it meets, read once per spec (the result depends on nothing else); by
        # identity, which is equality here: every spec in ``chips`` is interned
        applied: dict[int, ChipSpec] = {}
        for i in ids:
            if (chip := applied.get(id(chips[i]))) is None:
                made = v.chip(ov, where, chips[i])
                chip = applied[id(chips[i])] = interned.setdefault(made, made)
            chips[i] = chip

    overrides: dict[tuple[Node, Node], LinkOverride] = {}
    for k, ov in enumerate(v.array_of_tables(d, "link_override")):
        where = f"link_override[{k}]"
        v.check_keys(ov, where, ("between",) + LINK_KEYS)
        between = v.between(ov, where, topology)
        if len(ov) == 1:
            v.fail(where, f"overrides no field (give one of: {', '.join(LINK_KEYS)})")
        prev = overrides.get(between, LinkOverride(between))
        lat = v.number(ov, where, "latency_s", minimum=0.0, default=prev.latency_s)
        bw = v.number(ov, where, "bandwidth_bytes_per_s", default=prev.bandwidth_bytes_per_s)
        overrides[between] = LinkOverride(between, lat, bw)

    spec = SystemSpec(name=name, description=description, source=source, measured=measured,
                      switching=switching, chip_default=chip_default, chips=tuple(chips), link=link,
                      link_overrides=tuple(overrides.values()), topology=topology, host=host)
    log.debug("loaded hardware model %s from %s: %d chips, %s", name, source_name,
              spec.n_chips, topology.kind)
    return spec


_TABLE_KEY = "compute_table"


class _Validator(FieldReader):
    """FieldReader plus the hardware-specific readers."""

    def chip(self, d: Mapping[str, Any], where: str, base: ChipSpec | None) -> ChipSpec:
        """Read chip fields from ``d``; absent fields come from ``base`` (None: all required but
        ``compute_units``, default 1)."""
        def num(key: str, minimum: float | None = None, default: float | None = None) -> float:
            if key not in d and base is not None:
                return getattr(base, key)
            if key not in d and default is not None:
                return default
            if key not in d:
                self.fail(f"{where}.{key}", "missing required field")
            return self.number(d, where, key, minimum=minimum,
                               maximum=MAX_FACTOR if key == "contention_slowdown" else None)

        def integer(key: str, default: int | None, float_ok: bool, maximum: int | None = None) -> int:
            if key not in d:
                if base is not None:
                    return getattr(base, key)
                if default is not None:
                    return default
            return self.integer(d, where, key, minimum=1, allow_integral_float=float_ok, maximum=maximum)

        chip = ChipSpec(flops_per_s=num("flops_per_s"),
                        mem_bandwidth_bytes_per_s=num("mem_bandwidth_bytes_per_s"),
                        overhead_s=num("overhead_s", minimum=0.0),
                        compute_units=integer("compute_units", 1, False, MAX_COMPUTE_UNITS),
                        memory_bytes=integer("memory_bytes", None, True),
                        **{key: num(key, minimum=0.0, default=0.0) for key in OPTIONAL_ZERO_CHIP_KEYS},
                        compute_table=(self.compute_table(d[_TABLE_KEY], f"{where}.{_TABLE_KEY}") if _TABLE_KEY in d
                                       else base.compute_table if base is not None else ()))
        if chip.compute_table and chip.compute_units > 1:
            # a row's seconds are the whole chip's per message, which no unit could split: k units each ran a
            # message in the row's time, k times the measured chip, where a roofline chip's units share its rates
            key = "compute_units" if "compute_units" in d or _TABLE_KEY not in d else _TABLE_KEY
            self.fail(f"{where}.{key}", f"a chip with a compute_table has one compute unit (its rows are measured "
                                        f"seconds per message on the whole chip), got compute_units = "
                                        f"{chip.compute_units}; set compute_units = 1 or compute_table = []")
        return chip

    def packet_bytes(self, linkd: Mapping[str, Any]) -> float:
        """``link.packet_bytes``: 0 (whole messages) or a whole number of bytes (0.5 or 1e-300 were taken)."""
        x = self.number(linkd, "link", "packet_bytes", minimum=0.0, default=0.0)
        if x and not (x >= 1 and float(x).is_integer()):
            self.fail("link.packet_bytes", f"must be 0 (whole messages) or a whole number of bytes >= 1, got {x!r}")
        return x

    def host(self, d: Any) -> HostSpec:
        """``[host]``: ``cores`` (an integer >= 0) and the controller's CPU per instance and message (>= 0)."""
        if not isinstance(d, Mapping):
            self.fail("host", f"expected a table, got {type_name(d)}")
        self.check_keys(d, "host", HOST_KEYS)
        cores = self.integer(d, "host", "cores", minimum=0) if "cores" in d else 0
        return HostSpec(cores=cores, **{k: self.number(d, "host", k, minimum=0.0, default=0.0)
                                        for k in HOST_KEYS[1:]})

    def compute_table(self, rows: Any, where: str) -> tuple[ComputeCost, ...]:
        """``[chip] compute_table``: an array of ``{flops, bytes, kernels, seconds, label}`` tables, work
        >= 0, seconds > 0, label optional; no two rows with the same work (the lookup needs one value)."""
        if not isinstance(rows, list):
            self.fail(where, f"expected an array of tables {{{', '.join(COMPUTE_COST_KEYS)}}}, "
                             f"got {type_name(rows)}")
        out: list[ComputeCost] = []
        first: dict[tuple[float, float, float], int] = {}
        for i, row in enumerate(rows):
            at = f"{where}[{i}]"
            if not isinstance(row, Mapping):
                self.fail(at, f"expected a table {{{', '.join(COMPUTE_COST_KEYS)}}}, got {type_name(row)} {row!r}")
            self.check_keys(row, at, COMPUTE_COST_KEYS)
            cost = ComputeCost(*(self.number(row, at, k, minimum=0.0) for k in ("flops", "bytes", "kernels")),
                               time_s=self.number(row, at, "seconds"),
                               label=self.string(row, at, "label", default="", allow_empty=True))
            work = (cost.flops, cost.bytes, cost.kernels)
            if work in first:
                self.fail(at, f"same flops, bytes and kernels as {where}[{first[work]}]; give each work once")
            first[work] = i
            out.append(cost)
        return tuple(out)

    def between(self, d: Mapping[str, Any], where: str, topo: TopologySpec) -> tuple[Node, Node]:
        field = f"{where}.between"
        pair = self._get(d, where, "between", REQUIRED)
        if not isinstance(pair, list) or len(pair) != 2:
            self.fail(field, f"expected [a, b] (chip integers or \"switchK\"), got {pair!r}")
        nodes: list[Node] = []
        for x in pair:
            self.not_too_large(field, x)
            if isinstance(x, int) and not isinstance(x, bool):
                if not 0 <= x < topo.n_chips:
                    self.fail(field, f"no chip {x} (chips are 0..{topo.n_chips - 1})")
                nodes.append(x)
            elif isinstance(x, str) and SWITCH_RE.match(x):
                k = int(SWITCH_RE.match(x).group(1))  # type: ignore[union-attr]
                if not k < topo.n_switches:
                    have = f"switch0..switch{topo.n_switches - 1}" if topo.n_switches else "none"
                    self.fail(field, f"no switch {x!r} in a {topo.kind} topology (switches: {have})")
                nodes.append(("switch", k))
            else:
                self.fail(field, f"expected a chip integer or \"switchK\", got {x!r}")
        a, b = sorted(nodes, key=node_sort_key)
        from ampsim.hardware.topology import structure_graph  # lazy: topology imports this module

        if not structure_graph(topo).has_edge(a, b):
            self.fail(field, f"no link between {_node_name(a)} and {_node_name(b)} "
                             f"in this {topo.kind} topology")
        return (a, b)

    def topology(self, t: Mapping[str, Any]) -> TopologySpec:
        kind = self.string(t, "topology", "kind")
        if kind not in TOPOLOGY_PARAMS:
            self.fail("topology.kind", f"unknown kind {kind!r} (expected one of: "
                                       f"{', '.join(TOPOLOGY_PARAMS)})")
        req, opt = TOPOLOGY_PARAMS[kind]
        for key in t:
            if key != "kind" and key not in req + opt:
                self.fail(f"topology.{key}", f"not a parameter of kind {kind!r} "
                                             f"(expected: {', '.join(req + opt)})")
        for key in req:
            if key not in t:
                self.fail(f"topology.{key}", f"missing required field for kind {kind!r}")
        p: dict[str, Any] = {}
        n_switches = 0
        if kind in ("ring", "fully_connected", "switch"):
            p["n"] = self.integer(t, "topology", "n", minimum=TOPOLOGY_MIN_N.get(kind, 1))
            n_chips = p["n"]
            n_switches = 1 if kind == "switch" else 0
        elif kind in ("mesh2d", "torus2d", "torus3d"):
            want = 3 if kind == "torus3d" else 2
            lo = TOPOLOGY_MIN_SIZE.get(kind, 1)
            shape = t["shape"]
            for s in shape if isinstance(shape, list) else ():
                self.not_too_large("topology.shape", s)
            if (not isinstance(shape, list) or len(shape) != want
                    or any(isinstance(s, bool) or not isinstance(s, int) for s in shape)):
                self.fail("topology.shape", f"expected {want} integers for {kind}, got {shape!r}")
            if any(s < lo for s in shape):
                self.fail("topology.shape", f"every size must be >= {lo} for {kind}, got {shape!r}")
            p["shape"] = tuple(shape)
            n_chips = math.prod(shape)
        elif kind == "hypercube":
            p["dim"] = self.integer(t, "topology", "dim", minimum=1)
            n_chips = 2 ** min(p["dim"], 62)  # (bounded: dim may be 2**53; the message says 2**dim)
            count = f"2**{p['dim']}" if p["dim"] > 62 else f"{n_chips}"
        elif kind == "tree":
            p["branching"] = self.integer(t, "topology", "branching", minimum=2)
            p["height"] = self.integer(t, "topology", "height", minimum=1)
            p["fat"] = self.boolean(t, "topology", "fat", default=False)
            b, h = p["branching"], min(p["height"], 62)
            n_chips = b ** h
            count = f"{b}**{p['height']}" if p["height"] > 62 else f"{n_chips}"
            n_switches = (b ** h - 1) // (b - 1)
        else:  # explicit
            p["edges"], n_chips = self.edge_list(t, "topology", MAX_CHIPS)
            p["n"] = n_chips
        if n_chips > MAX_CHIPS:
            shown = count if kind in ("hypercube", "tree") else n_chips
            self.fail("topology", f"{kind} topology has {shown} chips, more than the limit of {MAX_CHIPS}")
        if kind == "fully_connected" and n_chips * (n_chips - 1) // 2 > MAX_LINKS:
            # n² links: 65,536 chips would be 2³¹ networkx edges, more memory than any host has
            self.fail("topology.n", f"a fully connected topology of {n_chips} chips has "
                                    f"{n_chips * (n_chips - 1) // 2:,} links, more than the limit of {MAX_LINKS:,}; "
                                    "use a switch topology for all-to-all at that size")
        return TopologySpec(kind=kind, n_chips=n_chips, n_switches=n_switches, **p)


def _node_name(node: Node) -> str:
    return f"chip {node}" if isinstance(node, int) else f"switch{node[1]}"


def check_system(system: SystemSpec, source: str) -> None:
    """One ConfigError line, naming ``source`` (``plan: system``), unless ``system`` is what its own description reads
    back as (a SystemSpec made by :func:`load_system` always is): one changed with ``dataclasses.replace`` can
    disagree with itself (two chips for a ring of four), which failed later with an IndexError as the machine was
    built."""
    try:  # (the reader's ConfigError names the source itself)
        again = system_from_dict(system.to_dict(), source)
    except ConfigError:
        raise
    except Exception as e:  # noqa: BLE001 (fields of the wrong types: whatever reading them raised)
        raise ConfigError(f"{source}: its fields do not describe a machine ({type(e).__name__}: {e})") from None
    if again != system:
        what = [f.name for f in dataclasses.fields(system) if getattr(again, f.name) != getattr(system, f.name)]
        raise ConfigError(f"{source}: its {', '.join(what)} disagree with the rest of it (as read back from its "
                          "description; a SystemSpec changed with dataclasses.replace?): make it with "
                          "ampsim.hardware.parse.load_system(path, overrides) or system_from_dict")
