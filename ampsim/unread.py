"""Keys set that nothing reads: the plan stage's warnings (they were taken without a word).

Five kinds: keys the executor's kind does not read (a ``[hardware]`` table for the reference executor,
``executor.workers`` for the simulator), keys the other settings leave unread (a field's ``read_if``:
``train.momentum`` with Adam, a synthetic dataset's size with MNIST; :func:`~ampsim.fieldspec.unread_keys`),
the ``[replicas]`` synchronization keys where nothing synchronizes, the controller's CPU costs of a
machine whose cores are not shared, a switching mode an override sets on packet-switched links, and roofline
rates an override sets on chips whose compute table times their work.
"""

from __future__ import annotations

import dataclasses
import logging

from ampsim.blame import override_of
from ampsim.config import Config, field_default
from ampsim.fieldspec import unread_keys
from ampsim.hardware.spec import SystemSpec
from ampsim.sections import WATCHDOG_S

__all__ = ["warn_unread", "warn_unread_host", "warn_unread_roofline", "warn_unread_switching", "warn_unused_sync"]

log = logging.getLogger("ampsim.planning")  # (the plan stage's: where a user looks for its warnings)

#: what an executor kind does not read (the reference executor writes no trace: it has no clock), and why
_UNREAD_BY = {
    "reference": (lambda c: (("[hardware]", c.hardware), ("executor.hardware", c.executor.hardware),
                             ("executor.hardware_sha256", c.executor.hardware_sha256),
                             ("executor.trace", c.executor.trace), ("executor.workers", c.executor.workers),
                             ("eval.advances_time", c.eval.advances_time), ("placement.map", c.placement.map)),
                  'the reference executor runs on no machine (use executor.kind = "sim" to simulate one, or '
                  '"multicore" for worker processes)'),
    "multicore": (lambda c: (("[hardware]", c.hardware and not c.executor.hardware),
                             ("eval.advances_time", c.eval.advances_time)),
                  "the multicore executor runs on this machine's cores (a hardware model, executor.hardware, "
                  "only informs its placement)"),
    "sim": (lambda c: (("executor.workers", c.executor.workers), ("executor.watchdog_s", c.executor.watchdog_s !=
                                                                   WATCHDOG_S)), "the multicore executor's keys"),
}


def warn_unread(cfg: Config, kind: str, *, by_kind: bool = True, predicting: bool = True) -> None:
    """Warn of keys set that nothing reads: the executor's kind does not (:data:`_UNREAD_BY`; not with
    ``by_kind`` false: a caller that resolved the machine itself, as compare's simulated side of a multicore
    run, keeps the other executor's keys on purpose), or the other settings do not (a field's ``read_if``,
    :func:`~ampsim.fieldspec.unread_keys`; ``predicting``: some node's staleness mode, as its first matching
    pattern gave it, is "predict"). They were taken without a word."""
    if by_kind and kind in _UNREAD_BY:
        keys, why = _UNREAD_BY[kind]
        if ignored := [k for k, v in keys(cfg) if v]:
            log.warning("%s ignored: %s", _named(cfg, ignored, " and "), why)
    if cfg.train.count_optimizer_state and kind != "sim":  # (it times updates and counts chip memory)
        log.warning("%s: train.count_optimizer_state applies to the simulator only; the %s executor runs the "
                    "updates as they are", cfg.path, kind)
    unread = unread_keys(cfg)
    if cfg.train.predict_delay != -1 and not predicting:  # (a rule read_if cannot say: the nodes' modes decide)
        unread.append("train.predict_delay (read only with train.staleness = predict, or a train.staleness_nodes "
                      "entry of it)")
    if unread:
        log.warning("%s: set, and nothing reads it with these settings", _named(cfg, unread, "; "))


def _named(cfg: Config, keys: list[str], sep: str) -> str:
    """``keys`` (each a dotted key, maybe with words after it) as a warning lists them, after where they came from:
    the experiment file (or a default), which it named for all of them before, or the override that gave them
    (``--set train.momentum``; ``load_experiment: overrides: executor.trace and executor.workers``, one option said
    once), as the plan stage's errors name it (:func:`ampsim.blame.override_of`). Keys of both: the file's line,
    each overridden key named by its override."""
    bare = [entry.split(" ", 1)[0] for entry in keys]
    given = [override_of(cfg, key) for key in bare]
    options = {w.removesuffix(key).rstrip() if w is not None and w.endswith(f" {key}") else None
               for w, key in zip(given, bare)}
    if len(options) == 1 and (option := options.pop()) is not None:
        return f"{option} {sep.join(keys)}"
    text = sep.join(entry if w is None else w + entry[len(key):] for w, key, entry in zip(given, bare, keys))
    return f"{cfg.path}: {text}" if None in given else text


