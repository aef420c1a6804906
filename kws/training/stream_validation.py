"""Validation on streams: false accepts per hour and false rejects, as a deployed spotter is
judged, every time the model is validated; and the threshold calibrated for deployment.

Clip accuracy says little about a detector on a stream. ``StreamValidation`` makes two streams
from the validation split's speakers once, in memory (``kws.data.stream_audio.render_stream``):
a word stream in TensorFlow's layout (keywords and non-keywords, one per slot of a clip plus
2 s) and a keyword-free stream (non-keyword speech in ``speech_fraction`` of the slots over
background noise at U(0, 1)). At each validation the model's ``StreamingDetector`` listens to
both, and their DET curves are pooled (``kws.streaming.scoring.pool_det_curves``): false
accepts over all the audio, false rejects over the word stream's keywords. It logs

* ``val/fa_per_hour`` and ``val/frr`` at the reference ``threshold`` (TensorFlow's 0.7);
* ``val/frr_at_target``: the false-reject rate at the calibrated threshold, the one that keeps
  within ``target_fa_per_hour`` (``kws.streaming.calibration``), and ``val/threshold``, that
  threshold, which the module keeps (``KWSModule.calibration``) and so every checkpoint holds;
* ``val/stream_seconds``: what the two streams cost (0 for weights listened to before).

Weights are listened to once: their scores are kept by a digest of the module's state, so the
validation of the best checkpoint after fitting (the same weights as one of the epochs') costs
nothing.

With ``ramp_negative_weight`` it also applies openWakeWord's rule: while ``val/fa_per_hour`` is
above the target, the loss weight of ``_silence_`` and ``_unknown_`` rows doubles
(``KWSModule.negative_weight``), up to ``max_negative_weight``.

The streams are made when fitting starts, so a validation split too small for them stops the run
before the first epoch, with an error naming what is missing.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from dataclasses import replace
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from pytorch_lightning.trainer.states import TrainerFn

from kws.data.stream_audio import (
    DEFAULT_NOISE_VOLUME,
    DEFAULT_VOLUME,
    RenderedStream,
    render_stream,
)
from kws.streaming import PosteriorSettings, StreamingDetector
from kws.streaming.calibration import TARGET_FA_PER_HOUR, calibrate
from kws.streaming.scoring import det_curves, pool_det_curves
from kws_runtime.calibration import Calibration
from kws_runtime.checks import check_number
from kws_runtime.detector import MAX_BATCH_SIZE, STRIDE_MS

log = logging.getLogger(__name__)


def unmet(calibration: Calibration) -> str:
    """What to say of a calibration that does not meet its target."""
    if calibration.false_reject_rate >= 1.0:
        return "no keyword is detected on the validation streams at any threshold"
    return (
        f"no threshold keeps within {calibration.target_fa_per_hour:g} false accepts per hour "
        f"and detects a keyword; the best reached is {calibration.false_accepts_per_hour:.2f} "
        f"FA/h (threshold {calibration.threshold:.4g}, false-reject rate "
        f"{calibration.false_reject_rate:.1%})"
    )


def weights_digest(module: pl.LightningModule) -> str:
    """A digest of a module's state (weights and buffers): equal for equal weights.

    Args:
        module: the module.
    """
    digest = hashlib.sha256()
    for name, tensor in module.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


class StreamValidation(pl.Callback):
    """At every validation, listen to two streams of the validation speakers; log false accepts
    per hour and false rejects; calibrate the deployed threshold.

    Args:
        word_minutes: the word stream's length. Default 3.
        free_minutes: the keyword-free stream's length. Default 6.
        speech_fraction: the share of the keyword-free stream's slots that hold a non-keyword.
            Default 0.5.
        target_fa_per_hour: the false-accept budget the threshold is calibrated for. Default 0.5.
        threshold: the reference threshold of ``val/fa_per_hour`` and ``val/frr``. Default 0.7.
        stride_ms: the detector's stride. Default 30.
        average_window_ms, suppression_ms, minimum_count: the posterior handling
            (``PosteriorSettings``; TensorFlow's defaults).
        batch_size: windows scored together, 1 to ``MAX_BATCH_SIZE``. Default 256.
        seed: the streams' seed. Default 0.
        frr_slack_se: the calibration's slack (``kws.streaming.calibration.calibrate``): the
            highest threshold within the budget whose false-reject rate is within this many
            standard errors of the lowest. Default 0: the lowest rate only.
        ramp_negative_weight: double the negative rows' loss weight after each validation whose
            ``val/fa_per_hour`` is above the target. Default False.
        max_negative_weight: the most it is ramped to. Default 16.

    Raises:
        ValueError: a setting out of range, naming ``callbacks.stream_validation.<key>``.
    """

    def __init__(
        self,
        word_minutes: float = 3.0,
        free_minutes: float = 6.0,
        speech_fraction: float = 0.5,
        target_fa_per_hour: float = TARGET_FA_PER_HOUR,
        threshold: float = PosteriorSettings.threshold,
        stride_ms: float = STRIDE_MS,
        average_window_ms: float = PosteriorSettings.average_window_ms,
        suppression_ms: float = PosteriorSettings.suppression_ms,
        minimum_count: int = PosteriorSettings.minimum_count,
        batch_size: int = 256,
        seed: int = 0,
        frr_slack_se: float = 0.0,
        ramp_negative_weight: bool = False,
        max_negative_weight: float = 16.0,
    ) -> None:
        key = "callbacks.stream_validation."
        for name, value in (
            ("word_minutes", word_minutes),
            ("free_minutes", free_minutes),
            ("target_fa_per_hour", target_fa_per_hour),
        ):
            check_number(key + name, value, 0.0, math.inf, low_open=True)
        if isinstance(max_negative_weight, bool) or not (
            isinstance(max_negative_weight, int | float) and 1.0 <= max_negative_weight < np.inf
        ):
            raise ValueError(
                f"{key}max_negative_weight must be a finite number >= 1 (the ramp only raises the "
                f"weight), got {max_negative_weight!r}"
            )
        check_number(key + "speech_fraction", speech_fraction, 0.0, 1.0)
        check_number(key + "frr_slack_se", frr_slack_se, 0.0, 10.0)
        check_number(key + "batch_size", batch_size, 1, MAX_BATCH_SIZE, integer=True)
        try:
            self.settings = PosteriorSettings(
                average_window_ms, threshold, suppression_ms, minimum_count
            )
            self.settings.check_stride(stride_ms)
        except ValueError as error:
            raise ValueError(f"{key}: {error}".replace("detector.", "")) from None
        self.word_minutes = float(word_minutes)
        self.free_minutes = float(free_minutes)
        self.speech_fraction = float(speech_fraction)
        self.target_fa_per_hour = float(target_fa_per_hour)
        self.stride_ms = float(stride_ms)
        self.batch_size = batch_size
        self.seed = seed
        self.frr_slack_se = float(frr_slack_se)
        self.ramp_negative_weight = ramp_negative_weight
        self.max_negative_weight = float(max_negative_weight)
        self._streams: list[RenderedStream] | None = None
        self._scored: dict[str, tuple[dict[str, float], Calibration]] = {}  # by weights' digest

    def streams(self, datamodule: Any) -> list[RenderedStream]:
        """The word stream and the keyword-free stream of the validation split, made once.

        Args:
            datamodule: a set-up kws DataModule (``stream_clips("val")``).

        Raises:
            ValueError: the split lacks what a stream needs (keywords, non-keywords), naming it.
        """
        if self._streams is None:
            clips = datamodule.stream_clips("val")
            missing = [word for word, paths in clips.keywords.items() if not paths]
            if missing:
                raise ValueError(
                    f"callbacks.stream_validation: the val split has no clip of {missing} to make "
                    "a validation stream of"
                )
            if not clips.noise:
                log.warning("stream validation: no background-noise recordings, no background")
            root = getattr(datamodule, "root", "")
            word = render_stream(
                clips, self.word_minutes, self.seed, root=root,
                volume=DEFAULT_VOLUME if clips.noise else 0.0,
            )  # fmt: skip
            if not word.placements or all(p.label not in clips.keywords for p in word.placements):
                raise ValueError(
                    f"callbacks.stream_validation.word_minutes={self.word_minutes:g} is too short "
                    "to hold a keyword"
                )
            free = render_stream(
                clips, self.free_minutes, self.seed + 1, unknown_fraction=1.0,
                word_fraction=self.speech_fraction, root=root,
                volume=DEFAULT_NOISE_VOLUME if clips.noise else 0.0,
            )  # fmt: skip
            self._streams = [word, free]
        return self._streams

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Make the streams before the first epoch: a split too small for them stops the run
        now."""
        datamodule = trainer.datamodule
        if datamodule is not None:
            datamodule.setup("fit")
            self.streams(datamodule)

    def score(
        self, pl_module: Any, datamodule: Any, epoch: int = -1
    ) -> tuple[dict[str, float], Calibration]:
        """Listen to both streams with the module's spotter.

        Args:
            pl_module: a ``KWSModule``.
            datamodule: its data (``stream_clips``).
            epoch: the model's training epoch, for the calibration. Default -1: not known.

        Returns:
            The metrics to log and the calibration.
        """
        began = time.perf_counter()
        digest = weights_digest(pl_module)
        if digest in self._scored:
            metrics, calibration = self._scored[digest]
            return {**metrics, "val/stream_seconds": 0.0}, replace(calibration, epoch=epoch)
        names = pl_module.class_names
        scored = []
        for stream in self.streams(datamodule):
            detector = StreamingDetector.from_spotter(
                pl_module.spotter, names, clip_samples=pl_module.clip_format.clip_samples,
                sample_rate=pl_module.clip_format.sample_rate,
                stride_ms=self.stride_ms, settings=self.settings, keep_track=True,
                batch_size=self.batch_size,
            )  # fmt: skip
            scored.append(detector.listen(stream.audio, stream.labels))
        points = pool_det_curves(
            det_curves(scored, names, self.settings.suppression_ms, [self.settings.threshold])
        )
        calibration = calibrate(
            points, self.target_fa_per_hour, self.settings, self.stride_ms, epoch,
            self.frr_slack_se,
        )  # fmt: skip
        reference = next(p for p in points if p.threshold == self.settings.threshold)
        metrics = {
            "val/fa_per_hour": reference.false_accepts_per_hour,
            "val/frr": reference.false_reject_rate,
            "val/frr_at_target": calibration.false_reject_rate,
            "val/threshold": calibration.threshold,
            "val/stream_seconds": time.perf_counter() - began,
        }
        self._scored[digest] = metrics, calibration
        return metrics, calibration

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking or trainer.datamodule is None:
            return
        metrics, calibration = self.score(pl_module, trainer.datamodule, trainer.current_epoch)
        for name, value in metrics.items():
            pl_module.log(name, value, prog_bar=name == "val/frr_at_target")
        fitting = trainer.state.fn == TrainerFn.FITTING
        if fitting or pl_module.calibration is None:  # a loaded checkpoint keeps its own
            pl_module.calibration = calibration
        if not calibration.met:
            log.warning("stream validation, epoch %d: %s", trainer.current_epoch,
                        unmet(calibration))  # fmt: skip
        if fitting and self.ramp_negative_weight:
            if metrics["val/fa_per_hour"] > self.target_fa_per_hour:
                weight = min(2.0 * pl_module.negative_weight, self.max_negative_weight)
                pl_module.negative_weight = weight
            pl_module.log("train/negative_weight", pl_module.negative_weight)
