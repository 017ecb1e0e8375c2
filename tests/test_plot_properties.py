"""``ampsim plot`` and the figures, by property: a figure draws exactly what its table holds (every point of an
xy line is the mean of the table's rows of that hue and x, sorted by x, empty cells left out; a bar the mean
of its category), the same table draws byte-identical files, every committed sweep's table figures draw from
the committed tables without a warning, and ``--out`` naming a file or a run folder writes nothing it should not.

The tables are small and made here (seeded, so every run draws the same ones); the committed ones are read, never
written: every figure goes into ``tmp_path``.
"""

from __future__ import annotations

import math
import random
import shutil
import warnings
from pathlib import Path

import pytest
from test_bad_input import one_error_line

from ampsim.cli import main
from ampsim.figures import canvas, draw  # noqa: F401  (draw first: it binds canvas.save_figure as it loads)
from ampsim.figures.canvas import pyplot

ROOT = Path(__file__).resolve().parents[1]
SWEEPS = sorted((ROOT / "experiments" / "sweeps").glob("*.toml"))
MAK_TOML = ROOT / "experiments" / "sweeps" / "mak_mnist.toml"
MAK = ROOT / "results" / "sweeps" / "mak_mnist"


def drawn(monkeypatch, argv: list) -> object:
    """The figure ``ampsim plot`` draws for ``argv`` (a table's: one figure), caught where it would be saved."""
    caught = []
    monkeypatch.setattr(canvas, "save_figure", lambda fig, stem, formats=("png", "pdf"): caught.append(fig) or [])
    assert main([str(a) for a in argv]) == 0
    (fig,) = caught
    return fig


def _number(cell: str) -> float | None:
    return float(cell) if cell else None


def random_table(rng: random.Random) -> tuple[str, list[tuple[float | None, float | None, str]]]:
    """A CSV of columns x, y, h (a hue: a, b or empty) and its rows; every row with a y has an x."""
    rows = []
    for _ in range(rng.randint(1, 9)):
        x = rng.choice(["1", "2", "4", "2.5", "0.001", "-3"])
        y = rng.choice(["1.0", "3.5", "-2", "", "7", "0.1", "inf"])
        rows.append((_number(x), _number(y), rng.choice(["a", "b", ""])))
    text = "x,y,h\n" + "".join(f"{'' if x is None else x},{'' if y is None else y},{h}\n" for x, y, h in rows)
    return text, rows


def expected_lines(rows) -> dict[str, tuple[list[float], list[float]]]:
    """Per hue value (as the legend names it): the x values sorted, and the mean y of the rows at each, of the
    rows with a y; a hue whose every mean is infinite is no line."""
    out = {}
    for hue in dict.fromkeys(h for _, _, h in rows):
        at: dict[float, list[float]] = {}
        for x, y, h in rows:
            if h == hue and y is not None:
                at.setdefault(x, []).append(y)
        xs = sorted(at)
        means = [sum(at[x]) / len(at[x]) for x in xs]
        if any(math.isfinite(m) for m in means):
            out[f"h={hue or 'n/a'}"] = (xs, means)
    return out


@pytest.mark.parametrize("seed", range(40))
def test_every_point_of_an_xy_line_is_the_mean_of_its_rows_sorted_by_x(tmp_path, monkeypatch, seed):
    text, rows = random_table(random.Random(seed))
    (tmp_path / "t.csv").write_text(text)
    want = expected_lines(rows)
    argv = ["plot", tmp_path / "t.csv", "--x", "x", "--y", "y", "--hue", "h", "--out", tmp_path / "o"]
    if not want:  # (nothing finite to draw: one line, tested in test_bad_input_plot_tables.py)
        assert main([str(a) for a in argv]) == 2
        return
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fig = drawn(monkeypatch, argv)
    got = {c.get_label(): ([float(v) for v in c.lines[0].get_xdata()], [float(v) for v in c.lines[0].get_ydata()])
           for c in fig.axes[0].containers}
    pyplot().close(fig)
    assert got == want


def test_a_bar_is_the_mean_of_its_category_in_the_tables_order(tmp_path, monkeypatch):
    (tmp_path / "t.csv").write_text("x,y\nring,4\nmesh,1\nring,2\n,5\nmesh,\n")
    fig = drawn(monkeypatch, ["plot", tmp_path / "t.csv", "--x", "x", "--y", "y", "--out", tmp_path / "o"])
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["ring", "mesh", "n/a"]
    assert [p.get_height() for p in ax.patches] == [3.0, 1.0, 5.0]
    pyplot().close(fig)


