import dataclasses

import pytest

from shared import cli, layers


@dataclasses.dataclass(frozen=True)
class Config:
    source: str = "auto"
    data_dir: str = ""
    records: tuple[str, ...] = ("100", "101")
    epochs: int = 20
    learning_rate: float = 1e-3
    rnn: str = "bilstm:64"
    class_weights: bool = True

    def __post_init__(self):
        layers.parse_spec(self.rnn)
        if self.epochs < 1:
            raise ValueError(f"epochs={self.epochs}: expected at least 1")


QUICK = {"epochs": 1, "rnn": "gru:4"}


def _parse(argv):
    return cli.parse(Config, argv, prog="python -m pipelines.demo", quick=QUICK)


def test_options_map_onto_config_fields():
    command, cfg, args = _parse(["train", "--epochs", "3", "--records", "201,203", "--learning-rate", "0.01",
                                 "--no-class-weights", "--rnn", "bigru:8x2", "--input", "x.dat"])
    assert command == "train" and args.input == "x.dat"
    assert cfg == Config(epochs=3, records=("201", "203"), learning_rate=0.01, class_weights=False, rnn="bigru:8x2")


def test_quick_applies_first_and_explicit_options_win():
    assert _parse(["train", "--quick"])[1] == Config(epochs=1, rnn="gru:4")
    assert _parse(["train", "--quick", "--epochs", "2"])[1] == Config(epochs=2, rnn="gru:4")
    assert _parse(["evaluate"])[1] == Config()


@pytest.mark.parametrize("argv, message", [
    (["fly"], "invalid choice"),
    (["train", "--epochs", "many"], "invalid int value"),
    (["train", "--unknown", "1"], "unrecognized arguments"),
    (["train", "--rnn", "transformer:8"], "expected one of"),
    (["train", "--epochs", "0"], "epochs=0"),
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
    for text in ("train", "predict", "--data-dir", "--records", "--quick", "default: 100,101"):
        assert text in out


def test_guarded_commands_turn_errors_into_one_line(capsys, monkeypatch):
    monkeypatch.delenv("RNN_DEBUG", raising=False)

    def fail():
        raise FileNotFoundError("record 100 not in data/mitdb; pass --data-dir")

    with pytest.raises(SystemExit) as exit_info:
        cli.run_guarded(fail)
    assert exit_info.value.code == 1
    assert capsys.readouterr().err.strip() == "error: record 100 not in data/mitdb; pass --data-dir"
    assert cli.run_guarded(lambda: 7) == 7
