"""Stanford Sentiment Treebank, PTB-style binarised trees (``sst/{train,dev,test}.txt``).

Contract:

* One tree per line: every node is ``(label child child)`` or ``(label token)`` with ``label`` in
  ``0..4``. A token is everything between the label and the closing parenthesis (it may hold spaces:
  ``(2 8 1\\/2)`` is the token ``8 1\\/2``). Trees must be strictly binary.
* A :class:`Tree` stores its nodes as flat arrays in **post-order**: both children come before their
  parent, so index order is a valid bottom-up schedule and the root is the last node.
* :class:`Vocab` maps leaf tokens to ids with ``<unk>`` at id 0. :meth:`Vocab.encode` gives one id per
  node and :data:`INTERNAL` (-1) for internal nodes.
* Binary sentiment (SST-2): labels 0, 1 -> 0 (negative), 3, 4 -> 1 (positive), 2 (neutral) -> no label.
  :func:`binary_targets` gives per-node labels and a mask; :func:`drop_neutral_roots` keeps the trees
  whose root is not neutral (the standard SST-2 sentence set).
* Malformed input raises :class:`~ampsim.errors.DataError` as ``"<file>:<line>: <what>"``.
"""

from __future__ import annotations

import logging
import os
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ampsim import files
from ampsim.data import memo, store
from ampsim.errors import DataError

__all__ = ["INTERNAL", "SPLITS", "Tree", "UNK", "UNK_ID", "Vocab", "binary_targets", "count_sst", "drop_neutral_roots",
           "load_sst", "load_vectors", "parse_tree", "read_trees"]

log = logging.getLogger(__name__)

N_CLASSES = 5
SPLITS = ("train", "dev", "test")
UNK = "<unk>"
UNK_ID = 0
#: Token id :meth:`Vocab.encode` gives internal (non-leaf) nodes.
INTERNAL = -1
#: Per-node binary label of a neutral node in :func:`binary_targets`.
NO_LABEL = -1

_LEXEME = re.compile(r"\(|\)|[^()]+")
_LABELS = frozenset("01234")


@dataclass(frozen=True, eq=False)
class Tree:
    """A binary tree with nodes in post-order (children before parents; the root is last).

    Fields (all arrays int64, length ``n_nodes``, read-only):
        labels: sentiment label 0..4 of each node.
        left, right: child indices, -1 for leaves (both children of a node precede it).
        parent: parent index, -1 at the root.
        tokens: the word of each leaf, '' for internal nodes.
    """

    labels: np.ndarray
    left: np.ndarray
    right: np.ndarray
    parent: np.ndarray
    tokens: tuple[str, ...]

    @property
    def n_nodes(self) -> int:
        return len(self.tokens)

    @property
    def root(self) -> int:
        """Index of the root: always ``n_nodes - 1``."""
        return len(self.tokens) - 1

    @property
    def root_label(self) -> int:
        return int(self.labels[-1])

    def is_leaf(self, i: int) -> bool:
        return bool(self.left[i] < 0)

    @property
    def leaves(self) -> np.ndarray:
        """Indices of the leaves, left to right (sentence order)."""
        return np.flatnonzero(self.left < 0)

    @property
    def words(self) -> tuple[str, ...]:
        """The sentence: leaf tokens left to right."""
        return tuple(t for t in self.tokens if t)


def _build_tree(labels: list[int], left: list[int], right: list[int], tokens: list[str]) -> Tree:
    n = len(labels)
    parent = np.full(n, -1, dtype=np.int64)
    la = np.asarray(left, dtype=np.int64)
    ra = np.asarray(right, dtype=np.int64)
    internal = np.flatnonzero(la >= 0)
    parent[la[internal]] = internal
    parent[ra[internal]] = internal
    arrays = [np.asarray(labels, dtype=np.int64), la, ra, parent]
    for a in arrays:
        a.setflags(write=False)
    return Tree(*arrays, tokens=tuple(tokens))


