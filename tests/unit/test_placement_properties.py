"""What every placement strategy promises, checked by property over random small models (MLP chains, the RNN's
loop, the Tree-LSTM, the GGNN, and replicated copies of them) on random machines (rings, switches, tori, fully
connected; chips of equal or mixed speed, memory from too little to plenty): every node placed exactly once on a
chip that exists, the same placement for the same inputs, memory respected where a strategy weighs it (and a
one-line refusal where nothing fits), estimated loads that add up to the profile's, each replica group on its
own chips, and explicit maps honoured as written and checked.

A wrong placement silently skews every what-if built on it; these are the promises the module docstrings of
:mod:`ampsim.placement` make, not the choices a strategy happens to make."""

from __future__ import annotations

import fnmatch
import functools
import itertools
import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ampsim.errors import ConfigError, NoRoom
from ampsim.hardware.parse import system_from_dict
from ampsim.hardware.spec import ChipSpec
from ampsim.ir.message import Instance
from ampsim.models.ggnn import build_model as build_ggnn
from ampsim.models.mlp import build_mlp
from ampsim.models.rnn import build_rnn
from ampsim.models.treelstm import build_treelstm
from ampsim.optim import OptimizerSpec
from ampsim.placement import (
    Profile,
    check_estimated,
    check_map,
    estimated_load,
    expand_profile,
    node_time_s,
    place,
    profile,
    resident_bytes,
)
from ampsim.replicas import ReplicaSpec, replicate

#: small and derandomized: every test here takes seconds, the file well under a minute
PROPS = settings(derandomize=True, deadline=None, max_examples=40, suppress_health_check=[HealthCheck.too_slow])
AUTOMATIC = ("round_robin", "greedy", "min_cut", "groups")
STRATEGIES = (*AUTOMATIC, "single")

#: the model skeletons: a chain, a loop, a tree and a message-passing graph, each small and quick to build
MODELS = ("mlp", "mlp_deep", "gru", "lstm", "tree", "ggnn")


@functools.lru_cache(maxsize=None)
def skeleton(kind: str, groups: int = 1, copies: int = 1):
    """The model ``kind``, with ``groups`` whole copies and ``copies`` of each parameterized node in a group
    (:func:`ampsim.replicas.replicate`), and the replication (None without copies). Placement reads a model
    and never changes it, so the examples share one build of each."""
    model = {"mlp": lambda: build_mlp(4, [8, 8], 2, seed=0),
             "mlp_deep": lambda: build_mlp(4, [6, 12, 4, 9, 5], 3, seed=0),
             "gru": lambda: build_rnn("gru", 8, 4, seed=0, vocab=10, n_classes=2),
             "lstm": lambda: build_rnn("lstm", 8, 4, seed=0, vocab=10, n_classes=2),
             "tree": lambda: build_treelstm(10, 2, hidden=4, embed=4),
             "ggnn": lambda: build_ggnn(5, 8, 2, 4)}[kind]()
    if groups == 1 and copies == 1:
        return model, None
    pattern = next(n.name for n in model.graph.param_nodes)  # (copies of the first parameterized node)
    rep = replicate(model, ReplicaSpec(groups=groups, nodes=((pattern, copies),)))
    return rep.model, rep


@st.composite
def models(draw):
    """A model (replicated or not), its replication, and a profile of its nodes: uneven work, messages and
    traffic along its edges, as :func:`ampsim.placement.profile` measures them (made up: quick, and free to
    take values a run would rarely give, ties and zeros included); with copies, the logical model's
    profile spread over them as the plan spreads it (:func:`expand_profile`)."""
    kind = draw(st.sampled_from(MODELS))
    groups, copies = draw(st.sampled_from([(1, 1), (1, 1), (2, 1), (1, 2), (3, 1), (2, 2)]))
    model, rep = skeleton(kind, groups, copies)
    logical = rep.logical if rep is not None else model
    prof = Profile(instances=draw(st.integers(1, 4)))
    for name in logical.graph.nodes:
        prof.add(name, float(draw(st.sampled_from([0, 1, 7, 300, 5e4]))), float(draw(st.integers(0, 4000))),
                 float(draw(st.integers(0, 3))))
        prof.messages[name] = draw(st.integers(1, 6))
    for (src, _), (dst, _) in logical.graph.edges.items():
        prof.edge_bytes[tuple(sorted((src, dst)))] += float(draw(st.sampled_from([0, 16, 64, 4096])))
    if rep is not None:
        prof = expand_profile(prof, rep.copies)
    return model, rep, prof


