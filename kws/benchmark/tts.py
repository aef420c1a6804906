"""The ``tts`` benchmark: how fast ``python -m kws.data.tts`` writes clips.

Three peers write the same 40 phrases by the same speakers, taking turns over ``--rounds``:
``kws.data.tts`` with eSpeak NG alone and with every engine installed (the libraries called
in-process, one process per CPU core, each clip resampled, placed and written as a 16 kHz WAV
file), and the plain way, one ``espeak-ng -w`` process per clip (22.05 kHz files, not resampled:
less work per clip) over as many threads. Each peer reports clips per second of wall time and
per second of CPU time (its own process and its children's), medians over the rounds, and its
ratio to the process-per-clip peer.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from kws.data.phonemes import ESPEAK_PROGRAM
from kws.data.synthetic import worker_count
from kws.data.tts import COMMON_WORDS, draw_speakers, engine_voices, write_phrases
from kws_runtime.io import write_json

#: What every speaker says: 40 two-word phrases of everyday words, about as many texts as one
#: phrase and its negatives (each speaker's texts share one forked process).
PHRASES = tuple(f"{a} {b}" for a, b in zip(COMMON_WORDS[::2], COMMON_WORDS[1::2], strict=False))[
    :40
]


def _cpu_seconds() -> float:
    """User and system CPU time of this process and its waited-for children."""
    own, children = (
        resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
    )
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _timed(write: Callable[[Path], None]) -> tuple[float, float]:
    """Wall and CPU seconds of ``write`` into a fresh folder."""
    with tempfile.TemporaryDirectory() as folder:
        cpu, wall = _cpu_seconds(), time.perf_counter()
        write(Path(folder) / "out")
        return time.perf_counter() - wall, _cpu_seconds() - cpu


def bench_tts(voices: int, rounds: int, workers: int) -> dict[str, dict[str, float]]:
    """Clips per second of each peer (module docstring), medians over ``rounds``.

    Args:
        voices: speakers; every one says every phrase of ``PHRASES``.
        rounds: rounds the peers take turns in.
        workers: processes (threads for the process-per-clip peer).

    Returns:
        ``{peer: {"clips", "wall_clips_per_s", "cpu_clips_per_s", "ratio_wall",
        "ratio_cpu"}}``, the ratios against ``process per clip``.
    """
    espeak_speakers = draw_speakers(engine_voices(["espeak"]), voices, seed=0)

    def per_process(out: Path) -> None:
        out.mkdir()
        jobs = [(s, p) for s in espeak_speakers for p in PHRASES]
        with ThreadPoolExecutor(workers) as pool:
            list(
                pool.map(
                    lambda job: subprocess.run(
                        [
                            ESPEAK_PROGRAM,
                            "-v",
                            job[0].voice,
                            "-s",
                            str(job[0].rate),
                            "-p",
                            str(job[0].pitch),
                            "-w",
                            str(out / f"{job[0].name}-{len(job[1])}.wav"),
                            job[1],
                        ],
                        check=True,
                    ),
                    jobs,
                )
            )

    peers = {
        "kws.data.tts, espeak": lambda out: write_phrases(
            out, PHRASES, voices, negatives=False, engines=["espeak"], workers=workers
        ),
        "kws.data.tts, all engines": lambda out: write_phrases(
            out, PHRASES, voices, negatives=False, workers=workers
        ),
        "process per clip": per_process,
    }
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in peers}
    for _ in range(rounds):
        for name, write in peers.items():
            times[name].append(_timed(write))
    clips = voices * len(PHRASES)
    report = {}
    for name, measured in times.items():
        wall = statistics.median(w for w, _ in measured)
        cpu = statistics.median(c for _, c in measured)
        report[name] = {
            "clips": clips,
            "wall_clips_per_s": clips / wall,
            "cpu_clips_per_s": clips / cpu,
        }
    peer = report["process per clip"]
    for row in report.values():
        row["ratio_wall"] = row["wall_clips_per_s"] / peer["wall_clips_per_s"]
        row["ratio_cpu"] = row["cpu_clips_per_s"] / peer["cpu_clips_per_s"]
    return report


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Add the ``tts`` command.

    Args:
        commands: the CLI's subparsers.
    """
    parser = commands.add_parser("tts", help="kws.data.tts against one espeak-ng per clip")
    parser.add_argument("--voices", type=int, default=40, help="speakers, 40 phrases each")
    parser.add_argument("--rounds", type=int, default=3, help="rounds the peers take turns")
    parser.add_argument("--workers", type=int, default=None, help="default: one per CPU core")
    parser.add_argument("--json", help="also write the results to this JSON file")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    """Run the ``tts`` command from its parsed arguments."""
    if args.voices < 1 or args.rounds < 1:
        raise SystemExit(f"error: --voices and --rounds must be >= 1: {args.voices}, {args.rounds}")
    workers = args.workers or worker_count(args.voices)
    print(f"{workers} workers, load average {os.getloadavg()[0]:.1f} before the run")
    report = bench_tts(args.voices, args.rounds, workers)
    print(
        f"{'peer':28s} {'clips':>6s} {'wall clips/s':>13s} {'CPU clips/s':>12s} "
        f"{'x wall':>7s} {'x CPU':>6s}"
    )
    for name, row in report.items():
        print(
            f"{name:28s} {row['clips']:6d} {row['wall_clips_per_s']:13.0f} "
            f"{row['cpu_clips_per_s']:12.0f} {row['ratio_wall']:7.2f} {row['ratio_cpu']:6.2f}"
        )
    if args.json:
        write_json(args.json, {"workers": workers, "peers": report})
