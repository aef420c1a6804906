"""``python -m kws.data.synthetic [OUT_DIR] [--speakers N] [--seed S] [--force]``, or with
``--words hey_kitchen,stop,... [--rate 44100] [--channels 2] [--suffix .flac]`` a folder of those
words: the command over ``generate`` and ``write_words``."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import kws.data.synthetic as synthetic
from kws.data.layout import SAMPLE_RATE, WORDS
from kws.data.splits import speaker_id
from kws.data.synthetic.tree import DEFAULT_OUT_DIR, DEFAULT_SPEAKERS, generate, write_words


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point; prints a one-line summary of what was written.

    Args:
        argv: the arguments; None: ``sys.argv[1:]``.
    """
    parser = argparse.ArgumentParser(
        prog="python -m kws.data.synthetic", description=synthetic.__doc__.splitlines()[0]
    )
    parser.add_argument(
        "out_dir", type=Path, nargs="?", default=None,
        help=f"folder to create, absent or empty (default {DEFAULT_OUT_DIR}, where data=synthetic "
        "and experiment=quickstart read it; needed with --words)",
    )  # fmt: skip
    parser.add_argument(
        "--speakers",
        type=int,
        default=None,
        help=f"number of speakers (default {DEFAULT_SPEAKERS}; 20 with --words)",
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (same seed, same bytes)")
    parser.add_argument("--force", action="store_true", help="replace a non-empty OUT_DIR")
    parser.add_argument(
        "--words",
        default=None,
        help="comma-separated words: a folder of these words instead (no lists)",
    )
    parser.add_argument("--rate", type=int, default=SAMPLE_RATE, help="with --words: Hz")
    parser.add_argument("--channels", type=int, default=1, help="with --words: channels")
    parser.add_argument("--suffix", default=".wav", help="with --words: .wav, .flac, ...")
    args = parser.parse_args(argv)  # fmt: skip
    if args.out_dir is None and args.words:
        parser.error("OUT_DIR is needed with --words")
    out_dir = args.out_dir or Path(DEFAULT_OUT_DIR)
    start = time.perf_counter()
    try:
        if args.words:
            words = [word for word in args.words.split(",") if word]
            out = write_words(out_dir, words, args.speakers or 20, args.seed, args.rate,
                              args.channels, args.suffix, args.force)  # fmt: skip
            print(f"wrote {len(words)} words by {args.speakers or 20} speakers to {out} in "
                  f"{time.perf_counter() - start:.1f} s")  # fmt: skip
            return
        speakers = args.speakers or DEFAULT_SPEAKERS
        out = generate(out_dir, speakers=speakers, seed=args.seed, force=args.force)
    except (FileExistsError, ValueError) as err:
        sys.exit(f"error: {err}")
    seconds = time.perf_counter() - start
    clips = sum(1 for w in WORDS for _ in (out / w).glob("*.wav"))
    listed = {s: (out / f"{s}_list.txt").read_text().split() for s in ("validation", "testing")}
    held_out = [
        f"{split} {len(names)} ({len({speaker_id(n) for n in names})} speakers)"
        for split, names in listed.items()
    ]
    train = clips - sum(len(names) for names in listed.values())
    print(
        f"wrote {clips} clips from {speakers} speakers to {out}: training {train}, "
        f"{', '.join(held_out)} in {seconds:.1f} s"
    )


if __name__ == "__main__":
    main()