#: a chip's memory_bytes: from less than the smallest layer here (20 bytes) to more than every layer together
MEMORY = st.one_of(st.integers(1, 3000), st.integers(3000, 20_000), st.just(10**9))
TOPOLOGIES = st.one_of(
    st.builds(lambda n: {"kind": "ring", "n": n}, st.integers(3, 8)),
    st.builds(lambda n: {"kind": "switch", "n": n}, st.integers(2, 6)),
    st.builds(lambda n: {"kind": "fully_connected", "n": n}, st.integers(1, 5)),
    st.builds(lambda s: {"kind": "torus2d", "shape": list(s)}, st.sampled_from([(3, 3), (3, 4)])),
    st.builds(lambda s: {"kind": "mesh2d", "shape": list(s)}, st.sampled_from([(1, 2), (2, 2), (2, 3)])),
)


@st.composite
def machines(draw, memory=MEMORY):
    """A hardware model's chips: a topology of 1 to 12 chips, every chip of ``memory`` bytes (from too little
    for one layer to plenty) and speed, and some chips overridden with their own memory or speed."""
    topology = draw(TOPOLOGIES)
    d = {"system": {"name": "prop", "source": "test"},
         "chip": {"flops_per_s": 1.0e9, "mem_bandwidth_bytes_per_s": 1.0e9, "overhead_s": 1.0e-6,
                  "memory_bytes": draw(memory)},
         "link": {"latency_s": 1.0e-7, "bandwidth_bytes_per_s": 1.0e9},
         "topology": topology}
    n = system_from_dict(d, "prop.toml").n_chips
    overrides = []
    for _ in range(draw(st.integers(0, 2))):
        ids = sorted(draw(st.sets(st.integers(0, n - 1), min_size=1, max_size=n)))
        field = draw(st.sampled_from(["memory_bytes", "flops_per_s"]))
        value = draw(memory) if field == "memory_bytes" else draw(st.sampled_from([2.5e8, 4.0e9]))
        overrides.append({"chips": ids, field: value})
    if overrides:
        d["chip_override"] = overrides
    return list(system_from_dict(d, "prop.toml").chips)


def groups_of(rep) -> list[list[str]] | None:
    """The replica groups the plan gives the ``groups`` strategy (None: one group of every node)."""
    return rep.group_members if rep is not None else None


def held(mapping: dict[str, int], resident: dict[str, int], n: int) -> list[int]:
    out = [0] * n
    for name, chip in mapping.items():
        out[chip] += resident.get(name, 0)
    return out


def packs(needs: list[int], memory: list[int]) -> bool | None:
    """Whether some assignment of ``needs`` to the chips keeps each within its ``memory`` (every assignment
    tried; None where there are too many to try)."""
    needs = [x for x in needs if x]
    if len(memory) ** len(needs) > 50_000:
        return None
    return any(all(sum(x for x, c in zip(needs, chips) if c == chip) <= mem for chip, mem in enumerate(memory))
               for chips in itertools.product(range(len(memory)), repeat=len(needs)))


# -- every node once, on a chip that exists, the same every time --------------------------------------------------

