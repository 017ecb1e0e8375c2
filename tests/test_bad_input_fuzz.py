"""Bad input, generated: hypothesis mutates valid experiment, hardware and sweep files (and ``--set`` values) one
field, or a few, at a time and runs the CLI in this process on each. Whatever the mutation, the outcome is exit
status 0 or exit status 2 with exactly one stderr line ``ampsim: error: …``: never a traceback, never a hang.

tests/test_bad_input.py holds the cases found by hand, each with its message; this module is the systematic sweep
over the field declarations (:mod:`ampsim.sections`, the tasks' schemas, :mod:`ampsim.hardware.spec`'s keys, the
sweep file's tables): every field set to a value of each wrong kind (text, empty or very long; negative, zero,
huge, nan and inf; an array, a table, a boolean), required fields left out, unknown keys added, a section that is
no table. The runs are tiny (blobs, a few instances, one epoch; a replay on the Python loop, not the compiled one,
whose first compilation takes minutes) and the examples derandomized and bounded: each test takes seconds.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import io
import itertools
import shutil
import tomllib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ampsim.cli import main
from ampsim.hardware.spec import (
    CHIP_KEYS,
    COMPUTE_COST_KEYS,
    HOST_KEYS,
    LINK_KEYS,
    LINK_ONLY_KEYS,
    SYSTEM_KEYS,
    TOPOLOGY_PARAMS,
)
from ampsim.schemas import TASK_SCHEMAS
from ampsim.sections import FIXED_SECTIONS
from ampsim.sweeps.figspec import _FIG_KEYS
from ampsim.sweeps.spec import _QUICK_KEYS, _SWEEP_KEYS
from ampsim.tomltext import dump_toml

ROOT = Path(__file__).resolve().parents[1]
RING4 = ROOT / "hardware_models" / "ring4.toml"

#: a value of each wrong kind: text (empty, long, a NUL), numbers out of every range, arrays, tables, booleans
WRONG: list[Any] = ["x", "", "a" * 100_000, "a\0b", -1, -1.5, 0, 0.0, 1e-320, 1e308, 2**53, 10**9, float("nan"),
                    float("inf"), float("-inf"), [1, 2], [], ["x"], [{"a": 1}], {"a": 1}, {}, True, False]
wrong = st.sampled_from(WRONG)
#: the examples of every test: the same each run (a red test is a finding, not a draw), few enough for seconds
FUZZ = settings(derandomize=True, deadline=None, max_examples=100, suppress_health_check=[HealthCheck.too_slow])

#: a tiny blobs experiment (a run takes well under a second)
TINY = {"experiment": {"name": "tiny", "task": "mlp", "seed": 0},
        "data": {"dataset": "blobs", "batch": 16, "n_features": 4, "n_classes": 2, "n_train": 64, "n_test": 16},
        "model": {"hidden": [8]}, "train": {"epochs": 1, "optimizer": "adam", "lr": 0.003, "mak": 2}}
TINY_SIM = {**TINY, "executor": {"kind": "sim", "hardware": str(RING4)}}


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """A folder for the generated files and runs, and an environment that keeps the runs small and local: no
    download and no data set (a file that leaves out [data] asks for MNIST: one line, not a minute of training),
    recordings in memory, replays on the Python loop."""
    with pytest.MonkeyPatch.context() as mp:
        root = tmp_path_factory.mktemp("fuzz")
        (root / "no_data").mkdir()
        mp.setenv("AMPSIM_DATA", str(root / "no_data"))
        mp.setenv("AMPSIM_OFFLINE", "1")
        mp.setenv("AMPSIM_RECORDINGS", "off")
        mp.setenv("AMPSIM_COMPILED", "0")
        mp.chdir(root)  # (a default results/... folder would land here)
        yield root


_names = itertools.count()


def toml_text(raw: dict) -> str:
    """``raw`` as TOML, a top-level value that is no table (a mutated section) included."""
    values = {k: v for k, v in raw.items() if not isinstance(v, dict)}
    tables = {k: v for k, v in raw.items() if isinstance(v, dict)}
    head = dump_toml({"_": values}).partition("\n")[2] if values else ""
    return head + "\n" + dump_toml(tables)


def write(work: Path, raw: dict, where: Path | None = None) -> Path:
    path = (where or work) / f"f{next(_names)}.toml"
    path.write_text(toml_text(raw))
    return path


def outcome(argv: list) -> int:
    """Run the CLI in-process; exit 0, or exit 2 with one ``ampsim: error:`` line (a traceback fails the test)."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main([str(a) for a in argv])
    lines = err.getvalue().strip().splitlines()
    assert code in (0, 2), err.getvalue()
    if code == 2:
        assert len(lines) == 1 and lines[0].startswith("ampsim: error: "), err.getvalue()
    return code


