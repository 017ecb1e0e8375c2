"""numba's on-disk cache of the compiled replay, kept fresh across the kernel's modules.

numba caches a compiled function beside its source file and reuses it for as long as *that file* is
unchanged (numba/numba#1833, documented as a limitation). :func:`~ampsim.executors.sim.jitkernel.run`
compiles into itself the functions of :mod:`~ampsim.executors.sim.jitstate` and
:mod:`~ampsim.executors.sim.jitpackets`, so an edit to those alone left every later process running the
kernel compiled from the old code, silently: results and all (2026-12-05: a change to ``jitpackets`` ran in
the Python loop only, until ``jitkernel.py`` itself changed). Here every function defined in the kernel's
source files (the ``jit*.py`` beside this one that define numba functions: ``jitkernel``, ``jitstate``,
``jitlinks``, ``jitpackets``, ``jitqueue``, ``jitrungs``; not ``jitreplay``, which calls the kernel, nor this
one) is cached under one stamp of all of them together, so an edit to any recompiles all, and an edit to the
Python around them none; a file outside the package that compiles them into its own functions (a benchmark)
registers itself (:func:`register`) and is stamped with them and with its own content.

The stamp is what numba compares before it loads a cached function (its ``get_source_stamp``: a digest of
the source file's content in numba 0.68); it is given by cache locators of numba's own two kinds for source
files (beside the source, else the user's cache folder where the package is installed read-only), put
first in numba's list. Where numba's classes are not found (their names moved before), the kernel is
cached as numba does by default, with a warning.

The first replay of a checkout (or after an edit to the kernel) compiles it for a minute or more:
:func:`compile_announced` says so in one warning, once per process, as numba starts compiling (not when it
loads the compiled kernel from this cache).
"""

from __future__ import annotations

import ast
import functools
import hashlib
import logging
import os
import re
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import numba
from numba.core import caching
from numba.core import event as numba_event

__all__ = ["KERNEL_SOURCES", "jitted", "jitted_inline", "register", "kernel_digest", "compile_announced"]

log = logging.getLogger(__name__)

#: the kernel's source files (those of the ``jit*.py`` beside this one that define numba functions): a change
#: to any of them invalidates the cache of every function they define
KERNEL_SOURCES: tuple[str, ...] = tuple(sorted(
    str(p) for p in Path(__file__).resolve().parent.glob("jit*.py")
    if re.search(r"^@jitted", p.read_text(encoding="utf-8"), re.MULTILINE)))  # a function decorated as kernel
#: the package's other modules the kernel's files import names from (``packets.RESIDUE_BYTES``): numba freezes
#: such a value into the compiled code, so their content is part of the stamp too (an edit to packets.py alone
#: kept the old constant in the cached kernel, and the replay no longer equalled the full run)
_PACKAGE = Path(__file__).resolve().parents[2]


