"""The frontend benchmark: kws's MelSpectrogram against nnAudio (when installed), torchaudio (where
it imports) and a per-clip librosa loop (frozen forward only, on the CPU whatever the device: on a
GPU, the layer is compared with the loop a CPU data loader would run), with the same settings, in
three cases: frozen, trainable mel, trainable STFT and mel; forward and forward + backward. In
the trainable-mel case the parametric filterbanks (triangular, Sinc, LEAF) are timed too, each
against kws's trainable Mel layer (their budget: forward + backward at most 2x its time).
Repeats are interleaved across implementations, so drifts in machine load hit every peer alike;
medians are reported, as a table and optionally a bar chart of kws's speed-ups.
"""

from __future__ import annotations

import argparse
import statistics
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from kws.benchmark.common import Report, add_timed_command, peak_memory_mb, timed
from kws.data.layout import SAMPLE_RATE
from kws.frontend import LEAF, MelSpectrogram, SincFilterbank, TriangularFilterbank

CASES = {  # name: (trainable_stft, trainable_mel)
    "frozen": (False, False),
    "trainable_mel": (False, True),
    "trainable_stft_mel": (True, True),
}
#: The parametric filterbanks, timed in the "trainable_mel" case against kws's trainable Mel
#: layer, with their default settings at its frame and hop (LEAF: PCEN, 401-tap pooling).
PARAMETRIC = {
    "triangular": TriangularFilterbank,
    "sinc": SincFilterbank,
    "leaf (Gabor+PCEN)": LEAF,
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


def nnaudio_mel(n_fft: int, trainable_stft: bool, trainable_mel: bool) -> torch.nn.Module | None:
    """nnAudio's MelSpectrogram with kws's settings; ``None`` where nnAudio is not installed.

    Args:
        n_fft: the FFT size; windows of 480 samples, hops of 160, 40 HTK Mel bands.
        trainable_stft: whether the Fourier kernels train.
        trainable_mel: whether the Mel filterbank trains.
    """
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
    """Time every available implementation in every case and mode, repeats interleaved.

    Args:
        device: ``"cpu"`` or ``"cuda"``, for the torch layers; librosa runs on the CPU.
        batch: clips of one second per call.
        n_ffts: the FFT sizes to time, each in every case.
        repeats: timed calls per implementation and setting.
        warmup: untimed calls before them.

    Returns:
        A timing per FFT size, case, mode and implementation.
    """
    dev, cpu = torch.device(device), torch.device("cpu")
    x = 0.1 * torch.randn(batch, SAMPLE_RATE, generator=torch.Generator().manual_seed(0))
    x_dev = x.to(dev)
    timings: list[Timing] = []
    for n_fft in n_ffts:
        for case, (trainable_stft, trainable_mel) in CASES.items():
            builders = {"kws": _kws, "nnAudio": nnaudio_mel, "torchaudio": _torchaudio}
            layers = {
                name: build(n_fft, trainable_stft, trainable_mel)
                for name, build in builders.items()
            }
            if case == "trainable_mel":
                layers |= {name: cls(n_fft=n_fft) for name, cls in PARAMETRIC.items()}
            layers = {name: layer.to(dev) for name, layer in layers.items() if layer is not None}
            modes = ["forward"] if case == "frozen" else ["forward", "forward+backward"]
            for mode in modes:
                steps = {
                    name: _step(layer, x_dev, mode != "forward") for name, layer in layers.items()
                }
                librosa_run = _librosa(n_fft) if case == "frozen" else None
                if librosa_run is not None:
                    clips = x.numpy()
                    steps["librosa (per clip)"] = lambda run=librosa_run, c=clips: run(c)
                samples: dict[str, list[float]] = {name: [] for name in steps}
                peaks: dict[str, float | None] = {}
                torch_steps = {n: s for n, s in steps.items() if not n.startswith("librosa")}
                for name, step in torch_steps.items():
                    for _ in range(warmup):
                        step()
                    peaks[name] = peak_memory_mb(step, dev)
                for _ in range(repeats):  # torch peers interleaved: load drift hits all alike
                    for name, step in torch_steps.items():
                        samples[name].append(timed(step, dev))
                for name in steps.keys() - torch_steps.keys():
                    # numpy's BLAS threads spin for a while after each call: librosa is warmed
                    # up and timed only after the torch peers, so its threads slow none of them
                    for _ in range(warmup):
                        steps[name]()
                    peaks[name] = None
                    samples[name] = [timed(steps[name], cpu) for _ in range(repeats)]
                for name, values in samples.items():
                    q1, _, q3 = statistics.quantiles(values, n=4) if len(values) > 1 else (0, 0, 0)
                    timings.append(
                        Timing(n_fft, case, mode, name, 1e3 * statistics.median(values),
                               1e3 * (q3 - q1), repeats, peaks[name])
                    )  # fmt: skip
    return timings


def format_table(timings: list[Timing]) -> str:
    """A table with, per setting, each implementation's median and kws's speed-up over it (for a
    parametric filterbank: its time over kws's trainable Mel layer's).

    Args:
        timings: from ``bench_frontend``, kws's among them in every setting.
    """
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
            f"{timing.median_ms:>10.3f} {timing.iqr_ms:>8.3f} {peak:>8} {ratio:>11.2f}x"
        )
    return "\n".join(lines)


