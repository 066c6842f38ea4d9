"""The stress sets and the composition augmentation of the ECG inputs (issue: patients unlike the training ones)."""

import numpy as np
import pytest

from domain import ecg
from domain.ecg import beats, stress, synthetic

R_INDEX = beats.window_samples(0.25, 0.45)[0]


@pytest.fixture(scope="module")
def generated():
    return stress.generated_sets(0.25, 0.45, "sinus", seed=3)


def _rule(beat_set, column, threshold=0.9):
    """A classifier that calls a beat S when its previous RR is short against one reference."""
    return np.where(beat_set.rr[:, beats.COLUMN[column]] < threshold, 1, 0)


def test_generated_stress_sets_are_what_they_say_and_deterministic(generated):
    again = stress.generated_sets.__wrapped__(0.25, 0.45, "sinus", seed=3)
    for name, beat_set in generated.items():
        np.testing.assert_array_equal(beat_set.beats, again[name].beats)
        np.testing.assert_array_equal(beat_set.labels, again[name].labels)
    majority = generated["generated: S beats 60-80%, slow sinus"]
    s_share = [(majority.labels[majority.records == r] == 1).mean() for r in np.unique(majority.records)]
    assert all(0.5 <= s <= 0.9 for s in s_share), s_share
    sinus_rate = 60 / np.median(majority.rr[majority.labels == 0, beats.COLUMN["pre_rr_s"]])
    assert sinus_rate < 60  # slow sinus rhythm (the N beats after the runs come a little late: 1.08 x)
    irregular = generated["generated: irregular rhythm (AF-like), N only"]
    ordinary = generated["generated: ordinary patients (control)"]
    assert set(irregular.labels.tolist()) == {0}
    irregularity = beats.COLUMN["local_irregularity"]
    assert np.median(irregular.rr[:, irregularity]) > 3 * np.median(ordinary.rr[ordinary.labels == 0, irregularity])
    wide = generated["generated: every beat wide (bundle branch block), N only"]
    assert set(wide.labels.tolist()) == {0}

    def width(windows):  # samples of the mean beat's QRS above half its peak
        w = np.abs(windows.mean(axis=0)[R_INDEX - 30:R_INDEX + 30])
        return int((w > 0.5 * w.max()).sum())
    assert width(wide.beats) > 1.6 * width(ordinary.beats[ordinary.labels == 0])


def test_a_model_reading_the_record_median_fails_the_ectopic_majority_set(generated):
    """The stress set catches what DS1 cannot: a rule on the previous RR over the record's median finds S beats in
    ordinary patients but calls the S beats of an ectopic-majority patient normal; the same rule over the sinus
    reference finds them."""
    ordinary = generated["generated: ordinary patients (control)"]
    majority = generated["generated: S beats 60-80%, slow sinus"]
    assert stress.row(ordinary.labels, _rule(ordinary, "pre_rr_record"))["S Se"] > 80
    median_reader = stress.row(majority.labels, _rule(majority, "pre_rr_record"))
    assert median_reader["S Se"] < 20 and not stress.passes(median_reader)
    sinus_reader = stress.row(majority.labels, _rule(majority, "pre_rr_sinus"))
    assert sinus_reader["S Se"] > 90
    # and an irregular rhythm taken for ectopy floods N with S: the false-alarm half of the goal
    irregular = generated["generated: irregular rhythm (AF-like), N only"]
    assert not stress.passes(stress.row(irregular.labels, _rule(irregular, "pre_rr_sinus")))
    assert stress.passes(stress.row(irregular.labels, np.zeros(len(irregular), int)))


def test_stress_row_known_answer():
    labels = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    predicted = np.array([0, 1, 3, 0, 1, 1, 0, 1])
    row = stress.row(labels, predicted)
    assert row["S Se"] == 75.0 and row["S +P"] == 75.0
    assert row["N called S %"] == 25.0 and row["N called F %"] == 25.0 and row["N called S or F %"] == 50.0
    assert not stress.passes(row) and stress.passes(stress.row(labels, labels))


