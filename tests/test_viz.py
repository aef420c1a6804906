"""kws.reporting.figures show the numbers they claim; the callback logs them to every logger."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch
from matplotlib.image import imread
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from kws.frontend import MFCC, STFT, MelSpectrogram
from kws.reporting.figures import (
    CHANGE_FLOOR_DB,
    drift_figure,
    frontend_figures,
    kernel_responses,
    mel_filterbank_figure,
    save_figures,
    stft_kernels_figure,
    stft_response_figure,
)
from kws.tasks import train

HZ_PER_BIN = 16000 / 512


def test_mel_figure_shows_a_moved_filters_centre_shift():
    mel = MelSpectrogram(trainable_mel=True)
    with torch.no_grad():
        mel.mel_basis[20] = torch.roll(mel.initial_mel_basis[20], 3)  # 3 bins up
    figure = mel_filterbank_figure(mel)
    filters, shifts = figure.axes
    plotted_shift = shifts.collections[-1].get_offsets()[:, 1]
    expected = np.zeros(40)
    expected[20] = 3 * HZ_PER_BIN
    np.testing.assert_allclose(plotted_shift, expected, atol=1e-3)
    np.testing.assert_allclose(plotted_shift, mel.drift()["mel_centre_shift_hz"], atol=1e-4)
    assert "learned" in filters.get_title() and "initial" in filters.get_title()
    assert "Hz" in shifts.get_xlabel() and "Hz" in shifts.get_ylabel()
    largest = re.search(r"largest ([\d.]+) Hz", shifts.get_title()).group(1)
    assert float(largest) == pytest.approx(3 * HZ_PER_BIN, abs=0.1)
    assert len(filters.lines) == 2 * 40  # every filter, learned and initial

    fixed = mel_filterbank_figure(MelSpectrogram(trainable_mel=False))
    assert "fixed" in fixed.axes[0].get_title()


def test_kernel_responses_peak_where_each_kernel_is_tuned():
    stft = STFT(n_fft=512, win_length=480, trainable=True)
    initial = kernel_responses(stft.initial_kernels, stft.n_fft)
    assert initial.shape == (257, 257)
    np.testing.assert_array_equal(initial.argmax(axis=1), np.arange(257))
    assert initial[100, 100] == pytest.approx(240.0)  # the sum of a 480-tap Hann window

    n = stft.n_freqs
    with torch.no_grad():  # retune kernel 40 to the frequency of bin 45
        stft.kernels[[40, n + 40]] = stft.initial_kernels[[45, n + 45]]
    learned = kernel_responses(stft.kernels, stft.n_fft)
    assert learned[40].argmax() == 45 and learned[41].argmax() == 41

    figure = stft_response_figure(stft)
    initial_db, learned_db, change_db = (axis.images[0].get_array() for axis in figure.axes[:3])
    assert learned_db[40].argmax() == 45 and initial_db[40].argmax() == 40
    changed_rows = np.flatnonzero((change_db > CHANGE_FLOOR_DB).any(axis=1))
    np.testing.assert_array_equal(changed_rows, [40])
    assert change_db.max() == pytest.approx(0.0, abs=0.1)  # a whole kernel moved: full scale
    assert all("Hz" in axis.get_xlabel() for axis in figure.axes[:3])

    row = stft_kernels_figure(stft, frequencies_hz=[40 * HZ_PER_BIN]).axes
    before, after = stft.initial_kernels[[40, n + 40]], stft.kernels[[40, n + 40]]
    moved = (after - before).norm() / before.norm()
    assert f"{100 * moved:.2g}% of its norm" in row[2].get_title()
    assert "1250 Hz kernel (bin 40)" in row[0].get_title()
    assert row[0].lines[1].get_xdata()[-1] == pytest.approx(479 / 16)  # ms, the window's last tap

    fixed = stft_response_figure(STFT(n_fft=512, win_length=480))  # no change panel: see
    assert [len(axis.images) for axis in fixed.axes] == [1, 0]  # tests/test_figures_look.py
    assert "fixed" in fixed.axes[0].get_title()


def test_drift_figure_gives_each_parts_relative_change():
    mfcc = MFCC(trainable_dct=True, trainable_mel=True)
    with torch.no_grad():
        mfcc.dct.mul_(1.1)
        mfcc.mel.mel_basis.mul_(1.25)
    axis = drift_figure(mfcc).axes[0]
    heights = [bar.get_height() for bar in axis.patches]
    labels = [tick.get_text() for tick in axis.get_xticklabels()]
    assert labels == ["STFT kernels", "Mel basis", "DCT"]
    np.testing.assert_allclose(heights, [0.0, 25.0, 10.0], rtol=1e-5)
    notes = [text.get_text() for text in axis.texts]
    assert notes[0] == "fixed" and notes[1].startswith("25%") and notes[2] == "10%"
    assert "%" in axis.get_ylabel()


@pytest.mark.parametrize(
    ("frontend", "names"),
    [
        (STFT(n_fft=256), {"stft_kernels", "stft_response", "frontend_drift"}),
        (MelSpectrogram(), {"mel_filterbank", "stft_kernels", "stft_response", "frontend_drift"}),
        (MFCC(n_mfcc=13), {"mel_filterbank", "stft_kernels", "stft_response", "frontend_drift"}),
    ],
    ids=["stft", "mel", "mfcc"],
)
def test_every_frontend_gets_the_figures_of_its_parts(tmp_path, frontend, names):
    figures = frontend_figures(frontend)
    assert set(figures) == names
    paths = save_figures(figures, tmp_path, dpi=50)
    for path in paths:
        height, width, _ = imread(path).shape
        figure_width, figure_height = figures[path.stem].get_size_inches()
        assert (width, height) == (round(50 * figure_width), round(50 * figure_height))


def _images_in_tensorboard(run_dir: Path) -> set[str]:
    events = EventAccumulator(str(run_dir / "tensorboard"), size_guidance={"images": 0})
    return set(events.Reload().Tags()["images"])


def test_callback_logs_figures_to_files_tensorboard_and_wandb(
    compose_config, synthetic_overrides, monkeypatch
):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    wandb = pytest.importorskip("wandb")
    cfg = compose_config(
        [*synthetic_overrides, "model=linear", "logger=many", "trainer.max_epochs=1",
         "+trainer.limit_train_batches=1", "+trainer.limit_val_batches=1",
         "callbacks.frontend_figures.every_n_epochs=1"]
    )  # fmt: skip
    try:
        train(cfg)
    finally:
        wandb.finish()
    run_dir = Path(cfg.output_dir)
    names = {"mel_filterbank", "stft_kernels", "stft_response", "frontend_drift"}
    assert {p.stem for p in (run_dir / "figures" / "epoch_000").glob("*.png")} == names
    assert _images_in_tensorboard(run_dir) == {f"frontend/{name}" for name in names}
    (offline_run,) = (run_dir / "wandb").glob("offline-run-*")
    logged = {p.parent.name + "/" + p.name.split("_")[0] for p in offline_run.rglob("*.png")}
    assert {f"frontend/{name.split('_')[0]}" for name in names} <= logged


def test_callback_draws_only_every_n_epochs(compose_config, synthetic_overrides):
    cfg = compose_config(
        [*synthetic_overrides, "model=linear", "trainer.max_epochs=3",
         "+trainer.limit_train_batches=1", "+trainer.limit_val_batches=1",
         "callbacks.frontend_figures.every_n_epochs=2"]
    )  # fmt: skip
    train(cfg)
    drawn = sorted(p.name for p in (Path(cfg.output_dir) / "figures").iterdir())
    assert drawn == ["epoch_001"]
