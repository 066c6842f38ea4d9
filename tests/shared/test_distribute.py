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


@pytest.mark.slow
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


@pytest.mark.slow
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


@pytest.mark.slow
@pytest.mark.xdist_group("multiworker")  # one cluster at a time: ports picked free for one can be taken by the other
@pytest.mark.parametrize("domain, global_batch", [("ecg", 256), ("weather", 64)])
def test_multiworker_two_workers_stay_identical_and_resume_after_a_worker_is_killed(tmp_path, domain, global_batch):
    args = [domain, "train", "--quick", "--epochs", "3", "--strategy", "multiworker", "--run-dir", "run"]
    # 1. worker 1 dies in the middle of epoch 1 (0-based); the chief is left waiting on its collectives and is
    #    stopped, as a cluster manager restarts the whole job
    workers = start_workers(tmp_path, ["tests.shared.dying_worker", "1", *args], log_name="first")
    dead = finish(workers[1:], timeout=300)
    finish(workers[:1], timeout=20)
    first = (tmp_path / "first-1.log").read_text()
    assert dead == [17] and "killed in epoch 1" in first, first[-2000:]
    assert f"strategy multiworker: 2 replicas, global batch {global_batch}, chief" in (tmp_path / "first-0.log").read_text()
    assert "worker 1 writing to run/worker-1" in first
    for run_dir in (tmp_path / "run", tmp_path / "run" / "worker-1"):
        assert any((run_dir / "backup").iterdir())  # epoch 0 was backed up on each worker
    # 2. the restarted workers resume at epoch 1 from their backups and finish in step
    workers = start_workers(tmp_path, [f"pipelines.{domain}", *args[1:]], log_name="second")
    codes = finish(workers, timeout=300)
    logs = [(tmp_path / f"second-{i}.log").read_text() for i in range(2)]
    assert codes == [0, 0], logs[0][-1500:] + logs[1][-1500:]
    assert all("resuming from backup" in log for log in logs)
    histories = []
    for run_dir in (tmp_path / "run", tmp_path / "run" / "worker-1"):
        histories.append((run_dir / "history.csv").read_text())
        epochs = [line.split(",")[0] for line in histories[-1].splitlines()[1:]]
        assert epochs == ["0", "1", "2"]  # epoch 0 from the first run, 1-2 after the restart: none repeated
        assert not (run_dir / "backup").exists() or not any((run_dir / "backup").iterdir())
    # gradients were all-reduced and metrics reduced across workers: the same model and the same logged history
    assert histories[0] == histories[1]
    assert_same_weights(weights(tmp_path / "run" / "best.keras"), weights(tmp_path / "run" / "worker-1" / "best.keras"))
    # only the chief wrote saved_models/ (one version, no race); the other exported to a private folder
    assert sorted(p.name for p in (tmp_path / "saved_models" / domain).iterdir()) == ["1"]
    assert "is not the chief: its export goes to" in logs[1]
