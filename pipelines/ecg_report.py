"""The ECG pipeline's report (pipelines/ecg.py's write_report): the cross-validation table (mean +- sd over folds
and pooled, the baselines on the same folds), the test table with bootstrap intervals, the confusion matrix, the
anchors and the timing."""

from __future__ import annotations

import dataclasses
import pathlib

import numpy as np

from domain.ecg import metrics as metric_data
from domain.ecg import records as record_data
from domain.ecg.baselines import headline
from shared import plots, reports

NAME = "ecg"


def mean_sd_row(summary: dict) -> dict[str, str]:
    """'mean +- sd' per column of the pooled headline row ('-' where every fold was NaN)."""
    mean_sd = summary["mean_sd"]
    return {key: f"{mean_sd[key][0]:.1f} +- {mean_sd[key][1]:.1f}" if key in mean_sd else "-"
            for key in summary["pooled"]}


def cv_figure(cv: dict):
    """Pooled held-out macro F1 (N, S, V, F) of the cross-validation after each epoch, the chosen epoch marked."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 3.5), layout="constrained")
    ax = fig.add_subplot()
    epochs = np.arange(1, len(cv["curve"]) + 1)
    ax.plot(epochs, cv["curve"], marker="o", label="this model (pooled held-out records)")
    for i, (name, row) in enumerate(cv["baselines"].items(), start=1):
        ax.axhline(row["pooled"]["macro F1"], linestyle="--", linewidth=1, label=name, color=f"C{i}")
    ax.axvline(cv["best_epoch"], color="grey", linewidth=0.8)
    ax.set_xlabel("epoch")
    ax.set_ylabel("macro F1 (N, S, V, F), %")
    ax.set_title(f"Leave-records-out cross-validation ({len(cv['folds'])} folds): epoch {cv['best_epoch']} chosen",
                 fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return fig


def stress_table(cv: dict) -> str:
    """One row per stress set and model: S Se / +P and normal beats called S or F (domain.ecg.stress.row)."""
    rows = {}
    for name, models in cv["stress"].items():
        for model, row in models.items():
            if row:
                rows[f"{name} / {model}"] = {k: v for k, v in row.items() if k != "beats"}
    for name, row in (cv.get("final_model_stress") or {}).items():
        rows[f"{name} / the final model (all training records)"] = {k: v for k, v in row.items() if k != "beats"}
    return reports.table(rows, first="stress set / model")


def stress_figure(cv: dict):
    """S sensitivity (sets with S beats) and normal beats called S or F, per stress set: this model (pooled over the
    fold models) beside the baselines."""
    from matplotlib.figure import Figure

    names = list(cv["stress"])
    models = [m for m in cv["stress"][names[0]] if m != "this model, worst fold"]
    fig = Figure(figsize=(11, 4), layout="constrained")
    for ax, key, title in zip(fig.subplots(1, 2), ("S Se", "N called S or F %"),
                              ("S sensitivity, %", "normal beats called S or F, %"), strict=True):
        width = 0.8 / len(models)
        for j, model in enumerate(models):
            values = np.array([cv["stress"][n][model][key] for n in names], dtype="float64")  # None: no S beat
            ax.bar(np.arange(len(names)) + j * width, np.nan_to_num(values), width, label=model[:60])
        ax.set_xticks(np.arange(len(names)) + 0.4 - width / 2, [n.split(":")[-1][:28] for n in names], fontsize=7,
                      rotation=15)
        ax.set_title(title, fontsize=9)
        ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=6)
    return fig


def write_report(cfg, ecg, metrics: dict | None, cv: dict | None, history: dict, timing: dict
                 ) -> dict[str, pathlib.Path]:
    """report.md/json + PNGs in the run folder: the cross-validation table (mean +- sd over folds and pooled, the
    baselines on the same folds), the test table (DS2) with record-level bootstrap intervals when there is a test
    split, the confusion matrix, the published anchors and the timing."""
    figures, sections, rows = {}, {}, {}
    if cv:
        figures["cv_curve"] = cv_figure(cv)
        rows[f"this model, cross-validation, mean +- sd over {len(cv['folds'])} folds"] = mean_sd_row(cv)
        rows["this model, cross-validation, pooled held-out beats"] = cv["pooled"]
        for name, row in cv["baselines"].items():
            rows[f"{name}, cross-validation, mean +- sd"] = mean_sd_row(row)
            rows[f"{name}, cross-validation, pooled"] = row["pooled"]
        sections["Cross-validation folds (grouped by record; scores at the chosen epoch)"] = reports.table(
            {f"fold {i}: {', '.join(f['records'])}": {k: v for k, v in f.items() if k != "records"}
             for i, f in enumerate(cv["folds"], start=1)}, first="held-out records")
        if cv.get("worst_record"):
            sections["Worst held-out record per class (sensitivity, records with >= 20 beats of the class)"] = \
                reports.table({k: {"record": r, "Se": v} for k, (r, v) in cv["worst_record"].items()}, first="class")
        if cv.get("stress"):
            figures["stress"] = stress_figure(cv)
            sections["Stress sets (patients DS1 cannot show; the fold models at the chosen epoch, baselines fitted "
                     "on the same folds)"] = (
                "The generated sets are scored by each of the fold models (pooled, and the worst fold model); the "
                "composition set re-scores each fold's held-out records that hold at least 50 S beats with their "
                "record statistics computed as if S beats were 75% of them (normal beats dropped from the "
                "statistics only). The goal: S Se >= 70 where S beats exist, at most 2% of normal beats called S "
                "or F. The generated 'mixed' set is the control: ordinary generated patients, to tell a stress "
                "effect from the gap between generated and real beats.\n\n" + stress_table(cv))
        sections["Cross-validation protocol"] = (
            f"Leave-records-out on the {len(ecg.split['train'])} training records: {len(cv['folds'])} folds, a "
            "record (patient) never in two folds, every fold holding S, V and F beats. Each fold's model trains on "
            "the other records and is scored on its held-out records after every epoch; the final model trains on "
            f"all training records for the epoch count with the best pooled held-out macro F1 (N, S, V, F): epoch "
            f"{cv['best_epoch']} of {len(cv['curve'])} (curve: {', '.join(f'{v:.1f}' for v in cv['curve'])}). "
            "Choosing the epoch on the same folds makes the cross-validation figure slightly optimistic. "
            "Per-fold S, V and F figures rest on few beats (F is concentrated in record 208), so the pooled row "
            "is the steadier estimate." + (f" Too few records hold {', '.join(cv['classes_not_in_every_fold'])} for "
                                           "every fold to hold them." if cv.get("classes_not_in_every_fold") else ""))
    test_name = "held-out DS1 records" if ecg.split["test_is_held_out_ds1"] else "DS2"
    anchors = metric_data.ANCHORS
    if ecg.source == "synthetic":  # records generated here carry MIT-BIH's numbers, not its patients
        test_name = f"generated records named like {test_name}"
        anchors = {name: {**row, "comparable": "no: this run's records were generated here"}
                   for name, row in anchors.items()}
    if metrics is not None:
        confusion = np.array(metrics["confusion"])
        figures["confusion"] = plots.confusion_figure(confusion, list(record_data.AAMI_CLASSES))
        rows[f"this model ({cfg.rnn}, context {cfg.context}), test: {test_name}"] = headline(metrics)
        rows.update({f"{name}, test: {test_name}": row for name, row in metrics.get("baselines", {}).items()})
        interval = metrics.get("bootstrap", {})
        if interval:
            sections["Test: 95% record-level bootstrap intervals (records resampled, 1,000 draws)"] = reports.table(
                {"this model": {k: f"{lo:.1f} - {hi:.1f}" for k, (lo, hi) in interval.items()}}, first="model")
        sections["Confusion matrix on the test split (rows: true, columns: predicted)"] = reports.table(
            {t: {p: int(confusion[i, j]) for j, p in enumerate(record_data.AAMI_CLASSES)}
             for i, t in enumerate(record_data.AAMI_CLASSES)}, first="true")
    sections["Split (by record, never by beat)"] = "\n".join(
        f"- {part}: {', '.join(ecg.split[part]) or 'none'} ({len(getattr(ecg, part))} beats "
        f"{getattr(ecg, part).counts(record_data.AAMI_CLASSES)}, {getattr(ecg, part).dropped} dropped at edges)"
        for part in ("train", "validation", "test"))
    sections["Notes"] = "\n".join(f"- {n}" for n in ecg.notes) or "- none"
    row = headline(metrics) if metrics is not None else (cv["pooled"] if cv else {})
    return reports.write(cfg.run_dir, domain=NAME, source=f"{ecg.source} ({ecg.data_dir})",
                         metrics={**row, **({"per_class": metrics["per_class"]} if metrics else {})},
                         baselines=rows, anchors=anchors, timing=timing, figures=figures,
                         sections=sections, extra={"config": dataclasses.asdict(cfg), "split": ecg.split,
                                                   "protocol": f"test: {test_name}" if metrics is not None else
                                                   "leave-records-out cross-validation (no test split)",
                                                   "cross_validation": cv, "test": metrics, "history": history or {}})
