"""The benchmark commands run and report ratios against peers measured in the same run."""

from __future__ import annotations

import json

import pytest
import torch

from kws.benchmark import bench_frontend, bench_train, format_table, main


@pytest.mark.parametrize(
    "device",
    ["cpu", pytest.param("cuda", marks=[pytest.mark.gpu, pytest.mark.skipif(
        not torch.cuda.is_available(), reason="needs a CUDA device")])],
)  # fmt: skip
def test_frontend_benchmark_times_every_peer_in_every_setting(device):
    timings = bench_frontend(device, batch=4, n_ffts=(480,), repeats=2, warmup=1)
    settings = {(t.case, t.mode) for t in timings}
    assert settings == {
        ("frozen", "forward"),
        ("trainable_mel", "forward"), ("trainable_mel", "forward+backward"),
        ("trainable_stft_mel", "forward"), ("trainable_stft_mel", "forward+backward"),
    }  # fmt: skip
    implementations = {t.impl for t in timings}
    assert "kws" in implementations and "nnAudio" in implementations
    assert ("librosa (per clip)" in implementations) is (device == "cpu")
    assert all(t.median_ms > 0 and t.repeats == 2 for t in timings)
    assert all((t.peak_mb is not None) is (device == "cuda") for t in timings)
    table = format_table(timings)
    assert table.count("1.00x") == len(settings)  # kws against itself, once per setting


def test_frontend_benchmark_command_writes_json_and_plot(tmp_path):
    json_path, plot_path = tmp_path / "b.json", tmp_path / "b.png"
    main(["frontend", "--batch", "2", "--n-fft", "512", "--repeats", "2",
          "--json", str(json_path), "--plot", str(plot_path)])  # fmt: skip
    report = json.loads(json_path.read_text())
    assert {t["impl"] for t in report["timings"]} >= {"kws", "nnAudio"}
    assert plot_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_training_benchmark_measures_both_pipelines_and_an_epoch():
    results = bench_train("cpu", steps=2, warmup=1, epoch_clips=150)
    assert results["kws_clips_per_s"] > 0 and results["reference_clips_per_s"] > 0
    assert results["speed_up"] == pytest.approx(
        results["kws_clips_per_s"] / results["reference_clips_per_s"]
    )
    assert results["epoch_clips"] == 150 and results["epoch_s"] > 0
