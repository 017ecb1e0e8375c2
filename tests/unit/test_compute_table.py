"""A chip's ``compute_table`` (issue 14): exact rows, interpolation between rows of the same kernels, the roofline
where the table has no row of a work's kernels, chips without a table bit for bit unchanged, the vector form the
replay uses, and the table's round trip through the hardware reader."""

from __future__ import annotations

import dataclasses
import math
import re
from pathlib import Path

import numpy as np
import pytest

from ampsim.hardware.cost import compute_time_s, compute_times_s, duration_key
from ampsim.hardware.parse import load_system, system_from_dict
from ampsim.hardware.spec import ChipSpec, ComputeCost

MODELS = Path(__file__).resolve().parents[2] / "hardware_models"
# 1 GFLOP/s, 1 GB/s, 2 us per message, 1 us per operation
PLAIN = ChipSpec(1e9, 1e9, 2e-6, 1, 10**9, kernel_overhead_s=1e-6)
ROWS = (ComputeCost(1e5, 0.0, 2.0, 3e-4, "small gemm"),  # roofline 100 + 2 + 2 = 104 us: ratio 300 / 104
        ComputeCost(1e7, 0.0, 2.0, 2.5e-2, "large gemm"),  # roofline 10004 us: ratio 25000 / 10004
        ComputeCost(0.0, 4e3, 0.0, 9e-6, "a copy"))
CHIP = dataclasses.replace(PLAIN, compute_table=ROWS)


def roofline(f, b, k):
    return max(f / 1e9, b / 1e9) + 2e-6 + k * 1e-6


def test_a_row_gives_its_measured_seconds_exactly():
    for row in ROWS:
        assert compute_time_s(CHIP, row.flops, row.bytes, row.kernels) == row.time_s
    assert compute_time_s(CHIP, 100000, 0, 2) == 3e-4  # the work as the nodes report it (ints)


def test_between_two_rows_the_log_time_is_interpolated_in_log_roofline_time():
    f = 1e6  # roofline 1004 us, between the two gemm rows
    lo, hi = roofline(1e5, 0, 2), roofline(1e7, 0, 2)
    w = (math.log(roofline(f, 0, 2)) - math.log(lo)) / (math.log(hi) - math.log(lo))
    # the ratio geometric between the rows' ratios, which makes log(time) linear in w between the rows' times
    ratio = (3e-4 / lo) ** (1 - w) * (2.5e-2 / hi) ** w
    assert compute_time_s(CHIP, f, 0.0, 2.0) == pytest.approx(roofline(f, 0, 2) * ratio, rel=1e-12)
    assert math.log(compute_time_s(CHIP, f, 0.0, 2.0)) == pytest.approx(
        (1 - w) * math.log(3e-4) + w * math.log(2.5e-2), rel=1e-12)
    # monotone between the rows, as both ends are
    assert 3e-4 < compute_time_s(CHIP, 5e5, 0.0, 2.0) < compute_time_s(CHIP, 2e6, 0.0, 2.0) < 2.5e-2


def test_beyond_the_rows_the_nearest_rows_ratio_holds_up_to_the_reach():
    # up to REACH (10x) in roofline time beyond the first and last rows: their ratios
    assert compute_time_s(CHIP, 5e7, 0.0, 2.0) == pytest.approx(roofline(5e7, 0, 2) * 2.5e-2 / roofline(1e7, 0, 2))
    assert compute_time_s(CHIP, 2e4, 0.0, 2.0) == pytest.approx(roofline(2e4, 0, 2) * 3e-4 / roofline(1e5, 0, 2))
    assert compute_time_s(CHIP, 10.0, 0.0, 2.0) == compute_time_s(PLAIN, 10.0, 0.0, 2.0)  # 26x below: roofline
    assert compute_time_s(CHIP, 0.0, 8e3, 0.0) == pytest.approx(roofline(0, 8e3, 0) * 9e-6 / roofline(0, 4e3, 0))
    # further out (a node's work summed over many messages, say): the roofline alone
    assert compute_time_s(CHIP, 1e9, 0.0, 2.0) == compute_time_s(PLAIN, 1e9, 0.0, 2.0)
    assert compute_time_s(CHIP, 0.0, 1e6, 0.0) == compute_time_s(PLAIN, 0.0, 1e6, 0.0)


def test_without_a_row_of_those_kernels_the_roofline_holds_exactly():
    for work in ((1e6, 0.0, 3.0), (0.0, 0.0, 7.0), (5e4, 1e5, 1.0)):
        assert compute_time_s(CHIP, *work) == compute_time_s(PLAIN, *work)


