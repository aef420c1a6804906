"""Figures of what a trainable frontend learned, each drawn against its initial basis.

Every figure is a ``matplotlib.figure.Figure`` made without pyplot (no global state, works
headless); the caller renders, saves or logs it (``kws.plotting.images``). ``frontend_figures``
gives every figure that applies to a frontend.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from torch import nn

from kws.data.layout import SAMPLE_RATE
from kws.frontend import (
    DRIFT_LABELS,
    MEL_BASIS_CHANGE,
    MEL_CENTRE_SHIFT_HZ,
    STFT,
    MelSpectrogram,
    drift_of,
    drift_summary,
    hz_to_mel,
    mel_to_hz,
    trainable_parts,
)

#: Kernels drawn in time, by centre frequency: one low, two in the formant range, one high.
KERNEL_FREQUENCIES_HZ = (250.0, 1000.0, 2500.0, 5000.0)
#: Responses are drawn down to this level below the initial kernels' peak; changes, on a scale
#: of their own, down to the second (where there is no change at all).
RESPONSE_FLOOR_DB = -100.0
CHANGE_FLOOR_DB = -300.0

# The initial basis is drawn thin, dashed and on top of the learned one, which is wider and
# solid: where the two coincide the dashes still show, where they part both do.
INITIAL_STYLE = {"color": "tab:red", "linestyle": "--", "linewidth": 0.8, "zorder": 3}
LEARNED_WIDTH = 1.4
# Mel frequency axes are warped like HTK mels, so low filters are as wide on the page as high.
MEL_AXIS_TICKS_HZ = (0, 250, 500, 1000, 2000, 4000, 8000)


def _first(frontend: nn.Module, kind: type[nn.Module]) -> nn.Module | None:
    """The first layer of ``kind`` in ``frontend`` (itself included), or None."""
    return next((m for m in frontend.modules() if isinstance(m, kind)), None)


def _numpy(tensor: torch.Tensor) -> np.ndarray:
    return tensor.detach().float().cpu().numpy()


def _status(trainable: bool, changed: bool) -> str:
    """How a basis stands against its initial one, for titles and legends."""
    if not trainable:
        return "fixed (not trained)"
    return "learned" if changed else "trainable, unchanged from its initial values"


def _htk(convert, values: np.ndarray) -> np.ndarray:
    """``kws.frontend``'s HTK mel conversion applied to a numpy array."""
    return convert(torch.as_tensor(values, dtype=torch.float64), "htk").numpy()


def _mel_warped_axis(axis: Axes, sample_rate: int) -> None:
    """Space a frequency axis in HTK mels while labelling it in Hz."""
    axis.set_xscale(
        "function",
        functions=(
            lambda hz: _htk(hz_to_mel, np.maximum(hz, 0.0)),
            lambda mel: _htk(mel_to_hz, mel),
        ),
    )
    axis.set_xticks([f for f in MEL_AXIS_TICKS_HZ if f <= sample_rate / 2])
    axis.set_xlim(0, sample_rate / 2)


