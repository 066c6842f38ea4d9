"""The stages of the sentiment pipeline (pipelines.sentiment holds its options and the story): data -> datasets -> model ->
training -> evaluation -> export -> predict -> report."""

from __future__ import annotations

import dataclasses
import logging
import pathlib

import keras
import numpy as np
import tensorflow as tf

from domain import text as text_data
from domain.text import binary_metrics
from pipelines.sentiment import NAME, Config, pretraining
from shared import checkpoints, cli, data, layers, plots, reports, specs, training
from shared import export as shared_export

log = logging.getLogger(__name__)
LABELS = ("negative", "positive")
NO_WORDS = "no words"  # the served label of a text without a single word


@keras.saving.register_keras_serializable(package="rnn_suite")
def standardize_review(text: tf.Tensor) -> tf.Tensor:
    """Inside the model: invalid UTF-8 replaced (U+FFFD), lower case, HTML line breaks and punctuation to spaces,
    the first text_data.MAX_WORDS words kept (the length cap). Shapes: (batch,) -> (batch,)."""
    text = tf.strings.unicode_transcode(text, "UTF-8", "UTF-8", errors="replace")
    text = tf.strings.lower(text, encoding="utf-8")
    text = tf.strings.regex_replace(text, r"<br\s*/?>", " ")
    text = tf.strings.regex_replace(text, r"[^\pL\pN_']+", " ")  # RE2's \w is ASCII-only: keep accented letters
    words = tf.strings.split(text)
    return tf.strings.reduce_join(words[..., : text_data.MAX_WORDS], axis=-1, separator=" ")


@dataclasses.dataclass
class SentimentData:
    train: text_data.Reviews
    validation: text_data.Reviews
    test: text_data.Reviews
    source: str
    notes: list[str]
    unlabelled: list[str] = dataclasses.field(default_factory=list)  # read for pretraining (cfg.reads_unlabelled)

    @property
    def grouped(self) -> bool:
        """Whether validation (and a test split drawn from the training reviews) holds whole movies."""
        return self.train.movies is not None


def load_data(cfg: Config) -> SentimentData:
    """Train / validation / test reviews from the source; validation is 10% of the training reviews, whole movies
    where the source names each review's movie (train_movies.csv beside train.csv, or aclImdb's urls files); with
    word vectors or a language model (cfg.reads_unlabelled), the source's unlabelled reviews too."""
    data_dir = cfg.data_dir or text_data.default_data_dir()
    source = text_data.resolve(cfg.source, data_dir, given=cfg.data_dir)
    notes, unlabelled = [], []
    if source == "synthetic":
        corpus = text_data.negation_corpus(cfg.synthetic_reviews, cfg.seed)
        rest, test = text_data.split(corpus, cfg.test_fraction, cfg.seed)
        where = f"synthetic negation corpus ({cfg.synthetic_reviews} reviews, seed {cfg.seed})"
        if cfg.reads_unlabelled:  # unlabelled: another corpus drawn the same way
            unlabelled = text_data.negation_corpus(cfg.synthetic_reviews, cfg.seed + 1).texts
    else:
        found = text_data.load_tfds() if source == "tfds" else text_data.load_local(data_dir)
        where = "TFDS imdb_reviews" if source == "tfds" else f"local {data_dir}"
        if "test" in found:
            rest, test = found["train"], found["test"]
        else:
            rest, test = text_data.split(found["train"], cfg.test_fraction, cfg.seed)
            notes.append(f"no test split in {data_dir}: {cfg.test_fraction:.0%} of the training reviews are held out "
                         "as the test set" + (", whole movies, as the official IMDB test set's are disjoint from "
                         "training's." if rest.movies is not None else " (the official IMDB test set has disjoint "
                         "movies; this one may share movies with training, so it can read optimistic)."))
        dropped = sum(r.dropped for r in found.values())
        if dropped:
            notes.append(f"{dropped} empty reviews dropped while loading")
        if cfg.reads_unlabelled:
            unlabelled = text_data.load_tfds_unlabelled() if source == "tfds" else text_data.load_unlabelled(data_dir)
            if not unlabelled:
                notes.append(f"no unlabelled reviews in {data_dir} (unsup.csv or train/unsup/): word vectors and a "
                             "language model read the training reviews only")
    if rest.movies is None and source != "synthetic":
        notes.append("the reviews' movies are not known (no train_movies.csv beside train.csv): validation is a "
                     "random tenth of the training reviews and shares movies with training, so it reads higher "
                     "than a test on other movies")
    train, validation = text_data.split(rest, 0.1, cfg.seed)
    for note in notes:
        log.warning("%s", note)
    log.info("%s: train %d, validation %d, test %d reviews (positive share %.2f)%s; unlabelled %d", where, len(train),
             len(validation), len(test), float(train.labels.mean()),
             f", split by movie ({len(set(train.movies))} / {len(set(validation.movies))} movies)"
             if train.movies is not None else "", len(unlabelled))
    return SentimentData(train, validation, test, f"{source}: {where}", notes, unlabelled)


