"""The basis study's knobs on the Mel frontend: how the basis trains (``mel_param``), its
initialisation (``mel_init``), masked FFT bins (``mask_bins``), PCEN compression, and heads that
take any frontend's feature count; each against a closed form or an independent reference."""

from __future__ import annotations

from pathlib import Path

import librosa
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from kws.data import KEYWORDS, SILENCE, UNKNOWN
from kws.frontend import MelSpectrogram
from kws.frontend.pcen import PCEN
from kws.training import KWSModule, load_checkpoint

SR = 16000
HZ_PER_BIN = SR / 512
CLASSES = [SILENCE, UNKNOWN, *KEYWORDS]
SGD = {"_target_": "torch.optim.SGD", "lr": 0.1}


def clips(batch: int = 4, seed: int = 1) -> torch.Tensor:
    return 0.1 * torch.randn(batch, SR, generator=torch.Generator().manual_seed(seed))


def one_step_relative_change(layer: MelSpectrogram, optimizer: str) -> float:
    """``||W1 - W0|| / ||W0||`` of the applied basis after one step on a fixed loss."""
    generator = torch.Generator().manual_seed(2)
    x = 0.1 * torch.randn(8, SR, generator=generator)
    readout = torch.randn(layer.n_mels, 101, generator=generator)
    before = layer.filterbank().detach().clone()
    make = torch.optim.SGD if optimizer == "sgd" else torch.optim.Adam
    step = make(layer.parameters(), lr=1e-3)
    ((layer(x) * readout).sum() / len(x)).backward()
    step.step()
    return ((layer.filterbank().detach() - before).norm() / before.norm()).item()


def as_before_issue_15(layer: MelSpectrogram) -> MelSpectrogram:
    """The layer as kws trained it before ``mel_param``: the applied basis is the parameter."""
    with torch.no_grad():
        layer.mel_basis.copy_(layer.filterbank())
        layer.basis_scale.fill_(1.0)
    return layer


# --- mel_param: the same setting, the same relative change -----------------------------------


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
@pytest.mark.parametrize("mel_param", ["additive", "multiplicative"])
def test_htk_and_slaney_bases_take_alike_relative_steps(optimizer, mel_param):
    def change(mel_scale, norm, legacy=False):
        layer = MelSpectrogram(
            n_fft=480, mel_scale=mel_scale, norm=norm, trainable_mel=True, mel_param=mel_param
        )
        return one_step_relative_change(as_before_issue_15(layer) if legacy else layer, optimizer)

    htk, slaney = change("htk", None), change("slaney", "slaney")
    assert htk > 0 and 1 / 3 < slaney / htk < 3
    # The raw parameter of before: Slaney's entries (at most 0.013) moved over 100 times further
    # (SGD: about 9,000 times) than HTK's, relative to their size.
    assert change("slaney", "slaney", legacy=True) / change("htk", None, legacy=True) > 100


def test_multiplicative_entries_step_relative_to_their_initial_value():
    layer = MelSpectrogram(trainable_mel=True, mel_param="multiplicative")
    initial = layer.initial_mel_basis.clone()
    assert torch.equal(layer.mel_basis, torch.ones_like(initial))
    torch.testing.assert_close(layer.basis_scale, initial)
    one_step_relative_change(layer, "adam")  # Adam's first step is lr in every moved entry
    moved = layer.filterbank().detach()
    support = initial > 0
    ratio = moved[support] / initial[support]
    assert ((ratio - 1).abs() <= 1e-3 + 1e-6).all() and (ratio - 1).abs().max() > 0.9e-3
    assert torch.equal(moved[~support], torch.zeros_like(moved[~support]))  # support kept


