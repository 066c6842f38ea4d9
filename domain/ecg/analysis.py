"""What the ECG model reads and what predict does around it: the model's inputs built from a BeatSet (the same
in training, evaluation and predict), R-peak detection on a record without annotations, the analysis of a whole
record by an exported model (`analyze`: one implementation for `make predict-ecg` and the server's
/v1/ecg:analyze), a plausibility check of the detected heart rate, the beats written for other tools, and the strip
figure of classified beats. No TensorFlow: the model comes in as a function of the input arrays.

Notebook:
    served, meta = shared.export.load(path, "ecg")
    result = analysis.analyze(record, shared.export.caller(served), meta)
"""

from __future__ import annotations

import logging
import pathlib
import time
from collections.abc import Callable

import numpy as np

from domain.ecg import beats as beat_data
from domain.ecg import metrics as metric_data
from domain.ecg import records as record_data
from domain.ecg.baselines import headline

log = logging.getLogger(__name__)

GENERATED_WARNING = ("this model was trained on generated records, not on real ECGs: its classes of a real record mean "
                     "nothing; use the model trained on MIT-BIH and SVDB that ships with the project "
                     "(saved_models/ecg/0), or train on them (rnn-suite ecg train --data-dir path/to/mitdb "
                     "--data-dir path/to/svdb).")
# an export's beat window when its metadata predates a field (an earlier model read RR ratios to the record median)
OLD_WINDOW = {"before": 0.25, "after": 0.45, "template": "median", "context": 0, "rr_inputs": "relative"}
ANNOTATION_SYMBOLS = {"N": "N", "S": "A", "V": "V", "F": "F", "Q": "Q"}  # an AAMI class as a MIT-BIH beat symbol


def model_inputs(beats: beat_data.BeatSet, context: int, rr_inputs: str) -> dict[str, np.ndarray]:
    """The model's inputs for every beat: beats (n, 2 * context + 1, window) the beat and its neighbours in its
    record (zeros beyond the record's ends), template (n, window) its record's template beat, rr (n, 2 * context +
    1, k + 1) the k RR features of `rr_inputs` (beat_data.RR_INPUTS) of each plus a last column that is 1 where the
    neighbour exists. Built from the BeatSet alone, the same way in training, evaluation and predict."""
    index = beat_data.context_index(beats.records, context)
    present = index >= 0
    safe = np.where(present, index, 0)
    mask = present[..., None].astype("float32")
    rr = beats.rr[:, beat_data.rr_columns(rr_inputs)]
    return {"beats": beats.beats[safe] * mask, "template": np.ascontiguousarray(beats.templates),
            "rr": np.concatenate([rr[safe] * mask, mask], axis=-1)}


DETECTORS = ("neurokit", "xqrs")  # R-peak detectors; BENCHMARKS.md compares them on the MIT-BIH records


def detect_beats(signal: np.ndarray, detector: str = "neurokit") -> np.ndarray:
    """R-peak sample indices of a 360 Hz lead, moved to the nearest extremum of the filtered signal (wfdb's
    correct_peaks). detector "neurokit": NeuroKit2's default QRS detector (gradient steepness; about 0.2 s for a
    30-minute record here); "xqrs": wfdb's XQRS (about 25x slower, and no more accurate on the DS1 records: see
    BENCHMARKS.md)."""
    from wfdb import processing

    if detector == "neurokit":
        import neurokit2

        _, info = neurokit2.ecg_peaks(signal, sampling_rate=record_data.FS, method="neurokit")
        found = np.asarray(info["ECG_R_Peaks"], dtype="int64")
    elif detector == "xqrs":
        xqrs = processing.XQRS(sig=signal, fs=record_data.FS)
        xqrs.detect(verbose=False)
        found = np.asarray(xqrs.qrs_inds, dtype="int64")
    else:
        raise ValueError(f"detector {detector!r}: expected one of {', '.join(DETECTORS)}.")
    if not len(found):
        return found
    peaks = processing.correct_peaks(beat_data.filter_signal(signal), found, search_radius=int(0.05 * record_data.FS),
                                     smooth_window_size=5, peak_dir="compare")
    return np.unique(np.asarray(peaks, dtype="int64"))


