"""A run into ``x`` stages itself in ``x.partial/`` and deletes what an earlier run cut short left there; it deleted
whatever folder had that name: a finished run (``--out x.partial``, then ``--out x``) or a folder of the user's
own, whole. Now a staging folder is marked (``folders.STAGING_MARK``) and only a marked one (or an unmarked run
that an earlier version left, unfinished) is deleted; anything else is refused in one line, before any work.
A compare's staging folder likewise."""

from __future__ import annotations

from pathlib import Path

import pytest

from ampsim.calibration.outfolder import into_folder
from ampsim.cli import main
from ampsim.errors import ConfigError
from ampsim.folders import STAGING_MARK
from ampsim.results import RunDir

ROOT = Path(__file__).resolve().parents[2]
BLOBS = ROOT / "experiments" / "blobs_mlp.toml"
SMALL = ["--set", "data.n_train=64", "--set", "data.n_test=32", "--set", "model.hidden=[8]", "--set",
         "train.epochs=1", "--no-progress"]


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_finished_run_named_like_a_partial_folder_survives_a_run_beside_it(tmp_path, capsys):
    kept = tmp_path / "x.partial"
    assert main(["train", str(BLOBS), "--out", str(kept), *SMALL]) == 0
    before = snapshot(kept)
    assert STAGING_MARK not in before  # a finished run carries no mark
    assert main(["train", str(BLOBS), "--out", str(tmp_path / "x"), *SMALL]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"ampsim: error: {tmp_path / 'x'}: {kept} is in the way") and "\n" not in err
    assert snapshot(kept) == before and not (tmp_path / "x").exists()


def test_a_users_folder_named_like_a_partial_folder_is_never_deleted(tmp_path):
    own = tmp_path / "thesis.partial" / "chapter1"
    own.mkdir(parents=True)
    (own / "draft.tex").write_text("mine")
    with pytest.raises(ConfigError, match="is in the way"):
        RunDir(tmp_path / "thesis")
    assert (own / "draft.tex").read_text() == "mine"


def test_a_partial_run_cut_short_is_marked_and_deleted_by_the_next_run(tmp_path):
    first = RunDir(tmp_path / "run")
    (first.partial / "metrics.csv").write_text("epoch\n1\n")
    first.epochs = 1
    first.abandon()  # kept, marked
    assert (first.partial / STAGING_MARK).is_file()
    second = RunDir(tmp_path / "run")
    assert not (second.partial / "metrics.csv").exists()
    second.write_config("x = 1\n")
    second.commit()
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["config.toml", "environment.json"]


def test_an_unmarked_unfinished_partial_of_an_earlier_version_is_still_deleted(tmp_path):
    stale = tmp_path / "run.partial"
    stale.mkdir()
    (stale / "metrics.csv").write_text("old rows\n")
    run = RunDir(tmp_path / "run")
    assert not (stale / "metrics.csv").exists()
    run.abandon()


def test_a_compare_deletes_its_own_staging_folder_only(tmp_path):
    final = tmp_path / "cmp"
    (final / "runs").mkdir(parents=True)  # an earlier compare: the next is staged in cmp.partial
    own = tmp_path / "cmp.partial"
    own.mkdir()
    (own / "compare.csv").write_text("a finished compare of the user's\n")
    with pytest.raises(ConfigError, match="is in the way"):
        into_folder(final, lambda out: (out / "compare.csv").write_text("new\n"))
    assert (own / "compare.csv").read_text() == "a finished compare of the user's\n"
    own.rename(tmp_path / "moved")
    into_folder(final, lambda out: (out / "compare.csv").write_text("new\n"))
    assert (final / "compare.csv").read_text() == "new\n" and not (final / STAGING_MARK).exists()
    assert not own.exists()


