"""``sweep --check`` refuses the ``train.staleness`` and ``train.staleness_nodes`` a point's run refuses: a pattern
naming no parameterized node, an unknown mode, and ``stash`` or ``predict`` on a replayed point. They were refused
only when the run configured its built model (its data read), after the sweep had run the points before it
(README: every point is validated before anything runs)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ampsim.cli import main
from ampsim.sweeps.spec import load_sweep

ROOT = Path(__file__).resolve().parents[2]
BLOBS = ROOT / "experiments" / "blobs_mlp.toml"


def sweep(tmp_path: Path, fixed: str, axis: str) -> Path:
    path = tmp_path / "sw.toml"
    path.write_text(f'[sweep]\nexperiment = "{BLOBS}"\nhardware = "{ROOT / "hardware_models" / "ring4.toml"}"\n'
                    f'[fixed]\n"train.epochs" = 1\n{fixed}\n[grid]\n{axis}\n')
    return path


@pytest.mark.parametrize("fixed, axis, bad", [
    ("", '"train.staleness_nodes" = [{}, { fcX = "stash" }]', "train.staleness_nodes.fcX: names no parameterized node"),
    ("", '"train.staleness_nodes" = [{}, { fc0 = "bogus" }]',
     "train.staleness_nodes.fc0: must be one of none, stash, predict, scale_lr, got 'bogus'"),
    ('"executor.numerics" = false', '"train.staleness" = ["none", "stash"]',
     "train.staleness: 'stash' cannot be replayed (executor.numerics = false)"),
    ('"executor.numerics" = false', '"train.staleness_nodes" = [{}, { fc0 = "predict" }]',
     "train.staleness_nodes.fc0: 'predict' cannot be replayed (executor.numerics = false)"),
], ids=["pattern", "mode", "replayed-stash", "replayed-predict"])
def test_sweep_check_refuses_the_staleness_its_run_refuses(tmp_path, monkeypatch, capsys, fixed, axis, bad):
    from ampsim.models import mlp

    def build(cfg):
        raise AssertionError("the task was built")
    monkeypatch.setattr(mlp, "build", build)  # refused from the config alone, as the run refuses it
    path = sweep(tmp_path, fixed, axis)
    assert main(["sweep", str(path), "--check"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith(f"ampsim: error: {path}: point 1 (") and err[0].endswith(
        f"): {bad}"), err  # (the sweep set it: its key, not the experiment file, which holds no such value)


def test_a_replayed_point_whose_every_node_is_given_a_replayable_mode_passes(tmp_path):
    """train.staleness = stash that no node takes (every one matched by a pattern) is not refused, as by its run."""
    path = sweep(tmp_path, '"executor.numerics" = false\n"train.staleness" = "stash"',
                 '"train.staleness_nodes" = [{ "*" = "none" }, { "fc*" = "scale_lr" }]')
    assert len(load_sweep(path).points) == 2
