"""Time-series anomaly detection, unsupervised and online as the Numenta Anomaly Benchmark requires: a GRU
forecaster learns from every series' probationary period only (its first 15%, no labels), reads the last
`window` values (each window scaled by its own mean and spread, so one model serves series of any scale) and
forecasts the next; each later point's forecast error becomes an anomaly score in [0, 1] without labels (how far
the recent errors stand above the series' own past errors: NAB's anomaly likelihood). Scored with NAB's rules
(three profiles, threshold swept over the corpus, null = 0, perfect = 100) and event-level precision / recall /
F1, beside the null, random, windowed Gaussian and persistence-forecast detectors on the same series.

Notebook:
    cfg = dataclasses.replace(anomaly.Config(), source="synthetic", epochs=3)
    corpus = anomaly.load_data(cfg); model = anomaly.build_model(cfg, corpus)
    shared.pipeline.train(anomaly, cfg, model, corpus); anomaly.evaluate(cfg, model, corpus)["detectors"]
    (or the whole story: shared.pipeline.run(anomaly, cfg)); anomaly.predict(cfg, "series.csv")
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

from domain import anomaly as nab
from shared import cli, specs, startup

NAME = "anomaly"
PREDICT_INPUT = "a series: make predict-anomaly INPUT=series.csv (timestamp,value)"


@dataclasses.dataclass(frozen=True)
class Config:
    source: str = "auto"          # auto | local (--data-dir in NAB's layout: data/<category>/*.csv, labels/) | synthetic
    data_dir: str = ""            # default $RNN_DATA_DIR/nab
    rnn: str = "gru:32"           # the forecaster's recurrent part (unidirectional: it reads the past)
    window: int = 32              # past values read per forecast
    alarm_tail: float = 1e-6      # a label-free threshold, reported beside NAB's sweep: flag a point when errors as
                                  # high as its recent ones had this probability under its past errors
    synthetic_series: int = 8     # series generated for --source synthetic
    batch_size: int = 256
    epochs: int = 20              # the most epochs; early stopping on a tenth of the probationary windows
    learning_rate: float = 2e-3
    seed: int = 1337
    jit_compile: bool = False     # XLA
    run_dir: str = "runs/anomaly"

    CHOICES: ClassVar[dict] = {"source": nab.SOURCES}

    def __post_init__(self):
        if specs.parse_spec(self.rnn).bidirectional:
            raise ValueError(f"--rnn {self.rnn}: an online detector reads the past only; use gru:32 or lstm:32.")
        cli.check_choices(self)
        cli.at_least(self, 2, "window")
        cli.at_least(self, 3, "synthetic_series")
        if not 0 < self.alarm_tail < 0.5:
            raise ValueError(f"--alarm-tail {self.alarm_tail}: expected a probability between 0 and 0.5.")
        cli.check_training(self)


CARD = {  # the model card written beside every export (shared.pipeline.model_card)
    "use": "Flagging unusual points in a univariate metric stream (machine temperatures, request latencies, "
           "demand), online, without labels; a worked example of forecast-error anomaly detection with an RNN.",
    "not for": "Safety-critical alarms without a person checking them; multivariate streams; series whose normal "
               "behaviour changes faster than the window can follow (expect false alarms after regime changes).",
    "data": "Numenta Anomaly Benchmark series (MIT; Lavin & Ahmad 2015) in NAB's layout, or series generated here "
            "(offline).",
    "generated": ("synthetic",),
}


QUICK = {"source": "synthetic", "synthetic_series": 4, "rnn": "gru:8", "window": 16, "epochs": 2}


# the stages (pipelines.anomaly.stages) load on first use: reading the options needs no TensorFlow
__getattr__, __dir__ = startup.later(__name__)
