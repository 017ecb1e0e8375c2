"""Summary of a hardware model, for ``ampsim info HW.toml`` and for run summaries."""

from __future__ import annotations

from dataclasses import asdict, fields
from typing import Any

import networkx as nx

from ampsim.hardware.properties import bisection_bandwidth_bytes_per_s, bisection_is_exact, system_diameter_hops
from ampsim.hardware.spec import OPTIONAL_ZERO_CHIP_KEYS, ChipSpec, SystemSpec

__all__ = ["describe", "format_info"]

_UNITS = {
    "total_flops_per_s": "FLOP/s",
    "bisection_bandwidth_bytes_per_s": "B/s",
    "total_memory_bytes": "B",
    "min_link_bandwidth_bytes_per_s": "B/s",
    "max_link_latency_s": "s",
}


def describe(system: SystemSpec, graph: nx.Graph) -> dict[str, Any]:
    """Plain-data summary of ``system`` (``graph`` = ``build_topology(system)``).

    Keys: name, description, source, measured, topology (kind), switching, n_chips, n_switches,
    n_links, diameter_hops, diameter_exact (False: a lower bound from sampled searches, see
    ``system_diameter_hops``), bisection_bandwidth_bytes_per_s, bisection_exact (False: an estimate,
    see ``bisection_bandwidth_bytes_per_s``), total_flops_per_s, total_memory_bytes,
    min_link_bandwidth_bytes_per_s, max_link_latency_s, heterogeneous (chips or links differ), then the
    default chip's per-message costs: ``chip.overhead_s``, ``chip.compute_units`` where more than one, and
    every optional cost field that is not 0 (``chip.kernel_overhead_s``, the software-transport fields,
    ``chip.contention_slowdown``) and, with a compute table, ``chip.compute_table_rows``, and with a ``[host]``
    table its fields (``host.cores``, the controller's CPU per instance and message). Where chips differ from
    the default chip (``[[chip_override]]``), ``chip_override``: one entry per distinct chip spec, in the order
    of its first chip, with ``chips`` (which ones, :func:`_chip_ranges`), ``n_chips`` and ``fields`` (the fields
    that differ from the default chip's, a compute table as ``compute_table_rows``); where links do
    (``[[link_override]]``), ``link_override`` likewise (``links``, ``n_links``, ``fields``). Values are
    JSON-serialisable.

    Close to linear in the machine's size (closed forms for regular topologies; see
    :mod:`ampsim.hardware.properties`): seconds at 65,536 chips.
    """
    links = [e for _, _, e in graph.edges(data=True)]
    diameter, diameter_exact = system_diameter_hops(system, graph)
    slow = _link_overrides(system, graph)
    return {
        "name": system.name,
        "description": system.description,
        "source": system.source,
        "measured": system.measured,
        "topology": system.topology.kind,
        # packet-switched links replace the switching mode's whole-message rule
        "switching": (f"packets of {system.link.packet_bytes:g} B" if system.link.packet_bytes
                      else system.switching),
        "n_chips": system.n_chips,
        "n_switches": system.topology.n_switches,
        "n_links": graph.number_of_edges(),
        "diameter_hops": diameter,
        "diameter_exact": diameter_exact,
        "bisection_bandwidth_bytes_per_s": bisection_bandwidth_bytes_per_s(system, graph),
        "bisection_exact": bisection_is_exact(system),
        "total_flops_per_s": float(sum(c.flops_per_s for c in system.chips)),
        "total_memory_bytes": int(sum(c.memory_bytes for c in system.chips)),
        "min_link_bandwidth_bytes_per_s": min((e["bandwidth_bytes_per_s"] for e in links), default=0.0),
        "max_link_latency_s": max((e["latency_s"] for e in links), default=0.0),
        # links that differ from what [link] gives them, as chips that differ from [chip]: an override to a link's
        # own values (which the link_override lines leave out) made a uniform machine heterogeneous
        "heterogeneous": len(set(system.chips)) > 1 or bool(slow),
        "chip.overhead_s": system.chip_default.overhead_s,
        # units that serve the chip's queue at once, where more than one (each at 1/units of the chip's rates)
        **({"chip.compute_units": system.chip_default.compute_units} if system.chip_default.compute_units > 1 else {}),
        **{f"chip.{k}": getattr(system.chip_default, k) for k in OPTIONAL_ZERO_CHIP_KEYS
           if getattr(system.chip_default, k)},
        # its size only: the rows themselves are in the file, with their labels
        **({"chip.compute_table_rows": len(system.chip_default.compute_table)}
           if system.chip_default.compute_table else {}),
        # the totals above count the overridden chips, the default chip's lines do not: a straggler read as one
        # more default chip
        **({"chip_override": overridden} if (overridden := _chip_overrides(system)) else {}),
        # and a slow link was only the machine's minimum bandwidth, which link it was not said
        **({"link_override": slow} if slow else {}),
        # the controller and the cores the chips share with it, when the model sets any of it (the round trip,
        # completion_latency_s, acts without shared cores: shown only with them, it was hidden)
        **({f"host.{k}": v for k, v in asdict(system.host).items()} if any(asdict(system.host).values()) else {}),
    }


