"""tf.data idioms every pipeline reuses: cache, seeded shuffle, (padded / bucketed) batch, prefetch, windows.

Notebook:
    train_ds = data.batched(tf.data.Dataset.from_tensor_slices((x, y)), 64, shuffle_seed=1337)
    text_ds = data.padded(token_ds, 32)                       # right-padded, empty rows dropped
    windows = data.windows(series, targets, width=24, horizon=6, batch_size=64)
"""

from __future__ import annotations

import functools

import keras
import numpy as np
import tensorflow as tf

AUTOTUNE = tf.data.AUTOTUNE


@functools.cache
def epoch() -> tf.Variable:
    """The epoch training is in (int64 scalar variable), set by shared.training.fit as each epoch begins. Seeded
    shuffles and augmentations key their draws to it (shuffled, epoch_seeds, epoch_rng), so epoch k reads its
    examples in the same order, with the same variations, whether the run got there uninterrupted or resumed at
    epoch k after a kill. Made on first use, not on import: a multi-worker strategy must configure TensorFlow
    before anything starts it."""
    with tf.init_scope():
        return tf.Variable(0, dtype=tf.int64, trainable=False, name="training_epoch")


_GRAPH_SEED = 87654321  # TensorFlow's default graph-level seed


def epoch_seed(seed: int) -> tf.Tensor:
    """A scalar seed for this epoch's draws of a dataset seeded with `seed` (read when an epoch's iteration starts)."""
    return tf.constant(seed, tf.int64) * 1_000_003 + epoch().read_value()


def shuffled(ds: tf.data.Dataset, seed: int, buffer: int = 10_000) -> tf.data.Dataset:
    """`ds` in a new order each epoch, that order a function of (seed, the epoch: epoch()) alone."""
    def one_epoch(_):
        # The traced function's own graph-level seed, fixed: the order then does not depend on a global seed a
        # caller may have set, and a global seed of 0 does not make tf.data compare the tensor seed in Python.
        tf.compat.v1.set_random_seed(_GRAPH_SEED)
        return ds.shuffle(buffer, seed=epoch_seed(seed), reshuffle_each_iteration=False)
    out = tf.data.Dataset.from_tensors(tf.constant(0, tf.int64)).flat_map(one_epoch)
    size = int(ds.cardinality())  # flat_map hides it; a known size keeps steps per epoch and throughput known
    return out.apply(tf.data.experimental.assert_cardinality(size)) if size >= 0 else out


def epoch_seeds(seed: int) -> tf.data.Dataset:
    """An endless stream of seed pairs (int64 [2]) for stateless random ops (tf.random.stateless_*), one per element
    zipped beside it: element i of epoch e gets (seed and e mixed, i), so each epoch varies and a resumed epoch
    draws the same."""
    def one_epoch(_):
        mixed = epoch_seed(seed)
        return tf.data.Dataset.range(2**62).map(lambda i: tf.stack([mixed, i]))
    return tf.data.Dataset.from_tensors(tf.constant(0, tf.int64)).flat_map(one_epoch)


def epoch_rng(seed: int) -> np.random.Generator:
    """A NumPy generator for this epoch's draws (e.g. a Python generator's perturbations), a function of (seed,
    the epoch: epoch()) alone."""
    return np.random.default_rng([seed, int(epoch().numpy())])


def _cache_shuffle(ds: tf.data.Dataset, cache: bool, seed: int | None, buffer: int) -> tf.data.Dataset:
    """Cache, then shuffle when a seed is given (a new order each epoch, keyed to the seed and the epoch)."""
    ds = ds.cache() if cache else ds
    return ds if seed is None else shuffled(ds, seed, buffer)


def batched(ds: tf.data.Dataset, batch_size: int, *, shuffle_seed: int | None = None,
            shuffle_buffer: int = 10_000, cache: bool = True, drop_remainder: bool = False) -> tf.data.Dataset:
    """cache -> shuffle (only when a seed is given; a new order each epoch, the same for the same seed and epoch)
    -> batch -> prefetch. Elements keep their structure; batches add a leading (batch,) dimension."""
    if batch_size < 1:
        raise ValueError(f"batch_size={batch_size}: expected a positive integer.")
    ds = _cache_shuffle(ds, cache, shuffle_seed, shuffle_buffer)
    return ds.batch(batch_size, drop_remainder=drop_remainder).prefetch(AUTOTUNE)


