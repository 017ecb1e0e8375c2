"""Hardware models: TOML → frozen, validated specs.

A hardware model (``hardware_models/*.toml``) describes a machine as data: one chip type (with
per-chip overrides for heterogeneous systems), one default link type (with per-link overrides), a
topology by name and size (or an explicit edge list) and a switching mode. Units are SI and are
spelled in every field name (``flops_per_s``, ``latency_s``, ``memory_bytes``...)::

    [system]
    name = "ring4"
    description = "four chips in a ring"
    source = "numbers from <spec sheet>"      # required: where the numbers come from
    measured = false                           # true when written by calibration
    switching = "store_and_forward"            # or "cut_through"
    [chip]
    flops_per_s = 1.0e12
    mem_bandwidth_bytes_per_s = 1.0e11
    overhead_s = 1.0e-6                        # fixed cost of handling one message
    compute_units = 1                          # messages processed at once (optional, default 1)
    memory_bytes = 3.0e8
    kernel_overhead_s = 0.0                    # per array operation / kernel launch (optional, 0)
    remote_send_overhead_s = 0.0               # CPU per message sent to another chip (optional, 0)
    remote_send_s_per_byte = 0.0               # ... plus this per byte it carries (optional, 0)
    remote_receive_overhead_s = 0.0            # CPU per message received from another chip (optional, 0)
    frame_send_overhead_s = 0.0                # CPU per frame sent to another chip (optional, 0)
    frame_receive_overhead_s = 0.0             # CPU per frame received from one (optional, 0)
    coalesce_window_s = 0.0                    # how long sends may wait to share a frame (optional, 0)
    wake_overhead_s = 0.0                      # CPU to resume after sleeping idle (optional, 0)
    spin_s = 0.0                               # how long an idle chip polls before it sleeps (optional, 0)
    poll_interval_s = 0.0                      # a busy chip takes in arrivals this often (optional, 0: at once)
    contention_slowdown = 0.0                  # 0.15: 15 % slower while another chip is busy (optional, 0)
    compute_table = [                          # measured per-message seconds by work (optional, none)
      {flops = 4.19e6, bytes = 3.3e5, kernels = 2, seconds = 4.2e-4, label = "linear fc0 fwd 32x784"},
    ]
    [link]                                     # full duplex: each direction has this bandwidth
    latency_s = 1.0e-7
    bandwidth_bytes_per_s = 2.5e10
    [host]                                     # the CPU that runs the chips' software (optional, measured machines)
    cores = 2                                  # cores shared by the chips and the controller (0: one each)
    controller_s_per_instance = 2.0e-4         # CPU the controller spends per instance (admit, complete)
    controller_s_per_message = 1.5e-6          # ... plus this per message the instance caused
    controller_s_per_sync_byte = 1e-9          # replicas through the controller: its CPU per synchronized byte
    completion_latency_s = 5.0e-4              # an instance's completion reaches the controller and back
    [topology]
    kind = "ring"                              # see TOPOLOGY_PARAMS for the kinds and their keys
    n = 4
    [[chip_override]]                          # any chip field; later overrides win
    chips = [3]
    flops_per_s = 2.5e11
    [[link_override]]                          # latency_s and/or bandwidth_bytes_per_s
    between = [0, 1]                           # chips are ints; switches are "switch0", "switch1"...
    bandwidth_bytes_per_s = 1.0e9

This module holds the specs (frozen dataclasses) and the format's vocabulary; :mod:`ampsim.hardware.parse`
reads files into them (:func:`~ampsim.hardware.parse.load_system`, :func:`~ampsim.hardware.parse.system_from_dict`),
raising :class:`ampsim.errors.ConfigError` with one line ``<file>: <dotted.field>: <problem>`` per user error.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Union

__all__ = ["ChipSpec", "ComputeCost", "HostSpec", "LinkOverride", "LinkSpec", "MAX_CHIPS", "MAX_COMPUTE_UNITS",
           "MAX_LINKS", "Node", "SWITCHING_MODES", "SystemSpec", "TOPOLOGY_PARAMS", "TopologySpec", "node_sort_key",
           "HARDWARE_SECTIONS", "SYSTEM_KEYS", "CHIP_KEYS", "OPTIONAL_ZERO_CHIP_KEYS", "COMPUTE_COST_KEYS", "LINK_KEYS",
           "LINK_ONLY_KEYS", "HOST_KEYS", "SWITCH_RE"]

#: A node of the topology graph: a chip is its integer index, a switch is ``("switch", k)``.
Node = Union[int, tuple[str, int]]

SWITCHING_MODES = ("store_and_forward", "cut_through")

#: Topology kinds → (required keys, optional keys) in the ``[topology]`` table besides ``kind``.
TOPOLOGY_PARAMS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "ring": (("n",), ()),
    "mesh2d": (("shape",), ()),
    "torus2d": (("shape",), ()),
    "torus3d": (("shape",), ()),
    "fully_connected": (("n",), ()),
    "switch": (("n",), ()),
    "hypercube": (("dim",), ()),
    "tree": (("branching", "height"), ("fat",)),
    "explicit": (("edges",), ("n",)),
}

#: Largest system accepted (guards against a typo such as ``dim = 60``).
MAX_CHIPS = 65536
#: Most links a topology may have (a fully connected topology grows as n²).
MAX_LINKS = 4_000_000
#: Most compute units a chip may have (each serves the chip's queue: a unit per message processed at once).
MAX_COMPUTE_UNITS = 4096

#: the tables of a hardware file
HARDWARE_SECTIONS = ("system", "chip", "link", "host", "topology", "chip_override", "link_override")
SYSTEM_KEYS = ("name", "description", "source", "measured", "switching")
CHIP_KEYS = ("flops_per_s", "mem_bandwidth_bytes_per_s", "overhead_s", "compute_units", "memory_bytes",
             "kernel_overhead_s", "remote_send_overhead_s", "remote_send_s_per_byte", "remote_receive_overhead_s",
             "frame_send_overhead_s", "frame_receive_overhead_s", "coalesce_window_s", "wake_overhead_s", "spin_s",
             "poll_interval_s", "contention_slowdown", "compute_table")
#: Optional chip fields that default to 0 (left out of :meth:`SystemSpec.to_dict` when 0 / unchanged).
OPTIONAL_ZERO_CHIP_KEYS = CHIP_KEYS[5:-1]
#: the fields of one ``compute_table`` row
COMPUTE_COST_KEYS = ("flops", "bytes", "kernels", "seconds", "label")
LINK_KEYS = ("latency_s", "bandwidth_bytes_per_s")
#: keys of the system-wide ``[link]`` table only (not of ``[[link_override]]``)
LINK_ONLY_KEYS = ("packet_bytes",)
HOST_KEYS = ("cores", "controller_s_per_instance", "controller_s_per_message", "controller_s_per_sync_byte",
             "completion_latency_s")
#: host keys written only when set: models without them keep their dict (and sweep point ids)
_HOST_OPTIONAL = ("controller_s_per_sync_byte", "completion_latency_s")
SWITCH_RE = re.compile(r"^switch(\d+)$")


@dataclass(frozen=True)
class ComputeCost:
    """One row of a chip's ``compute_table``: a message whose node call reports this work (``flops``,
    ``bytes`` accessed, ``kernels``: :class:`ampsim.ir.node.Work`) keeps the chip busy ``time_s`` seconds, as
    measured; ``label`` says which call it was (e.g. ``"linear fc0 fwd 32x784"``), for readers only. In a
    TOML row (:meth:`from_row`, :meth:`to_row`) ``time_s`` is the key ``seconds``."""

    flops: float
    bytes: float
    kernels: float
    time_s: float
    label: str = ""

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> ComputeCost:
        """The cost of a TOML-shaped row ``{flops, bytes, kernels, seconds, label}`` (label optional; the
        values unchecked: the parser checks a file's rows)."""
        return cls(row["flops"], row["bytes"], row["kernels"], row["seconds"], row.get("label", ""))

    def to_row(self) -> dict[str, Any]:
        """The TOML-shaped row (:meth:`from_row`'s inverse; the order of ``COMPUTE_COST_KEYS``)."""
        return {"flops": self.flops, "bytes": self.bytes, "kernels": self.kernels, "seconds": self.time_s,
                "label": self.label}


@dataclass(frozen=True)
class ChipSpec:
    """One chip. Rates are for the whole chip.

    ``compute_units`` is how many messages the chip processes at once; each runs on one unit with
    ``1/compute_units`` of the chip's FLOP rate and memory bandwidth (see :mod:`ampsim.hardware.cost`).
    ``overhead_s`` is the fixed time to handle one message (dispatch, queueing), added to every
    compute time, and ``kernel_overhead_s`` the cost of launching one array operation (a kernel on an
    accelerator, a numpy call on a CPU; optional, default 0), times the operations a call reports.
    ``memory_bytes`` is the on-chip capacity for parameters and cached activations.

    ``remote_send_overhead_s + remote_send_s_per_byte * wire_bytes`` is the CPU time the chip spends
    on each message it sends to *another* chip (serialization, system calls, wake-ups: what a software
    transport costs its host), on top of the link's latency and bandwidth; the sending unit is busy
    for it (see :func:`ampsim.hardware.cost.remote_send_time_s`); ``remote_receive_overhead_s`` is what
    the receiving chip spends on each such message (unpacking, queueing).

    A software transport also pays per *frame* (one system call and one wake-up of the peer, however many
    messages it carries): ``frame_send_overhead_s`` on the sending chip and ``frame_receive_overhead_s``
    on the receiving one. Messages for another chip are held while the chip keeps busy, for up to
    ``coalesce_window_s`` since its last frame went out or it last woke up, and leave together, one frame per
    destination, as soon as the chip's queue runs empty or the window has passed (the multicore executor's flush rule).
    A chip that runs out of work polls for ``spin_s``, then sleeps; work that finds it asleep first
    costs it ``wake_overhead_s`` (a context switch, cold caches). A busy chip takes in messages from other
    chips every ``poll_interval_s`` (between two items) or when its queue runs empty; 0 means at once.

    All nine transport fields are optional and default to 0 (a network interface that does this for free; with the
    three frame fields 0, every message travels on its own as soon as its step ends).

    ``contention_slowdown`` (optional, default 0): while more than one chip of the machine is busy, this
    chip works ``1 + contention_slowdown`` times slower (cores that share caches and memory bandwidth;
    the exact rule is in :mod:`ampsim.executors.sim.chips`). ``compute_table`` (optional, default empty):
    measured per-message times by work (:class:`ComputeCost`), used instead of the roofline where the
    table has an entry and to scale it in between (:mod:`ampsim.hardware.cost`); ``ampsim calibrate``
    writes one for a measured machine, accelerator models have none. A chip with a table has one compute
    unit (its rows are the whole chip's seconds per message, which no unit could split).
    """

    flops_per_s: float
    mem_bandwidth_bytes_per_s: float
    overhead_s: float
    compute_units: int
    memory_bytes: int
    kernel_overhead_s: float = 0.0
    remote_send_overhead_s: float = 0.0
    remote_send_s_per_byte: float = 0.0
    remote_receive_overhead_s: float = 0.0
    frame_send_overhead_s: float = 0.0
    frame_receive_overhead_s: float = 0.0
    coalesce_window_s: float = 0.0
    wake_overhead_s: float = 0.0
    spin_s: float = 0.0
    poll_interval_s: float = 0.0
    contention_slowdown: float = 0.0
    compute_table: tuple[ComputeCost, ...] = ()

    @property
    def framed(self) -> bool:
        """True when messages to other chips travel in frames (any of the three frame fields set)."""
        return bool(self.frame_send_overhead_s or self.frame_receive_overhead_s or self.coalesce_window_s)


@dataclass(frozen=True)
class LinkSpec:
    """One full-duplex link: each direction independently has this latency and bandwidth.

    ``packet_bytes`` (``[link]`` only; optional, default 0): 0 moves whole messages, each direction a
    FIFO of messages; > 0 makes links packet-switched, messages interleaving packet by packet so that
    they share the bandwidth (see :mod:`ampsim.executors.sim.packets`).
    """

    latency_s: float
    bandwidth_bytes_per_s: float
    packet_bytes: float = 0.0


@dataclass(frozen=True)
class HostSpec:
    """The CPU under a software machine (``[host]``, optional; measured machines only).

    The chips of a measured machine are worker processes, and a controller process admits and completes
    instances beside them. ``cores`` is how many cores they all share: while more of them are busy than
    there are cores, the operating system time-shares the cores and each runs at ``cores / busy`` of its
    speed (0: every chip and the controller have a core of their own, nothing is shared). The controller
    is busy ``controller_s_per_instance + controller_s_per_message * messages`` for every instance that
    completes (its admission, the weight returns of its messages, its completion), starting when it
    completes; it delays no message, it only takes its share of the cores (the rule is in
    :mod:`ampsim.executors.sim.contention`). All default to 0: no host, today's timing.

    ``controller_s_per_sync_byte`` (optional, default 0): the controller's CPU per parameter byte of a replica
    synchronization that passes through it (``replicas.collective = "host"``, the multicore executor's way:
    each copy's snapshot in, the average out to each copy; unpickling, averaging and pickling included).

    ``completion_latency_s`` (optional, default 0: the controller acts at the completion's instant): the
    controller's round trip. A worker reports an instance's last step to the controller, which only then
    tells every worker to queue the instance's update jobs and admits the next instance; this long after
    the last step ends, the update jobs and the admitted instance's first messages reach their chips, which
    take them in as they take a frame from another chip (an idle chip at once, a busy one at its next poll,
    ``poll_interval_s``; no receive cost: the controller's commands are not transport), and the slot is
    free. Staleness depends on it: an update that arrives later runs after more of the other instances'
    backward steps, which then see fewer updates.
    """

    cores: int = 0
    controller_s_per_instance: float = 0.0
    controller_s_per_message: float = 0.0
    controller_s_per_sync_byte: float = 0.0
    completion_latency_s: float = 0.0

    @property
    def shares_cores(self) -> bool:
        """True when the chips and the controller compete for a limited number of cores."""
        return self.cores > 0


@dataclass(frozen=True)
class TopologySpec:
    """Topology by kind and size. Only the parameters of ``kind`` are set; the others are None.

    ``n_chips`` and ``n_switches`` are derived. Chip numbering per kind is documented in
    :func:`ampsim.hardware.topology.build_topology`.
    """

    kind: str
    n_chips: int
    n_switches: int
    n: int | None = None
    shape: tuple[int, ...] | None = None
    dim: int | None = None
    branching: int | None = None
    height: int | None = None
    fat: bool = False
    edges: tuple[tuple[int, int], ...] | None = None


@dataclass(frozen=True)
class LinkOverride:
    """A link whose spec differs from the default. ``between`` is sorted (chips before switches)."""

    between: tuple[Node, Node]
    latency_s: float | None = None
    bandwidth_bytes_per_s: float | None = None


@dataclass(frozen=True)
class SystemSpec:
    """A whole machine. ``chips[i]`` (or ``chip(i)``) is chip i's spec after overrides;
    ``chip_default`` is the ``[chip]`` table's; ``link`` is the default link."""

    name: str
    description: str
    source: str
    measured: bool
    switching: str
    chip_default: ChipSpec
    chips: tuple[ChipSpec, ...]
    link: LinkSpec
    link_overrides: tuple[LinkOverride, ...]
    topology: TopologySpec
    host: HostSpec = HostSpec()

    @property
    def n_chips(self) -> int:
        return len(self.chips)

    def chip(self, i: int) -> ChipSpec:
        """Spec of chip ``i`` (after overrides). Raises IndexError for a chip that does not exist."""
        if not 0 <= i < len(self.chips):
            raise IndexError(f"chip {i} out of range 0..{len(self.chips) - 1}")
        return self.chips[i]

    def to_dict(self) -> dict[str, Any]:
        """The TOML-shaped dict; ``system_from_dict(s.to_dict(), ...) == s``."""
        topo: dict[str, Any] = {"kind": self.topology.kind}
        req, opt = TOPOLOGY_PARAMS[self.topology.kind]
        for key in req + opt:
            value = getattr(self.topology, key)
            if value is None or (key == "fat" and not value):
                continue
            topo[key] = [list(e) for e in value] if key == "edges" else (
                list(value) if isinstance(value, tuple) else value)
        d: dict[str, Any] = {
            "system": {"name": self.name, "description": self.description, "source": self.source,
                       "measured": self.measured, "switching": self.switching},
            "chip": _chip_dict(self.chip_default, None),
            # packet_bytes only when set: models without it keep their dict (and sweep point ids)
            "link": {k: v for k, v in asdict(self.link).items() if k != "packet_bytes" or v},
            "topology": topo,
        }
        if self.host != HostSpec():  # only when set: models without it keep their dict (and sweep point ids)
            d["host"] = {k: v for k, v in asdict(self.host).items() if k not in _HOST_OPTIONAL or v}
        groups: dict[ChipSpec, list[int]] = {}
        for i, c in enumerate(self.chips):
            if c != self.chip_default:
                groups.setdefault(c, []).append(i)
        if groups:
            d["chip_override"] = [{"chips": ids, **_chip_dict(c, self.chip_default)} for c, ids in groups.items()]
        if self.link_overrides:
            d["link_override"] = [
                {"between": [_node_to_toml(n) for n in o.between],
                 **{k: getattr(o, k) for k in LINK_KEYS if getattr(o, k) is not None}}
                for o in self.link_overrides]
        return d


def _chip_dict(chip: ChipSpec, base: ChipSpec | None) -> dict[str, Any]:
    """``chip``'s fields, less the optional ones that are 0 (``base`` None) or equal to ``base``'s."""
    d = asdict(chip)
    for key in OPTIONAL_ZERO_CHIP_KEYS:
        if d[key] == (0.0 if base is None else getattr(base, key)):
            del d[key]
    if chip.compute_table == (() if base is None else base.compute_table):
        del d["compute_table"]
    else:
        d["compute_table"] = [row.to_row() for row in chip.compute_table]  # TOML's array of tables
    return d


def node_sort_key(node: Node) -> tuple[int, int]:
    """Total order on nodes used everywhere a deterministic order is needed: chips, then switches."""
    return (0, node) if isinstance(node, int) else (1, node[1])


def _node_to_toml(node: Node) -> int | str:
    return node if isinstance(node, int) else f"switch{node[1]}"
