"""Figures of a model and of its results, each a ``matplotlib.figure.Figure`` drawn without
pyplot, and their PNG writer.

The frontend's figures and the PNG writer are ``kws.plotting``'s (training's callbacks draw them
too, and training never imports reporting); the confusion matrix is ``confusion``'s.
``python -m kws.reporting.figures CKPT OUT_DIR`` writes the figures of a checkpoint's frontend.
"""

from kws.plotting.frontend import (
    CHANGE_FLOOR_DB,
    KERNEL_FREQUENCIES_HZ,
    RESPONSE_FLOOR_DB,
    drift_figure,
    frontend_figures,
    kernel_responses,
    mel_filterbank_figure,
    stft_kernels_figure,
    stft_response_figure,
)
from kws.plotting.images import DPI, figure_to_rgb, save_figures, save_images
from kws.reporting.figures.confusion import confusion_matrix_figure

__all__ = [
    "CHANGE_FLOOR_DB",
    "DPI",
    "KERNEL_FREQUENCIES_HZ",
    "RESPONSE_FLOOR_DB",
    "confusion_matrix_figure",
    "drift_figure",
    "figure_to_rgb",
    "frontend_figures",
    "kernel_responses",
    "mel_filterbank_figure",
    "save_figures",
    "save_images",
    "stft_kernels_figure",
    "stft_response_figure",
]
