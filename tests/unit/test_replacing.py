"""``outputs.replacing``, the atomic writer of every JSON, figure, recording and ``keys --update``: the old file or
the new one, never a part; a symlink's target is what is replaced (the link kept), and a file's permission
bits are kept (before: the link became a regular file, leaving its target stale, and a 0600 file 0644)."""

import os
import stat
from pathlib import Path

import pytest

from ampsim.outputs import replacing


def write(path, text):
    with replacing(path) as tmp:
        tmp.write_text(text)


def test_a_new_file_and_a_replaced_one(tmp_path):
    write(tmp_path / "a" / "f.md", "one")
    write(tmp_path / "a" / "f.md", "two")
    assert (tmp_path / "a" / "f.md").read_text() == "two" and os.listdir(tmp_path / "a") == ["f.md"]


def test_a_symlink_keeps_pointing_at_its_target_which_is_replaced(tmp_path):
    (tmp_path / "real.md").write_text("old")
    (tmp_path / "link.md").symlink_to("real.md")
    write(tmp_path / "link.md", "new")
    assert (tmp_path / "link.md").is_symlink() and (tmp_path / "real.md").read_text() == "new"


def test_permission_bits_are_kept(tmp_path):
    f = tmp_path / "private.md"
    f.write_text("old")
    f.chmod(0o600)
    write(f, "new")
    assert stat.S_IMODE(f.stat().st_mode) == 0o600 and f.read_text() == "new"


def test_a_cache_entry_keeps_no_permission_bits(tmp_path):
    """A recording made unreadable (chmod 000) was recorded again on every run, and its new file stayed so."""
    f = tmp_path / "0123456789abcdef01234567.npz"
    f.write_text("old")
    f.chmod(0o000)
    with replacing(f, follow=False) as tmp:
        tmp.write_text("new")
    assert stat.S_IMODE(f.stat().st_mode) & 0o400 and f.read_text() == "new"


def test_an_interrupted_write_leaves_the_old_file_and_no_temporary(tmp_path):
    f = tmp_path / "f.json"
    f.write_text("old")
    with pytest.raises(KeyboardInterrupt), replacing(f) as tmp:
        tmp.write_text("half")
        raise KeyboardInterrupt
    assert f.read_text() == "old" and os.listdir(tmp_path) == ["f.json"]


def test_a_machine_error_while_writing_names_the_file_not_the_temporary(tmp_path):
    """A full disk while matplotlib saved a figure said "writing the results: no space left" (no file)."""
    import errno

    f = tmp_path / "fig.png"
    with pytest.raises(OSError) as err, replacing(f):
        raise OSError(errno.ENOSPC, "No space left on device")
    assert err.value.filename == str(f) and not list(tmp_path.iterdir())


def test_a_link_to_a_file_of_another_kind_is_refused_and_its_file_kept(tmp_path):
    """``plot RUN --out fig.png``, fig.png a link to a table: the figure was written over the table (a PNG where
    t.csv was), or, its format taken from the target's suffix, was a matplotlib traceback."""
    from ampsim.errors import ConfigError
    from ampsim.outputs import check_output_file

    (tmp_path / "t.csv").write_text("a,b\n1,2\n")
    link = tmp_path / "fig.png"
    link.symlink_to("t.csv")
    for attempt in (lambda: write(link, "png"), lambda: check_output_file(link)):
        with pytest.raises(ConfigError, match=r"fig.png: a link to .*t.csv, a file of another kind \(.csv\)"):
            attempt()
    assert link.is_symlink() and (tmp_path / "t.csv").read_text() == "a,b\n1,2\n"


def test_a_link_to_a_device_is_replaced_itself_never_the_device(tmp_path):
    """A recording-cache entry symlinked to /dev/zero: following the link put a recording where the device was."""
    link = tmp_path / "r.npz"
    link.symlink_to("/dev/null")
    write(link, "data")
    assert not link.is_symlink() and link.read_text() == "data"
    assert Path("/dev/null").is_char_device()


def test_a_link_replaced_itself_does_not_lend_the_new_file_its_targets_mode(tmp_path):
    """``plot RUN --out fig.png``, fig.png a link to /dev/null: the figure was made rw-rw-rw-, the device's mode."""
    link = tmp_path / "fig.png"
    link.symlink_to("/dev/null")
    old = os.umask(0o022)
    try:
        write(link, "png")
    finally:
        os.umask(old)
    assert not link.is_symlink() and stat.S_IMODE(link.stat().st_mode) == 0o644


def test_a_device_or_folder_itself_is_never_replaced(tmp_path):
    from ampsim.errors import ConfigError

    (tmp_path / "d").mkdir()
    os.mkfifo(tmp_path / "p")
    for target in (tmp_path / "d", tmp_path / "p", Path("/dev/null")):
        with pytest.raises(ConfigError, match="not a regular file .*: not replaced"):
            write(target, "x")
    assert Path("/dev/null").is_char_device() and (tmp_path / "d").is_dir()


