"""The stages of the speech pipeline (pipelines.speech holds its options and the story): data -> datasets -> model ->
training -> evaluation -> export -> predict -> report."""

from __future__ import annotations

import dataclasses
import logging
import pathlib
import time

import keras
import numpy as np
import tensorflow as tf
from scipy.special import softmax

from domain import speech as audio_data
from pipelines.speech import NAME, Config
from pipelines.speech.audio import features as audio
from shared import checkpoints, layers, plots, reports, training, validation
from shared import export as shared_export

log = logging.getLogger(__name__)
CLASSES_FILE = "classes.json"


def load_data(cfg: Config) -> audio.SpeechData:
    """Single-word utterances split by speaker (pipelines.speech.audio.load_utterances): with cfg.cv_folds every training
    speaker's recordings train (the cross-validation picks the epoch count); without, a tenth validates."""
    return audio.load_utterances(cfg, validation=not cfg.cv_folds, synthetic_mix=cfg.synthetic_mix)


def make_dataset(cfg: Config, clips: audio_data.Utterances, classes: list[str],
                 shuffle_seed: int | None = None) -> tf.data.Dataset:
    """(audio (batch, samples), class id) batches (pipelines.speech.audio.make_dataset)."""
    return audio.make_dataset(cfg, clips, [classes.index(t) for t in clips.texts], tf.TensorSpec((), tf.int32),
                              shuffle_seed)


def build_model(cfg: Config, clips: audio.SpeechData) -> keras.Model:
    """One word network, or with cfg.members > 1 that many averaged (layers.MeanOfSoftmax; train fits each alone)."""
    if cfg.members == 1:
        return build_network(cfg, clips.classes)
    wave = keras.Input((None,), dtype="float32", name="audio")
    networks = [build_network(cfg, clips.classes, f"speech_words_{k}") for k in range(1, cfg.members + 1)]
    return keras.Model(wave, layers.MeanOfSoftmax(name="logits")([n(wave) for n in networks]), name="speech_words")


def members(model: keras.Model) -> list[keras.Model]:
    """The averaged word networks inside `model` (build_model with members > 1), in order."""
    return [layer for layer in model.layers if layer.name.startswith("speech_words_")]


def build_network(cfg: Config, classes: list[str], name: str = "speech_words") -> keras.Model:
    """audio (batch, samples) at 8 kHz -> logits (batch, classes): the shared encoder, mean and max over time."""
    wave, x = audio.encoder(cfg, conv2d=cfg.front == "conv2d")
    pooled = keras.layers.Concatenate()([keras.layers.GlobalAveragePooling1D()(x), keras.layers.GlobalMaxPooling1D()(x)])
    logits = keras.layers.Dense(len(classes), name="logits", dtype="float32")(keras.layers.Dropout(0.3)(pooled))
    return keras.Model(wave, logits, name=name)


def words_plan(cfg: Config, model: keras.Model, train_clips: audio_data.Utterances,
               validation_clips: audio_data.Utterances | None, classes: list[str], **choices) -> training.Plan:
    """Fit on `train_clips` (speed-perturbed each epoch) into cfg.run_dir (the class names kept beside the
    checkpoint); with validation clips early stopping on their loss, without every epoch runs. `choices`: more of
    the plan (scorers, tensorboard)."""
    checkpoints.save_beside_checkpoint(cfg.run_dir, CLASSES_FILE, classes)
    validate = validation_clips is not None and len(validation_clips) > 0
    return audio.plan(cfg, model, make_dataset(cfg, train_clips, classes, cfg.seed),
                      make_dataset(cfg, validation_clips, classes) if validate else None, train_clips,
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"],
                      **choices)


def fit_words(cfg: Config, model: keras.Model, train_clips: audio_data.Utterances,
              validation_clips: audio_data.Utterances | None, classes: list[str], epochs: int | None = None,
              verbose: int | str = "auto", **choices) -> training.TrainResult:
    """words_plan fitted for `epochs` (default cfg.epochs)."""
    return training.fit(words_plan(cfg, model, train_clips, validation_clips, classes, **choices),
                        training.Settings.of(cfg, epochs=epochs or cfg.epochs, verbose=verbose))


def plan(cfg: Config, model: keras.Model, clips: audio.SpeechData) -> training.Plan:
    """The final fit: every training speaker and the synthetic voices (the first member, when members are averaged)."""
    network = members(model)[0] if cfg.members > 1 else model
    return words_plan(cfg, network, audio.joined(clips.train, clips.extra), clips.validation, clips.classes)


