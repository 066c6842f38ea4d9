"""`make bench ARGS=--serving`: `make serve` under a bounded load on loopback (requests/s, p50/p99) with server-side
batching off and on, music generation with the state carried against the sampler that re-reads the piece, the ECG
analysis of a 30-minute record in process and over HTTP, and the R-peak detectors side by side on MIT-BIH records;
`serving_lines` writes its section of BENCHMARKS.md (tools/bench.py runs it and writes the rest)."""

from __future__ import annotations

import dataclasses
import json
import pathlib
import time

from domain.sources import data_folder
from tools import bench_models

SERVED = ("ecg", "sentiment", "weather")  # the load run's models (the default architectures, on bench data)
CLIENTS = (1, 8, 32)
MUSIC_STEPS = (256, 1024)
NO_MODEL = "off, no model called (GET status)"  # the load run's ceiling: what HTTP alone allows on these cores


def rereading_sampler(model):
    """The music sampler as it was before the state was carried (the reference the benchmark and the tests compare
    with): each new step reads the whole piece so far again. Same draws: seeded by (seed, step)."""
    import tensorflow as tf

    from domain import music as music_data

    keys = music_data.KEYS

    @tf.function(input_signature=[tf.TensorSpec((None, None, keys), tf.float32), tf.TensorSpec((), tf.int32),
                                  tf.TensorSpec((), tf.float32), tf.TensorSpec((), tf.int32)])
    def sample(primer, length, temperature, seed):
        batch, piece = tf.shape(primer)[0], tf.cast(primer > 0.5, tf.float32)
        drawn = tf.TensorArray(tf.float32, size=length)
        odds = tf.TensorArray(tf.float32, size=length)
        for i in tf.range(length):
            tf.autograph.experimental.set_loop_options(shape_invariants=[(piece, tf.TensorShape([None, None, keys]))])
            logits = model(tf.concat([tf.zeros([batch, 1, keys]), piece], axis=1), training=False)[:, -1]
            p = tf.sigmoid(logits / tf.maximum(temperature, 1e-6))
            noise = tf.random.stateless_uniform(tf.shape(p), tf.stack([seed, i]))
            frame = tf.cast(tf.where(temperature > 0, noise < p, p >= 0.5), tf.float32)
            drawn, odds = drawn.write(i, frame), odds.write(i, p)
            piece = tf.concat([piece, frame[:, None]], axis=1)
        return {"continuation": tf.transpose(drawn.stack(), [1, 0, 2]),
                "probabilities": tf.transpose(odds.stack(), [1, 0, 2])}
    return sample


def music_generation(repeats: int = 3) -> dict:
    """Seconds to generate 256 and 1,024 steps after a 16-step primer with the default music model (untrained: the
    time does not depend on the weights): the exported signature (state carried) and the re-reading sampler."""
    import numpy as np
    import tensorflow as tf

    from shared import export as shared_export

    model, _, _, cfg, module, data = bench_models.setup("music")
    served, _ = shared_export.load(module.export(cfg, model, data, {}, pathlib.Path(bench_models.scratch("music"))))
    signature, before = served.signatures["serving_default"], rereading_sampler(model)
    samplers = {"state carried (served)": lambda p, n, t, s: signature(primer=p, length=n, temperature=t, seed=s),
                "re-reading": before}
    primer = tf.constant(data.pieces["validation"][0][None, :16])
    out = {"rnn": cfg.rnn}
    for name, sample in samplers.items():
        sample(primer, tf.constant(8), tf.constant(1.0), tf.constant(0))  # warm-up: trace
        for steps in MUSIC_STEPS:
            times = []
            for _ in range(1 if steps >= 1024 and sample is before else repeats):  # re-reading 1,024: ~40 s
                start = time.perf_counter()
                sample(primer, tf.constant(steps), tf.constant(1.0), tf.constant(0))
                times.append(time.perf_counter() - start)
            out.setdefault(name, {})[f"{steps} steps s"] = round(float(np.median(times)), 3)
    carried, rereading = out["state carried (served)"], out["re-reading"]
    out["speed-up at 1024"] = round(rereading["1024 steps s"] / carried["1024 steps s"], 1)
    out["time(1024) / time(256), state carried"] = round(carried["1024 steps s"] / carried["256 steps s"], 2)
    return out


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


