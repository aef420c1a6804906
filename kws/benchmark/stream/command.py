"""The ``stream`` command: its options (``add_parser``) and its run (``run``)."""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from kws.benchmark.stream.latency import bench_latency, load_causal_checkpoint
from kws.benchmark.stream.speed import bench_stream
from kws.benchmark.stream.table import format_stream
from kws.benchmark.stream.workload import HEADS, StreamSettings
from kws_runtime.detector import BATCH_SIZE
from kws_runtime.io import write_json


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Add the ``stream`` command.

    Args:
        commands: the CLI's subparsers.
    """
    parser = commands.add_parser(
        "stream", help="streaming detectors against the head alone and a per-window loop"
    )
    parser.add_argument("--minutes", type=float, default=1.0, help="the timed stream's length")
    parser.add_argument("--stride-ms", type=float, nargs="+", default=[10.0, 20.0, 30.0])
    parser.add_argument("--head", nargs="+", default=list(HEADS), help="conf/model names")
    parser.add_argument(
        "--chunk-ms", type=float, nargs="+", default=[1000.0, 10000.0],
        help="audio pushed at a time: one detector peer per length",
    )  # fmt: skip
    parser.add_argument("--batch", type=int, default=BATCH_SIZE, help="windows scored together")
    parser.add_argument("--rounds", type=int, default=3, help="rounds the peers take turns")
    parser.add_argument("--loop-windows", type=int, default=200, help="windows the loop times")
    parser.add_argument("--memory-minutes", type=float, nargs="+", default=[1.0, 4.0])
    parser.add_argument("--threads", type=int, default=1, help="torch's CPU threads")
    parser.add_argument("--checkpoint", help="a trained causal kws checkpoint: latency from a "
                        "keyword's end to its detection on its data's test split")  # fmt: skip
    parser.add_argument("--latency-minutes", type=float, default=5.0,
                        help="the latency's word stream, minutes")  # fmt: skip
    parser.add_argument("--json", help="also write the results to this JSON file")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    """Run the ``stream`` command from its parsed arguments; torch's thread count is restored
    afterwards. A checkpoint is read and checked, and latency measured, before the timing."""
    try:
        if args.threads < 1:
            raise ValueError(f"threads must be >= 1, got {args.threads}")
        if args.json and not Path(args.json).resolve().parent.is_dir():
            raise ValueError(f"--json {args.json}: its folder does not exist")
        settings = StreamSettings(
            args.minutes, tuple(args.stride_ms), tuple(args.head), tuple(args.chunk_ms),
            args.batch, args.rounds, args.loop_windows, tuple(args.memory_minutes),
            args.latency_minutes,
        )  # fmt: skip
        source = None if args.checkpoint is None else load_causal_checkpoint(args.checkpoint)
    except (ValueError, OSError) as error:
        raise SystemExit(f"error: {error}") from None
    threads = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    try:  # latency first: its settings and stream are checked before the long timing
        latency = None
        if source is not None:
            figures = bench_latency(*source, settings.strides_ms, settings.latency_minutes,
                                    settings.batch)  # fmt: skip
            latency = {"checkpoint": str(args.checkpoint), **figures}
        report = bench_stream(settings) | {"latency": latency}
    finally:
        torch.set_num_threads(threads)
    print(format_stream(report))
    if args.json:
        write_json(args.json, report)
