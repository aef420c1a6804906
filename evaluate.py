"""Evaluate a checkpoint: `python evaluate.py ckpt_path=PATH [data=...] [split=test|val]`."""

import hydra
from omegaconf import DictConfig

from kws.tasks import evaluate


@hydra.main(version_base="1.3", config_path="conf", config_name="evaluate")
def main(cfg: DictConfig) -> None:
    try:
        evaluate(cfg)
    except (ValueError, FileNotFoundError) as error:  # CheckpointError is a ValueError
        raise SystemExit(f"error: {error}") from None


if __name__ == "__main__":
    main()
