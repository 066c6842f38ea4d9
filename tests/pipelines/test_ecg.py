import dataclasses
import json

import numpy as np
import pytest
import tensorflow as tf

from domain import ecg as ecg_data
from domain.ecg import analysis
from pipelines import ecg
from shared import export, layers, pipeline, training


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    """One quick end-to-end run on synthetic records: train -> evaluate -> report -> export -> predict."""
    root = tmp_path_factory.mktemp("ecg")
    cfg = dataclasses.replace(ecg.Config(), **{**ecg.QUICK, "source": "synthetic", "run_dir": str(root / "run"),
                                               "epochs": 3, "rnn": "bigru:8", "cv_folds": 3})
    result = pipeline.run(ecg, cfg, export_root=root / "saved_models", verbose=0)
    return cfg, root, result


def test_quick_run_trains_reports_and_exports(quick_run):
    cfg, root, result = quick_run
    report = json.loads((root / "run" / "report.json").read_text())
    assert report["domain"] == "ecg" and report["source"].startswith("synthetic")
    assert np.isfinite(result["accuracy"]) and 0 <= result["accuracy"] <= 100
    assert "de Chazal et al. 2004 (linear discriminants)" in report["anchors"]
    assert {f"{name}, test: generated records named like DS2" for name in ecg.BASELINES} <= set(report["baselines"])
    assert all(row["comparable"].startswith("no") for row in report["anchors"].values())  # generated data
    assert any("RR in seconds" in name for name in ecg.BASELINES)  # both input sets keep a linear baseline
    assert any("record median" in name for name in ecg.BASELINES)
    low, high = report["test"]["bootstrap"]["accuracy"]
    assert low <= result["accuracy"] <= high
    assert report["timing"]["train_seconds"] > 0 and report["timing"]["cross_validation_seconds"] > 0
    assert report["timing"]["run_seconds"] > report["timing"]["train_seconds"]  # serving and predict: make bench
    assert np.array(report["test"]["confusion"]).sum() == sum(report["metrics"]["per_class"][c]["support"] for c in "NSVFQ")
    stressed = report["cross_validation"]["stress"]
    assert set(stressed) == {ecg.stress.COMPOSITION, *ecg.stress.GENERATED}
    assert all({"this model", *ecg.BASELINES} <= set(rows) for rows in stressed.values())
    assert set(report["cross_validation"]["final_model_stress"]) == set(ecg.stress.GENERATED)
    assert "Stress sets" in (root / "run" / "report.md").read_text()
    for name in ("report.md", "confusion.png", "cv_curve.png", "stress.png", "training_curves.png", "best.keras",
                 "history.csv"):
        assert (root / "run" / name).exists(), name
    assert result["export"].endswith("/1")


