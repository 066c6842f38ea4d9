import dataclasses
import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from domain import icu as icu_data
from pipelines import icu
from shared import export, reports
from tests.conftest import ROOT, run_quick


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    return run_quick(icu, tmp_path_factory.mktemp("icu"), cv_folds=2, compare_plain=True, epochs=3)


def test_the_grid_holds_each_hours_mean_of_cleaned_values_and_the_mask():
    stay = icu_data.parse_stay("Time,Parameter,Value\n00:00,Age,70\n00:10,HR,80\n00:50,HR,90\n01:00,HR,0\n"
                               "47:59,Temp,98.6\n48:00,Temp,37\n", "1.txt")
    values, mask = (t.numpy() for t in icu.to_grid(stay.minutes, stay.index, stay.values))
    hr, temp, age = (icu_data.VARIABLES.index(n) for n in ("HR", "Temp", "Age"))
    assert values[0, hr] == 85 and mask[0, hr] == 1 and mask[1, hr] == 0  # HR 0 removed
    assert values[0, age] == 70 and mask[:, age].sum() == 1
    assert values[47, temp] == pytest.approx(37.0) and mask.sum() == 3  # 98.6 F fixed, 48:00 in the last hour


def test_quick_run_cross_validates_the_model_and_the_baselines_on_the_same_folds(quick_run):
    cfg, root, result = quick_run
    cv = json.loads((root / "run" / "cross_validation.json").read_text())
    names = {reports.MODEL, icu.PLAIN, icu_data.SAPS,
             "summary statistics + logistic regression", "summary statistics + gradient boosting"}
    assert set(cv["mean_sd"]) == names and len(cv["folds"]) == 2
    assert all(set(fold) == names for fold in cv["folds"])
    for fold in cv["folds"]:
        for row in fold.values():
            assert 0 <= row["min(Se, +P)"] <= 1 and 0 <= row["Brier"] <= 1
    assert result["cv AUROC"] > 0.7  # the generated outcome depends on the trajectory: far above chance
    report = (root / "run" / "report.md").read_text()
    assert "Verdict" in report and "not a clinical tool" in report and "Che et al. 2018" in report
    assert (root / "run" / "reliability.png").exists()
    card = (pathlib.Path(result["export"]) / "MODEL_CARD.md").read_text()
    assert "not a clinical tool" in card and "generated here" in card


def test_the_served_model_takes_raw_observations_and_matches_the_keras_model(quick_run):
    cfg, root, result = quick_run
    served, meta = export.load(result["export"], "icu")
    data = icu.load_data(cfg)
    stays = data.train.subset(np.arange(5))
    expected = icu.probabilities(icu.load_trained(cfg), stays, cfg)
    got = [icu.serve_stay(served, s)["probability"] for s in stays.stays]
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)
    # any order, unknown variables and times outside 0-48 h are counted as ignored, NaN gives NaN
    stay = stays.stays[0]
    order = np.random.default_rng(0).permutation(len(stay.values))
    shuffled = icu_data.Stay(1, stay.minutes[order], stay.index[order], stay.values[order])
    assert icu.serve_stay(served, shuffled)["probability"] == pytest.approx(got[0], rel=1e-5)
    sig = served.signatures["serving_default"]
    out = sig(minutes=tf.constant([10.0, 20.0, 3000.0]), variable=tf.constant(["HR", "Pulse", "HR"]),
              value=tf.constant([80.0, 70.0, 75.0]))
    assert out["ignored"].numpy().tolist() == [2] and 0 < out["probability"].numpy()[0] < 1
    assert out["removed"].numpy().tolist() == [0] and out["measurements"].numpy().tolist() == [1]
    out = sig(minutes=tf.constant([0.0, 0.0, 30.0]), variable=tf.constant(["Age", "Gender", "HR"]),
              value=tf.constant([70.0, 1.0, 900.0]))  # HR 900: removed by cleaning; nothing measured is left
    assert out["removed"].numpy().tolist() == [1] and out["measurements"].numpy().tolist() == [0]
    out = sig(minutes=tf.constant([10.0]), variable=tf.constant(["HR"]), value=tf.constant([float("nan")]))
    assert np.isnan(out["probability"].numpy()[0])
    spaced = sig(minutes=tf.constant([10.0]), variable=tf.constant([" HR "]), value=tf.constant([80.0]))
    assert spaced["ignored"].numpy().tolist() == [0]  # " HR " is HR, as the command line reads a stay file
    with pytest.raises(tf.errors.InvalidArgumentError, match="no observation of a known variable"):
        sig(minutes=tf.constant([10.0]), variable=tf.constant(["Pulse"]), value=tf.constant([80.0]))
    assert meta["research_only"] and meta["variables"][0] == "Albumin"


def test_predict_names_the_variables_that_moved_the_probability(quick_run, tmp_path):
    cfg, root, result = quick_run
    stay_file = sorted((root / "run" / "synthetic" / "set-s").glob("*.txt"))[0]
    out = icu.predict(cfg, stay_file, result["export"])
    assert 0 < out["probability_of_death"] < 1 and out["ignored"] == 0
    moved = out["moved_most (probability with it minus without it)"]
    assert moved and set(moved) <= set(icu_data.VARIABLES)
    assert "not a clinical tool" in out["note"]


