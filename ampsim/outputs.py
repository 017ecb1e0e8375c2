"""The one way out for user files: every file and folder ampsim writes on a user's behalf goes here.

Run folders, sweep folders, calibrated models, figures: :func:`check_output_dir` and :func:`check_output_file` say
in one line why a target cannot be written (``<path>: is a file, not a folder``, ``<path>: permission denied``,
``<path>: cannot create: …``) *before* any expensive work, and change nothing on disk;
:func:`check_folder_name` keeps a default folder ``results/<name>`` inside ``results/``; :func:`what_it_holds`
and :func:`entries_of` name what a folder holds when it is refused. :func:`replacing` and :func:`write_figure`
(every figure's, the sweeps' and compare's alike) replace a file whole (a folder:
:func:`ampsim.folders.replace_folder`). The errors are worded as :mod:`ampsim.files` words a file's
(:func:`~ampsim.files.path_kind`), which this module builds on; nothing there imports this.
"""

from __future__ import annotations

import errno
import os
import re
import signal
import stat
import tempfile
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, Iterator

from ampsim.errors import ConfigError
from ampsim.files import ErrorClass, dangling_link, path_kind
from ampsim.folders import gone_since, missing_folders, remove_empty
from ampsim.wording import wording

__all__ = ["check_output_dir", "check_output_file", "check_folder_name", "check_replaceable", "check_replacing",
           "left_by_killed_writers", "replacing", "write_figure", "what_it_holds", "entries_of"]


#: why a folder cannot be written, by errno, where it is not a permission (a read-only mount said "permission
#: denied", and its owner looked for the folder's mode bits)
_UNWRITABLE = {errno.EROFS: "read-only file system", errno.ENOSPC: "no space left on device",
               errno.EDQUOT: "disk quota exceeded"}


#: the signals that stop a command by an exception (Ctrl-C, SIGTERM, SIGHUP): held off while a probe file exists
_STOPS = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}


def _unwritable(folder: Path) -> str | None:
    """None if a file can be created in the existing ``folder``, else why not (``permission denied``, ``read-only
    file system``...): tried for real (a probe file created and removed), since permission bits say nothing of
    read-only mounts, ACLs or root. The signals that stop a command wait until the probe is gone: a Ctrl-C
    between its creation and its deletion left a ``.ampsim-probe-*`` in the folder (one ``sweep --check``, which
    changes nothing, had only looked at)."""
    held = signal.pthread_sigmask(signal.SIG_BLOCK, _STOPS)
    try:
        try:
            fd, name = tempfile.mkstemp(prefix=".ampsim-probe-", dir=folder)
        except OSError as e:
            return _UNWRITABLE.get(e.errno, "permission denied")
        try:
            os.close(fd)
        finally:  # (a signal that came before the block still raises in between)
            os.unlink(name)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)  # (a signal held off is raised here, the probe gone)
    return None


def _nearest_existing(path: Path) -> Path:
    p = Path(os.path.abspath(path))
    while not os.path.exists(p) and p != p.parent:  # os.path: a permission error reads as "not there"
        p = p.parent
    return p


def _up_from_no_folder(path: str | Path) -> Path | None:
    """The first folder of ``path`` that a ``..`` after it goes up from but that is not one (not there, a file), else
    None. The system follows ``x/nothing/..`` only where ``x/nothing`` is a folder, while :func:`os.path.abspath`
    (which :func:`_nearest_existing` walks) drops the pair unread: such a path was taken for ``x/...``, so ``ampsim
    train`` trained and then could not rename its run into place, and a file's writer made ``x/nothing`` to write
    through it and left it behind."""
    parts = Path(path).parts
    return next((at for i, part in enumerate(parts)
                 if part == ".." and i and not os.path.isdir(at := Path(*parts[:i]))), None)


def _as_the_system_goes(path: str | Path) -> Path:
    """``path`` with its part up to its last ``..`` resolved as the system resolves it (each folder before a ``..``
    there: :func:`_up_from_no_folder`). Out of a symbolic link, ``..`` goes up out of the link's target
    (``here/L/../x`` is ``x`` beside what ``L`` leads to), where :func:`os.path.abspath` drops ``L/..`` and read
    ``here/x``: the check probed ``here``, and the output went elsewhere."""
    parts = Path(path).parts
    last = max((i for i, part in enumerate(parts) if part == ".."), default=None)
    return Path(path) if last is None else Path(os.path.realpath(Path(*parts[:last + 1])), *parts[last + 1:])


