"""Text for character-level language modelling: tiny Shakespeare (a local file or keras.utils.get_file, checked by
its SHA-256), a user's own UTF-8 text, or the offline default: the Python reference manual's topics that every
Python ships (pydoc_data, PSF licence). The split everyone uses on tiny Shakespeare (nanoGPT's prepare.py): the
first 90% of the characters train, the last 10% validate. Baselines: a unigram model and an interpolated
Kneser-Ney character n-gram model, scored in nats per character.

Notebook:
    text = textgen.load_text("local", "../shared/data/tinyshakespeare")
    train, validation = textgen.split(text.text)
    model = textgen.KneserNey(train, order=5)
    model.nats_per_char(validation)      # about 1.9 on tiny Shakespeare
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import math
import pathlib

import numpy as np

log = logging.getLogger(__name__)

SOURCES = ("auto", "local", "download", "bundled")
FILE = "input.txt"
# karpathy/char-rnn's copy (unchanged since 2015), checked against the SHA-256 ../shared/data's copy carries
URL = "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt"
SHA256 = "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"
TRAIN_FRACTION = 0.9
MIN_CHARS = 2000


@dataclasses.dataclass
class Text:
    text: str
    source: str


def read_text(path: str | pathlib.Path) -> str:
    """A UTF-8 text file, with one clear error for a folder, a missing, empty, binary or non-UTF-8 file."""
    path = pathlib.Path(path)
    if path.is_dir():
        path = path / FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such text file; give a UTF-8 text file (or a folder holding {FILE}) "
                                "with --data-dir.")
    raw = path.read_bytes()
    if b"\x00" in raw[:4096]:
        raise ValueError(f"{path} is binary or UTF-16 (it holds NUL bytes); save it as UTF-8 text.")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ValueError(f"{path} is not UTF-8 (byte {error.start}); save it as UTF-8 text.") from None
    text = text.replace("\r\n", "\n")
    if len(text) < MIN_CHARS:
        raise ValueError(f"{path} holds {len(text)} characters; a language model needs at least {MIN_CHARS} "
                         "(tiny Shakespeare has 1,115,394).")
    return text


def bundled_text() -> str:
    """The Python reference manual's topics (pydoc_data, shipped with every Python; PSF licence): about 465,000
    characters of English prose and code, the offline default."""
    from pydoc_data import topics

    return "\n".join(topics.topics[key] for key in sorted(topics.topics))


def download(cache_dir: str | pathlib.Path) -> pathlib.Path:
    """tiny Shakespeare through keras.utils.get_file, checked against its SHA-256."""
    import keras

    return pathlib.Path(keras.utils.get_file(origin=URL, fname="tinyshakespeare.txt", file_hash=SHA256,
                                             hash_algorithm="sha256", cache_dir=str(cache_dir)))


def load_text(source: str, data_dir: str | pathlib.Path | None, cache_dir: str | pathlib.Path = "data") -> Text:
    if source == "local":
        if not data_dir:
            raise ValueError("--source local needs --data-dir (a UTF-8 text file, or a folder holding input.txt).")
        return Text(read_text(data_dir), f"local ({pathlib.Path(data_dir).name})")
    if source == "download":
        return Text(read_text(download(cache_dir)), "tiny Shakespeare (download)")
    if source == "bundled":
        return Text(bundled_text(), "bundled (the Python reference manual's topics, pydoc_data)")
    raise ValueError(f"--source {source!r}: expected one of {', '.join(SOURCES)}.")


def split(text: str, fraction: float = TRAIN_FRACTION) -> tuple[str, str]:
    """(train, validation): the first `fraction` of the characters, then the rest (nanoGPT's split)."""
    cut = int(len(text) * fraction)
    return text[:cut], text[cut:]


class Unigram:
    """Character frequencies of the training text, add-one smoothed over its alphabet plus one unknown."""

    def __init__(self, train: str):
        self.counts = collections.Counter(train)
        self.total = len(train)
        self.size = len(self.counts) + 1

    def nats_per_char(self, text: str) -> float:
        logp = sum(math.log((self.counts.get(c, 0) + 1) / (self.total + self.size)) for c in text)
        return -logp / len(text)


class KneserNey:
    """Interpolated Kneser-Ney character n-gram model (Chen & Goodman 1998, one discount D per order), trained on
    `train`: the highest order uses counts, lower orders continuation counts (how many different characters
    precede a context), down to a uniform distribution over the alphabet plus one unknown character, so every
    probability is positive and each distribution sums to one."""

    def __init__(self, train: str, order: int = 5, discount: float = 0.75):
        if order < 1:
            raise ValueError(f"n-gram order {order}: expected at least 1.")
        self.order, self.discount = order, discount
        self.vocab = sorted(set(train))
        self.size = len(self.vocab) + 1
        top = collections.Counter(train[i:i + order] for i in range(len(train) - order + 1))
        self.counts: dict[int, collections.Counter] = {order: top}
        for n in range(order - 1, 0, -1):  # continuation counts: distinct left neighbours of each n-gram
            self.counts[n] = collections.Counter(gram[1:] for gram in self.counts[n + 1])
        self.totals: dict[int, collections.Counter] = {}
        self.types: dict[int, collections.Counter] = {}
        for n, table in self.counts.items():
            totals, types = collections.Counter(), collections.Counter()
            for gram, count in table.items():
                totals[gram[:-1]] += count
                types[gram[:-1]] += 1
            self.totals[n], self.types[n] = totals, types

    def probability(self, char: str, history: str) -> float:
        p = 1.0 / self.size
        for n in range(1, self.order + 1):
            if len(history) < n - 1:
                break
            context = history[len(history) - (n - 1):]
            total = self.totals[n].get(context, 0)
            if not total:
                continue  # an unseen context: the lower order's estimate stands
            count = self.counts[n].get(context + char, 0)
            p = max(count - self.discount, 0) / total + self.discount * self.types[n][context] / total * p
        return p

    def nats_per_char(self, text: str, history: str = "") -> float:
        """Mean -log p over `text`, each character given the (order - 1) before it (the first ones given
        `history`, e.g. the end of the training text)."""
        full = history[-(self.order - 1):] + text if self.order > 1 else text
        offset = len(full) - len(text)
        logp = sum(math.log(self.probability(full[i], full[max(0, i - self.order + 1):i]))
                   for i in range(offset, len(full)))
        return -logp / len(text)


def encode(text: str, vocab: list[str]) -> np.ndarray:
    """Character ids (index in `vocab`, 0 for a character outside it: vocab[0] is the unknown marker)."""
    index = {c: i for i, c in enumerate(vocab)}
    return np.fromiter((index.get(c, 0) for c in text), dtype="int32", count=len(text))
