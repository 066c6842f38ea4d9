"""What options and served inputs may be, checked without TensorFlow (so a pipeline's options are checked, and its
--help printed, before TensorFlow loads): the recurrent stack's spec in its compact command-line form
(`bigru:64x2:0.2`; shared.layers builds the Keras layers from it), the decoder cells, and value limits shared by
the command line, the exports and the server.

Notebook:
    spec = specs.parse_spec("bigru:64x2")   # RNNSpec(kind="gru", units=(64, 64), bidirectional=True)
    str(spec)                                # "bigru:64x2"
    specs.limit_problems({"length": 5000}, {"length": {"max": 1024}}, options=True)   # ["--length = 5000 is ..."]
"""

from __future__ import annotations

import dataclasses
import re

import numpy as np

KINDS = ("gru", "lstm", "simple")  # shared.layers builds keras.layers.GRU, LSTM and SimpleRNN
DECODER_KINDS = ("gru", "lstm")  # the attentive decoders' cells (shared.seq2seq)
_SPEC_RE = re.compile(r"^(?P<bi>bi)?(?P<kind>[a-z]+):(?P<units>[0-9x,]+)(?::(?P<dropout>[0-9.]+))?$")


@dataclasses.dataclass(frozen=True)
class RNNSpec:
    """What recurrent stack to build.

    kind: "simple" | "lstm" | "gru"; units: units of each layer, bottom to top (depth = len(units));
    bidirectional: wrap every layer in `Bidirectional` (concatenated outputs);
    dropout: input dropout of every layer (cuDNN-compatible; recurrent dropout is deliberately absent);
    return_sequences: whether the top layer returns the whole sequence (lower layers always do).
    """

    kind: str = "lstm"
    units: tuple[int, ...] = (64,)
    bidirectional: bool = False
    dropout: float = 0.0
    return_sequences: bool = False

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(
                f"RNNSpec(kind={self.kind!r}): expected one of {list(KINDS)}; "
                "for a custom cell build keras.layers.RNN directly."
            )
        if isinstance(self.units, int):
            object.__setattr__(self, "units", (self.units,))
        units = tuple(self.units)
        object.__setattr__(self, "units", units)
        if not units or any(not isinstance(u, int) or isinstance(u, bool) or u < 1 for u in units):
            raise ValueError(f"RNNSpec(units={units!r}): need one or more positive integers, e.g. (64,) or (128, 64).")
        if not 0.0 <= float(self.dropout) < 1.0:
            raise ValueError(f"RNNSpec(dropout={self.dropout!r}): expected 0 <= dropout < 1.")

    @property
    def depth(self) -> int:
        return len(self.units)

    @property
    def output_units(self) -> int:
        """Features of the top layer's output (doubled when bidirectional)."""
        return self.units[-1] * (2 if self.bidirectional else 1)

    def __str__(self) -> str:
        if len(set(self.units)) == 1:
            units = f"{self.units[0]}" + (f"x{self.depth}" if self.depth > 1 else "")
        else:
            units = ",".join(str(u) for u in self.units)
        text = f"{'bi' if self.bidirectional else ''}{self.kind}:{units}"
        return text + (f":{self.dropout:g}" if self.dropout else "")


def parse_spec(text: str, *, return_sequences: bool = False) -> RNNSpec:
    """Parse the compact command-line form, e.g. "lstm:64", "bigru:128x2", "simple:32", "lstm:128,64:0.2".

    `str(parse_spec(s))` gives the canonical form back; `parse_spec(str(spec)) == spec`.
    """
    match = _SPEC_RE.match(text.strip().lower()) if isinstance(text, str) else None
    if match is None:
        raise ValueError(
            f"RNN spec {text!r} is not of the form [bi]KIND:UNITS[xDEPTH][:DROPOUT] with KIND in {list(KINDS)}; "
            "examples: 'lstm:64', 'bigru:128x2', 'simple:32', 'lstm:128,64', 'bilstm:64x2:0.2'."
        )
    units_text = match["units"]
    try:
        if "x" in units_text:
            size, depth = units_text.split("x")
            units = (int(size),) * int(depth)
        else:
            units = tuple(int(u) for u in units_text.split(","))
        dropout = float(match["dropout"]) if match["dropout"] else 0.0
    except ValueError:
        raise ValueError(
            f"RNN spec {text!r}: units must be 'N', 'NxDEPTH' or 'N,N,...' and dropout a number; e.g. 'bigru:128x2:0.2'."
        ) from None
    if "x" in units_text and len(units) == 0:
        raise ValueError(f"RNN spec {text!r}: depth must be at least 1.")
    return RNNSpec(match["kind"], units, bool(match["bi"]), dropout, return_sequences)


def limit_problems(values: dict, limits: dict, options: bool = False) -> list[str]:
    """What breaks `limits` ({input: {"min", "max", "why"}}: the ranges a signature's values must keep, the same
    as the command line's options; export metadata "input_limits" per signature) in `values` ({input: number or
    array}), one line each naming the input (as a command-line option with `options`), the range and the value.
    "min"/"max" are numbers, or lists along the input's last axis (a range per feature). The server refuses a
    request with them; a pipeline's Config or predict checks the same limits."""
    problems = []
    for name, limit in limits.items():
        if name not in values:
            continue
        if limit.get("utf8"):  # a text input: every string UTF-8
            for item in np.asarray(values[name], dtype=object).reshape(-1):
                if isinstance(item, bytes) and not _is_utf8(item):
                    problems.append(f"input {name!r} is not UTF-8 text ({item[:12]!r}...); {limit['why']}")
                    break
            continue
        given = np.asarray(values[name])
        array = given.astype(float)
        low = np.asarray(limit.get("min", -np.inf), dtype=float)
        high = np.asarray(limit.get("max", np.inf), dtype=float)
        try:
            low, high = np.broadcast_to(low, array.shape), np.broadcast_to(high, array.shape)
        except ValueError:
            continue  # a shape the signature refuses anyway, with its own message
        with np.errstate(invalid="ignore"):
            bad = np.flatnonzero((~((array >= low) & (array <= high))).reshape(-1))  # NaN is outside every range
        if bad.size:
            i = bad[0]
            shown = f"--{name.replace('_', '-')}" if options else f"input {name!r}"
            per_feature = np.ndim(limit.get("min", 0)) or np.ndim(limit.get("max", 0))
            where = f" (feature {np.unravel_index(i, array.shape)[-1]})" if per_feature else ""
            problems.append(f"{shown}{where} = {_number(given.reshape(-1)[i])} is outside [{low.reshape(-1)[i]:.10g}, "
                            f"{high.reshape(-1)[i]:.10g}]" + (f" ({limit['why']})" if limit.get("why") else ""))
    return problems


UTF8 = {"utf8": True, "why": "send text encoded as UTF-8"}  # input_limits of a text input


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _number(value) -> str:
    """A value as its own precision says it: float32 to 7 significant digits (1e+30, not 1.000000015e+30), other
    numbers to 10 (100.0001, not 100)."""
    return f"{float(value):.7g}" if np.asarray(value).dtype == np.float32 else f"{float(value):.10g}"


# Where exports go and how large a request body may be: read by the command lines before TensorFlow loads (the
# server's --help answers at once), used by shared.export and shared.serving.
SAVED_MODELS = "saved_models"
MAX_BODY_BYTES = 32 * 1024 * 1024
