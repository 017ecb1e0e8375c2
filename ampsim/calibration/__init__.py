"""Calibration: measure this machine, fit a hardware model of it, and check the simulator against it.

The simulator is only as good as its hardware model. For a machine we can run on, the model is not
guessed but *measured*, and then *checked*:

1. **Measure** (:mod:`.microbench`, :mod:`.workloads`, :mod:`.transport`). Micro-benchmarks record GEMM
   rates, copy bandwidth, isolated node steps, the multicore worker loop's cost and the channels' latency
   and bandwidth. Three small workloads (MLP, LSTM and Tree-LSTM shapes) run on one real multicore worker,
   each node call timed; the same workloads and chains of trivial nodes run on two workers, whose own
   transport timers say what crossing between workers costs.
2. **Fit** (:mod:`.calibrate`, with the fits in :mod:`.workloads`, :mod:`.profile` and :mod:`.transport`).
   The chip's FLOP rate, memory bandwidth, per-message and per-operation overheads are fitted so that the
   simulator reproduces the one-worker workloads; a table of every node call's measured cost
   (``chip.compute_table``) overrides that roofline where it has a row (:mod:`.profile`); the per-frame,
   per-message and per-byte transport costs, the cost of a wake-up, ``chip.contention_slowdown`` (how much
   slower a worker runs while the other is busy) and the link latency are fitted to the two-worker runs,
   and the finished model simulates those runs again (:mod:`.selfcheck`: how far it reproduces them).
   :func:`run_calibration` (:mod:`.thismachine`: one calibration into a model at a time) writes the model
   (``hardware_models/local_cpu.toml``, its description naming this machine) and the raw measurements next
   to it (``local_cpu.calibration.json``). ``ampsim calibrate`` is this step.
3. **Compare** (:mod:`.compare`). :func:`run_compare` runs one experiment under several configurations
   (worker counts, mak, placement) both on the multicore executor, timed by the wall clock, and in the
   simulator on the calibrated model with the same placement, corrects for a shared machine (free cores
   and speed drift, measured around the runs) and reports the simulator's error per configuration and
   whether both rank the configurations alike. The model must be of this machine
   (:func:`model_of_this_machine`): compare calibrates first when there is none, and refuses, before
   measuring anything, a model calibrated on another machine. ``ampsim compare`` is this step.
4. **Re-score** (:mod:`.rescore`). :func:`resimulate` simulates the configurations of a compare folder
   again on the model as it is now (a new rule, a recalibration, a ``hardware.*`` what-if) and scores it
   against the measurements already taken, in seconds and on any machine. ``ampsim compare --resimulate``
   is this step.

:mod:`.cli` wires both subcommands into ``ampsim``. Within the package, imports go one way:
microbench and workloads at the bottom, profile, transport, selfcheck and targets (what calibrate may write)
above them, calibrate and outfolder (the folder compare writes) above those, thismachine (which model compare
uses, and who calibrates it) above calibrate, compare above them, rescore above compare, cli on top. Below
the package it uses the executors, training and results; nothing below imports it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # what the lazy attributes below resolve to, for type checkers and readers
    from ampsim.calibration.calibrate import machine_description, write_model
    from ampsim.calibration.compare import run_compare, shared_machine_slowdown
    from ampsim.calibration.report import format_table, ranking_agreement
    from ampsim.calibration.rescore import resimulate
    from ampsim.calibration.targets import sidecar
    from ampsim.calibration.thismachine import DEFAULT_OUT, model_of_this_machine, run_calibration

#: public name -> the submodule that defines it. Not ``calibrate.calibrate``: the name is its submodule's,
#: which importing the submodule binds here (``run_calibration`` is the entry point anyway).
_EXPORTS = {
    "DEFAULT_OUT": "thismachine", "machine_description": "calibrate",
    "model_of_this_machine": "thismachine", "run_calibration": "thismachine", "sidecar": "targets",
    "write_model": "calibrate",
    "format_table": "report", "ranking_agreement": "report", "run_compare": "compare",
    "shared_machine_slowdown": "compare", "resimulate": "rescore",
}

__all__ = ["DEFAULT_OUT", "format_table", "machine_description", "model_of_this_machine", "ranking_agreement",
           "resimulate", "run_calibration", "run_compare", "shared_machine_slowdown", "sidecar", "write_model"]


def __getattr__(name: str) -> Any:
    # Loaded on first use, not at import: the measuring processes (microbench's spinners and echo, the
    # speed-index child) import only the submodule they run, so their start-up (and, with the spawn start
    # method, the measured overlap of the spinners) does not grow with compare's imports.
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
