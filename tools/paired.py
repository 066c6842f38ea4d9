"""Paired comparison of settings on a pipeline's own grouped cross-validation, over several seeds.

    python -m tools.paired speech --base "--data-dir $RNN_DATA_DIR/fsdd" --seeds 1337,1 \\
        --setting "no eSpeak voices=--synthetic-mix 0" --setting "peak scaling=--normalize peak" --metric accuracy

(`make paired DOMAIN=speech ARGS='...'`.) With few groups (FSDD's four speakers, DS1's records) one fold swings a
mean by more than most changes are worth, so a change is judged fold by fold: every setting runs the pipeline's
`cross_validate` on the same folds (fixed by the pipeline, never by the seed) under each seed, and each (seed,
fold) pair is compared with the reference (the pipeline's defaults plus --base). A setting is **kept** only when it
wins on most pairs and on average; the report gives per setting the mean and sd over seeds x folds, the worst
fold (averaged over seeds) and the wins. A finished cross-validation is read back on a rerun (each setting and
seed has its own run folder), so a stopped comparison resumes.

The pipeline's cross_validate must return {"folds": [{metric: value, ...}, ...]}, one row per fold, the same
folds in the same order for every seed. When it also returns "outputs" ([per fold: {metric: (labels,
probabilities)}], as speech does), the report adds each setting's models averaged over the seeds (model
averaging: the accuracy of the mean probabilities, fold by fold).
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import importlib.util
import json
import logging
import pathlib
import shlex
import sys
import time

import numpy as np

from shared import cli, reports

log = logging.getLogger("paired")
REFERENCE = "reference (defaults)"
GROUP_FIELDS = ("speakers", "records")  # a fold row's held-out groups: rows are paired by them, not by position


def parse_setting(text: str) -> tuple[str, list[str]]:
    """'name=--option value ...' -> (name, option words)."""
    name, sep, options = text.partition("=")
    if not sep or not name.strip():
        raise ValueError(f"--setting {text!r}: expected NAME=OPTIONS, e.g. 'no eSpeak=--synthetic-mix 0'.")
    return name.strip(), shlex.split(options)


def config_of(module, words: list[str]):
    """The pipeline's Config from command-line option words (the pipeline's own parser and checks)."""
    return cli.parse(module.Config, ["train", *words], prog=f"paired {module.NAME}")[1]


def compare_pairs(scores: dict[str, np.ndarray], reference: str = REFERENCE, higher_better: bool = True) -> dict:
    """scores: {setting: array (seeds, folds)} of one metric, the same seeds and folds in every row. Per setting:
    mean and sd over all (seed, fold) cells, the worst fold (each fold averaged over the seeds), and against the
    reference the mean paired difference (setting - reference), wins / losses / ties over the pairs and whether it
    is kept: more wins than half the pairs, and a mean difference in its favour."""
    base = np.asarray(scores[reference], dtype=float)
    out = {}
    for name, values in scores.items():
        values = np.asarray(values, dtype=float)
        if values.shape != base.shape:
            raise ValueError(f"setting {name!r}: {values.shape} seeds x folds, the reference has {base.shape}.")
        by_fold = values.mean(axis=0)
        row = {"mean": float(values.mean()), "sd": float(values.std(ddof=1)) if values.size > 1 else 0.0,
               "worst fold": float(by_fold.min() if higher_better else by_fold.max()),
               "seed means": [float(v) for v in values.mean(axis=1)]}
        if name != reference:
            gain = (values - base) * (1 if higher_better else -1)
            wins, losses = int((gain > 0).sum()), int((gain < 0).sum())
            row.update({"mean difference": float((values - base).mean()), "wins": wins, "losses": losses,
                        "pairs": int(gain.size), "kept": bool(wins > gain.size / 2 and gain.mean() > 0)})
        out[name] = row
    return out


def aligned(folds: list[dict], reference: list[dict]) -> list[int]:
    """The positions of `folds` in the order of `reference`'s rows, matched by their held-out groups (GROUP_FIELDS),
    so a (seed, fold) pair compares the same held-out speakers or records whatever order a seed gave the folds.
    Rows without a group field keep their order; groups that differ from the reference's are refused."""
    field = next((f for f in GROUP_FIELDS if f in reference[0]), None) if reference else None
    if field is None:
        return list(range(len(folds)))
    key = lambda row: json.dumps(row[field], sort_keys=True)  # noqa: E731
    where = {key(row): i for i, row in enumerate(folds)}
    missing = [key(row) for row in reference if key(row) not in where]
    if missing or len(where) != len(reference):
        raise ValueError(f"the folds hold other {field} than the reference's ({missing[:3]}); a paired comparison "
                         "needs the same folds for every setting and seed.")
    return [where[key(row)] for row in reference]


