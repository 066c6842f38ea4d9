import collections
import io
import pathlib

import numpy as np
import pytest
import wfdb

from domain import ecg
from domain import sources as domain_sources
from domain.ecg import analysis, beats, databases, metrics, records, sources, synthetic
from tests.conftest import real_data_dir


def test_aami_mapping():
    for symbols, letter in (("NLRej", "N"), ("AaJS", "S"), ("VE", "V"), ("F", "F"), ("/fQ", "Q")):
        assert all(ecg.aami_class(s) == letter for s in symbols)
    for non_beat in ("+", "~", "|", "x", "!", "[", "]", '"', "p", "t"):
        assert ecg.aami_class(non_beat) is None
    assert ecg.AAMI_CLASSES == ("N", "S", "V", "F", "Q")


def test_rr_features_known_answer():
    rr = ecg.rr_features(np.array([0, 360, 720, 1260]))  # intervals 1.0, 1.0, 1.5 s; record median 1.0 s
    col = beats.COLUMN
    pre, post = np.array([np.nan, 1.0, 1.0, 1.5]), np.array([1.0, 1.0, 1.5, np.nan])
    np.testing.assert_allclose(rr[:, col["pre_rr_s"]], pre)
    np.testing.assert_allclose(rr[:, col["post_rr_s"]], post)
    np.testing.assert_allclose(rr[:, col["median_rr_s"]], 1.0)
    np.testing.assert_allclose(rr[:, col["sinus_rr_s"]], np.percentile([1.0, 1.0, 1.5], beats.SINUS_QUANTILE))
    np.testing.assert_allclose(rr[:, col["pre_rr_record"]], pre / 1.0)  # previous RR / record median RR
    np.testing.assert_allclose(rr[:, col["post_rr_record"]], post / 1.0)
    sinus = np.percentile([1.0, 1.0, 1.5], beats.SINUS_QUANTILE)  # the long intervals: 1.4 s
    np.testing.assert_allclose(rr[:, col["pre_rr_sinus"]], pre / sinus, rtol=1e-6)
    np.testing.assert_allclose(rr[:, col["post_pre_ratio"]], post / pre, rtol=1e-6)  # 1.5 after 1.0: a pause
    local = rr[:, col["local_rr_s"]]
    np.testing.assert_allclose(rr[1:, col["pre_rr_local"]] * local[1:], pre[1:], rtol=1e-6)
    np.testing.assert_allclose(rr[:, col["local_rr_record"]], local, rtol=1e-6)
    assert np.isfinite(local).all() and (local >= 1.0).all() and (local <= 1.5).all()
    assert (rr[:, col["local_irregularity"]] > 0).all()  # 1.0 -> 1.5 is a change of rhythm
    slower = ecg.rr_features(np.array([0, 720, 1440, 2520]))  # the same rhythm at half the rate
    seconds = [col[n] for n in ("pre_rr_s", "post_rr_s", "local_rr_s", "median_rr_s", "sinus_rr_s")]
    ratios = [i for i in range(len(beats.RR_FEATURES)) if i not in seconds]
    np.testing.assert_allclose(slower[:, ratios], rr[:, ratios], rtol=1e-6)  # ratios do not see the rate
    np.testing.assert_allclose(slower[:, seconds], 2 * rr[:, seconds], rtol=1e-6)  # seconds do
    assert set(beats.RR_INPUTS["all"]) == set(beats.RR_FEATURES)
    assert set(beats.RR_INPUTS["both"]) == set(beats.RR_INPUTS["relative"]) | set(beats.RR_INPUTS["seconds"])
    assert not any("record" in name or "median" in name for name in beats.RR_INPUTS["sinus"])
    assert all(set(v) <= set(beats.RR_FEATURES) for v in beats.RR_INPUTS.values())


def test_context_index_stays_inside_each_record():
    records = np.array(["a", "a", "a", "b", "b"])
    np.testing.assert_array_equal(beats.context_index(records, 1),
                                  [[-1, 0, 1], [0, 1, 2], [1, 2, -1], [-1, 3, 4], [3, 4, -1]])
    np.testing.assert_array_equal(beats.context_index(records, 0), [[0], [1], [2], [3], [4]])


