"""Evaluate a model: `python evaluate.py ckpt_path=CKPT | model_path=MODEL.onnx [data=...]
[split=test|val]`."""

import hydra
from omegaconf import DictConfig

from kws.tasks import evaluate, report_errors


@hydra.main(version_base="1.3", config_path="conf", config_name="evaluate")
def main(cfg: DictConfig) -> None:
    report_errors(evaluate, cfg)


if __name__ == "__main__":
    main()
