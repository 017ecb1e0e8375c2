"""Hardware TOML → SystemSpec: shipped models, overrides, round trip, and every validation error."""

from __future__ import annotations

import copy
import tomllib
from pathlib import Path

import pytest

from ampsim.errors import ConfigError
from ampsim.hardware.parse import load_system, system_from_dict
from ampsim.hardware.spec import ChipSpec, LinkSpec, SystemSpec

MODELS = sorted((Path(__file__).resolve().parents[2] / "hardware_models").glob("*.toml"))
SRC = "hardware_models/x.toml"


def base() -> dict:
    return {
        "system": {"name": "t", "description": "test", "source": "made up", "switching": "store_and_forward"},
        "chip": {"flops_per_s": 1.0e12, "mem_bandwidth_bytes_per_s": 1.0e11, "overhead_s": 1.0e-6,
                 "compute_units": 1, "memory_bytes": 3.0e8},
        "link": {"latency_s": 1.0e-7, "bandwidth_bytes_per_s": 2.5e10},
        "topology": {"kind": "ring", "n": 4},
    }


def build(**edits) -> SystemSpec:
    """``build(**{"chip.flops_per_s": 2})`` sets dotted keys on base(); value None deletes."""
    d = base()
    for dotted, value in edits.items():
        *parents, last = dotted.split(".")
        t = d
        for p in parents:
            t = t.setdefault(p, {})
        if value is None:
            del t[last]
        else:
            t[last] = value
    return system_from_dict(d, SRC)


def error(**edits) -> str:
    with pytest.raises(ConfigError) as exc:
        build(**edits)
    msg = str(exc.value)
    assert "\n" not in msg and msg.startswith(SRC + ": "), msg
    return msg[len(SRC) + 2:]


def test_at_least_seven_models_shipped():
    assert len(MODELS) >= 7
    names = {p.stem for p in MODELS}
    assert {"ring4", "mesh4x4", "torus8x8", "fc16", "switch64", "hetero_straggler",
            "cpu_2core_paper"} <= names
    assert "torus_32x32" in names or "hypercube_1024" in names


@pytest.mark.parametrize("path", MODELS, ids=lambda p: p.stem)
def test_every_shipped_model_loads_and_cites_a_source(path):
    s = load_system(path)
    assert s.name == path.stem
    assert len(s.source) > 20
    assert s.n_chips == s.topology.n_chips == len(s.chips) >= 2
    assert s.chip(0).flops_per_s > 0


def test_basic_fields_and_defaults():
    d = base()
    del d["system"]["switching"], d["system"]["description"], d["chip"]["compute_units"]
    s = system_from_dict(d, SRC)
    assert s.switching == "store_and_forward" and s.description == "" and not s.measured
    assert s.chip(3) == ChipSpec(1.0e12, 1.0e11, 1.0e-6, 1, 300_000_000)
    assert isinstance(s.chip(0).memory_bytes, int)
    assert s.link == LinkSpec(1.0e-7, 2.5e10)
    with pytest.raises(IndexError):
        s.chip(4)


def test_input_dict_is_not_modified():
    d = base()
    d["chip_override"] = [{"chips": [1], "flops_per_s": 5.0}]
    before = copy.deepcopy(d)
    system_from_dict(d, SRC)
    assert d == before


def test_chip_override_applies_to_exactly_the_named_chips():
    d = base()
    d["chip_override"] = [{"chips": [1, 3], "flops_per_s": 2.5e11},
                          {"chips": [3], "memory_bytes": 10}]
    s = system_from_dict(d, SRC)
    assert s.chip(0) == s.chip(2) == s.chip_default
    assert s.chip(1) == ChipSpec(2.5e11, 1.0e11, 1.0e-6, 1, 300_000_000)
    assert s.chip(3) == ChipSpec(2.5e11, 1.0e11, 1.0e-6, 1, 10)  # later overrides stack


