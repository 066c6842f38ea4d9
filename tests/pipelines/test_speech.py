import dataclasses
import json

import numpy as np
import pytest
import tensorflow as tf
from scipy.signal import resample as scipy_resample

from domain import speech as audio_data
from pipelines import speech
from shared import export
from tests.conftest import real_data_dir, run_quick
from tests.domain.test_speech import tone, write_wav


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    return run_quick(speech, tmp_path_factory.mktemp("speech"))


def test_quick_run_beats_chance_and_random_transcripts(quick_run):
    cfg, root, result = quick_run
    report = json.loads((root / "run" / "report.json").read_text())
    chance = report["baselines"]["words: chance"]["accuracy"]
    assert result["accuracy"] > 6 * chance  # 18 words: chance 5.6%
    random_wer = report["baselines"]["transcription: random digits, right count (baseline)"]["WER"]
    assert result["WER"] < random_wer - 20
    assert report["timing"]["words real_time_factor"] > 0 and (root / "run" / "confusion.png").exists()
    assert "test speakers m4,f3" in report["source"]


def test_exported_models_take_raw_audio_and_match_python(quick_run, tmp_path):
    cfg, root, _ = quick_run
    clips = audio_data.synthesize(("seven", "two", "yes"), takes=1, seed=9, speakers=audio_data.SYNTH_TEST_SPEAKERS)
    words, classes = speech.load_trained(cfg, "words")
    python = [classes[int(np.argmax(x))] for x in speech.predict_logits(words, clips)]
    served = speech.serve(export.latest("speech", root / "saved_models"), clips.audio)
    assert [s.decode() for s in served["label"]] == python
    np.testing.assert_allclose(served["probabilities"].sum(axis=1), 1.0, atol=1e-5)

    transcriber, _ = speech.load_trained(cfg, "transcribe")
    sequence = audio_data.sequences(clips, 3, seed=1)
    python_text = [speech.ctc_decode(x[None])[0] for x in speech.predict_logits(transcriber, sequence)]
    served_text = speech.serve(export.latest("speech-transcriber", root / "saved_models"), sequence.audio)["text"]
    assert [t.decode() for t in served_text] == python_text
    broken = [clips.audio[0].copy(), clips.audio[1]]
    broken[0][100] = np.nan  # a NaN sample: no word, no transcript
    served = speech.serve(export.latest("speech", root / "saved_models"), broken)
    assert [s.decode() for s in served["label"]] == ["invalid input", python[1]]
    assert np.isnan(served["probabilities"][0]).all()
    text = speech.serve(export.latest("speech-transcriber", root / "saved_models"), broken)["text"]
    assert text[0].decode() == "invalid input" and text[1].decode() != "invalid input"

    # a 16 kHz stereo file: mixed down and resampled inside the graph, heard as the same word as at 8 kHz
    at_16k = scipy_resample(clips.audio[0], 2 * len(clips.audio[0]))
    wav = write_wav(tmp_path / "word.wav", np.repeat(at_16k * 32767, 2), rate=16000, channels=2)
    heard = speech.predict(wav, root / "saved_models")
    assert heard["word"] == python[0] and heard["seconds"] == pytest.approx(len(clips.audio[0]) / 8000, abs=1e-3)
    assert isinstance(heard["text"], str)
    (tmp_path / "bad.wav").write_text("RIFF but not really")
    with pytest.raises(ValueError, match="not a readable WAV"):
        speech.predict(tmp_path / "bad.wav", root / "saved_models")


def test_evaluate_and_export_commands_reuse_the_checkpoints(quick_run):
    cfg, root, result = quick_run
    again = speech._evaluate_command(cfg, None)
    assert again["words"]["accuracy"] == pytest.approx(result["accuracy"])
    assert again["transcribe"]["greedy"]["WER"] == pytest.approx(result["WER"])


