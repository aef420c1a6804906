"""Noise for the synthetic recordings: Gaussian noise shaped in frequency (room noise, fricatives,
bursts), and stand-ins for Speech Commands' ``_background_noise_`` recordings."""

from __future__ import annotations

import numpy as np

from kws.data.layout import SAMPLE_RATE

#: The ``_background_noise_`` files of a generated tree.
NOISE_FILES = (
    "exercise_bike.wav",
    "pink_noise.wav",
    "running_tap.wav",
    "white_noise.wav",
)
_NOISE_SECONDS = 10.0


def shaped_noise(
    rng: np.random.Generator,
    n: int,
    exponent: float = 0.0,
    band: tuple[float, float] | None = None,
) -> np.ndarray:
    """Unit-RMS Gaussian noise, shaped in the frequency domain: power ~ 1/f**exponent (0 white,
    1 pink, 2 brown), times a Gaussian ``band`` if given.

    Args:
        rng: draws the noise.
        n: samples.
        exponent: the power's slope. Default 0 (white).
        band: ``(centre, standard deviation)`` in Hz; None (default): no band.

    Returns:
        ``(n,)`` float64.
    """
    freqs = np.fft.rfftfreq(n, 1.0 / SAMPLE_RATE)
    shape = np.maximum(freqs, 20.0) ** (-exponent / 2)
    if band is not None:
        shape = shape * np.exp(-0.5 * ((freqs - band[0]) / band[1]) ** 2)
    spec = (rng.standard_normal(len(freqs)) + 1j * rng.standard_normal(len(freqs))) * shape
    x = np.fft.irfft(spec, n)
    return x / (np.sqrt(np.mean(x**2)) + 1e-12)


def noise_file(rng: np.random.Generator, name: str) -> np.ndarray:
    """Ten seconds of one background-noise recording's stand-in, as int16.

    Args:
        rng: draws the noise.
        name: one of ``NOISE_FILES``; the sound follows the name (an unknown one: the bike).
    """
    n = int(_NOISE_SECONDS * SAMPLE_RATE)
    t = np.arange(n) / SAMPLE_RATE
    if name == "white_noise.wav":
        x = shaped_noise(rng, n)
    elif name == "pink_noise.wav":
        x = shaped_noise(rng, n, exponent=1.0)
    elif name == "running_tap.wav":  # splashing water: a broad band fluttering a few times/s
        knots = np.arange(0.0, _NOISE_SECONDS + 0.2, 0.12)
        flutter = np.interp(t, knots, rng.uniform(0.4, 1.0, len(knots)))
        x = shaped_noise(rng, n, band=(2500.0, 1500.0)) * flutter
    else:  # exercise bike: rumbling brown noise pulsing with the pedals, plus a whine
        pedal = 1 + 0.7 * np.sin(2 * np.pi * 1.3 * t)
        whine = np.sin(2 * np.pi * 180 * t + 3 * np.sin(2 * np.pi * 1.3 * t))
        x = shaped_noise(rng, n, exponent=2.0) * pedal + 0.3 * whine * pedal
    x = 0.25 * x / np.abs(x).max()
    return np.round(x * 32767).astype(np.int16)
