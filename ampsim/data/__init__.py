"""Datasets: one module per dataset plus the data store.

* :mod:`ampsim.data.store` — the data root (``$AMPSIM_DATA``), checksums and downloads.
* :mod:`ampsim.data.mnist` — MNIST images and labels as numpy arrays.
* :mod:`ampsim.data.sst` — Stanford Sentiment Treebank trees (post-order arrays), vocabulary, SST-2 view.
* :mod:`ampsim.data.qm9` — QM9 molecular graphs in the GGNN JSON format, target normalisation.
* :mod:`ampsim.data.synthetic` — a seeded offline classification set for the demo and tests.

Every user-fixable problem (missing, truncated, corrupt or malformed data) raises
:class:`ampsim.errors.DataError` with a one-line message naming the file.
"""
