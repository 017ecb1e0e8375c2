"""Cost model: how long a chip takes to process a message, and how big a message is on the wire.

Roofline: a node's work is ``flops`` arithmetic operations and ``bytes_accessed`` bytes of memory
traffic (weights read, activations read and written), as reported by the IR node. A chip with
``compute_units = k`` runs up to k messages at once, each on one unit with ``1/k`` of the chip's
FLOP rate and memory bandwidth (a node's handler is single-threaded, as in the AMPNet runtime, so a
lone message does not speed up by using idle units). With ``k = 1``::

    compute_time_s = max(flops / flops_per_s, bytes_accessed / mem_bandwidth_bytes_per_s) + overhead_s

A message sent to a node on *another* chip also costs the sending chip CPU (serialization, system
calls, wake-ups of a software transport), the sending unit being busy for it after the step::

    remote_send_time_s = remote_send_overhead_s + remote_send_s_per_byte * wire_bytes

with ``wire_bytes`` from :func:`message_bytes`. Both fields default to 0. The receive side has no
field of its own: a cost measured over both ends is charged once, here.
"""

from __future__ import annotations

from ampsim.hardware.spec import ChipSpec

#: Fixed bytes per message on the wire: routing/target (node, port) ids, payload shape and dtype.
HEADER_BYTES = 16
#: Bytes per integer of the message state (instance key, time step, tree position, ...).
STATE_INT_BYTES = 8


def compute_time_s(chip: ChipSpec, flops: float, bytes_accessed: float) -> float:
    """Seconds for one compute unit of ``chip`` to process one message (formula in the module
    docstring). ``flops`` and ``bytes_accessed`` must be >= 0; zero work still costs ``overhead_s``."""
    if flops < 0 or bytes_accessed < 0:
        raise ValueError(f"work must be >= 0, got flops={flops}, bytes_accessed={bytes_accessed}")
    k = chip.compute_units
    return (max(flops * k / chip.flops_per_s, bytes_accessed * k / chip.mem_bandwidth_bytes_per_s)
            + chip.overhead_s)


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
