"""The stages of the action pipeline (pipelines.action holds its options and the story): data -> datasets -> model ->
training -> evaluation -> export -> predict -> report."""

from __future__ import annotations

import dataclasses
import logging
import pathlib
import resource

import keras
import numpy as np
import tensorflow as tf

from domain import action as video_data
from domain import sources as domain_sources
from pipelines.action import NAME, Config
from shared import checkpoints, layers, plots, reports, training
from shared import data as shared_data
from shared import export as shared_export

log = logging.getLogger(__name__)


# ----------------------------------------------------------------------------------------------------- data

@dataclasses.dataclass
class ActionData:
    train: video_data.Clips
    validation: video_data.Clips
    test: video_data.Clips
    classes: list[str]
    source: str


def _stratified(clips: video_data.Clips, fraction: float, seed: int) -> tuple[video_data.Clips, video_data.Clips]:
    from sklearn.model_selection import train_test_split

    rest, held = train_test_split(np.arange(len(clips)), test_size=fraction, random_state=seed, stratify=clips.labels)
    return clips.subset(np.sort(rest)), clips.subset(np.sort(held))


def load_data(cfg: Config) -> ActionData:
    """Clips of the source split 70/15/15 (stratified; ucf101: its own train/test split, validation from train)."""
    folder = domain_sources.local_folder(cfg.data_dir, "ucf101")
    source = domain_sources.resolve_auto(cfg.source, folder, given=cfg.data_dir)
    if source == "tfds":
        rest = video_data.load_tfds("train", cfg.raw_frames, cfg.size, cfg.data_dir or None, cfg.tfds_limit or None)
        test = video_data.load_tfds("test", cfg.raw_frames, cfg.size, cfg.data_dir or None)
        train, validation = _stratified(rest, 0.1, cfg.seed)
        where = "tfds: ucf101 (split 1 train/test)"
    else:
        if source == "local":
            if not folder:
                raise FileNotFoundError("--source local needs --data-dir (<action>/<clip>.avi|mp4), or put them in "
                                        "$RNN_DATA_DIR/ucf101.")
            clips, _ = video_data.load_folder(folder, cfg.raw_frames, cfg.size)
            where = f"local: {folder}"
        else:
            clips = video_data.generate(cfg.clips, cfg.seed, frames=cfg.raw_frames, size=cfg.size)
            where = (f"synthetic: {cfg.clips} generated clips of {cfg.raw_frames} frames, 8 motions in 4 "
                     "time-reversed pairs, moving noisy background")
        rest, test = _stratified(clips, 0.15, cfg.seed)
        train, validation = _stratified(rest, 0.15 / 0.85, cfg.seed)
    log.info("%s: train %d, validation %d, test %d clips, %d classes", where, len(train), len(validation), len(test),
             len(train.classes))
    return ActionData(train, validation, test, train.classes, where)


def sample_frames(video: tf.Tensor, count: int, seed: tf.Tensor | None = None) -> tf.Tensor:
    """tf.data version of domain.action.sample_indices: `count` frames spread uniformly (segment centres), or, with
    a `seed` (training), at a random position inside each segment drawn from that seed alone (stateless: the same
    under a parallel map); a shorter clip is looped."""
    n = tf.shape(video)[0]
    offset = tf.fill([count], 0.5) if seed is None else \
        tf.random.stateless_uniform([count], tf.stack([seed, tf.constant(0, tf.int64)]))
    position = (tf.range(count, dtype=tf.float32) + offset) * tf.cast(n, tf.float32) / count
    index = tf.where(n < count, tf.range(count) % tf.maximum(n, 1), tf.minimum(tf.cast(position, tf.int32), n - 1))
    return tf.gather(video, index)


