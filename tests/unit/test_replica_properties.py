"""Replica routing by property (docs/replicas.md, "Names and routing" and "Synchronization"): over random groups,
node-copy patterns and instance keys, every instance is processed by exactly one copy of each node it visits, the
copy the documented rule selects; copies split the instances as documented; names, copy sets and sync sets are as
documented; the reference executor's rounds leave the copies equal; and :func:`replicate` is deterministic."""

from __future__ import annotations

import fnmatch
from collections import Counter
from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from ampsim.config import load_config, parse_override
from ampsim.executors import make_executor
from ampsim.ir.message import Instance
from ampsim.ir.pump import pump
from ampsim.models.mlp import build_mlp
from ampsim.planning import plan
from ampsim.replicas import ReplicaSpec, copy_name, replicate

ROOT = Path(__file__).resolve().parents[2]
PROPS = settings(max_examples=25, derandomize=True, deadline=None)
N_IN, N_CLASSES = 3, 2


def mlp(hidden: int):
    return build_mlp(N_IN, [4] * hidden, N_CLASSES, seed=0)


def instance(key: int) -> Instance:
    rng = np.random.default_rng(key)
    return Instance(key, {"x": rng.standard_normal((2, N_IN)).astype(np.float32),
                          "y": rng.integers(0, N_CLASSES, 2)})


def unshadowed(names):
    """Patterns each of which copies some node (one whose nodes an earlier pattern all took is refused)."""
    return lambda pats: all(any(fnmatch.fnmatchcase(n, p) and not any(fnmatch.fnmatchcase(n, q) for q, _ in pats[:i])
                                for n in names) for i, (p, _) in enumerate(pats))


MLP_NAMES = ["x", "fc0", "relu0", "fc1", "loss"]  # (hidden = 1: a witness there is one with more layers)
PATTERNS = st.lists(st.tuples(st.sampled_from(["fc*", "fc0", "fc1", "relu*", "loss", "x", "*"]),
                              st.integers(1, 3)), max_size=3, unique_by=lambda t: t[0]).filter(unshadowed(MLP_NAMES))


def expected_copies(names, spec: ReplicaSpec) -> dict[str, int]:
    """The documented rule: the first pattern that matches gives the copies in each group, else 1."""
    return {n: next((c for p, c in spec.nodes if fnmatch.fnmatchcase(n, p)), 1) for n in names}


@PROPS
@given(hidden=st.integers(1, 2), groups=st.integers(1, 3), nodes=PATTERNS, keys=st.lists(st.integers(0, 60),
       min_size=1, max_size=6, unique=True))
