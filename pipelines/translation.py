"""Machine translation: English -> French with an RNN encoder-decoder and attention. Source tokens -> bidirectional
GRU encoder -> GRU decoder with additive (Bahdanau) attention over the encoder states, teacher forcing and a loss
averaged over real tokens; greedy and beam-search decoding; exported so that a string goes in and a string comes out.

Notebook:
    cfg = dataclasses.replace(translation.Config(), source="numbers", epochs=3)
    pairs = translation.load_data(cfg); net = translation.build_model(cfg, pairs.train)
    translation.train(cfg, net, pairs); translation.translate(net, ["ninety-seven"])
"""

from __future__ import annotations

import dataclasses
import json
import logging
import pathlib
import time

import keras
import numpy as np
import tensorflow as tf

from domain import sources as domain_sources
from domain import translation as pair_data
from shared import cli, data, decoding, layers, reports, training
from shared import export as shared_export

log = logging.getLogger(__name__)
NAME = "translation"
START, END = "[start]", "[end]"
VOCABULARY_FILE = "vocabulary.json"


@dataclasses.dataclass(frozen=True)
class Config:
    source: str = "auto"         # auto | local (--data-dir with train.tsv) | download (manythings) | numbers
    data_dir: str = ""
    rnn: str = "bigru:128"       # encoder (shared.layers spec); the decoder is a GRU of `units`
    units: int = 256             # decoder GRU and attention size
    embed_dim: int = 128
    vocab_size: int = 8000       # per language, adapted on training pairs only
    max_length: int = 16         # tokens per sentence; longer pairs are left out of training, longer inputs cut
    max_pairs: int = 60_000      # pairs used (after the length filter); the number corpus has this many at most
    beam_width: int = 4
    batch_size: int = 64
    epochs: int = 10
    learning_rate: float = 2e-3
    seed: int = 1337
    run_dir: str = "runs/translation"

    def __post_init__(self):
        layers.parse_spec(self.rnn)
        if self.source not in pair_data.SOURCES:
            raise ValueError(f"--source {self.source!r}: expected one of {list(pair_data.SOURCES)}.")
        if min(self.units, self.embed_dim, self.beam_width) < 1 or self.vocab_size < 8 or self.max_length < 2:
            raise ValueError("need --units, --embed-dim, --beam-width >= 1, --vocab-size >= 8, --max-length >= 2.")
        if self.max_pairs < 20:
            raise ValueError(f"--max-pairs {self.max_pairs}: need at least 20 pairs.")
        training.check_options(self.batch_size, self.epochs, self.learning_rate)


QUICK = {"source": "numbers", "rnn": "bigru:32", "units": 64, "embed_dim": 32, "max_pairs": 3000, "epochs": 2,
         "beam_width": 2}


@keras.saving.register_keras_serializable(package="rnn_suite")
def standardize_sentence(text: tf.Tensor) -> tf.Tensor:
    """In the model, the same as domain.translation.normalize: lower case, hyphens and punctuation to spaces
    (apostrophes and the [start]/[end] brackets kept)."""
    text = tf.strings.lower(tf.strings.unicode_transcode(text, "UTF-8", "UTF-8", errors="replace"), encoding="utf-8")
    text = tf.strings.regex_replace(text, "-", " ")
    text = tf.strings.regex_replace(text, r"[^\pL\pN_\s'\[\]]", " ")  # RE2's \w is ASCII-only: keep é, à, ç
    return tf.strings.strip(tf.strings.regex_replace(text, r"\s+", " "))


@keras.saving.register_keras_serializable(package="rnn_suite")
def masked_token_loss(y_true, logits):
    """Cross-entropy averaged over real target tokens only (padding id 0 contributes nothing)."""
    y_true = keras.ops.cast(y_true, "int32")
    per_token = keras.losses.sparse_categorical_crossentropy(y_true, logits, from_logits=True)
    mask = keras.ops.cast(keras.ops.not_equal(y_true, 0), per_token.dtype)
    return keras.ops.sum(per_token * mask) / keras.ops.maximum(keras.ops.sum(mask), 1.0)


@dataclasses.dataclass
class Seq2Seq:
    """The trained network and the vectorizers adapted on its training pairs (kept beside the model: the network
    trains on token ids; the exported graph holds all three)."""

    model: keras.Model
    source_vectorizer: keras.layers.TextVectorization
    target_vectorizer: keras.layers.TextVectorization


