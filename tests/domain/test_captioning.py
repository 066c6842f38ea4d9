import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from domain import captioning


def png(image):
    return tf.io.encode_png(image).numpy()


def test_generated_scenes_captions_state_their_facts():
    scenes = captioning.generate(30, seed=4, size=64)
    assert scenes.images.shape == (30, 64, 64, 3) and scenes.images.dtype == np.uint8
    for caps, facts in zip(scenes.captions, scenes.facts, strict=True):
        assert len(caps) == 3 and all(captioning.facts_of(c) == facts for c in caps)  # three phrasings, one scene
    np.testing.assert_array_equal(scenes.images, captioning.generate(30, seed=4, size=64).images)
    # the relation is visible: for "to the left of" the first object's colour lies left of the second's
    caption = next(c[0] for c in scenes.captions if " to the left of " in c[0])
    i = next(k for k, c in enumerate(scenes.captions) if c[0] == caption)
    first, second = caption[2:].split(" to the left of a ")
    columns = []
    for name in (first.split()[1], second.split()[1]):
        colour = np.array(captioning.COLOURS[name])
        close = np.abs(scenes.images[i].astype(int) - colour).sum(axis=-1) < 60
        columns.append(np.nonzero(close)[1].mean())
    if first.split()[1] != second.split()[1]:
        assert columns[0] < columns[1]


def test_facts_of_is_phrasing_independent():
    a = captioning.facts_of("a small red circle to the left of a large blue square")
    assert a == captioning.facts_of("A large blue square to the right of a small red circle.")
    assert a == captioning.facts_of("there is a small red circle to the left of a large blue square")
    assert a != captioning.facts_of("a small red circle to the right of a large blue square")
    assert captioning.facts_of("a dog on a skateboard") is None


def test_decode_image_handles_grey_rgba_sizes_and_garbage():
    grey = tf.io.encode_png(np.full((5, 7, 1), 100, np.uint8)).numpy()
    out = captioning.decode_image(grey, 32)
    assert out.shape == (32, 32, 3) and (out == 100).all()
    rgba = np.zeros((300, 200, 4), np.uint8)
    rgba[..., 0] = 255
    assert (captioning.decode_image(png(rgba), 16)[..., 0] == 255).all()
    jpeg = tf.io.encode_jpeg(np.full((2, 2, 3), 50, np.uint8)).numpy()  # tiny
    assert captioning.decode_image(jpeg, 16).shape == (16, 16, 3)
    with pytest.raises(ValueError, match="not a readable image"):
        captioning.decode_image(b"definitely not an image", 16)
    with pytest.raises(ValueError, match="empty"):
        captioning.decode_image(b"", 16)


def test_flickr_style_folders(tmp_path):
    scenes = captioning.generate(3, seed=0, size=40)
    (tmp_path / "Images").mkdir()
    for i, image in enumerate(scenes.images):
        (tmp_path / "Images" / f"im{i}.png").write_bytes(png(image))
    (tmp_path / "captions.txt").write_text("image,caption\n" + "".join(
        f'im{i}.png,"{c}"\n' for i, caps in enumerate(scenes.captions) for c in caps) + "im1.png,\nim9.png,a ghost\n")
    loaded = captioning.load_folder(tmp_path, size=32)
    assert loaded.names == ["im0.png", "im1.png", "im2.png"] and loaded.images.shape == (3, 32, 32, 3)
    assert loaded.captions == scenes.captions  # the empty entry dropped, the missing image skipped

    token = tmp_path / "token"
    token.mkdir()
    (token / "a.jpg").write_bytes(tf.io.encode_jpeg(scenes.images[0]).numpy())
    (token / "Flickr8k.token.txt").write_text("a.jpg#0\tA red circle .\na.jpg#1\tSomething red .\n")
    assert captioning.load_folder(token, size=24).captions == [["A red circle .", "Something red ."]]
    (token / "b.jpg").write_bytes(b"broken")
    (token / "Flickr8k.token.txt").write_text("a.jpg#0\tA red circle .\nb.jpg#0\tbroken\n")
    with pytest.raises(ValueError, match="b.jpg: not a readable image"):
        captioning.load_folder(token, size=24)
    (token / "Flickr8k.token.txt").write_text("a.jpg#0 A red circle without a tab\n")
    with pytest.raises(ValueError, match="line 1: expected"):
        captioning.load_folder(token, size=24)
    (token / "Flickr8k.token.txt").unlink()
    (token / "captions.txt").write_text("file,text\na.jpg,A red circle\n")
    with pytest.raises(ValueError, match="expected a header 'image,caption'"):
        captioning.load_folder(token, size=24)
    (token / "captions.txt").unlink()
    with pytest.raises(FileNotFoundError, match="captions.txt"):
        captioning.load_folder(token, size=24)


def test_tfds_coco_captions_with_mock_data():
    with tfds.testing.mock_data(num_examples=3):
        data = captioning.load_tfds("train", size=32)
    assert data.images.shape == (3, 32, 32, 3) and all(data.captions)
