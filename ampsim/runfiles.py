"""The names of the files in a run folder, in one place: who writes each, and who reads it.

A run folder (``results/<run>/``, a sweep's point, a compare's measured run) is written by several layers, the
executors below the run's own writer (:mod:`ampsim.results`) and read by several above it (sweep tables,
figures, compare's re-scoring); each names its files from here, so a name changed here is changed for all.

>>> from ampsim import runfiles
>>> runfiles.SUMMARY in runfiles.RUN_FILES and runfiles.TRACE in runfiles.RUN_OUTPUTS
True
>>> runfiles.POINT in runfiles.RUN_OUTPUTS   # a sweep's record beside the run, not a run's own output
False
"""

from __future__ import annotations

import os

__all__ = ["CONFIG", "METRICS", "SUMMARY", "ENVIRONMENT", "HARDWARE_COPY", "PLACEMENT", "STALENESS", "TIMING",
           "TRACE", "POINT", "SWEEP_INFO", "RUN_FILES", "RUN_OUTPUTS", "METRICS_COLUMNS", "metrics_columns",
           "holds_finished_run", "folder_kind"]

#: the resolved experiment (:class:`ampsim.results.RunDir`); ``ampsim train`` accepts it back
CONFIG = "config.toml"
#: one row per epoch, appended as each ends (:class:`ampsim.results.RunDir`)
METRICS = "metrics.csv"
#: the run's results, written last (:class:`ampsim.results.RunDir`)
SUMMARY = "summary.json"
#: what the run ran with beyond its config (:mod:`ampsim.environment`, written as the folder is made)
ENVIRONMENT = "environment.json"
#: a copy of the hardware file the run simulated (:mod:`ampsim.hardware.source`)
HARDWARE_COPY = "hardware.toml"
#: node -> chip and the estimated load (:class:`ampsim.executors.base.ExecutorBase`)
PLACEMENT = "placement.json"
#: per-update staleness (:mod:`ampsim.training`)
STALENESS = "staleness.json"
#: wall seconds per epoch (:mod:`ampsim.training`)
TIMING = "timing.json"
#: a Chrome/Perfetto trace, where one was asked for (the simulated and multicore executors)
TRACE = "trace.json"
#: a sweep's record of the point a run folder is (:mod:`ampsim.sweeps.run`): its overrides and swept values
POINT = "point.json"
#: a sweep folder's record of the sweep, beside its table (:mod:`ampsim.tables`)
SWEEP_INFO = "sweep.json"

#: the files every run writes: an existing folder holding one of them (and no sub-folder) is a run folder
RUN_FILES = (CONFIG, METRICS, SUMMARY)
#: every file a run writes into its folder: anything else in a run folder is the user's, which a run into the
#: folder would delete with the folder, so it is refused instead
RUN_OUTPUTS = (*RUN_FILES, ENVIRONMENT, HARDWARE_COPY, PLACEMENT, STALENESS, TIMING, TRACE)


#: :data:`METRICS`'s columns, in the order a run writes them (:func:`ampsim.training.run_training`'s row), the
#: name of the run's metric (``test_accuracy``, ...) after them: :func:`metrics_columns`
METRICS_COLUMNS = ("epoch", "instances", "time_s", "wall_s", "train_loss")


def metrics_columns(metric: str, *, simulated: bool) -> list[str]:
    """:data:`METRICS`'s header for a run scoring ``metric``: :data:`METRICS_COLUMNS` and ``metric``, but ``wall_s``
    where time is ``simulated`` (a simulated run's wall-clock goes to :data:`TIMING`: its results repeat bit for bit).

    >>> metrics_columns("test_accuracy", simulated=True)
    ['epoch', 'instances', 'time_s', 'train_loss', 'test_accuracy']
    """
    return [c for c in METRICS_COLUMNS if not (simulated and c == "wall_s")] + [metric]


def holds_finished_run(folder: str | os.PathLike) -> bool:
    """Whether ``folder`` holds a finished run: its :data:`CONFIG` and its :data:`SUMMARY`, which a run writes last
    (not any file of a run's name: a working folder may keep an experiment as config.toml). ``os.path.isfile``: a
    folder that cannot be entered holds nothing that counts, where ``Path.is_file`` raised PermissionError.

    >>> holds_finished_run("/")
    False
    """
    return os.path.isfile(os.path.join(folder, SUMMARY)) and os.path.isfile(os.path.join(folder, CONFIG))


def folder_kind(path: str | os.PathLike) -> str:
    """``'; the folder is ...'`` where ``path``, given as an experiment file, is a folder ampsim wrote: a finished
    run's (:func:`holds_finished_run`: its :data:`CONFIG` is the experiment it ran) or a sweep's; else ''.

    >>> folder_kind("/")
    ''
    """
    if holds_finished_run(path):
        return (f"; the folder is a run's: {os.path.join(path, CONFIG)} is the experiment it ran, and "
                "ampsim.read_run reads the run")
    if os.path.isfile(os.path.join(path, SWEEP_INFO)):  # (not Path.is_file: a folder that cannot be entered raised)
        return "; the folder is a sweep's results: its sweep file is what to run again"
    return ""
