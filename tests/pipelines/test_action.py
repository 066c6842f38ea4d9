import dataclasses
import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from domain import action as video_data
from pipelines import action
from shared import data as shared_data
from shared import export
from tests.conftest import run_quick


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    return run_quick(action, tmp_path_factory.mktemp("action"))


def test_quick_run_recurrent_model_beats_averaged_frames(quick_run):
    cfg, root, result = quick_run
    assert result["lrcn top-1"] > result["average top-1"] + 15 and result["lrcn top-1"] > 100 * 2 / 8
    report = json.loads((root / "run" / "report.json").read_text())
    assert report["timing"]["peak_memory_mb"] > 0 and report["timing"]["lrcn train_seconds"] > 0  # serving: make bench
    assert (root / "run" / "frames.png").exists() and (root / "run" / "confusion.png").exists()


def test_exported_model_matches_python_and_reads_video_files(quick_run, tmp_path):
    cfg, root, _ = quick_run
    clips = action.load_data(cfg).test
    model = keras.models.load_model(f"{cfg.run_dir}/lrcn/best.keras")
    python = action.predict_logits(model, cfg, clips).argmax(axis=1)
    path = export.latest("action", root / "saved_models")
    served = action.serve(path, clips.videos[:, video_data.sample_indices(cfg.raw_frames, cfg.frames)])
    assert [s.decode() for s in served["action"]] == [clips.classes[i] for i in python]
    # raw_frames frames in: the graph samples them to cfg.frames itself, as Python does
    again = action.serve(path, clips.videos[:8])
    assert [s.decode() for s in again["action"]] == [clips.classes[i] for i in python[:8]]

    big = np.stack([np.kron(f, np.ones((2, 2, 1), np.uint8)) for f in clips.videos[0]])  # 48 x 48 frames
    result = action.predict(cfg, video_data.write_video(tmp_path / "clip.avi", big), root=root / "saved_models")
    assert result["action"] in clips.classes and result["frames_in_file"] == cfg.raw_frames
    short = action.predict(cfg, video_data.write_video(tmp_path / "short.mp4", clips.videos[0][:3]), path)
    assert short["frames_in_file"] == 3 and short["action"] in clips.classes  # looped to the frame count
    grey = action.predict(cfg, video_data.write_video(tmp_path / "grey.avi", clips.videos[0].mean(-1).astype(np.uint8)), path)
    assert grey["action"] in clips.classes


@pytest.mark.slow
def test_averaged_frames_cannot_tell_time_reversed_motions():
    cfg = dataclasses.replace(action.Config(), frames=8, raw_frames=8, size=24, batch_size=32, seed=0)
    pair = ("slide left", "slide right")  # the same frames, played in opposite orders
    train = video_data.generate(320, seed=1, frames=8, size=24, classes=pair)
    test = video_data.generate(160, seed=2, frames=8, size=24, classes=pair)
    keras.utils.set_random_seed(0)
    model = action.build_network(cfg, "average", 2)
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(action.make_dataset(cfg, train, training=True), epochs=6, verbose=0)
    accuracy = np.mean(action.predict_logits(model, cfg, test).argmax(axis=1) == test.labels)
    assert 0.3 < accuracy < 0.68


def test_tf_frame_sampling_matches_numpy():
    for n, count in ((24, 8), (16, 16), (5, 8), (1, 4)):
        tf_index = action.sample_frames(tf.range(n), count).numpy()
        np.testing.assert_array_equal(tf_index, video_data.sample_indices(n, count))
    random = action.sample_frames(tf.range(32), 4, tf.constant(7, tf.int64)).numpy()
    assert ((random // 8) == np.arange(4)).all()


def test_training_batches_are_the_same_under_the_same_seed_and_differ_by_epoch():
    cfg = dataclasses.replace(action.Config(), **action.QUICK)
    clips = action.load_data(cfg).train

    def epochs(ds, count=2):  # training sets the epoch as each begins (shared.data.epoch()); here by hand
        return [shared_data.epoch().assign(epoch) and np.concatenate([frames.numpy().ravel() for frames, _ in ds])
                for epoch in range(count)]
    first, again = epochs(action.make_dataset(cfg, clips, training=True)), epochs(action.make_dataset(cfg, clips, training=True))
    np.testing.assert_array_equal(first[0], again[0])  # parallel maps, same seed: the same frames and colours
    np.testing.assert_array_equal(first[1], again[1])
    assert not np.array_equal(first[0], first[1])  # a new draw every epoch
    shared_data.epoch().assign(0)


def test_config_refuses_bad_options():
    with pytest.raises(ValueError, match="--models"):
        action.Config(models="lrcn,transformer")
    with pytest.raises(ValueError, match="--backbone"):
        action.Config(backbone="resnet")


@pytest.mark.slow
def test_convlstm_variant_builds_and_learns_a_batch():
    cfg = dataclasses.replace(action.Config(), **{**action.QUICK, "models": "convlstm"})
    model = action.build_network(cfg, "convlstm", 8)
    assert any(isinstance(layer, keras.layers.ConvLSTM2D) for layer in model.layers)
    frames = np.random.default_rng(0).integers(0, 255, (4, cfg.frames, cfg.size, cfg.size, 3)).astype(np.uint8)
    labels = np.arange(4)
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    first = model.train_on_batch(frames, labels)
    for _ in range(15):
        last = model.train_on_batch(frames, labels)
    assert model(frames).shape == (4, 8) and last < first
