"""Every notebook in notebooks/ runs top to bottom (offline, QUICK settings) and is committed without outputs; its
rendered copy in docs/notebooks/ (make render-notebooks) holds the same code, with outputs."""

import os
import pathlib
import re

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = pathlib.Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def test_there_is_a_tour_and_one_notebook_per_pipeline():
    names = {p.stem for p in NOTEBOOKS}
    pipelines = {"sentiment", "weather", "stock", "translation", "speech", "action", "captioning", "textgen", "icu", "music", "anomaly"}
    assert "00_tour_ecg" in names and pipelines <= names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_is_committed_without_outputs(path):
    book = nbformat.read(path, as_version=4)
    for cell in book.cells:
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None, f"{path.name}: strip outputs before committing"


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_top_to_bottom(path, tmp_path, monkeypatch):
    monkeypatch.setenv("RNN_NOTEBOOK_DIR", str(tmp_path))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "2")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    book = nbformat.read(path, as_version=4)
    NotebookClient(book, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}).execute()
    # (a cell that raises fails execute() itself.) The pipelines' log lines reach the notebook's output:
    logged = "".join(o.get("text", "") for c in book.cells if c.cell_type == "code" for o in c.outputs
                     if o.output_type == "stream" and o.name == "stderr")
    assert re.search(r"^\d{4}-\d\d-\d\d [\d:,]+ (pipelines|shared|domain)\.\w+ ", logged, re.M), logged[-500:]
    assert os.listdir(tmp_path)  # it wrote its run where it was told


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_the_rendered_copy_holds_the_notebooks_code_and_its_outputs(path):
    rendered = ROOT / "docs" / "notebooks" / path.name
    assert rendered.exists(), f"docs/notebooks/{path.name} is missing: make render-notebooks NAMES={path.stem}"
    source, copy = (nbformat.read(p, as_version=4) for p in (path, rendered))
    code = [[c.source for c in book.cells if c.cell_type == "code"] for book in (source, copy)]
    assert code[0] == code[1], f"{path.name} changed since it was rendered: make render-notebooks NAMES={path.stem}"
    assert any(c.outputs for c in copy.cells if c.cell_type == "code")
    text = str(copy)
    assert str(ROOT) not in text and not re.search(r"/tmp/tmp\w+/", text)  # no folder of this machine
    assert "I0000" not in text  # no TensorFlow start-up notices
