# Over 400 lines: three experiments (comparison, gradients, streaming) that share their report writer.
"""The work of `python -m tools.anatomy` (options and commands: tools/anatomy/__init__.py)."""

from __future__ import annotations

import dataclasses
import json
import logging
import pathlib
import time

import keras
import numpy as np
import tensorflow as tf
from matplotlib.figure import Figure

from domain import timeseries
from shared import gradients, pipeline, reports, streaming, training
from tools.anatomy import DOMAINS

log = logging.getLogger("anatomy")
TYPES = {"simple RNN": "simple:{u}", "LSTM": "lstm:{u}", "GRU": "gru:{u}", "bidirectional GRU": "bigru:{u}",
         "stacked GRU (2 layers)": "gru:{u}x2"}
DEFAULT_SEEDS = {"ecg": (1337, 1338), "sentiment": (1337, 1338, 1339), "weather": (1337, 1338, 1339)}
DEFAULT_EPOCHS = {"ecg": 8, "sentiment": 6, "weather": 15}
# ECG compares the types on one fixed split (held-out DS1 records when DS2 is absent), without cross-validation;
# sentiment compares single RNNs (its default averages three)
COMPARE_CHANGES = {"ecg": {"hold_out": True, "cv_folds": 0}, "sentiment": {"members": 1}}


# ------------------------------------------------------------------------------------------------ compare

def _module(domain: str):
    import importlib

    if domain not in DOMAINS:
        raise ValueError(f"compare --domain {domain!r}: expected one of {list(DOMAINS)}.")
    return importlib.import_module(f"pipelines.{domain}")


def compare_config(domain: str, *, quick: bool = False, **changes):
    """The pipeline's Config (its QUICK settings first when `quick`), with `changes` applied."""
    module = _module(domain)
    base = {**(dict(module.QUICK) if quick else {}), **COMPARE_CHANGES.get(domain, {})}
    base.pop("rnn", None)
    base.update({k: v for k, v in changes.items() if v is not None})
    return dataclasses.replace(module.Config(), **base)


def _probe_latency(model: keras.Model, batch) -> float:
    """Median ms of one forward pass on `batch` through a tf.function (not `predict`)."""
    call = tf.function(lambda x: model(x, training=False))
    call(batch)
    times = []
    for _ in range(10):
        start = time.perf_counter()
        tf.nest.map_structure(lambda t: t.numpy(), call(batch))
        times.append(time.perf_counter() - start)
    return 1000 * float(np.median(times))


def trial(domain: str, cfg, data) -> dict:
    """Train the pipeline's model with cfg.rnn and cfg.seed as the driver does; score it on the test split
    (its evaluate and summary); time inference on a batch of its training input."""
    module = _module(domain)
    keras.utils.set_random_seed(cfg.seed)
    model = module.build_model(cfg, data)
    trained = pipeline.train(module, cfg, model, data, verbose=0)
    headline = module.summary(cfg, module.evaluate(cfg, model, data))
    probe = next(iter(module.plan(cfg, model, data).train))[0]
    probe_size = len(tf.nest.flatten(probe)[0])
    return {**{k: headline[k] for k in SCORES[domain]}, "parameters": model.count_params(),
            "epochs": trained.timing["epochs"], "train_seconds": trained.timing["train_seconds"],
            "inference_ms_per_1000": round(_probe_latency(model, probe) * 1000 / probe_size, 3)}


SCORES = {"ecg": ("macro F1", "accuracy"), "sentiment": ("accuracy", "ROC AUC"), "weather": ("MAE", "MASE")}
HEADLINE = {"ecg": ("macro F1", True), "sentiment": ("accuracy", True), "weather": ("MAE", False)}


def summarize(trials: dict[str, list[dict]]) -> dict[str, dict]:
    """Per type: mean and standard deviation over seeds of every numeric column."""
    rows = {}
    for name, runs in trials.items():
        row = {}
        for key in runs[0]:
            values = np.array([r[key] for r in runs], dtype="float64")
            row[key] = round(float(values.mean()), 4)
            if len(runs) > 1 and key not in ("parameters",):
                row[f"{key} sd"] = round(float(values.std(ddof=1)), 4)
        row["seeds"] = len(runs)
        rows[name] = row
    return rows