def test_what_came_into_the_folder_while_the_run_went_on_is_not_replaced(tmp_path):
    """The folder is checked as the run starts; a sweep started there meanwhile (or a figure plotted into it) was
    swapped out with the earlier run and deleted, the sweep's finished points with it. Now the run is refused
    its place, in one line, and kept, finished and unmarked, in its partial folder; the folder is untouched."""
    from ampsim.errors import RunError

    out = tmp_path / "run"
    with RunDir(out) as first:
        first.write_config("x = 1\n")
    run = RunDir(out)
    run.write_config("x = 2\n")
    (out / ".sweep.lock").write_text("123\n")  # a sweep began there meanwhile
    (out / "0123456789ab").mkdir()
    (out / "0123456789ab" / "summary.json").write_text("{}")
    before = snapshot(out)
    with pytest.raises(RunError, match=r"not replaced: it holds \.sweep\.lock, 0123456789ab/ since the run began"):
        with run:
            pass
    assert snapshot(out) == before
    assert snapshot(run.partial)["config.toml"] == b"x = 2\n" and STAGING_MARK not in snapshot(run.partial)
    assert not run.lock_path.exists()
    with pytest.raises(ConfigError):  # a finished run: never deleted by the next run into the folder
        RunDir(out)


def test_a_run_into_a_kept_partial_folder_says_what_the_folder_is(tmp_path, capsys):
    """``--out x.partial`` on the partial run a failed run into ``x`` kept was refused for holding ampsim's own
    mark ("also holds .ampsim-staging, which no run writes ... move that out first": moved, the next run into
    ``x`` deleted the new run). It is refused as the staging folder it is, the folder untouched."""
    first = RunDir(tmp_path / "x")
    (first.partial / "metrics.csv").write_text("epoch\n1\n")
    first.epochs = 1
    first.abandon()  # kept, marked
    before = snapshot(first.partial)
    assert main(["train", str(BLOBS), "--out", str(first.partial), *SMALL]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"ampsim: error: {first.partial}: the staging folder of a run into {tmp_path / 'x'}") \
        and "\n" not in err and STAGING_MARK not in err, err
    assert snapshot(first.partial) == before


@pytest.mark.parametrize("stop", [OSError(16, "Device or resource busy"), KeyboardInterrupt()], ids=["busy", "ctrl-c"])
def test_a_compare_stopped_while_moving_the_folders_entries_along_puts_them_back(tmp_path, monkeypatch, stop):
    """Over an earlier compare, the folder's other entries move into the staging folder just before the swap. One
    that could not be moved (a mount point; for a user, a folder without write permission) or a Ctrl-C then left
    those moved before it in the staging folder, with a traceback, and the next compare into the folder deleted
    them with it: the user's notes, a finished re-scoring. Now they go back, and a failed move is one line."""
    import os

    from ampsim.results import partial_path

    final = tmp_path / "cmp"
    (final / "runs").mkdir(parents=True)  # an earlier compare: the next is staged in cmp.partial
    for name in ("notes_a", "notes_b", "notes_c"):
        (final / name).mkdir()
        (final / name / "n.txt").write_text(f"{name}\n")
    before = snapshot(final)
    real, calls = os.rename, []

    def rename(src, dst):
        if Path(dst).parent == partial_path(final):
            calls.append(src)
            if len(calls) == 2:  # the second entry moved along: one is in the staging folder already
                raise stop
        return real(src, dst)

    monkeypatch.setattr(os, "rename", rename)
    with pytest.raises(type(stop) if isinstance(stop, KeyboardInterrupt) else ConfigError) as err:
        into_folder(final, lambda out: (out / "compare.csv").write_text("new\n"))
    if isinstance(stop, OSError):
        assert str(err.value).startswith(f"{calls[1]}: cannot be moved along into the new compare (device or "
                                         f"resource busy), so it cannot replace {final}, which is as it was")
    assert snapshot(final) == before
    monkeypatch.setattr(os, "rename", real)
    into_folder(final, lambda out: (out / "compare.csv").write_text("new\n"))  # deletes the staging folder
    assert snapshot(final) == {**before, "compare.csv": b"new\n"}


def test_what_cannot_be_moved_back_is_never_deleted_with_the_staging_folder(tmp_path, monkeypatch):
    """Where an entry moved along cannot go back either, the staging folder holding it is unmarked: the next compare
    into the folder refuses it, in one line, rather than delete it."""
    import os

    from ampsim.results import partial_path

    final, staging = tmp_path / "cmp", partial_path(tmp_path / "cmp")
    (final / "runs").mkdir(parents=True)
    for name in ("notes_a", "notes_b"):
        (final / name).mkdir()
    real, calls = os.rename, []

    def rename(src, dst):
        calls.append(src)
        if len(calls) >= 2:  # the second move along, and the move back of the first
            raise OSError(16, "Device or resource busy")
        return real(src, dst)

    monkeypatch.setattr(os, "rename", rename)
    with pytest.raises(ConfigError) as err:
        into_folder(final, lambda out: (out / "compare.csv").write_text("new\n"))
    first = Path(calls[0]).name
    assert err.value.__notes__ == [f"{first} could not be moved back into {final} from {staging}: move them by hand"]
    assert (staging / first).is_dir() and not (staging / STAGING_MARK).exists()
    monkeypatch.setattr(os, "rename", real)
    with pytest.raises(ConfigError, match="is in the way"):
        into_folder(final, lambda out: pytest.fail("the next compare ran"))
    assert (staging / first).is_dir()


