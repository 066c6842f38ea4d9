# Over 400 lines: TF Serving's REST API in full (predict, metadata, status, limits, timeouts) in one server.
"""A model server for the SavedModels under saved_models/ that speaks TF Serving's REST API, so the client code a
user writes here works unchanged against TF Serving in production (docs/serving.md).

    GET  /v1/models/<name>                                  version status (the version being served)
    GET  /v1/models/<name>[/versions/<v>]/metadata          signatures
    POST /v1/models/<name>[/versions/<v>]:predict           {"instances": [...]} or {"inputs": {...}}

Like TF Serving it serves the highest complete version of each model and picks up a new one without a restart (it
looks at the folder on every request; export writes a version beside and renames it into place, so a half-written
one is never seen); a version that fails to load is reported and the newest one that loads keeps serving. Errors are
{"error": "..."} with 400 (bad request), 404 (unknown model or version), 408 (body too slow), 413 (body too large),
never a stack trace or a path of the server. Model names and versions are checked against a strict pattern, so no
request reaches a path outside the root. Work per request is bounded: the body's size, depth and arrival time, each
model's input limits (shared.specs.limit_problems), connections at once, and a connection that never finishes its
request line and headers is closed (`server_config`).

Notebook:
    app = serving.create_app("saved_models")           # a Starlette app
    uvicorn.Server(serving.server_config(app, port=8501)).run()
    serving.predict(repository, "sentiment", {"instances": ["a fine film"]})   # the same answer, in process
"""

from __future__ import annotations

import base64
import json
import logging
import math
import pathlib
import re
import tempfile
import threading
import time
from collections.abc import Callable

import numpy as np

from shared import batching
from shared import export as shared_export
from shared import specs as value_specs

log = logging.getLogger(__name__)

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
VERSION = re.compile(r"[0-9]{1,18}")
MODEL_PATH = re.compile(r"(?P<name>[^/:]+)(?:/versions/(?P<version>[^/:]+)|/labels/(?P<label>[^/:]+))?"
                        r"(?P<verb>/metadata|:predict|:classify|:regress)?")
METHODS = {":classify": "classification", ":regress": "regression"}  # TF Serving's other REST verbs
MAX_BODY_BYTES = value_specs.MAX_BODY_BYTES
BODY_TIMEOUT_S = 30.0  # a request body not received in full by then is refused (408): a stalled client holds nothing
MAX_CONCURRENT = 64  # connections and requests at once (uvicorn's limit_concurrency); beyond, 503 at once
MAX_NESTING = 64  # JSON nested deeper than this is refused (400) before it reaches NumPy or the recursion limit
TOO_DEEP = f"JSON nested more than {MAX_NESTING} levels deep; no input here is that deep"


class RequestError(Exception):
    """A request the server refuses: `status` (400, 404, 413) and one clear line."""

    def __init__(self, status: int, message: str):
        super().__init__(public(message))
        self.status = status


def public(message: str) -> str:
    """A message as a client may see it: no path of the server's file system (its temporary folders, its model
    root, its working folder) - the file's own name is kept."""
    for folder in {tempfile.gettempdir(), str(pathlib.Path.cwd())}:
        message = re.sub(re.escape(folder.rstrip("/")) + r"/(?:[^\s'\"/]+/)*", "", message)
    return message


