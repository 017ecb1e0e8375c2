"""The house rules that a reading of the code can check (the layers, line counts and ``__all__`` lists are
tests/unit/test_layers.py's): library code logs and never prints; specs are frozen dataclasses; executors
touch no other module's private state; what a module takes from another is in that one's ``__all__``.

Each rule is read from the syntax tree of every module under ``ampsim/``, so a new module is covered the day it
is written, and each checker is shown to catch a violation on a snippet (a checker that sees nothing passes
whatever the code does).
"""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

PKG = Path(__file__).resolve().parents[2] / "ampsim"
ROOT = PKG.parent


def _modules() -> list[Path]:
    return sorted(PKG.rglob("*.py"))


def _rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


# -- library code logs, never prints ----------------------------------------------------------------------------

def _talking_modules() -> set[str]:
    """The modules allowed to write to the terminal: the command-line modules, those pyproject.toml exempts from
    ruff's no-print rule (T20), one list for the lint and this test."""
    ignores = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["ruff"]["lint"]["per-file-ignores"]
    return {path for path, rules in ignores.items() if "T20" in rules and path.startswith("ampsim/")}


def terminal_writes(source: str) -> list[str]:
    """Where ``source`` writes to the terminal itself: ``print(...)``/``pprint(...)`` calls and writes to
    ``sys.stdout``/``sys.stderr`` (``.write``, ``.writelines``), which ruff's T20 does not see."""
    hits = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        fn = ast.unparse(node.func)
        if fn in ("print", "pprint", "pprint.pprint", "builtins.print") or (
                fn.split(".")[-1] in ("write", "writelines")
                and fn.rsplit(".", 1)[0] in ("sys.stdout", "sys.stderr", "sys.__stdout__", "sys.__stderr__",
                                             "stdout", "stderr")):
            hits.append(f"line {node.lineno}: {fn}(...)")
    return hits


def test_the_checker_sees_prints_and_stream_writes():
    snippet = ("import sys\nprint('x')\nsys.stderr.write('y')\nsys.stdout.writelines(['z'])\n"
               "'print(1)'  # text, not a call\nlog.info('ok')\nout.write('a file')\n")
    assert terminal_writes(snippet) == ["line 2: print(...)", "line 3: sys.stderr.write(...)",
                                        "line 4: sys.stdout.writelines(...)"]
    assert {"ampsim/cli.py", "ampsim/__main__.py"} <= _talking_modules()


def test_library_code_logs_and_never_prints():
    # only the command-line modules talk to the terminal; a library function that printed wrote into the
    # middle of a caller's output (and of the one-line errors), where a log line goes where the caller says
    allowed = _talking_modules()
    hits = {_rel(p): found for p in _modules()
            if _rel(p) not in allowed and (found := terminal_writes(p.read_text()))}
    assert not hits, hits


# -- specs are frozen dataclasses -------------------------------------------------------------------------------

#: the modules whose dataclasses are all specs (what a run is configured with, read and never changed)
SPEC_MODULES = ("config.py", "sections.py", "spec.py", "figspec.py", "schemas/")
SPEC_NAMES = ("Spec", "Config", "Plan", "Section")


def mutable_specs(source: str, all_specs: bool = False) -> list[str]:
    """The dataclasses in ``source`` that are specs (a name ending in Spec, Config, Plan or Section; any, with
    ``all_specs``) and not frozen."""
    hits = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ClassDef) and (all_specs or node.name.endswith(SPEC_NAMES)):
            for deco in node.decorator_list:
                call = deco if isinstance(deco, ast.Call) else None
                name = ast.unparse(call.func if call else deco)
                frozen = call is not None and any(
                    k.arg == "frozen" and isinstance(k.value, ast.Constant) and k.value.value is True
                    for k in call.keywords)
                if name.split(".")[-1] == "dataclass" and not frozen:
                    hits.append(node.name)
    return hits


def test_the_checker_sees_a_mutable_spec():
    snippet = ("@dataclass\nclass ASpec:\n    x: int\n\n@dataclasses.dataclass(slots=True)\nclass BConfig:\n"
               "    y: int\n\n@dataclass(frozen=True)\nclass CPlan:\n    z: int\n\n@dataclass\nclass Row:\n"
               "    w: int\n")
    assert mutable_specs(snippet) == ["ASpec", "BConfig"]
    assert mutable_specs(snippet, all_specs=True) == ["ASpec", "BConfig", "Row"]


