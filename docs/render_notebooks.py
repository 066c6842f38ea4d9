"""`make render-notebooks`: every notebook of notebooks/ run top to bottom (offline, its QUICK settings, as the test
suite runs it) and saved with its outputs - figures, tables, log lines - in docs/notebooks/, so they show when
browsing the repository. The notebooks themselves stay without outputs (a test checks); a test also checks that
each rendered copy holds the same code as its notebook, so a changed notebook must be rendered again.

    python docs/render_notebooks.py [NAME ...]      (default: every notebook)
"""

from __future__ import annotations

import os
import pathlib
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "notebooks"


NOISE = ("I0000", "E0000", "W0000", "WARNING: All log messages", "To enable the following instructions",
         "WARNING:absl", "INFO:tensorflow")


def _local(text: str, runs: str) -> str:
    """`text` with this machine's folders replaced: the temporary run folder, the checkout, the home folder."""
    return text.replace(runs, "<run folder>").replace(str(ROOT), ".").replace(str(pathlib.Path.home()), "~")


def _quiet(text: str) -> str:
    """A stream output without TensorFlow's C++ notices and progress bars (a page shows their end state: none)."""
    lines = [line for line in text.split("\n") if not line.startswith(NOISE) and "\r" not in line
             and not ("|" in line and ("/s]" in line or "?" in line and "%" in line))
             and "TqdmWarning" not in line and "from .autonotebook import" not in line]
    return "\n".join(lines)


def render(path: pathlib.Path) -> pathlib.Path:
    import nbformat
    from nbclient import NotebookClient

    book = nbformat.read(path, as_version=4)
    with tempfile.TemporaryDirectory() as runs:
        os.environ.update({"RNN_NOTEBOOK_DIR": runs, "MPLBACKEND": "Agg", "TF_CPP_MIN_LOG_LEVEL": "2",
                           "CUDA_VISIBLE_DEVICES": ""})
        NotebookClient(book, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}).execute()
    for cell in book.cells:  # the machine's own folders and TensorFlow's start-up notices do not belong in a page
        outputs = []
        for output in cell.get("outputs", []):
            if "text" in output:
                output["text"] = _quiet(_local(output["text"], runs))
                if not output["text"].strip():
                    continue
            for kind in ("text/plain", "text/html"):  # results shown by repr: paths of run folders among them
                if kind in output.get("data", {}):
                    output["data"][kind] = _local(output["data"][kind], runs)
            outputs.append(output)
        if cell.cell_type == "code":
            cell.outputs = outputs
    OUT.mkdir(parents=True, exist_ok=True)
    out = OUT / path.name
    nbformat.write(book, out)
    return out


def main(names: list[str]) -> None:
    paths = sorted((ROOT / "notebooks").glob("*.ipynb"))
    unknown = sorted(set(names) - {p.stem for p in paths})
    if unknown:
        raise SystemExit(f"error: no notebook {', '.join(unknown)} in notebooks/ (have: "
                         f"{', '.join(p.stem for p in paths)})")
    for path in paths:
        if names and path.stem not in names:
            continue
        start = time.perf_counter()
        out = render(path)
        print(f"{out.relative_to(ROOT)}: {out.stat().st_size / 1024:.0f} KiB in {time.perf_counter() - start:.0f} s",
              flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
