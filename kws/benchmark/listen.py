"""The ``listen`` benchmark: what ``python -m kws.runtime listen MODEL --device pulse`` costs on a
real sound server.

A PulseAudio server of its own (``pulse_server``: a 16 kHz mono null sink, in a temporary
folder) plays AUDIO into the sink with ``paplay`` while listen hears the sink's monitor, once per
``--block-ms``. From listen's first audio (its start line) for ``--seconds``: its CPU time
(``/proc/<pid>/stat`` utime + stime) as % of one core over that wall time, its resident memory
then and at its peak (``VmRSS``, ``VmHWM``), and, from its output, detections and overruns.
Where AUDIO has a labels CSV beside it (``<name>_labels.csv``, as ``kws.data.stream_audio``
writes), listen also records what it heard (``--record``, to place the file in the session) and
each keyword detected correctly gives its latency: from when the word's last sample (its clip's
last 10 ms frame within 20 dB of its loudest) reached listen to when its line was read.
"""

from __future__ import annotations

import argparse
import csv
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from kws.checks import check_number
from kws.io import write_json
from kws.streaming.posterior import Detection
from kws.streaming.scoring import keyword_hits

#: The null sink ``pulse_server`` makes; listen hears its monitor.
SINK = "kws_sink"
#: The sink's (and listen's) sample rate.
RATE = 16000
#: What to install where the server or PortAudio is missing.
PACKAGES = "apt-get install pulseaudio libportaudio2"
#: listen's detection lines: wall time, label, score, session seconds.
_LINE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3})  (\S+)  ([\d.]+)  at ([\d.]+) s$")
_CLOSING = re.compile(r"^stopped after ([\d.]+) s of audio: (\d+) detection\(s\), (\d+) overrun")
#: Labels of a stream's non-keyword rows.
_NOT_KEYWORDS = ("_silence_", "_unknown_")


class AudioServerError(RuntimeError):
    """The sound server cannot be used: a tool missing, or the server did not start."""


