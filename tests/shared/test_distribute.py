"""Distributed training through the shared command line: MirroredStrategy over two logical CPU devices (the
way it runs over several GPUs), in subprocesses because logical devices must be set before TensorFlow starts;
MultiWorkerMirroredStrategy with two worker processes on 127.0.0.1 (TF_CONFIG each), bounded in time."""

import json
import os
import socket
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


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for sock in sockets:
        sock.bind(("127.0.0.1", 0))
    ports = [sock.getsockname()[1] for sock in sockets]
    for sock in sockets:
        sock.close()
    return ports


def start_workers(tmp_path, module_args: list[str], *, log_name: str) -> list[subprocess.Popen]:
    """Two MultiWorkerMirroredStrategy workers on 127.0.0.1, each with its TF_CONFIG, run from tmp_path."""
    hosts = [f"127.0.0.1:{port}" for port in free_ports(2)]
    workers = []
    for index in range(2):
        config = {"cluster": {"worker": hosts}, "task": {"type": "worker", "index": index}}
        env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CONFIG": json.dumps(config)}
        log = open(tmp_path / f"{log_name}-{index}.log", "w")  # noqa: SIM115 (closed with the process)
        workers.append(subprocess.Popen([sys.executable, "-m", *module_args], cwd=tmp_path, env=env,
                                        stdout=log, stderr=subprocess.STDOUT, text=True))
    return workers


def finish(workers: list[subprocess.Popen], timeout: float) -> list[int]:
    """Exit codes; a worker still running after `timeout` seconds is killed (-9), so a test never hangs."""
    codes = []
    for worker in workers:
        try:
            codes.append(worker.wait(timeout=timeout))
        except subprocess.TimeoutExpired:
            worker.kill()
            codes.append(worker.wait())
    return codes


def weights(path) -> list:
    import keras

    return keras.models.load_model(path).get_weights()


def assert_same_weights(a, b):
    import numpy as np

    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_allclose(x, y, rtol=1e-6, atol=1e-7)


def test_multiworker_ecg_two_workers_train_identically_and_only_the_chief_exports(tmp_path):
    workers = start_workers(tmp_path, ["pipelines.ecg", "train", "--quick", "--epochs", "2", "--strategy",
                                       "multiworker", "--run-dir", "run"], log_name="ecg")
    codes = finish(workers, timeout=300)
    logs = [(tmp_path / f"ecg-{i}.log").read_text() for i in range(2)]
    assert codes == [0, 0], logs[0][-1500:] + logs[1][-1500:]
    assert "strategy multiworker: 2 replicas, global batch 256, chief" in logs[0]
    assert "worker 1 writing to run/worker-1" in logs[1]
    # the gradients were all-reduced: both workers hold the same model and logged the same global metrics
    assert_same_weights(weights(tmp_path / "run" / "best.keras"), weights(tmp_path / "run" / "worker-1" / "best.keras"))
    history = (tmp_path / "run" / "history.csv").read_text()
    assert history == (tmp_path / "run" / "worker-1" / "history.csv").read_text() and len(history.splitlines()) == 3
    # only the chief wrote saved_models/ (one version, no race); the other exported to a private folder
    assert sorted(p.name for p in (tmp_path / "saved_models" / "ecg").iterdir()) == ["1"]
    assert "is not the chief: its export goes to" in logs[1]


def test_multiworker_worker_killed_mid_run_resumes_after_restart(tmp_path):
    args = ["weather", "train", "--quick", "--epochs", "3", "--strategy", "multiworker", "--run-dir", "run"]
    # 1. worker 1 dies in the middle of epoch 1 (0-based); the chief is left waiting on its collectives and is
    #    stopped, as a cluster manager restarts the whole job
    workers = start_workers(tmp_path, ["tests.shared.dying_worker", "1", *args], log_name="first")
    dead = finish(workers[1:], timeout=300)
    finish(workers[:1], timeout=20)
    assert dead == [17], (tmp_path / "first-1.log").read_text()[-2000:]
    assert "killed in epoch 1" in (tmp_path / "first-1.log").read_text()
    for run_dir in (tmp_path / "run", tmp_path / "run" / "worker-1"):
        assert any((run_dir / "backup").iterdir())  # epoch 0 was backed up on each worker
    # 2. the restarted workers resume at epoch 1 from their backups and finish in step
    workers = start_workers(tmp_path, [f"pipelines.{args[0]}", *args[1:]], log_name="second")
    codes = finish(workers, timeout=300)
    logs = [(tmp_path / f"second-{i}.log").read_text() for i in range(2)]
    assert codes == [0, 0], logs[0][-1500:] + logs[1][-1500:]
    assert all("resuming from backup" in log for log in logs)
    for run_dir in (tmp_path / "run", tmp_path / "run" / "worker-1"):
        epochs = [line.split(",")[0] for line in (run_dir / "history.csv").read_text().splitlines()[1:]]
        assert epochs == ["0", "1", "2"]  # epoch 0 from the first run, 1-2 after the restart: none repeated
        assert not (run_dir / "backup").exists() or not any((run_dir / "backup").iterdir())
    assert_same_weights(weights(tmp_path / "run" / "best.keras"), weights(tmp_path / "run" / "worker-1" / "best.keras"))
    assert (tmp_path / "saved_models" / "weather" / "1" / "saved_model.pb").exists()
