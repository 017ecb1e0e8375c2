"""Bad input to ``ampsim calibrate`` and ``ampsim compare --resimulate``: every case ends in exit status 2 and
exactly one stderr line ``ampsim: error: …`` (no traceback), refused before anything is measured or simulated
(the measuring and simulating functions are replaced by ones that fail the test), and the target is left byte
for byte: a device or a pipe given as the model, a file calibrate did not write, a worker count no model can
have, a measured compare folder given as ``--out``, and values in a ``--from`` folder that are not numbers.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import shutil
import stat
from pathlib import Path

import pytest
from test_bad_input import one_error_line

import ampsim.calibration.calibrate as cal
import ampsim.calibration.compare as cmp
import ampsim.calibration.thismachine as thismachine
from ampsim.calibration.targets import MAX_WORKERS, check_targets, sidecar
from ampsim.cli import main

ROOT = Path(__file__).resolve().parents[1]
MEASURED = ROOT / "results" / "compare" / "list_reduction"  # a measured compare folder, kept in the repository
EXP = ROOT / "experiments" / "list_reduction.toml"
HW = ROOT / "hardware_models" / "local_cpu.toml"


def snapshot(root: Path) -> dict[str, object]:
    """Every entry under ``root`` (and ``root`` itself): a file's bytes, else its kind (a folder, a pipe, ...)."""
    entries = [root, *sorted(root.rglob("*"))] if root.is_dir() else [root]
    return {str(p): (p.read_bytes() if p.is_file() else stat.S_IFMT(os.lstat(p).st_mode)) for p in entries}


class Reached(Exception):
    """Raised by the stand-ins for measuring and simulating: the command got past its checks."""


@pytest.fixture
def no_work(monkeypatch):
    """Measuring (calibrate) and simulating (resimulate) raise :class:`Reached`: a refusal must come first."""
    def reached(*args, **kwargs):
        raise Reached

    monkeypatch.setattr(cal, "calibrate", reached)
    monkeypatch.setattr(cmp, "simulate_run", reached)
    monkeypatch.setenv("AMPSIM_OFFLINE", "1")


# -- calibrate --out / --workers -----------------------------------------------------------------------
def _special(tmp_path: Path, kind: str) -> Path:
    path = tmp_path / f"{kind}.toml"
    if kind == "fifo":
        os.mkfifo(path)
    else:
        try:
            os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(1, 3))  # what /dev/null is
        except (PermissionError, OSError):
            pytest.skip("cannot make a device node here (not root)")
    return path


@pytest.mark.parametrize("kind", ["fifo", "device"])
def test_calibrate_refuses_a_model_that_is_not_a_regular_file(kind, tmp_path, capsys, no_work):
    target = _special(tmp_path, kind)
    before = snapshot(tmp_path)
    line = one_error_line(capsys, ["calibrate", "--quick", "--out", target])
    assert f"{target}: not a regular file (a pipe, socket or device)" in line and "--out" in line
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("kind", ["fifo", "device"])
def test_calibrate_refuses_a_sidecar_that_is_not_a_regular_file(kind, tmp_path, capsys, no_work):
    special = _special(tmp_path, kind)
    model = tmp_path / "m.toml"
    special.rename(sidecar(model))
    before = snapshot(tmp_path)
    line = one_error_line(capsys, ["calibrate", "--quick", "--out", model])
    assert "m.calibration.json: not a regular file" in line
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("content", [
    (ROOT / "experiments" / "blobs_mlp.toml").read_bytes(),  # an experiment
    (ROOT / "hardware_models" / "ring4.toml").read_bytes(),  # a hand-written model
    HW.read_bytes().replace(b"measured = true", b"measured = false"),  # calibrate's text, but not measured
    b"\x00\xff\xfe\x01binary",
    b"[system\nmeasured = true\n",  # not TOML
    b"",
], ids=["experiment", "hand-written-model", "not-measured", "binary", "not-toml", "empty"])
def test_calibrate_refuses_to_overwrite_a_file_it_did_not_write(content, tmp_path, capsys, no_work):
    (tmp_path / "calx").mkdir()
    target = tmp_path / "calx" / "exp.toml"
    target.write_bytes(content)
    before = snapshot(tmp_path)
    line = one_error_line(capsys, ["calibrate", "--quick", "--out", target])
    assert line == (f"ampsim: error: {target}: exists and is not a calibrated hardware model (ampsim calibrate "
                    "writes only its own models); choose another --out")
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("content", [b'{"fit": {}}', b"[1, 2]", b"not json", b"\x89PNG\r\n"],
                         ids=["no-workloads", "a-list", "not-json", "binary"])