def test_served_model_matches_keras_and_holds_no_cudnn_op(quick_run):
    cfg, root, result = quick_run
    path = export.latest("ecg", root / "saved_models")
    served, meta = export.load(path)
    assert meta["source"] == "synthetic" and meta["classes"] == list(ecg_data.AAMI_CLASSES)
    assert set(meta["signature"]["inputs"]) == {"beats", "template", "rr"}
    assert set(meta["signature"]["outputs"]) == {"probs", "class"}
    assert not export.graph_ops(path) & set(export.CUDNN_OPS)
    import keras

    model = keras.models.load_model(root / "run" / "best.keras")
    rng = np.random.default_rng(0)
    k = 2 * cfg.context + 1
    inputs = {"beats": rng.normal(scale=0.3, size=(6, k, cfg.window)).astype("float32"),
              "template": rng.normal(scale=0.3, size=(6, cfg.window)).astype("float32"),
              "rr": rng.uniform(0.5, 1.2, size=(6, k, len(ecg_data.beats.RR_INPUTS[cfg.rr_inputs]) + 1)).astype("float32")}
    out = served.signatures["serving_default"](**{n: tf.constant(v) for n, v in inputs.items()})
    expected = model.predict(inputs, verbose=0)
    np.testing.assert_allclose(out["probs"].numpy(), expected, rtol=1e-4, atol=1e-5)
    letters = [c.decode() for c in out["class"].numpy()]
    assert letters == [ecg_data.AAMI_CLASSES[i] for i in expected.argmax(-1)]
    inputs["beats"][1, 0, 5], inputs["rr"][4, 0, 0] = np.nan, np.inf  # garbage rows: no confident class
    inputs["beats"][2, 1, 7] = 1e30  # finite but absurd: garbage too
    out = served.signatures["serving_default"](**{n: tf.constant(v) for n, v in inputs.items()})
    assert [c.decode() for c in out["class"].numpy()] == [x if i not in (1, 2, 4) else "invalid input"
                                                          for i, x in enumerate(letters)]
    assert np.isnan(out["probs"].numpy()[[1, 2, 4]]).all() and np.isfinite(out["probs"].numpy()[[0, 3, 5]]).all()


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
    assert (tmp_path / "out" / "predict.png").exists() and (tmp_path / "out" / "predict.json").exists()
    import csv

    import wfdb

    rows = list(csv.DictReader((tmp_path / "out" / "beats.csv").open()))
    written = wfdb.rdann(str(tmp_path / "out" / "119"), "rnn")
    assert len(rows) == len(written.sample) == summary["classified_beats"]
    assert [int(r["sample"]) for r in rows] == written.sample.tolist()
    letters = {v: k for k, v in analysis.ANNOTATION_SYMBOLS.items()}
    assert [letters[s] for s in written.symbol] == [r["class"] for r in rows]
    assert all(abs(sum(float(r[f"p_{c}"]) for c in ecg_data.AAMI_CLASSES) - 1) < 1e-3 for r in rows)
    (tmp_path / "bare").mkdir()
    for suffix in (".hea", ".dat"):  # no .atr: classification still runs, agreement is skipped
        (tmp_path / "bare" / f"119{suffix}").write_bytes((tmp_path / f"119{suffix}").read_bytes())
    bare = ecg.predict(cfg, tmp_path / "bare" / "119", model)
    assert "detection" not in bare and bare["beats_per_class"] == summary["beats_per_class"]
    assert bare["warning"] == analysis.GENERATED_WARNING  # the quick model was trained on generated records: said loudly
    # a record named by itself is found in the data folder (RECORD=119 DATA_DIR=...), or the message names where
    # it looked and how to point at it
    by_name = ecg.predict(dataclasses.replace(cfg, data_dir=(str(tmp_path / "bare"),), at=30.0), "119", model,
                          out_dir=tmp_path / "named")
    assert by_name["beats_per_class"] == summary["beats_per_class"] and (tmp_path / "named" / "predict.png").exists()
    with pytest.raises(FileNotFoundError, match="no 404.hea here nor in .*bare.*--data-dir"):
        ecg.find_record(dataclasses.replace(cfg, data_dir=(str(tmp_path / "bare"),)), "404")
    assert analysis.heart_rate_warning(75.0, 360) is None
    assert "(100 Hz)" in analysis.heart_rate_warning(21.0, 100)
    assert analysis.heart_rate_warning(None, 360).startswith("fewer than two beats were detected")  # not "None bpm"


def test_predict_warns_of_clipping_and_of_annotations_that_stop_early(quick_run, tmp_path):
    import wfdb

    cfg, root, _ = quick_run
    model = export.latest("ecg", root / "saved_models")
    ecg_data.synthetic.write_records(tmp_path, ["119"], minutes=2, seed=9)
    whole = ecg.predict(cfg, tmp_path / "119", model)
    assert "clipped" not in whole["warning"] and "annotations stop" not in whole["warning"]
    # the .atr cut at 50 s: said, and the agreement covers the annotated part only (no flood of false detections)
    notes = wfdb.rdann(str(tmp_path / "119"), "atr")
    kept = notes.sample < 50 * 360
    wfdb.wrann("119", "atr", notes.sample[kept], np.array(notes.symbol)[kept], write_dir=str(tmp_path))
    cut = ecg.predict(cfg, tmp_path / "119", model)
    assert "the annotations stop at 50 s of the record's 120 s" in cut["warning"]
    assert cut["detection"]["+P"] > 95 and cut["detection"]["Se"] > 95
    # a saturated amplifier: every R wave flattened at one value
    signal = ecg_data.read_record(tmp_path / "119").signal
    clipped = np.minimum(signal, np.percentile(signal, 99.0))
    wfdb.wrsamp("clip", fs=360, units=["mV"], sig_name=["MLII"], p_signal=clipped[:, None], fmt=["16"],
                write_dir=str(tmp_path))
    assert "looks clipped" in ecg.predict(cfg, tmp_path / "clip", model)["warning"]
    assert ecg_data.records.clipped_fraction(signal) < 0.005  # the real shape is not


