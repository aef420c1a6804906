"""``SweepReport``, the Hydra callback of every training command (``conf/hydra/default.yaml``):
after each job it closes the job's W&B run; when a sweep (``-m``) ends it writes the comparison
report of the sweep's runs into the sweep's folder, as ``python -m kws.compare SWEEP_DIR`` does.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback as HydraCallback
from omegaconf import DictConfig

from kws.reporting.compare import NoRunsError, write_comparison

log = logging.getLogger(__name__)


class SweepReport(HydraCallback):
    """Hydra callback: after each job, close its W&B run (else the next job of a sweep, in the
    same process, would log into it); when a sweep ends, compare its runs in its folder.
    """

    def on_job_end(self, config: DictConfig, **kwargs: Any) -> None:
        wandb = sys.modules.get("wandb")
        if wandb is not None and wandb.run is not None:
            wandb.finish()

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        try:
            written = write_comparison([sweep_dir], sweep_dir)
        except NoRunsError as error:
            log.warning("no comparison report: %s", error)
            return
        log.info("comparison report: %s", ", ".join(str(p) for p in written))
