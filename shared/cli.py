# Over 400 lines: the one command line of every pipeline (options from Config, guarded errors, distribution).
"""Command line shared by every pipeline: `python -m pipelines.<domain> train|evaluate|export|predict [options]`.

Each field of a pipeline's frozen Config becomes an option (`batch_size` -> `--batch-size`), typed from the
annotation; `--quick` applies the pipeline's tiny configuration first, explicit options win over it. Options
that are not Config fields (`--input`, `--model`) are added here or by the pipeline.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import logging
import math
import os
import pathlib
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


def finite_float(text: str) -> float:
    """argparse type: a float that is a number (nan and inf are refused: they train NaN weights silently)."""
    value = float(text)
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


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
    if origin is tuple:  # A,B or the option repeated: --data-dir a --data-dir b
        item = args[0] if args else str
        return {"type": lambda text, item=item: tuple(item(v) for v in text.split(",") if v),
                "action": "extend"}, "A,B,..."
    if annotation is float:
        return {"type": finite_float}, "FLOAT"
    if annotation in (int, str):
        return {"type": annotation}, annotation.__name__.upper()
    raise TypeError(f"Config field type {annotation!r} has no command-line form; use bool, int, float, str or tuple.")


# Descriptions of the options most Configs share; a field's own comment in its Config wins.
COMMON_HELP = {
    "data_dir": "folder of the source's files; empty: $RNN_DATA_DIR/<dataset> where the source needs one",
    "batch_size": "examples per training batch (per replica under --strategy)",
    "epochs": "training epochs, at most (early stopping may end sooner)",
    "learning_rate": "Adam learning rate",
    "seed": "random seed: weights, shuffling, splits and augmentation",
    "run_dir": "run folder: checkpoints, history.csv, TensorBoard logs and the report",
    "jit_compile": "compile the training step with XLA",
}


def field_help(config_cls: type) -> dict[str, str]:
    """Each Config field's description: the comment after it in the class source (or a base class's, for a field
    it inherits), with the comment-only lines that continue it (so it is written once, beside the field), else
    COMMON_HELP's."""
    import inspect
    import re
    import textwrap

    names = {f.name for f in dataclasses.fields(config_cls)}
    found = {}
    for cls in reversed([c for c in config_cls.__mro__ if dataclasses.is_dataclass(c)]):  # a subclass's comment wins
        current = None
        for line in textwrap.dedent(inspect.getsource(cls)).splitlines():
            field = re.match(r"    (\w+)\s*:[^#]*?(?:#\s*(.*))?$", line)
            if field and field.group(1) in names:
                current = field.group(1)
                found[current] = (field.group(2) or "").strip() or found.get(current, "")
                continue
            more = re.match(r"\s+#\s*(.*)$", line)
            if current and more:
                found[current] += " " + more.group(1).strip()
            else:
                current = None
    return {name: found.get(name) or COMMON_HELP.get(name, "") for name in names}


