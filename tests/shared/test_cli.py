import argparse
import dataclasses
import importlib
import json
import os
import pathlib
import re
import subprocess
import sys
import time
from typing import ClassVar

import pytest

from shared import cli, layers, pipeline


@dataclasses.dataclass(frozen=True)
class Config:
    source: str = "auto"          # where the records come from
    data_dir: str = ""
    records: tuple[str, ...] = ("100", "101")  # records to read,
                                               # in this order
    epochs: int = 20
    learning_rate: float = 1e-3
    rnn: str = "bilstm:64"
    class_weights: bool = True

    CHOICES: ClassVar[dict] = {"source": ("auto", "local")}

    def __post_init__(self):
        cli.check_choices(self)
        layers.parse_spec(self.rnn)
        if self.epochs < 1:
            raise ValueError(f"epochs={self.epochs}: expected at least 1")


QUICK = {"epochs": 1, "rnn": "gru:4"}


def _parse(argv):
    return cli.parse(Config, argv, prog="python -m pipelines.demo", quick=QUICK)


def test_options_map_onto_config_fields():
    command, cfg, args = _parse(["train", "--epochs", "3", "--records", "201,203", "--learning-rate", "0.01",
                                 "--no-class-weights", "--rnn", "bigru:8x2", "--input", "x.dat"])
    assert command == "train" and args.input == ["x.dat"] and not args.restart
    assert _parse(["train", "--restart"])[2].restart
    assert cfg == Config(epochs=3, records=("201", "203"), learning_rate=0.01, class_weights=False, rnn="bigru:8x2")


def test_quick_applies_first_and_explicit_options_win():
    assert _parse(["train", "--quick"])[1] == Config(epochs=1, rnn="gru:4")
    assert _parse(["train", "--quick", "--epochs", "2"])[1] == Config(epochs=2, rnn="gru:4")
    assert _parse(["evaluate"])[1] == Config()


