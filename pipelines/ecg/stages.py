# Over 400 lines: the main application; its report and its data sources are split off already.
"""The stages of the ecg pipeline (pipelines.ecg holds its options and the story): data -> datasets -> model ->
training -> evaluation -> export -> predict -> report."""

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
from domain.ecg import analysis, stress
from domain.ecg.analysis import model_inputs, record_figure
from domain.ecg.baselines import BASELINES, baseline_predictions, class_weights, headline
from domain.ecg.sources import ECGData
from pipelines.ecg import NAME, Config
from pipelines.ecg import report as ecg_report
from shared import checkpoints, data, layers, reports, training, validation
from shared import export as shared_export

log = logging.getLogger(__name__)


MIXED_SHARE = 0.5  # the share of the faster database's training records read through the slower rate (mix_rates)
COMPOSITION_OTHERS = 0.25  # the share of a re-scored copy's non-ectopic beats that training reads
FOLD_SEED = 1337  # the cross-validation's folds are the same whatever --seed, so seeds compare on the same folds

INPUT_LIMIT = 100.0  # served inputs beyond +-100 are garbage: beats are scaled to R ~ 1, RR is in seconds or ratios


def load_data(cfg: Config) -> ECGData:
    """Resolve the source, split records inter-patient and extract beats (domain.ecg.sources)."""
    return ecg_data.sources.load_data(cfg)


def build_report(cfg: Config, ecg: ECGData, metrics: dict | None,
                 timing: dict, estimate: dict | None = None) -> reports.Report:
    """report.md/json + PNGs in the run folder (pipelines/ecg/report.py), with the cross-validation `train` estimated."""
    return ecg_report.build_report(cfg, ecg, metrics, estimate,
                                   training.read_history(pathlib.Path(cfg.run_dir) / "history.csv"), timing)


def _context_of(model: keras.Model) -> int:
    return (model.get_layer("beats_norm").input.shape[1] - 1) // 2


def augment(inputs: dict, label, seed: tf.Tensor):
    """One training example varied as recordings vary between patients: gain x U(0.8, 1.25), baseline offset
    N(0, 0.05), white noise N(0, 0.02) and a circular shift of up to 4 samples (11 ms) around the R peak, the same
    for the beats and the template (one recording)."""
    beats, template = inputs["beats"], inputs["template"]
    seeds = tf.random.experimental.stateless_split(seed, 4)
    gain = tf.random.stateless_uniform((), seeds[0], 0.8, 1.25)
    offset = tf.random.stateless_normal((), seeds[1], stddev=0.05)
    noise = tf.random.stateless_normal(tf.shape(beats), seeds[2], stddev=0.02)
    shift = tf.random.stateless_uniform((), seeds[3], -4, 5, dtype=tf.int32)
    beats = tf.roll(beats, shift, axis=-1) * gain + offset + noise
    template = tf.roll(template, shift, axis=-1) * gain + offset
    return {"beats": beats, "template": template, "rr": inputs["rr"]}, label


