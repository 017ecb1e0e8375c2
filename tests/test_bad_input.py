"""Bad and hostile input, as a careless or adversarial user gives it: every case ends in exit status 2 and
exactly one stderr line ``ampsim: error: …`` (no traceback), and finished results are left byte for byte.

A module fixture trains a small run folder and writes a sweep table into ``finished/``; the working
folder of every case is ``finished/cwd`` (so a default ``results/…`` folder would land there too), and
after every case the whole ``finished/`` tree must be byte-identical to before. Cases run the CLI in
this process (``ampsim.cli.main``); a few run it as a subprocess, where a real stderr or another user
(``nobody``, for unreadable files: root reads everything) is needed.
"""

from __future__ import annotations

import errno
import gzip
import os
import resource
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from ampsim.cli import main
from ampsim.errors import ConfigError, RunError

ROOT = Path(__file__).resolve().parents[1]
EXP = ROOT / "experiments"
BLOBS = EXP / "blobs_mlp.toml"
SMALL = ["--no-progress", "--set", "data.n_train=200", "--set", "data.n_test=50"]


def snapshot(root: Path) -> dict[str, bytes | None]:
    """Every file (its bytes) and folder (None) under ``root``."""
    return {str(p.relative_to(root)): (p.read_bytes() if p.is_file() else None) for p in sorted(root.rglob("*"))}


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    """``finished/run``: a finished run; ``finished/sweep``: a finished sweep table; ``finished/cwd``."""
    from ampsim.tables import table_row, write_table

    root = tmp_path_factory.mktemp("finished")
    assert main(["train", str(BLOBS), "--out", str(root / "run"), *SMALL, "--set", "train.epochs=2"]) == 0
    shutil.copytree(root / "run", root / "sweep" / "p1")
    write_table(root / "sweep", [table_row({"train.lr": 0.003}, root / "sweep" / "p1", None, "p1")], ["train.lr"],
                {"name": "fake", "keys": ["train.lr"]})
    (root / "cwd").mkdir()
    return root


