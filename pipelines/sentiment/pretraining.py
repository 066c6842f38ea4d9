"""Pretraining for the sentiment networks, on the training and unlabelled reviews.

Word vectors (`word_vectors`): each word's embedding starts from the positive pointwise mutual information (PPMI) of
the words within WINDOW of it, factorised by a truncated SVD (Levy, Goldberg & Dagan 2015: on word similarity it
matches word2vec's skip-gram); a minute on 2 cores for the 68,000 IMDB reviews.

Language-model pretraining (Dai & Le 2015; ULMFiT, Howard & Ruder 2018): the same embedding and recurrent layers
the classifier uses learn to predict words on the training and unlabelled reviews first, then each network starts
from them. With a bidirectional RNN the forward states predict the next word and
the backward states the previous one (a biLM, as ELMo's), so both directions learn; the reviews are read in segments
of the classifier's `segment` words, as the classifier reads them. The loss is a sampled softmax (Jean et al. 2015)
in training, the full softmax for the held-out perplexity. The language model is kept under
<run_dir>/language_model/<key>/ and reused by any later run with the same vocabulary and options."""

from __future__ import annotations

import hashlib
import json
import logging
import pathlib
import time

import keras
import numpy as np
import tensorflow as tf

from shared import layers, training

log = logging.getLogger(__name__)
SAMPLES = 1024      # words drawn per step for the sampled softmax
DEFAULT_SEGMENT = 50  # the segment length when the classifier reads whole reviews (segment 0)
WINDOW = 5          # word vectors: words this close or closer count as each other's context
PROBES = ("great", "awful", "boring", "not", "good", "bad")  # whose nearest words the log and the report show
# what makes a language model that one (with the vocabulary); not the seed, so runs under other seeds (the members,
# a paired comparison) share it: the model records the seed it was trained under
OPTIONS = ("rnn", "vocab_size", "embed_dim", "embed_dropout", "segment", "word_vectors", "pretrain_epochs",
           "pretrain_reviews", "batch_size", "learning_rate")


@keras.saving.register_keras_serializable(package="rnn_suite")
class WordPrediction(keras.layers.Layer):
    """(RNN states (batch, steps, directions x units), word ids (batch, steps)) -> each segment's mean cross-entropy
    (batch,) of its words: the forward states predict the next word, the backward ones (directions 2) the previous
    word. Padding (0) and out-of-vocabulary words (1) are not predicted. Sampled softmax (log-uniform: the ids are in
    frequency order) when training over a vocabulary of more than twice `samples` words, full softmax otherwise."""

    def __init__(self, vocabulary: int, directions: int, samples: int = SAMPLES, **kwargs):
        super().__init__(**kwargs)
        self.vocabulary, self.directions, self.samples = vocabulary, directions, samples

    def build(self, shapes):
        units = shapes[0][-1] // self.directions
        self.kernels = [self.add_weight(name=f"kernel_{d}", shape=(self.vocabulary, units),
                                        initializer="glorot_uniform") for d in range(self.directions)]
        self.biases = [self.add_weight(name=f"bias_{d}", shape=(self.vocabulary,), initializer="zeros")
                       for d in range(self.directions)]

    def call(self, inputs, training=None):
        states, ids = inputs
        ids = tf.cast(ids, tf.int64)
        units = tf.shape(states)[-1] // self.directions
        total, count = 0.0, 0.0
        for d in range(self.directions):
            part = states[:, :, d * units:(d + 1) * units]
            seen, target = (part[:, :-1], ids[:, 1:]) if d == 0 else (part[:, 1:], ids[:, :-1])
            flat, words = tf.reshape(seen, [-1, units]), tf.reshape(target, [-1, 1])
            if training and self.samples < self.vocabulary // 2:  # a small vocabulary: the full softmax costs little
                loss = tf.nn.sampled_softmax_loss(self.kernels[d], self.biases[d], words, flat, self.samples,
                                                  self.vocabulary)
            else:
                logits = tf.matmul(flat, self.kernels[d], transpose_b=True) + self.biases[d]
                loss = tf.nn.sparse_softmax_cross_entropy_with_logits(words[:, 0], logits)
            kept = tf.cast(words[:, 0] > 1, loss.dtype)
            total += tf.reduce_sum(tf.reshape(loss * kept, tf.shape(target)), axis=1)
            count += tf.reduce_sum(tf.reshape(kept, tf.shape(target)), axis=1)
        return total / tf.maximum(count, 1.0)

    def get_config(self):
        return {**super().get_config(), "vocabulary": self.vocabulary, "directions": self.directions,
                "samples": self.samples}


@keras.saving.register_keras_serializable(package="rnn_suite")
def predicted_loss(_, loss):
    """The model's output is its loss already (WordPrediction)."""
    return loss