def test_rnn_beats_the_majority_baseline_on_synthetic_beats(quick_run):
    """V beats are premature and wide in the synthetic records: the trained RNN must find them."""
    cfg, root, result = quick_run
    report = json.loads((root / "run" / "report.json").read_text())
    majority = report["baselines"]["majority (all N), test: generated records named like DS2"]
    assert result["macro F1"] > majority["macro F1"] + 15
    assert result["V Se"] > 60


def test_every_rnn_type_builds_the_ecg_model():
    for spec, context, shape in (("simple:4", 0, True), ("lstm:4", 1, False), ("gru:4", 3, True), ("bilstm:4", 2, True),
                                 ("gru:4x2", 1, False)):
        cfg = dataclasses.replace(ecg.Config(), rnn=spec, context=context, context_rnn=spec, context_shape=shape)
        model = ecg.build_network(cfg)
        k = 2 * context + 1
        out = model({"beats": np.zeros((2, k, cfg.window), "float32"), "template": np.zeros((2, cfg.window), "float32"),
                     "rr": np.ones((2, k, len(ecg_data.beats.RR_INPUTS[cfg.rr_inputs]) + 1), "float32")})
        assert out.shape == (2, 5)
        assert layers.cudnn_problems(model) == []


def test_class_weights():
    labels = np.array([0] * 90 + [1] * 10 + [4] * 2)
    assert ecg.class_weights(labels, "none") is None
    balanced = ecg.class_weights(labels, "balanced")
    assert balanced[0] == pytest.approx(100 / 180) and balanced[1] == pytest.approx(5.0)
    assert balanced[4] == 1.0 and balanced[2] == 1.0  # Q is never lifted; absent classes keep 1
    assert ecg.class_weights(labels, "sqrt")[1] == pytest.approx(5.0 ** 0.5)


@pytest.mark.parametrize("changes, match", [
    ({"source": "web"}, "expected one of"),
    ({"frame": 5}, "must divide the window"),
    ({"before": 0.05, "after": 0.1}, "at least 0.5 s"),
    ({"rnn": "lstm:0"}, "positive integers"),
    ({"class_weighting": "focal"}, "class-weighting"),
    ({"context": -1}, "--context"),
    ({"cv_folds": 1}, "--cv-folds"),
    ({"context_rnn": "gru"}, "not of the form"),
])
def test_config_rejects_bad_values(changes, match):
    with pytest.raises(ValueError, match=match):
        dataclasses.replace(ecg.Config(), **changes)


def test_cli_errors_are_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("RNN_DEBUG", raising=False)
    with pytest.raises(SystemExit) as exit_info:
        pipeline.main(ecg, ["predict", "--run-dir", str(tmp_path)])
    assert exit_info.value.code == 1 and "make predict-ecg RECORD=" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        pipeline.main(ecg, ["predict", "--input", str(tmp_path / "nothing"), "--model", str(tmp_path)])
    assert exit_info.value.code == 1 and "not a SavedModel" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        pipeline.main(ecg, ["evaluate", "--source", "synthetic", "--synthetic-minutes", "0.5", "--run-dir", str(tmp_path)])
    assert exit_info.value.code == 1 and "no checkpoint" in capsys.readouterr().err
    ecg_data.synthetic.write_records(tmp_path / "ds1", ecg_data.DS1, minutes=0.5)
    ecg.build_network(dataclasses.replace(ecg.Config(), **ecg.QUICK)).save(tmp_path / "best.keras")
    with pytest.raises(SystemExit) as exit_info:  # DS1 only: no test split to evaluate on
        pipeline.main(ecg, ["evaluate", "--source", "local", "--data-dir", str(tmp_path / "ds1"), "--run-dir", str(tmp_path)])
    assert exit_info.value.code == 1 and "no test split" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        pipeline.main(ecg, ["train", "--frame", "5"])
    assert exit_info.value.code == 2 and "must divide the window" in capsys.readouterr().err