@pytest.fixture(scope="module")
def bad(tmp_path_factory) -> Path:
    """Bad inputs of every kind, side by side."""
    b = tmp_path_factory.mktemp("bad")
    (b / "bin.toml").write_bytes(b"\x00\xff\xfe\x01binary\x89PNG")
    (b / "latin.toml").write_bytes('[experiment]\nname = "café"\n'.encode("latin-1"))
    (b / "bom.toml").write_bytes(b"\xef\xbb\xbf" + BLOBS.read_bytes())  # as a Windows editor may save it
    (b / "utf16.toml").write_bytes(BLOBS.read_text().encode("utf-16"))  # (with its byte-order mark)
    (b / "invalid.toml").write_text("[experiment\nname = 1\n")
    (b / "task.toml").write_text('[experiment]\ntask = "nope"\n')
    (b / "empty.toml").write_text("# nothing yet\n")
    (b / "adir").mkdir()
    os.mkfifo(b / "fifo.toml")
    (b / "afile").write_text("a plain file\n")
    ring4 = (ROOT / "hardware_models" / "ring4.toml").read_text()
    (b / "hw_unknown.toml").write_text(ring4.replace("[link]\n", "[link]\nbogus = 1\n"))
    (b / "hw_type.toml").write_text(ring4.replace("latency_s = 1.0e-6", 'latency_s = "fast"'))
    (b / "hw_negative.toml").write_text(ring4.replace("memory_bytes = 9.0e8", "memory_bytes = -1"))
    (b / "notrun" / "sub").mkdir(parents=True)
    (b / "notrun" / "notes.txt").write_text("mine\n")
    (b / "blocked.partial").write_text("in the way\n")
    big = f'[sweep]\nexperiment = "{BLOBS}"\n'
    (b / "text_y.toml").write_text(big + '[grid]\n"train.lr" = [0.1, 0.2]\n[[figure]]\nname = "f"\nkind = "xy"\n'
                                   'x = "train.lr"\ny = "metric"\n')
    (b / "huge_repeats.toml").write_text(big + 'repeats = 100000000\n[grid]\n"train.lr" = [0.1, 0.2]\n')
    axes = "".join(f'"{k}" = {list(range(1, 11))}\n' for k in ("train.mak", "train.muf", "train.epochs",
                                                                "data.n_train", "data.n_test", "data.batch"))
    (b / "huge_grid.toml").write_text(big + "[grid]\n" + axes)
    (b / "points" / "p1").mkdir(parents=True)  # a point of another sweep, whose table was never written
    (b / "points" / "p1" / "point.json").write_text('{"point_id": "p1", "sweep": "other"}\n')
    (b / "m.calibration.json").mkdir()
    (b / "fig.png").mkdir()
    (b / "badrun").mkdir()
    (b / "badrun" / "metrics.csv").write_bytes(b"\xff\xfe\x00\x00garbage")
    (b / "badtable").mkdir()
    (b / "tdir" / "compare.csv").mkdir(parents=True)
    (b / "badtable" / "table.csv").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    vec = " ".join(["0.1"] * 300)
    blob = gzip.compress(f"the {vec}\n".encode() * 3000)
    (b / "vec_cut.gz").write_bytes(blob[: len(blob) // 2])
    (b / "vec_corrupt.gz").write_bytes(b"\x1f\x8b" + b"\xff" * 64)
    # dataset roots (AMPSIM_DATA): a user-supplied QM9 file is read unverified, so its content is what counts
    records = gzip.compress(b"[" + b"{}, " * 2000 + b"{}]")
    for name, content in {"q_bin": b"\x00\xff\xfe\x01binary", "q_cut": records[: len(records) // 2],
                          "q_corrupt": b"\x1f\x8b" + b"\xff" * 40, "q_latin": '["café"]'.encode("latin-1")}.items():
        (b / name / "qm9").mkdir(parents=True)
        (b / name / "qm9" / "molecules_train.json").write_bytes(content)
    (b / "q_dir" / "qm9" / "molecules_train.json").mkdir(parents=True)
    (b / "to_nothing").symlink_to("nothing")  # data roots that are links: to nothing, a loop, into a loop
    (b / "loop").symlink_to("loop")
    (b / "loop_a").symlink_to("loop_b")
    (b / "loop_b").symlink_to("loop_a")
    (b / "m_dir" / "mnist" / "train-images-idx3-ubyte.gz").mkdir(parents=True)
    (b / "m_junk" / "mnist").mkdir(parents=True)
    (b / "m_junk" / "mnist" / "train-images-idx3-ubyte.gz").write_bytes(b"\x1f\x8bjunk")
    # integers of more digits than Python converts (4,300): a traceback from every reader of TOML and JSON
    (b / "long_int.toml").write_text(f'[experiment]\ntask = "mlp"\n[train]\nepochs = {"1" * 5000}\n')
    (b / "hw_long_int.toml").write_text(ring4.replace("[link]\n", f"[link]\nlatency_s = {'1' * 5000}\n", 1))
    (b / "q_long" / "qm9").mkdir(parents=True)
    (b / "q_long" / "qm9" / "molecules_train.json").write_text(f"[{'1' * 5000}]")
    (b / "longrun").mkdir()
    (b / "longrun" / "metrics.csv").write_text("epoch,time_s,test_accuracy\n1,0.5,0.3\n")
    (b / "longrun" / "summary.json").write_text(f'{{"epochs": {"1" * 5000}}}')
    return b


@pytest.fixture
def in_cwd(finished, monkeypatch):
    monkeypatch.chdir(finished / "cwd")
    monkeypatch.setenv("AMPSIM_OFFLINE", "1")
    before = snapshot(finished)
    yield finished
    assert snapshot(finished) == before, "finished results changed"


def one_error_line(capsys, argv: list[str], code: int = 2) -> str:
    """Run the CLI in-process; assert exit ``code`` and exactly one ``ampsim: …`` line on stderr."""
    rc = main([str(a) for a in argv])
    err = capsys.readouterr().err
    assert rc == code, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("ampsim: error: " if code == 2 else "ampsim: interrupted"), lines[0]
    return lines[0]


T = ["train", str(BLOBS)]
SST = ["train", str(EXP / "sst_treelstm.toml"), "--no-progress", "--out", "{tmp}/sst", "--set", "data.limit_train=20",
       "--set", "data.limit_test=10", "--set"]
NAME = [*T, "--no-progress", "--set"]
HW = ["--executor", "sim", "--hardware"]
#: (id, argv ({bad}, {run}, {sweep}, {tmp} filled in), AMPSIM_DATA ({bad} filled in) or None, expected part)
CASES = [
    # experiment, hardware and sweep files that are not TOML text, or not there
    ("exp-binary", ["train", "{bad}/bin.toml"], None, "bin.toml: not a UTF-8 text file"),
    ("exp-latin1", ["train", "{bad}/latin.toml"], None, "latin.toml: not a UTF-8 text file"),
    # a byte-order mark: "invalid TOML: Invalid statement (at line 1, column 1)", and "binary?" of UTF-16 text
    ("exp-utf8-bom", ["train", "{bad}/bom.toml"], None, "bom.toml: starts with a byte-order mark (BOM), which TOML "
     "does not allow; save it as UTF-8 without a BOM"),
    ("exp-utf16", ["train", "{bad}/utf16.toml"], None, "utf16.toml: UTF-16 text (it starts with a UTF-16 byte-order "
     "mark); TOML is UTF-8: save it as UTF-8"),
    ("info-utf8-bom", ["info", "{bad}/bom.toml"], None, "bom.toml: starts with a byte-order mark (BOM)"),
    ("sweep-utf16", ["sweep", "{bad}/utf16.toml"], None, "utf16.toml: UTF-16 text"),
    ("exp-directory", ["train", "{bad}/adir"], None, "adir: is a directory, not a file"),
    ("exp-missing", ["train", "{bad}/nope.toml"], None, "nope.toml: no such file"),
    ("exp-under-a-file", ["train", "{bad}/afile/x.toml"], None, "x.toml: a part of the path is a file"),
    ("exp-invalid-toml", ["train", "{bad}/invalid.toml"], None, "invalid.toml: invalid TOML"),
    ("exp-a-pipe", ["train", "{bad}/fifo.toml"], None, "fifo.toml: not a regular file"),  # reading would block
    ("exp-a-device", ["train", "/dev/zero"], None, "/dev/zero: not a regular file"),  # ... or never end
    ("hardware-a-device", [*T, *HW, "/dev/urandom"], None, "/dev/urandom: not a regular file"),
    ("exp-unknown-task", ["train", "{bad}/task.toml"], None, "task.toml: experiment.task"),
    ("exp-empty", ["train", "{bad}/empty.toml"], None, "empty.toml: an empty experiment file"),
    # a bad command line: argparse's usage and prefix replaced by the one line
    ("cli-no-command", [], None, "the following arguments are required: command; see `ampsim --help`"),
    ("cli-unknown-command", ["bogus"], None, "invalid choice: 'bogus'"),
    ("cli-missing-argument", ["train"], None, "required: experiment; see `ampsim train --help`"),
    ("cli-bad-int", [*T, "--workers", "x"], None, "--workers: invalid int value: 'x'"),
    ("cli-unknown-option", [*T, "--bogus"], None, "unrecognized arguments: --bogus; see `ampsim train --help`"),
    ("cli-unknown-sweep-option", ["sweep", EXP / "sweeps/mak_mnist.toml", "--nope"], None,
     "unrecognized arguments: --nope; see `ampsim sweep --help`"),
    # an empty path (an unset shell variable) is not the default folder, whose run it would replace
    ("train-out-empty", [*T, "--out", ""], None, "argument --out: an empty path ('')"),
    ("train-hardware-empty", [*T, "--hardware", " "], None, "argument --hardware: an empty path (' ')"),
    ("sweep-out-empty", ["sweep", EXP / "sweeps/mak_mnist.toml", "--out", ""], None, "argument --out: an empty path"),
    ("plot-out-empty", ["plot", "{run}", "--out", ""], None, "argument --out: an empty path"),
    ("keys-update-binary", ["keys", "--update", "{bad}/bin.toml"], None, "bin.toml: not UTF-8 text"),
    ("keys-update-a-pipe", ["keys", "--update", "{bad}/fifo.toml"], None, "fifo.toml: not a regular file"),
    ("keys-update-directory", ["keys", "--update", "{bad}/adir"], None, "adir: is a directory"),
    ("info-empty-path", ["info", ""], None, "argument hardware: an empty path"),
    ("info-binary", ["info", "{bad}/bin.toml"], None, "bin.toml: not a UTF-8 text file"),
    ("info-latin1", ["info", "{bad}/latin.toml"], None, "latin.toml: not a UTF-8 text file"),
    ("info-directory", ["info", "{bad}/adir"], None, "adir: is a directory"),
    ("info-missing", ["info", "{bad}/nope.toml"], None, "nope.toml: no such file"),
    ("info-invalid-toml", ["info", "{bad}/invalid.toml"], None, "invalid.toml: invalid TOML"),
    ("sweep-binary", ["sweep", "{bad}/bin.toml"], None, "bin.toml: not a UTF-8 text file"),
    ("sweep-directory", ["sweep", "{bad}/adir"], None, "adir: is a directory"),
    ("sweep-missing", ["sweep", "{bad}/nope.toml"], None, "nope.toml: no such file"),
    ("sweep-under-a-file", ["sweep", "{bad}/afile/s.toml"], None, "s.toml: a part of the path is a file"),
    ("sweep-invalid-toml", ["sweep", "{bad}/invalid.toml"], None, "invalid.toml: invalid TOML"),
    ("sweep-an-experiment", ["sweep", str(BLOBS)], None, "experiment: unknown section"),
    ("plot-binary-sweep", ["plot", "{bad}/bin.toml"], None, "bin.toml: not a UTF-8 text file"),
    ("hardware-binary", [*T, *HW, "{bad}/bin.toml"], None, "bin.toml: not a UTF-8 text file"),
    ("hardware-latin1", [*T, *HW, "{bad}/latin.toml"], None, "latin.toml: not a UTF-8 text file"),
    ("hardware-directory", [*T, *HW, "{bad}/adir"], None, "adir: is a directory"),
    ("hardware-missing", [*T, *HW, "{bad}/nope.toml"], None, "nope.toml: no such file"),
    # hardware keys
    ("hardware-unknown-key", ["info", "{bad}/hw_unknown.toml"], None, "link.bogus"),
    ("hardware-wrong-type", ["info", "{bad}/hw_type.toml"], None, "link.latency_s"),
    ("hardware-negative", ["info", "{bad}/hw_negative.toml"], None, "chip.memory_bytes"),
    ("hardware-override-negative", [*T, *HW, str(ROOT / "hardware_models/ring4.toml"), "--set",
                                    "hardware.link.latency_s=-1"], None, "link.latency_s: must be >= 0"),
    # finite but no machine: a run's time would be inf or nan (it was committed so), routes would overflow
    ("hardware-overhead-huge", [*T, *HW, str(ROOT / "hardware_models/ring4.toml"), "--set",
                                "hardware.chip.overhead_s=1e308"], None, "chip.overhead_s: must be <= 1e+09 s"),
    ("hardware-flops-subnormal", [*T, *HW, str(ROOT / "hardware_models/ring4.toml"), "--set",
                                  "hardware.chip.flops_per_s=1e-320"], None, "chip.flops_per_s: must be >= 1"),
    ("hardware-latency-huge", [*T, *HW, str(ROOT / "hardware_models/ring4.toml"), "--set",
                               "hardware.link.latency_s=1e308"], None, "link.latency_s: must be <= 1e+09 s"),
    # a slowdown of 1e308 made every time inf, and the contention model rescheduled for ever (a hang)
    ("hardware-contention-huge", [*T, *HW, str(ROOT / "hardware_models/ring4.toml"), "--set",
                                  "hardware.chip.contention_slowdown=1e308"], None,
     "chip.contention_slowdown: must be <= 1000"),
    ("hardware-packet-fraction", [*T, *HW, str(ROOT / "hardware_models/ring4.toml"), "--set",
                                  "hardware.link.packet_bytes=0.5"], None,
     "link.packet_bytes: must be 0 (whole messages) or a whole number of bytes >= 1, got 0.5"),
    ("hardware-compute-units-too-many", [*T, *HW, str(ROOT / "hardware_models/ring4.toml"), "--set",
                                        "hardware.chip.compute_units=1000000000"], None,
     "chip.compute_units: must be <= 4,096"),
    ("replica-groups-beyond-the-chips", [*T, *HW, str(ROOT / "hardware_models/ring4.toml"), "--set",
                                        "replicas.groups=65536"], None,
     "replicas.groups: 65536 groups but only 4 chip(s)"),  # at once: not after making 65,536 copies (45 s)
    ("hardware-override-unknown", [*T, *HW, str(ROOT / "hardware_models/ring4.toml"), "--set",
                                   "hardware.chip.bogus=1"], None, "bogus"),
    # dataset files (AMPSIM_DATA)
    ("qm9-binary", ["train", EXP / "qm9_ggnn.toml"], "{bad}/q_bin", "molecules_train.json: invalid JSON"),
    ("qm9-truncated-gz", ["train", EXP / "qm9_ggnn.toml"], "{bad}/q_cut", "molecules_train.json: truncated: gzip"),
    ("qm9-corrupt-gz", ["train", EXP / "qm9_ggnn.toml"], "{bad}/q_corrupt", "molecules_train.json: corrupt: bad gzip"),
    ("qm9-latin1", ["train", EXP / "qm9_ggnn.toml"], "{bad}/q_latin", "molecules_train.json: invalid JSON"),
    ("qm9-long-int", ["train", EXP / "qm9_ggnn.toml"], "{bad}/q_long", "molecules_train.json: invalid JSON (Exceeds"),
    ("qm9-directory", ["train", EXP / "qm9_ggnn.toml"], "{bad}/q_dir", "molecules_train.json: is not a regular file"),
    ("mnist-directory", ["train", EXP / "mnist_mlp.toml"], "{bad}/m_dir", "ubyte.gz: is not a regular file"),
    ("mnist-corrupt", ["train", EXP / "mnist_mlp.toml"], "{bad}/m_junk", "ubyte.gz: sha256 mismatch"),
    ("data-root-is-a-file", ["train", EXP / "mnist_mlp.toml"], "{bad}/afile",
     "train-images-idx3-ubyte.gz: {bad}/afile (the data root) is a file, not a folder; put the file there or set "
     "AMPSIM_DATA to a folder"),
    ("data-root-missing", ["train", EXP / "mnist_mlp.toml"], "{bad}/nothing",
     "{bad}/nothing: the data root does not exist (downloads are off, AMPSIM_OFFLINE=1, so nothing was fetched); "
     "set AMPSIM_DATA to a folder holding mnist/, sst/, qm9/"),
    ("data-root-a-link-to-nothing", ["train", EXP / "mnist_mlp.toml"], "{bad}/to_nothing",
     "train-images-idx3-ubyte.gz: {bad}/to_nothing (the data root) is a symbolic link that leads to nothing (to "
     "'nothing')"),
    # a loop of links was said to lead to nothing, as a link to a disk not mounted is
    ("data-root-a-link-loop", ["train", EXP / "mnist_mlp.toml"], "{bad}/loop",
     "train-images-idx3-ubyte.gz: {bad}/loop (the data root) is a symbolic link loop (to 'loop'); put the file"),
    ("data-root-in-a-link-loop", ["train", EXP / "mnist_mlp.toml"], "{bad}/loop_a",
     "train-images-idx3-ubyte.gz: {bad}/loop_a (the data root) is a symbolic link loop (to 'loop_b'); put the file"),
    # output paths
    ("train-out-a-file", [*T, "--out", "{bad}/afile"], None, "afile: is a file, not a folder"),
    ("train-out-under-a-file", [*T, "--out", "{bad}/afile/run"], None, "afile/run: cannot create: "),
    ("train-out-not-a-run", [*T, "--out", "{bad}/notrun"], None, "notrun: exists and is not a run folder"),
    ("train-out-root", [*T, "--out", "/"], None, "/: "),
    ("train-out-working-folder", [*T, "--out", "."], None, ".: holds the working folder"),
    ("train-out-name-too-long", [*T, "--out", "{tmp}/" + "x" * 300], None, "name too long"),
    ("train-out-partial-in-the-way", [*T, "--out", "{bad}/blocked"], None, "blocked.partial is in the way"),
    ("train-out-a-sweep-folder", [*T, "--out", "{sweep}"], None, "is not a run folder (it holds p1/, sweep.json"),
    ("sweep-out-a-file", ["sweep", EXP / "sweeps/mak_mnist.toml", "--out", "{bad}/afile"], None, "afile: is a file"),
    ("sweep-out-under-a-file", ["sweep", EXP / "sweeps/mak_mnist.toml", "--out", "{bad}/afile/s"], None,
     "cannot create"),
    # a sweep writes (and with --fresh deletes) only its own results
    ("sweep-figure-y-text", ["sweep", "{bad}/text_y.toml", "--check"], None,
     "figure[0].y: 'metric' is a text column of the table"),
    ("sweep-repeats-too-many", ["sweep", "{bad}/huge_repeats.toml", "--check"], None,
     "sweep.repeats: must be an integer from 1 to 50,000, got 100000000"),
    ("sweep-points-too-many", ["sweep", "{bad}/huge_grid.toml", "--check"], None,
     "1,000,000 points; a sweep has at most 50,000"),
    ("sweep-out-another-sweep", ["sweep", EXP / "sweeps/mak_mnist.toml", "--out", "{sweep}"], None,
     "holds the results of another sweep ('fake')"),
    ("sweep-fresh-another-sweep", ["sweep", EXP / "sweeps/mak_mnist.toml", "--out", "{sweep}", "--fresh"], None,
     "holds the results of another sweep ('fake')"),
    ("sweep-fresh-another-sweeps-points", ["sweep", EXP / "sweeps/mak_mnist.toml", "--out", "{bad}/points",
                                           "--fresh"], None, "holds a point of another sweep (p1/ of 'other')"),
    ("sweep-out-a-run", ["sweep", EXP / "sweeps/mak_mnist.toml", "--out", "{run}", "--fresh"], None,
     "exists and is not a folder of sweep 'mak_mnist' (it holds config.toml"),
    ("sweep-out-a-folder-of-ones-own", ["sweep", EXP / "sweeps/mak_mnist.toml", "--out", "{bad}/notrun"], None,
     "exists and is not a folder of sweep 'mak_mnist' (it holds notes.txt, sub/)"),
    ("calibrate-out-a-folder", ["calibrate", "--quick", "--out", "{bad}/adir"], None, "adir: is a folder, not a file"),
    ("calibrate-out-under-a-file", ["calibrate", "--quick", "--out", "{bad}/afile/m.toml"], None, "cannot create"),
    # "", "/" and "." were ValueError tracebacks (no name to put the measurements' sidecar beside)
    ("calibrate-out-empty", ["calibrate", "--quick", "--out", ""], None, "argument --out: an empty path"),
    ("calibrate-out-root", ["calibrate", "--quick", "--out", "/"], None, "/: is a folder, not a file"),
    ("calibrate-out-dot", ["calibrate", "--quick", "--out", "."], None, ".: is a folder, not a file"),
    ("compare-hardware-empty", ["compare", str(BLOBS), "--hardware", ""], None, "argument --hardware: an empty path"),
    ("compare-out-empty", ["compare", str(BLOBS), "--out", ""], None, "argument --out: an empty path"),
    ("calibrate-sidecar-a-folder", ["calibrate", "--quick", "--out", "{bad}/m.toml"], None,
     "m.calibration.json: is a folder"),
    ("plot-out-a-folder", ["plot", "{run}", "--out", "{bad}/fig.png"], None, "fig.png: is a folder, not a file"),
    ("plot-out-under-a-file", ["plot", "{run}", "--out", "{bad}/afile/f.png"], None, "cannot create"),
    ("plot-table-out-under-a-file", ["plot", "{sweep}", "--x", "train.lr", "--y", "throughput", "--out",
                                     "{bad}/afile/t.png"], None, "cannot create"),
    ("plot-figures-out-a-file", ["plot", EXP / "sweeps/mak_mnist.toml", "--out", "{bad}/afile"], None,
     "afile: is a file"),
    ("demo-out-a-file", ["demo", "--no-progress", "--out", "{bad}/afile"], None, "afile: is a file"),
    ("demo-out-a-run", ["demo", "--no-progress", "--out", "{run}"], None,  # it wrote inputs/, sweep/ beside it
     "run: exists and is not a demo's folder (it holds config.toml, environment.json, metrics.csv"),
    ("demo-out-a-sweep", ["demo", "--no-progress", "--out", "{sweep}"], None, "sweep: exists and is not a demo's"),
    # its inputs were written into the run before the refusal, and the run could not be run into again; the
    # refusal named <out>/sweep, which the user never gave
    ("demo-out-inside-a-run", ["demo", "--no-progress", "--out", "{run}/sub"], None,
     "sub: is inside the finished run"),
    ("compare-out-a-file", ["compare", str(BLOBS), "--out", "{bad}/afile"], None, "afile: is a file"),
    ("compare-two-experiments", ["compare", str(BLOBS), str(BLOBS)], None, "one experiment at a time"),
    ("compare-from-without-resimulate", ["compare", str(BLOBS), "--from", "{bad}/adir"], None,
     "--from: only with --resimulate"),
    ("resimulate-no-table", ["compare", str(BLOBS), "--resimulate", "--from", "{bad}/adir"], None,
     "adir/compare.csv"),
    ("resimulate-table-a-folder", ["compare", str(BLOBS), "--resimulate", "--from", "{bad}/tdir"], None,
     "compare.csv: is a directory, not a file"),
    # run names that would leave results/
    ("name-empty", [*NAME, 'experiment.name=""'], None, "experiment.name: '' cannot name a folder in results/"),
    ("name-blank", [*NAME, 'experiment.name="  "'], None, "experiment.name: '  ' cannot name"),
    ("name-dot", [*NAME, 'experiment.name="."'], None, "experiment.name: '.' cannot name"),
    ("name-dotdot", [*NAME, 'experiment.name=".."'], None, "experiment.name: '..' cannot name"),
    ("name-subfolder", [*NAME, 'experiment.name="a/b"'], None, "experiment.name: 'a/b' cannot name"),
    ("name-too-long-for-its-lock", [*NAME, f'experiment.name="{"x" * 250}"'], None,
     "is longer than 242 bytes"),  # before planning, not when the partial folder is made
    ("name-escapes", [*NAME, 'experiment.name="../../escaped"'], None, "experiment.name: '../../escaped' cannot"),
    ("name-absolute", [*NAME, 'experiment.name="/tmp/escaped"'], None, "experiment.name: '/tmp/escaped' cannot"),
    # models too big, too many workers
    ("model-huge", [*T, "--set", "model.hidden=[100000,100000]"], None, "host memory"),
    ("model-absurd", [*T, "--set", "model.hidden=[1000000000]"], None, "host memory"),
    ("workers-1000", [*T, "--executor", "multicore", "--workers", "1000"], None, "--workers: 1000 workers"),
    ("workers-100000", [*T, "--executor", "multicore", "--workers", "100000"], None, "open files"),
    ("workers-negative", [*T, "--executor", "multicore", "--workers", "-3"], None,
     "--workers: must be 0 (one per core) or more, got -3"),
    # plots of what is not there
    ("plot-missing-y", ["plot", "{run}", "--y", "nope", "--out", "{tmp}/f.png"], None, "no column 'nope' (columns: "),
    ("plot-missing-x", ["plot", "{run}", "--x", "nope", "--out", "{tmp}/f.png"], None, "no column 'nope'"),
    ("plot-table-missing-y", ["plot", "{sweep}", "--x", "train.lr", "--y", "nope"], None, "no column 'nope'"),
    ("plot-table-missing-x", ["plot", "{sweep}", "--x", "nope", "--y", "throughput"], None, "no column 'nope'"),
    ("plot-table-missing-hue", ["plot", "{sweep}", "--x", "train.lr", "--y", "throughput", "--hue", "nope"], None,
     "no column 'nope'"),
    ("plot-binary-metrics", ["plot", "{bad}/badrun", "--out", "{tmp}/f.png"], None, "metrics.csv: not UTF-8 text"),
    ("plot-long-int-summary", ["plot", "{bad}/longrun", "--out", "{tmp}/f.png"], None,
     "summary.json: invalid JSON (Exceeds the limit"),
    ("plot-binary-table", ["plot", "{bad}/badtable", "--x", "a", "--y", "b"], None, "table.csv: not UTF-8 text"),
    ("plot-not-a-run", ["plot", "{bad}/adir", "--out", "{tmp}/f.png"], None, "adir: not a run folder"),
    # --set values
    ("set-not-a-number", [*T, "--set", "train.lr=abc"], None, "train.lr: expected number"),
    ("set-no-equals", [*T, "--set", "nokey"], None, "--set nokey: expected KEY=VALUE"),
    ("set-long-int", [*T, "--set", "train.epochs=" + "1" * 5000], None, "--set train.epochs: Exceeds the limit"),
    ("hardware-not-utf8", [*T, "--hardware", "/tmp/h\udcff.toml"], None, "--hardware: '/tmp/h\\udcff.toml' is not Unicode"),
    ("set-not-utf8", [*T, "--set", "experiment.name=a\udcffb"], None,  # a byte of argv that is not UTF-8
     "--set experiment.name: 'a\\udcffb' is not Unicode text"),
    # data generated in memory beyond what the machine has: the OOM killer ended the run without a word
    ("blobs-beyond-memory", [*T, "--set", "data.n_train=2000000000"], None,
     "blobs of 2,000,000,500 x 16 features around 4 class centres need 879 GiB of host memory to generate; "),
    ("blobs-classes-beyond-memory", [*T, "--set", "data.n_classes=1000000000000"], None,  # numpy's MemoryError
     "blobs of 2,500 x 16 features around 1,000,000,000,000 class centres need 1.19e+05 GiB of host memory"),
    ("lists-beyond-memory", ["train", EXP / "list_reduction.toml", "--set", "data.n_train=1000000000"], None,
     "1,000,002,000 lists of up to 10 digits need 209 GiB of host memory to generate; "),
    ("ggnn-steps-without-end", ["train", EXP / "qm9_ggnn.toml", "--set", "model.steps=100000000"], None,
     "model.steps: must be <= 1000, got 100000000"),
    ("watchdog-beyond-poll", [*T, "--set", "executor.watchdog_s=2200000"], None,  # poll()'s limit: a traceback
     "executor.watchdog_s: must be <= 1e+06, got 2200000.0"),
    ("toml-long-int", ["train", "{bad}/long_int.toml", "--out", "{tmp}/o"], None, "long_int.toml: invalid TOML: Exceeds"),
    ("hardware-long-int", ["info", "{bad}/hw_long_int.toml"], None, "hw_long_int.toml: invalid TOML: Exceeds"),
    # a --set value is blamed on the --set, not on the experiment file, which holds no such value
    ("set-unknown-key", [*T, "--set", "train.nokey=1"], None, "ampsim: error: --set train.nokey: unknown key"),
    ("set-text-number", [*T, "--set", "train.lr=abc"], None,
     "ampsim: error: --set train.lr: expected number, got string 'abc'"),
    ("set-unknown-section", [*T, "--set", "nosection.x=1"], None, "ampsim: error: --set nosection.x: unknown section"),
    ("set-broken-array", [*T, "--set", "model.hidden=[1,"], None, "model.hidden"),
    ("set-bad-kind", [*T, "--set", "executor.kind=nope"], None, "ampsim: error: --set executor.kind: must be one of"),
    ("set-negative-epochs", [*T, "--set", "train.epochs=-1"], None, "--set train.epochs: must be >= 1, got -1"),
    # replicas
    ("replica-pattern-matches-nothing", [*NAME, 'replicas.nodes={{"nope*"=2}}'], None,
     "--set replicas.nodes.nope*: names no node of the model"),  # (the --set's pattern, not the file's)
    ("replica-zero-copies", [*NAME, 'replicas.nodes={{"fc*"=0}}'], None, "replicas.nodes.fc*: copies must be 1.."),
    ("replica-negative-copies", [*NAME, 'replicas.nodes={{"fc*"=-2}}'], None, "replicas.nodes.fc*: copies must be"),
    ("replica-copies-not-a-number", [*NAME, 'replicas.nodes={{"fc*"="two"}}'], None,
     "replicas.nodes.fc*: expected a number of copies"),
    ("replica-zero-groups", [*NAME, "replicas.groups=0"], None, "--set replicas.groups: must be >= 1"),
    ("activations-beyond-memory", [*T, "--no-progress", "--set", "model.hidden=[2000000]", "--set", "data.batch=4096",
                                   "--set", "data.n_train=8192", "--set", "train.mak=64"], None,
     "the model's activations need at least"),  # before a message: the first forward was 32 GB (OOM kill)
    ("eps-infinite", [*NAME, "train.eps=inf"], None, "train.eps: must be a finite number, got inf"),  # trained nothing
    ("weight-decay-infinite", [*NAME, "train.weight_decay=inf"], None,  # it ran into a divergence's advice
     "train.weight_decay: must be a finite number, got inf"),
    ("target-nan", [*NAME, "train.target=nan"], None, "train.target: must be a finite number, got nan"),
    ("adam-beta2-one", [*NAME, "train.optimizer=\"adam\"", "--set", "train.beta2=1"], None,  # NaN: "lower train.lr"
     "--set train.beta2: must be < 1, got 1.0"),
    ("replica-more-copies-than-chips", [*NAME, "replicas.nodes={{fc0=8}}", *HW, ROOT / "hardware_models/ring4.toml"],
     None, "--set replicas.nodes.fc0: 8 copies of node fc0"),
    ("replica-unknown-sync", [*NAME, 'replicas.sync="gossip"'], None, "replicas.sync: must be one of average, none"),
    ("bounded-admission-off-the-simulator", [*NAME, "train.max_staleness=2"], None,
     "--set train.max_staleness: staleness-bounded admission runs on the simulated executor"),
    ("bounded-admission-negative", [*NAME, "train.max_staleness=-1"], None, "train.max_staleness: must be >= 0"),
    ("admission-start-without-a-bound", [*NAME, "train.admission_start=0"], None,
     "--set train.admission_start: sets the first size of the staleness-bounded admission window"),
    ("admission-start-negative", [*NAME, "train.admission_start=-1"], None, "train.admission_start: must be >= 0"),
    ("replica-sync-every-zero", [*NAME, "replicas.sync_every=0"], None, "replicas.sync_every: must be >= 1"),
    ("replica-outer-lr-zero", [*NAME, "replicas.outer_lr=0"], None, "replicas.outer_lr: must be > 0"),
    ("replica-outer-lr-text", [*NAME, 'replicas.outer_lr="fast"'], None, "replicas.outer_lr: expected"),
    # a measured machine's compute table and contention (issue 14): one line naming the row and field
    ("compute-table-not-an-array", [*NAME, "hardware.chip.compute_table=3", *HW, ROOT / "hardware_models/ring4.toml"],
     None, "chip.compute_table: expected an array of tables {flops, bytes, kernels, seconds, label}, got integer"),
    ("compute-table-row-not-a-table", [*NAME, "hardware.chip.compute_table=[5]", *HW, ROOT / "hardware_models/ring4.toml"],
     None, "chip.compute_table[0]: expected a table"),
    ("compute-table-negative-seconds", [*NAME, "hardware.chip.compute_table=[{{flops=1, bytes=0, kernels=1, seconds=-1}}]",
                                        *HW, ROOT / "hardware_models/ring4.toml"], None,
     "chip.compute_table[0].seconds: must be > 0, got -1"),
    ("compute-table-missing-kernels", [*NAME, "hardware.chip.compute_table=[{{flops=1, bytes=0, seconds=1e-6}}]",
                                       *HW, ROOT / "hardware_models/ring4.toml"], None,
     "chip.compute_table[0].kernels: missing required field"),
    ("compute-table-unknown-field", [*NAME, "hardware.chip.compute_table=[{{flops=1, bytes=0, kernels=1, secs=1e-6}}]",
                                     *HW, ROOT / "hardware_models/ring4.toml"], None,
     "chip.compute_table[0].secs: unknown key (known: flops, bytes, kernels, seconds, label)"),
    ("compute-table-text-flops", [*NAME, 'hardware.chip.compute_table=[{{flops="x", bytes=0, kernels=1, seconds=1e-6}}]',
                                  *HW, ROOT / "hardware_models/ring4.toml"], None,
     "chip.compute_table[0].flops: expected a number, got string 'x'"),
    ("compute-table-same-work-twice", [*NAME, "hardware.chip.compute_table=[{{flops=1, bytes=0, kernels=1, seconds=1e-6}}, "
                                              "{{flops=1.0, bytes=0, kernels=1, seconds=2e-6}}]",
                                       *HW, ROOT / "hardware_models/ring4.toml"], None,
     "chip.compute_table[1]: same flops, bytes and kernels as chip.compute_table[0]"),
    ("contention-negative", [*NAME, "hardware.chip.contention_slowdown=-0.5", *HW, ROOT / "hardware_models/ring4.toml"],
     None, "chip.contention_slowdown: must be >= 0, got -0.5"),
    # a duration per unit beyond any machine: the run's simulated time was inf, its utilizations NaN
    ("controller-per-instance-beyond-bound", [*NAME, "hardware.host.controller_s_per_instance=1e308", *HW,
                                              ROOT / "hardware_models/ring4.toml"], None,
     "host.controller_s_per_instance: must be <= 1e+09 s, got 1e+308"),
    ("send-per-byte-beyond-bound", [*NAME, "hardware.chip.remote_send_s_per_byte=1e308", *HW,
                                    ROOT / "hardware_models/ring4.toml"], None,
     "chip.remote_send_s_per_byte: must be <= 1e+09 s, got 1e+308"),
    ("compute-table-seconds-beyond-bound", [*NAME, "hardware.chip.compute_table=[{{flops=1, bytes=0, kernels=1, "
                                                   "seconds=1e308}}]", *HW, ROOT / "hardware_models/ring4.toml"],
     None, "chip.compute_table[0].seconds: must be <= 1e+09 s, got 1e+308"),
    # each copy sees 1 in groups of the instances: its parameters never updated, test accuracy 0, exit 0
    ("muf-beyond-a-copys-share", [*NAME, "data.n_train=160", "--set", "train.muf=6", "--set", "replicas.groups=2",
                                  "--set", "train.epochs=1", *HW, ROOT / "hardware_models/ring4.toml"], None,
     "train.muf: 6 is more than the 5 instances a copy of a parameterized node sees (1 in 2 of the run's 10)"),
    # inf trained into a divergence blamed on the learning rate
    ("forget-bias-infinite", [*SST, "model.forget_bias=inf"], None, "model.forget_bias: must be a finite number"),
    ("embedding-decay-infinite", [*SST, "model.embedding_weight_decay=inf"], None,
     "model.embedding_weight_decay: must be a finite number"),
    # a value with a line break was read up to it, the rest dropped (the run had train.mak = 1)
    ("set-value-with-a-line-break", [*NAME, "train.mak=1\ntrain.mak=2"], None,
     "--set train.mak: the value holds a line break; give one setting per --set"),
    ("optimizer-state-not-a-flag", [*NAME, 'train.count_optimizer_state="yes"'], None,
     "train.count_optimizer_state: expected"),
]


@pytest.mark.parametrize("case, argv, data, expected", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_and_leaves_finished_results(in_cwd, bad, tmp_path, capsys, monkeypatch, case, argv,
                                                           data, expected):
    fill = {"bad": bad, "run": in_cwd / "run", "sweep": in_cwd / "sweep", "tmp": tmp_path}
    if data:
        monkeypatch.setenv("AMPSIM_DATA", data.format(**fill))
    line = one_error_line(capsys, [str(a).format(**fill) for a in argv])
    assert expected.replace("{bad}", str(bad)) in line, line  # (not format: some hold braces)
    assert not (in_cwd / "cwd" / "results").exists()  # nothing written under a default folder


VECTORS = [
    ("vectors-binary", "{bad}/bin.toml", "bin.toml: not UTF-8 text (line 1"),
    ("vectors-directory", "{bad}/adir", "adir: is a directory"),
    ("vectors-missing", "{bad}/nope.txt", "missing"),
    ("vectors-under-a-file", "{bad}/afile/v.txt", "v.txt"),
    ("vectors-truncated-gz", "{bad}/vec_cut.gz", "vec_cut.gz: truncated: gzip stream ends early"),
    ("vectors-corrupt-gz", "{bad}/vec_corrupt.gz", "vec_corrupt.gz: corrupt: bad gzip data"),
]


@pytest.mark.parametrize("case, path, expected", VECTORS, ids=[c[0] for c in VECTORS])
def test_bad_vectors_file(data_root, in_cwd, bad, tmp_path, capsys, monkeypatch, case, path, expected):
    monkeypatch.setenv("AMPSIM_DATA", str(data_root))
    argv = [a.format(tmp=tmp_path) for a in SST] + [f'model.vectors="{path.format(bad=bad)}"']
    assert expected in one_error_line(capsys, argv)


def test_memory_error_past_the_estimate_is_one_line(in_cwd, capsys, monkeypatch):
    from ampsim.ir import hostmem

    monkeypatch.setattr(hostmem, "available_memory_bytes", lambda: None)  # the estimate cannot tell: numpy speaks
    # the same 728 TiB layer (1e7 x 1e7) numpy refuses; a first layer one wide keeps the layer before it at 80 MB
    # (it was blobs' inputs x 1e7: gigabytes drawn, seconds, before the refusal)
    line = one_error_line(capsys, [*T, "--no-progress", "--set", "model.hidden=[1,10000000,10000000]"])
    assert line.startswith("ampsim: error: out of memory (") and "allocate" in line


def test_workers_beyond_a_lowered_open_files_limit(in_cwd, capsys):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))
    try:
        line = one_error_line(capsys, [*T, "--executor", "multicore", "--workers", "20"])
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert "(256, see `ulimit -n`)" in line and "use at most" in line


# -- a failed re-run never costs the finished run ---------------------------------------------------------------
def test_a_diverging_rerun_leaves_the_earlier_run(in_cwd, capsys):
    line = one_error_line(capsys, [*T, "--out", in_cwd / "run", *SMALL, "--set", 'train.optimizer="sgd"',
                                   "--set", "train.lr=1e12"])
    assert "loss" in line


def _fail_at_epoch(monkeypatch, epoch: int, exc: BaseException) -> None:
    from ampsim.executors.reference import ReferenceExecutor

    real, calls = ReferenceExecutor.train, []

    def train(self, instances, on_done=None):
        calls.append(1)
        if len(calls) == epoch:
            raise exc
        return real(self, instances, on_done)

    monkeypatch.setattr(ReferenceExecutor, "train", train)


@pytest.mark.parametrize("exc, code", [(RunError("injected failure"), 2), (KeyboardInterrupt(), 130)],
                         ids=["failure", "interrupt"])
def test_a_rerun_failing_midway_keeps_its_rows_beside_the_earlier_run(in_cwd, capsys, monkeypatch, exc, code):
    run = in_cwd / "run"
    _fail_at_epoch(monkeypatch, 3, exc)
    line = one_error_line(capsys, [*T, "--out", run, *SMALL, "--set", "train.epochs=4"], code=code)
    partial = Path(f"{run}.partial")
    assert (f"the partial run (2 epochs) is kept in {partial} until the next run into {run}; the earlier run there "
            "is untouched") in line
    assert len((partial / "metrics.csv").read_text().splitlines()) == 3  # header and two flushed rows
    shutil.rmtree(partial)  # the fixture then checks that the finished run is byte for byte as it was


def test_an_interrupt_before_any_epoch_keeps_nothing(in_cwd, capsys, monkeypatch):
    _fail_at_epoch(monkeypatch, 1, KeyboardInterrupt())
    line = one_error_line(capsys, [*T, "--out", in_cwd / "run", *SMALL], code=130)
    assert "no epoch had finished, so nothing was kept" in line and not Path(f"{in_cwd / 'run'}.partial").exists()


def test_a_second_run_into_a_folder_being_written_is_refused(in_cwd, capsys):
    from ampsim.results import RunDir

    writing = RunDir(in_cwd / "run")
    try:
        line = one_error_line(capsys, [*T, "--out", in_cwd / "run", *SMALL])
    finally:
        writing.abandon()
    assert "another run is writing it now" in line and not Path(f"{in_cwd / 'run'}.partial").exists()


def test_a_successful_rerun_replaces_the_folder_whole(finished, tmp_path, capsys):
    out = tmp_path / "run"
    shutil.copytree(finished / "run", out)
    (out / "trace.json").write_text("{}")  # an older run's artifact must not survive beside the new summary
    assert main([*T, "--out", str(out), *SMALL, "--set", "train.epochs=1"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["config.toml", "environment.json", "metrics.csv", "staleness.json",
                                                   "summary.json"]
    assert not Path(f"{out}.partial").exists() and sorted(p.name for p in tmp_path.iterdir()) == ["run"]


# -- in a real process: stderr as a user sees it, and files only root could read ---------------------------------
def _cli(*args, user: bool = False, env: dict | None = None, cwd: Path | None = None):
    cmd = [sys.executable, "-m", "ampsim.cli", *map(str, args)]
    if user:
        cmd = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *cmd]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=cwd or ROOT,
                       env={**os.environ, "AMPSIM_OFFLINE": "1", **(env or {})})
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1 and lines[0].startswith("ampsim: error: "), r.stderr
    return lines[0]


def test_real_stderr_is_one_line(finished, bad, tmp_path):
    before = snapshot(finished)
    assert "not a UTF-8 text file" in _cli("train", bad / "bin.toml")
    assert "host memory" in _cli("train", BLOBS, "--out", finished / "run", "--set", "model.hidden=[100000,100000]")
    assert snapshot(finished) == before


@pytest.mark.parametrize("code, cause", [(28, "no space left on device"), (30, "read-only file system")])
def test_a_full_or_read_only_disk_is_one_line(in_cwd, capsys, monkeypatch, code, cause):
    """What the machine refuses mid-run (a full disk: a 2 MB tmpfs gave tracebacks from the trace, the sweep
    lock and the figure writer) is one line naming the file; the finished results stay."""
    import ampsim.api

    def full(*_a, **_k):
        raise OSError(code, os.strerror(code), str(in_cwd / "cwd" / "metrics.csv"))

    monkeypatch.setattr(ampsim.api, "train", full)
    line = one_error_line(capsys, [*T, "--out", in_cwd / "cwd" / "new", *SMALL])
    assert line == f"ampsim: error: {in_cwd / 'cwd' / 'metrics.csv'}: {cause}"


def test_parameters_that_would_not_fit_with_their_optimizer_state_are_refused(in_cwd, capsys, monkeypatch):
    """80 million weights fit 1 GiB to initialize (a float64 draw and its float32 cast: 0.96 GB) but not to
    train (the weights, their gradient and Adam's two slots: 1.28 GB): refused before any is drawn (the audit's
    1.6e9 weights on a 23 GB host drew for minutes and were killed by the kernel)."""
    import ampsim.ir.hostmem

    monkeypatch.setattr(ampsim.ir.hostmem, "available_memory_bytes", lambda: 1 << 30)
    line = one_error_line(capsys, [*T, "--set", "model.hidden=[5000000]", *SMALL])
    assert "node 'fc0': parameters [16, 5000000] need 1.19 GiB of host memory to initialize and train;" in line


def test_parameters_that_fit_one_by_one_but_not_together_are_refused(in_cwd, capsys, monkeypatch):
    """Two 2,500×2,500 layers on 100 MiB: each alone fits to initialize and train (95 MiB), the second not
    beside what training adds to the first (its gradient and two slots, 72 MiB): refused as it is made, before
    its values are drawn (checked one array at a time, both passed and training ran out of memory)."""
    import ampsim.ir.hostmem

    monkeypatch.setattr(ampsim.ir.hostmem, "available_memory_bytes", lambda: 100 << 20)
    line = one_error_line(capsys, [*T, "--set", "model.hidden=[2500,2500,2500]", *SMALL])
    assert ("node 'fc2': parameters [2500, 2500] need 0.0931 GiB of host memory to initialize and train with the "
            "0.0703 GiB training adds to the earlier parameters; 0.0977 GiB is available") in line


def _a_row_written(metrics: Path) -> bool:
    """Whether ``metrics`` holds its header and a whole first row (the run counted that epoch before it closed the
    file: RunDir.append_metrics)."""
    try:
        text = metrics.read_text()
    except OSError:
        return False
    return text.count("\n") >= 2


def test_sigterm_stops_a_run_as_ctrl_c_does(finished, tmp_path):
    """SIGTERM (what a scheduler or ``kill`` sends): exit status 143, one line saying what was kept, and the
    earlier run in the folder byte for byte as it was (before, only a sweep said anything)."""
    import time

    run = tmp_path / "run"
    shutil.copytree(finished / "run", run)
    before = snapshot(run)
    proc = subprocess.Popen([sys.executable, "-m", "ampsim.cli", "train", str(BLOBS), "--no-progress", "--out", str(run),
                             "--set", "data.n_train=20000", "--set", "data.n_test=50", "--set", "train.epochs=50"],
                            stderr=subprocess.PIPE, text=True, cwd=ROOT, env={**os.environ, "AMPSIM_OFFLINE": "1"})
    try:
        deadline = time.monotonic() + 90
        metrics = tmp_path / "run.partial" / "metrics.csv"
        while not _a_row_written(metrics) and time.monotonic() < deadline:
            time.sleep(0.05)  # until its first epoch's row is in the file (the file is made a moment before)
        proc.terminate()
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    lines = err.strip().splitlines()
    assert proc.returncode == 143 and len(lines) == 1, err
    assert lines[0].startswith("ampsim: interrupted; the partial run (") and "the earlier run there is untouched" in err
    assert snapshot(run) == before


def _nobody_can_run_ampsim() -> bool:
    """The user nobody can start this checkout's Python and import ampsim (not when the checkout lies under
    a folder private to root, as in a ``mktemp -d`` clone)."""
    if os.geteuid() != 0 or not shutil.which("setpriv"):
        return False
    probe = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-c",
                            "import ampsim"], capture_output=True, cwd="/")
    return probe.returncode == 0


