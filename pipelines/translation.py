"""Machine translation: English -> French with an RNN encoder-decoder and attention. Source tokens -> bidirectional
GRU encoder -> GRU decoder with additive (Bahdanau) attention over the encoder states, teacher forcing and a loss
averaged over real tokens; greedy and beam-search decoding; exported so that a string goes in and a string comes out.

Notebook:
    cfg = dataclasses.replace(translation.Config(), source="numbers", epochs=3)
    pairs = translation.load_data(cfg); net = translation.build_model(cfg, pairs)
    translation.train(cfg, net, pairs); translation.translate(net, ["ninety-seven"])
    (or the whole story: shared.pipeline.run(translation, cfg))
"""

from __future__ import annotations

import dataclasses
import logging
import pathlib
import sys
from typing import ClassVar

import keras
import numpy as np
import tensorflow as tf

from domain import sources as domain_sources
from domain import translation as pair_data
from domain.translation import bleu_chrf
from shared import cli, data, layers, pipeline, progress, reports, seq2seq, training
from shared import export as shared_export

log = logging.getLogger(__name__)
NAME = "translation"
START, END = seq2seq.START, seq2seq.END
masked_token_loss = seq2seq.masked_token_loss  # the loss over real target tokens (shared with captioning)
standardize_sentence = seq2seq.standardize_sentence  # text standardization inside the vectorizers
VOCABULARY_FILE = "vocabulary.json"
PREDICT_INPUT = 'a sentence: make predict-translation TEXT="..." (or INPUT=@file.txt for a file)'


@dataclasses.dataclass(frozen=True)
class Config:
    source: str = "auto"         # auto | local (--data-dir with train.tsv) | download (manythings) | numbers
    data_dir: str = ""
    test_file: str = ""          # held-out pairs (English<TAB>French), all lengths, scored once and never used for any
                                 # choice; default: test.tsv beside train.tsv when there is one, else 10% of the pairs
    rnn: str = "bigru:128"       # encoder (shared.layers spec); the decoder is a GRU of `units`
    units: int = 256             # decoder GRU and attention size
    embed_dim: int = 128         # word embedding size (both languages)
    vocab_size: int = 8000       # per language, adapted on training pairs only
    max_length: int = 16         # tokens per sentence; longer pairs are left out of training, longer inputs cut
    max_pairs: int = 60_000      # pairs used (after the length filter); the number corpus has this many at most
    beam_width: int = 4          # beam search width (the report scores greedy and beam)
    batch_size: int = 64
    epochs: int = 10
    learning_rate: float = 2e-3
    seed: int = 1337
    jit_compile: bool = False  # XLA; the default is whichever trained faster here (make bench, BENCHMARKS.md)
    run_dir: str = "runs/translation"

    CHOICES: ClassVar[dict] = {"source": pair_data.SOURCES}  # the command line lists these

    def __post_init__(self):
        layers.parse_spec(self.rnn)
        cli.check_choices(self)
        if min(self.units, self.embed_dim, self.beam_width) < 1 or self.vocab_size < 8 or self.max_length < 2:
            raise ValueError("need --units, --embed-dim, --beam-width >= 1, --vocab-size >= 8, --max-length >= 2.")
        if self.max_pairs < 20:
            raise ValueError(f"--max-pairs {self.max_pairs}: need at least 20 pairs.")
        training.check_options(self.batch_size, self.epochs, self.learning_rate)


CARD = {  # the model card written beside every export (shared.pipeline.model_card)
    "use": "English to French translation of short everyday sentences, and a worked example of an attentional "
           "recurrent encoder-decoder served string to string.",
    "not for": "Long, technical or formal text, or any use where a wrong translation matters: the training "
               "sentences are short Tatoeba sentences.",
    "data": "Tatoeba English-French pairs packaged by manythings.org/anki (CC BY 2.0 FR: 'www.manythings.org/anki "
            "and tatoeba.org'), or English number phrases and their French translations generated with num2words "
            "(offline).",
    "generated": ("numbers",),
}

