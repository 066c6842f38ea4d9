import re

import numpy as np
import pytest

from domain import weather

HEADER = '"Date Time",' + ",".join(f'"{c}"' for c in weather.JENA_COLUMNS)


def write_jena(path, hours=60, start="01.01.2009", broken=None):
    """A small Jena CSV with the real header and 10-minute timestamps (6 rows per hour)."""
    rows = [HEADER]
    base = np.datetime64("2009-01-01T00:10")
    for i in range(hours * 6):
        t = base + np.timedelta64(10 * i, "m")
        stamp = t.astype(object).strftime("%d.%m.%Y %H:%M:%S")
        values = [996.5, 5 + np.sin(i / 36), 270.0, -1.0, 90.0, 8.0, 7.0, 1.0, 4.5, 7.0, 1300.0, 2.0, 3.0, 90.0]
        rows.append(",".join([stamp] + [f"{v:.3f}" for v in values]))
    if broken:
        broken(rows)
    path.write_text("\n".join(rows) + "\n")
    return path


def test_jena_csv_to_hourly_features(tmp_path):
    series = weather.load_jena_csv(write_jena(tmp_path / "jena.csv"))
    assert len(series.times) == 60  # rows on the full hour: 01:00 on day 1 .. 12:00 on day 3
    assert series.times[0] == np.datetime64("2009-01-01T01:00")
    assert np.all(np.diff(series.times) == np.timedelta64(1, "h"))
    assert "wx" in series.names and "wd (deg)" not in series.names and "day sin" in series.names
    wy = series.values[:, series.names.index("wy")]
    np.testing.assert_allclose(wy, 2.0, atol=1e-5)  # 2 m/s from 90 degrees: all in y
    assert series.step_hours == 1 and series.season == 24 and series.target_name == "T (degC)"


def test_jena_quirks_and_bad_files(tmp_path):
    def negative_wind(rows):
        rows[6] = rows[6].replace(",2.000,3.000,", ",-9999.000,3.000,")
    series = weather.load_jena_csv(write_jena(tmp_path / "a.csv", broken=negative_wind))
    assert any("-9999" in note for note in series.notes)
    assert series.values[:, series.names.index("wx")].min() >= -1e-6

    def text_cell(rows):
        rows[12] = rows[12].replace("996.500", "x12")
    with pytest.raises(ValueError, match="non-numeric value 'x12' in column 'p \\(mbar\\)'"):
        weather.load_jena_csv(write_jena(tmp_path / "b.csv", broken=text_cell))

    def duplicate(rows):
        rows.insert(7, rows[6])
    with pytest.raises(ValueError, match="duplicated timestamp"):
        weather.load_jena_csv(write_jena(tmp_path / "c.csv", broken=duplicate))

    def unsorted(rows):
        rows[6], rows[12] = rows[12], rows[6]
    with pytest.raises(ValueError, match="not sorted"):
        weather.load_jena_csv(write_jena(tmp_path / "d.csv", broken=unsorted))

    def long_gap(rows):
        del rows[30:60]  # five hours
    with pytest.raises(ValueError, match="5 consecutive steps missing"):
        weather.load_jena_csv(write_jena(tmp_path / "e.csv", broken=long_gap))

    def short_gap(rows):
        del rows[30:36]  # the 5:00 row and its 10-minute neighbours
    filled = weather.load_jena_csv(write_jena(tmp_path / "f.csv", broken=short_gap))
    assert len(filled.times) == 60 and any("interpolated" in n for n in filled.notes)

    def nan_cell(rows):
        rows[12] = rows[12].replace("996.500", "")
    nans = weather.load_jena_csv(write_jena(tmp_path / "g.csv", broken=nan_cell))
    assert np.isfinite(nans.values).all() and any("interpolated" in n for n in nans.notes)

    (tmp_path / "h.csv").write_text(HEADER.replace('"p (mbar)",', "") + "\n")
    with pytest.raises(ValueError, match="missing column"):
        weather.load_jena_csv(tmp_path / "h.csv")
    with pytest.raises(FileNotFoundError):
        weather.load_jena_csv(tmp_path / "none.csv")


def test_bundled_seattle_weather_is_daily_and_complete():
    series = weather.load_seattle()
    assert len(series.times) == 1461 and series.step_hours == 24 and series.season == 365
    assert series.names[:4] == list(weather.SEATTLE_COLUMNS) and "day sin" not in series.names
    assert 10 < float(series.target.mean()) < 20  # daily maximum temperature in degC


