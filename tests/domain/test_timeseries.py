import numpy as np
import pytest

from domain import timeseries
from shared import data


def test_chronological_split_keeps_time_order():
    train, val, test = timeseries.chronological_split(100, 0.15, 0.15)
    assert (train.start, train.stop, val.stop, test.stop) == (0, 70, 85, 100)
    with pytest.raises(ValueError, match="together below 1"):
        timeseries.chronological_split(100, 0.5, 0.6)


def test_origins_and_targets_line_up_with_the_windows():
    series = np.arange(50, dtype="float32")
    rows = slice(10, 50)
    origin_rows = timeseries.origins(rows, width=5, lead=3, horizon=2)
    ((x, y),) = data.windows(series[rows, None], series[rows], width=5, lead=3, horizon=2, batch_size=100)
    assert len(origin_rows) == len(x)
    np.testing.assert_array_equal(x[:, -1, 0], series[origin_rows])  # the origin is the window's last row
    np.testing.assert_array_equal(y, timeseries.targets_at(series, origin_rows, lead=3, horizon=2))
    assert origin_rows[0] == 14 and origin_rows[-1] + 3 + 1 == 49


def test_baselines_compute_what_they_claim():
    series = np.array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9], dtype=float) * 10
    o = np.array([4, 6])
    np.testing.assert_array_equal(timeseries.persistence(series, o, lead=2, horizon=2), [[40, 40], [60, 60]])
    # season 3: the value 3 rows before each target, moved back a whole season until it is observed
    np.testing.assert_array_equal(timeseries.seasonal_naive(series, o, lead=1, horizon=3, season=3),
                                  [[20, 30, 40], [40, 50, 60]])
    np.testing.assert_array_equal(timeseries.seasonal_naive(series, o, lead=4, horizon=1, season=3), [[20], [40]])


def test_forecast_metrics_and_mase():
    actual = np.array([1.0, 2.0, 3.0, 4.0])
    metrics = timeseries.forecast_metrics(actual, actual + 0.5, naive=actual - 1.0)
    assert metrics["MAE"] == pytest.approx(0.5) and metrics["RMSE"] == pytest.approx(0.5)
    assert metrics["MASE"] == pytest.approx(0.5)
    assert timeseries.directional_accuracy([1, -1, 0, 2], [0.5, 0.3, 1, -1]) == pytest.approx(100 / 3)


def test_diebold_mariano_detects_a_better_forecast_and_not_an_equal_one():
    rng = np.random.default_rng(0)
    noise = rng.normal(size=500)
    better = timeseries.diebold_mariano(0.5 * noise, noise + rng.normal(scale=0.5, size=500))
    assert better["statistic"] < 0 and better["p_value"] < 0.001
    same = timeseries.diebold_mariano(rng.normal(size=500), rng.normal(size=500))
    assert same["p_value"] > 0.01
    with pytest.raises(ValueError, match="at least 3"):
        timeseries.diebold_mariano([1.0], [2.0])


def test_autoregression_recovers_an_ar_process_and_forecasts_without_look_ahead():
    rng = np.random.default_rng(1)
    y = np.zeros(3000)
    for t in range(2, 3000):
        y[t] = 0.6 * y[t - 1] - 0.2 * y[t - 2] + rng.normal()
    params = timeseries.fit_autoregression(y[:2000], lags=2)
    np.testing.assert_allclose(params[1:], [0.6, -0.2], atol=0.06)
    o = np.arange(2000, 2990)
    one = timeseries.autoregression_forecast(y, o, params, lead=1, horizon=1)[:, 0]
    np.testing.assert_allclose(one, params[0] + params[1] * y[o] + params[2] * y[o - 1])
    changed = y.copy()
    changed[2501:] += 100.0  # rows after the origin 2500 must not matter to its forecast
    origin = np.array([2500])
    np.testing.assert_allclose(timeseries.autoregression_forecast(changed, origin, params, lead=2, horizon=3),
                               timeseries.autoregression_forecast(y, origin, params, lead=2, horizon=3))
