import csv

import numpy as np
import pytest
import tensorflow_datasets as tfds

from domain import sources as domain_sources
from domain import text
from tests.conftest import real_data_dir


def test_clean_removes_html_breaks_and_lowercases():
    assert text.clean("A <br /><br />Great   FILM<br/>") == "a great film"


def test_negation_corpus_is_deterministic_and_balanced():
    a, b = text.negation_corpus(400, seed=3), text.negation_corpus(400, seed=3)
    assert a.texts == b.texts and (a.labels == b.labels).all()
    assert text.negation_corpus(400, seed=4).texts != a.texts
    assert 0.4 < a.labels.mean() < 0.6
    # no word gives the label away: every sentiment adjective is about as frequent in both classes
    for word in text.POSITIVE[:3] + text.NEGATIVE[:3]:
        has = np.array([word in t.split() for t in a.texts])
        if has.sum() > 20:
            assert 0.25 < a.labels[has].mean() < 0.75, word


def test_negation_corpus_labels_follow_meaning():
    corpus = text.negation_corpus(300, seed=0)
    for sentence, label in zip(corpus.texts, corpus.labels, strict=True):
        decisive = sentence.split(" but ")[-1].split(", ")[-1]  # the clause that decides
        words = decisive.split()
        positive = any(w in text.POSITIVE for w in words)
        negated = any(w in text.NEGATORS for w in words)
        assert label == int(positive != negated), sentence


def test_csv_loader_and_bad_csvs(tmp_path):
    good = tmp_path / "train.csv"
    good.write_text('text,label\n"Great, truly <br />great",1\nawful,0\n"   ",1\n', encoding="utf-8")
    reviews = text.load_csv(good)
    assert reviews.texts == ["Great, truly <br />great", "awful"] and reviews.labels.tolist() == [1, 0]
    assert reviews.dropped == 1  # the whitespace-only review
    (tmp_path / "nolabel.csv").write_text("text,stars\ngood,5\n")
    with pytest.raises(ValueError, match=r"missing column\(s\) \['label'\]"):
        text.load_csv(tmp_path / "nolabel.csv")
    (tmp_path / "labels.csv").write_text("text,label\ngood,1\nmeh,3\n")
    with pytest.raises(ValueError, match="label 3 at review 1"):
        text.load_csv(tmp_path / "labels.csv")
    (tmp_path / "word.csv").write_text("text,label\ngood,positive\n")
    with pytest.raises(ValueError, match="row 2 has label 'positive'"):
        text.load_csv(tmp_path / "word.csv")
    (tmp_path / "latin1.csv").write_bytes("text,label\ncaf\xe9,1\n".encode("latin-1"))
    with pytest.raises(ValueError, match="not valid UTF-8"):
        text.load_csv(tmp_path / "latin1.csv")
    with pytest.raises(FileNotFoundError, match="--data-dir"):
        text.load_csv(tmp_path / "missing.csv")


def test_aclimdb_layout_and_local_resolution(tmp_path):
    for split in ("train", "test"):
        for label in ("pos", "neg"):
            (tmp_path / split / label).mkdir(parents=True)
            (tmp_path / split / label / "0_9.txt").write_text(f"{label} review of {split}")
    found = text.load_local(tmp_path)
    assert found["train"].texts == ["pos review of train", "neg review of train"]
    assert found["test"].labels.tolist() == [1, 0]
    assert found["train"].movies is None  # no urls_*.txt: the movies are not known, the splits are random
    assert text.resolve("auto", tmp_path) == "local"
    with pytest.raises(FileNotFoundError, match="expected train.csv"):
        text.load_local(tmp_path / "train" / "pos")


def test_tfds_path_with_mock_data():
    with tfds.testing.mock_data(num_examples=12):
        found = text.load_tfds()
    assert len(found["train"]) == 12 and len(found["test"]) == 12
    assert all(isinstance(t, str) for t in found["train"].texts)
    assert set(found["train"].labels.tolist()) <= {0, 1}


def test_split_is_stratified_disjoint_and_seeded():
    corpus = text.negation_corpus(500, seed=1)
    rest, held = text.split(corpus, 0.2, seed=0)
    assert len(held) == 100 and len(rest) == 400
    assert abs(held.labels.mean() - corpus.labels.mean()) < 0.02
    again = text.split(corpus, 0.2, seed=0)[1]
    assert again.texts == held.texts


