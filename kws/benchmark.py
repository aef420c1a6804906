"""Benchmarks, reported as ratios against peers measured in the same process and run.

``python -m kws.benchmark frontend [--device cpu|cuda] [--batch 256] [--threads 2] [--json PATH]``
times kws's MelSpectrogram against nnAudio (when installed), torchaudio (where it imports) and a
per-clip librosa loop (CPU, frozen forward only), with the same settings, in three cases: frozen,
trainable mel, trainable STFT and mel; forward and forward + backward. Repeats are interleaved
across implementations, so drifts in machine load hit every peer alike; medians are reported.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
import torch

from kws.frontend import MelSpectrogram

SAMPLE_RATE = 16000
CASES = {  # name: (trainable_stft, trainable_mel)
    "frozen": (False, False),
    "trainable_mel": (False, True),
    "trainable_stft_mel": (True, True),
}


@dataclass
class Timing:
    """One implementation in one setting: median and interquartile range of the repeats."""

    n_fft: int
    case: str
    mode: str
    impl: str
    median_ms: float
    iqr_ms: float
    repeats: int
    peak_mb: float | None


def _kws(n_fft: int, trainable_stft: bool, trainable_mel: bool) -> torch.nn.Module:
    return MelSpectrogram(
        n_fft=n_fft, win_length=480, hop_length=160, n_mels=40, log=None,
        trainable_stft=trainable_stft, trainable_mel=trainable_mel,
    )  # fmt: skip


def _nnaudio(n_fft: int, trainable_stft: bool, trainable_mel: bool) -> torch.nn.Module | None:
    try:
        from nnAudio.features.mel import MelSpectrogram as NNAudioMel
    except ImportError:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return NNAudioMel(
            sr=SAMPLE_RATE, n_fft=n_fft, win_length=480, hop_length=160, n_mels=40, htk=True,
            norm=None, fmin=0.0, fmax=None, trainable_mel=trainable_mel,
            trainable_STFT=trainable_stft, verbose=False,
        )  # fmt: skip


def _torchaudio(n_fft: int, trainable_stft: bool, trainable_mel: bool) -> torch.nn.Module | None:
    if trainable_stft or trainable_mel:
        return None  # torchaudio's filterbank and window are fixed buffers
    try:
        import torchaudio
    except (ImportError, OSError):
        return None
    return torchaudio.transforms.MelSpectrogram(
        sample_rate=SAMPLE_RATE, n_fft=n_fft, win_length=480, hop_length=160, n_mels=40,
        mel_scale="htk",
    )  # fmt: skip


def _librosa(n_fft: int) -> Callable[[np.ndarray], None] | None:
    try:
        import librosa
    except ImportError:
        return None

    def run(clips: np.ndarray) -> None:
        for clip in clips:  # librosa works one clip at a time, as a per-item data loader would
            librosa.feature.melspectrogram(
                y=clip, sr=SAMPLE_RATE, n_fft=n_fft, win_length=480, hop_length=160, n_mels=40,
                htk=True, norm=None, pad_mode="reflect",
            )  # fmt: skip

    return run


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed(fn: Callable[[], None], device: torch.device) -> float:
    """Seconds for one call; CUDA events on a GPU, so queued kernels are counted."""
    if device.type == "cuda":
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize(device)
        return start.elapsed_time(end) / 1000
    begin = time.perf_counter()
    fn()
    return time.perf_counter() - begin


def _peak_memory_mb(step: Callable[[], None], device: torch.device) -> float | None:
    """Peak device memory of one call on CUDA; ``None`` on the CPU, where torch keeps no count."""
    if device.type != "cuda":
        return None
    _synchronize(device)
    torch.cuda.reset_peak_memory_stats(device)
    step()
    _synchronize(device)
    return torch.cuda.max_memory_allocated(device) / 2**20


def _step(layer: torch.nn.Module, x: torch.Tensor, backward: bool) -> Callable[[], None]:
    def forward() -> None:
        with torch.no_grad():
            layer(x)

    def forward_backward() -> None:
        layer.zero_grad(set_to_none=True)
        layer(x).sum().backward()

    return forward_backward if backward else forward


def bench_frontend(
    device: str = "cpu", batch: int = 256, n_ffts: tuple[int, ...] = (480, 512),
    repeats: int = 9, warmup: int = 3,
) -> list[Timing]:  # fmt: skip
    """Time every available implementation in every case and mode, repeats interleaved."""
    dev = torch.device(device)
    x = 0.1 * torch.randn(batch, SAMPLE_RATE, generator=torch.Generator().manual_seed(0))
    x_dev = x.to(dev)
    timings: list[Timing] = []
    for n_fft in n_ffts:
        for case, (trainable_stft, trainable_mel) in CASES.items():
            builders = {"kws": _kws, "nnAudio": _nnaudio, "torchaudio": _torchaudio}
            layers = {
                name: build(n_fft, trainable_stft, trainable_mel)
                for name, build in builders.items()
            }
            layers = {name: layer.to(dev) for name, layer in layers.items() if layer is not None}
            modes = ["forward"] if case == "frozen" else ["forward", "forward+backward"]
            for mode in modes:
                steps = {
                    name: _step(layer, x_dev, mode != "forward") for name, layer in layers.items()
                }
                librosa_run = _librosa(n_fft) if case == "frozen" and dev.type == "cpu" else None
                if librosa_run is not None:
                    clips = x.numpy()
                    steps["librosa (per clip)"] = lambda run=librosa_run, c=clips: run(c)
                samples: dict[str, list[float]] = {name: [] for name in steps}
                peaks: dict[str, float | None] = {}
                for name, step in steps.items():
                    for _ in range(warmup):
                        step()
                    peaks[name] = _peak_memory_mb(step, dev)
                torch_steps = {n: s for n, s in steps.items() if not n.startswith("librosa")}
                for _ in range(repeats):  # torch peers interleaved: load drift hits all alike
                    for name, step in torch_steps.items():
                        samples[name].append(_timed(step, dev))
                for name in steps.keys() - torch_steps.keys():
                    # numpy's threads are not torch's: timed apart, so neither pool's idle
                    # spinning slows the other
                    samples[name] = [_timed(steps[name], dev) for _ in range(repeats)]
                for name, values in samples.items():
                    q1, _, q3 = statistics.quantiles(values, n=4) if len(values) > 1 else (0, 0, 0)
                    timings.append(
                        Timing(n_fft, case, mode, name, 1e3 * statistics.median(values),
                               1e3 * (q3 - q1), repeats, peaks[name])
                    )  # fmt: skip
    return timings


def format_table(timings: list[Timing]) -> str:
    """A table with, per setting, each implementation's median and kws's speed-up over it."""
    lines = [
        f"{'n_fft':>5} {'case':<19} {'mode':<17} {'implementation':<19} {'median ms':>10} "
        f"{'IQR ms':>8} {'peak MB':>8} {'kws speed-up':>12}"
    ]
    for timing in timings:
        kws = next(
            t for t in timings
            if (t.n_fft, t.case, t.mode, t.impl) == (timing.n_fft, timing.case, timing.mode, "kws")
        )  # fmt: skip
        ratio = timing.median_ms / kws.median_ms
        peak = f"{timing.peak_mb:.0f}" if timing.peak_mb is not None else "-"
        lines.append(
            f"{timing.n_fft:>5} {timing.case:<19} {timing.mode:<17} {timing.impl:<19} "
            f"{timing.median_ms:>10.1f} {timing.iqr_ms:>8.1f} {peak:>8} {ratio:>11.2f}x"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m kws.benchmark", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    frontend = commands.add_parser("frontend", help="kws frontend against its peers")
    frontend.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    frontend.add_argument("--batch", type=int, default=256)
    frontend.add_argument("--n-fft", type=int, nargs="+", default=[480, 512])
    frontend.add_argument("--repeats", type=int, default=9)
    frontend.add_argument("--threads", type=int, default=2, help="CPU threads (torch and BLAS)")
    frontend.add_argument("--json", help="also write the timings to this JSON file")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    timings = bench_frontend(args.device, args.batch, tuple(args.n_fft), args.repeats)
    print(f"device {args.device}, batch {args.batch} x 1 s clips, {args.threads} CPU threads")
    print(format_table(timings))
    if args.json:
        with open(args.json, "w") as file:
            json.dump(
                {"settings": vars(args), "timings": [asdict(t) for t in timings]}, file, indent=2
            )


if __name__ == "__main__":
    main()
