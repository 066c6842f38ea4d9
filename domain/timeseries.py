"""Forecasting core shared by the weather and stock pipelines: chronological splits, window indexing, the
honest baselines (persistence, seasonal naive), forecast metrics (MAE, RMSE, MASE, directional accuracy), the
Diebold-Mariano test, and forecast-vs-actual plots.

Index convention (the same as shared.data.windows): window i starts at row s = i * stride and covers rows
[s, s + width); its forecast origin is the last input row o = s + width - 1 and its targets are rows
o + lead, ..., o + lead + horizon - 1.

Notebook:
    train, val, test = timeseries.chronological_split(len(series), 0.15, 0.15)
    origins = timeseries.origins(test, width=120, lead=24, horizon=1)
    naive = timeseries.persistence(target, origins, lead=24, horizon=1)
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure


def chronological_split(n: int, val_fraction: float = 0.15, test_fraction: float = 0.15) -> tuple[slice, slice, slice]:
    """Row ranges (train, validation, test) in time order: no shuffling, nothing from the future in training."""
    if not 0 < val_fraction < 1 or not 0 < test_fraction < 1 or val_fraction + test_fraction >= 1:
        raise ValueError(f"split fractions {val_fraction=}, {test_fraction=}: each in (0, 1), together below 1.")
    train_end = int(round(n * (1 - val_fraction - test_fraction)))
    val_end = int(round(n * (1 - test_fraction)))
    return slice(0, train_end), slice(train_end, val_end), slice(val_end, n)


def origins(rows: slice, *, width: int, lead: int, horizon: int) -> np.ndarray:
    """Forecast origins (last input row) of every window whose inputs and targets all lie inside `rows`."""
    first = rows.start + width - 1
    last = rows.stop - lead - horizon  # the last origin whose final target row is rows.stop - 1
    return np.arange(first, last + 1)


def targets_at(target: np.ndarray, origin_rows: np.ndarray, *, lead: int, horizon: int) -> np.ndarray:
    """(origins, horizon) actual values target[o + lead + k]."""
    return np.asarray(target)[origin_rows[:, None] + lead + np.arange(horizon)[None, :]]


def persistence(target: np.ndarray, origin_rows: np.ndarray, *, lead: int, horizon: int) -> np.ndarray:
    """The naive forecast: the last observed value target[o] for every future step. (origins, horizon)."""
    return np.repeat(np.asarray(target)[origin_rows][:, None], horizon, axis=1)


def seasonal_naive(target: np.ndarray, origin_rows: np.ndarray, *, lead: int, horizon: int, season: int) -> np.ndarray:
    """The value one season earlier: target[o + lead + k - season * m], with the smallest m >= 1 that makes the
    row observed at the origin (<= o). (origins, horizon)."""
    ahead = lead + np.arange(horizon)
    back = season * np.ceil(ahead / season).astype(int)
    return np.asarray(target)[origin_rows[:, None] + ahead[None, :] - back[None, :]]


def forecast_metrics(actual: np.ndarray, forecast: np.ndarray, naive: np.ndarray) -> dict[str, float]:
    """MAE, RMSE and MASE (MAE over the MAE of the naive forecast on the same points: < 1 beats it)."""
    error = np.asarray(forecast) - np.asarray(actual)
    naive_mae = float(np.mean(np.abs(np.asarray(naive) - np.asarray(actual))))
    mae = float(np.mean(np.abs(error)))
    return {"MAE": mae, "RMSE": float(np.sqrt(np.mean(error ** 2))),
            "MASE": mae / naive_mae if naive_mae else float("nan")}


def directional_accuracy(actual_change: np.ndarray, forecast_change: np.ndarray) -> float:
    """Percent of points where the forecast change has the sign of the actual change (zero actual moves skipped);
    NaN when the forecast never calls a direction (the random walk's zero change)."""
    actual_change, forecast_change = np.ravel(actual_change), np.ravel(forecast_change)
    moved = actual_change != 0
    if not moved.any() or not np.any(forecast_change):
        return float("nan")
    return 100.0 * float(np.mean(np.sign(actual_change[moved]) == np.sign(forecast_change[moved])))


def diebold_mariano(errors_a: np.ndarray, errors_b: np.ndarray, horizon: int = 1) -> dict[str, float]:
    """Diebold-Mariano test of equal squared-error accuracy of forecasts a and b, with the Harvey-Leybourne-Newbold
    small-sample correction (t distribution, n - 1 degrees of freedom). statistic < 0: a is more accurate;
    p_value: two-sided."""
    from scipy import stats

    d = np.ravel(errors_a) ** 2 - np.ravel(errors_b) ** 2
    n = len(d)
    if n < 3:
        raise ValueError(f"diebold_mariano: need at least 3 paired errors, got {n}.")
    centred = d - d.mean()
    autocov = [np.dot(centred[k:], centred[: n - k]) / n for k in range(horizon)]
    variance = (autocov[0] + 2 * sum(autocov[1:])) / n
    if variance <= 0:
        return {"statistic": float("nan"), "p_value": float("nan")}
    correction = np.sqrt((n + 1 - 2 * horizon + horizon * (horizon - 1) / n) / n)
    statistic = correction * d.mean() / np.sqrt(variance)
    return {"statistic": float(statistic), "p_value": float(2 * stats.t.sf(abs(statistic), df=n - 1))}


def forecast_figure(times: np.ndarray, actual: np.ndarray, forecasts: dict[str, np.ndarray], *, title: str,
                    ylabel: str, points: int = 500) -> Figure:
    """The last `points` test forecasts against the actual values, one line per model."""
    fig = Figure(figsize=(12, 4), layout="constrained")
    ax = fig.add_subplot()
    ax.plot(times[-points:], np.ravel(actual)[-points:], color="black", linewidth=1.2, label="actual")
    for name, values in forecasts.items():
        ax.plot(times[-points:], np.ravel(values)[-points:], linewidth=0.9, label=name)
    ax.set_title(title)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=8)
    fig.autofmt_xdate()
    return fig


def fit_autoregression(series: np.ndarray, lags: int) -> np.ndarray:
    """The classical baseline: an AR(lags) model with a constant, fitted by statsmodels' AutoReg (OLS) on the
    training series only. Returns [constant, lag 1, ..., lag p] coefficients."""
    from statsmodels.tsa.ar_model import AutoReg

    return np.asarray(AutoReg(np.asarray(series, dtype="float64"), lags=lags, trend="c").fit().params)


def autoregression_forecast(target: np.ndarray, origin_rows: np.ndarray, params: np.ndarray, *, lead: int,
                            horizon: int) -> np.ndarray:
    """Recursive AR forecasts from every origin with fixed coefficients (rolling origin, no refit), using only
    target[<= o]. (origins, horizon) for the steps o + lead ... o + lead + horizon - 1."""
    target = np.asarray(target, dtype="float64")
    lags = len(params) - 1
    if origin_rows.min() < lags - 1:
        raise ValueError(f"autoregression_forecast: origins need {lags} past values; the first origin is row "
                         f"{origin_rows.min()}.")
    history = target[origin_rows[:, None] - np.arange(lags)[None, :]]  # lag 1 first
    steps = []
    for _ in range(lead + horizon - 1):
        step = params[0] + history @ params[1:]
        steps.append(step)
        history = np.concatenate([step[:, None], history[:, :-1]], axis=1)
    return np.stack(steps, axis=1)[:, lead - 1:]