@dataclasses.dataclass
class TranslationData:
    train: pair_data.Pairs
    validation: pair_data.Pairs
    test: pair_data.Pairs
    source: str
    notes: list[str]


def load_data(cfg: Config) -> TranslationData:
    """Pairs from the source, length-filtered (both sides <= max_length - 2 words), capped at max_pairs,
    split 80/10/10 at random under the seed."""
    source, notes = cfg.source, []
    folder = pathlib.Path(cfg.data_dir) if cfg.data_dir else None
    if source == "auto":
        source = "local" if folder and (folder / "train.tsv").exists() else (
            "download" if domain_sources.reachable("www.manythings.org") else "numbers")
    if source == "numbers":
        pairs = pair_data.number_pairs(cfg.max_pairs, cfg.seed)
        where = f"numbers: num2words English -> French ({len(pairs)} pairs)"
    else:
        if source == "local" and not folder:
            raise FileNotFoundError("--source local needs --data-dir (a folder with train.tsv).")
        path = folder / "train.tsv" if source == "local" else pair_data.download(folder or pathlib.Path("data") / "fra-eng")
        pairs = pair_data.load_tsv(path)
        where = f"{source}: {path}"
    limit = cfg.max_length - 2
    keep = [i for i, (s, t) in enumerate(zip(pairs.sources, pairs.targets, strict=True))
            if len(pair_data.normalize(s).split()) <= limit and len(pair_data.normalize(t).split()) <= limit]
    if len(keep) < len(pairs):
        notes.append(f"{len(pairs) - len(keep)} of {len(pairs)} pairs longer than {limit} words left out")
    order = np.random.default_rng(cfg.seed).permutation(keep)[: cfg.max_pairs]
    pairs = pair_data.Pairs([pairs.sources[i] for i in order], [pairs.targets[i] for i in order])
    rest, test = pair_data.split(pairs, 0.1, cfg.seed)
    train, validation = pair_data.split(rest, 1 / 9, cfg.seed)
    for note in notes:
        log.warning("%s", note)
    log.info("%s: train %d, validation %d, test %d pairs", where, len(train), len(validation), len(test))
    return TranslationData(train, validation, test, where, notes)


def _vectorizers(cfg: Config, train: pair_data.Pairs | None = None, vocabularies: dict | None = None):
    """(source, target) TextVectorization layers: adapted on the training pairs only, or rebuilt from the saved
    vocabularies of a trained run."""
    def vectorizer(name, length, vocabulary=None):
        return keras.layers.TextVectorization(cfg.vocab_size, standardize=standardize_sentence, vocabulary=vocabulary,
                                              output_sequence_length=length, name=f"{name}_vectorizer")
    if vocabularies is not None:
        pair = (vectorizer("source", cfg.max_length, vocabularies["source"]),
                vectorizer("target", cfg.max_length + 1, vocabularies["target"]))
        for layer in pair:
            layer(tf.constant([""]))  # built, as export requires
        return pair
    source, target = vectorizer("source", cfg.max_length), vectorizer("target", cfg.max_length + 1)
    source.adapt(tf.constant(train.sources), batch_size=2048)
    target.adapt(tf.constant([f"{START} {t} {END}" for t in train.targets]), batch_size=2048)
    return source, target


def save_vocabularies(net: Seq2Seq, run_dir: str | pathlib.Path) -> pathlib.Path:
    """vocabulary.json beside the checkpoint (the network trains on token ids, so evaluate/export need them)."""
    path = pathlib.Path(run_dir) / VOCABULARY_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps({"source": net.source_vectorizer.get_vocabulary(), "target": net.target_vectorizer.get_vocabulary()},
                      ensure_ascii=False)
    partial = path.with_suffix(".json.partial")
    partial.write_text(text, encoding="utf-8")
    partial.replace(path)
    return path


def load_trained(cfg: Config) -> Seq2Seq:
    """The best checkpoint of cfg.run_dir with the vocabularies it was trained on."""
    model = training.load_checkpoint(cfg.run_dir, NAME)
    path = pathlib.Path(cfg.run_dir) / VOCABULARY_FILE
    if not path.exists():
        raise FileNotFoundError(f"{path} not found beside the checkpoint; run 'make train-{NAME}' again.")
    return Seq2Seq(model, *_vectorizers(cfg, vocabularies=json.loads(path.read_text(encoding="utf-8"))))


