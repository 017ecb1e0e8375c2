"""A placement is the same mapping, in the same order, in every process: placement.json lists each chip's
nodes in the mapping's order, and a committed run must rerun byte for byte whatever the string hash seed."""

import json
import os
import subprocess
import sys

import pytest

SCRIPT = """
import json
from ampsim.hardware.parse import load_system
from ampsim.models.mlp import build_mlp
from ampsim.placement import Profile, place
m = build_mlp(8, [8] * 7, 2, seed=0)
chips = load_system("hardware_models/ring4.toml").chips
prof = Profile.uniform(m.graph.nodes)
names = list(m.graph.nodes)
for a, b in zip(names, names[1:]):  # traffic along the chain, uneven so the cuts are not all ties
    prof.edge_bytes[a, b] = float(1 + len(a) * len(b))
print(json.dumps({s: list(place(s, m, chips, prof=prof).items()) for s in ("min_cut", "greedy", "round_robin")}))
"""


@pytest.mark.parametrize("seeds", [("1", "2"), ("3", "4")])
def test_placements_do_not_depend_on_the_hash_seed(seeds):
    outs = []
    for seed in seeds:
        env = {**os.environ, "PYTHONHASHSEED": seed}
        outs.append(json.loads(subprocess.run([sys.executable, "-c", SCRIPT], env=env, check=True,
                                              capture_output=True, text=True).stdout))
    assert outs[0] == outs[1]
    names = [n for n, _ in outs[0]["round_robin"]]
    assert [n for n, _ in outs[0]["min_cut"]] == names  # graph order, as the other strategies