def test_additive_scale_is_each_filters_slaney_gain():
    layer = MelSpectrogram(mel_scale="slaney", norm="slaney", mel_param="additive")
    unit = librosa.filters.mel(sr=SR, n_fft=512, n_mels=40, htk=False, norm=None)
    area = librosa.filters.mel(sr=SR, n_fft=512, n_mels=40, htk=False, norm="slaney")
    gains = area.max(axis=1) / unit.max(axis=1)  # librosa's own normalisation, filter by filter
    np.testing.assert_allclose(layer.basis_scale[:, 0].numpy(), gains, rtol=1e-5)
    np.testing.assert_allclose(layer.mel_basis.numpy(), unit, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(layer.filterbank().numpy(), area, rtol=1e-5, atol=1e-9)


@pytest.mark.parametrize("mel_param", ["additive", "multiplicative"])
def test_trainable_basis_stays_finite_and_nonnegative_at_a_high_learning_rate(mel_param):
    torch.manual_seed(0)
    layer = MelSpectrogram(trainable_mel=True, mel_param=mel_param, norm="slaney")
    optimizer = torch.optim.SGD(layer.parameters(), lr=100.0)
    x = clips(2)
    for _ in range(20):
        optimizer.zero_grad()
        out = layer(x)
        assert torch.isfinite(out).all()
        out.mean().backward()
        optimizer.step()
    assert (layer.mel_basis < 0).any(), "the raw parameter went negative, as the test intends"
    assert (layer.filterbank() >= 0).all() and torch.isfinite(layer(x)).all()


def test_a_state_dict_from_before_basis_scale_loads_as_trained(tmp_path: Path):
    """Checkpoints of kws up to issue 14 hold the applied basis as ``mel_basis``."""
    module = KWSModule(
        {"_target_": "kws.frontend.MelSpectrogram", "trainable_mel": True, "norm": "slaney"},
        {"_target_": "kws.models.LinearClassifier", "n_features": None, "frames": None},
        CLASSES,
        SGD,
    ).eval()
    old = {k: v for k, v in module.state_dict().items() if not k.endswith("basis_scale")}
    trained = module.spotter.frontend.filterbank().detach() * (1 + 0.3 * torch.randn(40, 257))
    old["spotter.frontend.mel_basis"] = trained - 1e-3  # some entries negative, as trained
    path = tmp_path / "old.ckpt"
    torch.save({"hyper_parameters": dict(module.hparams), "state_dict": old}, path)
    loaded = load_checkpoint(path)
    mel = loaded.spotter.frontend
    torch.testing.assert_close(mel.filterbank(), (trained - 1e-3).clamp(min=0), rtol=0, atol=0)
    x = clips(2)
    with torch.no_grad():
        power = mel.stft(x).transpose(1, 2)
        expected = torch.log(power @ (trained - 1e-3).clamp(min=0).T + 1e-6).transpose(1, 2)
        torch.testing.assert_close(mel(x), expected)


# --- mel_init -----------------------------------------------------------------------------------


def test_linear_init_is_triangles_evenly_spaced_in_hz():
    # 15 filters from 0 to 8 kHz: edges every 500 Hz = 16 bins, each filter a triangle on bins
    # 16 i .. 16 (i + 2) peaking at 1 on bin 16 (i + 1).
    layer = MelSpectrogram(n_mels=15, mel_init="linear")
    expected = np.zeros((15, 257))
    ramp = np.arange(17) / 16
    for i in range(15):
        expected[i, 16 * i : 16 * i + 17] = ramp
        expected[i, 16 * (i + 1) : 16 * (i + 2) + 1] = ramp[::-1]
    np.testing.assert_allclose(layer.filterbank().numpy(), expected, atol=1e-6)
    initial, current = layer.filter_centres()
    np.testing.assert_allclose(initial.numpy(), 500.0 * np.arange(1, 16), rtol=1e-6)
    assert torch.equal(initial, current)
    slaney = MelSpectrogram(n_mels=15, mel_init="linear", norm="slaney")
    np.testing.assert_allclose(slaney.filterbank().numpy(), expected * 2 / 1000, atol=1e-9)


def test_random_init_is_seeded_uniform_with_the_mel_gains():
    layer = MelSpectrogram(mel_init="random", init_seed=3, trainable_mel=True)
    uniform = torch.rand(40, 257, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    torch.testing.assert_close(layer.filterbank(), uniform.float())
    assert (layer.filterbank() >= 0).all() and (layer.filterbank() < 1).all()
    again = MelSpectrogram(mel_init="random", init_seed=3).filterbank()
    assert torch.equal(again, layer.filterbank().detach())
    assert not torch.equal(MelSpectrogram(mel_init="random", init_seed=4).filterbank(), again)
    slaney = MelSpectrogram(mel_init="random", init_seed=3, mel_scale="slaney", norm="slaney")
    unit = librosa.filters.mel(sr=SR, n_fft=512, n_mels=40, htk=False, norm=None)
    area = librosa.filters.mel(sr=SR, n_fft=512, n_mels=40, htk=False, norm="slaney")
    gains = torch.from_numpy(area.max(axis=1) / unit.max(axis=1))
    torch.testing.assert_close(slaney.filterbank(), (gains[:, None] * uniform).float())


def test_filter_centres_are_the_initial_and_the_current_centres():
    layer = MelSpectrogram(trainable_mel=True)
    initial, current = layer.filter_centres()
    torch.testing.assert_close(initial, layer.centre_frequencies(layer.initial_mel_basis))
    with torch.no_grad():  # filter 20 two bins up (additive, norm None: the basis itself)
        layer.mel_basis[20] = torch.roll(layer.initial_mel_basis[20], 2)
    initial, current = layer.filter_centres()
    shift = current - initial
    assert shift[20].item() == pytest.approx(2 * HZ_PER_BIN, rel=1e-4)
    assert shift[torch.arange(40) != 20].abs().max() == 0


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("mel_init", "gaussian", "mel_init must be one of 'mel', 'random', 'linear'"),
        ("mel_param", "raw", "mel_param must be one of 'additive', 'multiplicative'"),
        ("compression", "db", "compression must be one of 'log', 'pcen'"),
        ("init_seed", -1, "init_seed must be in \\[0, "),
        ("mel_scale", "linear", "use mel_init='linear'"),
        ("mask_bins", [5, 5], "mask_bins must be null or \\[start, end\\]"),
        ("mask_bins", [0, 258], "n_fft // 2 \\+ 1 = 257"),
        ("mask_bins", [3], "mask_bins"),
        ("mask_bins", [1.0, 3], "mask_bins"),
        ("mask_bins", "0:3", "mask_bins"),
    ],
)
def test_bad_study_settings_name_their_key(key, value, message):
    with pytest.raises(ValueError, match=message):
        MelSpectrogram(**{key: value})


