import math
import re

import numpy as np
import pytest
from scipy.io import savemat

from domain import music


def _cells(*pieces):
    cells = np.empty((1, len(pieces)), dtype=object)
    for i, p in enumerate(pieces):
        cells[0, i] = np.asarray(p, dtype="uint8")
    return cells


def _roll(steps, keys=(40, 44, 47)):
    roll = np.zeros((steps, music.KEYS), "uint8")
    roll[:, list(keys)] = 1
    return roll


def test_mat_files_are_read_as_published_with_empty_pieces_skipped(tmp_path):
    path = tmp_path / "JSB_Chorales.mat"
    savemat(path, {"traindata": _cells(_roll(5), _roll(3), np.zeros((0, music.KEYS))),
                   "validdata": _cells(_roll(4)), "testdata": _cells(_roll(6))})
    rolls = music.load_mat(path)
    assert [len(rolls.pieces[s]) for s in ("train", "validation", "test")] == [2, 1, 1]
    assert rolls.skipped == 1 and rolls.steps("train") == 8 and rolls.pieces["test"][0].dtype == np.float32
    savemat(path, {"traindata": _cells(_roll(5)), "validdata": _cells(_roll(4))})  # no test split: none invented
    assert "test" not in music.load_mat(path).pieces


@pytest.mark.parametrize("pieces, says", [
    ({"traindata": _cells(np.ones((4, 80))), "validdata": _cells(_roll(3))}, "shape (4, 80)"),
    ({"traindata": _cells(_roll(4) * 2), "validdata": _cells(_roll(3))}, "other than 0 and 1"),
    ({"validdata": _cells(_roll(3))}, "no 'traindata'"),
])
def test_corrupt_files_are_refused_naming_the_piece(tmp_path, pieces, says):
    path = tmp_path / "bad.mat"
    savemat(path, pieces)
    with pytest.raises(ValueError, match=re.escape(says)):
        music.load_mat(path)
    (tmp_path / "text.mat").write_text("not matlab")
    with pytest.raises(ValueError, match="not a readable MATLAB file"):
        music.load_mat(tmp_path / "text.mat")


def test_nll_per_step_sums_the_keys_and_weighs_every_step_alike():
    pieces = [np.zeros((2, music.KEYS)), np.ones((1, music.KEYS))]
    half = [np.full((2, music.KEYS), 0.5), np.full((1, music.KEYS), 0.5)]
    assert music.nll_per_step(half, pieces) == pytest.approx(music.KEYS * math.log(2))
    sure = [np.zeros((2, music.KEYS)), np.ones((1, music.KEYS))]
    assert music.nll_per_step(sure, pieces) < 1e-3  # certain and right: about 0 (probabilities clipped)


def test_markov_chain_learns_that_notes_are_held():
    pieces = []
    for _ in range(30):  # key 40 for the first half of each piece, key 50 for the second
        roll = np.zeros((20, music.KEYS), "float32")
        roll[:10, 40] = roll[10:, 50] = 1
        pieces.append(roll)
    start, off, on = music.markov_chain(pieces)
    assert on[40] > 0.85 and on[50] > 0.85 and off[40] < 0.05 and start[40] > 0.9 and start[50] < 0.05
    bernoulli = music.independent_bernoulli(pieces)  # keys 40 and 50 each on half the time
    chain_nll = music.nll_per_step([music.markov_probabilities((start, off, on), r) for r in pieces], pieces)
    flat_nll = music.nll_per_step([np.broadcast_to(bernoulli, r.shape) for r in pieces], pieces)
    assert flat_nll > 2 * math.log(2) - 0.05 and chain_nll < flat_nll / 2


def test_midi_round_trip_keeps_the_piano_roll(tmp_path):
    roll = np.zeros((6, music.KEYS), "float32")
    roll[0:3, 39] = 1  # a held note: one long note in the file
    roll[2:6, 50] = 1
    roll[4, 20] = 1
    path = music.to_midi(roll, tmp_path / "piece.mid")
    np.testing.assert_array_equal(music.from_midi(path), roll)
    (tmp_path / "bad.mid").write_bytes(b"not midi at all")
    with pytest.raises(ValueError, match="not a readable MIDI file"):
        music.from_midi(tmp_path / "bad.mid")
    with pytest.raises(ValueError, match="no piano notes"):
        music.from_midi(music.to_midi(np.zeros((3, music.KEYS)), tmp_path / "silent.mid"))


def test_generated_corpus_is_deterministic_binary_and_split():
    a, b = music.generated_corpus(20, seed=3), music.generated_corpus(20, seed=3)
    assert [len(a.pieces[s]) for s in ("train", "validation", "test")] == [14, 3, 3]
    for x, y in zip(a.pieces["train"], b.pieces["train"], strict=True):
        np.testing.assert_array_equal(x, y)
        assert set(np.unique(x)) <= {0.0, 1.0} and 1 <= x.sum(axis=1).min() and x.sum(axis=1).max() <= 4
