"""Beat-classification metrics as the field reports them (AAMI EC57 / de Chazal et al. 2004), and detection
agreement between detected and annotated beats."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import confusion_matrix

from domain.ecg.records import AAMI_CLASSES, FS

# de Chazal, O'Dwyer & Reilly, IEEE TBME 51(7):1196-1206 (2004): linear discriminants on morphology + RR features,
# trained on DS1, tested on DS2 (inter-patient). Percent.
DE_CHAZAL_2004 = {"N": {"Se": 86.9, "+P": 99.2}, "S": {"Se": 75.9, "+P": 38.5}, "V": {"Se": 77.7, "+P": 81.9},
                  "F": {"Se": 89.4, "+P": 8.6}}
MATCH_WINDOW = 0.15  # s: a detection within 150 ms of a reference beat matches it (ANSI/AAMI EC57)


def _ratio(num: float, den: float) -> float:
    return float(num) / float(den) if den else float("nan")


def aami_metrics(y_true: np.ndarray, y_pred: np.ndarray, classes: tuple[str, ...] = AAMI_CLASSES) -> dict:
    """Per class: Se (sensitivity), +P (positive predictivity), Sp (specificity), F1 and support, in percent;
    overall accuracy and macro F1 over classes with support; the confusion matrix (rows: true, columns: predicted)."""
    matrix = confusion_matrix(y_true, y_pred, labels=list(range(len(classes))))
    total = matrix.sum()
    per_class = {}
    for i, name in enumerate(classes):
        tp = matrix[i, i]
        fn = matrix[i].sum() - tp
        fp = matrix[:, i].sum() - tp
        tn = total - tp - fn - fp
        se, ppv = _ratio(tp, tp + fn), _ratio(tp, tp + fp)
        f1 = _ratio(2 * tp, 2 * tp + fp + fn)
        per_class[name] = {"Se": 100 * se, "+P": 100 * ppv, "Sp": 100 * _ratio(tn, tn + fp), "F1": 100 * f1,
                           "support": int(matrix[i].sum())}
    supported = [v["F1"] for v in per_class.values() if v["support"]]
    return {"accuracy": 100 * _ratio(np.trace(matrix), total), "macro_f1": float(np.mean(supported)),
            "per_class": per_class, "confusion": matrix.tolist()}


def match_beats(reference: np.ndarray, detected: np.ndarray, fs: float = FS,
                window: float = MATCH_WINDOW) -> tuple[np.ndarray, np.ndarray]:
    """Pairs (reference index, detected index) of beats within `window` seconds of each other, each beat used once
    (nearest first, both sorted)."""
    reference, detected = np.asarray(reference), np.asarray(detected)
    if not len(reference) or not len(detected):
        return np.zeros(0, int), np.zeros(0, int)
    nearest = np.clip(np.searchsorted(detected, reference), 1, len(detected) - 1)
    left, right = detected[nearest - 1], detected[nearest]
    choice = np.where(np.abs(reference - left) <= np.abs(reference - right), nearest - 1, nearest)
    close = np.abs(detected[choice] - reference) <= window * fs
    ref_idx, det_idx = np.flatnonzero(close), choice[close]
    _, first = np.unique(det_idx, return_index=True)
    return ref_idx[first], det_idx[first]


def detection_agreement(reference: np.ndarray, detected: np.ndarray, fs: float = FS) -> dict[str, float]:
    """QRS detection sensitivity and positive predictivity (percent) against reference beats."""
    ref_idx, _ = match_beats(reference, detected, fs)
    return {"matched": int(len(ref_idx)), "reference_beats": int(len(reference)), "detected_beats": int(len(detected)),
            "Se": 100 * _ratio(len(ref_idx), len(reference)), "+P": 100 * _ratio(len(ref_idx), len(detected))}
