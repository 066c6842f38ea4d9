"""Versioned, atomic SavedModel export in the TF Serving layout, and loaders.

saved_models/<name>/<version>/ holds saved_model.pb + variables/ (endpoint `serve`, signature `serving_default`)
and metadata.json. Versions are integers counting up; a version folder appears only when complete.

Notebook:
    path = export.save(model, "ecg", serve_fn=serve, input_signature=[{"beat": tf.TensorSpec((None, 252), tf.float32)}],
                       metadata={"config": cfg, "source": "synthetic", "metrics": metrics})
    served = tf.saved_model.load(str(path)); served.signatures["serving_default"](beat=x)
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import pathlib
import platform
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable
from importlib import metadata as importlib_metadata

import keras
import numpy as np
import tensorflow as tf

from shared import distribution, layers, reports, specs

log = logging.getLogger(__name__)

DEFAULT_ROOT = specs.SAVED_MODELS
CUDNN_OPS = ("CudnnRNN", "CudnnRNNV2", "CudnnRNNV3", "CudnnRNNBackprop", "CudnnRNNBackpropV2", "CudnnRNNBackpropV3")


def versions(model_dir: str | pathlib.Path) -> list[int]:
    """The complete versions under saved_models/<name>/, ascending (temporary folders are ignored)."""
    model_dir = pathlib.Path(model_dir)
    if not model_dir.is_dir():
        return []
    return sorted(int(p.name) for p in model_dir.iterdir()
                  if p.name.isascii() and p.name.isdigit() and (p / "saved_model.pb").exists())  # not '²' or '٩'


def remove_stale_temporaries(model_dir: pathlib.Path, older_than_s: float = 3600.0) -> list[str]:
    """Delete `.tmp-*` folders an interrupted export left (older than an hour: a running export's is newer)."""
    removed = []
    for tmp in model_dir.glob(".tmp-*"):
        if time.time() - tmp.stat().st_mtime > older_than_s:
            shutil.rmtree(tmp, ignore_errors=True)
            removed.append(tmp.name)
    if removed:
        log.info("removed %d unfinished exports left in %s: %s", len(removed), model_dir, removed)
    return removed


def latest(name: str, root: str | pathlib.Path = DEFAULT_ROOT) -> pathlib.Path:
    """Path of the newest version of `name`; a clear error when none was exported."""
    found = versions(pathlib.Path(root) / name)
    if not found:
        raise FileNotFoundError(f"no exported model under {pathlib.Path(root) / name}; "
                                f"run 'rnn-suite {name} train' (or 'rnn-suite {name} export') first.")
    return pathlib.Path(root) / name / str(found[-1])


def pin(path: str | pathlib.Path, version: int) -> pathlib.Path:
    """Move an exported version folder to version `version` of the same model (e.g. 0: the model shipped inside
    the project, which any version trained later supersedes), replacing what was there; the metadata says the new
    number. The old folder is renamed aside before the new one takes its place, so a crash leaves one of them."""
    path = pathlib.Path(path)
    target = path.parent / str(int(version))
    if target == path:
        return path
    meta = json.loads((path / "metadata.json").read_text())
    meta["version"] = int(version)
    (path / "metadata.json").write_text(json.dumps(meta, indent=2) + "\n")
    aside = path.parent / f".old-{version}-{uuid.uuid4().hex[:8]}"
    if target.exists():
        os.rename(target, aside)
    os.rename(path, target)
    shutil.rmtree(aside, ignore_errors=True)
    return target


def load(path: str | pathlib.Path, expect: str | tuple[str, ...] = ()) -> tuple[object, dict]:
    """(SavedModel, metadata) of one version folder: `loaded.signatures["serving_default"](**inputs)`. With
    `expect` (the export names a pipeline serves), another pipeline's model is refused by name; a folder whose
    files are corrupt is refused in one line."""
    path = pathlib.Path(path)
    if not (path / "saved_model.pb").exists():
        raise FileNotFoundError(f"{path} is not a SavedModel version folder (no saved_model.pb); "
                                "pass saved_models/<name>/<version> or use export.latest(name).")
    meta_path = path / "metadata.json"
    try:
        meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    except (ValueError, UnicodeDecodeError):
        raise ValueError(f"{meta_path} is not valid JSON; export the model again.") from None
    expected = (expect,) if isinstance(expect, str) else tuple(expect)
    if expected and meta.get("name") not in expected:
        raise ValueError(f"{path} holds a {meta.get('name', 'unnamed')!r} model, not {' or '.join(expected)}; pass "
                         f"--model saved_models/{expected[0]}/<version>.")
    try:
        return _load_outside_strategy(path), meta
    except Exception as error:  # noqa: BLE001 - TensorFlow raises many kinds for a damaged file
        raise ValueError(f"{path}: the SavedModel cannot be loaded ({type(error).__name__}: "
                         f"{str(error).splitlines()[0][:200] if str(error) else 'damaged files'}); export it again.") from None


def _load_outside_strategy(path: pathlib.Path):
    """tf.saved_model.load, outside any tf.distribute scope: loaded under a MirroredStrategy scope (a pipeline's
    run after training) its variables would become distributed and calling the signature would fail. Strategy
    scopes are per thread, so a fresh thread loads it as a server would. tensorflow-text is imported first: its
    ops (SentencePiece in the translation export) must be registered before a graph that holds them loads."""
    import tensorflow_text  # noqa: F401 - registers the ops

    return distribution.outside_strategy(tf.saved_model.load, str(path))


def caller(served, signature: str = "serving_default") -> Callable[..., dict[str, np.ndarray]]:
    """A loaded export's signature as a function of NumPy arrays returning NumPy arrays, for code that does not
    import TensorFlow (domain.ecg.analysis.analyze)."""
    function = served.signatures[signature]
    return lambda **inputs: {k: v.numpy() for k, v in function(**{k: tf.constant(v) for k, v in inputs.items()}
                                                               ).items()}


def graph_ops(path: str | pathlib.Path) -> set[str]:
    """Every op type in a SavedModel's graph and function library (to check what serving will need)."""
    from tensorflow.core.protobuf import saved_model_pb2

    proto = saved_model_pb2.SavedModel()
    proto.ParseFromString((pathlib.Path(path) / "saved_model.pb").read_bytes())
    ops = set()
    for meta_graph in proto.meta_graphs:
        ops |= {node.op for node in meta_graph.graph_def.node}
        for function in meta_graph.graph_def.library.function:
            ops |= {node.op for node in function.node_def}
    return ops


def package_versions() -> dict[str, str]:
    names = ("tensorflow", "keras", "numpy", "scipy", "scikit-learn", "wfdb", "rnn-suite")
    found = {"python": platform.python_version()}
    for name in names:
        try:
            found[name] = importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            continue
    return found


def default_endpoint(model: keras.Model) -> tuple[Callable, list]:
    """Serving function and input signature taking the model's named inputs and returning {"outputs": ...}."""
    specs = {t.name: tf.TensorSpec(t.shape, t.dtype, name=t.name) for t in model.inputs}
    if len(specs) == 1:
        def serve(x):
            return {"outputs": model(x, training=False)}
        return serve, list(specs.values())

    def serve_many(inputs):
        return {"outputs": model(inputs, training=False)}
    return serve_many, [specs]


def _plain_config(config) -> object:
    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        return dataclasses.asdict(config)
    return config


def graph_error(error: Exception) -> str:
    """The line of a TensorFlow error a client can use: an export's own check (tf.debugging.assert_*: "assertion
    failed: [message]"), else the first line that is not TensorFlow's framing ("Graph execution error:", node
    names, stack notes)."""
    text = str(error).replace("\\'", "'")  # TensorFlow escapes the quotes of a check's message
    start = text.find("assertion failed: [")
    if start >= 0:  # the check's message: up to its matching bracket (it may hold a range "[0, 10]" itself)
        depth, at = 0, start + len("assertion failed: ")
        for end in range(at, len(text)):
            depth += {"[": 1, "]": -1}.get(text[end], 0)
            if depth == 0:
                return text[at + 1:end].strip().rstrip(".")[:300]
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith(
        ("Graph execution error", "Detected at node", "<stack traces", "[[", "File ", "Op:"))]
    return (lines[0] if lines else type(error).__name__)[:300]


