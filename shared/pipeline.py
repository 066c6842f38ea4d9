"""The one driver of every pipeline: the run story and the train / evaluate / export / predict commands, written
once on top of the contract each `pipelines/<domain>` package follows: the `Pipeline` protocol below (plain module
functions, no base class; `contract_problems` checks a package against it before any work).

The driver owns training: a pipeline describes its fit as a `training.Plan` (model, datasets, loss, the task's
choices) and the driver runs `training.fit`, which returns a `training.TrainResult` (history, timing, estimate).
A pipeline whose training is more than one fit (grouped cross-validation first, averaged members, several networks)
says so by defining the one hook `train(cfg, model, data, verbose) -> TrainResult` (`TrainsItself`); it still fits
through `training.fit`, and its `plan` is the fit that ships (what the benchmarks and the anatomy measure).

    data -> model -> plan -> fit (TrainResult) -> test split once -> report -> export -> model card -> serve

Notebook:
    from pipelines import weather
    from shared import pipeline
    result = pipeline.run(weather, dataclasses.replace(weather.Config(), epochs=2))
    # or step by step: data = weather.load_data(cfg); model = weather.build_model(cfg, data)
    #                  trained = pipeline.train(weather, cfg, model, data); weather.evaluate(cfg, model, data)
"""

from __future__ import annotations

import inspect
import json
import logging
import pathlib
import time
import types
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

from shared import cli, reports, validation

if TYPE_CHECKING:
    from shared import training

log = logging.getLogger(__name__)

# the one list of pipelines: the Makefile's DOMAINS (a test keeps them equal), make bench, the contract test
PIPELINES = ("ecg", "sentiment", "weather", "stock", "translation", "speech", "transcription", "action", "captioning",
             "textgen", "icu", "music", "anomaly")


class Pipeline(Protocol):
    """What a pipeline package holds (its module attributes; `model` is a keras.Model, or a wrapper holding the
    trained keras.Model under `.model` beside what serving needs, such as vocabularies)."""

    NAME: ClassVar[str]            # the domain: make targets, saved_models/<NAME>/, the report's title
    Config: ClassVar[type]         # frozen dataclass of options (seed, run_dir, epochs, ...): the command line
    QUICK: ClassVar[dict]          # --quick's changes to Config (seconds, for tests)
    PREDICT_INPUT: ClassVar[str]   # how predict's input is given, for the message when it is missing
    CARD: ClassVar[dict]           # the model card's words: use, not for, data, generated (source names)

    def load_data(self, cfg) -> Any:
        """The pipeline's own data object; data.source names the source that ran."""

    def build_model(self, cfg, data) -> Any:
        """A keras.Model, or a wrapper holding one under `.model`."""

    def plan(self, cfg, model, data) -> training.Plan:
        """The fit that trains the model that ships: its datasets, loss and choices."""

    def evaluate(self, cfg, model, data) -> dict | None:
        """The test split's metrics, touched once; None when the data has no test split (TEST_SPLIT says how)."""

    def summary(self, cfg, metrics, estimate) -> dict:
        """The headline figures: run()'s result, the log line, the export's metadata."""

    def export(self, cfg, model, data, headline, root) -> pathlib.Path:
        """A new SavedModel version under root/NAME; returns its path."""

    def build_report(self, cfg, data, metrics, timing, estimate) -> reports.Report:
        """The run's report (the driver writes it: report.md, report.json and the figures in the run folder)."""

    def load_trained(self, cfg) -> Any:
        """The run folder's best checkpoint, as build_model's kind of object."""

    def predict(self, cfg, given, model_path) -> object:
        """One raw input (a path or a text) through the exported model."""


@runtime_checkable
class TrainsItself(Protocol):
    """The one hook: training that is more than one fit. It returns what `training.fit` would, with the estimate on
    the training data (grouped cross-validation) in `estimate`, and keeps that estimate in the run folder
    (shared.validation.keep) for the later commands."""

    def train(self, cfg, model, data, verbose) -> training.TrainResult: ...


# each function of the protocol and the positional arguments the driver passes it
FUNCTIONS = {name: len(inspect.signature(getattr(Pipeline, name)).parameters) - 1  # less self
             for name in ("load_data", "build_model", "plan", "evaluate", "summary", "export", "build_report",
                          "load_trained", "predict")}
CONFIG_FIELDS = ("seed", "run_dir", "epochs", "learning_rate", "jit_compile")  # what training.Settings.of reads
CARD_KEYS = ("use", "not for", "data", "generated")


