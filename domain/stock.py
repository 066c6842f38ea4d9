"""Daily stock bars: OHLCV CSV files (plain or gzipped, one or many tickers) and the Microsoft history bundled in
pmdarima; checks; return features and targets.

Notebook:
    bars = stock.load_csv("data/stocks/sp500_2013_2016.csv.gz", ticker="AAPL")
    table, names = stock.features(bars); target = stock.forward_target(bars, days=1)
"""

from __future__ import annotations

import dataclasses
import pathlib

import numpy as np

from domain import sources

SOURCES = ("auto", "local", "msft")
FIELDS = ("open", "high", "low", "close", "volume")
FEATURES = ("log return", "log range", "log body", "log volume change")
TICKER_COLUMNS = ("name", "ticker", "symbol")


MAX_PRICE = 1e7  # per share; the dearest listed share trades near 7e5
MAX_DAILY_RATIO = 20.0  # a close-to-close move beyond 20x (or 1/20) in a day is a data error or an unadjusted split


@dataclasses.dataclass
class Bars:
    """One ticker's trading days. dates: (n,) datetime64[D]; ohlcv: (n, 5) float64; notes: what loading did."""

    ticker: str
    dates: np.ndarray
    ohlcv: np.ndarray
    source: str
    notes: list[str]

    def column(self, name: str) -> np.ndarray:
        return self.ohlcv[:, FIELDS.index(name)]


def _check(dates: np.ndarray, where: str) -> None:
    steps = np.diff(dates.astype("int64"))
    if (steps < 0).any():
        row = int(np.flatnonzero(steps < 0)[0]) + 1
        raise ValueError(f"{where}: dates are not sorted ({dates[row]} after {dates[row - 1]}); sort the file by date.")
    if (steps == 0).any():
        row = int(np.flatnonzero(steps == 0)[0]) + 1
        raise ValueError(f"{where}: duplicated date {dates[row]}; keep one row per trading day.")


def from_frame(frame, ticker: str, source: str, where: str) -> Bars:
    """Bars from a DataFrame with date + OHLCV columns (any case). Rows with an empty field are dropped and
    counted (trading days are irregular anyway: nothing is interpolated); text in a number column is an error."""
    import pandas as pd

    frame = frame.rename(columns={c: c.strip().lower() for c in frame.columns})
    missing = [c for c in ("date",) + FIELDS if c not in frame.columns]
    if missing:
        raise ValueError(f"{where}: missing column(s) {missing}; found {list(frame.columns)}. Expected date, open, "
                         "high, low, close, volume (any case).")
    numbers = frame[list(FIELDS)].apply(pd.to_numeric, errors="coerce")
    text = numbers.isna() & frame[list(FIELDS)].notna()
    if text.any().any():
        row, column = np.argwhere(text.to_numpy())[0]
        raise ValueError(f"{where}: non-numeric value {frame[FIELDS[column]].iloc[row]!r} in column "
                         f"{FIELDS[column]!r} ({ticker}, row {row + 1}).")
    dates = pd.to_datetime(frame["date"], errors="coerce")
    if dates.isna().any():
        row = int(np.flatnonzero(dates.isna())[0])
        raise ValueError(f"{where}: date {frame['date'].iloc[row]!r} ({ticker}, row {row + 1}) cannot be read.")
    values = numbers.to_numpy(dtype="float64")
    absurd = np.flatnonzero((np.abs(np.nan_to_num(values[:, :4])) > MAX_PRICE).any(axis=1))
    if len(absurd):
        raise ValueError(f"{where}: price {np.abs(values[absurd[0], :4]).max():g} ({ticker}, row {absurd[0] + 1}) is "
                         f"beyond {MAX_PRICE:g}: not a share price; fix or remove that row.")
    complete = np.isfinite(values).all(axis=1) & (values[:, :4] > 0).all(axis=1)
    notes = [f"{where} {ticker}: {int((~complete).sum())} rows with empty or non-positive fields dropped"] \
        if not complete.all() else []
    o, h, low, c = (values[:, i] for i in range(4))
    with np.errstate(invalid="ignore"):
        consistent = (h >= np.maximum(o, c) - 1e-9) & (low <= np.minimum(o, c) + 1e-9)  # high >= open, close >= low
    if (complete & ~consistent).any():
        notes.append(f"{where} {ticker}: {int((complete & ~consistent).sum())} rows whose high/low do not bound "
                     "open and close (high < low included) dropped")
    keep = complete & consistent
    if not keep.any():
        raise ValueError(f"{where} ({ticker}): no usable row: " + "; ".join(n.split(": ", 1)[-1] for n in notes)
                         + ". Check the columns' order and values (high >= open, close >= low > 0).")
    dates = dates.to_numpy().astype("datetime64[D]")[keep]
    _check(dates, f"{where} ({ticker})")
    close = values[keep, 3]
    jumps = np.flatnonzero(np.abs(np.log(close[1:] / close[:-1])) > np.log(MAX_DAILY_RATIO))
    if len(jumps):
        day = jumps[0] + 1
        raise ValueError(f"{where} ({ticker}): the close moves {close[day] / close[day - 1]:.3g}x from {dates[day - 1]} "
                         f"to {dates[day]}; a data error or an unadjusted split (more than {MAX_DAILY_RATIO}x in a "
                         "day). Use split-adjusted prices or fix that row.")
    return Bars(ticker, dates, values[keep], source, notes)


