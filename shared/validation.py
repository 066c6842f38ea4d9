"""Grouped cross-validation: folds that never split a group (a patient, a record, a speaker) between training and
testing, and the mean and spread of a metric over folds.

Notebook:
    folds = validation.grouped_folds(labels, records, 5, required=(1, 2, 3))   # every fold holds S, V and F
    for train_index, test_index in folds: ...
    validation.mean_sd([{"accuracy": 91.0}, {"accuracy": 87.5}])   # {"accuracy": (89.25, 2.47)}
"""

from __future__ import annotations

import numpy as np


def grouped_folds(labels: np.ndarray, groups: np.ndarray, n_folds: int, *, required: tuple = (),
                  seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """[(train positions, test positions)] of `n_folds` folds over whole groups: a group (patient, record,
    speaker) is never in two folds. Groups are dealt out (in an order shuffled by `seed`, so folds are
    reproducible) so that every fold holds each label in `required`: the groups holding the label held by the
    fewest groups go first, each to the fold with the fewest holders of it, then the next label; the remaining
    groups go to the fold with the fewest items. A clear error names the labels when too few groups hold one."""
    labels, groups = np.asarray(labels), np.asarray(groups)
    distinct = np.unique(groups)
    if n_folds < 2 or n_folds > len(distinct):
        raise ValueError(f"cross-validation: {n_folds} folds over {len(distinct)} groups; need 2 <= folds <= groups.")
    order = np.random.default_rng(seed).permutation(distinct)
    holds = {g: set(np.unique(labels[groups == g]).tolist()) for g in order}
    size = {g: int((groups == g).sum()) for g in order}
    holders = {label: [g for g in order if label in holds[g]] for label in required}
    short = {label: len(h) for label, h in holders.items() if len(h) < n_folds}
    if short:
        raise ValueError(f"cross-validation: labels {short} are held by fewer groups than the {n_folds} folds; "
                         "use fewer folds or add groups holding them.")
    fold_of: dict = {}
    for label in sorted(required, key=lambda lab: len(holders[lab])):
        for g in holders[label]:
            if g in fold_of:
                continue
            count = [sum(1 for h in holders[label] if fold_of.get(h) == f) for f in range(n_folds)]
            load = [sum(size[h] for h, f2 in fold_of.items() if f2 == f) for f in range(n_folds)]
            fold_of[g] = min(range(n_folds), key=lambda f: (count[f], load[f]))
    for g in order:
        if g not in fold_of:
            load = [sum(size[h] for h, f2 in fold_of.items() if f2 == f) for f in range(n_folds)]
            fold_of[g] = int(np.argmin(load))
    fold = np.array([fold_of[g] for g in groups])
    return [(np.flatnonzero(fold != f), np.flatnonzero(fold == f)) for f in range(n_folds)]


def mean_sd(rows: list[dict[str, float]]) -> dict[str, tuple[float, float]]:
    """{key: (mean, sample standard deviation)} over fold rows, ignoring NaN (a class absent from a fold has no
    sensitivity); keys whose values are all NaN are left out."""
    out = {}
    for key in rows[0] if rows else {}:
        values = np.array([row[key] for row in rows], dtype="float64")
        values = values[np.isfinite(values)]
        if len(values):
            out[key] = (float(values.mean()), float(values.std(ddof=1)) if len(values) > 1 else 0.0)
    return out
