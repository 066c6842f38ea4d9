"""Video clips for action recognition: generated motion clips (the offline default), a local folder of videos in
class sub-folders (`<action>/<clip>.avi|mp4`, decoded with OpenCV), TFDS `ucf101`; frame sampling.

Clips are uint8 arrays (frames, height, width, 3), RGB.

Notebook:
    clips = action.generate(400, seed=0)                       # Clips: videos (n, 16, 32, 32, 3), labels, classes
    frames = action.read_video("clip.mp4")                     # every frame, RGB uint8
    index = action.sample_indices(len(frames), 16)             # uniform sampling (looped when too short)
"""

from __future__ import annotations

import dataclasses
import logging
import pathlib

import numpy as np

log = logging.getLogger(__name__)
SOURCES = ("auto", "local", "tfds", "synthetic")  # --source choices (resolved by domain.sources.resolve_auto)

# pairs that differ only in the direction of time: a single frame, or frames averaged, cannot tell them apart
MOTIONS = ("slide left", "slide right", "slide up", "slide down", "rotate clockwise", "rotate counter-clockwise",
           "grow", "shrink")
VIDEO_SUFFIXES = (".avi", ".mp4", ".mov", ".mkv", ".webm", ".mpg", ".mpeg")


@dataclasses.dataclass
class Clips:
    """videos: uint8 (n, frames, height, width, 3); labels: int (n,); classes: names of the labels."""

    videos: np.ndarray
    labels: np.ndarray
    classes: list[str]

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, index) -> Clips:
        return Clips(self.videos[index], self.labels[index], self.classes)


def sample_indices(n_frames: int, count: int, rng: np.random.Generator | None = None) -> np.ndarray:
    """`count` frame indices spread uniformly over a clip of n_frames (segment centres); with `rng`, a random
    position inside each segment (training). A clip shorter than `count` frames is looped (0, 1, .., n-1, 0, ..)."""
    if n_frames < 1:
        raise ValueError("the video has no frames.")
    if n_frames < count:
        return np.arange(count) % n_frames
    edges = np.linspace(0, n_frames, count + 1)
    offset = rng.uniform(0, 1, count) if rng is not None else np.full(count, 0.5)
    return np.minimum((edges[:-1] + offset * np.diff(edges)).astype(int), n_frames - 1)


def to_rgb(frames: np.ndarray, name: str = "video") -> np.ndarray:
    """(frames, h, w) grey, (frames, h, w, 1) grey, (frames, h, w, 3) RGB or (frames, h, w, 4) RGBA -> uint8 RGB."""
    frames = np.asarray(frames)
    if frames.ndim == 3:
        frames = frames[..., None]
    if frames.ndim != 4 or frames.shape[-1] not in (1, 3, 4):
        raise ValueError(f"{name}: expected frames (n, height, width[, 1|3|4]), got shape {frames.shape}.")
    if frames.shape[-1] == 1:
        frames = np.repeat(frames, 3, axis=-1)
    frames = frames[..., :3]
    if frames.dtype != np.uint8:
        frames = np.clip(frames, 0, 255).astype(np.uint8)
    return frames


def resize(frames: np.ndarray, size: int) -> np.ndarray:
    import cv2

    if frames.shape[1:3] == (size, size):
        return frames
    return np.stack([cv2.resize(f, (size, size), interpolation=cv2.INTER_AREA) for f in frames])


def read_video(path: str | pathlib.Path) -> np.ndarray:
    """Every frame of a video file as uint8 RGB (frames, height, width, 3), decoded with OpenCV (FFmpeg inside)."""
    return sample_video(path, None)[0]


def sample_video(path: str | pathlib.Path, count: int | None) -> tuple[np.ndarray, int]:
    """(frames, the file's frame count): with `count`, only the `count` frames of sample_indices, kept as they are
    decoded (a first pass counts the frames and keeps none, so a long HD video is never held in memory whole);
    without, every frame. Fewer frames decoded than the file announces (a damaged file) is a logged warning."""
    import cv2

    path = pathlib.Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file.")
    capture = cv2.VideoCapture(str(path))
    announced = int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
    wanted = None
    if count:
        total = 0
        while capture.grab():
            total += 1
        capture.release()
        capture = cv2.VideoCapture(str(path))
        wanted = set(sample_indices(total, count).tolist()) if total else set()
    frames, decoded = {}, 0
    try:
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            if wanted is None or decoded in wanted:
                frames[decoded] = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB) if frame.ndim == 3 else frame
            decoded += 1
    finally:
        capture.release()
    if not frames:
        raise ValueError(f"{path}: no frames could be decoded (not a video, corrupt, or an unsupported codec); "
                         "convert it with 'ffmpeg -i in -c:v mjpeg out.avi'.")
    if announced and decoded < 0.9 * announced:
        log.warning("%s: decoded %d of the %d frames its header announces; the file may be damaged", path, decoded,
                    announced)
    order = sample_indices(decoded, count) if count else range(decoded)
    return to_rgb(np.stack([frames[i] for i in order if i in frames]), str(path)), decoded


def load_folder(folder: str | pathlib.Path, frames: int, size: int) -> tuple[Clips, list[str]]:
    """Videos in class sub-folders, each sampled to `frames` frames of size x size. Returns (clips, the source
    file of each clip). Unreadable files stop the load with their name."""
    folder = pathlib.Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: not a folder; pass --data-dir with <action>/<clip>.avi|mp4.")
    classes = sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    files, labels = [], []
    for label, name in enumerate(classes):
        for path in sorted(p for p in (folder / name).iterdir() if p.suffix.lower() in VIDEO_SUFFIXES):
            files.append(str(path))
            labels.append(label)
    if not files:
        raise FileNotFoundError(f"{folder}: no videos ({', '.join(VIDEO_SUFFIXES)}) in class sub-folders.")

    def decode(path):
        return resize(sample_video(path, frames)[0], size)
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor() as pool:  # OpenCV releases the GIL while decoding: files decode in parallel
        videos = list(pool.map(decode, files))
    return Clips(np.stack(videos), np.array(labels), classes), files


