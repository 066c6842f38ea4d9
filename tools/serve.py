"""`make serve`: the exported models over HTTP with TF Serving's REST API (shared.serving), plus ECG analysis of a
raw signal.

    python -m tools.serve [--host 127.0.0.1] [--port 8501] [--models ecg,sentiment] [--root saved_models]

    POST /v1/ecg:analyze   {"signal": [mV, ...], "sampling_rate": 360}              one raw lead
                           {"record": {"hea": {"b64": ...}, "dat": {"b64": ...}}}   or a WFDB record (.hea + .dat,
                                                                                   optionally "atr")
                           {"listed": "100"}                                        or a record the server lists
        -> every detected beat (time_s, class, probabilities) and the summary `make predict-ecg` prints
           (domain.ecg.analysis.analyze: one implementation for both); with annotations, the agreement with them;
           with "include_signal": true, the lead at 360 Hz (signal_mV, fs) and the reference beats, for drawing;
           "first_lead": true reads a record without an MLII lead on its first lead. A field of the wrong type
           (e.g. "include_signal": "yes") is refused (400).
    GET  /                 the ECG page (tools/ecg_page.html): pick or upload a record, scroll its beats
    GET  /v1/ecg/records   {"records": [...]}: the records of --records (default: the MIT-BIH and SVDB folders of
                           $RNN_DATA_DIR, when they hold records), and "why" when there are none
"""

from __future__ import annotations

import argparse
import json
import logging
import pathlib
import sys
import tempfile
from typing import TYPE_CHECKING

from domain.ecg.analysis import DETECTORS
from shared import cli, specs

if TYPE_CHECKING:
    from shared import serving

log = logging.getLogger(__name__)

PAGE = pathlib.Path(__file__).with_name("ecg_page.html")


def listed_records(folders: list[pathlib.Path]) -> dict[str, pathlib.Path]:
    """{name: record path} of the records in `folders`, named as the reports name them (101, svdb/800)."""
    from domain.ecg import databases

    out = {}
    for folder in folders:
        database = databases.identify(folder)
        out.update({databases.label(database, name): folder / name for name in databases.record_names(folder)})
    return out


def record_folders(given: str | None) -> list[pathlib.Path]:
    """The folders whose records the page lists: --records (comma-separated), else the ECG pipeline's default
    database folders (domain.ecg.sources.default_data_dir: $RNN_DATA_DIR/mitdb and /svdb) that hold records."""
    from domain.ecg import sources

    if given:
        return [pathlib.Path(folder) for folder in given.split(",") if folder]
    return [folder for folder in map(sources.default_data_dir, sources.DATABASES) if listed_records([folder])]


def why_none_listed(folders: list[pathlib.Path]) -> str:
    """Why the page lists no record, and how to list some."""
    from domain.ecg import sources

    where = ", ".join(map(str, folders)) or " and ".join(str(sources.default_data_dir(d)) for d in sources.DATABASES)
    return (f"no WFDB record in {where}: start the server with the records' folder (make serve ARGS='--records "
            "path/to/mitdb'), or set RNN_DATA_DIR to the folder holding mitdb/ and svdb/; or upload a record below")


