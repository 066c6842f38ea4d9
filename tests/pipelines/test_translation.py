import dataclasses
import json

import numpy as np
import pytest
import tensorflow as tf

from pipelines import translation
from shared import export, pipeline, seq2seq
from tests.conftest import real_data_dir, run_quick
from tools import bench


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    return run_quick(translation, tmp_path_factory.mktemp("translation"), max_pairs=2500, epochs=3)


def test_quick_run_beats_copying_the_source(quick_run):
    cfg, root, result = quick_run
    assert result["copy BLEU"] < 2 and result["BLEU"] > result["copy BLEU"] + 8
    report = json.loads((root / "run" / "report.json").read_text())
    assert {"greedy", "copy the source (baseline)"} <= set(report["baselines"])
    assert report["timing"]["target_tokens_per_second"] > 0  # serving speed: make bench
    assert (root / "run" / "attention.png").exists() and "Examples" in (root / "run" / "report.md").read_text()
    test_pairs = len(translation.load_data(cfg).test)
    assert sum(row["pairs"] for row in report["by_length"].values()) == test_pairs  # every pair in one bucket
    assert "nrefs:1" in report["sacrebleu"] and "By length" in (root / "run" / "report.md").read_text()


def test_exported_model_translates_raw_strings_like_python_decoding(quick_run):
    """serving_default is beam search of the configured width, `translate` takes any width; both give exactly
    what Python-side beam search (shared.decoding.beam_search, one sentence at a time) gives."""
    cfg, root, _ = quick_run
    net = quick_run_net(cfg)
    path = export.latest("translation", root / "saved_models")
    texts = ["ninety-seven", "four hundred and twelve thousand", "zebra", "Ørsted's naïve café"]  # unseen words
    translator = translation.Translator(net, cfg.max_length)
    assert translation.translate_served(texts, path) == [translator.beam(t, cfg.beam_width)[0] for t in texts]
    for width in (1, 3):
        assert translation.translate_served(texts, path, beam_width=width) == [translator.beam(t, width)[0]
                                                                                 for t in texts]
    assert translation.translate_served(texts, path, beam_width=1) == translator.greedy(texts)
    speed = bench.translation_serving(path, texts)  # make bench's figures for this export
    assert speed["translate_b1_p50_ms"] > 0 and speed["translate_b64_sentences_per_s"] > 0
    with pytest.raises(ValueError, match="empty"):
        translation.translate_served(["  "], path)
    # out of what the model knows: refused by the export itself, naming why (they were translated as if English)
    for text, words in [("?! ...", "no letters or digits"), ("你好世界", "never saw in training"),
                        ("привет мир", "never saw in training"), ("seven " * 200, "longer than"),
                        # short, but many subwords because every character is unknown: the script is the reason
                        ("नमस्ते दुनिया, आप कैसे हैं? मैं ठीक हूँ", "never saw in training"),
                        ("مرحبا بالعالم كيف حالك اليوم يا صديقي", "never saw in training")]:
        with pytest.raises(ValueError, match=words):
            translation.translate_served([text], path)
    with pytest.raises(ValueError, match="beam width 0"):
        translation.translate_served(["seven"], path, beam_width=0)
    signature = export.load(path, "translation")[0].signatures["translate"]  # the graph itself, as a server sees it
    with pytest.raises(tf.errors.InvalidArgumentError, match="beam_width must be at least 1"):
        signature(text=tf.constant(["seven"]), beam_width=tf.constant(-1))


