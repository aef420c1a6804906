"""``detect.py``'s work: the model and streaming detector a config names, run over its recording
by ``kws.streaming.scan``; ``evaluate.py stream=true`` loads its model and detector here too.

The model is a checkpoint's ``KeywordSpotter`` or an exported ONNX model run by the torch-free
runtime.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from omegaconf import DictConfig

from kws.streaming import StreamingDetector
from kws.streaming.scan import report_scan
from kws.tasks.common import process_settings
from kws.training import KWSModule, load_checkpoint
from kws_runtime.checks import check_number
from kws_runtime.scan import DetectorConfig, Recording

if TYPE_CHECKING:
    from kws_runtime import Spotter

log = logging.getLogger(__name__)


def _threads(cfg: DictConfig) -> int:
    """The config's ``threads``: a whole number from 1 to this machine's CPU count (more threads
    than cores only contend, and far more exhaust the process).

    Args:
        cfg: a composed config with ``threads``.

    Raises:
        ValueError: naming ``threads``.
    """
    threads = cfg.get("threads", 1)
    check_number("threads", threads, 1, os.cpu_count() or 1, integer=True)
    return threads


def load_model(cfg: DictConfig) -> tuple[KWSModule | Spotter, str]:
    """The model ``cfg`` names: a checkpoint (``ckpt_path``) or an export run by the torch-free
    runtime (``model_path``, with ``threads`` onnxruntime threads).

    Args:
        cfg: a composed config with ``ckpt_path``, ``model_path`` and ``threads``.

    Returns:
        The loaded module or runtime spotter, and its path.

    Raises:
        ValueError: neither or both of ``ckpt_path`` and ``model_path``, or ``threads`` out of
            range.
    """
    threads = _threads(cfg)  # checked for a checkpoint too: evaluate.py takes it either way
    ckpt_path, model_path = cfg.get("ckpt_path"), cfg.get("model_path")
    if (ckpt_path is None) == (model_path is None):
        raise ValueError("give one of ckpt_path=CKPT (a checkpoint) or model_path=MODEL.onnx")
    if ckpt_path is not None:
        return load_checkpoint(ckpt_path), str(ckpt_path)
    try:
        from kws_runtime import Spotter
    except ImportError as error:
        raise ImportError(
            f"model_path needs onnxruntime ({error}): pip install -e '.[export]'"
        ) from None
    return Spotter.from_file(model_path, threads=threads), str(model_path)


def make_detector(
    model: KWSModule | Spotter, config: DetectorConfig, keep_track: bool
) -> tuple[StreamingDetector, str]:
    """A streaming detector on a loaded model, at the threshold ``config`` asks for (its
    calibrated one with ``detector.threshold=auto``).

    Args:
        model: a checkpoint's module (its ``KeywordSpotter``, with the frame cache) or a runtime
            spotter.
        config: the checked ``detector`` group.
        keep_track: keep the averaged scores for a DET curve.

    Returns:
        The detector, and a line saying where its threshold came from.
    """
    settings, note = config.settings_for(model.calibration)
    common = {
        "stride_ms": config.stride_ms,
        "settings": settings,
        "keep_track": keep_track,
        "batch_size": config.batch_size,
    }
    if isinstance(model, KWSModule):
        clips = model.clip_format
        detector = StreamingDetector.from_spotter(
            model.spotter, model.class_names, clip_samples=clips.clip_samples,
            sample_rate=clips.sample_rate, **common,
        )  # fmt: skip
    else:
        detector = StreamingDetector.from_runtime(model, **common)
    return detector, note


def calibrated(model: KWSModule | Spotter) -> float | None:
    """The model's calibrated threshold, or None when it has none.

    Args:
        model: a checkpoint's module or a runtime spotter.
    """
    return None if model.calibration is None else model.calibration.threshold


def detect(cfg: DictConfig) -> dict[str, Any]:
    """``detect.py``: find keywords in ``cfg.audio`` and, with ``cfg.labels``, score them.

    Every input is checked before the scan: the detector settings, ``threads``, the model, the
    recording's header (any rate and channel count, converted to the model's rate in mono as
    training converts; at least one clip long once converted) and the labels.

    Args:
        cfg: ``conf/detect.yaml`` composed: ``ckpt_path`` or ``model_path``, ``audio``,
            ``labels`` (optional), ``detector``, ``threads``, ``output_dir``.

    Returns:
        See ``kws.streaming.scan.report_scan``.

    Raises:
        ValueError: a bad setting, naming its key, or a bad input file, naming the file.
    """
    if not cfg.get("audio"):
        raise ValueError("give audio=PATH.wav: the recording to listen to")
    if not Path(cfg.audio).is_file():
        raise ValueError(f"{cfg.audio}: no such file (audio=)")
    if cfg.get("labels") and not Path(cfg.labels).is_file():
        raise ValueError(f"{cfg.labels}: no such file (labels=)")
    config = DetectorConfig.from_config(cfg.detector)
    threads = _threads(cfg)
    process_settings(cfg)
    before = torch.get_num_threads()
    torch.set_num_threads(threads)  # the checkpoint's spotter, as the runtime's threads
    try:
        model, source = load_model(cfg)
        detector, note = make_detector(model, config, keep_track=bool(cfg.get("labels")))
        recording = Recording.open(cfg.audio, detector.sample_rate)
        if recording.frames < detector.clip_samples:  # the first window would never fill
            rate = recording.sample_rate
            raise ValueError(
                f"{recording.path}: {recording.frames / rate:g} s ({recording.frames} samples) is "
                f"shorter than the model's {detector.clip_samples / rate:g} s clip "
                f"({detector.clip_samples} samples): nothing to score; the detector scores whole "
                "clips, so pad the recording with silence to at least that length"
            )
        log.info("listening to %s with %s", recording.path, source)
        return report_scan(
            detector, {"stream": (recording, cfg.get("labels"))}, Path(cfg.output_dir),
            config.stride_ms, note, calibrated(model),
        )  # fmt: skip
    finally:
        torch.set_num_threads(before)
