"""Quiet start-up: TensorFlow's C++ notices ("Could not find cuda drivers", "failed call to cuInit", oneDNN) are
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