def test_cross_validation_is_grouped_by_record_and_resumes(quick_run, monkeypatch):
    cfg, root, _ = quick_run
    report = json.loads((root / "run" / "report.json").read_text())
    cv = report["cross_validation"]
    folds = [set(fold["records"]) for fold in cv["folds"]]
    assert len(folds) == 3 and set().union(*folds) == set(report["split"]["train"])
    assert all(not (a & b) for i, a in enumerate(folds) for b in folds[i + 1:])  # a record is in one fold only
    assert all(fold["beats"][c] > 0 for fold in cv["folds"] for c in "SVF")  # every fold holds S, V and F
    assert 1 <= cv["best_epoch"] <= 3 and len(cv["curve"]) == 3
    assert cv["pooled"]["macro F1"] == pytest.approx(max(cv["curve"]))
    assert set(cv["baselines"]) == set(ecg.BASELINES)
    assert report["timing"]["epochs"] == cv["best_epoch"]  # the final model trains for the chosen epoch count
    fold_history = training.read_history(root / "run" / "cv" / "fold-1" / "history.csv")
    assert len(fold_history["heldout_macro_f1"]) == 3  # the held-out score of every epoch, logged by the scorer
    # a finished fold is read back, not trained again (a rerun after an interrupted cross-validation)
    monkeypatch.setattr(training, "fit", lambda *a, **k: pytest.fail("a finished fold was trained again"))
    data = ecg.load_data(cfg)
    assert ecg.cross_validate(cfg, data)["curve"] == cv["curve"]


def test_predict_prepares_a_record_as_training_does(quick_run, tmp_path, monkeypatch):
    """Given the annotated beat times, predict (exported model, record without labels) and evaluation (Keras
    checkpoint, labelled beats) see the same inputs and so give the same classes."""
    import keras

    cfg, root, _ = quick_run
    ecg_data.synthetic.write_records(tmp_path, ["201"], minutes=2, seed=5)
    record = ecg_data.read_record(tmp_path / "201")
    monkeypatch.setattr(analysis, "detect_beats", lambda signal, detector: record.peaks)
    summary = ecg.predict(cfg, tmp_path / "201", export.latest("ecg", root / "saved_models"))
    model = keras.models.load_model(root / "run" / "best.keras")
    beats = ecg_data.extract(record, cfg.before, cfg.after, template=cfg.template)
    predicted = np.array(ecg.score(cfg, model, beats)["predicted"])
    assert summary["beats_per_class"] == {c: int((predicted == i).sum()) for i, c in enumerate(ecg_data.AAMI_CLASSES)}


def _beat_set(peaks: np.ndarray, labels: np.ndarray, record: str, window: int, rng) -> ecg_data.BeatSet:
    """Beats that all share one shape (plus noise): only the rhythm tells the classes apart."""
    rr = ecg_data.rr_features(peaks)
    keep = np.isfinite(rr).all(axis=1)
    shape = np.exp(-0.5 * ((np.arange(window) - 90) / 6.0) ** 2).astype("float32")
    beats = shape + rng.normal(scale=0.02, size=(int(keep.sum()), window)).astype("float32")
    return ecg_data.BeatSet(beats, np.broadcast_to(shape, beats.shape).copy(), rr[keep], labels[keep],
                            np.full(int(keep.sum()), record), peaks[keep])


def _rhythm_record(rng, beats: int = 1500):
    """Sinus rhythm whose rate jumps by x0.7 or /0.7 at random, and S beats that come at 0.7 of the previous
    interval before the rhythm returns. A beat before a rate rise and an S beat then have the same own intervals
    (previous and next RR differ by 1/0.7); only the interval before them, a neighbour's, tells them apart."""
    level, intervals, labels = 0.8, [], []
    while len(intervals) < beats:
        if rng.random() < 0.08 and labels and labels[-1] == 0:
            intervals += [0.7 * level, level]
            labels += [1, 0]
            continue
        if rng.random() < 0.3:
            level = float(np.clip(level * (0.7 if rng.random() < 0.5 else 1 / 0.7), 0.45, 1.6))
        intervals.append(level * rng.normal(1.0, 0.01))
        labels.append(0)
    # labels[i] belongs to the beat that ends interval i
    peaks = np.concatenate([[0], np.cumsum(intervals)]) * ecg_data.FS
    return np.round(peaks).astype("int64") + 200, np.array([0, *labels], dtype="int32")


