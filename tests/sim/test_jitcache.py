"""The compiled replay's on-disk cache is stamped with every kernel source file (:mod:`ampsim.executors.sim.
jitcache`): an edit to a module whose functions the kernel compiles into its own recompiles it, where numba
alone kept the old code (numba/numba#1833)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from ampsim.executors.sim import jitcache, jitkernel, jitpackets, jitqueue, jitstate

PACKAGE = Path(jitcache.__file__).resolve().parents[3] / "ampsim"


def test_every_kernel_function_is_cached_under_one_stamp_of_all_the_kernel_sources():
    from numba.core import caching

    order = [c.__name__ for c in caching.CacheImpl._locator_classes]  # ours first, in numba's own order
    assert order[:4] == ["KernelSourcesInTreeCacheLocator", "KernelSourcesUserWideCacheLocator",
                         "UserProvidedCacheLocator", "InTreeCacheLocator"]
    names = sorted(Path(p).name for p in jitcache.KERNEL_SOURCES)
    assert {"jitkernel.py", "jitstate.py", "jitlinks.py", "jitpackets.py", "jitqueue.py", "jitrungs.py"} <= set(names)
    assert not {"jitreplay.py", "jitcache.py"} & set(names)  # they compile nothing: an edit recompiles nothing
    # numba freezes a constant the kernel imports (packets.RESIDUE_BYTES): its module is stamped too
    assert [Path(p).name for p in jitcache.KERNEL_IMPORTS] == ["packets.py"]


def test_a_kernel_sources_imports_are_found_in_every_form(tmp_path):
    """A module imported as a module, by a relative import, or inside a function, is stamped as one imported
    by name (a regex over ``from ampsim.x import`` lines missed them: the kernel kept their old constants)."""
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "consts.py").write_text("X = 1\n")
    (pkg / "more.py").write_text("Y = 2\n")
    src = pkg / "jitthing.py"
    src.write_text("from ampsim.executors.sim import packets\nfrom .consts import X\nimport ampsim.trace\n"
                   "def f():\n    from . import more\n    from numpy import zeros\n")
    found = {p.name for p in jitcache._imported_modules(str(src))}
    assert found == {"packets.py", "consts.py", "more.py", "trace.py"}
    for fn in (jitkernel.run, jitstate.hpush, jitpackets.send, jitqueue.cq_push):
        locator = fn._cache._impl.locator
        assert type(locator).__name__ == "KernelSourcesInTreeCacheLocator"
        assert locator.get_source_stamp() == jitcache.kernel_digest()


PROBE = '''
from ampsim.executors.sim.jitstate import _probe_value, jitted


@jitted
def probe():
    return _probe_value()
'''

RUN = "from ampsim.executors.sim.jitprobe import probe; print(probe(), probe.stats.cache_hits.get(probe.signatures[0], 0))"


def test_an_edit_to_a_module_the_kernel_calls_recompiles_what_calls_it(tmp_path):
    # a copy of the package with a probe: a cached function in one kernel file calling an inlined one in another
    copy = tmp_path / "ampsim"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("*.nbi", "*.nbc", "*.pyc"))
    sim = copy / "executors" / "sim"
    (sim / "jitprobe.py").write_text(PROBE)
    state = sim / "jitstate.py"
    state.write_text(state.read_text() + "\n\n@jitted_inline\ndef _probe_value():\n    return 1\n")

    def run() -> list[str]:
        out = subprocess.run([sys.executable, "-c", RUN], cwd=tmp_path, capture_output=True, text=True,
                             env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(tmp_path)}, timeout=300)
        assert out.returncode == 0, out.stderr
        return out.stdout.split()

    assert run() == ["1", "0"]  # compiled, and cached
    assert run() == ["1", "1"]  # loaded from the cache
    state.write_text(state.read_text().replace("    return 1\n", "    return 2\n"))
    assert run() == ["2", "0"]  # jitprobe.py is unchanged, yet it is compiled again with the new code
    replay = sim / "jitreplay.py"
    replay.write_text(replay.read_text() + "\n# the Python around the kernel, edited\n")
    assert run() == ["2", "1"]  # what compiles nothing changes no stamp


def test_an_edit_that_restores_the_size_and_mtime_changes_the_stamp(tmp_path):
    """Keyed on size and mtime, the cached digest of a file survived a same-size edit whose mtime was put back
    (os.utime): the kernel compiled from the old code would have been loaded."""
    path = tmp_path / "registered.py"
    path.write_text("x = 1\n")
    before = path.stat()
    old = jitcache._content(str(path))
    time.sleep(0.02)  # (past a coarse file-system clock's tick: the edit's ctime differs)
    path.write_text("x = 2\n")
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert jitcache._content(str(path)) != old


_ANNOUNCE = """
import logging, sys
sys.path.insert(0, sys.argv[1])
logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")  # as the CLI's default
from ampsim.executors.sim.jitcache import compile_announced
import kern
with compile_announced():
    kern.f(1)
with compile_announced():
    kern.f(2.0)  # another compilation in the process: said once
"""


def test_compiling_is_said_once_a_process_and_loading_from_the_cache_not_at_all(tmp_path):
    """The first replay of a checkout compiled the kernel for a minute or more in silence (the README says so,
    the command did not): one warning as numba starts compiling, none where the compiled code is cached."""
    (tmp_path / "kern.py").write_text("import numba\n\n\n@numba.njit(cache=True)\ndef f(x):\n    return x + 1\n")

    def run() -> list[str]:
        done = subprocess.run([sys.executable, "-c", _ANNOUNCE, str(tmp_path)], capture_output=True, text=True,
                              timeout=120, env={**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "cache")})
        assert done.returncode == 0, done.stderr
        return done.stderr.strip().splitlines()

    assert run() == ["WARNING ampsim.executors.sim.jitcache: compiling the replay loop with numba (once: cached for "
                     "later runs; a minute or more)..."]
    assert run() == []  # both compiled functions loaded from numba's cache
