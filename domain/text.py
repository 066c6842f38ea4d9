"""Review sentiment data: IMDB (TFDS, CSV, aclImdb folders), the generated negation corpus, cleaning, splits.

Notebook:
    reviews = text.negation_corpus(2000, seed=0)           # texts, labels whose meaning needs word order
    train, test = text.split(text.load_csv("data/imdb/train.csv"), 0.2, seed=0)
"""

from __future__ import annotations

import csv
import dataclasses
import logging
import pathlib
import re

import numpy as np

from domain.sources import data_folder, resolve_auto

log = logging.getLogger(__name__)

SOURCES = ("auto", "local", "tfds", "synthetic")
TFDS_HOST = "ai.stanford.edu"  # where the TFDS imdb_reviews builder downloads aclImdb_v1.tar.gz
MAX_WORDS = 400  # length cap: words of a review kept (IMDB median ~175, 90th percentile ~450 words)
# Maas et al. 2011, "Learning Word Vectors for Sentiment Analysis" (ACL), full model + bag of words, IMDB test.
MAAS_2011_ACCURACY = 88.89
# Wang & Manning 2012 (ACL), NBSVM-bi, IMDB test, no pretraining; Dai & Le 2015 (NeurIPS), LSTM from random init.
NBSVM_BI_ACCURACY = 91.22
DAI_LE_2015_LSTM_ACCURACY = 86.5
JOHNSON_ZHANG_2016_OH2LSTMP_ACCURACY = 91.86  # supervised only, IMDB test error 8.14% (ICML 2016, their table)
# With the unlabelled reviews: Dai & Le 2015 SA-LSTM (error 7.24%), Johnson & Zhang 2016 LSTM region embeddings
# (error 5.94%), Howard & Ruder 2018 ULMFiT (error 4.6%; its language model also read WikiText-103).
DAI_LE_2015_SA_LSTM_ACCURACY = 92.76
JOHNSON_ZHANG_2016_SEMI_ACCURACY = 94.06
ULMFIT_ACCURACY = 95.4
_BREAK = re.compile(r"<br\s*/?>", re.IGNORECASE)


@dataclasses.dataclass
class Reviews:
    """texts: list of str; labels: (n,) int32, 1 = positive; dropped: empty reviews left out while loading;
    movies: each review's movie (IMDb title id) where the source says it, else None (splits then cannot be grouped)."""

    texts: list[str]
    labels: np.ndarray
    dropped: int = 0
    movies: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.texts)


def clean(text: str) -> str:
    """The field's cleaning: HTML line breaks to spaces, lower case, collapsed whitespace (the same as the model's
    own standardization, so the baseline and the RNN see the same words)."""
    return " ".join(_BREAK.sub(" ", text).lower().split())


def _reviews(texts: list[str], labels: list[int], where: str, movies: list[str] | None = None) -> Reviews:
    """Reviews with empty (or whitespace-only) texts dropped and counted; labels must be 0/1."""
    labels_array = np.asarray(labels, dtype="int64")
    bad = np.flatnonzero((labels_array != 0) & (labels_array != 1))
    if len(bad):
        raise ValueError(f"{where}: label {labels[bad[0]]!r} at review {bad[0]}; labels must be 0 (negative) or "
                         "1 (positive).")
    keep = [i for i, t in enumerate(texts) if t.strip()]
    if len(keep) < len(texts):
        log.warning("%s: %d empty reviews dropped", where, len(texts) - len(keep))
    return Reviews([texts[i] for i in keep], labels_array[keep].astype("int32"), len(texts) - len(keep),
                   None if movies is None else np.asarray(movies, dtype=object)[keep])


def load_csv(path: str | pathlib.Path) -> Reviews:
    """A UTF-8 CSV with a header holding `text` and `label` (0/1) columns (the layout of $RNN_DATA_DIR/imdb)."""
    path = pathlib.Path(path)
    if not path.exists():
        raise FileNotFoundError(f"review file {path} not found; pass --data-dir with train.csv or the aclImdb folders.")
    try:
        with path.open(encoding="utf-8", newline="") as f:
            reader = csv.DictReader(f)
            missing = {"text", "label"} - set(reader.fieldnames or [])
            if missing:
                raise ValueError(f"{path}: missing column(s) {sorted(missing)}; found {reader.fieldnames}. The CSV "
                                 "needs a header with 'text' and 'label' (0/1).")
            rows = list(reader)
    except UnicodeDecodeError as error:
        raise ValueError(f"{path}: not valid UTF-8 ({error.reason} at byte {error.start}); re-save the file as "
                         "UTF-8.") from None
    labels = []
    for i, row in enumerate(rows):
        try:
            labels.append(int(row["label"]))
        except (TypeError, ValueError):
            raise ValueError(f"{path}: row {i + 2} has label {row['label']!r}; labels must be 0 or 1.") from None
    return _reviews([row["text"] or "" for row in rows], labels, str(path), movies_beside(path, len(rows)))


