"""The one way in and out for user files: every file ampsim reads or writes on a user's behalf goes here.

Reading (experiment, hardware and sweep TOML files, dataset files, ``model.vectors`` files, run folders'
recordings): whatever goes wrong with the file itself (missing, a directory, unreadable, binary, not
UTF-8, a cut-off or corrupt gzip stream, not TOML) becomes one :class:`~ampsim.errors.AmpsimError` line
``<path>: <cause>`` (a :class:`~ampsim.errors.ConfigError` unless the caller asks for another class, e.g.
:class:`~ampsim.errors.DataError` for datasets), worded the same for every kind of file, so the CLI prints
it as ``ampsim: error: …`` without a traceback. Gzip is recognised by its magic bytes, not the file name.

Writing (run folders, sweep folders, calibrated models, figures): :func:`check_output_dir` and
:func:`check_output_file` say in one line why a target cannot be written (``<path>: is a file, not a
folder``, ``<path>: permission denied``, ``<path>: cannot create: …``) *before* any expensive work, and
change nothing on disk. :func:`replacing` and :func:`write_figure` (every figure's, the sweeps' and compare's
alike) replace a file whole (a folder: :func:`ampsim.folders.replace_folder`).
"""

from __future__ import annotations

import codecs
import errno
import gzip
import os
import stat
import tempfile
import tomllib
import zlib
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, BinaryIO, Iterator

from ampsim.errors import AmpsimError, ConfigError
from ampsim.wording import wording

__all__ = ["read_toml", "read_bytes", "read_text", "read_json", "read_data", "gunzip", "text_lines", "os_error_cause",
           "check_output_dir", "check_output_file", "check_folder_name", "path_option", "path_kind",
           "replacing", "write_figure", "what_it_holds", "entries_of", "open_regular", "reading"]

_GZIP_MAGIC = b"\x1f\x8b"
ErrorClass = type[AmpsimError]


def os_error_cause(e: OSError) -> str:
    """A short cause for an OSError, without the path Python repeats in ``str(e)``."""
    if isinstance(e, FileNotFoundError):
        return "no such file"
    if isinstance(e, IsADirectoryError):
        return "is a directory, not a file"
    if isinstance(e, NotADirectoryError):
        return "a part of the path is a file, not a folder"
    if isinstance(e, PermissionError):
        return "permission denied"
    return (e.strerror or type(e).__name__).lower()


def path_kind(path: str | Path) -> str:
    """What the existing ``path`` (a link: where it leads) is, as an error names it: a folder, a file, a pipe, a socket
    or a device (where a folder is expected, "a file" misnamed the others).

    >>> path_kind("/"), path_kind("/dev/null")
    ('a folder', 'a device')
    """
    mode = os.stat(path).st_mode
    kinds = {stat.S_ISDIR: "a folder", stat.S_ISREG: "a file", stat.S_ISFIFO: "a pipe", stat.S_ISSOCK: "a socket"}
    return next((kind for test, kind in kinds.items() if test(mode)), "a device")


# -- reading -----------------------------------------------------------------------------------------
def open_regular(path: str | Path, error: ErrorClass = ConfigError):
    """``open(path, "rb")`` of a regular file. A pipe or a device (``/dev/zero``) is refused up front: reading
    it would block or never end. Raises OSError (the callers word it) or ``error``."""
    st = os.stat(path)
    if not (stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode)):  # a directory: open() says so
        raise error(f"{path}: not a regular file (a pipe, socket or device)")
    return open(path, "rb")


#: byte-order marks an editor may put before the text (UTF-32's first: UTF-16's little-endian one begins it)
_BOMS = ((codecs.BOM_UTF32_LE, "UTF-32"), (codecs.BOM_UTF32_BE, "UTF-32"), (codecs.BOM_UTF8, "UTF-8"),
         (codecs.BOM_UTF16_LE, "UTF-16"), (codecs.BOM_UTF16_BE, "UTF-16"))


