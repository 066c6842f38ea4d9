# Over 400 lines: subword vocabularies and the in-graph beam search export live beside the model they serve.
"""The stages of the translation pipeline (pipelines.translation holds its options and the story): data -> datasets -> model ->
training -> evaluation -> export -> predict -> report."""

from __future__ import annotations

import base64
import dataclasses
import logging
import pathlib

import keras
import numpy as np
import tensorflow as tf

from domain import sources as domain_sources
from domain import translation as pair_data
from domain.translation import bleu_chrf
from pipelines.translation import NAME, Config
from shared import checkpoints, cli, data, decoding, layers, progress, reports, seq2seq, specs, training
from shared import export as shared_export
from shared.subwords import Subwords

log = logging.getLogger(__name__)
START, END = seq2seq.START, seq2seq.END
START_ID, END_ID = pair_data.SPECIAL_IDS["bos_id"], pair_data.SPECIAL_IDS["eos_id"]
masked_token_loss = seq2seq.masked_token_loss  # the loss over real target tokens (shared with captioning)
standardize_sentence = seq2seq.standardize_sentence  # text standardization before the subword models
SUBWORDS_FILE = "subwords.json"
NUMBER_PAIRS = 60_000  # the generated corpus's size when --max-pairs is 0
BUCKETS = [6, 9, 12, 16, 24, 40]
NO_WORDS = "a text is empty or has no letters or digits to translate (punctuation and emoji are dropped); send words"
NOTHING_SENT = "no text to translate; send at least one"
OTHER_SCRIPT = ("a text is mostly in characters this model never saw in training (another alphabet or language?); "
                "it translates English")  # source subword lengths at which training batches are split (shared.data.bucketed)


@dataclasses.dataclass
class Seq2Seq:
    """The trained network and the subword models learned on its training pairs (kept beside the model: the network
    trains on ids; the exported graph holds all three)."""

    model: keras.Model
    source: Subwords
    target: Subwords


@dataclasses.dataclass
class TranslationData:
    train: pair_data.Pairs
    validation: pair_data.Pairs
    test: pair_data.Pairs
    source: str
    notes: list[str]


def load_data(cfg: Config) -> TranslationData:
    """Every pair of the source (at most max_pairs when set), shuffled under the seed: 5% validation (early
    stopping), 5% test and the rest training. With a test file (cfg.test_file, or test.tsv beside a local train.tsv)
    the test split is that file, every pair of every length, and the source pairs split 95/5 into training and
    validation. Pairs too long for --max-length are left out of training later (make_datasets), counted."""
    folder = pathlib.Path(cfg.data_dir) if cfg.data_dir else domain_sources.data_folder("fra-eng")
    source = domain_sources.resolve_auto(cfg.source, (folder / "train.tsv").exists(), remote="download",
                                         host="www.manythings.org", offline="numbers", given=cfg.data_dir)
    if source == "numbers":
        pairs = pair_data.number_pairs(cfg.max_pairs or NUMBER_PAIRS, cfg.seed)
        where = f"numbers: num2words English -> French ({len(pairs)} pairs)"
    else:
        if source == "local" and not (folder / "train.tsv").exists():
            raise FileNotFoundError(f"--source local: no train.tsv in {folder}; pass --data-dir (a folder with "
                                    "train.tsv), or put it in $RNN_DATA_DIR/fra-eng.")
        path = folder / "train.tsv" if source == "local" else pair_data.download(folder)
        pairs = pair_data.load_tsv(path)
        where = f"{source}: {path}"
    order = np.random.default_rng(cfg.seed).permutation(len(pairs))[: cfg.max_pairs or None]
    pairs = pair_data.Pairs([pairs.sources[i] for i in order], [pairs.targets[i] for i in order])
    test_path = pathlib.Path(cfg.test_file) if cfg.test_file else None
    if test_path is None and source == "local" and (folder / "test.tsv").exists():
        test_path = folder / "test.tsv"
    if test_path is not None:
        if not test_path.is_file():
            raise FileNotFoundError(f"--test-file {test_path} not found; give a file of held-out English<TAB>French "
                                    "pairs, or leave it out to hold out 5% of the pairs.")
        test = pair_data.load_tsv(test_path)
        train, validation = pair_data.split(pairs, 0.05, cfg.seed)
        where += f"; test: {test_path} ({len(test)} pairs, all lengths)"
    else:
        rest, test = pair_data.split(pairs, 0.05, cfg.seed)
        train, validation = pair_data.split(rest, 1 / 19, cfg.seed)
    log.info("%s: train %d, validation %d, test %d pairs", where, len(train), len(validation), len(test))
    return TranslationData(train, validation, test, where, [])


