"""Command line shared by every pipeline: `python -m pipelines.<domain> train|evaluate|export|predict [options]`.

Each field of a pipeline's frozen Config becomes an option (`batch_size` -> `--batch-size`), typed from the
annotation; `--quick` applies the pipeline's tiny configuration first, explicit options win over it. Options
that are not Config fields (`--input`, `--model`) are added here or by the pipeline.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import sys
import typing
from collections.abc import Callable

COMMANDS = ("train", "evaluate", "export", "predict")
COMMAND_HELP = {
    "train": "train, evaluate on the test split, write the report and export a SavedModel (one go)",
    "evaluate": "evaluate the run folder's best checkpoint on the test split and rewrite the report",
    "export": "export the run folder's best checkpoint as a new SavedModel version",
    "predict": "run the latest exported SavedModel on new raw input (--input)",
}


def _option_type(annotation) -> tuple[dict, str]:
    """argparse keywords for a Config field type."""
    origin = typing.get_origin(annotation)
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if origin is typing.Union or (origin is not None and type(None) in typing.get_args(annotation)):
        annotation = args[0]  # Optional[X] -> X
        origin = typing.get_origin(annotation)
        args = list(typing.get_args(annotation))
    if annotation is bool:
        return {"action": argparse.BooleanOptionalAction}, ""
    if origin is tuple:
        item = args[0] if args else str
        return {"type": lambda text, item=item: tuple(item(v) for v in text.split(",") if v)}, "A,B,..."
    if annotation in (int, float, str):
        return {"type": annotation}, annotation.__name__.upper()
    raise TypeError(f"Config field type {annotation!r} has no command-line form; use bool, int, float, str or tuple.")


def build_parser(config_cls: type, prog: str, description: str = "") -> argparse.ArgumentParser:
    """An argparse parser with the command, one option per Config field, and --quick/--input/--model."""
    parser = argparse.ArgumentParser(prog=prog, description=description,
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("command", choices=COMMANDS,
                        help="; ".join(f"{name}: {text}" for name, text in COMMAND_HELP.items()))
    parser.add_argument("--quick", action="store_true",
                        help="tiny configuration that finishes in seconds (tests, smoke runs)")
    parser.add_argument("--input", help="predict: the raw input to classify (a file or a value)")
    parser.add_argument("--model", help="evaluate/predict: a SavedModel version folder (default: the latest)")
    parser.add_argument("--strategy", default="default", choices=("default", "mirrored", "multiworker"),
                        help="tf.distribute strategy for train/evaluate: mirrored = all local GPUs (else logical "
                             "CPUs), multiworker = the hosts in TF_CONFIG; the batch size is per replica")
    parser.add_argument("--mixed-precision", default="off", choices=("off", "mixed_float16", "mixed_bfloat16"),
                        help="Keras dtype policy (output layers stay float32); mixed_float16 pays off on GPUs only")
    defaults = config_cls()
    hints = typing.get_type_hints(config_cls)
    for field in dataclasses.fields(config_cls):
        kwargs, metavar = _option_type(hints[field.name])
        if metavar:
            kwargs["metavar"] = metavar
        default = getattr(defaults, field.name)
        shown = ",".join(map(str, default)) if isinstance(default, tuple) else default
        parser.add_argument(f"--{field.name.replace('_', '-')}", dest=field.name, default=None,
                            help=f"(default: {shown})", **kwargs)
    return parser


def parse(config_cls: type, argv: list[str] | None, *, prog: str, quick: dict | None = None,
          description: str = "") -> tuple[str, object, argparse.Namespace]:
    """(command, Config, namespace) from argv; a bad option or a value the Config rejects exits with a
    one-line message (argparse's usage error, exit code 2)."""
    parser = build_parser(config_cls, prog, description)
    args = parser.parse_args(argv)
    changes = dict(quick or {}) if args.quick else {}
    changes.update({f.name: getattr(args, f.name) for f in dataclasses.fields(config_cls)
                    if getattr(args, f.name) is not None})
    try:
        cfg = dataclasses.replace(config_cls(), **changes)
    except (ValueError, TypeError) as error:
        parser.error(str(error))
    return args.command, cfg, args


def setup_logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")


def run_guarded(command: Callable[[], object]) -> object:
    """Run a CLI command; expected failures (bad input, missing files) become one clear line on stderr and
    exit code 1 instead of a traceback. Set RNN_DEBUG=1 to see the traceback."""
    try:
        return command()
    except (ValueError, FileNotFoundError, NotADirectoryError, PermissionError, RuntimeError) as error:
        if os.environ.get("RNN_DEBUG"):
            raise
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)


def logical_cpus_from_env() -> None:
    """RNN_LOGICAL_CPUS=N splits the CPU into N logical devices (before TensorFlow starts), so MirroredStrategy
    can be exercised without GPUs."""
    count = int(os.environ.get("RNN_LOGICAL_CPUS", "0") or 0)
    if count > 1:
        import tensorflow as tf

        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * count)


def _run_distributed(command: str, cfg, args, fn: Callable) -> object:
    """Run a command under the chosen dtype policy and tf.distribute strategy. Under several replicas the
    configured batch size is per replica: the global batch is batch_size x replicas (tf.data splits each global
    batch across replicas; across workers the input is auto-sharded by data). Under multiworker only the chief
    writes the run folder and saved_models/; worker i writes to <run_dir>/worker-i and a temporary export."""
    import keras

    from shared import training

    keras.mixed_precision.set_dtype_policy("float32" if args.mixed_precision == "off" else args.mixed_precision)
    if command not in ("train", "evaluate") or args.strategy == "default":
        return fn(cfg, args)
    strategy = training.get_strategy(args.strategy)
    replicas = strategy.num_replicas_in_sync
    if replicas > 1 and hasattr(cfg, "batch_size"):
        cfg = dataclasses.replace(cfg, batch_size=cfg.batch_size * replicas)
    with strategy.scope():
        chief, task = training.worker()
        if not chief and hasattr(cfg, "run_dir"):  # every worker trains; only the chief writes the run folder
            cfg = dataclasses.replace(cfg, run_dir=f"{cfg.run_dir}/worker-{task}")
        logging.getLogger(__name__).info("strategy %s: %d replicas, global batch %s, %s", args.strategy, replicas,
                                         getattr(cfg, "batch_size", "n/a"),
                                         "chief" if chief else f"worker {task} writing to {cfg.run_dir}")
        return fn(cfg, args)


def main(config_cls: type, argv: list[str] | None, *, prog: str, quick: dict, description: str,
         commands: dict[str, Callable]) -> object:
    """A pipeline's command line: parse argv into its Config, set up logging, run commands[command](cfg, args)
    guarded (clear one-line errors), log the JSON-able result and return it."""
    import json

    logical_cpus_from_env()
    command, cfg, args = parse(config_cls, argv, prog=prog, quick=quick, description=description)
    setup_logging()
    result = run_guarded(lambda: _run_distributed(command, cfg, args, commands[command]))
    logging.getLogger(prog.split()[-1]).info("%s: %s", command, json.dumps(result, default=str))
    return result