def parse_tree(text: str, source: str = "<string>", line: int = 1) -> Tree:
    """Parse one PTB-style tree. ``source`` and ``line`` only label error messages.

    Raises:
        DataError: "<source>:<line>: <what>" for an empty line, unbalanced parentheses, a label not
            in 0..4, a non-binary node, a node mixing a token and children, or trailing text.
    """
    where = f"{source}:{line}"
    text = text.rstrip("\r\n")
    if not text.strip():
        raise DataError(f"{where}: empty line; remove it")
    labels: list[int] = []
    left: list[int] = []
    right: list[int] = []
    tokens: list[str] = []
    # Open nodes: [label, column of '(', child indices, token or None].
    stack: list[list] = []
    expect_label = False
    done = False
    for m in _LEXEME.finditer(text):
        lex, col = m.group(), m.start() + 1
        if done:
            if lex == ")":
                raise DataError(f"{where}: unbalanced parentheses: unexpected ')' at column {col}")
            if lex.strip():
                raise DataError(f"{where}: trailing text after the root at column {col}: {lex[:20]!r}")
            continue
        if expect_label:
            expect_label = False
            if lex in "()":
                raise DataError(f"{where}: node at column {col - 1} has no label")
            parts = lex.split(None, 1)
            if not parts:
                raise DataError(f"{where}: node at column {col - 1} has no label")
            if parts[0] not in _LABELS:
                raise DataError(f"{where}: label {parts[0][:20]!r} at column {col} not in 0..4")
            stack[-1][0] = int(parts[0])
            if len(parts) == 2 and parts[1].strip():
                stack[-1][3] = parts[1].strip()
            continue
        if lex == "(":
            if stack and stack[-1][3] is not None:
                raise DataError(f"{where}: node at column {stack[-1][1]} mixes a token and children")
            stack.append([None, col, [], None])
            expect_label = True
        elif lex == ")":
            if not stack:
                raise DataError(f"{where}: unbalanced parentheses: unexpected ')' at column {col}")
            label, start, children, token = stack.pop()
            if token is not None:
                left.append(-1)
                right.append(-1)
                tokens.append(token)
            elif len(children) == 2:
                left.append(children[0])
                right.append(children[1])
                tokens.append("")
            elif not children:
                raise DataError(f"{where}: node at column {start} has neither token nor children")
            else:
                raise DataError(
                    f"{where}: node at column {start} has {len(children)} children; trees must be binary"
                )
            labels.append(label)
            if stack:
                stack[-1][2].append(len(labels) - 1)
            else:
                done = True
        elif lex.strip():
            col += len(lex) - len(lex.lstrip())
            if not stack:
                raise DataError(f"{where}: expected '(' at column {col}, found {lex.strip()[:20]!r}")
            raise DataError(f"{where}: unexpected text {lex.strip()[:20]!r} at column {col}")
    if expect_label:
        raise DataError(f"{where}: unbalanced parentheses: line ends after '('")
    if stack:
        raise DataError(f"{where}: unbalanced parentheses: {len(stack)} node(s) not closed")
    if not done:
        raise DataError(f"{where}: no tree on this line")
    return _build_tree(labels, left, right, tokens)


def read_trees(path: Path | str, limit: int | None = None) -> list[Tree]:
    """Parse every line of a tree file (UTF-8, optionally gzip) into :class:`Tree` s, in file order."""
    path = Path(path)
    trees: list[Tree] = []
    # files.text_lines: an unreadable, binary, non-UTF-8 or cut-off (gzip) file is one DataError line
    with closing(files.text_lines(path, error=DataError, hint="re-download it")) as lines:
        for lineno, text in enumerate(lines, start=1):
            if limit is not None and len(trees) >= limit:
                break
            trees.append(parse_tree(text, str(path), lineno))
    return trees