def train(work: Path, experiment: Path, *more: Any) -> int:
    out = work / f"run{next(_names)}"
    try:
        return outcome(["train", experiment, "--out", out, "--no-progress", *more])
    finally:
        shutil.rmtree(out, ignore_errors=True)


def mutated(raw: dict, mutation: tuple) -> dict:
    """``raw`` with one mutation: ("set", section, key, value), ("drop", section, key), ("section", section,
    value), a whole section replaced (or left out: value None)."""
    out = copy.deepcopy(raw)
    kind, section, *rest = mutation
    if kind == "set":
        table = out.setdefault(section, {})
        if not isinstance(table, dict):
            out[section] = table = {}
        table[rest[0]] = copy.deepcopy(rest[1])
    elif kind == "drop":
        out.get(section, {}).pop(rest[0], None)
    elif rest[0] is None:
        out.pop(section, None)
    else:
        out[section] = copy.deepcopy(rest[0])
    return out


def mutations(raw: dict, keys: dict[str, tuple[str, ...]], values: st.SearchStrategy = wrong) -> st.SearchStrategy:
    """One mutation of ``raw``: a known key (``keys``: section -> its keys) set to one of ``values``, an unknown
    key added, a key it has left out, a section replaced by a value of a wrong kind or left out."""
    known = [(s, k) for s, ks in keys.items() for k in ks]
    present = [(s, k) for s, t in raw.items() if isinstance(t, dict) for k in t]
    return st.one_of(
        st.tuples(st.sampled_from(known), values).map(lambda sk_v: ("set", *sk_v[0], sk_v[1])),
        st.tuples(st.sampled_from(sorted(keys)), values).map(lambda s_v: ("set", s_v[0], "bogus", s_v[1])),
        st.sampled_from(present).map(lambda sk: ("drop", *sk)),
        st.tuples(st.sampled_from(sorted(keys)), st.sampled_from(["x", 1, [1], [{"a": 1}], None])).map(
            lambda s_v: ("section", *s_v)))


def field_names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls))


#: every key of an mlp experiment: the fixed sections' and the task's
EXPERIMENT_KEYS = {**{name: field_names(cls) for name, cls in FIXED_SECTIONS.items()},
                   "data": field_names(TASK_SCHEMAS["mlp"].data), "model": field_names(TASK_SCHEMAS["mlp"].model)}


@FUZZ
@given(mutations(TINY, EXPERIMENT_KEYS))
def test_an_experiment_with_a_field_wrong_is_run_or_refused_in_one_line(work, mutation):
    train(work, write(work, mutated(TINY, mutation)))


@FUZZ
@given(mutations(TINY_SIM, EXPERIMENT_KEYS))
def test_an_experiment_with_a_field_wrong_on_the_simulator_is_run_or_refused_in_one_line(work, mutation):
    train(work, write(work, mutated(TINY_SIM, mutation)))


def _near(f: dataclasses.Field) -> list[Any]:
    """Values a field might take that are right by its kind: its default, its choices, its bounds and next to them,
    small counts; the rules across fields (mak and muf against the instances, groups against the chips) meet them."""
    meta, default = f.metadata, (f.default if f.default is not dataclasses.MISSING else f.default_factory())
    out = [default, *(meta.get("choices") or ())]
    for bound in ("gt", "ge", "le", "lt"):
        if (b := meta.get(bound)) is not None:
            out += [b, b + 1] if isinstance(default, int) else [b, b / 2, b * 2 + 0.5]
    if isinstance(default, bool):
        out += [True, False]
    elif isinstance(default, int):
        out += [1, 2, 3, 5, 64, 2**53]
    elif isinstance(default, float):
        out += [0.0, 0.5, 1.0, 1e-9, 1e9]
    elif isinstance(default, dict):
        out += [{"*": 2}, {"*": "stash"}, {"fc*": 0}, {"nope": 1}, {"[": 1}, {"*": 1024}, {"*": 65536}]
    elif isinstance(default, list):
        out += [[1], [2, 3]]
    return out