def save_subwords(net: Seq2Seq, run_dir: str | pathlib.Path) -> pathlib.Path:
    """subwords.json beside the checkpoint (the network trains on ids, so evaluate/export need both models)."""
    return checkpoints.save_beside_checkpoint(run_dir, SUBWORDS_FILE, {
        side: base64.b64encode(getattr(net, side).proto).decode("ascii") for side in ("source", "target")})


def load_subwords(run_dir: str | pathlib.Path) -> tuple[Subwords, Subwords]:
    saved = checkpoints.load_beside_checkpoint(run_dir, SUBWORDS_FILE, NAME)
    return Subwords(base64.b64decode(saved["source"])), Subwords(base64.b64decode(saved["target"]))


def load_trained(cfg: Config) -> Seq2Seq:
    """The best checkpoint of cfg.run_dir with the subword models it was trained on."""
    return Seq2Seq(checkpoints.load_checkpoint(cfg.run_dir, NAME), *load_subwords(cfg.run_dir))


def build_model(cfg: Config, pairs: TranslationData) -> Seq2Seq:
    """Training model: (source_tokens (batch, S), target_in (batch, T)) -> logits (batch, T, vocab), with subword
    models learned on the training pairs only."""
    source_subwords = Subwords(pair_data.learn_subwords(pairs.train.sources, cfg.vocab_size))
    target_subwords = Subwords(pair_data.learn_subwords(pairs.train.targets, cfg.vocab_size))
    source = keras.Input((None,), dtype="int64", name="source_tokens")
    target_in = keras.Input((None,), dtype="int64", name="target_in")
    embedded = keras.layers.Embedding(source_subwords.size(), cfg.embed_dim, mask_zero=True,
                                      name="source_embedding")(source)
    spec = dataclasses.replace(layers.parse_spec(cfg.rnn), return_sequences=True)
    encoded = layers.apply_rnn(embedded, spec, name="encoder")
    keys = keras.layers.Dense(cfg.units, name="attention_keys")(encoded)
    initial = keras.layers.Dense(cfg.units, activation="tanh", name="initial_state")(
        keras.layers.GlobalAveragePooling1D(name="mean_encoding")(encoded))
    logits = seq2seq.attentive_decoder(target_in, keys, initial, vocab_size=target_subwords.size(),
                                       embed_dim=cfg.embed_dim, units=cfg.units, kind=cfg.decoder)
    model = keras.Model({"source_tokens": source, "target_in": target_in}, logits, name="translation_rnn")
    return Seq2Seq(model, source_subwords, target_subwords)


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


def decode_limit(source_length, max_length: int):
    """The most subwords a translation may have: twice the source's plus 10, at most max_length (French runs about
    1.2 times the English here; a runaway repetition stops there)."""
    return np.minimum(max_length, 2 * source_length + 10) if isinstance(source_length, (int, np.ndarray)) else \
        tf.minimum(tf.cast(max_length, source_length.dtype), 2 * source_length + 10)


def token_pairs(cfg: Config, net: Seq2Seq, part: pair_data.Pairs) -> tuple[tf.RaggedTensor, ...]:
    """(source ids, target_in, target_out, kept): the pairs whose source has 1..max_length subwords and whose target
    fits in max_length with its start/end token; kept (n,) bool says which."""
    source, target = net.source.ids(tf.constant(part.sources)), net.target.ids(tf.constant(part.targets))
    kept = ((source.row_lengths() > 0) & (source.row_lengths() <= cfg.max_length)
            & (target.row_lengths() < cfg.max_length)).numpy()
    source, target = tf.ragged.boolean_mask(source, kept), tf.ragged.boolean_mask(target, kept)
    rows = tf.shape(target.row_lengths())[0]
    target_in = tf.concat([tf.fill([rows, 1], tf.constant(START_ID, tf.int64)), target], axis=1)
    target_out = tf.concat([target, tf.fill([rows, 1], tf.constant(END_ID, tf.int64))], axis=1)
    return source, target_in, target_out, kept


