"""Trainable spectrogram front ends in pure torch: conv1d STFT, Mel filterbank and MFCC."""

from kws.frontend.mel import MelSpectrogram, hz_to_mel, mel_filterbank, mel_to_hz
from kws.frontend.mfcc import MFCC, dct_matrix
from kws.frontend.stft import STFT, compress, drift_summary, fourier_kernels, make_window

__all__ = [
    "MFCC",
    "STFT",
    "compress",
    "MelSpectrogram",
    "dct_matrix",
    "drift_summary",
    "fourier_kernels",
    "hz_to_mel",
    "make_window",
    "mel_filterbank",
    "mel_to_hz",
]