needs_root = pytest.mark.skipif(not _nobody_can_run_ampsim(),
                                reason="runs the CLI as nobody: needs root, setpriv and a checkout nobody may read")


@pytest.fixture
def shared_dir():
    """A folder the user nobody may enter (pytest's own tmp folders are private to root)."""
    d = Path(tempfile.mkdtemp(prefix="ampsim-bad-input-"))
    d.chmod(0o755)
    yield d
    shutil.rmtree(d)


@needs_root
def test_unreadable_and_unwritable_as_another_user(shared_dir):
    exp = shared_dir / "exp.toml"
    shutil.copy(BLOBS, exp)
    exp.chmod(0o000)
    assert _cli("train", exp, user=True).endswith("exp.toml: permission denied")
    hw = shared_dir / "hw.toml"
    shutil.copy(ROOT / "hardware_models/ring4.toml", hw)
    hw.chmod(0o000)
    assert _cli("info", hw, user=True).endswith("hw.toml: permission denied")
    ro = shared_dir / "ro"
    ro.mkdir(mode=0o755)
    assert _cli("train", BLOBS, "--out", ro / "run", user=True).endswith(f"cannot create: permission denied in {ro}")
    assert _cli("train", BLOBS, "--out", ro, user=True).endswith("permission denied (cannot write in this folder)")
    data = shared_dir / "data" / "qm9"
    data.mkdir(parents=True, mode=0o755)
    (data / "molecules_train.json").write_text("[]")
    (data / "molecules_train.json").chmod(0o000)
    writable = shared_dir / "w"
    writable.mkdir()
    writable.chmod(0o777)
    line = _cli("train", EXP / "qm9_ggnn.toml", "--out", writable / "q", user=True,
                env={"AMPSIM_DATA": str(shared_dir / "data")})
    assert line.endswith("molecules_train.json: permission denied")