#: the fields a combination changes: every one but those that pick the run's files, data set or length; the
#: executor, the simulator or the reference (which has no chips to bound replica groups and copies)
_COMBINED = [(s, f.name, _near(f)) for s, cls in {**FIXED_SECTIONS, "data": TASK_SCHEMAS["mlp"].data,
                                                  "model": TASK_SCHEMAS["mlp"].model}.items()
             for f in dataclasses.fields(cls)
             if f"{s}.{f.name}" not in ("executor.hardware", "executor.hardware_sha256", "executor.kind",
                                        "train.epochs", "data.dataset", "data.n_train", "data.n_test")]
_COMBINED.append(("executor", "kind", ["reference", "sim"]))


@FUZZ
@given(st.lists(st.sampled_from(_COMBINED).flatmap(lambda f: st.tuples(st.just(f[:2]), st.sampled_from(f[2]))),
                min_size=2, max_size=5))
def test_an_experiment_with_several_fields_changed_is_run_or_refused_in_one_line(work, changes):
    raw = TINY_SIM
    for (section, key), value in changes:
        raw = mutated(raw, ("set", section, key, value))
    train(work, write(work, raw))


#: the keys of a hardware file's tables (a topology's: those of its kind)
HARDWARE_KEYS = {"system": SYSTEM_KEYS, "chip": CHIP_KEYS, "link": LINK_KEYS + LINK_ONLY_KEYS, "host": HOST_KEYS,
                 "topology": ("kind", "n")}


def _hardware(name: str) -> dict:
    return tomllib.loads((ROOT / "hardware_models" / f"{name}.toml").read_text())


def _described_then_run(work: Path, raw: dict) -> None:
    """``ampsim info`` on the file, and where it takes it, a tiny run on it."""
    hardware = write(work, raw)
    if outcome(["info", hardware]) == 0:
        train(work, write(work, {**TINY, "executor": {"kind": "sim", "hardware": str(hardware)}}))


@FUZZ
@given(st.sampled_from(["ring4", "hetero_straggler", "local_cpu"]).flatmap(
    lambda name: st.tuples(st.just(name), mutations(_hardware(name), HARDWARE_KEYS))))
def test_a_hardware_file_with_a_field_wrong_is_described_or_refused_in_one_line(work, case):
    name, mutation = case
    _described_then_run(work, mutated(_hardware(name), mutation))


#: a valid value of each topology parameter (the kind's own rules then refuse some of them: a torus of 2)
_TOPOLOGY_VALID = {"n": 4, "shape": [3, 3], "dim": 2, "branching": 2, "height": 2, "fat": True, "edges": [[0, 1]]}
_TOPOLOGY_WRONG = [[3, 3, 3], [2, 2], [2**53, 2], [[0, 1], [1, 2]], [[0, 2**53]], [[0, -1]], [["a", "b"]], [[0, 0]],
                   [[0, 1], [1, 0]], [[0, 2]]]


@FUZZ
@given(st.sampled_from(sorted(TOPOLOGY_PARAMS)).flatmap(lambda kind: st.tuples(
    st.just(kind), st.sampled_from(sum(TOPOLOGY_PARAMS[kind], ())), wrong | st.sampled_from(_TOPOLOGY_WRONG))))
def test_a_topology_of_each_kind_with_a_parameter_wrong_is_described_or_refused_in_one_line(work, case):
    kind, key, value = case
    topology = {"kind": kind, **{k: _TOPOLOGY_VALID[k] for k in TOPOLOGY_PARAMS[kind][0]}, key: value}
    if kind == "torus3d" and key != "shape":
        topology["shape"] = [3, 3, 3]
    _described_then_run(work, {**_hardware("ring4"), "topology": topology})


#: the tables of a [[chip_override]], a [[link_override]] and a compute_table row
_OVERRIDES = {"chip_override": ("chips",) + CHIP_KEYS, "link_override": ("between",) + LINK_KEYS}
_ROW = {"flops": 1.0, "bytes": 1.0, "kernels": 1.0, "seconds": 1e-6, "label": "a"}


@FUZZ
@given(st.sampled_from([(t, k) for t, keys in _OVERRIDES.items() for k in keys]
                       + [("compute_table", k) for k in COMPUTE_COST_KEYS]),
       wrong | st.sampled_from([[0, 2**53], ["switch0", 1], ["switch99", 0], [0, 1, 2], [0, 0], [0.0, 1.0]]))
def test_an_override_or_compute_table_row_with_a_field_wrong_is_described_or_refused_in_one_line(work, field, value):
    raw, (table, key) = _hardware("hetero_straggler"), field
    if table == "compute_table":
        raw["chip"]["compute_table"] = [{**_ROW, key: value}]
    else:
        raw[table][0][key] = value
    _described_then_run(work, raw)


