"""Replicas: naming, deterministic routing, equal starting copies, placement of copies, and defaults that
change nothing."""

import re
from pathlib import Path

import numpy as np
import pytest

from ampsim.config import load_config, parse_override
from ampsim.ir.pump import pump
from ampsim.placement import expand_profile, place, profile
from ampsim.planning import plan
from ampsim.replicas import ReplicaSpec, copy_name, replicate

ROOT = Path(__file__).resolve().parents[2]
SMALL = ("data.n_train=40", "data.n_test=8")


def lr_plan(*overrides):
    cfg = load_config(ROOT / "experiments" / "list_reduction.toml", [parse_override(o) for o in (*SMALL, *overrides)])
    return plan(cfg)


def test_defaults_leave_the_model_as_built():
    p = lr_plan()
    assert p.replicas is None and p.sync_sets == []
    model = p.task.model
    rep = replicate(model, ReplicaSpec())
    assert rep.model is model and rep.sync_sets == []


def test_copies_are_named_by_group_and_copy():
    p = lr_plan("replicas.groups=2", 'replicas.nodes={"cell"=3}')
    names = list(p.task.model.graph.nodes)
    assert "g0/cell#0" in names and "g1/cell#2" in names and "g1/cell#3" not in names
    assert p.replicas.copies["cell"] == [[copy_name("cell", g, i, 2, 3) for i in range(3)] for g in range(2)]
    assert {p.replicas.origin(n) for n in names} == set(p.replicas.logical.graph.nodes)