def test_log_mel_puts_a_tone_in_the_right_mel_bin():
    layer = speech.LogMel(8000, 40)
    features = layer(tf.constant(tone(1000, seconds=0.5)[None], tf.float32)).numpy()[0]
    assert features.shape == (50, 40)  # 10 ms frames, padded at the end
    matrix = tf.signal.linear_to_mel_weight_matrix(40, layer.fft // 2 + 1, 8000, 20.0, 4000.0).numpy()
    expected = int(np.argmax(matrix[round(1000 * layer.fft / 8000)]))
    assert (features[5:45].argmax(axis=1) == expected).all()
    assert features.max() == pytest.approx(1.0) and features.min() >= -1.0 - 1e-6
    louder = layer(tf.constant(4 * tone(1000, seconds=0.5)[None], tf.float32)).numpy()[0]
    np.testing.assert_allclose(louder, features, atol=1e-4)  # the gain of a recording does not matter


def test_spec_augment_masks_only_in_training():
    x = tf.ones((4, 30, 20))
    layer = speech.SpecAugment(5, 6)
    np.testing.assert_array_equal(layer(x, training=False).numpy(), x.numpy())
    masked = layer(x, training=True).numpy()
    assert 0 < (masked == 0).mean() < 0.6
    for example in masked:  # whole mel bands / whole frames
        zero_bins = (example == 0).all(axis=0).sum()
        zero_frames = (example == 0).all(axis=1).sum()
        assert zero_bins <= 5 and zero_frames <= 6


def test_ctc_decoding_on_hand_made_logits():
    def frames(ids, vocab=11):
        out = np.full((len(ids), vocab), -10.0, "float32")
        out[np.arange(len(ids)), ids] = 10.0
        return out
    # blank, two, two, blank, two, four, four, blank -> "two two four" (repeats merged unless a blank separates)
    logits = frames([0, 3, 3, 0, 3, 5, 5, 0])[None]
    assert speech.ctc_decode(logits) == ["two two four"]
    assert speech.ctc_decode(logits, beam_width=4) == ["two two four"]
    assert speech.ctc_decode(frames([0, 0, 0])[None]) == [""]
    labels = np.array([[3, 3, 5, 0, 0]])
    right = float(speech.ctc_loss(labels, logits))
    wrong = float(speech.ctc_loss(np.array([[2, 5, 0, 0, 0]]), logits))
    assert right < 0.1 < 10 < wrong
    assert float(speech.ctc_loss(np.array([[3, 3, 5]]), logits)) == pytest.approx(right, rel=1e-5)  # padding ignored


def test_in_graph_resampling_matches_scipy():
    signal = (tone(440, seconds=0.25, rate=16000) + 0.3 * tone(1200, seconds=0.25, rate=16000)).astype("float32")
    ours = speech.resample_graph(tf.constant(signal[None]), tf.constant(16000)).numpy()[0]
    reference = scipy_resample(signal, len(signal) // 2)
    assert len(ours) == len(reference) == 2000
    np.testing.assert_allclose(ours, reference, atol=2e-3)
    same = speech.resample_graph(tf.constant(signal[None]), tf.constant(8000)).numpy()[0]
    np.testing.assert_array_equal(same, signal)


def test_config_refuses_bad_options():
    with pytest.raises(ValueError, match="--task"):
        speech.Config(task="translate")
    with pytest.raises(ValueError, match="--source"):
        speech.Config(source="youtube")
    for bad, option in (({"cv_folds": 1}, "--cv-folds"), ({"speed": 0.7}, "--speed"), ({"normalize": "x"}, "--normalize"),
                        ({"front": "conv3d"}, "--front"), ({"cepstra": 99}, "--cepstra")):
        with pytest.raises(ValueError, match=option):
            speech.Config(**bad)


def test_auto_source_with_a_missing_data_dir_is_an_error_not_synthetic_data(tmp_path):
    cfg = dataclasses.replace(speech.Config(), data_dir=str(tmp_path / "no-such-folder"))
    with pytest.raises(FileNotFoundError, match="not a folder"):
        speech.load_data(cfg)


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


def test_speed_perturbation_changes_tempo_and_pitch_together():
    clip = tone(1000, seconds=0.5).astype("float32")
    faster = speech.perturb_speed(clip, 1.25)
    assert len(faster) == 3200 and faster.dtype == np.float32
    spectrum = np.abs(np.fft.rfft(faster))
    assert np.argmax(spectrum) * 8000 / len(faster) == pytest.approx(1250, abs=5)


def test_training_batches_are_perturbed_anew_each_epoch_under_the_seed():
    clips = audio_data.Utterances([tone(300 + 50 * i, seconds=0.3).astype("float32") for i in range(6)], list(audio_data.DIGITS[:6]),
                                  ["a"] * 6)
    cfg = dataclasses.replace(speech.Config(), batch_size=6, speed=0.2)
    classes = list(audio_data.DIGITS)

    def epochs(seed):
        ds = speech.make_dataset(cfg, clips, "words", classes, shuffle_seed=seed)
        return [[(b[0].numpy(), b[1].numpy()) for b in ds] for _ in range(2)]
    first, second = epochs(5), epochs(5)
    for (a, la), (b, lb) in zip(first[0], second[0], strict=True):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(la, lb)
    assert first[0][0][0].shape != first[1][0][0].shape or not np.array_equal(first[0][0][0], first[1][0][0])
    plain = list(speech.make_dataset(cfg, clips, "words", classes))  # evaluation data: never perturbed
    assert [tuple(batch[0].shape) for batch in plain] == [(6, 2400)]
    np.testing.assert_array_equal(np.sort(plain[0][0].numpy(), axis=None), np.sort(np.stack(clips.audio), axis=None))


def test_utterance_normalisation_ignores_gain_and_padding():
    layer = speech.LogMel(8000, 40, "utterance")
    word = (tone(500, seconds=0.4) + 0.5 * tone(1500, seconds=0.4)).astype("float32")
    alone = layer(tf.constant(word[None])).numpy()[0]
    padded = layer(tf.constant(np.stack([np.pad(0.1 * word, (0, 1600)), np.pad(word, (0, 1600))]))).numpy()
    np.testing.assert_allclose(padded[1, :40], alone, atol=1e-3)
    np.testing.assert_allclose(padded[0, :40], alone, atol=1e-3)  # a tenth of the gain: the same features
    assert np.abs(padded[:, 41:]).max() == 0  # padding frames are zero
    np.testing.assert_allclose(alone.mean(axis=0), 0, atol=1e-4)
    assert alone.std() == pytest.approx(1.0, rel=1e-3)


def test_evaluate_without_test_speakers_says_where_the_unseen_speaker_figures_are(tmp_path):
    cfg = dataclasses.replace(speech.Config(), source="local", data_dir=str(real_data_dir("fsdd")), synthetic_mix=0,
                              run_dir=str(tmp_path))
    with pytest.raises(ValueError, match="--test-speakers"):
        speech._evaluate_command(cfg, None)
