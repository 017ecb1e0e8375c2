"""Properties of the compute cost model (:mod:`ampsim.hardware.cost`) and of contention
(:mod:`ampsim.executors.sim.contention`), as their docstrings and the README's hardware keys promise them:
the roofline's closed form, monotonicity and scaling; the compute table's rows, interpolation and fallback;
the fluid contention rule against a plain re-implementation of it. Small and derandomized (a few seconds)."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import simpy
from hypothesis import given, settings
from hypothesis import strategies as st

from ampsim.executors.sim.contention import Contention
from ampsim.hardware.cost import REACH, compute_time_s, compute_times_s
from ampsim.hardware.spec import ChipSpec, ComputeCost, HostSpec

SETTINGS = settings(max_examples=60, derandomize=True, deadline=None, database=None)
work = st.floats(0.0, 1e12, allow_nan=False, allow_infinity=False)
kernels = st.integers(0, 64).map(float)
rate = st.floats(1.0, 1e15, allow_nan=False, allow_infinity=False)
seconds = st.floats(0.0, 1e-2, allow_nan=False, allow_infinity=False)


@st.composite
def chips(draw) -> ChipSpec:
    return ChipSpec(draw(rate), draw(rate), draw(seconds), draw(st.integers(1, 16)), 10**9,
                    kernel_overhead_s=draw(seconds))


def closed_form(chip: ChipSpec, f: float, b: float, n: float) -> float:
    """The module docstring's formula, each unit with 1/compute_units of the chip's rates."""
    k = chip.compute_units
    return max(f * k / chip.flops_per_s, b * k / chip.mem_bandwidth_bytes_per_s) + chip.overhead_s + n * chip.kernel_overhead_s


# -- the roofline ------------------------------------------------------------------------------------------

@SETTINGS
@given(chips(), work, work, kernels)
def test_the_roofline_is_its_closed_form_in_scalar_and_vector_form(chip, f, b, n):
    want = closed_form(chip, f, b, n)
    assert compute_time_s(chip, f, b, n) == want
    assert compute_times_s(chip, np.array([[f, b, n]])).tolist() == [want]


@SETTINGS
@given(chips(), work, work, kernels, work, work, st.integers(0, 64))
def test_the_roofline_is_monotone_in_flops_bytes_and_kernels(chip, f, b, n, df, db, dn):
    t = compute_time_s(chip, f, b, n)
    assert compute_time_s(chip, f + df, b, n) >= t
    assert compute_time_s(chip, f, b + db, n) >= t
    assert compute_time_s(chip, f, b, n + dn) >= t
    assert t >= chip.overhead_s + n * chip.kernel_overhead_s


@SETTINGS
@given(chips(), work, work, st.sampled_from([2.0, 4.0, 0.5]))
def test_the_roofline_part_scales_inversely_with_the_rates_and_with_the_units(chip, f, b, scale):
    bare = dataclasses.replace(chip, overhead_s=0.0, kernel_overhead_s=0.0)
    t = compute_time_s(bare, f, b)
    faster = dataclasses.replace(bare, flops_per_s=bare.flops_per_s * scale,
                                 mem_bandwidth_bytes_per_s=bare.mem_bandwidth_bytes_per_s * scale)
    assert compute_time_s(faster, f, b) == pytest.approx(t / scale, rel=1e-12, abs=0)
    # k units: each a chip of 1/k the rates
    one = dataclasses.replace(bare, compute_units=1, flops_per_s=bare.flops_per_s / bare.compute_units,
                              mem_bandwidth_bytes_per_s=bare.mem_bandwidth_bytes_per_s / bare.compute_units)
    assert compute_time_s(bare, f, b) == pytest.approx(compute_time_s(one, f, b), rel=1e-12, abs=0)
    # the overheads add on top, whatever the rates
    assert compute_time_s(chip, f, b, 3.0) == pytest.approx(t + chip.overhead_s + 3 * chip.kernel_overhead_s,
                                                             rel=1e-12, abs=0)


# -- the compute table -------------------------------------------------------------------------------------

PLAIN = ChipSpec(1e9, 1e9, 2e-6, 1, 10**9, kernel_overhead_s=1e-6)


@st.composite
def tables(draw, monotone: bool = False) -> ChipSpec:
    """PLAIN with 2-6 rows of one ``kernels`` (distinct FLOPs, compute bound) and maybe one row of another;
    ``monotone``: seconds increasing with the FLOPs."""
    n_rows = draw(st.integers(2, 6))
    flops = sorted(draw(st.lists(st.floats(1e3, 1e9), min_size=n_rows, max_size=n_rows, unique=True)))
    times = draw(st.lists(st.floats(1e-6, 1.0), min_size=n_rows, max_size=n_rows))
    if monotone:
        times = sorted(times)
    rows = tuple(ComputeCost(f, 0.0, 2.0, t) for f, t in zip(flops, times))
    if draw(st.booleans()):
        rows += (ComputeCost(0.0, draw(st.floats(1.0, 1e6)), 0.0, draw(st.floats(1e-6, 1e-3))),)
    return dataclasses.replace(PLAIN, compute_table=rows)


@SETTINGS
@given(tables(), st.randoms(use_true_random=False))
def test_a_table_gives_its_rows_exactly_in_any_order_and_never_a_negative_time(chip, rnd):
    rows = list(chip.compute_table)
    rnd.shuffle(rows)
    shuffled = dataclasses.replace(chip, compute_table=tuple(rows))
    for c in (chip, shuffled):
        for row in rows:
            assert compute_time_s(c, row.flops, row.bytes, row.kernels) == row.time_s
    for f in np.geomspace(1.0, 1e11, 40):
        assert compute_time_s(chip, f, 0.0, 2.0) > 0
        assert compute_time_s(chip, f, 0.0, 2.0) == compute_time_s(shuffled, f, 0.0, 2.0)


def _between(chip: ChipSpec):
    """Each two neighbouring rows of kernels 2 and works between them."""
    rows = sorted((r for r in chip.compute_table if r.kernels == 2.0), key=lambda r: r.flops)
    for lo, hi in zip(rows, rows[1:]):
        yield lo, hi, np.linspace(lo.flops, hi.flops, 9)[1:-1]


@SETTINGS
@given(tables())
def test_between_two_rows_the_time_lies_within_theirs(chip):
    for lo, hi, fs in _between(chip):
        got = [compute_time_s(chip, f, 0.0, 2.0) for f in fs]
        assert min(lo.time_s, hi.time_s) * (1 - 1e-12) <= min(got)
        assert max(got) <= max(lo.time_s, hi.time_s) * (1 + 1e-12)


@SETTINGS
@given(tables(monotone=True))
def test_between_rows_that_grow_with_the_work_the_time_grows(chip):
    for lo, hi, fs in _between(chip):
        got = [lo.time_s] + [compute_time_s(chip, f, 0.0, 2.0) for f in fs] + [hi.time_s]
        assert all(a <= b * (1 + 1e-12) for a, b in zip(got, got[1:]))


def test_the_calibrated_model_times_a_leaf_update_below_the_larger_row_beside_it():
    from pathlib import Path

    from ampsim.hardware.parse import load_system

    chip = load_system(Path(__file__).resolve().parents[2] / "hardware_models" / "local_cpu.toml").chip_default
    # between the rows (1811275, 756160, 24): 0.3477 ms and (123527250, 2990400, 24): 1.706 ms, a leaf-cell update
    # of fewer FLOPs and bytes than the second row takes 1.762 ms, 3 % more than it
    assert compute_time_s(chip, 111107250.0, 2852400.0, 24.0) <= 1.706e-3


@SETTINGS
@given(tables(), work, work, st.integers(3, 9).map(float))
def test_without_a_row_of_its_kernels_or_beyond_the_reach_a_work_gets_the_roofline(chip, f, b, n):
    assert compute_time_s(chip, f, b, n) == compute_time_s(PLAIN, f, b, n)
    rows = [r for r in chip.compute_table if r.kernels == 2.0]
    first, last = min(r.flops for r in rows), max(r.flops for r in rows)
    lo = compute_time_s(PLAIN, first, 0.0, 2.0)
    hi = compute_time_s(PLAIN, last, 0.0, 2.0)
    for t in (lo / REACH / 1.01, hi * REACH * 1.01):
        f = (t - 4e-6) * 1e9  # the work whose roofline time is t
        if f > 0:
            assert compute_time_s(chip, f, 0.0, 2.0) == compute_time_s(PLAIN, f, 0.0, 2.0)
    # inside the reach beyond the ends: the end row's ratio
    for row, t in ((min(rows, key=lambda r: r.flops), lo / 2), (max(rows, key=lambda r: r.flops), hi * 2)):
        f = (t - 4e-6) * 1e9
        if f > 0:
            ratio = row.time_s / compute_time_s(PLAIN, row.flops, 0.0, 2.0)
            assert compute_time_s(chip, f, 0.0, 2.0) == pytest.approx(compute_time_s(PLAIN, f, 0.0, 2.0) * ratio,
                                                                     rel=1e-9)


@SETTINGS
@given(tables(), st.lists(st.tuples(st.floats(0, 1e10), st.floats(0, 1e7), st.sampled_from([0.0, 2.0, 5.0])),
                          min_size=1, max_size=20))
def test_a_table_is_deterministic_and_its_vector_form_is_its_scalar_one(chip, works):
    arr = np.array(works, dtype=np.float64)
    fresh = dataclasses.replace(chip)  # a new spec object: a new lookup, nothing remembered
    want = [compute_time_s(chip, *w) for w in works]
    assert compute_times_s(fresh, arr).tolist() == want
    assert [compute_time_s(chip, *w) for w in works] == want


# -- contention --------------------------------------------------------------------------------------------

class FakeChip:
    def __init__(self, slowdown: float) -> None:
        self.spec = ChipSpec(1e9, 1e9, 0.0, 1, 1 << 30, contention_slowdown=slowdown)
        self.busy_s = 0.0


def simulate(runs, slowdowns, cores: int = 0):
    """``runs``: (chip index, start, seconds). Each run's end time (in the order given) through Contention,
    and the chips' busy times."""
    env = simpy.Environment()
    chips = [FakeChip(s) for s in slowdowns]
    con = Contention.of(env)
    for c in chips:
        Contention.of(env, c.spec)
    if cores:
        con.share_cores(HostSpec(cores=cores))
    ends = [None] * len(runs)

    def one(i, chip, start, d):
        yield env.timeout(start)
        yield from con.occupy(chip, d)
        ends[i] = env.now

    for i, (c, start, d) in enumerate(runs):
        env.process(one(i, chips[c], start, d))
    env.run()
    return ends, [c.busy_s for c in chips]


