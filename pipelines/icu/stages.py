"""The stages of the icu pipeline (pipelines.icu holds its options and the story): data -> datasets -> model ->
training -> evaluation -> export -> predict -> report."""

from __future__ import annotations

import dataclasses
import logging
import pathlib
import time

import keras
import numpy as np
import tensorflow as tf

from domain import icu as icu_data
from domain import sources as domain_sources
from pipelines.icu import NAME, PLAIN, TEST_SPLIT, Config
from pipelines.icu import report as icu_report
from shared import checkpoints, layers, reports, training, validation
from shared import data as shared_data
from shared import export as shared_export

log = logging.getLogger(__name__)
VARIABLES = len(icu_data.VARIABLES)
HOURS = icu_data.HOURS


# --------------------------------------------------------------------------------------------------- data

@dataclasses.dataclass
class IcuData:
    train: icu_data.Stays
    test: icu_data.Stays | None
    source: str
    notes: list[str]
    grid: tuple[np.ndarray, np.ndarray]  # grids(train): (values, mask) of every training stay, computed once


def _folder(cfg: Config) -> pathlib.Path:
    return pathlib.Path(cfg.data_dir) if cfg.data_dir else domain_sources.data_folder("physionet2012")


def load_data(cfg: Config) -> IcuData:
    """The training stays of the configured source, and the --test-dir stays when given."""
    folder = _folder(cfg)
    source = domain_sources.resolve_auto(cfg.source, any(folder.glob("Outcomes-*.txt")), remote="download",
                                         host="physionet.org", given=cfg.data_dir)
    if source == "synthetic":
        generated = icu_data.generate(pathlib.Path(cfg.run_dir) / "synthetic", cfg.synthetic_stays, cfg.seed)
        train = icu_data.read_folder(generated, f"synthetic ({cfg.synthetic_stays} stays generated here)")
    elif source == "local":
        train = icu_data.read_folder(folder, f"local: {folder}")
    else:
        train = icu_data.read_folder(icu_data.download(folder), f"download: {icu_data.DOWNLOAD} set A")
    test = icu_data.read_folder(cfg.test_dir, f"test: {cfg.test_dir}") if cfg.test_dir else None
    notes = [*train.notes, *(test.notes if test else [])]
    for note in notes:
        log.warning("%s", note)
    log.info("%s: %d stays, %.1f%% died in hospital", train.source, len(train), 100 * train.died.mean())
    return IcuData(train, test, train.source, notes, grids(train))


LOG_INDEX = np.array([icu_data.VARIABLES.index(v) for v in icu_data.SKEWED], "int32")  # no TF work at import


@tf.function(input_signature=[tf.TensorSpec([None], tf.float32), tf.TensorSpec([None], tf.int32),
                              tf.TensorSpec([None], tf.float32)])
