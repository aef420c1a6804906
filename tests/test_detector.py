"""``StreamingDetector``: cached scores equal per-window scores, chunking changes nothing,
short chunks work, the ONNX runtime path agrees, and memory stays flat."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from kws.frontend import MFCC, MelSpectrogram
from kws.models import BCResNet, KeywordSpotter, LinearClassifier
from kws.streaming import Detection, PosteriorSettings, StreamingDetector, detections_at

RATE = 16000
NAMES = ["_silence_", "_unknown_", "yes", "no", "up", "down"]
NAMES += ["left", "right", "on", "off", "stop", "go"]
#: A low threshold, so a random model detects something in a few seconds.
LOW = PosteriorSettings(threshold=0.3)


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """One torch thread: many tiny forward passes are far faster without a thread pool."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _linear(frontend: torch.nn.Module | None = None) -> KeywordSpotter:
    torch.manual_seed(0)
    frontend = MelSpectrogram(trainable_mel=True) if frontend is None else frontend
    return KeywordSpotter(frontend, LinearClassifier(40, 101, 12)).eval()


def _bcresnet() -> KeywordSpotter:
    """A small BC-ResNet whose batch norms are calibrated on the test audio and whose last
    layer is scaled up, so its scores differ from window to window and keywords fire."""
    torch.manual_seed(0)
    spotter = KeywordSpotter(MelSpectrogram(), BCResNet(tau=0.5, num_classes=12))
    for layer in spotter.modules():
        if isinstance(layer, torch.nn.BatchNorm2d):
            layer.momentum = None  # running statistics: the plain average over the batches
    audio = _audio(5.0)
    with torch.no_grad():
        spotter.train()(
            torch.from_numpy(np.stack([audio[s : s + RATE] for s in range(0, 4 * RATE, RATE // 4)]))
        )
        spotter.head.head[-1].weight.mul_(10.0)
    return spotter.eval()


def _audio(seconds: float = 5.0, seed: int = 0) -> np.ndarray:
    """Noise with a few tone bursts, float32 in [-1, 1] ``(samples,)``."""
    rng = np.random.default_rng(seed)
    samples = int(seconds * RATE)
    audio = 0.05 * rng.standard_normal(samples)
    t = np.arange(samples) / RATE
    for i, freq in enumerate((300, 800, 1500, 2500)):
        burst = slice(int((0.5 + i) * RATE), int((1.2 + i) * RATE))
        audio[burst] += 0.5 * np.sin(2 * np.pi * freq * t[burst])
    return np.clip(audio, -1, 1).astype(np.float32)


def _pushed(detector: StreamingDetector, audio: np.ndarray, sizes: Iterator[int]) -> list:
    detector.reset()
    detections, first = [], 0
    while first < len(audio):
        size = next(sizes)
        detections += detector.push(audio[first : first + size])
        first += size
    return detections


def _same(a: list[Detection], b: list[Detection]) -> None:
    """Same labels and times; scores to float rounding (batches of other sizes)."""
    assert [(d.label, d.time_ms) for d in a] == [(d.label, d.time_ms) for d in b]
    np.testing.assert_allclose([d.score for d in a], [d.score for d in b], atol=1e-5)


def _per_window(spotter: KeywordSpotter, audio: np.ndarray, times_ms: np.ndarray) -> np.ndarray:
    """Each window scored on its own ``(windows, classes)``."""
    starts = np.round(times_ms * RATE / 1000).astype(int)
    with torch.no_grad():
        rows = [spotter(torch.from_numpy(audio[None, s : s + RATE])).softmax(-1)[0] for s in starts]
    return torch.stack(rows).numpy()


@pytest.mark.parametrize(
    "make",
    [
        _linear,
        _bcresnet,
        lambda: _linear(MelSpectrogram(center=False)),
        lambda: _linear(MFCC(n_mfcc=40, trainable_mel=True)),
        # an odd FFT and a hop that does not divide the clip: other edge geometry
        lambda: _linear(MelSpectrogram(n_fft=401, win_length=400, hop_length=120)),
    ],
    ids=["mel-linear", "mel-bcresnet", "no-center", "mfcc", "odd-n_fft"],
)
def test_cached_scores_equal_per_window(make) -> None:
    spotter = make()
    frames = spotter.frontend(torch.zeros(1, RATE)).shape[-1]
    if isinstance(spotter.head, LinearClassifier) and frames != 101:  # sized for the frames
        torch.manual_seed(0)
        spotter.head = LinearClassifier(40, frames, 12).eval()
    audio = _audio(3.0)
    detector = StreamingDetector.from_spotter(spotter, NAMES, clip_samples=RATE, keep_scores=True)
    assert detector.scorer.cached
    for size in (RATE // 10, len(audio)):  # several calls (the cache across them) and one
        detector.reset()
        for first in range(0, len(audio), size):
            detector.push(audio[first : first + size])
        times, scores = detector.scores()
        assert len(times) == detector.windows_scored == (len(audio) - RATE) // 480 + 1
        np.testing.assert_array_equal(times, np.arange(len(times)) * 30.0)
        difference = np.abs(scores - _per_window(spotter, audio, times)).max()
        assert difference < 1e-4, difference


def test_fallbacks_score_like_the_cache() -> None:
    spotter = _linear()
    audio = _audio(2.0)
    cached = StreamingDetector.from_spotter(spotter, NAMES, clip_samples=RATE, keep_scores=True)
    plain = StreamingDetector.from_spotter(
        spotter, NAMES, clip_samples=RATE, keep_scores=True, cache=False
    )
    top_db = StreamingDetector.from_spotter(
        _linear(MelSpectrogram(log="db", top_db=80.0)), NAMES, clip_samples=RATE, keep_scores=True
    )
    odd = StreamingDetector.from_spotter(
        spotter, NAMES, clip_samples=RATE, stride_ms=25.0, keep_scores=True
    )
    assert cached.scorer.cached
    assert not (plain.scorer.cached or top_db.scorer.cached or odd.scorer.cached)
    for detector in (cached, plain, top_db, odd):
        detector.detect(audio)
    np.testing.assert_allclose(cached.scores()[1], plain.scores()[1], atol=1e-5)
    times, scores = odd.scores()
    np.testing.assert_array_equal(times, np.arange(len(times)) * 25.0)
    np.testing.assert_allclose(scores, _per_window(spotter, audio, times), atol=1e-4)


@pytest.mark.parametrize("make", [_linear, _bcresnet], ids=["linear", "bcresnet"])
def test_chunking_does_not_change_detections(make) -> None:
    audio = _audio(5.0)
    detector = StreamingDetector.from_spotter(make(), NAMES, clip_samples=RATE, settings=LOW)
    whole = detector.detect(audio)
    assert whole, "the test needs detections"
    rng = np.random.default_rng(1)
    for sizes in (
        iter(lambda: 160, None),
        iter(lambda: RATE, None),
        iter(lambda: int(rng.integers(1, 5000)), None),
    ):
        _same(_pushed(detector, audio, sizes), whole)


def test_short_chunks_at_the_start() -> None:
    audio = _audio(2.0)
    detector = StreamingDetector.from_spotter(
        _linear(), NAMES, clip_samples=RATE, settings=LOW, keep_scores=True
    )
    detector.detect(audio)
    whole_times, whole_scores = detector.scores()
    detector.reset()
    assert detector.push(np.zeros(0, np.float32)) == []
    first = 0
    for size in range(1, 301):  # 1..300 samples each: 45150 samples, the whole 2 s (32000)
        detector.push(audio[first : first + size])
        first += size
    times, scores = detector.scores()
    np.testing.assert_array_equal(times, whole_times)
    np.testing.assert_allclose(scores, whole_scores, atol=1e-5)
    detector.reset()  # less than a clip: no window yet, no error
    assert detector.detect(audio[:100]) == [] and detector.scores()[0].size == 0


def test_int16_and_torch_chunks() -> None:
    audio = _audio(2.0)
    detector = StreamingDetector.from_spotter(_linear(), NAMES, clip_samples=RATE, keep_scores=True)
    detector.detect(audio)
    expected = detector.scores()[1]
    detector.detect(torch.from_numpy(audio))
    np.testing.assert_allclose(detector.scores()[1], expected, atol=1e-6)
    detector.detect((audio * 32767).astype(np.int16))
    np.testing.assert_allclose(detector.scores()[1], expected, atol=1e-3)
    with pytest.raises(ValueError):
        detector.push(np.zeros((2, 10), np.float32))
    with pytest.raises(ValueError):
        StreamingDetector.from_spotter(_linear(), NAMES, clip_samples=RATE, stride_ms=30.03)


def test_audio_that_is_no_audio_is_refused_as_the_runtime_refuses_it() -> None:
    detector = StreamingDetector.from_spotter(_linear(), NAMES, clip_samples=RATE)
    with pytest.raises(ValueError, match="1 NaN or infinite samples"):
        detector.push(np.array([0.1, np.nan, 0.2], np.float32))
    with pytest.raises(ValueError, match="reaches 50"):
        detector.push(np.full(100, 50.0, np.float32))  # int16 values passed as floats


def test_track_for_threshold_sweeps() -> None:
    detector = StreamingDetector.from_spotter(
        _linear(), NAMES, clip_samples=RATE, settings=LOW, keep_track=True
    )
    detections = detector.detect(_audio(3.0))
    times, averaged = detector.track()
    assert averaged.shape == (len(times), len(NAMES))
    assert detections, "the test needs detections"
    assert detections_at(times, averaged, NAMES, LOW.threshold, LOW.suppression_ms) == detections


def test_onnx_runtime_gives_the_same_detections(tmp_path: Path) -> None:
    onnx = pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    from kws.export import InferenceGraph
    from kws.export.onnx_model import to_onnx
    from kws_runtime import ModelInfo, Spotter

    spotter = _linear()
    info = ModelInfo(
        class_names=tuple(NAMES),
        sample_rate=RATE,
        clip_samples=RATE,
        frontend={"_target_": "kws.frontend.MelSpectrogram"},
        head={"_target_": "kws.models.LinearClassifier", "num_classes": 12},
    )
    path = tmp_path / "model.onnx"
    onnx.save(to_onnx(InferenceGraph(spotter.frontend, spotter.head), info), path)
    runtime = StreamingDetector.from_runtime(Spotter.from_file(path), settings=LOW)
    audio = _audio(4.0)
    expected = StreamingDetector.from_spotter(
        spotter, NAMES, clip_samples=RATE, settings=LOW
    ).detect(audio)
    assert expected
    _same(runtime.detect(audio), expected)
    _same(_pushed(runtime, audio, iter(lambda: 1000, None)), expected)


def test_memory_is_flat() -> None:
    detector = StreamingDetector.from_spotter(_linear(), NAMES, clip_samples=RATE, batch_size=64)
    detector.detect(_audio(1.5))
    short = detector.buffer_capacity
    # 30 s in chunks of up to 5 s: far past one batch of strides (64 x 30 ms).
    audio, rng = _audio(30.0, seed=2), np.random.default_rng(2)
    detector.reset()
    peak_frames = peak_steps = first = 0
    while first < len(audio):
        size = int(rng.integers(1, 5 * RATE))
        detector.push(audio[first : first + size])
        first += size
        peak_frames = max(peak_frames, detector.scorer.buffered_frames)
        peak_steps = max(peak_steps, detector.handler.buffered_steps)
    # The sample buffer: a clip, one batch of strides and one stride, whatever the stream.
    assert detector.buffer_capacity == short <= RATE + (64 + 1) * 480
    assert peak_frames <= 101  # one window's interior frames
    assert peak_steps <= 500 // 30 + 1  # the averaging window


@pytest.mark.parametrize("batch_size", [0, 4097, 10**8, 2.0])
def test_a_batch_size_out_of_range_is_refused_before_any_memory_is_taken(batch_size) -> None:
    with pytest.raises(ValueError, match=r"^detector\.batch_size must be (in \[1, 4096\]|a whole)"):
        StreamingDetector.from_spotter(_linear(), NAMES, clip_samples=RATE, batch_size=batch_size)


def test_the_detector_config_refuses_a_huge_batch_before_the_model_loads() -> None:
    from kws_runtime.scan import DetectorConfig

    with pytest.raises(ValueError, match=r"^detector\.batch_size must be in \[1, 4096\]"):
        DetectorConfig.from_config({"batch_size": 10**8, "stride_ms": 30})