def record_summary(record, peaks: np.ndarray, beat_peaks: np.ndarray, predicted: np.ndarray, annotated: bool) -> dict:
    """What predict reports of a record: duration, detected and classified beats, beats per class, ventricular
    ectopy burden, mean heart rate (a warning when it is not a human one) and, for an annotated record, the
    detection's and the classification's agreement with the annotations."""
    counts = {c: int((predicted == i).sum()) for i, c in enumerate(record_data.AAMI_CLASSES)}
    summary = {"duration_minutes": round(len(record.signal) / record_data.FS / 60, 2),
               "header_sampling_rate_hz": record.original_fs,
               "detected_beats": int(len(peaks)), "classified_beats": int(len(predicted)),
               "beats_per_class": counts,
               "ventricular_ectopy_burden_percent": round(100 * counts["V"] / max(1, len(predicted)), 2),
               "mean_heart_rate_bpm": round(60.0 / float(np.mean(np.diff(peaks)) / record_data.FS), 1)
               if len(peaks) > 1 else None}
    warnings = [w for w in (heart_rate_warning(summary["mean_heart_rate_bpm"], record.original_fs),
                            clipping_warning(record.clipped_fraction)) if w]
    if annotated and len(record.peaks):
        # agreement only where the annotations reach: an .atr that stops early would count every later beat as a
        # false detection
        covered = float(record.peaks.max() + 2 * record_data.FS)
        if covered < len(record.signal) - 10 * record_data.FS:
            warnings.append(f"the annotations stop at {record.peaks.max() / record_data.FS:.0f} s of the record's "
                            f"{len(record.signal) / record_data.FS:.0f} s: the agreement below covers that part only "
                            "(is the .atr file cut short?)")
        peaks, beat_keep = peaks[peaks <= covered], beat_peaks <= covered
        beat_peaks, predicted = beat_peaks[beat_keep], predicted[beat_keep]
    if warnings:
        summary["warning"] = "; ".join(warnings)
    if annotated:
        summary["detection"] = metric_data.detection_agreement(record.peaks, peaks)
        ref_idx, det_idx = metric_data.match_beats(record.peaks, beat_peaks)
        agreement = metric_data.aami_metrics(record.labels[ref_idx], predicted[det_idx])
        summary["classification_vs_annotations"] = {**headline(agreement), "confusion": agreement["confusion"]}
    return summary


def heart_rate_warning(bpm: float | None, header_fs: float) -> str | None:
    """A loud warning when the detected mean heart rate is not a human one (25-250 bpm): a header's wrong sampling
    rate or a non-ECG lead. (It cannot catch every lie: XQRS's refractory period keeps rates below ~200 bpm.)"""
    if bpm is None:
        return ("fewer than two beats were detected, so there is no heart rate: the lead may not be an ECG, or the "
                "header's sampling rate or gain may be wrong; do not trust these classes.")
    if 25 <= bpm <= 250:
        return None
    return (f"detected heart rate {bpm} bpm is outside 25-250 bpm: the header's sampling rate ({header_fs:g} Hz) or "
            "the lead may be wrong; do not trust these classes.")


def clipping_warning(fraction: float) -> str | None:
    """A warning when more than 0.5% of the samples sit flat at the signal's extremes (records.clipped_fraction):
    clipped R waves change the beats' shapes the model reads."""
    if fraction <= 0.005:
        return None
    return (f"{100 * fraction:.1f}% of the samples sit flat at the signal's highest or lowest value: the recording "
            "looks clipped (saturated); beat shapes are cut off and the classes may be wrong.")


COLOURS = {"N": "tab:green", "S": "tab:orange", "V": "tab:red", "F": "tab:purple", "Q": "tab:gray"}
STRIP_SECONDS = 10.0


