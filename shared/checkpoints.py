"""Checkpoints: a run folder's files. The epoch backup that makes a killed run resume where it stopped, the check
that a resumed run has the same options, the best checkpoint and the JSON files kept beside it.
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil
from collections.abc import Sequence

import keras
import numpy as np

from shared.distribution import outside_strategy


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
        self.scorers = [s for s in scorers if hasattr(s, "predictions")]  # training.EpochScores
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
        raise FileNotFoundError(f"{path} not found beside the checkpoint; run 'rnn-suite {domain} train' again.")
    return json.loads(path.read_text(encoding="utf-8"))


def load_checkpoint(run_dir: str | pathlib.Path, domain: str) -> keras.Model:
    """The best checkpoint (best.keras) that `fit` wrote into run_dir; a clear error when there is none."""
    path = pathlib.Path(run_dir) / "best.keras"
    if not path.exists():
        raise FileNotFoundError(f"no checkpoint {path}; run 'rnn-suite {domain} train' (or pass --run-dir) first.")
    try:
        return keras.models.load_model(path)
    except Exception as error:  # noqa: BLE001 - a truncated or foreign file fails in many ways
        raise ValueError(f"{path} is not a readable Keras checkpoint ({type(error).__name__}); it may be truncated "
                         f"or from another pipeline: run 'rnn-suite {domain} train' again.") from None
