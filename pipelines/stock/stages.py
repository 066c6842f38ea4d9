"""The stages of the stock pipeline (pipelines.stock holds its options and the story): data -> datasets -> model ->
training -> evaluation -> export -> predict -> report."""

from __future__ import annotations

import dataclasses
import logging
import pathlib

import keras
import numpy as np
import tensorflow as tf

from domain import sources as domain_sources
from domain import stock as stock_data
from domain import timeseries
from pipelines.stock import NAME, Config
from shared import checkpoints, data, layers, reports, training
from shared import export as shared_export

log = logging.getLogger(__name__)
AR_LAGS = 5


def load_data(cfg: Config) -> stock_data.Bars:
    folder = cfg.data_dir or domain_sources.data_folder("stocks")
    source = domain_sources.resolve_auto(cfg.source, folder and pathlib.Path(folder).exists(), remote=None,
                                         offline="msft", given=cfg.data_dir)
    if source == "msft":
        bars = stock_data.load_msft()
    else:
        if not folder:
            raise FileNotFoundError("--source local needs --data-dir (a daily OHLCV CSV or a folder holding one).")
        bars = stock_data.load_csv(stock_data.find_csv(folder), cfg.ticker or None)
    for note in bars.notes:
        log.warning("%s", note)
    if len(bars.dates) < 3 * (cfg.past + cfg.days) + 10:
        raise ValueError(f"{bars.ticker}: {len(bars.dates)} trading days are too few for windows of {cfg.past} days "
                         "split into train, validation and test" + "".join(f"; {n}" for n in bars.notes) + ".")
    log.info("%s %s: %d trading days %s .. %s", bars.source, bars.ticker, len(bars.dates), bars.dates[0],
             bars.dates[-1])
    return bars


def series(cfg: Config, bars: stock_data.Bars) -> tuple[np.ndarray, np.ndarray]:
    """(features (days, 4), target (days,)) with the first max(1, days) rows dropped (no previous close)."""
    table, _ = stock_data.features(bars)
    target = stock_data.forward_target(bars, cfg.days)
    start = max(1, cfg.days)
    return table[start:], target[start:]


def _rows(n: int) -> tuple[slice, slice, slice]:
    return timeseries.chronological_split(n, 0.15, 0.15)


def make_datasets(cfg: Config, bars: stock_data.Bars) -> tuple[tf.data.Dataset, ...]:
    """(window (batch, past, 4), target (batch, 1)): the window ends on day o, the target is log(C[o+days]/C[o])."""
    table, target = series(cfg, bars)
    return tuple(data.windows(table[rows], target[rows], width=cfg.past, lead=cfg.days, horizon=1,
                              batch_size=cfg.batch_size, shuffle_seed=cfg.seed if i == 0 else None)
                 for i, rows in enumerate(_rows(len(target))))


def build_model(cfg: Config, bars: stock_data.Bars) -> keras.Model:
    """Raw feature window -> Normalization (training days only) -> RNN -> Dense -> log return (inverse scaling)."""
    table, target = series(cfg, bars)
    train = _rows(len(target))[0]
    window = keras.Input((cfg.past, table.shape[1]), name="window")
    x = keras.layers.Normalization(axis=-1, mean=table[train].mean(axis=0), variance=table[train].var(axis=0) + 1e-12,
                                   name="normalize")(window)
    x = layers.apply_rnn(x, cfg.rnn)
    x = keras.layers.Dense(1, name="return_normalized")(x)
    out = keras.layers.Normalization(mean=0.0, variance=float(target[train].var()), invert=True, dtype="float32",
                                     name="log_return")(x)
    return keras.Model(window, out, name="stock_rnn")


def plan(cfg: Config, model: keras.Model, bars: stock_data.Bars) -> training.Plan:
    train_ds, val_ds, _ = make_datasets(cfg, bars)
    windows = len(timeseries.origins(_rows(len(series(cfg, bars)[1]))[0], width=cfg.past, lead=cfg.days, horizon=1))
    return training.Plan(model, train_ds, val_ds, loss="mse", metrics=["mae"], patience=3, rates={"samples": windows})


def evaluate(cfg: Config, model: keras.Model, bars: stock_data.Bars) -> dict:
    """Test-period forecasts against the random walk (zero return), last-return persistence and AR: MAE, RMSE,
    MASE (against the random walk), directional accuracy, and a Diebold-Mariano test against the random walk."""
    target = series(cfg, bars)[1]
    train_rows, _, test_rows = _rows(len(target))
    origin_rows = timeseries.origins(test_rows, width=cfg.past, lead=cfg.days, horizon=1)
    forecast = model.predict(make_datasets(cfg, bars)[2], verbose=0)
    actual = timeseries.targets_at(target, origin_rows, lead=cfg.days, horizon=1)
    if forecast.shape != actual.shape:
        raise RuntimeError(f"stock evaluate: {forecast.shape} forecasts for {actual.shape} targets.")
    random_walk = np.zeros_like(actual)
    forecasts = {reports.MODEL: forecast, "random walk (no change)": random_walk,
                 "last return (persistence of returns)": timeseries.persistence(target, origin_rows, lead=cfg.days,
                                                                              horizon=1),
                 f"AR({AR_LAGS}) on returns (statsmodels AutoReg)": timeseries.autoregression_forecast(
                     target, origin_rows, timeseries.fit_autoregression(target[train_rows][cfg.days:], AR_LAGS),
                     lead=cfg.days, horizon=1)}
    table_rows = {}
    for name, values in forecasts.items():
        row = timeseries.forecast_metrics(actual, values, random_walk)
        row["directional accuracy %"] = timeseries.directional_accuracy(actual, values)
        table_rows[name] = row
    up = 100.0 * float(np.mean(actual[actual != 0] > 0))
    table_rows["always up (sign baseline)"] = {"directional accuracy %": up}
    dm = timeseries.diebold_mariano((forecast - actual)[:, 0], actual[:, 0], horizon=cfg.days)
    from scipy.stats import binomtest

    moved = actual[:, 0] != 0
    hits = int(np.sum(np.sign(forecast[moved, 0]) == np.sign(actual[moved, 0])))
    direction_p = binomtest(hits, int(moved.sum()), p=max(up, 100 - up) / 100, alternative="greater").pvalue
    return {"table": table_rows, "diebold_mariano_vs_random_walk": dm, "direction_binomial_p": float(direction_p),
            "origins": origin_rows, "actual": actual, "forecast": forecast}


