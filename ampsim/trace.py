"""Chrome / Perfetto trace export (the JSON "trace event" format: complete events ``ph = "X"``, instants
``ph = "i"``).

Open the file in https://ui.perfetto.dev or chrome://tracing. Each chip is a process with one thread per
compute unit (each multicore worker one with one thread); the links are one process with one thread per
directed link, and on a packet-switched link one more per message that shares it at once, named as the link
(spans on one thread never overlap); the controller is one process whose instants mark when each instance was
admitted (its first messages sent) and when it completed (``args.key``: the instance). Process and thread ids
count from 1 (:func:`chip_pid`, :func:`lane_tid`): Perfetto reads pid 0 as the kernel's idle task and handles
it apart (its maintainers ask synthesized traces to start at 1). Times are microseconds of the executor's clock
(simulated or wall), in whole nanoseconds: a span's start and end are each rounded to the nanosecond and its
duration is their difference, so spans that are back to back stay so in Perfetto, which reads ``ts`` and ``dur``
in integer nanoseconds, each rounded apart (:meth:`TraceRecorder.span_to`; its JSON tokenizer's ``CoerceToTs``,
``llround(d * 1000.0)``: versions that truncated instead may still show a few such pairs 1 ns apart);
``json`` writes each as a decimal of at most three fraction digits (``k / 1e3`` is the double nearest ``k`` ns
in µs, and its shortest repr is that decimal, for any time under three weeks, 2^51 ns).

The one writer is :class:`TraceRecorder`, the one reader :func:`read_events`; both stream, so a trace never
has to fit in memory as Python objects (a whole run's can be gigabytes).
"""

from __future__ import annotations

import codecs
import json
import re
import shutil
import tempfile
import weakref
from pathlib import Path
from typing import Any, Iterator

from ampsim.errors import AmpsimError, ConfigError
from ampsim.files import reading

__all__ = ["BWD", "CONTROLLER_PID", "FWD", "LINK_PID", "STEP_PHASES", "SYNC", "SYNC_JOBS", "TraceRecorder", "UPDATE",
           "chip_pid", "lane_tid", "read_events", "send_label", "span_kind", "step_label", "sync_label"]

#: the kinds of the executors' work items (the simulator's chip queues and the multicore workers' alike): a
#: node's forward, backward and update steps, and a synchronization's job (an add or apply of its copies)
FWD, BWD, UPDATE, SYNC = 0, 1, 2, 3
#: the span of a node's work item is labelled ``"<node> <phase>"``, the phase by its kind (FWD, BWD, UPDATE)
STEP_PHASES = ("fwd", "bwd", "update")
#: the span of a synchronization's job is labelled ``"<sync set> <job>"``: an all-reduce's add of a chunk, or the
#: apply of a round's result to a copy (the simulator's replica groups; :mod:`ampsim.executors.sim.collective`)
SYNC_JOBS = ("add", "sync")
#: the process id of the links in the simulator's traces (each directed link a thread of it)
LINK_PID = 1_000_000
#: the process id of the controller's admissions and completions (every executor's traces)
CONTROLLER_PID = 1_000_001


def chip_pid(index: int) -> int:
    """The process id of chip (or multicore worker) ``index`` in a trace: ``index + 1``, as ids count from 1.

    >>> chip_pid(0)
    1
    """
    return index + 1


def lane_tid(index: int) -> int:
    """The thread id of a process's ``index``-th thread (a chip's compute unit, a link's lane; the controller's
    and a worker's one thread is 0): ``index + 1``, as ids count from 1.

    >>> lane_tid(0)
    1
    """
    return index + 1


def step_label(node: str, kind: int) -> str:
    """The span label of ``node``'s work item of ``kind``, the same in every executor's trace.

    >>> step_label("fc0", 1), step_label("fc0", 2)
    ('fc0 bwd', 'fc0 update')
    """
    return f"{node} {STEP_PHASES[kind]}"


