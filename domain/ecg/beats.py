"""Beats from records: filtering, windows around R peaks, RR-interval features, splits by record (patient)."""

from __future__ import annotations

import dataclasses

import numpy as np

from domain.ecg.records import DS1, DS2, FS, PACED, Record

# RR features (seconds, and ratios to the local and the record's rhythm). Which of them a model reads is its
# `rr_inputs` (RR_INPUTS); every BeatSet holds them all, in this order.
RR_FEATURES = ("pre_rr_s", "post_rr_s", "local_rr_s", "median_rr_s", "sinus_rr_s",  # seconds (de Chazal et al.)
               "pre_rr_local", "post_rr_local", "post_pre_ratio", "local_irregularity",  # the beat's neighbourhood
               "pre_rr_record", "post_rr_record", "local_rr_record",  # over the record's median RR
               "pre_rr_sinus", "post_rr_sinus", "local_rr_sinus")  # over the record's sinus reference RR
RR_INPUTS = {
    # the earlier inputs: ratios only, the reference being the record's median (fails when ectopy is the majority)
    "relative": ("pre_rr_local", "post_rr_local", "pre_rr_record", "post_rr_record", "local_rr_record",
                 "post_pre_ratio"),
    # the inputs before it: seconds and the local ratios (de Chazal et al. 2004)
    "seconds": ("pre_rr_s", "post_rr_s", "local_rr_s", "median_rr_s", "pre_rr_local", "post_rr_local"),
    # both of them together
    "both": ("pre_rr_s", "post_rr_s", "local_rr_s", "median_rr_s", "pre_rr_local", "post_rr_local",
             "pre_rr_record", "post_rr_record", "local_rr_record", "post_pre_ratio"),
    # nothing from the record's median: seconds, the neighbourhood, the local irregularity (atrial fibrillation) and
    # ratios to the sinus reference, which holds when ectopic beats are the majority
    "sinus": ("pre_rr_s", "post_rr_s", "local_rr_s", "sinus_rr_s", "pre_rr_local", "post_rr_local", "post_pre_ratio",
              "local_irregularity", "pre_rr_sinus", "post_rr_sinus", "local_rr_sinus"),
    "all": RR_FEATURES,
}
TEMPLATES = ("median", "sinus")  # the record's template: its median beat, or the median of its sinus-like beats
SINUS_QUANTILE = 90  # the sinus reference RR: this percentile of the record's RR intervals (ectopic beats come early)
SINUS_FRACTION = 0.9  # beats whose previous RR is at least this part of the reference are sinus-like
MIN_REFERENCE_BEATS = 8
LOCAL_BEATS = 10  # the local mean RR covers the 10 beats around a beat (de Chazal et al. 2004)
# When DS2 is absent (a DS1-only folder), these DS1 records are held out; chosen so that test and validation
# both hold S, V and F beats (209: S; 119, 106: V; 223, 124: S, V, F; 114: MLII on the second channel).
HELD_OUT_TEST = ("114", "119", "122", "209", "223")
VALIDATION = ("106", "118", "124")


def filter_signal(signal: np.ndarray, fs: float = FS) -> np.ndarray:
    """Remove baseline wander and high-frequency noise: zero-phase Butterworth band-pass 0.5-35 Hz
    (order 2 each side, `scipy.signal.sosfiltfilt`), the ECG diagnostic band used for beat classification."""
    import scipy.signal

    sos = scipy.signal.butter(2, [0.5, 35.0], btype="bandpass", fs=fs, output="sos")
    return scipy.signal.sosfiltfilt(sos, signal).astype("float32")


