"""Grouped cross-validation: folds that never split a group (a patient, a record, a speaker) between training and
testing, and the mean and spread of a metric over folds.

Notebook:
    folds = validation.grouped_folds(labels, records, 5, required=(1, 2, 3))   # every fold holds S, V and F
    for train_index, test_index in folds: ...
    validation.mean_sd([{"accuracy": 91.0}, {"accuracy": 87.5}])   # {"accuracy": (89.25, 2.47)}
    cv = validation.epoch_folds(labels, folds, "runs/x", config, fit_fold, score)   # the epoch count, by folds
"""

from __future__ import annotations

import json
import logging
import pathlib
from collections.abc import Callable

import numpy as np

log = logging.getLogger(__name__)

CV_FILE = "cross_validation.json"  # in the run folder: a pipeline's train writes it, its summary and report read it


def keep(run_dir: str | pathlib.Path, cv: dict | None) -> None:
    """Record a run's cross-validation in its folder (atomically, so `evaluate` on the checkpoint keeps it), or,
    for a run without one, remove an earlier run's file: it does not describe this run."""
    from shared import checkpoints, reports

    if cv:
        checkpoints.save_beside_checkpoint(run_dir, CV_FILE, reports.plain(cv))
    else:
        (pathlib.Path(run_dir) / CV_FILE).unlink(missing_ok=True)


def kept(run_dir: str | pathlib.Path) -> dict | None:
    """The cross-validation `keep` recorded in the run folder (None without one)."""
    path = pathlib.Path(run_dir) / CV_FILE
    return json.loads(path.read_text()) if path.exists() else None


def grouped_folds(labels: np.ndarray, groups: np.ndarray, n_folds: int, *, required: tuple = (),
                  seed: int = 0, strata: np.ndarray | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
    """[(train positions, test positions)] of `n_folds` folds over whole groups: a group (patient, record,
    speaker) is never in two folds. Groups are dealt out (in an order shuffled by `seed`, so folds are
    reproducible) so that every fold holds each label in `required`: the groups holding the label held by the
    fewest groups go first, each to the fold with the fewest holders of it, then the next label; the remaining
    groups go to the fold with the fewest items. With `strata` (per item, e.g. each record's database), a group
    goes, among those folds, to the one with the fewest groups of its stratum first, so each stratum is spread
    evenly. A clear error names the labels when too few groups hold one."""
    labels, groups = np.asarray(labels), np.asarray(groups)
    distinct = np.unique(groups)
    if n_folds < 2 or n_folds > len(distinct):
        raise ValueError(f"cross-validation: {n_folds} folds over {len(distinct)} groups; need 2 <= folds <= groups.")
    order = np.random.default_rng(seed).permutation(distinct)
    holds = {g: set(np.unique(labels[groups == g]).tolist()) for g in order}
    size = {g: int((groups == g).sum()) for g in order}
    stratum = {g: 0 for g in order}
    if strata is not None:
        first = {g: s for g, s in zip(groups.tolist(), np.asarray(strata).tolist(), strict=True)}
        stratum = {g: first[g] for g in order}
    holders = {label: [g for g in order if label in holds[g]] for label in required}
    short = {label: len(h) for label, h in holders.items() if len(h) < n_folds}
    if short:
        raise ValueError(f"cross-validation: labels {short} are held by fewer groups than the {n_folds} folds; "
                         "use fewer folds or add groups holding them.")
    fold_of: dict = {}

    def load(f):
        return sum(size[h] for h, f2 in fold_of.items() if f2 == f)

    def alike(g, f):  # groups of g's stratum already in fold f (0 without strata: the old order)
        return sum(1 for h, f2 in fold_of.items() if f2 == f and stratum[h] == stratum[g]) if strata is not None else 0
    for label in sorted(required, key=lambda lab: len(holders[lab])):
        for g in holders[label]:
            if g in fold_of:
                continue
            count = [sum(1 for h in holders[label] if fold_of.get(h) == f) for f in range(n_folds)]
            fold_of[g] = min(range(n_folds), key=lambda f: (count[f], alike(g, f), load(f)))
    for g in order:
        if g not in fold_of:
            fold_of[g] = min(range(n_folds), key=lambda f: (alike(g, f), load(f)))
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


def epoch_folds(labels: np.ndarray, folds: list[tuple[np.ndarray, np.ndarray]], run_dir: str | pathlib.Path,
                config: dict, fit_fold: Callable, score: Callable) -> dict:
    """The cross-validation driver of the suite (ECG records, speakers). For fold i, `fit_fold(i, train positions,
    test positions, fold folder)` trains a model on the training positions only and returns its predictions for
    the test positions after every epoch (a list, one array per epoch: shared.training.EpochScores keeps them),
    or (that list, {name: a list of the same kind for other held-out items}), e.g. stress sets scored by the
    fold's model. The epoch count is chosen where `score(labels, predictions)` over all held-out items pooled is highest.
    A fold whose run_dir/cv/fold-i/scores.json was written with the same `config` is read back, not trained again
    (a stopped cross-validation resumes at its first unfinished fold).

    Returns {"predictions": per fold, the predictions at the chosen epoch; "extras": per fold, {name: the other
    items' predictions at that epoch}; "curve": the pooled score per epoch; "best_epoch": 1-based}."""
    labels = np.asarray(labels)
    config = json.loads(json.dumps(config))
    per_fold, extras = [], []
    for i, (fit_index, test_index) in enumerate(folds, start=1):
        fold_dir = pathlib.Path(run_dir) / "cv" / f"fold-{i}"
        saved = fold_dir / "scores.json"
        previous = json.loads(saved.read_text()) if saved.exists() else {}
        if previous.get("config") == config:
            epochs = [np.array(p) for p in previous["predictions"]]
            other = {name: [np.array(p) for p in values] for name, values in previous.get("extras", {}).items()}
            log.info("cv fold %d/%d: read back from %s", i, len(folds), saved)
        else:
            fitted = fit_fold(i, fit_index, test_index, fold_dir)
            fitted, other = fitted if isinstance(fitted, tuple) else (fitted, {})
            epochs = [np.asarray(p) for p in fitted]
            other = {name: [np.asarray(p) for p in values] for name, values in other.items()}
            fold_dir.mkdir(parents=True, exist_ok=True)
            partial = saved.with_name("scores.json.partial")
            partial.write_text(json.dumps({"config": config, "predictions": [p.tolist() for p in epochs],
                                           "extras": {k: [p.tolist() for p in v] for k, v in other.items()}}))
            partial.replace(saved)
        per_fold.append(epochs)
        extras.append(other)
    held_out = np.concatenate([labels[test] for _, test in folds])
    count = min(len(p) for p in per_fold)
    curve = [float(score(held_out, np.concatenate([p[e] for p in per_fold]))) for e in range(count)]
    best = int(np.argmax(curve))
    return {"predictions": [p[best] for p in per_fold], "curve": curve, "best_epoch": best + 1,
            "extras": [{name: values[best] for name, values in other.items()} for other in extras]}