def make_datasets(cfg: Config, reviews: SentimentData) -> tuple[tf.data.Dataset, tf.data.Dataset, tf.data.Dataset]:
    """(text (batch,) string, label (batch,)) datasets; training shuffled under the seed. The model vectorizes,
    padding each batch on the right to its longest review (mask_zero masks the padding)."""
    def dataset(part, seed=None):
        ds = tf.data.Dataset.from_tensor_slices((part.texts, part.labels.astype("float32")))
        return data.batched(ds, cfg.batch_size, shuffle_seed=seed)
    return dataset(reviews.train, cfg.seed), dataset(reviews.validation), dataset(reviews.test)


@keras.saving.register_keras_serializable(package="rnn_suite")
class BigramIds(keras.layers.Layer):
    """Word ids (batch, steps) -> ids of each (previous word, word) pair hashed into 1..buckets-1; 0 where either
    word is padding. The first word pairs with a start marker (id `vocabulary`, never a word id). fastText's
    bigram hashing (Joulin et al. 2017), fed to the RNN step by step beside the word."""

    def __init__(self, vocabulary: int, buckets: int, **kwargs):
        super().__init__(**kwargs)
        self.vocabulary, self.buckets = vocabulary, buckets

    def call(self, ids):
        ids = tf.cast(ids, tf.int64)
        previous = tf.pad(ids[:, :-1], [[0, 0], [1, 0]], constant_values=self.vocabulary)  # the start
        pair = 1 + (previous * (self.vocabulary + 1) + ids) % (self.buckets - 1)
        return tf.where(ids > 0, pair, tf.zeros_like(pair))

    def get_config(self):
        return {**super().get_config(), "vocabulary": self.vocabulary, "buckets": self.buckets}


def build_model(cfg: Config, reviews: SentimentData | None = None) -> keras.Model:
    """text (batch,) string -> P(positive) (batch, 1). The vectorizer is adapted on the training reviews only.
    Words (and, with bigram_buckets, hashed word pairs) -> embeddings -> RNN over every step (or over segments of
    cfg.segment words) -> mean and max of its states (pooling meanmax) or its last state -> P(positive). With
    cfg.members > 1, that many such networks behind the one vectorizer, their probabilities averaged (train fits
    each alone)."""
    vectorizer = keras.layers.TextVectorization(max_tokens=cfg.vocab_size, standardize=standardize_review,
                                                name="vectorizer")
    vectorizer.adapt(tf.constant(reviews.train.texts if reviews and len(reviews.train) else ["empty"]),
                     batch_size=1024)
    text = keras.Input(shape=(), dtype="string", name="text")
    ids = vectorizer(text)
    if cfg.members == 1:
        return keras.Model(text, _network(cfg, ids), name="sentiment_rnn")
    outputs = [_network(cfg, ids, f"_{k}") for k in range(1, cfg.members + 1)]
    return keras.Model(text, keras.layers.Average(name="positive")(outputs), name="sentiment_rnn")


