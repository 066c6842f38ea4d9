"""Beats from records: filtering, windows around R peaks, RR-interval features, splits by record (patient)."""

from __future__ import annotations

import dataclasses

import numpy as np

from domain.ecg.records import DS1, DS2, FS, PACED, Record

RR_FEATURES = ("pre_rr", "post_rr", "local_rr", "record_rr", "pre_rr_ratio", "post_rr_ratio")
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
    """(beats, 6) RR features: previous RR, next RR, local mean RR (the LOCAL_BEATS intervals around the beat) and
    the record's mean RR, in seconds; then previous and next RR divided by the local mean, the patient-independent
    form of prematurity that S beats show. The first beat's previous RR and the last beat's next RR are unknown
    (NaN); those beats are dropped by `extract`."""
    peaks = np.asarray(peaks, dtype="float64")
    n = len(peaks)
    features = np.full((n, len(RR_FEATURES)), np.nan, dtype="float64")
    if n < 2:
        return features.astype("float32")
    rr = np.diff(peaks) / fs
    features[1:, 0] = rr
    features[:-1, 1] = rr
    kernel = np.ones(LOCAL_BEATS) / LOCAL_BEATS
    padded = np.pad(rr, LOCAL_BEATS // 2, mode="edge")
    local = np.convolve(padded, kernel, mode="valid")[: len(rr)]
    features[1:, 2] = local
    features[0, 2] = local[0]
    features[:, 3] = rr.mean()
    features[:, 4] = features[:, 0] / features[:, 2]
    features[:, 5] = features[:, 1] / features[:, 2]
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
    """Beats of one or more records. beats: (n, window) scaled signal; rr: (n, 6) RR features; labels: (n,) AAMI index (-1: unknown);
    records: (n,) record names; peaks: (n,) R-peak sample index in its record; dropped: beats left out at edges."""

    beats: np.ndarray
    rr: np.ndarray
    labels: np.ndarray
    records: np.ndarray
    peaks: np.ndarray
    dropped: int = 0

    def __len__(self) -> int:
        return len(self.labels)

    @staticmethod
    def concat(sets: list[BeatSet]) -> BeatSet:
        return BeatSet(np.concatenate([s.beats for s in sets]), np.concatenate([s.rr for s in sets]),
                       np.concatenate([s.labels for s in sets]), np.concatenate([s.records for s in sets]),
                       np.concatenate([s.peaks for s in sets]), sum(s.dropped for s in sets))

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
    """Beat windows and RR features of a record, at its annotated peaks (or the `peaks` given, e.g. detected ones,
    labelled -1). Windows come from the band-passed lead divided by `record_scale` (unitless, R ~ 1). Beats too
    close to the record's ends, and the first and last beat (which lack an RR interval on one side), are dropped
    and counted in `dropped`."""
    use_annotations = peaks is None
    peaks = record.peaks if use_annotations else np.asarray(peaks, dtype="int64")
    labels = record.labels if use_annotations else np.full(len(peaks), -1, dtype="int32")
    rr = rr_features(peaks)
    b, a = window_samples(before, after)
    filtered = filter_signal(record.signal)
    windows, keep = beat_windows(filtered / record_scale(filtered, peaks), peaks, b, a)
    keep_rr = np.isfinite(rr).all(axis=1)
    final = keep_rr[keep]
    return BeatSet(windows[final], rr[keep][final], labels[keep][final], np.full(int(final.sum()), record.name),
                   peaks[keep][final], int(len(peaks) - final.sum()))


def split_records(available: list[str], validation: tuple[str, ...] = VALIDATION) -> dict:
    """Inter-patient split by record: train = DS1 minus validation records, test = DS2. When no DS2 record is
    available, test = HELD_OUT_TEST (DS1 records). Paced records are excluded; a record is never in two splits."""
    have = set(available) - set(PACED)
    test = [r for r in DS2 if r in have]
    held_out = not test
    if held_out:
        test = [r for r in HELD_OUT_TEST if r in have]
    val = [r for r in validation if r in have and r not in test]
    train = [r for r in DS1 if r in have and r not in test and r not in val]
    if not train or not test:
        raise ValueError(f"ECG split: records {sorted(have)} give train={train}, test={test}; need DS1 records "
                         "(de Chazal et al. 2004) for training and DS2 or held-out DS1 records for testing.")
    return {"train": train, "validation": val, "test": test, "test_is_held_out_ds1": held_out}
