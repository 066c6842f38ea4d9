"""Time-series anomaly detection the way the Numenta Anomaly Benchmark (NAB; Lavin & Ahmad 2015) runs it: series
read from NAB's layout, the probationary period, NAB's scoring rules (scaled sigmoid, application profiles,
threshold swept over the corpus, normalised so the null detector scores 0 and a perfect one 100), event-level
precision / recall / F1, label-free anomaly scores from forecast errors (an anomaly likelihood in the spirit of
NAB's), the baselines' scores, and generated series for offline runs. Written here from NAB's published rules
(README and paper), tested against hand-worked windows.
"""

from __future__ import annotations

import dataclasses
import json
import math
import pathlib

import numpy as np

from domain.sources import data_folder

SOURCES = ("auto", "local", "synthetic")
PROBATION_FRACTION = 0.15  # NAB: the first 15% of a series (at most 750 points) may be learnt from, never scored
PROFILES = {"standard": {"tp": 1.0, "fp": 0.11, "fn": 1.0},
            "reward_low_FP_rate": {"tp": 1.0, "fp": 0.22, "fn": 1.0},
            "reward_low_FN_rate": {"tp": 1.0, "fp": 0.11, "fn": 2.0}}
# NAB's scoreboard (README), standard profile, all 58 series
SCOREBOARD = {"ARTime": 74.9, "Numenta HTM": 70.5, "CAD OSE": 69.9, "KNN-CAD": 58.0, "Random Cut Forest": 51.7,
              "Twitter ADVec": 47.1, "Windowed Gaussian": 39.6, "random": 11.0, "null": 0.0}


@dataclasses.dataclass
class Series:
    """One series: its NAB name (category/file.csv), timestamps, values and labelled windows as inclusive index
    ranges (empty when unlabelled)."""

    name: str
    timestamps: np.ndarray
    values: np.ndarray
    windows: list[tuple[int, int]]
    skipped_rows: int = 0
    notes: tuple[str, ...] = ()  # what reading changed: rows re-sorted into time order, repeated timestamps

    @property
    def probation(self) -> int:
        return probation_length(len(self.values))


@dataclasses.dataclass
class Corpus:
    series: list[Series]
    source: str
    labelled: bool
    notes: list[str]


def probation_length(n: int) -> int:
    return int(min(math.floor(PROBATION_FRACTION * n), PROBATION_FRACTION * 5000))


def default_data_dir() -> str:
    """The nab folder by the suite's one rule (domain.sources.data_folder), when it holds the data; else ""."""
    folder = data_folder("nab")
    return str(folder) if (folder / "data").is_dir() else ""


def read_series(path: str | pathlib.Path, name: str | None = None) -> Series:
    """A NAB CSV (timestamp,value) read as it is: rows whose timestamp or value cannot be read are skipped and
    counted; a file without those columns, or with fewer than 10 usable rows, is refused in one line."""
    import pandas as pd

    from domain import sources

    path = pathlib.Path(path)
    frame = sources.read_csv(path)
    if not {"timestamp", "value"} <= set(frame.columns):
        raise ValueError(f"{path}: expected the columns timestamp,value (NAB's layout); found {list(frame.columns)[:5]}.")
    stamps = pd.to_datetime(frame["timestamp"], errors="coerce")
    values = pd.to_numeric(frame["value"], errors="coerce")
    usable = stamps.notna() & values.notna() & np.isfinite(values.astype(float))
    if usable.sum() < 10:
        raise ValueError(f"{path}: {int(usable.sum())} usable rows; need at least 10 (timestamp,value).")
    times = stamps[usable].to_numpy()
    order = np.argsort(times, kind="stable")
    notes = []
    backward = int((np.diff(times) < np.timedelta64(0)).sum())
    if backward:
        notes.append(f"time goes back {backward} time(s) in the file: its rows were put in time order")
    repeated = int((np.diff(times[order]) == np.timedelta64(0)).sum())
    if repeated:
        notes.append(f"{repeated} row(s) repeat an earlier timestamp: each is kept as a point of its own")
    return Series(name or path.name, times[order], values[usable].to_numpy(float)[order], [],
                  int((~usable).sum()), tuple(notes))