class Repository:
    """The models under `root` (saved_models/<name>/<version>/), each loaded on first use and cached by version;
    `names` limits which are served (None: all)."""

    def __init__(self, root: str | pathlib.Path, names: list[str] | None = None):
        self.root = pathlib.Path(root)
        self.names = set(names) if names else None
        self._loaded: dict[tuple[str, int], tuple[object, dict, float]] = {}
        self._failed: dict[tuple[str, int], tuple[float, str]] = {}
        self._lock = threading.Lock()

    def models(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if NAME.fullmatch(p.name) and shared_export.versions(p)
                      and (self.names is None or p.name in self.names))

    def versions(self, name: str) -> list[int]:
        if not NAME.fullmatch(name) or (self.names is not None and name not in self.names):
            raise RequestError(404, f"Servable not found for request: model {name[:80]!r} (served: "
                                    f"{', '.join(self.models()) or 'none'})")
        found = shared_export.versions(self.root / name)
        if not found:
            raise RequestError(404, f"Servable not found for request: model {name!r} has no exported version")
        return found

    def get(self, name: str, version: str | int | None = None) -> tuple[object, dict, int]:
        """(loaded SavedModel, metadata, version): the asked version, or the newest one that loads."""
        found = self.versions(name)
        if version is not None:
            if not VERSION.fullmatch(str(version)) or int(version) not in found:
                raise RequestError(404, f"Servable not found for request: version {str(version)[:20]!r} of "
                                        f"{name!r} (versions: {', '.join(map(str, found))})")
            return (*self._load(name, int(version)), int(version))
        errors = []
        for candidate in reversed(found):
            try:
                return (*self._load(name, candidate), candidate)
            except RequestError as error:
                errors.append(str(error))
        raise RequestError(404, f"no version of {name!r} loads: {'; '.join(errors)}")

    def _load(self, name: str, version: int) -> tuple[object, dict]:
        path = self.root / name / str(version)
        try:
            stamp = (path / "saved_model.pb").stat().st_mtime
        except OSError:
            raise RequestError(404, f"version {version} of {name!r} was removed") from None
        key = (name, version)
        with self._lock:
            cached = self._loaded.get(key)
            if cached and cached[2] == stamp:
                return cached[0], cached[1]
            failed = self._failed.get(key)
            if failed and failed[0] == stamp:
                raise RequestError(404, failed[1])
            try:
                loaded, meta = shared_export.load(path, name)
            except (OSError, ValueError) as error:
                message = f"version {version} of {name!r} cannot be loaded: {error}"
                log.warning("%s", message)
                self._failed[key] = (stamp, message)
                raise RequestError(404, message) from None
            self._loaded[key] = (loaded, meta, stamp)
            log.info("loaded %s version %d", name, version)
            return loaded, meta


def _signature(loaded, name: str, request_signature):
    if request_signature is not None and not isinstance(request_signature, str):
        raise RequestError(400, f'"signature_name" must be a string (received {type(request_signature).__name__}); '
                                f"{name!r} has: {', '.join(sorted(loaded.signatures))}")
    signature_name = request_signature or "serving_default"
    if signature_name not in loaded.signatures:
        raise RequestError(400, f"signature {signature_name[:80]!r} not found in {name!r} (it has: "
                                f"{', '.join(sorted(loaded.signatures))})")
    return signature_name, loaded.signatures[signature_name]


def unbase64(value):
    """TF Serving's binary encoding: {"b64": "..."} anywhere in a value becomes bytes."""
    if isinstance(value, dict):
        if set(value) == {"b64"}:
            try:
                return base64.b64decode(value["b64"], validate=True)
            except (ValueError, TypeError):
                raise RequestError(400, "a {\"b64\": ...} value is not valid base64") from None
        raise RequestError(400, f"unexpected object {sorted(value)[:5]} where a value was expected")
    if isinstance(value, list):
        return [unbase64(v) for v in value]
    return value


def as_array(name: str, value, spec):
    """One input as a numpy array of the signature's dtype and a compatible shape, or a 400 naming it."""
    dtype = spec.dtype
    try:  # numbers parse as numbers at once; only what does not (strings, {"b64": ...}) is walked value by value
        quick = np.asarray(value) if dtype.name != "string" else None
    except (ValueError, TypeError, OverflowError):
        quick = None
    try:
        value = quick if quick is not None and quick.dtype.kind in "biuf" else unbase64(value)
    except RequestError as error:
        raise RequestError(400, f"input {name!r}: {error}") from None
    try:
        if dtype.name == "string":
            array = np.array(value, dtype=object)
            if array.dtype != object or any(not isinstance(v, (str, bytes)) for v in array.reshape(-1)):
                raise ValueError("expected strings")
            array = np.vectorize(lambda v: v.encode() if isinstance(v, str) else v, otypes=[object])(array) \
                if array.size else array
        else:
            array = np.asarray(value)  # numpy's own parse: a list of numbers is fast; strings give kind U/S/O
            if dtype.is_bool != (array.dtype.kind == "b") or array.dtype.kind not in "biuf":  # true is not 1.0
                wanted = "true/false" if dtype.is_bool else "numbers, not true/false" if array.dtype.kind == "b" \
                    else "numbers"
                raise ValueError(f"expected {wanted} ({dtype.name})")
            if dtype.is_integer and array.size:  # 20.9 or 2**32 + 20 must not become 20
                if array.dtype.kind == "f" and not np.all(np.isfinite(array) & (array == np.round(array))):
                    raise ValueError(f"expected whole numbers ({dtype.name})")
                if array.min() < dtype.min or array.max() > dtype.max:
                    raise ValueError(f"a value is outside {dtype.name}'s range [{dtype.min}, {dtype.max}]")
            with np.errstate(over="ignore"):  # 1e39 as float32 is inf, refused below
                array = array.astype(dtype.as_numpy_dtype)
    except (ValueError, TypeError, OverflowError) as error:
        raise RequestError(400, f"input {name!r}: {str(error).splitlines()[0][:200]} (signature wants "
                                f"{dtype.name} {spec.shape})") from None
    if not spec.shape.is_compatible_with(array.shape):
        raise RequestError(400, f"input {name!r} has shape {list(array.shape)}; the signature wants "
                                f"{spec.shape.as_list()} ({dtype.name}; None is any size)")
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        raise RequestError(400, f"input {name!r} holds NaN or infinity; send finite numbers")
    if spec.shape.rank and array.shape[0] == 0:
        raise RequestError(400, f"input {name!r} is an empty batch; send at least one example")
    return array


