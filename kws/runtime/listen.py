"""``python -m kws.runtime listen MODEL.onnx``: keywords heard by a microphone, live, no torch.

An input device is opened through PortAudio (``sounddevice``, the ``listen`` extra:
``pip install 'kws[listen]'``, and the PortAudio library: ``apt-get install libportaudio2``) at
the model's sample rate when it takes it, else at its own rate, converted as training converts a
recording (``kws.data.audio.MonoConverter``: the channels' mean, soxr, then 16-bit).
A device that offers mono is read in mono; another is read with all its channels, averaged.
Its blocks go through a queue to the main thread, where a ``StreamingDetector`` (built with
``from_runtime``) scores them; the audio callback only copies. Each detection is printed on
stdout as ``<date> <wall-clock time>  <label>  <score>  at <stream seconds> s``, the time being
the start of the window that fired, as the detector stamps it (the keyword lies in the window
of the model's clip length from there). Ctrl-C (or SIGTERM, or ``--seconds``) stops it, with
a closing line on stderr: the audio heard, the detections and the overruns.

* An overrun is audio lost: the device's buffer overflowed (PortAudio's ``input_overflow``) or
  the detector fell more than ``MAX_BACKLOG_SECONDS`` behind real time and a block was dropped.
  Each is counted and reported on stderr as it happens; the detector then starts a new stream,
  so no scored window and no saved file spans the gap.
* A device that stops delivering audio (unplugged, its sound server gone) ends listening with a
  one-line message and exit status 1; a missing, busy or unsuitable device is a one-line error
  listing the input devices, exit status 2, before anything is heard.
* ``--save DIR`` writes the audio around each detection, two of the model's clips: the clip
  before the window that fired and that window, to ``DIR/negatives/<label>_<time>.wav``. A
  folder data set's ``data.negatives`` cuts a recording into clip-long pieces from its start, so
  the window that fired is exactly its second piece. ``--save-free N`` also saves about N random
  detection-free stretches of the same length an hour to ``DIR/background/free_<time>.wav``.
  Every file is 16-bit mono at the model's rate, written atomically (``kws.io.atomic_write``).
* ``--record FILE`` writes everything heard, as the detector heard it, to one WAV file.
"""

from __future__ import annotations

import argparse
import math
import queue
import re
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import ModuleType
from typing import Any, NamedTuple, TextIO

import numpy as np
import soundfile as sf

from kws.checks import check_number
from kws.data.audio import MonoConverter
from kws.io import atomic_write
from kws.runtime.spotter import Spotter
from kws.streaming.detector import StreamingDetector
from kws.streaming.posterior import Detection, PosteriorSettings

#: Milliseconds of audio per device block by default: a tenth of a second adds at most that
#: much latency and wakes the detector ten times a second.
BLOCK_MS = 100.0
#: The most audio waiting for the detector, in seconds; past it blocks are dropped, and counted.
MAX_BACKLOG_SECONDS = 5.0
#: Seconds without a block from a started device after which it is taken as gone; the first
#: block may take longer (a sound server's client connects, buffers fill: 1 to 2 s on a busy CPU).
SILENCE_TIMEOUT_SECONDS = 3.0
FIRST_BLOCK_TIMEOUT_SECONDS = 10.0
#: ``--save``'s folders: detections (for ``data.negatives``) and keyword-free stretches.
NEGATIVES_FOLDER = "negatives"
BACKGROUND_FOLDER = "background"
#: The most keyword-free stretches saved an hour (``--save-free``): one a second on average.
MAX_FREE_PER_HOUR = 3600.0
#: ``threshold``'s value for the model's calibrated settings.
AUTO = "auto"
_WAIT_SECONDS = 0.25  # how long the main loop waits for a block before checking the device


class ListenError(RuntimeError):
    """Listening cannot start or go on; ``str()`` is one line saying why."""