@pytest.mark.parametrize("through", ["nothing", "afile"])
@pytest.mark.parametrize("command", ["train", "sweep", "plot", "calibrate", "compare"])
def test_an_out_through_dotdot_out_of_no_folder_is_refused_before_any_work(in_cwd, tmp_path, capsys, monkeypatch,
                                                                           through, command):
    """``--out x/nothing/../m.toml``: the system opens no path that goes up out of a folder not there (or out of a
    file), but the checks read it as ``x/m.toml`` (os.path.abspath drops the pair), so calibrate measured, wrote
    x/m.toml and left an empty x/nothing/ behind (plot too), and train trained and then could not rename its run
    into place (a partial run kept). Refused in one line, before anything is measured or run, and nothing made."""
    import ampsim.calibration.calibrate as cal
    import ampsim.calibration.compare as compare

    monkeypatch.setattr(cal, "calibrate", lambda *a, **k: pytest.fail("measured"))
    monkeypatch.setattr(compare, "run_compare", lambda *a, **k: pytest.fail("measured"))
    (tmp_path / "afile").write_text("a file\n")
    before = sorted(tmp_path.rglob("*"))
    out = tmp_path / through / ".." / ("m.toml" if command == "calibrate" else "f.png" if command == "plot" else "o")
    sweep = tmp_path.parent / f"{tmp_path.name}.toml"  # (beside, not in, the folder checked)
    sweep.write_text(f'[sweep]\nexperiment = "{BLOBS}"\n[grid]\n"train.mak" = [1]\n')
    argv = {"train": [*T, "--no-progress", *SMALL[1:], "--set", "train.epochs=1"], "sweep": ["sweep", sweep, "--check"],
            "plot": ["plot", in_cwd / "run"], "calibrate": ["calibrate", "--quick"],
            "compare": ["compare", BLOBS, "--hardware", ROOT / "hardware_models" / "ring4.toml"]}[command]
    line = one_error_line(capsys, [*argv, "--out", out])
    what = "does not exist" if through == "nothing" else "is a file, not a folder"
    assert line == (f"ampsim: error: {out}: cannot create: {tmp_path / through} {what}, and '..' goes up only out of "
                    "a folder that is there; give the path without it")
    assert sorted(tmp_path.rglob("*")) == before