@pytest.mark.parametrize("argv, message", [
    (["fly"], "invalid choice"),
    (["train", "--epochs", "many"], "invalid int value"),
    (["train", "--learning-rate", "nan"], "'nan' is not a finite number"),
    (["train", "--learning-rate", "inf"], "'inf' is not a finite number"),
    (["train", "--unknown", "1"], "unrecognized arguments"),
    (["train", "--sourc", "local"], "unrecognized arguments: --sourc"),  # no abbreviation taken for an option
    (["train", "--rnn", "transformer:8"], "expected one of"),
    (["train", "--epochs", "0"], "epochs=0"),
    (["train", "--source", "cloud"], "invalid choice: 'cloud' (choose from 'auto', 'local')"),
    (["train", "--config", "missing.json"], "--config missing.json: no such file"),
    (["train", "--data-dir", "no/such/mitdb"], "--data-dir no/such/mitdb: no such file or folder"),
])
def test_bad_options_exit_with_a_clear_message(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        _parse(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_help_lists_commands_and_options(capsys):
    with pytest.raises(SystemExit):
        _parse(["--help"])
    out = capsys.readouterr().out
    for text in ("train", "predict", "--data-dir", "--records", "--quick", "default: 100,101", "{auto,local}"):
        assert text in out
    assert "(default: None)" not in out and out.count("(default: 20)") == 1


def test_help_text_is_the_fields_comment_then_the_shared_text():
    texts = cli.field_help(Config)
    assert texts["source"] == "where the records come from"
    assert texts["records"] == "records to read, in this order"  # a comment-only line continues the field's
    assert texts["learning_rate"] == cli.COMMON_HELP["learning_rate"]
    assert texts["rnn"] == ""  # no comment, no shared text


@pytest.mark.parametrize("domain", pipeline.PIPELINES)
def test_every_pipeline_follows_the_contract(domain):
    module = importlib.import_module(f"pipelines.{domain}")
    assert pipeline.contract_problems(module) == []  # names, arities, Config fields, CARD, help for every option
    for name, allowed in getattr(module.Config, "CHOICES", {}).items():
        value = getattr(module.Config(), name)
        assert set(value) <= set(allowed) if isinstance(value, tuple) else value in allowed  # a list: each item


def test_the_contract_check_names_what_a_pipeline_lacks(capsys):
    import types

    @dataclasses.dataclass(frozen=True)
    class Bare:
        seed: int = 1
        epochs: int = 2  # the most epochs
        width: int = 3

    broken = types.ModuleType("pipelines.broken")
    broken.NAME, broken.Config, broken.QUICK = "broken", Bare, {"units": 3}
    broken.load_data = lambda cfg: None
    broken.plan = lambda cfg, model: None  # one argument short
    broken.train = lambda cfg, model, data: None  # the hook, one argument short
    problems = pipeline.contract_problems(broken)
    for text in ("no CARD", "no PREDICT_INPUT", "no function build_model", "plan(cfg, model): the driver passes 3",
                 "train(cfg, model, data): the driver passes 4",
                 "Config has no field run_dir", "QUICK names units", "--width has no help text", "CARD has no 'use'"):
        assert any(text in p for p in problems), (text, problems)
    assert not any("--epochs" in p for p in problems)
    with pytest.raises(SystemExit, match="breaks the contract of shared/pipeline.py: no PREDICT_INPUT"):
        pipeline.main(broken, ["train"])


def test_config_file_json_toml_and_a_reports_config(tmp_path):
    (tmp_path / "a.json").write_text(json.dumps({"epochs": 3, "records": ["201"]}))
    (tmp_path / "b.toml").write_text('epochs = 4\nrnn = "gru:8"\n')
    (tmp_path / "report.json").write_text(json.dumps({"metrics": {}, "config": {"epochs": 5, "source": "local"}}))
    assert _parse(["train", "--config", str(tmp_path / "a.json")])[1] == Config(epochs=3, records=("201",))
    assert _parse(["train", "--config", str(tmp_path / "b.toml")])[1] == Config(epochs=4, rnn="gru:8")
    assert _parse(["train", "--config", str(tmp_path / "report.json"), "--epochs", "6"])[1] == \
        Config(epochs=6, source="local")  # options given on the command line win over the file


@pytest.mark.parametrize("content, message", [
    ('{"epochs": 3, "wings": 2}', "unknown options ['wings']"),
    ("{not json", "not valid JSON"),
    ('{"source": "cloud"}', "--source 'cloud': expected one of ['auto', 'local']"),
])
def test_bad_config_files_are_named(tmp_path, capsys, content, message):
    (tmp_path / "c.json").write_text(content)
    with pytest.raises(SystemExit):
        _parse(["train", "--config", str(tmp_path / "c.json")])
    assert message in capsys.readouterr().err


def test_a_pipeline_command_prints_no_tensorflow_start_up_notices():
    done = subprocess.run([sys.executable, "-m", "pipelines.stock", "--help"], capture_output=True, text=True,
                          env={k: v for k, v in os.environ.items() if k != "RNN_DEBUG"}, check=True)
    assert done.stderr == "" and "usage:" in done.stdout


def test_guarded_commands_turn_errors_into_one_line(capsys, monkeypatch):
    monkeypatch.delenv("RNN_DEBUG", raising=False)

    def fail():
        raise FileNotFoundError("record 100 not in data/mitdb; pass --data-dir")

    with pytest.raises(SystemExit) as exit_info:
        cli.run_guarded(fail)
    assert exit_info.value.code == 1
    assert capsys.readouterr().err.strip() == "error: record 100 not in data/mitdb; pass --data-dir"
    assert cli.run_guarded(lambda: 7) == 7

    def fail_long():
        raise ValueError("bad line: " + "x" * 5_000_000)

    with pytest.raises(SystemExit):
        cli.run_guarded(fail_long)
    assert len(capsys.readouterr().err) < 600  # a 5 MB line is not echoed whole

    def bug():
        return {}["missing"]

    with pytest.raises(SystemExit):
        cli.run_guarded(bug)  # an error nobody foresaw: still one line, with its type
    assert capsys.readouterr().err == "error: KeyError: 'missing' (RNN_DEBUG=1 shows where)\n"


def test_describe_results_for_people():
    assert cli.describe({"label": "positive", "p": 0.93125}) == "label: positive  p: 0.9313"
    assert cli.describe({"record": "100", "beats": {"N": 3, "V": 1}}) == "record: 100\nbeats: N=3 V=1"
    assert cli.describe("le chat") == "le chat"
    assert cli.describe({"events": 2, "every_event": [{"start": "a", "peak": 0.9}, {"start": "b", "peak": 0.5}]}) \
        == "events: 2\nevery_event: \n  - start=a peak=0.9\n  - start=b peak=0.5"  # rows, one line each


def test_predict_runs_once_per_input_and_prints_text_or_json(capsys):
    commands = {"predict": lambda cfg, args: {"word": args.input.upper(), "epochs": cfg.epochs}}
    main = lambda argv: cli.main(Config, argv, prog="demo", quick=QUICK, description="", commands=commands)  # noqa: E731
    assert main(["predict", "--input", "one", "two", "--epochs", "3"]) == [{"word": "ONE", "epochs": 3},
                                                                          {"word": "TWO", "epochs": 3}]
    assert capsys.readouterr().out == "== one\nword: ONE  epochs: 3\n== two\nword: TWO  epochs: 3\n"
    main(["predict", "--json", "--input", "one", "--input", "two"])
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert rows == [{"input": "one", "word": "ONE", "epochs": 20}, {"input": "two", "word": "TWO", "epochs": 20}]


def test_text_inputs_read_a_file_only_when_marked_with_at(tmp_path):
    (tmp_path / "review.txt").write_text("a slow, lovely film\n", encoding="utf-8")
    with pytest.raises(ValueError, match="that is a file's name, not a text; to read the file give @"):
        cli.text_input(str(tmp_path / "review.txt"))  # an existing file without @: never its name's letters
    assert cli.text_input(str(tmp_path / "nothing.txt")) == str(tmp_path / "nothing.txt")  # no such file: a text
    assert cli.text_input("review.txt is great") == "review.txt is great"
    assert cli.text_input("@" + str(tmp_path / "review.txt")) == "a slow, lovely film\n"
    with pytest.raises(ValueError, match="no file"):
        cli.text_input("@" + str(tmp_path / "missing.txt"))
    (tmp_path / "utf16.txt").write_bytes("film".encode("utf-16"))
    with pytest.raises(ValueError, match="not a UTF-8 text file"):
        cli.text_input("@" + str(tmp_path / "utf16.txt"))


@dataclasses.dataclass(frozen=True)
class RunConfig:
    run_dir: str = ""  # run folder


def test_a_second_run_in_the_same_folder_stops_with_a_clear_message(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("RNN_DEBUG", raising=False)
    seen = []
    commands = {"train": lambda cfg, args: seen.append(cfg.run_dir) or "done"}
    main = lambda: cli.main(RunConfig, ["train", "--run-dir", str(tmp_path)], prog="demo", quick={},  # noqa: E731
                            description="", commands=commands)
    with cli.run_lock(str(tmp_path)):  # a run in progress
        with pytest.raises(SystemExit) as exit_info:
            main()
        assert exit_info.value.code == 1 and seen == []
        assert f"run folder {tmp_path} is in use by a running run (pid {os.getpid()})" in capsys.readouterr().err
    assert main() == "done" and seen == [str(tmp_path)]  # the lock ends with its run


def test_under_make_the_trainer_dies_when_make_is_killed(tmp_path):
    """The Makefile exports RNN_DIE_WITH_PARENT=1: a trainer it started gets SIGTERM when it dies (kill -9 too)."""
    root = str(pathlib.Path(__file__).resolve().parents[2])
    assert re.search(r"^export RNN_DIE_WITH_PARENT := 1$", (pathlib.Path(root) / "Makefile").read_text(), re.M)
    ready = tmp_path / "ready"
    child = (f"import sys, time, pathlib; sys.path.insert(0, {root!r}); from shared import cli; cli.die_with_parent(); "
             f"pathlib.Path({str(ready)!r}).touch(); time.sleep(60)")
    parent = (f"import subprocess, sys, time, pathlib; p = subprocess.Popen([sys.executable, '-c', {child!r}], "
              "stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL); "
              f"print(p.pid, flush=True)\nwhile not pathlib.Path({str(ready)!r}).exists(): time.sleep(0.05)\n"
              "import os; os._exit(0)")  # make gone without waiting for its child, as after kill -9
    done = subprocess.run([sys.executable, "-c", parent], env={**os.environ, "RNN_DIE_WITH_PARENT": "1"},
                          capture_output=True, text=True, timeout=60)
    pid = int(done.stdout.split()[0])
    for _ in range(100):
        status = pathlib.Path(f"/proc/{pid}/status")
        if not status.exists() or "\nState:\tZ" in status.read_text():
            break  # gone (or a zombie nobody reaped yet: no longer running)
        time.sleep(0.1)
    else:
        os.kill(pid, 9)
        raise AssertionError("the trainer outlived make")


def test_rnn_suite_entry_point_dispatches_to_pipelines_and_tools(capsys):
    from importlib.metadata import entry_points

    from pipelines.__main__ import main

    (script,) = entry_points(group="console_scripts", name="rnn-suite")  # installed by pyproject's [project.scripts]
    assert script.value == "pipelines.__main__:main"
    main(["--help"])
    out = capsys.readouterr().out
    assert "rnn-suite ecg train" in out and all(name in out for name in pipeline.PIPELINES + ("paired",))
    with pytest.raises(SystemExit) as stopped:
        main(["ecgg", "train"])
    assert stopped.value.code == 2 and "expected a pipeline" in capsys.readouterr().err
    with pytest.raises(SystemExit) as stopped:
        main(["sentiment", "--help"])
    assert stopped.value.code == 0 and "--segment" in capsys.readouterr().out


def test_importing_the_pipelines_package_does_no_work():
    """Only a command start (python -m, rnn-suite) quiets TensorFlow's start-up; an import has no side effect."""
    code = "import sys, pipelines; print('tensorflow' in sys.modules, sys.stderr is sys.__stderr__)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          cwd=pathlib.Path(__file__).resolve().parents[2])
    assert done.stdout.split() == ["False", "True"], done.stderr[-300:]


def test_shared_building_blocks_import_nothing_from_domain_or_pipelines():
    import ast

    for path in (pathlib.Path(__file__).resolve().parents[2] / "shared").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            assert not any(n.split(".")[0] in ("domain", "pipelines") for n in names), (path.name, names)




def test_no_pipeline_module_imports_another_pipeline():
    """A pipeline (or the server) reaches shared code through domain/ or shared/, never through another pipeline
    (the server's ECG analysis is domain.ecg.analysis; the speech family shares pipelines/speech/audio/)."""
    import ast

    root = pathlib.Path(__file__).resolve().parents[2] / "pipelines"
    files = {name: sorted((root / name).glob("*.py")) for name in pipeline.PIPELINES}
    files["serve"] = [root.parent / "tools" / "serve.py"]
    for name, paths in files.items():
        assert paths, name
        for path in paths:
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.ImportFrom) and node.module == "pipelines":
                    assert not {a.name for a in node.names} & set(pipeline.PIPELINES) - {name}, (path, ast.unparse(node))
                if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("pipelines."):
                    assert node.module.split(".")[1] in ({name} | ({"speech"} if name == "transcription" else set())), \
                        (path, node.module)


def test_reading_a_pipelines_options_loads_no_tensorflow():
    """Every pipeline package's options (Config, QUICK, CARD: its __init__) import without TensorFlow or Keras, so
    --help, usage errors and missing inputs answer before TensorFlow loads; its stages load on first use."""
    code = ("import sys\nfrom shared import pipeline\nfor n in pipeline.PIPELINES:\n"
            "    m = __import__(f'pipelines.{n}', fromlist=['Config']); m.Config(); m.QUICK; m.CARD\n"
            "print(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          cwd=pathlib.Path(__file__).resolve().parents[2])
    assert done.stdout.strip() == "[]", (done.stdout, done.stderr[-500:])
    from pipelines import weather

    assert callable(weather.load_data) and "load_data" in dir(weather)  # the stages, on first use


def test_domain_code_imports_without_tensorflow():
    """Data, metrics and reports (domain/) are plain Python + numpy: a notebook or a tool reads data without
    starting TensorFlow (the text normaliser lives in shared.text for that)."""
    root = pathlib.Path(__file__).resolve().parents[2]
    names = [".".join(p.relative_to(root).with_suffix("").parts) for p in sorted((root / "domain").rglob("*.py"))]
    code = f"import sys\nfor n in {names!r}: __import__(n)\nprint(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=root)
    assert len(names) > 15 and done.stdout.strip() == "[]", (done.stdout, done.stderr[-300:])


def test_domain_functions_import_tensorflow_only_to_read_published_data():
    """The rule, function-level imports included: a function in domain/ imports TensorFlow, Keras or TFDS only to
    read published data: a TFDS reader (load_tfds*), a keras.utils.get_file download (download*) or an image decoder
    (decode_image). Everything else in domain/ is plain Python + numpy."""
    import ast
    import re

    root = pathlib.Path(__file__).resolve().parents[2] / "domain"
    seen = []
    for path in sorted(root.rglob("*.py")):
        for function in ast.walk(ast.parse(path.read_text())):
            if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for node in ast.walk(function):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                    [node.module or ""] if isinstance(node, ast.ImportFrom) else []
                if any(n.split(".")[0] in ("tensorflow", "keras", "tensorflow_datasets") for n in names):
                    seen.append(function.name)
                    assert re.fullmatch(r"load_tfds\w*|download\w*|decode_image", function.name), \
                        (path.name, function.name, names)
    assert "load_tfds" in seen and "decode_image" in seen  # the walk reaches the functions that do import

def test_run_hands_trains_estimate_to_summary_and_report_in_memory(tmp_path):
    """`train`'s estimate (cross-validation, chosen epoch, baselines) reaches summary and write_report through
    run(), not through the run folder; `evaluate` on a checkpoint reads the copy train kept there."""
    import types

    from shared import reports, validation

    @dataclasses.dataclass(frozen=True)
    class Small:
        seed: int = 1
        run_dir: str = str(tmp_path / "run")
        epochs: int = 1
        learning_rate: float = 0.1
        jit_compile: bool = False

    seen = {}
    estimate = {"pooled": {"accuracy": 91.5}, "best_epoch": 3}

    def export(cfg, model, data, headline, root):
        path = pathlib.Path(root) / "1"
        path.mkdir(parents=True, exist_ok=True)
        (path / "metadata.json").write_text("{}")
        return path

    fake = types.ModuleType("pipelines.fake")
    fake.NAME, fake.Config, fake.QUICK, fake.PREDICT_INPUT = "fake", Small, {}, "--input"
    fake.CARD = {"use": "u", "not for": "n", "data": "d", "generated": ()}
    fake.load_data = lambda cfg: "data"
    fake.build_model = lambda cfg, data: "model"
    from shared import training

    fake.plan = lambda cfg, model, data: pytest.fail("a pipeline with the train hook is not fitted by the driver")
    fake.train = lambda cfg, model, data, verbose=0: training.TrainResult({}, {}, estimate=dict(estimate))
    fake.evaluate = lambda cfg, model, data: {"accuracy": 90.0}
    fake.summary = lambda cfg, metrics, estimate=None: seen.setdefault("summary", []).append(estimate) or {}
    def build_report(cfg, data, metrics, timing, estimate=None):
        seen.setdefault("report", []).append(estimate)
        return reports.Report("fake", "generated", metrics, {}, {}, timing)
    fake.build_report = build_report
    fake.export, fake.load_trained, fake.predict = export, lambda cfg: "model", lambda cfg, given, path: None
    assert pipeline.contract_problems(fake) == []
    pipeline.run(fake, Small(), export_root=tmp_path / "models")
    assert seen == {"summary": [estimate], "report": [estimate]}
    assert not (tmp_path / "run" / validation.CV_FILE).exists()  # nothing went through the folder
    validation.keep(Small().run_dir, {"best_epoch": 4})  # what a real train keeps for the later commands
    pipeline.evaluate_checkpoint(fake, Small())
    assert seen["summary"][-1] == seen["report"][-1] == {"best_epoch": 4}


def _shown(parser, printed: str) -> None:
    """Every option of `parser` and the words of its help text appear in the help `printed`."""
    flat = "".join(printed.split())  # argparse wraps lines, also after hyphens: compare without any space
    for action in parser._actions:
        if action.help == argparse.SUPPRESS:
            continue
        assert all(option in flat for option in action.option_strings), action.option_strings
        words = (action.help or "").replace("%%", "%").split(" (default")[0]
        assert "".join(words.split())[:60] in flat, (action.option_strings, words)


@pytest.mark.parametrize("domain", pipeline.PIPELINES)
def test_the_help_of_every_pipeline_and_command_shows_every_option(domain, capsys):
    """`python -m pipelines.<domain> [command] --help` and `rnn-suite <domain> [command] --help`, in process: help
    never breaks (a % in an option's comment once did) and shows every option with its text."""
    from pipelines import __main__ as suite

    module = importlib.import_module(f"pipelines.{domain}")
    parser = cli.build_parser(module.Config, f"python -m pipelines.{domain}")
    for argv in (["--help"], *([command, "--help"] for command in cli.COMMANDS)):
        for run in (lambda argv=argv: pipeline.main(module, argv), lambda argv=argv: suite.main([domain, *argv])):
            with pytest.raises(SystemExit) as exit_info:
                run()
            assert exit_info.value.code == 0
            _shown(parser, capsys.readouterr().out)


@pytest.mark.parametrize("tool", ["paired", "anatomy", "bench", "serve"])
def test_the_help_of_every_tool_shows_every_option(tool, capsys):
    from pipelines import __main__ as suite

    module = importlib.import_module(f"tools.{tool}")
    for run in (lambda: module.main(["--help"]), lambda: suite.main([tool, "--help"])):
        with pytest.raises(SystemExit) as exit_info:
            run()
        assert exit_info.value.code == 0
        _shown(module.build_parser(), capsys.readouterr().out)
    suite.main(["--help"])
    printed = capsys.readouterr().out
    assert all(name in printed for name in (*pipeline.PIPELINES, *suite.TOOLS))


@pytest.mark.parametrize("domain", pipeline.PIPELINES)
def test_quick_keeps_the_data_folder_it_is_given(domain, tmp_path):
    """--quick's generated source gives way to a --data-dir given with it (make train-x QUICK=1 DATA_DIR=...);
    an explicit --source still wins."""
    module = importlib.import_module(f"pipelines.{domain}")
    if "data_dir" not in {f.name for f in dataclasses.fields(module.Config)}:
        pytest.skip(f"{domain} has no --data-dir")
    _, cfg, _ = cli.parse(module.Config, ["train", "--quick", "--data-dir", str(tmp_path)], prog=domain,
                          quick=module.QUICK)
    assert cfg.source == module.Config().source and cfg.source != module.QUICK["source"]
    assert cfg.epochs == module.QUICK.get("epochs", cfg.epochs)  # the rest of the quick configuration stays
    _, cfg, _ = cli.parse(module.Config, ["train", "--quick", "--data-dir", str(tmp_path), "--source", "synthetic"]
                          if "synthetic" in module.Config.CHOICES.get("source", ()) else
                          ["train", "--quick", "--data-dir", str(tmp_path), "--source", module.QUICK["source"]],
                          prog=domain, quick=module.QUICK)
    assert cfg.source == (module.QUICK["source"] if "synthetic" not in module.Config.CHOICES.get("source", ())
                          else "synthetic")


@pytest.mark.parametrize("domain", pipeline.PIPELINES)
def test_auto_source_refuses_a_data_folder_that_holds_no_data(domain, tmp_path):
    """--source auto with a --data-dir that is a file (or an empty folder) stops with one line naming it: it never
    trains on generated data instead (and never exports over the last real model)."""
    module = importlib.import_module(f"pipelines.{domain}")
    if "auto" not in module.Config.CHOICES.get("source", ()):
        pytest.skip(f"{domain} has no --source auto")
    given = tmp_path / "notes.txt"
    given.write_text("not a dataset\n")
    folders = (str(given),) if isinstance(module.Config().data_dir, tuple) else str(given)
    cfg = dataclasses.replace(module.Config(), data_dir=folders, run_dir=str(tmp_path / "run"))
    with pytest.raises((FileNotFoundError, ValueError), match=re.escape(str(given))):
        module.load_data(cfg)