def _record_beats(seed=1, name="201", minutes=3.0):
    """A generated patient; seed 1's "201" holds 23 S beats among 244 in 3 minutes."""
    synthetic_signal, peaks, symbols = synthetic.synthesize(name, minutes, seed)
    record = ecg.records.from_signal(synthetic_signal[:, 0], ecg.FS, name=name, peaks=peaks, symbols=tuple(symbols))
    return ecg.extract(record, 0.25, 0.45)


def test_composition_view_changes_record_statistics_only_never_labels():
    one = _record_beats()
    assert (one.labels == 1).sum() >= 20
    view = beats.composition_view(one, R_INDEX, "sinus", 0.75, np.random.default_rng(0))
    np.testing.assert_array_equal(view.labels, one.labels)
    np.testing.assert_array_equal(view.peaks, one.peaks)
    local = [beats.COLUMN[n] for n in ("pre_rr_s", "post_rr_s", "local_rr_s", "pre_rr_local", "post_rr_local",
                                       "post_pre_ratio", "local_irregularity")]
    np.testing.assert_array_equal(view.rr[:, local], one.rr[:, local])
    median = beats.COLUMN["median_rr_s"]
    assert view.rr[0, median] < 0.95 * one.rr[0, median]  # ectopic beats come early: the median RR shrinks
    # the beats are only rescaled (the whole record by one factor)
    ratio = view.beats / np.where(np.abs(one.beats) > 1e-3, one.beats, np.nan)
    assert np.nanstd(ratio) < 1e-3


def test_composition_augmented_keeps_every_beat_and_adds_rescored_copies():
    a = _record_beats()
    b = _record_beats(seed=6, name="101")
    b.labels[:] = 0  # no ectopic beat: no copy
    both = ecg.BeatSet.concat([a, b])
    augmented = beats.composition_augmented(both, R_INDEX, "sinus", seed=0)
    assert len(augmented) == len(both) + len(a)
    np.testing.assert_array_equal(augmented.labels[:len(both)], both.labels)
    np.testing.assert_array_equal(augmented.labels[len(both):], a.labels)
    assert set(augmented.records[len(both):].tolist()) == {"201~"}  # a record of its own: context stays inside
    seconds = beats.COLUMN["pre_rr_s"]
    factor = augmented.rr[len(both):, seconds] / a.rr[:, seconds]
    assert 0.8 <= factor[0] <= 1.25 and np.allclose(factor, factor[0])  # one rate change for the whole copy
    again = beats.composition_augmented(both, R_INDEX, "sinus", seed=0)
    np.testing.assert_array_equal(again.rr, augmented.rr)


def test_composition_stress_takes_records_with_many_s_beats():
    a = _record_beats()
    b = _record_beats(seed=6, name="101")
    assert (b.labels == 1).sum() < 15
    stressed = beats.composition_stress(ecg.BeatSet.concat([a, b]), R_INDEX, "sinus", min_beats=15, seed=0)
    assert set(stressed.records.tolist()) == {"201"} and len(stressed) == len(a)
    np.testing.assert_array_equal(stressed.labels, a.labels)
    record = beats.COLUMN["pre_rr_record"]
    s = a.labels == 1
    # the S beats look less premature against a median taken where they are the majority
    assert np.median(stressed.rr[s, record]) > np.median(a.rr[s, record])


def test_irregular_view_keeps_the_beats_and_gives_them_an_irregular_rhythm():
    one = _record_beats(seed=6, name="101")
    view = beats.irregular_view(one, R_INDEX, "sinus", np.random.default_rng(0))
    np.testing.assert_array_equal(view.labels, one.labels)
    ratio = view.beats / np.where(np.abs(one.beats) > 1e-3, one.beats, np.nan)
    assert np.nanstd(ratio) < 1e-3  # the same windows (at most rescaled as a whole)
    irregularity = beats.COLUMN["local_irregularity"]
    normal = one.labels == 0
    assert np.median(view.rr[normal, irregularity]) > 2 * np.median(one.rr[normal, irregularity])
    augmented = beats.composition_augmented(one, R_INDEX, "sinus", seed=0, composition=False, irregular=True)
    assert len(augmented) == 2 * len(one) and set(augmented.records.tolist()) == {"101", "101" + beats.IRREGULAR}

