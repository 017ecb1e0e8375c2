"""The one reader of Chrome traces streams them: ``read_events`` yields what ``json.loads`` of the whole file
holds under ``traceEvents`` (or at its top level), whatever the chunks it reads cut, and says in one line
what is wrong with a file that is not such a trace, naming the file."""

import gzip
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ampsim.errors import DataError
from ampsim.trace import TraceRecorder, read_events

scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**20, 10**20), st.floats(allow_nan=False),
                    st.text(max_size=8))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner,
                                                                                            max_size=3), max_leaves=8)
events = st.lists(st.dictionaries(st.text(max_size=6), values, max_size=4), max_size=6)


@settings(max_examples=150, deadline=None)
@given(events=events, before=st.dictionaries(st.sampled_from(["a", "displayTimeUnit", "b"]), values, max_size=2),
       indent=st.sampled_from([None, 0, 2]), top_list=st.booleans(), chunk=st.integers(1, 40), packed=st.booleans())
def test_the_events_are_json_loads_of_the_file_whatever_the_chunks(tmp_path_factory, events, before, indent,
                                                                    top_list, chunk, packed):
    doc = events if top_list else {**before, "traceEvents": events, "z": [1, {"k": "]}"}]}
    text = json.dumps(doc, indent=indent, separators=(",", ":") if packed else None, ensure_ascii=False)
    path = tmp_path_factory.mktemp("t") / "trace.json"
    path.write_text(text, encoding="utf-8")
    assert list(read_events(path, chunk_bytes=chunk)) == (json.loads(text) if top_list else events)


def test_a_recorded_trace_and_its_gzip_read_back_as_recorded(tmp_path):
    r = TraceRecorder()
    r.name_thread(1_000_000, 3, "0->1")
    for k in range(50):
        r.span("fc0 fwd", 0, 0, k * 1e-6, 1e-7, key=k)
    r.write(tmp_path / "trace.json")
    assert list(read_events(tmp_path / "trace.json", chunk_bytes=7)) == r.to_json()["traceEvents"]
    (tmp_path / "trace.json.gz").write_bytes(gzip.compress((tmp_path / "trace.json").read_bytes()))
    assert list(read_events(tmp_path / "trace.json.gz")) == r.to_json()["traceEvents"]


def test_events_come_before_the_file_is_read_to_its_end(tmp_path):
    """A stream: the first events are yielded while the rest of the file is unread (here, broken)."""
    path = tmp_path / "trace.json"
    path.write_text('{"traceEvents": [{"ph": "X"}, {"ph": "i"}, ' + " " * 100_000 + "{oops")
    it = read_events(path, error=DataError, chunk_bytes=64)
    assert [next(it), next(it)] == [{"ph": "X"}, {"ph": "i"}]
    with pytest.raises(DataError, match=r"trace.json: invalid JSON \(Expecting property name"):
        next(it)


@pytest.mark.parametrize("text, words", [
    ("", "invalid JSON (expecting '[' or '{': character 0)"),
    ('{"traceEvents": [{"a": 1}', "invalid JSON (expecting ',' or ']': character 25)"),
    ('{"traceEvents": [{"a": 1},]}', "invalid JSON (Expecting value: character 26)"),
    ('[{"a": 1}] [', "invalid JSON (extra data: character 11)"),
    ('{"traceEvents": [1, 2]}', "not a Chrome trace (a list of event objects under traceEvents)"),
    ('{"traceEvents": {"a": 1}}', "not a Chrome trace"),
    ('{"events": []}', "not a Chrome trace"),
    ("{}", "not a Chrome trace"),
    ('"text"', "invalid JSON (expecting '[' or '{': character 0)"),
    ('{"traceEvents": [' + "[" * 100_000 + "]" * 100_000 + "]}", "nested too deep"),
    ('{1: 2}', "invalid JSON (expecting a key in double quotes: character 1)"),
])
def test_what_is_not_a_trace_is_one_line_naming_the_file(tmp_path, text, words):
    path = tmp_path / "trace.json"
    path.write_text(text)
    with pytest.raises(DataError) as e:
        list(read_events(path, error=DataError, chunk_bytes=5))
    assert str(e.value).startswith(f"{path}: ") and words in str(e.value), str(e.value)


@pytest.mark.parametrize("content, words", [
    (b'{"traceEvents": [{"a": "\xff\xfe"}]}', "not UTF-8 text (invalid start byte near character"),
    (gzip.compress(b'{"traceEvents": []}')[:-6], "truncated: gzip stream ends early"),
])
def test_binary_and_cut_off_files_are_one_line(tmp_path, content, words):
    path = tmp_path / "trace.json"
    path.write_bytes(content)
    with pytest.raises(DataError) as e:
        list(read_events(path, error=DataError))
    assert str(e.value).startswith(f"{path}: {words}"), str(e.value)


def test_a_folder_is_one_line(tmp_path):
    with pytest.raises(DataError, match="is a directory, not a file"):
        list(read_events(tmp_path, error=DataError))


@pytest.mark.parametrize("chunk", range(1, 24))
def test_a_number_cut_by_a_chunk_is_read_whole(tmp_path, chunk):
    """ "1." of "1.5" at a chunk's end was taken for the number 1 and the "." refused."""
    path = tmp_path / "trace.json"
    path.write_text('{"x": 1.5, "y": -Infinity, "traceEvents": [{"ts": 2e-3}]}')
    assert list(read_events(path, chunk_bytes=chunk)) == [{"ts": 2e-3}]


def test_trace_events_given_twice_is_one_line(tmp_path):
    path = tmp_path / "trace.json"
    path.write_text('{"traceEvents": [{"a": 1}], "traceEvents": 5}')
    with pytest.raises(DataError, match="trace.json: traceEvents given twice"):
        list(read_events(path, error=DataError))


def test_an_early_mistake_is_said_without_reading_the_rest(tmp_path, monkeypatch):
    """It read on to the end of the file first (163 MB of memory for a 57 MB trace broken at byte 96)."""
    import ampsim.trace as trace

    path = tmp_path / "trace.json"
    path.write_text('{"traceEvents": [{"a": 1}, {"b": tru}, ' + '{"c": 3}, ' * 100_000 + "]}")
    reads = []
    real = trace._JsonStream._more
    monkeypatch.setattr(trace._JsonStream, "_more", lambda self: reads.append(1) or real(self))
    with pytest.raises(DataError, match=r"invalid JSON \(Expecting value: character 33\)"):
        list(read_events(path, error=DataError, chunk_bytes=4096))
    assert len(reads) <= 2


def test_an_integer_python_will_not_convert_is_one_line(tmp_path):
    path = tmp_path / "trace.json"
    path.write_text('{"traceEvents": [{"ts": ' + "9" * 5000 + "}]}")
    with pytest.raises(DataError, match="trace.json: invalid JSON"):
        list(read_events(path, error=DataError))