def _byte_order_mark(data: bytes, path: str | Path) -> None:
    """One ``ConfigError`` line where a TOML file's bytes start with a byte-order mark (Windows editors save
    one): TOML is UTF-8 without it, and tomllib said "invalid TOML: Invalid statement (at line 1, column 1)" of
    a UTF-8 one, and "binary?" of UTF-16 text."""
    kind = next((name for bom, name in _BOMS if data.startswith(bom)), None)
    if kind == "UTF-8":
        raise ConfigError(f"{path}: starts with a byte-order mark (BOM), which TOML does not allow; save it as "
                          "UTF-8 without a BOM")
    if kind is not None:
        raise ConfigError(f"{path}: {kind} text (it starts with a {kind} byte-order mark); TOML is UTF-8: save it "
                          "as UTF-8")


def read_toml(path: str | Path) -> dict:
    """Read one TOML file; every problem with the file is one ``ConfigError`` naming ``path`` as given."""
    try:
        with open_regular(path, ConfigError) as f:
            data = f.read()
        _byte_order_mark(data, path)
        return tomllib.loads(data.decode("utf-8"))
    except OSError as e:
        raise ConfigError(f"{path}: {os_error_cause(e)}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a UTF-8 text file (binary?); expected TOML") from None
    except ValueError as e:  # TOMLDecodeError, or an integer of more digits than Python converts (4,300)
        raise ConfigError(f"{path}: invalid TOML: {e}") from None
    except RecursionError:  # arrays or tables nested thousands deep
        raise ConfigError(f"{path}: invalid TOML: nested too deep") from None


def read_bytes(path: str | Path, *, error: ErrorClass = ConfigError) -> bytes:
    """The file's raw bytes; an OSError becomes one ``error`` line ``<path>: <cause>``."""
    try:
        with open_regular(path, error) as f:
            return f.read()
    except OSError as e:
        raise error(f"{path}: {os_error_cause(e)}") from None


def gunzip(raw: bytes, path: str | Path, *, error: ErrorClass = ConfigError) -> tuple[bytes, bool]:
    """``(data, complete)``: ``raw`` decompressed if it is gzip (by its magic bytes), else ``(raw, True)``.

    ``complete`` is False when the gzip stream ends early (a cut-off download or copy): ``data`` is then
    what could be decompressed, so a caller can say how much is missing. Corrupt gzip data (a bad block
    or checksum, garbage after the stream) raises ``error`` ``<path>: corrupt: …``.
    """
    if not raw.startswith(_GZIP_MAGIC):
        return raw, True
    parts: list[bytes] = []
    rest = raw
    while True:  # a gzip file may hold several members, one after another
        inflater = zlib.decompressobj(wbits=31)
        try:
            parts.append(inflater.decompress(rest))
        except zlib.error as e:
            raise error(f"{path}: corrupt: bad gzip data ({e}); re-download or copy it again") from None
        if not inflater.eof:
            return b"".join(parts), False
        rest = inflater.unused_data
        if not rest.strip(b"\x00"):  # gzip tolerates zero padding after the last member
            return b"".join(parts), True
        if not rest.startswith(_GZIP_MAGIC):
            raise error(f"{path}: corrupt: {len(rest)} bytes of garbage after the gzip data; "
                        "re-download or copy it again")


def read_data(path: str | Path, *, error: ErrorClass = ConfigError) -> bytes:
    """The file's bytes, decompressed if gzip; a cut-off gzip stream is ``<path>: truncated: …``."""
    data, complete = gunzip(read_bytes(path, error=error), path, error=error)
    if not complete:
        raise error(f"{path}: truncated: gzip stream ends early (the file was cut off); re-download or copy it again")
    return data


def read_text(path: str | Path, *, error: ErrorClass = ConfigError) -> str:
    """The file as UTF-8 text (decompressed if gzip); binary or non-UTF-8 content is one ``error`` line."""
    data = read_data(path, error=error)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise error(f"{path}: not UTF-8 text ({e.reason} at byte {e.start}; binary?)") from None


def read_json(path: str | Path, *, error: ErrorClass = ConfigError) -> Any:
    """The file's JSON value (text read by :func:`read_text`); text that is not JSON, or nested deeper than
    Python's parser goes, is one ``error`` line."""
    import json

    try:
        return json.loads(read_text(path, error=error))
    except ValueError as e:  # JSONDecodeError, or an integer of more digits than Python converts (4,300)
        raise error(f"{path}: invalid JSON ({e})") from None
    except RecursionError:
        raise error(f"{path}: invalid JSON (nested too deep)") from None


