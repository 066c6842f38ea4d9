import numpy as np
import pytest

from shared import validation


def _data():
    rng = np.random.default_rng(0)
    groups = np.repeat([f"r{i}" for i in range(12)], 50)
    labels = rng.choice([0, 0, 0, 1], size=len(groups))
    for g, rare in (("r1", 2), ("r4", 2), ("r7", 2), ("r10", 2)):  # label 2 lives in four groups only
        labels[np.flatnonzero(groups == g)[:3]] = rare
    return labels, groups


def test_folds_never_share_a_group_and_each_holds_the_required_labels():
    labels, groups = _data()
    folds = validation.grouped_folds(labels, groups, 4, required=(1, 2), seed=3)
    assert len(folds) == 4
    seen = np.concatenate([test for _, test in folds])
    assert sorted(seen.tolist()) == list(range(len(labels)))  # every item tested exactly once
    for train, test in folds:
        assert not set(groups[train]) & set(groups[test])
        assert {1, 2} <= set(labels[test].tolist())
    again = validation.grouped_folds(labels, groups, 4, required=(1, 2), seed=3)
    assert all((a[1] == b[1]).all() for a, b in zip(folds, again, strict=True))  # reproducible under the seed


def test_folds_refuse_what_cannot_be_done():
    labels, groups = _data()
    with pytest.raises(ValueError, match=r"labels \{2: 4\} are held by fewer groups than the 5 folds"):
        validation.grouped_folds(labels, groups, 5, required=(2,))
    with pytest.raises(ValueError, match="need 2 <= folds <= groups"):
        validation.grouped_folds(labels, groups, 13)


def test_mean_sd_ignores_nan():
    result = validation.mean_sd([{"a": 1.0, "b": np.nan}, {"a": 3.0, "b": 2.0}, {"a": 5.0, "b": np.nan}])
    assert result["a"] == pytest.approx((3.0, 2.0)) and result["b"] == (2.0, 0.0)
    assert validation.mean_sd([{"c": np.nan}]) == {}


def test_a_run_keeps_its_own_cross_validation_and_no_stale_one(tmp_path):
    assert validation.kept(tmp_path) is None
    validation.keep(tmp_path, {"pooled": {"accuracy": np.float32(91.5)}, "best_epoch": 3})
    assert validation.kept(tmp_path) == {"pooled": {"accuracy": 91.5}, "best_epoch": 3}
    validation.keep(tmp_path, None)  # a later run without cross-validation: the old figures do not describe it
    assert validation.kept(tmp_path) is None


def test_epoch_folds_picks_the_pooled_best_epoch_and_carries_extras(tmp_path):
    """Two folds, three epochs: epoch 2 is best pooled; the extra held-out items come back at that epoch, and a
    finished fold is read back (extras included) instead of trained again."""
    labels = np.array([0, 1, 0, 1])
    folds = [(np.array([2, 3]), np.array([0, 1])), (np.array([0, 1]), np.array([2, 3]))]
    per_epoch = {1: [[1, 1], [0, 1], [0, 0]], 2: [[0, 0], [0, 1], [1, 1]]}

    def fit_fold(i, fit_index, test_index, fold_dir):
        predictions = [np.array(p) for p in per_epoch[i]]
        return predictions, {"stress": [np.array([10 * i + e]) for e in range(3)]}

    def accuracy(y, p):
        return float((y == p).mean())
    cv = validation.epoch_folds(labels, folds, tmp_path, {"a": 1}, fit_fold, accuracy)
    assert cv["best_epoch"] == 2 and cv["curve"] == [0.5, 1.0, 0.5]
    assert [e["stress"].tolist() for e in cv["extras"]] == [[11], [21]]

    def must_not_train(*args):
        raise AssertionError("a finished fold was trained again")
    again = validation.epoch_folds(labels, folds, tmp_path, {"a": 1}, must_not_train, accuracy)
    assert [e["stress"].tolist() for e in again["extras"]] == [[11], [21]] and again["curve"] == cv["curve"]
    plain = validation.epoch_folds(labels, folds, tmp_path / "plain", {}, lambda *a: fit_fold(*a)[0], accuracy)
    assert plain["extras"] == [{}, {}] and plain["best_epoch"] == 2


