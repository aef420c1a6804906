"""The training benchmark: whole training steps (cached clips -> augmentation on the device ->
trainable log-Mel -> head -> backward -> SGD step) against a reference pipeline that reads each
WAV file in a DataLoader and uses nnAudio's MelSpectrogram, same head, data and augmentation, for
the linear head and BC-ResNet-1, in float32 and bf16-mixed; and each head alone on ready features,
which both pipelines share and which bounds the speed-up ("ceiling"); then one full 12-class
BC-ResNet-1 epoch of about 37,000 clips (generated clips repeated) per precision, and on CUDA the
same with ``on_device``, each with how busy the GPU was meanwhile; with ``--compile``, every epoch
again with the model compiled as ``train.py compile=...`` compiles it (warmed up at both of the
epoch's batch sizes first, so no tracing is timed). The pipelines take turns in rounds; medians
are reported.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
import torch
from omegaconf import OmegaConf
from torch.utils.data import DataLoader, Dataset

from kws.benchmark.common import GpuBusy, Report, add_timed_command, timed
from kws.benchmark.frontend import nnaudio_mel
from kws.data import SpeechCommandsDataModule
from kws.data.batches import ClipBatches
from kws.data.datasets import ClipDataset
from kws.data.layout import CLIP_SAMPLES
from kws.frontend import MelSpectrogram
from kws.frontend.stft import compress
from kws.models import BCResNet, KeywordSpotter, LinearClassifier
from kws.tasks.common import compile_model


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
    """One SGD step on an (inputs, labels) batch, autocast as Lightning does; returns its clips.

    Args:
        model: what the step trains, already on ``device``.
        precision: one of ``PRECISIONS``, Lightning's names.
        device: where the batches are.
    """
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
    turns, so load drift hits all alike.

    Args:
        pipelines: name: a call that takes one training step and returns its clip count.
        steps: steps per round.
        rounds: rounds the pipelines take turns.
        warmup: untimed steps of each pipeline first.
        device: where the pipelines train.
    """
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
    """The clips ``run`` trains on and the seconds it takes, timed as ``timed`` does."""
    clips: list[int] = []
    seconds = timed(lambda: clips.append(run()), device)
    return clips[0], seconds


