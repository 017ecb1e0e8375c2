"""An error raised beneath an API call names the caller's argument (``out=``, ``quick=True``, ``fresh=True``,
``ray_address=``), not a command-line option the caller never used; the command line's own errors keep naming
its options (:mod:`ampsim.wording`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import ampsim
from ampsim.cli import main
from ampsim.locks import lock_file, unlock_file
from ampsim.tables import write_table

ROOT = Path(__file__).resolve().parents[2]
BLOBS = ROOT / "experiments" / "blobs_mlp.toml"
SWEEP = f"""
[sweep]
name = "x"
experiment = "{BLOBS}"
hardware = "{ROOT / 'hardware_models' / 'ring4.toml'}"
[fixed]
"data.n_train" = 96
"data.n_test" = 16
"model.hidden" = [8]
"train.epochs" = 1
"executor.numerics" = false
[grid]
"train.mak" = [1, 2]
[quick]
grid = {{ "train.mak" = [1] }}
"""


@pytest.fixture
def sweep_file(tmp_path) -> Path:
    path = tmp_path / "x.toml"
    path.write_text(SWEEP)
    return path


def _full_sweep_folder(out: Path) -> None:
    write_table(out, [], ["train.mak"], {"name": "x", "keys": ["train.mak"], "quick": False})


def _error(call) -> str:
    with pytest.raises(ampsim.AmpsimError) as e:
        call()
    return str(e.value)


def test_a_sweep_folder_of_the_other_variant_names_the_arguments(sweep_file, tmp_path):
    out = tmp_path / "out"
    _full_sweep_folder(out)
    said = _error(lambda: ampsim.sweep(sweep_file, out, quick=True))
    assert said == (f"{out}: holds the full sweep's (with quick=False) results of sweep 'x'; give quick=True another "
                    "out=, or run with quick=False here (fresh=True: delete those results and start over)")
    (out / "table.csv").unlink()
    write_table(out, [], ["train.mak"], {"name": "x", "keys": ["train.mak"], "quick": True})
    said = _error(lambda: ampsim.sweep(sweep_file, out))
    assert said.endswith("holds the quick variant's (quick=True) results of sweep 'x'; give the full sweep another "
                         "out=, or run with quick=True here (fresh=True: delete those results and start over)")


def test_another_sweeps_folder_names_out(sweep_file, tmp_path):
    out = tmp_path / "out"
    write_table(out, [], ["train.mak"], {"name": "other", "keys": ["train.mak"]})
    assert _error(lambda: ampsim.sweep(sweep_file, out)).endswith("give sweep 'x' a folder of its own (out=)")


def test_fresh_refused_names_fresh(sweep_file, tmp_path):
    out = tmp_path / "out"
    (out / "p").mkdir(parents=True)
    (out / "p" / "point.json").write_text(json.dumps({"point_id": "p", "sweep": "x", "quick": False}))
    (out / "p" / "figure.png").write_text("mine")
    said = _error(lambda: ampsim.sweep(sweep_file, out, fresh=True))
    assert "fresh=True would delete it with the point" in said and "--" not in said


def test_a_ray_address_that_does_not_answer_names_ray_address(sweep_file, tmp_path):
    said = _error(lambda: ampsim.sweep(sweep_file, tmp_path / "out", ray=True, ray_address="127.0.0.1:1"))
    assert said.startswith("ray_address='127.0.0.1:1': no Ray cluster answers at this address"), said


def test_a_run_folder_in_use_names_out(tmp_path):
    out = tmp_path / "run"
    fd = lock_file(f"{out}.partial.lock")
    try:
        said = _error(lambda: ampsim.train(BLOBS, out, overrides={"train.epochs": 1}))
    finally:
        unlock_file(fd, f"{out}.partial.lock")
    assert said.endswith("wait for it or give another out="), said


def test_a_missing_or_changed_hardware_file_names_the_override():
    cfg = ampsim.load_experiment(BLOBS, {"executor.kind": "sim"})
    assert _error(lambda: ampsim.plan(cfg)).endswith(
        "(e.g. overrides {'executor.hardware': 'hardware_models/ring4.toml'})")
    cfg = ampsim.load_experiment(BLOBS, {"executor.kind": "sim", "executor.hardware_sha256": "0" * 64,
                                         "executor.hardware": str(ROOT / "hardware_models" / "ring4.toml")})
    assert "give the file it ran with (overrides executor.hardware), or set" in _error(lambda: ampsim.train(cfg))


def test_the_command_line_still_names_its_options(sweep_file, tmp_path, capsys):
    """``ampsim train`` runs through ampsim.train: its errors name its options, as ``ampsim sweep``'s do."""
    out = tmp_path / "out"
    _full_sweep_folder(out)
    assert main(["sweep", str(sweep_file), "--out", str(out), "--quick", "--no-progress"]) == 2
    assert "give --quick another --out, or run without --quick here (--fresh: " in capsys.readouterr().err
    run = tmp_path / "run"
    fd = lock_file(f"{run}.partial.lock")
    try:
        assert main(["train", str(BLOBS), "--out", str(run), "--set", "train.epochs=1", "--no-progress"]) == 2
    finally:
        unlock_file(fd, f"{run}.partial.lock")
    assert capsys.readouterr().err.rstrip().endswith("wait for it or give another --out")
    assert main(["train", str(BLOBS), "--executor", "sim", "--out", str(run)]) == 2
    assert capsys.readouterr().err.rstrip().endswith("(e.g. --hardware hardware_models/ring4.toml)")


