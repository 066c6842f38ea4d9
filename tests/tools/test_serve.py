"""`make serve`'s command line: bad options end in one line, never a traceback (the server itself is tested in
tests/docs/test_serving_doc.py, through docs/serving.md)."""

import pytest

from tools import serve


@pytest.mark.parametrize("argv, words", [
    (["--root", "no/such/folder"], "no such folder"),
    (["--models", "../etc"], "model names are"),
    (["--port", "70000"], "expected 1-65535"),
    (["--enable-batching", "--max-batch-size", "0"], "--max-batch-size 0: expected at least 1"),
])
def test_bad_options_are_one_clear_line(argv, words, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "saved_models").mkdir()
    with pytest.raises(SystemExit) as stopped:
        serve.main(argv)
    assert stopped.value.code == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and words in err and "Traceback" not in err and len(err.splitlines()) == 1
