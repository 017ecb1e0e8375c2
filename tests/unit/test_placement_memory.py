"""The placement strategies respect each chip's memory on the simulator: a node's parameters and counted
optimizer state (what a chip holds from t=0) go only where they fit, a node that fits nowhere is one line
before the run, and a placement that fits is the one made without looking at memory."""

from __future__ import annotations

import itertools
import json
import time
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from ampsim.cli import main
from ampsim.config import load_config
from ampsim.errors import ConfigError, NoRoom
from ampsim.hardware.spec import ChipSpec
from ampsim.models.mlp import build_mlp
from ampsim.placement import Profile, place, resident_bytes
from ampsim.placement.packing import search

ROOT = Path(__file__).resolve().parents[2]
BLOBS = ROOT / "experiments" / "blobs_mlp.toml"
MNIST = ROOT / "experiments" / "mnist_mlp.toml"
MESH3X3 = """[system]
name = "mesh3x3"
source = "tests: the mesh4x4 model's chips and links on a 3x3 mesh, 400 MB a chip"
measured = false
[chip]
flops_per_s = 4.7e14
mem_bandwidth_bytes_per_s = 1.25e15
overhead_s = 1.0e-7
compute_units = 1
memory_bytes = 4e8
[link]
latency_s = 2.3e-7
bandwidth_bytes_per_s = 1.9e12
[topology]
kind = "mesh2d"
shape = [3, 3]
"""
#: the audit's machine: chips 0-5 of the 3x3 mesh with 200 kB, too little for a 256x256 layer's 263 kB
SMALL_CHIPS = "hardware.chip_override=[{chips=[0,1,2,3,4,5], memory_bytes=200000}]"
PROFILED = ("greedy", "min_cut", "groups")


@pytest.fixture
def mesh(tmp_path) -> Path:
    path = tmp_path / "mesh3x3.toml"
    path.write_text(MESH3X3)
    return path


def params_per_chip(run: Path, cfg_path: Path, overrides: list[tuple[str, object]]) -> dict[int, int]:
    """The resident bytes the run's placement puts on each chip, from its placement.json."""
    from ampsim.models import build_task
    from ampsim.planning import configure_params

    cfg = load_config(cfg_path, overrides)
    task = build_task(cfg)
    configure_params(cfg, task)
    resident = resident_bytes(task.model)
    mapping = json.loads((run / "placement.json").read_text())["strategy_output"]
    out: dict[int, int] = {}
    for name, chip in mapping.items():
        out[chip] = out.get(chip, 0) + resident.get(name, 0)
    return out


@pytest.mark.data
@pytest.mark.parametrize("strategy", ["greedy", "min_cut", "round_robin", "groups"])
def test_the_audits_mnist_case_places_around_the_small_chips_and_runs(data_root, mesh, tmp_path, strategy,
                                                                      monkeypatch):
    """The audit: MNIST's MLP on a 3x3 mesh whose chips 0-5 hold 200 kB ran out of memory at t=0 on chip 0 or
    1 under every automatic strategy (803,840 bytes of fc0 there) while chips 6-8 had 400 MB free."""
    monkeypatch.setenv("AMPSIM_DATA", str(data_root))
    small = ["data.limit_train=320", "data.limit_test=64", "train.epochs=1"]
    argv = ["train", str(MNIST), "--hardware", str(mesh), "--no-progress", "--out", str(tmp_path / "run"),
            "--set", f'placement.strategy="{strategy}"', "--set", SMALL_CHIPS]
    assert main([*argv, *(a for s in small for a in ("--set", s))]) == 0
    held = params_per_chip(tmp_path / "run", MNIST, [("data.limit_train", 320)])
    assert all(held.get(c, 0) <= 200_000 for c in range(6)), held
    assert held.get(6, 0) + held.get(7, 0) + held.get(8, 0) >= 803_840 + 2 * 263_168  # fc0, fc1, fc2


