"""Compare training runs in one report: ``python -m kws.compare DIR [DIR ...] [-o OUT]``.

Writes ``comparison.md``, ``comparison.csv``, ``comparison_paired.csv`` and the figures into
``OUT`` (default: the folder given, or ``.`` for several; ``kws.reporting.compare`` says what
they hold), prints the Markdown and the files written. No finished run, or a folder that is not
one, stops it with one line, ``error: ...``.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from kws.reporting.compare import NoRunsError, write_comparison


def main(argv: Sequence[str] | None = None) -> None:
    """Run the command.

    Args:
        argv: the command-line arguments; None: ``sys.argv[1:]``.
    """
    parser = argparse.ArgumentParser(
        prog="python -m kws.compare",
        description="Compare training runs (run or multirun folders) in one report.",
    )
    parser.add_argument("dirs", nargs="+", type=Path, help="run or multirun folders")
    parser.add_argument(
        "-o", "--output", type=Path,
        help="where to write the report (default: the folder given, or . for several)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    output = args.output or (args.dirs[0] if len(args.dirs) == 1 else Path("."))
    try:
        paths = write_comparison(args.dirs, output)
    except (NoRunsError, NotADirectoryError) as error:
        raise SystemExit(f"error: {error}") from None
    print(paths[0].read_text())
    print("written:", ", ".join(map(str, paths)))


if __name__ == "__main__":
    main()
