"""Figures as pixels and PNG files: ``figure_to_rgb`` for loggers that take images, ``save_figures``
and ``save_images`` for files, each written atomically in 256 colours.

No torch and nothing of kws beyond the atomic writer, so training's callbacks, the reports and
the benchmarks all use it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image

from kws_runtime.io import atomic_write

#: Pixels per inch of figure size, unless a caller asks for another resolution.
DPI = 100
#: The highest figure resolution (a few figures at 1200 dpi are already tens of megapixels).
MAX_DPI = 1200


def figure_to_rgb(figure: Figure, dpi: int = DPI) -> np.ndarray:
    """The figure as an ``(height, width, 3)`` uint8 image, for loggers that take pixels.

    Args:
        figure: the figure.
        dpi: pixels per inch of figure size. Default ``DPI``.
    """
    figure.set_dpi(dpi)
    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


def save_figures(figures: dict[str, Figure], directory: str | Path, dpi: int = DPI) -> list[Path]:
    """Write each figure to ``directory/<name>.png`` (see ``save_images``).

    Args:
        figures: the figures by file stem.
        directory: where they go; made if missing.
        dpi: pixels per inch of figure size.

    Returns:
        The paths written, in the order of ``figures``.
    """
    return save_images({name: figure_to_rgb(f, dpi) for name, f in figures.items()}, directory)


def save_images(images: dict[str, np.ndarray], directory: str | Path) -> list[Path]:
    """Write each image to ``directory/<name>.png`` in 256 colours, atomically.

    256 colours are a third of the size of full colour and the same to the eye, which matters for
    figures written every few epochs and for those kept in the repository. Each file is renamed
    into place when complete, so a killed run leaves the previous file or none, never a torso.

    Args:
        images: ``(H, W, 3)`` uint8 pixels by file stem.
        directory: where they go; made if missing.

    Returns:
        The paths written, in the order of ``images``.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, pixels in images.items():
        path = directory / f"{name}.png"
        image = Image.fromarray(pixels).quantize(256, method=Image.Quantize.MEDIANCUT)
        with atomic_write(path, "wb") as file:
            image.save(file, format="PNG", optimize=True)
        paths.append(path)
    return paths