def rr_features(peaks: np.ndarray, fs: float = FS) -> np.ndarray:
    """(beats, len(RR_FEATURES)) RR features from the beat times alone (no labels, so training and predict compute
    them the same way): the previous, next and local mean RR (the LOCAL_BEATS intervals around the beat) and the
    record's median RR in seconds; previous and next RR over the local mean, next / previous RR (a compensatory
    pause) and the local irregularity (mean |successive RR difference| over the local mean: high in atrial
    fibrillation); then previous, next and local RR over the record's median RR and over its sinus reference RR
    (`record_columns`, from every beat). The first beat's previous RR and the last beat's next RR are unknown
    (NaN); those beats are dropped by `extract`."""
    peaks = np.asarray(peaks, dtype="float64")
    n = len(peaks)
    features = np.full((n, len(RR_FEATURES)), np.nan, dtype="float64")
    if n < 2:
        return features.astype("float32")
    rr = np.diff(peaks) / fs
    pre, post = np.full(n, np.nan), np.full(n, np.nan)
    pre[1:], post[:-1] = rr, rr

    def local_mean(values):  # the mean over the LOCAL_BEATS values around each interval
        padded = np.pad(values, LOCAL_BEATS // 2, mode="edge")
        return np.convolve(padded, np.ones(LOCAL_BEATS) / LOCAL_BEATS, mode="valid")[: len(values)]
    local, change = np.empty(n), np.empty(n)
    local[1:] = local_mean(rr)
    local[0] = local[1]
    successive = np.abs(np.diff(rr, prepend=rr[0]))
    change[1:] = local_mean(successive)
    change[0] = change[1]
    features[:, :9] = np.stack([pre, post, local, np.zeros(n), np.zeros(n), pre / local, post / local, post / pre,
                                change / local], axis=1)
    return record_columns(features)


COLUMN = {name: i for i, name in enumerate(RR_FEATURES)}


def rr_columns(rr_inputs: str) -> list[int]:
    """Positions in RR_FEATURES of the features an input set (RR_INPUTS) names."""
    if rr_inputs not in RR_INPUTS:
        raise ValueError(f"RR inputs {rr_inputs!r}: expected one of {', '.join(RR_INPUTS)}.")
    return [COLUMN[name] for name in RR_INPUTS[rr_inputs]]


def record_columns(rr: np.ndarray, among: np.ndarray | None = None) -> np.ndarray:
    """`rr` (rr_features of one record's beats) with the record-level columns computed anew from the beats `among`
    (a mask; default every beat): the median RR, and the previous, next and local RR over that median and over the
    sinus reference (the SINUS_QUANTILE percentile of the RR intervals: ectopic beats come early, so the long
    intervals are the sinus rhythm's even when ectopic beats are the majority, where the median is theirs)."""
    out = np.array(rr, dtype="float64")
    pre = out[:, COLUMN["pre_rr_s"]]
    use = np.isfinite(pre) if among is None else (np.asarray(among, bool) & np.isfinite(pre))
    if not use.any():
        use = np.isfinite(pre)
    if not use.any():
        return out.astype("float32")
    median, sinus = float(np.median(pre[use])), float(np.percentile(pre[use], SINUS_QUANTILE))
    seconds = out[:, [COLUMN["pre_rr_s"], COLUMN["post_rr_s"], COLUMN["local_rr_s"]]]
    out[:, COLUMN["median_rr_s"]], out[:, COLUMN["sinus_rr_s"]] = median, sinus
    out[:, [COLUMN["pre_rr_record"], COLUMN["post_rr_record"], COLUMN["local_rr_record"]]] = seconds / median
    out[:, [COLUMN["pre_rr_sinus"], COLUMN["post_rr_sinus"], COLUMN["local_rr_sinus"]]] = seconds / sinus
    return out.astype("float32")


def window_samples(before: float, after: float, fs: float = FS) -> tuple[int, int]:
    """Samples before and after the R peak for a window of `before` + `after` seconds."""
    return int(round(before * fs)), int(round(after * fs))


def beat_windows(signal: np.ndarray, peaks: np.ndarray, before: int, after: int) -> tuple[np.ndarray, np.ndarray]:
    """Windows signal[p - before : p + after] around each peak -> ((kept, before + after), kept mask).
    Peaks whose window would cross the record's start or end are not kept."""
    peaks = np.asarray(peaks, dtype="int64")
    keep = (peaks - before >= 0) & (peaks + after <= len(signal))
    index = peaks[keep, None] + np.arange(-before, after)[None, :]
    return np.asarray(signal, dtype="float32")[index], keep


@dataclasses.dataclass
class BeatSet:
    """Beats of one or more records, each record's beats consecutive and in time order. beats: (n, window) scaled
    signal; templates: (n, window) the median beat of each beat's record; rr: (n, 6) RR features; labels: (n,) AAMI
    index (-1: unknown); records: (n,) record names; peaks: (n,) R-peak sample index in its record; dropped: beats
    left out at edges."""

    beats: np.ndarray
    templates: np.ndarray
    rr: np.ndarray
    labels: np.ndarray
    records: np.ndarray
    peaks: np.ndarray
    dropped: int = 0

    def __len__(self) -> int:
        return len(self.labels)

    @staticmethod
    def concat(sets: list[BeatSet]) -> BeatSet:
        return BeatSet(*(np.concatenate([getattr(s, f) for s in sets])
                         for f in ("beats", "templates", "rr", "labels", "records", "peaks")),
                       sum(s.dropped for s in sets))

    def take(self, index: np.ndarray) -> BeatSet:
        """The beats at `index` (a boolean mask or positions in order), e.g. the records of one fold."""
        return BeatSet(self.beats[index], self.templates[index], self.rr[index], self.labels[index],
                       self.records[index], self.peaks[index], 0)

    def counts(self, classes: tuple[str, ...]) -> dict[str, int]:
        return {c: int((self.labels == i).sum()) for i, c in enumerate(classes)}


def record_statistics(beats: BeatSet, r_index: int, template: str, among: np.ndarray | None = None) -> BeatSet:
    """One record's beats with its record-level statistics computed anew from the beats `among` (a mask; default
    all): the RR columns (`record_columns`), the amplitude scale (median |R| of the reference beats: the windows are
    divided by it, so R ~ 1 whatever the gain) and the template (the median of the reference beats' windows). The
    reference beats are `among`, or with template "sinus" those of them whose previous RR is at least SINUS_FRACTION
    of the sinus reference RR (ectopic beats are premature, so the template is the sinus beat even where ectopic
    beats are the majority; all of `among` when fewer than MIN_REFERENCE_BEATS qualify). `extract` calls it with
    every beat; the composition stress sets and augmentation with subsets in which ectopic beats dominate. Labels
    never change."""
    if template not in TEMPLATES:
        raise ValueError(f"template {template!r}: expected one of {', '.join(TEMPLATES)}.")
    if not len(beats):
        return beats
    among = np.ones(len(beats), bool) if among is None else np.asarray(among, bool)
    rr = record_columns(beats.rr, among)
    reference = among
    if template == "sinus":
        sinus_like = among & (rr[:, COLUMN["pre_rr_sinus"]] >= SINUS_FRACTION)
        reference = sinus_like if sinus_like.sum() >= MIN_REFERENCE_BEATS else among
    if not reference.any():
        reference = np.ones(len(beats), bool)
    scale = float(np.median(np.abs(beats.beats[reference, r_index])))
    windows = (beats.beats / (scale if scale > 1e-3 else 1.0)).astype("float32")
    median_beat = np.median(windows[reference], axis=0).astype("float32")
    return dataclasses.replace(beats, beats=windows, templates=np.broadcast_to(median_beat, windows.shape), rr=rr)


def extract(record: Record, before: float, after: float, peaks: np.ndarray | None = None,
            template: str = "sinus") -> BeatSet:
    """Beat windows, the record's template and RR features, at its annotated peaks (or the `peaks` given, e.g.
    detected ones, labelled -1). Windows come from the band-passed lead divided by the record's typical R amplitude
    (unitless, R ~ 1); the template is the record's dominant beat (`record_statistics`: the median of all its beats,
    or of its sinus-like ones), for morphology relative to the patient's own. Everything is computed from the
    signal and the beat times alone, never the labels, so training (annotated beats) and predict (detected beats)
    prepare a record the same way. Beats too close to the record's ends, and the first and last beat (which lack
    an RR interval on one side), are dropped and counted in `dropped`."""
    use_annotations = peaks is None
    peaks = record.peaks if use_annotations else np.asarray(peaks, dtype="int64")
    labels = record.labels if use_annotations else np.full(len(peaks), -1, dtype="int32")
    rr = rr_features(peaks)
    b, a = window_samples(before, after)
    windows, keep = beat_windows(filter_signal(record.signal), peaks, b, a)
    final = np.isfinite(rr).all(axis=1)[keep]
    windows = windows[final]
    kept = BeatSet(windows, windows, rr[keep][final], labels[keep][final], np.full(int(final.sum()), record.name),
                   peaks[keep][final], int(len(peaks) - final.sum()))
    return record_statistics(kept, b, template)


ECTOPIC = (1, 2, 3)  # AAMI S, V, F


def composition_view(beats: BeatSet, r_index: int, template: str, fraction: float, rng: np.random.Generator,
                     classes: tuple[int, ...] = ECTOPIC) -> BeatSet:
    """One record's beats as if beats of `classes` made up `fraction` of it: the record statistics are computed from
    all of those beats and just enough randomly chosen others (normal beats dropped from the statistics only); every
    beat and label is kept, only its record-relative inputs change."""
    ectopic = np.isin(beats.labels, classes)
    others = np.flatnonzero(~ectopic)
    keep = min(len(others), int(round(ectopic.sum() * (1 - fraction) / fraction)))
    among = ectopic.copy()
    among[rng.choice(others, keep, replace=False)] = True
    return record_statistics(beats, r_index, template, among)


def irregular_view(beats: BeatSet, r_index: int, template: str, rng: np.random.Generator) -> BeatSet:
    """One record's beats given an irregular rhythm (atrial fibrillation-like: every RR drawn anew around the
    record's median, log-normal with sd 0.2, clipped to 0.5-1.8 times it): the same windows, new beat times and so
    new RR features. Only its normal beats are to be trained on (`irregular_rows`): in an irregular rhythm an early
    normal beat is still normal; an S beat is defined by its timing, which this view replaces."""
    median = float(np.median(beats.rr[:, COLUMN["pre_rr_s"]]))
    intervals = median * np.clip(rng.lognormal(0.0, 0.2, len(beats) + 1), 0.5, 1.8)
    peaks = np.round(np.concatenate([[0.0], np.cumsum(intervals)]) * FS).astype("int64")
    rr = rr_features(peaks)[1:-1]
    view = dataclasses.replace(beats, rr=rr, peaks=peaks[1:-1])
    return record_statistics(view, r_index, template)


def by_record(beats: BeatSet) -> list[BeatSet]:
    """The beats of each record, in the order they come."""
    names = list(dict.fromkeys(beats.records.tolist()))
    return [beats.take(beats.records == name) for name in names]


def composition_stress(beats: BeatSet, r_index: int, template: str, *, fraction: float = 0.75,
                       min_beats: int = 50, seed: int = 0) -> BeatSet:
    """The stress set real records can give: each record holding at least `min_beats` S beats, re-scored with its
    record statistics computed as if S beats were `fraction` of its beats (N beats dropped from the statistics
    only). A model that leans on the record's median rhythm or median beat calls these S beats normal."""
    rng = np.random.default_rng(seed)
    views = [composition_view(one, r_index, template, fraction, rng, classes=(1,))
             for one in by_record(beats) if (one.labels == 1).sum() >= min_beats]
    return BeatSet.concat(views) if views else beats.take(np.zeros(len(beats), bool))


def composition_augmented(beats: BeatSet, r_index: int, template: str, seed: int, min_ectopic: int = 10,
                          composition: bool = True, irregular: bool = False) -> BeatSet:
    """Training beats plus, with `composition`, for every record holding at least `min_ectopic` S, V or F beats, a
    second copy whose record statistics come from a random subset in which those beats are 50-90%
    (`composition_view`) and whose heart rate is changed by a random factor of 0.8-1.25 (the seconds columns; ratios
    do not change): so a model cannot learn that most of a record's beats are normal, nor each training patient's
    rate; with `irregular`, every record once more in an AF-like rhythm (`irregular_view`, records named with the
    IRREGULAR suffix). Labels never change; the copies follow the originals, each record's beats consecutive."""
    rng = np.random.default_rng(seed)
    views = []
    for one in by_record(beats):
        if not composition or np.isin(one.labels, ECTOPIC).sum() < min_ectopic:
            continue
        view = composition_view(one, r_index, template, rng.uniform(0.5, 0.9), rng)
        rr = view.rr.copy()
        rr[:, :5] *= rng.uniform(0.8, 1.25)  # the seconds columns
        views.append(dataclasses.replace(view, rr=rr, records=np.char.add(view.records.astype(str), "~")))
    if irregular:
        for one in by_record(beats):
            view = irregular_view(one, r_index, template, rng)
            views.append(dataclasses.replace(view, records=np.char.add(view.records.astype(str), IRREGULAR)))
    return BeatSet.concat([beats, *views])


IRREGULAR = "~irregular"  # the record name suffix of irregular_view copies


def mix_records(beats: BeatSet, others: BeatSet, share: float, seed: int) -> BeatSet:
    """`beats` with `share` of its records that `others` also holds (chosen under `seed`) replaced by their beats in
    `others`: the same records prepared another way (read through a lower sampling rate, records.through_rate).
    Each record's beats stay consecutive and in time order."""
    names = list(dict.fromkeys(beats.records.tolist()))
    held = set(others.records.tolist())
    candidates = [name for name in names if name in held]
    chosen = set(np.random.default_rng(seed).permutation(candidates)[: int(round(share * len(candidates)))].tolist())
    if not chosen:
        return beats
    return BeatSet.concat([others.take(others.records == name) if name in chosen else beats.take(beats.records == name)
                           for name in names])


def context_index(records: np.ndarray, context: int) -> np.ndarray:
    """(n, 2 * context + 1) positions of each beat's neighbours (the beat itself in the middle column), -1 where the
    neighbour lies beyond its record's first or last beat. Needs each record's beats consecutive and in time order
    (as `extract` and `BeatSet.concat` leave them)."""
    records = np.asarray(records)
    n = len(records)
    index = np.arange(n)[:, None] + np.arange(-context, context + 1)[None, :]
    inside = (index >= 0) & (index < n)
    clipped = np.clip(index, 0, max(n - 1, 0))
    same = records[clipped] == records[:, None] if n else inside
    return np.where(inside & same, index, -1)


def split_records(available: list[str], validation: tuple[str, ...] = (), hold_out: bool = False) -> dict:
    """Inter-patient split by record: train = DS1 minus `validation` records, test = DS2 (de Chazal et al. 2004).
    When no DS2 record is available the test split is empty (the cross-validation on DS1 is then the estimate),
    unless `hold_out`, which tests on HELD_OUT_TEST (DS1 records; `make compare-ecg` compares RNN types on that
    fixed split, validating on VALIDATION). Paced records are excluded; a record is never in two splits."""
    have = set(available) - set(PACED)
    test = [r for r in DS2 if r in have]
    held_out = not test and hold_out
    if held_out:
        test = [r for r in HELD_OUT_TEST if r in have]
    val = [r for r in validation if r in have and r not in test]
    train = [r for r in DS1 if r in have and r not in test and r not in val]
    if not train or (hold_out and not test):
        raise ValueError(f"ECG split: records {sorted(have)} give train={train}, test={test}; need DS1 records "
                         "(de Chazal et al. 2004) for training (and DS2 or held-out DS1 records for testing).")
    return {"train": train, "validation": val, "test": test, "test_is_held_out_ds1": held_out}
