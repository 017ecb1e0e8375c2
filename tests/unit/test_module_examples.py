"""The examples in module docstrings run as written (``doctest``): they are part of the documentation."""

import doctest
from pathlib import Path

import pytest

from ampsim import (
    api,
    blame,
    config,
    divergence,
    environment,
    errors,
    fieldspec,
    files,
    folders,
    jsontext,
    metrics,
    optim,
    patterns,
    runfiles,
    schemas,
    tables,
    tomltext,
    trace,
)
from ampsim.calibration import profile, report, targets, transport
from ampsim.executors.multicore import protocol
from ampsim.executors.sim import admission, jitarrays
from ampsim.figures import labels, selection
from ampsim.figures import trace as figure_trace
from ampsim.hardware import canonical, parse, routing
from ampsim.ir import sync
from ampsim.placement import estimate, load, packing, strategies
from ampsim.sweeps import ids


@pytest.mark.parametrize("module", [admission, api, blame, canonical, config, divergence, environment, errors, estimate, fieldspec, figure_trace, files, folders,
                                    ids, jitarrays, jsontext, labels, metrics, load, optim, packing, parse, patterns, profile, protocol, report,
                                    routing, runfiles, schemas, selection, strategies, sync, tables, targets,
                                    tomltext, trace, transport],
                         ids=lambda m: m.__name__)
def test_docstring_examples_hold(module, monkeypatch):
    monkeypatch.chdir(Path(__file__).resolve().parents[2])  # (their paths are the repository's)
    result = doctest.testmod(module, raise_on_error=False, verbose=False)
    assert result.attempted > 0 and result.failed == 0
