"""Sentiment analysis: review text -> TextVectorization -> Embedding(mask_zero) -> bidirectional LSTM ->
P(positive), served from raw strings; beside it a TF-IDF + logistic regression baseline on the same split.

Notebook:
    cfg = dataclasses.replace(sentiment.Config(), source="synthetic", epochs=2)
    data = sentiment.load_data(cfg); model = sentiment.build_model(cfg, data); shared.pipeline.train(sentiment, cfg, model, data)
    metrics = sentiment.evaluate(cfg, model, data); sentiment.classify(["not a good film"], model_path)
    (or the whole story: shared.pipeline.run(sentiment, cfg))
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

from domain import text as text_data
from shared import cli, specs, startup

NAME = "sentiment"
POOLINGS = ("meanmax", "last")
WORD_VECTORS = ("ppmi", "none")
PREDICT_INPUT = 'a text: make predict-sentiment TEXT="a review" (or INPUT=@review.txt for a file)'


@dataclasses.dataclass(frozen=True)
class Config:
    source: str = "auto"          # auto | local | tfds | synthetic (the generated negation corpus)
    data_dir: str = ""            # train.csv/test.csv or aclImdb train/, test/; default $RNN_DATA_DIR/imdb
    rnn: str = "bilstm:128"       # RNN spec (shared.layers)
    vocab_size: int = 30_000      # TextVectorization vocabulary, adapted on training text only
    embed_dim: int = 128          # word embedding size
    bigram_buckets: int = 0       # > 0: each word's embedding plus one of its hashed (previous, this) word pair
    pooling: str = "meanmax"      # meanmax: mean and max over all RNN states | last: the final state only
    embed_dropout: float = 0.3    # SpatialDropout1D on the embeddings (whole embedding channels dropped)
    segment: int = 50             # > 0: the RNN reads each review as consecutive segments of this many words and the
                                  # pooling spans them all (Johnson & Zhang 2016); 0: the review as one sequence
    dropout: float = 0.5          # dropout on the pooled states, before the output
    word_vectors: str = "ppmi"    # ppmi: each word's embedding starts from PPMI + SVD word vectors of the training and
                                  # unlabelled reviews (pretraining.py) | none: from a random initialisation
    pretrain_epochs: int = 0      # > 0: a language model over the training and unlabelled reviews first (pretraining.py)
    pretrain_reviews: int = 0     # reviews it reads (training first, then unlabelled); 0: all
    members: int = 3              # RNNs averaged: each trained alone from its own seed (seed + k) with its own early
                                  # stopping; the model's probability is their mean
    synthetic_reviews: int = 8000  # size of the generated corpus (source synthetic)
    test_fraction: float = 0.2    # held out when the source has no test split (the local IMDB train.csv here)
    batch_size: int = 64
    epochs: int = 10              # early stopping (patience 2 on validation accuracy) usually ends sooner
    learning_rate: float = 2e-3
    seed: int = 1337
    jit_compile: bool = False  # XLA; the default is whichever trained faster here (make bench, BENCHMARKS.md)
    run_dir: str = "runs/sentiment"

    # the command line lists these
    CHOICES: ClassVar[dict] = {"source": text_data.SOURCES, "pooling": POOLINGS, "word_vectors": WORD_VECTORS}

    def __post_init__(self):
        specs.parse_spec(self.rnn)
        cli.check_choices(self)
        cli.expect(self, "embed_dropout", 0.0 <= self.embed_dropout < 1.0, "a fraction in [0, 1)")
        cli.at_least(self, 0, "bigram_buckets")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"--dropout {self.dropout}: expected a fraction in [0, 1).")
        if self.segment < 0 or (self.segment and self.pooling != "meanmax"):
            raise ValueError(f"--segment {self.segment}: expected 0 (off) or a word count >= 1, with --pooling meanmax.")
        if self.members < 1:
            raise ValueError(f"--members {self.members}: expected at least 1 (RNNs averaged).")
        cli.at_least(self, 3, "vocab_size")
        cli.at_least(self, 1, "embed_dim")
        cli.at_least(self, 20, "synthetic_reviews")
        if not 0.0 < self.test_fraction < 0.9:
            raise ValueError(f"--test-fraction {self.test_fraction}: expected a fraction between 0 and 0.9.")
        if self.word_vectors != "none" and self.embed_dim >= self.vocab_size:
            raise ValueError(f"--embed-dim {self.embed_dim} with --word-vectors {self.word_vectors}: the vectors have "
                             f"at most --vocab-size - 1 = {self.vocab_size - 1} dimensions; give a smaller "
                             "--embed-dim or --word-vectors none.")
        cli.at_least(self, 0, "pretrain_epochs")
        cli.at_least(self, 0, "pretrain_reviews")
        spec = specs.parse_spec(self.rnn)
        if self.pretrain_epochs and spec.depth > 1 and spec.bidirectional:
            raise ValueError(f"--rnn {self.rnn} with --pretrain-epochs: the forward states of a second bidirectional "
                             "layer have read the words they would predict; pretrain one bidirectional layer "
                             "(bilstm:128) or a unidirectional stack (lstm:128x2).")
        cli.check_training(self)

    @property
    def reads_unlabelled(self) -> bool:
        """Whether the run learns from the unlabelled reviews (word vectors or a language model)."""
        return self.word_vectors != "none" or self.pretrain_epochs > 0


CARD = {  # the model card written beside every export (shared.pipeline.model_card)
    "use": "Positive/negative polarity of an English movie review, and a worked example of a recurrent text "
           "classifier served string to string.",
    "not for": "Other languages or domains without re-training and measuring; moderation or any decision about a "
               "person; texts of mixed or neutral sentiment (it has only two classes).",
    "data": "IMDB Large Movie Review Dataset (Maas et al. 2011; 25k training and 25k test reviews, for research), "
            "through TFDS or a local aclImdb folder; or reviews generated here (offline).",
    "generated": ("synthetic",),
}


QUICK = {"source": "synthetic", "synthetic_reviews": 600, "rnn": "bigru:8", "vocab_size": 200, "embed_dim": 8, "epochs": 2,
         "members": 2}


# the stages (pipelines.sentiment.stages) load on first use: reading the options needs no TensorFlow
__getattr__, __dir__ = startup.later(__name__)
