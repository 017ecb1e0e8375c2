"""A compare cut short before a configuration's first epoch (Ctrl-C, SIGTERM, a worker killed) can be run again
into the same folder: it left that configuration's empty folder (``runs/<config>/``, made for its run folder),
and the next compare there refused it as not a compare's ("holds runs/<config>, which is not a compare's
configuration ... give --out a folder of its own"), so the user had to delete by hand beside the runs measured."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from mc_helpers import ROOT

from ampsim import training
from ampsim.calibration import compare, microbench
from ampsim.calibration.calibrate import machine_description
from ampsim.calibration.targets import sidecar

EXPERIMENT = ROOT / "experiments" / "blobs_mlp.toml"
ARGS = (EXPERIMENT, [("train.max_instances", 40), ("eval.limit", 50)], "workers=1,mak=1;workers=2,mak=4")


def _model_of_this_machine(path: Path) -> Path:
    """The committed calibrated model (and its measurements) as if calibrated on this machine."""
    src = ROOT / "hardware_models" / "local_cpu.toml"
    text, n = re.subn(r'^description = ".*"$', 'description = "this machine as 2 multicore-executor workers (one '
                      f'process per core): {machine_description()}"', src.read_text(), count=1, flags=re.M)
    assert n == 1
    path.write_text(text)
    shutil.copy(sidecar(src), sidecar(path))
    return path


@pytest.fixture
def model(tmp_path, monkeypatch):
    # (what compare measures of the machine around the runs is not what this is about: seconds saved)
    monkeypatch.setattr(microbench, "cores_available", lambda n, duration_s=0.3: float(n))
    monkeypatch.setattr(compare, "_speed_meter", lambda calib, task: lambda: 1.0)
    return _model_of_this_machine(tmp_path / "here.toml")


def test_a_compare_cut_short_before_a_configurations_first_epoch_leaves_no_empty_folder_and_runs_again(
        model, tmp_path, monkeypatch):
    real, calls = training.run_training, []

    def cut_in_the_second(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:  # the second configuration's run folder is made, no epoch of it finished
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(training, "run_training", cut_in_the_second)
    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt) as err:
        compare.run_compare(*ARGS, workers=2, hardware=model, out=out)
    # the first configuration's measured run is kept where it is, and said to be; nothing of the second
    assert f"the runs measured so far are kept in {out / 'runs'}" in err.value.__notes__
    assert sorted(p.name for p in (out / "runs").iterdir()) == ["workers=1_mak=1"]
    assert (out / "runs" / "workers=1_mak=1" / "multicore" / "summary.json").is_file()
    monkeypatch.setattr(training, "run_training", real)
    # an empty configuration folder as a compare killed outright (or an earlier version) left it: no one's files
    (out / "runs" / "workers=2_mak=4").mkdir()
    rows, _ = compare.run_compare(*ARGS, workers=2, hardware=model, out=out)
    assert [r["config"] for r in rows] == ["workers=1,mak=1", "workers=2,mak=4"]
    assert (out / "compare.csv").is_file() and not (tmp_path / "out.partial").exists()
    assert sorted(p.name for p in (out / "runs").iterdir()) == ["workers=1_mak=1", "workers=2_mak=4"]


def test_a_compare_cut_short_in_its_first_configuration_leaves_no_runs_folder(model, tmp_path, monkeypatch):
    def cut(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(training, "run_training", cut)
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(KeyboardInterrupt) as err:
        compare.run_compare(*ARGS, workers=2, hardware=model, out=out)
    assert not any(note.startswith("the runs measured so far") for note in getattr(err.value, "__notes__", []))
    assert list(out.iterdir()) == []  # (the folder given stays: it was there)


def test_a_non_empty_foreign_folder_under_runs_is_still_refused(model, tmp_path):
    from ampsim.errors import ConfigError

    out = tmp_path / "out"
    (out / "runs" / "mine").mkdir(parents=True)
    (out / "runs" / "mine" / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match=r"holds runs/mine, which is not a compare's configuration"):
        compare.run_compare(*ARGS, workers=2, hardware=model, out=out)
    assert (out / "runs" / "mine" / "notes.txt").read_text() == "mine"