def build_model(cfg: Config, train: pair_data.Pairs) -> Seq2Seq:
    """Training model: (source_tokens (batch, S), target_in (batch, T)) -> logits (batch, T, vocab), with the
    vectorizers adapted on `train` only."""
    source_vectorizer, target_vectorizer = _vectorizers(cfg, train)
    source_vocab, target_vocab = source_vectorizer.vocabulary_size(), target_vectorizer.vocabulary_size()
    source = keras.Input((None,), dtype="int64", name="source_tokens")
    target_in = keras.Input((None,), dtype="int64", name="target_in")
    embedded = keras.layers.Embedding(source_vocab, cfg.embed_dim, mask_zero=True, name="source_embedding")(source)
    spec = dataclasses.replace(layers.parse_spec(cfg.rnn), return_sequences=True)
    encoded = layers.apply_rnn(embedded, spec, name="encoder")
    keys = keras.layers.Dense(cfg.units, name="attention_keys")(encoded)
    initial = keras.layers.Dense(cfg.units, activation="tanh", name="initial_state")(
        keras.layers.GlobalAveragePooling1D(name="mean_encoding")(encoded))
    target_embedding = keras.layers.Embedding(target_vocab, cfg.embed_dim, mask_zero=True, name="target_embedding")
    decoder = keras.layers.GRU(cfg.units, return_sequences=True, return_state=True, name="decoder_gru")
    attention = keras.layers.AdditiveAttention(name="attention")
    # a linear projection + layer normalization, not tanh: the attention context is unbounded (keys are a linear
    # map), and a tanh here saturated and kept Tatoeba training at the unigram loss (~6.3 nats) for epochs
    combine = keras.Sequential([keras.layers.Dense(cfg.units), keras.layers.LayerNormalization()], name="combine")
    vocab_logits = keras.layers.Dense(target_vocab, name="logits", dtype="float32")
    decoded, _ = decoder(target_embedding(target_in), initial_state=initial)
    # scores are asked for here too: Keras 3.15 loses the scores output of a reused attention layer whose first
    # call did not return them ("Output ... is not connected to inputs"), and decoding reuses this layer
    context, _ = attention([decoded, keys], return_attention_scores=True)
    logits = vocab_logits(combine(keras.layers.Concatenate(name="decoder_features")([decoded, context])))
    model = keras.Model({"source_tokens": source, "target_in": target_in}, logits, name="translation_rnn")
    return Seq2Seq(model, source_vectorizer, target_vectorizer)


def decoder_parts(model: keras.Model) -> tuple[keras.Model, keras.Model]:
    """(encoder: tokens -> keys, state; step: token, state, keys, mask -> log-probs, state, attention), built from
    the trained model's layers (shared weights), for step-by-step decoding. The mask is `tokens != 0`."""
    source = keras.Input((None,), dtype="int64", name="tokens")
    encoded = source
    encoded = model.get_layer("source_embedding")(encoded)
    for layer in model.layers:
        if layer.name.startswith("encoder_"):
            encoded = layer(encoded)
    keys = model.get_layer("attention_keys")(encoded)
    state = model.get_layer("initial_state")(model.get_layer("mean_encoding")(encoded))
    encoder = keras.Model(source, [keys, state], name="encoder")

    token = keras.Input((1,), dtype="int64", name="token")
    state_in = keras.Input((model.get_layer("decoder_gru").units,), name="state")
    keys_in = keras.Input((None, keys.shape[-1]), name="keys")
    mask_in = keras.Input((None,), dtype="bool", name="mask")
    out, new_state = model.get_layer("decoder_gru")(model.get_layer("target_embedding")(token), initial_state=state_in)
    context, scores = model.get_layer("attention")([out, keys_in], mask=[None, mask_in], return_attention_scores=True)
    logits = model.get_layer("logits")(model.get_layer("combine")(keras.layers.Concatenate()([out, context])))
    log_probs = keras.ops.log_softmax(logits[:, 0, :], axis=-1)
    step = keras.Model([token, state_in, keys_in, mask_in], [log_probs, new_state, scores[:, 0, :]], name="step")
    return encoder, step


