"""The trace recorder keeps events as JSON text in a temporary file and streams them into ``trace.json``: the
file is byte for byte what ``json.dumps`` of the whole trace gives (the format the figures and Perfetto read)."""

import json
from decimal import Decimal

import pytest

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
        # (in whole nanoseconds: 100 ns to 103.3 ns is 100 ns to 103 ns)
        {"name": "fc0 bwd", "ph": "X", "pid": 0, "tid": 1, "ts": 0.1, "dur": 0.003}],
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


def _perfetto_ns(us: float) -> int:
    """A ``ts`` or ``dur`` as Perfetto reads it: microseconds, to integer nanoseconds, each on its own."""
    return round(us * 1000)


@pytest.mark.parametrize("start_s, dur_s", [(1.0000006e-3, 2.0000006e-3), (1.6e-9, 1.6e-9), (0.1000000006, 0.2000000006)])
def test_back_to_back_spans_never_overlap_as_perfetto_reads_them(start_s, dur_s, tmp_path):
    """ts and dur were start x 1e6 and duration x 1e6, which Perfetto rounds to nanoseconds apart: where both
    rounded up and the next span's start (their sum) down, the first span ended 1 ns after the second began
    (1,000,000.6 + 2,000,000.6 ns: 3,000,002 ns against 3,000,001; 226 of 12,677 adjacent pairs in trace_mnist's
    mak-16 trace), and Perfetto flagged them as badly nested. Now each start and end is a whole nanosecond."""
    r = TraceRecorder()
    r.span("a fwd", 1, 1, start_s, dur_s)
    r.span("b fwd", 1, 1, start_s + dur_s, dur_s)  # starts as the first ends (in simulated time)
    r.instant("admit", 1, start_s + dur_s)
    text = r.write(tmp_path / "trace.json").read_text()
    first, second, mark = json.loads(text)["traceEvents"]
    assert _perfetto_ns(first["ts"]) + _perfetto_ns(first["dur"]) <= _perfetto_ns(second["ts"])
    # back to back they stay: the first ends exactly where the second starts, as the instant at that time
    assert _perfetto_ns(first["ts"]) + _perfetto_ns(first["dur"]) == _perfetto_ns(second["ts"]) == _perfetto_ns(
        mark["ts"])
    # each time written as a whole number of nanoseconds in decimal µs (a reader that shifts the decimal point,
    # as Perfetto's did, gets the same integer as one that rounds)
    for e in (first, second, mark):
        for key in ("ts", "dur") if "dur" in e else ("ts",):
            assert (Decimal(repr(e[key])) * 1000) % 1 == 0, (key, e[key])
            assert Decimal(repr(e[key])) * 1000 == _perfetto_ns(e[key])
    assert json.dumps(first["ts"]) in text and json.dumps(first["dur"]) in text


def test_a_span_rounds_its_start_and_end_to_the_nearest_nanosecond():
    """A span's times are its start and end, each to the nearest nanosecond, and its duration their difference
    (not its own duration rounded, which can differ by 1 ns); one shorter than the rounding keeps its place at
    duration 0 (a work item of no time was one already), and every time written is the double nearest a whole
    number of nanoseconds in µs, for which ``json`` writes that decimal (never 0.30000000000000004)."""
    r = TraceRecorder()
    r.span("a", 1, 1, 0.4e-9, 0.4e-9)  # 0.4 ns to 0.8 ns: 0 to 1 ns (the duration alone would round to 0)
    r.span("b", 1, 1, 2.2e-9, 0.2e-9)  # 2.2 ns to 2.4 ns: 2 ns, of duration 0
    r.span_to("c", 1, 1, 0.1, 0.1 + 0.2)  # 0.30000000000000004 s: 300,000,000 ns
    assert [(e["ts"], e["dur"]) for e in r.events] == [(0.0, 0.001), (0.002, 0.0), (100000.0, 200000.0)]
    assert all(k / 1e3 == float(repr(k / 1e3)) and len(repr(k / 1e3).split(".")[1]) <= 3 for k in range(0, 10**6, 7))