@dataclass
class ListenSummary:
    """What a listening session heard and did.

    Attributes:
        seconds: the audio heard, at the model's rate.
        detections: every detection, its ``time_ms`` counted from the session's start.
        overruns: times audio was lost (see the module docstring).
        saved: the files ``save_dir`` received, detections' and keyword-free stretches'.
        device_lost: why the device stopped delivering audio, or None when listening was
            stopped.
    """

    seconds: float = 0.0
    detections: list[Detection] = field(default_factory=list)
    overruns: int = 0
    saved: list[Path] = field(default_factory=list)
    device_lost: str | None = None

    def closing_line(self) -> str:
        """The line printed when listening ends."""
        line = (
            f"stopped after {self.seconds:.1f} s of audio: {len(self.detections)} detection(s), "
            f"{self.overruns} overrun(s)"
        )
        return line + (f", {len(self.saved)} file(s) saved" if self.saved else "")


class _Block(NamedTuple):
    """What the audio callback hands over: a device block (None: dropped, the detector being
    too far behind), whether the device lost input before it, and when it arrived."""

    data: np.ndarray | None
    overflow: bool
    arrival: float


_FINISHED = _Block(None, False, 0.0)  # the stream has finished: the device stopped


def sounddevice() -> ModuleType:
    """The ``sounddevice`` module, imported on first use.

    Raises:
        ListenError: it is not installed, or the PortAudio library cannot be loaded.
    """
    try:
        import sounddevice as sd
    except ImportError:
        raise ListenError(
            "listening needs the sounddevice package: pip install 'kws[listen]'"
        ) from None
    except OSError as error:  # sounddevice's import loads the PortAudio library
        raise ListenError(
            f"the PortAudio library cannot be loaded ({error}): install it (Debian: "
            "apt-get install libportaudio2)"
        ) from None
    return sd


def input_devices(sd: ModuleType) -> str:
    """The input devices PortAudio sees, on one line, for messages.

    Args:
        sd: the ``sounddevice`` module.
    """
    try:
        devices = sd.query_devices()
    except sd.PortAudioError as error:
        return f"the devices cannot be listed ({error})"
    found = [
        f"{index} {device['name']!r} ({device['max_input_channels']} ch, "
        f"{device['default_samplerate']:g} Hz)"
        for index, device in enumerate(devices)
        if device["max_input_channels"] > 0
    ]
    if not found:
        return "no input devices (no microphone, or no sound server running)"
    return "input devices: " + ", ".join(found)


