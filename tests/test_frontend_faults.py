"""Issue 11's frontend faults: weights loaded or frozen, short clips, bad arguments, MFCC vs
librosa. Each test compares with librosa, numpy or the layer's own stated contract."""

from __future__ import annotations

import math
import warnings

import librosa
import numpy as np
import pytest
import torch

from kws.frontend import MFCC, STFT, MelSpectrogram

SR = 16000


def noise(samples: int, seed: int = 0, scale: float = 0.1) -> np.ndarray:
    return (scale * np.random.default_rng(seed).standard_normal(samples)).astype(np.float32)


def chirp_with_silence() -> np.ndarray:
    """A 1 s rising tone with 0.25 s of digital silence in it: well over 80 dB of range."""
    t = np.arange(SR) / SR
    tone = 0.5 * np.sin(2 * np.pi * (200 + 1500 * t) * t)
    tone[6000:10000] = 0.0
    return tone.astype(np.float32)


def max_relative_deviation(ours: np.ndarray, reference: np.ndarray) -> float:
    """Largest deviation as a fraction of the reference's largest magnitude."""
    return float(np.abs(ours - reference).max() / np.abs(reference).max())


def reference_log_mel(clip: np.ndarray, kernels: np.ndarray, basis: np.ndarray) -> np.ndarray:
    """Log-Mel of one clip in float64 numpy, with given Fourier kernels ``(2 * 257, 480)`` and
    mel basis ``(40, 257)`` (clamped at zero), MelSpectrogram's defaults otherwise."""
    n_fft, win = 512, kernels.shape[1]
    padded = np.pad(clip.astype(np.float64), n_fft // 2, mode="reflect")
    frames = librosa.util.frame(padded, frame_length=n_fft, hop_length=160)  # (n_fft, T)
    offset = (n_fft - win) // 2
    real, imag = np.split(kernels.astype(np.float64) @ frames[offset : offset + win], 2)
    return np.log(np.maximum(basis.astype(np.float64), 0) @ (real**2 + imag**2) + 1e-6)


def one_adam_step(layer: torch.nn.Module, x: torch.Tensor) -> None:
    """One Adam step at lr 1e-4 that lowers the mean log-Mel: every basis entry moves by about
    1e-4, those outside the triangles (zero before) below zero."""
    optimizer = torch.optim.Adam(layer.parameters(), lr=1e-4)
    layer(x).mean().backward()
    optimizer.step()


# Item 7: a layer computes with the weights it holds.


@pytest.mark.parametrize("trained", ["stft", "mel", "both"])
def test_trained_state_loaded_into_frozen_layer_is_what_it_computes(trained):
    clip = noise(SR)
    x = torch.from_numpy(clip)[None]
    source = MelSpectrogram(trainable_stft=trained != "mel", trainable_mel=trained != "stft")
    kernels, basis = source.stft.kernels.detach().numpy(), source.mel_basis.detach().numpy()
    # The numpy reference is right: with the initial weights it is librosa's log-Mel.
    librosa_mel = librosa.feature.melspectrogram(
        y=clip, sr=SR, n_fft=512, win_length=480, hop_length=160, n_mels=40, htk=True,
        norm=None, pad_mode="reflect",
    )  # fmt: skip
    np.testing.assert_allclose(
        reference_log_mel(clip, kernels, basis), np.log(librosa_mel + 1e-6), atol=1e-4
    )
    one_adam_step(source, x)
    if trained != "stft":
        assert (source.mel_basis < 0).any(), "the trained basis went negative, as intended"
    frozen = MelSpectrogram()  # "auto": FFT for the analytic basis
    frozen.load_state_dict(source.state_dict())
    assert frozen.stft.use_fft == (trained == "mel")  # the FFT serves untouched kernels only
    reference = reference_log_mel(
        clip, source.stft.kernels.detach().numpy(), source.mel_basis.detach().numpy()
    )
    forced = MelSpectrogram(implementation="fft")
    forced.load_state_dict(source.state_dict())
    with torch.no_grad():
        np.testing.assert_allclose(frozen(x)[0].numpy(), reference, atol=2e-3)
        np.testing.assert_allclose(source(x)[0].numpy(), reference, atol=2e-3)
        if trained == "mel":
            np.testing.assert_allclose(forced(x)[0].numpy(), reference, atol=2e-3)
        else:
            with pytest.raises(RuntimeError, match="implementation='fft'.*use 'auto' or 'conv'"):
                forced(x)


def test_fft_path_exactly_while_the_kernels_hold_the_fourier_basis():
    x = torch.from_numpy(noise(SR))[None]
    layer, fresh = STFT(512, 480, 160), STFT(512, 480, 160).state_dict()
    assert layer.use_fft
    with torch.no_grad():
        layer.kernels[3, 7] += 1e-3  # any in-place write is seen
    assert not layer.use_fft
    changed = {name: value.clone() for name, value in layer.state_dict().items()}
    layer.load_state_dict(fresh)
    assert layer.use_fft
    with torch.inference_mode():  # inference tensors keep no version: compared every call
        built_for_inference = STFT(512, 480, 160)
        assert built_for_inference.use_fft
        built_for_inference.load_state_dict(changed)
        assert not built_for_inference.use_fft
    trainable = STFT(512, 480, 160, trainable=True)
    assert not trainable.use_fft  # gradients must reach the kernels
    with torch.no_grad():
        assert trainable.use_fft  # nothing to train and nothing changed: the fast path
    trainable.requires_grad_(False)  # frozen untouched: the fast path too
    assert trainable.use_fft
    trainable.requires_grad_(True)
    optimizer = torch.optim.SGD(trainable.parameters(), lr=1e-3)
    trainable(x).mean().backward()
    optimizer.step()
    with torch.no_grad():
        assert not trainable.use_fft  # the optimiser's step changed the kernels


def test_freezing_a_trained_layer_keeps_the_trained_basis():
    clip = noise(SR, seed=1)
    x = torch.from_numpy(clip)[None]
    layer = MelSpectrogram(trainable_stft=True, trainable_mel=True)
    one_adam_step(layer, x)
    layer.requires_grad_(False)
    reference = reference_log_mel(
        clip, layer.stft.kernels.detach().numpy(), layer.mel_basis.detach().numpy()
    )
    assert not layer.stft.use_fft
    np.testing.assert_allclose(layer(x)[0].numpy(), reference, atol=2e-3)
    assert (layer.filterbank() >= 0).all() and (layer.mel_basis < 0).any()


# Item 8: clips of n_fft // 2 samples or fewer.


@pytest.mark.parametrize("samples", [1, 2, 100, 160, 256, 257])
@pytest.mark.parametrize("implementation", ["fft", "conv"])
def test_short_clips_match_librosa(samples, implementation):
    clip = noise(samples, seed=samples)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="n_fft=512 is too large")
        reference = librosa.stft(
            clip.astype(np.float64), n_fft=512, hop_length=160, win_length=480,
            pad_mode="reflect",
        )  # fmt: skip
        librosa_mel = librosa.feature.melspectrogram(
            y=clip, sr=SR, n_fft=512, win_length=480, hop_length=160, n_mels=40, htk=True,
            norm=None, pad_mode="reflect",
        )  # fmt: skip
    layer = STFT(512, 480, 160, output="complex", implementation=implementation)
    ours = layer(torch.from_numpy(clip)).numpy()[0]
    assert ours.shape == reference.shape
    assert max_relative_deviation(ours, reference) < 1e-5
    mel = MelSpectrogram(log=None, implementation=implementation)(torch.from_numpy(clip))
    assert max_relative_deviation(mel[0].numpy(), librosa_mel) < 1e-4


