"""The parametric filterbanks (triangular, Sinc, LEAF's Gabor) and PCEN against closed forms,
scipy and librosa, against the time-domain filtering they stand for, and under hard training."""

from __future__ import annotations

import math
import subprocess
import sys
from collections.abc import Iterator

import librosa
import numpy as np
import pytest
import scipy.signal
import torch
from test_frontend import speech_like

from kws.frontend import (
    DRIFT_LABELS,
    FILTER_CENTRE_SHIFT_HZ,
    FILTERBANK_CHANGE,
    LEAF,
    MEL_BASIS_CHANGE,
    MEL_CENTRE_SHIFT_HZ,
    PCEN,
    PCEN_CHANGE,
    STFT_KERNEL_CHANGE,
    MelSpectrogram,
    SincFilterbank,
    TriangularFilterbank,
    drift_of,
    filter_centres_of,
    mel_filterbank,
    trainable_parts,
)
from kws.frontend.pcen import pcen

SR, N_FFT, HOP = 16000, 512, 160
FRONTENDS = (TriangularFilterbank, SincFilterbank, LEAF)


@pytest.fixture(scope="module")
def audio() -> np.ndarray:
    return speech_like(1.0)


def padded_frames(x: np.ndarray) -> tuple[np.ndarray, int]:
    """``x`` reflect-padded by ``n_fft // 2`` at both ends, as the layers pad, and its frames."""
    padded = np.pad(x.astype(np.float64), N_FFT // 2, mode="reflect")
    return padded, 1 + (padded.size - N_FFT) // HOP


def pooled_energy(filtered: np.ndarray, pooling: np.ndarray, frames: int) -> np.ndarray:
    """``sum_m pooling[m] |filtered[t * hop + m]|^2`` for each frame ``t``."""
    power = np.abs(filtered) ** 2
    return np.lib.stride_tricks.sliding_window_view(power, N_FFT)[::HOP][:frames] @ pooling


def filter_centred(x: np.ndarray, filters: np.ndarray) -> np.ndarray:
    """Each of ``filters`` ``(n, taps)`` (odd, centred on tap ``taps // 2``) applied to ``x`` at
    stride 1, aligned with it: ``(n, x.size)``."""
    full = scipy.signal.fftconvolve(np.broadcast_to(x, (len(filters), x.size)), filters, axes=1)
    start = filters.shape[1] // 2
    return full[:, start : start + x.size]


def db_errors(ours: np.ndarray, reference: np.ndarray, floor_db: float = 20.0) -> np.ndarray:
    """|difference| in dB where the reference is within ``floor_db`` of its peak."""
    ours_db, reference_db = 10 * np.log10(ours), 10 * np.log10(reference)
    return np.abs(ours_db - reference_db)[reference_db > reference_db.max() - floor_db]


def energies(layer: torch.nn.Module, x: np.ndarray) -> np.ndarray:
    """A log-compressed layer's energies ``(n_filters, frames)`` of one clip, in float64."""
    with torch.no_grad():
        features = layer(torch.from_numpy(x)[None]).double().numpy()[0]
    return np.exp(features)


# --- Triangular: the Mel triangles at initialisation, constrained afterwards ---------------------


@pytest.mark.parametrize(
    ("mel_scale", "f_min", "f_max"),
    [("htk", 0.0, None), ("slaney", 0.0, None), ("htk", 20.0, 7600.0)],
)
def test_triangles_start_as_the_mel_filterbank(mel_scale, f_min, f_max):
    layer = TriangularFilterbank(n_mels=40, f_min=f_min, f_max=f_max, mel_scale=mel_scale)
    reference = mel_filterbank(SR, N_FFT, 40, f_min, f_max, mel_scale).float()
    assert torch.allclose(layer.filterbank(), reference, atol=1e-5)


def test_triangular_layer_starts_as_the_trainable_mel_layer(audio):
    x = torch.from_numpy(audio)[None]
    with torch.no_grad():
        ours, mel = TriangularFilterbank()(x), MelSpectrogram(trainable_mel=True)(x)
    assert (ours - mel).abs().max() < 1e-3  # log energies, in nats


def test_no_triangle_falls_between_the_bins():
    # 128 mels at n_fft 512: the lowest Mel triangles are narrower than one bin and empty
    with pytest.warns(UserWarning, match="cover no FFT bin"):
        assert (mel_filterbank(SR, N_FFT, 128).amax(dim=-1) == 0).any()
    layer = TriangularFilterbank(n_mels=128)
    left, peak, right = layer.edges()
    one_bin = SR / N_FFT - 1e-9
    assert ((peak - left) >= one_bin).all() and ((right - peak) >= one_bin).all()
    assert (layer.filterbank().amax(dim=-1) > 0).all()


# --- Sinc: SincNet's filters, their exact response, and what the layer computes -----------------


def sinc_taps(layer: SincFilterbank) -> np.ndarray:
    """Each filter's full symmetric taps ``(n_mels, kernel_size)`` from the layer."""
    half = layer.kernels().detach().numpy()
    return np.concatenate([half[:, :0:-1], half], axis=1)


def test_sinc_filters_are_scipy_firwin_band_passes():
    layer = SincFilterbank(n_mels=20)
    low, high = (layer.cutoffs().detach().numpy() * SR).tolist()
    taps = sinc_taps(layer)
    for k in range(20):
        reference = scipy.signal.firwin(
            layer.kernel_size, [low[k], high[k]], pass_zero=False, window="hamming",
            scale=False, fs=SR,
        )  # fmt: skip
        np.testing.assert_allclose(taps[k], reference, atol=1e-12)
    # and the response is exactly their frequency response (scipy.signal.freqz)
    freqs = np.linspace(0, SR / 2, 1001)
    response = np.stack([scipy.signal.freqz(h, worN=freqs, fs=SR)[1] for h in taps])
    ours = layer.response(torch.from_numpy(freqs)).detach().numpy()
    np.testing.assert_allclose(ours, np.abs(response) ** 2, atol=1e-9)


def test_sinc_filters_pass_their_band_and_stop_the_rest():
    freqs = torch.linspace(0, SR / 2, 8001, dtype=torch.float64)  # 1 Hz apart
    for n_mels in (40, 6):
        layer = SincFilterbank(n_mels=n_mels)
        response = layer.response(freqs).detach()
        low, high = (layer.cutoffs().detach() * SR).double()
        peaks = freqs[response.argmax(dim=-1)]
        assert ((low <= peaks) & (peaks <= high)).all()  # each peaks inside its band
    # The Hamming window's transition: about 3.3 / kernel_size of the sample rate wide; bands
    # wider than two of them (the 6 filters') pass gain 1 and stop the rest
    transition = 3.3 * SR / layer.kernel_size
    wide = ((high - low) > 2 * transition).nonzero().flatten().tolist()
    assert len(wide) >= 4
    for k in wide:
        passband = (freqs > low[k] + transition) & (freqs < high[k] - transition)
        stopband = (freqs < low[k] - transition) | (freqs > high[k] + transition)
        assert (response[k, passband] - 1).abs().max() < 0.01  # within 0.04 dB
        assert response[k, stopband].max() < 1e-4  # at least 40 dB down


def test_sinc_layer_is_filtering_of_each_windowed_frame(audio):
    # By Parseval, exactly: sum_f |H(f)|^2 |X_t(f)|^2 over the rfft bins is n_fft / 2 times the
    # energy of the Hann-windowed frame circularly filtered by h, plus half of the DC and
    # Nyquist terms (the only bins without a mirror image among the negative frequencies)
    layer = SincFilterbank(n_mels=40, log_eps=1e-30)
    padded, frames = padded_frames(audio)
    window = np.zeros(N_FFT)
    window[16:496] = scipy.signal.get_window("hann", 480)
    taps = sinc_taps(layer)
    half = layer.kernel_size // 2
    alternating = (-1.0) ** np.arange(N_FFT)
    reference = np.empty((40, frames))
    for t in range(frames):
        frame = padded[t * HOP : t * HOP + N_FFT] * window
        full = np.stack([np.convolve(frame, h) for h in taps])  # linear, then wrapped:
        circular = np.zeros((40, N_FFT))
        for start in range(0, full.shape[1], N_FFT):
            chunk = full[:, start : start + N_FFT]
            circular[:, : chunk.shape[1]] += chunk
        circular = np.roll(circular, -half, axis=1)
        dc = taps.sum(axis=1) ** 2 * frame.sum() ** 2
        nyquist = (taps @ alternating[: taps.shape[1]]) ** 2 * (frame @ alternating) ** 2
        reference[:, t] = (circular**2).sum(axis=1) + (dc + nyquist) / N_FFT
    ours = energies(layer, audio) * 2 / N_FFT
    mask = reference > 1e-6 * reference.max()
    assert np.abs(ours / reference - 1)[mask].max() < 1e-3


def test_sinc_layer_approximates_sincnet_filtering_then_pooling(audio):
    # SincNet's filtered waveform (stride 1), pooled with the squared Hann window: windowing and
    # filtering swapped, so not exact (module docstring), but close where the energy is
    layer = SincFilterbank(log_eps=1e-30)
    padded, frames = padded_frames(audio)
    window = np.zeros(N_FFT)
    window[16:496] = scipy.signal.get_window("hann", 480)
    filtered = filter_centred(padded, sinc_taps(layer))
    reference = np.stack([pooled_energy(y, window**2, frames) for y in filtered])
    errors = db_errors(energies(layer, audio) * 2 / N_FFT, reference)
    # measured: median 0.35 dB, 95th percentile 1.3 dB, largest 2.3 dB
    assert np.median(errors) < 0.5 and np.percentile(errors, 95) < 2.0 and errors.max() < 3.5


# --- LEAF: Gabor filters in closed form, Gaussian pooling, PCEN ----------------------------------


def gabor(centre: float, bandwidth: float, taps: np.ndarray) -> np.ndarray:
    """The complex Gabor filter whose power response peaks at ``centre`` with half-power width
    ``bandwidth`` (Hz), unit peak gain, at integer ``taps``."""
    sigma = SR * math.sqrt(math.log(2)) / (math.pi * bandwidth)
    envelope = np.exp(-(taps**2) / (2 * sigma**2)) / (math.sqrt(2 * math.pi) * sigma)
    return envelope * np.exp(2j * math.pi * centre * taps / SR)


def test_gabor_filters_peak_at_their_centre_with_their_bandwidth():
    layer = LEAF()
    centres, bandwidths = layer.centres().detach().double(), layer.bandwidths().detach().double()
    # at initialisation: the Mel centres, and each triangle's half-power width
    points = mel_filterbank(SR, N_FFT, 40).argmax(dim=-1)  # peak bins of the triangles
    assert ((centres / (SR / N_FFT) - points).abs() <= 1).all()
    freqs = torch.linspace(0, SR / 2, 16001, dtype=torch.float64)  # 0.5 Hz apart
    response = layer.response(freqs).detach()
    assert ((freqs[response.argmax(dim=-1)] - centres).abs() <= 0.25).all()
    for offset in (-0.5, 0.5):  # half power at centre +- bandwidth / 2
        half = layer.response(centres + offset * bandwidths).detach()
        assert torch.allclose(half.diagonal(), torch.full((40,), 0.5, dtype=half.dtype))
    # and it is the power response of the time-domain Gabor filter (away from 0 Hz)
    taps = np.arange(-2048, 2049)
    for k in (10, 25, 39):
        filter_taps = gabor(float(centres[k]), float(bandwidths[k]), taps)
        reference = np.abs(np.fft.fft(filter_taps, 8192)[:4097]) ** 2
        ours = layer.response(torch.from_numpy(np.fft.rfftfreq(8192, 1 / SR))).detach()[k]
        np.testing.assert_allclose(ours.numpy(), reference, atol=1e-6)


def test_leaf_layer_is_gabor_filtering_of_each_windowed_frame(audio):
    # By Parseval, for filters with no response below 0 Hz or above sample_rate / 2 (centre
    # more than 3 bandwidths from both): the layer's energy is n_fft times that of the windowed
    # frame circularly filtered by the Gabor filter
    layer = LEAF(compression="log", log_eps=1e-30)
    padded, frames = padded_frames(audio)
    window = layer.spectrogram.window.double().numpy()
    centres, bandwidths = layer.centres().detach().numpy(), layer.bandwidths().detach().numpy()
    clear = (centres > 3 * bandwidths) & (centres < SR / 2 - 3 * bandwidths)
    channels = np.flatnonzero(clear)
    assert channels.size >= 30
    taps = np.arange(N_FFT)
    # the Gabor filter wrapped onto the n_fft circle
    circles = [
        sum(gabor(centres[k], bandwidths[k], taps + m * N_FFT) for m in range(-3, 4))
        for k in channels
    ]
    reference = np.empty((channels.size, frames))
    for t in range(frames):
        spectrum = np.fft.fft(padded[t * HOP : t * HOP + N_FFT] * window)
        filtered = np.fft.ifft(spectrum * np.fft.fft(np.stack(circles), axis=1), axis=1)
        reference[:, t] = (np.abs(filtered) ** 2).sum(axis=1)
    ours = energies(layer, audio)[channels] / N_FFT
    mask = reference > 1e-6 * reference.max()
    assert np.abs(ours / reference - 1)[mask].max() < 1e-3


def test_leaf_layer_approximates_leaf_filtering_then_pooling(audio):
    # LEAF's path: Gabor filters at stride 1, squared magnitude, Gaussian pooling at the hop
    layer = LEAF(compression="log", log_eps=1e-30)
    padded, frames = padded_frames(audio)
    pooling = layer.spectrogram.window.double().numpy() ** 2
    centres, bandwidths = layer.centres().detach().numpy(), layer.bandwidths().detach().numpy()
    taps = np.arange(-800, 801)  # 5 standard deviations of the longest (one-bin) filter
    filters = np.stack([gabor(c, b, taps) for c, b in zip(centres, bandwidths, strict=True)])
    filtered = filter_centred(padded, filters)
    reference = np.stack([pooled_energy(y, pooling, frames) for y in filtered])
    errors = db_errors(energies(layer, audio) / N_FFT, reference)
    # measured: median 0.34 dB, 95th percentile 2.6 dB, largest 5.8 dB (the long low filters)
    assert np.median(errors) < 0.5 and np.percentile(errors, 95) < 3.5 and errors.max() < 8.0


# --- PCEN against its equations and librosa ------------------------------------------------------


def pcen_by_the_equations(e: np.ndarray, alpha, delta, r, s, eps: float) -> np.ndarray:
    """M(t) = (1 - s) M(t - 1) + s E(t) from M(0) = E(0); (E / (eps + M)^alpha + delta)^r -
    delta^r, per channel, frame by frame in float64."""
    alpha, delta, r, s = (np.asarray(v, dtype=np.float64)[:, None] for v in (alpha, delta, r, s))
    smoothed = np.empty_like(e)
    smoothed[..., 0] = e[..., 0]
    for t in range(1, e.shape[-1]):
        smoothed[..., t] = (1 - s[:, 0]) * smoothed[..., t - 1] + s[:, 0] * e[..., t]
    return (e / (eps + smoothed) ** alpha + delta) ** r - delta**r


def test_pcen_follows_its_equations_per_channel():
    rng = np.random.default_rng(0)
    e = rng.gamma(0.5, 4.0, size=(3, 4, 50))  # (batch, channels, frames), spiky energies
    e[:, :, 20:25] = 0.0  # silence
    layer = PCEN(4)
    per_channel = {"alpha": [0.98, 0.5, 1.0, 0.0], "delta": [2.0, 0.01, 10.0, 1.0],
                   "r": [0.5, 0.25, 1.0, 0.1], "smooth": [0.025, 0.5, 1.0, 0.0]}  # fmt: skip
    with torch.no_grad():
        for name, channel_values in per_channel.items():
            getattr(layer, name).copy_(torch.tensor(channel_values))
        ours = layer(torch.from_numpy(e).float()).double().numpy()
    reference = pcen_by_the_equations(e, *per_channel.values(), eps=1e-6)
    np.testing.assert_allclose(ours, reference, rtol=1e-4, atol=1e-5)
    # and a known value: a constant input E stays at (E / (eps + E)^alpha + delta)^r - delta^r
    constant = PCEN(1, alpha=1.0, delta=1.0, r=0.5, eps=1e-6)(torch.full((1, 1, 5), 3.0))
    expected = math.sqrt(3.0 / (3.0 + 1e-6) + 1.0) - 1.0
    assert torch.allclose(constant, torch.full_like(constant, expected))


def test_pcen_matches_librosa():
    rng = np.random.default_rng(1)
    e = rng.gamma(0.5, 4.0, size=(6, 80))  # (channels, frames)
    s, alpha, delta, r = 0.04, 0.96, 2.0, 0.5
    # librosa starts its smoother from the steady state of a unit input; start it from E(0)
    zi = scipy.signal.lfilter_zi([s], [1, s - 1]) * e[:, :1]
    reference = librosa.pcen(e, b=s, gain=alpha, bias=delta, power=r, eps=1e-6, zi=zi)
    ours = PCEN(6, alpha, delta, r, s)(torch.from_numpy(e)[None].float())[0].detach().numpy()
    np.testing.assert_allclose(ours, reference, rtol=1e-4, atol=1e-6)


def test_pcen_gradients_match_finite_differences():
    # the backward pass is written out: check it against autograd's finite differences
    torch.manual_seed(0)
    e = (5 * torch.rand(2, 3, 7, dtype=torch.float64)).requires_grad_()
    parameters = [
        torch.tensor(v, dtype=torch.float64, requires_grad=True)
        for v in ([0.9, 0.5, 0.98], [2.0, 0.5, 1.0], [0.5, 0.3, 0.9], [0.04, 0.5, 0.9])
    ]
    assert torch.autograd.gradcheck(lambda *args: pcen(*args, eps=1e-6), (e, *parameters))


def test_pcen_rejects_values_outside_its_range():
    with pytest.raises(ValueError, match="alpha"):
        PCEN(4, alpha=1.5)
    with pytest.raises(ValueError, match="n_channels"):
        PCEN(0)
    with pytest.raises(ValueError, match=r"energies \(batch, 4, frames\)"):
        PCEN(4)(torch.ones(2, 5, 10))


# --- All three: shapes, drift, centres, hard training, standing alone ---------------------------


@pytest.mark.parametrize("frontend", FRONTENDS)
def test_frames_and_shapes_match_the_mel_layer(frontend):
    layer, mel = frontend(), MelSpectrogram()
    for samples in (16000, 8000, 161, 1):
        out = layer(torch.zeros(2, samples))
        assert out.shape == mel(torch.zeros(2, samples)).shape and torch.isfinite(out).all()
    assert layer(torch.zeros(16000)).shape == (1, 40, 101)
    assert layer(torch.zeros(0, 16000)).shape == (0, 40, 101)


@pytest.mark.parametrize(
    ("layer", "parts"),
    [
        (TriangularFilterbank(), {STFT_KERNEL_CHANGE: False, MEL_BASIS_CHANGE: True}),
        (
            TriangularFilterbank(compression="pcen"),
            {STFT_KERNEL_CHANGE: False, MEL_BASIS_CHANGE: True, PCEN_CHANGE: True},
        ),
        (SincFilterbank(), {STFT_KERNEL_CHANGE: False, FILTERBANK_CHANGE: True}),
        (LEAF(), {FILTERBANK_CHANGE: True, PCEN_CHANGE: True}),
        (LEAF(compression="log"), {FILTERBANK_CHANGE: True}),
    ],
)
def test_drift_keys_parts_and_centres(layer, parts):
    assert trainable_parts(layer) == parts
    drift = drift_of(layer)
    assert list(drift) == [key for key in DRIFT_LABELS if key in drift]  # processing order
    shift = MEL_CENTRE_SHIFT_HZ if MEL_BASIS_CHANGE in parts else FILTER_CENTRE_SHIFT_HZ
    assert set(drift) == set(parts) | {shift}
    assert all(float(drift[key]) == 0 for key in parts) and (drift[shift] == 0).all()
    initial, current = filter_centres_of(layer)
    assert initial.shape == current.shape == (40,) and torch.equal(initial, current)
    assert ((initial > 0) & (initial < SR / 2)).all() and (initial.diff() > 0).all()
    layer.requires_grad_(False)  # frozen: no part trains any longer
    assert not any(trainable_parts(layer).values())


def test_a_plain_module_has_no_filter_centres():
    assert filter_centres_of(torch.nn.Conv1d(1, 4, 400, 160)) is None


def check_valid(layer: torch.nn.Module) -> None:
    """The constraints each filterbank promises, whatever its parameters hold."""
    assert all(torch.isfinite(p).all() for p in layer.parameters())
    if isinstance(layer, TriangularFilterbank):
        left, peak, right = layer.edges()
        assert (peak.diff() > 0).all() and peak[0] >= 0 and peak[-1] <= SR / 2
        one_bin = SR / N_FFT - 1e-9
        assert ((peak - left) >= one_bin).all() and ((right - peak) >= one_bin).all()
    if isinstance(layer, SincFilterbank):
        low, high = layer.cutoffs() * SR
        assert (low >= 50).all() and (high - low >= 50 - 1e-9).all() and (high <= SR / 2).all()
    if isinstance(layer, LEAF):
        assert ((layer.centres() >= 0) & (layer.centres() <= SR / 2)).all()
        assert ((layer.bandwidths() >= SR / N_FFT) & (layer.bandwidths() <= SR / 2)).all()
    if isinstance(layer.compression, PCEN):
        alpha, delta, r, smooth = layer.compression.parameters_as_applied()
        assert ((alpha >= 0) & (alpha <= 1) & (smooth >= 0) & (smooth <= 1)).all()
        assert (delta > 0).all() and ((r > 0) & (r <= 1)).all()


@pytest.fixture
def one_thread() -> Iterator[None]:
    """One torch thread: many tiny training steps are far faster without a thread pool."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize(
    "layer",
    [TriangularFilterbank(compression="pcen"), SincFilterbank(), LEAF()],
    ids=["triangular+pcen", "sinc", "leaf"],
)
@pytest.mark.usefixtures("one_thread")
def test_stays_finite_and_valid_after_hard_training(layer, audio):
    # 100 plain SGD steps at lr 10 on a loss that pulls every filter's energy towards another
    # clip's: the constraints hold and nothing turns NaN, though the filters move a long way
    generator = torch.Generator().manual_seed(0)
    x = torch.from_numpy(audio[:4000])[None] + 0.01 * torch.randn(4, 4000, generator=generator)
    target = torch.randn(4, 40, 26, generator=generator)
    optimiser = torch.optim.SGD(layer.parameters(), lr=10.0)
    for _ in range(100):
        optimiser.zero_grad()
        features = layer(x)
        loss = (features - target).square().mean()
        loss.backward()
        optimiser.step()
        assert torch.isfinite(features).all()
    check_valid(layer)
    assert torch.isfinite(layer(x)).all() and float(drift_of(layer)[layer.basis_key]) > 0.1


@pytest.mark.parametrize("frontend", FRONTENDS)
def test_a_trained_state_loads_with_its_initial_reference(frontend):
    trained, fresh = frontend(), frontend()
    with torch.no_grad():
        for parameter in trained.parameters():
            parameter.add_(0.01 * torch.randn_like(parameter))
    fresh.load_state_dict(trained.state_dict())
    x = torch.randn(2, 4000)
    assert torch.equal(fresh(x), trained(x))
    for key, value in drift_of(trained).items():
        assert torch.equal(drift_of(fresh)[key], value)


@pytest.mark.parametrize(
    ("frontend", "settings", "message"),
    [
        (TriangularFilterbank, {"compression": "db"}, "compression must be one of 'log', 'pcen'"),
        (TriangularFilterbank, {"n_mels": 0}, "n_mels"),
        (TriangularFilterbank, {"mel_scale": "bark"}, "mel_scale"),
        (SincFilterbank, {"kernel_size": 250}, "kernel_size must be odd"),
        (SincFilterbank, {"min_band_hz": 0.0}, "min_band_hz"),
        (LEAF, {"f_min": 9000.0}, "f_min < f_max"),
        (LEAF, {"win_length": 600}, "win_length"),
        (LEAF, {"pooling_width": 0.0}, "pooling_width"),
    ],
)
def test_bad_settings_fail_at_construction(frontend, settings, message):
    with pytest.raises(ValueError, match=message):
        frontend(**settings)


def test_each_is_usable_with_torch_alone():
    code = (
        "import sys, torch\n"
        "from kws.frontend import LEAF, PCEN, SincFilterbank, TriangularFilterbank\n"
        "x = torch.randn(2, 16000)\n"
        "for layer in (TriangularFilterbank(), SincFilterbank(), LEAF()):\n"
        "    assert layer(x).shape == (2, 40, 101)\n"
        "assert PCEN(3)(torch.rand(1, 3, 5)).shape == (1, 3, 5)\n"
        "heavy = {'pytorch_lightning', 'lightning', 'hydra', 'omegaconf', 'librosa', 'scipy'}\n"
        "assert not heavy & set(sys.modules), heavy & set(sys.modules)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
