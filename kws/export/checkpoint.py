"""From a checkpoint file to checked export files: ONNX (float, int8, int8 head), ``torch.export``.

Every file is checked before it is written (``onnx.checker``; probabilities against PyTorch's)
and written under a temporary name renamed when complete, so a failed export leaves nothing
under a name that says it is whole.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from kws.export.graph import InferenceGraph, model_info
from kws.export.onnx_model import ExportError, example_batch, max_difference, save_model, to_onnx
from kws.export.program import save_program, to_program
from kws.export.quantize import quantize
from kws.io import write_json
from kws.tasks.evaluate import saved_datamodule
from kws.training import KWSModule, load_checkpoint

log = logging.getLogger(__name__)

FORMATS = ("onnx", "torch-export")
#: The largest difference of probabilities a float export may show against PyTorch.
FLOAT_TOLERANCE = 1e-4
#: What each file of an export folder holds.
FILE_NAMES = {
    "onnx": "spotter.onnx",
    "int8": "spotter.int8.onnx",
    "int8-head": "spotter.int8-head.onnx",
    "torch-export": "spotter.pt2",
}


def calibration_clips(
    module: KWSModule, checkpoint: str | Path, clips: int, seed: int = 0, root: str | None = None
) -> np.ndarray:
    """``clips`` training clips of the data the checkpoint was trained on, drawn with ``seed``.

    Args:
        module: the loaded checkpoint (its saved data settings name the data).
        checkpoint: its file, for messages.
        clips: how many; all of the training split if it holds fewer.
        seed: the draw's seed. Default 0.
        root: the data set's folder, if it moved since training; default None: the saved one.

    Returns:
        ``(clips, clip_samples)`` float32 in [-1, 1).

    Raises:
        ValueError: the checkpoint names no data, or the data cannot be read (the message
            says which file or setting).
    """
    saved = module.checkpoint_metadata.get("datamodule")
    if not saved:
        raise ValueError(f"{checkpoint}: names no training data to calibrate int8 with")
    if root is not None:
        saved = {**saved, "root": str(Path(root).resolve())}
    datamodule = saved_datamodule(str(checkpoint), saved)
    datamodule.setup("fit")
    train = datamodule.datasets["train"]
    rows = np.random.default_rng(seed).permutation(len(train))[:clips]
    samples = np.asarray(train.clips[np.sort(rows)], dtype=np.float32) / 32768.0
    if samples.shape[1] != module.hparams["clip_samples"]:
        raise ValueError(
            f"{checkpoint}: its data has {samples.shape[1]}-sample clips, the model takes "
            f"{module.hparams['clip_samples']}"
        )
    return samples


def export_checkpoint(
    checkpoint: str | Path,
    out_dir: str | Path,
    formats: Sequence[str] = ("onnx",),
    int8: bool = False,
    calibration: int = 300,
    seed: int = 0,
    data_root: str | None = None,
) -> dict[str, Any]:
    """Export a checkpoint into ``out_dir`` and report what was written and how close it is.

    Args:
        checkpoint: a kws ``.ckpt`` (read as hostile input, see ``load_checkpoint``).
        out_dir: the folder for the files of ``FILE_NAMES`` and ``export.json``; made if missing.
        formats: some of ``FORMATS``. Default ``("onnx",)``.
        int8: also write the two int8 ONNX variants (needs ``"onnx"``). Default False.
        calibration: training clips to calibrate int8 with. Default 300.
        seed: the calibration draw's seed. Default 0.
        data_root: the training data's folder if it moved; default None: the checkpoint's.

    Returns:
        The report also written to ``export.json``: per file, its size and the largest
        difference of its probabilities from PyTorch's on seeded clips.

    Raises:
        ValueError: an unknown format, a bad checkpoint or unreadable calibration data, before
            anything is exported; ``ExportError``: a float export differs from PyTorch by more
            than ``FLOAT_TOLERANCE`` (nothing is written under its name).
    """
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        raise ValueError(f"format must be some of {FORMATS}, got {list(formats)}")
    if int8 and "onnx" not in formats:
        raise ValueError("int8 quantises the ONNX export: add format onnx")
    if int8 and calibration < 1:
        raise ValueError(f"calibration clips must be at least 1, got {calibration}")
    module = load_checkpoint(checkpoint)
    info = model_info(module, checkpoint)
    clips = calibration_clips(module, checkpoint, calibration, seed, data_root) if int8 else None
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    graph = InferenceGraph(module.spotter.frontend, module.spotter.head)
    check = example_batch(info, batch=8, seed=seed + 1)
    files: dict[str, dict[str, Any]] = {}

    def record(kind: str, path: Path, difference: float) -> None:
        size = path.stat().st_size
        files[kind] = {"file": path.name, "bytes": size, "max_difference": difference}
        log.info("%s: %s, %d bytes, max |p - p_torch| %.3g", kind, path, size, difference)

    if "onnx" in formats:
        model = to_onnx(graph, info)
        difference = max_difference(model, graph, check)
        if difference > FLOAT_TOLERANCE:
            raise ExportError(
                f"{checkpoint}: the ONNX export's probabilities differ from PyTorch's by "
                f"{difference:.3g} (> {FLOAT_TOLERANCE}); not written"
            )
        record("onnx", save_model(model, out_dir / FILE_NAMES["onnx"]), difference)
        if int8:
            for kind, head_only in (("int8", False), ("int8-head", True)):
                quantised = quantize(model, clips, info, head_only)
                path = save_model(quantised, out_dir / FILE_NAMES[kind])
                record(kind, path, max_difference(quantised, graph, check))
    if "torch-export" in formats:
        program = to_program(graph, info)
        with torch.no_grad():
            ours = program.module()(torch.from_numpy(check))[0]
            theirs = graph(torch.from_numpy(check))[0]
        difference = float((ours - theirs).abs().max())
        if difference > FLOAT_TOLERANCE:
            raise ExportError(
                f"{checkpoint}: the torch.export program differs from PyTorch by {difference:.3g}"
            )
        path = out_dir / FILE_NAMES["torch-export"]
        save_program(program, info, path)
        record("torch-export", path, difference)
    report = {"checkpoint": str(checkpoint), "model": info.to_dict(), "files": files}
    write_json(out_dir / "export.json", report)
    return report