def _load(url: str, path: str, body: dict | None, clients: int, requests_each: int) -> dict:
    """`clients` threads each send `requests_each` POSTs of `body` (GETs where it is None) one after the other:
    requests/s, p50/p99 ms, failures."""
    import concurrent.futures

    import numpy as np
    import requests

    def client(_):
        session, times, failed = requests.Session(), [], 0
        for _ in range(requests_each):
            start = time.perf_counter()
            try:
                answer = session.get(url + path, timeout=120) if body is None else session.post(
                    url + path, json=body, timeout=120)
                ok = answer.status_code == 200
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
    saved_models/, `make serve` on a free loopback port with batching off, then on: the load runs; then the ECG
    analysis, the R-peak detectors and music generation."""
    from shared import batching

    root, bodies = _exports()
    out = {"load": [], "note": "the server (its own process) and the clients share the machine's cores; one "
                               "request = one example", "batching": dataclasses.asdict(batching.BatchOptions())}
    for mode in ("off", "on"):
        server, url = _start(root, mode == "on")
        try:
            for name in SERVED:
                _load(url, f"/v1/models/{name}:predict", bodies[name], 2, 5)  # warm-up: load and trace
                for clients in CLIENTS:
                    out["load"].append({"model": name, "batching": mode, **_load(
                        url, f"/v1/models/{name}:predict", bodies[name], clients, max(10, 320 // clients))})
                if mode == "off":  # the ceiling: the same server and clients, no model called, no body read
                    out["load"].append({"model": name, "batching": NO_MODEL, **_load(
                        url, f"/v1/models/{name}", None, CLIENTS[-1], max(10, 320 // CLIENTS[-1]))})
            if mode == "on":
                out["ecg_analyze_30min"] = ecg_analysis(root, url)
        finally:
            server.terminate()
            server.wait(timeout=30)
    folder = data_folder("mitdb")
    out["detectors"] = detectors(folder) if folder.is_dir() else {"skipped": f"no MIT-BIH records in {folder}"}
    out["music_generation"] = music_generation()
    return out


def _exports() -> tuple[pathlib.Path, dict]:
    """(a temporary saved_models/ holding SERVED's default models, one request body per model)."""
    import numpy as np

    from shared import export as shared_export

    root = pathlib.Path(bench_models.scratch("serving")) / "saved_models"
    bodies = {}
    for name in SERVED:
        model, _, _, cfg, module, data = bench_models.setup(name)
        served, _ = shared_export.load(module.export(cfg, model, data, {}, root))
        specs = served.signatures["serving_default"].structured_input_signature[1]
        if name == "sentiment":
            bodies[name] = {"instances": ["the plot was not boring at all, and the actors were superb"]}
        else:
            bodies[name] = {"instances": [{k: np.zeros([d or 1 for d in s.shape.as_list()[1:]]).tolist()
                                           for k, s in specs.items()}]}
    return root, bodies


def ecg_analysis(root: pathlib.Path, url: str) -> dict:
    """A generated 30-minute record analysed in process, through POST /v1/ecg:analyze with the signal as JSON, and
    uploaded as its .hea + .dat: median seconds of 5 after one warm-up."""
    import base64

    import numpy as np
    import requests

    from domain.ecg import analysis, records, synthetic
    from shared import export as shared_export
    from shared import serving

    folder = pathlib.Path(bench_models.scratch("ecg-analyze"))
    synthetic.write_records(folder, ["900"], minutes=30.0, seed=7)
    record = records.read_record(folder / "900", annotations=False)
    body = {"signal": np.round(record.signal, 4).tolist(), "sampling_rate": 360}
    loaded, meta, _ = serving.Repository(root).get("ecg")
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
    return {"beats": result["classified_beats"], "read_detect_classify_s": round(float(np.median(in_process[1:])), 3),
            "http_round_trip_s": round(float(np.median(over_http[1:])), 3),
            "http_wfdb_upload_s": round(float(np.median(uploaded[1:])), 3),
            "json_body_mb": round(len(json.dumps(body)) / 2**20, 1)}


def _start(root: pathlib.Path, batching_on: bool):
    """(the server process, its URL): `make serve` on `root` in a process of its own (as users run it; the clients'
    threads then do not share its interpreter), on a free loopback port, answering."""
    import socket
    import subprocess
    import sys

    import requests

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "tools.serve", "--root", str(root), "--port", str(port),
                               *(["--enable-batching"] if batching_on else [])],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url, deadline = f"http://127.0.0.1:{port}", time.monotonic() + 120
    while time.monotonic() < deadline and server.poll() is None:
        try:
            if requests.get(url + f"/v1/models/{SERVED[0]}", timeout=5).status_code == 200:
                return server, url
        except requests.RequestException:
            time.sleep(0.2)
    server.kill()
    raise RuntimeError(f"make serve on {root} did not answer within 120 s")


