"""Sweeps: grid expansion, validation with one-line errors, resume after a kill, pool/Ray equivalence."""

import io
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from ampsim.cli import main
from ampsim.errors import ConfigError, RunError
from ampsim.sweeps.run import run_sweep
from ampsim.sweeps.spec import SEED_KEY, load_sweep

ROOT = Path(__file__).resolve().parents[2]
BLOBS = ROOT / "experiments" / "blobs_mlp.toml"
RING4 = ROOT / "hardware_models" / "ring4.toml"

HEAD = f"""
[sweep]
experiment = "{BLOBS}"
hardware = "{RING4}"
"""
SMALL = """
[fixed]
"data.n_train" = 320
"data.n_test" = 100
"model.hidden" = [16]
"train.epochs" = 2
"""


def write(tmp_path, text, name="sw.toml"):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_grid_is_cartesian_with_seeds_and_stable_ids(tmp_path):
    path = write(tmp_path, HEAD + "seeds = [0, 1]\n" + SMALL + """
[grid]
"train.mak" = [1, 2, 4]
"hardware.link.bandwidth_bytes_per_s" = [1e9, 1e10]
""", "a.toml")
    sweep = load_sweep(path)
    assert sweep.name == "a" and len(sweep.points) == 3 * 2 * 2
    assert sweep.keys == ["train.mak", "hardware.link.bandwidth_bytes_per_s", SEED_KEY]
    combos = {(p.values["train.mak"], p.values["hardware.link.bandwidth_bytes_per_s"], p.values[SEED_KEY])
              for p in sweep.points}
    assert len(combos) == 12
    ids = [p.point_id for p in sweep.points]
    assert len(set(ids)) == 12 and ids == [p.point_id for p in load_sweep(path).points]
    quick = load_sweep(path, quick=True)  # no [quick] table: first seed only
    assert len(quick.points) == 6 and {p.values[SEED_KEY] for p in quick.points} == {0}
    assert {p.point_id for p in quick.points} <= set(ids)


@pytest.mark.parametrize("setting,same", [
    ('"train.staleness" = "none"', True),  # unless_default, at its default: the id predating it
    ('"train.admission_slow_start" = true', True),
    ('"replicas.collective" = "ring"', True),
    ('"executor.numerics" = true', True),
    ('"train.max_loss" = 5.0', True),  # never: it cannot change a result
    ('"executor.watchdog_s" = 1.0', True),
    ('"train.staleness" = "stash"', False),  # unless_default, set: another run
    ('"train.max_staleness" = 1.0', False),
    ('"replicas.sync_every" = 1', True),  # a [replicas] section wholly at its defaults is left out
    ('"replicas.sync_every" = 2', False),
    ('"train.muf" = 1', True),  # always: the default, counted either way
    ('"train.muf" = 2', False)])
def test_a_point_id_counts_each_field_by_its_rule(tmp_path, setting, same):
    """Each config field's ``point_id`` rule (ampsim.config.spec) decides whether setting it changes a
    point's id: options added after results were committed keep the old ids at their defaults."""
    grid = '[grid]\n"train.mak" = [2]\n'
    base = load_sweep(write(tmp_path, HEAD + SMALL + grid, "base.toml")).points[0].point_id
    other = load_sweep(write(tmp_path, HEAD + SMALL + setting + "\n" + grid, "set.toml")).points[0].point_id
    assert (other == base) is same


