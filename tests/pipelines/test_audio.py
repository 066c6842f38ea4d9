"""pipelines.speech.audio: the pieces both speech pipelines share (features, augmentation, resampling, batches, data)."""

import dataclasses

import keras
import numpy as np
import pytest
import tensorflow as tf
from scipy.signal import resample as scipy_resample

from domain import speech as audio_data
from pipelines.speech.audio import features as audio
from shared import data as shared_data
from tests.domain.test_speech import tone


def test_log_mel_puts_a_tone_in_the_right_mel_bin():
    layer = audio.LogMel(8000, 40)
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
    layer = audio.SpecAugment(5, 6)
    np.testing.assert_array_equal(layer(x, training=False).numpy(), x.numpy())
    masked = layer(x, training=True).numpy()
    assert 0 < (masked == 0).mean() < 0.6
    for example in masked:  # whole mel bands / whole frames
        zero_bins = (example == 0).all(axis=0).sum()
        zero_frames = (example == 0).all(axis=1).sum()
        assert zero_bins <= 5 and zero_frames <= 6


def test_in_graph_resampling_matches_scipy():
    signal = (tone(440, seconds=0.25, rate=16000) + 0.3 * tone(1200, seconds=0.25, rate=16000)).astype("float32")
    ours = audio.resample_graph(tf.constant(signal[None]), tf.constant(16000)).numpy()[0]
    reference = scipy_resample(signal, len(signal) // 2)
    assert len(ours) == len(reference) == 2000
    np.testing.assert_allclose(ours, reference, atol=2e-3)
    same = audio.resample_graph(tf.constant(signal[None]), tf.constant(8000)).numpy()[0]
    np.testing.assert_array_equal(same, signal)


def test_speed_perturbation_changes_tempo_and_pitch_together():
    clip = tone(1000, seconds=0.5).astype("float32")
    faster = audio.perturb_speed(clip, 1.25)
    assert len(faster) == 3200 and faster.dtype == np.float32
    spectrum = np.abs(np.fft.rfft(faster))
    assert np.argmax(spectrum) * 8000 / len(faster) == pytest.approx(1250, abs=5)


def test_training_batches_are_perturbed_anew_each_epoch_under_the_seed():
    clips = audio_data.Utterances([tone(300 + 50 * i, seconds=0.3).astype("float32") for i in range(6)], list(audio_data.DIGITS[:6]),
                                  ["a"] * 6)
    cfg = dataclasses.replace(audio.AudioConfig(), batch_size=6, speed=0.2)
    classes = list(audio_data.DIGITS)

    def epochs(seed):  # two epochs, as training.fit tells the datasets which epoch it is in (shared.data.epoch())
        ds = audio.make_dataset(cfg, clips, [classes.index(t) for t in clips.texts], tf.TensorSpec((), tf.int32),
                                shuffle_seed=seed)
        out = []
        for epoch in range(2):
            shared_data.epoch().assign(epoch)
            out.append([(b[0].numpy(), b[1].numpy()) for b in ds])
        shared_data.epoch().assign(0)
        return out
    first, second = epochs(5), epochs(5)
    for (a, la), (b, lb) in zip(first[0], second[0], strict=True):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(la, lb)
    assert first[0][0][0].shape != first[1][0][0].shape or not np.array_equal(first[0][0][0], first[1][0][0])
    plain = list(audio.make_dataset(cfg, clips, list(range(6)), tf.TensorSpec((), tf.int32)))  # never perturbed
    assert [tuple(batch[0].shape) for batch in plain] == [(6, 2400)]
    np.testing.assert_array_equal(np.sort(plain[0][0].numpy(), axis=None), np.sort(np.stack(clips.audio), axis=None))


def test_utterance_normalisation_ignores_gain_and_padding():
    layer = audio.LogMel(8000, 40, "utterance")
    word = (tone(500, seconds=0.4) + 0.5 * tone(1500, seconds=0.4)).astype("float32")
    alone = layer(tf.constant(word[None])).numpy()[0]
    padded = layer(tf.constant(np.stack([np.pad(0.1 * word, (0, 1600)), np.pad(word, (0, 1600))]))).numpy()
    np.testing.assert_allclose(padded[1, :40], alone, atol=1e-3)
    np.testing.assert_allclose(padded[0, :40], alone, atol=1e-3)  # a tenth of the gain: the same features
    assert np.abs(padded[:, 41:]).max() == 0  # padding frames are zero
    np.testing.assert_allclose(alone.mean(axis=0), 0, atol=1e-4)
    assert alone.std() == pytest.approx(1.0, rel=1e-3)


def test_auto_source_with_a_missing_data_dir_is_an_error_not_synthetic_data(tmp_path):
    cfg = dataclasses.replace(audio.AudioConfig(), data_dir=str(tmp_path / "no-such-folder"))
    with pytest.raises(FileNotFoundError, match="not a folder"):
        audio.load_utterances(cfg)


def test_warp_frequency_reads_each_bin_at_k_over_factor():
    power = tf.constant(np.tile(np.arange(9, dtype="float32"), (2, 3, 1)))  # value = bin index
    out = audio.warp_frequency(power, tf.constant([1.0, 2.0])).numpy()
    np.testing.assert_allclose(out[0], power[0])  # factor 1: unchanged
    np.testing.assert_allclose(out[1, 0], np.arange(9) / 2.0)  # factor 2: bin k reads k / 2 (interpolated)
    shrink = audio.warp_frequency(power, tf.constant([0.5, 0.5])).numpy()
    np.testing.assert_allclose(shrink[0, 0], [0, 2, 4, 6, 8, 0, 0, 0, 0])  # beyond the last bin: 0


def test_vocal_tract_perturbation_only_in_training():
    layer = audio.LogMel(warp=0.2)
    wave = np.random.default_rng(0).normal(size=(4, 4000)).astype("float32") * np.hanning(4000)
    np.testing.assert_allclose(layer(wave, training=False), audio.LogMel()(wave, training=False), atol=1e-5)
    assert not np.allclose(layer(wave, training=True), layer(wave, training=False), atol=1e-3)
    assert audio.LogMel.from_config(layer.get_config()).warp == 0.2


def test_endpoint_crops_each_clip_to_its_speech_and_counts_words():
    rng = np.random.default_rng(0)
    word = (tone(300, 0.4) * np.hanning(3200)).astype("float32")
    other = (tone(500, 0.3) * np.hanning(2400)).astype("float32")
    clips = [word, audio_data.surround(word, 0.5, 0.5, None, rng), audio_data.surround(word, 0.5, 0.5, -55.0, rng),
             np.concatenate([word, np.zeros(4800, "float32"), other]), np.zeros(4000, "float32")]
    batch = tf.constant(keras.utils.pad_sequences(clips, dtype="float32", padding="post"))
    cropped = audio.Endpoint()(batch).numpy()
    lengths = [int(np.flatnonzero(row)[-1]) + 1 if row.any() else 0 for row in cropped]
    margin = int(audio.ENDPOINT_MARGIN * audio.RATE)
    assert lengths[0] <= 3200 and all(abs(n - lengths[0]) <= 2 * margin + 160 for n in lengths[1:3])  # padding gone
    assert lengths[3] > 3200 + 4800  # both words kept
    assert cropped.shape[1] == batch.shape[1]  # the silent clip is kept whole (it is "invalid input")
    np.testing.assert_array_equal(audio.words_heard(batch).numpy(), [1, 1, 1, 2, 0])
    draws = [audio.surrounded(word, 0.5, np.random.default_rng(k)) for k in range(20)]
    assert all(word.size <= d.size <= word.size + 8000 for d in draws)
    silent_edges = [not d[:10].any() for d in draws if d.size > word.size + 200]
    assert any(silent_edges) and not all(silent_edges)  # digital silence and faint noise, both drawn
