"""``ampsim demo``: the product's main job in miniature, offline, in well under two minutes on 2 cores.

A what-if sweep — link bandwidth × mak (synchronous mak = 1 against AMP mak = 8) — of a small MLP on a
seeded synthetic dataset (10 Gaussian classes, no download), simulated on four chips in a ring, run on
the local process pool; then one figure: test accuracy against simulated time, a line per point.

Everything the demo uses is written into ``<out>/inputs/`` first (experiment, hardware model and sweep
file), so the run can be repeated or edited with ``ampsim sweep <out>/inputs/demo_sweep.toml``. The
sweep's points go to ``<out>/sweep/`` (resumable like any sweep); the figure to
``<out>/demo_accuracy_vs_time.png`` (and .pdf).
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

from ampsim.errors import ConfigError

log = logging.getLogger(__name__)

EXPERIMENT = """\
# ampsim demo: a small MLP on 10 seeded Gaussian classes (offline); plain SGD so convergence is visible.
[experiment]
name = "demo_blobs"
task = "mlp"
seed = 0

[data]
dataset = "blobs"
batch = 16
n_features = 12
n_classes = 10
n_train = 2000
n_test = 500

[model]
hidden = [64, 64]

[train]
epochs = 6
optimizer = "sgd"
lr = 0.01
target = 0.8
"""

HARDWARE = """\
# ampsim demo: four GC200-class chips in a ring (see hardware_models/ring4.toml for the sources).
[system]
name = "demo_ring4"
description = "4 GC200-class chips in a ring"
source = "Graphcore GC200 spec sheet (compute, memory); link latency and overhead assumed"
measured = false
switching = "store_and_forward"

[chip]
flops_per_s = 2.5e14
mem_bandwidth_bytes_per_s = 4.75e13
overhead_s = 1.0e-6
compute_units = 1
memory_bytes = 9.0e8

[link]
latency_s = 1.0e-6
bandwidth_bytes_per_s = 3.2e10

[topology]
kind = "ring"
n = 4
"""

SWEEP = """\
# ampsim demo: what if the links were slower or faster, and does AMP (mak = 8) still win?
[sweep]
description = "demo: link bandwidth x mak, small MLP on synthetic blobs, 4 chips in a ring"
experiment = "demo_experiment.toml"
hardware = "demo_hardware.toml"

[grid]
"hardware.link.bandwidth_bytes_per_s" = [1.0e8, 1.0e9, 1.0e10]
"train.mak" = [1, 8]

[[figure]]
name = "demo_accuracy_vs_time"
kind = "curves"
x = "time_s"
y = "metric"
hue = ["hardware.link.bandwidth_bytes_per_s", "train.mak"]
logx = true
legend = "outside"
title = "demo: test accuracy against simulated time (4-chip ring)"
"""


#: sha256 of the texts earlier versions of the demo wrote (an earlier demo's folder is its own, not edited: the
#: demo writes this version's over them); the sweep file before its figure's legend went outside (2026-12-07)
EARLIER = {"demo_sweep.toml": ("88d6eec9206e077a834ffc2d14b3e29f0c21ab2c07a45356ba2cf57a91715193",)}


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def write_inputs(folder: Path) -> Path:
    """Write the demo's experiment, hardware and sweep files into ``folder``; returns the sweep file. Files an
    earlier demo wrote there and someone has edited since (the docstring above invites it) are refused in one
    line, not written over: a demo run again would have put the demo's own back and run those."""
    from ampsim.results import atomic_write

    files = {folder / "demo_experiment.toml": EXPERIMENT, folder / "demo_hardware.toml": HARDWARE,
             folder / "demo_sweep.toml": SWEEP}
    found = {p: p.read_text(encoding="utf-8") for p in files if p.is_file()}
    edited = [p.name for p, text in found.items() if text != files[p] and _sha256(text) not in EARLIER.get(p.name, ())]
    if edited:
        raise ConfigError(f"{folder}: {', '.join(edited)} edited since the demo wrote it; run the edited sweep with "
                          f"`ampsim sweep {folder / 'demo_sweep.toml'}`, or give the demo another folder")
    for path, text in files.items():
        if found.get(path) != text:  # not there, or an earlier demo's own
            atomic_write(path, text)
    return folder / "demo_sweep.toml"


def run_demo(out: Path, progress: bool = True, jobs: int | None = None) -> Path:
    """Run the demo sweep into ``out`` and draw its figure; returns the PNG's path. Finished points of an
    earlier demo in the same folder are reused."""
    from ampsim.figures.draw import draw_sweep_figures
    from ampsim.folders import check_not_in_staging
    from ampsim.outputs import check_output_dir, entries_of, what_it_holds
    from ampsim.results import check_not_inside_run
    from ampsim.sweeps.folder import check_sweep_folder
    from ampsim.sweeps.run import run_sweep
    from ampsim.sweeps.spec import load_sweep

    out = check_output_dir(out)  # one line before anything is written or run
    # (here, naming the --out given: check_sweep_folder below checks <out>/sweep, and its refusal named that)
    check_not_in_staging(out)
    check_not_inside_run(out, "give the demo a folder outside it")
    held = entries_of(out) if out.is_dir() else []
    if held and not (out / "inputs" / "demo_sweep.toml").is_file():  # a run's, a sweep's, anyone's: not ours
        raise ConfigError(f"{out}: exists and is not a demo's folder (it holds {what_it_holds(held)}); give a new or "
                          "empty folder, or an earlier demo's")
    check_sweep_folder(out / "sweep", "demo_sweep")  # (its file's stem) before the inputs: inside a run, they broke it
    sweep = load_sweep(write_inputs(out / "inputs"))
    table = run_sweep(sweep, out / "sweep", jobs=jobs, progress=progress)
    log.info("demo table: %s", table)
    written = draw_sweep_figures(sweep, out / "sweep", out)
    return next(p for p in written if p.suffix == ".png")


__all__ = ["run_demo", "write_inputs"]
