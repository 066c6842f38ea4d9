"""Speech recognition from raw waveforms: spoken words -> label (word recognition) and spoken digit sequences ->
text (transcription with CTC). Audio -> log-mel spectrogram (tf.signal, inside the model) -> SpecAugment in
training -> convolutional front end -> bidirectional GRU -> a softmax over words, or per-frame CTC outputs.

Notebook:
    cfg = dataclasses.replace(speech.Config(), source="synthetic", epochs=3)
    clips = speech.load_data(cfg)
    words = speech.build_model(cfg, "words", clips.classes); speech.train(cfg, words, "words", clips)
    speech.evaluate_words(words, clips.test, clips.classes)["accuracy"]
"""

from __future__ import annotations

import dataclasses
import logging
import pathlib
import time
from typing import ClassVar

import keras
import numpy as np
import tensorflow as tf

from domain import sources as domain_sources
from domain import speech as audio_data
from shared import cli, layers, plots, progress, reports, training
from shared import data as shared_data
from shared import export as shared_export

log = logging.getLogger(__name__)
NAME = "speech"
TRANSCRIBER = "speech-transcriber"
TASKS = ("words", "transcribe")
SOURCES = ("auto", "local", "tfds", "synthetic")
RATE = audio_data.RATE
BLANK = 0  # CTC blank; the digit words are tokens 1..10
CLASSES_FILE = "classes.json"
NORMALIZATIONS = ("peak", "utterance")


@dataclasses.dataclass(frozen=True)
class Config:
    source: str = "auto"          # auto | local (--data-dir: FSDD or <word>/*.wav) | tfds | synthetic (eSpeak NG)
    data_dir: str = ""
    dataset: str = "spoken_digit"  # TFDS dataset for --source tfds: spoken_digit | speech_commands
    task: str = "both"            # words | transcribe | both
    test_speakers: str = ""       # comma-separated speakers held out as the test set, touched once at the end;
                                  # default: m4,f3 (synthetic); none for local/TFDS data (all speakers train)
    cv_folds: int = 4             # leave-speakers-out cross-validation over the training speakers (folds of whole
                                  # speakers; FSDD's 4 speakers: one each) choosing the epoch count; 0: off
    synthetic_mix: int = 10       # local/TFDS digits: eSpeak NG takes per digit and voice added to the word
                                  # model's training (not the transcriber's: it hurt there)
    takes: int = 8                # synthetic: takes per word and speaker
    sequences: int = 3000         # transcription: digit sequences built for training (a third as many for testing)
    rnn: str = "bigru:64"         # shared.layers spec of the recurrent part
    mels: int = 40                # mel bands of the log-mel spectrogram (25 ms windows every 10 ms)
    filters: int = 64             # channels of the convolutional front end
    front: str = "conv2d"         # word model: conv2d (2 blocks of 3x3 kernels over time and frequency) | conv1d
                                  # (over time); the transcriber keeps conv1d (conv2d: ~4x its training time)
    normalize: str = "utterance"  # log-mel normalisation (LogMel): utterance (per-bin mean, unit variance) | peak
    cepstra: int = 0              # > 0: MFCCs, the first `cepstra` cepstral coefficients of the log-mel frames
    spec_augment: bool = True     # frequency and time masks on training spectrograms
    speed: float = 0.15           # training clips resampled by a random factor in 1 +- speed each epoch (0: off)
    beam_width: int = 8           # CTC beam search
    batch_size: int = 32
    epochs: int = 10              # word model: the most epochs; with cv_folds the cross-validation picks the count
                                  # (else early stopping on validation clips)
    transcribe_epochs: int = 20   # transcriber: the most epochs (early stopping on its validation sequences)
    learning_rate: float = 2e-3
    schedule: str = "cosine"      # learning rate: cosine (falls to ~0 over the task's most epochs; a shorter run is
                                  # the same curve's prefix, so a cross-validated epoch count still holds) | constant
    seed: int = 1337
    jit_compile: bool = False  # XLA; the default is whichever trained faster here (make bench, BENCHMARKS.md)
    run_dir: str = "runs/speech"  # words/ and transcriber/ checkpoints, the report

    CHOICES: ClassVar[dict] = {  # the command line lists these
        "source": SOURCES, "task": (*TASKS, "both"), "dataset": ("spoken_digit", "speech_commands"),
        "normalize": NORMALIZATIONS, "schedule": ("constant", "cosine"), "front": ("conv1d", "conv2d")}

    def __post_init__(self):
        layers.parse_spec(self.rnn)
        cli.check_choices(self)
        if not 0.0 <= self.speed < 0.5:
            raise ValueError(f"--speed {self.speed}: expected a fraction in [0, 0.5).")
        if self.cv_folds == 1 or self.cv_folds < 0 or self.synthetic_mix < 0:
            raise ValueError("need --cv-folds 0 (off) or >= 2 and --synthetic-mix >= 0.")
        if not 0 <= self.cepstra <= self.mels:
            raise ValueError(f"--cepstra {self.cepstra}: expected 0 (log-mel) to --mels {self.mels}.")
        if min(self.takes, self.mels, self.filters, self.beam_width) < 1 or self.sequences < 20:
            raise ValueError("need --takes, --mels, --filters, --beam-width >= 1 and --sequences >= 20.")
        training.check_options(self.batch_size, min(self.epochs, self.transcribe_epochs), self.learning_rate)

    @property
    def tasks(self) -> tuple[str, ...]:
        return TASKS if self.task == "both" else (self.task,)


