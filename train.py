"""Train a keyword spotter: `python train.py [data=synthetic] [model=linear] [key=value ...]`."""

import hydra
from omegaconf import DictConfig

from kws.tasks import train


@hydra.main(version_base="1.3", config_path="conf", config_name="train")
def main(cfg: DictConfig) -> float:
    metrics = train(cfg)
    return metrics["val/acc"]  # the value a Hydra sweeper optimises


if __name__ == "__main__":
    main()
