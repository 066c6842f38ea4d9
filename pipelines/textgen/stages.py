"""The stages of the textgen pipeline (pipelines.textgen holds its options and the story): data -> datasets -> model ->
training -> evaluation -> export -> predict -> report."""

from __future__ import annotations

import dataclasses
import logging
import math
import pathlib
import time

import keras
import numpy as np
import tensorflow as tf

from domain import sources as domain_sources
from domain import textgen as text_data
from pipelines.textgen import LIMITS, MAX_PROMPT, NAME, Config
from shared import checkpoints, cli, layers, reports, specs, streaming, training
from shared import export as shared_export

log = logging.getLogger(__name__)
UNKNOWN = "\ufffd"  # vocabulary entry 0: a character the training text never had
STOP_FRACTION = 0.05  # the start of the training part, watched by early stopping (the validation split is kept apart)
ANCHORS = {"nanoGPT README, CPU configuration (Transformer, 4 layers, n_embd 128, ~3 min on a laptop)":
           {"validation nats/char": 1.88},
           "nanoGPT README, 6-layer GPT (n_embd 384, one A100, ~3 min)": {"validation nats/char": 1.4697}}


@dataclasses.dataclass
class Corpus:
    """The text split three ways (training, the early-stopping tail of it, validation) and the vocabulary."""

    train: str
    stop: str
    validation: str
    vocab: list[str]
    source: str

    def ids(self, text: str) -> np.ndarray:
        return text_data.encode(text, self.vocab)


def load_data(cfg: Config) -> Corpus:
    default = domain_sources.data_folder("tinyshakespeare")
    folder = cfg.data_dir or (str(default) if (default / text_data.FILE).exists() else "")
    source = domain_sources.resolve_auto(cfg.source, bool(folder), remote="download",
                                         host="raw.githubusercontent.com", offline="bundled", given=cfg.data_dir)
    loaded = text_data.load_text(source, folder, cache_dir=pathlib.Path(cfg.data_dir or "data") / "textgen")
    train, validation = text_data.split(loaded.text)
    cut = int(len(train) * STOP_FRACTION)  # early stopping watches the start, so the model trains on the text next
    # to the validation part (measured: a 5-gram model loses 0.17 nats/char on validation without that tail)
    vocab = [UNKNOWN, *sorted(set(train))]
    unseen = sorted(set(validation) - set(train))
    if unseen:
        log.warning("validation holds %d characters the training text never has (%r): scored as unknown",
                    len(unseen), "".join(unseen)[:40])
    log.info("%s: %d characters (early stopping %d + train %d, validation %d), vocabulary %d", loaded.source,
             len(loaded.text), cut, len(train) - cut, len(validation), len(vocab))
    return Corpus(train[cut:], train[:cut], validation, vocab, loaded.source)


def build_network(cfg: Config, vocab_size: int, batch_size: int | None, stateful: bool) -> keras.Model:
    """character ids (batch, time) -> Embedding -> recurrent layers (every step) -> logits (batch, time, vocab)."""
    ids = keras.Input(batch_shape=(batch_size, None), dtype="int32", name="ids")
    x = keras.layers.Embedding(vocab_size, cfg.embed_dim, name="embed")(ids)
    for layer in layers.rnn_layers(layers.parse_spec(cfg.rnn, return_sequences=True), name="rnn"):
        layer.stateful = stateful
        x = layer(x)
    logits = keras.layers.Dense(vocab_size, dtype="float32", name="logits")(x)
    return keras.Model(ids, logits, name="char_rnn")


def build_model(cfg: Config, corpus: Corpus) -> keras.Model:
    """The training network: stateful, batch = cfg.streams (truncated BPTT)."""
    return build_network(cfg, len(corpus.vocab), cfg.streams, stateful=True)