def test_resolve_sources(monkeypatch, tmp_path):
    monkeypatch.setattr(domain_sources, "reachable", lambda host: False)  # the one home of --source auto
    assert text.resolve("auto", tmp_path) == "synthetic"
    with pytest.raises(FileNotFoundError, match="does not hold the dataset"):  # a folder the user named
        text.resolve("auto", tmp_path, given=tmp_path)
    monkeypatch.setattr(domain_sources, "reachable", lambda host: host == text.TFDS_HOST)
    assert text.resolve("auto", None) == "tfds"
    with pytest.raises(ValueError, match="expected one of"):
        text.resolve("kaggle", None)


def test_real_imdb_train_csv():
    folder = real_data_dir("imdb")
    reviews = text.load_csv(folder / "train.csv")
    assert len(reviews) == 25000 and int(reviews.labels.sum()) == 12500 and reviews.dropped == 0
    assert sum("<br />" in t for t in reviews.texts) > 0.5 * len(reviews)


def test_movies_beside_train_csv_group_the_split_and_a_mismatched_file_is_skipped(tmp_path, caplog):
    corpus = text.negation_corpus(300, seed=2)
    with (tmp_path / "train.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["text", "label"])
        writer.writerows(zip(corpus.texts, corpus.labels.tolist(), strict=True))
    movies = [f"tt{i % 40:07d}" for i in range(300)]
    (tmp_path / "train_movies.csv").write_text("movie,rating\n" + "".join(f"{m},7\n" for m in movies))
    found = text.load_local(tmp_path)["train"]
    assert found.movies.tolist() == movies
    rest, held = text.split(found, 0.2, seed=0)
    assert not set(rest.movies) & set(held.movies) and 0.1 < len(held) / 300 < 0.3
    assert set(text.split(found, 0.2, seed=0)[1].texts) == set(held.texts)  # seeded
    random_rest, random_held = text.split(found, 0.2, seed=0, grouped=False)
    assert set(random_rest.movies) & set(random_held.movies)  # a random split shares movies
    (tmp_path / "train_movies.csv").write_text("movie,rating\n" + "".join(f"{m},7\n" for m in movies[:-1]))
    assert text.load_local(tmp_path)["train"].movies is None  # one row short: not used, said
    assert "not used" in caplog.text


def test_aclimdb_urls_name_each_reviews_movie_and_unlabelled_reviews_are_read(tmp_path):
    for label in ("pos", "neg"):
        (tmp_path / "train" / label).mkdir(parents=True)
        for i in range(2):
            (tmp_path / "train" / label / f"{i}_{9 if label == 'pos' else 2}.txt").write_text(f"{label} {i}")
        (tmp_path / "train" / f"urls_{label}.txt").write_text(
            f"http://www.imdb.com/title/tt00000{label == 'pos':d}1/usercomments\n"
            f"http://www.imdb.com/title/tt00000{label == 'pos':d}2/usercomments\n")
    (tmp_path / "train" / "unsup").mkdir()
    for i in range(3):
        (tmp_path / "train" / "unsup" / f"{i}_0.txt").write_text(" " if i == 1 else f"unlabelled {i}")
    found = text.load_local(tmp_path)["train"]
    assert found.movies.tolist() == ["tt0000011", "tt0000012", "tt0000001", "tt0000002"]
    assert text.load_unlabelled(tmp_path) == ["unlabelled 0", "unlabelled 2"]  # the empty one left out
    (tmp_path / "unsup.csv").write_text('text\n"one, unlabelled"\ntwo\n')
    assert text.load_unlabelled(tmp_path) == ["one, unlabelled", "two"]  # unsup.csv first
    (tmp_path / "unsup.csv").write_text("review\nthree\n")
    with pytest.raises(ValueError, match="no 'text' column"):
        text.load_unlabelled(tmp_path)


def test_real_imdb_movies_and_unlabelled_reviews():
    folder = real_data_dir("imdb")
    found = text.load_local(folder)["train"]
    assert len(found) == 25000 and len(set(found.movies)) == 3456
    rest, held = text.split(found, 0.1, seed=1337)
    assert not set(rest.movies) & set(held.movies) and abs(held.labels.mean() - 0.5) < 0.03
    assert len(text.load_unlabelled(folder)) == 50000
