import io
import wave

import numpy as np
import pytest
import tensorflow_datasets as tfds

from domain import speech
from tests.conftest import real_data_dir


def write_wav(path, samples, rate=8000, channels=1, width=2):
    with wave.open(str(path), "wb") as f:
        f.setnchannels(channels)
        f.setsampwidth(width)
        f.setframerate(rate)
        f.writeframes(np.asarray(samples).astype({1: "uint8", 2: "<i2", 4: "<i4"}[width]).tobytes())
    return path


def tone(freq, seconds=0.5, rate=8000, amplitude=0.5):
    t = np.arange(int(seconds * rate)) / rate
    return amplitude * np.sin(2 * np.pi * freq * t)


def test_read_wav_resamples_mixes_stereo_and_scales(tmp_path):
    mono16k = write_wav(tmp_path / "a.wav", tone(440, rate=16000) * 32767, rate=16000)
    audio = speech.read_wav(mono16k)
    assert audio.dtype == np.float32 and len(audio) == 4000
    spectrum = np.abs(np.fft.rfft(audio))
    assert np.argmax(spectrum) * 8000 / len(audio) == pytest.approx(440, abs=4)  # still a 440 Hz tone
    left = tone(300) * 32767
    stereo = np.stack([left, np.zeros_like(left)], axis=1).reshape(-1)
    mixed = speech.read_wav(write_wav(tmp_path / "s.wav", stereo, channels=2))
    np.testing.assert_allclose(mixed, tone(300) / 2, atol=1e-3)  # mean of the two channels


def test_bad_audio_gets_clear_errors(tmp_path, caplog):
    (tmp_path / "notes.wav").write_text("these are not audio samples")
    with pytest.raises(ValueError, match="not a readable WAV"):
        speech.read_wav(tmp_path / "notes.wav")
    good = write_wav(tmp_path / "cut.wav", tone(200) * 32767).read_bytes()
    (tmp_path / "cut.wav").write_bytes(good[:20])  # header cut short
    with pytest.raises(ValueError, match="not a readable WAV"):
        speech.read_wav(tmp_path / "cut.wav")
    with pytest.raises(ValueError, match="0-length"):
        speech.read_wav(write_wav(tmp_path / "empty.wav", []))
    with pytest.raises(FileNotFoundError):
        speech.read_wav(tmp_path / "missing.wav")
    with pytest.raises(ValueError, match="its header says 3 Hz"):  # was: 8,000 s of audio and a minute of CPU
        speech.read_wav(write_wav(tmp_path / "slow.wav", tone(200) * 32767, rate=3))
    clipped = np.clip(tone(200, amplitude=3.0), -1, 1) * 32767
    speech.read_wav(write_wav(tmp_path / "loud.wav", clipped))
    assert "clipped" in caplog.text


def test_non_finite_samples_are_refused():
    with pytest.raises(ValueError, match="NaN or infinite"):
        speech.to_float_mono(np.array([0.1, np.nan, 0.2], "float32"), "take.wav")


def test_speaker_split_never_leaks():
    clips = speech.Utterances([np.zeros(10, "float32")] * 8, ["one"] * 8, list("aabbccdd"))
    rest, test = speech.speaker_split(clips, ["b", "d"])
    assert set(test.speakers) == {"b", "d"} and not set(rest.speakers) & set(test.speakers)
    assert len(rest) + len(test) == 8
    with pytest.raises(ValueError, match="not in the data"):
        speech.speaker_split(clips, ["zed"])
    with pytest.raises(ValueError, match="every speaker is a test speaker"):
        speech.speaker_split(clips, list("abcd"))


def test_sequences_concatenate_one_speakers_words():
    clips = speech.Utterances([np.full(100 * (i + 1), i, "float32") for i in range(6)],
                              ["one", "two", "three", "one", "two", "three"], list("aaabbb"))
    seqs = speech.sequences(clips, 20, seed=0, min_words=2, max_words=3, vocabulary=("one", "two", "three"))
    for audio, text, speaker in zip(seqs.audio, seqs.texts, seqs.speakers, strict=True):
        words = text.split()
        assert 2 <= len(words) <= 3
        own = {clips.texts[i]: clips.audio[i][0] for i in range(6) if clips.speakers[i] == speaker}
        values = set(np.round(audio[np.abs(audio) > 0.5]).astype(int))  # the word samples, not the pauses
        assert values <= set(int(own[w]) for w in words) | {0}
    assert seqs.texts == speech.sequences(clips, 20, seed=0, min_words=2, max_words=3,
                                          vocabulary=("one", "two", "three")).texts


def test_synthesized_words_are_speech_like_and_deterministic():
    clips = speech.synthesize(("seven", "yes"), takes=1, seed=3, speakers=("m1", "f2"))
    assert clips.texts == ["seven", "yes", "seven", "yes"] and clips.speakers == ["m1", "m1", "f2", "f2"]
    for audio in clips.audio:
        assert 0.15 < len(audio) / speech.RATE < 1.5 and np.abs(audio).max() <= 1.0 and audio.std() > 0.05
    again = speech.synthesize(("seven", "yes"), takes=1, seed=3, speakers=("m1", "f2"))
    np.testing.assert_array_equal(clips.audio[0], again.audio[0])