def test_the_same_table_draws_the_same_png_and_pdf_twice(tmp_path, monkeypatch):
    (tmp_path / "t.csv").write_text("x,y,h\n1,2,a\n2,3,a\n1,1,b\n4,5,b\n")
    files = []
    for i, epoch in enumerate(("1000000000", "1700000000")):  # (matplotlib dates a PDF by this when set)
        monkeypatch.setenv("SOURCE_DATE_EPOCH", epoch)
        assert main(["plot", str(tmp_path / "t.csv"), "--x", "x", "--y", "y", "--out", str(tmp_path / str(i))]) == 0
        files.append({p.name: p.read_bytes() for p in sorted((tmp_path / str(i)).iterdir())})
    assert len(files[0]) == 2 and files[0] == files[1]


@pytest.mark.parametrize("sweep", SWEEPS, ids=[p.stem for p in SWEEPS])
def test_a_committed_sweeps_table_figures_draw_its_tables_means_without_a_warning(sweep):
    """Its xy and bar figures (those that read the table alone), drawn from the committed table; an xy figure's
    points are the table's means per hue and x."""
    from ampsim.figures.draw import check_table_of, draw_figure
    from ampsim.figures.selection import select
    from ampsim.sweeps.spec import load_sweep
    from ampsim.tables import read_table

    s = load_sweep(sweep, sized=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_table_of(s, s.default_dir)
        for spec in (f for f in s.figures if f.kind in ("xy", "bar")):
            fig = draw_figure(spec, s.default_dir, s.keys)
            if spec.kind == "xy":
                rows = select(read_table(s.default_dir), spec).dropna(subset=[spec.y])
                points = sorted((float(x), float(y)) for c in fig.axes[0].containers
                                for x, y in zip(c.lines[0].get_xdata(), c.lines[0].get_ydata()))
                n_lines = len(fig.axes[0].containers)
                pyplot().close(fig)
                assert len(points) <= len(rows) and n_lines >= 1
                means = rows.groupby([spec.x, *(spec.hue or [k for k in s.keys if k in rows.columns
                                                              and k not in (spec.x, "experiment.seed")])],
                                     dropna=False)[spec.y].mean()
                want = sorted((float(k[0] if isinstance(k, tuple) else k), float(v)) for k, v in means.items()
                              if math.isfinite(v))
                assert [x for x, _ in want] == [x for x, _ in points], spec.name
                assert [y for _, y in want] == pytest.approx([y for _, y in points], rel=1e-12), spec.name
            else:
                pyplot().close(fig)


# -- --out --------------------------------------------------------------------------------------------------
def test_a_sweeps_out_named_as_a_figure_file_is_one_line_not_a_folder_of_that_name(tmp_path, capsys):
    """--out figs.png: a folder named figs.png was made, holding the sweep's figures (plot RUN --out figs.png
    and a table's write that file)."""
    line = one_error_line(capsys, ["plot", MAK_TOML, "--sweep-dir", MAK, "--out", tmp_path / "figs.png"])
    assert line == (f"ampsim: error: --out {tmp_path / 'figs.png'}: a sweep's figures (2, a .png and a .pdf each) go "
                    "into a folder; give a folder, not a figure file")
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "figs.pdf").mkdir()  # (a folder so named is a folder)
    assert main(["plot", str(MAK_TOML), "--sweep-dir", str(MAK), "--out", str(tmp_path / "figs.pdf")]) == 0
    assert len(list((tmp_path / "figs.pdf").iterdir())) == 4


@pytest.mark.parametrize("suffix", [".png", ".pdf"])
def test_a_tables_out_named_as_a_figure_file_writes_that_file_alone(tmp_path, capsys, suffix):
    """``plot TABLE --out q/f.pdf`` wrote q/f.png beside it (and ``--out q/f.png`` a q/f.pdf): a figure file is
    written as asked, as run folders' is; a folder takes the figure's .png and .pdf (their printed paths)."""
    (tmp_path / "t.csv").write_text("x,y\n1,2\n2,3\n")
    out = tmp_path / "q" / f"f{suffix}"
    assert main(["plot", str(tmp_path / "t.csv"), "--x", "x", "--y", "y", "--out", str(out)]) == 0
    assert capsys.readouterr().out.splitlines() == [str(out)]
    assert [p.name for p in (tmp_path / "q").iterdir()] == [out.name]
    assert out.read_bytes().startswith(b"%PDF" if suffix == ".pdf" else b"\x89PNG")
    assert main(["plot", str(tmp_path / "t.csv"), "--x", "x", "--y", "y", "--out", str(tmp_path / "figs")]) == 0
    stem = tmp_path / "figs" / f"{tmp_path.name}_t_y_vs_x"
    assert capsys.readouterr().out.splitlines() == [f"{stem}.png", f"{stem}.pdf"]
    assert sorted(p.name for p in (tmp_path / "figs").iterdir()) == [f"{stem.name}.pdf", f"{stem.name}.png"]


@pytest.fixture
def run(tmp_path) -> Path:
    """A copy of a committed sweep point (a finished run: its config, summary and metrics) in ``tmp_path/run``."""
    point = next(p for p in sorted(MAK.iterdir()) if (p / "metrics.csv").is_file())
    return Path(shutil.copytree(point, tmp_path / "run"))


