"""The ``listen`` command: its options (``add_parser``), each checked as argparse reads it, and its
run (``run``): every file checked before the server starts, then the table."""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import soundfile as sf

from kws.benchmark.listen.latency import labels_beside
from kws.benchmark.listen.measure import bench_listen
from kws.benchmark.listen.pulse import RATE, AudioServerError, pulse_server
from kws_runtime.checks import check_number
from kws_runtime.io import write_json


def _in_range(option: str, least: float, most: float) -> Callable[[str], float]:
    """An argparse type: a number in [least, most], ``check_number``'s message otherwise."""

    def parse(text: str) -> float:
        try:
            value = float(text)
            check_number(option, value, least, most)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error).removeprefix(f"{option} ")) from None
        return value

    return parse


def _threshold(text: str) -> str:
    """An argparse type: ``auto`` or a number in (0, 1], as listen takes it."""
    if text != "auto":
        _in_range("--threshold", 0.0, 1.0)(text)
        if float(text) == 0.0:
            raise argparse.ArgumentTypeError(f"must be 'auto' or a number in (0, 1], got {text}")
    return text


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Add the ``listen`` command.

    Args:
        commands: the CLI's subparsers.
    """
    parser = commands.add_parser(
        "listen", help="CPU, memory and latency of kws_runtime listen on a PulseAudio null sink"
    )
    parser.add_argument("model", type=Path, help="the exported .onnx model")
    parser.add_argument("audio", type=Path, help="the WAV file played")
    parser.add_argument(
        "--block-ms", type=_in_range("--block-ms", 1, 1000), nargs="+", default=[30.0, 100.0],
        help="listen's --block-ms values, one run each (default 30 100)",
    )  # fmt: skip
    parser.add_argument(
        "--seconds", type=_in_range("--seconds", 1, 3600), default=30.0,
        help="seconds measured per run, from listen's first audio (default 30)",
    )  # fmt: skip
    parser.add_argument("--threshold", type=_threshold, default="auto", help="listen's")
    parser.add_argument(
        "--python", default=sys.executable,
        help="the interpreter that runs listen, e.g. .venv-runtime/bin/python (default: this one)",
    )  # fmt: skip
    parser.add_argument("--json", help="also write the results to this JSON file")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    """Run the ``listen`` command from its parsed arguments."""
    for path in (args.model, args.audio):
        if not path.is_file():
            raise SystemExit(f"error: {path}: file does not exist")
    try:
        info = sf.info(str(args.audio))
        labels = labels_beside(args.audio)
    except (sf.SoundFileError, RuntimeError) as error:
        raise SystemExit(f"error: {args.audio}: not a readable audio file ({error})") from None
    except (ValueError, OSError) as error:  # the labels CSV: malformed, or unreadable
        raise SystemExit(f"error: {error}") from None
    if labels is not None and (info.samplerate != RATE or info.channels != 1):
        raise SystemExit(f"error: {args.audio}: latencies need 16 kHz mono, got {info}")
    if not shutil.which(args.python):
        raise SystemExit(f"error: --python {args.python}: no such interpreter")
    if args.json and not Path(args.json).resolve().parent.is_dir():
        raise SystemExit(f"error: --json {args.json}: its folder does not exist")
    try:
        with tempfile.TemporaryDirectory() as folder, pulse_server(Path(folder) / "pa") as server:
            report = bench_listen(
                server[0],
                args.model,
                args.audio,
                args.block_ms,
                args.seconds,
                args.threshold,
                args.python,
            )
    except (AudioServerError, RuntimeError) as error:
        raise SystemExit(f"error: {error}") from None
    load = report["load_average"]
    print(
        f"{args.audio.name}, {args.seconds:g} s per run, load average {load:.1f} before, "
        f"listen run by {args.python}"
    )
    print(f"{'block ms':>8s} {'CPU %':>6s} {'RSS MB':>7s} {'peak MB':>8s} {'found':>6s} "
          f"{'overruns':>8s}  latency ms (median, least, most; keywords)")  # fmt: skip
    for block, row in report["blocks"].items():
        late = row["latency"]
        latency = (
            "-" if not late or not late["count"] else
            f"{late['median_ms']:.0f}, {late['min_ms']:.0f}, {late['max_ms']:.0f}; {late['count']}"
        )  # fmt: skip
        print(
            f"{block:>8s} {row['cpu_percent']:6.1f} {row['rss_mb']:7.0f} {row['peak_rss_mb']:8.0f} "
            f"{row['detections']:6d} {row['overruns']:8d}  {latency}"
        )
    if args.json:
        write_json(args.json, report)
