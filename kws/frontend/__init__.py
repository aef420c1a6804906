"""Trainable spectrogram frontends in pure torch: conv1d STFT, Mel filterbank and MFCC layers.

``functional`` holds the pure builders (windows, Fourier kernels, filterbanks, compression),
``protocol`` what a frontend is to the rest of kws (``Frontend``, the drift keys), and
``stft``, ``mel`` and ``mfcc`` one layer each.
"""

from kws.frontend.functional import (
    compress,
    dct_matrix,
    fourier_kernels,
    hz_to_mel,
    make_window,
    mel_filterbank,
    mel_to_hz,
)
from kws.frontend.mel import MelSpectrogram
from kws.frontend.mfcc import MFCC
from kws.frontend.protocol import (
    DCT_CHANGE,
    DRIFT_LABELS,
    MEL_BASIS_CHANGE,
    MEL_CENTRE_SHIFT_HZ,
    STFT_KERNEL_CHANGE,
    Frontend,
    drift_of,
    drift_summary,
    trainable_parts,
)
from kws.frontend.stft import STFT

__all__ = [
    "DCT_CHANGE",
    "DRIFT_LABELS",
    "MEL_BASIS_CHANGE",
    "MEL_CENTRE_SHIFT_HZ",
    "MFCC",
    "STFT",
    "STFT_KERNEL_CHANGE",
    "Frontend",
    "MelSpectrogram",
    "compress",
    "dct_matrix",
    "drift_of",
    "drift_summary",
    "fourier_kernels",
    "hz_to_mel",
    "make_window",
    "mel_filterbank",
    "mel_to_hz",
    "trainable_parts",
]
