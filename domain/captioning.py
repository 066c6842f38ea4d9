"""Captioned images: generated two-object scenes with captions and recoverable facts (the offline default), a local
Flickr8k-style folder (images + `captions.txt` or `Flickr8k.token.txt`), TFDS `coco_captions`.

Images are uint8 (n, size, size, 3) RGB; each image has one or more captions.

Notebook:
    scenes = captioning.generate(500, seed=0)     # Captioned: images, captions (3 phrasings each), facts
    captioning.facts_of("a small red circle to the left of a large blue square")
    data = captioning.load_folder("data/flickr8k", size=128)
"""

from __future__ import annotations

import csv
import dataclasses
import logging
import pathlib
import re

import numpy as np

from shared.text import normalize

log = logging.getLogger(__name__)
SOURCES = ("auto", "local", "tfds", "synthetic")  # --source choices (resolved by domain.sources.resolve_auto)

COLOURS = {"red": (220, 40, 40), "green": (40, 190, 60), "blue": (50, 80, 230), "yellow": (235, 215, 40)}
SHAPES = ("circle", "square", "triangle")
SIZES = ("small", "large")
RELATIONS = {"to the left of": "to the right of", "to the right of": "to the left of", "above": "below",
             "below": "above"}
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif")
_OBJECT = rf"({'|'.join(SIZES)}) ({'|'.join(COLOURS)}) ({'|'.join(SHAPES)})"
_CAPTION = re.compile(rf"^(?:there is )?an? {_OBJECT} ({'|'.join(RELATIONS)}) an? {_OBJECT}$")


@dataclasses.dataclass
class Captioned:
    """images: uint8 (n, size, size, 3); captions: a list of captions per image; names: where each image came
    from; facts: for generated scenes, the canonical facts of each image (else None)."""

    images: np.ndarray
    captions: list[list[str]]
    names: list[str]
    facts: list[frozenset] | None = None

    def __len__(self) -> int:
        return len(self.images)

    def subset(self, index) -> Captioned:
        index = np.asarray(index)
        return Captioned(self.images[index], [self.captions[i] for i in index], [self.names[i] for i in index],
                         None if self.facts is None else [self.facts[i] for i in index])


def facts_of(caption: str) -> frozenset | None:
    """The scene a caption states, in a form independent of the phrasing: {(object, relation, object)} written both
    ways round, an object being (size, colour, shape). None when the caption does not parse."""
    match = _CAPTION.match(" ".join(caption.lower().replace(".", " ").split()))
    if not match:
        return None
    first, relation, second = match.group(1, 2, 3), match.group(4), match.group(5, 6, 7)
    return frozenset({(first, relation, second), (second, RELATIONS[relation], first)})


def _draw(image: np.ndarray, shape: str, centre: tuple[int, int], radius: int, colour: tuple[int, int, int]) -> None:
    import cv2

    x, y = centre
    if shape == "circle":
        cv2.circle(image, (x, y), radius, colour, -1, lineType=cv2.LINE_AA)
    elif shape == "square":
        r = int(radius * 0.85)
        cv2.rectangle(image, (x - r, y - r), (x + r, y + r), colour, -1)
    else:
        points = np.array([(x, y - radius), (x - radius, y + int(0.8 * radius)), (x + radius, y + int(0.8 * radius))])
        cv2.fillPoly(image, [points.astype(np.int32)], colour, lineType=cv2.LINE_AA)