def make_dataset(cfg: Config, beats: ecg_data.BeatSet, training: bool = False,
                 resampled: ecg_data.BeatSet | None = None) -> tf.data.Dataset | None:
    """({"beats", "template", "rr"}, label) batches of `model_inputs`; for training shuffled under the seed, with
    half the records that `resampled` also holds swapped for their copies read through a lower rate (cfg.mix_rates;
    `domain.ecg.beats.mix_records`), joined by the record copies of cfg.composition (re-scored as if ectopic beats
    were their majority) and cfg.irregular (an AF-like rhythm) (`domain.ecg.beats.composition_augmented`), and with
    cfg.augment varied by `augment` (seeded: the same seed gives the same variations). None when empty."""
    if not len(beats):
        return None
    if training and cfg.mix_rates and resampled is not None and len(resampled):
        beats = ecg_data.beats.mix_records(beats, resampled, MIXED_SHARE, cfg.seed)
    if training and (cfg.composition or cfg.irregular):
        augmented = ecg_data.beats.composition_augmented(beats, cfg.r_index, cfg.template, cfg.seed,
                                                         composition=cfg.composition, irregular=cfg.irregular)
        # of the copies, every ectopic beat and a quarter of the others (their inputs are built on the whole copy, so
        # each beat's neighbours are its own); of the irregular copies, a quarter of the normal beats only
        rows = np.arange(len(augmented)) < len(beats)
        irregular = np.char.endswith(augmented.records.astype(str), ecg_data.beats.IRREGULAR)
        sampled = np.random.default_rng(cfg.seed).random(len(augmented)) < COMPOSITION_OTHERS
        rows |= ~irregular & (np.isin(augmented.labels, ecg_data.beats.ECTOPIC) | sampled)
        rows |= irregular & (augmented.labels == 0) & sampled
        rows = np.random.default_rng(cfg.seed).permutation(np.flatnonzero(rows))  # copies mixed into every batch
        inputs = {k: v[rows] for k, v in model_inputs(augmented, cfg.context, cfg.rr_inputs).items()}
        labels = augmented.labels[rows]
    else:
        inputs, labels = model_inputs(beats, cfg.context, cfg.rr_inputs), beats.labels
    ds = tf.data.Dataset.from_tensor_slices((inputs, labels))
    if not training:
        return data.batched(ds, cfg.batch_size)
    if not cfg.augment:
        return data.batched(ds, cfg.batch_size, shuffle_seed=cfg.seed)
    ds = tf.data.Dataset.zip((data.shuffled(ds.cache(), cfg.seed), data.epoch_seeds(cfg.seed)))
    ds = ds.map(lambda element, seed: augment(*element, seed), num_parallel_calls=tf.data.AUTOTUNE)
    return data.batched(ds, cfg.batch_size, cache=False)


def build_model(cfg: Config, ecg: ECGData) -> keras.Model:
    """The network of `build_network`, normalized on the training beats."""
    model = build_network(cfg, ecg.train)
    log.info("model %s: %d parameters, rnn %s, context %d beats each side (%s)", model.name, model.count_params(),
             cfg.rnn, cfg.context, cfg.context_rnn)
    return model


