"""``python -m kws.data.tts OUT_DIR --phrases "hey kitchen,lights off" [--voices 40] [--seed 0]
[--negatives auto|none] [--clip-seconds S] [--engines espeak,flite] [--force]``: the command over
``write_phrases``; it prints the ``train.py`` line for the folder it wrote."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import kws.data.tts as tts
from kws.data.tts import (
    DEFAULT_NEAR,
    DEFAULT_ORDINARY,
    DEFAULT_SENTENCES,
    DEFAULT_VOICES,
    DEFAULT_WORD_LIST,
    ENGINES,
    EngineMissingError,
    parse_phrases,
    write_phrases,
)


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point; prints what was written and the command that trains on it.

    Args:
        argv: the arguments; None: ``sys.argv[1:]``.
    """
    parser = argparse.ArgumentParser(
        prog="python -m kws.data.tts", description=tts.__doc__.splitlines()[0]
    )
    parser.add_argument("out_dir", type=Path, help="folder to create, absent or empty")
    parser.add_argument("--phrases", required=True, help='comma-separated: "hey kitchen,stop"')
    parser.add_argument(
        "--voices",
        type=int,
        default=DEFAULT_VOICES,
        help=f"synthetic speakers (default {DEFAULT_VOICES})",
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (same seed, same bytes)")
    parser.add_argument(
        "--negatives",
        choices=("auto", "none"),
        default="auto",
        help="auto (default): also sound-alikes, parts and ordinary words",
    )
    parser.add_argument("--near", type=int, default=DEFAULT_NEAR, help="sound-alikes per phrase")
    parser.add_argument("--ordinary", type=int, default=DEFAULT_ORDINARY, help="ordinary words")
    parser.add_argument("--sentences", type=int, default=DEFAULT_SENTENCES, help="sentences")
    parser.add_argument(
        "--word-list",
        type=Path,
        default=DEFAULT_WORD_LIST,
        help=f"words searched for negatives (default {DEFAULT_WORD_LIST})",
    )
    parser.add_argument(
        "--clip-seconds",
        type=float,
        default=None,
        help="clip length (default: fit the longest phrase, at least 1 s)",
    )
    parser.add_argument(
        "--engines",
        default=None,
        help=f"comma-separated, of {','.join(ENGINES)} (default: all installed)",
    )
    parser.add_argument("--force", action="store_true", help="replace a non-empty OUT_DIR")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    try:
        phrases = parse_phrases(args.phrases)
        engines = args.engines.split(",") if args.engines else None
        manifest = write_phrases(
            args.out_dir,
            phrases,
            args.voices,
            args.seed,
            args.negatives == "auto",
            args.clip_seconds,
            engines,
            args.near,
            args.ordinary,
            args.sentences,
            args.word_list,
            args.force,
        )
    except (FileExistsError, FileNotFoundError, ValueError, EngineMissingError) as error:
        sys.exit(f"error: {error}")
    folders = len(manifest["keywords"]) + len(manifest["negatives"])
    clips = folders * len(manifest["speakers"])
    print(
        f"wrote {clips} clips ({folders} folders x {len(manifest['speakers'])} speakers) to "
        f"{args.out_dir} in {time.perf_counter() - start:.1f} s; train with:\n  python train.py "
        f"data=folder data.root={args.out_dir} 'data.keywords=[{','.join(manifest['keywords'])}]' "
        f"data.clip_seconds={manifest['clip_seconds']:g}"
    )


if __name__ == "__main__":
    main()
