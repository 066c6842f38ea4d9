"""Helpers every data source uses: where a dataset's folder is, is a host reachable, what --source auto means, file
checksums, CSV reading."""

from __future__ import annotations

import hashlib
import os
import pathlib
import socket


def data_folder(dataset: str) -> pathlib.Path:
    """The one rule for where a dataset's files are when --data-dir is not given: $RNN_DATA_DIR/<dataset> when
    RNN_DATA_DIR is set, else data/<dataset> (where the download sources write)."""
    base = os.environ.get("RNN_DATA_DIR")
    return pathlib.Path(base) / dataset if base else pathlib.Path("data") / dataset


def local_folder(data_dir: str, dataset: str) -> str:
    """The folder a local source reads: --data-dir when given, else the dataset's folder (data_folder) when it
    exists, else "" (no local data: --source auto moves on to the next source)."""
    return data_dir or (str(data_folder(dataset)) if data_folder(dataset).is_dir() else "")


def reachable(host: str, timeout: float = 3.0) -> bool:
    """True when a TCP connection to host:443 opens within `timeout` seconds (no network here: False at once)."""
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def sha256(path: str | pathlib.Path) -> str:
    digest = hashlib.sha256()
    with pathlib.Path(path).open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def resolve_auto(source: str, local: object, *, remote: str | None = "tfds", host: str = "storage.googleapis.com",
                 offline: str = "synthetic", given: str | pathlib.Path = "") -> str:
    """What --source auto means, the same rule in every pipeline: the local data when there is some (`local`: the
    pipeline's own test, e.g. a given --data-dir or a file found in it), else the `remote` source when its
    download `host` answers within seconds, else the `offline` default that needs nothing. A folder the user
    named (`given`: --data-dir) that holds no data is refused: a mistyped path must not train on generated or
    downloaded data. Any other source is returned as it is."""
    if source != "auto":
        return source
    if local:
        return "local"
    if given:
        path = pathlib.Path(given)
        what = ("no such file or folder" if not path.exists() else
                "a file, not the folder that holds the dataset" if path.is_file() else "it does not hold the dataset")
        raise FileNotFoundError(f"--data-dir {given}: {what}; give the folder holding the dataset's files, or choose "
                                "the source with --source (auto never falls back to other data when a folder is "
                                "named).")
    return remote if remote and reachable(host) else offline


def read_csv(path: str | pathlib.Path, **options):
    """pandas.read_csv with one clear error naming the file for what is not a readable CSV: a folder, an empty,
    binary or non-UTF-8 (e.g. UTF-16) file, a damaged .gz."""
    import gzip
    import zlib

    import pandas as pd

    path = pathlib.Path(path)
    if path.is_dir():
        raise ValueError(f"{path} is a folder; give the CSV file itself (or the folder where the pipeline expects "
                         "one, with --data-dir).")
    try:
        return pd.read_csv(path, encoding="utf-8", **options)
    except pd.errors.EmptyDataError:
        raise ValueError(f"{path} is empty; expected a CSV with a header row.") from None
    except (UnicodeDecodeError, pd.errors.ParserError, gzip.BadGzipFile, zlib.error, EOFError) as error:
        raise ValueError(f"{path} is not a readable UTF-8 CSV ({type(error).__name__}); save it as UTF-8 CSV "
                         "(a .gz must be whole).") from None

