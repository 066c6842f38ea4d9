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
