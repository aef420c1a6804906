"""Training: the LightningModule, checkpoints, the registry, callbacks, loggers, schedules."""

from kws.training.checkpoint import (
    CheckpointError,
    check_resume,
    load_checkpoint,
    read_checkpoint,
    saved_datamodule,
)
from kws.training.module import KWSModule

__all__ = [
    "CheckpointError",
    "KWSModule",
    "check_resume",
    "load_checkpoint",
    "read_checkpoint",
    "saved_datamodule",
]
