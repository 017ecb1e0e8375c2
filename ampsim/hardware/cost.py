"""Cost model: how long a chip takes to process a message, and how big a message is on the wire.

Roofline plus launch overheads: a node's work is ``flops`` arithmetic operations, ``bytes_accessed``
bytes of memory traffic (weights read, activations read and written) and ``kernels`` separate array
operations, as reported by the IR node. A chip with
``compute_units = k`` runs up to k messages at once, each on one unit with ``1/k`` of the chip's
FLOP rate and memory bandwidth (a node's handler is single-threaded, as in the AMPNet runtime, so a
lone message does not speed up by using idle units). With ``k = 1``::

    compute_time_s = (max(flops / flops_per_s, bytes_accessed / mem_bandwidth_bytes_per_s)
                      + overhead_s + kernels * kernel_overhead_s)

``overhead_s`` is paid once per message (dispatch, queueing), ``kernel_overhead_s`` once per operation
(a launch, or a numpy call's Python and dispatch cost): a fused cell and a chain of tiny ops with the same
FLOPs differ by their operation counts.

**Profiled costs.** A chip with a ``compute_table`` (rows of measured ``seconds`` per message by work
``(flops, bytes, kernels)``: what ``ampsim calibrate`` writes for a measured machine) uses it instead:

* a message whose work equals a row's takes that row's ``seconds``;
* otherwise the roofline time above, times a *ratio*: each row has ``seconds / roofline``; among the rows
  with the same ``kernels`` (the same kind of call: a node kind's operation count does not depend on its
  shapes) the ratio is interpolated geometrically between the two rows around the message (its logarithm
  linear in the logarithm of the roofline time, so the time is too: it lies between the two rows' seconds
  and grows with the work where they do), and taken from the nearest row beyond the ends, up to
  :data:`REACH` times beyond (until 2026-12-07 the ratio itself was linear there, which could give a time
  above both rows': ``local_cpu.toml``'s 1.762 ms between rows of 0.348 and 1.706 ms);
* with no row of that ``kernels``, or further out, the roofline alone (a work far from every measured
  one, such as a node's work summed over many messages, is no shape the table knows).

A node call's work is a deterministic function of its shapes, so the table needs nothing from the IR nodes
or recordings. The lookup is built once per chip spec and remembers every answer, so a table costs the
simulator one dict lookup per message. A chip without a table gets exactly the roofline (the same IEEE
operations as before tables existed)::

    >>> from ampsim.hardware.spec import ChipSpec, ComputeCost
    >>> chip = ChipSpec(1e9, 1e9, 0.0, 1, 10**9, compute_table=(
    ...     ComputeCost(1e6, 0.0, 1, 2e-3, "small"), ComputeCost(1e8, 0.0, 1, 0.1, "large")))
    >>> compute_time_s(chip, 1e6, 0.0, 1)  # a row: its measured seconds
    0.002
    >>> round(compute_time_s(chip, 1e7, 0.0, 1), 12)  # roofline 0.01 s, halfway between ratios 2 and 1: 2 ** 0.5
    0.014142135624
    >>> round(compute_time_s(chip, 1e5, 0.0, 1), 12)  # below the first row: its ratio, 2
    0.0002
    >>> compute_time_s(chip, 1e7, 0.0, 3)  # no row with 3 kernels: the roofline
    0.01
    >>> compute_time_s(chip, 1e4, 0.0, 1)  # 100x below the first row: the roofline
    1e-05

A message sent to a node on *another* chip also costs the sending chip CPU (packing it for a software
transport), the sending unit being busy for it after the step::

    remote_send_time_s = remote_send_overhead_s + remote_send_s_per_byte * wire_bytes

with ``wire_bytes`` from :func:`message_bytes`. Both fields default to 0. The receiving chip's share
(``remote_receive_overhead_s``) and the per-frame, polling and wake-up costs of a software transport are
charged by the simulated chips themselves (:mod:`ampsim.executors.sim.chips`).
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Sequence

import numpy as np

from ampsim.hardware.spec import ChipSpec

__all__ = ["HEADER_BYTES", "STATE_INT_BYTES", "compute_time_s", "compute_times_s", "duration_key", "message_bytes",
           "remote_send_time_s", "spec_kinds"]

#: How far beyond its first and last rows (of a work's ``kernels``) a table's ratio still holds: a factor
#: of the roofline time. Further out, the roofline alone.
REACH = 10.0
#: Fixed bytes per message on the wire: routing/target (node, port) ids, payload shape and dtype.
HEADER_BYTES = 16
#: Bytes per integer of the message state (instance key, time step, tree position, ...).
STATE_INT_BYTES = 8
_INF = math.inf  # a global, not an attribute lookup: the check runs once per simulated message


def compute_time_s(chip: ChipSpec, flops: float, bytes_accessed: float, kernels: float = 0.0) -> float:
    """Seconds for one compute unit of ``chip`` to process one message (formula in the module
    docstring). The work must be finite and >= 0; zero work still costs ``overhead_s``."""
    # written so that NaN fails too (``nan < 0`` is False, and ``max`` would drop a NaN byte count)
    if not (0 <= flops < _INF and 0 <= bytes_accessed < _INF and 0 <= kernels < _INF):
        raise ValueError(f"work must be finite and >= 0, got flops={flops}, bytes_accessed={bytes_accessed}, "
                         f"kernels={kernels}")
    if chip.compute_table:
        return _lookup(chip).seconds(flops, bytes_accessed, kernels)
    k = chip.compute_units
    return (max(flops * k / chip.flops_per_s, bytes_accessed * k / chip.mem_bandwidth_bytes_per_s)
            + chip.overhead_s + kernels * chip.kernel_overhead_s)


def compute_times_s(chip: ChipSpec, work: np.ndarray) -> np.ndarray:
    """:func:`compute_time_s` for every row ``(flops, bytes, kernels)`` of ``work`` ([m, 3]) at once, with the
    same IEEE operations (numpy's element-wise ``* / + max`` are Python's), so the results are equal bit
    for bit (what the replay needs: its durations equal the full run's), and the same check of the work."""
    ok = (work >= 0) & (work < np.inf)  # NaN compares False: rejected with the negatives
    if not ok.all():
        bad = work[~ok.all(axis=1)][0].tolist()
        raise ValueError(f"work must be finite and >= 0, got flops={bad[0]}, bytes_accessed={bad[1]}, kernels={bad[2]}")
    if chip.compute_table:
        lookup = _lookup(chip)
        return np.array([lookup.seconds(f, b, k) for f, b, k in work.tolist()], dtype=np.float64)
    k = chip.compute_units
    return (np.maximum(work[:, 0] * k / chip.flops_per_s, work[:, 1] * k / chip.mem_bandwidth_bytes_per_s)
            + chip.overhead_s + work[:, 2] * chip.kernel_overhead_s)


def duration_key(chip: ChipSpec) -> tuple:
    """What :func:`compute_time_s` depends on in ``chip``: chips with equal keys take equal times for equal
    work. Cheap to build and hash (a chip's table counts by its lookup's identity, not row by row)."""
    key = (chip.compute_units, chip.flops_per_s, chip.mem_bandwidth_bytes_per_s, chip.overhead_s,
           chip.kernel_overhead_s)
    return key + (_lookup(chip),) if chip.compute_table else key


def spec_kinds(chips: Sequence[ChipSpec]) -> tuple[np.ndarray, list[ChipSpec]]:
    """Each chip's spec among the distinct spec objects of ``chips`` (numbered as first seen), and those
    objects: chips that share a spec object share its costs, computed once. A machine of one spec object,
    the usual one, is found in C (a pass in Python over 16,384 chips took milliseconds of every point)."""
    if len(set(map(id, chips))) == 1:
        return np.zeros(len(chips), dtype=np.int64), [chips[0]]
    seen: dict[int, int] = {}
    kind_of = np.fromiter((seen.setdefault(id(c), len(seen)) for c in chips), dtype=np.int64, count=len(chips))
    return kind_of, list({id(c): c for c in chips}.values())


def message_bytes(payload_nbytes: int, state_len: int) -> int:
    """Bytes a message occupies on a link: ``payload_nbytes + HEADER_BYTES + STATE_INT_BYTES *
    state_len`` (16 bytes of header plus 8 per state integer)."""
    if payload_nbytes < 0 or state_len < 0:
        raise ValueError(f"sizes must be >= 0, got payload_nbytes={payload_nbytes}, state_len={state_len}")
    return int(payload_nbytes) + HEADER_BYTES + STATE_INT_BYTES * int(state_len)


def remote_send_time_s(chip: ChipSpec, wire_bytes: int) -> float:
    """CPU seconds ``chip`` spends sending one message of ``wire_bytes`` bytes to another chip
    (formula in the module docstring); 0 with the default chip fields."""
    if wire_bytes < 0:
        raise ValueError(f"wire_bytes must be >= 0, got {wire_bytes}")
    return chip.remote_send_overhead_s + chip.remote_send_s_per_byte * wire_bytes


class TableLookup:
    """A chip's ``compute_table`` made fast: every row's seconds by work, and per ``kernels`` the rows'
    log roofline times (sorted) and ratios; :meth:`seconds` remembers what it computed (a run meets few
    distinct works, over and over)."""

    #: most answers remembered beyond the rows (a bound, for a run that meets works without end)
    MEMO_MAX = 1 << 16

    def __init__(self, chip: ChipSpec) -> None:
        import dataclasses

        self.roofline = dataclasses.replace(chip, compute_table=())  # the same chip without its table
        self.memo: dict[tuple[float, float, float], float] = {}
        points: dict[float, dict[float, list[float]]] = {}  # kernels -> log roofline time -> ratios
        for row in chip.compute_table:
            self.memo[(row.flops, row.bytes, row.kernels)] = row.time_s
            roof = compute_time_s(self.roofline, row.flops, row.bytes, row.kernels)
            if roof > 0:  # a row of no work on a chip of no overheads can only be met exactly
                points.setdefault(row.kernels, {}).setdefault(math.log(roof), []).append(row.time_s / roof)
        self.rows = len(self.memo)
        self.curves = {k: (sorted(xs), [sum(xs[x]) / len(xs[x]) for x in sorted(xs)]) for k, xs in points.items()}

    def seconds(self, flops: float, bytes_accessed: float, kernels: float) -> float:
        key = (flops, bytes_accessed, kernels)
        got = self.memo.get(key)
        if got is None:
            got = self._interpolate(flops, bytes_accessed, kernels)
            if len(self.memo) < self.rows + self.MEMO_MAX:
                self.memo[key] = got
        return got

    def _interpolate(self, flops: float, bytes_accessed: float, kernels: float) -> float:
        roof = compute_time_s(self.roofline, flops, bytes_accessed, kernels)
        curve = self.curves.get(kernels)
        if curve is None or roof <= 0:
            return roof
        xs, ratios = curve
        x = math.log(roof)
        i = bisect_left(xs, x)
        if i == 0:
            return roof * ratios[0] if x >= xs[0] - _LOG_REACH else roof
        if i == len(xs):
            return roof * ratios[-1] if x <= xs[-1] + _LOG_REACH else roof
        # geometric in the ratio, so linear in log time between the rows: the time lies within theirs and grows
        # with the work where they do (a ratio linear in log roofline made roofline x ratio overshoot both rows)
        w = (x - xs[i - 1]) / (xs[i] - xs[i - 1])
        return roof * ratios[i - 1] ** (1.0 - w) * ratios[i] ** w


_LOG_REACH = math.log(REACH)


def _lookup(chip: ChipSpec) -> TableLookup:
    """The chip spec's :class:`TableLookup`, built on first use and kept on the (frozen) spec itself."""
    got = chip.__dict__.get("_table_lookup")
    if got is None:
        got = TableLookup(chip)
        object.__setattr__(chip, "_table_lookup", got)  # not a field: equality, hashing and asdict ignore it
    return got
