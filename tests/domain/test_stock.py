import gzip

import numpy as np
import pytest

from domain import stock
from tests.conftest import real_data_dir

HEADER = "Date,Open,High,Low,Close,Volume,Name"


def _rows(ticker, days=10, start=100.0):
    out = []
    for d in range(days):
        close = start * 1.01 ** d
        out.append(f"2016-03-{d + 1:02d},{close / 1.01:.4f},{close * 1.02:.4f},{close * 0.97:.4f},{close:.4f},"
                   f"{1000 + d},{ticker}")
    return out


def test_multi_ticker_gzip_csv_case_insensitive(tmp_path):
    path = tmp_path / "bars.csv.gz"
    with gzip.open(path, "wt") as f:
        f.write("\n".join([HEADER] + _rows("AAA") + _rows("BBB", start=50.0)) + "\n")
    bars = stock.load_csv(path, "BBB")
    assert bars.ticker == "BBB" and len(bars.dates) == 10 and bars.column("close")[0] == pytest.approx(50.0)
    with pytest.raises(ValueError, match="holds 2 tickers .*--ticker"):
        stock.load_csv(path)
    with pytest.raises(ValueError, match="no rows for ticker 'ZZZ'"):
        stock.load_csv(path, "ZZZ")


def test_features_and_targets_known_answer(tmp_path):
    path = tmp_path / "one.csv"
    path.write_text("\n".join([HEADER] + _rows("AAA")) + "\n")
    bars = stock.load_csv(path)
    table, names = stock.features(bars)
    assert names == list(stock.FEATURES) and np.isnan(table[0, 0])
    np.testing.assert_allclose(table[1:, 0], np.log(1.01), rtol=1e-4)       # close-to-close log return
    np.testing.assert_allclose(table[:, 1], np.log(1.02 / 0.97), rtol=1e-4)  # high-low range
    target = stock.forward_target(bars, 5)
    assert np.isnan(target[:5]).all()
    np.testing.assert_allclose(target[5:], 5 * np.log(1.01), rtol=1e-4)


def test_bad_stock_files(tmp_path):
    rows = _rows("AAA")
    bad = {"unsorted": [rows[1], rows[0]] + rows[2:], "dup": rows[:3] + [rows[2]] + rows[3:],
           "text": [rows[0].replace(",1000,", ",lots,")] + rows[1:]}
    for name, body in bad.items():
        (tmp_path / f"{name}.csv").write_text("\n".join([HEADER] + body) + "\n")
    with pytest.raises(ValueError, match="not sorted"):
        stock.load_csv(tmp_path / "unsorted.csv")
    with pytest.raises(ValueError, match="duplicated date 2016-03-03"):
        stock.load_csv(tmp_path / "dup.csv")
    with pytest.raises(ValueError, match="non-numeric value 'lots' in column 'volume'"):
        stock.load_csv(tmp_path / "text.csv")
    (tmp_path / "gaps.csv").write_text("\n".join([HEADER, rows[0].replace(",1000,", ",,")] + rows[1:]) + "\n")
    bars = stock.load_csv(tmp_path / "gaps.csv")
    assert len(bars.dates) == 9 and "1 rows with empty" in bars.notes[0]
    (tmp_path / "cols.csv").write_text("date,price\n2016-01-01,3\n")
    with pytest.raises(ValueError, match="missing column"):
        stock.load_csv(tmp_path / "cols.csv")
    with pytest.raises(FileNotFoundError, match="no .csv"):
        stock.find_csv(tmp_path / "nothing")


def test_prices_that_cannot_be_and_bars_that_contradict_themselves(tmp_path):
    rows = _rows("AAA")
    day = rows[4].split(",")
    huge = ",".join([day[0], "1e300", *day[2:]])
    spike = ",".join([day[0], day[1], str(float(day[4]) * 1000 * 1.02), day[3], str(float(day[4]) * 1000), *day[5:]])
    upside = ",".join([day[0], day[1], day[3], day[2], *day[4:]])  # high and low swapped: high < low
    for name, row in {"huge": huge, "spike": spike, "upside": upside}.items():
        (tmp_path / f"{name}.csv").write_text("\n".join([HEADER] + rows[:4] + [row] + rows[5:]) + "\n")
    with pytest.raises(ValueError, match="price 1e\\+300 .*row 5.* not a share price"):
        stock.load_csv(tmp_path / "huge.csv")
    with pytest.raises(ValueError, match="the close moves 1.01e\\+03x from 2016-03-04 to 2016-03-05"):
        stock.load_csv(tmp_path / "spike.csv")
    bars = stock.load_csv(tmp_path / "upside.csv")
    assert len(bars.dates) == 9 and "1 rows whose high/low do not bound open and close" in bars.notes[0]
    swapped = [",".join([d[0], d[1], d[3], d[2], *d[4:]]) for d in (r.split(",") for r in rows)]
    (tmp_path / "swapped.csv").write_text("\n".join([HEADER, *swapped]) + "\n")  # every row: high < low
    with pytest.raises(ValueError, match="no usable row: 10 rows whose high/low do not bound open and close"):
        stock.load_csv(tmp_path / "swapped.csv")


def test_bundled_msft():
    bars = stock.load_msft()
    assert bars.ticker == "MSFT" and len(bars.dates) == 7983 and str(bars.dates[0]) == "1986-03-13"


def test_real_sp500_file():
    folder = real_data_dir("stocks")
    bars = stock.load_csv(stock.find_csv(folder), "AAPL")
    assert str(bars.dates[0]) == "2013-02-08" and str(bars.dates[-1]) == "2016-12-30" and len(bars.dates) == 982
    assert bars.column("open")[0] == pytest.approx(67.7142)
