import gzip

import pytest

from domain import sources, stock, weather


@pytest.mark.parametrize("name, content, message", [
    ("empty.csv", b"", "is empty; expected a CSV with a header row"),
    ("utf16.csv", "date,open\n2016-01-01,3\n".encode("utf-16"), "is not a readable UTF-8 CSV"),
    ("cut.csv.gz", gzip.compress(b"date,open,high,low,close,volume\n" * 200, mtime=0)[:60],
     "is not a readable UTF-8 CSV"),
], ids=["empty", "utf16", "cut-gz"])  # fixed ids and gzip time: every xdist worker must collect the same tests
def test_files_that_are_not_csvs_are_named_in_one_line(tmp_path, name, content, message):
    (tmp_path / name).write_bytes(content)
    with pytest.raises(ValueError, match=message) as error:
        sources.read_csv(tmp_path / name)
    assert str(tmp_path / name) in str(error.value)
    with pytest.raises(ValueError, match=name.replace(".", r"\.")):
        stock.load_csv(tmp_path / name)


def test_a_folder_where_a_csv_is_expected(tmp_path):
    with pytest.raises(ValueError, match="is a folder; give the CSV file itself"):
        sources.read_csv(tmp_path)
    (tmp_path / "daily.csv").mkdir()
    with pytest.raises(ValueError, match="is a folder"):
        weather.load_daily_csv(tmp_path / "daily.csv")


def test_auto_means_local_then_remote_then_offline_in_every_pipeline(monkeypatch):
    monkeypatch.setattr(sources, "reachable", lambda host: host == "up.example")
    assert sources.resolve_auto("auto", True, remote="download", host="down.example") == "local"
    assert sources.resolve_auto("auto", "", remote="download", host="up.example") == "download"
    assert sources.resolve_auto("auto", [], remote="jena", host="down.example", offline="seattle") == "seattle"
    assert sources.resolve_auto("auto", False, remote=None, offline="msft") == "msft"  # no remote source
    assert sources.resolve_auto("synthetic", True) == "synthetic"  # a named source is never second-guessed
