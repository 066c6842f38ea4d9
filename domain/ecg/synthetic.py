"""Synthetic MIT-BIH-like records written in WFDB format (.hea/.dat/.atr), so the real reading code runs offline.

Each beat is the sum of Gaussian waves P, Q, R, S, T, the wave shapes of McSharry et al.'s ECGSYN model
("A dynamical model for generating synthetic electrocardiogram signals", IEEE TBME 50(3), 2003), evaluated in
closed form around each R peak instead of integrating the ODE. Each record is a "patient" with its own heart rate,
amplitude and ectopy rates; RR intervals carry heart-rate variability (respiratory sinus arrhythmia at 0.25 Hz,
Mayer waves at 0.1 Hz, jitter); the signal carries baseline wander, 60 Hz mains and white noise.

Labelled beats: N (normal); S (premature, abnormal P wave, narrow QRS, no full compensatory pause);
V (premature, no P wave, wide QRS, discordant T, full compensatory pause); F (fusion of N and V).

Notebook:
    paths = synthetic.write_records("data/synthetic", ["101", "106"], minutes=2, seed=0)
"""

from __future__ import annotations

import pathlib
import zlib

import numpy as np

from domain.ecg.records import FS

# (centre s relative to R, width s, amplitude mV) of P, Q, R, S, T for a normal beat
NORMAL = np.array([[-0.20, 0.025, 0.15], [-0.030, 0.010, -0.12], [0.0, 0.011, 1.0], [0.030, 0.011, -0.25],
                   [0.26, 0.055, 0.30]])
VENTRICULAR = np.array([[-0.20, 0.025, 0.0], [-0.045, 0.018, -0.25], [0.0, 0.024, 1.6], [0.055, 0.024, -0.7],
                        [0.30, 0.075, -0.45]])
SYMBOLS = {"N": "N", "S": "A", "V": "V", "F": "F"}
# "mixed": the patients of the offline default (sinus rhythm, each with its own ectopy rates); the stress scenarios
# no DS1 patient shows: S beats 60-80% of all on a slow sinus rhythm (runs of atrial ectopy), an irregular rhythm
# (atrial fibrillation: no P wave, irregular RR) with normal beats only, every beat wide (bundle branch block) with
# normal beats only
SCENARIOS = ("mixed", "ectopic_majority", "irregular", "wide")
S_RUN = 0.75  # ectopic_majority: the chance that an S beat follows an S beat


def _patient_shapes(rng: np.random.Generator, scenario: str = "mixed") -> dict[str, np.ndarray]:
    """A patient's own normal and ventricular morphologies: every wave's timing, width and amplitude jittered; in
    scenario "wide" the normal QRS is as wide as a bundle branch block's (about 140 ms) with a discordant T wave,
    in "irregular" it has no P wave (atrial fibrillation)."""
    def jitter(waves):
        waves = waves.copy()
        waves[:, 0] *= rng.uniform(0.85, 1.15, len(waves))
        waves[:, 1] *= rng.uniform(0.8, 1.25, len(waves))
        waves[:, 2] *= rng.uniform(0.6, 1.4, len(waves))
        return waves
    ventricular = jitter(VENTRICULAR)
    ventricular[1:4, 2] *= rng.choice([1.0, -1.0])  # ectopic QRS axis: upright or inverted in MLII
    normal = jitter(NORMAL)
    if scenario == "wide":
        normal[1:4, 1] *= rng.uniform(2.0, 2.6)  # Q, R, S waves twice as wide
        normal[1:4, 0] *= 1.6
        normal[4, 2] = -abs(normal[4, 2])  # T wave opposite to the QRS
    if scenario == "irregular":
        normal[0, 2] = 0.0
    return {"N": normal, "V": ventricular}


