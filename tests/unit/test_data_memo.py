"""ampsim.data.memo: a file is parsed once per process and contents; a changed file, an error, a path that is
not a regular file and a disabled memo all reach the reader."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from ampsim.data import memo, mnist, sst
from ampsim.errors import DataError
from ampsim.recent import Recent


@pytest.fixture(autouse=True)
def fresh(monkeypatch):
    monkeypatch.setattr(memo, "_KEPT", Recent(memo.SLOTS))
    monkeypatch.setattr(memo, "_DERIVED", Recent(memo.SLOTS))
    monkeypatch.setattr(memo, "enabled", True)


def counting(result=lambda path, *args: [Path(path).read_text(), args]):
    """A reader that counts its calls (the list it returns)."""
    calls = []

    def read(path, *args):
        calls.append((str(path), args))
        return result(path, *args)
    return read, calls


def test_parsed_once_per_file_and_arguments(tmp_path):
    f = tmp_path / "a.txt"
    f.write_text("one")
    read, calls = counting()
    first = memo.parsed(f, read, 1)
    assert memo.parsed(f, read, 1) == first == ["one", (1,)]
    assert len(calls) == 1
    memo.parsed(f, read, 2)  # other arguments: another parse
    assert len(calls) == 2


def test_each_caller_gets_its_own_list(tmp_path):
    f = tmp_path / "a.txt"
    f.write_text("x")
    read, _ = counting(lambda path: [1, 2, 3])
    mine = memo.parsed(f, read)
    mine.reverse()
    mine.append(4)
    assert memo.parsed(f, read) == [1, 2, 3]


def test_a_file_rewritten_within_one_clock_step_is_read_again(tmp_path):
    f = tmp_path / "a.txt"
    f.write_text("abc")
    st = os.stat(f)
    read, calls = counting()
    assert memo.parsed(f, read)[0] == "abc"
    f.write_text("xyz")  # as many bytes, and the same modification time: only the contents differ
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert memo.parsed(f, read)[0] == "xyz"
    assert len(calls) == 2


def test_errors_are_not_kept(tmp_path):
    f = tmp_path / "a.txt"
    f.write_text("bad")
    calls = []

    def read(path):
        calls.append(path)
        raise DataError(f"{path}: bad")
    for _ in range(2):
        with pytest.raises(DataError, match="bad"):
            memo.parsed(f, read)
    assert len(calls) == 2


@pytest.mark.parametrize("kind", ["missing", "directory", "fifo"])
def test_what_is_not_a_regular_file_goes_to_the_reader(tmp_path, kind):
    p = tmp_path / "p"
    if kind == "directory":
        p.mkdir()
    elif kind == "fifo":
        os.mkfifo(p)  # hashing it would wait for a writer forever

    def read(path):
        raise DataError(f"{path}: not a data file")
    with pytest.raises(DataError, match="not a data file"):
        memo.parsed(p, read)
    assert not memo._KEPT


def test_disabled_parses_every_time(tmp_path, monkeypatch):
    f = tmp_path / "a.txt"
    f.write_text("x")
    monkeypatch.setattr(memo, "enabled", False)
    read, calls = counting()
    memo.parsed(f, read)
    memo.parsed(f, read)
    assert len(calls) == 2 and not memo._KEPT


def test_least_recently_used_dropped_beyond_slots(tmp_path, monkeypatch):
    monkeypatch.setattr(memo._KEPT, "slots", 2)
    files = []
    for i in range(3):
        files.append(tmp_path / f"{i}.txt")
        files[-1].write_text(str(i))
    read, calls = counting()
    memo.parsed(files[0], read)
    memo.parsed(files[1], read)
    memo.parsed(files[0], read)  # 0 used last: 1 is the one dropped
    memo.parsed(files[2], read)
    assert len(memo._KEPT) == 2
    memo.parsed(files[0], read)
    memo.parsed(files[1], read)
    assert [c[0] for c in calls] == [str(files[0]), str(files[1]), str(files[2]), str(files[1])]


def test_load_sst_parses_a_split_once(tmp_path, monkeypatch):
    (tmp_path / "sst").mkdir()
    (tmp_path / "sst" / "train.txt").write_text("(3 (2 a) (4 b))\n(1 c)\n", encoding="utf-8")
    calls = []
    real = sst.read_trees

    def spy(path, limit=None):
        calls.append(limit)
        return real(path, limit)
    monkeypatch.setattr(sst, "read_trees", spy)
    a = sst.load_sst("train", root=tmp_path, verify=False)
    b = sst.load_sst("train", root=tmp_path, verify=False)
    assert calls == [None] and a == b and a is not b and len(a) == 2
    assert [t.words for t in a] == [("a", "b"), ("c",)]
    with pytest.raises(ValueError):  # the kept trees' arrays stay read-only
        a[0].labels[0] = 0


def test_kept_idx_arrays_are_read_only(tmp_path):
    p = tmp_path / "labels.idx"
    p.write_bytes(bytes([0, 0, 8, 1]) + (3).to_bytes(4, "big") + bytes([1, 2, 3]))
    arr = memo.parsed(p, mnist.read_idx)
    assert arr.tolist() == [1, 2, 3] and arr.dtype == np.uint8
    with pytest.raises(ValueError):
        arr[0] = 9


def test_derived_once_per_identity_of_its_records_and_arguments(tmp_path):
    f = tmp_path / "a.txt"
    f.write_text("abc")
    read, _ = counting(lambda path: [object(), object(), object()])
    calls = []

    def make(first, second, scale):
        calls.append(scale)
        return [scale * len(first), len(second)]
    records = memo.parsed(f, read)
    got = memo.derived((records[:2], records[2:]), make, 3)
    again = memo.parsed(f, read)  # a new list of the same records: the same result, not made again
    assert memo.derived((again[:2], again[2:]), make, 3) is got and got == [6, 1] and calls == [3]
    memo.derived((again[:2], again[2:]), make, 4)  # other arguments
    memo.derived((again[1:], again[:1]), make, 3)  # other records (the same ones, cut otherwise)
    assert calls == [3, 4, 3]
    f.write_text("xyz")  # parsed again: new records, which no kept entry can be mistaken for
    fresh = memo.parsed(f, read)
    memo.derived((fresh[:2], fresh[2:]), make, 3)
    assert calls == [3, 4, 3, 3]


def test_derived_holds_its_records_so_their_ids_stay_theirs():
    calls = []

    def make(records):
        calls.append(1)
        return len(records)
    memo.derived(([object()],), make)  # the only reference to the record is the entry's
    memo.derived(([object()],), make)  # a new object, made after: it cannot have the first one's id
    assert calls == [1, 1]

