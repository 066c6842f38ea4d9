import csv
import dataclasses
import json
import pathlib

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

from domain import anomaly as nab
from pipelines import anomaly
from shared import export, pipeline


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("anomaly")
    cfg = dataclasses.replace(anomaly.Config(), source="synthetic", synthetic_series=6, rnn="gru:16", window=24,
                              epochs=6, run_dir=str(root / "run"))
    result = pipeline.run(anomaly, cfg, export_root=root / "saved_models", verbose=0)
    return cfg, root, result


@pytest.mark.slow
def test_detectors_are_scored_by_nabs_rules_beside_the_baselines(quick_run):
    cfg, root, result = quick_run
    report = json.loads((root / "run" / "report.json").read_text())
    table = report["metrics"]["detectors"]
    assert table["null"]["NAB standard"] == 0.0  # NAB's normalisation: the null detector is 0
    assert table[anomaly.RNN]["NAB standard"] > 50  # the generated anomalies are plain to a forecaster
    assert table[anomaly.RNN]["NAB standard"] > table["random"]["NAB standard"]
    assert result["NAB standard"] == pytest.approx(table[anomaly.RNN]["NAB standard"], abs=0.01)
    assert report["anchors"] == {}  # generated series: NAB's scoreboard is not set beside them
    text = (root / "run" / "report.md").read_text()
    assert "Leave one category out" in text and "One category only: nothing is held out" in text
    assert "What each change bought" in text and "short 3, no novelty (the previous detector)" in text
    assert result["likelihood short"] in anomaly.SHORTS and result["novelty margin"] in anomaly.MARGINS
    meta = json.loads((pathlib.Path(result["export"]) / "metadata.json").read_text())
    assert (meta["likelihood_short"], meta["novelty_margin"]) == (result["likelihood short"],
                                                                  result["novelty margin"])  # predict follows it


@pytest.mark.slow
def test_served_window_score_and_predict_on_a_csv(quick_run, tmp_path):
    cfg, root, _ = quick_run
    path = export.latest("anomaly", root / "saved_models")
    served, meta = export.load(path, "anomaly")
    signature = served.signatures["serving_default"]
    calm = 50 + np.sin(np.arange(cfg.window + 1) / 5.0)
    jump = calm.copy()
    jump[-1] += 30
    out = signature(values=tf.constant(np.stack([calm, jump]).astype("float32")))
    assert out["anomaly_score"].numpy()[1] > 0.99 > out["anomaly_score"].numpy()[0]
    assert abs(out["forecast"].numpy()[0] - calm[-1]) < 3  # in the series' own units
    stamps = pd.date_range("2024-01-01", periods=1500, freq="5min").strftime("%Y-%m-%d %H:%M:%S")
    values = 20 + 3 * np.sin(np.arange(1500) / 40) + np.random.default_rng(0).normal(0, 0.2, 1500)
    values[1200] += 15
    pd.DataFrame({"timestamp": stamps, "value": values}).to_csv(tmp_path / "s.csv", index=False)
    found = anomaly.predict(dataclasses.replace(cfg, run_dir=str(tmp_path / "run")), str(tmp_path / "s.csv"), path)
    peaks = [event["peak"] for event in found["every_event"]]
    spike = "2024-01-05T04:00:00"  # point 1200: one event holds it, its peak at the spike or the step after it
    assert [e["peak"] for e in found["every_event"] if e["start"] <= spike <= e["end"]] in (
        [spike], ["2024-01-05T04:05:00"])
    assert found["events"] == len(peaks) <= found["flagged_points"] < 40 and found["labelled_windows"] is None
    assert (tmp_path / "run" / "predicted" / "s.png").exists()
    rows = list(csv.DictReader((tmp_path / "run" / "predicted" / "s.csv").open()))
    assert [row["peak"] for row in rows] == peaks  # the file holds every event
    # a value that overflows float32 is still the most extreme point; rows out of time order and a repeated
    # timestamp are read, and said
    wild = pd.DataFrame({"timestamp": stamps, "value": values})
    wild.loc[1200, "value"] = 1e300
    wild = pd.concat([wild.iloc[[1, 0]], wild.iloc[2:], wild.iloc[[700]]])
    wild.to_csv(tmp_path / "wild.csv", index=False)
    odd = anomaly.predict(dataclasses.replace(cfg, run_dir=str(tmp_path / "run")), str(tmp_path / "wild.csv"), path)
    assert [e for e in odd["every_event"] if e["start"] <= spike <= e["end"]]
    assert any("time goes back 2 time(s)" in n for n in odd["notes"]) and any("1 row(s) repeat" in n for n in odd["notes"])
    assert any("beyond a million times" in n for n in odd["notes"]) and not found["notes"]
    # in NAB's layout the labelled windows are found and each event says whether it fell in one
    nab_root = tmp_path / "nab"
    (nab_root / "data" / "demo").mkdir(parents=True)
    (nab_root / "labels").mkdir()
    (tmp_path / "s.csv").rename(nab_root / "data" / "demo" / "s.csv")
    (nab_root / "labels" / "combined_windows.json").write_text(json.dumps(
        {"demo/s.csv": [["2024-01-05 03:00:00", "2024-01-05 05:00:00"]]}))
    labelled = anomaly.predict(dataclasses.replace(cfg, run_dir=str(tmp_path / "run")),
                               str(nab_root / "data" / "demo" / "s.csv"), path)
    assert labelled["series"] == "demo/s.csv" and labelled["labelled_windows"] == 1
    assert [e["in a labelled window"] for e in labelled["every_event"] if e["start"] <= spike <= e["end"]] == [True]
    with pytest.raises(ValueError, match="give at least"):
        pd.DataFrame({"timestamp": stamps[:20], "value": values[:20]}).to_csv(tmp_path / "short.csv", index=False)
        anomaly.predict(cfg, str(tmp_path / "short.csv"), path)


