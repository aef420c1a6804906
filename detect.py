"""Find keywords in a long recording: `python detect.py ckpt_path=CKPT | model_path=MODEL.onnx
audio=LONG.wav [labels=LABELS.csv] [detector.threshold=...]`."""

from omegaconf import DictConfig

from kws.tasks import command, detect, report_errors


@command("detect")
def main(cfg: DictConfig) -> None:
    report_errors(detect, cfg)


if __name__ == "__main__":
    main()
