"""The ICU pipeline's report (pipelines/icu/stages.py's build_report): the cross-validation table with the baselines on the
same folds and a verdict, the test table, the reliability figure, what cleaning removed and what the reader skipped,
the published anchors."""

from __future__ import annotations

import dataclasses

import numpy as np

from domain import icu as icu_data
from pipelines.icu import PLAIN
from shared import reports

NAME = "icu"

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


def build_report(cfg, data, metrics: dict | None, timing: dict, cv: dict | None, test_split: str) -> reports.Report:
    """The ICU run's report: the cross-validation against the baselines on the same folds (with a verdict), the
    test table, the reliability figure, the cleaning counts, the anchors."""
    report_metrics, baseline_rows, figures, sections = {}, {}, {}, {}
    shown = {reports.MODEL: reports.model_name(cfg.architecture, cfg.rnn), PLAIN: f"{PLAIN} ({cfg.rnn})"}
    if cv:
        name = reports.MODEL
        for model_name, stats in cv["mean_sd"].items():
            baseline_rows[f"cross-validation: {shown.get(model_name, model_name)}"] = {
                k: f"{mean:.4f} +- {sd:.4f}" for k, (mean, sd) in stats.items()}
        report_metrics["cross-validation"] = {k: round(v[0], 4) for k, v in cv["mean_sd"][name].items()}
        report_metrics["cross-validation"]["epochs"] = cv["best_epoch"]
        best = cv["best_baseline"]
        ours, theirs = cv["mean_sd"][name]["AUROC"][0], cv["mean_sd"][best]["AUROC"][0]
        folds_won = sum(r[name]["AUROC"] > r[best]["AUROC"] for r in cv["folds"])
        sections["Cross-validation (stratified, stays never split)"] = "\n".join([
            f"{cfg.cv_folds} stratified folds over {len(data.train)} stays; every model below was fitted on the same "
            f"training folds and scored on the same held-out stays. Epoch count chosen by pooled held-out AUROC: "
            f"{cv['best_epoch']} (curves: " + "; ".join(f"{shown.get(k, k)}: {', '.join(f'{c:.3f}' for c in v)}"
                                                     for k, v in cv["curves"].items()) + ").",
            "min(Se, +P) flags the training death rate's fraction of stays most at risk (Se = +P then).", "",
            f"**Verdict: mean AUROC {ours:.4f} against the best baseline's {theirs:.4f} ({shown.get(best, best)}); "
            f"better on "
            f"{folds_won} of {len(cv['folds'])} folds.** "
            + ("It beats every baseline on these folds." if ours > theirs else
               "It does not beat that baseline: on 4,000 stays the summary statistics of a chart already hold "
               "most of what predicts death, and the recurrent model's extra view of the trajectory does not "
               "make up for fitting many more parameters on few deaths.")])
        died, p = np.array(cv["pooled"]["died"]), np.array(cv["pooled"]["p"])
        figures["reliability"] = reliability_figure(died, p)
    if metrics:
        report_metrics["test"] = {k: v for k, v in metrics.items() if k in ("AUROC", "AUPRC", "min(Se, +P)", "Brier")}
        baseline_rows.update({f"test: {shown.get(k, k)}": v for k, v in metrics["table"].items()})
    else:
        sections["Test"] = f"No test split ({test_split}): the estimate on unseen patients is the cross-validation."
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
    sections.update(reports.notes(data.notes))
    return reports.Report(domain=NAME, source=data.source, metrics=report_metrics, baselines=baseline_rows,
                          anchors=ANCHORS, timing=timing, figures=figures, sections=sections,
                          extra={"config": dataclasses.asdict(cfg), "cv": cv, "cleaning": removed})
