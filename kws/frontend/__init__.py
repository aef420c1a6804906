"""Trainable spectrogram frontends in pure torch: conv1d STFT, Mel filterbank and MFCC layers,
and parametric filterbanks (constrained triangles, Sinc band-passes, LEAF's Gabor filters).

``functional`` holds the pure builders (windows, Fourier kernels, filterbanks, compression),
``protocol`` what a frontend is to the rest of kws (``Frontend``, the drift keys, the
parametric filterbanks' base), ``pcen`` the PCEN compression, and ``stft``, ``mel``, ``mfcc``,
``triangular``, ``sinc`` and ``leaf`` one layer each.
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
from kws.frontend.leaf import LEAF
from kws.frontend.mel import MelSpectrogram
from kws.frontend.mfcc import MFCC
from kws.frontend.pcen import PCEN
from kws.frontend.protocol import (
    DCT_CHANGE,
    DRIFT_LABELS,
    FILTER_CENTRE_SHIFT_HZ,
    FILTERBANK_CHANGE,
    MEL_BASIS_CHANGE,
    MEL_CENTRE_SHIFT_HZ,
    PCEN_CHANGE,
    STFT_KERNEL_CHANGE,
    FilterbankFrontend,
    Frontend,
    drift_of,
    drift_summary,
    filter_centres_of,
    frame_stft_of,
    prepare_export,
    trainable_parts,
)
from kws.frontend.sinc import SincFilterbank
from kws.frontend.stft import STFT
from kws.frontend.triangular import TriangularFilterbank

__all__ = [
    "DCT_CHANGE",
    "DRIFT_LABELS",
    "FILTERBANK_CHANGE",
    "FILTER_CENTRE_SHIFT_HZ",
    "LEAF",
    "MEL_BASIS_CHANGE",
    "MEL_CENTRE_SHIFT_HZ",
    "MFCC",
    "PCEN",
    "PCEN_CHANGE",
    "STFT",
    "STFT_KERNEL_CHANGE",
    "FilterbankFrontend",
    "Frontend",
    "MelSpectrogram",
    "SincFilterbank",
    "TriangularFilterbank",
    "compress",
    "dct_matrix",
    "drift_of",
    "drift_summary",
    "filter_centres_of",
    "frame_stft_of",
    "fourier_kernels",
    "hz_to_mel",
    "make_window",
    "mel_filterbank",
    "mel_to_hz",
    "prepare_export",
    "trainable_parts",
]
