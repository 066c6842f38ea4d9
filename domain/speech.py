# Over 400 lines: every published speech layout (FSDD, Speech Commands, TFDS) and the offline voices in one reader.
"""Speech data: WAV files (FSDD naming or the Speech Commands layout), TFDS `spoken_digit` / `speech_commands`,
words synthesized offline with eSpeak NG, speaker-independent splits, and spoken digit sequences for transcription.

Every utterance is float32 mono in [-1, 1] at RATE (8 kHz, FSDD's rate); other rates are resampled on reading.

Notebook:
    clips = speech.load_folder("../shared/data/fsdd")            # Utterances: audio, texts, speakers
    train, test = speech.speaker_split(clips, ["theo"])
    digits = speech.sequences(train, 100, seed=0)                 # "three one four" from concatenated words
    synthetic = speech.synthesize(speech.DIGITS, takes=2, seed=0)  # eSpeak NG voices, rates, pitches, noise
"""

from __future__ import annotations

import ctypes
import dataclasses
import logging
import pathlib
import re
from math import gcd

import numpy as np

from shared.progress import progress

log = logging.getLogger(__name__)
SOURCES = ("auto", "local", "tfds", "synthetic")  # --source choices (resolved by domain.sources.resolve_auto)

RATE = 8000
DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
COMMANDS = ("yes", "no", "up", "down", "left", "right", "stop", "go")
# eSpeak NG voice variants act as speakers (each a different voice quality); accents vary within a speaker
SYNTH_SPEAKERS = ("m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4", "f5")
SYNTH_TEST_SPEAKERS = ("m4", "f3")
SYNTH_ACCENTS = ("en-us", "en", "en-gb-x-rp", "en-gb-scotland", "en-029")
_FSDD_NAME = re.compile(r"^(\d)_([A-Za-z]+)_(\d+)\.wav$")
_CLIPPED = 0.01  # fraction of samples at full scale above which a recording is reported as clipped


@dataclasses.dataclass
class Utterances:
    """audio: float32 mono arrays at RATE; texts: what is said (a word, or words separated by spaces);
    speakers: who said it (the unit of the speaker-independent split)."""

    audio: list[np.ndarray]
    texts: list[str]
    speakers: list[str]

    def __len__(self) -> int:
        return len(self.audio)

    def subset(self, index) -> Utterances:
        return Utterances([self.audio[i] for i in index], [self.texts[i] for i in index],
                          [self.speakers[i] for i in index])

    def seconds(self) -> float:
        return sum(len(a) for a in self.audio) / RATE


