"""The simulated executor: SimPy chips and links (see :mod:`ampsim.executors.sim.executor`)."""

from __future__ import annotations

from pathlib import Path

from ampsim.errors import ConfigError
from ampsim.executors.sim.executor import SimExecutor


def resolve_hardware(cfg) -> Path:
    """The hardware file named by ``executor.hardware``, as given or relative to the experiment file."""
    hw = cfg.executor.hardware
    if not hw:
        raise ConfigError(f"{cfg.path}: executor.hardware: required for executor.kind = 'sim' "
                          "(e.g. --hardware hardware_models/ring4.toml)")
    path = Path(hw)
    if not path.exists() and (Path(cfg.path).parent / hw).exists():
        path = Path(cfg.path).parent / hw
    return path


def merge_overrides(base: dict, overrides: dict) -> dict:
    """``base`` with ``overrides`` merged in, table by table. A ``topology`` table that names a new
    ``kind`` replaces the base topology whole (its size parameters differ per kind)."""
    out = dict(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict) and not (key == "topology" and "kind" in value):
            out[key] = merge_overrides(out[key], value)
        else:
            out[key] = value
    return out


def load_hardware(cfg):
    """The experiment's hardware model, with the experiment's ``[hardware]`` overrides applied."""
    from ampsim.config import read_toml
    from ampsim.hardware.parse import system_from_dict

    path = resolve_hardware(cfg)
    raw = read_toml(path)
    if not cfg.hardware:
        return system_from_dict(raw, str(path))
    return system_from_dict(merge_overrides(raw, cfg.hardware), f"{path} (with [hardware] overrides of {cfg.path})")


def make_sim_executor(cfg, task) -> SimExecutor:
    from ampsim.placement import estimated_load, place, profile

    system = load_hardware(cfg)
    strategy = cfg.placement.strategy
    prof = None
    if strategy in ("greedy", "min_cut"):
        prof = profile(task.model, list(task.train_instances(1))[:4])
    mapping = place(strategy, task.model, system.chips, explicit=cfg.placement.map, prof=prof,
                    source=cfg.path, seed=cfg.experiment.seed)
    ex = SimExecutor(task.model, system, mapping, mak=cfg.train.mak, trace=cfg.executor.trace,
                     eval_advances_time=cfg.eval.advances_time, source=cfg.path)
    if prof is not None:
        ex.estimated_load = estimated_load(mapping, system.chips, prof)
    return ex


__all__ = ["SimExecutor", "make_sim_executor"]
