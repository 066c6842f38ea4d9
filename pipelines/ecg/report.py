"""The ECG pipeline's report (pipelines/ecg/stages.py's build_report): the cross-validation table (mean +- sd over folds
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

    fig = Figure(figsize=(6.5, 4.2), layout="constrained")
    ax = fig.add_subplot()
    epochs = np.arange(1, len(cv["curve"]) + 1)
    ax.plot(epochs, cv["curve"], marker="o", label="this model (pooled held-out records)")
    for i, (name, row) in enumerate(cv["baselines"].items(), start=1):
        ax.axhline(row["pooled"]["macro F1"], linestyle="--", linewidth=1, label=short_name(name), color=f"C{i}")
    ax.axvline(cv["best_epoch"], color="grey", linewidth=0.8)
    ax.set_xlabel("epoch")
    ax.set_ylabel("macro F1 (N, S, V, F), %")
    ax.set_title(f"Leave-records-out cross-validation ({len(cv['folds'])} folds): epoch {cv['best_epoch']} chosen",
                 fontsize=9)
    ax.grid(alpha=0.3)
    fig.legend(loc="outside lower center", ncol=2, fontsize=7)
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


def short_name(name: str) -> str:
    """A stress set's or a model's name short enough for a plot's label (the tables keep the full names)."""
    for long, short in (("held-out records with >= 50 S beats", "S-rich records, S as 75%"),
                        ("held-out records of the faster database read at", "records read at"),
                        ("generated: ", "gen.: "), ("logistic regression (balanced weights), ", "LR, "),
                        ("RR ratios to the record median", "RR / record median"),
                        ("RR without the record median", "RR without median"), (" (bundle branch block)", ""),
                        (", statistics as if S were 75%", ""), ("ordinary patients (control)", "control")):
        name = name.replace(long, short)
    return name


def stress_figure(cv: dict):
    """S sensitivity (the sets that hold S beats) and normal beats called S or F (every set), per stress set: this
    model (pooled over the fold models) beside the baselines; horizontal bars, so every label reads whole."""
    from matplotlib.figure import Figure

    names = list(cv["stress"])
    models = [m for m in cv["stress"][names[0]] if m != "this model, worst fold"]
    with_s = [n for n in names if cv["stress"][n]["this model"]["S beats"]]
    fig = Figure(figsize=(12, 1.2 + 0.55 * len(names)), layout="constrained")
    panels = ((with_s, "S Se", "S sensitivity, % (sets with S beats)"),
              (names, "N called S or F %", "normal beats called S or F, %"))
    for ax, (sets, key, title) in zip(fig.subplots(1, 2), panels, strict=True):
        height = 0.8 / len(models)
        for j, model in enumerate(models):
            values = np.array([cv["stress"][n][model][key] for n in sets], dtype="float64")  # None: no such beat
            ax.barh(np.arange(len(sets)) + j * height, np.nan_to_num(values), height, label=short_name(model),
                    color=f"C{j}")
        ax.set_yticks(np.arange(len(sets)) + 0.4 - height / 2, [short_name(n) for n in sets], fontsize=8)
        ax.invert_yaxis()
        ax.set_title(title, fontsize=9)
        ax.grid(alpha=0.3, axis="x")
    fig.legend(*ax.get_legend_handles_labels(), loc="outside lower center", ncol=len(models), fontsize=8)
    return fig


def records_table(rows: dict[str, dict], min_beats: int = 0) -> str:
    """Per-record rows (domain.ecg.metrics.per_record) as a table: the records with at least `min_beats` S or V beats
    (all with 0), most S beats first."""
    chosen = {name: row for name, row in rows.items() if max(row["S"], row["V"]) >= min_beats}
    ordered = dict(sorted(chosen.items(), key=lambda item: (-item[1]["S"], -item[1]["V"], item[0])))
    return reports.table({name: {k: "-" if v is None else v for k, v in row.items()} for name, row in ordered.items()},
                         first="record")


