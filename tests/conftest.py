"""Test fixtures: quiet TensorFlow, CPU only, the real-data folder (RNN_DATA_DIR) when present."""

import os
import pathlib

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import pytest  # noqa: E402

from shared.startup import quiet_tensorflow  # noqa: E402

quiet_tensorflow()

ROOT = pathlib.Path(__file__).resolve().parents[1]


def real_data_dir(name: str) -> pathlib.Path:
    """$RNN_DATA_DIR/<name> (the suite's one rule for data folders); skips the test with the reason when it is
    absent."""
    if not os.environ.get("RNN_DATA_DIR"):
        pytest.skip(f"real data: RNN_DATA_DIR is not set; set it to the folder holding {name}/")
    path = pathlib.Path(os.environ["RNN_DATA_DIR"]) / name
    if not path.is_dir():
        pytest.skip(f"real data {path} is absent; set RNN_DATA_DIR to the folder holding {name}/")
    return path


def pytest_collection_modifyitems(config, items):
    """GPU tests skip without a GPU. Tests that use a pipeline's trained `quick_run` fixture are slow (the fixture
    trains a model); the others carry @pytest.mark.slow themselves when they train for long or read real data.
    `pytest -m "not slow"` is the inner loop (about a minute)."""
    import tensorflow as tf

    skip = None if tf.config.list_physical_devices("GPU") else pytest.mark.skip(reason="needs a GPU (none visible "
                                                                                        "to TensorFlow)")
    for item in items:
        if skip is not None and "gpu" in item.keywords:
            item.add_marker(skip)
        if "quick_run" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.slow)


def run_quick(module, root: pathlib.Path, **overrides):
    """(cfg, root, result) of a pipeline's quick configuration run end to end into `root` (run/ and
    saved_models/), for module-scoped fixtures."""
    import dataclasses

    from shared import pipeline

    cfg = dataclasses.replace(module.Config(), **{**module.QUICK, "run_dir": str(root / "run"), **overrides})
    return cfg, root, pipeline.run(module, cfg, export_root=root / "saved_models", verbose=0)

