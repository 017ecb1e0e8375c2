"""A recording's file: a compressed NumPy ``.npz`` with one array per
:class:`~ampsim.executors.sim.recording.Recording` field, ``key`` (the JSON key text it was recorded for,
:func:`~ampsim.executors.sim.recording_cache.recording_key`) and ``checksum`` (SHA-256 over each array's name,
dtype, shape and bytes).

:func:`load` raises :class:`~ampsim.executors.sim.recording.RecordingError` (one line) for a missing,
unreadable, truncated or corrupt file or a key that differs. It reads the key before anything else: a file under
the right name that was recorded for another key (another task, data or code version), or a foreign file, costs
a few hundred bytes' read, not its arrays'.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import fields
from pathlib import Path

import numpy as np

from ampsim.executors.sim.recording import Recording, RecordingError
from ampsim.outputs import replacing

__all__ = ["KEY_MAX_BYTES", "checksum", "load", "save", "short"]

#: the most bytes a file's ``key`` member may take (a key is a JSON object of digests: some 400 bytes); a bigger
#: one is no recording's, and is not read (a foreign archive under a recording's name)
KEY_MAX_BYTES = 1 << 16

#: how a zip archive (an .npz) starts; anything else under a recording's name is refused unread (np.load reads a
#: whole .npy file, however big, before it could be looked at)
_ZIP_MAGIC = b"PK\x03\x04"


def checksum(arrays: dict[str, np.ndarray]) -> str:
    h = hashlib.sha256()
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(f"{name}:{a.dtype.str}:{a.shape};".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def short(key: str) -> str:
    """The 24 hex digits of ``key``'s SHA-256 that name its file (and stand for it in messages)."""
    return hashlib.sha256(key.encode()).hexdigest()[:24]


def save(rec: Recording, path: Path, key: str) -> None:
    """Write ``rec`` to ``path`` (atomically: a new temporary file, then a rename)."""
    arrays = rec.arrays()
    # (a link at ``path`` is replaced, not its file; "x": the temporary, cleared by replacing, is made afresh, and
    # anything planted at its name since is refused, never written through)
    with replacing(path, follow=False) as tmp, open(tmp, "xb") as f:
        np.savez_compressed(f, key=np.array(key), checksum=np.array(checksum(arrays)), **arrays)


def load(path: Path, key: str) -> Recording:
    """Read the recording at ``path``, recorded for ``key``; :class:`RecordingError` if it is not usable. Its key
    is read and checked first, its arrays only once it is this key's."""
    names = [f.name for f in fields(Recording)]
    if not path.is_file():  # (a pipe would block np.load for ever; a folder or device is no recording)
        raise RecordingError(f"{path}: no such recording" if not os.path.lexists(path) else
                             f"{path}: not a regular file, so no recording")
    try:
        with open(path, "rb") as f:
            if f.read(len(_ZIP_MAGIC)) != _ZIP_MAGIC:
                raise ValueError("not an .npz archive")
        with np.load(path, allow_pickle=False) as z:  # (an .npz: its members are read when asked for, not here)
            stored_key = _stored_key(z, path)
            if stored_key != key:
                raise RecordingError(f"{path}: recorded for another task, data or code version "
                                     f"({short(stored_key)} != {short(key)})")
            stored_sum = str(z["checksum"])
            arrays = {n: z[n] for n in names}
    except RecordingError:
        raise
    except FileNotFoundError:
        raise RecordingError(f"{path}: no such recording") from None
    except OSError as e:  # (not the file's fault: permissions, an I/O error; the catch-all below called it corrupt)
        raise RecordingError(f"{path}: the recording cannot be read ({type(e).__name__}: "
                             f"{e.strerror or e})") from None
    except Exception as e:  # noqa: BLE001 - whatever a damaged zip raises (zlib.error, NotImplementedError, ...)
        raise RecordingError(f"{path}: corrupt or truncated recording ({type(e).__name__}: {e})") from None
    if checksum(arrays) != stored_sum:
        raise RecordingError(f"{path}: checksum mismatch (a corrupt recording)")
    return Recording(**arrays)


def _stored_key(z, path: Path) -> str:
    """The key text of the open .npz ``z``, read once its size (in the archive's directory) is a key's."""
    size = z.zip.getinfo("key.npy").file_size  # (KeyError where there is none: a corrupt recording)
    if size > KEY_MAX_BYTES:
        raise RecordingError(f"{path}: not a recording's key ({size} bytes), so no recording of this version")
    return str(z["key"])