def reference(runs, slowdowns, cores: int = 0):
    """The module docstring's rule, step by step: between two events every run goes at 1 / factor, factor =
    (1 + s of its chip, while more than one chip is busy) x (running / cores, while more run than cores)."""
    left = {}
    ends = [None] * len(runs)
    pending = sorted(range(len(runs)), key=lambda i: (runs[i][1], i))
    now = 0.0
    while pending or left:
        def factor(i):
            busy = {runs[j][0] for j in left}
            f = 1.0 + slowdowns[runs[i][0]] if len(busy) > 1 else 1.0
            return f * (len(left) / cores if cores and len(left) > cores else 1.0)
        rates = {i: 1.0 / factor(i) for i in left}
        t_end = min((now + w / rates[i] for i, w in left.items()), default=math.inf)
        t_start = runs[pending[0]][1] if pending else math.inf
        t = min(t_end, t_start)
        for i in left:
            left[i] -= (t - now) * rates[i]
        now = t
        for i in [i for i, w in left.items() if w <= 1e-12]:
            ends[i] = now
            del left[i]
        while pending and runs[pending[0]][1] <= now:
            i = pending.pop(0)
            left[i] = runs[i][2]
            if runs[i][2] == 0:
                ends[i] = now
                del left[i]
    return ends