def training_range(values: np.ndarray, margin: float = 3.0) -> dict:
    """The plausible range of a served input per feature (last axis), from the training rows: their min and max
    widened by `margin` times their span on each side - a value beyond anything seen still passes, garbage (1e30,
    a price in cents for one in dollars) does not. For export metadata "input_limits"."""
    flat = np.asarray(values, dtype=float).reshape(-1, np.shape(values)[-1])
    low, high = np.nanmin(flat, axis=0), np.nanmax(flat, axis=0)
    span = np.maximum(high - low, 1e-6)
    return {"min": [round(float(v), 6) for v in low - margin * span],
            "max": [round(float(v), 6) for v in high + margin * span],
            "why": f"the training data's range per feature widened by {margin:g} times its span on each side"}


def refuse_outside(meta: dict, values: dict, signature: str = "serving_default") -> None:
    """The command line's copy of the server's check: a ValueError naming the first input outside the export's
    "input_limits" for `signature` (nothing when the export has none)."""
    for problem in specs.limit_problems(values, (meta.get("input_limits") or {}).get(signature, {})):
        raise ValueError(problem + "; the model was not trained on anything like it.")


def limit_checks(limits: dict, inputs: dict[str, tf.Tensor]) -> list:
    """Inside a serving function: one check per input named in `limits` ({input: {"min", "max", "why"}}: the
    export's input_limits, scalars or a range per feature along the last axis), refusing the request
    (InvalidArgument "assertion failed: [input 'window' = 1e+30 is outside ...]", one line) when a value is outside
    its range or not a number. The graph holds them, so a model served by TF Serving refuses what this suite's
    server refuses, with the same words."""
    checks = []
    for name, limit in limits.items():
        if name not in inputs:
            continue
        if limit.get("utf8"):  # a text input: transcoding replaces invalid UTF-8, so valid text comes back unchanged
            flat = tf.reshape(inputs[name], [-1])
            same = tf.equal(tf.strings.unicode_transcode(flat, "UTF-8", "UTF-8", errors="replace"), flat)
            checks.append(tf.debugging.Assert(tf.reduce_all(same), [f"input '{name}' is not UTF-8 text; {limit['why']}"]))
            continue
        # compared in the input's own float type (a float32 1e-6 is not below a limit of 1e-6), integers as float64
        dtype = inputs[name].dtype if inputs[name].dtype.is_floating else tf.float64
        x = tf.reshape(tf.cast(inputs[name], dtype), [-1, *([tf.shape(inputs[name])[-1]]
                                                            if inputs[name].shape.rank else [1])])
        lows, highs = np.broadcast_arrays(np.asarray(limit.get("min", -np.inf), dtype=float),
                                          np.asarray(limit.get("max", np.inf), dtype=float))  # scalars or per feature
        ok = tf.reshape((x >= tf.constant(lows, dtype)) & (x <= tf.constant(highs, dtype)), [-1])  # NaN fails both
        first = tf.concat([tf.cast(tf.where(~ok)[:, 0], tf.int32), [0]], 0)[0]  # the first bad value's index
        first_bad = tf.concat([tf.reshape(x, [-1]), tf.constant([np.nan], dtype)], 0)[first]  # (an empty batch)
        why = f" ({limit['why']})" if limit.get("why") else ""
        shown = tf.strings.as_string(tf.cast(first_bad, tf.float32), shortest=True)  # 1e+30, as the server says it
        if lows.ndim:  # "(feature 3) = 1e+30 is outside [-162.3, 216.4]", as the server says it
            feature = first % tf.shape(x)[1]
            bound = [tf.gather(tf.constant([f"{v:.10g}" for v in edge]), feature) for edge in (lows, highs)]
            text = tf.strings.join([f"input '{name}' (feature ", tf.strings.as_string(feature), ") = ", shown,
                                    " is outside [", bound[0], ", ", bound[1], f"]{why}"])
        else:
            text = tf.strings.join([f"input '{name}' = ", shown, f" is outside [{float(lows):.10g}, "
                                    f"{float(highs):.10g}]{why}"])
        checks.append(tf.debugging.Assert(tf.reduce_all(ok), [text], summarize=1))
    return checks