def compare_figure(summary: dict[str, dict], metric: str, higher_better: bool) -> Figure:
    fig = Figure(figsize=(11, 4), layout="constrained")
    for i, (x_key, x_label) in enumerate((("parameters", "parameters"), ("train_seconds", "training time (s)"))):
        ax = fig.add_subplot(1, 2, i + 1)
        for name, row in summary.items():
            ax.errorbar(row[x_key], row[metric], yerr=row.get(f"{metric} sd", 0.0),
                        xerr=row.get(f"{x_key} sd", 0.0), fmt="o", capsize=3, label=name)
        ax.set_xlabel(x_label)
        ax.set_ylabel(f"{metric} ({'higher' if higher_better else 'lower'} is better)")
        ax.set_xscale("log")
        ax.grid(alpha=0.3)
        ax.set_title(f"{metric} vs {x_label} (mean +- sd over seeds)", fontsize=9)
    fig.axes[0].legend(fontsize=8)
    return fig


def compare(domain: str, *, units: int = 64, seeds=None, quick: bool = False, run_dir: str | None = None,
            **changes) -> dict:
    """Train the five RNN types on `domain` and write runs/compare-<domain>/report.{md,json} + compare.png."""
    start = time.perf_counter()
    seeds = tuple(seeds or ((1337,) if quick else DEFAULT_SEEDS[domain]))
    if changes.get("epochs") is None:
        changes["epochs"] = None if quick else DEFAULT_EPOCHS[domain]
    run_dir = pathlib.Path(run_dir or f"runs/compare-{domain}")
    base = compare_config(domain, quick=quick, **changes)
    data = _module(domain).load_data(base)
    specs = {name: template.format(u=units) for name, template in TYPES.items()}
    trials: dict[str, list[dict]] = {}
    for name, spec in specs.items():
        for seed in seeds:
            folder = run_dir / f"{spec.replace(':', '-')}-seed{seed}"
            cfg = dataclasses.replace(base, rnn=spec, seed=seed, run_dir=str(folder))
            trials.setdefault(name, []).append(trial(domain, cfg, data))
            log.info("%s %s seed %d: %s", domain, spec, seed, json.dumps(trials[name][-1]))
    summary = {name: {"spec": specs[name], **row} for name, row in summarize(trials).items()}
    metric, higher = HEADLINE[domain]
    best = (max if higher else min)(summary, key=lambda n: summary[n][metric])
    source = getattr(data, "source", "")
    text = (f"Same data ({source}), split, model around the recurrent block, training helper (Adam, early stopping "
            f"as in `make train-{domain}`), at most {base.epochs} epochs, {units} units per layer, seeds "
            f"{', '.join(map(str, seeds))}. Only the recurrent spec changes. Best mean {metric}: **{best}** "
            f"({summary[best][metric]:.4g}). Inference: one forward pass on 256 test items through a tf.function, "
            "per 1,000 items.")
    paths = reports.Report(domain=f"compare-{domain}", source=source,
                               metrics={"by RNN type": {n: {k: v for k, v in r.items()} for n, r in summary.items()}},
                               baselines={}, anchors=COMPARE_ANCHORS,
                               timing={"run_seconds": round(time.perf_counter() - start, 1),
                                       "train_seconds": round(sum(r["train_seconds"] for rs in trials.values() for r in rs), 1),
                                       "samples_per_second": None},
                               figures={"compare": compare_figure(summary, metric, higher)},
                               sections={"Setting": text}, extra={"trials": trials,
                               "config": dataclasses.asdict(base)}).write(run_dir)
    return {"report": str(paths["md"]), "best": best, "by_type": summary}


