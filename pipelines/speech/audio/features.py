# Over 400 lines: the one place both speech pipelines share their audio front end, encoder and datasets.
"""The speech family's heavy pieces (pipelines.speech.audio holds their shared options): the data split by speaker,
log-mel features, the endpoint detector and SpecAugment inside the model, the encoder, datasets, inference."""

from __future__ import annotations

import dataclasses
import logging
import pathlib

import keras
import numpy as np
import tensorflow as tf

from domain import sources as domain_sources
from domain import speech as audio_data
from pipelines.speech.audio import NORMALIZATIONS, AudioConfig
from shared import data as shared_data
from shared import export as shared_export
from shared import layers, training

log = logging.getLogger(__name__)
RATE = audio_data.RATE
SIGNATURE = [tf.TensorSpec((None, None), tf.float32, name="audio"), tf.TensorSpec((), tf.int32, name="sample_rate")]


# ----------------------------------------------------------------------------------------------------- data

@dataclasses.dataclass
class SpeechData:
    """Single-word utterances: train and validation from training speakers (validation empty when a
    cross-validation chooses the epoch count instead), test from held-out speakers (may be empty); extra: synthetic
    voices added to the word model's training (never validation or test)."""

    train: audio_data.Utterances
    validation: audio_data.Utterances
    test: audio_data.Utterances
    classes: list[str]
    source: str
    notes: list[str]
    extra: audio_data.Utterances = dataclasses.field(default_factory=lambda: audio_data.Utterances([], [], []))


def joined(*parts: audio_data.Utterances) -> audio_data.Utterances:
    return audio_data.Utterances(*(sum((getattr(p, f) for p in parts), []) for f in ("audio", "texts", "speakers")))


