"""A run's config pins the bytes of its hardware file (``executor.hardware_sha256``) and its folder keeps a copy
(``hardware.toml``): trained again after the file was edited or moved away, the config runs on the copy, to the
same results byte for byte; with neither, it refuses in one line (an edited file silently changed the re-run)."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SMALL = ["--set", "data.n_train=320", "--set", "data.n_test=64", "--set", "model.hidden=[8]", "--set", "train.epochs=1",
         "--set", "train.mak=4"]


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ampsim", *args, "--no-progress"], cwd=ROOT, capture_output=True,
                          text=True, env={**os.environ, "AMPSIM_OFFLINE": "1"}, timeout=300)


def results(run: Path) -> dict[str, bytes]:
    return {name: (run / name).read_bytes() for name in ("summary.json", "metrics.csv")}


def test_a_run_pins_its_hardware_file_and_trains_again_on_its_copy_when_the_file_changed(tmp_path):
    hw = tmp_path / "machine.toml"
    hw.write_bytes((ROOT / "hardware_models" / "ring4.toml").read_bytes())
    first = tmp_path / "first"
    r = cli("train", "experiments/blobs_mlp.toml", "--executor", "sim", "--hardware", str(hw), "--out", str(first),
            *SMALL)
    assert r.returncode == 0, r.stderr
    written = tomllib.loads((first / "config.toml").read_text())["executor"]
    assert written["hardware"] == str(hw.resolve())
    assert written["hardware_sha256"] == hashlib.sha256(hw.read_bytes()).hexdigest()
    assert (first / "hardware.toml").read_bytes() == hw.read_bytes()

    # the file as it was: the config re-runs on it, silently
    again = tmp_path / "again"
    r = cli("train", str(first / "config.toml"), "--out", str(again))
    assert r.returncode == 0 and "hardware" not in r.stderr, r.stderr
    assert results(again) == results(first)

    # edited: the run uses the copy the first run kept, says so, and repeats the first run's results
    hw.write_text(hw.read_text().replace("[link]", "[link]\n# edited\n", 1).replace("latency_s = ", "latency_s = 1e-3 #"))
    edited = tmp_path / "edited"
    r = cli("train", str(first / "config.toml"), "--out", str(edited))
    assert r.returncode == 0, r.stderr
    assert f"{hw} has changed since this config was written; using the copy" in r.stderr
    assert results(edited) == results(first)

    # the copy gone too: one line, nothing trained
    (first / "hardware.toml").unlink()
    r = cli("train", str(first / "config.toml"), "--out", str(tmp_path / "refused"))
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr, r.stderr
    assert f"executor.hardware: {hw} has changed since this config was written" in r.stderr
    assert not (tmp_path / "refused").exists()

    # another machine named (--hardware): that file, as it is, not the copy of the pinned one
    torus = ROOT / "hardware_models" / "torus8x8.toml"
    other = tmp_path / "other"
    r = cli("train", str(first / "config.toml"), "--hardware", str(torus), "--out", str(other))
    assert r.returncode == 0 and "copy" not in r.stderr, r.stderr
    written = tomllib.loads((other / "config.toml").read_text())["executor"]
    assert written["hardware_sha256"] == hashlib.sha256(torus.read_bytes()).hexdigest()
    assert (other / "hardware.toml").read_bytes() == torus.read_bytes()

    # asked for: the file as it is now
    now = tmp_path / "now"
    r = cli("train", str(first / "config.toml"), "--set", 'executor.hardware_sha256=""', "--out", str(now))
    assert r.returncode == 0, r.stderr
    assert results(now)["summary.json"] != results(first)["summary.json"]  # 1 ms links: another simulated time


def test_a_hardware_file_not_on_this_machine_is_read_from_the_copy(tmp_path):
    hw = tmp_path / "gone" / "machine.toml"
    hw.parent.mkdir()
    hw.write_bytes((ROOT / "hardware_models" / "ring4.toml").read_bytes())
    first = tmp_path / "first"
    assert cli("train", "experiments/blobs_mlp.toml", "--executor", "sim", "--hardware", str(hw), "--out", str(first),
               *SMALL).returncode == 0
    hw.unlink()  # e.g. a results folder copied to another machine
    moved = tmp_path / "moved"
    r = cli("train", str(first / "config.toml"), "--out", str(moved))
    assert r.returncode == 0, r.stderr
    assert f"{hw} is not there since this config was written; using the copy" in r.stderr
    assert results(moved) == results(first)
    assert tomllib.loads((moved / "config.toml").read_text())["executor"]["hardware"] == str(first / "hardware.toml")
