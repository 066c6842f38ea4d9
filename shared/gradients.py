"""Backpropagation through time made visible: the norm of dL/dh_t at every time step, and the adding problem.

Notebook:
    model = gradients.last_step_model(features=2, spec="lstm:32")
    x, y = gradients.adding_problem(256, steps=100, seed=0)
    norms = gradients.state_gradient_norms(model, x, y)      # (steps,): mean over examples of ||dL/dh_t||

The recurrent layer is unrolled step by step with its own cell (`layer.cell`) under one `tf.GradientTape`, so
the tape can hand back the gradient of the loss with respect to each intermediate hidden state h_t. A vanishing
gradient shows as norms that fall exponentially from t = T back to t = 1; an exploding one as norms that grow.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from shared import layers


def adding_problem(n: int, steps: int, *, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Hochreiter & Schmidhuber's adding problem: x (n, steps, 2) holds a random value in [0, 1] and a marker;
    two steps are marked, one in the first half and one in the second; the target (n, 1) is the sum of the two
    marked values. Predicting the mean (1.0) gives MSE ~0.167; solving it needs memory across the sequence."""
    if steps < 4 or n < 1:
        raise ValueError(f"adding_problem: need n >= 1 and steps >= 4; got {n=}, {steps=}.")
    rng = np.random.default_rng(seed)
    values = rng.uniform(0, 1, (n, steps)).astype("float32")
    markers = np.zeros((n, steps), "float32")
    half = steps // 2
    rows = np.arange(n)
    first, second = rng.integers(0, half, n), rng.integers(half, steps, n)
    markers[rows, first] = 1.0
    markers[rows, second] = 1.0
    target = (values[rows, first] + values[rows, second])[:, None]
    return np.stack([values, markers], axis=-1), target.astype("float32")


def last_step_model(features: int, spec: str | layers.RNNSpec, outputs: int = 1, *,
                    name: str = "probe") -> keras.Model:
    """(batch, time, features) -> one unidirectional recurrent layer from the shared factory -> Dense(outputs)
    on the last hidden state. The model `state_gradient_norms` can unroll."""
    spec = layers.parse_spec(spec) if isinstance(spec, str) else spec
    if spec.bidirectional or spec.depth != 1:
        raise ValueError(f"last_step_model({str(spec)!r}): use one unidirectional layer (its hidden state h_t is "
                         "what the gradients are measured against).")
    inputs = keras.Input((None, features), name="sequence")
    rnn = layers.rnn_layers(spec, name=name)[0]
    outputs_ = keras.layers.Dense(outputs, name="head")(rnn(inputs))
    return keras.Model(inputs, outputs_, name=f"{name}_{spec.kind}")


def _recurrent(model: keras.Model) -> tuple[keras.layers.RNN, list[keras.layers.Layer]]:
    rnns = [layer for layer in model.layers if isinstance(layer, keras.layers.RNN)]
    if len(rnns) != 1 or model.layers[-1] is rnns[0]:
        raise ValueError(f"{model.name}: expected input -> one SimpleRNN/LSTM/GRU layer -> head layers "
                         "(gradients.last_step_model builds one).")
    return rnns[0], model.layers[model.layers.index(rnns[0]) + 1:]


def unroll(model: keras.Model, x) -> tuple[list[tf.Tensor], tf.Tensor]:
    """Run `model` step by step with its recurrent layer's cell: (hidden states h_1..h_T, prediction). The
    prediction equals model(x)."""
    rnn, head = _recurrent(model)
    x = tf.convert_to_tensor(x, tf.float32)
    batch = tf.shape(x)[0]
    states = [tf.zeros((batch, size)) for size in tf.nest.flatten(rnn.cell.state_size)]
    hidden = []
    for t in range(x.shape[1]):
        h, states = rnn.cell(x[:, t], states, training=False)
        states = tf.nest.flatten(states)
        hidden.append(h)
    out = hidden[-1]
    for layer in head:
        out = layer(out, training=False)
    return hidden, out


def state_gradient_norms(model: keras.Model, x, y, loss: str = "mse") -> np.ndarray:
    """(T,) the mean over examples of ||dL_i/dh_t||_2 for t = 1..T, where L_i is example i's loss on the
    prediction from the last step (mse, or sparse_categorical_crossentropy on logits)."""
    y = tf.convert_to_tensor(y)
    with tf.GradientTape() as tape:
        hidden, prediction = unroll(model, x)
        if loss == "mse":
            per_example = tf.reduce_sum(tf.square(prediction - tf.cast(y, prediction.dtype)), axis=-1)
        elif loss == "sparse_categorical_crossentropy":
            per_example = keras.losses.sparse_categorical_crossentropy(y, prediction, from_logits=True)
        else:
            raise ValueError(f"state_gradient_norms(loss={loss!r}): expected 'mse' or "
                             "'sparse_categorical_crossentropy'.")
        total = tf.reduce_sum(per_example)  # sum: each example's gradient is its own
    grads = tape.gradient(total, hidden)
    return np.array([float(tf.reduce_mean(tf.norm(g, axis=-1))) for g in grads])


def decay(norms: np.ndarray) -> float:
    """How much of the gradient reaches the first step: ||dL/dh_1|| / ||dL/dh_T|| (1 = none lost)."""
    return float(norms[0] / max(norms[-1], 1e-30))
