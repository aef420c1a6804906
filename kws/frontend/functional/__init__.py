"""Pure tensor functions the frontend layers are built from, and the checks of their settings.

Nothing here holds state: each function maps tensors (or sizes) to tensors, the analytic bases
(Fourier kernels, mel filterbanks, DCT) in float64 so a layer can store them in float32 after
one rounding. The layers in ``stft.py``, ``mel.py`` and ``mfcc.py`` own the trainable copies.

``settings`` holds the settings' types, limits and range checks (every error naming
``frontend.<argument>``), ``fourier`` the windows, Fourier kernels, padding and power,
``compression`` the log and dB, ``filterbanks`` the mel scale and triangular filters, ``dct``
the DCT basis and ``drift`` how far a basis has moved.
"""

from kws.frontend.functional.compression import compress
from kws.frontend.functional.dct import dct_matrix
from kws.frontend.functional.drift import relative_change
from kws.frontend.functional.filterbanks import (
    filter_edges,
    hz_to_mel,
    mel_filterbank,
    mel_to_hz,
    slaney_gains,
)
from kws.frontend.functional.fourier import (
    PAD_MODE_ALIASES,
    PAD_MODES,
    SQRT_EPS,
    PadMode,
    fft_frequencies,
    fourier_kernels,
    make_window,
    pad_both_ends,
    stacked_power,
)
from kws.frontend.functional.settings import (
    FILTER_SCALES,
    KEY,
    MAX_LOG_EPS,
    MAX_N_FFT,
    MAX_SAMPLE_RATE,
    MAX_TOP_DB,
    MEL_SCALES,
    MIN_SAMPLE_RATE,
    FilterScale,
    LogMode,
    MelScale,
    check_band,
    check_framing,
    check_log_eps,
    check_log_mode,
    check_mel_scale,
    top_edge,
)

__all__ = [
    "FILTER_SCALES",
    "KEY",
    "MAX_LOG_EPS",
    "MAX_N_FFT",
    "MAX_SAMPLE_RATE",
    "MAX_TOP_DB",
    "MEL_SCALES",
    "MIN_SAMPLE_RATE",
    "PAD_MODES",
    "PAD_MODE_ALIASES",
    "SQRT_EPS",
    "FilterScale",
    "LogMode",
    "MelScale",
    "PadMode",
    "check_band",
    "check_framing",
    "check_log_eps",
    "check_log_mode",
    "check_mel_scale",
    "compress",
    "dct_matrix",
    "fft_frequencies",
    "filter_edges",
    "fourier_kernels",
    "hz_to_mel",
    "make_window",
    "mel_filterbank",
    "mel_to_hz",
    "pad_both_ends",
    "relative_change",
    "slaney_gains",
    "stacked_power",
    "top_edge",
]
