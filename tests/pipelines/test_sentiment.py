import dataclasses
import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from domain import text as text_data
from pipelines import sentiment
from shared import export, pipeline


def reviews_of(texts: list[str]) -> sentiment.SentimentData:
    """Training reviews for a model built in a test (labels unused)."""
    reviews = text_data.Reviews(texts, np.zeros(len(texts), "int32"))
    return sentiment.SentimentData(reviews, reviews, reviews, "test texts", [])


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    """A short run on the generated negation corpus: long enough for the RNN to learn word order. Two averaged
    RNNs reading 50-word segments, as the default; dropout 0.3 (0.5 on this tiny model's 64 pooled features kept
    it at chance)."""
    root = tmp_path_factory.mktemp("sentiment")
    cfg = dataclasses.replace(sentiment.Config(), source="synthetic", synthetic_reviews=2000, rnn="bigru:16",
                              embed_dim=16, vocab_size=100, epochs=10, learning_rate=1e-2, batch_size=32,
                              dropout=0.3, members=2, word_vectors="ppmi", run_dir=str(root / "run"))
    result = pipeline.run(sentiment, cfg, export_root=root / "saved_models", verbose=0)
    return cfg, root, result


def test_the_report_sets_the_rnn_beside_bag_of_words_on_the_negation_corpus(quick_run):
    """The quick corpus (600 reviews, 2 epochs) is too small for the RNN to learn negation in a test's time (it
    stays near chance); that it does, on the default corpus, is measured in docs/sentiment.md. Here: the order-blind
    baseline is near chance, as negation demands, and the report holds both rows on the same split."""
    cfg, root, result = quick_run
    assert result["baseline accuracy"] < 70 and result["NB-SVM accuracy"] < 70  # order-blind: near chance
    report = json.loads((root / "run" / "report.json").read_text())
    assert set(report["baselines"]) == {f"this model ({cfg.rnn})", "TF-IDF + logistic regression",
                                        "NB-SVM (Wang & Manning 2012)"}
    assert report["anchors"]["Maas et al. 2011 (IMDB test, 25k)"]["accuracy"] == 88.89
    for key in ("reviews_per_second_training", "train_seconds", "run_seconds"):  # serving speed: make bench
        assert report["timing"][key] > 0
    vectors = report["timing"]["word vectors"]  # from the training reviews and another generated corpus
    assert vectors["unlabelled reviews"] == cfg.synthetic_reviews
    assert vectors["reviews"] > cfg.synthetic_reviews and vectors["seconds"] > 0
    assert "## Word vectors" in (root / "run" / "report.md").read_text()
    assert (root / "run" / "confusion.png").exists()


def test_served_model_takes_raw_strings_and_matches_keras(quick_run):
    cfg, root, _ = quick_run
    path = export.latest("sentiment", root / "saved_models")
    served, meta = export.load(path)
    assert set(meta["signature"]["inputs"]) == {"text"}
    assert set(meta["signature"]["outputs"]) == {"positive_probability", "label"}
    model = keras.models.load_model(root / "run" / "best.keras")
    texts = ["the plot was not very good", "the acting was dull but the ending was great", "x" * 100_000,
             "bad \udcff".encode("utf-8", "surrogateescape").decode("utf-8", "replace")]
    out = served.signatures["serving_default"](text=tf.constant(texts))
    expected = model.predict(tf.constant(texts), verbose=0)[:, 0]
    np.testing.assert_allclose(out["positive_probability"].numpy(), expected, rtol=1e-4, atol=1e-5)
    assert [label.decode() for label in out["label"].numpy()] == ["positive" if p >= 0.5 else "negative"
                                                                  for p in expected]
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"text\\?' is not UTF-8 text; send text encoded as UTF-8"):
        served.signatures["serving_default"](text=tf.constant([b"good", b"bad \xff\xfe film"]))  # invalid UTF-8
    # texts without a word: no class (was 0.5 "positive" in a batch, a graph error alone); a batch of none works
    serve = served.signatures["serving_default"]
    mixed = serve(text=tf.constant([texts[0], "!!! ???", "\U0001F600"]))
    assert [x.decode() for x in mixed["label"].numpy()][1:] == ["no words", "no words"]
    np.testing.assert_allclose(mixed["positive_probability"].numpy()[0], expected[0], rtol=1e-4, atol=1e-5)
    assert np.isnan(mixed["positive_probability"].numpy()[1:]).all()
    assert serve(text=tf.constant(["", "?!"]))["label"].numpy().tolist() == [b"no words", b"no words"]
    assert serve(text=tf.constant([], dtype=tf.string))["label"].shape == (0,)
    with pytest.raises(ValueError, match="has no words once punctuation"):
        sentiment.classify(["!!! ???"], path)