@pytest.mark.slow
def test_beat_sequence_model_beats_the_per_beat_model_on_rhythm():
    rng = np.random.default_rng(0)
    window = ecg.Config().window
    sets = [_beat_set(*_rhythm_record(rng), record=f"r{i}", window=window, rng=rng) for i in range(6)]
    train, test = ecg_data.BeatSet.concat(sets[:4]), ecg_data.BeatSet.concat(sets[4:])
    scores = {}
    for context in (0, 2):
        cfg = dataclasses.replace(ecg.Config(), rnn="gru:4", context=context, context_rnn="gru:8",
                                  class_weighting="balanced", learning_rate=1e-2, batch_size=128)
        keras_model = ecg.build_network(cfg, train)
        keras_model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        import keras

        keras.utils.set_random_seed(0)
        keras_model.optimizer.learning_rate = 1e-2
        keras_model.fit(ecg.model_inputs(train, context, cfg.rr_inputs), train.labels, epochs=8, batch_size=128, verbose=0,
                        class_weight=ecg.class_weights(train.labels, "balanced"))
        scores[context] = ecg.score(cfg, keras_model, test)["per_class"]["S"]["F1"]
    assert scores[2] > 85 and scores[2] > scores[0] + 15, scores  # measured: 90.5 vs 64.9


def test_a_beats_class_depends_only_on_its_context_window():
    rng = np.random.default_rng(1)
    cfg = dataclasses.replace(ecg.Config(), rnn="gru:4", context=2, context_rnn="gru:4")
    peaks, labels = _rhythm_record(rng, beats=40)
    beats = _beat_set(peaks, labels, "r0", cfg.window, rng)
    model = ecg.build_network(cfg, beats)
    centre = 20

    def probs_of_centre(changed: ecg_data.BeatSet) -> np.ndarray:
        inputs = ecg.model_inputs(changed, cfg.context, cfg.rr_inputs)
        return model({k: v[centre:centre + 1] for k, v in inputs.items()}).numpy()

    before = probs_of_centre(beats)
    outside = dataclasses.replace(beats, beats=beats.beats.copy(), rr=beats.rr.copy())
    for i in (centre - 3, centre + 3, 0, len(beats) - 1):  # beats beyond two on either side
        outside.beats[i] += rng.normal(size=cfg.window).astype("float32")
        outside.rr[i] *= 3.0
    np.testing.assert_array_equal(probs_of_centre(outside), before)
    inside = dataclasses.replace(beats, rr=beats.rr.copy())
    inside.rr[centre + 2] *= 3.0  # a neighbour inside the window does count
    assert np.abs(probs_of_centre(inside) - before).max() > 1e-4


@pytest.mark.slow
def test_cross_validation_says_when_too_few_records_hold_a_class(tmp_path):
    """Generated records of seed 0 hold F beats in fewer records than folds: the folds keep S and V in each, and the
    result names the class that cannot be in every fold instead of failing the run."""
    cfg = dataclasses.replace(ecg.Config(), **{**ecg.QUICK, "source": "synthetic", "seed": 0, "cv_folds": 5,
                                               "run_dir": str(tmp_path)})
    data = ecg.load_data(cfg)
    cv = ecg.cross_validate(cfg, data)
    assert len(cv["folds"]) == 5 and [c.split()[0] for c in cv["classes_not_in_every_fold"]] == ["F"]
    assert all(fold["beats"]["S"] > 0 and fold["beats"]["V"] > 0 for fold in cv["folds"])


def _databases(root, minutes=1.0):
    """Generated MIT-BIH-like DS1 + DS2 records (360 Hz, MLII), SVDB-like records (128 Hz, ECG1) and a folder of a
    user's own records."""
    ecg_data.synthetic.write_records(root / "mitdb", ecg_data.DS1[:6] + ecg_data.DS2[:2], minutes=minutes, seed=1)
    ecg_data.synthetic.write_records(root / "svdb", ["800", "802", "803", "805"], minutes=minutes, seed=2, fs=128,
                                     leads=("ECG1", "ECG2"))
    ecg_data.synthetic.write_records(root / "other", ["a1", "a2"], minutes=minutes, seed=3)
    return root


