"""A run folder is claimed by its lock file (``<out>.partial.lock``) before its partial folder is made: a second
run into the same folder is refused without touching the first's partial folder, and what a killed run left
(its lock file, its partial folder) is taken over by the next run."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from ampsim import folders
from ampsim.errors import ConfigError, RunError
from ampsim.locks import LockHeld, lock_file, unlock_file
from ampsim.results import RunDir


def test_a_second_run_is_refused_and_the_first_runs_partial_folder_is_untouched(tmp_path):
    first = RunDir(tmp_path / "run")
    (first.partial / "metrics.csv").write_text("epoch\n1\n")
    with pytest.raises(RunError, match="another run is writing it now"):
        RunDir(tmp_path / "run")
    assert (first.partial / "metrics.csv").read_text() == "epoch\n1\n"
    first.abandon()
    assert not first.partial.exists() and not first.lock_path.exists()


def test_a_folder_named_through_a_symlink_and_dotdot_is_locked_as_itself(tmp_path):
    """``link/../x`` is ``x`` beside the link's target (the kernel follows the link), but its partial path was
    taken from the text (``x`` beside the link): two runs, one named so, one named plainly, locked two paths
    and wrote one folder at once."""
    tmp_path = tmp_path.resolve()  # (the expected paths are real ones)
    (tmp_path / "real" / "inner").mkdir(parents=True)
    (tmp_path / "sym").mkdir()
    (tmp_path / "sym" / "L").symlink_to(tmp_path / "real" / "inner")
    first = RunDir(tmp_path / "sym" / "L" / ".." / "x")
    assert first.partial == tmp_path / "real" / "x.partial"
    with pytest.raises(RunError, match="another run is writing it now"):
        RunDir(tmp_path / "real" / "x")
    first.write_summary({"final_metric": 1.0})
    first.commit()
    assert (tmp_path / "real" / "x" / "summary.json").is_file() and not (tmp_path / "sym" / "x").exists()


def test_what_a_killed_run_left_is_taken_over(tmp_path):
    out = tmp_path / "run"
    stale = tmp_path / "run.partial"
    stale.mkdir()
    (stale / "metrics.csv").write_text("old rows\n")
    (tmp_path / "run.partial.lock").write_text("99999\n")  # its lock file, no longer locked by anyone
    run = RunDir(out)
    assert run.partial == stale and not (stale / "metrics.csv").exists()  # a fresh partial folder
    run.abandon()
    assert not stale.exists() and not (tmp_path / "run.partial.lock").exists()


def test_a_lock_file_is_held_until_unlocked_and_names_its_holder(tmp_path):
    import os

    path = tmp_path / "x.lock"
    fd = lock_file(path)
    with pytest.raises(LockHeld) as held:
        lock_file(path)
    assert held.value.holder == str(os.getpid())
    unlock_file(fd, path)
    assert not path.exists()
    unlock_file(lock_file(path), path)  # free again


def test_a_sweep_lock_that_cannot_be_made_is_one_line_and_a_held_one_names_its_holder(tmp_path):
    from ampsim.errors import ConfigError
    from ampsim.sweeps.folder import LOCK_NAME, sweep_lock

    (tmp_path / LOCK_NAME).mkdir()  # something in the lock file's place
    with pytest.raises(ConfigError, match=f"{LOCK_NAME}: cannot create the sweep lock: is a directory, not a file"):
        with sweep_lock(tmp_path):
            pass
    (tmp_path / LOCK_NAME).rmdir()
    fd = lock_file(tmp_path / LOCK_NAME)  # another holder (this process, by another descriptor)
    with pytest.raises(RunError, match=r"another sweep \(pid \d+\) is running in this folder"):
        with sweep_lock(tmp_path):
            pass
    unlock_file(fd, tmp_path / LOCK_NAME)
    with sweep_lock(tmp_path):
        assert (tmp_path / LOCK_NAME).is_file()
    assert not (tmp_path / LOCK_NAME).exists()


def test_an_interrupt_after_the_run_was_committed_says_the_run_is_in_place(tmp_path):
    """The run is committed as its summary is written, before the executor's workers stop: a Ctrl-C as they
    stop must not say that nothing was kept."""
    out = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt) as stopped:
        with RunDir(out) as run:
            run.append_metrics({"epoch": 1, "train_loss": 0.5})
            run.write_summary({"final_metric": 0.9})
            run.commit()
            raise KeyboardInterrupt
    assert stopped.value.__notes__ == [f"the run had finished: {out} holds it"]
    assert (out / "summary.json").is_file() and not run.partial.exists()



@pytest.mark.parametrize("exchange", [True, False], ids=["swapped", "renamed-aside"])
def test_an_interrupt_while_the_earlier_run_is_deleted_says_the_new_one_is_in_place(tmp_path, monkeypatch, exchange):
    """The earlier run is deleted after the new one was swapped in: a Ctrl-C then said the new run was kept as
    a partial run and the earlier one untouched, where the folder held the new, finished run."""
    out = tmp_path / "run"
    with RunDir(out) as earlier:
        earlier.write_summary({"final_metric": 0.5})
    if not exchange:  # (where Linux cannot swap two folders: the earlier is renamed aside, then deleted)
        monkeypatch.setattr(folders, "_exchange", lambda new, target: False)

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt) as stopped:
        with RunDir(out) as run:
            run.write_summary({"final_metric": 0.9})
            monkeypatch.setattr(shutil, "rmtree", interrupted)
    monkeypatch.undo()
    assert stopped.value.__notes__ == [f"the run had finished: {out} holds it"]
    assert '"final_metric": 0.9' in (out / "summary.json").read_text()


def test_what_a_run_stopped_while_deleting_the_earlier_one_left_aside_goes_with_the_next_run(tmp_path, monkeypatch):
    """Where folders cannot be swapped, the earlier run is renamed aside (``.<name>.old-<pid>``) and deleted: a
    Ctrl-C during the deletion left it there for good, and the next run of the same process into the folder
    failed ("Directory not empty": the aside name was taken). The next run deletes what was left aside by
    processes that are gone, and by this one, but never what a live process set aside (it may rename it back)."""
    def no_exchange() -> None:  # (where Linux cannot swap two folders)
        monkeypatch.setattr(folders, "_exchange", lambda new, target: False)

    no_exchange()
    out = tmp_path / "run"

    def finish(metric: float) -> None:
        with RunDir(out) as run:
            run.write_summary({"final_metric": metric})

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    finish(0.5)
    with pytest.raises(KeyboardInterrupt):
        with RunDir(out) as run:
            run.write_summary({"final_metric": 0.7})
            monkeypatch.setattr(shutil, "rmtree", interrupted)
    monkeypatch.undo()
    no_exchange()
    mine = tmp_path / f".run.old-{os.getpid()}"
    assert '"final_metric": 0.5' in (mine / "summary.json").read_text()  # the earlier run, left aside
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()
    running = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        for pid in (ended.pid, running.pid):
            (tmp_path / f".run.old-{pid}").mkdir()
            (tmp_path / f".run.old-{pid}" / "summary.json").write_text("{}")
        (tmp_path / f".other.old-{ended.pid}").mkdir()  # another folder's: its replacement's to delete
        finish(0.9)
        assert '"final_metric": 0.9' in (out / "summary.json").read_text()
        assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
            ["run", f".run.old-{running.pid}", f".other.old-{ended.pid}"])
        assert (tmp_path / f".run.old-{running.pid}" / "summary.json").is_file()
    finally:
        running.kill()
        running.wait()


#: a run into argv[1] whose replacement of the earlier run is killed between its two renames, where folders cannot
#: be swapped: the earlier run renamed aside, the new one not yet in
_KILLED_BETWEEN_RENAMES = """
import os, sys
from ampsim import folders
from ampsim.results import RunDir
folders._exchange = lambda new, target: False
renames, rename = [], os.rename
def killed_at_the_second(*args, **kwargs):
    renames.append(args)
    if len(renames) == 2:
        os._exit(9)
    return rename(*args, **kwargs)