def _first(element):
    """The sequence of an element: the element itself, the first of a tuple, or the first value of a dict."""
    while isinstance(element, (tuple, list, dict)):
        element = next(iter(element.values())) if isinstance(element, dict) else element[0]
    return element


def drop_empty(ds: tf.data.Dataset) -> tf.data.Dataset:
    """Drop elements whose sequence (first component) has no time steps: a fully masked row fails under cuDNN."""
    return ds.filter(lambda *element: tf.shape(_first(element))[0] > 0)


def padded(ds: tf.data.Dataset, batch_size: int, *, shuffle_seed: int | None = None,
           shuffle_buffer: int = 10_000, cache: bool = True) -> tf.data.Dataset:
    """Variable-length sequences -> batches padded on the right with zeros (what cuDNN masks need), after
    dropping empty sequences. Shapes: (batch, max_time_in_batch, ...)."""
    if batch_size < 1:
        raise ValueError(f"batch_size={batch_size}: expected a positive integer.")
    ds = drop_empty(ds)
    ds = _cache_shuffle(ds, cache, shuffle_seed, shuffle_buffer)
    return ds.padded_batch(batch_size).prefetch(AUTOTUNE)


def bucketed(ds: tf.data.Dataset, boundaries: list[int], batch_size: int, *,
             shuffle_seed: int | None = None, shuffle_buffer: int = 10_000, cache: bool = True) -> tf.data.Dataset:
    """Variable-length sequences grouped by length (buckets split at `boundaries`) and right-padded within each
    batch, so little compute is spent on padding. Empty sequences are dropped."""
    if batch_size < 1 or sorted(boundaries) != list(boundaries) or not boundaries:
        raise ValueError(f"bucketed: need batch_size>=1 and increasing boundaries; got {batch_size=}, {boundaries=}.")
    ds = drop_empty(ds)
    ds = _cache_shuffle(ds, cache, shuffle_seed, shuffle_buffer)
    ds = ds.bucket_by_sequence_length(
        lambda *element: tf.shape(_first(element))[0],
        bucket_boundaries=list(boundaries),
        bucket_batch_sizes=[batch_size] * (len(boundaries) + 1),
        pad_to_bucket_boundary=False,
    )
    return ds.prefetch(AUTOTUNE)


def windows(series: np.ndarray, targets: np.ndarray | None, *, width: int, horizon: int = 1, lead: int = 1,
            stride: int = 1, batch_size: int = 64, shuffle_seed: int | None = None) -> tf.data.Dataset:
    """Sliding windows over a time series with no look-ahead.

    series: (time, features). Input i is series[s : s + width] with s = i * stride; its target is
    targets[s + width - 1 + lead : s + width - 1 + lead + horizon] (shape (horizon, ...)): `lead` steps after the
    window's last step and the `horizon` - 1 steps after that (lead=1: the steps right after the window). With
    `targets=None` only inputs are produced. Built on keras.utils.timeseries_dataset_from_array.
    """
    series = np.asarray(series)
    if width < 1 or horizon < 1 or stride < 1 or lead < 1:
        raise ValueError(f"windows: need width, horizon, lead, stride >= 1; got {width=}, {horizon=}, {lead=}, {stride=}.")
    future = (lead - 1 + horizon) if targets is not None else 0
    count = (len(series) - width - future) // stride + 1
    if count < 1:
        raise ValueError(f"windows: a series of {len(series)} steps is too short for width={width} + lead={lead} "
                         f"+ horizon={horizon}.")
    inputs = keras.utils.timeseries_dataset_from_array(
        series, None, sequence_length=width, sequence_stride=stride, batch_size=None, shuffle=False)
    inputs = inputs.take(count)
    if targets is not None:
        targets = np.asarray(targets)
        if len(targets) != len(series):
            raise ValueError(f"windows: targets have {len(targets)} steps, series {len(series)}; they must align.")
        ahead = keras.utils.timeseries_dataset_from_array(
            targets[width + lead - 1:], None, sequence_length=horizon, sequence_stride=stride, batch_size=None,
            shuffle=False)
        inputs = tf.data.Dataset.zip((inputs, ahead.take(count)))
    return batched(inputs, batch_size, shuffle_seed=shuffle_seed)
