"""Server-side batching (shared.batching, `make serve ARGS=--enable-batching`): requests that arrive together run as
one call, and each answer is the one its request gets alone."""

import threading

import numpy as np
import pytest

from shared import batching, serving
from tests.conftest import run_quick


def _together(count, request):
    """`request(i)` from `count` threads released at once; their answers (or errors) by i."""
    answers, start = {}, threading.Barrier(count)

    def client(i):
        start.wait()
        try:
            answers[i] = request(i)
        except Exception as error:  # noqa: BLE001 - kept to assert on
            answers[i] = error
    threads = [threading.Thread(target=client, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers


def test_requests_that_arrive_together_run_as_one_call_and_a_bad_one_fails_alone():
    calls = []

    def fn(arrays):  # doubles each row; refuses any batch holding a negative value, as an in-graph check does
        calls.append(len(arrays["x"]))
        if (arrays["x"] < 0).any():
            raise ValueError("x must not be negative")
        return {"y": arrays["x"] * 2, "rows": np.arange(len(arrays["x"]))}

    batcher = batching.Batcher(batching.BatchOptions(max_batch_size=64, batch_timeout_micros=200_000))
    value = {i: np.full((1 + i % 3, 4), -1.0 if i == 5 else float(i)) for i in range(12)}
    answers = _together(12, lambda i: batcher.run(("m", 1, "s"), fn, {"x": value[i]}))
    assert isinstance(answers[5], ValueError)  # the bad request fails alone ...
    for i in set(range(12)) - {5}:  # ... and every other one gets its own rows back
        np.testing.assert_array_equal(answers[i]["y"], value[i] * 2)
        assert len(answers[i]["rows"]) == len(value[i])
    assert max(calls) > 3  # stacked: some call held several requests' rows
    assert calls.count(1) + calls.count(2) + calls.count(3) >= 12 - 1  # after the failed stack, each ran alone


def test_different_shapes_are_not_stacked_and_outputs_without_the_batch_axis_run_alone():
    shapes = []

    def fn(arrays):
        shapes.append(arrays["x"].shape)
        return {"y": arrays["x"].sum(axis=1), "total": np.float32(arrays["x"].sum())}  # total: no batch axis

    batcher = batching.Batcher(batching.BatchOptions(batch_timeout_micros=100_000))
    value = {i: np.ones((1, 3 + i % 2)) * i for i in range(6)}
    answers = _together(6, lambda i: batcher.run(("m", 1, "s"), fn, {"x": value[i]}))
    for i in range(6):
        assert float(answers[i]["total"]) == pytest.approx(value[i].sum())  # its own total, not the batch's
        np.testing.assert_allclose(answers[i]["y"], value[i].sum(axis=1))
    assert {s[1] for s in shapes} == {3, 4}  # widths 3 and 4 never met in one call


def test_options_are_checked_with_the_option_named():
    with pytest.raises(ValueError, match="--batch-timeout-micros -1: expected at least 0"):
        batching.BatchOptions(batch_timeout_micros=-1)


@pytest.mark.slow
def test_a_served_model_answers_the_same_with_batching_on(tmp_path):
    """Sentiment (raw strings of different lengths: the signature pads them) from 16 clients at once: batched
    answers equal the unbatched ones, and a request the server refuses is refused alone."""
    from pipelines import sentiment

    _, root, _ = run_quick(sentiment, tmp_path)
    repository = serving.Repository(root / "saved_models")
    texts = [("a fine film " * (1 + i % 5)).strip() for i in range(15)] + ["x" * 10]
    alone = [serving.predict(repository, "sentiment", {"instances": [t]}) for t in texts]
    batcher = batching.Batcher(batching.BatchOptions(batch_timeout_micros=200_000))
    bodies = {i: {"instances": [t]} for i, t in enumerate(texts)}
    bodies[15] = {"instances": [1.5]}  # not a string: refused before it reaches a batch
    answers = _together(16, lambda i: serving.predict(repository, "sentiment", bodies[i], batcher=batcher))
    assert isinstance(answers[15], serving.RequestError)
    for i in range(15):
        (mine,), (own,) = answers[i]["predictions"], alone[i]["predictions"]
        assert set(mine) == set(own)
        for key in own:  # the probability within float rounding (another batch shape), the label the same
            if isinstance(own[key], str):
                assert mine[key] == own[key]
            else:
                np.testing.assert_allclose(np.asarray(mine[key], float), np.asarray(own[key], float), atol=1e-5)