def _check_creatable(path: str | Path, error: ErrorClass) -> None:
    """``path`` does not exist: check that the system can reach its parent (no ``..`` out of a folder that is not
    there) and that its nearest existing ancestor, where the system goes, is a folder one may write into."""
    if (at := _up_from_no_folder(path)) is not None:
        link = dangling_link(at)  # (not there as a folder, though there: "does not exist" sent one looking for it)
        what = f"is {path_kind(at)}, not a folder" if os.path.exists(at) else f"is {link}" if link else "does not exist"
        raise error(f"{path}: cannot create: {at} {what}, and '..' goes up only out of a folder that is there; give "
                    "the path without it")
    base = _nearest_existing(_as_the_system_goes(path))
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
    ``<path>: cannot create: permission denied in <ancestor>``, ``<path>: cannot create: <folder> does not exist,
    and '..' goes up only out of a folder that is there; …`` (``x/nothing/../run``, which the system does not open;
    ``x/L/../run``, ``L`` a link, is checked beside what ``L`` leads to, where the system goes)
    or ``<path>: a symbolic link that leads to nothing (…)``. Returns ``Path(path)``.
    """
    p = Path(path)
    if link := dangling_link(p):  # (mkdir would fail on it)
        raise error(f"{path}: {link}; give a folder, or remove the link")
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
    check_replaceable(p, error)  # (a pipe: found as the figure was saved, after it was drawn)
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
    ``ConfigError`` line. The folders missing above ``path`` are made, and taken back (where still empty) if the
    write fails; one that was there is never removed. Whatever is at the temporary's name as the block starts (a
    killed writer's of this pid, a link or pipe planted there) is removed first, never written through."""
    path = Path(path)
    if follow:
        check_replacing(path)
        if path.is_symlink() and os.path.isfile(path):
            path = Path(os.path.realpath(path))
    elif not path.is_symlink():
        check_replaceable(path)
    tmp, made, done = _temporary_of(path, str(os.getpid())), missing_folders(path.parent), False
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.unlink(missing_ok=True)  # (a writer opens it by name: "w" follows a link and waits on a pipe)
        yield tmp
        # (not a cache's entry: a chmod 000 one stayed so, recorded again on every run; nor a link replaced itself:
        # one to /dev/null gave a figure the device's rw-rw-rw-)
        if follow and not path.is_symlink():
            with suppress(FileNotFoundError):
                os.chmod(tmp, stat.S_IMODE(os.stat(path).st_mode))
        os.replace(tmp, path)
        done = True
    except OSError as e:  # a full disk while a figure is saved: matplotlib's error names no file
        if e.filename is None or e.filename == str(tmp):
            e.filename = str(path)
        raise
    finally:
        tmp.unlink(missing_ok=True)
        if not done:  # (the folders made to write through, left empty: a figure not saved left figs/new/)
            remove_empty(made)


def check_replacing(path: str | Path) -> None:
    """Refuse, changing nothing, in the line :func:`replacing` would, a ``path`` it does not replace: a device, a pipe,
    a folder, a link to a regular file of another suffix (for a writer of several files that must refuse them
    all before it writes any)."""
    path = Path(path)
    if path.is_symlink():
        _check_link_kind(path)
    else:
        check_replaceable(path)


def _temporary_of(path: Path, pid: str) -> Path:
    """The temporary :func:`replacing` writes ``path`` through in process ``pid`` (a glob's ``*``: any's)."""
    return path.with_name(f".{path.stem}.{pid}.tmp{path.suffix}")


def left_by_killed_writers(path: str | Path) -> list[Path]:
    """The temporaries of :func:`replacing` beside ``path`` that no process is writing: those of processes that are
    gone, killed as they wrote it (SIGKILL, a power cut: no ``finally`` ran), which nothing else would delete.

    >>> left_by_killed_writers("/nonexistent/table.csv")
    []
    """
    path = Path(path)
    pattern = re.compile(re.escape(_temporary_of(path, "@").name).replace("@", "([0-9]+)"))
    return sorted(p for p in path.parent.glob(_temporary_of(path, "*").name)
                  if (m := pattern.fullmatch(p.name)) and gone_since(int(m.group(1)), _written_at(p)))


def _written_at(path: Path) -> float:
    """When ``path`` was last written (0.0: gone meanwhile), which a process that started later cannot have done."""
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def check_replaceable(path: str | Path, error: ErrorClass = ConfigError, *, through_link: bool = False,
                      way_out: str = ": not replaced") -> None:
    """One ``error`` line, ending with ``way_out``, where ``path`` is there and is not a regular file: a device, a
    pipe or a socket, which an atomic write never replaces (os.replace would put a file where /dev/zero was), or a
    folder, which it cannot. A symlink passes (:func:`replacing` replaces it, or follows it to a regular file
    only), unless ``through_link``: for a writer that writes where a link leads (calibrate's model), the link is
    what it leads to, and a folder is left to the caller's own line (:func:`check_output_file`'s).

    >>> check_replaceable("/dev/null", through_link=True, way_out="; choose another --out")
    Traceback (most recent call last):
    ampsim.errors.ConfigError: /dev/null: not a regular file (a pipe, socket or device); choose another --out
    """
    try:
        mode = (os.stat if through_link else os.lstat)(path).st_mode
    except OSError:  # (nothing there, a link to nothing: nothing to replace; unreadable: the write says so)
        return
    if stat.S_ISREG(mode) or (stat.S_ISDIR(mode) if through_link else stat.S_ISLNK(mode)):
        return
    kinds = "a pipe, socket or device" if through_link else "a device, pipe or folder"
    raise error(f"{path}: not a regular file ({kinds}){way_out}")


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