# --- mask_bins ----------------------------------------------------------------------------------


@pytest.mark.parametrize("trainable", [False, True])
def test_masked_bins_are_zeroed_before_the_projection(trainable):
    x = clips(2)
    plain = MelSpectrogram(trainable_stft=trainable, trainable_mel=trainable)
    masked = MelSpectrogram(mask_bins=[10, 60], trainable_stft=trainable, trainable_mel=trainable)
    with torch.no_grad():
        power = plain.stft(x)  # (batch, 257, frames)
        power[:, 10:60] = 0.0
        expected = torch.log(
            torch.matmul(power.transpose(1, 2), plain.filterbank().T).transpose(1, 2) + 1e-6
        )
        torch.testing.assert_close(masked(x), expected)
    assert torch.equal(masked.initial_mel_basis[:, 10:60], torch.zeros(40, 50))
    assert masked.drift()["mel_basis_change"] == 0
    if trainable:  # the masked columns neither contribute nor train
        step = torch.optim.SGD(masked.parameters(), lr=1.0)
        (masked(x) ** 2).mean().backward()
        assert torch.equal(masked.mel_basis.grad[:, 10:60], torch.zeros(40, 50))
        assert masked.mel_basis.grad.abs().sum() > 0
        step.step()
        assert torch.equal(masked.filterbank()[:, 10:60], torch.zeros(40, 50))


