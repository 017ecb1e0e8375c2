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

A message sent to a node on *another* chip also costs the sending chip CPU (packing it for a software
transport), the sending unit being busy for it after the step::

    remote_send_time_s = remote_send_overhead_s + remote_send_s_per_byte * wire_bytes

with ``wire_bytes`` from :func:`message_bytes`. Both fields default to 0. The receiving chip's share
(``remote_receive_overhead_s``) and the per-frame, polling and wake-up costs of a software transport are
charged by the simulated chips themselves (:mod:`ampsim.executors.sim.chips`).
"""

from __future__ import annotations

from ampsim.hardware.spec import ChipSpec

#: Fixed bytes per message on the wire: routing/target (node, port) ids, payload shape and dtype.
HEADER_BYTES = 16
#: Bytes per integer of the message state (instance key, time step, tree position, ...).
STATE_INT_BYTES = 8


def compute_time_s(chip: ChipSpec, flops: float, bytes_accessed: float, kernels: float = 0.0) -> float:
    """Seconds for one compute unit of ``chip`` to process one message (formula in the module
    docstring). The work must be >= 0; zero work still costs ``overhead_s``."""
    if flops < 0 or bytes_accessed < 0 or kernels < 0:
        raise ValueError(f"work must be >= 0, got flops={flops}, bytes_accessed={bytes_accessed}, kernels={kernels}")
    k = chip.compute_units
    return (max(flops * k / chip.flops_per_s, bytes_accessed * k / chip.mem_bandwidth_bytes_per_s)
            + chip.overhead_s + kernels * chip.kernel_overhead_s)


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
