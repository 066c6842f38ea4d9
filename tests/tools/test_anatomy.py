import json

import numpy as np
import pytest

from tools import anatomy


@pytest.mark.slow
def test_compare_trains_all_five_types_with_the_same_setting_and_reports_them(tmp_path):
    result = anatomy.compare("ecg", quick=True, units=4, seeds=(1, 2), run_dir=str(tmp_path), source="synthetic")
    rows = result["by_type"]
    assert list(rows) == list(anatomy.TYPES)
    assert [row["spec"] for row in rows.values()] == ["simple:4", "lstm:4", "gru:4", "bigru:4", "gru:4x2"]
    for row in rows.values():
        assert row["seeds"] == 2 and 0 <= row["macro F1"] <= 100 and "macro F1 sd" in row
        assert row["train_seconds"] > 0 and row["inference_ms_per_1000"] > 0
    params = {name: row["parameters"] for name, row in rows.items()}
    assert params["bidirectional GRU"] > params["GRU"] > params["simple RNN"]
    assert params["stacked GRU (2 layers)"] > params["GRU"]
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["source"] == "synthetic" and len(report["trials"]["LSTM"]) == 2
    assert (tmp_path / "compare.png").stat().st_size > 10_000
    assert "| simple RNN |" in (tmp_path / "report.md").read_text()


def test_compare_refuses_an_unknown_domain():
    with pytest.raises(ValueError, match="expected one of"):
        anatomy.compare("stock", quick=True)


@pytest.mark.slow
def test_gradients_report_has_norms_for_every_step_and_cell(tmp_path):
    result = anatomy.gradients_report(quick=True, run_dir=str(tmp_path))
    report = json.loads((tmp_path / "report.json").read_text())
    for kind in anatomy.GRADIENT_TYPES:
        norms = np.array(report["norms"]["adding"][kind]["init"])
        assert norms.shape == (20,) and (norms > 0).all()
        assert result["decay"][kind]["adding: dL/dh_1 / dL/dh_T at init"] == pytest.approx(norms[0] / norms[-1])
    assert set(result["clipping"]) == {"no clipping", "clipnorm=1.0", "clipvalue=0.1"}
    for name in ("gradients_adding", "gradients_weather", "clipping"):
        assert (tmp_path / f"{name}.png").exists()


@pytest.mark.slow
def test_exploding_gradients_are_measured_and_clipping_bounds_the_first_steps():
    runs = anatomy.clipping_effect(10, gain=4.0, epochs=1, examples=512)
    tame = anatomy.clipping_effect(10, gain=1.0, epochs=1, examples=64)
    # a recurrent matrix 4x larger: the gradient grows through the 10 steps instead of fading
    assert runs["no clipping"]["gradient_norm_at_init"] > 5 * tame["no clipping"]["gradient_norm_at_init"]
    assert runs["clipnorm=1.0"]["loss_per_epoch"][0] < runs["no clipping"]["loss_per_epoch"][0]


@pytest.mark.slow
def test_stream_serves_chunk_by_chunk_equal_to_the_whole_sequence(tmp_path):
    result = anatomy.stream(quick=True, run_dir=str(tmp_path))
    assert result["max |streamed - whole sequence|"] < 1e-4
    assert result["chunks fed"] > 1 and result["test steps"] > 100
    assert (tmp_path / "stream.png").exists() and (tmp_path / "report.md").exists()


def test_cli_writes_a_clear_error_for_bad_units(capsys):
    with pytest.raises(SystemExit):
        anatomy.main(["compare", "--units", "0"])
    assert "--units 0" in capsys.readouterr().err
