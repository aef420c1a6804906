"""The runtime's commands, no torch:

* ``python -m kws_runtime MODEL.onnx a.wav b.wav ...``: each clip's top classes, one line per
  file, ``<path>  <class>  <probability>`` (``--top K``: the K best pairs);
* ``python -m kws_runtime detect MODEL.onnx LONG.wav ...``: the keywords in recordings of any
  length, one line per detection, ``<path>  <seconds>  <label>  <score>``, the time being the
  start of the window that fired (``--out FILE``: also a ``label,time_ms,score`` CSV);
* ``python -m kws_runtime listen MODEL.onnx``: keywords heard by a microphone
  (``kws_runtime.listen``).

``MODEL.onnx`` is a clip export or a streaming export (``python -m kws.export --streaming``).
Audio may have any sample rate and channel count soundfile reads: it is converted to the model's
rate in mono as training converts (``kws_runtime.audio.MonoConverter``), with a
``converted <path>: ...`` line on stderr. A file that cannot be used is an
``error: <path>: <problem>`` line on stderr and the others are still used. Exit status 0 when
every file was used, 1 if any was not (``listen``: the device stopped), 2 if the model or a
setting cannot be used.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import soundfile as sf

from kws_runtime.audio import BadAudioError
from kws_runtime.detector import STRIDE_MS, StreamingDetector
from kws_runtime.devices import ListenError
from kws_runtime.listen import BLOCK_MS, listen
from kws_runtime.model_info import ModelInfoError
from kws_runtime.scan import AUTO, DetectorConfig, Recording, scan, write_detections
from kws_runtime.spotter import Spotter


def _positive(text: str) -> int:
    """An argparse type: an integer of at least 1."""
    try:
        number = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {number}")
    return number


def _note(line: str) -> None:
    """Print a line about a file (its conversion) on stderr, beside its errors."""
    print(line, file=sys.stderr, flush=True)


def _clip_parser() -> argparse.ArgumentParser:
    """The clip command's parser."""
    parser = argparse.ArgumentParser(
        prog="python -m kws_runtime",
        description="Score WAV clips with an exported kws model (ONNX, a clip or a streaming "
        "export), without torch.",
    )
    parser.add_argument("model", help="the exported .onnx model")
    parser.add_argument(
        "wavs",
        nargs="+",
        metavar="WAV",
        help="audio files of any sample rate and channel count, each at most one clip long",
    )
    parser.add_argument(
        "--threads", type=_positive, default=1, help="onnxruntime threads (default 1)"
    )
    parser.add_argument(
        "--top", type=_positive, default=1, help="classes shown per file, best first (default 1)"
    )
    return parser


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


def clip_main(argv: Sequence[str] | None = None) -> int:
    """Score clips; the exit status.

    Args:
        argv: the arguments after ``python -m kws_runtime``; ``None`` (default): the command
            line's.
    """
    args = _clip_parser().parse_args(argv)
    try:
        spotter = Spotter.from_file(args.model, threads=args.threads)
    except ModelInfoError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    failed = False
    for path in args.wavs:
        try:
            probabilities = spotter.predict(spotter.read_clip(path, report=_note))
        except BadAudioError as error:
            print(f"error: {error}", file=sys.stderr)
            failed = True
            continue
        except ModelInfoError as error:  # the model failed: it would fail on the others too
            print(f"error: {error}", file=sys.stderr)
            return 2
        best = np.argsort(-probabilities, kind="stable")[: args.top]
        scores = "  ".join(f"{spotter.class_names[i]}  {probabilities[i]:.3f}" for i in best)
        print(f"{path}  {scores}", flush=True)
    return 1 if failed else 0


def add_detector_options(parser: argparse.ArgumentParser) -> None:
    """The detector's options ``listen`` and ``detect`` share: ``--threshold`` and
    ``--stride-ms``.

    Args:
        parser: the command's parser.
    """
    parser.add_argument(
        "--threshold", type=_threshold, default=AUTO,
        help="'auto' (default: the model's calibrated threshold) or a number in (0, 1]",
    )  # fmt: skip
    parser.add_argument(
        "--stride-ms", type=float, default=STRIDE_MS,
        help="ms between scored windows (default %(default)g)",
    )  # fmt: skip