@PROPS
@given(case=models(), chips=machines(), strategy=st.sampled_from(STRATEGIES), seed=st.integers(0, 3))
def test_every_node_is_placed_once_on_an_existing_chip_and_the_same_every_time(case, chips, strategy, seed):
    model, rep, prof = case
    names = list(model.graph.nodes)
    mapping = place(strategy, model, chips, prof=prof, seed=seed, groups=groups_of(rep))
    assert list(mapping) == names  # each node once, in graph order (placement.json lists them so)
    assert all(type(c) is int and 0 <= c < len(chips) for c in mapping.values()), mapping  # (JSON: no numpy ints)
    again = place(strategy, model, chips, prof=prof, seed=seed, groups=groups_of(rep))
    assert list(again.items()) == list(mapping.items())
    if strategy == "round_robin":
        assert mapping == {name: i % len(chips) for i, name in enumerate(names)}
    if strategy == "single":
        assert set(mapping.values()) == {0}
    if strategy == "min_cut":  # parts in graph order to chips in order: chips 0.. each given a part
        assert set(mapping.values()) == set(range(min(len(chips), len(names))))
    if strategy == "groups" and rep is None:  # one group of every node: greedy over the whole machine
        assert mapping == place("greedy", model, chips, prof=prof)


@PROPS
@given(widths=st.lists(st.integers(1, 6), min_size=1, max_size=8), n=st.integers(1, 6),
       work=st.lists(st.integers(0, 50), min_size=20, max_size=20))
def test_greedy_on_equal_chips_is_within_list_schedulings_bound(widths, n, work):
    """Longest first on equal chips: no chip busier than the average plus (n - 1) / n of the longest node (Graham's
    bound for any list schedule: the node that ends last started when no chip was idle)."""
    m = build_mlp(2, widths, 2, seed=0)
    prof = Profile(instances=1)
    for name, w in zip(m.graph.nodes, work):
        prof.add(name, float(w) * 1e3, 0.0, 0.0)
        prof.messages[name] = 1
    chip = system_from_dict({"system": {"name": "p", "source": "t"},
                             "chip": {"flops_per_s": 1e9, "mem_bandwidth_bytes_per_s": 1e9, "overhead_s": 1e-6,
                                      "memory_bytes": 10**9},
                             "link": {"latency_s": 0.0, "bandwidth_bytes_per_s": 1e9},
                             "topology": {"kind": "fully_connected", "n": n}}, "p.toml").chips
    mapping = place("greedy", m, chip, prof=prof)
    times = {name: node_time_s(prof, name, chip[0]) for name in m.graph.nodes}
    busy = [sum(t for name, t in times.items() if mapping[name] == c) for c in range(n)]
    bound = sum(times.values()) / n + max(times.values()) * (n - 1) / n
    assert max(busy) <= bound * (1 + 1e-12), (busy, bound)


# -- memory ---------------------------------------------------------------------------------------------------

@PROPS
@given(case=models(), chips=machines(), strategy=st.sampled_from(AUTOMATIC))
def test_memory_is_respected_or_refused_in_one_line(case, chips, strategy):
    """Where a strategy weighs memory, no chip is given more resident bytes than its memory_bytes; where it
    refuses, the refusal is one NoRoom line naming a node that holds memory and a chip that exists; where the
    placement made without memory fits, it is the one made with it. ``greedy`` (one group) refuses only what no
    packing fits; ``round_robin`` and ``min_cut`` may refuse what a packing would fit (their docstrings: a node
    goes to the next chip in turn, or a part's first chip, with room; nothing repacks them)."""
    model, rep, prof = case
    resident = resident_bytes(model)
    groups = groups_of(rep)
    memory = [c.memory_bytes for c in chips]
    blind = place(strategy, model, chips, prof=prof, groups=groups)
    blind_fits = all(h <= m for h, m in zip(held(blind, resident, len(chips)), memory))
    try:
        aware = place(strategy, model, chips, prof=prof, groups=groups, resident=resident, source="prop.toml")
    except NoRoom as refused:
        line = str(refused)
        assert not blind_fits, line
        assert "\n" not in line and line.startswith(f"prop.toml: placement.strategy: {strategy} finds no chip "), line
        assert refused.where["node"] in resident and f"node {refused.where['node']} " in line
        assert 0 <= refused.where["chip"] < len(chips)
        if strategy == "greedy" or (strategy == "groups" and rep is None):  # (one group: the whole machine)
            assert packs(list(resident.values()), memory) in (False, None), line
        return
    assert list(aware) == list(model.graph.nodes)
    assert all(h <= m for h, m in zip(held(aware, resident, len(chips)), memory)), (aware, memory)
    if blind_fits:
        assert aware == blind


