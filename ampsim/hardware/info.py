"""Summary of a hardware model, for ``ampsim info HW.toml`` and for run summaries."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import networkx as nx

from ampsim.hardware.properties import bisection_bandwidth_bytes_per_s, bisection_is_exact, system_diameter_hops
from ampsim.hardware.spec import _OPTIONAL_ZERO_CHIP_KEYS, SystemSpec

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
    table its fields (``host.cores``, the controller's CPU per instance and message). Values are
    JSON-serialisable.

    Close to linear in the machine's size (closed forms for regular topologies; see
    :mod:`ampsim.hardware.properties`): seconds at 65,536 chips.
    """
    links = [e for _, _, e in graph.edges(data=True)]
    diameter, diameter_exact = system_diameter_hops(system, graph)
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
        "heterogeneous": len(set(system.chips)) > 1 or bool(system.link_overrides),
        "chip.overhead_s": system.chip_default.overhead_s,
        # units that serve the chip's queue at once, where more than one (each at 1/units of the chip's rates)
        **({"chip.compute_units": system.chip_default.compute_units} if system.chip_default.compute_units > 1 else {}),
        **{f"chip.{k}": getattr(system.chip_default, k) for k in _OPTIONAL_ZERO_CHIP_KEYS
           if getattr(system.chip_default, k)},
        # its size only: the rows themselves are in the file, with their labels
        **({"chip.compute_table_rows": len(system.chip_default.compute_table)}
           if system.chip_default.compute_table else {}),
        # the controller and the cores the chips share with it, when the model sets any of it (the round trip,
        # completion_latency_s, acts without shared cores: shown only with them, it was hidden)
        **({f"host.{k}": v for k, v in asdict(system.host).items()} if any(asdict(system.host).values()) else {}),
    }


def format_info(d: dict[str, Any]) -> str:
    """A two-column human-readable table of :func:`describe`'s dict, quantities with SI prefixes."""
    rows = []
    for key, value in d.items():
        unit = _UNITS.get(key) or ("s/B" if key.endswith(("_s_per_byte", "_s_per_sync_byte")) else
                                   "s" if key.endswith(("_s", "_s_per_instance", "_s_per_message")) else None)
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
