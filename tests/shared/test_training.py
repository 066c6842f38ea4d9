import json
import pathlib

import keras
import numpy as np
import pytest
import tensorflow as tf

from shared import checkpoints, distribution, layers, training


def _problem(n=64, seed=0):
    """Sign of the sum of a sequence: learnable by a small RNN in a few epochs."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 6, 1)).astype("float32")
    y = (x.sum(axis=(1, 2)) > 0).astype("int32")
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(16)
    return ds, x, y


def _model():
    inputs = keras.Input((6, 1))
    x = layers.apply_rnn(inputs, "gru:8")
    return keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(x), name="tiny")


def _fit(model, ds, run_dir, epochs, callbacks=()):
    settings = training.Settings(run_dir=run_dir, epochs=epochs, learning_rate=0.02, seed=1, verbose=0)
    return training.fit(training.Plan(model, ds, ds, loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                                      patience=50, rates={"samples": 64}, tensorboard=False, callbacks=callbacks),
                        settings)


def test_fit_learns_and_writes_the_run_folder(tmp_path):
    ds, x, y = _problem()
    keras.utils.set_random_seed(1)
    model = _model()
    history = training.fit(training.Plan(model, ds, ds, loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                                         rates={"samples": 64}, clipnorm=1.0),
                           training.Settings(run_dir=tmp_path, epochs=6, learning_rate=0.02, seed=1,
                                                            verbose=0))
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert history.history["val_accuracy"][-1] > 0.7
    for name in ("best.keras", "history.csv", "training_curves.png", "timing.json", "logs"):
        assert (tmp_path / name).exists(), name
    assert not (tmp_path / "backup").exists()  # removed after a finished run
    assert training.read_history(tmp_path / "history.csv")["epoch"] == [0, 1, 2, 3, 4, 5]
    timing = json.loads((tmp_path / "timing.json").read_text())
    assert timing["epochs"] == 6 and timing["samples_per_second"] > 0 and timing["jit_compile"] is False
    assert history.policy["recurrent_layers"] == 1
    assert model.optimizer.clipnorm == 1.0


class _Crash(keras.callbacks.Callback):
    def __init__(self, epoch, batch=None):
        super().__init__()
        self.epoch, self.batch = epoch, batch

    def on_train_batch_end(self, batch, logs=None):
        if self.batch is not None and self._epoch == self.epoch and batch == self.batch:
            raise KeyboardInterrupt("killed mid-epoch")

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if self.batch is None and epoch == self.epoch:
            raise KeyboardInterrupt("killed after an epoch")


@pytest.mark.slow
@pytest.mark.parametrize("crash", [_Crash(epoch=2), _Crash(epoch=2, batch=1)], ids=["after-epoch", "mid-epoch"])
def test_interrupted_run_resumes_without_repeating_or_skipping_epochs(tmp_path, crash):
    ds, _, _ = _problem()
    keras.utils.set_random_seed(1)
    with pytest.raises(KeyboardInterrupt):
        _fit(_model(), ds, tmp_path, 5, callbacks=[crash])
    assert (tmp_path / "backup").exists()
    done = training.read_history(tmp_path / "history.csv")["epoch"]
    assert done == [0, 1, 2] if crash.batch is None else done == [0, 1]
    resumed = _fit(_model(), ds, tmp_path, 5)
    assert resumed.epochs_run == list(range(len(done), 5))
    assert training.read_history(tmp_path / "history.csv")["epoch"] == [0, 1, 2, 3, 4]
    # a new run in the same folder (no backup left) starts a fresh history
    _fit(_model(), ds, tmp_path, 2)
    assert training.read_history(tmp_path / "history.csv")["epoch"] == [0, 1]


@pytest.mark.slow
def test_a_killed_and_resumed_run_ends_as_one_never_killed(tmp_path):
    """Early stopping and the best checkpoint keep their memory across the kill: the same epochs, the same best
    epoch, the same kept weights (before: the resumed run started its patience afresh and kept another model)."""
    ds, x, _ = _problem()
    val = _problem(seed=5)[0]

    def run(run_dir, callbacks=()):
        keras.utils.set_random_seed(1)
        model = _model()
        history = training.fit(training.Plan(model, ds, val, loss="sparse_categorical_crossentropy", patience=2,
                                             tensorboard=False,
                                             callbacks=callbacks),
                               training.Settings(run_dir=run_dir, epochs=30, learning_rate=0.05,
                                                                 seed=1, verbose=0))
        return model, history

    whole, history = run(tmp_path / "whole")
    losses = history.history["val_loss"]
    best = int(np.argmin(losses))
    assert best + 1 < len(losses) < 30  # early stopping ended it, after the best epoch
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path / "killed", [_Crash(epoch=best + 1)])  # killed after the best epoch, patience half used
    resumed, _ = run(tmp_path / "killed")
    epochs = training.read_history(tmp_path / "killed" / "history.csv")["epoch"]
    assert epochs == list(range(len(losses)))
    np.testing.assert_allclose(resumed.predict(x, verbose=0), whole.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    kept = keras.models.load_model(tmp_path / "killed" / "best.keras")
    np.testing.assert_allclose(kept.predict(x, verbose=0), whole.predict(x, verbose=0), rtol=1e-5, atol=1e-6)


def test_resumed_weights_continue_from_the_backup(tmp_path):
    ds, x, _ = _problem()
    keras.utils.set_random_seed(1)
    model = _model()
    with pytest.raises(KeyboardInterrupt):
        _fit(model, ds, tmp_path, 4, callbacks=[_Crash(epoch=1)])
    fresh = _model()
    fresh.compile("adam", "sparse_categorical_crossentropy")
    restored = _fit(fresh, ds, tmp_path, 2)  # epochs already done: nothing left to train
    assert restored.epochs_run == []
    np.testing.assert_allclose(fresh.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)


def test_resuming_with_other_options_is_refused_by_name_and_restart_discards_the_backup(tmp_path):
    ds, _, _ = _problem()
    common = {"loss": "sparse_categorical_crossentropy", "tensorboard": False}

    def settings(rnn, learning_rate=0.02):
        return training.Settings(run_dir=tmp_path, epochs=4, learning_rate=learning_rate, seed=1, verbose=0,
                                 options={"rnn": rnn})
    with pytest.raises(KeyboardInterrupt):
        training.fit(training.Plan(_model(), ds, ds, callbacks=[_Crash(epoch=1)], **common), settings("gru:8"))
    other = keras.Model(*(lambda i: (i, keras.layers.Dense(2, activation="softmax")(layers.apply_rnn(i, "lstm:5"))))(
        keras.Input((6, 1))))
    with pytest.raises(ValueError, match=r"other options \(rnn: gru:8 -> lstm:5; the model's weight shapes\)"):
        training.fit(training.Plan(other, ds, ds, **common), settings("lstm:5"))  # was: "3 objects could not be loaded"
    with pytest.raises(ValueError, match=r"\(learning_rate: 0.02 -> 0.1\); resuming would mix"):
        training.fit(training.Plan(_model(), ds, ds, **common), settings("gru:8", learning_rate=0.1))
    assert checkpoints.remove_backups(tmp_path) == [tmp_path / "backup"]
    assert _fit(other, ds, tmp_path, 2).epochs_run == [0, 1]  # a fresh run


def test_options_are_checked():
    with pytest.raises(ValueError, match="not both"):
        training.optimizer(1e-3, clipnorm=1.0, clipvalue=0.5)
    with pytest.raises(ValueError, match="expected one of"):
        distribution.get_strategy("tpu")
    with pytest.raises(ValueError, match="TF_CONFIG"):
        distribution.get_strategy("multiworker")
    assert distribution.get_strategy("default").num_replicas_in_sync == 1
    with pytest.raises(ValueError, match="epochs"):
        training.Settings(run_dir="unused", epochs=0)


def test_learning_rates_that_are_not_numbers_are_refused():
    import dataclasses

    from shared import cli

    @dataclasses.dataclass
    class Options:
        batch_size: int = 32
        epochs: int = 5
        learning_rate: float = 1e-3

    for rate in (float("nan"), float("inf"), 0.0):
        with pytest.raises(ValueError, match="--learning-rate .*expected a positive number"):
            cli.check_training(Options(learning_rate=rate))
        with pytest.raises(ValueError, match="learning_rate"):
            training.Settings(run_dir="unused", epochs=1, learning_rate=rate)
    with pytest.raises(ValueError, match="--batch-size 0: expected at least 1"):
        cli.check_training(Options(batch_size=0))


def test_diverged_training_stops_with_a_clear_error_and_no_checkpoint_of_nan(tmp_path):
    ds, x, y = _problem()
    bad = ds.map(lambda a, b: (a * np.float32("nan"), b))  # NaN inputs: the loss is NaN from the first batch
    with pytest.raises(RuntimeError, match="training diverged: the loss became nan in epoch 1"):
        _fit(_model(), bad, tmp_path, epochs=3)
    assert training.read_history(tmp_path / "history.csv")["epoch"] == [0]  # TerminateOnNaN ended it at once


def test_outside_multiworker_a_process_is_its_own_chief_and_sharding_is_by_data():
    assert distribution.worker() == (True, 0)
    with distribution.get_strategy("default").scope():
        assert distribution.worker() == (True, 0)
    sharded = distribution.shard_by_data(tf.data.Dataset.range(4))
    assert sharded.options().experimental_distribute.auto_shard_policy == tf.data.experimental.AutoShardPolicy.DATA
    assert list(sharded.as_numpy_iterator()) == [0, 1, 2, 3]  # one worker: nothing is dropped
    assert distribution.shard_by_data(None) is None


def test_multiworker_fix_refuses_a_keras_whose_trainer_changed(monkeypatch):
    from keras.src.backend.tensorflow import trainer

    monkeypatch.setattr(trainer, "_rnn_suite_multiworker_fix", False, raising=False)
    monkeypatch.delattr(trainer, "_collective_all_reduce_multi_worker")
    with pytest.raises(RuntimeError, match="keras-team/keras#20585"):
        distribution._fix_keras_multiworker()
    assert trainer.reduce_per_replica.__module__ == trainer.__name__  # nothing was patched



def test_files_beside_the_checkpoint_round_trip_atomically_and_missing_ones_are_named(tmp_path):
    path = checkpoints.save_beside_checkpoint(tmp_path / "run", "vocabulary.json", {"target": ["", "[UNK]", "été"]})
    assert [p.name for p in path.parent.iterdir()] == ["vocabulary.json"]  # no partial file left behind
    assert checkpoints.load_beside_checkpoint(tmp_path / "run", "vocabulary.json", "translation")["target"][2] == "été"
    with pytest.raises(FileNotFoundError, match="classes.json not found beside the checkpoint.*rnn-suite speech train"):
        checkpoints.load_beside_checkpoint(tmp_path / "run", "classes.json", "speech")


def test_cosine_schedule_falls_to_zero_and_a_short_run_is_a_prefix_of_a_long_one(tmp_path):
    schedule = training.cosine_schedule(0.01, 4)
    rates = [schedule.schedule(epoch, None) for epoch in range(5)]
    np.testing.assert_allclose(rates, [0.01, 0.01 * (1 + np.cos(np.pi / 4)) / 2, 0.005,
                                       0.01 * (1 + np.cos(3 * np.pi / 4)) / 2, 0.0], atol=1e-12)
    ds, _, _ = _problem()
    runs = []
    for epochs in (2, 4):
        keras.utils.set_random_seed(1)
        model = _model()
        settings = training.Settings(run_dir=tmp_path / str(epochs), epochs=epochs, learning_rate=0.02, seed=1,
                                     verbose=0)
        history = training.fit(training.Plan(model, ds, None, loss="sparse_categorical_crossentropy", cosine_epochs=4,
                                             early_stopping=False, tensorboard=False), settings)
        runs.append(history.history["loss"])
    np.testing.assert_allclose(runs[0], runs[1][:2], rtol=1e-5)  # 2 epochs of the 4-epoch schedule = its start


def test_a_damaged_checkpoint_is_named_not_reported_missing(tmp_path):
    (tmp_path / "best.keras").write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(ValueError, match="best.keras is not a readable Keras checkpoint"):
        checkpoints.load_checkpoint(tmp_path, "ecg")


def test_full_batches_drops_only_the_partial_last_batch_of_a_validation_set():
    x = np.arange(10, dtype="float32")
    ds = tf.data.Dataset.from_tensor_slices(({"x": x}, x)).batch(4)
    sizes = [len(batch[1]) for batch in distribution.full_batches(ds, 4)]
    assert sizes == [4, 4]  # 10 items: the last 2 go unscored on every worker alike
    assert distribution.full_batches(ds, None) is ds and distribution.full_batches(None, 4) is None


def test_progress_is_plain_lines_when_not_on_a_terminal(monkeypatch):
    import io
    import sys

    monkeypatch.delenv("RNN_PROGRESS", raising=False)
    monkeypatch.setattr(sys, "stdout", io.StringIO())  # a pipe or a file: one line per epoch, no escape codes
    assert training.progress_verbosity("auto") == 2
    assert training.progress_verbosity(0) == 0 and training.progress_verbosity(1) == 1  # an explicit choice stays
    monkeypatch.setenv("RNN_PROGRESS", "0")
    assert training.progress_verbosity("auto") == 0

    class Terminal(io.StringIO):
        def isatty(self):
            return True
    monkeypatch.delenv("RNN_PROGRESS")
    monkeypatch.setattr(sys, "stdout", Terminal())
    assert training.progress_verbosity("auto") == 1


def test_fit_members_trains_each_alone_and_reads_finished_members_back(tmp_path):
    import dataclasses

    @dataclasses.dataclass(frozen=True)
    class Options:
        seed: int = 5
        run_dir: str = str(tmp_path)

    def averaged():
        x = keras.Input((3,))
        members = [keras.Model(x, keras.layers.Dense(1, activation="sigmoid", name=f"out_{k}")(x), name=f"m{k}")
                   for k in (1, 2)]
        return keras.Model(x, keras.layers.Average()([m.output for m in members])), members

    data = np.random.default_rng(0).normal(size=(32, 3)).astype("float32")
    labels = (data[:, 0] > 0).astype("float32")
    seen = []

    def fit_one(network, member):
        seen.append((member.seed, pathlib.Path(member.run_dir).name))
        return training.fit(training.Plan(network, tf.data.Dataset.from_tensor_slices((data, labels)).batch(8), None,
                                          loss="binary_crossentropy", tensorboard=False),
                            training.Settings(member.run_dir, 2, 0.05, member.seed, verbose=0))
    model, members = averaged()
    history = training.fit_members(model, members, Options(), fit_one)
    assert seen == [(5, "member-1"), (6, "member-2")] and history.timing["epochs"] == 4
    assert not np.allclose(members[0].get_weights()[0], members[1].get_weights()[0])  # seeds differ
    again, again_members = averaged()
    training.fit_members(again, again_members, Options(), fit_one)  # both finished: read back, not trained
    assert len(seen) == 2
    np.testing.assert_allclose(again(data), model(data), rtol=1e-6)
    np.testing.assert_allclose(keras.models.load_model(tmp_path / "best.keras")(data), model(data), rtol=1e-6)


@pytest.mark.parametrize("value", ["{garbage", "[1, 2]", '{"cluster": "x", "task": {}}'])
def test_a_malformed_tf_config_is_named(monkeypatch, value):
    monkeypatch.setenv("TF_CONFIG", value)
    with pytest.raises(ValueError, match="TF_CONFIG is not a JSON object with 'cluster' and 'task'"):
        distribution.get_strategy("multiworker")


def _run_with_kill(monkeypatch, run_dir, ds, val, x, kill_at=None, when="before"):
    """A run of the tiny problem; with `kill_at`, a kill (KeyboardInterrupt) just before or just after the
    kill_at-th file operation of the epoch's bookkeeping (the history row, the best checkpoint - "torn": half a
    file written -, the backup's weights, copies and rename). Returns (predictions, the operations' names)."""
    import itertools
    import os
    import shutil

    count, names = itertools.count(), []

    def wrap(owner, name):
        original = getattr(owner, name)

        def wrapped(*args, **kwargs):
            i = next(count)
            names.append(name)
            if i == kill_at and when == "torn" and name == "save":
                pathlib.Path(args[1]).write_bytes(b"PK\x03\x04 half a zip")
                raise KeyboardInterrupt("killed while writing best.keras")
            if i == kill_at and when == "before":
                raise KeyboardInterrupt(f"killed before {name}")
            out = original(*args, **kwargs)
            if i == kill_at and when in ("after", "torn"):
                raise KeyboardInterrupt(f"killed after {name}")
            return out
        m.setattr(owner, name, wrapped)

    keras.utils.set_random_seed(1)
    model = _model()
    with monkeypatch.context() as m:
        for owner, name in ((keras.callbacks.CSVLogger, "on_epoch_end"), (keras.Model, "save"),
                            (keras.Model, "save_weights"), (shutil, "copy2"), (os, "replace")):
            wrap(owner, name)
        training.fit(training.Plan(model, ds, val, loss="sparse_categorical_crossentropy", patience=2,
                                   tensorboard=False),
                     training.Settings(run_dir=run_dir, epochs=6, learning_rate=0.05, seed=1,
                                                       verbose=0))
    return model.predict(x, verbose=0), names


@pytest.mark.slow
def test_a_kill_at_any_point_of_an_epochs_bookkeeping_resumes_to_the_uninterrupted_run(tmp_path, monkeypatch):
    """Killed just before or just after each write of every epoch (the history row, best.keras, the backup), or in
    the middle of writing best.keras, then started again: the same history rows, the same final weights and the
    same best checkpoint as a run never killed (issue: the backup, the row and the checkpoint were separate)."""
    ds, x, _ = _problem()
    val = _problem(seed=5)[0]
    whole, operations = _run_with_kill(monkeypatch, tmp_path / "whole", ds, val, x)
    rows = training.read_history(tmp_path / "whole" / "history.csv")
    best = keras.models.load_model(tmp_path / "whole" / "best.keras").predict(x, verbose=0)
    epochs = [i for i, name in enumerate(operations) if name == "on_epoch_end"]  # each epoch's bookkeeping starts
    assert len(epochs) == len(rows["epoch"]) >= 3 and "save" in operations[epochs[1]:epochs[2]]
    # every point of the second epoch's bookkeeping (one that improved: best.keras written) and of the last one's
    # (early stopping ends the run there), so the test stays about a minute
    points = [*range(epochs[1], epochs[2]), *range(epochs[-1], len(operations))]
    for kill_at in points:
        for when in ("before", "after", "torn") if operations[kill_at] == "save" else ("before", "after"):
            run_dir = tmp_path / f"kill-{kill_at}-{when}"
            with pytest.raises(KeyboardInterrupt):
                _run_with_kill(monkeypatch, run_dir, ds, val, x, kill_at, when)
            resumed, _ = _run_with_kill(monkeypatch, run_dir, ds, val, x)
            again = training.read_history(run_dir / "history.csv")
            assert again["epoch"] == rows["epoch"], (kill_at, when)
            np.testing.assert_allclose(again["val_loss"], rows["val_loss"], rtol=1e-5, err_msg=f"{kill_at} {when}")
            np.testing.assert_allclose(resumed, whole, rtol=1e-5, atol=1e-6, err_msg=f"{kill_at} {when}")
            kept = keras.models.load_model(run_dir / "best.keras").predict(x, verbose=0)
            np.testing.assert_allclose(kept, best, rtol=1e-5, atol=1e-6, err_msg=f"{kill_at} {when}")
            assert not (run_dir / "backup").exists()