def build_parser(config_cls: type, prog: str, description: str = "") -> argparse.ArgumentParser:
    """An argparse parser with the command, one option per Config field (described by its comment, choices from
    the Config's CHOICES, the default shown once), and --quick/--config/--input/--model."""
    parser = argparse.ArgumentParser(prog=prog, description=description, allow_abbrev=False)
    parser.add_argument("command", choices=COMMANDS,
                        help="; ".join(f"{name}: {text}" for name, text in COMMAND_HELP.items()))
    parser.add_argument("--quick", action="store_true",
                        help="tiny configuration that finishes in seconds (tests, smoke runs)")
    parser.add_argument("--config", metavar="FILE",
                        help="options from a JSON or TOML file of {option: value} (field names, e.g. batch_size), "
                             "or a run's report.json (its config re-runs that run); options given here win")
    parser.add_argument("--restart", action="store_true",
                        help="train: discard an interrupted run's backups in --run-dir and start afresh (without it, "
                             "a rerun resumes where the interrupted one stopped, if its options are the same)")
    parser.add_argument("--input", nargs="+", action="extend",
                        help="predict: the raw inputs (files or values); several may follow one --input")
    parser.add_argument("--json", action="store_true",
                        help="predict: print one JSON object per input instead of text for people")
    parser.add_argument("--model", help="evaluate/predict: a SavedModel version folder (default: the latest)")
    parser.add_argument("--as-version", type=int, metavar="N",
                        help="train/export: export as version N of the model, replacing it (default: the next "
                             "version; 0 is the model shipped inside the project, which any later version supersedes)")
    parser.add_argument("--strategy", default="default", choices=("default", "mirrored", "multiworker"),
                        help="tf.distribute strategy for train/evaluate: mirrored = all local GPUs (else logical "
                             "CPUs), multiworker = the hosts in TF_CONFIG; the batch size is per replica "
                             "(default: default)")
    parser.add_argument("--mixed-precision", default="off", choices=("off", "mixed_float16", "mixed_bfloat16"),
                        help="Keras dtype policy (output layers stay float32); mixed_float16 pays off on GPUs only "
                             "(default: off)")
    defaults, texts = config_cls(), field_help(config_cls)
    hints = typing.get_type_hints(config_cls)
    choices = getattr(config_cls, "CHOICES", {})
    for field in dataclasses.fields(config_cls):
        kwargs, metavar = _option_type(hints[field.name])
        if field.name in choices and kwargs.get("action") == "extend":  # checked item by item (check_choices)
            metavar = "{" + ",".join(choices[field.name]) + "},..."
        elif field.name in choices:
            kwargs["choices"] = list(choices[field.name])
        elif metavar:
            kwargs["metavar"] = metavar
        default = getattr(defaults, field.name)
        shown = ",".join(map(str, default)) if isinstance(default, tuple) else default
        shown = "''" if shown == "" else shown
        text = texts[field.name]
        described = f"{text} (default: {shown})" if text else f"(default: {shown})"
        parser.add_argument(f"--{field.name.replace('_', '-')}", dest=field.name, default=None,
                            help=described.replace("%", "%%"), **kwargs)  # argparse formats help with %
    return parser


def shown(value) -> str:
    """A value as a one-line message shows it: as it is when printable, else as Python writes it (newlines and
    control characters escaped), so a message never breaks over lines."""
    text = ",".join(map(str, value)) if isinstance(value, tuple) else str(value)
    return text if text.isprintable() else repr(text)


def check_choices(cfg) -> None:
    """For a Config's __post_init__: every field named in its CHOICES holds one of the listed values (the command
    line lists the same choices)."""
    for name, allowed in getattr(cfg, "CHOICES", {}).items():
        value = getattr(cfg, name)
        if isinstance(value, tuple):  # a list option: one or more of the choices
            if not value or any(v not in allowed for v in value):
                raise ValueError(f"--{name.replace('_', '-')} {shown(value) or repr('')}: expected one or more of "
                                 f"{list(allowed)}, comma-separated.")
        elif value not in allowed:
            raise ValueError(f"--{name.replace('_', '-')} {value!r}: expected one of {list(allowed)}.")


def expect(cfg, name: str, ok: bool, expected: str) -> None:
    """For a Config's __post_init__: one option's check, whose error names the option, what it received and what
    it expects (`--units 0: expected at least 1.`); one call per field, so each message is about one thing."""
    if not ok:
        raise ValueError(f"--{name.replace('_', '-')} {getattr(cfg, name)!r}: expected {expected}.")


def check_training(cfg, batch: str = "batch_size") -> None:
    """The training options every pipeline Config checks in __post_init__ (once, here): the batch size (or the
    field named `batch`), the epochs and the learning rate, each refused alone with its option named."""
    expect(cfg, batch, getattr(cfg, batch) >= 1, "at least 1")
    expect(cfg, "epochs", cfg.epochs >= 1, "at least 1")
    expect(cfg, "learning_rate", 0 < cfg.learning_rate < float("inf"), "a positive number")  # NaN fails too


