import numpy as np
import pytest
import tensorflow as tf

from tools import bench, bench_models


@pytest.mark.slow
@pytest.mark.parametrize("name", bench_models.PIPELINES)
def test_bench_measures_what_the_pipelines_train_would_fit(name):
    """make bench takes the model, input and loss from the pipeline's plan (the contract), for every pipeline: the
    model runs on a batch of that input and the loss scores it."""
    model, train_ds, loss, cfg, module, data = bench_models.setup(name)
    x, y, *weight = next(iter(train_ds))  # music's batches carry a weight per step
    assert loss is not None and module.NAME == name
    model.compile(optimizer="adam", loss=loss)
    batch = int(tf.nest.flatten(x)[0].shape[0])  # whole: a stateful network (textgen) takes its own batch size only
    assert np.isfinite(model.evaluate(x, y, sample_weight=weight[0] if weight else None, batch_size=batch, verbose=0))


def test_startup_figures_are_measured_and_written(tmp_path):
    """make bench ARGS=--startup, on one pipeline and one tool: every case answered, its seconds in the section."""
    measured = bench.startup_times(repeats=1, names=("weather",), tools=("paired",))
    assert set(measured) == {"weather", "paired"} and set(measured["weather"]) == set(bench.STARTUP)
    assert all(t > 0 for row in measured.values() for t in row.values())
    lines = "\n".join(bench.startup_lines({"weather": {"--help": 0.5, "predict without an input": 3.1}}))
    assert "| weather | 0.5 | - | 3.1 |" in lines and "Over the goal: weather predict without an input 3.1 s" in lines


def test_the_serving_section_sets_batching_beside_no_batching_and_says_which_targets_are_met():
    from tools import bench_serving

    load = [{"model": m, "clients": c, "batching": mode, "requests": 320, "failed": 0,
             "requests_per_s": rps, "p50_ms": p50, "p99_ms": p99}
            for m in bench_serving.SERVED
            for c, mode, rps, p50, p99 in ((1, "off", 150, 6.0, 9.0), (1, "on", 140, 9.5, 12.0),
                                           (32, "off", 100, 300.0, 500.0), (32, "on", 400, 70.0, 120.0))]
    load.append({"model": "weather", "clients": 32, "batching": bench_serving.NO_MODEL, "requests": 320, "failed": 0,
                 "requests_per_s": 250, "p50_ms": 50.0, "p99_ms": 90.0})
    music = {"rnn": "gru:256x2", "state carried (served)": {"256 steps s": 0.05, "1024 steps s": 0.2},
             "re-reading": {"256 steps s": 2.8, "1024 steps s": 41.0}, "speed-up at 1024": 205.0,
             "time(1024) / time(256), state carried": 4.0}
    text = "\n".join(bench_serving.serving_lines({"load": load, "music_generation": music, "batching": {}}))
    assert "| ecg x32, batching on | 320 | 0 | 400 | 70 | 120 |" in text
    assert "ecg: 32 clients 4.0 x the requests/s (target 3 x: met), p99 120.0 ms against 500.0 ms (met); 1 client " \
           "p50 9.5 ms against 6.0 ms (at most 2 ms worse: not met)" in text
    assert "weather: 32 clients 4.0 x the requests/s (target 3 x: met; a request that calls no model answers 250/s " \
           "here, so no batching can give more than 2.5 x)" in text
    assert "205.0 x faster with the state carried (target 20 x: met)" in text and "= 4.0 (target at most 4.5: met)" in text