@PROPS
@given(needs=st.lists(st.integers(1, 50), min_size=1, max_size=6), chips=machines(st.integers(1, 120)))
def test_greedy_and_a_single_group_refuse_only_what_no_packing_fits(needs, chips):
    """Layers of random sizes (the resident bytes given, not the model's) on the random machines: a packing that
    fits exists exactly when ``greedy`` (and ``groups`` of one group) places them."""
    m = build_mlp(3, [2] * (len(needs) - 1), 2, seed=0)
    resident = {f"fc{i}": need for i, need in enumerate(needs)}
    fit = packs(needs, [c.memory_bytes for c in chips])
    for strategy in ("greedy", "groups"):
        try:
            mapping = place(strategy, m, chips, prof=Profile.uniform(m.graph.nodes), resident=resident)
        except NoRoom as refused:
            assert fit in (False, None), refused
            continue
        assert fit in (True, None), mapping
        assert all(h <= c.memory_bytes for h, c in zip(held(mapping, resident, len(chips)), chips))


@PROPS
@given(case=models(), n=st.integers(1, 6), strategy=st.sampled_from(AUTOMATIC))
def test_a_node_larger_than_every_chip_is_refused_by_name(case, n, strategy):
    """A node whose parameters exceed every chip's memory is the refusal's node, whatever else fits."""
    model, rep, prof = case
    resident = resident_bytes(model)
    big = max(resident, key=lambda name: (resident[name], name))
    chips = system_from_dict({"system": {"name": "p", "source": "t"},
                              "chip": {"flops_per_s": 1e9, "mem_bandwidth_bytes_per_s": 1e9, "overhead_s": 1e-6,
                                       "memory_bytes": resident[big] - 1},
                              "link": {"latency_s": 0.0, "bandwidth_bytes_per_s": 1e9},
                              "topology": {"kind": "fully_connected", "n": n}}, "p.toml").chips
    with pytest.raises(NoRoom) as refused:
        place(strategy, model, chips, prof=prof, groups=groups_of(rep), resident=resident, source="p.toml")
    line = str(refused.value)
    assert "\n" not in line and resident[refused.value.where["node"]] >= resident[big], line
    assert re.search(r"more than the memory_bytes of (chip \d+|any of chips \d+\.\.\d+) \(at most", line), line
    assert line.endswith("give the chips more memory"), line


# -- estimated load -------------------------------------------------------------------------------------------

@PROPS
@given(case=models(), chips=machines(), strategy=st.sampled_from(STRATEGIES))
def test_the_estimated_loads_add_up_to_the_profiles_total(case, chips, strategy):
    """Each chip's estimated busy time is its nodes' (node_time_s on that chip), every node counted once; on
    chips of one spec their sum is the profile's total whatever the placement; and the plan's own check
    accepts it."""
    model, rep, prof = case
    mapping = place(strategy, model, chips, prof=prof, groups=groups_of(rep))
    load = estimated_load(mapping, chips, prof)
    check_estimated(load, mapping, len(chips), "prop")
    assert [e["chip"] for e in load] == list(range(len(chips)))
    assert sorted(name for e in load for name in e["nodes"]) == sorted(mapping)
    per = max(prof.instances, 1)
    total = sum(node_time_s(prof, name, chips[c]) for name, c in mapping.items()) / per
    assert math.isclose(sum(e["est_busy_s_per_instance"] for e in load), total, rel_tol=1e-9, abs_tol=1e-15)
    uniform = sum(node_time_s(prof, name, chips[0]) for name in mapping) / per  # (as if every node on chip 0)
    if len({id(c) for c in chips}) == 1:
        assert math.isclose(total, uniform, rel_tol=1e-9, abs_tol=1e-15)


