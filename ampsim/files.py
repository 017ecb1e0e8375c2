"""The one way in for user files: every file ampsim reads on a user's behalf goes here.

Reading (experiment, hardware and sweep TOML files, dataset files, ``model.vectors`` files, run folders'
recordings): whatever goes wrong with the file itself (missing, a directory, unreadable, binary, not
UTF-8, a cut-off or corrupt gzip stream, not TOML) becomes one :class:`~ampsim.errors.AmpsimError` line
``<path>: <cause>`` (a :class:`~ampsim.errors.ConfigError` unless the caller asks for another class, e.g.
:class:`~ampsim.errors.DataError` for datasets), worded the same for every kind of file, so the CLI prints
it as ``ampsim: error: …`` without a traceback. Gzip is recognised by its magic bytes, not the file name.

How a path is named in those lines, reading or writing: :func:`os_error_cause` (an OSError's cause without the
path), :func:`path_kind` (a folder, a file, a pipe…) and :func:`path_option` (a command line's path, never
empty). Writing (output paths checked before the work, files replaced whole) is :mod:`ampsim.outputs`, which
builds on these; nothing here writes.
"""

from __future__ import annotations

import codecs
import errno
import gzip
import os
import stat
import tomllib
import zlib
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO, Iterator

from ampsim.errors import AmpsimError, ConfigError

__all__ = ["read_toml", "read_bytes", "read_text", "read_json", "read_data", "gunzip", "text_lines", "os_error_cause",
           "machine_error",
           "path_option", "path_kind", "dangling_link", "open_regular", "reading", "ErrorClass"]

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


#: what an OSError says of the machine rather than of ampsim: a full disk or quota, a read-only or failing file
#: system, a folder locked down while the command ran, too long a name, no file descriptors left
MACHINE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO, errno.EACCES, errno.EPERM,
                            errno.ENAMETOOLONG, errno.EMFILE})


def machine_error(e: BaseException, doing: str = "writing the results") -> str | None:
    """The one line ``e`` says where it is an OSError of the machine's (:data:`MACHINE_ERRNOS`): the file and the
    cause, or what was being done where it names no file; None for anything else (a bug stays one).

    >>> machine_error(OSError(errno.ENOSPC, "No space left on device")), machine_error(ValueError("x"))
    ('writing the results: no space left on device', None)
    """
    if not isinstance(e, OSError) or e.errno not in MACHINE_ERRNOS:
        return None
    return f"{e.filename if e.filename is not None else doing}: {os_error_cause(e)}"


def path_kind(path: str | Path) -> str:
    """What the existing ``path`` (a link: where it leads) is, as an error names it: a folder, a file, a pipe, a socket
    or a device (where a folder is expected, "a file" misnamed the others).

    >>> path_kind("/"), path_kind("/dev/null")
    ('a folder', 'a device')
    """
    mode = os.stat(path).st_mode
    kinds = {stat.S_ISDIR: "a folder", stat.S_ISREG: "a file", stat.S_ISFIFO: "a pipe", stat.S_ISSOCK: "a socket"}
    return next((kind for test, kind in kinds.items() if test(mode)), "a device")


def dangling_link(path: str | Path) -> str | None:
    """How an error names ``path`` where it is a symbolic link that cannot be followed, else None: one that leads to
    nothing (dangling), a loop of links (to itself, or into a cycle: it was said to lead to nothing, as a link to a
    disk not mounted is, where the fix is another), or one the file system will not follow (permission denied on the
    way). Said as missing, a link to a disk not mounted was taken for a typo in the path, or for a file never made.

    >>> dangling_link("/")  # (a folder)
    """
    if not os.path.lexists(path) or os.path.exists(path):
        return None
    to = os.readlink(path)
    try:
        os.stat(path)
    except OSError as e:
        if e.errno == errno.ELOOP:
            return f"a symbolic link loop (to {to!r})"
        if e.errno not in (errno.ENOENT, errno.ENOTDIR):
            return f"a symbolic link that cannot be followed (to {to!r}: {os_error_cause(e)})"
        return f"a symbolic link that leads to nothing (to {to!r})"
    return None  # (made meanwhile)


def path_option(text: str) -> str:
    """An argparse ``type`` for a path option: refuses an empty one, which a user means nowhere (an unset
    shell variable in ``--out "$OUT"``), where falling back to the default folder would replace the run there."""
    if not text.strip():
        import argparse

        raise argparse.ArgumentTypeError(f"an empty path ({text!r})")
    return text


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