def test_an_instance_runs_in_group_key_mod_groups_on_copy_key_div_groups_mod_copies():
    p = lr_plan("replicas.groups=2", 'replicas.nodes={"cell"=3}')
    model = p.task.model
    for inst in list(p.task.train_instances(1))[:12]:
        visited = {v.node.name for v in pump(model.graph, model.inject(inst))}
        g, c = inst.key % 2, (inst.key // 2) % 3
        assert all(n.startswith(f"g{g}/") for n in visited), (inst.key, visited)
        cells = {n for n in visited if "cell" in n}
        assert cells <= {f"g{g}/cell#{c}"}
        # the same instance again takes the same path: routing depends on the key alone
        again = [v.node.name for v in pump(model.graph, model.inject(inst))]
        assert set(again) == visited


def test_copies_start_equal_and_do_not_share_arrays():
    p = lr_plan("replicas.groups=3")
    nodes = p.task.model.graph.nodes
    for s in p.sync_sets:
        first = s.copies[0]
        for other in s.copies[1:]:
            for k in first.params:
                assert np.array_equal(first.params[k], other.params[k])
                assert not np.shares_memory(first.params[k], other.params[k])
    assert {s.name for s in p.sync_sets} == {n.name for n in p.replicas.logical.graph.param_nodes}
    assert all(nodes[c.name] is c for s in p.sync_sets for c in s.copies)


def test_expanded_profile_shares_each_node_among_its_copies():
    p = lr_plan("replicas.groups=2", 'replicas.nodes={"cell"=2}')
    logical = p.replicas.logical
    prof = profile(logical, list(p.task.train_instances(1))[:4])
    exp = expand_profile(prof, p.replicas.copies)
    for name, groups in p.replicas.copies.items():
        copies = [c for g in groups for c in g]
        assert sum(exp.flops[c] for c in copies) == pytest.approx(prof.flops[name])
    assert sum(exp.edge_bytes.values()) == pytest.approx(sum(prof.edge_bytes.values()))


def test_the_groups_strategy_gives_each_group_its_own_consecutive_chips():
    p = lr_plan("replicas.groups=4", "executor.kind=sim", f"executor.hardware={ROOT / 'hardware_models/torus8x8.toml'}",
                "placement.strategy=groups")
    for g in range(4):
        chips = {c for n, c in p.placement.items() if n.startswith(f"g{g}/")}
        assert chips <= set(range(16 * g, 16 * (g + 1)))
        assert len(chips) == len([n for n in p.placement if n.startswith(f"g{g}/")])  # greedy spreads them


def test_greedy_spreads_copies_over_chips():
    p = lr_plan('replicas.nodes={"cell"=4}', "executor.kind=sim",
                f"executor.hardware={ROOT / 'hardware_models/torus8x8.toml'}", "placement.strategy=greedy")
    assert len({p.placement[f"cell#{i}"] for i in range(4)}) == 4


def test_more_groups_than_chips_is_refused_as_docs_replicas_says():
    """docs/replicas.md said that groups share chips when there are fewer chips than groups; a run refuses that."""
    from ampsim.errors import ConfigError

    line = "replicas.groups: 5 groups but only 4 chip(s) to hold them"
    assert f"(`{line}`)" in (ROOT / "docs" / "replicas.md").read_text().replace("\n", " ")
    with pytest.raises(ConfigError, match=r"^--set replicas\.groups: 5 groups but only 4 chip\(s\) to hold them$"):
        lr_plan("replicas.groups=5", "executor.kind=sim", f"executor.hardware={ROOT / 'hardware_models/ring4.toml'}",
                "placement.strategy=groups")


@pytest.mark.parametrize("host, has", [
    (("hardware.host.cores=0", "hardware.host.controller_s_per_instance=1e-6"), "[host] cores = 0"),
    ((), "no [host] table (or cores = 0 in it)"),
], ids=["cores-0", "no-host"])
def test_the_host_collective_on_a_model_without_host_cores_says_why(host, has):
    """A [host] table whose cores are 0 was said to be no [host] table."""
    from ampsim.errors import ConfigError

    with pytest.raises(ConfigError, match=rf"the model ring4 has {re.escape(has)} \(set host.cores > 0, or use"):
        lr_plan("replicas.groups=2", 'replicas.collective="host"', "executor.kind=sim",
                f"executor.hardware={ROOT / 'hardware_models/ring4.toml'}", *host)


def test_groups_strategy_with_fewer_chips_than_groups_shares_chips():
    p = lr_plan("replicas.groups=3", "executor.kind=sim", f"executor.hardware={ROOT / 'hardware_models/ring4.toml'}")
    model = p.task.model
    groups = [[n for n in model.graph.nodes if n.startswith(f"g{g}/")] for g in range(3)]
    prof = expand_profile(profile(p.replicas.logical, list(p.task.train_instances(1))[:2]), p.replicas.copies)
    mapping = place("groups", model, p.chips[:2], groups=groups, prof=prof)
    # group g starts at chip floor(2 g / 3): 0, 0, 1, each on one chip
    assert [{mapping[n] for n in groups[g]} for g in range(3)] == [{0}, {0}, {1}]


def test_drift_is_not_measured_before_a_round():
    """It read 0.0, as if copies that had trained apart for the whole run had stayed together."""
    from ampsim.executors import make_executor

    p = lr_plan("replicas.groups=2", "replicas.sync_every=99", "train.epochs=1")
    with make_executor(p) as ex:
        ex.train(list(p.task.train_instances(1)))
        summary = ex.summary()
    assert summary["sync_rounds"] == 0 and summary["replica_drift"] is None


@pytest.mark.parametrize("sets, said", [
    (("replicas.sync_every=4",), "replicas.sync_every has nothing to act on: there are no copies"),
    (("replicas.groups=2", 'replicas.sync="none"', "replicas.outer_lr=0.5", "replicas.sparse_sync=true"),
     'replicas.outer_lr, replicas.sparse_sync has nothing to act on: replicas.sync = "none"'),
])
def test_synchronization_keys_where_nothing_synchronizes_say_so(caplog, sets, said):
    """They were accepted and did nothing, without a word. Without copies it is said at INFO (-v): a sweep's
    baseline of one group under the sweep's fixed synchronization settings is no mistake; with sync = "none" a
    warning."""
    with caplog.at_level("INFO"):
        lr_plan(*sets)
    (record,) = [r for r in caplog.records if said in r.getMessage()]
    assert record.levelname == ("INFO" if "no copies" in said else "WARNING")


def test_synchronization_keys_of_copies_that_synchronize_say_nothing(caplog):
    with caplog.at_level("WARNING"):
        lr_plan("replicas.groups=2", "replicas.sync_every=2", "replicas.outer_lr=0.5")
    assert "nothing to act on" not in caplog.text


@pytest.mark.parametrize("executor", ["reference", "sim"])
def test_copies_connected_beyond_the_limit_are_refused_before_they_are_made(tmp_path, capsys, executor):
    """Every copy of a node is connected to every copy of the next: 65,536 copies of each node (within MAX_COPIES; the
    reference executor has no chips to bound them) took memory without end, and 1,024 (4 million connections) seconds
    before anything ran. Refused before any copy is made, saying why; by a sweep's --check too."""
    from ampsim.cli import main
    from ampsim.replicas import MAX_CONNECTIONS

    blobs = ROOT / "experiments" / "blobs_mlp.toml"
    # (1,024 instances in all: each copy sees one, as train.muf asks, checked before)
    sets = ["--set", "data.n_train=64", "--set", "data.batch=1", "--set", "train.epochs=16", "--set", "data.n_test=16",
            "--set", "model.hidden=[8]", "--no-progress",
            "--set", 'replicas.nodes={"*"=1024}', "--set", f"executor.kind={executor}", "--out", tmp_path / "run"]
    if executor == "sim":  # (a machine of enough chips for the copies: else check_names refuses them first)
        sets += ["--hardware", ROOT / "hardware_models" / "hypercube_1024.toml"]
    assert main(["train", str(blobs), *map(str, sets)]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"ampsim: error: {blobs}: replicas: 4,194,304 connections between copies, more than the limit of "
        f"{MAX_CONNECTIONS:,} (in each of 1 group(s), every copy of a node is connected to every copy of the next: "
        "1024 of x to 1024 of fc0 make 1,048,576); give fewer copies"]
    assert not (tmp_path / "run").exists()
    sweep = tmp_path / "s.toml"
    sweep.write_text(f'[sweep]\nexperiment = "{blobs}"\n[fixed]\n"model.hidden" = [8]\n"data.n_train" = 64\n'
                     '"data.batch" = 1\n"train.epochs" = 16\n'
                     '[grid]\n"replicas.nodes" = [{"*" = 2}, {"*" = 1024}]\n')
    assert main(["sweep", str(sweep), "--check", "--out", str(tmp_path / "sw")]) == 2
    assert "point 1 (replicas.nodes={\"*\":1024}): " in capsys.readouterr().err


def test_more_groups_than_instances_are_refused_before_the_copies_are_made(tmp_path, capsys, monkeypatch):
    """65,536 groups of a run of four instances (the reference executor: no chips bound them) were made, 41 s and a
    gigabyte, before train.muf's check refused the copies that would see no instance: it comes before now, and says
    how many copies the run can feed (it said "use at most 0", a muf that does not exist)."""
    from ampsim import replicas
    from ampsim.cli import main

    def refuse(*args, **kwargs):
        raise AssertionError("copies made")

    monkeypatch.setattr(replicas, "copy_names", refuse)  # (what replicate makes every copy from)
    blobs = ROOT / "experiments" / "blobs_mlp.toml"
    assert main(["train", str(blobs), "--no-progress", "--set", "data.n_train=64", "--set", "data.n_test=16",
                 "--set", "model.hidden=[8]", "--set", "train.epochs=1", "--set", "replicas.groups=65536",
                 "--out", str(tmp_path / "run")]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"ampsim: error: {blobs}: train.muf: 1 is more than the 0 instances a copy of a parameterized node sees (1 in "
        "65536 of the run's 4): its parameters would never update; give at most 4 copies in all (replicas.groups x "
        "copies in a group), or the run more instances"]


def test_a_pattern_every_node_of_which_an_earlier_one_took_is_refused(tmp_path, capsys):
    """First match wins: with {"fc*"=2, "fc0"=3} fc0 took 2 copies and the "fc0" entry was ignored without a word
    (a pattern naming no node is refused; one that copies none was not)."""
    from ampsim.cli import main

    blobs = ROOT / "experiments" / "blobs_mlp.toml"
    sets = ["--set", "data.n_train=64", "--set", "data.n_test=8", "--no-progress", "--set",
            'replicas.nodes={"fc*"=2, "fc0"=3}', "--out", tmp_path / "run"]
    assert main(["train", str(blobs), *map(str, sets)]) == 2
    assert capsys.readouterr().err.splitlines() == [
        "ampsim: error: --set replicas.nodes.fc0: copies no node: every node it names (fc0) takes its copies "
        "from the earlier pattern fc* (first match wins; list the narrower pattern first)"]
    assert not (tmp_path / "run").exists()
    # the narrower pattern first is what was meant, and runs
    assert replicate(lr_plan().task.model, ReplicaSpec(nodes=(("cell", 3), ("*", 2)))).copies["cell"] == [
        ["cell#0", "cell#1", "cell#2"]]
