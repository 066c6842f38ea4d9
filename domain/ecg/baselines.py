"""The class handling of the ECG models and their linear baselines: per-class loss weights from the training
labels, the de Chazal-style logistic regression and majority baselines, and the headline row a report shows."""

from __future__ import annotations

import numpy as np

from domain.ecg import beats as beat_data
from domain.ecg import records as record_data

MAX_CLASS_WEIGHT = 50.0
Q_INDEX = record_data.AAMI_CLASSES.index("Q")


def class_weights(labels: np.ndarray, weighting: str) -> dict[int, float] | None:
    """Per-class loss weights from training labels: none; balanced (n / (k * n_c) over N, S, V, F, capped at
    MAX_CLASS_WEIGHT); sqrt (the square root of balanced: a milder lift of rare classes). Q (unclassifiable: 8 of
    51,021 DS1 beats) and absent classes keep weight 1: lifting 8 beats to the weight of thousands floods the
    other classes with Q calls."""
    if weighting == "none":
        return None
    counts = np.bincount(labels[labels >= 0], minlength=len(record_data.AAMI_CLASSES)).astype(float)
    present = counts > 0
    present[Q_INDEX] = False
    balanced = np.ones_like(counts)
    balanced[present] = np.minimum(counts[present].sum() / (present.sum() * counts[present]), MAX_CLASS_WEIGHT)
    weights = balanced if weighting == "balanced" else np.sqrt(balanced)
    return {i: float(w) for i, w in enumerate(weights)}


def baseline_features(beats: beat_data.BeatSet, rr_inputs: str) -> np.ndarray:
    """Per-beat features of the linear baselines: the beat and its difference from the record's template, every
    6th sample (60 Hz), and the RR features of `rr_inputs` - the inputs the per-beat model reads."""
    return np.concatenate([beats.beats[:, ::6], (beats.beats - beats.templates)[:, ::6],
                           beats.rr[:, beat_data.rr_columns(rr_inputs)]], axis=1)


# {name: (class weighting, RR inputs)}: logistic regression on both input sets, so a change of representation
# cannot hide behind its baseline (the earlier ratios to the record median; the RR in seconds before them)
BASELINES = {"majority (all N)": (None, None),
             "logistic regression (balanced weights), RR ratios to the record median": ("balanced", "relative"),
             "logistic regression (balanced weights), RR in seconds": ("balanced", "seconds"),
             "logistic regression (balanced weights), RR without the record median": ("balanced", "sinus")}


MAX_FIT_ROWS = 30_000  # the logistic regressions fit on every ectopic beat and normal beats up to this many rows:
# on the 82 training records, 7 s a fit instead of 26, with the same held-out macro F1 to 0.3 points (measured)


def fit_rows(labels: np.ndarray, limit: int = MAX_FIT_ROWS, seed: int = 0) -> np.ndarray:
    """Positions of the beats a baseline fits on: every labelled beat but Q, with normal beats drawn at random (under
    `seed`) so that there are at most `limit` rows (balanced class weights then restore the classes' weight)."""
    rows = np.flatnonzero((labels >= 0) & (labels != Q_INDEX))
    normal, other = rows[labels[rows] == 0], rows[labels[rows] != 0]
    if len(rows) > limit:
        normal = np.random.default_rng(seed).choice(normal, max(0, limit - len(other)), replace=False)
    return np.sort(np.concatenate([normal, other]))


def baseline_predictions(train: beat_data.BeatSet, tests: dict[str, beat_data.BeatSet]
                         ) -> dict[str, dict[str, np.ndarray]]:
    """{baseline: {test set: predicted classes of its beats}}: majority class, and logistic regression on
    `baseline_features` (a de Chazal-style linear classifier) on each RR input set with balanced class weights,
    fitted on `fit_rows` (Q beats left out: 8 in DS1, a balanced weight of ~1,000 floods the other classes). Each
    is fitted once and predicts every test set (a fold's held-out records, the stress sets)."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rows = fit_rows(train.labels)
    out = {}
    for name, (weighting, rr_inputs) in BASELINES.items():
        if weighting is None:
            out[name] = {key: np.zeros(len(t), dtype="int64") for key, t in tests.items()}
            continue
        classifier = make_pipeline(StandardScaler(), LogisticRegression(
            max_iter=500, class_weight="balanced" if weighting == "balanced" else None))
        with warnings.catch_warnings():  # lbfgs may stop at max_iter; the baseline is what it reached
            warnings.simplefilter("ignore", ConvergenceWarning)
            classifier.fit(baseline_features(train, rr_inputs)[rows], train.labels[rows])
        out[name] = {key: classifier.predict(baseline_features(t, rr_inputs)) if len(t) else np.zeros(0, "int64")
                     for key, t in tests.items()}
    return out


def headline(metrics: dict) -> dict[str, float]:
    """The row a report table shows: accuracy, macro F1 over N, S, V, F, Se/+P of the classes the field reports."""
    row = {"accuracy": metrics["accuracy"], "macro F1": metrics["macro_f1_nsvf"]}
    for name in ("N", "S", "V", "F"):
        row[f"{name} Se"] = metrics["per_class"][name]["Se"]
        row[f"{name} +P"] = metrics["per_class"][name]["+P"]
    return row