@pytest.mark.parametrize("check, target", [(check, target) for check in ("check_output_dir", "check_output_file")
                                           for target in ("writable", "read-only", "nothing")]
                         + [("calibrate", "read-only"), ("calibrate", "nothing")])
def test_an_out_through_a_link_and_dotdot_is_checked_where_the_system_goes(tmp_path, capsys, monkeypatch, check,
                                                                           target):
    """``here/L/../x`` where ``L`` links to a folder elsewhere: the system goes up out of the link's target, so x
    lands beside the target, but the check read the path as ``here/x`` (os.path.abspath) and probed ``here``: a
    read-only target's folder passed (calibrate measured, then could not write), a read-only ``here`` refused
    what the system would write, and a link to nothing was said not to exist. (Root writes anywhere, so the probe
    is refused where a folder is read-only.)"""
    import ampsim.calibration.calibrate as cal
    from ampsim import outputs

    here, elsewhere = tmp_path / "here", tmp_path / "elsewhere" / "deep"
    (elsewhere / "target").mkdir(parents=True)
    here.mkdir()
    (here / "L").symlink_to(tmp_path / "gone" if target == "nothing" else elsewhere / "target")
    read_only = os.path.realpath(here if target == "writable" else elsewhere)
    mkstemp = outputs.tempfile.mkstemp

    def probe(*args, dir, **kwargs):
        if os.path.realpath(dir) == read_only:
            raise OSError(errno.EACCES, os.strerror(errno.EACCES))
        return mkstemp(*args, dir=dir, **kwargs)

    monkeypatch.setattr(outputs.tempfile, "mkstemp", probe)
    monkeypatch.setattr(cal, "calibrate", lambda *a, **k: pytest.fail("measured"))
    out = here / "L" / ".." / ("m.toml" if check == "calibrate" else "x")
    said = {"read-only": f"{out}: cannot create: permission denied in {read_only}",
            "nothing": f"{out}: cannot create: {here / 'L'} is a symbolic link that leads to nothing (to "
                       f"'{tmp_path / 'gone'}'), and '..' goes up only out of a folder that is there; give the path "
                       "without it"}.get(target)
    if check == "calibrate":  # (refused before it measures)
        assert one_error_line(capsys, ["calibrate", "--quick", "--out", out]) == f"ampsim: error: {said}"
        return
    if said is None:
        assert getattr(outputs, check)(out) == out
        (out.mkdir if check == "check_output_dir" else out.write_text)(*(() if check == "check_output_dir" else "x"))
        assert os.path.lexists(elsewhere / "x") and not os.path.lexists(here / "x")  # (where the check looked)
    else:
        with pytest.raises(ConfigError) as err:
            getattr(outputs, check)(out)
        assert str(err.value) == said