QUICK = {"source": "numbers", "rnn": "bigru:32", "units": 64, "embed_dim": 32, "max_pairs": 3000, "epochs": 2,
         "beam_width": 2}


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
    split 80/10/10 at random under the seed. With a test file (cfg.test_file, or test.tsv beside a local
    train.tsv) the test split is that file, every pair of every length, and the source pairs split 90/10 into
    training and validation."""
    notes = []
    folder = pathlib.Path(cfg.data_dir) if cfg.data_dir else None
    source = domain_sources.resolve_auto(cfg.source, folder and (folder / "train.tsv").exists(), remote="download",
                                         host="www.manythings.org", offline="numbers")
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
    test_path = pathlib.Path(cfg.test_file) if cfg.test_file else None
    if test_path is None and source == "local" and (folder / "test.tsv").exists():
        test_path = folder / "test.tsv"
    if test_path is not None:
        if not test_path.is_file():
            raise FileNotFoundError(f"--test-file {test_path} not found; give a file of held-out English<TAB>French "
                                    "pairs, or leave it out to hold out 10% of the pairs.")
        test = pair_data.load_tsv(test_path)
        train, validation = pair_data.split(pairs, 0.1, cfg.seed)
        where += f"; test: {test_path} ({len(test)} pairs, all lengths)"
    else:
        rest, test = pair_data.split(pairs, 0.1, cfg.seed)
        train, validation = pair_data.split(rest, 1 / 9, cfg.seed)
    for note in notes:
        log.warning("%s", note)
    log.info("%s: train %d, validation %d, test %d pairs", where, len(train), len(validation), len(test))
    return TranslationData(train, validation, test, where, notes)


def _vectorizers(cfg: Config, train: pair_data.Pairs | None = None, vocabularies: dict | None = None):
    """(source, target) TextVectorization layers: adapted on the training pairs only, or rebuilt from the saved
    vocabularies of a trained run."""
    if vocabularies is not None:
        return (seq2seq.vectorizer(cfg.vocab_size, cfg.max_length, "source_vectorizer", vocabularies["source"]),
                seq2seq.vectorizer(cfg.vocab_size, cfg.max_length + 1, "target_vectorizer", vocabularies["target"]))
    source = seq2seq.vectorizer(cfg.vocab_size, cfg.max_length, "source_vectorizer")
    target = seq2seq.vectorizer(cfg.vocab_size, cfg.max_length + 1, "target_vectorizer")
    source.adapt(tf.constant(train.sources), batch_size=2048)
    target.adapt(tf.constant([f"{START} {t} {END}" for t in train.targets]), batch_size=2048)
    return source, target


def save_vocabularies(net: Seq2Seq, run_dir: str | pathlib.Path) -> pathlib.Path:
    """vocabulary.json beside the checkpoint (the network trains on token ids, so evaluate/export need them)."""
    return training.save_beside_checkpoint(run_dir, VOCABULARY_FILE, {
        "source": net.source_vectorizer.get_vocabulary(), "target": net.target_vectorizer.get_vocabulary()})


def load_trained(cfg: Config) -> Seq2Seq:
    """The best checkpoint of cfg.run_dir with the vocabularies it was trained on."""
    model = training.load_checkpoint(cfg.run_dir, NAME)
    vocabularies = training.load_beside_checkpoint(cfg.run_dir, VOCABULARY_FILE, NAME)
    return Seq2Seq(model, *_vectorizers(cfg, vocabularies=vocabularies))


def build_model(cfg: Config, pairs: TranslationData) -> Seq2Seq:
    """Training model: (source_tokens (batch, S), target_in (batch, T)) -> logits (batch, T, vocab), with the
    vectorizers adapted on the training pairs only."""
    source_vectorizer, target_vectorizer = _vectorizers(cfg, pairs.train)
    source_vocab, target_vocab = source_vectorizer.vocabulary_size(), target_vectorizer.vocabulary_size()
    source = keras.Input((None,), dtype="int64", name="source_tokens")
    target_in = keras.Input((None,), dtype="int64", name="target_in")
    embedded = keras.layers.Embedding(source_vocab, cfg.embed_dim, mask_zero=True, name="source_embedding")(source)
    spec = dataclasses.replace(layers.parse_spec(cfg.rnn), return_sequences=True)
    encoded = layers.apply_rnn(embedded, spec, name="encoder")
    keys = keras.layers.Dense(cfg.units, name="attention_keys")(encoded)
    initial = keras.layers.Dense(cfg.units, activation="tanh", name="initial_state")(
        keras.layers.GlobalAveragePooling1D(name="mean_encoding")(encoded))
    logits = seq2seq.attentive_decoder(target_in, keys, initial, vocab_size=target_vocab, embed_dim=cfg.embed_dim,
                                       units=cfg.units, kind="gru")
    model = keras.Model({"source_tokens": source, "target_in": target_in}, logits, name="translation_rnn")
    return Seq2Seq(model, source_vectorizer, target_vectorizer)


def decoder_parts(model: keras.Model) -> tuple[keras.Model, keras.Model]:
    """(encoder: tokens -> keys, initial state; step: shared.seq2seq.step_model), built from the trained model's
    layers (shared weights), for step-by-step decoding. The attention mask is `tokens != 0`."""
    source = keras.Input((None,), dtype="int64", name="tokens")
    encoded = model.get_layer("source_embedding")(source)
    for layer in model.layers:
        if layer.name.startswith("encoder_"):
            encoded = layer(encoded)
    keys = model.get_layer("attention_keys")(encoded)
    state = model.get_layer("initial_state")(model.get_layer("mean_encoding")(encoded))
    return keras.Model(source, [keys, state], name="encoder"), seq2seq.step_model(model)


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


def train(cfg: Config, net: Seq2Seq, pairs: TranslationData, verbose: int | str = "auto",
          **fit_options) -> keras.callbacks.History:
    log.info("model: %d parameters; vocabularies %d (en) / %d (fr)", net.model.count_params(),
             net.source_vectorizer.vocabulary_size(), net.target_vectorizer.vocabulary_size())
    train_ds, val_ds, _ = make_datasets(cfg, net, pairs)
    save_vocabularies(net, cfg.run_dir)
    history = training.fit(net.model, train_ds, val_ds, training.Settings.of(cfg, verbose=verbose),
                           loss=masked_token_loss, clipnorm=1.0, patience=3, samples_per_epoch=len(pairs.train),
                           **fit_options)
    tokens = sum(len(pair_data.normalize(t).split()) + 1 for t in pairs.train.targets)
    if history.timing.get("seconds_per_epoch"):
        history.timing["target_tokens_per_second"] = round(tokens / history.timing["seconds_per_epoch"], 1)
    return history


class Translator:
    """Python-side decoding of a trained model (shared.seq2seq.Decoder): greedy for a batch, beam search per
    sentence, attention rows."""

    def __init__(self, net: Seq2Seq, max_length: int):
        self.encoder, step = decoder_parts(net.model)
        self.decoder = seq2seq.Decoder(step, net.target_vectorizer.get_vocabulary(), max_length)
        self.source_vectorizer, self.max_length = net.source_vectorizer, max_length

    def _encode(self, texts: list[str]):
        tokens = self.source_vectorizer(tf.constant(texts))
        keys, state = self.encoder(tokens)
        return keys.numpy(), tokens.numpy() != 0, [state.numpy()]

    def greedy(self, texts: list[str]) -> tuple[list[str], np.ndarray]:
        return self.decoder.greedy(*self._encode(texts))

    def beam(self, text: str, width: int) -> tuple[str, float]:
        return self.decoder.beam(*self._encode([text]), width)

    def attention(self, text: str) -> tuple[list[str], list[str], np.ndarray]:
        """(source words, output words, (output, source) attention weights) of the greedy translation."""
        output_words, weights = self.decoder.attention(*self._encode([text]))
        source_words = pair_data.normalize(text).split()[: self.max_length]
        return source_words, output_words, weights[:, : len(source_words)]


LENGTH_BUCKETS = ((1, 5), (6, 10), (11, 14), (15, 10**9))  # source words; 15+ is beyond training's length filter


def translate(net: Seq2Seq, texts: list[str], max_length: int = 16) -> list[str]:
    return Translator(net, max_length).greedy(texts)[0]


def evaluate(cfg: Config, net: Seq2Seq, pairs: TranslationData, beam_sentences: int = 200) -> dict:
    """BLEU/chrF of greedy decoding on the test pairs, of beam search on the first `beam_sentences`, and of the
    copy-the-source baseline; a few examples and the attention rows of three."""
    test = pairs.test
    translator = Translator(net, cfg.max_length)
    greedy = []
    for i in range(0, len(test), 256):
        greedy += translator.greedy(test.sources[i:i + 256])[0]
    n = min(beam_sentences, len(test))
    beam = [translator.beam(s, cfg.beam_width)[0]
            for s in progress.progress(test.sources[:n], "beam search", unit="sentence")]
    copy = [pair_data.normalize(s) for s in test.sources]
    log.info("test BLEU greedy %.1f, copy baseline %.1f", bleu_chrf(greedy, test.targets)["BLEU"],
             bleu_chrf(copy, test.targets)["BLEU"])
    words = np.array([len(pair_data.normalize(s).split()) for s in test.sources])
    by_length = {}
    for low, high in LENGTH_BUCKETS:
        pick = np.flatnonzero((words >= low) & (words <= high))
        if len(pick):
            label = f"{low}-{high}" if high < 10**6 else f"{low}+"
            by_length[f"{label} words"] = {"pairs": len(pick), **bleu_chrf([greedy[i] for i in pick],
                                                                            [test.targets[i] for i in pick])}
    return {"attention": [translator.attention(s) for s in test.sources[:3]], "by_length": by_length,
            "greedy": bleu_chrf(greedy, test.targets), f"beam {cfg.beam_width} (first {n})": bleu_chrf(beam, test.targets[:n]),
            f"greedy (same first {n})": bleu_chrf(greedy[:n], test.targets[:n]),
            "copy the source (baseline)": bleu_chrf(copy, test.targets),
            "examples": [{"source": s, "reference": r, "greedy": g, "beam": b}
                         for s, r, g, b in list(zip(test.sources, test.targets, greedy, beam, strict=False))[:8]]}


def summary(cfg: Config, metrics: dict) -> dict:
    beam = next(v for k, v in metrics.items() if k.startswith("beam "))
    return {"BLEU": metrics["greedy"]["BLEU"], "chrF": metrics["greedy"]["chrF"], "beam BLEU": beam["BLEU"],
            "copy BLEU": metrics["copy the source (baseline)"]["BLEU"]}


def export(cfg: Config, net: Seq2Seq, pairs: TranslationData, metrics: dict,
           root: str | pathlib.Path = shared_export.DEFAULT_ROOT) -> pathlib.Path:
    """serving_default(text [batch] string) -> translation [batch] string: vectorize, encode, greedy decoding loop
    of max_length steps inside the graph, words joined up to [end]."""
    encoder, step = decoder_parts(net.model)
    vocabulary = net.target_vectorizer.get_vocabulary()
    source_vectorizer = net.source_vectorizer

    def serve(text):
        source_tokens = source_vectorizer(text)
        keys, state = encoder(source_tokens)
        mask = tf.not_equal(source_tokens, 0)
        return {"translation": seq2seq.greedy_graph(step, keys, mask, [state], vocabulary, cfg.max_length)}

    meta = {"config": cfg, "source": pairs.source, "metrics": metrics}
    return shared_export.save(net.model, NAME, serve_fn=serve, also_track=(source_vectorizer, encoder, step),
                              input_signature=[tf.TensorSpec((None,), tf.string, name="text")], metadata=meta, root=root)


def translate_served(texts: list[str], model_path: str | pathlib.Path | None = None) -> list[str]:
    """Translations of `texts` by the exported SavedModel (latest by default)."""
    empty = [i for i, t in enumerate(texts) if not t.strip()]
    if empty:
        raise ValueError(f"text {empty[0]} is empty; give an English sentence (TEXT=\"...\").")
    served, _ = shared_export.load(model_path or shared_export.latest(NAME), NAME)
    out = served.signatures["serving_default"](text=tf.constant(texts))["translation"].numpy()
    return [t.decode() for t in out]


def predict(cfg: Config, text: str, model_path: str | pathlib.Path | None = None) -> dict:
    """One sentence (or @file) through the exported model."""
    return {"translation": translate_served([cli.text_input(text)], model_path)[0]}


def attention_figure(rows: list[tuple[list[str], list[str], np.ndarray]]):
    """One panel per (source words, output words, attention weights) row of Translator.attention."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5 * len(rows), 4.5), layout="constrained")
    for i, (source_words, output_words, weights) in enumerate(rows):
        ax = fig.add_subplot(1, len(rows), i + 1)
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


