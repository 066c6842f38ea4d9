"""Video action recognition: sampled frames -> per-frame CNN (TimeDistributed) -> RNN over time (LRCN), or a
ConvLSTM2D, beside the same frame CNN with its features averaged over time (no temporal model) as the baseline.

Notebook:
    cfg = dataclasses.replace(action.Config(), clips=400, epochs=3)
    clips = action.load_data(cfg); models = action.build_model(cfg, clips)   # Networks: .model ships, .by_kind
    shared.pipeline.train(action, cfg, models, clips); action.evaluate(cfg, models, clips)["lrcn"]["top-1"]
    (or the whole story: shared.pipeline.run(action, cfg))
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

from domain import action as video_data
from shared import cli, specs, startup

NAME = "action"
PREDICT_INPUT = "a video: make predict-action VIDEO=path.mp4"
MODELS = ("lrcn", "convlstm", "average")
BACKBONES = ("small", "mobilenetv2")


@dataclasses.dataclass(frozen=True)
class Config:
    source: str = "auto"          # auto | local (--data-dir: <action>/<clip>.avi|mp4) | tfds (ucf101) | synthetic
    data_dir: str = ""
    clips: int = 2400             # synthetic clips (balanced over the 8 motions)
    raw_frames: int = 24          # synthetic frames per clip before sampling
    frames: int = 16              # frames sampled per clip (uniform; random offset within segments in training)
    size: int = 32                # frames resized to size x size
    models: str = "lrcn,convlstm,average"  # trained and reported; the first is exported
    rnn: str = "gru:64"           # shared.layers spec over the frame features (LRCN)
    backbone: str = "small"       # small (a CNN trained here) | mobilenetv2 (ImageNet weights, frozen; needs them)
    tfds_limit: int = 0           # ucf101: at most this many training clips (0: all)
    batch_size: int = 32
    epochs: int = 25
    learning_rate: float = 1e-3
    seed: int = 1337
    jit_compile: bool = False  # XLA; the default is whichever trained faster here (make bench, BENCHMARKS.md)
    run_dir: str = "runs/action"

    CHOICES: ClassVar[dict] = {"source": video_data.SOURCES, "backbone": BACKBONES}  # the command line lists these

    def __post_init__(self):
        specs.parse_spec(self.rnn)
        cli.check_choices(self)
        unknown = set(self.model_list) - set(MODELS)
        if unknown or not self.model_list:
            raise ValueError(f"--models {self.models!r}: expected a comma-separated subset of {list(MODELS)}.")
        cli.at_least(self, 2, "frames", "raw_frames")
        cli.at_least(self, 16, "size", "clips")
        if self.backbone == "mobilenetv2" and self.size < 32:
            raise ValueError("--backbone mobilenetv2 needs --size >= 32.")
        cli.check_training(self)

    @property
    def model_list(self) -> list[str]:
        return [m.strip() for m in self.models.split(",") if m.strip()]


CARD = {  # the model card written beside every export (shared.pipeline.model_card)
    "use": "Recognising the action in a short video clip among the trained classes, and comparing a CNN+RNN with "
           "frame averaging.",
    "not for": "Surveillance or judging people; classes beyond the trained ones.",
    "data": "UCF101 (Soomro et al. 2012; research use) through TFDS or a local folder of class sub-folders; or clips "
            "generated here (offline).",
    "generated": ("synthetic",),
}


QUICK = {"source": "synthetic", "clips": 480, "raw_frames": 12, "frames": 8, "size": 24, "rnn": "gru:24",
         "models": "lrcn,average", "epochs": 8, "learning_rate": 3e-3}


# the stages (pipelines.action.stages) load on first use: reading the options needs no TensorFlow
__getattr__, __dir__ = startup.later(__name__)