def test_per_record_preparation_uses_no_labels(tmp_path):
    """Training reads the annotated beats, predict the detected ones: given the same beat times, the windows, the
    record's template and the RR features are identical, whatever the labels say."""
    synthetic.write_records(tmp_path, ["208"], minutes=2, seed=4)
    record = ecg.read_record(tmp_path / "208")
    labelled = ecg.extract(record, 0.25, 0.45)
    unlabelled = ecg.extract(ecg.read_record(tmp_path / "208", annotations=False), 0.25, 0.45, peaks=record.peaks)
    relabelled = ecg.extract(records.Record(record.name, record.signal, record.lead, record.peaks,
                                            ("V",) * len(record.peaks), record.original_fs), 0.25, 0.45)
    for other in (unlabelled, relabelled):
        for field in ("beats", "templates", "rr", "peaks"):
            np.testing.assert_array_equal(getattr(other, field), getattr(labelled, field))
    assert (unlabelled.labels == -1).all() and (labelled.labels >= 0).all()
    median = ecg.extract(record, 0.25, 0.45, template="median")
    np.testing.assert_allclose(median.templates[0], np.median(median.beats, axis=0))
    sinus_like = labelled.rr[:, beats.COLUMN["pre_rr_sinus"]] >= beats.SINUS_FRACTION
    np.testing.assert_allclose(labelled.templates[0], np.median(labelled.beats[sinus_like], axis=0), rtol=1e-6)


def test_windows_are_centred_on_the_r_peak_and_edges_are_dropped():
    signal = np.arange(1000, dtype="float32")
    windows, keep = beats.beat_windows(signal, np.array([50, 500, 838, 839]), 90, 162)
    np.testing.assert_array_equal(keep, [False, True, True, False])  # 50-90 < 0; 839+162 > 1000
    assert windows.shape == (2, 252)
    assert windows[0, 90] == 500 and windows[0, 0] == 410 and windows[0, -1] == 661


def _record(peaks, symbols, n=3600):
    rng = np.random.default_rng(0)
    return records.Record("900", rng.normal(size=n), "MLII", np.array(peaks), tuple(symbols), 360.0)


def test_extract_drops_and_counts_edge_beats():
    record = _record([30, 400, 800, 1200, 1600, 3550], "NVNANN")
    beat_set = ecg.extract(record, 0.25, 0.45)
    # 30 and 3550 cross the edges; 400 is now first (no previous RR? it has one: 30 is a beat) -> kept
    assert beat_set.dropped == 2 and len(beat_set) == 4
    np.testing.assert_array_equal(beat_set.peaks, [400, 800, 1200, 1600])
    np.testing.assert_array_equal(beat_set.labels, [2, 0, 1, 0])
    median = np.median([370, 400, 400, 400]) / 360  # the kept beats' previous RR intervals
    np.testing.assert_allclose(beat_set.rr[0, [beats.COLUMN["pre_rr_record"], beats.COLUMN["post_rr_record"]]],
                               [370 / 360 / median, 400 / 360 / median], rtol=1e-6)  # / the median RR
    first_last = ecg.extract(_record([400, 800, 1200], "NNN"), 0.25, 0.45)
    assert len(first_last) == 1 and first_last.dropped == 2  # the first and last beat lack an RR interval


def test_split_is_by_record_and_never_overlaps():
    full = ecg.split_records(list(ecg.DS1 + ecg.DS2 + ecg.PACED))
    assert full["test"] == list(ecg.DS2) and not full["test_is_held_out_ds1"]
    ds1_only = ecg.split_records(list(ecg.DS1), beats.VALIDATION, hold_out=True)
    assert ds1_only["test_is_held_out_ds1"] and ds1_only["test"] == list(beats.HELD_OUT_TEST)
    no_test = ecg.split_records(list(ecg.DS1))  # the default: all DS1 for training, no test without DS2
    assert no_test["test"] == [] and no_test["validation"] == [] and no_test["train"] == list(ecg.DS1)
    for split in (full, ds1_only, no_test):
        parts = [set(split[p]) for p in ("train", "validation", "test")]
        assert all(not (a & b) for i, a in enumerate(parts) for b in parts[i + 1:])
        assert not set().union(*parts) & set(ecg.PACED)
        assert set(split["train"]) <= set(ecg.DS1) and set(split["validation"]) <= set(ecg.DS1)
    with pytest.raises(ValueError, match="need DS1 records"):
        ecg.split_records(["102", "104"])
    with pytest.raises(ValueError, match="need DS1 records"):
        ecg.split_records(list(ecg.DS1[:3]), hold_out=True)  # none of the held-out test records is there


