import dataclasses
import json

import numpy as np
import pytest
import tensorflow as tf

from pipelines import weather
from shared import export, pipeline
from tests.domain.test_weather import write_jena


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("weather")
    cfg = dataclasses.replace(weather.Config(), **{**weather.QUICK, "run_dir": str(root / "run"), "epochs": 2})
    return cfg, root, pipeline.run(weather, cfg, export_root=root / "saved_models", verbose=0)


def test_quick_run_reports_baselines_and_exports(quick_run, tmp_path):
    cfg, root, result = quick_run
    report = json.loads((root / "run" / "report.json").read_text())
    assert report["source"].startswith("seattle")
    rows = report["baselines"]
    assert {"persistence (last value)", "seasonal naive (365 rows)", "AR(48) (statsmodels AutoReg)"} <= set(rows)
    assert rows["persistence (last value)"]["MASE"] == 1.0
    assert np.isfinite(result["MAE"]) and 0 <= result["diebold_mariano_p"] <= 1
    assert (root / "run" / "forecast_vs_actual.png").exists()
    path = export.latest("weather", root / "saved_models")
    served, meta = export.load(path)
    assert meta["steps"] == {"width": 5, "lead": 1, "horizon": 1, "step_hours": 24}
    import keras

    model = keras.models.load_model(root / "run" / "best.keras")
    limits = meta["input_limits"]["serving_default"]["window"]  # windows inside the range the graph accepts
    low, high = np.array(limits["min"]), np.array(limits["max"])
    window = (low + (high - low) * np.random.default_rng(0).uniform(0.35, 0.65, size=(3, 5, len(low)))).astype("float32")
    out = served.signatures["serving_default"](window=tf.constant(window))["forecast"].numpy()
    np.testing.assert_allclose(out, model.predict(window, verbose=0), rtol=1e-4, atol=1e-4)
    # predict from the last window of a daily CSV in the Seattle layout
    csv = tmp_path / "daily.csv"
    csv.write_text("date,precipitation,temp_max,temp_min,wind\n" + "".join(
        f"2016-02-{d:02d},1.0,{9 + d % 3},3.0,2.5\n" for d in range(1, 11)))
    forecast = weather.predict(cfg, csv, path)
    assert list(forecast["forecast_degC"]) == ["2016-02-11T00:00:00"] and forecast["target"] == "temp_max"
    absurd = tmp_path / "absurd.csv"  # wind 9000 (the reader refuses 1e30 and 5000 degC itself): refused, not forecast
    absurd.write_text(csv.read_text() + "2016-02-11,1.0,9,3.0,9000\n")
    with pytest.raises(ValueError, match="feature 3.* = 9000 is outside"):
        weather.predict(cfg, absurd, path)
    assert meta["input_limits"]["serving_default"]["window"]["max"][1] < 200  # temp_max: its training range widened
    with pytest.raises(ValueError, match="trained on"):
        weather.predict(cfg, write_jena(tmp_path / "jena.csv"), path)


def test_export_command_carries_the_checkpoints_metrics(quick_run, tmp_path, monkeypatch):
    cfg, root, _ = quick_run
    monkeypatch.chdir(tmp_path)  # saved_models/ of the command lands here
    out = pipeline.main(weather, ["export", "--quick", "--epochs", "2", "--run-dir", str(root / "run")])
    report = json.loads((root / "run" / "report.json").read_text())
    assert export.load(out["export"])[1]["metrics"] == report["metrics"] and report["metrics"]


def test_normalization_sees_the_training_rows_only():
    cfg = dataclasses.replace(weather.Config(), **weather.QUICK)
    series = weather.load_data(cfg)
    base = weather.build_model(cfg, series).get_layer("normalize").mean
    test_rows = weather._rows(series)[2]
    series.values[test_rows] += 1000.0  # a different future must leave the statistics unchanged
    np.testing.assert_allclose(weather.build_model(cfg, series).get_layer("normalize").mean, base)


def test_hourly_steps_and_bad_configs():
    cfg = weather.Config()
    assert cfg.steps(1) == (120, 24, 1) and cfg.steps(24) == (5, 1, 1)
    assert dataclasses.replace(cfg, multi_step=True).steps(1) == (120, 1, 24)
    with pytest.raises(ValueError, match="whole rows"):
        dataclasses.replace(cfg, past=100).steps(24)
    with pytest.raises(ValueError, match="expected one of"):
        dataclasses.replace(cfg, source="metoffice")


@pytest.mark.slow
def test_jena_pipeline_path_on_a_small_csv(tmp_path):
    """The Jena path end to end offline: the local source on a CSV with the real header, hourly task."""
    write_jena(tmp_path / "jena_climate_2009_2016.csv", hours=400)
    cfg = dataclasses.replace(weather.Config(), source="local", data_dir=str(tmp_path), rnn="gru:4", past=24,
                              lead=6, epochs=1, run_dir=str(tmp_path / "run"))
    result = pipeline.run(weather, cfg, export_root=tmp_path / "saved_models", verbose=0)
    assert np.isfinite(result["MAE"])
    meta = export.load(export.latest("weather", tmp_path / "saved_models"))[1]
    assert meta["steps"] == {"width": 24, "lead": 6, "horizon": 1, "step_hours": 1} and len(meta["features"]) == 19
    forecast = weather.predict(cfg, tmp_path / "jena_climate_2009_2016.csv", export.latest("weather", tmp_path / "saved_models"))
    assert len(forecast["forecast_degC"]) == 1
