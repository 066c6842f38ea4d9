"""Weather series: Jena Climate 2009-2016 (keras.utils.get_file or a local CSV, hourly) and the daily Seattle
weather of 2012-2015 bundled here (domain/bundled); checks, regular steps, the field's feature engineering.

Notebook:
    series = weather.load_seattle()            # daily observations, offline
    series = weather.load_jena_csv("jena_climate_2009_2016.csv")
"""

from __future__ import annotations

import dataclasses
import logging
import pathlib

import numpy as np

from domain import sources

log = logging.getLogger(__name__)

SOURCES = ("auto", "jena", "local", "seattle")
JENA_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/jena_climate_2009_2016.csv.zip"
JENA_FILE = "jena_climate_2009_2016.csv"
# No published checksum could be found for this archive, and none could be computed here (no network): the download is
# checked by its size (13,568,290 bytes, as keras.utils.get_file reports it in the TensorFlow time-series tutorial)
# and then by the reader (columns, rows, values).
JENA_BYTES = 13_568_290
JENA_TIME = "Date Time"
JENA_COLUMNS = ("p (mbar)", "T (degC)", "Tpot (K)", "Tdew (degC)", "rh (%)", "VPmax (mbar)", "VPact (mbar)",
                "VPdef (mbar)", "sh (g/kg)", "H2OC (mmol/mol)", "rho (g/m**3)", "wv (m/s)", "max. wv (m/s)",
                "wd (deg)")
TARGET = "T (degC)"
ABSURD = 1e6  # no weather variable here comes near it (Jena's wind error code is -9999)
MAX_GAP_STEPS = 3  # gaps of up to 3 steps (hours or days) are interpolated (and counted); longer ones are an error
# Chollet, Deep Learning with Python, 2nd ed. (2021), ch. 10: Jena, temperature 24 h ahead from 5 days of hourly
# data; the "common-sense" persistence baseline has MAE 2.44 degC (validation) and 2.62 degC (test).
CHOLLET_PERSISTENCE_MAE = {"validation MAE": 2.44, "test MAE": 2.62}


@dataclasses.dataclass
class WeatherSeries:
    """Regular rows. times: (n,) datetime64; values: (n, features) float32 (target included); names: features;
    step_hours: 1 (hourly) or 24 (daily); target_name: the column forecast; season: the seasonal period in steps
    (a day of hours, or a year of days)."""

    times: np.ndarray
    values: np.ndarray
    names: list[str]
    source: str
    notes: list[str]
    step_hours: int = 1
    target_name: str = TARGET

    @property
    def target(self) -> np.ndarray:
        return self.values[:, self.names.index(self.target_name)]

    @property
    def season(self) -> int:
        return 24 if self.step_hours == 1 else 365


def _time_signals(times: np.ndarray) -> dict[str, np.ndarray]:
    """Time of day and time of year as sine/cosine pairs (the field's way of giving a model the daily and
    yearly cycles without a jump at midnight or New Year)."""
    seconds = times.astype("datetime64[s]").astype("int64").astype("float64")
    day, year = 24 * 3600.0, 365.2425 * 24 * 3600.0
    return {"day sin": np.sin(2 * np.pi * seconds / day), "day cos": np.cos(2 * np.pi * seconds / day),
            "year sin": np.sin(2 * np.pi * seconds / year), "year cos": np.cos(2 * np.pi * seconds / year)}


