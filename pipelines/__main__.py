"""`rnn-suite <pipeline> <command> [options]` (the console entry point; also `python -m pipelines ...`):

    rnn-suite ecg train --data-dir $RNN_DATA_DIR/mitdb      (= python -m pipelines.ecg train ...)
    rnn-suite sentiment predict --input "a fine film"
    rnn-suite paired speech --setting "name=--vtlp 0.1"      (the tools: paired, anatomy, bench, serve; python -m tools.paired ...)
"""

from __future__ import annotations

import importlib
import sys

from shared import pipeline

TOOLS = ("paired", "anatomy", "bench", "serve")


def main(argv: list[str] | None = None) -> object:
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__.strip() + f"\n\npipelines: {', '.join(pipeline.PIPELINES)}\ntools: {', '.join(TOOLS)}\n"
              "`rnn-suite <pipeline> --help` lists a pipeline's commands and options.")
        return None
    name, rest = argv[0], argv[1:]
    if name not in pipeline.PIPELINES + TOOLS:
        print(f"error: rnn-suite {name!r}: expected a pipeline ({', '.join(pipeline.PIPELINES)}) or a tool "
              f"({', '.join(TOOLS)}).", file=sys.stderr)
        raise SystemExit(2)
    if name in TOOLS:
        return importlib.import_module(f"tools.{name}").main(rest)
    return pipeline.main(importlib.import_module(f"pipelines.{name}"), rest)


if __name__ == "__main__":
    main()