def write_report(cfg: Config, pairs: TranslationData, metrics: dict, timing: dict) -> None:
    scores = {k: v for k, v in metrics.items() if k not in ("examples", "attention", "by_length")}
    by_length = metrics.get("by_length") or {}
    length_table = "\n".join(["Greedy decoding on the test pairs by the English sentence's length (the model trains on "
                              f"pairs of at most {cfg.max_length - 2} words; longer inputs are cut).", "",
                              reports.table(by_length, first="source length"), "",
                              f"sacrebleu signatures: {pair_data.signatures()}"])
    examples = "\n".join(f"- {e['source']} -> greedy: *{e['greedy']}*; beam: *{e['beam']}* (reference: {e['reference']})"
                         for e in metrics["examples"])
    reports.write(cfg.run_dir, domain=NAME, source=pairs.source, metrics=scores["greedy"], baselines=scores,
                  anchors=ANCHORS, timing=timing,
                  figures={"attention": attention_figure(metrics["attention"])},
                  sections={"Examples": examples, "By length": length_table, "Notes": "\n".join(f"- {n}" for n in pairs.notes) or "- none"},
                  extra={"config": dataclasses.asdict(cfg), "by_length": by_length,
                         "sacrebleu": pair_data.signatures()})


if __name__ == "__main__":
    pipeline.main(sys.modules[__name__])
