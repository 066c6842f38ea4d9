import keras
import numpy as np
import pytest

from shared import streaming


@pytest.mark.parametrize("spec", ["gru:6", "lstm:5x2", "simple:4"])
def test_streaming_chunk_by_chunk_equals_the_whole_sequence(spec):
    keras.utils.set_random_seed(0)
    model = streaming.sequence_model(3, spec, 2, mean=np.ones(3), variance=np.full(3, 4.0))
    signal = np.random.default_rng(1).normal(size=(97, 3)).astype("float32")
    whole = model(signal[None]).numpy()[0]
    stream = streaming.Streamer(model)
    parts, cut = [], 0
    for size in (1, 7, 30, 2, 57):
        parts.append(stream.feed(signal[cut:cut + size]))
        cut += size
    np.testing.assert_allclose(np.concatenate(parts), whole, atol=1e-5)
    assert stream.steps_seen == 97
    stream.reset()  # a new stream starts from a zero state again
    np.testing.assert_allclose(stream.feed(signal[:10]), whole[:10], atol=1e-5)
    assert not np.allclose(stream.feed(signal[:10]), whole[:10], atol=1e-3)  # the state carried on


def test_streaming_refuses_models_that_cannot_stream():
    with pytest.raises(ValueError, match="bidirectional"):
        streaming.sequence_model(3, "bigru:4", 1)
    inputs = keras.Input((None, 3))
    last_only = keras.Model(inputs, keras.layers.Dense(1)(keras.layers.GRU(4)(inputs)))
    with pytest.raises(ValueError, match="every step"):
        streaming.Streamer(last_only)
    with pytest.raises(ValueError, match="batch_size"):
        streaming.sequence_model(3, "gru:4", 1, stateful=True)
    stream = streaming.Streamer(streaming.sequence_model(3, "gru:4", 1))
    with pytest.raises(ValueError, match="non-empty"):
        stream.feed(np.zeros((0, 3)))


def test_tbptt_batches_continue_row_by_row():
    series = np.arange(50, dtype="float32")[:, None]
    batches = list(streaming.tbptt_dataset(series, series * 10, streams=3, chunk=4))
    assert len(batches) == 4  # 50 // 3 = 16 steps per stream, 4 chunks of 4
    x0, y0 = (t.numpy() for t in batches[0])
    x1 = batches[1][0].numpy()
    assert x0.shape == (3, 4, 1)
    np.testing.assert_array_equal(x0[:, :, 0], [[0, 1, 2, 3], [16, 17, 18, 19], [32, 33, 34, 35]])
    np.testing.assert_array_equal(x1[:, 0, 0], x0[:, -1, 0] + 1)  # row i goes on where it stopped
    np.testing.assert_array_equal(y0, x0 * 10)
    with pytest.raises(ValueError, match="lower --streams or --chunk"):
        streaming.tbptt_dataset(series, series, streams=20, chunk=5)


def _delay_accuracy(delay: int, chunk: int) -> float:
    """Train a stateful GRU with truncated BPTT to output the input from `delay` steps earlier; the accuracy of
    the trained weights run over a whole sequence."""
    rng = np.random.default_rng(0)
    x = rng.choice([-1.0, 1.0], size=(4000, 1)).astype("float32")
    y = np.roll(x, delay, axis=0)
    keras.utils.set_random_seed(0)
    model = streaming.sequence_model(1, "gru:16", 1, batch_size=8, stateful=True)
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="mse")
    model.fit(streaming.tbptt_dataset(x, y, streams=8, chunk=chunk), epochs=12, verbose=0, shuffle=False,
              callbacks=[streaming.ResetStates()])
    twin = streaming.sequence_model(1, "gru:16", 1)
    twin.set_weights(model.get_weights())
    out = twin(x[None, :400]).numpy()[0, delay:, 0]
    return float(np.mean(np.sign(out) == y[delay:400, 0]))


@pytest.mark.slow
def test_tbptt_learns_dependencies_within_a_chunk_and_not_beyond_it():
    """Chunks of 4 steps. A 3-step delay: the answers at the start of each chunk need inputs from the previous
    chunk, which only the carried state holds; learned. A 6-step delay: the gradient never spans 6 steps, so it
    is not learned (the documented limit of truncated BPTT)."""
    assert _delay_accuracy(3, chunk=4) > 0.95
    assert _delay_accuracy(6, chunk=4) < 0.8
