"""Export a checkpoint: ``python -m kws.export CKPT OUT_DIR [--format onnx|torch-export|all]
[--streaming] [--int8] [--calibration-clips N]``.

Writes ``spotter.onnx`` (and ``spotter.int8.onnx``, ``spotter.int8-head.onnx`` with ``--int8``),
``spotter.pt2`` with ``spotter.json``, and ``export.json``, the sizes and parity of each.
``--streaming`` writes a causal model's streaming export, ``spotter.stream.onnx`` (and
``spotter.stream.int8.onnx`` with ``--int8``), and only that unless ``--format`` asks for more.
"""

from __future__ import annotations

import argparse
import logging
import sys

from kws.export.checkpoint import FORMATS, export_checkpoint
from kws.training.loggers import quiet_libraries


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m kws.export", description=__doc__)
    parser.add_argument("checkpoint", help="a kws .ckpt file")
    parser.add_argument("out_dir", help="the folder to write the exports into")
    parser.add_argument("--format", choices=[*FORMATS, "all"],
                        help="default onnx, or none with --streaming")  # fmt: skip
    parser.add_argument("--streaming", action="store_true",
                        help="write the streaming ONNX export (model.causal=true)")  # fmt: skip
    parser.add_argument("--int8", action="store_true", help="also write the int8 ONNX variants")
    parser.add_argument("--calibration-clips", type=int, default=300, metavar="N",
                        help="training clips to calibrate int8 with (default 300)")  # fmt: skip
    parser.add_argument("--seed", type=int, default=0, help="the calibration draw's seed")
    parser.add_argument("--data-root", help="the training data's folder, if it moved")
    parser.add_argument("--debug", action="store_true", help="show a failure's traceback")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    if args.format is None:
        formats: tuple[str, ...] = () if args.streaming else ("onnx",)
    else:
        formats = FORMATS if args.format == "all" else (args.format,)
    try:
        with quiet_libraries():
            report = export_checkpoint(
                args.checkpoint, args.out_dir, formats, args.int8, args.calibration_clips,
                args.seed, args.data_root, args.streaming,
            )  # fmt: skip
    except Exception as error:
        if args.debug:
            raise
        print(f"error: {str(error).strip() or type(error).__name__}", file=sys.stderr)
        raise SystemExit(1) from None
    print(f"{'variant':<18}{'file':<31}{'KB':>9}  max |p - p_torch|")
    for kind, entry in report["files"].items():
        print(f"{kind:<18}{entry['file']:<31}{entry['bytes'] / 1024:>9.1f}  "
              f"{entry['max_difference']:.2e}")  # fmt: skip
    print(f"written to {args.out_dir} (export.json lists the same)")


if __name__ == "__main__":
    main()
