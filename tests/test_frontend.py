"""The frontend against librosa, torch.stft and (where it imports) torchaudio; its safety nets."""

from __future__ import annotations

import math

import librosa
import numpy as np
import pytest
import scipy.fft
import torch

from kws.frontend import (
    DCT_CHANGE,
    DRIFT_LABELS,
    MEL_BASIS_CHANGE,
    MEL_CENTRE_SHIFT_HZ,
    MFCC,
    STFT,
    STFT_KERNEL_CHANGE,
    MelSpectrogram,
    drift_of,
    drift_summary,
    mel_filterbank,
    trainable_parts,
)

SR = 16000


def relative_error(ours: np.ndarray, reference: np.ndarray, floor: float = 1e-6) -> float:
    """Largest relative error over the bins above ``floor`` of the reference's peak (power)."""
    mask = np.abs(reference) > floor * np.abs(reference).max()
    return float((np.abs(ours - reference)[mask] / np.abs(reference)[mask]).max())


def speech_like(seconds: float = 1.0, seed: int = 0) -> np.ndarray:
    """A gliding harmonic tone with a formant-like envelope and a noise burst, peak 0.5."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    f0 = 120 + 60 * t
    phase = 2 * np.pi * np.cumsum(f0) / SR
    voiced = sum(
        np.sin(k * phase) / k * np.exp(-(((k * f0 - 700) / 400) ** 2)) for k in range(1, 30)
    )
    burst = rng.normal(size=t.size) * (np.abs(t - 0.7) < 0.05)
    signal = voiced * np.hanning(t.size) + 0.3 * burst
    return (0.5 * signal / np.abs(signal).max()).astype(np.float32)


@pytest.fixture(scope="module")
def audio() -> np.ndarray:
    rng = np.random.default_rng(0)
    return np.stack([0.1 * rng.standard_normal(SR), speech_like()]).astype(np.float32)


@pytest.mark.parametrize("n_fft", [480, 512])
@pytest.mark.parametrize("mel_scale", ["htk", "slaney"])
@pytest.mark.parametrize("norm", [None, "slaney"])
@pytest.mark.parametrize("implementation", ["fft", "conv"])
def test_mel_matches_librosa(audio, n_fft, mel_scale, norm, implementation):
    layer = MelSpectrogram(
        n_fft=n_fft,
        win_length=480,
        mel_scale=mel_scale,
        norm=norm,
        log=None,
        implementation=implementation,
    )
    ours = layer(torch.from_numpy(audio)).numpy()
    reference = librosa.feature.melspectrogram(
        y=audio, sr=SR, n_fft=n_fft, win_length=480, hop_length=160, n_mels=40,
        htk=mel_scale == "htk", norm=norm, center=True, pad_mode="reflect", power=2.0,
    )  # fmt: skip
    assert ours.shape == reference.shape == (2, 40, 101)
    assert relative_error(ours, reference) < 1e-4


@pytest.mark.parametrize("mel_scale", ["htk", "slaney"])
@pytest.mark.parametrize("norm", [None, "slaney"])
@pytest.mark.parametrize("f_min, f_max", [(0.0, None), (20.0, 7600.0)])
def test_filterbank_matches_librosa(mel_scale, norm, f_min, f_max):
    ours = mel_filterbank(SR, 512, 40, f_min, f_max, mel_scale, norm).numpy()
    reference = librosa.filters.mel(
        sr=SR, n_fft=512, n_mels=40, fmin=f_min, fmax=f_max, htk=mel_scale == "htk", norm=norm
    )
    np.testing.assert_allclose(ours, reference, rtol=1e-5, atol=1e-9)


@pytest.mark.parametrize("n_fft, win_length", [(480, 480), (512, 480), (512, 400)])
@pytest.mark.parametrize("implementation", ["fft", "conv"])
def test_stft_matches_torch_stft(audio, n_fft, win_length, implementation):
    x = torch.from_numpy(audio)
    window = torch.hann_window(win_length, dtype=torch.float64)
    reference = torch.stft(
        x.double(), n_fft, 160, win_length, window, center=True, pad_mode="reflect",
        return_complex=True,
    )  # fmt: skip
    complex_layer = STFT(n_fft, win_length, 160, output="complex", implementation=implementation)
    power_layer = STFT(n_fft, win_length, 160, output="power", implementation=implementation)
    magnitude_layer = STFT(
        n_fft, win_length, 160, output="magnitude", implementation=implementation
    )
    spectrum = complex_layer(x)
    assert spectrum.shape == reference.shape == (2, n_fft // 2 + 1, 101)
    assert relative_error(power_layer(x).numpy(), reference.abs().square().numpy()) < 1e-4
    # Magnitudes above 1e-3 of the peak are powers above 1e-6 of it, the same bins.
    assert relative_error(magnitude_layer(x).numpy(), reference.abs().numpy(), 1e-3) < 1e-4
    scale = reference.abs().max()
    assert ((spectrum - reference).abs().max() / scale).item() < 1e-5


def test_fft_and_conv_paths_agree_and_auto_picks_by_trainability(audio):
    x = torch.from_numpy(audio)
    fixed, trainable = STFT(512, 480, 160), STFT(512, 480, 160, trainable=True)
    assert fixed.use_fft and not trainable.use_fft  # gradients reach kernels by convolution only
    assert list(fixed.parameters()) == [] and trainable.kernels.requires_grad
    conv = STFT(512, 480, 160, implementation="conv")
    assert not conv.use_fft
    assert relative_error(trainable(x).detach().numpy(), fixed(x).numpy()) < 1e-4
    with torch.no_grad():
        assert relative_error(conv(x).numpy(), fixed(x).numpy()) < 1e-4
    with pytest.raises(ValueError, match="cannot train"):
        STFT(512, implementation="fft", trainable=True)


def test_torchaudio_parity_where_it_imports(audio):
    torchaudio = pytest.importorskip("torchaudio", exc_type=ImportError)
    reference = torchaudio.transforms.MelSpectrogram(
        sample_rate=SR, n_fft=512, win_length=480, hop_length=160, n_mels=40, mel_scale="htk"
    )
    x = torch.from_numpy(audio)
    ours = MelSpectrogram(n_fft=512, win_length=480, log=None)(x)
    assert relative_error(ours.numpy(), reference(x).numpy()) < 1e-4


def test_mfcc_matches_librosa(audio):
    layer = MFCC(n_mfcc=13, n_fft=512, win_length=480, log_eps=1e-10)
    mel = librosa.feature.melspectrogram(
        y=audio, sr=SR, n_fft=512, win_length=480, hop_length=160, n_mels=40, htk=True, norm=None,
        pad_mode="reflect",
    )  # fmt: skip
    reference = scipy.fft.dct(librosa.power_to_db(mel, top_db=None), axis=-2, norm="ortho")[:, :13]
    ours = layer(torch.from_numpy(audio)).numpy()
    # dB of near-silent bins carries float32 round-off: allow 1e-4 of the coefficients' range.
    np.testing.assert_allclose(ours, reference, rtol=1e-4, atol=1e-4 * np.abs(reference).max())


def test_shapes_and_bad_input():
    layer = MelSpectrogram()
    assert layer(torch.zeros(SR)).shape == (1, 40, 101)
    assert layer(torch.zeros(3, 8000)).shape == (3, 40, 51)
    assert layer.stft.num_frames(SR) == 101
    with pytest.raises(ValueError, match="expected"):
        layer(torch.zeros(2, 1, SR))
    with pytest.raises(ValueError, match="win_length"):
        STFT(n_fft=256, win_length=480)


def test_log_modes():
    x = torch.from_numpy(speech_like())
    linear = MelSpectrogram(log=None)(x)
    torch.testing.assert_close(MelSpectrogram(log="log")(x), torch.log(linear + 1e-6))
    torch.testing.assert_close(
        MelSpectrogram(log="db")(x), 10 * torch.log10(linear.clamp(min=1e-6)), rtol=1e-5, atol=1e-4
    )


def _trainable_frontends() -> list[torch.nn.Module]:
    return [
        MelSpectrogram(trainable_mel=True),
        MelSpectrogram(trainable_stft=True, trainable_mel=True),
        MelSpectrogram(trainable_stft=True, trainable_mel=True, power=1.0),
        MFCC(trainable_stft=True, trainable_mel=True, trainable_dct=True),
    ]


@pytest.mark.parametrize("layer", _trainable_frontends(), ids=["mel", "stft+mel", "mag", "mfcc"])
@pytest.mark.parametrize("kind", ["zeros", "clipped", "tiny"])
def test_forward_and_backward_finite_on_edge_input(layer, kind):
    t = torch.arange(2 * SR).reshape(2, SR) / SR
    x = {
        "zeros": torch.zeros(2, SR),
        "clipped": torch.sign(torch.sin(2 * math.pi * 440 * t)),
        "tiny": torch.full((2, SR), 1e-20),
    }[kind].requires_grad_(True)
    out = layer(x)
    out.sum().backward()
    assert torch.isfinite(out).all()
    assert torch.isfinite(x.grad).all()
    for parameter in layer.parameters():
        assert torch.isfinite(parameter.grad).all()


def test_trainable_mel_stays_nonnegative_and_finite_at_high_learning_rate():
    """Driving the mel energies down as hard as possible must never produce NaN."""
    torch.manual_seed(0)
    layer = MelSpectrogram(trainable_stft=True, trainable_mel=True)
    optimizer = torch.optim.SGD(layer.parameters(), lr=100.0)
    x = 0.5 * torch.randn(8, SR)
    for _ in range(100):
        optimizer.zero_grad()
        out = layer(x)
        assert torch.isfinite(out).all()
        out.mean().backward()  # pushes the basis negative: the straight-through clamp must hold
        optimizer.step()
    assert (layer.mel_basis < 0).any(), "the raw parameter went negative, as the test intends"
    assert (layer.filterbank() >= 0).all()
    assert torch.isfinite(layer(x)).all()


def test_drift_is_zero_at_start_and_measures_change():
    layer = MelSpectrogram(trainable_stft=True, trainable_mel=True)
    drift = layer.drift()
    assert drift["stft_kernel_change"] == 0 and drift["mel_basis_change"] == 0
    assert torch.equal(drift["mel_centre_shift_hz"], torch.zeros(40))
    with torch.no_grad():
        layer.stft.kernels.mul_(1.5)
        layer.mel_basis.mul_(1.25)  # a change of a quarter that moves no filter's centre
    drift = layer.drift()
    assert drift["stft_kernel_change"].item() == pytest.approx(0.5, rel=1e-5)
    assert drift["mel_basis_change"].item() == pytest.approx(0.25, rel=1e-5)
    assert drift["mel_centre_shift_hz"].abs().max() < 0.01  # Hz: float32 rounding only
    with torch.no_grad():
        layer.mel_basis.copy_(layer.initial_mel_basis)
        layer.mel_basis[3] = torch.roll(layer.initial_mel_basis[3], 2)  # two bins = 62.5 Hz up
        layer.mel_basis[5, 200] = 0.1 * layer.mel_basis[5].max()  # a speck far from the lobe
    drift = layer.drift()
    assert drift["mel_centre_shift_hz"][3].item() == pytest.approx(2 * SR / 512, rel=1e-4)
    assert drift["mel_centre_shift_hz"][torch.arange(40) != 3].abs().max() == 0  # 5 unmoved


@pytest.mark.parametrize(
    ("layer", "parts"),
    [
        (STFT(trainable=True), {STFT_KERNEL_CHANGE: True}),
        (MelSpectrogram(trainable_mel=True), {STFT_KERNEL_CHANGE: False, MEL_BASIS_CHANGE: True}),
        (
            MFCC(trainable_stft=True, trainable_dct=True),
            {STFT_KERNEL_CHANGE: True, MEL_BASIS_CHANGE: False, DCT_CHANGE: True},
        ),
    ],
)
def test_drift_and_trainable_parts_share_the_keys_defined_once(layer, parts):
    assert trainable_parts(layer) == parts
    drift = drift_of(layer)
    assert list(drift) == [key for key in DRIFT_LABELS if key in drift]  # processing order
    extra = {MEL_CENTRE_SHIFT_HZ} if MEL_BASIS_CHANGE in parts else set()
    assert set(drift) == set(parts) | extra
    assert all(value.dim() == 0 for value in drift_summary(drift).values())


def test_a_plain_module_is_a_frontend_without_drift():
    # (batch, samples) -> (batch, 4, frames), reporting neither drift nor trainable parts
    plain = torch.nn.Sequential(torch.nn.Unflatten(1, (1, -1)), torch.nn.Conv1d(1, 4, 400, 160))
    assert plain(torch.zeros(2, SR)).shape == (2, 4, 98)
    assert drift_of(plain) == {} and trainable_parts(plain) == {}
    assert drift_summary(drift_of(plain)) == {}


def test_initial_basis_is_kept_in_the_state_dict():
    state = MelSpectrogram(trainable_mel=True).state_dict()
    assert {"stft.initial_kernels", "initial_mel_basis", "mel_basis", "basis_scale"} <= set(state)


@pytest.mark.parametrize("trainable", [False, True])
@pytest.mark.parametrize("kind", [MelSpectrogram, MFCC])
def test_autocast_keeps_the_frontend_in_float32(trainable, kind):
    layer = kind(trainable_stft=trainable, trainable_mel=trainable)
    x = torch.from_numpy(speech_like())[None]
    reference = layer(x)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = layer(x)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, reference)  # float32 tolerances: no bf16 arithmetic inside


def test_exports_with_torchscript_trace():
    layer = MelSpectrogram(trainable_mel=True, implementation="conv").eval()
    x = torch.from_numpy(speech_like())[None]
    traced = torch.jit.trace(layer, x)
    torch.testing.assert_close(traced(x), layer(x))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("trainable", [False, True])
def test_cuda_matches_cpu(trainable):
    layer = MelSpectrogram(trainable_stft=trainable, trainable_mel=trainable)
    x = torch.from_numpy(speech_like())[None]
    torch.testing.assert_close(layer.cuda()(x.cuda()).cpu(), layer.cpu()(x), rtol=1e-4, atol=1e-4)
