"""Helpers every data source uses: is a host reachable, file checksums."""

from __future__ import annotations

import hashlib
import pathlib
import socket


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


def resolve_auto(source: str, data_dir: str, host: str = "storage.googleapis.com") -> str:
    """What --source auto means for pipelines with local, TFDS and generated data: the local folder when one is
    given, else TFDS when its download host answers, else the generated offline default."""
    if source != "auto":
        return source
    if data_dir:
        return "local"
    return "tfds" if reachable(host) else "synthetic"