def make_datasets(cfg: Config, net: Seq2Seq, pairs: TranslationData) -> tuple[tf.data.Dataset, ...]:
    """({"source_tokens", "target_in"}, target_out) with target_in = [start] w1 .. wn, target_out = w1 .. wn
    [end] (teacher forcing); right-padded with 0."""
    def dataset(part, seed=None):
        source = net.source_vectorizer(tf.constant(part.sources))
        target = net.target_vectorizer(tf.constant([f"{START} {t} {END}" for t in part.targets]))
        ds = tf.data.Dataset.from_tensor_slices(({"source_tokens": source, "target_in": target[:, :-1]},
                                                 target[:, 1:]))
        return data.batched(ds, cfg.batch_size, shuffle_seed=seed)
    return dataset(pairs.train, cfg.seed), dataset(pairs.validation), dataset(pairs.test)


def train(cfg: Config, net: Seq2Seq, pairs: TranslationData, **fit_options) -> keras.callbacks.History:
    train_ds, val_ds, _ = make_datasets(cfg, net, pairs)
    save_vocabularies(net, cfg.run_dir)
    history = training.fit(net.model, train_ds, val_ds, run_dir=cfg.run_dir, epochs=cfg.epochs, loss=masked_token_loss,
                           learning_rate=cfg.learning_rate, clipnorm=1.0, seed=cfg.seed, patience=3,
                           samples_per_epoch=len(pairs.train), **fit_options)
    tokens = sum(len(pair_data.normalize(t).split()) + 1 for t in pairs.train.targets)
    if history.timing.get("seconds_per_epoch"):
        history.timing["target_tokens_per_second"] = round(tokens / history.timing["seconds_per_epoch"], 1)
    return history


class Translator:
    """Python-side decoding of a trained model: greedy for a batch, beam search per sentence."""

    def __init__(self, net: Seq2Seq, max_length: int):
        self.encoder, self.step_model = decoder_parts(net.model)
        self.vocab = np.array(net.target_vectorizer.get_vocabulary())
        self.start, self.end = int(np.flatnonzero(self.vocab == START)[0]), int(np.flatnonzero(self.vocab == END)[0])
        self.source_vectorizer, self.max_length = net.source_vectorizer, max_length
        self._step = tf.function(lambda t, s, k, m: self.step_model([t, s, k, m]), reduce_retracing=True)

    def _encode(self, texts: list[str]):
        tokens = self.source_vectorizer(tf.constant(texts))
        keys, state = self.encoder(tokens)
        return keys.numpy(), state.numpy(), tokens.numpy() != 0

    def _step_fn(self, tokens, state):
        hidden, keys, mask = state
        log_probs, hidden, _ = self._step(tf.constant(tokens[:, None], tf.int64), hidden, keys, mask)
        return log_probs.numpy(), (hidden.numpy(), keys, mask)

    def words(self, tokens: list[int]) -> str:
        return " ".join(self.vocab[t] for t in tokens)

    def greedy(self, texts: list[str]) -> tuple[list[str], np.ndarray]:
        keys, state, mask = self._encode(texts)
        tokens, scores = decoding.greedy(self._step_fn, (state, keys, mask), start=self.start, end=self.end,
                                         max_length=self.max_length)
        return [self.words(t) for t in tokens], scores

    def beam(self, text: str, width: int) -> tuple[str, float]:
        keys, state, mask = self._encode([text])
        (tokens, score), *_ = decoding.beam_search(self._step_fn, (state, keys, mask), start=self.start, end=self.end,
                                                   max_length=self.max_length, width=width)
        return self.words(tokens), score

    def attention(self, text: str) -> tuple[list[str], list[str], np.ndarray]:
        """(source words, output words, (output, source) attention weights) of the greedy translation."""
        keys, state, mask = self._encode([text])
        tokens, rows = [self.start], []
        for _ in range(self.max_length):
            log_probs, state, scores = self._step(tf.constant([[tokens[-1]]], tf.int64), state, keys, mask)
            tokens.append(int(np.argmax(log_probs.numpy()[0])))
            rows.append(scores.numpy()[0])
            if tokens[-1] == self.end:
                break
        source_words = pair_data.normalize(text).split()[: self.max_length]
        return source_words, [self.vocab[t] for t in tokens[1:]], np.array(rows)[:, : len(source_words)]


def translate(net: Seq2Seq, texts: list[str], max_length: int = 16) -> list[str]:
    return Translator(net, max_length).greedy(texts)[0]


def bleu_chrf(hypotheses: list[str], references: list[str]) -> dict[str, float]:
    """sacrebleu corpus BLEU and chrF on the normalized text (lower case, no punctuation) of both sides."""
    import sacrebleu

    refs = [[pair_data.normalize(r) for r in references]]
    return {"BLEU": sacrebleu.corpus_bleu(hypotheses, refs).score, "chrF": sacrebleu.corpus_chrf(hypotheses, refs).score}