def at_least(cfg, minimum: float, *names: str, why: str = "") -> None:
    """`expect` each of `names` >= minimum (`why` is added to the message)."""
    for name in names:
        expect(cfg, name, getattr(cfg, name) >= minimum, f"at least {minimum}{why}")


def read_config_file(path: str, config_cls: type) -> dict:
    """{field: value} from a JSON or TOML file (a report.json's "config" is used when present); unknown names
    and unreadable files raise ValueError naming the file."""
    import json
    import pathlib

    import tomllib

    file = pathlib.Path(path)
    if not file.is_file():
        raise ValueError(f"--config {path}: no such file.")
    try:
        values = tomllib.loads(file.read_text()) if file.suffix == ".toml" else json.loads(file.read_text())
    except (ValueError, UnicodeDecodeError) as error:
        kind = "TOML" if file.suffix == ".toml" else "JSON"
        raise ValueError(f"--config {path}: not valid {kind} ({error}).") from None
    if isinstance(values, dict) and isinstance(values.get("config"), dict):
        values = values["config"]
    if not isinstance(values, dict):
        raise ValueError(f"--config {path}: expected an object of option: value.")
    fields = {f.name: f for f in dataclasses.fields(config_cls)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ValueError(f"--config {path}: unknown options {unknown}; expected Config fields such as "
                         f"{sorted(fields)[:4]}.")
    return {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}


def parse(config_cls: type, argv: list[str] | None, *, prog: str, quick: dict | None = None,
          description: str = "") -> tuple[str, object, argparse.Namespace]:
    """(command, Config, namespace) from argv: defaults, then --quick, then --config FILE, then the options given.
    --quick's generated source gives way to a --data-dir that is given (the tiny model on the data named). A bad
    option or a value the Config rejects exits with a one-line message (argparse's usage error, exit 2)."""
    parser = build_parser(config_cls, prog, description)
    args = parser.parse_args(argv)
    if args.as_version is not None and args.as_version < 0:
        parser.error(f"--as-version {args.as_version}: expected a version number, 0 or more.")
    changes = dict(quick or {}) if args.quick else {}
    if args.quick and getattr(args, "data_dir", None) and getattr(args, "source", None) is None:
        changes.pop("source", None)  # --quick with --data-dir: the data given, in the quick configuration
    try:
        if args.config:
            changes.update(read_config_file(args.config, config_cls))
        changes.update({f.name: tuple(value) if isinstance(value, list) else value
                        for f in dataclasses.fields(config_cls) if (value := getattr(args, f.name)) is not None})
        cfg = dataclasses.replace(config_cls(), **changes)
        check_data_dir(getattr(cfg, "data_dir", ""))
        check_data_dir(getattr(cfg, "test_dir", ""), option="--test-dir")
    except (ValueError, TypeError) as error:
        parser.error(str(error))
    return args.command, cfg, args


def check_data_dir(data_dir: str | tuple[str, ...], option: str = "--data-dir") -> None:
    """A --data-dir that was given (one, or several) must exist: a typo must not fall back to another source (and
    overwrite a run)."""
    for folder in (data_dir,) if isinstance(data_dir, str) else data_dir:
        if folder and not os.path.exists(folder):
            raise ValueError(f"{option} {shown(folder)}: no such file or folder; check the path (or leave {option} "
                             "out for the default).")


def setup_logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")


def run_guarded(command: Callable[[], object]) -> object:
    """Run a CLI command; expected failures (bad input, missing files) become one clear line on stderr and
    exit code 1 instead of a traceback. Set RNN_DEBUG=1 to see the traceback.
    Anything else that escapes (a bug, or a library's error no check foresaw) is one line too, naming its type and
    pointing at RNN_DEBUG=1: a command line never ends in a traceback."""
    try:
        return command()
    except Exception as error:  # noqa: BLE001 - the command line's last word; RNN_DEBUG=1 re-raises
        if os.environ.get("RNN_DEBUG"):
            raise
        expected = isinstance(error, (ValueError, OSError, RuntimeError))
        text = str(error) if expected else f"{type(error).__name__}: {error} (RNN_DEBUG=1 shows where)"
        text = text if len(text) <= 500 else text[:500] + f"... ({len(text)} characters)"  # not a 5 MB input line
        print(f"error: {text}", file=sys.stderr)
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

    from shared import distribution

    keras.mixed_precision.set_dtype_policy("float32" if args.mixed_precision == "off" else args.mixed_precision)
    if command not in ("train", "evaluate") or args.strategy == "default":
        return fn(cfg, args)
    strategy = distribution.get_strategy(args.strategy)
    replicas = strategy.num_replicas_in_sync
    if replicas > 1 and hasattr(cfg, "batch_size"):
        cfg = dataclasses.replace(cfg, batch_size=cfg.batch_size * replicas)
    with strategy.scope():
        chief, task = distribution.worker()
        if not chief and hasattr(cfg, "run_dir"):  # every worker trains; only the chief writes the run folder
            cfg = dataclasses.replace(cfg, run_dir=f"{cfg.run_dir}/worker-{task}")
        logging.getLogger(__name__).info("strategy %s: %d replicas, global batch %s, %s", args.strategy, replicas,
                                         getattr(cfg, "batch_size", "n/a"),
                                         "chief" if chief else f"worker {task} writing to {cfg.run_dir}")
        return fn(cfg, args)


def text_input(value: str) -> str:
    """A text given to predict: `@path` reads the file (UTF-8), anything else is the text itself, so a review in
    review.txt is `--input @review.txt` and never the path's own letters."""
    if not value.strip():
        raise ValueError("--input: the text is empty; give a text (or @file).")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # bytes the shell passed that are not UTF-8 (Python keeps them as surrogates)
        raise ValueError("--input: the text is not valid UTF-8; save it as UTF-8 (or give it as @file).") from None
    if not value.startswith("@"):
        if value.strip() and len(value) < 4096 and not any(c.isspace() for c in value.strip()) \
                and os.path.isfile(value.strip()):
            raise ValueError(f"--input {value}: that is a file's name, not a text; to read the file give "
                             f"@{value.strip()} (or quote a text with spaces).")
        return value
    path = value[1:]
    try:
        with open(path, encoding="utf-8") as file:
            text = file.read()
    except FileNotFoundError:
        raise ValueError(f"--input {value}: no file {path} (a text starting with @ names a file).") from None
    except (UnicodeDecodeError, IsADirectoryError) as error:
        raise ValueError(f"--input {value}: {path} is not a UTF-8 text file ({type(error).__name__}).") from None
    if not text.strip():
        raise ValueError(f"--input {value}: {path} holds no text.")
    return text


def describe(result) -> str:
    """A predict result as text for people: a string as it is; a list item by item; a dict as `key: value`,
    on one line when every value is short and flat, else one line per key (a nested dict as k=v pairs)."""
    if isinstance(result, list):
        return "\n".join(describe(item) for item in result)
    if not isinstance(result, dict):
        return str(result)

    def value(v):
        if isinstance(v, dict):
            return " ".join(f"{k}={value(x)}" for k, x in v.items())
        if isinstance(v, list) and v and all(isinstance(x, dict) for x in v):  # rows: one line each
            return "".join(f"\n  - {value(x)}" for x in v)
        return f"{v:.4g}" if isinstance(v, float) else str(v)
    parts = [f"{k}: {value(v)}" for k, v in result.items()]
    flat = all(not isinstance(v, dict | list) for v in result.values()) and sum(map(len, parts)) < 100
    return "  ".join(parts) if flat else "\n".join(parts)


def predict_each(cfg, args, predict: Callable) -> list:
    """Run a pipeline's predict command once per --input and print each result as it comes (text for people,
    or with --json one JSON object per line, the input included)."""
    import json

    from shared import reports

    results = []
    for given in args.input or [None]:
        result = predict(cfg, argparse.Namespace(**{**vars(args), "input": given}))
        if args.json:
            row = result if isinstance(result, dict) else {"result": result}
            print(json.dumps(reports.plain({"input": given, **row}), ensure_ascii=False), flush=True)
        else:
            print(("" if len(args.input or []) < 2 else f"== {given}\n") + describe(result), flush=True)
        results.append(result)
    return results


@contextlib.contextmanager
def run_lock(run_dir: str):
    """Hold run_dir/.lock (flock, released when the process ends, even by kill -9) while a command writes the run
    folder: a second run in the same folder stops with a clear message instead of corrupting the first."""
    import fcntl

    folder = pathlib.Path(run_dir)
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "a+") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            holder = lock.read().strip() or "another process"
            raise ValueError(f"run folder {run_dir} is in use by a running run ({holder}); wait for it to finish or "
                             "pass another --run-dir.") from None
        lock.truncate(0)
        lock.write(f"pid {os.getpid()}")
        lock.flush()
        yield