def test_chips_without_a_table_are_the_roofline_bit_for_bit():
    rng = np.random.default_rng(0)
    work = np.column_stack([rng.uniform(0, 1e9, 200), rng.uniform(0, 1e8, 200), rng.integers(0, 40, 200)])
    work[:20, :2] = 0.0
    for path in sorted(MODELS.glob("*.toml")):
        for chip in set(load_system(path).chips):
            if chip.compute_table:
                continue
            k = chip.compute_units
            want = [max(f * k / chip.flops_per_s, b * k / chip.mem_bandwidth_bytes_per_s) + chip.overhead_s
                    + n * chip.kernel_overhead_s for f, b, n in work.tolist()]
            assert [compute_time_s(chip, *w) for w in work.tolist()] == want, path.name
            assert compute_times_s(chip, work).tolist() == want, path.name


def test_the_vector_form_equals_the_scalar_one_with_a_table():
    work = np.array([[r.flops, r.bytes, r.kernels] for r in ROWS] + [[1e6, 0, 2], [3e3, 7e3, 0], [1e6, 0, 5]])
    assert compute_times_s(CHIP, work).tolist() == [compute_time_s(CHIP, *w) for w in work.tolist()]


def test_the_lookup_is_built_once_per_spec_and_keys_durations_cheaply():
    chip = dataclasses.replace(PLAIN, compute_table=ROWS)
    first = compute_time_s(chip, 1e6, 0.0, 2.0)
    lookup = chip.__dict__["_table_lookup"]
    assert compute_time_s(chip, 1e6, 0.0, 2.0) == first and chip.__dict__["_table_lookup"] is lookup
    assert (1e6, 0.0, 2.0) in lookup.memo
    assert duration_key(chip)[-1] is lookup and duration_key(PLAIN) == (1, 1e9, 1e9, 2e-6, 1e-6)
    assert chip == CHIP and hash(chip) == hash(CHIP)  # the lookup is no field


def test_a_row_without_work_on_a_chip_without_overheads_is_met_exactly_only():
    bare = ChipSpec(1e9, 1e9, 0.0, 1, 10**9, compute_table=(ComputeCost(0.0, 0.0, 0.0, 5e-6),))
    assert compute_time_s(bare, 0.0, 0.0, 0.0) == 5e-6
    assert compute_time_s(bare, 1e3, 0.0, 0.0) == 1e-6  # no ratio to scale by: the roofline


HW = {
    "system": {"name": "t", "source": "test"},
    "chip": {"flops_per_s": 1e9, "mem_bandwidth_bytes_per_s": 1e9, "overhead_s": 2e-6, "kernel_overhead_s": 1e-6,
             "memory_bytes": 1e9, "contention_slowdown": 0.25,
             "compute_table": [r.to_row() for r in ROWS]},
    "link": {"latency_s": 1e-6, "bandwidth_bytes_per_s": 1e9},
    "topology": {"kind": "ring", "n": 4},
    "chip_override": [{"chips": [2], "compute_table": [{"flops": 1.0, "bytes": 0, "kernels": 1, "seconds": 1e-6}]}],
}


def test_the_reader_builds_the_table_and_round_trips_it():
    s = system_from_dict(HW, "t.toml")
    assert s.chip(0).compute_table == ROWS and s.chip(0).contention_slowdown == 0.25
    assert s.chip(2).compute_table == (ComputeCost(1.0, 0.0, 1.0, 1e-6, ""),) and s.chip(2).contention_slowdown == 0.25
    assert system_from_dict(s.to_dict(), "again") == s
    d = s.to_dict()
    assert d["chip"]["compute_table"][0] == {"flops": 1e5, "bytes": 0.0, "kernels": 2.0, "seconds": 3e-4,
                                             "label": "small gemm"}
    (override,) = d["chip_override"]
    assert override["chips"] == [2] and "contention_slowdown" not in override  # only what differs from [chip]
    assert override["compute_table"] == [{"flops": 1.0, "bytes": 0.0, "kernels": 1.0, "seconds": 1e-6, "label": ""}]


def test_models_without_the_new_fields_keep_their_dicts():
    for path in sorted(MODELS.glob("*.toml")):
        s = load_system(path)
        if s.measured:
            continue
        d = s.to_dict()
        assert "compute_table" not in d["chip"] and "contention_slowdown" not in d["chip"], path.name


def test_the_calibrated_model_of_this_repository_has_a_table_that_reproduces_its_rows():
    s = load_system(MODELS / "local_cpu.toml")
    chip = s.chip_default
    assert chip.compute_table and chip.contention_slowdown >= 0
    for row in chip.compute_table:
        assert compute_time_s(chip, row.flops, row.bytes, row.kernels) == row.time_s