def test_synthetic_records_are_wfdb_that_reads_back(tmp_path):
    names = ["101", "106", "119", "200", "208", "209"]
    synthetic.write_records(tmp_path, names, minutes=3, seed=0)
    seen = collections.Counter()
    for name in names:
        for suffix in (".hea", ".dat", ".atr"):
            assert (tmp_path / f"{name}{suffix}").exists()
        header = wfdb.rdheader(str(tmp_path / name))
        assert header.fs == 360 and header.sig_name == ["MLII", "V1"] and header.fmt == ["212", "212"]
        signal, peaks, symbols = synthetic.synthesize(name, 3, seed=0)
        record = ecg.read_record(tmp_path / name)
        np.testing.assert_array_equal(record.peaks, peaks)
        assert record.symbols == tuple(symbols)
        np.testing.assert_allclose(record.signal, signal[:, 0], atol=0.005 + 1e-9)  # 1/200 mV quantization
        seen.update(symbols)
        rr = ecg.rr_features(peaks)[:, beats.COLUMN["pre_rr_s"]]
        labels = np.array(symbols)
        if (labels == "V").any():
            assert np.nanmean(rr[labels == "V"]) < 0.8 * np.nanmean(rr[labels == "N"])  # premature
    assert {"N", "A", "V", "F"} <= set(seen)


def test_synthetic_morphology_separates_classes(tmp_path):
    synthetic.write_records(tmp_path, ["208"], minutes=4, seed=3)
    beat_set = ecg.extract(ecg.read_record(tmp_path / "208"), 0.25, 0.45)
    normal = beat_set.beats[beat_set.labels == 0].mean(axis=0)
    ventricular = beat_set.beats[beat_set.labels == 2]
    assert len(ventricular) > 3
    assert normal[175:195].max() > 0.1 and ventricular.mean(axis=0)[190:215].min() < -0.1  # discordant T wave
    width = lambda w: (np.abs(w[60:140]) > 0.5 * np.abs(w[60:140]).max()).sum()  # noqa: E731
    assert width(ventricular.mean(axis=0)) > 1.8 * width(normal)  # and a wide QRS


def _write(tmp_path, name, signal, fs=360, sig_name=("MLII", "V1"), fmt="16", annotate=True):
    signal = np.asarray(signal, dtype="float64")
    wfdb.wrsamp(name, fs=fs, units=["mV"] * signal.shape[1], sig_name=list(sig_name), p_signal=signal,
                fmt=[fmt] * signal.shape[1], adc_gain=[200.0] * signal.shape[1], baseline=[0] * signal.shape[1],
                write_dir=str(tmp_path))
    if annotate:
        peaks = np.arange(fs, len(signal) - fs, fs)
        wfdb.wrann(name, "atr", peaks, symbol=["N"] * len(peaks), write_dir=str(tmp_path))


def _ecg_like(n, fs=360):
    t = np.arange(n) / fs
    return np.stack([np.sin(2 * np.pi * 1.2 * t) ** 21, 0.5 * np.cos(2 * np.pi * t)], axis=1)


def test_bad_records_fail_with_clear_errors(tmp_path):
    _write(tmp_path, "300", _ecg_like(3600))
    (tmp_path / "300.atr").unlink()
    with pytest.raises(FileNotFoundError, match=r"record 300 .*missing 300\.atr"):
        ecg.read_record(tmp_path / "300")
    assert ecg.read_record(tmp_path / "300", annotations=False).peaks.size == 0

    _write(tmp_path, "301", _ecg_like(3600))
    dat = tmp_path / "301.dat"
    dat.write_bytes(dat.read_bytes()[:5000])
    with pytest.raises(ValueError, match="301.*truncated"):
        ecg.read_record(tmp_path / "301")

    _write(tmp_path, "302", _ecg_like(3600), sig_name=("V5", "V1"))
    with pytest.raises(ValueError, match=r"302 has no MLII lead .*--first-lead"):
        ecg.read_record(tmp_path / "302")
    assert ecg.read_record(tmp_path / "302", first_lead_fallback=True).lead == "V5"

    _write(tmp_path, "303", _ecg_like(600, fs=50), fs=50)
    with pytest.raises(ValueError, match="303: sampling rate 50 Hz"):
        ecg.read_record(tmp_path / "303")

    _write(tmp_path, "304", np.zeros((3600, 2)) + 0.2)
    with pytest.raises(ValueError, match="304: the MLII lead is a flat line"):
        ecg.read_record(tmp_path / "304")

    holes = _ecg_like(3600)
    holes[1000:1100, 0] = np.nan  # 2.8% missing
    _write(tmp_path, "305", holes)
    with pytest.raises(ValueError, match="305: 2.8% of the MLII samples are missing"):
        ecg.read_record(tmp_path / "305")


