import dataclasses
import json

import numpy as np
import pytest
import tensorflow as tf

from domain import stock as stock_data
from pipelines import stock
from shared import export, pipeline
from tests.conftest import real_data_dir
from tests.domain.test_stock import HEADER


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("stock")
    cfg = dataclasses.replace(stock.Config(), **{**stock.QUICK, "run_dir": str(root / "run")})
    return cfg, root, pipeline.run(stock, cfg, export_root=root / "saved_models", verbose=0)


def test_quick_run_states_the_verdict_and_exports(quick_run, tmp_path):
    cfg, root, result = quick_run
    report = json.loads((root / "run" / "report.json").read_text())
    assert report["source"].startswith("msft")
    rows = report["baselines"]
    assert rows["random walk (no change)"]["MASE"] == 1.0 and rows["random walk (no change)"]["directional accuracy %"] is None
    assert 0 <= rows["always up (sign baseline)"]["directional accuracy %"] <= 100
    assert "random walk" in (root / "run" / "report.md").read_text().split("## Verdict")[1]
    assert 0 <= result["diebold_mariano_p"] <= 1
    path = export.latest("stock", root / "saved_models")
    served, meta = export.load(path)
    import keras

    model = keras.models.load_model(root / "run" / "best.keras")
    window = np.random.default_rng(0).normal(0, 0.01, size=(2, cfg.past, 4)).astype("float32")
    out = served.signatures["serving_default"](window=tf.constant(window))["log_return"].numpy()
    np.testing.assert_allclose(out, model.predict(window, verbose=0)[:, 0], rtol=1e-4, atol=1e-7)
    csv = tmp_path / "bars.csv"
    lines = [HEADER] + [f"2016-{1 + d // 28:02d}-{1 + d % 28:02d},{10 + d % 5},{11 + d % 5},{9 + d % 5},"
                        f"{10.5 + d % 5},{1000 + d},XYZ" for d in range(40)]
    csv.write_text("\n".join(lines) + "\n")
    forecast = stock.predict(cfg, csv, path)
    assert forecast["ticker"] == "XYZ" and forecast["implied_close"] > 0 and "warning" not in forecast
    spiked = tmp_path / "spiked.csv"  # the last day's high 1000x the close: a range no training day came near
    spiked.write_text("\n".join(lines[:-1] + ["2016-02-13,12,12000,11,11.5,1039,XYZ"]) + "\n")
    with pytest.raises(ValueError, match="input 'window' \\(feature 1\\) = .* is outside .*not trained on"):
        stock.predict(cfg, spiked, path)
    dropped = tmp_path / "dropped.csv"  # the last day's open above its high: the reader drops it, and says so
    dropped.write_text("\n".join(lines + ["2016-02-14,120,12,11,11.5,1040,XYZ"]) + "\n")
    forecast = stock.predict(cfg, dropped, path)
    assert "1 rows whose high/low do not bound open and close" in forecast["warning"]
    assert forecast["last_date"] in forecast["warning"]
    short = tmp_path / "short.csv"
    short.write_text("\n".join(lines[:10]) + "\n")
    with pytest.raises(ValueError, match="needs at least"):
        stock.predict(cfg, short, path)


def test_normalization_sees_the_training_days_only():
    cfg = dataclasses.replace(stock.Config(), **stock.QUICK)
    bars = stock.load_data(cfg)
    mean = stock.build_model(cfg, bars).get_layer("normalize").mean
    future = dataclasses.replace(bars, ohlcv=bars.ohlcv.copy())
    start = stock._rows(len(stock.series(cfg, bars)[1]))[1].start + 1  # + the dropped first day
    future.ohlcv[start:, stock_data.FIELDS.index("high")] *= 100.0  # a wilder future: its range feature changes
    assert not np.allclose(stock.series(cfg, future)[0], stock.series(cfg, bars)[0])
    np.testing.assert_allclose(stock.build_model(cfg, future).get_layer("normalize").mean, mean)


def test_config_and_short_series_errors(tmp_path):
    with pytest.raises(ValueError, match="expected one of"):
        dataclasses.replace(stock.Config(), source="yahoo")
    csv = tmp_path / "tiny.csv"
    csv.write_text("date,open,high,low,close,volume\n2016-01-04,1,2,1,1.5,10\n2016-01-05,1,2,1,1.6,10\n")
    with pytest.raises(ValueError, match="too few"):
        stock.load_data(dataclasses.replace(stock.Config(), source="local", data_dir=str(csv)))


@pytest.mark.slow
def test_real_sp500_ticker_trains(tmp_path):
    folder = real_data_dir("stocks")
    cfg = dataclasses.replace(stock.Config(), source="local", data_dir=str(folder), ticker="AAPL", rnn="gru:4",
                              epochs=1, run_dir=str(tmp_path / "run"))
    result = pipeline.run(stock, cfg, export_root=tmp_path / "saved_models", verbose=0)
    assert np.isfinite(result["MASE"])
