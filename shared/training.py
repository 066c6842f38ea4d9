"""Training: one `fit` for every pipeline. A pipeline describes one fit as a `Plan` (its model, datasets, loss and the
choices of its task); `fit` compiles it, adds the standard callbacks (epoch backup and resume, best checkpoint, early
stopping, history, TensorBoard, timing) and returns a `TrainResult`. The strategy and workers are
shared.distribution's, the run folder's files shared.checkpoints'.

Notebook:
    result = training.fit(training.Plan(model, train_ds, val_ds, loss="sparse_categorical_crossentropy",
                                        metrics=["accuracy"]), training.Settings(run_dir="runs/demo", epochs=3))
    result.timing   # {"train_seconds": ..., "samples_per_second": ..., ...}
"""

from __future__ import annotations

import csv
import dataclasses
import json
import logging
import os
import pathlib
import time
import warnings
from collections.abc import Callable, Sequence

import keras
import numpy as np
import tensorflow as tf

from shared import checkpoints, data, distribution, layers, plots

log = logging.getLogger(__name__)

def optimizer(learning_rate: float, *, clipnorm: float | None = None, clipvalue: float | None = None,
              name: str = "adam") -> keras.optimizers.Optimizer:
    """Adam (or SGD with momentum 0.9: `name="sgd"`) with optional gradient clipping: by the norm of each
    gradient (`clipnorm`) or by value (`clipvalue`), one of the two."""
    if clipnorm is not None and clipvalue is not None:
        raise ValueError("gradient clipping: set clipnorm or clipvalue, not both.")
    if name == "sgd":
        return keras.optimizers.SGD(learning_rate, momentum=0.9, clipnorm=clipnorm, clipvalue=clipvalue)
    if name != "adam":
        raise ValueError(f"optimizer {name!r}: expected 'adam' or 'sgd'.")
    return keras.optimizers.Adam(learning_rate, clipnorm=clipnorm, clipvalue=clipvalue)


class _Timer(keras.callbacks.Callback):
    """Wall time of the training batches of each epoch (validation and callbacks excluded)."""

    def __init__(self):
        super().__init__()
        self.epoch_seconds: list[float] = []
        self.steps: list[int] = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start, self._last, self._steps = time.perf_counter(), None, 0

    def on_train_batch_end(self, batch, logs=None):
        self._last, self._steps = time.perf_counter(), self._steps + 1

    def on_epoch_end(self, epoch, logs=None):
        if self._last is not None:
            self.epoch_seconds.append(self._last - self._start)
            self.steps.append(self._steps)


class _EpochClock(keras.callbacks.Callback):
    """Tells the datasets which epoch begins (shared.data.epoch()), so their seeded orders and variations are those
    of that epoch, whether the run got there uninterrupted or resumed there."""

    def on_epoch_begin(self, epoch, logs=None):
        data.epoch().assign(epoch)


class EpochScores(keras.callbacks.Callback):
    """After every epoch: `predict(model)` on held-out data (e.g. a cross-validation fold's unseen patients or
    speaker), kept in `predictions` (one array per epoch, for choosing the epoch count afterwards), and
    `score(labels, predicted)` logged as `name`, so a checkpoint or early stopping placed after it (fit's
    `scorers`) can follow it."""

    def __init__(self, predict, labels: np.ndarray, score, name: str):
        super().__init__()
        self.predict, self.labels, self.score, self.name = predict, np.asarray(labels), score, name
        self.predictions: list[np.ndarray] = []

    def on_epoch_end(self, epoch, logs=None):
        predicted = np.asarray(self.predict(self.model))
        self.predictions.append(predicted)
        if logs is not None:
            logs[self.name] = float(self.score(self.labels, predicted))