def test_few_missing_samples_are_interpolated_and_counted(tmp_path):
    signal = _ecg_like(3600)
    signal[1000:1010, 0] = np.nan
    _write(tmp_path, "306", signal)
    record = ecg.read_record(tmp_path / "306")
    assert record.repaired_samples == 10 and np.isfinite(record.signal).all()


def test_other_sampling_rates_are_resampled_to_360(tmp_path):
    _write(tmp_path, "307", _ecg_like(2500, fs=250), fs=250)
    record = ecg.read_record(tmp_path / "307")
    assert record.original_fs == 250 and len(record.signal) == 3600
    np.testing.assert_array_equal(record.peaks, np.round(np.arange(250, 2250, 250) * 360 / 250))


@pytest.mark.parametrize("field", ["-360", "0", "abc"])
def test_a_header_whose_rate_is_not_a_rate_is_refused_not_read_as_250_hz(tmp_path, field):
    _write(tmp_path, "308", _ecg_like(2500, fs=250), fs=250)
    header = (tmp_path / "308.hea").read_text().split("\n")
    first = header[0].split()
    first[2] = field
    (tmp_path / "308.hea").write_text("\n".join([" ".join(first), *header[1:]]))
    with pytest.raises(ValueError, match="sampling frequency field|sampling rate|unreadable header"):
        ecg.read_record(tmp_path / "308")


def test_aami_metrics_known_answer():
    y_true = np.array([0, 0, 0, 0, 1, 1, 2, 2])
    y_pred = np.array([0, 0, 0, 1, 1, 0, 2, 2])
    result = ecg.aami_metrics(y_true, y_pred)
    assert result["accuracy"] == pytest.approx(75.0)
    n, s, v = (result["per_class"][c] for c in "NSV")
    assert n["Se"] == pytest.approx(75.0) and n["+P"] == pytest.approx(75.0)
    assert s["Se"] == pytest.approx(50.0) and s["+P"] == pytest.approx(50.0) and s["Sp"] == pytest.approx(100 * 5 / 6)
    assert v["F1"] == pytest.approx(100.0) and result["per_class"]["F"]["support"] == 0
    assert np.isnan(result["per_class"]["F"]["Se"])
    assert result["confusion"][0] == [3, 1, 0, 0, 0]


def test_detection_matching_within_150_ms():
    reference = np.array([100, 500, 900, 1300])
    detected = np.array([110, 480, 1000, 1305, 1700])  # 1000 is 100 samples = 278 ms from 900: no match
    ref_idx, det_idx = metrics.match_beats(reference, detected)
    np.testing.assert_array_equal(ref_idx, [0, 1, 3])
    np.testing.assert_array_equal(det_idx, [0, 1, 3])
    agreement = ecg.detection_agreement(reference, detected)
    assert agreement["Se"] == pytest.approx(75.0) and agreement["+P"] == pytest.approx(60.0)


def test_checksums_are_verified_and_bad_files_removed(tmp_path):
    synthetic.write_records(tmp_path, ["101"], minutes=0.5)
    sums = "\n".join(f"{sources.sha256(tmp_path / f'101{s}')}  101{s}" for s in (".hea", ".dat", ".atr"))
    sources.verify(tmp_path, sums, ["101"])
    bad = sums.replace(sources.sha256(tmp_path / "101.dat"), "0" * 64)
    with pytest.raises(ValueError, match="101.dat: SHA-256 does not match"):
        sources.verify(tmp_path, bad, ["101"])
    assert not (tmp_path / "101.dat").exists()


