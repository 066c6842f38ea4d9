"""In-hospital mortality from the first 48 hours of an ICU stay (PhysioNet/CinC Challenge 2012): one stay's
irregular measurements -> cleaned (physiological limits, unit fixes) -> hourly grid of values and a mask of what
was measured -> GRU-D style input decay (the last value fading towards the mean, the time since each variable was
seen) -> GRU, beside the chart's summary statistics -> probability of death. Stratified 5-fold cross-validation
on the training stays picks the epoch count and is the estimate on unseen patients, beside SAPS-I, logistic
regression and gradient boosting on the same folds. A research model, not a clinical tool.

Notebook:
    cfg = dataclasses.replace(icu.Config(), source="synthetic", epochs=3, cv_folds=0)
    stays = icu.load_data(cfg); model = icu.build_model(cfg, stays)
    icu.train(cfg, model, stays); icu.probabilities(model, stays.test)
    (or the whole story: shared.pipeline.run(icu, cfg))
"""

from __future__ import annotations

import dataclasses
import logging
import pathlib
import sys
import time
from typing import ClassVar

import keras
import numpy as np
import tensorflow as tf

from domain import icu as icu_data
from domain import sources as domain_sources
from shared import cli, layers, pipeline, reports, training, validation
from shared import export as shared_export

log = logging.getLogger(__name__)
NAME = "icu"
PREDICT_INPUT = "one stay in the challenge's format: make predict-icu INPUT=path/to/stay.txt"
TEST_SPLIT = ("give held-out stays in the same format with --test-dir (e.g. the challenge's set B folder with its "
              "Outcomes-b.txt)")
VARIABLES = len(icu_data.VARIABLES)
HOURS = icu_data.HOURS


@dataclasses.dataclass(frozen=True)
class Config:
    source: str = "auto"        # auto | local (--data-dir in the challenge's layout) | download (PhysioNet set A) |
                                # synthetic (stays generated here in the same format)
    data_dir: str = ""          # the challenge folder (Outcomes-a.txt, set-a/); default $RNN_DATA_DIR/physionet2012
    test_dir: str = ""          # held-out stays in the same format: the test split, touched once by evaluate
    synthetic_stays: int = 1500  # stays generated for --source synthetic
    architecture: str = "grud"  # grud: decay imputation, mask and time since seen + chart statistics | gru: a
                                # plain GRU on forward-filled hourly values (the comparison)
    rnn: str = "gru:32"         # chosen by the cross-validation on set A with dropout 0.5 (docs/icu.md: variants)
    dropout: float = 0.5        # dropout on the features the output layer reads (recurrent state and statistics)
    batch_size: int = 64
    epochs: int = 15            # the most epochs; with cv_folds the cross-validation picks the count (the pooled
                                # held-out AUROC peaked at epoch 12 of 25 on set A, then fell as the model overfit)
    learning_rate: float = 1e-3
    cv_folds: int = 5           # stratified folds over the stays (a stay is one patient's admission); 0: off
    compare_plain: bool = True  # also cross-validate the plain GRU on the same folds
    seed: int = 1337
    jit_compile: bool = False
    run_dir: str = "runs/icu"

    CHOICES: ClassVar[dict] = {"source": icu_data.SOURCES, "architecture": ("grud", "gru")}

    def __post_init__(self):
        layers.parse_spec(self.rnn)
        cli.check_choices(self)
        training.check_options(self.batch_size, self.epochs, self.learning_rate)
        cli.expect(self, "cv_folds", self.cv_folds == 0 or self.cv_folds >= 2, "0 (no cross-validation) or at least 2")
        cli.expect(self, "dropout", 0 <= self.dropout < 1, "a fraction in [0, 1)")
        cli.at_least(self, 50, "synthetic_stays")


CARD = {
    "use": "Research and teaching: how a recurrent model reads irregular, partly missing clinical time series "
           "(the GRU-D idea), measured against severity scores and summary-statistic models on the same folds.",
    "not for": "Any clinical decision. It is a research model, not a clinical tool: trained on one 2001-2008 "
               "database of four ICUs of one hospital (MIMIC-II, via the challenge), never validated prospectively, "
               "uncalibrated for other populations, and blind to everything outside its 41 variables.",
    "data": "PhysioNet/CinC Challenge 2012 set A (4,000 adult ICU stays, Open Data Commons Attribution 1.0), "
            "stays never split between folds; or stays generated here in the same format (offline).",
    "generated": ("synthetic",),
}

QUICK = {"source": "synthetic", "synthetic_stays": 400, "rnn": "gru:16", "epochs": 4, "cv_folds": 0,
         "compare_plain": False}


# --------------------------------------------------------------------------------------------------- data

