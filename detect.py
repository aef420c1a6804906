"""Find keywords in a long recording: `python detect.py ckpt_path=CKPT | model_path=MODEL.onnx
audio=LONG.wav [labels=LABELS.csv] [detector.threshold=...]`."""

import hydra
from omegaconf import DictConfig

from kws.tasks import detect, report_errors


@hydra.main(version_base="1.3", config_path="conf", config_name="detect")
def main(cfg: DictConfig) -> None:
    report_errors(detect, cfg)


if __name__ == "__main__":
    main()
