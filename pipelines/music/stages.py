"""The stages of the music pipeline (pipelines.music holds its options and the story): data -> datasets -> model ->
training -> evaluation -> export -> predict -> report."""

from __future__ import annotations

import dataclasses
import logging
import pathlib

import keras
import numpy as np
import tensorflow as tf

from domain import music as music_data
from domain import sources as domain_sources
from pipelines.music import LIMITS, NAME, Config
from shared import checkpoints, data, layers, reports, training
from shared import export as shared_export

log = logging.getLogger(__name__)


def load_data(cfg: Config) -> music_data.Rolls:
    """The pieces by split: the user's .mat file (its test split only when the file has one) or the generated
    corpus."""
    folder = cfg.data_dir or music_data.default_data_dir()
    path = pathlib.Path(folder) / music_data.DATASETS[cfg.dataset] if folder and pathlib.Path(folder).is_dir() \
        else pathlib.Path(folder)
    source = domain_sources.resolve_auto(cfg.source, bool(folder) and path.is_file(), remote=None,
                                         given=cfg.data_dir)
    if source == "local":
        if not path.is_file():
            raise FileNotFoundError(f"--data-dir {folder or '(none)'}: no {music_data.DATASETS[cfg.dataset]} there; "
                                    "give the folder of the piano-roll .mat files (or --source synthetic).")
        rolls = music_data.load_mat(path)
    else:
        rolls = music_data.generated_corpus(cfg.synthetic_pieces, cfg.seed)
    if rolls.skipped:
        log.warning("%d empty pieces skipped", rolls.skipped)
    log.info("%s: %s", rolls.source, ", ".join(f"{split} {len(p)} pieces ({rolls.steps(split)} steps)"
                                              for split, p in rolls.pieces.items()))
    return rolls


def examples(pieces: list[np.ndarray]) -> tf.data.Dataset:
    """(the steps before each step (steps, 88): a silent start frame, then the piece without its last step; the
    piece (steps, 88); weight 1 per step) per piece."""
    def pairs():
        for roll in pieces:
            yield np.vstack([np.zeros((1, music_data.KEYS), "float32"), roll[:-1]]), roll, np.ones(len(roll), "float32")
    spec = tf.TensorSpec((None, music_data.KEYS), tf.float32)
    return tf.data.Dataset.from_generator(pairs, output_signature=(spec, spec, tf.TensorSpec((None,), tf.float32)))


def build_model(cfg: Config, rolls: music_data.Rolls | None = None) -> keras.Model:
    """steps so far (batch, steps, 88) -> logits (batch, steps, 88) of each key at the next step. Unidirectional
    and causal, so right-padding never reaches a real step (no mask: cuDNN-eligible)."""
    frames = keras.Input((None, music_data.KEYS), name="frames")
    x = layers.apply_rnn(frames, layers.parse_spec(cfg.rnn, return_sequences=True))
    x = keras.layers.Dropout(cfg.dropout, name="dropout")(x)
    # the output starts at the training keys' log-odds (the independent Bernoulli baseline): with a zero bias every
    # key starts at p = 0.5 where about 4 of 88 sound, and Adam's small steps take thousands of updates to get there
    share = music_data.independent_bernoulli(rolls.pieces["train"]) if rolls else np.full(music_data.KEYS, 0.05)
    logits = keras.layers.Dense(music_data.KEYS, dtype="float32", name="logits",
                                bias_initializer=keras.initializers.Constant(np.log(share / (1 - share))))(x)
    return keras.Model(frames, logits, name="piano_roll_rnn")


@keras.saving.register_keras_serializable(package="rnn_suite")
def keys_nll(target, logits):
    """Per step: minus the Bernoulli log-likelihood summed over the 88 keys (nats)."""
    return music_data.KEYS * keras.losses.binary_crossentropy(target, logits, from_logits=True)


