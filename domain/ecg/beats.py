"""Beats from records: filtering, windows around R peaks, RR-interval features, splits by record (patient)."""

from __future__ import annotations

import dataclasses

import numpy as np

from domain.ecg.records import DS1, DS2, FS, PACED, Record

# RR features relative to the patient's own rhythm (local and record averages): what carries over between patients
# (de Chazal et al. 2004; Lin & Yang 2014). Seconds alone would let a model learn each training patient's heart rate.
RR_FEATURES = ("pre_rr_local", "post_rr_local", "pre_rr_record", "post_rr_record", "local_rr_record",
               "post_pre_ratio")
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
    """(beats, 6) RR features, all relative to the patient's own rhythm (RR_FEATURES): the previous and next RR
    interval divided by the local mean RR (the LOCAL_BEATS intervals around the beat), the previous and next RR and
    the local mean divided by the record's median RR, and next / previous RR (a compensatory pause). They use the
    beat times alone (no labels), so training and predict compute them the same way. The first beat's previous RR
    and the last beat's next RR are unknown (NaN); those beats are dropped by `extract`."""
    peaks = np.asarray(peaks, dtype="float64")
    n = len(peaks)
    features = np.full((n, len(RR_FEATURES)), np.nan, dtype="float64")
    if n < 2:
        return features.astype("float32")
    rr = np.diff(peaks) / fs
    pre, post = np.full(n, np.nan), np.full(n, np.nan)
    pre[1:], post[:-1] = rr, rr
    kernel = np.ones(LOCAL_BEATS) / LOCAL_BEATS
    padded = np.pad(rr, LOCAL_BEATS // 2, mode="edge")
    local_rr = np.convolve(padded, kernel, mode="valid")[: len(rr)]
    local = np.empty(n)
    local[1:], local[0] = local_rr, local_rr[0]
    record = float(np.median(rr))
    features[:, 0], features[:, 1] = pre / local, post / local
    features[:, 2], features[:, 3], features[:, 4] = pre / record, post / record, local / record
    features[:, 5] = post / pre
    return features.astype("float32")


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


def record_scale(filtered: np.ndarray, peaks: np.ndarray) -> float:
    """The record's typical R amplitude: median |filtered signal| at its beats (robust to a minority of ectopic
    beats). Dividing by it removes gain and electrode differences between patients, using the record alone."""
    peaks = np.asarray(peaks, dtype="int64")
    peaks = peaks[(peaks >= 0) & (peaks < len(filtered))]
    scale = float(np.median(np.abs(filtered[peaks]))) if len(peaks) else 0.0
    return scale if scale > 1e-3 else 1.0


def extract(record: Record, before: float, after: float, peaks: np.ndarray | None = None) -> BeatSet:
    """Beat windows, the record's template and RR features, at its annotated peaks (or the `peaks` given, e.g.
    detected ones, labelled -1). Windows come from the band-passed lead divided by `record_scale` (unitless,
    R ~ 1); the template is the median of the record's windows (its dominant beat, for morphology relative to the
    patient's own). Everything is computed from the signal and the beat times alone, never the labels, so training
    (annotated beats) and predict (detected beats) prepare a record the same way. Beats too close to the record's
    ends, and the first and last beat (which lack an RR interval on one side), are dropped and counted in
    `dropped`."""
    use_annotations = peaks is None
    peaks = record.peaks if use_annotations else np.asarray(peaks, dtype="int64")
    labels = record.labels if use_annotations else np.full(len(peaks), -1, dtype="int32")
    rr = rr_features(peaks)
    b, a = window_samples(before, after)
    filtered = filter_signal(record.signal)
    windows, keep = beat_windows(filtered / record_scale(filtered, peaks), peaks, b, a)
    keep_rr = np.isfinite(rr).all(axis=1)
    final = keep_rr[keep]
    windows = windows[final]
    template = np.median(windows, axis=0) if len(windows) else np.zeros(b + a, "float32")
    return BeatSet(windows, np.broadcast_to(template.astype("float32"), windows.shape), rr[keep][final],
                   labels[keep][final], np.full(int(final.sum()), record.name), peaks[keep][final],
                   int(len(peaks) - final.sum()))


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
