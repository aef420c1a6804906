"""detect.py and evaluate.py stream=true: the files they write hold what the detector finds and
what the metrics make of it; bad input stops them in one line before any work."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import soxr
from conftest import CONF_DIR, run_command
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from kws.data.stream_audio import make_stream
from kws.streaming import PosteriorSettings, StreamingDetector
from kws.streaming.report import stream_metrics
from kws.streaming.scoring import det_curve, read_labels
from kws.tasks import detect, evaluate
from kws.training import load_checkpoint


def compose_in(output_dir: Path, overrides: list[str], name: str = "detect") -> DictConfig:
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        return compose(name, overrides=[f"output_dir={output_dir}", *overrides])


@pytest.fixture(scope="module")
def stream(synthetic_root: Path, tmp_path_factory: pytest.TempPathFactory):
    """One minute of the synthetic test split's words over noise, TensorFlow's layout."""
    return make_stream(synthetic_root, tmp_path_factory.mktemp("stream"), minutes=1.0, seed=3)


def read_rows(path: Path) -> list[list[str]]:
    with path.open(newline="") as file:
        return list(csv.reader(file))


def test_detect_writes_the_detectors_findings_and_their_metrics(
    linear_checkpoint, stream, tmp_path
):
    overrides = [
        f"ckpt_path={linear_checkpoint}", f"audio={stream.wav}", f"labels={stream.labels}",
        "detector.threshold=0.5", "detector.stride_ms=20",
    ]  # fmt: skip
    metrics = detect(compose_in(tmp_path, overrides))

    # The same detector, pushed the whole recording at once, outside the command.
    module = load_checkpoint(linear_checkpoint)
    settings = PosteriorSettings(threshold=0.5)
    detector = StreamingDetector.from_spotter(
        module.spotter,
        module.class_names,
        clip_samples=module.clip_format.clip_samples,
        stride_ms=20,
        settings=settings,
        keep_track=True,
    )
    audio, rate = sf.read(stream.wav, dtype="float32")
    expected = detector.detect(audio)
    assert len(expected) >= 3, "a model that detects little tests little"
    rows = read_rows(tmp_path / "detections.csv")
    assert rows[0] == ["label", "time_ms", "score"]
    assert [(r[0], float(r[1])) for r in rows[1:]] == [(d.label, d.time_ms) for d in expected]
    np.testing.assert_allclose([float(r[2]) for r in rows[1:]], [d.score for d in expected],
                               atol=1e-6)  # fmt: skip

    labels = read_labels(stream.labels, module.class_names)
    duration_ms = 1000.0 * len(audio) / rate
    times, averaged = detector.track()
    points = det_curve(times, averaged, module.class_names, labels, duration_ms, 500.0)
    recomputed = stream_metrics(expected, labels, duration_ms, settings, points)
    written = json.loads((tmp_path / "stream_metrics.json").read_text())
    assert written == metrics
    assert {key: written[key] for key in recomputed} == json.loads(json.dumps(recomputed))
    assert written["stream"]["keywords"] == stream.keyword_count > 5
    assert written["audio_seconds"] == pytest.approx(60.0)
    assert written["real_time_factor"] == pytest.approx(
        written["wall_seconds"] / written["audio_seconds"]
    )
    det_rows = read_rows(tmp_path / "det_curve.csv")
    assert len(det_rows) - 1 == len(points) == written["det_thresholds"]
    assert (tmp_path / "det_curve.png").stat().st_size > 10_000


def test_without_labels_only_detections_are_written(linear_checkpoint, stream, tmp_path):
    overrides = [f"ckpt_path={linear_checkpoint}", f"audio={stream.wav}", "detector.threshold=0.5"]
    metrics = detect(compose_in(tmp_path, overrides))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["detections.csv"]
    assert metrics["detections"] == len(read_rows(tmp_path / "detections.csv")) - 1


def test_an_export_finds_what_its_checkpoint_finds(linear_checkpoint, stream, tmp_path, capsys):
    pytest.importorskip("onnxruntime")
    from kws.export.checkpoint import export_checkpoint

    export_checkpoint(linear_checkpoint, tmp_path / "export", formats=("onnx",))
    found = {}
    onnx = tmp_path / "export" / "spotter.onnx"
    for name, model in (("ckpt", f"ckpt_path={linear_checkpoint}"), ("onnx", f"model_path={onnx}")):
        detect(
            compose_in(tmp_path / name, [model, f"audio={stream.wav}", "detector.threshold=0.5"])
        )
        found[name] = read_rows(tmp_path / name / "detections.csv")[1:]
        assert "stride 30 ms, each window scored)" in capsys.readouterr().out
    assert len(found["ckpt"]) >= 3
    assert [r[:2] for r in found["onnx"]] == [r[:2] for r in found["ckpt"]]
    np.testing.assert_allclose(
        [float(r[2]) for r in found["onnx"]], [float(r[2]) for r in found["ckpt"]], atol=1e-4
    )


def test_a_streaming_export_finds_what_its_causal_checkpoint_finds(stream, tmp_path, capsys):
    """``detect.py model_path=spotter.stream.onnx``: each sample through the exported model
    once (``RuntimeStream``), the detections and scores of the checkpoint's stateful
    detector."""
    pytest.importorskip("onnxruntime")
    from test_stream_export import causal_module, save

    from kws.export.checkpoint import export_checkpoint

    checkpoint = save(causal_module(), tmp_path / "causal.ckpt")
    export_checkpoint(checkpoint, tmp_path / "export", formats=(), streaming=True)
    onnx = tmp_path / "export" / "spotter.stream.onnx"
    found = {}
    for name, model in (("ckpt", f"ckpt_path={checkpoint}"), ("onnx", f"model_path={onnx}")):
        overrides = [model, f"audio={stream.wav}", "detector.threshold=0.5"]
        detect(compose_in(tmp_path / name, overrides))
        found[name] = read_rows(tmp_path / name / "detections.csv")[1:]
        assert "stride 30 ms, each frame through the model once)" in capsys.readouterr().out
    assert len(found["ckpt"]) >= 10, "a model that detects little tests little"
    assert [r[:2] for r in found["onnx"]] == [r[:2] for r in found["ckpt"]]
    np.testing.assert_allclose(
        [float(r[2]) for r in found["onnx"]], [float(r[2]) for r in found["ckpt"]], atol=1e-4
    )


def test_evaluate_stream_reports_clips_and_a_stream_of_the_same_split(linear_checkpoint, tmp_path):
    overrides = [f"ckpt_path={linear_checkpoint}", "stream=true", "stream_minutes=0.5",
                 "stream_free_minutes=1", "detector.threshold=0.5",
                 "trainer.enable_progress_bar=false"]  # fmt: skip
    metrics = evaluate(compose_in(tmp_path, overrides, name="evaluate"))
    assert json.loads((tmp_path / "metrics.json").read_text())["test/acc"] == metrics["test/acc"]
    stream_dir = tmp_path / "stream"
    info = json.loads((stream_dir / "test_stream.json").read_text())
    assert info["split"] == "test"
    pooled, streams = metrics["stream"], metrics["stream"]["streams"]
    for name, file in [("words", "test_stream"), ("keyword_free", "test_keyword_free")]:
        labels = read_rows(stream_dir / f"{file}_labels.csv")
        counted = streams[name]["stream"]
        assert counted["keywords"] + counted["other_labels"] == len(labels) - 1
    assert streams["keyword_free"]["stream"]["keywords"] == 0
    assert streams["keyword_free"]["stream"]["hours"] == pytest.approx(1 / 60, rel=1e-3)
    assert pooled["stream"]["hours"] == pytest.approx(
        streams["words"]["stream"]["hours"] + streams["keyword_free"]["stream"]["hours"]
    )
    assert pooled["false_accepts"] == sum(s["false_accepts"] for s in streams.values())
    assert pooled["false_reject_rate"] == streams["words"]["false_reject_rate"]
    assert json.loads((stream_dir / "stream_metrics.json").read_text()) == metrics["stream"]
    assert {
        "detections_words.csv", "detections_keyword_free.csv", "det_curve.csv", "det_curve.png"
    } <= {p.name for p in stream_dir.iterdir()}  # fmt: skip


def _wav(path: Path, samples: np.ndarray, rate: int = 16000) -> Path:
    sf.write(path, samples, rate, subtype="PCM_16")
    return path


def test_a_44_khz_stereo_copy_is_heard_as_the_16_khz_original(
    linear_checkpoint, stream, tmp_path, capsys
):
    """The stream resampled to 44.1 kHz in two channels (plus and minus a noise: their mean is
    the stream) and converted back as training converts: the same detections, each within one
    30 ms stride."""
    # soxr's MQ keeps 0 to 7 kHz: the original is band-limited so, as any 44.1 kHz file is once
    # converted, else the band lost flips the linear model's scores that sit at its threshold.
    band = soxr.resample(sf.read(stream.wav, dtype="float64")[0], 16000, 44100, "VHQ")
    original = soxr.resample(band, 44100, 16000, "MQ")
    limited = _wav(tmp_path / "limited.wav", original)
    copy = soxr.resample(original, 16000, 44100, "VHQ")
    stereo = tmp_path / "stereo.wav"
    noise = np.random.default_rng(0).normal(0, 0.05, len(copy))
    sf.write(stereo, np.stack([copy + noise, copy - noise], axis=1), 44100, subtype="PCM_16")
    found = {}
    for name, audio in (("original", limited), ("copy", stereo)):
        detect(compose_in(tmp_path / name, [f"ckpt_path={linear_checkpoint}", f"audio={audio}"]))
        found[name] = read_rows(tmp_path / name / "detections.csv")[1:]
    assert f"converted {stereo}: 44100 Hz 2 channels -> 16000 Hz mono" in capsys.readouterr().out
    assert len(found["original"]) >= 5
    assert [row[0] for row in found["copy"]] == [row[0] for row in found["original"]]
    pairs = zip(found["copy"], found["original"], strict=True)
    shifts = [float(a[1]) - float(b[1]) for a, b in pairs]
    assert max(map(abs, shifts)) <= 30.0, shifts


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("rate", r"rate.wav: sample rate 500 Hz, outside \[1000, 384000\]"),
        ("garbage", r"garbage.wav: not readable as audio"),
        ("missing", r"missing.wav: no such file \(audio=\)"),
        ("unknown-label", r"labels.csv: line 2: .*'hello'"),
        ("negative-time", r"labels.csv: line 2: .*-5"),
        ("late-label", r"labels.csv: the label 'yes' at 9e\+06 ms lies past the end"),
        ("threshold", r"detector.threshold must be in \(0, 1\], got 1.5"),
        ("zero-threshold", r"detector.threshold must be in \(0, 1\], got 0"),
        ("unknown-key", r"detector.treshold: unknown key"),
        ("stride", r"detector.stride_ms=0.01 is 0.16 samples at 16000 Hz"),
        (
            "short",
            r"short.wav: 0.5 s \(8000 samples\) is shorter than the model's 1 s clip "
            r"\(16000 samples\): nothing to score",
        ),
        ("threads", r"threads must be in \[1, \d+\], got -3"),
        ("many-threads", r"threads must be in \[1, \d+\], got 100000"),
        ("batch", r"detector.batch_size must be in \[1, 4096\], got 100000000"),
    ],
)
def test_bad_input_is_refused_before_anything_is_written(
    linear_checkpoint, stream, tmp_path, case, message
):
    audio, labels, extra = stream.wav, None, []
    mono = np.zeros(16000 * 2, np.float32)
    if case == "rate":
        audio = _wav(tmp_path / "rate.wav", mono, 500)
    elif case == "garbage":
        audio = tmp_path / "garbage.wav"
        audio.write_bytes(b"RIFF" + bytes(200))
    elif case == "missing":
        audio = tmp_path / "missing.wav"
    elif case == "short":
        audio = _wav(tmp_path / "short.wav", mono[:8000])
    elif case in ("unknown-label", "negative-time", "late-label"):
        row = {"unknown-label": "hello,100", "negative-time": "yes,-5", "late-label": "yes,9e6"}
        labels = tmp_path / "labels.csv"
        labels.write_text(f"label,start_ms\n{row[case]}\n")
    else:
        extra = {
            "threshold": ["detector.threshold=1.5"],
            "zero-threshold": ["detector.threshold=0"],
            "unknown-key": ["+detector.treshold=0.5"],
            "stride": ["detector.stride_ms=0.01"],
            "threads": ["threads=-3"],
            "many-threads": ["threads=100000"],
            "batch": ["detector.batch_size=100000000"],
        }[case]
    overrides = [f"ckpt_path={linear_checkpoint}", f"audio={audio}", *extra]
    if labels is not None:
        overrides.append(f"labels={labels}")
    out = tmp_path / "out"
    with pytest.raises(ValueError, match=message):
        detect(compose_in(out, overrides))
    assert not out.exists() or not any(out.iterdir())


def test_the_command_fails_in_one_line(linear_checkpoint, tmp_path):
    slow = _wav(tmp_path / "slow.wav", np.zeros((16000, 2), np.float32), 500)
    result = run_command("detect.py", f"ckpt_path={linear_checkpoint}", f"audio={slow}",
                         cwd=tmp_path)  # fmt: skip
    assert result.returncode == 1
    assert result.stderr == f"error: {slow}: sample rate 500 Hz, outside [1000, 384000]\n"
    assert not (tmp_path / "hydra" / "detections.csv").exists()


def test_detect_marks_the_calibrated_and_the_used_threshold_on_its_det_curve(
    linear_checkpoint, stream, tmp_path
):
    import torch

    from kws_runtime.calibration import Calibration

    checkpoint = torch.load(linear_checkpoint, weights_only=True)
    calibration = Calibration(0.6123, 0.5, True, 0.0, 0.25, 0.1, 20, 30.0, 500.0, 500.0, 4)
    torch.save({**checkpoint, "calibration": calibration.as_dict()}, tmp_path / "c.ckpt")
    overrides = [f"ckpt_path={tmp_path / 'c.ckpt'}", f"audio={stream.wav}",
                 f"labels={stream.labels}", "detector.threshold=0.4321"]  # fmt: skip
    detect(compose_in(tmp_path / "out", overrides))
    swept = [float(row[1]) for row in read_rows(tmp_path / "out" / "det_curve.csv")[1:]]
    assert 0.6123 in swept and 0.4321 in swept  # both exact points of the curve, not neighbours