def sync_label(sync_set: str, job: str) -> str:
    """The span label of a job (one of :data:`SYNC_JOBS`) of the synchronization of ``sync_set``'s copies.

    >>> sync_label("fc0", "add")
    'fc0 add'
    """
    return f"{sync_set} {job}"


def send_label(frames: int) -> str:
    """The span label of a chip unit sending ``frames`` frames (a measured machine's framing).

    >>> send_label(2)
    'send 2 frame(s)'
    """
    return f"send {frames} frame(s)"


def span_kind(name: str) -> str:
    """The work a chip's span labelled ``name`` shows: its node step's phase (one of :data:`STEP_PHASES`),
    ``"sync"`` for a synchronization's job (:func:`sync_label`), ``"send"`` for frames sent (:func:`send_label`);
    ``"fwd"`` for a label of none of these (a hand-made trace's), as the timelines drew every label before.

    >>> [span_kind(n) for n in ("g1/fc0 bwd", "fc0 add", "fc0 sync", "send 2 frame(s)", "work")]
    ['bwd', 'sync', 'sync', 'send', 'fwd']
    """
    word = name.rsplit(" ", 1)[-1]
    if word in STEP_PHASES:
        return word
    if word in SYNC_JOBS:
        return "sync"
    return "send" if name.startswith("send ") and word == "frame(s)" else "fwd"


def _ns(t_s: float) -> int:
    """``t_s`` seconds in whole nanoseconds, the nearest (the precision a trace's times are written in)."""
    return round(t_s * 1e9)


class TraceRecorder:
    """The events of one run's trace, kept as JSON text in a temporary file as they are recorded (a dict per
    event in memory took 1.6 GB for 1,200 SST trees, and a whole run's would not have fitted the host), and
    written out as one ``trace.json`` (:meth:`write`), byte for byte what ``json.dumps`` of them all gives."""

    def __init__(self) -> None:
        self._spool = tempfile.TemporaryFile("w+", encoding="utf-8")
        # closed when the recorder goes (its events are read after the run, so not at the executor's close): left
        # to the file's own finalizer it was an "unclosed file" ResourceWarning, raised in whatever ran then
        weakref.finalize(self, self._spool.close)
        self._count = 0
        self._names: dict[tuple[int, int], str] = {}
        self._pnames: dict[int, str] = {}

    def _add(self, ev: dict) -> None:
        self._spool.write(f", {json.dumps(ev)}" if self._count else json.dumps(ev))
        self._count += 1

    def span(self, name: str, pid: int, tid: int, start_s: float, dur_s: float, **args) -> None:
        """A span of ``dur_s`` from ``start_s``: it ends at ``start_s + dur_s`` (:meth:`span_to`)."""
        self.span_to(name, pid, tid, start_s, start_s + dur_s, **args)

    def span_to(self, name: str, pid: int, tid: int, start_s: float, end_s: float, **args) -> None:
        """A span from ``start_s`` to ``end_s``, both rounded to whole nanoseconds, and its ``dur`` their
        difference: a span that ends when the next on its thread starts still ends there.

        Rounded apart, as Perfetto converts ``ts`` and ``dur`` to nanoseconds, two back-to-back spans overlapped
        by 1 ns where both rounded up and their shared end down (226 of 12,677 adjacent pairs in trace_mnist's
        mak-16 trace), which Perfetto flags as badly nested. A span shorter than that rounding may be left
        ``dur`` 0, as a work item of no time already was: kept, not dropped, so every work item still shows.

        >>> r = TraceRecorder()
        >>> r.span_to("a", 1, 1, 1.0000006e-3, 3.0000012e-3)
        >>> [(e["ts"], e["dur"]) for e in r.events]
        [(1000.001, 2000.0)]
        """
        start = _ns(start_s)
        ev = {"name": name, "ph": "X", "pid": pid, "tid": tid, "ts": start / 1e3, "dur": (_ns(end_s) - start) / 1e3}
        if args:
            ev["args"] = args
        self._add(ev)

    def instant(self, name: str, pid: int, start_s: float, **args) -> None:
        ev = {"name": name, "ph": "i", "s": "t", "pid": pid, "tid": lane_tid(0), "ts": _ns(start_s) / 1e3}
        if args:
            ev["args"] = args
        self._add(ev)

    def controller(self, what: str, t_s: float, key: int) -> None:
        """The controller ``"admit"``-ted or saw ``"complete"`` instance ``key`` at ``t_s``."""
        self._pnames.setdefault(CONTROLLER_PID, "controller")
        self.instant(what, CONTROLLER_PID, t_s, key=key)

    def name_process(self, pid: int, name: str) -> None:
        self._pnames[pid] = name

    def name_thread(self, pid: int, tid: int, name: str) -> None:
        self._names[(pid, tid)] = name

    @property
    def events(self) -> list[dict]:
        """The recorded events, read back (tests and small runs: a long run's are many)."""
        self._spool.seek(0)
        text = self._spool.read()
        self._spool.seek(0, 2)
        return json.loads(f"[{text}]")

    def _meta(self) -> list[dict]:
        meta = [{"name": "process_name", "ph": "M", "pid": p, "args": {"name": n}} for p, n in self._pnames.items()]
        return meta + [{"name": "thread_name", "ph": "M", "pid": p, "tid": t, "args": {"name": n}}
                       for (p, t), n in self._names.items()]

    def to_json(self) -> dict:
        return {"traceEvents": self._meta() + self.events, "displayTimeUnit": "ms"}

    def write(self, path: str | Path) -> Path:
        """Write ``trace.json`` at ``path``, streaming the recorded events (never all in memory at once)."""
        path = Path(path)
        meta = ", ".join(json.dumps(m) for m in self._meta())
        with open(path, "w", encoding="utf-8") as out:
            out.write('{"traceEvents": [' + meta + (", " if meta and self._count else ""))
            self._spool.seek(0)
            shutil.copyfileobj(self._spool, out, 1 << 20)
            self._spool.seek(0, 2)
            out.write('], "displayTimeUnit": "ms"}')
        return path