def test_one_check_of_what_is_no_regular_file_serves_a_writer_through_links_too(tmp_path):
    """Calibrate writes its model where a link leads, so a link to a pipe is a pipe to it, not to replacing (which
    replaces such a link itself); its own copy of the check differed from this one in that alone, and its advice."""
    from ampsim.errors import ConfigError
    from ampsim.outputs import check_replaceable

    os.mkfifo(tmp_path / "p")
    (tmp_path / "link").symlink_to(tmp_path / "p")
    (tmp_path / "d").mkdir()
    check_replaceable(tmp_path / "link")  # (replacing replaces the link)
    check_replaceable(tmp_path / "d", through_link=True)  # (its writer words a folder itself)
    for path in (tmp_path / "p", tmp_path / "link"):
        with pytest.raises(ConfigError) as refused:
            check_replaceable(path, through_link=True, way_out="; choose another --out")
        assert str(refused.value) == f"{path}: not a regular file (a pipe, socket or device); choose another --out"
    with pytest.raises(ConfigError, match=r"d: not a regular file \(a device, pipe or folder\): not replaced$"):
        check_replaceable(tmp_path / "d")


def _fails_to_write(kind, path):
    """Write ``path`` in the way ``kind`` does and make that fail (``OSError``): a figure whose drawing fails, a run
    file or a table whose rename finds the disk full, calibrate's model pair whose second file fails."""
    import errno

    from ampsim.figures.canvas import save_figure
    from ampsim.results import atomic_write

    def fail(*_args, **_kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    if kind in ("write_figure", "save_figure"):
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig = plt.figure()
        fig.savefig = fail
        try:
            if kind == "write_figure":
                from ampsim.outputs import write_figure

                write_figure(fig, path.with_suffix(".png"))
            else:
                save_figure(fig, path)
        finally:
            plt.close(fig)
    elif kind == "atomic_write":
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(os, "replace", fail)
            atomic_write(path, "text\n")
    else:  # (the model's, beside the measurements' replacing: the outer one made the folders)
        with replacing(path.with_suffix(".json")) as side, replacing(path):
            side.write_text("{}\n")
            fail()


@pytest.mark.parametrize("kind", ["replacing", "interrupted", "write_figure", "save_figure", "atomic_write", "nested"])
def test_a_write_that_fails_takes_back_the_folders_it_made_and_no_other(tmp_path, kind):
    """``replacing`` makes the folders missing above the file; a write that failed left them behind, empty (a
    figure that could not be saved left ``figs/new/``). It takes back those it made, never one that was there."""
    (tmp_path / "there").mkdir()
    path = tmp_path / "there" / "new" / "deeper" / "f"
    with pytest.raises((OSError, KeyboardInterrupt)):
        if kind in ("replacing", "interrupted"):
            with replacing(path) as tmp:
                tmp.write_text("half")
                raise OSError("the write failed") if kind == "replacing" else KeyboardInterrupt
        else:
            _fails_to_write(kind, path)
    assert [p.name for p in tmp_path.rglob("*")] == ["there"]
    with replacing(path) as tmp:  # (and a write that works keeps them)
        tmp.write_text("whole")
    assert path.read_text() == "whole"


def test_a_killed_writers_leftovers_are_known_under_a_reused_pid(tmp_path, monkeypatch):
    """A writer killed mid-write leaves its temporary (or a replaced folder set aside) named by its pid; once another
    process ran under that pid (a container's ampsim is pid 1 at every start), the leftover was taken for a write in
    progress and kept for ever. This process stands in for the later one: it started after the leftovers' dates."""
    import time

    from ampsim import folders
    from ampsim.folders import restore_aside
    from ampsim.outputs import left_by_killed_writers

    pid = os.getpid()
    table = tmp_path / "table.csv"
    old = tmp_path / f".table.{pid}.tmp.csv"  # (outputs._temporary_of's name)
    old.write_text("a,b\n")
    days_ago = time.time() - 2 * 86400
    os.utime(old, (days_ago, days_ago))
    assert left_by_killed_writers(table) == [old]
    old.touch()  # written now, by a process running since before: a write in progress
    assert left_by_killed_writers(table) == []

    run = tmp_path / "run"  # a replacement set the run aside, then was killed before its new folder went in
    aside = tmp_path / f".run.old-{pid}"
    aside.mkdir()
    assert not restore_aside(run)  # renamed just now, under this running process: its own, between its renames
    monkeypatch.setattr(folders, "_renamed_at", lambda entry: int(days_ago * 1e9))  # (a ctime cannot be set back)
    assert restore_aside(run) and run.is_dir() and not aside.exists()


def test_a_link_planted_at_the_temporarys_name_is_never_written_through(tmp_path):
    """A writer opens the temporary by name ("w" follows a link): a link planted at it had the new file written over
    what it named, and nothing at ``path``. The recording cache's save opened it exclusively for that; every writer
    through replacing is kept from it now."""
    from ampsim.results import atomic_write

    victim = tmp_path / "victim.txt"
    victim.write_text("mine")
    path = tmp_path / "table.csv"
    (tmp_path / f".table.{os.getpid()}.tmp.csv").symlink_to(victim)  # (outputs._temporary_of's name)
    atomic_write(path, "a,b\n")
    assert victim.read_text() == "mine" and path.read_text() == "a,b\n" and not path.is_symlink()