def make_dataset(cfg: Config, clips: video_data.Clips, training: bool = False) -> tf.data.Dataset:
    """(frames uint8 (batch, frames, size, size, 3), label): frames sampled per clip in a parallel map, and in
    training a random brightness and contrast per clip (no flips: they would turn 'left' into 'right'), applied
    to whole batches at once (measured: per-clip float work in the map made training wait for input). Training
    randomness is stateless, seeded from streams of cfg.seed and the epoch (shared.data.epoch_seeds): the same seed
    gives the same batches (and metrics) however the parallel maps interleave, and a resumed epoch the same again."""
    def augment(frames, labels, seed):
        x = tf.cast(frames, tf.float32)
        per_clip = [tf.shape(x)[0], 1, 1, 1, 1]
        mean = tf.reduce_mean(x, axis=[1, 2, 3, 4], keepdims=True)
        gain = tf.random.stateless_uniform(per_clip, tf.stack([seed, tf.constant(1, tf.int64)]), 0.8, 1.2)
        shift = tf.random.stateless_uniform(per_clip, tf.stack([seed, tf.constant(2, tf.int64)]), -20.0, 20.0)
        return tf.cast(tf.clip_by_value((x - mean) * gain + mean + shift, 0, 255), tf.uint8), labels

    def seeds(stream: int) -> tf.data.Dataset:  # one int64 per element, drawn anew each epoch (and a resumed
        return shared_data.epoch_seeds(cfg.seed + stream).map(lambda pair: pair[0] * 7919 + pair[1])  # one alike)

    ds = tf.data.Dataset.from_tensor_slices((clips.videos, clips.labels.astype("int32"))).cache()
    if not training:
        ds = ds.map(lambda video, label: (sample_frames(video, cfg.frames), label),
                    num_parallel_calls=shared_data.AUTOTUNE).batch(cfg.batch_size)
        return ds.prefetch(shared_data.AUTOTUNE)
    ds = shared_data.shuffled(ds, cfg.seed, len(clips))
    ds = tf.data.Dataset.zip(ds, seeds(1)).map(
        lambda item, seed: (sample_frames(item[0], cfg.frames, seed), item[1]),
        num_parallel_calls=shared_data.AUTOTUNE).batch(cfg.batch_size)
    ds = tf.data.Dataset.zip(ds, seeds(2)).map(lambda batch, seed: augment(*batch, seed),
                                               num_parallel_calls=shared_data.AUTOTUNE)
    return ds.prefetch(shared_data.AUTOTUNE)


# ---------------------------------------------------------------------------------------------------- model

def frame_encoder(cfg: Config) -> keras.Model:
    """One frame (size, size, 3) in [0, 1] -> a feature vector. `small`: three conv blocks and a dense layer on the
    flattened map (position matters for motion); `mobilenetv2`: ImageNet features, frozen."""
    frame = keras.Input((cfg.size, cfg.size, 3), name="frame")
    if cfg.backbone == "mobilenetv2":
        base = keras.applications.MobileNetV2(include_top=False, weights="imagenet", input_shape=(cfg.size, cfg.size, 3),
                                              pooling="avg")
        base.trainable = False
        return keras.Model(frame, base(frame * 2.0 - 1.0), name="frame_encoder")
    x = frame
    for filters in (16, 32, 64):
        x = keras.layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
        x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Dense(128, activation="relu")(keras.layers.Flatten()(x))
    return keras.Model(frame, x, name="frame_encoder")


@dataclasses.dataclass
class Networks:
    """One network per kind of cfg.models, in order: the first is the model that ships (`model`), the others are its
    comparisons, trained and scored on the same clips."""

    by_kind: dict[str, keras.Model]

    @property
    def model(self) -> keras.Model:
        return next(iter(self.by_kind.values()))


def build_model(cfg: Config, clips: ActionData) -> Networks:
    """One network per kind in cfg.models (the first is exported; the others are its comparisons)."""
    return Networks({kind: build_network(cfg, kind, len(clips.classes)) for kind in cfg.model_list})


def build_network(cfg: Config, kind: str, n_classes: int) -> keras.Model:
    """frames uint8 (batch, time, size, size, 3) -> logits (batch, classes). lrcn: frame encoder per frame + the RNN
    spec; convlstm: two ConvLSTM2D layers; average: frame encoder per frame, features averaged over time."""
    # a fixed frame count: TimeDistributed then runs a plain loop (its vectorized path over an unknown time axis
    # fails inside an exported graph); serving samples any clip to this count first
    frames = keras.Input((cfg.frames, cfg.size, cfg.size, 3), dtype="uint8", name="frames")
    x = keras.layers.Rescaling(1 / 255.0)(frames)
    if kind == "convlstm":
        # batch normalization between the recurrent layers (as in the Keras ConvLSTM example): without it the
        # model sat at chance (loss ln 8) for every epoch measured here; layer normalization did not help
        x = keras.layers.ConvLSTM2D(12, 3, padding="same", return_sequences=True, name="convlstm_1")(x)
        x = keras.layers.TimeDistributed(keras.layers.MaxPooling2D())(x)
        x = keras.layers.BatchNormalization(momentum=0.9)(x)
        x = keras.layers.ConvLSTM2D(24, 3, padding="same", name="convlstm_2")(x)
        x = keras.layers.GlobalMaxPooling2D()(keras.layers.BatchNormalization(momentum=0.9)(x))
    else:
        x = keras.layers.TimeDistributed(frame_encoder(cfg), name="frame_features")(x)
        if kind == "lrcn":
            x = layers.apply_rnn(x, layers.parse_spec(cfg.rnn), name="rnn")
        else:
            x = keras.layers.GlobalAveragePooling1D(name="average_over_time")(x)
    logits = keras.layers.Dense(n_classes, name="logits", dtype="float32")(keras.layers.Dropout(0.3)(x))
    return keras.Model(frames, logits, name=f"action_{kind}")