def text_lines(path: str | Path, *, error: ErrorClass = ConfigError, hint: str = "check the file") -> Iterator[str]:
    """The lines of a UTF-8 text file (gzip or plain), streamed, with ``\\n`` line ends kept.

    Every problem with the file, whenever the iteration meets it, is one ``error`` line: ``<path>:
    <cause>`` for the file itself, ``<path>: not UTF-8 text (line N: …)``, ``<path>: truncated: …`` for a
    cut-off gzip stream, ``<path>: corrupt: …`` for bad gzip data; ``hint`` says what to do about the
    content. Errors a caller raises while handling a line are its own.
    """
    lineno = 0
    with reading(path, error=error, hint=hint) as stream:
        try:
            for raw in stream:
                lineno += 1
                # decoded line by line (not by a text wrapper's chunks) so an error names its line
                text = raw.decode("utf-8")
                yield text[:-2] + "\n" if text.endswith("\r\n") else text
        except UnicodeDecodeError as e:
            raise error(f"{path}: not UTF-8 text (line {lineno}: {e.reason}); {hint}") from None


@contextmanager
def reading(path: str | Path, *, error: ErrorClass = ConfigError, hint: str = "") -> Iterator[BinaryIO]:
    """A regular file's bytes as a stream for the block, decompressed if gzip (by its magic bytes). Every problem
    with the file, on opening it or whenever the block reads it, is one ``error`` line: ``<path>: <cause>``,
    ``<path>: truncated: …`` for a cut-off gzip stream, ``<path>: corrupt: …`` for bad gzip data (then
    ``; hint``, if any)."""
    try:
        f = open_regular(path, error)
    except OSError as e:
        raise error(f"{path}: {os_error_cause(e)}") from None
    then = f"; {hint}" if hint else ""
    with f:
        try:
            yield gzip.GzipFile(fileobj=f) if f.peek(2)[:2] == _GZIP_MAGIC else f
        except EOFError:
            raise error(f"{path}: truncated: gzip stream ends early (the file was cut off){then}") from None
        except (gzip.BadGzipFile, zlib.error) as e:
            raise error(f"{path}: corrupt: bad gzip data ({e}){then}") from None
        except OSError as e:
            raise error(f"{path}: {os_error_cause(e)}") from None


# -- writing -----------------------------------------------------------------------------------------
#: why a folder cannot be written, by errno, where it is not a permission (a read-only mount said "permission
#: denied", and its owner looked for the folder's mode bits)
_UNWRITABLE = {errno.EROFS: "read-only file system", errno.ENOSPC: "no space left on device",
               errno.EDQUOT: "disk quota exceeded"}


def _unwritable(folder: Path) -> str | None:
    """None if a file can be created in the existing ``folder``, else why not (``permission denied``, ``read-only
    file system``...): tried for real (a probe file created and removed), since permission bits say nothing of
    read-only mounts, ACLs or root."""
    try:
        fd, name = tempfile.mkstemp(prefix=".ampsim-probe-", dir=folder)
    except OSError as e:
        return _UNWRITABLE.get(e.errno, "permission denied")
    os.close(fd)
    os.unlink(name)
    return None


def _nearest_existing(path: Path) -> Path:
    p = Path(os.path.abspath(path))
    while not os.path.exists(p) and p != p.parent:  # os.path: a permission error reads as "not there"
        p = p.parent
    return p


def _check_creatable(path: str | Path, error: ErrorClass) -> None:
    """``path`` does not exist: check that its nearest existing ancestor is a folder one may write into."""
    base = _nearest_existing(Path(path))
    if not os.path.isdir(base):
        raise error(f"{path}: cannot create: {base} is {path_kind(base)}, not a folder")
    if why := _unwritable(base):
        raise error(f"{path}: cannot create: {why} in {base}")
    too_long = [part for part in Path(path).parts if len(os.fsencode(part)) > 255]
    if too_long:
        raise error(f"{path}: cannot create: name too long ({len(too_long[0])} characters)")