def test_vectorizer_is_adapted_on_training_text_only():
    cfg = dataclasses.replace(sentiment.Config(), vocab_size=50, embed_dim=4, rnn="gru:4")
    model = sentiment.build_model(cfg, reviews_of(["alpha beta beta", "gamma alpha"]))
    vocabulary = model.get_layer("vectorizer").get_vocabulary()
    assert vocabulary[:2] == ["", "[UNK]"] and set(vocabulary[2:]) == {"alpha", "beta", "gamma"}
    tokens = model.get_layer("vectorizer")(tf.constant(["Beta<br />ZETA, alpha!"])).numpy()[0]
    assert tokens.tolist() == [vocabulary.index("beta"), 1, vocabulary.index("alpha")]  # zeta: unknown


def test_padding_is_masked():
    cfg = dataclasses.replace(sentiment.Config(), vocab_size=50, embed_dim=4, rnn="bilstm:4")
    model = sentiment.build_model(cfg, reviews_of(["good film", "a very long and quite boring film indeed"]))
    short = model(tf.constant(["good film"])).numpy()
    with_long = model(tf.constant(["good film", "a very long and quite boring film indeed"])).numpy()
    np.testing.assert_allclose(with_long[0], short[0], rtol=1e-5, atol=1e-6)  # padded to 8 tokens: same output


def test_segmented_reading_does_not_depend_on_the_batch():
    """Reviews read as 3-word segments: a review's probability is the same alone and beside a longer review
    (padding is zeroed before the cut, so its last segment is the same), and the segments' states are pooled over
    the words only (a review padded inside its batch keeps its output)."""
    texts = ["good film but a dull end", "a very long and quite boring film indeed with no end in sight"]
    cfg = dataclasses.replace(sentiment.Config(), vocab_size=50, embed_dim=4, rnn="bilstm:4", segment=3)
    model = sentiment.build_model(cfg, reviews_of(texts))
    alone = model(tf.constant(texts[:1])).numpy()
    together = model(tf.constant(texts)).numpy()
    np.testing.assert_allclose(together[0], alone[0], rtol=1e-5, atol=1e-6)
    unsegmented = sentiment.build_model(dataclasses.replace(cfg, segment=0), reviews_of(texts))
    unsegmented.set_weights(model.get_weights())  # same weights: reading whole reviews gives another answer
    assert not np.allclose(unsegmented(tf.constant(texts)).numpy(), together, atol=1e-6)


def test_length_cap_truncates_words():
    words = " ".join(f"w{i}" for i in range(text_data.MAX_WORDS + 50))
    kept = sentiment.standardize_review(tf.constant([words])).numpy()[0].decode().split()
    assert len(kept) == text_data.MAX_WORDS and kept[-1] == f"w{text_data.MAX_WORDS - 1}"


def test_predict_refuses_empty_text(quick_run, capsys, monkeypatch):
    cfg, root, _ = quick_run
    path = export.latest("sentiment", root / "saved_models")
    with pytest.raises(ValueError, match="empty or whitespace"):
        sentiment.classify(["  "], path)
    (result,) = sentiment.classify(["the story was never boring"], path)
    assert result["label"] in ("positive", "negative") and 0 <= result["positive_probability"] <= 1
    monkeypatch.delenv("RNN_DEBUG", raising=False)
    with pytest.raises(SystemExit) as exit_info:
        pipeline.main(sentiment, ["predict", "--input", " ", "--model", str(path)])
    assert exit_info.value.code == 1 and "the text is empty" in capsys.readouterr().err
    pipeline.main(sentiment, ["predict", "--input", "the cast was great", "--model", str(path)])
    out = capsys.readouterr().out
    assert "label: positive" in out or "label: negative" in out
    results = pipeline.main(sentiment, ["predict", "--json", "--input", "the cast was great", "dull", "--model", str(path)])
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [row["input"] for row in lines] == ["the cast was great", "dull"] and len(results) == 2
    assert [row["label"] for row in lines] == [r["label"] for r in results]