def window_indices(timestamps: np.ndarray, windows: list) -> list[tuple[int, int]]:
    """NAB's window timestamps as inclusive index ranges of the series (windows outside the series dropped)."""
    import pandas as pd

    out = []
    for start, end in windows:
        first = int(np.searchsorted(timestamps, pd.Timestamp(start).to_datetime64(), side="left"))
        last = int(np.searchsorted(timestamps, pd.Timestamp(end).to_datetime64(), side="right")) - 1
        if first <= last:
            out.append((first, last))
    return out


def own_windows(path: str | pathlib.Path, timestamps: np.ndarray) -> tuple[str, list[tuple[int, int]] | None]:
    """(NAB name, labelled windows as index ranges) of a CSV that lies in NAB's layout (<root>/data/<category>/
    <file>.csv beside <root>/labels/combined_windows.json); (its file name, None) elsewhere or when the labels do
    not name it."""
    import json

    path = pathlib.Path(path).resolve()
    for root in path.parents:
        labels = root / "labels" / "combined_windows.json"
        if labels.exists() and path.parent.parent == root / "data":
            name = f"{path.parent.name}/{path.name}"
            windows = json.loads(labels.read_text())
            return name, window_indices(timestamps, windows[name]) if name in windows else None
    return path.name, None


def events(flagged: np.ndarray, score: np.ndarray, gap: int = 1) -> list[tuple[int, int, int]]:
    """Flagged points grouped into events: (first, last, peak) index of each run of flagged points that `gap` or
    fewer unflagged points separate; peak is the point of the highest score in it."""
    flagged = np.asarray(flagged, dtype="int64")
    if not len(flagged):
        return []
    breaks = np.flatnonzero(np.diff(flagged) > gap + 1)
    out = []
    for run in np.split(flagged, breaks + 1):
        out.append((int(run[0]), int(run[-1]), int(run[np.argmax(score[run])])))
    return out


def load_folder(root: str | pathlib.Path) -> Corpus:
    """Every `data/<category>/*.csv` of a folder in NAB's layout, with `labels/combined_windows.json` when it is
    there (without it the series are unlabelled: scores can be computed, not judged). A series that cannot be used
    is skipped and named in the notes; none usable is an error."""
    root = pathlib.Path(root)
    files = sorted((root / "data").glob("*/*.csv"))
    if not files:
        raise FileNotFoundError(f"{root}: no data/<category>/*.csv; expected NAB's layout (data/, labels/).")
    labels_path = root / "labels" / "combined_windows.json"
    windows = json.loads(labels_path.read_text()) if labels_path.exists() else None
    series, notes = [], []
    for path in files:
        name = f"{path.parent.name}/{path.name}"
        try:
            one = read_series(path, name)
        except ValueError as error:
            notes.append(f"skipped {name}: {error}")
            continue
        if one.skipped_rows:
            notes.append(f"{name}: {one.skipped_rows} unreadable rows skipped")
        if windows is not None:
            if name not in windows:
                notes.append(f"{name}: not in combined_windows.json, scored as having no anomaly window")
            one.windows = window_indices(one.timestamps, windows.get(name, []))
        series.append(one)
    if not series:
        raise ValueError(f"{root}: no usable series ({'; '.join(notes[:3])}).")
    return Corpus(series, f"local: {root} ({len(series)} series)", windows is not None, notes)


def generated_corpus(count: int = 8, length: int = 3000, seed: int = 0) -> Corpus:
    """Series generated here in NAB's form (offline runs, tests): a daily-like cycle with noise every 5 minutes,
    and in all but the first two an anomaly after the probationary period (a spike, a level shift, a flat stretch
    or a burst of noise) with a NAB-sized window around it (10% of the series' length over its anomalies)."""
    rng = np.random.default_rng(seed)
    out = []
    start = np.datetime64("2024-01-01T00:00")
    for k in range(count):
        t = np.arange(length)
        values = 50 + 10 * np.sin(2 * np.pi * t / 288) + rng.normal(0, 1.0, length)
        windows = []
        if k >= 2:
            at = int(rng.integers(int(0.3 * length), int(0.9 * length)))
            kind = ("spike", "shift", "flat", "noise")[k % 4]
            if kind == "spike":
                values[at] += 25
            elif kind == "shift":
                values[at:at + 150] += 15
            elif kind == "flat":
                values[at:at + 150] = values[at]
            else:
                values[at:at + 100] += rng.normal(0, 8, 100)
            half = int(0.05 * length)
            windows = [(max(at - half, 0), min(at + half, length - 1))]
        stamps = start + t * np.timedelta64(5, "m")
        out.append(Series(f"generated/series_{k}.csv", stamps, values, windows))
    return Corpus(out, f"synthetic: {count} generated series of {length} points (seed {seed})", True, [])


