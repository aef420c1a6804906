"""Waveform augmentation on the device, vectorised over the batch: time shift, reverberation,
noise mixing (at an amplitude or an SNR) and gain."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from kws_runtime.checks import SettingError, check_number


def crops(
    source: torch.Tensor, rows: torch.Tensor, starts: torch.Tensor, length: int
) -> torch.Tensor:
    """``source[rows[i], starts[i] : starts[i] + length]`` for every i, in one copy.

    The windows of ``source``'s flattened view are selected by row number, which moves whole
    contiguous slices instead of indexing every sample.

    Args:
        source: ``(n, width)``.
        rows: ``(k,)`` row of each window.
        starts: ``(k,)`` first column of each window; ``starts + length <= width``.
        length: samples per window.

    Returns:
        ``(k, length)``.
    """
    windows = source.reshape(-1).unfold(0, length, 1)  # (n * width - length + 1, length), a view
    return windows.index_select(0, rows * source.shape[1] + starts)


#: The loudest noise amplitude (the noisy clip is clamped to [-1, 1]; 10 is far past clipping).
MAX_VOLUME = 10.0
#: The highest sample rate, in Hz.
MAX_SAMPLE_RATE = 384_000
#: The SNRs a range may span, in dB: -30 dB buries a word, 60 dB is a studio.
SNR_DB_LIMITS = (-30.0, 60.0)
#: The gains a range may span, in dB.
GAIN_DB_LIMITS = (-60.0, 30.0)
#: The reverberation times synthesised rooms may have, in seconds: below 0.2 s the largest room
#: cannot be made that dry (absorption past 1), past 1.2 s each room takes seconds to make.
RT60_S_LIMITS = (0.2, 1.2)
#: The most rooms synthesised (about 0.3 s each at a 0.5 s RT60 on one CPU core).
MAX_ROOMS = 10_000


def check_span(key: str, value: object, least: float, most: float) -> tuple[float, float]:
    """A ``[low, high]`` setting as a pair, raising ``SettingError`` naming ``key`` unless it
    is two finite numbers in ``[least, most]`` with ``low <= high``.

    Args:
        key: the setting's config key (``data.augmentation.snr_db``).
        value: the value given.
        least, most: the range both ends must lie in.

    Returns:
        ``(low, high)`` as floats.
    """
    if isinstance(value, str | bytes) or not isinstance(value, Sequence) or len(value) != 2:
        raise SettingError(f"{key} must be [low, high], two numbers, got {value!r}")
    low, high = value
    check_number(key, low, least, most)
    check_number(key, high, least, most)
    if low > high:
        raise SettingError(f"{key} must be [low, high] with low <= high, got {list(value)}")
    return float(low), float(high)


def uniform(span: tuple[float, float], rows: int, device: torch.device) -> torch.Tensor:
    """``(rows, 1)`` draws from U(low, high), from torch's random stream on ``device``.

    Args:
        span: ``(low, high)``.
        rows: how many.
        device: where.
    """
    low, high = span
    return low + torch.rand(rows, 1, device=device) * (high - low)


def convolve_rows(waveforms: torch.Tensor, rirs: torch.Tensor) -> torch.Tensor:
    """Each row convolved with its own impulse response by FFT, cut to the row's length:
    ``out[i, t] = sum_k rirs[i, k] * waveforms[i, t - k]``, the first ``samples`` of the full
    convolution (``scipy.signal.fftconvolve(w, h)[:samples]``), so a response whose direct path
    is at tap 0 moves nothing in time.

    Args:
        waveforms: ``(batch, samples)`` float.
        rirs: ``(batch, taps)`` float; taps past ``samples`` cannot reach the kept output and
            are ignored.

    Returns:
        ``(batch, samples)``, a new tensor.
    """
    samples = waveforms.shape[1]
    rirs = rirs[:, :samples]
    size = 1 << (samples + rirs.shape[1] - 2).bit_length()  # a power of two, no wrap-around
    spectrum = torch.fft.rfft(waveforms, size) * torch.fft.rfft(rirs, size)
    return torch.fft.irfft(spectrum, size)[:, :samples]


@dataclass
class Augmentation:
    """BC-ResNet's training augmentation (Kim et al. 2021, and the official ``utils.py``).

    Every silence clip and a ``noise_prob`` share of the others get a random 1 s crop of a random
    background noise, at amplitude U(0, silence_noise_volume) or U(0, noise_volume); exactly
    those clips are also shifted in time by U(-shift_s, shift_s), zero-filled, and clamped to
    [-1, 1]. The rest come back untouched: no shift, no noise, no clamp.

    What a phone recording adds, each off by default (so the published recipes are BC-ResNet's):
    a ``rir_prob`` share of the non-silence clips is reverberated after the shift (convolved with
    a random room impulse response of the bank, ``kws.data.noise.rir_bank``: direct path at tap
    0, unit energy); with ``snr_db`` the noised non-silence clips get their noise at an SNR drawn
    from U(low, high) dB (signal power over noise power, measured on the one-second clip as it is
    mixed) instead of an amplitude; with ``gain_db`` every clip is scaled by a gain drawn from
    U(low, high) dB last. Reverberated or gained clips are clamped to [-1, 1] too.

    Attributes:
        shift_s: largest time shift, in seconds, 0 to 1 (a longer shift moves a one-second word
            out of its clip, and pads every row by that much).
        noise_prob: share of non-silence clips that get noise (and so a shift), 0 to 1.
        noise_volume: their largest noise amplitude, 0 to ``MAX_VOLUME``.
        silence_noise_volume: silence clips' largest noise amplitude, 0 to ``MAX_VOLUME``.
        sample_rate: of the clips, to convert ``shift_s`` to samples, in Hz; a data module
            sets it to its clips' rate (``for_clips``), so it is not a data setting.
        rir_prob: share of non-silence clips reverberated, 0 to 1; None (default): none, and no
            room impulse responses are read or made.
        rooms: rooms synthesised with pyroomacoustics (``pip install 'kws[rooms]'``) for the
            impulse-response bank, 1 to ``MAX_ROOMS``, beside ``data.rir_dir``'s; None
            (default): none.
        rt60_s: ``[low, high]`` reverberation times of the synthesised rooms, in seconds,
            within ``RT60_S_LIMITS``. Default ``[0.2, 0.8]``.
        snr_db: ``[low, high]`` SNR of the noised non-silence clips, in dB, within
            ``SNR_DB_LIMITS``; None (default): their noise amplitude is U(0, noise_volume).
        gain_db: ``[low, high]`` gain of every clip, in dB, within ``GAIN_DB_LIMITS``; None
            (default): none.

    Raises:
        ValueError: a setting out of range, naming ``data.augmentation.<key>``.
    """

    shift_s: float = 0.1
    noise_prob: float = 0.8
    noise_volume: float = 0.1
    silence_noise_volume: float = 1.0
    sample_rate: int = 16000
    rir_prob: float | None = None
    rooms: int | None = None
    rt60_s: Sequence[float] = (0.2, 0.8)
    snr_db: Sequence[float] | None = None
    gain_db: Sequence[float] | None = None

    def __post_init__(self) -> None:
        key = "data.augmentation."
        check_number(key + "shift_s", self.shift_s, 0.0, 1.0)
        check_number(key + "noise_prob", self.noise_prob, 0.0, 1.0)
        for name in ("noise_volume", "silence_noise_volume"):
            check_number(key + name, getattr(self, name), 0.0, MAX_VOLUME)
        check_number(key + "sample_rate", self.sample_rate, 1, MAX_SAMPLE_RATE, integer=True)
        if self.rir_prob is not None:
            check_number(key + "rir_prob", self.rir_prob, 0.0, 1.0)
        if self.rooms is not None:
            check_number(key + "rooms", self.rooms, 1, MAX_ROOMS, integer=True)
        self.rt60_s = check_span(key + "rt60_s", self.rt60_s, *RT60_S_LIMITS)
        if self.snr_db is not None:
            self.snr_db = check_span(key + "snr_db", self.snr_db, *SNR_DB_LIMITS)
        if self.gain_db is not None:
            self.gain_db = check_span(key + "gain_db", self.gain_db, *GAIN_DB_LIMITS)

    @classmethod
    def for_clips(cls, settings: Mapping[str, Any] | None, sample_rate: int) -> Augmentation:
        """A data module's augmentation: ``data.augmentation``'s settings for clips of
        ``sample_rate`` Hz (the data's ``ClipFormat``, its one owner).

        Args:
            settings: ``data.augmentation``; None: the defaults (BC-ResNet's).
            sample_rate: the clips' rate, in Hz.

        Raises:
            ValueError: ``settings`` names ``sample_rate``, or a setting is out of range.
        """
        settings = dict(settings or {})
        if "sample_rate" in settings:
            raise SettingError(
                "data.augmentation.sample_rate is not a setting: the augmentation works at the "
                f"data's clip rate ({sample_rate} Hz)"
            )
        return cls(**settings, sample_rate=sample_rate)

    @property
    def max_shift(self) -> int:
        """The largest shift, in samples."""
        return int(self.shift_s * self.sample_rate)

    def __call__(
        self,
        waveforms: torch.Tensor,
        noise_bank: torch.Tensor,
        silence: torch.Tensor | None,
        shift_range: tuple[torch.Tensor, torch.Tensor] | None = None,
        rirs: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Augment a batch, drawing from torch's global random stream on its device.

        Args:
            waveforms: ``(batch, samples)`` float clips in [-1, 1].
            noise_bank: ``(files, noise_samples)`` float background noise, at least ``samples``
                long.
            silence: ``(batch,)`` bool, True for silence clips; None when there are none.
            shift_range: ``(lowest, highest)``, each ``(batch,)`` int64 samples: every row is
                shifted by U{lowest..highest} instead of U(-shift_s, shift_s), noised or not
                (rows placed elsewhere in the window, ``kws.data.stream_examples``); None: the
                augmentation's own shift, noised rows only.
            rirs: ``(responses, taps)`` float room impulse responses, on the same device, each
                with its direct path at tap 0 (``kws.data.noise.rir_bank``); needed with
                ``rir_prob``, unused without.

        Returns:
            ``(batch, samples)``, a new tensor.

        Raises:
            ValueError: ``rir_prob`` is set and ``rirs`` is None or empty.
        """
        if self.rir_prob is not None and (rirs is None or not len(rirs)):
            raise ValueError(
                "data.augmentation.rir_prob needs room impulse responses: set data.rir_dir or "
                "data.augmentation.rooms"
            )
        batch, samples = waveforms.shape
        device = waveforms.device
        noised = torch.rand(batch, 1, device=device) < self.noise_prob  # (batch, 1)
        volume = torch.rand(batch, 1, device=device) * self.noise_volume
        if silence is not None:
            silent_volume = torch.rand(batch, 1, device=device) * self.silence_noise_volume
            volume = torch.where(silence[:, None], silent_volume, volume)
            noised |= silence[:, None]

        shifted = waveforms
        max_shift = self.max_shift
        if shift_range is not None:
            lowest, highest = shift_range
            draw = torch.rand(batch, device=device) * (highest - lowest + 1).to(torch.float32)
            shifted = shift_rows(waveforms, lowest + draw.long(), samples)
        elif max_shift > 0:
            shift = torch.randint(-max_shift, max_shift + 1, (batch,), device=device)
            shifted = shift_rows(waveforms, shift, max_shift)

        files = torch.randint(0, noise_bank.shape[0], (batch,), device=device)
        starts = torch.randint(0, noise_bank.shape[1] - samples + 1, (batch,), device=device)
        noise = crops(noise_bank, files, starts, samples)  # (batch, samples)
        if self.rir_prob is None and self.snr_db is None and self.gain_db is None:
            noisy = (shifted + noise.mul_(volume)).clamp_(-1.0, 1.0)  # BC-ResNet's, as it was
            return torch.where(noised, noisy, waveforms if shift_range is None else shifted)

        speech = torch.where(noised, shifted, waveforms) if shift_range is None else shifted
        if self.rir_prob is not None:
            speaking = torch.ones_like(noised) if silence is None else ~silence[:, None]
            reverbed = speaking & (torch.rand(batch, 1, device=device) < self.rir_prob)
            responses = rirs[torch.randint(0, len(rirs), (batch,), device=device)]
            speech = torch.where(reverbed, convolve_rows(speech, responses), speech)
        if self.snr_db is not None:
            power = speech.square().mean(1, keepdim=True)  # (batch, 1)
            noise_power = noise.square().mean(1, keepdim=True).clamp_min(torch.finfo().tiny)
            snr = uniform(self.snr_db, batch, device)
            at_snr = (power / (noise_power * 10.0 ** (snr / 10.0))).sqrt()
            volume = at_snr if silence is None else torch.where(silence[:, None], volume, at_snr)
        mixed = torch.where(noised, speech + noise * volume, speech)
        if self.gain_db is not None:
            mixed = mixed * 10.0 ** (uniform(self.gain_db, batch, device) / 20.0)
        return mixed.clamp_(-1.0, 1.0)


def shift_rows(waveforms: torch.Tensor, shift: torch.Tensor, reach: int) -> torch.Tensor:
    """Each row moved later by its own ``shift`` (earlier when negative), zero-filled:
    ``out[i, t] = waveforms[i, t - shift[i]]``.

    Args:
        waveforms: ``(batch, samples)``.
        shift: ``(batch,)`` int64 samples, each in ``[-reach, reach]``.
        reach: the largest shift either way (a fixed size, so nothing waits for the device).

    Returns:
        ``(batch, samples)``, a new tensor.
    """
    batch, samples = waveforms.shape
    padded = F.pad(waveforms, (reach, reach))  # (batch, samples + 2 * reach)
    rows = torch.arange(batch, device=waveforms.device)
    return crops(padded, rows, reach - shift, samples)
