"""The basis-health rule: a trainable basis that stops being a filterbank is found and reported."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from kws.frontend import STFT, MelSpectrogram, TriangularFilterbank
from kws.training.basis_health import BasisHealth, Finding

PARAMS = ["additive", "multiplicative"]


def _checks(findings: list[Finding]) -> dict[str, str]:
    return {finding.check: finding.severity for finding in findings}


@pytest.mark.parametrize("param", PARAMS)
def test_an_untouched_mel_basis_is_healthy(param):
    health = BasisHealth()
    health.record(health.examine(MelSpectrogram(trainable_mel=True, mel_param=param), 1))
    assert health.verdict() == {
        "status": "ok", "action": "warn", "findings": [],
        "measures": {"mel_basis": {"growth": 1.0, "bands": 40,
                                   "bands_held": 40, "low_band_share": pytest.approx(0.175)}},
    }  # fmt: skip


def test_a_fixed_basis_is_not_checked():
    health = BasisHealth()
    assert health.examine(MelSpectrogram(trainable_mel=False), 1) == []
    assert health.verdict()["measures"] == {}


@pytest.mark.parametrize("param", PARAMS)
def test_one_filter_scaled_by_1e4_is_a_stop_level_growth(param):
    mel = MelSpectrogram(trainable_mel=True, mel_param=param)
    with torch.no_grad():
        mel.mel_basis[5] *= 1e4
    (finding,) = BasisHealth().examine(mel, 9)
    assert (finding.epoch, finding.check, finding.severity) == (9, "growth", "stop")
    assert finding.value == pytest.approx(1e4, rel=1e-3) and finding.threshold == 100
    assert "filter 5, centred at 323 Hz" in finding.message


@pytest.mark.parametrize(("scale", "severity"), [(9.0, None), (20.0, "warn"), (150.0, "stop")])
def test_growth_levels(scale, severity):
    mel = MelSpectrogram(trainable_mel=True)
    with torch.no_grad():
        mel.mel_basis[30] *= scale
    assert _checks(BasisHealth().examine(mel, 1)).get("growth") == severity


def test_all_centres_moved_below_250_hz_is_a_collapse():
    mel = MelSpectrogram(trainable_mel=True)  # 40 filters, bins of 31.25 Hz
    with torch.no_grad():
        mel.mel_basis.zero_()
        for row in range(40):  # each filter a one-bin spike on one of bins 1 .. 7 (31 .. 219 Hz)
            mel.mel_basis[row, 1 + row % 7] = 1.0
    centres = mel.centre_frequencies()
    assert float(centres.max()) < 250
    findings = BasisHealth().examine(mel, 3)
    assert _checks(findings) == {"bands": "stop", "low_band": "stop"}
    crowded, low = findings
    assert (crowded.value, crowded.threshold) == (4, 20)  # the bands of the 4 lowest filters
    assert low.value == 1.0 and "below 400 Hz, up from 17%" in low.message


def test_filters_crowded_onto_two_bands_are_a_collapse():
    mel = MelSpectrogram(trainable_mel=True)  # as seen after 3 epochs at a frontend lr of 0.1
    with torch.no_grad():
        mel.mel_basis.zero_()
        mel.mel_basis[:20, 172] = 5.0  # 5375 Hz
        mel.mel_basis[20:, 16] = 5.0  # 500 Hz
    (finding,) = BasisHealth().examine(mel, 3)
    assert (finding.check, finding.value, finding.severity) == ("bands", 2, "stop")
    assert "40 filters are centred in 2 of the 40 initial filters' bands" in finding.message


def test_filters_emptied_by_a_multiplicative_basis_are_a_collapse():
    mel = MelSpectrogram(trainable_mel=True, mel_param="multiplicative")
    with torch.no_grad():
        mel.mel_basis[10:] = -1.0  # clamped to zero where applied: 30 empty filters
    (finding,) = BasisHealth().examine(mel, 1)
    assert (finding.check, finding.value) == ("bands", 10)


def test_non_finite_weights_are_a_stop_level_finding():
    mel = MelSpectrogram(trainable_mel=True)
    with torch.no_grad():
        mel.mel_basis[0, 3] = float("nan")
    (finding,) = BasisHealth().examine(mel, 1)
    assert (finding.check, finding.severity, finding.value) == ("non_finite", "stop", 1)


def test_trainable_stft_kernels_are_checked_for_growth_only():
    mel = MelSpectrogram(trainable_stft=True, trainable_mel=False)
    with torch.no_grad():
        mel.stft.kernels[7] *= 200.0
    health = BasisHealth()
    (finding,) = health.examine(mel, 1)
    assert health.measures == {"stft.kernels": {"growth": pytest.approx(200.0)}}
    assert (finding.basis, finding.check) == ("stft.kernels", "growth")
    assert finding.value == pytest.approx(200.0)
    assert BasisHealth().examine(STFT(trainable=True), 1) == []


def test_a_parametric_filterbank_is_checked_with_its_centres():
    bank = TriangularFilterbank()
    health = BasisHealth()
    assert health.examine(bank, 1) == [] and list(health.measures) == ["filterbank"]
    with torch.no_grad():
        bank.gap_logits[:-1] = -30.0  # every gap but the last closed: all centres at f_min
    assert _checks(health.examine(bank, 2)) == {"bands": "stop", "low_band": "stop"}


@pytest.mark.parametrize(("action", "status", "stops"), [("warn", "warned", False),
                                                         ("stop", "stopped", True)])  # fmt: skip
def test_action_decides_whether_a_stop_level_finding_ends_training(action, status, stops, caplog):
    mel = MelSpectrogram(trainable_mel=True)
    health = BasisHealth(action=action)
    trainer = SimpleNamespace(is_global_zero=True, should_stop=False)
    with torch.no_grad():
        mel.mel_basis[2] *= 20.0
    with caplog.at_level(logging.WARNING, "kws.training.basis_health"):
        health.record(health.examine(mel, 1), trainer)
        assert trainer.should_stop is False and health.verdict()["status"] == "warned"
        health.record(health.examine(mel, 2), trainer)  # the same finding is kept and said once
        with torch.no_grad():
            mel.mel_basis[2] *= 10.0
        health.record(health.examine(mel, 3), trainer)
    verdict = health.verdict()
    assert trainer.should_stop is stops and verdict["status"] == status
    assert [(f["epoch"], f["severity"]) for f in verdict["findings"]] == [(1, "warn"), (3, "stop")]
    messages = [r.getMessage() for r in caplog.records]
    assert sum("basis health, epoch" in m for m in messages) == 2
    stopped = [m for m in messages if "training stopped after epoch 3" in m]
    assert len(stopped) == stops and all("mel_param=multiplicative" in m for m in stopped)


@pytest.mark.parametrize(
    ("setting", "key"),
    [({"action": "halt"}, "action"), ({"warn_growth": 1.0}, "warn_growth"),
     ({"stop_growth": 5.0}, "stop_growth"), ({"low_band": 0.0}, "low_band"),
     ({"every_n_epochs": 0}, "every_n_epochs"), ({"max_low_share": 1.5}, "max_low_share")],
)  # fmt: skip
def test_bad_settings_name_their_key(setting, key):
    with pytest.raises(ValueError, match=f"callbacks.basis_health.{key}"):
        BasisHealth(**setting)


def test_a_trained_run_reports_a_healthy_basis(compose_config, synthetic_overrides):
    from kws.tasks import train

    cfg = compose_config([*synthetic_overrides, "trainer.max_epochs=2", "model=linear"])
    metrics = train(cfg)
    verdict = json.loads((Path(cfg.output_dir) / "metrics.json").read_text())["basis_health"]
    assert verdict == metrics["basis_health"]
    assert verdict["status"] == "ok" and verdict["findings"] == []
    measured = verdict["measures"]["mel_basis"]
    assert 1 < measured["growth"] < 10 and measured["bands_held"] >= 20
    assert metrics["drift"]["mel_basis_change"] > 0.1  # it trained


def test_a_run_whose_basis_blows_up_stops_and_says_so(compose_config, synthetic_overrides):
    from kws.tasks import train

    cfg = compose_config(
        [*synthetic_overrides, "trainer.max_epochs=3", "model=linear",
         "module.frontend_optimizer.lr=100", "callbacks.basis_health.action=stop"]
    )  # fmt: skip
    metrics = train(cfg)
    verdict = json.loads((Path(cfg.output_dir) / "metrics.json").read_text())["basis_health"]
    assert verdict["status"] == "stopped" and metrics["epochs"] == 1
    assert {(f["epoch"], f["check"], f["severity"]) for f in verdict["findings"]} >= {
        (1, "growth", "stop")
    }


@pytest.mark.parametrize(
    ("override", "reason"),
    [("callbacks.basis_health.action=halt", r"basis_health\.action must be 'warn' or 'stop'"),
     ("callbacks.basis_health.stop_growth=2", r"basis_health\.stop_growth must be in \[10, inf\]")],
)  # fmt: skip
def test_a_bad_rule_setting_fails_before_the_data_is_looked_at(
    compose_config, tmp_path, override, reason
):
    from kws.tasks import train

    cfg = compose_config([f"data_dir={tmp_path / 'nowhere'}", "data.download=false", override])
    with pytest.raises(ValueError, match=reason):
        train(cfg)
    assert not (tmp_path / "nowhere").exists()