def check_regular(times: np.ndarray, values: np.ndarray, where: str,
                  step_hours: int = 1) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Validate and regularize a table with one row per step (hour or day): sorted, no duplicate times. Missing
    steps and NaN runs of at most MAX_GAP_STEPS are filled by linear interpolation (reported in the notes);
    anything else is a clear error."""
    notes = []
    if len(times) < 2:
        raise ValueError(f"{where}: {len(times)} rows; a forecast needs a series of many hours.")
    steps = np.diff(times.astype("datetime64[s]").astype("int64"))
    if (steps < 0).any():
        row = int(np.flatnonzero(steps < 0)[0]) + 1
        raise ValueError(f"{where}: timestamps are not sorted (row {row}: {times[row]} after {times[row - 1]}); "
                         "sort the file by time.")
    if (steps == 0).any():
        row = int(np.flatnonzero(steps == 0)[0]) + 1
        raise ValueError(f"{where}: duplicated timestamp {times[row]} (row {row}); remove the duplicate rows.")
    unit = "datetime64[h]" if step_hours == 1 else "datetime64[D]"
    if (times.astype(unit) != times).any():
        row = int(np.flatnonzero(times.astype(unit) != times)[0])
        raise ValueError(f"{where}: timestamp {times[row]} (row {row}) is not on the {'hour' if step_hours == 1 else 'day'}.")
    index = (times.astype(unit) - times[0].astype(unit)).astype("int64")
    grid = np.arange(index[-1] + 1)
    full = np.full((len(grid), values.shape[1]), np.nan)
    full[index] = values
    missing = np.isnan(full).any(axis=1)
    if missing.any():
        runs = np.diff(np.flatnonzero(np.diff(np.concatenate([[0], missing.astype(int), [0]]))).reshape(-1, 2), axis=1)
        if runs.max() > MAX_GAP_STEPS:
            start = int(np.flatnonzero(missing)[0])
            raise ValueError(f"{where}: {int(runs.max())} consecutive steps missing (first gap near "
                             f"{times[0].astype(unit) + start}); at most {MAX_GAP_STEPS} are interpolated.")
        if missing[-1] or missing[0]:
            edge = "last" if missing[-1] else "first"
            count = int(np.argmin(missing[::-1])) if missing[-1] else int(np.argmin(missing))
            raise ValueError(f"{where}: the {edge} {count} step(s) have missing or NaN values, with nothing beyond "
                             "them to interpolate from; drop those rows (a forecast starts from the last complete "
                             "step).")
        for column in range(full.shape[1]):
            bad = np.isnan(full[:, column])
            if bad.any():
                full[bad, column] = np.interp(grid[bad], grid[~bad], full[~bad, column])
        notes.append(f"{where}: {int(missing.sum())} missing or NaN steps interpolated")
    return times[0].astype(unit) + grid, full.astype("float32"), notes


def _numeric(frame, columns: list[str], where: str) -> np.ndarray:
    import pandas as pd

    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{where}: missing column(s) {missing}; expected {columns}.")
    numbers = frame[columns].apply(pd.to_numeric, errors="coerce")
    bad = numbers.isna() & frame[columns].notna()
    if bad.any().any():
        row, column = np.argwhere(bad.to_numpy())[0]
        raise ValueError(f"{where}: non-numeric value {frame[columns[column]].iloc[row]!r} in column "
                         f"{columns[column]!r} at data row {row + 1}.")
    values = numbers.to_numpy(dtype="float64")
    absurd = np.argwhere(np.isinf(values) | (np.abs(np.nan_to_num(values)) > ABSURD))
    if len(absurd):
        row, column = absurd[0]
        raise ValueError(f"{where}: value {float(values[row, column]):g} in column {columns[column]!r} at data row {row + 1} "
                         "is not a measurement (infinite or beyond 1e6); fix or remove that row.")
    for column, name in enumerate(columns):
        if "degC" in name or name.startswith("temp_"):
            wrong = np.flatnonzero((values[:, column] < -90) | (values[:, column] > 60))
            if len(wrong):
                raise ValueError(f"{where}: temperature {values[wrong[0], column]:g} in column {name!r} at data row "
                                 f"{wrong[0] + 1} is outside -90..60 degC; fix or remove that row.")
    return values


def load_jena_csv(path: str | pathlib.Path) -> WeatherSeries:
    """The Jena CSV (10-minute rows) -> hourly rows (the rows on the full hour, as the Keras example) with wind as a
    vector (wx, wy) from speed and direction, the -9999 wind-speed errors set to 0, and time signals."""
    import pandas as pd

    path = pathlib.Path(path)
    if not path.exists():
        raise FileNotFoundError(f"Jena CSV {path} not found; pass --data-dir with {JENA_FILE} or use --source jena.")
    frame = sources.read_csv(path, dtype=str)
    where = str(path)
    if JENA_TIME not in frame.columns:
        raise ValueError(f"{where}: no '{JENA_TIME}' column; the Jena header starts with '{JENA_TIME}'.")
    times = pd.to_datetime(frame[JENA_TIME], format="%d.%m.%Y %H:%M:%S", errors="coerce")
    if times.isna().any():
        row = int(np.flatnonzero(times.isna())[0])
        raise ValueError(f"{where}: timestamp {frame[JENA_TIME].iloc[row]!r} at data row {row + 1} is not "
                         "'dd.mm.yyyy HH:MM:SS'.")
    values = _numeric(frame, list(JENA_COLUMNS), where)
    times = times.to_numpy().astype("datetime64[s]")
    on_hour = times.astype("datetime64[h]") == times
    times, values = times[on_hour], values[on_hour]
    notes = []
    columns = list(JENA_COLUMNS)
    for name in ("wv (m/s)", "max. wv (m/s)"):
        broken = values[:, columns.index(name)] < 0
        if broken.any():
            values[broken, columns.index(name)] = 0.0
            notes.append(f"{where}: {int(broken.sum())} negative '{name}' readings (the -9999 sensor errors) set to 0")
    times, values, gap_notes = check_regular(times, values, where)
    return _features(times, values, columns, f"jena ({path})", notes + gap_notes)


def _features(times, values, columns, source, notes, step_hours: int = 1, target: str = TARGET) -> WeatherSeries:
    """Add the wind vector (when wind columns exist) and the time signals (no time of day for daily rows);
    drop raw wind direction."""
    table = {name: values[:, i] for i, name in enumerate(columns)}
    if "wd (deg)" in table:
        direction = np.deg2rad(table.pop("wd (deg)"))
        for name, prefix in (("wv (m/s)", "w"), ("max. wv (m/s)", "max w")):
            speed = table.pop(name)
            table[f"{prefix}x"], table[f"{prefix}y"] = speed * np.cos(direction), speed * np.sin(direction)
    signals = _time_signals(times)
    table.update({k: v for k, v in signals.items() if step_hours == 1 or not k.startswith("day")})
    names = list(table)
    return WeatherSeries(times, np.stack([table[n] for n in names], axis=1).astype("float32"), names, source, notes,
                         step_hours, target)


def download_jena(cache_dir: str | pathlib.Path) -> pathlib.Path:
    """The Jena CSV through keras.utils.get_file (the Keras example's source), extracted into cache_dir."""
    import keras

    archive = keras.utils.get_file(origin=JENA_URL, fname="jena_climate_2009_2016.csv.zip", extract=False,
                                   cache_dir=str(cache_dir))
    size = pathlib.Path(archive).stat().st_size
    if size != JENA_BYTES:
        pathlib.Path(archive).unlink()
        raise ValueError(f"{JENA_URL} gave {size} bytes, not the {JENA_BYTES} of the Jena archive: the download is "
                         "damaged or the file changed; it was removed, run again (or give --data-dir with the CSV).")
    archive = keras.utils.get_file(origin=JENA_URL, fname="jena_climate_2009_2016.csv.zip", extract=True,
                                   cache_dir=str(cache_dir))
    found = list(pathlib.Path(archive).parent.rglob(JENA_FILE))
    if not found:
        raise FileNotFoundError(f"{JENA_FILE} not found after extracting {archive}.")
    return found[0]


SEATTLE_COLUMNS = ("precipitation", "temp_max", "temp_min", "wind")
SEATTLE_CSV = pathlib.Path(__file__).parent / "bundled" / "seattle-weather.csv"


def load_seattle() -> WeatherSeries:
    """Daily Seattle weather 2012-2015 (NOAA observations as the Vega datasets publish them, bundled in
    domain/bundled/seattle-weather.csv: 1,461 days of precipitation (mm), maximum and minimum temperature (degC) and
    wind (m/s)); the target is the day's maximum temperature."""
    import pandas as pd

    frame = pd.read_csv(SEATTLE_CSV, parse_dates=["date"])
    times = frame["date"].to_numpy().astype("datetime64[s]")
    values = frame[list(SEATTLE_COLUMNS)].to_numpy(dtype="float64")
    times, values, notes = check_regular(times, values, "seattle-weather.csv", step_hours=24)
    return _features(times, values, list(SEATTLE_COLUMNS), "seattle (NOAA via the Vega datasets' seattle-weather.csv, "
                     "daily 2012-2015)", notes, step_hours=24, target="temp_max")


def load_daily_csv(path: str | pathlib.Path) -> WeatherSeries:
    """A daily CSV in the Seattle layout: date, precipitation, temp_max, temp_min, wind (for forecasting with a
    model trained on the bundled Seattle series)."""
    import pandas as pd

    path = pathlib.Path(path)
    frame = sources.read_csv(path, dtype=str)
    if "date" not in frame.columns:
        raise ValueError(f"{path}: no 'date' column; expected the Jena header or date,{','.join(SEATTLE_COLUMNS)}.")
    times = pd.to_datetime(frame["date"], errors="coerce")
    if times.isna().any():
        row = int(np.flatnonzero(times.isna())[0])
        raise ValueError(f"{path}: date {frame['date'].iloc[row]!r} at data row {row + 1} cannot be read.")
    values = _numeric(frame, list(SEATTLE_COLUMNS), str(path))
    times, values, notes = check_regular(times.to_numpy().astype("datetime64[s]"), values, str(path), step_hours=24)
    return _features(times, values, list(SEATTLE_COLUMNS), f"daily CSV ({path})", notes, step_hours=24,
                     target="temp_max")


def load_csv(path: str | pathlib.Path) -> WeatherSeries:
    """A Jena-format CSV ('Date Time' header) or a daily CSV in the Seattle layout."""
    path = pathlib.Path(path)
    if not path.exists():
        raise FileNotFoundError(f"weather CSV {path} not found.")
    with path.open(encoding="utf-8", errors="replace") as f:
        header = f.readline()
    return load_jena_csv(path) if JENA_TIME in header else load_daily_csv(path)