def summary(cfg: Config, metrics: dict, estimate: dict | None = None) -> dict:
    return {**metrics["table"][reports.MODEL],
            "diebold_mariano_p": metrics["diebold_mariano_vs_random_walk"]["p_value"]}


def load_trained(cfg: Config) -> keras.Model:
    return checkpoints.load_checkpoint(cfg.run_dir, NAME)


def export(cfg: Config, model: keras.Model, bars: stock_data.Bars, metrics: dict,
           root: str | pathlib.Path = shared_export.DEFAULT_ROOT) -> pathlib.Path:
    """serving_default(window [batch, past, 4] raw features of domain.stock.features) -> log_return [batch]."""
    def serve(window):
        return {"log_return": model(window, training=False)[:, 0]}

    table, _ = series(cfg, bars)
    meta = {"config": cfg, "source": f"{bars.source} {bars.ticker}", "metrics": metrics,
            "features": list(stock_data.FEATURES), "ticker": bars.ticker,
            "input_limits": {"serving_default": {
                "window": shared_export.training_range(table[_rows(len(table))[0]])}}}
    signature = [tf.TensorSpec((None, cfg.past, len(stock_data.FEATURES)), tf.float32, name="window")]
    return shared_export.save(model, NAME, serve_fn=serve, input_signature=signature, metadata=meta, root=root)


def predict(cfg: Config, csv_path: str | pathlib.Path, model_path: str | pathlib.Path | None = None) -> dict:
    """Forecast the next log return (and the implied close) from the last window of a daily OHLCV CSV (the
    ticker --ticker names, in a file of several)."""
    served, meta = shared_export.load(model_path or shared_export.latest(NAME), NAME)
    bars = stock_data.load_csv(stock_data.find_csv(csv_path), cfg.ticker or None)
    past, days = meta["config"]["past"], meta["config"]["days"]
    table, _ = stock_data.features(bars)
    if len(table) - 1 < past:
        raise ValueError(f"{csv_path}: {len(table)} trading days; the model needs at least {past + 1}"
                         + "".join(f"; {n}" for n in bars.notes) + ".")
    window = table[-past:][None]
    shared_export.refuse_outside(meta, {"window": window})
    log_return = float(served.signatures["serving_default"](window=tf.constant(window))["log_return"].numpy()[0])
    close = float(bars.column("close")[-1])
    out = {"ticker": bars.ticker, "last_date": str(bars.dates[-1]), "last_close": close, "days_ahead": days,
           "log_return": round(log_return, 6), "implied_close": round(close * float(np.exp(log_return)), 4)}
    if bars.notes:  # rows the reader dropped: said, with the day the forecast starts from
        out["warning"] = "; ".join(bars.notes) + f"; the forecast starts from the last kept day, {bars.dates[-1]}"
        log.warning("%s", out["warning"])
    return out


def build_report(cfg: Config, bars: stock_data.Bars, metrics: dict,
                 timing: dict, estimate: dict | None = None) -> reports.Report:
    name = reports.model_name(cfg.rnn)
    table, dm = reports.shown(metrics["table"], name), metrics["diebold_mariano_vs_random_walk"]
    mase, hits = table[name]["MASE"], table[name]["directional accuracy %"]
    beats = mase < 1 and dm["statistic"] < 0 and dm["p_value"] < 0.05
    verdict = (f"MASE against the random walk: {mase:.3f}; directional accuracy {hits:.1f}% (always-up "
               f"{table['always up (sign baseline)']['directional accuracy %']:.1f}%); Diebold-Mariano statistic "
               f"{dm['statistic']:.2f}, p = {dm['p_value']:.3g}. "
               + ("The model beats the random walk significantly on squared error. " if beats else
                  "The model does not beat the random walk on squared error. ")
               + f"Directional accuracy against the better constant guess (binomial test): p = "
                 f"{metrics['direction_binomial_p']:.3g}"
               + (" (significant)." if metrics["direction_binomial_p"] < 0.05 else " (not significant)."))
    dates = bars.dates[-len(series(cfg, bars)[1]):][metrics["origins"] + cfg.days]
    figure = timeseries.forecast_figure(dates, metrics["actual"], {name: metrics["forecast"]},
                                        title=f"{bars.ticker} {cfg.days}-day log return, test period",
                                        ylabel="log return")
    anchors = {"efficient-market benchmark: random walk (Meese & Rogoff 1983; Fama 1970)": {"MASE": 1.0}}
    return reports.Report(domain=NAME, source=f"{bars.source} {bars.ticker}", metrics=table[name],
                          baselines=table, anchors=anchors, timing=timing, figures={"forecast_vs_actual": figure},
                          sections={"Verdict": verdict, **reports.notes(bars.notes)},
                          extra={"config": dataclasses.asdict(cfg), "diebold_mariano_vs_random_walk": dm,
                                 "direction_binomial_p": metrics["direction_binomial_p"]})

