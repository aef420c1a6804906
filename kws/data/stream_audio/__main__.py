"""``python -m kws.data.stream_audio OUT_DIR [--root ROOT] [--split test] [--minutes 10]
[--seed S] [--noise] ...`` (``--help`` lists every option): the command over ``make_stream`` and
``make_noise_stream``."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from kws.data.layout import DEFAULT_ROOT, KEYWORDS
from kws.data.split_protocol import SPLITS
from kws.data.stream_audio import (
    DEFAULT_GAP_MS,
    DEFAULT_MINUTES,
    DEFAULT_NOISE_MINUTES,
    DEFAULT_NOISE_VOLUME,
    DEFAULT_UNKNOWN_FRACTION,
    DEFAULT_VOLUME,
    make_noise_stream,
    make_stream,
)
from kws.data.stream_audio.settings import check_name
from kws.data.synthetic import DEFAULT_OUT_DIR as SYNTHETIC_ROOT


def _file_name(text: str) -> str:
    """``--name``'s type: ``text`` when ``check_name`` takes it."""
    try:
        check_name(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return text


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m kws.data.stream_audio",
        description="Write long 16 kHz test audio and its labels CSV (label,start_ms per word) "
        "from one split's clips over background noise, or (--noise) a stream with no keyword "
        "for counting false accepts. Defaults follow TensorFlow's generate_streaming_test_wav.",
    )
    parser.add_argument("out_dir", type=Path, help="folder for <name>.wav, _labels.csv, .json")
    parser.add_argument(
        "--root", type=Path, default=None,
        help=f"the extracted data set (default {DEFAULT_ROOT}, or where it is missing the "
        f"generated {SYNTHETIC_ROOT})",
    )  # fmt: skip
    parser.add_argument(
        "--test-root", type=Path, default=None,
        help="the official 12-class test archive: the test split's source (default: "
        "testing_list.txt)",
    )  # fmt: skip
    parser.add_argument("--split", choices=SPLITS, default="test", help="clips from (test)")
    parser.add_argument(
        "--minutes", type=float, default=None,
        help=f"length (words: {DEFAULT_MINUTES:g}, --noise: {DEFAULT_NOISE_MINUTES:g})",
    )  # fmt: skip
    parser.add_argument("--seed", type=int, default=0, help="random seed (same seed, same bytes)")
    parser.add_argument(
        "--gap-ms", type=int, default=DEFAULT_GAP_MS, help="average gap between words (2000)"
    )
    parser.add_argument(
        "--jitter-ms", type=int, default=None, help="spread of a word's start (default: gap)"
    )
    parser.add_argument(
        "--unknown-fraction", type=float, default=None,
        help=f"share of non-keyword words ({DEFAULT_UNKNOWN_FRACTION:g}; not with --noise)",
    )  # fmt: skip
    parser.add_argument(
        "--volume", type=float, default=None,
        help=f"loudest background gain, drawn U(0, volume) per second (words: "
        f"{DEFAULT_VOLUME:g}, --noise: {DEFAULT_NOISE_VOLUME:g})",
    )  # fmt: skip
    parser.add_argument("--fixed-volume", action="store_true", help="background always at --volume")
    parser.add_argument(
        "--keywords", default=",".join(KEYWORDS), help="comma-separated words to spot"
    )
    parser.add_argument("--noise", action="store_true", help="a stream with no keyword")
    parser.add_argument(
        "--speech-fraction", type=float, default=None,
        help="--noise: share of word slots holding non-keyword speech (0)",
    )  # fmt: skip
    parser.add_argument(
        "--name", type=_file_name, default=None,
        help="the files' name (<split>_stream, --noise: noise_stream)",
    )  # fmt: skip
    return parser


def _default_root() -> Path:
    """The data set without ``--root``: ``DEFAULT_ROOT``, else (saying so on stderr) the
    generated ``SYNTHETIC_ROOT`` that ``experiment=quickstart`` makes.

    Raises:
        FileNotFoundError: neither is a folder.
    """
    real, generated = Path(DEFAULT_ROOT), Path(SYNTHETIC_ROOT)
    if real.is_dir():
        return real
    if not generated.is_dir():
        raise FileNotFoundError(
            f"--root: neither {real} (the extracted Speech Commands v0.02) nor {generated} "
            f"(generated data: python -m kws.data.synthetic) is in {Path.cwd()}; give --root"
        )
    print(f"--root: {real} is missing; using the generated data set {generated}", file=sys.stderr)
    return generated


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point; prints one line naming what was written, or exits with one
    ``error:`` line.

    Args:
        argv: the arguments; None: ``sys.argv[1:]``.
    """
    parser = _parser()
    args = parser.parse_args(argv)
    if args.noise and (args.unknown_fraction is not None or args.jitter_ms is not None):
        parser.error("--unknown-fraction and --jitter-ms make no sense with --noise")
    if not args.noise and args.speech_fraction is not None:
        parser.error("--speech-fraction applies to --noise streams only")
    keywords = [word.strip() for word in args.keywords.split(",") if word.strip()]
    shared = {
        "out_dir": args.out_dir,
        "seed": args.seed,
        "gap_ms": args.gap_ms,
        "fixed_volume": args.fixed_volume,
        "keywords": keywords,
        "test_root": args.test_root,
        "split": args.split,
        "name": args.name,
        "progress": True,
    }
    began = time.perf_counter()
    try:
        shared["root"] = args.root if args.root is not None else _default_root()
        if args.noise:
            files = make_noise_stream(
                minutes=DEFAULT_NOISE_MINUTES if args.minutes is None else args.minutes,
                volume=DEFAULT_NOISE_VOLUME if args.volume is None else args.volume,
                speech_fraction=args.speech_fraction or 0.0,
                **shared,
            )
        else:
            files = make_stream(
                minutes=DEFAULT_MINUTES if args.minutes is None else args.minutes,
                volume=DEFAULT_VOLUME if args.volume is None else args.volume,
                jitter_ms=args.jitter_ms,
                unknown_fraction=(
                    DEFAULT_UNKNOWN_FRACTION
                    if args.unknown_fraction is None
                    else args.unknown_fraction
                ),
                **shared,
            )
    except (OSError, ValueError) as error:  # BadFileError is a ValueError
        sys.exit("error: " + " ".join(str(error).splitlines()))
    print(
        f"wrote {files.wav} ({files.seconds:g} s; {files.keyword_count} keywords, "
        f"{files.unknown_count} non-keywords) and {files.labels.name} in "
        f"{time.perf_counter() - began:.1f} s"
    )


if __name__ == "__main__":
    main()
