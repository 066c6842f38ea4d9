"""docs/serving.md as written: its saved_model_cli commands and its REST requests (sent to `make serve`'s server on a
free loopback port) on freshly exported quick models; the server's errors, version pick-up, ECG analysis, the model
card and the Python client."""

import base64
import contextlib
import json
import re
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np
import pytest
import requests
import tensorflow as tf

from domain.ecg import analysis, records, synthetic
from pipelines import ecg, music, sentiment, textgen, weather
from shared import export, serving
from tests.conftest import ROOT, real_data_dir, run_quick
from tools import serve


def doc_commands() -> list[str]:
    text = (ROOT / "docs" / "serving.md").read_text()
    block = text.split("```bash\n# what goes in", 1)[1].split("```", 1)[0]
    return [line for line in block.splitlines() if line.startswith(".venv/bin/")]


def test_the_doc_has_the_commands():
    commands = doc_commands()
    assert sum("saved_model_cli run" in c for c in commands) == 2 and any("show" in c for c in commands)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    root = tmp_path_factory.mktemp("serving")
    run_quick(weather, root)
    run_quick(sentiment, root)
    run_quick(ecg, root)
    run_quick(textgen, root)
    run_quick(music, root)
    return root


@contextlib.contextmanager
def running(app):
    """`app` served by uvicorn (serving.server_config) on a free loopback port, in a thread: yields its URL."""
    import uvicorn

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(serving.server_config(app, port=port))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 60
    while not server.started and time.time() < deadline:
        time.sleep(0.05)
    assert server.started, "the server did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


@pytest.fixture(scope="module")
def server(exported, tmp_path_factory):
    """`make serve` over a copy of the exported models (tests add, damage and delete versions), on a free port."""
    root = tmp_path_factory.mktemp("served") / "saved_models"
    shutil.copytree(exported / "saved_models", root)
    with running(serve.create_app(root, max_body_bytes=8 * 2**20)) as url:
        yield url, root


def doc_requests() -> list[tuple[str, str, str]]:
    """(method, path, body) of each ```http block of docs/serving.md."""
    text = (ROOT / "docs" / "serving.md").read_text()
    blocks = [b.split("```", 1)[0] for b in text.split("```http\n")[1:]]
    out = []
    for block in blocks:
        first, _, body = block.partition("\n")
        method, path = first.split()
        out.append((method, path, body.strip()))
    return out


def in_process(root, name: str, inputs: dict) -> dict:
    served, _ = export.load(export.latest(name, root), name)
    out = served.signatures["serving_default"](**{k: tf.constant(v) for k, v in inputs.items()})
    return {k: v.numpy() for k, v in out.items()}


def doc_curls() -> list[list[str]]:
    """The words of each curl line of docs/serving.md's "Every endpoint with curl" block."""
    text = (ROOT / "docs" / "serving.md").read_text()
    block = text.split("### Every endpoint with curl", 1)[1].split("```bash\n", 1)[1].split("```", 1)[0]
    return [shlex.split(line.split("  #")[0]) for line in block.splitlines() if line.startswith("curl ")]


@pytest.mark.slow
def test_every_curl_of_the_doc_is_answered(exported, tmp_path, caplog):
    """Each endpoint's curl line, as the doc writes it, sent to a live server (one listing generated records): a 200
    and the answer the endpoint documents; the server logs one line per request."""
    synthetic.write_records(tmp_path / "records", ["208"], minutes=1, seed=2)
    curls = doc_curls()
    paths = {next(w for w in words if "localhost:8501" in w).split("localhost:8501", 1)[1] for words in curls}
    assert paths == {"/v1/models/sentiment", "/v1/models/sentiment/metadata", "/v1/models/sentiment:predict",
                     "/v1/ecg/records", "/v1/ecg:analyze", "/"}  # every endpoint has its line
    caplog.set_level("INFO", logger="shared.serving")
    with running(serve.create_app(exported / "saved_models", records=tmp_path / "records")) as url:
        for words in curls:
            address = next(w for w in words if "localhost:8501" in w).replace("localhost:8501", url)
            body = words[words.index("-d") + 1] if "-d" in words else None
            answer = requests.request("POST" if "-X" in words else "GET", address, data=body, timeout=120)
            assert answer.status_code == 200, (words, answer.text[:300])
            if address.endswith("/"):
                assert "<canvas" in answer.text
            else:
                assert answer.json(), words
    logged = [r.getMessage() for r in caplog.records if r.name == "shared.serving"]
    assert any(line.startswith("POST /v1/ecg:analyze 200 ") and line.endswith(" ms") for line in logged)
    assert len([line for line in logged if " 200 " in line]) >= len(curls)


