"""The simulated side of ``ampsim compare`` (and of ``--resimulate``): the calibrated model of this machine
resized to a configuration's workers, and a simulated run on it under the measured placement whose
``config.toml`` names all of that, so that ``ampsim train`` of it repeats the run (before, the model and the
placement were handed over in memory and the config written was one ``train`` refused).
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

from ampsim.config import Config

__all__ = ["calibrated_system", "simulate_run", "simulated_plan"]


def calibrated_system(hw_path: Path, n: int, overrides: dict | None = None):
    """The calibrated model, with an experiment's ``[hardware]`` ``overrides`` (``--set hardware.*``),
    resized to ``n`` chips."""
    from ampsim.calibration.selfcheck import resized
    from ampsim.files import read_toml
    from ampsim.hardware.parse import merge_overrides

    return resized(merge_overrides(read_toml(hw_path), overrides or {}), n, str(hw_path))


def simulate_run(cfg: Config, placement: Mapping[str, int], system, out: Path, hw_path: Path, planned=None) -> dict:
    """Train ``cfg`` (a simulated-executor configuration) on ``system``, the model at ``hw_path`` resized (see
    :func:`calibrated_system`), with ``placement``; the run folder is ``out``; returns its summary. ``planned``:
    :func:`simulated_plan` of the same arguments, made already (``--resimulate`` plans every configuration
    before it simulates any)."""
    from ampsim.executors import make_executor
    from ampsim.results import RunDir
    from ampsim.training import run_training

    p = planned if planned is not None else simulated_plan(cfg, placement, system, hw_path)
    with RunDir(out) as run, make_executor(p) as ex:  # (the run folder first, as train makes it)
        return run_training(p, ex, run)


def simulated_plan(cfg: Config, placement: Mapping[str, int], system, hw_path: Path):
    """The plan of :func:`simulate_run`'s run: ``cfg`` on ``system`` with ``placement``, a placement that names
    other nodes than the model's a one-line ConfigError. On a measured machine's model (one with a ``[host]``)
    replicas synchronize through the controller (``replicas.collective = "host"``), as the multicore executor's
    do. The run's ``config.toml`` names all of it (the model, its size as a ``[hardware.topology]``, the
    placement as an explicit map), so ``ampsim train`` of it repeats the run."""
    import dataclasses

    from ampsim.planning import plan
    from ampsim.sections import PlacementSection

    topology = system.to_dict()["topology"]  # the resized one: n chips, fully connected or on one switch
    # (executor.workers, the configuration's on the multicore side, is the sim executor's to ignore: the machine's
    # size is the topology below; left in, a train of the run's config.toml warned that it was ignored)
    cfg = dataclasses.replace(cfg, executor=dataclasses.replace(cfg.executor, kind="sim", hardware=str(hw_path),
                                                                     hardware_sha256="", workers=0),
                              # as resized: n chips alike (no per-chip or per-link overrides, the model's own
                              # included: empty lists replace them)
                              hardware={**cfg.hardware, "topology": topology, "chip_override": [],
                                        "link_override": []},
                              placement=PlacementSection(strategy="explicit", map=dict(placement)))
    if system.host.shares_cores:  # the workers synchronize replicas through their controller, not in a ring
        cfg = dataclasses.replace(cfg, replicas=dataclasses.replace(cfg.replicas, collective="host"))
    p = plan(cfg, system=system)  # its placement from the map, as a re-run of the config finds it (in its order)
    rank = {name: i for i, name in enumerate(p.placement)}
    order = sorted(placement, key=lambda name: rank.get(name, len(rank)))  # (stable: the rest as given)
    if order != list(placement):
        # the map in the model's order, the order compare's own placement has: --resimulate reads the measured
        # run's placement.json, whose keys are sorted, and its config.toml differed from compare's in that alone
        ordered = PlacementSection(strategy="explicit", map={name: placement[name] for name in order})
        p = dataclasses.replace(p, config=dataclasses.replace(p.config, placement=ordered))
    return p