def test_calibrate_refuses_to_overwrite_a_sidecar_it_did_not_write(content, tmp_path, capsys, no_work):
    model = tmp_path / "m.toml"
    shutil.copy(HW, model)  # the model itself is calibrate's: its sidecar still must be too
    sidecar(model).write_bytes(content)
    before = snapshot(tmp_path)
    line = one_error_line(capsys, ["calibrate", "--quick", "--out", model])
    assert "m.calibration.json: exists and is not the measurements of a calibrated model" in line
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("which", ["model", "sidecar"])
def test_calibrate_says_a_model_it_cannot_read_is_unreadable_not_anothers(which, tmp_path, capsys, monkeypatch, no_work):
    """Calibrate's own model or measurements made unreadable (chmod 000, another user's) was "exists and is not a
    calibrated hardware model (ampsim calibrate writes only its own models)": refused, rightly (whose it is cannot be
    told), but said to be a file calibrate did not write. (As root nothing is denied: the refusal is made here.)"""
    import builtins
    import errno

    model = tmp_path / "m.toml"
    shutil.copy(HW, model)
    shutil.copy(sidecar(HW), sidecar(model))
    locked = model if which == "model" else sidecar(model)
    real_open = builtins.open

    def deny(file, *args, **kwargs):
        if os.fspath(file) == str(locked):
            raise PermissionError(errno.EACCES, "Permission denied", os.fspath(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", deny)
    before = snapshot(tmp_path)
    line = one_error_line(capsys, ["calibrate", "--quick", "--out", model])
    what = "a calibrated hardware model" if which == "model" else "the measurements of a calibrated model"
    assert line == (f"ampsim: error: {locked}: permission denied, so whether it is {what} (which calibrate would "
                    "replace) cannot be told; choose another --out, or make it readable")
    monkeypatch.undo()
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("first, then", [("m.toml", "m"), ("m", "m.toml"), ("m.toml", "m.v2")])
@pytest.mark.parametrize("with_sidecar", [True, False], ids=["sidecar", "no-sidecar"])
def test_calibrate_refuses_a_model_whose_sidecar_is_another_models(first, then, with_sidecar, tmp_path, capsys,
                                                                    no_work):
    """--out cal/m after --out cal/m.toml silently replaced cal/m.calibration.json, the measurements compare
    reads with cal/m.toml (the existing sidecar passed as calibrate's own)."""
    shutil.copy(HW, tmp_path / first)
    if with_sidecar:
        shutil.copy(sidecar(HW), sidecar(tmp_path / first))
    before = snapshot(tmp_path)
    line = one_error_line(capsys, ["calibrate", "--quick", "--out", tmp_path / then])
    side = tmp_path / "m.calibration.json"
    assert line == (f"ampsim: error: {tmp_path / then}: its measurements would replace {side}, "
                    f"which is also the calibrated model {tmp_path / first}'s (a model's measurements are named by its "
                    "name less the suffix); choose another --out")
    assert snapshot(tmp_path) == before


def test_a_file_of_the_same_stem_that_is_no_calibrated_model_shares_nothing(tmp_path, no_work):
    (tmp_path / "m.txt").write_text("notes on the model\n")
    (tmp_path / "m.d").mkdir()
    shutil.copy(HW, tmp_path / "mm.toml")  # another stem
    check_targets(tmp_path / "m.toml")
    shutil.copy(HW, tmp_path / "m.toml")
    shutil.copy(sidecar(HW), sidecar(tmp_path / "m.toml"))
    check_targets(tmp_path / "m.toml")  # its own sidecar


@pytest.mark.parametrize("workers", ["-2", "100000", str(MAX_WORKERS + 1)])
def test_calibrate_refuses_a_worker_count_no_model_can_have(workers, tmp_path, capsys, no_work):
    out = tmp_path / "m.toml"
    line = one_error_line(capsys, ["calibrate", "--quick", "--workers", workers, "--out", out])
    assert line == (f"ampsim: error: --workers: must be from 0 (one per core) to {MAX_WORKERS} (a fully connected "
                    f"model's chips), got {workers}")
    assert not os.path.lexists(out) and not os.path.lexists(sidecar(out))


def test_workers_0_is_one_per_core_for_calibrate_compare_and_train_alike(tmp_path, monkeypatch, capsys, no_work):
    """train and compare took --workers 0 as one per core (executor.workers = 0, as documented), calibrate refused
    it ("must be from 1"); and compare refused -2 as "--set executor.workers", an option not given, as train did."""
    from ampsim.hardware.local import default_workers

    asked = []

    def reached(*args):  # calibrate(workers, quick); model_of_this_machine(hardware, workers)
        asked.append(args)
        raise Reached

    monkeypatch.setattr(cal, "calibrate", reached)
    monkeypatch.setattr(thismachine, "model_of_this_machine", reached)
    with pytest.raises(Reached):  # on to measuring: calibrate's one chip per core
        main(["calibrate", "--quick", "--workers", "0", "--out", str(tmp_path / "m.toml")])
    with pytest.raises(Reached):  # on to its model, of one worker per core
        main(["compare", str(EXP), "--workers", "0", "--configs", "mak=1", "--out", str(tmp_path / "cmp")])
    assert asked == [(0, True), (None, default_workers())]
    for command in (["compare", EXP, "--out", tmp_path / "cmp"], ["train", EXP, "--out", tmp_path / "run"]):
        line = one_error_line(capsys, [*command, "--workers", "-2"])
        assert line == "ampsim: error: --workers: must be 0 (one per core) or more, got -2"
    assert not any(tmp_path.iterdir())


def test_the_worker_limit_is_the_largest_fully_connected_model():
    from ampsim.hardware.spec import MAX_LINKS

    n = MAX_WORKERS
    assert n * (n - 1) // 2 <= MAX_LINKS < (n + 1) * n // 2


def test_calibrate_may_still_rewrite_its_own_model(tmp_path, capsys, no_work):
    """Over its own earlier output (the model and its sidecar), or a new file, calibrate goes on to measure."""
    model = tmp_path / "local_cpu.toml"
    shutil.copy(HW, model)
    shutil.copy(sidecar(HW), sidecar(model))
    check_targets(model, 2)
    check_targets(model, MAX_WORKERS)
    check_targets(model)
    check_targets(tmp_path / "new.toml", 1)
    sidecar(model).unlink()  # a model whose sidecar is gone
    check_targets(model)
    with pytest.raises(Reached):  # the CLI gets as far as measuring
        main(["calibrate", "--quick", "--workers", "2", "--out", str(model)])
    assert model.read_bytes() == HW.read_bytes()


@pytest.mark.parametrize("stop", [OSError(28, "No space left on device"), KeyboardInterrupt()],
                         ids=["disk-full", "ctrl-c"])
def test_a_calibration_stopped_while_writing_leaves_the_earlier_model_and_its_measurements_together(
        tmp_path, monkeypatch, stop):
    """The model was written (renamed in) before its measurements were: a full disk or a Ctrl-C while the
    measurements were written left the new model beside the old one's sidecar, whose speeds compare then scaled
    the new model's predictions by, as if they were a pair. Now both are written out before either is renamed in."""
    model = tmp_path / "m.toml"
    shutil.copy(HW, model)
    shutil.copy(sidecar(HW), sidecar(model))
    before = snapshot(tmp_path)
    raw = json.loads(sidecar(HW).read_text())
    monkeypatch.setattr(cal, "to_toml", lambda model, raw: HW.read_text().replace("# Written by", "# Rewritten by"))
    real = Path.write_text

    def write_text(self, *args, **kwargs):
        if self.name.startswith(".m.calibration."):  # the measurements' temporary, beside the model's
            raise stop
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", write_text)
    with pytest.raises(type(stop)):
        cal.write_model({}, raw, model)
    assert snapshot(tmp_path) == before  # the old pair, and no temporary left


def test_a_calibration_through_a_link_writes_the_models_measurements_beside_the_model(tmp_path, monkeypatch):
    """--out link.toml, a link to cal/m.toml: the model was written where the link leads (cal/m.toml) and its
    measurements beside the link (link.calibration.json), so cal/m.toml kept the earlier calibration's, which
    compare --hardware cal/m.toml then read as its own."""
    (tmp_path / "cal").mkdir()
    model, link = tmp_path / "cal" / "m.toml", tmp_path / "link.toml"
    shutil.copy(HW, model)
    shutil.copy(sidecar(HW), sidecar(model))
    link.symlink_to(model)
    raw = dict(json.loads(sidecar(HW).read_text()), speed_index_s=9.5)
    monkeypatch.setattr(cal, "to_toml", lambda model, raw: HW.read_text().replace("# Written by", "# Rewritten by"))
    check_targets(link)
    cal.write_model({}, raw, link)
    assert model.read_text().startswith("# Rewritten by") and link.is_symlink()
    assert sidecar(link) == sidecar(model) == tmp_path / "cal" / "m.calibration.json"
    assert json.loads(sidecar(model).read_text())["speed_index_s"] == 9.5
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cal", "link.toml"]
    (tmp_path / "cal" / "m2.toml").symlink_to("m.toml")  # a link beside its model shares nothing with another
    check_targets(tmp_path / "cal" / "m2.toml")
    check_targets(model)


# -- compare --resimulate --from A --out B ------------------------------------------------------------
@pytest.fixture
def measured(tmp_path) -> Path:
    """A copy of a measured compare folder (its table, and each run's config, summary and placement)."""
    skip = shutil.ignore_patterns("*.png", "metrics.csv", "staleness.json", "sim")
    return Path(shutil.copytree(MEASURED, tmp_path / "A", ignore=skip))


def _resimulate(capsys, source: Path, out: Path) -> str:
    return one_error_line(capsys, ["compare", EXP, "--resimulate", "--from", source, "--out", out, "--hardware", HW])


def test_resimulate_refuses_an_out_that_holds_a_measured_compare_table(measured, tmp_path, capsys, no_work):
    other = Path(shutil.copytree(measured, tmp_path / "B"))
    (other / "runs" / "workers=1_mak=1" / "sim").mkdir()  # as compare leaves it: measured and simulated runs
    before, source = snapshot(other), snapshot(measured)
    line = _resimulate(capsys, measured, other)
    assert f"{other}: holds a measured compare table (runs/*/multicore)" in line and "--out" in line
    assert snapshot(other) == before and snapshot(measured) == source


def test_resimulate_refuses_an_out_with_measured_runs_but_no_table(measured, tmp_path, capsys, no_work):
    other = Path(shutil.copytree(measured / "runs", tmp_path / "B" / "runs"))  # a compare cut short
    before = snapshot(other.parent)
    assert "holds a measured compare table" in _resimulate(capsys, measured, other.parent)
    assert snapshot(other.parent) == before


def test_resimulate_refuses_an_out_with_a_table_it_did_not_write(measured, tmp_path, capsys, no_work):
    other = tmp_path / "B"
    other.mkdir()
    shutil.copy(measured / "compare.csv", other)  # a measured table, copied without its runs
    before = snapshot(other)
    assert "holds a compare.csv that --resimulate did not write" in _resimulate(capsys, measured, other)
    assert snapshot(other) == before


@pytest.mark.parametrize("inside", ["runs", "runs/workers=2_mak=4", "runs/workers=2_mak=4/new"])
@pytest.mark.parametrize("resimulating", [True, False], ids=["resimulate", "compare"])
def test_an_out_inside_a_compares_runs_is_refused(measured, capsys, no_work, inside, resimulating):
    """``--resimulate --out DIR/runs`` wrote its table, figure and runs among DIR's measured runs, and every later
    compare into DIR was refused (runs/compare.csv: not a compare's configuration); a compare measuring into a
    configuration's folder likewise."""
    out = measured / inside
    before = snapshot(measured)
    argv = ["compare", EXP, "--resimulate", "--from", measured] if resimulating else ["compare", EXP]
    line = one_error_line(capsys, [*argv, "--out", out, "--hardware", HW])
    assert line == (f"ampsim: error: {out}: inside the runs of the compare in {measured}, which it would mix its own "
                    "into; give --out a folder of its own")
    assert snapshot(measured) == before


def test_a_compare_into_a_re_scoring_is_refused(measured, capsys, monkeypatch, no_work):
    """A measured compare into DIR/resimulated replaced the re-scoring there, and --resimulate --from DIR then
    refused its own default output (it held measurements) until cleared by hand."""
    def reached(*args, **kwargs):
        raise Reached

    monkeypatch.setattr(cmp, "_prepare", reached)
    out = measured / "resimulated"
    (out / "runs" / "workers=1_mak=1" / "sim").mkdir(parents=True)
    shutil.copy(measured / "compare.csv", out)  # what --resimulate --from measured left
    before = snapshot(measured)
    line = one_error_line(capsys, ["compare", EXP, "--out", out, "--hardware", HW])
    assert line == (f"ampsim: error: {out}: holds a re-scoring (compare --resimulate: simulated runs only), which a "
                    "measured compare would replace; give --out a folder of its own")
    assert snapshot(measured) == before


def test_a_users_runs_folder_beside_no_compare_is_no_compares(tmp_path, no_work):
    """A folder named runs holding a run folder named sim (ampsim train --out runs/x/sim) is not a compare's."""
    (tmp_path / "runs" / "x" / "sim").mkdir(parents=True)
    with pytest.raises(Reached):
        main(["compare", str(EXP), "--resimulate", "--from", str(MEASURED), "--out", str(tmp_path / "runs" / "new"),
              "--hardware", str(HW)])


@pytest.mark.parametrize("option", [["--configs", "workers=1,mak=1"], ["--workers", "1"], ["--repeat", "3"]],
                         ids=["configs", "workers", "repeat"])
def test_resimulate_refuses_the_options_of_a_measurement(measured, tmp_path, capsys, no_work, option):
    """Each was ignored: --configs "workers=1,mak=1" re-scored every configuration of the folder, exit 0."""
    line = one_error_line(capsys, ["compare", EXP, "--resimulate", "--from", measured, "--out", tmp_path / "out",
                                   "--hardware", HW, *option])
    assert line == (f"ampsim: error: {option[0]}: not with --resimulate, which re-scores every configuration as it "
                    "was measured (and as often); measure anew with ampsim compare")
    assert not (tmp_path / "out").exists()


def test_resimulate_may_still_rewrite_its_own_output(measured, tmp_path, no_work):
    out = tmp_path / "again"
    (out / "runs" / "workers=1_mak=1" / "sim").mkdir(parents=True)
    shutil.copy(measured / "compare.csv", out)  # what an earlier --resimulate into it left
    with pytest.raises(Reached):
        main(["compare", str(EXP), "--resimulate", "--from", str(measured), "--out", str(out), "--hardware", str(HW)])


def _edit_table(folder: Path, line: int, column: str, value: str) -> None:
    with open(folder / "compare.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    rows[line - 2][column] = value
    with open(folder / "compare.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


@pytest.mark.parametrize("column, value, expected", [
    ("workers", "two", "workers: expected a whole number from 1 to"),
    ("workers", "0", "workers: expected a whole number from 1 to"),
    ("workers", "2.5", "workers: expected a whole number from 1 to"),
    ("workers", "", "workers: expected a whole number from 1 to"),
    ("speed", "fast", "speed: expected a positive number, got 'fast'"),
    ("speed", "0", "speed: expected a positive number, got '0'"),
    ("cores", "nan", "cores: expected a positive number, got 'nan'"),
    ("messages_per_instance", "x", "messages_per_instance: expected a non-negative number, got 'x'"),
    ("remote_per_instance", "-1", "remote_per_instance: expected a non-negative number, got '-1'"),
    ("remote_per_instance", "inf", "remote_per_instance: expected a non-negative number, got 'inf'"),
])
def test_resimulate_refuses_a_table_value_that_is_not_a_number(column, value, expected, measured, tmp_path, capsys,
                                                                no_work):
    _edit_table(measured, 3, column, value)
    out = tmp_path / "out"
    line = _resimulate(capsys, measured, out)
    assert f"{measured / 'compare.csv'}: line 3 (workers=2,mak=1): {expected}" in line
    assert not out.exists()


@pytest.mark.parametrize("cut", ["in-a-column-it-reads", "after-the-columns-it-reads", "a-cell-more"])
def test_resimulate_refuses_a_table_row_cut_short(cut, measured, tmp_path, capsys, no_work):
    """A table cut in its last row after the columns re-scoring reads, or inside the last of them
    (remote_per_instance 11.5 cut to 1), was read as whole: the row's missing cells are None, not a number's text."""
    table = measured / "compare.csv"
    lines = table.read_text().splitlines()
    header = lines[0].split(",")
    cells = next(csv.reader([lines[-1]]))
    text = lines[-1].split("," + cells[header.index("remote_per_instance")] + ",", 1)[0]  # (the config is quoted)
    lines[-1] = {"in-a-column-it-reads": text + ",1", "after-the-columns-it-reads": text + ",1.5,2.5",
                 "a-cell-more": lines[-1] + ",1"}[cut]
    table.write_text("\n".join(lines) + "\n")
    n = {"in-a-column-it-reads": header.index("remote_per_instance") + 1,
         "after-the-columns-it-reads": header.index("remote_per_instance") + 2, "a-cell-more": len(header) + 1}[cut]
    line = _resimulate(capsys, measured, tmp_path / "out")
    assert line == (f"ampsim: error: {table}: line {len(lines)}: {n} cells, but the header has {len(header)} columns "
                    "(a table cut short, or edited)")


@pytest.mark.parametrize("keep", [-1, 2], ids=["last-row-lost", "one-row-left"])
def test_resimulate_refuses_a_table_cut_at_the_end_of_a_row(keep, measured, tmp_path, capsys, no_work):
    """The lines left are a valid table: the configurations of the lost rows were left out of the re-scoring
    (and its ranking) without a word, though their measured runs are under runs/."""
    from ampsim.calibration.compare import run_folder

    table = measured / "compare.csv"
    lines = table.read_text().splitlines(keepends=True)
    table.write_text("".join(lines[:keep]))
    lost = sorted(run_folder(r["config"]) for r in csv.DictReader(lines[:1] + lines[keep:]))
    more = f" (and {len(lost) - 1} more)" if len(lost) > 1 else ""
    out = tmp_path / "out"
    line = _resimulate(capsys, measured, out)
    assert line == (f"ampsim: error: {table}: no row for the configuration of runs/{lost[0]}{more}, whose runs the "
                    "compare that wrote the table made: cut short or edited since; copy or run the compare again")
    assert not out.exists()


def test_resimulate_refuses_a_table_row_without_a_configuration(measured, tmp_path, capsys, no_work):
    _edit_table(measured, 4, "config", "")
    assert f"{measured / 'compare.csv'}: line 4: config:" in _resimulate(capsys, measured, tmp_path / "out")


@pytest.mark.parametrize("label", ["workers=1,mak=1", "workers=1_mak=1"], ids=["same", "same-folder"])
def test_resimulate_refuses_a_table_with_a_configuration_twice(label, measured, tmp_path, capsys, no_work):
    """A line copied in (or another label of the same runs' folder) was simulated twice into one folder, scored
    and ranked against itself and its runs counted twice in the controller fit, without a word."""
    with open(measured / "compare.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    rows.append(dict(rows[0], config=label))
    with open(measured / "compare.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    out = tmp_path / "out"
    line = _resimulate(capsys, measured, out)
    assert line == (f"ampsim: error: {measured / 'compare.csv'}: line {len(rows) + 1} ({label}): the configuration of "
                    "line 2 again (its runs' folder runs/workers=1_mak=1); a compare measures each once")
    assert not out.exists()


def test_resimulate_refuses_a_folder_named_like_the_table(measured, tmp_path, capsys, no_work):
    """It was taken for no table: the rows were read from runs/ as on a dedicated machine, with a warning."""
    (measured / "compare.csv").unlink()
    (measured / "compare.csv").mkdir()
    out = tmp_path / "out"
    line = _resimulate(capsys, measured, out)
    assert line == f"ampsim: error: {measured / 'compare.csv'}: is a directory, not a file"
    assert not out.exists()


def test_resimulate_refuses_a_placement_beyond_the_workers(measured, tmp_path, capsys, no_work):
    f = measured / "runs" / "workers=2_mak=4" / "multicore" / "placement.json"
    placement = json.loads(f.read_text())
    placement["strategy_output"]["cat"] = 5
    f.write_text(json.dumps(placement))
    line = _resimulate(capsys, measured, tmp_path / "out")
    assert f"{f}: strategy_output.cat: expected a worker from 0 to 1" in line


def test_resimulate_refuses_a_placement_that_is_not_the_measured_runs(measured, tmp_path, capsys, no_work):
    """A placement.json naming nodes other than the run's was refused as the run's config.toml's placement.map
    (the wrong file), once simulating; one edited to another split of the same nodes was simulated and scored
    against measurements of the other split without a word."""
    f = measured / "runs" / "workers=2_mak=4" / "multicore" / "placement.json"
    original = json.loads(f.read_text())
    for edit in ({"tok": 0}, {**original["strategy_output"], "cell": 1 - original["strategy_output"]["cell"]}):
        f.write_text(json.dumps({**original, "strategy_output": edit}))
        line = _resimulate(capsys, measured, tmp_path / "out")
        assert f"{f}: strategy_output: not the placement the run measured with" in line
        assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("edit", ["another-node", "a-node-left-out"])
def test_resimulate_refuses_a_placement_of_other_nodes_before_it_simulates(measured, tmp_path, capsys, no_work, edit):
    """Where the summary records no placement (runs measured before it did), a placement.json naming other nodes
    than the model's was refused only when its configuration was simulated, after those before it, into the
    output folder; and then as the run's config.toml's placement.map, which compare wrote itself, not as the
    damaged placement.json."""
    for summary in sorted(measured.glob("runs/*/multicore*/summary.json")):
        summary.write_text(json.dumps({k: v for k, v in json.loads(summary.read_text()).items() if k != "placement"}))
    f = sorted(measured.glob("runs/*/multicore/placement.json"))[-1]  # the last configuration's
    placement = json.loads(f.read_text())
    nodes = placement["strategy_output"]
    placement["strategy_output"] = {**nodes, "no_such_node": 0} if edit == "another-node" else dict(
        list(nodes.items())[1:])
    f.write_text(json.dumps(placement))
    line = _resimulate(capsys, measured, tmp_path / "out")
    config = f.with_name("config.toml")
    assert line == {"another-node": f"ampsim: error: {f}: strategy_output.no_such_node: names no node of the model of "
                                    f"{config} (nodes: h0, tok, emb, loop, cat, cell, next, more, out, loss, ... (11 in "
                                    "all))",
                    "a-node-left-out": f"ampsim: error: {f}: strategy_output: no worker for node(s) {list(nodes)[0]} of "
                                       f"the model of {config}"}[edit]
    assert not (tmp_path / "out").exists()


def test_resimulate_refuses_a_table_whose_workers_are_not_its_runs(measured, tmp_path, capsys, no_work):
    """A row's workers decide the simulated chips: one edited (or mixed up) to 3 had its two-worker runs simulated
    on three chips without a word."""
    _edit_table(measured, 3, "workers", "3")
    line = _resimulate(capsys, measured, tmp_path / "out")
    assert line.startswith(f"ampsim: error: {measured / 'compare.csv'}: configuration 'workers=2,mak=1': 3 worker(s), "
                           f"but its measured run {measured / 'runs' / 'workers=2_mak=1' / 'multicore'}")
    assert "ran on 2" in line and not (tmp_path / "out").exists()


SUMMARY = Path("runs") / "workers=2_mak=1" / "multicore-2" / "summary.json"


SUMMARY_CASES = [
    ([1, 2], "not a run summary (a JSON list, expected an object)"),
    ("text", "not a run summary (a JSON str, expected an object)"),
    ({"instances": "300"}, "instances: expected a non-negative number, got '300'"),
    ({"messages_processed": None}, "messages_processed: expected a non-negative number, got nothing"),
    ({"controller_cpu_s": [1]}, "controller_cpu_s: expected a non-negative number"),
    ({"throughput_instances_per_s": True}, "throughput_instances_per_s: expected a non-negative number, got True"),
    ({"time_s": "slow"}, "time_s: expected a non-negative number"),
    ({"network_messages": "many"}, "network_messages: expected a non-negative number"),
    ({"n_workers": 0}, "n_workers: expected a whole number >= 1, got 0"),
    ({"worker_cpu_s": "abc"}, "worker_cpu_s: expected a list of numbers, got 'abc'"),
    ({"worker_cpu_s": [1.0, "x"]}, "worker_cpu_s: expected a non-negative number, got 'x'"),
    ({"time_to_target": {"time_s": "x"}}, "time_to_target.time_s: expected a non-negative number"),
    ({"time_to_target": 3}, "time_to_target: expected an object (or null), got 3"),
    ({"staleness": [1]}, "staleness: expected an object, got [1]"),
    ({"staleness": {"cell": 3}}, "staleness.cell: expected an object, got 3"),
    ({"staleness": {"cell": {"count": "x", "mean": 0.0}}}, "staleness.cell.count: expected a non-negative number"),
    ({"staleness": {"cell": {"count": 3, "mean": "x"}}}, "staleness.cell.mean: expected a non-negative number"),
    ({"completion_lag_s": {"return": 5}}, "completion_lag_s.return: expected an object, got 5"),
]


@pytest.mark.parametrize("change, expected", SUMMARY_CASES,
                         ids=[f"{i}-{e.split(':')[0].split(' (')[0].replace(' ', '-')}"
                              for i, (_, e) in enumerate(SUMMARY_CASES)])
def test_resimulate_refuses_a_run_summary_with_values_it_cannot_use(change, expected, measured, tmp_path, capsys,
                                                                    no_work):
    f = measured / SUMMARY
    summary = json.loads(f.read_text())
    f.write_text(json.dumps(dict(summary, **change) if isinstance(change, dict) else change))
    line = _resimulate(capsys, measured, tmp_path / "out")
    assert f"{f}: {expected}" in line


@pytest.mark.parametrize("text, expected", [("{not json", "invalid JSON (Expecting property name"),
                                             ("[" * 100_000, "invalid JSON (nested too deep)")], ids=["text", "deep"])
def test_resimulate_refuses_a_run_summary_that_is_not_json(text, expected, measured, tmp_path, capsys, no_work):
    f = measured / SUMMARY
    f.write_text(text)
    assert f"{f}: {expected}" in _resimulate(capsys, measured, tmp_path / "out")


def test_resimulate_refuses_a_run_summary_without_its_metric(measured, tmp_path, capsys, no_work):
    f = measured / SUMMARY
    summary = json.loads(f.read_text())
    del summary["final_metric"]
    f.write_text(json.dumps(summary))
    assert f"{f}: final_metric: missing" in _resimulate(capsys, measured, tmp_path / "out")


def test_resimulate_refuses_a_configuration_without_a_measured_summary(measured, tmp_path, capsys, no_work):
    d = measured / "runs" / "workers=2_mak=4"
    for f in d.glob("multicore*/summary.json"):
        f.unlink()
    line = _resimulate(capsys, measured, tmp_path / "out")
    assert f"{d / 'multicore' / 'summary.json'}: no such file" in line


@pytest.mark.parametrize("last", ["predict_delay", "max_instances", "staleness_nodes"])
def test_resimulate_refuses_a_run_config_cut_at_the_end_of_a_line(measured, tmp_path, capsys, no_work, last):
    """A run's config.toml cut at a line's end is TOML still, the keys after the cut taken at their defaults: cut
    after train.predict_delay (max_instances 300 lost), its configuration was simulated over the whole data set (1,254
    instances, 0.82 accuracy) and scored against the 300 measured ones (0.55) without a word. What the config says the
    run trained is checked against what its summaries say it did."""
    f = measured / "runs" / "workers=2_mak=4_placement=greedy" / "multicore" / "config.toml"
    lines = f.read_text().splitlines(keepends=True)
    f.write_text("".join(lines[:next(i for i, ln in enumerate(lines) if ln.startswith(f"{last} =")) + 1]))
    line = _resimulate(capsys, measured, tmp_path / "out")
    summary = f.parent / "summary.json"
    lost = ("trains 1254 instances an epoch, but its measured run {} trained 300 in 1 epoch(s)" if last != "max_instances"
            else "train.target: nothing, but its measured run {} had 0.95")  # (max_instances kept: target lost)
    assert line == (f"ampsim: error: {f}: {lost.format(summary)}; not the configuration it was measured with (cut "
                    "short? compare writes it whole)")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("key, recorded, said", [
    ("epochs", {"epochs": 2, "instances": 600}, "train.epochs: 1, but its measured run {} ran 2 epochs"),
    ("experiment", {"experiment": "other"}, "experiment.name: 'list_reduction', but its measured run {} had 'other'"),
])
def test_resimulate_refuses_a_run_config_that_does_not_say_what_its_run_recorded(measured, tmp_path, capsys, no_work,
                                                                                 key, recorded, said):
    """What a measured run's summary records of its configuration (experiment, task, target, at least the epochs it
    ran) is checked as read_run checks a run's: a config.toml of fewer epochs than its measured runs ran was simulated
    over those and scored against them without a word (only the instances an epoch, and the target, were checked)."""
    f = measured / "runs" / "workers=2_mak=4_placement=greedy" / "multicore" / "summary.json"
    f.write_text(json.dumps({**json.loads(f.read_text()), **recorded}))
    line = _resimulate(capsys, measured, tmp_path / "out")
    assert line == (f"ampsim: error: {f.parent / 'config.toml'}: {said.format(f)}; not the configuration it was "
                    "measured with (cut short? compare writes it whole)")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("setting", ["train.mak=16", "data.n_train=200", "model.hidden=8", 'placement.strategy="greedy"',
                                     "replicas.groups=2", "executor.workers=4", "eval.limit=10", "train={mak=16}"])
def test_resimulate_refuses_a_setting_that_changes_the_measured_run(measured, tmp_path, capsys, no_work, setting):
    """Each was simulated and scored against measurements of another run, without a word."""
    line = one_error_line(capsys, ["compare", EXP, "--resimulate", "--from", measured, "--out", tmp_path / "out",
                                   "--hardware", HW, "--set", setting])
    key = "train.mak" if setting.startswith("train={") else setting.split("=")[0]
    assert line == (f"ampsim: error: --set {key}: not with --resimulate, which scores the runs as they were "
                    "measured (it takes hardware.* what-ifs and executor.numerics); measure the changed run with "
                    "ampsim compare")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("settings", [["executor.numerics=false"], ["hardware.link.latency_s=2e-5"],
                                      ["hardware={host={controller_s_per_instance=1e-4}}", "executor.numerics=true"]])
def test_resimulate_takes_the_what_ifs_its_docs_show(measured, tmp_path, no_work, settings):
    with pytest.raises(Reached):
        main(["compare", str(EXP), "--resimulate", "--from", str(measured), "--out", str(tmp_path / "out"),
              "--hardware", str(HW), *(a for s in settings for a in ("--set", s))])


def test_resimulate_reads_the_measured_folder_as_it_is(measured, tmp_path, no_work):
    """The copy of the measured folder passes every check: the refusals above are the edits' alone."""
    with pytest.raises(Reached):
        main(["compare", str(EXP), "--resimulate", "--from", str(measured), "--out", str(tmp_path / "out"),
              "--hardware", str(HW)])


# -- a compare's --out holding what is not an earlier compare of the same experiment -------------------------
MNIST = ROOT / "results" / "compare" / "mnist_mlp"


def _compare(capsys, exp: Path, out: Path) -> str:
    return one_error_line(capsys, ["compare", exp, "--out", out, "--hardware", HW, "--configs", "mak=1"])


def test_compare_refuses_an_out_holding_another_experiments_compare(tmp_path, capsys, no_work):
    """It swapped its own compare in over MNIST's seven measured configurations, deleting them."""
    other = Path(shutil.copytree(MNIST, tmp_path / "B", ignore=shutil.ignore_patterns("*.png", "metrics.csv")))
    before = snapshot(other)
    line = _compare(capsys, EXP, other)
    assert line.endswith(f"{other}: holds the compare of another experiment ('mnist_mlp'), which a compare of "
                         "'list_reduction' would delete; give --out a folder of its own")
    assert snapshot(other) == before


@pytest.mark.parametrize("text, got", [("experiment = 5\n", "experiment: expected the name of the run's experiment, "
                                                             "got int 5"),
                                       ("experiment = [1]\n", "experiment: expected the name of the run's "
                                                               "experiment, got list [1]"),
                                       ("[experiment]\nname = [1]\n", "experiment.name: expected the name of the "
                                                                       "run's experiment, got list [1]")],
                         ids=["int", "list", "name-list"])
def test_compare_refuses_an_out_whose_run_names_no_experiment(text, got, measured, capsys, no_work):
    """An earlier compare's run config.toml with a wrong-typed experiment table or name failed with a traceback."""
    f = measured / "runs" / "workers=2_mak=4" / "multicore" / "config.toml"
    f.write_text(text)
    before = snapshot(measured)
    line = _compare(capsys, EXP, measured)
    assert line == (f"ampsim: error: {f}: {got}; a compare into {measured} would delete this run, whose experiment "
                    "cannot be told: give --out a folder of its own")
    assert snapshot(measured) == before


@pytest.mark.parametrize("resimulate", [False, True], ids=["compare", "resimulate"])
def test_compare_refuses_an_out_whose_runs_folder_is_not_a_compares(measured, tmp_path, capsys, no_work, resimulate):
    """A project folder's own runs/ was replaced whole, and so deleted."""
    proj = tmp_path / "proj"
    (proj / "runs" / "my_important_run").mkdir(parents=True)
    (proj / "runs" / "my_important_run" / "notes.txt").write_text("precious\n")
    before = snapshot(proj)
    line = _resimulate(capsys, measured, proj) if resimulate else _compare(capsys, EXP, proj)
    assert f"{proj}: holds runs/my_important_run, which is not a compare's configuration" in line
    assert snapshot(proj) == before


@pytest.mark.parametrize("resimulate, name", [(False, "compare.csv"), (False, "compare.png"), (True, "compare.png")],
                         ids=["compare-csv", "compare-png", "resimulate-png"])
def test_compare_refuses_an_out_whose_table_is_not_a_compares(measured, tmp_path, capsys, no_work, resimulate, name):
    """Any compare.csv (or figure) was taken for an earlier compare, even with no runs/ beside it, and replaced."""
    mine = tmp_path / "c10"
    mine.mkdir()
    (mine / name).write_text("hi\n")
    before = snapshot(mine)
    line = _resimulate(capsys, measured, mine) if resimulate else _compare(capsys, EXP, mine)
    assert line.endswith(f"{mine}: holds a {name} but no runs/ beside it, so not an earlier compare's; a compare "
                         "there would overwrite it; give --out a folder of its own")
    assert snapshot(mine) == before


def test_resimulate_refuses_an_out_holding_another_experiments_resimulation(measured, tmp_path, capsys, no_work):
    sim = tmp_path / "B" / "runs" / "workers=1_mak=1" / "sim"
    sim.mkdir(parents=True)
    (sim / "config.toml").write_text((MNIST / "runs" / "workers=1_mak=1" / "multicore" / "config.toml").read_text())
    before = snapshot(tmp_path / "B")
    assert "holds the compare of another experiment ('mnist_mlp')" in _resimulate(capsys, measured, tmp_path / "B")
    assert snapshot(tmp_path / "B") == before


def test_a_second_calibrate_into_the_same_model_is_refused_at_once(tmp_path, capsys, no_work):
    """Two at once measured each other and the last writer won, possibly one's model beside the other's
    measurements."""
    from ampsim.locks import lock_file, unlock_file

    out = tmp_path / "m.toml"
    lock = tmp_path / "m.toml.lock"
    fd = lock_file(lock)
    try:
        line = one_error_line(capsys, ["calibrate", "--quick", "--out", out])
    finally:
        unlock_file(fd, lock)
    assert line == f"ampsim: error: {out}: another calibration (pid {os.getpid()}) is measuring into it now; wait for it"
    assert not out.exists()


def _compare_while_calibrating(tmp_path: Path, monkeypatch, capsys) -> str:
    """The error line of a compare without a model while another process holds calibrate's lock on it."""
    import ampsim.hardware.local as local
    from ampsim.locks import lock_file, unlock_file

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(local, "local_model_path", lambda: None)
    (tmp_path / "hardware_models").mkdir()
    lock = tmp_path / "hardware_models" / "local_cpu.toml.lock"
    fd = lock_file(lock)
    try:
        return one_error_line(capsys, ["compare", EXP, "--workers", "2", "--out", tmp_path / "cmp"])
    finally:
        unlock_file(fd, lock)


def test_a_compare_calibrating_first_takes_the_calibrations_lock(tmp_path, monkeypatch, capsys, no_work):
    """Without a model, compare calibrated into hardware_models/local_cpu.toml without the lock ampsim calibrate
    holds, so a calibrate (or another compare) at once could leave one's model beside the other's measurements.
    It is refused at once, as a second calibrate is, in a line that says what to do: two compares at once that
    both calibrated first left the second with calibrate's "wait for it", not that a re-run uses the model."""
    line = _compare_while_calibrating(tmp_path, monkeypatch, capsys)
    assert line == (f"ampsim: error: {thismachine.DEFAULT_OUT}: another calibration (pid {os.getpid()}) is measuring "
                    "into it now; wait for it to finish, then run this compare again: it will use the model that "
                    "calibration writes")
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["hardware_models"]


def test_a_compare_refused_the_calibrations_lock_never_said_it_was_calibrating(tmp_path, monkeypatch, capsys, caplog,
                                                                                 no_work):
    """It warned "running `ampsim calibrate`" and then was refused: the warning came before the lock."""
    with caplog.at_level(logging.INFO, logger="ampsim"):
        _compare_while_calibrating(tmp_path, monkeypatch, capsys)
    assert not [r.getMessage() for r in caplog.records if "calibrate" in r.getMessage()]


@pytest.mark.parametrize("setting", ["executor.workers=8", 'executor.kind="sim"'])
def test_compare_refuses_a_setting_it_makes_itself(tmp_path, capsys, no_work, setting):
    """Both were overridden without a word (a compare of 1,000 workers measured the default count)."""
    line = one_error_line(capsys, ["compare", EXP, "--out", tmp_path / "c", "--hardware", HW, "--configs", "mak=1",
                                   "--set", setting])
    assert f"--set {setting.split('=')[0]}: compare sets it itself (" in line
    assert not (tmp_path / "c").exists()


@pytest.mark.parametrize("configs", ["executor.kind=reference", "mak=1;executor.kind=sim", 'mak=4,executor={kind="sim"}'])
def test_compare_refuses_a_configuration_that_sets_the_executor_kind(tmp_path, capsys, no_work, configs):
    """--set refused it, --configs took it: a TypeError traceback in the message count (reference: no placement),
    or an error about a hardware file the user never asked for (sim)."""
    line = one_error_line(capsys, ["compare", EXP, "--out", tmp_path / "c", "--hardware", HW, "--configs", configs])
    label = configs.split(";")[-1]
    assert line == (f"ampsim: error: --configs {label!r}: executor.kind: compare sets it itself (it runs each "
                    "configuration on the multicore executor and the simulator)")
    assert not (tmp_path / "c").exists()


@pytest.mark.parametrize("table", ["executor={workers=2}", "executor={numerics=false}"])
def test_compare_refuses_a_configuration_that_replaces_the_executor_table(tmp_path, capsys, no_work, table):
    """A table replaces the table, and with it the multicore executor compare sets: a TypeError traceback in the
    message count (the reference executor has no placement)."""
    line = one_error_line(capsys, ["compare", EXP, "--out", tmp_path / "c", "--hardware", HW, "--configs",
                                   f"mak=1;mak=4,{table}"])
    assert line == (f"ampsim: error: --configs 'mak=4,{table}': executor={{...}} replaces the whole [executor] table, "
                    "the multicore executor compare sets in it too; give its keys one by one (executor.numerics=false, "
                    "workers=2)")
    assert not (tmp_path / "c").exists()


def test_compare_refuses_a_configuration_of_workers_0(tmp_path, capsys, no_work):
    """It measured one worker per core under the label "workers=0", a row no reader could tell apart."""
    from ampsim.hardware.local import default_workers

    line = one_error_line(capsys, ["compare", EXP, "--out", tmp_path / "c", "--hardware", HW, "--configs",
                                   "mak=1;workers=0,mak=4"])
    assert line == (f"ampsim: error: --configs 'workers=0,mak=4': workers=0 (one per core in an experiment file) names "
                    f"no count for the row: give workers=N (this machine: {default_workers()})")
    assert not (tmp_path / "c").exists()


def test_compare_refuses_the_executor_kind_set_inside_a_table(tmp_path, capsys, no_work):
    line = one_error_line(capsys, ["compare", EXP, "--out", tmp_path / "c", "--hardware", HW, "--configs", "mak=1",
                                   "--set", 'executor={kind="sim"}'])
    assert "--set executor.kind: compare sets it itself (" in line


@pytest.mark.parametrize("resimulate", [False, True], ids=["compare", "resimulate"])
def test_compare_refuses_an_experiment_name_that_leaves_its_default_folder(tmp_path, capsys, no_work, monkeypatch,
                                                                          resimulate):
    """Without --out (--from), results/compare/../../escaped_cmp was written (read) outside results/, a name
    that ampsim train refuses in one line; the --set that gave it is named, not the file, which holds no such name."""
    work = tmp_path / "a" / "b"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    args = ["compare", EXP, "--hardware", HW, "--set", 'experiment.name="../../escaped_cmp"',
            *(["--resimulate"] if resimulate else ["--configs", "mak=1"])]
    line = one_error_line(capsys, args)
    assert line.startswith("ampsim: error: --set experiment.name: '../../escaped_cmp' cannot name a folder in "
                           "results/compare/: use one plain name")
    assert line.endswith("give the measured compare folder with --from" if resimulate else
                         "give the output folder with --out")
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["a", "b"]


def test_a_compare_that_fails_before_writing_leaves_no_empty_staging_folder(tmp_path):
    """Over an earlier compare it stages in <out>.partial/, which a failure before any output left empty."""
    from ampsim.calibration.outfolder import into_folder
    from ampsim.results import partial_path

    out = tmp_path / "c"
    out.mkdir()
    (out / "compare.csv").write_text("config\n")

    def fail(folder):
        raise RuntimeError("a placement that cannot be made")

    with pytest.raises(RuntimeError):
        into_folder(out, fail)
    assert not partial_path(out).exists() and (out / "compare.csv").read_text() == "config\n"


@pytest.mark.parametrize("configs", ["train.lr=1;train.lr=1.0", 'mak=1,placement.strategy="greedy";mak=1,strategy=greedy',
                                     "mak=2;mak=2", "mak=2;train.mak=2", "mak=2,workers=2;workers=2,mak=2"])
def test_compare_refuses_two_configurations_of_one_resolved_run(tmp_path, capsys, no_work, configs):
    """Given twice, or written apart (an integer as a float, a short key and its long name, in another order),
    they measured one run twice into one runs/ folder, the second over the first, ranked against each other."""
    line = one_error_line(capsys, ["compare", EXP, "--out", tmp_path / "c", "--hardware", HW, "--configs", configs])
    assert "given twice" in line and not (tmp_path / "c").exists()


def test_compare_checks_many_configurations_for_one_given_twice_in_linear_time(tmp_path, monkeypatch, no_work):
    """Each configuration was compared with every one before it, each comparison resolving both to dicts again:
    300 configurations took 7 s before anything else was checked, 3,000 minutes (each is measured, so none is
    refused for their number). Counted, not timed: the dicts made."""
    from ampsim.sections import Config

    real, made = Config.to_dict, []

    def to_dict(self):
        made.append(1)
        return real(self)

    def reached(*args, **kwargs):
        raise Reached

    monkeypatch.setattr(Config, "to_dict", to_dict)
    monkeypatch.setattr(thismachine, "model_of_this_machine", reached)  # (what comes after the configurations' checks)
    with pytest.raises(Reached):
        cmp.run_compare(EXP, configs=";".join(f"mak={i}" for i in range(1, 201)), hardware=HW, out=tmp_path / "c")
    assert len(made) < 5 * 200


# -- compare: the measurements beside the model ------------------------------------------------------------
def test_compare_refuses_measurements_two_calibrated_models_beside_each_other_share(tmp_path, capsys, monkeypatch,
                                                                                     no_work):
    """compare reads a model's measurements (its sidecar) beside it, named by its name less the suffix: with
    the calibrated models cal/m.toml and cal/m (calibrate refuses to make that pair, a copy by hand does not)
    either read cal/m.calibration.json, whichever model's measurements it held. Models of one name in two
    folders each read their own."""
    from ampsim.hardware.parse import load_system

    monkeypatch.setattr(cal, "machine_description", lambda: load_system(HW).description)  # (HW: this machine's)
    monkeypatch.setattr(cmp, "_compare", lambda *args: (_ for _ in ()).throw(Reached))
    for folder, speed in (("a", 1.5), ("b", 2.5)):
        (tmp_path / folder).mkdir()
        shutil.copy(HW, tmp_path / folder / "m.toml")
        measured = json.loads(sidecar(HW).read_text()) | {"speed_index_s": speed}
        sidecar(tmp_path / folder / "m.toml").write_text(json.dumps(measured))
    assert [cmp._calibration(tmp_path / f / "m.toml")["speed_index_s"] for f in "ab"] == [1.5, 2.5]
    args = ["compare", EXP, "--workers", "2", "--out", tmp_path / "out", "--hardware"]
    with pytest.raises(Reached):  # (past every check, to measuring)
        main([str(a) for a in [*args, tmp_path / "a" / "m.toml"]])
    shutil.copy(HW, tmp_path / "a" / "m")  # another calibrated model, whose sidecar would be the same file
    before = snapshot(tmp_path)
    for model, other in (("m.toml", "m"), ("m", "m.toml")):
        line = one_error_line(capsys, [*args, tmp_path / "a" / model])
        assert line == (f"ampsim: error: {tmp_path / 'a' / 'm.calibration.json'}: the measurements of "
                        f"{tmp_path / 'a' / model} or of the calibrated model {tmp_path / 'a' / other} beside it (a "
                        "model's measurements are named by its name less the suffix), which compare cannot tell; "
                        "give each calibrated model a name of its own (its measurements renamed with it)")
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("model, warned", [(ROOT / "hardware_models" / "ring4.toml", True), (HW, False)])
def test_resimulate_warns_of_a_hand_written_model(measured, tmp_path, no_work, caplog, model, warned):
    """It scored the CPU's measurements against an accelerator's model without a word (compare refuses one)."""
    with caplog.at_level(logging.WARNING, logger="ampsim.calibration.rescore"), pytest.raises(Reached):
        main(["compare", str(EXP), "--resimulate", "--from", str(measured), "--out", str(tmp_path / "r"),
              "--hardware", str(model)])
    assert ("a hand-written model" in caplog.text) == warned


def test_resimulate_refuses_an_out_inside_a_compares_staging_folder(measured, tmp_path, capsys, no_work):
    """--from C.partial (a compare that did not finish) wrote its table into C.partial/resimulated, which the next
    compare into C deletes with the staging folder, without a word."""
    from ampsim.folders import STAGING_MARK

    (measured / STAGING_MARK).touch()
    line = one_error_line(capsys, ["compare", EXP, "--resimulate", "--from", measured, "--hardware", HW])
    assert line.startswith(f"ampsim: error: {measured / 'resimulated'}: inside {measured.resolve()}, the staging folder")
    assert not (measured / "resimulated").exists()
    with pytest.raises(Reached):  # elsewhere it goes on
        main(["compare", str(EXP), "--resimulate", "--from", str(measured), "--out", str(tmp_path / "r"),
              "--hardware", str(HW)])


@pytest.mark.parametrize("inside", [".", "new", "new/deeper"])
def test_compare_refuses_an_out_inside_a_compares_staging_folder(measured, capsys, no_work, inside):
    """--out C.partial/new (C.partial: a compare into C that did not finish) measured a whole compare there, and
    the next compare into C deleted it with its staging folder; only --resimulate refused it."""
    from ampsim.folders import STAGING_MARK

    (measured / STAGING_MARK).touch()
    before = snapshot(measured)
    out = measured / inside
    line = _compare(capsys, EXP, out)
    assert line == (f"ampsim: error: {out}: inside {measured.resolve()}, the staging folder of a run or compare that "
                    "did not finish, which the next one into its folder deletes (with what is written there); give "
                    "--out elsewhere")
    assert snapshot(measured) == before


@pytest.mark.parametrize("kind", ["folder", "fifo", "missing"])
def test_resimulate_says_what_a_hardware_model_that_is_no_file_is(measured, tmp_path, capsys, no_work, kind):
    """A folder or a pipe given as --hardware was "no such hardware model"; compare itself says what it is."""
    model = tmp_path / "hw.toml"
    if kind == "folder":
        model.mkdir()
    elif kind == "fifo":
        os.mkfifo(model)
    line = one_error_line(capsys, ["compare", EXP, "--resimulate", "--from", measured, "--out", tmp_path / "r",
                                   "--hardware", model])
    assert line == f"ampsim: error: {model}: " + {
        "folder": "is a directory, not a file", "fifo": "not a regular file (a pipe, socket or device)",
        "missing": "no such hardware model (give --hardware: the model of the machine the measurements were taken "
                   "on)"}[kind]
