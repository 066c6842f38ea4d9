"""Polyphonic music as piano-rolls (Boulanger-Lewandowski et al. 2012): reading the published .mat files, a
generated corpus for offline runs, the papers' metric (negative log-likelihood in nats per time step) with two
simple baselines, and MIDI files in and out (mido) so a user can listen to what a model made.

A piece is a binary float32 matrix (steps, 88): one row per time step (a quarter note in JSB Chorales), one
column per piano key from A0 (MIDI note 21) to C8 (108), 1 where the key sounds.
"""

from __future__ import annotations

import dataclasses
import pathlib

import numpy as np

from domain.sources import data_folder

SOURCES = ("auto", "local", "synthetic")
DATASETS = {"jsb": "JSB_Chorales.mat", "nottingham": "Nottingham.mat"}
KEYS = 88
LOWEST = 21  # MIDI note of the lowest piano key (A0)
SPLITS = {"traindata": "train", "validdata": "validation", "testdata": "test"}
# published test NLL, nats per step (Chung et al. 2014 Table 2 for RNN/GRU/LSTM; Boulanger-Lewandowski et al. 2012
# for RNN-NADE; Bai et al. 2018 for TCN), the same split and metric
ANCHORS = {"jsb": {"RNN (tanh), Chung et al. 2014": 8.71, "LSTM, Chung et al. 2014": 8.67,
                   "GRU, Chung et al. 2014": 8.54, "TCN, Bai et al. 2018": 8.10,
                   "RNN-NADE, Boulanger-Lewandowski et al. 2012": 5.56},
           "nottingham": {"LSTM, Chung et al. 2014": 3.20, "GRU, Chung et al. 2014": 3.23,
                          "TCN, Bai et al. 2018": 3.07}}


@dataclasses.dataclass
class Rolls:
    """Pieces by split ("train", "validation", maybe "test"), where they came from, and what was skipped."""

    pieces: dict[str, list[np.ndarray]]
    source: str
    skipped: int = 0

    def steps(self, split: str) -> int:
        return sum(len(p) for p in self.pieces.get(split, []))


def default_data_dir() -> str:
    """The polyphonic folder by the suite's one rule (domain.sources.data_folder), when it holds the data; else ""."""
    folder = data_folder("polyphonic")
    return str(folder) if folder.is_dir() else ""


def load_mat(path: str | pathlib.Path) -> Rolls:
    """A Boulanger-Lewandowski .mat file (`traindata`, `validdata` and, when present, `testdata`: 1 x N cells of
    steps x 88 binary matrices) read as it is. An empty piece is skipped and counted; a matrix that is not
    steps x 88 or holds values other than 0 and 1 makes the file corrupt: refused, naming the piece."""
    from scipy.io import loadmat
    from scipy.io.matlab import MatReadError

    path = pathlib.Path(path)
    try:
        data = loadmat(path)
    except (OSError, ValueError, TypeError, NotImplementedError, MatReadError) as error:
        raise ValueError(f"{path}: not a readable MATLAB file ({error}).") from None
    if "traindata" not in data:
        raise ValueError(f"{path}: no 'traindata' cell array; expected the piano-roll files of Boulanger-Lewandowski "
                         "et al. 2012 (traindata, validdata, testdata).")
    pieces, skipped = {}, 0
    for key, split in SPLITS.items():
        if key not in data:
            continue
        kept = []
        for i, cell in enumerate(np.asarray(data[key], dtype=object).reshape(-1)):
            roll = np.asarray(cell)
            if roll.size == 0:
                skipped += 1
                continue
            if roll.ndim != 2 or roll.shape[1] != KEYS:
                raise ValueError(f"{path}: {key} piece {i} has shape {roll.shape}; expected steps x {KEYS} keys.")
            if not np.isin(roll, (0, 1)).all():
                raise ValueError(f"{path}: {key} piece {i} holds values other than 0 and 1; not a piano-roll.")
            kept.append(roll.astype("float32"))
        pieces[split] = kept
    if not pieces.get("train") or not pieces.get("validation"):
        raise ValueError(f"{path}: needs pieces in both traindata and validdata.")
    return Rolls(pieces, f"local: {path}", skipped)