@pytest.mark.parametrize("link", ["dangling", "loop"])
@pytest.mark.parametrize("command", ["train", "sweep", "plot"])
def test_an_out_that_is_a_symlink_to_nothing_is_one_line(tmp_path, capsys, link, command):
    """A dangling symlink or a loop of them as --out: sweep and plot raised FileExistsError from mkdir."""
    out = tmp_path / "out"
    if link == "dangling":
        out.symlink_to(tmp_path / "nowhere" / "x")
    else:
        (tmp_path / "l2").symlink_to(out)
        out.symlink_to(tmp_path / "l2")
    sweep = tmp_path / "s.toml"
    sweep.write_text(f'[sweep]\nexperiment = "{BLOBS}"\n[grid]\n"train.mak" = [1]\n'
                     '[[figure]]\nname = "f"\nkind = "xy"\nx = "train.mak"\ny = "throughput"\n')
    argv = {"train": [*T, "--out", out, "--no-progress"], "sweep": ["sweep", sweep, "--out", out, "--check"],
            "plot": ["plot", sweep, "--out", out]}[command]
    line = one_error_line(capsys, argv)
    why = "a symbolic link that leads to nothing" if link == "dangling" else "a symbolic link loop"
    assert f"{out}: {why} (to " in line
    assert out.is_symlink()