def read_history(path: str | pathlib.Path) -> dict[str, list[float]]:
    """The CSVLogger history file as {column: [value per epoch]} (epoch column included; NA -> NaN, all-NA columns dropped)."""
    path = pathlib.Path(path)
    if not path.exists():
        return {}
    with path.open() as f:
        rows = list(csv.DictReader(f))
    columns = {key: [float("nan") if row[key] in ("", "NA") else float(row[key]) for row in rows]
               for key in (rows[0] if rows else {})}
    return {key: values for key, values in columns.items() if not np.isnan(values).all()}  # CSVLogger's NA columns


def compute_policy(model: keras.Model) -> dict[str, object]:
    """Which accelerated paths a compiled model takes: XLA (jit_compile) and cuDNN recurrent kernels."""
    gpus = tf.config.list_logical_devices("GPU")
    recurrent = list(layers.recurrent_layers(model))
    eligible = [layer for layer in recurrent if not layers.cudnn_problems(layer)]
    return {"jit_compile": bool(model.jit_compile), "gpus": len(gpus),
            "cudnn_layers": len(eligible) if gpus else 0, "recurrent_layers": len(recurrent),
            "dtype_policy": keras.config.dtype_policy().name}


def progress_verbosity(verbose: int | str) -> int | str:
    """Keras fit's `verbose` for "auto": the progress bar (1) on a terminal, one plain line per epoch (2) when
    the output goes to a file or a pipe (no escape codes in logs), none (0) with RNN_PROGRESS=0."""
    import sys

    if verbose != "auto":
        return verbose
    if os.environ.get("RNN_PROGRESS") == "0":
        return 0
    return 1 if sys.stdout.isatty() else 2


@dataclasses.dataclass(frozen=True)
class Settings:
    """What every pipeline's training shares, taken from its Config (`Settings.of(cfg)`); a `Plan` holds the task's
    own choices (loss, metrics, patience, monitor, class weights, ...)."""

    run_dir: str | pathlib.Path
    epochs: int
    learning_rate: float = 1e-3
    seed: int | None = None
    jit_compile: bool | str = "auto"
    verbose: int | str = "auto"
    options: dict | None = None  # the pipeline's Config as a dict: kept in run_options.json (check_resume)

    def __post_init__(self):
        """Checked once, here, for every fit (a pipeline's Config has checked its own options already)."""
        if self.epochs < 1:
            raise ValueError(f"epochs={self.epochs}: expected at least 1.")
        if not 0 < self.learning_rate < float("inf"):  # NaN fails too
            raise ValueError(f"learning_rate={self.learning_rate}: expected a positive finite number.")

    @classmethod
    def of(cls, cfg, **changes) -> Settings:
        """From a pipeline Config (run_dir, epochs, learning_rate, seed, jit_compile), with `changes` applied."""
        return cls(**{"run_dir": cfg.run_dir, "epochs": cfg.epochs, "learning_rate": cfg.learning_rate,
                      "seed": cfg.seed, "jit_compile": cfg.jit_compile, "options": dataclasses.asdict(cfg),
                      **changes})


@dataclasses.dataclass
class Plan:
    """One fit, as a pipeline describes it: the model and its datasets, and its task's choices. Without `validation`
    the checkpoint and early stopping follow the training loss (or a `scorers` metric named by `monitor`).

    scorers run before the standard callbacks, so a metric they add to the logs (a held-out score) is logged,
    checkpointed on and monitored; `callbacks` run after them. With `early_stopping=False` every epoch runs and the
    last is kept (an epoch count chosen beforehand, e.g. by cross-validation). With `cosine_epochs` the learning rate
    falls along a cosine over that many epochs, so the first k epochs of a longer run are exactly a k-epoch run.
    `rates` name the units one epoch holds ({"samples": 5000, "audio_seconds": 830.2}): the timing reports each as
    `<unit>_per_second` of training."""

    model: keras.Model
    train: tf.data.Dataset
    validation: tf.data.Dataset | None = None
    loss: object = None              # None: the model is compiled already
    metrics: Sequence = ()
    monitor: str | None = None       # default val_loss with validation data, else loss
    monitor_mode: str = "auto"
    patience: int = 5
    early_stopping: bool = True
    class_weight: dict[int, float] | None = None
    cosine_epochs: int | None = None
    optimizer: str = "adam"          # or "sgd" (momentum 0.9)
    clipnorm: float | None = None
    clipvalue: float | None = None
    rates: dict[str, float] = dataclasses.field(default_factory=dict)
    tensorboard: bool = True
    scorers: Sequence[keras.callbacks.Callback] = ()
    callbacks: Sequence[keras.callbacks.Callback] = ()


