"""A sweep file sets each key in one place (:mod:`ampsim.sweeps.places`): [fixed], a [grid] axis, the seeds,
``sweep.hardware`` (``executor.hardware``) or a point. Set in two, one value was dropped without a word (a point ``mak4`` with ``train.mak = 4`` under a
grid over ``train.mak`` gave the rows ``1, mak4`` and ``2, mak4``); it is one line now, at ``sweep --check``
too, naming the key and both places."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ampsim.cli import main
from ampsim.errors import ConfigError
from ampsim.sweeps.spec import load_sweep

ROOT = Path(__file__).resolve().parents[2]
HEAD = f"""
[sweep]
experiment = "{ROOT / 'experiments' / 'blobs_mlp.toml'}"
hardware = "{ROOT / 'hardware_models' / 'ring4.toml'}"
"""
MAK_POINT = '[[points]]\nlabel = "mak4"\n"train.mak" = 4\n'
MESH = f'"{ROOT / "hardware_models" / "mesh4x4.toml"}"'


@pytest.mark.parametrize("body, said", [
    ('[grid]\n"train.mak" = [1, 2]\n' + MAK_POINT, "train.mak: set in both grid and points[0]"),
    ('[fixed]\n"train.mak" = 4\n[grid]\n"train.mak" = [1, 2]\n', "train.mak: set in both fixed and grid"),
    ('[fixed.train]\nmak = 4\n' + MAK_POINT, "train.mak: set in both fixed and points[0]"),
    ('[fixed]\n"experiment.seed" = 7\n[grid]\n"train.lr" = [0.1]\n', "experiment.seed: set in both sweep.seeds and fixed"),
    ('[grid]\n"train.lr" = [0.1]\n[[points]]\nlabel = "a"\n[[points]]\n"experiment.seed" = 3\n',
     "experiment.seed: set in both sweep.seeds and points[1]"),
    ('[grid]\n"train.mak" = [1, 2]\n[quick]\nfixed = { "train.mak" = 1 }\n',  # the quick variant's only
     "train.mak: set in both quick.fixed and grid"),
    ('[grid]\n"train.mak" = [1, 2]\n[quick]\npoints = [{ "train.mak" = 8 }]\n',
     "train.mak: set in both grid and quick.points[0]"),
    ('[grid]\n"train.lr" = [0.1]\n[quick]\nrepeats = 1\nfixed = { "experiment.seed" = 2 }\n',
     "experiment.seed: set in both quick.repeats and quick.fixed"),
    # sweep.hardware names the model: another executor.hardware ran every point on it instead, without a word
    (f'[grid]\n"executor.hardware" = [{MESH}]\n', "executor.hardware: set in both sweep.hardware and grid"),
    (f'[fixed]\n"executor.hardware" = {MESH}\n[grid]\n"train.lr" = [0.1]\n',
     "executor.hardware: set in both sweep.hardware and fixed"),
    (f'[grid]\n"train.lr" = [0.1]\n[[points]]\n"executor.hardware" = {MESH}\n',
     "executor.hardware: set in both sweep.hardware and points[0]"),
], ids=["grid-point", "fixed-grid", "fixed-point", "fixed-seeds", "point-seeds", "quick-fixed-grid",
        "quick-point-grid", "quick-repeats-fixed", "hardware-grid", "hardware-fixed", "hardware-point"])
def test_a_key_set_in_two_places_is_one_line_at_check(tmp_path, capsys, body, said):
    path = tmp_path / "s.toml"
    path.write_text(HEAD.replace("[sweep]\n", "[sweep]\nseeds = [0, 1]\n" if "seed" in said else "[sweep]\n")
                    + body)
    if "quick" in said:  # (the full variant is fine)
        load_sweep(path)
    with pytest.raises(ConfigError, match=re.escape(f"{path}: {said}; give it in one place, not both")):
        load_sweep(path, quick="quick" in said)
    assert main(["sweep", str(path), "--check"]) == 2
    assert capsys.readouterr().err.splitlines() == [f"ampsim: error: {path}: {said}; give it in one place, not both"]


def test_each_key_in_one_place_and_quick_fixed_over_fixed_are_accepted(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text(HEAD + """seeds = [0]
[fixed]
"train.epochs" = 2
[grid]
"train.lr" = [0.1, 0.2]
[[points]]
label = "mak4"
"train.mak" = 4
[[points]]
label = "mak8"
"train.mak" = 8
[quick]
fixed = { "train.epochs" = 1 }
""")
    for quick in (False, True):
        sweep = load_sweep(path, quick=quick)
        assert [(p.label, p.values["train.mak"], p.values["train.lr"]) for p in sweep.points] == [
            ("mak4", 4, 0.1), ("mak4", 4, 0.2), ("mak8", 8, 0.1), ("mak8", 8, 0.2)]
        assert {dict(p.overrides)["train.epochs"] for p in sweep.points} == {1 if quick else 2}