QUICK = {"source": "synthetic", "takes": 3, "sequences": 800, "rnn": "bigru:24", "filters": 24, "mels": 32,
         "transcribe_epochs": 12, "schedule": "constant",
         "epochs": 12, "learning_rate": 4e-3, "beam_width": 4, "cv_folds": 0}


# ----------------------------------------------------------------------------------------------------- data

@dataclasses.dataclass
class SpeechData:
    """Single-word utterances: train and validation from training speakers (validation empty when the
    cross-validation chooses the epoch count instead), test from held-out speakers (may be empty); extra: synthetic
    voices added to every training set (never validation or test)."""

    train: audio_data.Utterances
    validation: audio_data.Utterances
    test: audio_data.Utterances
    classes: list[str]
    source: str
    notes: list[str]
    extra: audio_data.Utterances = dataclasses.field(default_factory=lambda: audio_data.Utterances([], [], []))


def joined(*parts: audio_data.Utterances) -> audio_data.Utterances:
    return audio_data.Utterances(*(sum((getattr(p, f) for p in parts), []) for f in ("audio", "texts", "speakers")))


def _validation_split(rest: audio_data.Utterances, seed: int) -> tuple[audio_data.Utterances, audio_data.Utterances]:
    order = np.random.default_rng(seed).permutation(len(rest))
    cut = max(1, len(rest) // 10)
    return rest.subset(sorted(order[cut:])), rest.subset(sorted(order[:cut]))


def load_data(cfg: Config) -> SpeechData:
    """Utterances of the source, split speaker-independently: the test speakers' recordings only in test. With
    cfg.cv_folds the other speakers' recordings all train (the cross-validation picks the epoch count); without,
    validation is a random tenth of them (early stopping). cfg.synthetic_mix adds eSpeak NG voices saying the
    digits to training (real data only)."""
    source, notes = domain_sources.resolve_auto(cfg.source, cfg.data_dir), []
    chosen = [s for s in cfg.test_speakers.split(",") if s.strip()]
    if source == "tfds" and cfg.dataset == "speech_commands":
        train = audio_data.load_tfds(cfg.dataset, "train", cfg.data_dir or None)
        validation = audio_data.load_tfds(cfg.dataset, "validation", cfg.data_dir or None)
        test = audio_data.load_tfds(cfg.dataset, "test", cfg.data_dir or None)
        where = "tfds: speech_commands (its own speaker-independent train/validation/test splits)"
    else:
        if source == "local":
            if not cfg.data_dir:
                raise FileNotFoundError("--source local needs --data-dir (FSDD recordings or <word>/*.wav).")
            clips, where = audio_data.load_folder(cfg.data_dir), f"local: {cfg.data_dir}"
        elif source == "tfds":
            clips, where = audio_data.load_tfds(cfg.dataset, "train", cfg.data_dir or None), f"tfds: {cfg.dataset}"
        else:
            clips = audio_data.synthesize(takes=cfg.takes, seed=cfg.seed)
            where = (f"synthetic: eSpeak NG, {len(audio_data.SYNTH_SPEAKERS)} voices x {len(audio_data.SYNTH_ACCENTS)}"
                     f" accents, {cfg.takes} takes per word, noise 10-30 dB SNR")
        if not chosen and source == "synthetic":
            chosen = list(audio_data.SYNTH_TEST_SPEAKERS)
        rest, test = audio_data.speaker_split(clips, chosen)
        train, validation = (rest, rest.subset([])) if cfg.cv_folds else _validation_split(rest, cfg.seed)
        where += f"; test speakers {','.join(chosen)}" if chosen else "; no test speakers (all train)"
    classes = sorted(set(train.texts), key=lambda w: (w not in audio_data.DIGITS, audio_data.DIGITS.index(w)
                                                       if w in audio_data.DIGITS else 0, w))
    unseen = sorted(set(test.texts) - set(classes))
    if unseen:
        raise ValueError(f"test words {unseen} never occur in training; choose other --test-speakers.")
    extra = audio_data.Utterances([], [], [])
    digits = [w for w in classes if w in audio_data.DIGITS]
    if cfg.synthetic_mix and source != "synthetic" and digits:
        extra = audio_data.synthesize(digits, takes=cfg.synthetic_mix, seed=cfg.seed)
        where += (f"; training adds {len(extra)} eSpeak NG utterances ({len(audio_data.SYNTH_SPEAKERS)} voices x "
                  f"{cfg.synthetic_mix} takes of each digit)")
    log.info("%s: train %d, validation %d, test %d utterances (%.0f s of test audio), %d words", where, len(train),
             len(validation), len(test), test.seconds(), len(classes))
    return SpeechData(train, validation, test, classes, where, notes, extra)


def transcription_data(cfg: Config, clips: SpeechData) -> tuple[audio_data.Utterances, ...]:
    """(train, validation, test) digit sequences (2-5 words, pauses 50-300 ms), each from its own speakers' words:
    train from the training speakers (not the synthetic voices: with them a held-out FSDD speaker's WER was 50.3%,
    without 37.6%), validation (early stopping only) from a tenth of the training words when the word split has
    none, test from the test speakers (empty without them)."""
    n = cfg.sequences
    train, validation = (clips.train, clips.validation) if len(clips.validation) else \
        _validation_split(clips.train, cfg.seed)
    test = audio_data.sequences(clips.test, n // 3, cfg.seed + 2) if len(clips.test) else clips.test
    return (audio_data.sequences(train, n, cfg.seed),
            audio_data.sequences(validation, n // 6, cfg.seed + 1), test)


def encode_text(text: str) -> list[int]:
    return [audio_data.DIGITS.index(w) + 1 for w in text.split()]


def decode_tokens(tokens) -> str:
    return " ".join(audio_data.DIGITS[t - 1] for t in tokens if 0 < t <= len(audio_data.DIGITS))


def perturb_speed(audio: np.ndarray, factor: float) -> np.ndarray:
    """The clip played `factor` times faster (tempo and pitch together, as a tape: Ko et al. 2015's speed
    perturbation); FFT resampling (scipy.signal.resample) to round(len / factor) samples."""
    from scipy.signal import resample

    return resample(audio, max(1, round(len(audio) / factor))).astype("float32")


def make_dataset(cfg: Config, clips: audio_data.Utterances, task: str, classes: list[str],
                 shuffle_seed: int | None = None) -> tf.data.Dataset:
    """(audio (batch, samples) float32 right-padded with 0, target): a class id for words, token ids padded with 0
    for transcription. Batches are grouped by length so little time is spent on padding. With a `shuffle_seed`
    (training) and `cfg.speed`, every clip is speed-perturbed by a new random factor each epoch (seeded)."""
    if task == "words":
        targets = [classes.index(t) for t in clips.texts]
        target_spec = tf.TensorSpec((), tf.int32)
    else:
        targets = [encode_text(t) for t in clips.texts]
        target_spec = tf.TensorSpec((None,), tf.int32)
    perturb = shuffle_seed is not None and cfg.speed > 0
    rng = np.random.default_rng(shuffle_seed)

    def examples():
        for audio, target in zip(clips.audio, targets, strict=True):
            yield (perturb_speed(audio, rng.uniform(1 - cfg.speed, 1 + cfg.speed)) if perturb else audio), target
    ds = tf.data.Dataset.from_generator(examples, output_signature=(tf.TensorSpec((None,), tf.float32), target_spec))
    lengths = sorted(len(a) for a in clips.audio)
    boundaries = sorted({lengths[int(q * (len(lengths) - 1))] for q in (0.25, 0.5, 0.75)})
    return shared_data.bucketed(ds, boundaries, cfg.batch_size, shuffle_seed=shuffle_seed, cache=not perturb)


# ---------------------------------------------------------------------------------------------------- model

@keras.saving.register_keras_serializable(package="rnn_suite")
class LogMel(keras.layers.Layer):
    """Waveform (batch, samples) at `rate` -> log-mel frames (batch, frames, mels): 25 ms Hann windows every 10 ms,
    |STFT|^2 through a mel filter bank (tf.signal), natural log, relative to the utterance's loudest bin and
    floored at -80 dB, so the gain of a recording does not matter. Then `normalize`:
    "peak": scaled to about [-1, 1];
    "utterance": each mel bin's mean over the utterance removed and the utterance scaled to unit variance
    (cepstral mean and variance normalisation: a microphone's or a voice's fixed spectral tilt cancels out).
    Statistics use the utterance's own frames only: trailing zeros are padding, and padded frames come out 0."""

    def __init__(self, rate: int = RATE, mels: int = 40, normalize: str = "peak", cepstra: int = 0, **kwargs):
        super().__init__(**kwargs)
        if normalize not in NORMALIZATIONS:
            raise ValueError(f"LogMel normalize={normalize!r}: expected one of {list(NORMALIZATIONS)}.")
        self.rate, self.mels, self.normalize, self.cepstra = rate, mels, normalize, cepstra
        self.frame, self.step = int(0.025 * rate), int(0.010 * rate)
        self.fft = 1 << (self.frame - 1).bit_length()

    def call(self, audio):
        audio = tf.cast(audio, tf.float32)
        stft = tf.signal.stft(audio, self.frame, self.step, self.fft, pad_end=True)
        matrix = tf.signal.linear_to_mel_weight_matrix(self.mels, self.fft // 2 + 1, self.rate, 20.0, self.rate / 2)
        log_mel = tf.math.log(tf.tensordot(tf.square(tf.abs(stft)), matrix, 1) + 1e-10)
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
                "cepstra": self.cepstra}


@keras.saving.register_keras_serializable(package="rnn_suite")
class SpecAugment(keras.layers.Layer):
    """In training only: one frequency band of up to `freq` mel bins and one stretch of up to `time` frames
    per example set to zero (Park et al. 2019, without time warping)."""

    def __init__(self, freq: int = 8, time: int = 10, **kwargs):
        super().__init__(**kwargs)
        self.freq, self.time = freq, time

    def call(self, x, training=None):
        if not training:
            return x
        shape = tf.shape(x)
        batch, frames, bins = shape[0], shape[1], shape[2]

        def band(size, width):
            w = tf.random.uniform((batch, 1), 0, width + 1, dtype=tf.int32)
            room = tf.cast(tf.maximum(size - w + 1, 1), tf.float32)
            start = tf.cast(tf.random.uniform((batch, 1)) * room, tf.int32)
            pos = tf.range(size)[None, :]
            return (pos >= start) & (pos < start + w)
        masked = band(bins, self.freq)[:, None, :] | band(frames, self.time)[:, :, None]
        return tf.where(masked, tf.zeros_like(x), x)

    def get_config(self):
        return {**super().get_config(), "freq": self.freq, "time": self.time}


@keras.saving.register_keras_serializable(package="rnn_suite")
def ctc_loss(y_true, logits):
    """CTC over the frames of each example; targets are token ids right-padded with 0 (the blank, never a label)."""
    y_true = keras.ops.cast(y_true, "int32")
    target_length = keras.ops.sum(keras.ops.cast(keras.ops.not_equal(y_true, BLANK), "int32"), axis=1)
    frames = keras.ops.shape(logits)[1]
    output_length = keras.ops.full((keras.ops.shape(logits)[0],), frames, dtype="int32")
    return keras.ops.mean(keras.ops.ctc_loss(y_true, logits, target_length, output_length, mask_index=BLANK))


def build_model(cfg: Config, task: str, classes: list[str]) -> keras.Model:
    """audio (batch, samples) at RATE -> words: logits (batch, classes); transcribe: logits (batch, frames/2,
    11) with the CTC blank at 0."""
    audio = keras.Input((None,), dtype="float32", name="audio")
    x = LogMel(RATE, cfg.mels, cfg.normalize, cfg.cepstra, name="log_mel")(audio)
    if cfg.spec_augment:
        x = SpecAugment(max(1, (cfg.cepstra or cfg.mels) // 5), 10, name="spec_augment")(x)
    if cfg.front == "conv2d" and task == "words":  # kernels slide along frequency too: shifted formants share filters
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
    x = layers.apply_rnn(x, spec, name="rnn")
    if task == "words":
        pooled = keras.layers.Concatenate()([keras.layers.GlobalAveragePooling1D()(x), keras.layers.GlobalMaxPooling1D()(x)])
        logits = keras.layers.Dense(len(classes), name="logits", dtype="float32")(keras.layers.Dropout(0.3)(pooled))
        return keras.Model(audio, logits, name="speech_words")
    logits = keras.layers.Dense(len(audio_data.DIGITS) + 1, name="logits", dtype="float32")(keras.layers.Dropout(0.2)(x))
    return keras.Model(audio, logits, name="speech_transcriber")


def task_dir(cfg: Config, task: str) -> pathlib.Path:
    return pathlib.Path(cfg.run_dir) / ("words" if task == "words" else "transcriber")


def train(cfg: Config, model: keras.Model, task: str, train_clips: audio_data.Utterances,
          validation_clips: audio_data.Utterances | None, classes: list[str], epochs: int | None = None,
          **fit_options) -> keras.callbacks.History:
    """Fit on `train_clips` (speed-perturbed each epoch). With validation clips: early stopping on their loss;
    without: `epochs` (default: the task's most epochs) all run and the last is kept (a count the cross-validation
    chose). The cosine schedule spans the task's most epochs whatever `epochs` is."""
    folder = task_dir(cfg, task)
    training.save_beside_checkpoint(folder, CLASSES_FILE, classes)
    words, validate = task == "words", validation_clips is not None and len(validation_clips) > 0
    most = cfg.epochs if words else cfg.transcribe_epochs
    history = training.fit(
        model, make_dataset(cfg, train_clips, task, classes, cfg.seed),
        make_dataset(cfg, validation_clips, task, classes) if validate else None,
        run_dir=folder, epochs=epochs or most, learning_rate=cfg.learning_rate, early_stopping=validate,
        monitor=None if validate else "loss", jit_compile=cfg.jit_compile, seed=cfg.seed, patience=8, clipnorm=5.0,
        cosine_epochs=most if cfg.schedule == "cosine" else None,
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True) if words else ctc_loss,
        metrics=["accuracy"] if words else (), samples_per_epoch=len(train_clips), **fit_options, options=dataclasses.asdict(cfg))
    if history.timing.get("seconds_per_epoch"):
        history.timing["audio_seconds_per_second"] = round(train_clips.seconds() / history.timing["seconds_per_epoch"], 1)
    return history


def load_trained(cfg: Config, task: str) -> tuple[keras.Model, list[str]]:
    folder = task_dir(cfg, task)
    return training.load_checkpoint(folder, NAME), training.load_beside_checkpoint(folder, CLASSES_FILE, NAME)


# ----------------------------------------------------------------------------------------------- evaluation

def _batches(clips: audio_data.Utterances, size: int = 64):
    order = np.argsort([len(a) for a in clips.audio])  # similar lengths together: little padding
    for i in range(0, len(order), size):
        index = order[i:i + size]
        yield index, keras.utils.pad_sequences([clips.audio[j] for j in index], dtype="float32", padding="post")


def _forward(model: keras.Model):
    return tf.function(lambda audio: model(audio, training=False), reduce_retracing=True)


def predict_logits(model: keras.Model, clips: audio_data.Utterances, forward=None) -> list[np.ndarray]:
    """Per utterance: words -> logits (classes,); transcriber -> logits (frames, 11) of its own padded batch.
    `forward`: a `_forward(model)` to reuse across calls (traced once per batch shape, not once per call)."""
    forward, out = forward or _forward(model), [None] * len(clips)
    for index, audio in _batches(clips):
        logits = forward(tf.constant(audio)).numpy()
        for j, k in enumerate(index):
            out[k] = logits[j]
    return out


def ctc_decode(logits: np.ndarray, beam_width: int = 1) -> list[str]:
    """Texts from CTC logits (batch, frames, 11): greedy (beam_width 1: best token per frame, repeats merged,
    blanks removed) or beam search (keras.ops.ctc_decode)."""
    logits = np.asarray(logits, "float32")
    lengths = np.full(len(logits), logits.shape[1], "int32")
    strategy = {"strategy": "greedy"} if beam_width == 1 else {"strategy": "beam_search", "beam_width": beam_width}
    decoded, _ = keras.ops.ctc_decode(keras.ops.log_softmax(logits), lengths, mask_index=BLANK, **strategy)
    return [decode_tokens([t for t in row if t > 0]) for row in np.asarray(decoded[0])]


def clip_statistics(clips: audio_data.Utterances) -> np.ndarray:
    """(clips, 80): each clip's mean and standard deviation over time of its 40 log-mel bins (LogMel, peak
    scaling), one clip at a time (no padding in the statistics) through one traced function."""
    log_mel = LogMel(RATE, 40)
    frames = tf.function(lambda audio: log_mel(audio)[0], input_signature=[tf.TensorSpec((1, None), tf.float32)])
    out = [frames(tf.constant(a[None], tf.float32)).numpy() for a in clips.audio]
    return np.stack([np.concatenate([f.mean(0), f.std(0)]) for f in out]) if out else np.zeros((0, 80), "float32")


def baseline_words(train: tuple[np.ndarray, list[str]], test: tuple[np.ndarray, list[str]], classes: list[str]) -> dict:
    """Chance, the majority class, and a non-recurrent model: logistic regression on (clip_statistics, words) of
    the training clips, scored on the test clips'."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    classifier = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    classifier.fit(*train)
    majority = max(set(train[1]), key=train[1].count)
    return {"log-mel statistics + logistic regression": {"accuracy": 100 * float(np.mean(
                classifier.predict(test[0]) == np.array(test[1])))},
            "majority class": {"accuracy": 100 * float(np.mean(np.array(test[1]) == majority))},
            "chance": {"accuracy": 100 / len(classes)}}


def predict_words(model: keras.Model, clips: audio_data.Utterances, classes: list[str]) -> list[str]:
    return [classes[int(np.argmax(logit))] for logit in predict_logits(model, clips)]


def evaluate_words(model: keras.Model, test: audio_data.Utterances, classes: list[str]) -> dict:
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score

    predicted = predict_words(model, test, classes)
    return {"accuracy": 100 * float(accuracy_score(test.texts, predicted)),
            "macro F1": 100 * float(f1_score(test.texts, predicted, labels=classes, average="macro", zero_division=0)),
            "confusion": confusion_matrix(test.texts, predicted, labels=classes)}


def error_rates(hypotheses: list[str], references: list[str]) -> dict:
    import jiwer

    return {"WER": 100 * jiwer.wer(references, hypotheses), "CER": 100 * jiwer.cer(references, hypotheses)}


def evaluate_transcriber(model: keras.Model, test: audio_data.Utterances, beam_width: int, seed: int = 0) -> dict:
    """WER/CER (jiwer) of greedy and beam CTC decoding, and of random digits of the right count (baseline)."""
    logits = predict_logits(model, test)
    greedy = [ctc_decode(frames[None])[0] for frames in progress.progress(logits, "greedy decoding", unit="clip")]
    beam = [ctc_decode(frames[None], beam_width)[0] for frames in progress.progress(logits, "beam decoding", unit="clip")]
    rng = np.random.default_rng(seed)
    guess = [" ".join(rng.choice(audio_data.DIGITS, len(t.split()))) for t in test.texts]
    return {"greedy": error_rates(greedy, test.texts), f"beam {beam_width}": error_rates(beam, test.texts),
            "random digits, right count (baseline)": error_rates(guess, test.texts),
            "examples": [{"reference": r, "greedy": g, "beam": b} for r, g, b in zip(test.texts, greedy, beam, strict=True)][:8]}


# ------------------------------------------------------------------------------------------ export, predict

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


SIGNATURE = [tf.TensorSpec((None, None), tf.float32, name="audio"), tf.TensorSpec((), tf.int32, name="sample_rate")]


def export(model: keras.Model, task: str, classes: list[str], cfg: Config, metrics: dict, source: str,
           root: str | pathlib.Path = shared_export.DEFAULT_ROOT) -> pathlib.Path:
    """serving_default(audio (batch, samples) float32 in [-1, 1], zero-padded on the right; sample_rate int32
    scalar, any rate: resampled in the graph) -> words: label [batch] string + probabilities [batch, classes];
    transcribe: text [batch] string (greedy CTC decoding in the graph). Audio holding NaN or inf is labelled
    "invalid input" (probabilities NaN), never a word."""
    names = tf.constant(classes)
    digits = tf.constant(["", *audio_data.DIGITS])

    def serve_words(audio, sample_rate):
        logits = model(resample_graph(audio, sample_rate), training=False)
        probabilities, label = shared_export.flag_non_finite(tf.nn.softmax(logits),
                                                             tf.gather(names, tf.argmax(logits, axis=-1)), audio)
        return {"label": label, "probabilities": probabilities}

    def serve_text(audio, sample_rate):
        logits = model(resample_graph(audio, sample_rate), training=False)
        best = tf.argmax(logits, axis=-1, output_type=tf.int32)  # greedy CTC: merge repeats, drop blanks
        previous = tf.pad(best[:, :-1], [[0, 0], [1, 0]], constant_values=-1)
        keep = tf.logical_and(tf.not_equal(best, BLANK), tf.not_equal(best, previous))
        words = tf.where(keep, tf.gather(digits, best), "")
        joined = tf.strings.reduce_join(words, axis=1, separator=" ")
        text = tf.strings.strip(tf.strings.regex_replace(joined, " +", " "))
        return {"text": tf.where(shared_export.finite_rows(audio), text, shared_export.INVALID)}

    meta = {"config": cfg, "source": source, "task": task, "classes": classes, "model_sample_rate": RATE,
            "metrics": metrics}
    return shared_export.save(model, NAME if task == "words" else TRANSCRIBER,
                              serve_fn=serve_words if task == "words" else serve_text, input_signature=SIGNATURE,
                              metadata=meta, root=root)


def serve(path: str | pathlib.Path, audio: list[np.ndarray], rate: int = RATE) -> dict[str, np.ndarray]:
    served, _ = shared_export.load(path, (NAME, TRANSCRIBER))
    padded = keras.utils.pad_sequences(audio, dtype="float32", padding="post")
    return {k: v.numpy() for k, v in served.signatures["serving_default"](
        audio=tf.constant(padded), sample_rate=tf.constant(rate, tf.int32)).items()}


def predict(wav: str | pathlib.Path, root: str | pathlib.Path = shared_export.DEFAULT_ROOT,
            model_path: str | pathlib.Path | None = None) -> dict:
    """What the latest exported models hear in a WAV file (any rate; stereo mixed down): {'word': ..., 'text': ...}
    for whichever of the two models exist (--model: one given export)."""
    audio, rate = audio_data.read_wav_native(wav)
    paths = [pathlib.Path(model_path)] if model_path else [
        pathlib.Path(root) / n / str(shared_export.versions(pathlib.Path(root) / n)[-1])
        for n in (NAME, TRANSCRIBER) if shared_export.versions(pathlib.Path(root) / n)]
    if not paths:
        raise FileNotFoundError("no exported speech model; run 'make train-speech' first.")
    result = {"seconds": round(len(audio) / rate, 3)}
    for path in paths:
        out = serve(path, [audio], rate)
        if "label" in out:
            result["word"], result["probability"] = out["label"][0].decode(), float(out["probabilities"][0].max())
        else:
            result["text"] = out["text"][0].decode()
    return result


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


# ------------------------------------------------------------------------------------------------ reporting

ANCHORS = {
    "Warden 2018, Speech Commands v0.02 (12 classes, conv baseline)": {"accuracy": 88.2, "task": "words"},
    "TensorFlow simple audio recognition tutorial (mini Speech Commands, 8 words, CNN)": {
        "accuracy": "~80-90 in the notebook output (varies by version; not a paper figure)", "task": "words"},
    "Keras 'ASR with CTC' example (LJSpeech, 2D CNN + 5 BiGRU, ~50 epochs)": {"WER": "~16-17%", "task": "transcribe"},
}


def cross_validate(cfg: Config, clips: SpeechData, verbose: int | str = 0) -> dict:
    """Leave-speakers-out cross-validation of the word model on the training speakers: cfg.cv_folds folds of whole
    speakers (shared.validation; with as many folds as speakers, one speaker each). Each fold's model trains
    cfg.epochs epochs on the other speakers (and the synthetic voices) and is scored on its unseen speakers after
    every epoch; the epoch count with the best pooled accuracy is the one the final model trains for. The
    log-mel + LR baseline runs on the same folds. A finished fold is read back from words/cv/fold-i on a rerun."""
    from shared import validation

    pool, classes = clips.train, clips.classes
    labels = np.array([classes.index(t) for t in pool.texts])
    speakers = np.array(pool.speakers)
    folds = validation.grouped_folds(labels, speakers, min(cfg.cv_folds, len(set(pool.speakers))), seed=cfg.seed)

    def accuracy(y, p):
        return 100 * float(np.mean(np.asarray(y) == np.asarray(p)))

    def fit_fold(i, fit_index, test_index, fold_dir):
        held = pool.subset(test_index)
        log.info("cv fold %d/%d: unseen speakers %s", i, len(folds), sorted(set(held.speakers)))
        keras.utils.set_random_seed(cfg.seed)
        model = build_model(cfg, "words", classes)
        forward = _forward(model)
        scores = training.EpochScores(lambda m: [int(np.argmax(x)) for x in predict_logits(m, held, forward)],
                                      labels[test_index], accuracy, "heldout_accuracy")
        train(dataclasses.replace(cfg, run_dir=str(fold_dir)), model, "words",
              joined(pool.subset(fit_index), clips.extra), None, classes, scorers=(scores,), verbose=verbose,
              tensorboard=False)
        return scores.predictions
    cv = validation.epoch_folds(labels, folds, task_dir(cfg, "words"), dataclasses.asdict(cfg), fit_fold, accuracy)
    rows, stats, extra = [], clip_statistics(pool), clip_statistics(clips.extra)
    for (fit_index, test_index), predicted in zip(folds, cv["predictions"], strict=True):
        held = pool.subset(test_index)
        lr = baseline_words((np.concatenate([stats[fit_index], extra]), pool.subset(fit_index).texts + clips.extra.texts),
                            (stats[test_index], held.texts), classes)
        rows.append({"speakers": ",".join(sorted(set(held.speakers))), "accuracy": accuracy(labels[test_index], predicted),
                     "log-mel + LR": lr["log-mel statistics + logistic regression"]["accuracy"]})
    return {"folds": rows, "best_epoch": cv["best_epoch"], "curve": cv["curve"],
            "mean_sd": validation.mean_sd([{k: r[k] for k in ("accuracy", "log-mel + LR")} for r in rows]),
            "worst": {k: min(r[k] for r in rows) for k in ("accuracy", "log-mel + LR")}}


def write_report(cfg: Config, clips: SpeechData, results: dict, timing: dict) -> None:
    metrics, baselines, figures, sections = {}, {}, {}, {}
    cv = results.get("cv")
    if cv:
        (mean, sd), (lr_mean, lr_sd) = cv["mean_sd"]["accuracy"], cv["mean_sd"]["log-mel + LR"]
        metrics["words, cross-validation"] = {"accuracy mean": mean, "accuracy sd": sd,
                                              "worst speaker": cv["worst"]["accuracy"], "epochs": cv["best_epoch"]}
        baselines["words (cross-validation): this model"] = {"mean": mean, "sd": sd, "worst": cv["worst"]["accuracy"]}
        baselines["words (cross-validation): log-mel statistics + LR"] = {
            "mean": lr_mean, "sd": lr_sd, "worst": cv["worst"]["log-mel + LR"]}
        sections["Cross-validation (leave speakers out)"] = "\n".join(
            [f"Folds of whole speakers over the training speakers; each fold's model never heard its speakers. "
             f"Epoch count chosen by pooled held-out accuracy: {cv['best_epoch']} (curve: "
             f"{', '.join(f'{c:.1f}' for c in cv['curve'])}).", "",
             "| unseen speakers | this model | log-mel + LR |", "|---|---:|---:|",
             *[f"| {r['speakers']} | {r['accuracy']:.1f}% | {r['log-mel + LR']:.1f}% |" for r in cv["folds"]],
             f"| **mean +- sd** | **{mean:.1f} +- {sd:.1f}%** | {lr_mean:.1f} +- {lr_sd:.1f}% |",
             f"| **worst speaker** | **{cv['worst']['accuracy']:.1f}%** | {cv['worst']['log-mel + LR']:.1f}% |"])
    if results.get("words"):
        words = results["words"]
        metrics["words"] = {"accuracy": words["accuracy"], "macro F1": words["macro F1"]}
        baselines.update({f"words: {k}": v for k, v in words["baselines"].items()})
        baselines["words: this model"] = {"accuracy": words["accuracy"]}
        figures["confusion"] = plots.confusion_figure(words["confusion"], clips.classes)
    if results.get("transcribe"):
        text = results["transcribe"]
        metrics["transcription"] = {k: v for k, v in text.items() if k not in ("examples", "data")}
        baselines.update({f"transcription: {k}": v for k, v in metrics["transcription"].items()})
        sections["Transcription examples"] = "\n".join(
            f"- said *{e['reference']}*: greedy *{e['greedy']}*, beam *{e['beam']}*" for e in text["examples"])
        sections["Transcription data"] = text["data"]
    if not len(clips.test):
        sections["Test"] = ("No test speakers (--test-speakers): every speaker trained the final models; the figures "
                            "on unseen speakers are the cross-validation's.")
    sections["Notes"] = "\n".join(f"- {n}" for n in clips.notes) or "- none"
    reports.write(cfg.run_dir, domain=NAME, source=clips.source, metrics=metrics, baselines=baselines,
                  anchors=ANCHORS, timing=timing, figures=figures, sections=sections,
                  extra={"config": dataclasses.asdict(cfg), "classes": clips.classes, "cv": cv})


def _test_words(model: keras.Model, clips: SpeechData) -> dict | None:
    """Accuracy on the test speakers (touched once, at the end) beside the baselines; None without test speakers."""
    if not len(clips.test):
        return None
    fit = joined(clips.train, clips.extra)
    return {**evaluate_words(model, clips.test, clips.classes),
            "baselines": baseline_words((clip_statistics(fit), fit.texts), (clip_statistics(clips.test), clips.test.texts),
                                        clips.classes)}


def _test_transcriber(model: keras.Model, cfg: Config, test_seq: audio_data.Utterances) -> dict | None:
    if not len(test_seq):
        return None
    return {**evaluate_transcriber(model, test_seq, cfg.beam_width, cfg.seed),
            "data": f"{len(test_seq)} test sequences of 2-5 digits ({test_seq.seconds():.0f} s of audio)"}


def run(cfg: Config, export_root: str | pathlib.Path = shared_export.DEFAULT_ROOT, verbose: int | str = "auto") -> dict:
    """data -> (cross-validation of the word model) -> word model -> transcriber -> test (when test speakers
    exist) -> export -> report."""
    start = time.perf_counter()
    keras.utils.set_random_seed(cfg.seed)
    clips = load_data(cfg)
    results, timing, summary = {}, {}, {}
    if "words" in cfg.tasks:
        epochs = None
        if cfg.cv_folds:
            results["cv"] = cross_validate(cfg, clips)
            epochs = results["cv"]["best_epoch"]
            mean, sd = results["cv"]["mean_sd"]["accuracy"]
            summary.update({"cv accuracy": round(mean, 2), "cv sd": round(sd, 2),
                            "cv worst speaker": round(results["cv"]["worst"]["accuracy"], 2)})
            timing["words cross-validation seconds"] = round(time.perf_counter() - start, 1)
        keras.utils.set_random_seed(cfg.seed)
        model = build_model(cfg, "words", clips.classes)
        history = train(cfg, model, "words", joined(clips.train, clips.extra), clips.validation, clips.classes,
                        epochs=epochs, verbose=verbose)
        results["words"] = _test_words(model, clips)
        accuracy = results["words"]["accuracy"] if results["words"] else None
        path = export(model, "words", clips.classes, cfg, {"accuracy": accuracy, "cv": summary}, clips.source,
                      export_root)
        timing.update({f"words {k}": v for k, v in {**history.timing, **real_time_factor(
            path, clips.test if len(clips.test) else clips.train)}.items()})
        summary.update({"accuracy": accuracy, "export": str(path)})
    if "transcribe" in cfg.tasks:
        train_seq, val_seq, test_seq = transcription_data(cfg, clips)
        model = build_model(cfg, "transcribe", clips.classes)
        history = train(cfg, model, "transcribe", train_seq, val_seq, clips.classes, verbose=verbose)
        results["transcribe"] = text = _test_transcriber(model, cfg, test_seq)
        if text:
            text["data"] = f"{len(train_seq)} training sequences; " + text["data"]
        path = export(model, "transcribe", clips.classes, cfg, text["greedy"] if text else {}, clips.source,
                      export_root)
        timing.update({f"transcriber {k}": v for k, v in {**history.timing, **real_time_factor(
            path, test_seq if len(test_seq) else val_seq)}.items()})
        summary.update({"WER": text["greedy"]["WER"] if text else None,
                        "CER": text["greedy"]["CER"] if text else None, "transcriber": str(path)})
    timing["run_seconds"] = round(time.perf_counter() - start, 1)
    write_report(cfg, clips, results, timing)
    return summary


def _evaluate_command(cfg: Config, args) -> dict:
    clips, results = load_data(cfg), {}
    if not len(clips.test):
        raise ValueError("evaluate needs test speakers the models never heard: pass --test-speakers (and train "
                         "with the same) or read the cross-validation in the training report.")
    if "words" in cfg.tasks:
        results["words"] = _test_words(load_trained(cfg, "words")[0], clips)
    if "transcribe" in cfg.tasks:
        results["transcribe"] = _test_transcriber(load_trained(cfg, "transcribe")[0], cfg,
                                                  transcription_data(cfg, clips)[2])
    write_report(cfg, clips, results, {})
    return {task: {k: v for k, v in r.items() if k in ("accuracy", "greedy")} for task, r in results.items()}


def _export_command(cfg: Config, args) -> dict:
    out = {}
    for task in cfg.tasks:
        model, classes = load_trained(cfg, task)
        out[task] = str(export(model, task, classes, cfg, reports.checkpoint_metrics(cfg.run_dir),
                                  "checkpoint " + cfg.run_dir))
    return out


def _predict_command(cfg: Config, args) -> dict:
    if not args.input:
        raise ValueError("predict needs a recording: make predict-speech WAV=path.wav (or --input PATH).")
    return predict(args.input, model_path=args.model)


def main(argv: list[str] | None = None) -> object:
    """make train-speech | evaluate-speech | export-speech | predict-speech WAV=file.wav"""
    return cli.main(Config, argv, prog="python -m pipelines.speech", quick=QUICK, description=__doc__.split("\n\n")[0],
             commands={"train": lambda cfg, args: run(cfg), "evaluate": _evaluate_command,
                       "export": _export_command, "predict": _predict_command})


if __name__ == "__main__":
    main()
