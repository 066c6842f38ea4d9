"""The text form that tokenization, BLEU references and decoded outputs share (translation, captioning), in plain
Python: domain code and reports use it without importing TensorFlow; shared.seq2seq's graph version follows it.

Notebook:
    text.normalize("Ça va, Tom-là ?")   # "ça va tom là"
"""

from __future__ import annotations

import re

START, END = "[start]", "[end]"  # the sequence markers, kept by `normalize`
_PUNCTUATION = re.compile(r"[^\w\s'\[\]]")


def normalize(text: str) -> str:
    """Lower case, hyphens and punctuation to spaces (apostrophes and the [start]/[end] brackets kept), single
    spaces."""
    return " ".join(_PUNCTUATION.sub(" ", text.lower().replace("-", " ")).split())
