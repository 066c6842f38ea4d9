import json

import numpy as np

from shared import plots, reports


def test_report_writes_markdown_json_and_png(tmp_path):
    fig = plots.confusion_figure(np.array([[5, 1], [2, 7]]), ["N", "V"])
    paths = reports.Report(domain="ecg", source="synthetic",
                     metrics={"accuracy": np.float32(0.75), "per_class": {"N": {"se": 0.8}, "V": {"se": float("nan")}}},
                     baselines={"majority class": {"accuracy": 0.6}},
                     anchors={"de Chazal 2004": {"accuracy": 0.86, "source": "IEEE TBME 51(7)"}},
                     timing={"train_seconds": 1.5, "samples_per_second": 100.0,
                             "word vectors": {"seconds": 34.0, "neighbours": {"great": ["fine"]}}},
                     figures={"confusion": fig}).write(tmp_path)
    report = json.loads(paths["json"].read_text())
    assert set(reports.REQUIRED) <= set(report)
    assert report["metrics"]["accuracy"] == 0.75 and report["metrics"]["per_class"]["V"]["se"] is None
    assert report["figures"] == {"confusion": "confusion.png"}
    assert paths["confusion"].read_bytes()[:4] == b"\x89PNG"
    md = paths["md"].read_text()
    assert "data source: **synthetic**" in md and "| de Chazal 2004 | 0.86 | IEEE TBME 51(7) |" in md
    assert "| majority class | 0.6 |" in md and "![confusion](confusion.png)" in md
    # a phase of its own: its seconds in the table, the rest in report.json (and the pipeline's section)
    assert "| word vectors: seconds | 34 |" in md and "neighbours" not in md
    assert report["timing"]["word vectors"]["neighbours"] == {"great": ["fine"]}


def test_table_columns_are_the_union_of_rows():
    text = reports.table({"a": {"x": 1}, "b": {"y": 2.123456}}, first="row")
    assert text.splitlines() == ["| row | x | y |", "|---|---|---|", "| a | 1 |  |", "| b |  | 2.123 |"]


def test_history_figure_has_a_panel_per_metric():
    fig = plots.history_figure({"loss": [1.0, 0.5], "val_loss": [1.1, 0.7], "accuracy": [0.5, 0.8]})
    assert len(fig.axes) == 2 and len(fig.axes[0].lines) == 2


def test_rescoring_keeps_the_timing_and_shows_every_training_curve(tmp_path):
    fig = plots.history_figure({"loss": [1.0, 0.5]})
    (tmp_path / "words").mkdir()
    fig.savefig(tmp_path / "words" / "training_curves.png")
    fig.savefig(tmp_path / "training_curves.png")
    common = {"domain": "speech", "source": "synthetic", "metrics": {"accuracy": 90.0}, "baselines": {},
              "anchors": {}}
    reports.Report(timing={"train_seconds": 12.5}, **common).write(tmp_path)
    paths = reports.Report(timing={}, **common).write(tmp_path)  # evaluate: a checkpoint scored again, no training
    assert json.loads(paths["json"].read_text())["timing"] == {"train_seconds": 12.5}
    md = paths["md"].read_text()
    assert "![training_curves](training_curves.png)" in md and "![words training_curves](words/training_curves.png)" in md


def test_log_lines_round_floats_to_four_significant_digits():
    assert reports.rounded({"a": 45.83333333333333, "b": [0.000123456, 7], "c": "x", "d": float("nan")})["a"] == 45.83
    out = reports.rounded({"b": [0.000123456, 7], "c": "x"})
    assert out == {"b": [0.0001235, 7], "c": "x"}
