import pytest
import torch
from torch import nn

from kws.frontend import MelSpectrogram
from kws.models import BCResNet, KeywordSpotter, LinearClassifier, SpecAugment


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


# Table 1 of Kim et al. 2021 (arXiv:2106.04140).
@pytest.mark.parametrize(
    ("tau", "expected"),
    [(1, 9_232), (1.5, 17_154), (2, 27_284), (3, 54_168), (6, 187_812), (8, 321_068)],
)
def test_bcresnet_parameter_count_matches_paper(tau: float, expected: int) -> None:
    assert count_parameters(BCResNet(tau=tau)) == expected


@pytest.mark.parametrize("tau", [1, 1.5])
@pytest.mark.parametrize("frames", [101, 51])
def test_bcresnet_output_shape(tau: float, frames: int) -> None:
    model = BCResNet(tau=tau).eval()
    with torch.no_grad():
        out = model(torch.randn(3, 40, frames))
    assert out.shape == (3, 12)


def test_bcresnet_num_classes_and_80_mels() -> None:
    model = BCResNet(num_classes=35).eval()
    with torch.no_grad():
        assert model(torch.randn(2, 40, 101)).shape == (2, 35)
        assert model(torch.randn(2, 80, 101)).shape == (2, 35)


def test_bcresnet_intermediate_shapes() -> None:
    model = BCResNet(tau=1).eval()
    shapes: list[tuple[int, ...]] = []
    modules = [model.stem, *model.stages, model.head[0]]
    for module in modules:
        module.register_forward_hook(lambda _m, _i, out: shapes.append(tuple(out.shape)))
    with torch.no_grad():
        model(torch.randn(2, 40, 101))
    # (B, C, F, T): freq 40 -> 20 -> 10 -> 5 -> 1, time never downsampled.
    assert shapes == [
        (2, 16, 20, 101),  # stem
        (2, 8, 20, 101),  # stage 0
        (2, 12, 10, 101),  # stage 1
        (2, 16, 5, 101),  # stage 2
        (2, 20, 5, 101),  # stage 3
        (2, 20, 1, 101),  # head depthwise 5x5
    ]


def test_bcresnet_transition_blocks_are_stage_starts() -> None:
    model = BCResNet(tau=1)
    transitions = [[block.transition for block in stage] for stage in model.stages]
    assert transitions == [[True, False], [True, False], [True] + [False] * 3, [True] + [False] * 3]


def _silence_f2(block: nn.Module) -> nn.Module:
    """Zero the SubSpectralNorm affine params: f2 = 0, hence (in eval) f1 = 0 too."""
    nn.init.zeros_(block.f2[1].bn.weight)
    nn.init.zeros_(block.f2[1].bn.bias)
    return block.eval()


def test_bcresnet_identity_shortcut_only_in_normal_blocks() -> None:
    model = BCResNet(tau=1)
    transition, normal = (_silence_f2(block) for block in model.stages[0])
    x = torch.randn(2, 16, 20, 11)
    with torch.no_grad():
        assert torch.equal(transition(x), torch.zeros(2, 8, 20, 11))  # no shortcut
        assert torch.equal(normal(x[:, :8]), torch.relu(x[:, :8]))  # ReLU(identity)


def test_bcresnet_rejects_bad_mel_count() -> None:
    with pytest.raises(ValueError, match=r"n_features=64 .* sizes \[64, 64, 64, 64, 64\].*=5"):
        BCResNet(n_features=64)
    model = BCResNet()
    with pytest.raises(ValueError, match="built for n_features=40 .* got 64"):
        model(torch.randn(2, 64, 101))
    with pytest.raises(ValueError, match="built for n_features=10 .* got 40"):
        BCResNet(n_features=10)(torch.randn(2, 40, 101))
    with pytest.raises(ValueError, match="batch, n_mels, frames"):
        model(torch.randn(2, 1, 40, 101))


@pytest.mark.parametrize(
    ("n_features", "sizes"),
    [
        (40, [20, 20, 10, 5, 5, 1]),  # the paper's
        (80, [40, 40, 20, 10, 10, 6]),
        (20, [10, 10, 5, 5, 5, 1]),
        (10, [5, 5, 5, 5, 5, 1]),
        (30, [15, 15, 15, 15, 15, 11]),
    ],
)
def test_bcresnet_halves_frequency_while_the_bands_allow(n_features: int, sizes: list[int]) -> None:
    model = BCResNet(tau=1, n_features=n_features).eval()
    assert count_parameters(model) == 9_232  # strides hold no parameters
    seen: list[int] = []
    for module in [model.stem, *model.stages, model.head[0]]:
        module.register_forward_hook(lambda _m, _i, out: seen.append(out.shape[2]))
    with torch.no_grad():
        assert model(torch.randn(2, n_features, 21)).shape == (2, 12)
    assert seen == sizes  # stem, four stages, the head's unpadded 5x5