def test_specs_are_frozen_dataclasses():
    # a spec is shared (by a sweep's points, an executor and its workers, a cache keyed by its hash): one
    # changed in place changes it for all of them, and breaks the hash a frozen one keeps
    hits = {_rel(p): found for p in _modules()
            if (found := mutable_specs(p.read_text(), all_specs=_rel(p).removeprefix("ampsim/").startswith(
                SPEC_MODULES) or p.name in SPEC_MODULES))}
    assert not hits, hits


# -- executors touch no other module's private state ------------------------------------------------------------

#: the private names an executor module may reach on objects it does not own, each for a reason
#: (module, name): why
PRIVATE_ALLOWED = {
    ("*", "_exit"): "os._exit: public, documented, underscore and all",
    ("executors/multicore/procs.py", "_forkserver"): "multiprocessing: the fork server has no public handle",
    ("executors/multicore/procs.py", "_forkserver_pid"): "multiprocessing: as _forkserver",
    ("executors/multicore/procs.py", "_forkserver_alive_fd"): "multiprocessing: as _forkserver",
    ("executors/multicore/procs.py", "_inheriting"): "multiprocessing: how a spawned child knows it is one",
    ("executors/multicore/procs.py", "_start_method"): "multiprocessing: a Process's start method",
    ("executors/sim/jitcache.py", "_locator_classes"): "numba: its cache locators have no public registry",
    ("executors/sim/jitcache.py", "_CacheImpl"): "numba < 0.59's name of CacheImpl",
    ("executors/sim/contention.py", "_ampsim_contention"): "ampsim's own attribute, kept on a simpy Environment",
    # the compiled kernel is one program split over the jit*.py files (400 lines a module): its helpers are
    # private to the kernel, not to the file that holds them
    ("executors/sim/jitqueue.py", "_alloc"): "the kernel's own helper (jitrungs.py)",
    ("executors/sim/jitqueue.py", "_free"): "the kernel's own helper (jitrungs.py)",
    ("executors/sim/jitqueue.py", "_npush"): "the kernel's own helper (jitrungs.py)",
    ("executors/sim/jitqueue.py", "_nsift"): "the kernel's own helper (jitrungs.py)",
    ("executors/sim/jitqueue.py", "_pooled"): "the kernel's own helper (jitrungs.py)",
    ("executors/sim/jitqueue.py", "_refill"): "the kernel's own helper (jitrungs.py)",
    ("executors/sim/jitqueue.py", "_retop"): "the kernel's own helper (jitrungs.py)",
    ("executors/sim/jitqueue.py", "_split"): "the kernel's own helper (jitrungs.py)",
}


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def foreign_private_names(source: str) -> list[str]:
    """The private names ``source`` reaches that another module owns: ``from module import _x``, and ``obj._x``
    (or ``getattr(obj, "_x")``) on anything but ``self``/``cls`` where this module defines no ``_x`` of its
    own (an instance attribute it assigns through ``self``, a class attribute, a ``__slots__`` entry)."""
    tree = ast.parse(source)
    own = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store) and \
                isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"):
            own.add(node.attr)
        elif isinstance(node, ast.ClassDef):
            for stmt in node.body:
                targets = stmt.targets if isinstance(stmt, ast.Assign) else \
                    [stmt.target] if isinstance(stmt, ast.AnnAssign) else []
                own |= {t.id for t in targets if isinstance(t, ast.Name)}
                own |= {d.name for d in [stmt] if isinstance(d, (ast.FunctionDef, ast.AsyncFunctionDef))}
                if any(isinstance(t, ast.Name) and t.id == "__slots__" for t in targets):
                    own |= {c.value for c in ast.walk(stmt.value) if isinstance(c, ast.Constant)
                            and isinstance(c.value, str)}
    hits = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("ampsim"):
            hits += [f"line {node.lineno}: {a.name} from {node.module}" for a in node.names if _private(a.name)]
        elif isinstance(node, ast.Attribute) and _private(node.attr) and node.attr not in own and \
                ast.unparse(node.value) not in ("self", "cls"):
            hits.append(f"line {node.lineno}: {ast.unparse(node)}")
        elif isinstance(node, ast.Call) and ast.unparse(node.func) in ("getattr", "setattr", "hasattr") and \
                len(node.args) >= 2 and isinstance(node.args[1], ast.Constant) and \
                isinstance(node.args[1].value, str) and _private(node.args[1].value) and \
                node.args[1].value not in own and ast.unparse(node.args[0]) not in ("self", "cls"):
            hits.append(f"line {node.lineno}: {ast.unparse(node.func)}({ast.unparse(node.args[0])}, "
                        f"{node.args[1].value!r})")
    return hits