def batch_checks(inputs: dict[str, tf.Tensor]) -> list:
    """Inside a serving function: the inputs that hold rows (rank >= 1) hold the same number of them, refused in
    one line naming two that differ (else an op deep in the graph fails with its own words)."""
    rowed = [(name, tensor) for name, tensor in inputs.items() if tensor.shape.rank]
    checks = []
    for (first, a), (other, b) in zip(rowed, rowed[1:], strict=False):
        rows_a, rows_b = tf.shape(a)[0], tf.shape(b)[0]
        text = tf.strings.join([f"inputs '{first}' and '{other}' hold ", tf.strings.as_string(rows_a), " and ",
                                tf.strings.as_string(rows_b), " rows; send one row of each per example"])
        checks.append(tf.debugging.Assert(tf.equal(rows_a, rows_b), [text]))
    return checks


def _checked(serve_fn: Callable, input_signature: list | None, limits: dict) -> Callable:
    """`serve_fn` with batch_checks and limit_checks on its inputs (named by the signature's TensorSpecs) run
    before it; a tf.function given without `input_signature` stays a tf.function with its own."""
    own = input_signature is None
    input_signature = getattr(serve_fn, "input_signature", None) if own else input_signature

    def serve(*args):
        named = {spec.name: value for spec, value in zip(tf.nest.flatten(input_signature), tf.nest.flatten(args),
                                                        strict=True)}
        with tf.control_dependencies(batch_checks(named) + limit_checks(limits, named)):
            return tf.nest.map_structure(tf.identity, serve_fn(*args))
    return tf.function(serve, input_signature=input_signature) if own else serve


