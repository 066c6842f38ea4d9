"""`make bench ARGS=--serving`: `make serve` under a bounded load on loopback (requests/s, p50/p99), the ECG
analysis of a 30-minute record in process and over HTTP, and the R-peak detectors side by side on MIT-BIH records;
`serving_lines` writes its section of BENCHMARKS.md (tools/bench.py runs it and writes the rest)."""

from __future__ import annotations

import json
import pathlib
import time

from domain.sources import data_folder
from tools import bench_models

SERVED = ("ecg", "sentiment", "weather")  # the load run's models (the default architectures, on bench data)


def detectors(folder: pathlib.Path) -> dict:
    """Each R-peak detector on every record of `folder` (MIT-BIH): seconds per record (30 minutes) and Se/+P of its
    beats against the reference annotations within 150 ms (pooled over records)."""
    import numpy as np

    from domain.ecg import analysis, metrics, records

    names = records.record_names(folder)
    out = {"records": len(names), "folder": folder.name}
    loaded = [records.read_record(folder / n) for n in names]
    for detector in analysis.DETECTORS:
        seconds, matched, reference, detected, worst = [], 0, 0, 0, (101.0, "")
        for record in loaded:
            start = time.perf_counter()
            peaks = analysis.detect_beats(record.signal, detector)
            seconds.append(time.perf_counter() - start)
            agreement = metrics.detection_agreement(record.peaks, peaks)
            matched += agreement["matched"]
            reference += agreement["reference_beats"]
            detected += agreement["detected_beats"]
            worst = min(worst, (round(min(agreement["Se"], agreement["+P"]), 2), record.name))
        out[detector] = {"seconds_per_record": round(float(np.median(seconds)), 3),
                         "Se": round(100 * matched / reference, 2), "+P": round(100 * matched / detected, 2),
                         "worst_record": f"{worst[1]} ({worst[0]})"}
    return out


def _load(url: str, path: str, body: dict, clients: int, requests_each: int) -> dict:
    """`clients` threads each send `requests_each` POSTs one after the other: requests/s, p50/p99 ms, failures."""
    import concurrent.futures

    import numpy as np
    import requests

    def client(_):
        session, times, failed = requests.Session(), [], 0
        for _ in range(requests_each):
            start = time.perf_counter()
            try:
                ok = session.post(url + path, json=body, timeout=120).status_code == 200
            except requests.RequestException:
                ok = False
            times.append(time.perf_counter() - start)
            failed += not ok
        return times, failed

    start = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        done = list(pool.map(client, range(clients)))
    wall = time.perf_counter() - start
    times = np.concatenate([t for t, _ in done]) * 1000
    return {"clients": clients, "requests": int(len(times)), "failed": int(sum(f for _, f in done)),
            "requests_per_s": round(len(times) / wall, 1), "p50_ms": round(float(np.percentile(times, 50)), 1),
            "p99_ms": round(float(np.percentile(times, 99)), 1)}


