"""What a phone recording adds to training clips, each switch against its definition:
reverberation (an FFT convolution with a room impulse response, checked against scipy), noise at
an SNR (measured back), and gain (measured back); each off by default."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from scipy.signal import fftconvolve

from kws.data.augment import Augmentation, convolve_rows
from kws.data.layout import SILENCE
from kws.data.noise import read_rirs, rir_bank, unit_response
from kws_runtime.io import BadFileError

SAMPLES = 16000


def speech_and_noise(batch: int = 16) -> tuple[torch.Tensor, torch.Tensor]:
    """Quiet tones of several pitches and loudnesses, and a Gaussian noise bank: nothing clips."""
    torch.manual_seed(1)
    time = torch.arange(SAMPLES) / 16000
    pitch = torch.linspace(200, 900, batch)[:, None]
    loudness = torch.linspace(0.01, 0.1, batch)[:, None]
    return loudness * torch.sin(2 * torch.pi * pitch * time), 0.01 * torch.randn(3, 3 * SAMPLES)


def snr_db(signal: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """Each row's signal power over noise power, in dB."""
    return 10 * torch.log10(signal.double().square().mean(1) / noise.double().square().mean(1))


@pytest.mark.parametrize("snr", [-5.0, 0.0, 12.5, 40.0])
def test_noise_is_mixed_at_the_snr_asked_for(snr):
    speech, bank = speech_and_noise()
    noisy = Augmentation(shift_s=0.0, noise_prob=1.0, snr_db=[snr, snr])(speech, bank, None)
    measured = snr_db(speech, noisy - speech)
    assert measured.numpy() == pytest.approx(np.full(len(speech), snr), abs=0.01)


def test_snrs_are_drawn_from_the_range_and_silence_keeps_its_amplitude():
    speech, bank = speech_and_noise(64)
    silence = torch.zeros(64, dtype=torch.bool)
    silence[:8] = True
    speech[:8] = 0.0
    augmentation = Augmentation(
        shift_s=0.0, noise_prob=1.0, silence_noise_volume=0.5, snr_db=[0.0, 20.0]
    )
    noisy = augmentation(speech, bank, silence)
    measured = snr_db(speech[8:], noisy[8:] - speech[8:])
    assert measured.min() >= 0.0 - 0.01 and measured.max() <= 20.0 + 0.01
    assert measured.std() > 3.0, "drawn, not one value"  # U(0, 20) has a 5.8 dB deviation
    # silence: noise at amplitude U(0, 0.5) of a 0.01 RMS bank, not at an SNR over nothing
    silent_rms = noisy[:8].square().mean(1).sqrt()
    assert (silent_rms > 0).all() and (silent_rms < 0.5 * 0.0105).all()


def test_gain_is_the_one_asked_for_and_drawn_from_the_range():
    speech, bank = speech_and_noise(64)
    quieter = Augmentation(shift_s=0.0, noise_prob=0.0, gain_db=[-6.0, -6.0])(speech, bank, None)
    measured = 20 * torch.log10(quieter.abs().amax(1) / speech.abs().amax(1))
    assert measured.numpy() == pytest.approx(np.full(64, -6.0), abs=1e-4)
    drawn = Augmentation(shift_s=0.0, noise_prob=0.0, gain_db=[-20.0, 6.0])(speech, bank, None)
    gains = 20 * torch.log10(drawn.abs().amax(1) / speech.abs().amax(1))
    assert gains.min() >= -20.0 - 1e-4 and gains.max() <= 6.0 + 1e-4 and gains.std() > 3.0
    loud = Augmentation(shift_s=0.0, noise_prob=0.0, gain_db=[30.0, 30.0])(speech, bank, None)
    assert loud.abs().max() == 1.0, "clamped to [-1, 1]"


def test_fft_convolution_is_scipys_cut_to_the_clip():
    rng = np.random.default_rng(0)
    waveforms = rng.standard_normal((4, SAMPLES)).astype(np.float32) * 0.1
    decay = np.exp(-np.arange(6000) / 800)
    rirs = (rng.standard_normal((4, 6000)) * decay).astype(np.float32)
    got = convolve_rows(torch.from_numpy(waveforms), torch.from_numpy(rirs)).numpy()
    for row, (w, h) in enumerate(zip(waveforms, rirs, strict=True)):
        expected = fftconvolve(w.astype(np.float64), h.astype(np.float64))[:SAMPLES]
        np.testing.assert_allclose(got[row], expected, atol=1e-5)
    # a response longer than the clip: its late taps cannot reach the clip
    long = rng.standard_normal((4, 2 * SAMPLES)).astype(np.float32) * 0.01
    got = convolve_rows(torch.from_numpy(waveforms), torch.from_numpy(long)).numpy()
    expected = fftconvolve(waveforms[0].astype(np.float64), long[0].astype(np.float64))
    np.testing.assert_allclose(got[0], expected[:SAMPLES], atol=1e-5)