def test_more_parallel_points_than_the_machine_holds_as_processes_is_one_line(tmp_path, capsys):
    """``--jobs 100000`` forked a worker per unfinished point (10 processes for 8 points on 2 cores; thousands
    near the 50,000-point limit): refused, by ``--check`` too, as the API's ``jobs``, each named as its caller
    gave it (the command line's said "jobs:", where its other --jobs line says "--jobs:")."""
    import os

    import ampsim
    from ampsim.errors import ConfigError

    cap = 4 * (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count())
    sweep = tmp_path / "s.toml"
    sweep.write_text(f'[sweep]\nexperiment = "{BLOBS}"\n[grid]\n"train.mak" = [1]\n'
                     '[[figure]]\nname = "f"\nkind = "xy"\nx = "train.mak"\ny = "throughput"\n')
    for check in ([], ["--check"]):
        line = one_error_line(capsys, ["sweep", sweep, "--jobs", cap + 1, "--out", tmp_path / "out", *check])
        assert line == (f"ampsim: error: --jobs: {cap + 1} parallel points, each a process of its own, on {cap // 4} "
                        f"core(s): at most {cap} (4 a core)")
    with pytest.raises(ConfigError, match="^jobs: .* parallel points, each a process of its own"):
        ampsim.sweep(sweep, tmp_path / "out", jobs=cap + 1)
    assert not (tmp_path / "out").exists()


BIG = "1" + "0" * 400  # TOML's integers are unbounded
HW_RING = ["--executor", "sim", "--hardware", str(ROOT / "hardware_models" / "ring4.toml")]


@pytest.mark.parametrize("setting, words", [
    (f"train.lr={BIG}", "train.lr: 10000000000000000000… is beyond any size or count ampsim takes (at most 2**53)"),
    (f"train.mak={BIG}", "train.mak: 10000000000000000000… is beyond any size"),
    ("data.n_train=9223372036854775807", "data.n_train: 9223372036854775807 is beyond any size"),
    (f"model.hidden=[16, {BIG}]", "model.hidden[1]: 10000000000000000000… is beyond any size"),
    (f"hardware.chip.flops_per_s={BIG}", "chip.flops_per_s: 10000000000000000000… is beyond a float's range"),
    (f"hardware.topology.n={BIG}", "topology.n: 10000000000000000000… is beyond any size or count ampsim takes (at most 2**53)"),
    ("model.hidden=" + "[" * 5000 + "]" * 5000, "--set model.hidden: nested too deep"),
    ("model.hidden=" + "[" * 400 + "]" * 400, "--set model.hidden: nested too deep (or holds itself)"),
], ids=["float", "int", "int64", "list-item", "hardware-float", "hardware-int", "deep-5000", "deep-400"])
def test_integers_beyond_any_size_and_values_nested_too_deep_are_one_line(in_cwd, capsys, setting, words):
    """OverflowError, numpy's "maximum allowed dimension exceeded" and RecursionError tracebacks before."""
    line = one_error_line(capsys, [*T, "--no-progress", *HW_RING, "--set", setting])
    assert words in line