@dataclasses.dataclass
class TrainResult:
    """What training gives the driver: the per-epoch history, the timing (train_seconds, epochs, seconds_per_epoch,
    <unit>_per_second; a pipeline adds its own phases), the accelerated paths taken (XLA, cuDNN) and, for a pipeline
    that estimates on its training data first (grouped cross-validation), that estimate."""

    history: dict[str, list[float]]  # the epochs this call ran (a resumed run: from where it resumed)
    timing: dict[str, float | int | None]
    policy: dict[str, object] = dataclasses.field(default_factory=dict)
    estimate: dict | None = None
    epochs_run: list[int] = dataclasses.field(default_factory=list)  # their indices, from 0


def fit(plan: Plan, settings: Settings) -> TrainResult:
    """Compile plan.model (when plan.loss is given) and train it into settings.run_dir with the standard callbacks.

    run_dir receives: backup/ (checkpoints.EpochBackup: a run killed at any instant and started again with the same
    run_dir resumes at the epoch where it stopped, as if never killed), best.keras (best checkpoint by the monitor),
    history.csv (appended across resumes), logs/ (TensorBoard), training_curves.png and timing.json. Early stopping
    restores the best weights at the end. settings.options (the pipeline's Config) are kept in run_options.json;
    resuming an interrupted run with other options is refused, naming them (checkpoints.check_resume)."""
    run_dir = pathlib.Path(settings.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    if settings.seed is not None:
        keras.utils.set_random_seed(settings.seed)
    train_ds, val_ds, validation_steps = _distributed(plan, settings)
    _compile(plan, settings)
    monitor = plan.monitor or ("val_loss" if val_ds is not None else "loss")
    history_csv = run_dir / "history.csv"
    checkpoint = keras.callbacks.ModelCheckpoint(str(run_dir / "best.keras"), monitor=monitor, mode=plan.monitor_mode,
                                                 save_best_only=plan.early_stopping)
    early = keras.callbacks.EarlyStopping(monitor=monitor, mode=plan.monitor_mode, patience=plan.patience,
                                          restore_best_weights=True) if plan.early_stopping else None
    backup = checkpoints.EpochBackup(run_dir / "backup", history_csv, checkpoint, early, plan.scorers)
    resuming = backup.latest() is not None
    checkpoints.check_resume(run_dir, _run_options(plan, settings, monitor), resuming)
    if not resuming and history_csv.exists():
        history_csv.unlink()  # a fresh run starts a fresh history; a resumed one appends to it
    timer = _Timer()
    standard = [backup.restore,  # first: puts the last finished epoch back before the logger opens history.csv
                _EpochClock(), keras.callbacks.CSVLogger(str(history_csv), append=True), checkpoint,
                *([early] if early else []),
                *([cosine_schedule(settings.learning_rate, plan.cosine_epochs)] if plan.cosine_epochs else []),
                keras.callbacks.TerminateOnNaN(), timer,
                *([keras.callbacks.TensorBoard(str(run_dir / "logs"), write_graph=False, profile_batch=0)]
                  if plan.tensorboard else []),
                backup]  # last: the epoch's state once every file of it is written
    policy = compute_policy(plan.model)
    log.info("training %s: %d params, XLA jit_compile=%s, cuDNN recurrent layers=%d of %d (GPUs: %d), dtype policy "
             "%s%s", plan.model.name, plan.model.count_params(), policy["jit_compile"], policy["cudnn_layers"],
             policy["recurrent_layers"], policy["gpus"], policy["dtype_policy"], ", resuming from backup" if resuming
             else "")
    start = time.perf_counter()
    with warnings.catch_warnings():
        # every dataset here is one finite pass per epoch (length-bucketed ones have no known length): its end is
        # the epoch's end, not the shortage Keras 3 warns about ("Your input ran out of data") at each such epoch
        warnings.filterwarnings("ignore", message="Your input ran out of data", category=UserWarning)
        history = plan.model.fit(train_ds, validation_data=val_ds, epochs=settings.epochs,
                                 class_weight=plan.class_weight, callbacks=[*plan.scorers, *standard, *plan.callbacks],
                                 verbose=progress_verbosity(settings.verbose), shuffle=False,
                                 validation_steps=validation_steps)
    if early is not None and early.best_weights is not None:
        plan.model.set_weights(early.best_weights)
    check_finite(plan.model, history.history.get("loss", []))
    result = TrainResult(history.history, _timing(timer, plan.rates, time.perf_counter() - start), policy,
                         epochs_run=list(history.epoch))
    _write_curves(run_dir, history_csv, result)
    return result


def _distributed(plan: Plan, settings: Settings) -> tuple:
    """(training data, validation data, validation steps) as the strategy needs them: across workers, datasets
    sharded by data and validation on full global batches for a fixed number of steps."""
    train_ds, val_ds = plan.train, plan.validation
    if not isinstance(tf.distribute.get_strategy(), tf.distribute.MultiWorkerMirroredStrategy):
        return train_ds, val_ds, None
    val_ds = distribution.full_batches(val_ds, (settings.options or {}).get("batch_size"))
    # a fixed number of evaluation steps that every worker's share holds (the full global batches, counted once
    # outside the strategy, over the replicas: sharding by data deals each worker its share of them): the
    # evaluation never reaches the end of its data, where the workers' end-of-data handshake could hand one
    # replica an empty batch (a GRU's TensorListStack then failed in test_step, now and then in CI)
    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    steps = max(1, int(val_ds.reduce(0, lambda n, _: n + 1)) // replicas) if isinstance(val_ds, tf.data.Dataset) \
        else None
    return distribution.shard_by_data(train_ds), distribution.shard_by_data(val_ds), steps


def _compile(plan: Plan, settings: Settings) -> None:
    """Compile with the plan's loss and optimizer; XLA off where it cannot compile a distributed step."""
    jit_compile = settings.jit_compile
    if jit_compile is True and tf.distribute.has_strategy() and tf.distribute.get_strategy().num_replicas_in_sync > 1:
        # XLA cannot compile a step whose mirrored variables live on other devices (measured: "Trying to access
        # resource ... located in device CPU:1"; tensorflow.org/xla/known_issues#tfvariable_on_a_different_device)
        log.info("jit_compile off: XLA does not compile a step over %d replicas",
                 tf.distribute.get_strategy().num_replicas_in_sync)
        jit_compile = False
    if plan.loss is not None:
        plan.model.compile(optimizer=optimizer(settings.learning_rate, clipnorm=plan.clipnorm,
                                               clipvalue=plan.clipvalue, name=plan.optimizer),
                           loss=plan.loss, metrics=list(plan.metrics), jit_compile=jit_compile)
    elif not plan.model.compiled:
        raise ValueError("training.fit: give the plan a loss, or compile the model first.")


def _run_options(plan: Plan, settings: Settings, monitor: str) -> dict:
    """What makes a run this run (kept in run_options.json; a resume with others is refused)."""
    return {**(settings.options or {}), "weight shapes": [list(w.shape) for w in plan.model.weights],
            "epochs": settings.epochs, "learning_rate": settings.learning_rate, "seed": settings.seed,
            "monitor": monitor, "patience": plan.patience, "early_stopping": plan.early_stopping,
            "cosine_epochs": plan.cosine_epochs, "class_weight": plan.class_weight}


def _timing(timer: _Timer, rates: dict[str, float], seconds: float) -> dict:
    """train_seconds, epochs, the median seconds per epoch after the first (which includes tracing) and the units of
    `rates` per second of training batches."""
    steady = timer.epoch_seconds[1:] or timer.epoch_seconds
    per_epoch = float(np.median(steady)) if steady else None
    return {"train_seconds": round(seconds, 3), "epochs": len(timer.epoch_seconds),
            "seconds_per_epoch": round(per_epoch, 3) if per_epoch else None,
            **{f"{unit}_per_second": round(count / per_epoch, 1) if per_epoch and count else None
               for unit, count in {"samples": None, **rates}.items()}}


def _write_curves(run_dir: pathlib.Path, history_csv: pathlib.Path, result: TrainResult) -> None:
    full = read_history(history_csv)
    if full:
        plots.history_figure(full).savefig(run_dir / "training_curves.png", dpi=100)
    (run_dir / "timing.json").write_text(json.dumps({**result.timing, **result.policy}, indent=2) + "\n")




def check_finite(model: keras.Model, losses: Sequence[float]) -> None:
    """Training that diverged stops here (TerminateOnNaN ended it): no report, no export of NaN weights."""
    bad = next((i for i, v in enumerate(losses) if not np.isfinite(v)), None)
    if bad is not None or not all(np.isfinite(w).all() for w in model.get_weights()):
        where = f"the loss became {losses[bad]} in epoch {bad + 1}" if bad is not None else "the weights are not finite"
        raise RuntimeError(f"training diverged: {where}; nothing was exported. Lower --learning-rate, or check the "
                           "data for NaN or inf values.")


def cosine_schedule(learning_rate: float, epochs: int) -> keras.callbacks.LearningRateScheduler:
    """Epoch e (from 0) trains at learning_rate * (1 + cos(pi * e / epochs)) / 2."""
    return keras.callbacks.LearningRateScheduler(
        lambda epoch, _: float(learning_rate * 0.5 * (1 + np.cos(np.pi * min(epoch, epochs) / epochs))))


def fit_members(model: keras.Model, networks: list[keras.Model], cfg,
                fit_one: Callable[[keras.Model, object], TrainResult]) -> TrainResult:
    """Model averaging: each of `networks` (the members inside `model`, which averages them) trained alone by
    `fit_one(network, member_cfg)`, where member_cfg is `cfg` with seed cfg.seed + k - 1 and run folder
    cfg.run_dir/member-k. A member that an earlier, interrupted run finished with the same options is read back
    from its best.keras, not trained again. The averaged model is saved as cfg.run_dir/best.keras. Returns the
    first member trained here's result (its curves), with timing summed over the members trained."""
    options, trained = json.dumps(dataclasses.asdict(cfg), sort_keys=True, default=str), []
    for k, network in enumerate(networks, start=1):
        member = dataclasses.replace(cfg, seed=cfg.seed + k - 1, run_dir=str(pathlib.Path(cfg.run_dir) / f"member-{k}"))
        done = pathlib.Path(member.run_dir) / "finished.json"
        if done.exists() and done.read_text() == options:
            network.set_weights(keras.models.load_model(pathlib.Path(member.run_dir) / "best.keras").get_weights())
            log.info("member %d of %d: read back from %s", k, len(networks), member.run_dir)
            continue
        log.info("member %d of %d (seed %d)", k, len(networks), member.seed)
        trained.append(fit_one(network, member))
        done.write_text(options)
    first = trained[0] if trained else TrainResult({}, {})
    timing = {**first.timing, "members": len(networks),
              "train_seconds": round(sum(r.timing["train_seconds"] for r in trained), 1),
              "epochs": sum(r.timing["epochs"] for r in trained)}
    model.save(pathlib.Path(cfg.run_dir) / "best.keras")
    return dataclasses.replace(first, timing=timing)
