"""What the benchmarks share: timing a call on the CPU or a GPU, its peak GPU memory, how busy
the GPU was meanwhile, and the options and setup of the timed commands (CPU threads, freed memory,
the JSON report)."""

from __future__ import annotations

import argparse
import statistics
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

import torch

from kws.allocator import keep_freed_memory
from kws_runtime.io import write_json

Report = dict[str, Any]  # what a timed command returns and writes to --json


def synchronize(device: torch.device) -> None:
    """Wait for the kernels queued on a CUDA device; nothing on the CPU.

    Args:
        device: the device the timed work runs on.
    """
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn: Callable[[], None], device: torch.device) -> float:
    """Seconds for one call; CUDA events on a GPU, so queued kernels are counted.

    Args:
        fn: the call to time.
        device: the device it runs on.
    """
    if device.type == "cuda":
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        synchronize(device)
        return start.elapsed_time(end) / 1000
    begin = time.perf_counter()
    fn()
    return time.perf_counter() - begin


def peak_memory_mb(step: Callable[[], None], device: torch.device) -> float | None:
    """Peak device memory of one call on CUDA; ``None`` on the CPU, where torch keeps no count.

    Args:
        step: the call to measure.
        device: the device it runs on.
    """
    if device.type != "cuda":
        return None
    synchronize(device)
    torch.cuda.reset_peak_memory_stats(device)
    step()
    synchronize(device)
    return torch.cuda.max_memory_allocated(device) / 2**20


class GpuBusy:
    """While a ``with`` block runs, how busy the GPU is: NVML's utilisation (``nvidia-smi``'s
    GPU-Util, the share of each of the driver's sample periods, 1/6 s to 1 s long, in which at
    least one kernel ran; about 0.2 s on an H200), read by a background thread every
    ``interval_s``. Each reading costs the process some host time (``torch.cuda.utilization``
    opens NVML and looks the device up every call), so readings are spaced well apart.

    ``percent`` is the mean of the readings, ``None`` on the CPU, where NVML does not answer
    (``torch.cuda.utilization`` needs the ``pynvml`` module, from ``nvidia-ml-py``) or where the
    block ended before the first reading. The first readings may still describe a sample period
    that began before the block, so for a block of a few seconds the figure is a coarse one.

    Args:
        device: the device the block runs on.
        interval_s: seconds between readings. Default 0.1.
        read: the reading, percent; default ``torch.cuda.utilization`` of ``device``.
    """

    def __init__(
        self, device: torch.device, interval_s: float = 0.1,
        read: Callable[[], float] | None = None,
    ) -> None:  # fmt: skip
        self.device = device
        self.interval_s = interval_s
        self.read = read or (lambda: torch.cuda.utilization(device))
        self.readings: list[float] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> GpuBusy:
        self.readings = []
        if self.device.type != "cuda":
            return self
        try:
            self.read()  # whether NVML answers; this reading describes the time before the block
        except Exception as error:  # no pynvml, no NVML library: report no figure, time anyway
            print(f"GPU utilisation not read ({type(error).__name__}: {error})")
            return self
        self._stop.clear()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()
        return self

    def _poll(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.readings.append(self.read())

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:  # fmt: skip
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._thread = None

    @property
    def percent(self) -> float | None:
        """The mean reading, percent; ``None`` without readings."""
        return statistics.fmean(self.readings) if self.readings else None


def _timed_options() -> argparse.ArgumentParser:
    """The options every timed command shares, as a parent parser."""
    options = argparse.ArgumentParser(add_help=False)
    options.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    options.add_argument("--batch", type=int, default=256)
    options.add_argument("--threads", type=int, default=2, help="torch's CPU threads")
    options.add_argument(
        "--keep-freed-memory", action=argparse.BooleanOptionalAction, default=True,
        help="as train.py does by default: glibc keeps freed memory for reuse (every peer)",
    )  # fmt: skip
    options.add_argument("--json", help="also write the results to this JSON file")
    return options


def add_timed_command(
    commands: argparse._SubParsersAction, name: str, bench: Callable[[argparse.Namespace], Report],
    help: str,
) -> argparse.ArgumentParser:  # fmt: skip
    """Add a timed command: the shared options (``--device``, ``--batch``, ``--threads``,
    ``--keep-freed-memory``, ``--json``) and, as its ``run``, the shared setup around ``bench``.

    ``run`` sets torch's CPU threads, makes glibc keep freed memory for reuse unless
    ``--no-keep-freed-memory`` (as ``train.py`` does, for every peer in the process alike), prints
    the settings line, calls ``bench`` (which prints its own results) and writes its report with
    the settings to ``--json`` when given.

    Args:
        commands: the CLI's subparsers.
        name: the command's name.
        bench: runs the benchmark from the parsed arguments, prints it and returns its report.
        help: the command's line in ``--help``.

    Returns:
        The command's parser, for its own options.
    """

    def run(args: argparse.Namespace) -> None:
        torch.set_num_threads(args.threads)
        kept = args.keep_freed_memory and keep_freed_memory()
        print(
            f"device {args.device}, batch {args.batch}, {args.threads} CPU threads, "
            f"freed memory {'kept for reuse' if kept else 'returned to the OS'}"
        )
        report = bench(args)
        if args.json:
            settings = {key: value for key, value in vars(args).items() if key != "run"}
            write_json(args.json, {"settings": settings, "freed_memory_kept": kept, **report})

    parser = commands.add_parser(name, parents=[_timed_options()], help=help)
    parser.set_defaults(run=run)
    return parser