def load_sst(
    split: str,
    root: Path | str | None = None,
    limit: int | None = None,
    *,
    verify: bool = True,
) -> list[Tree]:
    """Load the SST ``split`` ("train": 8544, "dev": 1101, "test": 2210 trees) in file order.

    ``limit`` keeps the first ``limit`` trees. The file comes from :func:`ampsim.data.store.fetch`
    (sha256-checked unless ``verify`` is false).

    Raises:
        ValueError: an unknown split.
        DataError: a missing, corrupt or malformed file.
    """
    if split not in SPLITS:
        raise ValueError(f"unknown SST split {split!r}; use one of {', '.join(SPLITS)}")
    path = store.fetch(f"sst/{split}.txt", root=root, verify=verify)
    trees = memo.parsed(path, read_trees, limit)  # once per process and file version (a sweep's points)
    log.debug("loaded SST %s: %d trees from %s", split, len(trees), path)
    return trees


def count_sst(split: str, limit: int | None = None, *, drop_neutral: bool = False) -> int:
    """The trees of ``split`` that :func:`load_sst` gives (``drop_neutral``: that :func:`drop_neutral_roots` keeps
    of them), cut to ``limit``, from each line's root label without parsing the trees (a sweep counts its points'
    instances before any runs: a twentieth of the parse). A malformed line counts: the run's parse refuses it."""
    path = store.fetch(f"sst/{split}.txt")
    n = 0
    with closing(files.text_lines(path, error=DataError, hint="re-download it")) as lines:
        for text in lines:
            if limit is not None and n >= limit:
                break
            n += not (drop_neutral and text.lstrip("( \t").split(" ", 1)[0] == "2")
    return n


# ---------------------------------------------------------------------------------------------
# Vocabulary


