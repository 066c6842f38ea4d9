import dataclasses
import json

import numpy as np
import pytest
import tensorflow as tf
from scipy.signal import resample as scipy_resample

from domain import speech as audio_data
from pipelines import speech
from pipelines.speech.audio import features as audio
from shared import export, pipeline, serving, specs
from tests.conftest import real_data_dir, run_quick
from tests.domain.test_speech import write_wav


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    return run_quick(speech, tmp_path_factory.mktemp("speech"))


def test_quick_run_beats_chance(quick_run):
    cfg, root, result = quick_run
    report = json.loads((root / "run" / "report.json").read_text())
    chance = report["baselines"]["test: chance"]["accuracy"]
    assert result["accuracy"] > 6 * chance  # 18 words: chance 5.6%
    assert report["baselines"]["test: this model"]["accuracy"] > report["baselines"]["test: majority class"]["accuracy"]
    assert report["timing"]["audio_seconds_per_second"] > 0 and (root / "run" / "confusion.png").exists()
    assert "test speakers m4,f3" in report["source"]


def test_exported_model_takes_raw_audio_and_matches_python(quick_run, tmp_path):
    cfg, root, _ = quick_run
    clips = audio_data.synthesize(("seven", "two", "yes"), takes=1, seed=9, speakers=audio_data.SYNTH_TEST_SPEAKERS)
    words = speech.load_trained(cfg)
    classes = json.loads((root / "run" / speech.CLASSES_FILE).read_text())
    python = [classes[int(np.argmax(x))] for x in audio.predict_logits(words, clips)]
    path = export.latest("speech", root / "saved_models")
    served = audio.serve(path, clips.audio)
    assert [s.decode() for s in served["label"]] == python
    np.testing.assert_allclose(served["probabilities"].sum(axis=1), 1.0, atol=1e-5)
    broken = [clips.audio[0].copy(), clips.audio[1]]
    broken[0][100] = np.nan  # a NaN sample: refused by the graph, in the server's words
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"audio.+ = nan is outside \[-2, 2\]"):
        audio.serve(path, broken)
    assert specs.limit_problems({"audio": np.array(broken[0])}, export.load(path)[1]["input_limits"]["serving_default"])
    # no word is heard in silence, in one sample or in a twentieth of a second (each got a word before)
    quiet = [np.zeros(8000, "float32"), np.array([0.5], "float32"), clips.audio[1][:400], 1e-5 * clips.audio[1]]
    served = audio.serve(path, [*quiet, clips.audio[1]])
    assert [s.decode() for s in served["label"]] == ["invalid input"] * 4 + [python[1]]
    silent = write_wav(tmp_path / "silent.wav", np.zeros(8000), rate=8000)
    with pytest.raises(ValueError, match="nothing to hear"):
        speech.predict(cfg, silent, path)
    # the server refuses a rate no recording has and samples far outside [-1, 1] (int16 not scaled)
    repository = serving.Repository(root / "saved_models")
    for inputs, words in [({"audio": [clips.audio[1].tolist()], "sample_rate": 1}, "'sample_rate' = 1 is outside"),
                          ({"audio": [(clips.audio[1] * 32767).tolist()], "sample_rate": 8000}, "divide int16")]:
        with pytest.raises(serving.RequestError, match=words):
            serving.predict(repository, "speech", {"inputs": inputs})

    # a 16 kHz stereo file: mixed down and resampled inside the graph, heard as the same word as at 8 kHz
    at_16k = scipy_resample(clips.audio[0], 2 * len(clips.audio[0]))
    wav = write_wav(tmp_path / "word.wav", np.repeat(at_16k * 32767, 2), rate=16000, channels=2)
    heard = speech.predict(cfg, wav, path)
    assert heard["word"] == python[0] and heard["seconds"] == pytest.approx(len(clips.audio[0]) / 8000, abs=1e-3)
    # a word with long silence around it is still one word; two words apart are said to be two, not named as one
    rng = np.random.default_rng(0)
    long_silence = write_wav(tmp_path / "quiet.wav", audio_data.surround(clips.audio[0], 1.0, 1.0, -60.0, rng) * 32767)
    assert speech.predict(cfg, long_silence, path)["word"] in classes
    pair = np.concatenate([clips.audio[0], np.zeros(6000, "float32"), clips.audio[1]])
    heard = speech.predict(cfg, write_wav(tmp_path / "two.wav", pair * 32767), path)
    assert heard["words"] == 2 and "2 words, not one" in heard["heard"] and "word" not in heard
    assert list(audio.serve(path, [pair, clips.audio[0]])["words"]) == [2, 1]
    (tmp_path / "bad.wav").write_text("RIFF but not really")
    with pytest.raises(ValueError, match="not a readable WAV"):
        speech.predict(cfg, tmp_path / "bad.wav", path)


def test_evaluate_and_export_commands_reuse_the_checkpoints(quick_run):
    cfg, root, result = quick_run
    again = pipeline.evaluate_checkpoint(speech, cfg)
    assert again["accuracy"] == pytest.approx(result["accuracy"])
    path = pipeline.export_checkpoint(speech, cfg, root / "saved_models")["export"]
    assert export.load(path, "speech")[1]["metrics"]["test"]["accuracy"] == pytest.approx(result["accuracy"])






