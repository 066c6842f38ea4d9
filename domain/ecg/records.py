"""MIT-BIH records in WFDB format: reading the MLII lead, AAMI EC57 beat classes, the de Chazal split."""

from __future__ import annotations

import dataclasses
import logging
import pathlib

import numpy as np

from domain.ecg.databases import DS1, DS2, PACED, lead_of, record_names

__all__ = ["AAMI_CLASSES", "AAMI_MAP", "DS1", "DS2", "FS", "PACED", "Record", "aami_class", "from_signal",
           "read_record", "record_names", "through_rate"]
log = logging.getLogger(__name__)

FS = 360  # MIT-BIH sampling rate (Hz); other rates are resampled to it
AAMI_CLASSES = ("N", "S", "V", "F", "Q")
# AAMI EC57's classes of the MIT-BIH beat symbols. `B` (a bundle branch block beat whose side is unspecified: one
# beat in SVDB, none in MIT-BIH) is not in EC57's table; it is N, with L and R, the bundle branch block beats it lists.
AAMI_MAP = {**dict.fromkeys("NLRejB", "N"), **dict.fromkeys("AaJS", "S"), **dict.fromkeys("VE", "V"), "F": "F",
            **dict.fromkeys("/fQ", "Q")}
MIN_FS = 100  # below this the QRS complex is not resolved


def aami_class(symbol: str) -> str | None:
    """AAMI class letter of a MIT-BIH annotation symbol; None for non-beat annotations (rhythm, noise, ...)."""
    return AAMI_MAP.get(symbol)


@dataclasses.dataclass(frozen=True)
class Record:
    """One lead of a record at FS Hz. signal: (time,) in mV; peaks/symbols: annotated beats only (may be empty)."""

    name: str
    signal: np.ndarray
    lead: str
    peaks: np.ndarray
    symbols: tuple[str, ...]
    original_fs: float
    repaired_samples: int = 0
    clipped_fraction: float = 0.0  # share of samples held at the signal's extreme values (a saturated amplifier)

    @property
    def labels(self) -> np.ndarray:
        """AAMI class index (into AAMI_CLASSES) of every annotated beat."""
        return np.array([AAMI_CLASSES.index(AAMI_MAP[s]) for s in self.symbols], dtype="int32")


def _check_files(path: pathlib.Path, annotations: bool) -> None:
    needed = [".hea", ".dat"] + ([".atr"] if annotations else [])
    missing = [path.with_suffix(s).name for s in needed if not path.with_suffix(s).exists()]
    if missing:
        raise FileNotFoundError(f"ECG record {path.name} in {path.parent}: missing {', '.join(missing)}; a WFDB record "
                                "needs .hea + .dat (+ .atr for labels): check the path, or download the record again.")


def _read_beats(path: pathlib.Path, n_samples: int, fs: float) -> tuple[np.ndarray, tuple[str, ...]]:
    """The beat annotations of `path`.atr (sample, symbol), refused with the file named when they cannot describe the
    signal: unreadable, without a beat, mostly outside the signal, or at a rate no heart beats (below 20 or above
    300 per minute over the annotated span)."""
    import wfdb

    atr = path.with_suffix(".atr").name
    try:
        ann = wfdb.rdann(str(path), "atr")
    except Exception as error:
        raise ValueError(f"ECG record {path.name}: unreadable annotations {atr} ({type(error).__name__}: {error}); "
                         "re-download it, or predict without labels.") from None
    keep = [i for i, s in enumerate(ann.symbol) if s in AAMI_MAP]
    peaks = np.asarray(ann.sample, dtype="int64")[keep]
    symbols = tuple(ann.symbol[i] for i in keep)
    problem = None
    if not len(peaks) and n_samples > 10 * fs:
        problem = "no beat annotations"
    elif len(peaks) and np.mean((peaks < 0) | (peaks >= n_samples)) > 0.01:
        problem = f"{np.mean((peaks < 0) | (peaks >= n_samples)):.0%} of its beats lie outside the signal"
    elif len(peaks) > 10:
        rate = 60.0 * (len(peaks) - 1) / max((peaks[-1] - peaks[0]) / fs, 1e-9)
        if not 20 <= rate <= 300:
            problem = f"its beats come at {rate:.0f} per minute (a heart beats 20-300)"
    if problem:
        raise ValueError(f"ECG record {path.name}: {atr} does not describe this signal ({problem}); fix or remove "
                         "the annotation file.")
    return peaks, symbols


