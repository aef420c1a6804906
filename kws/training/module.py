"""The LightningModule: builds a ``KeywordSpotter`` from configs, trains, scores, checkpoints.

Frontend, head and SpecAugment arrive as plain ``_target_`` dicts and are stored as such in the
checkpoint's hyper-parameters, with the class names, so ``kws.training.checkpoint`` can rebuild
the spotter from the file alone, through ``kws.registry``.
"""

from __future__ import annotations

import atexit
import functools
import math
import numbers
from collections.abc import Mapping
from typing import Any

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from omegaconf import DictConfig, OmegaConf

from kws.data.clip_format import SPEECH_COMMANDS_CLIPS, ClipFormat
from kws.data.layout import SAMPLE_RATE, SILENCE, UNKNOWN
from kws.data.stream_examples import TrainingBatch
from kws.frontend import drift_of, drift_summary
from kws.models import KeywordSpotter
from kws.models.sizes import unset_sizes
from kws.registry import ConfigError, build, is_plain_data, partial
from kws.training.rng import capture_rng_states, restore_rng_states
from kws.training.scores import ClassificationReport, Scores
from kws_runtime.calibration import Calibration
from kws_runtime.checks import SettingError, check_number

CHECKPOINT_FORMAT = "kws-1"
#: The hyper-parameters a kws checkpoint holds: ``KWSModule``'s arguments and the format.
HPARAM_KEYS = frozenset({
    "format", "frontend", "model", "class_names", "optimizer", "spec_augment",
    "frontend_optimizer", "scheduler", "clip_samples",
})  # fmt: skip
#: The optimiser settings whose range kws checks, as ``(least, most, high_open)``: torch lets a
#: NaN or infinite rate through and trains a NaN model. Every other number an optimiser's
#: config holds (``betas``, ``eps``, ``dampening``, ...) must be finite; torch checks its range.
OPTIMIZER_RANGES = {
    "lr": (0.0, math.inf, False),
    "weight_decay": (0.0, math.inf, False),
    "momentum": (0.0, 1.0, True),  # 1 or more: the velocity never forgets a gradient
}


