import math

import numpy as np
import pytest

from domain import textgen
from tests.conftest import real_data_dir


def test_kneser_ney_is_a_distribution_and_beats_the_unigram():
    text = textgen.bundled_text()
    train, validation = textgen.split(text[:120_000])
    model = textgen.KneserNey(train, order=4)
    for history in ("", "e", "the ", "zzzq", "\x01\x02\x03"):
        total = sum(model.probability(c, history) for c in model.vocab) + model.probability("\x01", history)
        assert math.isclose(total, 1.0, rel_tol=1e-9), history
    unigram = textgen.Unigram(train).nats_per_char(validation)
    assert 2.5 < unigram < 3.6  # English letters: about 4.1 bits
    assert model.nats_per_char(validation, train) < unigram - 0.8
    assert textgen.KneserNey(train, order=1).nats_per_char(validation) == pytest.approx(unigram, abs=0.05)


def test_split_and_encode():
    train, validation = textgen.split("abcdefghij" * 100)
    assert len(train) == 900 and train + validation == "abcdefghij" * 100
    ids = textgen.encode("abz", ["?", "a", "b"])
    np.testing.assert_array_equal(ids, [1, 2, 0])  # z is outside the vocabulary: 0


@pytest.mark.parametrize("content, words", [
    (b"", "holds 0 characters"),
    (b"\xff\xfeh\x00i\x00", "binary or UTF-16"),
    (b"caf\xe9 " * 1000, "not UTF-8"),
])
def test_bad_text_files_are_one_clear_error(tmp_path, content, words):
    path = tmp_path / "input.txt"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=words):
        textgen.read_text(path)
    with pytest.raises(FileNotFoundError, match="no such text file"):
        textgen.read_text(tmp_path / "missing.txt")


def test_download_is_checked_against_the_checksum(tmp_path, monkeypatch):
    import hashlib

    origin = tmp_path / "origin.txt"
    origin.write_text("To be, or not to be, that is the question.\n" * 100)
    monkeypatch.setattr(textgen, "URL", origin.as_uri())
    monkeypatch.setattr(textgen, "SHA256", hashlib.sha256(origin.read_bytes()).hexdigest())
    assert textgen.load_text("download", None, tmp_path / "cache").text.startswith("To be")
    monkeypatch.setattr(textgen, "SHA256", "0" * 64)
    with pytest.raises(ValueError):
        textgen.download(tmp_path / "cache2")


def test_real_tiny_shakespeare_split_and_baselines():
    folder = real_data_dir("tinyshakespeare")
    text = textgen.load_text("local", folder).text
    train, validation = textgen.split(text)
    assert len(text) == 1_115_394 and len(set(text)) == 65
    assert len(train) == 1_003_854 and len(validation) == 111_540
    assert textgen.Unigram(train).nats_per_char(validation) == pytest.approx(3.347, abs=0.005)