def _sweep_file(tmp_path: Path) -> Path:
    sweep = tmp_path / "tiny.toml"
    sweep.write_text(f'[sweep]\nexperiment = "{BLOBS}"\n[fixed]\n"data.n_train" = 64\n"train.epochs" = 1\n'
                     '[grid]\n"train.mak" = [1]\n')
    return sweep


@pytest.mark.parametrize("command", ["train", "sweep", "calibrate", "plot", "demo"])
@pytest.mark.parametrize("inside", ["x", "x/deeper"])
def test_no_command_writes_into_the_staging_folder_of_a_run_that_did_not_finish(tmp_path, capsys, command, inside):
    """``--out st.partial/x`` (st.partial: a run into ``st`` that did not finish) trained a finished run there (a
    sweep, a calibrated model), and the next run into ``st`` deleted it with its staging folder, without a word;
    only compare refused it. Every command refuses it with the one check, before any work, naming the --out given
    (demo's refusal named its sweep's folder, ``x/sweep``, which the user never gave)."""
    staging = tmp_path / "st.partial"
    staging.mkdir()
    (staging / STAGING_MARK).touch()
    out = staging / inside
    args = {"train": ["train", str(BLOBS), "--out", str(out), *SMALL],
            "sweep": ["sweep", str(_sweep_file(tmp_path)), "--out", str(out), "--no-progress"],
            "calibrate": ["calibrate", "--out", str(out / "m.toml"), "--quick"],
            "plot": ["plot", str(tmp_path / "run"), "--out", str(out / "runs.png")],
            "demo": ["demo", "--out", str(out), "--no-progress"]}[command]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"ampsim: error: {args[args.index('--out') + 1]}: inside {staging}, the staging folder of "
                          "a run or compare that did not finish") and "\n" not in err, err
    assert sorted(p.name for p in staging.iterdir()) == [STAGING_MARK]


def test_the_api_is_told_of_its_own_argument(tmp_path):
    import ampsim

    (tmp_path / "st.partial").mkdir()
    (tmp_path / "st.partial" / STAGING_MARK).touch()
    with pytest.raises(ConfigError, match=r"the staging folder of a run or compare .* give out= elsewhere$"):
        ampsim.train(BLOBS, tmp_path / "st.partial" / "x", overrides={"data.n_train": 64, "train.epochs": 1})


def test_an_interrupt_as_an_epochs_row_is_closed_keeps_the_epoch_it_wrote(tmp_path, monkeypatch):
    """A Ctrl-C or SIGTERM that arrives as metrics.csv closes (its row flushed to the file) found the epoch not yet
    counted: the run said "no epoch had finished, so nothing was kept" and deleted the partial run whose file held
    the row. The epoch is counted before the close, so the row and the count agree."""
    import builtins

    real_open = builtins.open

    class InterruptedAtClose:
        def __init__(self, f):
            self.f = f

        def __getattr__(self, name):
            return getattr(self.f, name)

        def __enter__(self):
            return self.f

        def __exit__(self, *exc):
            self.f.close()  # (the row reaches the file)
            raise KeyboardInterrupt

    def opening(path, *args, **kwargs):
        f = real_open(path, *args, **kwargs)
        return InterruptedAtClose(f) if Path(path).name == "metrics.csv" else f

    out = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt) as stopped:
        with RunDir(out) as run:
            monkeypatch.setattr(builtins, "open", opening)
            run.append_metrics({"epoch": 1, "loss": 0.5})
    monkeypatch.undo()
    assert run.epochs == 1
    assert "the partial run (1 epoch) is kept" in " ".join(getattr(stopped.value, "__notes__", []))
    assert (run.partial / "metrics.csv").read_text().splitlines() == ["epoch,loss", "1,0.5"]