@dataclasses.dataclass
class IcuData:
    train: icu_data.Stays
    test: icu_data.Stays | None
    source: str
    notes: list[str]
    grid: tuple[np.ndarray, np.ndarray]  # grids(train): (values, mask) of every training stay, computed once


def _folder(cfg: Config) -> pathlib.Path:
    import os

    if cfg.data_dir:
        return pathlib.Path(cfg.data_dir)
    return pathlib.Path(os.environ.get("RNN_DATA_DIR", "data")) / "physionet2012"


def load_data(cfg: Config) -> IcuData:
    """The training stays of the configured source, and the --test-dir stays when given."""
    folder = _folder(cfg)
    source = domain_sources.resolve_auto(cfg.source, any(folder.glob("Outcomes-*.txt")), remote="download",
                                         host="physionet.org")
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
    else:  # forward fill only: the plain GRU the issue compares with
        x = layers.DecayImpute(decay=False, name="forward_fill")([z, mask])
        state = layers.apply_rnn(x, cfg.rnn)
    logit = keras.layers.Dense(1, name="logit")(keras.layers.Dropout(cfg.dropout)(state))
    probability = keras.layers.Activation("sigmoid", dtype="float32", name="death")(logit)
    return keras.Model([raw, mask], probability, name=f"icu_{cfg.architecture}")


def make_dataset(cfg: Config, values, mask, died=None, shuffle_seed: int | None = None) -> tf.data.Dataset:
    inputs = {"values": values, "mask": mask}
    ds = tf.data.Dataset.from_tensor_slices((inputs, died.astype("float32")) if died is not None else inputs)
    if shuffle_seed is not None:
        ds = ds.shuffle(len(values), seed=shuffle_seed, reshuffle_each_iteration=True)
    return ds.batch(cfg.batch_size).prefetch(tf.data.AUTOTUNE)


def fit_stays(cfg: Config, model: keras.Model, values, mask, died, epochs: int, verbose: int | str = "auto",
              **options) -> keras.callbacks.History:
    """Every epoch runs (the count chosen beforehand): binary cross-entropy, no class weights, so the
    probabilities stay calibrated."""
    return training.fit(model, make_dataset(cfg, values, mask, died, cfg.seed), None,
                        training.Settings.of(cfg, epochs=epochs, verbose=verbose),
                        loss="binary_crossentropy", metrics=[keras.metrics.AUC(name="auroc")],
                        early_stopping=False, samples_per_epoch=len(values), **options)


def probabilities(model: keras.Model, stays: icu_data.Stays, cfg: Config | None = None) -> np.ndarray:
    values, mask = grids(stays)
    return model.predict(make_dataset(cfg or Config(), values, mask), verbose=0)[:, 0]


def train(cfg: Config, model: keras.Model, data: IcuData, verbose: int | str = "auto") -> keras.callbacks.History:
    """Stratified cross-validation first (cfg.cv_folds; cross_validation.json in the run folder), then `model` on
    every training stay for the epoch count it chose (cfg.epochs without it)."""
    start = time.perf_counter()
    cv = cross_validate(cfg, data, verbose=verbose) if cfg.cv_folds else None
    validation.keep(cfg.run_dir, cv)
    seconds = time.perf_counter() - start
    values, mask = data.grid
    history = fit_stays(cfg, model, values, mask, data.train.died, cv["best_epoch"] if cv else cfg.epochs,
                        verbose=verbose)
    history.timing["cross_validation_seconds"] = round(seconds, 1)
    history.estimate = cv
    return history


def load_trained(cfg: Config) -> keras.Model:
    return training.load_checkpoint(cfg.run_dir, NAME)


# ------------------------------------------------------------------------------------------------ metrics

def scores(died: np.ndarray, p: np.ndarray, prevalence: float) -> dict:
    """AUROC, AUPRC, Brier score and the challenge's event-1 score min(Se, +P), with the stays flagged being the
    `prevalence` fraction (the training stays' death rate) most at risk: when as many are flagged as die,
    Se = +P, so the rule needs no threshold tuned on labels."""
    from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

    flagged = p >= np.quantile(p, 1 - prevalence)
    hits = float((flagged & (died == 1)).sum())
    se, ppv = hits / max(int(died.sum()), 1), hits / max(int(flagged.sum()), 1)
    return {"AUROC": float(roc_auc_score(died, p)), "AUPRC": float(average_precision_score(died, p)),
            "min(Se, +P)": min(se, ppv), "Brier": float(brier_score_loss(died, np.clip(p, 0, 1)))}


SAPS = "SAPS-I score (logistic calibration)"


