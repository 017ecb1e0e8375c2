"""Chrome / Perfetto trace export (the JSON "trace event" format: complete events ``ph = "X"``, instants
``ph = "i"``).

Open the file in https://ui.perfetto.dev or chrome://tracing. Each chip is a process with one thread per
compute unit; the links are one process with one thread per directed link; the controller is one process
whose instants mark when each instance was admitted (its first messages sent) and when it completed
(``args.key``: the instance). Times are microseconds of the executor's clock (simulated or wall).
"""

from __future__ import annotations

import json
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
    def __init__(self) -> None:
        self.events: list[dict] = []
        self._names: dict[tuple[int, int], str] = {}
        self._pnames: dict[int, str] = {}

    def span(self, name: str, pid: int, tid: int, start_s: float, dur_s: float, **args) -> None:
        ev = {"name": name, "ph": "X", "pid": pid, "tid": tid, "ts": start_s * 1e6, "dur": dur_s * 1e6}
        if args:
            ev["args"] = args
        self.events.append(ev)

    def instant(self, name: str, pid: int, start_s: float, **args) -> None:
        ev = {"name": name, "ph": "i", "s": "t", "pid": pid, "tid": 0, "ts": start_s * 1e6}
        if args:
            ev["args"] = args
        self.events.append(ev)

    def controller(self, what: str, t_s: float, key: int) -> None:
        """The controller ``"admit"``-ted or saw ``"complete"`` instance ``key`` at ``t_s``."""
        self._pnames.setdefault(CONTROLLER_PID, "controller")
        self.instant(what, CONTROLLER_PID, t_s, key=key)

    def name_process(self, pid: int, name: str) -> None:
        self._pnames[pid] = name

    def name_thread(self, pid: int, tid: int, name: str) -> None:
        self._names[(pid, tid)] = name

    def to_json(self) -> dict:
        meta = [{"name": "process_name", "ph": "M", "pid": p, "args": {"name": n}} for p, n in self._pnames.items()]
        meta += [{"name": "thread_name", "ph": "M", "pid": p, "tid": t, "args": {"name": n}}
                 for (p, t), n in self._names.items()]
        return {"traceEvents": meta + self.events, "displayTimeUnit": "ms"}

    def write(self, path: str | Path) -> Path:
        path = Path(path)
        path.write_text(json.dumps(self.to_json()))
        return path