def serving_lines(serving: dict) -> list[str]:
    """The --serving section of BENCHMARKS.md."""
    from shared import reports

    lines = ["", "## Serving over HTTP (`make serve`, `make bench ARGS=--serving`)", "",
             f"Bounded load on loopback ({serving.get('note', '')}): each client sends its requests one after the "
             "other; the run stops by itself.", "",
             reports.table({f"{r['model']} x{r['clients']}, batching {r.get('batching', 'off')}":
                            {k: v for k, v in r.items() if k not in ("model", "clients", "batching")}
                            for r in serving.get("load", [])}, first="model x clients, batching"), "",
             *batching_lines(serving), *music_lines(serving.get("music_generation"))]
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


def batching_lines(serving: dict) -> list[str]:
    """Batching on against off, per model: the targets (32 clients: at least 3 x the requests/s, p99 no worse;
    1 client: p50 at most 2 ms worse), met or not."""
    rows = {(r["model"], r["clients"], r.get("batching", "off")): r for r in serving.get("load", [])}
    if not any(key[2] == "on" for key in rows):
        return []
    lines = [f"Server-side batching on ({serving.get('batching')}) against off, the same run:", ""]
    for model in SERVED:
        off32, on32, off1, on1 = (rows.get((model, c, m)) for c, m in ((32, "off"), (32, "on"), (1, "off"), (1, "on")))
        if not all((off32, on32, off1, on1)):
            continue
        gain = on32["requests_per_s"] / off32["requests_per_s"]
        ceiling = rows.get((model, 32, NO_MODEL))
        bound = (f"; a request that calls no model answers {ceiling['requests_per_s']}/s here, so no batching can "
                 f"give more than {ceiling['requests_per_s'] / off32['requests_per_s']:.1f} x") if ceiling else ""
        lines.append(f"- {model}: 32 clients {gain:.1f} x the requests/s (target 3 x: "
                     f"{'met' if gain >= 3 else 'not met'}{bound}), p99 {on32['p99_ms']} ms against {off32['p99_ms']} ms "
                     f"({'met' if on32['p99_ms'] <= off32['p99_ms'] else 'not met'}); 1 client p50 {on1['p50_ms']} ms "
                     f"against {off1['p50_ms']} ms (at most 2 ms worse: "
                     f"{'met' if on1['p50_ms'] - off1['p50_ms'] <= 2 else 'not met'}).")
    return [*lines, ""]


def music_lines(music: dict | None) -> list[str]:
    if not music:
        return []
    carried, rereading = music["state carried (served)"], music["re-reading"]
    return [f"Music generation ({music['rnn']}, untrained, batch 1, 16-step primer), seconds:", "",
            "| sampler | " + " | ".join(f"{n} steps" for n in MUSIC_STEPS) + " |",
            "|---|" + "---:|" * len(MUSIC_STEPS),
            *[f"| {name} | " + " | ".join(str(row[f"{n} steps s"]) for n in MUSIC_STEPS) + " |"
              for name, row in (("state carried (served)", carried), ("re-reading the piece", rereading))], "",
            f"- 1,024 steps: {music['speed-up at 1024']} x faster with the state carried (target 20 x: "
            f"{'met' if music['speed-up at 1024'] >= 20 else 'not met'}); time(1,024) / time(256) = "
            f"{music['time(1024) / time(256), state carried']} (target at most 4.5: "
            f"{'met' if music['time(1024) / time(256), state carried'] <= 4.5 else 'not met'}).", ""]
