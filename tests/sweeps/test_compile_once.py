"""With numba's cache cold, every worker of a sweep compiled the replay loop alongside the others (a warning and
a minute or more of CPU each): the sweep now has one process compile it into the cache before its workers start,
where two or more of them will replay (:func:`ampsim.sweeps.numerics.compile_replay_loop`)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sweep_kit import tiny_sweep

from ampsim.executors.sim import jitkernel, jitstate, jitwarm
from ampsim.executors.sim.jitreplay import JitReplay
from ampsim.sweeps import numerics, pool
from ampsim.sweeps.run import run_sweep
from ampsim.sweeps.spec import load_sweep


@pytest.fixture
def pools(monkeypatch, tmp_path):
    """Each pool the sweep started, as (its tasks, its function), in order; the compilation ``compile_kernel``
    stands for writes a file per call (it runs in a process of its own)."""
    started: list[tuple[list, object]] = []
    real = pool.run_pool

    def recording(tasks, jobs, fn, *args, **kwargs):
        tasks = list(tasks)
        started.append((tasks, fn))
        return real(tasks, jobs, fn, *args, **kwargs)

    calls = tmp_path / "compiled"
    calls.mkdir()
    monkeypatch.setattr(pool, "run_pool", recording)
    monkeypatch.setattr(jitwarm, "compile_kernel", lambda: (calls / str(os.getpid())).touch() or True)
    return started, calls


def _sweep(tmp_path: Path, numerics_on: bool = False):
    path = tmp_path / "s.toml"
    path.write_text(tiny_sweep().replace('"executor.numerics" = false', f'"executor.numerics" = '
                                         f'{str(numerics_on).lower()}') + '"train.mak" = [1, 2, 3]\n')
    return load_sweep(path)


def test_the_replay_loop_is_compiled_once_before_the_workers_that_replay_start(pools, tmp_path):
    started, calls = pools
    run_sweep(_sweep(tmp_path), tmp_path / "out", jobs=2)
    assert [fn for _, fn in started] == [numerics._compile, started[1][1]]  # the compilation's pool first
    assert started[0][0] == ["compile"] and len(started[1][0]) == 3  # one task, then the three points
    compiled = [p.name for p in calls.iterdir()]
    assert len(compiled) == 1 and compiled[0] != str(os.getpid())  # once, in a process of its own


@pytest.mark.parametrize("numerics_on,jobs", [(True, 2), (False, 1)], ids=["no-point-replays", "one-worker"])
def test_nothing_is_compiled_ahead_where_no_two_workers_replay(numerics_on, jobs, pools, tmp_path):
    started, calls = pools
    run_sweep(_sweep(tmp_path, numerics_on), tmp_path / "out", jobs=jobs)
    assert len(started) == 1 and len(started[0][0]) == 3 and not list(calls.iterdir())


def test_the_compilation_runs_the_compiled_loop_as_a_replay_does_and_files_no_recording(monkeypatch, tmp_path,
                                                                                       statuses):
    """What it runs: every kernel function a replay calls from Python (the loop, and its stores grown), on
    whole-message and on packet links; the recording of its instances goes nowhere."""
    seen = statuses
    for name in ("first_capacity", "set_aside_room", "first_room"):  # (it sets them: put back after the test)
        monkeypatch.setattr(JitReplay, name, getattr(JitReplay, name))
    folder = tmp_path / "recordings"
    monkeypatch.setenv("AMPSIM_RECORDINGS", str(folder))
    grown: list[int] = []
    grow = jitstate.cq_grow

    def growing(Q, cap):  # the timed events' queue grown (its transfer compiled), not only the FIFO
        grown.append(cap)
        return grow(Q, cap)

    monkeypatch.setattr(jitstate, "cq_grow", growing)
    assert jitwarm.compile_kernel()
    assert seen.count(jitkernel.FINISHED) == 2 and jitkernel.GROW in seen and grown
    assert not folder.exists() or not list(folder.iterdir())


def test_without_the_compiled_loop_nothing_is_compiled(monkeypatch):
    monkeypatch.setattr(JitReplay, "compiled", False)  # (AMPSIM_COMPILED=0)
    assert not jitwarm.compile_kernel()


@pytest.mark.parametrize("fixed", ['"replicas.groups" = 2\n', '"replicas.nodes" = {fc0 = 2}\n',
                                   '"executor.trace" = true\n'],
                         ids=["replicas-that-synchronize", "copies-in-one-group-that-synchronize", "traced"])
def test_nothing_is_compiled_ahead_where_no_point_runs_the_compiled_loop(fixed, pools, tmp_path):
    """Replays whose replicas synchronize run the Python loop (the kernel hosts no collectives), traced ones the
    SimPy replay: with the cache cold, the compilation kept every point waiting a minute or more for a loop that
    none of them runs (every point of whatif_sst_collectives synchronizes)."""
    started, calls = pools
    path = tmp_path / "s.toml"
    path.write_text(tiny_sweep().replace("[grid]\n", fixed + "[grid]\n") + '"train.mak" = [1, 2, 3]\n')
    sweep = load_sweep(path)
    assert all(p.replays for p in sweep.points)  # (they replay: a figure of theirs needs no metric)
    run_sweep(sweep, tmp_path / "out", jobs=2)
    assert len(started) == 1 and len(started[0][0]) == 3 and not list(calls.iterdir())
