"""A sweep cut short anywhere resumes to the table of an uninterrupted one: an audit of the sweep engine's promises
(README, "Sweeps resume") by property and by interruption, on one tiny replayed sweep (four points, two machines).

* ``--fresh`` cut short part way through its deleting (a Ctrl-C, a SIGKILL) leaves no point folder without its
  record: ``rmtree`` deletes a point's ``point.json`` first on ext4 (directory order), and the folder left, a run
  "not known as this sweep's point", failed every later sweep of the folder, ``--fresh`` or not.
* ``--jobs`` changes neither the table nor any point's files; the same points written in another key order keep
  their ids; every table cell is its point's summary's or its swept value; ``--check`` writes and deletes nothing.
* Whatever an interruption left of each point (finished, gone, half-written, its summary gone), the same command
  finishes the same table, running again none of the finished points.
* SIGINT (to the process group, as a terminal sends it), SIGTERM or SIGKILL of ``ampsim sweep`` at moments drawn
  from a fixed seed (while it loads, runs points, writes its table) leaves no process of it behind, no folder
  named by a point id that is not a finished point, and a resume gives the uninterrupted table.
* A sweep SIGKILLed while it writes its table or ``sweep.json`` left their temporaries (``.table.<pid>.tmp.csv``)
  in its folder for good: the resume deletes them.
* Two orders of a pattern table (first match wins) are two runs with two ids, and their rows said one value.
* In one process (the API), an interrupt as the sweep deleted its lock file kept the folder locked for good.
* A Ctrl-C as ``--check`` probed the folder (a file created and deleted) left the probe behind.
"""

from __future__ import annotations

import csv
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sweep_kit import ROOT, tiny_sweep

from ampsim import tables
from ampsim.cli import main
from ampsim.outputs import replacing
from ampsim.runread import read_summary
from ampsim.sweeps import folder as sweep_folder
from ampsim.sweeps.folder import point_id_of, point_lacks
from ampsim.sweeps.reaper import _processes
from ampsim.sweeps.run import run_sweep
from ampsim.sweeps.spec import load_sweep
from ampsim.tables import TEXT_COLUMNS, summary_columns

#: four points on two machines (the 4-chip ring at two link bandwidths), two maks
GRID = '"train.mak" = [1, 4]\n"hardware.link.bandwidth_bytes_per_s" = [1e9, 1e10]\n'


def _points(out: Path) -> list[Path]:
    """The folders of ``out`` named as points are (not its dot-entries)."""
    return sorted(p for p in out.iterdir() if p.is_dir() and not p.name.startswith(".")) if out.is_dir() else []


def _files(out: Path) -> dict[str, bytes]:
    """Every point's files but timing.json (wall-clock times), by path."""
    return {str(f.relative_to(out)): f.read_bytes() for p in _points(out) for f in sorted(p.iterdir())
            if f.name != "timing.json"}


@pytest.fixture(scope="module")
def whole(tmp_path_factory) -> tuple[Path, Path]:
    """The sweep file and its uninterrupted run (one job), once for the module."""
    folder = tmp_path_factory.mktemp("whole")
    path = folder / "s.toml"
    path.write_text(tiny_sweep() + GRID)
    run_sweep(load_sweep(path), folder / "out", jobs=1)
    return path, folder / "out"


def _copy(whole: tuple[Path, Path], tmp_path: Path) -> tuple[Path, Path]:
    """A copy of the sweep file and its folder, side by side as they were (a point records its file relatively)."""
    shutil.copy(whole[0], tmp_path / "s.toml")
    shutil.copytree(whole[1], tmp_path / "out")
    return tmp_path / "s.toml", tmp_path / "out"