COMPARE_ANCHORS = {
    "Chung et al. 2014 (Empirical evaluation of gated RNNs)": {
        "finding": "GRU and LSTM both clearly beat tanh RNN on music and speech modelling; neither wins everywhere",
        "source": "arXiv:1412.3555"},
    "Greff et al. 2017 (LSTM: a search space odyssey)": {
        "finding": "no LSTM variant beats vanilla LSTM significantly; forget gate and output activation matter most",
        "source": "IEEE TNNLS 28(10)"},
    "Jozefowicz et al. 2015": {
        "finding": "GRU beats LSTM on most tasks unless LSTM forget bias is initialised to 1 (Keras default)",
        "source": "ICML 2015"},
}


# ---------------------------------------------------------------------------------------------- gradients

GRADIENT_TYPES = ("simple", "lstm", "gru")


def adding_gradients(steps: int, *, units: int = 32, train_examples: int = 4096, epochs: int = 15,
                     seed: int = 0, learning_rate: float = 1e-2) -> dict:
    """Per cell type: ||dL/dh_t|| on 128 held-out adding-problem sequences at initialisation and after training
    on `train_examples` sequences for `epochs` epochs (Adam, batch 64), and the held-out MSE after training."""
    x, y = gradients.adding_problem(train_examples, steps, seed=seed)
    xv, yv = gradients.adding_problem(512, steps, seed=seed + 1)
    out = {}
    for kind in GRADIENT_TYPES:
        keras.utils.set_random_seed(seed)
        model = gradients.last_step_model(2, f"{kind}:{units}")
        model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="mse")
        init = gradients.state_gradient_norms(model, xv[:128], yv[:128])
        start = time.perf_counter()
        model.fit(x, y, batch_size=64, epochs=epochs, verbose=0, shuffle=True)
        trained = gradients.state_gradient_norms(model, xv[:128], yv[:128])
        out[kind] = {"init": init, "trained": trained, "mse": float(model.evaluate(xv, yv, verbose=0)),
                     "train_seconds": round(time.perf_counter() - start, 1)}
    return out


def clipping_effect(steps: int = 20, *, gain: float = 3.0, epochs: int = 8, examples: int = 4096,
                    seed: int = 0, run_dir: str | pathlib.Path | None = None) -> dict:
    """A SimpleRNN (32 units) on the adding problem whose recurrent matrix is scaled by `gain` (> 1: gradients
    explode through time), trained by the shared fit helper with SGD (lr 0.05, momentum 0.9) without clipping,
    with clipnorm=1 and with clipvalue=0.1: the global gradient norm at initialisation, the largest one seen at
    epoch ends, the loss per epoch and the held-out MSE."""
    import tempfile

    x, y = gradients.adding_problem(examples, steps, seed=seed)
    xv, yv = gradients.adding_problem(512, steps, seed=seed + 1)
    root = pathlib.Path(run_dir or tempfile.mkdtemp(prefix="clipping-"))
    results = {}
    for label, clip in (("no clipping", {}), ("clipnorm=1.0", {"clipnorm": 1.0}),
                        ("clipvalue=0.1", {"clipvalue": 0.1})):
        keras.utils.set_random_seed(seed)
        model = gradients.last_step_model(2, "simple:32")
        cell = model.get_layer(index=1).cell
        cell.recurrent_kernel.assign(cell.recurrent_kernel * gain)
        norms = [_gradient_norm(model, xv[:256], yv[:256])]
        probe = keras.callbacks.LambdaCallback(
            on_epoch_end=lambda epoch, logs, model=model, norms=norms: norms.append(
                _gradient_norm(model, xv[:256], yv[:256])))
        train = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(len(x), seed=seed).batch(64)
        settings = training.Settings(run_dir=root / label.replace("=", "-").replace(" ", "-"), epochs=epochs,
                                     learning_rate=0.05, seed=seed, verbose=0)
        history = training.fit(training.Plan(model, train, None, loss="mse", optimizer="sgd", patience=epochs,
                                             tensorboard=False, callbacks=[probe], **clip), settings)
        results[label] = {"gradient_norm_at_init": norms[0], "largest_gradient_norm_after_an_epoch": max(norms[1:]),
                          "loss_per_epoch": [float(v) for v in history.history["loss"]],
                          "held_out_mse": float(model.evaluate(xv, yv, verbose=0))}
    return results