def check_output_dir(path: str | Path, *, error: ErrorClass = ConfigError) -> Path:
    """Check that ``path`` is, or can be created as, a folder this process may write into; change nothing.

    Raises ``error`` with one line: ``<path>: is a file, not a folder`` (or a pipe, socket, device: what it is,
    :func:`path_kind`), ``<path>: permission denied
    (cannot write in this folder)`` (or ``read-only file system``, ``no space left on device``...),
    ``<path>: cannot create: <ancestor> is a file, not a folder``,
    ``<path>: cannot create: permission denied in <ancestor>`` or ``<path>: a symbolic link that leads to
    nothing (…)``. Returns ``Path(path)``.
    """
    p = Path(path)
    if os.path.lexists(p) and not os.path.exists(p):  # dangling, or a loop: mkdir would fail on it
        raise error(f"{path}: a symbolic link that leads to nothing (to {os.readlink(p)!r}); give a folder, or "
                    "remove the link")
    if os.path.exists(p):
        if not os.path.isdir(p):
            raise error(f"{path}: is {path_kind(p)}, not a folder")
        if why := _unwritable(p):
            raise error(f"{path}: {why} (cannot write in this folder)")
    else:
        _check_creatable(path, error)
    return p


def check_output_file(path: str | Path, *, error: ErrorClass = ConfigError) -> Path:
    """Check that the file ``path`` can be written (created, or replaced atomically through a temporary
    file beside it); change nothing.

    Raises ``error`` with one line: ``<path>: is a folder, not a file``, ``<path>: not a regular file (a device,
    pipe or folder): not replaced`` (what :func:`replacing` refuses), ``<path>: permission denied (cannot write in
    <folder>)`` or ``<path>: cannot create: …`` as :func:`check_output_dir` words it. Returns ``Path(path)``.
    """
    p = Path(path)
    if os.path.isdir(p):
        raise error(f"{path}: is a folder, not a file")
    _check_link_kind(p, error)
    _check_replaceable(p, error)  # (a pipe: found as the figure was saved, after it was drawn)
    if os.path.lexists(p):
        if why := _unwritable(p.parent):
            raise error(f"{path}: {why} (cannot write in {p.parent})")
    else:
        _check_creatable(path, error)
    return p


def check_folder_name(name: str, where: str, *, under: str = "results/",
                      instead: str | None = None) -> str:
    """Check that ``name`` is one plain folder name (not empty, not ``.``/``..``, no path separator or
    control character), so a default folder ``<under><name>`` stays inside ``under``; ``where`` names the
    field for the message (``"exp.toml: experiment.name"``), ``instead`` the way round it (by default, giving
    the output folder: ``--out``, or the API's ``out=``). Returns ``name``."""
    bad = (not name.strip() or name in (".", "..") or "/" in name or "\\" in name or os.sep in name
           or any(ord(c) < 32 for c in name))
    if bad:
        raise ConfigError(f"{where}: {name!r} cannot name a folder in {under}: use one plain name (not empty, "
                          f"no '/', not '.' or '..'), or {instead or f'give the output folder with {wording().out}'}")
    # the run's lock file beside it (<name>.partial.lock) must fit a file name too (255 bytes on Linux)
    if len(name.encode("utf-8", "surrogateescape")) > MAX_NAME_BYTES:
        raise ConfigError(f"{where}: {name[:20]!r}... is longer than {MAX_NAME_BYTES} bytes: a folder name with "
                          "its run's '.partial.lock' beside it must fit in 255")
    return name


def what_it_holds(entries: list[str]) -> str:
    """A folder's first entries for a message, ``a, b/, c, d, …`` (``entries``: names, a folder's ending
    in ``/``: :func:`entries_of`).

    >>> what_it_holds(["a", "b/", "c", "d", "e"])
    'a, b/, c, d, …'
    """
    return ", ".join(entries[:4]) + (", …" if len(entries) > 4 else "")


def entries_of(folder: str | Path) -> list[str]:
    """The names in ``folder``, sorted, a folder's ending in ``/``."""
    return sorted(e.name + ("/" if e.is_dir() else "") for e in Path(folder).iterdir())


#: the longest folder name :func:`check_folder_name` lets through (255 bytes less ``.partial.lock``)
MAX_NAME_BYTES = 255 - len(".partial.lock")