def test_training_reads_the_probationary_periods_only():
    corpus = nab.generated_corpus(3, length=1000, seed=0)
    for s in corpus.series:
        x, y = anomaly.windows_of(s.values, 16, s.probation)
        assert len(x) == s.probation - 16 and np.array_equal(y, s.values[16:s.probation].astype("float32"))
        np.testing.assert_array_equal(x[0], s.values[:16].astype("float32"))


def test_config_refuses_bad_options():
    for bad, says in (({"rnn": "bigru:8"}, "past only"), ({"window": 1}, "--window"),
                      ({"alarm_tail": 0.7}, "--alarm-tail"), ({"source": "kaggle"}, "expected one of")):
        with pytest.raises(ValueError, match=says):
            anomaly.Config(**bad)


def test_online_learning_scores_each_point_before_learning_from_it():
    """The online forecaster's errors agree with the trained one's up to the probation's end, differ after it (it
    learns), and a change at point t leaves every error before t's run of ONLINE_CHUNK points as it was."""
    cfg = dataclasses.replace(anomaly.Config(), rnn="gru:4", window=8)
    model = anomaly.build_model(cfg)
    learner, weights = anomaly.online_learner(model), model.get_weights()
    values = 10 + np.sin(np.arange(600) / 7.0) + np.random.default_rng(1).normal(0, 0.1, 600)
    start = 100
    offline = anomaly.errors(model, values, cfg.window)
    online = anomaly.online_errors(learner, weights, values, cfg.window, start)
    assert np.allclose(online[:start], offline[:start], atol=1e-4)
    assert not np.allclose(online[start + anomaly.ONLINE_CHUNK:], offline[start + anomaly.ONLINE_CHUNK:], atol=1e-4)
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), weights, strict=True))  # left as it was
    changed = values.copy()
    t = start + 2 * anomaly.ONLINE_CHUNK + 5
    changed[t:] += 50.0
    again = anomaly.online_errors(learner, weights, changed, cfg.window, start)
    assert np.allclose(again[:t], online[:t], atol=1e-5) and again[t] > online[t] + 10
    assert np.allclose(anomaly.online_errors(learner, weights, values, cfg.window, start), online, atol=1e-5)
