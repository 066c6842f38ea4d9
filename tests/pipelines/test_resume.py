"""A training run killed with SIGKILL and started again with the same command ends exactly as the run never killed:
the real command line in a subprocess, killed at several points (between epochs, mid-epoch, inside a
cross-validation fold, during the final fit), compared bit for bit with an uninterrupted run (history, best
checkpoint, cross-validation). The ECG pipeline with its cross-validation, a forecaster (weather) and a text model
(sentiment)."""

import importlib
import os
import pathlib
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pytest

from tests.conftest import ROOT

ECG = ["--quick", "--epochs", "4", "--cv-folds", "2", "--synthetic-minutes", "1", "--seed", "3"]
WEATHER = ["--quick", "--epochs", "4", "--seed", "3"]
SENTIMENT = ["--quick", "--epochs", "3", "--seed", "3"]


def _command(domain: str, options: list[str], run_dir: pathlib.Path) -> list[str]:
    return [sys.executable, "-m", f"pipelines.{domain}", "train", *options, "--run-dir", str(run_dir)]


def _env() -> dict:
    return {**os.environ, "PYTHONPATH": str(ROOT), "CUDA_VISIBLE_DEVICES": ""}


def _rows(path: pathlib.Path) -> int:
    return max(0, len(path.read_text().splitlines()) - 1) if path.exists() else 0


def _run(domain, options, run_dir, cwd):
    done = subprocess.run(_command(domain, options, run_dir), cwd=cwd, env=_env(), capture_output=True, text=True,
                          timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    return done


def _killed(domain, options, run_dir, cwd, history: pathlib.Path, rows: int, delay: float) -> None:
    """Start the command, SIGKILL it `delay` seconds after `history` holds `rows` rows (0: as soon as it exists)."""
    process = subprocess.Popen(_command(domain, options, run_dir), cwd=cwd, env=_env(), stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    deadline = time.time() + 600
    while time.time() < deadline and process.poll() is None:
        if history.exists() and _rows(history) >= rows:
            time.sleep(delay)
            break
        time.sleep(0.05)
    assert process.poll() is None, f"{domain}: the run ended before the kill point ({history}, {rows} rows)"
    process.send_signal(signal.SIGKILL)
    process.wait()


def _same_run(domain: str, never: pathlib.Path, resumed: pathlib.Path, files: tuple[str, ...]) -> None:
    importlib.import_module(f"pipelines.{domain}.stages")  # its custom layers and functions, for loading
    for name in files:
        assert (never / name).read_text() == (resumed / name).read_text(), name  # history and CV, every digit
    first = keras.models.load_model(never / "best.keras", compile=False).get_weights()
    second = keras.models.load_model(resumed / "best.keras", compile=False).get_weights()
    assert len(first) == len(second) and all(np.array_equal(a, b) for a, b in zip(first, second, strict=True))


@pytest.mark.slow
def test_ecg_killed_anywhere_resumes_to_the_uninterrupted_run(tmp_path):
    never = tmp_path / "never"
    _run("ecg", ECG, never, tmp_path)
    points = {"fold 1, between epochs 2 and 3": ("cv/fold-1/history.csv", 2, 0.0),
              "fold 2, mid-epoch": ("cv/fold-2/history.csv", 1, 0.5),
              "the final fit, mid-epoch": ("history.csv", 1, 0.4)}
    for k, (where, (history, rows, delay)) in enumerate(points.items()):
        resumed = tmp_path / f"resumed-{k}"
        _killed("ecg", ECG, resumed, tmp_path, resumed / history, rows, delay)
        done = _run("ecg", ECG, resumed, tmp_path)
        assert "resuming" in done.stderr or "read back" in done.stderr, where
        _same_run("ecg", never, resumed, ("history.csv", "cross_validation.json"))


@pytest.mark.slow
@pytest.mark.parametrize("domain, options", [("weather", WEATHER), ("sentiment", SENTIMENT)])
def test_a_forecaster_and_a_text_model_killed_mid_run_resume_to_the_uninterrupted_run(domain, options, tmp_path):
    never, resumed = tmp_path / "never", tmp_path / "resumed"
    _run(domain, options, never, tmp_path)
    history = "history.csv" if domain == "weather" else "member-1/history.csv"
    _killed(domain, options, resumed, tmp_path, resumed / history, 1, 0.3)
    _run(domain, options, resumed, tmp_path)
    _same_run(domain, never, resumed, (history,))
