"""Machine translation: English -> French with an RNN encoder-decoder and attention. SentencePiece subwords of
each language (learned on the training pairs) -> bidirectional GRU encoder -> GRU decoder with additive (Bahdanau)
attention over the encoder states, teacher forcing on length-bucketed batches and a loss averaged over real tokens;
greedy and beam-search decoding inside one graph; exported so that a string goes in and a string comes out.

Notebook:
    cfg = dataclasses.replace(translation.Config(), source="numbers", epochs=3)
    pairs = translation.load_data(cfg); net = translation.build_model(cfg, pairs)
    shared.pipeline.train(translation, cfg, net, pairs); translation.translate(net, ["ninety-seven"])
    translation.translation_function(cfg, net)(tf.constant(["ninety-seven"]), tf.constant(4))  # beam 4, in graph
    (or the whole story: shared.pipeline.run(translation, cfg))
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

from domain import translation as pair_data
from shared import cli, specs, startup

NAME = "translation"
PREDICT_INPUT = 'a sentence: make predict-translation TEXT="..." (or INPUT=@file.txt for a file)'


@dataclasses.dataclass(frozen=True)
class Config:
    source: str = "auto"         # auto | local (--data-dir with train.tsv) | download (manythings) | numbers
    data_dir: str = ""
    test_file: str = ""          # held-out pairs (English<TAB>French), all lengths, scored once and never used for any
                                 # choice; default: test.tsv beside train.tsv when there is one, else 5% of the pairs
    rnn: str = "bigru:128"       # encoder (shared.layers spec)
    decoder: str = "gru"         # gru | lstm: the attentive decoder's cell, one layer of `units` (shared.seq2seq)
    units: int = 256             # decoder and attention size
    embed_dim: int = 128         # subword embedding size (both languages)
    vocab_size: int = 8000       # SentencePiece subwords per language, learned on the training pairs only
    max_length: int = 96         # subwords per sentence: longer training pairs are left out (counted), longer inputs
                                 # cut; the longest fra-eng pair has 54 (English) and 79 (French)
    max_pairs: int = 0           # pairs used, 0: all (the number corpus then generates 60,000)
    beam_width: int = 4          # serving_default's beam width (the report scores greedy and beam)
    label_smoothing: float = 0.0 # share of the target's probability spread over the vocabulary; 0.1 was not a
                                 # clear gain on validation (docs/translation.md)
    batch_size: int = 64
    epochs: int = 8              # all of fra-eng's pairs fit 8 epochs in under an hour on 2 CPU cores
    learning_rate: float = 2e-3
    seed: int = 1337
    jit_compile: bool = False  # XLA; the default is whichever trained faster here (make bench, BENCHMARKS.md)
    run_dir: str = "runs/translation"

    CHOICES: ClassVar[dict] = {"source": pair_data.SOURCES, "decoder": specs.DECODER_KINDS}  # the command line lists these

    def __post_init__(self):
        specs.parse_spec(self.rnn)
        cli.check_choices(self)
        cli.at_least(self, 1, "units", "embed_dim", "beam_width")
        cli.at_least(self, 300, "vocab_size", why=" (the 256 byte pieces and a few more)")
        cli.at_least(self, 4, "max_length")
        cli.expect(self, "label_smoothing", 0.0 <= self.label_smoothing < 1.0, "a fraction in [0, 1)")
        cli.expect(self, "max_pairs", self.max_pairs == 0 or self.max_pairs >= 20, "0 (all) or at least 20 pairs")
        cli.check_training(self)


CARD = {  # the model card written beside every export (shared.pipeline.model_card)
    "use": "English to French translation of short everyday sentences, and a worked example of an attentional "
           "recurrent encoder-decoder served string to string.",
    "not for": "Long, technical or formal text, or any use where a wrong translation matters: the training "
               "sentences are short Tatoeba sentences.",
    "data": "Tatoeba English-French pairs packaged by manythings.org/anki (CC BY 2.0 FR: 'www.manythings.org/anki "
            "and tatoeba.org'), or English number phrases and their French translations generated with num2words "
            "(offline).",
    "generated": ("numbers",),
}


QUICK = {"source": "numbers", "rnn": "bigru:32", "units": 64, "embed_dim": 32, "max_pairs": 3000, "epochs": 2,
         "beam_width": 2, "max_length": 24}


# the stages (pipelines.translation.stages) load on first use: reading the options needs no TensorFlow
__getattr__, __dir__ = startup.later(__name__)