os.rename = killed_at_the_second
with RunDir(sys.argv[1]) as run:
    run.write_summary({"final_metric": 0.9})
"""


def test_a_run_killed_between_the_two_renames_loses_no_finished_run(tmp_path, monkeypatch):
    """Where folders cannot be swapped, a process killed after renaming the earlier run aside and before renaming
    the new one in left no run folder and the earlier run aside, which no one put back: the next run into the folder
    that failed left it missing, and the replacement after deleted the aside folder as a leftover."""
    out = tmp_path / "run"
    with RunDir(out) as earlier:
        earlier.write_summary({"final_metric": 0.5})
    killed = subprocess.run([sys.executable, "-c", _KILLED_BETWEEN_RENAMES, str(out)], capture_output=True, text=True)
    assert killed.returncode == 9, killed.stderr
    aside = next(tmp_path.glob(".run.old-*"))
    assert not out.exists()
    assert '"final_metric": 0.5' in (aside / "summary.json").read_text()  # set aside, not yet replaced
    monkeypatch.setattr(folders, "_exchange", lambda new, target: False)
    with pytest.raises(ConfigError, match=r"is in the way \(a run is written there first\) and holds a finished run "
                       r"\(written there with --out, or the run that was replacing .*run when it was stopped: to keep "
                       r"that one, put it in place of .*run\); move it away"):  # (the killed run's: the user's call)
        RunDir(out)
    assert '"final_metric": 0.5' in (out / "summary.json").read_text()  # put back as the next run checked its folder
    shutil.rmtree(tmp_path / "run.partial")
    with RunDir(out) as run:
        run.write_summary({"final_metric": 0.7})
    assert '"final_metric": 0.7' in (out / "summary.json").read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


@pytest.mark.parametrize("stop", [OSError(28, "No space left on device"), KeyboardInterrupt()], ids=["error", "ctrl-c"])
def test_a_replacement_stopped_between_its_renames_puts_the_earlier_folder_back(tmp_path, monkeypatch, stop):
    """The new folder failing to go in put the earlier one back on an OSError, but a Ctrl-C there left no folder."""
    monkeypatch.setattr(folders, "_exchange", lambda new, target: False)
    target, new = tmp_path / "t", tmp_path / "new"
    target.mkdir()
    (target / "f").write_text("old")
    new.mkdir()
    rename = os.rename

    def stopped_at_the_new(src, dst):
        if src == new:
            raise stop
        rename(src, dst)

    monkeypatch.setattr(os, "rename", stopped_at_the_new)
    with pytest.raises(type(stop)):
        folders.replace_folder(new, target)
    monkeypatch.undo()
    assert (target / "f").read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["new", "t"]


def test_the_next_replacement_puts_back_what_a_killed_one_left_aside_before_it_fails(tmp_path, monkeypatch):
    """A replacement that finds no folder at ``target`` but the earlier one aside, its process gone, puts that back
    first: failing itself, it left nothing at ``target``, and the aside folder went with the next clean-up."""
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()
    target, new = tmp_path / "t", tmp_path / "new"
    (aside := tmp_path / f".t.old-{ended.pid}").mkdir()
    (aside / "f").write_text("old")
    new.mkdir()
    monkeypatch.setattr(folders, "_exchange", lambda new, target: False)
    rename = os.rename

    def refused(src, dst):
        if src == new:
            raise OSError(28, "No space left on device")
        rename(src, dst)

    monkeypatch.setattr(os, "rename", refused)
    with pytest.raises(OSError):
        folders.replace_folder(new, target)
    monkeypatch.undo()
    assert (target / "f").read_text() == "old" and not aside.exists()


def test_a_compare_folder_set_aside_by_a_killed_replacement_is_put_back_and_checked(tmp_path):
    """A compare into a folder that a killed replacement left missing, its earlier compare aside: put back as the
    folder is checked, so the check sees it (a compare of another experiment is refused, not replaced unseen)."""
    from ampsim.calibration.outfolder import check_compare_folder

    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()
    out = tmp_path / "cmp"
    run = tmp_path / f".cmp.old-{ended.pid}" / "runs" / "mak4" / "sim"
    run.mkdir(parents=True)
    (run / "config.toml").write_text('[experiment]\nname = "other"\n')
    with pytest.raises(ConfigError, match="holds the compare of another experiment"):
        check_compare_folder(out, "mine")
    assert (out / "runs" / "mak4" / "sim" / "config.toml").is_file()