@pytest.mark.slow
def test_every_documented_request_is_answered_as_the_signature_answers(server):
    url, root = server
    requests_ = doc_requests()
    assert len(requests_) >= 6 and any(m == "GET" for m, _, _ in requests_)
    for method, path, body in requests_:
        answer = requests.request(method, url + path, data=body.encode() or None, timeout=60)
        assert answer.status_code == 200, (path, answer.text)
        got = answer.json()
        if path.endswith(":predict"):
            sent = json.loads(body)
            name = path.split("/")[3].split(":")[0]
            if name == "sentiment":
                texts = sent.get("instances") or sent["inputs"]["text"]
                texts = [base64.b64decode(t["b64"]) if isinstance(t, dict) else t.encode() for t in texts]
                want = in_process(root, name, {"text": texts})
                rows = got["predictions"] if "predictions" in got else [
                    dict(zip(got["outputs"], v, strict=True)) for v in zip(*got["outputs"].values(), strict=True)]
                assert [r["label"] for r in rows] == [w.decode() for w in want["label"]]
                np.testing.assert_allclose([r["positive_probability"] for r in rows], want["positive_probability"],
                                           rtol=1e-5)
            else:
                want = in_process(root, name, {"window": np.asarray(sent["instances"], np.float32)})
                np.testing.assert_allclose(got["predictions"], want["forecast"], rtol=1e-5)
        elif path.endswith("/metadata"):
            inputs = got["metadata"]["signature_def"]["signature_def"]["serving_default"]["inputs"]
            assert inputs["window"]["dtype"] == "DT_FLOAT"
            assert [d["size"] for d in inputs["window"]["tensor_shape"]["dim"]] == ["-1", "5", "6"]
        else:
            assert got["model_version_status"][0]["state"] == "AVAILABLE"