def bench_train(
    device: str = "cpu", batch: int = 256, steps: int = 10, rounds: int = 3, warmup: int = 2,
    epoch_clips: int = 37_000, precisions: tuple[str, ...] = PRECISIONS,
    data_root: str | None = None, compile_settings: dict[str, Any] | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Per precision and head, clips/s of kws, the reference and the head alone on ready features;
    then a full BC-ResNet-1 epoch per precision.

    Args:
        device: ``"cpu"`` or ``"cuda"``.
        batch: clips per training step.
        steps: steps per round.
        rounds: rounds the pipelines take turns.
        warmup: untimed steps of each pipeline first.
        epoch_clips: clips in the full epoch, the training split repeated.
        precisions: Lightning's names, from ``PRECISIONS``.
        data_root: a Speech Commands tree; ``None``: a generated one in a temporary folder.
        compile_settings: ``torch.compile``'s arguments (``train.py``'s ``compile``); given,
            every epoch is timed again with the model compiled. Default None.

    Returns:
        ``pipelines``: a row per precision and head; ``epochs``: one per precision, data
        placement and (with ``compile_settings``) compilation, with its seconds and, on CUDA,
        ``gpu_busy_percent`` (``GpuBusy``'s mean NVML reading during the epoch); on CUDA
        ``split_to_device_s``, the split's one copy to the device.
    """
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
            made = batches.training_batch(dm.transfer_batch_to_device(loader_batch, dev, 0))
            return made.waveforms, made.labels

        index = dm.split_index["train"]
        wav_loader = DataLoader(
            WavFileDataset([root / p if p else None for p in index.paths], index.labels),
            batch_size=batch, shuffle=True,
        )  # fmt: skip
        kws_batches = _endless(dm.train_dataloader)
        wav_batches = _endless(lambda: wav_loader)
        epoch_models: dict[str, tuple[torch.nn.Module, Callable[[Batch], int]]] = {}
        for precision in precisions:
            for head_name, build_head in HEADS.items():
                torch.manual_seed(0)
                kws_model = KeywordSpotter(
                    MelSpectrogram(trainable_mel=True), build_head(dm.num_classes)
                ).to(dev)
                kws_step = _training_step(kws_model, precision, dev)
                pipelines = {"kws": _pipeline(kws_step, kws_batches, on_device)}
                mel = nnaudio_mel(512, False, True)
                if mel is not None:
                    torch.manual_seed(0)
                    reference = KeywordSpotter(_LogNNAudio(mel), build_head(dm.num_classes))
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
                    epoch_models[precision] = (kws_model, kws_step)

        train = dm.datasets["train"]
        repeats = np.arange(epoch_clips) % len(train)
        epoch = ClipDataset(np.asarray(train.clips)[repeats], train.labels[repeats])
        placements = [False, True] if dev.type == "cuda" else [False]
        served = {  # the repeated split, served as the DataModule serves its own
            where: replace(dm.batches, datasets={"train": epoch}, on_device=where)
            for where in placements
        }
        if True in placements:  # the split's one copy to the device, timed on its own
            results["split_to_device_s"] = timed(
                lambda: on_device(next(iter(served[True].loader("train"))), served[True]), dev
            )
        for compiled in [False, True] if compile_settings else [False]:
            for precision, (model, step) in epoch_models.items():
                if compiled:
                    compile_model(model, compile_settings)
                for on_device_data in placements:
                    batches = served[on_device_data]
                    if compiled:  # trace (and capture) at the epoch's full and last batch sizes
                        _warm_up(step, on_device(next(iter(batches.loader("train"))), batches),
                                 (batch, epoch_clips % batch or batch))  # fmt: skip
                    with GpuBusy(dev) as busy:
                        clips, seconds = _timed_clips(
                            lambda step=step, b=batches: sum(
                                step(on_device(batch, b)) for batch in b.loader("train")
                            ),
                            dev,
                        )
                    results["epochs"].append(
                        {"precision": precision, "on_device": on_device_data, "compiled": compiled,
                         "clips": clips, "seconds": seconds, "gpu_busy_percent": busy.percent}
                    )  # fmt: skip
    return results


def _warm_up(step: Callable[[Batch], int], batch: Batch, sizes: tuple[int, ...]) -> None:
    """Train a few untimed steps at each batch size, twice over, so a compiled model has traced
    and captured every shape an epoch feeds it.

    Args:
        step: the training step.
        batch: a full prepared batch, cut to each size.
        sizes: the batch sizes.
    """
    inputs, labels = batch
    for size in [*sizes, *sizes] * 2:
        step((inputs[:size], labels[:size]))


def format_training(results: dict[str, Any]) -> str:
    """The training benchmark as a table, a row per precision and head, then the epochs.

    Args:
        results: from ``bench_train``.
    """
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
        where += ", compiled" if epoch.get("compiled") else ""
        busy = epoch["gpu_busy_percent"]
        busy_text = f", GPU busy {busy:.0f}% (NVML)" if busy is not None else ""
        lines.append(
            f"one epoch of {epoch['clips']} clips, kws + BC-ResNet-1, precision "
            f"{epoch['precision']}{where}: {epoch['seconds']:.2f} s{busy_text}"
        )
    if "split_to_device_s" in results:
        lines.append(f"copying the split to the device once: {results['split_to_device_s']:.1f} s")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> Report:
    """The ``train`` command: time the pipelines and epochs, print the table.

    Args:
        args: the parsed command line.
    """
    report = bench_train(
        args.device, args.batch, args.steps, args.rounds, epoch_clips=args.epoch_clips,
        precisions=tuple(args.precision), data_root=args.data_root,
        compile_settings=_compile_settings(args.compile),
    )  # fmt: skip
    print(format_training(report))
    return report


def _compile_settings(pairs: list[str] | None) -> dict[str, Any] | None:
    """``--compile KEY=VALUE ...`` as torch.compile's arguments, values read as Hydra reads an
    override's (``fullgraph=true`` is a bool)."""
    if not pairs:
        return None
    bad = [pair for pair in pairs if "=" not in pair]
    if bad:
        raise ValueError(f"--compile takes KEY=VALUE pairs, got {bad[0]!r}")
    return OmegaConf.to_container(OmegaConf.from_dotlist(pairs))


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Add the ``train`` command.

    Args:
        commands: the CLI's subparsers.
    """
    training = add_timed_command(commands, "train", run, help="training pipeline vs reference")
    training.add_argument("--steps", type=int, default=10, help="steps per round")
    training.add_argument("--rounds", type=int, default=3, help="rounds the pipelines take turns")
    training.add_argument("--precision", nargs="+", default=list(PRECISIONS), choices=PRECISIONS)
    training.add_argument("--epoch-clips", type=int, default=37_000)
    training.add_argument("--data-root", help="a Speech Commands tree (default: generated)")
    training.add_argument(
        "--compile", nargs="+", metavar="KEY=VALUE",
        help="also time every epoch compiled with these torch.compile arguments, as train.py's "
        "compile (e.g. backend=cudagraphs)",
    )  # fmt: skip