@pytest.mark.parametrize(
    "pad_mode, numpy_mode",
    [
        ("reflect", "reflect"),
        ("constant", "constant"),
        ("replicate", "edge"),
        ("edge", "edge"),
        ("circular", "wrap"),
        ("wrap", "wrap"),
    ],
)
@pytest.mark.parametrize("samples", [3, 200, 4000])
def test_every_pad_mode_pads_as_numpy_at_any_length(pad_mode, numpy_mode, samples):
    clip = noise(samples, seed=samples) + 0.05  # an offset, so constant and edge differ
    padded = np.pad(clip.astype(np.float64), 256, mode=numpy_mode)
    reference = librosa.stft(padded, n_fft=512, hop_length=160, win_length=480, center=False)
    layer = STFT(512, 480, 160, pad_mode=pad_mode, output="complex")
    ours = layer(torch.from_numpy(clip)).numpy()[0]
    assert ours.shape == reference.shape
    assert max_relative_deviation(ours, reference) < 1e-5


# Item 9: bad arguments fail at construction, naming the argument; odd input is handled.


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: STFT(pad_mode="bogus"), "pad_mode"),
        (lambda: STFT(pad_mode="symmetric"), "pad_mode"),
        (lambda: MelSpectrogram(pad_mode="mean"), "pad_mode"),
        (lambda: STFT(n_fft=0), r"n_fft must be in \[1, 8192\], got 0"),
        (lambda: STFT(n_fft=30000), r"n_fft must be in \[1, 8192\], got 30000"),
        (lambda: STFT(n_fft=2.5), r"n_fft must be a whole number, got 2\.5"),
        (lambda: STFT(hop_length=0), r"hop_length must be in \[1, 512\], got 0"),
        (lambda: STFT(n_fft=2, hop_length=None), r"hop_length must be in \[1, 2\], got 0"),
        (lambda: STFT(win_length=480, hop_length=481), r"hop_length must be in \[1, 480\]"),
        (lambda: STFT(window="kaiser"), r"window must be one of \['blackman', "),
        (lambda: MelSpectrogram(n_mels=0), r"n_mels must be in \[1, 257\], got 0"),
        (lambda: MelSpectrogram(n_mels=10**6), r"n_mels must be in \[1, 257\], got 1000000"),
        (lambda: MFCC(n_mels=0, n_mfcc=1), r"n_mels must be in \[1, 257\]"),
        (lambda: MFCC(n_mfcc=2.5), r"n_mfcc must be a whole number, got 2\.5"),
        (lambda: MelSpectrogram(log_eps=0.0), r"log_eps must be in \(0, 1\], got 0\.0"),
        (lambda: MelSpectrogram(log=None, log_eps=math.inf), "log_eps must be a finite number"),
        (lambda: MelSpectrogram(log="db", top_db=-1.0), r"top_db must be in \[0, 1000\]"),
        (lambda: MelSpectrogram(log="db", top_db=math.nan), "top_db must be a finite number"),
        (lambda: MelSpectrogram(log="log", top_db=80.0), "top_db needs log='db'"),
        (lambda: MelSpectrogram(power=math.nan), "power must be a finite number"),
        (lambda: MelSpectrogram(power=20.0), r"power must be in \(0, 8\], got 20\.0"),
        (lambda: MelSpectrogram(sample_rate=22050.5), "sample_rate must be a whole number"),
        (lambda: MelSpectrogram(f_min=-100.0), r"f_min must satisfy 0 <= f_min < f_max"),
        (lambda: MelSpectrogram(init_seed=2**64), r"init_seed must be in \[0, "),
    ],
)
def test_bad_arguments_fail_at_construction_naming_them(make, match):
    with pytest.raises(ValueError, match=f"^frontend\\.{match}"):
        make()


