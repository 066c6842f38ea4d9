"""The ECG model shipped with the project (saved_models/ecg/0, rebuilt by `make bundle-ecg`): it loads, says what it
learned from, serves a batch through its own signature, and still gives the answers recorded beside it
(checks.jsonl: `make predict-ecg` on MIT-BIH 208 and SVDB 865) when the real records are at hand."""

import dataclasses
import json

import numpy as np
import pytest
import tensorflow as tf

from pipelines import ecg
from shared import export
from tests.conftest import ROOT, real_data_dir

BUNDLE = ROOT / "saved_models" / "ecg" / "0"


def test_the_shipped_model_loads_says_what_it_learned_from_and_serves():
    served, meta = export.load(BUNDLE, "ecg")
    assert meta["source"] == "local" and meta["version"] == 0
    assert set(meta["config"]["databases"]) == {"mitdb", "svdb"}
    assert sum(d["records"] for d in meta["databases"].values()) == 82  # 22 MIT-BIH DS1 + 60 SVDB records
    assert 55 < meta["metrics"]["cv macro F1"] < 70  # its grouped cross-validation, carried with it
    inputs = meta["signature"]["inputs"]
    batch = {name: tf.zeros([3, *[d for d in spec["shape"][1:]]]) for name, spec in inputs.items()}
    out = served.signatures["serving_default"](**batch)
    assert out["class"].shape == (3,) and np.allclose(out["probs"].numpy().sum(axis=1), 1, atol=1e-4)
    checks = [json.loads(line) for line in (BUNDLE / "checks.jsonl").read_text().splitlines()]
    assert [c["record"] for c in checks] == ["208", "865"]


@pytest.mark.slow
def test_the_shipped_model_still_gives_its_recorded_answers(tmp_path):
    folders = (str(real_data_dir("mitdb")), str(real_data_dir("svdb")))
    cfg = dataclasses.replace(ecg.Config(), data_dir=folders, run_dir=str(tmp_path))
    for line in (BUNDLE / "checks.jsonl").read_text().splitlines():
        recorded = json.loads(line)
        again = ecg.predict(cfg, recorded["record"], BUNDLE, out_dir=tmp_path / recorded["record"])
        assert again["beats_per_class"] == recorded["beats_per_class"]
        assert again["classification_vs_annotations"]["accuracy"] == pytest.approx(
            recorded["classification_vs_annotations"]["accuracy"], abs=0.01)