def _network(cfg: Config, ids: keras.KerasTensor, suffix: str = "") -> keras.KerasTensor:
    """Word ids (batch, steps) -> P(positive) (batch, 1); layer names end in `suffix` (one network of several)."""
    segmented = bool(cfg.segment)  # segments: no mask into the RNN (padding only ever follows the words)
    x = keras.layers.Embedding(cfg.vocab_size, cfg.embed_dim, mask_zero=not segmented, name=f"embedding{suffix}")(ids)
    if cfg.bigram_buckets:
        pairs = BigramIds(cfg.vocab_size, cfg.bigram_buckets, name=f"bigram_ids{suffix}")(ids)
        x = keras.layers.Add(name=f"words_and_pairs{suffix}")(
            [x, keras.layers.Embedding(cfg.bigram_buckets, cfg.embed_dim, mask_zero=not segmented,
                                       name=f"bigram_embedding{suffix}")(pairs)])
    if cfg.embed_dropout:
        x = keras.layers.SpatialDropout1D(cfg.embed_dropout, name=f"embed_dropout{suffix}")(x)
    every_state = layers.parse_spec(cfg.rnn, return_sequences=True)
    if segmented:
        states = layers.apply_rnn(layers.ToSegments(cfg.segment, name=f"segments{suffix}")([x, ids]), every_state,
                                  name=f"rnn{suffix}")
        x = layers.MeanMaxPooling(name=f"pool{suffix}")(layers.FromSegments(name=f"review{suffix}")([states, ids]))
    elif cfg.pooling == "meanmax":
        x = layers.MeanMaxPooling(name=f"pool{suffix}")(layers.apply_rnn(x, every_state, name=f"rnn{suffix}"))
    else:
        x = layers.apply_rnn(x, cfg.rnn, name=f"rnn{suffix}")
    x = keras.layers.Dropout(cfg.dropout, name=f"dropout{suffix}")(x)
    name = f"positive{suffix}" if suffix else "positive"
    return keras.layers.Dense(1, activation="sigmoid", dtype="float32", name=name)(x)


def networks(cfg: Config, model: keras.Model) -> list[keras.Model]:
    """The networks trained one by one: the model itself, or each member the model averages."""
    if cfg.members == 1:
        return [model]
    return [keras.Model(model.input, model.get_layer(f"positive_{k}").output, name=f"sentiment_rnn_{k}")
            for k in range(1, cfg.members + 1)]


def network_plan(cfg: Config, network: keras.Model, reviews: SentimentData) -> training.Plan:
    """One network's fit, the checkpoint and early stopping on the validation reviews' accuracy (never the test
    split's)."""
    train_ds, val_ds, _ = make_datasets(cfg, reviews)
    return training.Plan(network, train_ds, val_ds, loss="binary_crossentropy",
                         metrics=["accuracy", keras.metrics.AUC(name="auc")], monitor="val_accuracy",
                         monitor_mode="max", patience=2, rates={"samples": len(reviews.train)})


def plan(cfg: Config, model: keras.Model, reviews: SentimentData) -> training.Plan:
    """The first network's fit (the model itself with one member)."""
    return network_plan(cfg, networks(cfg, model)[0], reviews)


def train(cfg: Config, model: keras.Model, reviews: SentimentData, verbose: int | str = "auto"
          ) -> training.TrainResult:
    """One network, or each member alone, from its own seed, in its own folder (resumable), then their average
    saved as the run's checkpoint."""
    log.info("model %s: %d parameters, rnn %s, vocabulary %d", model.name, model.count_params(), cfg.rnn,
             model.get_layer("vectorizer").vocabulary_size())
    language, vectors, embedding, texts = {}, {}, None, reviews.train.texts + reviews.unlabelled
    suffixes = [f"_{k}" if cfg.members > 1 else "" for k in range(1, cfg.members + 1)]
    if cfg.word_vectors != "none":
        embedding, vectors = pretraining.word_vectors(model.get_layer("vectorizer"), texts, cfg.vocab_size,
                                                      cfg.embed_dim, cfg.seed)
        for suffix in suffixes:
            model.get_layer(f"embedding{suffix}").set_weights([embedding])
        vectors["unlabelled reviews"] = len(reviews.unlabelled)
    if cfg.pretrain_epochs:
        language_model, language = pretraining.pretrain(
            cfg, model.get_layer("vectorizer"), texts, reviews.validation.texts, verbose,
            embedding=embedding)
        for network, suffix in zip(networks(cfg, model), suffixes, strict=True):
            pretraining.carry_over(language_model, network, suffix)
        language["unlabelled reviews"] = len(reviews.unlabelled)
    if cfg.members == 1:
        result = training.fit(plan(cfg, model, reviews), training.Settings.of(cfg, verbose=verbose))
    else:
        result = training.fit_members(model, networks(cfg, model), cfg, lambda network, member: training.fit(
            network_plan(cfg, network, reviews), training.Settings.of(member, verbose=verbose)))
    return dataclasses.replace(result, timing={
        **result.timing, "reviews_per_second_training": result.timing.get("samples_per_second"),
        **({"word vectors": vectors} if vectors else {}), **({"language model": language} if language else {})})


