"""``ampsim demo`` interrupted says what it kept, as a sweep does: it said only ``ampsim: interrupted``, though
its finished points were kept (and a re-run reuses them)."""

from __future__ import annotations

import pytest

import ampsim.demo
from ampsim.cli import main


@pytest.mark.parametrize("started", [True, False], ids=["points-kept", "before-the-sweep"])
def test_an_interrupted_demo_says_where_its_finished_points_are(tmp_path, capsys, monkeypatch, started):
    out = tmp_path / "demo"

    def interrupted(folder, progress=True, jobs=None):
        if started:  # (its sweep's folder made: points finish there)
            (folder / "sweep").mkdir(parents=True)
        raise KeyboardInterrupt

    monkeypatch.setattr(ampsim.demo, "run_demo", interrupted)
    assert main(["demo", "--no-progress", "--out", str(out)]) == 130
    said = (f"ampsim: interrupted; finished points are kept in {out / 'sweep'} (run the same command again to "
            "finish the demo)") if started else "ampsim: interrupted"
    assert capsys.readouterr().err.strip().splitlines() == [said]