def _waves(kind: str, rng: np.random.Generator, rr: float, shapes: dict[str, np.ndarray]) -> np.ndarray:
    normal, ventricular = shapes["N"], shapes["V"]
    if kind == "N":
        waves = normal.copy()
    elif kind == "S":
        waves = normal.copy()
        waves[0] = [-0.13, 0.02, rng.uniform(-0.12, 0.06)]  # early, abnormal (flat or inverted) P wave
    elif kind == "V":
        waves = ventricular.copy()
    else:  # F: a fusion of the normal and the ventricular activation
        mix = rng.uniform(0.35, 0.65)
        waves = (1 - mix) * normal + mix * ventricular
    waves[:, 2] *= rng.normal(1.0, 0.04)  # beat-to-beat amplitude variation (respiration, posture)
    waves[4, 0] *= np.sqrt(rr / 0.8)  # QT shortens with the heart rate (Bazett)
    return waves


def _rhythm(seconds: float, rng: np.random.Generator, hr: float, rates: dict[str, float],
            scenario: str = "mixed") -> tuple[list, list]:
    """Beat times (s) and classes: sinus rhythm with HRV and ectopic beats at the patient's rates; in scenario
    "ectopic_majority" S beats follow N beats at rates["S"] and each other at S_RUN (runs of atrial ectopy), in
    "irregular" every RR is drawn anew around the mean (log-normal, sd 0.2: atrial fibrillation)."""
    rr0 = 60.0 / hr
    s_prematurity = rng.uniform(0.65, 0.88)  # how early this patient's S beats come
    times, kinds, t, previous = [], [], 0.4, "N"
    phase = rng.uniform(0, 2 * np.pi, 2)
    while True:
        draw = rng.random()
        kind = "N"
        if scenario == "ectopic_majority":
            kind = "S" if draw < (S_RUN if previous == "S" else rates["S"]) else "N"
        for name in ("S", "V", "F"):
            if scenario != "mixed" or previous != "N":
                break
            if draw < rates[name]:
                kind = name
                break
            draw -= rates[name]
        sinus = rr0 * (1 + 0.04 * np.sin(2 * np.pi * 0.25 * t + phase[0]) + 0.03 * np.sin(2 * np.pi * 0.1 * t + phase[1])
                       + 0.01 * rng.normal())
        if scenario == "irregular":
            sinus = rr0 * float(np.clip(rng.lognormal(0.0, 0.2), 0.5, 1.8))
        if previous == "S" and kind == "S":
            rr = s_prematurity * sinus  # a run of atrial ectopy at its own faster rate
        elif previous == "V":
            rr = (2 - 0.62) * sinus  # full compensatory pause
        elif previous == "S":
            rr = 1.08 * sinus  # the sinus node was reset: no full pause
        else:
            rr = {"N": sinus, "S": s_prematurity * sinus, "V": 0.62 * sinus, "F": 0.93 * sinus}[kind]
        if t + rr > seconds - 0.5:
            break
        t += rr
        times.append(t)
        kinds.append(kind)
        previous = kind
    return times, kinds