@PROPS
@given(kind=st.sampled_from(MODELS), replicas=st.sampled_from([(2, 1), (1, 2), (3, 1), (2, 3)]),
       scale=st.sampled_from([1.0, 3.0, 1e4]), messages=st.integers(1, 5))
def test_copies_share_their_nodes_profile_without_losing_or_adding_any(kind, replicas, scale, messages):
    """expand_profile: the copies of a node together do its work, send its messages and carry its traffic, and on
    a chip their estimated time is the node's (the overhead counted once per message, not once more per copy)."""
    model, rep = skeleton(kind, *replicas)
    logical = rep.logical
    prof = Profile(instances=2)
    for i, name in enumerate(logical.graph.nodes):
        prof.add(name, scale * (i + 1), scale * (i % 3) * 10.0, float(i % 2))
        prof.messages[name] = messages + i % 2
    for (src, _), (dst, _) in logical.graph.edges.items():
        prof.edge_bytes[tuple(sorted((src, dst)))] += 8.0 * scale
    out = expand_profile(prof, rep.copies)
    assert set(out.flops) == set(model.graph.nodes)
    chip = system_from_dict({"system": {"name": "p", "source": "t"},
                             "chip": {"flops_per_s": 1e9, "mem_bandwidth_bytes_per_s": 1e8, "overhead_s": 1e-6,
                                      "kernel_overhead_s": 1e-7, "memory_bytes": 10**9},
                             "link": {"latency_s": 0.0, "bandwidth_bytes_per_s": 1e9},
                             "topology": {"kind": "fully_connected", "n": 1}}, "p.toml").chips[0]
    for name, per_group in rep.copies.items():
        mine = [c for g in per_group for c in g]
        for field in ("flops", "bytes", "kernels", "messages"):
            assert math.isclose(sum(getattr(out, field)[c] for c in mine), getattr(prof, field)[name]), (name, field)
        assert math.isclose(sum(node_time_s(out, c, chip) for c in mine), node_time_s(prof, name, chip)), name
    assert math.isclose(sum(out.edge_bytes.values()), sum(prof.edge_bytes.values()))


def test_a_measured_profile_adds_up_to_the_work_the_nodes_report():
    """A profile measured through the message pump on an MLP, placed by every strategy: the loads add up."""
    m = build_mlp(6, [16, 8], 3, seed=0)
    for node in m.graph.param_nodes:
        node.configure(OptimizerSpec("sgd", lr=0.01), muf=1)
    r = np.random.default_rng(0)
    insts = [Instance(k, {"x": r.random((4, 6), dtype=np.float32), "y": r.integers(0, 3, 4)}) for k in range(3)]
    prof = profile(m, insts)
    assert prof.instances == 3 and all(prof.messages[name] > 0 for name in m.graph.nodes)
    chips = system_from_dict({"system": {"name": "p", "source": "t"},
                              "chip": {"flops_per_s": 1e9, "mem_bandwidth_bytes_per_s": 1e9, "overhead_s": 1e-6,
                                       "memory_bytes": 10**9},
                              "link": {"latency_s": 0.0, "bandwidth_bytes_per_s": 1e9},
                              "topology": {"kind": "ring", "n": 4}}, "p.toml").chips
    total = sum(node_time_s(prof, name, chips[0]) for name in m.graph.nodes) / 3
    for strategy in STRATEGIES:
        load = estimated_load(place(strategy, m, chips, prof=prof), chips, prof)
        assert math.isclose(sum(e["est_busy_s_per_instance"] for e in load), total, rel_tol=1e-12), strategy


