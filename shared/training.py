"""One fit helper for every pipeline: compile, standard callbacks, resume, XLA/cuDNN policy, timing, curves.

Notebook:
    history = training.fit(model, train_ds, val_ds, training.Settings(run_dir="runs/demo", epochs=3),
                           loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history.timing   # {"train_seconds": ..., "samples_per_second": ..., ...}
"""

from __future__ import annotations

import csv
import dataclasses
import json
import logging
import os
import pathlib
import shutil
import time
import warnings
from collections.abc import Callable, Sequence

import keras
import numpy as np
import tensorflow as tf

from shared import data, layers, plots

log = logging.getLogger(__name__)

STRATEGIES = ("default", "mirrored", "multiworker")


def set_mixed_precision(enabled: bool) -> str:
    """Set the global dtype policy before building a model: "mixed_float16" (GPU) or "float32". Returns its name.
    Keep a pipeline's output layer in float32 (`dtype="float32"`) so losses and probabilities stay exact."""
    policy = "mixed_float16" if enabled else "float32"
    keras.mixed_precision.set_dtype_policy(policy)
    return policy


def get_strategy(name: str = "default") -> tf.distribute.Strategy:
    """The tf.distribute strategy to build and train a model under (`with strategy.scope(): ...`).

    default: the current (single-device) strategy; mirrored: all local GPUs (or logical devices);
    multiworker: MultiWorkerMirroredStrategy across the hosts that TF_CONFIG describes.
    """
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        gpus = tf.config.list_logical_devices("GPU")
        devices = [d.name for d in gpus or tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(devices)
    if name == "multiworker":
        if "TF_CONFIG" not in os.environ:
            raise ValueError("strategy 'multiworker' needs the TF_CONFIG environment variable (cluster and task) "
                             "on every worker; see the README section on distributed training.")
        try:
            config = json.loads(os.environ["TF_CONFIG"])
        except ValueError:
            config = None
        if not (isinstance(config, dict) and isinstance(config.get("cluster"), dict) and "task" in config):
            raise ValueError(f"TF_CONFIG is not a JSON object with 'cluster' and 'task' (got "
                             f"{os.environ['TF_CONFIG'][:80]!r}); e.g. {{\"cluster\": {{\"worker\": [\"host1:port\", "
                             f"\"host2:port\"]}}, \"task\": {{\"type\": \"worker\", \"index\": 0}}}}.")
        _fix_keras_multiworker()
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ValueError(f"strategy {name!r}: expected one of {list(STRATEGIES)}.")


def _fix_keras_multiworker() -> None:
    """Mend the two places where Keras 3's TensorFlow trainer breaks under MultiWorkerMirroredStrategy with more
    than one worker (keras-team/keras#20585, open; measured here with Keras 3.15.1):
    1. before the first step `fit` builds the model from one batch through `strategy.reduce("MEAN", batch)` on
       the whole (x, y) structure, which the collective reduce cannot take ("Attempt to convert a value
       (PerReplica ...)"): the build only needs shapes, so it gets this worker's first local batch;
    2. step outputs (scalar metrics) are reduced with `strategy.reduce("MEAN", v, axis=0)`, which fails on a
       scalar: scalars are averaged across replicas with axis=None, so every worker logs the same global
       metrics (EarlyStopping and the best checkpoint then decide alike on every worker).
    Applied only by get_strategy("multiworker"); a Keras without these internals fails with a clear error."""
    from keras.src import tree
    from keras.src.backend.tensorflow import trainer

    if getattr(trainer, "_rnn_suite_multiworker_fix", False):
        return
    needed = ("reduce_per_replica", "_collective_all_reduce_multi_worker")
    if not all(hasattr(trainer, attr) for attr in needed) or not hasattr(trainer.TensorFlowTrainer,
                                                                        "_maybe_symbolic_build"):
        raise RuntimeError(f"Keras {keras.__version__} changed the trainer internals that the multi-worker fix "
                           "mends (keras-team/keras#20585); check whether the upstream fix landed and update "
                           "shared/training._fix_keras_multiworker.")

    def first_local(value):
        if isinstance(value, tf.distribute.DistributedValues):
            return tf.distribute.get_strategy().experimental_local_results(value)[0]
        return value

    def maybe_symbolic_build(self, iterator=None, data_batch=None):
        if self._distribute_strategy is None:
            return
        if iterator is not None:
            for _, _, batches in iterator:
                with self.distribute_strategy.scope():
                    data_batch = tree.map_structure(first_local, next(batches))
                break
        with self.distribute_strategy.scope():
            self._symbolic_build(data_batch=data_batch)

    reduce_per_replica = trainer.reduce_per_replica

    def reduce_mean_scalars(values, strategy, reduction="auto"):
        if reduction in ("auto", "mean") and trainer._collective_all_reduce_multi_worker(strategy):
            return tree.map_structure(
                lambda v: strategy.reduce("MEAN", v, axis=0 if v.shape.rank else None), values)
        return reduce_per_replica(values, strategy, reduction)

    trainer.TensorFlowTrainer._maybe_symbolic_build = maybe_symbolic_build
    trainer.reduce_per_replica = reduce_mean_scalars
    trainer._rnn_suite_multiworker_fix = True


def worker() -> tuple[bool, int]:
    """(is this the chief?, task index) under the current strategy. Only the chief of a multi-worker cluster
    writes shared outputs (run folder, saved_models/); the others write to private folders, as TF's multi-worker
    guide prescribes. Outside MultiWorkerMirroredStrategy: (True, 0)."""
    strategy = tf.distribute.get_strategy()
    resolver = getattr(strategy, "cluster_resolver", None)
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) or resolver is None:
        return True, 0
    task_type, task_id = resolver.task_type, int(resolver.task_id or 0)
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    return task_type == "chief" or (task_type == "worker" and task_id == 0 and not has_chief), task_id


