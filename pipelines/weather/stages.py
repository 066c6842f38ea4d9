"""The stages of the weather pipeline (pipelines.weather holds its options and the story): data -> datasets -> model ->
training -> evaluation -> export -> predict -> report."""

from __future__ import annotations

import dataclasses
import logging
import pathlib

import keras
import numpy as np
import tensorflow as tf

from domain import sources as domain_sources
from domain import timeseries
from domain import weather as weather_data
from pipelines.weather import NAME, Config
from shared import checkpoints, data, layers, reports, training
from shared import export as shared_export

log = logging.getLogger(__name__)
AR_LAGS = 48  # rows: two days of hours, or seven weeks of days


def load_data(cfg: Config) -> weather_data.WeatherSeries:
    """The hourly series of the configured source (see domain.weather)."""
    folder = pathlib.Path(cfg.data_dir) if cfg.data_dir else domain_sources.data_folder("jena")
    source = domain_sources.resolve_auto(cfg.source, (folder / weather_data.JENA_FILE).exists(), remote="jena",
                                         offline="seattle", given=cfg.data_dir)
    if source == "seattle":
        series = weather_data.load_seattle()
    elif source == "local":
        series = weather_data.load_jena_csv(folder / weather_data.JENA_FILE)
    else:
        series = weather_data.load_jena_csv(weather_data.download_jena(folder))
    for note in series.notes:
        log.warning("%s", note)
    log.info("%s: %d %s (%s .. %s), %d features", series.source, len(series.times),
             "days" if series.step_hours == 24 else "hours", series.times[0], series.times[-1], len(series.names))
    return series


def _rows(series: weather_data.WeatherSeries) -> tuple[slice, slice, slice]:
    return timeseries.chronological_split(len(series.times), 0.15, 0.15)


def make_datasets(cfg: Config, series: weather_data.WeatherSeries) -> tuple[tf.data.Dataset, ...]:
    """(window (batch, past, features) raw values, target (batch, horizon) degC) for train/validation/test rows,
    in time order (training windows shuffled under the seed)."""
    width, lead, horizon = cfg.steps(series.step_hours)
    out = []
    for part, rows in zip(("train", "validation", "test"), _rows(series), strict=True):
        out.append(data.windows(series.values[rows], series.target[rows], width=width, lead=lead, horizon=horizon,
                                batch_size=cfg.batch_size, shuffle_seed=cfg.seed if part == "train" else None))
    return tuple(out)


def build_model(cfg: Config, series: weather_data.WeatherSeries) -> keras.Model:
    """Raw window -> Normalization (training rows' statistics) -> RNN -> Dense(horizon) -> degC (inverse
    normalization of the target), so the served model takes and returns physical units."""
    train_rows = _rows(series)[0]
    values, target = series.values[train_rows], series.target[train_rows]
    width, _, horizon = cfg.steps(series.step_hours)
    window = keras.Input((width, len(series.names)), name="window")
    x = keras.layers.Normalization(axis=-1, mean=values.mean(axis=0), variance=values.var(axis=0) + 1e-6,
                                   name="normalize")(window)
    x = layers.apply_rnn(x, cfg.rnn)
    x = keras.layers.Dense(horizon, name="forecast_normalized")(x)
    forecast = keras.layers.Normalization(mean=float(target.mean()), variance=float(target.var()), invert=True,
                                          dtype="float32", name="forecast")(x)
    return keras.Model(window, forecast, name="weather_rnn")


def plan(cfg: Config, model: keras.Model, series: weather_data.WeatherSeries) -> training.Plan:
    train_ds, val_ds, _ = make_datasets(cfg, series)
    width, lead, horizon = cfg.steps(series.step_hours)
    windows = len(timeseries.origins(_rows(series)[0], width=width, lead=lead, horizon=horizon))
    return training.Plan(model, train_ds, val_ds, loss="mse", metrics=["mae"], patience=3, rates={"samples": windows})


def evaluate(cfg: Config, model: keras.Model, series: weather_data.WeatherSeries) -> dict:
    """Test-period forecasts of the model and the baselines at every window origin: MAE, RMSE, MASE against
    persistence, and a Diebold-Mariano test of the model against persistence."""
    width, lead, horizon = cfg.steps(series.step_hours)
    train_rows, _, test_rows = _rows(series)
    origin_rows = timeseries.origins(test_rows, width=width, lead=lead, horizon=horizon)
    forecast = model.predict(make_datasets(cfg, series)[2], verbose=0)
    actual = timeseries.targets_at(series.target, origin_rows, lead=lead, horizon=horizon)
    if forecast.shape != actual.shape:
        raise RuntimeError(f"weather evaluate: {forecast.shape} forecasts for {actual.shape} targets; windows and "
                           "origins disagree.")
    naive = timeseries.persistence(series.target, origin_rows, lead=lead, horizon=horizon)
    ar = timeseries.autoregression_forecast(series.target, origin_rows,
                                            timeseries.fit_autoregression(series.target[train_rows], AR_LAGS),
                                            lead=lead, horizon=horizon)
    forecasts = {reports.MODEL: forecast, "persistence (last value)": naive,
                 f"seasonal naive ({series.season} rows)": timeseries.seasonal_naive(
                     series.target, origin_rows, lead=lead, horizon=horizon, season=series.season),
                 f"AR({AR_LAGS}) (statsmodels AutoReg)": ar}
    table = {name: timeseries.forecast_metrics(actual, values, naive) for name, values in forecasts.items()}
    dm = timeseries.diebold_mariano((forecast - actual).mean(axis=1), (naive - actual).mean(axis=1),
                                    horizon=lead + horizon - 1)
    return {"table": table, "diebold_mariano_vs_persistence": dm, "origins": origin_rows, "actual": actual,
            "forecasts": forecasts}