def mel_filterbank_figure(mel: MelSpectrogram) -> Figure:
    """Learned filters under the initial ones (dashed, on top) against frequency, and each
    centre's shift in Hz; a basis equal to its initial one is drawn once, without the shifts.

    Args:
        mel: the Mel layer, its basis against its initial one.
    """
    initial, learned = _numpy(mel.initial_mel_basis), _numpy(mel.filterbank())
    freqs = _numpy(mel.fft_freqs)
    n_mels = len(initial)
    changed = not np.array_equal(initial, learned)
    status = _status(mel.trainable_mel, changed)
    colours = colormaps["viridis"](np.linspace(0.0, 0.9, n_mels))
    if not changed:
        figure = Figure(figsize=(11, 4.5), layout="constrained")
        filters = figure.subplots()
        for i in range(n_mels):
            filters.plot(freqs, learned[i], color=colours[i], linewidth=LEARNED_WIDTH)
        filters.set_title(f"Mel filterbank, {n_mels} filters, {status}")
        filters.set_ylabel("Filter weight (linear)")
        filters.set_xlabel("Frequency (Hz, mel-spaced axis)")
        filters.grid(alpha=0.3)
        _mel_warped_axis(filters, mel.sample_rate)
        return figure

    initial_centres = _numpy(mel.centre_frequencies(mel.initial_mel_basis))
    shift = _numpy(mel.centre_frequencies()) - initial_centres
    figure = Figure(figsize=(11, 7.5), layout="constrained")
    filters, shifts = figure.subplots(2, 1, sharex=True, height_ratios=[2, 1])
    for i in range(n_mels):
        filters.plot(freqs, learned[i], color=colours[i], linewidth=LEARNED_WIDTH)
        filters.plot(freqs, initial[i], **INITIAL_STYLE)
    filters.set_ylabel("Filter weight (linear)")
    filters.set_title(
        f"Mel filterbank, {n_mels} filters: {status} (colour), initial (red, dashed, on top)"
    )
    figure.legend(  # above the axes: in them it would cover the highest filters' peaks
        handles=[
            Line2D([], [], color=colours[n_mels // 2], linewidth=LEARNED_WIDTH, label=status),
            Line2D([], [], **INITIAL_STYLE, label="initial"),
        ],
        loc="outside upper right",
        ncols=2,
    )
    filters.grid(alpha=0.3)

    shifts.axhline(0.0, color="0.3", linewidth=0.8)
    shifts.vlines(initial_centres, 0.0, shift, color=colours, linewidth=2.0)
    shifts.scatter(initial_centres, shift, c=colours, s=18, zorder=3)
    shifts.set_xlabel("Frequency (Hz, mel-spaced axis)")
    shifts.set_ylabel("Centre shift (Hz)")
    shifts.set_title(
        f"Centre-frequency shift of each filter (learned − initial), at its initial centre: "
        f"mean |shift| {np.abs(shift).mean():.3g} Hz, largest {np.abs(shift).max():.3g} Hz",
        wrap=True,
    )
    shifts.grid(alpha=0.3)
    _mel_warped_axis(shifts, mel.sample_rate)
    return figure


def _kernel_bins(stft: STFT, sample_rate: int, frequencies_hz: Sequence[float]) -> list[int]:
    """The STFT bins nearest to ``frequencies_hz``, each once, within the spectrum."""
    bins = {min(round(f * stft.n_fft / sample_rate), stft.n_freqs - 1) for f in frequencies_hz}
    return sorted(bins)


def stft_kernels_figure(
    stft: STFT,
    sample_rate: int = SAMPLE_RATE,
    frequencies_hz: Sequence[float] = KERNEL_FREQUENCIES_HZ,
) -> Figure:
    """A few Fourier kernels in time, real and imaginary parts apart: learned under initial
    (dashed, on top) with the change beside them, or once when they equal their initial ones.

    Args:
        stft: the STFT layer, its kernels against its initial ones.
        sample_rate: of the audio, for the frequency axis. Default 16000.
        frequencies_hz: the kernels drawn, each the bin nearest to one of these frequencies.
            Default ``KERNEL_FREQUENCIES_HZ``.
    """
    initial, learned = _numpy(stft.initial_kernels), _numpy(stft.kernels)
    bins = _kernel_bins(stft, sample_rate, frequencies_hz)
    time_ms = np.arange(stft.win_length) / sample_rate * 1000.0
    changed = not np.array_equal(initial, learned)
    status = _status(stft.trainable, changed)

    columns = 3 if changed else 2
    figure = Figure(figsize=(4.7 * columns, 2.3 * len(bins) + 1.2), layout="constrained")
    axes = figure.subplots(len(bins), columns, sharex=True, squeeze=False)
    for row, k in zip(axes, bins, strict=True):
        rows = (k, stft.n_freqs + k)  # the real and the imaginary kernel of bin k
        for axis, index, part in zip(row[:2], rows, ("real", "imaginary"), strict=True):
            if changed:
                axis.plot(time_ms, initial[index], **INITIAL_STYLE, label="initial")
            axis.plot(time_ms, learned[index], color="tab:blue", linewidth=LEARNED_WIDTH,
                      label=status)  # fmt: skip
            axis.set_title(f"{k * sample_rate / stft.n_fft:.0f} Hz kernel (bin {k}), {part} part")
        row[0].set_ylabel("Weight")
        if changed:
            pair = list(rows)
            pair_change = np.linalg.norm(learned[pair] - initial[pair]) / np.linalg.norm(
                initial[pair]
            )
            row[2].plot(time_ms, learned[rows[0]] - initial[rows[0]], linewidth=0.9, label="real")
            row[2].plot(time_ms, learned[rows[1]] - initial[rows[1]], linewidth=0.9, label="imag.")
            row[2].set_title(f"Change (learned − initial): {100 * pair_change:.2g}% of its norm")
        for axis in row:
            axis.grid(alpha=0.3)
    if changed:
        axes[0, 0].legend(loc="upper right", fontsize="small")
        axes[0, 2].legend(loc="upper right", fontsize="small")
    for axis in axes[-1]:
        axis.set_xlabel("Time within the window (ms)")
    shown = f"{status}: the initial kernels, no change to draw"
    if changed:
        shown = f"{status} (blue), initial (red, dashed, on top)"
    figure.suptitle(
        f"STFT kernels in time, {shown}; "
        f"window {stft.win_length} samples = {1000 * stft.win_length / sample_rate:.0f} ms",
        fontsize="large",
        wrap=True,
    )
    return figure


def kernel_responses(kernels: torch.Tensor, n_fft: int) -> np.ndarray:
    """|FFT| of each kernel pair (real − j·imag): row k is bin k's gain for a tone at each bin.

    Kernel pair k computes ``sum(x * (real + j·imag))``, so its gain for a tone at frequency f
    is the magnitude of the FFT of ``real − j·imag`` at f; ``(n_freqs, n_freqs)``.

    Args:
        kernels: ``(2 * n_freqs, win_length)`` Fourier kernels, real rows then imaginary.
        n_fft: the FFT length the kernels belong to.
    """
    n_freqs = kernels.shape[0] // 2
    real, imag = kernels.detach().double().cpu().split(n_freqs)
    return torch.fft.fft(torch.complex(real, -imag), n=n_fft).abs()[:, :n_freqs].numpy()


def stft_response_figure(stft: STFT, sample_rate: int = SAMPLE_RATE) -> Figure:
    """Heat maps of every kernel's frequency response, initial and learned on one scale, and of
    the change on a scale of its own (the top 60 dB of it), so that a small change still shows.
    Kernels equal to their initial ones are one heat map, said to be fixed or unchanged: there
    is no change to draw.

    Args:
        stft: the STFT layer.
        sample_rate: of the audio, for the frequency axes. Default 16000.
    """
    reference = kernel_responses(stft.initial_kernels, stft.n_fft).max()

    def decibels(kernels: torch.Tensor, floor_db: float = RESPONSE_FLOOR_DB) -> np.ndarray:
        magnitude = kernel_responses(kernels, stft.n_fft) / reference
        return 20 * np.log10(np.maximum(magnitude, 10 ** (floor_db / 20)))

    changed = not torch.equal(stft.kernels, stft.initial_kernels)
    status = _status(stft.trainable, changed)
    full_range = (RESPONSE_FLOOR_DB, 0.0)
    if changed:
        change = decibels(stft.kernels - stft.initial_kernels, floor_db=CHANGE_FLOOR_DB)
        change_top = 10 * np.ceil(change.max() / 10)
        panels = [
            ("Initial kernels", decibels(stft.initial_kernels), full_range),
            (f"Kernels, {status}", decibels(stft.kernels), full_range),
            (f"Change (learned − initial) on its own scale: peak {change.max():.0f} dB",
             change, (change_top - 60, change_top)),
        ]  # fmt: skip
    else:
        panels = [(f"Kernels, {status}: the initial ones", decibels(stft.kernels), full_range)]
    nyquist = sample_rate / 2
    figure = Figure(figsize=(16 if changed else 8, 5.6), layout="constrained")
    axes = figure.subplots(1, len(panels), sharey=True, squeeze=False)[0]
    images = []
    for axis, (title, response_db, (low, high)) in zip(axes, panels, strict=True):
        images.append(
            axis.imshow(
                response_db,
                origin="lower",
                aspect="auto",
                extent=(0, nyquist, 0, nyquist),
                cmap="magma",
                vmin=low,
                vmax=high,
                interpolation="nearest",
            )
        )
        axis.set_title(title)
        axis.set_xlabel("Tone frequency (Hz)")
    axes[0].set_ylabel("Kernel (its initial centre frequency, Hz)")
    label = "|FFT| (dB re. the initial kernels' peak)"
    if changed:  # initial and learned on one scale, the change on its own
        figure.colorbar(images[1], ax=axes[:2], label=label, shrink=0.9)
        figure.colorbar(images[2], ax=axes[2], label=label, shrink=0.9)
    else:
        figure.colorbar(images[0], ax=axes[0], label=label, shrink=0.9)
    figure.suptitle(
        f"STFT kernel frequency responses, all {stft.n_freqs} kernels: a bright diagonal is a "
        "kernel tuned to its own frequency",
        fontsize="large",
        wrap=True,
    )
    return figure


def drift_figure(frontend: nn.Module) -> Figure:
    """Bars of the relative Frobenius change ``‖W − W₀‖ / ‖W₀‖`` of each part of the frontend.

    Args:
        frontend: a frontend that reports its drift (``kws.frontend.drift_of``).
    """
    drift, trainable = drift_of(frontend), trainable_parts(frontend)
    parts = [key for key in trainable if key in drift]
    changes = [100 * float(drift[key]) for key in parts]
    colours = ["tab:blue" if trainable.get(key) else "0.6" for key in parts]

    figure = Figure(figsize=(8, 5), layout="constrained")
    axis = figure.subplots()
    bars = axis.bar([DRIFT_LABELS[key] for key in parts], changes, color=colours, width=0.6)
    notes = [
        f"{change:.3g}%" if trainable.get(key) else "fixed"
        for key, change in zip(parts, changes, strict=True)
    ]
    if MEL_CENTRE_SHIFT_HZ in drift and trainable.get(MEL_BASIS_CHANGE):
        index = parts.index(MEL_BASIS_CHANGE)
        mean_shift = float(drift_summary(drift)[MEL_CENTRE_SHIFT_HZ])
        notes[index] += f"\nmean |centre shift| {mean_shift:.3g} Hz"
    axis.bar_label(bars, notes, padding=3)
    axis.set_ylim(0, 1.3 * max(max(changes), 1e-3))
    axis.set_ylabel("Relative change ‖W − W₀‖ / ‖W₀‖ (%)")
    axis.set_title("Frontend drift from the initial basis (blue: trained, grey: fixed)")
    axis.grid(axis="y", alpha=0.3)
    return figure


def frontend_figures(frontend: nn.Module) -> dict[str, Figure]:
    """Every figure that applies to ``frontend``, by file stem; parts it lacks are skipped, and
    a frontend that reports no drift (any plain ``nn.Module``) gets no drift figure.

    Args:
        frontend: the spotter's frontend.
    """
    mel, stft = _first(frontend, MelSpectrogram), _first(frontend, STFT)
    sample_rate = mel.sample_rate if mel is not None else SAMPLE_RATE  # a bare STFT: 16 kHz
    figures = {}
    if mel is not None:
        figures["mel_filterbank"] = mel_filterbank_figure(mel)
    if stft is not None:
        figures["stft_kernels"] = stft_kernels_figure(stft, sample_rate)
        figures["stft_response"] = stft_response_figure(stft, sample_rate)
    if drift_of(frontend):
        figures["frontend_drift"] = drift_figure(frontend)
    return figures
