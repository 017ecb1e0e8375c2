"""The calibration workloads share the shapes of the experiments ``ampsim compare`` checks: an embedding
update's work counts the whole table's bytes, so the Tree-LSTM workload's table must be SST's (with a
2,000-row table the SST update lay far outside the calibrated rows and was simulated at 7x its time)."""

from __future__ import annotations

import numpy as np

from ampsim.calibration.workloads import SST_VOCAB_ROWS, tree_workload, work_items


def test_the_tree_workload_embeds_with_a_table_of_ssts_vocabulary(data_root):
    from ampsim.data import sst

    vocab = sst.Vocab.build(sst.load_sst("train"))  # sst_treelstm's defaults: every word, as written
    assert len(vocab) == SST_VOCAB_ROWS
    model, _ = tree_workload(8)
    assert model.graph.nodes["emb"].params["W"].shape == (SST_VOCAB_ROWS, 300)


def test_an_embedding_update_of_the_workload_has_the_bytes_of_ssts():
    from ampsim.models.treelstm import build_treelstm

    model, insts = tree_workload(30)
    items, _, _, labels = work_items(model, insts, labels=True)
    update = items[[lb.startswith("tunedembedding emb update") for lb in labels]]
    assert len(update) > 0
    # what an SST-sized model reports for the same step: 3x the bytes of its table, whatever rows were used,
    # plus the gradient's (the rows of 25 trees: a few per cent)
    table_bytes = build_treelstm(SST_VOCAB_ROWS, 5).graph.nodes["emb"].param_bytes
    assert np.all((update[:, 1] >= 3 * table_bytes) & (update[:, 1] < 3.2 * table_bytes))