@contextmanager
def pulse_server(
    folder: Path, timeout: float = 15.0
) -> Iterator[tuple[dict[str, str], subprocess.Popen]]:
    """A PulseAudio server of its own with a 16 kHz mono null sink ``SINK``, stopped on exit.

    Args:
        folder: an absent folder to make and keep the server's files in; short (a socket path
            has at most 107 characters).
        timeout: seconds the server may take to answer. Default 15.

    Yields:
        The environment that reaches the server (PortAudio reaches it through ALSA's ``pulse``
        device) and the server's process.

    Raises:
        AudioServerError: ``pulseaudio``, ``paplay`` or ``pactl`` missing, sounddevice or
            PortAudio unusable, or the server not answering within ``timeout``.
    """
    missing = [tool for tool in ("pulseaudio", "paplay", "pactl") if shutil.which(tool) is None]
    if missing:
        raise AudioServerError(f"{', '.join(missing)} not installed ({PACKAGES})")
    try:
        import sounddevice  # noqa: F401
    except (ImportError, OSError) as error:  # OSError: no PortAudio library
        raise AudioServerError(
            f"sounddevice cannot be used: {error} (pip install 'kws[listen]', {PACKAGES})"
        ) from None
    folder.mkdir(mode=0o700)
    socket = folder / "native"
    env = {**os.environ, "HOME": str(folder), "XDG_RUNTIME_DIR": str(folder),
           "PULSE_SERVER": f"unix:{socket}"}  # fmt: skip
    server = subprocess.Popen(
        ["pulseaudio", "-n", "--daemonize=no", "--exit-idle-time=-1", "--use-pid-file=no",
         f"--log-target=file:{folder / 'log'}",
         f"--load=module-null-sink sink_name={SINK} rate={RATE} channels=1",
         f"--load=module-native-protocol-unix socket={socket} auth-anonymous=1"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + timeout
        while subprocess.run(["pactl", "info"], env=env, capture_output=True).returncode:
            if server.poll() is not None or time.monotonic() > deadline:
                log = (folder / "log").read_text() if (folder / "log").exists() else ""
                raise AudioServerError(f"the PulseAudio server did not start: {log.strip()[-300:]}")
            time.sleep(0.1)
        yield env, server
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


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


def read_labels(wav: Path) -> list[tuple[str, float]] | None:
    """The keyword rows of the labels CSV beside ``wav`` (``<stem>_labels.csv``), or None.

    Args:
        wav: the played file.

    Returns:
        ``(label, start_ms)`` of each keyword row (not ``_silence_`` / ``_unknown_``), in time
        order; None where there is no such CSV.

    Raises:
        ValueError: the CSV is not ``label,start_ms`` rows with whole, non-negative starts,
            naming the file.
    """
    path = wav.with_name(f"{wav.stem}_labels.csv")
    if not path.is_file():
        return None
    rows = []
    try:
        with open(path, newline="") as handle:
            for row in csv.DictReader(handle):
                start = int(row["start_ms"])
                if start < 0:
                    raise ValueError(f"negative start_ms {start}")
                if row["label"] not in _NOT_KEYWORDS:
                    rows.append((row["label"], float(start)))
    except (KeyError, TypeError, ValueError, UnicodeDecodeError, csv.Error) as error:
        raise ValueError(f"{path}: not a label,start_ms CSV ({error!r})") from None
    return sorted(rows, key=lambda row: row[1])


def word_end(audio: np.ndarray, start: int, clip: int) -> int:
    """Where the word of the clip at ``start`` ends: after the clip's last 10 ms frame within
    20 dB of its loudest (RMS).

    Args:
        audio: ``(samples,)`` the played file.
        start: the clip's first sample.
        clip: samples in a clip.
    """
    frame = clip // 100
    piece = audio[start : start + clip].astype(np.float64)
    energy = np.sqrt((piece[: len(piece) // frame * frame].reshape(-1, frame) ** 2).mean(axis=1))
    if not energy.size or not energy.max():
        return start
    return start + (int(np.flatnonzero(energy >= 0.1 * energy.max())[-1]) + 1) * frame


def _file_offset(heard: np.ndarray, played: np.ndarray) -> int | None:
    """Where ``played`` starts in ``heard``, found by 256 samples 1 s in (PulseAudio zeroes a
    stream's first few ms); None where they are not there exactly once."""
    at = min(RATE, max(0, len(played) - 256))
    key = played[at : at + 256]
    if len(heard) < len(key) or not key.any():
        return None
    hits = np.flatnonzero(
        (np.lib.stride_tricks.sliding_window_view(heard, len(key)) == key).all(axis=1)
    )
    return int(hits[0]) - at if len(hits) == 1 else None


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid``."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _memory_mb(pid: int) -> tuple[float, float]:
    """Resident memory of process ``pid`` now and at its peak, MB (``VmRSS``, ``VmHWM``)."""
    status = Path(f"/proc/{pid}/status").read_text()
    rss, peak = (int(re.search(rf"{key}:\s+(\d+)", status)[1]) / 1024 for key in ("VmRSS", "VmHWM"))
    return rss, peak


def _latencies(
    lines: list[tuple[float, str]],
    heard: np.ndarray,
    played: np.ndarray,
    labels: list[tuple[str, float]],
) -> dict[str, float] | None:
    """Latency of each keyword detected correctly (module docstring), ms: count, median, least,
    most; None where the played file is not found in what was heard."""
    offset = _file_offset(heard, played)
    if offset is None:
        return None
    found = []
    for read_at, line in lines:
        match = _LINE.match(line)
        wall = datetime.strptime(match[1], "%Y-%m-%d %H:%M:%S.%f").timestamp()
        at = round(float(match[4]) * RATE)
        detection = Detection(match[2], 1000 * (at - offset) / RATE, float(match[3]))
        found.append((detection, wall, at, read_at))
    late = []
    for detection, row in keyword_hits([d for d, *_ in found], labels):
        _, wall, at, read_at = next(f for f in found if f[0] is detection)
        end = offset + word_end(played, round(labels[row][1] * RATE / 1000), RATE)
        late.append(1000 * (read_at - (wall + (end - at) / RATE)))
    if not late:
        return {"count": 0}
    return {"count": len(late), "median_ms": statistics.median(late), "min_ms": min(late),
            "max_ms": max(late)}  # fmt: skip


def measure(
    env: dict[str, str],
    model: Path,
    wav: Path,
    block_ms: float,
    seconds: float,
    threshold: str = "auto",
    labels: list[tuple[str, float]] | None = None,
) -> dict[str, Any]:
    """Play ``wav`` into ``SINK`` while listen hears it with ``block_ms`` blocks; its costs.

    Args:
        env: the environment that reaches the server (``pulse_server``).
        model: the exported ``.onnx`` model.
        wav: the audio file played.
        block_ms: listen's ``--block-ms``.
        seconds: seconds measured from listen's first audio.
        threshold: listen's ``--threshold``. Default ``auto``.
        labels: the keyword rows of ``wav`` (``read_labels``); None (default): no latency.

    Returns:
        ``cpu_percent`` (of one core), ``cpu_s``, ``wall_s``, ``rss_mb``, ``peak_rss_mb``,
        ``audio_s`` (listen's closing line), ``detections``, ``overruns``, ``latency`` (None
        without labels, else ``count`` and, with any, ``median_ms``, ``min_ms``, ``max_ms``).

    Raises:
        RuntimeError: listen did not start or did not stop cleanly, with its error output.
    """
    with tempfile.TemporaryDirectory() as folder:
        record = Path(folder) / "heard.wav"
        command = [sys.executable, "-m", "kws.runtime", "listen", str(model), "--device", "pulse",
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
            cpu, wall = _cpu_seconds(listen.pid), time.monotonic()
            player = subprocess.Popen(["paplay", f"--device={SINK}", str(wav)], env=env)
            time.sleep(seconds)
            cpu, wall = _cpu_seconds(listen.pid) - cpu, time.monotonic() - wall
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
            latency = _latencies(lines, heard, played[:, 0], labels)
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
) -> dict[str, Any]:
    """``measure`` at each block size, AUDIO's labels CSV giving latencies where it is there.

    Args:
        env: the environment that reaches the server (``pulse_server``).
        model: the exported ``.onnx`` model.
        wav: the audio file played (16 kHz mono for latencies).
        blocks_ms: listen's ``--block-ms`` values, one run each.
        seconds: seconds measured per run.
        threshold: listen's ``--threshold``. Default ``auto``.

    Returns:
        ``{"load_average": float, "blocks": {"<block_ms>": measure's report}}``.

    Raises:
        ValueError: the labels CSV is malformed.
        RuntimeError: as ``measure``.
    """
    labels = read_labels(wav)
    report: dict[str, Any] = {"load_average": os.getloadavg()[0], "blocks": {}}
    for block in blocks_ms:
        report["blocks"][f"{block:g}"] = measure(env, model, wav, block, seconds, threshold, labels)
    return report


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Add the ``listen`` command.

    Args:
        commands: the CLI's subparsers.
    """
    parser = commands.add_parser(
        "listen", help="CPU, memory and latency of kws.runtime listen on a PulseAudio null sink"
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
    parser.add_argument("--json", help="also write the results to this JSON file")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    """Run the ``listen`` command from its parsed arguments."""
    for path in (args.model, args.audio):
        if not path.is_file():
            raise SystemExit(f"error: {path}: file does not exist")
    try:
        info = sf.info(str(args.audio))
        labels = read_labels(args.audio)
    except (sf.SoundFileError, RuntimeError) as error:
        raise SystemExit(f"error: {args.audio}: not a readable audio file ({error})") from None
    except ValueError as error:
        raise SystemExit(f"error: {error}") from None
    if labels is not None and (info.samplerate != RATE or info.channels != 1):
        raise SystemExit(f"error: {args.audio}: latencies need 16 kHz mono, got {info}")
    if args.json and not Path(args.json).resolve().parent.is_dir():
        raise SystemExit(f"error: --json {args.json}: its folder does not exist")
    try:
        with tempfile.TemporaryDirectory() as folder, pulse_server(Path(folder) / "pa") as server:
            report = bench_listen(
                server[0], args.model, args.audio, args.block_ms, args.seconds, args.threshold
            )
    except (AudioServerError, RuntimeError) as error:
        raise SystemExit(f"error: {error}") from None
    load = report["load_average"]
    print(f"{args.audio.name}, {args.seconds:g} s per run, load average {load:.1f} before")
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
