import importlib

import keras
import numpy as np
import pytest
import tensorflow as tf

from shared import layers


def _model(spec: layers.RNNSpec, time: int | None = 7) -> keras.Model:
    inputs = keras.Input((time, 3), name="x")
    x = layers.apply_rnn(inputs, spec)
    return keras.Model(inputs, keras.layers.Dense(2, name="head")(x))


@pytest.mark.slow
@pytest.mark.parametrize("kind", layers.KINDS)
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("depth", [1, 2])
def test_factory_matrix_builds_trains_saves_and_reloads(kind, bidirectional, depth, tmp_path):
    spec = layers.RNNSpec(kind, (5,) * depth, bidirectional, dropout=0.1)
    model = _model(spec)
    x = np.random.default_rng(0).normal(size=(4, 7, 3)).astype("float32")
    assert model(x).shape == (4, 2)
    rnn_out = keras.Model(model.input, model.get_layer("head").input)(x)
    assert rnn_out.shape == (4, spec.output_units)
    model.compile("adam", "mse")
    before = [w.copy() for w in model.get_weights()]
    model.train_on_batch(x, np.ones((4, 2), "float32"))
    assert any(not np.allclose(a, b) for a, b in zip(before, model.get_weights(), strict=True))
    path = tmp_path / "m.keras"
    model.save(path)
    reloaded = keras.models.load_model(path)
    np.testing.assert_allclose(reloaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6, atol=1e-6)
    assert len(list(layers.recurrent_layers(reloaded))) == (0 if kind == "simple" else depth * (2 if bidirectional else 1))


def test_return_sequences_shape():
    spec = layers.RNNSpec("gru", (4, 6), bidirectional=True, return_sequences=True)
    inputs = keras.Input((9, 2))
    assert layers.apply_rnn(inputs, spec).shape == (None, 9, 12)


@pytest.mark.parametrize("text", ["lstm:64", "bigru:128x2", "simple:32", "lstm:128,64", "bilstm:64x3:0.2",
                                  "gru:16:0.5", "bisimple:8,4,2"])
def test_spec_strings_round_trip(text):
    spec = layers.parse_spec(text)
    assert str(spec) == text
    assert layers.parse_spec(str(spec)) == spec


def test_spec_parsing_meaning_and_canonical_form():
    spec = layers.parse_spec("BiGRU:128x2:0.25")
    assert spec == layers.RNNSpec("gru", (128, 128), True, 0.25)
    assert spec.depth == 2 and spec.output_units == 256
    assert str(layers.parse_spec("gru:64,64")) == "gru:64x2"
    assert str(layers.parse_spec("lstm:64x1")) == "lstm:64"
    assert layers.RNNSpec("lstm", 32).units == (32,)


@pytest.mark.parametrize("text, match", [
    ("transformer:64", "expected one of"),
    ("lstm:0", "positive integers"),
    ("lstm", "not of the form"),
    ("lstm:abc", "not of the form"),
    ("lstm:64x0", "depth must be at least 1"),
    ("lstm:64x2x3", "units must be"),
    ("lstm:64:1.5", "dropout"),
    ("", "not of the form"),
])
def test_bad_specs_raise_clear_errors(text, match):
    with pytest.raises(ValueError, match=match):
        layers.parse_spec(text)


def test_bad_spec_objects_and_cudnn_requests():
    with pytest.raises(ValueError, match="expected one of"):
        layers.RNNSpec("rnn", (8,))
    with pytest.raises(ValueError, match="positive integers"):
        layers.RNNSpec("lstm", (8, -1))
    with pytest.raises(ValueError, match="no cuDNN kernel"):
        layers.rnn_layers("simple:8", use_cudnn=True)
    with pytest.raises(ValueError, match="use_cudnn"):
        layers.rnn_layers("lstm:8", use_cudnn="yes")
    assert layers.cudnn_eligible(layers.parse_spec("bigru:8")) and not layers.cudnn_eligible(layers.parse_spec("simple:8"))