def resample(audio: np.ndarray, rate: int, target: int = RATE) -> np.ndarray:
    """Polyphase resampling with scipy's anti-aliasing filter."""
    if rate == target:
        return audio.astype("float32")
    from scipy.signal import resample_poly

    g = gcd(int(rate), int(target))
    return resample_poly(audio, target // g, rate // g).astype("float32")


def to_float_mono(data: np.ndarray, name: str = "audio") -> np.ndarray:
    """PCM integers or floats, mono or (samples, channels), to float32 mono in [-1, 1]. Stereo is mixed down."""
    data = np.asarray(data)
    if data.ndim not in (1, 2):
        raise ValueError(f"{name}: expected samples or (samples, channels), got shape {data.shape}.")
    if data.dtype == np.uint8:
        data = (data.astype("float32") - 128.0) / 128.0
    elif np.issubdtype(data.dtype, np.integer):
        data = data.astype("float32") / float(np.iinfo(data.dtype).max + 1)
    if data.ndim == 2:
        data = data.mean(axis=1)
    data = data.astype("float32")
    if data.size == 0:
        raise ValueError(f"{name}: has no samples (0-length audio); give a recording of the word.")
    if not np.isfinite(data).all():
        raise ValueError(f"{name}: contains NaN or infinite samples.")
    peak = np.abs(data).max()
    if peak > 1.0:  # float WAVs may exceed full scale: bring them back
        data = data / peak
    clipped = float(np.mean(np.abs(data) >= 0.999))
    if clipped > _CLIPPED:
        log.warning("%s: %.1f%% of samples at full scale (clipped recording); recognition may suffer", name,
                    100 * clipped)
    return data


MIN_WAV_RATE, MAX_WAV_RATE = 4000, 192_000  # telephone speech to studio audio; anything else is a broken header


def read_wav_native(path: str | pathlib.Path) -> tuple[np.ndarray, int]:
    """(float32 mono audio, sample rate) of a WAV file (PCM 8/16/32-bit or float, mono or stereo), not resampled."""
    import struct

    from scipy.io import wavfile

    path = pathlib.Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file.")
    try:
        rate, data = wavfile.read(path)
    except (ValueError, EOFError, OSError, struct.error) as error:
        raise ValueError(f"{path}: not a readable WAV file ({error or type(error).__name__}); convert it to PCM "
                         f"WAV first, e.g. 'sox in.mp3 -r 8000 -c 1 out.wav'.") from None
    if not MIN_WAV_RATE <= rate <= MAX_WAV_RATE:
        raise ValueError(f"{path}: its header says {rate} Hz, not a speech recording's rate ({MIN_WAV_RATE}-"
                         f"{MAX_WAV_RATE} Hz); the header is wrong or the file is not audio.")
    return to_float_mono(data, str(path)), int(rate)


def read_wav(path: str | pathlib.Path, rate: int = RATE) -> np.ndarray:
    """A WAV file as float32 mono at `rate` (resampled when its own rate differs; stereo mixed down)."""
    audio, file_rate = read_wav_native(path)
    return resample(audio, file_rate, rate)


def fsdd_name(name: str) -> tuple[str, str] | None:
    """(word, speaker) from an FSDD file name `{digit}_{speaker}_{index}.wav`, or None."""
    match = _FSDD_NAME.match(name)
    return (DIGITS[int(match.group(1))], match.group(2)) if match else None


def load_folder(folder: str | pathlib.Path) -> Utterances:
    """WAV files in FSDD naming (`{digit}_{speaker}_{index}.wav`, in the folder or its `recordings/`) or the
    Speech Commands layout (`<word>/<speaker>_nohash_<n>.wav`)."""
    folder = pathlib.Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: not a folder; pass --data-dir with FSDD recordings or <word>/*.wav.")
    flat = folder / "recordings" if (folder / "recordings").is_dir() else folder
    files = sorted(flat.glob("*.wav"))
    audio, texts, speakers = [], [], []
    if files:
        for path in files:
            parsed = fsdd_name(path.name)
            if parsed is None:
                raise ValueError(f"{path.name}: not FSDD naming {{digit}}_{{speaker}}_{{index}}.wav.")
            audio.append(read_wav(path))
            texts.append(parsed[0])
            speakers.append(parsed[1])
    else:
        for path in sorted(folder.glob("*/*.wav")):
            if path.parent.name.startswith("_"):  # _background_noise_ holds noise, not words
                continue
            audio.append(read_wav(path))
            texts.append(path.parent.name.lower())
            speakers.append(path.stem.split("_nohash_")[0])
    if not audio:
        raise FileNotFoundError(f"{folder}: no .wav files in FSDD naming or <word>/<file>.wav layout.")
    return Utterances(audio, texts, speakers)


def load_tfds(name: str, split: str, data_dir: str | None = None) -> Utterances:
    """TFDS `spoken_digit` (speaker from the file name) or `speech_commands` (no speaker field: its own splits are
    speaker-independent by construction, so each clip is its own 'speaker' here)."""
    import tensorflow_datasets as tfds

    ds, info = tfds.load(name, split=split, data_dir=data_dir, with_info=True)
    names = info.features["label"].names
    rate = info.features["audio"].sample_rate or RATE
    audio, texts, speakers = [], [], []
    for i, example in enumerate(tfds.as_numpy(ds)):
        raw = example["audio"]
        scale = 32768.0 if np.issubdtype(raw.dtype, np.integer) else 1.0
        audio.append(resample(to_float_mono(raw.astype("float32") / scale, f"{name}[{i}]"), rate))
        label = names[int(example["label"])]
        texts.append(DIGITS[int(label)] if label.isdigit() else label)
        filename = example.get("audio/filename", b"")
        parsed = fsdd_name(filename.decode() if isinstance(filename, bytes) else str(filename))
        speakers.append(parsed[1] if parsed else f"{name}-{split}-{i}")
    return Utterances(audio, texts, speakers)


def speaker_split(clips: Utterances, test_speakers) -> tuple[Utterances, Utterances]:
    """(rest, test) with every utterance of `test_speakers` in test and none elsewhere."""
    test_speakers = set(test_speakers)
    unknown = test_speakers - set(clips.speakers)
    if unknown:
        raise ValueError(f"test speakers {sorted(unknown)} not in the data (speakers: {sorted(set(clips.speakers))}).")
    test = [i for i, s in enumerate(clips.speakers) if s in test_speakers]
    rest = [i for i, s in enumerate(clips.speakers) if s not in test_speakers]
    if not rest:
        raise ValueError("every speaker is a test speaker; leave at least one for training.")
    return clips.subset(rest), clips.subset(test)


def add_noise(audio: np.ndarray, snr_db: float, rng: np.random.Generator) -> np.ndarray:
    power = np.mean(audio ** 2) + 1e-12
    noise = rng.normal(0, np.sqrt(power / 10 ** (snr_db / 10)), audio.shape)
    return np.clip(audio + noise, -1, 1).astype("float32")


def warp_formants(audio: np.ndarray, factor: float) -> np.ndarray:
    """The clip with its spectrum stretched along frequency by `factor` at the same tempo (a longer or shorter
    vocal tract: formants and pitch move together, durations stay): each short-time spectrum's magnitude is read
    at f / factor (linear interpolation, 32 ms Hann windows), the phase kept, and the clip resynthesised
    (scipy.signal.stft / istft)."""
    from scipy.signal import istft, stft

    _, _, spectrum = stft(audio, RATE, nperseg=256)
    bins = np.arange(spectrum.shape[0])
    magnitude = np.abs(spectrum)
    warped = np.stack([np.interp(bins / factor, bins, column, right=0.0) for column in magnitude.T], axis=1)
    _, out = istft(warped * np.exp(1j * np.angle(spectrum)), RATE, nperseg=256)
    return out[:len(audio)].astype("float32")


FAINT_NOISE_DBFS = -50.0  # the faint noise of a quiet room, as the stress sets add it around a word (RMS re full scale)


def noise(seconds: float, dbfs: float | None, rng: np.random.Generator) -> np.ndarray:
    """`seconds` of white noise at `dbfs` (RMS re full scale), or of digital silence for None."""
    n = int(round(seconds * RATE))
    if dbfs is None:
        return np.zeros(n, "float32")
    return (rng.standard_normal(n) * 10 ** (dbfs / 20)).astype("float32")


def surround(audio: np.ndarray, before: float, after: float, dbfs: float | None, rng: np.random.Generator,
             gain_db: float = 0.0) -> np.ndarray:
    """The word with `before` and `after` seconds of silence (dbfs None) or of white noise at `dbfs` around it, the
    noise running under the word too (a room does not stop for the word), the word scaled by `gain_db`; clipped to
    [-1, 1]. How a person's own recording differs from FSDD's tightly trimmed clips."""
    word = np.asarray(audio, "float32") * 10 ** (gain_db / 20)
    head, tail = int(round(before * RATE)), int(round(after * RATE))
    out = np.concatenate([np.zeros(head, "float32"), word, np.zeros(tail, "float32")])
    out += noise(len(out) / RATE, dbfs, rng)[:len(out)] if dbfs is not None else 0.0
    return np.clip(out, -1.0, 1.0).astype("float32")


def word_stress(clips: Utterances, seed: int, per_word: int = 5) -> dict[str, Utterances]:
    """Stress sets of how people record a word (`per_word` clips of each word, seeded): 0.1, 0.3 and 0.5 s of
    digital silence before and after; the same of faint noise (FAINT_NOISE_DBFS); 0.3 s of faint noise with the
    word 20 dB quieter, and with the word at full scale; the word at a random place in a 1.5 s window of faint
    noise."""
    rng = np.random.default_rng(seed)
    chosen = sorted(i for word in sorted(set(clips.texts))
                    for i in rng.permutation([j for j, t in enumerate(clips.texts) if t == word])[:per_word])
    base = clips.subset(chosen)

    def shifted(a):
        spare = max(0.0, 1.5 - len(a) / RATE)
        before = rng.uniform(0, spare)
        return surround(a, before, spare - before, FAINT_NOISE_DBFS, rng)

    def full_scale(a):
        return surround(0.99 * a / max(float(np.abs(a).max()), 1e-9), 0.3, 0.3, FAINT_NOISE_DBFS, rng)
    changes = {**{f"silence {t} s": (lambda a, t=t: surround(a, t, t, None, rng)) for t in (0.1, 0.3, 0.5)},
               **{f"faint noise {t} s": (lambda a, t=t: surround(a, t, t, FAINT_NOISE_DBFS, rng))
                  for t in (0.1, 0.3, 0.5)},
               "faint noise 0.3 s, word 20 dB quieter": lambda a: surround(a, 0.3, 0.3, FAINT_NOISE_DBFS, rng, -20.0),
               "faint noise 0.3 s, word at full scale": full_scale,
               "word anywhere in 1.5 s of faint noise": shifted}
    return {name: Utterances([change(a) for a in base.audio], list(base.texts), list(base.speakers))
            for name, change in changes.items()}


def voice_stress(clips: Utterances, seed: int, per_word: int = 5) -> dict[str, Utterances]:
    """Stress sets from one group's clips for what a few speakers cannot show: `per_word` clips of each word
    (seeded), heard as a new voice or in a new place. Deterministic under the seed:
    - "longer vocal tract" / "shorter vocal tract": formants and pitch x0.85 / x1.18, same tempo (warp_formants);
    - "noise 10 dB": white noise at 10 dB SNR;
    - "room": convolved with a room's response (exponentially decaying noise, 0.4 s to -60 dB);
    - "telephone band": 300-3400 Hz (4th-order Butterworth band-pass)."""
    from scipy.signal import butter, fftconvolve, sosfilt

    rng = np.random.default_rng(seed)
    chosen = sorted(i for word in sorted(set(clips.texts))
                    for i in rng.permutation([j for j, t in enumerate(clips.texts) if t == word])[:per_word])
    base = clips.subset(chosen)
    tail = np.arange(int(0.4 * RATE)) / RATE
    response = rng.standard_normal(tail.size) * np.exp(-6.9 * tail / 0.4)
    response[0] = 1.0
    band = butter(4, [300, 3400], btype="bandpass", fs=RATE, output="sos")

    def room(a):
        wet = fftconvolve(a, response)[:len(a)]
        return wet * (np.abs(a).max() / max(np.abs(wet).max(), 1e-9))
    changes = {"longer vocal tract": lambda a: warp_formants(a, 0.85),
               "shorter vocal tract": lambda a: warp_formants(a, 1.18),
               "noise 10 dB": lambda a: add_noise(a, 10.0, rng), "room": room,
               "telephone band": lambda a: sosfilt(band, a)}
    return {name: Utterances([np.asarray(change(a), dtype="float32") for a in base.audio], list(base.texts),
                             list(base.speakers)) for name, change in changes.items()}


def sequences(clips: Utterances, n: int, seed: int, *, min_words: int = 2, max_words: int = 5,
              pause: tuple[float, float] = (0.05, 0.3), vocabulary=DIGITS) -> Utterances:
    """`n` utterances of min_words..max_words words, each made by concatenating single-word recordings of ONE
    speaker (drawn at random) with random pauses of low noise between them; texts are the words joined by spaces."""
    rng = np.random.default_rng(seed)
    by_speaker: dict[str, list[int]] = {}
    for i, (text, speaker) in enumerate(zip(clips.texts, clips.speakers, strict=True)):
        if text in vocabulary:
            by_speaker.setdefault(speaker, []).append(i)
    by_speaker = {s: ids for s, ids in by_speaker.items() if len(ids) >= 2}  # TFDS speech_commands: 1 per 'speaker'
    if not by_speaker:
        pool = [i for i, t in enumerate(clips.texts) if t in vocabulary]
        if not pool:
            raise ValueError(f"no recordings of {vocabulary[:3]}... to build word sequences from.")
        by_speaker = {"any": pool}
    speakers = sorted(by_speaker)
    audio, texts, who = [], [], []
    for _ in range(n):
        speaker = speakers[rng.integers(len(speakers))]
        picks = rng.choice(by_speaker[speaker], size=rng.integers(min_words, max_words + 1))
        parts = []
        for j, index in enumerate(picks):
            if j:
                gap = int(rng.uniform(*pause) * RATE)
                parts.append(rng.normal(0, 1e-3, gap).astype("float32"))
            parts.append(clips.audio[index])
        audio.append(np.concatenate(parts))
        texts.append(" ".join(clips.texts[i] for i in picks))
        who.append(speaker)
    return Utterances(audio, texts, who)


class _ESpeak:
    """eSpeak NG through its C API (ctypes), from the espeakng-loader wheel (library + voice data)."""

    _instance = None

    def __init__(self):
        import espeakng_loader

        self.lib = ctypes.CDLL(espeakng_loader.get_library_path())
        self.rate = self.lib.espeak_Initialize(2, 0, espeakng_loader.get_data_path().encode(), 0)  # synchronous
        if self.rate <= 0:
            raise RuntimeError("eSpeak NG failed to initialise (espeakng-loader's data path).")
        self.chunks: list[np.ndarray] = []
        callback_type = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)

        def collect(wav, count, _events):
            if count > 0:
                self.chunks.append(np.ctypeslib.as_array(wav, (count,)).copy())
            return 0
        self._callback = callback_type(collect)  # kept referenced: eSpeak calls it later
        self.lib.espeak_SetSynthCallback(self._callback)

    @classmethod
    def get(cls) -> _ESpeak:
        if cls._instance is None:
            cls._instance = cls()
        return cls._instance

    def say(self, text: str, voice: str, words_per_minute: int, pitch: int, seed: int = 0) -> np.ndarray:
        self.lib.espeak_ng_SetRandSeed(ctypes.c_long(seed))  # eSpeak's own noise (breathy voices) under our seed
        if self.lib.espeak_SetVoiceByName(voice.encode()) != 0:
            raise ValueError(f"eSpeak NG has no voice {voice!r}.")
        self.lib.espeak_SetParameter(1, int(words_per_minute), 0)  # espeakRATE
        self.lib.espeak_SetParameter(3, int(pitch), 0)  # espeakPITCH (0-100)
        self.chunks = []
        data = text.encode() + b"\0"
        self.lib.espeak_Synth(data, len(data), 0, 1, 0, 1, None, None)  # POS_CHARACTER, espeakCHARS_UTF8
        self.lib.espeak_Synchronize()
        return np.concatenate(self.chunks) if self.chunks else np.zeros(0, "int16")