def test_config_refuses_bad_options():
    with pytest.raises(ValueError, match="--source"):
        speech.Config(source="youtube")
    for bad, option in (({"cv_folds": 1}, "--cv-folds"), ({"speed": 0.7}, "--speed"), ({"normalize": "x"}, "--normalize"),
                        ({"front": "conv3d"}, "--front"), ({"cepstra": 99}, "--cepstra"), ({"vtlp": 0.6}, "--vtlp"),
                        ({"members": 0}, "--members")):
        with pytest.raises(ValueError, match=option):
            speech.Config(**bad)




def test_local_fsdd_folder_splits_by_speaker():
    folder = real_data_dir("fsdd")
    cfg = dataclasses.replace(speech.Config(), source="local", data_dir=str(folder), test_speakers="theo",
                              cv_folds=0, synthetic_mix=0)
    clips = speech.load_data(cfg)
    assert set(clips.test.speakers) == {"theo"} and len(clips.test) == 500
    assert "theo" not in set(clips.train.speakers) | set(clips.validation.speakers)
    assert clips.classes == list(audio_data.DIGITS) and len(clips.train) + len(clips.validation) == 1500
    assert len(clips.extra) == 0


def test_local_fsdd_by_default_trains_on_every_speaker_plus_synthetic_voices():
    cfg = dataclasses.replace(speech.Config(), source="local", data_dir=str(real_data_dir("fsdd")), synthetic_mix=1)
    clips = speech.load_data(cfg)
    assert len(clips.test) == 0 and len(clips.validation) == 0 and len(clips.train) == 2000
    assert set(clips.extra.speakers) == set(audio_data.SYNTH_SPEAKERS) and set(clips.extra.texts) == set(audio_data.DIGITS)
    assert not set(clips.extra.speakers) & set(clips.train.speakers)


@pytest.mark.slow
def test_cross_validation_holds_each_speaker_out_once_and_never_sees_the_test_speakers(tmp_path):
    cfg = dataclasses.replace(speech.Config(), **{**speech.QUICK, "takes": 1, "epochs": 2, "cv_folds": 3,
                                                  "rnn": "gru:4", "filters": 4, "run_dir": str(tmp_path)})
    clips = speech.load_data(cfg)
    cv = speech.cross_validate(cfg, clips)
    held = [set(row["speakers"].split(",")) for row in cv["folds"]]
    assert len(held) == 3 and sum(len(h) for h in held) == len(set().union(*held))  # no speaker in two folds
    assert set().union(*held) == set(clips.train.speakers)
    assert not set().union(*held) & set(audio_data.SYNTH_TEST_SPEAKERS)
    assert cv["best_epoch"] in (1, 2) and len(cv["curve"]) == 2
    assert cv["worst"]["accuracy"] == min(row["accuracy"] for row in cv["folds"])
    again = speech.cross_validate(cfg, clips)  # finished folds are read back, not retrained
    assert again["curve"] == cv["curve"]
    stress = [k for k in cv["folds"][0] if k.startswith("stress: ")]
    assert len(stress) == 14 and all(0 <= row[k] <= 100 for row in cv["folds"] for k in stress)  # voice + word sets
    for row, output in zip(cv["folds"], cv["outputs"], strict=True):  # the probabilities give the row's accuracy
        for metric, (labels, probabilities) in output.items():
            assert np.asarray(probabilities).shape == (len(labels), len(clips.classes))
            assert row[metric] == pytest.approx(100 * np.mean(np.argmax(probabilities, axis=1) == np.asarray(labels)))








def test_evaluate_without_test_speakers_says_where_the_unseen_speaker_figures_are(tmp_path):
    cfg = dataclasses.replace(speech.Config(), source="local", data_dir=str(real_data_dir("fsdd")), synthetic_mix=0,
                              run_dir=str(tmp_path))
    speech.build_network(cfg, list(audio_data.DIGITS)).save(tmp_path / "best.keras")
    with pytest.raises(ValueError, match="--test-speakers"):
        pipeline.evaluate_checkpoint(speech, cfg)


@pytest.mark.slow
def test_averaged_word_models_train_alone_and_serve_their_mean(tmp_path):
    cfg = dataclasses.replace(speech.Config(), **{**speech.QUICK, "takes": 1, "epochs": 1, "rnn": "gru:4",
                                                  "filters": 4, "members": 2, "run_dir": str(tmp_path / "run")})
    clips = speech.load_data(cfg)
    model = speech.build_model(cfg, clips)
    first, second = speech.members(model)
    speech.train(cfg, model, clips, verbose=0)
    assert (tmp_path / "run" / "member-1" / "best.keras").exists() and (tmp_path / "run" / "member-2" / "best.keras").exists()
    wave = np.stack([clips.test.audio[0][:4000], clips.test.audio[1][:4000]])
    mean = (tf.nn.softmax(first(wave)) + tf.nn.softmax(second(wave))) / 2
    np.testing.assert_allclose(tf.nn.softmax(model(wave)), mean, rtol=1e-4, atol=1e-6)
    assert not np.allclose(first(wave), second(wave))  # two seeds, two models
    reloaded = speech.load_trained(cfg)  # the averaged model is the run's checkpoint
    np.testing.assert_allclose(reloaded(wave), model(wave), rtol=1e-4, atol=1e-5)
