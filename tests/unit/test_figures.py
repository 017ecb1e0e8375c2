"""Figures from a tiny sweep: every kind has labelled axes (with units), a legend or colour bar, and data;
the written PNGs are small; the demo runs end to end; ``ampsim plot`` draws from sweep files and run folders."""

from pathlib import Path

import pytest

from ampsim.cli import main
from ampsim.errors import ConfigError, RunError
from ampsim.figures.draw import draw_figure, draw_sweep_figures
from ampsim.sweeps.figspec import FigureSpec
from ampsim.sweeps.run import run_sweep
from ampsim.sweeps.spec import load_sweep


@pytest.fixture(autouse=True)
def _closed_figures():
    """The figures a test draws are closed after it (pyplot keeps them: more than 20 open is a warning)."""
    yield
    import matplotlib.pyplot as plt

    plt.close("all")

ROOT = Path(__file__).resolve().parents[2]

SWEEP = f"""
[sweep]
experiment = "{ROOT / 'experiments' / 'blobs_mlp.toml'}"
hardware = "{ROOT / 'hardware_models' / 'ring4.toml'}"
seeds = [0, 1]

[fixed]
"data.n_train" = 320
"data.n_test" = 100
"model.hidden" = [16, 16]
"train.epochs" = 3
"train.target" = 0.5
"executor.trace" = true

[grid]
"train.mak" = [1, 4]
"placement.strategy" = ["round_robin", "single"]

[[figure]]
name = "acc_time"
kind = "curves"
x = "time_s"
hue = ["train.mak", "placement.strategy"]
logx = true

[[figure]]
name = "thr_mak"
kind = "xy"
x = "train.mak"
y = "throughput"
hue = "placement.strategy"

[[figure]]
name = "bars"
kind = "bar"
x = "placement.strategy"
y = "time_to_target_s"
hue = "train.mak"

[[figure]]
name = "heat"
kind = "heatmap"
y = "train.mak"
where = {{ "placement.strategy" = "round_robin" }}

[[figure]]
name = "timeline"
kind = "timeline"
where = {{ "train.mak" = 4, "placement.strategy" = "round_robin" }}
window = 0.5
"""


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    folder = tmp_path_factory.mktemp("figs")
    path = folder / "tiny.toml"
    path.write_text(SWEEP)
    sweep = load_sweep(path)
    run_sweep(sweep, folder / "sweep", jobs=2)
    return sweep, folder


def _has_data(ax) -> bool:
    if any(len(line.get_xdata()) for line in ax.get_lines()):
        return True
    if any(len(c.get_paths()) for c in ax.collections) or ax.patches or ax.images:
        return True
    return False


@pytest.mark.parametrize("name", ["acc_time", "thr_mak", "bars", "heat", "timeline"])
def test_every_figure_kind_is_labelled_and_has_data(tiny, name):
    sweep, folder = tiny
    spec = next(f for f in sweep.figures if f.name == name)
    fig = draw_figure(spec, folder / "sweep", sweep.keys)
    axes = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    assert axes and all(_has_data(ax) for ax in axes)
    for ax in axes:
        assert ax.get_xlabel() and ax.get_ylabel()
    labels = " ".join(ax.get_xlabel() + " " + ax.get_ylabel() for ax in axes)
    if name == "acc_time":
        assert "simulated time (s)" in labels and "accuracy" in labels
    if name in ("thr_mak", "bars"):
        assert "(instances per simulated s)" in labels or "(simulated s)" in labels
    if name == "timeline":
        assert "µs" in labels
    if name == "heat":  # a colour bar instead of a legend, labelled with its unit
        bars = [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]
        assert bars and "fraction" in bars[0].get_ylabel()
    else:
        legend = axes[0].get_legend()
        assert legend is not None and [t.get_text() for t in legend.get_texts()]
    assert any(fig.axes[0].get_title(loc=loc) for loc in ("center", "left")) or fig._suptitle is not None