def _name_of(hit: str) -> str:
    # "line 3: _x from ampsim.m" / "line 3: obj._x" / "line 3: getattr(obj, '_x')"
    text = hit.split(": ", 1)[1]
    if " from " in text:
        return text.split(" from ")[0]
    if text.endswith("')"):
        return text.rsplit("'", 2)[1]
    return text.rsplit(".", 1)[1]


def test_the_checker_sees_another_modules_private_state():
    snippet = ("from ampsim.ir.node import _Pending, Node\nclass Mine:\n    __slots__ = ('_held',)\n"
               "    _kind = 1\n    def f(self, node, other):\n        self._mine = node._cache\n"
               "        other._mine, other._held, other._kind = 1, 2, 3\n        return getattr(node, '_stash')\n")
    assert foreign_private_names(snippet) == [
        "line 1: _Pending from ampsim.ir.node", "line 6: node._cache", "line 8: getattr(node, '_stash')"]
    assert [_name_of(h) for h in foreign_private_names(snippet)] == ["_Pending", "_cache", "_stash"]


def test_executors_touch_no_other_modules_private_state():
    # an executor that reaches into a node, a sibling module or a library's private names breaks when their
    # owner changes them, and the owner cannot see it does: each goes through a public name, or is listed above
    hits, used = {}, set()
    for path in sorted((PKG / "executors").rglob("*.py")):
        me = path.relative_to(PKG).as_posix()
        found = []
        for hit in foreign_private_names(path.read_text()):
            allowed = {(me, _name_of(hit)), ("*", _name_of(hit))} & PRIVATE_ALLOWED.keys()
            used |= allowed
            if not allowed:
                found.append(hit)
        if found:
            hits[me] = found
    assert not hits, hits
    assert used == PRIVATE_ALLOWED.keys(), f"allowed, and used no more: {PRIVATE_ALLOWED.keys() - used}"


# -- what one module takes from another is in that module's __all__ ---------------------------------------------

#: names a module takes from another that its ``__all__`` leaves out, each for a reason: (importer, name)
NOT_OFFERED_ALLOWED = {(importer, name) for (importer, name) in PRIVATE_ALLOWED if name.startswith("_")
                       and importer == "executors/sim/jitqueue.py"}  # the compiled kernel's helpers (above)


def imported_names(source: str) -> list[tuple[int, str, str]]:
    """``(line, module, name)`` for each ``from ampsim.<module> import <name>`` in ``source`` that names an
    object, not a submodule (``from ampsim.executors.sim import packets``)."""
    out = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").split(".")[0] == "ampsim":
            for alias in node.names:
                sub = ROOT.joinpath(*node.module.split("."), alias.name)
                if alias.name != "*" and not (sub.with_suffix(".py").is_file() or (sub / "__init__.py").is_file()):
                    out.append((node.lineno, node.module, alias.name))
    return out


def test_the_checker_reads_what_a_module_imports():
    snippet = ("from ampsim.executors.sim import packets\nfrom ampsim.config import Config, _x\n"
               "def f():\n    from ampsim.executors.sim.packets import RESIDUE_BYTES as R\n")
    assert sorted(imported_names(snippet)) == [(2, "ampsim.config", "Config"), (2, "ampsim.config", "_x"),
                                               (4, "ampsim.executors.sim.packets", "RESIDUE_BYTES")]


def test_what_a_module_takes_from_another_is_in_its_all():
    # `__all__` is what a module offers: a name the package takes from a module that does not offer it (a
    # private one, or one its owner did not list) is a dependency its owner cannot see; re-exported names count
    # (config offers the sections as its own), listed in the re-exporting module's `__all__`
    import importlib

    hits, used = [], set()
    for path in _modules():
        me = path.relative_to(PKG).as_posix()
        for line, module, name in imported_names(path.read_text()):
            if name in getattr(importlib.import_module(module), "__all__", ()):
                continue
            if (me, name) in NOT_OFFERED_ALLOWED:
                used.add((me, name))
            else:
                hits.append(f"{me}:{line}: {name} from {module}")
    assert not hits, hits
    assert used == NOT_OFFERED_ALLOWED, f"allowed, and used no more: {NOT_OFFERED_ALLOWED - used}"
