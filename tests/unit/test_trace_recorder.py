"""The trace recorder keeps events as JSON text in a temporary file and streams them into ``trace.json``: the
file is byte for byte what ``json.dumps`` of the whole trace gives (the format the figures and Perfetto read)."""

import json

from ampsim.trace import TraceRecorder


def test_the_written_trace_is_json_dumps_of_the_whole_trace_byte_for_byte(tmp_path):
    r = TraceRecorder()
    r.name_process(0, "chip 0")
    r.name_thread(0, 1, "unit 1")
    r.span("fc0 fwd", 0, 1, 0.5, 0.25, key=3)
    r.controller("admit", 0.0, 3)
    r.span("fc0 bwd", 0, 1, 1e-7, 3.3e-9)
    whole = {"traceEvents": [
        {"name": "process_name", "ph": "M", "pid": 0, "args": {"name": "chip 0"}},
        {"name": "process_name", "ph": "M", "pid": 1_000_001, "args": {"name": "controller"}},
        {"name": "thread_name", "ph": "M", "pid": 0, "tid": 1, "args": {"name": "unit 1"}},
        {"name": "fc0 fwd", "ph": "X", "pid": 0, "tid": 1, "ts": 0.5e6, "dur": 0.25e6, "args": {"key": 3}},
        {"name": "admit", "ph": "i", "s": "t", "pid": 1_000_001, "tid": 1, "ts": 0.0, "args": {"key": 3}},
        {"name": "fc0 bwd", "ph": "X", "pid": 0, "tid": 1, "ts": 1e-7 * 1e6, "dur": 3.3e-9 * 1e6}],
        "displayTimeUnit": "ms"}
    assert r.write(tmp_path / "trace.json").read_text() == json.dumps(whole)
    assert r.to_json() == whole and r.events == whole["traceEvents"][3:]
    r.span("later", 0, 1, 2.0, 1.0)  # recording goes on after a write (and after reading the events back)
    assert json.loads(r.write(tmp_path / "again.json").read_text())["traceEvents"][-1]["name"] == "later"


def test_an_empty_trace_and_one_without_names(tmp_path):
    assert TraceRecorder().write(tmp_path / "e.json").read_text() == json.dumps({"traceEvents": [],
                                                                                "displayTimeUnit": "ms"})
    r = TraceRecorder()
    r.span("a", 0, 0, 0.0, 1.0)
    assert r.write(tmp_path / "a.json").read_text() == json.dumps({"traceEvents": r.events, "displayTimeUnit": "ms"})


def test_a_recorder_let_go_closes_its_spool_without_a_resource_warning():
    """The events' temporary file was left to its own finalizer: an "unclosed file" ResourceWarning, raised in
    whatever code ran when the collector found it (CI: in a plot test)."""
    import gc
    import warnings

    rec = TraceRecorder()
    rec.span("fc0 fwd", 1, 1, 0.0, 1e-6)
    spool = rec._spool
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        del rec
        gc.collect()
    assert spool.closed
    assert not [w for w in caught if issubclass(w.category, ResourceWarning)]