def test_daily_csv_round_trip(tmp_path):
    path = tmp_path / "daily.csv"
    rows = ["date,precipitation,temp_max,temp_min,wind"] + [
        f"2016-01-{d:02d},0.0,{8 + d / 10:.1f},2.0,3.0" for d in range(1, 21)]
    path.write_text("\n".join(rows) + "\n")
    series = weather.load_csv(path)
    assert series.step_hours == 24 and len(series.times) == 20 and series.target[-1] == pytest.approx(10.0)


def test_bad_timestamps_are_refused(tmp_path):
    def us_format(rows):
        rows[6] = "2009-01-01 01:00:00" + rows[6][19:]
    with pytest.raises(ValueError, match="is not 'dd.mm.yyyy HH:MM:SS'"):
        weather.load_jena_csv(write_jena(tmp_path / "a.csv", broken=us_format))
    with pytest.raises(ValueError, match="not on the hour"):
        weather.check_regular(np.array(["2009-01-01T00:00", "2009-01-01T01:30"], dtype="datetime64[s]"),
                              np.zeros((2, 1)), "x")
    path = tmp_path / "daily.csv"
    path.write_text("date,precipitation,temp_max,temp_min,wind\nyesterday,0,1,0,1\n")
    with pytest.raises(ValueError, match="date 'yesterday'"):
        weather.load_csv(path)


@pytest.mark.parametrize("last_row, message", [
    ("2016-01-20,0.0,inf,2.0,3.0", "value inf in column 'temp_max' at data row 20 is not a measurement"),
    ("2016-01-20,0.0,1e30,2.0,3.0", "value 1e+30 in column 'temp_max' at data row 20 is not a measurement"),
    ("2016-01-20,0.0,75,2.0,3.0", "temperature 75 in column 'temp_max' at data row 20 is outside -90..60 degC"),
    ("2016-01-20,0.0,,2.0,3.0", "the last 1 step(s) have missing or NaN values"),
])
def test_values_that_are_not_measurements_and_a_gap_at_the_end_are_refused(tmp_path, last_row, message):
    path = tmp_path / "daily.csv"
    rows = ["date,precipitation,temp_max,temp_min,wind"] + [
        f"2016-01-{d:02d},0.0,{8 + d / 10:.1f},2.0,3.0" for d in range(1, 20)] + [last_row]
    path.write_text("\n".join(rows) + "\n")
    with pytest.raises(ValueError, match=re.escape(message)):
        weather.load_csv(path)


def test_jena_download_is_checked_by_size_and_extracted(tmp_path, monkeypatch):
    """The real keras.utils.get_file path, served from a file:// origin: the archive of the announced size is
    extracted and its CSV found; one of another size is removed and refused."""
    import zipfile

    archive = tmp_path / "origin" / "jena_climate_2009_2016.csv.zip"
    archive.parent.mkdir()
    with zipfile.ZipFile(archive, "w") as z:
        z.write(write_jena(tmp_path / weather.JENA_FILE), weather.JENA_FILE)
    monkeypatch.setattr(weather, "JENA_URL", archive.as_uri())
    monkeypatch.setattr(weather, "JENA_BYTES", archive.stat().st_size)
    found = weather.download_jena(tmp_path / "cache")
    assert found.name == weather.JENA_FILE and len(weather.load_jena_csv(found).times) == 60
    monkeypatch.setattr(weather, "JENA_BYTES", archive.stat().st_size + 1)
    with pytest.raises(ValueError, match="of the Jena archive: the download is damaged"):
        weather.download_jena(tmp_path / "cache2")
    assert not list((tmp_path / "cache2").rglob("*.zip"))  # the damaged download is not kept


def test_the_bundled_seattle_series_reads_without_any_carrier_package(monkeypatch):
    """The offline default is a file of this repository (domain/bundled), not a package kept for one CSV."""
    import sys

    monkeypatch.setitem(sys.modules, "vega_datasets", None)  # importing it would fail
    series = weather.load_seattle()
    assert len(series.times) == 1461 and series.names[:4] == ["precipitation", "temp_max", "temp_min", "wind"]
    assert str(series.times[0])[:10] == "2012-01-01" and series.step_hours == 24
