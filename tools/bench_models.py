"""What both benchmarks measure (tools.bench, tools.bench_serving): each pipeline's default model, its plan's input
and loss, on a small offline source."""

from __future__ import annotations

import dataclasses
import tempfile

from shared import pipeline

PIPELINES = pipeline.PIPELINES


# the default model of each pipeline on a small offline source (and no cross-validation before the fit)
BENCH_CONFIG = {
    "ecg": {"source": "synthetic", "synthetic_minutes": 2.0, "cv_folds": 0},
    "sentiment": {"source": "synthetic", "synthetic_reviews": 2000},
    "weather": {"source": "seattle"},
    "stock": {"source": "msft"},
    "translation": {"source": "numbers", "max_pairs": 4000},
    "speech": {"source": "synthetic", "takes": 2, "cv_folds": 0},
    "transcription": {"source": "synthetic", "takes": 2, "sequences": 600},
    "action": {"clips": 400, "models": "lrcn"},
    "captioning": {"scenes": 600},
    "textgen": {"source": "bundled"},
    "icu": {"source": "synthetic", "synthetic_stays": 1000, "cv_folds": 0},
    "music": {"source": "synthetic"},
    "anomaly": {"source": "synthetic"},
}


def setup(name: str):
    """(model, training dataset, loss, config, module, data): the pipeline's plan (the fit of the model it ships),
    on BENCH_CONFIG's data."""
    import importlib

    if name not in PIPELINES:
        raise ValueError(f"unknown pipeline {name!r}; expected one of {PIPELINES}.")
    module = importlib.import_module(f"pipelines.{name}")
    cfg = dataclasses.replace(module.Config(), **BENCH_CONFIG[name], run_dir=scratch(name))
    data = module.load_data(cfg)
    model = module.build_model(cfg, data)
    plan = module.plan(cfg, model, data)
    return plan.model, plan.train, plan.loss, cfg, module, data


def scratch(name: str) -> str:
    return tempfile.mkdtemp(prefix=f"bench-{name}-")
