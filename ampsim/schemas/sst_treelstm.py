"""The ``sst_treelstm`` task's ``[data]`` and ``[model]`` (:mod:`ampsim.models.treelstm` builds it): the Stanford
Sentiment Treebank, a binary Tree-LSTM over each parse."""

from __future__ import annotations

from dataclasses import dataclass

from ampsim.fieldspec import spec, value_hash

__all__ = ["DataConfig", "ModelConfig", "OWN_OPTIMIZER"]


@dataclass(frozen=True)
class DataConfig:
    __hash__ = value_hash  # (by value, lists and tables too: equal configs, equal hashes)

    classes: int = spec(5, choices=(5, 2), help="5: fine-grained; 2: binary (neutral-root trees dropped)")
    limit_train: int = spec(0, ge=0, help="use only the first N training trees (with classes = 2, of those whose "
                            "root is not neutral); 0 = all")
    limit_test: int = spec(0, ge=0, help="evaluate on the first N trees (as limit_train); 0 = all")
    eval_split: str = spec("test", choices=("test", "dev"), help="split the metric is computed on")
    lowercase: bool = spec(False, help="lower-case tokens (vocabulary and lookup)")
    min_count: int = spec(1, ge=1, help="keep training words seen at least this often; others are <unk>")


#: what reads the embedding table's own optimizer settings: an optimizer of its own
OWN_OPTIMIZER = (("model.embedding_optimizer", ("sgd", "momentum", "adam", "adagrad")),)


@dataclass(frozen=True)
class ModelConfig:
    __hash__ = value_hash  # (by value, lists and tables too: equal configs, equal hashes)

    hidden: int = spec(150, ge=1, help="memory (h and c) width")
    embed: int = spec(300, ge=1, help="word vector width")
    dropout: float = spec(0.5, ge=0, le=0.99, help="dropout before the classifier")
    forget_bias: float = spec(0.0, finite=True, help="forget-gate bias at initialization")
    embedding_optimizer: str = spec("sgd", choices=("same", "sgd", "momentum", "adam", "adagrad"),
                                    help="optimizer of the embedding table; 'same' = train.optimizer, "
                                    "train.lr and train.weight_decay; another: its own kind, rate and decay (the "
                                    "model.embedding_* keys), train's momentum, betas, eps, muf and clip")
    embedding_lr: float = spec(0.1, gt=0, help="learning rate of the embedding table", read_if=OWN_OPTIMIZER)
    # (inf: a divergence blamed on the lr)
    embedding_weight_decay: float = spec(0.0, ge=0, finite=True, read_if=OWN_OPTIMIZER,
                                         help="L2 weight decay of the embedding table, as train.weight_decay")
    embedding_scale: float = spec(0.05, gt=0, le=1e3, help="random word vectors ~ U(-scale, scale)")
    vectors: str = spec("", help="optional GloVe-style text vectors (word v1 ... v_embed per line)")
    batch_leaves: bool = spec(True, help="inject a tree's leaves as one message (false: one per leaf)")