def test_curves_have_one_line_per_group_averaged_over_seeds(tiny):
    sweep, folder = tiny
    fig = draw_figure(sweep.figures[0], folder / "sweep", sweep.keys)
    lines = fig.axes[0].get_lines()
    assert len(lines) == 4 and all(len(line.get_xdata()) == 3 for line in lines)
    texts = sorted(t.get_text() for t in fig.axes[0].get_legend().get_texts())
    assert texts[0].startswith("mak=1")


def test_a_points_metrics_without_epoch_is_one_line_naming_the_point(tiny, tmp_path):
    """A curves figure averages seeds by epoch: a point's metrics.csv without that column was a KeyError."""
    import shutil

    sweep, folder = tiny
    shutil.copytree(folder / "sweep", tmp_path / "sweep")
    point = sorted(p for p in (tmp_path / "sweep").iterdir() if (p / "metrics.csv").is_file())[0]
    lines = (point / "metrics.csv").read_text().splitlines()
    (point / "metrics.csv").write_text("\n".join(line.partition(",")[2] for line in lines) + "\n")
    with pytest.raises(RunError, match=rf"figure acc_time: metrics.csv of {point.name} has no column 'epoch'$"):
        draw_figure(sweep.figures[0], tmp_path / "sweep", sweep.keys)


def test_written_files_png_pdf_small(tiny, tmp_path):
    sweep, folder = tiny
    written = draw_sweep_figures(sweep, folder / "sweep", tmp_path)
    assert sorted(p.name for p in written) == sorted(f"{f.name}.{x}" for f in sweep.figures for x in ("png", "pdf"))
    for p in written:
        assert p.stat().st_size > 1000
        if p.suffix == ".png":
            assert p.stat().st_size <= 300_000
            assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and f"Title\x00{p.stem}".encode() in p.read_bytes()


def test_empty_selection_is_an_error_not_an_empty_figure(tiny):
    sweep, folder = tiny
    spec = FigureSpec(name="none", kind="xy", x="train.mak", y="throughput", where={"train.mak": 99})
    with pytest.raises(RunError, match="no rows"):
        draw_figure(spec, folder / "sweep", sweep.keys)


def test_plot_cli_for_sweep_file_and_run_folders(tiny, tmp_path, capsys):
    sweep, folder = tiny
    assert main(["plot", str(sweep.path), "--sweep-dir", str(folder / "sweep"), "--out", str(tmp_path)]) == 0
    assert (tmp_path / "timeline.png").is_file()
    runs = sorted(p for p in (folder / "sweep").iterdir() if p.is_dir())[:2]
    assert main(["plot", *map(str, runs), "--x", "time_s", "--out", str(tmp_path / "runs.png")]) == 0
    assert (tmp_path / "runs.png").stat().st_size > 1000
    assert main(["plot", str(tmp_path / "nothing")]) == 2
    assert main(["plot", str(folder / "sweep"), "--x", "train.mak", "--y", "staleness_mean",
                 "--hue", "placement.strategy", "--out", str(tmp_path / "table.png")]) == 0
    assert (tmp_path / "table.png").is_file() and not (tmp_path / "table.pdf").exists()  # (the file named alone)
    csv = tmp_path / "compare.csv"  # any CSV, e.g. results/compare/<exp>/compare.csv
    csv.write_text("executor,mak,throughput\nsim,1,100\nmulticore,1,90\nsim,4,300\nmulticore,4,250\n")
    assert main(["plot", str(csv), "--x", "executor", "--y", "throughput", "--out", str(tmp_path / "c.png")]) == 0
    assert main(["plot", str(csv), "--x", "mak", "--y", "nope"]) == 2


