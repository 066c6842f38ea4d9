"""Where MIT-BIH records come from: a local folder, PhysioNet (checked by SHA-256), or the synthetic generator; and
the beats of the inter-patient split read from them (load_data)."""

from __future__ import annotations

import dataclasses
import logging
import os
import pathlib
import urllib.request

import numpy as np

from domain.ecg import beats as beat_data
from domain.ecg import records as record_data
from domain.ecg import synthetic
from domain.ecg.records import DS1, DS2, record_names
from domain.sources import resolve_auto, sha256
from shared.progress import progress

log = logging.getLogger(__name__)

SOURCES = ("auto", "local", "download", "synthetic")
PHYSIONET_HOST = "physionet.org"
SHA256_URL = "https://physionet.org/files/mitdb/1.0.0/SHA256SUMS.txt"


def default_data_dir() -> pathlib.Path:
    """$RNN_DATA_DIR/mitdb when RNN_DATA_DIR is set, else data/mitdb (where `download` writes)."""
    base = os.environ.get("RNN_DATA_DIR")
    return pathlib.Path(base) / "mitdb" if base else pathlib.Path("data") / "mitdb"


def verify(data_dir: pathlib.Path, sums_text: str, names: list[str]) -> None:
    """Check the .hea/.dat/.atr files of `names` against a SHA256SUMS text ('<hex>  <file>' lines).
    A mismatch deletes the bad file and raises, so a corrupt download is never used."""
    expected = {}
    for line in sums_text.splitlines():
        parts = line.split()
        if len(parts) == 2:
            expected[pathlib.Path(parts[1]).name] = parts[0].lower()
    for name in names:
        for suffix in (".hea", ".dat", ".atr"):
            path = data_dir / f"{name}{suffix}"
            want = expected.get(path.name)
            if want is None:
                raise ValueError(f"{path.name}: no SHA-256 in PhysioNet's list; cannot verify the download.")
            if sha256(path) != want:
                path.unlink()
                raise ValueError(f"{path}: SHA-256 does not match PhysioNet's ({want[:12]}...); the file was "
                                 "removed. Run the download again.")


def download(data_dir: pathlib.Path, names: tuple[str, ...] = DS1 + DS2) -> pathlib.Path:
    """Download records from PhysioNet with wfdb.dl_database and verify them against PhysioNet's SHA256SUMS."""
    import wfdb

    data_dir.mkdir(parents=True, exist_ok=True)
    wfdb.dl_database("mitdb", str(data_dir), records=list(names), annotators=["atr"])
    with urllib.request.urlopen(SHA256_URL, timeout=30) as response:
        verify(data_dir, response.read().decode(), list(names))
    log.info("downloaded and verified %d MIT-BIH records into %s", len(names), data_dir)
    return data_dir


def resolve(source: str, data_dir: str | pathlib.Path | None, *, cache_dir: pathlib.Path,
            synthetic_minutes: float = 5.0, seed: int = 0) -> tuple[str, pathlib.Path]:
    """(source that ran, folder of WFDB records) for `source` in SOURCES.

    local: records already in data_dir; download: PhysioNet into data_dir; synthetic: generated into cache_dir;
    auto: local if data_dir holds records, else download if PhysioNet answers within seconds, else synthetic.
    """
    if source not in SOURCES:
        raise ValueError(f"ECG source {source!r}: expected one of {list(SOURCES)}.")
    if data_dir and source in ("auto", "local") and not pathlib.Path(data_dir).exists():
        raise FileNotFoundError(f"--data-dir {data_dir}: no such folder; check the path (a mistyped folder must not "
                                "fall back to another source).")
    data_dir = pathlib.Path(data_dir) if data_dir else default_data_dir()
    ran = resolve_auto(source, record_names(data_dir), remote="download", host=PHYSIONET_HOST)
    if ran == "local":
        if not record_names(data_dir):
            raise FileNotFoundError(f"no WFDB records (.hea files) in {data_dir}; pass --data-dir with MIT-BIH records, "
                                    "or use --source download / --source synthetic.")
        return "local", data_dir
    if ran == "download":
        return "download", download(data_dir)
    if source == "auto":
        log.info("no records in %s and PhysioNet is unreachable: using synthetic records", data_dir)
    out = cache_dir / "synthetic-mitdb"
    synthetic.write_records(out, DS1 + DS2, minutes=synthetic_minutes, seed=seed)
    return "synthetic", out


