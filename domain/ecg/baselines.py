"""The class handling of the ECG models and their linear baselines: per-class loss weights from the training
labels, the de Chazal-style logistic regression and majority baselines, and the headline row a report shows."""

from __future__ import annotations

import numpy as np

from domain.ecg import beats as beat_data
from domain.ecg import metrics as metric_data
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


def baseline_features(beats: beat_data.BeatSet) -> np.ndarray:
    """Per-beat features of the linear baselines: the beat and its difference from the record's template, every
    6th sample (60 Hz), and the RR features - the same inputs the per-beat model reads."""
    return np.concatenate([beats.beats[:, ::6], (beats.beats - beats.templates)[:, ::6], beats.rr], axis=1)


BASELINES = {"majority (all N)": None, "logistic regression (balanced weights)": "balanced",
             "logistic regression (no class weights)": "none"}


def baseline_predictions(train: beat_data.BeatSet, test: beat_data.BeatSet) -> dict[str, np.ndarray]:
    """{baseline: predicted classes of the test beats}: majority class, and logistic regression on
    `_baseline_features` (a de Chazal-style linear classifier) with and without balanced class weights, Q beats
    left out of its training (8 in DS1: a balanced weight of ~1,000 floods the other classes)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    fit_rows = (train.labels >= 0) & (train.labels != Q_INDEX)
    features = baseline_features(train)[fit_rows]
    out = {}
    for name, weighting in BASELINES.items():
        if weighting is None:
            out[name] = np.zeros(len(test), dtype="int64")
            continue
        classifier = make_pipeline(StandardScaler(), LogisticRegression(
            max_iter=500, class_weight="balanced" if weighting == "balanced" else None))
        classifier.fit(features, train.labels[fit_rows])
        out[name] = classifier.predict(baseline_features(test))
    return out


def baselines(ecg) -> dict[str, dict]:
    """Headline rows of the baselines on the test split."""
    return {name: headline(metric_data.aami_metrics(ecg.test.labels, pred))
            for name, pred in baseline_predictions(ecg.train, ecg.test).items()}


def headline(metrics: dict) -> dict[str, float]:
    """The row a report table shows: accuracy, macro F1 over N, S, V, F, Se/+P of the classes the field reports."""
    row = {"accuracy": metrics["accuracy"], "macro F1": metrics["macro_f1_nsvf"]}
    for name in ("N", "S", "V", "F"):
        row[f"{name} Se"] = metrics["per_class"][name]["Se"]
        row[f"{name} +P"] = metrics["per_class"][name]["+P"]
    return row
