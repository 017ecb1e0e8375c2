"""Datasets: one module per dataset plus the data store and the parsed-data memo.

* :mod:`ampsim.data.store` — the data root (``$AMPSIM_DATA``), checksums and downloads.
* :mod:`ampsim.data.registry` — the known data files: their sha256 and download sources.
* :mod:`ampsim.data.mnist` — MNIST images and labels as numpy arrays.
* :mod:`ampsim.data.sst` — Stanford Sentiment Treebank trees (post-order arrays), vocabulary, SST-2 view.
* :mod:`ampsim.data.qm9` — QM9 molecular graphs in the GGNN JSON format, target normalisation.
* :mod:`ampsim.data.synthetic` — a seeded offline classification set for the demo and tests.
* :mod:`ampsim.data.list_reduction` — seeded digit lists reduced by an operation token (sum, max, ...).
* :mod:`ampsim.data.memo` — parsed data files (and what is built from them) kept for the process's life,
  keyed by the file's contents: a sweep's worker parses a dataset once.

Every user-fixable problem (missing, truncated, corrupt or malformed data) raises
:class:`ampsim.errors.DataError` with a one-line message naming the file.
"""

__all__: list[str] = []