def test_default_hop_and_window_lengths_follow_librosa():
    clip = noise(4000)
    layer = STFT(n_fft=512, win_length=None, hop_length=None, output="complex")
    assert (layer.hop_length, layer.win_length) == (128, 512)
    reference = librosa.stft(clip.astype(np.float64), n_fft=512, pad_mode="reflect")
    ours = layer(torch.from_numpy(clip)).numpy()[0]
    assert ours.shape == reference.shape == (257, 32)
    assert max_relative_deviation(ours, reference) < 1e-5


def test_clips_too_short_for_a_frame_are_a_clear_error():
    uncentred = STFT(512, 480, 160, center=False, output="complex")
    with pytest.raises(ValueError, match=r"center=False.*n_fft=512.*got 511"):
        uncentred(torch.zeros(2, 511))
    clip = noise(512)
    reference = librosa.stft(clip.astype(np.float64), n_fft=512, win_length=480, center=False)
    assert max_relative_deviation(uncentred(torch.from_numpy(clip)).numpy()[0], reference) < 1e-5
    with pytest.raises(ValueError, match="at least 1 sample, got 0"):
        MelSpectrogram()(torch.zeros(3, 0))


@pytest.mark.parametrize("implementation", ["fft", "conv"])
def test_empty_batch_gives_empty_output(implementation):
    empty = torch.zeros(0, SR)
    layers = {
        (257, torch.float32): STFT(512, 480, 160, implementation=implementation),
        (257, torch.complex64): STFT(512, 480, 160, output="complex"),
        (40, torch.float32): MelSpectrogram(implementation=implementation),
        (13, torch.float32): MFCC(n_mfcc=13, implementation=implementation),
    }
    for (features, dtype), layer in layers.items():
        out = layer(empty)
        assert out.shape == (0, features, 101) and out.dtype == dtype