# --------------------------------------------------------------------------------------------- NAB's scoring

def scaled_sigmoid(position: float) -> float:
    """NAB's weight of a detection at a relative position: -1 (a window's left edge) -> 0.987, 0 (its right edge)
    -> 0, past a window increasingly negative, -1 from 3 window widths on."""
    return -1.0 if position >= 3.0 else 2.0 / (1.0 + math.exp(5.0 * position)) - 1.0


def point_weights(n: int, windows: list[tuple[int, int]], profile: dict) -> tuple[np.ndarray, np.ndarray]:
    """(weight of a detection at each point, its window's number or -1 outside): inside a window the true
    positive's weight by how early it comes, outside the false positive's (negative) weight by how far past the
    previous window it is (NAB's rules; before any window a false positive costs the full fp weight)."""
    weights, owner = np.empty(n), np.full(n, -1)
    best = scaled_sigmoid(-1.0)
    previous = None
    ordered = sorted(windows)
    w = 0
    for i in range(n):
        while w < len(ordered) and ordered[w][1] < i:
            previous, w = ordered[w], w + 1
        if w < len(ordered) and ordered[w][0] <= i <= ordered[w][1]:
            left, right = ordered[w]
            weights[i] = scaled_sigmoid(-(right - i + 1) / (right - left + 1)) * profile["tp"] / best
            owner[i] = w
        else:
            position = 3.0 if previous is None else abs(previous[1] - i) / max(previous[1] - previous[0], 1)
            weights[i] = scaled_sigmoid(position) * profile["fp"]
    return weights, owner


def scored_windows(series: Series) -> list[int]:
    """The windows NAB counts: those with a point after the probationary period."""
    return [w for w, (_, right) in enumerate(sorted(series.windows)) if right >= series.probation]


def raw_score(series: Series, detected: np.ndarray, profile: dict) -> float:
    """One series' NAB score for boolean detections: each counted window scores its best detection's weight, or
    -fn when none; every detection outside the windows adds its (negative) weight; the probationary period is
    ignored."""
    weights, owner = point_weights(len(series.values), series.windows, profile)
    live = np.asarray(detected, bool).copy()
    live[:series.probation] = False
    total = float(weights[live & (owner < 0)].sum())
    for w in scored_windows(series):
        hits = live & (owner == w)
        total += float(weights[hits].max()) if hits.any() else -profile["fn"]
    return total


def sweep(corpus: list[Series], scores: list[np.ndarray], profile: dict) -> tuple[float, float]:
    """NAB's threshold sweep: the threshold over the whole corpus whose summed raw score is highest (a point is
    detected when its anomaly score is >= the threshold). Returns (threshold, raw score)."""
    events = []  # (score, weight, window key or None)
    base = 0.0
    for k, (series, score) in enumerate(zip(corpus, scores, strict=True)):
        weights, owner = point_weights(len(series.values), series.windows, profile)
        counted = set(scored_windows(series))
        base -= profile["fn"] * len(counted)
        for i in range(series.probation, len(series.values)):
            key = (k, int(owner[i])) if owner[i] >= 0 else None
            if key is not None and owner[i] not in counted:
                continue
            events.append((float(score[i]), float(weights[i]), key))
    events.sort(key=lambda e: -e[0])
    best_part, total = {}, base
    best_threshold, best_total = math.inf, base  # no detection at all: the null score
    i = 0
    while i < len(events):
        threshold = events[i][0]
        while i < len(events) and events[i][0] == threshold:
            _, weight, key = events[i]
            if key is None:
                total += weight
            else:
                current = best_part.get(key, -profile["fn"])
                if weight > current:
                    total += weight - current
                    best_part[key] = weight
            i += 1
        if total > best_total:
            best_threshold, best_total = threshold, total
    return best_threshold, best_total