def _inputs(body: dict, specs: dict) -> tuple[dict, bool]:
    """({input name: array}, row format?) from a request body in the row or the columnar format."""
    if not isinstance(body, dict) or ("instances" in body) == ("inputs" in body):
        raise RequestError(400, 'the body must be a JSON object with "instances" (row format) or "inputs" '
                                "(columnar format), not both")
    names = sorted(specs)
    if "inputs" in body:
        given = body["inputs"]
        if len(names) == 1 and not (isinstance(given, dict) and given and set(given) <= set(names)):
            given = {names[0]: given}  # one input may be given bare, as TF Serving allows
        if not isinstance(given, dict) or set(given) != set(names):
            raise RequestError(400, f'"inputs" must name exactly the inputs {names}; got '
                                    f"{sorted(given) if isinstance(given, dict) else type(given).__name__}")
        return {k: as_array(k, given[k], specs[k]) for k in names}, False
    rows = body["instances"]
    if not isinstance(rows, list) or not rows:
        raise RequestError(400, '"instances" must be a non-empty list, one entry per example')
    scalars = [k for k in names if specs[k].shape.rank == 0]
    if scalars:
        raise RequestError(400, f"input(s) {scalars} are not batched; use the columnar format "
                                '{"inputs": {...}}')
    if all(isinstance(r, dict) and not set(r) <= {"b64"} for r in rows):
        for i, row in enumerate(rows):
            if set(row) != set(names):
                raise RequestError(400, f"instance {i} has keys {sorted(row)[:10]}; the signature's inputs are {names}")
        columns = {k: [row[k] for row in rows] for k in names}
    elif len(names) == 1:
        columns = {names[0]: rows}
    else:
        raise RequestError(400, f"each instance must be an object with the inputs {names}")
    return {k: as_array(k, columns[k], specs[k]) for k in names}, True


def _plain(value):
    """JSON values of an output: strings decoded (b64 when not UTF-8), NaN and infinity as null."""
    if isinstance(value, bytes):
        try:
            return value.decode()
        except UnicodeDecodeError:
            return {"b64": base64.b64encode(value).decode()}
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def predict(repository: Repository, name: str, body: dict, version: str | None = None,
            batcher: batching.Batcher | None = None) -> dict:
    """A :predict request, in process: {"predictions": [...]} (row format) or {"outputs": ...} (columnar). With a
    `batcher`, a request whose inputs all carry the batch axis is stacked with others that arrive together."""
    import tensorflow as tf

    loaded, meta, served = repository.get(name, version)
    signature_name, fn = _signature(loaded, name, body.get("signature_name") if isinstance(body, dict) else None)
    specs = fn.structured_input_signature[1]
    arrays, rows = _inputs(body, specs)
    for problem in value_specs.limit_problems(arrays, meta.get("input_limits", {}).get(signature_name, {})):
        raise RequestError(400, problem)
    batches = {k: len(v) for k, v in arrays.items() if specs[k].shape.rank}
    if len(set(batches.values())) > 1:
        raise RequestError(400, f"the inputs' batch sizes differ ({', '.join(f'{k} {n}' for k, n in batches.items())});"
                                " send one row of every input per example")
    def call(given: dict) -> dict:
        return {k: v.numpy() for k, v in fn(**{k: tf.constant(v, dtype=specs[k].dtype)
                                               for k, v in given.items()}).items()}
    try:
        if batcher is not None and all(specs[k].shape.rank for k in arrays):
            out = batcher.run((name, served, signature_name), call, arrays)
        else:
            out = call(arrays)
    except (tf.errors.InvalidArgumentError, ValueError, TypeError) as error:
        raise RequestError(400, f"{name} {signature_name} refused the inputs: {shared_export.graph_error(error)}") from None
    if not rows:
        plain = {k: _plain(v.tolist() if isinstance(v, np.ndarray) else v) for k, v in out.items()}
        return {"outputs": next(iter(plain.values())) if len(plain) == 1 else plain}
    batch = {k: v for k, v in out.items() if getattr(v, "ndim", 0) >= 1}
    size = len(next(iter(arrays.values())))
    predictions = []
    for i in range(size):
        row = {k: _plain(v[i].tolist() if isinstance(v[i], np.ndarray) else v[i].item() if hasattr(v[i], "item")
                         else v[i]) for k, v in batch.items()}
        predictions.append(next(iter(row.values())) if len(row) == 1 else row)
    return {"predictions": predictions}