def build_network(cfg: Config, train: ecg_data.BeatSet | None = None) -> keras.Model:
    """(beats (batch, 2k+1, window), template (batch, window), rr (batch, 2k+1, r + 1)) -> class probabilities
    (batch, 5), k = cfg.context, r the RR features of cfg.rr_inputs.

    Each beat is read beside its difference from the record's template (morphology relative to the patient's own
    dominant beat). The centre beat goes through cfg.rnn step by step (frames of cfg.frame samples); with k > 0
    every beat of the context is encoded (its coarse shape, difference and RR features) and cfg.context_rnn runs
    across the beats, so the model sees the rhythm: an S beat is premature relative to its neighbours.
    Normalization statistics come from the training beats only and live in the model."""
    k, window, columns = cfg.context, cfg.window, ecg_data.beats.rr_columns(cfg.rr_inputs)
    n_rr = len(columns)
    beats = keras.Input((2 * k + 1, window), name="beats")
    template = keras.Input((window,), name="template")
    rr = keras.Input((2 * k + 1, n_rr + 1), name="rr")
    beat_stats = (float(train.beats.mean()), float(train.beats.var())) if train is not None and len(train) else (0., 1.)
    rr_stats = (train.rr[:, columns].mean(axis=0), train.rr[:, columns].var(axis=0)) \
        if train is not None and len(train) else (0.0, 1.0)
    x = keras.layers.Normalization(axis=None, mean=beat_stats[0], variance=beat_stats[1], name="beats_norm")(beats)
    t = keras.layers.Normalization(axis=None, mean=beat_stats[0], variance=beat_stats[1], name="template_norm")(template)
    delta = x - keras.ops.expand_dims(t, 1)  # each beat relative to the patient's dominant beat
    present = rr[..., n_rr:]
    r = keras.layers.Normalization(mean=rr_stats[0], variance=rr_stats[1], name="rr_norm")(rr[..., :n_rr]) * present
    centre = keras.ops.stack([x[:, k], delta[:, k]], axis=-1)  # (batch, window, 2)
    centre = keras.layers.Reshape((window // cfg.frame, 2 * cfg.frame), name="frames")(centre)
    parts = [layers.apply_rnn(centre, cfg.rnn, name="beat_rnn"), r[:, k]]
    if k:
        def coarse(signal):  # (batch, 2k+1, window) -> (batch, 2k+1, window / frame): one mean per frame
            return keras.ops.mean(keras.ops.reshape(signal, (-1, 2 * k + 1, window // cfg.frame, cfg.frame)), -1)
        summary = [coarse(x), coarse(delta), r, present] if cfg.context_shape else [r, present]
        per_beat = keras.layers.Concatenate(name="beat_summary")(summary)
        per_beat = keras.layers.Dense(32, activation="relu", name="beat_encoder")(per_beat)
        parts.append(layers.apply_rnn(per_beat, cfg.context_rnn, name="context_rnn"))
    h = keras.layers.Concatenate(name="features")(parts)
    h = keras.layers.Dense(64, activation="relu", name="hidden")(h)
    h = keras.layers.Dropout(0.2, name="dropout")(h)
    probs = keras.layers.Dense(len(ecg_data.AAMI_CLASSES), activation="softmax", dtype="float32", name="probs")(h)
    return keras.Model({"beats": beats, "template": template, "rr": rr}, probs, name="ecg_rnn")


def aami_scores(inputs: dict, labels: np.ndarray, prefix: str = "val_") -> training.EpochScores:
    """After every epoch, the model's predicted classes for held-out beats and their macro F1 over N, S, V, F (the
    AAMI goal), logged as `<prefix>macro_f1` so a checkpoint or early stopping can follow it."""
    return training.EpochScores(
        lambda model: model.predict(inputs, batch_size=2048, verbose=0).argmax(axis=-1), labels,
        lambda y, p: ecg_data.aami_metrics(y, p)["macro_f1_nsvf"], f"{prefix}macro_f1")


def train(cfg: Config, model: keras.Model, ecg: ECGData, verbose: int | str = "auto") -> training.TrainResult:
    """Leave-records-out cross-validation on the training records first (cfg.cv_folds; written to the run folder's
    cross_validation.json), then `model` on all training records for the epoch count it chose; the
    cross-validation is the result's estimate."""
    start = time.perf_counter()
    cv = cross_validate(cfg, ecg, verbose=verbose) if cfg.cv_folds else None
    validation.keep(cfg.run_dir, cv)
    if cv:
        log.info("cross-validation: pooled %s; epoch %d chosen", json.dumps(
            {k: round(v, 1) for k, v in cv["pooled"].items()}), cv["best_epoch"])
    cv_seconds = time.perf_counter() - start
    result = training.fit(plan(cfg, model, ecg), training.Settings.of(
        cfg, epochs=cv["best_epoch"] if cv else cfg.epochs, verbose=verbose))
    if cv:  # the model that ships, on the generated stress sets (the fold models' figures are in cv["stress"])
        cv["final_model_stress"] = {name: stress.row(s.labels, classify(cfg, model, s)) for name, s in
                                    stress.generated_sets(cfg.before, cfg.after, cfg.template, seed=cfg.seed).items()}
        validation.keep(cfg.run_dir, cv)
    return dataclasses.replace(result, estimate=cv, timing={
        **result.timing, "cross_validation_seconds": round(cv_seconds, 1) if cv else 0.0})


def plan(cfg: Config, model: keras.Model, ecg: ECGData) -> training.Plan:
    """The model that ships: every training record (half of them also read through a lower rate)."""
    return beats_plan(cfg, model, ecg.train, validation=ecg.validation, resampled=ecg.resampled)


def beats_plan(cfg: Config, model: keras.Model, train_beats: ecg_data.BeatSet,
               validation: ecg_data.BeatSet | None = None, scorers: tuple = (),
               resampled: ecg_data.BeatSet | None = None, **choices) -> training.Plan:
    """Class-weighted cross-entropy on `train_beats`. With `validation` beats (held-out records), the checkpoint and
    early stopping follow their macro F1 over N, S, V, F; without, every epoch runs and the last is kept (the epoch
    count comes from the cross-validation). `resampled`: the training records read through a lower rate, half of
    them swapped in (make_dataset). `choices`: more of the plan (tensorboard)."""
    scores = [aami_scores(model_inputs(validation, cfg.context, cfg.rr_inputs), validation.labels)] \
        if validation is not None and len(validation) else []
    train_ds = make_dataset(cfg, train_beats, training=True, resampled=resampled)
    return training.Plan(model, train_ds, None, loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                         patience=5, monitor="val_macro_f1" if scores else "loss",
                         monitor_mode="max" if scores else "min", early_stopping=bool(scores),
                         class_weight=class_weights(train_beats.labels, cfg.class_weighting),
                         rates={"samples": int(train_ds.cardinality()) * cfg.batch_size}, scorers=[*scores, *scorers],
                         **choices)


def classify(cfg: Config, model: keras.Model, beats: ecg_data.BeatSet, batch_size: int = 2048) -> np.ndarray:
    """The predicted class of every beat (empty for no beats)."""
    if not len(beats):
        return np.zeros(0, "int64")
    inputs = model_inputs(beats, _context_of(model), cfg.rr_inputs)
    return model.predict(inputs, batch_size=batch_size, verbose=0).argmax(axis=-1)


def score(cfg: Config, model: keras.Model, test: ecg_data.BeatSet) -> dict:
    """AAMI metrics (per-class Se, +P, Sp, F1; accuracy; macro F1; confusion matrix) on a record-disjoint test set."""
    predicted = classify(cfg, model, test)
    return {**ecg_data.aami_metrics(test.labels, predicted), "predicted": predicted}


def cross_validate(cfg: Config, ecg: ECGData, verbose: int | str = 0) -> dict:
    """Leave-records-out cross-validation on the training records of every database: cfg.cv_folds folds grouped by
    record (patient), each holding S, V and F beats where enough records hold them, and each database's records
    dealt evenly over the folds (shared.validation). Each fold's model trains cfg.epochs epochs on the other
    records and is scored on its held-out records after every epoch; the epoch count whose pooled held-out macro
    F1 (N, S, V, F) is highest is the one the final model trains for. The same fold models score the stress sets
    (domain.ecg.stress: the held-out records with many S beats re-scored as if S were their majority, the held-out
    records read through a lower rate when the databases' rates differ, and the generated scenarios), and the
    baselines run on the same folds and stress sets.

    Returns {"folds": [per fold: records, beats per class, headline at the chosen epoch], "best_epoch",
    "curve": pooled macro F1 per epoch, "pooled": headline of all held-out beats, "mean_sd": per-fold mean and sd,
    "databases": {database: pooled headline of its held-out records, this model's and the baselines'},
    "records": {record: its held-out row (metrics.per_record)}, "worst_record": per class the held-out record with
    the lowest sensitivity, "baselines": {name: {"pooled", "mean_sd"}}, "stress": {set: {"this model": pooled
    row, "this model, worst fold": the worst fold model's row, baseline: pooled row}}}. A fold already finished
    with the same configuration (its scores.json in run_dir/cv/fold-i) is read back, not trained again."""
    beats, slow = ecg.train, ecg.resampled
    folds, missing = record_folds(cfg, ecg)
    held_out = [beats.take(test_index) for _, test_index in folds]
    stress_sets = fold_stress_sets(cfg, ecg, held_out)

    def fit_fold(i, fit_index, test_index, fold_dir):
        fold_train, fold_test = beats.take(fit_index), beats.take(test_index)
        log.info("cv fold %d/%d: test records %s, %d training beats", i, len(folds),
                 sorted(set(fold_test.records.tolist())), len(fold_train))
        keras.utils.set_random_seed(cfg.seed)
        model = build_network(cfg, fold_train)
        scores = aami_scores(model_inputs(fold_test, cfg.context, cfg.rr_inputs), fold_test.labels,
                             prefix="heldout_")
        sets = stress_sets[i - 1]
        every = ecg_data.BeatSet.concat(list(sets.values()))
        ends = np.cumsum([len(v) for v in sets.values()])[:-1]
        stressed = training.EpochScores(lambda m: classify(cfg, m, every), every.labels,
                                        lambda y, p: stress.row(y[y >= 0], p[y >= 0])["S Se"], "stress_s_se")
        training.fit(beats_plan(cfg, model, fold_train, scorers=(scores, stressed), tensorboard=False, resampled=slow),
                     training.Settings.of(dataclasses.replace(cfg, run_dir=str(fold_dir)), verbose=verbose))
        return scores.predictions, {name: [np.split(p, ends)[j] for p in stressed.predictions]
                                    for j, name in enumerate(sets)}
    cv = validation.epoch_folds(beats.labels, folds, cfg.run_dir, dataclasses.asdict(cfg), fit_fold,
                                lambda y, p: ecg_data.aami_metrics(y, p)["macro_f1_nsvf"])
    baseline_preds = {name: [] for name in BASELINES}
    for (fit_index, _), fold_test, sets in zip(folds, held_out, stress_sets, strict=True):
        for name, pred in baseline_predictions(beats.take(fit_index), {"held-out": fold_test, **sets}).items():
            baseline_preds[name].append(pred)
    return {**cv_figures(ecg, held_out, cv, baseline_preds),
            "stress": stress_summary(stress_sets, cv["extras"], baseline_preds), "classes_not_in_every_fold": missing}


def cv_figures(ecg: ECGData, held_out: list[ecg_data.BeatSet], cv: dict, baseline_preds: dict) -> dict:
    """The cross-validation's figures on the held-out beats: per fold, pooled, per database, per record, the
    worst records, and the baselines' on the same folds (see cross_validate)."""
    labels = [fold.labels for fold in held_out]
    every = np.concatenate(labels)
    records = np.concatenate([fold.records for fold in held_out])
    databases = np.concatenate([ecg.database_of(fold) for fold in held_out])
    ours = held_out_summary(labels, databases, cv["predictions"])
    theirs = {name: held_out_summary(labels, databases, [p["held-out"] for p in preds])
              for name, preds in baseline_preds.items()}
    return {"folds": [{"records": sorted(set(f.records.tolist())), "beats": f.counts(ecg_data.AAMI_CLASSES),
                       **row} for f, row in zip(held_out, ours.pop("rows"), strict=True)],
            "best_epoch": cv["best_epoch"], "curve": cv["curve"], "pooled": ours["pooled"],
            "mean_sd": ours["mean_sd"],
            "databases": {name: {"this model": row, **{base: summary_["databases"][name]
                                                       for base, summary_ in theirs.items()}}
                          for name, row in ours["databases"].items()},
            "records": ecg_data.metrics.per_record(every, np.concatenate(cv["predictions"]), records),
            "worst_record": worst_records(held_out, cv["predictions"]),
            "baselines": {name: {k: v for k, v in row.items() if k in ("pooled", "mean_sd")}
                          for name, row in theirs.items()}}


def record_folds(cfg: Config, ecg: ECGData) -> tuple[list, list[str]]:
    """(cfg.cv_folds folds grouped by record, each database's records dealt evenly over them and S, V and F beats
    in every fold where enough records hold them; the classes that cannot be in every fold)."""
    beats = ecg.train
    holders = {c: len(set(beats.records[beats.labels == c].tolist())) for c in (1, 2, 3)}
    required = tuple(c for c, n in holders.items() if n >= cfg.cv_folds)  # S, V, F in every fold where possible
    missing = [f"{ecg_data.AAMI_CLASSES[c]} (in {holders[c]} records)" for c in (1, 2, 3) if c not in required]
    if missing:
        log.warning("cross-validation: not every fold can hold %s beats", ", ".join(missing))
    folds = validation.grouped_folds(beats.labels, beats.records, cfg.cv_folds, required=required, seed=FOLD_SEED,
                                     strata=ecg.database_of(beats))
    return folds, missing


def fold_stress_sets(cfg: Config, ecg: ECGData, held_out: list[ecg_data.BeatSet]) -> list[dict]:
    """Per fold, the stress sets its model is scored on: its held-out S-rich records re-scored as if S were their
    majority, its held-out records read through a lower rate (when the databases' rates differ), the generated
    scenarios."""
    generated = stress.generated_sets(cfg.before, cfg.after, cfg.template, seed=cfg.seed)
    slow = ecg.resampled
    return [{stress.COMPOSITION: ecg_data.beats.composition_stress(fold, cfg.r_index, cfg.template, seed=cfg.seed),
             **({stress.resampled_name(ecg.split): slow.take(np.isin(slow.records, fold.records))}
                if slow is not None else {}),
             **generated} for fold in held_out]


def held_out_summary(labels: list[np.ndarray], databases: np.ndarray, per_fold: list[np.ndarray]) -> dict:
    """The pooled headline of the folds' held-out beats, its mean and sd over folds, each fold's row and each
    database's pooled headline."""
    every = np.concatenate(labels)
    rows = [headline(ecg_data.aami_metrics(y, p)) for y, p in zip(labels, per_fold, strict=True)]
    pooled = np.concatenate(per_fold)
    return {"pooled": headline(ecg_data.aami_metrics(every, pooled)), "mean_sd": validation.mean_sd(rows),
            "rows": rows, "databases": {name: headline(ecg_data.aami_metrics(every[databases == name],
                                                                            pooled[databases == name]))
                                        for name in sorted(set(databases.tolist()))}}


def worst_records(held_out: list[ecg_data.BeatSet], predictions: list[np.ndarray], min_beats: int = 20) -> dict:
    """{"N Se", "S Se", "V Se", "F Se": [record, value]}: per class, the held-out record (with at least `min_beats`
    of the class) whose beats of it the cross-validation found least often."""
    records = np.concatenate([f.records for f in held_out])
    labels = np.concatenate([f.labels for f in held_out])
    predicted = np.concatenate(predictions)
    out = {}
    for c, name in enumerate(ecg_data.AAMI_CLASSES[:4]):
        found = {str(r): round(100.0 * float((predicted[(records == r) & (labels == c)] == c).mean()), 1)
                 for r in np.unique(records) if ((records == r) & (labels == c)).sum() >= min_beats}
        if found:
            worst = min(found, key=found.get)
            out[f"{name} Se"] = [worst, found[worst]]
    return out


def stress_summary(stress_sets: list[dict], model_preds: list[dict], baseline_preds: dict) -> dict:
    """{stress set: {"this model": pooled over the fold models, "this model, worst fold": the fold model with the
    lowest S Se (or the most false alarms where the set has no S beat), baseline: pooled}} (domain.ecg.stress.row)."""
    out = {}
    for name in stress_sets[0]:
        labels = [sets[name].labels for sets in stress_sets]
        pooled = np.concatenate(labels)
        rows = [stress.row(y, p[name]) for y, p in zip(labels, model_preds, strict=True) if len(y)]
        worst = min(rows, key=lambda r: (r["S Se"] if r["S beats"] else 100.0, -r["N called S or F %"]),
                    default=None)
        out[name] = {"this model": stress.row(pooled, np.concatenate([p[name] for p in model_preds])),
                     "this model, worst fold": worst,
                     **{base: stress.row(pooled, np.concatenate([p[name] for p in preds]))
                        for base, preds in baseline_preds.items()}}
    return out


def export(cfg: Config, model: keras.Model, ecg: ECGData, metrics: dict,
           root: str | pathlib.Path = shared_export.DEFAULT_ROOT) -> pathlib.Path:
    """saved_models/ecg/<version>/: serving_default(beats [batch, 2k+1, window] float32, template [batch, window]
    float32, rr [batch, 2k+1, r + 1] float32) -> probs [batch, 5], class [batch] (AAMI letter; "invalid input" with
    NaN probabilities for a row holding NaN, inf or a value beyond +-INPUT_LIMIT); k = cfg.context, r the RR
    features of cfg.rr_inputs.
    `model_inputs` builds the three inputs from a record's beats."""
    names = tf.constant(ecg_data.AAMI_CLASSES)
    k = _context_of(model)

    def serve(beats, template, rr):
        probs = model({"beats": beats, "template": template, "rr": rr}, training=False)
        probs, label = shared_export.flag_non_finite(probs, tf.gather(names, tf.argmax(probs, axis=-1)),
                                                     beats, template, rr, limit=INPUT_LIMIT)
        return {"probs": probs, "class": label}

    names_rr = list(ecg_data.beats.RR_INPUTS[cfg.rr_inputs])
    signature = [tf.TensorSpec((None, 2 * k + 1, cfg.window), tf.float32, name="beats"),
                 tf.TensorSpec((None, cfg.window), tf.float32, name="template"),
                 tf.TensorSpec((None, 2 * k + 1, len(names_rr) + 1), tf.float32, name="rr")]
    meta = {"config": {**dataclasses.asdict(cfg), "context": k}, "source": ecg.source, "metrics": metrics,
            "databases": ecg.split.get("databases", {}),
            "classes": list(ecg_data.AAMI_CLASSES), "rr_features": [*names_rr, "present"],
            "input_note": "beats: each beat and its k neighbours on either side (zeros beyond the record), the "
                          "MLII-like lead (MLII; SVDB's ECG1) resampled to 360 Hz, band-passed 0.5-35 Hz and divided by the record's typical R amplitude "
                          f"(domain.ecg.extract), {cfg.before} s before to {cfg.after} s after the R peak at "
                          f"{ecg_data.FS} Hz; template: the record's {cfg.template} template beat; rr: "
                          f"domain.ecg.rr_features {names_rr} of each, then 1 where the neighbour exists "
                          f"(domain.ecg.analysis.model_inputs(beats, {k}, '{cfg.rr_inputs}') builds all three)"}
    return shared_export.save(model, NAME, serve_fn=serve, input_signature=signature, metadata=meta, root=root)


def find_record(cfg: Config, given: str | pathlib.Path) -> pathlib.Path:
    """The WFDB record predict reads: `given` as a path (with or without .hea/.dat/.atr), or, when no such record
    is there, a record of that name in the data folders (--data-dir, else each of --databases' default folder)."""
    path = pathlib.Path(given)
    path = path.with_suffix("") if path.suffix in (".hea", ".dat", ".atr") else path
    if path.with_suffix(".hea").exists() or path.is_absolute():
        return path
    folders = [pathlib.Path(d) for d in cfg.data_dir] or [ecg_data.sources.default_data_dir(d) for d in cfg.databases]
    for candidate in [folder / path.name for folder in folders] + [folder.parent / path for folder in folders]:
        if candidate.with_suffix(".hea").exists():  # 208 in a data folder, or svdb/865 as the reports name it
            return candidate
    raise FileNotFoundError(f"ECG record {given}: no {path.name}.hea here nor in {', '.join(map(str, folders))}; give "
                            "the record's path (RECORD=path/to/record, without extension) or the folder that holds it "
                            "(--data-dir).")


def predict(cfg: Config, record_path: str | pathlib.Path, model_path: str | pathlib.Path | None = None,
            out_dir: str | pathlib.Path | None = None) -> dict:
    """Classify every beat of a WFDB record without reading its annotations (domain.ecg.analysis.analyze). Writes
    predict.json (the summary and every beat), beats.csv and <record>.rnn (analysis.write_beats) and predict.png (the
    heart rate over the whole record with the ectopic beats marked, and strips around the first S, V and F beats
    and at cfg.at, with the annotations' labels when the record has them: analysis.record_figure) into out_dir
    (default <run_dir>/predict/<record>) and returns the summary: beats per class, ventricular ectopy burden, and
    agreement with the record's annotations when it has any."""
    start = time.perf_counter()
    record_path = find_record(cfg, record_path)
    model_path = pathlib.Path(model_path) if model_path else shared_export.latest(NAME)
    served, meta = shared_export.load(model_path, NAME)
    annotated = record_path.with_suffix(".atr").exists()
    # read once; the annotations (when present) are used only afterwards, to report agreement
    record = ecg_data.read_record(record_path, first_lead_fallback=cfg.first_lead, annotations=annotated)
    result = analysis.analyze(record, shared_export.caller(served), meta, cfg.detector, annotated)
    beats = result.pop("beats")
    summary = {"model": str(model_path), **result, "seconds": round(time.perf_counter() - start, 3)}
    out_dir = pathlib.Path(out_dir) if out_dir else pathlib.Path(cfg.run_dir) / "predict" / record_path.name
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "predict.json").write_text(json.dumps(reports.plain({**summary, "beats": beats}), indent=2) + "\n")
    predicted = np.array([ecg_data.AAMI_CLASSES.index(b["class"]) if b["class"] in ecg_data.AAMI_CLASSES else 4
                          for b in beats], dtype="int64")
    peaks = np.array([round(b["time_s"] * ecg_data.FS) for b in beats], dtype="int64")
    analysis.write_beats(out_dir, record.name, beats, peaks)
    record_figure(record, peaks, predicted, annotated=annotated, at=None if cfg.at < 0 else cfg.at,
                  seconds=cfg.seconds).savefig(out_dir / "predict.png", dpi=90)
    log.info("predicted %s: %s in %.2f s; written to %s: predict.json, beats.csv, %s.rnn (WFDB annotations), "
             "predict.png", record.name, summary["beats_per_class"], summary["seconds"], out_dir, record.name)
    return summary


def test_sets(ecg: ECGData) -> dict[str, ecg_data.BeatSet]:
    """The sets the final model is scored on, once: DS2 (or, with --hold-out, the held-out DS1 records), then every
    record of each --test-dir folder, named by its database."""
    main = "held-out DS1 records" if ecg.split["test_is_held_out_ds1"] else "DS2"
    if ecg.source == "synthetic":  # records generated here carry MIT-BIH's numbers, not its patients
        main = f"generated records named like {main}"
    sets = {main: ecg.test} if len(ecg.test) else {}
    return {**sets, **{f"{name} (every record of --test-dir)": beats for name, beats in ecg.tests.items()}}


def evaluate(cfg: Config, model: keras.Model, ecg: ECGData) -> dict | None:
    """The test sets (test_sets), touched once: AAMI metrics of the first (DS2 when present) with record-level
    bootstrap intervals and the baselines' rows, and under "tests" every set's headline, per-record table,
    bootstrap intervals and baselines; None without a test set (the estimate is then the cross-validation)."""
    sets = test_sets(ecg)
    if not sets:
        return None
    baseline_preds = baseline_predictions(ecg.train, sets)  # each baseline fitted once on the training records
    tests = {}
    for name, beats in sets.items():
        result = score(cfg, model, beats)
        predicted = result.pop("predicted")
        tests[name] = {"metrics": result, "headline": headline(result),
                       "bootstrap": ecg_data.metrics.record_bootstrap(beats.labels, predicted, beats.records),
                       "records": ecg_data.metrics.per_record(beats.labels, predicted, beats.records),
                       "baselines": {base: headline(ecg_data.aami_metrics(beats.labels, preds[name]))
                                     for base, preds in baseline_preds.items()}}
        log.info("test (%s): accuracy %.2f%%, macro F1 (N, S, V, F) %.2f, S Se %.1f / +P %.1f", name,
                 result["accuracy"], result["macro_f1_nsvf"], result["per_class"]["S"]["Se"],
                 result["per_class"]["S"]["+P"])
    first = next(iter(sets))
    return {**tests[first]["metrics"], "test": first, "bootstrap": tests[first]["bootstrap"],
            "baselines": tests[first]["baselines"],
            "tests": {name: {k: v for k, v in t.items() if k != "metrics"} for name, t in tests.items()}}


def summary(cfg: Config, metrics: dict | None, estimate: dict | None = None) -> dict:
    """The test split's headline row, or without one the cross-validation's pooled row ("cv ..." keys)."""
    if metrics is not None:
        return headline(metrics)
    return {f"cv {k}": v for k, v in (estimate or {}).get("pooled", {}).items()}


def load_trained(cfg: Config) -> keras.Model:
    return checkpoints.load_checkpoint(cfg.run_dir, NAME)

