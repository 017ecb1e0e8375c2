"""The shape of ``ampsim.calibration``: its public names, one-way imports inside it, none from below it.

Static checks (the modules' source, parsed): they run in milliseconds and fail as soon as a refactoring
reintroduces a cycle or an upward import, long before a calibration would.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

import ampsim.calibration as calibration

PACKAGE = Path(calibration.__file__).parent
AMPSIM = PACKAGE.parent
#: floor of each module in the package: a module may import only modules on lower floors
FLOORS = {"microbench": 0, "workloads": 0, "report": 0, "profile": 1, "transport": 1, "selfcheck": 1, "targets": 1, "calibrate": 2,
          "simulated": 2, "outfolder": 2, "thismachine": 3, "compare": 4, "rescore": 5, "cli": 6}
#: ampsim modules and packages below calibration in the data flow: none of them may import it
BELOW = ["data", "ir", "models", "hardware", "placement", "executors", "optim", "training", "results", "metrics",
         "config", "errors", "trace"]


def _imports(path: Path) -> set[str]:
    """Every ``ampsim...`` module that ``path`` imports, at any depth (also inside functions)."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
            out.update(f"{node.module}.{a.name}" for a in node.names)  # `from pkg import submodule`
    return {m for m in out if m.startswith("ampsim")}


def test_public_names_resolve_lazily_and_all_is_exact():
    assert sorted(calibration.__all__) == sorted(calibration._EXPORTS)
    for name in calibration.__all__:
        module = importlib.import_module(f"ampsim.calibration.{calibration._EXPORTS[name]}")
        assert getattr(calibration, name) is getattr(module, name)
    with pytest.raises(AttributeError):
        calibration.no_such_name  # noqa: B018


def test_the_package_holds_its_modules_each_under_400_lines():
    modules = {p.stem for p in PACKAGE.glob("*.py")} - {"__init__"}
    assert modules == set(FLOORS)
    for p in PACKAGE.glob("*.py"):
        assert len(p.read_text().splitlines()) <= 400, p.name


def test_imports_inside_the_package_go_one_way():
    for name, floor in FLOORS.items():
        for imported in _imports(PACKAGE / f"{name}.py"):
            parts = imported.split(".")
            if parts[:2] == ["ampsim", "calibration"] and len(parts) > 2 and parts[2] in FLOORS:
                assert FLOORS[parts[2]] < floor, f"{name} imports {imported} (floor {FLOORS[parts[2]]} >= {floor})"


def test_nothing_below_the_package_imports_it():
    files = [f for below in BELOW for f in ([AMPSIM / f"{below}.py"] if (AMPSIM / f"{below}.py").is_file()
                                            else sorted((AMPSIM / below).rglob("*.py")))]
    assert files
    for f in files:
        assert not any(m.startswith("ampsim.calibration") for m in _imports(f)), f


def test_the_compare_text_table_keeps_its_columns_under_a_long_label():
    """A label longer than 22 characters shifted its row's columns (compare --resimulate's own labels)."""
    from ampsim.calibration.report import format_table

    def row(label: str) -> dict:
        return {"config": label, "measured_throughput": 100.0, "simulated_throughput": 90.0,
                "throughput_error_pct": -10.0, "speed": 1.0, "cores": 2.0, "demand": 1.5,
                "dedicated_throughput": 95.0, "dedicated_error_pct": -5.0, "remote_per_instance": 3.0,
                "messages_per_instance": 10.0, "measured_time_to_target_s": None, "simulated_time_to_target_s": None,
                "measured_staleness": 0.5, "simulated_staleness": 0.5}

    labels = ["mak=1", "workers=2,mak=4,placement=greedy,muf=5"]
    agreement = {"agrees": True, "kendall_tau": 1.0, "ties": 0, "measured_order": labels, "simulated_order": labels}
    head, rule, *lines = format_table([row(label) for label in labels], agreement).splitlines()
    ends = {len(line) for line in (head, *lines[:2])}
    assert len(ends) == 1 and len(rule) == len(head)  # every row as long as the header: the columns line up
    assert [line.index("100.0") + len("100.0") for line in lines[:2]] == [head.index("measured/s") + 10] * 2
