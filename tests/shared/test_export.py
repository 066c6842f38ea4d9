import importlib
import json
import re
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from shared import export, layers, specs


def _model():
    beat = keras.Input((None, 3), name="beat")
    rr = keras.Input((2,), name="rr")
    x = keras.layers.Concatenate()([layers.apply_rnn(beat, "bilstm:4"), rr])
    return keras.Model([beat, rr], keras.layers.Dense(3, activation="softmax", name="probs")(x))


def _serve(model):
    def serve(inputs):
        probs = model(inputs, training=False)
        return {"probs": probs, "label": tf.argmax(probs, axis=-1)}
    return serve, [{"beat": tf.TensorSpec((None, None, 3), tf.float32, name="beat"),
                    "rr": tf.TensorSpec((None, 2), tf.float32, name="rr")}]


def test_versions_count_up_and_serve_on_a_fresh_load(tmp_path):
    model = _model()
    serve, signature = _serve(model)
    first = export.save(model, "demo", serve_fn=serve, input_signature=signature, root=tmp_path,
                        metadata={"source": "synthetic", "metrics": {"accuracy": 0.5}, "config": {"units": 4}})
    second = export.save(model, "demo", root=tmp_path)
    assert (first.name, second.name) == ("1", "2")
    assert export.versions(tmp_path / "demo") == [1, 2]
    assert export.latest("demo", tmp_path) == second
    loaded, meta = export.load(first)
    assert meta["source"] == "synthetic" and meta["version"] == 1 and meta["metrics"] == {"accuracy": 0.5}
    assert set(meta["signature"]["inputs"]) == {"beat", "rr"} and set(meta["signature"]["outputs"]) == {"probs", "label"}
    assert {"tensorflow", "keras", "python"} <= set(meta["versions"]) and meta["created"].endswith("Z")
    rng = np.random.default_rng(0)
    beat, rr = rng.normal(size=(5, 7, 3)).astype("float32"), rng.normal(size=(5, 2)).astype("float32")
    out = loaded.signatures["serving_default"](beat=tf.constant(beat), rr=tf.constant(rr))
    expected = model.predict({"beat": beat, "rr": rr}, verbose=0)
    np.testing.assert_allclose(out["probs"].numpy(), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(out["label"].numpy(), expected.argmax(-1))


def test_saved_model_cli_lists_the_signature(tmp_path):
    model = _model()
    serve, signature = _serve(model)
    path = export.save(model, "demo", serve_fn=serve, input_signature=signature, root=tmp_path)
    shown = subprocess.run([sys.executable, "-m", "tensorflow.python.tools.saved_model_cli", "show", "--dir",
                            str(path), "--tag_set", "serve", "--signature_def", "serving_default"],
                           capture_output=True, text=True, check=True, env={"TF_CPP_MIN_LOG_LEVEL": "3"}).stdout
    for name in ("inputs['beat']", "inputs['rr']", "outputs['probs']", "outputs['label']", "DT_INT64"):
        assert name in shown, shown


def test_a_crash_mid_export_leaves_no_new_version(tmp_path, monkeypatch):
    model = _model()
    export.save(model, "demo", root=tmp_path)
    original = tf.saved_model.save

    def write_then_die(*args, **kwargs):
        original(*args, **kwargs)  # the SavedModel is on disk ...
        raise KeyboardInterrupt("killed")  # ... when the process dies

    monkeypatch.setattr(tf.saved_model, "save", write_then_die)
    with pytest.raises(KeyboardInterrupt):
        export.save(model, "demo", root=tmp_path)
    assert export.versions(tmp_path / "demo") == [1]
    assert sorted(p.name for p in (tmp_path / "demo").iterdir()) == ["1"]


def test_leftover_temporary_folders_are_never_a_version(tmp_path):
    model = _model()
    (tmp_path / "demo" / ".tmp-1-deadbeef").mkdir(parents=True)
    (tmp_path / "demo" / ".tmp-1-deadbeef" / "saved_model.pb").write_bytes(b"partial")
    (tmp_path / "demo" / "7").mkdir()  # an empty numbered folder is not a complete version either
    assert export.versions(tmp_path / "demo") == []
    assert export.save(model, "demo", root=tmp_path).name == "1"


def test_stale_temporaries_are_cleaned_unicode_digits_are_no_version_and_metadata_is_strict_json(tmp_path):
    import os

    demo = tmp_path / "demo"
    for name in (".tmp-1-old", ".tmp-2-fresh"):
        (demo / name).mkdir(parents=True)
    os.utime(demo / ".tmp-1-old", (0, 0))  # left by an export killed long ago
    for name in ("\u00b2", "\u0669"):  # '2' superscript and Arabic-Indic nine: isdigit() but no version number
        (demo / name).mkdir()
        (demo / name / "saved_model.pb").write_bytes(b"x")
    path = export.save(_model(), "demo", root=tmp_path, metadata={"metrics": {"F1": float("nan"), "acc": 90.0}})
    assert path.name == "1" and export.versions(demo) == [1]
    assert not (demo / ".tmp-1-old").exists() and (demo / ".tmp-2-fresh").exists()  # a running export's stays
    text = (path / "metadata.json").read_text()
    assert "NaN" not in text and json.loads(text)["metrics"] == {"F1": None, "acc": 90.0}


def test_export_traced_as_on_a_gpu_holds_no_cudnn_op(tmp_path, monkeypatch):
    rnn = importlib.import_module("keras.src.backend.tensorflow.rnn")
    monkeypatch.setattr(rnn, "_is_gpu_available", lambda: True)  # trace as Keras would on a GPU machine
    model = _model()
    path = export.save(model, "demo", root=tmp_path)
    ops = export.graph_ops(path)
    assert "CudnnRNNV3" not in ops and not ops & set(export.CUDNN_OPS)
    assert {"While"} & ops or {"StatelessWhile"} & ops  # the recurrent loop is there, as a CPU while loop
    assert all(layer.use_cudnn == "auto" for layer in layers.recurrent_layers(model))


def test_export_refuses_a_graph_with_cudnn_ops(tmp_path, monkeypatch):
    rnn = importlib.import_module("keras.src.backend.tensorflow.rnn")
    monkeypatch.setattr(rnn, "_is_gpu_available", lambda: True)
    sneaky = keras.layers.LSTM(4)  # wrapped so that the layer walk cannot see it: the graph check must
    inner = keras.Sequential([keras.Input((5, 3)), sneaky])
    serve = tf.function(lambda x: {"outputs": inner(x)})
    monkeypatch.setattr(layers, "recurrent_layers", lambda model: iter(()))
    with pytest.raises(RuntimeError, match="GPU-only ops"):
        export.save(inner, "demo", serve_fn=serve, input_signature=[tf.TensorSpec((None, 5, 3))], root=tmp_path)
    assert export.versions(tmp_path / "demo") == []


def test_missing_exports_give_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="rnn-suite ecg train"):
        export.latest("ecg", tmp_path)
    with pytest.raises(FileNotFoundError, match="not a SavedModel"):
        export.load(tmp_path)
    assert json.loads(json.dumps(export.package_versions()))["python"]