durations = st.floats(1e-4, 1e-2)
slowdown = st.sampled_from([0.0, 0.25, 1.0])


@SETTINGS
@given(durations, slowdown, st.integers(0, 3))
def test_a_lone_run_is_not_slowed(d, s, cores):
    ends, busy = simulate([(0, 0.0, d)], [s, s], cores)
    assert ends == [d] and busy == [d, 0.0]


@SETTINGS
@given(durations, slowdown, st.integers(1, 6), st.integers(0, 4))
def test_n_equal_runs_side_by_side_each_take_the_rules_factor(d, s, n, cores):
    ends, busy = simulate([(i, 0.0, d) for i in range(n)], [s] * n, cores)
    factor = (1 + s if n > 1 else 1.0) * (n / cores if cores and n > cores else 1.0)
    assert ends == pytest.approx([d * factor] * n, rel=1e-12)
    assert sum(busy) == pytest.approx(n * d * factor, rel=1e-12)


@st.composite
def workloads(draw):
    n_chips = draw(st.integers(1, 4))
    runs = draw(st.lists(st.tuples(st.integers(0, n_chips - 1), st.sampled_from([0.0, 1e-3, 2.5e-3, 4e-3]), durations),
                         min_size=1, max_size=8))
    return runs, draw(st.lists(slowdown, min_size=n_chips, max_size=n_chips)), draw(st.integers(0, 3))


@SETTINGS
@given(workloads())
def test_runs_end_when_the_fluid_rule_says_and_chips_are_busy_that_long(w):
    runs, slowdowns, cores = w
    ends, busy = simulate(runs, slowdowns, cores)
    want = reference(runs, slowdowns, cores)
    assert ends == pytest.approx(want, rel=1e-9, abs=1e-15)
    per_chip = [sum(e - s for (c, s, _), e in zip(runs, ends) if c == i) for i in range(len(slowdowns))]
    assert busy == pytest.approx(per_chip, rel=1e-9, abs=1e-15)
    assert simulate(runs, slowdowns, cores) == (ends, busy)  # deterministic


@SETTINGS
@given(st.lists(durations, min_size=2, max_size=8), slowdown, st.integers(0, 3))
def test_runs_of_one_class_started_together_end_in_the_order_they_would_alone(ds, s, cores):
    runs = [(i, 0.0, d) for i, d in enumerate(ds)]
    ends, _ = simulate(runs, [s] * len(ds), cores)
    alone = sorted(range(len(ds)), key=lambda i: (ds[i], i))
    got = sorted(range(len(ds)), key=lambda i: (ends[i], i))
    assert got == alone