def train(cfg: Config, model: keras.Model, clips: audio.SpeechData, verbose: int | str = "auto"
          ) -> training.TrainResult:
    """Leave-speakers-out cross-validation first (cfg.cv_folds; written to the run folder's
    cross_validation.json), then `model` on every training speaker (and the synthetic voices) for the epoch count
    it chose."""
    start = time.perf_counter()
    cv = cross_validate(cfg, clips, verbose=verbose) if cfg.cv_folds else None
    validation.keep(cfg.run_dir, cv)
    seconds = time.perf_counter() - start

    def fit_one(network, member_cfg):
        return fit_words(member_cfg, network, audio.joined(clips.train, clips.extra), clips.validation, clips.classes,
                         epochs=cv["best_epoch"] if cv else None, verbose=verbose)
    if cfg.members == 1:
        result = fit_one(model, cfg)
    else:
        checkpoints.save_beside_checkpoint(cfg.run_dir, CLASSES_FILE, clips.classes)
        result = training.fit_members(model, members(model), cfg, fit_one)
    return dataclasses.replace(result, timing={**result.timing, "cross_validation_seconds": round(seconds, 1)},
                               estimate=cv)


def load_trained(cfg: Config) -> keras.Model:
    return checkpoints.load_checkpoint(cfg.run_dir, NAME)


# ----------------------------------------------------------------------------------------------- evaluation

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
    return [classes[int(np.argmax(logit))] for logit in audio.predict_logits(model, clips)]


def score(model: keras.Model, test: audio_data.Utterances, classes: list[str]) -> dict:
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score

    predicted = predict_words(model, test, classes)
    return {"accuracy": 100 * float(accuracy_score(test.texts, predicted)),
            "macro F1": 100 * float(f1_score(test.texts, predicted, labels=classes, average="macro", zero_division=0)),
            "confusion": confusion_matrix(test.texts, predicted, labels=classes)}


def evaluate(cfg: Config, model: keras.Model, clips: audio.SpeechData) -> dict | None:
    """Accuracy on the test speakers (touched once, at the end) beside the baselines; None without test speakers
    (the figures on unseen speakers are then the cross-validation's)."""
    if not len(clips.test):
        return None
    fit = audio.joined(clips.train, clips.extra)
    return {**score(model, clips.test, clips.classes),
            "baselines": baseline_words((audio.clip_statistics(fit), fit.texts),
                                        (audio.clip_statistics(clips.test), clips.test.texts), clips.classes)}


def summary(cfg: Config, metrics: dict | None, estimate: dict | None = None) -> dict:
    """Test accuracy (when there are test speakers) and the cross-validation's mean, sd and worst speaker."""
    out = {}
    cv = estimate
    if cv:
        mean, sd = cv["mean_sd"]["accuracy"]
        out.update({"cv accuracy": round(mean, 2), "cv sd": round(sd, 2),
                    "cv worst speaker": round(cv["worst"]["accuracy"], 2)})
    if metrics is not None:
        out["accuracy"] = metrics["accuracy"]
    return out


# ------------------------------------------------------------------------------------------ export, predict

def export(cfg: Config, model: keras.Model, clips: audio.SpeechData, metrics: dict,
           root: str | pathlib.Path = shared_export.DEFAULT_ROOT) -> pathlib.Path:
    """serving_default(audio (batch, samples) float32 in [-1, 1], zero-padded on the right; sample_rate int32
    scalar, any rate: resampled in the graph) -> label [batch] string + probabilities [batch, classes] + words
    [batch] int32 (stretches of speech that 0.3 s or more without speech separate: 0 nothing heard, 2 or more
    several words; audio.words_heard). Audio holding NaN or inf, silent, or shorter than 0.1 s is labelled
    "invalid input" (probabilities NaN), never a word; a rate outside 4-192 kHz or samples beyond +-2 are refused
    (input_limits)."""
    names = tf.constant(clips.classes)

    def serve(wave, sample_rate):
        at_rate = audio.resample_graph(wave, sample_rate)
        logits = model(at_rate, training=False)
        probabilities, label = shared_export.flag_invalid(tf.nn.softmax(logits),
                                                          tf.gather(names, tf.argmax(logits, axis=-1)),
                                                          audio.heard_rows(wave, sample_rate))
        return {"label": label, "probabilities": probabilities, "words": audio.words_heard(at_rate)}

    meta = {"config": cfg, "source": clips.source, "task": "words", "classes": clips.classes,
            "model_sample_rate": audio.RATE, "metrics": metrics, "input_limits": {"serving_default": audio.INPUT_LIMITS}}
    return shared_export.save(model, NAME, serve_fn=serve, input_signature=audio.SIGNATURE, metadata=meta, root=root)


