"""Weight throwing and message envelopes: exact splits, exact completion, lossless payload packing."""

from __future__ import annotations

import random
from fractions import Fraction

import numpy as np
import pytest

from ampsim.executors.multicore.protocol import Weight, split
from ampsim.executors.multicore.transport import pack_envelopes, unpack_envelopes


@pytest.mark.parametrize("e", [0, 5, 61])
def test_split_is_exact_and_shallow(e):
    for s in range(1, 300):
        parts = split(e, s)
        assert len(parts) == s and sum(Fraction(1, 2**x) for x in parts) == Fraction(1, 2**e)
        assert max(parts) - e <= max(1, (s - 1).bit_length())


def test_weight_reaches_one_exactly_when_the_last_message_ends():
    rng = random.Random(0)
    for _ in range(50):
        live, returned, steps = [0], Weight(), 0
        while live:
            e = live.pop(rng.randrange(len(live)))  # process any live message
            steps += 1
            fan = rng.choice([0, 0, 1, 1, 2, 3, 7, 30]) if steps < 300 else 0
            if fan:
                live += split(e, fan)
            else:
                returned.add_exp(e)
            assert returned.is_one == (not live)


def test_pack_unpack_roundtrip_dtypes_shapes_and_writable():
    arrays = [np.arange(7, dtype=np.float32), np.ones((2, 3)), np.zeros((0, 4), np.float32), np.array(5),
              np.arange(12, dtype=np.int64).reshape(3, 4)[:, ::2], np.array([True, False])]
    envs = [(i, bool(i % 2), i % 3, 100 + i, (i, -1), i, a) for i, a in enumerate(arrays)]
    out = unpack_envelopes(pack_envelopes(envs))
    for (h1, a), (h2, b) in zip(((e[:6], e[6]) for e in envs), ((e[:6], e[6]) for e in out)):
        assert h1 == h2 and a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b)
        assert b.flags.writeable


def test_a_workers_divergence_stays_a_divergence():
    """A sweep records a diverged point as done and retries a failed one: the class must cross the process."""
    from ampsim.errors import Diverged, RunError
    from ampsim.executors.multicore import protocol as P

    diverged, failed = P.worker_error((P.ERROR, "loss became nan", "tb", True)), P.worker_error((P.ERROR, "x", "", False))
    assert type(diverged) is Diverged and str(diverged) == "loss became nan"
    assert type(failed) is RunError and not isinstance(failed, Diverged)