def test_run_timelines_draw_traced_runs_on_one_axis_with_the_controllers_marks(tiny, tmp_path):
    from ampsim.figures.trace import load_trace
    from ampsim.runread import read_summary

    _, folder = tiny
    runs = sorted(p for p in (folder / "sweep").iterdir() if (p / "trace.json").is_file())[:2]
    for run in runs:  # the controller's track: each training instance admitted once and completed once
        spans, _, marks = load_trace(run / "trace.json")
        n = read_summary(run)["instances"]
        assert len(marks["admit"]) == len(marks["complete"]) == n and spans
        assert sorted(marks["admit"])[:1] == [0.0] and max(marks["complete"]) <= max(s + d for *_, s, d in spans)
    out = tmp_path / "timeline.png"
    assert main(["plot", *map(str, runs), "--timeline", "--window-s", "0.01", "--out", str(out)]) == 0
    assert out.stat().st_size > 1000
    last_s = max(s + d for run in runs for *_, s, d in load_trace(run / "trace.json")[0]) / 1e6
    assert main(["plot", *map(str, runs), "--timeline", "--start-s", str(last_s / 2), "--window-s", "0.01",
                 "--out", str(tmp_path / "later.png")]) == 0
    assert main(["plot", *map(str, runs), "--timeline", "--start-s", str(last_s * 2),  # after the traces' end
                 "--out", str(tmp_path / "empty.png")]) == 2 and not (tmp_path / "empty.png").exists()
    assert main(["plot", str(runs[0]), "--timeline", "--start-s", "-1", "--out", str(out)]) == 2
    assert main(["plot", str(folder), "--timeline"]) == 2  # not a run folder
    (tmp_path / "untraced").mkdir()
    (tmp_path / "untraced" / "metrics.csv").write_text("epoch\n")
    assert main(["plot", str(runs[0]), str(tmp_path / "untraced"), "--timeline", "--out", str(out)]) == 2
    assert main(["plot", str(runs[0]), "--timeline", "--window-s", "0", "--out", str(out)]) == 2


def test_demo_runs_offline_and_writes_its_figure(tmp_path):
    from ampsim.demo import run_demo

    png = run_demo(tmp_path / "demo", progress=False)
    assert png.is_file() and png.suffix == ".png" and png.with_suffix(".pdf").is_file()
    assert (tmp_path / "demo" / "sweep" / "table.csv").is_file()
    assert (tmp_path / "demo" / "inputs" / "demo_sweep.toml").is_file()
    assert run_demo(tmp_path / "demo", progress=False) == png  # an earlier demo's folder: its points reused
    edited = tmp_path / "demo" / "inputs" / "demo_sweep.toml"  # edited, as the demo's docstring invites
    edited.write_text(edited.read_text() + "# mine\n")
    with pytest.raises(ConfigError, match=r"inputs: demo_sweep.toml edited since the demo wrote it; run the edited"):
        run_demo(tmp_path / "demo", progress=False)
    assert edited.read_text().endswith("# mine\n")  # not written over


def test_an_earlier_demos_sweep_file_is_its_own_not_an_edited_one(tmp_path):
    """The demo's sweep file changed (its legend went outside the axes): a folder an earlier demo wrote was
    refused as edited. The earlier text is this one's without that line; it is written over."""
    import hashlib

    from ampsim.demo import EARLIER, SWEEP, write_inputs

    earlier = SWEEP.replace('legend = "outside"\n', "")
    assert earlier != SWEEP and hashlib.sha256(earlier.encode()).hexdigest() in EARLIER["demo_sweep.toml"]
    (tmp_path / "demo_sweep.toml").write_text(earlier)
    assert write_inputs(tmp_path).read_text() == SWEEP


def test_a_legend_outside_covers_none_of_the_axes_and_widens_the_figure(tiny):
    from dataclasses import replace

    sweep, folder = tiny
    spec = next(f for f in sweep.figures if f.name == "acc_time")
    inside = draw_figure(spec, folder / "sweep", sweep.keys)
    assert spec.legend == "best"
    fig = draw_figure(replace(spec, legend="outside"), folder / "sweep", sweep.keys)
    fig.canvas.draw()
    ax = fig.axes[0]
    legend, box = ax.get_legend().get_window_extent(), ax.get_window_extent()
    assert legend.x0 > box.x1 and legend.x1 <= fig.bbox.x1  # right of the axes, inside the figure
    assert fig.get_size_inches()[0] > inside.get_size_inches()[0]
    assert fig.get_size_inches()[1] == inside.get_size_inches()[1]