def strips_to_show(peaks: np.ndarray, predicted: np.ndarray, at: float | None = None,
                   seconds: float = STRIP_SECONDS) -> list[tuple[str, float]]:
    """[(title, start in seconds)] of the strips a person wants from a long record: the one asked for (`at`), then
    one around the first beat called S, V and F each (the classes a reader looks for), else the first seconds."""
    wanted = [] if at is None else [(f"from {at:g} s (--at)", float(at))]
    for letter in ("S", "V", "F"):
        found = np.flatnonzero(predicted == record_data.AAMI_CLASSES.index(letter))
        if not len(found):
            continue
        title, start = f"first beat called {letter} ({len(found)} in the record)", max(0.0, peaks[found[0]] /
                                                                                      record_data.FS - seconds / 2)
        near = [i for i, (_, other) in enumerate(wanted) if abs(other - start) < seconds / 2]
        if near:  # one strip shows both
            wanted[near[0]] = (f"{wanted[near[0]][0]}; {title}", wanted[near[0]][1])
        else:
            wanted.append((title, start))
    return wanted or [("the first seconds (no beat called S, V or F)", 0.0)]


def record_figure(record: record_data.Record, peaks: np.ndarray, predicted: np.ndarray, *, annotated: bool = False,
                  at: float | None = None, seconds: float = STRIP_SECONDS):
    """What predict shows of a whole record: the heart rate over the record with every beat called S, V or F marked
    in its lane (where the ectopic beats are), then strips of `seconds` (strips_to_show: the one --at asks for and
    one around the first beat of each ectopic class) with each beat's class above the trace and, for an annotated
    record, the cardiologists' label below it (ringed where they differ)."""
    from matplotlib.figure import Figure

    strips = strips_to_show(peaks, predicted, at, seconds)
    minutes = len(record.signal) / record_data.FS / 60
    fig = Figure(figsize=(14, 3.2 + 2.3 * len(strips)), layout="constrained")
    axes = fig.subplots(1 + len(strips), 1, gridspec_kw={"height_ratios": [1.4] + [1] * len(strips)})
    overview = axes[0]
    times = peaks / record_data.FS / 60
    top = 100.0
    if len(peaks) > 1:
        rate = 60.0 / np.clip(np.diff(peaks) / record_data.FS, 0.2, 5.0)
        overview.plot(times[1:], rate, color="black", linewidth=0.5, label="heart rate (bpm)")
        top = float(rate.max())
    for lane, letter in enumerate(("F", "V", "S"), start=1):  # a lane each above the heart rate
        chosen = predicted == record_data.AAMI_CLASSES.index(letter)
        overview.plot(times[chosen], np.full(int(chosen.sum()), top * (1 + 0.09 * lane)), "|",
                      color=COLOURS[letter], markersize=8, label=f"{letter}: {int(chosen.sum())} beats")
    overview.set_ylim(0, top * 1.36)
    overview.set_xlim(0, minutes)
    overview.set_xlabel("minutes")
    overview.set_ylabel("bpm")
    overview.legend(fontsize=8, loc="lower right", ncol=4)
    counts = ", ".join(f"{c} {int((predicted == i).sum())}" for i, c in enumerate(record_data.AAMI_CLASSES))
    overview.set_title(f"Record {record.name} ({record.lead}, {minutes:.1f} min): {len(predicted)} beats classified "
                       f"by the exported model ({counts})", fontsize=10)
    reference = dict(zip(record.peaks.tolist(), record.symbols, strict=True)) if annotated else {}
    for ax, (title, start) in zip(axes[1:], strips, strict=True):
        first = int(start * record_data.FS)
        stop = min(len(record.signal), first + int(seconds * record_data.FS))
        t = np.arange(first, stop) / record_data.FS
        ax.plot(t, record.signal[first:stop], color="black", linewidth=0.7)
        low, high = ax.get_ylim()
        ax.set_ylim(low - 0.25 * (high - low), high + 0.2 * (high - low))
        for peak, label in zip(peaks, predicted, strict=True):
            if first <= peak < stop:
                letter = record_data.AAMI_CLASSES[label]
                ax.text(peak / record_data.FS, high + 0.08 * (high - low), letter, ha="center", fontsize=9,
                        color=COLOURS[letter], weight="bold")
        for peak, symbol in reference.items():
            if first <= peak < stop:
                truth = record_data.AAMI_MAP[symbol]
                near = np.abs(peaks - peak) <= 0.15 * record_data.FS  # no classified beat near: not a disagreement
                differs = near.any() and record_data.AAMI_CLASSES[predicted[near][0]] != truth
                ax.text(peak / record_data.FS, low - 0.15 * (high - low), truth, ha="center", fontsize=8,
                        color="dimgray", bbox={"boxstyle": "circle", "fc": "none", "ec": "red"} if differs else None)
        ax.set_xlim(first / record_data.FS, first / record_data.FS + seconds)
        ax.set_ylabel("mV")
        ax.set_title(f"{title}: {first / record_data.FS:.1f}-{stop / record_data.FS:.1f} s; model's class above"
                     + ("; the annotation's below, ringed where it differs" if reference else ""), fontsize=9)
    axes[-1].set_xlabel("seconds")
    return fig