def test_another_pipelines_model_and_damaged_files_are_refused_in_one_line(tmp_path):
    path = export.save(_model(), "demo", root=tmp_path)
    assert export.load(path, "demo")[1]["name"] == "demo"
    with pytest.raises(ValueError, match="holds a 'demo' model, not sentiment; pass --model saved_models/sentiment/"):
        export.load(path, "sentiment")
    (path / "saved_model.pb").write_bytes(b"\x00garbage")
    with pytest.raises(ValueError, match="the SavedModel cannot be loaded .*; export it again"):
        export.load(path)
    (path / "metadata.json").write_bytes(b"{\xff")
    with pytest.raises(ValueError, match="metadata.json is not valid JSON"):
        export.load(path)


def test_served_values_keep_the_exports_limits_and_integers_are_never_wrapped(tmp_path):
    from shared import serving

    x = keras.Input((3,), name="x")
    model = keras.Model(x, keras.layers.Dense(2)(x))

    def serve(values, length):
        return {"y": model(values) * tf.cast(length, tf.float32)}
    export.save(model, "limited", serve_fn=serve, root=tmp_path,
                input_signature=[tf.TensorSpec((None, 3), tf.float32, name="values"),
                                 tf.TensorSpec((), tf.int32, name="length")],
                metadata={"input_limits": {"serving_default": {"length": {"min": 0, "max": 10, "why": "steps"}}}})
    repository = serving.Repository(tmp_path)

    def ask(length):
        return serving.predict(repository, "limited", {"inputs": {"values": [[1.0, 2.0, 3.0]], "length": length}})
    assert len(ask(4)["outputs"][0]) == 2
    for length, says in ((11, "input 'length' = 11 is outside [0, 10] (steps)"), (-5, "outside [0, 10]"),
                         (20.9, "expected whole numbers"), (2**32 + 20, "outside int32's range")):
        with pytest.raises(serving.RequestError, match=re.escape(says)) as refused:
            ask(length)
        assert refused.value.status == 400
    assert specs.limit_problems({"length": [3, 12]}, {"length": {"max": 10}}, options=True) == \
        ["--length = 12 is outside [-inf, 10]"]