def test_download_uses_wfdb_and_verifies(tmp_path, monkeypatch):
    """The PhysioNet path, offline: wfdb.dl_database and the checksum lists are replaced by local stand-ins; MIT-BIH
    (DS1 and DS2) and SVDB (all 78 records) each into their folder, each checked against its own list."""
    served = {"mitdb": tmp_path / "physionet" / "mitdb", "svdb": tmp_path / "physionet" / "svdb"}
    synthetic.write_records(served["mitdb"], ecg.DS1 + ecg.DS2, minutes=0.2)
    synthetic.write_records(served["svdb"], databases.SVDB.records, minutes=0.2, fs=128, leads=("ECG1", "ECG2"))
    sums = {databases.KNOWN[name].sums_url: "\n".join(f"{sources.sha256(p)}  {p.name}" for p in sorted(folder.iterdir()))
            for name, folder in served.items()}
    calls = []

    def fake_dl_database(db, dl_dir, records, annotators):
        calls.append({"db": db, "records": records, "annotators": annotators})
        for name in records:
            for suffix in (".hea", ".dat", ".atr"):
                (pathlib.Path(dl_dir) / f"{name}{suffix}").write_bytes((served[db] / f"{name}{suffix}").read_bytes())

    class Response(io.BytesIO):
        def __init__(self, url, timeout):
            super().__init__(sums[url].encode())

    monkeypatch.setattr(wfdb, "dl_database", fake_dl_database)
    monkeypatch.setattr(sources.urllib.request, "urlopen", Response)
    monkeypatch.setenv("RNN_DATA_DIR", str(tmp_path / "base"))
    got = sources.resolve("download", [tmp_path / "dl"], cache_dir=tmp_path, databases=("mitdb", "svdb"))
    assert got == ("download", [tmp_path / "dl", tmp_path / "base" / "svdb"])  # the next one in its default folder
    assert [c["db"] for c in calls] == ["mitdb", "svdb"] and calls[0]["records"] == list(ecg.DS1 + ecg.DS2)
    assert calls[1]["records"] == list(databases.SVDB.records) and calls[1]["annotators"] == ["atr"]
    assert databases.identify(tmp_path / "base" / "svdb") == databases.SVDB
    url = databases.MITDB.sums_url
    sums[url] = sums[url].replace(sources.sha256(served["mitdb"] / "232.atr"), "f" * 64)  # a corrupt file fails it
    with pytest.raises(ValueError, match="232.atr: SHA-256 does not match"):
        sources.resolve("download", [tmp_path / "dl"], cache_dir=tmp_path, databases=("mitdb",))


def test_a_header_that_does_not_describe_its_data_file_is_refused(tmp_path):
    synthetic.write_records(tmp_path, ["100"], minutes=0.2, seed=1)
    lines = (tmp_path / "100.hea").read_text().splitlines()
    first = lines[0].split()
    first[1] = "1"  # one signal declared, two stored
    (tmp_path / "100.hea").write_text("\n".join([" ".join(first), lines[1], *lines[3:]]) + "\n")
    with pytest.raises(ValueError, match="the header does not describe this file"):
        records.read_record(tmp_path / "100")


def test_a_header_that_names_the_wrong_format_says_so(tmp_path):
    _write(tmp_path, "310", _ecg_like(3600), fmt="212")
    header = tmp_path / "310.hea"
    header.write_text(header.read_text().replace(" 212 ", " 16 "))
    with pytest.raises(ValueError, match=r"310: its header says format 16, but 310\.dat's size .* fits format 212"):
        records.read_record(tmp_path / "310")


@pytest.mark.parametrize("damage, message", [
    (lambda atr: atr.write_bytes(np.random.default_rng(0).integers(0, 256, 4000, dtype=np.uint8).tobytes()),
     r"100\.atr"),
    (lambda atr: atr.write_bytes(b""), r"100\.atr"),
])
def test_garbage_annotations_are_refused_with_the_file_named(tmp_path, damage, message):
    synthetic.write_records(tmp_path, ["100"], minutes=0.2, seed=1)
    damage(tmp_path / "100.atr")
    with pytest.raises(ValueError, match=message):
        records.read_record(tmp_path / "100")
    assert len(records.read_record(tmp_path / "100", annotations=False).signal) > 0  # the signal itself still reads


