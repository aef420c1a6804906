"""Benchmarks, reported as ratios against peers measured in the same process and run.

``python -m kws.benchmark frontend [--device cpu|cuda] [--batch 256] [--threads 2] [--json PATH]``
times kws's MelSpectrogram against nnAudio (when installed), torchaudio (where it imports) and a
per-clip librosa loop (CPU, frozen forward only), with the same settings, in three cases: frozen,
trainable mel, trainable STFT and mel; forward and forward + backward. Repeats are interleaved
across implementations, so drifts in machine load hit every peer alike; medians are reported.

``python -m kws.benchmark serve [--clips 37000]`` times serving cached epochs without a model
(random int16 clips in a memory map: no WAV files needed), with and without the int16-to-float
conversion and augmentation; ``python -m kws.benchmark cache DATA_ROOT`` times checking and
decoding a data set into a fresh cache.

``python -m kws.benchmark train [--device cpu|cuda] [--batch 256] [--json PATH]`` times whole
training steps (cached clips -> augmentation on the device -> trainable log-Mel -> head ->
backward -> SGD step) against a reference pipeline that reads each WAV file in a DataLoader and
uses nnAudio's MelSpectrogram, same head, data and augmentation, for the linear head and
BC-ResNet-1, in float32 and bf16-mixed; and each head alone on ready features, which both
pipelines share and which bounds the speed-up ("ceiling"); then one full 12-class BC-ResNet-1
epoch of about 37,000 clips (generated clips repeated) per precision, and on CUDA the same with
``on_device``. The pipelines take turns in rounds; medians are reported.

``frontend`` and ``train`` make glibc keep freed memory for reuse first, as ``train.py`` does
(``--no-keep-freed-memory``: glibc's default), for every peer in the process alike.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
import torch
from torch.utils.data import DataLoader, Dataset

from kws.allocator import keep_freed_memory
from kws.data import SpeechCommandsDataModule
from kws.data.augment import Augmentation
from kws.data.batches import ClipBatches
from kws.data.datasets import ClipDataset
from kws.data.layout import CLIP_SAMPLES, SAMPLE_RATE
from kws.frontend import MelSpectrogram
from kws.frontend.stft import compress
from kws.io import write_json
from kws.models import BCResNet, KeywordSpotter, LinearClassifier

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
        _synchronize(device)
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
                torch_steps = {n: s for n, s in steps.items() if not n.startswith("librosa")}
                for name, step in torch_steps.items():
                    for _ in range(warmup):
                        step()
                    peaks[name] = _peak_memory_mb(step, dev)
                for _ in range(repeats):  # torch peers interleaved: load drift hits all alike
                    for name, step in torch_steps.items():
                        samples[name].append(_timed(step, dev))
                for name in steps.keys() - torch_steps.keys():
                    # numpy's BLAS threads spin for a while after each call: librosa is warmed
                    # up and timed only after the torch peers, so its threads slow none of them
                    for _ in range(warmup):
                        steps[name]()
                    peaks[name] = None
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


class WavFileDataset(Dataset):
    """The reference input pipeline: every item read from its WAV file with soundfile."""

    def __init__(self, paths: list[Path], labels: np.ndarray) -> None:
        self.paths = paths
        self.labels = labels

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        # Plain soundfile, not kws.data.audio.read_clip: the reference does no header checks.
        clip = np.zeros(CLIP_SAMPLES, dtype=np.int16)  # silence clips have no file
        if self.paths[index] is not None:
            samples, _ = sf.read(self.paths[index], dtype="int16")
            clip[: len(samples)] = samples
        return torch.from_numpy(clip), int(self.labels[index])


class _LogNNAudio(torch.nn.Module):
    """nnAudio's MelSpectrogram followed by BC-ResNet's log, as the reference."""

    def __init__(self, mel: torch.nn.Module) -> None:
        super().__init__()
        self.mel = mel

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        return compress(self.mel(waveform), "log", 1e-6)


HEADS: dict[str, Callable[[int], torch.nn.Module]] = {
    "linear": lambda classes: LinearClassifier(num_classes=classes),
    "bcresnet_1": lambda classes: BCResNet(1.0, classes),
}
PRECISIONS = ("32", "bf16-mixed")  # Lightning's names; bf16-mixed autocasts the forward pass

Batch = tuple[torch.Tensor, torch.Tensor]


def _training_step(
    model: torch.nn.Module, precision: str, device: torch.device
) -> Callable[[Batch], int]:
    """One SGD step on an (inputs, labels) batch, autocast as Lightning does; returns its clips."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    model.train()

    def step(batch: Batch) -> int:
        inputs, labels = batch
        with torch.autocast(device.type, torch.bfloat16, enabled=precision == "bf16-mixed"):
            loss = torch.nn.functional.cross_entropy(model(inputs), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return len(labels)

    return step


def _endless(batches: Callable[[], Iterable[Any]]) -> Iterator[Any]:
    """The loader's epochs one after another."""
    while True:
        yield from batches()


def _pipeline(
    step: Callable[[Batch], int], batches: Iterator[Any], prepare: Callable[[Any], Batch]
) -> Callable[[], int]:
    """One training step on the next batch, as a call that returns its clip count."""
    return lambda: step(prepare(next(batches)))


def clips_per_second(
    pipelines: dict[str, Callable[[], int]], steps: int, rounds: int, warmup: int,
    device: torch.device,
) -> dict[str, float]:  # fmt: skip
    """Median clips/s of each pipeline (a call: one step) over rounds in which the pipelines take
    turns, so load drift hits all alike."""
    for run in pipelines.values():
        for _ in range(warmup):
            run()
    rates: dict[str, list[float]] = {name: [] for name in pipelines}
    for _ in range(rounds):
        for name, run in pipelines.items():
            clips, seconds = _timed_clips(lambda run=run: sum(run() for _ in range(steps)), device)
            rates[name].append(clips / seconds)
    return {name: statistics.median(values) for name, values in rates.items()}


def _timed_clips(run: Callable[[], int], device: torch.device) -> tuple[int, float]:
    """The clips ``run`` trains on and the seconds it takes, timed as ``_timed`` does."""
    clips: list[int] = []
    seconds = _timed(lambda: clips.append(run()), device)
    return clips[0], seconds


def bench_train(
    device: str = "cpu", batch: int = 256, steps: int = 10, rounds: int = 3, warmup: int = 2,
    epoch_clips: int = 37_000, precisions: tuple[str, ...] = PRECISIONS,
    data_root: str | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Per precision and head, clips/s of kws, the reference and the head alone on ready features;
    then a full BC-ResNet-1 epoch per precision."""
    dev = torch.device(device)
    results: dict[str, Any] = {"pipelines": [], "epochs": []}
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(data_root or Path(scratch) / "synthetic_speech_commands")
        dm = SpeechCommandsDataModule(
            root=str(root), cache_dir=str(Path(scratch) / "cache"), test_set="list",
            download=False, generate_synthetic=data_root is None, batch_size=batch,
        )  # fmt: skip
        dm.prepare_data()
        dm.setup()

        def on_device(loader_batch: Any, batches: ClipBatches = dm.batches) -> Batch:
            """A loader's batch moved to the device and made a training step's input there."""
            return batches.training_batch(dm.transfer_batch_to_device(loader_batch, dev, 0))

        index = dm.split_index["train"]
        wav_loader = DataLoader(
            WavFileDataset([root / p if p else None for p in index.paths], index.labels),
            batch_size=batch, shuffle=True,
        )  # fmt: skip
        kws_batches = _endless(dm.train_dataloader)
        wav_batches = _endless(lambda: wav_loader)
        epoch_steps: dict[str, Callable[[Batch], int]] = {}
        for precision in precisions:
            for head_name, build_head in HEADS.items():
                torch.manual_seed(0)
                kws_model = KeywordSpotter(
                    MelSpectrogram(trainable_mel=True), build_head(dm.num_classes)
                ).to(dev)
                kws_step = _training_step(kws_model, precision, dev)
                pipelines = {"kws": _pipeline(kws_step, kws_batches, on_device)}
                nnaudio_mel = _nnaudio(512, False, True)
                if nnaudio_mel is not None:
                    torch.manual_seed(0)
                    reference = KeywordSpotter(_LogNNAudio(nnaudio_mel), build_head(dm.num_classes))
                    pipelines["reference"] = _pipeline(
                        _training_step(reference.to(dev), precision, dev), wav_batches, on_device
                    )
                with torch.no_grad():  # the head alone trains on log-Mel features made beforehand
                    features = [
                        (kws_model.frontend(waveforms), labels)
                        for waveforms, labels in (on_device(next(kws_batches)) for _ in range(4))
                    ]
                # Its backward pass reaches the features, as in both pipelines, whose Mel trains.
                torch.manual_seed(0)
                pipelines["head_alone"] = _pipeline(
                    _training_step(build_head(dm.num_classes).to(dev), precision, dev),
                    itertools.cycle(features),
                    lambda b: (b[0].detach().requires_grad_(), b[1]),
                )
                rates = clips_per_second(pipelines, steps, rounds, warmup, dev)
                row = {"precision": precision, "head": head_name}
                row |= {f"{name}_clips_per_s": rate for name, rate in rates.items()}
                if "reference" in rates:
                    # ceiling: the speed-up kws would reach if its input and frontend took no time
                    row["speed_up"] = rates["kws"] / rates["reference"]
                    row["speed_up_ceiling"] = rates["head_alone"] / rates["reference"]
                results["pipelines"].append(row)
                if head_name == "bcresnet_1":
                    epoch_steps[precision] = kws_step

        train = dm.datasets["train"]
        repeats = np.arange(epoch_clips) % len(train)
        epoch = ClipDataset(np.asarray(train.clips)[repeats], train.labels[repeats])
        placements = [False, True] if dev.type == "cuda" else [False]
        served = {  # the repeated split, served as the DataModule serves its own
            where: replace(dm.batches, datasets={"train": epoch}, on_device=where)
            for where in placements
        }
        if True in placements:  # the split's one copy to the device, timed on its own
            results["split_to_device_s"] = _timed(
                lambda: on_device(next(iter(served[True].loader("train"))), served[True]), dev
            )
        for precision, step in epoch_steps.items():
            for on_device_data in placements:
                batches = served[on_device_data]
                clips, seconds = _timed_clips(
                    lambda step=step, b=batches: sum(
                        step(on_device(batch, b)) for batch in b.loader("train")
                    ),
                    dev,
                )
                results["epochs"].append(
                    {"precision": precision, "on_device": on_device_data, "clips": clips,
                     "seconds": seconds}
                )  # fmt: skip
    return results


def format_training(results: dict[str, Any]) -> str:
    """The training benchmark as a table, a row per precision and head, then the epochs."""
    lines = [
        f"{'precision':<11} {'head':<11} {'kws clips/s':>11} {'reference':>10} {'speed-up':>9} "
        f"{'head alone':>11} {'ceiling':>8}"
    ]
    for row in results["pipelines"]:
        ref = row.get("reference_clips_per_s")
        compared = (
            f"{ref:>10.0f} {row['speed_up']:>8.2f}x" if ref is not None else f"{'-':>10} {'-':>9}"
        )
        ceiling = f"{row['speed_up_ceiling']:>7.2f}x" if ref is not None else f"{'-':>8}"
        lines.append(
            f"{row['precision']:<11} {row['head']:<11} {row['kws_clips_per_s']:>11.0f} "
            f"{compared} {row['head_alone_clips_per_s']:>11.0f} {ceiling}"
        )
    for epoch in results["epochs"]:
        where = ", data.on_device=true" if epoch["on_device"] else ""
        lines.append(
            f"one epoch of {epoch['clips']} clips, kws + BC-ResNet-1, precision "
            f"{epoch['precision']}{where}: {epoch['seconds']:.1f} s"
        )
    if "split_to_device_s" in results:
        lines.append(f"copying the split to the device once: {results['split_to_device_s']:.1f} s")
    return "\n".join(lines)


def serve_cached(clips: int, batch: int, epochs: int) -> None:
    """Print the seconds per epoch of serving ``clips`` cached clips in batches of ``batch``."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "train.npy"
        cache = np.lib.format.open_memmap(
            path, mode="w+", dtype=np.int16, shape=(clips, CLIP_SAMPLES)
        )
        rng = np.random.default_rng(0)
        for start in range(0, clips, 4096):  # (rows, samples) blocks of quiet random audio
            rows = min(4096, clips - start)
            cache[start : start + rows] = rng.integers(-3000, 3000, (rows, CLIP_SAMPLES))
        cache.flush()
        del cache
        labels = rng.integers(0, 12, clips)  # the 12 classes, _silence_ first
        noise = rng.uniform(-0.5, 0.5, (6, 10 * CLIP_SAMPLES)).astype(np.float32)
        batches = ClipBatches(
            datasets={"train": ClipDataset(np.load(path, mmap_mode="r"), labels)},
            noise_bank=torch.from_numpy(noise),  # (files, samples)
            batch_size=batch,
            augmentation=Augmentation(),
            silence_label=0,
        )
        for hook in (False, True):
            for epoch in range(epochs):
                start = time.perf_counter()
                served = 0
                for clip_batch in batches.loader("train"):
                    if hook:
                        clip_batch = batches.training_batch(clip_batch)
                    served += len(clip_batch[1])
                seconds = time.perf_counter() - start
                what = "loader + int16->float + augmentation" if hook else "loader only"
                print(f"{what}, epoch {epoch}: {served} clips in {seconds:.3f} s")


def build_cache(root: Path, test_set: str) -> None:
    """Print how long checking and decoding ``root`` into a new cache takes."""
    with tempfile.TemporaryDirectory() as cache_dir:
        dm = SpeechCommandsDataModule(root=str(root), test_set=test_set, cache_dir=cache_dir)
        start = time.perf_counter()
        dm.prepare_data()
        seconds = time.perf_counter() - start
        dm.setup()
        decoded = sum(len(d) for d in dm.datasets.values())
        print(
            f"checked every clip and decoded {decoded} into the cache in {seconds:.2f} s "
            f"({decoded / seconds:.0f} clips/s)"
        )


def plot_speed_ups(timings: list[Timing], path: str) -> None:
    """A bar chart of kws's speed-up over each peer, per setting, as ``<path stem>.png``."""
    from matplotlib.figure import Figure

    from kws.reporting.figures import save_figures

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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m kws.benchmark", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    timed = argparse.ArgumentParser(add_help=False)  # what the timed commands share
    timed.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    timed.add_argument("--batch", type=int, default=256)
    timed.add_argument("--threads", type=int, default=2, help="torch's CPU threads")
    timed.add_argument(
        "--keep-freed-memory", action=argparse.BooleanOptionalAction, default=True,
        help="as train.py does by default: glibc keeps freed memory for reuse (every peer)",
    )  # fmt: skip
    timed.add_argument("--json", help="also write the results to this JSON file")
    frontend = commands.add_parser("frontend", parents=[timed], help="frontend against peers")
    frontend.add_argument("--n-fft", type=int, nargs="+", default=[480, 512])
    frontend.add_argument("--repeats", type=int, default=9)
    frontend.add_argument("--plot", help="also draw the speed-ups into this PNG file")
    training = commands.add_parser("train", parents=[timed], help="training pipeline vs reference")
    training.add_argument("--steps", type=int, default=10, help="steps per round")
    training.add_argument("--rounds", type=int, default=3, help="rounds the pipelines take turns")
    training.add_argument("--precision", nargs="+", default=list(PRECISIONS), choices=PRECISIONS)
    training.add_argument("--epoch-clips", type=int, default=37_000)
    training.add_argument("--data-root", help="a Speech Commands tree (default: generated)")
    serving = commands.add_parser("serve", help="serving epochs from a cache, without a model")
    serving.add_argument("--clips", type=int, default=37000)
    serving.add_argument("--batch", type=int, default=100)
    serving.add_argument("--epochs", type=int, default=3)
    building = commands.add_parser("cache", help="building the decoded cache of a data set")
    building.add_argument("root", type=Path)
    building.add_argument("--test-set", default="list", choices=["list", "official"])
    args = parser.parse_args(argv)
    if args.command == "serve":
        return serve_cached(args.clips, args.batch, args.epochs)
    if args.command == "cache":
        return build_cache(args.root, args.test_set)
    torch.set_num_threads(args.threads)
    kept = args.keep_freed_memory and keep_freed_memory()
    print(
        f"device {args.device}, batch {args.batch}, {args.threads} CPU threads, "
        f"freed memory {'kept for reuse' if kept else 'returned to the OS'}"
    )
    if args.command == "frontend":
        timings = bench_frontend(args.device, args.batch, tuple(args.n_fft), args.repeats)
        print(format_table(timings))
        report: dict[str, Any] = {"timings": [asdict(t) for t in timings]}
        if args.plot:
            plot_speed_ups(timings, args.plot)
    else:
        report = bench_train(
            args.device, args.batch, args.steps, args.rounds, epoch_clips=args.epoch_clips,
            precisions=tuple(args.precision), data_root=args.data_root,
        )  # fmt: skip
        print(format_training(report))
    if args.json:
        write_json(args.json, {"settings": vars(args), "freed_memory_kept": kept, **report})


if __name__ == "__main__":
    main()
