"""Where the datasets live and how they are fetched and verified.

Contract:

* :func:`data_root` is ``$AMPSIM_DATA`` when set (and non-empty), else a per-user cache folder
  (``$XDG_CACHE_HOME/ampsim`` or ``~/.cache/ampsim``). Its layout is ``mnist/``, ``sst/``, ``qm9/``.
* :data:`REGISTRY` (kept in :mod:`ampsim.data.registry`, given here too) maps a path relative to the root
  (``"mnist/train-images-idx3-ubyte.gz"``) to a :class:`FileSpec`: the file's sha256 and the public places it can
  be downloaded from.
* :func:`fetch` returns the absolute path of a file under the root. A registered file that exists is
  checked against its sha256 (cached per process by path, size and mtime); a missing registered file
  is downloaded (to a temporary file in the same folder, verified, then atomically renamed). A file
  that is not registered, or ``verify=False``, only has to exist. Every failure a user can fix raises
  :class:`~ampsim.errors.DataError` with a one-line message naming the path and what to do.
* Downloads go through the module-level :func:`_download` so tests can replace it; nothing else here
  touches the network. ``AMPSIM_OFFLINE=1`` turns downloads off.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import shutil
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
import zlib
from pathlib import Path

from ampsim.data.registry import REGISTRY, FileSpec, Source
from ampsim.errors import DataError
from ampsim.files import dangling_link, os_error_cause
from ampsim.folders import remove_empty

__all__ = ["FileSpec", "REGISTRY", "Source", "cache_home", "data_root", "fetch"]

log = logging.getLogger(__name__)

#: Seconds a download may block on connect or on one read before it is abandoned.
DOWNLOAD_TIMEOUT_S = 20.0
#: a whole download's limit (the datasets are at most tens of MB: minutes even on a slow line)
DOWNLOAD_DEADLINE_S = 600.0

_WHAT_TO_DO = "put the file there or set AMPSIM_DATA to a folder holding mnist/, sst/, qm9/"


# (resolved path, size, mtime_ns, ctime_ns) -> sha256 hex digest computed for that exact file state.
_DIGESTS: dict[tuple[str, int, int, int], str] = {}


class _DownloadFailed(Exception):
    """A source could not deliver a verified file; the message says why."""


def cache_home() -> Path | None:
    """The user's cache folder: ``$XDG_CACHE_HOME`` if it is an absolute path (a relative one, ``~/…`` included, is
    ignored, as the XDG Base Directory spec asks), else ``~/.cache``; None where there is no home folder (no
    ``$HOME`` and none for this user, as a container's ``--user`` may have). The data root's default and the
    recordings cache's (:mod:`ampsim.executors.sim.recording_cache`) both live under it."""
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    if os.path.isabs(xdg):
        return Path(xdg)
    try:
        return Path.home() / ".cache"
    except RuntimeError:
        return None


def data_root() -> Path:
    """The dataset root: ``$AMPSIM_DATA`` if set, else ``ampsim`` in the user's cache folder
    (:func:`cache_home`: ``$XDG_CACHE_HOME/ampsim`` or ``~/.cache/ampsim``).

    The folder need not exist; :func:`fetch` creates subfolders when it downloads.

    Raises:
        DataError: an ``AMPSIM_DATA`` of blanks (taken as a relative folder named " "), or whose ``~`` names no
            home folder (``~nosuchuser``: pathlib's RuntimeError traceback), or no ``AMPSIM_DATA`` and no home
            folder for the default.
    """
    env = os.environ.get("AMPSIM_DATA")
    if env and not env.strip():
        raise DataError(f"AMPSIM_DATA={env!r}: blank; set it to a folder holding mnist/, sst/, qm9/, or unset it")
    if env:
        try:
            return Path(env).expanduser()
        except RuntimeError:
            raise DataError(f"AMPSIM_DATA={env}: its '~' names no home folder; give the folder's full path") from None
    if (base := cache_home()) is None:
        raise DataError("no data folder: AMPSIM_DATA is not set, and its default, ~/.cache/ampsim, is in no home "
                        "folder (no $HOME, and none for this user); set AMPSIM_DATA to a folder holding mnist/, "
                        "sst/, qm9/")
    return base / "ampsim"


def sha256_file(path: Path) -> str:
    """The sha256 hex digest of ``path``, memoised per process by (path, size, mtime, ctime).

    Raises:
        DataError: "<path>: <cause>" if the file cannot be read (unreadable, a directory, ...).
    """
    try:
        st = path.stat()
        # (ctime too: an edit that restores the size and the mtime, os.utime, still changes it)
        key = (str(path.resolve()), st.st_size, st.st_mtime_ns, st.st_ctime_ns)
        digest = _DIGESTS.get(key)
        if digest is None:
            with open(path, "rb") as f:
                digest = _DIGESTS[key] = hashlib.file_digest(f, "sha256").hexdigest()
    except OSError as e:
        raise DataError(f"{path}: {os_error_cause(e)}; {_WHAT_TO_DO}") from None
    return digest


def _check_relpath(relpath: str) -> None:
    p = Path(relpath)
    if p.is_absolute() or ".." in p.parts or not p.parts:
        raise ValueError(f"data path must be relative to the data root, got {relpath!r}")


def fetch(relpath: str, *, root: Path | str | None = None, verify: bool = True) -> Path:
    """Return the path of the data file ``relpath`` under ``root`` (default :func:`data_root`).

    An existing registered file is checked against its sha256 unless ``verify`` is false; a missing
    registered file with sources is downloaded and verified. Unregistered files only have to exist.

    Raises:
        DataError: the file is missing and could not be downloaded (nor its folder made or written), or its checksum
            is wrong.
    """
    _check_relpath(relpath)
    base = Path(root).expanduser() if root is not None else data_root()
    path = base / relpath
    spec = REGISTRY.get(relpath)
    # os.path: a permission error on the way reads as "not there" (then: missing), never a traceback
    if os.path.isfile(path):
        if verify and spec is not None:
            _verify_existing(path, spec)
        return path
    if os.path.exists(path):
        raise DataError(f"{path}: is not a regular file; remove it and re-run")
    if (why := _unreachable(path)) is not None:  # (not missing: the file may be there)
        raise DataError(f"{path}: {why}; {_WHAT_TO_DO}")
    if (why := _in_the_way(path, base)) is not None:  # (a download would replace the link, or fail three times)
        raise DataError(f"missing {path}: {why}; {_WHAT_TO_DO}")
    if spec is None:
        raise DataError(f"missing {path}: not a known download; {_WHAT_TO_DO}")
    if not spec.sources:
        raise DataError(f"missing {path}: {spec.no_source_reason}; {_WHAT_TO_DO}")
    if os.environ.get("AMPSIM_OFFLINE") == "1":
        if not os.path.isdir(base):  # (every file is missing from a root not there: its name is the one to change)
            raise DataError(f"{base}: the data root does not exist (downloads are off, AMPSIM_OFFLINE=1, so nothing "
                            "was fetched); set AMPSIM_DATA to a folder holding mnist/, sst/, qm9/")
        raise DataError(f"missing {path}: downloads are off (AMPSIM_OFFLINE=1); {_WHAT_TO_DO}")
    made: list[Path] = []
    try:  # (the folders and the temporary file are the root's: refused, every source is refused alike, so said once)
        _make_folders(path.parent, made)
        return _download_any(relpath, path, spec, base)
    except OSError as e:
        raise DataError(_cannot_write(e, path, base)) from None
    finally:
        if not path.exists():  # a failed download leaves no folders behind (a mistyped AMPSIM_DATA got mnist/)
            remove_empty(made)  # (only those this call made; one another process's download uses is not empty)


def _download_any(relpath: str, path: Path, spec: FileSpec, base: Path) -> Path:
    """Download ``path`` from the first of ``spec``'s sources that delivers it; DataError naming each failure if none
    does. An OSError out of it is the folder's (the temporary file refused), not a source's."""
    reasons = []
    for source in spec.sources:
        try:
            _fetch_from(source, path, spec.sha256, base)
        except _DownloadFailed as exc:  # (said in the error line if every source fails: no warning lines)
            log.info("download of %s from %s failed: %s", relpath, source.url, exc)
            reasons.append((urllib.parse.urlsplit(source.url).netloc, str(exc)))
            continue
        log.info("downloaded %s from %s", path, source.url)
        return path
    why = reasons[0][1] if len(reasons) == 1 else "; ".join(f"{host}: {why}" for host, why in reasons)
    raise DataError(f"missing {path}: download failed ({why}); {_WHAT_TO_DO}")


def _cannot_write(e: OSError, path: Path, base: Path) -> str:
    """The line for ``path``, to be downloaded under the data root ``base``, where making its folder or a file in it
    was refused (``e``): of the data root where that is what could not be made (a parent the user may not write), as
    the root's name is the one to change; else of the folder the file would go in."""
    cause = os_error_cause(e)
    if not os.path.isdir(base):
        at = "" if e.filename is None or Path(e.filename) == base else f"{e.filename}: "
        return (f"{base}: the data root does not exist and cannot be created there ({at}{cause}); set AMPSIM_DATA to "
                "a folder holding mnist/, sst/, qm9/")
    return f"missing {path}: it cannot be downloaded into {path.parent} ({cause}); {_WHAT_TO_DO}"


def _unreachable(path: Path) -> str | None:
    """Why ``path``, which ``os.path`` says is not there, may be there but cannot be looked at (a folder on the way
    the user may not enter: another user's data root), as an unreadable file is worded; None where it is not there
    (nothing by that name, a file for a folder on the way) or a link cannot be followed (:func:`_in_the_way`). Taken
    for missing, it was "downloads are off" offline, and online a PermissionError out of the download's clean-up."""
    try:
        os.stat(path)
    except OSError as e:
        return None if e.errno in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP) else os_error_cause(e)
    return None