@pytest.mark.parametrize("text", ["lstm:6", "bigru:5x2", "simple:4", "bilstm:3"])
def test_masking_ignores_right_padded_steps(text):
    spec = layers.parse_spec(text)
    inputs = keras.Input((None, 2))
    x = keras.layers.Masking(0.0)(inputs)
    model = keras.Model(inputs, layers.apply_rnn(x, spec))
    rng = np.random.default_rng(1)
    short = rng.normal(size=(1, 4, 2)).astype("float32") + 3.0   # no step is all zeros
    padded = np.concatenate([short, np.zeros((1, 3, 2), "float32")], axis=1)
    np.testing.assert_allclose(model(padded).numpy(), model(short).numpy(), rtol=1e-5, atol=1e-6)
    # the equality is not trivial: unmasked trailing steps do change the output
    garbage = np.concatenate([short, rng.normal(size=(1, 3, 2)).astype("float32")], axis=1)
    assert not np.allclose(model(garbage).numpy(), model(short).numpy(), atol=1e-4)


def test_defaults_are_cudnn_eligible_and_the_check_can_fail():
    inputs = keras.Input((5, 3))
    x = layers.apply_rnn(inputs, "bilstm:4x2")
    x = layers.apply_rnn(keras.layers.RepeatVector(5)(x), "gru:3")
    model = keras.Model(inputs, x)
    for layer in layers.recurrent_layers(model):
        config = layer.get_config()
        assert config["activation"] == "tanh" and config["recurrent_activation"] == "sigmoid"
        assert config["recurrent_dropout"] == 0 and config["unroll"] is False and config["use_bias"] is True
        if isinstance(layer, keras.layers.GRU):
            assert config["reset_after"] is True
    assert layers.cudnn_problems(model) == []
    bad = keras.Sequential([keras.Input((5, 3)), keras.layers.GRU(3, recurrent_dropout=0.2, reset_after=False)])
    problems = layers.cudnn_problems(bad)
    assert any("recurrent_dropout" in p for p in problems) and any("reset_after" in p for p in problems)


def test_cudnn_disabled_sets_and_restores_inside_bidirectional():
    inputs = keras.Input((5, 3))
    model = keras.Model(inputs, layers.apply_rnn(inputs, "bilstm:4x2"))
    found = list(layers.recurrent_layers(model))
    assert len(found) == 4
    with layers.cudnn_disabled(model):
        assert all(layer.use_cudnn is False for layer in found)
    assert all(layer.use_cudnn == "auto" for layer in found)


def test_cudnn_request_is_refused_on_cpu_by_keras():
    """On a machine without a GPU, Keras itself refuses use_cudnn=True at call time."""
    if tf.config.list_logical_devices("GPU"):
        pytest.skip("a GPU is visible")
    (layer,) = layers.rnn_layers("lstm:4", use_cudnn=True)
    with pytest.raises(ValueError, match="cuDNN is not supported"):
        layer(np.zeros((1, 3, 2), "float32"))


@pytest.mark.gpu
@pytest.mark.parametrize("text", ["lstm:8", "bigru:8x2"])
def test_factories_run_on_cudnn_on_gpu(text):
    block = layers.rnn_layers(text, use_cudnn=True)
    x = np.random.default_rng(0).normal(size=(2, 5, 3)).astype("float32")
    for layer in block:
        x = layer(x)  # raises if the layer cannot use cuDNN
    assert np.isfinite(np.asarray(x)).all()


def test_gpu_tracing_simulation_really_emits_cudnn_ops(monkeypatch):
    """The export test relies on this: with the GPU check patched, tracing an LSTM gives CudnnRNNV3."""
    rnn = importlib.import_module("keras.src.backend.tensorflow.rnn")
    monkeypatch.setattr(rnn, "_is_gpu_available", lambda: True)
    (layer,) = layers.rnn_layers("lstm:4")
    fn = tf.function(lambda t: layer(t), input_signature=[tf.TensorSpec((None, None, 3))])
    graph = fn.get_concrete_function().graph.as_graph_def()
    ops = {n.op for n in graph.node} | {n.op for f in graph.library.function for n in f.node_def}
    assert "CudnnRNNV3" in ops