def analyze(record: record_data.Record, classify: Callable[..., dict], meta: dict, detector: str = "neurokit",
            annotated: bool = False) -> dict:
    """Every beat of a record classified by an exported model: R peaks by `detector`, beat windows as the export's
    metadata says it was trained, `classify(**inputs) -> {"probs": (beats, classes), "class": (beats,) bytes}` (the
    export's serving_default, which marks a row of garbage "invalid input"; shared.export.caller). Returns the summary `make predict-ecg` prints plus "beats":
    [{time_s, class, probabilities}]; a warning when the model was trained on generated records."""
    start = time.perf_counter()
    window = {**OLD_WINDOW, **(meta.get("config", {}) or {})}
    peaks = detect_beats(record.signal, detector)
    beats = beat_data.extract(record, window["before"], window["after"], peaks=peaks, template=window["template"])
    out = classify(**model_inputs(beats, int(window["context"]), window["rr_inputs"]))
    probs = out["probs"]
    predicted = probs.argmax(axis=-1)
    summary = {"record": record.name, "lead": record.lead, "detector": detector,
               **record_summary(record, peaks, beats.peaks, predicted, annotated),
               "seconds": round(time.perf_counter() - start, 3)}
    if str(meta.get("source", "")).startswith("synthetic"):  # pipelines.ecg.CARD["generated"]
        summary["warning"] = " ".join(filter(None, [summary.get("warning"), GENERATED_WARNING]))
    if "warning" in summary:
        log.warning("%s: %s", record.name, summary["warning"])
    summary["beats"] = [{"time_s": round(float(peak) / record_data.FS, 4), "class": label.decode(),
                         "probabilities": dict(zip(record_data.AAMI_CLASSES, (round(float(p), 5) for p in row),
                                                   strict=True))}
                        for peak, label, row in zip(beats.peaks, out["class"], probs, strict=True)]
    return summary


def write_beats(out_dir: pathlib.Path, name: str, beats: list[dict], peaks: np.ndarray) -> None:
    """Every classified beat for other tools: beats.csv (time, sample at 360 Hz, class, probabilities) and a WFDB
    annotation file <record>.rnn (wfdb.rdann(path, "rnn") reads it; S as A, the others as their letter)."""
    import csv

    import wfdb

    with (out_dir / "beats.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["time_s", "sample", "class", *(f"p_{c}" for c in record_data.AAMI_CLASSES)])
        for beat, peak in zip(beats, peaks, strict=True):
            writer.writerow([beat["time_s"], int(peak), beat["class"], *beat["probabilities"].values()])
    if len(peaks):
        wfdb.wrann(name, "rnn", peaks, symbol=[ANNOTATION_SYMBOLS[b["class"]] for b in beats], fs=record_data.FS,
                   write_dir=str(out_dir))
