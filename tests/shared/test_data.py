import numpy as np
import pytest
import tensorflow as tf

from shared import data


def _values(ds):
    return list(ds.as_numpy_iterator())


def test_batched_shuffle_is_seeded_and_complete():
    ds = tf.data.Dataset.range(50)
    first = np.concatenate(_values(data.batched(ds, 8, shuffle_seed=3)))
    again = np.concatenate(_values(data.batched(ds, 8, shuffle_seed=3)))
    other = np.concatenate(_values(data.batched(ds, 8, shuffle_seed=4)))
    plain = np.concatenate(_values(data.batched(ds, 8)))
    np.testing.assert_array_equal(first, again)
    assert sorted(first.tolist()) == list(range(50))
    assert not np.array_equal(first, other)
    np.testing.assert_array_equal(plain, np.arange(50))
    assert [len(b) for b in _values(data.batched(ds, 8))][-1] == 2
    assert int(data.batched(ds, 8, shuffle_seed=3).cardinality()) == 7  # steps per epoch stay known


def test_the_shuffled_order_is_a_function_of_the_seed_and_the_epoch_only():
    ds = tf.data.Dataset.range(40)
    data.epoch().assign(0)  # an earlier training in this process leaves the clock at its last epoch
    tf.random.set_seed(0)  # a global seed (0 once broke the shuffle) does not change the order
    first = [np.array(list(data.shuffled(ds, 5).as_numpy_iterator())) for _ in range(2)]
    tf.random.set_seed(123)
    data.epoch().assign(1)
    try:
        second = np.array(list(data.shuffled(ds, 5).as_numpy_iterator()))
        data.epoch().assign(0)
        again = np.array(list(data.shuffled(ds, 5).as_numpy_iterator()))
    finally:
        data.epoch().assign(0)
    np.testing.assert_array_equal(first[0], first[1])  # iterating again within an epoch: the same order
    np.testing.assert_array_equal(first[0], again)
    assert not np.array_equal(first[0], second) and sorted(second.tolist()) == list(range(40))


def _ragged(lengths):
    return tf.data.Dataset.from_generator(
        lambda: ((np.arange(1, n + 1, dtype="float32"), np.float32(n)) for n in lengths),
        output_signature=(tf.TensorSpec((None,), tf.float32), tf.TensorSpec((), tf.float32)))


def test_padded_pads_right_and_drops_empty_sequences():
    (x, y), = _values(data.padded(_ragged([3, 0, 2]), 8))
    np.testing.assert_array_equal(x, [[1, 2, 3], [1, 2, 0]])
    np.testing.assert_array_equal(y, [3, 2])


def test_bucketed_groups_by_length_and_keeps_every_sequence():
    lengths = [1, 2, 9, 10, 3, 11, 2, 0, 12, 1]
    seen = []
    for x, y in data.bucketed(_ragged(lengths), [5], 3).as_numpy_iterator():
        assert (y < 5).all() or (y >= 5).all(), y  # one bucket per batch
        assert x.shape[1] == y.max()               # padded only to the longest in the batch
        for row, n in zip(x, y, strict=True):
            assert (row[int(n):] == 0).all() and (row[: int(n)] > 0).all()  # right padding
        seen += y.tolist()
    assert sorted(seen) == sorted(n for n in lengths if n)


def test_windows_have_no_look_ahead():
    series = np.arange(20, dtype="float32")[:, None]
    batches = _values(data.windows(series, series[:, 0], width=5, horizon=2, batch_size=100))
    x, y = batches[0]
    assert x.shape == (14, 5, 1) and y.shape == (14, 2)
    np.testing.assert_array_equal(x[0, :, 0], [0, 1, 2, 3, 4])
    np.testing.assert_array_equal(y[0], [5, 6])
    np.testing.assert_array_equal(y[-1], [18, 19])
    assert (y.min(axis=1) > x[:, :, 0].max(axis=1)).all()


def test_windows_lead_skips_ahead():
    series = np.arange(40, dtype="float32")[:, None]
    (x, y), = _values(data.windows(series, series[:, 0], width=5, horizon=1, lead=24, batch_size=100))
    assert x.shape == (40 - 5 - 23, 5, 1)
    np.testing.assert_array_equal(y[:, 0], x[:, -1, 0] + 24)  # 24 steps after the window's last step
    assert y[-1, 0] == 39


def test_windows_stride_and_inputs_only():
    series = np.arange(10, dtype="float32")[:, None]
    (x,) = _values(data.windows(series, None, width=4, stride=3, batch_size=10))
    np.testing.assert_array_equal(x[:, 0, 0], [0, 3, 6])


@pytest.mark.parametrize("kwargs, match", [
    (dict(width=0), "width"),
    (dict(width=30), "too short"),
])
def test_windows_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        data.windows(np.zeros((20, 1)), np.zeros(20), **kwargs)
    with pytest.raises(ValueError, match="align"):
        data.windows(np.zeros((20, 1)), np.zeros(19), width=3)


def test_bad_batch_sizes():
    with pytest.raises(ValueError, match="batch_size"):
        data.batched(tf.data.Dataset.range(3), 0)
    with pytest.raises(ValueError, match="increasing"):
        data.bucketed(_ragged([1]), [5, 2], 3)