def score(model: keras.Model, test: text_data.Reviews, batch_size: int = 256) -> dict:
    probability = model.predict(tf.constant(test.texts), batch_size=batch_size, verbose=0)[:, 0]
    return binary_metrics(test.labels, probability)


def evaluate(cfg: Config, model: keras.Model, reviews: SentimentData) -> dict:
    """The test reviews, scored once: the model's metrics, and the baseline's under "baseline"."""
    metrics = {**score(model, reviews.test), "baseline": baseline(reviews), "NB-SVM": nbsvm(reviews)}
    if cfg.members > 1 and len(reviews.validation):  # what averaging bought, on the validation reviews
        texts = tf.constant(reviews.validation.texts)
        each = [keras.Model(model.input, model.get_layer(f"positive_{k}").output).predict(texts, 256, verbose=0)[:, 0]
                for k in range(1, cfg.members + 1)]
        metrics["validation accuracy"] = {
            **{f"member {k}": binary_metrics(reviews.validation.labels, p)["accuracy"] for k, p in enumerate(each, 1)},
            "average": binary_metrics(reviews.validation.labels, np.mean(each, axis=0))["accuracy"]}
        log.info("validation accuracy: %s", reports.rounded(metrics["validation accuracy"]))
    log.info("test accuracy %.2f%% (TF-IDF + LR %.2f%%)", metrics["accuracy"], metrics["baseline"]["accuracy"])
    return metrics


def summary(cfg: Config, metrics: dict, estimate: dict | None = None) -> dict:
    return {"accuracy": metrics["accuracy"], "F1": metrics["F1"], "ROC AUC": metrics["ROC AUC"],
            "baseline accuracy": metrics["baseline"]["accuracy"], "NB-SVM accuracy": metrics["NB-SVM"]["accuracy"]}


def load_trained(cfg: Config) -> keras.Model:
    return checkpoints.load_checkpoint(cfg.run_dir, NAME)


