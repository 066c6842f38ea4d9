import shutil
import tarfile

import numpy as np
import pytest

from domain import icu
from tests.conftest import real_data_dir

GOOD = "Time,Parameter,Value\n00:00,RecordID,1\n00:00,Age,70\n00:00,Height,-1\n00:05,HR,80\n01:10,HR,90\n"


def test_a_stay_is_read_with_unknown_descriptors_left_out():
    stay = icu.parse_stay(GOOD, "1.txt")
    assert stay.record_id == 1
    assert [icu.VARIABLES[i] for i in stay.index] == ["Age", "HR", "HR"]
    np.testing.assert_array_equal(stay.minutes, [0, 5, 70])
    np.testing.assert_array_equal(stay.values, [70, 80, 90])


@pytest.mark.parametrize("text, says", [
    ("", "(empty file)"),
    ("time,parameter,value\n00:05,HR,80\n", "starts with 'Time,Parameter,Value'"),
    ("Time,Parameter,Value\n00:05,Heartrate,80\n", "unknown variable 'Heartrate'"),
    ("Time,Parameter,Value\n00:05,HR,eighty\n", "HR value 'eighty' is not a number"),
    ("Time,Parameter,Value\n00:05,HR,nan\n", "not a finite number"),
    ("Time,Parameter,Value\n00:05,HR,1e39\n", "not a finite number"),  # finite as a double, inf as float32
    ("Time,Parameter,Value\n49:00,HR,80\n", "beyond the first 48 hours"),
    ("Time,Parameter,Value\n02:00,HR,80\n01:00,HR,80\n", "earlier than the line before"),
    ("Time,Parameter,Value\n5 min,HR,80\n", "is not hh:mm"),
    ("Time,Parameter,Value\n00:00,RecordID,3\n00:00,Age,-1\n", "neither a measurement nor a descriptor"),
    ("Time,Parameter,Value\n00:05,HR\n", "is not Time,Parameter,Value"),
    ("Time,Parameter,Value\n00:05,HR,1_000\n", "HR value '1_000' is not a number"),  # a Python literal, not CSV
    ("Time,Parameter,Value\n00:00,RecordID,3\n00:00,RecordID,4\n00:05,HR,80\n", "a second RecordID (4, after 3)"),
])
def test_bad_stays_are_refused_with_the_line_named(text, says):
    with pytest.raises(ValueError, match="stay.txt") as error:
        icu.parse_stay(text, "stay.txt")
    assert says in str(error.value)


def test_published_quirks_are_read_skipped_and_counted(tmp_path):
    """Set C as PhysioNet publishes it: lines with an empty variable name are skipped and counted, the rest of the
    stay still used; a stay with descriptors only is read (and noted), not refused."""
    quirky = icu.parse_stay(GOOD + "01:15,,1.9\n02:00,HR,85\n02:05,,3\n", "2.txt")
    assert quirky.skipped == 2
    assert [icu.VARIABLES[i] for i in quirky.index] == ["Age", "HR", "HR", "HR"]
    np.testing.assert_array_equal(quirky.values, [70, 80, 90, 85])
    bare = icu.parse_stay("Time,Parameter,Value\n00:00,RecordID,3\n00:00,Age,60\n00:00,Gender,1\n", "3.txt")
    assert bare.descriptors_only and not quirky.descriptors_only and len(bare.values) == 2
    (tmp_path / "set-c").mkdir()
    (tmp_path / "set-c" / "2.txt").write_text(GOOD.replace("RecordID,1", "RecordID,2") + "01:15,,1.9\n02:05,,3\n")
    (tmp_path / "set-c" / "3.txt").write_text("Time,Parameter,Value\n00:00,RecordID,3\n00:00,Age,60\n")
    (tmp_path / "set-c" / "4.txt").write_text(GOOD.replace("RecordID,1", "RecordID,4"))
    (tmp_path / "Outcomes-c.txt").write_text("RecordID,SAPS-I,SOFA,Length_of_stay,Survival,In-hospital_death\n"
                                             "2,10,1,5,-1,0\n3,12,2,6,-1,1\n4,-1,1,5,-1,0\n")
    stays = icu.read_folder(tmp_path)
    assert [s.record_id for s in stays.stays] == [2, 3, 4] and stays.died.tolist() == [0, 1, 0]
    assert any("2 lines with an empty variable name in 1 stays" in n for n in stays.notes)
    assert any("1 stays hold descriptors only" in n and "3" in n for n in stays.notes)


def test_a_file_that_is_not_utf8_is_refused(tmp_path):
    (tmp_path / "9.txt").write_bytes(b"Time,Parameter,Value\n00:05,HR,\xff\xfe\n")
    with pytest.raises(ValueError, match="UTF-8"):
        icu.read_stay(tmp_path / "9.txt")


