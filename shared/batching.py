"""Server-side batching, as TF Serving's `--enable_batching` does it: requests to the same model version and signature
that arrive together are stacked along the batch axis, run as one call and split back, bounded by a maximum batch size
and a timeout (the longest a request waits for others to join it).

Each answer is the one its request would get alone: only requests whose inputs have the same shape past the batch axis
(and the same dtypes) are stacked, so nothing is padded; a signature whose outputs do not all carry the batch axis runs
each request alone; and when a stacked call fails (the graph refused one request's values), each request of it runs
alone again, so a bad request fails by itself and the others are answered.

    batcher = Batcher(BatchOptions(max_batch_size=64, batch_timeout_micros=0))
    outputs = batcher.run(("ecg", 1, "serving_default"), fn, {"beat": array, ...})   # from any request thread
"""

from __future__ import annotations

import dataclasses
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future

import numpy as np


@dataclasses.dataclass(frozen=True)
class BatchOptions:
    """TF Serving's batching parameters, under the same names."""

    max_batch_size: int = 64          # rows in one stacked call (a larger request runs alone)
    batch_timeout_micros: int = 0     # how long the first request of a batch waits for others to join it (0: it
                                      # takes the requests that queued while the previous batch ran, and no more)
    num_batch_threads: int = 1        # threads running the stacked calls of one model signature

    def __post_init__(self):
        for name, least in (("max_batch_size", 1), ("batch_timeout_micros", 0), ("num_batch_threads", 1)):
            if getattr(self, name) < least:
                raise ValueError(f"--{name.replace('_', '-')} {getattr(self, name)}: expected at least {least}.")


@dataclasses.dataclass
class _Job:
    arrays: dict[str, np.ndarray]
    rows: int
    future: Future = dataclasses.field(default_factory=Future)

    def shape_key(self) -> tuple:
        return tuple((name, a.shape[1:], a.dtype.str) for name, a in sorted(self.arrays.items()))


class Batcher:
    """One queue and `num_batch_threads` threads per (model, version, signature); `run` blocks its caller until
    its own answer is ready."""

    def __init__(self, options: BatchOptions):
        self.options = options
        self._queues: dict[tuple, queue.Queue] = {}
        self._lock = threading.Lock()

    def run(self, key: tuple, fn: Callable[[dict], dict], arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """fn(arrays) -> {output: array}, stacked with other requests to the same key when they arrive together.
        Every input must carry the batch axis with the same number of rows (the caller has checked)."""
        rows = len(next(iter(arrays.values())))
        if rows >= self.options.max_batch_size:
            return fn(arrays)
        job = _Job(arrays, rows)
        self._queue(key, fn).put(job)
        return job.future.result()

    def _queue(self, key: tuple, fn: Callable) -> queue.Queue:
        with self._lock:
            if key not in self._queues:
                self._queues[key] = queue.Queue()
                for _ in range(self.options.num_batch_threads):
                    threading.Thread(target=self._serve, args=(self._queues[key], fn), daemon=True,
                                     name=f"batch-{key[0]}").start()
            return self._queues[key]

    def _collect(self, waiting: queue.Queue, first: _Job) -> list[_Job]:
        """`first` and what joins it within the timeout, up to max_batch_size rows (a job that would overflow is
        put back for the next batch)."""
        jobs, rows = [first], first.rows
        deadline = time.monotonic() + self.options.batch_timeout_micros / 1e6
        while rows < self.options.max_batch_size:
            try:
                job = waiting.get(timeout=max(0.0, deadline - time.monotonic())) \
                    if time.monotonic() < deadline else waiting.get_nowait()
            except queue.Empty:
                break
            if rows + job.rows > self.options.max_batch_size:
                waiting.put(job)
                break
            jobs.append(job)
            rows += job.rows
        return jobs

    def _serve(self, waiting: queue.Queue, fn: Callable) -> None:
        while True:
            jobs = self._collect(waiting, waiting.get())
            groups: dict[tuple, list[_Job]] = {}
            for job in jobs:
                groups.setdefault(job.shape_key(), []).append(job)
            for group in groups.values():
                run_stacked(fn, group)


def run_stacked(fn: Callable[[dict], dict], jobs: list[_Job]) -> None:
    """One call over the stacked inputs of `jobs` (same shapes past the batch axis), split back into each job's
    future; each job alone when there is one, when the call fails or when an output lacks the batch axis."""
    if len(jobs) > 1:
        total = sum(job.rows for job in jobs)
        try:
            out = fn({name: np.concatenate([job.arrays[name] for job in jobs]) for name in jobs[0].arrays})
        except Exception:  # noqa: BLE001 - one request's values refused: each runs alone below, and fails alone
            out = None
        if out is not None and all(getattr(v, "ndim", 0) >= 1 and len(v) == total for v in out.values()):
            ends = np.cumsum([job.rows for job in jobs])[:-1]
            parts = {name: np.split(value, ends) for name, value in out.items()}
            for i, job in enumerate(jobs):
                job.future.set_result({name: pieces[i] for name, pieces in parts.items()})
            return
    for job in jobs:
        try:
            job.future.set_result(fn(job.arrays))
        except Exception as error:  # noqa: BLE001 - handed to the request's own thread, which raises it
            job.future.set_exception(error)