def _imported_modules(source: str) -> set[Path]:
    """The package's module files ``source`` imports from, in any form (``from ampsim.x import a``, ``from .x
    import a``, ``from ampsim.pkg import module``, ``import ampsim.x``), wherever the import stands."""
    here, out = Path(source).resolve().parent, set()
    for node in ast.walk(ast.parse(Path(source).read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:  # relative: from the source's package, up level - 1
                base = here.parents[node.level - 2] if node.level > 1 else here
                base = base.joinpath(*(node.module or "").split(".")) if node.module else base
            elif (node.module or "").split(".")[0] == "ampsim":
                base = _PACKAGE.joinpath(*node.module.split(".")[1:])
            else:
                continue
            out |= {base.with_suffix(".py"), *(base / f"{a.name}.py" for a in node.names)}
        elif isinstance(node, ast.Import):
            out |= {_PACKAGE.joinpath(*a.name.split(".")[1:]).with_suffix(".py") for a in node.names
                    if a.name.split(".")[0] == "ampsim"}
    return {p for p in out if p.is_file()}


KERNEL_IMPORTS: tuple[str, ...] = tuple(sorted({str(p) for src in KERNEL_SOURCES for p in _imported_modules(src)
                                                if not p.name.startswith("jit")}))
#: files outside the package whose cached functions call the kernel's (see :func:`register`)
_REGISTERED: set[str] = set()


def register(path: str | os.PathLike) -> None:
    """Cache the numba functions of the file ``path`` under the kernel's stamp and its own content: call it
    before they are defined (a benchmark that compiles the kernel's functions into one of its own)."""
    _REGISTERED.add(os.path.realpath(path))


def _content(path: str) -> bytes:
    st = os.stat(path)
    # (ctime too: an edit that restores the size and the mtime, os.utime, still changes it; as data/store.py)
    return _digest_file(path, st.st_mtime_ns, st.st_size, st.st_ctime_ns)


@functools.lru_cache(maxsize=None)
def _digest_file(path: str, _mtime_ns: int, _size: int, _ctime_ns: int) -> bytes:  # keyed on the file's state
    return hashlib.sha256(Path(path).read_bytes()).digest()


def kernel_digest() -> bytes:
    """One digest of every kernel source file's content, and of the modules they import names from."""
    h = hashlib.sha256()
    for path in (*KERNEL_SOURCES, *KERNEL_IMPORTS):
        h.update(os.path.basename(path).encode())
        h.update(_content(path))
    return h.digest()


def _locator(base: type) -> type:
    """``base`` (one of numba's locators backed by a source file) for the kernel's files and the registered
    ones only, with the stamp of them all."""

    class KernelSources(base):  # type: ignore[valid-type, misc]
        @classmethod
        def from_function(cls, py_func, py_file):
            path = os.path.realpath(py_file)
            if path not in KERNEL_SOURCES and path not in _REGISTERED:
                return None
            return super().from_function(py_func, py_file)

        def get_source_stamp(self):
            own = os.path.realpath(self._py_file)
            return kernel_digest() + (b"" if own in KERNEL_SOURCES else _content(own))

    KernelSources.__name__ = KernelSources.__qualname__ = f"KernelSources{base.__name__.lstrip('_')}"
    return KernelSources


# numba's own order: beside the source (``__pycache__``), else the user's cache folder (a package installed
# where it cannot write); the class names lost their underscores in numba 0.59
_BASES = [getattr(caching, name, None) or getattr(caching, "_" + name, None)
          for name in ("InTreeCacheLocator", "UserWideCacheLocator")]
_Impl = getattr(caching, "CacheImpl", None) or getattr(caching, "_CacheImpl", None)

if None in _BASES or _Impl is None:  # pragma: no cover - a numba whose caching module we do not know
    log.warning("numba %s: its cache locators are not where ampsim looks for them; the compiled replay is "
                "cached as numba does by default (after an edit to jitstate.py or jitpackets.py, delete the "
                "__pycache__ folder beside them)", numba.__version__)
else:
    _known = {c.__name__ for c in _Impl._locator_classes}
    for i, base in enumerate(_BASES):
        locator = _locator(base)
        if locator.__name__ not in _known:
            _Impl._locator_classes.insert(i, locator)


#: how the kernel's functions are compiled: cached on disk, and without numba's reference counting
#: (``_nrt=False``, the switch numba's developers use for the same case in numba/numba#2350). The functions
#: allocate nothing and only index arrays their caller holds for the whole call; with counting on, numba
#: increments and decrements each array handed from one function to another with an atomic instruction,
#: which its pruning pass leaves in branchy code, and those two instructions took about three quarters of
#: the loop's time on packet links (perf). Without them, side by side on 2026-12-05: SST on 256-byte packets
#: 184 → 77 ms a call, on whole messages 45 → 39 ms, the chains of ``bench_replay`` 9–20 % less.
jitted = numba.njit(cache=True, _nrt=False)
#: the same, inlined where it is called: for the functions that take the state tuples, whose every array a
#: call would hand over as fields of its own (jitpackets)
jitted_inline = numba.njit(cache=True, inline="always", _nrt=False)


#: whether this process said that it compiles the kernel (:func:`compile_announced`)
_ANNOUNCED: list[bool] = []


class _CompileAnnouncer(numba_event.Listener):
    """Logs the one warning as numba starts its first compilation (its ``numba:compile`` event: a function
    loaded from the cache has none)."""

    def on_start(self, event) -> None:
        if not _ANNOUNCED:
            _ANNOUNCED.append(True)
            # a warning, not info: the CLI shows warnings by default, and minutes of silence read as a hang
            log.warning("compiling the replay loop with numba (once: cached for later runs; a minute or more)...")

    def on_end(self, event) -> None:
        pass


@contextmanager
def compile_announced() -> Iterator[None]:
    """Within the block (a call of the kernel), one warning as numba starts compiling, once per process."""
    if _ANNOUNCED:
        yield
        return
    listener = _CompileAnnouncer()
    numba_event.register("numba:compile", listener)
    try:
        yield
    finally:
        numba_event.unregister("numba:compile", listener)
