import json

import numpy as np
import pytest
import tensorflow as tf

from pipelines import captioning
from shared import export, seq2seq
from tests.conftest import run_quick


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    return run_quick(captioning, tmp_path_factory.mktemp("captioning"))


def test_quick_run_gets_scene_facts_well_above_chance(quick_run):
    cfg, root, result = quick_run
    # chance of naming both objects right (size x colour x shape each, 24 kinds) is under 1%
    assert result["parses"] > 90 and result["both objects right"] > 8
    report = json.loads((root / "run" / "report.json").read_text())
    baseline = report["baselines"]["most frequent training caption"]
    assert result["BLEU-4"] > baseline["BLEU-4"] + 10 and baseline["both objects right"] < 5
    assert (root / "run" / "attention.png").exists() and report["timing"]["train_seconds"] > 0  # serving: make bench


def test_exported_model_captions_image_bytes_like_python(quick_run):
    cfg, root, _ = quick_run
    net = captioning.load_trained(cfg)
    images = captioning.load_data(cfg).test.images[:5]
    python = captioning.Describer(net, cfg.max_length).greedy(images)
    path = export.latest("captioning", root / "saved_models")
    assert captioning.serve(path, [tf.io.encode_png(i).numpy() for i in images]) == python
    served, _ = export.load(path)
    pixels = served.signatures["serve_pixels"](pixels=tf.constant(images))["caption"].numpy()
    assert [p.decode() for p in pixels] == python


def test_attention_weights_sum_to_one_over_the_grid(quick_run):
    cfg, _, _ = quick_run
    net = captioning.load_trained(cfg)
    image = captioning.load_data(cfg).test.images[0]
    words, weights = captioning.Describer(net, cfg.max_length).attention(image)
    assert weights.shape == (len(words), (cfg.size // 8) ** 2)
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, atol=1e-5)


def test_predict_reads_image_files_and_refuses_garbage(quick_run, tmp_path):
    cfg, root, _ = quick_run
    image = captioning.load_data(cfg).test.images[1]
    big = np.kron(image, np.ones((3, 3, 1), np.uint8))  # a larger picture of the same scene
    (tmp_path / "scene.jpg").write_bytes(tf.io.encode_jpeg(big).numpy())
    caption = captioning.caption(tmp_path / "scene.jpg", root=root / "saved_models")
    assert isinstance(caption, str) and caption and "[end]" not in caption
    (tmp_path / "notes.png").write_text("not an image")
    with pytest.raises(ValueError, match="not a readable image"):
        captioning.caption(tmp_path / "notes.png", root=root / "saved_models")


def test_beam_width_one_equals_greedy_and_wider_beams_score_higher(quick_run):
    cfg, _, _ = quick_run
    net = captioning.load_trained(cfg)
    describer = captioning.Describer(net, cfg.max_length)
    images = captioning.load_data(cfg).test.images[:6]
    assert [describer.beam(i, 1) for i in images] == describer.greedy(images)
    greedy_scores, beam_scores = [], []
    for image in images:
        keys, mask, states = describer._encode(image[None])
        greedy_scores.append(describer.decoder.greedy(keys, mask, states)[1][0])
        beam_scores.append(describer.decoder.beam(keys, mask, states, 4)[1])
    # on one image a beam can prune the greedy path (its prefix falls out of the best 4) and end lower; over
    # several images the wider search finds the more likely captions
    assert np.mean(beam_scores) >= np.mean(greedy_scores) - 1e-5


def test_masked_loss_ignores_padding():
    y = np.array([[4, 5, 0]])
    logits = np.random.default_rng(0).normal(size=(1, 3, 9)).astype("float32")
    changed = logits.copy()
    changed[:, 2] += 50
    assert float(seq2seq.masked_token_loss(y, logits)) == pytest.approx(float(seq2seq.masked_token_loss(y, changed)))


def test_config_refuses_bad_options():
    with pytest.raises(ValueError, match="--decoder"):
        captioning.Config(decoder="transformer")
    with pytest.raises(ValueError, match="--size"):
        captioning.Config(size=8)