def averaged_accuracy(runs: list[list[tuple]]) -> list[float]:
    """runs: per seed, per fold (labels, probabilities (items, classes)) -> per fold the accuracy (%) of the
    probabilities averaged over the seeds."""
    out = []
    for folds in zip(*runs, strict=True):
        labels = np.asarray(folds[0][0])
        mean = np.mean([np.asarray(p, dtype=float) for _, p in folds], axis=0)
        out.append(100 * float(np.mean(mean.argmax(axis=-1) == labels)))
    return out


def difference_figure(scores: dict[str, np.ndarray], metric: str, reference: str = REFERENCE):
    """Per setting, every (seed, fold) difference from the reference as a dot, the mean as a bar."""
    from matplotlib.figure import Figure

    others = [n for n in scores if n != reference]
    fig = Figure(figsize=(7, 0.6 * len(others) + 1.6))
    ax = fig.add_subplot()
    for i, name in enumerate(others):
        diff = (np.asarray(scores[name]) - np.asarray(scores[reference])).ravel()
        ax.barh(i, diff.mean(), color="tab:blue", alpha=0.3)
        ax.scatter(diff, np.full(diff.shape, i), color="tab:blue", s=14)
    ax.axvline(0, color="black", lw=0.8)
    ax.set_yticks(range(len(others)), others)
    ax.set_xlabel(f"{metric}: setting - reference, per seed and fold")
    fig.tight_layout()
    return fig


def run(domain: str, settings: list[tuple[str, list[str]]], seeds: list[int], metrics: list[str],
        base: list[str] | None = None, run_dir: str | None = None, higher_better: bool = True) -> dict:
    """Every setting (the reference first) x seed through the pipeline's cross_validate; the report in run_dir."""
    start = time.perf_counter()
    if not domain.isidentifier() or importlib.util.find_spec(f"pipelines.{domain}") is None:
        raise ValueError(f"no pipeline {domain!r}; paired comparisons run on a pipeline with grouped folds: speech, ecg.")
    module = importlib.import_module(f"pipelines.{domain}")
    if not hasattr(module, "cross_validate"):
        raise ValueError(f"pipeline {domain!r} has no cross_validate; paired comparisons need grouped folds.")
    run_dir = pathlib.Path(run_dir or f"runs/paired-{domain}")
    every = [(REFERENCE, [])] + settings
    configs = {name: config_of(module, [*(base or []), *words]) for name, words in every}  # all checked before training
    rows, outputs, source = cross_validations(module, configs, seeds, metrics, run_dir)
    results, figures = {}, {}
    for metric in metrics:
        scores = {name: np.array([[fold[metric] for fold in per_seed] for per_seed in runs])
                  for name, runs in rows.items()}
        results[metric] = compare_pairs(scores, higher_better=higher_better)
        for name, runs in outputs.items():
            if len(seeds) > 1 and all(r and metric in r[0] for r in runs):
                averaged = averaged_accuracy([[fold[metric] for fold in r] for r in runs])
                results[metric][name]["seeds averaged"] = {"mean": float(np.mean(averaged)),
                                                           "worst fold": float(np.min(averaged)),
                                                           "folds": averaged}
        figures[f"paired_{metric}".replace(" ", "_").replace(":", "")] = difference_figure(scores, metric)
    options = {name: " ".join(words) or "(the pipeline's defaults)" for name, words in every}
    headline = {metric: {name: reports.rounded(r["mean"], 2) for name, r in table.items()}
                for metric, table in results.items()}
    reports.Report(domain=f"paired-{domain}", source=source, metrics=headline, baselines={}, anchors={},
                       timing={"run_seconds": round(time.perf_counter() - start, 1), "train_seconds": None,
                               "samples_per_second": None},
                       figures=figures, sections=report_sections(domain, results, options, seeds, base or [],
                                                                 len(next(iter(rows.values()))[0])),
                       extra={"results": results, "folds": rows, "settings": options, "seeds": seeds}).write(run_dir)
    return results


