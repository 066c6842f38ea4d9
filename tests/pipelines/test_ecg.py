import dataclasses
import json

import numpy as np
import pytest
import tensorflow as tf

from domain import ecg as ecg_data
from pipelines import ecg
from shared import export, layers


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    """One quick end-to-end run on synthetic records: train -> evaluate -> report -> export -> predict."""
    root = tmp_path_factory.mktemp("ecg")
    cfg = dataclasses.replace(ecg.Config(), **{**ecg.QUICK, "source": "synthetic", "run_dir": str(root / "run"),
                                               "epochs": 3, "rnn": "bigru:8"})
    result = ecg.run(cfg, export_root=root / "saved_models", verbose=0)
    return cfg, root, result


def test_quick_run_trains_reports_and_exports(quick_run):
    cfg, root, result = quick_run
    report = json.loads((root / "run" / "report.json").read_text())
    assert report["domain"] == "ecg" and report["source"].startswith("synthetic")
    assert np.isfinite(result["accuracy"]) and 0 <= result["accuracy"] <= 100
    assert "de Chazal et al. 2004 (DS2, linear discriminants)" in report["anchors"]
    assert {"majority (all N)", "logistic regression (RR + morphology)"} <= set(report["baselines"])
    assert report["timing"]["train_seconds"] > 0 and report["timing"]["serving_beats_per_second"] > 0
    assert report["timing"]["predict_seconds"] > 0
    assert np.array(report["confusion"]).sum() == sum(report["metrics"]["per_class"][c]["support"] for c in "NSVFQ")
    for name in ("report.md", "confusion_matrix.png", "training_curves.png", "best.keras", "history.csv"):
        assert (root / "run" / name).exists(), name
    assert result["export"].endswith("/1")


def test_served_model_matches_keras_and_holds_no_cudnn_op(quick_run):
    cfg, root, result = quick_run
    path = export.latest("ecg", root / "saved_models")
    served, meta = export.load(path)
    assert meta["source"] == "synthetic" and meta["classes"] == list(ecg_data.AAMI_CLASSES)
    assert set(meta["signature"]["inputs"]) == {"beat", "rr"} and set(meta["signature"]["outputs"]) == {"probs", "class"}
    assert not export.graph_ops(path) & set(export.CUDNN_OPS)
    import keras

    model = keras.models.load_model(root / "run" / "best.keras")
    rng = np.random.default_rng(0)
    beat = rng.normal(scale=0.3, size=(6, cfg.window)).astype("float32")
    rr = rng.uniform(0.5, 1.2, size=(6, 6)).astype("float32")
    out = served.signatures["serving_default"](beat=tf.constant(beat), rr=tf.constant(rr))
    expected = model.predict({"beat": beat, "rr": rr}, verbose=0)
    np.testing.assert_allclose(out["probs"].numpy(), expected, rtol=1e-4, atol=1e-5)
    letters = [c.decode() for c in out["class"].numpy()]
    assert letters == [ecg_data.AAMI_CLASSES[i] for i in expected.argmax(-1)]


def test_predict_classifies_a_record_without_its_annotations(quick_run, tmp_path):
    cfg, root, _ = quick_run
    ecg_data.synthetic.write_records(tmp_path, ["119"], minutes=2, seed=9)
    model = export.latest("ecg", root / "saved_models")
    summary = ecg.predict(cfg, tmp_path / "119", model, out_dir=tmp_path / "out")
    truth = ecg_data.read_record(tmp_path / "119")
    assert abs(summary["detected_beats"] - len(truth.peaks)) <= 3
    assert summary["detection"]["Se"] > 98 and summary["detection"]["+P"] > 98
    assert sum(summary["beats_per_class"].values()) == summary["classified_beats"]
    assert 0 <= summary["ventricular_ectopy_burden_percent"] <= 100
    assert "classification_vs_annotations" in summary
    assert (tmp_path / "out" / "predict_strip.png").exists() and (tmp_path / "out" / "predict.json").exists()
    (tmp_path / "bare").mkdir()
    for suffix in (".hea", ".dat"):  # no .atr: classification still runs, agreement is skipped
        (tmp_path / "bare" / f"119{suffix}").write_bytes((tmp_path / f"119{suffix}").read_bytes())
    bare = ecg.predict(cfg, tmp_path / "bare" / "119", model)
    assert "detection" not in bare and bare["beats_per_class"] == summary["beats_per_class"]


def test_rnn_beats_the_majority_baseline_on_synthetic_beats(quick_run):
    """V beats are premature and wide in the synthetic records: the trained RNN must find them."""
    cfg, root, result = quick_run
    report = json.loads((root / "run" / "report.json").read_text())
    majority = report["baselines"]["majority (all N)"]
    assert result["macro F1"] > majority["macro F1"] + 15
    assert result["V Se"] > 60


def test_every_rnn_type_builds_the_ecg_model():
    for spec in ("simple:4", "lstm:4", "gru:4", "bilstm:4", "gru:4x2"):
        cfg = dataclasses.replace(ecg.Config(), rnn=spec)
        model = ecg.build_model(cfg)
        out = model({"beat": np.zeros((2, cfg.window), "float32"), "rr": np.ones((2, 6), "float32")})
        assert out.shape == (2, 5)
        assert layers.cudnn_problems(model) == []


def test_class_weights():
    labels = np.array([0] * 90 + [1] * 10)
    assert ecg.class_weights(labels, "none") is None
    balanced = ecg.class_weights(labels, "balanced")
    assert balanced[0] == pytest.approx(100 / 180) and balanced[1] == pytest.approx(5.0) and balanced[4] == 1.0
    assert ecg.class_weights(labels, "sqrt")[1] == pytest.approx(5.0 ** 0.5)


@pytest.mark.parametrize("changes, match", [
    ({"source": "web"}, "expected one of"),
    ({"frame": 5}, "must divide the window"),
    ({"before": 0.05, "after": 0.1}, "at least 0.5 s"),
    ({"rnn": "lstm:0"}, "positive integers"),
    ({"class_weighting": "focal"}, "class-weighting"),
])
def test_config_rejects_bad_values(changes, match):
    with pytest.raises(ValueError, match=match):
        dataclasses.replace(ecg.Config(), **changes)


def test_cli_errors_are_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("RNN_DEBUG", raising=False)
    with pytest.raises(SystemExit) as exit_info:
        ecg.main(["predict", "--run-dir", str(tmp_path)])
    assert exit_info.value.code == 1 and "make predict-ecg RECORD=" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        ecg.main(["predict", "--input", str(tmp_path / "nothing"), "--model", str(tmp_path)])
    assert exit_info.value.code == 1 and "not a SavedModel" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        ecg.main(["evaluate", "--source", "synthetic", "--synthetic-minutes", "0.5", "--run-dir", str(tmp_path)])
    assert exit_info.value.code == 1 and "no checkpoint" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        ecg.main(["train", "--frame", "5"])
    assert exit_info.value.code == 2 and "must divide the window" in capsys.readouterr().err
