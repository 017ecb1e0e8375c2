"""The replay's own loop hosts the collectives with SimPy's semantics: events, timeouts and processes fire in
SimPy's order (an URGENT process start before the normal events of its time scheduled earlier, an event
already processed passed through at once), checked against ``simpy.Environment`` on the same scenarios,
two written out and random ones (hypothesis: dropping the URGENT priority, or waiting on an event already
processed, fails them).
Whole runs (replica rounds, gates, chunks over the links) are checked against the SimPy replay and the
full run in ``tests/sim/test_replay_replicas.py``."""

from __future__ import annotations

from collections import deque
from heapq import heappop
from types import SimpleNamespace

import simpy
from hypothesis import given, settings
from hypothesis import strategies as st

from ampsim.executors.sim.fastsync import CALL, FastSync, LoopEnv


def loop_env():
    """A LoopEnv on a bare machine state, and the function that runs its events until none is left."""
    m = SimpleNamespace(now=0.0, order=0, heap=[], soon=deque())
    fs = FastSync.__new__(FastSync)  # (no executor: only its events)
    fs.m = m

    def run():
        while m.heap or m.soon:
            if m.soon and not (m.heap and m.heap[0] < m.soon[0]):
                ev = m.soon.popleft()
            else:
                ev = heappop(m.heap)
            m.now = ev[0]
            assert ev[2] == CALL
            fs.event(CALL, 0, ev[4])
    return LoopEnv(fs), run


def started_in_a_callback(env, log):
    """A callback at t = 1 starts a process and triggers an event, while a timeout of t = 1 scheduled
    before it waits: the process starts first (URGENT), then the earlier timeout, then the event."""
    def proc(name, wait):
        log.append((name, "start", env.now))
        for e in wait():
            yield e
            log.append((name, "resumed", env.now))

    def cb(_):
        log.append(("cb", env.now))
        env.process(proc("p2", lambda: [env.timeout(0), env.timeout(0.5)]))
        e3.succeed()

    env.timeout(1.0).callbacks.append(cb)
    env.timeout(1.0).callbacks.append(lambda _: log.append(("t2", env.now)))
    e3 = env.event()
    e3.callbacks.append(lambda _: log.append(("e3", env.now)))
    env.process(proc("p1", lambda: [e3, env.timeout(0)]))


def waits_on_what_has_fired(env, log):
    """A process that yields an event already processed goes on at once; one that yields an event
    triggered but not yet processed waits for it; two processes started together run in start order."""
    done = env.event()
    done.callbacks.append(lambda _: log.append(("done", env.now)))
    done.succeed()

    def late(name):
        yield env.timeout(2.0)
        log.append((name, "before", env.now))
        yield done  # processed at t = 0 by now: no wait
        log.append((name, "after", env.now))
        pending = env.event()
        pending.succeed()
        yield pending  # triggered, not processed: waits for its turn
        log.append((name, "pending", env.now))

    env.process(late("a"))
    env.process(late("b"))


#: what SimPy does on each scenario (the loop must do the same)
SIMPY_ORDER = {
    started_in_a_callback: [("p1", "start", 0), ("cb", 1.0), ("p2", "start", 1.0), ("t2", 1.0), ("e3", 1.0),
                            ("p1", "resumed", 1.0), ("p1", "resumed", 1.0), ("p2", "resumed", 1.0),
                            ("p2", "resumed", 1.5)],
    waits_on_what_has_fired: [("done", 0), ("a", "before", 2.0), ("a", "after", 2.0), ("b", "before", 2.0),
                              ("b", "after", 2.0), ("a", "pending", 2.0), ("b", "pending", 2.0)],
}


def test_loop_events_fire_in_simpys_order():
    for scenario, order in SIMPY_ORDER.items():
        expected, got = [], []
        env = simpy.Environment()
        scenario(env, expected)
        env.run()
        assert expected == order, scenario.__name__
        lenv, run = loop_env()
        scenario(lenv, got)
        run()
        assert got == order, scenario.__name__


#: one step of a random process: wait a timeout ("t", delay), wait on shared event k ("w", k), succeed it if
#: nobody has ("s", k), or start process j ("p", j: only later ones, so every script ends)
ACTIONS = st.one_of(st.tuples(st.just("t"), st.sampled_from([0.0, 0.5, 1.0])),
                    st.tuples(st.just("w"), st.integers(0, 2)), st.tuples(st.just("s"), st.integers(0, 2)),
                    st.tuples(st.just("p"), st.integers(1, 4)))
SCRIPTS = st.lists(st.lists(ACTIONS, max_size=5), min_size=1, max_size=5)


def scripted(env, log, scripts):
    """Process 0 of ``scripts`` starts at time 0; each logs every step it takes with the time."""
    shared = [env.event() for _ in range(3)]
    fired = set()
    for k, e in enumerate(shared):
        e.callbacks.append(lambda _, k=k: log.append(("event", k, env.now)))

    def proc(i):
        for n, (what, arg) in enumerate(scripts[i]):
            if what == "t":
                yield env.timeout(arg)
            elif what == "w":
                yield shared[arg]
            elif what == "s" and arg not in fired:
                fired.add(arg)
                shared[arg].succeed()
            elif what == "p" and i < arg < len(scripts):
                env.process(proc(arg))
            log.append((i, n, env.now))

    env.process(proc(0))


@settings(max_examples=300, deadline=None)
@given(SCRIPTS)
def test_random_processes_run_in_simpys_order(scripts):
    """Any mix of timeouts, shared events, succeeds and process starts from inside processes runs on the
    loop exactly as on SimPy, step for step."""
    expected, got = [], []
    env = simpy.Environment()
    scripted(env, expected, scripts)
    env.run()
    lenv, run = loop_env()
    scripted(lenv, got, scripts)
    run()
    assert got == expected