@pytest.mark.parametrize("peaks, message", [
    (np.arange(10, 4000, 3), "per minute"),  # 7,200 beats a minute
    (np.arange(100_000, 200_000, 300), "outside the signal"),
])
def test_annotations_that_cannot_describe_the_signal_are_refused(tmp_path, peaks, message):
    synthetic.write_records(tmp_path, ["100"], minutes=0.2, seed=1)
    wfdb.wrann("100", "atr", peaks, symbol=["N"] * len(peaks), write_dir=str(tmp_path))
    with pytest.raises(ValueError, match=f"100.atr does not describe this signal .*{message}"):
        records.read_record(tmp_path / "100")


def test_resolve_sources(tmp_path, monkeypatch):
    monkeypatch.setattr(domain_sources, "reachable", lambda *a, **k: False)  # the one home of --source auto
    with pytest.raises(FileNotFoundError, match="no such folder"):  # a typo never falls back to synthetic records
        sources.resolve("auto", [tmp_path / "mitbd"], cache_dir=tmp_path)
    (tmp_path / "empty").mkdir()
    (tmp_path / "file").write_text("not a folder")
    for source in ("local", "auto"):  # a given folder without records never trains on generated ones
        with pytest.raises(FileNotFoundError, match="no WFDB records"):
            sources.resolve(source, [tmp_path / "empty"], cache_dir=tmp_path)
        with pytest.raises(FileNotFoundError, match="a file, not a folder"):
            sources.resolve(source, [tmp_path / "file"], cache_dir=tmp_path)
    with pytest.raises(ValueError, match="expected one of"):
        sources.resolve("web", (), cache_dir=tmp_path)
    with pytest.raises(ValueError, match="'ptbxl' is not one of"):
        sources.resolve("auto", (), databases=("mitdb", "ptbxl"), cache_dir=tmp_path)
    monkeypatch.setenv("RNN_DATA_DIR", str(tmp_path))  # no default folder holds records: generated ones
    source, folders = sources.resolve("auto", (), cache_dir=tmp_path, synthetic_minutes=0.5)
    assert source == "synthetic" and set(records.record_names(folders[0])) == set(ecg.DS1 + ecg.DS2)
    assert sources.resolve("auto", [folders[0]], cache_dir=tmp_path) == ("local", folders)
    assert sources.default_data_dir() == tmp_path / "mitdb" and sources.default_data_dir("svdb") == tmp_path / "svdb"
    synthetic.write_records(tmp_path / "svdb", ["800"], minutes=0.5, fs=128, leads=("ECG1", "ECG2"))
    # the default folders: the ones holding records, an absent database left out
    assert sources.resolve("auto", (), cache_dir=tmp_path) == ("local", [tmp_path / "svdb"])


def test_databases_are_recognised_by_their_records_and_read_on_their_mlii_like_lead(tmp_path):
    synthetic.write_records(tmp_path / "a", ["800", "805"], minutes=0.5, fs=128, leads=("ECG1", "ECG2"))
    synthetic.write_records(tmp_path / "b", ["101", "200"], minutes=0.5)
    synthetic.write_records(tmp_path / "mine", ["1", "2"], minutes=0.5)
    assert databases.identify(tmp_path / "a") == databases.SVDB
    assert databases.identify(tmp_path / "b") == databases.MITDB
    assert databases.identify(tmp_path / "mine").name == "mine" and databases.identify(tmp_path / "mine").lead == "MLII"
    assert len(databases.SVDB.records) == 78 and len(databases.MITDB.records) == 48
    record = ecg.read_record(tmp_path / "a" / "800")
    assert record.lead == "ECG1" and record.original_fs == 128
    assert abs(len(record.signal) - 0.5 * 60 * ecg.FS) <= 3  # resampled to 360 Hz
    assert databases.lead_of(["ECG1", "ECG2"], "800") == "ECG1"
    assert databases.lead_of(["ECG1", "ECG2"], "100") is None  # ECG1 is SVDB's own name for its MLII-like lead
    assert databases.lead_of(["V1", "MLII"], "114") == "MLII"
    assert databases.label(databases.SVDB, "800") == "svdb/800" and databases.label(databases.MITDB, "101") == "101"
    assert databases.database_of("svdb/800") == "svdb" and databases.database_of("101") == "mitdb"
    assert ecg.aami_class("B") == "N"  # SVDB's one bundle branch block beat of unspecified side


