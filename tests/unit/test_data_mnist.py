"""ampsim.data.mnist: IDX reading and validation on tiny hand-made files."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest

from ampsim.data import mnist
from ampsim.errors import DataError


def idx_images(images: np.ndarray) -> bytes:
    n, rows, cols = images.shape
    return struct.pack(">IIII", 2051, n, rows, cols) + images.astype(np.uint8).tobytes()


def idx_labels(labels: np.ndarray) -> bytes:
    return struct.pack(">II", 2049, len(labels)) + labels.astype(np.uint8).tobytes()


@pytest.fixture
def tiny(tmp_path, monkeypatch):
    """A 5-image 'train' split under AMPSIM_DATA (gzip images, raw labels renamed .gz)."""
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(5, 28, 28), dtype=np.uint8)
    images[0, 0, 0], images[0, 0, 1] = 0, 255
    labels = np.array([0, 9, 3, 3, 7], dtype=np.uint8)
    d = tmp_path / "mnist"
    d.mkdir()
    (d / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(idx_images(images)))
    (d / "train-labels-idx1-ubyte.gz").write_bytes(idx_labels(labels))  # raw, detected by magic
    monkeypatch.setenv("AMPSIM_DATA", str(tmp_path))
    return images, labels, d


def test_load_tiny(tiny):
    images, labels, _ = tiny
    x, y = mnist.load_mnist("train", verify=False)
    assert x.dtype == np.float32 and x.shape == (5, 784)
    assert y.dtype == np.int64 and y.tolist() == labels.tolist()
    assert x.min() >= 0.0 and x.max() <= 1.0
    assert x[0, 0] == 0.0 and x[0, 1] == 1.0
    np.testing.assert_allclose(x[2].reshape(28, 28), images[2] / 255.0, rtol=1e-6)
    x3, y3 = mnist.load_mnist("train", limit=3, verify=False)
    assert x3.shape == (3, 784) and y3.tolist() == [0, 9, 3]


def test_explicit_root(tiny, monkeypatch):
    _, _, d = tiny
    monkeypatch.delenv("AMPSIM_DATA")
    x, _ = mnist.load_mnist("train", root=d.parent, verify=False)
    assert len(x) == 5


def test_checksums_are_verified_by_default(tiny):
    with pytest.raises(DataError, match="corrupt .*train-images-idx3-ubyte.gz: sha256 mismatch"):
        mnist.load_mnist("train")


def test_missing_split(tiny):
    with pytest.raises(DataError, match=r"missing .*t10k-images-idx3-ubyte.gz: download failed"):
        mnist.load_mnist("test", verify=False)


def test_unknown_split():
    with pytest.raises(ValueError, match="use 'train' or 'test'"):
        mnist.load_mnist("validation")


def test_truncated_raw(tmp_path):
    p = tmp_path / "imgs"
    p.write_bytes(struct.pack(">IIII", 2051, 60000, 28, 28) + bytes(784 * 123 + 5))
    with pytest.raises(DataError) as err:
        mnist.read_idx(p)
    assert str(err.value) == f"{p}: truncated: header says 60000 items, file holds 123; re-download it"


def test_truncated_gzip(tmp_path):
    blob = gzip.compress(struct.pack(">II", 2049, 1000) + bytes(range(10)) * 100)
    p = tmp_path / "labels.gz"
    p.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(DataError, match=rf"{p}: truncated: header says 1000 items, file holds \d+"):
        mnist.read_idx(p)


def test_gzip_missing_trailer(tmp_path):
    blob = gzip.compress(idx_labels(np.arange(10)))
    p = tmp_path / "labels.gz"
    p.write_bytes(blob[:-8])  # data complete, CRC and size gone
    with pytest.raises(DataError, match="gzip stream ends early"):
        mnist.read_idx(p)


def test_corrupt_gzip(tmp_path):
    p = tmp_path / "x.gz"
    p.write_bytes(b"\x1f\x8b" + b"\xff" * 40)
    with pytest.raises(DataError, match=f"{p}: corrupt: bad gzip data"):
        mnist.read_idx(p)


def test_trailing_bytes(tmp_path):
    p = tmp_path / "labels"
    p.write_bytes(idx_labels(np.arange(3)) + b"xx")
    with pytest.raises(DataError, match="2 bytes after the 3 items"):
        mnist.read_idx(p)


@pytest.mark.parametrize(
    "header, expected, pattern",
    [
        (struct.pack(">I", 0x12345678), None, "bad magic number 305419896"),
        (struct.pack(">I", 0x00000703), None, "bad magic number"),  # unknown type code
        (struct.pack(">II", 2049, 0), 2051, "bad magic number 2049, expected 2051"),
        (b"\x00\x00", None, "truncated: 2 bytes"),
        (struct.pack(">IH", 2051, 1), None, "header of 3 dimensions cut off"),
        # numpy's ValueErrors before: more dimensions than an array has, a product wrapped to 0 in int64
        (bytes([0, 0, 8, 255]) + b"\0" * (4 * 255), None, "an IDX header of 255 dimensions"),
        (bytes([0, 0, 8, 5]) + struct.pack(">5I", 1, 65536, 65536, 65536, 65536), None, "header says 1 items, file"),
    ],
)
def test_bad_headers(tmp_path, header, expected, pattern):
    p = tmp_path / "f"
    p.write_bytes(header)
    with pytest.raises(DataError, match=pattern) as err:
        mnist.read_idx(p, expected)
    assert str(p) in str(err.value)


def test_read_idx_other_dtypes(tmp_path):
    p = tmp_path / "f"
    values = np.array([[1.5, -2.0], [3.0, 4.25]], dtype=">f4")
    p.write_bytes(bytes([0, 0, 0x0D, 2]) + struct.pack(">II", 2, 2) + values.tobytes())
    out = mnist.read_idx(p)
    assert out.dtype == np.float32 and out.dtype.isnative
    np.testing.assert_array_equal(out, values.astype(np.float32))


def _write_split(d: Path, images: bytes, labels: bytes) -> None:
    d.mkdir(exist_ok=True)
    (d / "train-images-idx3-ubyte.gz").write_bytes(images)
    (d / "train-labels-idx1-ubyte.gz").write_bytes(labels)


def test_label_out_of_range(tmp_path):
    _write_split(tmp_path / "mnist", idx_images(np.zeros((3, 28, 28))), idx_labels(np.array([1, 12, 2])))
    with pytest.raises(DataError, match=r"train-labels-idx1-ubyte.gz: item 1: label 12 not in 0..9"):
        mnist.load_mnist("train", root=tmp_path, verify=False)


def test_count_mismatch(tmp_path):
    _write_split(tmp_path / "mnist", idx_images(np.zeros((3, 28, 28))), idx_labels(np.array([1, 2])))
    with pytest.raises(DataError, match="2 labels for 3 images"):
        mnist.load_mnist("train", root=tmp_path, verify=False)


def test_wrong_image_shape(tmp_path):
    _write_split(tmp_path / "mnist", idx_images(np.zeros((3, 14, 14))), idx_labels(np.array([1, 2, 3])))
    with pytest.raises(DataError, match=r"expected uint8\[28, 28\]"):
        mnist.load_mnist("train", root=tmp_path, verify=False)


def test_swapped_files(tmp_path):
    _write_split(tmp_path / "mnist", idx_labels(np.array([1, 2, 3])), idx_images(np.zeros((3, 28, 28))))
    with pytest.raises(DataError, match="bad magic number 2049, expected 2051"):
        mnist.load_mnist("train", root=tmp_path, verify=False)
