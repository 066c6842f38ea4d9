"""The stages of the anomaly pipeline (pipelines.anomaly holds its options and the story): data -> datasets -> model ->
training -> evaluation -> export -> predict -> report."""

from __future__ import annotations

import csv
import dataclasses
import logging
import pathlib

import keras
import numpy as np
import tensorflow as tf

from domain import anomaly as nab
from domain import sources as domain_sources
from pipelines.anomaly import NAME, Config
from shared import checkpoints, layers, reports, training
from shared import data as shared_data
from shared import export as shared_export

log = logging.getLogger(__name__)
RNN = "GRU forecaster + anomaly likelihood"
ONLINE = "GRU forecaster learning online + anomaly likelihood"
PERSISTENCE = "persistence forecast + anomaly likelihood"


def load_data(cfg: Config) -> nab.Corpus:
    folder = cfg.data_dir or nab.default_data_dir()
    source = domain_sources.resolve_auto(cfg.source, bool(folder), remote=None, given=cfg.data_dir)
    if source == "local":
        if not folder:
            raise FileNotFoundError("--source local needs --data-dir (a folder in NAB's layout: data/, labels/).")
        corpus = nab.load_folder(folder)
    else:
        corpus = nab.generated_corpus(cfg.synthetic_series, seed=cfg.seed)
    for note in corpus.notes:
        log.warning("%s", note)
    log.info("%s: %d points, %d labelled windows", corpus.source, sum(len(s.values) for s in corpus.series),
             sum(len(s.windows) for s in corpus.series))
    return corpus


# ------------------------------------------------------------------------------------------------ the model

def scale(windows: np.ndarray | tf.Tensor, ops=np):
    """(mean, spread) of each window of raw values: the spread is the standard deviation, at least 0.1% of the
    level (a flat window must not make every later change infinite)."""
    mean = ops.mean(windows, axis=-1, keepdims=True)
    sd = ops.std(windows, axis=-1, keepdims=True)
    return mean, ops.maximum(sd, 1e-3 * (1.0 + ops.abs(mean)))


@keras.saving.register_keras_serializable(package="rnn_suite")
class WindowScale(keras.layers.Layer):
    """Raw windows (batch, window) -> the same in units of their own spread around their own mean (batch, window,
    1): one forecaster for series of any level and scale."""

    def call(self, windows):
        mean, sd = scale(windows, keras.ops)
        return ((windows - mean) / sd)[:, :, None]


def build_model(cfg: Config, corpus: nab.Corpus | None = None) -> keras.Model:
    """raw window (batch, window) -> the next value in the window's own units (batch, 1)."""
    values = keras.Input((cfg.window,), name="values")
    x = layers.apply_rnn(WindowScale(name="scaled")(values), cfg.rnn)
    return keras.Model(values, keras.layers.Dense(1, dtype="float32", name="forecast")(x), name="forecaster")