def _sweep() -> dict:
    """A small sweep of the tiny experiment (written beside it) on ring4: a grid, points, [quick] and a figure."""
    return {"sweep": {"name": "fuzz", "description": "d", "experiment": "tiny.toml", "hardware": str(RING4),
                      "seeds": [0, 1]},
            "fixed": {"train.max_instances": 2},
            "grid": {"train.mak": [1, 2], "hardware.link.bandwidth_bytes_per_s": [1e9, 1e10]},
            "points": [{"label": "a", "train.muf": 1}, {"label": "b", "train.muf": 2}],
            "quick": {"seeds": [0], "fixed": {"train.max_instances": 1}, "grid": {"train.mak": [1]}},
            "figure": [{"name": "f", "kind": "xy", "x": "train.mak", "y": "throughput", "hue": "train.muf",
                        "logx": True, "title": "t"}]}


#: the keys of each table of a sweep file; [fixed]'s and a point's are experiment keys (any of them, and a few that
#: are no key)
SWEEP_KEYS = {"sweep": _SWEEP_KEYS, "quick": _QUICK_KEYS,
              "fixed": ("train.mak", "train.lr", "hardware.link.latency_s", "hardware.topology", "executor.hardware",
                        "placement.map", "replicas.nodes", "experiment.seed", "train.bogus", "bogus.x", "hardware.x.y",
                        ""),
              "grid": ("train.mak", "train.lr", "hardware.link.bandwidth_bytes_per_s", "hardware.topology", "bogus")}


@FUZZ
@given(st.one_of(
    mutations(_sweep(), SWEEP_KEYS, wrong | st.sampled_from([[1, "x"], [[1]], "../nope.toml", "/dev/null", ".",
                                                             "a/b", "a\nb"])),
    st.tuples(st.sampled_from(["grid", "quick"]), st.sampled_from(["train.mak", "hardware.link.bandwidth_bytes_per_s"]),
              wrong).map(lambda c: ("axis", *c)),
    st.tuples(st.sampled_from(["label", "train.muf", "train.mak", "hardware.chip.flops_per_s"]), wrong).map(
        lambda c: ("point", *c)),
    st.tuples(st.sampled_from(_FIG_KEYS), wrong).map(lambda c: ("figure", *c))))
def test_a_sweep_file_with_a_field_wrong_is_checked_or_refused_in_one_line(work, mutation):
    raw = _sweep()
    kind, *rest = mutation
    if kind == "axis":  # an axis's values: one of them wrong
        table, key, value = rest
        (raw["quick"]["grid"] if table == "quick" else raw["grid"])[key] = [1, value]
    elif kind == "point":
        raw["points"][0][rest[0]] = rest[1]
    elif kind == "figure":
        raw["figure"][0][rest[0]] = rest[1]
    else:
        raw = mutated(raw, mutation)
    folder = work / f"sweep{next(_names)}"
    folder.mkdir()
    (folder / "tiny.toml").write_text(toml_text(TINY))
    outcome(["sweep", write(work, raw, folder), "--check", "--out", folder / "out"])


#: keys of --set as typed: fields, tables, hardware keys, and what is no key at all
SET_KEYS = ["train.lr", "train.mak", "model.hidden", "model.hidden.0", "train.staleness_nodes.x", "replicas.nodes.*",
            "placement.map.x", "experiment", "experiment.task", "train", "train.", ".lr", "train..lr", "", "x.y.z",
            "hardware", "hardware.link", "hardware.link.latency_s", "hardware.link.latency_s.x", "hardware.topology",
            "hardware.topology.kind", "hardware.topology.n", "hardware.chip_override", "hardware.bogus",
            "executor.kind", "executor.hardware", "data.dataset", "trαin.lr", '"train.lr"']


@FUZZ
@given(st.sampled_from(SET_KEYS), st.text(max_size=30) | st.sampled_from(
    ["1e999", "nan", "-inf", "[1,", "{a=1}", "{kind=\"mesh2d\"}", "[[1]]", "[{a=1}]", "1979-05-27", "07:32:00",
     "0x10", "9" * 5000, "[" * 100 + "]" * 100, "\"\\ud800\"", "x\udc80"]))
def test_a_set_of_any_text_is_run_or_refused_in_one_line(work, key, text):
    train(work, write(work, TINY_SIM), "--set", f"{key}={text}")