def summary_models() -> dict:
    """The baselines on per-variable summary statistics (domain.icu.summary_features)."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return {"summary statistics + logistic regression": lambda: make_pipeline(
                SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True), StandardScaler(),
                LogisticRegression(C=0.1, max_iter=5000)),
            "summary statistics + gradient boosting": lambda: HistGradientBoostingClassifier(
                learning_rate=0.03, max_iter=400, max_leaf_nodes=15, l2_regularization=1.0, random_state=0)}


def features(stays: icu_data.Stays) -> np.ndarray:
    """(stays, variables x statistics) summary features of the baselines (domain.icu.summary_features)."""
    return np.stack([icu_data.summary_features(s) for s in stays.stays])


def baselines(train: icu_data.Stays, test: icu_data.Stays, train_features: np.ndarray,
              test_features: np.ndarray) -> dict[str, np.ndarray]:
    """{name: probabilities for `test`} of SAPS-I alone (its score turned into a probability by a logistic
    regression fitted on `train`; unknown -> the training median) and the summary-statistics models fitted on
    `train`."""
    from sklearn.linear_model import LogisticRegression

    seen = ~np.all(np.isnan(train_features), axis=0)  # variables never measured in training (ICUType in set A)
    fill = float(np.nanmedian(train.saps))
    saps = LogisticRegression().fit(np.nan_to_num(train.saps, nan=fill)[:, None], train.died)
    out = {SAPS: saps.predict_proba(np.nan_to_num(test.saps, nan=fill)[:, None])[:, 1]}
    for name, make in summary_models().items():
        out[name] = make().fit(train_features[:, seen], train.died).predict_proba(test_features[:, seen])[:, 1]
    return out


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
            fit_stays(fold_cfg, model, values[fit_index], mask[fit_index], stays.died[fit_index], cfg.epochs,
                      scorers=(epoch_scores,), verbose=verbose, tensorboard=False)
            return epoch_scores.predictions
        return validation.epoch_folds(stays.died, folds, pathlib.Path(cfg.run_dir) / kind,
                                      {**dataclasses.asdict(cfg), "architecture": kind}, fit_fold, roc_auc_score)

    models = {f"this model ({cfg.architecture}, {cfg.rnn})": run(cfg.architecture)}
    if cfg.compare_plain and cfg.architecture != "gru":
        models[f"plain GRU on forward-filled hours ({cfg.rnn})"] = run("gru")
    rows, summaries = [], features(stays)
    for k, (fit_index, test_index) in enumerate(folds):
        prevalence = float(stays.died[fit_index].mean())
        held = stays.died[test_index]
        row = {name: scores(held, cv["predictions"][k], prevalence) for name, cv in models.items()}
        for name, p in baselines(stays.subset(fit_index), stays.subset(test_index), summaries[fit_index],
                                 summaries[test_index]).items():
            row[name] = scores(held, p, prevalence)
        rows.append(row)
    names = list(rows[0])
    pooled = np.concatenate([models[names[0]]["predictions"][k] for k in range(len(folds))])
    mean_sd = {name: validation.mean_sd([r[name] for r in rows]) for name in names}
    best = max(names[1:], key=lambda k: mean_sd[k]["AUROC"][0])  # the baseline to beat
    return {"model": names[0], "folds": rows, "mean_sd": mean_sd, "best_baseline": best,
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
    table = {"this model": scores(data.test.died, p, prevalence)}
    for name, q in baselines(data.train, data.test, features(data.train), features(data.test)).items():
        table[name] = scores(data.test.died, q, prevalence)
    return {**table["this model"], "table": table, "died": data.test.died.tolist(), "p": p.tolist()}


def summary(cfg: Config, metrics: dict | None, estimate: dict | None = None) -> dict:
    out = {}
    cv = estimate
    if cv:
        name = cv["model"]
        mean, sd = cv["mean_sd"][name]["AUROC"]
        out.update({"cv AUROC": round(mean, 4), "cv AUROC sd": round(sd, 4),
                    "cv AUPRC": round(cv["mean_sd"][name]["AUPRC"][0], 4),
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
    value that is NaN or inf gives a NaN probability, never a confident answer."""
    import tensorflow.experimental.numpy as tnp

    series = tf.constant([icu_data.VARIABLES.index(v) for v in icu_data.SERIES], tf.int32)

    def serve(minutes, variable, value):
        match = tf.equal(variable[:, None], NAMES[None, :])
        known = tf.reduce_any(match, axis=1) & (minutes >= 0) & (minutes <= 60.0 * HOURS)
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

ANCHORS = {
    "Che et al. 2018, GRU-D (Sci Rep 8:6085), PhysioNet 2012 mortality": {
        "AUROC": "about 0.84", "source": "the paper's abstract-level claim via the data README; its table could "
                                         "not be checked here (their own split and features)"},
    "Johnson et al. 2012, challenge event 1 winner": {
        "min(Se, +P)": 0.5353, "source": "challenge top scores, set C (physionet.org challenge/2012)"},
    "SAPS-I, the challenge's reference predictor": {
        "min(Se, +P)": 0.3125, "source": "challenge top scores, set C (m-code)"},
}


