import dataclasses
import json

import numpy as np
import pytest
import tensorflow as tf

from domain import music as music_data
from pipelines import music
from shared import export, pipeline, specs
from tools import bench_serving


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    """Long enough on the generated four-voice pieces for the RNN to learn that chords are held."""
    root = tmp_path_factory.mktemp("music")
    cfg = dataclasses.replace(music.Config(), source="synthetic", synthetic_pieces=60, rnn="gru:32", epochs=25,
                              learning_rate=1e-2, batch_size=8, length=12, run_dir=str(root / "run"))
    result = pipeline.run(music, cfg, export_root=root / "saved_models", verbose=0)
    return cfg, root, result


@pytest.mark.slow
def test_rnn_beats_the_order_blind_baseline_and_reports_the_papers_metric(quick_run):
    cfg, root, result = quick_run
    report = json.loads((root / "run" / "report.json").read_text())
    test = report["metrics"]["test"]
    assert test["this model (gru:32)"] < test["independent Bernoulli per key"] - 3
    assert result["test NLL"] == pytest.approx(test["this model (gru:32)"], abs=1e-3)
    assert report["anchors"] == {}  # generated pieces: no published figure beside them
    assert (root / "run" / "sample.png").exists()


@pytest.mark.slow
def test_served_sampler_is_seeded_bounded_and_writes_midi(quick_run, tmp_path):
    cfg, root, _ = quick_run
    path = export.latest("music", root / "saved_models")
    served, meta = export.load(path, "music")
    sample = served.signatures["serving_default"]
    primer = tf.constant(music_data.generated_corpus(5, seed=9).pieces["train"][0][None, :8])

    def run(length=10, temperature=1.0, seed=0, first=primer):
        return sample(primer=first, length=tf.constant(length), temperature=tf.constant(temperature),
                      seed=tf.constant(seed))
    one, again, other = run(), run(), run(seed=1)
    assert one["continuation"].shape == (1, 10, music_data.KEYS)
    assert set(np.unique(one["continuation"])) <= {0.0, 1.0}
    np.testing.assert_array_equal(one["continuation"], again["continuation"])  # seeded
    assert not np.array_equal(one["continuation"], other["continuation"])
    greedy = run(temperature=0.0)
    np.testing.assert_array_equal(greedy["continuation"], tf.cast(greedy["probabilities"] >= 0.5, tf.float32))
    assert run(length=0)["continuation"].shape == (1, 0, music_data.KEYS)
    assert run(first=tf.zeros((2, 0, music_data.KEYS)), length=4)["continuation"].shape == (2, 4, music_data.KEYS)
    assert specs.limit_problems({"length": 5000}, meta["input_limits"]["serving_default"])  # the server refuses it
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"primer.' = 5 is outside \[0, 1\]"):
        run(first=primer * 5)  # not a piano roll: the graph refuses it (documented 0/1)
    music_data.to_midi(primer.numpy()[0], tmp_path / "primer.mid")
    out = music.predict(dataclasses.replace(cfg, run_dir=str(tmp_path / "run")), str(tmp_path / "primer.mid"), path)
    assert out["primer_steps"] == 8 and out["generated_steps"] == 12
    written = music_data.from_midi(out["midi"])  # a standard MIDI file holding primer + continuation
    assert len(written) <= 20 and written[:8].sum() == primer.numpy()[0].sum()
    assert out["png"].endswith(".png") and tf.io.gfile.exists(out["png"])
    silence = music.predict(dataclasses.replace(cfg, run_dir=str(tmp_path / "run")), "silence", path)
    assert silence["primer_steps"] == 0


def test_config_refuses_bad_options():
    for bad, says in (({"rnn": "bigru:8"}, "left to right"), ({"length": 5000}, "--length = 5000 is outside"),
                      ({"temperature": -1.0}, "--temperature"), ({"dataset": "maestro"}, "expected one of"),
                      ({"dropout": 1.0}, "--dropout")):
        with pytest.raises(ValueError, match=says):
            music.Config(**bad)


def test_missing_data_dir_file_is_one_clear_error(tmp_path):
    cfg = music.Config(source="local", data_dir=str(tmp_path))
    with pytest.raises(FileNotFoundError, match="no JSB_Chorales.mat there"):
        music.load_data(cfg)


@pytest.mark.slow
def test_the_state_carrying_sampler_draws_what_rereading_the_piece_draws(quick_run):
    """Reading the primer once and then one step per frame gives the same frames, for the same seed, as reading the
    whole piece again at every step, and its probabilities are the teacher-forced model's, step by step."""
    cfg, _, _ = quick_run
    model = music.load_trained(cfg)
    primer = tf.constant(music_data.generated_corpus(5, seed=3).pieces["train"][0][None, :10])
    out = music.sampler(model)(primer, tf.constant(24), tf.constant(1.0), tf.constant(7))
    before = bench_serving.rereading_sampler(model)(primer, tf.constant(24), tf.constant(1.0), tf.constant(7))
    frames, odds = before["continuation"].numpy(), before["probabilities"].numpy()
    np.testing.assert_array_equal(out["continuation"].numpy(), frames)
    np.testing.assert_allclose(out["probabilities"].numpy(), odds, atol=1e-5)
    piece = np.vstack([primer.numpy()[0], frames[0]])
    forced = music.probabilities(model, [piece])[0]  # P(step t | steps before t), the whole piece at once
    np.testing.assert_allclose(out["probabilities"].numpy()[0], forced[10:], atol=1e-5)