def databases_section(ecg) -> str:
    """Which database each training folder held, its rate and the lead each of its records gave."""
    lines = []
    for name, info in ecg.split.get("databases", {}).items():
        leads: dict[str, list[str]] = {}
        for record, about in ecg.records.items():
            if about["database"] == name:
                leads.setdefault(about["lead"], []).append(record.split("/")[-1])
        used = "; ".join(f"{lead}: {len(names)} records" + (f" ({', '.join(names)})" if len(names) <= 5 else "")
                         for lead, names in leads.items())
        lines.append(f"- {info['title']} (`{name}`, {info['fs']:g} Hz, resampled to {record_data.FS} Hz): "
                     f"{info['records']} records read; lead {used or 'none read'}")
    for name, records in ecg.split.get("tests", {}).items():
        lines.append(f"- test folder `{name}`: {len(records)} records, scored once by the final model")
    return "\n".join(lines)


def cv_sections(cfg, ecg, cv: dict, figures: dict, rows: dict) -> dict[str, str]:
    """The cross-validation's rows (into `rows`), figures and sections."""
    sections = {}
    figures["cv_curve"] = cv_figure(cv)
    rows[f"this model, cross-validation, mean +- sd over {len(cv['folds'])} folds"] = mean_sd_row(cv)
    rows["this model, cross-validation, pooled held-out beats"] = cv["pooled"]
    for name, row in cv["baselines"].items():
        rows[f"{name}, cross-validation, mean +- sd"] = mean_sd_row(row)
        rows[f"{name}, cross-validation, pooled"] = row["pooled"]
    if len(cv.get("databases", {})) > 1:
        sections["Cross-validation by database (pooled held-out beats of each database's records)"] = reports.table(
            {f"{database} / {model}": row for database, models in cv["databases"].items()
             for model, row in models.items()}, first="database / model")
    sections["Cross-validation folds (grouped by record; scores at the chosen epoch)"] = reports.table(
        {f"fold {i}: {len(f['records'])} records": {k: v for k, v in f.items() if k != "records"}
         for i, f in enumerate(cv["folds"], start=1)}, first="held-out records") + "\n\n" + "\n".join(
        f"- fold {i}: {', '.join(f['records'])}" for i, f in enumerate(cv["folds"], start=1))
    if cv.get("worst_record"):
        sections["Worst held-out record per class (sensitivity, records with >= 20 beats of the class)"] = \
            reports.table({k: {"record": r, "Se": v} for k, (r, v) in cv["worst_record"].items()}, first="class")
    if cv.get("records"):
        sections["Held-out records with >= 50 S or V beats (the patients that decide S and V; every record's row is "
                 "in report.json)"] = records_table(cv["records"], min_beats=50)
    if cv.get("stress"):
        figures["stress"] = stress_figure(cv)
        sections["Stress sets (patients and recordings the training records cannot show; the fold models at the "
                 "chosen epoch, baselines fitted on the same folds)"] = (
            "The generated sets are scored by each of the fold models (pooled, and the worst fold model); the "
            "composition set re-scores each fold's held-out records that hold at least 50 S beats with their "
            "record statistics computed as if S beats were 75% of them (normal beats dropped from the "
            "statistics only); the resampled set, when the databases' rates differ, is each fold's held-out "
            "records of the faster database read through the slower rate. The goal: S Se >= 70 where S beats "
            "exist, at most 2% of normal beats called S or F. The generated 'mixed' set is the control: ordinary "
            "generated patients, to tell a stress effect from the gap between generated and real beats. A dash: "
            "the set has no beat of that class.\n\n" + stress_table(cv))
    databases = ", ".join(ecg.split.get("databases", {})) or "the training folder"
    sections["Cross-validation protocol"] = (
        f"Leave-records-out on the {len(ecg.split['train'])} training records ({databases}): "
        f"{len(cv['folds'])} folds, a record (patient) never in two folds, every fold holding S, V and F beats where "
        "enough records hold them, each database's records spread evenly over the folds. Each fold's model trains "
        "on the other records and is scored on its held-out records after every epoch; the final model trains on "
        "all training records for the epoch count with the best pooled held-out macro F1 (N, S, V, F): epoch "
        f"{cv['best_epoch']} of {len(cv['curve'])} (curve: {', '.join(f'{v:.1f}' for v in cv['curve'])}). "
        "Choosing the epoch on the same folds makes the cross-validation figure slightly optimistic. "
        "Per-fold S, V and F figures rest on few beats (a few records hold most of them), so the pooled row "
        "is the steadier estimate." + (f" Too few records hold {', '.join(cv['classes_not_in_every_fold'])} for "
                                       "every fold to hold them." if cv.get("classes_not_in_every_fold") else ""))
    return sections


