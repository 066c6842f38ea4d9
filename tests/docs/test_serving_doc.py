"""The saved_model_cli commands of docs/serving.md, run as written on freshly exported quick models."""

import shlex
import subprocess
import sys

import pytest

from pipelines import sentiment, weather
from tests.conftest import ROOT, run_quick


def doc_commands() -> list[str]:
    text = (ROOT / "docs" / "serving.md").read_text()
    block = text.split("```bash\n# what goes in", 1)[1].split("```", 1)[0]
    return [line for line in block.splitlines() if line.startswith(".venv/bin/")]


def test_the_doc_has_the_commands():
    commands = doc_commands()
    assert sum("saved_model_cli run" in c for c in commands) == 2 and any("show" in c for c in commands)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    root = tmp_path_factory.mktemp("serving")
    run_quick(weather, root)
    run_quick(sentiment, root)
    return root


@pytest.mark.slow
def test_saved_model_cli_commands_of_the_doc_run(exported):
    outputs = []
    for command in doc_commands():
        argv = shlex.split(command)
        tool = argv[0].rsplit("/", 1)[-1]
        argv = ([sys.executable, "-m", "tensorflow.python.tools.saved_model_cli"] if tool == "saved_model_cli"
                else [sys.executable]) + argv[1:]
        argv = [a.replace("saved_models/", f"{exported / 'saved_models'}/") for a in argv]
        done = subprocess.run(argv, cwd=exported, capture_output=True, text=True, timeout=180)
        assert done.returncode == 0, done.stderr[-2000:]
        outputs.append(done.stdout)
    show, _, forecast, review = outputs
    assert "inputs['window']" in show and "DT_FLOAT" in show and "(-1, 5, 6)" in show
    assert "Result for output key forecast:" in forecast
    value = float(forecast.split("forecast:")[1].strip().strip("[]"))
    assert -30 < value < 50  # degC from raw inputs of 10
    assert "Result for output key label:" in review and ("b'positive'" in review or "b'negative'" in review)
