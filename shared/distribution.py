"""Distribution: the tf.distribute strategy a run trains under, which worker this is, how datasets are dealt over
workers, and the one mend of Keras's multi-worker trainer. Training itself is shared.training.fit.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable

import keras
import tensorflow as tf

STRATEGIES = ("default", "mirrored", "multiworker")


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
                           "shared/distribution._fix_keras_multiworker.")

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


def outside_strategy(function: Callable, *args):
    """`function(*args)` outside any tf.distribute scope: in a fresh thread when one is active (scopes are per
    thread), so what it loads creates no distributed variables - and, across workers, no collective."""
    if not tf.distribute.has_strategy():
        return function(*args)
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(function, *args).result()
