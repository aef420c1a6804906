"""The LightningModule: builds a ``KeywordSpotter`` from configs, trains, evaluates, checkpoints.

Frontend, head and SpecAugment arrive as plain ``_target_`` dicts and are stored as such in the
checkpoint's hyper-parameters, with the class names, so ``load_checkpoint`` can rebuild the
model from the file alone (loaded with ``weights_only=True``, so no pickled code runs).
"""

from __future__ import annotations

import atexit
import functools
import random
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from torchmetrics.classification import MulticlassAccuracy, MulticlassF1Score

from kws.frontend import drift_summary
from kws.model import KeywordSpotter

CHECKPOINT_FORMAT = "kws-1"


def _plain(config: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A resolved plain dict (no OmegaConf containers), safe to store in a checkpoint."""
    if config is None:
        return None
    if isinstance(config, DictConfig):
        return OmegaConf.to_container(config, resolve=True)
    return dict(config)


class KWSModule(pl.LightningModule):
    """Cross-entropy training of a ``KeywordSpotter`` with top-1 accuracy and macro F1.

    The frontend's trainable parameters form their own optimiser group, whose settings in
    ``frontend_optimizer`` (e.g. ``lr``, ``weight_decay``) override those of ``optimizer``.
    ``scheduler`` is called as ``scheduler(optimizer, total_steps=..., steps_per_epoch=...)``
    and stepped every optimisation step. Head sizes set to ``None`` in ``model`` (``n_mels``,
    ``frames``) are filled from the frontend's output for a clip of ``clip_samples``.
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
        clip_samples: int = 16000,
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
        frontend = instantiate(self.hparams.frontend)
        with torch.no_grad():
            n_features, n_frames = frontend(torch.zeros(1, clip_samples)).shape[1:]
        sizes = {"n_mels": n_features, "frames": n_frames}
        unset = {
            k: v
            for k, v in sizes.items()
            if k in self.hparams.model and self.hparams.model[k] is None
        }
        head = instantiate(self.hparams.model, num_classes=num_classes, **unset)
        try:  # fail now, not after a download, when head and features do not fit
            head.eval()(torch.zeros(2, n_features, n_frames))
        except (ValueError, RuntimeError) as error:
            raise ValueError(
                f"model {self.hparams.model['_target_']} does not take the frontend's "
                f"({n_features}, {n_frames}) features: {error}"
            ) from None
        self.model = KeywordSpotter(
            frontend=frontend,
            head=head.train(),
            spec_augment=instantiate(spec_augment) if spec_augment else None,
        )
        self.train_acc = MulticlassAccuracy(num_classes, average="micro")
        self.val_acc = MulticlassAccuracy(num_classes, average="micro")
        self.test_acc = MulticlassAccuracy(num_classes, average="micro")
        self.val_f1 = MulticlassF1Score(num_classes, average="macro")
        self.test_f1 = MulticlassF1Score(num_classes, average="macro")

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        return self.model(waveform)

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int):
        waveforms, labels = batch
        logits = self.model(waveforms)
        loss = F.cross_entropy(logits, labels)
        self.train_acc(logits, labels)
        self.log("train/loss", loss, on_step=True, on_epoch=True, prog_bar=True)
        self.log("train/acc", self.train_acc, on_step=False, on_epoch=True, prog_bar=True)
        self.log("train/lr", self.optimizers().param_groups[0]["lr"], on_step=True)
        return loss

    def _evaluate(self, batch: tuple[torch.Tensor, torch.Tensor], stage: str) -> None:
        waveforms, labels = batch
        logits = self.model(waveforms)
        accuracy, f1 = (
            (self.val_acc, self.val_f1) if stage == "val" else (self.test_acc, self.test_f1)
        )
        accuracy(logits, labels)
        f1(logits, labels)
        loss = F.cross_entropy(logits, labels)
        self.log(f"{stage}/loss", loss, on_epoch=True, sync_dist=True, batch_size=len(labels))
        self.log(f"{stage}/acc", accuracy, on_epoch=True, prog_bar=True)
        self.log(f"{stage}/f1", f1, on_epoch=True)

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        self._evaluate(batch, "val")

    def test_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        self._evaluate(batch, "test")

    def on_train_epoch_end(self) -> None:
        """Log how far the frontend's basis has moved from its initial values."""
        for name, value in drift_summary(self.model.frontend.drift()).items():
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
        """Keep the random state, so a resumed run draws the same batches and augmentation."""
        checkpoint["rng_states"] = capture_rng_states()

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        if "rng_states" in checkpoint:
            restore_rng_states(checkpoint["rng_states"])

    def configure_optimizers(self) -> dict[str, Any]:
        frontend_params = [p for p in self.model.frontend.parameters() if p.requires_grad]
        frontend_ids = {id(p) for p in frontend_params}
        other_params = [
            p for p in self.model.parameters() if p.requires_grad and id(p) not in frontend_ids
        ]
        groups: list[dict[str, Any]] = [{"params": other_params, "name": "model"}]
        if frontend_params:
            groups.append(
                {"params": frontend_params, "name": "frontend", **self.hparams.frontend_optimizer}
            )
        optimizer = instantiate(self.hparams.optimizer, _partial_=True)(groups)
        if not self.hparams.scheduler:
            return {"optimizer": optimizer}
        total_steps = int(self.trainer.estimated_stepping_batches)
        steps_per_epoch = max(1, total_steps // max(1, self.trainer.max_epochs or 1))
        scheduler = instantiate(self.hparams.scheduler, _partial_=True)(
            optimizer, total_steps=total_steps, steps_per_epoch=steps_per_epoch
        )
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": "step"},
        }