def forward(model: keras.Model):
    return tf.function(lambda x: tf.sigmoid(model(x, training=False)), reduce_retracing=True)


def probabilities(model: keras.Model, pieces: list[np.ndarray], batch: int = 32, traced=None) -> list[np.ndarray]:
    """P(key on at step t | steps before t) for every step of every piece, (steps, 88) each. `traced`: a
    forward(model) to reuse across calls."""
    traced, out = traced or forward(model), []
    for start in range(0, len(pieces), batch):
        inputs = list(examples(pieces[start:start + batch]).padded_batch(batch).take(1))[0][0]
        p = traced(inputs).numpy()
        out += [p[i, :len(roll)] for i, roll in enumerate(pieces[start:start + batch])]
    return out


def plan(cfg: Config, model: keras.Model, rolls: music_data.Rolls) -> training.Plan:
    """The summed per-key negative log-likelihood per step; the checkpoint and early stopping read the exact
    validation NLL in nats per step (the papers' metric), scored after every epoch."""
    validation, traced = rolls.pieces["validation"], forward(model)
    scorer = training.EpochScores(lambda m: [music_data.nll_per_step(probabilities(m, validation, traced=traced),
                                                                     validation)],
                                  [0.0], lambda _, p: float(p[0]), "validation_nll")
    train_ds = data.padded(examples(rolls.pieces["train"]), cfg.batch_size, shuffle_seed=cfg.seed)
    return training.Plan(model, train_ds, None, loss=keys_nll, monitor="validation_nll", monitor_mode="min",
                         patience=10, clipnorm=5.0, scorers=(scorer,), rates={"samples": rolls.steps("train")})


def evaluate(cfg: Config, model: keras.Model, rolls: music_data.Rolls) -> dict:
    """NLL (nats per step) of the model and the baselines (fitted on the training pieces) on validation, and on
    the file's test split when it has one (scored once, here); and the report's sample: 16 validation steps and 48
    drawn by the model (temperature 1, seed 0)."""
    bernoulli = music_data.independent_bernoulli(rolls.pieces["train"])
    chain = music_data.markov_chain(rolls.pieces["train"])
    out = {}
    for split in ("validation", "test"):
        pieces = rolls.pieces.get(split)
        if not pieces:
            continue
        out[split] = {
            reports.MODEL: music_data.nll_per_step(probabilities(model, pieces), pieces),
            "per-key Markov chain": music_data.nll_per_step(
                [music_data.markov_probabilities(chain, r) for r in pieces], pieces),
            "independent Bernoulli per key": music_data.nll_per_step(
                [np.broadcast_to(bernoulli, r.shape) for r in pieces], pieces),
            "steps": rolls.steps(split)}
    primer = rolls.pieces["validation"][0][:16]
    drawn = sampler(model)(tf.constant(primer[None]), tf.constant(48), tf.constant(1.0), tf.constant(0))
    out["sample"] = {"primer steps": len(primer), "piece": np.vstack([primer, drawn["continuation"].numpy()[0]])}
    return out


def summary(cfg: Config, metrics: dict, estimate: dict | None = None) -> dict:
    split = "test" if "test" in metrics else "validation"
    row = metrics[split]
    return {f"{split} NLL": round(row[reports.MODEL], 4),
            f"{split} Markov chain NLL": round(row["per-key Markov chain"], 4)}


def load_trained(cfg: Config) -> keras.Model:
    return checkpoints.load_checkpoint(cfg.run_dir, NAME)


# ------------------------------------------------------------------------------------------------- generation

def step_model(model: keras.Model) -> keras.Model:
    """The trained weights with the recurrent state in and out: (frames (batch, time, 88), *states) -> (logits
    (batch, time, 88), *states after the last frame). Dropout is left out (inference)."""
    frames = keras.Input((None, music_data.KEYS), name="frames")
    x, states_in, states_out = layers.with_explicit_state(frames, model)
    return keras.Model([frames, *states_in], [model.get_layer("logits")(x), *states_out], name="piano_roll_step")