def snapshot(root: Path) -> dict[str, bytes | None]:
    return {str(p.relative_to(root)): (p.read_bytes() if p.is_file() else None) for p in sorted(root.rglob("*"))}


@pytest.mark.parametrize("timeline", [False, True])
def test_a_run_plotted_into_its_own_folder_keeps_its_files(run, capsys, timeline):
    """``plot RUN --out RUN`` writes runs.png (or timeline.png) into the run's folder and touches nothing else;
    a run into that folder then refuses it, saying so (tests/test_bad_input.py), rather than deleting it."""
    before = snapshot(run)
    if timeline:  # (a committed point has no trace: one line naming it, nothing written)
        line = one_error_line(capsys, ["plot", run, "--timeline", "--out", run])
        assert line.endswith(f"{run / 'trace.json'}: no such file (train the run with --trace)")
        assert snapshot(run) == before
        return
    assert main(["plot", str(run), "--out", str(run)]) == 0
    after = snapshot(run)
    assert sorted(set(after) - set(before)) == ["runs.png"] and {k: after[k] for k in before} == before


@pytest.mark.parametrize("source", ["runs", "table", "sweep"])
def test_a_figure_folder_inside_a_finished_run_is_one_line(run, tmp_path, capsys, source):
    """``--out RUN/figs``: the folder was made inside the finished run, which then was no run folder (a run into
    it refused as "exists and is not a run folder"); no command's output goes inside a run."""
    out = {"runs": run / "figs" / "f.png", "table": run / "figs", "sweep": run / "figs"}[source]
    argv = {"runs": ["plot", run], "table": ["plot", MAK / "table.csv", "--x", "train.mak", "--y", "throughput"],
            "sweep": ["plot", MAK_TOML, "--sweep-dir", MAK]}[source]
    before = snapshot(run)
    line = one_error_line(capsys, [*argv, "--out", out])
    assert line == (f"ampsim: error: {run / 'figs'}: is inside the finished run {run}; give a folder outside it, or "
                    "the run's folder itself")
    assert snapshot(run) == before


# -- a figure spec ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind, key, value", [("xy", "window", "0.1"), ("bar", "links", "false"),
                                              ("curves", "window", "0.5"), ("heatmap", "x", '"train.mak"'),
                                              ("heatmap", "hue", '"train.mak"'), ("heatmap", "xlabel", '"chips"'),
                                              ("timeline", "y", '"throughput"'), ("timeline", "hue", '"train.mak"'),
                                              ("heatmap", "legend", '"outside"'), ("timeline", "legend", '"best"')])
def test_a_figure_key_its_kind_does_not_read_is_one_line(tmp_path, capsys, kind, key, value):
    """window = 0.1 on an xy figure, hue on a heatmap, y on a timeline: each was drawn as if not given, without a
    word (a log axis the kind has not was refused already)."""
    xy = 'x = "train.mak"\ny = "throughput"\n' if kind in ("xy", "bar") else ""
    sweep = tmp_path / "s.toml"
    sweep.write_text(f'[sweep]\nexperiment = "{ROOT / "experiments" / "blobs_mlp.toml"}"\n[fixed]\n'
                     f'"executor.trace" = true\n[grid]\n"train.mak" = [1, 2]\n'
                     f'[[figure]]\nname = "f"\nkind = "{kind}"\n{xy}{key} = {value}\n')
    line = one_error_line(capsys, ["plot", sweep, "--out", tmp_path / "o"])
    assert line == f"ampsim: error: {sweep}: figure[0].{key}: a figure of kind {kind!r} does not read it; remove it"
    assert not (tmp_path / "o").exists()


def test_a_legend_place_not_known_is_one_line(tmp_path, capsys):
    sweep = tmp_path / "s.toml"
    sweep.write_text(f'[sweep]\nexperiment = "{ROOT / "experiments" / "blobs_mlp.toml"}"\n[grid]\n"train.mak" = [1, 2]\n'
                     '[[figure]]\nname = "f"\nkind = "curves"\nlegend = "left"\n')
    line = one_error_line(capsys, ["plot", sweep, "--out", tmp_path / "o"])
    assert line == f"ampsim: error: {sweep}: figure[0].legend: must be one of 'best', 'outside', got 'left'"


def test_logx_on_a_tables_text_x_is_one_line_not_a_linear_axis(tmp_path, capsys):
    """A text x is drawn as bars by category: --logx was dropped without a word (a sweep file's bar figure with
    logx = true is refused)."""
    (tmp_path / "t.csv").write_text("x,y\nring,1\nmesh,2\n")
    line = one_error_line(capsys, ["plot", tmp_path / "t.csv", "--x", "x", "--y", "y", "--logx", "--out",
                                   tmp_path / "o"])
    assert line == (f"ampsim: error: --logx: {tmp_path / 't.csv'}: column 'x' holds text, drawn as bars by category, "
                    "which have no log x axis")
    assert not (tmp_path / "o").exists()
