"""Recurrent layer factories: the five RNN types of the field from one small spec.

Notebook:
    spec = layers.parse_spec("bigru:64x2")          # bidirectional, stacked GRU, 64 units per layer
    x = inputs = keras.Input((None, 8))
    for layer in layers.rnn_layers(spec):
        x = layer(x)

The five types: simple RNN (`simple:32`), LSTM (`lstm:64`), GRU (`gru:64`), bidirectional (`bi` prefix:
`bilstm:64`) and stacked/deep (`x` depth or a comma list: `gru:64x3`, `lstm:128,64`). An optional
`:DROPOUT` suffix sets input dropout (`bigru:64x2:0.2`).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator

import keras

from shared.specs import KINDS, RNNSpec, parse_spec  # noqa: F401 - the spec, parsed without TensorFlow

_RNN_LAYERS = {"simple": keras.layers.SimpleRNN, "lstm": keras.layers.LSTM, "gru": keras.layers.GRU}


def cudnn_eligible(spec: RNNSpec) -> bool:
    """True when the layers built from `spec` can run on the fused cuDNN kernel (LSTM and GRU only)."""
    return spec.kind in ("lstm", "gru")


def rnn_layers(spec: RNNSpec | str, *, name: str = "rnn", use_cudnn: bool | str = "auto",
               return_state: bool = False) -> list[keras.layers.Layer]:
    """Stacked, optionally bidirectional recurrent layers to call in order on (batch, time, features).

    Returns plain Keras layers. The output is (batch, time, output_units) when `spec.return_sequences`,
    else (batch, output_units). LSTM/GRU keep the Keras defaults that cuDNN needs (tanh/sigmoid, use_bias,
    GRU reset_after=True, no recurrent dropout, no unroll); "simple" has no cuDNN kernel, so
    `use_cudnn=True` with it is refused. Masked inputs must be right-padded with no fully masked row.
    `return_state` (one unidirectional layer only, e.g. a decoder) makes the layer also return its final state(s).
    """
    if isinstance(spec, str):
        spec = parse_spec(spec)
    if use_cudnn not in ("auto", True, False):
        raise ValueError(f"rnn_layers(use_cudnn={use_cudnn!r}): expected 'auto', True or False.")
    if use_cudnn is True and not cudnn_eligible(spec):
        raise ValueError(
            f"rnn_layers({str(spec)!r}, use_cudnn=True): a {spec.kind!r} layer has no cuDNN kernel; "
            "use kind 'lstm' or 'gru', or use_cudnn='auto'."
        )
    if return_state and (spec.depth != 1 or spec.bidirectional):
        raise ValueError(f"rnn_layers({str(spec)!r}, return_state=True): only for one unidirectional layer.")
    block: list[keras.layers.Layer] = []
    for i, units in enumerate(spec.units):
        sequences = spec.return_sequences or i < spec.depth - 1
        kwargs = {"dropout": spec.dropout, "return_sequences": sequences, "name": f"{name}_{spec.kind}_{i}"}
        if return_state:
            kwargs["return_state"] = True
        if spec.kind != "simple":
            kwargs["use_cudnn"] = use_cudnn
        layer = _RNN_LAYERS[spec.kind](units, **kwargs)
        block.append(keras.layers.Bidirectional(layer, name=f"{name}_bi_{i}") if spec.bidirectional else layer)
    return block


def apply_rnn(x, spec: RNNSpec | str, *, name: str = "rnn"):
    """Call the layers of `rnn_layers(spec)` on the symbolic tensor `x` and return the result."""
    for layer in rnn_layers(spec, name=name):
        x = layer(x)
    return x


def with_explicit_state(x, model: keras.Model, mask=None) -> tuple:
    """`x` through twins of `model`'s unidirectional recurrent layers, in order, that take their state as inputs and
    return it (the trained weights copied): (output sequence, state Inputs, states after the last unmasked step).
    For generation that carries the state step to step: the prefix is read once, then one step per new token or
    frame, instead of the whole sequence again at every step."""
    states_in, states_out = [], []
    for layer in [layer for layer in model.layers if isinstance(layer, keras.layers.RNN)]:
        config = {**layer.get_config(), "stateful": False, "return_state": True, "return_sequences": True}
        twin = layer.__class__.from_config(config)
        sizes = [layer.cell.units] * (2 if isinstance(layer, keras.layers.LSTM) else 1)
        given = [keras.Input((size,), name=f"{layer.name}_state{i}") for i, size in enumerate(sizes)]
        out = twin(x, mask=mask, initial_state=given)
        twin.set_weights(layer.get_weights())
        x, states_in, states_out = out[0], states_in + given, states_out + list(out[1:])
    return x, states_in, states_out


def recurrent_layers(model: keras.layers.Layer) -> Iterator[keras.layers.Layer]:
    """Every LSTM and GRU layer inside `model`, including the copies that `Bidirectional` holds."""
    stack = [model]
    while stack:
        layer = stack.pop()
        if isinstance(layer, (keras.layers.LSTM, keras.layers.GRU)):
            yield layer
        if isinstance(layer, keras.layers.Bidirectional):
            stack.extend([layer.forward_layer, layer.backward_layer])
        stack.extend(getattr(layer, "layers", []) or [])
        inner = getattr(layer, "layer", None)
        if isinstance(inner, keras.layers.Layer):
            stack.append(inner)


CUDNN_RULES = {"activation": "tanh", "recurrent_activation": "sigmoid", "recurrent_dropout": 0.0,
               "unroll": False, "use_bias": True}


def cudnn_problems(model: keras.layers.Layer) -> list[str]:
    """Reasons why recurrent layers of `model` would fall off the cuDNN kernel; empty when all are eligible."""
    problems = []
    for layer in recurrent_layers(model):
        config = layer.get_config()
        rules = dict(CUDNN_RULES, **({"reset_after": True} if isinstance(layer, keras.layers.GRU) else {}))
        for key, wanted in rules.items():
            value = config.get(key)
            if value != wanted:
                problems.append(f"{layer.name}: {key}={value!r} (cuDNN needs {wanted!r})")
        if layer.use_cudnn is False:
            problems.append(f"{layer.name}: use_cudnn=False")
    return problems


@contextlib.contextmanager
def cudnn_disabled(model: keras.layers.Layer) -> Iterator[None]:
    """Trace `model` without the GPU-only CudnnRNNV3 op: sets `use_cudnn=False` on every LSTM/GRU
    (inside Bidirectional too) for the duration, then restores the previous values.

    Needed for exports that must serve on CPU (keras-team/keras#18504). `use_cudnn` is not serialized,
    so a reloaded `.keras` model is back to "auto" anyway.
    """
    layers = list(recurrent_layers(model))
    saved = [layer.use_cudnn for layer in layers]
    for layer in layers:
        layer.use_cudnn = False
    try:
        yield
    finally:
        for layer, value in zip(layers, saved, strict=True):
            layer.use_cudnn = value


@keras.saving.register_keras_serializable(package="rnn_suite")
class MeanMaxPooling(keras.layers.Layer):
    """(batch, steps, features) -> (batch, 2 * features): the mean and the maximum over the steps the mask keeps
    (all steps without a mask), concatenated. Pooling over every state instead of reading only the last one lets
    a long sequence's early steps speak directly (Johnson & Zhang 2016 pool LSTM states for text this way)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def call(self, x, mask=None):
        if mask is None:
            return keras.ops.concatenate([keras.ops.mean(x, axis=1), keras.ops.max(x, axis=1)], axis=-1)
        keep = keras.ops.cast(mask, x.dtype)[:, :, None]
        count = keras.ops.maximum(keras.ops.sum(keep, axis=1), 1.0)
        mean = keras.ops.sum(x * keep, axis=1) / count
        lowest = keras.ops.min(x, axis=1, keepdims=True)  # masked steps can never be the maximum
        top = keras.ops.max(keras.ops.where(keep > 0, x, lowest), axis=1)
        return keras.ops.concatenate([mean, top], axis=-1)

    def compute_mask(self, x, mask=None):
        return None

    def compute_output_shape(self, shape):
        return (shape[0], 2 * shape[-1])


@keras.saving.register_keras_serializable(package="rnn_suite")
class ToSegments(keras.layers.Layer):
    """[x (batch, steps, features), ids (batch, steps) with 0 for padding] -> (batch * segments, length,
    features): x zeroed at padding, padded with zeros on the right to a multiple of `length` and cut into
    consecutive segments that an RNN then reads as separate sequences (Johnson & Zhang 2016 chop documents this
    way: short sequences run in parallel, and a pooling over all the segments' states sees the whole document).
    A sequence's segments do not depend on the padding of its batch. FromSegments puts the states back in place."""

    def __init__(self, length: int, **kwargs):
        super().__init__(**kwargs)
        if length < 1:
            raise ValueError(f"ToSegments length={length}: expected >= 1.")
        self.length = length

    def call(self, inputs):
        x, ids = inputs
        x = x * keras.ops.cast(keras.ops.not_equal(ids, 0), x.dtype)[:, :, None]
        x = keras.ops.pad(x, [[0, 0], [0, (-keras.ops.shape(x)[1]) % self.length], [0, 0]])
        return keras.ops.reshape(x, (-1, self.length, keras.ops.shape(x)[2]))

    def compute_output_shape(self, shapes):
        return (None, self.length, shapes[0][-1])

    def get_config(self):
        return {**super().get_config(), "length": self.length}


@keras.saving.register_keras_serializable(package="rnn_suite")
class FromSegments(keras.layers.Layer):
    """[segment states (batch * segments, length, units), ids (batch, steps) with 0 for padding] -> states
    (batch, steps, units) in the ids' places (ToSegments' padding cut off), masked where the ids are padding, so a
    pooling after it reads the words only."""

    def call(self, inputs):
        states, ids = inputs
        shape = keras.ops.shape(ids)
        return keras.ops.reshape(states, (shape[0], -1, keras.ops.shape(states)[2]))[:, :shape[1]]

    def compute_mask(self, inputs, mask=None):
        return keras.ops.not_equal(inputs[1], 0)

    def compute_output_shape(self, shapes):
        return (shapes[1][0], shapes[1][1], shapes[0][-1])


@keras.saving.register_keras_serializable(package="rnn_suite")
class MeanOfSoftmax(keras.layers.Layer):
    """[logits (batch, classes) of each of several networks] -> logits whose softmax is the mean of their softmax
    probabilities (model averaging: the log of the mean probability)."""

    def call(self, inputs):
        probabilities = keras.ops.mean(keras.ops.stack([keras.ops.softmax(x, axis=-1) for x in inputs]), axis=0)
        return keras.ops.log(keras.ops.maximum(probabilities, 1e-30))

    def compute_output_shape(self, shapes):
        return shapes[0]


@keras.saving.register_keras_serializable(package="rnn_suite")
class DecayImpute(keras.layers.Layer):
    """The input side of GRU-D (Che et al. 2018) for a series on a regular grid with gaps: inputs (values, mask),
    both (batch, steps, variables), values standardized (0 = the training mean) and 0 where the mask is 0. Each
    missing value is the last observed one decayed towards the mean, x = m x + (1 - m) g x_last with a learned
    decay g = exp(-relu(w d + b)) per variable, d the steps since that variable was last seen. Returns
    (batch, steps, 3 variables): the imputed values, the mask, and log(1 + d) scaled to [0, 1], so the recurrent
    layer that follows (a plain, cuDNN-eligible one) sees what was measured and when. GRU-D's decay of the hidden
    state is left out: it needs a custom cell, which would lose the fused kernels. With `decay=False` the result
    is plain forward filling (the last value, held), the values alone: the baseline GRU-D is compared with."""

    def __init__(self, decay: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.decay = decay

    def get_config(self):
        return {**super().get_config(), "decay": self.decay}

    def build(self, shapes):
        if not self.decay:
            return
        variables = shapes[0][-1]
        self.decay_weight = self.add_weight(shape=(variables,), initializer=keras.initializers.Constant(0.1),
                                            name="decay_weight")
        self.decay_bias = self.add_weight(shape=(variables,), initializer="zeros", name="decay_bias")

    def call(self, inputs):
        values, mask = inputs
        steps = values.shape[1]
        last, since = keras.ops.zeros_like(values[:, 0]), keras.ops.zeros_like(values[:, 0])
        lasts, sinces = [], []
        for t in range(steps):  # forward fill and the time since each variable was seen, step by step
            since = since + 1.0
            lasts.append(last)
            sinces.append(since)
            seen = mask[:, t]
            last = seen * values[:, t] + (1.0 - seen) * last
            since = (1.0 - seen) * since
        last, since = keras.ops.stack(lasts, axis=1), keras.ops.stack(sinces, axis=1)
        if not self.decay:
            return mask * values + (1.0 - mask) * last
        decay = keras.ops.exp(-keras.ops.relu(self.decay_weight * since + self.decay_bias))
        imputed = mask * values + (1.0 - mask) * decay * last
        return keras.ops.concatenate([imputed, mask, keras.ops.log1p(since) / math.log1p(steps + 1.0)],
                                     axis=-1)

    def compute_output_shape(self, shapes):
        return (*shapes[0][:-1], (3 if self.decay else 1) * shapes[0][-1])


@keras.saving.register_keras_serializable(package="rnn_suite")
class MaskedStandardize(keras.layers.Layer):
    """(values, mask) -> (values - mean) / sd, clipped to +-`clip`, and 0 where the mask is 0 (the mean: nothing
    measured says nothing); mean and sd per variable, from the training data, saved with the model."""

    def __init__(self, mean, sd, clip: float = 6.0, **kwargs):
        super().__init__(**kwargs)
        self.mean, self.sd, self.clip = [float(m) for m in mean], [float(v) for v in sd], float(clip)

    def get_config(self):
        return {**super().get_config(), "mean": self.mean, "sd": self.sd, "clip": self.clip}

    def call(self, inputs):
        values, mask = inputs
        mean = keras.ops.convert_to_tensor(self.mean, values.dtype)
        sd = keras.ops.convert_to_tensor(self.sd, values.dtype)
        return keras.ops.clip((values - mean) / sd, -self.clip, self.clip) * mask

    def compute_output_shape(self, shapes):
        return shapes[0]


@keras.saving.register_keras_serializable(package="rnn_suite")
class MaskedStatistics(keras.layers.Layer):
    """(values, mask), both (batch, steps, variables) -> (batch, 5 variables): per variable the last observed value,
    the mean, minimum and maximum over the observed steps (0 where never observed) and the fraction of steps
    observed: the summary a clinician reads off a chart, computed inside the model from the same inputs."""

    def call(self, inputs):
        values, mask = inputs
        count = keras.ops.sum(mask, axis=1)
        present = keras.ops.minimum(count, 1.0)
        mean = keras.ops.sum(values * mask, axis=1) / keras.ops.maximum(count, 1.0)
        big = 1e4
        low = keras.ops.min(values * mask + big * (1.0 - mask), axis=1) * present
        high = keras.ops.max(values * mask - big * (1.0 - mask), axis=1) * present
        steps = keras.ops.cast(keras.ops.arange(values.shape[1]) + 1, values.dtype)[None, :, None]
        latest = keras.ops.argmax(mask * steps, axis=1)
        last = keras.ops.take_along_axis(values, latest[:, None, :], axis=1)[:, 0] * present
        return keras.ops.concatenate([last, mean, low, high, count / values.shape[1]], axis=-1)

    def compute_output_shape(self, shapes):
        return (shapes[0][0], 5 * shapes[0][-1])