def test_chips_with_equal_specs_share_one_spec_object():
    """An override naming every chip made a spec object per chip (65,536 of them), and build_topology's per-spec
    work grew with the override's breadth: 1.2 s → 2.1 s on a 65,536-chip machine. Specs are interned by value."""
    d = base()
    d["topology"] = {"kind": "switch", "n": 4096}
    d["chip_override"] = [{"chips": list(range(4096)), "flops_per_s": 2.5e11},
                          {"chips": [1, 2], "memory_bytes": 10}, {"chips": [3], "memory_bytes": 10},
                          {"chips": [5], "flops_per_s": 1.0e12},  # back to the default's values
                          {"chips": [7, 8], "compute_table": [{"flops": 1, "bytes": 0, "kernels": 1, "seconds": 1e-6}]},
                          {"chips": [9], "compute_table": [{"flops": 1, "bytes": 0, "kernels": 1, "seconds": 1e-6}]}]
    s = system_from_dict(d, SRC)
    assert s.chip(0).flops_per_s == 2.5e11 and s.chip(0) is s.chip(4095) and s.chip(0) is not s.chip_default
    assert s.chip(1) is s.chip(2) is s.chip(3) and s.chip(1).memory_bytes == 10  # from two overrides: one object
    assert s.chip(5) is s.chip_default
    assert s.chip(7) is s.chip(8) is s.chip(9) and len(s.chip(7).compute_table) == 1
    assert len({id(c) for c in s.chips}) == len(set(s.chips)) == 4


def test_link_override_is_normalised_and_merged():
    d = base()
    d["link_override"] = [{"between": [1, 0], "bandwidth_bytes_per_s": 1.0e9},
                          {"between": [0, 1], "latency_s": 0.0}]
    s = system_from_dict(d, SRC)
    (o,) = s.link_overrides
    assert o.between == (0, 1) and o.bandwidth_bytes_per_s == 1.0e9 and o.latency_s == 0.0


@pytest.mark.parametrize("topology, n_chips", [({"kind": "ring"}, 4), ({"kind": "ring", "n": 8}, 8),
                                              ({"n": 6}, 6), ({"kind": "switch", "n": 3}, 3)])
def test_a_topology_override_of_the_same_kind_keeps_the_other_fields(topology, n_chips):
    """``--set hardware.topology.kind='"ring"'`` on a ring replaced the topology whole: "topology.n: missing
    required field"; only a new kind does (its size fields differ)."""
    s = load_system(MODELS[0].parent / "ring4.toml", {"topology": topology})
    assert (s.topology.kind, s.n_chips) == (topology.get("kind", "ring"), n_chips)


def test_switch_nodes_in_link_override():
    d = base()
    d["topology"] = {"kind": "switch", "n": 4}
    d["link_override"] = [{"between": ["switch0", 2], "bandwidth_bytes_per_s": 1.0e9}]
    assert system_from_dict(d, SRC).link_overrides[0].between == (2, ("switch", 0))


def test_remote_send_fields_default_zero_and_override():
    d = base()
    s = system_from_dict(d, SRC)
    assert s.chip(0).remote_send_overhead_s == 0.0 and s.chip(0).remote_send_s_per_byte == 0.0
    assert "remote_send_overhead_s" not in s.to_dict()["chip"]  # absent when 0: models read as before
    d["chip"]["remote_send_overhead_s"] = 5e-6
    d["chip"]["remote_send_s_per_byte"] = 7e-10
    d["chip_override"] = [{"chips": [2], "remote_send_overhead_s": 0.0}, {"chips": [3], "flops_per_s": 2.0e12}]
    s = system_from_dict(d, SRC)
    assert s.chip(0).remote_send_overhead_s == 5e-6 and s.chip(0).remote_send_s_per_byte == 7e-10
    assert s.chip(2).remote_send_overhead_s == 0.0 and s.chip(2).remote_send_s_per_byte == 7e-10
    assert s.chip(3).remote_send_overhead_s == 5e-6 and s.chip(3).flops_per_s == 2.0e12
    assert system_from_dict(s.to_dict(), "rt") == s