def load_tfds(split: str, frames: int, size: int, data_dir: str | None = None, limit: int | None = None) -> Clips:
    """TFDS `ucf101` (101 actions), each clip sampled to `frames` frames and resized."""
    import tensorflow_datasets as tfds

    ds, info = tfds.load("ucf101", split=split, data_dir=data_dir, with_info=True)
    videos, labels = [], []
    for i, example in enumerate(tfds.as_numpy(ds)):
        if limit is not None and i >= limit:
            break
        video = to_rgb(example["video"], f"ucf101[{i}]")
        videos.append(resize(video[sample_indices(len(video), frames)], size))
        labels.append(int(example["label"]))
    return Clips(np.stack(videos), np.array(labels), list(info.features["label"].names))


def _sprites(size: int) -> list[np.ndarray]:
    """Asymmetric grey sprites (scikit-learn's bundled 8x8 digit images, so rotation is visible), size x size."""
    import cv2
    from sklearn.datasets import load_digits

    digits = load_digits()
    picks = [np.flatnonzero(digits.target == d)[0] for d in (2, 3, 4, 5, 7)]
    return [cv2.resize((digits.images[i] / 16.0).astype("float32"), (size, size), interpolation=cv2.INTER_CUBIC)
            for i in picks]


def _background(rng: np.random.Generator, size: int, frames: int) -> np.ndarray:
    """A smooth random texture panned in a random direction, dimmer than the sprite, with per-frame noise."""
    import cv2

    big = cv2.GaussianBlur(rng.uniform(0, 1, (2 * size, 2 * size)).astype("float32"), (0, 0), 3)
    big = (big - big.min()) / (np.ptp(big) + 1e-6)
    velocity = rng.uniform(-0.6, 0.6, 2)
    start = rng.uniform(size * 0.3, size * 0.7, 2)
    out = np.empty((frames, size, size), "float32")
    for t in range(frames):
        y, x = np.clip(start + velocity * t, 0, size).astype(int)
        out[t] = big[y:y + size, x:x + size]
    return 0.35 * out


def generate(n: int, seed: int, *, frames: int = 16, size: int = 32, classes=MOTIONS) -> Clips:
    """`n` clips, labels balanced over `classes`: a sprite that slides, rotates or changes size over the clip on a
    moving textured background with noise, in a random colour. Start position, angle and scale are drawn so that
    any one frame looks alike across classes, and each motion has a partner that is the same clip played backwards:
    only the order of frames tells the class. Deterministic under `seed`."""
    import cv2

    unknown = set(classes) - set(MOTIONS)
    if unknown:
        raise ValueError(f"unknown motions {sorted(unknown)}; choose from {list(MOTIONS)}.")
    rng = np.random.default_rng(seed)
    sprite_size = size // 3
    sprites = _sprites(sprite_size)
    labels = np.arange(n) % len(classes)
    rng.shuffle(labels)
    videos = np.empty((n, frames, size, size, 3), np.uint8)
    progress = np.linspace(0.0, 1.0, frames)
    for i, label in enumerate(labels):
        motion = classes[label]
        sprite = sprites[rng.integers(len(sprites))]
        colour = rng.uniform(0.5, 1.0, 3)
        centre = rng.uniform(size * 0.3, size * 0.7, 2)  # (x, y)
        angle, scale = rng.uniform(0, 360), rng.uniform(0.9, 1.3)
        travel, turn, growth = size * rng.uniform(0.25, 0.4), rng.uniform(60, 120), rng.uniform(0.5, 0.8)
        background = _background(rng, size, frames)
        for t, p in enumerate(progress):
            c, a, s = centre.copy(), angle, scale
            if motion.startswith("slide"):
                axis, sign = (0, -1) if motion.endswith("left") else (0, 1) if motion.endswith("right") else \
                    (1, -1) if motion.endswith("up") else (1, 1)
                c[axis] += sign * travel * (p - 0.5)
            elif motion.startswith("rotate"):
                a += (-1 if motion == "rotate clockwise" else 1) * turn * (p - 0.5)  # OpenCV: positive = counter-clockwise
            else:
                s *= 1 + (growth if motion == "grow" else -growth) * (p - 0.5)
            matrix = cv2.getRotationMatrix2D((sprite_size / 2, sprite_size / 2), a, s)
            matrix[:, 2] += c - sprite_size / 2
            layer = cv2.warpAffine(sprite, matrix, (size, size), flags=cv2.INTER_LINEAR)
            frame = background[t][..., None] * (1 - layer[..., None]) + layer[..., None] * colour
            frame += rng.normal(0, 0.04, frame.shape)
            videos[i, t] = np.clip(frame * 255, 0, 255).astype(np.uint8)
    return Clips(videos, labels, list(classes))


def write_video(path: str | pathlib.Path, frames: np.ndarray, fps: int = 10) -> pathlib.Path:
    """RGB uint8 frames to a video file (MJPG .avi or mp4v .mp4) with OpenCV; for tests and examples."""
    import cv2

    path = pathlib.Path(path)
    frames = to_rgb(frames)
    fourcc = cv2.VideoWriter_fourcc(*("mp4v" if path.suffix.lower() == ".mp4" else "MJPG"))
    writer = cv2.VideoWriter(str(path), fourcc, fps, (frames.shape[2], frames.shape[1]))
    try:
        for frame in frames:
            writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    finally:
        writer.release()
    return path