def _gradient_norm(model: keras.Model, x, y) -> float:
    """The global norm of the mean-squared-error gradient over all trainable weights."""
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.square(model(x, training=False) - y))
    return float(tf.linalg.global_norm(tape.gradient(loss, model.trainable_variables)))


def weather_window_gradients(window: int, *, units: int = 32, epochs: int = 5, seed: int = 0) -> dict:
    """||dL/dh_t|| over a long window (`window` rows) of the offline weather series (Seattle, daily), forecasting
    the next row's maximum temperature, at initialisation and after `epochs` epochs, per cell type."""
    from domain import weather as weather_data

    series = weather_data.load_seattle()
    train_rows = timeseries.chronological_split(len(series.times), 0.15, 0.15)[0]
    values = series.values[train_rows]
    values = (values - values.mean(axis=0)) / (values.std(axis=0) + 1e-6)
    target = values[:, series.names.index(series.target_name)]
    starts = np.arange(0, len(values) - window - 1)
    x = np.stack([values[s:s + window] for s in starts]).astype("float32")
    y = target[starts + window][:, None].astype("float32")
    out = {}
    for kind in GRADIENT_TYPES:
        keras.utils.set_random_seed(seed)
        model = gradients.last_step_model(x.shape[-1], f"{kind}:{units}")
        model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
        init = gradients.state_gradient_norms(model, x[:128], y[:128])
        model.fit(x, y, batch_size=32, epochs=epochs, verbose=0, shuffle=True)
        out[kind] = {"init": init, "trained": gradients.state_gradient_norms(model, x[:128], y[:128]),
                     "mse": float(model.evaluate(x, y, verbose=0))}
    return out


def gradient_figure(results: dict, title: str) -> Figure:
    fig = Figure(figsize=(11, 4), layout="constrained")
    for i, stage in enumerate(("init", "trained")):
        ax = fig.add_subplot(1, 2, i + 1)
        for kind, r in results.items():
            norms = np.maximum(np.asarray(r[stage]), 1e-30)
            ax.semilogy(np.arange(1, len(norms) + 1), norms, label=kind)
        ax.set_xlabel("time step t")
        ax.set_ylabel("mean ||dL/dh_t||")
        ax.set_title(f"{title}: {'at initialisation' if stage == 'init' else 'after training'}", fontsize=9)
        ax.grid(alpha=0.3, which="both")
        ax.legend()
    return fig