@dataclass(frozen=True)
class Vocab:
    """Token <-> id map. ``tokens[0]`` is ``<unk>``; unknown tokens encode to :data:`UNK_ID`.

    With ``lowercase`` the tokens are lower-cased before lookup (and were when the vocab was built).
    Build one from the training trees with :meth:`build`.
    """

    tokens: tuple[str, ...]
    lowercase: bool = False
    index: Mapping[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.tokens or self.tokens[0] != UNK:
            raise ValueError(f"a Vocab must start with {UNK!r}")
        index = {t: i for i, t in enumerate(self.tokens)}
        if len(index) != len(self.tokens):
            raise ValueError("a Vocab's tokens must be unique")
        object.__setattr__(self, "index", index)

    @classmethod
    def build(cls, trees: Iterable[Tree], min_count: int = 1, lowercase: bool = False) -> Vocab:
        """Vocabulary of leaf tokens seen at least ``min_count`` times, most frequent first
        (ties alphabetical), after ``<unk>``. Deterministic for a given list of trees."""
        counts: Counter[str] = Counter()
        for tree in trees:
            counts.update(tree.words)
        if lowercase:
            lowered: Counter[str] = Counter()
            for tok, c in counts.items():
                lowered[tok.lower()] += c
            counts = lowered
        counts.pop(UNK, None)
        kept = sorted((t for t, c in counts.items() if c >= min_count), key=lambda t: (-counts[t], t))
        return cls((UNK, *kept), lowercase)

    def __len__(self) -> int:
        return len(self.tokens)

    def id(self, token: str) -> int:
        """The id of ``token`` (lower-cased first if the vocab is), or :data:`UNK_ID`."""
        return self.index.get(token.lower() if self.lowercase else token, UNK_ID)

    def encode(self, tree: Tree) -> np.ndarray:
        """Token ids per node (int64, length ``tree.n_nodes``): leaves get their id (``UNK_ID`` if
        unknown), internal nodes :data:`INTERNAL` (-1)."""
        return np.fromiter(
            (self.id(t) if t else INTERNAL for t in tree.tokens),
            dtype=np.int64,
            count=tree.n_nodes,
        )


# ---------------------------------------------------------------------------------------------
# Binary (SST-2) view

#: a node's binary label by its sentiment label: 0, 1 negative; 2 neutral (unlabelled); 3, 4 positive
_BINARY = np.array([0, 0, NO_LABEL, 1, 1], dtype=np.int64)


def binary_targets(tree: Tree) -> tuple[np.ndarray, np.ndarray]:
    """Per-node binary labels and mask: ``(labels int64, mask bool)`` of length ``n_nodes``.

    ``labels`` is 0/1, or :data:`NO_LABEL` (-1) at neutral nodes, where ``mask`` is false: those
    nodes take no part in the loss.
    """
    labels = _BINARY[tree.labels]
    return labels, labels >= 0


def drop_neutral_roots(trees: Sequence[Tree]) -> list[Tree]:
    """The trees whose root label is not neutral (2): the SST-2 sentence set
    (6920 / 872 / 1821 trees for train / dev / test)."""
    return [t for t in trees if t.root_label != 2]


# ---------------------------------------------------------------------------------------------
# Pretrained vectors


def load_vectors(
    path: Path | str,
    vocab: Vocab,
    dim: int,
    init: np.ndarray | None = None,
) -> np.ndarray:
    """Read GloVe-style text vectors (``word v1 ... v_dim`` per line, optionally gzip) for ``vocab``.

    Returns float32 ``[len(vocab), dim]``: rows of words found in the file hold their vector; the
    other rows are copied from ``init`` (shape ``[len(vocab), dim]``) or zero. The word is everything
    before the last ``dim`` fields, so words with spaces work. Lookup honours ``vocab.lowercase``;
    the first occurrence of a word wins.

    Raises:
        DataError: a missing file, or "<file>:<line>: <what>" for a malformed line.
    """
    path = Path(path)
    if init is not None and init.shape != (len(vocab), dim):
        raise ValueError(f"init has shape {init.shape}, expected {(len(vocab), dim)}")
    out = np.zeros((len(vocab), dim), np.float32) if init is None else init.astype(np.float32)
    if not os.path.exists(path):  # os.path: an unreadable folder on the way reads as missing, not a traceback
        if link := files.dangling_link(path):  # (a link to an unmounted disk is not a typo in the path)
            raise DataError(f"{path}: {link}; check the vectors file it should point to")
        raise DataError(f"missing {path}: vectors file not found; check the path")
    seen = np.zeros(len(vocab), dtype=bool)
    first = True  # the first line of vectors: its width is checked (a wider one read as words with numbers in)
    # files.text_lines: a directory, an unreadable, binary, non-UTF-8 or cut-off (gzip) file is one line
    with closing(files.text_lines(path, error=DataError, hint="check the vectors file")) as lines:
        for lineno, line in enumerate(lines, start=1):
            fields = line.rstrip("\r\n").rstrip(" ").split(" ")
            if lineno == 1 and len(fields) == 2 and fields[0].isdigit() and fields[1].isdigit():
                if int(fields[1]) != dim:  # word2vec-style "count dim" header
                    raise DataError(f"{path}:1: the header says {fields[1]}-number vectors, model.embed is {dim}")
                continue
            if len(fields) < dim + 1:
                raise DataError(f"{path}:{lineno}: expected a word and {dim} numbers, got {len(fields)} fields")
            if first and len(fields) > dim + 1 and all(_is_number(f) for f in fields[1:]):
                raise DataError(f"{path}:{lineno}: a word and {len(fields) - 1} numbers, model.embed is {dim}")
            first = False
            word = " ".join(fields[:-dim])
            i = vocab.index.get(word.lower() if vocab.lowercase else word)
            if i is None or seen[i]:
                continue
            try:
                with np.errstate(over="ignore"):  # (beyond float32: inf, refused below)
                    out[i] = np.asarray(fields[-dim:], dtype=np.float32)
            except ValueError as exc:
                raise DataError(f"{path}:{lineno}: non-numeric vector value") from exc
            if not np.isfinite(out[i]).all():  # (nan or inf trained into a divergence blamed on train.lr)
                raise DataError(f"{path}:{lineno}: a vector value that is nan, infinite or beyond float32")
            seen[i] = True
    log.info("vectors: %d of %d vocabulary words found in %s", int(seen.sum()), len(vocab), path)
    if not seen.any():
        log.warning("vectors: none of the %d vocabulary words is in %s (another language, or case?); the table "
                    "keeps its random initialization", len(vocab), path)
    return out


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
