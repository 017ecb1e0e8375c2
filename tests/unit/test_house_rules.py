"""The house rules that a reading of the code can check (the layers, line counts and ``__all__`` lists are
tests/unit/test_layers.py's): library code logs and never prints.

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