def movies_beside(path: pathlib.Path, rows: int) -> list[str] | None:
    """The movie of each row of `path` from <stem>_movies.csv beside it (a `movie` column, row for row, as the
    IMDB folder's train_movies.csv), or None when there is none. A file that does not match row for row cannot be
    used: it is skipped with a warning (the splits are then random, not grouped by movie)."""
    beside = path.with_name(f"{path.stem}_movies.csv")
    if not beside.exists():
        return None
    with beside.open(encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        movies = [row.get("movie") or "" for row in reader] if "movie" in (reader.fieldnames or []) else None
    if movies is None or len(movies) != rows or not all(movies):
        log.warning("%s: not used (expected a 'movie' column with one title id per row of %s, %d rows); the splits "
                    "are random, not grouped by movie", beside, path.name, rows)
        return None
    return movies


def load_aclimdb(folder: str | pathlib.Path) -> Reviews:
    """One split of the aclImdb layout: folder/pos/*.txt and folder/neg/*.txt (UTF-8)."""
    folder = pathlib.Path(folder)
    texts, labels, movies = [], [], []
    for label, name in ((1, "pos"), (0, "neg")):
        files = sorted((folder / name).glob("*.txt"))
        if not files:
            raise FileNotFoundError(f"no reviews in {folder / name}; the aclImdb layout is <split>/pos/*.txt and "
                                    "<split>/neg/*.txt.")
        texts += _read_texts(files)
        labels += [label] * len(files)
        movies += _aclimdb_movies(folder / f"urls_{name}.txt", files)
    return _reviews(texts, labels, str(folder), None if None in movies else movies)


def _read_texts(files: list[pathlib.Path]) -> list[str]:
    texts = []
    for file in files:
        try:
            texts.append(file.read_text(encoding="utf-8"))
        except UnicodeDecodeError as error:
            raise ValueError(f"{file}: not valid UTF-8 ({error.reason} at byte {error.start}).") from None
    return texts


def _aclimdb_movies(urls: pathlib.Path, files: list[pathlib.Path]) -> list[str | None]:
    """The movie of each <id>_<rating>.txt from aclImdb's urls_<pos|neg|unsup>.txt (line <id> holds the movie's
    IMDb address), None for each where the file is missing or does not cover it."""
    lines = urls.read_text(encoding="utf-8").split() if urls.exists() else []
    ids = [int(head) if head.isdigit() else -1 for head in (f.stem.split("_")[0] for f in files)]
    found = [re.search(r"tt\d+", lines[i]) if 0 <= i < len(lines) else None for i in ids]
    return [m.group(0) if m else None for m in found]


def load_local(data_dir: str | pathlib.Path) -> dict[str, Reviews]:
    """{"train": ..., "test": ...} (test when present) from train.csv/test.csv or aclImdb's train/ and test/."""
    data_dir = pathlib.Path(data_dir)
    found = {}
    for split in ("train", "test"):
        if (data_dir / f"{split}.csv").exists():
            found[split] = load_csv(data_dir / f"{split}.csv")
        elif (data_dir / split / "pos").is_dir():
            found[split] = load_aclimdb(data_dir / split)
    if "train" not in found:
        raise FileNotFoundError(f"no reviews in {data_dir}: expected train.csv (text,label) or train/pos, train/neg; "
                                "pass --data-dir, or put them in $RNN_DATA_DIR/imdb.")
    return found


def load_unlabelled(data_dir: str | pathlib.Path) -> list[str]:
    """The unlabelled reviews that come with IMDB, for pretraining: unsup.csv (a `text` column) beside train.csv, or
    aclImdb's train/unsup/*.txt; none when the folder has neither. Empty texts are left out."""
    data_dir = pathlib.Path(data_dir)
    if (data_dir / "unsup.csv").exists():
        with (data_dir / "unsup.csv").open(encoding="utf-8", newline="") as f:
            reader = csv.DictReader(f)
            if "text" not in (reader.fieldnames or []):
                raise ValueError(f"{data_dir / 'unsup.csv'}: no 'text' column (found {reader.fieldnames}); the "
                                 "unlabelled reviews need a header with 'text'.")
            texts = [row["text"] or "" for row in reader]
    else:
        texts = _read_texts(sorted((data_dir / "train" / "unsup").glob("*.txt")))
    return [t for t in texts if t.strip()]


def load_tfds_unlabelled(data_dir: str | None = None) -> list[str]:
    """The 50,000 unlabelled reviews of TFDS `imdb_reviews` (its `unsupervised` split)."""
    import tensorflow_datasets as tfds

    ds = tfds.load("imdb_reviews", split="unsupervised", as_supervised=True, data_dir=data_dir)
    return [t for t in (text.decode("utf-8", errors="replace") for text, _ in tfds.as_numpy(ds)) if t.strip()]


def has_local(data_dir: str | pathlib.Path) -> bool:
    data_dir = pathlib.Path(data_dir)
    return (data_dir / "train.csv").exists() or (data_dir / "train" / "pos").is_dir()


def load_tfds(data_dir: str | None = None) -> dict[str, Reviews]:
    """IMDB through the TFDS `imdb_reviews` builder (downloads aclImdb_v1 on first use): 25k train, 25k test."""
    import tensorflow_datasets as tfds

    splits = tfds.load("imdb_reviews", split=["train", "test"], as_supervised=True, data_dir=data_dir)
    found = {}
    for name, ds in zip(("train", "test"), splits, strict=True):
        texts, labels = [], []
        for text, label in tfds.as_numpy(ds):
            texts.append(text.decode("utf-8", errors="replace"))
            labels.append(int(label))
        found[name] = _reviews(texts, labels, f"tfds imdb_reviews/{name}")
    return found


def split(reviews: Reviews, fraction: float, seed: int, grouped: bool = True) -> tuple[Reviews, Reviews]:
    """(rest, held out): about `fraction` of the reviews held out, stratified by label, the same for the same seed.
    Where the reviews' movies are known (and `grouped`), whole movies are held out (one fold of a stratified group
    k-fold with k = 1 / fraction): no movie on both sides, as between IMDB's official train and test sets."""
    from sklearn.model_selection import StratifiedGroupKFold, train_test_split

    index = np.arange(len(reviews))
    if reviews.movies is not None and grouped:
        folds = StratifiedGroupKFold(max(2, round(1 / fraction)), shuffle=True, random_state=seed)
        rest, held = next(folds.split(index, reviews.labels, reviews.movies))
    else:
        rest, held = train_test_split(index, test_size=fraction, random_state=seed, stratify=reviews.labels)

    def pick(ids):
        return Reviews([reviews.texts[i] for i in ids], reviews.labels[ids],
                       movies=None if reviews.movies is None else reviews.movies[ids])
    return pick(np.sort(rest)), pick(np.sort(held))


# --- the generated negation corpus ---------------------------------------------------------------------------

POSITIVE = ("good", "great", "excellent", "wonderful", "brilliant", "superb", "enjoyable", "charming", "moving",
            "clever")
NEGATIVE = ("bad", "awful", "terrible", "dull", "boring", "weak", "poor", "tedious", "clumsy", "bland")
ASPECTS = ("acting", "plot", "ending", "script", "music", "cast", "story", "direction", "pacing", "dialogue",
           "photography", "film")
NEGATORS = ("not", "hardly", "never")
FILLERS = ("very", "really", "quite", "truly", "particularly", "especially")


def _clause(rng: np.random.Generator, polarity: int) -> str:
    """A clause whose sentiment is `polarity` (1/0), negated half of the time so no word gives it away."""
    negate = rng.random() < 0.5
    adjective_polarity = polarity ^ int(negate)
    adjective = rng.choice(POSITIVE if adjective_polarity else NEGATIVE)
    fillers = " ".join(rng.choice(FILLERS, size=rng.integers(0, 3)))
    aspect = rng.choice(ASPECTS)
    verb = rng.choice(("was", "is", "felt", "seemed"))
    negator = f"{rng.choice(NEGATORS)} " if negate else ""
    return " ".join(f"the {aspect} {verb} {negator}{fillers} {adjective}".split())


def negation_corpus(n: int, seed: int) -> Reviews:
    """`n` short reviews labelled by meaning that needs word order: negation ("the plot was not very good"),
    contrast where the clause after "but" decides ("the acting was good but the ending was dull"), and
    concessions ("although the cast was great, the film was boring"). Every word is as frequent in positive as in
    negative reviews, so an order-blind bag of words stays near chance. Deterministic under `seed`."""
    rng = np.random.default_rng(seed)
    texts, labels = [], []
    for _ in range(n):
        label = int(rng.integers(0, 2))
        kind = rng.integers(0, 3)
        if kind == 0:
            text = _clause(rng, label)
        elif kind == 1:
            text = f"{_clause(rng, 1 - label)} but {_clause(rng, label)}"
        else:
            text = f"although {_clause(rng, 1 - label)}, {_clause(rng, label)}"
        texts.append(text)
        labels.append(label)
    return Reviews(texts, np.asarray(labels, dtype="int32"))


def resolve(source: str, data_dir: str | pathlib.Path | None, given: str | pathlib.Path = "") -> str:
    """The source that will run: auto = local if data_dir holds reviews, else tfds if its download host answers
    within seconds, else synthetic; a folder the user named (`given`, --data-dir) without reviews is refused."""
    if source not in SOURCES:
        raise ValueError(f"sentiment source {source!r}: expected one of {list(SOURCES)}.")
    return resolve_auto(source, data_dir and has_local(data_dir), host=TFDS_HOST, given=given)


def default_data_dir() -> pathlib.Path:
    """The imdb folder by the suite's one rule (domain.sources.data_folder)."""
    return data_folder("imdb")


def binary_metrics(labels: np.ndarray, probability: np.ndarray) -> dict:
    """Accuracy and F1 (percent), ROC AUC, confusion matrix (rows: true negative/positive)."""
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, roc_auc_score

    predicted = (probability >= 0.5).astype(int)
    both = len(np.unique(labels)) == 2
    return {"accuracy": 100 * accuracy_score(labels, predicted), "F1": 100 * f1_score(labels, predicted),
            "ROC AUC": float(roc_auc_score(labels, probability)) if both else float("nan"),
            "confusion": confusion_matrix(labels, predicted, labels=[0, 1]).tolist()}