def predict(cfg: Config, wav: str | pathlib.Path, model_path: str | pathlib.Path | None = None) -> dict:
    """The word the exported model (latest by default) hears in a WAV file (any rate; stereo mixed down): the word
    and its probability, or, when the recording holds no speech or several words apart, that instead."""
    wave, rate = audio_data.read_wav_native(wav)
    out = audio.serve(model_path or shared_export.latest(NAME), [wave], rate, expect=NAME)
    audio.check_heard(out["label"][0], wav)
    heard = int(out["words"][0]) if "words" in out else 1  # exports before word counting: one word assumed
    if heard == 0:
        raise ValueError(f"{wav}: nothing to hear - no stretch of the recording stands out as speech (it is "
                         "silence or steady noise).")
    result = {"word": out["label"][0].decode(), "probability": round(float(out["probabilities"][0].max()), 4),
              "seconds": round(len(wave) / rate, 3)}
    if heard > 1:
        return {"heard": f"{heard} words, not one: the word model names one word per recording (its guess for the "
                         f"whole: {result['word']}); record one word, or transcribe the digits with "
                         "make predict-transcription", "words": heard, "seconds": result["seconds"]}
    return result


# ------------------------------------------------------------------------------------------------ reporting

ANCHORS = {
    "Warden 2018, Speech Commands v0.02 (12 classes, conv baseline)": {"accuracy": 88.2},
    "TensorFlow simple audio recognition tutorial (mini Speech Commands, 8 words, CNN)": {
        "accuracy": "~80-90 in the notebook output (varies by version; not a paper figure)"},
}


def accuracy(y, p) -> float:
    """Percent of clips whose class is `p`'s: class ids, or probabilities (clips, classes)."""
    p = np.asarray(p)
    return 100 * float(np.mean(np.asarray(y) == (p.argmax(axis=-1) if p.ndim == 2 else p)))


def cross_validate(cfg: Config, clips: audio.SpeechData, verbose: int | str = 0) -> dict:
    """Leave-speakers-out cross-validation of the word model on the training speakers: cfg.cv_folds folds of whole
    speakers (shared.validation; with as many folds as speakers, one speaker each). Each fold's model trains
    cfg.epochs epochs on the other speakers (and the synthetic voices) and is scored on its unseen speakers after
    every epoch; the epoch count with the best pooled accuracy is the one the final model trains for. The
    log-mel + LR baseline runs on the same folds. The same fold models score stress sets built from their unseen
    speakers' clips (domain.speech.voice_stress: a longer or shorter vocal tract, noise, a room, a telephone band;
    domain.speech.word_stress: silence or faint noise around the word, its level, its place in a longer window),
    each fold row's "stress: <name>" accuracy. A finished fold is read back from cv/fold-i on a rerun.

    Returns {"folds": [per fold: speakers, accuracy, log-mel + LR, stress: ...], "best_epoch", "curve", "mean_sd",
    "worst", "outputs": [per fold: {metric: (labels, probabilities at the chosen epoch)}] (for averaging models)}."""

    pool, classes = clips.train, clips.classes
    labels = np.array([classes.index(t) for t in pool.texts])
    speakers = np.array(pool.speakers)
    folds = validation.grouped_folds(labels, speakers, min(cfg.cv_folds, len(set(pool.speakers))), seed=cfg.seed)

    stress = [{**audio_data.voice_stress(pool.subset(test_index), seed=i),
               **audio_data.word_stress(pool.subset(test_index), seed=i)} for i, (_, test_index) in enumerate(folds)]

    def fit_fold(i, fit_index, test_index, fold_dir):
        held = pool.subset(test_index)
        log.info("cv fold %d/%d: unseen speakers %s", i, len(folds), sorted(set(held.speakers)))
        keras.utils.set_random_seed(cfg.seed)
        model = build_network(cfg, classes)
        traced = audio.forward(model)

        def scorer(clips, name):
            return training.EpochScores(lambda m: np.round(softmax(np.array(audio.predict_logits(m, clips, traced)),
                                                                   axis=-1), 4),
                                        [classes.index(t) for t in clips.texts], accuracy, name)
        scores = scorer(held, "heldout_accuracy")
        stressed = {name: scorer(clips, f"stress_{name.replace(' ', '_')}") for name, clips in stress[i - 1].items()}
        fit_words(dataclasses.replace(cfg, run_dir=str(fold_dir)), model, audio.joined(pool.subset(fit_index), clips.extra),
                  None, classes, scorers=(scores, *stressed.values()), verbose=verbose, tensorboard=False)
        return scores.predictions, {name: s.predictions for name, s in stressed.items()}
    single = {k: v for k, v in dataclasses.asdict(cfg).items() if k != "members"}  # the folds train single models
    cv = validation.epoch_folds(labels, folds, cfg.run_dir, single, fit_fold, accuracy)
    rows, stats, extra = [], audio.clip_statistics(pool), audio.clip_statistics(clips.extra)
    for (fit_index, test_index), predicted, sets, other in zip(folds, cv["predictions"], stress, cv["extras"],
                                                               strict=True):
        held = pool.subset(test_index)
        lr = baseline_words((np.concatenate([stats[fit_index], extra]), pool.subset(fit_index).texts + clips.extra.texts),
                            (stats[test_index], held.texts), classes)
        rows.append({"speakers": ",".join(sorted(set(held.speakers))), "accuracy": accuracy(labels[test_index], predicted),
                     "log-mel + LR": lr["log-mel statistics + logistic regression"]["accuracy"],
                     **{f"stress: {name}": accuracy([classes.index(t) for t in sets[name].texts], other[name])
                        for name in sets}})
    stress_names = [k for k in rows[0] if k.startswith("stress: ")]
    headline = ("accuracy", "log-mel + LR", *stress_names)
    outputs = [{"accuracy": (labels[test_index], predicted),
                **{f"stress: {name}": ([classes.index(t) for t in sets[name].texts], other[name]) for name in sets}}
               for (_, test_index), predicted, sets, other in zip(folds, cv["predictions"], stress, cv["extras"],
                                                                  strict=True)]
    return {"folds": rows, "best_epoch": cv["best_epoch"], "curve": cv["curve"], "outputs": outputs,
            "mean_sd": validation.mean_sd([{k: r[k] for k in headline} for r in rows]),
            "worst": {k: min(r[k] for r in rows) for k in headline}}