def optimizer(learning_rate: float, *, clipnorm: float | None = None, clipvalue: float | None = None,
              name: str = "adam") -> keras.optimizers.Optimizer:
    """Adam (or SGD with momentum 0.9: `name="sgd"`) with optional gradient clipping: by the norm of each
    gradient (`clipnorm`) or by value (`clipvalue`), one of the two."""
    if clipnorm is not None and clipvalue is not None:
        raise ValueError("gradient clipping: set clipnorm or clipvalue, not both.")
    if not 0 < learning_rate < float("inf"):
        raise ValueError(f"learning_rate={learning_rate}: expected a positive finite number.")
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


def shard_by_data(ds: tf.data.Dataset | None) -> tf.data.Dataset | None:
    """Across workers, shard a dataset by its elements, not by files (tf.data auto-sharding, DATA policy): each
    worker reads the whole dataset and keeps its own share of every global batch. The pipelines read arrays held
    in memory, which the default AUTO policy would only reach after failing to find files."""
    if not isinstance(ds, tf.data.Dataset):
        return ds
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return ds.with_options(options)


def full_batches(ds: tf.data.Dataset | None, batch_size: int | None) -> tf.data.Dataset | None:
    """Only the batches of `batch_size` (the global batch) of a validation dataset: across workers a last, partial
    batch leaves one worker's replica an empty batch, and an evaluation step over it failed now and then in the
    recurrent layer (seen once in CI: InvalidArgumentError at the GRU's TensorListStack in test_step; the other
    two-worker runs passed; MultiWorkerMirroredStrategy's partial-batch handling, tensorflow/tensorflow#36153). The few
    items of the partial batch go unscored, on every worker alike."""
    if not isinstance(ds, tf.data.Dataset) or not batch_size:
        return ds
    return ds.filter(lambda *batch: tf.shape(tf.nest.flatten(batch)[0])[0] == batch_size)


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
    """What every pipeline's training shares, taken from its Config (`Settings.of(cfg)`); `fit`'s keyword
    arguments are the task's own choices (loss, metrics, patience, monitor, class weights, ...)."""

    run_dir: str | pathlib.Path
    epochs: int
    learning_rate: float = 1e-3
    seed: int | None = None
    jit_compile: bool | str = "auto"
    verbose: int | str = "auto"
    options: dict | None = None  # the pipeline's Config as a dict: kept in run_options.json (check_resume)

    @classmethod
    def of(cls, cfg, **changes) -> Settings:
        """From a pipeline Config (run_dir, epochs, learning_rate, seed, jit_compile), with `changes` applied."""
        return cls(**{"run_dir": cfg.run_dir, "epochs": cfg.epochs, "learning_rate": cfg.learning_rate,
                      "seed": cfg.seed, "jit_compile": cfg.jit_compile, "options": dataclasses.asdict(cfg),
                      **changes})


