"""The package's structure, checked: the import graph of ``ampsim/`` has no cycle and no arrow from a lower
layer to a higher one; no module is over 400 lines; executors and tools reach nodes only through their
public methods; the message pump is written once; every module declares its public names (``__all__``).

Every ``import`` counts, at the top of a module or inside a function (a lazy import is still a
dependency), except those under ``if TYPE_CHECKING:`` (annotations only). ``ampsim/__init__.py`` (the
public API's face) is left out as a module, but an import of it (``import ampsim``, ``from ampsim import
train``) is an arrow to the top layer: the package loads the API (config once reached the models that way,
a cycle this checker did not see).
"""

from __future__ import annotations

import ast
import functools
import importlib
import re
from pathlib import Path

import networkx as nx
import pytest

PKG = Path(__file__).resolve().parents[2] / "ampsim"

#: the data flow, bottom to top; a module may import its own layer or those below
LAYERS = [
    ("errors", "blame", "files", "outputs", "folders", "runfiles", "locks", "blas", "environment", "allocator", "optim", "trace", "progress", "recent", "jsontext", "tomltext", "gcpause", "fieldspec", "wording", "patterns"),
    ("data",),
    ("schemas", "sections"),
    ("config",),
    ("ir", "hardware"),
    ("models",),
    ("replicas", "muf"),
    ("placement",),
    ("executors",),
    ("divergence", "planning", "plans", "unread"),
    ("metrics", "results", "runread", "tables"),
    ("training",),
    ("calibration",),
    ("sweeps",),
    ("figures",),
    ("api", "demo", "testing", "keys", "cli", "__main__"),
]
RANK = {name: i for i, layer in enumerate(LAYERS) for name in layer}