def test_a_sweep_name_that_names_no_folder_names_out(tmp_path, capsys):
    path = tmp_path / "bad.toml"
    path.write_text(SWEEP.replace('name = "x"', 'name = "a/b"'))
    said = _error(lambda: ampsim.sweep(path))  # (it would make the default folder)
    assert said.endswith("or give the output folder with out="), said
    assert main(["sweep", str(path), "--check"]) == 2
    assert capsys.readouterr().err.rstrip().endswith("or give the output folder with --out")
    # given an output folder, it names the sweep only (it was refused there too: the advice could not help)
    assert main(["sweep", str(path), "--out", str(tmp_path / "out"), "--check"]) == 0


def test_a_sweeps_hardware_is_named_as_the_sweep_file_names_it(sweep_file, tmp_path, capsys, monkeypatch):
    """``ampsim sweep`` and ``ampsim.sweep`` have no hardware option: a point short of its hardware file said to
    give ``--hardware`` (or ``overrides executor.hardware``); it names ``sweep.hardware`` from either, in the
    sweep's process and in its workers (forked: they keep the entry point's words)."""
    path = tmp_path / "nohw.toml"
    path.write_text(SWEEP.replace(f'hardware = "{ROOT / "hardware_models" / "ring4.toml"}"\n', "")
                    .replace("[fixed]\n", '[fixed]\n"executor.kind" = "sim"\n'))
    hint = "(e.g. sweep.hardware = 'hardware_models/ring4.toml' in the sweep file)"
    assert _error(lambda: ampsim.sweep(path, tmp_path / "a")).endswith(hint)
    assert main(["sweep", str(path), "--out", str(tmp_path / "c"), "--no-progress"]) == 2
    assert capsys.readouterr().err.rstrip().endswith(hint)

    from ampsim import training
    from ampsim.errors import ConfigError
    from ampsim.wording import wording

    def missing(*args, **kwargs):  # (its file gone after the sweep read it, say)
        raise ConfigError(f"give the file ({wording().hardware}); out: {wording().out}")

    monkeypatch.setattr(training, "train_experiment", missing)
    said = _error(lambda: ampsim.sweep(sweep_file, tmp_path / "a2", jobs=2))
    assert "give the file (sweep.hardware in the sweep file); out: out=" in said
    assert main(["sweep", str(sweep_file), "--out", str(tmp_path / "c2"), "--jobs", "2",
                 "--no-progress"]) == 2
    assert "give the file (sweep.hardware in the sweep file); out: --out" in capsys.readouterr().err
