"""Bad files at every door, generated: each file the CLI reads on a user's behalf is damaged in every way a file can
be (emptied, a folder in its place, binary, not UTF-8, cut off at several lengths, a link that loops or leads
nowhere) and, where it is structured, one value at a time (a value of the wrong type, nan, inf, negative, huge,
empty text, an unknown key added). Whatever the damage, the command ends in exit status 0, or in exit status 2
with exactly one stderr line ``ampsim: error: …`` and no traceback, and a refusal leaves the finished results it
was given (``--out``, a sweep's other points) byte for byte.

The doors: an experiment file (``train``), a hardware model (``info``, ``train --hardware``, an experiment's
``executor.hardware``), a sweep file and the experiment it names (``sweep --check``), a finished run folder's files (``plot``, ``plot --timeline``), a finished sweep's folder
(``sweep`` resuming it, ``plot`` drawing it), a measured compare folder and a calibrated model's measurements
(``compare --resimulate``), the recording cache (a damaged recording is recorded again), data files under
``AMPSIM_DATA`` (a copy of a small subset: QM9 molecules a user supplies, SST word vectors) and the README
``keys --update`` rewrites. tests/test_bad_input.py holds the cases found by hand, each with its message;
tests/test_bad_input_fuzz.py mutates the fields of the files' declarations; this module damages the files.

Each damage of each file is a case of its own; a file's value mutations are one test that names every failure,
by default a fixed sample (one replacement per value, turn by turn, :data:`SAMPLE` of them spread over the file:
the whole test takes about 40 s of CPU), all of them with ``AMPSIM_FUZZ_ALL=1`` (minutes; it found the two
tracebacks of tests/test_bad_input_plot.py's null summary values and 10**30 table cell). A valid file under a path
with spaces or non-ASCII letters is read. Resimulations stop where they would simulate: what they read is read
before.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import re
import shutil
import signal
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import ampsim.calibration.compare as cmp
from ampsim.cli import main

ROOT = Path(__file__).resolve().parents[1]
RING4 = ROOT / "hardware_models" / "ring4.toml"
MEASURED = ROOT / "results" / "compare" / "list_reduction"
ALL = os.environ.get("AMPSIM_FUZZ_ALL") == "1"
DATA = Path(os.environ.get("AMPSIM_DATA") or "/nonexistent")  # (the real data, before a case points elsewhere)
#: seconds a case may take before it counts as a hang (a tiny run takes a fraction of one)
HANG_S = 60

TINY = f"""[experiment]
name = "tiny"
task = "mlp"
seed = 0

[data]
dataset = "blobs"
batch = 16
n_features = 4
n_classes = 2
n_train = 64
n_test = 16

[model]
hidden = [8]

[train]
epochs = 2
optimizer = "adam"
lr = 0.003
mak = 2
muf = 1

[executor]
kind = "sim"
hardware = "{RING4}"
"""

SWEEP = """[sweep]
name = "fz"
description = "a tiny sweep"
experiment = "tiny.toml"
seeds = [0]

[fixed]
"train.epochs" = 1

[grid]
"train.mak" = [1, 2]

[quick]
seeds = [0]