def generated_corpus(pieces: int = 120, seed: int = 0, steps: tuple[int, int] = (32, 64)) -> Rolls:
    """Chorale-like four-voice pieces generated here (offline runs, tests): a key, a progression over I, IV, V
    and vi changing every 2-4 steps, the chord's notes in bass, tenor, alto and soprano ranges, each voice moving
    to the nearest chord tone, and a note held or rested now and then. Deterministic under the seed; split
    70 / 15 / 15 into train, validation and test."""
    rng = np.random.default_rng(seed)
    chords = {1: (0, 4, 7), 4: (5, 9, 0), 5: (7, 11, 2), 6: (9, 0, 4)}
    moves = {1: (4, 5, 6), 4: (5, 1), 5: (1, 6), 6: (4, 5)}
    ranges = ((36, 52), (48, 64), (55, 72), (60, 79))  # bass, tenor, alto, soprano (MIDI)
    out = []
    for _ in range(pieces):
        key, degree = int(rng.integers(0, 12)), 1
        length = int(rng.integers(*steps))
        roll = np.zeros((length, KEYS), "float32")
        voices = [int((low + high) // 2) for low, high in ranges]
        t = 0
        while t < length:
            tones = [(key + c) % 12 for c in chords[degree]]
            for v, (low, high) in enumerate(ranges):
                candidates = [n for n in range(low, high + 1) if n % 12 in (tones if v else tones[:1])]
                voices[v] = min(candidates, key=lambda n, last=voices[v]: abs(n - last))
            span = int(rng.integers(2, 5))
            for s in range(t, min(t + span, length)):
                for v, note in enumerate(voices):
                    if v == 0 or rng.random() > 0.05:  # an inner voice rests now and then
                        roll[s, note - LOWEST] = 1.0
            t += span
            degree = 1 if t >= length - 4 else int(rng.choice(moves[degree]))
        out.append(roll)
    cut, end = int(0.7 * pieces), int(0.85 * pieces)
    return Rolls({"train": out[:cut], "validation": out[cut:end], "test": out[end:]},
                 f"synthetic: {pieces} generated four-voice pieces (seed {seed})")


# ------------------------------------------------------------------------------------------------- the metric

def nll_per_step(probabilities: list[np.ndarray], pieces: list[np.ndarray]) -> float:
    """The papers' metric: minus the Bernoulli log-likelihood of every key, summed over the 88 keys, averaged over
    every time step of every piece (each step weighs the same), in nats. probabilities[i][t] = P(key on at step t
    | steps before t) for piece i."""
    total, steps = 0.0, 0
    for p, roll in zip(probabilities, pieces, strict=True):
        p = np.clip(np.asarray(p, dtype="float64"), 1e-7, 1 - 1e-7)
        total -= float(np.sum(roll * np.log(p) + (1 - roll) * np.log1p(-p)))
        steps += len(roll)
    return total / max(steps, 1)


def independent_bernoulli(train: list[np.ndarray]) -> np.ndarray:
    """Each key's share of training steps on (add-one smoothed): the order-blind baseline."""
    every = np.concatenate(train)
    return (every.sum(axis=0) + 1.0) / (len(every) + 2.0)


def markov_chain(train: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A first-order Markov chain per key (add-one smoothed): (P(on) at a piece's first step, P(on | was off),
    P(on | was on))."""
    first = np.stack([p[0] for p in train])
    before = np.concatenate([p[:-1] for p in train])
    after = np.concatenate([p[1:] for p in train])
    start = (first.sum(axis=0) + 1.0) / (len(first) + 2.0)
    off = (((1 - before) * after).sum(axis=0) + 1.0) / ((1 - before).sum(axis=0) + 2.0)
    on = ((before * after).sum(axis=0) + 1.0) / (before.sum(axis=0) + 2.0)
    return start, off, on


def markov_probabilities(chain: tuple[np.ndarray, np.ndarray, np.ndarray], roll: np.ndarray) -> np.ndarray:
    start, off, on = chain
    previous = roll[:-1]
    return np.vstack([start[None, :], previous * on + (1 - previous) * off])


# ----------------------------------------------------------------------------------------------------- MIDI

def to_midi(roll: np.ndarray, path: str | pathlib.Path, *, beats_per_minute: float = 100.0) -> pathlib.Path:
    """Write a piano-roll as a standard MIDI file (type 0, one piano track), one step per beat: a key held over
    consecutive steps is one long note."""
    import mido

    ticks = 480
    midi = mido.MidiFile(type=0, ticks_per_beat=ticks)
    track = mido.MidiTrack()
    midi.tracks.append(track)
    track.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(beats_per_minute), time=0))
    track.append(mido.Message("program_change", program=0, time=0))
    padded = np.vstack([np.zeros((1, KEYS)), np.asarray(roll) > 0.5, np.zeros((1, KEYS))]).astype(int)
    changes = np.diff(padded, axis=0)  # +1 note on, -1 note off, at step index
    last = 0
    for step in range(changes.shape[0]):
        for key in np.flatnonzero(changes[step] == -1):
            track.append(mido.Message("note_off", note=int(key) + LOWEST, velocity=0, time=(step - last) * ticks))
            last = step
        for key in np.flatnonzero(changes[step] == 1):
            track.append(mido.Message("note_on", note=int(key) + LOWEST, velocity=80, time=(step - last) * ticks))
            last = step
    track.append(mido.MetaMessage("end_of_track", time=0))
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    midi.save(str(path))
    return path


def from_midi(path: str | pathlib.Path) -> np.ndarray:
    """A MIDI file as a piano-roll, one step per beat (notes quantised to the nearest beat, every track and
    channel merged; drums on channel 10 and notes outside the piano's 88 keys left out). A file that mido cannot
    read, or that has no notes, is refused in one line."""
    import mido

    try:
        midi = mido.MidiFile(str(path))
    except (OSError, ValueError, EOFError, KeyError, IndexError) as error:
        raise ValueError(f"{path}: not a readable MIDI file ({error}).") from None
    notes, sounding = [], {}
    for track in midi.tracks:
        now = 0
        for message in track:
            now += message.time
            if message.type not in ("note_on", "note_off") or message.channel == 9:
                continue
            key = (message.channel, message.note)
            if message.type == "note_on" and message.velocity > 0:
                sounding[key] = now
            elif key in sounding:
                notes.append((message.note, sounding.pop(key), now))
    notes = [(n, a, b) for n, a, b in notes if LOWEST <= n < LOWEST + KEYS]
    if not notes:
        raise ValueError(f"{path}: no piano notes in the file.")
    beat = midi.ticks_per_beat
    steps = max(int(round(b / beat)) for _, _, b in notes)
    roll = np.zeros((max(steps, 1), KEYS), "float32")
    for note, start, end in notes:
        first, last = int(round(start / beat)), max(int(round(end / beat)), int(round(start / beat)) + 1)
        roll[first:last, note - LOWEST] = 1.0
    return roll