def test_cleaning_fixes_units_and_removes_impossible_values_alike_in_numpy_and_tensorflow():
    import tensorflow.experimental.numpy as tnp

    names = ["FiO2", "FiO2", "Temp", "Temp", "pH", "pH", "HR", "HR", "Weight"]
    values = np.array([40, 0.5, 98.6, 36.6, 73.5, 7.35, 0, 80, 0], "float32")
    index = np.array([icu.VARIABLES.index(n) for n in names], "int32")
    _, fixed, keep = icu.clean(index, values)
    np.testing.assert_allclose(fixed[:6], [0.4, 0.5, 37.0, 36.6, 7.35, 7.35], rtol=1e-5)
    assert keep.tolist() == [True] * 6 + [False, True, False]
    _, tf_fixed, tf_keep = icu.clean(index, values, xp=tnp)
    np.testing.assert_allclose(np.asarray(tf_fixed), fixed, rtol=1e-6)
    assert np.asarray(tf_keep).tolist() == keep.tolist()


def test_summary_features_are_first_last_min_max_mean_count_of_cleaned_values():
    stay = icu.parse_stay(GOOD + "02:00,HR,0\n03:00,HR,70\n", "1.txt")
    features = icu.summary_features(stay).reshape(len(icu.VARIABLES), len(icu.STATISTICS))
    np.testing.assert_allclose(features[icu.VARIABLES.index("HR")], [80, 70, 70, 90, 80, 3])  # HR 0 removed
    assert np.isnan(features[icu.VARIABLES.index("Lactate")][:5]).all()
    assert features[icu.VARIABLES.index("Lactate")][5] == 0
    assert len(icu.feature_names()) == features.size


def test_generated_stays_read_back_with_outcomes_that_depend_on_the_trajectory(tmp_path):
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    icu.generate(tmp_path, 600, seed=1)
    stays = icu.read_folder(tmp_path, "synthetic")
    assert len(stays) == 600 and 0.05 < stays.died.mean() < 0.4
    x = np.stack([icu.summary_features(s) for s in stays.stays])
    x = np.nan_to_num(x[:, ~np.isnan(x).all(axis=0)])
    model = LogisticRegression(max_iter=3000).fit(x[:400], stays.died[:400])
    assert roc_auc_score(stays.died[400:], model.predict_proba(x[400:])[:, 1]) > 0.7
    assert icu.read_folder(tmp_path, "synthetic").died.tolist() == stays.died.tolist()  # same files, same read


def test_stays_without_a_file_or_an_outcome_are_reported_and_skipped(tmp_path):
    icu.generate(tmp_path, 60, seed=2)
    first, second = sorted((tmp_path / "set-s").glob("*.txt"))[:2]
    first.unlink()
    shutil.copy(second, tmp_path / "set-s" / "999999.txt")
    stays = icu.read_folder(tmp_path)
    assert len(stays) == 59
    assert any("1 stays in the outcome file have no file" in n for n in stays.notes)
    assert any("1 stay files have no outcome" in n and "999999" in n for n in stays.notes)
    with pytest.raises(FileNotFoundError, match="Outcomes"):
        icu.read_folder(tmp_path / "set-s")


@pytest.mark.slow
def test_set_a_reads_as_the_challenge_describes_it():
    folder = real_data_dir("physionet2012")
    stays = icu.read_folder(folder)
    assert len(stays) == 3996 and stays.died.sum() == 554
    assert "139060, 140501, 140936, 141264" in stays.notes[0]
    assert icu.set_digest(folder / "set-a") == icu.SET_A_DIGEST
    removed = icu.cleaning_report(stays.stays)
    assert removed["HR"]["removed"] > 0 and removed["HR"]["kept"] > 200_000


@pytest.mark.slow
def test_download_checks_the_stays_and_removes_a_set_that_differs(tmp_path):
    """The real download path (keras.utils.get_file) from a file:// origin holding set A with one stay changed."""
    real = real_data_dir("physionet2012")
    origin = tmp_path / "origin"
    shutil.copytree(real / "set-a", origin / "set-a")
    shutil.copy(real / "Outcomes-a.txt", origin / "Outcomes-a.txt")
    stay = sorted((origin / "set-a").glob("*.txt"))[0]
    stay.write_text(stay.read_text().replace("\n00:00,Age,", "\n00:00,Age,1"))
    with tarfile.open(origin / "set-a.tar.gz", "w:gz") as tar:
        tar.add(origin / "set-a", arcname="set-a")
    with pytest.raises(ValueError, match="checksum mismatch"):
        icu.download(tmp_path / "cache", origin.as_uri() + "/")
    assert not (tmp_path / "cache" / "set-a").exists()