def evaluate(cfg: Config, net: Seq2Seq, test: pair_data.Pairs, beam_sentences: int = 200) -> dict:
    """BLEU/chrF of greedy decoding on the test pairs, of beam search on the first `beam_sentences`, and of the
    copy-the-source baseline; a few examples."""
    translator = Translator(net, cfg.max_length)
    greedy = []
    for i in range(0, len(test), 256):
        greedy += translator.greedy(test.sources[i:i + 256])[0]
    n = min(beam_sentences, len(test))
    beam = [translator.beam(s, cfg.beam_width)[0] for s in test.sources[:n]]
    copy = [pair_data.normalize(s) for s in test.sources]
    return {"greedy": bleu_chrf(greedy, test.targets), f"beam {cfg.beam_width} (first {n})": bleu_chrf(beam, test.targets[:n]),
            f"greedy (same first {n})": bleu_chrf(greedy[:n], test.targets[:n]),
            "copy the source (baseline)": bleu_chrf(copy, test.targets),
            "examples": [{"source": s, "reference": r, "greedy": g, "beam": b}
                         for s, r, g, b in list(zip(test.sources, test.targets, greedy, beam, strict=False))[:8]]}


def export(net: Seq2Seq, cfg: Config, metrics: dict, source: str,
           root: str | pathlib.Path = shared_export.DEFAULT_ROOT) -> pathlib.Path:
    """serving_default(text [batch] string) -> translation [batch] string: vectorize, encode, greedy decoding loop
    of max_length steps inside the graph, words joined up to [end]."""
    encoder, step = decoder_parts(net.model)
    words_list = np.array(net.target_vectorizer.get_vocabulary())
    vocab = tf.constant(words_list)
    start, end = int(np.flatnonzero(words_list == START)[0]), int(np.flatnonzero(words_list == END)[0])
    source_vectorizer = net.source_vectorizer

    def serve(text):
        source_tokens = source_vectorizer(text)
        keys, state = encoder(source_tokens)
        mask = tf.not_equal(source_tokens, 0)
        tokens = tf.fill(tf.shape(text)[:1], tf.constant(start, tf.int64))
        outputs = []
        for _ in range(cfg.max_length):
            log_probs, state, _ = step([tokens[:, None], state, keys, mask])
            tokens = tf.argmax(log_probs, axis=-1)
            outputs.append(tokens)
        ids = tf.stack(outputs, axis=1)
        keep = tf.equal(tf.cumsum(tf.cast(tf.equal(ids, end), tf.int32), axis=1), 0)
        words = tf.where(keep, tf.gather(vocab, ids), "")
        joined = tf.strings.reduce_join(words, axis=1, separator=" ")
        return {"translation": tf.strings.strip(tf.strings.regex_replace(joined, " +", " "))}

    meta = {"config": cfg, "source": source, "metrics": {k: v for k, v in metrics.items() if k != "examples"}}
    return shared_export.save(net.model, NAME, serve_fn=serve, also_track=(source_vectorizer, encoder, step),
                              input_signature=[tf.TensorSpec((None,), tf.string, name="text")], metadata=meta, root=root)


def predict(texts: list[str], model_path: str | pathlib.Path | None = None) -> list[str]:
    empty = [i for i, t in enumerate(texts) if not t.strip()]
    if empty:
        raise ValueError(f"text {empty[0]} is empty; give an English sentence (TEXT=\"...\").")
    served, _ = shared_export.load(model_path or shared_export.latest(NAME))
    out = served.signatures["serving_default"](text=tf.constant(texts))["translation"].numpy()
    return [t.decode() for t in out]


def attention_figure(net: Seq2Seq, cfg: Config, sentences: list[str]):
    from matplotlib.figure import Figure

    translator = Translator(net, cfg.max_length)
    fig = Figure(figsize=(5 * len(sentences), 4.5), layout="constrained")
    for i, sentence in enumerate(sentences):
        source_words, output_words, weights = translator.attention(sentence)
        ax = fig.add_subplot(1, len(sentences), i + 1)
        ax.imshow(weights, cmap="viridis", aspect="auto")
        ax.set_xticks(range(len(source_words)), source_words, rotation=60, fontsize=8)
        ax.set_yticks(range(len(output_words)), output_words, fontsize=8)
        ax.set_title("attention (rows: output words)", fontsize=9)
    return fig


