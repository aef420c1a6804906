"""Hooks into Lightning: checkpoints, frontend figures, the W&B logger.

``RunCheckpoint``, ``FrontendFigures`` (drawn by ``kws.plotting``) and ``wandb_logger``. The
Hydra callback that writes a sweep's comparison report is ``kws.reporting.sweep.SweepReport``:
training never imports reporting.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from pytorch_lightning.callbacks import ModelCheckpoint
from pytorch_lightning.loggers import TensorBoardLogger, WandbLogger
from pytorch_lightning.trainer.states import TrainerFn

from kws.plotting.frontend import frontend_figures
from kws.plotting.images import DPI, MAX_DPI, figure_to_rgb, save_images
from kws_runtime.checks import check_number


class RunCheckpoint(ModelCheckpoint):
    """Lightning's ``ModelCheckpoint`` (same arguments), resumable from hostile or moved state.

    A resumed checkpoint's callback state names files by path, and Lightning deletes a "previous"
    best or last file by that path, recursively, wherever it points. Here every restored path is
    reduced to a plain ``*.ckpt`` file name inside this callback's own folder (anything else is
    dropped), and the best score is kept even when the run folder has moved since the save, so
    ``best.ckpt`` is still chosen over every epoch.
    """

    def _own(self, path: Any) -> str:
        """``dirpath/NAME`` for a saved path ending in a plain ``NAME.ckpt``, else ``""``."""
        name = Path(path).name if isinstance(path, str) and path and self.dirpath else ""
        if not name.endswith(".ckpt") or name.startswith(".") or "\\" in name:
            return ""
        return str(Path(self.dirpath) / name)

    @staticmethod
    def _check_score(key: str, value: Any) -> None:
        """Refuse a saved score that is neither None nor a number (a tensor of one number too)."""
        number = value.item() if isinstance(value, torch.Tensor) and value.numel() == 1 else value
        if number is None or (isinstance(number, int | float) and not isinstance(number, bool)):
            return
        raise ValueError(f"its {key} is {type(value).__name__} {value!r:.80}, not a number")

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Lightning's, with every saved path reduced to this callback's folder and every saved
        score checked.

        Raises:
            ValueError: a saved score (``best_model_score``, ``kth_value``, a ``best_k_models``
                value) is not a number.
        """
        for key in ("best_model_score", "kth_value"):
            self._check_score(key, state_dict.get(key))
        best_k = state_dict.get("best_k_models")
        for path, score in best_k.items() if isinstance(best_k, dict) else ():
            self._check_score(f"best_k_models[{path!r:.80}]", score)
        state = {
            **state_dict,
            "dirpath": self.dirpath,
            "best_model_path": self._own(state_dict.get("best_model_path")),
            "kth_best_model_path": self._own(state_dict.get("kth_best_model_path")),
            "last_model_path": self._own(state_dict.get("last_model_path")),
            "best_k_models": {
                own: score
                for path, score in (best_k.items() if isinstance(best_k, dict) else ())
                if (own := self._own(path))
            },
        }
        state.setdefault("best_model_score", None)
        super().load_state_dict(state)


class FrontendFigures(pl.Callback):
    """Every ``every_n_epochs`` training epochs, draw the frontend against its initial basis.

    The figures go to TensorBoard (``add_image``) and W&B (``log_image``) where those loggers
    are on, and as PNG files into ``dirpath/epoch_XXX/`` where any other logger (CSV) or none is.
    Runs on rank zero only, after validation, and costs one integer test on the other epochs.

    Args:
        dirpath: where the PNG files go.
        every_n_epochs: draw after every this many epochs, a whole number >= 1. Default 10.
        dpi: the figures' resolution, 10 to ``MAX_DPI``. Default ``DPI``.

    Raises:
        ValueError: a setting out of range, naming ``callbacks.frontend_figures.<key>``.
    """

    def __init__(self, dirpath: str | Path, every_n_epochs: int = 10, dpi: int = DPI) -> None:
        key = "callbacks.frontend_figures."
        check_number(key + "every_n_epochs", every_n_epochs, 1, math.inf, integer=True)
        check_number(key + "dpi", dpi, 10, MAX_DPI)
        self.dirpath = Path(dirpath)
        self.every_n_epochs = every_n_epochs
        self.dpi = dpi

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if (trainer.current_epoch + 1) % self.every_n_epochs or trainer.sanity_checking:
            return
        if trainer.state.fn != TrainerFn.FITTING or not trainer.is_global_zero:
            return
        figures = frontend_figures(pl_module.spotter.frontend)
        image_loggers = [
            logger
            for logger in trainer.loggers
            if isinstance(logger, (TensorBoardLogger, WandbLogger))
        ]
        images = {  # rendered to pixels once, for the image loggers and the PNG files alike
            name: figure_to_rgb(figure, self.dpi) for name, figure in figures.items()
        }
        for logger in image_loggers:
            for name, image in images.items():
                tag, step = f"frontend/{name}", trainer.global_step
                if isinstance(logger, TensorBoardLogger):
                    logger.experiment.add_image(tag, image, step, dataformats="HWC")
                else:
                    logger.log_image(tag, [image], step=step)
        if not trainer.loggers or len(image_loggers) < len(trainer.loggers):
            save_images(images, self.dirpath / f"epoch_{trainer.current_epoch:03d}")


def wandb_logger(group: str | None = None, name: str | None = None, **kwargs: Any) -> WandbLogger:
    """A ``WandbLogger``; in a Hydra sweep, runs share the sweep folder as their group and are
    named by their overrides, unless ``group`` or ``name`` is given.

    Args:
        group: the W&B group. Default None: the sweep folder in a sweep.
        name: the run's name. Default None: the job's overrides in a sweep.
        **kwargs: passed on to ``WandbLogger``.
    """
    if HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN:
        hydra = HydraConfig.get()
        group = group or hydra.sweep.dir
        name = name or hydra.job.override_dirname or None
    return WandbLogger(group=group, name=name, **kwargs)