# -- reading ------------------------------------------------------------------------------------------------
def read_events(path: str | Path, *, error: type[AmpsimError] = ConfigError,
                chunk_bytes: int = 1 << 20) -> Iterator[dict]:
    """The events of the Chrome trace at ``path`` (gzip or plain), one at a time, in file order: the items of
    its top-level list or of the list under its ``"traceEvents"`` key, as :func:`json.loads` gives them.

    The file is read ``chunk_bytes`` at a time and each event decoded on its own, so memory holds one chunk
    and the event being read, not the document (``json.loads`` of a 202 MB trace took 1.3 GB). Every problem
    with the file, whenever the iteration meets it, is one ``error`` line naming ``path``: the file's own (as
    :mod:`ampsim.files` words them), text that is not UTF-8 or not JSON (with the character it stops at), an
    event that is not an object, a document that is neither a list nor an object with a ``traceEvents`` list.

    >>> import tempfile, os
    >>> with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
    ...     _ = f.write('{"displayTimeUnit": "ms", "traceEvents": [{"ph": "X", "ts": 1}, {"ph": "i"}]}')
    >>> [e["ph"] for e in read_events(f.name, chunk_bytes=4)]
    ['X', 'i']
    >>> os.unlink(f.name)
    """
    with reading(path, error=error) as f:
        yield from _JsonStream(f, path, error, chunk_bytes).array_items("traceEvents", _NOT_A_TRACE)


_NOT_A_TRACE = "not a Chrome trace (a list of event objects under traceEvents)"
_SPACE = re.compile(r"[ \t\n\r]*")
_DECODER = json.JSONDecoder()
_LONGEST_LITERAL = len("-Infinity")  # the longest token the decoder may find cut short
_AFTER_NUMBER = frozenset(" \t\n\r,]}")


