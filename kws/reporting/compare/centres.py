"""Filter centres from the checkpoints: each trainable run's initial and learned filter centres,
as its tested checkpoint holds them (``read_centres``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kws.frontend import filter_centres_of
from kws.reporting.compare.settings import Setting, natural_order
from kws.training import CheckpointError, load_checkpoint


@dataclass
class Centres:
    """One run's filter centres in Hz, as its tested checkpoint (path, epoch) holds them."""

    seed: Any
    checkpoint: Path
    epoch: int | None
    initial: np.ndarray
    learned: np.ndarray


def read_centres(
    settings: Sequence[Setting],
) -> tuple[list[tuple[Setting, list[Centres]]], list[str]]:
    """The initial and learned filter centres of each run whose frontend trains, read from the
    checkpoint its ``metrics.json`` names through kws's safe checkpoint loader; and a line for
    each checkpoint that could not be read, and one counting the runs that name none.

    Args:
        settings: all settings of the report; those whose frontend reports no filter centres
            (``kws.frontend.filter_centres_of``) are left out.
    """
    found, problems, unnamed = [], [], 0
    for setting in settings:
        if not setting.frontend_trains:
            continue
        centres = []
        for run in setting.runs:
            path = run.checkpoint()
            if path is None:
                unnamed += 1
                continue
            try:
                module = load_checkpoint(path)
            except CheckpointError as error:
                problems.append(str(error))
                continue
            pair = filter_centres_of(module.spotter.frontend)
            if pair is not None:
                initial, learned = (t.detach().double().cpu().numpy() for t in pair)
                epoch = module.checkpoint_metadata["epoch"]
                centres.append(Centres(run.seed, path, epoch, initial, learned))
        if centres:
            found.append((setting, sorted(centres, key=lambda c: natural_order(c.seed))))
    if unnamed:
        problems.append(f"{unnamed} run(s) tested no checkpoint (metrics.json names none)")
    return found, problems