def _chip_overrides(system: SystemSpec) -> list[dict[str, Any]]:
    """:func:`describe`'s ``chip_override``: the chips whose spec differs from the default chip's, grouped by
    spec (one pass over the chips; a spec's fields are compared once per distinct spec object)."""
    by_object: dict[int, list[int]] = {}
    for i, chip in enumerate(system.chips):
        if chip is not system.chip_default:
            by_object.setdefault(id(chip), []).append(i)
    groups: dict[ChipSpec, list[int]] = {}  # (equal specs held as separate objects: one entry)
    for ids in by_object.values():
        groups.setdefault(system.chips[ids[0]], []).extend(ids)
    base = system.chip_default
    out = []
    for chip, ids in groups.items():
        if chip == base:
            continue
        changed = {f.name: getattr(chip, f.name) for f in fields(chip)
                   if f.name != "compute_table" and getattr(chip, f.name) != getattr(base, f.name)}
        if chip.compute_table != base.compute_table:
            changed["compute_table_rows"] = len(chip.compute_table)
        out.append({"chips": _chip_ranges(sorted(ids)), "n_chips": len(ids), "fields": changed})
    return out


def _link_overrides(system: SystemSpec, graph: nx.Graph, limit: int = 8) -> list[dict[str, Any]]:
    """:func:`describe`'s ``link_override``: the links ``[[link_override]]`` names whose latency or bandwidth
    differ from what the ``[link]`` table gives them (the topology's scale included), grouped by what they
    differ in, in the order of their first override; the first ``limit`` links of a group named (``0-1``)."""
    groups: dict[tuple, list[str]] = {}
    seen = set()
    for o in system.link_overrides:
        if o.between in seen or not graph.has_edge(*o.between):
            continue
        seen.add(o.between)
        e = graph.edges[o.between]
        default = {"latency_s": system.link.latency_s,
                   "bandwidth_bytes_per_s": system.link.bandwidth_bytes_per_s * e["bandwidth_scale"]}
        changed = tuple((k, e[k]) for k in default if e[k] != default[k])
        if changed:
            groups.setdefault(changed, []).append(f"{o.between[0]}-{o.between[1]}")
    return [{"links": ", ".join(names[:limit]) + (", ..." if len(names) > limit else ""), "n_links": len(names),
             "fields": dict(changed)} for changed, names in groups.items()]


def _chip_ranges(ids: list[int], limit: int = 8) -> str:
    """Sorted chip indices as runs, the first ``limit`` of them (a machine may have 65,536 chips).

    >>> _chip_ranges([3]), _chip_ranges([0, 1, 2, 5, 7, 8]), _chip_ranges(list(range(0, 40, 2)), 3)
    ('3', '0-2, 5, 7-8', '0, 2, 4, ...')
    """
    runs: list[list[int]] = []
    for i in ids:
        if runs and i == runs[-1][1] + 1:
            runs[-1][1] = i
        else:
            runs.append([i, i])
    shown = [f"{a}" if a == b else f"{a}-{b}" for a, b in runs[:limit]]
    return ", ".join(shown) + (", ..." if len(runs) > limit else "")


def _unit(key: str) -> str | None:
    """The unit :func:`format_info` shows a value of ``key`` in, or None (a count, a name)."""
    return _UNITS.get(key) or ("FLOP/s" if key.endswith("flops_per_s") else
                               "B/s" if key.endswith("_bytes_per_s") else
                               "B" if key.endswith("_bytes") else
                               "s/B" if key.endswith(("_s_per_byte", "_s_per_sync_byte")) else
                               "s" if key.endswith(("_s", "_s_per_instance", "_s_per_message")) else None)


def _value_text(key: str, value: Any) -> str:
    """``value`` of ``key`` with its unit and an SI prefix where it has one."""
    unit = _unit(key)
    if unit and isinstance(value, (int, float)) and not isinstance(value, bool):
        return _si(float(value), unit)
    return str(value)


def format_info(d: dict[str, Any]) -> str:
    """A two-column human-readable table of :func:`describe`'s dict, quantities with SI prefixes; a
    ``chip_override`` entry is a line per distinct overridden chip: its chips, then the fields it changes (and a
    ``link_override`` entry likewise)."""
    rows = []
    for key, value in d.items():
        unit = _unit(key)
        if key in ("chip_override", "link_override"):  # a line per group: its chips (links), what they change
            what = key.removesuffix("_override")
            for group in value:
                names, n = group[f"{what}s"], group[f"n_{what}s"]
                head = f"{what} {names}" if n == 1 else f"{what}s {names} ({n:,})"
                changed = ", ".join(f"{k} {_value_text(k, v)}" for k, v in group["fields"].items())
                rows.append((key, f"{head}: {changed}"))
            continue
        if unit and isinstance(value, (int, float)) and not isinstance(value, bool):
            text = _si(float(value), unit)
            if key == "bisection_bandwidth_bytes_per_s" and d.get("bisection_exact") is False:
                text += " (estimate)"
        elif key == "diameter_hops" and d.get("diameter_exact") is False:
            text = f"≥ {value} (sampled)"
        elif isinstance(value, bool):
            text = "yes" if value else "no"
        else:  # (a name's control characters reached the terminal as they were: escapes, a bell)
            text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(value))
        rows.append((key, text))
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


def _si(x: float, unit: str) -> str:
    """``_si(2.5e10, "B/s") == "25 GB/s"``; three significant digits."""
    if x == 0:
        return f"0 {unit}"
    prefixes = [(1e18, "E"), (1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"), (1.0, ""),
                (1e-3, "m"), (1e-6, "µ"), (1e-9, "n"), (1e-12, "p")]
    for scale, p in prefixes:
        if abs(x) >= scale:
            return f"{x / scale:.3g} {p}{unit}"
    return f"{x:.3g} {unit}"
