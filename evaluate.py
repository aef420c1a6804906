"""Evaluate a model: `python evaluate.py ckpt_path=CKPT | model_path=MODEL.onnx [data=...]
[split=test|val]`."""

from omegaconf import DictConfig

from kws.tasks import command, evaluate, report_errors


@command("evaluate")
def main(cfg: DictConfig) -> None:
    report_errors(evaluate, cfg)


if __name__ == "__main__":
    main()
