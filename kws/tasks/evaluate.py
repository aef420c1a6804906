"""Score a checkpoint, or its ONNX export, on a split: metrics, confusion matrix, figures; and
with ``stream=true`` on a long stream of the split's words."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from omegaconf import DictConfig

from kws.data.clip_format import ClipFormat
from kws.data.layout import SAMPLE_RATE
from kws.data.stream_audio import (
    DEFAULT_NOISE_VOLUME,
    DEFAULT_VOLUME,
    MAX_SAMPLES,
    write_noise_stream,
    write_word_stream,
)
from kws.reporting.figures import confusion_matrix_figure, frontend_figures, save_figures
from kws.streaming.scan import report_scan
from kws.tasks.common import instantiate_config, make_trainer, process_settings
from kws.tasks.detect import calibrated, load_model, make_detector
from kws.training import saved_datamodule
from kws.training.scores import ClassificationReport, Scores
from kws_runtime.checks import check_number
from kws_runtime.io import write_json
from kws_runtime.scan import DetectorConfig, Recording

if TYPE_CHECKING:
    from kws_runtime import Spotter

log = logging.getLogger(__name__)

#: The longest stream ``stream=true`` writes, in whole minutes: what one WAV file can hold.
MAX_STREAM_MINUTES = MAX_SAMPLES // (60 * SAMPLE_RATE)


def evaluate(cfg: DictConfig) -> dict[str, Any]:
    """Score a checkpoint (``cfg.ckpt_path``) or an exported ONNX model (``cfg.model_path``) on
    ``cfg.split``, print a table and write ``metrics.json``, ``confusion_matrix.{csv,png}`` and,
    for a checkpoint, the frontend figures.

    A checkpoint is scored by the ``ClassificationReport`` the module computes in validation and
    test, an export by the same ``Scores`` fed with onnxruntime's logits on the same batches, so
    the metrics, the confusion matrix and the clip count agree exactly with training's. With
    ``stream=true`` the model then listens to a long stream of the same split (``evaluate_stream``).

    Args:
        cfg: ``conf/evaluate.yaml`` composed: ``ckpt_path`` or ``model_path``, ``split``,
            ``data`` (None: the data the model names), ``output_dir``, ``trainer``, ``threads``
            (onnxruntime's, for an export), ``stream``, ``stream_minutes``, ``detector``.

    Raises:
        ValueError: a setting out of range (``split``, the stream's, ``detector``), checked
            before any work; or the data's classes or clip length are not the model's.
        CheckpointError: see ``kws.training.load_checkpoint``.
    """
    if cfg.split not in ("test", "val"):
        raise ValueError(f"split must be 'test' or 'val', got {cfg.split!r}")
    ckpt_path, model_path = cfg.get("ckpt_path"), cfg.get("model_path")
    if (ckpt_path is None) == (model_path is None):
        raise ValueError("give one of ckpt_path=CKPT (a checkpoint) or model_path=MODEL.onnx")
    output_dir = Path(cfg.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    process_settings(cfg)
    if cfg.get("stream"):  # checked before any work
        check_stream_settings(cfg)
        stream_config = DetectorConfig.from_config(cfg.detector)
    model, source = load_model(cfg)
    if ckpt_path is not None:
        module = model
        classes, saved_data = module.class_names, module.checkpoint_metadata["datamodule"]
        epoch, clips = module.checkpoint_metadata["epoch"], module.clip_format
    else:
        exported = model
        classes, saved_data = list(exported.class_names), exported.info.data
        epoch = exported.info.source.get("epoch")
        clips = ClipFormat(
            exported.clip_samples, max_seconds=None, sample_rate=exported.sample_rate
        )
    if cfg.get("data") is not None:
        datamodule = instantiate_config(cfg.data, _convert_="all")
    elif saved_data:
        datamodule = saved_datamodule(source, saved_data)
    else:
        raise ValueError(f"{source}: names no data set; pass data=... to evaluate it")
    if datamodule.class_names != classes:
        raise ValueError(
            f"{source}: the model's classes {classes} differ from the data's "
            f"{datamodule.class_names}"
        )
    mismatch = clips.mismatch(datamodule.clip_format)
    if mismatch:
        raise ValueError(f"{source}: {mismatch}")
    if ckpt_path is not None:
        trainer = make_trainer(cfg, logger=False)
        run = trainer.test if cfg.split == "test" else trainer.validate
        run(module, datamodule=datamodule, verbose=False)
        report = module.reports[cfg.split]
    else:
        report = score_export(exported, datamodule, cfg.split)

    split = cfg.split
    metrics = {
        **report.summary(split),
        "num_clips": report.num_clips,
        "per_class": report.per_class(classes),
        "classes": classes,
        "split": split,
        "checkpoint" if ckpt_path is not None else "model": str(source),
        "checkpoint_epoch": epoch,
    }
    write_json(output_dir / "metrics.json", metrics)
    report.write_confusion_csv(output_dir / "confusion_matrix.csv", classes)
    title = (
        f"Confusion matrix, {split} split: {report.num_clips} clips, "
        f"accuracy {100 * report.accuracy:.2f}% (rows: true class, columns: predicted)"
    )
    figures = {"confusion_matrix": confusion_matrix_figure(report.confusion, classes, title)}
    if ckpt_path is not None:
        figures.update(frontend_figures(module.spotter.frontend))
    written = save_figures(figures, output_dir)
    print(report.table(classes, f"{split} split of {source} (epoch {epoch})"))
    print(f"written to {output_dir}: metrics.json, confusion_matrix.csv, "
          f"{', '.join(p.name for p in written)}")  # fmt: skip
    if cfg.get("stream"):
        metrics["stream"] = evaluate_stream(cfg, model, datamodule, stream_config)
    return metrics


def check_stream_settings(cfg: DictConfig) -> None:
    """``stream=true``'s own settings, so a bad one stops the run before the clips are scored.

    Args:
        cfg: the composed config: ``stream_minutes`` in (0, ``MAX_STREAM_MINUTES``],
            ``stream_free_minutes`` in [0, ``MAX_STREAM_MINUTES``] (0: no keyword-free stream),
            ``stream_speech_fraction`` in [0, 1].

    Raises:
        ValueError: a setting out of range, naming its key.
    """
    check_number("stream_minutes", cfg.stream_minutes, 0.0, MAX_STREAM_MINUTES, low_open=True)
    check_number("stream_free_minutes", cfg.stream_free_minutes, 0.0, MAX_STREAM_MINUTES)
    check_number("stream_speech_fraction", cfg.stream_speech_fraction, 0.0, 1.0)


def evaluate_stream(
    cfg: DictConfig, model: Any, datamodule: Any, config: DetectorConfig
) -> dict[str, Any]:
    """``stream=true``: write two long streams of the split into ``output_dir/stream`` and score
    the model on them together, as deployed spotters are judged: a word stream
    (``kws.data.stream_audio``, TensorFlow's layout, ``stream_minutes`` long, seeded by ``seed``)
    for false rejects, and a keyword-free stream (``stream_free_minutes`` long, non-keyword
    speech in ``stream_speech_fraction`` of its slots over background noise at U(0, 1)) for
    false accepts per hour, pooled with the word stream's own false accepts
    (``kws.streaming.scan.report_scan``).

    The data's ``stream_clips`` gives the words: a Speech Commands split's clips, or a folder's
    (its clips, converted, each in a slot of ``clip_seconds`` plus the gap). Without background
    recordings (a folder with no ``noise_dir``) the streams have no background.

    Args:
        cfg: the composed config.
        model: the loaded checkpoint module or runtime spotter.
        datamodule: the data the clips were scored on; the streams take the same split from it.
        config: the checked ``detector`` group.

    Returns:
        The streams' metrics, as ``report_scan`` writes them.
    """
    split = "test" if cfg.split == "test" else "val"
    directory = Path(cfg.output_dir) / "stream"
    clips = datamodule.stream_clips(split)
    if not clips.noise:
        log.warning("no background-noise recordings: the streams have no background")
    detector, note = make_detector(model, config, keep_track=True)
    words = write_word_stream(
        clips,
        datamodule.root,
        directory,
        minutes=cfg.stream_minutes,
        seed=cfg.seed,
        volume=DEFAULT_VOLUME if clips.noise else 0.0,
    )
    streams = {"words": (Recording.open(words.wav, detector.sample_rate), words.labels)}
    if cfg.stream_free_minutes:
        free = write_noise_stream(
            clips,
            datamodule.root,
            directory,
            minutes=cfg.stream_free_minutes,
            seed=cfg.seed + 1,
            volume=DEFAULT_NOISE_VOLUME if clips.noise else 0.0,
            speech_fraction=cfg.stream_speech_fraction,
            name=f"{split}_keyword_free",
        )
        streams["keyword_free"] = (Recording.open(free.wav, detector.sample_rate), free.labels)
    return report_scan(detector, streams, directory, config.stride_ms, note, calibrated(model))


def score_export(exported: Spotter, datamodule: Any, split: str) -> ClassificationReport:
    """Score an exported model on a split with onnxruntime, batch by batch as the loaders serve
    it, through the same ``Scores`` as training.

    Args:
        exported: the model, from ``kws_runtime.Spotter.from_file``.
        datamodule: a ``SpeechCommandsDataModule`` with the model's classes.
        split: ``"test"`` or ``"val"``.
    """
    datamodule.setup("test")
    loader = datamodule.test_dataloader() if split == "test" else datamodule.val_dataloader()
    scores = Scores(len(exported.class_names))
    for batch in loader:
        waveforms, labels = datamodule.batches.waveforms(batch)
        logits = exported.run(waveforms.numpy())[1]
        scores.update(torch.from_numpy(logits), labels)
    return scores.report()