def summary(cfg: Config, metrics: dict, estimate: dict | None = None) -> dict:
    return {**metrics["table"][reports.MODEL],
            "persistence MAE": metrics["table"]["persistence (last value)"]["MAE"],
            "diebold_mariano_p": metrics["diebold_mariano_vs_persistence"]["p_value"]}


def load_trained(cfg: Config) -> keras.Model:
    return checkpoints.load_checkpoint(cfg.run_dir, NAME)


def export(cfg: Config, model: keras.Model, series: weather_data.WeatherSeries, metrics: dict,
           root: str | pathlib.Path = shared_export.DEFAULT_ROOT) -> pathlib.Path:
    """serving_default(window [batch, rows, features] raw float32) -> forecast [batch, horizon] degC."""
    def serve(window):
        return {"forecast": model(window, training=False)}

    width, lead, horizon = cfg.steps(series.step_hours)
    meta = {"config": cfg, "source": series.source, "metrics": metrics, "features": series.names,
            "target": series.target_name, "steps": {"width": width, "lead": lead, "horizon": horizon,
                                                    "step_hours": series.step_hours},
            "input_limits": {"serving_default": {"window": shared_export.training_range(
                series.values[_rows(series)[0]])}}}
    signature = [tf.TensorSpec((None, width, len(series.names)), tf.float32, name="window")]
    return shared_export.save(model, NAME, serve_fn=serve, input_signature=signature, metadata=meta, root=root)


def predict(cfg: Config, csv_path: str | pathlib.Path, model_path: str | pathlib.Path | None = None) -> dict:
    """Forecast from the last window of a CSV (Jena format, or 'date,T (degC)' for a model trained on the Seattle
    series) with the exported model (latest by default)."""
    served, meta = shared_export.load(model_path or shared_export.latest(NAME), NAME)
    series = weather_data.load_csv(csv_path)
    if series.names != meta["features"]:
        raise ValueError(f"{csv_path}: gives features {series.names}, the model was trained on {meta['features']}; "
                         "use a model trained on this kind of data (make train-weather SOURCE=local DATA_DIR=...).")
    steps = meta["steps"]
    if len(series.times) < steps["width"]:
        raise ValueError(f"{csv_path}: {len(series.times)} rows; the model needs a window of {steps['width']}.")
    window = series.values[-steps["width"]:][None]
    shared_export.refuse_outside(meta, {"window": window})
    forecast = served.signatures["serving_default"](window=tf.constant(window))["forecast"].numpy()[0]
    last = series.times[-1]
    step = np.timedelta64(steps["step_hours"], "h")
    return {"last_observation": str(last), "target": meta["target"],
            "forecast_degC": {str((last + (steps["lead"] + k) * step).astype("datetime64[s]")): round(float(v), 2)
                              for k, v in enumerate(forecast)}}


def build_report(cfg: Config, series, metrics: dict,
                 timing: dict, estimate: dict | None = None) -> reports.Report:
    width, lead, horizon = cfg.steps(series.step_hours)
    model_name = reports.model_name(cfg.rnn)
    times = series.times[metrics["origins"] + lead + horizon - 1]
    shown = reports.shown(metrics["forecasts"], model_name)
    figure = timeseries.forecast_figure(times, metrics["actual"][:, -1],
                                        {name: shown[name][:, -1] for name in (model_name, "persistence (last value)")},
                                        title=f"{series.target_name} {cfg.lead} h ahead, test period", ylabel="degC")
    table = reports.shown(metrics["table"], model_name)
    dm = metrics["diebold_mariano_vs_persistence"]
    beats = table[model_name]["MASE"] < 1 and dm["p_value"] < 0.05
    verdict = (f"The model's MASE against persistence is {table[model_name]['MASE']:.3f}; Diebold-Mariano statistic "
               f"{dm['statistic']:.2f}, p = {dm['p_value']:.3g}: "
               + ("it beats persistence significantly." if beats else "it does not beat persistence significantly."))
    anchors = {"Chollet, DLwP 2nd ed. (Jena, persistence, 24 h ahead)": weather_data.CHOLLET_PERSISTENCE_MAE}
    task = (f"{series.target_name} {'every row up to ' if cfg.multi_step else ''}{cfg.lead} h ahead from the past "
            f"{cfg.past} h ({width} rows of {series.step_hours} h); {len(metrics['origins'])} test windows; "
            f"seasonal naive: the value {series.season} rows earlier (for hourly data and a 24 h lead it equals "
            "persistence)")
    return reports.Report(domain=NAME, source=series.source, metrics=table[model_name],
                          baselines={k: v for k, v in table.items()}, anchors=anchors, timing=timing,
                          figures={"forecast_vs_actual": figure},
                          sections={"Task": task, "Verdict": verdict,
                                    **reports.notes(series.notes)},
                          extra={"config": dataclasses.asdict(cfg),
                                 "diebold_mariano_vs_persistence": dm})

