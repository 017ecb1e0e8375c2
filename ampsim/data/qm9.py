"""QM9 molecules in the GGNN chem JSON format (``qm9/molecules_{train,valid}.json[.gz]``).

A file is one JSON list (gzip or plain; told apart by the gzip magic bytes) of records::

    {"targets": [[mu], [alpha], ...], "graph": [[src, bond_type, dst], ...],
     "node_features": [[onehot H, C, N, O, F], ...], "smiles": "...", "mol_id": "gdb_N"}

``smiles`` and ``mol_id`` are optional, so the files GGNN's own preprocessing writes (full QM9, one
normalised target) load too.

Contract:

* **Bond types are converted to 0-based**: ``edges[:, 1]`` is 0 single, 1 double, 2 triple,
  3 aromatic (the file's 1..4 minus one), ready to index per-bond-type weights. Each bond is listed
  once (undirected); a model that passes messages both ways adds the reverse edges itself.
* ``targets`` holds one float64 per task in file order (12 for this project's files, raw MoleculeNet
  units, see :data:`TASKS`); every record of a file must have the same number.
* Malformed records raise :class:`~ampsim.errors.DataError` as ``"<file>: record <i>: <what>"``.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import numpy as np

from ampsim import files
from ampsim.data import memo, store
from ampsim.errors import DataError

__all__ = ["ELEMENTS", "Molecule", "N_BOND_TYPES", "SPLITS", "TASKS", "TargetNorm", "load_qm9", "read_molecules",
           "task_values"]

log = logging.getLogger(__name__)

SPLITS = ("train", "valid")
#: Target order in this project's files (GGNN's ``targets[task][0]``).
TASKS = ("mu", "alpha", "homo", "lumo", "gap", "r2", "zpve", "u0", "u298", "h298", "g298", "cv")
BOND_TYPES = ("single", "double", "triple", "aromatic")
N_BOND_TYPES = len(BOND_TYPES)
#: Node feature columns in this project's files (one-hot element).
ELEMENTS = ("H", "C", "N", "O", "F")


@dataclass(frozen=True, eq=False)
class Molecule:
    """One molecular graph (arrays read-only).

    Fields:
        node_features: float32 ``[n_atoms, n_feat]`` (one-hot element, hydrogens explicit).
        edges: int64 ``[n_edges, 3]`` rows ``(src, bond_type, dst)``, bond_type **0-based**
            (see :data:`BOND_TYPES`); each bond once.
        targets: float64 ``[n_targets]``, raw values in :data:`TASKS` order.
        mol_id: the record's ``mol_id`` (e.g. ``"gdb_7"``), or ``"record_<i>"`` when absent.
        smiles: the record's SMILES, or ``""`` when absent.
    """

    node_features: np.ndarray
    edges: np.ndarray
    targets: np.ndarray
    mol_id: str
    smiles: str = ""

    @property
    def n_atoms(self) -> int:
        return int(self.node_features.shape[0])

    @property
    def n_edges(self) -> int:
        return int(self.edges.shape[0])


def _numeric(value: object, kinds: str, what: str, fail: Callable[[str], NoReturn]) -> np.ndarray:
    """``value`` as an array whose dtype kind is in ``kinds``; bools, strings and nulls are rejected."""
    try:
        arr = np.asarray(value)
    except (ValueError, TypeError):
        fail(f"{what} is ragged or not numeric")
    if arr.dtype.kind not in kinds:
        fail(f"{what} must hold only {'integers' if kinds == 'iu' else 'numbers'}")
    return arr


def _target(value: object, k: int, fail: Callable[[str], NoReturn]) -> float:
    """Target ``k`` of a record (a number or a one-number list) as a finite float."""
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        fail(f"target {k} is not a number or a one-number list: {value!r:.40}")
    try:
        number = float(value)
    except OverflowError:  # a JSON integer past float64's range (math.isfinite raised it as a traceback)
        fail(f"target {k} is not finite (an integer too large for a float)")
    if not math.isfinite(number):
        fail(f"target {k} is not finite")
    return number


def parse_record(
    record: object,
    where: str,
    index: int,
    n_features: int | None = None,
    n_targets: int | None = None,
) -> Molecule:
    """Validate one JSON record and turn it into a :class:`Molecule`.

    ``n_features`` / ``n_targets``, when given, are the widths every record must have.

    Raises:
        DataError: "<where>: record <index>: <what>".
    """

    def fail(what: str) -> NoReturn:
        raise DataError(f"{where}: record {index}: {what}")

    if not isinstance(record, dict):
        fail(f"expected an object, got {type(record).__name__}")
    for key in ("targets", "graph", "node_features"):
        if key not in record:
            fail(f"missing key {key!r}")

    feats = _numeric(record["node_features"], "iuf", "node_features", fail)
    if feats.ndim != 2 or feats.shape[0] == 0 or feats.shape[1] == 0:
        fail(f"node_features must be a non-empty [n_atoms, n_feat] list, got shape {list(feats.shape)}")
    if n_features is not None and feats.shape[1] != n_features:
        fail(f"{feats.shape[1]} node features, expected {n_features} like the first record")
    if not np.isfinite(feats).all():
        fail("node_features hold a non-finite value")
    n_atoms = feats.shape[0]

    graph = record["graph"]
    if isinstance(graph, list) and not graph:
        edges = np.zeros((0, 3), dtype=np.int64)
    else:
        edges = _numeric(graph, "iu", "graph", fail)
        if edges.ndim != 2 or edges.shape[1] != 3:
            fail(f"graph must be a list of [src, bond_type, dst], got shape {list(edges.shape)}")
        edges = edges.astype(np.int64)
        ends = edges[:, [0, 2]]
        bad = np.flatnonzero(((ends < 0) | (ends >= n_atoms)).any(axis=1))
        if bad.size:
            fail(f"edge {bad[0]} {edges[bad[0]].tolist()} has an atom index outside 0..{n_atoms - 1}")
        bad = np.flatnonzero((edges[:, 1] < 1) | (edges[:, 1] > N_BOND_TYPES))
        if bad.size:
            fail(f"edge {bad[0]} has bond type {edges[bad[0], 1]}, expected 1..{N_BOND_TYPES}")
        edges[:, 1] -= 1

    raw_targets = record["targets"]
    if not isinstance(raw_targets, list) or not raw_targets:
        fail("targets must be a non-empty list")
    flat = [_target(t, k, fail) for k, t in enumerate(raw_targets)]
    if n_targets is not None and len(flat) != n_targets:
        fail(f"{len(flat)} targets, expected {n_targets}")

    mol_id = record.get("mol_id", f"record_{index}")
    smiles = record.get("smiles", "")
    if not isinstance(mol_id, str) or not isinstance(smiles, str):
        fail("mol_id and smiles must be strings")

    arrays = (feats.astype(np.float32), edges, np.asarray(flat, dtype=np.float64))
    for a in arrays:
        a.setflags(write=False)
    return Molecule(*arrays, mol_id=mol_id, smiles=smiles)


def read_molecules(
    path: Path | str,
    limit: int | None = None,
    n_targets: int | None = None,
) -> list[Molecule]:
    """Read a GGNN JSON file (gzip or plain) into :class:`Molecule` s, in file order.

    Every record must have as many node features as the first, and as many targets as most records (or
    ``n_targets``).

    Raises:
        DataError: an unreadable file, invalid JSON, or a malformed record.
    """
    path = Path(path)
    if not os.path.lexists(path):
        raise DataError(f"missing {path}; put the file there")
    # files.read_data: an unreadable file, a directory, a cut-off or corrupt gzip stream is one DataError line
    raw = files.read_data(path, error=DataError)
    try:
        records = json.loads(raw)
    except (ValueError, RecursionError) as exc:  # not JSON, not UTF-8, an integer of 4,300+ digits, nested deep
        raise DataError(f"{path}: invalid JSON ({exc or 'nested too deep'}); copy the file again") from None
    if not isinstance(records, list):
        raise DataError(f"{path}: expected a JSON list of molecule records")
    if limit is not None:
        records = records[:limit]
    molecules: list[Molecule] = []
    n_features = None
    if n_targets is None:
        n_targets = _usual_targets(records)
    for i, record in enumerate(records):
        mol = parse_record(record, str(path), i, n_features, n_targets)
        if i == 0:
            n_features = mol.node_features.shape[1]
        molecules.append(mol)
    return molecules


def _usual_targets(records: list) -> int | None:
    """The number of targets most records list (a tie: the earliest record's), for the one record that differs
    to be the one named: taken from the first record, a first record short of targets blamed the second."""
    widths = Counter(len(r["targets"]) for r in records if isinstance(r, dict) and isinstance(r.get("targets"), list))
    return widths.most_common(1)[0][0] if widths else None


def load_qm9(
    split: str,
    root: Path | str | None = None,
    limit: int | None = None,
    *,
    verify: bool = True,
) -> list[Molecule]:
    """Load the QM9 ``split`` ("train": 13291, "valid": 1424 molecules in this project's subset).

    Looks for ``qm9/molecules_<split>.json`` first (a user-supplied file such as GGNN's full QM9,
    used unverified; a folder or a broken link at that path is refused, not passed over) and then the
    project's ``qm9/molecules_<split>.json.gz`` (sha256-checked via :func:`ampsim.data.store.fetch` unless
    ``verify`` is false). ``limit`` keeps the first records.

    Raises:
        ValueError: an unknown split.
        DataError: a missing or corrupt file, or a malformed record.
    """
    if split not in SPLITS:
        raise ValueError(f"unknown QM9 split {split!r}; use 'train' or 'valid'")
    base = Path(root).expanduser() if root is not None else store.data_root()
    plain = f"qm9/molecules_{split}.json"
    # whatever stands there is the user's file: a folder, or a link to a disk not mounted, is refused, not passed
    # over for the project's file without a word (a run on other molecules than the user meant)
    if os.path.lexists(base / plain):
        path = store.fetch(plain, root=base, verify=False)
        log.info("using user-supplied QM9 file %s", path)
    else:
        path = store.fetch(plain + ".gz", root=base, verify=verify)
    molecules = memo.parsed(path, read_molecules, limit)  # once per process and file version
    if not molecules:  # (a user's file of "[]": a ValueError fitting the targets, or an empty validation)
        raise DataError(f"{path}: holds no molecule records")
    log.debug("loaded QM9 %s: %d molecules from %s", split, len(molecules), path)
    return molecules


@dataclass(frozen=True)
class TargetNorm:
    """Standardisation of one target: ``(y - mean) / std``, fitted on the training split."""

    task: int
    mean: float
    std: float

    @classmethod
    def fit(cls, molecules: Sequence[Molecule], task: int = 0) -> TargetNorm:
        """Mean and population std of target ``task`` over ``molecules`` (std 0 is taken as 1)."""
        if not molecules:
            raise ValueError("TargetNorm.fit needs at least one molecule")
        y = task_values(molecules, task)
        std = float(y.std())
        if not std > 0:
            log.warning("target %d has zero spread over %d molecules; using std 1", task, len(y))
            std = 1.0
        return cls(task, float(y.mean()), std)

    def normalize(self, y):
        """``(y - mean) / std`` for a float or an array."""
        return (y - self.mean) / self.std

    def denormalize(self, z):
        """``z * std + mean``: the inverse of :meth:`normalize`."""
        return z * self.std + self.mean


def task_values(molecules: Sequence[Molecule], task: int) -> np.ndarray:
    """Target ``task`` of every molecule as float64 ``[len(molecules)]``."""
    return np.fromiter((m.targets[task] for m in molecules), dtype=np.float64, count=len(molecules))
