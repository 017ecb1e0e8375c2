"""Chrome / Perfetto trace export (the JSON "trace event" format: complete events ``ph = "X"``, instants
``ph = "i"``).

Open the file in https://ui.perfetto.dev or chrome://tracing. Each chip is a process with one thread per
compute unit; the links are one process with one thread per directed link; the controller is one process
whose instants mark when each instance was admitted (its first messages sent) and when it completed
(``args.key``: the instance). Times are microseconds of the executor's clock (simulated or wall).
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

#: the span of a node's work item is labelled ``"<node> <phase>"``, the phase by the executors' item kinds
#: (0 forward, 1 backward, 2 update: the simulator's ``FWD, BWD, UPDATE`` and the multicore protocol's)
STEP_PHASES = ("fwd", "bwd", "update")
#: the process id of the links in the simulator's traces (each directed link a thread of it)
LINK_PID = 1_000_000
#: the process id of the controller's admissions and completions (every executor's traces)
CONTROLLER_PID = 1_000_001


def step_label(node: str, kind: int) -> str:
    """The span label of ``node``'s work item of ``kind``, the same in every executor's trace.

    >>> step_label("fc0", 1), step_label("fc0", 2)
    ('fc0 bwd', 'fc0 update')
    """
    return f"{node} {STEP_PHASES[kind]}"


class TraceRecorder:
    """The events of one run's trace, kept as JSON text in a temporary file as they are recorded (a dict per
    event in memory took 1.6 GB for 1,200 SST trees, and a whole run's would not have fitted the host), and
    written out as one ``trace.json`` (:meth:`write`), byte for byte what ``json.dumps`` of them all gives."""

    def __init__(self) -> None:
        self._spool = tempfile.TemporaryFile("w+", encoding="utf-8")
        self._count = 0
        self._names: dict[tuple[int, int], str] = {}
        self._pnames: dict[int, str] = {}

    def _add(self, ev: dict) -> None:
        self._spool.write(f", {json.dumps(ev)}" if self._count else json.dumps(ev))
        self._count += 1

    def span(self, name: str, pid: int, tid: int, start_s: float, dur_s: float, **args) -> None:
        ev = {"name": name, "ph": "X", "pid": pid, "tid": tid, "ts": start_s * 1e6, "dur": dur_s * 1e6}
        if args:
            ev["args"] = args
        self._add(ev)

    def instant(self, name: str, pid: int, start_s: float, **args) -> None:
        ev = {"name": name, "ph": "i", "s": "t", "pid": pid, "tid": 0, "ts": start_s * 1e6}
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