def test_bcresnet_backward_gives_finite_grads() -> None:
    torch.manual_seed(0)
    model = BCResNet(tau=1).train()
    logits = model(torch.randn(8, 40, 101))
    nn.functional.cross_entropy(logits, torch.randint(0, 12, (8,))).backward()
    for name, p in model.named_parameters():
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name


def test_bcresnet_settings_at_their_bounds_build_and_beyond_them_name_the_key() -> None:
    narrowest = BCResNet(tau=0.125, dropout=1.0, sub_bands=1).eval()  # one base channel
    assert narrowest(torch.randn(2, 40, 11)).shape == (2, 12)
    with torch.device("meta"):  # 4.4 G parameters: shapes only
        assert count_parameters(BCResNet(tau=1000)) == 4_420_804_012
    for settings, message in [
        ({"tau": 0.124}, r"model\.tau must be in \[0\.125, 1000\], got 0\.124"),
        ({"tau": 1000.5}, r"model\.tau must be in \[0\.125, 1000\], got 1000\.5"),
        ({"dropout": 1.01}, r"model\.dropout must be in \[0, 1\], got 1\.01"),
        ({"sub_bands": 41}, r"model\.sub_bands must be in \[1, 40\], got 41"),
        ({"n_features": 100_001}, r"model\.n_features must be in \[1, 100000\]"),
        ({"num_classes": 0}, r"num_classes must be in \[1, 100000\], got 0"),
    ]:
        with pytest.raises(ValueError, match=f"^{message}"):
            BCResNet(**settings)


def test_linear_classifier() -> None:
    model = LinearClassifier()
    assert count_parameters(model) == 4_040 * 12 + 12 == 48_492
    assert model(torch.randn(5, 40, 101)).shape == (5, 12)
    with pytest.raises(ValueError, match=r"\(batch, 40, 101\)"):
        model(torch.randn(5, 40, 100))
    with pytest.raises(ValueError, match=r"\(batch, 40, 101\)"):
        model(torch.randn(40, 101))
    with pytest.raises(ValueError, match=r"^model\.frames must be a whole number, got nan"):
        LinearClassifier(frames=float("nan"))
    with pytest.raises(ValueError, match=r"^model\.n_features must be in \[1, 100000\], got"):
        LinearClassifier(n_features=10**9)  # 4.8 TB of weights before the check


def _spectrogram(batch: int = 16, freq: int = 40, frames: int = 101) -> torch.Tensor:
    return torch.rand(batch, freq, frames) + 1.0  # strictly positive: no bin equals fill 0


def test_spec_augment_eval_and_zero_width_are_identity() -> None:
    x = _spectrogram()
    aug = SpecAugment(freq_mask_width=10, time_mask_width=20).eval()
    assert torch.equal(aug(x), x)
    assert torch.equal(SpecAugment().train()(x), x)


def test_spec_augment_frequency_masks() -> None:
    torch.manual_seed(0)
    width = 7
    x = _spectrogram(batch=64)
    out = SpecAugment(freq_mask_width=width, fill=-3.0).train()(x)
    masked = out != x
    assert (out[masked] == -3.0).all()
    # A frequency mask covers whole rows, so each row is fully masked or untouched.
    rows_masked = masked.all(dim=2)
    assert torch.equal(masked.any(dim=2), rows_masked)
    per_example = rows_masked.sum(dim=1)
    assert (per_example <= 2 * width).all()
    assert per_example.sum() > 0
    # Examples get independent masks.
    assert len({tuple(r.tolist()) for r in rows_masked}) > 32


def test_spec_augment_time_masks() -> None:
    torch.manual_seed(1)
    width = 20
    x = _spectrogram(batch=32)
    out = SpecAugment(time_mask_width=width).train()(x)
    masked = out == 0.0
    cols_masked = masked.all(dim=1)
    assert torch.equal(masked.any(dim=1), cols_masked)
    assert (cols_masked.sum(dim=1) <= 2 * width).all()
    assert torch.equal(out[~masked], x[~masked])
    assert cols_masked.sum() > 0
    # Examples get independent masks.
    assert len({tuple(c.tolist()) for c in cols_masked}) > 16


def test_keyword_spotter_is_frontend_spec_augment_head() -> None:
    torch.manual_seed(0)
    frontend, head = MelSpectrogram(), LinearClassifier(n_features=40, frames=101, num_classes=5)
    spotter = KeywordSpotter(frontend, head, SpecAugment(freq_mask_width=10, time_mask_width=20))
    waveform = torch.randn(3, 16000)
    with torch.no_grad():
        clean = head(frontend(waveform))
        assert torch.equal(spotter.eval()(waveform), clean)  # SpecAugment is off in eval
        assert not torch.equal(spotter.train()(waveform), clean)  # and masks in training
        assert torch.equal(KeywordSpotter(frontend, head).train()(waveform), clean)
    assert clean.shape == (3, 5)
