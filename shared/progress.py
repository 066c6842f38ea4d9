"""Progress for long steps outside `fit` (reading records, synthesis, decoding, benchmarks): tqdm (installed with
tensorflow-datasets) on stderr, so stdout stays the command's result; in notebooks tqdm.auto draws a widget where
ipywidgets is installed, else text. RNN_PROGRESS=0 turns it off."""

from __future__ import annotations

import os
from collections.abc import Iterable


def progress(items: Iterable, description: str, total: int | None = None, unit: str = "it") -> Iterable:
    from tqdm.auto import tqdm

    return tqdm(items, desc=description, total=total, unit=unit, leave=False, mininterval=1.0,
                disable=os.environ.get("RNN_PROGRESS") == "0")