def language_model(cfg) -> keras.Model:
    """word ids (batch, segment) -> each segment's word-prediction loss (batch,), on an embedding and RNN named as
    the classifier's (`embedding`, `rnn...`), so their weights carry over."""
    spec = layers.parse_spec(cfg.rnn, return_sequences=True)
    ids = keras.Input((cfg.segment or DEFAULT_SEGMENT,), dtype="int64", name="ids")
    x = keras.layers.Embedding(cfg.vocab_size, cfg.embed_dim, name="embedding")(ids)
    if cfg.embed_dropout:
        x = keras.layers.SpatialDropout1D(cfg.embed_dropout, name="embed_dropout")(x)
    states = layers.apply_rnn(x, spec, name="rnn")
    loss = WordPrediction(cfg.vocab_size, 2 if spec.bidirectional else 1, name="words")([states, ids])
    return keras.Model(ids, loss, name="review_language_model")


def word_vectors(vectorizer: keras.layers.TextVectorization, texts: list[str], vocab_size: int, dim: int,
                 seed: int) -> tuple[np.ndarray, dict]:
    """Embedding weights (vocab_size, dim) float32 from `texts`: the co-occurrence counts of the words within WINDOW
    of each other (weighted 1 / distance, as GloVe's), their PPMI with the context counts smoothed by ** 0.75, and
    its truncated SVD, U * sqrt(S) (Levy, Goldberg & Dagan 2015). Each vector is scaled to the norm of Keras' default
    initialisation at `dim`; padding, out-of-vocabulary and words never seen beside another keep that random
    initialisation. With what it did: {"reviews", "words", "pairs", "seconds", "neighbours" of a few probe words}."""
    from scipy import sparse
    from sklearn.decomposition import TruncatedSVD

    start = time.perf_counter()
    counts, words = sparse.csr_matrix((vocab_size, vocab_size)), 0
    for first in range(0, len(texts), 2048):
        ids = vectorizer(tf.constant(texts[first:first + 2048])).numpy().astype("int64")
        words += int((ids > 0).sum())
        rows, cols, weights = [], [], []
        for d in range(1, WINDOW + 1):  # each word and the one d words after it; padding (0) and OOV (1) left out
            a, b = ids[:, :-d].ravel(), ids[:, d:].ravel()
            kept = (a > 1) & (b > 1)
            rows.append(a[kept]), cols.append(b[kept]), weights.append(np.full(kept.sum(), 1.0 / d))
        rows, cols, weights = np.concatenate(rows), np.concatenate(cols), np.concatenate(weights)
        counts += sparse.coo_matrix((np.r_[weights, weights], (np.r_[rows, cols], np.r_[cols, rows])),
                                    shape=(vocab_size, vocab_size)).tocsr()
    cells = counts.tocoo()
    total, row = cells.data.sum(), np.asarray(counts.sum(axis=1)).ravel()
    context = row ** 0.75 / (row ** 0.75).sum()
    pmi = np.log(cells.data / total) - np.log(row[cells.row] / total) - np.log(context[cells.col])
    kept = pmi > 0
    ppmi = sparse.csr_matrix((pmi[kept], (cells.row[kept], cells.col[kept])), shape=(vocab_size, vocab_size))
    scale = 0.05 / np.sqrt(3.0) * np.sqrt(dim)  # the norm of keras' uniform(-0.05, 0.05) initialisation
    vectors = np.random.default_rng(seed).uniform(-0.05, 0.05, (vocab_size, dim))
    svd = TruncatedSVD(dim, algorithm="randomized", n_iter=5, random_state=seed)  # dim < vocab_size (the Config's)
    factors = svd.fit_transform(ppmi) / np.sqrt(np.maximum(svd.singular_values_, 1e-12))  # U * sqrt(S)
    norms = np.linalg.norm(factors, axis=1)
    seen = norms > 0
    vectors[seen] = factors[seen] / norms[seen, None] * scale
    vocabulary = vectorizer.get_vocabulary()
    info = {"reviews": len(texts), "words": words, "pairs": int(ppmi.nnz), "seconds":
            round(time.perf_counter() - start, 1), "neighbours": neighbours(vectors, vocabulary, PROBES)}
    log.info("word vectors: %d reviews, %d words, %d word pairs with PPMI > 0, %.0f s; %s", info["reviews"], words,
             info["pairs"], info["seconds"], info["neighbours"])
    return vectors.astype("float32"), info


def neighbours(vectors: np.ndarray, vocabulary: list[str], probes: tuple[str, ...], k: int = 5) -> dict:
    """The k nearest words by cosine of each probe word in the vocabulary (a look at what the vectors learned)."""
    index = {word: i for i, word in enumerate(vocabulary)}
    unit = vectors[:len(vocabulary)] / np.maximum(np.linalg.norm(vectors[:len(vocabulary)], axis=1, keepdims=True),
                                                  1e-12)
    out = {}
    for word in (p for p in probes if p in index):
        similarity = unit @ unit[index[word]]
        similarity[[0, 1, index[word]]] = -np.inf  # padding, out-of-vocabulary, itself
        out[word] = [str(vocabulary[i]) for i in np.argsort(-similarity)[:k]]
    return out


