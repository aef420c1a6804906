"""Train a keyword spotter: `python train.py [data=synthetic] [model=linear] [key=value ...]`."""

from omegaconf import DictConfig

from kws.tasks import command, report_errors, train


@command("train")
def main(cfg: DictConfig) -> float:
    metrics = report_errors(train, cfg)
    return metrics["val/acc"]  # the value a Hydra sweeper optimises


if __name__ == "__main__":
    main()
