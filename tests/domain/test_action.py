import numpy as np
import pytest
import tensorflow_datasets as tfds

from domain import action


def test_sample_indices_uniform_random_and_looped():
    np.testing.assert_array_equal(action.sample_indices(32, 4), [4, 12, 20, 28])  # segment centres
    rng = np.random.default_rng(0)
    for _ in range(20):
        index = action.sample_indices(32, 4, rng)
        assert ((index // 8) == np.arange(4)).all()  # one frame inside each segment of 8
    np.testing.assert_array_equal(action.sample_indices(3, 7), [0, 1, 2, 0, 1, 2, 0])  # short clip: looped
    np.testing.assert_array_equal(action.sample_indices(5, 5), np.arange(5))
    with pytest.raises(ValueError, match="no frames"):
        action.sample_indices(0, 4)


def test_generated_clips_are_deterministic_balanced_and_move():
    clips = action.generate(24, seed=5, frames=8, size=24)
    assert clips.videos.shape == (24, 8, 24, 24, 3) and clips.videos.dtype == np.uint8
    assert np.bincount(clips.labels).tolist() == [3] * 8
    np.testing.assert_array_equal(clips.videos, action.generate(24, seed=5, frames=8, size=24).videos)
    assert not np.array_equal(clips.videos, action.generate(24, seed=6, frames=8, size=24).videos)
    left = clips.videos[clips.labels == action.MOTIONS.index("slide left")][0].astype(float).sum(axis=-1)
    bright = left > np.percentile(left, 97, axis=(1, 2), keepdims=True)  # the sprite's pixels
    columns = [np.nonzero(frame)[1].mean() for frame in bright]
    assert columns[-1] < columns[0] - 3  # the sprite moved left
    with pytest.raises(ValueError, match="unknown motions"):
        action.generate(4, seed=0, classes=("jump",))


def test_video_files_round_trip_and_bad_input(tmp_path):
    frames = action.generate(1, seed=1, frames=6, size=32).videos[0]
    for suffix in (".avi", ".mp4"):
        back = action.read_video(action.write_video(tmp_path / f"clip{suffix}", frames))
        assert back.shape == (6, 32, 32, 3)
        assert np.abs(back.astype(int) - frames.astype(int)).mean() < 20  # lossy codecs, same picture
    (tmp_path / "notes.mp4").write_text("not a video")
    with pytest.raises(ValueError, match="no frames could be decoded"):
        action.read_video(tmp_path / "notes.mp4")
    (tmp_path / "empty.avi").write_bytes(b"")
    with pytest.raises(ValueError, match="no frames"):
        action.read_video(tmp_path / "empty.avi")
    with pytest.raises(FileNotFoundError):
        action.read_video(tmp_path / "missing.avi")


def test_sampling_while_decoding_keeps_only_the_chosen_frames_and_damage_is_logged(tmp_path, caplog):
    frames = action.generate(1, seed=2, frames=12, size=32).videos[0]
    path = action.write_video(tmp_path / "clip.avi", frames)
    whole = action.read_video(path)
    sampled, total = action.sample_video(path, 4)
    assert total == 12 and sampled.shape == (4, 32, 32, 3)
    np.testing.assert_array_equal(sampled, whole[action.sample_indices(12, 4)])  # the same frames, fewer held
    looped, total = action.sample_video(path, 16)  # a shorter clip is looped, as sample_indices does
    np.testing.assert_array_equal(looped, whole[action.sample_indices(12, 16)])
    data = path.read_bytes()
    (tmp_path / "cut.avi").write_bytes(data[: len(data) // 2])  # the header still announces 12 frames
    with caplog.at_level("WARNING"):
        assert len(action.read_video(tmp_path / "cut.avi")) < 12
    assert "of the 12 frames its header announces; the file may be damaged" in caplog.text


def test_grey_and_rgba_become_rgb():
    grey = np.arange(2 * 4 * 4, dtype=np.uint8).reshape(2, 4, 4)
    rgb = action.to_rgb(grey)
    assert rgb.shape == (2, 4, 4, 3) and (rgb[..., 0] == rgb[..., 2]).all()
    assert action.to_rgb(np.zeros((2, 4, 4, 4), np.uint8)).shape == (2, 4, 4, 3)
    with pytest.raises(ValueError, match="expected frames"):
        action.to_rgb(np.zeros((4, 4), np.uint8))


def test_local_folder_with_tiny_videos(tmp_path):
    clips = action.generate(4, seed=2, frames=10, size=40, classes=("grow", "shrink"))
    for i, (video, label) in enumerate(zip(clips.videos, clips.labels, strict=True)):
        (tmp_path / clips.classes[label]).mkdir(exist_ok=True)
        action.write_video(tmp_path / clips.classes[label] / f"c{i}.avi", video[: 3 + i])  # 3..6 frames
    (tmp_path / "grow" / "readme.txt").write_text("ignored")
    loaded, files = action.load_folder(tmp_path, frames=5, size=24)
    assert loaded.classes == ["grow", "shrink"] and loaded.videos.shape == (4, 5, 24, 24, 3)
    assert sorted(loaded.labels.tolist()) == [0, 0, 1, 1] and all(f.endswith(".avi") for f in files)
    with pytest.raises(FileNotFoundError, match="no videos"):
        action.load_folder(tmp_path / "grow", frames=5, size=24)


def test_tfds_ucf101_with_mock_data():
    with tfds.testing.mock_data(num_examples=2):
        clips = action.load_tfds("train", frames=4, size=16)
    assert clips.videos.shape == (2, 4, 16, 16, 3) and len(clips.classes) == 101