def path_option(text: str) -> str:
    """An argparse ``type`` for a path option: refuses an empty one, which a user means nowhere (an unset
    shell variable in ``--out "$OUT"``), where falling back to the default folder would replace the run there."""
    if not text.strip():
        import argparse

        raise argparse.ArgumentTypeError(f"an empty path ({text!r})")
    return text


@contextmanager
def replacing(path: str | Path, *, follow: bool = True) -> Iterator[Path]:
    """A temporary path beside ``path`` for the block to write, put at ``path`` in one rename when the block
    ends, and removed if it does not (an error, a full disk, Ctrl-C): ``path`` holds the old file or the new
    one, never a part, and no temporary is left. The temporary keeps ``path``'s suffix (matplotlib reads the
    format from it). A symlink to a regular file of its own suffix is followed (that file is replaced, the link
    kept; one of another suffix is refused; a link to anything else, or to nothing, is itself replaced, never
    what it names) and a file's permission bits are
    kept (a ``chmod 600`` file stays private); ``follow=False`` (a cache's entry) replaces a link itself, keeps no mode.
    Anything but a regular file at ``path`` (a device, a pipe, a folder) is never replaced: one
    ``ConfigError`` line."""
    path = Path(path)
    if path.is_symlink():
        if follow and os.path.isfile(path):
            _check_link_kind(path)
            path = Path(os.path.realpath(path))
    else:
        _check_replaceable(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp{path.suffix}")
    try:
        yield tmp
        # (not a cache's entry: a chmod 000 one stayed so, recorded again on every run; nor a link replaced itself:
        # one to /dev/null gave a figure the device's rw-rw-rw-)
        if follow and not path.is_symlink():
            with suppress(FileNotFoundError):
                os.chmod(tmp, stat.S_IMODE(os.stat(path).st_mode))
        os.replace(tmp, path)
    except OSError as e:  # a full disk while a figure is saved: matplotlib's error names no file
        if e.filename is None or e.filename == str(tmp):
            e.filename = str(path)
        raise
    finally:
        tmp.unlink(missing_ok=True)


def _check_replaceable(path: Path, error: ErrorClass = ConfigError) -> None:
    """One ``error`` line where ``path`` is there and is neither a regular file nor a symlink: a device, a pipe or
    a folder, which :func:`replacing` never replaces (os.replace would put a file where /dev/zero was)."""
    if os.path.lexists(path) and not path.is_symlink() and not path.is_file():
        raise error(f"{path}: not a regular file (a device, pipe or folder): not replaced")


def _check_link_kind(path: Path, error: ErrorClass = ConfigError) -> None:
    """One ``error`` line where ``path`` is a symlink to a regular file of another suffix than its own: followed,
    ``--out fig.png`` linked to a run's ``metrics.csv`` or a table wrote the figure over it (or, its format taken
    from the target's suffix, was a traceback)."""
    if path.is_symlink() and os.path.isfile(path) and (to := Path(os.path.realpath(path))).suffix != path.suffix:
        raise error(f"{path}: a link to {to}, a file of another kind ({to.suffix or 'no suffix'}): not written "
                    "through; give another path")


#: the suffixes matplotlib's Agg backend writes (what another suffix is not)
_IMAGE_FORMATS = ("png", "pdf", "svg", "svgz", "ps", "eps", "jpg", "jpeg", "tif", "tiff", "webp", "raw", "rgba", "pgf")


def write_figure(fig: Any, path: str | Path, **savefig: Any) -> Path:
    """Save the matplotlib figure ``fig`` at ``path``, in the format its suffix names, through :func:`replacing`
    (a run cut short while drawing leaves the earlier figure whole); ``savefig``: matplotlib's options. A PDF
    carries no creation date, so the same figure drawn again is the same file. A path with no image suffix gets
    ``.png``, as matplotlib's own saving gave it (the temporary file's name would be taken for the format)."""
    path = Path(path)
    if "format" not in savefig and path.suffix.lstrip(".").lower() not in _IMAGE_FORMATS:
        path = path.with_name(path.name + ".png")
    if (savefig.get("format") or path.suffix.lstrip(".")).lower() == "pdf":
        savefig["metadata"] = {"CreationDate": None, **(savefig.get("metadata") or {})}
    with replacing(path) as tmp:
        fig.savefig(tmp, **savefig)
    return path
