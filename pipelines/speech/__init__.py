"""Spoken word recognition from raw waveforms: a recording of one word -> its label. Audio -> log-mel spectrogram
(tf.signal, inside the model) -> SpecAugment in training -> 2D convolutional front end -> bidirectional GRU ->
mean and max over time -> a softmax over the words; leave-speakers-out cross-validation picks the epoch count.
(Digit sequences -> text with CTC is the transcription pipeline; both share pipelines.speech.audio.)

Notebook:
    cfg = dataclasses.replace(speech.Config(), source="synthetic", epochs=3, cv_folds=0)
    clips = speech.load_data(cfg); model = speech.build_model(cfg, clips)
    shared.pipeline.train(speech, cfg, model, clips); speech.evaluate(cfg, model, clips)["accuracy"]
    (or the whole story: shared.pipeline.run(speech, cfg))
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

from pipelines.speech import audio
from shared import cli, startup

NAME = "speech"
PREDICT_INPUT = "a recording: make predict-speech WAV=path.wav"
TEST_SPLIT = "train and evaluate with --test-speakers (speakers held out of training)"


@dataclasses.dataclass(frozen=True)
class Config(audio.AudioConfig):
    cv_folds: int = 4             # leave-speakers-out cross-validation over the training speakers (folds of whole
                                  # speakers; FSDD's 4 speakers: one each) choosing the epoch count; 0: off
    synthetic_mix: int = 10       # local/TFDS digits: eSpeak NG takes per digit and voice added to training
    front: str = "conv2d"         # conv2d (2 blocks of 3x3 kernels over time and frequency) | conv1d (over time)
    epochs: int = 10              # the most epochs; with cv_folds the cross-validation picks the count (else
                                  # early stopping on validation clips)
    members: int = 2              # word models averaged in the delivered model, each trained alone from its own
                                  # seed (seed + k); the cross-validation scores single models

    CHOICES: ClassVar[dict] = {**audio.AudioConfig.CHOICES, "front": ("conv1d", "conv2d")}

    def __post_init__(self):
        super().__post_init__()
        cli.expect(self, "cv_folds", self.cv_folds == 0 or self.cv_folds >= 2, "0 (no cross-validation) or at least 2")
        cli.at_least(self, 0, "synthetic_mix")
        if self.members < 1:
            raise ValueError(f"--members {self.members}: expected at least 1 (word models averaged).")


CARD = {  # the model card written beside every export (shared.pipeline.model_card)
    "use": "Isolated spoken-word recognition (the digits, or the Speech Commands words) and a worked example of a "
           "convolutional-recurrent audio classifier.",
    "not for": "Speaker identification, continuous speech, or voices and microphones far from the training data; "
               "the cross-validation by speaker shows how it holds on new voices.",
    "data": "Free Spoken Digit Dataset (CC BY-SA 4.0) or Speech Commands (CC BY 4.0) through TFDS or local WAV files, "
            "split by speaker; or utterances synthesized here with eSpeak NG (offline).",
    "generated": ("synthetic",),
}


QUICK = {"source": "synthetic", "takes": 3, "rnn": "bigru:24", "filters": 24, "mels": 32, "schedule": "constant",
         "epochs": 12, "learning_rate": 4e-3, "cv_folds": 0, "members": 1}


# the stages (pipelines.speech.stages) load on first use: reading the options needs no TensorFlow
__getattr__, __dir__ = startup.later(__name__)
