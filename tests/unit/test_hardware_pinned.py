"""A run's config pins the bytes of its hardware file (``executor.hardware_sha256``) and its folder keeps a copy
(``hardware.toml``): trained again where the file is gone, the config runs on the copy, to the same results byte
for byte; where the file differs (edited since, or another file named through the API), it refuses in one line
(an edited file silently changed the re-run); naming a file on the command line drops the pin."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from ampsim.config import load_config
from ampsim.errors import ConfigError
from ampsim.hardware.source import hardware_path
from ampsim.tomltext import dump_toml

ROOT = Path(__file__).resolve().parents[2]
RING4 = ROOT / "hardware_models" / "ring4.toml"
SMALL = ["--set", "data.n_train=320", "--set", "data.n_test=64", "--set", "model.hidden=[8]", "--set", "train.epochs=1",
         "--set", "train.mak=4"]


def cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ampsim", *args, "--no-progress"], cwd=cwd, capture_output=True,
                          text=True, env={**os.environ, "AMPSIM_OFFLINE": "1"}, timeout=300)


def results(run: Path) -> dict[str, bytes]:
    return {name: (run / name).read_bytes() for name in ("summary.json", "metrics.csv")}


def one_line(r: subprocess.CompletedProcess) -> str:
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr, r.stderr
    return r.stderr


def test_a_run_pins_its_hardware_file_and_an_edited_file_is_refused_in_one_line(tmp_path):
    hw = tmp_path / "machine.toml"
    hw.write_bytes(RING4.read_bytes())
    first = tmp_path / "first"
    r = cli("train", "experiments/blobs_mlp.toml", "--executor", "sim", "--hardware", str(hw), "--out", str(first),
            *SMALL)
    assert r.returncode == 0, r.stderr
    written = tomllib.loads((first / "config.toml").read_text())["executor"]
    assert written["hardware"] == str(hw.resolve())
    assert written["hardware_sha256"] == hashlib.sha256(hw.read_bytes()).hexdigest()
    assert (first / "hardware.toml").read_bytes() == hw.read_bytes()

    # the file as it was: the config re-runs on it, silently, to the same results
    r = cli("train", str(first / "config.toml"), "--out", str(tmp_path / "again"))
    assert r.returncode == 0 and "hardware" not in r.stderr, r.stderr
    assert results(tmp_path / "again") == results(first)

    # edited: one line, nothing trained
    hw.write_text(hw.read_text().replace("latency_s = ", "latency_s = 1e-3 #"))
    line = one_line(cli("train", str(first / "config.toml"), "--out", str(tmp_path / "refused")))
    assert f"executor.hardware: {hw} is not the file this config ran with" in line
    assert not (tmp_path / "refused").exists()

    # the copy named: the first run again, byte for byte
    r = cli("train", str(first / "config.toml"), "--hardware", str(first / "hardware.toml"), "--out",
            str(tmp_path / "copy"))
    assert r.returncode == 0, r.stderr
    assert results(tmp_path / "copy") == results(first)

    # another machine named (--hardware): that file, as it is
    torus = ROOT / "hardware_models" / "torus8x8.toml"
    other = tmp_path / "other"
    assert cli("train", str(first / "config.toml"), "--hardware", str(torus), "--out", str(other)).returncode == 0
    written = tomllib.loads((other / "config.toml").read_text())["executor"]
    assert written["hardware_sha256"] == hashlib.sha256(torus.read_bytes()).hexdigest()
    assert (other / "hardware.toml").read_bytes() == torus.read_bytes()

    # asked for: the edited file as it is now
    now = tmp_path / "now"
    r = cli("train", str(first / "config.toml"), "--set", 'executor.hardware_sha256=""', "--out", str(now))
    assert r.returncode == 0, r.stderr
    assert results(now)["summary.json"] != results(first)["summary.json"]  # 1 ms links: another simulated time


def test_a_hardware_file_not_on_this_machine_is_read_from_the_copy(tmp_path):
    hw = tmp_path / "gone" / "machine.toml"
    hw.parent.mkdir()
    hw.write_bytes(RING4.read_bytes())
    first = tmp_path / "first"
    assert cli("train", "experiments/blobs_mlp.toml", "--executor", "sim", "--hardware", str(hw), "--out", str(first),
               *SMALL).returncode == 0
    hw.unlink()  # e.g. a results folder copied to another machine
    moved = tmp_path / "moved"
    r = cli("train", str(first / "config.toml"), "--out", str(moved))
    assert r.returncode == 0, r.stderr
    assert r.stderr.count(f"{hw} is not there; using the copy of the file this config ran with") == 1, r.stderr
    assert results(moved) == results(first)
    assert tomllib.loads((moved / "config.toml").read_text())["executor"]["hardware"] == str(hw)  # not the copy
    (first / "hardware.toml").unlink()  # and no copy either: one line
    line = one_line(cli("train", str(first / "config.toml"), "--out", str(tmp_path / "refused")))
    assert f"{hw} is not there, and {first / 'hardware.toml'} is no copy" in line


def test_a_run_trained_from_the_copy_names_the_file_so_it_trains_again_on_its_own_copy(tmp_path):
    """A run trained on another run's copy wrote that copy's path in its config: the other run trained again on
    other hardware, its copy held other bytes and this run's config was refused ("is not the file this config
    ran with"). Its config names the file as the first run's did, so it trains again on its own copy."""
    hw = tmp_path / "gone" / "machine.toml"
    hw.parent.mkdir()
    hw.write_bytes(RING4.read_bytes())
    first, second = tmp_path / "first", tmp_path / "second"
    assert cli("train", "experiments/blobs_mlp.toml", "--executor", "sim", "--hardware", str(hw), "--out", str(first),
               *SMALL).returncode == 0
    hw.unlink()
    assert cli("train", str(first / "config.toml"), "--out", str(second)).returncode == 0
    mesh = ROOT / "hardware_models" / "mesh4x4.toml"
    r = cli("train", "experiments/blobs_mlp.toml", "--executor", "sim", "--hardware", str(mesh), "--out", str(first),
            *SMALL)
    assert r.returncode == 0 and (first / "hardware.toml").read_bytes() == mesh.read_bytes(), r.stderr
    third = tmp_path / "third"
    r = cli("train", str(second / "config.toml"), "--out", str(third))
    assert r.returncode == 0, r.stderr
    assert f"using the copy of the file this config ran with, {second / 'hardware.toml'}" in r.stderr, r.stderr
    assert results(third) == results(second)