def _in_the_way(path: Path, base: Path) -> str | None:
    """Why the missing ``path`` under the data root ``base`` cannot be there, where something stands in its place
    or in a folder's on the way (the root included): a symbolic link that cannot be followed (dangling, a loop)
    or a file; else None. Said as missing with downloads off, a link to an unmounted disk was taken for a file
    never fetched, and online it was downloaded over."""
    for p in (path, *path.parents[:len(path.relative_to(base).parts)]):
        what = "it" if p == path else f"{p} (the data root)" if p == base else str(p)
        if link := dangling_link(p):
            return f"{what} is {link}"
        if os.path.exists(p):  # (a folder: so are the ones above it)
            return None if os.path.isdir(p) else f"{what} is a file, not a folder"
    return None


def _verify_existing(path: Path, spec: FileSpec) -> None:
    digest = sha256_file(path)
    if digest != spec.sha256:
        raise DataError(
            f"corrupt {path}: sha256 mismatch (expected {spec.sha256[:12]}…, got {digest[:12]}…); "
            "delete it and re-run or re-download"
        )


def _download(url: str, dest: Path, timeout: float = DOWNLOAD_TIMEOUT_S) -> None:
    """Write the body of ``url`` to ``dest``. The only function here that touches the network.

    Raises OSError (``urllib.error.URLError`` included) on any failure.
    """
    request = urllib.request.Request(url, headers={"User-Agent": "ampsim-data/1"})
    start = time.monotonic()
    with urllib.request.urlopen(request, timeout=timeout) as response, open(dest, "wb") as out:
        # a read times out after ``timeout``, but a server that trickles a byte at a time never would
        while block := response.read(1 << 16):
            out.write(block)
            if time.monotonic() - start > DOWNLOAD_DEADLINE_S:
                raise TimeoutError(f"not done after {DOWNLOAD_DEADLINE_S:g} s ({out.tell():,} bytes)")


