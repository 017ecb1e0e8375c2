"""Placement: which chip (or worker) each IR node lives on.

* :mod:`~ampsim.placement.strategies` — the strategies (``[placement] strategy``) and the checks of an
  explicit map.
* :mod:`~ampsim.placement.load` — the load profile they weigh: each node's work and each edge's bytes,
  measured through the message pump on a copy of the model.
* :mod:`~ampsim.placement.memory` — the bytes each node holds on its chip from the start, and each chip's
  room for them, which the strategies respect on the simulator.
* :mod:`~ampsim.placement.packing` — packing those bytes onto the chips where ``greedy``'s spread leaves a node
  no room: first-fit decreasing, and an exact search within a budget behind it (the strategies' own helpers,
  not re-exported).
* :mod:`~ampsim.placement.estimate` — the estimated load per chip, written with the run (``placement.json``).

Every public name is re-exported here: callers import from ``ampsim.placement``.
"""

from ampsim.placement.estimate import check_estimated, estimated_load, frozen_load, nodes_by_chip
from ampsim.placement.load import Profile, expand_profile, node_time_s, profile
from ampsim.placement.memory import Room, resident_bytes
from ampsim.placement.strategies import check_map, check_names, place

__all__ = ["Profile", "Room", "check_estimated", "check_map", "check_names", "estimated_load", "expand_profile",
           "frozen_load", "node_time_s", "nodes_by_chip", "place", "profile", "resident_bytes"]
