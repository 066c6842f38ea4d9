import math

import numpy as np
import pytest

from domain import anomaly

STANDARD = anomaly.PROFILES["standard"]


def _series(n=100, windows=((40, 49),)):
    stamps = np.datetime64("2024-01-01T00:00") + np.arange(n) * np.timedelta64(5, "m")
    return anomaly.Series("x/a.csv", stamps, np.zeros(n), list(windows))


def _at(n, *points):
    detected = np.zeros(n, bool)
    detected[list(points)] = True
    return detected


def test_scaled_sigmoid_matches_nabs_published_points():
    assert anomaly.scaled_sigmoid(-1.0) == pytest.approx(0.98661, abs=1e-5)  # a window's left edge
    assert anomaly.scaled_sigmoid(-0.5) == pytest.approx(0.84828, abs=1e-5)  # halfway
    assert anomaly.scaled_sigmoid(0.0) == pytest.approx(0.0)  # its right edge
    assert anomaly.scaled_sigmoid(1.0) == pytest.approx(-0.98661, abs=1e-5) and anomaly.scaled_sigmoid(3.0) == -1.0


def test_hand_worked_windows():
    s = _series()  # 100 points: probation 15; one window, points 40-49 (width 10)
    assert s.probation == 15
    assert anomaly.raw_score(s, _at(100, 40), STANDARD) == pytest.approx(1.0)  # first point of the window: the whole tp
    right_edge = (2 / (1 + math.exp(-0.5)) - 1) / anomaly.scaled_sigmoid(-1.0)  # position -1/10
    assert anomaly.raw_score(s, _at(100, 49), STANDARD) == pytest.approx(right_edge)
    assert anomaly.raw_score(s, _at(100, 42, 45, 49), STANDARD) == pytest.approx(
        anomaly.raw_score(s, _at(100, 42), STANDARD))  # a window counts its earliest (best) detection once
    assert anomaly.raw_score(s, _at(100), STANDARD) == -1.0  # missed: -fn
    late = (2 / (1 + math.exp(5 * 11 / 9)) - 1) * 0.11  # 11 points past a window of width 10: position 11/9
    assert anomaly.raw_score(s, _at(100, 60), STANDARD) == pytest.approx(-1.0 + late)
    assert anomaly.raw_score(s, _at(100, 20), STANDARD) == pytest.approx(-1.0 - 0.11)  # before any window: full fp
    assert anomaly.raw_score(s, _at(100, 10), STANDARD) == -1.0  # in the probationary period: ignored
    assert anomaly.raw_score(s, _at(100, 20), anomaly.PROFILES["reward_low_FP_rate"]) == pytest.approx(-1.22)
    assert anomaly.raw_score(s, _at(100), anomaly.PROFILES["reward_low_FN_rate"]) == -2.0


def test_normalised_score_null_is_0_perfect_is_100():
    s = _series()
    assert anomaly.normalised(anomaly.raw_score(s, _at(100, 40), STANDARD), [s], STANDARD) == pytest.approx(100.0)
    assert anomaly.normalised(anomaly.raw_score(s, _at(100), STANDARD), [s], STANDARD) == pytest.approx(0.0)
    assert anomaly.normalised(anomaly.raw_score(s, _at(100, 20), STANDARD), [s], STANDARD) == pytest.approx(-5.5)


def test_sweep_finds_the_best_threshold_over_the_corpus():
    a, b = _series(), _series(windows=())
    score_a = np.zeros(100)
    score_a[[42, 70]] = [0.9, 0.95]
    score_b = np.zeros(100)
    score_b[30] = 0.8  # a false alarm in a series without windows
    threshold, raw = anomaly.sweep([a, b], [score_a, score_b], STANDARD)
    assert threshold == 0.9  # 0.95 alone is a false alarm; 0.9 adds the window; 0.8 adds another false alarm
    expected = anomaly.raw_score(a, score_a >= 0.9, STANDARD) + anomaly.raw_score(b, score_b >= 0.9, STANDARD)
    assert raw == pytest.approx(expected)
    scores = anomaly.nab_scores([a, b], [score_a, score_b])
    assert scores["standard"]["threshold"] == 0.9 and 0 < scores["standard"]["score"] < 100
    threshold, raw = anomaly.sweep([b], [score_b], STANDARD)  # nothing to find: detecting nothing is best
    assert threshold == math.inf and raw == 0.0


def test_event_metrics_count_a_window_once_and_a_run_of_false_alarms_once():
    s = _series()
    score = np.zeros(100)
    score[[41, 42, 43]] = 1.0  # three hits in one window: one true positive
    score[[60, 61, 62, 80]] = 1.0  # two runs outside: two false positives
    m = anomaly.event_metrics([s], [score], 0.5)
    assert (m["windows found"], m["windows"], m["false alarms"]) == (1, 1, 2)
    assert m["precision"] == pytest.approx(100 / 3) and m["recall"] == 100.0


def test_label_free_scores_rise_on_a_burst_of_errors():
    rng = np.random.default_rng(0)
    errors = np.abs(rng.normal(0, 1, 2000))
    errors[1500:1510] += 6
    score = anomaly.likelihood(errors)
    assert score.shape == (2000,) and 0 <= score.min() and score.max() <= 1
    assert score[1505:1512].max() > anomaly.tail_score(1e-12) and np.median(score[:1400]) < anomaly.tail_score(0.1)
    assert anomaly.tail_score(0.5) == pytest.approx(0.2314, abs=1e-4) and anomaly.tail_score(1e-6) == pytest.approx(6 / 7)
    assert anomaly.tail_score(1e-200) < anomaly.tail_score(1e-250) < 1.0  # far in the tail, still ordered
    values = np.sin(np.arange(3000) / 20) + rng.normal(0, 0.05, 3000)
    values[2500] += 3
    gauss = anomaly.windowed_gaussian(values)
    assert gauss[2500] > 0.999 and gauss[2500] == gauss.max()
    assert anomaly.persistence_errors(np.array([1.0, 3.0, 2.0])).tolist() == [0.0, 2.0, 1.0]