def test_mean_max_pooling_reads_only_unmasked_steps():
    x = np.array([[[1.0, -4.0], [3.0, -2.0], [99.0, 99.0]]], "float32")  # the last step is padding
    mask = np.array([[True, True, False]])
    pooled = layers.MeanMaxPooling()(x, mask=mask).numpy()
    np.testing.assert_allclose(pooled, [[2.0, -3.0, 3.0, -2.0]])  # mean, then max, of the first two steps
    negative = layers.MeanMaxPooling()(-np.abs(x), mask=mask).numpy()
    assert negative[0, 2:].tolist() == [-1.0, -2.0]  # a masked step is never the maximum, even below zero
    np.testing.assert_allclose(layers.MeanMaxPooling()(x).numpy(), [[103 / 3, 93 / 3, 99.0, 99.0]], rtol=1e-6)


def test_decay_impute_fills_forward_counts_the_time_since_seen_and_decays_towards_the_mean(tmp_path):
    values = np.array([[[2.0], [0.0], [0.0], [4.0]]], "float32")  # one variable seen at steps 0 and 3
    mask = np.array([[[1.0], [0.0], [0.0], [1.0]]], "float32")
    filled = layers.DecayImpute(decay=False)([values, mask]).numpy()[0, :, 0]
    np.testing.assert_allclose(filled, [2, 2, 2, 4])
    layer = layers.DecayImpute()
    out = layer([values, mask]).numpy()[0]
    since = np.expm1(out[:, 2] * np.log1p(5.0))  # steps since seen, before this step's observation counts
    np.testing.assert_allclose(since, [1, 1, 2, 3], rtol=1e-5)
    np.testing.assert_allclose(out[:, 1], mask[0, :, 0])
    np.testing.assert_allclose(out[:, 0], [2, 2 * np.exp(-0.1), 2 * np.exp(-0.2), 4], rtol=1e-5)  # w = 0.1 at first
    inputs = [keras.Input((4, 1)), keras.Input((4, 1))]
    model = keras.Model(inputs, layers.DecayImpute()(inputs))
    model.save(tmp_path / "m.keras")
    np.testing.assert_allclose(keras.models.load_model(tmp_path / "m.keras")([values, mask]).numpy()[0], out, rtol=1e-6)


def test_masked_statistics_read_only_the_observed_steps():
    values = np.array([[[1.0, 0.0], [5.0, 0.0], [3.0, 0.0]]], "float32")
    mask = np.array([[[1.0, 0.0], [1.0, 0.0], [0.0, 0.0]]], "float32")  # variable 2 never seen
    last, mean, low, high, seen = layers.MaskedStatistics()([values, mask]).numpy()[0].reshape(5, 2)
    np.testing.assert_allclose([last[0], mean[0], low[0], high[0], seen[0]], [5, 3, 1, 5, 2 / 3], rtol=1e-6)
    assert not np.any([last[1], mean[1], low[1], high[1], seen[1]])


def test_segments_cut_and_put_back_in_place():
    x = np.arange(2 * 7 * 2, dtype="float32").reshape(2, 7, 2) + 1
    ids = np.array([[1, 2, 3, 4, 5, 6, 7], [1, 2, 3, 0, 0, 0, 0]])
    segments = layers.ToSegments(3)([x, ids])
    assert tuple(segments.shape) == (6, 3, 2)  # 7 steps padded to 9: 3 segments per sequence
    np.testing.assert_array_equal(segments[0], x[0, :3])
    np.testing.assert_array_equal(segments[2, 0], x[0, 6])
    np.testing.assert_array_equal(segments[2, 1:], 0)  # ToSegments' own padding
    np.testing.assert_array_equal(segments[4], 0)  # steps whose id is 0 (the batch's padding) are zeroed
    np.testing.assert_array_equal(segments[3], x[1, :3])
    back = layers.FromSegments()
    out = back([segments, ids])
    assert tuple(out.shape) == (2, 7, 2)
    np.testing.assert_array_equal(out[0], x[0])
    np.testing.assert_array_equal(back.compute_mask([segments, ids]), ids != 0)