def synthesize(name: str, minutes: float, seed: int = 0, scenario: str = "mixed"
               ) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """One record: ((samples, 2) signal in mV for leads MLII and V1, R-peak sample indices, MIT-BIH symbols) of a
    patient of `scenario` (SCENARIOS)."""
    if scenario not in SCENARIOS:
        raise ValueError(f"scenario {scenario!r}: expected one of {', '.join(SCENARIOS)}.")
    rng = np.random.default_rng([seed, zlib.crc32(name.encode())] + ([] if scenario == "mixed" else
                                                                      [zlib.crc32(scenario.encode())]))
    seconds = minutes * 60.0
    n = int(seconds * FS)
    hr = rng.uniform(58, 95)
    gain = rng.uniform(0.7, 1.5)
    rates = {"S": rng.choice([0.0, rng.uniform(0.01, 0.10)]), "V": rng.choice([0.0, rng.uniform(0.01, 0.15)]),
             "F": rng.choice([0.0, 0.0, rng.uniform(0.005, 0.03)])}
    if scenario == "ectopic_majority":
        hr = rng.uniform(42, 55)  # slow sinus rhythm
        fraction = rng.uniform(0.6, 0.8)  # S beats: a / (1 - S_RUN + a) of all beats
        rates["S"] = min(1.0, fraction * (1 - S_RUN) / (1 - fraction))
    times, kinds = _rhythm(seconds, rng, hr, rates, scenario)
    shapes = _patient_shapes(rng, scenario)
    noise_level = rng.uniform(0.01, 0.05)
    t_axis = np.arange(n) / FS
    signal = np.zeros(n)
    span = np.arange(-int(0.45 * FS), int(0.75 * FS))
    peaks = []
    for t, kind in zip(times, kinds, strict=True):
        r = int(round(t * FS))
        idx = r + span
        idx = idx[(idx >= 0) & (idx < n)]
        waves = _waves(kind, rng, 60.0 / hr, shapes)
        offsets = (idx - r)[:, None] / FS - waves[None, :, 0]
        signal[idx] += gain * (waves[:, 2] * np.exp(-0.5 * (offsets / waves[:, 1]) ** 2)).sum(axis=1)
        peaks.append(r)
    if scenario == "irregular":  # fibrillatory waves instead of P waves
        signal += 0.04 * gain * np.sin(2 * np.pi * rng.uniform(5, 7) * t_axis + rng.uniform(0, 6))
    wander = 0.12 * np.sin(2 * np.pi * 0.22 * t_axis + rng.uniform(0, 6)) + 0.08 * np.sin(2 * np.pi * 0.05 * t_axis)
    noise = noise_level * rng.normal(size=n) + 0.01 * np.sin(2 * np.pi * 60 * t_axis)
    mlii = signal + wander + noise
    v1 = -0.6 * signal + 0.5 * wander + 0.015 * rng.normal(size=n)
    return np.stack([mlii, v1], axis=1), np.asarray(peaks), [SYMBOLS[k] for k in kinds]


def stress_records(scenario: str, count: int = 4, minutes: float = 5.0, seed: int = 0) -> list:
    """`count` generated patients of a stress scenario as Records (MLII, annotated), in memory; deterministic."""
    from domain.ecg.records import from_signal

    out = []
    for i in range(count):
        signal, peaks, symbols = synthesize(f"{scenario}-{i}", minutes, seed, scenario)
        out.append(from_signal(signal[:, 0], FS, name=f"{scenario}-{i}", peaks=peaks, symbols=tuple(symbols)))
    return out


def write_records(out_dir: str | pathlib.Path, names: list[str] | tuple[str, ...], *, minutes: float = 5.0,
                  seed: int = 0, fs: int = FS, leads: tuple[str, str] = ("MLII", "V1")) -> list[pathlib.Path]:
    """Write one WFDB record (format 212, leads MLII and V1 at 360 Hz, .atr annotations) per name into out_dir; or
    at another rate `fs` with other lead names (fs=128, leads=("ECG1", "ECG2") writes SVDB-like records)."""
    import scipy.signal
    import wfdb

    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in names:
        signal, peaks, symbols = synthesize(name, minutes, seed)
        if fs != FS:
            signal = scipy.signal.resample_poly(signal, fs, FS, axis=0)
            peaks = np.round(np.asarray(peaks) * fs / FS).astype("int64")
        signal = np.clip(signal, -10.0, 5.0)  # the range of format 212 at gain 200, baseline 1024
        wfdb.wrsamp(name, fs=fs, units=["mV", "mV"], sig_name=list(leads), p_signal=signal, fmt=["212", "212"],
                    adc_gain=[200.0, 200.0], baseline=[1024, 1024], write_dir=str(out_dir),
                    comments=["synthetic record (rnn-suite ECG generator, McSharry-style Gaussian waves)"])
        wfdb.wrann(name, "atr", np.asarray(peaks, dtype="int64"), symbol=symbols, write_dir=str(out_dir))
        paths.append(out_dir / name)
    return paths
