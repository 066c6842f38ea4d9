"""`make bench`: speed and memory of every pipeline's default model on this machine -> BENCHMARKS.md + .json.

For each pipeline, in its own process (so peak memory is its own): the default model and the pipeline's own
tf.data input on its offline data source (small), then
- training step time with jit_compile off and on (one cached batch repeated: the step alone),
- the input pipeline alone (batches per second) and real training on it; the waiting fraction is
  1 - (step alone / step in real training),
- the exported SavedModel (the model's own signature) at batch 1 and 256: p50/p99 latency and items/s,
- peak resident memory, the recurrent layers' cuDNN eligibility, the machine.
Every figure is the median of several timed repeats after warm-up; ratios are taken within one run.
Nothing here is asserted by the tests.

    python -m pipelines.bench [--only ecg,weather] [--steps 20] [--out BENCHMARKS.md]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import pathlib
import platform
import resource
import subprocess
import sys
import tempfile
import time

PIPELINES = ("ecg", "sentiment", "weather", "stock", "translation", "speech", "action", "captioning")


def _setup(name: str):
    """(model, training dataset, loss, default config) for one pipeline, with its default model and a small
    offline data source."""
    import importlib

    from shared import seq2seq

    module = importlib.import_module(f"pipelines.{name}")
    if name == "ecg":
        cfg = dataclasses.replace(module.Config(), source="synthetic", synthetic_minutes=2.0, run_dir=_tmp("ecg"))
        data = module.load_data(cfg)
        return module.build_model(cfg, data.train), module.make_datasets(cfg, data)[0], \
            "sparse_categorical_crossentropy", cfg
    if name == "sentiment":
        cfg = dataclasses.replace(module.Config(), source="synthetic", synthetic_reviews=2000)
        data = module.load_data(cfg)
        return module.build_model(cfg, data.train.texts), module.make_datasets(cfg, data)[0], \
            "binary_crossentropy", cfg
    if name == "weather":
        cfg = dataclasses.replace(module.Config(), source="seattle")
        series = module.load_data(cfg)
        return module.build_model(cfg, series), module.make_datasets(cfg, series)[0], "mse", cfg
    if name == "stock":
        cfg = dataclasses.replace(module.Config(), source="msft")
        bars = module.load_data(cfg)
        table, target = module.series(cfg, bars)
        return module.build_model(cfg, table, target), module.make_datasets(cfg, table, target)[0], "mse", cfg
    if name == "translation":
        cfg = dataclasses.replace(module.Config(), source="numbers", max_pairs=4000)
        pairs = module.load_data(cfg)
        net = module.build_model(cfg, pairs.train)
        return net.model, module.make_datasets(cfg, net, pairs)[0], seq2seq.masked_token_loss, cfg
    if name == "speech":
        import keras

        cfg = dataclasses.replace(module.Config(), source="synthetic", takes=2)
        clips = module.load_data(cfg)
        model = module.build_model(cfg, "words", clips.classes)
        return model, module.make_dataset(cfg, clips.train, "words", clips.classes, cfg.seed), \
            keras.losses.SparseCategoricalCrossentropy(from_logits=True), cfg
    if name == "action":
        import keras

        cfg = dataclasses.replace(module.Config(), clips=400)
        clips = module.load_data(cfg)
        return module.build_model(cfg, "lrcn", len(clips.classes)), module.make_dataset(cfg, clips.train, True), \
            keras.losses.SparseCategoricalCrossentropy(from_logits=True), cfg
    if name == "captioning":
        cfg = dataclasses.replace(module.Config(), scenes=600)
        data = module.load_data(cfg)
        net = module.build_model(cfg, data.train)
        return net.model, module.make_datasets(cfg, net, data)[0], seq2seq.masked_token_loss, cfg
    raise ValueError(f"unknown pipeline {name!r}; expected one of {PIPELINES}.")


def _tmp(name: str) -> str:
    return tempfile.mkdtemp(prefix=f"bench-{name}-")


class _StepTimer:
    def __init__(self):
        import keras

        outer = self

        class Callback(keras.callbacks.Callback):
            def on_train_batch_begin(self, batch, logs=None):
                outer.start = time.perf_counter()

            def on_train_batch_end(self, batch, logs=None):
                outer.seconds.append(time.perf_counter() - outer.start)
        self.seconds: list[float] = []
        self.callback = Callback()


def _median_step(model, ds, steps: int, repeats: int) -> float:
    """Median seconds per training step over `repeats` fits of `steps` steps (after a warm-up fit)."""
    import numpy as np

    model.fit(ds, epochs=1, steps_per_epoch=3, verbose=0)  # trace / compile
    medians = []
    for _ in range(repeats):
        timer = _StepTimer()
        model.fit(ds, epochs=1, steps_per_epoch=steps, verbose=0, callbacks=[timer.callback])
        medians.append(float(np.median(timer.seconds[1:])))
    return float(np.median(medians))


def _input_only(ds, batches: int, repeats: int) -> float:
    """Median seconds per batch of iterating the dataset alone."""
    import numpy as np

    iterator = iter(ds)
    next(iterator)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(batches):
            next(iterator)
        times.append((time.perf_counter() - start) / batches)
    return float(np.median(times))


def bench_one(name: str, steps: int = 20, repeats: int = 3) -> dict:
    import keras
    import tensorflow as tf

    from shared import export, layers

    keras.utils.set_random_seed(0)
    model, train_ds, loss, cfg = _setup(name)
    train_ds = train_ds.repeat()
    x, y = next(iter(train_ds))
    batch = int(tf.nest.flatten(x)[0].shape[0])
    cached = tf.data.Dataset.from_tensors((x, y)).repeat()
    result = {"pipeline": name, "batch": batch, "rnn": getattr(cfg, "rnn", "") or getattr(cfg, "decoder", ""),
              "recurrent_layers": sum(1 for _ in layers.recurrent_layers(model)),
              "cudnn_eligible": not layers.cudnn_problems(model)}
    for jit in (False, True):
        model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=loss, jit_compile=jit)
        try:
            seconds = _median_step(model, cached, steps, repeats)
            result[f"train_samples_per_s_jit_{'on' if jit else 'off'}"] = round(batch / seconds, 1)
        except Exception as error:  # noqa: BLE001 - a model XLA cannot compile is a result, not a crash
            result[f"train_samples_per_s_jit_{'on' if jit else 'off'}"] = f"failed: {type(error).__name__}"
    faster = [k for k in ("off", "on") if isinstance(result[f"train_samples_per_s_jit_{k}"], float)]
    best = max(faster, key=lambda k: result[f"train_samples_per_s_jit_{k}"]) if faster else "off"
    result["faster_jit"] = best
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=loss, jit_compile=best == "on")
    step = _median_step(model, cached, steps, repeats)
    real = _median_step(model, train_ds, steps, repeats)
    result["step_alone_ms"] = round(1000 * step, 2)
    result["step_with_input_ms"] = round(1000 * real, 2)
    result["input_only_batches_per_s"] = round(1 / _input_only(train_ds, steps, repeats), 1)
    result["input_wait_fraction"] = round(max(0.0, 1 - step / real), 3)

    root = pathlib.Path(_tmp(f"{name}-export"))
    path = export.save(model, f"bench-{name}", root=root)
    for size in (1, 256):
        inputs = tf.nest.map_structure(lambda t, n=size: tf.concat([t] * (n // len(t) + 1), axis=0)[:n], x)
        feed = inputs if isinstance(inputs, dict) else {model.inputs[0].name: inputs}
        latency = export.serving_latency(path, feed, repeats=30 if size == 1 else 8)
        result[f"serve_b{size}_p50_ms"] = latency["p50_ms"]
        result[f"serve_b{size}_p99_ms"] = latency["p99_ms"]
        result[f"serve_b{size}_items_per_s"] = latency["items_per_second"]
    result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return result


def machine() -> dict:
    import keras
    import tensorflow as tf

    cpu = platform.processor()
    try:
        for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(), "tensorflow": tf.__version__,
            "keras": keras.__version__, "gpus": len(tf.config.list_physical_devices("GPU"))}


def write(results: list[dict], info: dict, out: pathlib.Path) -> None:
    out.with_suffix(".json").write_text(json.dumps({"machine": info, "results": results}, indent=2) + "\n")
    columns = ["pipeline", "batch", "rnn", "cudnn_eligible", "train_samples_per_s_jit_off", "train_samples_per_s_jit_on",
               "faster_jit", "step_alone_ms", "step_with_input_ms", "input_wait_fraction", "input_only_batches_per_s",
               "serve_b1_p50_ms", "serve_b1_p99_ms", "serve_b256_p50_ms", "serve_b256_items_per_s", "peak_rss_mb"]
    lines = ["# Benchmarks", "", f"Written by `make bench` on {time.strftime('%Y-%m-%d')}: "
             + ", ".join(f"{k} {v}" for k, v in info.items()) + ".", "",
             "Medians of several timed repeats after warm-up; each pipeline ran in its own process. Training: the "
             "default model on one cached batch (step alone) and on the pipeline's own tf.data input; serving: the "
             "exported model's own signature (no text/audio front end outside the model).", "",
             "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for r in results:
        lines.append("| " + " | ".join(str(r.get(c, "")) for c in columns) + " |")
    out.write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m pipelines.bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default=",".join(PIPELINES), help="comma-separated pipelines")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default="BENCHMARKS.md")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # internal: run one pipeline, print its JSON
    args = parser.parse_args(argv)
    if args.one:
        print("BENCH " + json.dumps(bench_one(args.one, args.steps, args.repeats)))
        return
    results = []
    for name in [n.strip() for n in args.only.split(",") if n.strip()]:
        if name not in PIPELINES:
            parser.error(f"--only: unknown pipeline {name!r}; expected some of {','.join(PIPELINES)}.")
        done = subprocess.run([sys.executable, "-m", "pipelines.bench", "--one", name, "--steps", str(args.steps),
                               "--repeats", str(args.repeats)], capture_output=True, text=True)
        line = next((x for x in done.stdout.splitlines() if x.startswith("BENCH ")), None)
        if done.returncode or line is None:
            results.append({"pipeline": name, "batch": f"failed: {done.stderr.strip().splitlines()[-1][:200]}"})
        else:
            results.append(json.loads(line[len("BENCH "):]))
        print(json.dumps(results[-1]), flush=True)
    write(results, machine(), pathlib.Path(args.out))


if __name__ == "__main__":
    main()