def _declared_fs(path: pathlib.Path) -> tuple[str, float] | None:
    """(the field, its number or NaN) of the sampling frequency as the header's record line writes it (`name nsig
    fs[/counter[(base)]] ...`); None when the field is absent (WFDB's default, 250 Hz, then applies)."""
    import re

    try:
        tokens = next(line for line in path.with_suffix(".hea").read_text(errors="replace").splitlines()
                      if line.strip() and not line.startswith("#")).split()
    except (OSError, StopIteration):
        return None
    if len(tokens) < 3:
        return None
    found = re.match(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?", tokens[2])
    return tokens[2], float(found.group(0)) if found else float("nan")


_FORMAT_BYTES = {"212": 1.5, "16": 2, "80": 1}  # bytes per sample of the WFDB formats ECG databases use


def _check_dat_size(path: pathlib.Path, header, channel: int) -> None:
    """The .dat file's size against what its header announces (formats 212 and 16): another format's size, a
    truncated file or a header that does not describe the file, each refused naming the fix."""
    expected_bytes, name = None, path.name
    dat = path.with_suffix(".dat")
    fmt = header.fmt[channel] if header.fmt else None
    if fmt == "212" and header.sig_len:
        expected_bytes = header.sig_len * header.n_sig * 3 // 2
    elif fmt == "16" and header.sig_len:
        expected_bytes = header.sig_len * header.n_sig * 2
    if expected_bytes is not None and abs(dat.stat().st_size - expected_bytes) > 2:
        fits = [other for other, size in _FORMAT_BYTES.items() if other != fmt and
                abs(dat.stat().st_size - header.sig_len * header.n_sig * size) <= 2]
        if fits:
            raise ValueError(f"ECG record {name}: its header says format {fmt}, but {dat.name}'s size "
                             f"({dat.stat().st_size} bytes) fits format {fits[0]} for {header.n_sig} signal(s) x "
                             f"{header.sig_len} samples; fix the format field of the .hea file.")
    if expected_bytes is not None and dat.stat().st_size < expected_bytes:
        raise ValueError(f"ECG record {name}: {dat.name} holds {dat.stat().st_size} bytes but its header announces "
                         f"{header.sig_len} samples ({expected_bytes} bytes); the file is truncated. Re-download it.")
    if expected_bytes is not None and dat.stat().st_size > expected_bytes + 2:  # format 212 may pad an odd count
        raise ValueError(f"ECG record {name}: {dat.name} holds {dat.stat().st_size} bytes but its header announces "
                         f"{header.n_sig} signal(s) x {header.sig_len} samples in format {fmt} ({expected_bytes} "
                         "bytes): the header does not describe this file (signal count, length or format). Fix the "
                         ".hea file.")


def read_record(path: str | pathlib.Path, *, lead: str | None = None, first_lead_fallback: bool = False,
                annotations: bool = True) -> Record:
    """Read one WFDB record: the `lead` channel found by signal name (default: the MLII-like lead of its database,
    domain.ecg.databases.lead_of: MLII, or SVDB's ECG1), resampled to 360 Hz, with its beat annotations.

    Errors name the record and the fix: missing files, truncated .dat, no such lead (unless `first_lead_fallback`),
    a sampling rate below 100 Hz, a flat line, or more than 1% unreadable (NaN) samples. Fewer NaNs are filled by
    linear interpolation and counted in `repaired_samples`.
    """
    import wfdb

    path = pathlib.Path(path)
    path = path.with_suffix("") if path.suffix in (".hea", ".dat", ".atr") else path
    _check_files(path, annotations)
    name = path.name
    try:
        header = wfdb.rdheader(str(path))
    except Exception as error:
        raise ValueError(f"ECG record {name}: unreadable header {path}.hea ({error}).") from None
    wanted = lead or lead_of(header.sig_name, name)
    if wanted in header.sig_name:
        channel, used = header.sig_name.index(wanted), wanted
    elif first_lead_fallback:
        channel, used = 0, header.sig_name[0]
        log.warning("record %s has no %s lead (leads %s); using %s as asked", name, lead or "MLII-like",
                    header.sig_name, used)
    else:
        raise ValueError(f"ECG record {name} has no {lead or 'MLII'} lead (it has {header.sig_name}); it is skipped, "
                         "or pass --first-lead to use its first lead instead.")
    declared = _declared_fs(path)
    if declared is not None and declared[1] != float(header.fs or 0):  # wfdb fell back to 250 for a bad field
        raise ValueError(f"ECG record {name}: the header's sampling frequency field {declared[0][:20]!r} is not a rate "
                         "(wfdb would read it as 250 Hz); fix the .hea's first line (e.g. 360).")
    if not header.fs or header.fs < MIN_FS:
        raise ValueError(f"ECG record {name}: sampling rate {header.fs} Hz is below {MIN_FS} Hz; QRS complexes "
                         "cannot be resolved. Use a recording sampled at 360 Hz (or at least 100 Hz).")
    _check_dat_size(path, header, channel)
    try:
        record = wfdb.rdrecord(str(path), channels=[channel])
    except Exception as error:
        raise ValueError(f"ECG record {name}: cannot read {path.name}.dat ({error}); the file may be truncated or "
                         "corrupt. Re-download it.") from None
    signal = record.p_signal[:, 0].astype("float64")
    peaks, symbols = (_read_beats(path, len(signal), float(header.fs)) if annotations
                      else (np.zeros(0, "int64"), ()))
    return from_signal(signal, float(header.fs), name=name, lead=used, peaks=peaks, symbols=symbols)


def from_signal(signal, fs: float, *, name: str = "signal", lead: str = "MLII", peaks: np.ndarray | None = None,
                symbols: tuple[str, ...] = ()) -> Record:
    """A Record from one raw lead in mV sampled at `fs` Hz (a WFDB file's, or an array sent to the server), checked
    and prepared the same way: a rate of at least 100 Hz, at most 1% missing samples (fewer are interpolated and
    counted), not a flat line; resampled to 360 Hz, annotated beats moved with it."""
    import scipy.signal

    signal = np.asarray(signal, dtype="float64").reshape(-1)
    if not np.isfinite(fs) or fs < MIN_FS:
        raise ValueError(f"ECG record {name}: sampling rate {fs} Hz is below {MIN_FS} Hz; QRS complexes "
                         "cannot be resolved. Use a recording sampled at 360 Hz (or at least 100 Hz).")
    if len(signal) < 2 * fs:
        raise ValueError(f"ECG record {name}: {len(signal)} samples is under 2 s at {fs:g} Hz; send at least a few "
                         "beats.")
    bad = ~np.isfinite(signal)
    if bad.mean() > 0.01:
        raise ValueError(f"ECG record {name}: {bad.mean():.1%} of the {lead} samples are missing (NaN); "
                         "more than the 1% that can be interpolated. Check the recording.")
    if bad.any():
        good = np.flatnonzero(~bad)
        signal[bad] = np.interp(np.flatnonzero(bad), good, signal[good])
    if np.nanstd(signal) < 1e-3:
        raise ValueError(f"ECG record {name}: the {lead} lead is a flat line (std < 0.001 mV); no beats can be read. "
                         "If the recording is not flat, the header's gain (ADC units per mV) is far too large.")
    clipped = clipped_fraction(signal)
    peaks = np.zeros(0, "int64") if peaks is None else np.asarray(peaks, dtype="int64")
    if fs != FS:
        signal = scipy.signal.resample_poly(signal, FS, int(round(fs))) if float(fs).is_integer() else \
            scipy.signal.resample(signal, int(round(len(signal) * FS / fs)))
        peaks = np.round(peaks * FS / fs).astype("int64")
        log.debug("record %s: resampled %s Hz -> %d Hz", name, fs, FS)
    inside = (peaks >= 0) & (peaks < len(signal))
    return Record(name, signal, lead, peaks[inside], tuple(np.asarray(symbols, dtype=object)[inside]) if symbols
                  else (), float(fs), int(bad.sum()), clipped)


def clipped_fraction(signal: np.ndarray, run: int = 3) -> float:
    """The share of samples that sit at the signal's own maximum or minimum in runs of at least `run` samples: a
    saturated amplifier or a full-scale ADC flattens every tall R wave at one value (a real peak touches it once)."""
    at_edge = (signal >= signal.max()) | (signal <= signal.min())
    padded = np.concatenate([[0], at_edge.astype("int8"), [0]])
    starts, ends = np.flatnonzero(np.diff(padded) == 1), np.flatnonzero(np.diff(padded) == -1)
    lengths = ends - starts
    return float(lengths[lengths >= run].sum() / len(signal))


def through_rate(record: Record, fs: float) -> Record:
    """The record as if it had been digitised at `fs` Hz (SVDB's 128) and then read as any record is: the lead
    resampled 360 -> fs -> 360 Hz (`scipy.signal.resample_poly`, whose anti-aliasing filter band-limits it to fs / 2)
    and every annotated beat moved to the nearest sample of the fs grid, where annotations made at fs place it.
    Labels are unchanged. Training mixes such copies of the faster database's records in (so that resolution cannot
    stand in for a class), and the cross-validation scores them as a stress set."""
    import scipy.signal

    rate = int(round(fs))
    down = scipy.signal.resample_poly(record.signal, rate, FS)
    signal = scipy.signal.resample_poly(down, FS, rate)[: len(record.signal)]
    peaks = np.round(np.round(record.peaks * rate / FS) * FS / rate).astype("int64")
    inside = (peaks >= 0) & (peaks < len(signal))
    return dataclasses.replace(record, signal=signal, peaks=peaks[inside],
                               symbols=tuple(np.asarray(record.symbols, dtype=object)[inside]), original_fs=float(fs))