def make_datasets(cfg: Config, net: Seq2Seq, pairs: TranslationData) -> tuple[tf.data.Dataset, ...]:
    """({"source_tokens", "target_in"}, target_out) with target_in = [start] w1 .. wn, target_out = w1 .. wn
    [end] (teacher forcing), in batches of similar source length (shared.data.bucketed: every pair once per epoch,
    right-padded with 0 to its batch's longest). Training and validation pairs that do not fit max_length are left
    out and counted in pairs.notes; the test split is scored whole by `evaluate`, not from here."""
    def dataset(part, name, seed=None):
        source, target_in, target_out, kept = token_pairs(cfg, net, part)
        if not kept.all():
            note = (f"{int((~kept).sum())} of {len(part)} {name} pairs left out (empty, or longer than --max-length "
                    f"{cfg.max_length} subwords)")
            if note not in pairs.notes:
                pairs.notes.append(note)
                log.warning("%s", note)
        ds = tf.data.Dataset.from_tensor_slices(({"source_tokens": source, "target_in": target_in}, target_out))
        ds = ds.map(lambda inputs, target: (inputs, target))  # ragged rows -> plain tensors, as padding needs
        return data.bucketed(ds, BUCKETS, cfg.batch_size, shuffle_seed=seed, shuffle_buffer=max(1, len(part)))
    return dataset(pairs.train, "training", cfg.seed), dataset(pairs.validation, "validation"), \
        dataset(pairs.test, "test")


def plan(cfg: Config, net: Seq2Seq, pairs: TranslationData) -> training.Plan:
    log.info("model: %d parameters; subword vocabularies %d (en) / %d (fr)", net.model.count_params(),
             net.source.size(), net.target.size())
    train_ds, val_ds, _ = make_datasets(cfg, net, pairs)
    save_subwords(net, cfg.run_dir)
    tokens = int(tf.reduce_sum(net.target.ids(tf.constant(pairs.train.targets)).row_lengths())) + len(pairs.train)
    return training.Plan(net.model, train_ds, val_ds, loss=seq2seq.MaskedTokenLoss(cfg.label_smoothing), clipnorm=1.0,
                         patience=3, rates={"samples": len(pairs.train), "target_tokens": tokens})


def translation_function(cfg: Config, net: Seq2Seq, alphabet: str = "") -> tf.types.experimental.PolymorphicFunction:
    """translate(text [batch] string, beam_width scalar int32) -> {"translation" [batch] string,
    "log_probability" [batch] float64}: subwords, encoder and beam search (shared.decoding.beam_search_graph; width
    1 is greedy decoding) all inside one graph - the export's signatures and `evaluate` both run it. It refuses,
    naming the problem, a text with nothing to translate, one longer than cfg.max_length subwords (it would be cut)
    and, given the training sources' `alphabet`, one mostly in characters never seen in training (another script)."""
    seen = "[" + "".join(f"\\x{{{ord(c):x}}}" for c in sorted(set(alphabet))) + "\\s]" if alphabet else None
    encoder, step = decoder_parts(net.model)
    source_tokenizer = net.source.graph()
    n_states = seq2seq.n_states(step)  # GRU 1, LSTM 2 (both start at the encoder's summary)

    def step_fn(tokens, state):
        keys, mask, *hidden = state
        log_probs, _, *hidden = step([tokens[:, None], keys, mask, *hidden])
        return log_probs, (keys, mask, *hidden)

    @tf.function(input_signature=[tf.TensorSpec((None,), tf.string, name="text"),
                                  tf.TensorSpec((), tf.int32, name="beam_width")])
    def translate(text, beam_width):
        whole = net.source.ids(text, source_tokenizer)
        ids = whole[:, : cfg.max_length]
        # clear refusals instead of an encoder or a beam search failing deep in the graph (a server shows these),
        # in order: what is wrong with the request as a whole (nothing sent, the width, another script) before its
        # length in subwords (a text in another script is long in subwords because it is in another script)
        first = [tf.debugging.assert_positive(tf.size(text), message=NOTHING_SENT),
                 tf.debugging.assert_greater_equal(beam_width, 1, message="beam_width must be at least 1 (1 is "
                                                                          "greedy)")]
        if seen:  # at most half of a text's characters unseen in training (accents and rare letters pass)
            standard = standardize_sentence(text)
            unseen = tf.strings.length(tf.strings.regex_replace(standard, seen, ""), unit="UTF8_CHAR")
            total = tf.strings.length(tf.strings.regex_replace(standard, r"\s", ""), unit="UTF8_CHAR")
            first.append(tf.debugging.assert_less_equal(2 * unseen, total, message=OTHER_SCRIPT))
        with tf.control_dependencies(first):
            then = [tf.debugging.assert_positive(ids.row_lengths(), message=NO_WORDS),
                    tf.debugging.assert_less_equal(whole.row_lengths(), tf.constant(cfg.max_length, tf.int64),
                                                   message=f"a text is longer than {cfg.max_length} subwords, the "
                                                           "longest this model translates; send one sentence at a "
                                                           "time")]
        with tf.control_dependencies(then):  # before the encoder and the search, which fail obscurely otherwise
            tokens = tf.identity(ids.to_tensor())
            beam_width = tf.identity(beam_width)
        keys, state = encoder(tokens)
        out, lengths, scores = decoding.beam_search_graph(
            step_fn, (keys, tf.not_equal(tokens, 0), *[state] * n_states), start=START_ID, end=END_ID,
            limits=decode_limit(ids.row_lengths(), cfg.max_length), width=beam_width)
        words = net.target.text(tf.RaggedTensor.from_tensor(out, lengths=lengths))
        return {"translation": words, "log_probability": scores}

    translate.tracked = (encoder, step, source_tokenizer)  # what an export must keep
    return translate


