"""Property-based tests (hypothesis): random, extreme and malformed values - request bodies for every kind of served
input, and every option of every pipeline's command line - give a clear refusal or a checked answer, never a
traceback, a 500 or a number computed from garbage."""

import asyncio
import contextlib
import dataclasses
import importlib
import io
import json

import numpy as np
import pytest
import tensorflow as tf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared import cli, pipeline, serving

# the kinds of input the exports' signatures take (shapes and dtypes as in docs/serving.md's table)
SPECS = {
    "window": tf.TensorSpec((None, 5, 6), tf.float32),         # weather, stock
    "text": tf.TensorSpec((None,), tf.string),                  # sentiment, translation, textgen prompt
    "beats": tf.TensorSpec((None, 5, 252), tf.float32),         # ECG
    "length": tf.TensorSpec((), tf.int32),                      # textgen, music (scalars)
    "value": tf.TensorSpec((None,), tf.float32),                # ICU
    "flag": tf.TensorSpec((None,), tf.bool),
}
EXTREME = st.sampled_from([0.0, -0.0, 1e-45, 3.4e38, 3.5e38, -3.5e38, 1e39, 1e308, 2**31, 2**31 - 1, -2**31 - 1,
                           2**63, 20.9, True, False, float("nan"), float("inf")])
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(allow_nan=True), EXTREME,
                    st.text(max_size=8), st.binary(max_size=8).map(lambda b: {"b64": b.hex()}))
JSON = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=6),
                                                    st.dictionaries(st.text(max_size=6), inner, max_size=4)),
                    max_leaves=40)


def _check_array(name, array, spec):
    assert spec.shape.is_compatible_with(array.shape), (name, array.shape)
    assert array.dtype == spec.dtype.as_numpy_dtype or spec.dtype == tf.string
    if array.dtype.kind == "f":
        assert np.isfinite(array).all()  # NaN, inf and float32 overflow (1e39) never get through
    if spec.shape.rank:
        assert array.shape[0] > 0


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(sorted(SPECS)), value=JSON)
def test_any_value_for_any_input_is_an_array_the_signature_takes_or_a_400(name, value):
    spec = SPECS[name]
    try:
        array = serving.as_array(name, value, spec)
    except serving.RequestError as error:
        assert error.status == 400 and "\n" not in str(error) and name in str(error)
    else:
        _check_array(name, array, spec)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=st.one_of(JSON, st.dictionaries(st.sampled_from(["instances", "inputs", "signature_name"]), JSON,
                                            max_size=3)),
       names=st.lists(st.sampled_from(sorted(SPECS)), min_size=1, max_size=3, unique=True))
def test_any_request_body_gives_inputs_or_a_4xx(body, names):
    specs = {k: SPECS[k] for k in names}
    try:
        arrays, _ = serving._inputs(body, specs)
    except serving.RequestError as error:
        assert 400 <= error.status < 500 and "\n" not in str(error)
    else:
        assert set(arrays) == set(specs)
        for name, array in arrays.items():
            _check_array(name, array, specs[name])


class _Body:
    """What read_json reads: a Starlette request's headers and body stream."""

    def __init__(self, data: bytes):
        self.headers, self.data = {"content-length": str(len(data))}, data

    async def stream(self):
        for i in range(0, len(self.data), 7):
            yield self.data[i:i + 7]


@settings(max_examples=300, deadline=None)
@given(data=st.one_of(st.binary(max_size=200), JSON.map(lambda v: json.dumps(v).encode()),
                      st.integers(1, 3000).map(lambda n: b"[" * n + b"]" * n),
                      st.integers(1, 3000).map(lambda n: b'{"a":' * n + b"1" + b"}" * n)))
def test_any_bytes_are_json_or_a_4xx(data):
    try:
        asyncio.run(serving.read_json(_Body(data), limit=10_000))
    except serving.RequestError as error:
        assert 400 <= error.status < 500 and "\n" not in str(error)


def _options():
    """(pipeline, option name, its Config field) of every option of every pipeline."""
    out = []
    for name in pipeline.PIPELINES:
        module = importlib.import_module(f"pipelines.{name}")
        out += [(module, f) for f in dataclasses.fields(module.Config) if f.name not in ("run_dir", "data_dir")]
    return out


OPTIONS = _options()
OPTION_VALUES = st.one_of(st.text(max_size=12), st.sampled_from(["0", "-1", "1e309", "nan", "inf", "-inf", "1e-320",
                                                                 "99999999999999999999", "3.5", "", " ", "true",
                                                                 "gru:0", "bigru:8x0", "lstm:-4", "\x00", "é"]))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(option=st.sampled_from(OPTIONS), value=OPTION_VALUES)
def test_any_option_value_is_taken_or_refused_in_one_line(option, value):
    """Every option of every pipeline, given any text: a Config that passes its own checks, or argparse's one-line
    usage error (exit 2) naming the problem - never a traceback."""
    module, field = option
    flag = f"--{field.name.replace('_', '-')}"
    argv = ["train", flag] if field.type in ("bool", bool) else ["train", flag, value]
    stderr = io.StringIO()
    try:
        with contextlib.redirect_stderr(stderr):
            _, cfg, _ = cli.parse(module.Config, argv, prog=module.NAME)
    except SystemExit as done:
        assert done.code == 2
        err = stderr.getvalue().strip().splitlines()
        assert err[-1].startswith(f"{module.NAME}: error: ") and "Traceback" not in "\n".join(err)
    else:
        assert isinstance(cfg, module.Config)
        got = getattr(cfg, field.name)
        if isinstance(got, float):
            assert np.isfinite(got), (module.NAME, field.name, value)  # nan/inf never become an option's value


@pytest.mark.parametrize("value", ["", "   ", "\x00", "@", "@/no/such/file", "a" * 100_001,
                                   b"caf\xe9".decode("utf-8", "surrogateescape")])  # Latin-1 bytes in argv
def test_text_inputs_are_text_or_refused_in_one_line(value):
    try:
        text = cli.text_input(value)
    except (ValueError, OSError) as error:
        assert "\n" not in str(error)[:500]
    else:
        assert isinstance(text, str) and text.strip()


@pytest.mark.parametrize("value, spec, words", [
    ([True, False], tf.TensorSpec((None,), tf.float32), "numbers, not true/false"),  # true is not 1.0
    (True, tf.TensorSpec((), tf.int32), "numbers, not true/false"),
    ([1.0], tf.TensorSpec((None,), tf.bool), "expected true/false"),
    ({"x": 1}, tf.TensorSpec((None,), tf.float32), "input 'value': unexpected object"),
])
def test_values_of_the_wrong_kind_are_named(value, spec, words):
    with pytest.raises(serving.RequestError, match=words):
        serving.as_array("value", value, spec)