class _History:
    """The last ``capacity`` samples heard, by session sample index; zeros stand for samples
    not held: before the session or the last gap (``restart``)."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.audio = np.zeros(0, dtype=np.int16)
        self.end = 0  # session index just past the last sample
        self.first = 0  # session index where the contiguous audio starts

    def add(self, samples: np.ndarray) -> None:
        self.audio = np.concatenate([self.audio, samples])[-self.capacity :]
        self.end += len(samples)

    def restart(self) -> None:
        """A gap: what was held is no longer contiguous with what comes."""
        self.audio = self.audio[:0]
        self.first = self.end

    def take(self, start: int, stop: int) -> np.ndarray:
        """Samples ``start:stop`` (``stop <= end``), zeros where not held."""
        out = np.zeros(stop - start, dtype=np.int16)
        held = self.end - len(self.audio)
        lo = max(start, held)
        if lo < stop:
            out[lo - start :] = self.audio[lo - held : stop - held]
        return out


class _Clock:
    """Wall-clock time of session samples, from when the latest block arrived (so the device's
    clock drifting from the computer's does not add up)."""

    def __init__(self, rate: int) -> None:
        self.rate = rate
        self.end, self.arrival = 0, time.time()

    def tick(self, end: int, arrival: float) -> None:
        self.end, self.arrival = end, arrival

    def at(self, sample: int) -> datetime:
        return datetime.fromtimestamp(self.arrival - (self.end - sample) / self.rate)


def _file_label(label: str) -> str:
    """A class name as part of a file name: characters other than letters, digits, ``-`` and
    ``_`` become ``_`` (a model's class names are its author's)."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", label)


def _stamp(when: datetime) -> str:
    """A file name's time: ``YYYYmmdd-HHMMSS-mmm``."""
    return when.strftime("%Y%m%d-%H%M%S-") + f"{when.microsecond // 1000:03d}"


class _Saver:
    """``--save``: the audio around detections, and random keyword-free stretches.

    A detection whose window starts at ``s`` saves samples ``s - clip`` to ``s + clip``; a
    stretch ``a`` to ``a + 2 clip`` is saved once every window that overlaps it has been
    scored (``a + 3 clip`` heard), if none of them fired, all of it is contiguous audio and it
    is not digital silence. Starts are drawn ``Exp(3600 / per_hour)`` seconds apart.

    Args:
        folder: ``--save``'s folder, holding ``NEGATIVES_FOLDER`` (and ``BACKGROUND_FOLDER``
            when ``per_hour``).
        rate: the model's sample rate.
        clip: the model's clip, in samples.
        per_hour: keyword-free stretches an hour on average; 0: none.
        rng: draws the stretches' starts. Default: a new unseeded generator.
    """

    def __init__(
        self,
        folder: Path,
        rate: int,
        clip: int,
        per_hour: float,
        rng: np.random.Generator | None = None,
    ) -> None:
        self.negatives = folder / NEGATIVES_FOLDER
        self.background = folder / BACKGROUND_FOLDER
        self.rate, self.clip = rate, clip
        self.mean_gap = 3600.0 * rate / per_hour if per_hour > 0 else math.inf
        self.rng = np.random.default_rng() if rng is None else rng
        self.fired: list[int] = []  # recent detections' window starts
        self.next_free = self._after(0)

    def _after(self, sample: int) -> float:
        """The next stretch's start after ``sample``."""
        if not math.isfinite(self.mean_gap):
            return math.inf
        return sample + self.rng.exponential(self.mean_gap)

    def _write(self, path: Path, samples: np.ndarray) -> Path:
        """``samples`` as a 16-bit WAV file at ``path``, atomically."""
        with atomic_write(path, "wb") as handle:
            sf.write(handle, samples, self.rate, subtype="PCM_16", format="WAV")
        return path

    def detection(self, label: str, start: int, history: _History, clock: _Clock) -> Path:
        """Save the audio around a detection whose window starts at ``start``."""
        if math.isfinite(self.mean_gap):
            self.fired.append(start)
        name = f"{_file_label(label)}_{_stamp(clock.at(start))}.wav"
        audio = history.take(start - self.clip, start + self.clip)
        return self._write(self.negatives / name, audio)

    def free(self, history: _History, clock: _Clock) -> list[Path]:
        """Save the keyword-free stretches that ``history`` now completes."""
        saved = []
        clip = self.clip
        while self.next_free + 3 * clip <= history.end:
            start = math.ceil(self.next_free)
            self.fired = [s for s in self.fired if s > start - clip]
            stretch = history.take(start, start + 2 * clip)
            if (
                start >= history.first
                and not any(start - clip < s < start + 2 * clip for s in self.fired)
                and stretch.any()
            ):
                name = f"free_{_stamp(clock.at(start))}.wav"
                saved.append(self._write(self.background / name, stretch))
                start += 2 * clip
            self.next_free = self._after(start)
        return saved


def _device(sd: ModuleType, device: int | str | None) -> tuple[int, dict[str, Any]]:
    """The input device ``device`` names (None: the default), its index and description."""
    try:
        info = sd.query_devices(device, "input")
    except (ValueError, sd.PortAudioError) as error:
        what = "no default input device" if device is None else f"no input device {device!r}"
        raise ListenError(f"{what} ({error}); {input_devices(sd)}") from None
    return int(info["index"]), info


def _stream_format(
    sd: ModuleType, index: int, info: dict[str, Any], model_rate: int, rate: int | None
) -> tuple[int, int]:
    """The rate and channel count to read the device at: ``rate`` if given, else the model's
    rate if the device takes it, else its own; mono if it offers it, else all its channels.

    Raises:
        ListenError: the device takes none of them.
    """
    rates = [rate] if rate else list(dict.fromkeys([model_rate, round(info["default_samplerate"])]))
    channel_counts = list(dict.fromkeys([1, int(info["max_input_channels"])]))
    problem = ""
    for candidate in rates:
        for channels in channel_counts:
            try:
                sd.check_input_settings(index, channels, "int16", samplerate=candidate)
            except (ValueError, sd.PortAudioError) as error:
                problem = str(error)
                continue
            return candidate, channels
    raise ListenError(
        f"input device {index} {info['name']!r} takes none of {', '.join(map(str, rates))} Hz "
        f"with {' or '.join(map(str, channel_counts))} channel(s) of 16-bit samples ({problem}); "
        f"{input_devices(sd)}"
    )


def _threshold_settings(
    threshold: float | str, spotter: Spotter
) -> tuple[PosteriorSettings | None, str]:
    """The detector's settings for ``threshold`` (None: the model's calibrated ones, which
    ``from_runtime`` takes) and a line saying where its threshold comes from."""
    if threshold != AUTO:
        settings = PosteriorSettings(threshold=float(threshold))
        return settings, f"threshold {settings.threshold:g} (--threshold)"
    calibration = spotter.calibration
    if calibration is None:
        default = PosteriorSettings().threshold
        return None, f"threshold {default:g} (TensorFlow's default: the model is not calibrated)"
    return None, f"threshold {calibration.threshold:.4g} (calibrated: {calibration.describe()})"


def _check_settings(
    threshold: float | str,
    free_per_hour: float,
    rate: int | None,
    block_ms: float,
    seconds: float | None,
) -> None:
    """Raise ``ValueError`` naming the option of the first setting out of range."""
    if threshold != AUTO:
        check_number("--threshold", threshold, 0.0, 1.0, low_open=True)
    check_number("--save-free", free_per_hour, 0.0, MAX_FREE_PER_HOUR)
    if rate is not None:
        check_number("--rate", rate, 1000, 384000, integer=True)
    check_number("--block-ms", block_ms, 1.0, 1000.0)
    if seconds is not None:
        check_number("--seconds", seconds, 0.0, math.inf, low_open=True, high_open=True)


def _folder(path: Path, what: str) -> Path:
    """``path`` made if missing; a ``ListenError`` naming ``what`` if it cannot be."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ListenError(f"{what} {path}: cannot be made ({error.strerror})") from None
    return path


class _Session:
    """The main thread's side of a listening session: device blocks in, detections printed and
    saved, overruns reported.

    Args:
        detector: the detector, at the model's rate.
        convert: device blocks to the model's rate.
        history: the recent audio, ``4 clips + 2 blocks`` long at least.
        saver: ``--save``'s writer, or None.
        recording: ``--record``'s open file, or None.
        out: where detections are printed.
        log: where overruns are reported.
    """

    def __init__(
        self,
        detector: StreamingDetector,
        convert: MonoConverter,
        history: _History,
        saver: _Saver | None,
        recording: sf.SoundFile | None,
        out: TextIO,
        log: TextIO,
    ) -> None:
        self.detector, self.convert, self.history = detector, convert, history
        self.saver, self.recording = saver, recording
        self.out, self.log = out, log
        self.rate = detector.sample_rate
        self.clock = _Clock(self.rate)
        self.summary = ListenSummary()
        self.segment = 0  # the session index where the detector's stream starts
        self.in_gap = False  # the last block was dropped

    def hear(self, block: _Block) -> None:
        """Take one block from the callback (a dropped one counts an overrun)."""
        if (block.data is None or block.overflow) and not self.in_gap:
            self._overrun(block)
        self.in_gap = block.data is None
        if block.data is None:
            return
        samples = self.convert(block.data)
        self.history.add(samples)
        self.clock.tick(self.history.end, block.arrival)
        if self.recording is not None:
            self.recording.write(samples)
        for found in self.detector.push(samples):
            self._report(found)
        if self.saver is not None:
            self.summary.saved += self.saver.free(self.history, self.clock)
        self.summary.seconds = self.history.end / self.rate

    def _overrun(self, block: _Block) -> None:
        """Count and report lost audio; the detector starts a new stream after it."""
        self.summary.overruns += 1
        why = (
            "the device's buffer overflowed"
            if block.data is not None
            else f"listening fell {MAX_BACKLOG_SECONDS:g} s behind real time"
        )
        print(
            f"overrun at {datetime.fromtimestamp(block.arrival):%H:%M:%S}: audio lost ({why}); "
            f"{self.summary.overruns} so far",
            file=self.log,
            flush=True,
        )
        self.detector.reset()
        self.history.restart()
        self.segment = self.history.end

    def _report(self, found: Detection) -> None:
        """Print a detection (its time from the session's start) and save its audio."""
        start = self.segment + round(found.time_ms * self.rate / 1000)
        self.summary.detections.append(
            Detection(found.label, start * 1000 / self.rate, found.score)
        )
        wall = f"{self.clock.at(start):%Y-%m-%d %H:%M:%S.%f}"[:-3]
        print(
            f"{wall}  {found.label}  {found.score:.3f}  at {start / self.rate:.3f} s",
            file=self.out,
            flush=True,
        )
        if self.saver is not None:
            self.summary.saved.append(
                self.saver.detection(found.label, start, self.history, self.clock)
            )


def _run(
    stream: Any,
    blocks: queue.SimpleQueue[_Block],
    session: _Session,
    stop: threading.Event,
    seconds: float | None,
    name: str,
    started: Callable[[], None],
) -> str | None:
    """Hear blocks until ``stop``, ``seconds`` or the device stops; then the blocks already
    captured. ``started`` is called when the first block arrives. Returns why the device
    stopped, or None."""
    deadline = None if seconds is None else time.monotonic() + seconds
    timeout = FIRST_BLOCK_TIMEOUT_SECONDS
    waited = 0.0  # in waits that found no block: a process stopped a while (SIGSTOP) is not
    lost = None  # a silent device
    while not stop.is_set() and (deadline is None or time.monotonic() < deadline):
        try:
            block = blocks.get(timeout=_WAIT_SECONDS)
        except queue.Empty:
            waited += _WAIT_SECONDS
            if waited > timeout:
                lost = f"{name} sent no audio for {timeout:g} s"
                break
            continue
        if timeout == FIRST_BLOCK_TIMEOUT_SECONDS:
            started()
        waited, timeout = 0.0, SILENCE_TIMEOUT_SECONDS
        if block is _FINISHED:
            lost = f"{name} stopped delivering audio (disconnected, or its sound server stopped)"
            break
        session.hear(block)
    if lost is None:
        stream.stop()
    while True:  # what was captured before the stop
        try:
            block = blocks.get_nowait()
        except queue.Empty:
            return lost
        if block is not _FINISHED:
            session.hear(block)


def listen(
    model_path: str | Path,
    device: int | str | None = None,
    threshold: float | str = AUTO,
    save_dir: str | Path | None = None,
    free_per_hour: float = 0.0,
    record: str | Path | None = None,
    rate: int | None = None,
    stride_ms: float = 30.0,
    block_ms: float = BLOCK_MS,
    seconds: float | None = None,
    stop: threading.Event | None = None,
    out: TextIO | None = None,
    log: TextIO | None = None,
) -> ListenSummary:
    """Listen to an input device and print the keywords the model detects, until stopped.

    Args:
        model_path: an exported model (``python -m kws.export``), clip or streaming export.
        device: the input device: its index or part of its name (PortAudio's, see
            ``input_devices``); None (default): the default input device.
        threshold: ``"auto"`` (default): the model's calibrated posterior settings, else
            TensorFlow's defaults; a number in (0, 1]: TensorFlow's settings at that threshold.
        save_dir: a folder for the audio around each detection and the keyword-free stretches
            (see the module docstring); made if missing. None (default): nothing saved.
        free_per_hour: keyword-free stretches saved an hour on average, 0 (default) to
            ``MAX_FREE_PER_HOUR``; needs ``save_dir``.
        record: a WAV file to write everything heard to (mono 16-bit at the model's rate),
            complete when listening ends; its folder must exist. None (default): none.
        rate: the rate to read the device at, in Hz; None (default): the model's if the device
            takes it, else the device's default.
        stride_ms: milliseconds between scored windows. Default 30.
        block_ms: milliseconds of audio per device block, 1 to 1000. Default ``BLOCK_MS``.
        seconds: stop after this much wall-clock time; None (default): only ``stop`` or
            Ctrl-C stop.
        stop: set it to stop listening (from another thread or a signal handler). Default:
            a new event.
        out: where detections are printed. Default: stdout.
        log: where the start line and overruns are printed. Default: stderr.

    Returns:
        What was heard and done; ``device_lost`` says why it ended if the device stopped.

    Raises:
        ValueError: a setting out of range, naming its option.
        ModelInfoError: the model cannot be used (its message starts with the file).
        ListenError: sounddevice or PortAudio is missing, the device is missing, busy or takes
            no usable format, or a folder or file cannot be made. All before anything is
            heard.
        OSError: a file could not be written while listening.
    """
    out = sys.stdout if out is None else out
    log = sys.stderr if log is None else log
    _check_settings(threshold, free_per_hour, rate, block_ms, seconds)
    if free_per_hour and save_dir is None:
        raise ValueError("--save-free needs --save DIR")
    record_path = None if record is None else Path(record)
    if record_path is not None and (record_path.is_dir() or not record_path.parent.is_dir()):
        raise ListenError(f"--record {record_path}: a folder, or in a folder that does not exist")
    spotter = Spotter.from_file(model_path)
    settings, threshold_note = _threshold_settings(threshold, spotter)
    try:
        detector = StreamingDetector.from_runtime(spotter, stride_ms=stride_ms, settings=settings)
    except ValueError as error:
        raise ValueError(f"--stride-ms / --threshold: {error}") from None
    model_rate, clip = spotter.sample_rate, spotter.clip_samples
    saver = None
    if save_dir is not None:
        folder = Path(save_dir)
        _folder(folder / NEGATIVES_FOLDER, "--save")
        if free_per_hour:
            _folder(folder / BACKGROUND_FOLDER, "--save")
        saver = _Saver(folder, model_rate, clip, free_per_hour)
    sd = sounddevice()
    index, info = _device(sd, device)
    name = f"input device {index} {info['name']!r}"
    device_rate, channels = _stream_format(sd, index, info, model_rate, rate)
    block_frames = max(1, round(block_ms * device_rate / 1000))
    max_blocks = max(2, math.ceil(MAX_BACKLOG_SECONDS * 1000 / block_ms))
    blocks: queue.SimpleQueue[_Block] = queue.SimpleQueue()

    def callback(indata: np.ndarray, frames: int, when: Any, status: Any) -> None:
        # PortAudio's thread: copy and hand over, nothing more.
        data = indata.copy() if blocks.qsize() < max_blocks else None
        blocks.put(_Block(data, bool(status.input_overflow), time.time()))

    try:
        stream = sd.InputStream(
            device=index, samplerate=device_rate, channels=channels, dtype="int16",
            blocksize=block_frames, callback=callback,
            finished_callback=lambda: blocks.put(_FINISHED),
        )  # fmt: skip
    except (ValueError, sd.PortAudioError) as error:
        raise ListenError(f"{name} cannot be opened ({error}); {input_devices(sd)}") from None
    history = _History(4 * clip + 2 * math.ceil(block_frames * model_rate / device_rate))
    with ExitStack() as stack:
        recording = None
        if record_path is not None:
            handle = stack.enter_context(atomic_write(record_path, "wb"))
            recording = stack.enter_context(
                sf.SoundFile(handle, "w", model_rate, 1, "PCM_16", format="WAV")
            )
        stack.callback(stream.close)  # however listening ends, before the recording closes
        convert = MonoConverter(device_rate, model_rate, channels)
        session = _Session(detector, convert, history, saver, recording, out, log)
        try:
            stream.start()
        except sd.PortAudioError as error:
            raise ListenError(f"{name} cannot be started ({error}); {input_devices(sd)}") from None
        conversion = "" if device_rate == model_rate else f", converted to {model_rate} Hz"
        line = (
            f"listening to {name} at {device_rate} Hz, {channels} channel(s){conversion}; "
            f"{Path(model_path).name}: {', '.join(spotter.class_names)}; {threshold_note}; "
            "Ctrl-C stops"
        )
        try:
            lost = _run(
                stream, blocks, session, threading.Event() if stop is None else stop, seconds,
                name, lambda: print(line, file=log, flush=True),
            )  # fmt: skip
        except KeyboardInterrupt:  # Ctrl-C without main()'s handler: stop where it was
            lost = None
        session.summary.device_lost = lost
    return session.summary


def _threshold(text: str) -> float | str:
    """An argparse type: ``auto`` or a number in (0, 1]."""
    if text == AUTO:
        return AUTO
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not 'auto' or a number: {text!r}") from None
    if not 0.0 < value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be 'auto' or a number in (0, 1], got {text}")
    return value


def _device_arg(text: str) -> int | str:
    """An argparse type: a device index (digits) or part of a device name."""
    return int(text) if text.isdigit() else text


def _parser() -> argparse.ArgumentParser:
    """The command line's parser."""
    parser = argparse.ArgumentParser(
        prog="python -m kws.runtime listen",
        description="Print the keywords an exported kws model (ONNX) hears on a microphone.",
    )
    parser.add_argument("model", help="the exported .onnx model")
    parser.add_argument(
        "--device",
        type=_device_arg,
        help="input device: its index or part of its name (default: the default input device)",
    )
    parser.add_argument(
        "--threshold", type=_threshold, default=AUTO,
        help="'auto' (default: the model's calibrated threshold) or a number in (0, 1]",
    )  # fmt: skip
    parser.add_argument(
        "--save", metavar="DIR",
        help="save 2 clips of audio around each detection to DIR/negatives (data.negatives)",
    )  # fmt: skip
    parser.add_argument(
        "--save-free", type=float, default=0.0, metavar="N",
        help="also save about N random detection-free stretches an hour to DIR/background",
    )  # fmt: skip
    parser.add_argument("--record", metavar="FILE", help="write everything heard to a WAV file")
    parser.add_argument(
        "--rate",
        type=int,
        help="read the device at this rate in Hz (default: the model's if the device takes it)",
    )
    parser.add_argument(
        "--stride-ms", type=float, default=30.0, help="ms between scored windows (default 30)"
    )
    parser.add_argument(
        "--block-ms", type=float, default=BLOCK_MS,
        help=f"ms of audio per device block (default {BLOCK_MS:g})",
    )  # fmt: skip
    parser.add_argument("--seconds", type=float, help="stop after this many seconds")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Listen until Ctrl-C (or SIGTERM, or ``--seconds``); the exit status: 0 when stopped, 1
    when the device stopped delivering audio, 2 when listening could not start.

    Args:
        argv: the arguments after ``python -m kws.runtime listen``; ``None`` (default): the
            command line's.
    """
    args = _parser().parse_args(argv)
    stop = threading.Event()
    signals = (signal.SIGINT, signal.SIGTERM)
    handlers = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in signals}
    try:
        summary = listen(
            args.model, device=args.device, threshold=args.threshold, save_dir=args.save,
            free_per_hour=args.save_free, record=args.record, rate=args.rate,
            stride_ms=args.stride_ms, block_ms=args.block_ms, seconds=args.seconds, stop=stop,
        )  # fmt: skip
    except (ValueError, ListenError) as error:  # ModelInfoError is a ValueError
        print(f"error: {error}", file=sys.stderr)
        return 2
    except (OSError, sf.SoundFileError) as error:  # a file could not be written mid-session
        print(f"error: {error}", file=sys.stderr)
        return 1
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    print(summary.closing_line(), file=sys.stderr)
    if summary.device_lost:
        print(f"error: {summary.device_lost}", file=sys.stderr)
        return 1
    return 0