def test_reverberation_aligns_the_direct_path_and_convolves_the_speech_rows():
    speech, bank = speech_and_noise(32)
    delayed = np.zeros(3000)
    delayed[200] = -1.0  # the direct path, 12.5 ms late
    delayed[201:] = 0.3 * np.exp(-np.arange(2799) / 400) * np.cos(np.arange(2799))
    rir = unit_response(delayed, SAMPLES)
    assert (
        len(rir) == 2800
        and rir[0] < 0
        and np.sum(rir.astype(np.float64) ** 2) == (pytest.approx(1.0, abs=1e-6))
    )
    silence = torch.zeros(32, dtype=torch.bool)
    silence[:4] = True
    reverb = Augmentation(shift_s=0.0, noise_prob=0.0, silence_noise_volume=0.0, rir_prob=1.0)
    out = reverb(speech, bank, silence, rirs=torch.from_numpy(rir_bank([rir])))
    for row in range(4, 32):
        expected = fftconvolve(speech[row].double().numpy(), rir.astype(np.float64))[:SAMPLES]
        np.testing.assert_allclose(out[row].numpy(), expected, atol=1e-5)
    assert torch.equal(out[:4], speech[:4]), "silence clips are not reverberated"
    # a pure direct path moves nothing
    delta = torch.zeros(1, 100)
    delta[0, 0] = 1.0
    assert torch.allclose(reverb(speech, bank, None, rirs=delta), speech, atol=1e-6)

    none = Augmentation(shift_s=0.0, noise_prob=0.0, rir_prob=0.0)
    assert torch.equal(none(speech, bank, None, rirs=delta), speech)
    with pytest.raises(ValueError, match=r"rir_prob needs room impulse responses: set data\.rir"):
        reverb(speech, bank, None)


def test_the_published_defaults_add_nothing_new():
    augmentation = Augmentation()
    assert (augmentation.rir_prob, augmentation.rooms) == (None, None)
    assert (augmentation.snr_db, augmentation.gain_db) == (None, None)


@pytest.mark.parametrize(
    ("setting", "reason"),
    [
        ({"snr_db": [20, 5]}, r"data\.augmentation\.snr_db must be \[low, high\] with low <= h"),
        ({"snr_db": [0, 100]}, r"data\.augmentation\.snr_db must be in \[-30, 60\], got 100"),
        ({"snr_db": 10}, r"data\.augmentation\.snr_db must be \[low, high\], two numbers"),
        ({"snr_db": [0, float("nan")]}, r"data\.augmentation\.snr_db must be a finite number"),
        ({"gain_db": "loud"}, r"data\.augmentation\.gain_db must be \[low, high\]"),
        ({"gain_db": [-100, 0]}, r"data\.augmentation\.gain_db must be in \[-60, 30\]"),
        ({"rir_prob": 2}, r"data\.augmentation\.rir_prob must be in \[0, 1\], got 2"),
        ({"rooms": 0}, r"data\.augmentation\.rooms must be in \[1, 10000\], got 0"),
        ({"rooms": 2.5}, r"data\.augmentation\.rooms must be a whole number"),
        ({"rt60_s": [0.1, 0.5]}, r"data\.augmentation\.rt60_s must be in \[0\.2, 1\.2\]"),
    ],
)
def test_a_bad_setting_names_its_key(setting, reason):
    with pytest.raises(ValueError, match=reason):
        Augmentation(**setting)


def write_rirs(folder: Path) -> None:
    """Two impulse responses: 16 kHz mono, and 8 kHz stereo with its direct path 10 ms late."""
    folder.mkdir()
    rng = np.random.default_rng(0)
    tail = rng.standard_normal(4000) * np.exp(-np.arange(4000) / 600) * 0.2
    sf.write(folder / "hall.wav", np.concatenate([[0.9], tail]), 16000, subtype="PCM_16")
    late = np.concatenate([np.zeros(80), [0.8], tail[:2000] * 0.5])
    sf.write(folder / "room.WAV", np.stack([late, late], 1), 8000, subtype="FLOAT")