@dataclasses.dataclass
class ECGData:
    """Beats of the record-disjoint splits (validation empty unless hold_out; test empty without DS2 records),
    the source that ran and what happened while reading."""

    train: beat_data.BeatSet
    validation: beat_data.BeatSet
    test: beat_data.BeatSet
    source: str
    data_dir: pathlib.Path
    split: dict
    notes: list[str]


def read_split(cfg, data_dir: pathlib.Path, names: list[str], notes: list[str]) -> beat_data.BeatSet:
    """The beats of the named records (a record without the lead is skipped with a note, unless cfg.first_lead)."""
    sets = []
    for name in progress(names, "reading records", unit="record"):
        try:
            record = record_data.read_record(data_dir / name, first_lead_fallback=cfg.first_lead)
        except ValueError as error:
            if "lead" not in str(error):
                raise
            log.warning("%s", error)
            notes.append(str(error))
            continue
        if record.original_fs != record_data.FS:
            notes.append(f"record {name} resampled from {record.original_fs:g} Hz to {record_data.FS} Hz")
        if record.repaired_samples:
            notes.append(f"record {name}: {record.repaired_samples} missing samples interpolated")
        sets.append(beat_data.extract(record, cfg.before, cfg.after, template=cfg.template))
    if names and not sets:
        raise ValueError(f"none of the records {names} in {data_dir} could be read; see the messages above.")
    if not sets:
        window = cfg.window
        return beat_data.BeatSet(np.zeros((0, window), "float32"), np.zeros((0, window), "float32"),
                                np.zeros((0, len(beat_data.RR_FEATURES)), "float32"), np.zeros(0, "int32"),
                                np.zeros(0, str), np.zeros(0, "int64"))
    return beat_data.BeatSet.concat(sets)


def load_data(cfg) -> ECGData:
    """Resolve the source, split records inter-patient and extract beats. `cfg`: the ECG pipeline's Config (source,
    data_dir, run_dir, synthetic_minutes, seed, hold_out, first_lead, before, after, window)."""
    source, data_dir = resolve(cfg.source, cfg.data_dir or None, cache_dir=pathlib.Path(cfg.run_dir),
                                                synthetic_minutes=cfg.synthetic_minutes, seed=cfg.seed)
    available = record_data.record_names(data_dir)
    split = beat_data.split_records(available, beat_data.VALIDATION if cfg.hold_out else (), hold_out=cfg.hold_out)
    notes = []
    if split["test_is_held_out_ds1"]:
        notes.append(f"DS2 records are absent from {data_dir}: testing on held-out DS1 records {split['test']} "
                     "instead of DS2, so the published DS2 figures are a reference, not a like-for-like comparison.")
        log.warning("%s", notes[-1])
    elif not split["test"]:
        notes.append(f"DS2 records are absent from {data_dir}: no test split. The estimate of performance on new "
                     "patients is the leave-records-out cross-validation on the training records.")
        log.warning("%s", notes[-1])
    sets = {part: read_split(cfg, data_dir, split[part], notes) for part in ("train", "validation", "test")}
    for part, beats in sets.items():
        log.info("%s: %d records, %d beats %s, %d dropped at record edges", part, len(split[part]), len(beats),
                 beats.counts(record_data.AAMI_CLASSES), beats.dropped)
    return ECGData(sets["train"], sets["validation"], sets["test"], source, data_dir, split, notes)