def test_each_instance_runs_on_exactly_the_copies_its_key_selects(hidden, groups, nodes, keys):
    model = mlp(hidden)
    names = list(model.graph.nodes)
    spec = ReplicaSpec(groups=groups, nodes=tuple(nodes))
    counts = expected_copies(names, spec)
    rep = replicate(model, spec)
    graph = rep.model.graph
    for key in keys:
        seen: dict[tuple[str, bool], set[str]] = {}
        visits = Counter()
        for v in pump(graph, rep.model.inject(instance(key))):
            origin = v.node.origin
            seen.setdefault((origin, v.backward), set()).add(v.node.name)
            visits[(v.node.name, v.backward)] += 1
        g = key % groups
        for (origin, _), physical in seen.items():
            c = counts[origin]
            assert physical == {copy_name(origin, g, (key // groups) % c, groups, c)}, (key, origin, physical)
        # every model node is visited forward (the MLP is a chain), once
        assert {o for o, b in seen if not b} == set(names)
        assert all(n == 1 for (_, b), n in visits.items() if not b)


@PROPS
@given(hidden=st.integers(1, 2), groups=st.integers(1, 3), nodes=PATTERNS, n=st.integers(1, 40))
def test_copies_split_the_instances_as_documented(hidden, groups, nodes, n):
    model = mlp(hidden)
    spec = ReplicaSpec(groups=groups, nodes=tuple(nodes))
    rep = replicate(model, spec)
    graph = rep.model.graph
    seen = Counter()
    for key in range(n):
        for v in pump(graph, rep.model.inject(instance(key))):
            if not v.backward:
                seen[v.node.name] += 1
    for per_group in rep.copies.values():
        for g, physical in enumerate(per_group):
            c = len(physical)
            for i, p in enumerate(physical):
                # group g's copy i sees keys g + groups * (i + c m): every groups * copies-th instance
                assert seen[p] == len(range(g + groups * i, n, groups * c)), (p, n)


@PROPS
@given(hidden=st.integers(1, 2), groups=st.integers(1, 3), nodes=PATTERNS, sync=st.sampled_from(["average", "none"]))
def test_names_copy_sets_and_sync_sets_are_as_documented(hidden, groups, nodes, sync):
    model = mlp(hidden)
    names = list(model.graph.nodes)
    params = [n.name for n in model.graph.param_nodes]
    spec = ReplicaSpec(groups=groups, nodes=tuple(nodes), sync=sync)
    counts = expected_copies(names, spec)
    rep = replicate(model, spec)
    if spec.trivial:
        assert rep.model is model and rep.sync_sets == []
        return
    want = {n: [[copy_name(n, g, i, groups, counts[n]) for i in range(counts[n])] for g in range(groups)]
            for n in names}
    assert rep.copies == want
    physical = [p for per_group in want.values() for copies in per_group for p in copies]
    assert set(rep.model.graph.nodes) == set(physical) and len(physical) == len(rep.model.graph.nodes)
    assert all(rep.origin(p) == n for n, per_group in want.items() for copies in per_group for p in copies)
    if groups > 1:
        assert all(p.startswith(f"g{g}/") for per_group in want.values() for g, cs in enumerate(per_group) for p in cs)
    if sync == "none":
        assert rep.sync_sets == []
        return
    # each sync set: exactly the copies of one parameterized node, in copy order (group by group, copy by copy)
    want_sets = {n: [p for copies in want[n] for p in copies] for n in params if groups * counts[n] > 1}
    assert [s.name for s in rep.sync_sets] == list(want_sets)
    for s in rep.sync_sets:
        assert [c.name for c in s.copies] == want_sets[s.name]
        assert all(rep.model.graph.nodes[c.name] is c for c in s.copies)


@PROPS
@given(hidden=st.integers(1, 2), groups=st.integers(1, 3), nodes=PATTERNS)
def test_replicate_is_deterministic(hidden, groups, nodes):
    spec = ReplicaSpec(groups=groups, nodes=tuple(nodes))
    a, b = replicate(mlp(hidden), spec), replicate(mlp(hidden), spec)
    ga, gb = a.model.graph, b.model.graph
    assert list(ga.nodes) == list(gb.nodes) and ga.edges == gb.edges
    assert ga.spread.keys() == gb.spread.keys()
    assert all([n.name for n in ga.spread[k][0]] == [n.name for n in gb.spread[k][0]] for k in ga.spread)
    for name, node in ga.nodes.items():
        for k, v in getattr(node, "params", {}).items():
            assert np.array_equal(v, gb.nodes[name].params[k])
    for key in range(6):
        pa = [(v.node.name, v.backward) for v in pump(ga, a.model.inject(instance(key)))]
        pb = [(v.node.name, v.backward) for v in pump(gb, b.model.inject(instance(key)))]
        assert pa == pb


def blobs_plan(*overrides: str):
    return plan(load_config(ROOT / "experiments" / "blobs_mlp.toml",
                            [parse_override(o) for o in ("train.mak=1", "train.muf=1", "data.batch=4", "data.n_test=8",
                                                         "model.hidden=[4]", "train.epochs=1", *overrides)]))


def trained_copies(*overrides: str) -> list[list[dict[str, np.ndarray]]]:
    p = blobs_plan(*overrides)
    start = {n.name: n.params["W"].copy() for n in p.task.model.graph.param_nodes}
    with make_executor(p) as ex:
        ex.train(list(p.task.train_instances(1)))
        rounds = ex.summary().get("sync_rounds")
    # (the copies trained: equal parameters are not the start's)
    assert all(not np.array_equal(n.params["W"], start[n.name]) for n in p.task.model.graph.param_nodes)
    assert rounds != 0
    return [[{k: v.copy() for k, v in c.params.items()} for c in s.copies] for s in p.sync_sets]


@settings(max_examples=6, derandomize=True, deadline=None)
@given(groups=st.integers(2, 3), copies=st.integers(1, 2), every=st.integers(1, 3), rounds=st.integers(1, 2))
def test_after_the_last_round_all_copies_hold_equal_parameters(groups, copies, every, rounds):
    # instances for exactly `rounds` rounds of every copy: each copy sees n / (groups * copies) of them
    n = groups * copies * every * rounds * 4
    sets = trained_copies(f"replicas.groups={groups}", f'replicas.nodes={{"fc1"={copies}}}',
                          f"replicas.sync_every={every}", f"data.n_train={n}")
    assert sets
    for s in sets:
        for other in s[1:]:
            for k in s[0]:
                np.testing.assert_array_equal(s[0][k], other[k])
    unsynced = trained_copies(f"replicas.groups={groups}", f'replicas.nodes={{"fc1"={copies}}}',
                              'replicas.sync="none"', f"data.n_train={n}")
    assert unsynced == []


def test_without_synchronization_copies_differ():
    p = blobs_plan("data.n_train=32", "replicas.groups=2", 'replicas.sync="none"')
    with make_executor(p) as ex:
        ex.train(list(p.task.train_instances(1)))
    graph = p.task.model.graph
    assert not np.array_equal(graph.nodes["g0/fc0"].params["W"], graph.nodes["g1/fc0"].params["W"])


@settings(max_examples=8, derandomize=True, deadline=None)
@given(groups=st.integers(1, 3), nodes=PATTERNS)
def test_untrained_copies_evaluate_as_the_model_does(groups, nodes):
    """Reports carry the model's node name and copies start equal, so before training the replicated model's
    reports are the model's, instance by instance."""
    pats = [f'"{p}"={c}' for p, c in nodes if p.startswith(("fc", "relu", "loss", "x"))]
    base = blobs_plan("data.n_train=40")
    rep = blobs_plan("data.n_train=40", f"replicas.groups={groups}", f"replicas.nodes={{{', '.join(pats)}}}")
    with make_executor(base) as a, make_executor(rep) as b:
        want = a.evaluate(list(base.task.eval_instances()))
        got = b.evaluate(list(rep.task.eval_instances()))
    assert [(r.node, r.key, r.state, r.values) for r in got] == [(r.node, r.key, r.state, r.values) for r in want]


@settings(max_examples=12, derandomize=True, deadline=None)
@given(data=st.data(), groups=st.integers(1, 3))
def test_routing_through_loops_keeps_an_instance_on_its_copies(data, groups):
    """The list reduction's cell runs in a loop (a Cond leaves it): every iteration, forward and backward, of an
    instance takes the same copy, the one its key selects."""
    p = plan(load_config(ROOT / "experiments" / "list_reduction.toml",
                         [parse_override(o) for o in ("data.n_train=24", "data.n_test=4")]))
    model = p.task.model
    names = list(model.graph.nodes)
    nodes = data.draw(st.lists(st.tuples(st.sampled_from([*names, "*"]), st.integers(1, 3)), max_size=3,
                               unique_by=lambda t: t[0]).filter(unshadowed(names)))
    spec = ReplicaSpec(groups=groups, nodes=tuple(nodes))
    counts = expected_copies(names, spec)
    rep = replicate(model, spec)
    for inst in list(p.task.train_instances(1))[:6]:
        seen: dict[str, set[str]] = {}
        for v in pump(rep.model.graph, rep.model.inject(inst)):
            seen.setdefault(v.node.origin, set()).add(v.node.name)
        g, key = inst.key % groups, inst.key
        for origin, physical in seen.items():
            c = counts[origin]
            assert physical == {copy_name(origin, g, (key // groups) % c, groups, c)}, (key, origin, physical)


def params_of(p, start: bool = False) -> dict[str, dict[str, np.ndarray]]:
    if not start:
        with make_executor(p) as ex:
            ex.train(list(p.task.train_instances(1)))
    return {n.name: {k: v.astype(np.float64) for k, v in n.params.items()} for n in p.task.model.graph.param_nodes}


@settings(max_examples=6, derandomize=True, deadline=None)
@given(groups=st.integers(2, 3), copies=st.integers(1, 2), every=st.integers(1, 3),
       outer_lr=st.sampled_from([1.0, 0.5, 2.0]))
def test_the_first_round_is_the_documented_average_of_the_copies_local_training(groups, copies, every, outer_lr):
    """With exactly ``sync_every`` updates of every copy, the copies train alone until the one round, whose result
    every copy holds: ``anchor + outer_lr (mean - anchor)``, the anchor the copies' common start. (Every node has
    the same copies, so that every copy of every parameterized node makes exactly ``sync_every`` updates.)"""
    sets = (f"replicas.groups={groups}", f'replicas.nodes={{"*"={copies}}}', f"replicas.sync_every={every}",
            f"data.n_train={groups * copies * every * 4}")
    alone = params_of(blobs_plan(*sets, 'replicas.sync="none"'))
    synced_plan = blobs_plan(*sets, f"replicas.outer_lr={outer_lr}")
    start = params_of(synced_plan, start=True)
    synced = params_of(synced_plan)
    for s in synced_plan.sync_sets:
        names = [c.name for c in s.copies]
        for k in start[names[0]]:
            anchor = start[names[0]][k]
            want = anchor + outer_lr * (np.mean([alone[n][k] for n in names], axis=0) - anchor)
            for n in names:
                np.testing.assert_allclose(synced[n][k], want, rtol=1e-5, atol=1e-6)


@settings(max_examples=8, derandomize=True, deadline=None)
@given(groups=st.integers(1, 3), copies=st.integers(1, 3), muf=st.integers(1, 3), n=st.integers(9, 20))
def test_each_copy_updates_after_muf_of_its_own_instances(groups, copies, muf, n):
    """The muf rule is each copy's: group g's copy i sees the instances whose key selects it and updates once per
    muf of them."""
    p = blobs_plan(f"replicas.groups={groups}", f'replicas.nodes={{"fc1"={copies}}}', f"train.muf={muf}",
                   f"data.n_train={4 * n}", 'replicas.sync="none"')
    keys = [inst.key for inst in p.task.train_instances(1)]
    with make_executor(p) as ex:
        ex.train(list(p.task.train_instances(1)))
    graph = p.task.model.graph
    for name in ("fc0", "fc1"):
        for g, physical in enumerate(p.replicas.copies[name] if p.replicas else [[name]]):
            c = len(physical)
            for i, phys in enumerate(physical):
                seen = sum(k % groups == g and (k // groups) % c == i for k in keys)
                assert graph.nodes[phys].version == seen // muf, phys


@settings(max_examples=6, derandomize=True, deadline=None)
@given(groups=st.integers(1, 3), copies=st.integers(1, 3), every=st.integers(1, 3),
       strategy=st.sampled_from(["greedy", "groups", "round_robin"]))
def test_the_simulator_trains_the_copies_as_the_reference_does(groups, copies, every, strategy):
    """docs/replicas.md: with mak = 1 the gate makes every executor apply each round between the same two messages,
    so the simulator's copies equal the reference's bit for bit, with groups and node copies."""
    sets = (f"replicas.groups={groups}", f'replicas.nodes={{"fc1"={copies}, "relu*"={copies}}}',
            f"replicas.sync_every={every}", "data.n_train=72")
    sim = ('executor.kind="sim"', f'executor.hardware="{ROOT / "hardware_models" / "torus8x8.toml"}"',
           f'placement.strategy="{strategy}"')
    want, got = params_of(blobs_plan(*sets)), params_of(blobs_plan(*sets, *sim))
    assert want.keys() == got.keys()
    for name in want:
        for k in want[name]:
            assert np.array_equal(want[name][k], got[name][k]), (name, k)


@settings(max_examples=20, derandomize=True, deadline=None)
@given(groups=st.integers(1, 5), nodes=PATTERNS)
def test_halving_doubling_is_refused_from_the_config_exactly_where_a_sync_set_is_not_a_power_of_two(groups, nodes):
    """check_collective (a sweep's --check, before any copy is made) sees the sync sets replicate makes."""
    from ampsim.errors import ConfigError
    from ampsim.replicas import check_collective

    pats = ", ".join(f'"{p}"={c}' for p, c in nodes)
    cfg = load_config(ROOT / "experiments" / "blobs_mlp.toml",
                      [parse_override(o) for o in ("model.hidden=[4]", f"replicas.groups={groups}",
                                                   f"replicas.nodes={{{pats}}}", 'replicas.collective="halving_doubling"')])
    sizes = [len(s.copies) for s in replicate(mlp(1), ReplicaSpec(groups=groups, nodes=tuple(nodes))).sync_sets]
    odd = any(k & (k - 1) for k in sizes)
    try:
        check_collective(cfg, None)
    except ConfigError:
        assert odd
    else:
        assert not odd


@settings(max_examples=20, derandomize=True, deadline=None)
@given(hidden=st.integers(1, 2), groups=st.integers(1, 3), nodes=PATTERNS, a=st.integers(0, 80), b=st.integers(0, 80))
def test_keys_of_one_route_class_take_the_same_copies(hidden, groups, nodes, a, b):
    """The replay reuses a recording for every key of its route class (executors/sim/segments.route_class): two keys
    of one class must visit the same copies in the same order, and two of different classes must not."""
    from ampsim.executors.sim.segments import route_class

    rep = replicate(mlp(hidden), ReplicaSpec(groups=groups, nodes=tuple(nodes)))
    x = instance(0).data

    def path(key):
        return [(v.node.name, v.backward) for v in pump(rep.model.graph, rep.model.inject(Instance(key, x)))]

    same = route_class(rep.model.inject, a) == route_class(rep.model.inject, b)
    assert (path(a) == path(b)) == same