def normalised(raw: float, corpus: list[Series], profile: dict) -> float:
    """100 x (raw - null) / (perfect - null): the null detector (no detection) scores 0, a perfect one 100."""
    windows = sum(len(scored_windows(s)) for s in corpus)
    null, perfect = -profile["fn"] * windows, profile["tp"] * windows
    return 100.0 * (raw - null) / (perfect - null) if windows else float("nan")


def nab_scores(corpus: list[Series], scores: list[np.ndarray], threshold: float | None = None) -> dict:
    """Per profile: the normalised NAB score at the threshold the sweep finds best for that profile (NAB's
    protocol), or at a given `threshold` (a label-free one)."""
    out = {}
    for name, profile in PROFILES.items():
        if threshold is None:
            chosen, raw = sweep(corpus, scores, profile)
        else:
            chosen = threshold
            raw = sum(raw_score(s, np.asarray(x) >= threshold, profile) for s, x in zip(corpus, scores, strict=True))
        out[name] = {"score": normalised(raw, corpus, profile), "threshold": chosen}
    return out


def event_metrics(corpus: list[Series], scores: list[np.ndarray], threshold: float) -> dict:
    """Event-level precision, recall and F1 (%): a counted window with a detection is one true positive however
    many points it holds; each run of consecutive detections outside the windows is one false positive (no point
    adjustment)."""
    tp = fp = fn = 0
    for series, score in zip(corpus, scores, strict=True):
        detected = np.asarray(score) >= threshold
        detected[:series.probation] = False
        _, owner = point_weights(len(series.values), series.windows, PROFILES["standard"])
        for w in scored_windows(series):
            if (detected & (owner == w)).any():
                tp += 1
            else:
                fn += 1
        outside = (detected & (owner < 0)).astype(int)
        fp += int(np.sum(np.diff(np.concatenate([[0], outside])) == 1))
    precision = 100.0 * tp / (tp + fp) if tp + fp else 0.0
    recall = 100.0 * tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "F1": f1, "windows found": tp, "windows": tp + fn,
            "false alarms": fp}


# ------------------------------------------------------------------------------ label-free scores, baselines

def likelihood(errors: np.ndarray, short: int = 3, long: int = 1000) -> np.ndarray:
    """Forecast errors -> anomaly scores in [0, 1) without labels (after NAB's anomaly likelihood): how far the
    mean of the last `short` errors stands above the errors of the `long` points before them, in their standard
    deviations z, as the normal tail p = P(Z >= z) on a log scale, tail_score(p), so that scores keep their order
    far into the tail (the CDF itself rounds to 1.0 from z = 8.3 on, and NAB's threshold sweep then sees a tie).
    Only past errors are used (online). short 3 and long 1000 were chosen on the 18 NAB series of the handout
    (standard profile, the GRU's errors in the series' units: short 1 / 2 / 3 / 5 / 10 / 30 gave 7.1 / 26.8 / 29.8
    / 23.8 / 10.1 / 1.2 at long 1000; long 500 / 3000 gave 27.4 / 24.4 at short 3): a short average reacts early,
    where NAB's windows reward it; a single error is too noisy."""
    import pandas as pd
    from scipy.special import log_ndtr

    e = pd.Series(np.asarray(errors, dtype=float))
    recent = e.rolling(short, min_periods=1).mean()
    history = e.shift(short)
    mean = history.rolling(long, min_periods=short).mean()
    sd = history.rolling(long, min_periods=short).std()
    z = ((recent - mean) / (sd + 1e-9)).fillna(0.0).to_numpy()
    return tail_score(np.exp(log_ndtr(-z)))


def tail_score(tail) -> np.ndarray:
    """A tail probability p as a score in [0, 1): L / (1 + L) with L = -log10 p (p = 0.5 -> 0.23, 1e-6 -> 0.857,
    1e-100 -> 0.990): higher for rarer errors, never saturating."""
    level = -np.log10(np.clip(tail, 1e-300, 1.0))
    return level / (1.0 + level)