def test_fsdd_and_speech_commands_folders(tmp_path):
    fsdd = tmp_path / "fsdd" / "recordings"
    fsdd.mkdir(parents=True)
    write_wav(fsdd / "3_theo_0.wav", tone(300) * 32767)
    write_wav(fsdd / "7_jackson_12.wav", tone(500) * 32767)
    clips = speech.load_folder(tmp_path / "fsdd")
    assert clips.texts == ["three", "seven"] and clips.speakers == ["theo", "jackson"]  # sorted by file name
    commands = tmp_path / "commands"
    for word in ("yes", "no", "_background_noise_"):
        (commands / word).mkdir(parents=True)
        write_wav(commands / word / "0a1b2c3d_nohash_0.wav", tone(400, rate=16000) * 32767, rate=16000)
    clips = speech.load_folder(commands)
    assert clips.texts == ["no", "yes"] and clips.speakers == ["0a1b2c3d"] * 2 and len(clips.audio[0]) == 4000
    (fsdd / "stray.wav").write_bytes(io.BytesIO(b"x").getvalue())
    with pytest.raises(ValueError, match="FSDD naming"):
        speech.load_folder(tmp_path / "fsdd")


def test_tfds_spoken_digit_with_mock_data():
    with tfds.testing.mock_data(num_examples=6):
        clips = speech.load_tfds("spoken_digit", "train")
    assert len(clips) == 6 and set(clips.texts) <= set(speech.DIGITS)
    assert all(a.dtype == np.float32 and np.abs(a).max() <= 1.0 for a in clips.audio)


def test_real_fsdd_folder():
    clips = speech.load_folder(real_data_dir("fsdd"))
    assert len(clips) == 2000 and sorted(set(clips.speakers)) == ["george", "jackson", "nicolas", "theo"]
    assert {clips.texts.count(d) for d in speech.DIGITS} == {200}
    assert 800 < clips.seconds() < 900


def _peak_hz(audio):
    spectrum = np.abs(np.fft.rfft(audio * np.hanning(len(audio))))
    return np.argmax(spectrum) * speech.RATE / len(audio)


def test_warp_formants_moves_frequencies_and_keeps_the_tempo():
    clip = tone(1000, seconds=0.5).astype("float32")
    lower, higher = speech.warp_formants(clip, 0.85), speech.warp_formants(clip, 1.18)
    assert len(lower) == len(higher) == len(clip)  # same duration
    assert abs(_peak_hz(lower) - 850) < 40 and abs(_peak_hz(higher) - 1180) < 40
    assert abs(_peak_hz(speech.warp_formants(clip, 1.0)) - 1000) < 20


def test_voice_stress_sets_are_deterministic_and_keep_the_words():
    rng = np.random.default_rng(0)
    words = [w for w in ("one", "two") for _ in range(8)]
    clips = speech.Utterances([tone(300 + 50 * i, 0.3).astype("float32") * rng.uniform(0.3, 0.9)
                               for i in range(16)], words, ["s"] * 16)
    first, again = speech.voice_stress(clips, seed=3, per_word=5), speech.voice_stress(clips, seed=3, per_word=5)
    assert set(first) == {"longer vocal tract", "shorter vocal tract", "noise 10 dB", "room", "telephone band"}
    for name, stressed in first.items():
        assert sorted(stressed.texts) == ["one"] * 5 + ["two"] * 5
        for a, b in zip(stressed.audio, again[name].audio, strict=True):
            np.testing.assert_array_equal(a, b)
            assert np.isfinite(a).all() and a.dtype == np.float32
    noisy = first["noise 10 dB"].audio[0]
    source = next(a for a in clips.audio if len(a) == len(noisy) and np.corrcoef(a, noisy)[0, 1] > 0.9)
    snr = 10 * np.log10(np.mean(source ** 2) / np.mean((noisy - source) ** 2))
    assert 8.5 < snr < 11.5
    hum = speech.Utterances([tone(100, 0.5).astype("float32")] * 2, ["a", "a"], ["s"] * 2)
    cut = speech.voice_stress(hum, seed=0, per_word=1)["telephone band"].audio[0]
    assert np.std(cut[1000:]) < 0.1 * np.std(tone(100, 0.5))  # 100 Hz is below the telephone band


def test_words_are_surrounded_as_people_record_them():
    rng = np.random.default_rng(0)
    word = tone(400, 0.4).astype("float32")
    padded = speech.surround(word, 0.3, 0.2, None, rng)
    assert len(padded) == 2400 + 3200 + 1600 and not padded[:2400].any() and not padded[-1600:].any()
    np.testing.assert_array_equal(padded[2400:5600], word)
    noisy = speech.surround(word, 0.3, 0.2, -50.0, rng, gain_db=-20.0)
    assert 20 * np.log10(np.sqrt(np.mean(noisy[:2400] ** 2))) == pytest.approx(-50.0, abs=1.0)
    assert np.abs(noisy[2400:5600]).max() == pytest.approx(0.05, abs=0.015)  # 20 dB quieter, noise under it
    clips = speech.Utterances([word, tone(600, 0.3).astype("float32")] * 3, ["one", "two"] * 3, ["a"] * 6)
    sets = speech.word_stress(clips, seed=1, per_word=2)
    assert len(sets) == 9 and all(s.texts == ["one", "two", "one", "two"] for s in sets.values())
    assert [len(a) for a in sets["silence 0.5 s"].audio] == [3200 + 8000, 2400 + 8000] * 2
    assert all(len(a) == 12000 for a in sets["word anywhere in 1.5 s of faint noise"].audio)
    again = speech.word_stress(clips, seed=1, per_word=2)  # seeded: the same sets again
    assert all(np.array_equal(a, b) for name in sets for a, b in zip(sets[name].audio, again[name].audio, strict=True))
