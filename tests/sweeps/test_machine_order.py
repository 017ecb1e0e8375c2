"""A sweep over more machines than a worker keeps the routes of (``ROUTING_SLOTS``), each crossed with another
axis outside them, found every machine's routes anew for every point: its points now run grouped by machine
(:mod:`ampsim.sweeps.order`), each machine's routes found once, and its table is the one the sweep's own order
of points gives, byte for byte."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from sweep_kit import tiny_sweep

from ampsim.hardware import routing
from ampsim.recent import Recent
from ampsim.sweeps import pool
from ampsim.sweeps.order import by_machine
from ampsim.sweeps.run import run_sweep
from ampsim.sweeps.spec import load_sweep

RINGS = range(4, 4 + routing.ROUTING_SLOTS + 2)  # more machines than the slots


@dataclass(frozen=True)
class _Task:
    name: str
    machine: Any


def test_points_of_more_machines_than_the_slots_go_grouped_by_machine_in_the_order_given():
    tasks = [_Task(f"{bw}-{m}", m) for bw in ("a", "b") for m in range(3)]
    assert [t.name for t in by_machine(tasks, slots=2)] == ["a-0", "b-0", "a-1", "b-1", "a-2", "b-2"]
    assert by_machine(tasks, slots=3) == tasks  # a worker keeps them all: as given


@pytest.fixture
def in_process(monkeypatch):
    """The sweep's points run one after the other in this process (a worker), with no routes kept yet; what
    each routing table built is for (its routing key), in order."""
    def inline(tasks, jobs, fn, grace_s=1.0):
        for t in tasks:
            fn(t)
            yield t, None

    built: list = []

    class Counting(routing._Indexed):
        def __init__(self, graph):
            built.append(graph.graph["routing_key"])
            super().__init__(graph)

    monkeypatch.setattr(pool, "run_pool", inline)
    monkeypatch.setattr(routing, "_Indexed", Counting)
    monkeypatch.setattr(routing, "_SHARED", Recent(routing.ROUTING_SLOTS))
    return built


def test_a_worker_finds_each_machines_routes_once_and_the_table_is_the_sweeps(in_process, tmp_path, monkeypatch):
    path = tmp_path / "s.toml"
    path.write_text(tiny_sweep() + '"hardware.link.bandwidth_bytes_per_s" = [1e9, 2e9]\n"hardware.topology" = ['
                    + ", ".join(f'{{ kind = "ring", n = {n} }}' for n in RINGS) + "]\n")
    sweep = load_sweep(path)
    table = run_sweep(sweep, tmp_path / "grouped", jobs=1).read_bytes()
    assert len(in_process) == len(set(in_process)) == len(RINGS)  # each machine's routes found once
    in_process.clear()
    monkeypatch.setattr(routing, "_SHARED", Recent(routing.ROUTING_SLOTS))
    monkeypatch.setattr("ampsim.sweeps.run.by_machine", lambda tasks: list(tasks))  # the sweep's own order
    assert run_sweep(sweep, tmp_path / "as_given", jobs=1).read_bytes() == table
    assert len(in_process) == len(sweep.points)  # as it was: anew for every point