def status(repository: Repository, name: str, version: str | None = None) -> dict:
    """TF Serving's version status: the version being served (or the one asked for)."""
    _, _, served = repository.get(name, version)
    return {"model_version_status": [{"version": str(served), "state": "AVAILABLE",
                                      "status": {"error_code": "OK", "error_message": ""}}]}


def metadata(repository: Repository, name: str, version: str | None = None) -> dict:
    """TF Serving's metadata answer: every signature's inputs and outputs (dtype, shape)."""
    from tensorflow.core.framework import types_pb2

    loaded, meta, served = repository.get(name, version)

    def tensors(specs: dict) -> dict:
        return {k: {"dtype": types_pb2.DataType.Name(s.dtype.as_datatype_enum), "name": k,
                    "tensor_shape": {"dim": [{"size": str(-1 if d is None else d), "name": ""}
                                             for d in s.shape.as_list()], "unknown_rank": False}}
                for k, s in specs.items()}

    signatures = {key: {"inputs": tensors(fn.structured_input_signature[1]),
                        "outputs": tensors(fn.structured_outputs), "method_name": "tensorflow/serving/predict"}
                  for key, fn in loaded.signatures.items()}
    return {"model_spec": {"name": name, "signature_name": "", "version": str(served)},
            "metadata": {"signature_def": {"signature_def": signatures}},
            "export": {k: meta.get(k) for k in ("created", "source", "metrics") if k in meta}}


async def read_json(request, limit: int) -> object:
    """The request's JSON body, refused past `limit` bytes (413), when it does not arrive within BODY_TIMEOUT_S
    (408), when it is not JSON or nests deeper than MAX_NESTING (400)."""
    import asyncio

    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise RequestError(413, f"request body of {declared} bytes is over the {limit}-byte limit")
    body = bytearray()

    async def receive():
        async for chunk in request.stream():
            body.extend(chunk)
            if len(body) > limit:
                raise RequestError(413, f"request body is over the {limit}-byte limit")
    try:
        await asyncio.wait_for(receive(), BODY_TIMEOUT_S)
    except TimeoutError:
        raise RequestError(408, f"request body not received within {BODY_TIMEOUT_S:g} s ({len(body)} bytes came); "
                                "send it whole") from None
    try:
        parsed = json.loads(body, parse_constant=lambda c: (_ for _ in ()).throw(
            RequestError(400, f"JSON has {c}; send finite numbers")))
    except RequestError:
        raise
    except RecursionError:  # deeper than Python parses
        raise RequestError(400, TOO_DEEP) from None
    except (ValueError, UnicodeDecodeError) as error:
        raise RequestError(400, f"malformed JSON: {str(error)[:200]}") from None
    if _depth(parsed) > MAX_NESTING:
        raise RequestError(400, TOO_DEEP)
    return parsed


def _depth(value, limit: int = MAX_NESTING) -> int:
    """How deeply lists and objects nest in `value` (counting stops past `limit`), without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, (list, dict)):
            deepest = max(deepest, level)
            if deepest > limit:
                return deepest
            # only containers go on the stack: a signal of 648,000 numbers is one isinstance check each
            stack.extend((child, level + 1) for child in (item.values() if isinstance(item, dict) else item)
                         if isinstance(child, (list, dict)))
    return deepest


class RequestLog:
    """ASGI middleware: one log line per HTTP request, `METHOD path status milliseconds` (the server's access log;
    bodies are never logged)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        start, status = time.perf_counter(), [0]

        async def sending(message):
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)
        try:
            await self.app(scope, receive, sending)
        finally:
            log.info("%s %s %d %.1f ms", scope["method"], scope["path"][:200], status[0],
                     1000 * (time.perf_counter() - start))