def pinned_config(folder: Path, hardware: str, pin_of: Path) -> Path:
    """A config naming ``hardware`` and pinning the bytes of ``pin_of``."""
    cfg = folder / "config.toml"
    cfg.write_text(dump_toml({"experiment": {"task": "mlp"}, "executor": {
        "kind": "sim", "hardware": hardware, "hardware_sha256": hashlib.sha256(pin_of.read_bytes()).hexdigest()}}))
    return cfg


def test_another_file_named_through_the_api_is_refused_not_swapped_for_the_copy(tmp_path):
    """``dataclasses.replace`` of executor.hardware keeps the pin (no override dropped it): the named file is
    not the one pinned, so the run refuses in one line (it ran the copy of the pinned one, with a warning)."""
    (tmp_path / "hardware.toml").write_bytes(RING4.read_bytes())
    cfg = load_config(pinned_config(tmp_path, str(tmp_path / "hardware.toml"), RING4))
    assert hardware_path(cfg) == tmp_path / "hardware.toml"
    fc16 = str(ROOT / "hardware_models" / "fc16.toml")
    swapped = dataclasses.replace(cfg, executor=dataclasses.replace(cfg.executor, hardware=fc16))
    with pytest.raises(ConfigError, match=f"{fc16} is not the file this config ran with"):
        hardware_path(swapped)


