"""ampsim.data.sst: tree parsing (post-order arrays), errors with file:line, vocab, SST-2 view."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from ampsim.data import sst
from ampsim.errors import DataError

TRAIN = """\
(3 (2 (2 The) (2 Rock)) (4 (3 is) (4 great)))
(1 (2 8\u00a01\\/2) (1 bad))
(2 Hello)
(0 (2 (2 a) (2 b)) (1 C))
"""


@pytest.fixture
def root(tmp_path, monkeypatch):
    (tmp_path / "sst").mkdir()
    (tmp_path / "sst" / "train.txt").write_text(TRAIN, encoding="utf-8")
    monkeypatch.setenv("AMPSIM_DATA", str(tmp_path))
    return tmp_path


def test_post_order_arrays():
    t = sst.parse_tree("(3 (2 (2 The) (2 Rock)) (4 (3 is) (4 great)))")
    assert t.tokens == ("The", "Rock", "", "is", "great", "", "")
    assert t.labels.tolist() == [2, 2, 2, 3, 4, 4, 3]
    assert t.left.tolist() == [-1, -1, 0, -1, -1, 3, 2]
    assert t.right.tolist() == [-1, -1, 1, -1, -1, 4, 5]
    assert t.parent.tolist() == [2, 2, 6, 5, 5, 6, -1]
    assert t.n_nodes == 7 and t.root == 6 and t.root_label == 3
    assert t.is_leaf(0) and not t.is_leaf(2)
    assert t.leaves.tolist() == [0, 1, 3, 4]
    assert t.words == ("The", "Rock", "is", "great")
    for a in (t.labels, t.left, t.right, t.parent):
        assert a.dtype == np.int64 and not a.flags.writeable
    # children always precede parents
    internal = np.flatnonzero(t.left >= 0)
    assert (t.left[internal] < internal).all() and (t.right[internal] < internal).all()


def test_single_leaf_tree_and_tokens_with_spaces():
    t = sst.parse_tree("(2 Hello)\n")
    assert t.n_nodes == 1 and t.root == 0 and t.parent.tolist() == [-1] and t.is_leaf(0)
    t = sst.parse_tree("(1 (2 8 1\\/2) (1 bad))")
    assert t.tokens[0] == "8 1\\/2"
    t = sst.parse_tree("(1 (2 8\u00a01\\/2) (1 bad))")
    assert t.tokens[0] == "8\u00a01\\/2"


def test_load_sst(root):
    trees = sst.load_sst("train", verify=False)
    assert [t.root_label for t in trees] == [3, 1, 2, 0]
    assert trees[1].words == ("8\u00a01\\/2", "bad")
    assert len(sst.load_sst("train", root=root, limit=2, verify=False)) == 2


def test_load_sst_checks_sha_and_split(root):
    with pytest.raises(DataError, match="corrupt .*sst/train.txt: sha256 mismatch"):
        sst.load_sst("train")
    with pytest.raises(DataError, match=r"missing .*sst/dev.txt: download failed"):
        sst.load_sst("dev")
    with pytest.raises(ValueError):
        sst.load_sst("valid")


def test_read_trees_gzip(tmp_path):
    p = tmp_path / "t.txt.gz"
    p.write_bytes(gzip.compress(TRAIN.encode()))
    assert len(sst.read_trees(p)) == 4


@pytest.mark.parametrize(
    "line, what",
    [
        ("", "empty line; remove it"),
        ("   ", "empty line; remove it"),
        ("(3 (2 a) (2 b)", "unbalanced parentheses: 1 node(s) not closed"),
        ("(3 (2 a) (2 b)))", "unbalanced parentheses: unexpected ')' at column 16"),
        ("(3 (2 a) (2 b)) (2 c)", "trailing text after the root at column 17"),
        ("(3 (2 a) (2 b)) junk", "trailing text after the root at column 16: ' junk'"),
        ("(5 (2 a) (2 b))", "label '5' at column 2 not in 0..4"),
        ("(3 (x a) (2 b))", "label 'x' at column 5 not in 0..4"),
        ("(-1 a)", "label '-1' at column 2 not in 0..4"),
        ("(3 (2 a))", "node at column 1 has 1 children; trees must be binary"),
        ("(3 (2 a) (2 b) (2 c))", "node at column 1 has 3 children; trees must be binary"),
        ("(3 a (2 b))", "node at column 1 mixes a token and children"),
        ("(3 (2 a) x (2 b))", "unexpected text 'x' at column 10"),
        ("(3 )", "node at column 1 has neither token nor children"),
        ("(3 (2 a) ())", "node at column 10 has no label"),
        ("((2 a) (2 b))", "node at column 1 has no label"),
        ("hello", "expected '(' at column 1, found 'hello'"),
        ("(3 (2 a) (", "unbalanced parentheses: line ends after '('"),
    ],
)
def test_malformed_lines_name_file_and_line(tmp_path, line, what):
    p = tmp_path / "bad.txt"
    p.write_text("(2 ok)\n(2 (2 fine) (2 too))\n" + line + "\n(2 after)\n", encoding="utf-8")
    with pytest.raises(DataError) as err:
        sst.read_trees(p)
    assert str(err.value).startswith(f"{p}:3: {what}")


def test_not_utf8(tmp_path):
    p = tmp_path / "bad.txt"
    p.write_bytes(b"(2 caf\xe9)\n")
    with pytest.raises(DataError, match=f"{p}: not UTF-8"):
        sst.read_trees(p)


def test_vocab(root):
    trees = sst.load_sst("train", verify=False)
    v = sst.Vocab.build(trees)
    assert v.tokens[0] == sst.UNK and v.id("never-seen") == sst.UNK_ID
    assert len(v) == 1 + 10
    ids = v.encode(trees[0])
    assert ids.dtype == np.int64 and ids.shape == (trees[0].n_nodes,)
    assert (ids[trees[0].left >= 0] == sst.INTERNAL).all()
    assert [v.tokens[i] for i in ids[trees[0].leaves]] == list(trees[0].words)
    # deterministic: frequency then alphabetical
    assert v == sst.Vocab.build(trees)
    assert v.tokens[1:] == tuple(sorted(v.tokens[1:]))  # all counts are 1 here


def test_vocab_min_count_and_lowercase():
    trees = [sst.parse_tree("(2 (2 The) (2 the))"), sst.parse_tree("(2 (2 the) (2 cat))")]
    v = sst.Vocab.build(trees, min_count=2)
    assert v.tokens == ("<unk>", "the")
    assert v.encode(trees[0]).tolist() == [0, 1, -1]
    lv = sst.Vocab.build(trees, min_count=2, lowercase=True)
    assert lv.tokens == ("<unk>", "the") and lv.id("THE") == 1
    assert lv.encode(trees[0]).tolist() == [1, 1, -1]
    with pytest.raises(ValueError):
        sst.Vocab(("a", "b"))


def test_binary_view():
    for label, binary in enumerate([0, 0, -1, 1, 1]):  # 0, 1 negative; 2 neutral (no label, masked); 3, 4 positive
        labels, mask = sst.binary_targets(sst.parse_tree(f"({label} a)"))
        assert labels.tolist() == [binary] and mask.tolist() == [binary >= 0]
    t = sst.parse_tree("(3 (2 (0 a) (1 b)) (4 c))")
    labels, mask = sst.binary_targets(t)
    assert labels.tolist() == [0, 0, -1, 1, 1] and mask.tolist() == [True, True, False, True, True]
    trees = [t, sst.parse_tree("(2 x)"), sst.parse_tree("(1 y)")]
    assert [u.root_label for u in sst.drop_neutral_roots(trees)] == [3, 1]


def test_load_vectors(tmp_path):
    v = sst.Vocab(("<unk>", "the", "cat", "8 1/2"))
    p = tmp_path / "vec.txt"
    p.write_text("4 2\nthe 1 2\nthe 9 9\ndog 3 4\n8 1/2 5 6\n", encoding="utf-8")
    out = sst.load_vectors(p, v, 2)
    assert out.dtype == np.float32
    assert out.tolist() == [[0, 0], [1, 2], [0, 0], [5, 6]]
    init = np.full((4, 2), 0.5)
    assert sst.load_vectors(p, v, 2, init=init)[2].tolist() == [0.5, 0.5]


def test_load_vectors_errors(tmp_path):
    v = sst.Vocab(("<unk>", "the"))
    with pytest.raises(DataError, match="missing .*nope.txt"):
        sst.load_vectors(tmp_path / "nope.txt", v, 2)
    (tmp_path / "link.txt").symlink_to(tmp_path / "unmounted" / "glove.txt")  # a path right, its target gone
    with pytest.raises(DataError, match=r"link.txt: a symbolic link that leads to nothing \(to '.*glove.txt'\)"):
        sst.load_vectors(tmp_path / "link.txt", v, 2)
    p = tmp_path / "vec.txt"
    p.write_text("the 1 2 3\nthe 1\n", encoding="utf-8")
    with pytest.raises(DataError, match=f"{p}:2: expected a word and 3 numbers, got 2 fields"):
        sst.load_vectors(p, v, 3)
    p.write_text("the 1 x\n", encoding="utf-8")
    with pytest.raises(DataError, match=f"{p}:1: non-numeric"):
        sst.load_vectors(p, v, 2)


@pytest.mark.parametrize("text, dim, message", [
    ("the 0.1 0.2 0.3 0.4\n", 3, r":1: a word and 4 numbers, model.embed is 3"),  # (read as the word "the 0.1")
    ("5 7\nthe 1 2\n", 2, r":1: the header says 7-number vectors, model.embed is 2"),
    ("the nan 1\n", 2, r":1: a vector value that is nan, infinite or beyond float32"),
    ("cat 1 2\nthe 1e50 1\n", 2, r":2: a vector value that is nan, infinite or beyond float32"),
])
def test_vectors_of_another_width_or_not_finite_are_one_line(tmp_path, text, dim, message):
    """A wider file was read as words with numbers in them and loaded nothing, without a word; nan and 1e50 (inf
    in float32) loaded, and training diverged, blamed on the learning rate."""
    p = tmp_path / "vec.txt"
    p.write_text(text, encoding="utf-8")
    with pytest.raises(DataError, match=f"{p}{message}"):
        sst.load_vectors(p, sst.Vocab(("<unk>", "the", "cat")), dim)


def test_vectors_of_no_vocabulary_word_say_so(tmp_path, caplog):
    p = tmp_path / "vec.txt"
    p.write_text("chat 1 2\n", encoding="utf-8")
    with caplog.at_level("WARNING"):
        out = sst.load_vectors(p, sst.Vocab(("<unk>", "the")), 2)
    assert not out.any() and "none of the 2 vocabulary words is in" in caplog.text
