"""A sweep stopped early kills the processes its Ray instance started itself, at once, but the ones it spares
(Ray's head, which the driver's disconnect wants alive): :meth:`ampsim.sweeps.reaper.Reaper.kill_now`."""

from __future__ import annotations

import os
import subprocess
import time

import pytest
from test_sweep_interrupt import alive

from ampsim.sweeps.reaper import ENV, Reaper


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="the reaper reads /proc (Linux)")
def test_kill_now_kills_the_marked_processes_but_those_it_spares_and_leaves_the_rest(tmp_path):
    head = tmp_path / "raylet"  # an executable named as Ray's head is
    head.symlink_to("/bin/sleep")
    unmarked = subprocess.Popen(["sleep", "30"])  # started before the marker: not the third party's
    reaper = Reaper()
    try:
        worker = subprocess.Popen(["sleep", "30"])
        spared = subprocess.Popen([str(head), "30"])
        # a process without the marker below a marked one counts (Ray's titles hide the environment)
        parent = subprocess.Popen(["sh", "-c", f"env -u {ENV} sleep 30 & echo $!; wait"], stdout=subprocess.PIPE,
                                  text=True)
        below = int(parent.stdout.readline())
        time.sleep(0.2)
        reaper.kill_now(spare=(b"raylet",))
        for p in (worker, parent):
            assert p.wait(timeout=5) == -9
        time.sleep(0.1)
        assert not alive(below)
        assert alive(spared.pid) and alive(unmarked.pid)
    finally:
        reaper.close()  # (the reaper kills the spared one now)
        unmarked.kill()
        for p in (unmarked, spared):
            p.wait(timeout=5)
    assert spared.returncode == -9