def test_several_databases_train_together_and_a_test_folder_is_scored_apart(tmp_path):
    root = _databases(tmp_path)
    cfg = dataclasses.replace(ecg.Config(), source="local", data_dir=(str(root / "mitdb"), str(root / "svdb")),
                              test_dir=(str(root / "other"),), run_dir=str(tmp_path / "run"))
    data = ecg.load_data(cfg)
    assert data.split["train"] == [*ecg_data.DS1[:6], "svdb/800", "svdb/802", "svdb/803", "svdb/805"]
    assert data.split["test"] == list(ecg_data.DS2[:2]) and set(data.tests) == {"other"}
    assert set(data.train.records.tolist()) == set(data.split["train"])
    assert {name: info["lead"] for name, info in data.records.items() if name.startswith("svdb")} == \
        dict.fromkeys(["svdb/800", "svdb/802", "svdb/803", "svdb/805"], "ECG1")
    assert data.records["101"] == {"database": "mitdb", "lead": "MLII", "fs": 360.0}
    assert data.split["databases"]["svdb"]["fs"] == 128 and data.split["databases"]["mitdb"]["records"] == 8
    # the faster database's training records, read through 128 Hz too (half of them swapped in when training)
    assert sorted(set(data.resampled.records.tolist())) == sorted(ecg_data.DS1[:6])
    assert list(ecg.test_sets(data)) == ["DS2", "other (every record of --test-dir)"]
    assert list(data.database_of(data.train)[[0, -1]]) == ["mitdb", "svdb"]
    alone = ecg.load_data(dataclasses.replace(cfg, data_dir=(str(root / "mitdb"),), test_dir=()))
    assert alone.resampled is None and "svdb/800" not in alone.split["train"]  # one rate: nothing to mix
    with pytest.raises(ValueError, match="two folders hold the mitdb records"):
        ecg.load_data(dataclasses.replace(cfg, test_dir=(str(root / "mitdb"),)))


def test_the_default_databases_and_the_options_that_name_folders(tmp_path, monkeypatch, capsys):
    root = _databases(tmp_path, minutes=0.5)
    monkeypatch.setenv("RNN_DATA_DIR", str(root))
    data = ecg.load_data(dataclasses.replace(ecg.Config(), run_dir=str(tmp_path / "run")))
    assert set(data.split["databases"]) == {"mitdb", "svdb"}  # both, found in $RNN_DATA_DIR by default
    ds1_only = ecg.load_data(dataclasses.replace(ecg.Config(), databases=("mitdb",), run_dir=str(tmp_path / "run")))
    assert set(ds1_only.split["databases"]) == {"mitdb"}
    (root / "svdb").rename(root / "elsewhere")
    data = ecg.load_data(dataclasses.replace(ecg.Config(), run_dir=str(tmp_path / "run")))
    assert set(data.split["databases"]) == {"mitdb"} and any("Supraventricular" in n for n in data.notes)
    # the command line: --data-dir repeated or comma-separated, --databases checked item by item
    _, cfg, _ = ecg.cli.parse(ecg.Config, ["train", "--data-dir", str(root / "mitdb"), "--data-dir",
                                           str(root / "other")], prog="ecg")
    assert cfg.data_dir == (str(root / "mitdb"), str(root / "other"))
    _, cfg, _ = ecg.cli.parse(ecg.Config, ["train", "--data-dir", f"{root / 'mitdb'},{root / 'other'}"], prog="ecg")
    assert cfg.data_dir == (str(root / "mitdb"), str(root / "other"))
    for bad, message in ((["--databases", "mitdb,ptb"], "expected one or more of"),
                         (["--test-dir", str(root / "nosuch")], "--test-dir")):
        with pytest.raises(SystemExit) as exit_info:
            ecg.cli.parse(ecg.Config, ["train", *bad], prog="ecg")
        assert exit_info.value.code == 2 and message in capsys.readouterr().err