def serving_bench() -> dict:
    """The default models of SERVED (untrained: speed does not depend on the weights) exported into a temporary
    saved_models/, `make serve`'s app on a free loopback port, then the load runs and the ECG analysis."""
    import socket
    import threading

    import numpy as np
    import requests
    import uvicorn

    from domain.ecg import analysis, records, synthetic
    from shared import export as shared_export
    from shared import serving
    from tools import serve

    root = pathlib.Path(bench_models.scratch("serving")) / "saved_models"
    bodies = {}
    for name in SERVED:
        model, _, _, cfg, module, data = bench_models.setup(name)
        path = module.export(cfg, model, data, {}, root)
        served, _ = shared_export.load(path)
        specs = served.signatures["serving_default"].structured_input_signature[1]
        if name == "sentiment":
            bodies[name] = {"instances": ["the plot was not boring at all, and the actors were superb"]}
        else:
            bodies[name] = {"instances": [{k: np.zeros([d or 1 for d in s.shape.as_list()[1:]]).tolist()
                                           for k, s in specs.items()}]}
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(serving.server_config(serve.create_app(root), port=port))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    url = f"http://127.0.0.1:{port}"
    out = {"load": [], "note": "server and clients share the machine's cores; one request = one example"}
    try:
        for name in SERVED:
            _load(url, f"/v1/models/{name}:predict", bodies[name], 2, 5)  # warm-up: load and trace
            for clients in (8, 32):
                out["load"].append({"model": name, **_load(url, f"/v1/models/{name}:predict", bodies[name], clients,
                                                           max(10, 320 // clients))})
        folder = pathlib.Path(bench_models.scratch("ecg-analyze"))
        synthetic.write_records(folder, ["900"], minutes=30.0, seed=7)
        record = records.read_record(folder / "900", annotations=False)
        body = {"signal": np.round(record.signal, 4).tolist(), "sampling_rate": 360}
        loaded, meta, _ = server.config.app.state.repository.get("ecg")
        import base64

        files = {"record": {s: {"b64": base64.b64encode((folder / f"900.{s}").read_bytes()).decode()}
                            for s in ("hea", "dat")}}
        in_process, over_http, uploaded = [], [], []
        for _ in range(6):
            start = time.perf_counter()
            assert requests.post(url + "/v1/ecg:analyze", json=files, timeout=120).status_code == 200
            uploaded.append(time.perf_counter() - start)
            start = time.perf_counter()
            result = analysis.analyze(records.read_record(folder / "900", annotations=False),
                                      shared_export.caller(loaded), meta)
            in_process.append(time.perf_counter() - start)
            start = time.perf_counter()
            answer = requests.post(url + "/v1/ecg:analyze", json=body, timeout=120)
            over_http.append(time.perf_counter() - start)
            assert answer.status_code == 200, answer.text
        out["ecg_analyze_30min"] = {"beats": result["classified_beats"],
                                    "read_detect_classify_s": round(float(np.median(in_process[1:])), 3),
                                    "http_round_trip_s": round(float(np.median(over_http[1:])), 3),
                                    "http_wfdb_upload_s": round(float(np.median(uploaded[1:])), 3),
                                    "json_body_mb": round(len(json.dumps(body)) / 2**20, 1)}
    finally:
        server.should_exit = True
        thread.join(timeout=30)
    folder = data_folder("mitdb")
    out["detectors"] = detectors(folder) if folder.is_dir() else {"skipped": f"no MIT-BIH records in {folder}"}
    return out


def serving_lines(serving: dict) -> list[str]:
    """The --serving section of BENCHMARKS.md."""
    from shared import reports

    lines = ["", "## Serving over HTTP (`make serve`, `make bench ARGS=--serving`)", "",
             f"Bounded load on loopback ({serving.get('note', '')}): each client sends its requests one after the "
             "other; the run stops by itself.", "",
             reports.table({f"{r['model']} x{r['clients']}": {k: v for k, v in r.items() if k not in ("model",)}
                            for r in serving.get("load", [])}, first="model x clients"), ""]
    analyze = serving.get("ecg_analyze_30min")
    if analyze:
        lines += [f"- ECG analysis of a 30-minute record ({analyze['beats']} beats), read + NeuroKit2 detection + "
                  f"classification in process: **{analyze['read_detect_classify_s']} s** (goal 0.5 s: "
                  f"{'met' if analyze['read_detect_classify_s'] < 0.5 else 'not met'}); through POST /v1/ecg:analyze "
                  f"with its {analyze['json_body_mb']} MB JSON body: {analyze['http_round_trip_s']} s (JSON "
                  "encoding and parsing of 648,000 numbers included); the record's .hea + .dat uploaded (base64): "
                  f"{analyze.get('http_wfdb_upload_s')} s."]
    found = serving.get("detectors", {})
    if "skipped" in found:
        lines += ["", f"R-peak detectors: {found['skipped']}."]
    elif found:
        lines += ["", f"R-peak detectors on the {found['records']} records of {found['folder']} (median seconds per "
                  "30-minute record; Se/+P pooled, 150 ms):", "",
                  reports.table({k: v for k, v in found.items() if isinstance(v, dict)}, first="detector")]
    return lines
