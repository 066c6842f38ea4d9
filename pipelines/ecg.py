"""ECG arrhythmia classification on MIT-BIH: WFDB records -> beat windows + RR features -> bidirectional GRU ->
AAMI classes (N, S, V, F, Q), evaluated inter-patient (de Chazal et al. 2004) and exported for TF Serving.

Notebook:
    cfg = dataclasses.replace(ecg.Config(), source="synthetic", epochs=1)
    data = ecg.load_data(cfg); train_ds, val_ds, test_ds = ecg.make_datasets(cfg, data)
    model = ecg.build_model(cfg, data.train); history = ecg.train(cfg, model, train_ds, val_ds, data.train)
    metrics = ecg.evaluate(model, data.test); summary = ecg.predict(cfg, "data/mitdb/119")
"""

from __future__ import annotations

import dataclasses
import json
import logging
import pathlib
import time

import keras
import numpy as np
import tensorflow as tf

from domain import ecg as ecg_data
from shared import cli, data, layers, plots, reports, training
from shared import export as shared_export

log = logging.getLogger(__name__)
NAME = "ecg"
CLASS_WEIGHTINGS = ("none", "balanced", "sqrt")


@dataclasses.dataclass(frozen=True)
class Config:
    source: str = "auto"            # auto | local | download | synthetic (see domain.ecg.sources)
    data_dir: str = ""              # WFDB records; default $RNN_DATA_DIR/mitdb, else data/mitdb
    rnn: str = "bigru:64:0.2"       # RNN spec (shared.layers): simple/lstm/gru, bi-, xDEPTH, :input dropout
    frame: int = 4                  # samples per RNN step: a 252-sample window is read as 63 steps of 4
    before: float = 0.25            # seconds of signal before the R peak
    after: float = 0.45             # seconds after it
    class_weighting: str = "balanced"  # none | balanced (capped at 50) | sqrt (its square root): see the README
    first_lead: bool = False        # use a record's first lead when it has no MLII (else skip the record)
    synthetic_minutes: float = 5.0  # length of each generated record (source synthetic)
    batch_size: int = 256
    epochs: int = 30
    learning_rate: float = 2e-3
    augment: bool = False           # training beats: random gain, offset, noise, shift (measured: see README)
    seed: int = 1337
    jit_compile: bool = False  # XLA; the default is whichever trained faster here (make bench, BENCHMARKS.md)
    run_dir: str = "runs/ecg"       # checkpoints, logs, report; exports go to saved_models/ecg/<version>/

    def __post_init__(self):
        layers.parse_spec(self.rnn)
        if self.source not in ecg_data.sources.SOURCES:
            raise ValueError(f"--source {self.source!r}: expected one of {list(ecg_data.sources.SOURCES)}.")
        if self.class_weighting not in CLASS_WEIGHTINGS:
            raise ValueError(f"--class-weighting {self.class_weighting!r}: expected one of {list(CLASS_WEIGHTINGS)}.")
        if self.before <= 0 or self.after <= 0 or self.before + self.after < 0.5:
            raise ValueError(f"beat window --before {self.before} s + --after {self.after} s: need both > 0 and a "
                             "total of at least 0.5 s (a QRS complex and its T wave), e.g. 0.25 + 0.45.")
        if self.frame < 1 or self.window % self.frame:
            raise ValueError(f"--frame {self.frame}: must divide the window of {self.window} samples "
                             f"(({self.before} + {self.after}) s at {ecg_data.FS} Hz); try 1, 2, 3 or 4.")
        if self.synthetic_minutes < 0.5:
            raise ValueError(f"--synthetic-minutes {self.synthetic_minutes}: need at least 0.5 minutes per record.")
        training.check_options(self.batch_size, self.epochs, self.learning_rate)

    @property
    def window(self) -> int:
        before, after = ecg_data.beats.window_samples(self.before, self.after)
        return before + after


QUICK = {"synthetic_minutes": 1.0, "rnn": "gru:8", "epochs": 1, "batch_size": 128}


@dataclasses.dataclass
class ECGData:
    """Beats of the three record-disjoint splits, the source that ran and what happened while reading."""

    train: ecg_data.BeatSet
    validation: ecg_data.BeatSet
    test: ecg_data.BeatSet
    source: str
    data_dir: pathlib.Path
    split: dict
    notes: list[str]


