import dataclasses
import json

import numpy as np
import pytest
import tensorflow as tf

from pipelines import translation
from shared import export, pipeline
from tests.conftest import real_data_dir, run_quick


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
    cfg, root, _ = quick_run
    keras_net = quick_run_net(cfg)
    texts = ["ninety-seven", "four hundred and twelve thousand", "zebra"]  # the last one: an unknown word
    python = translation.Translator(keras_net, cfg.max_length).greedy(texts)[0]
    served = translation.translate_served(texts, export.latest("translation", root / "saved_models"))
    assert served == python
    with pytest.raises(ValueError, match="empty"):
        translation.translate_served(["  "], export.latest("translation", root / "saved_models"))


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


def test_teacher_forcing_shapes():
    cfg = dataclasses.replace(translation.Config(), **translation.QUICK)
    pairs = translation.load_data(dataclasses.replace(cfg, max_pairs=200))
    net = translation.build_model(cfg, pairs)
    train_ds, _, _ = translation.make_datasets(cfg, net, pairs)
    inputs, target_out = next(iter(train_ds))
    assert inputs["source_tokens"].shape[1] == cfg.max_length
    assert inputs["target_in"].shape == target_out.shape == (inputs["source_tokens"].shape[0], cfg.max_length)
    start = net.target_vectorizer.get_vocabulary().index(translation.START)
    assert (inputs["target_in"][:, 0].numpy() == start).all()
    np.testing.assert_array_equal(inputs["target_in"][:, 1:].numpy(), target_out[:, :-1].numpy())  # shifted by one
    assert net.model(inputs).shape == (*target_out.shape, net.target_vectorizer.vocabulary_size())


def test_local_pairs_path(tmp_path):
    folder = real_data_dir("fra-eng")
    cfg = dataclasses.replace(translation.Config(), source="local", data_dir=str(folder), max_pairs=300)
    pairs = translation.load_data(cfg)
    assert len(pairs.train) + len(pairs.validation) + len(pairs.test) == 300
    assert pairs.source.startswith("local")


def test_standardization_matches_python_normalize_on_french():
    text = "Quatre-vingt-dix-sept, c'est déjà très ÉLEVÉ !"
    assert translation.standardize_sentence(tf.constant([text])).numpy()[0].decode() == \
        translation.pair_data.normalize(text)


def test_local_source_without_a_folder_is_refused_before_any_download(monkeypatch):
    def no_download(*args, **kwargs):
        raise AssertionError("must not download")

    monkeypatch.setattr(translation.pair_data, "download", no_download)
    with pytest.raises(FileNotFoundError, match="needs --data-dir"):
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
    assert len(data.train) + len(data.validation) == 300 and "test.tsv" in data.source
    other = tmp_path / "other.tsv"
    other.write_text("Good night.\tBonne nuit.\n")
    data = translation.load_data(dataclasses.replace(cfg, test_file=str(other)))
    assert data.test.sources == ["Good night."]
    with pytest.raises(FileNotFoundError, match="--test-file .*missing.tsv not found"):
        translation.load_data(dataclasses.replace(cfg, test_file=str(tmp_path / "missing.tsv")))