def baseline(reviews: SentimentData) -> dict:
    """scikit-learn TF-IDF (word 1-2 grams, sublinear tf) + logistic regression on the same split."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    model = make_pipeline(TfidfVectorizer(preprocessor=text_data.clean, ngram_range=(1, 2), min_df=2,
                                          sublinear_tf=True, max_features=200_000),
                          LogisticRegression(C=4.0, max_iter=1000))
    model.fit(reviews.train.texts, reviews.train.labels)
    return binary_metrics(reviews.test.labels, model.predict_proba(reviews.test.texts)[:, 1])


def nbsvm(reviews: SentimentData, beta: float = 0.25, alpha: float = 1.0) -> dict:
    """NB-SVM (Wang & Manning 2012, NBSVM-bi) on the same split: binarized word 1-2 grams scaled by their naive
    Bayes log-count ratio r, a linear SVM on them (L2-regularised squared hinge, C 1), its weights interpolated
    toward their mean magnitude (beta 0.25), as the paper's. The probability is the logistic of the margin (its
    accuracy is the SVM's; its ROC AUC the margin's)."""
    from scipy.special import expit
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.svm import LinearSVC

    words = CountVectorizer(preprocessor=text_data.clean, ngram_range=(1, 2), binary=True)
    x, y = words.fit_transform(reviews.train.texts), reviews.train.labels
    p, q = alpha + np.asarray(x[y == 1].sum(axis=0)).ravel(), alpha + np.asarray(x[y == 0].sum(axis=0)).ravel()
    r = np.log((p / p.sum()) / (q / q.sum()))
    svm = LinearSVC(C=1.0).fit(x.multiply(r).tocsr(), y)
    w = (1 - beta) * np.abs(svm.coef_[0]).mean() + beta * svm.coef_[0]
    margin = words.transform(reviews.test.texts).multiply(r).tocsr() @ w + svm.intercept_[0]
    return binary_metrics(reviews.test.labels, expit(margin))


def export(cfg: Config, model: keras.Model, reviews: SentimentData, metrics: dict,
           root: str | pathlib.Path = shared_export.DEFAULT_ROOT) -> pathlib.Path:
    """saved_models/sentiment/<version>/: serving_default(text [batch] string) -> positive_probability [batch]
    float32, label [batch] string ("positive" / "negative"; "no words" with a NaN probability for a text that has
    none after standardisation, e.g. only punctuation or emoji)."""
    names = tf.constant(LABELS)

    def serve(text):
        # one extra one-word text keeps every batch at least one token long (a batch of empty or punctuation-only
        # texts, or of none, would otherwise be a zero-length sequence: a graph error); it is dropped again below
        probability = model(tf.concat([text, tf.constant(["x"])], axis=0), training=False)[:-1, 0]
        has_words = tf.strings.split(standardize_review(text)).row_lengths() > 0
        label = tf.where(has_words, tf.gather(names, tf.cast(probability >= 0.5, tf.int32)), NO_WORDS)
        return {"positive_probability": tf.where(has_words, probability, float("nan")), "label": label}

    meta = {"config": cfg, "source": reviews.source, "metrics": metrics,
            "labels": list(LABELS), "max_words": text_data.MAX_WORDS,
            "input_limits": {"serving_default": {"text": specs.UTF8}}}
    return shared_export.save(model, NAME, serve_fn=serve, input_signature=[tf.TensorSpec((None,), tf.string,
                              name="text")], metadata=meta, root=root)


def classify(texts: list[str], model_path: str | pathlib.Path | None = None) -> list[dict]:
    """Label and P(positive) of each text from the exported SavedModel (latest by default). Empty texts are
    refused: there is nothing to classify."""
    empty = [i for i, t in enumerate(texts) if not t.strip()]
    if empty:
        raise ValueError(f"text {empty[0]} is empty or whitespace only; give a review to classify (TEXT=\"...\").")
    words = tf.strings.split(standardize_review(tf.constant(texts))).row_lengths().numpy()
    if not words.all():
        i = int(np.flatnonzero(words == 0)[0])
        raise ValueError(f"text {i} ({texts[i][:40]!r}) has no words once punctuation and symbols are removed; "
                         "there is nothing to classify.")
    served, _ = shared_export.load(model_path or shared_export.latest(NAME), NAME)
    out = served.signatures["serving_default"](text=tf.constant(texts))
    return [{"text": t[:80], "label": label.decode(), "positive_probability": round(float(p), 4)}
            for t, label, p in zip(texts, out["label"].numpy(), out["positive_probability"].numpy(), strict=True)]


def predict(cfg: Config, text: str, model_path: str | pathlib.Path | None = None) -> dict:
    """One text (or @file) through the exported model: classify's row."""
    return classify([cli.text_input(text)], model_path)[0]