def test_the_command_line_refuses_a_bad_stay_in_one_line(quick_run, tmp_path):
    cfg, root, result = quick_run
    bad = tmp_path / "bad.txt"
    bad.write_text("Time,Parameter,Value\n00:05,HR,80\n50:00,HR,80\n")
    done = subprocess.run([sys.executable, "-m", "pipelines.icu", "predict", "--input", str(bad), "--model",
                           result["export"]], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode != 0 and "beyond the first 48 hours" in done.stderr
    assert "Traceback" not in done.stderr


def test_config_refuses_bad_options():
    for bad in ({"cv_folds": 1}, {"dropout": 1.0}, {"architecture": "lstm"}, {"source": "web"}):
        with pytest.raises(ValueError):
            dataclasses.replace(icu.Config(), **bad)


def test_the_model_server_answers_one_stay_in_columnar_format(quick_run):
    from shared import serving

    cfg, root, result = quick_run
    repository = serving.Repository(root / "saved_models")
    body = {"inputs": {"minutes": [10, 70, 130], "variable": ["HR", "HR", "Lactate"], "value": [80, 120, 4.5]}}
    out = serving.predict(repository, "icu", body)["outputs"]
    sig = export.load(result["export"], "icu")[0].signatures["serving_default"]
    direct = sig(minutes=tf.constant([10.0, 70.0, 130.0]), variable=tf.constant(["HR", "HR", "Lactate"]),
                 value=tf.constant([80.0, 120.0, 4.5]))
    assert out["probability"][0] == pytest.approx(float(direct["probability"].numpy()[0]), rel=1e-6)
    assert out["ignored"] == [0]


def test_a_test_set_with_the_published_quirks_is_evaluated_on_every_stay(quick_run, tmp_path):
    """Set C's quirks (lines with an empty variable name, a stay with descriptors only) no longer stop evaluation:
    the lines are skipped and counted, the bare stay is predicted from its descriptors, every stay is scored."""
    cfg, root, result = quick_run
    generated = root / "run" / "synthetic"
    files = sorted((generated / "set-s").glob("*.txt"))[:80]
    (tmp_path / "set-c").mkdir()
    for i, path in enumerate(files):
        lines = path.read_text().splitlines()
        if i == 0:  # descriptors only: the first lines at 00:00 that are descriptors
            lines = [x for x in lines[:1] + lines[1:] if x.startswith("Time") or x.split(",")[1] in
                     (*icu_data.DESCRIPTORS, "RecordID")]
        elif i % 2:
            lines.insert(3, lines[3].split(",")[0] + ",,1.9")
        (tmp_path / "set-c" / path.name).write_text("\n".join(lines) + "\n")
    outcomes = (generated / "Outcomes-s.txt").read_text().splitlines()
    keep = {p.stem for p in files}
    (tmp_path / "Outcomes-c.txt").write_text("\n".join([outcomes[0]] + [x for x in outcomes[1:]
                                                                         if x.split(",")[0] in keep]) + "\n")
    test_cfg = dataclasses.replace(cfg, test_dir=str(tmp_path))
    data = icu.load_data(test_cfg)
    assert len(data.test) == 80
    assert any("40 lines with an empty variable name in 40 stays" in n for n in data.notes)
    assert any("1 stays hold descriptors only" in n for n in data.notes)
    metrics = icu.evaluate(test_cfg, icu.load_trained(test_cfg), data)
    assert len(metrics["p"]) == 80 and np.isfinite(metrics["p"]).all() and 0 <= metrics["AUROC"] <= 1
    report_cfg = dataclasses.replace(test_cfg, run_dir=str(tmp_path / "run"))
    icu.build_report(report_cfg, data, metrics, {}).write(report_cfg.run_dir)
    assert "| test | 80 | 40 (40) | 1 |" in (tmp_path / "run" / "report.md").read_text()
    out = icu.predict(cfg, tmp_path / "set-c" / files[0].name, result["export"])
    assert "descriptors only" in out["warning"] and 0 < out["probability_of_death"] < 1
    assert icu.predict(cfg, tmp_path / "set-c" / files[1].name, result["export"])["skipped_lines"] == 1


def test_importing_the_pipeline_does_no_tensorflow_work():
    """`RNN_LOGICAL_CPUS=2` (how the tests run --strategy mirrored on a CPU) splits the CPU after the imports; a
    tf.constant built at import would have initialised the devices first and made that fail."""
    code = ("import pipelines.icu\nfrom shared import cli\ncli.logical_cpus_from_env()\nimport tensorflow as tf\n"
            "print(len(tf.config.list_logical_devices('CPU')))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "RNN_LOGICAL_CPUS": "2"})
    assert done.returncode == 0 and done.stdout.strip().endswith("2"), done.stderr[-500:]
