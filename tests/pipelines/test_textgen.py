import dataclasses
import json
import re

import numpy as np
import pytest
import tensorflow as tf

from pipelines import textgen
from shared import export
from tests.conftest import run_quick


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    return run_quick(textgen, tmp_path_factory.mktemp("textgen"))


def _generate(served, prompt, length=30, temperature=0.8, top_k=0, top_p=1.0, seed=0):
    out = served.signatures["serving_default"](
        prompt=tf.constant(prompt), length=tf.constant(length), temperature=tf.constant(temperature),
        top_k=tf.constant(top_k), top_p=tf.constant(top_p), seed=tf.constant(seed))
    return [t.decode() for t in out["text"].numpy()], out["unknown_chars"].numpy().tolist()


def test_quick_run_reports_the_baselines_on_the_validation_split(quick_run):
    cfg, root, result = quick_run
    report = json.loads((root / "run" / "report.json").read_text())
    rows = report["baselines"]
    assert set(rows) == {f"this model ({cfg.rnn})", "unigram (add-one)", "Kneser-Ney 3-gram"}
    for row in rows.values():
        assert row["perplexity"] == pytest.approx(np.exp(row["nats/char"]), rel=1e-3)
    assert result["validation nats/char"] < rows["unigram (add-one)"]["nats/char"]  # it learned something
    assert "nanoGPT" in json.dumps(report["anchors"]) and "temperature 0.5" in (root / "run" / "report.md").read_text()
    assert "Verdict" in (root / "run" / "report.md").read_text()


def test_served_generation_is_seeded_greedy_matches_the_step_signature_and_top_k_1_is_greedy(quick_run):
    cfg, root, result = quick_run
    served, meta = export.load(result["export"], "textgen")
    texts, unknown = _generate(served, ["The ", "x"], seed=3)
    assert _generate(served, ["The ", "x"], seed=3)[0] == texts  # same seed, same text
    assert _generate(served, ["The ", "x"], seed=4)[0] != texts
    assert [len(t) for t in texts] == [30, 30] and unknown == [0, 0]
    greedy = _generate(served, ["The "], temperature=0.0)[0][0]
    assert _generate(served, ["The "], temperature=1.0, top_k=1)[0][0] == greedy
    assert _generate(served, ["The "], temperature=1.0, top_p=1e-6)[0][0] == greedy
    # the streaming step signature, fed the same characters one at a time, picks the same greedy characters
    step = served.signatures["step"]
    vocab = meta["vocabulary"]
    state = tf.zeros([1, meta["state_size"]])
    for char in "\nThe ":
        out = step(char=tf.constant([char]), state=state)
        state = out["state"]
    chosen = ""
    for _ in range(len(greedy)):
        probabilities = out["probabilities"].numpy()[0]
        probabilities[0] = 0  # the unknown marker is never generated
        chosen += vocab[int(np.argmax(probabilities))]
        out = step(char=tf.constant([chosen[-1]]), state=out["state"])
    assert chosen == greedy
    with pytest.raises(tf.errors.InvalidArgumentError, match=f"has 3 columns; the state of this model has {meta['state_size']}"):
        step(char=tf.constant(["a"]), state=tf.zeros([1, 3]))
    with pytest.raises(tf.errors.InvalidArgumentError, match="inputs .+char.+ and .+state.+ hold 2 and 1 rows"):
        step(char=tf.constant(["a", "b"]), state=tf.zeros([1, meta["state_size"]]))


def test_prompts_outside_the_vocabulary_and_empty_prompts(quick_run, tmp_path):
    cfg, root, result = quick_run
    served, _ = export.load(result["export"], "textgen")
    texts, unknown = _generate(served, ["日本語 def", "", "\U0001f600"], length=10)
    assert unknown == [3, 0, 1] and all(len(t) == 10 for t in texts)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"length\\?' = 0 is outside \[1, 10000\]"):
        _generate(served, ["abc"], length=0)  # the graph refuses what the command line refuses
    with pytest.raises(tf.errors.InvalidArgumentError, match="prompt.' holds 10001 characters; at most 10000"):
        _generate(served, ["x", "é" * 10_001], length=1)  # bounded work per request, counted in characters
    with pytest.raises(ValueError, match="the prompt holds 10001 characters"):
        textgen.predict(cfg, "a" * 10_001, result["export"])
    (tmp_path / "prompt.txt").write_text("class Foo")
    out = textgen.predict(dataclasses.replace(cfg, length=12), f"@{tmp_path / 'prompt.txt'}", result["export"])
    assert out["prompt"] == "class Foo" and len(out["text"]) == 12


def test_truncated_bptt_carries_the_state_so_streaming_equals_one_pass(quick_run):
    """The stateful training network fed a text chunk by chunk gives the same logits as the step model on the
    whole text at once: the state really is carried across chunks."""
    cfg, root, _ = quick_run
    model = textgen.load_trained(cfg)
    corpus = textgen.load_data(cfg)
    ids = corpus.ids(corpus.validation[:96])[None].repeat(cfg.streams, axis=0)
    textgen.streaming.reset(model)
    chunks = [model(ids[:, i:i + 32], training=False).numpy() for i in range(0, 96, 32)]
    step = textgen.step_model(model)
    states = [np.zeros((cfg.streams, int(s.shape[-1])), "float32") for s in step.inputs[2:]]
    whole = step([ids, np.ones_like(ids, bool), *states])[0].numpy()
    np.testing.assert_allclose(np.concatenate(chunks, axis=1), whole, atol=1e-4)


def test_bad_options_are_refused():
    for bad in ({"rnn": "bigru:8"}, {"top_p": 0.0}, {"temperature": -1.0}, {"minutes": 0.0}, {"streams": 0}):
        with pytest.raises(ValueError):
            dataclasses.replace(textgen.Config(), **bad)
    for bad, says in (({"length": 0}, "--length = 0 is outside [1, 10000]"), ({"length": 100_000_000}, "--length = 100000000 is outside [1, 10000]"),
                      ({"top_p": 5.0}, "--top-p = 5 is outside"), ({"top_k": -3}, "--top-k = -3 is outside"),
                      ({"temperature": 100.0001}, "--temperature = 100.0001 is outside [0, 100]")):
        with pytest.raises(ValueError, match=re.escape(says)):
            dataclasses.replace(textgen.Config(), **bad)