def test_sections(cfg, metrics: dict, figures: dict, rows: dict) -> dict[str, str]:
    """Each test set's rows (into `rows`), its bootstrap intervals, per-record table and confusion matrix."""
    sections = {}
    for i, (name, test) in enumerate(metrics.get("tests", {}).items()):
        rows[f"this model ({cfg.rnn}, context {cfg.context}), test: {name}"] = test["headline"]
        rows.update({f"{base}, test: {name}": row for base, row in test["baselines"].items()})
        if test.get("bootstrap"):
            sections[f"Test {name}: 95% record-level bootstrap intervals (records resampled, 1,000 draws)"] = \
                reports.table({"this model": {k: f"{lo:.1f} - {hi:.1f}" if np.isfinite([lo, hi]).all() else "-"
                                              for k, (lo, hi) in test["bootstrap"].items()}}, first="model")
        sections[f"Test {name}: every record (beats per class; Se and +P of S and V, a dash where the record has "
                 "no such beat or none was called so)"] = records_table(test["records"])
        if i == 0:
            confusion = np.array(metrics["confusion"])
            figures["confusion"] = plots.confusion_figure(confusion, list(record_data.AAMI_CLASSES))
            sections[f"Confusion matrix on {name} (rows: true, columns: predicted)"] = reports.table(
                {t: {p: int(confusion[a, b]) for b, p in enumerate(record_data.AAMI_CLASSES)}
                 for a, t in enumerate(record_data.AAMI_CLASSES)}, first="true")
    return sections


def build_report(cfg, ecg, metrics: dict | None, cv: dict | None, history: dict, timing: dict
                 ) -> reports.Report:
    """report.md/json + PNGs in the run folder: the databases read, the cross-validation table (mean +- sd over
    folds and pooled, the baselines on the same folds, each database apart), the test sets (DS2, each --test-dir
    folder) with record-level bootstrap intervals and a per-record table, the confusion matrix, the published
    anchors and the timing."""
    figures, rows = {}, {}
    sections = {"Databases": databases_section(ecg)}
    if cv:
        sections.update(cv_sections(cfg, ecg, cv, figures, rows))
    anchors = metric_data.ANCHORS
    if ecg.source == "synthetic":  # records generated here carry MIT-BIH's numbers, not its patients
        anchors = {name: {**row, "comparable": "no: this run's records were generated here"}
                   for name, row in anchors.items()}
    if metrics is not None:
        sections.update(test_sections(cfg, metrics, figures, rows))
    sections["Split (by record, never by beat)"] = "\n".join(
        f"- {part}: {len(ecg.split[part])} records: {', '.join(ecg.split[part]) or 'none'} ({len(getattr(ecg, part))} "
        f"beats {getattr(ecg, part).counts(record_data.AAMI_CLASSES)}, {getattr(ecg, part).dropped} dropped at edges)"
        for part in ("train", "validation", "test"))
    sections.update(reports.notes(ecg.notes))
    row = headline(metrics) if metrics is not None else (cv["pooled"] if cv else {})
    folders = ", ".join(pathlib.Path(folder).name for folder in ecg.data_dirs)  # names, not this machine's paths
    return reports.Report(domain=NAME, source=f"{ecg.source} ({folders})",
                          metrics={**row, **({"per_class": metrics["per_class"]} if metrics else {})},
                          baselines=rows, anchors=anchors, timing=timing, figures=figures,
                          sections=sections, extra={"config": dataclasses.asdict(cfg), "split": ecg.split,
                                                    "records": ecg.records,
                                                    "protocol": f"test: {metrics['test']}" if metrics is not None else
                                                    "leave-records-out cross-validation (no test split)",
                                                    "cross_validation": cv, "test": metrics,
                                                    "history": history or {}})