def contract_problems(pipeline: types.ModuleType) -> list[str]:
    """What a pipeline module lacks of the contract above, one line each (empty when it follows it): the names, the
    functions taking the driver's arguments, the Config fields the driver reads, QUICK naming only Config fields,
    the model card's words and a help text for every option."""
    import dataclasses
    import inspect

    problems = [f"no {name}" for name in Pipeline.__annotations__ if not hasattr(pipeline, name)]
    for name, count in FUNCTIONS.items():
        function = getattr(pipeline, name, None)
        if not callable(function):
            problems.append(f"no function {name}")
            continue
        try:
            inspect.signature(function).bind(*range(count))
        except TypeError:
            problems.append(f"{name}{inspect.signature(function)}: the driver passes {count} positional arguments")
    config = getattr(pipeline, "Config", None)
    if config is not None:
        fields = {f.name for f in dataclasses.fields(config)} if dataclasses.is_dataclass(config) else set()
        problems += [f"Config has no field {name}" for name in CONFIG_FIELDS if name not in fields]
        problems += [f"QUICK names {name}, not a Config field" for name in getattr(pipeline, "QUICK", {})
                     if name not in fields]
        problems += [f"--{name.replace('_', '-')} has no help text (a comment after the Config field)"
                     for name, text in cli.field_help(config).items() if not text] if fields else []
    card = getattr(pipeline, "CARD", {})
    problems += [f"CARD has no {key!r}" for key in CARD_KEYS if key not in card]
    hook = getattr(pipeline, "train", None)
    if hook is not None:
        try:
            inspect.signature(hook).bind(*range(4))
        except TypeError:
            problems.append(f"train{inspect.signature(hook)}: the driver passes 4 positional arguments")
    return problems


def train(pipeline: types.ModuleType, cfg, model, data, verbose: int | str = "auto") -> training.TrainResult:
    """Training, owned here: the pipeline's plan through `training.fit`, or its `train` hook (TrainsItself) when its
    training is more than one fit."""
    from shared import training

    if isinstance(pipeline, TrainsItself):
        return pipeline.train(cfg, model, data, verbose)
    return training.fit(pipeline.plan(cfg, model, data), training.Settings.of(cfg, verbose=verbose))


def run(pipeline: types.ModuleType, cfg, export_root: str | pathlib.Path | None = None,
        verbose: int | str = "auto", version: int | None = None) -> dict:
    """The whole story, the same for every pipeline: seed -> data -> model -> train -> test split once ->
    export -> report. Returns the headline figures and the exported version's path (version `version` when
    given, replacing it: --as-version); `export_root` defaults to saved_models/."""
    import keras

    from shared import export as shared_export  # TensorFlow loads when the work starts, not for --help

    start = time.perf_counter()
    keras.utils.set_random_seed(cfg.seed)
    data = pipeline.load_data(cfg)
    model = pipeline.build_model(cfg, data)
    trained = train(pipeline, cfg, model, data, verbose)
    metrics = pipeline.evaluate(cfg, model, data)
    headline = pipeline.summary(cfg, metrics, trained.estimate)
    report = pipeline.build_report(cfg, data, metrics, {**trained.timing,
                                                        "run_seconds": round(time.perf_counter() - start, 1)},
                                   trained.estimate)
    report.write(cfg.run_dir)
    path = pipeline.export(cfg, model, data, headline, export_root or shared_export.DEFAULT_ROOT)
    path = shared_export.pin(path, version) if version is not None else path
    model_card(pipeline, cfg, path, report)
    log.info("%s: %s", pipeline.NAME, json.dumps(reports.rounded(headline), default=str))
    source = str(getattr(data, "source", ""))
    if any(source.lower().startswith(g) for g in pipeline.CARD.get("generated", ())):
        caveat = (f"these figures are on data generated here ({source.split(' ')[0]}), not on real recordings: they "
                  "show the pipeline works, nothing more. " + pipeline.CARD.get("real", f"Train on the real dataset "
                                                                              f"(docs/{pipeline.NAME}.md)."))
        log.warning("%s", caveat)
        return {**headline, "export": str(path), "caveat": caveat}
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
    estimate = validation.kept(cfg.run_dir)  # what train estimated, kept in the run folder for this command
    pipeline.build_report(cfg, data, metrics, reports.previous(cfg.run_dir).get("timing", {}), estimate).write(
        cfg.run_dir)
    return pipeline.summary(cfg, metrics, estimate)


def export_checkpoint(pipeline: types.ModuleType, cfg, export_root: str | pathlib.Path | None = None,
                      version: int | None = None) -> dict:
    """`export`: the run folder's best checkpoint as a new SavedModel version, carrying the metrics of its report."""
    data = pipeline.load_data(cfg)
    from shared import export as shared_export

    path = pipeline.export(cfg, pipeline.load_trained(cfg), data, reports.checkpoint_metrics(cfg.run_dir),
                           export_root or shared_export.DEFAULT_ROOT)
    path = shared_export.pin(path, version) if version is not None else path
    model_card(pipeline, cfg, path)
    return {"export": str(path)}