def build_report(cfg: Config, reviews: SentimentData, metrics: dict,
                 timing: dict, estimate: dict | None = None) -> reports.Report:
    row = lambda m: {k: v for k, v in m.items() if k not in ("confusion", "baseline", "NB-SVM",  # noqa: E731
                                                           "validation accuracy")}
    anchors = {"Maas et al. 2011 (IMDB test, 25k)": {"accuracy": text_data.MAAS_2011_ACCURACY},
               "Wang & Manning 2012, NBSVM-bi (IMDB test, no pretraining)": {"accuracy": text_data.NBSVM_BI_ACCURACY},
               "Dai & Le 2015, LSTM from random initialisation (IMDB test)": {"accuracy": text_data.DAI_LE_2015_LSTM_ACCURACY},
               "Johnson & Zhang 2016, oh-2LSTMp, supervised only (IMDB test)": {
                   "accuracy": text_data.JOHNSON_ZHANG_2016_OH2LSTMP_ACCURACY},
               "Dai & Le 2015, LSTM pretrained as a sequence autoencoder (IMDB test)": {
                   "accuracy": text_data.DAI_LE_2015_SA_LSTM_ACCURACY},
               "Johnson & Zhang 2016, LSTM region embeddings from unlabelled data (IMDB test)": {
                   "accuracy": text_data.JOHNSON_ZHANG_2016_SEMI_ACCURACY},
               "Howard & Ruder 2018, ULMFiT (IMDB test, pretrained on Wikipedia too)": {
                   "accuracy": text_data.ULMFIT_ACCURACY}}
    figures = {"confusion": plots.confusion_figure(np.array(metrics["confusion"]), list(LABELS))}
    sections = {"Split": f"train {len(reviews.train)}, validation {len(reviews.validation)}, test "
                         f"{len(reviews.test)} reviews; length cap {text_data.MAX_WORDS} words",
                "Protocol": ("Validation is a tenth of the training reviews" + (
                    ", whole movies (no movie in both training and validation, as between IMDB's official train and "
                    "test sets)" if reviews.grouped else "") + ": the checkpoint and early stopping read its "
                    "accuracy, and the options were chosen on it. The test reviews are scored once, at the end; the "
                    "baselines are fitted on the same training reviews."),
                **reports.notes(reviews.notes)}
    vectors = timing.get("word vectors")
    if vectors:
        sections["Word vectors"] = (
            f"Each network's embedding started from PPMI + SVD word vectors (Levy, Goldberg & Dagan 2015) of "
            f"{vectors['reviews']:,} reviews ({vectors['unlabelled reviews']:,} unlabelled read), {vectors['words']:,} "
            f"words, a window of {pretraining.WINDOW}, {vectors['pairs']:,} word pairs with positive PMI, "
            f"{vectors['seconds']:.0f} s. Nearest words by cosine: " + "; ".join(
                f"*{word}*: {', '.join(near)}" for word, near in vectors["neighbours"].items()) + ".")
    language = timing.get("language model")
    if language:
        sections["Language-model pretraining"] = (
            f"The embedding and RNN were first trained to predict words (forward: the next, backward: the previous) "
            f"on {language['reviews']:,} reviews ({language['unlabelled reviews']:,} unlabelled read), "
            f"{language['words']:,} words in segments of {cfg.segment or pretraining.DEFAULT_SEGMENT}, "
            f"{language['epochs']} epoch(s), {language['seconds']:.0f} s"
            + (" (reused from an earlier run with the same vocabulary and options)" if language["reused"] else "")
            + f"; held-out perplexity (validation reviews, full softmax over {cfg.vocab_size:,} words) "
            f"**{language['perplexity']:.1f}**. Each network then started from them.")
    if "validation accuracy" in metrics:
        sections["Averaged RNNs (validation reviews)"] = "\n".join(
            ["| network | validation accuracy |", "|---|---:|",
             *[f"| {name} | {value:.2f}% |" for name, value in metrics["validation accuracy"].items()]])
    return reports.Report(domain=NAME, source=reviews.source, metrics=row(metrics),
                          baselines={f"this model ({cfg.rnn})": row(metrics),
                                     "TF-IDF + logistic regression": row(metrics["baseline"]),
                                     **({"NB-SVM (Wang & Manning 2012)": row(metrics["NB-SVM"])}
                                        if "NB-SVM" in metrics else {})},
                          anchors=anchors, timing=timing, figures=figures, sections=sections,
                          extra={"config": dataclasses.asdict(cfg),
                                 "confusion": metrics["confusion"]})

