"""The Makefile's variables reach the pipelines' command lines, and every domain it lists has a pipeline."""

import importlib.util
import re
import shlex
import subprocess

from shared import cli
from tests.conftest import ROOT


def dry_run(*args: str) -> str:
    done = subprocess.run(["make", "-n", "-C", str(ROOT), *args], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_make_variables_become_pipeline_options():
    out = dry_run("train-ecg", "QUICK=1", "EPOCHS=2", "STRATEGY=mirrored", "MIXED_PRECISION=mixed_bfloat16",
                  "RNN=bigru:8", "RUN_DIR=runs/x", 'ARGS=--seed 7')
    line = next(line for line in out.splitlines() if "-m pipelines.ecg train" in line)
    argv = shlex.split(line)
    argv = argv[argv.index("pipelines.ecg") + 1:]
    from pipelines import ecg

    args = cli.build_parser(ecg.Config, "ecg").parse_args(argv)
    assert (args.command, args.quick, args.epochs, args.strategy, args.mixed_precision) == \
        ("train", True, 2, "mirrored", "mixed_bfloat16")
    assert (args.rnn, args.run_dir, args.seed) == ("bigru:8", "runs/x", 7)


def test_every_domain_in_the_makefile_has_a_pipeline_module():
    text = (ROOT / "Makefile").read_text()
    domains = re.search(r"^DOMAINS := (.+)$", text, re.M).group(1).split()
    from shared import pipeline
    from tools import bench

    assert domains == list(pipeline.PIPELINES) == list(bench.PIPELINES)  # the one list, and bench measures it
    for domain in domains:
        assert importlib.util.find_spec(f"pipelines.{domain}") is not None, domain
        assert f"pipelines.{domain} train" in dry_run(f"train-{domain}")


def test_make_tensorboard_reads_the_run_folders():
    assert "-m tensorboard.main --logdir runs/ecg --port 6007" in dry_run("tensorboard", "RUN_DIR=runs/ecg", "PORT=6007")
    assert "--logdir runs " in dry_run("tensorboard")


def test_make_paired_passes_the_domain_seeds_data_and_settings():
    from tools import paired

    out = dry_run("paired", "DOMAIN=speech", "SEEDS=1,2", "DATA_DIR=data/fsdd", "ARGS=--setting 'no voices=--synthetic-mix 0'")
    argv = shlex.split(next(line for line in out.splitlines() if "-m tools.paired" in line))
    args = paired.build_parser().parse_args(argv[argv.index("tools.paired") + 1:])
    assert (args.domain, args.seeds, shlex.split(args.base)) == ("speech", "1,2", ["--data-dir", "data/fsdd"])
    assert paired.parse_setting(args.setting[0]) == ("no voices", ["--synthetic-mix", "0"])


def test_predict_output_is_the_result_alone():
    """make predict-<domain> does not echo its command: ARGS=--json gives JSON lines and nothing else on stdout."""
    text = (ROOT / "Makefile").read_text()
    recipe = text.split("$(addprefix predict-,$(DOMAINS)): predict-%:")[1].split("\n")[1]
    assert recipe.startswith("\t@$(PY) -m pipelines.$* predict")