def _write_metadata(folder: pathlib.Path, metadata: dict | None, name: str, version: int, concrete) -> None:
    """metadata.json: the pipeline's metadata, the name and version, the serving signature's inputs and outputs,
    the package versions; strict JSON (NaN and infinity become null: bare NaN is rejected by strict parsers)."""
    meta = dict(metadata or {})
    meta["config"] = _plain_config(meta.get("config"))
    meta.update({
        "name": name, "version": version,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "signature": {
            "name": "serving_default",
            "inputs": {s.name: {"dtype": s.dtype.name, "shape": s.shape.as_list()}
                       for s in tf.nest.flatten(concrete.structured_input_signature)},
            "outputs": {k: {"dtype": v.dtype.name, "shape": v.shape.as_list()}
                        for k, v in concrete.structured_outputs.items()},
        },
        "versions": package_versions(),
    })
    (folder / "metadata.json").write_text(json.dumps(reports.plain(meta), indent=2, default=str, allow_nan=False)
                                          + "\n")


def save(model: keras.Model, name: str, *, serve_fn: Callable | None = None, input_signature: list | None = None,
         metadata: dict | None = None, root: str | pathlib.Path = DEFAULT_ROOT,
         also_track: tuple = (), extra_endpoints: dict | None = None) -> pathlib.Path:
    """Export `model` as saved_models/<name>/<next version>/ and return that path.

    serve_fn(*inputs) -> {output_name: tensor} becomes the `serve` endpoint and `serving_default` signature
    (default: the model's own inputs, output "outputs"). Recurrent layers are traced with use_cudnn=False so a
    graph exported on a GPU still serves on CPU (no CudnnRNN ops: checked). The version is written to a
    temporary folder and renamed into place only when complete, so a crash leaves no partial version.
    `also_track`: layers the serving function uses besides the model (e.g. vectorizers kept outside it).
    `extra_endpoints`: {name: (fn, input_signature)}, more signatures beside serving_default (e.g. pixels beside
    encoded bytes). The metadata's "input_limits" ({signature: {input: range}}) become checks inside those
    signatures (limit_checks): a value outside its range is refused by the graph itself.
    Under a multi-worker strategy every worker exports (as TF's multi-worker guide asks), but only the chief
    writes under `root`; the others write to a private temporary folder.
    """
    chief, task = distribution.worker()
    if not chief:
        root = tempfile.mkdtemp(prefix=f"rnn-{name}-worker-{task}-")
        log.info("worker %d is not the chief: its export goes to %s", task, root)
    model_dir = pathlib.Path(root) / name
    model_dir.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(model_dir)
    version = (versions(model_dir) or [0])[-1] + 1
    target = model_dir / str(version)
    tmp = model_dir / f".tmp-{version}-{uuid.uuid4().hex[:8]}"
    if serve_fn is None:
        serve_fn, input_signature = default_endpoint(model)
    limits = ((metadata or {}).get("input_limits") or {})
    # the graph refuses what the server refuses (TF Serving has only the graph)
    serve_fn = _checked(serve_fn, input_signature, limits.get("serving_default") or {})
    extra_endpoints = {key: (_checked(fn, signature, limits.get(key) or {}), signature)
                       for key, (fn, signature) in (extra_endpoints or {}).items()}
    try:
        with layers.cudnn_disabled(model):
            archive = keras.export.ExportArchive()
            archive.track(model)
            for extra in also_track:
                archive.track(extra)
            endpoint = archive.add_endpoint("serve", serve_fn, input_signature)
            for extra_name, (fn, signature) in (extra_endpoints or {}).items():
                archive.add_endpoint(extra_name, fn, signature)
            archive.write_out(str(tmp), verbose=False)
        cudnn = sorted(graph_ops(tmp) & set(CUDNN_OPS))
        if cudnn:
            raise RuntimeError(f"export of {name}: the graph holds GPU-only ops {cudnn}; CPU serving could not load "
                               "it. Build recurrent layers with shared.layers so export can disable cuDNN.")
        _write_metadata(tmp, metadata, name, version, endpoint.get_concrete_function())
        os.rename(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log.info("exported %s version %d to %s", name, version, target)
    return target


INVALID = "invalid input"  # the label a served classifier gives a row with NaN or inf in it


def finite_rows(*inputs: tf.Tensor, limit: float | None = None) -> tf.Tensor:
    """(batch,) bool: the rows whose values are all finite in every one of `inputs` (batch first in each), and with
    `limit`, all within +-limit (finite but absurd values, 1e30, are garbage too)."""
    def ok(x):
        x = tf.reshape(x, [tf.shape(x)[0], -1])
        good = tf.math.is_finite(x) if limit is None else tf.logical_and(tf.math.is_finite(x), tf.abs(x) <= limit)
        return tf.reduce_all(good, axis=1)
    return tf.reduce_all(tf.stack([ok(x) for x in inputs]), axis=0)


def flag_non_finite(probabilities: tf.Tensor, labels: tf.Tensor, *inputs: tf.Tensor, limit: float | None = None
                    ) -> tuple[tf.Tensor, tf.Tensor]:
    """Inside a serving function: rows of `inputs` holding NaN or inf (or, with `limit`, a value beyond +-limit) get
    NaN probabilities and the label INVALID instead of a confident class computed from garbage (batch first in
    every tensor)."""
    return flag_invalid(probabilities, labels, finite_rows(*inputs, limit=limit))


def flag_invalid(probabilities: tf.Tensor, labels: tf.Tensor, valid: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """Inside a serving function: the rows where `valid` (batch,) is False get NaN probabilities and the label
    INVALID."""
    nan = tf.fill(tf.shape(probabilities), tf.constant(float("nan"), probabilities.dtype))
    return tf.where(valid[:, None], probabilities, nan), tf.where(valid, labels, INVALID)


def serving_latency(path: str | pathlib.Path, inputs: dict[str, tf.Tensor], repeats: int = 30) -> dict[str, float]:
    """Latency of the SavedModel's serving_default on one batch `inputs` (after a warm-up call), called the way a
    server calls it (the loaded signature, not Keras predict): p50/p99 in milliseconds and items per second."""
    import numpy as np

    serve = load(path)[0].signatures["serving_default"]
    serve(**inputs)
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        serve(**inputs)
        seconds.append(time.perf_counter() - start)
    batch = int(next(iter(inputs.values())).shape[0])
    return {"batch": batch, "p50_ms": round(1000 * float(np.percentile(seconds, 50)), 3),
            "p99_ms": round(1000 * float(np.percentile(seconds, 99)), 3),
            "items_per_second": round(batch / float(np.median(seconds)), 1)}
