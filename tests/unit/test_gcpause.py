"""Pausing the cyclic garbage collector (:mod:`ampsim.gcpause`), and the per-chip lists of ``placement.json``
and of the placement's estimated load, which big machines now build in one pass over the placement."""

from __future__ import annotations

import gc
from pathlib import Path

import pytest

from ampsim.executors.base import ExecutorBase
from ampsim.gcpause import gc_paused
from ampsim.hardware.spec import ChipSpec
from ampsim.placement import Profile, estimated_load


def test_gc_paused_pauses_and_resumes_and_leaves_a_paused_collector_paused():
    assert gc.isenabled()
    with gc_paused():
        assert not gc.isenabled()
        with gc_paused():  # nested: the inner block does not resume it
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()
    gc.disable()
    try:
        with gc_paused():
            pass
        assert not gc.isenabled()  # it found the collector off: it leaves it off
    finally:
        gc.enable()


def test_gc_paused_resumes_after_an_error():
    with pytest.raises(ValueError), gc_paused():
        raise ValueError("boom")
    assert gc.isenabled()


class _Folder:
    path = Path(".")

    def __init__(self) -> None:
        self.written: dict = {}

    def write_json(self, name: str, obj) -> None:
        self.written[name] = obj


def test_placement_json_lists_each_chips_nodes_in_placement_order_and_idle_chips_empty():
    ex = ExecutorBase()
    ex.placement = {"c": 2, "a": 0, "d": 2, "b": 0, "e": 4}
    ex.n_units = 6
    folder = _Folder()
    ex.write_artifacts(folder)
    chips = folder.written["placement.json"]["chips"]
    assert chips == [{"chip": 0, "nodes": ["a", "b"]}, {"chip": 1, "nodes": []}, {"chip": 2, "nodes": ["c", "d"]},
                     {"chip": 3, "nodes": []}, {"chip": 4, "nodes": ["e"]}, {"chip": 5, "nodes": []}]


def test_estimated_load_groups_nodes_by_chip_in_mapping_order():
    mapping = {"y": 1, "x": 0, "z": 1}
    prof = Profile.uniform(["x", "y", "z"])
    chip = ChipSpec(flops_per_s=1e9, mem_bandwidth_bytes_per_s=1e9, overhead_s=1e-6, compute_units=1, memory_bytes=1 << 30)
    load = estimated_load(mapping, [chip] * 3, prof)
    assert [row["nodes"] for row in load] == [["x"], ["y", "z"], []]
    assert load[2]["est_busy_s_per_instance"] == 0.0 and load[1]["est_busy_s_per_instance"] > 0