def test_nab_folder_is_read_with_windows_as_indices(tmp_path):
    (tmp_path / "data" / "real").mkdir(parents=True)
    (tmp_path / "labels").mkdir()
    rows = ["timestamp,value"] + [f"2024-01-01 {h:02d}:{m:02d}:00,{h + m / 60}" for h in range(3) for m in range(0, 60, 5)]
    rows.insert(5, "2024-01-01 00:17:00,not a number")
    (tmp_path / "data" / "real" / "a.csv").write_text("\n".join(rows) + "\n")
    (tmp_path / "data" / "real" / "b.csv").write_text("time,reading\n1,2\n")
    (tmp_path / "labels" / "combined_windows.json").write_text(
        '{"real/a.csv": [["2024-01-01 01:00:00.000000", "2024-01-01 01:30:00.000000"]]}')
    corpus = anomaly.load_folder(tmp_path)
    (series,) = corpus.series
    assert series.name == "real/a.csv" and len(series.values) == 36 and series.skipped_rows == 1
    assert series.windows == [(12, 18)] and corpus.labelled
    assert any("skipped real/b.csv" in n for n in corpus.notes) and any("1 unreadable rows" in n for n in corpus.notes)


def test_flagged_points_group_into_events_with_their_peak():
    score = np.zeros(20)
    score[[3, 4, 5, 9, 15, 17]] = [0.5, 0.9, 0.6, 0.7, 0.8, 0.95]
    assert anomaly.events(np.array([3, 4, 5, 9, 15, 17]), score) == [(3, 5, 4), (9, 9, 9), (15, 17, 17)]  # 16 bridges
    assert anomaly.events(np.array([], int), score) == []
    assert anomaly.events(np.array([15, 17]), score, gap=0) == [(15, 15, 15), (17, 17, 17)]


def test_a_csv_in_nabs_layout_finds_its_labelled_windows(tmp_path):
    import json

    (tmp_path / "data" / "cat").mkdir(parents=True)
    (tmp_path / "labels").mkdir()
    (tmp_path / "labels" / "combined_windows.json").write_text(json.dumps({"cat/a.csv": [["2020-01-01 00:10:00",
                                                                                         "2020-01-01 00:20:00"]]}))
    stamps = np.array(["2020-01-01T00:00", "2020-01-01T00:10", "2020-01-01T00:20", "2020-01-01T00:30"],
                      dtype="datetime64[ns]")
    assert anomaly.own_windows(tmp_path / "data" / "cat" / "a.csv", stamps) == ("cat/a.csv", [(1, 2)])
    assert anomaly.own_windows(tmp_path / "data" / "cat" / "b.csv", stamps) == ("cat/b.csv", None)  # not labelled
    assert anomaly.own_windows(tmp_path / "elsewhere.csv", stamps) == ("elsewhere.csv", None)


def _named(name, windows, n=200):
    return anomaly.Series(name, np.arange(n).astype("datetime64[m]"), np.zeros(n), windows)


def test_leave_one_category_out_chooses_on_the_other_categories_only():
    """Category a's windows peak at 0.9 over noise at 0.5; category b's peak at 0.6 over noise at 0.55. In-sample, b
    alone would be found at 0.6; held out, b gets the threshold chosen on a (0.9) and finds nothing, while a gets
    b's threshold (0.6) and still finds its windows. A setting that never fires is never chosen."""
    a, b = _named("a/1.csv", [(100, 110)]), _named("b/1.csv", [(100, 110)])
    score_a, score_b = np.full(200, 0.5), np.full(200, 0.55)
    score_a[100], score_b[100] = 0.9, 0.6
    held = anomaly.leave_category_out([a, b], {"peaks": [score_a, score_b], "silent": [np.zeros(200)] * 2})
    standard = held["standard"]["categories"]
    assert standard["a"]["threshold"] == pytest.approx(0.6) and standard["a"]["score"] == pytest.approx(100.0)
    assert standard["b"]["threshold"] == pytest.approx(0.9) and standard["b"]["score"] == pytest.approx(0.0)
    assert standard["a"]["setting"] == standard["b"]["setting"] == "peaks"
    assert held["standard"]["pooled"] == pytest.approx(50.0)  # one window of two found, no false alarm
    in_sample = anomaly.nab_scores([b], [score_b])["standard"]
    assert in_sample["threshold"] == pytest.approx(0.6) and in_sample["score"] == pytest.approx(100.0)


def test_a_value_beyond_everything_seen_is_flagged_at_once():
    values = np.array([0, 5, 2, 3, 4, 9, 8, 20, -1, -40], float)
    # 9 > 5, 20 > 9, -1 < 0, -40 < -1 (5 > 0 lies in the probationary period)
    assert anomaly.novel(values, 2, 0.0).tolist() == [0, 0, 0, 0, 0, 1, 0, 1, 1, 1]
    assert anomaly.novel(values, 2, 1.0).tolist() == [0, 0, 0, 0, 0, 0, 0, 1, 0, 1]  # by the whole range seen
    scored = anomaly.with_novelty(np.full(10, 0.3), values, 2, 1.0)
    assert scored.max() == 1.0 and (scored[[7, 9]] == 1.0).all() and (np.delete(scored, [7, 9]) == 0.3).all()
    assert (anomaly.with_novelty(np.full(10, 0.3), values, 2, None) == 0.3).all()  # None: off