@pytest.mark.parametrize("strategy", ["greedy", "min_cut", "round_robin", "groups"])
def test_blobs_with_wide_layers_place_around_the_small_chips_and_run(mesh, tmp_path, strategy):
    """The audit's case without data: blobs with 256-wide layers (fc1 and fc2: 263,168 bytes each)."""
    argv = ["train", str(BLOBS), "--hardware", str(mesh), "--no-progress", "--out", str(tmp_path / "run"),
            "--set", f'placement.strategy="{strategy}"', "--set", SMALL_CHIPS, "--set", "model.hidden=[256,256,256]",
            "--set", "data.n_train=64", "--set", "data.n_test=32", "--set", "train.epochs=1"]
    assert main(argv) == 0
    held = params_per_chip(tmp_path / "run", BLOBS, [("model.hidden", [256, 256, 256])])
    assert all(held.get(c, 0) <= 200_000 for c in range(6)), held


@pytest.mark.parametrize("strategy, memory, words", [
    ("greedy", "hardware.chip.memory_bytes=200000",
     "greedy finds no chip with room for node fc1 (263,168 bytes of parameters and optimizer state): more than "
     "the memory_bytes of any of chips 0..8 (at most 200,000, set by --set hardware.chip.memory_bytes); give the "
     "chips more memory"),
    ("round_robin", "hardware.chip.memory_bytes=200000", "round_robin finds no chip with room for node fc1 "),
    ("min_cut", "hardware.chip.memory_bytes=200000", "min_cut finds no chip with room for node fc1 "),
    # ten 256x256 layers (263,168 bytes each) on nine chips of 300 kB: each fits a chip alone, the tenth
    # finds the nine taken
    ("greedy", "hardware.chip.memory_bytes=300000",
     "chips 0..8 have at most 36,832 bytes free (chip 0: its memory_bytes, set by --set hardware.chip.memory_bytes, "
     "less the nodes placed on it before); use more chips, chips with more memory, or an explicit placement.map"),
])
def test_a_node_that_fits_on_no_chip_is_one_line_before_the_run(mesh, tmp_path, capsys, strategy, memory, words):
    hidden = "[256,256,256]" if memory.endswith("200000") else "[" + ",".join(["256"] * 11) + "]"
    argv = ["train", str(BLOBS), "--hardware", str(mesh), "--no-progress", "--out", str(tmp_path / "run"),
            "--set", f'placement.strategy="{strategy}"', "--set", memory, "--set", f"model.hidden={hidden}",
            "--set", "data.n_train=64", "--set", "data.n_test=32", "--set", "train.epochs=1"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    # (the strategy is the --set's, not the file's)
    assert lines[0].startswith("ampsim: error: --set placement.strategy: ") and words in lines[0], lines[0]
    assert not (tmp_path / "run").exists()


def test_the_multicore_workers_place_without_memory(tmp_path):
    """Nothing accounts a worker's memory, so its pseudo-chips' memory_bytes never turned a placement away and
    must not now."""
    from ampsim.models import build_task
    from ampsim.planning import configure_params, place_task

    cfg = load_config(BLOBS, [("executor.kind", "multicore"), ("executor.workers", 2),
                              ("placement.strategy", "greedy"), ("model.hidden", [256, 256])])
    task = build_task(cfg)
    configure_params(cfg, task)
    tiny = ChipSpec(1e9, 1e9, 0.0, 1, 1)
    mapping, _ = place_task(cfg, task, (tiny, tiny))
    assert set(mapping) == set(task.model.graph.nodes)


def test_resident_bytes_are_what_the_simulator_charges_each_chip_at_the_start(mesh):
    """The strategies weigh what the simulator counts at t=0: parameters and, counted, Adam's two slots."""
    import ampsim

    cfg = ampsim.load_experiment(BLOBS, {"executor.kind": "sim", "executor.hardware": str(mesh),
                                         "train.count_optimizer_state": True, "placement.strategy": "greedy"})
    p = ampsim.plan(cfg)
    ex = ampsim.make_executor(p)
    try:
        resident = resident_bytes(p.task.model)
        expected = [sum(resident.get(n, 0) for n, c in p.placement.items() if c == i) for i in range(9)]
        assert [chip.param_bytes for chip in ex.chips] == expected
        assert resident["fc0"] == 3 * (16 * 64 + 64) * 4  # the weights and bias, and Adam's two slots
    finally:
        getattr(ex, "close", lambda: None)()


@given(widths=st.lists(st.integers(1, 40), min_size=1, max_size=6),
       memories=st.lists(st.integers(1, 12_000), min_size=1, max_size=7),
       speeds=st.lists(st.sampled_from([1e9, 2e9, 4e9]), min_size=7, max_size=7),
       strategy=st.sampled_from(["round_robin", "greedy", "min_cut", "groups"]), groups=st.integers(1, 2))
def test_a_placement_that_fits_is_unchanged_and_one_that_does_not_is_moved_or_refused(widths, memories, speeds,
                                                                                       strategy, groups):
    m = build_mlp(8, widths, 3, seed=0)
    chips = [ChipSpec(s, s, 0.0, 1, mem) for s, mem in zip(speeds, memories)]
    prof = Profile.uniform(m.graph.nodes)
    for node in m.graph.nodes:  # uneven work and traffic, so the strategies do not place by ties alone
        prof.flops[node] = 1.0 + len(node) * 7 % 5
    names = list(m.graph.nodes)
    for a, b in zip(names, names[1:]):
        prof.edge_bytes[a, b] = float(1 + len(a) * len(b))
    resident = resident_bytes(m)
    members = [names] if groups == 1 or strategy != "groups" else [names[::2], names[1::2]]
    blind = place(strategy, m, chips, prof=prof, groups=members)
    held = [0] * len(chips)
    for name, c in blind.items():
        held[c] += resident.get(name, 0)
    fits = all(h <= chip.memory_bytes for h, chip in zip(held, chips))
    try:
        aware = place(strategy, m, chips, prof=prof, groups=members, resident=resident)
    except ConfigError as err:
        assert not fits, err
        assert "finds no chip with room for node" in str(err)
        return
    assert list(aware) == names
    if fits:
        assert aware == blind
    held = [0] * len(chips)
    for name, c in aware.items():
        held[c] += resident.get(name, 0)
    assert all(h <= chip.memory_bytes for h, chip in zip(held, chips))


def test_a_group_keeps_to_its_own_chips_and_the_error_names_them():
    """``groups``: group 1 on chips 2..3 has no room for a layer although chips 0..1 (group 0's) would."""
    m = build_mlp(8, [100], 3, seed=0)  # fc0: 3,600 bytes, fc1: 1,212
    big, small = ChipSpec(1e9, 1e9, 0.0, 1, 10_000), ChipSpec(1e9, 1e9, 0.0, 1, 2_000)
    names = list(m.graph.nodes)
    prof = Profile.uniform(names)
    groups = [names, []]
    with pytest.raises(ConfigError, match=r"groups finds no chip with room for node fc0 \(3,600 bytes"):
        place("groups", m, [small, small, big, big], prof=prof, groups=groups, resident=resident_bytes(m))
    groups = [[], names]
    err = "more than the memory_bytes of any of chips 2..3 \\(at most 2,000\\); give the chips more memory"
    with pytest.raises(ConfigError, match=err):
        place("groups", m, [big, big, small, small], prof=prof, groups=groups, resident=resident_bytes(m))
    assert set(place("groups", m, [small, small, big, big], prof=prof, groups=[[], names],
                     resident=resident_bytes(m)).values()) <= {2, 3}


@pytest.mark.parametrize("strategy", ["round_robin", "greedy", "min_cut", "groups"])
def test_a_node_larger_than_every_chip_is_the_one_refused(strategy):
    """Layers of 160, 160, 160 and 300 bytes on two chips of 299: placed in turn, fc2 found both chips holding a
    160-byte layer and was the one refused ("chips 0..1 have at most 139 bytes free ...; use more chips"), advice
    that cannot help fc3, which fits on no chip of 299 bytes. The line names fc3 and asks for more memory."""
    m = build_mlp(4, [8, 8, 8], 2, seed=0)
    chips = [ChipSpec(1e9, 1e9, 0.0, 1, 299)] * 2
    with pytest.raises(NoRoom) as refused:
        place(strategy, m, chips, prof=Profile.uniform(m.graph.nodes), source="exp.toml",
              resident={"fc0": 160, "fc1": 160, "fc2": 160, "fc3": 300})
    assert str(refused.value) == (
        f"exp.toml: placement.strategy: {strategy} finds no chip with room for node fc3 (300 bytes of parameters and "
        "optimizer state): more than the memory_bytes of any of chips 0..1 (at most 299); give the chips more memory")
    assert refused.value.where["node"] == "fc3"


def test_one_chip_too_small_is_named_as_one():
    """"any of chips 0..0" for a machine of one chip."""
    m = build_mlp(4, [4], 2, seed=0)
    with pytest.raises(NoRoom, match=r"fc0 \(11 bytes of parameters and optimizer state\): more than the memory_bytes "
                                     r"of chip 0 \(at most 10\); give the chips more memory$"):
        place("round_robin", m, [ChipSpec(1e9, 1e9, 0.0, 1, 10)], resident={"fc0": 11, "fc1": 1})


def test_groups_that_leave_a_node_out_or_name_one_twice_are_refused_by_name():
    """A direct caller's groups missing a node raised KeyError: 'fc0' from the strategy's last line."""
    m = build_mlp(4, [4], 2, seed=0)
    chips = [ChipSpec(1e9, 1e9, 0.0, 1, 10**9)] * 2
    names = list(m.graph.nodes)
    for groups in ([["x"]], [names[:1]], [names, names[:1]]):
        with pytest.raises(ValueError, match=r"placement groups: each of the model's \d+ nodes in exactly one group"):
            place("groups", m, chips, prof=Profile.uniform(m.graph.nodes), groups=groups)
    assert set(place("groups", m, chips, prof=Profile.uniform(m.graph.nodes), groups=[names[:2], names[2:]])) == set(names)


def test_greedy_weighs_a_chip_of_several_units_by_what_they_do_together():
    """Two chips of the same rates, one of them in 4 units (each at a quarter of the rate, 4 messages at once):
    greedy loaded the 4-unit chip as one unit of a quarter the speed, 3 of 15 nodes against 12."""
    m = build_mlp(4, [8] * 6, 2, seed=0)
    one, four = ChipSpec(1e9, 1e9, 0.0, 1, 10**9), ChipSpec(1e9, 1e9, 0.0, 4, 10**9)
    got = place("greedy", m, [one, four], prof=Profile.uniform(m.graph.nodes))
    on = [sum(1 for c in got.values() if c == i) for i in (0, 1)]
    assert abs(on[0] - on[1]) <= 1, on


def _packs(resident: dict[str, int], memory: list[int]) -> bool:
    """Whether some assignment of the nodes to the chips keeps every chip within its memory (all of them
    enumerated: the instances here are small)."""
    needs = list(resident.values())
    return any(all(sum(need for need, c in zip(needs, chips) if c == chip) <= mem for chip, mem in enumerate(memory))
               for chips in itertools.product(range(len(memory)), repeat=len(needs)))


def test_greedy_packs_what_longest_first_spreads_out_of_room(caplog):
    """Two chips of 100 bytes, layers of 60, 40, 40, 30 and 30 bytes whose work follows their size: longest
    first spread them 60 | 40 + 40, then 30 on chip 0 and found no room for the last 30; packed 60 + 40 |
    40 + 30 + 30 they fit, and the plan went on instead of refusing the model."""
    m = build_mlp(4, [8, 8, 8, 8], 2, seed=0)
    resident = {"fc0": 60, "fc1": 40, "fc2": 40, "fc3": 30, "fc4": 30}
    prof = Profile.uniform(m.graph.nodes)
    for name, need in resident.items():
        prof.flops[name] = 100.0 * need
    chips = [ChipSpec(1e9, 1e9, 0.0, 1, 100)] * 2
    assert place("greedy", m, chips, prof=prof) == {
        "x": 0, "fc0": 0, "relu0": 0, "fc1": 1, "relu1": 0, "fc2": 1, "relu2": 0, "fc3": 0, "relu3": 0, "fc4": 1,
        "loss": 0}  # (the spread, with fc4 on chip 1: 110 bytes)
    with caplog.at_level("WARNING", logger="ampsim.placement.strategies"):
        mapping = place("greedy", m, chips, prof=prof, resident=resident, source="exp.toml")
    held = [sum(need for name, need in resident.items() if mapping[name] == c) for c in (0, 1)]
    assert held == [100, 100] and mapping["fc0"] == mapping["fc1"] == 0, mapping
    assert list(mapping) == list(m.graph.nodes)
    assert "exp.toml: placement.strategy: greedy, longest first, leaves node fc4 no room on chips 0..1" in caplog.text
    # in a group's run of chips, which keeps to them and leaves the other group's chip as it was
    groups = [["x", "loss"], [n for n in m.graph.nodes if n not in ("x", "loss")]]
    mapping = place("groups", m, [ChipSpec(1e9, 1e9, 0.0, 1, 0), *chips], prof=prof, groups=groups,
                    resident=resident)
    assert {mapping[name] for name in resident} == {1, 2} and mapping["fc0"] == mapping["fc1"] == 1, mapping


@given(needs=st.lists(st.integers(1, 60), min_size=1, max_size=6),
       memories=st.lists(st.integers(1, 150), min_size=1, max_size=4),
       speeds=st.lists(st.sampled_from([1e9, 2e9, 4e9]), min_size=4, max_size=4),
       work=st.lists(st.integers(1, 9), min_size=13, max_size=13))
@example(needs=[5, 4, 4, 3, 2, 2], memories=[10, 10], speeds=[1e9] * 4, work=[1] * 13)  # (first-fit decreasing's miss)
def test_greedy_refuses_only_what_no_packing_fits(needs, memories, speeds, work):
    m = build_mlp(4, [4] * (len(needs) - 1), 2, seed=0)
    resident = {f"fc{i}": need for i, need in enumerate(needs)}
    prof = Profile.uniform(m.graph.nodes)
    for node, w in zip(m.graph.nodes, work):
        prof.flops[node] = float(w)
    chips = [ChipSpec(s, s, 0.0, 1, mem) for s, mem in zip(speeds, memories)]
    try:
        mapping = place("greedy", m, chips, prof=prof, resident=resident)
    except ConfigError as err:
        assert not _packs(resident, memories), err
        assert "gave up" not in str(err)  # (six nodes: the search never runs out)
        assert len(str(err).splitlines()) == 1
        return
    held = [0] * len(chips)
    for name, c in mapping.items():
        held[c] += resident.get(name, 0)
    assert all(h <= mem for h, mem in zip(held, memories)), (mapping, held)


def _uniform_greedy(needs: list[int], memory: list[int], **kw) -> dict[str, int]:
    """``greedy`` on an MLP whose layers hold ``needs`` bytes (fc0, fc1, ...), of equal work, on chips of
    ``memory`` bytes."""
    m = build_mlp(4, [4] * (len(needs) - 1), 2, seed=0)
    resident = {f"fc{i}": need for i, need in enumerate(needs)}
    chips = [ChipSpec(1e9, 1e9, 0.0, 1, mem) for mem in memory]
    return place("greedy", m, chips, prof=Profile.uniform(m.graph.nodes), resident=resident, source="exp.toml", **kw)


def test_greedy_finds_the_packing_that_largest_first_misses(caplog):
    """Layers of 5, 4, 4, 3, 2 and 2 bytes on two chips of 10: longest first left fc5 no room, and so did first-fit
    decreasing (5 + 4 | 4 + 3 + 2, then 2 nowhere), and the model was refused although 5 + 3 + 2 | 4 + 4 + 2 fit."""
    needs = [5, 4, 4, 3, 2, 2]
    with caplog.at_level("WARNING", logger="ampsim.placement.strategies"):
        mapping = _uniform_greedy(needs, [10, 10])
    held = [sum(need for i, need in enumerate(needs) if mapping[f"fc{i}"] == c) for c in (0, 1)]
    assert held == [10, 10], mapping
    assert "greedy, longest first, leaves node fc5 no room on chips 0..1; their parameters are packed as a search " \
           "found (9 steps; largest first fails too) instead" in caplog.text
    # in a group's run of chips (1..2), the chip before it (another group's, full) left as it was
    m = build_mlp(4, [4] * 5, 2, seed=0)
    groups = [["x", "loss"], [n for n in m.graph.nodes if n not in ("x", "loss")]]
    chips = [ChipSpec(1e9, 1e9, 0.0, 1, mem) for mem in (0, 10, 10)]
    mapping = place("groups", m, chips, prof=Profile.uniform(m.graph.nodes), groups=groups,
                    resident={f"fc{i}": need for i, need in enumerate(needs)})
    held = [sum(need for i, need in enumerate(needs) if mapping[f"fc{i}"] == c) for c in (0, 1, 2)]
    assert held == [0, 10, 10], mapping


def test_greedy_still_refuses_what_no_packing_fits_in_the_same_words():
    """Layers of 2, 4, ..., 28 bytes (210 in all, every sum of them even) on two chips of 105: no packing, which the
    search proves, and the refusal is longest first's, as before the search."""
    with pytest.raises(NoRoom) as refused:
        _uniform_greedy(list(range(2, 30, 2)), [105, 105])
    assert str(refused.value) == (
        "exp.toml: placement.strategy: greedy finds no chip with room for node fc13 (28 bytes of parameters and "
        "optimizer state): chips 0..1 have at most 15 bytes free (chip 1: its memory_bytes less the nodes placed on "
        "it before); use more chips, chips with more memory, or an explicit placement.map")


def test_a_search_that_runs_out_of_tries_refuses_quickly_and_says_so():
    """Layers of 2, 4, ..., 60 bytes on two chips of 465: no packing either, but proving it would take the search
    some 2^30 tries; it stops at its budget and the refusal says that a packing may exist."""
    start = time.perf_counter()
    with pytest.raises(NoRoom) as refused:
        _uniform_greedy(list(range(2, 62, 2)), [465, 465])
    assert time.perf_counter() - start < 20  # (some tenths of a second alone; the host may be busy)
    line = str(refused.value)
    assert "\n" not in line and line.startswith("exp.toml: placement.strategy: greedy finds no chip with room for node ")
    assert line.endswith("; use more chips, chips with more memory, or an explicit placement.map; a search for a "
                         "packing that fits gave up after 500,000 steps, before it found one or proved there is "
                         "none"), line
    assert refused.value.where["node"] in line  # (a sweep records it as out of memory, as before)


@given(needs=st.lists(st.integers(0, 40), min_size=1, max_size=7),
       free=st.lists(st.integers(0, 80), min_size=1, max_size=4))
def test_the_search_finds_a_packing_wherever_one_exists(needs, free):
    found = search(needs, free)
    assert not found.cut
    assert (found.chips is not None) == _packs(dict(enumerate(needs)), free)
    if found.chips is not None:
        assert all(sum(n for n, c in zip(needs, found.chips) if c == chip) <= f for chip, f in enumerate(free))


TWO_CHIPS = MESH3X3.replace('name = "mesh3x3"', 'name = "two"').replace(
    'kind = "mesh2d"\nshape = [3, 3]', 'kind = "fully_connected"\nn = 2')


def test_the_blobs_mlp_that_greedy_refused_on_two_small_chips_is_planned(tmp_path):
    """The audit's case: six layers of 10,880, 30,912, 4,704, 12,800, 28,896 and 912 bytes on two chips of
    46,000 bytes, 89,104 in all: longest first refused fc2 ("chips 0..1 have at most 4,304 bytes free"),
    packed largest first they fit with 1,376 and 1,520 bytes to spare."""
    import ampsim

    hardware = tmp_path / "two.toml"
    hardware.write_text(TWO_CHIPS)
    cfg = ampsim.load_experiment(BLOBS, {"executor.kind": "sim", "executor.hardware": str(hardware),
                                         "placement.strategy": "greedy", "model.hidden": [160, 48, 24, 128, 56],
                                         "hardware.chip.memory_bytes": 46_000, "data.n_train": 64,
                                         "data.n_test": 32})
    p = ampsim.plan(cfg)
    resident = resident_bytes(p.task.model)
    held = [sum(need for name, need in resident.items() if p.placement[name] == c) for c in (0, 1)]
    assert sum(held) == 89_104 and max(held) <= 46_000, held


def test_a_refused_greedy_leaves_the_room_as_it_found_it():
    """Where the packing largest first fails too, greedy's refusal stands and the room is as before it: the
    packing had taken the bytes of the nodes it placed before the one it found no chip for."""
    from ampsim.placement.memory import Room
    from ampsim.placement.strategies import _greedy

    m = build_mlp(4, [8, 8], 2, seed=0)
    chips = [ChipSpec(1e9, 1e9, 0.0, 1, 100)] * 2
    room = Room(chips, {"fc0": 90, "fc1": 90, "fc2": 90}, "exp.toml", "greedy")
    with pytest.raises(ConfigError, match="fc"):
        _greedy(list(m.graph.nodes), chips, Profile.uniform(m.graph.nodes), room)
    assert room.free == [100, 100]
