import pytest

from domain import translation
from tests.conftest import real_data_dir


def test_number_pairs_are_real_translations_and_deterministic():
    pairs = translation.number_pairs(200, seed=0)
    assert len(pairs) == 200 and pairs.sources == translation.number_pairs(200, seed=0).sources
    known = dict(zip(pairs.sources, pairs.targets, strict=True))
    if "eighty" in known:
        assert known["eighty"] == "quatre-vingts"
    assert any("thousand" in s for s in pairs.sources) and any(len(s.split()) <= 2 for s in pairs.sources)


def test_normalize():
    assert translation.normalize("Quatre-vingt-dix-sept mille, quatre cents !") == "quatre vingt dix sept mille quatre cents"
    assert translation.normalize("I'd see her.") == "i'd see her"


def test_tsv_reader_and_bad_files(tmp_path):
    good = tmp_path / "train.tsv"
    good.write_text("en\tfr\nGo.\tVa !\n\tvide\nHi.\tSalut !\tCC-BY 2.0 (France) Attribution\n", encoding="utf-8")
    pairs = translation.load_tsv(good)
    assert pairs.sources == ["Go.", "Hi."] and pairs.targets == ["Va !", "Salut !"] and pairs.dropped == 1
    (tmp_path / "one.tsv").write_text("Go.\n")
    with pytest.raises(ValueError, match="line 1 has 1 column"):
        translation.load_tsv(tmp_path / "one.tsv")
    (tmp_path / "latin.tsv").write_bytes("Go.\tVa \xe0\n".encode("latin-1"))
    with pytest.raises(ValueError, match="not valid UTF-8"):
        translation.load_tsv(tmp_path / "latin.tsv")
    with pytest.raises(FileNotFoundError, match="--data-dir"):
        translation.load_tsv(tmp_path / "none.tsv")


def test_real_fra_eng_pairs():
    pairs = translation.load_tsv(real_data_dir("fra-eng") / "train.tsv")
    assert len(pairs) == 150_417
    assert pairs.sources[0] == "I never thought I'd see her there."


def test_download_checks_the_release_checksum(tmp_path, monkeypatch):
    """The real keras.utils.get_file path, served from a file:// origin: the archive with the pinned SHA-256 gives
    fra.txt; a different file is refused."""
    import hashlib
    import zipfile

    archive = tmp_path / "origin" / "fra-eng.zip"
    archive.parent.mkdir()
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("fra.txt", "Go.\tVa !\nHi.\tSalut !\n")
    assert translation.ANKI_URL.startswith("https://") and len(translation.ANKI_SHA256) == 64
    monkeypatch.setattr(translation, "ANKI_URL", archive.as_uri())
    monkeypatch.setattr(translation, "ANKI_SHA256", hashlib.sha256(archive.read_bytes()).hexdigest())
    pairs = translation.load_tsv(translation.download(tmp_path / "cache"))
    assert pairs.sources == ["Go.", "Hi."] and pairs.targets == ["Va !", "Salut !"]
    monkeypatch.setattr(translation, "ANKI_SHA256", "0" * 64)
    with pytest.raises(ValueError):
        translation.download(tmp_path / "cache2")


def test_learned_subwords_are_deterministic_and_shrink_to_a_small_corpus():
    import sentencepiece

    texts = translation.number_pairs(200, seed=0).targets
    proto = translation.learn_subwords(texts, 8000)
    assert proto == translation.learn_subwords(texts, 8000)  # same pairs, same model (the export depends on it)
    model = sentencepiece.SentencePieceProcessor(model_proto=proto)
    assert 260 < model.get_piece_size() < 8000  # 256 byte pieces, the specials and this corpus's few subwords
    assert [model.id_to_piece(i) for i in range(4)] == ["<pad>", "<unk>", "[start]", "[end]"]
    with pytest.raises(ValueError, match="no text"):
        translation.learn_subwords(["...", " "], 8000)
