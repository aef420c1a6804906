"""The LightningModule: builds a ``KeywordSpotter`` from configs, trains, evaluates, checkpoints.

Frontend, head and SpecAugment arrive as plain ``_target_`` dicts and are stored as such in the
checkpoint's hyper-parameters, with the class names, so ``load_checkpoint`` can rebuild the
model from the file alone: loaded with ``weights_only=True`` (no pickled code runs) and built
only through ``kws.registry`` (exact class names, plain-data arguments).
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
from omegaconf import DictConfig, OmegaConf
from torchmetrics.classification import MulticlassAccuracy, MulticlassF1Score

from kws.frontend import drift_summary
from kws.model import KeywordSpotter
from kws.registry import ConfigError, build, check, is_plain_data, partial

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
        frontend = build(self.hparams.frontend, "frontend")
        with torch.no_grad():
            n_features, n_frames = frontend(torch.zeros(1, clip_samples)).shape[1:]
        sizes = {"n_mels": n_features, "frames": n_frames}
        unset = {
            k: v
            for k, v in sizes.items()
            if k in self.hparams.model and self.hparams.model[k] is None
        }
        head = build(self.hparams.model, "model", num_classes=num_classes, **unset)
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
            spec_augment=build(spec_augment, "spec_augment") if spec_augment else None,
        )
        self._check_optimisation()
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

    def _check_optimisation(self) -> None:
        """Build optimiser and schedule once on a stand-in parameter, so a bad setting
        (``module.optimizer.lr=abc``, ``lr=-1``) fails at construction, not after the data."""
        make_optimizer = partial(self.hparams.optimizer, "optimizer")
        overrides = self.hparams.frontend_optimizer
        if not all(isinstance(key, str) and is_plain_data(v) for key, v in overrides.items()):
            raise ConfigError("module.frontend_optimizer: expected settings as plain data")
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
            except (TypeError, ValueError) as error:
                raise ConfigError(f"module.scheduler: {error}") from None

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


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0] if lines else ''}"


#: The hyper-parameters a kws checkpoint holds, and the longest clip it may ask for (60 s).
HPARAM_KEYS = {
    "format", "frontend", "model", "class_names", "optimizer", "spec_augment",
    "frontend_optimizer", "scheduler", "clip_samples",
}  # fmt: skip
MAX_CLIP_SAMPLES = 60 * 16000


def read_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """A kws checkpoint file as a dict of tensors and plain data, its hyper-parameters checked
    for shape (not yet built); nothing in it runs and nothing is written.

    Args:
        path: the ``.ckpt`` file.
        map_location: where its tensors go (default ``"cpu"``).

    Raises:
        CheckpointError: the file is missing, not a ``torch.save`` file that loads with
            ``weights_only=True``, or not a kws checkpoint; the message names the file.
    """
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
    problem = _hparams_problem(hparams)
    if problem is None and not isinstance(checkpoint.get("state_dict"), dict):
        problem = "no state_dict"
    if problem:
        raise CheckpointError(f"{path}: damaged or tampered kws checkpoint: {problem}")
    return checkpoint


def _hparams_problem(hparams: dict[str, Any]) -> str | None:
    """What is wrong with a checkpoint's hyper-parameters, or None; their configs must name
    registered targets with plain-data arguments (``kws.registry.check``)."""
    if set(hparams) != HPARAM_KEYS:
        return f"hyper-parameters {sorted(map(str, hparams))}, expected {sorted(HPARAM_KEYS)}"
    names = hparams["class_names"]
    if not (isinstance(names, list) and names and all(isinstance(n, str) for n in names)):
        return "class_names must be a non-empty list of strings"
    if len(set(names)) != len(names):
        return f"class_names {names} repeat a name"
    samples = hparams["clip_samples"]
    if not isinstance(samples, int) or isinstance(samples, bool):
        return "clip_samples must be an integer"
    if not 0 < samples <= MAX_CLIP_SAMPLES:
        return f"clip_samples {samples} outside 1..{MAX_CLIP_SAMPLES}"
    if not isinstance(hparams["frontend_optimizer"], dict):
        return "frontend_optimizer must be a dict"
    try:
        for part in ("frontend", "model", "optimizer", "spec_augment", "scheduler"):
            if hparams[part] is not None or part in ("frontend", "model", "optimizer"):
                check(hparams[part], part)
    except ConfigError as error:
        return str(error)
    return None


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> KWSModule:
    """Rebuild a trained ``KWSModule`` from a checkpoint file alone, in eval mode.

    No pickled code runs, nothing is written, and only the registered frontends, heads,
    optimisers and schedules of ``kws.registry`` are built, with plain-data arguments.

    Args:
        path: the ``.ckpt`` file.
        map_location: where its tensors go (default ``"cpu"``).

    Raises:
        CheckpointError: see ``read_checkpoint``; also when its weights do not fit its model.
    """
    checkpoint = read_checkpoint(path, map_location)
    hparams = checkpoint["hyper_parameters"]
    try:
        module = KWSModule(**{k: v for k, v in hparams.items() if k != "format"})
        module.load_state_dict(checkpoint["state_dict"])
    except Exception as error:  # noqa: BLE001 - a damaged file can fail in many ways here
        raise CheckpointError(f"{path}: damaged kws checkpoint ({_first_line(error)})") from None
    datamodule = checkpoint.get("datamodule_hyper_parameters")
    module.checkpoint_metadata = {
        "epoch": checkpoint.get("epoch"),
        "global_step": checkpoint.get("global_step"),
        "datamodule": datamodule if isinstance(datamodule, dict) else None,
    }
    return module.eval()


def check_resume(path: str | Path, module: KWSModule) -> None:
    """Refuse to resume training ``module`` from a checkpoint of another model or class list.

    Args:
        path: the checkpoint to resume from.
        module: the freshly configured module the run would continue.

    Raises:
        CheckpointError: see ``read_checkpoint``; or the checkpoint's class names (in order),
            frontend, head or clip length differ from ``module``'s: the message lists each.
    """
    saved = read_checkpoint(path)["hyper_parameters"]
    ours = module.hparams
    differences = [
        f"{key}: checkpoint {saved[key]!r}, config {ours[key]!r}"
        for key in ("class_names", "frontend", "model", "clip_samples")
        if saved[key] != ours[key]
    ]
    if differences:
        raise CheckpointError(
            f"{path}: cannot resume, the run is configured differently ("
            + "; ".join(differences)
            + ")"
        )


@functools.cache
def _end_process_group_at_exit() -> None:
    """Destroy the process group before this process exits (Lightning does so only for NCCL):
    a gloo group left to the interpreter's shutdown can abort the process with "terminate called
    without an active exception", failing a run that has finished."""
    atexit.register(
        lambda: torch.distributed.is_initialized() and torch.distributed.destroy_process_group()
    )
