"""Draw a checkpoint's frontend against its initial basis: ``python -m kws.reporting.figures CKPT
OUT_DIR [--dpi 100]``.

Writes ``OUT_DIR/<figure>.png`` for each figure that applies to the frontend
(``kws.plotting.frontend.frontend_figures``) and prints their paths; a checkpoint that cannot be
loaded, or a ``--dpi`` out of range, stops it with one line, ``error: ...``, before anything
is written.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from kws.plotting.frontend import frontend_figures
from kws.plotting.images import DPI, MAX_DPI, save_figures
from kws.training import CheckpointError, load_checkpoint
from kws_runtime.checks import SettingError, check_number


def main(argv: Sequence[str] | None = None) -> None:
    """Run the command.

    Args:
        argv: the command-line arguments; None: ``sys.argv[1:]``.
    """
    parser = argparse.ArgumentParser(
        prog="python -m kws.reporting.figures",
        description="Draw a checkpoint's frontend against its initial basis.",
    )
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("output_dir", type=Path)
    parser.add_argument("--dpi", type=int, default=DPI, help=f"10 to {MAX_DPI}, default {DPI}")
    args = parser.parse_args(argv)
    try:
        check_number("--dpi", args.dpi, 10, MAX_DPI)
        module = load_checkpoint(args.checkpoint)
    except (SettingError, CheckpointError) as error:
        raise SystemExit(f"error: {error}") from None
    for path in save_figures(frontend_figures(module.spotter.frontend), args.output_dir, args.dpi):
        print(path)


if __name__ == "__main__":
    main()