def test_a_relative_name_finds_the_pinned_file_beside_the_config_past_another_in_the_working_folder(tmp_path,
                                                                                                     monkeypatch):
    (tmp_path / "exp").mkdir()
    (tmp_path / "exp" / "ring.toml").write_bytes(RING4.read_bytes())
    cfg = pinned_config(tmp_path / "exp", "ring.toml", RING4)
    (tmp_path / "cwd").mkdir()
    (tmp_path / "cwd" / "ring.toml").write_text("# another file of that name\n")
    monkeypatch.chdir(tmp_path / "cwd")
    assert hardware_path(load_config(cfg)) == tmp_path / "exp" / "ring.toml"


def test_a_symlink_loop_in_a_pinned_config_is_one_line(tmp_path):
    (tmp_path / "a.toml").symlink_to(tmp_path / "b.toml")
    (tmp_path / "b.toml").symlink_to(tmp_path / "a.toml")
    cfg = load_config(pinned_config(tmp_path, str(tmp_path / "a.toml"), RING4))
    with pytest.raises(ConfigError, match="a.toml is not there"):
        hardware_path(cfg)


def test_the_api_finds_the_pinned_file_beside_the_config_when_the_working_folder_has_another(tmp_path, monkeypatch):
    """The API anchors a config's files at load (they mean the same after os.chdir), but not a pinned hardware
    file: the pin chooses among its places, and anchoring the working folder's namesake refused the run."""
    import ampsim

    exp = tmp_path / "exp"
    exp.mkdir()
    (exp / "hw.toml").write_bytes(RING4.read_bytes())
    digest = hashlib.sha256(RING4.read_bytes()).hexdigest()
    (exp / "e.toml").write_text((ROOT / "experiments" / "blobs_mlp.toml").read_text() + '\n[executor]\nkind = "sim"\n'
                                f'hardware = "hw.toml"\nhardware_sha256 = "{digest}"\n')
    other = tmp_path / "elsewhere"
    other.mkdir()
    (other / "hw.toml").write_text(RING4.read_text().replace("latency_s = 1.0e-6", "latency_s = 2.0e-6"))
    monkeypatch.chdir(other)
    cfg = ampsim.load_experiment("../exp/e.toml", {"data.n_train": 320, "data.n_test": 64, "train.epochs": 1})
    assert ampsim.train(cfg).summary["executor"] == "sim"


@pytest.mark.parametrize("pin", ["abc", "sha256:" + "0" * 64, "z" * 64, "0" * 65])
def test_a_pin_that_is_no_sha256_is_refused_as_such_not_as_an_edited_file(tmp_path, pin):
    """It read "ring4.toml is not the file this config ran with (its bytes differ ...: edited since, or another
    file named)" of a file never edited."""
    cfg = tmp_path / "config.toml"
    cfg.write_text(dump_toml({"experiment": {"task": "mlp"}, "executor": {
        "kind": "sim", "hardware": str(RING4), "hardware_sha256": pin}}))
    with pytest.raises(ConfigError, match=rf"^{cfg}: executor.hardware_sha256: expected a SHA-256 of the hardware "
                                          r"file's bytes \(64 hex digits\) or \"\" for none, got '"):
        hardware_path(load_config(cfg))
    with pytest.raises(ConfigError, match=r"^--set executor.hardware_sha256: expected a SHA-256"):
        load_config(ROOT / "experiments" / "blobs_mlp.toml", [("executor.hardware_sha256", pin)])


def test_a_pin_in_upper_case_is_the_same_pin(tmp_path):
    """PowerShell's Get-FileHash prints a SHA-256 in upper case: the file that holds those bytes is found."""
    cfg = pinned_config(tmp_path, str(RING4), RING4)
    cfg.write_text(cfg.read_text().replace(hashlib.sha256(RING4.read_bytes()).hexdigest(),
                                           hashlib.sha256(RING4.read_bytes()).hexdigest().upper()))
    assert hardware_path(load_config(cfg)) == RING4
