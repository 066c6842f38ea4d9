"""Plots as matplotlib Figures (no pyplot state, no show()): callers save them as PNG or display them.

Notebook:
    fig = plots.history_figure(history.history); fig.savefig("curves.png")
"""

from __future__ import annotations

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure


def _axes(ax: Axes | None, size: tuple[float, float] = (6.0, 4.0)) -> tuple[Figure, Axes]:
    if ax is not None:
        return ax.figure, ax
    fig = Figure(figsize=size, layout="constrained")
    return fig, fig.add_subplot()


def history_figure(history: dict[str, list[float]]) -> Figure:
    """Training curves: one panel per metric, train and validation (`val_` prefix) together, x = epoch."""
    names = [k for k in history if not k.startswith("val_") and k not in ("learning_rate", "epoch")]
    fig = Figure(figsize=(4.5 * max(1, len(names)), 3.5), layout="constrained")
    for i, name in enumerate(names or ["loss"]):
        ax = fig.add_subplot(1, max(1, len(names)), i + 1)
        for key, label in ((name, "train"), (f"val_{name}", "validation")):
            if history.get(key):
                ax.plot(np.arange(1, len(history[key]) + 1), history[key], marker="o", label=label)
        ax.set_xlabel("epoch")
        ax.set_title(name)
        ax.grid(alpha=0.3)
        ax.legend()
    return fig


def confusion_figure(matrix: np.ndarray, labels: list[str], *, ax: Axes | None = None,
                     title: str = "Confusion matrix (rows: true, columns: predicted)") -> Figure:
    """A confusion matrix as a heat map with counts in the cells; colours show the row-normalized rate."""
    matrix = np.asarray(matrix)
    fig, ax = _axes(ax, (1.2 * len(labels) + 2, 1.0 * len(labels) + 1.5))
    rates = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    image = ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    for (i, j), count in np.ndenumerate(matrix):
        ax.text(j, i, f"{count}", ha="center", va="center", color="white" if rates[i, j] > 0.5 else "black")
    ax.set_xticks(range(len(labels)), labels)
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title, fontsize=9)
    fig.colorbar(image, ax=ax, label="fraction of true class")
    return fig
