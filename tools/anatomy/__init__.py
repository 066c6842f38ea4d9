"""RNN anatomy: compare the five RNN types on a pipeline, watch gradients flow back through time, stream with state.

    python -m tools.anatomy compare --domain ecg|sentiment|weather [--quick] [--seeds 1,2] [--epochs N]
    python -m tools.anatomy gradients [--quick] [--steps 50]
    python -m tools.anatomy stream [--quick] [--source seattle|local|jena] [--chunk 30]

(`make compare-ecg`, `make compare-sentiment`, `make compare-weather`, `make gradients`, `make stream`.)

compare: the pipeline's own data, split, model around the RNN, training helper and metric; only the recurrent
    spec changes: simple RNN, LSTM, GRU, bidirectional GRU, stacked GRU (two layers), same units, epochs budget
    (early stopping as in the pipeline) and seeds. Table + plots (metric vs parameters, metric vs time).
gradients: ||dL/dh_t|| for every step t on the adding problem (SimpleRNN, LSTM, GRU; at initialisation and after
    the same training) and on a long window of real weather data; the effect of gradient clipping on a
    SimpleRNN whose recurrent weights make gradients explode.
stream: a unidirectional GRU forecaster trained with truncated BPTT (stateful layers, consecutive chunks),
    then run on the test period chunk by chunk with the state carried (shared.streaming.Streamer), checked
    equal to the whole-sequence run.
"""

from __future__ import annotations

import argparse
import json
import logging

from shared import cli, startup

log = logging.getLogger("anatomy")
DOMAINS = ("ecg", "sentiment", "weather")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tools.anatomy", description=__doc__.split("\n\n")[0], allow_abbrev=False)
    parser.add_argument("command", choices=("compare", "gradients", "stream"))
    parser.add_argument("--domain", choices=DOMAINS, default="ecg", help="compare: which pipeline")
    parser.add_argument("--quick", action="store_true", help="tiny settings that finish in seconds")
    parser.add_argument("--seeds", type=lambda s: tuple(int(v) for v in s.split(",") if v),
                        help="compare: comma-separated seeds (default: 2-3 per domain, 1 with --quick)")
    parser.add_argument("--units", type=int, default=64, help="compare: units per recurrent layer")
    parser.add_argument("--epochs", type=int, help="compare/stream: the epoch budget")
    parser.add_argument("--source", help="compare/stream: the pipeline's data source")
    parser.add_argument("--data-dir", help="compare/stream: the pipeline's data folder")
    parser.add_argument("--batch-size", type=int, help="compare: the pipeline's batch size")
    parser.add_argument("--steps", type=int, default=50, help="gradients: adding-problem length")
    parser.add_argument("--chunk", type=int, default=30, help="stream: truncated-BPTT chunk (rows)")
    parser.add_argument("--run-dir", help="where the report goes")
    return parser


def main(argv: list[str] | None = None) -> dict:
    parser = build_parser()
    args = parser.parse_args(argv)
    cli.setup_logging()
    from shared import reports
    from tools.anatomy.stages import compare, gradients_report, stream

    def command():
        if args.command == "compare":
            if args.units < 1:
                raise ValueError(f"--units {args.units}: expected a positive number.")
            return compare(args.domain, units=8 if args.quick else args.units, seeds=args.seeds, quick=args.quick,
                           run_dir=args.run_dir, epochs=args.epochs, source=args.source, data_dir=args.data_dir,
                           batch_size=args.batch_size)
        if args.command == "gradients":
            return gradients_report(steps=args.steps, quick=args.quick, run_dir=args.run_dir or "runs/gradients")
        return stream(source=args.source or "seattle", data_dir=args.data_dir or "", chunk=args.chunk,
                      epochs=args.epochs or 150, quick=args.quick, run_dir=args.run_dir or "runs/stream")

    result = cli.run_guarded(command)
    log.info("%s: %s", args.command, json.dumps(reports.plain(result), default=str)[:2000])
    return result



__getattr__, __dir__ = startup.later(__name__)
