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