def reliability_figure(died: np.ndarray, p: np.ndarray):
    from matplotlib.figure import Figure
    from sklearn.calibration import calibration_curve

    fraction, mean = calibration_curve(died, p, n_bins=10, strategy="quantile")
    fig = Figure(figsize=(5, 5))
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1], "--", color="grey", label="perfect calibration")
    ax.plot(mean, fraction, "o-", label="this model (held-out folds)")
    ax.set(xlabel="predicted probability of death", ylabel="observed fraction who died",
           title="Reliability (deciles of prediction)")
    ax.legend()
    return fig


def write_report(cfg: Config, data: IcuData, metrics: dict | None,
                 timing: dict, estimate: dict | None = None) -> None:
    cv = estimate
    report_metrics, baseline_rows, figures, sections = {}, {}, {}, {}
    if cv:
        name = cv["model"]
        for model_name, stats in cv["mean_sd"].items():
            baseline_rows[f"cross-validation: {model_name}"] = {
                k: f"{mean:.4f} +- {sd:.4f}" for k, (mean, sd) in stats.items()}
        report_metrics["cross-validation"] = {k: round(v[0], 4) for k, v in cv["mean_sd"][name].items()}
        report_metrics["cross-validation"]["epochs"] = cv["best_epoch"]
        best = cv["best_baseline"]
        ours, theirs = cv["mean_sd"][name]["AUROC"][0], cv["mean_sd"][best]["AUROC"][0]
        folds_won = sum(r[name]["AUROC"] > r[best]["AUROC"] for r in cv["folds"])
        sections["Cross-validation (stratified, stays never split)"] = "\n".join([
            f"{cfg.cv_folds} stratified folds over {len(data.train)} stays; every model below was fitted on the same "
            f"training folds and scored on the same held-out stays. Epoch count chosen by pooled held-out AUROC: "
            f"{cv['best_epoch']} (curves: " + "; ".join(f"{k}: {', '.join(f'{c:.3f}' for c in v)}"
                                                     for k, v in cv["curves"].items()) + ").",
            "min(Se, +P) flags the training death rate's fraction of stays most at risk (Se = +P then).", "",
            f"**Verdict: mean AUROC {ours:.4f} against the best baseline's {theirs:.4f} ({best}); better on "
            f"{folds_won} of {len(cv['folds'])} folds.** "
            + ("It beats every baseline on these folds." if ours > theirs else
               "It does not beat that baseline: on 4,000 stays the summary statistics of a chart already hold "
               "most of what predicts death, and the recurrent model's extra view of the trajectory does not "
               "make up for fitting many more parameters on few deaths.")])
        died, p = np.array(cv["pooled"]["died"]), np.array(cv["pooled"]["p"])
        figures["reliability"] = reliability_figure(died, p)
    if metrics:
        report_metrics["test"] = {k: v for k, v in metrics.items() if k in ("AUROC", "AUPRC", "min(Se, +P)", "Brier")}
        baseline_rows.update({f"test: {k}": v for k, v in metrics["table"].items()})
    else:
        sections["Test"] = f"No test split ({TEST_SPLIT}): the estimate on unseen patients is the cross-validation."
    removed = icu_data.cleaning_report(data.train.stays)
    sections["Cleaning"] = "\n".join([
        f"Physiological limits per variable (domain/icu.py LIMITS); unit fixes: {icu_data.UNIT_FIXES}.", "",
        "| variable | kept | removed | units fixed |", "|---|---:|---:|---:|",
        *[f"| {k} | {v['kept']} | {v['removed']} | {v['fixed units']} |" for k, v in removed.items()
          if v["removed"] or v["fixed units"]], "",
        "Read as published (domain/icu.py parse_stay; docs/data.md):", "",
        "| stays | read | lines with an empty variable name, skipped (stays holding them) | descriptors only, "
        "predicted from them |", "|---|---:|---:|---:|",
        *[f"| {part} | {len(st)} | {sum(s.skipped for s in st.stays)} ({sum(bool(s.skipped) for s in st.stays)}) "
          f"| {sum(s.descriptors_only for s in st.stays)} |"
          for part, st in (("training", data.train), ("test", data.test)) if st is not None]])
    sections["Use"] = "A research model, not a clinical tool (see the model card)."
    sections["Notes"] = "\n".join(f"- {n}" for n in data.notes) or "- none"
    reports.write(cfg.run_dir, domain=NAME, source=data.source, metrics=report_metrics, baselines=baseline_rows,
                  anchors=ANCHORS, timing=timing, figures=figures, sections=sections,
                  extra={"config": dataclasses.asdict(cfg), "cv": cv, "cleaning": removed})


if __name__ == "__main__":
    pipeline.main(sys.modules[__name__])