def test_bars_dodge_a_crossed_hue_and_stand_full_width_for_a_nested_one(tiny):
    import pandas as pd

    from ampsim.figures.lines import draw_bar

    sweep, folder = tiny
    crossed = draw_figure(next(f for f in sweep.figures if f.name == "bars"), folder / "sweep", sweep.keys)
    assert {round(p.get_width(), 3) for p in crossed.axes[0].patches} == {0.4}  # two mak values per strategy
    # one label per point, coloured by its setting (staleness-bounded admission's figures): no dodging
    df = pd.DataFrame({"label": ["mak 16", "mak 64", "bound 1", "bound 2.75 from 48 (a long label)"],
                       "train.max_staleness": [0.0, 0.0, 1.0, 2.75], "throughput": [1.0, 2.0, 1.5, 2.0]})
    fig = draw_bar(df, folder, FigureSpec("n", "bar", x="label", y="throughput", hue=("train.max_staleness",)), [])
    bars = [p for p in fig.axes[0].patches if p.get_height() > 0]
    assert sorted(round(p.get_x() + p.get_width() / 2, 3) for p in bars) == [0.0, 1.0, 2.0, 3.0]
    assert {round(p.get_width(), 3) for p in bars} == {0.8}


def test_a_tables_figure_named_by_a_dotted_column_is_a_file_in_the_figures_folder(tiny, tmp_path, monkeypatch):
    """The figure's name, ``<folder>_<y>_vs_train.mak``, was read as a file with the suffix ``.mak``: the figure
    went into a folder of that name inside results/figures/ (or inside ``--out``)."""
    _, folder = tiny
    monkeypatch.chdir(tmp_path)
    name = "sweep_staleness_mean_vs_train.mak"
    assert main(["plot", str(folder / "sweep"), "--x", "train.mak", "--y", "staleness_mean"]) == 0
    assert sorted(p.name for p in (tmp_path / "results" / "figures").iterdir()) == [f"{name}.pdf", f"{name}.png"]
    assert main(["plot", str(folder / "sweep"), "--x", "train.mak", "--y", "staleness_mean", "--out", "figs"]) == 0
    assert sorted(p.name for p in (tmp_path / "figs").iterdir()) == [f"{name}.pdf", f"{name}.png"]


@pytest.mark.parametrize("suffix", [".pdf", ".png"])
def test_the_same_figure_drawn_again_is_the_same_file(tmp_path, monkeypatch, suffix):
    """A PDF carried its creation date: re-plotting a sweep changed every committed PDF in git."""
    from ampsim.figures.canvas import new_figure, save_figure

    files = []
    for i, epoch in enumerate(("1000000000", "1700000000")):  # (matplotlib dates a PDF by this when set)
        monkeypatch.setenv("SOURCE_DATE_EPOCH", epoch)
        fig, ax = new_figure()
        ax.plot([1, 2, 3], [3, 1, 2])
        files.append(next(p for p in save_figure(fig, tmp_path / str(i) / "f") if p.suffix == suffix).read_bytes())
    assert files[0] == files[1]


def test_a_run_figure_named_without_a_suffix_is_a_png(tmp_path):
    """matplotlib's own saving gave it .png; saved through a temporary file, the file's name was taken for the
    format ('tmp': a ValueError)."""
    from ampsim.figures.canvas import new_figure, save_image

    fig, _ = new_figure()
    assert save_image(fig, tmp_path / "fig") == tmp_path / "fig.png" and (tmp_path / "fig.png").stat().st_size > 1000


def test_a_timeline_counts_links_not_their_lanes_when_it_decides_to_show_them(tmp_path):
    """Messages sharing a packet link take lanes of their own, named as the link: 20 links of two lanes each were
    counted as 40 and hid the link rows (shown up to 24 links)."""
    import json

    import pandas as pd

    from ampsim.figures.trace import draw_timeline
    from ampsim.trace import LINK_PID

    events = [{"name": "fc0 fwd", "ph": "X", "pid": 0, "tid": 0, "ts": 0.0, "dur": 1.0}]
    for lid in range(20):
        for lane in range(2):
            tid = lid + 20 * lane
            events += [{"name": "thread_name", "ph": "M", "pid": LINK_PID, "tid": tid, "args": {"name": f"{lid}->x"}},
                       {"name": "8 B", "ph": "X", "pid": LINK_PID, "tid": tid, "ts": 0.5, "dur": 1.0}]
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "trace.json").write_text(json.dumps({"traceEvents": events}))
    fig = draw_timeline(pd.DataFrame({"point_id": ["p"]}), tmp_path, FigureSpec(name="t", kind="timeline"), [])
    assert fig.axes[0].get_ylabel() == "chip / directed link"


