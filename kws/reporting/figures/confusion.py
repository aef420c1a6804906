"""The confusion matrix of a pass over a split, as a figure (``evaluate.py`` writes it)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure


def confusion_matrix_figure(matrix: np.ndarray, class_names: Sequence[str], title: str) -> Figure:
    """Counts per (true, predicted) class, coloured by the fraction of the true class.

    Args:
        matrix: ``(classes, classes)`` counts, rows true, columns predicted.
        class_names: one name per row.
        title: the figure's title, wrapped to the figure's width.
    """
    n = len(class_names)
    fractions = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    side = max(6.0, 0.55 * n + 2.5)
    figure = Figure(figsize=(side + 1.5, side), layout="constrained")
    axis = figure.subplots()
    image = axis.imshow(fractions, cmap="Blues", vmin=0.0, vmax=1.0)
    if n <= 40:
        for (true, predicted), count in np.ndenumerate(matrix):
            if count:
                colour = "white" if fractions[true, predicted] > 0.6 else "black"
                axis.text(predicted, true, str(count), ha="center", va="center", color=colour,
                          fontsize="small" if n > 15 else "medium")  # fmt: skip
    axis.set_xticks(range(n), class_names, rotation=45, ha="right")
    axis.set_yticks(range(n), class_names)
    axis.set_xlabel("Predicted class")
    axis.set_ylabel("True class")
    # Over the whole figure, broken into lines that fit it: a long title over a small matrix
    # would otherwise run off both sides of the canvas.
    figure.suptitle(title, wrap=True)
    figure.colorbar(image, ax=axis, label="Fraction of the true class's clips", shrink=0.8)
    return figure