def trim(audio: np.ndarray, threshold: float = 0.02, margin: float = 0.02) -> np.ndarray:
    """Leading and trailing silence cut (below `threshold` of the peak), `margin` seconds kept."""
    loud = np.flatnonzero(np.abs(audio) > threshold * (np.abs(audio).max() + 1e-12))
    if loud.size == 0:
        return audio
    keep = int(margin * RATE)
    return audio[max(0, loud[0] - keep): loud[-1] + keep]


def synthesize(words=DIGITS + COMMANDS, *, takes: int = 6, seed: int = 0, speakers=SYNTH_SPEAKERS,
               snr_db: tuple[float, float] = (10.0, 30.0)) -> Utterances:
    """Every word spoken `takes` times by every speaker (an eSpeak NG voice variant), each take with a random
    accent, speaking rate (120-220 words/min) and pitch (25-75), trimmed, resampled to RATE and mixed with white
    noise at a random SNR. Deterministic under `seed`: eSpeak NG keeps waveform state from one utterance to the next
    that no API call resets, so the synthesis runs in a fresh process each time."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(_synthesize_here, tuple(words), takes, seed, tuple(speakers), tuple(snr_db)).result()


def _synthesize_here(words, takes, seed, speakers, snr_db) -> Utterances:
    engine = _ESpeak.get()
    rng = np.random.default_rng(seed)
    audio, texts, who = [], [], []
    for speaker in progress(speakers, "eSpeak NG synthesis", unit="voice"):
        for word in words:
            for _ in range(takes):
                accent = SYNTH_ACCENTS[rng.integers(len(SYNTH_ACCENTS))]
                raw = engine.say(word, f"{accent}+{speaker}", rng.integers(120, 221), rng.integers(25, 76),
                                 int(rng.integers(2**31)))
                clip = trim(resample(to_float_mono(raw, f"espeak {word}"), engine.rate))
                audio.append(add_noise(0.7 * clip / (np.abs(clip).max() + 1e-9), rng.uniform(*snr_db), rng))
                texts.append(word)
                who.append(speaker)
    return Utterances(audio, texts, who)


def error_rates(hypotheses: list[str], references: list[str]) -> dict:
    import jiwer

    return {"WER": 100 * jiwer.wer(references, hypotheses), "CER": 100 * jiwer.cer(references, hypotheses)}
