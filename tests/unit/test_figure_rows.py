"""A figure shows exactly the rows it is given: lines named after what they average, no point left out or
shown in another's place. The sweep folders are written by hand (a table's rows, each point's metrics.csv
and summary.json), so the drawing functions are called without running a sweep."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from ampsim.errors import DataError, RunError
from ampsim.figures.lines import draw_bar, draw_curves, draw_xy
from ampsim.figures.selection import select
from ampsim.figures.trace import draw_heatmap
from ampsim.sweeps.figspec import FigureSpec


def sweep_folder(folder: Path, rows: list[dict]) -> pd.DataFrame:
    """A table of ``rows`` (point_id p0, p1, ...) and a finished point folder for each: a metrics.csv of two
    epochs (test_accuracy = the row's ``acc``) and a summary.json with the row's chip utilization."""
    table = []
    for i, row in enumerate(rows):
        point = folder / f"p{i}"
        point.mkdir(parents=True)
        acc = row.pop("acc", 0.5)
        (point / "metrics.csv").write_text(f"epoch,time_s,test_accuracy\n1,1.0,{acc}\n2,2.0,{acc}\n")
        (point / "summary.json").write_text(json.dumps({"chip_utilization": row.pop("chips", [0.5, 0.25])}))
        table.append({**row, "metric": "test_accuracy", "time_unit": "simulated", "point_id": f"p{i}"})
    return pd.DataFrame(table)


def legend(fig) -> list[str]:
    return [t.get_text() for t in fig.axes[0].get_legend().get_texts()]


def test_a_curve_of_several_labelled_points_is_named_by_its_hue_not_one_points_label(tmp_path):
    """The line of mak=1 averages two points (labelled a and b); it was named "a", the first one's label."""
    df = sweep_folder(tmp_path, [{"train.mak": 1, "train.lr": 0.1, "label": "a"},
                                 {"train.mak": 1, "train.lr": 0.2, "label": "b"},
                                 {"train.mak": 4, "train.lr": 0.1, "label": "c"},
                                 {"train.mak": 4, "train.lr": 0.2, "label": "c"}])
    spec = FigureSpec(name="f", kind="curves", x="epoch", y="metric", hue=("train.mak",))
    assert legend(draw_curves(df, tmp_path, spec, ["train.mak", "train.lr"])) == ["mak=1", "c"]


def test_an_xy_line_of_points_of_several_labels_is_not_named_after_one(tmp_path):
    df = pd.DataFrame({"train.mak": [1, 2], "throughput": [1.0, 2.0], "label": ["a", "b"]})
    spec = FigureSpec(name="f", kind="xy", x="train.mak", y="throughput")
    assert legend(draw_xy(df, tmp_path, spec, ["train.mak"])) == ["all points"]


def test_a_heatmap_row_of_points_that_differ_in_another_swept_key_is_refused(tmp_path):
    """It showed the first of them (round_robin's) as the row of mak=1, the other left out without a word."""
    df = sweep_folder(tmp_path, [{"train.mak": m, "placement.strategy": s, "experiment.seed": seed}
                                 for m in (1, 4) for s in ("round_robin", "single") for seed in (0, 1)])
    spec = FigureSpec(name="heat", kind="heatmap", y="train.mak")
    swept = ["train.mak", "placement.strategy", "experiment.seed"]
    with pytest.raises(RunError, match=r"^figure heat: a heatmap row per train.mak shows one point, but the points "
                                       r"of a row differ in placement.strategy; pick one with where"):
        draw_heatmap(df, tmp_path, spec, swept)
    one = df[df["placement.strategy"] == "single"]  # seeds alone may differ within a row: the first is shown
    fig = draw_heatmap(one, tmp_path, spec, swept)
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["1", "4"]


def test_the_empty_x_cells_of_a_bar_figure_are_one_category(tmp_path):
    """Each empty cell was a category of its own (a tick "n/a" each, with no bar: groupby left them out)."""
    df = pd.DataFrame({"placement.strategy": ["a", None, "b", None], "throughput": [1.0, 2.0, 3.0, 4.0]})
    fig = draw_bar(df, tmp_path, FigureSpec(name="f", kind="bar", x="placement.strategy", y="throughput"), [])
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "n/a", "b"]
    assert [p.get_height() for p in ax.patches] == [1.0, 3.0, 3.0]


def test_a_curves_value_not_above_zero_on_a_log_axis_names_its_metrics_file(tmp_path):
    df = sweep_folder(tmp_path, [{"train.mak": 1}, {"train.mak": 4}])
    metrics = tmp_path / "p1" / "metrics.csv"
    metrics.write_text("epoch,time_s,test_accuracy\n1,1.0,0.5\n2,2.0,0.0\n")
    spec = FigureSpec(name="f", kind="curves", x="time_s", y="metric", logy=True)
    with pytest.raises(DataError, match=f"^figure f: {metrics}: column 'test_accuracy' has 0.0 on line 3: a log axis "
                                        r"\(logy\) shows only values > 0$"):
        draw_curves(df, tmp_path, spec, ["train.mak"])


def test_where_true_keeps_the_rows_that_are_true_not_those_of_1():
    """``where = { k = true }`` kept the rows where a number column k was 1 (float(True) == 1), and 1 the true."""
    df = pd.DataFrame({"k": [1, 0, 2], "b": [True, False, True]})
    assert select(df, FigureSpec(name="f", kind="xy", where={"b": True})).index.tolist() == [0, 2]
    with pytest.raises(RunError, match="no rows of the sweep table match"):
        select(df, FigureSpec(name="f", kind="xy", where={"k": True}))
    with pytest.raises(RunError, match="no rows of the sweep table match"):
        select(df, FigureSpec(name="f", kind="xy", where={"b": 1}))
