"""ampsim.jsontext writes a run's JSON files as ``json.dumps(plain(obj), indent=2, sort_keys=True)`` would,
byte for byte, whatever the document: nested containers, every scalar a run holds, keys of several types."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ampsim.jsontext import dumps, plain
from ampsim.results import write_json

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12),
    st.integers(min_value=-(2**62), max_value=2**62).map(np.int64), st.floats(width=32).map(np.float32),
    st.floats(allow_nan=True, allow_infinity=True).map(np.float64), st.booleans().map(np.bool_))
keys = st.one_of(st.text(max_size=8), st.integers(min_value=-5, max_value=5), st.booleans(), st.none(),
                 st.floats(allow_nan=False, allow_infinity=False))
documents = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=5), st.lists(inner, max_size=4).map(tuple),
    st.dictionaries(keys, inner, max_size=5)), max_leaves=40)


@settings(max_examples=400, deadline=None)
@given(documents)
def test_the_text_is_the_standard_librarys(doc):
    assert dumps(doc) == json.dumps(plain(doc), indent=2, sort_keys=True)


def test_a_run_file_reads_back_as_written(tmp_path):
    doc = {"chips": [{"chip": i, "nodes": [f"n{i}"], "busy_s": i / 3} for i in range(3)], "inf": float("inf"),
           "w": np.float64(0.1), "n": np.int64(7), 2: "two", "empty": {}, "none": []}
    write_json(tmp_path / "a.json", doc)
    text = (tmp_path / "a.json").read_text()
    assert text == json.dumps(plain(doc), indent=2, sort_keys=True) + "\n"
    assert json.loads(text) == {"2": "two", "chips": doc["chips"], "empty": {}, "inf": None, "n": 7, "none": [],
                                "w": 0.1}


def test_what_json_cannot_hold_is_refused_as_json_refuses_it():
    with pytest.raises(TypeError, match="not JSON serializable"):
        dumps({"a": object()})
    with pytest.raises(TypeError, match="not JSON serializable"):
        json.dumps(plain({"a": object()}))


#: long lists of one kind of number (a big machine's per-chip figures), which are written in C
long_numbers = st.one_of(
    st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=16, max_size=40),
    st.lists(st.integers(min_value=-(10**30), max_value=10**30), min_size=16, max_size=40),
    st.lists(st.booleans(), min_size=16, max_size=40),
    st.lists(st.floats(allow_nan=True, allow_infinity=True).map(np.float64), min_size=16, max_size=40),
    st.lists(st.one_of(st.integers(-5, 5), st.floats(-5, 5), st.booleans()), min_size=16, max_size=40))


@settings(max_examples=300, deadline=None)
@given(long_numbers)
def test_long_lists_of_numbers_are_the_standard_librarys_text(seq):
    doc = {"per_chip": seq, "as_tuple": tuple(seq)}
    assert dumps(doc) == json.dumps(plain(doc), indent=2, sort_keys=True)