BAD = [
    ("/v1/models/sentiment:predict", b"{not json", 400, "malformed JSON"),
    ("/v1/models/sentiment:predict", b'{"instance": ["x"]}', 400, "instances"),
    ("/v1/models/sentiment:predict", b'{"instances": []}', 400, "non-empty"),
    ("/v1/models/sentiment:predict", b'{"instances": [1, 2]}', 400, "'text'"),
    ("/v1/models/weather:predict", b'{"instances": [[[1.0, 2.0]]]}', 400, "shape"),
    ("/v1/models/weather:predict", b'{"instances": [[["a", "b", "c", "d", "e", "f"]]]}', 400, "numbers"),
    ("/v1/models/weather:predict", b'{"inputs": {"window": [[[NaN, 1, 1, 1, 1, 1]]]}}', 400, "NaN"),
    ("/v1/models/weather:predict", b'{"instances": [[[1e30, 1, 1, 1, 0, 0]' + b", [1, 1, 1, 1, 0, 0]" * 4 + b"]]}", 400,
     "is outside"),  # finite but absurd: refused by the export's input_limits (it was forecast as 17.85 degC)
    ("/v1/models/ecg:predict", b'{"instances": [{"beats": [[0.0]]}]}', 400, "inputs are"),
    ("/v1/models/nothing:predict", b'{"instances": ["x"]}', 404, "not found"),
    ("/v1/models/..%2F..%2Fetc:predict", b'{"instances": ["x"]}', 404, ""),
    ("/v1/models/sentiment/versions/99:predict", b'{"instances": ["x"]}', 404, "version"),
    ("/v1/models/sentiment/versions/..:predict", b'{"instances": ["x"]}', 404, ""),
    ("/v1/models/sentiment:predict", b'{"instances": ["' + b"a" * (9 * 2**20) + b'"]}', 413, "limit"),
    # TF Serving's own answers for its other verbs and for version labels (every export is a predict signature)
    ("/v1/models/sentiment:classify", b'{"examples": [{"text": "x"}]}', 400,
     "Expected classification signature method_name to be tensorflow/serving/classify"),
    ("/v1/models/weather/versions/1:regress", b'{"examples": [{}]}', 400, "tensorflow/serving/regress. Was"),
    ("/v1/models/nothing:classify", b'{"examples": []}', 404, "not found"),
    ("/v1/models/sentiment/labels/stable:predict", b'{"instances": ["x"]}', 404, "Unrecognized servable version label"),
    # bodies of any shape get a 4xx, never a 500
    ("/v1/models/sentiment:predict", b'{"signature_name": 123, "instances": ["x"]}', 400, "must be a string"),
    ("/v1/models/sentiment:predict", b'{"instances": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", 400, "nested"),
    ("/v1/models/weather:predict", b'{"instances": ' + b"[" * 70 + b"1" + b"]" * 70 + b"}", 400, "nested"),
    ("/v1/models/sentiment:predict", b'[1, 2]', 400, ""),
    ("/v1/ecg:analyze", b'{"signal": ' + b"[" * 5000 + b"]" * 5000 + b', "sampling_rate": 360}', 400, "nested"),
]


@pytest.mark.slow
def test_bad_requests_get_a_clear_4xx_and_the_server_keeps_serving(server):
    url, _ = server
    good = {"instances": ["a fine film"]}
    for path, body, status, words in BAD:
        answer = requests.post(url + path, data=body, timeout=60)
        assert answer.status_code == status, (path, body[:80], answer.text)
        assert words in answer.json()["error"] and "Traceback" not in answer.text
        assert requests.post(url + "/v1/models/sentiment:predict", json=good, timeout=60).status_code == 200


@pytest.mark.slow
def test_new_damaged_and_deleted_versions(server):
    """A version renamed into place is served without a restart; a damaged newer one leaves the last good one
    serving; a deleted one stops being served; a half-written (.tmp-*) one is never looked at."""
    url, root = server
    status = lambda: requests.get(url + "/v1/models/weather", timeout=60).json()["model_version_status"][0]  # noqa: E731
    body = {"instances": [[[0.0, 12.0, 5.0, 3.0, 0.5, 0.87]] * 5]}
    assert status()["version"] == "1"
    shutil.copytree(root / "weather" / "1", root / "weather" / ".tmp-2-abc")
    assert status()["version"] == "1"  # half-written: invisible
    (root / "weather" / ".tmp-2-abc").rename(root / "weather" / "2")
    assert status()["version"] == "2"
    shutil.copytree(root / "weather" / "1", root / "weather" / "3")
    (root / "weather" / "3" / "saved_model.pb").write_bytes(b"damaged")
    assert status()["version"] == "2"  # the newest version that loads
    answer = requests.post(url + "/v1/models/weather/versions/3:predict", json=body, timeout=60)
    assert answer.status_code == 404 and "cannot be loaded" in answer.json()["error"]
    shutil.rmtree(root / "weather" / "3")
    shutil.rmtree(root / "weather" / "2")
    assert status()["version"] == "1"
    assert requests.post(url + "/v1/models/weather:predict", json=body, timeout=60).status_code == 200
    assert requests.post(url + "/v1/models/sentiment:predict", json={"instances": ["ok"]}, timeout=60).ok


def _analyze_and_compare(url, root, folder, name):
    """The endpoint on a raw lead and on the uploaded WFDB files equals make predict-ecg on the same record."""
    import dataclasses

    record = records.read_record(folder / name, annotations=False)
    by_array = requests.post(url + "/v1/ecg:analyze", json={"signal": record.signal.tolist(), "sampling_rate": 360},
                             timeout=120)
    assert by_array.status_code == 200, by_array.text
    files = {s: {"b64": base64.b64encode((folder / f"{name}.{s}").read_bytes()).decode()} for s in ("hea", "dat")}
    by_files = requests.post(url + "/v1/ecg:analyze", json={"record": files}, timeout=120).json()
    local = ecg.predict(dataclasses.replace(ecg.Config(), run_dir=str(folder / "run")), folder / name,
                        export.latest("ecg", root))
    for answer in (by_array.json(), by_files):
        assert answer["beats_per_class"] == local["beats_per_class"]
        assert len(answer["beats"]) == local["classified_beats"] and answer["beats"][0]["class"] in "NSVFQ"
        assert abs(sum(answer["beats"][0]["probabilities"].values()) - 1) < 1e-3
        assert answer.get("warning") == local.get("warning")
    return by_array.json()


@pytest.mark.slow
def test_ecg_analysis_of_a_generated_record_and_its_bad_inputs(server, tmp_path):
    url, root = server
    synthetic.write_records(tmp_path, ["201"], minutes=2, seed=5)
    answer = _analyze_and_compare(url, root, tmp_path, "201")
    assert 60 < answer["mean_heart_rate_bpm"] < 120 and answer["model"]["name"] == "ecg"
    for body, words in [({"signal": [0.1] * 100, "sampling_rate": 360}, "under 2 s"),
                        ({"signal": [0.0] * 3600, "sampling_rate": 360}, "flat line"),
                        ({"signal": [0.1] * 3600, "sampling_rate": 50}, "below 100 Hz"),
                        ({"signal": [0.1] * 3600}, "sampling_rate"),
                        ({"signal": ["a"] * 3600, "sampling_rate": 360}, "numbers"),
                        ({"signal": [0.1] * 3600, "sampling_rate": 360, "detector": "magic"}, "detector"),
                        ({"record": {"hea": "x"}}, "hea")]:
        bad = requests.post(url + "/v1/ecg:analyze", json=body, timeout=60)
        assert bad.status_code == 400 and words in bad.json()["error"], (body.keys(), bad.text)
    broken = {"record": {"hea": {"b64": base64.b64encode(b"request 1 360 5000\nrequest.dat 16 200 11 0 0 0 0 MLII\n"
                                                        ).decode()}, "dat": {"b64": "AAAA"}}}
    bad = requests.post(url + "/v1/ecg:analyze", json=broken, timeout=60)
    assert bad.status_code == 400 and tempfile.gettempdir() not in bad.text, bad.text  # no path of the server
    flat = requests.post(url + "/v1/ecg:analyze", json={"signal": [0.0] * 3600, "sampling_rate": 360}, timeout=60)
    assert "the header's gain (ADC units per mV) is far too large" in flat.json()["error"]  # a cause, not just "flat"
    typed = requests.post(url + "/v1/ecg:analyze", json={"signal": [0.1] * 3600, "sampling_rate": 360,
                                                         "include_signal": "yes"}, timeout=60)
    assert typed.status_code == 400 and typed.json()["error"] == '"include_signal" must be true or false, not "yes"'
    # a record without an MLII lead: the message speaks of the request's field, and the field works
    import wfdb

    signal = records.read_record(tmp_path / "201", annotations=False).signal
    (tmp_path / "upload").mkdir()
    wfdb.wrsamp("v1", fs=360, units=["mV"], sig_name=["V1"], p_signal=signal[:, None], fmt=["16"],
                write_dir=str(tmp_path / "upload"))
    upload = {k: {"b64": base64.b64encode((tmp_path / "upload" / f"v1.{k}").read_bytes()).decode()}
              for k in ("hea", "dat")}
    refused = requests.post(url + "/v1/ecg:analyze", json={"record": upload}, timeout=60)
    assert refused.status_code == 400 and 'send "first_lead": true' in refused.json()["error"]
    assert "--first-lead" not in refused.json()["error"]
    taken = requests.post(url + "/v1/ecg:analyze", json={"record": upload, "first_lead": True}, timeout=120)
    assert taken.status_code == 200 and taken.json()["classified_beats"] > 100


@pytest.mark.slow
def test_stalled_and_half_open_connections_are_closed(server, monkeypatch):
    """A client that sends half a request head, or a body slower than the limit, does not hold the connection:
    closed after HEADER_TIMEOUT_S, 408 after BODY_TIMEOUT_S (both shortened here)."""
    url, _ = server
    monkeypatch.setattr(serving, "HEADER_TIMEOUT_S", 1.0)
    monkeypatch.setattr(serving, "BODY_TIMEOUT_S", 1.0)
    port = int(url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=20) as half:
        half.sendall(b"POST /v1/models/sentiment:predict HTTP/1.1\r\nHost: x\r\n")  # the head never ends
        start = time.time()
        assert half.recv(100) == b"" and time.time() - start < 15  # closed by the server
    with socket.create_connection(("127.0.0.1", port), timeout=20) as slow:
        slow.sendall(b"POST /v1/models/sentiment:predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 100\r\n\r\n{\"instances\": ")  # 14 of the 100 bytes, then nothing
        answer = b""
        while not answer.endswith(b"}"):  # the head, then the JSON error
            chunk = slow.recv(4096)
            if not chunk:
                break
            answer += chunk
        answer = answer.decode()
        assert answer.startswith("HTTP/1.1 408") and "not received within 1 s" in answer, answer
    assert requests.post(url + "/v1/models/sentiment:predict", json={"instances": ["a fine film"]},
                         timeout=60).status_code == 200


@pytest.mark.slow
def test_ecg_analysis_of_a_real_record(server, tmp_path):
    url, root = server
    folder = real_data_dir("mitdb")
    for suffix in ("hea", "dat"):
        shutil.copy(folder / f"208.{suffix}", tmp_path)
    answer = _analyze_and_compare(url, root, tmp_path, "208")
    assert answer["detected_beats"] > 2800  # 2,955 annotated beats
    assert analysis.GENERATED_WARNING in answer["warning"]  # the served quick model was trained on generated records


@pytest.mark.slow
def test_every_export_carries_a_model_card(exported):
    for name in ("ecg", "sentiment", "weather"):
        card = (export.latest(name, exported / "saved_models") / "MODEL_CARD.md").read_text()
        for section in ("## Intended use", "## Out of scope", "## Data", "## Protocol and metrics", "## Version"):
            assert section in card, (name, section)
        assert re.search(r"- exported \S+ from (git [0-9a-f]{12}(-dirty)?|rnn-suite \S+)\n", card), card  # code version
        assert name != "ecg" or "generated here" in card  # the quick ECG model was trained on generated records
    ecg_card = (export.latest("ecg", exported / "saved_models") / "MODEL_CARD.md").read_text()
    assert "not a medical device" in ecg_card and "generated here" in ecg_card and "MIT-BIH" in ecg_card
    weather_card = (export.latest("weather", exported / "saved_models") / "MODEL_CARD.md").read_text()
    assert "seattle" in weather_card and "generated here (" not in weather_card  # real data: no banner
    assert "persistence" in weather_card  # the report's baselines


@pytest.mark.slow
def test_the_python_client_of_the_doc_runs(server, tmp_path):
    import subprocess
    import sys

    url, _ = server
    synthetic.write_records(tmp_path, ["203"], minutes=1, seed=3)
    done = subprocess.run([sys.executable, str(ROOT / "docs" / "serving_client.py"), "--url", url, "--record",
                           str(tmp_path / "203")], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "positive" in done.stdout or "negative" in done.stdout
    assert "ecg:" in done.stdout and "bpm" in done.stdout


def test_the_repository_refuses_names_that_could_leave_its_root(tmp_path):
    repository = serving.Repository(tmp_path)
    for name in ("..", "../x", "a/b", "", ".hidden", "x" * 100):
        with pytest.raises(serving.RequestError) as refused:
            repository.get(name)
        assert refused.value.status == 404


@pytest.mark.slow
def test_saved_model_cli_commands_of_the_doc_run(exported):
    outputs = []
    for command in doc_commands():
        argv = shlex.split(command)
        tool = argv[0].rsplit("/", 1)[-1]
        argv = ([sys.executable, "-m", "tensorflow.python.tools.saved_model_cli"] if tool == "saved_model_cli"
                else [sys.executable]) + argv[1:]
        argv = [a.replace("saved_models/", f"{exported / 'saved_models'}/") for a in argv]
        done = subprocess.run(argv, cwd=exported, capture_output=True, text=True, timeout=180)
        assert done.returncode == 0, done.stderr[-2000:]
        outputs.append(done.stdout)
    show, _, forecast, review = outputs
    assert "inputs['window']" in show and "DT_FLOAT" in show and "(-1, 5, 6)" in show
    assert "Result for output key forecast:" in forecast
    value = float(forecast.split("forecast:")[1].strip().strip("[]"))
    assert -30 < value < 50  # degC from raw inputs of 10
    assert "Result for output key label:" in review and ("b'positive'" in review or "b'negative'" in review)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["weather", "sentiment", "ecg"])
def test_random_and_extreme_requests_to_every_served_signature(exported, name):
    """Property (hypothesis): any values in the shape a signature takes - random, extreme (1e30, float32's edge,
    1e39), negative, zero - and any text get a 4xx naming the problem or an answer that is finite or flagged
    "invalid input"; never another error (a 500) or a class computed from garbage."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    repository = serving.Repository(exported / "saved_models")
    loaded, meta, _ = repository.get(name)
    specs = loaded.signatures["serving_default"].structured_input_signature[1]
    numbers = st.one_of(st.floats(-1e3, 1e3), st.sampled_from([0.0, -1.0, 1e30, -1e30, 3.4e38, 1e39, 101.0, 1e-40]))

    def row(spec):
        if spec.dtype == tf.string:
            return st.text(max_size=300)
        shape = [d or 3 for d in spec.shape.as_list()[1:]]
        size = int(np.prod(shape))

        def build(fill, changes):  # a plain row with a few values set: small for hypothesis, any value anywhere
            values = np.full(size, fill)
            for index, value in changes:
                values[index % size] = value
            return values.reshape(shape).tolist()
        return st.builds(build, st.floats(-2, 2), st.lists(st.tuples(st.integers(0, size - 1), numbers), max_size=4))

    instances = st.lists(st.fixed_dictionaries({k: row(s) for k, s in specs.items()}), min_size=1, max_size=3)

    @settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(rows=instances)
    def check(rows):
        try:
            answer = serving.predict(repository, name, {"instances": rows})
        except serving.RequestError as error:
            assert 400 <= error.status < 500 and "\n" not in str(error)
            return
        for sent, got in zip(rows, answer["predictions"], strict=True):
            got = got if isinstance(got, dict) else {"output": got}
            flagged = export.INVALID in got.values()
            out = np.concatenate([np.ravel(np.asarray(v, dtype=float)) for v in got.values()
                                  if isinstance(v, (int, float, list))] or [np.zeros(1)])
            assert flagged or np.isfinite(out).all(), got  # a number is finite, or the row says it is invalid
            sent_values = [np.ravel(v) for v in sent.values() if not isinstance(v, str)]
            if name == "ecg" and np.abs(np.concatenate(sent_values)).max() > 100:
                assert flagged, got  # garbage beats are flagged, not classified
    check()


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="no Chromium here: `make test` installs Debian's chromium when it can "
                                             "(apt-get install chromium)")
def test_the_ecg_page_shows_a_records_beats_in_a_real_browser(exported, tmp_path):
    """`make serve`'s page in headless Chromium: it lists the records, analyzes the one in its address, and shows
    every beat's class and the reference labels; its counts are the endpoint's, its strip is drawn where asked."""
    synthetic.write_records(tmp_path / "records", ["201", "205"], minutes=2, seed=5)
    app = serve.create_app(exported / "saved_models", records=tmp_path / "records")
    with running(app) as url:
        assert requests.get(url + "/v1/ecg/records", timeout=60).json() == {"records": ["201", "205"]}
        expected = requests.post(url + "/v1/ecg:analyze", json={"listed": "201", "include_signal": True},
                                 timeout=120).json()
        assert len(expected["signal_mV"]) == 2 * 60 * 360 and expected["classification_vs_annotations"]
        assert requests.post(url + "/v1/ecg:analyze", json={"listed": "../201"}, timeout=60).status_code == 404
        named = requests.post(url + "/v1/ecg:analyze", json={"listed": 201}, timeout=60)  # a number, not a name
        assert named.status_code == 400 and "is a string" in named.json()["error"]

        def page(address):
            return subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
                                   "--virtual-time-budget=60000", "--dump-dom", f"{url}/{address}"],
                                  capture_output=True, text=True, timeout=180)
        done, second, plain = page("?record=201&at=30"), page("?record=205"), page("")
    for dom, record in ((second.stdout, "205"), (plain.stdout, "201")):  # the address's record, else the first
        state = dict(re.findall(r'data-([a-z-]+)="([^"]*)"', re.search(r'<div id="summary"[^>]*>', dom).group(0)))
        assert state["record"] == record and f'<option selected="">{record}</option>' in dom
    with running(serve.create_app(exported / "saved_models", records=tmp_path)) as url:  # a folder without records
        listing = requests.get(url + "/v1/ecg/records", timeout=60).json()
        assert listing["records"] == [] and "--records" in listing["why"] and "RNN_DATA_DIR" in listing["why"]
    dom = done.stdout
    summary = dict(re.findall(r'data-([a-z-]+)="([^"]*)"', re.search(r'<div id="summary"[^>]*>', dom).group(0)))
    assert summary["state"] == "drawn", (summary, done.stderr[-500:])
    assert int(summary["beats"]) == len(expected["beats"]) and summary["record"] == "201"
    assert int(summary["reference"]) == len(expected["reference"]) > 0  # the reference labels are shown
    assert summary["window-start"] == "30" and int(summary["window-beats"]) >= 5  # the strip scrolled to 30 s
    for name, count in expected["beats_per_class"].items():
        row = re.search(rf'<tr data-class="{name}">.*?<td class="model">(\d+)</td>', dom)
        assert int(row.group(1)) == count, name
    assert '<option>205</option>' in dom  # the listing reached the page


@pytest.mark.slow
def test_inputs_with_different_batch_sizes_are_named(exported):
    """Two beats and one template: named, where TensorFlow failed deep in the graph ("Graph execution error")."""
    repository = serving.Repository(exported / "saved_models")
    loaded, _, _ = repository.get("ecg")
    specs = loaded.signatures["serving_default"].structured_input_signature[1]
    inputs = {k: np.zeros([2 if k == "beats" else 1, *s.shape.as_list()[1:]]).tolist() for k, s in specs.items()}
    with pytest.raises(serving.RequestError, match=r"batch sizes differ \(beats 2, .*1\)"):
        serving.predict(repository, "ecg", {"inputs": inputs})


def doc_refusals() -> list[tuple[str, dict, str]]:
    """(model, inputs, answer) of each row of docs/serving.md's table of what each model refuses."""
    text = (ROOT / "docs" / "serving.md").read_text().split("<!-- refusals -->", 1)[1].split("<!-- /refusals -->")[0]
    rows = [line.split(" | ") for line in text.splitlines() if line.startswith("| `")]
    return [(model.strip("| `"), json.loads(inputs.strip("`")), answer.rstrip(" |")) for model, inputs, answer in rows]


@pytest.mark.slow
def test_every_refusal_of_the_doc_is_the_servers_and_the_graphs(exported):
    """Each row of the table, sent to `make serve`'s predict and to the exported signature itself (what TF Serving
    runs): refused (400) with the documented words by both, or answered with the documented flag."""
    repository = serving.Repository(exported / "saved_models")
    rows = doc_refusals()
    assert {model for model, _, _ in rows} == {"weather", "sentiment", "ecg", "textgen", "music"}
    for model, inputs, answer in rows:
        loaded, _, _ = repository.get(model)
        specs = loaded.signatures["serving_default"].structured_input_signature[1]
        body = {}
        for name, spec in specs.items():  # a number stands for the whole input, one example in its shape
            value = inputs[name]
            if isinstance(value, (int, float)) and spec.shape.rank:
                shape = [1, *[d or 3 for d in spec.shape.as_list()[1:]]]
                value = np.full(shape, value, dtype=spec.dtype.as_numpy_dtype).tolist()
            body[name] = value
        said = re.search(r"`([^`]*)`", answer).group(1)
        if answer.startswith("400"):
            with pytest.raises(serving.RequestError) as refused:
                serving.predict(repository, model, {"inputs": body})
            assert refused.value.status == 400 and said in str(refused.value), (model, str(refused.value))
            with pytest.raises(tf.errors.InvalidArgumentError) as graph:
                loaded.signatures["serving_default"](**{k: tf.constant(serving.as_array(k, v, specs[k]))
                                                        for k, v in body.items()})
            assert said in export.graph_error(graph.value), (model, export.graph_error(graph.value))
        else:
            out = serving.predict(repository, model, {"inputs": body})["outputs"]
            assert said.strip('"') in json.dumps(out), (model, out)


@pytest.mark.slow
def test_the_server_answers_others_while_it_works_on_the_largest_allowed_request(exported):
    """Bounded work per request (textgen: a prompt of at most MAX_PROMPT characters, at most MAX_LENGTH generated),
    and while one client's largest allowed request runs, another client's small one is answered first."""
    big = {"inputs": {"prompt": ["a" * textgen.MAX_PROMPT], "length": textgen.MAX_LENGTH, "temperature": 1.0,
                      "top_k": 0, "top_p": 1.0, "seed": 0}}
    finished = {}
    with running(serve.create_app(exported / "saved_models")) as url:
        def send_big():
            answer = requests.post(url + "/v1/models/textgen:predict", json=big, timeout=900)
            finished["big"] = (time.monotonic(), answer.status_code, answer.json())
        worker = threading.Thread(target=send_big)
        worker.start()
        time.sleep(1.0)  # the large request is in the model by now (its 20,000 recurrent steps take far longer)
        small = requests.post(url + "/v1/models/sentiment:predict", json={"instances": [{"text": "good"}]},
                              timeout=900)
        small_done = time.monotonic()
        worker.join(timeout=900)
        over = dict(big["inputs"], prompt=["a" * (textgen.MAX_PROMPT + 1)])
        refused = requests.post(url + "/v1/models/textgen:predict", json={"inputs": over}, timeout=60)
    assert small.status_code == 200 and finished["big"][1] == 200, finished.get("big")
    assert small_done < finished["big"][0]  # answered while the largest request was still at work
    assert len(finished["big"][2]["outputs"]["text"][0]) == textgen.MAX_LENGTH
    assert refused.status_code == 400 and "at most 10000 per request" in refused.json()["error"]