def test_calibrate_builds_rows_from_the_table_passes_and_measures_errors_on_the_held_out_one():
    from ampsim.calibration.profile import build_table, leave_one_out, node_errors

    # two workloads share the work (1e5, 0, 2); loop shares 5 and 1 us per message
    profiles = [{"name": "a", "items": [[1e5, 0.0, 2.0], [0.0, 4e3, 0.0]], "labels": ["gemm", "copy"],
                 "calls": [30, 10], "table_s": [2e-4, 8e-6], "held_out_s": [2e-4, 8e-6], "loop_s": 5e-6},
                {"name": "b", "items": [[1e5, 0.0, 2.0]], "labels": ["gemm"], "calls": [10], "table_s": [4e-4],
                 "held_out_s": [4e-4], "loop_s": 1e-6}]
    rows = build_table(profiles)
    assert rows == [{"flops": 0.0, "bytes": 4e3, "kernels": 0.0, "seconds": 1.3e-5, "label": "a: copy"},
                    {"flops": 1e5, "bytes": 0.0, "kernels": 2.0, "seconds": float(f"{(30 * 2.05e-4 + 10 * 4.01e-4) / 40:.4g}"),
                     "label": "a: gemm"}]
    assert [r["label"] for r in build_table(profiles, min_calls=20)] == ["a: gemm"]
    chip = dataclasses.replace(PLAIN, compute_table=tuple(ComputeCost.from_row(r) for r in rows))
    got = node_errors(chip, profiles)
    # the copy's row is exact; the shared work's row is the call-weighted mean of both workloads' times, off for
    # each alone by as much as they differ
    errors = sorted([0.0, abs(rows[1]["seconds"] / 2.05e-4 - 1), abs(rows[1]["seconds"] / 4.01e-4 - 1)])
    assert got["works"] == 3 and got["calls"] == 50
    assert (got["median"], got["max"]) == (pytest.approx(errors[1]), pytest.approx(errors[2]))
    assert got["median_per_call"] == pytest.approx(abs(rows[1]["seconds"] / 2.05e-4 - 1))  # 30 of 50 calls
    assert leave_one_out(PLAIN, rows, profiles)["works"] == 3
    assert node_errors(PLAIN, profiles)["median"] > 0.1  # the roofline alone is far off these made-up times


def test_a_workloads_rows_add_up_to_its_measured_time_even_when_the_machine_sped_up_between(monkeypatch):
    from ampsim.calibration import profile, workloads

    # the workload measured at 3 ms per instance with its calls taking 2.6 ms; minutes later the table
    # passes find the same calls 30 % faster: the rows must still add up to 3 ms, not to 3 - 0.6 * 1.3
    items, counts = np.array([[1e6, 0.0, 2.0], [0.0, 1e3, 0.0]]), np.array([40, 120])  # 10 instances
    fast = np.array([2.0e-3, 0.6e-3]) * 10 / 1.3  # seconds in all, per work, over one pass
    monkeypatch.setattr(profile, "_build", lambda name, scale: (None, [None] * 10))
    monkeypatch.setattr(workloads, "work_items", lambda model, insts, labels: (items, counts, fast, np.array(["a", "b"])))
    w = {"name": "w", "instances": 10, "seconds_per_instance": 3e-3, "counts": (counts / 10).tolist(),
         "item_seconds": [2.0e-3, 0.6e-3]}
    (p,) = profile.profile_workloads([w])
    assert p["table_s"] == pytest.approx((fast / counts).tolist())
    per_instance = sum(r["seconds"] * c / 10 for r, c in zip(profile.build_table([p]), [120, 40]))
    assert per_instance == pytest.approx(3e-3, rel=1e-3)  # the rows' 4 significant digits


@pytest.mark.parametrize("overrides, field", [
    ({"chip": {"compute_units": 2}}, "chip.compute_units"),
    ({"chip_override": [{"chips": [1], "compute_units": 4}]}, "chip_override[0].compute_units"),
])
def test_a_chip_with_a_table_has_one_compute_unit(overrides, field):
    """A row's seconds are the whole chip's per message: with compute_units = 2 each unit ran a row's work in the
    row's time, twice the measured chip, where a roofline chip's units share its rates (1/k each)."""
    from ampsim.errors import ConfigError

    with pytest.raises(ConfigError, match=rf"\(with the hardware overrides of x\): {re.escape(field)}: a chip "
                                          r"with a compute_table has one compute unit"):
        load_system(MODELS / "local_cpu.toml", overrides, overridden_by="x")
    # the table removed, or one unit: taken
    load_system(MODELS / "local_cpu.toml", {"chip": {"compute_units": 2, "compute_table": []}})
    load_system(MODELS / "local_cpu.toml", {"chip": {"compute_units": 1}})
