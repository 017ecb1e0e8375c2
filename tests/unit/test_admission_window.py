"""The staleness-bounded admission window (``ampsim/executors/sim/admission.py``) as a specification:
its size after each round, given the staleness signal when the round ended (the bound is 1 here)."""

import pytest

from ampsim.executors.sim.admission import AdmissionWindow


def rounds(window: AdmissionWindow, signals: list[float]) -> list[int]:
    """Run one round per signal (as many completions as the window holds, or after a cut as it held
    before); the size after each."""
    sizes = []
    for signal in signals:
        ended = [window.completed(signal) for _ in range(window.length)]
        assert ended[-1] and not any(ended[:-1])  # a round is exactly `size` completions
        sizes.append(window.size)
    return sizes


def test_slow_start_doubles_to_the_cap_and_stays_there():
    assert rounds(AdmissionWindow(mak=16, bound=1.0), [0.0] * 6) == [2, 4, 8, 16, 16, 16]


def test_a_larger_first_size_slow_starts_from_there_capped_by_mak():
    assert rounds(AdmissionWindow(mak=64, bound=1.0, start=17), [0.0, 0.0, 2.0, 0.5]) == [34, 64, 32, 33]
    w = AdmissionWindow(mak=16, bound=1.0, start=17)
    assert (w.size, w.history) == (16, [16])
    assert AdmissionWindow(mak=16, bound=1.0, start=1).history == AdmissionWindow(mak=16, bound=1.0).history == [1]


def test_over_the_bound_the_window_scales_by_bound_over_signal_then_grows_by_one():
    w = AdmissionWindow(mak=1024, bound=1.0)
    assert rounds(w, [0.5] * 5 + [1.6, 1.0, 0.9, 4.0, 0.2]) == [2, 4, 8, 16, 32, 20, 21, 22, 5, 6]
    assert (w.threshold, w.cuts) == (5, 2)


def test_a_cut_always_removes_at_least_one_and_never_goes_below_one():
    w = AdmissionWindow(mak=64, bound=1.0)
    assert rounds(w, [0.0] * 4 + [1.01, 1.01, 100.0, 100.0, 0.0]) == [2, 4, 8, 16, 15, 14, 1, 1, 2]


def test_after_a_cut_the_next_round_waits_for_the_old_window_to_complete():
    w = AdmissionWindow(mak=64, bound=1.0)
    rounds(w, [0.0] * 5)  # size 32
    for _ in range(31):
        w.completed(signal=3.0)
    assert w.completed(signal=3.0) and (w.size, w.length) == (10, 32)  # cut to 32 / 3, judged after 32 more
    for _ in range(31):
        assert not w.completed(signal=3.0)  # the old window's instances: the signal does not count
    assert w.completed(signal=3.0) and (w.size, w.length) == (3, 10)  # a second cut only a round later
    rounds(w, [0.5])
    assert (w.size, w.length) == (4, 4)  # growth: the round is the new window


def test_the_signal_counts_only_at_the_end_of_a_round():
    w = AdmissionWindow(mak=64, bound=1.0)
    rounds(w, [0.0] * 3)  # size 8
    for _ in range(7):
        assert not w.completed(signal=9.0)  # mid-round: nothing changes
    assert w.size == 8
    assert w.completed(signal=1.0) and w.size == 16 and w.cuts == 0  # at the bound is within it


def test_summary_reports_rounds_cuts_and_sizes():
    w = AdmissionWindow(mak=8, bound=2.0)
    rounds(w, [0.0, 0.0, 0.0, 4.0])
    assert w.summary() == {"admission_rounds": 4, "admission_cuts": 1, "admission_window_final": 4,
                           "admission_window_mean": (1 + 2 + 4 + 8 + 4) / 5, "admission_window_max": 8}


@pytest.mark.parametrize("mak, bound, start, match", [(0, 1.0, 1, "mak"), (4, 0.0, 1, "bound"),
                                                      (4, float("nan"), 1, "bound"), (4, 1.0, 0, "first size")])
def test_bad_arguments_are_refused(mak, bound, start, match):
    with pytest.raises(ValueError, match=match):
        AdmissionWindow(mak=mak, bound=bound, start=start)