def _listen_parser() -> argparse.ArgumentParser:
    """``listen``'s parser."""
    parser = argparse.ArgumentParser(
        prog="python -m kws_runtime listen",
        description="Print the keywords an exported kws model (ONNX) hears on a microphone.",
    )
    parser.add_argument("model", help="the exported .onnx model")
    parser.add_argument(
        "--device",
        type=_device_arg,
        help="input device: its index or part of its name (default: the default input device)",
    )
    add_detector_options(parser)
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
        "--block-ms", type=float, default=BLOCK_MS,
        help=f"ms of audio per device block (default {BLOCK_MS:g})",
    )  # fmt: skip
    parser.add_argument("--seconds", type=float, help="stop after this many seconds")
    return parser


def listen_main(argv: Sequence[str] | None = None) -> int:
    """Listen until Ctrl-C (or SIGTERM, or ``--seconds``); the exit status: 0 when stopped, 1
    when the device stopped delivering audio, 2 when listening could not start.

    Args:
        argv: the arguments after ``python -m kws_runtime listen``; ``None`` (default): the
            command line's.
    """
    args = _listen_parser().parse_args(argv)
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


def _detect_parser() -> argparse.ArgumentParser:
    """``detect``'s parser."""
    parser = argparse.ArgumentParser(
        prog="python -m kws_runtime detect",
        description="Print the keywords an exported kws model (ONNX) finds in recordings.",
    )
    parser.add_argument("model", help="the exported .onnx model")
    parser.add_argument(
        "audio", nargs="+", metavar="AUDIO", help="recordings of any length, rate and channels"
    )
    add_detector_options(parser)
    parser.add_argument(
        "--threads", type=_positive, default=1, help="onnxruntime threads (default 1)"
    )
    parser.add_argument(
        "--out", metavar="FILE", help="also write label,time_ms,score rows (one file: one CSV)"
    )
    return parser


def detect_main(argv: Sequence[str] | None = None) -> int:
    """Find the keywords in each recording; the exit status.

    Args:
        argv: the arguments after ``python -m kws_runtime detect``; ``None`` (default): the
            command line's.
    """
    args = _detect_parser().parse_args(argv)
    if args.out is not None and len(args.audio) > 1:
        print("error: --out takes the detections of one recording", file=sys.stderr)
        return 2
    try:
        spotter = Spotter.from_file(args.model, threads=args.threads)
        config = DetectorConfig.from_config(
            {"stride_ms": args.stride_ms, "threshold": args.threshold}
        )
        settings, note = config.settings_for(spotter.calibration, "--threshold")
        detector = StreamingDetector.from_runtime(spotter, args.stride_ms, settings)
    except ValueError as error:  # ModelInfoError is a ValueError
        print(f"error: {error}", file=sys.stderr)
        return 2
    _note(note)
    failed = False
    for path in args.audio:
        try:
            recording = Recording.open(path, spotter.sample_rate)
            if recording.conversion:
                _note(recording.conversion)
            found = scan(detector, recording)
        except ValueError as error:  # a BadAudioError, or no such file
            print(f"error: {error}", file=sys.stderr)
            failed = True
            continue
        for detection in found.detections:
            seconds = detection.time_ms / 1000.0
            print(f"{path}  {seconds:.3f}  {detection.label}  {detection.score:.3f}", flush=True)
        _note(
            f"{path}: {len(found.detections)} detection(s) in {found.duration_ms / 1000:.1f} s "
            f"of audio, real-time factor {found.real_time_factor:.4f}"
        )
        if args.out is not None:
            write_detections(Path(args.out), found.detections)
    return 1 if failed else 0


COMMANDS = {"detect": detect_main, "listen": listen_main}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command ``argv`` names (``detect``, ``listen``; else clip scoring); the exit
    status.

    Args:
        argv: the arguments after ``python -m kws_runtime``; ``None`` (default): the command
            line's.
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] and argv[0] in COMMANDS:
        return COMMANDS[argv[0]](argv[1:])
    return clip_main(argv)


if __name__ == "__main__":
    sys.exit(main())