def plot_speed_ups(timings: list[Timing], path: str) -> None:
    """A bar chart of kws's speed-up over each peer, per setting, as ``<path stem>.png``.

    Args:
        timings: from ``bench_frontend``, kws's among them in every setting.
        path: the PNG file; its stem names the figure, its folder receives it.
    """
    from matplotlib.figure import Figure

    from kws.plotting.images import save_figures

    settings = sorted({(t.n_fft, t.case, t.mode) for t in timings}, key=str)
    peers = sorted({t.impl for t in timings} - {"kws"})
    medians = {(t.n_fft, t.case, t.mode, t.impl): t.median_ms for t in timings}
    figure = Figure(figsize=(10, 5), dpi=100)
    axes = figure.add_subplot()
    width = 0.8 / max(1, len(peers))
    for i, peer in enumerate(peers):
        ratios = [medians.get((*s, peer), float("nan")) / medians[(*s, "kws")] for s in settings]
        axes.bar([x + i * width for x in range(len(settings))], ratios, width, label=peer)
    axes.axhline(1.0, color="black", linewidth=0.8)
    axes.set_xticks([x + width * (len(peers) - 1) / 2 for x in range(len(settings))])
    cases = {c: c.replace("_", " ").replace("trainable ", "trainable\n") for c in CASES}
    axes.set_xticklabels([f"n_fft {n}\n{cases[c]}\n{m}" for n, c, m in settings], fontsize=7)
    axes.set_ylabel("kws speed-up (peer time / kws time)")
    axes.set_title("Frontend time of each peer relative to kws (higher: kws faster)")
    axes.legend()
    figure.tight_layout()
    save_figures({Path(path).stem: figure}, Path(path).parent)


def run(args: argparse.Namespace) -> Report:
    """The ``frontend`` command: time, print the table, draw the plot if asked.

    Args:
        args: the parsed command line.
    """
    timings = bench_frontend(args.device, args.batch, tuple(args.n_fft), args.repeats)
    print(format_table(timings))
    report: Report = {"timings": [asdict(t) for t in timings]}
    if args.plot:
        plot_speed_ups(timings, args.plot)
    return report


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Add the ``frontend`` command.

    Args:
        commands: the CLI's subparsers.
    """
    frontend = add_timed_command(commands, "frontend", run, help="frontend against peers")
    frontend.add_argument("--n-fft", type=int, nargs="+", default=[480, 512])
    frontend.add_argument("--repeats", type=int, default=9)
    frontend.add_argument("--plot", help="also draw the speed-ups into this PNG file")
