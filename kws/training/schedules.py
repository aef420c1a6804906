"""Learning-rate schedules stepped once per optimisation step, and the optimisers and schedules a
config or checkpoint may name (``kws.registry``: ``module.optimizer``, ``module.scheduler``)."""

from __future__ import annotations

import math

import torch
from torch.optim.lr_scheduler import LambdaLR

from kws.registry import register
from kws_runtime.checks import check_number

for _optimizer in (torch.optim.SGD, torch.optim.Adam, torch.optim.AdamW):
    register("optimizer", f"torch.optim.{_optimizer.__name__}")(_optimizer)


@register("scheduler")
def warmup_cosine(
    optimizer: torch.optim.Optimizer,
    total_steps: int,
    steps_per_epoch: int,
    warmup_epochs: float = 5.0,
) -> LambdaLR:
    """Linear warm-up from 0 over ``warmup_epochs``, then cosine decay to 0 at ``total_steps``.

    Args:
        optimizer: the optimiser whose learning rates are scaled.
        total_steps: optimisation steps in the whole run.
        steps_per_epoch: optimisation steps per epoch.
        warmup_epochs: epochs of linear warm-up, a finite number >= 0 (config key
            ``module.scheduler.warmup_epochs``). Default 5.

    Raises:
        ValueError: ``warmup_epochs`` out of range, naming its config key.
    """
    check_number("module.scheduler.warmup_epochs", warmup_epochs, 0.0, math.inf)
    warmup_steps = min(round(warmup_epochs * steps_per_epoch), total_steps)

    def factor(step: int) -> float:
        if step < warmup_steps:
            return step / warmup_steps
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    return LambdaLR(optimizer, factor)
