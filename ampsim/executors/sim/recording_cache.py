"""The recording cache: where recordings are filed, what they are keyed by, and the file format.

A recording (:mod:`ampsim.executors.sim.recording`) depends on: the instances (keys, structure, shapes
and values: a BLAKE2b of their data, so the epoch, the shuffle and ``train.max_instances`` are covered),
the experiment's task, ``[data]``, ``[model]``, seed and dtype (the plan's ``recording_context``), the
graph (node names, kinds and parameter shapes), whether it trains or evaluates, the recording format and
the code it comes from (a SHA-256 of ``ampsim/ir``, ``ampsim/models``, ``ampsim/data``, the replicas'
routing, the cost model, the recorder and the composer: :func:`code_files`; and, for a task defined outside
the package, of the source files outside it that its model's code comes from: :func:`model_code_files`). It does
not depend on the hardware, placement, mak, muf, optimizer or learning rate, which is what lets every point of a
what-if sweep share one.

Life cycle: :func:`obtain` → the key (:func:`recording_key`) → this process's memory → the cache folder
(``$AMPSIM_RECORDINGS``, default ``$XDG_CACHE_HOME/ampsim/recordings`` or ``~/.cache/ampsim/recordings``;
``off``, in any case, or empty keeps recordings in memory only), one ``<24 hex digits of the key's SHA-256>.npz``
per recording (past ``$AMPSIM_RECORDINGS_MAX_BYTES``, 2 GiB, the least
recently used are deleted: :func:`prune`) → else made of the instances this process recorded
or read before (:data:`POOL`, :mod:`~ampsim.executors.sim.segments`: an instance's part depends on its
data, not its key, so the next epoch's shuffle of the same trees, or a subset of them, is composed in
milliseconds) and :func:`~ampsim.executors.sim.recording.record` now for the rest → file it.

File format (:mod:`~ampsim.executors.sim.recording_file`): a compressed NumPy ``.npz`` of the recording's arrays, its
``key`` and a checksum. :func:`load` raises :class:`~ampsim.executors.sim.recording.RecordingError` (one line) for a
missing, unreadable, truncated or corrupt file or a key that differs (read first: a file for another key costs a
read of its key, not of its arrays); :func:`obtain` then records again, with a warning.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import os
import pickle
import re
import sys
import time
import weakref
from pathlib import Path
from types import FunctionType, MethodType

from ampsim.data import memo
from ampsim.data.store import cache_home
from ampsim.errors import ConfigError
from ampsim.executors.sim.recording import (
    FORMAT,
    Recording,
    RecordingError,
    graph_fingerprint,
    hand_built_fingerprint,
    record,
)
from ampsim.executors.sim.recording_file import load, save
from ampsim.executors.sim.recording_file import short as _short
from ampsim.executors.sim.segments import InstancePool, compose
from ampsim.folders import gone_since
from ampsim.ir.message import Instance
from ampsim.models import TASKS
from ampsim.models.base import Model
from ampsim.recent import Recent

__all__ = ["cache_folder", "clear_memory", "code_files", "instances_digest", "load", "max_bytes", "model_code_files",
           "obtain", "prune", "recording_key", "save", "SAVING_STALE_S"]

log = logging.getLogger(__name__)

#: recordings kept in memory per process (a sweep's points share them), most recent last
MEMORY_SLOTS = 4
_MEMORY: Recent = Recent(MEMORY_SLOTS)  # key -> Recording
#: the instances of the recordings made or read in this process, for batches of them (another shuffle, a subset)
POOL = InstancePool()
_UNFILED: set[Path] = set()  # the cache folders it said it could not file a recording in: once each, not hundreds


def cache_folder() -> Path | None:
    """``$AMPSIM_RECORDINGS`` (``off`` in any case, or empty: no files, memory only; ``~`` expanded), else
    ``$XDG_CACHE_HOME/ampsim/recordings`` (default ``~/.cache``; no home folder, memory only). A ``~`` that
    names no home folder is one ConfigError line (pathlib's RuntimeError traceback before)."""
    env = os.environ.get("AMPSIM_RECORDINGS")
    if env is None:
        if (home := cache_home()) is None:  # (no $HOME, and none for this user: a container's --user)
            log.info("recordings: no home folder for ~/.cache/ampsim/recordings; kept in memory only")
            return None
        return home / "ampsim" / "recordings"
    # (any case of off: OFF made a folder named OFF in the working directory and filed recordings there)
    try:
        return None if env.strip().lower() in ("", "off") else Path(env).expanduser()
    except RuntimeError:
        raise ConfigError(f"AMPSIM_RECORDINGS={env}: its '~' names no home folder; give the folder's full path, or "
                          "off") from None


@functools.cache
def code_digest() -> str:
    """SHA-256 of the code a recording's contents come from: the IR, the models, the data readers, the
    replicas' routing of instances to copies, the cost model's message size, the composition of recordings from
    earlier ones (segments.py), the recording's file (recording_file.py) and this module (:func:`code_files`).
    Any change there invalidates every recording (an edit to replicas.py kept serving the old routing's
    recordings: a replay no longer equalled the full run)."""
    root = Path(__file__).resolve().parents[2]
    h = hashlib.sha256()
    for f in code_files():
        h.update(str(f.relative_to(root)).encode())
        h.update(f.read_bytes())
    return h.hexdigest()


def code_files() -> list[Path]:
    """The files :func:`code_digest` reads, in order."""
    root, here = Path(__file__).resolve().parents[2], Path(__file__).resolve().parent
    return sorted([*root.glob("ir/**/*.py"), *root.glob("models/**/*.py"), *root.glob("data/**/*.py"),
                   root / "replicas.py", root / "hardware" / "cost.py", here / "recording.py",
                   here / "recording_cache.py", here / "recording_file.py", here / "segments.py"])


def model_code_files(model: Model, task: str | None = None) -> list[Path]:
    """The source files outside the ampsim package that ``model`` runs (a task defined elsewhere, see
    :func:`ampsim.schemas.register_task`): those of its node kinds (and their bases), of the callables its nodes
    hold (predicates, groupings, targets), of its ``inject`` and of the module :data:`ampsim.models.TASKS` names
    for ``task`` (which wires the graph). :func:`code_digest` covers the package's own; an edit to an outside
    model's file kept serving its old recordings: a replay no longer equalled the full run. Empty: built-ins."""
    names, kinds = {_module_of(model.inject)}, set()
    for node in model.graph.nodes.values():  # (a replicated machine's thousands of copies: few kinds, few modules)
        kinds.add(type(node))
        names.update(_module_of(v) for v in vars(node).values() if callable(v))
    names.update(c.__module__ for kind in kinds for c in kind.__mro__)
    module = TASKS.get(task)
    if module is not None:
        names.add(module.__name__)
    root = Path(__file__).resolve().parents[2]
    found = set()
    for name in names:
        file = getattr(sys.modules.get(name) if isinstance(name, str) else None, "__file__", None)
        if file and file.endswith(".py") and root not in (path := Path(file).resolve()).parents:
            found.add(path)
    return sorted(found)


def _module_of(obj) -> str | None:
    """The name of the module that defines ``obj``: a function's, method's or class's own, else its class's."""
    return getattr(obj, "__module__", None) if isinstance(obj, (type, FunctionType, MethodType)) else \
        type(obj).__module__


def _model_code_digest(model: Model, context: str) -> str | None:
    """SHA-256 of :func:`model_code_files` (their paths and contents), or None where there are none."""
    try:
        task = json.loads(context).get("task") if context else None
    except (ValueError, AttributeError):
        task = None
    files = model_code_files(model, task if isinstance(task, str) else None)
    if not files:
        return None
    h = hashlib.sha256()
    for f in files:
        h.update(str(f).encode())
        try:
            h.update(f.read_bytes())
        except OSError:  # (deleted or unreadable since its import: its path stands for it)
            h.update(b"\0unreadable")
    return h.hexdigest()


def instances_digest(instances: list[Instance]) -> str:
    """BLAKE2b of the instances' keys and data (their structure, shapes and values), in order. Instance data
    is never changed once made (a run, its epochs and its recordings share it), so the same objects under
    the same keys are not hashed again (:func:`ampsim.data.memo.derived`: a sweep's points build the same
    instances from the same kept data, and hashing 300 SST trees took 6 ms of every point)."""
    return memo.derived(([inst.data for inst in instances],), _digest, tuple(inst.key for inst in instances))


def _digest(data: list, keys: tuple) -> str:
    h = hashlib.blake2b(digest_size=20)
    for key, d in zip(keys, data):
        h.update(pickle.dumps((key, d), protocol=5))
    return h.hexdigest()


#: a model's graph digest and outside code digest, by ``(id(model), context)``, while the model lives (a weak
#: reference, checked: an id is reused once its object is gone): a sweep point trains a model once per epoch and
#: evaluation, and both digests walk every node (4 ms a call for a 1,032-node model on the 2-core host)
_MODEL_DIGESTS: dict[tuple[int, str], tuple[weakref.ref, str, str | None]] = {}


def _model_digests(model: Model, context: str) -> tuple[str, str | None]:
    """The digest of ``model``'s :func:`graph_fingerprint` and :func:`_model_code_digest`, once per model (its
    nodes, kinds and shapes do not change once it is built)."""
    key = (id(model), context)
    got = _MODEL_DIGESTS.get(key)
    if got is None or got[0]() is not model:
        fingerprint = graph_fingerprint(model) if context else [graph_fingerprint(model), hand_built_fingerprint(model)]
        graph = hashlib.sha256(json.dumps(fingerprint).encode()).hexdigest()
        ref = weakref.ref(model, lambda _ref, key=key: _MODEL_DIGESTS.pop(key, None))
        got = _MODEL_DIGESTS[key] = (ref, graph, _model_code_digest(model, context))
    return got[1], got[2]


def _scope(model: Model, training: bool, context: str) -> dict:
    """The parts of a recording's key that are not its instances (a built-in task's keys as before the code
    of outside models counted)."""
    graph, outside = _model_digests(model, context)
    scope = {"format": FORMAT, "code": code_digest(), "context": context, "training": training, "graph": graph}
    if outside is not None:
        scope["model_code"] = outside
    return scope


def recording_key(model: Model, instances: list[Instance], *, training: bool, context: str = "",
                  scope: dict | None = None) -> str:
    """The JSON text a recording is filed under and checked against. ``context`` names the experiment's
    task, data, model, seed and dtype (the plan's ``recording_context``)."""
    scope = scope or _scope(model, training, context)
    return json.dumps({**scope, "instances": instances_digest(instances), "n_instances": len(instances)},
                      sort_keys=True)


def obtain(model: Model, instances: list[Instance], *, training: bool = True, context: str = "",
           folder: Path | None = None, use_folder: bool = True) -> Recording:
    """The recording of ``instances``: from memory, else from the cache folder, else made of the instances
    recorded earlier in this process (:mod:`~ampsim.executors.sim.segments`; the others recorded now),
    and filed. A cached file that is corrupt, truncated or for another key is re-recorded, with a
    warning."""
    scope = _scope(model, training, context)
    key = recording_key(model, instances, training=training, scope=scope)
    rec = _MEMORY.get(key)
    if rec is None:
        folder = (folder or cache_folder()) if use_folder else None
        path = folder / f"{_short(key)}.npz" if folder else None
        # (a bad value is one line before the folder is read or anything recorded: checked at the save, it cost
        # the whole recording first, and a run whose recordings were all filed never heard of it)
        limit = max_bytes() if path is not None else MAX_BYTES
        parts = POOL.file_keys(json.dumps(scope, sort_keys=True), model.inject, instances)
        if path is not None and os.path.lexists(path):
            try:
                rec = load(path, key)
                POOL.add(rec, parts)
                with contextlib.suppress(OSError):  # used now: the last a full folder lets go (prune)
                    os.utime(path)
            except RecordingError as e:  # (gone since: another process's prune, no fault of the file's)
                (log.warning if os.path.lexists(path) else log.info)("%s; recording again", e)
        if rec is None:
            rec = _made(model, instances, training, parts)
            if path is not None:
                try:
                    save(rec, path, key)
                except (OSError, ConfigError) as e:  # (a full disk; a device or pipe where the file would go)
                    (log.debug if folder in _UNFILED else log.warning)("cannot file a recording in %s: %s", folder, e)
                    _UNFILED.add(folder)
                else:
                    prune(folder, limit, keep=path)
    _MEMORY[key] = rec
    return rec


#: the recordings folder's size beyond which the least recently used go (``$AMPSIM_RECORDINGS_MAX_BYTES``): every
#: change to the code they depend on files new ones under new names, and nothing else ever removed the old
MAX_BYTES = 2 << 30


def max_bytes() -> int:
    """``$AMPSIM_RECORDINGS_MAX_BYTES`` (a whole number of bytes), else :data:`MAX_BYTES`."""
    text = os.environ.get("AMPSIM_RECORDINGS_MAX_BYTES", "").strip()
    if not text:
        return MAX_BYTES
    if not (text.isascii() and text.isdigit()):  # ('²' is a digit to isdigit, not to int)
        raise ConfigError(f"AMPSIM_RECORDINGS_MAX_BYTES: expected a whole number of bytes, got {text!r}")
    return int(text)


#: a recording's file name (:func:`obtain`'s): only those are counted and deleted (the folder may be shared; a
#: save in progress is a dot-file of another name)
_RECORDING_NAME = re.compile(r"[0-9a-f]{24}\.npz")

#: a save in progress (:func:`save`'s temporary, ``outputs.replacing``'s name): the saving process's pid in it
_SAVING_NAME = re.compile(r"\.[0-9a-f]{24}\.([1-9][0-9]{0,9})\.tmp\.npz")

#: how long a save's temporary goes unchanged before a prune may take it for a killed save's: its pid is looked
#: for on this machine only, and a recordings folder shared between machines (an NFS home under Ray nodes) holds
#: the saves of processes running elsewhere (a save writes its file in seconds, and renames it when done)
SAVING_STALE_S = 3600.0


def prune(folder: Path, limit: int, keep: Path | None = None) -> int:
    """Once ``folder``'s recordings take more than ``limit`` bytes, delete the least recently used (by their
    modification time: a hit touches its file), never ``keep`` (the one just filed), until they take at most
    three quarters of it; the number deleted. Only recordings' files count (:data:`_RECORDING_NAME`). A file
    another process is reading stays readable to it; one about to be read is recorded again; one another prune
    deleted first counts as gone, one that cannot be deleted is passed over (no newer one goes in its place). The
    temporary of a save whose process is gone (killed as it saved; its pid now another's) is deleted once it is
    :data:`SAVING_STALE_S` old: nothing else would, nor count it."""
    try:  # (deleted since the save: the folder may go at any time; or written but not listed: chmod 333)
        listed = list(folder.iterdir())
    except OSError as e:  # (the run goes on, as where the folder cannot be written: it raised past obtain)
        log.warning("could not prune the recordings in %s: %s", folder, e)
        return 0
    entries = []
    for p in listed:
        if m := _SAVING_NAME.fullmatch(p.name):  # (a save killed mid-way: never renamed, and nothing else
            with contextlib.suppress(OSError):  # deletes it or counts it; its pid may name another process since)
                if time.time() - (t := p.lstat().st_mtime) > SAVING_STALE_S and gone_since(int(m[1]), t):
                    p.unlink()
        if _RECORDING_NAME.fullmatch(p.name) and p != keep:
            with contextlib.suppress(OSError):
                st = p.lstat()
                entries.append((st.st_mtime_ns, st.st_size, p))
    total = sum(size for _, size, _ in entries) + (_size(keep) if keep is not None else 0)
    deleted = 0
    if total <= limit:
        return 0
    for _, size, p in sorted(entries):
        if total <= limit * 3 // 4:
            break
        try:
            p.unlink()
            deleted += 1
        except FileNotFoundError:  # (another process's prune was first: gone all the same)
            pass
        except OSError:
            continue
        total -= size
    log.info("recordings in %s past %d bytes: the %d least recently used deleted", folder, limit, deleted)
    return deleted


def _size(path: Path) -> int:
    try:
        return path.lstat().st_size
    except OSError:
        return 0


def _made(model: Model, instances: list[Instance], training: bool, parts: list[tuple]) -> Recording:
    """The recording of ``instances``, each found in :data:`POOL` or recorded now (and filed there)."""
    found = POOL.find(parts)
    missing = [k for k, f in enumerate(found) if f is None]
    mode = "training" if training else "evaluation"
    if missing or not instances:
        log.info("recording %d instance(s) (%s)", len(missing), mode)
        new = record(model, [instances[k] for k in missing], training=training)
        POOL.add(new, [parts[k] for k in missing])
        if len(missing) == len(instances):  # all of them (or none asked for): the recording as made
            return new
    log.info("composing %d instance(s) (%s), %d of them recorded earlier in this process", len(instances), mode,
             len(instances) - len(missing))
    fresh = iter(range(len(missing)))
    return compose([f if f is not None else (new, next(fresh)) for f in found], [inst.key for inst in instances])


def clear_memory() -> None:
    """Forget the recordings kept in this process's memory, and its instances' parts (the files stay)."""
    _MEMORY.clear()
    POOL.clear()