def clipping_figure(results: dict) -> Figure:
    fig = Figure(figsize=(6, 4), layout="constrained")
    ax = fig.add_subplot()
    for label, r in results.items():
        ax.plot(np.arange(1, len(r["loss_per_epoch"]) + 1), r["loss_per_epoch"], marker="o", label=label)
    ax.axhline(1 / 6, color="grey", linestyle="--", label="predict the mean (1/6)")
    ax.set_xlabel("epoch")
    ax.set_ylabel("training MSE")
    ax.set_yscale("log")
    ax.set_title("SimpleRNN with exploding gradients: clipping", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def gradients_report(*, steps: int = 50, quick: bool = False, run_dir: str = "runs/gradients") -> dict:
    """Run the three gradient studies and write runs/gradients/report.{md,json} + PNGs."""
    start = time.perf_counter()
    if quick:
        adding = adding_gradients(20, units=8, train_examples=256, epochs=1)
        weather = weather_window_gradients(30, units=8, epochs=1)
        clipping = clipping_effect(10, epochs=1, examples=256)
    else:
        adding = adding_gradients(steps)
        weather = weather_window_gradients(180)
        clipping = clipping_effect(run_dir=pathlib.Path(run_dir) / "clipping")
    table = {}
    for kind in GRADIENT_TYPES:
        table[kind] = {"adding: dL/dh_1 / dL/dh_T at init": gradients.decay(adding[kind]["init"]),
                       "adding: ... after training": gradients.decay(adding[kind]["trained"]),
                       "adding: held-out MSE (mean predictor 0.167)": adding[kind]["mse"],
                       "weather: dL/dh_1 / dL/dh_T at init": gradients.decay(weather[kind]["init"]),
                       "weather: ... after training": gradients.decay(weather[kind]["trained"])}
    clip_table = {label: {k: v for k, v in r.items() if k != "loss_per_epoch"} | {"first epoch loss":
                                                                                 r["loss_per_epoch"][0]}
                  for label, r in clipping.items()}
    steps_used = len(adding["simple"]["init"])
    text = (f"Adding problem: {steps_used} steps, two marked values to sum (Hochreiter & Schmidhuber 1997); "
            "norms are the mean over 128 held-out sequences of ||dL_i/dh_t||, with h_t the hidden state after step t "
            "and L the squared error of the prediction made from the last state. The ratio dL/dh_1 / dL/dh_T says how "
            "much of the error signal reaches the first step. Weather: a window of "
            f"{len(weather['simple']['init'])} days of the Seattle series (standardized), predicting the next day's "
            "maximum temperature.")
    paths = reports.Report(domain="gradients through time", source="adding problem (generated) + Seattle "
                               "daily weather (bundled)", metrics={"decay": table, "clipping": clip_table},
                               baselines={}, anchors=GRADIENT_ANCHORS,
                               timing={"run_seconds": round(time.perf_counter() - start, 1), "train_seconds": None,
                                       "samples_per_second": None},
                               figures={"gradients_adding": gradient_figure(adding, "adding problem"),
                                        "gradients_weather": gradient_figure(weather, "weather window"),
                                        "clipping": clipping_figure(clipping)},
                               sections={"Setting": text},
                               extra={"norms": {"adding": adding, "weather": weather},
                                      "clipping_runs": clipping}).write(run_dir)
    return {"report": str(paths["md"]), "decay": table, "clipping": clip_table}


GRADIENT_ANCHORS = {
    "Bengio, Simard & Frasconi 1994": {"finding": "gradient-based learning of long-term dependencies is difficult: "
                                       "gradients vanish or explode exponentially in the time lag",
                                       "source": "IEEE Trans. Neural Networks 5(2)"},
    "Hochreiter & Schmidhuber 1997": {"finding": "LSTM solves the adding problem at lags a simple RNN cannot",
                                      "source": "Neural Computation 9(8)"},
    "Pascanu, Mikolov & Bengio 2013": {"finding": "clip the gradient norm against explosion",
                                       "source": "ICML 2013"},
}


# -------------------------------------------------------------------------------------------------- stream

STREAMS = 4  # contiguous streams the training rows are cut into (truncated BPTT)


def stream_figure(series, times: np.ndarray, actual: np.ndarray, streamed: np.ndarray, chunks: list, spec: str,
                  mae: float, naive: float) -> Figure:
    """The streamed forecast over the test period against the actual values, the chunk borders marked."""
    fig = Figure(figsize=(11, 4), layout="constrained")
    ax = fig.add_subplot()
    ax.plot(times, actual, color="black", linewidth=1, label="actual")
    ax.plot(times, streamed, color="tab:orange", linewidth=1, label=f"streamed forecast ({spec})")
    edges = np.cumsum([len(o) for o in chunks])[:-1]
    ax.vlines(times[edges], *ax.get_ylim(), color="grey", alpha=0.15, linewidth=0.5, label="chunk borders")
    ax.set_ylabel(f"{series.target_name}")
    ax.set_title(f"{series.source}: next-{'day' if series.step_hours == 24 else 'hour'} forecast, streamed chunk "
                 f"by chunk (MAE {mae:.2f}, persistence {naive:.2f})", fontsize=9)
    ax.legend(fontsize=8)
    return fig


def stream(*, source: str = "seattle", data_dir: str = "", spec: str = "gru:32", chunk: int = 30, epochs: int = 150,
           quick: bool = False, seed: int = 1337, run_dir: str = "runs/stream") -> dict:
    """Train a per-step weather forecaster with truncated BPTT, stream the test period through it chunk by chunk
    and write runs/stream/report.{md,json} + stream.png."""
    from pipelines import weather

    start, streams = time.perf_counter(), STREAMS
    if quick:
        epochs, spec = 2, "gru:8"
    series = weather.load_data(weather.Config(source=source, data_dir=data_dir))
    train_rows, val_rows, test_rows = timeseries.chronological_split(len(series.times), 0.15, 0.15)
    target = series.target
    # the model sees row t and forecasts the target at row t + 1 (the next day, or the next hour)
    inputs, future = series.values[:-1], target[1:]
    train_x, train_y = inputs[train_rows], future[train_rows]
    mean, variance = train_x.mean(axis=0), train_x.var(axis=0) + 1e-6
    y_mean, y_std = float(train_y.mean()), float(train_y.std())
    keras.utils.set_random_seed(seed)
    model = streaming.sequence_model(inputs.shape[1], spec, 1, batch_size=streams, stateful=True, mean=mean,
                                     variance=variance, name="stream_rnn")
    dataset = streaming.tbptt_dataset(train_x, ((train_y - y_mean) / y_std)[:, None], streams=streams, chunk=chunk)
    history = training.fit(training.Plan(model, dataset, None, loss="mse", patience=epochs, tensorboard=False,
                                         callbacks=[streaming.ResetStates()]),
                           training.Settings(run_dir=run_dir, epochs=epochs, seed=seed, jit_compile=False, verbose=0))
    # a stateless twin (any batch, whole sequence) and a streaming twin (batch 1, state carried)
    whole = streaming.sequence_model(inputs.shape[1], spec, 1, mean=mean, variance=variance, name="stream_rnn")
    whole.set_weights(model.get_weights())
    streamer = streaming.Streamer(whole)
    warm = inputs[: test_rows.start]  # everything before the test period sets the state
    streamer.feed(warm)
    test_x, test_y = inputs[test_rows], future[test_rows]
    outputs, cut = [], 0
    rng = np.random.default_rng(seed)
    while cut < len(test_x):  # chunks of random length, as a live feed would deliver them
        size = int(rng.integers(1, 3 * chunk))
        outputs.append(streamer.feed(test_x[cut:cut + size]))
        cut += size
    streamed = np.concatenate(outputs)[:, 0] * y_std + y_mean
    at_once = whole(inputs[None, : test_rows.stop], training=False).numpy()[0, test_rows, 0] * y_std + y_mean
    difference = float(np.abs(streamed - at_once).max())
    persistence = inputs[test_rows][:, series.names.index(series.target_name)]
    mae = float(np.mean(np.abs(streamed - test_y)))
    naive = float(np.mean(np.abs(persistence - test_y)))
    metrics = {"MAE": round(mae, 4), "MASE vs persistence": round(mae / naive, 4),
               "max |streamed - whole sequence|": difference, "test steps": len(test_y),
               "chunks fed": len(outputs)}
    fig = stream_figure(series, series.times[1:][test_rows], test_y, streamed, outputs, spec, mae, naive)
    text = (f"Trained with truncated BPTT: the {len(train_x)} training rows cut into {streams} contiguous streams, "
            f"chunks of {chunk} rows, state carried between chunks by stateful layers, reset each epoch "
            f"({history.timing['epochs']} epochs). Served by `shared.streaming.Streamer`: the rows before the test "
            f"period warm the state, then the test period arrives in {len(outputs)} chunks of random length; the "
            f"streamed outputs differ from one whole-sequence pass by at most {difference:.2e}.")
    paths = reports.Report(domain="streaming forecaster", source=series.source, metrics=metrics,
                               baselines={"persistence (this row's value)": {"MAE": round(naive, 4)}}, anchors={},
                               timing={**history.timing, "run_seconds": round(time.perf_counter() - start, 1)},
                               figures={"stream": fig}, sections={"Setting": text}).write(run_dir)
    return {"report": str(paths["md"]), **metrics, "persistence MAE": round(naive, 4)}


# ---------------------------------------------------------------------------------------------------- CLI
