"""Run reports: report.md + report.json + PNG figures in the run folder.

Notebook:
    paths = reports.Report(domain="ecg", source="synthetic", metrics={...}, baselines={...}, anchors={...},
                           timing={"train_seconds": 12.0, "samples_per_second": 900.0},
                           figures={"confusion": fig}).write(run_dir)
"""

from __future__ import annotations

import dataclasses
import json
import math
import pathlib
import time

import numpy as np
from matplotlib.figure import Figure

REQUIRED = ("domain", "source", "metrics", "baselines", "anchors", "timing")
MODEL = "model"  # the trained model's row in a pipeline's results; its display name is made where the report is written


def model_name(*described: str) -> str:
    """The trained model's name in a report: "this model (gru:32x2)"."""
    return f"this model ({', '.join(described)})"


def shown(rows: dict, name: str) -> dict:
    """`rows` with the MODEL row under its display `name` (the report's table)."""
    return {(name if key == MODEL else key): value for key, value in rows.items()}


def plain(value):
    """JSON-safe copy: NumPy scalars/arrays to Python, NaN/inf to None."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return plain(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def rounded(value, digits: int = 4):
    """A copy for log lines: floats to `digits` significant digits (45.83333333333333 -> 45.83), the rest as is."""
    if isinstance(value, dict):
        return {k: rounded(v, digits) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [rounded(v, digits) for v in value]
    if isinstance(value, (float, np.floating)) and math.isfinite(value):
        return float(f"{float(value):.{digits}g}")
    return value


def previous(run_dir: str | pathlib.Path) -> dict:
    """The run folder's report.json (written when its checkpoint was trained or last evaluated); {} when none."""
    path = pathlib.Path(run_dir) / "report.json"
    return json.loads(path.read_text()) if path.exists() else {}


def checkpoint_metrics(run_dir: str | pathlib.Path) -> dict:
    """The metrics of the run folder's report, for `export-<domain>` to carry into the SavedModel's metadata; {}
    when the folder has no report."""
    return previous(run_dir).get("metrics") or {}


def _phase(value) -> bool:
    """A timing entry that is a phase of its own ({"seconds": ..., and what it did}): its table row shows the seconds,
    report.json and the pipeline's own section the rest."""
    return isinstance(value, dict) and "seconds" in value


def _cell(value) -> str:
    if isinstance(value, float) and not math.isfinite(value):
        return "-"  # no value (a class with no beat, a ratio of nothing): a dash, never "nan"
    if isinstance(value, float):
        return f"{value:.0f}" if value.is_integer() and 1e4 <= abs(value) < 1e12 else f"{value:.4g}"
    return "" if value is None else str(value)


def notes(lines: list[str]) -> dict[str, str]:
    """A report's "Notes" section from what happened while reading and training: {} when nothing did (no section
    saying "none" that a later line contradicts)."""
    lines = [line for line in lines if line]
    return {"Notes": "\n".join(f"- {line}" for line in lines)} if lines else {}


def table(rows: dict[str, dict], *, first: str = "") -> str:
    """A markdown table: one row per key of `rows`, one column per key seen in any row's dict."""
    columns: list[str] = []
    for row in rows.values():
        columns += [c for c in row if c not in columns]
    lines = [f"| {first} | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
    for name, row in rows.items():
        lines.append(f"| {name} | " + " | ".join(_cell(row.get(c)) for c in columns) + " |")
    return "\n".join(lines)


@dataclasses.dataclass
class Report:
    """A run's report. metrics: {name: value} or {group: {name: value}}; baselines / anchors: {name: {metric: value,
    ...}} (anchors are published figures, with a "source" entry naming the paper); timing: at least train_seconds
    and samples_per_second. `sections` are extra markdown blocks {heading: text}; `extra` more of report.json."""

    domain: str
    source: str
    metrics: dict
    baselines: dict
    anchors: dict
    timing: dict
    figures: dict[str, Figure] = dataclasses.field(default_factory=dict)
    sections: dict[str, str] = dataclasses.field(default_factory=dict)
    extra: dict = dataclasses.field(default_factory=dict)

    def write(self, run_dir: str | pathlib.Path) -> dict[str, pathlib.Path]:
        """report.json, report.md and one PNG per figure in `run_dir`; returns their paths. An empty `timing`
        (`evaluate` re-scoring a checkpoint) keeps the timing of the report it replaces. The training curves that
        shared.training.fit drew in the run folder or its task subfolders are shown."""
        return write(run_dir, self)


def write(run_dir: str | pathlib.Path, report: Report) -> dict[str, pathlib.Path]:
    """Report.write."""
    domain, source, metrics, baselines, anchors, timing = (report.domain, report.source, report.metrics,
                                                           report.baselines, report.anchors, report.timing)
    figures, sections, extra = report.figures, report.sections, report.extra
    run_dir = pathlib.Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    if not timing and (run_dir / "report.json").exists():
        timing = json.loads((run_dir / "report.json").read_text()).get("timing") or {}
    paths: dict[str, pathlib.Path] = {}
    for name, fig in (figures or {}).items():
        paths[name] = run_dir / f"{name}.png"
        fig.savefig(paths[name], dpi=110)
    written = {"domain": domain, "source": source, "metrics": metrics, "baselines": baselines,
               "anchors": anchors, "timing": timing, "figures": {k: p.name for k, p in paths.items()},
               "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **(extra or {})}
    paths["json"] = run_dir / "report.json"
    paths["json"].write_text(json.dumps(plain(written), indent=2) + "\n")

    flat = {k: v for k, v in metrics.items() if not isinstance(v, dict)}
    groups = {k: v for k, v in metrics.items() if isinstance(v, dict)}
    md = [f"# {domain} report", "", f"- data source: **{source}**", f"- created: {written['created']}", ""]
    if flat:
        md += ["## Metrics", "", table({k: {"value": v} for k, v in flat.items()}, first="metric"), ""]
    for group, values in groups.items():
        nested = all(isinstance(v, dict) for v in values.values())
        md += [f"## Metrics: {group}", "", table(values if nested else {group: values}, first=group), ""]
    if baselines:
        md += ["## Baselines (same split)", "", table(baselines, first="model"), ""]
    if anchors:
        md += ["## Published anchors", "", table(anchors, first="reference"), ""]
    md += ["## Timing", "", table({(f"{k}: seconds" if _phase(v) else k): {"value": v["seconds"] if _phase(v) else v}
                                   for k, v in timing.items()}, first="measure"), ""]
    for heading, text in (sections or {}).items():
        md += [f"## {heading}", "", text, ""]
    if any("| - |" in text for text in md):
        md += ["A dash in a table: no value (a class with no beat or no call, a ratio of nothing).", ""]
    pictures = [p.name for p in paths.values() if p.suffix == ".png"]
    curves = [run_dir / "training_curves.png", *sorted(run_dir.glob("*/training_curves.png"))]
    pictures += [p.relative_to(run_dir).as_posix() for p in curves
                 if p.exists() and p.relative_to(run_dir).as_posix() not in pictures]
    md += [f"![{name.removesuffix('.png').replace('/', ' ')}]({name})\n" for name in pictures]
    paths["md"] = run_dir / "report.md"
    paths["md"].write_text("\n".join(md))
    return paths