[[figure]]
name = "f"
kind = "xy"
x = "train.mak"
y = "throughput"
"""

# -- the damage ----------------------------------------------------------------------------------------------------
#: damage to any file: what is in its place
BYTE_DAMAGE = ["empty", "directory", "binary", "not-utf8", "cut-1", "cut-1/2", "cut-last", "symlink-loop",
               "symlink-nowhere"] + (["cut-1/4", "cut-3/4"] if ALL else [])  # (by default three cuts: the suite's time)
#: a TOML value replaced (the text after ``key =``)
TOML_VALUES = ['"x"', "1", "nan", "inf", "-inf", "-1", "1e308", str(10**30), '""', "[]", "{}", "true"]
#: a JSON value or CSV cell replaced
JSON_VALUES: list = ["x", 1, float("nan"), float("inf"), -1, 1e308, 10**30, "", [], {}, None, True]
CSV_VALUES = ["x", "nan", "inf", "-inf", "-1", "1e308", str(10**30), "", '"a,b"']


def damaged_bytes(path: Path, damage: str, valid: bytes) -> None:
    """Put ``damage`` at ``path`` (whatever is there is removed first)."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif os.path.lexists(path):
        path.unlink()
    if damage == "directory":
        path.mkdir()
    elif damage == "symlink-loop":
        path.symlink_to(path.name)
    elif damage == "symlink-nowhere":
        path.symlink_to(path.name + ".gone")
    else:
        content = {"empty": b"", "binary": bytes(range(256)) * 4,
                   "not-utf8": valid[: len(valid) // 2] + b"\xff\xfe\xc3(" + valid[len(valid) // 2:],
                   "cut-1": valid[:1], "cut-1/4": valid[: len(valid) // 4], "cut-1/2": valid[: len(valid) // 2],
                   "cut-3/4": valid[: 3 * len(valid) // 4], "cut-last": valid[:-1]}[damage]
        path.write_bytes(content)


_ASSIGNMENT = re.compile(r'^(\s*(?:"[^"]*"|[A-Za-z0-9_.-]+)\s*=\s*)(.*)$')


def toml_mutations(text: str) -> list[tuple[str, str]]:
    """(id, text) of ``text`` with one value replaced, or an unknown key added to one table (or the top)."""
    lines = text.splitlines()
    out = []
    for i, line in enumerate(lines):
        if (m := _ASSIGNMENT.match(line)) and not line.lstrip().startswith("#"):
            for value in _turns(TOML_VALUES, i):
                out.append((f"L{i + 1}={value}", "\n".join([*lines[:i], m[1] + value, *lines[i + 1:]]) + "\n"))
        if line.startswith("[") or i == 0:
            at = i + 1 if line.startswith("[") else 0
            out.append((f"L{i + 1}+bogus", "\n".join([*lines[:at], "bogus_key = 1", *lines[at:]]) + "\n"))
    return out


def _leaves(obj, path=()) -> Iterator[tuple]:
    if isinstance(obj, dict) and obj:
        for k, v in obj.items():
            yield from _leaves(v, (*path, k))
    elif isinstance(obj, list) and obj:
        for k, v in enumerate(obj[:3]):  # (a long list's first items stand for the rest)
            yield from _leaves(v, (*path, k))
    else:
        yield path


def _set(obj, path: tuple, value):
    if not path:
        return value
    obj = json.loads(json.dumps(obj))
    where = obj
    for k in path[:-1]:
        where = where[k]
    where[path[-1]] = value
    return obj


def json_mutations(text: str) -> list[tuple[str, str]]:
    """(id, text) of the JSON ``text`` with one leaf replaced, or an unknown key added to the top object."""
    doc = json.loads(text)
    out = []
    for i, path in enumerate(_leaves(doc)):
        for value in _turns(JSON_VALUES, i):
            out.append((f"{'.'.join(map(str, path))}={value!r}", json.dumps(_set(doc, path, value), indent=1)))
    if isinstance(doc, dict):
        out.append(("+bogus", json.dumps({**doc, "bogus_key": 1}, indent=1)))
    return out


def csv_mutations(text: str) -> list[tuple[str, str]]:
    """(id, text) of the CSV ``text`` with one cell replaced (header cells too), or a column added to a row."""
    rows = list(csv.reader(io.StringIO(text)))
    out = []
    n = 0
    for r, row in enumerate(rows[:3]):
        for c in range(len(row)):
            for value in _turns(CSV_VALUES, n):
                changed = [list(x) for x in rows]
                changed[r][c] = value
                buf = io.StringIO()
                csv.writer(buf, lineterminator="\n").writerows(changed)
                out.append((f"r{r}c{c}={value}", buf.getvalue()))
            n += 1
    changed = [list(x) for x in rows]
    changed[min(1, len(rows) - 1)].append("extra")
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(changed)
    out.append(("+column", buf.getvalue()))
    return out


def _turns(values: list, i: int) -> list:
    """Every value (``AMPSIM_FUZZ_ALL=1``), else one of them, turn by turn: the i-th value."""
    return values if ALL else [values[i % len(values)]]


#: the value mutations of a file tried by default, spread evenly over it (``AMPSIM_FUZZ_ALL=1``: every one)
SAMPLE = 10


def mutations_of(path: Path) -> list[tuple[str, str]]:
    every = {".toml": toml_mutations, ".json": json_mutations, ".csv": csv_mutations}[path.suffix](path.read_text())
    return every if ALL or len(every) <= SAMPLE else [every[i * len(every) // SAMPLE] for i in range(SAMPLE)]


# -- running the CLI -----------------------------------------------------------------------------------------------
def snapshot(root: Path) -> dict[str, object]:
    """Every entry under ``root`` (and ``root``): a file's bytes, else its kind."""
    if not os.path.lexists(root):
        return {}
    entries = [root, *sorted(root.rglob("*"))] if root.is_dir() else [root]
    return {str(p): (p.read_bytes() if p.is_file() else stat.S_IFMT(os.lstat(p).st_mode)) for p in entries}


class Hang(Exception):
    pass


class Reached(Exception):
    """Raised by the stand-in for compare's simulation: the command got past its checks (a resimulation takes
    seconds to minutes; what it reads is read before)."""


def _alarm(signum, frame):
    raise Hang(f"no answer in {HANG_S} s")


def outcome(argv: list, guarded: tuple[Path, ...] = ()) -> tuple[int, str]:
    """Run the CLI in this process: exit 0, or exit 2 with one ``ampsim: error:`` line and ``guarded`` as they were
    (a traceback, another status, more lines or a hang fail the test)."""
    before = {g: snapshot(g) for g in guarded}
    err = io.StringIO()
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(HANG_S)
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            code = main([str(a) for a in argv])
    except Reached:
        return 0, err.getvalue()
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    text = err.getvalue()
    assert "Traceback" not in text, text
    assert code in (0, 2), f"exit {code}: {text}"
    if code == 2:
        lines = text.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("ampsim: error: "), text
        for g in guarded:
            assert snapshot(g) == before[g], f"{g} changed by a refused command: {text}"
    return code, text


# -- the doors -----------------------------------------------------------------------------------------------------
@dataclass
class Door:
    """A file the CLI reads: how to lay out a valid world around it and the command that reads it."""

    name: str
    #: lays out the valid files under the folder given; returns the file to damage
    setup: Callable[[Path, Path], Path]
    #: the command (argv) and the finished results it must leave when it refuses, given the case's folder
    command: Callable[[Path], tuple[list, tuple[Path, ...]]]
    #: also mutate the file's values (a structured file)
    values: bool = True
    env: dict[str, str] = field(default_factory=dict)
    #: whatever the damage, the command goes on (a damaged recording is recorded again, with a warning)
    goes_on: bool = False


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    """Valid material, made once: a finished traced run, a finished sweep, a replay's recording cache."""
    root = tmp_path_factory.mktemp("finished")
    (root / "tiny.toml").write_text(TINY)
    (root / "sw.toml").write_text(SWEEP)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AMPSIM_OFFLINE", "1")
        mp.setenv("AMPSIM_COMPILED", "0")
        mp.setenv("AMPSIM_RECORDINGS", str(root / "recordings"))
        assert outcome(["train", root / "tiny.toml", "--out", root / "run", "--trace", "--no-progress"])[0] == 0
        assert outcome(["sweep", root / "sw.toml", "--out", root / "sweep", "--jobs", "1", "--no-progress"])[0] == 0
        assert outcome(["train", root / "tiny.toml", "--out", root / "replayed", "--no-progress",
                        "--set", "executor.numerics=false"])[0] == 0
        (root / "fig.png").write_bytes(b"a finished figure")
    assert list((root / "recordings").glob("*.npz"))  # (training's and evaluation's)
    return root


def _copy(src: Path, dst: Path) -> Path:
    if src.is_dir():
        shutil.copytree(src, dst, symlinks=True)
    else:
        shutil.copy(src, dst)
    return dst


def _points(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if (p / "point.json").is_file())


def _door_experiment(fin: Path, case: Path) -> Path:
    _copy(fin / "run", case / "out")
    return _copy(fin / "tiny.toml", case / "tiny.toml")


def _door_hardware(fin: Path, case: Path) -> Path:
    _copy(fin / "run", case / "out")
    return _copy(RING4, case / "ring4.toml")


def _door_sweep(fin: Path, case: Path) -> Path:
    _copy(fin / "tiny.toml", case / "tiny.toml")
    _copy(fin / "sweep", case / "out")
    return _copy(fin / "sw.toml", case / "sw.toml")


def _door_sweeps_experiment(fin: Path, case: Path) -> Path:
    _door_sweep(fin, case)
    return case / "tiny.toml"


def _door_experiments_hardware(fin: Path, case: Path) -> Path:
    _copy(fin / "run", case / "out")
    (case / "tiny.toml").write_text(TINY.replace(str(RING4), str(case / "ring4.toml")))
    return _copy(RING4, case / "ring4.toml")


def _door_run_file(name: str) -> Callable[[Path, Path], Path]:
    def setup(fin: Path, case: Path) -> Path:
        _copy(fin / "fig.png", case / "fig.png")
        return _copy(fin / "run", case / "run") / name
    return setup


def _door_sweep_point_file(name: str) -> Callable[[Path, Path], Path]:
    def setup(fin: Path, case: Path) -> Path:
        _copy(fin / "tiny.toml", case / "tiny.toml")
        _copy(fin / "sw.toml", case / "sw.toml")
        return _points(_copy(fin / "sweep", case / "out"))[0] / name
    return setup


def _door_sweep_file(name: str) -> Callable[[Path, Path], Path]:
    def setup(fin: Path, case: Path) -> Path:
        _copy(fin / "tiny.toml", case / "tiny.toml")
        _copy(fin / "sw.toml", case / "sw.toml")
        return _copy(fin / "sweep", case / "out") / name
    return setup


def _resume(case: Path) -> tuple[list, tuple[Path, ...]]:
    # a refusal leaves the points and the table as they were (sweep.json, its record, names the sweep file where it
    # is now); a run again leaves its other point as it was (checked in _attempt)
    return (["sweep", case / "sw.toml", "--out", case / "out", "--jobs", "1", "--no-progress"],
            (*_points(case / "out"), case / "out" / "table.csv"))


def _measured(case: Path) -> Path:
    """The measured compare folder, cut to its first configuration (a resimulation plans each: half a second)."""
    measured = _copy(MEASURED, case / "measured")
    header, first, *_ = (measured / "compare.csv").read_text().splitlines(keepends=True)
    (measured / "compare.csv").write_text(header + first)
    label = next(csv.reader([first]))[0]
    for run in (measured / "runs").iterdir():
        if run.name != cmp.run_folder(label):
            shutil.rmtree(run)
    assert len(list((measured / "runs").iterdir())) == 1
    return measured


def _door_measured(name: str) -> Callable[[Path, Path], Path]:
    def setup(fin: Path, case: Path) -> Path:
        measured = _measured(case)
        return measured / name if "*" not in name else sorted(measured.glob(name))[0]
    return setup


def _resimulate(case: Path) -> tuple[list, tuple[Path, ...]]:
    return (["compare", ROOT / "experiments" / "list_reduction.toml", "--resimulate", "--from", case / "measured",
             "--out", case / "out", "--hardware", ROOT / "hardware_models" / "local_cpu.toml"], (case / "measured",))


def _door_sidecar(fin: Path, case: Path) -> Path:
    _measured(case)
    _copy(ROOT / "hardware_models" / "local_cpu.toml", case / "local_cpu.toml")
    return _copy(ROOT / "hardware_models" / "local_cpu.calibration.json", case / "local_cpu.calibration.json")


def _door_recording(fin: Path, case: Path) -> Path:
    _copy(fin / "tiny.toml", case / "tiny.toml")
    return sorted(_copy(fin / "recordings", case / "recordings").glob("*.npz"))[0]


def _replay(case: Path) -> tuple[list, tuple[Path, ...]]:
    return ["train", case / "tiny.toml", "--out", case / "out", "--no-progress", "--set", "executor.numerics=false"], ()


QM9_RECORD = {"graph": [[0, 1, 1], [1, 2, 2]], "node_features": [[1, 0, 0, 0, 0], [0, 1, 0, 0, 0], [0, 0, 1, 0, 0]],
              "targets": [[0.5]], "mol_id": "m0", "smiles": "CCO"}


def _door_qm9(fin: Path, case: Path) -> Path:
    (case / "data" / "qm9").mkdir(parents=True)
    for split in ("train", "valid"):
        records = [{**QM9_RECORD, "mol_id": f"m{i}", "targets": [[0.1 * i]]} for i in range(4)]
        (case / "data" / "qm9" / f"molecules_{split}.json").write_text(json.dumps(records, indent=1))
    return case / "data" / "qm9" / "molecules_train.json"


def _qm9(case: Path) -> tuple[list, tuple[Path, ...]]:
    return (["train", ROOT / "experiments" / "qm9_ggnn.toml", "--out", case / "out", "--no-progress", "--set",
             "train.epochs=1", "--set", "model.steps=1", "--set", "model.hidden=4"], ())


def _door_vectors(fin: Path, case: Path) -> Path:
    (case / "data" / "sst").mkdir(parents=True)
    for split in ("train", "dev", "test"):  # (a copy of the first trees: the data's own files, sha-checked)
        source = DATA / "sst" / f"{split}.txt"
        if not source.is_file():
            pytest.skip("the SST files are not under AMPSIM_DATA")
        shutil.copy(source, case / "data" / "sst" / f"{split}.txt")
    (case / "vectors.txt").write_text("".join(f"{w} " + " ".join(["0.1"] * 4) + "\n"
                                              for w in ("the", "a", "film", "good", "bad")))
    return case / "vectors.txt"


def _sst(case: Path) -> tuple[list, tuple[Path, ...]]:
    return (["train", ROOT / "experiments" / "sst_treelstm.toml", "--out", case / "out", "--no-progress", "--set",
             "train.epochs=1", "--set", "data.limit_train=8", "--set", "data.limit_test=4", "--set", "model.embed=4",
             "--set", "model.hidden=4", "--set", f"model.vectors=\"{case / 'vectors.txt'}\""], ())


def _door_readme(fin: Path, case: Path) -> Path:
    return _copy(ROOT / "README.md", case / "README.md")


DOORS = {d.name: d for d in [
    Door("experiment", _door_experiment,
         lambda c: (["train", c / "tiny.toml", "--out", c / "out", "--no-progress"], (c / "out",))),
    Door("hardware-info", _door_hardware, lambda c: (["info", c / "ring4.toml"], ())),
    Door("hardware-train", _door_hardware,
         lambda c: (["train", ROOT / "experiments" / "blobs_mlp.toml", "--out",
                     c / "out", "--no-progress", "--hardware", c / "ring4.toml", "--set", "data.n_train=64",
                     "--set", "data.n_test=16", "--set", "train.epochs=1"], (c / "out",))),
    Door("experiment-hardware", _door_experiments_hardware,
         lambda c: (["train", c / "tiny.toml", "--out", c / "out", "--no-progress"], (c / "out",))),
    Door("sweep-check-experiment", _door_sweeps_experiment,
         lambda c: (["sweep", c / "sw.toml", "--check", "--out", c / "out"], (c / "out",))),
    Door("sweep-check", _door_sweep,
         lambda c: (["sweep", c / "sw.toml", "--check", "--out", c / "out"], (c / "out",))),
    *[Door(f"plot-run-{n}", _door_run_file(n), lambda c: (["plot", c / "run", "--out", c / "fig.png"],
                                                            (c / "fig.png",)))
      for n in ("summary.json", "metrics.csv", "config.toml")],
    Door("plot-timeline-trace.json", _door_run_file("trace.json"),
         lambda c: (["plot", c / "run", "--timeline", "--out", c / "fig.png"], (c / "fig.png",)), values=False),
    *[Door(f"sweep-resume-point-{n}", _door_sweep_point_file(n), _resume)
      for n in ("summary.json", "point.json", "config.toml", "metrics.csv")],
    *[Door(f"sweep-resume-{n}", _door_sweep_file(n), _resume) for n in ("sweep.json", "table.csv")],
    Door("plot-sweep-table.csv", _door_sweep_file("table.csv"),
         lambda c: (["plot", c / "sw.toml", "--sweep-dir", c / "out", "--out", c / "figs"], ())),
    *[Door(f"resimulate-{n.replace('runs/*/', '')}", _door_measured(n), _resimulate)
      for n in ("compare.csv", "runs/*/multicore/summary.json", "runs/*/multicore/placement.json",
                "runs/*/multicore/config.toml", "runs/*/multicore/metrics.csv")],
    Door("resimulate-calibration.json", _door_sidecar,
         lambda c: (["compare", ROOT / "experiments" / "list_reduction.toml", "--resimulate", "--from",
                     c / "measured", "--out", c / "out", "--hardware", c / "local_cpu.toml"], (c / "measured",))),
    Door("recording", _door_recording, _replay, values=False, goes_on=True),
    Door("data-qm9-molecules", _door_qm9, _qm9, env={"AMPSIM_DATA": "{case}/data"}),
    Door("data-sst-vectors", _door_vectors, _sst, values=False, env={"AMPSIM_DATA": "{case}/data"}),
    Door("keys-update-readme", _door_readme, lambda c: (["keys", "--update", c / "README.md"], ()), values=False),
]}


@contextlib.contextmanager
def _world(door: Door, finished: Path, case: Path, monkeypatch) -> Iterator[Path]:
    """The door's valid files laid out under ``case``, its environment set; yields the file to damage."""
    case.mkdir(parents=True, exist_ok=True)
    monkeypatch.setenv("AMPSIM_OFFLINE", "1")
    monkeypatch.setenv("AMPSIM_COMPILED", "0")
    monkeypatch.setenv("AMPSIM_RECORDINGS", str(case / "recordings"))
    for key, value in door.env.items():
        monkeypatch.setenv(key, value.format(case=case))
    monkeypatch.chdir(case)  # (a default results/... folder would land here)
    yield door.setup(finished, case)


def _attempt(door: Door, case: Path) -> tuple[int, str]:
    argv, guarded = door.command(case)
    others = {p: snapshot(p) for p in _points(case / "out")[1:]} if door.command is _resume else {}
    code, text = outcome(argv, guarded)
    for p, before in others.items():  # (a resumed sweep runs the damaged point again, never the finished one)
        assert snapshot(p) == before, f"{p} changed: {text}"
    return code, text


@pytest.fixture(autouse=True)
def no_measuring(monkeypatch):
    """compare never measures here (a resimulation that asked to would be a bug of its own), and its simulation is
    :class:`Reached`: what it reads is read before."""
    def measured(*args, **kwargs):
        raise AssertionError("compare --resimulate measured")

    def reached(*args, **kwargs):
        raise Reached

    monkeypatch.setattr(cmp, "_measure", measured)
    monkeypatch.setattr(cmp, "simulate_run", reached)


@pytest.mark.parametrize("damage", BYTE_DAMAGE)
@pytest.mark.parametrize("door", list(DOORS))
def test_a_damaged_file_is_read_or_refused_in_one_line(door, damage, finished, tmp_path, monkeypatch):
    d = DOORS[door]
    with _world(d, finished, tmp_path / "case", monkeypatch) as target:
        damaged_bytes(target, damage, target.read_bytes())
        code, text = _attempt(d, tmp_path / "case")
    assert code == 0 or not d.goes_on, text


@pytest.mark.parametrize("door", [name for name, d in DOORS.items() if d.values])
def test_a_file_with_a_value_wrong_is_read_or_refused_in_one_line(door, finished, tmp_path, monkeypatch):
    """Every mutation of the file's values (a subset: see the module's docstring); all failures at once."""
    d = DOORS[door]
    with _world(d, finished, tmp_path / "valid", monkeypatch) as target:
        mutations = mutations_of(target)
    failures = []
    for n, (mid, text) in enumerate(mutations):
        case = tmp_path / f"c{n}"
        with _world(d, finished, case, monkeypatch) as target:
            target.write_text(text)
            try:
                _attempt(d, case)
            except Exception as e:  # noqa: BLE001 - a traceback the CLI would print: the finding, named
                failures.append(f"{mid}: {type(e).__name__}: {(str(e).strip().splitlines() or [''])[-1][:300]}")
        shutil.rmtree(case, ignore_errors=True)
    assert not failures, f"{len(failures)} of {len(mutations)}:\n" + "\n".join(failures)


@pytest.mark.parametrize("door", ["experiment", "hardware-train", "sweep-check", "plot-run-summary.json",
                                  "resimulate-calibration.json"])
@pytest.mark.parametrize("name", ["with space", "nön-ascii é", "日本"])
def test_a_valid_file_under_a_path_with_spaces_or_non_ascii_is_read(door, name, finished, tmp_path, monkeypatch):
    d = DOORS[door]
    case = tmp_path / name
    with _world(d, finished, case, monkeypatch):
        assert _attempt(d, case)[0] == 0