def capture_rng_states() -> dict[str, Any]:
    """torch (CPU and CUDA), numpy and Python random states, as tensors and plain values only,
    so the checkpoint still loads with ``weights_only=True``."""
    numpy_state = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": [numpy_state[0], torch.from_numpy(numpy_state[1].astype(np.int64)),
                  *numpy_state[2:]],
        "python": random.getstate(),
    }  # fmt: skip


def restore_rng_states(states: dict[str, Any]) -> None:
    """Undo ``capture_rng_states``."""
    torch.set_rng_state(states["torch"])
    if states["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])
    name, keys, *rest = states["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), *rest))
    version, internal, gauss = states["python"]
    random.setstate((version, tuple(internal), gauss))


class CheckpointError(ValueError):
    """A file that is not a readable kws checkpoint."""


#: Only classes and functions from these packages are built from a checkpoint's configs.
SAFE_TARGETS = ("kws.frontend.", "kws.models.", "kws.schedules.", "torch.optim.")


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0] if lines else ''}"


def _unsafe_targets(config: Any) -> list[str]:
    """Every ``_target_`` in a nested config that is outside ``SAFE_TARGETS``."""
    if isinstance(config, dict):
        target = config.get("_target_")
        own = (
            [str(target)] if target is not None and not str(target).startswith(SAFE_TARGETS) else []
        )
        return own + [t for value in config.values() for t in _unsafe_targets(value)]
    if isinstance(config, list | tuple):
        return [t for value in config for t in _unsafe_targets(value)]
    return []


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> KWSModule:
    """Rebuild a trained ``KWSModule`` from a checkpoint file alone; no pickled code runs, and
    only frontends, heads, schedules and torch optimisers named in its configs are built."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        checkpoint = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:  # noqa: BLE001 - the unpickler raises many kinds for foreign files
        raise CheckpointError(f"{path}: not a readable checkpoint ({_first_line(error)})") from None
    hparams = checkpoint.get("hyper_parameters") if isinstance(checkpoint, dict) else None
    if not isinstance(hparams, dict) or hparams.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(
            f"{path}: not a kws checkpoint (no '{CHECKPOINT_FORMAT}' hyper-parameters)"
        )
    unsafe = _unsafe_targets(hparams)
    if unsafe:
        raise CheckpointError(
            f"{path}: refuses to build {unsafe}: not a kws frontend, head or schedule, "
            "or a torch optimiser"
        )
    try:
        module = KWSModule(**{k: v for k, v in hparams.items() if k != "format"})
        module.load_state_dict(checkpoint["state_dict"])
    except Exception as error:  # noqa: BLE001 - a damaged file can fail in many ways here
        raise CheckpointError(f"{path}: damaged kws checkpoint ({_first_line(error)})") from None
    module.checkpoint_metadata = {
        "epoch": checkpoint.get("epoch"),
        "global_step": checkpoint.get("global_step"),
        "datamodule": checkpoint.get("datamodule_hyper_parameters"),
    }
    return module.eval()


@functools.cache
def _end_process_group_at_exit() -> None:
    """Destroy the process group before this process exits (Lightning does so only for NCCL):
    a gloo group left to the interpreter's shutdown can abort the process with "terminate called
    without an active exception", failing a run that has finished."""
    atexit.register(
        lambda: torch.distributed.is_initialized() and torch.distributed.destroy_process_group()
    )