def _read_split(cfg: Config, data_dir: pathlib.Path, names: list[str], notes: list[str]) -> ecg_data.BeatSet:
    sets = []
    for name in names:
        try:
            record = ecg_data.read_record(data_dir / name, first_lead_fallback=cfg.first_lead)
        except ValueError as error:
            if "lead" not in str(error):
                raise
            log.warning("%s", error)
            notes.append(str(error))
            continue
        if record.original_fs != ecg_data.FS:
            notes.append(f"record {name} resampled from {record.original_fs:g} Hz to {ecg_data.FS} Hz")
        if record.repaired_samples:
            notes.append(f"record {name}: {record.repaired_samples} missing samples interpolated")
        sets.append(ecg_data.extract(record, cfg.before, cfg.after))
    if not sets:
        raise ValueError(f"none of the records {names} in {data_dir} could be read; see the messages above.")
    return ecg_data.BeatSet.concat(sets)


def load_data(cfg: Config) -> ECGData:
    """Resolve the source, split records inter-patient and extract beats (domain.ecg)."""
    source, data_dir = ecg_data.sources.resolve(cfg.source, cfg.data_dir or None, cache_dir=pathlib.Path(cfg.run_dir),
                                                synthetic_minutes=cfg.synthetic_minutes, seed=cfg.seed)
    split = ecg_data.split_records(ecg_data.records.record_names(data_dir))
    notes = []
    if split["test_is_held_out_ds1"]:
        notes.append(f"DS2 records are absent from {data_dir}: testing on held-out DS1 records {split['test']} "
                     "instead of DS2, so the published DS2 figures are a reference, not a like-for-like comparison.")
        log.warning("%s", notes[-1])
    sets = {part: _read_split(cfg, data_dir, split[part], notes) for part in ("train", "validation", "test")}
    for part, beats in sets.items():
        log.info("%s: %d records, %d beats %s, %d dropped at record edges", part, len(split[part]), len(beats),
                 beats.counts(ecg_data.AAMI_CLASSES), beats.dropped)
    return ECGData(sets["train"], sets["validation"], sets["test"], source, data_dir, split, notes)


def _inputs(beats: ecg_data.BeatSet) -> dict[str, np.ndarray]:
    return {"beat": beats.beats, "rr": beats.rr}


def augment(inputs: dict, label, seed: tf.Tensor):
    """One training beat varied as recordings vary between patients: gain x U(0.8, 1.25), baseline offset
    N(0, 0.05), white noise N(0, 0.02) and a circular shift of up to 4 samples (11 ms) around the R peak."""
    beat = inputs["beat"]
    seeds = tf.random.experimental.stateless_split(seed, 4)
    gain = tf.random.stateless_uniform((), seeds[0], 0.8, 1.25)
    offset = tf.random.stateless_normal((), seeds[1], stddev=0.05)
    noise = tf.random.stateless_normal(tf.shape(beat), seeds[2], stddev=0.02)
    shift = tf.random.stateless_uniform((), seeds[3], -4, 5, dtype=tf.int32)
    beat = tf.roll(beat, shift, axis=0) * gain + offset + noise
    return {"beat": beat, "rr": inputs["rr"]}, label


def make_datasets(cfg: Config, ecg: ECGData) -> tuple[tf.data.Dataset, tf.data.Dataset, tf.data.Dataset]:
    """({"beat": (batch, window), "rr": (batch, 6)}, label) datasets; training shuffled under the seed and, with
    cfg.augment, varied by `augment` (seeded: the same seed gives the same variations)."""
    def dataset(beats):
        return tf.data.Dataset.from_tensor_slices((_inputs(beats), beats.labels))

    train_ds = data.batched(dataset(ecg.train), cfg.batch_size, shuffle_seed=cfg.seed)
    if cfg.augment:
        seeds = tf.data.Dataset.random(seed=cfg.seed).batch(2)
        train_ds = tf.data.Dataset.zip((dataset(ecg.train).cache().shuffle(10_000, seed=cfg.seed), seeds))
        train_ds = train_ds.map(lambda element, seed: augment(*element, seed), num_parallel_calls=tf.data.AUTOTUNE)
        train_ds = data.batched(train_ds, cfg.batch_size, cache=False)
    return train_ds, data.batched(dataset(ecg.validation), cfg.batch_size), data.batched(dataset(ecg.test), cfg.batch_size)