# --- compression=pcen ---------------------------------------------------------------------------


def test_pcen_compression_is_pcen_of_the_mel_energies():
    x = clips(2)
    layer = MelSpectrogram(compression="pcen", trainable_mel=True)
    energies = MelSpectrogram(log=None)(x)
    with torch.no_grad():
        torch.testing.assert_close(layer(x), PCEN(40)(energies))
    assert set(layer.drift()) >= {"mel_basis_change", "pcen_change"}
    assert layer.trainable_parts()["pcen_change"] is True
    module = KWSModule(
        {"_target_": "kws.frontend.MelSpectrogram", "compression": "pcen", "n_mels": 20},
        {"_target_": "kws.models.BCResNet", "n_features": None},
        CLASSES,
        SGD,
        frontend_optimizer={"lr": 0.01},
    )
    groups = {g["name"]: g for g in module.configure_optimizers()["optimizer"].param_groups}
    pcen = {id(p) for p in module.spotter.frontend.pcen.parameters()}
    assert pcen and pcen == {id(p) for p in groups["frontend"]["params"]}  # Mel basis fixed


# --- the heads take the frontend's feature count ----------------------------------------------


FRONTENDS = {
    "mel-10": {"_target_": "kws.frontend.MelSpectrogram", "n_mels": 10},
    "mel-20": {"_target_": "kws.frontend.MelSpectrogram", "n_mels": 20, "trainable_mel": True},
    "mel-40": {"_target_": "kws.frontend.MelSpectrogram", "n_mels": 40},
    "mfcc-20": {"_target_": "kws.frontend.MFCC", "n_mels": 20, "n_mfcc": None},
    "stft": {"_target_": "kws.frontend.STFT", "n_fft": 512, "win_length": 480, "log": "log"},
}
FEATURES = {"mel-10": 10, "mel-20": 20, "mel-40": 40, "mfcc-20": 20, "stft": 257}


@pytest.mark.parametrize("frontend", list(FRONTENDS))
def test_linear_head_takes_the_frontends_feature_count(frontend):
    head = {"_target_": "kws.models.LinearClassifier", "n_features": None, "frames": None}
    module = KWSModule(FRONTENDS[frontend], head, CLASSES, SGD)
    assert module.spotter.head.fc.in_features == FEATURES[frontend] * 101
    logits = module(clips(2))
    assert logits.shape == (2, 12)
    F.cross_entropy(logits, torch.tensor([0, 5])).backward()


@pytest.mark.parametrize("frontend", ["mel-10", "mel-20", "mfcc-20"])
def test_bcresnet_takes_the_frontends_bands_with_the_same_parameters(frontend):
    head = {"_target_": "kws.models.BCResNet", "n_features": None}
    module = KWSModule(FRONTENDS[frontend], head, CLASSES, SGD)
    assert module.spotter.head.n_features == FEATURES[frontend]
    assert sum(p.numel() for p in module.spotter.head.parameters()) == 9_232
    assert module(clips(2)).shape == (2, 12)


def test_bcresnet_on_257_stft_bins_fails_at_construction_naming_the_sizes():
    head = {"_target_": "kws.models.BCResNet", "n_features": None}
    with pytest.raises(ValueError, match=r"BCResNet does not take the frontend's \(257, 101\)"):
        KWSModule(FRONTENDS["stft"], head, CLASSES, SGD)


def test_the_tutorial_basis_trains_multiplicatively_and_bc_resnets_additively(compose_config):
    assert compose_config(["experiment=tutorial_linear"]).frontend.mel_param == "multiplicative"
    assert compose_config([]).frontend.mel_param == "additive"  # as before issue 15
    swept = compose_config(["frontend.n_mels=10", "frontend.mask_bins=[0,8]"])
    assert swept.model.n_features is None and list(swept.frontend.mask_bins) == [0, 8]