def fit(model: keras.Model, train_ds: tf.data.Dataset, val_ds: tf.data.Dataset | None, settings: Settings, *,
        loss=None, metrics: Sequence = (), clipnorm: float | None = None, clipvalue: float | None = None,
        optimizer_name: str = "adam", patience: int = 5, monitor: str | None = None, monitor_mode: str = "auto",
        early_stopping: bool = True, class_weight: dict[int, float] | None = None, cosine_epochs: int | None = None,
        samples_per_epoch: int | None = None, tensorboard: bool = True,
        callbacks: Sequence[keras.callbacks.Callback] = (),
        scorers: Sequence[keras.callbacks.Callback] = ()) -> keras.callbacks.History:
    """Compile `model` (when `loss` is given) and train it with the suite's standard callbacks.

    run_dir receives: backup/ (EpochBackup: every finished epoch's whole state - weights and optimizer, history
    rows, best checkpoint, early stopping's memory - written as one step, so a run killed at any instant and started
    again with the same run_dir resumes at the epoch where it stopped, as if never killed), best.keras (best
    checkpoint by `monitor`, "min" or "max" by `monitor_mode`),
    history.csv (appended across resumes), logs/ (TensorBoard), training_curves.png. EarlyStopping restores the best
    weights at the end. With `early_stopping=False` every epoch runs, best.keras is the last epoch and no weights
    are restored (an epoch count chosen beforehand, e.g. by cross-validation). `scorers` run before the standard
    callbacks, so a metric they add to the logs (e.g. a validation score) is logged, checkpointed on and
    monitored; `callbacks` run after them. With `cosine_epochs` the learning rate falls along a cosine from
    `learning_rate` towards 0 over that many epochs (set once per epoch), so the first k epochs of a longer run are
    exactly a k-epoch run: an epoch count chosen on a cross-validation curve reproduces that curve's point.
    `settings.options` (a pipeline's Config as a dict) are stored with fit's own settings in run_options.json;
    resuming an interrupted run with different ones is refused, naming them (check_resume).
    Returns the History, with `history.timing` = {train_seconds, epochs, seconds_per_epoch, samples_per_second}
    (training batches only; samples_per_second needs `samples_per_epoch`) and `history.policy` (XLA/cuDNN).
    """
    epochs, learning_rate, seed, jit_compile = settings.epochs, settings.learning_rate, settings.seed, settings.jit_compile
    verbose, options = progress_verbosity(settings.verbose), settings.options
    if epochs < 1:
        raise ValueError(f"epochs={epochs}: expected at least 1.")
    run_dir = pathlib.Path(settings.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    if seed is not None:
        keras.utils.set_random_seed(seed)
    if jit_compile is True and tf.distribute.has_strategy() and tf.distribute.get_strategy().num_replicas_in_sync > 1:
        # XLA cannot compile a step whose mirrored variables live on other devices (measured: "Trying to access
        # resource ... located in device CPU:1"; tensorflow.org/xla/known_issues#tfvariable_on_a_different_device)
        log.info("jit_compile off: XLA does not compile a step over %d replicas",
                 tf.distribute.get_strategy().num_replicas_in_sync)
        jit_compile = False
    validation_steps = None
    if isinstance(tf.distribute.get_strategy(), tf.distribute.MultiWorkerMirroredStrategy):
        val_ds = full_batches(val_ds, (options or {}).get("batch_size"))
        # a fixed number of evaluation steps that every worker's share holds (the full global batches, counted once
        # outside the strategy, over the replicas: sharding by data deals each worker its share of them): the
        # evaluation never reaches the end of its data, where the workers' end-of-data handshake could hand one
        # replica an empty batch (a GRU's TensorListStack then failed in test_step, now and then in CI)
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        validation_steps = max(1, int(val_ds.reduce(0, lambda n, _: n + 1)) // replicas) \
            if isinstance(val_ds, tf.data.Dataset) else None
        train_ds, val_ds = shard_by_data(train_ds), shard_by_data(val_ds)
    if loss is not None:
        model.compile(optimizer=optimizer(learning_rate, clipnorm=clipnorm, clipvalue=clipvalue, name=optimizer_name),
                      loss=loss, metrics=list(metrics), jit_compile=jit_compile)
    elif not model.compiled:
        raise ValueError("training.fit: pass `loss=` or compile the model first.")
    monitor = monitor or ("val_loss" if val_ds is not None else "loss")
    history_csv = run_dir / "history.csv"
    checkpoint = keras.callbacks.ModelCheckpoint(str(run_dir / "best.keras"), monitor=monitor, mode=monitor_mode,
                                                 save_best_only=early_stopping)
    early = keras.callbacks.EarlyStopping(monitor=monitor, mode=monitor_mode, patience=patience,
                                          restore_best_weights=True) if early_stopping else None
    backup = EpochBackup(run_dir / "backup", history_csv, checkpoint, early, scorers)
    resuming = backup.latest() is not None
    run_options = {**(options or {}), "weight shapes": [list(w.shape) for w in model.weights], "epochs": epochs,
                   "learning_rate": learning_rate, "seed": seed, "monitor": monitor, "patience": patience,
                   "early_stopping": early_stopping, "cosine_epochs": cosine_epochs, "class_weight": class_weight}
    check_resume(run_dir, run_options, resuming)
    if not resuming and history_csv.exists():
        history_csv.unlink()  # a fresh run starts a fresh history; a resumed one appends to it
    timer = _Timer()
    standard = [
        backup.restore,  # first: puts the last finished epoch back before the logger opens history.csv
        _EpochClock(),
        keras.callbacks.CSVLogger(str(history_csv), append=True),
        checkpoint,
        *([early] if early_stopping else []),
        *([cosine_schedule(learning_rate, cosine_epochs)] if cosine_epochs else []),
        keras.callbacks.TerminateOnNaN(),
        timer,
        *([keras.callbacks.TensorBoard(str(run_dir / "logs"), write_graph=False, profile_batch=0)]
          if tensorboard else []),
        backup,  # last: the epoch's state once every file of it is written
    ]
    policy = compute_policy(model)
    log.info("training %s: %d params, XLA jit_compile=%s, cuDNN recurrent layers=%d of %d (GPUs: %d), "
             "dtype policy %s%s", model.name, model.count_params(), policy["jit_compile"], policy["cudnn_layers"],
             policy["recurrent_layers"], policy["gpus"], policy["dtype_policy"],
             ", resuming from backup" if resuming else "")
    start = time.perf_counter()
    with warnings.catch_warnings():
        # every dataset here is one finite pass per epoch (length-bucketed ones have no known length): its end is
        # the epoch's end, not the shortage Keras 3 warns about ("Your input ran out of data") at each such epoch
        warnings.filterwarnings("ignore", message="Your input ran out of data", category=UserWarning)
        history = model.fit(train_ds, validation_data=val_ds, epochs=epochs, class_weight=class_weight,
                            callbacks=[*scorers, *standard, *callbacks], verbose=verbose, shuffle=False,
                            validation_steps=validation_steps)
    if early is not None and early.best_weights is not None:
        model.set_weights(early.best_weights)
    check_finite(model, history)
    seconds = timer.epoch_seconds
    steady = seconds[1:] or seconds  # the first epoch includes tracing
    history.timing = {
        "train_seconds": round(time.perf_counter() - start, 3),
        "epochs": len(seconds),
        "seconds_per_epoch": round(float(np.median(steady)), 3) if steady else None,
        "samples_per_second": round(samples_per_epoch / float(np.median(steady)), 1)
        if samples_per_epoch and steady else None,
    }
    history.policy = policy
    full = read_history(history_csv)
    if full:
        fig = plots.history_figure(full)
        fig.savefig(run_dir / "training_curves.png", dpi=100)
    (run_dir / "timing.json").write_text(json.dumps({**history.timing, **policy}, indent=2) + "\n")
    return history


class EpochBackup(keras.callbacks.Callback):
    """A finished epoch's whole state, written as one step: backup/epoch-<n>/ holds the weights with the optimizer's
    state, history.csv as it stands, the best checkpoint, and what the checkpoint and early stopping remember (best
    value, its epoch, epochs without improvement). It is written into a temporary folder and renamed into place (a
    rename is atomic), then the previous epoch's folder is removed, so a kill at any instant leaves one complete
    epoch to resume from, never the weights of one epoch with the history or best model of another. `restore` (a
    callback placed before the others) puts it all back when a run starts again: weights, optimizer, the epoch to
    start from, history.csv (without a row of an epoch that did not finish), best.keras and the memory of the
    checkpoint and early stopping; early stopping's best weights come back from best.keras. The random state
    save_weights leaves out is kept too (random_state.npz): every seed generator's state (dropout and the other
    keras.random draws advance it each step) and the held-out predictions of every epoch the `scorers` kept
    (EpochScores), so a resumed run draws, and later chooses its epoch, exactly as the uninterrupted run would; the
    datasets key their order to the epoch (shared.data.epoch()). A finished run removes the folder. (Keras's
    BackupAndRestore saves weights and epoch number one after the other, and nothing else.)"""

    def __init__(self, folder: pathlib.Path, history_csv: pathlib.Path, checkpoint, early, scorers: Sequence = ()):
        super().__init__()
        self.folder, self.history_csv, self.checkpoint, self.early = folder, history_csv, checkpoint, early
        self.scorers = [s for s in scorers if isinstance(s, EpochScores)]
        self.restore = _Restore(self)

    def seed_states(self) -> list:
        """The model's seed generator state variables (what model.save_weights leaves out), in a fixed order."""
        return [v for v in self.model.variables if v.path.endswith("seed_generator_state")]

    def latest(self) -> pathlib.Path | None:
        """The newest complete epoch folder (a temporary one left by a kill does not count)."""
        done = sorted(self.folder.glob("epoch-*")) if self.folder.is_dir() else []
        return done[-1] if done else None

    def on_train_begin(self, logs=None):
        """The checkpoint's and early stopping's memory, given back after their own on_train_begin reset it
        (this callback runs last; `restore`, first, has put the files and weights back)."""
        latest = self.latest()
        if latest is None:
            return
        state = json.loads((latest / "state.json").read_text())
        self.checkpoint.best = state["checkpoint_best"]
        best = pathlib.Path(self.checkpoint.filepath)
        if self.early is not None and state.get("best") is not None:
            early = self.early
            early.best, early.best_epoch, early.wait = state["best"], state["best_epoch"], state["wait"]
            if best.exists():
                early.best_weights = outside_strategy(
                    lambda: keras.models.load_model(best, compile=False).get_weights())

    def on_epoch_end(self, epoch, logs=None):
        name = f"epoch-{epoch + 1:06d}"
        temporary = self.folder / f".{name}.partial"
        shutil.rmtree(temporary, ignore_errors=True)
        temporary.mkdir(parents=True)
        self.model.save_weights(temporary / "model.weights.h5")
        for path, kept in ((self.history_csv, "history.csv"), (pathlib.Path(self.checkpoint.filepath), "best.keras")):
            if path.exists():
                shutil.copy2(path, temporary / kept)
        number = lambda v: None if v is None else float(v)  # noqa: E731
        # stopped: early stopping ended the run at this epoch (a resumed run then trains no further epoch)
        state = {"epoch": epoch + 1, "checkpoint_best": number(self.checkpoint.best),
                 "stopped": bool(self.model.stop_training)}
        if self.early is not None:
            state.update(best=number(self.early.best), best_epoch=self.early.best_epoch, wait=self.early.wait)
        (temporary / "state.json").write_text(json.dumps(state))
        arrays = {f"seed_{i}": v.numpy() for i, v in enumerate(self.seed_states())}
        arrays.update({f"scores_{j}_{e}": p for j, scorer in enumerate(self.scorers)
                       for e, p in enumerate(scorer.predictions)})
        np.savez(temporary / "random_state.npz", **arrays)
        os.replace(temporary, self.folder / name)
        for old in self.folder.iterdir():
            if old.name != name:
                shutil.rmtree(old, ignore_errors=True)

    def on_train_end(self, logs=None):
        shutil.rmtree(self.folder, ignore_errors=True)


def outside_strategy(function: Callable, *args):
    """`function(*args)` outside any tf.distribute scope: in a fresh thread when one is active (scopes are per
    thread), so what it loads creates no distributed variables - and, across workers, no collective."""
    if not tf.distribute.has_strategy():
        return function(*args)
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(function, *args).result()


class _Restore(keras.callbacks.Callback):
    """EpochBackup's other half: on a run's start, the newest complete epoch put back (see EpochBackup)."""

    def __init__(self, backup: EpochBackup):
        super().__init__()
        self.backup = backup

    def on_train_begin(self, logs=None):
        backup = self.backup
        latest = backup.latest()
        if latest is None:
            return
        if self.model.optimizer is not None and not self.model.optimizer.built:
            self.model.optimizer.build(self.model.trainable_variables)  # its variables must exist to be loaded
        self.model.load_weights(latest / "model.weights.h5")
        if (latest / "random_state.npz").exists():
            with np.load(latest / "random_state.npz") as arrays:
                for i, variable in enumerate(backup.seed_states()):
                    variable.assign(arrays[f"seed_{i}"])
                for j, scorer in enumerate(backup.scorers):
                    scorer.predictions = [arrays[f"scores_{j}_{e}"] for e in range(len(
                        [k for k in arrays.files if k.startswith(f"scores_{j}_")]))]
        state = json.loads((latest / "state.json").read_text())
        # what Keras's own BackupAndRestore sets: fit starts there (past the end when early stopping had ended it)
        self.model._initial_epoch = 2**31 - 1 if state.get("stopped") else state["epoch"]
        best = pathlib.Path(backup.checkpoint.filepath)
        for path, kept in ((backup.history_csv, latest / "history.csv"), (best, latest / "best.keras")):
            if kept.exists():
                shutil.copy2(kept, path)
            else:
                path.unlink(missing_ok=True)


def check_resume(run_dir: pathlib.Path, run_options: dict, resuming: bool) -> None:
    """A fresh run records its options (run_options.json); a rerun that would resume an interrupted run with other
    options (another model, learning rate, data, ...) stops with the differences named instead of mixing runs."""
    path = run_dir / "run_options.json"
    current = json.loads(json.dumps(run_options, default=str))
    if resuming and path.exists():
        before = json.loads(path.read_text())
        # the epoch count may change (a run extended or cut short); anything else makes it another run
        differ = sorted(k for k in set(before) | set(current) if before.get(k) != current.get(k) and k != "epochs")
        if differ:
            shown = "; ".join("the model's weight shapes" if k == "weight shapes" else
                              f"{k}: {before.get(k)} -> {current.get(k)}" for k in differ)
            raise ValueError(f"{run_dir} holds an interrupted run with other options ({shown}); resuming would mix "
                             "the two runs. Use a new --run-dir, or --restart to discard the interrupted run.")
    elif not resuming:
        save_beside_checkpoint(run_dir, path.name, current)


def remove_backups(run_dir: str | pathlib.Path) -> list[pathlib.Path]:
    """Delete every interrupted run's backup/ under run_dir (what --restart does): the next run starts afresh."""
    found = sorted(pathlib.Path(run_dir).rglob("backup")) if pathlib.Path(run_dir).exists() else []
    for backup in found:
        shutil.rmtree(backup, ignore_errors=True)
    return found


def check_finite(model: keras.Model, history: keras.callbacks.History) -> None:
    """Training that diverged stops here (TerminateOnNaN ended it): no report, no export of NaN weights."""
    losses = history.history.get("loss", [])
    bad = next((i for i, v in enumerate(losses) if not np.isfinite(v)), None)
    if bad is not None or not all(np.isfinite(w).all() for w in model.get_weights()):
        where = f"the loss became {losses[bad]} in epoch {bad + 1}" if bad is not None else "the weights are not finite"
        raise RuntimeError(f"training diverged: {where}; nothing was exported. Lower --learning-rate, or check the "
                           "data for NaN or inf values.")


def cosine_schedule(learning_rate: float, epochs: int) -> keras.callbacks.LearningRateScheduler:
    """Epoch e (from 0) trains at learning_rate * (1 + cos(pi * e / epochs)) / 2."""
    return keras.callbacks.LearningRateScheduler(
        lambda epoch, _: float(learning_rate * 0.5 * (1 + np.cos(np.pi * min(epoch, epochs) / epochs))))


def save_beside_checkpoint(run_dir: str | pathlib.Path, name: str, data) -> pathlib.Path:
    """JSON that evaluate/export need besides best.keras (vocabularies, class names), written atomically."""
    path = pathlib.Path(run_dir) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    partial.replace(path)
    return path


def load_beside_checkpoint(run_dir: str | pathlib.Path, name: str, domain: str):
    """The JSON `save_beside_checkpoint` wrote; a clear error when the run folder lacks it."""
    path = pathlib.Path(run_dir) / name
    if not path.exists():
        raise FileNotFoundError(f"{path} not found beside the checkpoint; run 'make train-{domain}' again.")
    return json.loads(path.read_text(encoding="utf-8"))


def fit_members(model: keras.Model, networks: list[keras.Model], cfg, fit_one: Callable) -> keras.callbacks.History:
    """Model averaging: each of `networks` (the members inside `model`, which averages them) trained alone by
    `fit_one(network, member_cfg)`, where member_cfg is `cfg` with seed cfg.seed + k - 1 and run folder
    cfg.run_dir/member-k. A member that an earlier, interrupted run finished with the same options is read back
    from its best.keras, not trained again. The averaged model is saved as cfg.run_dir/best.keras. Returns the
    first member trained here's History (its curves), with timing summed over the members trained."""
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
    history = trained[0] if trained else keras.callbacks.History()
    history.timing = {**getattr(history, "timing", {}), "members": len(networks),
                      "train_seconds": round(sum(h.timing["train_seconds"] for h in trained), 1),
                      "epochs": sum(h.timing["epochs"] for h in trained)}
    model.save(pathlib.Path(cfg.run_dir) / "best.keras")
    return history


def load_checkpoint(run_dir: str | pathlib.Path, domain: str) -> keras.Model:
    """The best checkpoint (best.keras) that `fit` wrote into run_dir; a clear error when there is none."""
    path = pathlib.Path(run_dir) / "best.keras"
    if not path.exists():
        raise FileNotFoundError(f"no checkpoint {path}; run 'make train-{domain}' (or pass --run-dir) first.")
    try:
        return keras.models.load_model(path)
    except Exception as error:  # noqa: BLE001 - a truncated or foreign file fails in many ways
        raise ValueError(f"{path} is not a readable Keras checkpoint ({type(error).__name__}); it may be truncated "
                         f"or from another pipeline: run 'make train-{domain}' again.") from None


class FitSeen(Exception):
    """Raised by `first_fit` once it has seen the first `fit` call (stops that training)."""


def first_fit(train: Callable[[], object], *, stop: bool = True) -> dict:
    """What a pipeline's train() hands to `fit` first: {"model", "train_ds", "val_ds", "loss"}. With `stop`
    (make bench) that fit does not run: its model and input are measured apart; without, training goes on as
    usual (make compare-*: the trained model, and a batch of its input to time inference on)."""
    global fit
    real, seen = fit, {}

    def recording(model, train_ds, val_ds, settings, **kwargs):
        if not seen:
            seen.update(model=model, train_ds=train_ds, val_ds=val_ds, loss=kwargs.get("loss"))
            if stop:
                raise FitSeen
        return real(model, train_ds, val_ds, settings, **kwargs)

    fit = recording
    try:
        seen["result"] = train()
    except FitSeen:
        pass
    finally:
        fit = real
    if "model" not in seen:
        raise RuntimeError("the pipeline's train() never called shared.training.fit.")
    return seen