def build_model(cfg: Config, train: ecg_data.BeatSet | None = None) -> keras.Model:
    """(beat (batch, window), rr (batch, 6)) -> class probabilities (batch, 5). Normalization statistics
    come from the training beats only and live in the model, so it serves raw filtered windows."""
    beat = keras.Input((cfg.window,), name="beat")
    rr = keras.Input((len(ecg_data.RR_FEATURES),), name="rr")
    beat_stats = (float(train.beats.mean()), float(train.beats.var())) if train is not None else (0.0, 1.0)
    rr_stats = (train.rr.mean(axis=0), train.rr.var(axis=0)) if train is not None else (0.0, 1.0)
    x = keras.layers.Normalization(axis=None, mean=beat_stats[0], variance=beat_stats[1], name="beat_norm")(beat)
    x = keras.layers.Reshape((cfg.window // cfg.frame, cfg.frame), name="frames")(x)
    x = layers.apply_rnn(x, cfg.rnn)
    r = keras.layers.Normalization(mean=rr_stats[0], variance=rr_stats[1], name="rr_norm")(rr)
    x = keras.layers.Concatenate(name="features")([x, r])
    x = keras.layers.Dense(64, activation="relu", name="hidden")(x)
    x = keras.layers.Dropout(0.2, name="dropout")(x)
    probs = keras.layers.Dense(len(ecg_data.AAMI_CLASSES), activation="softmax", dtype="float32", name="probs")(x)
    return keras.Model({"beat": beat, "rr": rr}, probs, name="ecg_rnn")


MAX_CLASS_WEIGHT = 50.0  # DS1 holds 8 Q beats: an uncapped balanced weight (~800) would let them dominate


def class_weights(labels: np.ndarray, weighting: str) -> dict[int, float] | None:
    """Per-class loss weights from training labels: none; balanced (n / (k * n_c), capped at MAX_CLASS_WEIGHT);
    sqrt (the square root of balanced: a milder lift of rare classes). Absent classes get weight 1."""
    if weighting == "none":
        return None
    counts = np.bincount(labels, minlength=len(ecg_data.AAMI_CLASSES)).astype(float)
    present = counts > 0
    balanced = np.ones_like(counts)
    balanced[present] = np.minimum(counts.sum() / (present.sum() * counts[present]), MAX_CLASS_WEIGHT)
    weights = balanced if weighting == "balanced" else np.sqrt(balanced)
    return {i: float(w) for i, w in enumerate(weights)}


def train(cfg: Config, model: keras.Model, train_ds, val_ds, train_beats: ecg_data.BeatSet,
          **fit_options) -> keras.callbacks.History:
    """Compile and fit with the shared helper (checkpoint, early stop, resume, curves)."""
    return training.fit(model, train_ds, val_ds, run_dir=cfg.run_dir, epochs=cfg.epochs,
                        loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                        learning_rate=cfg.learning_rate, jit_compile=cfg.jit_compile, seed=cfg.seed, patience=5,
                        class_weight=class_weights(train_beats.labels, cfg.class_weighting),
                        samples_per_epoch=len(train_beats), **fit_options)


def evaluate(model: keras.Model, test: ecg_data.BeatSet, batch_size: int = 1024) -> dict:
    """AAMI metrics (per-class Se, +P, Sp, F1; accuracy; confusion matrix) on a record-disjoint test set."""
    probs = model.predict(_inputs(test), batch_size=batch_size, verbose=0)
    return ecg_data.aami_metrics(test.labels, probs.argmax(axis=-1))


def baselines(ecg: ECGData) -> dict[str, dict]:
    """Majority class, and logistic regression on RR features + downsampled morphology (a de Chazal-style linear
    classifier), on the same split."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    def features(beats):
        return np.concatenate([beats.beats[:, ::6], beats.rr], axis=1)

    classifier = make_pipeline(StandardScaler(), LogisticRegression(max_iter=300, class_weight="balanced"))
    classifier.fit(features(ecg.train), ecg.train.labels)
    results = {"majority (all N)": np.zeros_like(ecg.test.labels),
               "logistic regression (RR + morphology)": classifier.predict(features(ecg.test))}
    return {name: _headline(ecg_data.aami_metrics(ecg.test.labels, pred)) for name, pred in results.items()}


def _headline(metrics: dict) -> dict[str, float]:
    """The row a report table shows: accuracy, macro F1, Se/+P of the classes the field reports."""
    row = {"accuracy": metrics["accuracy"], "macro F1": metrics["macro_f1"]}
    for name in ("N", "S", "V", "F"):
        row[f"{name} Se"] = metrics["per_class"][name]["Se"]
        row[f"{name} +P"] = metrics["per_class"][name]["+P"]
    return row


def export(model: keras.Model, cfg: Config, metrics: dict, source: str,
           root: str | pathlib.Path = shared_export.DEFAULT_ROOT) -> pathlib.Path:
    """saved_models/ecg/<version>/: serving_default(beat [batch, window] float32, rr [batch, 6] float32)
    -> probs [batch, 5], class [batch] (AAMI letter)."""
    names = tf.constant(ecg_data.AAMI_CLASSES)

    def serve(beat, rr):
        probs = model({"beat": beat, "rr": rr}, training=False)
        return {"probs": probs, "class": tf.gather(names, tf.argmax(probs, axis=-1))}

    signature = [tf.TensorSpec((None, cfg.window), tf.float32, name="beat"),
                 tf.TensorSpec((None, len(ecg_data.RR_FEATURES)), tf.float32, name="rr")]
    meta = {"config": cfg, "source": source, "metrics": _headline(metrics) if "per_class" in metrics else metrics,
            "classes": list(ecg_data.AAMI_CLASSES), "rr_features": list(ecg_data.RR_FEATURES),
            "input_note": "beat: the MLII lead band-passed 0.5-35 Hz and divided by the record's median R amplitude "
                          f"(domain.ecg.extract), {cfg.before} s before to {cfg.after} s after the R peak at "
                          f"{ecg_data.FS} Hz; rr: domain.ecg.rr_features {list(ecg_data.RR_FEATURES)}"}
    return shared_export.save(model, NAME, serve_fn=serve, input_signature=signature, metadata=meta, root=root)


def detect_beats(signal: np.ndarray) -> np.ndarray:
    """R-peak sample indices found by wfdb's XQRS detector, moved to the nearest extremum of the filtered signal."""
    from wfdb import processing

    xqrs = processing.XQRS(sig=signal, fs=ecg_data.FS)
    xqrs.detect(verbose=False)
    peaks = processing.correct_peaks(ecg_data.filter_signal(signal), xqrs.qrs_inds,
                                     search_radius=int(0.05 * ecg_data.FS), smooth_window_size=5,
                                     peak_dir="compare")
    return np.unique(np.asarray(peaks, dtype="int64"))


def predict(cfg: Config, record_path: str | pathlib.Path, model_path: str | pathlib.Path | None = None,
            out_dir: str | pathlib.Path | None = None) -> dict:
    """Classify every beat of a WFDB record without reading its annotations: XQRS detection, beat windows, the
    exported SavedModel. Writes predict.json and a PNG strip (beats coloured by class) into out_dir and returns
    the summary: beats per class, ventricular ectopy burden, and agreement with the record's annotations when
    it has any."""
    start = time.perf_counter()
    record_path = pathlib.Path(record_path)
    model_path = pathlib.Path(model_path) if model_path else shared_export.latest(NAME)
    served, meta = shared_export.load(model_path)
    window = meta.get("config", {}) or {}
    before, after = window.get("before", cfg.before), window.get("after", cfg.after)
    record_path = record_path.with_suffix("") if record_path.suffix in (".hea", ".dat", ".atr") else record_path
    annotated = record_path.with_suffix(".atr").exists()
    # read once; the annotations (when present) are used only afterwards, to report agreement
    record = ecg_data.read_record(record_path, first_lead_fallback=cfg.first_lead, annotations=annotated)
    peaks = detect_beats(record.signal)
    beats = ecg_data.extract(record, before, after, peaks=peaks)
    serve = served.signatures["serving_default"]
    out = serve(beat=tf.constant(beats.beats), rr=tf.constant(beats.rr))
    predicted = out["probs"].numpy().argmax(axis=-1)
    seconds = time.perf_counter() - start
    counts = {c: int((predicted == i).sum()) for i, c in enumerate(ecg_data.AAMI_CLASSES)}
    summary = {"record": record.name, "lead": record.lead, "model": str(model_path),
               "duration_minutes": round(len(record.signal) / ecg_data.FS / 60, 2),
               "detected_beats": int(len(peaks)), "classified_beats": int(len(predicted)),
               "beats_per_class": counts,
               "ventricular_ectopy_burden_percent": round(100 * counts["V"] / max(1, len(predicted)), 2),
               "mean_heart_rate_bpm": round(60.0 / float(np.mean(np.diff(peaks)) / ecg_data.FS), 1)
               if len(peaks) > 1 else None,
               "seconds": round(seconds, 3)}
    if annotated:
        summary["detection"] = ecg_data.detection_agreement(record.peaks, peaks)
        ref_idx, det_idx = ecg_data.metrics.match_beats(record.peaks, beats.peaks)
        agreement = ecg_data.aami_metrics(record.labels[ref_idx], predicted[det_idx])
        summary["classification_vs_annotations"] = _headline(agreement)
        summary["classification_vs_annotations"]["confusion"] = agreement["confusion"]
    if out_dir is not None:
        out_dir = pathlib.Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "predict.json").write_text(json.dumps(reports.plain(summary), indent=2) + "\n")
        strip_figure(record.signal, beats.peaks, predicted).savefig(out_dir / "predict_strip.png", dpi=100)
    log.info("predicted %s: %s in %.2f s", record.name, counts, seconds)
    return summary


def strip_figure(signal: np.ndarray, peaks: np.ndarray, predicted: np.ndarray, seconds: float = 20.0):
    """The first `seconds` of the lead that hold a non-N beat if any, with each beat marked by its class colour."""
    from matplotlib.figure import Figure

    colours = {"N": "tab:green", "S": "tab:orange", "V": "tab:red", "F": "tab:purple", "Q": "tab:gray"}
    abnormal = np.flatnonzero(predicted != 0)
    centre = peaks[abnormal[0]] if len(abnormal) else (peaks[0] if len(peaks) else 0)
    start = max(0, int(centre - seconds * ecg_data.FS / 2))
    stop = min(len(signal), start + int(seconds * ecg_data.FS))
    fig = Figure(figsize=(14, 3), layout="constrained")
    ax = fig.add_subplot()
    t = np.arange(start, stop) / ecg_data.FS
    ax.plot(t, signal[start:stop], color="black", linewidth=0.7)
    for peak, label in zip(peaks, predicted, strict=True):
        if start <= peak < stop:
            letter = ecg_data.AAMI_CLASSES[label]
            ax.axvspan(peak / ecg_data.FS - 0.1, peak / ecg_data.FS + 0.1, color=colours[letter], alpha=0.25)
            ax.text(peak / ecg_data.FS, ax.get_ylim()[1], letter, ha="center", va="top", color=colours[letter])
    ax.set_xlabel("time (s)")
    ax.set_ylabel("mV")
    ax.set_title("Beats classified by the exported model (N green, S orange, V red, F purple, Q grey)")
    return fig


def write_report(cfg: Config, ecg: ECGData, metrics: dict, baseline_rows: dict, timing: dict,
                 history: dict | None = None) -> dict[str, pathlib.Path]:
    """report.md/json + confusion matrix PNG in the run folder."""
    confusion = np.array(metrics["confusion"])
    figures = {"confusion_matrix": plots.confusion_figure(confusion, list(ecg_data.AAMI_CLASSES))}
    test_name = "held-out DS1 records" if ecg.split["test_is_held_out_ds1"] else "DS2"
    anchors = {"de Chazal et al. 2004 (DS2, linear discriminants)":
               {f"{c} {k}": v for c, row in ecg_data.DE_CHAZAL_2004.items() for k, v in row.items()}}
    ours = {f"this model ({cfg.rnn}, {test_name})": _headline(metrics)}
    per_class = {c: dict(row) for c, row in metrics["per_class"].items()}
    sections = {
        "Confusion matrix (rows: true, columns: predicted)": reports.table(
            {t: {p: int(confusion[i, j]) for j, p in enumerate(ecg_data.AAMI_CLASSES)}
             for i, t in enumerate(ecg_data.AAMI_CLASSES)}, first="true"),
        "Split (by record, never by beat)": "\n".join(
            f"- {part}: {', '.join(ecg.split[part])} ({len(getattr(ecg, part))} beats "
            f"{getattr(ecg, part).counts(ecg_data.AAMI_CLASSES)}, {getattr(ecg, part).dropped} dropped at edges)"
            for part in ("train", "validation", "test")),
        "Notes": "\n".join(f"- {n}" for n in ecg.notes) or "- none",
    }
    return reports.write(cfg.run_dir, domain=NAME, source=f"{ecg.source} ({ecg.data_dir})",
                         metrics={**_headline(metrics), "per_class": per_class},
                         baselines={**ours, **baseline_rows}, anchors=anchors, timing=timing, figures=figures,
                         sections=sections, extra={"config": dataclasses.asdict(cfg), "split": ecg.split,
                                                   "confusion": metrics["confusion"], "history": history or {}})


def run(cfg: Config, export_root: str | pathlib.Path = shared_export.DEFAULT_ROOT, verbose: int | str = "auto") -> dict:
    """The whole story: data -> model -> train -> evaluate (+ baselines) -> export -> timing -> report."""
    start = time.perf_counter()
    keras.utils.set_random_seed(cfg.seed)
    ecg = load_data(cfg)
    train_ds, val_ds, _ = make_datasets(cfg, ecg)
    model = build_model(cfg, ecg.train)
    log.info("model %s: %d parameters, rnn %s", model.name, model.count_params(), cfg.rnn)
    history = train(cfg, model, train_ds, val_ds, ecg.train, verbose=verbose)
    metrics = evaluate(model, ecg.test)
    log.info("test (%s): accuracy %.2f%%, macro F1 %.2f", ecg.split["test"], metrics["accuracy"], metrics["macro_f1"])
    path = export(model, cfg, metrics, ecg.source, root=export_root)
    batch = {"beat": tf.constant(ecg.test.beats[:1024]), "rr": tf.constant(ecg.test.rr[:1024])}
    serving = shared_export.serving_latency(path, batch, repeats=10)
    timing = {**history.timing, "serving_beats_per_second": serving["items_per_second"],
              "serving_ms_per_batch_of_1024": serving["p50_ms"]}
    record = ecg.data_dir / ecg.split["test"][0]
    timing["predict_record"] = record.name
    timing["predict_seconds"] = predict(cfg, record, path)["seconds"]
    timing["predict_record_minutes"] = round(_minutes(record), 2)
    timing["run_seconds"] = round(time.perf_counter() - start, 1)  # data, training, evaluation, export, checks
    write_report(cfg, ecg, metrics, baselines(ecg), timing, training.read_history(pathlib.Path(cfg.run_dir) / "history.csv"))
    return {**_headline(metrics), "export": str(path)}


def _minutes(record: pathlib.Path) -> float:
    import wfdb

    header = wfdb.rdheader(str(record))
    return header.sig_len / header.fs / 60


def _evaluate_command(cfg: Config, args) -> dict:
    ecg = load_data(cfg)
    metrics = evaluate(training.load_checkpoint(cfg.run_dir, NAME), ecg.test)
    write_report(cfg, ecg, metrics, baselines(ecg), {})
    return _headline(metrics)


def _export_command(cfg: Config, args) -> dict:
    return {"export": str(export(training.load_checkpoint(cfg.run_dir, NAME), cfg, {}, "checkpoint " + cfg.run_dir))}


def _predict_command(cfg: Config, args) -> dict:
    if not args.input:
        raise ValueError("predict needs a record: make predict-ecg RECORD=path/to/record (or --input PATH).")
    out_dir = pathlib.Path(cfg.run_dir) / "predict" / pathlib.Path(args.input).stem
    return predict(cfg, args.input, args.model, out_dir)


def main(argv: list[str] | None = None) -> None:
    """make train-ecg ARGS="--epochs=3 --rnn=lstm:64" | evaluate-ecg | export-ecg | predict-ecg RECORD=path"""
    cli.main(Config, argv, prog="python -m pipelines.ecg", quick=QUICK, description=__doc__.split("\n\n")[0],
             commands={"train": lambda cfg, args: run(cfg), "evaluate": _evaluate_command,
                       "export": _export_command, "predict": _predict_command})


if __name__ == "__main__":
    main()