def _make_folders(folder: Path, made: list[Path]) -> None:
    """Make ``folder`` and its missing parents, putting each this call made at the front of ``made`` (innermost
    first; one another process made meanwhile is not among them, so a failed download removes only its own)."""
    for d in reversed([d for d in (folder, *folder.parents) if not d.exists()]):
        try:
            d.mkdir()
            made.insert(0, d)
        except FileExistsError:
            pass


def _temp_beside(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    os.close(fd)
    return Path(name)


def _place_verified(tmp: Path, path: Path, sha256: str) -> None:
    """Move ``tmp`` to ``path`` atomically if its digest is ``sha256``; else raise _DownloadFailed."""
    with open(tmp, "rb") as f:
        if hashlib.file_digest(f, "sha256").hexdigest() != sha256:
            raise _DownloadFailed("downloaded file has the wrong sha256")
    os.replace(tmp, path)


def _fetch_from(source: Source, path: Path, sha256: str, base: Path) -> None:
    """Fetch ``source`` into ``path`` and verify it; raise _DownloadFailed with a reason on failure.

    For an archive member, other missing registered members of the same archive are extracted from
    the same download (best effort), so a multi-file dataset is downloaded once.
    """
    tmp = _temp_beside(path)  # (an OSError here is the folder's, not the source's: fetch says it once)
    try:
        if source.member is None:
            _download(source.url, tmp)
            _place_verified(tmp, path, sha256)
        else:
            _download(source.url, tmp)
            with zipfile.ZipFile(tmp) as zf:
                _extract_member(zf, source.member, path, sha256)
                _extract_siblings(zf, source.url, path, base)
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, zlib.error, NotImplementedError, EOFError) as exc:
        raise _DownloadFailed(_describe(exc)) from exc  # (damaged compressed data: the next source is tried)
    finally:
        tmp.unlink(missing_ok=True)


def _extract_member(zf: zipfile.ZipFile, member: str, path: Path, sha256: str) -> None:
    tmp = _temp_beside(path)
    try:
        with zf.open(member) as src, open(tmp, "wb") as out:
            shutil.copyfileobj(src, out, 1 << 20)
        _place_verified(tmp, path, sha256)
    finally:
        tmp.unlink(missing_ok=True)


def _extract_siblings(zf: zipfile.ZipFile, url: str, done: Path, base: Path) -> None:
    """Extract the registry's other missing members of archive ``url`` from the open archive ``zf``.

    Best effort: a failure is logged, and :func:`fetch` tries again when that file is asked for.
    """
    for relpath, spec in REGISTRY.items():
        target = base / relpath
        for source in spec.sources:
            if source.url != url or source.member is None or target == done or target.exists():
                continue
            try:
                _extract_member(zf, source.member, target, spec.sha256)
                log.info("extracted %s from %s", target, url)
            except (OSError, KeyError, zipfile.BadZipFile, zlib.error, NotImplementedError, EOFError,
                    _DownloadFailed) as exc:
                log.warning("could not extract %s from %s: %s", relpath, url, exc)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code}"
    if isinstance(exc, urllib.error.URLError):
        return str(exc.reason).replace("\n", " ")
    if isinstance(exc, KeyError):
        return f"archive has no member {exc.args[0]!r}" if exc.args else "archive member missing"
    text = str(exc).replace("\n", " ") or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if not isinstance(exc, OSError) else text
