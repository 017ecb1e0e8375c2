"""``ampsim plot SWEEP.toml`` draws only from a table of that sweep as its file is now: another sweep's table,
the other variant's (quick or full), or one whose points the file no longer has (edited since it ran) is one
line, where the figure was drawn from it, titled as this sweep's."""

from __future__ import annotations

from pathlib import Path

import pytest
from sweep_kit import tiny_sweep

from ampsim.cli import main

SWEEP = tiny_sweep("{epochs}") + """
"train.mak" = [1, 4, 8]
[quick]
grid = {{ "train.mak" = [1, 4] }}
[[figure]]
name = "f"
kind = "xy"
x = "train.mak"
y = "throughput"
"""


def write(path: Path, epochs: int = 1) -> Path:
    path.write_text(SWEEP.format(epochs=epochs))
    return path


@pytest.fixture(scope="module")
def swept(tmp_path_factory) -> tuple[Path, Path, Path]:
    """The sweep file, its full table's folder and its quick table's folder."""
    tmp = tmp_path_factory.mktemp("plot")
    sweep = write(tmp / "s.toml")
    assert main(["sweep", str(sweep), "--out", str(tmp / "full"), "--no-progress"]) == 0
    assert main(["sweep", str(sweep), "--quick", "--out", str(tmp / "quick"), "--no-progress"]) == 0
    return sweep, tmp / "full", tmp / "quick"


def plot(sweep: Path, folder: Path, out: Path, *quick: str) -> int:
    return main(["plot", str(sweep), *quick, "--sweep-dir", str(folder), "--out", str(out)])


def test_each_variant_plots_from_its_own_table(swept, tmp_path, capsys):
    sweep, full, quick = swept
    assert plot(sweep, full, tmp_path) == 0 and plot(sweep, quick, tmp_path, "--quick") == 0
    assert (tmp_path / "f.png").is_file()


@pytest.mark.parametrize("variant, flag, said", [("quick", (), "holds the quick variant's (--quick) table"),
                                                 ("full", ("--quick",), "holds the full sweep's (without --quick)")])
def test_the_other_variants_table_is_refused(swept, tmp_path, capsys, variant, flag, said):
    sweep, full, quick = swept
    assert plot(sweep, quick if variant == "quick" else full, tmp_path, *flag) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and said in err[0]
    assert not (tmp_path / "f.png").exists()
    # what it says to do works: it said to run the sweep into that folder, which the sweep refuses (the folder
    # holds the other variant's results)
    advice = err[0].split("ampsim sweep ", 1)[1].split(" writes it into ", 1)[0].split()
    assert advice == [str(sweep), *flag], err[0]
    assert main(["sweep", *advice, "--out", str(tmp_path / "own"), "--no-progress"]) == 0
    assert plot(sweep, tmp_path / "own", tmp_path, *flag) == 0 and (tmp_path / "f.png").is_file()


def test_a_table_of_the_sweep_file_before_an_edit_is_refused(swept, tmp_path, capsys):
    sweep, full, _ = swept
    edited = write(tmp_path / "s.toml", epochs=2)  # same name, other points
    assert plot(edited, full, tmp_path) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "3 of its 3 points" in err[0] and "changed since the sweep ran?" in err[0]


def test_another_sweeps_table_is_refused(swept, tmp_path, capsys):
    sweep, full, _ = swept
    other = write(tmp_path / "other.toml")
    assert plot(other, full, tmp_path) == 2
    assert "holds the table of sweep 's', not of 'other'" in capsys.readouterr().err


def test_a_table_without_its_point_id_column_is_one_line(swept, tmp_path, capsys):
    sweep, full, _ = swept
    edited = tmp_path / "edited"
    edited.mkdir()
    (edited / "sweep.json").write_text((full / "sweep.json").read_text())
    lines = (full / "table.csv").read_text().splitlines()
    drop = lines[0].split(",").index("point_id")
    (edited / "table.csv").write_text("\n".join(",".join(c for i, c in enumerate(line.split(",")) if i != drop)
                                                for line in lines) + "\n")
    assert plot(sweep, edited, tmp_path) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "table.csv: has no point_id column" in err[0]


def test_point_ids_are_read_as_text_whatever_they_look_like(tmp_path):
    """An id of digits (or digits and one e) became a number: 012345678901 lost its zero, 123e45678901 was inf."""
    from ampsim.tables import read_table

    (tmp_path / "table.csv").write_text("train.mak,point_id\n1,012345678901\n2,123e45678901\n")
    assert read_table(tmp_path)["point_id"].tolist() == ["012345678901", "123e45678901"]


def test_a_table_without_sweep_json_says_to_plot_the_sweeps_own_folder(swept, tmp_path, capsys):
    """It said to run the sweep into that folder, which the sweep refuses: a folder holding a table.csv and no
    sweep.json is no folder of this sweep's."""
    sweep, full, _ = swept
    copied = tmp_path / "copied"
    copied.mkdir()
    (copied / "table.csv").write_text((full / "table.csv").read_text())
    assert plot(sweep, copied, tmp_path) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "has no sweep.json beside it" in err[0] and "give --sweep-dir" in err[0], err
    assert main(["sweep", str(sweep), "--out", str(copied), "--no-progress"]) == 2  # (what it said to do)
    capsys.readouterr()
    advice = err[0].split("ampsim sweep ", 1)[1].split(" writes it into ", 1)[0].split()
    assert main(["sweep", *advice, "--out", str(tmp_path / "own"), "--no-progress"]) == 0
    assert plot(sweep, tmp_path / "own", tmp_path) == 0


def test_the_advice_for_a_table_without_point_ids_works(swept, tmp_path, capsys):
    sweep, full, _ = swept
    edited = tmp_path / "edited"
    edited.mkdir()
    (edited / "sweep.json").write_text((full / "sweep.json").read_text())
    (edited / "table.csv").write_text("train.mak\n1\n")
    assert plot(sweep, edited, tmp_path) == 2
    err = capsys.readouterr().err
    assert f"run the sweep (ampsim sweep {sweep} --out {edited})" in err, err
    assert main(["sweep", str(sweep), "--out", str(edited), "--no-progress"]) == 0
    assert plot(sweep, edited, tmp_path) == 0


@pytest.mark.parametrize("name", ["bandwidth_mnist", "mak_mnist"])  # (mak_mnist: a muf above 1 too)
def test_a_committed_sweeps_figures_draw_from_its_table_without_its_dataset(tmp_path, monkeypatch, name):
    """``ampsim plot SWEEP.toml`` draws the sweep's figures from its table; it sized every point against the host
    first, reading MNIST's labels files to count the examples (and the instances, against a muf above 1), so that
    a checkout without the dataset could not draw the committed MNIST tables it has (``missing .../mnist/...``)."""
    root = Path(__file__).resolve().parents[2]
    monkeypatch.setenv("AMPSIM_DATA", str(tmp_path / "no_data"))
    monkeypatch.setenv("AMPSIM_OFFLINE", "1")
    sweep = root / "experiments" / "sweeps" / f"{name}.toml"
    assert plot(sweep, root / "results" / "sweeps" / name, tmp_path / "figs") == 0
    assert {p.suffix for p in (tmp_path / "figs").iterdir()} == {".pdf", ".png"}
    # running it still needs the data: --check sizes the points as before
    assert main(["sweep", str(sweep), "--check"]) == 2
