"""``numerics = "auto"`` in a sweep file's ``[sweep]`` table: every point that can replay does
(``executor.numerics = false``) when no figure needs a loss or a metric; the others keep the numerics;
a sweep without it resolves exactly as before (committed point ids unchanged); a bad value is one line."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from ampsim.cli import main
from ampsim.errors import ConfigError
from ampsim.sweeps.run import run_sweep
from ampsim.sweeps.spec import load_sweep

ROOT = Path(__file__).resolve().parents[2]
BLOBS = ROOT / "experiments" / "blobs_mlp.toml"
RING4 = ROOT / "hardware_models" / "ring4.toml"

HEAD = f"""
[sweep]
experiment = "{BLOBS}"
hardware = "{RING4}"
{{numerics}}
[fixed]
"data.n_train" = 160
"data.n_test" = 16
"model.hidden" = [16]
"train.epochs" = 1
{{extra}}[grid]
"train.mak" = [1, 4]
"""
FIGURE = """
[[figure]]
name = "f"
kind = "xy"
x = "train.mak"
y = "{y}"
"""


def sweep_file(tmp_path: Path, numerics: str = "", y: str = "throughput", extra: str = "", name: str = "s") -> Path:
    path = tmp_path / f"{name}.toml"
    path.write_text(HEAD.format(numerics=numerics, extra=extra) + FIGURE.format(y=y))
    return path


def replays(point) -> bool:
    return dict(point.overrides).get("executor.numerics", True) is False


def test_auto_replays_a_sweep_whose_figures_need_only_times(tmp_path):
    auto = load_sweep(sweep_file(tmp_path, 'numerics = "auto"', name="auto"))
    assert len(auto.points) == 2 and all(replays(p) for p in auto.points)
    # the same runs as setting it by hand: same ids; other ids than the runs with numerics
    explicit = load_sweep(sweep_file(tmp_path, extra='"executor.numerics" = false\n', name="explicit"))
    default = load_sweep(sweep_file(tmp_path, name="default"))
    assert [p.point_id for p in auto.points] == [p.point_id for p in explicit.points]
    assert not {p.point_id for p in auto.points} & {p.point_id for p in default.points}
    assert not any(replays(p) for p in default.points)


@pytest.mark.parametrize("y", ["final_metric", "time_to_target_s", "best_metric", "replica_drift"])
def test_auto_keeps_the_numerics_when_a_figure_needs_a_metric(y, tmp_path):
    # (replica_drift: a replay never trains the copies, so it is null; auto replayed, and plot found nothing)
    auto = load_sweep(sweep_file(tmp_path, 'numerics = "auto"', y=y, name="auto"))
    default = load_sweep(sweep_file(tmp_path, y=y, name="default"))
    assert not any(replays(p) for p in auto.points)
    assert [(p.point_id, p.overrides) for p in auto.points] == [(p.point_id, p.overrides) for p in default.points]


@pytest.mark.parametrize("kind,part", [("xy", 'hue = "best_metric"'), ("xy", 'where = { "best_metric" = 0.9 }'),
                                       ("bar", 'hue = ["train.mak", "final_metric"]'),
                                       ("heatmap", 'where = { "replica_drift" = 0.0 }')])
def test_a_metric_in_a_figures_hue_or_where_keeps_the_numerics_and_refuses_a_replay(kind, part, tmp_path, capsys):
    """Only x and y were looked at: a replayed sweep passed --check, then its plot failed (no row where
    best_metric = 0.9) or drew one legend entry "best_metric=n/a"."""
    figure = FIGURE.format(y="throughput").replace('kind = "xy"', f'kind = "{kind}"') + part + "\n"
    if kind == "heatmap":  # (a row per y, a column per chip: it reads no x)
        figure = figure.replace('x = "train.mak"\n', "")
    auto, replay = tmp_path / "auto.toml", tmp_path / "replay.toml"
    auto.write_text(HEAD.format(numerics='numerics = "auto"', extra="") + figure)
    assert not any(replays(p) for p in load_sweep(auto).points)
    replay.write_text(HEAD.format(numerics="", extra='"executor.numerics" = false\n') + figure)
    assert main(["sweep", str(replay), "--check"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    role = "hue" if "hue" in part else "where"
    assert len(lines) == 1 and lines[0].startswith(f"ampsim: error: {replay}: figure[0] (f): needs ")
    assert f"(its {role}), which point 0 does not measure (executor.numerics = false" in lines[0]


def test_auto_keeps_the_numerics_where_a_point_cannot_replay_or_sets_them(tmp_path):
    points = """
