"""Roofline compute cost and message size."""

from __future__ import annotations

import pytest

from ampsim.hardware.cost import HEADER_BYTES, STATE_INT_BYTES, compute_time_s, message_bytes
from ampsim.hardware.spec import ChipSpec

CHIP = ChipSpec(flops_per_s=1e12, mem_bandwidth_bytes_per_s=1e11, overhead_s=1e-6, compute_units=1,
                memory_bytes=10**9)


def test_compute_bound():
    assert compute_time_s(CHIP, flops=2e9, bytes_accessed=1e6) == pytest.approx(2e-3 + 1e-6)


def test_memory_bound():
    assert compute_time_s(CHIP, flops=1e6, bytes_accessed=1e9) == pytest.approx(1e-2 + 1e-6)


def test_zero_work_costs_the_overhead():
    assert compute_time_s(CHIP, 0, 0) == 1e-6


def test_compute_units_split_the_chip():
    quad = ChipSpec(1e12, 1e11, 0.0, 4, 10**9)
    assert compute_time_s(quad, 1e9, 0) == pytest.approx(4e-3)


def test_each_array_operation_adds_the_kernel_overhead_on_top_of_the_roofline():
    assert compute_time_s(CHIP, 2e9, 1e6, kernels=40) == compute_time_s(CHIP, 2e9, 1e6)  # 0 by default
    chip = ChipSpec(1e12, 1e11, 1e-6, 1, 10**9, kernel_overhead_s=0.5e-6)
    assert compute_time_s(chip, 2e9, 1e6, kernels=40) == pytest.approx(2e-3 + 1e-6 + 20e-6, rel=1e-12)
    # same FLOPs and bytes, many small operations (an unfused cell) vs one (a fused kernel)
    assert compute_time_s(chip, 1e6, 1e4, kernels=25) - compute_time_s(chip, 1e6, 1e4, kernels=1) == pytest.approx(12e-6)


def test_negative_work_rejected():
    with pytest.raises(ValueError):
        compute_time_s(CHIP, -1, 0)
    with pytest.raises(ValueError):
        compute_time_s(CHIP, 0, 0, kernels=-1)


def test_message_bytes():
    assert (HEADER_BYTES, STATE_INT_BYTES) == (16, 8)
    assert message_bytes(400, 3) == 400 + 16 + 24
    assert message_bytes(0, 0) == 16
    with pytest.raises(ValueError):
        message_bytes(-1, 0)


def test_remote_send_time_is_zero_by_default_and_affine_in_bytes():
    from ampsim.hardware.cost import remote_send_time_s

    assert remote_send_time_s(CHIP, 1000) == 0.0
    chip = ChipSpec(1e12, 1e11, 1e-6, 1, 10**9, remote_send_overhead_s=5e-6, remote_send_s_per_byte=1e-9)
    assert remote_send_time_s(chip, 0) == 5e-6
    assert remote_send_time_s(chip, 1000) == pytest.approx(6e-6, rel=1e-12)
    with pytest.raises(ValueError):
        remote_send_time_s(chip, -1)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -1.0])
@pytest.mark.parametrize("at", [0, 1, 2])
def test_work_that_is_not_a_finite_number_at_least_0_is_rejected_in_both_forms(bad, at):
    """``nan < 0`` is False: a NaN FLOP count passed the check, and ``max(t, nan)`` then dropped a NaN byte count
    silently (the time of the FLOPs alone) while a NaN FLOP count made the time NaN; the vector form checked
    nothing, so the two forms disagreed on the same work."""
    import numpy as np

    from ampsim.hardware.cost import compute_times_s

    work = [1e6, 1e6, 2.0]
    work[at] = bad
    with pytest.raises(ValueError, match="work must be"):
        compute_time_s(CHIP, *work)
    with pytest.raises(ValueError, match="work must be"):
        compute_times_s(CHIP, np.array([[1.0, 1.0, 1.0], work]))
