"""The public API's annotations resolve: ``typing.get_type_hints`` raised NameError on ``ampsim.Run``,
``ampsim.sweep`` (``pd``) and ``ampsim.plan`` (``SystemSpec``), names imported for type checkers only; pandas
still loads only when it is used."""

from __future__ import annotations

import inspect
import subprocess
import sys
import typing

import pandas as pd
import pytest

import ampsim


def _public_callables():
    for name in ampsim.__all__:
        obj = getattr(ampsim, name)
        if inspect.isclass(obj):
            yield name, obj
            for attr, member in vars(obj).items():
                if inspect.isfunction(member) and (not attr.startswith("_") or attr == "__init__"):
                    yield f"{name}.{attr}", member
        elif callable(obj):
            yield name, obj


@pytest.mark.parametrize("name, obj", list(_public_callables()), ids=lambda v: v if isinstance(v, str) else "")
def test_every_public_callable_and_class_has_resolvable_hints(name, obj):
    typing.get_type_hints(obj)


def test_the_hints_name_the_real_types():
    from ampsim.hardware.spec import SystemSpec

    assert typing.get_type_hints(ampsim.Run)["metrics"] is pd.DataFrame
    assert typing.get_type_hints(ampsim.sweep)["return"] is pd.DataFrame
    assert typing.get_type_hints(ampsim.plan)["system"] == SystemSpec | None


def test_importing_the_api_still_loads_no_pandas():
    code = "import sys, ampsim.api; print('pandas' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
