"""What a divergence's line advises: the settings of the run's own config that can make its loss blow up.

A loss node stops a run whose loss is not finite or above ``train.max_loss``
(:meth:`~ampsim.ir.nodes.losses.LossNode.check_loss`), and it cannot know which update made the numbers blow up:
the optimizer's step, a replica averaging round, the delay predictor's extrapolation. It advised lowering
``train.lr`` whatever the run (``--set replicas.outer_lr=1e308`` too). The plan stage knows which of those
stages the run has, and with what settings, so it gives the loss nodes their advice
(:func:`advise_divergence`): every stage the run has that can blow up, and, first, as likely at fault, a setting
far beyond any value it is meant for. Where none is, the optimizer's rates come first, as before (and alone,
word for word, where the run has no other such stage).

What the config cannot say, the parameters can, once the run has stopped: :func:`parameter_evidence` says what
they hold (any not finite, else the largest magnitude and its node's updates so far), which the training driver
adds to the line of a run whose parameters live in its process. Parameters blown up by an update read
``1e+30`` or ``nan``; ones that stayed moderate point away from the update's rates (at the forward: the delay
predictor's extrapolation, the inputs, an activation that overflowed).
"""

from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np

from ampsim.config import Config
from ampsim.ir.node import Node
from ampsim.ir.nodes.losses import ADVICE, configure_losses
from ampsim.ir.param import ParamNode
from ampsim.ir.sync import SyncSet

__all__ = ["advise_divergence", "divergence_advice", "parameter_evidence", "PREDICT_DELAY_FAR"]

#: ``train.predict_delay`` this many times ``train.mak`` or more is far beyond the staleness it stands for: the
#: mean measured staleness (what -1 predicts with) stays below mak (SST, mak 16: 0.36 updates, README)
PREDICT_DELAY_FAR = 100


def divergence_advice(cfg: Config, *, predicting: bool = False, copies: int = 0) -> str:
    """What a divergence line of ``cfg``'s run advises: :data:`~ampsim.ir.nodes.losses.ADVICE` (lower the
    optimizer's rates), and the run's other stages that can blow up: the delay predictor (``predicting``: some
    node's ``train.staleness`` is predict) and the replica averaging when it steps past the average
    (``replicas.outer_lr`` > 1, where ``copies``, the most copies a round averages, is not 0). A setting far beyond
    what it is meant for comes first, as likely at fault: ``replicas.outer_lr`` above ``copies`` (``copies`` adds
    up the copies' moves), ``train.predict_delay`` :data:`PREDICT_DELAY_FAR` times ``train.mak`` or more.

    >>> from ampsim.config import load_config
    >>> cfg = load_config("experiments/blobs_mlp.toml", [("replicas.groups", 2), ("replicas.outer_lr", 1e308)])
    >>> print(divergence_advice(cfg, copies=2))  # doctest: +ELLIPSIS
    likely at fault: replicas.outer_lr = 1e+308 (... than the 2 copies' moves added up); else lower train.lr ...
    >>> divergence_advice(cfg) == ADVICE  # (nothing averaged: the rate is not read)
    True
    """
    t, r = cfg.train, cfg.replicas
    likely, also = [], []
    if copies and r.outer_lr > 1:
        if r.outer_lr > copies:
            likely.append(f"replicas.outer_lr = {r.outer_lr:g} (each replica averaging round moves the parameters "
                          f"{r.outer_lr:g} times the copies' mean move, more than the {copies} copies' moves added "
                          "up)")
        else:
            also.append(f"lower replicas.outer_lr ({r.outer_lr:g}: each replica averaging round steps past the "
                        "copies' average)")
    if predicting:
        if t.predict_delay >= PREDICT_DELAY_FAR * t.mak:
            likely.append(f"train.predict_delay = {t.predict_delay:g} (the delay predictor extrapolates each "
                          f"forward's parameters along the last step {t.predict_delay:g} updates ahead, with "
                          f"train.mak = {t.mak} instances in flight)")
        else:
            delay = "the measured staleness" if t.predict_delay == -1 else f"train.predict_delay = {t.predict_delay:g}"
            also.append(f"turn off the delay predictor (train.staleness \"predict\": each forward's parameters "
                        f"extrapolated along the last step by {delay})")
    advice = ", or ".join([ADVICE, *also])
    return f"likely at fault: {'; '.join(likely)}; else {advice}" if likely else advice


def advise_divergence(cfg: Config, nodes: Iterable[Node], sync_sets: Sequence[SyncSet] = ()) -> None:
    """Give the loss nodes among ``nodes`` (a planned model's, copies included: predicting nodes are read off the
    parameterized ones) :func:`divergence_advice` for ``cfg``, whose copies ``sync_sets`` synchronize."""
    nodes = list(nodes)
    predicting = any(getattr(n, "staleness_mode", "") == "predict" for n in nodes)
    copies = max((len(s.copies) for s in sync_sets), default=0)
    configure_losses(nodes, cfg.train.max_loss, divergence_advice(cfg, predicting=predicting, copies=copies))


def parameter_evidence(nodes: Iterable[Node]) -> str:
    """What the parameters of ``nodes`` (a model's, copies included) hold when a run has stopped for a divergence,
    in words: the arrays not finite, if any (the first four named), else the largest magnitude, with its node's
    updates so far. One pass over each array (a model's table of 18,000 SST words: about 10 ms).

    >>> from ampsim.ir.nodes.linear import Linear
    >>> a, b = Linear("fc0", 2, 2), Linear("fc1", 2, 2)
    >>> a.params["W"][0, 0], a.version = 3e30, 1
    >>> parameter_evidence([a, b])
    'parameters when it stopped: all finite, the largest |value| 3e+30 (fc0.W, after 1 update of fc0)'
    >>> b.params["b"][1] = float("nan")
    >>> parameter_evidence([a, b])
    'parameters when it stopped: not finite in 1 of 4 arrays (fc1.b)'
    """
    arrays = [(n, k, a) for n in nodes if isinstance(n, ParamNode) for k, a in n.params.items() if a.size]
    if not arrays:
        return "the model has no parameters"
    largest = [float(np.max(np.abs(a))) for _, _, a in arrays]  # (nan or inf where any element is)
    bad = [f"{n.name}.{k}" for (n, k, _), m in zip(arrays, largest) if not np.isfinite(m)]
    if bad:
        which = f"all {len(bad)} arrays" if len(bad) == len(arrays) else f"{len(bad)} of {len(arrays)} arrays"
        named = ", ".join(bad[:4]) + (", ..." if len(bad) > 4 else "")
        return f"parameters when it stopped: not finite in {which} ({named})"
    i = int(np.argmax(largest))
    node, key = arrays[i][0], arrays[i][1]
    updates = f"{node.version} update{'' if node.version == 1 else 's'}"
    return (f"parameters when it stopped: all finite, the largest |value| {largest[i]:.3g} ({node.name}.{key}, after "
            f"{updates} of {node.name})")