def test_the_model_server_serves_both_signatures(quick_run):
    """`make serve`'s predict (in process): serving_default in the row format, and the translate signature with
    a beam width in the columnar format (the width is a scalar, as TF Serving's REST API takes it)."""
    from shared import serving

    cfg, root, _ = quick_run
    repository = serving.Repository(root / "saved_models")
    texts = ["seventy-one", "three hundred and four"]
    rows = serving.predict(repository, "translation", {"instances": texts})["predictions"]
    assert rows == translation.translate_served(texts, export.latest("translation", root / "saved_models"))
    out = serving.predict(repository, "translation", {"signature_name": "translate",
                                                      "inputs": {"text": texts, "beam_width": 1}})["outputs"]
    assert out["translation"] == translation.translate_served(texts, export.latest("translation", root / "saved_models"),
                                                              beam_width=1)
    assert all(p <= 0 for p in out["log_probability"])
    for body in ({"instances": [{"b64": "//6AIGdvb2Q="}]},  # bytes that are not UTF-8, in both signatures
                 {"signature_name": "translate", "inputs": {"text": [{"b64": "//6AIGdvb2Q="}], "beam_width": 1}}):
        with pytest.raises(serving.RequestError, match="input 'text' is not UTF-8 text"):
            serving.predict(repository, "translation", body)


def quick_run_net(cfg):
    """The trained network of the module's quick run: its best checkpoint and saved vocabularies."""
    return translation.load_trained(cfg)


def test_evaluate_and_export_commands_reuse_the_checkpoint(quick_run):
    cfg, root, result = quick_run
    again = pipeline.evaluate_checkpoint(translation, cfg)  # same seed and pairs: the same test split
    assert again["BLEU"] == pytest.approx(result["BLEU"], abs=0.01)
    first = export.latest("translation", root / "saved_models")
    path = pipeline.export_checkpoint(translation, cfg, root / "saved_models")["export"]
    assert path != first and translation.translate_served(["seventy-one"], path) == translation.translate_served(["seventy-one"], first)


def test_masked_loss_ignores_padding():
    y = np.array([[4, 5, 0, 0]])
    logits = np.random.default_rng(0).normal(size=(1, 4, 7)).astype("float32")
    other = logits.copy()
    other[:, 2:] += 100.0  # padded positions changed wildly
    a = float(translation.masked_token_loss(y, logits))
    assert a == pytest.approx(float(translation.masked_token_loss(y, other)), rel=1e-6)
    per_token = tf.keras.losses.sparse_categorical_crossentropy(y[:, :2], logits[:, :2], from_logits=True)
    assert a == pytest.approx(float(tf.reduce_mean(per_token)), rel=1e-5)
    assert float(seq2seq.MaskedTokenLoss(0.0)(y, logits)) == pytest.approx(a, rel=1e-6)
    smoothed = seq2seq.MaskedTokenLoss(0.1)
    uniform = -tf.reduce_mean(tf.nn.log_softmax(logits[:, :2]), axis=-1)
    assert float(smoothed(y, logits)) == pytest.approx(float(tf.reduce_mean(0.9 * per_token + 0.1 * uniform)), rel=1e-5)
    assert float(smoothed(y, other)) == pytest.approx(float(smoothed(y, logits)), rel=1e-6)  # padding ignored
    again = seq2seq.MaskedTokenLoss.from_config(smoothed.get_config())
    assert again.label_smoothing == 0.1


def small_net(pairs=400):
    cfg = dataclasses.replace(translation.Config(), **{**translation.QUICK, "max_pairs": pairs})
    data = translation.load_data(cfg)
    return cfg, data, translation.build_model(cfg, data)


def test_teacher_forcing_shapes():
    cfg, pairs, net = small_net(200)
    train_ds, _, _ = translation.make_datasets(cfg, net, pairs)
    inputs, target_out = next(iter(train_ds))
    assert inputs["source_tokens"].shape[1] <= cfg.max_length
    assert inputs["target_in"].shape == target_out.shape
    assert (inputs["target_in"][:, 0].numpy() == translation.START_ID).all()
    out = target_out.numpy()
    assert ((out == translation.END_ID).sum(axis=1) == 1).all()  # one end token per row, where target_in pads
    np.testing.assert_array_equal(inputs["target_in"][:, 1:].numpy(),
                                  np.where(out == translation.END_ID, 0, out)[:, :-1])  # shifted by one
    assert net.model(inputs).shape == (*target_out.shape, net.target.size())