def test_a_version_pinned_to_0_ships_with_the_project_and_any_later_version_supersedes_it(tmp_path):
    model = _model()
    first = export.save(model, "demo", root=tmp_path, metadata={"source": "real"})
    shipped = export.pin(first, 0)
    assert shipped == tmp_path / "demo" / "0" and not first.exists()
    assert json.loads((shipped / "metadata.json").read_text())["version"] == 0
    assert export.latest("demo", tmp_path) == shipped and export.load(shipped)[1]["source"] == "real"
    again = export.pin(export.save(model, "demo", root=tmp_path, metadata={"source": "newer"}), 0)  # replaced
    assert export.versions(tmp_path / "demo") == [0] and export.load(again)[1]["source"] == "newer"
    assert not [p for p in (tmp_path / "demo").iterdir() if p.name.startswith(".")]  # nothing left aside
    trained = export.save(model, "demo", root=tmp_path)
    assert trained.name == "1" and export.latest("demo", tmp_path) == trained


def test_the_exported_graph_refuses_what_its_limits_refuse_with_the_servers_words(tmp_path):
    """A model served by TF Serving has only its graph: the input_limits of the metadata are checks inside it."""
    x = keras.Input((3,), name="window")
    model = keras.Model(x, keras.layers.Dense(1)(x))

    def serve(window, rate):
        return {"y": model(window)[:, 0] * tf.cast(rate, tf.float32)}
    limits = {"window": {"min": [0.0, -1.0, -5.0], "max": [1.0, 1.0, 5.0]},
              "rate": {"min": 4000, "max": 192000, "why": "a speech recording's rate in Hz"}}
    path = export.save(model, "checked", serve_fn=serve, root=tmp_path, metadata={"input_limits": {
        "serving_default": limits}}, input_signature=[tf.TensorSpec((None, 3), tf.float32, name="window"),
                                                     tf.TensorSpec((), tf.int32, name="rate")])
    served, _ = export.load(path)
    call = served.signatures["serving_default"]
    assert call(window=tf.constant([[0.5, 0.0, 4.0]]), rate=tf.constant(8000))["y"].shape == (1,)
    assert call(window=tf.zeros((0, 3)), rate=tf.constant(8000))["y"].shape == (0,)  # an empty batch is no error
    for window, rate, says in (([[0.5, 0.0, 1e30]], 8000, "input 'window' (feature 2) = 1e+30 is outside [-5, 5]"),
                               ([[0.5, float("nan"), 0.0]], 8000, "input 'window' (feature 1) = nan is outside [-1, 1]"),
                               ([[0.5, 0.0, 0.0]], 1, "input 'rate' = 1 is outside [4000, 192000] (a speech "
                                                      "recording's rate in Hz)")):
        with pytest.raises(tf.errors.InvalidArgumentError) as refused:
            call(window=tf.constant(window, tf.float32), rate=tf.constant(rate))
        assert export.graph_error(refused.value).startswith(says), export.graph_error(refused.value)
