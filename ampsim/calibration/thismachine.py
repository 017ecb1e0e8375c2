"""Which hardware model ``ampsim compare`` predicts with, and who calibrates it: one calibration at a time.

:func:`run_calibration` (``ampsim calibrate``, and a compare without a model) measures this machine and writes its
model (:func:`ampsim.calibration.calibrate.calibrate`, :func:`~ampsim.calibration.calibrate.write_model`) while it
holds calibrate's lock on the model, ``<out>.lock``: a second calibration into the same model is refused at once,
in one line. :func:`model_of_this_machine` is the model compare uses: the one given, else the calibrated one
(:func:`ampsim.hardware.local.local_model_path`), else this machine calibrated first into :data:`DEFAULT_OUT`; a
model whose description does not name this machine (:func:`~ampsim.calibration.calibrate.machine_description`) is
refused before compare measures anything.
"""

from __future__ import annotations

import logging
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import ampsim.calibration.calibrate as cal  # (its names looked up there when called: one home, one name to replace)
from ampsim.calibration.targets import check_targets
from ampsim.errors import ConfigError
from ampsim.hardware.spec import SystemSpec

__all__ = ["DEFAULT_OUT", "model_of_this_machine", "run_calibration"]

log = logging.getLogger(__name__)

#: the model ``ampsim calibrate`` writes, and compare calibrates into when it finds none
DEFAULT_OUT = Path("hardware_models") / "local_cpu.toml"


def run_calibration(out: str | Path = DEFAULT_OUT, workers: int | None = None, quick: bool = False, *,
                    why: str = "", then: str = "") -> tuple[SystemSpec, dict]:
    """Measure, write ``out`` (and its ``.calibration.json``), return the loaded model and the raw data.

    ``workers`` and both targets are checked first (:func:`check_targets`), before seconds of measuring. One
    calibration into a model at a time, whoever runs it (``ampsim calibrate``, a compare without a model): it
    holds ``<out>.lock`` (symlinks followed) throughout, and a second one is refused at once, in one line, which
    ends "wait for it" and ``then`` (what to do after: compare's, run it again). ``why``, if given, is logged as a
    warning once the lock is held, before measuring: a refused calibration has announced nothing."""
    with _calibration_lock(out, workers, then):
        return _calibrate_into(out, workers, quick, why)


@contextmanager
def _calibration_lock(out: str | Path, workers: int | None, then: str) -> Iterator[None]:
    """Hold calibrate's lock on ``out`` for the block (:func:`run_calibration` says how), its targets checked."""
    from ampsim.locks import holding

    check_targets(out, workers)  # (first: "/" would lock "/.lock")
    def busy(pid: str) -> str:
        return f"{out}: another calibration (pid {pid}) is measuring into it now; wait for it{then}"

    # two at once measured each other and could leave one's model beside the other's measurements
    with holding(os.path.realpath(out) + ".lock", what="calibration's", busy=busy):
        yield


def _calibrate_into(out: str | Path, workers: int | None, quick: bool, why: str) -> tuple[SystemSpec, dict]:
    """:func:`run_calibration` once its lock is held."""
    if why:  # (logged before the lock, it said "running `ampsim calibrate`" and then the refusal)
        log.warning("%s", why)
    from ampsim.locks import measuring

    with measuring("calibrate"):
        model, raw = cal.calibrate(workers, quick)
    return cal.write_model(model, raw, out), raw


def model_of_this_machine(hardware: str | Path | None = None, workers: int | None = None) -> Path:
    """The hardware model of this machine that ``ampsim compare`` predicts with, validated.

    ``hardware`` if given, else the calibrated model :func:`ampsim.hardware.local.local_model_path`
    finds. Without either, this machine is calibrated first (``workers`` chips, written to
    :data:`DEFAULT_OUT`), with a warning once it holds calibrate's lock, since that takes about 35 s (the committed
    model: 33.7 s); while another calibration holds it, one line says to wait for that one and run the compare
    again. A model whose
    description does not contain :func:`machine_description` (calibrated on another machine, or written by
    hand) raises a one-line :class:`ConfigError` that names both machines: errors computed against it would
    describe the other machine, not the simulator. A missing ``hardware`` file is a ``ConfigError`` too (a typo, not a
    request to calibrate into it).
    """
    from ampsim.hardware.local import local_model_path
    from ampsim.hardware.parse import load_system

    path = Path(hardware) if hardware is not None else local_model_path()
    if path is None:
        # a second compare at once is refused, not made to wait: every lock of ampsim refuses at once, and a
        # compare that waited would measure beside the first one's runs, each distorting the other's timings
        why = f"no calibrated model of this machine yet: running `ampsim calibrate` (writes {DEFAULT_OUT})"
        then = " to finish, then run this compare again: it will use the model that calibration writes"
        with _calibration_lock(DEFAULT_OUT, workers, then):
            # looked for again: a calibration that finished since (its lock let go) wrote it, not to be measured again
            path = local_model_path()
            if path is None:
                _calibrate_into(DEFAULT_OUT, workers, False, why)
                return DEFAULT_OUT
    system = load_system(path)
    here = cal.machine_description()
    if here in system.description:
        return path
    if system.measured:  # its description reads "this machine as N ... workers (...): <machine>"
        what = f"calibrated on another machine ({system.description.split('): ', 1)[-1]}), not on this one"
    else:
        what = f"a hand-written model of another machine ({system.description or system.name}), not of this one"
    # one line whatever the description holds: the CLI prints it as `ampsim: error: ...`
    raise ConfigError(" ".join(
        f"{path}: {what} ({here}); run `ampsim calibrate` to measure this machine (it writes the model "
        "compare uses by default), or pass --hardware with a model of this machine".split()))
