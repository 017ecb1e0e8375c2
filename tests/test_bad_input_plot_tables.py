"""Bad tables given to ``ampsim plot``: a figure is drawn from exactly the rows and cells the table holds, or
refused in one stderr line ``ampsim: error: …`` (exit 2, no traceback, no figure written).

The cases copy a committed sweep's table (``results/sweeps/mak_mnist``: its table.csv and sweep.json; its
xy figures read nothing else) or write a small CSV, and break what they test. Cases run the CLI in this
process (``ampsim.cli.main``), as tests/test_bad_input.py does.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from test_bad_input import one_error_line

from ampsim.cli import main
from ampsim.figures.canvas import pyplot

ROOT = Path(__file__).resolve().parents[1]
MAK = ROOT / "results" / "sweeps" / "mak_mnist"
MAK_TOML = ROOT / "experiments" / "sweeps" / "mak_mnist.toml"


@pytest.fixture
def mak(tmp_path) -> Path:
    """A copy of the committed mak_mnist sweep's table (table.csv, sweep.json) in ``tmp_path/mak``."""
    out = tmp_path / "mak"
    out.mkdir()
    for name in ("table.csv", "sweep.json"):
        shutil.copy(MAK / name, out / name)
    return out


def edit_lines(path: Path, edit) -> None:
    """Rewrite ``path`` with ``edit(lines)`` (its lines without their ends)."""
    path.write_text("\n".join(edit(path.read_text().splitlines())) + "\n")


# -- rows wider or narrower than the header ----------------------------------------------------------------
@pytest.mark.parametrize("break_it", [
    lambda lines: [lines[0], *(line + "," for line in lines[1:])],  # a trailing comma on every row
    lambda lines: [lines[0].partition(",")[2], *lines[1:]],  # the header lost its first name
    lambda lines: [lines[0], lines[1].rpartition(",")[0], *lines[2:]],  # a row lost its last field
], ids=["trailing-commas", "header-short", "row-short"])
def test_rows_of_another_width_than_the_header_are_one_line(mak, tmp_path, capsys, break_it):
    """Rows one field wider than the header were read with every column shifted (pandas took the first column
    for an index) and drawn, exit 0."""
    edit_lines(mak / "table.csv", break_it)
    line = one_error_line(capsys, ["plot", mak / "table.csv", "--x", "train.mak", "--y", "throughput",
                                   "--out", tmp_path / "f.png"])
    assert f"{mak / 'table.csv'}: line 2 has " in line and "fields, the header" in line
    assert not (tmp_path / "f.png").exists()