def _plain(config: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A resolved plain dict (no OmegaConf containers), safe to store in a checkpoint."""
    if config is None:
        return None
    if isinstance(config, DictConfig):
        return OmegaConf.to_container(config, resolve=True)
    return dict(config)


def saved_negative_weight(checkpoint: Mapping[str, Any]) -> float:
    """The loss weight of not-keyword rows a checkpoint holds (1 when it holds none).

    Args:
        checkpoint: the loaded checkpoint dict.

    Raises:
        ValueError: the value is not a finite number > 0.
    """
    weight = checkpoint.get("negative_weight", 1.0)
    if isinstance(weight, bool) or not isinstance(weight, numbers.Real):
        raise ValueError(f"its negative_weight is {weight!r}, not a number")
    if not 0.0 < weight < math.inf:
        raise ValueError(f"its negative_weight {weight!r} is not a finite number > 0")
    return float(weight)


class KWSModule(pl.LightningModule):
    """Cross-entropy training of a ``KeywordSpotter``, scored by ``kws.training.scores``.

    Every config is a ``{"_target_": name, **arguments}`` dict naming a class or function
    registered in ``kws.registry`` for its part.

    Args:
        frontend: the frontend's config (waveform to features).
        model: the head's config; its sizes set to ``None`` (``n_features``, ``frames``) are
            filled from the frontend's output for a clip of ``clip_samples``, and
            ``num_classes`` from ``class_names``.
        class_names: one name per class, in label order.
        optimizer: the optimiser's config, without parameters.
        spec_augment: SpecAugment's config, or None (default) for none.
        frontend_optimizer: settings (e.g. ``lr``, ``weight_decay``) that override
            ``optimizer``'s for the frontend's own parameter group. Default None: none.
        scheduler: a schedule's config, called as ``scheduler(optimizer, total_steps=...,
            steps_per_epoch=...)`` and stepped every optimisation step. Default None: none.
        clip_samples: samples per clip, the data's (``ClipDataModule.clip_format``). Default
            Speech Commands' one second (``SPEECH_COMMANDS_CLIPS``).

    After each validation or test pass, ``reports[stage]`` holds its ``ClassificationReport``.
    """

    def __init__(
        self,
        frontend: Mapping[str, Any],
        model: Mapping[str, Any],
        class_names: list[str],
        optimizer: Mapping[str, Any],
        spec_augment: Mapping[str, Any] | None = None,
        frontend_optimizer: Mapping[str, Any] | None = None,
        scheduler: Mapping[str, Any] | None = None,
        clip_samples: int = SPEECH_COMMANDS_CLIPS.clip_samples,
    ) -> None:
        super().__init__()
        self.save_hyperparameters(
            {
                "format": CHECKPOINT_FORMAT,
                "frontend": _plain(frontend),
                "model": _plain(model),
                "class_names": list(class_names),
                "optimizer": _plain(optimizer),
                "spec_augment": _plain(spec_augment),
                "frontend_optimizer": _plain(frontend_optimizer) or {},
                "scheduler": _plain(scheduler),
                "clip_samples": clip_samples,
            }
        )
        self.class_names = list(class_names)
        num_classes = len(self.class_names)
        frontend = build(self.hparams.frontend, "frontend")
        with torch.no_grad():
            n_features, n_frames = frontend(torch.zeros(1, clip_samples)).shape[1:]
        unset = unset_sizes(self.hparams.model, n_features, n_frames)
        try:  # fail now, not after a download, when head and features do not fit
            head = build(self.hparams.model, "model", num_classes=num_classes, **unset)
            head.eval()(torch.zeros(2, n_features, n_frames))
        except (ValueError, RuntimeError) as error:
            if isinstance(error, ConfigError | SettingError):
                raise
            raise ValueError(
                f"model {self.hparams.model['_target_']} does not take the frontend's "
                f"({n_features}, {n_frames}) features: {error}"
            ) from None
        self.spotter = KeywordSpotter(
            frontend=frontend,
            head=head.train(),
            spec_augment=(
                build(self.hparams.spec_augment, "spec_augment") if spec_augment else None
            ),
        )
        self._check_optimisation()
        self.train_scores = Scores(num_classes)
        self.val_scores = Scores(num_classes)
        self.test_scores = Scores(num_classes)
        self.reports: dict[str, ClassificationReport] = {}
        #: Set by ``kws.training.checkpoint.load_checkpoint``: epoch and saved data settings.
        self.checkpoint_metadata: dict[str, Any] = {}
        #: The loss weight of ``_silence_`` and ``_unknown_`` rows (``training_step``); kept in
        #: checkpoints; ``kws.training.stream_validation.StreamValidation`` may ramp it.
        self.negative_weight = 1.0
        self._negative_classes = torch.tensor(
            [name in (SILENCE, UNKNOWN) for name in self.class_names], dtype=torch.bool
        )
        #: The detection threshold calibrated on validation streams and how it was found
        #: (``kws.training.stream_validation``); kept in checkpoints; None until calibrated.
        self.calibration: Calibration | None = None
        #: ``(batch, loss)`` of this epoch's first non-finite training loss, batch -1 while
        #: there is none; kept on the loss's device, so noting it never waits for the device
        #: (``_raise_if_diverged`` reads it). None before the first epoch.
        self._first_nonfinite: torch.Tensor | None = None

    @property
    def clip_format(self) -> ClipFormat:
        """The clips the model takes, as its checkpoint keeps them: ``clip_samples`` at the
        frontend's ``sample_rate`` (the data's, which training checked; a frontend without one
        hears ``SAMPLE_RATE``). Export and the detector read it."""
        rate = self.hparams.frontend.get("sample_rate", SAMPLE_RATE)
        if isinstance(rate, float) and rate.is_integer():
            rate = int(rate)
        return ClipFormat(self.hparams.clip_samples, max_seconds=None, sample_rate=rate)

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        """Logits ``(batch, classes)`` of waveforms ``(batch, samples)``."""
        return self.spotter(waveform)

    def training_step(self, batch: tuple[torch.Tensor, ...], batch_idx: int):
        """Cross-entropy of a batch ``(waveforms, labels[, weights[, not_keyword]])``
        (``kws.data.stream_examples.TrainingBatch``): the mean; with per-row loss weights, rows
        whose target is any class but a keyword (their loss: minus the log of the probability
        of not being a keyword), or a ``negative_weight`` other than 1 on ``_silence_`` and
        ``_unknown_`` rows, the weighted mean."""
        waveforms, labels, weights, not_keyword = TrainingBatch(*batch)
        logits = self.spotter(waveforms)
        if weights is None and not_keyword is None and self.negative_weight == 1.0:
            loss = F.cross_entropy(logits, labels)
        else:
            negative = self._negative_classes.to(labels.device)
            losses = F.cross_entropy(logits, labels, reduction="none")
            if not_keyword is not None:
                log_p = logits.float().log_softmax(-1)
                no_keyword = torch.logsumexp(log_p[:, negative], -1)  # log P(not a keyword)
                losses = torch.where(not_keyword, -no_keyword, losses)
            row = torch.ones_like(losses) if weights is None else weights
            row = torch.where(negative[labels], row * self.negative_weight, row)
            loss = (losses * row).sum() / row.sum().clamp_min(1e-12)
        self._note_nonfinite(loss.detach(), batch_idx)
        self.train_scores.update(logits.detach(), labels, loss)
        self.log(
            "train/loss", loss, on_step=True, on_epoch=True, prog_bar=True, batch_size=len(labels)
        )
        self.log("train/lr", self.optimizers().param_groups[0]["lr"], on_step=True)
        return loss

    def _note_nonfinite(self, loss: torch.Tensor, batch_idx: int) -> None:
        """Keep ``batch_idx`` and ``loss`` in ``_first_nonfinite`` if the loss is NaN or
        infinite and none was before this epoch, without waiting for the device."""
        if self._first_nonfinite is None or self._first_nonfinite.device != loss.device:
            self._first_nonfinite = torch.full((2,), -1.0, device=loss.device)  # no copy
        first = self._first_nonfinite
        here = torch.stack([torch.full_like(first[0], batch_idx), loss.to(first.dtype)])
        self._first_nonfinite = torch.where(~loss.isfinite() & (first[0] < 0), here, first)

    def _raise_if_diverged(self) -> None:
        """Stop training once a training loss of this epoch was NaN or infinite, on any process
        (every rank stops together, or the others would wait for it at the next all-reduce).

        Raises:
            FloatingPointError: naming the epoch, the batch and the loss.
        """
        noted = self._first_nonfinite
        batch, loss = (-1.0, 0.0) if noted is None else noted.tolist()
        if not self.trainer.strategy.reduce_boolean_decision(batch >= 0, all=False):
            return
        # Counted from 1, as the progress display counts epochs.
        where = "a batch of another process"
        if batch >= 0:
            where = f"batch {int(batch) + 1} of the epoch"
        raise FloatingPointError(
            f"training stopped: the loss became {loss if batch >= 0 else 'NaN or infinite'} at "
            f"epoch {self.current_epoch + 1}, {where}; a smaller module.optimizer.lr, or gradient "
            "clipping (trainer.gradient_clip_val), may keep it finite"
        )

    def on_train_epoch_start(self) -> None:
        """Forget the last epoch's (finite) losses."""
        self._first_nonfinite = None

    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        """Look for a non-finite loss as often as the loss is logged (the logging waits for the
        device then anyway); with ``log_every_n_steps`` 0, at the epoch's end only."""
        every = self.trainer.log_every_n_steps
        if every and (batch_idx + 1) % every == 0:
            self._raise_if_diverged()

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        self.val_scores.update(self.spotter(batch[0]), batch[1])

    def test_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        self.test_scores.update(self.spotter(batch[0]), batch[1])

    def _report(self, stage: str) -> ClassificationReport:
        """The stage's scores over every rank since its last report, logged and kept."""
        scores: Scores = getattr(self, f"{stage}_scores")
        report = scores.report()
        scores.reset()
        self.reports[stage] = report
        return report

    def on_validation_epoch_end(self) -> None:
        self.log_dict(self._report("val").summary("val"), prog_bar=True)

    def on_test_epoch_end(self) -> None:
        self.log_dict(self._report("test").summary("test"))

    def on_validation_start(self) -> None:
        """Validate no diverged model (stream validation would fail on its NaN scores)."""
        self._raise_if_diverged()

    def on_train_epoch_end(self) -> None:
        """Stop if a training loss was not finite; else log the epoch's training accuracy, and
        how far the frontend's basis has moved from its initial values (nothing for a frontend
        without ``drift()``)."""
        self._raise_if_diverged()
        self.log("train/acc", self._report("train").accuracy, prog_bar=True)
        for name, value in drift_summary(drift_of(self.spotter.frontend)).items():
            self.log(f"frontend/{name}", value, sync_dist=True)

    def setup(self, stage: str) -> None:
        """Under DDP, have this process end its process group before it exits."""
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            _end_process_group_at_exit()

    def on_fit_start(self) -> None:
        """Give each DDP rank its own random stream, or every rank augments its batch alike."""
        if self.trainer.world_size > 1:
            torch.manual_seed(torch.initial_seed() + self.trainer.global_rank)

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Keep the random state, so a resumed run draws the same batches and augmentation, the
        negative weight, and the calibrated threshold; save nothing of a diverged run (callbacks
        may save before this module's hooks look)."""
        self._raise_if_diverged()
        checkpoint["rng_states"] = capture_rng_states()
        checkpoint["negative_weight"] = float(self.negative_weight)
        if self.calibration is not None:
            checkpoint["calibration"] = self.calibration.as_dict()

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        if "rng_states" in checkpoint:
            restore_rng_states(checkpoint["rng_states"])
        self.negative_weight = saved_negative_weight(checkpoint)
        saved = checkpoint.get("calibration")
        self.calibration = None if saved is None else Calibration.from_dict(saved, "checkpoint")

    def _check_optimisation(self) -> None:
        """Check the optimiser's numbers (``OPTIMIZER_RANGES``), then build optimiser and
        schedule once on a stand-in parameter, so a bad setting (``module.optimizer.lr=abc``,
        ``lr=nan``) fails at construction, not after the data.

        Raises:
            ValueError: naming the setting's key (``module.optimizer.lr``), or the group's
                (``module.scheduler``) where torch or the schedule refuses it.
        """
        make_optimizer = partial(self.hparams.optimizer, "optimizer")
        overrides = self.hparams.frontend_optimizer
        if not all(isinstance(key, str) and is_plain_data(v) for key, v in overrides.items()):
            raise ConfigError("module.frontend_optimizer: expected settings as plain data")
        for key, settings in (
            ("optimizer", self.hparams.optimizer),
            ("frontend_optimizer", overrides),
        ):
            _check_optimizer_numbers(f"module.{key}", settings)
        for key, settings in (("optimizer", {}), ("frontend_optimizer", overrides)):
            try:  # the frontend's group settings, checked as the optimiser's own defaults
                optimizer = make_optimizer([torch.zeros(1, requires_grad=True)], **settings)
            except (TypeError, ValueError) as error:
                raise ConfigError(f"module.{key}: {error}") from None
        if self.hparams.scheduler:
            try:
                partial(self.hparams.scheduler, "scheduler")(
                    optimizer, total_steps=10, steps_per_epoch=2
                )
            except TypeError as error:  # a ValueError of the schedule names its key
                raise ConfigError(f"module.scheduler: {error}") from None

    def configure_optimizers(self) -> dict[str, Any]:
        frontend_params = [p for p in self.spotter.frontend.parameters() if p.requires_grad]
        frontend_ids = {id(p) for p in frontend_params}
        other_params = [
            p for p in self.spotter.parameters() if p.requires_grad and id(p) not in frontend_ids
        ]
        groups: list[dict[str, Any]] = [{"params": other_params, "name": "model"}]
        if frontend_params:
            groups.append(
                {"params": frontend_params, "name": "frontend", **self.hparams.frontend_optimizer}
            )
        optimizer = partial(self.hparams.optimizer, "optimizer")(groups)
        if not self.hparams.scheduler:
            return {"optimizer": optimizer}
        total_steps = int(self.trainer.estimated_stepping_batches)
        steps_per_epoch = max(1, total_steps // max(1, self.trainer.max_epochs or 1))
        scheduler = partial(self.hparams.scheduler, "scheduler")(
            optimizer, total_steps=total_steps, steps_per_epoch=steps_per_epoch
        )
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": "step"},
        }


def _check_optimizer_numbers(key: str, settings: Mapping[str, Any]) -> None:
    """Refuse an optimiser setting out of its ``OPTIMIZER_RANGES`` range, or any other number
    (alone or in a list, as ``betas``) that is not finite.

    Args:
        key: the settings' config key (``module.optimizer``).
        settings: the optimiser's config, or the frontend group's overrides.

    Raises:
        ValueError: naming ``key.<setting>``.
    """
    for name, value in settings.items():
        if name in OPTIMIZER_RANGES:
            least, most, high_open = OPTIMIZER_RANGES[name]
            check_number(f"{key}.{name}", value, least, most, high_open=high_open)
            continue
        for item in value if isinstance(value, list | tuple) else [value]:
            if isinstance(item, int | float) and not isinstance(item, bool):
                check_number(f"{key}.{name}", item, -math.inf, math.inf)


@functools.cache
def _end_process_group_at_exit() -> None:
    """Destroy the process group before this process exits (Lightning does so only for NCCL):
    a gloo group left to the interpreter's shutdown can abort the process with "terminate called
    without an active exception", failing a run that has finished."""
    atexit.register(
        lambda: torch.distributed.is_initialized() and torch.distributed.destroy_process_group()
    )