class Translator:
    """Python-side decoding of a trained model (shared.seq2seq.Decoder): greedy for a batch, beam search per
    sentence, attention rows - the reference the in-graph decoding is tested against."""

    def __init__(self, net: Seq2Seq, max_length: int):
        self.encoder, step = decoder_parts(net.model)
        vocabulary = [net.target.python.id_to_piece(i) for i in range(net.target.size())]
        self.decoder = seq2seq.Decoder(step, vocabulary, max_length, detokenize=net.target.python.decode)
        self.net, self.max_length = net, max_length

    def _encode(self, texts: list[str]):
        ids = self.net.source.ids(tf.constant(texts))[:, : self.max_length]
        tokens = ids.to_tensor()
        keys, state = self.encoder(tokens)
        states = [state.numpy()] * seq2seq.n_states(self.decoder.step_model)
        return (keys.numpy(), tokens.numpy() != 0, states), ids.row_lengths().numpy()

    def greedy(self, texts: list[str]) -> list[str]:
        """Greedy translations of a batch, each cut at its own decode_limit (greedy decoding is the same up to
        there whatever the cap)."""
        encoded, lengths = self._encode(texts)
        return self.decoder.greedy(*encoded, limits=decode_limit(lengths, self.max_length))[0]

    def beam(self, text: str, width: int) -> tuple[str, float]:
        encoded, lengths = self._encode([text])
        return self.decoder.beam(*encoded, width, max_length=int(decode_limit(lengths[0], self.max_length)))

    def attention(self, text: str) -> tuple[list[str], list[str], np.ndarray]:
        """(source subwords, output subwords, (output, source) attention weights) of the greedy translation."""
        encoded, lengths = self._encode([text])
        output_words, weights = self.decoder.attention(*encoded)
        source_words = self.net.source.python.encode(pair_data.normalize(text), out_type=str)[: self.max_length]
        return source_words, output_words, weights[:, : len(source_words)]


def translate_all(translate, texts: list[str], width: int, batch: int = 64) -> list[str]:
    """`translation_function`'s output for every text, in batches of similar length (less padding and fewer
    steps), in the order given."""
    order = np.argsort([len(t) for t in texts], kind="stable")
    out = [""] * len(texts)
    for i in progress.progress(range(0, len(texts), batch), f"decoding (beam {width})", unit="batch"):
        pick = order[i:i + batch]
        result = translate(tf.constant([texts[j] for j in pick]), tf.constant(width, tf.int32))["translation"]
        for j, text in zip(pick, result.numpy(), strict=True):
            out[j] = text.decode()
    return out


def translate(net: Seq2Seq, texts: list[str], max_length: int = 96) -> list[str]:
    return Translator(net, max_length).greedy(texts)


def evaluate(cfg: Config, net: Seq2Seq, pairs: TranslationData) -> dict:
    """BLEU/chrF on every test pair, decoded by the graph the export serves: greedy and beam search of
    --beam-width; by English length; the copy-the-source baseline; a few examples and three attention rows."""
    test = pairs.test
    translate_graph = translation_function(cfg, net)
    greedy = translate_all(translate_graph, test.sources, 1)
    beam = translate_all(translate_graph, test.sources, cfg.beam_width)
    copy = [pair_data.normalize(s) for s in test.sources]
    log.info("test BLEU greedy %.1f, beam %d %.1f, copy baseline %.1f", bleu_chrf(greedy, test.targets)["BLEU"],
             cfg.beam_width, bleu_chrf(beam, test.targets)["BLEU"], bleu_chrf(copy, test.targets)["BLEU"])
    translator = Translator(net, cfg.max_length)
    return {"attention": [translator.attention(s) for s in test.sources[:3]],
            "by_length": {"greedy": pair_data.by_length(test.sources, greedy, test.targets),
                          f"beam {cfg.beam_width}": pair_data.by_length(test.sources, beam, test.targets)},
            "greedy": bleu_chrf(greedy, test.targets), f"beam {cfg.beam_width}": bleu_chrf(beam, test.targets),
            "copy the source (baseline)": bleu_chrf(copy, test.targets),
            "examples": [{"source": s, "reference": r, "greedy": g, "beam": b}
                         for s, r, g, b in list(zip(test.sources, test.targets, greedy, beam, strict=True))[:8]]}