def _code_version() -> str:
    """The git commit of this checkout (with '-dirty' for uncommitted changes), else the package version."""
    import subprocess

    try:
        done = subprocess.run(["git", "describe", "--always", "--dirty", "--abbrev=12"], capture_output=True,
                              text=True, timeout=10, cwd=pathlib.Path(__file__).resolve().parents[1])
        if done.returncode == 0 and done.stdout.strip():
            return f"git {done.stdout.strip()}"
    except OSError:
        pass
    from shared import export as shared_export

    return f"rnn-suite {shared_export.package_versions().get('rnn-suite', 'unknown')}"


def model_card(pipeline: types.ModuleType, cfg, path: str | pathlib.Path,
               report: reports.Report | None = None) -> pathlib.Path:
    """MODEL_CARD.md beside the version's metadata.json: intended and out-of-scope use (pipeline.CARD), the data
    that trained it and its licence, the protocol, the metrics with the baselines and published anchors of the run's
    `report` (the `export` command, which trains nothing, reads the run folder's), the code version; a banner when
    the data was generated here rather than real."""
    path = pathlib.Path(path)
    meta = json.loads((path / "metadata.json").read_text())
    report = reports.plain({k: getattr(report, k) for k in ("source", "metrics", "baselines", "anchors")}) \
        if report is not None else reports.previous(cfg.run_dir)
    card = pipeline.CARD
    source = str(report.get("source") or meta.get("source") or getattr(cfg, "source", "unknown"))
    generated = any(source.lower().startswith(g) for g in card.get("generated", ()))
    lines = [f"# Model card: {pipeline.NAME} version {meta.get('version', path.name)}", ""]
    if generated:
        lines += [f"> **Trained on data generated here ({source}), not on real recordings.** It shows that the "
                  "pipeline works end to end; its figures say nothing about real data. Train on the real dataset "
                  f"(docs/{pipeline.NAME}.md) before drawing any conclusion.", ""]
    lines += ["## Intended use", "", card["use"], "", "## Out of scope", "", card["not for"], "",
              "## Data", "", f"- this version: **{source}**", f"- {card['data']}", "",
              "## Protocol and metrics", "",
              "The split and the protocol are the run's report (report.md in the run folder): the test split is "
              "touched once, at the end; without one the figures are the grouped cross-validation's."
              f" Run folder: `{cfg.run_dir}`.", ""]
    metrics = meta.get("metrics") or report.get("metrics") or {}
    flat = {k: v for k, v in metrics.items() if not isinstance(v, dict)}
    if flat:
        lines += [reports.table({k: {"value": v} for k, v in flat.items()}, first="metric"), ""]
    for title, rows in (("Baselines (same data, same split)", report.get("baselines")),
                        ("Published anchors (other data or protocols: context, not a contest)", report.get("anchors"))):
        rows = {k: v for k, v in (rows or {}).items() if isinstance(v, dict)}
        if rows:
            lines += [f"## {title}", "", reports.table(rows), ""]
    lines += ["## Version", "", f"- exported {meta.get('created', '')} from {_code_version()}",
              f"- packages: {', '.join(f'{k} {v}' for k, v in (meta.get('versions') or {}).items())}",
              f"- signature: `serving_default` {json.dumps(meta.get('signature', {}).get('inputs', {}))}", ""]
    out = path / "MODEL_CARD.md"
    out.write_text("\n".join(lines))
    return out


def predict(pipeline: types.ModuleType, cfg, args) -> object:
    """`predict`: one --input through the exported model (cli.predict_each loops over several)."""
    if args.input is None:
        raise ValueError(f"predict needs {pipeline.PREDICT_INPUT} (or --input ...).")
    return pipeline.predict(cfg, args.input, args.model)


def main(pipeline: types.ModuleType, argv: list[str] | None = None) -> object:
    """`python -m pipelines.<domain> train|evaluate|export|predict [options]` for any pipeline package. The options
    are read first, from the package's Config alone (help and usage errors answer before TensorFlow loads); a
    pipeline that breaks the contract is refused before any work, naming what it lacks."""
    doc = (pipeline.__doc__ or pipeline.NAME).split("\n\n")[0]

    def checked(command):
        def call(cfg, args):
            problems = contract_problems(pipeline)
            if problems:
                raise SystemExit(f"error: pipeline {getattr(pipeline, 'NAME', pipeline.__name__)} breaks the contract "
                                 f"of shared/pipeline.py: {'; '.join(problems)}.")
            return command(cfg, args)
        return call
    return cli.main(pipeline.Config, argv, prog=f"python -m pipelines.{pipeline.NAME}", quick=pipeline.QUICK,
                    description=doc, predict_input=getattr(pipeline, "PREDICT_INPUT", "an input"),
                    commands={"train": checked(lambda cfg, args: run(pipeline, cfg, version=args.as_version)),
                              "evaluate": checked(lambda cfg, args: evaluate_checkpoint(pipeline, cfg)),
                              "export": checked(lambda cfg, args: export_checkpoint(pipeline, cfg,
                                                                                      version=args.as_version)),
                              "predict": checked(lambda cfg, args: predict(pipeline, cfg, args))})