def sampler(model: keras.Model):
    """The sampling loop as a tf.function(primer (batch, steps, 88), length, temperature, seed) ->
    {"continuation": (batch, length, 88) 0/1, "probabilities": (batch, length, 88)}: the primer is read once, then
    one recurrent step per generated frame with the state carried (cost P + L steps, not L x P + L^2 / 2); every key
    is drawn from its Bernoulli (probability sigmoid(logit / temperature); temperature 0 keeps the keys at >= 0.5),
    seeded by (seed, step)."""
    keys, step = music_data.KEYS, step_model(model)
    sizes = [int(t.shape[-1]) for t in step.inputs[1:]]

    @tf.function(input_signature=[tf.TensorSpec((None, None, keys), tf.float32, name="primer"),
                                  tf.TensorSpec((), tf.int32, name="length"),
                                  tf.TensorSpec((), tf.float32, name="temperature"),
                                  tf.TensorSpec((), tf.int32, name="seed")])
    def sample(primer, length, temperature, seed):
        batch = tf.shape(primer)[0]
        start = tf.concat([tf.zeros([batch, 1, keys]), tf.cast(primer > 0.5, tf.float32)], axis=1)
        out = step([start, *[tf.zeros([batch, size]) for size in sizes]], training=False)
        logits, states = out[0][:, -1], list(out[1:])
        drawn = tf.TensorArray(tf.float32, size=tf.maximum(length, 0) + 1)
        odds = tf.TensorArray(tf.float32, size=tf.maximum(length, 0) + 1)
        for i in tf.range(tf.maximum(length, 0)):
            p = tf.sigmoid(logits / tf.maximum(temperature, 1e-6))
            noise = tf.random.stateless_uniform(tf.shape(p), tf.stack([seed, i]))
            frame = tf.cast(tf.where(temperature > 0, noise < p, p >= 0.5), tf.float32)
            drawn, odds = drawn.write(i, frame), odds.write(i, p)
            out = step([frame[:, None], *states], training=False)
            logits, states = out[0][:, -1], list(out[1:])
        spare = tf.zeros([batch, keys])  # one spare row, so that length 0 still stacks
        continuation = tf.transpose(drawn.write(tf.maximum(length, 0), spare).stack()[:-1], [1, 0, 2])
        return {"continuation": continuation,
                "probabilities": tf.transpose(odds.write(tf.maximum(length, 0), spare).stack()[:-1], [1, 0, 2])}
    return sample


def export(cfg: Config, model: keras.Model, rolls: music_data.Rolls, metrics: dict,
           root: str | pathlib.Path = shared_export.DEFAULT_ROOT) -> pathlib.Path:
    """serving_default(primer [batch, steps, 88] float32 (0/1; steps may be 0), length int32, temperature float32,
    seed int32) -> continuation [batch, length, 88] (0/1), probabilities [batch, length, 88]."""
    sample = sampler(model)
    meta = {"config": cfg, "source": rolls.source, "metrics": metrics, "keys": music_data.KEYS,
            "lowest_midi_note": music_data.LOWEST, "input_limits": {"serving_default": LIMITS}}
    return shared_export.save(model, NAME, serve_fn=sample, metadata=meta, root=root)