def test_points_cross_grid_fill_missing_values_and_quick_overrides(tmp_path):
    path = write(tmp_path, HEAD + SMALL + """
[[points]]
label = "sync"
"train.mak" = 1
[[points]]
"train.mak" = 4
"train.muf" = 2
[grid]
"hardware.topology" = [{ kind = "ring", n = 4 }, { kind = "mesh2d", shape = [2, 3] }]
[quick]
fixed = { "train.epochs" = 1 }
grid = { "hardware.topology" = [{ kind = "ring", n = 4 }] }
""")
    sweep = load_sweep(path)
    assert len(sweep.points) == 4 and sweep.keys == ["train.mak", "train.muf", "hardware.topology"]
    first = sweep.points[0]
    assert first.label == "sync" and first.values["train.muf"] == 1  # filled from the resolved config
    assert sweep.points[1].values["hardware.topology"] == {"kind": "mesh2d", "shape": [2, 3]}
    quick = load_sweep(path, quick=True)
    assert len(quick.points) == 2 and ("train.epochs", 1) in quick.points[0].overrides


FIG = '[grid]\n"train.mak" = [1]\n[[figure]]\nname = "f"\nkind = "xy"\nx = "{x}"\ny = "{y}"\n'


@pytest.mark.parametrize("body,message", [
    ('[grid]\n"train.mka" = [1, 2]\n', "grid.train.mka: unknown key (known: epochs, "),
    ('[grid]\n"bogus.x" = [1]\n', "grid.bogus.x: unknown sweep key"),
    ('[grid]\n"train.mak" = []\n', "grid.train.mak: empty grid"),
    ("[grid]\n", "grid: empty grid"),
    ('[grid]\n"train.mak" = 4\n', "grid.train.mak: must be an array"),
    ('[fixed]\n"model.hiden" = [3]\n[grid]\n"train.mak" = [1]\n', "fixed.model.hiden: unknown key (known: hidden, init); did you mean 'hidden'?"),
    # a value blamed on its own place in the sweep file, not on the experiment file, which holds no such value
    ('[grid]\n"train.mak" = [1, 0]\n', "sw.toml: grid.train.mak[1]: must be >= 1, got 0"),
    ('[fixed]\n"train.epochs" = "1"\n[grid]\n"train.lr" = [0.01]\n', "sw.toml: fixed.train.epochs: expected integer, "
     "got string '1'"),
    ('[fixed]\ntrain = { lrr = 1 }\n[grid]\n"train.mak" = [1]\n', "sw.toml: fixed.train.lrr: unknown key (known: epochs, "),
    ('[[points]]\n"train.mak" = 1\n[[points]]\n"train.lr" = "fast"\n', "sw.toml: points[1].train.lr: expected number"),
    ('[grid]\n"experiment.task" = ["mlp", "nope"]\n', "sw.toml: grid.experiment.task[1]: unknown task 'nope'"),
    ('[grid]\n"hardware.link.bandwith" = [1e9]\n', "link.bandwith: unknown key"),
    ('[grid]\n"hardware.topology" = [{ kind = "torus2d", shape = [2, 2] }]\n', "topology.shape"),
    ("[points]\n", "points: must be an array of tables"),
    ("", "nothing to sweep"),
    ('[grid]\n"train.mak" = [1]\n[quick]\ngrid = { "train.muf" = [1] }\n', "quick.grid.train.muf: not an axis"),
    ('[grid]\n"train.mak" = [1]\n[quick]\nfixed = { "train.lrate" = 1 }\n', "quick.fixed.train.lrate: unknown"),
    ('[grid]\n"train.mak" = [1]\n[quick]\nfixed = 3\n', "quick.fixed: must be a table"),
    ('[grid]\n"train.mak" = [1]\n[quick]\ngrid = 3\n', "quick.grid: must be a table"),
    ('[grid]\n"train.mak" = [1]\n[[figure]]\nname = "f"\nkind = "pie"\n', "figure[0].kind: must be one of"),
    # figure mistakes that surfaced only at plot time, after the whole sweep ran
    (FIG.format(x="train.mak", y="throughputt"), "figure[0].y: 'throughputt' is no column of the sweep's table"),
    (FIG.format(x="train.mka", y="throughput"), "figure[0].x: 'train.mka' is no column of the sweep's table"),
    (FIG.replace('y = "{y}"', 'y = ["throughput"]').format(x="train.mak"), "figure[0].y: expected a column's name"),
    (FIG.replace('name = "f"', 'name = "a\\u0000b"').format(x="train.mak", y="throughput"), "cannot name a folder"),
    (FIG.replace('name = "f"', 'name = "a\\nb"').format(x="train.mak", y="throughput"), "cannot name a folder"),
    (FIG.replace('name = "f"', 'name = ".."').format(x="train.mak", y="throughput"), "cannot name a folder"),
    ('[grid]\n"train.mak" = [1]\n[[figure]]\nname = "t"\nkind = "timeline"\n',
     "figure[0] (t): a timeline draws a run's trace, which no point writes"),
    # values of the wrong type were coerced: logx = "false" drew a log axis, window = true was 1.0
    (FIG.format(x="train.mak", y="throughput") + 'logx = "false"\n', "figure[0].logx: expected true or false"),
    (FIG.format(x="train.mak", y="throughput") + 'links = "maybe"\n', "figure[0].links: expected true or false"),
    # a log axis the kind has not: drawn linear without a word
    (FIG.replace('"xy"', '"bar"').format(x="train.mak", y="throughput") + "logx = true\n",
     "figure[0].logx: a bar figure has no log x axis (its x is categories)"),
    ('[grid]\n"train.mak" = [1]\n[[figure]]\nname = "h"\nkind = "heatmap"\nlogy = true\n',
     "figure[0].logy: a heatmap figure has no log y axis"),
    (FIG.format(x="train.mak", y="throughput") + "window = true\n", "figure[0].window: a fraction of the run"),
    (FIG.format(x="train.mak", y="throughput") + "title = 1\n", "figure[0].title: expected text, got 1"),
    (FIG.format(x="train.mak", y="throughput") + 'xlabel = ["a"]\n', "figure[0].xlabel: expected text"),
    ('description = 1\n[grid]\n"train.mak" = [1]\n', "sweep.description: expected text, got 1"),
    # one value written two ways: hashed apart as given, two points of one run (the train keys always were one)
    ('[grid]\n"hardware.link.bandwidth_bytes_per_s" = [1000000000, 1e9]\n', "resolves to the same run as point 0"),
    ('[grid]\n"train.lr" = [1, 1.0]\n', "resolves to the same run as point 0"),
    # refused only by the plan stage or the run, after the points before them had run (--check passed them)
    ('[grid]\n"model.hidden" = [[8], [0]]\n', "grid.model.hidden[1][0]: must be >= 1, got 0"),  # (the field's bound)
    ('[grid]\n"placement.strategy" = ["round_robin", "explicit"]\n', "placement.strategy = \"explicit\" needs a map"),
    ('[grid]\n"train.muf" = [1, 100000]\n', "point 1 (train.muf=100000): "),
    ('[fixed]\n"train.epochs" = 1\n"train.max_instances" = 8\n"train.muf" = 5\n[grid]\n"replicas.groups" = [1, 2]\n',
     "point 1 (replicas.groups=2): "),
    # muf 1 (the default) read no instances: more groups than the run's instances passed, and the run refused them
    ('[fixed]\n"train.epochs" = 1\n"train.max_instances" = 2\n[grid]\n"replicas.groups" = [2, 3]\n',
     "point 1 (replicas.groups=3): "),
])
def test_malformed_sweeps_are_one_line_errors_naming_file_and_field(tmp_path, body, message, capsys):
    path = write(tmp_path, HEAD + body)
    with pytest.raises(ConfigError) as err:
        load_sweep(path)
    text = str(err.value)
    assert text.startswith(str(path)) and message in text and "\n" not in text
    assert main(["sweep", str(path)]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ampsim: error: ") and message in lines[0]


TINY = HEAD + SMALL + """
[grid]
"train.mak" = [1, 4]
"hardware.link.bandwidth_bytes_per_s" = [1e9, 1e10]
"""


def _caught(signum: int) -> bool:
    """Whether this process catches ``signum`` at the C level (Python's ``getsignal`` may say so when it does
    not)."""
    mask = next(line for line in Path("/proc/self/status").read_text().splitlines() if line.startswith("SigCgt:"))
    return bool(int(mask.split()[1], 16) >> (signum - 1) & 1)


def _ray_and_pool_tables(tmp_path: Path) -> tuple[str, str, bool]:
    """(in a process of its own) The tables of one sweep on the local pool and on a local Ray instance, and whether
    the caller's SIGTERM handler survived the Ray sweep."""
    import signal

    import ray  # noqa: F401  a dev dependency: the Ray path must be tested, never skipped

    sweep = load_sweep(write(tmp_path, TINY))
    pool = run_sweep(sweep, tmp_path / "pool", jobs=2)
    previous = signal.signal(signal.SIGTERM, lambda *_: None)
    try:
        with_ray = run_sweep(sweep, tmp_path / "ray", jobs=2, ray=True)
        caught = _caught(signal.SIGTERM)
    finally:
        signal.signal(signal.SIGTERM, previous)
    return pool.read_text(), with_ray.read_text(), caught


def test_ray_gives_the_same_table_as_the_local_pool(tmp_path):
    """... and leaves the caller's SIGTERM handler in place (``ray.shutdown`` reset it to the default, so a
    SIGTERM after the points had finished killed the sweep silently, its table unwritten). In a process of its
    own: Ray leaves threads running in the process that started it (its gRPC core), and the later sweeps of this
    one would then spawn their workers instead of forking them (``ampsim.sweeps.pool.start_method``), and not see
    the monkeypatched functions some tests hand them."""
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(1, mp_context=mp.get_context("fork")) as ex:
        pool, with_ray, caught = ex.submit(_ray_and_pool_tables, tmp_path).result(timeout=240)
    assert caught
    assert pool == with_ray
    df = pd.read_csv(io.StringIO(pool))
    assert len(df) == 4 and df["final_metric"].notna().all() and (df["time_unit"] == "simulated").all()
    assert list(df.columns[:2]) == ["train.mak", "hardware.link.bandwidth_bytes_per_s"]
    assert df["throughput"].gt(0).all() and "staleness_mean" in df and "chip_util_mean" in df


def _finished(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")] if folder.exists() else []


def test_resume_after_kill_loses_and_duplicates_nothing(tmp_path):
    text = TINY.replace('"train.epochs" = 2', '"train.epochs" = 3').replace(
        '"train.mak" = [1, 4]', '"train.mak" = [1, 2, 4, 8]')
    path = write(tmp_path, text)
    sweep = load_sweep(path)
    n = len(sweep.points)
    killed = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "ampsim.cli", "sweep", str(path), "--jobs", "1",
                             "--out", str(killed), "--no-progress"], cwd=ROOT, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while len(_finished(killed)) < 2 and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    partial = len(_finished(killed))
    assert partial >= 2 and not (killed / "table.csv").exists() or partial == n
    for p in _finished(killed):  # every folder named by a point id is a complete run
        assert (p / "summary.json").is_file() and (p / "point.json").is_file()
    assert main(["sweep", str(path), "--out", str(killed), "--no-progress", "--jobs", "2"]) == 0
    run_sweep(sweep, tmp_path / "whole", jobs=2)
    assert sorted(p.name for p in _finished(killed)) == sorted(p.point_id for p in sweep.points)
    assert not list(killed.glob(".tmp-*"))
    assert (killed / "table.csv").read_text() == (tmp_path / "whole" / "table.csv").read_text()
    before = {p.name: (p / "summary.json").stat().st_mtime_ns for p in _finished(killed)}
    run_sweep(sweep, killed, jobs=2)  # nothing left to run: no point is re-run
    assert before == {p.name: (p / "summary.json").stat().st_mtime_ns for p in _finished(killed)}


def test_a_failing_point_is_reported_the_others_are_kept_and_no_table_is_written(tmp_path, capsys, monkeypatch):
    """A fault (a crashed worker, here one made to fail; a chip out of memory is an outcome: test_sweep_oom.py)
    fails the sweep in one line, keeps the finished points, writes no table, and is tried again."""
    import ampsim.training

    train = ampsim.training.train_experiment

    def crashing(cfg, out, **kw):
        if cfg.train.mak == 2:
            raise RunError("worker 1 (pid 4242) exited with status -9")
        return train(cfg, out, **kw)

    monkeypatch.setattr(ampsim.training, "train_experiment", crashing)  # (the pool's forked workers see it too)
    path = write(tmp_path, HEAD + SMALL + """
[grid]
"train.mak" = [1, 2]
""")
    out = tmp_path / "out"
    assert main(["sweep", str(path), "--out", str(out), "--no-progress", "--jobs", "2"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "1 of 2 point(s) failed" in err[0] and "exited with status -9" in err[0]
    assert len(_finished(out)) == 1 and not (out / "table.csv").exists() and not list(out.glob(".tmp-*"))
    assert main(["sweep", str(path), "--out", str(out), "--no-progress", "--jobs", "1"]) == 2  # tried again
    assert "1 of 1 point(s) failed" in capsys.readouterr().err


def test_a_point_that_finds_the_disk_full_says_so_as_a_run_does(tmp_path, capsys, monkeypatch):
    """A point stopped by a full disk (a 200 KB tmpfs: a write that names no file) failed the sweep with
    "OSError: [Errno 28] No space left on device", where a run says "writing the results: no space left on device"."""
    import errno

    import ampsim.training

    def full(cfg, out, **kw):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(ampsim.training, "train_experiment", full)
    path = write(tmp_path, HEAD + SMALL + """
[grid]
"train.mak" = [1]
""")
    assert main(["sweep", str(path), "--out", str(tmp_path / "out"), "--no-progress", "--jobs", "1"]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.endswith(": writing its results: no space left on device); finished points are kept, re-run to "
                         "retry the rest"), line


def test_a_point_that_diverges_is_a_row_saying_so(tmp_path):
    """A learning rate or staleness that diverges is an outcome a sweep exists to show; it failed the point,
    so the sweep never wrote its table (and a re-run diverged again). Now the point is done, its row says
    ``diverged`` with no metric, after the epochs it finished, and a re-run keeps it."""
    path = write(tmp_path, HEAD + SMALL + """
[grid]
"train.lr" = [0.003, 1.0e6]
"train.optimizer" = ["sgd"]
[[figure]]
name = "curves"
kind = "curves"
x = "epoch"
y = "metric"
[[figure]]
name = "stale"
kind = "xy"
x = "train.lr"
y = "staleness_mean"
""")
    out = tmp_path / "out"
    table = pd.read_csv(run_sweep(load_sweep(path), out, jobs=2))
    fine, diverged = table.sort_values("train.lr").to_dict("records")
    assert pd.isna(fine["diverged"]) and fine["final_metric"] > 0 and fine["epochs"] == 2
    assert diverged["diverged"].startswith("loss became") and "the run diverged" in diverged["diverged"]
    assert pd.isna(diverged["final_metric"]) and diverged["epochs"] == 0
    # blanks, not numbers: no staleness was measured, no epoch ended (0 and 0.0 drew a line at zero)
    assert pd.isna(diverged["staleness_mean"]) and pd.isna(diverged["staleness_max"]) and pd.isna(diverged["time_s"])
    assert main(["plot", str(path), "--sweep-dir", str(out), "--out", str(tmp_path / "figs")]) == 0  # (no metrics.csv)
    assert sorted(p.name for p in (tmp_path / "figs").glob("*.png")) == ["curves.png", "stale.png"]
    again = run_sweep(load_sweep(path), out, jobs=1)  # done: not run again, the same table
    assert pd.read_csv(again).equals(table)
    assert "diverged" not in pd.read_csv(run_sweep(load_sweep(write(tmp_path, TINY, "t.toml")), tmp_path / "t"))


def test_seeds_and_a_seed_axis_conflict(tmp_path):
    path = write(tmp_path, HEAD + 'seeds = [0, 1]\n[grid]\n"experiment.seed" = [3]\n')
    with pytest.raises(ConfigError, match="not both"):
        load_sweep(path)


def test_fresh_deletes_only_the_sweeps_own_results(tmp_path):
    sweep = load_sweep(write(tmp_path, TINY))
    out = tmp_path / "out"
    run_sweep(sweep, out, jobs=2)
    (out / "notes.txt").write_text("mine")
    (out / "other").mkdir()
    first = {p.name: (p / "summary.json").stat().st_mtime_ns for p in _finished(out) if p.name != "other"}
    run_sweep(sweep, out, jobs=2, fresh=True)
    assert (out / "notes.txt").read_text() == "mine" and (out / "other").is_dir()
    again = {p.name: (p / "summary.json").stat().st_mtime_ns for p in _finished(out) if p.name != "other"}
    assert again.keys() == first.keys() and all(again[k] != first[k] for k in first)


def test_a_point_whose_summary_was_deleted_is_run_again_and_replaced(tmp_path):
    """A point folder without summary.json (deleted by hand) is unfinished: the re-run trains it again and
    swaps the new folder in (before, renaming over the non-empty folder failed on every re-run, and only
    --fresh, which deletes every point, got the sweep going), unless it also holds files no run writes (the
    user's: refused in one line, untouched). A folder by a point's name that is not that point's is left alone
    and named in one line."""
    sweep = load_sweep(write(tmp_path, TINY))
    out = tmp_path / "out"
    table = run_sweep(sweep, out, jobs=1).read_text()
    damaged, kept = out / sweep.points[0].point_id, out / sweep.points[1].point_id
    (damaged / "summary.json").unlink()
    (damaged / "notes.txt").write_text("mine\n")
    with pytest.raises(ConfigError, match=r"has no summary.json and is run again, but its folder also holds notes.txt"):
        run_sweep(sweep, out, jobs=1)
    assert (damaged / "notes.txt").read_text() == "mine\n"
    (damaged / "notes.txt").unlink()
    mtime = (kept / "summary.json").stat().st_mtime_ns
    assert run_sweep(sweep, out, jobs=1).read_text() == table
    assert (damaged / "summary.json").is_file()
    assert (kept / "summary.json").stat().st_mtime_ns == mtime  # the finished points are not run again
    assert not list(out.glob(".tmp-*"))
    shutil.rmtree(damaged)
    damaged.mkdir()
    (damaged / "mine.txt").write_text("not a point\n")
    with pytest.raises(ConfigError, match=rf"^{damaged}: in the way of point {damaged.name} \(not a finished point"):
        run_sweep(sweep, out, jobs=1)
    assert (damaged / "mine.txt").read_text() == "not a point\n"


def test_a_folder_in_the_way_of_the_last_point_is_refused_before_any_point_runs(tmp_path):
    """It was refused only at that point's turn, after every other point had run (hours, on a real sweep)."""
    sweep = load_sweep(write(tmp_path, TINY))
    out = tmp_path / "out"
    run_sweep(sweep, out, jobs=1)
    first, last = (out / p.point_id for p in (sweep.points[0], sweep.points[-1]))
    shutil.rmtree(first)  # to run again
    shutil.rmtree(last)
    last.mkdir()
    (last / "mine.txt").write_text("not a point\n")
    with pytest.raises(ConfigError, match=rf"^{last}: in the way of point {last.name} \(not a finished point"):
        run_sweep(sweep, out, jobs=1)
    assert not first.exists() and (last / "mine.txt").read_text() == "not a point\n"  # nothing ran


def test_a_run_in_a_points_folder_is_neither_written_there_nor_taken_for_the_point(tmp_path, capsys):
    """``train`` into a point folder replaced the point, and the next sweep took that run (another config, other
    numbers) for its finished point and put it in its table. Now ``train`` refuses the folder, and a run that
    got there otherwise (no point record naming the point) is in the way, named in one line, left alone."""
    sweep = load_sweep(write(tmp_path, TINY))
    out = tmp_path / "out"
    table = run_sweep(sweep, out, jobs=1).read_text()
    point = out / sweep.points[0].point_id
    before = {f.name: f.read_bytes() for f in point.iterdir()}
    assert main(["train", str(BLOBS), "--no-progress", "--out", str(point), "--set", "train.epochs=1"]) == 2
    assert f"{point}: is a sweep's point (it holds point.json)" in capsys.readouterr().err
    assert {f.name: f.read_bytes() for f in point.iterdir()} == before
    (point / "point.json").unlink()  # what a run trained there by other means leaves: a run folder, no record
    with pytest.raises(ConfigError, match=rf"^{point}: in the way of point {point.name} \(a run, not known as this "
                                       r"sweep's point: it has no point.json\)"):
        run_sweep(sweep, out, jobs=1)
    assert (point / "summary.json").read_bytes() == before["summary.json"] and (out / "table.csv").read_text() == table


def test_fresh_leaves_links_to_folders_elsewhere_alone(tmp_path):
    """A symlink in the sweep's folder (to a copy of a point kept elsewhere): --fresh crashed on it halfway,
    after deleting the points and the table before it."""
    sweep = load_sweep(write(tmp_path, TINY))
    out = tmp_path / "out"
    run_sweep(sweep, out, jobs=2)
    keep = shutil.copytree(out / sweep.points[0].point_id, tmp_path / "keep")
    (out / "linked").symlink_to(keep)
    run_sweep(sweep, out, jobs=2, fresh=True)
    assert (out / "linked").is_symlink() and (keep / "summary.json").is_file() and (out / "table.csv").is_file()


@pytest.mark.parametrize("make, words", [(lambda p: p.mkdir(), "is a folder"), (lambda p: os.mkfifo(p), "is a pipe or device"),
                                         (lambda p: p.symlink_to(p.with_name("nowhere")), "is a link to nothing")],
                         ids=["folder", "fifo", "dangling"])
def test_a_sweeps_experiment_that_is_not_a_file_says_what_it_is(tmp_path, make, words):
    """A folder, a pipe or a link to nothing as ``sweep.experiment`` was reported as "no such file"."""
    make(tmp_path / "exp.toml")
    (tmp_path / "s.toml").write_text('[sweep]\nexperiment = "exp.toml"\n[grid]\n"train.mak" = [1]\n')
    with pytest.raises(ConfigError, match=rf"sweep.experiment: 'exp.toml' {words}, not an experiment or hardware"):
        load_sweep(tmp_path / "s.toml")


@pytest.mark.parametrize("seeds", ["", "seeds = [7]\n"], ids=["no-seeds", "one-seed"])
def test_quick_without_a_quick_table_or_seeds_says_it_runs_the_whole_sweep(tmp_path, caplog, seeds):
    path = write(tmp_path, HEAD + seeds + SMALL + '[grid]\n"train.mak" = [1, 4]\n')
    with caplog.at_level("WARNING", logger="ampsim.sweeps.spec"):
        assert len(load_sweep(path, quick=True).points) == len(load_sweep(path).points)
    assert f"{path}: no [quick] table, no seeds to cut: its quick variant is all" in caplog.text


def test_a_pattern_tables_order_is_part_of_its_points_id(tmp_path):
    """First match wins in replicas.nodes (and train.staleness_nodes, placement.map): two orders of a table with a
    pattern are two runs, which the sorted id took for one (refused as a duplicate, or a re-run reusing the other
    order's finished point); tables of plain names keep one id whatever their order (committed ids unchanged)."""
    def ids(*tables: str) -> list[str]:
        points = "".join(f'[[points]]\n"replicas.nodes" = {t}\n' for t in tables)
        return [p.point_id for p in load_sweep(write(tmp_path, HEAD + SMALL + points)).points]

    a, b = ids('{ "fc*" = 3, "*0" = 2 }', '{ "*0" = 2, "fc*" = 3 }')  # (fc0: 3 copies, then 2)
    assert a != b
    with pytest.raises(ConfigError, match="resolves to the same run as point 0"):
        ids("{ fc0 = 2, fc1 = 3 }", "{ fc1 = 3, fc0 = 2 }")


def test_a_single_pattern_keeps_its_points_id(tmp_path):
    """One key has no order: {"fc*" = 2} hashes as it did before pattern tables counted their order."""
    from ampsim.config import load_config
    from ampsim.sweeps.ids import id_view

    cfg = load_config(BLOBS, [("replicas.nodes", {"fc*": 2})])
    assert "order" not in id_view(cfg)
    assert id_view(load_config(BLOBS, [("replicas.nodes", {"fc1": 3, "*": 2})]))["order"] == {
        "replicas.nodes": ["fc1", "*"]}


@pytest.mark.parametrize("file, sets", [
    ("blobs_mlp", {"data.batch": 7, "data.limit_train": 100}), ("blobs_mlp", {"data.n_train": 64}),
    ("list_reduction", {"data.n_train": 300, "data.n_test": 10, "data.batch": 8}),
    ("mnist_mlp", {"data.limit_train": 1000, "data.limit_test": 10}),
    ("sst_treelstm", {"data.limit_train": 40, "data.limit_test": 5}),
    ("sst_treelstm", {"data.limit_train": 40, "data.limit_test": 5, "data.classes": 5}),
    ("qm9_ggnn", {"data.limit_train": 30, "data.limit_valid": 5, "data.batch": 4}),
])
def test_a_sweep_counts_a_tasks_instances_as_its_build_does(request, file, sets):
    """sweep --check compares train.muf with models.epoch_instances, read without building the model."""
    import ampsim
    from ampsim.models import build_task, epoch_instances

    if file not in ("blobs_mlp", "list_reduction"):
        request.getfixturevalue("data_root")  # (skips without the datasets)
    cfg = ampsim.load_experiment(ROOT / "experiments" / f"{file}.toml", sets)
    assert epoch_instances(cfg) == build_task(cfg).info["instances_per_epoch"]
    if file == "sst_treelstm":  # the whole file too, counted from its root labels
        from ampsim.data import sst

        assert sst.count_sst("train", drop_neutral=True) == len(sst.drop_neutral_roots(sst.load_sst("train")))
        assert sst.count_sst("train") == len(sst.load_sst("train"))


def test_check_validates_the_quick_variants_values_too(tmp_path, capsys):
    """Its keys were checked, its values only with --quick: a [quick] table that could never run passed."""
    path = tmp_path / "s.toml"
    path.write_text(f'[sweep]\nexperiment = "{BLOBS}"\n[grid]\n"train.mak" = [1, 4]\n'
                    '[quick]\nfixed = {"train.lr" = -1}\n')
    assert main(["sweep", str(path), "--check"]) == 2
    assert f"ampsim: error: {path}: quick.fixed.train.lr: must be > 0, got -1" in capsys.readouterr().err
    path.write_text(path.read_text().replace("-1", "0.5"))
    assert main(["sweep", str(path), "--check"]) == 0
    assert capsys.readouterr().out.strip().endswith("2 valid points over train.mak (2 in its [quick] variant)")
