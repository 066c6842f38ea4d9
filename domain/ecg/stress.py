"""Stress sets: the patients and recordings that the training records cannot show, and how a model fares on them.

Generated (domain.ecg.synthetic's stress scenarios, deterministic): S beats as the majority of a slow sinus rhythm,
an irregular rhythm (atrial fibrillation) with normal beats only, every beat wide (bundle branch block) with normal
beats only. From real records (`domain.ecg.beats.composition_stress`): the held-out records with many S beats,
their record statistics computed as if S beats were the majority. A model that leans on the record's median rhythm
or median beat calls those S beats normal; one that takes irregularity or width for ectopy floods N with S or F.
Across databases (`resampled_name`): the held-out records of the faster database read through the slower one's
rate (MIT-BIH at SVDB's 128 Hz): a model that reads resolution as a class changes its calls there.
"""

from __future__ import annotations

import functools

import numpy as np

from domain.ecg import beats as beat_data
from domain.ecg import metrics as metric_data
from domain.ecg import synthetic

GENERATED = {"generated: ordinary patients (control)": "mixed",
             "generated: S beats 60-80%, slow sinus": "ectopic_majority",
             "generated: irregular rhythm (AF-like), N only": "irregular",
             "generated: every beat wide (bundle branch block), N only": "wide"}
COMPOSITION = "held-out records with >= 50 S beats, statistics as if S were 75%"
RECORDS, MINUTES = 4, 5.0  # generated patients per scenario, minutes each


@functools.lru_cache(maxsize=2)
def generated_sets(before: float, after: float, template: str, *, seed: int = 0, count: int = RECORDS,
                   minutes: float = MINUTES) -> dict[str, beat_data.BeatSet]:
    """{stress set: beats} of the generated scenarios, prepared as any record is (`extract`)."""
    return {name: beat_data.BeatSet.concat([beat_data.extract(record, before, after, template=template)
                                            for record in synthetic.stress_records(scenario, count, minutes, seed)])
            for name, scenario in GENERATED.items()}


def resampled_name(split: dict) -> str:
    """The name of the stress set of held-out records read through the slowest training database's rate."""
    rates = sorted({info["fs"] for info in split.get("databases", {}).values() if info.get("fs")})
    slowest = f"{rates[0]:g} Hz" if rates else "the slower rate"
    return f"held-out records of the faster database read at {slowest}"


def row(labels: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    """What a stress set asks (percent): S and V sensitivity and positive predictivity, and the normal beats called
    S or F (false alarms: an irregular or wide rhythm taken for ectopy)."""
    labels, predicted = np.asarray(labels), np.asarray(predicted)
    metrics = metric_data.aami_metrics(labels, predicted) if len(labels) else {"per_class": {}}
    s = metrics["per_class"].get("S", {})
    normal = labels == 0

    def share(mask):
        return round(100.0 * float(mask[normal].mean()), 2) if normal.any() else float("nan")
    return {"beats": int(len(labels)), "S beats": int((labels == 1).sum()),
            "S Se": s.get("Se", float("nan")), "S +P": s.get("+P", float("nan")),
            "V Se": metrics["per_class"].get("V", {}).get("Se", float("nan")),
            "V +P": metrics["per_class"].get("V", {}).get("+P", float("nan")),
            "N called S %": share(predicted == 1), "N called F %": share(predicted == 3),
            "N called S or F %": share((predicted == 1) | (predicted == 3))}


def passes(result: dict[str, float], min_s_se: float = 70.0, max_false_alarms: float = 2.0) -> bool:
    """The goal on a stress set: S Se >= 70 where it has S beats, no more than 2% of N beats called S or F."""
    s_ok = not result["S beats"] or result["S Se"] >= min_s_se
    return bool(s_ok and not result["N called S or F %"] > max_false_alarms)