def test_paired_comparison_keeps_a_change_only_when_it_wins_most_pairs():
    from tools import paired

    reference = np.array([[80.0, 70.0, 90.0, 60.0], [82.0, 68.0, 91.0, 62.0]])  # seeds x folds
    scores = {paired.REFERENCE: reference,
              "small steady gain": reference + np.array([[1, 1, 1, -1], [1, 1, -1, 1]]),
              "one big fold": reference + np.array([[20, -1, -1, -1], [20, -1, -1, -1]])}
    result = paired.compare_pairs(scores)
    steady, lucky = result["small steady gain"], result["one big fold"]
    assert (steady["wins"], steady["losses"], steady["pairs"], steady["kept"]) == (6, 2, 8, True)
    assert lucky["mean difference"] > steady["mean difference"] and not lucky["kept"]  # higher mean, 2 of 8 wins
    assert result[paired.REFERENCE]["worst fold"] == 61.0 and result[paired.REFERENCE]["seed means"] == [75.0, 75.75]
    errors = paired.compare_pairs({paired.REFERENCE: reference, "lower": reference - 1}, higher_better=False)
    assert errors["lower"]["kept"] and errors["lower"]["wins"] == 8
    with pytest.raises(ValueError, match="seeds x folds"):
        paired.compare_pairs({paired.REFERENCE: reference, "short": reference[:1]})
    assert paired.parse_setting("no voices=--synthetic-mix 0") == ("no voices", ["--synthetic-mix", "0"])
    with pytest.raises(ValueError, match="NAME=OPTIONS"):
        paired.parse_setting("--synthetic-mix 0")


def test_averaging_models_over_seeds_scores_the_mean_probabilities():
    from tools import paired

    labels = [0, 1, 2]
    first = np.array([[0.9, 0.1, 0.0], [0.0, 0.4, 0.6], [0.0, 0.0, 1.0]])  # 2 of 3 right
    other = np.array([[0.2, 0.8, 0.0], [0.0, 1.0, 0.0], [0.0, 0.3, 0.7]])  # 2 of 3 right
    assert paired.averaged_accuracy([[(labels, first)]]) == [pytest.approx(100 * 2 / 3)]  # one seed: its own accuracy
    assert paired.averaged_accuracy([[(labels, first)], [(labels, other)]]) == [100.0]  # the mean: all right


@pytest.mark.parametrize("domain, match", [("nosuch", "no pipeline 'nosuch'"), ("weather", "no cross_validate")])
def test_paired_refuses_a_pipeline_without_grouped_folds(domain, match):
    from tools import paired

    with pytest.raises(ValueError, match=match):
        paired.run(domain, [("x", ["--epochs", "1"])], [1], ["accuracy"])


def test_paired_rows_are_matched_by_their_held_out_groups():
    from tools import paired

    reference = [{"speakers": "a", "accuracy": 1}, {"speakers": "b", "accuracy": 2}, {"speakers": "c", "accuracy": 3}]
    shuffled = [reference[2], reference[0], reference[1]]
    assert [shuffled[i]["speakers"] for i in paired.aligned(shuffled, reference)] == ["a", "b", "c"]
    assert paired.aligned([{"x": 1}, {"x": 2}], [{"x": 2}, {"x": 1}]) == [0, 1]  # no group field: as given
    with pytest.raises(ValueError, match="other speakers"):
        paired.aligned([{"speakers": "a"}, {"speakers": "z"}, {"speakers": "c"}], reference)


def test_strata_are_spread_evenly_over_the_folds():
    groups = np.repeat([f"g{i}" for i in range(20)], 10)
    labels = np.zeros(200, int)
    labels[::7] = 1  # label 1 in most groups
    strata = np.where(np.isin(groups, [f"g{i}" for i in range(6)]), "small", "large")  # 6 groups of one database
    folds = validation.grouped_folds(labels, groups, 3, required=(1,), seed=0, strata=strata)
    small = [len(set(groups[test][strata[test] == "small"])) for _, test in folds]
    assert sorted(small) == [2, 2, 2]
    assert all((labels[test] == 1).any() for _, test in folds)  # the required label still in every fold