@pytest.mark.parametrize("changes, match", [({"source": "kaggle"}, "expected one of"),
                                            ({"test_fraction": 1.5}, "fraction"), ({"rnn": "bert:4"}, "expected one of"),
                                            ({"pooling": "attention"}, "--pooling"),
                                            ({"embed_dropout": 1.0}, "--embed-dropout"),
                                            ({"bigram_buckets": -1}, "--bigram-buckets"),
                                            ({"segment": -2}, "--segment"),
                                            ({"segment": 50, "pooling": "last"}, "--segment"),
                                            ({"dropout": 1.0}, "--dropout"),
                                            ({"pretrain_epochs": -1}, "--pretrain-epochs"),
                                            ({"pretrain_reviews": -5}, "--pretrain-reviews"),
                                            ({"word_vectors": "glove"}, "expected one of"),
                                            ({"vocab_size": 50, "embed_dim": 64}, "--embed-dim 64 with --word-vectors")])
def test_config_rejects_bad_values(changes, match):
    with pytest.raises(ValueError, match=match):
        dataclasses.replace(sentiment.Config(), **changes)


def test_standardization_keeps_accented_letters():
    out = sentiment.standardize_review(tf.constant(["Café <br />TRÈS bien!"])).numpy()[0].decode()
    assert out == "café très bien"


