"""Train a keyword spotter: `python train.py [data=synthetic] [model=linear] [key=value ...]`."""

import hydra
from omegaconf import DictConfig

from kws.tasks import report_errors, train


@hydra.main(version_base="1.3", config_path="conf", config_name="train")
def main(cfg: DictConfig) -> float:
    metrics = report_errors(train, cfg)
    return metrics["val/acc"]  # the value a Hydra sweeper optimises


if __name__ == "__main__":
    main()
