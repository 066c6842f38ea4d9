"""The stages of the transcription pipeline (pipelines.transcription holds its options and the story): data -> datasets -> model ->
training -> evaluation -> export -> predict -> report."""

from __future__ import annotations

import dataclasses
import logging
import pathlib

import keras
import numpy as np
import tensorflow as tf

from domain import speech as audio_data
from domain.speech import error_rates
from pipelines.speech.audio import features as audio
from pipelines.transcription import NAME, Config
from shared import checkpoints, progress, reports, training
from shared import export as shared_export

log = logging.getLogger(__name__)
BLANK = 0  # CTC blank; the digit words are tokens 1..10


@dataclasses.dataclass
class TranscriptionData:
    """Digit sequences built from the single words of `words` (pipelines.speech.audio.SpeechData): train and validation
    (early stopping only) from the training speakers' words, test from the test speakers' (empty without them).
    The synthetic voices are not used: with them a held-out FSDD speaker's WER was 50.3%, without 37.6%."""

    words: audio.SpeechData
    train: audio_data.Utterances
    validation: audio_data.Utterances
    test: audio_data.Utterances
    source: str
    notes: list[str]


def load_data(cfg: Config) -> TranscriptionData:
    words = audio.load_utterances(cfg, validation=True)
    n = cfg.sequences
    test = audio_data.sequences(words.test, n // 3, cfg.seed + 2) if len(words.test) else words.test
    data = TranscriptionData(words, audio_data.sequences(words.train, n, cfg.seed),
                             audio_data.sequences(words.validation, n // 6, cfg.seed + 1), test, words.source,
                             words.notes)
    log.info("transcription: %d training, %d validation, %d test sequences of 2-5 digits", len(data.train),
             len(data.validation), len(data.test))
    return data


def encode_text(text: str) -> list[int]:
    return [audio_data.DIGITS.index(w) + 1 for w in text.split()]


def decode_tokens(tokens) -> str:
    return " ".join(audio_data.DIGITS[t - 1] for t in tokens if 0 < t <= len(audio_data.DIGITS))


def make_dataset(cfg: Config, clips: audio_data.Utterances, shuffle_seed: int | None = None) -> tf.data.Dataset:
    """(audio (batch, samples), token ids (batch, words) padded with 0) batches (pipelines.speech.audio.make_dataset)."""
    return audio.make_dataset(cfg, clips, [encode_text(t) for t in clips.texts], tf.TensorSpec((None,), tf.int32),
                              shuffle_seed)


@keras.saving.register_keras_serializable(package="rnn_suite")
def ctc_loss(y_true, logits):
    """CTC over the frames of each example; targets are token ids right-padded with 0 (the blank, never a label)."""
    y_true = keras.ops.cast(y_true, "int32")
    target_length = keras.ops.sum(keras.ops.cast(keras.ops.not_equal(y_true, BLANK), "int32"), axis=1)
    frames = keras.ops.shape(logits)[1]
    output_length = keras.ops.full((keras.ops.shape(logits)[0],), frames, dtype="int32")
    return keras.ops.mean(keras.ops.ctc_loss(y_true, logits, target_length, output_length, mask_index=BLANK))


def build_model(cfg: Config, data: TranscriptionData | None = None) -> keras.Model:
    """audio (batch, samples) at 8 kHz -> logits (batch, frames / 2, 11) with the CTC blank at 0."""
    wave, x = audio.encoder(cfg, conv2d=False)  # conv2d: about 4x the training time here
    logits = keras.layers.Dense(len(audio_data.DIGITS) + 1, name="logits", dtype="float32")(keras.layers.Dropout(0.2)(x))
    return keras.Model(wave, logits, name="speech_transcriber")


def plan(cfg: Config, model: keras.Model, data: TranscriptionData) -> training.Plan:
    """Fit on the training sequences (speed-perturbed each epoch), early stopping on the validation sequences."""
    return audio.plan(cfg, model, make_dataset(cfg, data.train, cfg.seed),
                      make_dataset(cfg, data.validation) if len(data.validation) else None, data.train, loss=ctc_loss)


def load_trained(cfg: Config) -> keras.Model:
    return checkpoints.load_checkpoint(cfg.run_dir, NAME)


# ----------------------------------------------------------------------------------------------- evaluation

def ctc_decode(logits: np.ndarray, beam_width: int = 1) -> list[str]:
    """Texts from CTC logits (batch, frames, 11): greedy (beam_width 1: best token per frame, repeats merged,
    blanks removed) or beam search (keras.ops.ctc_decode)."""
    logits = np.asarray(logits, "float32")
    lengths = np.full(len(logits), logits.shape[1], "int32")
    strategy = {"strategy": "greedy"} if beam_width == 1 else {"strategy": "beam_search", "beam_width": beam_width}
    decoded, _ = keras.ops.ctc_decode(keras.ops.log_softmax(logits), lengths, mask_index=BLANK, **strategy)
    return [decode_tokens([t for t in row if t > 0]) for row in np.asarray(decoded[0])]


def evaluate_transcriber(model: keras.Model, test: audio_data.Utterances, beam_width: int, seed: int = 0) -> dict:
    """WER/CER (jiwer) of greedy and beam CTC decoding, and of random digits of the right count (baseline)."""
    logits = audio.predict_logits(model, test)
    greedy = [ctc_decode(frames[None])[0] for frames in progress.progress(logits, "greedy decoding", unit="clip")]
    beam = [ctc_decode(frames[None], beam_width)[0] for frames in progress.progress(logits, "beam decoding", unit="clip")]
    rng = np.random.default_rng(seed)
    guess = [" ".join(rng.choice(audio_data.DIGITS, len(t.split()))) for t in test.texts]
    return {"greedy": error_rates(greedy, test.texts), f"beam {beam_width}": error_rates(beam, test.texts),
            "random digits, right count (baseline)": error_rates(guess, test.texts),
            "examples": [{"reference": r, "greedy": g, "beam": b} for r, g, b in zip(test.texts, greedy, beam, strict=True)][:8]}


STRESS_SEQUENCES = 100  # test sequences each stress set changes


def stress_wer(model: keras.Model, test: audio_data.Utterances, seed: int = 0) -> dict[str, dict]:
    """Greedy WER/CER of the test speakers' first STRESS_SEQUENCES sequences as people record them
    (domain.speech.word_stress: silence or faint noise around the digits, their level, their place in a window)."""
    base = test.subset(range(min(STRESS_SEQUENCES, len(test))))
    out = {"as recorded": base}
    out.update(audio_data.word_stress(base, seed, per_word=len(base)))
    return {name: error_rates([ctc_decode(frames[None])[0] for frames in audio.predict_logits(model, clips)],
                              clips.texts) for name, clips in out.items()}


def evaluate(cfg: Config, model: keras.Model, data: TranscriptionData) -> dict | None:
    """WER/CER on the test speakers' sequences (touched once, at the end), and on stress sets made of them
    (stress_wer); None without test speakers."""
    if not len(data.test):
        return None
    return {**evaluate_transcriber(model, data.test, cfg.beam_width, cfg.seed),
            "stress": stress_wer(model, data.test, cfg.seed),
            "data": f"{len(data.train)} training sequences; {len(data.test)} test sequences of 2-5 digits "
                    f"({data.test.seconds():.0f} s of audio)"}


def summary(cfg: Config, metrics: dict | None, estimate: dict | None = None) -> dict:
    return {"WER": metrics["greedy"]["WER"], "CER": metrics["greedy"]["CER"]} if metrics else {}


# ------------------------------------------------------------------------------------------ export, predict

def export(cfg: Config, model: keras.Model, data: TranscriptionData, metrics: dict,
           root: str | pathlib.Path = shared_export.DEFAULT_ROOT) -> pathlib.Path:
    """serving_default(audio (batch, samples) float32 in [-1, 1], zero-padded on the right; sample_rate int32
    scalar, any rate: resampled in the graph) -> text [batch] string (greedy CTC decoding in the graph). Audio
    holding NaN or inf, silent, or shorter than 0.1 s gets "invalid input"; a rate outside 4-192 kHz or samples
    beyond +-2 are refused (input_limits)."""
    digits = tf.constant(["", *audio_data.DIGITS])

    def serve(wave, sample_rate):
        logits = model(audio.resample_graph(wave, sample_rate), training=False)
        best = tf.argmax(logits, axis=-1, output_type=tf.int32)  # greedy CTC: merge repeats, drop blanks
        previous = tf.pad(best[:, :-1], [[0, 0], [1, 0]], constant_values=-1)
        keep = tf.logical_and(tf.not_equal(best, BLANK), tf.not_equal(best, previous))
        words = tf.where(keep, tf.gather(digits, best), "")
        joined = tf.strings.reduce_join(words, axis=1, separator=" ")
        text = tf.strings.strip(tf.strings.regex_replace(joined, " +", " "))
        return {"text": tf.where(audio.heard_rows(wave, sample_rate), text, shared_export.INVALID)}

    meta = {"config": cfg, "source": data.source, "task": "transcribe", "classes": list(audio_data.DIGITS),
            "model_sample_rate": audio.RATE, "metrics": metrics, "input_limits": {"serving_default": audio.INPUT_LIMITS}}
    return shared_export.save(model, NAME, serve_fn=serve, input_signature=audio.SIGNATURE, metadata=meta, root=root)


def predict(cfg: Config, wav: str | pathlib.Path, model_path: str | pathlib.Path | None = None) -> dict:
    """The digits the exported model (latest by default) hears in a WAV file (any rate; stereo mixed down)."""
    wave, rate = audio_data.read_wav_native(wav)
    out = audio.serve(model_path or shared_export.latest(NAME), [wave], rate, expect=NAME)
    audio.check_heard(out["text"][0], wav)
    return {"text": out["text"][0].decode(), "seconds": round(len(wave) / rate, 3)}


# ------------------------------------------------------------------------------------------------ reporting

ANCHORS = {
    "Keras 'ASR with CTC' example (LJSpeech, 2D CNN + 5 BiGRU, ~50 epochs)": {"WER": "~16-17%"},
}


def build_report(cfg: Config, data: TranscriptionData, metrics: dict | None,
                 timing: dict, estimate: dict | None = None) -> reports.Report:
    table, sections = {}, {}
    if metrics:
        table = {k: v for k, v in metrics.items() if k not in ("examples", "data", "stress")}
        if metrics.get("stress"):
            sections["Stress sets (the test speakers' sequences as people record them; greedy decoding)"] = \
                reports.table(metrics["stress"], first="stress set")
        sections["Examples"] = "\n".join(
            f"- said *{e['reference']}*: greedy *{e['greedy']}*, beam *{e['beam']}*" for e in metrics["examples"])
        sections["Data"] = metrics["data"]
    else:
        sections["Test"] = "No test speakers (--test-speakers): nothing held out to measure the error rates on."
    sections.update(reports.notes(data.notes))
    return reports.Report(domain=NAME, source=data.source, metrics=table.get("greedy", {}), baselines=table,
                          anchors=ANCHORS, timing=timing, figures={}, sections=sections,
                          extra={"config": dataclasses.asdict(cfg)})