@pytest.mark.slow
def test_the_test_split_never_steers_training(tmp_path):
    """Checkpointing and early stopping read the validation reviews only: the same run with the test labels
    flipped trains the same model, and only its test score turns over."""
    def run(flip):
        cfg = dataclasses.replace(sentiment.Config(), **{**sentiment.QUICK, "source": "synthetic", "epochs": 3,
                                                         "run_dir": str(tmp_path / f"run-{flip}")})
        keras.utils.set_random_seed(cfg.seed)
        reviews = sentiment.load_data(cfg)
        if flip:
            reviews.test.labels = 1 - reviews.test.labels
        model = sentiment.build_model(cfg, reviews)
        trained = pipeline.train(sentiment, cfg, model, reviews, verbose=0)
        return trained.history, model, sentiment.score(model, reviews.test)["accuracy"]
    (plain, model, accuracy), (flipped, flipped_model, flipped_accuracy) = run(False), run(True)
    assert plain == flipped
    for a, b in zip(model.get_weights(), flipped_model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert accuracy + flipped_accuracy == pytest.approx(100.0)


def test_bigram_ids_hash_word_pairs_and_keep_padding():
    ids = tf.constant([[5, 7, 5, 7, 0], [7, 5, 0, 0, 0]])
    pairs = sentiment.BigramIds(vocabulary=10, buckets=1000)(ids).numpy()
    assert (pairs[ids.numpy() == 0] == 0).all() and (pairs[ids.numpy() > 0] > 0).all()
    assert pairs[0, 1] == pairs[0, 3]           # (5, 7) twice: one id
    assert pairs[0, 1] != pairs[1, 1]           # (7, 5) is another pair
    assert pairs[0, 0] != pairs[0, 2]           # 5 after the start is not 5 after 7
    assert pairs.max() < 1000


def test_pooled_model_with_bigrams_ignores_padding():
    cfg = dataclasses.replace(sentiment.Config(), vocab_size=50, embed_dim=4, rnn="bigru:4", bigram_buckets=64)
    model = sentiment.build_model(cfg, reviews_of(["good film", "a very long and quite boring film indeed"]))
    short = model(tf.constant(["good film"])).numpy()
    with_long = model(tf.constant(["good film", "a very long and quite boring film indeed"])).numpy()
    np.testing.assert_allclose(with_long[0], short[0], rtol=1e-5, atol=1e-6)


def test_nbsvm_learns_words_that_carry_the_label():
    rng = np.random.default_rng(0)
    words = {1: ["superb", "moving", "great"], 0: ["dull", "awful", "tedious"]}
    filler = ["the", "film", "plot", "was", "and", "a", "cast"]

    def reviews(n):
        labels = rng.integers(0, 2, n)
        texts = [" ".join(rng.choice(filler, 8).tolist() + [rng.choice(words[y]) if rng.random() < 0.9 else
                                                            rng.choice(words[1 - y])]) for y in labels]
        return text_data.Reviews(texts, labels.astype("int32"))
    train, test = reviews(400), reviews(200)
    found = sentiment.nbsvm(sentiment.SentimentData(train, train, test, "words", []))
    assert 85 < found["accuracy"] < 95  # the one telling word is right 90% of the time
    assert found["ROC AUC"] > 0.85


def test_language_model_pretraining_learns_words_carries_over_and_is_reused(tmp_path):
    """The biLM learns a corpus whose next and previous words are predictable (its perplexity falls far below the
    vocabulary's size); its embedding and RNN weights land in every member; a second run with the same options
    reads it back instead of training again, and other options train another."""
    cfg = dataclasses.replace(sentiment.Config(), rnn="bigru:8", vocab_size=40, embed_dim=8, segment=12, members=2,
                              pretrain_epochs=6, learning_rate=2e-2, batch_size=16, embed_dropout=0.0,
                              run_dir=str(tmp_path))
    cycle = [f"w{i}" for i in range(12)]
    texts = [" ".join(cycle[k % 12:] + cycle[:k % 12]) * 2 for k in range(240)]
    reviews = reviews_of(texts)
    model = sentiment.build_model(cfg, reviews)
    vectorizer = model.get_layer("vectorizer")
    language, info = sentiment.pretraining.pretrain(cfg, vectorizer, texts, texts[:24], verbose=0)
    assert info["perplexity"] < 4 and not info["reused"]  # 12 words in a fixed cycle: nearly certain
    for k, network in enumerate(sentiment.networks(cfg, model), start=1):
        assert sentiment.pretraining.carry_over(language, network, f"_{k}") == 2  # the embedding and the RNN
        np.testing.assert_array_equal(network.get_layer(f"embedding_{k}").get_weights()[0],
                                      language.get_layer("embedding").get_weights()[0])
    again, info_again = sentiment.pretraining.pretrain(cfg, vectorizer, texts, texts[:24], verbose=0)
    assert info_again["reused"] and info_again["perplexity"] == info["perplexity"]
    other = dataclasses.replace(cfg, pretrain_epochs=1)
    assert not sentiment.pretraining.pretrain(other, vectorizer, texts, texts[:24], verbose=0)[1]["reused"]


def test_pretraining_refuses_a_stacked_bidirectional_rnn():
    with pytest.raises(ValueError, match="have read the words they would predict"):
        sentiment.Config(rnn="bilstm:32x2", pretrain_epochs=1)
    sentiment.Config(rnn="lstm:32x2", pretrain_epochs=1)  # forward only: each layer reads the past


def test_word_vectors_put_words_of_the_same_contexts_together():
    """Two families of words, each only ever in its own frame: every word's nearest words are its own family's, each
    vector has the norm of the default initialisation, and the padding and out-of-vocabulary rows keep theirs."""
    rng = np.random.default_rng(0)
    praise, animals = ["good", "great", "superb", "fine"], ["cat", "dog", "horse", "goat"]
    texts = [" ".join(["a", "truly", rng.choice(praise), "film", "with", "a", "truly", rng.choice(praise), "cast"])
             if k % 2 else " ".join(["the", rng.choice(animals), "ran", "across", "the", "field", "and", "the",
                                     rng.choice(animals), "slept"]) for k in range(400)]
    cfg = dataclasses.replace(sentiment.Config(), vocab_size=40, embed_dim=6)
    vectorizer = sentiment.build_model(dataclasses.replace(cfg, members=1), reviews_of(texts)).get_layer("vectorizer")
    vectors, info = sentiment.pretraining.word_vectors(vectorizer, texts, cfg.vocab_size, cfg.embed_dim, seed=1)
    vocabulary = vectorizer.get_vocabulary()
    index = {word: i for i, word in enumerate(vocabulary)}
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    for family, other in ((praise, animals), (animals, praise)):
        for word in family:
            mine = min(unit[index[word]] @ unit[index[w]] for w in family if w != word)
            theirs = max(unit[index[word]] @ unit[index[w]] for w in other)
            assert mine > theirs, (word, mine, theirs)
    assert set(info["neighbours"]["good"][:3]) <= set(praise)  # "good" is a probe word
    scale = 0.05 / np.sqrt(3) * np.sqrt(cfg.embed_dim)
    np.testing.assert_allclose(np.linalg.norm(vectors[[index[w] for w in praise + animals]], axis=1), scale, rtol=1e-5)
    assert np.abs(vectors[:2]).max() <= 0.05 and info["reviews"] == 400 and info["words"] == 200 * 9 + 200 * 10
    assert len(vocabulary) < cfg.vocab_size and np.abs(vectors[len(vocabulary):]).max() <= 0.05  # never-seen ids


def test_word_vectors_start_every_member_and_the_language_model(tmp_path, monkeypatch):
    """With word vectors on, each member's embedding is set from them before it trains, and a language model starts
    from them too (its key names the option, so it is not the one trained without)."""
    cfg = dataclasses.replace(sentiment.Config(), source="synthetic", synthetic_reviews=200, rnn="bigru:4",
                              vocab_size=60, embed_dim=4, members=2, epochs=1, pretrain_epochs=1,
                              word_vectors="ppmi", run_dir=str(tmp_path))
    reviews = sentiment.load_data(cfg)
    assert len(reviews.unlabelled) == 200  # read because the word vectors learn from them
    assert not sentiment.load_data(dataclasses.replace(cfg, pretrain_epochs=0, word_vectors="none")).unlabelled
    model = sentiment.build_model(cfg, reviews)
    seen = {}
    original = sentiment.pretraining.pretrain

    def pretrain(cfg, vectorizer, texts, held_out, verbose, embedding=None):
        seen["language model"] = embedding
        return original(cfg, vectorizer, texts, held_out, verbose, embedding=embedding)
    monkeypatch.setattr(sentiment.pretraining, "pretrain", pretrain)
    monkeypatch.setattr(sentiment.pretraining, "carry_over", lambda language, network, suffix: 0)  # keep the vectors
    monkeypatch.setattr(sentiment.training, "fit_members", lambda model, networks, cfg, fit_one: seen.update(
        members=[n.get_layer(f"embedding_{k}").get_weights()[0] for k, n in enumerate(networks, 1)]) or
        sentiment.training.TrainResult({}, {"train_seconds": 1.0}))
    result = sentiment.train(cfg, model, reviews, verbose=0)
    expected, _ = sentiment.pretraining.word_vectors(model.get_layer("vectorizer"), reviews.train.texts +
                                                     reviews.unlabelled, cfg.vocab_size, cfg.embed_dim, cfg.seed)
    np.testing.assert_allclose(seen["language model"], expected)
    for weights in seen["members"]:
        np.testing.assert_allclose(weights, expected)
    assert result.timing["word vectors"]["unlabelled reviews"] == 200
    without = dataclasses.replace(cfg, word_vectors="none")
    vocabulary = model.get_layer("vectorizer").get_vocabulary()
    assert sentiment.pretraining.key(cfg, vocabulary) != sentiment.pretraining.key(without, vocabulary)


def test_a_data_folder_without_unlabelled_reviews_is_said(tmp_path):
    """Word vectors on, but no unsup.csv beside train.csv: the run goes on with the training reviews, and says so."""
    rows = ["text,label"] + [f"{'a fine film' if k % 2 else 'a dull film'} number {k},{k % 2}" for k in range(60)]
    (tmp_path / "train.csv").write_text("\n".join(rows) + "\n")
    cfg = dataclasses.replace(sentiment.Config(), source="local", data_dir=str(tmp_path), word_vectors="ppmi")
    reviews = sentiment.load_data(cfg)
    assert reviews.unlabelled == [] and len(reviews.train) > 0
    assert any(note.startswith(f"no unlabelled reviews in {tmp_path}") and "training reviews only" in note
               for note in reviews.notes)