ANCHORS = {
    "Bahdanau et al. 2015, RNNsearch-50 (WMT'14 en-fr news, 348M words)": {
        "BLEU": 26.75, "note": "tokenized newstest2014; 34.16 on sentences without unknown words; not this test set"},
    "Keras seq2seq example (this fra-eng data, character LSTM)": {"BLEU": "not reported (sample translations only)"},
    "TensorFlow NMT with attention tutorial (spa-eng Tatoeba, GRU + attention)": {
        "BLEU": "not reported (sample translations, attention plots)"},
}


def write_report(cfg: Config, net: Seq2Seq, pairs: TranslationData, metrics: dict, timing: dict) -> None:
    scores = {k: v for k, v in metrics.items() if k != "examples"}
    examples = "\n".join(f"- {e['source']} -> greedy: *{e['greedy']}*; beam: *{e['beam']}* (reference: {e['reference']})"
                         for e in metrics["examples"])
    reports.write(cfg.run_dir, domain=NAME, source=pairs.source, metrics=scores["greedy"], baselines=scores,
                  anchors=ANCHORS, timing=timing,
                  figures={"attention": attention_figure(net, cfg, pairs.test.sources[:3])},
                  sections={"Examples": examples, "Notes": "\n".join(f"- {n}" for n in pairs.notes) or "- none"},
                  extra={"config": dataclasses.asdict(cfg)})


def _summary(cfg: Config, metrics: dict) -> dict:
    beam = next(v for k, v in metrics.items() if k.startswith("beam "))
    return {"BLEU": metrics["greedy"]["BLEU"], "chrF": metrics["greedy"]["chrF"], "beam BLEU": beam["BLEU"],
            "copy BLEU": metrics["copy the source (baseline)"]["BLEU"]}


def run(cfg: Config, export_root: str | pathlib.Path = shared_export.DEFAULT_ROOT, verbose: int | str = "auto") -> dict:
    start = time.perf_counter()
    keras.utils.set_random_seed(cfg.seed)
    pairs = load_data(cfg)
    net = build_model(cfg, pairs.train)
    log.info("model: %d parameters; vocabularies %d (en) / %d (fr)", net.model.count_params(),
             net.source_vectorizer.vocabulary_size(), net.target_vectorizer.vocabulary_size())
    history = train(cfg, net, pairs, verbose=verbose)
    metrics = evaluate(cfg, net, pairs.test)
    log.info("test BLEU greedy %.1f, copy baseline %.1f", metrics["greedy"]["BLEU"],
             metrics["copy the source (baseline)"]["BLEU"])
    path = export(net, cfg, metrics, pairs.source, root=export_root)
    batch = tf.constant((pairs.test.sources * 64)[:64])
    latency = shared_export.serving_latency(path, {"text": batch}, repeats=5)
    timing = {**history.timing, "serving_sentences_per_second": latency["items_per_second"],
              "run_seconds": round(time.perf_counter() - start, 1)}
    write_report(cfg, net, pairs, metrics, timing)
    return {**_summary(cfg, metrics), "export": str(path)}


def _evaluate_command(cfg: Config, args) -> dict:
    """Re-evaluate the checkpoint of --run-dir on the test pairs of the same configuration (same seed: same split)."""
    pairs, net = load_data(cfg), load_trained(cfg)
    metrics = evaluate(cfg, net, pairs.test)
    write_report(cfg, net, pairs, metrics, {})
    return _summary(cfg, metrics)


def _export_command(cfg: Config, args) -> dict:
    return {"export": str(export(load_trained(cfg), cfg, {}, "checkpoint " + cfg.run_dir))}


def _predict_command(cfg: Config, args) -> list[str]:
    if args.input is None:
        raise ValueError('predict needs a sentence: make predict-translation TEXT="..." (or --input "...").')
    out = predict([args.input], args.model)
    print(out[0])
    return out


def main(argv: list[str] | None = None) -> None:
    """make train-translation | evaluate-translation | export-translation | predict-translation TEXT="..." """
    cli.main(Config, argv, prog="python -m pipelines.translation", quick=QUICK, description=__doc__.split("\n\n")[0],
             commands={"train": lambda cfg, args: run(cfg), "evaluate": _evaluate_command, "export": _export_command,
                       "predict": _predict_command})


if __name__ == "__main__":
    main()