def train(cfg: Config, models: Networks, clips: ActionData, verbose: int | str = "auto"
          ) -> training.TrainResult:
    """Each network in its own run folder <run_dir>/<kind>; the first network's result, with every network's
    timing and the peak memory in its timing."""
    timing, first = {}, None
    for kind, model in models.by_kind.items():
        result = training.fit(network_plan(cfg, model, clips), training.Settings.of(
            cfg, run_dir=pathlib.Path(cfg.run_dir) / kind, verbose=verbose))
        timing[f"{kind} training clips/s"] = result.timing.get("samples_per_second")
        timing[f"{kind} train_seconds"] = result.timing.get("train_seconds")
        first = first or result
    return dataclasses.replace(first, timing={
        **timing, "peak_memory_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)})


def plan(cfg: Config, models: Networks, clips: ActionData) -> training.Plan:
    """The exported network's fit (the first of cfg.models)."""
    return network_plan(cfg, models.model, clips)


def network_plan(cfg: Config, model: keras.Model, clips: ActionData) -> training.Plan:
    """One network, early stopping on the validation clips."""
    return training.Plan(model, make_dataset(cfg, clips.train, training=True), make_dataset(cfg, clips.validation),
                         loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"],
                         patience=6, rates={"samples": len(clips.train)})


# ----------------------------------------------------------------------------------------------- evaluation

def predict_logits(model: keras.Model, cfg: Config, clips: video_data.Clips) -> np.ndarray:
    forward = tf.function(lambda x: model(x, training=False), reduce_retracing=True)
    return np.concatenate([forward(x).numpy() for x, _ in make_dataset(cfg, clips)])


def evaluate(cfg: Config, models: Networks, clips: ActionData) -> dict:
    """Each network on the test clips: {kind: score}."""
    return {kind: score(model, cfg, clips.test) for kind, model in models.by_kind.items()}


def summary(cfg: Config, results: dict, estimate: dict | None = None) -> dict:
    return {f"{kind} top-1": r["top-1"] for kind, r in results.items()}


def load_trained(cfg: Config) -> Networks:
    return Networks({kind: checkpoints.load_checkpoint(pathlib.Path(cfg.run_dir) / kind, NAME)
                     for kind in cfg.model_list})


def score(model: keras.Model, cfg: Config, test: video_data.Clips) -> dict:
    from sklearn.metrics import confusion_matrix, top_k_accuracy_score

    logits = predict_logits(model, cfg, test)
    labels = np.arange(len(test.classes))
    k = 5 if len(test.classes) >= 10 else 2
    return {"top-1": 100 * float(np.mean(logits.argmax(axis=1) == test.labels)),
            f"top-{k}": 100 * float(top_k_accuracy_score(test.labels, logits, k=k, labels=labels)),
            "confusion": confusion_matrix(test.labels, logits.argmax(axis=1), labels=labels),
            "predicted": logits.argmax(axis=1)}


def strip_figure(cfg: Config, test: video_data.Clips, predicted: np.ndarray, n: int = 6):
    """Sampled frames of `n` test clips, each row titled with the true and the predicted action."""
    from matplotlib.figure import Figure

    shown = 8
    fig = Figure(figsize=(1.3 * shown, 1.5 * n), layout="constrained")
    for row in range(min(n, len(test))):
        video = test.videos[row][video_data.sample_indices(test.videos.shape[1], shown)]
        for col in range(shown):
            ax = fig.add_subplot(n, shown, row * shown + col + 1)
            ax.imshow(video[col])
            ax.axis("off")
        fig.axes[row * shown].set_title(f"true: {test.classes[test.labels[row]]} | predicted: "
                                        f"{test.classes[predicted[row]]}", fontsize=8, loc="left")
    return fig


# ------------------------------------------------------------------------------------------ export, predict

def export(cfg: Config, models: Networks, clips: ActionData, metrics: dict,
           root: str | pathlib.Path = shared_export.DEFAULT_ROOT) -> pathlib.Path:
    """serving_default(frames uint8 [batch, time, height, width, 3]; any number of frames: sampled uniformly to
    cfg.frames in the graph (a shorter clip looped); any height and width: resized in the graph)
    -> action [batch] string, probabilities [batch, classes]. The first of cfg.models is exported."""
    model, classes = models.model, clips.classes
    names = tf.constant(classes)

    def serve(frames):
        index = sample_frames(tf.range(tf.shape(frames)[1]), cfg.frames)
        frames = tf.gather(frames, index, axis=1)
        shape = tf.shape(frames)
        flat = tf.reshape(frames, tf.concat([[-1], shape[2:]], axis=0))
        resized = tf.image.resize(flat, (cfg.size, cfg.size), method="area", antialias=True)
        x = tf.cast(tf.clip_by_value(tf.round(resized), 0, 255), tf.uint8)
        logits = model(tf.reshape(x, [shape[0], cfg.frames, cfg.size, cfg.size, 3]), training=False)
        return {"action": tf.gather(names, tf.argmax(logits, axis=-1)), "probabilities": tf.nn.softmax(logits)}

    meta = {"config": cfg, "source": clips.source, "classes": classes, "frames": cfg.frames, "metrics": metrics}
    return shared_export.save(model, NAME, serve_fn=serve, metadata=meta, root=root,
                              input_signature=[tf.TensorSpec((None, None, None, None, 3), tf.uint8, name="frames")])


def serve(model, frames: np.ndarray) -> dict[str, np.ndarray]:
    """serving_default of an exported version (a path, or a SavedModel already loaded) on uint8 frames."""
    served = shared_export.load(model, NAME)[0] if isinstance(model, (str, pathlib.Path)) else model
    return {k: v.numpy() for k, v in served.signatures["serving_default"](frames=tf.constant(frames)).items()}


def predict(cfg: Config, video: str | pathlib.Path, model_path: str | pathlib.Path | None = None,
            root: str | pathlib.Path = shared_export.DEFAULT_ROOT) -> dict:
    """The action in a video file: its frames sampled uniformly to the model's frame count (a shorter clip is
    looped), grey or RGBA converted to RGB; resizing happens in the exported graph."""
    served, meta = shared_export.load(pathlib.Path(model_path) if model_path else shared_export.latest(NAME, root), NAME)
    sampled, total = video_data.sample_video(video, int(meta.get("frames", 16)))  # only those frames kept
    out = serve(served, sampled[None])
    return {"action": out["action"][0].decode(), "probability": round(float(out["probabilities"][0].max()), 4),
            "frames_in_file": total}


# ------------------------------------------------------------------------------------------------ reporting

ANCHORS = {
    "Donahue et al. 2015, LRCN (UCF101 split 1, RGB frames)": {"top-1": 68.2, "note": "82.9 with optical flow"},
    "Keras 'Video classification with a CNN-RNN architecture' (UCF101, 5 classes, InceptionV3 + GRU)": {
        "top-1": "not a fixed figure (a short demo run)"},
}


def build_report(cfg: Config, clips: ActionData, results: dict,
                 timing: dict, estimate: dict | None = None) -> reports.Report:
    main = cfg.model_list[0]
    table = {kind: {k: v for k, v in r.items() if k not in ("confusion", "predicted")} for kind, r in results.items()}
    figures = {"confusion": plots.confusion_figure(results[main]["confusion"], clips.classes),
               "frames": strip_figure(cfg, clips.test, results[main]["predicted"])}
    verdict = ""
    if "average" in results and len(results) > 1:
        best = max((k for k in results if k != "average"), key=lambda k: results[k]["top-1"])
        verdict = (f"- best recurrent model ({best}) top-1 {results[best]['top-1']:.1f}% vs frame features averaged "
                   f"over time {results['average']['top-1']:.1f}%")
    return reports.Report(domain=NAME, source=clips.source, metrics=table[main], baselines=table, anchors=ANCHORS,
                          timing=timing, figures=figures, sections={"Temporal model vs averaged frames": verdict or "- n/a"},
                          extra={"config": dataclasses.asdict(cfg), "classes": clips.classes})

