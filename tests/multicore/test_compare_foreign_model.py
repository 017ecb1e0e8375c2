"""``ampsim compare`` never reports errors against a hardware model of another machine (issue 11, point 5).

A calibrated model names the machine it measured in ``system.description``. Compare with a model of
another machine stops before it measures anything, with one line that names both machines and says to
run ``ampsim calibrate``; with no model at all it calibrates this machine first and says so. The models
here are copies of the committed calibration with the machine in the description rewritten, so no test
has to calibrate (the quick calibration of test_calibrate_compare.py already covers that).
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from mc_helpers import ROOT

from ampsim.calibration import calibrate as cal
from ampsim.calibration import compare, microbench, thismachine
from ampsim.calibration.calibrate import machine_description
from ampsim.calibration.targets import sidecar
from ampsim.calibration.thismachine import DEFAULT_OUT, model_of_this_machine
from ampsim.errors import ConfigError

EXPERIMENT = ROOT / "experiments" / "blobs_mlp.toml"
ELSEWHERE = "Imaginary(R) Q-9000, 128 logical CPUs, 512.0 GiB; Linux 0.0.1; Python 2.7.18, numpy 1.0.0"


def _model_of(machine: str, path: Path) -> Path:
    """A copy of the committed calibrated model (and its raw measurements) whose description names
    ``machine``, as ``ampsim calibrate`` on that machine would have written it."""
    src = ROOT / "hardware_models" / "local_cpu.toml"
    text, n = re.subn(r'^description = ".*"$',
                      f'description = "this machine as 2 multicore-executor workers (one process per core): {machine}"',
                      src.read_text(), count=1, flags=re.M)
    assert n == 1
    path.write_text(text)
    if sidecar(src).is_file():
        shutil.copy(sidecar(src), sidecar(path))
    return path


@pytest.fixture
def nothing_measured(monkeypatch):
    """Every way compare measures or calibrates fails the test."""
    def fail(*args, **kwargs):
        raise AssertionError("compare measured or calibrated although its model is of another machine")

    for obj, name in ((compare, "_prepare"), (compare, "_measure"), (compare, "_simulate"),
                      (microbench, "cores_available"), (thismachine, "run_calibration")):
        monkeypatch.setattr(obj, name, fail)


def test_compare_cli_refuses_a_model_of_another_machine_in_one_line(tmp_path):
    foreign = _model_of(ELSEWHERE, tmp_path / "elsewhere.toml")
    out = tmp_path / "out"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    proc = subprocess.run([sys.executable, "-m", "ampsim.cli", "compare", str(EXPERIMENT), "--workers", "2",
                           "--hardware", str(foreign), "--out", str(out)],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    lines = proc.stderr.splitlines()
    assert proc.returncode == 2, proc.stderr
    assert len(lines) == 1 and lines[0].startswith(f"ampsim: error: {foreign}: "), proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""
    line = lines[0]
    assert "calibrated on another machine" in line and "ampsim calibrate" in line and "--hardware" in line
    assert ELSEWHERE in line and machine_description() in line  # names both machines
    assert not (out / "compare.csv").exists() and not list(tmp_path.rglob("compare.csv"))
    assert not (out / "runs").exists()  # nothing was measured either


@pytest.mark.parametrize("kind", ["another machine", "hand-written"])
def test_run_compare_stops_before_measuring_anything(kind, tmp_path, nothing_measured):
    if kind == "hand-written":  # measured = false: a model of some machine, but not of this one
        model, expect = ROOT / "hardware_models" / "cpu_2core_paper.toml", "a hand-written model of another machine"
    else:
        model, expect = _model_of(ELSEWHERE, tmp_path / "elsewhere.toml"), "calibrated on another machine"
    with pytest.raises(ConfigError, match=rf"^{re.escape(str(model))}: {expect}") as err:
        compare.run_compare(EXPERIMENT, workers=2, hardware=model, out=tmp_path / "out")
    assert "\n" not in str(err.value)
    assert not (tmp_path / "out").exists()


def test_a_model_of_this_machine_is_accepted(tmp_path, nothing_measured):
    ours = _model_of(machine_description(), tmp_path / "here.toml")
    assert model_of_this_machine(ours, 2) == ours


def test_a_missing_hardware_file_is_an_error_not_a_calibration(tmp_path, nothing_measured):
    with pytest.raises(ConfigError, match=re.escape(str(tmp_path / "typo.toml"))):
        model_of_this_machine(tmp_path / "typo.toml", 2)


def test_without_a_model_compare_calibrates_this_machine_first_and_says_so(tmp_path, monkeypatch, caplog):
    import ampsim.hardware.local as local

    calls = []

    def fake_measuring(workers=None, quick=False):  # (run_calibration itself: it takes the lock, then warns)
        calls.append(workers)
        return {}, {}

    def fake_writing(model, raw, out):
        calls.append(Path(out))
        _model_of(machine_description(), Path(out))

    monkeypatch.chdir(tmp_path)
    (tmp_path / "hardware_models").mkdir()
    monkeypatch.setattr(local, "local_model_path", lambda: None)
    monkeypatch.setattr(cal, "calibrate", fake_measuring)
    monkeypatch.setattr(cal, "write_model", fake_writing)
    with caplog.at_level(logging.WARNING, logger="ampsim"):
        assert model_of_this_machine(None, 3) == DEFAULT_OUT
    assert calls == [3, DEFAULT_OUT] and (tmp_path / DEFAULT_OUT).is_file()
    assert any("ampsim calibrate" in r.getMessage() and r.levelno == logging.WARNING for r in caplog.records)


def test_a_model_another_calibration_wrote_meanwhile_is_used_not_measured_again(tmp_path, monkeypatch):
    """Compare looked for a model before it took calibrate's lock: a calibration that finished in between (its model
    written, its lock let go) was measured again, and its model written over. It is looked for again under the lock."""
    import ampsim.hardware.local as local
    from ampsim.locks import LockHeld, lock_file

    def fail(*args, **kwargs):
        raise AssertionError("calibrated again although another calibration had just written the model")

    def looking() -> Path | None:  # the first look finds none; by the second, the other calibration has written one
        if not looks:
            looks.append(None)
            return None
        with pytest.raises(LockHeld):  # (looked for under the lock: one finishing now cannot slip in after it)
            lock_file(tmp_path / (str(DEFAULT_OUT) + ".lock"))
        looks.append(ours)
        return ours

    monkeypatch.chdir(tmp_path)
    (tmp_path / "hardware_models").mkdir()
    ours = _model_of(machine_description(), tmp_path / DEFAULT_OUT)
    looks: list[Path | None] = []
    monkeypatch.setattr(local, "local_model_path", looking)
    monkeypatch.setattr(cal, "calibrate", fail)
    monkeypatch.setattr(cal, "write_model", fail)
    assert model_of_this_machine(None, 3) == ours
    assert looks == [None, ours]


@pytest.mark.parametrize("edit, words", [
    (lambda raw: {**raw, "speed_index_s": -0.05}, "speed_index_s: expected a positive number of seconds, got -0.05"),
    (lambda raw: {**raw, "speed_index_s": float("nan")}, "speed_index_s: expected a positive number of seconds"),
    (lambda raw: {**raw, "speed_index_s": 0}, "speed_index_s: expected a positive number of seconds, got 0"),
    (lambda raw: {**raw, "speed_index_s": "fast"}, "speed_index_s: expected a positive number of seconds, got 'fast'"),
    (lambda raw: {**raw, "speed_by_workload_s": 3}, "speed_by_workload_s: expected an object of seconds"),
    (lambda raw: {**raw, "speed_by_workload_s": {"mlp": -1}}, "speed_by_workload_s.mlp: expected a positive"),
    (lambda raw: [1, 2], "not a calibration's measurements (expected a JSON object)"),
], ids=["negative", "nan", "zero", "text", "not-an-object", "workload-negative", "a-list"])
def test_a_hand_edited_calibration_sidecar_is_refused_before_anything_is_measured(tmp_path, nothing_measured, edit,
                                                                                   words):
    """A negative or nan speed gave negative or nan simulated throughputs with exit 0; 0 or text a traceback
    after every configuration had been measured."""
    import json

    ours = _model_of(machine_description(), tmp_path / "here.toml")
    side = sidecar(ours)
    side.write_text(json.dumps(edit(json.loads(side.read_text()))))
    with pytest.raises(ConfigError, match=rf"^{re.escape(str(side))}: {re.escape(words)}") as err:
        compare.run_compare(EXPERIMENT, workers=2, hardware=ours, out=tmp_path / "out")
    assert "\n" not in str(err.value) and not (tmp_path / "out").exists()


@pytest.mark.parametrize("kind, words", [("folder", "is a directory, not a file"), ("broken-link", "no such file")])
def test_a_calibration_sidecar_that_is_no_file_is_refused_before_anything_is_measured(tmp_path, nothing_measured,
                                                                                       kind, words):
    """A folder there was logged as "not found" and compare went on without its corrections (busy cores, the
    machine's speed); only a sidecar that is not there at all means none."""
    ours = _model_of(machine_description(), tmp_path / "here.toml")
    side = sidecar(ours)
    side.unlink()
    if kind == "folder":
        side.mkdir()
    else:
        side.symlink_to(tmp_path / "gone.json")
    with pytest.raises(ConfigError, match=rf"^{re.escape(str(side))}: {re.escape(words)}") as err:
        compare.run_compare(EXPERIMENT, workers=2, hardware=ours, out=tmp_path / "out")
    assert "\n" not in str(err.value) and not (tmp_path / "out").exists()
