"""Staleness-bounded admission: how many instances the controller lets in flight (``train.max_staleness``).

The signal, the largest of the parameterized nodes' mean staleness over their last backward visits
(:meth:`ampsim.ir.param.ParamNode.recent_staleness`), trails admission by a whole forward and backward
traversal: an instance admitted now is measured only when its backward passes. A controller that admits
"while the signal is under the bound" therefore admits everything up to the mak cap in one burst (nothing
is measured at the instant of admission), then stalls while the burst drains. The remedy is the one TCP
uses for the same problem (a congestion signal that arrives one round trip late): a *window* of instances
in flight, changed at most once per round, a round being as many completions as the window held::

    size = start (1 unless ``train.admission_start`` says otherwise)
    threshold = mak (or = start with ``train.admission_slow_start = false``: no doubling, +1 a round)
    at the end of each round (``length`` completions since the round began), with signal s and bound b:
        s > b                   ->  size = max(1, min(size - 1, floor(size * b / s))); threshold = size
        else, size < threshold  ->  size = min(mak, 2 * size)                      (slow start)
        else                    ->  size = min(mak, size + 1)                      (additive increase)

A round's ``length`` is the window's size when it began, except after a cut: then it is the size before
the cut. Up to that many instances were admitted under the old window and are still in flight, and their
backwards are what the signal measures until they complete. Judged on them, the new window was cut again
in the next rounds, below what keeps the busiest chip fed; so one cut per window of instances, as TCP
makes at most one per round trip.

The decrease is proportional: staleness grows about in proportion to the instances in flight, so scaling
the window by b / s aims at the bound itself rather than halving past it (a halved window leaves a
machine that the bound would let stay full partly idle). The controller admits while fewer than
``size`` instances are in flight (and mak is the cap): admitted and not yet known to have completed, so with
the controller's round trip (``host.completion_latency_s``) an instance counts until the controller learns
of its completion, as its mak slot does (until 2026-12-05 the full run stopped counting it at its last
step, its replay when the controller learned: they differed only with both a bound and a round trip).
Everything is counted in completions, never in time, so a simulated run stays deterministic. With a bound
the signal never exceeds, the window grows to mak within log2(mak) rounds and stays there.

Slow start from one instance costs a round trip per doubling, while the machine could already be busy:
fewer instances in flight than the chips a model occupies leave some of them idle whatever the
staleness. ``train.admission_start = 0`` therefore starts the window at one instance per occupied chip
(TCP's larger initial window, RFC 6928, answers the same waste), and slow start goes on from there.

From a first size already near what the bound allows, slow start overshoots: the signal trails a round,
so the doubling round admits twice the window before the staleness it causes is measured (from 48 on
the slow-link torus the window holds 96 in its second round). ``train.admission_slow_start = false``
starts in additive increase instead, one more a round from the first size (TCP with its initial
slow-start threshold set to the initial window).
"""

from __future__ import annotations

import math

__all__ = ["AdmissionWindow"]


class AdmissionWindow:
    """The window of instances in flight under a staleness ``bound``, updated by :meth:`completed`.

    >>> w = AdmissionWindow(mak=8, bound=1.0)
    >>> for _ in range(1 + 2 + 4):  # three rounds of slow start under the bound
    ...     _ = w.completed(signal=0.5)
    >>> w.history
    [1, 2, 4, 8]
    >>> for _ in range(8):  # a round that ends at twice the bound halves the window
    ...     _ = w.completed(signal=2.0)
    >>> w.size, w.threshold, w.cuts
    (4, 4, 1)
    >>> for _ in range(8):  # the next round lasts the old window's 8; at the threshold: one more
    ...     _ = w.completed(signal=1.0)
    >>> w.size, w.length
    (5, 5)
    >>> AdmissionWindow(mak=8, bound=1.0, start=17).history  # a first size over the cap is the cap
    [8]
    >>> w = AdmissionWindow(mak=64, bound=1.0, start=4, slow_start=False)
    >>> for _ in range(4 + 5):  # no doubling: one more each round from the first size
    ...     _ = w.completed(signal=0.5)
    >>> w.history
    [4, 5, 6]
    """

    def __init__(self, mak: int, bound: float, start: int = 1, slow_start: bool = True) -> None:
        if mak < 1:
            raise ValueError(f"mak must be >= 1, got {mak}")
        if not bound > 0:
            raise ValueError(f"the staleness bound must be > 0, got {bound}")
        if start < 1:
            raise ValueError(f"the window's first size must be >= 1, got {start}")
        self.mak, self.bound = mak, bound
        #: instances allowed in flight now
        self.size = min(mak, start)
        #: slow start doubles the window up to here; a cut sets it to the reduced window
        self.threshold = mak if slow_start else self.size
        #: rounds that ended with the signal over the bound
        self.cuts = 0
        #: the window at the start of every round (one entry per round), for the summary
        self.history: list[int] = [self.size]
        #: completions in the current round (the window's size, or after a cut the size before it)
        self.length = self.size
        self._done_in_round = 0

    def completed(self, signal: float) -> bool:
        """One instance completed; ``signal``: the measured staleness now. True when a round ended."""
        self._done_in_round += 1
        if self._done_in_round < self.length:
            return False
        self._done_in_round = 0
        before = self.size
        if signal > self.bound:
            self.size = max(1, min(self.size - 1, math.floor(self.size * self.bound / signal)))
            self.threshold = self.size
            self.cuts += 1
        elif self.size < self.threshold:
            self.size = min(self.mak, 2 * self.size)
        else:
            self.size = min(self.mak, self.size + 1)
        self.length = max(before, self.size)  # after a cut, the old window; else the new one
        self.history.append(self.size)
        return True

    def summary(self) -> dict:
        """Rounds, cuts and the window's final, mean (over rounds) and largest size."""
        h = self.history
        return {"admission_rounds": len(h) - 1, "admission_cuts": self.cuts, "admission_window_final": self.size,
                "admission_window_mean": sum(h) / len(h), "admission_window_max": max(h)}