def test_rir_dir_is_read_converted_aligned_and_checked(tmp_path):
    folder = tmp_path / "rirs"
    write_rirs(folder)
    hall, room = read_rirs(folder, SAMPLES)  # sorted: hall.wav, room.WAV
    assert len(hall) == 4001 and abs(len(room) - 2 * 2001) <= 16  # room: 8 kHz, resampled
    for rir in (hall, room):
        assert np.argmax(np.abs(rir)) == 0
        assert np.sum(rir.astype(np.float64) ** 2) == pytest.approx(1.0, abs=1e-5)
    assert len(read_rirs(folder, 1000)[0]) == 1000

    with pytest.raises(FileNotFoundError, match=r"data\.rir_dir: .*missing is not a folder"):
        read_rirs(tmp_path / "missing", SAMPLES)
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match=r"data\.rir_dir: .*empty holds no \.wav"):
        read_rirs(tmp_path / "empty", SAMPLES)
    sf.write(folder / "silent.wav", np.zeros(100), 16000)
    with pytest.raises(BadFileError, match=r"silent\.wav: all samples are zero"):
        read_rirs(folder, SAMPLES)
    (folder / "silent.wav").write_bytes(b"RIFF not audio")
    with pytest.raises(BadFileError, match=r"silent\.wav: "):
        read_rirs(folder, SAMPLES)
    sf.write(folder / "silent.wav", np.ones(16000 * 11) * 0.1, 16000)
    with pytest.raises(BadFileError, match=r"silent\.wav: 11\.000 s long, expected at most 10 s"):
        read_rirs(folder, SAMPLES)


def test_the_datamodule_reverberates_training_batches_with_rir_dir(
    synthetic_root, datamodule, tmp_path
):
    folder = tmp_path / "rirs"
    write_rirs(folder)
    settings = {"shift_s": 0.0, "noise_prob": 0.0, "silence_noise_volume": 0.0, "rir_prob": 1.0}
    dm = datamodule(synthetic_root, augmentation=settings, rir_dir=str(folder))
    dm.setup()
    bank = dm.batches.rir_bank
    assert bank.shape[0] == 2 and 4001 <= bank.shape[1] <= 4020  # the longer: room.WAV
    clips, labels = next(iter(dm.train_dataloader()))
    waveforms = clips.float() / 32768
    out = dm.augment(waveforms, labels)
    speaking = labels != dm.class_names.index(SILENCE)
    assert speaking.sum() > 10
    for row in torch.nonzero(speaking).squeeze(1)[:10].tolist():
        candidates = [
            np.clip(fftconvolve(waveforms[row].double().numpy(), h.double().numpy()), -1, 1)
            for h in bank
        ]
        errors = [np.abs(out[row].numpy() - c[:SAMPLES]).max() for c in candidates]
        assert min(errors) < 1e-5, f"row {row}: not one of the bank's convolutions"

    missing = datamodule(synthetic_root, augmentation=settings, rir_dir=str(tmp_path / "no"))
    with pytest.raises(FileNotFoundError, match=r"data\.rir_dir: .*no is not a folder"):
        missing.setup()
    nothing = datamodule(synthetic_root, augmentation=settings)
    with pytest.raises(ValueError, match=r"rir_prob needs room impulse responses"):
        nothing.prepare_data()


@pytest.mark.skipif(
    importlib.util.find_spec("pyroomacoustics") is None, reason="the `rooms` extra is missing"
)
def test_synthesised_rooms_join_the_bank(synthetic_root, datamodule):
    settings = {"rir_prob": 0.5, "rooms": 3, "rt60_s": [0.2, 0.3]}
    dm = datamodule(synthetic_root, augmentation=settings)
    bank = dm.rirs()
    assert bank.shape[0] == 3 and bank.shape[1] <= SAMPLES
    assert (bank.abs().argmax(1) == 0).all()
    assert torch.allclose(bank.double().square().sum(1), torch.ones(3, dtype=torch.float64))
    again = datamodule(synthetic_root, augmentation=settings).rirs()
    assert torch.equal(bank, again), "drawn from the seed"
