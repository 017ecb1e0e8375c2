"""A sweep writes only into a folder of its own (``ampsim.sweeps.folder.check_sweep_folder``): new, empty, or
one its table or a point names it in; another sweep's folder or points, a run folder, or a folder of anything
else is refused in one line, and nothing is touched."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest
from sweep_kit import tiny_sweep

from ampsim.errors import ConfigError, DataError
from ampsim.sweeps.folder import check_sweep_folder
from ampsim.tables import write_table


def point(folder: Path, pid: str, sweep: str) -> Path:
    (folder / pid).mkdir(parents=True)
    (folder / pid / "point.json").write_text(json.dumps({"point_id": pid, "sweep": sweep}))
    return folder / pid


def test_a_new_an_empty_and_its_own_folder_are_accepted(tmp_path):
    assert check_sweep_folder(tmp_path / "new", "s") == tmp_path / "new"
    assert not (tmp_path / "new").exists()  # checked, not made
    (tmp_path / "empty").mkdir()
    assert check_sweep_folder(tmp_path / "empty", "s") == tmp_path / "empty"
    own = tmp_path / "own"
    point(own, "p1", "s")
    point(own, "old", "s")  # a point of earlier settings of the same sweep
    (own / ".sweep.lock").write_text("123\n")
    (own / ".tmp-p2-1-abc").mkdir()
    assert check_sweep_folder(own, "s") == own  # an interrupted sweep: points, no table yet
    write_table(own, [], ["train.lr"], {"name": "s", "keys": []})
    assert check_sweep_folder(own, "s") == own  # a finished one
    (own / "notes.txt").write_text("mine")
    (own / "drafts").mkdir()
    assert check_sweep_folder(own, "s") == own  # its user's files beside its own (never touched)


@pytest.mark.parametrize("make, words", [
    (lambda f: write_table(f, [], ["train.lr"], {"name": "other", "keys": []}),
     "holds the results of another sweep ('other')"),
    (lambda f: point(f, "p1", "other"), "holds a point of another sweep (p1/ of 'other')"),
    (lambda f: (f / "summary.json").write_text("{}"), "exists and is not a folder of sweep 's' (it holds summary.json)"),
    (lambda f: (f / "table.csv").write_text("a\n1\n"), "(it holds table.csv)"),  # a table with no sweep.json
    (lambda f: (f / "mine").mkdir(), "(it holds mine/)"),
])
def test_anything_not_its_own_is_refused_untouched(tmp_path, make, words):
    folder = tmp_path / "f"
    folder.mkdir()
    make(folder)
    before = sorted(str(p) for p in folder.rglob("*"))
    with pytest.raises(ConfigError) as err:
        check_sweep_folder(folder, "s")
    assert words in str(err.value) and "\n" not in str(err.value)
    assert sorted(str(p) for p in folder.rglob("*")) == before


def test_an_unreadable_point_record_is_one_line(tmp_path):
    (tmp_path / "p1").mkdir()
    (tmp_path / "p1" / "point.json").write_bytes(b"\x00\xff not json")
    with pytest.raises(DataError, match="point.json"):
        check_sweep_folder(tmp_path, "s")


@pytest.mark.parametrize("point", [True, False], ids=["point", "run"])
def test_a_folder_inside_a_finished_point_or_run_is_refused(tmp_path, point):
    """Re-running that point (``--fresh``) or that run replaces its folder whole, with a sweep put inside it."""
    finished = tmp_path / "sweep" / "p1"
    finished.mkdir(parents=True)
    for name in ("config.toml", "metrics.csv", "summary.json", *(["point.json"] if point else [])):
        (finished / name).write_text("{}")
    with pytest.raises(ConfigError, match=f"sub/x: is inside the finished run {finished}; give sweep 's' a folder "
                                          "outside it"):
        check_sweep_folder(finished / "sub" / "x", "s")


@pytest.mark.parametrize("kept", [("config.toml",), ("point.json",), ("summary.json",)])
def test_a_working_folder_holding_a_run_files_name_is_no_finished_run(tmp_path, kept):
    """An experiment's config.toml kept in the project folder made every sweep under it "inside a finished run";
    a finished run is its config.toml and its summary.json, which it writes last."""
    for name in kept:
        (tmp_path / name).write_text("{}")
    assert check_sweep_folder(tmp_path / "results" / "sweeps" / "s", "s") == tmp_path / "results" / "sweeps" / "s"


def test_fresh_refuses_a_point_that_holds_what_no_run_writes_and_deletes_nothing(tmp_path):
    from ampsim.sweeps.folder import clear_sweep_folder as _clear

    own = tmp_path / "own"
    point(own, "p1", "s")
    (own / "p1" / "summary.json").write_text("{}")
    kept = point(own, "p2", "s")
    (kept / "figure.png").write_bytes(b"png")  # plotted into the point by hand
    write_table(own, [], ["train.lr"], {"name": "s", "keys": []})
    before = sorted(str(p) for p in own.rglob("*"))
    with pytest.raises(ConfigError, match="p2: this sweep's point also holds figure.png, which no run writes"):
        _clear(own)
    assert sorted(str(p) for p in own.rglob("*")) == before


@pytest.mark.parametrize("record", ["[1, 2]", '"s"', "3"])
def test_a_point_record_that_is_not_an_object_says_so(tmp_path, record):
    """It was "a point of another sweep (p1/ of None)"."""
    (tmp_path / "p1").mkdir()
    (tmp_path / "p1" / "point.json").write_text(record)
    with pytest.raises(ConfigError, match=r"p1/point.json is not a sweep point's record \(an object naming its sweep\)"):
        check_sweep_folder(tmp_path, "s")


TINY = tiny_sweep()


def two_files_named_x(tmp_path: Path) -> tuple[Path, Path]:
    """``a/x.toml`` and ``b/x.toml``: two sweeps, both named x, of other grids."""
    for folder, grid in (("a", "[1]"), ("b", "[1, 2]")):
        (tmp_path / folder).mkdir(parents=True)
        (tmp_path / folder / "x.toml").write_text(TINY + f'"train.mak" = {grid}\n')
    return tmp_path / "a" / "x.toml", tmp_path / "b" / "x.toml"


def test_a_sweep_file_of_the_same_name_elsewhere_is_refused_fresh_or_not(tmp_path, capsys):
    """b/x.toml --fresh deleted the finished points of a/x.toml and wrote its table over a's (a sweep was only its
    name); it is one line now, and a's folder is untouched, also before a's table is written."""
    from ampsim.cli import main

    a, b = two_files_named_x(tmp_path)
    out = tmp_path / "out"
    assert main(["sweep", str(a), "--out", str(out), "--no-progress"]) == 0
    capsys.readouterr()
    before = {str(p): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    for flags in (["--fresh"], [], ["--check"]):
        assert main(["sweep", str(b), "--out", str(out), "--no-progress", *flags]) == 2
        err = capsys.readouterr().err.splitlines()
        assert err == [f"ampsim: error: {out}: holds the results of another sweep named 'x', of the file {a}; give {b} "
                       "a folder of its own (--out, or a sweep.name of its own)"]
        assert {str(p): p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    for name in ("table.csv", "sweep.json"):  # a's sweep interrupted: its points alone say whose they are
        (out / name).unlink()
    assert main(["sweep", str(b), "--out", str(out), "--fresh", "--no-progress"]) == 2
    assert "of the file" in capsys.readouterr().err and any(out.glob("*/point.json"))


def test_the_same_sweep_file_by_any_path_or_moved_with_its_folder_is_its_own(tmp_path, monkeypatch):
    a, _ = two_files_named_x(tmp_path / "checkout")
    out = tmp_path / "checkout" / "out"
    point(out, "p1", "x")
    from ampsim.sweeps.folder import SWEEP_FILE, sweep_file_record

    record = {"point_id": "p1", "sweep": "x", SWEEP_FILE: sweep_file_record(a, out)}
    (out / "p1" / "point.json").write_text(json.dumps(record))
    write_table(out, [], ["train.mak"], {"name": "x", "keys": [], "source": str(a), SWEEP_FILE: record[SWEEP_FILE]})
    monkeypatch.chdir(tmp_path / "checkout")
    assert check_sweep_folder(Path("out"), "x", Path("a/x.toml")) == Path("out")  # relative, as absolute
    (tmp_path / "link").symlink_to(tmp_path / "checkout")
    assert check_sweep_folder(tmp_path / "link" / "out", "x", tmp_path / "link" / "a" / "x.toml")
    moved = (tmp_path / "checkout").rename(tmp_path / "moved")  # its sweep.json's source names the old place
    assert check_sweep_folder(moved / "out", "x", moved / "a" / "x.toml") == moved / "out"
    (moved / "a" / "x.toml").rename(moved / "a" / "renamed.toml")  # the file gone: no other sweep to protect
    assert check_sweep_folder(moved / "out", "x", moved / "a" / "renamed.toml") == moved / "out"


def test_a_table_recorded_before_sweep_files_were_recorded_names_its_source_from_the_working_folder(tmp_path, monkeypatch):
    a, b = two_files_named_x(tmp_path)
    write_table(tmp_path / "out", [], ["train.mak"], {"name": "x", "keys": [], "source": "a/x.toml"})
    monkeypatch.chdir(tmp_path)
    assert check_sweep_folder(tmp_path / "out", "x", a) == tmp_path / "out"
    with pytest.raises(ConfigError, match=f"another sweep named 'x', of the file {a}; give {b} a folder of its own"):
        check_sweep_folder(tmp_path / "out", "x", b)


def test_the_other_variants_folder_is_refused_unless_fresh(tmp_path, capsys):
    """--quick into the full sweep's folder replaced its table with the quick one (the points of both mixed), and
    the full sweep into the quick one's likewise: one line now, the folder untouched; --fresh starts over."""
    from ampsim.cli import main

    file, out = tmp_path / "x.toml", tmp_path / "out"
    file.write_text(TINY + '"train.mak" = [1, 2]\n[quick]\ngrid = { "train.mak" = [1] }\n')
    assert main(["sweep", str(file), "--out", str(out), "--no-progress"]) == 0
    capsys.readouterr()
    before = {str(p): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    for flags in ([], ["--check"]):
        assert main(["sweep", str(file), "--out", str(out), "--no-progress", "--quick", *flags]) == 2
        assert capsys.readouterr().err.splitlines() == [
            f"ampsim: error: {out}: holds the full sweep's (without --quick) results of sweep 'x'; give --quick another "
            "--out, or run without --quick here (--fresh: delete those results and start over)"]
        assert {str(p): p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    (out / "sweep.json").unlink()  # the full sweep interrupted before its table: its points alone say which it is
    assert main(["sweep", str(file), "--out", str(out), "--no-progress", "--quick"]) == 2
    assert "holds the full sweep's (without --quick) results" in capsys.readouterr().err
    assert main(["sweep", str(file), "--out", str(out), "--no-progress", "--quick", "--fresh"]) == 0
    assert json.loads((out / "sweep.json").read_text())["quick"] is True and len(list(out.glob("*/point.json"))) == 1
    capsys.readouterr()
    assert main(["sweep", str(file), "--out", str(out), "--no-progress"]) == 2
    assert "holds the quick variant's (--quick) results of sweep 'x'; give the full sweep another --out, or run with " \
           "--quick here" in capsys.readouterr().err
    assert main(["sweep", str(file), "--out", str(out), "--no-progress", "--quick"]) == 0  # its own variant: resumed


def test_a_sweep_deletes_its_own_temporaries_only_not_the_users_dot_files(tmp_path):
    """A sweep deletes what its points cut short left (``.tmp-<id>-<pid>-<random>``, its partial run and lock, a
    damaged folder put aside); it deleted every ``.tmp-*`` entry of its folder, a file or folder of the user's too,
    where its own folder's other files are left alone."""
    from ampsim.sweeps.folder import clear_sweep_folder as _clear
    from ampsim.sweeps.folder import remove_temporaries as _remove_temporaries

    own = tmp_path / "own"
    point(own, "0123456789ab", "s")
    left = [own / ".tmp-0123456789ab-4242-a1b2c3", own / ".tmp-0123456789ab-4242-a1b2c3.partial",
            own / ".tmp-0123456789ab-4242-a1b2c3-unfinished"]
    for d in left:
        d.mkdir()
    (own / ".tmp-0123456789ab-4242-a1b2c3.partial.lock").write_text("4242\n")
    (own / ".tmp-notes.md").write_text("mine")
    (own / ".tmp-analysis").mkdir()
    (own / ".tmp-analysis" / "fig.py").write_text("mine")
    _remove_temporaries(own)
    assert sorted(p.name for p in own.iterdir()) == [".tmp-analysis", ".tmp-notes.md", "0123456789ab"]
    _clear(own)  # --fresh: the points and the table, not the user's files
    assert sorted(p.name for p in own.iterdir()) == [".tmp-analysis", ".tmp-notes.md"]
    assert (own / ".tmp-analysis" / "fig.py").read_text() == "mine"


#: a point's folder spoilt three ways, and the line refusing it (with ``--fresh``: the line refusing it then)
SPOILT = [
    (lambda p: (shutil.rmtree(p), p.mkdir(), (p / "mine.txt").write_text("not a point\n")),
     r"in the way of point \w+ \(not a finished point of this sweep: no summary.json\)", None),
    (lambda p: (p / "point.json").unlink(), r"in the way of point \w+ \(a run, not known as this sweep's point: it has "
                                            r"no point.json\)", None),
    (lambda p: ((p / "summary.json").unlink(), (p / "notes.txt").write_text("mine\n")),
     r"point \w+ has no summary.json and is run again, but its folder also holds notes.txt, which no run writes",
     r"this sweep's point also holds notes.txt, which no run writes; --fresh would delete it with the point"),
]


@pytest.mark.parametrize("fresh", [False, True], ids=["resume", "fresh"])
@pytest.mark.parametrize("spoil, words, fresh_words", SPOILT,
                         ids=["a-folder-of-ones-own", "a-run-trained-there", "a-damaged-point-holding-ones-files"])
def test_check_refuses_a_folder_in_a_points_way_as_the_sweep_would(tmp_path, capsys, spoil, words, fresh_words,
                                                                    fresh):
    """``--check`` checked the folder (another sweep's, a run folder) but not the points' folders in it: what stands
    in a point's way passed, and the sweep refused it only as it started (:func:`ampsim.sweeps.run.check_point_folder`;
    with ``--fresh``, a point it would delete with the user's files in it too). Now ``--check`` says the same line,
    exit 2, changing nothing."""
    from ampsim.cli import main
    from ampsim.sweeps.spec import load_sweep

    file = tmp_path / "s.toml"
    file.write_text(tiny_sweep() + '"train.mak" = [1, 4]\n')
    out = tmp_path / "out"
    flags = ["--fresh"] * fresh
    assert main(["sweep", str(file), "--out", str(out), "--no-progress"]) == 0
    assert main(["sweep", str(file), "--out", str(out), "--check", *flags]) == 0
    capsys.readouterr()
    spoil(out / load_sweep(file).points[-1].point_id)
    before = {str(f): f.read_bytes() for f in out.rglob("*") if f.is_file()}
    assert main(["sweep", str(file), "--out", str(out), "--check", *flags]) == 2
    checked = capsys.readouterr().err
    line = fresh_words if fresh and fresh_words else words
    assert re.fullmatch(rf"ampsim: error: {out.resolve()}/\w+: {line}.*\n", checked), checked
    assert {str(f): f.read_bytes() for f in out.rglob("*") if f.is_file()} == before
    assert main(["sweep", str(file), "--out", str(out), "--no-progress", *flags]) == 2
    assert capsys.readouterr().err == checked  # the line the sweep gives


@pytest.mark.parametrize("fresh", [False, True], ids=["resume", "fresh"])
def test_a_refused_sweep_leaves_its_folder_byte_for_byte_as_it_was(tmp_path, capsys, fresh):
    """A folder in a point's way was refused only after the sweep had begun on its folder: with ``--fresh``, after
    it had deleted the table, ``sweep.json`` and every point (the refusal said to run the sweep again, which found
    nothing left to resume); and a resume first deleted the temporaries a killed sweep left (a table's, a point's).
    Every refusal now comes before anything is deleted."""
    from ampsim.cli import main
    from ampsim.sweeps.spec import load_sweep

    file = tmp_path / "s.toml"
    file.write_text(tiny_sweep() + '"train.mak" = [1, 4]\n')
    out = tmp_path / "out"
    assert main(["sweep", str(file), "--out", str(out), "--no-progress"]) == 0
    (out / ".table.999999.tmp.csv").write_text("point_id\n")  # what a sweep killed as it wrote its table leaves
    (out / ".tmp-0123456789ab-999999-abcdef").mkdir()  # and one killed as a point ran
    way = out / load_sweep(file).points[-1].point_id
    shutil.rmtree(way)
    way.mkdir()
    (way / "mine.txt").write_text("not a point\n")
    before = {str(f.relative_to(out)): f.read_bytes() if f.is_file() else None for f in sorted(out.rglob("*"))}
    assert main(["sweep", str(file), "--out", str(out), "--no-progress", *["--fresh"] * fresh]) == 2
    assert f"{way}: in the way of point {way.name}" in capsys.readouterr().err
    assert {str(f.relative_to(out)): f.read_bytes() if f.is_file() else None for f in sorted(out.rglob("*"))} == before


@pytest.mark.parametrize("name, spoil", [
    ("table.csv", lambda p: (p.unlink(), p.mkdir(), (p / "mine.txt").write_text("x"))),
    ("table.csv", lambda p: (p.unlink(), os.mkfifo(p))),
    ("table.csv", lambda p: (p.unlink(), p.with_name("notes.txt").write_text("mine\n"), p.symlink_to("notes.txt"))),
    ("sweep.json", lambda p: (p.unlink(), p.mkdir())),
], ids=["table-a-folder", "table-a-fifo", "table-a-link-to-a-text", "sweep-json-a-folder"])
def test_a_table_that_cannot_be_replaced_is_refused_before_sweep_json_is_rewritten(tmp_path, monkeypatch, capsys, name,
                                                                                  spoil):
    """The table is written after ``sweep.json`` (its presence says the table is complete): a table.csv that cannot
    be replaced was refused as the resume wrote it, after every point had run and after ``sweep.json`` had been
    rewritten (its ``source`` now the file as this resume gave it). Now the folder is refused as the sweep starts
    (and at ``--check``), and a table is written only where both files can be."""
    from ampsim.cli import main

    file = tmp_path / "s.toml"
    file.write_text(tiny_sweep() + '"train.mak" = [1, 4]\n')
    out = tmp_path / "out"
    assert main(["sweep", str(file), "--out", str(out), "--no-progress"]) == 0
    spoil(out / name)
    before = {str(f.relative_to(out)): f.read_bytes() if f.is_file() else None for f in sorted(out.rglob("*"))}
    monkeypatch.chdir(tmp_path)  # (the same file by another path: sweep.json's source would say so)
    for check in ([], ["--check"]):
        capsys.readouterr()
        assert main(["sweep", "s.toml", "--out", "out", "--no-progress", *check]) == 2
        assert re.fullmatch(rf"ampsim: error: out/{name}: [^\n]*\n", capsys.readouterr().err)
        assert {str(f.relative_to(out)): f.read_bytes() if f.is_file() else None
                for f in sorted(out.rglob("*"))} == before
    with pytest.raises(ConfigError, match=rf"^out/{name}: "):  # (written by its own writer: both or neither)
        write_table(Path("out"), [], [], {"name": "s", "keys": []})
    assert {str(f.relative_to(out)): f.read_bytes() if f.is_file() else None for f in sorted(out.rglob("*"))} == before