def test_a_figure_that_cannot_be_drawn_keeps_none_of_the_others_from_being_drawn(tiny, tmp_path):
    """A timeline whose points' trace.json is not there (traces are not committed) stopped every figure after it."""
    import dataclasses
    import shutil

    sweep, folder = tiny
    shutil.copytree(folder / "sweep", tmp_path / "sweep")
    for trace in (tmp_path / "sweep").rglob("trace.json"):
        trace.unlink()
    first = dataclasses.replace(sweep, figures=sorted(sweep.figures, key=lambda f: f.kind != "timeline"))
    with pytest.raises(RunError, match=r"^figure timeline: .*trace\.json not found .*; the other 4 written into "):
        draw_sweep_figures(first, tmp_path / "sweep", tmp_path / "figs")
    assert sorted(p.name for p in (tmp_path / "figs").glob("*.png")) == ["acc_time.png", "bars.png", "heat.png",
                                                                         "thr_mak.png"]


@pytest.mark.parametrize("lo, hi, plain", [(0.33, 3.8, True), (0.04, 0.5, True), (1e-3, 10.0, False)])
def test_a_log_axis_under_two_decades_labels_its_ticks_as_plain_numbers(tmp_path, lo, hi, plain):
    """convergence_sst_time's x axis, 0.33 to 3.8 s: matplotlib labelled minor ticks too, as 3×10⁻¹ and 4×10⁻¹,
    which ran into each other. Under two decades the same ticks are labelled 0.3, 0.4, 1, 2; wider axes keep
    powers of ten."""
    import pandas as pd

    from ampsim.figures.lines import draw_xy

    df = pd.DataFrame({"time_s": [lo, (lo * hi) ** 0.5, hi], "throughput": [lo, (lo * hi) ** 0.5, hi]})
    fig = draw_xy(df, tmp_path, FigureSpec("f", "xy", x="time_s", y="throughput", logx=True, logy=True), [])
    fig.canvas.draw()
    for axis in (fig.axes[0].xaxis, fig.axes[0].yaxis):
        shown = [t.get_text() for t in axis.get_ticklabels(which="both") if t.get_text()]
        if plain:  # 0.3, 0.4, 1, 2: numbers as written, minor ticks among them
            assert len(shown) >= 3 and all(s == f"{float(s):g}" for s in shown), shown
        else:
            assert shown and all("10^" in s for s in shown), shown


@pytest.mark.parametrize("title", ["short", "SST Tree-LSTM on torus 8x8: best root accuracy in 3 epochs vs replica "
                                            "groups, a title far longer than the figure is wide"])
def test_a_title_wider_than_the_figure_is_wrapped_inside_it(tmp_path, title):
    """Centred over the axes, a long title was cut at both edges of the figure ("... (mean of see")."""
    import pandas as pd

    from ampsim.figures.lines import draw_xy

    df = pd.DataFrame({"train.mak": [1, 2], "throughput": [1.0, 2.0]})
    fig = draw_xy(df, tmp_path, FigureSpec("f", "xy", x="train.mak", y="throughput", title=title), [])
    fig.canvas.draw()
    shown = fig.axes[0].title
    box = shown.get_window_extent()
    assert fig.bbox.x0 <= box.x0 and box.x1 <= fig.bbox.x1 and box.y1 <= fig.bbox.y1
    assert shown.get_text().replace("\n", " ") == title
    assert shown.get_text().count("\n") == (0 if title == "short" else 1)  # two even lines, not three