def cross_validations(module, configs: dict, seeds: list[int], metrics: list[str], run_dir: pathlib.Path) -> tuple:
    """(fold rows per setting and seed, aligned with the reference's folds; the folds' outputs; the data source) of
    every setting's cross-validation under every seed; folds that differ between runs are refused."""
    rows: dict[str, list[list[dict]]] = {}
    outputs: dict[str, list] = {}
    folds_of, source = None, ""
    for name, config in configs.items():
        for seed in seeds:
            folder = run_dir / f"{name.replace(' ', '_').replace('/', '_')}-seed{seed}"
            cfg = dataclasses.replace(config, seed=seed, run_dir=str(folder))
            data = module.load_data(cfg)
            source = getattr(data, "source", source)
            cv = module.cross_validate(cfg, data)
            order = aligned(cv["folds"], rows[REFERENCE][0] if rows else cv["folds"])
            rows.setdefault(name, []).append([cv["folds"][i] for i in order])
            outputs.setdefault(name, []).append([cv["outputs"][i] for i in order] if cv.get("outputs") else None)
            log.info("%s, seed %d: %s", name, seed, json.dumps(
                {m: [reports.rounded(f.get(m)) for f in cv["folds"]] for m in metrics}))
            if folds_of is None:
                folds_of = len(cv["folds"])
            elif len(cv["folds"]) != folds_of:
                raise ValueError(f"{name}, seed {seed}: {len(cv['folds'])} folds, the first run had {folds_of}; "
                                 "the folds must be the same for every setting and seed.")
    return rows, outputs, source


def report_sections(domain: str, results: dict, options: dict, seeds: list[int], base: list[str],
                    folds: int) -> dict[str, str]:
    """The report's protocol, settings and one paired table per metric."""
    sections = {"Protocol": (
        f"The pipeline's own grouped cross-validation (`pipelines.{domain}.cross_validate`: {folds} folds, the same "
        f"for every setting and seed), seeds {', '.join(map(str, seeds))}; base options `{' '.join(base) or 'none'}`. "
        "Each setting is compared with the reference pair by pair (same seed, same fold); **kept** = it wins on "
        "more than half of the pairs and on average."),
        "Settings": "\n".join(f"- **{name}**: `{words}`" for name, words in options.items())}
    for metric, table in results.items():
        lines = ["| setting | mean +- sd | worst fold | per seed | difference | wins / losses of pairs | kept |",
                 "|---|---:|---:|---|---:|---:|---|"]
        for name, r in table.items():
            seeds_text = ", ".join(f"{v:.1f}" for v in r["seed means"])
            if name == REFERENCE:
                lines.append(f"| {name} | {r['mean']:.1f} +- {r['sd']:.1f} | {r['worst fold']:.1f} | {seeds_text} | "
                             "- | - | - |")
            else:
                lines.append(f"| {name} | {r['mean']:.1f} +- {r['sd']:.1f} | {r['worst fold']:.1f} | {seeds_text} | "
                             f"{r['mean difference']:+.1f} | {r['wins']} / {r['losses']} of {r['pairs']} | "
                             f"{'**yes**' if r['kept'] else 'no'} |")
        averaged = {n: r["seeds averaged"] for n, r in table.items() if "seeds averaged" in r}
        if averaged:
            lines += ["", f"Each setting's {len(seeds)} models (one per seed) averaged, fold by fold (the mean of their "
                      "probabilities):", "", "| setting | averaged: mean | worst fold | single model: mean |",
                      "|---|---:|---:|---:|",
                      *[f"| {n} | {a['mean']:.1f} | {a['worst fold']:.1f} | {table[n]['mean']:.1f} |"
                        for n, a in averaged.items()]]
        sections[f"Paired: {metric}"] = "\n".join(lines)
    return sections


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tools.paired", allow_abbrev=False,
                                     description="Paired comparison of settings on a pipeline's grouped "
                                                 "cross-validation over several seeds.")
    parser.add_argument("domain", help="a pipeline with cross_validate: speech or ecg")
    parser.add_argument("--setting", action="append", default=[], metavar="NAME=OPTIONS",
                        help="a setting to compare with the reference, e.g. 'no eSpeak=--synthetic-mix 0' (repeat)")
    parser.add_argument("--base", default="", help="options for every run, the reference included "
                                                   "(e.g. '--data-dir $RNN_DATA_DIR/fsdd')")
    parser.add_argument("--seeds", default="1337,1", help="comma-separated seeds (default: 1337,1)")
    parser.add_argument("--metric", action="append", default=[],
                        help="a per-fold metric of cross_validate's rows (repeat; default: accuracy)")
    parser.add_argument("--lower-better", action="store_true", help="the metrics are errors (lower wins)")
    parser.add_argument("--run-dir", default=None, help="default runs/paired-<domain>")
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    cli.setup_logging()

    def command():
        seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
        if not seeds or not args.setting:
            raise ValueError("need --seeds and at least one --setting NAME=OPTIONS.")
        results = run(args.domain, [parse_setting(s) for s in args.setting], seeds, args.metric or ["accuracy"],
                      shlex.split(args.base), args.run_dir, higher_better=not args.lower_better)
        print(json.dumps({m: {n: {k: reports.rounded(v) for k, v in r.items() if k != "seed means"}
                              for n, r in t.items()} for m, t in results.items()}, indent=1))
    cli.run_guarded(command)


if __name__ == "__main__":
    main(sys.argv[1:])
