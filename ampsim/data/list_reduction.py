"""Synthetic list reduction: reduce a list of digits with an operation named by a token.

Each example is an operation token followed by 1..N digits; the label is the result of the operation,
a digit (10 classes). Sequences are token ids:

* digits ``0..9`` are ids ``0..9``;
* operation ``OPS[k]`` is id ``10 + k``, always at position 0 of the sequence.

Operations (:data:`OPS`):

========  ===================================  ===============
name      result                               example 3 9 4
========  ===================================  ===============
sum       sum of the digits modulo 10           6
max       largest digit                         9
min       smallest digit                        3
first     the first digit                       3
last      the last digit                        4
========  ===================================  ===============

Generation is a pure function of the seed: the operation is uniform over the chosen operations, the
length uniform in ``min_len..max_len``, the digits uniform in 0..9. Train and test sets are drawn from
different streams of the same seed (:func:`make_splits`), so they are independent samples.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["ListData", "N_CLASSES", "OPS", "OP_BASE", "VOCAB_SIZE", "generate", "make_splits", "reduce_list"]

OPS = ("sum", "max", "min", "first", "last")
N_DIGITS = 10
N_CLASSES = 10
OP_BASE = N_DIGITS
VOCAB_SIZE = N_DIGITS + len(OPS)


def reduce_list(op: str, digits) -> int:
    """The label of ``digits`` under operation ``op``."""
    d = [int(v) for v in digits]
    if not d:
        raise ValueError("a list needs at least one digit")
    if op == "sum":
        return sum(d) % 10
    if op == "max":
        return max(d)
    if op == "min":
        return min(d)
    if op == "first":
        return d[0]
    if op == "last":
        return d[-1]
    raise ValueError(f"unknown operation {op!r} (known: {', '.join(OPS)})")


@dataclass(frozen=True, eq=False)
class ListData:
    """``sequences[i]``: int64 ids ``[op token, d1, ..., dL]``; ``labels[i]``: the result 0..9;
    ``ops[i]``: the index of the operation in :data:`OPS`."""

    sequences: tuple[np.ndarray, ...]
    labels: np.ndarray
    ops: np.ndarray

    def __len__(self) -> int:
        return len(self.sequences)


def generate(n: int, max_len: int, seed, *, min_len: int = 1, ops: tuple[str, ...] = OPS) -> ListData:
    """``n`` examples with list lengths in ``min_len..max_len``, a pure function of ``seed``."""
    if not 1 <= min_len <= max_len:
        raise ValueError(f"need 1 <= min_len <= max_len, got {min_len}, {max_len}")
    unknown = [o for o in ops if o not in OPS]
    if unknown or not ops:
        raise ValueError(f"unknown operations {unknown} (known: {', '.join(OPS)})")
    rng = np.random.default_rng(seed)
    op_idx = np.array([OPS.index(o) for o in ops])[rng.integers(0, len(ops), n)]
    lengths = rng.integers(min_len, max_len + 1, n)
    seqs, labels = [], np.empty(n, dtype=np.int64)
    for i in range(n):
        digits = rng.integers(0, N_DIGITS, lengths[i])
        seqs.append(np.concatenate([[OP_BASE + op_idx[i]], digits]).astype(np.int64))
        labels[i] = reduce_list(OPS[op_idx[i]], digits)
    return ListData(tuple(seqs), labels, op_idx.astype(np.int64))


def make_splits(n_train: int, n_test: int, max_len: int, seed: int, *, min_len: int = 1,
                ops: tuple[str, ...] = OPS) -> tuple[ListData, ListData]:
    """Independent train and test sets from the run seed."""
    return (generate(n_train, max_len, [seed, 0], min_len=min_len, ops=ops),
            generate(n_test, max_len, [seed, 1], min_len=min_len, ops=ops))