def load_csv(path: str | pathlib.Path, ticker: str | None = None) -> Bars:
    """A daily OHLCV CSV (plain or .gz). With a name/ticker/symbol column, `ticker` selects the rows (needed when
    the file holds several)."""
    path = pathlib.Path(path)
    if not path.exists():
        raise FileNotFoundError(f"stock file {path} not found; pass --data-dir with a daily OHLCV CSV (.csv or .csv.gz).")
    frame = sources.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
    column = next((c for c in frame.columns if c.strip().lower() in TICKER_COLUMNS), None)
    if column is None:
        return from_frame(frame, ticker or path.name.split(".")[0], f"local ({path})", str(path))
    names = sorted(frame[column].dropna().unique())
    if ticker is None:
        if len(names) != 1:
            raise ValueError(f"{path} holds {len(names)} tickers ({', '.join(names[:5])}, ...); choose one with "
                             "--ticker.")
        ticker = names[0]
    rows = frame[frame[column] == ticker]
    if rows.empty:
        raise ValueError(f"{path}: no rows for ticker {ticker!r}; it holds e.g. {', '.join(names[:8])}.")
    return from_frame(rows.drop(columns=[column]).reset_index(drop=True), ticker, f"local ({path})", str(path))


def find_csv(data_dir: str | pathlib.Path) -> pathlib.Path:
    """The data file: data_dir itself when it is a file, else its only/first .csv or .csv.gz file."""
    data_dir = pathlib.Path(data_dir)
    if data_dir.is_file():
        return data_dir
    found = sorted(data_dir.glob("*.csv")) + sorted(data_dir.glob("*.csv.gz"))
    if not found:
        raise FileNotFoundError(f"no .csv or .csv.gz file in {data_dir}; pass --data-dir with daily OHLCV bars.")
    return found[0]


def load_msft() -> Bars:
    """Daily Microsoft bars 1986-2017 bundled in pmdarima (pmdarima.datasets.load_msft), read offline."""
    from pmdarima.datasets import load_msft as bundled

    return from_frame(bundled(), "MSFT", "msft (pmdarima.datasets.load_msft, daily 1986-2017)", "pmdarima msft")


def features(bars: Bars) -> tuple[np.ndarray, list[str]]:
    """(days, 4) features from OHLCV: log return of the close, log(high/low) range, log(close/open) body and log
    volume change; the first day (no previous close) is NaN."""
    close, volume = bars.column("close"), np.maximum(bars.column("volume"), 1.0)
    table = np.full((len(close), len(FEATURES)), np.nan)
    table[1:, 0] = np.diff(np.log(close))
    table[:, 1] = np.log(bars.column("high") / bars.column("low"))
    table[:, 2] = np.log(close / bars.column("open"))
    table[1:, 3] = np.diff(np.log(volume))
    return table.astype("float32"), list(FEATURES)


def forward_target(bars: Bars, days: int) -> np.ndarray:
    """y[t] = log(close[t] / close[t - days]) (NaN for the first `days`): the `days`-day log return that a window
    ending at t - days forecasts."""
    log_close = np.log(bars.column("close"))
    target = np.full(len(log_close), np.nan)
    target[days:] = log_close[days:] - log_close[:-days]
    return target.astype("float32")