def generate(n: int, seed: int, size: int = 64) -> Captioned:
    """`n` scenes of two different objects (size, colour, shape) in a relation (left of, right of, above, below),
    on a noisy textured background; three phrasings per image, e.g. "a small red circle to the left of a large
    blue square", "a large blue square to the right of a small red circle", "there is a small red circle to the
    left of a large blue square". Deterministic under `seed`."""
    import cv2

    rng = np.random.default_rng(seed)
    images = np.empty((n, size, size, 3), np.uint8)
    captions, facts = [], []
    colours = list(COLOURS)
    for i in range(n):
        while True:
            a = (SIZES[rng.integers(2)], colours[rng.integers(4)], SHAPES[rng.integers(3)])
            b = (SIZES[rng.integers(2)], colours[rng.integers(4)], SHAPES[rng.integers(3)])
            if a != b:
                break
        relation = list(RELATIONS)[rng.integers(4)]
        radius = {"small": size // 11, "large": size // 7}
        margin = size // 7 + 2
        along = rng.integers(margin, size // 2 - size // 8 + 1)  # a's coordinate along the relation axis
        other = rng.integers(size // 2 + size // 8, size - margin + 1)  # b's: at least size/4 apart
        cross_a = rng.integers(margin, size - margin + 1)  # the other axis: nearly level, so one relation holds
        cross_b = int(np.clip(cross_a + rng.integers(-size // 12, size // 12 + 1), margin, size - margin))
        if relation in ("to the right of", "below"):
            along, other = other, along
        horizontal = relation in ("to the left of", "to the right of")
        centre_a = (along, cross_a) if horizontal else (cross_a, along)
        centre_b = (other, cross_b) if horizontal else (cross_b, other)
        noise = cv2.GaussianBlur(rng.uniform(0, 1, (size, size)).astype("float32"), (0, 0), 4)
        base = (70 + 60 * (noise - noise.min()) / (np.ptp(noise) + 1e-6)).astype(np.uint8)
        image = np.repeat(base[..., None], 3, axis=2)
        _draw(image, a[2], centre_a, radius[a[0]], COLOURS[a[1]])
        _draw(image, b[2], centre_b, radius[b[0]], COLOURS[b[1]])
        image = np.clip(image + rng.normal(0, 6, image.shape), 0, 255).astype(np.uint8)
        images[i] = image
        first, second = " ".join(a), " ".join(b)
        captions.append([f"a {first} {relation} a {second}", f"a {second} {RELATIONS[relation]} a {first}",
                         f"there is a {first} {relation} a {second}"])
        facts.append(facts_of(captions[-1][0]))
    return Captioned(images, captions, [f"scene-{seed}-{i}" for i in range(n)], facts)


def decode_image(data: bytes, size: int, name: str = "image") -> np.ndarray:
    """JPEG/PNG/BMP/GIF bytes -> uint8 (size, size, 3): grey and RGBA become RGB (alpha dropped), any resolution is
    resized (area averaging when shrinking)."""
    import tensorflow as tf

    if not data:
        raise ValueError(f"{name}: empty file.")
    try:
        image = tf.io.decode_image(data, channels=3, expand_animations=False)
    except (tf.errors.InvalidArgumentError, ValueError) as error:
        raise ValueError(f"{name}: not a readable image ({str(error).splitlines()[0][:120]}); use JPEG or PNG.") from None
    if min(image.shape[:2]) < 1:
        raise ValueError(f"{name}: has no pixels.")
    resized = tf.image.resize(image, (size, size), method="area", antialias=True)
    return tf.cast(tf.clip_by_value(tf.round(resized), 0, 255), tf.uint8).numpy()


def _read_captions(folder: pathlib.Path) -> dict[str, list[str]]:
    """{image file name: captions} from `captions.txt` (CSV with a header `image,caption`, the Kaggle Flickr8k
    layout) or `Flickr8k.token.txt` (`name.jpg#k<TAB>caption`). Empty captions are dropped (counted)."""
    found, empty = {}, 0
    if (folder / "captions.txt").exists():
        with (folder / "captions.txt").open(encoding="utf-8", newline="") as f:
            reader = csv.DictReader(f)
            if not reader.fieldnames or not {"image", "caption"} <= set(reader.fieldnames):
                raise ValueError(f"{folder / 'captions.txt'}: expected a header 'image,caption'.")
            rows = [(row["image"], row["caption"]) for row in reader]
    elif (folder / "Flickr8k.token.txt").exists():
        rows = []
        for number, line in enumerate((folder / "Flickr8k.token.txt").read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            if "\t" not in line:
                raise ValueError(f"Flickr8k.token.txt line {number}: expected 'name.jpg#k<TAB>caption'.")
            key, caption = line.split("\t", 1)
            rows.append((key.split("#")[0], caption))
    else:
        raise FileNotFoundError(f"{folder}: no captions.txt (image,caption) or Flickr8k.token.txt.")
    for image, caption in rows:
        if not (caption or "").strip():
            empty += 1
            continue
        found.setdefault(image.strip(), []).append(caption.strip())
    if empty:
        log.warning("%s: %d empty captions dropped", folder, empty)
    return found


def load_folder(folder: str | pathlib.Path, size: int) -> Captioned:
    """A Flickr8k-style folder: captions file (see _read_captions) and the images in `Images/`,
    `Flicker8k_Dataset/` or the folder itself. Images without captions are ignored; captions of missing images are
    counted and skipped; an unreadable image stops the load with its name."""
    folder = pathlib.Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: not a folder; pass --data-dir with images and captions.txt.")
    captions = _read_captions(folder)
    image_dir = next((d for d in (folder / "Images", folder / "Flicker8k_Dataset", folder) if d.is_dir()
                      and any(p.suffix.lower() in IMAGE_SUFFIXES for p in d.iterdir())), None)
    if image_dir is None:
        raise FileNotFoundError(f"{folder}: no images ({', '.join(IMAGE_SUFFIXES)}) in Images/ or the folder.")
    names = sorted(name for name in captions if (image_dir / name).exists())
    missing = len(captions) - len(names)
    if missing:
        log.warning("%s: captions for %d images that are not in %s skipped", folder, missing, image_dir)
    if not names:
        raise FileNotFoundError(f"{folder}: none of the captioned images is in {image_dir}.")
    images = np.stack([decode_image((image_dir / name).read_bytes(), size, str(image_dir / name)) for name in names])
    return Captioned(images, [captions[n] for n in names], names)


def load_tfds(split: str, size: int, data_dir: str | None = None, limit: int | None = None) -> Captioned:
    """TFDS `coco_captions` (COCO 2014 with the Karpathy splits), at most `limit` images, five captions each."""
    import tensorflow as tf
    import tensorflow_datasets as tfds

    ds = tfds.load("coco_captions", split=split, data_dir=data_dir)
    images, captions, names = [], [], []
    for i, example in enumerate(tfds.as_numpy(ds)):
        if limit is not None and i >= limit:
            break
        image = tf.image.resize(example["image"], (size, size), method="area", antialias=True)
        images.append(tf.cast(tf.clip_by_value(tf.round(image), 0, 255), tf.uint8).numpy())
        texts = [t.decode("utf-8") for t in example["captions"]["text"]]
        captions.append([t for t in texts if t.strip()][:5] or ["[no caption]"])
        names.append(str(example.get("image/id", i)))
    return Captioned(np.stack(images), captions, names)


def bleu(hypotheses: list[str], references: list[list[str]]) -> dict[str, float]:
    """Corpus BLEU-1..4 (sacrebleu, several references per image; uneven reference counts padded by repeating the
    first, which changes no n-gram clip) on normalized text."""
    import sacrebleu

    width = max(len(r) for r in references)
    streams = [[normalize(r[k] if k < len(r) else r[0]) for r in references] for k in range(width)]
    return {f"BLEU-{n}": sacrebleu.metrics.BLEU(max_ngram_order=n).corpus_score(hypotheses, streams).score
            for n in (1, 2, 3, 4)}


def fact_scores(captions: list[str], truths: list[frozenset]) -> dict[str, float]:
    """Generated scenes: how often the caption parses, states both objects right (size, colour, shape), and states
    exactly the scene's facts (objects and relation, in any of the phrasings)."""
    parsed = [facts_of(c) for c in captions]
    objects = [p is not None and {t[0] for t in p} | {t[2] for t in p} == {t[0] for t in truth} | {t[2] for t in truth}
               for p, truth in zip(parsed, truths, strict=True)]
    return {"parses": 100 * float(np.mean([p is not None for p in parsed])),
            "both objects right": 100 * float(np.mean(objects)),
            "exact facts": 100 * float(np.mean([p == t for p, t in zip(parsed, truths, strict=True)]))}


ANCHORS = {
    "Vinyals et al. 2015, Show and Tell (MS COCO)": {"BLEU-4": 27.7},
    "Xu et al. 2015, Show, Attend and Tell, soft attention (MS COCO)": {
        "BLEU-1": 70.7, "BLEU-2": 49.2, "BLEU-3": 34.4, "BLEU-4": 24.3},
    "Xu et al. 2015, soft attention (Flickr8k)": {"BLEU-1": 67.0, "BLEU-2": 44.8, "BLEU-3": 29.9, "BLEU-4": 19.5},
    "TensorFlow image captioning tutorial (Conceptual Captions / Flickr8k, attention)": {
        "BLEU-4": "not reported (sample captions and attention maps)"},
}