class _JsonStream:
    """A JSON document read piece by piece: whitespace and punctuation one character at a time, each value
    whole by the standard library's decoder (re-tried with more text when it ends where the text read so far
    does: a value cut by a chunk's end, or a number that may go on)."""

    def __init__(self, f, path: str | Path, error: type[AmpsimError], chunk_bytes: int) -> None:
        self.f, self.path, self.error, self.chunk_bytes = f, path, error, chunk_bytes
        self.decode = codecs.getincrementaldecoder("utf-8")().decode
        self.text, self.i, self.consumed, self.eof = "", 0, 0, False

    def _more(self) -> bool:
        """Read on (at least as much as is held, so re-trying a long value costs linear time); False at the end."""
        if self.eof:
            return False
        raw = self.f.read(max(self.chunk_bytes, len(self.text) - self.i))
        try:
            text = self.decode(raw, final=not raw)
        except UnicodeDecodeError as e:
            at = self.consumed + len(self.text)
            raise self.error(f"{self.path}: not UTF-8 text ({e.reason} near character {at}; binary?)") from None
        self.eof = not raw
        self.consumed += self.i
        self.text, self.i = self.text[self.i:] + text, 0
        return True

    def _invalid(self, what: str, at: int) -> AmpsimError:
        return self.error(f"{self.path}: invalid JSON ({what}: character {self.consumed + at})")

    def peek(self) -> str:
        """The next character that is not whitespace ("" at the end), not consumed."""
        while True:
            self.i = _SPACE.match(self.text, self.i).end()
            if self.i < len(self.text):
                return self.text[self.i]
            if not self._more():
                return ""

    def expect(self, chars: str) -> str:
        c = self.peek()
        if not c or c not in chars:
            raise self._invalid("expecting " + " or ".join(repr(x) for x in chars), self.i)
        self.i += 1
        return c

    def value(self) -> Any:
        self.peek()
        while True:
            try:
                value, end = _DECODER.raw_decode(self.text, self.i)
            except json.JSONDecodeError as e:
                # more text can only help a value cut by the chunk's end: an error near it, or a string not
                # closed yet (its error names where it began); any other is the file's, said at once
                cut = e.msg.startswith("Unterminated string") or len(self.text) - e.pos <= _LONGEST_LITERAL
                if cut and self._more():
                    continue
                raise self._invalid(e.msg, e.pos) from None
            except RecursionError:
                raise self._invalid("nested too deep", self.i) from None
            except ValueError as e:  # an integer of more digits than Python converts
                raise self._invalid(str(e).split(";")[0], self.i) from None
            # a number may go on past the text read so far ("1." of "1.5"): taken only before a delimiter
            if (end < len(self.text) and (not isinstance(value, (int, float)) or self.text[end] in _AFTER_NUMBER)
                    or not self._more()):
                self.i = end
                return value

    def array_items(self, key: str, wrong: str) -> Iterator[Any]:
        """The items of the document's list, or of the list under ``key`` of the document's object; ``wrong``
        (one line) when it has neither, or an item is not an object."""
        found = False
        if self.expect("[{") == "[":
            yield from self._items(wrong)
            found = True
        elif self.peek() == "}":
            self.i += 1
        else:
            while True:
                if self.peek() != '"':
                    raise self._invalid("expecting a key in double quotes", self.i)
                name = self.value()
                self.expect(":")
                if name == key and found:  # (json.loads would keep the last; a stream has yielded the first)
                    raise self.error(f"{self.path}: {key} given twice")
                if name == key and self.peek() == "[":
                    self.i += 1
                    yield from self._items(wrong)
                    found = True
                else:
                    self.value()
                if self.expect(",}") == "}":
                    break
        if self.peek():
            raise self._invalid("extra data", self.i)
        if not found:
            raise self.error(f"{self.path}: {wrong}")

    def _items(self, wrong: str) -> Iterator[Any]:
        if self.peek() == "]":
            self.i += 1
            return
        while True:
            item = self.value()
            if not isinstance(item, dict):
                raise self.error(f"{self.path}: {wrong}")
            yield item
            if self.expect(",]") == "]":
                return
