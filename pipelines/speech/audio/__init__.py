"""Audio pieces shared by the speech pipelines (word recognition: pipelines.speech; transcription:
pipelines.transcription): the options both share (AudioConfig), the data split by speaker, log-mel features and
SpecAugment inside the model, the convolutional + recurrent encoder, speed perturbation, length-bucketed batches,
in-graph resampling for serving, and batched inference."""

from __future__ import annotations

import dataclasses
from typing import ClassVar

from domain import speech as audio_data
from shared import cli, specs, startup

NORMALIZATIONS = ("peak", "utterance")


@dataclasses.dataclass(frozen=True)
class AudioConfig:
    """The options both speech pipelines share (each pipeline's Config adds its own)."""

    source: str = "auto"          # auto | local (--data-dir: FSDD or <word>/*.wav) | tfds | synthetic (eSpeak NG)
    data_dir: str = ""
    dataset: str = "spoken_digit"  # TFDS dataset for --source tfds: spoken_digit | speech_commands
    test_speakers: str = ""       # comma-separated speakers held out as the test set, touched once at the end;
                                  # default: m4,f3 (synthetic); none for local/TFDS data (all speakers train)
    takes: int = 8                # synthetic: takes per word and speaker
    rnn: str = "bigru:64"         # shared.layers spec of the recurrent part
    mels: int = 40                # mel bands of the log-mel spectrogram (25 ms windows every 10 ms)
    filters: int = 64             # channels of the convolutional front end
    normalize: str = "utterance"  # log-mel normalisation (LogMel): utterance (per-bin mean, unit variance) | peak
    cepstra: int = 0              # > 0: MFCCs, the first `cepstra` cepstral coefficients of the log-mel frames
    spec_augment: bool = True     # frequency and time masks on training spectrograms
    speed: float = 0.15           # training clips resampled by a random factor in 1 +- speed each epoch (0: off)
    vtlp: float = 0.0             # training spectra stretched along frequency by a random factor in 1 +- vtlp per
                                  # clip: a new vocal tract at the same tempo (Jaitly & Hinton 2013); 0: off
    surround: float = 0.5         # training clips get up to this many seconds of silence or faint noise (-65 to
                                  # -40 dBFS) before and after, and a level of -20 to +6 dB, drawn anew each epoch
                                  # (domain.speech.surround; 0: off): people's recordings are not trimmed to the word
    endpoint: bool = True         # the model crops each clip to its speech (energy endpoint detection, Endpoint)
                                  # before the log-mel features: in training, predict and serving alike
    batch_size: int = 32
    epochs: int = 10
    learning_rate: float = 2e-3
    schedule: str = "cosine"      # learning rate: cosine (falls to ~0 over the most epochs; a shorter run is the
                                  # same curve's prefix, so a cross-validated epoch count still holds) | constant
    seed: int = 1337
    jit_compile: bool = False  # XLA; the default is whichever trained faster here (make bench, BENCHMARKS.md)
    run_dir: str = "runs/speech"

    CHOICES: ClassVar[dict] = {  # the command line lists these
        "source": audio_data.SOURCES, "dataset": ("spoken_digit", "speech_commands"), "normalize": NORMALIZATIONS,
        "schedule": ("constant", "cosine")}

    def __post_init__(self):
        specs.parse_spec(self.rnn)
        cli.check_choices(self)
        if not 0.0 <= self.speed < 0.5:
            raise ValueError(f"--speed {self.speed}: expected a fraction in [0, 0.5).")
        if not 0.0 <= self.vtlp < 0.5:
            raise ValueError(f"--vtlp {self.vtlp}: expected a fraction in [0, 0.5).")
        cli.expect(self, "surround", 0.0 <= self.surround <= 2.0, "0 to 2 seconds")
        if not 0 <= self.cepstra <= self.mels:
            raise ValueError(f"--cepstra {self.cepstra}: expected 0 (log-mel) to --mels {self.mels}.")
        cli.at_least(self, 1, "takes", "mels", "filters")
        cli.check_training(self)


# the speech family's heavy pieces (pipelines.speech.audio.features) load on first use: TensorFlow is not needed
# to read the options
__getattr__, __dir__ = startup.later(__name__, "features")
