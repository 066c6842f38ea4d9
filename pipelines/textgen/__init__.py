"""Text generation: a character-level recurrent language model (stacked GRU or LSTM) trained with truncated
backpropagation through time over long contiguous streams, the state carried from batch to batch; scored in nats
per character against a unigram and a Kneser-Ney n-gram model on the same split; exported with the sampling loop
(temperature, top-k, top-p, seeded) inside the graph, and a step signature that streams one character at a time.

Notebook:
    cfg = dataclasses.replace(textgen.Config(), source="bundled", minutes=2)
    corpus = textgen.load_data(cfg); model = textgen.build_model(cfg, corpus)
    shared.pipeline.train(textgen, cfg, model, corpus); metrics = textgen.evaluate(cfg, model, corpus)
    (or the whole story: shared.pipeline.run(textgen, cfg)); textgen.predict(cfg, "ROMEO:")
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

from domain import textgen as text_data
from shared import cli, specs, startup

NAME = "textgen"
PREDICT_INPUT = 'a prompt: make predict-textgen TEXT="ROMEO:" (or INPUT=@prompt.txt)'


@dataclasses.dataclass(frozen=True)
class Config:
    source: str = "auto"          # auto | local (a UTF-8 text or a folder with input.txt) | download | bundled
    data_dir: str = ""            # default $RNN_DATA_DIR/tinyshakespeare when it exists
    rnn: str = "gru:512"          # unidirectional (streamed), e.g. lstm:512, gru:256x2
    embed_dim: int = 64           # character embedding size
    streams: int = 64             # contiguous pieces of the text trained side by side (the batch size)
    chunk: int = 128              # characters per truncated-BPTT step (how far gradients reach back)
    epochs: int = 60              # the most; early stopping and the time budget end sooner
    minutes: float = 15.0         # training time budget: no epoch starts that would end after it
    learning_rate: float = 2e-3
    ngram: int = 5                # order of the Kneser-Ney baseline
    length: int = 400             # predict: characters to generate
    temperature: float = 0.8      # predict: 0 is greedy
    top_k: int = 0                # predict: keep the k likeliest characters (0: all)
    top_p: float = 1.0            # predict: keep the likeliest characters holding this much probability
    sample_seed: int = 0          # predict: the sampling seed (the same seed, the same text)
    seed: int = 1337
    jit_compile: bool = False
    run_dir: str = "runs/textgen"

    CHOICES: ClassVar[dict] = {"source": text_data.SOURCES}

    def __post_init__(self):
        spec = specs.parse_spec(self.rnn)
        if spec.bidirectional:
            raise ValueError(f"--rnn {self.rnn}: a language model reads left to right; use gru:512 or lstm:512.")
        cli.check_choices(self)
        for name in ("embed_dim", "streams", "chunk", "ngram"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name.replace('_', '-')} {getattr(self, name)}: expected at least 1.")
        for problem in specs.limit_problems(dataclasses.asdict(self), LIMITS, options=True):
            raise ValueError(problem + ".")
        if self.minutes <= 0:
            raise ValueError(f"--minutes {self.minutes}: expected > 0.")
        cli.check_training(self, batch="streams")


# what a generation request may ask (the command line's options and the served signature's inputs alike): bounded
# work per request (a length of 10^8 would hold the server for minutes and gigabytes)
MAX_LENGTH = 10_000
MAX_PROMPT = 10_000  # prompt characters one request may hold (each is a recurrent step before generation starts)


LIMITS = {"length": {"min": 1, "max": MAX_LENGTH, "why": "characters to generate per request"},
          "temperature": {"min": 0, "max": 100, "why": "0 is greedy"},
          "top_k": {"min": 0, "max": 1_000_000, "why": "0 keeps every character"},
          "top_p": {"min": 1e-6, "max": 1, "why": "a probability mass above 0"}}


CARD = {  # the model card written beside every export (shared.pipeline.model_card)
    "use": "Generating text in the style of its training text, and a worked example of a character-level "
           "recurrent language model trained with truncated backpropagation through time.",
    "not for": "Facts, advice or anything a person would rely on: it imitates character statistics and invents "
               "the rest.",
    "data": "tiny Shakespeare (Karpathy's char-rnn corpus, public domain; first 90% of the characters train, last "
            "10% validate), a user's own UTF-8 text, or the Python reference manual's topics that ship with Python "
            "(pydoc_data, PSF licence; the offline default).",
    "generated": (),
}


QUICK = {"source": "bundled", "rnn": "gru:32", "embed_dim": 16, "streams": 16, "chunk": 64, "epochs": 1,
         "minutes": 1.0, "ngram": 3, "length": 40}


# the stages (pipelines.textgen.stages) load on first use: reading the options needs no TensorFlow
__getattr__, __dir__ = startup.later(__name__)
