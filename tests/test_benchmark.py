"""The benchmark commands run and report ratios against peers measured in the same run."""

from __future__ import annotations

import json

import pytest
import torch

from kws.benchmark import common
from kws.benchmark.__main__ import main
from kws.benchmark.common import GpuBusy
from kws.benchmark.frontend import bench_frontend, format_table
from kws.benchmark.training import (
    HEADS,
    PRECISIONS,
    _compile_settings,
    _training_step,
    bench_train,
    clips_per_second,
    format_training,
)

ON_EVERY_DEVICE = pytest.mark.parametrize(
    "device",
    ["cpu", pytest.param("cuda", marks=[pytest.mark.gpu, pytest.mark.skipif(
        not torch.cuda.is_available(), reason="needs a CUDA device")])],
)  # fmt: skip


@ON_EVERY_DEVICE
def test_frontend_benchmark_times_every_peer_in_every_setting(device):
    timings = bench_frontend(device, batch=4, n_ffts=(480,), repeats=2, warmup=1)
    settings = {(t.case, t.mode) for t in timings}
    assert settings == {
        ("frozen", "forward"),
        ("trainable_mel", "forward"), ("trainable_mel", "forward+backward"),
        ("trainable_stft_mel", "forward"), ("trainable_stft_mel", "forward+backward"),
    }  # fmt: skip
    implementations = {t.impl for t in timings}
    assert {"kws", "nnAudio", "librosa (per clip)"} <= implementations
    librosa = [t for t in timings if t.impl == "librosa (per clip)"]
    assert [(t.case, t.mode) for t in librosa] == [("frozen", "forward")]  # on the CPU, always
    assert all(t.median_ms > 0 and t.repeats == 2 for t in timings)
    # peak memory: the GPU's, for the torch layers on CUDA; none for librosa, which runs on the CPU
    assert all((t.peak_mb is not None) is (device == "cuda" and t not in librosa) for t in timings)
    table = format_table(timings)
    # kws against itself, once per setting (a peer may also round to 1.00x by chance)
    kws_rows = [line.split() for line in table.splitlines()[1:] if line.split()[3:4] == ["kws"]]
    assert len(kws_rows) == len(settings) and all(row[-1] == "1.00x" for row in kws_rows)


def test_frontend_benchmark_command_writes_json_and_plot(tmp_path):
    json_path, plot_path = tmp_path / "b.json", tmp_path / "b.png"
    main(["frontend", "--batch", "2", "--n-fft", "512", "--repeats", "2", "--no-keep-freed-memory",
          "--json", str(json_path), "--plot", str(plot_path)])  # fmt: skip
    report = json.loads(json_path.read_text())
    assert {t["impl"] for t in report["timings"]} >= {"kws", "nnAudio"}
    assert plot_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@ON_EVERY_DEVICE
def test_training_benchmark_measures_every_pipeline_and_an_epoch_per_precision(device):
    results = bench_train(device, batch=16, steps=1, rounds=2, warmup=1, epoch_clips=40)
    rows = results["pipelines"]
    assert [(r["precision"], r["head"]) for r in rows] == [
        (precision, head) for precision in PRECISIONS for head in HEADS
    ]
    for row in rows:
        assert min(row["kws_clips_per_s"], row["reference_clips_per_s"]) > 0
        assert row["speed_up"] == pytest.approx(
            row["kws_clips_per_s"] / row["reference_clips_per_s"]
        )
        assert row["speed_up_ceiling"] == pytest.approx(
            row["head_alone_clips_per_s"] / row["reference_clips_per_s"]
        )
    on_device = [False, True] if device == "cuda" else [False]
    assert [(e["precision"], e["on_device"]) for e in results["epochs"]] == [
        (precision, where) for precision in PRECISIONS for where in on_device
    ]
    assert all(e["clips"] == 40 and e["seconds"] > 0 for e in results["epochs"])
    busy = [e["gpu_busy_percent"] for e in results["epochs"]]
    if device == "cpu":
        assert busy == [None] * len(PRECISIONS)
    else:  # an epoch of 40 clips may end before the first reading
        assert all(b is None or 0 <= b <= 100 for b in busy)
    assert ("split_to_device_s" in results) is (device == "cuda")
    table = format_training(results).splitlines()
    assert len(table) == 1 + len(rows) + len(results["epochs"]) + (device == "cuda")