def module_name(path: Path) -> str:
    parts = path.relative_to(PKG.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _type_checking_only(node: ast.AST, parents: dict) -> bool:
    while node in parents:
        node = parents[node]
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            return True
    return False


def imports_of(path: Path) -> set[str]:
    return imports_in(path.read_text(), module_name(path))


def imports_in(source: str, me: str) -> set[str]:
    """The ampsim modules that module ``me``, of text ``source``, imports (``ampsim``: the package itself)."""
    tree = ast.parse(source)
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    out = set()
    for node in ast.walk(tree):
        if _type_checking_only(node, parents):
            continue
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("ampsim")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("ampsim"):
            # `from ampsim.x import y` may name the submodule ampsim.x.y
            for a in node.names:
                sub = f"{node.module}.{a.name}"
                out.add(sub if (PKG.parent / sub.replace(".", "/")).with_suffix(".py").is_file()
                        or (PKG.parent / sub.replace(".", "/") / "__init__.py").is_file() else node.module)
    out.discard(me)
    return out


@functools.cache
def import_graph() -> nx.DiGraph:
    g = nx.DiGraph()
    for path in PKG.rglob("*.py"):
        if path == PKG / "__init__.py":
            continue
        g.add_node(module_name(path))
        for target in imports_of(path):
            g.add_edge(module_name(path), arrow_to(target))
    return g


def arrow_to(target: str) -> str:
    """The module an import's arrow points at: the package itself loads the public API (its top layer)."""
    return "ampsim.api" if target == "ampsim" else target


def layer(module: str) -> int:
    top = module.split(".")[1]
    assert top in RANK, f"{module}: add ampsim/{top} to LAYERS in {__file__}"
    return RANK[top]


def test_the_import_graph_has_no_cycle():
    g = import_graph()
    cycles = list(nx.simple_cycles(g))
    assert not cycles, f"import cycles: {cycles[:5]}"


def test_no_import_runs_from_a_lower_layer_to_a_higher_one():
    upward = [(a, b) for a, b in import_graph().edges if layer(b) > layer(a)]
    assert not upward, f"upward imports: {upward}"


def test_the_checker_sees_lazy_imports_and_ignores_type_checking(tmp_path):
    g = import_graph()
    lazy = "def f():\n    import ampsim\n\n    ampsim._load_tasks()\n"  # (how config reached the models)
    assert {arrow_to(t) for t in imports_in(lazy, "ampsim.schemas")} == {"ampsim.api"}
    assert layer("ampsim.api") > layer("ampsim.config")
    assert g.has_edge("ampsim.executors.reference", "ampsim.ir.pump")
    assert not g.has_edge("ampsim.executors.reference", "ampsim.planning")  # executors read an ExecutorPlan
    assert g.has_edge("ampsim.planning", "ampsim.executors")


def test_no_module_over_400_lines():
    long = {str(p.relative_to(PKG)): n for p in PKG.rglob("*.py") if (n := len(p.read_text().splitlines())) > 400}
    assert not long, long


def test_calibration_lives_in_its_package():
    assert {p.stem for p in (PKG / "calibration").glob("*.py")} >= {
        "calibrate", "transport", "workloads", "microbench", "compare", "cli"}
    assert not any((PKG / f"{m}.py").exists() for m in
                   ("calibrate", "calib_transport", "calib_workloads", "microbench", "compare", "multicore_cli"))


def _private_node_attributes() -> list[str]:
    """Every ``self._x`` a node class assigns (ir/node.py, ir/param.py, ir/nodes/): read from the code, so that
    a new private attribute is covered the day it is written."""
    files = [PKG / "ir" / "node.py", PKG / "ir" / "param.py", *(PKG / "ir" / "nodes").glob("*.py")]
    return sorted({n.attr for f in files for n in ast.walk(ast.parse(f.read_text()))
                   if isinstance(n, ast.Attribute) and isinstance(n.ctx, ast.Store) and isinstance(n.value, ast.Name)
                   and n.value.id == "self" and n.attr.startswith("_") and not n.attr.startswith("__")})


PRIVATE_NODE_STATE = re.compile(r"\.(%s)\b" % "|".join(map(re.escape, _private_node_attributes())))


def test_the_private_node_state_is_read_from_the_node_classes():
    assert {"_cache", "_joins", "_work", "_stash", "_ready", "_versions"} <= set(_private_node_attributes())


@pytest.mark.parametrize("path", sorted(p for p in PKG.rglob("*.py") if "ir" not in p.relative_to(PKG).parts),
                         ids=lambda p: str(p.relative_to(PKG)))
def test_no_module_outside_the_ir_reads_a_nodes_private_state(path):
    hits = [ln for ln in path.read_text().splitlines() if PRIVATE_NODE_STATE.search(ln)]
    assert not hits, hits


def test_the_message_pump_is_written_once():
    # the pump's signature: pop a queued message, step its node, route what it sends back into the queue
    pumps = [str(p.relative_to(PKG)) for p in PKG.rglob("*.py")
             if "popleft()" in (text := p.read_text()) and ".step(" in text
             and ("route[" in text or "target(" in text)]
    assert pumps == ["ir/pump.py"], pumps


@pytest.mark.parametrize("path", sorted(p for p in PKG.rglob("*.py") if p.name != "__main__.py"),
                         ids=lambda p: str(p.relative_to(PKG)))
def test_every_module_curates_its_public_names(path):
    # `__all__` is each module's declared API: what the rest of the package, the tests and users import from
    # it; every name listed must exist (a lazy `__getattr__`, as the package's, counts), and none twice
    module = importlib.import_module(module_name(path))
    assert isinstance(getattr(module, "__all__", None), list), f"{path.relative_to(PKG)}: no `__all__` list"
    missing = [name for name in module.__all__ if not hasattr(module, name)]
    assert not missing, f"{path.relative_to(PKG)}: __all__ names {missing}, which it lacks"
    assert len(set(module.__all__)) == len(module.__all__), f"{path.relative_to(PKG)}: a name twice in __all__"