[[points]]
label = "sim"
[[points]]
label = "reference"
"executor.kind" = "reference"
[[points]]
label = "stash"
"train.staleness" = "stash"
[[points]]
label = "stash on one node"
"train.staleness_nodes" = { "fc*" = "predict" }
[[points]]
label = "replicas"
"replicas.groups" = 2
[[points]]
label = "numerics by hand"
"executor.numerics" = true
"""
    text = HEAD.format(numerics='numerics = "auto"', extra="").replace('[grid]\n"train.mak" = [1, 4]\n', "") + points
    path = tmp_path / "mixed.toml"
    path.write_text(text)
    sweep = load_sweep(path)
    assert [(p.label, replays(p)) for p in sweep.points] == [
        ("sim", True), ("reference", False), ("stash", False), ("stash on one node", False), ("replicas", True),
        ("numerics by hand", False)]


#: committed sweeps (results/sweeps/<name>/table.csv), with and without replay set by hand
COMMITTED = ["bandwidth_mnist", "mak_list_reduction", "mak_sst", "placement_mnist", "scaling_topology",
             "convergence_mnist", "whatif_sst_links", "whatif_sst_hypercube", "packets_sst"]


@pytest.mark.parametrize("name", COMMITTED)
def test_a_sweep_without_the_option_is_unchanged_committed_ids_included(name):
    sweep = load_sweep(ROOT / "experiments" / "sweeps" / f"{name}.toml")
    table = pd.read_csv(ROOT / "results" / "sweeps" / name / "table.csv")
    assert {p.point_id for p in sweep.points} == set(table["point_id"])


def test_auto_runs_replays_with_the_full_runs_times(tmp_path, monkeypatch):
    monkeypatch.setenv("AMPSIM_RECORDINGS", str(tmp_path / "recordings"))
    tables = {}
    for numerics in ("", 'numerics = "auto"'):
        sweep = load_sweep(sweep_file(tmp_path, numerics, name="auto" if numerics else "full"))
        tables[bool(numerics)] = pd.read_csv(run_sweep(sweep, tmp_path / sweep.name, jobs=1, progress=False))
    full, auto = tables[False], tables[True]
    assert full["final_metric"].notna().all() and auto["final_metric"].isna().all()
    for column in ("time_s", "throughput", "staleness_mean", "chip_util_mean", "link_util_max"):
        assert list(auto[column]) == list(full[column]), column
    assert list(auto["point_id"]) != list(full["point_id"])


@pytest.mark.parametrize("value", ['"yes"', "false", '"AUTO"', "1"])
def test_a_bad_numerics_value_is_one_line_and_exit_2(value, tmp_path, capsys):
    path = sweep_file(tmp_path, f"numerics = {value}")
    with pytest.raises(ConfigError, match=r'sweep\.numerics: must be "auto"'):
        load_sweep(path)
    assert main(["sweep", str(path), "--check"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"ampsim: error: {path}: sweep.numerics: must be \"auto\"")


@pytest.mark.parametrize("check", [True, False])
def test_a_bad_recordings_size_is_one_line_before_any_point_runs(tmp_path, monkeypatch, capsys, check):
    """AMPSIM_RECORDINGS_MAX_BYTES is read where a replaying run uses its recordings folder: a sweep failed every
    point with it (one failure line per point in its log), and ``sweep --check`` passed it."""
    monkeypatch.setenv("AMPSIM_RECORDINGS", str(tmp_path / "recordings"))
    monkeypatch.setenv("AMPSIM_RECORDINGS_MAX_BYTES", "lots")
    path, out = sweep_file(tmp_path, 'numerics = "auto"'), tmp_path / "out"
    assert main(["sweep", str(path), "--out", str(out), "--no-progress", *(["--check"] if check else [])]) == 2
    assert capsys.readouterr().err == ("ampsim: error: AMPSIM_RECORDINGS_MAX_BYTES: expected a whole number of "
                                       "bytes, got 'lots'\n")
    assert not out.exists() and not (tmp_path / "recordings").exists()
    monkeypatch.setenv("AMPSIM_RECORDINGS", "off")  # (never read then, as by the runs)
    assert main(["sweep", str(path), "--out", str(out), "--check"]) == 0
    monkeypatch.setenv("AMPSIM_RECORDINGS", str(tmp_path / "recordings"))
    assert main(["sweep", str(sweep_file(tmp_path, name="numerics")), "--out", str(out), "--check"]) == 0  # no replay
