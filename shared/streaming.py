"""Running a trained RNN on a live stream, and training it with truncated backpropagation through time.

Notebook:
    model = streaming.sequence_model(features=5, spec="gru:32", outputs=1)    # a forecast at every step
    ...train...
    stream = streaming.Streamer(model)          # a stateful twin with the same weights, batch 1
    for chunk in chunks:                        # (1, any length, features) each
        out = stream.feed(chunk)                # == the matching slice of model(whole sequence)
    stream.reset()                              # a new stream

Streaming needs a unidirectional model that returns a value at every step: a bidirectional layer reads the
future, and a model that answers only at the last step has nothing to say mid-sequence.

Truncated BPTT (`tbptt_dataset` + a stateful model from `sequence_model(..., batch_size=streams)`): a series
too long to unroll is cut into `streams` contiguous pieces that run side by side as the rows of a batch; each
batch is the next `chunk` steps of every piece, so row i of batch k+1 continues row i of batch k. The stateful
layers carry the hidden state from batch to batch (forward information flows across the whole series), while
gradients stop at chunk borders (backward information reaches at most `chunk` steps). Use it when sequences are
longer than memory or time allows to unroll (hours of ECG, years of hourly weather) and the dependencies that
matter are shorter than the chunk; when they are longer, the chunk must grow or the model cannot learn them.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from shared import layers


def sequence_model(features: int, spec: str | layers.RNNSpec, outputs: int, *, batch_size: int | None = None,
                   stateful: bool = False, mean=None, variance=None, name: str = "sequence_rnn") -> keras.Model:
    """(batch, time, features) -> Normalization (when mean/variance are given) -> unidirectional RNN from the
    shared factory (every step) -> Dense(outputs) at every step. `stateful` needs a fixed `batch_size`."""
    spec = layers.parse_spec(spec, return_sequences=True) if isinstance(spec, str) else spec
    if spec.bidirectional:
        raise ValueError(f"sequence_model({str(spec)!r}): a bidirectional layer reads the future, so it cannot "
                         "stream; use a unidirectional spec such as 'gru:32'.")
    if stateful and not batch_size:
        raise ValueError("sequence_model(stateful=True): give batch_size (the number of parallel streams).")
    spec = layers.RNNSpec(spec.kind, spec.units, False, spec.dropout, return_sequences=True)
    inputs = keras.Input(batch_shape=(batch_size, None, features), name="sequence")
    x = inputs
    if mean is not None:
        x = keras.layers.Normalization(axis=-1, mean=mean, variance=variance, name="normalize")(x)
    for layer in layers.rnn_layers(spec, name=name):
        if stateful:
            layer.stateful = True
        x = layer(x)
    out = keras.layers.Dense(outputs, dtype="float32", name="per_step")(x)
    return keras.Model(inputs, out, name=name)


def _stateful_layer(layer: keras.layers.Layer) -> keras.layers.Layer:
    config = layer.get_config()
    if isinstance(layer, keras.layers.Bidirectional):
        raise ValueError(f"{layer.name}: a bidirectional layer reads the future, so it cannot stream.")
    if isinstance(layer, keras.layers.RNN):
        if not config.get("return_sequences"):
            raise ValueError(f"{layer.name}: return_sequences=False answers only at the end of a sequence; a "
                             "streaming model needs an output at every step (streaming.sequence_model).")
        config["stateful"] = True
    return layer.__class__.from_config(config)


def stateful_copy(model: keras.Model, batch_size: int = 1) -> keras.Model:
    """A twin of a functional sequence model whose recurrent layers are stateful, with `model`'s weights."""
    features = model.inputs[0].shape[-1]
    twin = keras.models.clone_model(model, input_tensors=keras.Input(batch_shape=(batch_size, None, features)),
                                    clone_function=_stateful_layer)
    twin.set_weights(model.get_weights())
    return twin


def reset(model: keras.Model) -> None:
    """Zero the carried state of every stateful recurrent layer of `model`."""
    for layer in model.layers:
        if isinstance(layer, keras.layers.RNN) and layer.stateful:
            layer.reset_states()


class Streamer:
    """Feed a long signal chunk by chunk (any chunk lengths) with the recurrent state carried across calls;
    the concatenated outputs equal the model run on the whole signal at once. Calls go through a tf.function
    (not `predict`: no per-call Keras overhead)."""

    def __init__(self, model: keras.Model):
        self.model = stateful_copy(model, batch_size=1)
        features = model.inputs[0].shape[-1]
        self._step = tf.function(lambda chunk: self.model(chunk, training=False),
                                 input_signature=[tf.TensorSpec((1, None, features), tf.float32)])
        self.steps_seen = 0

    def feed(self, chunk) -> np.ndarray:
        """chunk: (time, features) or (1, time, features) -> the outputs for those steps, (time, outputs)."""
        chunk = np.asarray(chunk, dtype="float32")
        if chunk.ndim == 2:
            chunk = chunk[None]
        if chunk.ndim != 3 or chunk.shape[0] != 1 or chunk.shape[1] == 0:
            raise ValueError(f"Streamer.feed: expected a non-empty (time, features) chunk; got shape {chunk.shape}.")
        self.steps_seen += chunk.shape[1]
        return self._step(tf.constant(chunk)).numpy()[0]

    def reset(self) -> None:
        reset(self.model)
        self.steps_seen = 0


def tbptt_dataset(inputs: np.ndarray, targets: np.ndarray, *, streams: int, chunk: int) -> tf.data.Dataset:
    """Batches (streams, chunk, ...) for truncated BPTT with a stateful model of batch size `streams`: the series
    (time, ...) is cut into `streams` contiguous pieces; batch k holds steps [k*chunk, (k+1)*chunk) of every
    piece, so each row continues the same row of the previous batch. A tail shorter than a chunk is dropped."""
    if len(inputs) != len(targets):
        raise ValueError(f"tbptt_dataset: {len(inputs)} input steps but {len(targets)} targets.")
    per_stream = len(inputs) // streams
    chunks = per_stream // chunk
    if chunks < 1:
        raise ValueError(f"tbptt_dataset: {len(inputs)} steps cannot make {streams} streams of at least one "
                         f"{chunk}-step chunk; lower --streams or --chunk.")

    def arrange(a: np.ndarray) -> np.ndarray:
        a = np.asarray(a[: streams * per_stream]).reshape(streams, per_stream, *a.shape[1:])[:, : chunks * chunk]
        a = a.reshape(streams, chunks, chunk, *a.shape[2:])
        return np.swapaxes(a, 0, 1).reshape(chunks * streams, chunk, *a.shape[3:])

    return tf.data.Dataset.from_tensor_slices((arrange(inputs), arrange(targets))).batch(streams)


class ResetStates(keras.callbacks.Callback):
    """Truncated BPTT: start every epoch from a zero state (the streams start again at their beginning)."""

    def on_epoch_begin(self, epoch, logs=None):
        reset(self.model)