def persistence_errors(values: np.ndarray) -> np.ndarray:
    """The non-recurrent forecaster's errors: |x_t - x_{t-1}| (0 at the first point)."""
    return np.abs(np.diff(np.asarray(values, dtype=float), prepend=values[0]))


def windowed_gaussian(values: np.ndarray, window: int = 6400, step: int = 100) -> np.ndarray:
    """NAB's windowed Gaussian baseline: each value's two-sided tail under a normal fitted to the `window` values
    before it (refitted every `step` points), as a score 1 - tail in [0.5, 1)."""
    import pandas as pd
    from scipy.special import ndtr

    v = pd.Series(np.asarray(values, dtype=float))
    mean = v.shift(1).rolling(window, min_periods=2).mean()
    sd = v.shift(1).rolling(window, min_periods=2).std()
    keep = np.arange(len(v)) % step == 0  # refit every `step` points, hold in between
    mean, sd = mean.where(keep).ffill(), sd.where(keep).ffill()
    z = ((v - mean) / (sd + 1e-9)).fillna(0.0).to_numpy()
    tail = ndtr(-np.abs(z))
    return 1.0 - tail


def novel(values: np.ndarray, probation: int, margin: float) -> np.ndarray:
    """Points outside anything seen before them (online): above the running maximum or below the running minimum
    of every earlier value by more than `margin` x that earlier range. Before the end of the probationary period
    nothing is novel (it is learnt from, never scored)."""
    v = np.asarray(values, dtype=float)
    if len(v) < 2:
        return np.zeros(len(v), bool)
    high, low = np.maximum.accumulate(v)[:-1], np.minimum.accumulate(v)[:-1]
    reach = margin * (high - low)
    out = np.concatenate([[False], (v[1:] > high + reach) | (v[1:] < low - reach)])
    out[:probation] = False
    return out


def with_novelty(scores: np.ndarray, values: np.ndarray, probation: int, margin: float | None) -> np.ndarray:
    """`scores` with the novel points (margin: see `novel`; None: none) raised to 1, above every likelihood score
    (which stays below 1): a value outside anything seen is flagged at once, whatever its forecast error."""
    if margin is None:
        return np.asarray(scores, dtype=float)
    return np.where(novel(values, probation, margin), 1.0, scores)


def category(series: Series) -> str:
    """The NAB category of a series (realKnownCause, artificialNoAnomaly, ...): its name's folder."""
    return series.name.split("/")[0] if "/" in series.name else "series"


def leave_category_out(corpus: list[Series], candidates: dict[str, list[np.ndarray]]) -> dict:
    """NAB scores that can predict unseen data: for each category held out in turn, every setting and threshold
    is chosen on the other categories (per profile: the setting whose threshold sweep scores best there, at that
    threshold) and applied unchanged to the held-out category. `candidates`: {setting (any key; reported as its
    str): scores per series} (one setting for a detector with nothing to choose). Returns per profile {"pooled": the normalised score of every
    held-out category's raw score summed over the corpus, "categories": {category: {"setting", "threshold",
    "score" (normalised within the category; None without windows), "raw"}}}."""
    names = sorted({category(s) for s in corpus})
    index = {c: [i for i, s in enumerate(corpus) if category(s) == c] for c in names}
    out = {}
    for profile_name, profile in PROFILES.items():
        rows, total = {}, 0.0
        for held in names:
            other = [i for c in names if c != held for i in index[c]]
            if not other:  # one category only: nothing to choose on
                other = index[held]
            best = None
            for setting, scores in candidates.items():
                threshold, raw = sweep([corpus[i] for i in other], [scores[i] for i in other], profile)
                score = normalised(raw, [corpus[i] for i in other], profile)
                if best is None or score > best[0]:
                    best = (score, setting, threshold)
            _, setting, threshold = best
            raw = sum(raw_score(corpus[i], np.asarray(candidates[setting][i]) >= threshold, profile)
                      for i in index[held])
            part = [corpus[i] for i in index[held]]
            windows = sum(len(scored_windows(s)) for s in part)
            rows[held] = {"setting": str(setting), "threshold": float(threshold), "raw": float(raw),
                          "score": normalised(raw, part, profile) if windows else None, "windows": windows}
            total += raw
        out[profile_name] = {"pooled": normalised(total, corpus, profile), "categories": rows}
    return out
