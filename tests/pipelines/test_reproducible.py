"""The same seed gives the same run: every pipeline's quick configuration (shortened), trained twice into two run
folders, ends with bit-identical weights. A pipeline with unseeded randomness (a parallel map drawing from the global
generator, an unseeded shuffle or initializer) fails here. Evaluation and export are deterministic functions of the
weights and the data, so they are left out to keep the test short."""

import dataclasses
import importlib

import keras
import numpy as np
import pytest

from shared import pipeline

SHORT = {
    "action": {"clips": 160, "epochs": 1},
    "captioning": {"scenes": 300, "epochs": 1},
    "ecg": {},
    "icu": {"synthetic_stays": 200, "epochs": 1},
    "music": {"epochs": 1},
    "anomaly": {"epochs": 1},
    "sentiment": {"epochs": 1},
    "speech": {"takes": 1, "epochs": 1},
    "stock": {},
    "textgen": {"chunk": 32},
    "transcription": {"takes": 1, "sequences": 120, "epochs": 1},
    "translation": {"max_pairs": 600, "epochs": 1},
    "weather": {},
}
# The action LRCN's convolution gradients on this CPU sum in a thread-dependent order even under
# tf.config.experimental.enable_op_determinism (measured: weights differ by at most 6e-8 after one epoch, its GRU-free
# comparison model not at all); a different data stream or initialization differs by more than 1e-3.
TOLERANCE = {"action": 1e-6}


def _weights(model) -> list[np.ndarray]:
    """Every weight of a pipeline's model object: a keras.Model, a dict of them, or a dataclass holding them."""
    if isinstance(model, keras.Model):
        return model.get_weights()
    if isinstance(model, dict):
        return [w for key in sorted(model) for w in _weights(model[key])]
    if dataclasses.is_dataclass(model):
        return [w for field in dataclasses.fields(model) for w in _weights(getattr(model, field.name))]
    return []


def _train(module, run_dir):
    cfg = dataclasses.replace(module.Config(), **{**module.QUICK, **SHORT[module.NAME], "run_dir": str(run_dir)})
    keras.utils.set_random_seed(cfg.seed)
    data = module.load_data(cfg)
    model = module.build_model(cfg, data)
    pipeline.train(module, cfg, model, data, verbose=0)
    return _weights(model)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(SHORT))
def test_the_same_seed_trains_the_same_weights(name, tmp_path):
    module = importlib.import_module(f"pipelines.{name}")
    first, second = _train(module, tmp_path / "a"), _train(module, tmp_path / "b")
    assert first, f"{name}: no weights found"
    assert len(first) == len(second)
    for a, b in zip(first, second, strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=TOLERANCE.get(name, 0))
