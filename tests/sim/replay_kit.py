"""What the replay tests share: an experiment file run with overrides, in full or replayed, and the part of a
summary a replay measures (every key but those the numerics make)."""

from __future__ import annotations

from pathlib import Path

from timeline_kit import chain_model, insts

from ampsim.config import load_config, parse_override
from ampsim.executors import make_executor
from ampsim.executors.sim.recording_cache import clear_memory, obtain
from ampsim.planning import plan
from ampsim.results import RunDir
from ampsim.training import run_training

ROOT = Path(__file__).resolve().parents[2]
HW = ROOT / "hardware_models"
#: summary keys a replay does not measure
UNMEASURED = frozenset({"numerics", "final_metric", "best_metric", "time_to_target", "replica_drift"})


def run_experiment(experiment: str, overrides: tuple[str, ...], numerics: bool, out: Path) -> tuple:
    """``experiments/<experiment>`` with ``overrides``, trained in full (``numerics``) or replayed, its results
    in ``out``: (summary, executor, plan)."""
    cfg = load_config(ROOT / "experiments" / experiment,
                      [parse_override(o) for o in (*overrides, f"executor.numerics={str(numerics).lower()}")])
    p = plan(cfg)
    ex = make_executor(p)
    return run_training(p, ex, RunDir(out)), ex, p


def measured(summary: dict) -> dict:
    """``summary`` without the keys a replay does not measure (:data:`UNMEASURED`)."""
    return {k: v for k, v in summary.items() if k not in UNMEASURED}


def filed_recording(tmp_path: Path) -> tuple:
    """A two-node chain's recording of 3 instances filed in ``tmp_path/cache`` (the process's memory of it
    dropped): model, instances, file."""
    model, instances = chain_model(("a", 1e6), ("b", 1e6)), insts(3)
    (tmp_path / "cache").mkdir()
    clear_memory()
    obtain(model, instances, folder=tmp_path / "cache")
    (cached,) = (tmp_path / "cache").glob("*.npz")
    clear_memory()
    return model, instances, cached
