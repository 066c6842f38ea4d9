"""`make bench`: speed and memory of every pipeline's default model on this machine -> BENCHMARKS.md + .json.

For each pipeline, in its own process (so peak memory is its own): the default model and the pipeline's own
tf.data input on its offline data source (small), then
- training step time with jit_compile off and on (one cached batch repeated: the step alone),
- the input pipeline alone (batches per second) and real training on it; the waiting fraction is
  1 - (step alone / step in real training), the median over alternating rounds of at least half a second each,
- the exported SavedModel (the model's own signature) at batch 1 and 256: p50/p99 latency and items/s,
- peak resident memory, the recurrent layers' cuDNN eligibility, the machine.
Every figure is the median of several timed repeats after warm-up; ratios are taken within one run.
With --serving (make bench ARGS=--serving): `make serve` under a bounded load (8 and 32 concurrent clients, a fixed
number of requests each) per model, the ECG analysis of a 30-minute record, and the R-peak detectors side by side
(time and Se/+P at 150 ms on every record of $RNN_DATA_DIR/mitdb).
Nothing here is asserted by the tests.

    python -m tools.bench [--only ecg,weather] [--steps 20] [--out BENCHMARKS.md] [--serving]
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import resource
import subprocess
import sys
import time

from shared import progress
from tools.bench_models import PIPELINES, scratch, setup

JIT_MARGIN = 1.10
GOALS = {"input_wait_fraction": 0.05, "ecg_30min_record_s": 5.0, "sentiment_serve_b1_p50_ms": 20.0}


def _step_seconds(model, ds, steps: int, repeats: int) -> float:
    """Median over `repeats` epochs of the mean seconds per training step (`steps` steps each), after one
    warm-up epoch, in one `fit` whose iterator runs on through the dataset: on the pipeline's own input, every
    new batch shape (variable-length batches) is traced and, with jit_compile, compiled by XLA again - as in
    real training."""
    import keras
    import numpy as np

    means: list[float] = []

    class StepTimer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.seconds = []

        def on_train_batch_begin(self, batch, logs=None):
            self.start = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            self.seconds.append(time.perf_counter() - self.start)

        def on_epoch_end(self, epoch, logs=None):
            means.append(float(np.mean(self.seconds)))

    model.fit(ds, epochs=1 + repeats, steps_per_epoch=steps, verbose=0, callbacks=[StepTimer()])
    return float(np.median(means[1:]))


def _input_wait(model, cached, train_ds, steps: int, rounds: int = 5, min_seconds: float = 0.5):
    """(step alone s, step with input s, waiting fraction): rounds alternate the step on batches held in memory
    and the step on the pipeline's own input, each round long enough (at least `min_seconds`, at least `steps`
    steps) to rise above timer noise; the fraction is the median over rounds of 1 - alone / with input, so drift
    of the machine between rounds cancels."""
    import numpy as np

    probe = _step_seconds(model, cached, steps, 1)
    steps = max(steps, int(np.ceil(min_seconds / max(probe, 1e-6))))
    alone, real = [], []
    for _ in range(rounds):
        alone.append(_step_seconds(model, cached, steps, 1))
        real.append(_step_seconds(model, train_ds, steps, 1))
    fractions = [1 - a / r for a, r in zip(alone, real, strict=True)]
    return float(np.median(alone)), float(np.median(real)), float(np.median(fractions))


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
    """One pipeline's figures. The step alone runs on `steps` real batches held in memory (the same mix of
    padded lengths that training sees); the step with input on the pipeline's own tf.data input."""
    import keras
    import tensorflow as tf

    from shared import export, layers

    keras.utils.set_random_seed(0)
    model, train_ds, loss, cfg, module, data = setup(name)
    train_ds = train_ds.repeat()
    x, *_ = next(iter(train_ds))  # (x, y) or (x, y, weights)
    batch = int(tf.nest.flatten(x)[0].shape[0])
    memory = train_ds.take(steps).cache()
    shapes = len({tuple(tuple(t.shape) for t in tf.nest.flatten(b)) for b in memory})  # fills the cache
    cached = memory.repeat()
    result = {"pipeline": name, "batch": batch, "rnn": getattr(cfg, "rnn", "") or getattr(cfg, "decoder", ""),
              "recurrent_layers": sum(1 for _ in layers.recurrent_layers(model)),
              "cudnn_eligible": not layers.cudnn_problems(model), "batch_shapes": shapes}
    for jit in (False, True):  # on the pipeline's own input: XLA's per-shape compilations count
        model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=loss, jit_compile=jit)
        try:
            seconds = _step_seconds(model, train_ds, steps, repeats)
            result[f"train_samples_per_s_jit_{'on' if jit else 'off'}"] = round(batch / seconds, 1)
        except Exception as error:  # noqa: BLE001 - a model XLA cannot compile is a result, not a crash
            result[f"train_samples_per_s_jit_{'on' if jit else 'off'}"] = f"failed: {type(error).__name__}"
    off, on = result["train_samples_per_s_jit_off"], result["train_samples_per_s_jit_on"]
    # XLA counts as faster only beyond run-to-run noise (about +-10% between runs here)
    best = "on" if isinstance(on, float) and (not isinstance(off, float) or on > JIT_MARGIN * off) else "off"
    result["faster_jit"] = best
    result["default_jit"] = "on" if getattr(cfg, "jit_compile", False) else "off"
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=loss, jit_compile=best == "on")
    step, real, wait = _input_wait(model, cached, train_ds, steps)
    result["step_alone_ms"] = round(1000 * step, 2)
    result["step_with_input_ms"] = round(1000 * real, 2)
    result["input_only_batches_per_s"] = round(1 / _input_only(train_ds, steps, repeats), 1)
    result["input_wait_fraction"] = round(max(0.0, wait), 3)

    root = pathlib.Path(scratch(f"{name}-export"))
    path = export.save(model, f"bench-{name}", root=root)
    fixed = model.inputs[0].shape[0]  # a stateful training network (textgen) has its batch size built in
    for size in (1, 256):
        if fixed is not None and fixed != size:
            result[f"serve_b{size}_p50_ms"] = f"n/a (batch fixed at {fixed}: a stateful training network)"
            continue
        inputs = tf.nest.map_structure(lambda t, n=size: tf.concat([t] * (n // len(t) + 1), axis=0)[:n], x)
        feed = inputs if isinstance(inputs, dict) else {model.inputs[0].name: inputs}
        latency = export.serving_latency(path, feed, repeats=30 if size == 1 else 8)
        result[f"serve_b{size}_p50_ms"] = latency["p50_ms"]
        result[f"serve_b{size}_p99_ms"] = latency["p99_ms"]
        result[f"serve_b{size}_items_per_s"] = latency["items_per_second"]
    result.update(GOAL_CHECKS.get(name, lambda *_: {})(cfg, model, data, root))
    result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return result


def _ecg_record_seconds(cfg, model, data, root: pathlib.Path) -> dict:
    """The performance goal's figure: `predict` on a 30-minute two-lead WFDB record end to end (load the
    SavedModel, read the record, detect beats, classify them all, write predict.json and the PNG strip)."""
    import numpy as np

    from domain.ecg import synthetic
    from pipelines import ecg

    folder = pathlib.Path(scratch("ecg-record"))
    synthetic.write_records(folder, ["900"], minutes=30.0, seed=7)
    (folder / "900.atr").unlink()  # a record to classify has no reference annotations
    path = ecg.export(cfg, model, data, {}, root=root)
    times = []
    for _ in range(3):
        start = time.perf_counter()
        summary = ecg.predict(cfg, folder / "900", model_path=path, out_dir=folder / "out")
        times.append(time.perf_counter() - start)
    return {"ecg_30min_record_s": round(float(np.median(times)), 2), "ecg_30min_beats": summary["classified_beats"]}


def translation_serving(path: str | pathlib.Path, sentences: list[str]) -> dict:
    """A string-to-string translation export's serving_default (the goal's figures): p50 latency for one sentence
    and sentences per second for 64 at once."""
    import tensorflow as tf

    from shared import export

    one = export.serving_latency(path, {"text": tf.constant(sentences[:1])}, repeats=30)
    many = export.serving_latency(path, {"text": tf.constant((sentences * 64)[:64])}, repeats=8)
    return {"translate_b1_p50_ms": one["p50_ms"], "translate_b64_sentences_per_s": many["items_per_second"]}


def _translation_served(cfg, model, data, root: pathlib.Path) -> dict:
    """The pipeline's own export (text in, text out, beam search in the graph) of the bench model: untrained, on
    the number corpus's few hundred subwords, so its figures compare between bench runs only; a trained fra-eng
    model's, before and after beam search: docs/translation.md."""
    from pipelines import translation

    net = translation.Seq2Seq(model, *translation.load_subwords(cfg.run_dir))
    return translation_serving(translation.export(cfg, net, data, {}, root=root), data.test.sources)


GOAL_CHECKS = {"ecg": _ecg_record_seconds, "translation": _translation_served}  # a pipeline's own performance goal, measured beyond the common table

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


STARTUP = {"--help": ["--help"], "a usage error (--epochs 0)": ["train", "--epochs", "0"],
           "predict without an input": ["predict"]}
STARTUP_GOAL_S = 2.0  # what a person waits for help, a usage error or a missing input


def startup_times(repeats: int = 3, names: tuple[str, ...] = PIPELINES,
                  tools: tuple[str, ...] = ("bench", "paired", "serve", "anatomy")) -> dict:
    """{command: {case: median seconds}}: each pipeline's command line answering --help, a usage error and a predict
    without input (STARTUP), and each tool's --help, each a fresh `python -m` process (`repeats` runs)."""
    out = {}
    cases = [(name, case, ["-m", f"pipelines.{name}", *argv]) for name in names for case, argv in STARTUP.items()]
    cases += [(tool, "--help", ["-m", f"tools.{tool}", "--help"]) for tool in tools]
    for name, case, argv in progress.progress(cases, "start-up", unit="command"):
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            done = subprocess.run([sys.executable, *argv], capture_output=True, timeout=300)
            if b"Traceback" in done.stderr or done.returncode not in (0, 1, 2):
                raise RuntimeError(f"{' '.join(argv)} failed: {done.stderr.decode()[-300:]}")
            times.append(time.perf_counter() - start)
        out.setdefault(name, {})[case] = round(float(sorted(times)[len(times) // 2]), 2)
    return out


def startup_lines(startup: dict) -> list[str]:
    """The start-up section of BENCHMARKS.md."""
    cases = list(STARTUP)
    slow = [f"{n} {c} {t} s" for n, row in startup.items() for c, t in row.items() if t > STARTUP_GOAL_S]
    return ["", "## Start-up (`make bench ARGS=--startup`)", "",
            f"Seconds until a command answers, median of 3 fresh processes (goal: under {STARTUP_GOAL_S:g} s; the "
            "options are read before TensorFlow loads). " + ("Met by every command." if not slow else
                                                            "Over the goal: " + ", ".join(slow) + "."), "",
            "| command | " + " | ".join(cases) + " |", "|---" * (len(cases) + 1) + "|",
            *[f"| {n} | " + " | ".join(str(row.get(c, "-")) for c in cases) + " |" for n, row in startup.items()]]


def write(results: list[dict], info: dict, out: pathlib.Path, serving: dict | None = None,
          startup: dict | None = None) -> None:
    """BENCHMARKS.json and BENCHMARKS.md: the table, the performance goals checked against it, and the serving
    and start-up figures (kept from the last --serving and --startup runs)."""
    from tools import bench_serving

    out.with_suffix(".json").write_text(json.dumps({"machine": info, "results": results, "serving": serving,
                                                    "startup": startup}, indent=2) + "\n")
    columns = ["pipeline", "measured", "batch", "rnn", "cudnn_eligible", "batch_shapes", "train_samples_per_s_jit_off",
               "train_samples_per_s_jit_on", "faster_jit", "default_jit", "step_alone_ms", "step_with_input_ms",
               "input_wait_fraction", "input_only_batches_per_s", "serve_b1_p50_ms", "serve_b1_p99_ms",
               "serve_b256_p50_ms", "serve_b256_items_per_s", "peak_rss_mb"]
    lines = ["# Benchmarks", "", "Written by `make bench`: " + ", ".join(f"{k} {v}" for k, v in info.items()) + ".", "",
             "Medians of several timed repeats after warm-up; each pipeline ran in its own process, with nothing else "
             "running. Training: the default model on its pipeline's own tf.data input (offline source); "
             "`train_samples_per_s_jit_*` run on that input, so with variable-length batches (`batch_shapes` > 1 "
             "in 20 batches) every new shape is compiled by XLA again, as in real training; `step_alone_ms` is the "
             "same kind of batches already in memory, and `input_wait_fraction` is the median, over 5 rounds that "
             "alternate the two and last at least 0.5 s each, of 1 - step alone / step with input. "
             "Serving: the exported model's own signature (text, audio and frame handling inside it) at batch 1 and 256.",
             "", "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for r in results:
        lines.append("| " + " | ".join(str(r.get(c, "")) for c in columns) + " |")
    lines += ["", "## Performance goals", ""] + goals(results) + [
        "", "## GPU", "", "These figures come from a machine without a GPU (gpus 0 above), so there are no GPU "
        "figures: cuDNN eligibility above is read from the layers' own settings (every LSTM/GRU here keeps "
        "the cuDNN defaults), and mixed precision is tested for its dtype policy on CPU only."]
    lines += bench_serving.serving_lines(serving) if serving else []
    lines += startup_lines(startup) if startup else []
    out.write_text("\n".join(lines) + "\n")


def goals(results: list[dict]) -> list[str]:
    """One line per performance goal with the measured value and whether it is met."""
    by_name = {r["pipeline"]: r for r in results}
    out = []
    waits = {n: r.get("input_wait_fraction") for n, r in by_name.items() if isinstance(r.get("input_wait_fraction"), float)}
    over = {n: w for n, w in waits.items() if w >= GOALS["input_wait_fraction"]}
    out.append("- Input pipeline never the bottleneck (waiting under 5% of step time): "
               + ("met for every pipeline." if not over else
                  "met for " + ", ".join(f"{n} {100 * w:.1f}%" for n, w in waits.items() if n not in over)
                  + "; **not met** for " + ", ".join(f"{n} {100 * w:.1f}%" for n, w in over.items()) + "."))
    for name in over:
        r = by_name[name]
        waiting = over[name] * r["step_with_input_ms"]
        headroom = r["input_only_batches_per_s"] * r["step_with_input_ms"] / 1000
        out.append(f"  - {name}: {waiting:.2f} ms of a {r['step_with_input_ms']} ms step; its input alone delivers "
                   f"{headroom:.0f}x the batches that training consumes, so the input does not limit throughput: "
                   "the cost is producing each batch on the same CPU cores that run the step.")
    ecg = by_name.get("ecg", {}).get("ecg_30min_record_s")
    if ecg is not None:
        out.append(f"- ECG inference of a 30-minute record end to end (load the SavedModel, read the WFDB record, "
                   f"detect {by_name['ecg'].get('ecg_30min_beats')} beats, classify, write JSON + PNG) under 5 s: "
                   f"**{ecg} s** - {'met' if ecg < GOALS['ecg_30min_record_s'] else 'not met'}.")
    p50 = by_name.get("sentiment", {}).get("serve_b1_p50_ms")
    if p50 is not None:
        out.append(f"- Sentiment serving p50 latency at batch 1 (raw string in, through the SavedModel signature) "
                   f"under 20 ms: **{p50} ms** - {'met' if p50 < GOALS['sentiment_serve_b1_p50_ms'] else 'not met'}.")
    served = by_name.get("translation", {})
    if "translate_b1_p50_ms" in served:
        out.append(f"- Translation served string to string (beam search in the graph): p50 "
                   f"**{served['translate_b1_p50_ms']} ms** for one sentence, **{served['translate_b64_sentences_per_s']}"
                   "** sentences/s at batch 64, on the bench model (untrained, the number corpus's few hundred subwords: "
                   "compare between bench runs only; a trained fra-eng model's figures, before and after: "
                   "docs/translation.md).")
    agree = [n for n, r in by_name.items() if r.get("faster_jit") == r.get("default_jit")]
    differ = [n for n, r in by_name.items() if r.get("default_jit") and r.get("faster_jit") != r.get("default_jit")]
    out.append(f"- jit_compile default = the measured faster setting (XLA counts as faster beyond {JIT_MARGIN:.2f}x): "
               f"agrees for {', '.join(agree) or 'none'}" + (f"; differs for {', '.join(differ)}" if differ else "")
               + ". Each pipeline's `Config.jit_compile` holds its default (`--jit-compile/--no-jit-compile`).")
    return out


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tools.bench", description=__doc__.split("\n\n")[0], allow_abbrev=False)
    parser.add_argument("--only", default=",".join(PIPELINES), help="comma-separated pipelines")
    parser.add_argument("--steps", type=int, default=20, help="training steps timed per pipeline")
    parser.add_argument("--repeats", type=int, default=3, help="timed repetitions of each measure (the median is kept)")
    parser.add_argument("--out", default="BENCHMARKS.md", help="the markdown report (its .json beside it)")
    parser.add_argument("--serving", action="store_true", help="only the serving, ECG analysis and detector figures")
    parser.add_argument("--startup", action="store_true", help="only the start-up figures: how fast each command "
                                                               "answers --help, a usage error and a missing input")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # internal: run one pipeline, print its JSON
    return parser


def main(argv: list[str] | None = None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    out = pathlib.Path(args.out)
    previous = json.loads(out.with_suffix(".json").read_text()) if out.with_suffix(".json").exists() else {}
    if args.serving:
        from tools import bench_serving

        serving = bench_serving.serving_bench()
        print(json.dumps(serving, indent=2))
        write(previous.get("results", []), machine(), out, serving, previous.get("startup"))
        return
    if args.startup:
        startup = startup_times()
        print(json.dumps(startup, indent=2))
        write(previous.get("results", []), machine(), out, previous.get("serving"), startup)
        return
    if args.one:
        print("BENCH " + json.dumps(bench_one(args.one, args.steps, args.repeats)))
        return
    results = []
    for name in progress.progress([n.strip() for n in args.only.split(",") if n.strip()], "benchmarking"):
        if name not in PIPELINES:
            parser.error(f"--only: unknown pipeline {name!r}; expected some of {','.join(PIPELINES)}.")
        done = subprocess.run([sys.executable, "-m", "tools.bench", "--one", name, "--steps", str(args.steps),
                               "--repeats", str(args.repeats)], capture_output=True, text=True)
        line = next((x for x in done.stdout.splitlines() if x.startswith("BENCH ")), None)
        if done.returncode or line is None:
            results.append({"pipeline": name, "batch": f"failed: {done.stderr.strip().splitlines()[-1][:200]}"})
        else:
            results.append({**json.loads(line[len("BENCH "):]), "measured": time.strftime("%Y-%m-%d %H:%M")})
        print(json.dumps(results[-1]), flush=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    ran = {r["pipeline"] for r in results}  # keep the rows of pipelines not measured in this run
    kept = [r for r in previous.get("results", []) if r.get("pipeline") not in ran]
    results = sorted(kept + results, key=lambda r: PIPELINES.index(r["pipeline"]) if r["pipeline"] in PIPELINES else 99)
    write(results, machine(), out, previous.get("serving"), previous.get("startup"))


if __name__ == "__main__":
    main()