def warn_unread_host(system: SystemSpec, source: str) -> None:
    """Warn of the controller's CPU costs on a machine whose cores are not shared (``host.cores = 0``): the
    controller is modelled only on shared cores, so they did nothing (a sweep over host.cores may mean it)."""
    host = system.host
    if not host.cores and (set_ := [k for k in ("controller_s_per_instance", "controller_s_per_message",
                                                 "controller_s_per_sync_byte") if getattr(host, k)]):
        log.warning("%s: %s ignored: host.cores = 0 (the controller's CPU is modelled on shared cores only)",
                    source, " and ".join(f"host.{k}" for k in set_))


def warn_unread_switching(cfg: Config, system: SystemSpec) -> None:
    """Warn of ``hardware.system.switching`` set by the experiment's overrides (its ``[hardware]``, ``--set``, a
    sweep's value) on a machine whose links are packet-switched: packets are forwarded hop by hop whatever the
    mode, so the value changed nothing (a sweep over it ran equal points under two ids, without a word). Only an
    override is warned of: a hardware file that names a mode beside its packets (the shipped TPU and NVLink
    models) describes the machine, and is not asked to change anything."""
    overridden = cfg.hardware.get("system")
    if system.link.packet_bytes and isinstance(overridden, dict) and "switching" in overridden:
        log.warning("%s: hardware.system.switching ignored: the model's links are packet-switched "
                    "(link.packet_bytes = %g), and packets are forwarded hop by hop whatever the switching mode "
                    "(set hardware.link.packet_bytes = 0 for whole messages)", cfg.path, system.link.packet_bytes)


#: the chip fields a compute table replaces (the roofline and its overheads; such a chip has one compute unit)
_ROOFLINE_KEYS = ("flops_per_s", "mem_bandwidth_bytes_per_s", "overhead_s", "kernel_overhead_s")


def warn_unread_roofline(cfg: Config, system: SystemSpec) -> None:
    """Warn of roofline fields (:data:`_ROOFLINE_KEYS`) set by the experiment's overrides (its ``[hardware]``,
    ``--set``, a sweep's value) in ``chip`` or a ``chip_override`` on chips that all have a ``compute_table``: a
    table row's measured seconds replace the roofline for its work, and between rows the roofline is scaled by
    the measured ratio, so the rate cancels out (a what-if of ``hardware.chip.overhead_s = 1`` on the calibrated
    local_cpu model ran in the same simulated time, without a word). Only an override is warned of, as for the
    switching mode: a file's own rates beside its table describe the machine."""
    said: list[str] = []
    chip = cfg.hardware.get("chip")
    if isinstance(chip, dict) and all(c.compute_table for c in system.chips):
        said += [f"hardware.chip.{k}" for k in _ROOFLINE_KEYS if k in chip]
    overrides = cfg.hardware.get("chip_override")
    for k, ov in enumerate(overrides if isinstance(overrides, list) else ()):
        ids = ov.get("chips") if isinstance(ov, dict) else None
        # (a caller's own system, plan(system=...), need not be the one these overrides built: indices checked)
        if (isinstance(ids, list) and ids and all(isinstance(i, int) and 0 <= i < system.n_chips for i in ids)
                and all(system.chips[i].compute_table for i in ids)):
            said += [f"hardware.chip_override[{k}].{key}" for key in _ROOFLINE_KEYS if key in ov]
    if said:
        log.warning("%s: %s changes little or nothing: the chips' compute_table gives the measured seconds of every "
                    "work it lists and scales the roofline by the measured ratio between them (set "
                    "hardware.chip.compute_table = [] to model the roofline alone)", cfg.path, " and ".join(said))


def warn_unused_sync(cfg: Config, trivial: bool) -> None:
    """Warn of ``[replicas]`` synchronization keys set where nothing synchronizes (no copies, or ``sync =
    "none"``): they were accepted and did nothing, without a word."""
    why = ("there are no copies (replicas.groups = 1, no replicas.nodes)" if trivial
           else 'replicas.sync = "none"' if cfg.replicas.sync == "none" else "")
    keys = ("sync_every", "outer_lr", "sparse_sync", "overlap", "collective") + (("sync",) if trivial else ())
    fields = {f.name: f for f in dataclasses.fields(cfg.replicas)}
    unused = [k for k in keys if why and getattr(cfg.replicas, k) != field_default(fields[k])]
    if unused:  # (no copies: info only, as a sweep's baseline of one group under its fixed sync settings is)
        log.log(logging.INFO if trivial else logging.WARNING, "%s: %s has nothing to act on: %s", cfg.path,
                ", ".join(f"replicas.{k}" for k in unused), why)
