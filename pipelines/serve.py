"""`make serve`: the exported models over HTTP with TF Serving's REST API (shared.serving), plus ECG analysis of a
raw signal.

    python -m pipelines.serve [--host 127.0.0.1] [--port 8501] [--models ecg,sentiment] [--root saved_models]

    POST /v1/ecg:analyze   {"signal": [mV, ...], "sampling_rate": 360}              one raw lead
                           {"record": {"hea": {"b64": ...}, "dat": {"b64": ...}}}   or a WFDB record (.hea + .dat,
                                                                                   optionally "atr")
                           {"listed": "100"}                                        or a record of --records
        -> every detected beat (time_s, class, probabilities) and the summary `make predict-ecg` prints
           (domain.ecg.analysis.analyze: one implementation for both); with annotations, the agreement with them;
           with "include_signal": true, the lead at 360 Hz (signal_mV, fs) and the reference beats, for drawing.
    GET  /                 the ECG page (pipelines/ecg_page.html): pick or upload a record, scroll its beats
    GET  /v1/ecg/records   {"records": [...]}: the records of --records (default $RNN_DATA_DIR/mitdb when present)
"""

from __future__ import annotations

import argparse
import logging
import pathlib
import sys
import tempfile

from domain.ecg.analysis import DETECTORS
from shared import cli, reports, serving
from shared import export as shared_export

log = logging.getLogger(__name__)

PAGE = pathlib.Path(__file__).with_name("ecg_page.html")


def listed_records(folder: pathlib.Path | None) -> list[str]:
    from domain.ecg import records

    return records.record_names(folder) if folder else []


def analyze_ecg(repository: serving.Repository, body: dict, folder: pathlib.Path | None = None) -> dict:
    """POST /v1/ecg:analyze, in process (the route runs it in a thread); `folder` holds the listed records."""
    import numpy as np
    import tensorflow as tf

    from domain.ecg import analysis, records

    kinds = [k for k in ("signal", "record", "listed") if isinstance(body, dict) and k in body]
    if len(kinds) != 1:
        raise serving.RequestError(400, 'send {"signal": [...], "sampling_rate": Hz}, {"record": {"hea": {"b64": '
                                        '...}, "dat": {"b64": ...}}} or {"listed": "<record>"}, one of the three')
    detector = body.get("detector", "neurokit")
    if detector not in DETECTORS:
        raise serving.RequestError(400, f"detector {str(detector)[:40]!r}: expected one of {', '.join(DETECTORS)}")
    loaded, meta, version = repository.get("ecg", body.get("version"))
    first_lead = bool((meta.get("config") or {}).get("first_lead", False))
    try:
        annotated = False
        if "listed" in body:
            name = body["listed"]
            if not isinstance(name, str) or name not in listed_records(folder):
                raise serving.RequestError(404, f"no listed record {str(name)[:40]!r} (GET /v1/ecg/records lists "
                                                "them)")
            annotated = (folder / f"{name}.atr").exists()
            record = records.read_record(folder / name, first_lead_fallback=first_lead, annotations=annotated)
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
        raise serving.RequestError(400, str(error)) from None
    result = reports.plain(result)  # JSON-safe: an agreement metric of a class the record lacks is NaN -> null
    if body.get("include_signal") is True:  # what the page draws: the lead as the model read it, and the reference
        result["fs"], result["signal_mV"] = records.FS, np.round(record.signal, 3).tolist()
        if annotated:
            result["reference"] = [{"time_s": round(float(p) / records.FS, 4), "class": records.AAMI_CLASSES[k]}
                                   for p, k in zip(record.peaks, record.labels, strict=True)]
    return {"model": {"name": "ecg", "version": str(version)}, **result}


def _wfdb_record(files, first_lead: bool):
    from domain.ecg import records

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


def default_records() -> pathlib.Path | None:
    """The ECG pipeline's own default records folder (domain.ecg.sources.default_data_dir: $RNN_DATA_DIR/mitdb)
    when it holds records, else None."""
    from domain.ecg import sources

    folder = sources.default_data_dir()
    return folder if listed_records(folder) else None


def create_app(root: str | pathlib.Path = shared_export.DEFAULT_ROOT, names: list[str] | None = None,
               max_body_bytes: int = serving.MAX_BODY_BYTES, records: str | pathlib.Path | None = None):
    """The TF Serving routes over `root`, POST /v1/ecg:analyze, the ECG page at / and the records of `records`
    (a folder of WFDB records the page lists; None: none)."""
    from starlette.concurrency import run_in_threadpool
    from starlette.responses import HTMLResponse, JSONResponse
    from starlette.routing import Route

    repository = serving.Repository(root, names)
    folder = pathlib.Path(records) if records else None

    async def analyze(request):
        body = await serving.read_json(request, max_body_bytes)
        return JSONResponse(await run_in_threadpool(analyze_ecg, repository, body, folder))

    async def page(request):
        return HTMLResponse(PAGE.read_text())

    async def listing(request):
        return JSONResponse({"records": listed_records(folder)})

    return serving.create_app(root, names, max_body_bytes=max_body_bytes, repository=repository,
                              extra_routes=[Route("/v1/ecg:analyze", analyze, methods=["POST"]),
                                            Route("/", page), Route("/v1/ecg/records", listing)])


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pipelines.serve", description=__doc__.split("\n\n")[0], allow_abbrev=False)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: loopback only)")
    parser.add_argument("--port", type=int, default=8501, help="TF Serving's REST port by default")
    parser.add_argument("--models", default="", help="comma-separated model names to serve (default: all)")
    parser.add_argument("--root", default=shared_export.DEFAULT_ROOT, help="the exported models' folder")
    parser.add_argument("--records", default=None,
                        help="a folder of WFDB records the ECG page lists (default: $RNN_DATA_DIR/mitdb if present)")
    parser.add_argument("--max-body-mb", type=cli.finite_float, default=serving.MAX_BODY_BYTES / 2**20,
                        help="largest request body accepted (MiB)")
    return parser


def main(argv: list[str] | None = None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    cli.setup_logging()

    def serve():
        import uvicorn

        names = [n for n in args.models.split(",") if n] or None
        bad = [n for n in names or [] if not serving.NAME.fullmatch(n)]
        if bad:
            raise ValueError(f"--models {','.join(bad)}: model names are letters, digits, '_', '-' and '.'")
        if not 0 < args.port < 65536:
            raise ValueError(f"--port {args.port}: expected 1-65535")
        if not pathlib.Path(args.root).is_dir():
            raise FileNotFoundError(f"--root {args.root}: no such folder; train or export a model first "
                                    "(make train-ecg).")
        records = args.records or default_records()
        if records and not pathlib.Path(records).is_dir():
            raise FileNotFoundError(f"--records {records}: no such folder of WFDB records.")
        app = create_app(args.root, names, int(args.max_body_mb * 2**20), records)
        served = app.state.repository.models()
        log.info("serving %s from %s on http://%s:%d (the ECG page: http://%s:%d/, %d records listed)",
                 ", ".join(served) or "no model yet", args.root, args.host, args.port, args.host, args.port,
                 len(listed_records(pathlib.Path(records) if records else None)))
        uvicorn.Server(serving.server_config(app, args.host, args.port)).run()

    cli.run_guarded(serve)


if __name__ == "__main__":
    main(sys.argv[1:])
