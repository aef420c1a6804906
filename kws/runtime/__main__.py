"""``python -m kws.runtime MODEL.onnx a.wav b.wav ...``: each file's top classes;
``python -m kws.runtime listen MODEL.onnx ...``: keywords heard by a microphone
(``kws.runtime.listen``).

``MODEL.onnx`` is a clip export or a streaming export (``python -m kws.export --streaming``),
which scores a clip as a stream starting with it: its probabilities at the clip's last frame.

Each file may have any sample rate and channel count soundfile reads, and be at most one of the
model's clips long: it is converted to the model's rate in mono as training converts
(``kws.data.audio.MonoConverter``), with a ``converted <path>: ...`` line on stderr.

One line per file, ``<path>  <class>  <probability>`` (``--top K``: the K best pairs), on
stdout; a file that cannot be scored is an ``error: <path>: <problem>`` line on stderr and the
others are still scored. Exit status 0 if every file was scored, 1 if any was not, 2 if the
model cannot be used.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import numpy as np

from kws.data.audio import BadAudioError
from kws.runtime.model_info import ModelInfoError
from kws.runtime.spotter import Spotter


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


def _parser() -> argparse.ArgumentParser:
    """The command line's parser."""
    parser = argparse.ArgumentParser(
        prog="python -m kws.runtime",
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


def main(argv: Sequence[str] | None = None) -> int:
    """Score the files; the exit status.

    Args:
        argv: the arguments after ``python -m kws.runtime``; ``None`` (default): the command
            line's.
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["listen"]:
        from kws.runtime import listen

        return listen.main(argv[1:])
    args = _parser().parse_args(argv)
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


if __name__ == "__main__":
    sys.exit(main())