def summary(cfg: Config, metrics: dict, estimate: dict | None = None) -> dict:
    beam = metrics[f"beam {cfg.beam_width}"]
    return {"BLEU": beam["BLEU"], "chrF": beam["chrF"], "greedy BLEU": metrics["greedy"]["BLEU"],
            "copy BLEU": metrics["copy the source (baseline)"]["BLEU"]}


def export(cfg: Config, net: Seq2Seq, pairs: TranslationData, metrics: dict,
           root: str | pathlib.Path = shared_export.DEFAULT_ROOT) -> pathlib.Path:
    """serving_default(text [batch] string) -> translation [batch] string by beam search of --beam-width;
    translate(text, beam_width) -> translation, log_probability for any width (1: greedy). Subword models,
    encoder and decoding loop are all inside the graph."""
    alphabet = "".join(sorted(set("".join(pair_data.normalize(t) for t in pairs.train.sources)) - {" "}))
    translate = translation_function(cfg, net, alphabet)

    def serve(text):
        return {"translation": translate(text, tf.constant(cfg.beam_width, tf.int32))["translation"]}

    meta = {"config": cfg, "source": pairs.source, "metrics": metrics, "alphabet": alphabet,
            "input_limits": {"serving_default": {"text": specs.UTF8}, "translate": {"text": specs.UTF8}}}
    return shared_export.save(net.model, NAME, serve_fn=serve, also_track=translate.tracked,
                              input_signature=[tf.TensorSpec((None,), tf.string, name="text")], metadata=meta,
                              root=root, extra_endpoints={"translate": (translate, None)})


def translate_served(texts: list[str], model_path: str | pathlib.Path | None = None,
                     beam_width: int | None = None) -> list[str]:
    """Translations of `texts` by the exported SavedModel (latest by default): serving_default, or the `translate`
    signature with `beam_width`."""
    empty = [i for i, t in enumerate(texts) if not pair_data.normalize(t)]
    if not texts or empty:
        raise ValueError(f"text {empty[0] if empty else 0}: {NO_WORDS} (TEXT=\"...\").")
    if beam_width is not None and beam_width < 1:
        raise ValueError(f"beam width {beam_width}: expected at least 1 (1 is greedy).")
    served, _ = shared_export.load(model_path or shared_export.latest(NAME), NAME)
    try:
        if beam_width is None:
            out = served.signatures["serving_default"](text=tf.constant(texts))["translation"]
        else:
            out = served.signatures["translate"](text=tf.constant(texts),
                                                 beam_width=tf.constant(beam_width))["translation"]
    except tf.errors.InvalidArgumentError as error:  # the export's own checks: too long, another script
        raise ValueError(shared_export.graph_error(error) + ".") from None
    return [t.decode() for t in out.numpy()]


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


def build_report(cfg: Config, pairs: TranslationData, metrics: dict,
                 timing: dict, estimate: dict | None = None) -> reports.Report:
    scores = {k: v for k, v in metrics.items() if k not in ("examples", "attention", "by_length")}
    rows = {}
    for decoder, buckets in (metrics.get("by_length") or {}).items():
        for bucket, row in buckets.items():
            rows.setdefault(bucket, {"pairs": row["pairs"]}).update({f"{decoder} {k}": v for k, v in row.items()
                                                                     if k != "pairs"})
    length_table = "\n".join(["Every test pair by the English sentence's length in words, decoded by the exported "
                              f"graph (training keeps pairs of up to {cfg.max_length} subwords; longer inputs are "
                              "cut).", "", reports.table(rows, first="source length"), "",
                              f"sacrebleu signatures: {pair_data.signatures()}"])
    examples = "\n".join(f"- {e['source']} -> greedy: *{e['greedy']}*; beam: *{e['beam']}* (reference: {e['reference']})"
                         for e in metrics["examples"])
    return reports.Report(domain=NAME, source=pairs.source, metrics=scores[f"beam {cfg.beam_width}"],
                          baselines=scores, anchors=ANCHORS, timing=timing,
                          figures={"attention": attention_figure(metrics["attention"])},
                          sections={"Examples": examples, "By length": length_table,
                                    **reports.notes(pairs.notes)},
                          extra={"config": dataclasses.asdict(cfg), "by_length": rows,
                                 "sacrebleu": pair_data.signatures()})

