"""Sentence pairs for translation: English-French from Tatoeba/manythings (a local TSV or keras.utils.get_file) and
the generated number-phrase corpus (English number words -> French, via num2words).

Notebook:
    pairs = translation.number_pairs(1000, seed=0)      # ("ninety-seven thousand, four hundred", "quatre-vingt-...")
    pairs = translation.load_tsv("data/fra-eng/train.tsv")
"""

from __future__ import annotations

import dataclasses
import logging
import pathlib

import numpy as np

from shared.text import END, START, normalize  # the text form of tokens, references and outputs

log = logging.getLogger(__name__)

SOURCES = ("auto", "local", "download", "numbers")
# manythings.org republishes fra-eng.zip as Tatoeba grows, so its own address has no fixed checksum: the download is
# its 2019-04-07 release (167,130 pairs; the one $RNN_DATA_DIR/fra-eng was cut from), pinned at a commit of a public
# GitHub copy, and checked against that release's SHA-256.
ANKI_URL = ("https://raw.githubusercontent.com/modelexlab/data/adddaf33ac35572bcfeb421efec29435e7ea9332/"
            "fra-eng.zip")
ANKI_SHA256 = "161c93f18da3a7e6df611ed961426613260de8af06ccf8c79c977afe5135ac44"


@dataclasses.dataclass
class Pairs:
    """sources / targets: parallel lists of sentences; dropped: pairs left out while loading (empty sides)."""

    sources: list[str]
    targets: list[str]
    dropped: int = 0

    def __len__(self) -> int:
        return len(self.sources)


def load_tsv(path: str | pathlib.Path) -> Pairs:
    """Tab-separated pairs, English first and French second (an optional 'en<TAB>fr' header and a third
    attribution column, as in manythings' fra.txt, are ignored). UTF-8 only."""
    path = pathlib.Path(path)
    if not path.exists():
        raise FileNotFoundError(f"pair file {path} not found; pass --data-dir with train.tsv (English<TAB>French).")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as error:
        raise ValueError(f"{path}: not valid UTF-8 ({error.reason} at byte {error.start}); re-save it as UTF-8.") from None
    if lines and lines[0].strip().lower().split("\t")[:2] == ["en", "fr"]:
        lines = lines[1:]
    sources, targets, dropped = [], [], 0
    for number, line in enumerate(lines, start=1):
        fields = line.split("\t")
        if len(fields) < 2:
            raise ValueError(f"{path}: line {number} has {len(fields)} column(s); expected English<TAB>French.")
        if not fields[0].strip() or not fields[1].strip():
            dropped += 1
            continue
        sources.append(fields[0].strip())
        targets.append(fields[1].strip())
    if dropped:
        log.warning("%s: %d pairs with an empty side dropped", path, dropped)
    return Pairs(sources, targets, dropped)


def download(cache_dir: str | pathlib.Path) -> pathlib.Path:
    """manythings' fra-eng.zip (the Keras seq2seq example's data, release 2019-04-07) through keras.utils.get_file,
    checked against its SHA-256 (a damaged or different file is an error); returns fra.txt."""
    import keras

    archive = keras.utils.get_file(origin=ANKI_URL, fname="fra-eng.zip", extract=True, cache_dir=str(cache_dir),
                                   file_hash=ANKI_SHA256, hash_algorithm="sha256")
    found = list(pathlib.Path(archive).parent.rglob("fra.txt"))
    if not found:
        raise FileNotFoundError(f"fra.txt not found after extracting {archive}.")
    return found[0]


def number_pairs(n: int, seed: int, max_number: int = 999_999) -> Pairs:
    """`n` English number phrases and their French translations (num2words), numbers drawn log-uniformly up to
    max_number so small and large numbers both appear. French needs reordering and agreement the English does not
    show ("eighty" -> "quatre-vingts", "seventy-one" -> "soixante et onze"). Deterministic under `seed`."""
    from num2words import num2words

    rng = np.random.default_rng(seed)
    numbers = np.unique(np.floor(np.exp(rng.uniform(0, np.log(max_number + 1), size=3 * n))).astype(int))
    numbers = rng.permutation(numbers)[:n]
    return Pairs([num2words(int(k), lang="en") for k in numbers], [num2words(int(k), lang="fr") for k in numbers])