def test_a_record_read_through_128_hz_gives_the_model_nearly_the_same_inputs(tmp_path):
    """SVDB is sampled at 128 Hz: a MIT-BIH record read through that rate must look like itself to the model (its
    band-passed beats hold little above 35 Hz), so that the rate cannot tell the databases, and so the classes, apart."""
    synthetic.write_records(tmp_path, ["208"], minutes=2, seed=3)
    record = ecg.read_record(tmp_path / "208")
    slow = records.through_rate(record, 128)
    assert slow.original_fs == 128 and len(slow.signal) == len(record.signal) and slow.symbols == record.symbols
    assert np.all(np.abs(slow.peaks - record.peaks) <= 360 / 128 / 2 + 1)  # annotations on the 128 Hz grid
    assert np.all(np.round(slow.peaks * 128 / 360) * 360 / 128 - slow.peaks <= 0.5)
    fast_beats, slow_beats = ecg.extract(record, 0.25, 0.45), ecg.extract(slow, 0.25, 0.45)
    assert len(fast_beats) == len(slow_beats)
    correlation = [np.corrcoef(a, b)[0, 1] for a, b in zip(fast_beats.beats, slow_beats.beats, strict=True)]
    assert np.median(correlation) > 0.98 and np.min(correlation) > 0.9
    assert np.abs(fast_beats.rr - slow_beats.rr)[:, beats.COLUMN["pre_rr_s"]].max() <= 2 / 128 + 1e-6


def test_records_mixed_with_their_slow_copies(tmp_path):
    synthetic.write_records(tmp_path, ["101", "106", "108", "109"], minutes=0.5)
    sets = [ecg.extract(ecg.read_record(tmp_path / n), 0.25, 0.45) for n in ("101", "106", "108", "109")]
    fast = ecg.BeatSet.concat(sets)
    slow = ecg.BeatSet.concat([ecg.extract(records.through_rate(ecg.read_record(tmp_path / n), 128), 0.25, 0.45)
                               for n in ("101", "106", "108", "109")])
    mixed = beats.mix_records(fast, slow, 0.5, seed=0)
    swapped = [n for n in ("101", "106", "108", "109")
               if not np.array_equal(mixed.beats[mixed.records == n], fast.beats[fast.records == n])]
    assert len(swapped) == 2 and list(dict.fromkeys(mixed.records.tolist())) == ["101", "106", "108", "109"]
    assert beats.mix_records(fast, slow, 0.5, seed=0).beats.tobytes() == mixed.beats.tobytes()  # seeded
    assert beats.mix_records(fast, slow.take(slow.records == "none"), 0.5, seed=0) is fast  # nothing to swap


def test_per_record_table_never_holds_a_nan():
    rows = metrics.per_record(np.array([0, 1, 1, 2, 0, 0]), np.array([0, 1, 0, 2, 1, 0]),
                              np.array(["a", "a", "a", "a", "b", "b"]))
    assert rows["a"] == {"beats": 4, "N": 1, "S": 2, "V": 1, "F": 0, "Q": 0, "S Se": 50.0, "S +P": 100.0,
                         "V Se": 100.0, "V +P": 100.0}
    assert rows["b"]["S Se"] is None and rows["b"]["S +P"] == 0.0 and rows["b"]["V +P"] is None


# --- real MIT-BIH records (../shared/data/mitdb, or $RNN_DATA_DIR/mitdb) ---

README_BEATS = {"101": 1865, "114": 1879, "208": 2955, "209": 3005, "230": 2256}


def test_real_ds1_class_totals_match_the_readme():
    folder = real_data_dir("mitdb")
    totals = collections.Counter()
    for name in ecg.DS1:
        ann = wfdb.rdann(str(folder / name), "atr")
        classes = [ecg.aami_class(s) for s in ann.symbol if ecg.aami_class(s)]
        if name in README_BEATS:
            assert len(classes) == README_BEATS[name], name
        totals.update(classes)
    assert totals == {"N": 45866, "S": 944, "V": 3788, "F": 415, "Q": 8}


