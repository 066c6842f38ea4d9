"""The attentive RNN decoder shared by the generating pipelines (translation, captioning): its training graph with
teacher forcing, the loss over real tokens, a one-step model rebuilt from the trained layers, Python greedy / beam
decoding (shared.decoding) and an in-graph greedy loop for exports.

The encoder is the pipeline's own; it provides `keys` (batch, positions, units) to attend over, a boolean `mask`
(batch, positions) of real positions, and the decoder's initial state (batch, units).

Notebook:
    logits = seq2seq.attentive_decoder(target_in, keys, initial, vocab_size=V, embed_dim=64, units=128)
    step = seq2seq.step_model(trained_model)
    decoder = seq2seq.Decoder(step, vocabulary, max_length=20)
    tokens, scores = decoder.greedy(keys, mask, initial)
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from shared import decoding, layers, specs
from shared.text import END, START, normalize  # noqa: F401  (seq2seq.normalize: the same text form)

KINDS = specs.DECODER_KINDS  # shared.specs: known without TensorFlow


@keras.saving.register_keras_serializable(package="rnn_suite")
def standardize_sentence(text: tf.Tensor) -> tf.Tensor:
    """`normalize` inside a graph (the TextVectorization standardize step): lower case, hyphens and punctuation to
    spaces (apostrophes and the [start]/[end] brackets kept)."""
    text = tf.strings.lower(tf.strings.unicode_transcode(text, "UTF-8", "UTF-8", errors="replace"), encoding="utf-8")
    text = tf.strings.regex_replace(text, "-", " ")
    text = tf.strings.regex_replace(text, r"[^\pL\pN_\s'\[\]]", " ")  # RE2's \w is ASCII-only: keep é, à, ç
    return tf.strings.strip(tf.strings.regex_replace(text, r"\s+", " "))


def vectorizer(vocab_size: int, length: int, name: str, vocabulary: list[str] | None = None):
    """A TextVectorization with `standardize_sentence`, padded/cut to `length` tokens; built when `vocabulary` is
    given (a trained run's), else to be adapted on training text."""
    layer = keras.layers.TextVectorization(vocab_size, standardize=standardize_sentence, vocabulary=vocabulary,
                                           output_sequence_length=length, name=name)
    if vocabulary is not None:
        layer(tf.constant([""]))  # built, as export requires
    return layer


@keras.saving.register_keras_serializable(package="rnn_suite")
def masked_token_loss(y_true, logits):
    """Cross-entropy averaged over real target tokens only (padding id 0 contributes nothing)."""
    return MaskedTokenLoss().call(y_true, logits)


@keras.saving.register_keras_serializable(package="rnn_suite")
class MaskedTokenLoss(keras.losses.Loss):
    """`masked_token_loss` with label smoothing: per real token, (1 - s) * its cross-entropy + s * the mean of
    -log p over the vocabulary (Szegedy et al. 2016's uniform prior); s = 0 is masked_token_loss."""

    def __init__(self, label_smoothing: float = 0.0, name: str = "masked_token_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        if not 0.0 <= label_smoothing < 1.0:
            raise ValueError(f"label smoothing {label_smoothing}: expected 0 <= s < 1.")
        self.label_smoothing = float(label_smoothing)

    def call(self, y_true, logits):
        y_true = keras.ops.cast(y_true, "int32")
        log_probs = keras.ops.log_softmax(keras.ops.cast(logits, "float32"), axis=-1)
        nll = -keras.ops.take_along_axis(log_probs, keras.ops.expand_dims(y_true, -1), axis=-1)[..., 0]
        per_token = (1.0 - self.label_smoothing) * nll - self.label_smoothing * keras.ops.mean(log_probs, axis=-1)
        mask = keras.ops.cast(keras.ops.not_equal(y_true, 0), per_token.dtype)
        return keras.ops.sum(per_token * mask) / keras.ops.maximum(keras.ops.sum(mask), 1.0)

    def get_config(self):
        return {**super().get_config(), "label_smoothing": self.label_smoothing}


def attentive_decoder(target_in, keys, initial_state, *, vocab_size: int, embed_dim: int, units: int,
                      kind: str = "gru", key_mask=None):
    """Teacher-forced decoding: target tokens (batch, T) -> logits (batch, T, vocab_size). A GRU or LSTM of `units`
    (the LSTM's cell state starts at the same vector as its hidden state) reads the embedded previous tokens; its
    outputs attend over `keys` with Keras AdditiveAttention (Bahdanau); [output; context] goes through a linear
    projection with layer normalization (a tanh there saturated and stalled training on real text) to the logits.
    Layers are named so that `step_model` can rebuild one decoding step from a trained model."""
    if kind not in KINDS:
        raise ValueError(f"decoder kind {kind!r}: expected one of {KINDS}.")
    spec = layers.RNNSpec(kind, (units,), return_sequences=True)
    layer, = layers.rnn_layers(spec, name="decoder", return_state=True)  # named decoder_<kind>_0
    embedded = keras.layers.Embedding(vocab_size, embed_dim, mask_zero=True, name="target_embedding")(target_in)
    decoded, *_ = layer(embedded, initial_state=[initial_state] * (2 if kind == "lstm" else 1))
    # scores are asked for here too: Keras 3.15 loses the scores output of a reused attention layer whose first
    # call did not return them ("Output ... is not connected to inputs"), and step_model reuses this layer
    attention = keras.layers.AdditiveAttention(name="attention")
    masks = None if key_mask is None else [None, key_mask]
    context, _ = attention([decoded, keys], mask=masks, return_attention_scores=True)
    combine = keras.Sequential([keras.layers.Dense(units), keras.layers.LayerNormalization()], name="combine")
    features = keras.layers.Concatenate(name="decoder_features")([decoded, context])
    return keras.layers.Dense(vocab_size, name="logits", dtype="float32")(combine(features))


def _decoder_layer(model: keras.Model) -> keras.layers.Layer:
    for layer in model.layers:  # decoder_<kind>_0 (the factory's name); decoder_<kind> in older checkpoints
        if any(layer.name in (f"decoder_{kind}", f"decoder_{kind}_0") for kind in KINDS):
            return layer
    raise ValueError(f"model {model.name!r} has no decoder_gru/decoder_lstm layer.")


def step_model(model: keras.Model) -> keras.Model:
    """One decoding step with the trained decoder's layers (shared weights):
    [token (batch, 1), keys (batch, P, K), mask (batch, P) bool, *states] -> [log_probs (batch, vocab),
    attention (batch, P), *new states] (one state for a GRU, two for an LSTM)."""
    layer = _decoder_layer(model)
    kind = "lstm" if isinstance(layer, keras.layers.LSTM) else "gru"
    token = keras.Input((1,), dtype="int64", name="token")
    keys = keras.Input((None, layer.units), name="keys")  # AdditiveAttention adds query and key: same size
    mask = keras.Input((None,), dtype="bool", name="mask")
    states = [keras.Input((layer.units,), name=f"state_{i}") for i in range(2 if kind == "lstm" else 1)]
    out, *new_states = layer(model.get_layer("target_embedding")(token), initial_state=states)
    context, scores = model.get_layer("attention")([out, keys], mask=[None, mask], return_attention_scores=True)
    logits = model.get_layer("logits")(model.get_layer("combine")(keras.layers.Concatenate()([out, context])))
    log_probs = keras.ops.log_softmax(logits[:, 0, :], axis=-1)
    return keras.Model([token, keys, mask, *states], [log_probs, scores[:, 0, :], *new_states], name="step")


def n_states(step: keras.Model) -> int:
    """How many recurrent states a step model carries (GRU 1, LSTM 2)."""
    return len(step.inputs) - 3


class Decoder:
    """Python-side decoding with a step model: greedy for a batch, beam search for one input, attention rows."""

    def __init__(self, step: keras.Model, vocabulary: list[str], max_length: int, detokenize=None):
        """`detokenize(ids) -> str` turns output ids into text (default: the vocabulary's words joined by
        spaces; a subword model's decoder otherwise)."""
        self.step_model, self.max_length, self.detokenize = step, max_length, detokenize
        self.vocab = np.array(vocabulary)
        self.start, self.end = vocabulary.index(START), vocabulary.index(END)
        self._step = tf.function(lambda inputs: self.step_model(inputs), reduce_retracing=True)

    def _step_fn(self, tokens, state):
        keys, mask, *states = state
        log_probs, _, *states = self._step([tf.constant(np.asarray(tokens)[:, None], tf.int64), keys, mask, *states])
        return log_probs.numpy(), (keys, mask, *[s.numpy() for s in states])

    def text(self, tokens: list[int]) -> str:
        return self.detokenize(tokens) if self.detokenize else " ".join(self.vocab[t] for t in tokens)

    def greedy(self, keys, mask, states, limits=None) -> tuple[list[str], np.ndarray]:
        """Greedy decoding of a batch; `limits` (batch,) caps each row's length (default: max_length for all).
        Scores are those of the uncut rows."""
        limits = np.full(len(keys), self.max_length) if limits is None else np.asarray(limits)
        tokens, scores = decoding.greedy(self._step_fn, (keys, mask, *states), start=self.start, end=self.end,
                                         max_length=int(limits.max()))
        return [self.text(t[:limit]) for t, limit in zip(tokens, limits, strict=True)], scores

    def beam(self, keys, mask, states, width: int, max_length: int | None = None) -> tuple[str, float]:
        """Beam search for ONE input (batch 1)."""
        (tokens, score), *_ = decoding.beam_search(self._step_fn, (keys, mask, *states), start=self.start,
                                                   end=self.end, max_length=max_length or self.max_length, width=width)
        return self.text(tokens), score

    def attention(self, keys, mask, states) -> tuple[list[str], np.ndarray]:
        """(output words, (output, positions) attention weights) of the greedy decoding of ONE input."""
        tokens, rows = [self.start], []
        for _ in range(self.max_length):
            log_probs, scores, *states = self._step([tf.constant([[tokens[-1]]], tf.int64), keys, mask, *states])
            tokens.append(int(np.argmax(log_probs.numpy()[0])))
            rows.append(scores.numpy()[0])
            if tokens[-1] == self.end:
                break
        return [str(self.vocab[t]) for t in tokens[1:]], np.array(rows)


def greedy_graph(step: keras.Model, keys, mask, states: list, vocabulary: list[str], max_length: int) -> tf.Tensor:
    """Greedy decoding inside a traced graph (for exports): max_length steps, words joined up to the end token.
    Returns a [batch] string tensor."""
    vocab = tf.constant(vocabulary)
    start, end = vocabulary.index(START), vocabulary.index(END)
    tokens = tf.fill(tf.shape(keys)[:1], tf.constant(start, tf.int64))
    outputs = []
    for _ in range(max_length):
        log_probs, _, *states = step([tokens[:, None], keys, mask, *states])
        tokens = tf.argmax(log_probs, axis=-1)
        outputs.append(tokens)
    ids = tf.stack(outputs, axis=1)
    keep = tf.equal(tf.cumsum(tf.cast(tf.equal(ids, end), tf.int32), axis=1), 0)
    joined = tf.strings.reduce_join(tf.where(keep, tf.gather(vocab, ids), ""), axis=1, separator=" ")
    return tf.strings.strip(tf.strings.regex_replace(joined, " +", " "))
