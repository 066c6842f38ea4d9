"""Distributed training through the shared command line: MirroredStrategy over two logical CPU devices (the
way it runs over several GPUs), in subprocesses because logical devices must be set before TensorFlow starts."""

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT


def run_pipeline(tmp_path, *args, env=None):
    environment = {**os.environ, "PYTHONPATH": str(ROOT), "RNN_LOGICAL_CPUS": "2", **(env or {})}
    return subprocess.run([sys.executable, "-m", *args], cwd=tmp_path, env=environment, capture_output=True,
                          text=True, timeout=300)


@pytest.mark.parametrize("domain, batch", [("ecg", 128), ("weather", 32)])
def test_mirrored_strategy_over_two_logical_cpus(tmp_path, domain, batch):
    done = run_pipeline(tmp_path, f"pipelines.{domain}", "train", "--quick", "--strategy", "mirrored",
                        "--run-dir", "run")
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"strategy mirrored: 2 replicas, global batch {2 * batch}" in done.stderr
    assert "device:CPU:1" in done.stderr  # the second replica really ran on the second device
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    assert report["config"]["batch_size"] == 2 * batch
    assert (tmp_path / "saved_models" / domain / "1" / "saved_model.pb").exists()


def test_mixed_precision_option_sets_the_policy_and_keeps_outputs_float32(tmp_path):
    done = run_pipeline(tmp_path, "pipelines.weather", "train", "--quick", "--mixed-precision", "mixed_bfloat16",
                        "--run-dir", "run")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "dtype policy mixed_bfloat16" in done.stderr
    meta = json.loads((tmp_path / "saved_models" / "weather" / "1" / "metadata.json").read_text())
    assert meta["signature"]["outputs"]["forecast"]["dtype"] == "float32"


def test_multiworker_with_several_workers_is_refused_clearly(tmp_path):
    config = {"cluster": {"worker": ["127.0.0.1:1", "127.0.0.1:2"]}, "task": {"type": "worker", "index": 0}}
    done = run_pipeline(tmp_path, "pipelines.weather", "train", "--quick", "--strategy", "multiworker",
                        env={"TF_CONFIG": json.dumps(config)})
    assert done.returncode == 1 and "keras-team/keras#20585" in done.stderr