def test_an_experiment_file_nested_too_deep_is_one_line(in_cwd, capsys):
    deep = in_cwd / "deep.toml"
    deep.write_text(BLOBS.read_text() + "\n[placement]\nmap = " + "{a=" * 3000 + "0" + "}" * 3000 + "\n")
    try:
        assert one_error_line(capsys, [*T[:1], deep, "--no-progress"]).endswith(f"{deep}: invalid TOML: nested too deep")
    finally:
        deep.unlink()


def test_an_api_override_that_holds_itself_is_one_config_error():
    import ampsim
    from ampsim.errors import ConfigError

    loop: list = []
    loop.append(loop)
    with pytest.raises(ConfigError, match=r"^load_experiment: overrides: model.hidden: nested too deep \(or holds itself\)$"):
        ampsim.load_experiment(BLOBS, {"model.hidden": loop})


def test_an_interrupted_first_run_says_no_run_was_there_and_that_the_next_run_deletes_the_partial(tmp_path, capsys,
                                                                                                 monkeypatch):
    run = tmp_path / "new"
    _fail_at_epoch(monkeypatch, 2, KeyboardInterrupt())
    line = one_error_line(capsys, [*T, "--out", run, *SMALL, "--set", "train.epochs=3"], code=130)
    assert line.endswith(f"the partial run (1 epoch) is kept in {run}.partial until the next run into {run}; no run "
                         f"was at {run} before")


def test_an_api_run_without_out_interrupted_names_no_folder(monkeypatch):
    """It named the temporary folder it had deleted ("…; /tmp/ampsim-run-… is as it was")."""
    import ampsim

    _fail_at_epoch(monkeypatch, 1, KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt) as err:
        ampsim.train(BLOBS, overrides={"data.n_train": 200, "data.n_test": 50, "train.epochs": 2})
    assert err.value.__notes__ == ["no epoch had finished, so nothing was kept"]


def test_an_api_run_without_out_interrupted_after_epochs_says_they_were_not_kept(monkeypatch):
    """It said "no epoch had finished, so nothing was kept" after two epochs had."""
    import ampsim

    _fail_at_epoch(monkeypatch, 3, KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt) as err:
        ampsim.train(BLOBS, overrides={"data.n_train": 200, "data.n_test": 50, "train.epochs": 3})
    assert err.value.__notes__ == ["2 epochs had finished, but nothing was kept (a run into a temporary folder keeps "
                                   "no partial run)"]


def test_an_interrupt_while_a_finished_run_is_read_back_says_the_run_is_in_place(tmp_path, capsys, monkeypatch):
    """After the run was swapped in, reading it back (pandas' import) is a third of a second in which a Ctrl-C
    said only "ampsim: interrupted", as if the run were lost."""
    import ampsim.api as api

    def interrupted(path, **_):
        raise KeyboardInterrupt
    monkeypatch.setattr(api, "read_metrics", interrupted)
    assert main([*T, "--out", str(tmp_path / "run"), *SMALL]) == 130
    assert capsys.readouterr().err.strip().endswith(f"interrupted; the run had finished: {tmp_path / 'run'} holds it")
    assert (tmp_path / "run" / "summary.json").is_file()


def test_an_out_inside_a_finished_run_is_refused(in_cwd, capsys):
    """``--out RUN/sub`` was allowed and left RUN no run folder (a sub-folder in it): RUN could not be run into
    again."""
    line = one_error_line(capsys, [*T, "--out", in_cwd / "run" / "sub", *SMALL])
    assert line.endswith(f"{in_cwd / 'run' / 'sub'}: is inside the finished run {in_cwd / 'run'}; give a folder "
                         "outside it")


def test_a_sigterm_whose_exception_python_dropped_still_ends_in_143(in_cwd, capsys, monkeypatch):
    """Raised inside logging's after-fork hook, a SIGTERM's exception was printed as "Exception ignored" and
    dropped: calibrate then finished and exited 0. The handler notes the signal first; the command ends 143."""
    import argparse
    import signal as sig

    import ampsim.cli as cli
    from ampsim.errors import raise_terminated

    def dropped(args):
        try:
            raise_terminated(sig.SIGTERM, None)  # as the handler runs inside a hook that swallows it
        except KeyboardInterrupt:
            pass
        return 0

    class Parser:  # a command line that runs ``dropped``
        def parse_args(self, argv):
            return argparse.Namespace(func=dropped, verbose=0)

    monkeypatch.setattr(cli, "build_parser", Parser)
    line = one_error_line(capsys, ["keys"], code=143)
    assert line == "ampsim: interrupted; the command had finished when the SIGTERM's stop took effect"


def test_a_sigterm_that_comes_back_as_a_plain_keyboard_interrupt_is_still_143(in_cwd, capsys, monkeypatch):
    """Ray's wait checks signals in its C++ core and can re-raise our Terminated as a KeyboardInterrupt of its
    own: a SIGTERM'd --ray sweep exited 130 (once in a CI run)."""
    import argparse
    import signal as sig

    import ampsim.cli as cli
    from ampsim.errors import raise_terminated

    def converted(args):
        try:
            raise_terminated(sig.SIGTERM, None)
        except KeyboardInterrupt:
            raise KeyboardInterrupt() from None

    class Parser:
        def parse_args(self, argv):
            return argparse.Namespace(func=converted, verbose=0)

    monkeypatch.setattr(cli, "build_parser", Parser)
    assert one_error_line(capsys, ["keys"], code=143) == "ampsim: interrupted"


@pytest.mark.parametrize("code, why", [(errno.EROFS, "read-only file system"), (errno.EACCES, "permission denied"),
                                       (errno.ENOSPC, "no space left on device")])
def test_an_unwritable_folder_says_why(tmp_path, monkeypatch, code, why):
    """A read-only mount said "permission denied" (a finished sweep on one could not even be looked at again),
    and its owner looked for the folder's mode bits."""
    from ampsim import outputs

    def refuse(*_args, **_kwargs):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(outputs.tempfile, "mkstemp", refuse)
    for check, path, message in (
            (outputs.check_output_dir, tmp_path, f"{tmp_path}: {why} (cannot write in this folder)"),
            (outputs.check_output_dir, tmp_path / "new", f"{tmp_path / 'new'}: cannot create: {why} in {tmp_path}"),
            (outputs.check_output_file, tmp_path / "x.csv", f"{tmp_path / 'x.csv'}: cannot create: {why} in "
             f"{tmp_path}")):
        with pytest.raises(ConfigError) as err:
            check(path)
        assert str(err.value) == message


def test_an_output_folder_that_is_no_folder_says_what_it_is(tmp_path):
    """A pipe, a socket or a device where a folder is expected (``--out``) was "is a file, not a folder"."""
    import socket

    from ampsim import outputs

    os.mkfifo(tmp_path / "pipe")
    (tmp_path / "file").write_text("x\n")
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(tmp_path / "sock"))
        for path, kind in ((tmp_path / "pipe", "a pipe"), (tmp_path / "sock", "a socket"),
                           (Path("/dev/null"), "a device"), (tmp_path / "file", "a file")):
            for given, said in ((path, f"{path}: is {kind}, not a folder"),
                                (path / "run", f"{path / 'run'}: cannot create: {path} is {kind}, not a folder")):
                with pytest.raises(ConfigError) as err:
                    outputs.check_output_dir(given)
                assert str(err.value) == said


@pytest.mark.parametrize("kind, key", [("experiment", "train.lr"), ("hardware", "chip.spin_s")])
def test_a_quoted_dotted_key_says_what_to_write(tmp_path, capsys, kind, key):
    """A quoted key with a dot (``"chip.spin_s" = 1.0``) is one key of that name in TOML, not ``spin_s`` in the
    ``chip`` table: the line called a documented key unknown and said no more."""
    source = ROOT / ("experiments/blobs_mlp.toml" if kind == "experiment" else "hardware_models/ring4.toml")
    path = tmp_path / "f.toml"
    path.write_text(f'"{key}" = 1.0\n' + source.read_text())
    argv = ["train", str(path), "--out", str(tmp_path / "run")] if kind == "experiment" else ["info", str(path)]
    assert main(argv) == 2
    err = capsys.readouterr().err.splitlines()
    head, rest = key.split(".")
    assert len(err) == 1 and err[0].startswith(f"ampsim: error: {path}: {key}: unknown"), err
    assert err[0].endswith(f"a quoted key with a dot is one key: drop the quotes ({key} = ...) or set {rest} in "
                           f"{head}'s table"), err
