"""Where MIT-BIH records come from: a local folder, PhysioNet (checked by SHA-256), or the synthetic generator."""

from __future__ import annotations

import logging
import os
import pathlib
import urllib.request

from domain.ecg import synthetic
from domain.ecg.records import DS1, DS2, record_names
from domain.sources import reachable, sha256

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
    if source == "local" or (source == "auto" and record_names(data_dir)):
        if not record_names(data_dir):
            raise FileNotFoundError(f"no WFDB records (.hea files) in {data_dir}; pass --data-dir with MIT-BIH records, "
                                    "or use --source download / --source synthetic.")
        return "local", data_dir
    if source == "download" or (source == "auto" and reachable(PHYSIONET_HOST)):
        return "download", download(data_dir)
    if source == "auto":
        log.info("no records in %s and PhysioNet is unreachable: using synthetic records", data_dir)
    out = cache_dir / "synthetic-mitdb"
    synthetic.write_records(out, DS1 + DS2, minutes=synthetic_minutes, seed=seed)
    return "synthetic", out
