"""Speech transcription with CTC: a recording of spoken digits ("four one nine") -> its text. Audio -> log-mel
spectrogram (tf.signal, inside the model) -> SpecAugment in training -> 1D convolutional front end -> bidirectional
GRU -> per-frame outputs over the 10 digit words and the CTC blank; greedy and beam CTC decoding, word and
character error rates (jiwer). Training sequences are built from the training speakers' single words (2-5 words,
pauses 50-300 ms); the test sequences only from the test speakers'. (One word -> its label is the speech pipeline;
both share pipelines.speech.audio.)

Notebook:
    cfg = dataclasses.replace(transcription.Config(), source="synthetic", epochs=3)
    data = transcription.load_data(cfg); model = transcription.build_model(cfg, data)
    shared.pipeline.train(transcription, cfg, model, data); transcription.evaluate(cfg, model, data)["greedy"]["WER"]
    (or the whole story: shared.pipeline.run(transcription, cfg))
"""

from __future__ import annotations

import dataclasses

from pipelines.speech import audio
from shared import cli, startup

NAME = "transcription"
PREDICT_INPUT = "a recording: make predict-transcription WAV=path.wav"
TEST_SPLIT = "train and evaluate with --test-speakers (speakers held out of training)"


@dataclasses.dataclass(frozen=True)
class Config(audio.AudioConfig):
    sequences: int = 3000         # digit sequences built for training (a third as many for testing)
    beam_width: int = 8           # CTC beam search
    epochs: int = 20              # the most epochs (early stopping on the validation sequences)
    surround: float = 0.0         # seconds of silence or faint noise put around training sequences (see the word
                                  # model); off: it set the quick run's WER back from 42 to 84-91 in its 12 epochs,
                                  # and the in-model endpoint (--endpoint) already crops what surrounds the digits
    run_dir: str = "runs/transcription"

    def __post_init__(self):
        super().__post_init__()
        cli.at_least(self, 1, "beam_width")
        cli.at_least(self, 20, "sequences")


CARD = {  # the model card written beside every export (shared.pipeline.model_card)
    "use": "Transcribing spoken digit sequences with CTC, as a worked example of sequence transcription without "
           "alignments.",
    "not for": "Open-vocabulary speech recognition: it knows the ten digits only.",
    "data": "Digit sequences joined from Free Spoken Digit Dataset recordings (CC BY-SA 4.0), split by speaker; or "
            "from utterances synthesized here with eSpeak NG (offline).",
    "generated": ("synthetic",),
}


QUICK = {"source": "synthetic", "takes": 3, "sequences": 800, "rnn": "bigru:24", "filters": 24, "mels": 32,
         "schedule": "constant", "epochs": 12, "learning_rate": 4e-3, "beam_width": 4}


# the stages (pipelines.transcription.stages) load on first use: reading the options needs no TensorFlow
__getattr__, __dir__ = startup.later(__name__)