def die_with_parent() -> None:
    """With RNN_DIE_WITH_PARENT=1 (the Makefile exports it), this process gets SIGTERM when the process that started
    it dies, even by kill -9 (Linux prctl PR_SET_PDEATHSIG): a trainer whose `make` was killed does not train on and
    export a version nobody asked for. Without it (a shell, a notebook), or off Linux, a no-op."""
    if os.environ.get("RNN_DIE_WITH_PARENT") != "1" or not sys.platform.startswith("linux"):
        return
    import ctypes
    import signal

    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG
    if os.getppid() == 1:  # the parent already died before the call
        os.kill(os.getpid(), signal.SIGTERM)


def main(config_cls: type, argv: list[str] | None, *, prog: str, quick: dict, description: str,
         commands: dict[str, Callable], predict_input: str = "an input") -> object:
    """A pipeline's command line: parse argv into its Config, set up logging, run commands[command](cfg, args)
    guarded (clear one-line errors), log the JSON-able result and return it. train and evaluate hold the run
    folder's lock (not under multiworker, where the workers share one command line). Help, usage errors and a
    predict without input answer before TensorFlow loads."""
    import json

    command, cfg, args = parse(config_cls, argv, prog=prog, quick=quick, description=description)
    if command == "predict" and not args.input:
        print(f"error: predict needs {predict_input} (or --input ...).", file=sys.stderr)
        sys.exit(1)
    from shared.startup import quiet_tensorflow

    quiet_tensorflow()  # the work starts: TensorFlow loads now, without its C++ start-up notices
    logical_cpus_from_env()
    setup_logging()
    die_with_parent()
    log = logging.getLogger(prog.split()[-1])
    if command == "predict":
        each = lambda c, a: predict_each(c, a, commands["predict"])  # noqa: E731
        return run_guarded(lambda: _run_distributed(command, cfg, args, each))
    run_dir = getattr(cfg, "run_dir", "")
    with contextlib.ExitStack() as stack:
        if command in ("train", "evaluate") and run_dir and args.strategy != "multiworker":
            run_guarded(lambda: stack.enter_context(run_lock(run_dir)))
        if command == "train" and args.restart and run_dir:
            from shared import checkpoints

            log.info("--restart: removed %d interrupted-run backups under %s",
                     len(checkpoints.remove_backups(run_dir)), run_dir)
        result = run_guarded(lambda: _run_distributed(command, cfg, args, commands[command]))
    from shared import reports

    log.info("%s: %s", command, json.dumps(reports.rounded(result), default=str))
    return result