def test_real_records_read_mlii_whatever_the_channel_order():
    folder = real_data_dir("mitdb")
    record = ecg.read_record(folder / "114")  # MLII is the second channel here
    assert record.lead == "MLII" and record.original_fs == 360 and len(record.signal) == 650000
    assert len(record.peaks) == README_BEATS["114"]
    beat_set = ecg.extract(record, 0.25, 0.45)
    assert len(beat_set) + beat_set.dropped == README_BEATS["114"] and beat_set.dropped <= 3
    assert beat_set.counts(ecg.AAMI_CLASSES)["V"] == 43
    # the R peak sits at the window's sample 90: on average the largest deflection of a normal beat
    normal = beat_set.beats[beat_set.labels == 0].mean(axis=0)
    assert abs(int(np.abs(normal).argmax()) - 90) <= 10


# --- real SVDB records (../shared/data/svdb, or $RNN_DATA_DIR/svdb) ---

def test_real_svdb_class_totals_match_its_readme_and_every_record_reads_ecg1():
    folder = real_data_dir("svdb")
    assert databases.identify(folder) == databases.SVDB
    totals = collections.Counter()
    for name in records.record_names(folder):
        header = wfdb.rdheader(str(folder / name))
        assert header.fs == 128 and databases.lead_of(header.sig_name, name) == "ECG1"
        totals.update(ecg.aami_class(s) for s in wfdb.rdann(str(folder / name), "atr").symbol if ecg.aami_class(s))
    assert totals == {"N": 122853, "S": 10109, "V": 7812, "F": 20, "Q": 42}
    record = ecg.read_record(folder / "865")  # the record with the most S beats (1,818)
    assert record.lead == "ECG1" and record.original_fs == 128 and len(record.signal) == 30 * 60 * ecg.FS
    assert int((record.labels == 1).sum()) == 1818


@pytest.mark.slow
def test_real_mitdb_records_read_through_128_hz_keep_their_inputs():
    """A measured check that SVDB's rate changes little of what the model reads: DS1 records read through 128 Hz
    give beat windows that correlate with the originals (measured: median 0.97-0.997, 1st percentile 0.96-0.985
    over all their beats; most of the change is the R peak moved to the 128 Hz grid, up to 1.4 samples at 360 Hz),
    differ by about a tenth of their mean amplitude, and RR intervals within two 128 Hz samples. Whether the
    model's calls change is measured by the cross-validation's resampled stress set."""
    folder = real_data_dir("mitdb")
    for name in ("208", "209", "114"):
        record = ecg.read_record(folder / name)
        fast, slow = ecg.extract(record, 0.25, 0.45), ecg.extract(records.through_rate(record, 128), 0.25, 0.45)
        assert len(fast) == len(slow)
        correlation = np.array([np.corrcoef(a, b)[0, 1] for a, b in zip(fast.beats, slow.beats, strict=True)])
        assert np.median(correlation) > 0.96 and np.percentile(correlation, 1) > 0.94, name
        assert np.abs(fast.beats - slow.beats).mean() < 0.15 * np.abs(fast.beats).mean(), name
        assert np.abs(fast.rr - slow.rr)[:, beats.COLUMN["pre_rr_s"]].max() <= 2 / 128 + 1e-6


def test_predict_shows_the_strip_asked_for_and_one_around_the_first_beat_of_each_ectopic_class():
    peaks = np.arange(10, 1000) * 360
    predicted = np.zeros(len(peaks), int)
    predicted[[100, 101, 500]] = [2, 3, 1]  # V at 110 s, F at 111 s (one strip shows both), S at 510 s
    strips = analysis.strips_to_show(peaks, predicted, at=300.0, seconds=10.0)
    assert [start for _, start in strips] == [300.0, 505.0, 105.0]
    assert "called V" in strips[2][0] and "called F" in strips[2][0] and "(--at)" in strips[0][0]
    assert analysis.strips_to_show(peaks, np.zeros(len(peaks), int))[0][1] == 0.0  # no ectopic beat: the start
    record = ecg.Record("x", np.sin(np.arange(1000 * 360) / 50.0), "MLII", peaks[:5], ("N", "V", "N", "N", "A"), 360.0)
    figure = analysis.record_figure(record, peaks, predicted, annotated=True, at=300.0)
    assert len(figure.axes) == 4 and "Record x" in figure.axes[0].get_title()
