"""How a message shows a value it names (:func:`ampsim.errors.shown`): written once, with the cut a caller asks for;
re-scoring's messages cut a long value at 40 characters, reading a run back names it whole."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from ampsim.calibration import rescore
from ampsim.errors import ConfigError, DataError, shown
from ampsim.runread import check_config_of_run


def test_shown_names_none_as_nothing_and_cuts_only_where_asked():
    long = "x" * 50
    assert shown(None) == shown(None, 40) == "nothing"
    assert shown(0.95) == "0.95" and shown(long) == repr(long)
    assert shown(long, 40) == repr(long)[:37] + "..." and len(shown(long, 40)) == 40
    assert shown("x" * 38, 40) == repr("x" * 38)  # (40 characters with its quotes: whole)


def test_rescoring_cuts_a_long_value_and_reading_a_run_does_not():
    long = "y" * 60
    with pytest.raises(ConfigError) as err:
        rescore._whole(long, "w")
    assert str(err.value) == f"w: expected a whole number >= 1, got {repr(long)[:37]}..."
    cfg = SimpleNamespace(experiment=SimpleNamespace(name=long, task="t"), train=SimpleNamespace(epochs=1, target=0),
                          executor=SimpleNamespace(kind="sim"))
    with pytest.raises(DataError) as err:
        check_config_of_run("run", cfg, {"experiment": "other"})
    assert f"experiment.name: {long!r}, but its summary.json records 'other'" in str(err.value)