def test_bucketing_keeps_every_pair_exactly_once_per_epoch():
    cfg, pairs, net = small_net(400)
    train_ds, _, _ = translation.make_datasets(cfg, net, pairs)
    source, target_in, _, kept = translation.token_pairs(cfg, net, pairs.train)
    assert kept.all()  # nothing in the number corpus is too long
    expected = sorted(zip(map(tuple, source.to_list()), map(tuple, target_in.to_list()), strict=True))
    batches = 0
    for _ in range(2):  # each epoch, reshuffled, holds every pair once
        seen = []
        for inputs, _ in train_ds:
            batches += 1
            for s, t in zip(inputs["source_tokens"].numpy(), inputs["target_in"].numpy(), strict=True):
                seen.append((tuple(int(i) for i in s if i), tuple(int(i) for i in t if i)))
        assert sorted(seen) == expected
    assert batches > 2 * len(expected) / cfg.batch_size  # split by length: more batches than plain batching


def test_subwords_round_trip_accents_and_rare_words_without_unknowns():
    """Words never seen in training (accents, other scripts) are spelled out in subwords or bytes, never
    <unk>, and the graph's ids and text give back the normalized sentence exactly."""
    _, _, net = small_net(300)
    for subwords in (net.source, net.target):
        texts = ["L'infirmière a vérifié le pouls de Tom.", "Ørsted, naïve, Œuvre; 中文 ĳ", "quatre-vingt-dix"]
        ids = subwords.ids(tf.constant(texts))
        assert not (ids.flat_values.numpy() == translation.pair_data.SPECIAL_IDS["unk_id"]).any()
        back = [t.decode() for t in subwords.text(ids).numpy()]
        assert back == [translation.pair_data.normalize(t) for t in texts]
        assert back == [subwords.python.decode(row) for row in ids.to_list()]  # graph and sentencepiece agree


def test_the_test_split_never_reaches_training_or_early_stopping(tmp_path):
    """The plan the driver fits: training and validation batches hold only the source file's pairs, never one
    of the test file's (so the test file can neither train nor pick the epoch or checkpoint)."""
    pairs = translation.pair_data.number_pairs(400, 0)
    (tmp_path / "train.tsv").write_text("".join(f"{a}\t{b}\n" for a, b in zip(pairs.sources, pairs.targets, strict=True)))
    held = translation.pair_data.number_pairs(450, 7)
    held = [(a, b) for a, b in zip(held.sources, held.targets, strict=True) if a not in set(pairs.sources)][:40]
    (tmp_path / "test.tsv").write_text("".join(f"{a}\t{b}\n" for a, b in held))
    cfg = dataclasses.replace(translation.Config(), **{**translation.QUICK, "source": "local"},
                              data_dir=str(tmp_path), run_dir=str(tmp_path / "run"))
    data = translation.load_data(cfg)
    net = translation.build_model(cfg, data)
    plan = translation.plan(cfg, net, data)
    sources = set()
    for ds in (plan.train, plan.validation):
        for inputs, _ in ds:
            sources |= {tuple(int(i) for i in row if i) for row in inputs["source_tokens"].numpy()}
    test_ids = {tuple(row) for row in net.source.ids(tf.constant([a for a, _ in held])).to_list()}
    assert len(sources) == len(data.train) + len(data.validation) and not sources & test_ids


def test_local_pairs_path(tmp_path):
    folder = real_data_dir("fra-eng")
    cfg = dataclasses.replace(translation.Config(), source="local", data_dir=str(folder), max_pairs=300)
    pairs = translation.load_data(cfg)
    assert len(pairs.train) + len(pairs.validation) + len(pairs.test) == 300 and len(pairs.test) == 15
    assert pairs.source.startswith("local")