def test_a_run_folders_metrics_with_trailing_commas_is_one_line(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.csv").write_text("epoch,instances,time_s,train_loss\n1,10,0.5,2.0,\n2,20,1.0,1.5,\n")
    line = one_error_line(capsys, ["plot", run, "--y", "train_loss", "--out", tmp_path / "f.png"])
    assert line.endswith(f"{run / 'metrics.csv'}: line 2 has 5 fields, the header 4; not a table as written "
                         "(a field added or lost?)")


@pytest.mark.parametrize("source", ["table", "run"])
def test_a_column_named_twice_in_the_header_is_one_line(tmp_path, capsys, source):
    """pandas read the second ``b`` as ``b.1``: ``--y b`` drew the first column alone, exit 0, and which one the
    table meant was anyone's guess."""
    table = tmp_path / "run" / "metrics.csv" if source == "run" else tmp_path / "t.csv"
    table.parent.mkdir(exist_ok=True)
    table.write_text("epoch,b,b\n1,2.0,5.0\n2,3.0,6.0\n")
    argv = ["plot", table.parent, "--y", "b"] if source == "run" else ["plot", table, "--x", "epoch", "--y", "b"]
    line = one_error_line(capsys, [*argv, "--out", tmp_path / "f.png"])
    assert line.endswith(f"{table}: column 'b' is in the header twice; not a table as written (which one?)")
    assert not (tmp_path / "f.png").exists()


@pytest.mark.parametrize("x", ["1\n2", "a\nb"], ids=["xy", "bar"])
def test_a_y_of_infinities_alone_is_one_line_not_an_empty_figure(tmp_path, capsys, x):
    """A y column holding nothing but inf and -inf: an empty figure was saved, exit 0 (matplotlib leaves
    infinities out of a line, and a bar of them has no height)."""
    first, second = x.split("\n")
    (tmp_path / "t.csv").write_text(f"x,y\n{first},inf\n{second},-inf\n")
    open_before = pyplot().get_fignums()
    line = one_error_line(capsys, ["plot", tmp_path / "t.csv", "--x", "x", "--y", "y", "--out", tmp_path / "f.png"])
    assert line.endswith("no y values to draw") and not (tmp_path / "f.png").exists()
    # the refused drawing's figure is closed (pyplot keeps every figure until then: a notebook kept them all)
    assert pyplot().get_fignums() == open_before


@pytest.mark.parametrize("inf", ["inf", "-inf"])
def test_an_infinite_bar_among_finite_ones_names_the_column_and_line(tmp_path, capsys, inf):
    """A bar of height ±inf is not drawn (matplotlib gives it no height): the figure was saved with its
    category empty, exit 0; refused as an xy figure's infinite x is."""
    table = tmp_path / "t.csv"
    table.write_text(f"x,y\nring,2\nmesh,{inf}\ntorus,\nline,{inf}\n")
    line = one_error_line(capsys, ["plot", table, "--x", "x", "--y", "y", "--out", tmp_path / "f.png"])
    assert line.endswith(f"{table}: column 'y' is {inf} on line 3 and 1 more: a bar figure has no height for it "
                         "(give it a finite value, or leave it out with where)")
    assert not (tmp_path / "f.png").exists()


@pytest.mark.parametrize("make, words", [(lambda p: p.mkdir(), "is a directory, not a file"),
                                         (os.mkfifo, "not a regular file (a pipe, socket or device)"),
                                         (lambda p: p.symlink_to("/dev/zero"), "not a regular file (a pipe, socket or device)"),
                                         (lambda p: None, "no such file")], ids=["folder", "fifo", "device", "none"])
def test_a_csv_that_is_no_file_says_what_it_is(tmp_path, capsys, make, words):
    """A folder, a pipe or a device named t.csv was said to be "no such file" (a folder as t.csv/table.csv)."""
    make(tmp_path / "t.csv")
    line = one_error_line(capsys, ["plot", tmp_path / "t.csv", "--x", "a", "--y", "b", "--out", tmp_path / "f.png"])
    assert line == f"ampsim: error: {tmp_path / 't.csv'}: {words}"


def test_a_table_of_even_rows_still_draws_blank_lines_and_all(mak, tmp_path, capsys):
    edit_lines(mak / "table.csv", lambda lines: ["", lines[0], "", *lines[1:]])
    assert main(["plot", str(mak / "table.csv"), "--x", "train.mak", "--y", "throughput", "--out",
                 str(tmp_path / "f.png")]) == 0, capsys.readouterr().err
    assert (tmp_path / "f.png").is_file()


# -- a text cell in a sweep figure's x -----------------------------------------------------------------------
def test_a_text_cell_in_an_xy_figures_x_names_the_column_and_line(mak, tmp_path, capsys):
    """One ``one`` in train.mak made the x axis categorical and put every point elsewhere, exit 0."""
    edit_lines(mak / "table.csv", lambda lines: [lines[0], "one" + lines[1][1:], *lines[2:]])
    line = one_error_line(capsys, ["plot", MAK_TOML, "--sweep-dir", mak, "--out", tmp_path / "figs"])
    assert line.endswith(f"{mak / 'table.csv'}: column 'train.mak' must hold numbers, but line 2 has 'one'")
    assert not (tmp_path / "figs").exists() or not list((tmp_path / "figs").iterdir())


# -- empty x cells -----------------------------------------------------------------------------------------------
def test_an_empty_x_cell_of_a_row_with_a_y_in_an_xy_figure_names_the_column_and_line(tmp_path, capsys):
    """The row was left out of the figure without a word."""
    table = tmp_path / "t.csv"
    table.write_text("a,b\n1,1.0\n,2.0\n3,3.0\n,\n")
    line = one_error_line(capsys, ["plot", table, "--x", "a", "--y", "b", "--out", tmp_path / "f.png"])
    assert line.endswith(f"{table}: column 'a' is empty on line 3, which has a b value: an xy figure has no place "
                         "for it (fill it in, or leave it out with where)")
    assert not (tmp_path / "f.png").exists()
    table.write_text("a,b\n1,1.0\n,\n3,3.0\n")  # a row of neither (a point that diverged) draws nothing
    assert main(["plot", str(table), "--x", "a", "--y", "b", "--out", str(tmp_path / "f.png")]) == 0


@pytest.mark.parametrize("inf", ["inf", "-inf"])
def test_an_infinite_x_of_a_row_with_a_y_in_an_xy_figure_names_the_column_and_line(tmp_path, capsys, inf):
    """matplotlib leaves a point at x = ±inf out of a line: the row was dropped without a word, exit 0, as an
    empty x cell's was."""
    table = tmp_path / "t.csv"
    table.write_text(f"a,b\n1,1.0\n{inf},2.0\n3,3.0\n{inf},4.0\n")
    line = one_error_line(capsys, ["plot", table, "--x", "a", "--y", "b", "--out", tmp_path / "f.png"])
    assert line.endswith(f"{table}: column 'a' is {inf} on line 3 and 1 more, which has a b value: an xy figure has "
                         "no place for it (give it a finite value, or leave it out with where)")
    assert not (tmp_path / "f.png").exists()
    table.write_text(f"a,b\n1,1.0\n{inf},\n3,3.0\n")  # (no y: nothing to draw, as a row of empty cells)
    assert main(["plot", str(table), "--x", "a", "--y", "b", "--out", str(tmp_path / "f.png")]) == 0


# -- rows that are no points of the sweep ---------------------------------------------------------------------
@pytest.mark.parametrize("source", ["sweep-file", "folder"])
def test_a_points_row_repeated_is_one_line_naming_the_point_and_its_lines(mak, tmp_path, capsys, source):
    """The repeated row was taken for another seed and averaged in twice, exit 0."""
    edit_lines(mak / "table.csv", lambda lines: [*lines, lines[2]])
    point = (mak / "table.csv").read_text().splitlines()[2].rsplit(",", 1)[1]
    argv = ["plot", MAK_TOML, "--sweep-dir", mak] if source == "sweep-file" else \
        ["plot", mak, "--x", "train.mak", "--y", "throughput"]
    line = one_error_line(capsys, [*argv, "--out", tmp_path / "figs"])
    assert f"{mak / 'table.csv'}: point {point} has 2 rows (line 3, line 16); a sweep writes one per point" in line
    assert not (tmp_path / "figs").exists() or not list((tmp_path / "figs").iterdir())


def test_a_row_without_a_point_id_is_one_line_naming_it(mak, tmp_path, capsys):
    """It said "1 of its 0 points (e.g. nan) are not points of" the sweep."""
    edit_lines(mak / "table.csv", lambda lines: [*lines[:3], lines[3].rsplit(",", 1)[0] + ",", *lines[4:]])
    line = one_error_line(capsys, ["plot", MAK_TOML, "--sweep-dir", mak, "--out", tmp_path / "figs"])
    assert f"{mak / 'table.csv'}: line 4 has no point_id, so it is no row `ampsim sweep` wrote; run the sweep" in line


# -- values a log axis cannot show -------------------------------------------------------------------------------
def test_a_value_not_above_zero_on_a_tables_log_axis_names_the_column_value_and_line(tmp_path, capsys):
    """matplotlib left the 0 out of the figure without a word, exit 0."""
    table = tmp_path / "t.csv"
    table.write_text("a,b\n1,1.0\n0,2.0\n-2,3.0\n")
    line = one_error_line(capsys, ["plot", table, "--x", "a", "--y", "b", "--logx", "--out", tmp_path / "f.png"])
    assert line.endswith(f"{table}: column 'a' has 0 on line 3 and 1 more: a log axis (logx) shows only values > 0")
    assert not (tmp_path / "f.png").exists()


def test_a_value_not_above_zero_on_a_sweep_figures_log_axis_is_one_line(mak, tmp_path, capsys):
    edit_lines(mak / "table.csv", lambda lines: [lines[0], "0" + lines[1][1:], *lines[2:]])
    line = one_error_line(capsys, ["plot", MAK_TOML, "--sweep-dir", mak, "--out", tmp_path / "figs"])
    assert line.endswith(f"figure throughput_vs_mak_mnist: {mak / 'table.csv'}: column 'train.mak' has 0 on line 2: "
                         "a log axis (logx) shows only values > 0")


def test_a_time_of_zero_on_a_run_plots_log_axis_is_one_line(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.csv").write_text("epoch,instances,time_s,train_loss\n1,10,0.0,2.0\n2,20,1.0,1.5\n")
    line = one_error_line(capsys, ["plot", run, "--x", "time_s", "--y", "train_loss", "--logx",
                                   "--out", tmp_path / "f.png"])
    assert line.endswith(f"{run / 'metrics.csv'}: column 'time_s' has 0.0 on line 2: a log axis (logx) shows only "
                         "values > 0")


# -- the file name of a table's figure ----------------------------------------------------------------------------
def test_a_tables_figure_is_one_file_in_out_whatever_its_columns_are_named(tmp_path, capsys):
    """A column ``../../../evil`` wrote the figure outside --out, ``loss/val`` into a sub-folder."""
    (tmp_path / "data").mkdir()
    table = tmp_path / "data" / "t.csv"
    table.write_text("../../../evil,loss/val\n1,1.0\n2,2.0\n")
    out = tmp_path / "a" / "b" / "figs"
    assert main(["plot", str(table), "--x", "../../../evil", "--y", "loss/val", "--out", str(out)]) == 0
    name = "data_t_loss_val_vs_" + "_" * 6 + "evil"  # each / and each .. written _
    assert sorted(p.name for p in out.iterdir()) == [f"{name}.pdf", f"{name}.png"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "data"]


def test_two_csvs_of_one_folder_draw_two_figures(tmp_path, capsys):
    """Both were named after their folder: the second figure replaced the first."""
    for name in ("a.csv", "b.csv"):
        (tmp_path / name).write_text("x,y\n1,1.0\n2,2.0\n")
        assert main(["plot", str(tmp_path / name), "--x", "x", "--y", "y", "--out", str(tmp_path / "figs")]) == 0
    stem = tmp_path.name
    assert sorted(p.name for p in (tmp_path / "figs").glob("*.png")) == [f"{stem}_a_y_vs_x.png", f"{stem}_b_y_vs_x.png"]


# -- --x epoch, given ---------------------------------------------------------------------------------------------
def test_x_epoch_given_is_read_as_given(mak, tmp_path, capsys):
    """``--x epoch`` was taken for "not given" (the default): a metrics.csv plotted as a table said it needs
    --x, and a sweep file plotted with it ignored it without a word."""
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.csv").write_text("epoch,instances,time_s,train_loss\n1,10,0.5,2.0\n2,20,1.0,1.5\n")
    argv = ["--x", "epoch", "--y", "train_loss", "--out"]
    assert main(["plot", str(run / "metrics.csv"), *argv, str(tmp_path / "table.png")]) == 0, capsys.readouterr().err
    assert main(["plot", str(run), *argv, str(tmp_path / "runs.png")]) == 0, capsys.readouterr().err
    assert (tmp_path / "table.png").is_file() and (tmp_path / "runs.png").is_file()
    line = one_error_line(capsys, ["plot", MAK_TOML, "--sweep-dir", mak, "--x", "epoch", "--out", tmp_path / "figs"])
    assert line.endswith("--x: not read when plotting a sweep file")


# -- outputs checked before any is written ---------------------------------------------------------------------
@pytest.mark.parametrize("source", ["sweep-file", "table"])
def test_a_folder_in_the_way_of_a_figures_pdf_is_found_before_anything_is_written(mak, tmp_path, capsys, source):
    """The PNG was written, then the PDF refused: exit 2 with half a figure (and the sweep's other figures)."""
    figs = tmp_path / "figs"
    if source == "sweep-file":
        (figs / "staleness_vs_mak_mnist.pdf").mkdir(parents=True)  # the second figure's
        argv = ["plot", MAK_TOML, "--sweep-dir", mak, "--out", figs]
    else:  # (into a folder: the figure's .png and .pdf; --out f.png writes f.png alone)
        (figs / "mak_throughput_vs_train.mak.pdf").mkdir(parents=True)
        argv = ["plot", mak, "--x", "train.mak", "--y", "throughput", "--out", figs]
    line = one_error_line(capsys, argv)
    assert line.endswith(".pdf: is a folder, not a file")
    stem = "staleness_vs_mak_mnist" if source == "sweep-file" else "mak_throughput_vs_train.mak"
    assert [p.name for p in figs.iterdir()] == [f"{stem}.pdf"]


def test_a_sweep_table_of_its_header_alone_is_one_line(mak, tmp_path, capsys):
    """A warning (every point missing) came before the error line (no rows match): two lines."""
    edit_lines(mak / "table.csv", lambda lines: lines[:1])
    line = one_error_line(capsys, ["plot", MAK_TOML, "--sweep-dir", mak, "--out", tmp_path / "figs"])
    assert f"{mak / 'table.csv'}: holds no point (its header alone); run the sweep" in line


@pytest.mark.parametrize("source", ["csv", "folder"])
def test_a_table_of_its_header_alone_plotted_with_x_and_y_says_it_has_no_rows(mak, tmp_path, capsys, source):
    """It said "no y values to draw", as of a column whose cells are empty: the table has none."""
    table = tmp_path / "t.csv" if source == "csv" else mak / "table.csv"
    if source == "csv":
        table.write_text("x,y\n")
    else:
        edit_lines(table, lambda lines: lines[:1])
    x, y = ("x", "y") if source == "csv" else ("train.mak", "throughput")
    line = one_error_line(capsys, ["plot", table if source == "csv" else mak, "--x", x, "--y", y, "--out",
                                   tmp_path / "f.png"])
    assert line == f"ampsim: error: {table}: holds no rows (its header alone): nothing to draw"
    assert not (tmp_path / "f.png").exists()


@pytest.mark.parametrize("make, under, words", [
    (lambda p: p.write_text("a file\n"), "", "is a file, not a folder"),
    (lambda p: p.write_text("a file\n"), "sub", "a part of the path is a file, not a folder"),
    (os.mkfifo, "", "is a pipe, not a folder"),
], ids=["file", "below-a-file", "fifo"])
def test_a_sweep_dir_that_is_no_folder_says_so(tmp_path, capsys, make, under, words):
    """It said "<file>/table.csv not found (run the sweep first)": the sweep, run into that path, is refused."""
    make(tmp_path / "given")
    given = tmp_path / "given" / under if under else tmp_path / "given"
    line = one_error_line(capsys, ["plot", MAK_TOML, "--sweep-dir", given, "--out", tmp_path / "figs"])
    assert line.endswith(f"{given}: {words}; give --sweep-dir the sweep's folder (its table.csv and points)")
    assert not (tmp_path / "figs").exists()


@pytest.mark.parametrize("under", ["", "sub"], ids=["itself", "below-it"])
def test_an_out_folder_that_is_a_pipe_says_it_is_a_pipe(mak, tmp_path, capsys, under):
    """A sweep's figures into ``--out x.png``, a pipe (mkfifo): "x.png: is a file, not a folder"."""
    os.mkfifo(tmp_path / "x.png")
    out = tmp_path / "x.png" / under if under else tmp_path / "x.png"
    line = one_error_line(capsys, ["plot", MAK_TOML, "--sweep-dir", mak, "--out", out])
    assert line.endswith(f"{out}: cannot create: {tmp_path / 'x.png'} is a pipe, not a folder" if under else
                         f"{out}: is a pipe, not a folder")


@pytest.mark.parametrize("source", ["runs", "timeline", "table", "sweep-file"])
def test_an_out_that_is_a_pipe_is_refused_before_anything_is_drawn(mak, tmp_path, capsys, monkeypatch, source):
    """``mkfifo x.png``: the figure was drawn (a timeline of a long trace: seconds), and then refused as it was
    saved."""
    def drew(*_args, **_kwargs):
        pytest.fail("drawn before its output was checked")

    for where, name in [("ampsim.figures.runs", "plot_runs"), ("ampsim.figures.trace", "plot_run_timelines"),
                        ("ampsim.figures.lines", "draw_xy"), ("ampsim.figures.draw", "draw_figure")]:
        monkeypatch.setattr(f"{where}.{name}", drew)
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.csv").write_text("epoch,instances,time_s,train_loss\n1,10,0.5,2.0\n2,20,1.0,1.5\n")
    pipe = tmp_path / ("figs" if source == "sweep-file" else "f.png")
    if source == "sweep-file":
        pipe.mkdir()
        pipe = pipe / "throughput_vs_mak_mnist.png"  # (the sweep's first figure)
    os.mkfifo(pipe)
    argv = {"runs": ["plot", run, "--y", "train_loss"], "timeline": ["plot", run, "--timeline"],
            "table": ["plot", mak, "--x", "train.mak", "--y", "throughput"],
            "sweep-file": ["plot", MAK_TOML, "--sweep-dir", mak]}[source]
    out = pipe.parent if source == "sweep-file" else pipe
    line = one_error_line(capsys, [*argv, "--out", out])
    assert line.endswith(f"{pipe}: not a regular file (a device, pipe or folder): not replaced")


@pytest.mark.parametrize("cut", [False, True], ids=["whole", "last-row-lost"])
def test_a_compare_table_cut_at_the_end_of_a_row_is_one_line(tmp_path, capsys, cut):
    """A compare's table has a row per configuration it has runs of under runs/ beside it: cut at the end of a
    row, it was drawn as a compare of fewer configurations, exit 0."""
    measured = ROOT / "results" / "compare" / "list_reduction"
    folder = Path(shutil.copytree(measured, tmp_path / "cmp", ignore=shutil.ignore_patterns(
        "*.png", "metrics.csv", "staleness.json", "placement.json", "timing.json", "trace.json")))
    lines = (folder / "compare.csv").read_text().splitlines(keepends=True)
    if cut:
        (folder / "compare.csv").write_text("".join(lines[:-1]))
    argv = ["plot", folder / "compare.csv", "--x", "config", "--y", "measured_throughput", "--out", tmp_path / "f.png"]
    if not cut:
        assert main([str(a) for a in argv]) == 0 and (tmp_path / "f.png").is_file()
        return
    line = one_error_line(capsys, argv)
    assert line.startswith(f"ampsim: error: {folder / 'compare.csv'}: no row for the configuration of runs/")
    assert line.endswith("whose runs the compare that wrote the table made: cut short or edited since; copy or run "
                         "the compare again")
    assert not (tmp_path / "f.png").exists()


def test_an_infinite_y_in_an_xy_figure_is_drawn_without_its_point_and_said(tmp_path, capsys, caplog):
    """matplotlib leaves a point of y = ±inf out of its line (a loss that diverged): the figure is drawn, as
    before, and a warning names the column, the value and its lines (it was silent)."""
    table = tmp_path / "t.csv"
    table.write_text("a,b\n1,1.0\n2,inf\n3,3.0\n4,-inf\n")
    with caplog.at_level("WARNING", logger="ampsim.figures.lines"):
        assert main(["plot", str(table), "--x", "a", "--y", "b", "--out", str(tmp_path / "f.png")]) == 0
    assert (tmp_path / "f.png").is_file()
    (said,) = [r.getMessage() for r in caplog.records]
    assert said.startswith("figure ") and said.endswith(
        f": {table}: column 'b' is inf on line 3 and 1 more: left out of the figure (an infinite value has no place "
        "on its axis)")


@pytest.mark.parametrize("quick", [False, True], ids=["full", "quick"])
def test_a_sweep_not_run_yet_says_the_command_that_runs_it(tmp_path, capsys, quick):
    """`ampsim plot SWEEP.toml --quick` before `ampsim sweep SWEEP.toml --quick` said, per figure, "figure
    throughput_vs_mak_mnist: .../table.csv not found (run the sweep first); 1 other figure(s) not drawn either",
    naming neither the command nor the variant the folder needs."""
    none = tmp_path / "not_run"
    flag = ["--quick"] if quick else []
    line = one_error_line(capsys, ["plot", MAK_TOML, *flag, "--sweep-dir", none, "--out", tmp_path / "figs"])
    command = f"ampsim sweep {MAK_TOML}{' --quick' if quick else ''} --out {none}"
    assert line == f"ampsim: error: {none}/table.csv not found; run the sweep first ({command})"
    assert not (tmp_path / "figs").exists()