def to_grid(minutes, index, values):
    """One stay's observations -> (values (48, variables), mask (48, variables)): cleaned (domain.icu.clean, the
    same code in training and in the served graph), the skewed laboratory values as log(1 + value)
    (domain.icu.SKEWED), the mean of each hour's values of each variable; an hour without one has value 0 and
    mask 0. Descriptors (time 0) land in the first hour."""
    import tensorflow.experimental.numpy as tnp

    index, values, keep = icu_data.clean(index, values, xp=tnp)
    index, values = tf.boolean_mask(index, keep), tf.boolean_mask(values, keep)
    skewed = tf.reduce_any(tf.equal(index[:, None], LOG_INDEX[None, :]), axis=1)
    values = tf.where(skewed, tf.math.log1p(tf.maximum(values, 0.0)), values)
    hours = tf.clip_by_value(tf.cast(tf.boolean_mask(minutes, keep) // 60, tf.int32), 0, HOURS - 1)
    cell = hours * VARIABLES + index
    total = tf.math.unsorted_segment_sum(values, cell, HOURS * VARIABLES)
    count = tf.math.unsorted_segment_sum(tf.ones_like(values), cell, HOURS * VARIABLES)
    mask = tf.cast(count > 0, tf.float32)
    return tf.reshape(total / tf.maximum(count, 1.0), (HOURS, VARIABLES)), tf.reshape(mask, (HOURS, VARIABLES))


def grids(stays: icu_data.Stays) -> tuple[np.ndarray, np.ndarray]:
    """(values, mask) of every stay, (stays, 48, variables) each."""
    pairs = [to_grid(s.minutes, s.index, s.values) for s in stays.stays]
    return np.stack([p[0].numpy() for p in pairs]), np.stack([p[1].numpy() for p in pairs])


def statistics(values: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-variable mean and standard deviation of the observed grid values (the training stays')."""
    count = np.maximum(mask.sum(axis=(0, 1)), 1)
    mean = (values * mask).sum(axis=(0, 1)) / count
    sd = np.sqrt((((values - mean) * mask) ** 2).sum(axis=(0, 1)) / count)
    return mean.astype("float32"), np.where(sd > 1e-6, sd, 1.0).astype("float32")


# -------------------------------------------------------------------------------------------------- model

def build_model(cfg: Config, data: IcuData) -> keras.Model:
    return build_network(cfg, *statistics(*data.grid))


def build_network(cfg: Config, mean: np.ndarray, sd: np.ndarray) -> keras.Model:
    """(values, mask) (batch, 48, variables) raw units -> probability of in-hospital death (batch, 1). Values
    are standardized by the training stays' `mean` and `sd` inside the model (clipped to +-6 sd)."""
    raw = keras.Input((HOURS, VARIABLES), name="values")
    mask = keras.Input((HOURS, VARIABLES), name="mask")
    z = layers.MaskedStandardize(mean, sd, name="standardize")([raw, mask])
    if cfg.architecture == "grud":
        x = layers.DecayImpute(name="decay_impute")([z, mask])
        state = layers.apply_rnn(x, cfg.rnn)
        chart = layers.MaskedStatistics(name="chart_statistics")([z, mask])
        state = keras.layers.Concatenate()([state, keras.layers.Dense(32, activation="relu", name="chart")(chart)])
    else:  # forward fill only: the plain GRU GRU-D is compared with
        x = layers.DecayImpute(decay=False, name="forward_fill")([z, mask])
        state = layers.apply_rnn(x, cfg.rnn)
    logit = keras.layers.Dense(1, name="logit")(keras.layers.Dropout(cfg.dropout)(state))
    probability = keras.layers.Activation("sigmoid", dtype="float32", name="death")(logit)
    return keras.Model([raw, mask], probability, name=f"icu_{cfg.architecture}")


def make_dataset(cfg: Config, values, mask, died=None, shuffle_seed: int | None = None) -> tf.data.Dataset:
    inputs = {"values": values, "mask": mask}
    ds = tf.data.Dataset.from_tensor_slices((inputs, died.astype("float32")) if died is not None else inputs)
    if shuffle_seed is not None:
        ds = shared_data.shuffled(ds, shuffle_seed, len(values))
    return ds.batch(cfg.batch_size).prefetch(tf.data.AUTOTUNE)


def stays_plan(cfg: Config, model: keras.Model, values, mask, died, **choices) -> training.Plan:
    """Every epoch runs (the count chosen beforehand): binary cross-entropy, no class weights, so the
    probabilities stay calibrated. `choices`: more of the plan (scorers, tensorboard)."""
    return training.Plan(model, make_dataset(cfg, values, mask, died, cfg.seed), None, loss="binary_crossentropy",
                         metrics=[keras.metrics.AUC(name="auroc")], early_stopping=False,
                         rates={"samples": len(values)}, **choices)


def plan(cfg: Config, model: keras.Model, data: IcuData) -> training.Plan:
    """The model that ships: every training stay."""
    values, mask = data.grid
    return stays_plan(cfg, model, values, mask, data.train.died)


def probabilities(model: keras.Model, stays: icu_data.Stays, cfg: Config | None = None) -> np.ndarray:
    values, mask = grids(stays)
    return model.predict(make_dataset(cfg or Config(), values, mask), verbose=0)[:, 0]


def train(cfg: Config, model: keras.Model, data: IcuData, verbose: int | str = "auto") -> training.TrainResult:
    """Stratified cross-validation first (cfg.cv_folds; cross_validation.json in the run folder), then `model` on
    every training stay for the epoch count it chose (cfg.epochs without it)."""
    start = time.perf_counter()
    cv = cross_validate(cfg, data, verbose=verbose) if cfg.cv_folds else None
    validation.keep(cfg.run_dir, cv)
    seconds = time.perf_counter() - start
    result = training.fit(plan(cfg, model, data), training.Settings.of(
        cfg, epochs=cv["best_epoch"] if cv else cfg.epochs, verbose=verbose))
    return dataclasses.replace(result, estimate=cv, timing={**result.timing,
                                                            "cross_validation_seconds": round(seconds, 1)})


def load_trained(cfg: Config) -> keras.Model:
    return checkpoints.load_checkpoint(cfg.run_dir, NAME)


# ------------------------------------------------------------------------------------------ cross-validation

def cross_validate(cfg: Config, data: IcuData, verbose: int | str = 0) -> dict:
    """Stratified cross-validation over the training stays (each stay one patient's admission, never split): each
    fold's model (standardized by its own training stays) trains cfg.epochs epochs and scores its held-out stays
    after every epoch; the epoch count with the best pooled AUROC is the one the final model trains for. The plain
    GRU (cfg.compare_plain), SAPS-I and the summary-statistics models run on the same folds."""
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold

    stays = data.train
    values, mask = data.grid
    folds = list(StratifiedKFold(cfg.cv_folds, shuffle=True, random_state=cfg.seed).split(values, stays.died))

    def run(kind: str) -> dict:
        def fit_fold(i, fit_index, test_index, fold_dir):
            log.info("cv %s fold %d/%d: %d held-out stays", kind, i, len(folds), len(test_index))
            fold_cfg = dataclasses.replace(cfg, architecture=kind, run_dir=str(fold_dir))
            keras.utils.set_random_seed(cfg.seed)
            model = build_network(fold_cfg, *statistics(values[fit_index], mask[fit_index]))
            held = make_dataset(cfg, values[test_index], mask[test_index])
            epoch_scores = training.EpochScores(lambda m: m.predict(held, verbose=0)[:, 0], stays.died[test_index],
                                                roc_auc_score, "heldout_auroc")
            training.fit(stays_plan(fold_cfg, model, values[fit_index], mask[fit_index], stays.died[fit_index],
                                    scorers=(epoch_scores,), tensorboard=False),
                         training.Settings.of(fold_cfg, epochs=cfg.epochs, verbose=verbose))
            return epoch_scores.predictions
        return validation.epoch_folds(stays.died, folds, pathlib.Path(cfg.run_dir) / kind,
                                      {**dataclasses.asdict(cfg), "architecture": kind}, fit_fold, roc_auc_score)

    models = {reports.MODEL: run(cfg.architecture)}
    if cfg.compare_plain and cfg.architecture != "gru":
        models[PLAIN] = run("gru")
    rows, summaries = [], icu_data.features(stays)
    for k, (fit_index, test_index) in enumerate(folds):
        prevalence = float(stays.died[fit_index].mean())
        held = stays.died[test_index]
        row = {name: icu_data.scores(held, cv["predictions"][k], prevalence) for name, cv in models.items()}
        for name, p in icu_data.baselines(stays.subset(fit_index), stays.subset(test_index), summaries[fit_index],
                                 summaries[test_index]).items():
            row[name] = icu_data.scores(held, p, prevalence)
        rows.append(row)
    names = list(rows[0])
    pooled = np.concatenate([models[names[0]]["predictions"][k] for k in range(len(folds))])
    mean_sd = {name: validation.mean_sd([r[name] for r in rows]) for name in names}
    best = max(names[1:], key=lambda k: mean_sd[k]["AUROC"][0])  # the baseline to beat
    return {"folds": rows, "mean_sd": mean_sd, "best_baseline": best,
            "best_epoch": models[names[0]]["best_epoch"], "curve": models[names[0]]["curve"],
            "curves": {name: cv["curve"] for name, cv in models.items()},
            "pooled": {"died": np.concatenate([stays.died[t] for _, t in folds]).tolist(), "p": pooled.tolist()}}


def evaluate(cfg: Config, model: keras.Model, data: IcuData) -> dict | None:
    """The --test-dir stays, touched once: the model and the baselines (fitted on every training stay); None
    without a test split (the estimate on unseen patients is then the cross-validation)."""
    if data.test is None:
        return None
    p = probabilities(model, data.test, cfg)
    prevalence = float(data.train.died.mean())
    table = {reports.MODEL: icu_data.scores(data.test.died, p, prevalence)}
    for name, q in icu_data.baselines(data.train, data.test, icu_data.features(data.train),
                                      icu_data.features(data.test)).items():
        table[name] = icu_data.scores(data.test.died, q, prevalence)
    return {**table[reports.MODEL], "table": table, "died": data.test.died.tolist(), "p": p.tolist()}


def summary(cfg: Config, metrics: dict | None, estimate: dict | None = None) -> dict:
    out = {}
    cv = estimate
    if cv:
        mean, sd = cv["mean_sd"][reports.MODEL]["AUROC"]
        out.update({"cv AUROC": round(mean, 4), "cv AUROC sd": round(sd, 4),
                    "cv AUPRC": round(cv["mean_sd"][reports.MODEL]["AUPRC"][0], 4),
                    "cv best baseline AUROC": round(cv["mean_sd"][cv["best_baseline"]]["AUROC"][0], 4)})
    if metrics is not None:
        out.update({"AUROC": round(metrics["AUROC"], 4), "AUPRC": round(metrics["AUPRC"], 4)})
    return out


# ------------------------------------------------------------------------------------------ export, predict

NAMES = np.array(list(icu_data.VARIABLES), dtype=object)  # a tf.string constant where used; none at import
SIGNATURE = [tf.TensorSpec([None], tf.float32, name="minutes"), tf.TensorSpec([None], tf.string, name="variable"),
             tf.TensorSpec([None], tf.float32, name="value")]


def export(cfg: Config, model: keras.Model, data: IcuData, metrics: dict,
           root: str | pathlib.Path = shared_export.DEFAULT_ROOT) -> pathlib.Path:
    """serving_default(minutes [n] float32 since ICU admission, variable [n] string (the challenge's names),
    value [n] float32: one stay's raw observations, any order) -> probability [1] of in-hospital death, ignored
    [1] int32: observations left out (unknown variable, time outside 0-48 h), removed [1] int32: known ones that
    cleaning removed (outside the physiological limits, as in training), measurements [1] int32: time-series
    observations that reached the model (0: the probability rests on the descriptors alone, or on nothing). A
    value that is NaN or inf gives a NaN probability, never a confident answer; a stay with no known observation
    is refused, as the command line refuses it."""
    import tensorflow.experimental.numpy as tnp

    series = tf.constant([icu_data.VARIABLES.index(v) for v in icu_data.SERIES], tf.int32)

    def serve(minutes, variable, value):
        match = tf.equal(tf.strings.strip(variable)[:, None], NAMES[None, :])  # " HR " is HR, as in a stay file
        known = tf.reduce_any(match, axis=1) & (minutes >= 0) & (minutes <= 60.0 * HOURS)
        with tf.control_dependencies([tf.debugging.Assert(tf.reduce_any(known), [
                "no observation of a known variable within 0-48 h: nothing to predict from (variables are the "
                "challenge's names, e.g. HR, Age; minutes since ICU admission)"])]):
            known = tf.identity(known)
        index = tf.cast(tf.argmax(tf.cast(match, tf.int32), axis=1), tf.int32)
        used_index, used_value = tf.boolean_mask(index, known), tf.boolean_mask(value, known)
        grid_values, grid_mask = to_grid(tf.boolean_mask(minutes, known), used_index, used_value)
        p = model({"values": grid_values[None], "mask": grid_mask[None]}, training=False)[:, 0]
        finite = tf.reduce_all(tf.math.is_finite(value))
        p = tf.where(finite, p, tf.fill(tf.shape(p), float("nan")))
        _, _, keep = icu_data.clean(used_index, used_value, xp=tnp)
        measured = keep & tf.reduce_any(tf.equal(used_index[:, None], series[None, :]), axis=1)

        def count(flags):
            return tf.reshape(tf.reduce_sum(tf.cast(flags, tf.int32)), [1])
        return {"probability": p, "ignored": count(~known), "removed": count(~keep), "measurements": count(measured)}

    meta = {"config": cfg, "source": data.source, "metrics": metrics, "variables": list(icu_data.VARIABLES),
            "limits": {k: list(v) for k, v in icu_data.LIMITS.items()}, "unit_fixes": icu_data.UNIT_FIXES,
            "research_only": "a research model, not a clinical tool"}
    return shared_export.save(model, NAME, serve_fn=serve, input_signature=SIGNATURE, metadata=meta, root=root)


def serve_stay(served, stay: icu_data.Stay) -> dict:
    names = np.array(icu_data.VARIABLES, dtype=object)[stay.index].astype(bytes)
    out = served.signatures["serving_default"](minutes=tf.constant(stay.minutes), variable=tf.constant(names),
                                               value=tf.constant(stay.values))
    return {name: float(out[name].numpy()[0]) if name == "probability" else int(out[name].numpy()[0])
            for name in ("probability", "ignored", "removed", "measurements")}


def predict(cfg: Config, path: str | pathlib.Path, model_path: str | pathlib.Path | None = None) -> dict:
    """One stay file through the exported model (latest by default): the probability of in-hospital death and the
    variables that moved it most, by occlusion (the probability again without all of that variable's
    observations; the change is its contribution)."""
    served, _ = shared_export.load(model_path or shared_export.latest(NAME), NAME)
    stay = icu_data.read_stay(path)
    base = serve_stay(served, stay)
    moved = {}
    for v in np.unique(stay.index):
        keep = stay.index != v
        if keep.any() and np.isin(stay.index[keep], [icu_data.VARIABLES.index(s) for s in icu_data.SERIES]).any():
            without = serve_stay(served, icu_data.Stay(stay.record_id, stay.minutes[keep], stay.index[keep],
                                                       stay.values[keep]))
            moved[icu_data.VARIABLES[v]] = round(base["probability"] - without["probability"], 4)
    top = dict(sorted(moved.items(), key=lambda kv: -abs(kv[1]))[:8])
    out = {"record": stay.record_id, "probability_of_death": round(base["probability"], 4),
           "observations": len(stay.values), "ignored": base["ignored"],
           "removed (outside physiological limits)": base["removed"], "skipped_lines": stay.skipped,
           "moved_most (probability with it minus without it)": top,
           "note": "research model, not a clinical tool"}
    if stay.descriptors_only or not base["measurements"]:
        out["warning"] = ("no usable measurement in the first 48 hours (descriptors only, or every measurement "
                          "removed or ignored): the probability rests on age, gender, height, ICU type and weight "
                          "alone")
    return out


# ------------------------------------------------------------------------------------------------ reporting

def build_report(cfg: Config, data: IcuData, metrics: dict | None,
                 timing: dict, estimate: dict | None = None) -> reports.Report:
    """report.md/json + PNG in the run folder (pipelines/icu/report.py), with the cross-validation `train` estimated."""
    return icu_report.build_report(cfg, data, metrics, timing, estimate, TEST_SPLIT)