def analyze_ecg(repository: serving.Repository, body: dict, folders: list[pathlib.Path] = ()) -> dict:
    """POST /v1/ecg:analyze, in process (the route runs it in a thread); `folders` hold the listed records."""
    import numpy as np
    import tensorflow as tf

    from domain.ecg import analysis, records
    from shared import export as shared_export
    from shared import reports, serving

    kinds = [k for k in ("signal", "record", "listed") if isinstance(body, dict) and k in body]
    if len(kinds) != 1:
        raise serving.RequestError(400, 'send {"signal": [...], "sampling_rate": Hz}, {"record": {"hea": {"b64": '
                                        '...}, "dat": {"b64": ...}}} or {"listed": "<record>"}, one of the three')
    for field, kind, what in (("include_signal", bool, "true or false"), ("first_lead", bool, "true or false"),
                              ("detector", str, "a detector's name"), ("version", (str, int), "a version number")):
        if field in body and (not isinstance(body[field], kind) or (kind is not bool and isinstance(body[field], bool))):
            raise serving.RequestError(400, f'"{field}" must be {what}, not {json.dumps(body[field])[:40]}')
    detector = body.get("detector", "neurokit")
    if detector not in DETECTORS:
        raise serving.RequestError(400, f"detector {str(detector)[:40]!r}: expected one of {', '.join(DETECTORS)}")
    loaded, meta, version = repository.get("ecg", body.get("version"))
    first_lead = body.get("first_lead", bool((meta.get("config") or {}).get("first_lead", False)))
    try:
        annotated = False
        if "listed" in body:
            name, listed = body["listed"], listed_records(list(folders))
            if not isinstance(name, str):
                raise serving.RequestError(400, f'"listed" {str(name)[:40]}: a record\'s name is a string, e.g. '
                                                '"101" (GET /v1/ecg/records lists them)')
            if name not in listed:
                raise serving.RequestError(404, f"no listed record {name[:40]!r} (GET /v1/ecg/records lists them)")
            annotated = listed[name].with_suffix(".atr").exists()
            record = records.read_record(listed[name], first_lead_fallback=first_lead, annotations=annotated)
        elif "signal" in body:
            rate = body.get("sampling_rate")
            if isinstance(rate, bool) or not isinstance(rate, (int, float)):
                raise serving.RequestError(400, '"sampling_rate" (Hz, a number) is required with "signal"')
            signal = serving.as_array("signal", body["signal"], tf.TensorSpec((None,), tf.float32))
            record = records.from_signal(signal, float(rate), name="request")
        else:
            record = _wfdb_record(body["record"], first_lead)
            annotated = isinstance(body["record"], dict) and "atr" in body["record"]
        result = analysis.analyze(record, shared_export.caller(loaded), meta, detector, annotated)
    except ValueError as error:  # the record's own checks: too short, flat, mostly missing, bad header
        raise serving.RequestError(400, str(error).replace("pass --first-lead", 'send "first_lead": true')) from None
    result = reports.plain(result)  # JSON-safe: an agreement metric of a class the record lacks is NaN -> null
    if body.get("include_signal") is True:  # what the page draws: the lead as the model read it, and the reference
        result["fs"], result["signal_mV"] = records.FS, np.round(record.signal, 3).tolist()
        if annotated:
            result["reference"] = [{"time_s": round(float(p) / records.FS, 4), "class": records.AAMI_CLASSES[k]}
                                   for p, k in zip(record.peaks, record.labels, strict=True)]
    return {"model": {"name": "ecg", "version": str(version)}, **result}


def _wfdb_record(files, first_lead: bool):
    from domain.ecg import records
    from shared import serving

    if not isinstance(files, dict) or not {"hea", "dat"} <= set(files) or set(files) - {"hea", "dat", "atr"}:
        raise serving.RequestError(400, '"record" must hold "hea" and "dat" (and optionally "atr"), each '
                                        '{"b64": ...}')
    with tempfile.TemporaryDirectory(prefix="ecg-request-") as folder:
        header = serving.unbase64(files["hea"])
        if not isinstance(header, bytes):
            raise serving.RequestError(400, '"hea" must be {"b64": ...}')
        lines = header.decode(errors="replace").split("\n")
        # the record is renamed "request" (header's first word and each signal's file name) so no name a client
        # sends becomes a path here
        first = lines[0].split()
        if not first:
            raise serving.RequestError(400, "the .hea file is empty")
        lines[0] = " ".join(["request", *first[1:]])
        lines = [lines[0]] + [" ".join(["request.dat", *line.split()[1:]]) if line.split() and not
                              line.startswith("#") else line for line in lines[1:]]
        (pathlib.Path(folder) / "request.hea").write_text("\n".join(lines))
        for suffix in ("dat", "atr"):
            if suffix in files:
                data = serving.unbase64(files[suffix])
                if not isinstance(data, bytes):
                    raise serving.RequestError(400, f'"{suffix}" must be {{"b64": ...}}')
                (pathlib.Path(folder) / f"request.{suffix}").write_bytes(data)
        return records.read_record(pathlib.Path(folder) / "request", first_lead_fallback=first_lead,
                                   annotations="atr" in files)