def create_app(root: str | pathlib.Path = shared_export.DEFAULT_ROOT, names: list[str] | None = None, *,
               max_body_bytes: int = MAX_BODY_BYTES, extra_routes: list | None = None,
               repository: Repository | None = None, batch_options: batching.BatchOptions | None = None):
    """The Starlette app: the TF Serving routes over `root` plus `extra_routes` (starlette Routes whose handlers
    may raise RequestError). Runs in threads: TensorFlow calls happen off the event loop. With `batch_options`,
    :predict requests that arrive together are run as one batch (shared.batching)."""
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    repository = repository or Repository(root, names)
    batcher = batching.Batcher(batch_options) if batch_options else None

    async def models(request):
        path = request.path_params["path"]
        match = MODEL_PATH.fullmatch(path)
        if not match:
            raise RequestError(404, f"no such route /v1/models/{path[:80]}")
        name, version, verb = match["name"], match["version"], match["verb"]
        if match["label"] is not None:  # TF Serving's answer for a label no model config assigned
            repository.versions(name)
            raise RequestError(404, f"Unrecognized servable version label: {match['label'][:40]} (these exports "
                                    "have no version labels; use /versions/<n> or leave the version out)")
        if request.method == "POST":
            if verb in METHODS:  # every export here is a predict signature: TF Serving's own refusal
                await run_in_threadpool(repository.get, name, version)
                kind = METHODS[verb]
                raise RequestError(400, f"Expected {kind} signature method_name to be tensorflow/serving/"
                                        f"{verb[1:]}. Was: tensorflow/serving/predict (use :predict)")
            if verb != ":predict":
                raise RequestError(404, f"POST /v1/models/{path[:80]}: only :predict takes a POST")
            body = await read_json(request, max_body_bytes)
            return JSONResponse(await run_in_threadpool(predict, repository, name, body, version, batcher))
        if verb in (":predict", *METHODS):
            raise RequestError(405, f"{verb} takes a POST")
        handler: Callable = metadata if verb == "/metadata" else status
        return JSONResponse(await run_in_threadpool(handler, repository, name, version))

    async def refused(request, error: RequestError):
        return JSONResponse({"error": str(error)}, status_code=error.status)

    async def failed(request, error: Exception):
        log.exception("request %s failed", request.url.path)
        return JSONResponse({"error": f"internal error ({type(error).__name__}); the server keeps running"},
                            status_code=500)

    from starlette.middleware import Middleware

    app = Starlette(routes=[Route("/v1/models/{path:path}", models, methods=["GET", "POST"]), *(extra_routes or [])],
                    exception_handlers={RequestError: refused, Exception: failed}, middleware=[Middleware(RequestLog)])
    app.state.repository = repository
    app.state.max_body_bytes = max_body_bytes
    return app


HEADER_TIMEOUT_S = 10.0  # a connection whose request line and headers are not complete by then is closed
KEEP_ALIVE_S = 5.0  # an idle kept-alive connection is closed after this (uvicorn's timeout_keep_alive)


def server_config(app, host: str = "127.0.0.1", port: int = 8501, **changes):
    """uvicorn's Config for `app` with the server's bounds: MAX_CONCURRENT connections and requests at once (503
    beyond), idle connections closed after KEEP_ALIVE_S, and connections that have not sent a whole request head
    within HEADER_TIMEOUT_S closed (uvicorn has no such timeout of its own: a client that opens connections and
    sends nothing, or half a header, would hold them for ever)."""
    import uvicorn

    return uvicorn.Config(app, host=host, port=port, log_level="warning", limit_concurrency=MAX_CONCURRENT,
                          timeout_keep_alive=int(KEEP_ALIVE_S), http=_head_timeout_protocol(), loop="auto", **changes)


def _head_timeout_protocol():
    """uvicorn's HTTP protocol (httptools' C parser where installed, else h11's pure Python one; measured at 32
    clients on 2 cores, httptools with uvloop answered 1.3 x the requests/s for weather and 1.15 x for a request that
    calls no model), closing a connection whose first request head is not complete in time."""
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol as Protocol
    except ImportError:  # httptools is not built for this platform
        from uvicorn.protocols.http.h11_impl import H11Protocol as Protocol

    class HeadTimeout(Protocol):
        """uvicorn's protocol, closing a connection whose first request head is not complete in time."""

        def connection_made(self, transport):
            super().connection_made(transport)
            self._head_timer = self.loop.call_later(HEADER_TIMEOUT_S, self._head_timeout)

        def _head_timeout(self):
            if self.cycle is None and not self.transport.is_closing():  # no request has begun on it
                log.info("closed a connection that sent no complete request head in %g s", HEADER_TIMEOUT_S)
                self.transport.close()

        def connection_lost(self, exc):
            self._head_timer.cancel()
            super().connection_lost(exc)

    return HeadTimeout