@pytest.mark.parametrize(
    "precision, dtype", [("32", torch.float32), ("bf16-mixed", torch.bfloat16)]
)
def test_a_training_step_autocasts_as_lightning_does_and_steps(precision, dtype):
    model, seen = torch.nn.Linear(4, 3), []
    model.register_forward_hook(lambda module, inputs, output: seen.append(output.dtype))
    before = model.weight.detach().clone()
    step = _training_step(model, precision, torch.device("cpu"))
    assert step((torch.randn(5, 4), torch.tensor([0, 1, 2, 0, 1]))) == 5
    assert seen == [dtype]
    assert not torch.equal(model.weight, before)
    with pytest.raises(ValueError, match="16-mixed"):
        _training_step(model, "16-mixed", torch.device("cpu"))


def test_pipelines_take_turns_and_the_median_round_counts(monkeypatch):
    """A slow round (load drift) in one pipeline moves neither its median nor the other's."""
    clock, calls = [0.0], []
    monkeypatch.setattr(common.time, "perf_counter", lambda: clock[0])

    def pipeline(name: str, seconds_per_step: list[float]):
        def run() -> int:
            calls.append(name)
            clock[0] += seconds_per_step[min(calls.count(name) - 1, len(seconds_per_step) - 1)]
            return 10

        return run

    # two steps per round: "a" takes 0.1 s a step except in its second round (1 s)
    rates = clips_per_second(
        {"a": pipeline("a", [0.1, 0.1, 1.0, 1.0, 0.1]), "b": pipeline("b", [0.5])},
        steps=2, rounds=3, warmup=0, device=torch.device("cpu"),
    )  # fmt: skip
    assert calls == ["a", "a", "b", "b"] * 3
    assert rates == {"a": pytest.approx(100.0), "b": pytest.approx(20.0)}


def test_training_benchmark_command_writes_json_and_times_the_compiled_epoch(tmp_path):
    json_path = tmp_path / "train.json"
    main(["train", "--batch", "16", "--steps", "1", "--rounds", "1", "--precision", "32",
          "--epoch-clips", "20", "--no-keep-freed-memory", "--compile", "backend=eager",
          "--json", str(json_path)])  # fmt: skip
    report = json.loads(json_path.read_text())
    assert report["settings"]["precision"] == ["32"] and report["freed_memory_kept"] is False
    assert report["settings"]["compile"] == ["backend=eager"]
    assert [row["head"] for row in report["pipelines"]] == list(HEADS)
    assert [(e["compiled"], e["clips"]) for e in report["epochs"]] == [(False, 20), (True, 20)]


def test_compile_option_takes_key_value_pairs():
    assert _compile_settings(["backend=cudagraphs", "dynamic=true"]) == {
        "backend": "cudagraphs", "dynamic": True,
    }  # fmt: skip
    assert _compile_settings(None) is None
    with pytest.raises(ValueError, match="--compile takes KEY=VALUE pairs, got 'cudagraphs'"):
        _compile_settings(["cudagraphs"])


def test_gpu_busy_averages_the_readings_taken_inside_the_block():
    readings = iter([0.0, 40.0, 80.0])  # the first answers the probe, before the block
    calls = []

    def read() -> float:
        calls.append(None)
        return next(readings, 80.0)

    with GpuBusy(torch.device("cuda"), interval_s=0.001, read=read) as busy:
        while len(calls) < 4:
            pass
    taken = len(busy.readings)
    assert busy.readings == [40.0] + [80.0] * (taken - 1)
    assert busy.percent == pytest.approx((40 + 80 * (taken - 1)) / taken)
    assert len(calls) == taken + 1  # the thread stopped with the block


def test_gpu_busy_gives_no_figure_on_the_cpu_or_without_nvml(capsys):
    def unreadable() -> float:
        raise ModuleNotFoundError("No module named 'pynvml'")

    with GpuBusy(torch.device("cpu"), read=unreadable) as busy:
        pass
    assert busy.percent is None and capsys.readouterr().out == ""  # not even asked
    with GpuBusy(torch.device("cuda"), read=unreadable) as busy:
        pass
    assert busy.percent is None
    assert "GPU utilisation not read (ModuleNotFoundError: No module named 'pynvml')" in (
        capsys.readouterr().out
    )
