"""A hardware override counts as the value the model reads, not as TOML spelled it: ``1e9`` and ``1_000_000_000``
are one bandwidth, and one memory size. A point's id hashed the ``[hardware]`` table as given, so a sweep file
respelled (``1e9`` for ``1_000_000_000``, an int for a float) ran its finished points again into other folders, two
folders of one run. Now each value counts as its field's type (:mod:`ampsim.hardware.canonical`); the committed
points' ids are unchanged (``tests/experiments/test_committed_tables.py``)."""

from __future__ import annotations

import pytest
from sweep_kit import tiny_sweep

from ampsim.sweeps.spec import load_sweep


@pytest.mark.parametrize("key, one, other", [
    ("hardware.link.bandwidth_bytes_per_s", "1e9", "1_000_000_000"),  # a float field given an int
    ("hardware.link.latency_s", "0", "0.0"),
    ("hardware.chip.memory_bytes", "1000000000", "1e9"),  # an int field given a whole float
    ("hardware.chip.kernel_overhead_s", "0", "0e0"),  # an optional field at its default: left out of the model's dict
    ("hardware.host.controller_s_per_instance", "1", "1.0"),
    ("hardware.link.packet_bytes", "256", "256.0"),  # a whole number of bytes: counted as an int (as committed)
    ("hardware.chip_override", "[{ chips = [1], flops_per_s = 1_000_000_000_000, memory_bytes = 5e8 }]",
     "[{ chips = [1], flops_per_s = 1e12, memory_bytes = 500_000_000 }]"),
    ("hardware.link_override", "[{ between = [0, 1], bandwidth_bytes_per_s = 1_000_000_000 }]",
     "[{ between = [0, 1], bandwidth_bytes_per_s = 1e9 }]"),
    ("hardware.chip.compute_table", "[{ flops = 0, bytes = 0, kernels = 1, seconds = 1 }]",
     "[{ flops = 0.0, bytes = 0.0, kernels = 1.0, seconds = 1.0 }]"),
])
def test_two_spellings_of_a_hardware_value_are_one_point(tmp_path, key, one, other):
    def point_id(value: str) -> str:
        path = tmp_path / "sw.toml"
        path.write_text(tiny_sweep() + f'"{key}" = [{value}]\n')
        (point,) = load_sweep(path, sized=False).points
        return point.point_id

    assert point_id(one) == point_id(other)


def test_another_value_is_another_point(tmp_path):
    path = tmp_path / "sw.toml"
    path.write_text(tiny_sweep() + '"hardware.link.bandwidth_bytes_per_s" = [1e9, 1_000_000_001]\n')
    first, second = load_sweep(path, sized=False).points
    assert first.point_id != second.point_id
