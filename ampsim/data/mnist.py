"""MNIST from the standard IDX files (``mnist/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz``).

Contract: :func:`load_mnist` returns ``(images, labels)`` with images float32 ``[N, 784]`` in
``[0, 1]`` (pixel / 255, row-major 28x28) and labels int64 ``[N]`` in ``0..9``, in file order.
:func:`read_idx` reads any IDX file, gzip-compressed or raw (told apart by the gzip magic bytes),
and checks the header against the file length. Malformed files raise
:class:`~ampsim.errors.DataError` naming the file.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np

from ampsim import files
from ampsim.data import memo, store
from ampsim.errors import DataError

__all__ = ["count_mnist", "load_mnist", "read_idx", "IMAGE_SIDE", "N_CLASSES"]

log = logging.getLogger(__name__)

IMAGES_MAGIC = 2051
LABELS_MAGIC = 2049
N_CLASSES = 10
IMAGE_SIDE = 28

_FILES = {
    "train": ("mnist/train-images-idx3-ubyte.gz", "mnist/train-labels-idx1-ubyte.gz"),
    "test": ("mnist/t10k-images-idx3-ubyte.gz", "mnist/t10k-labels-idx1-ubyte.gz"),
}

# IDX type byte -> big-endian numpy dtype.
_IDX_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def _read_bytes(path: Path) -> tuple[bytes, bool]:
    """The file's (decompressed) bytes and whether a gzip stream ended early (read through
    :mod:`ampsim.files`: an unreadable file or corrupt gzip data is one DataError line)."""
    data, complete = files.gunzip(files.read_bytes(path, error=DataError), path, error=DataError)
    return data, not complete


#: the most dimensions an IDX header may declare (numpy's arrays hold at most 64; MNIST's have 1 and 3)
_MAX_IDX_DIMS = 32


def read_idx(path: Path | str, expected_magic: int | None = None) -> np.ndarray:
    """Read an IDX file into an array of its declared shape and dtype (native byte order).

    Checks: the magic number (two zero bytes, a known type code, ``expected_magic`` when given),
    that the header fits in the file, and that the data length equals the product of the dimensions.

    Raises:
        DataError: "<path>: <what>" for a bad magic number, a truncated file or trailing bytes.
    """
    path = Path(path)
    data, gzip_cut = _read_bytes(path)
    if len(data) < 4:
        raise DataError(f"{path}: truncated: {len(data)} bytes, too short for an IDX header; re-download it")
    magic = int.from_bytes(data[:4], "big")
    type_code, ndim = data[2], data[3]
    if data[0] != 0 or data[1] != 0 or type_code not in _IDX_DTYPES or ndim == 0:
        raise DataError(f"{path}: bad magic number {magic} (0x{magic:08x}); not an IDX file")
    if expected_magic is not None and magic != expected_magic:
        raise DataError(f"{path}: bad magic number {magic}, expected {expected_magic}; wrong file?")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{path}: truncated: header of {ndim} dimensions cut off; re-download it")
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    if ndim > _MAX_IDX_DIMS:  # (numpy's limit: a plain ValueError from reshape)
        raise DataError(f"{path}: an IDX header of {ndim} dimensions (at most {_MAX_IDX_DIMS}); not an IDX file")
    dtype = _IDX_DTYPES[type_code]
    item_bytes = dtype.itemsize * math.prod(shape[1:])  # (exact: int64 products of 65,536**4 wrapped to 0)
    body = len(data) - header
    expected = shape[0] * item_bytes
    if body < expected:
        held = body // item_bytes if item_bytes else 0
        raise DataError(
            f"{path}: truncated: header says {shape[0]} items, file holds {held}; re-download it"
        )
    if body > expected:
        raise DataError(
            f"{path}: {body - expected} bytes after the {shape[0]} items the header declares; "
            "re-download it"
        )
    if gzip_cut:
        raise DataError(f"{path}: truncated: gzip stream ends early; re-download it")
    array = np.frombuffer(data, dtype=dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="), copy=False)
    array.setflags(write=False)  # kept and shared by ampsim.data.memo
    return array


def load_mnist(
    split: str,
    root: Path | str | None = None,
    limit: int | None = None,
    *,
    verify: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Load the MNIST ``split`` ("train": 60000, "test": 10000) from ``root`` (default data root).

    Returns ``(images float32 [N, 784] in [0, 1], labels int64 [N])``; ``limit`` keeps the first
    ``limit`` examples. Files are fetched (and sha256-checked unless ``verify`` is false) via
    :func:`ampsim.data.store.fetch`.

    Raises:
        ValueError: an unknown split.
        DataError: a missing, corrupt or malformed file, or images and labels that do not match.
    """
    if split not in _FILES:
        raise ValueError(f"unknown MNIST split {split!r}; use 'train' or 'test'")
    images_rel, labels_rel = _FILES[split]
    images_path = store.fetch(images_rel, root=root, verify=verify)
    labels_path = store.fetch(labels_rel, root=root, verify=verify)
    images = memo.parsed(images_path, read_idx, IMAGES_MAGIC)  # once per process and file version
    labels = memo.parsed(labels_path, read_idx, LABELS_MAGIC)
    if images.shape[1:] != (IMAGE_SIDE, IMAGE_SIDE) or images.dtype != np.uint8:
        raise DataError(
            f"{images_path}: images are {images.dtype}{list(images.shape[1:])}, "
            f"expected uint8[{IMAGE_SIDE}, {IMAGE_SIDE}]; wrong file?"
        )
    if labels.ndim != 1 or labels.dtype != np.uint8:
        raise DataError(f"{labels_path}: labels must be one uint8 per item; wrong file?")
    if len(images) != len(labels):
        raise DataError(
            f"{labels_path}: {len(labels)} labels for {len(images)} images in {images_path.name}; "
            "re-download both"
        )
    bad = np.flatnonzero(labels >= N_CLASSES)
    if bad.size:
        raise DataError(
            f"{labels_path}: item {bad[0]}: label {labels[bad[0]]} not in 0..9; re-download it"
        )
    if limit is not None:
        images, labels = images[:limit], labels[:limit]
    x = images.reshape(len(images), IMAGE_SIDE * IMAGE_SIDE).astype(np.float32)
    x /= np.float32(255.0)
    log.debug("loaded MNIST %s: %d examples from %s", split, len(x), images_path.parent)
    return x, labels.astype(np.int64)


def count_mnist(split: str, limit: int | None = None) -> int:
    """The examples :func:`load_mnist` gives for ``split`` (and ``limit``), from the labels file alone: 60 KB
    against the images' 47 MB (a sweep counts its points' instances with it before any runs)."""
    labels_path = store.fetch(_FILES[split][1])
    return min(len(memo.parsed(labels_path, read_idx, LABELS_MAGIC)), limit or math.inf)