def segments(vectorizer: keras.layers.TextVectorization, texts: list[str], length: int) -> np.ndarray:
    """Every review's word ids cut into consecutive segments of `length` (the last right-padded with 0), as the
    classifier reads them; segments of fewer than 2 words are left out. (n, length) int32."""
    out = []
    for start in range(0, len(texts), 2048):
        ids = vectorizer(tf.constant(texts[start:start + 2048])).numpy().astype("int32")
        ids = np.pad(ids, [(0, 0), (0, -ids.shape[1] % length)]).reshape(-1, length)
        out.append(ids[(ids > 0).sum(axis=1) >= 2])
    return np.concatenate(out) if out else np.zeros((0, length), "int32")


def key(cfg, vocabulary: list[str]) -> str:
    """The folder name of a language model: a hash of the options in OPTIONS and the vocabulary."""
    described = json.dumps({**{k: getattr(cfg, k) for k in OPTIONS}, "vocabulary": vocabulary}, sort_keys=True)
    return hashlib.sha256(described.encode()).hexdigest()[:16]


def pretrain(cfg, vectorizer: keras.layers.TextVectorization, texts: list[str], held_out: list[str],
             verbose: int | str = "auto", embedding: np.ndarray | None = None) -> tuple[keras.Model, dict]:
    """The language model over `texts` (training and unlabelled reviews; the first cfg.pretrain_reviews when that is
    above 0), its embedding starting from `embedding` (word vectors) when given, early stopping on `held_out` (the
    validation reviews), and what it did: {"reviews", "segments", "words", "perplexity" (held out, full softmax,
    in-vocabulary words), "seconds", "reused"}. Reused from <run_dir>/language_model/<key>/ when a finished one is
    there."""
    folder = pathlib.Path(cfg.run_dir) / "language_model" / key(cfg, vectorizer.get_vocabulary())
    done = folder / "language_model.json"
    if done.exists() and (folder / "best.keras").exists():
        model = keras.models.load_model(folder / "best.keras")
        info = {**json.loads(done.read_text()), "reused": True}
        log.info("language model reused from %s (held-out perplexity %.1f)", folder, info["perplexity"])
        return model, info
    texts = texts[:cfg.pretrain_reviews] if cfg.pretrain_reviews else texts
    length = cfg.segment or DEFAULT_SEGMENT
    train, held = segments(vectorizer, texts, length), segments(vectorizer, held_out, length)
    log.info("language model: %d reviews, %d segments of %d words (%d words), held out %d segments", len(texts),
             len(train), length, int((train > 0).sum()), len(held))
    model = language_model(cfg)
    if embedding is not None:
        model.get_layer("embedding").set_weights([embedding])
    zeros = lambda n: np.zeros(n, "float32")  # noqa: E731 - the targets are in the inputs: the loss ignores these
    order = np.random.default_rng(cfg.seed).permutation(len(train))
    train_ds = tf.data.Dataset.from_tensor_slices((train[order], zeros(len(train)))).batch(cfg.batch_size)
    held_ds = tf.data.Dataset.from_tensor_slices((held, zeros(len(held)))).batch(cfg.batch_size)
    plan = training.Plan(model, train_ds, held_ds, loss=predicted_loss, patience=1, clipnorm=1.0,
                         rates={"words": int((train > 0).sum())}, tensorboard=False)
    result = training.fit(plan, training.Settings.of(cfg, run_dir=folder, epochs=cfg.pretrain_epochs,
                                                     verbose=verbose))
    info = {"reviews": len(texts), "segments": int(len(train)), "words": int((train > 0).sum()),
            "perplexity": perplexity(model, held), "seconds": round(result.timing["train_seconds"], 1),
            "epochs": len(result.epochs_run), "words_per_second": result.timing.get("words_per_second"),
            "seed": cfg.seed, "reused": False}
    done.write_text(json.dumps(info, indent=2) + "\n")
    log.info("language model: held-out perplexity %.1f after %d epoch(s)", info["perplexity"], info["epochs"])
    return model, info


def perplexity(model: keras.Model, held: np.ndarray, batch_size: int = 256) -> float:
    """exp of the mean cross-entropy per predicted word of the held-out segments (full softmax; both directions'
    predictions counted alike)."""
    losses = model.predict(held, batch_size=batch_size, verbose=0)
    counts = np.maximum((held[:, 1:] > 1).sum(axis=1) + (held[:, :-1] > 1).sum(axis=1) * (
        model.get_layer("words").directions - 1), 1)
    return round(float(np.exp((losses * counts).sum() / counts.sum())), 2)


def carry_over(language: keras.Model, network: keras.Model, suffix: str) -> int:
    """The language model's embedding and recurrent weights copied into one classifier network's layers of the same
    names (`embedding<suffix>`, `rnn<suffix>...`); the number of layers copied."""
    shared = [layer for layer in language.layers if layer.name == "embedding" or layer.name.startswith("rnn")]
    for layer in shared:
        prefix = "embedding" if layer.name == "embedding" else "rnn"
        network.get_layer(prefix + suffix + layer.name[len(prefix):]).set_weights(layer.get_weights())
    return len(shared)
