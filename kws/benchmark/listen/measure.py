"""The ``listen`` benchmark's measurement: ``python -m kws_runtime listen MODEL --device pulse``
run while ``paplay`` plays a file into the sink, its CPU time as % of one core, its resident
memory now and at its peak, its detections and overruns, and its latencies (``measure``), once
per block size (``bench_listen``)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import soundfile as sf

from kws.benchmark.listen.latency import labels_beside, latencies
from kws.benchmark.listen.pulse import SINK
from kws.benchmark.procfs import cpu_seconds, status_mb

_CLOSING = re.compile(r"^stopped after ([\d.]+) s of audio: (\d+) detection\(s\), (\d+) overrun")


def _memory_mb(pid: int) -> tuple[float, float]:
    """Resident memory of process ``pid`` now and at its peak, MB (``VmRSS``, ``VmHWM``).

    Raises:
        RuntimeError: the process has ended, so the kernel gives neither.
    """
    rss, peak = (status_mb(field, pid) for field in ("VmRSS", "VmHWM"))
    if rss is None or peak is None:
        raise RuntimeError(f"listen (process {pid}) ended before its memory was read")
    return rss, peak


def measure(
    env: dict[str, str],
    model: Path,
    wav: Path,
    block_ms: float,
    seconds: float,
    threshold: str = "auto",
    labels: list[tuple[str, float]] | None = None,
    python: str = sys.executable,
) -> dict[str, Any]:
    """Play ``wav`` into ``SINK`` while listen hears it with ``block_ms`` blocks; its costs.

    Args:
        env: the environment that reaches the server (``pulse_server``).
        model: the exported ``.onnx`` model.
        wav: the audio file played.
        block_ms: listen's ``--block-ms``.
        seconds: seconds measured from listen's first audio.
        threshold: listen's ``--threshold``. Default ``auto``.
        labels: the keyword rows of ``wav`` (``labels_beside``); None (default): no latency.
        python: the interpreter that runs listen, e.g. a runtime-only environment's. Default:
            this one.

    Returns:
        ``cpu_percent`` (of one core), ``cpu_s``, ``wall_s``, ``rss_mb``, ``peak_rss_mb``,
        ``audio_s`` (listen's closing line), ``detections``, ``overruns``, ``latency`` (None
        without labels, else ``count`` and, with any, ``median_ms``, ``min_ms``, ``max_ms``).

    Raises:
        RuntimeError: listen did not start or did not stop cleanly, with its error output.
    """
    with tempfile.TemporaryDirectory() as folder:
        record = Path(folder) / "heard.wav"
        command = [python, "-m", "kws_runtime", "listen", str(model), "--device", "pulse",
                   "--threshold", threshold, "--block-ms", f"{block_ms:g}"]  # fmt: skip
        if labels is not None:
            command += ["--record", str(record)]
        listen = subprocess.Popen(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        lines: list[tuple[float, str]] = []
        err: list[str] = []
        started = threading.Event()

        def read_out() -> None:
            for line in listen.stdout:
                lines.append((time.time(), line.rstrip("\n")))

        def read_err() -> None:
            for line in listen.stderr:
                err.append(line.rstrip("\n"))
                if line.startswith("listening to "):
                    started.set()

        readers = [threading.Thread(target=f, daemon=True) for f in (read_out, read_err)]
        for reader in readers:
            reader.start()
        player = None
        try:
            deadline = time.monotonic() + 60
            while not started.wait(0.1):
                if listen.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"listen did not start: {' | '.join(err)}")
            cpu, wall = cpu_seconds(listen.pid), time.monotonic()
            player = subprocess.Popen(["paplay", f"--device={SINK}", str(wav)], env=env)
            time.sleep(seconds)
            cpu, wall = cpu_seconds(listen.pid) - cpu, time.monotonic() - wall
            rss, peak = _memory_mb(listen.pid)
            listen.send_signal(signal.SIGINT)
            status = listen.wait(60)
        finally:
            if player is not None:
                player.kill()
                player.wait()
            if listen.poll() is None:
                listen.kill()
                listen.wait()
        for reader in readers:
            reader.join(10)
        closing = _CLOSING.match(err[-1]) if err else None
        if status != 0 or closing is None:
            raise RuntimeError(f"listen ended with status {status}: {' | '.join(err[-3:])}")
        latency = None
        if labels is not None:
            heard, _ = sf.read(record, dtype="int16")
            played, _ = sf.read(wav, dtype="int16", always_2d=True)
            latency = latencies(lines, heard, played[:, 0], labels)
    return {
        "cpu_percent": 100 * cpu / wall, "cpu_s": cpu, "wall_s": wall, "rss_mb": rss,
        "peak_rss_mb": peak, "audio_s": float(closing[1]), "detections": int(closing[2]),
        "overruns": int(closing[3]), "latency": latency,
    }  # fmt: skip


def bench_listen(
    env: dict[str, str],
    model: Path,
    wav: Path,
    blocks_ms: list[float],
    seconds: float,
    threshold: str = "auto",
    python: str = sys.executable,
) -> dict[str, Any]:
    """``measure`` at each block size, AUDIO's labels CSV giving latencies where it is there.

    Args:
        env: the environment that reaches the server (``pulse_server``).
        model: the exported ``.onnx`` model.
        wav: the audio file played (16 kHz mono for latencies).
        blocks_ms: listen's ``--block-ms`` values, one run each.
        seconds: seconds measured per run.
        threshold: listen's ``--threshold``. Default ``auto``.
        python: see ``measure``.

    Returns:
        ``{"load_average": float, "python": python, "blocks": {"<block_ms>": measure's
        report}}``.

    Raises:
        ValueError: the labels CSV is malformed.
        RuntimeError: as ``measure``.
    """
    labels = labels_beside(wav)
    report: dict[str, Any] = {"load_average": os.getloadavg()[0], "python": python, "blocks": {}}
    for block in blocks_ms:
        report["blocks"][f"{block:g}"] = measure(
            env, model, wav, block, seconds, threshold, labels, python
        )
    return report