def build_report(cfg: Config, clips: audio.SpeechData, words: dict | None,
                 timing: dict, estimate: dict | None = None) -> reports.Report:
    metrics, baselines, figures, sections = {}, {}, {}, {}
    cv = estimate
    if cv:
        (mean, sd), (lr_mean, lr_sd) = cv["mean_sd"]["accuracy"], cv["mean_sd"]["log-mel + LR"]
        metrics["cross-validation"] = {"accuracy mean": mean, "accuracy sd": sd,
                                       "worst speaker": cv["worst"]["accuracy"], "epochs": cv["best_epoch"]}
        baselines["cross-validation: this model"] = {"mean": mean, "sd": sd, "worst": cv["worst"]["accuracy"]}
        baselines["cross-validation: log-mel statistics + LR"] = {
            "mean": lr_mean, "sd": lr_sd, "worst": cv["worst"]["log-mel + LR"]}
        sections["Cross-validation (leave speakers out)"] = "\n".join(
            [f"Folds of whole speakers over the training speakers; each fold's model never heard its speakers. "
             f"Epoch count chosen by pooled held-out accuracy: {cv['best_epoch']} (curve: "
             f"{', '.join(f'{c:.1f}' for c in cv['curve'])}).", "",
             "| unseen speakers | this model | log-mel + LR |", "|---|---:|---:|",
             *[f"| {r['speakers']} | {r['accuracy']:.1f}% | {r['log-mel + LR']:.1f}% |" for r in cv["folds"]],
             f"| **mean +- sd** | **{mean:.1f} +- {sd:.1f}%** | {lr_mean:.1f} +- {lr_sd:.1f}% |",
             f"| **worst speaker** | **{cv['worst']['accuracy']:.1f}%** | {cv['worst']['log-mel + LR']:.1f}% |", "",
             "Stress sets (domain.speech.voice_stress): each fold's unseen speaker, 5 clips of each word, changed "
             "the way a new voice or place would change them, scored by the same fold model:", "",
             "| stress set | mean +- sd over folds | worst fold |", "|---|---:|---:|",
             *[f"| {k.removeprefix('stress: ')} | {cv['mean_sd'][k][0]:.1f} +- {cv['mean_sd'][k][1]:.1f}% | "
               f"{cv['worst'][k]:.1f}% |" for k in cv["mean_sd"] if k.startswith("stress: ")]])
        metrics["stress (cross-validation)"] = {k.removeprefix("stress: "): cv["mean_sd"][k][0]
                                                for k in cv["mean_sd"] if k.startswith("stress: ")}
    if words:
        metrics["test"] = {"accuracy": words["accuracy"], "macro F1": words["macro F1"]}
        baselines.update({f"test: {k}": v for k, v in words["baselines"].items()})
        baselines["test: this model"] = {"accuracy": words["accuracy"]}
        figures["confusion"] = plots.confusion_figure(words["confusion"], clips.classes)
    else:
        sections["Test"] = ("No test speakers (--test-speakers): every speaker trained the final model; the figures "
                            "on unseen speakers are the cross-validation's.")
    sections.update(reports.notes(clips.notes))
    return reports.Report(domain=NAME, source=clips.source, metrics=metrics, baselines=baselines,
                          anchors=ANCHORS, timing=timing, figures=figures, sections=sections,
                          extra={"config": dataclasses.asdict(cfg), "classes": clips.classes, "cv": cv})

