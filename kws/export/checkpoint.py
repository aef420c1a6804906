"""From a checkpoint file to checked export files: ONNX (float, int8, int8 head), ``torch.export``,
and a causal model's streaming ONNX (float, int8 head; ``kws.export.streaming``).

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
from kws.export.quantize import quantize, strip_metadata
from kws.export.streaming import (
    calibration_feeds,
    stream_difference,
    stream_info,
    stream_report,
    streaming_model,
    to_stream_onnx,
)
from kws.training import KWSModule, load_checkpoint, saved_datamodule
from kws_runtime.io import write_json

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
    "stream": "spotter.stream.onnx",
    "stream-int8-head": "spotter.stream.int8-head.onnx",
}


def training_data(module: KWSModule, checkpoint: str | Path, root: str | None = None) -> Any:
    """The data set a checkpoint was trained on, as its saved settings name it, set up.

    Args:
        module: the loaded checkpoint (its saved data settings name the data).
        checkpoint: its file, for messages.
        root: the data set's folder, if it moved since training; default None: the saved one.

    Returns:
        A set-up ``SpeechCommandsDataModule`` (``datasets["train" | "val" | "test"]``).

    Raises:
        ValueError: the checkpoint names no data, the data cannot be read (the message says
            which file or setting), or its clips are not the model's (``ClipFormat.mismatch``).
    """
    saved = module.checkpoint_metadata.get("datamodule")
    if not saved:
        raise ValueError(f"{checkpoint}: names no data set")
    if root is not None:
        saved = {**saved, "root": str(Path(root).resolve())}
    datamodule = saved_datamodule(str(checkpoint), saved)
    mismatch = module.clip_format.mismatch(datamodule.clip_format)
    if mismatch:
        raise ValueError(f"{checkpoint}: {mismatch}")
    datamodule.setup("fit")
    return datamodule


def calibration_clips(datamodule: Any, clips: int, seed: int = 0) -> np.ndarray:
    """``clips`` clips of a data set's training split, drawn with ``seed``.

    Args:
        datamodule: a set-up ``SpeechCommandsDataModule``, e.g. from ``training_data``.
        clips: how many; all of the training split if it holds fewer.
        seed: the draw's seed. Default 0.

    Returns:
        ``(clips, samples)`` float32 in [-1, 1).
    """
    train = datamodule.datasets["train"]
    rows = np.random.default_rng(seed).permutation(len(train))[:clips]
    return np.asarray(train.clips[np.sort(rows)], dtype=np.float32) / 32768.0


def check_formats(formats: Sequence[str], int8: bool, streaming: bool = False) -> None:
    """Refuse an unknown format, no export at all, or int8 without an ONNX export.

    Args:
        formats: the requested formats, some of ``FORMATS``; none with ``streaming``.
        int8: whether the int8 variants are requested.
        streaming: whether the streaming ONNX export is requested. Default False.
    """
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not (formats or streaming):
        raise ValueError(f"format must be some of {FORMATS}, got {list(formats)}")
    if int8 and "onnx" not in formats and not streaming:
        raise ValueError("int8 quantises the ONNX export: add format onnx (or streaming)")


def export_checkpoint(
    checkpoint: str | Path,
    out_dir: str | Path,
    formats: Sequence[str] = ("onnx",),
    int8: bool = False,
    calibration: int = 300,
    seed: int = 0,
    data_root: str | None = None,
    streaming: bool = False,
) -> dict[str, Any]:
    """Export a checkpoint into ``out_dir`` and report what was written and how close it is.

    Args:
        checkpoint: a kws ``.ckpt`` (read as hostile input, see ``load_checkpoint``).
        out_dir: the folder for the files of ``FILE_NAMES`` and ``export.json``; made if missing.
        formats: some of ``FORMATS``; may be empty with ``streaming``. Default ``("onnx",)``.
        int8: also write the int8 variants of the ONNX exports asked for (needs ``"onnx"`` or
            ``streaming``). Default False.
        calibration: training clips to calibrate int8 with. Default 300.
        seed: the calibration draw's seed. Default 0.
        data_root: the training data's folder if it moved; default None: the checkpoint's.
        streaming: also write the streaming ONNX export (``kws.export.streaming``; a causal
            model only). Default False.

    Returns:
        See ``export_module``.

    Raises:
        ValueError: an unknown format, a bad checkpoint, a model that cannot stream (with
            ``streaming``) or unreadable calibration data, before anything is exported;
            ``ExportError``: see ``export_module``.
    """
    check_formats(formats, int8, streaming)
    if int8 and calibration < 1:
        raise ValueError(f"calibration clips must be at least 1, got {calibration}")
    module = load_checkpoint(checkpoint)
    if streaming:
        streaming_model(module, str(checkpoint))  # refused before the data is read
    clips = None
    if int8:
        clips = calibration_clips(training_data(module, checkpoint, data_root), calibration, seed)
    return export_module(module, out_dir, formats, clips, checkpoint, seed, streaming)


def export_module(
    module: KWSModule,
    out_dir: str | Path,
    formats: Sequence[str] = ("onnx",),
    calibration: np.ndarray | None = None,
    checkpoint: str | Path | None = None,
    seed: int = 0,
    streaming: bool = False,
) -> dict[str, Any]:
    """Export a loaded module into ``out_dir`` and report what was written and how close it is.

    Args:
        module: the trained module, e.g. from ``load_checkpoint``.
        out_dir: the folder for the files of ``FILE_NAMES`` and ``export.json``; made if missing.
        formats: some of ``FORMATS``; may be empty with ``streaming``. Default ``("onnx",)``.
        calibration: ``(clips, clip_samples)`` training clips; given, the int8 variants of the
            ONNX exports asked for are written too (two of ``"onnx"``, one of ``streaming``).
            Default None.
        checkpoint: the file the module came from, recorded in the metadata. Default None.
        seed: the seed of the clips the exports are checked on is ``seed + 1``. Default 0.
        streaming: also write the streaming ONNX export, ``FILE_NAMES["stream"]``
            (``kws.export.streaming``; a causal model only), checked first. Default False.

    Returns:
        The report also written to ``export.json``: per file, its size and the largest
        difference of its probabilities from PyTorch's on seeded clips (a streaming file's: at
        every frame of a seeded stream; with its ``streaming`` metadata, weights, state and work
        per step, ``kws.export.streaming.stream_report``).

    Raises:
        ValueError: an unknown format, a model that cannot stream (with ``streaming``), or
            calibration clips of another length than the model's; ``ExportError``: a float
            export differs from PyTorch by more than ``FLOAT_TOLERANCE`` (nothing is written
            under its name, and nothing at all when the streaming export does).
    """
    check_formats(formats, calibration is not None, streaming)
    info = model_info(module, checkpoint)
    source = checkpoint if checkpoint is not None else "the model"
    if calibration is not None and calibration.shape[1:] != (info.clip_samples,):
        raise ValueError(
            f"{source}: its data has {calibration.shape[1]}-sample clips, the model takes "
            f"{info.clip_samples}"
        )
    stream = None
    if streaming:  # built and checked before any file is written
        stateful = streaming_model(module, str(source))
        stream_meta = stream_info(info, stateful)
        stream = to_stream_onnx(stateful, stream_meta)
        stream_check = stream_difference(stream, stateful, stream_meta, seed + 1)
        if stream_check > FLOAT_TOLERANCE:
            raise ExportError(
                f"{source}: the streaming ONNX export's probabilities differ from PyTorch's by "
                f"{stream_check:.3g} at a frame (> {FLOAT_TOLERANCE}); nothing written"
            )
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    graph = InferenceGraph(module.spotter.frontend, module.spotter.head)
    check = example_batch(info, batch=8, seed=seed + 1)
    files: dict[str, dict[str, Any]] = {}

    def record(kind: str, path: Path, difference: float, **more: Any) -> None:
        size = path.stat().st_size
        files[kind] = {"file": path.name, "bytes": size, "max_difference": difference, **more}
        log.info("%s: %s, %d bytes, max |p - p_torch| %.3g", kind, path, size, difference)

    if "onnx" in formats:
        model = to_onnx(graph, info)
        difference = max_difference(model, graph, check)
        if difference > FLOAT_TOLERANCE:
            raise ExportError(
                f"{source}: the ONNX export's probabilities differ from PyTorch's by "
                f"{difference:.3g} (> {FLOAT_TOLERANCE}); not written"
            )
        record("onnx", save_model(model, out_dir / FILE_NAMES["onnx"]), difference)
        if calibration is not None:
            for kind, head_only in (("int8", False), ("int8-head", True)):
                quantised = quantize(model, calibration, info, head_only)
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
                f"{source}: the torch.export program differs from PyTorch by {difference:.3g}"
            )
        path = out_dir / FILE_NAMES["torch-export"]
        save_program(program, info, path)
        record("torch-export", path, difference)
    if stream is not None:
        stream_int8 = None
        if calibration is not None:  # the float model's name scopes say where its frontend ends
            feeds = calibration_feeds(stream, stream_meta, calibration)
            stream_int8 = quantize(stream, feeds, stream_meta, head_only=True)
        strip_metadata(stream, keep_scopes=False)  # of no use in the file
        path = save_model(stream, out_dir / FILE_NAMES["stream"])
        record("stream", path, stream_check, **stream_report(stream, stream_meta))
        if stream_int8 is not None:
            path = save_model(stream_int8, out_dir / FILE_NAMES["stream-int8-head"])
            difference = stream_difference(stream_int8, stateful, stream_meta, seed + 1)
            record("stream-int8-head", path, difference)
    report = {"checkpoint": str(checkpoint), "model": info.to_dict(), "files": files}
    write_json(out_dir / "export.json", report)
    return report