def split(pairs: Pairs, fraction: float, seed: int) -> tuple[Pairs, Pairs]:
    """(rest, held out): a random `fraction` held out, the same for the same seed."""
    index = np.random.default_rng(seed).permutation(len(pairs))
    cut = int(round(len(pairs) * (1 - fraction)))
    pick = lambda ids: Pairs([pairs.sources[i] for i in sorted(ids)], [pairs.targets[i] for i in sorted(ids)])  # noqa: E731
    return pick(index[:cut]), pick(index[cut:])


# SentencePiece ids shared by both languages' subword models: 0 pads (so masks are `ids != 0`), and the start/end
# pieces are the decoder's START/END
SPECIAL_IDS = {"pad_id": 0, "unk_id": 1, "bos_id": 2, "eos_id": 3}


def learn_subwords(texts: list[str], vocab_size: int) -> bytes:
    """A SentencePiece unigram model (its serialized proto) learned on `texts` in their `normalize`d form. Every
    character is covered and an unseen one falls back to its UTF-8 bytes, so no normal text becomes `<unk>`; text
    is not re-normalized (identity rule), so decoding the ids of normalized text gives it back exactly. A corpus
    too small for `vocab_size` gets a smaller vocabulary."""
    import io

    import sentencepiece

    sentences = [line for line in (normalize(t) for t in texts) if line]
    if not sentences:
        raise ValueError("no text to learn subwords from (every sentence is empty after normalization).")
    model = io.BytesIO()
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(sentences), model_writer=model, vocab_size=vocab_size, model_type="unigram",
        character_coverage=1.0, byte_fallback=True, normalization_rule_name="identity", split_digits=True,
        hard_vocab_limit=False, bos_piece=START, eos_piece=END, num_threads=1, minloglevel=2,
        input_sentence_size=0, **SPECIAL_IDS)
    return model.getvalue()


def bleu_chrf(hypotheses: list[str], references: list[str]) -> dict[str, float]:
    """sacrebleu corpus BLEU and chrF on the normalized text (lower case, no punctuation) of both sides."""
    import sacrebleu

    refs = [[normalize(r) for r in references]]
    return {"BLEU": sacrebleu.corpus_bleu(hypotheses, refs).score, "chrF": sacrebleu.corpus_chrf(hypotheses, refs).score}


def signatures() -> str:
    """sacrebleu's signatures of the BLEU and chrF that bleu_chrf computes (the report names them)."""
    import sacrebleu

    bleu, chrf = sacrebleu.BLEU(), sacrebleu.CHRF()
    for metric in (bleu, chrf):  # the signature names the number of references once a corpus is scored
        metric.corpus_score(["a"], [["a"]])
    return f"BLEU {bleu.get_signature()}; chrF {chrf.get_signature()}"


LENGTH_BUCKETS = ((1, 5), (6, 10), (11, 14), (15, 10**9))  # English words (as the earlier word-level report)


def by_length(sources: list[str], hypotheses: list[str], references: list[str]) -> dict:
    """BLEU/chrF per English length bucket (LENGTH_BUCKETS, in normalized words); every pair in one bucket."""
    words = np.array([len(normalize(s).split()) for s in sources])
    out = {}
    for low, high in LENGTH_BUCKETS:
        pick = np.flatnonzero((words >= low) & (words <= high) | ((low == 1) & (words < 1)))
        if len(pick):
            label = f"{low}-{high}" if high < 10**6 else f"{low}+"
            out[f"{label} words"] = {"pairs": len(pick), **bleu_chrf([hypotheses[i] for i in pick],
                                                                      [references[i] for i in pick])}
    return out