def windows_of(values: np.ndarray, window: int, end: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(the `window` values before each point t >= window, up to `end`; the points) as float32."""
    values = np.asarray(values, dtype="float32")[:end]
    if len(values) <= window:
        return np.zeros((0, window), "float32"), np.zeros(0, "float32")
    return np.lib.stride_tricks.sliding_window_view(values[:-1], window), values[window:]


def plan(cfg: Config, model: keras.Model, corpus: nab.Corpus) -> training.Plan:
    """Every series' probationary period (no labels, nothing after it): forecast the next value in the window's
    units; early stopping on a random tenth of those windows."""
    inputs, targets = zip(*(windows_of(s.values, cfg.window, s.probation) for s in corpus.series), strict=True)
    x, y = np.concatenate(inputs), np.concatenate(targets)
    mean, sd = scale(x)
    z = ((y[:, None] - mean) / sd).astype("float32")
    order = np.random.default_rng(cfg.seed).permutation(len(x))
    held, kept = order[:max(1, len(x) // 10)], order[max(1, len(x) // 10):]
    train_ds = shared_data.shuffled(tf.data.Dataset.from_tensor_slices((x[kept], z[kept])), cfg.seed, len(kept)).batch(
        cfg.batch_size)
    val_ds = tf.data.Dataset.from_tensor_slices((x[held], z[held])).batch(cfg.batch_size)
    log.info("training windows: %d from the probationary periods of %d series", len(x), len(corpus.series))
    return training.Plan(model, train_ds, val_ds, loss="huber", patience=4, clipnorm=1.0, rates={"samples": len(kept)})


def errors(model: keras.Model, values: np.ndarray, window: int, scaled: bool = False) -> np.ndarray:
    """Each point's forecast error |x - forecast| in the series' units (0 for the first `window` points), or with
    `scaled` in its window's spread. The anomaly scores read the first: a window's spread is tiny where the series
    is flat, and its scaled errors there swamp the real anomalies (measured: NAB standard 7.2 scaled, 29.8 in the
    series' units, on the 18 series here)."""
    x, y = windows_of(values, window)
    out = np.zeros(len(values))
    if len(x):
        mean, sd = scale(x)
        forecast = model.predict(x, batch_size=4096, verbose=0)
        out[window:] = (np.abs((y[:, None] - mean) / sd - forecast) if scaled
                        else np.abs(y[:, None] - (forecast * sd + mean)))[:, 0]
    return out


ONLINE_CHUNK = 100     # online learning: each run of this many points is scored, then learned from (one step)
ONLINE_RATE = 1e-3     # its Adam learning rate (1e-3 and 3e-3, chunks of 50 and 100 measured alike)


def online_errors(learner: keras.Model, weights: list, values: np.ndarray, window: int, start: int) -> np.ndarray:
    """`errors` from a forecaster that keeps learning after `start` (the probationary period, as NAB allows): from
    the trained `weights` and a fresh optimizer, each ONLINE_CHUNK points are forecast with the weights learned
    before them and then learned from in one Adam step (`learner`: the forecaster compiled for it), so a point is
    never scored by weights that saw it."""
    x, y = windows_of(values, window)
    out = np.zeros(len(values))
    if not len(x):
        return out
    learner.set_weights(weights)
    for variable in learner.optimizer.variables:  # the moments and the step count; the rate stays
        if not variable.path.endswith("learning_rate"):
            variable.assign(tf.zeros_like(variable))
    mean, sd = scale(x)
    target = ((y[:, None] - mean) / sd).astype("float32")
    first = max(0, start - window)
    forecast = np.zeros((len(x), 1), "float32")
    if first:
        forecast[:first] = learner.predict(x[:first], batch_size=4096, verbose=0)
    for a in range(first, len(x), ONLINE_CHUNK):
        b = min(a + ONLINE_CHUNK, len(x))
        forecast[a:b] = learner.predict_on_batch(x[a:b])
        learner.train_on_batch(x[a:b], target[a:b])
    out[window:] = np.abs(y[:, None] - (forecast * sd + mean))[:, 0]
    return out


def online_learner(model: keras.Model) -> keras.Model:
    """A copy of the forecaster compiled for `online_errors` (the trained model itself is left as it is)."""
    learner = keras.models.clone_model(model)
    learner.compile(optimizer=keras.optimizers.Adam(ONLINE_RATE, clipnorm=1.0), loss="huber")
    return learner


SHORTS = (1, 3, 10)            # the likelihood's recent window (points) the protocol chooses from
MARGINS = (None, 0.0, 0.25)    # novelty: off, or flag a value beyond everything seen by this share of its range


@dataclasses.dataclass(frozen=True)
class Setting:
    """How forecast errors become scores: the likelihood's recent window, and the novelty margin (None: off)."""

    short: int
    margin: float | None

    def __str__(self) -> str:
        return f"short {self.short}, " + ("no novelty" if self.margin is None else
                                          f"novelty beyond {self.margin:g} x the range seen")


def likelihood_variants(corpus: nab.Corpus, errors_per_series: list[np.ndarray],
                        shorts=SHORTS, margins=MARGINS) -> dict[Setting, list[np.ndarray]]:
    """{setting: scores per series}: the anomaly likelihood of the errors over each recent window in `shorts`, with
    each novelty margin in `margins` (None: none)."""
    out = {}
    for short in shorts:
        base = [nab.likelihood(e, short=short) for e in errors_per_series]
        for margin in margins:
            out[Setting(short, margin)] = [nab.with_novelty(b, s.values, s.probation, margin)
                                           for b, s in zip(base, corpus.series, strict=True)]
    return out


def detector_candidates(cfg: Config, model: keras.Model, corpus: nab.Corpus) -> dict[str, dict]:
    """Per detector, {setting: an anomaly score in [0, 1] for every point of every series} (no labels used): the
    forecasters' errors through every likelihood setting; the baselines have one setting."""
    rng = np.random.default_rng(cfg.seed)
    series = corpus.series
    learner, weights = online_learner(model), model.get_weights()
    return {RNN: likelihood_variants(corpus, [errors(model, s.values, cfg.window) for s in series]),
            ONLINE: likelihood_variants(corpus, [online_errors(learner, weights, s.values, cfg.window, s.probation)
                                                 for s in series]),
            PERSISTENCE: likelihood_variants(corpus, [nab.persistence_errors(s.values) for s in series]),
            "windowed Gaussian": {"-": [nab.windowed_gaussian(s.values) for s in series]},
            "random": {"-": [rng.random(len(s.values)) for s in series]},
            "null": {"-": [np.zeros(len(s.values)) for s in series]}}


def chosen(corpus: nab.Corpus, candidates: dict) -> object:
    """The setting whose threshold sweep over the whole corpus scores best (standard profile): the one the export
    and predict use, chosen as the leave-one-category-out runs choose on the other categories."""
    profile = nab.PROFILES["standard"]
    return max(candidates, key=lambda k: nab.sweep(corpus.series, candidates[k], profile)[1])


def held_out(corpus: nab.Corpus, candidates: dict[str, dict]) -> dict:
    """Leave one category out for every detector, and what each change to the RNN detector bought on the held-out
    categories: the previous detector (short 3, no novelty), the recent window chosen, novelty added, both, and
    online learning with both chosen."""
    rnn = candidates[RNN]
    steps = {"short 3, no novelty (the previous detector)": [Setting(3, None)],
             "+ the recent window chosen": [Setting(k, None) for k in SHORTS],
             "+ novelty chosen (short 3)": [Setting(3, m) for m in MARGINS]}
    detectors = {name: nab.leave_category_out(corpus.series, options) for name, options in candidates.items()}
    changes = {step: nab.leave_category_out(corpus.series, {k: rnn[k] for k in keys}) for step, keys in steps.items()}
    return {"detectors": detectors, "changes": {**changes, "+ both chosen": detectors[RNN],  # the whole grid
                                                "+ online learning after the probation": detectors[ONLINE]}}


def evaluate(cfg: Config, model: keras.Model, corpus: nab.Corpus) -> dict | None:
    """NAB scores (three profiles) and event-level precision / recall / F1 (at the standard profile's threshold) of
    every detector, two ways: leave one category out (every setting and threshold chosen on the other categories,
    scored on the held-out one: the estimate for unseen series), and NAB's own protocol (the threshold swept over
    the whole corpus, each detector at the setting chosen on the whole corpus). The RNN also at the label-free
    threshold of cfg.alarm_tail. None without labels."""
    if not corpus.labelled:
        return None
    candidates = detector_candidates(cfg, model, corpus)
    settings = {name: chosen(corpus, options) for name, options in candidates.items()}
    scores = {name: candidates[name][settings[name]] for name in candidates}
    detectors = {}
    for name, values in scores.items():
        profiles = nab.nab_scores(corpus.series, values)
        detectors[name] = {"profiles": profiles, "setting": str(settings[name]),
                           "events": nab.event_metrics(corpus.series, values, profiles["standard"]["threshold"])}
    fixed = {"profiles": nab.nab_scores(corpus.series, scores[RNN], float(nab.tail_score(cfg.alarm_tail))),
             "events": nab.event_metrics(corpus.series, scores[RNN], float(nab.tail_score(cfg.alarm_tail)))}
    found = {s.name: {"windows": len(nab.scored_windows(s)),
                      "found": nab.event_metrics([s], [x], detectors[RNN]["profiles"]["standard"]["threshold"])}
             for s, x in zip(corpus.series, scores[RNN], strict=True)}
    return {"detectors": detectors, "fixed threshold": fixed, "series": found, "held out": held_out(corpus, candidates),
            "threshold": detectors[RNN]["profiles"]["standard"]["threshold"], "scores": scores[RNN],
            "setting": settings[RNN]}


def error_scale(cfg: Config, model: keras.Model, corpus: nab.Corpus) -> tuple[float, float]:
    """Mean and standard deviation of the forecast errors over the probationary periods (the served model's
    reference for one window)."""
    every = np.concatenate([errors(model, s.values[:s.probation], cfg.window, scaled=True)[cfg.window:]
                            for s in corpus.series])
    return float(every.mean()), float(every.std() + 1e-9)


def summary(cfg: Config, metrics: dict | None, estimate: dict | None = None) -> dict:
    if metrics is None:
        return {}
    d = metrics["detectors"]
    threshold = metrics["threshold"]
    return {"NAB standard": round(d[RNN]["profiles"]["standard"]["score"], 2),
            "threshold": float(threshold) if np.isfinite(threshold) else None,
            "event F1": round(d[RNN]["events"]["F1"], 2),
            "windowed Gaussian NAB standard": round(d["windowed Gaussian"]["profiles"]["standard"]["score"], 2),
            "persistence NAB standard": round(d[PERSISTENCE]["profiles"]["standard"]["score"], 2),
            "held-out categories NAB standard": round(
                metrics["held out"]["detectors"][RNN]["standard"]["pooled"], 2),
            "held-out categories windowed Gaussian": round(
                metrics["held out"]["detectors"]["windowed Gaussian"]["standard"]["pooled"], 2),
            "held-out categories, learning online": round(
                metrics["held out"]["detectors"][ONLINE]["standard"]["pooled"], 2),
            "likelihood short": metrics["setting"].short, "novelty margin": metrics["setting"].margin}


def load_trained(cfg: Config) -> keras.Model:
    return checkpoints.load_checkpoint(cfg.run_dir, NAME)


# ------------------------------------------------------------------------------------------ export, predict

def export(cfg: Config, model: keras.Model, corpus: nab.Corpus, headline: dict,
           root: str | pathlib.Path = shared_export.DEFAULT_ROOT) -> pathlib.Path:
    """serving_default(values [batch, window + 1] float32: the recent values, the newest last) -> forecast [batch]
    (the newest value's forecast, in the series' units), error [batch] (|newest - forecast|, same units),
    anomaly_score [batch] (the error in the window's spread against the training errors' scale through the normal
    CDF: one window, no history; `predict` on a whole series scores each point against its own past errors)."""
    mean_error, sd_error = error_scale(cfg, model, corpus)

    def serve(values):
        past, newest = values[:, :-1], values[:, -1]
        mean, sd = scale(past, keras.ops)
        forecast = model(past, training=False)[:, 0] * sd[:, 0] + mean[:, 0]
        error = tf.abs(newest - forecast)
        score = 0.5 * (1.0 + tf.math.erf((error / sd[:, 0] - mean_error) / (sd_error * np.sqrt(2.0))))
        return {"forecast": forecast, "error": error, "anomaly_score": score}
    meta = {"config": cfg, "source": corpus.source, "window": cfg.window, "metrics": headline,
            "threshold": headline.get("threshold") or float(nab.tail_score(cfg.alarm_tail)),
            "error_scale": [mean_error, sd_error], "likelihood_short": headline.get("likelihood short", 3),
            "novelty_margin": headline.get("novelty margin")}
    return shared_export.save(model, NAME, serve_fn=serve, metadata=meta, root=root,
                              input_signature=[tf.TensorSpec((None, cfg.window + 1), tf.float32, name="values")])


def predict(cfg: Config, given: str, model_path: str | pathlib.Path | None = None) -> dict:
    """The anomalies of a CSV series (timestamp,value): the exported forecaster's errors, each point scored against
    its own past errors (nab.likelihood), flagged at the threshold chosen when the model was trained (NAB's
    standard-profile sweep on the training series; the label-free one when they had no labels), and grouped into
    events (nab.events: start, end, peak score). Beside the run folder: <series>.csv (every event) and <series>.png
    (the series over time, the events marked, NAB's labelled windows shaded when the file lies in NAB's layout)."""
    series = nab.read_series(given)
    path = model_path or shared_export.latest(NAME)
    served, meta = shared_export.load(path, NAME)
    window = int(meta["window"])
    if len(series.values) <= window + 10:
        raise ValueError(f"{given}: {len(series.values)} rows; the model reads {window} past values, so give at least "
                         f"{window + 11}.")
    # The forecaster reads each window in its own mean and spread, so the series may be moved and scaled first: in
    # float64, to the median and a robust spread, with points beyond 1e6 spreads held there - a value like 1e300
    # would overflow float32 to inf and never be flagged; held at 1e6 spreads it stays the most extreme point.
    center = float(np.median(series.values))
    spread = float(np.median(np.abs(series.values - center))) * 1.4826 or float(np.std(series.values)) or 1.0
    unit = (series.values - center) / spread
    held = int((np.abs(unit) > 1e6).sum())
    notes = [*series.notes, *([f"{held} value(s) lie beyond a million times the series' spread; the model read them "
                               "as that far (they are among the most extreme points)"] if held else [])]
    for note in notes:
        log.warning("%s: %s", given, note)
    stacked = np.lib.stride_tricks.sliding_window_view(np.clip(unit, -1e6, 1e6).astype("float32"), window + 1)
    error = np.zeros(len(series.values))
    error[window:] = served.signatures["serving_default"](values=tf.constant(stacked))["error"].numpy() * spread
    # the detector chosen in training: the likelihood's recent window and the novelty margin (None: off)
    score = nab.with_novelty(nab.likelihood(error, short=int(meta.get("likelihood_short", 3))), series.values,
                             series.probation, meta.get("novelty_margin"))
    threshold = meta.get("threshold") or float(nab.tail_score(cfg.alarm_tail))
    flagged = np.flatnonzero((score >= threshold) & (np.arange(len(score)) >= series.probation))
    name, labelled = nab.own_windows(given, series.timestamps)
    series = dataclasses.replace(series, name=name, windows=labelled or [])

    def stamp(i):
        return str(np.datetime_as_string(series.timestamps[i], unit="s"))
    found = [{"start": stamp(a), "end": stamp(b), "peak": stamp(p), "peak_score": round(float(score[p]), 6),
              "points": int(((flagged >= a) & (flagged <= b)).sum()),
              **({"in a labelled window": any(left <= p <= right for left, right in labelled)} if labelled is not None
                 else {})} for a, b, p in nab.events(flagged, score)]
    folder = pathlib.Path(cfg.run_dir) / "predicted"
    folder.mkdir(parents=True, exist_ok=True)
    stem = pathlib.Path(given).stem
    table = folder / f"{stem}.csv"
    with table.open("w", newline="") as file:
        writer = csv.DictWriter(file, ["start", "end", "peak", "peak_score", "points", "in a labelled window"],
                                extrasaction="ignore")
        writer.writeheader()
        writer.writerows(found)
    plot = folder / f"{stem}.png"
    series_figure(series, score, flagged, threshold, labelled is not None).savefig(plot, dpi=110)
    return {"series": name, "events": len(found), "flagged_points": int(len(flagged)),
            "threshold": round(float(threshold), 6), "labelled_windows": None if labelled is None else len(labelled),
            "skipped_rows": series.skipped_rows, "notes": notes, "events_csv": str(table), "plot": str(plot),
            "every_event": found}


# ------------------------------------------------------------------------------------------------ reporting

def series_figure(series: nab.Series, score: np.ndarray, flagged: np.ndarray, threshold: float,
                  labelled: bool = True):
    """The series and its anomaly score over time: NAB's labelled windows shaded (when the series has labels), the
    flagged points red, the probationary period (never scored) before the dotted line."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 5), layout="constrained")
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=(2, 1))
    times = series.timestamps
    top.plot(times, series.values, lw=0.7, color="tab:blue", label="value")
    for k, (left, right) in enumerate(series.windows):
        top.axvspan(times[left], times[right], color="tab:orange", alpha=0.25, label="labelled window" if not k else None)
    top.scatter(times[flagged], series.values[flagged], color="tab:red", s=12, zorder=3, label="flagged")
    top.axvline(times[min(series.probation, len(times) - 1)], color="grey", ls=":", lw=1, label="end of probation")
    top.legend(fontsize=7, loc="upper left")
    shaded = ("labelled windows shaded" if series.windows else "no labelled window") if labelled else "no labels"
    top.set_title(f"{series.name}: {len(flagged)} points flagged ({shaded})", fontsize=10)
    bottom.plot(times, score, lw=0.6, color="tab:purple")
    bottom.axhline(threshold, color="tab:red", lw=0.8, ls="--")
    bottom.set_ylabel("anomaly score")
    bottom.set_xlabel("time")
    return fig


def held_out_sections(held: dict) -> dict[str, str]:
    """The leave-one-category-out tables: every detector per profile and per held-out category, and what each change
    to the RNN detector bought."""
    profiles = list(nab.PROFILES)
    detectors = held["detectors"]
    categories = list(next(iter(detectors.values()))["standard"]["categories"])

    def cell(row):
        return "-" if row["score"] is None else f"{row['score']:.1f}"
    lines = ["| detector | " + " | ".join(f"pooled: {p}" for p in profiles) + " | "
             + " | ".join(f"{c} (standard)" for c in categories) + " |",
             "|---|" + "---:|" * (len(profiles) + len(categories)),
             *[f"| {name} | " + " | ".join(f"{row[p]['pooled']:.1f}" for p in profiles) + " | "
               + " | ".join(cell(row["standard"]["categories"][c]) for c in categories) + " |"
               for name, row in detectors.items()]]
    worst = {name: min((r["score"], c) for c, r in row["standard"]["categories"].items() if r["score"] is not None)
             for name, row in detectors.items() if name in (RNN, "windowed Gaussian")}
    changes = ["| the RNN detector | pooled: standard | reward low FP | reward low FN |", "|---|---:|---:|---:|",
               *[f"| {step} | " + " | ".join(f"{row[p]['pooled']:.1f}" for p in profiles) + " |"
                 for step, row in held["changes"].items()]]
    chosen_rows = ["| held-out category | setting chosen on the others (standard) | its threshold |", "|---|---|---:|",
                   *[f"| {c} | {r['setting']} | {r['threshold']:.4f} |"
                     for c, r in detectors[RNN]["standard"]["categories"].items()]]
    alone = ["", "**One category only: nothing is held out; the settings and thresholds are chosen on it, as in "
             "NAB's own protocol.**"] if len(categories) == 1 else []
    return {"Leave one category out (the estimate for unseen series)": "\n".join(
                [*lines, *alone, "", "A dash: the category has no labelled window (its false alarms still count in the "
                 "pooled score). Worst held-out category: " + "; ".join(f"{n} {s:.1f} ({c})" for n, (s, c) in worst.items())
                 + ".", "", *chosen_rows]),
            "What each change bought (leave one category out)": "\n".join(changes)}


def build_report(cfg: Config, corpus: nab.Corpus, metrics: dict | None,
                 timing: dict, estimate: dict | None = None) -> reports.Report:
    generated = corpus.source.startswith("synthetic")
    anchors = {} if generated else {f"NAB scoreboard: {k} (all 58 series, standard)": {"NAB standard": v}
                                    for k, v in nab.SCOREBOARD.items()}
    sections = {"Protocol": (
        "NAB's rules: each series is read once, in time order; the forecaster learns from the probationary "
        "periods only (the first 15% of each series, at most 750 points; no labels), and those points are never "
        "scored. Scores are normalised so the null detector is 0 and a perfect one 100. Two estimates: **leave one "
        "category out** (each category held out in turn; the likelihood's recent window, the novelty margin and "
        "the threshold chosen on the other categories, per profile, and applied unchanged to the held-out one: what "
        "a new kind of series would get), and **NAB's own protocol** (each profile's threshold swept over the whole "
        "corpus, as on NAB's scoreboard; the setting chosen on the whole corpus, the one the export uses). "
        "Event-level figures count a window once and each run of consecutive false alarms once (no point "
        "adjustment). The forecaster learning online is measured beside the shipped one (each series from the trained "
        f"weights, every {ONLINE_CHUNK} points scored and then learned from in one Adam step at {ONLINE_RATE:g}); the "
        "export does not learn online: a served model holds no state per series, and a signature that changed its "
        "weights would let any client change the model every other client reads."),
        **reports.notes([*corpus.notes, "" if generated or len(corpus.series) >= 58 else
                         f"{len(corpus.series)} of NAB's 58 series: the scoreboard's figures are for the "
                         "full benchmark and are for scale only"])}
    figures, table, baselines = {}, {}, {}
    if metrics:
        for name, row in {**metrics["detectors"], f"{RNN}, label-free threshold (tail {cfg.alarm_tail:g})":
                          metrics["fixed threshold"]}.items():
            table[name] = {"NAB standard": row["profiles"]["standard"]["score"],
                           "reward low FP": row["profiles"]["reward_low_FP_rate"]["score"],
                           "reward low FN": row["profiles"]["reward_low_FN_rate"]["score"],
                           "event precision": row["events"]["precision"], "event recall": row["events"]["recall"],
                           "event F1": row["events"]["F1"],
                           "windows found": f"{row['events']['windows found']} of {row['events']['windows']}",
                           "false alarms": row["events"]["false alarms"]}
        baselines = {k: v for k, v in table.items() if not k.startswith((RNN, ONLINE))}
        sections.update(held_out_sections(metrics["held out"]))
        sections["Per series (this model, standard threshold)"] = "\n".join(
            ["| series | windows | found | false alarms |", "|---|---:|---:|---:|",
             *[f"| {name} | {row['windows']} | {row['found']['windows found']} | {row['found']['false alarms']} |"
               for name, row in metrics["series"].items()]])
        shown = next((i for i, s in enumerate(corpus.series) if s.windows), 0)
        score = metrics["scores"][shown]
        flagged = np.flatnonzero((score >= metrics["threshold"]) & (np.arange(len(score)) >= corpus.series[shown].probation))
        figures["series"] = series_figure(corpus.series[shown], score, flagged, metrics["threshold"])
    else:
        sections["Test"] = "The series have no labels (labels/combined_windows.json): nothing to score against."
    return reports.Report(domain=NAME, source=corpus.source, metrics={"detectors": table},
                          baselines=baselines, anchors=anchors, timing=timing, figures=figures, sections=sections,
                          extra={"config": dataclasses.asdict(cfg)})