# -- replica groups -------------------------------------------------------------------------------------------

@PROPS
@given(kind=st.sampled_from(MODELS), replicas=st.sampled_from([(2, 1), (3, 1), (2, 2), (4, 1)]),
       chips=machines(st.sampled_from([1, 700, 2000, 10**6])), memory=st.booleans())
def test_each_replica_group_keeps_to_its_own_chips(kind, replicas, chips, memory):
    """``groups``: group g on chips [g n / G, (g + 1) n / G) (chip g n / G where there are fewer chips than
    groups), with memory weighed or not: two groups share no chip wherever there are chips enough."""
    model, rep = skeleton(kind, *replicas)
    n, G = len(chips), replicas[0]
    resident = resident_bytes(model) if memory else None
    try:
        mapping = place("groups", model, chips, prof=Profile.uniform(model.graph.nodes), groups=rep.group_members,
                        resident=resident)
    except NoRoom:
        assert memory
        return
    for g, members in enumerate(rep.group_members):
        lo = g * n // G
        hi = max((g + 1) * n // G, lo + 1)
        assert all(lo <= mapping[name] < hi for name in members), (g, lo, hi)
    if G <= n:
        owner: dict[int, int] = {}
        for g, members in enumerate(rep.group_members):
            for name in members:
                assert owner.setdefault(mapping[name], g) == g, (name, mapping[name])


@PROPS
@given(needs=st.lists(st.integers(1, 40), min_size=1, max_size=4), groups=st.integers(1, 3),
       copies=st.integers(1, 2), memory=st.lists(st.integers(1, 100), min_size=3, max_size=6),
       work=st.lists(st.integers(0, 9), min_size=40, max_size=40))
def test_a_group_is_refused_only_where_no_packing_fits_its_own_chips(needs, groups, copies, memory, work):
    """``groups`` with memory: each group is placed greedily inside its run of chips, packed where its spread
    leaves a node no room; a refusal names a node of a group whose layers no packing fits on that group's chips."""
    m = build_mlp(3, [2] * (len(needs) - 1), 2, seed=0)
    rep = replicate(m, ReplicaSpec(groups=groups, nodes=(("fc0", copies),)))
    model = rep.model
    resident = {name: needs[int(rep.origin(name)[2:])] for name in model.graph.nodes if rep.origin(name)[:2] == "fc"}
    prof = Profile.uniform(model.graph.nodes)
    for name, w in zip(model.graph.nodes, work):
        prof.flops[name] = float(w)
    chips = [ChipSpec(1e9, 1e9, 0.0, 1, mem) for mem in memory]
    n = len(chips)
    try:
        mapping = place("groups", model, chips, prof=prof, groups=rep.group_members, resident=resident)
    except NoRoom as refused:
        g = next(g for g, members in enumerate(rep.group_members) if refused.where["node"] in members)
        lo = g * n // groups
        hi = max((g + 1) * n // groups, lo + 1)
        assert packs([resident.get(x, 0) for x in rep.group_members[g]], memory[lo:hi]) is False, (refused, lo, hi)
        return
    assert all(h <= mem for h, mem in zip(held(mapping, resident, n), memory)), mapping


# -- explicit maps --------------------------------------------------------------------------------------------

@PROPS
@given(case=models(), n=st.integers(1, 8), data=st.data())
def test_an_explicit_map_is_honoured_first_match_first(case, n, data):
    """Node names and fnmatch patterns to chips: each node on the chip of the first entry that matches it; an entry
    that matches no node, or only nodes an earlier entry took (it would be ignored), is refused."""
    model = case[0]
    names = list(model.graph.nodes)
    chosen = data.draw(st.lists(st.sampled_from(names), unique=True, max_size=len(names)))
    patterns = [*chosen, *data.draw(st.lists(st.sampled_from(["*", "f*", "*s", "g1/*", "*#1", "?", "[a-m]*"]),
                                             unique=True, max_size=3))]
    mapping = {p: data.draw(st.integers(0, n - 1)) for p in patterns}
    mapping.setdefault("*", data.draw(st.integers(0, n - 1)))
    if any(not any(fnmatch.fnmatchcase(name, p) for name in names) for p in mapping):
        with pytest.raises(ConfigError, match=r"placement\.map\..*: names no node of the model"):
            place("explicit", model, [None] * n, explicit=mapping, source="e.toml")
        return
    earlier = list(mapping)
    if any(all(any(fnmatch.fnmatchcase(name, q) for q in earlier[:i]) for name in names if fnmatch.fnmatchcase(name, p))
           for i, p in enumerate(earlier)):
        with pytest.raises(ConfigError, match=r"placement\.map\..*: places no node: every node it names \(.*\) takes "
                                              r"its chip from the earlier pattern "):
            place("explicit", model, [None] * n, explicit=mapping, source="e.toml")
        return
    out = place("explicit", model, [None] * n, explicit=mapping, source="e.toml")
    assert list(out) == names
    for name in names:
        assert out[name] == next(c for p, c in mapping.items() if fnmatch.fnmatchcase(name, p)), name


@pytest.mark.parametrize("chip, words", [
    (4, "chip 4 does not exist (the hardware has chips 0..3)"),
    (-1, "chip -1 does not exist (the hardware has chips 0..3)"),
    (True, "expected a chip index, got True"),
    (1.0, "expected a chip index, got 1.0"),
    ("0", "expected a chip index, got '0'"),
])
def test_an_explicit_map_naming_no_chip_is_refused_in_one_line(chip, words):
    m = build_mlp(4, [8], 2, seed=0)
    with pytest.raises(ConfigError) as refused:
        place("explicit", m, [None] * 4, explicit={"fc*": chip, "*": 0}, source="e.toml")
    assert str(refused.value) == f"e.toml: placement.map.fc*: {words}"
    with pytest.raises(ConfigError, match=re.escape(words)):
        check_map({"fc*": chip}, 4, "e.toml")


def test_an_explicit_map_that_leaves_a_node_out_is_refused_by_name():
    m = build_mlp(4, [8], 2, seed=0)
    with pytest.raises(ConfigError, match=r"^e\.toml: placement\.map: no chip for node\(s\) x, relu0, loss "):
        place("explicit", m, [None] * 2, explicit={"fc*": 1}, source="e.toml")


# -- through the plan ------------------------------------------------------------------------------------------

EXPERIMENTS = Path(__file__).resolve().parents[2] / "experiments"
HARDWARE = Path(__file__).resolve().parents[2] / "hardware_models"


@settings(derandomize=True, deadline=None, max_examples=30, suppress_health_check=[HealthCheck.too_slow])
@given(task=st.sampled_from(["blobs_mlp", "list_reduction"]),
       hardware=st.sampled_from(["ring4", "mesh4x4", "hetero_straggler", "cpu_2core_paper"]),
       strategy=st.sampled_from(STRATEGIES), groups=st.integers(1, 3), copies=st.integers(1, 2),
       memory=st.sampled_from([None, 2_000, 20_000, 200_000]), count=st.booleans())
def test_the_plans_placement_keeps_the_promises(task, hardware, strategy, groups, copies, memory, count):
    """An experiment planned (the synthetic tasks: no data read) with replicas, chip memory and optimizer state:
    the names a sweep's --check places (placed_names) are the plan's nodes, each placed once on one of its chips,
    within its memory for the automatic strategies, with an estimated load that passes the plan's check; planned
    again, the same placement. What it refuses, it refuses in one line."""
    import ampsim
    from ampsim.placement.strategies import placed_names

    overrides = {"executor.kind": "sim", "executor.hardware": str(HARDWARE / f"{hardware}.toml"),
                 "placement.strategy": strategy, "data.n_train": 64, "data.n_test": 32,
                 "train.count_optimizer_state": count, "replicas.groups": groups,
                 "replicas.nodes": {"fc*" if task == "blobs_mlp" else "cell": copies}}
    if memory is not None:
        overrides["hardware.chip.memory_bytes"] = memory
    cfg = ampsim.load_experiment(EXPERIMENTS / f"{task}.toml", overrides)
    try:
        p = ampsim.plan(cfg)
    except ConfigError as refused:
        assert "\n" not in str(refused)
        return
    names = list(p.task.model.graph.nodes)
    assert list(p.placement) == names == placed_names(cfg)
    assert all(type(c) is int and 0 <= c < len(p.chips) for c in p.placement.values())
    if strategy in AUTOMATIC:
        resident = resident_bytes(p.task.model)
        assert all(h <= c.memory_bytes for h, c in zip(held(p.placement, resident, len(p.chips)), p.chips))
    if p.estimated_load is not None:
        check_estimated(p.estimated_load, p.placement, len(p.chips), "plan")
    assert list(ampsim.plan(cfg).placement.items()) == list(p.placement.items())


# -- across processes -----------------------------------------------------------------------------------------

SCRIPT = """
import json, sys
sys.path.insert(0, {here!r})
from test_placement_properties import skeleton
from ampsim.hardware.parse import system_from_dict
from ampsim.hardware.spec import ChipSpec
from ampsim.placement import Profile, place, resident_bytes
chips = system_from_dict({{"system": {{"name": "p", "source": "t"}},
                          "chip": {{"flops_per_s": 1e9, "mem_bandwidth_bytes_per_s": 1e9, "overhead_s": 1e-6,
                                   "memory_bytes": 3000}},
                          "link": {{"latency_s": 0.0, "bandwidth_bytes_per_s": 1e9}},
                          "topology": {{"kind": "torus2d", "shape": [3, 3]}}}}, "p.toml").chips
out = {{}}
for kind in ("tree", "ggnn"):
    model, rep = skeleton(kind, 2, 2)
    prof = Profile.uniform(model.graph.nodes)
    names = list(model.graph.nodes)
    for i, (a, b) in enumerate(zip(names, names[1:])):
        prof.edge_bytes[a, b] = float(1 + i * 7 % 11)
    for s in ("min_cut", "greedy", "groups", "round_robin"):
        out[kind + s] = list(place(s, model, chips, prof=prof, groups=rep.group_members,
                                   resident=resident_bytes(model)).items())
print(json.dumps(out))
"""


def test_replicated_placements_do_not_depend_on_the_hash_seed():
    """Copies' names ("g1/compose#1") through min_cut's bisection and the memory-aware strategies: the same
    mapping, in the same order, whatever the string hash seed."""
    script = SCRIPT.format(here=os.path.dirname(os.path.abspath(__file__)))
    outs = [subprocess.run([sys.executable, "-c", script], env={**os.environ, "PYTHONHASHSEED": seed}, check=True,
                           capture_output=True, text=True).stdout for seed in ("1", "2")]
    assert json.loads(outs[0]) == json.loads(outs[1])


@pytest.mark.parametrize("strategy", ["bogus", "Greedy", "round-robin", ""])
def test_an_unknown_strategy_is_refused_as_one_without_a_profile(strategy):
    """Without a profile (which only greedy, min_cut and groups read) an unknown name was "placement bogus needs a
    profile", a ValueError, where the docstring promises a ConfigError naming the unknown strategy."""
    m = build_mlp(4, [8], 2, seed=0)
    for prof in (None, Profile.uniform(m.graph.nodes)):
        with pytest.raises(ConfigError) as refused:
            place(strategy, m, [None] * 2, prof=prof, source="e.toml")
        assert str(refused.value) == f"e.toml: placement.strategy: unknown strategy {strategy!r}"
