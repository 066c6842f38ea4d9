"""The stages of the captioning pipeline (pipelines.captioning holds its options and the story): data -> datasets -> model ->
training -> evaluation -> export -> predict -> report."""

from __future__ import annotations

import dataclasses
import logging
import pathlib

import keras
import numpy as np
import tensorflow as tf

from domain import captioning as scene_data
from domain import sources as domain_sources
from domain.captioning import ANCHORS, bleu, fact_scores
from pipelines.captioning import NAME, Config
from shared import checkpoints, progress, reports, seq2seq, training
from shared import data as shared_data
from shared import export as shared_export

log = logging.getLogger(__name__)
START, END = seq2seq.START, seq2seq.END
VOCABULARY_FILE = "vocabulary.json"


# ----------------------------------------------------------------------------------------------------- data

@dataclasses.dataclass
class CaptionData:
    train: scene_data.Captioned
    validation: scene_data.Captioned
    test: scene_data.Captioned
    source: str


def load_data(cfg: Config) -> CaptionData:
    """Images split 80/10/10 at random under the seed (coco_captions: its train and validation splits)."""
    folder = domain_sources.local_folder(cfg.data_dir, "captions")
    source = domain_sources.resolve_auto(cfg.source, folder, given=cfg.data_dir)
    if source == "tfds":
        rest = scene_data.load_tfds("train", cfg.size, cfg.data_dir or None, cfg.tfds_limit)
        test = scene_data.load_tfds("val", cfg.size, cfg.data_dir or None, max(100, cfg.tfds_limit // 10))
        where = "tfds: coco_captions"
    else:
        if source == "local":
            if not folder:
                raise FileNotFoundError("--source local needs --data-dir (images + captions.txt), or put them in "
                                        "$RNN_DATA_DIR/captions.")
            images, where = scene_data.load_folder(folder, cfg.size), f"local: {folder}"
        else:
            images = scene_data.generate(cfg.scenes, cfg.seed, cfg.size)
            where = f"synthetic: {cfg.scenes} generated two-object scenes, 3 phrasings per image"
        order = np.random.default_rng(cfg.seed).permutation(len(images))
        cut = max(1, len(images) // 10)
        test, rest = images.subset(np.sort(order[:cut])), images.subset(np.sort(order[cut:]))
    cut = max(1, len(rest) // 9)
    validation, train = rest.subset(np.arange(cut)), rest.subset(np.arange(cut, len(rest)))
    log.info("%s: train %d, validation %d, test %d images", where, len(train), len(validation), len(test))
    return CaptionData(train, validation, test, where)


# ---------------------------------------------------------------------------------------------------- model

@keras.saving.register_keras_serializable(package="rnn_suite")
class AddPosition(keras.layers.Layer):
    """Adds a learned vector per grid cell, so that attention context says *where* it looked (left/right/above)."""

    def build(self, input_shape):
        self.position = self.add_weight(shape=tuple(input_shape[1:]), initializer="zeros", name="position")

    def call(self, x):
        return x + self.position[None]


@dataclasses.dataclass
class Captioner:
    """The trained network and the caption vectorizer adapted on its training captions (kept beside the model)."""

    model: keras.Model
    vectorizer: keras.layers.TextVectorization


def image_encoder(cfg: Config) -> keras.Model:
    """uint8 image (size, size, 3) -> feature grid (cells, channels). small: three conv blocks (each halves the
    size); mobilenetv2: its last feature map, frozen, with ImageNet weights."""
    image = keras.Input((cfg.size, cfg.size, 3), dtype="uint8", name="image")
    x = keras.layers.Rescaling(1 / 255.0)(image)
    if cfg.backbone == "mobilenetv2":
        base = keras.applications.MobileNetV2(include_top=False, weights="imagenet", input_shape=(cfg.size, cfg.size, 3))
        base.trainable = False
        x = base(x * 2.0 - 1.0)
    else:
        for i, filters in enumerate((cfg.filters, 2 * cfg.filters, 4 * cfg.filters)):
            x = keras.layers.Conv2D(filters, 3, padding="same", activation="relu", name=f"conv_{i}")(x)
            x = keras.layers.MaxPooling2D()(x)
    grid = keras.layers.Reshape((-1, x.shape[-1]))(x)
    return keras.Model(image, grid, name="image_encoder")


def build_model(cfg: Config, data: CaptionData) -> Captioner:
    """Training model: (image uint8 (batch, size, size, 3), target_in (batch, T)) -> logits (batch, T, vocab), with
    the caption vectorizer adapted on the training captions only."""
    vectorizer = seq2seq.vectorizer(cfg.vocab_size, cfg.max_length + 1, "caption_vectorizer")
    vectorizer.adapt(tf.constant([f"{START} {c} {END}" for caps in data.train.captions for c in caps]),
                     batch_size=2048)
    return Captioner(_network(cfg, vectorizer.vocabulary_size()), vectorizer)


def _network(cfg: Config, vocab_size: int) -> keras.Model:
    image = keras.Input((cfg.size, cfg.size, 3), dtype="uint8", name="image")
    target_in = keras.Input((None,), dtype="int64", name="target_in")
    grid = image_encoder(cfg)(image)
    keys = AddPosition(name="grid_position")(keras.layers.Dense(cfg.units, name="grid_keys")(grid))
    initial = keras.layers.Dense(cfg.units, activation="tanh", name="initial_state")(
        keras.layers.GlobalAveragePooling1D(name="mean_grid")(grid))
    logits = seq2seq.attentive_decoder(target_in, keys, initial, vocab_size=vocab_size, embed_dim=cfg.embed_dim,
                                       units=cfg.units, kind=cfg.decoder)
    return keras.Model({"image": image, "target_in": target_in}, logits, name="captioning_rnn")


def encoder_part(model: keras.Model) -> keras.Model:
    """image -> (keys (batch, cells, units), initial state), with the trained model's layers."""
    encoder = model.get_layer("image_encoder")
    image = keras.Input(encoder.input_shape[1:], dtype="uint8", name="image")
    grid = encoder(image)
    keys = model.get_layer("grid_position")(model.get_layer("grid_keys")(grid))
    state = model.get_layer("initial_state")(model.get_layer("mean_grid")(grid))
    return keras.Model(image, [keys, state], name="encoder")


def make_datasets(cfg: Config, net: Captioner, data: CaptionData) -> tuple[tf.data.Dataset, tf.data.Dataset]:
    """One example per (image, caption): ({"image", "target_in"}, target_out), teacher forcing, right-padded."""
    def dataset(part, seed=None):
        index = np.array([i for i, caps in enumerate(part.captions) for _ in caps])
        tokens = net.vectorizer(tf.constant([f"{START} {c} {END}" for caps in part.captions for c in caps]))
        ds = tf.data.Dataset.from_tensor_slices(({"image": part.images[index], "target_in": tokens[:, :-1]},
                                                 tokens[:, 1:]))
        return shared_data.batched(ds, cfg.batch_size, shuffle_seed=seed)
    return dataset(data.train, cfg.seed), dataset(data.validation)


def load_trained(cfg: Config) -> Captioner:
    """The best checkpoint of cfg.run_dir with the vocabulary it was trained on."""
    model = checkpoints.load_checkpoint(cfg.run_dir, NAME)
    vocabulary = checkpoints.load_beside_checkpoint(cfg.run_dir, VOCABULARY_FILE, NAME)
    return Captioner(model, seq2seq.vectorizer(cfg.vocab_size, cfg.max_length + 1, "caption_vectorizer", vocabulary))


def plan(cfg: Config, net: Captioner, data: CaptionData) -> training.Plan:
    log.info("model: %d parameters; vocabulary %d", net.model.count_params(), net.vectorizer.vocabulary_size())
    train_ds, val_ds = make_datasets(cfg, net, data)
    checkpoints.save_beside_checkpoint(cfg.run_dir, VOCABULARY_FILE, net.vectorizer.get_vocabulary())
    n = sum(len(c) for c in data.train.captions)
    return training.Plan(net.model, train_ds, val_ds, loss=seq2seq.masked_token_loss, clipnorm=1.0, patience=4,
                         rates={"samples": n})


# ------------------------------------------------------------------------------------------------- decoding

class Describer:
    """Python-side captioning: greedy for a batch of images, beam search per image, attention maps."""

    def __init__(self, net: Captioner, max_length: int):
        self.encoder = encoder_part(net.model)
        self.decoder = seq2seq.Decoder(seq2seq.step_model(net.model), net.vectorizer.get_vocabulary(), max_length)

    def _encode(self, images: np.ndarray):
        keys, state = self.encoder(tf.constant(images))
        keys = keys.numpy()
        states = [state.numpy()] * seq2seq.n_states(self.decoder.step_model)
        return keys, np.ones(keys.shape[:2], bool), states

    def greedy(self, images: np.ndarray) -> list[str]:
        out = []
        for i in range(0, len(images), 256):
            out += self.decoder.greedy(*self._encode(images[i:i + 256]))[0]
        return out

    def beam(self, image: np.ndarray, width: int) -> str:
        return self.decoder.beam(*self._encode(image[None]), width)[0]

    def attention(self, image: np.ndarray) -> tuple[list[str], np.ndarray]:
        return self.decoder.attention(*self._encode(image[None]))


# ----------------------------------------------------------------------------------------------- evaluation

def evaluate(cfg: Config, net: Captioner, data: CaptionData, beam_images: int = 100) -> dict:
    """BLEU-1..4 of greedy captions of the test images and of beam search on the first `beam_images` (and, for
    generated scenes, how often the caption states the scene's facts); examples and four attention maps."""
    test = data.test
    describer = Describer(net, cfg.max_length)
    greedy = describer.greedy(test.images)
    n = min(beam_images, len(test))
    beam = [describer.beam(image, cfg.beam_width)
            for image in progress.progress(test.images[:n], "beam search", unit="image")]
    result = {"greedy": bleu(greedy, test.captions), f"beam {cfg.beam_width} (first {n})": bleu(beam, test.captions[:n]),
              f"greedy (same first {n})": bleu(greedy[:n], test.captions[:n]),
              "examples": [{"image": name, "greedy": g, "beam": b, "references": refs[:3]} for name, g, b, refs in
                           list(zip(test.names, greedy, beam, test.captions, strict=False))[:8]],
              "captions": greedy,
              "attention": [(image, *describer.attention(image)) for image in test.images[:4]]}
    if test.facts is not None:
        result["facts"] = {"greedy": fact_scores(greedy, test.facts),
                           f"beam {cfg.beam_width} (first {n})": fact_scores(beam, test.facts[:n])}
    return result


def baselines(data: CaptionData) -> dict:
    """The most frequent training caption given to every test image (a caption that ignores the picture)."""
    counts: dict[str, int] = {}
    for caps in data.train.captions:
        for c in caps:
            counts[c] = counts.get(c, 0) + 1
    common = max(counts, key=counts.get)
    out = {"most frequent training caption": bleu([seq2seq.normalize(common)] * len(data.test), data.test.captions)}
    if data.test.facts is not None:
        out["most frequent training caption"].update(fact_scores([common] * len(data.test), data.test.facts))
    return out


def attention_figure(rows: list[tuple[np.ndarray, list[str], np.ndarray]], words: int = 7):
    """Each (image, greedy caption words, attention weights) row of evaluate: the image with its caption, then the
    attention map of each of its first `words` words."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(1.6 * (words + 1), 1.8 * len(rows)), layout="constrained")
    for row, (image, output, weights) in enumerate(rows):
        side = int(round(np.sqrt(weights.shape[1])))
        ax = fig.add_subplot(len(rows), words + 1, row * (words + 1) + 1)
        ax.imshow(image)
        ax.set_title(" ".join(w for w in output if w != END), fontsize=6, loc="left")
        ax.axis("off")
        for col, (word, w) in enumerate(list(zip(output, weights, strict=True))[:words]):
            ax = fig.add_subplot(len(rows), words + 1, row * (words + 1) + col + 2)
            ax.imshow(image)
            ax.imshow(w.reshape(side, side), cmap="magma", alpha=0.6, extent=(0, image.shape[1], image.shape[0], 0))
            ax.set_title(word, fontsize=7)
            ax.axis("off")
    return fig


# ------------------------------------------------------------------------------------------ export, predict

def summary(cfg: Config, metrics: dict, estimate: dict | None = None) -> dict:
    return {**metrics["greedy"], **metrics.get("facts", {}).get("greedy", {})}


def export(cfg: Config, net: Captioner, data: CaptionData, metrics: dict,
           root: str | pathlib.Path = shared_export.DEFAULT_ROOT) -> pathlib.Path:
    """serving_default(image [batch] string: JPEG/PNG/BMP/GIF bytes; grey/RGBA made RGB, any size resized) ->
    caption [batch] string (greedy decoding inside the graph); serve_pixels(pixels uint8 [batch, h, w, 3]) -> the
    same."""
    encoder, step = encoder_part(net.model), seq2seq.step_model(net.model)
    vocabulary = net.vectorizer.get_vocabulary()
    n_states = seq2seq.n_states(step)

    def caption(pixels):
        resized = tf.image.resize(pixels, (cfg.size, cfg.size), method="area", antialias=True)
        keys, state = encoder(tf.cast(tf.clip_by_value(tf.round(resized), 0, 255), tf.uint8))
        mask = tf.ones(tf.shape(keys)[:2], tf.bool)
        return {"caption": seq2seq.greedy_graph(step, keys, mask, [state] * n_states, vocabulary, cfg.max_length)}

    def serve_bytes(image):
        def decode(data):
            pixels = tf.io.decode_image(data, channels=3, expand_animations=False)
            return tf.image.resize(pixels, (cfg.size, cfg.size), method="area", antialias=True)
        return caption(tf.map_fn(decode, image, fn_output_signature=tf.TensorSpec((cfg.size, cfg.size, 3), tf.float32)))

    meta = {"config": cfg, "source": data.source, "metrics": metrics}
    pixels_spec = [tf.TensorSpec((None, None, None, 3), tf.uint8, name="pixels")]
    return shared_export.save(net.model, NAME, serve_fn=serve_bytes, metadata=meta, root=root,
                              input_signature=[tf.TensorSpec((None,), tf.string, name="image")],
                              also_track=(encoder, step), extra_endpoints={"serve_pixels": (caption, pixels_spec)})


def serve(path: str | pathlib.Path, images: list[bytes]) -> list[str]:
    served, _ = shared_export.load(path, NAME)
    out = served.signatures["serving_default"](image=tf.constant(images))["caption"].numpy()
    return [c.decode() for c in out]


def caption(image: str | pathlib.Path, model_path: str | pathlib.Path | None = None,
            root: str | pathlib.Path = shared_export.DEFAULT_ROOT) -> str:
    """The caption of an image file (JPEG/PNG/BMP/GIF), through the exported model."""
    path = pathlib.Path(image)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file (make predict-captioning IMAGE=path.png).")
    data = path.read_bytes()
    scene_data.decode_image(data, 8, str(path))  # a clear error for unreadable files before the graph sees them
    return serve(pathlib.Path(model_path) if model_path else shared_export.latest(NAME, root), [data])[0]


def predict(cfg: Config, image: str, model_path: str | pathlib.Path | None = None) -> dict:
    return {"caption": caption(image, model_path)}


# ------------------------------------------------------------------------------------------------ reporting

def build_report(cfg: Config, data: CaptionData, metrics: dict,
                 timing: dict, estimate: dict | None = None) -> reports.Report:
    scores = {k: v for k, v in metrics.items() if k in ("greedy",) or k.startswith(("beam", "greedy (same"))}
    table = {**scores, **baselines(data)}
    if "facts" in metrics:
        for k, v in metrics["facts"].items():
            table[k] = {**table.get(k, {}), **v}
    examples = "\n".join(f"- {e['image']}: greedy *{e['greedy']}*; beam *{e['beam']}* (references: "
                         f"{' | '.join(e['references'])})" for e in metrics["examples"])
    return reports.Report(domain=NAME, source=data.source,
                          metrics={**metrics["greedy"], **metrics.get("facts", {}).get("greedy", {})}, baselines=table,
                          anchors=ANCHORS, timing=timing, figures={"attention": attention_figure(metrics["attention"])},
                          sections={"Examples": examples}, extra={"config": dataclasses.asdict(cfg)})