def create_app(root: str | pathlib.Path = specs.SAVED_MODELS, names: list[str] | None = None,
               max_body_bytes: int = specs.MAX_BODY_BYTES, records: str | pathlib.Path | None = None,
               batch_options=None):
    """The TF Serving routes over `root`, POST /v1/ecg:analyze, the ECG page at / and the records of `records`
    (folders of WFDB records the page lists, comma-separated; None: the default folders, record_folders); with
    `batch_options` (shared.batching.BatchOptions) :predict requests that arrive together run as one batch."""
    from starlette.concurrency import run_in_threadpool
    from starlette.responses import HTMLResponse, JSONResponse
    from starlette.routing import Route

    from shared import serving

    repository = serving.Repository(root, names)
    folders = record_folders(str(records) if records else None)

    async def analyze(request):
        body = await serving.read_json(request, max_body_bytes)
        return JSONResponse(await run_in_threadpool(analyze_ecg, repository, body, folders))

    async def page(request):
        return HTMLResponse(PAGE.read_text())

    async def listing(request):
        names = list(listed_records(folders))
        return JSONResponse({"records": names, **({} if names else {"why": why_none_listed(folders)})})

    return serving.create_app(root, names, max_body_bytes=max_body_bytes, repository=repository,
                              batch_options=batch_options,
                              extra_routes=[Route("/v1/ecg:analyze", analyze, methods=["POST"]),
                                            Route("/", page), Route("/v1/ecg/records", listing)])


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tools.serve", description=__doc__.split("\n\n")[0], allow_abbrev=False)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: loopback only)")
    parser.add_argument("--port", type=int, default=8501, help="TF Serving's REST port by default")
    parser.add_argument("--models", default="", help="comma-separated model names to serve (default: all)")
    parser.add_argument("--root", default=specs.SAVED_MODELS, help="the exported models' folder")
    parser.add_argument("--records", default=None,
                        help="folders of WFDB records the ECG page lists, comma-separated (default: "
                             "$RNN_DATA_DIR/mitdb and $RNN_DATA_DIR/svdb, those that hold records)")
    parser.add_argument("--max-body-mb", type=cli.finite_float, default=specs.MAX_BODY_BYTES / 2**20,
                        help="largest request body accepted (MiB)")
    batching = parser.add_argument_group("server-side batching (TF Serving's --enable_batching and its parameters)")
    batching.add_argument("--enable-batching", action="store_true",
                          help=":predict requests to the same model and signature that arrive together run as one "
                               "batch (each answer is the one it gets alone; off by default)")
    batching.add_argument("--max-batch-size", type=int, default=64, help="rows in one batch (default 64)")
    batching.add_argument("--batch-timeout-micros", type=int, default=0,
                          help="how long the first request of a batch waits for others (default 0: a batch is "
                               "what queued while the previous one ran)")
    batching.add_argument("--num-batch-threads", type=int, default=1,
                          help="threads running the batches of one model signature (default 1)")
    return parser


def main(argv: list[str] | None = None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    cli.setup_logging()

    def serve():
        import uvicorn

        from shared import serving

        names = [n for n in args.models.split(",") if n] or None
        bad = [n for n in names or [] if not serving.NAME.fullmatch(n)]
        if bad:
            raise ValueError(f"--models {','.join(bad)}: model names are letters, digits, '_', '-' and '.'")
        if not 0 < args.port < 65536:
            raise ValueError(f"--port {args.port}: expected 1-65535")
        if not pathlib.Path(args.root).is_dir():
            raise FileNotFoundError(f"--root {args.root}: no such folder; train or export a model first "
                                    "(make train-ecg).")
        folders = record_folders(args.records)
        missing = [folder for folder in folders if not folder.is_dir()]
        if missing:
            raise FileNotFoundError(f"--records {missing[0]}: no such folder of WFDB records.")
        from shared import batching

        options = batching.BatchOptions(args.max_batch_size, args.batch_timeout_micros, args.num_batch_threads) \
            if args.enable_batching else None
        app = create_app(args.root, names, int(args.max_body_mb * 2**20), args.records, options)
        served = app.state.repository.models()
        listed = len(listed_records(folders))
        log.info("serving %s from %s on http://%s:%d (the ECG page: http://%s:%d/, %d records listed%s)%s",
                 ", ".join(served) or "no model yet", args.root, args.host, args.port, args.host, args.port, listed,
                 "" if listed else f": {why_none_listed(folders)}", f"; batching {options}" if options else "")
        uvicorn.Server(serving.server_config(app, args.host, args.port)).run()

    cli.run_guarded(serve)


if __name__ == "__main__":
    main(sys.argv[1:])
