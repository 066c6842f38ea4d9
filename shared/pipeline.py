"""The one driver of every pipeline: the run story and the train / evaluate / export / predict commands, written
once on top of the contract that each `pipelines/<domain>.py` module follows (plain functions, no base class):

    NAME                                   the domain: make targets, saved_models/<NAME>/, the report's title
    Config, QUICK                          frozen dataclass of options (with seed and run_dir); --quick's changes
    PREDICT_INPUT                          how predict's input is given, for the message when it is missing
    load_data(cfg) -> data                 the pipeline's own data object; data.source names the source that ran
    build_model(cfg, data) -> model        a keras.Model, or the pipeline's wrapper around one
    train(cfg, model, data, verbose) -> keras.callbacks.History  (history.timing: train_seconds, ...)
    evaluate(cfg, model, data) -> metrics  the test split, touched once; None when the data has no test split
                                           (then TEST_SPLIT, where defined, says how to get one)
    summary(cfg, metrics) -> dict          the headline figures: run()'s result, the log line, the export metadata
    export(cfg, model, data, headline, root) -> path of the new SavedModel version
    write_report(cfg, data, metrics, timing)
    load_trained(cfg) -> model             the run folder's best checkpoint
    predict(cfg, given, model_path) -> result   one raw input (a path or a text) through the exported model

A pipeline that estimates on its training data first (grouped cross-validation) does so in `train`, writes it to
the run folder, and its `summary`/`write_report` read it from there, so `evaluate` on a checkpoint keeps it.

Notebook:
    from pipelines import weather
    from shared import pipeline
    result = pipeline.run(weather, dataclasses.replace(weather.Config(), epochs=2))
"""

from __future__ import annotations

import json
import logging
import pathlib
import time
import types

from shared import cli, reports
from shared import export as shared_export

log = logging.getLogger(__name__)


def run(pipeline: types.ModuleType, cfg, export_root: str | pathlib.Path = shared_export.DEFAULT_ROOT,
        verbose: int | str = "auto") -> dict:
    """The whole story, the same for every pipeline: seed -> data -> model -> train -> test split once ->
    export -> report. Returns the headline figures and the exported version's path."""
    import keras

    start = time.perf_counter()
    keras.utils.set_random_seed(cfg.seed)
    data = pipeline.load_data(cfg)
    model = pipeline.build_model(cfg, data)
    history = pipeline.train(cfg, model, data, verbose=verbose)
    metrics = pipeline.evaluate(cfg, model, data)
    headline = pipeline.summary(cfg, metrics)
    path = pipeline.export(cfg, model, data, headline, export_root)
    pipeline.write_report(cfg, data, metrics, {**history.timing, "run_seconds": round(time.perf_counter() - start, 1)})
    log.info("%s: %s", pipeline.NAME, json.dumps(headline, default=str))
    return {**headline, "export": str(path)}


def evaluate_checkpoint(pipeline: types.ModuleType, cfg) -> dict:
    """`evaluate`: the run folder's best checkpoint on the test split; the report is rewritten with the timing
    of the run that trained it."""
    data = pipeline.load_data(cfg)
    metrics = pipeline.evaluate(cfg, pipeline.load_trained(cfg), data)
    if metrics is None:
        how = getattr(pipeline, "TEST_SPLIT", "give data with a test split (see --help)")
        raise ValueError(f"no test split in {getattr(cfg, 'data_dir', '') or 'this source'}: the estimate on unseen "
                         f"data is the cross-validation in {cfg.run_dir}/report.md; to evaluate, {how}.")
    pipeline.write_report(cfg, data, metrics, reports.previous(cfg.run_dir).get("timing", {}))
    return pipeline.summary(cfg, metrics)


def export_checkpoint(pipeline: types.ModuleType, cfg, export_root: str | pathlib.Path = shared_export.DEFAULT_ROOT
                      ) -> dict:
    """`export`: the run folder's best checkpoint as a new SavedModel version, carrying the metrics of its report."""
    data = pipeline.load_data(cfg)
    path = pipeline.export(cfg, pipeline.load_trained(cfg), data, reports.checkpoint_metrics(cfg.run_dir), export_root)
    return {"export": str(path)}


def predict(pipeline: types.ModuleType, cfg, args) -> object:
    """`predict`: one --input through the exported model (cli.predict_each loops over several)."""
    if args.input is None:
        raise ValueError(f"predict needs {pipeline.PREDICT_INPUT} (or --input ...).")
    return pipeline.predict(cfg, args.input, args.model)


def main(pipeline: types.ModuleType, argv: list[str] | None = None) -> object:
    """`python -m pipelines.<domain> train|evaluate|export|predict [options]` for any pipeline module."""
    doc = (pipeline.__doc__ or pipeline.NAME).split("\n\n")[0]
    return cli.main(pipeline.Config, argv, prog=f"python -m pipelines.{pipeline.NAME}", quick=pipeline.QUICK,
                    description=doc,
                    commands={"train": lambda cfg, args: run(pipeline, cfg),
                              "evaluate": lambda cfg, args: evaluate_checkpoint(pipeline, cfg),
                              "export": lambda cfg, args: export_checkpoint(pipeline, cfg),
                              "predict": lambda cfg, args: predict(pipeline, cfg, args)})