@pytest.mark.parametrize("cut_after", [0, 1, 5])
def test_fresh_cut_short_while_deleting_a_point_leaves_a_folder_the_same_command_finishes(whole, tmp_path,
                                                                                          monkeypatch, cut_after):
    """``rmtree`` of a point interrupted after ``cut_after`` of its entries (in directory order, as rmtree goes)."""
    path, out = _copy(whole, tmp_path)
    done = whole[1]
    rmtree = shutil.rmtree

    def interrupted(folder, *args, **kwargs):
        for entry in list(os.scandir(folder))[:cut_after]:
            os.unlink(entry.path)
        raise KeyboardInterrupt

    monkeypatch.setattr(sweep_folder.shutil, "rmtree", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_sweep(load_sweep(path), out, jobs=1, fresh=True)
    monkeypatch.setattr(sweep_folder.shutil, "rmtree", rmtree)
    assert all(point_id_of(p) == p.name and point_lacks(p) is None for p in _points(out))  # each a finished point
    assert main(["sweep", str(path), "--out", str(out), "--fresh", "--jobs", "1", "--no-progress"]) == 0
    assert (out / "table.csv").read_bytes() == (done / "table.csv").read_bytes()
    assert _files(out) == _files(done) and not list(out.glob(".tmp-*"))


def test_jobs_change_neither_the_table_nor_any_points_files(whole, tmp_path):
    path, done = whole
    table = run_sweep(load_sweep(path), tmp_path / "out", jobs=3)  # (points of both machines side by side)
    assert table.read_bytes() == (done / "table.csv").read_bytes()
    assert {k: v for k, v in _files(tmp_path / "out").items() if not k.endswith("point.json")} == {
        k: v for k, v in _files(done).items() if not k.endswith("point.json")}  # (point.json: the file's path)


def test_the_same_points_in_another_key_order_or_form_keep_their_ids(whole, tmp_path):
    """The id hashes the resolved run: the grid's axes swapped, [fixed] as nested tables in another order, the
    maks as [[points]] crossed with the grid, the bandwidths as 1e9 and 10e9."""
    path, _ = whole
    ids = sorted(p.point_id for p in load_sweep(path).points)
    head = tiny_sweep().split("[fixed]")[0]
    nested = "[fixed.train]\nepochs = 1\n[fixed.executor]\nnumerics = false\n[fixed.model]\nhidden = [8]\n" \
             "[fixed.data]\nn_test = 16\nn_train = 96\n"
    swapped = tmp_path / "swapped.toml"
    swapped.write_text(head + nested + '[grid]\n"hardware.link.bandwidth_bytes_per_s" = [1e9, 10e9]\n'
                       '"train.mak" = [1, 4]\n')
    listed = tmp_path / "listed.toml"
    listed.write_text(tiny_sweep() + '"hardware.link.bandwidth_bytes_per_s" = [1e9, 1e10]\n'
                      + "".join(f'[[points]]\n"train.mak" = {m}\n' for m in (4, 1)))
    for other in (swapped, listed):
        assert sorted(p.point_id for p in load_sweep(other).points) == ids


def test_every_table_cell_is_its_points_summarys_or_its_swept_value(whole):
    _, done = whole
    with open(done / "table.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert sorted(r["point_id"] for r in rows) == [p.name for p in _points(done)]
    for row in rows:
        point = done / row["point_id"]
        record = json.loads((point / "point.json").read_text())
        expected = {**record["values"], **summary_columns(read_summary(point)), "label": record["label"]}
        assert set(row) == set(expected) | {"point_id"}
        for column, want in expected.items():
            got = row[column]
            if want is None:
                assert got == "", column
            elif column in TEXT_COLUMNS:
                assert got == str(want), column
            else:  # (written as repr: exactly the summary's float)
                assert float(got) == float(want), (row["point_id"], column, got, want)


def _state(folder: Path) -> dict[str, tuple[int, bytes] | None]:
    """Every file's time and bytes, every folder's name (whose time a check that it may write there moves)."""
    return {str(f.relative_to(folder)): (f.stat().st_mtime_ns, f.read_bytes()) if f.is_file() else None
            for f in sorted(folder.rglob("*"))}


def test_check_writes_and_deletes_nothing(whole, tmp_path, capsys):
    path, out = _copy(whole, tmp_path)
    before = _state(tmp_path)
    for args in ([], ["--fresh"], ["--jobs", "2"]):
        assert main(["sweep", str(path), "--out", str(out), "--check", *args]) == 0
        assert main(["sweep", str(path), "--out", str(tmp_path / "new"), "--check", *args]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 6 and all(line == f"{path}: 4 valid points over train.mak, "
                                   "hardware.link.bandwidth_bytes_per_s" for line in lines)
    assert _state(tmp_path) == before  # (no folder "new", nothing in "out" touched, the lock file included)


def _leave(point: Path, how: str) -> None:
    """What an interruption can leave of a finished ``point``."""
    if how == "gone":
        shutil.rmtree(point)
    elif how == "half-written":  # its run was being trained into a temporary, or the temporary renamed aside
        shutil.rmtree(point)
        tmp = point.with_name(f".tmp-{point.name}-4242-a1b2c3")
        (tmp.with_name(tmp.name + ".partial")).mkdir()
        (tmp.with_name(tmp.name + ".partial") / "metrics.csv").write_text("epoch,")
        (tmp.with_name(tmp.name + ".partial.lock")).write_text("4242\n")
    elif how == "no summary":  # (a summary never was unwritten but by hand: still, no row without one)
        (point / "summary.json").unlink()


@pytest.mark.parametrize("seed", range(3))
def test_a_resume_from_whatever_an_interruption_left_finishes_the_same_table(whole, tmp_path, seed):
    path, out = _copy(whole, tmp_path)
    rng = random.Random(seed)
    left = {p.name: rng.choice(["kept", "gone", "half-written", "no summary"]) for p in _points(out)}
    if seed == 0:
        left = dict.fromkeys(left, "kept")  # (nothing to run: the table is written again alike)
    for name, how in left.items():
        _leave(out / name, how)
    if rng.random() < 0.5 or seed == 0:
        (out / "table.csv").unlink()
    kept = {k: v for k, v in _state(out).items() if left.get(k.split("/")[0]) == "kept"}
    assert main(["sweep", str(path), "--out", str(out), "--jobs", "2", "--no-progress"]) == 0
    assert (out / "table.csv").read_bytes() == (whole[1] / "table.csv").read_bytes()
    assert _files(out) == _files(whole[1]) and not list(out.glob(".tmp-*"))
    assert {k: v for k, v in _state(out).items() if k in kept} == kept  # the finished points: not run again


# -- interrupted for real ----------------------------------------------------------------------------------------
def _below(root: int) -> dict[int, int]:
    """pid -> start time of every live process below ``root``."""
    table = _processes()
    found, todo = {}, [root]
    while todo:
        parent = todo.pop()
        for pid, (ppid, start) in table.items():
            if ppid == parent and pid not in found:
                found[pid] = start
                todo.append(pid)
    return found


def _alive(seen: dict[int, int]) -> list[int]:
    now = _processes()
    return sorted(pid for pid, start in seen.items() if pid in now and now[pid][1] == start)


def _signalled(path: Path, out: Path, sig: int, after_s: float) -> tuple[int, str, list[int]]:
    """``ampsim sweep`` in a session of its own (as a terminal runs it), sent ``sig`` ``after_s`` seconds after it
    starts (SIGINT to its process group, as Ctrl-C; the others to its process only): its exit status, its stderr,
    and its processes alive 5 s after its exit."""
    proc = subprocess.Popen([sys.executable, "-m", "ampsim", "sweep", str(path), "--out", str(out), "--jobs", "2",
                             "--no-progress"], cwd=ROOT, start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    seen: dict[int, int] = {}
    try:
        deadline = time.monotonic() + after_s
        while time.monotonic() < deadline and proc.poll() is None:
            seen |= _below(proc.pid)
            time.sleep(0.005)
        seen |= _below(proc.pid)
        if proc.poll() is None:
            os.killpg(proc.pid, sig) if sig == signal.SIGINT else os.kill(proc.pid, sig)
        _, err = proc.communicate(timeout=30)
        deadline = time.monotonic() + 5.0
        while _alive(seen) and time.monotonic() < deadline:
            time.sleep(0.02)
        return proc.returncode, err, _alive(seen)
    finally:
        for pid in _alive(seen):
            os.kill(pid, signal.SIGKILL)
        if proc.poll() is None:
            proc.kill()
            proc.wait()


#: (signal, seconds after the start): moments drawn once from a fixed seed over the sweep's 2-4 s on 2 cores (its
#: modules load in the first second)
MOMENTS = [(sig, round(random.Random(i).uniform(0.0, 3.5), 2))
           for i, sig in enumerate([signal.SIGINT, signal.SIGTERM, signal.SIGKILL] * 2)]


@pytest.mark.parametrize("sig, after_s", MOMENTS, ids=[f"{signal.Signals(s).name}-{t}s" for s, t in MOMENTS])
def test_a_sweep_signalled_at_any_moment_leaves_nothing_running_and_resumes_to_the_same_table(whole, tmp_path, sig,
                                                                                              after_s):
    path = tmp_path / "s.toml"
    shutil.copy(whole[0], path)
    out = tmp_path / "out"
    status, err, left = _signalled(path, out, sig, after_s)
    assert left == [], f"still running after the sweep's end: {left}"
    if status != 0:  # (it may have finished first)
        assert status == {signal.SIGINT: 130, signal.SIGTERM: 143, signal.SIGKILL: -9}[sig], err
        assert sig == signal.SIGKILL or len(err.strip().splitlines()) == 1 and "interrupted" in err, err
    for point in _points(out):  # a folder named by a point id is a finished point
        assert point_id_of(point) == point.name and point_lacks(point) is None
    if sig != signal.SIGKILL:  # stopped, it deleted what its stopped points had begun
        assert not [p.name for p in out.glob(".*") if p.name != ".sweep.lock"]
    if (out / "table.csv").exists():  # (written last: only once every point has finished)
        assert (out / "table.csv").read_bytes() == (whole[1] / "table.csv").read_bytes()
    assert main(["sweep", str(path), "--out", str(out), "--jobs", "2", "--no-progress"]) == 0
    assert (out / "table.csv").read_bytes() == (whole[1] / "table.csv").read_bytes()
    assert _files(out) == _files(whole[1])
    assert not list(out.glob(".tmp-*")) and not [p.name for p in out.iterdir() if p.name.startswith(".")
                                                 and p.name != ".sweep.lock"]



#: ``ampsim sweep`` SIGKILLed halfway through writing its table (or sweep.json: the file named in argv[1])
KILLED_WRITING = """
import os, signal, sys
import ampsim.tables as tables
from ampsim.outputs import replacing
write = tables.atomic_write
def dying(path, text):
    if path.name != sys.argv[1]:
        return write(path, text)
    with replacing(path) as tmp:
        tmp.write_text(text[: len(text) // 2])
        os.kill(os.getpid(), signal.SIGKILL)
tables.atomic_write = dying
from ampsim.cli import main
main(sys.argv[2:])
"""


def test_a_sweep_interrupted_while_it_writes_its_table_leaves_neither_it_nor_a_temporary(whole, tmp_path,
                                                                                         monkeypatch):
    path, out = _copy(whole, tmp_path)
    (out / "table.csv").unlink()

    def interrupted(file, text):
        with replacing(file) as tmp:
            tmp.write_text(text[: len(text) // 2])
            raise KeyboardInterrupt

    monkeypatch.setattr(tables, "atomic_write", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_sweep(load_sweep(path), out, jobs=1)
    monkeypatch.undo()
    assert not (out / "table.csv").exists() and sorted(out.glob(".*")) == []
    run_sweep(load_sweep(path), out, jobs=1)
    assert (out / "table.csv").read_bytes() == (whole[1] / "table.csv").read_bytes()


@pytest.mark.parametrize("name", ["table.csv", "sweep.json"])
def test_a_sweep_killed_while_it_writes_its_table_leaves_nothing_a_resume_does_not_clear(whole, tmp_path, name):
    path, out = _copy(whole, tmp_path)
    (out / "table.csv").unlink()
    (out / "sweep.json").unlink()
    done = subprocess.run([sys.executable, "-c", KILLED_WRITING, name, "sweep", str(path), "--out", str(out),
                           "--no-progress"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == -signal.SIGKILL, done.stderr
    assert not (out / "table.csv").exists()
    assert main(["sweep", str(path), "--out", str(out), "--no-progress"]) == 0
    assert (out / "table.csv").read_bytes() == (whole[1] / "table.csv").read_bytes()
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in whole[1].iterdir())


def test_two_orders_of_a_pattern_table_are_two_rows_that_say_which(tmp_path):
    """``{"fc*" = 3, "*0" = 1, "*" = 0}`` and ``{"*0" = 1, "fc*" = 3, "*" = 0}`` place fc0 apart (first match wins):
    two points, two ids, two throughputs, and their rows' swept cells were one text, keys sorted."""
    path = tmp_path / "s.toml"
    path.write_text(tiny_sweep() + '"placement.map" = [{"fc*" = 3, "*0" = 1, "*" = 0}, {"*0" = 1, "fc*" = 3, "*" = 0}]'
                    '\n[fixed.placement]\nstrategy = "explicit"\n')
    with open(run_sweep(load_sweep(path), tmp_path / "out", jobs=1), newline="") as f:
        rows = list(csv.DictReader(f))
    assert len({r["throughput"] for r in rows}) == 2
    for row in rows:
        placed = read_summary(tmp_path / "out" / row["point_id"])["placement"]
        order = json.loads(row["placement.map"])  # (json keeps the order it reads)
        assert list(order) == (["fc*", "*0", "*"] if placed["fc0"] == 3 else ["*0", "fc*", "*"])
        assert row["placement.map.fc*"] == "3" and row["placement.map.*0"] == "1"


def test_an_interrupt_as_the_sweep_lets_go_of_its_lock_does_not_keep_the_folder_locked(whole, tmp_path, monkeypatch):
    """In one Python process (the API, a notebook): a Ctrl-C as the lock file was deleted kept its descriptor, and
    with it the lock, open; every later sweep of the folder in that process was "another sweep (pid <its own>)"."""
    path, out = _copy(whole, tmp_path)
    unlink = os.unlink

    def interrupted(file, *args, **kwargs):
        if str(file).endswith(".sweep.lock"):
            monkeypatch.setattr(os, "unlink", unlink)
            raise KeyboardInterrupt
        return unlink(file, *args, **kwargs)

    monkeypatch.setattr(os, "unlink", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_sweep(load_sweep(path), out, jobs=1)
    assert run_sweep(load_sweep(path), out, jobs=1).read_bytes() == (whole[1] / "table.csv").read_bytes()


def test_a_ctrl_c_as_check_probes_the_folder_leaves_no_probe_file(whole, tmp_path, monkeypatch, capsys):
    """``--check`` (which changes nothing) tries a file in the folder to see that it may write there: a Ctrl-C
    between that file's creation and its deletion left ``.ampsim-probe-*`` behind, in any command's folder."""
    path, out = _copy(whole, tmp_path)
    close = os.close

    def signalled(fd):
        if ".ampsim-probe-" in os.readlink(f"/proc/self/fd/{fd}"):  # (the probe's, once)
            monkeypatch.setattr(os, "close", close)
            os.kill(os.getpid(), signal.SIGINT)
        close(fd)

    monkeypatch.setattr(os, "close", signalled)
    assert main(["sweep", str(path), "--out", str(out), "--check"]) == 130
    assert capsys.readouterr().err.startswith("ampsim: interrupted")
    assert not list(out.glob(".ampsim-probe-*"))
