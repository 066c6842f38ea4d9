"""Fast, quiet start-up. A pipeline package's heavy stages load on first use (`later`), so its options are read,
and its help printed, before TensorFlow loads.

Quiet start-up: TensorFlow's C++ notices ("Could not find cuda drivers", "failed call to cuInit", oneDNN) are
written by absl before logging is initialised, so TF_CPP_MIN_LOG_LEVEL does not hide them (abseil/abseil-cpp#1718).
`quiet_tensorflow` imports TensorFlow and Keras and finds the devices with the process's stderr pointed at
/dev/null, then gives stderr back; Python errors raised meanwhile still surface (after stderr is restored).
RNN_DEBUG=1 keeps every notice."""

from __future__ import annotations

import os
import sys


def quiet_tensorflow() -> None:
    if os.environ.get("RNN_DEBUG") or "tensorflow" in sys.modules:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.stderr.flush()
    saved, null = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 2)
    try:
        import keras  # noqa: F401
        import tensorflow as tf

        tf.config.list_physical_devices()
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(null)


def later(package: str, module: str = "stages"):
    """(__getattr__, __dir__) for a package whose names beyond its own come from its submodule `module`, imported
    on first use (PEP 562): `__getattr__, __dir__ = startup.later(__name__)` at the end of the package's
    __init__. A name that is a submodule of the package is left to the import system."""
    import importlib
    import importlib.util

    def attribute(name: str):
        if name.startswith("__") or importlib.util.find_spec(f"{package}.{name}") is not None:
            raise AttributeError(name)
        try:
            return getattr(importlib.import_module(f"{package}.{module}"), name)
        except AttributeError:
            raise AttributeError(f"module {package!r} has no attribute {name!r}") from None

    def names() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(dir(importlib.import_module(f"{package}.{module}"))))
    return attribute, names