def test_the_completion_latency_defaults_to_zero_and_is_written_only_when_set():
    d = base()
    d["host"] = {"cores": 2, "controller_s_per_instance": 1e-4}
    s = system_from_dict(d, SRC)
    assert s.host.completion_latency_s == 0.0
    assert "completion_latency_s" not in s.to_dict()["host"]  # models without it keep their dict (point ids)
    d["host"]["completion_latency_s"] = 5e-4
    s = system_from_dict(d, SRC)
    assert s.host.completion_latency_s == 5e-4 and s.to_dict()["host"]["completion_latency_s"] == 5e-4
    assert system_from_dict(s.to_dict(), "rt") == s
    # on its own, on a machine with no other [host] field
    only = system_from_dict({**base(), "host": {"completion_latency_s": 1e-3}}, SRC)
    assert only.host.completion_latency_s == 1e-3 and not only.host.shares_cores


@pytest.mark.parametrize("path", MODELS, ids=lambda p: p.stem)
def test_to_dict_round_trips(path):
    s = load_system(path)
    assert system_from_dict(s.to_dict(), "rt") == s


def test_load_system_errors(tmp_path):
    with pytest.raises(ConfigError, match=r"^.*nope\.toml: no such file$"):
        load_system(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[system\nname = 1\n")
    with pytest.raises(ConfigError, match=r"bad\.toml: invalid TOML: "):
        load_system(bad)


def test_explicit_toml_file_error_names_the_file(tmp_path):
    p = tmp_path / "neg.toml"
    text = (MODELS[0].read_text()).replace("\nbandwidth_bytes_per_s = ", "\nbandwidth_bytes_per_s = -1 #", 1)
    assert tomllib.loads(text)
    p.write_text(text)
    with pytest.raises(ConfigError) as exc:
        load_system(p)
    assert str(exc.value) == f"{p}: link.bandwidth_bytes_per_s: must be > 0, got -1"


@pytest.mark.parametrize("edits, expected", [
    ({"link.bandwidth_bytes_per_s": -1}, "link.bandwidth_bytes_per_s: must be > 0, got -1"),
    ({"chip.flops_per_s": 0}, "chip.flops_per_s: must be > 0, got 0"),
    ({"chip.mem_bandwidth_bytes_per_s": float("inf")}, "chip.mem_bandwidth_bytes_per_s: must be finite, got inf"),
    ({"chip.overhead_s": -1e-6}, "chip.overhead_s: must be >= 0, got -1e-06"),
    ({"chip.remote_send_overhead_s": -1e-6}, "chip.remote_send_overhead_s: must be >= 0, got -1e-06"),
    ({"chip.remote_send_s_per_byte": "x"}, "chip.remote_send_s_per_byte: expected a number, got string 'x'"),
    ({"link.latency_s": -0.5}, "link.latency_s: must be >= 0, got -0.5"),
    ({"chip.memory_bytes": 0}, "chip.memory_bytes: must be >= 1, got 0"),
    ({"chip.memory_bytes": 1.5}, "chip.memory_bytes: expected an integer, got float 1.5"),
    ({"chip.compute_units": 2.0}, "chip.compute_units: expected an integer, got float 2.0"),
    ({"chip.flops_per_s": "fast"}, "chip.flops_per_s: expected a number, got string 'fast'"),
    ({"chip.flops_per_s": True}, "chip.flops_per_s: expected a number, got boolean True"),
    ({"chip.flops_per_s": None}, "chip.flops_per_s: missing required field"),
    ({"link.latency_s": None}, "link.latency_s: missing required field"),
    ({"chip.flop_per_s": 1.0}, "chip.flop_per_s: unknown key (known: flops_per_s, "
     "mem_bandwidth_bytes_per_s, overhead_s, compute_units, memory_bytes, kernel_overhead_s, remote_send_overhead_s, "
     "remote_send_s_per_byte, remote_receive_overhead_s, frame_send_overhead_s, frame_receive_overhead_s, coalesce_window_s, wake_overhead_s, spin_s, poll_interval_s, contention_slowdown, compute_table); did you mean 'flops_per_s'?"),
    ({"chips": {}}, "chips: unknown key (known: system, chip, link, host, topology, chip_override, "
     "link_override); did you mean 'chip'?"),
    ({"host.cores": -1}, "host.cores: must be >= 0, got -1"),
    ({"host.cores": 1.5}, "host.cores: expected an integer, got float 1.5"),
    ({"host.controller_s_per_instance": -1e-6}, "host.controller_s_per_instance: must be >= 0, got -1e-06"),
    ({"host.core": 2}, "host.core: unknown key (known: cores, controller_s_per_instance, "
     "controller_s_per_message, controller_s_per_sync_byte, completion_latency_s); did you mean 'cores'?"),
    ({"host.completion_latency_s": -1e-3}, "host.completion_latency_s: must be >= 0, got -0.001"),
    ({"host": 2}, "host: expected a table, got integer"),
    ({"system.source": None}, "system.source: missing required field"),
    ({"system.name": ""}, "system.name: must not be empty"),
    ({"system.measured": "yes"}, "system.measured: expected true or false, got string 'yes'"),
    ({"system.switching": "wormhole"},
     "system.switching: must be one of store_and_forward, cut_through, got 'wormhole'"),
    ({"link": None}, "link: missing required table"),
    ({"chip": [1]}, "chip: expected a table, got array"),
    ({"topology.kind": "dragonfly"}, "topology.kind: unknown kind 'dragonfly' (expected one of: ring, "
     "mesh2d, torus2d, torus3d, fully_connected, switch, hypercube, tree, explicit)"),
    ({"topology.shape": [2, 2]}, "topology.shape: not a parameter of kind 'ring' (expected: n)"),
    ({"topology.n": None}, "topology.n: missing required field for kind 'ring'"),
    ({"topology.n": 2}, "topology.n: must be >= 3, got 2"),
    ({"topology.n": 4.0}, "topology.n: expected an integer, got float 4.0"),
])
def test_validation_errors(edits, expected):
    assert error(**edits) == expected


@pytest.mark.parametrize("topology, expected", [
    ({"kind": "torus2d", "shape": [2, 4]}, "topology.shape: every size must be >= 3 for torus2d, got [2, 4]"),
    ({"kind": "torus3d", "shape": [4, 4]}, "topology.shape: expected 3 integers for torus3d, got [4, 4]"),
    ({"kind": "hypercube", "dim": 20}, "topology: hypercube topology has 1048576 chips, more than the limit of 65536"),
    # beyond 2**62 the count is shown as a power (it said 4611686018427387904 chips of a tree of height 100)
    ({"kind": "hypercube", "dim": 100}, "topology: hypercube topology has 2**100 chips, more than the limit of 65536"),
    ({"kind": "tree", "branching": 2, "height": 100}, "topology: tree topology has 2**100 chips, more than the limit of 65536"),
    ({"kind": "explicit", "edges": [[0, 1]], "n": 10**9},
     "topology: explicit topology has 1000000000 chips, more than the limit of 65536"),
    ({"kind": "tree", "branching": 1, "height": 2}, "topology.branching: must be >= 2, got 1"),
    ({"kind": "explicit", "edges": [[0, 1], [1, 2], [5, 6]]},
     "topology.edges: disconnected: chips {3, 4, 5, 6} unreachable from chip 0"),
    ({"kind": "explicit", "edges": [[0, 1], [1, 2], [2, 3], [5, 6], [4, 2]]},
     "topology.edges: disconnected: chips {5, 6} unreachable from chip 0"),
    ({"kind": "explicit", "edges": [[0, 1]], "n": 3}, "topology.edges: disconnected: chips {2} unreachable from chip 0"),
    ({"kind": "explicit", "edges": [[0, 3]], "n": 3}, "topology.edges: names chip 3 but topology.n = 3"),
    ({"kind": "explicit", "edges": [[0, 1], [1, 0]]}, "topology.edges[1]: duplicate link [1, 0]"),
    ({"kind": "explicit", "edges": [[0, 1], [1, 1]]}, "topology.edges[1]: self-loop on chip 1"),
    ({"kind": "explicit", "edges": [[0, -1]]}, "topology.edges[0]: expected [a, b] with chip indices >= 0, got [0, -1]"),
])
def test_topology_errors(topology, expected):
    assert error(topology=topology) == expected


@pytest.mark.parametrize("override, expected", [
    ({"chips": [4], "flops_per_s": 1.0}, "chip_override[0].chips: no chip 4 (chips are 0..3)"),
    ({"chips": [], "flops_per_s": 1.0}, "chip_override[0].chips: expected a non-empty array of chip indices, got []"),
    ({"chips": [1]}, "chip_override[0]: overrides no field (give one of: flops_per_s, mem_bandwidth_bytes_per_s, "
     "overhead_s, compute_units, memory_bytes, kernel_overhead_s, remote_send_overhead_s, remote_send_s_per_byte, "
     "remote_receive_overhead_s, frame_send_overhead_s, frame_receive_overhead_s, coalesce_window_s, wake_overhead_s, spin_s, poll_interval_s, contention_slowdown, compute_table)"),
    ({"chips": [1], "flops_per_s": -2.0}, "chip_override[0].flops_per_s: must be > 0, got -2.0"),
    ({"chips": [1], "speed": 2}, "chip_override[0].speed: unknown key (known: chips, flops_per_s, "
     "mem_bandwidth_bytes_per_s, overhead_s, compute_units, memory_bytes, kernel_overhead_s, remote_send_overhead_s, "
     "remote_send_s_per_byte, remote_receive_overhead_s, frame_send_overhead_s, frame_receive_overhead_s, coalesce_window_s, wake_overhead_s, spin_s, poll_interval_s, contention_slowdown, compute_table)"),
])
def test_chip_override_errors(override, expected):
    assert error(chip_override=[override]) == expected


@pytest.mark.parametrize("override, expected", [
    ({"between": [0, 2], "latency_s": 1.0}, "link_override[0].between: no link between chip 0 and chip 2 in this ring topology"),
    ({"between": [0, 9], "latency_s": 1.0}, "link_override[0].between: no chip 9 (chips are 0..3)"),
    ({"between": [0, "switch0"], "latency_s": 1.0},
     "link_override[0].between: no switch 'switch0' in a ring topology (switches: none)"),
    ({"between": [0], "latency_s": 1.0}, "link_override[0].between: expected [a, b] (chip integers or \"switchK\"), got [0]"),
    ({"between": [0, 1], "bandwidth_bytes_per_s": 0}, "link_override[0].bandwidth_bytes_per_s: must be > 0, got 0"),
    ({"between": [0, 1]}, "link_override[0]: overrides no field (give one of: latency_s, bandwidth_bytes_per_s)"),
])
def test_link_override_errors(override, expected):
    assert error(link_override=[{"between": [0, 1], "latency_s": 0.0}, override]).replace(
        "link_override[1]", "link_override[0]") == expected


def test_override_tables_must_be_arrays_of_tables():
    assert error(chip_override={"chips": [0]}) == (
        "chip_override: expected an array of tables ([[chip_override]]), got table")


@pytest.mark.parametrize("overrides, warned", [
    # the file's straggler (chip 3) and slow link went without a word when an experiment added an override
    ({"chip_override": [{"chips": [0], "overhead_s": 2e-6}]}, "hardware.chip_override (from x.toml) replaces"),
    ({"link_override": [{"between": [1, 2], "latency_s": 2e-6}]}, "hardware.link_override (from x.toml) replaces"),
    ({"chip": {"overhead_s": 2e-6}}, None),  # a table merges: the file's overrides stay
    ({"chip_override": [{"chips": [3], "flops_per_s": 6.25e13, "mem_bandwidth_bytes_per_s": 1.1875e13}]}, None),
])
def test_an_override_array_that_replaces_the_files_is_warned_of(caplog, overrides, warned):
    path = next(m for m in MODELS if m.name == "hetero_straggler.toml")
    with caplog.at_level("WARNING", logger="ampsim.hardware.parse"):
        load_system(path, overrides, overridden_by="x.toml")
    assert [r.getMessage().split(": ", 1)[1][:len(warned or "")] for r in caplog.records] == ([warned] if warned else [])
