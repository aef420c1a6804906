"""What the benchmarks share: timing a call on the CPU or a GPU, its peak GPU memory, and the
options and setup of the timed commands (CPU threads, freed memory, the JSON report)."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import torch

from kws.allocator import keep_freed_memory
from kws.io import write_json

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