def test_standardization_matches_python_normalize_on_french():
    text = "Quatre-vingt-dix-sept, c'est déjà très ÉLEVÉ !"
    assert translation.standardize_sentence(tf.constant([text])).numpy()[0].decode() == \
        translation.pair_data.normalize(text)


def test_local_source_without_a_folder_is_refused_before_any_download(monkeypatch):
    def no_download(*args, **kwargs):
        raise AssertionError("must not download")

    monkeypatch.setattr(translation.pair_data, "download", no_download)
    monkeypatch.delenv("RNN_DATA_DIR", raising=False)
    with pytest.raises(FileNotFoundError, match="no train.tsv in data/fra-eng; pass --data-dir"):
        translation.load_data(dataclasses.replace(translation.Config(), source="local"))


def test_a_test_file_is_the_test_split_whole_and_never_trains(tmp_path):
    pairs = translation.pair_data.number_pairs(300, 0)
    (tmp_path / "train.tsv").write_text("".join(f"{a}\t{b}\n" for a, b in zip(pairs.sources, pairs.targets, strict=True)))
    held = [("I will go to the market tomorrow morning with my sister and her two very small children", "Demain"),
            ("Hello.", "Bonjour."), ("seven", "sept")]
    (tmp_path / "test.tsv").write_text("".join(f"{a}\t{b}\n" for a, b in held))
    cfg = dataclasses.replace(translation.Config(), source="local", data_dir=str(tmp_path), max_pairs=300)
    data = translation.load_data(cfg)
    assert data.test.sources == [a for a, _ in held]  # every pair, the 17-word one included
    assert len(data.train) + len(data.validation) == 300 and len(data.validation) == 15 and "test.tsv" in data.source
    other = tmp_path / "other.tsv"
    other.write_text("Good night.\tBonne nuit.\n")
    data = translation.load_data(dataclasses.replace(cfg, test_file=str(other)))
    assert data.test.sources == ["Good night."]
    with pytest.raises(FileNotFoundError, match="--test-file .*missing.tsv not found"):
        translation.load_data(dataclasses.replace(cfg, test_file=str(tmp_path / "missing.tsv")))


@pytest.mark.parametrize("option, words", [({"label_smoothing": 1.0}, "--label-smoothing"),
                                           ({"vocab_size": 100}, "--vocab-size 100: expected at least 300"),
                                           ({"units": 0, "embed_dim": 0}, "--units 0: expected at least 1"),
                                           ({"max_pairs": 5}, "--max-pairs 5")])
def test_bad_options_are_refused_by_name(option, words):
    with pytest.raises(ValueError, match=words):
        translation.Config(**option)


def test_an_lstm_decoder_decodes_in_the_graph_as_in_python():
    """--decoder lstm (two states, both starting at the encoder's summary): the in-graph beam search the export
    serves finds what the Python-side decoder finds (the same score, and the same text where it is valid UTF-8:
    untrained weights emit stray byte pieces), untrained weights and all."""
    import keras

    keras.utils.set_random_seed(3)
    cfg, pairs, _ = small_net(200)
    cfg = dataclasses.replace(cfg, decoder="lstm")
    net = translation.build_model(cfg, pairs)
    assert any(layer.name == "decoder_lstm_0" for layer in net.model.layers)
    texts = ["three", "forty two"]
    graph = translation.translation_function(cfg, net)
    translator = translation.Translator(net, cfg.max_length)
    for width in (1, 2):
        out = graph(tf.constant(texts), tf.constant(width, tf.int32))
        python = [translator.beam(t, width) for t in texts]
        np.testing.assert_allclose(out["log_probability"].numpy(), [score for _, score in python], rtol=1e-4)
        for got, (want, _) in zip(out["translation"].numpy(), python, strict=True):
            if "\ufffd" not in want:
                assert got.decode("utf-8") == want
    with pytest.raises(ValueError, match="--decoder 'rnn': expected one of"):
        dataclasses.replace(cfg, decoder="rnn")
