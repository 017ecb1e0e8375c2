"""Tasks defined outside the package, found by name: the command line, a sweep's workers (local and Ray) and the
Python API import the module that declares a task the moment an experiment names a task not yet known.

Two ways to name such a module, tried in this order, and only for a task name that is not already known (the
built-in tasks never look, so startup and every shipped result are unchanged):

* ``AMPSIM_TASK_MODULES=mypkg.mytask,other.mod``: dotted module names, each imported once per process (all of
  them, the first time a name is unknown), found on ``sys.path`` like any import: for a module that is not an
  installed package, its folder must be on ``PYTHONPATH`` (the ``ampsim`` command does not search the current
  directory). Sweep workers inherit the variable (a local Ray instance's too; a Ray cluster's get it with their
  tasks).
* an entry point of group ``ampsim.tasks`` whose name is the task's, declared by an installed package
  (``[project.entry-points."ampsim.tasks"] mytask = "mypkg.mytask"``): read through :mod:`importlib.metadata`
  only for that name, and only that one is loaded.

Importing the module must register the task: the module calls :func:`ampsim.models.register_task` (its builder
and its schema together), usually as its last line. One that fails to import, or imports and registers no task
(an entry point: not the task it is named for), is one :class:`~ampsim.errors.ConfigError` line naming it and the
cause. This module imports the modules and checks what they registered; it knows nothing of the registries
themselves (``known``: the names registered so now), so it stays in the schemas' layer.
"""

from __future__ import annotations

import importlib
import os
import sys
from importlib import metadata
from typing import Callable, Collection

from ampsim.errors import ConfigError, first_line

__all__ = ["ENTRY_POINT_GROUP", "MODULES_VAR", "load_outside_task", "named_modules"]

#: the entry-point group an installed package declares its tasks in (name: the task's, value: its module)
ENTRY_POINT_GROUP = "ampsim.tasks"
#: the environment variable naming task modules (comma-separated, dotted names on sys.path)
MODULES_VAR = "AMPSIM_TASK_MODULES"

#: the modules of MODULES_VAR this process has imported (each once: its registrations stand)
_imported: set[str] = set()
#: (task, MODULES_VAR's value) looked for and not found: the schemas ask again for one unknown name while a
#: config is read (and a sweep checks every point's), and the entry points' metadata is read once per miss
_missed: set[tuple[str, str]] = set()


def load_outside_task(task: str, known: Callable[[], Collection[str]]) -> None:
    """Import what may declare ``task``, not in ``known()``: MODULES_VAR's modules, then ``task``'s entry point."""
    value = os.environ.get(MODULES_VAR, "")
    if (task, value) in _missed:
        return
    for name in named_modules():
        if name not in _imported:
            _import_registering(name, known, MODULES_VAR)
            _imported.add(name)
    if task not in known():
        _load_entry_point(task, known)
    if task not in known():
        _missed.add((task, value))


def named_modules() -> list[str]:
    """The dotted module names :data:`MODULES_VAR` holds, in order (none where it is unset or empty)."""
    return [name for name in (part.strip() for part in os.environ.get(MODULES_VAR, "").split(",")) if name]


def _import_registering(name: str, known: Callable[[], Collection[str]], where: str) -> None:
    """Import module ``name`` (``where`` names what named it), which must register a task if this imports it."""
    before, fresh = set(known()), name not in sys.modules
    try:
        importlib.import_module(name)
    except Exception as e:  # noqa: BLE001 - whatever the module raises is its cause, said in one line
        raise ConfigError(f"{where}: module {name!r} cannot be imported: {first_line(e)}{_path_hint(e, name)}") from e
    if fresh and set(known()) == before:
        raise ConfigError(f"{where}: module {name!r} registers no task (a task's module calls "
                          "ampsim.models.register_task(name, module) when it is imported)")


def _path_hint(err: Exception, name: str) -> str:
    """Where a module named by its dotted name was not found: not on sys.path."""
    missing = getattr(err, "name", None)
    if isinstance(err, ModuleNotFoundError) and missing and (name == missing or name.startswith(missing + ".")):
        return " (not found on sys.path: put the folder that holds it on PYTHONPATH, or install its package)"
    return ""


def _load_entry_point(task: str, known: Callable[[], Collection[str]]) -> None:
    """Load the entry point named ``task`` of ENTRY_POINT_GROUP, if an installed package declares one."""
    points = {ep.value: ep for ep in metadata.entry_points(group=ENTRY_POINT_GROUP, name=task)}
    if not points:
        return
    if len(points) > 1:
        raise ConfigError(f"entry points {ENTRY_POINT_GROUP}: task {task!r} is declared more than once "
                          f"({', '.join(sorted(points))}): uninstall one of the packages")
    ep = next(iter(points.values()))
    where = f"entry point {ENTRY_POINT_GROUP} {task} = {ep.value!r}"
    module = ep.module
    before = set(known())
    try:
        ep.load()
    except Exception as e:  # noqa: BLE001 - whatever the module raises is its cause, said in one line
        raise ConfigError(f"{where}: cannot be loaded: {first_line(e)}{_path_hint(e, module)}") from e
    if task not in known():
        others = sorted(set(known()) - before)
        raise ConfigError(f"{where}: module {module!r} registers no task {task!r}"
                          + (f" (it registers {', '.join(map(repr, others))})" if others else
                             " (a task's module calls ampsim.models.register_task(name, module) when it is imported)"))
