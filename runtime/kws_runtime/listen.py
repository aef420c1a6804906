"""``python -m kws_runtime listen MODEL.onnx``: keywords heard by a microphone, live, no torch.

An input device is opened through PortAudio (``sounddevice``, kws-runtime's ``listen`` extra,
and the PortAudio library: ``apt-get install libportaudio2``) at the model's sample rate when
it takes it, else at its own rate, converted as training converts a recording
(``kws_runtime.audio.MonoConverter``: the channels' mean, soxr, then 16-bit).
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
  Every file is 16-bit mono at the model's rate, written atomically
  (``kws_runtime.io.atomic_write``).
* ``--record FILE`` writes everything heard, as the detector heard it, to one WAV file.
"""

from __future__ import annotations

import math
import queue
import sys
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple, TextIO

import numpy as np
import soundfile as sf

from kws_runtime.audio import MonoConverter
from kws_runtime.checks import check_number
from kws_runtime.detector import STRIDE_MS, StreamingDetector
from kws_runtime.devices import ListenError, input_device, input_devices, sounddevice, stream_format
from kws_runtime.io import atomic_write
from kws_runtime.posterior import Detection
from kws_runtime.saving import (
    BACKGROUND_FOLDER,
    MAX_FREE_PER_HOUR,
    NEGATIVES_FOLDER,
    Clock,
    History,
    Saver,
    make_folder,
)
from kws_runtime.scan import AUTO, DetectorConfig
from kws_runtime.spotter import Spotter

#: Milliseconds of audio per device block by default: a tenth of a second adds at most that
#: much latency and wakes the detector ten times a second.
BLOCK_MS = 100.0
#: The most audio waiting for the detector, in seconds; past it blocks are dropped, and counted.
MAX_BACKLOG_SECONDS = 5.0
#: Seconds without a block from a started device after which it is taken as gone; the first
#: block may take longer (a sound server's client connects, buffers fill: 1 to 2 s on a busy CPU).
SILENCE_TIMEOUT_SECONDS = 3.0
FIRST_BLOCK_TIMEOUT_SECONDS = 10.0
_WAIT_SECONDS = 0.25  # how long the main loop waits for a block before checking the device


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
        history: History,
        saver: Saver | None,
        recording: sf.SoundFile | None,
        out: TextIO,
        log: TextIO,
    ) -> None:
        self.detector, self.convert, self.history = detector, convert, history
        self.saver, self.recording = saver, recording
        self.out, self.log = out, log
        self.rate = detector.sample_rate
        self.clock = Clock(self.rate)
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
    stride_ms: float = STRIDE_MS,
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
    try:
        config = DetectorConfig.from_config({"stride_ms": stride_ms, "threshold": threshold})
        settings, threshold_note = config.settings_for(spotter.calibration, "--threshold")
        detector = StreamingDetector.from_runtime(spotter, stride_ms=stride_ms, settings=settings)
    except ValueError as error:
        raise ValueError(f"--stride-ms / --threshold: {error}") from None
    model_rate, clip = spotter.sample_rate, spotter.clip_samples
    saver = None
    if save_dir is not None:
        folder = Path(save_dir)
        make_folder(folder / NEGATIVES_FOLDER, "--save")
        if free_per_hour:
            make_folder(folder / BACKGROUND_FOLDER, "--save")
        saver = Saver(folder, model_rate, clip, free_per_hour)
    sd = sounddevice()
    index, info = input_device(sd, device)
    name = f"input device {index} {info['name']!r}"
    device_rate, channels = stream_format(sd, index, info, model_rate, rate)
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
    history = History(4 * clip + 2 * math.ceil(block_frames * model_rate / device_rate))
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