def test_empty_mel_filters_warn_as_librosa_does():
    with pytest.warns(UserWarning, match="Empty filters"):
        librosa_basis = librosa.filters.mel(sr=SR, n_fft=256, n_mels=128, htk=True, norm=None)
    empty = np.flatnonzero(librosa_basis.max(axis=1) == 0).tolist()
    assert empty, "these settings leave filters empty, as the test intends"
    with pytest.warns(UserWarning, match=r"cover no FFT bin") as record:
        MelSpectrogram(n_fft=256, win_length=256, n_mels=128)
    assert f"(filters {empty})" in str(record[0].message)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        MelSpectrogram()  # 40 mels from 512 bins: none empty, no warning


# Item 10: MFCC and librosa.


def test_mfcc_with_librosa_settings_matches_librosa_mfcc():
    clip = chirp_with_silence()
    settings = dict(
        n_mfcc=20, n_fft=2048, hop_length=512, win_length=None, pad_mode="constant", n_mels=128,
        mel_scale="slaney", norm="slaney", log_eps=1e-10,
    )  # fmt: skip
    reference = librosa.feature.mfcc(y=clip, sr=SR)
    ours = MFCC(**settings, top_db=80.0)(torch.from_numpy(clip)).numpy()[0]
    assert ours.shape == reference.shape == (20, 32)
    scale = np.abs(reference).max()
    np.testing.assert_allclose(ours, reference, rtol=1e-4, atol=1e-4 * scale)
    unfloored = MFCC(**settings)(torch.from_numpy(clip)).numpy()[0]
    assert np.abs(unfloored - reference).max() > 0.1 * scale, "top_db matters for this clip"


def test_top_db_floors_each_clip_at_its_own_peak():
    loud = chirp_with_silence()
    clips = np.stack([loud, 0.01 * loud])  # 40 dB under: its floor is its own
    ours = MelSpectrogram(log="db", top_db=40.0)(torch.from_numpy(clips)).numpy()
    for clip, row in zip(clips, ours, strict=True):
        mel = librosa.feature.melspectrogram(
            y=clip, sr=SR, n_fft=512, win_length=480, hop_length=160, n_mels=40, htk=True,
            norm=None, pad_mode="reflect",
        )  # fmt: skip
        reference = librosa.power_to_db(mel, amin=1e-6, top_db=40.0)
        np.testing.assert_allclose(row, reference, atol=1e-3)
        assert row.min() == pytest.approx(row.max() - 40.0)