def _streams(cfg: Config, corpus: Corpus, text: str, streams: int | None = None) -> tf.data.Dataset:
    ids = corpus.ids(text)
    return streaming.tbptt_dataset(ids[:-1], ids[1:], streams=streams or cfg.streams,
                                   chunk=min(cfg.chunk, max(1, (len(ids) - 1) // (streams or cfg.streams))))


class _CarryState(keras.callbacks.Callback):
    """Truncated BPTT: every epoch and every evaluation starts its streams from a zero state (training state never
    leaks into validation); training stops when another epoch, at the pace so far, would end past the time budget
    (the first epoch always runs)."""

    def __init__(self, minutes: float):
        super().__init__()
        self.budget, self.start, self.epochs = minutes * 60, time.perf_counter(), 0

    def on_epoch_begin(self, epoch, logs=None):
        streaming.reset(self.model)

    def on_test_begin(self, logs=None):
        streaming.reset(self.model)

    def on_epoch_end(self, epoch, logs=None):
        self.epochs += 1
        spent = time.perf_counter() - self.start
        if spent + spent / self.epochs > self.budget:
            log.info("time budget of %.1f minutes: stopping after epoch %d (%.1f minutes spent)", self.budget / 60,
                     epoch + 1, spent / 60)
            self.model.stop_training = True


def plan(cfg: Config, model: keras.Model, corpus: Corpus) -> training.Plan:
    """Next-character cross-entropy (nats) over `streams` contiguous pieces of the training text, the state
    carried across chunks; early stopping on the held-apart end of the training part."""
    train_ds = _streams(cfg, corpus, corpus.train)
    stop_ds = _streams(cfg, corpus, corpus.stop)
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    return training.Plan(model, train_ds, stop_ds, loss=loss, patience=3, clipnorm=1.0,
                         rates={"samples": len(corpus.train)}, callbacks=[_CarryState(cfg.minutes)])


def nats_per_char(cfg: Config, model: keras.Model, corpus: Corpus, text: str) -> float:
    """Mean next-character cross-entropy over `text`, read as cfg.streams contiguous streams from a zero state."""
    network = build_network(cfg, len(corpus.vocab), cfg.streams, stateful=True)
    network.set_weights(model.get_weights())
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction="sum")
    total, count = 0.0, 0
    for x, y in _streams(cfg, corpus, text):
        total += float(loss(y, network(x, training=False)))
        count += int(np.prod(y.shape))
    return total / count


def evaluate(cfg: Config, model: keras.Model, corpus: Corpus) -> dict:
    """The validation split, touched once: nats/char, bits/char and perplexity of the model and of the unigram
    and Kneser-Ney baselines (trained on the same training characters as the model)."""
    rows = {reports.MODEL: nats_per_char(cfg, model, corpus, corpus.validation),
            "unigram (add-one)": text_data.Unigram(corpus.train).nats_per_char(corpus.validation),
            f"Kneser-Ney {cfg.ngram}-gram": text_data.KneserNey(corpus.train, cfg.ngram).nats_per_char(
                corpus.validation, corpus.train)}
    table = {name: {"nats/char": round(v, 4), "bits/char": round(v / math.log(2), 4),
                    "perplexity": round(math.exp(v), 3)} for name, v in rows.items()}
    generator, prompt = Generator(model, corpus.vocab), corpus.validation[:40]
    samples = {t: generator.generate(tf.constant([prompt]), tf.constant(300), tf.constant(t), tf.constant(0),
                                     tf.constant(1.0), tf.constant(0))["text"].numpy()[0].decode()
               for t in (0.5, 0.8, 1.0)}
    return {"table": table, "validation_chars": len(corpus.validation), "prompt": prompt, "samples": samples}


def summary(cfg: Config, metrics: dict, estimate: dict | None = None) -> dict:
    row = metrics["table"][reports.MODEL]
    kn = metrics["table"][f"Kneser-Ney {cfg.ngram}-gram"]
    return {"validation nats/char": row["nats/char"], "perplexity": row["perplexity"],
            "Kneser-Ney nats/char": kn["nats/char"]}


def load_trained(cfg: Config) -> keras.Model:
    return checkpoints.load_checkpoint(cfg.run_dir, NAME)


# ------------------------------------------------------------------------------------------------- generation

def step_model(model: keras.Model) -> keras.Model:
    """The trained weights as a stateless step: (ids (batch, time), mask (batch, time), *states) -> (logits (batch,
    time, vocab), *states after the last unmasked step). Any batch size; the state goes in and out explicitly."""
    embed, dense = model.get_layer("embed"), model.get_layer("logits")
    ids = keras.Input((None,), dtype="int32", name="ids")
    mask = keras.Input((None,), dtype="bool", name="mask")
    x, states_in, states_out = layers.with_explicit_state(embed(ids), model, mask=mask)
    return keras.Model([ids, mask, *states_in], [dense(x), *states_out], name="char_rnn_step")


def sample(logits: tf.Tensor, temperature, top_k, top_p, seed) -> tf.Tensor:
    """One character id per row from logits (batch, vocab): temperature (0: greedy), top-k (0: all), top-p
    (nucleus), the unknown marker never chosen; seeded (stateless)."""
    vocab = tf.shape(logits)[-1]
    logits = tf.concat([tf.fill([tf.shape(logits)[0], 1], -1e9), logits[:, 1:]], axis=1)
    greedy = tf.argmax(logits, axis=-1, output_type=tf.int32)
    scaled = logits / tf.maximum(temperature, 1e-6)
    k = tf.where(top_k > 0, tf.minimum(top_k, vocab), vocab)
    kth = tf.math.top_k(scaled, k).values[:, -1:]
    scaled = tf.where(scaled < kth, -1e9, scaled)
    ordered = tf.sort(scaled, direction="DESCENDING", axis=-1)
    before = tf.cumsum(tf.nn.softmax(ordered), axis=-1, exclusive=True)
    keep = tf.reduce_sum(tf.cast(before < top_p, tf.int32), axis=-1, keepdims=True)  # at least the likeliest
    threshold = tf.gather(ordered, tf.maximum(keep, 1) - 1, batch_dims=1)
    scaled = tf.where(scaled < threshold, -1e9, scaled)
    drawn = tf.cast(tf.random.stateless_categorical(scaled, 1, seed=seed)[:, 0], tf.int32)
    return tf.where(temperature <= 0, greedy, drawn)


class Generator(tf.Module):
    """The exported graph: `generate` (prompt strings -> generated strings, the sampling loop inside) and `step`
    (one character and a state in, next-character probabilities and the new state out)."""

    def __init__(self, model: keras.Model, vocab: list[str]):
        super().__init__()
        self.step_net = step_model(model)
        self.sizes = [int(s.shape[-1]) for s in self.step_net.inputs[2:]]
        self.chars = tf.constant(vocab)
        self.table = tf.lookup.StaticHashTable(tf.lookup.KeyValueTensorInitializer(
            tf.constant(vocab[1:]), tf.range(1, len(vocab), dtype=tf.int32)), default_value=0)
        self.start = vocab.index("\n") if "\n" in vocab else 1  # generation starts as if after a line break

    def _run(self, ids, mask, states):
        out = self.step_net([ids, mask, *states], training=False)
        return out[0], list(out[1:])

    @tf.function(input_signature=[tf.TensorSpec((None,), tf.string, name="prompt"),
                                  tf.TensorSpec((), tf.int32, name="length"),
                                  tf.TensorSpec((), tf.float32, name="temperature"),
                                  tf.TensorSpec((), tf.int32, name="top_k"),
                                  tf.TensorSpec((), tf.float32, name="top_p"),
                                  tf.TensorSpec((), tf.int32, name="seed")])
    def generate(self, prompt, length, temperature, top_k, top_p, seed):
        chars = tf.strings.unicode_split(prompt, "UTF-8", errors="replace")
        longest = tf.reduce_max(tf.concat([chars.row_lengths(), [0]], 0))
        with tf.control_dependencies([tf.debugging.Assert(longest <= MAX_PROMPT, [tf.strings.join([
                "input 'prompt' holds ", tf.strings.as_string(longest), f" characters; at most {MAX_PROMPT} per "
                "request (each is a step of the network: bounded work); send the end of a longer text"])])]):
            chars = tf.identity(chars)
        ids = self.table.lookup(chars)
        unknown = tf.reduce_sum(tf.cast(ids == 0, tf.int32), axis=1)
        ids = tf.ragged.boolean_mask(ids, ids > 0)  # characters outside the vocabulary are left out (counted)
        batch = tf.shape(prompt)[0]
        ids = tf.concat([tf.fill([batch, 1], self.start), ids], axis=1)
        lengths = ids.row_lengths()
        padded = ids.to_tensor(0)
        mask = tf.sequence_mask(lengths, tf.shape(padded)[1])
        states = [tf.zeros([batch, size]) for size in self.sizes]
        logits, states = self._run(padded, mask, states)
        logits = tf.gather(logits, tf.cast(lengths - 1, tf.int32), batch_dims=1)
        length = tf.maximum(length, 0)
        written = tf.TensorArray(tf.int32, size=length + 1)  # one spare row, so that length 0 still stacks
        ones = tf.ones([batch, 1], tf.bool)
        for i in tf.range(length):
            nxt = sample(logits, temperature, top_k, top_p, tf.stack([seed, i]))
            written = written.write(i, nxt)
            logits, states = self._run(nxt[:, None], ones, states)
            logits = logits[:, 0]
        generated = tf.transpose(written.write(length, tf.zeros([batch], tf.int32)).stack()[:-1], [1, 0])
        return {"text": tf.strings.reduce_join(tf.gather(self.chars, generated), axis=1),
                "unknown_chars": unknown}

    @tf.function(input_signature=[tf.TensorSpec((None,), tf.string, name="char"),
                                  tf.TensorSpec((None, None), tf.float32, name="state")])
    def step(self, char, state):
        size = sum(self.sizes)
        with tf.control_dependencies([tf.debugging.Assert(tf.equal(tf.shape(state)[1], size), [tf.strings.join([
                "input 'state' has ", tf.strings.as_string(tf.shape(state)[1]), f" columns; the state of this model has "
                f"{size} (metadata state_size): start from zeros of that size and send back the state it returns"])])]):
            state = tf.identity(state)
        ids = self.table.lookup(tf.strings.substr(char, 0, 1, unit="UTF8_CHAR"))[:, None]
        states = tf.split(state, self.sizes, axis=1)
        logits, states = self._run(ids, tf.ones_like(ids, tf.bool), states)
        return {"probabilities": tf.nn.softmax(logits[:, 0]), "state": tf.concat(states, axis=1)}


def export(cfg: Config, model: keras.Model, corpus: Corpus, metrics: dict,
           root: str | pathlib.Path = shared_export.DEFAULT_ROOT) -> pathlib.Path:
    """serving_default(prompt [batch] string, length, temperature, top_k, top_p, seed: scalars) -> text [batch]
    (the continuation), unknown_chars [batch] (prompt characters outside the vocabulary, left out); second
    signature `step`(char [batch] string, state [batch, state size] float32, zeros to start) -> probabilities
    [batch, vocab], state: streaming one character at a time."""
    generator = Generator(model, corpus.vocab)
    meta = {"config": cfg, "source": corpus.source, "metrics": metrics, "vocabulary": corpus.vocab,
            "state_size": sum(generator.sizes), "input_limits": {"serving_default": {**LIMITS, "prompt": specs.UTF8},
                                                                 "step": {"char": specs.UTF8}}}
    return shared_export.save(generator.step_net, NAME, serve_fn=generator.generate, metadata=meta, root=root,
                              also_track=(generator,), extra_endpoints={"step": (generator.step, None)})


def predict(cfg: Config, prompt: str, model_path: str | pathlib.Path | None = None) -> dict:
    """A continuation of `prompt` (or @file) by the exported model, with cfg's length, temperature, top-k, top-p
    and seed."""
    served, _ = shared_export.load(model_path or shared_export.latest(NAME), NAME)
    prompt = cli.text_input(prompt)
    if len(prompt) > MAX_PROMPT:
        raise ValueError(f"the prompt holds {len(prompt)} characters; at most {MAX_PROMPT} per request (each is a "
                         "step of the network: bounded work); give the end of a longer text.")
    out = served.signatures["serving_default"](
        prompt=tf.constant([prompt]), length=tf.constant(cfg.length), temperature=tf.constant(cfg.temperature),
        top_k=tf.constant(cfg.top_k), top_p=tf.constant(cfg.top_p), seed=tf.constant(cfg.sample_seed))
    unknown = int(out["unknown_chars"].numpy()[0])
    if unknown:
        log.warning("%d prompt characters are outside the model's vocabulary and were left out", unknown)
    return {"prompt": prompt, "text": out["text"].numpy()[0].decode(), "unknown_chars": unknown}


def build_report(cfg: Config, corpus: Corpus, metrics: dict,
                 timing: dict, estimate: dict | None = None) -> reports.Report:
    table = metrics["table"]
    mine, kn = table[reports.MODEL]["nats/char"], table[f"Kneser-Ney {cfg.ngram}-gram"]["nats/char"]
    verdict = (f"Validation {mine:.3f} nats/char against the Kneser-Ney {cfg.ngram}-gram's {kn:.3f}: "
               + ("the recurrent model is better." if mine < kn else
                  "**the recurrent model does not beat its n-gram baseline** (more training time or a larger "
                  "model would be needed; see the training curves).")
               + f" The nanoGPT CPU recipe's 1.88 is {'beaten' if mine < 1.88 else 'not reached'}"
               + (f"; the 6-layer GPU Transformer's 1.4697 is {mine - 1.4697:+.3f} away." if mine >= 1.4697 else "."))
    sections = {"Split": f"the first {len(corpus.stop):,} characters watched by early stopping, the next "
                         f"{len(corpus.train):,} train, validation the last 10% ({len(corpus.validation):,}, touched "
                         "once; the baselines are trained on the same training characters); "
                         f"vocabulary {len(corpus.vocab) - 1} characters + unknown",
                "Protocol": f"truncated BPTT: {cfg.streams} streams x {cfg.chunk} characters, state carried across "
                            f"chunks, reset every epoch; time budget {cfg.minutes} minutes",
                "Verdict": verdict,
                "Samples": f"prompt {metrics['prompt']!r}, seed 0, 300 characters (the exported graph's sampler)\n\n"
                           + "\n\n".join(f"temperature {t}:\n\n```\n{s}\n```" for t, s in
                                         metrics["samples"].items())}
    return reports.Report(domain=NAME, source=corpus.source, metrics=table[reports.MODEL],
                          baselines=reports.shown(table, reports.model_name(cfg.rnn)), anchors=ANCHORS, timing=timing, sections=sections,
                          extra={"config": dataclasses.asdict(cfg)})