def validation_split(rest: audio_data.Utterances, seed: int) -> tuple[audio_data.Utterances, audio_data.Utterances]:
    """(train, validation): a random tenth of the utterances (at least one) held out for early stopping."""
    order = np.random.default_rng(seed).permutation(len(rest))
    cut = max(1, len(rest) // 10)
    return rest.subset(sorted(order[cut:])), rest.subset(sorted(order[:cut]))


def load_utterances(cfg: AudioConfig, validation: bool = True, synthetic_mix: int = 0) -> SpeechData:
    """Utterances of the source, split speaker-independently: the test speakers' recordings only in test. With
    `validation` a random tenth of the other speakers' recordings validates (early stopping); without, they all
    train (a cross-validation picks the epoch count). `synthetic_mix` adds eSpeak NG voices saying the digits
    (that many takes per digit and voice) as `extra` training data (real data only)."""
    folder = domain_sources.local_folder(cfg.data_dir, "fsdd")
    source, notes = domain_sources.resolve_auto(cfg.source, folder, given=cfg.data_dir), []
    chosen = [s for s in cfg.test_speakers.split(",") if s.strip()]
    if source == "tfds" and cfg.dataset == "speech_commands":
        train = audio_data.load_tfds(cfg.dataset, "train", cfg.data_dir or None)
        held = audio_data.load_tfds(cfg.dataset, "validation", cfg.data_dir or None)
        test = audio_data.load_tfds(cfg.dataset, "test", cfg.data_dir or None)
        where = "tfds: speech_commands (its own speaker-independent train/validation/test splits)"
    else:
        if source == "local":
            if not folder:
                raise FileNotFoundError("--source local needs --data-dir (FSDD recordings or <word>/*.wav), or put "
                                        "them in $RNN_DATA_DIR/fsdd.")
            clips, where = audio_data.load_folder(folder), f"local: {folder}"
        elif source == "tfds":
            clips, where = audio_data.load_tfds(cfg.dataset, "train", cfg.data_dir or None), f"tfds: {cfg.dataset}"
        else:
            clips = audio_data.synthesize(takes=cfg.takes, seed=cfg.seed)
            where = (f"synthetic: eSpeak NG, {len(audio_data.SYNTH_SPEAKERS)} voices x {len(audio_data.SYNTH_ACCENTS)}"
                     f" accents, {cfg.takes} takes per word, noise 10-30 dB SNR")
        if not chosen and source == "synthetic":
            chosen = list(audio_data.SYNTH_TEST_SPEAKERS)
        rest, test = audio_data.speaker_split(clips, chosen)
        train, held = validation_split(rest, cfg.seed) if validation else (rest, rest.subset([]))
        where += f"; test speakers {','.join(chosen)}" if chosen else "; no test speakers (all train)"
    classes = sorted(set(train.texts), key=lambda w: (w not in audio_data.DIGITS, audio_data.DIGITS.index(w)
                                                       if w in audio_data.DIGITS else 0, w))
    unseen = sorted(set(test.texts) - set(classes))
    if unseen:
        raise ValueError(f"test words {unseen} never occur in training; choose other --test-speakers.")
    extra = audio_data.Utterances([], [], [])
    digits = [w for w in classes if w in audio_data.DIGITS]
    if synthetic_mix and source != "synthetic" and digits:
        extra = audio_data.synthesize(digits, takes=synthetic_mix, seed=cfg.seed)
        where += (f"; training adds {len(extra)} eSpeak NG utterances ({len(audio_data.SYNTH_SPEAKERS)} voices x "
                  f"{synthetic_mix} takes of each digit)")
    log.info("%s: train %d, validation %d, test %d utterances (%.0f s of test audio), %d words", where, len(train),
             len(held), len(test), test.seconds(), len(classes))
    return SpeechData(train, held, test, classes, where, notes, extra)


# ---------------------------------------------------------------------------------------------- features

def perturb_speed(audio: np.ndarray, factor: float) -> np.ndarray:
    """The clip played `factor` times faster (tempo and pitch together, as a tape: Ko et al. 2015's speed
    perturbation); FFT resampling (scipy.signal.resample) to round(len / factor) samples."""
    from scipy.signal import resample

    return resample(audio, max(1, round(len(audio) / factor))).astype("float32")


@keras.saving.register_keras_serializable(package="rnn_suite")
class LogMel(keras.layers.Layer):
    """Waveform (batch, samples) at `rate` -> log-mel frames (batch, frames, mels): 25 ms Hann windows every 10 ms,
    |STFT|^2 through a mel filter bank (tf.signal), natural log, relative to the utterance's loudest bin and
    floored at -80 dB, so the gain of a recording does not matter. Then `normalize`:
    "peak": scaled to about [-1, 1];
    "utterance": each mel bin's mean over the utterance removed and the utterance scaled to unit variance
    (cepstral mean and variance normalisation: a microphone's or a voice's fixed spectral tilt cancels out).
    Statistics use the utterance's own frames only: trailing zeros are padding, and padded frames come out 0.
    With `warp` > 0, in training only, each clip's power spectrum is read at f / a for a random a in 1 +- warp
    (linear interpolation between FFT bins): vocal tract length perturbation (Jaitly & Hinton 2013)."""

    def __init__(self, rate: int = RATE, mels: int = 40, normalize: str = "peak", cepstra: int = 0, warp: float = 0.0,
                 **kwargs):
        super().__init__(**kwargs)
        if normalize not in NORMALIZATIONS:
            raise ValueError(f"LogMel normalize={normalize!r}: expected one of {list(NORMALIZATIONS)}.")
        self.rate, self.mels, self.normalize, self.cepstra, self.warp = rate, mels, normalize, cepstra, warp
        # the warp's draws: its state is kept with each epoch's backup, so a resumed run draws as before
        self.seed_generator = keras.random.SeedGenerator() if warp else None
        self.frame, self.step = int(0.025 * rate), int(0.010 * rate)
        self.fft = 1 << (self.frame - 1).bit_length()

    def call(self, audio, training=None):
        audio = tf.cast(audio, tf.float32)
        stft = tf.signal.stft(audio, self.frame, self.step, self.fft, pad_end=True)
        power = tf.square(tf.abs(stft))
        if training and self.warp:
            factor = keras.random.uniform((tf.shape(power)[0],), 1 - self.warp, 1 + self.warp, seed=self.seed_generator)
            power = warp_frequency(power, factor)
        matrix = tf.signal.linear_to_mel_weight_matrix(self.mels, self.fft // 2 + 1, self.rate, 20.0, self.rate / 2)
        log_mel = tf.math.log(tf.tensordot(power, matrix, 1) + 1e-10)
        floor = 8.0 * np.log(10.0)  # 80 dB in natural-log power units
        relative = tf.maximum(log_mel - tf.reduce_max(log_mel, axis=[1, 2], keepdims=True), -floor)
        if self.cepstra:  # the spectral envelope only: pitch harmonics (the speaker) sit in the higher cepstra
            relative = tf.signal.mfccs_from_log_mel_spectrograms(relative)[..., :self.cepstra]
        if self.normalize == "peak":
            return relative / (floor / 2) + 1.0
        samples = tf.shape(audio)[1]
        last = tf.reduce_max(tf.where(tf.abs(audio) > 0, tf.range(1, samples + 1)[None, :], 0), axis=1)
        frames = (last + self.step - 1) // self.step  # frames that start inside the utterance
        mask = tf.cast(tf.sequence_mask(tf.maximum(frames, 1), tf.shape(relative)[1]), tf.float32)[:, :, None]
        count = tf.reduce_sum(mask, axis=1, keepdims=True)
        mean = tf.reduce_sum(relative * mask, axis=1, keepdims=True) / count
        centred = (relative - mean) * mask
        variance = tf.reduce_sum(tf.square(centred), axis=[1, 2], keepdims=True) / (count * (self.cepstra or self.mels))
        return centred * tf.math.rsqrt(variance + 1e-6)

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "mels": self.mels, "normalize": self.normalize,
                "cepstra": self.cepstra, "warp": self.warp}


def warp_frequency(power: tf.Tensor, factor: tf.Tensor) -> tf.Tensor:
    """Spectra (batch, frames, bins) read at bin k / factor (one factor per example; linear interpolation, 0
    beyond the last bin): factor > 1 moves every frequency up."""
    bins = tf.shape(power)[2]
    source = tf.cast(tf.range(bins), tf.float32)[None, :] / factor[:, None]
    low = tf.minimum(tf.cast(tf.floor(source), tf.int32), bins - 1)
    high = tf.minimum(low + 1, bins - 1)
    weight = (source - tf.cast(low, tf.float32))[:, None, :]
    out = (tf.gather(power, low, axis=2, batch_dims=1) * (1 - weight)
           + tf.gather(power, high, axis=2, batch_dims=1) * weight)
    return tf.where((source <= tf.cast(bins - 1, tf.float32))[:, None, :], out, tf.zeros_like(out))


SPEECH_RANGE_DB = 30.0  # a 20 ms frame is speech when within this many dB of the clip's loudest frame
SPEECH_FLOOR_DBFS = -60.0  # and above this level (RMS re full scale)
ENDPOINT_MARGIN = 0.15  # s of audio kept before the first speech frame and after the last (weak consonants)
WORD_GAP = 0.3  # s without speech that separate two words


def speech_frames(audio: tf.Tensor, rate: int = RATE) -> tuple[tf.Tensor, tf.Tensor, int]:
    """(speech (batch, frames) bool, clip length in samples (batch,), hop in samples) of right-padded clips: 20 ms
    frames every 10 ms whose energy is within SPEECH_RANGE_DB of the clip's loudest frame and above
    SPEECH_FLOOR_DBFS; frames past the clip's last non-zero sample (its padding) are never speech."""
    audio = tf.cast(audio, tf.float32)
    size, hop = int(0.02 * rate), int(0.01 * rate)
    frames = tf.signal.frame(audio, size, hop, pad_end=True)
    level = 10.0 * tf.math.log(tf.reduce_mean(tf.square(frames), axis=-1) + 1e-12) / np.log(10.0)
    samples = tf.shape(audio)[1]
    length = tf.reduce_max(tf.where(tf.abs(audio) > 0, tf.range(1, samples + 1)[None, :], 0), axis=1)
    inside = tf.range(tf.shape(level)[1])[None, :] * hop < length[:, None]
    level = tf.where(inside, level, -120.0)
    loudest = tf.reduce_max(level, axis=1, keepdims=True)
    speech = inside & (level >= loudest - SPEECH_RANGE_DB) & (level >= SPEECH_FLOOR_DBFS)
    return speech, length, hop


def words_heard(audio: tf.Tensor, rate: int = RATE) -> tf.Tensor:
    """(batch,) int32: the stretches of speech in each clip that WORD_GAP or more without speech separate (0: no
    speech; 1: one word, or words run together; 2 or more: separate words)."""
    speech, _, hop = speech_frames(audio, rate)
    reach = max(1, int(round(WORD_GAP * rate / hop / 2)))  # speech frames widened by half a gap each side merge
    merged = tf.nn.max_pool1d(tf.cast(speech, tf.float32)[:, :, None], 2 * reach + 1, 1, "SAME")[:, :, 0] > 0
    starts = merged & ~tf.pad(merged[:, :-1], [[0, 0], [1, 0]])
    return tf.reduce_sum(tf.cast(starts, tf.int32), axis=1)


@keras.saving.register_keras_serializable(package="rnn_suite")
class Endpoint(keras.layers.Layer):
    """Right-padded clips (batch, samples) -> each cropped to its speech and moved to the start, right-padded with
    zeros: from ENDPOINT_MARGIN before the first speech frame (speech_frames) to ENDPOINT_MARGIN after the last. A
    clip with no speech frame (silence: the export labels it "invalid input") is kept whole, padding included. In training, predict and serving alike, so where the word sits in a
    recording, and how much silence or faint noise surrounds it, changes little of what the network hears."""

    def __init__(self, rate: int = RATE, **kwargs):
        super().__init__(**kwargs)
        self.rate = rate

    def call(self, audio):
        audio = tf.cast(audio, tf.float32)
        speech, length, hop = speech_frames(audio, self.rate)
        count = tf.shape(speech)[1]
        positions = tf.range(count)[None, :]
        first = tf.reduce_min(tf.where(speech, positions, count), axis=1)
        last = tf.reduce_max(tf.where(speech, positions, -1), axis=1)
        found = last >= 0
        margin = int(ENDPOINT_MARGIN * self.rate)
        start = tf.where(found, tf.maximum(first * hop - margin, 0), 0)
        stop = tf.where(found, tf.minimum(last * hop + 2 * hop + margin, length), tf.shape(audio)[1])
        kept = stop - start
        index = start[:, None] + tf.range(tf.reduce_max(kept))[None, :]
        cropped = tf.gather(audio, tf.minimum(index, tf.shape(audio)[1] - 1), batch_dims=1)
        return tf.where(tf.range(tf.reduce_max(kept))[None, :] < kept[:, None], cropped, 0.0)

    def get_config(self):
        return {**super().get_config(), "rate": self.rate}


@keras.saving.register_keras_serializable(package="rnn_suite")
class SpecAugment(keras.layers.Layer):
    """In training only: one frequency band of up to `freq` mel bins and one stretch of up to `time` frames
    per example set to zero (Park et al. 2019, without time warping)."""

    def __init__(self, freq: int = 8, time: int = 10, **kwargs):
        super().__init__(**kwargs)
        self.freq, self.time = freq, time
        self.seed_generator = keras.random.SeedGenerator()  # kept with each epoch's backup, as dropout's is

    def call(self, x, training=None):
        if not training:
            return x
        shape = tf.shape(x)
        batch, frames, bins = shape[0], shape[1], shape[2]

        def band(size, width):
            w = keras.random.randint((batch, 1), 0, width + 1, dtype="int32", seed=self.seed_generator)
            room = tf.cast(tf.maximum(size - w + 1, 1), tf.float32)
            start = tf.cast(keras.random.uniform((batch, 1), seed=self.seed_generator) * room, tf.int32)
            pos = tf.range(size)[None, :]
            return (pos >= start) & (pos < start + w)
        masked = band(bins, self.freq)[:, None, :] | band(frames, self.time)[:, :, None]
        return tf.where(masked, tf.zeros_like(x), x)

    def get_config(self):
        return {**super().get_config(), "freq": self.freq, "time": self.time}


def resample_graph(audio: tf.Tensor, rate: tf.Tensor, target: int = RATE) -> tf.Tensor:
    """In-graph resampling of (batch, samples) audio from `rate` to `target` by the FFT method (as
    scipy.signal.resample): the spectrum is cut (or zero-padded) to the new length, which removes everything above
    the new Nyquist frequency."""
    def convert():
        n = tf.shape(audio)[1]
        m = tf.cast(tf.round(tf.cast(n, tf.float64) * target / tf.cast(rate, tf.float64)), tf.int32)
        spectrum = tf.signal.rfft(audio)
        bins, have = m // 2 + 1, tf.shape(spectrum)[1]
        spectrum = tf.pad(spectrum[:, :tf.minimum(bins, have)], [[0, 0], [0, tf.maximum(bins - have, 0)]])
        return tf.signal.irfft(spectrum, fft_length=tf.reshape(m, [1])) * (tf.cast(m, tf.float32) / tf.cast(n, tf.float32))
    return tf.cond(tf.equal(rate, target), lambda: audio, convert)


SURROUND_DBFS = (-65.0, -40.0)  # the faint noise training puts around a word (a quiet room to a busy one)
SURROUND_GAIN_DB = (-20.0, 6.0)  # the word's level in training (a distant to a close microphone)


def surrounded(audio: np.ndarray, most: float, rng: np.random.Generator) -> np.ndarray:
    """One training clip as a person might record it (domain.speech.surround): up to `most` seconds before and
    after, of digital silence or (as often) faint noise at a level in SURROUND_DBFS, the word at a level in
    SURROUND_GAIN_DB."""
    before, after = rng.uniform(0, most, 2)
    dbfs = None if rng.random() < 0.5 else rng.uniform(*SURROUND_DBFS)
    return audio_data.surround(audio, before, after, dbfs, rng, rng.uniform(*SURROUND_GAIN_DB))


def make_dataset(cfg: AudioConfig, clips: audio_data.Utterances, targets: list, target_spec: tf.TensorSpec,
                 shuffle_seed: int | None = None) -> tf.data.Dataset:
    """(audio (batch, samples) float32 right-padded with 0, target) with each clip's target (a class id, or token
    ids padded with 0). Batches are grouped by length so little time is spent on padding. With a `shuffle_seed`
    (training), every clip is speed-perturbed by a new random factor each epoch (cfg.speed) and given new
    surroundings (cfg.surround: `surrounded`), drawn from the seed and the epoch (shared.data.epoch_rng)."""
    training = shuffle_seed is not None
    perturb = training and (cfg.speed > 0 or cfg.surround > 0)

    def examples():
        rng = shared_data.epoch_rng(shuffle_seed) if training else None  # this epoch's draws (a resumed one alike)
        for audio, target in zip(clips.audio, targets, strict=True):
            if training and cfg.speed > 0:
                audio = perturb_speed(audio, rng.uniform(1 - cfg.speed, 1 + cfg.speed))
            if training and cfg.surround > 0:
                audio = surrounded(audio, cfg.surround, rng)
            yield audio, target
    ds = tf.data.Dataset.from_generator(examples, output_signature=(tf.TensorSpec((None,), tf.float32), target_spec))
    lengths = sorted(len(a) + (int(cfg.surround * RATE) if training else 0) for a in clips.audio)
    boundaries = sorted({lengths[int(q * (len(lengths) - 1))] for q in (0.25, 0.5, 0.75)})
    return shared_data.bucketed(ds, boundaries, cfg.batch_size, shuffle_seed=shuffle_seed, cache=not perturb)


# ----------------------------------------------------------------------------------------- model, inference

def encoder(cfg: AudioConfig, conv2d: bool = False) -> tuple[keras.KerasTensor, keras.KerasTensor]:
    """(audio input (batch, samples) at RATE, sequence features (batch, frames / 2, units)): with cfg.endpoint the
    clip cropped to its speech (Endpoint), log-mel frames (LogMel), SpecAugment in training, a convolutional front end - conv2d: 2 blocks of 3x3 kernels over time and
    frequency (shifted formants share filters); else 2 layers of 1D kernels over time - then the RNN spec of cfg.rnn
    returning every step."""
    audio = keras.Input((None,), dtype="float32", name="audio")
    x = Endpoint(RATE, name="endpoint")(audio) if cfg.endpoint else audio
    x = LogMel(RATE, cfg.mels, cfg.normalize, cfg.cepstra, cfg.vtlp, name="log_mel")(x)
    if cfg.spec_augment:
        x = SpecAugment(max(1, (cfg.cepstra or cfg.mels) // 5), 10, name="spec_augment")(x)
    if conv2d:
        x = keras.layers.Reshape((-1, cfg.cepstra or cfg.mels, 1), name="as_image")(x)
        for i, (channels, stride) in enumerate(((cfg.filters // 2, (2, 2)), (cfg.filters, (1, 2))), start=1):
            x = keras.layers.Conv2D(channels, 3, strides=stride, padding="same", use_bias=False, name=f"conv_{i}")(x)
            x = keras.layers.Activation("relu")(keras.layers.BatchNormalization(name=f"bn_{i}")(x))
        x = keras.layers.Reshape((-1, x.shape[2] * x.shape[3]), name="frames")(x)
    else:
        x = keras.layers.Conv1D(cfg.filters, 5, strides=2, padding="same", use_bias=False, name="conv_1")(x)
        x = keras.layers.Activation("relu")(keras.layers.BatchNormalization(name="bn_1")(x))
        x = keras.layers.Conv1D(cfg.filters, 3, padding="same", use_bias=False, name="conv_2")(x)
        x = keras.layers.Activation("relu")(keras.layers.BatchNormalization(name="bn_2")(x))
    spec = dataclasses.replace(layers.parse_spec(cfg.rnn), return_sequences=True)
    return audio, layers.apply_rnn(x, spec, name="rnn")


def plan(cfg: AudioConfig, model: keras.Model, train_ds: tf.data.Dataset, val_ds: tf.data.Dataset | None,
         clips: audio_data.Utterances, **choices) -> training.Plan:
    """The speech family's fit, with the task's `choices` (loss, metrics): with validation batches early stopping on
    their loss; without, every epoch runs and the last is kept. The cosine schedule spans cfg.epochs whatever epoch
    count the fit is given (so a shorter fit is the start of the longer one). Audio seconds per second are timed."""
    return training.Plan(model, train_ds, val_ds, early_stopping=val_ds is not None,
                         monitor=None if val_ds is not None else "loss", patience=8, clipnorm=5.0,
                         cosine_epochs=cfg.epochs if cfg.schedule == "cosine" else None,
                         rates={"samples": len(clips), "audio_seconds": clips.seconds()}, **choices)


def batches(clips: audio_data.Utterances, size: int = 64):
    order = np.argsort([len(a) for a in clips.audio])  # similar lengths together: little padding
    for i in range(0, len(order), size):
        index = order[i:i + size]
        yield index, keras.utils.pad_sequences([clips.audio[j] for j in index], dtype="float32", padding="post")


def forward(model: keras.Model):
    return tf.function(lambda audio: model(audio, training=False), reduce_retracing=True)


def predict_logits(model: keras.Model, clips: audio_data.Utterances, traced=None) -> list[np.ndarray]:
    """Per utterance: words -> logits (classes,); transcriber -> logits (frames, 11) of its own padded batch.
    `traced`: a `forward(model)` to reuse across calls (traced once per batch shape, not once per call)."""
    traced, out = traced or forward(model), [None] * len(clips)
    for index, audio in batches(clips):
        logits = traced(tf.constant(audio)).numpy()
        for j, k in enumerate(index):
            out[k] = logits[j]
    return out


def clip_statistics(clips: audio_data.Utterances) -> np.ndarray:
    """(clips, 80): each clip's mean and standard deviation over time of its 40 log-mel bins (LogMel, peak
    scaling), one clip at a time (no padding in the statistics) through one traced function."""
    log_mel = LogMel(RATE, 40)
    frames = tf.function(lambda audio: log_mel(audio)[0], input_signature=[tf.TensorSpec((1, None), tf.float32)])
    out = [frames(tf.constant(a[None], tf.float32)).numpy() for a in clips.audio]
    return np.stack([np.concatenate([f.mean(0), f.std(0)]) for f in out]) if out else np.zeros((0, 80), "float32")


MIN_SECONDS, MIN_PEAK = 0.1, 1e-3  # a clip shorter than a tenth of a second, or quieter than -60 dBFS, holds no word
# what a served clip may be (export metadata "input_limits"; the server and predict check them): the rates a WAV
# header may say (audio_data.read_wav_native's), float samples in [-1, 1] (with room for a little clipping)
INPUT_LIMITS = {"sample_rate": {"min": audio_data.MIN_WAV_RATE, "max": audio_data.MAX_WAV_RATE,
                                "why": "a speech recording's rate in Hz"},
                "audio": {"min": -2.0, "max": 2.0, "why": "float samples in [-1, 1]; divide int16 samples by 32768"}}


def heard_rows(wave: tf.Tensor, sample_rate: tf.Tensor) -> tf.Tensor:
    """(batch,) bool, inside a serving graph: the clips (zero-padded on the right) that are finite, at least
    MIN_SECONDS long up to their last non-zero sample and louder than MIN_PEAK - the others get "invalid input",
    not a word heard in silence or in one sample."""
    magnitude = tf.abs(tf.where(tf.math.is_finite(wave), wave, 0.0))
    positions = tf.range(1, tf.shape(wave)[1] + 1)[None, :]
    length = tf.reduce_max(tf.where(magnitude > 0, positions, 0), axis=1)
    long_enough = tf.cast(length, tf.float32) >= MIN_SECONDS * tf.cast(sample_rate, tf.float32)
    return shared_export.finite_rows(wave) & long_enough & (tf.reduce_max(magnitude, axis=1) >= MIN_PEAK)


def check_heard(label: bytes, path) -> None:
    """predict's words for a clip the export labelled "invalid input"."""
    if label.decode() == shared_export.INVALID:
        raise ValueError(f"{path}: nothing to hear - the clip is silent (below -60 dBFS), shorter than "
                         f"{MIN_SECONDS} s, or holds NaN/inf samples.")


def serve(path: str | pathlib.Path, audio: list[np.ndarray], rate: int = RATE,
          expect: str | tuple[str, ...] = ()) -> dict[str, np.ndarray]:
    """An exported speech model's serving_default on a list of clips (padded on the right), at `rate`."""
    served, _ = shared_export.load(path, expect)
    padded = keras.utils.pad_sequences(audio, dtype="float32", padding="post")
    return {k: v.numpy() for k, v in served.signatures["serving_default"](
        audio=tf.constant(padded), sample_rate=tf.constant(rate, tf.int32)).items()}


def real_time_factor(path: pathlib.Path, clips: audio_data.Utterances, batch: int = 32) -> dict:
    """Seconds of compute per second of audio through the exported signature, on a batch of `batch` clips
    (shared.export.serving_latency: median of repeated calls after a warm-up)."""
    chunk = clips.audio[:batch]
    padded = keras.utils.pad_sequences(chunk, dtype="float32", padding="post")
    latency = shared_export.serving_latency(path, {"audio": tf.constant(padded),
                                                   "sample_rate": tf.constant(RATE, tf.int32)}, repeats=5)
    audio_seconds = sum(len(a) for a in chunk) / RATE
    return {"real_time_factor": round(latency["p50_ms"] / 1000 / audio_seconds, 4),
            "audio_seconds": round(audio_seconds, 1)}
