"""Beat-classification metrics as the field reports them (AAMI EC57 / de Chazal et al. 2004), and detection
agreement between detected and annotated beats."""

from __future__ import annotations

import numpy as np

from domain.ecg.records import AAMI_CLASSES, FS

# de Chazal, O'Dwyer & Reilly, IEEE TBME 51(7):1196-1206 (2004): linear discriminants on morphology + RR features,
# trained on DS1, tested on DS2 (inter-patient). Percent.
DE_CHAZAL_2004 = {"N": {"Se": 86.9, "+P": 99.2}, "S": {"Se": 75.9, "+P": 38.5}, "V": {"Se": 77.7, "+P": 81.9},
                  "F": {"Se": 89.4, "+P": 8.6}}
# Inter-patient results (trained on DS1, tested on DS2, no labels of the test patients), as the inter-patient
# literature cites them; `comparable` says whether the protocol matches ours (the same DS1 -> DS2 split, no test-patient labels).
ANCHORS = {
    "de Chazal et al. 2004 (linear discriminants)": {
        "accuracy": 86, **{f"{c} {m}": DE_CHAZAL_2004[c][m] for c in "SV" for m in ("Se", "+P")},
        "source": "IEEE TBME 51(7):1196-1206", "comparable": "yes"},
    "Llamedo & Martinez 2011 (linear discriminants, feature selection)": {
        "accuracy": 93, "S Se": 77, "S +P": 39, "V Se": 81, "V +P": 87,
        "source": "IEEE TBME 58(3):616-625", "comparable": "yes"},
    "Lin & Yang 2014 (normalised RR, linear discriminants)": {
        "accuracy": 93, "S Se": 81, "S +P": 31, "V Se": 86, "V +P": 73,
        "source": "Lin & Yang 2014 (figures as cited in the inter-patient literature, not re-checked against the paper)", "comparable": "yes"},
    "Mondejar-Guerra et al. 2019 (SVM ensemble)": {
        "accuracy": 94.5, "source": "Biomed. Signal Process. Control 47 (2019)", "comparable": "yes"},
    "Niu et al. 2020 (symbolised rhythm + CNN)": {
        "accuracy": 96.4, "S F1": 76.6, "V F1": 89.7, "source": "Niu et al. 2020 (figures as cited in the inter-patient literature, not re-checked against the paper)",
        "comparable": "yes, but it uses rhythm symbols over many beats"},
    "patient-specific or beat-shuffled splits (e.g. Kiranyaz et al. 2016; random beat splits ~99%)": {
        "source": "various", "comparable": "no: the test patients' beats (or their labels) are seen in training"},
}
MATCH_WINDOW = 0.15  # s: a detection within 150 ms of a reference beat matches it (ANSI/AAMI EC57)


def _ratio(num: float, den: float) -> float:
    return float(num) / float(den) if den else float("nan")


def aami_metrics(y_true: np.ndarray, y_pred: np.ndarray, classes: tuple[str, ...] = AAMI_CLASSES) -> dict:
    """Per class: Se (sensitivity), +P (positive predictivity), Sp (specificity), F1 and support, in percent;
    overall accuracy; macro F1 over classes with support, and `macro_f1_nsvf` over N, S, V, F (the AAMI goal; a
    class that is neither present nor predicted is left out); the confusion matrix (rows: true, columns:
    predicted)."""
    k = len(classes)
    y_true, y_pred = np.asarray(y_true, dtype="int64").reshape(-1), np.asarray(y_pred, dtype="int64").reshape(-1)
    known = (y_true >= 0) & (y_true < k) & (y_pred >= 0) & (y_pred < k)  # as sklearn's confusion_matrix(labels=...)
    matrix = np.bincount(y_true[known] * k + y_pred[known], minlength=k * k).reshape(k, k)
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
    nsvf = [per_class[c]["F1"] for c in ("N", "S", "V", "F") if c in per_class and np.isfinite(per_class[c]["F1"])]
    return {"accuracy": 100 * _ratio(np.trace(matrix), total), "macro_f1": float(np.mean(supported)),
            "macro_f1_nsvf": float(np.mean(nsvf)) if nsvf else float("nan"),
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


def record_bootstrap(y_true: np.ndarray, y_pred: np.ndarray, records: np.ndarray, *, samples: int = 1000,
                     seed: int = 0, level: float = 0.95) -> dict[str, tuple[float, float]]:
    """Percentile intervals of the headline metrics with whole records resampled (with replacement): the right
    interval when abnormal beats cluster in a few patients (S beats of DS2 are mostly in a handful of records, so
    one record can swing S +P). {metric: (low, high)} for accuracy, macro F1 (N, S, V, F), and Se/+P of S and V."""
    y_true, y_pred, records = np.asarray(y_true), np.asarray(y_pred), np.asarray(records)
    names = np.unique(records)
    positions = {name: np.flatnonzero(records == name) for name in names}
    rng = np.random.default_rng(seed)
    keys = ("accuracy", "macro F1", "S Se", "S +P", "V Se", "V +P")
    draws = {key: [] for key in keys}
    for _ in range(samples):
        pick = np.concatenate([positions[name] for name in rng.choice(names, len(names), replace=True)])
        result = aami_metrics(y_true[pick], y_pred[pick])
        row = {"accuracy": result["accuracy"], "macro F1": result["macro_f1_nsvf"]}
        row.update({f"{c} {m}": result["per_class"][c][m] for c in "SV" for m in ("Se", "+P")})
        for key in keys:
            draws[key].append(row[key])
    tail = 100 * (1 - level) / 2
    return {key: tuple(float(v) for v in np.nanpercentile(values, [tail, 100 - tail])) for key, values in draws.items()}


def per_record(y_true: np.ndarray, y_pred: np.ndarray, records: np.ndarray) -> dict[str, dict]:
    """{record: {"beats", "N", "S", "V", "F", "Q": its beats of each class, "S Se", "S +P", "V Se", "V +P"}}: the
    table that shows which patients decide a class (S beats gather in a few records). Se is None where the record has
    no beat of the class, +P where nothing was called it (a dash in a report, never a NaN)."""
    y_true, y_pred, records = np.asarray(y_true), np.asarray(y_pred), np.asarray(records)
    out = {}
    for name in sorted(set(records.tolist())):
        mine = records == name
        truth, called = y_true[mine], y_pred[mine]
        row = {"beats": int(mine.sum()), **{c: int((truth == i).sum()) for i, c in enumerate(AAMI_CLASSES)}}
        for c in ("S", "V"):
            i = AAMI_CLASSES.index(c)
            hits = int(((truth == i) & (called == i)).sum())
            row[f"{c} Se"] = round(100.0 * hits / (truth == i).sum(), 1) if (truth == i).any() else None
            row[f"{c} +P"] = round(100.0 * hits / (called == i).sum(), 1) if (called == i).any() else None
        out[str(name)] = row
    return out
