"""Weather forecasting: weather rows (hourly Jena or daily Seattle) -> windows of the past 5 days -> stacked GRU ->
temperature 24 hours ahead (or each hour of the next 24), against persistence, seasonal naive and an AR model;
exported for TF Serving.

Notebook:
    cfg = dataclasses.replace(weather.Config(), source="seattle", epochs=2)
    series = weather.load_data(cfg); model = weather.build_model(cfg, series)
    shared.pipeline.train(weather, cfg, model, series); metrics = weather.evaluate(cfg, model, series)
    (or the whole story: shared.pipeline.run(weather, cfg))
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

from domain import weather as weather_data
from shared import cli, specs, startup

NAME = "weather"
PREDICT_INPUT = "a CSV: make predict-weather INPUT=path/to/file.csv"


@dataclasses.dataclass(frozen=True)
class Config:
    source: str = "auto"        # auto | jena (download) | local (a Jena CSV in --data-dir) | seattle (bundled, daily)
    data_dir: str = ""          # folder holding jena_climate_2009_2016.csv (local) or the download cache (jena)
    rnn: str = "gru:32x2"       # stacked GRU (shared.layers spec)
    past: int = 120             # hours of history per window (5 days; 5 rows of daily data)
    lead: int = 24              # forecast the temperature this many hours after the window's last row
    multi_step: bool = False    # instead forecast every row from 1 to `lead` hours ahead
    batch_size: int = 32          # for Jena's ~50k hourly windows, 256 (BATCH_SIZE=256 EPOCHS=10) is plenty
    epochs: int = 30              # early stopping (patience 3 on validation loss) ends sooner
    learning_rate: float = 1e-3
    seed: int = 1337
    jit_compile: bool = True  # XLA; the default is whichever trained faster here (make bench, BENCHMARKS.md)
    run_dir: str = "runs/weather"

    CHOICES: ClassVar[dict] = {"source": weather_data.SOURCES}  # the command line lists these

    def __post_init__(self):
        specs.parse_spec(self.rnn)
        cli.check_choices(self)
        cli.at_least(self, 2, "past")
        cli.at_least(self, 1, "lead")
        cli.check_training(self)

    def steps(self, step_hours: int) -> tuple[int, int, int]:
        """(width, lead, horizon) in rows of a series with `step_hours` per row: hourly (120, 24, 1) single step,
        (120, 1, 24) multi-step; daily (5, 1, 1)."""
        if self.past % step_hours or self.lead % step_hours:
            raise ValueError(f"--past {self.past} and --lead {self.lead} hours must be whole rows of "
                             f"{step_hours} h for this source.")
        width, lead = self.past // step_hours, self.lead // step_hours
        return (width, 1, lead) if self.multi_step else (width, lead, 1)


CARD = {  # the model card written beside every export (shared.pipeline.model_card)
    "use": "Teaching and benchmarking multivariate forecasting: temperature hours (Jena) or days (Seattle) ahead "
           "from the recent past of one station.",
    "not for": "Operational forecasts or warnings: one station's past cannot see incoming weather systems, and "
               "numerical weather prediction is far better beyond a few hours.",
    "data": "Jena Climate 2009-2016 (Max Planck Institute for Biogeochemistry, as distributed for the Keras "
            "examples), or the daily Seattle weather 2012-2015 bundled in domain/bundled (NOAA observations, public "
            "domain); split by time (train, validation, test in order).",
    "generated": (),
}


QUICK = {"source": "seattle", "rnn": "gru:8", "epochs": 1}


# the stages (pipelines.weather.stages) load on first use: reading the options needs no TensorFlow
__getattr__, __dir__ = startup.later(__name__)
