"""Image captioning (Show, Attend and Tell): image -> CNN feature grid (+ learned position) -> LSTM decoder with
additive attention over the grid, teacher forcing and a loss over real tokens; greedy and beam decoding shared
with translation (shared.seq2seq, shared.decoding); exported so that image bytes go in and a caption comes out.

Notebook:
    cfg = dataclasses.replace(captioning.Config(), scenes=1000, epochs=3)
    data = captioning.load_data(cfg); net = captioning.build_model(cfg, data)
    shared.pipeline.train(captioning, cfg, net, data)
    captioning.Describer(net, cfg.max_length).greedy(data.test.images[:4])
    (or the whole story: shared.pipeline.run(captioning, cfg))
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

from domain import captioning as scene_data
from shared import cli, specs, startup

NAME = "captioning"
PREDICT_INPUT = "an image: make predict-captioning IMAGE=path.png"


@dataclasses.dataclass(frozen=True)
class Config:
    source: str = "auto"         # auto | local (--data-dir: Flickr8k-style) | tfds (coco_captions) | synthetic
    data_dir: str = ""
    scenes: int = 6000           # synthetic images (3 captions each)
    size: int = 64               # images resized to size x size
    tfds_limit: int = 20_000     # coco_captions: at most this many training images
    decoder: str = "lstm"        # lstm | gru (shared.layers factory, one layer)
    units: int = 128             # decoder and attention size
    embed_dim: int = 64          # word embedding size of the caption decoder
    filters: int = 32            # first conv block of the small encoder (doubles per block)
    backbone: str = "small"      # small (trained here) | mobilenetv2 (ImageNet weights, frozen; needs them)
    vocab_size: int = 5000       # caption vocabulary, adapted on training captions only
    max_length: int = 16         # tokens per caption after [start]; longer captions are cut
    beam_width: int = 3          # beam search width (the report scores greedy and beam)
    batch_size: int = 64
    epochs: int = 15
    learning_rate: float = 2e-3
    seed: int = 1337
    jit_compile: bool = False  # XLA; the default is whichever trained faster here (make bench, BENCHMARKS.md)
    run_dir: str = "runs/captioning"

    CHOICES: ClassVar[dict] = {  # the command line lists these
        "source": scene_data.SOURCES, "decoder": specs.DECODER_KINDS, "backbone": ("small", "mobilenetv2")}

    def __post_init__(self):
        cli.check_choices(self)
        cli.at_least(self, 32, "size")
        cli.at_least(self, 20, "scenes")
        cli.at_least(self, 1, "units", "embed_dim", "filters", "beam_width")
        cli.at_least(self, 4, "max_length")
        cli.at_least(self, 8, "vocab_size")
        cli.check_training(self)


CARD = {  # the model card written beside every export (shared.pipeline.model_card)
    "use": "Describing an image in one English sentence, and a worked example of a CNN encoder with an attentional "
           "recurrent decoder.",
    "not for": "Accessibility or any use where a wrong caption matters, and images unlike the training set.",
    "data": "COCO Captions (CC BY 4.0 annotations; images under their Flickr licences) through TFDS, or a local "
            "Flickr8k-style folder; or scenes and captions generated here (offline).",
    "generated": ("synthetic",),
}


QUICK = {"source": "synthetic", "scenes": 1200, "size": 48, "units": 64, "embed_dim": 32, "filters": 16,
         "epochs": 10, "beam_width": 2, "learning_rate": 3e-3}


# the stages (pipelines.captioning.stages) load on first use: reading the options needs no TensorFlow
__getattr__, __dir__ = startup.later(__name__)