def predict(cfg: Config, given: str, model_path: str | pathlib.Path | None = None) -> dict:
    """A continuation of a primer (a MIDI file, or "silence") by the exported model: cfg.length steps at
    cfg.temperature, written as a MIDI file and a piano-roll PNG beside each other in the run folder."""
    primer = np.zeros((0, music_data.KEYS), "float32") if given.strip().lower() == "silence" \
        else music_data.from_midi(given)
    served, _ = shared_export.load(model_path or shared_export.latest(NAME), NAME)
    out = served.signatures["serving_default"](primer=tf.constant(primer[None]), length=tf.constant(cfg.length),
                                                temperature=tf.constant(cfg.temperature),
                                                seed=tf.constant(cfg.sample_seed))
    continuation = out["continuation"].numpy()[0]
    folder = pathlib.Path(cfg.run_dir) / "generated"
    stem = f"continuation-{pathlib.Path(given).stem if given != 'silence' else 'silence'}-seed{cfg.sample_seed}"
    piece = np.vstack([primer, continuation])
    midi = music_data.to_midi(piece, folder / f"{stem}.mid")
    png = folder / f"{stem}.png"
    roll_figure(piece, len(primer), f"{len(primer)} primer steps + {len(continuation)} generated").savefig(png, dpi=110)
    return {"midi": str(midi), "png": str(png), "primer_steps": len(primer), "generated_steps": len(continuation),
            "notes_per_step": round(float(continuation.sum(axis=1).mean()), 2) if len(continuation) else 0.0}


# ------------------------------------------------------------------------------------------------ reporting

def roll_figure(piece: np.ndarray, primer_steps: int, title: str):
    """A piano-roll image: keys up, steps along; the primer shaded."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 3.5))
    ax = fig.add_subplot()
    ax.imshow(np.asarray(piece).T, origin="lower", aspect="auto", cmap="Greys", interpolation="nearest")
    if primer_steps:
        ax.axvspan(-0.5, primer_steps - 0.5, color="tab:blue", alpha=0.12, label="primer")
        ax.legend(loc="upper right")
    ax.set_xlabel("step (beat)")
    ax.set_ylabel(f"key (MIDI {music_data.LOWEST} + row)")
    ax.set_title(title)
    fig.tight_layout()
    return fig


def build_report(cfg: Config, rolls: music_data.Rolls, metrics: dict,
                 timing: dict, estimate: dict | None = None) -> reports.Report:
    split = "test" if "test" in metrics else "validation"
    generated = rolls.source.startswith("synthetic")
    anchors = {} if generated else {f"{name} ({cfg.dataset} test)": {"NLL nats/step": value}
                                    for name, value in music_data.ANCHORS[cfg.dataset].items()}
    shown = {part: reports.shown(metrics[part], reports.model_name(cfg.rnn)) for part in ("validation", "test")
             if part in metrics}
    rows = {name: {"NLL nats/step": value} for name, value in shown[split].items() if name != "steps"}
    sample = metrics["sample"]
    sections = {
        "Protocol": (f"Pieces by split (train {len(rolls.pieces['train'])}, validation "
                     f"{len(rolls.pieces['validation'])}" + (f", test {len(rolls.pieces['test'])}" if "test" in
                                                             rolls.pieces else "; the file has no test split")
                     + "). The checkpoint and early stopping read the validation NLL; "
                     + ("the test split is scored once, at the end." if split == "test" else
                        "with no test split, the figures are validation figures: the published test figures "
                        "are for scale only.")),
        "Metric": "Negative log-likelihood in nats per time step: the Bernoulli log-likelihood summed over the 88 "
                  "keys, each step of each piece weighted the same (the papers' metric).",
        **reports.notes([f"{rolls.skipped} empty pieces skipped" if rolls.skipped else "",
                         "generated pieces: no published figure applies" if generated else ""])}
    metrics_out = {split: {name: row["NLL nats/step"] for name, row in rows.items()},
                   **({"validation": {k: v for k, v in shown["validation"].items() if k != "steps"}}
                      if split == "test" else {})}
    return reports.Report(domain=NAME, source=rolls.source, metrics=metrics_out,
                          baselines={f"{split}: {k}": v for k, v in rows.items()}, anchors=anchors, timing=timing,
                          figures={"sample": roll_figure(sample["piece"], sample["primer steps"],
                                                         "16 validation steps + 48 sampled (temperature 1, seed 0)")},
                          sections=sections, extra={"config": dataclasses.asdict(cfg)})

