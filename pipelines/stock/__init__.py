"""Stock forecasting: daily OHLCV bars -> windows of return features -> LSTM -> the next-day (or n-day) log
return, judged against the random walk (MASE, directional accuracy, Diebold-Mariano); exported for TF Serving.

Notebook:
    cfg = dataclasses.replace(stock.Config(), source="msft", epochs=2)
    bars = stock.load_data(cfg); model = stock.build_model(cfg, bars)
    shared.pipeline.train(stock, cfg, model, bars); metrics = stock.evaluate(cfg, model, bars)
    (or the whole story: shared.pipeline.run(stock, cfg))
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

from domain import stock as stock_data
from shared import cli, specs, startup

NAME = "stock"
PREDICT_INPUT = "a CSV: make predict-stock INPUT=path/to/bars.csv[.gz] ARGS=--ticker=AAPL"


@dataclasses.dataclass(frozen=True)
class Config:
    source: str = "auto"        # auto | local (--data-dir file or folder) | msft (bundled in pmdarima)
    data_dir: str = ""          # a daily OHLCV .csv/.csv.gz or a folder holding one; default $RNN_DATA_DIR/stocks
    ticker: str = ""            # which ticker of a multi-ticker file (required then), e.g. AAPL
    rnn: str = "lstm:32"          # RNN spec [bi]KIND:UNITS[xDEPTH][:DROPOUT] (shared.layers)
    past: int = 30              # trading days per window
    days: int = 1               # forecast the log return over the next `days` trading days (1 or 5, say)
    batch_size: int = 64
    epochs: int = 30
    learning_rate: float = 1e-3
    seed: int = 1337
    jit_compile: bool = True  # XLA; the default is whichever trained faster here (make bench, BENCHMARKS.md)
    run_dir: str = "runs/stock"

    CHOICES: ClassVar[dict] = {"source": stock_data.SOURCES}  # the command line lists these

    def __post_init__(self):
        specs.parse_spec(self.rnn)
        cli.check_choices(self)
        cli.at_least(self, 2, "past")
        cli.at_least(self, 1, "days")
        cli.check_training(self)


CARD = {  # the model card written beside every export (shared.pipeline.model_card)
    "use": "Teaching: how a recurrent forecaster compares with the random walk on daily returns, with the "
           "Diebold-Mariano test.",
    "not for": "Trading or investment advice: daily returns are close to unpredictable and the report shows whether "
               "the model beats the random walk at all.",
    "data": "Daily Microsoft bars 1986-2017 bundled in pmdarima, or a local CSV of daily bars (e.g. the S&P 500 "
            "2013-2018 set; check its terms); split by time.",
    "generated": (),
}


QUICK = {"source": "msft", "rnn": "gru:8", "epochs": 1}


# the stages (pipelines.stock.stages) load on first use: reading the options needs no TensorFlow
__getattr__, __dir__ = startup.later(__name__)
