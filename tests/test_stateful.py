"""Causal BC-ResNet and the stateful streaming model: each frame through the model once, with
the same output as the causal model run on the whole stream up to that frame."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from kws.frontend import MelSpectrogram
from kws.frontend.protocol import frame_stft_of
from kws.models import BCResNet, KeywordSpotter
from kws.streaming import StreamingDetector, TorchScorer
from kws.streaming.stateful import StatefulSpotter, stateful_problem
from kws_runtime.detector import FrameScorer

HOP = 160
TAIL = 512 - HOP  # n_fft - hop: the frame tail
CLASSES = ["_silence_", "_unknown_", *(f"word{i}" for i in range(10))]


@pytest.fixture(autouse=True)
def one_thread():
    """Small convolutions one call after another: a second thread only waits for the first."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _causal_head(tau: float, frontend: torch.nn.Module) -> BCResNet:
    """A causal BC-ResNet in eval mode whose batch statistics are those of ``frontend``'s
    features of speech-like audio (as a trained model's are) and whose logits lie far apart, so
    that its probabilities move with the input."""
    torch.manual_seed(0)
    head = BCResNet(tau=tau, causal=True)
    for layer in head.modules():
        if isinstance(layer, torch.nn.BatchNorm2d):
            layer.momentum = None  # running statistics: the plain average of the batches
    with torch.no_grad():
        head(frontend(torch.cat([_speechlike(1.0, seed) for seed in range(8)])))
        head.head[5].weight.mul_(10.0)
    return head.eval()


def _spotter(tau: float = 1.0) -> KeywordSpotter:
    frontend = MelSpectrogram(n_fft=512, win_length=480, hop_length=HOP, n_mels=40)
    return KeywordSpotter(frontend, _causal_head(tau, frontend)).eval()


def _speechlike(seconds: float, seed: int = 0) -> torch.Tensor:
    """Noise bursts of varying level, ``(1, samples)`` float32."""
    rng = np.random.default_rng(seed)
    samples = int(seconds * 16000)
    level = np.repeat(rng.uniform(0.001, 0.3, samples // 1600 + 1), 1600)[:samples]
    return torch.from_numpy((rng.normal(0, 1, samples) * level).clip(-1, 1).astype(np.float32))[
        None
    ]


def _whole_stream(spotter: KeywordSpotter, stream: torch.Tensor) -> torch.Tensor:
    """The causal model on the whole stream at once: frames without centre padding over the
    stream after ``n_fft - hop`` zeros, then the head's logits at every frame, as
    probabilities ``(frames, classes)``."""
    frontend = copy.deepcopy(spotter.frontend)
    frame_stft_of(frontend).center = False
    with torch.no_grad():
        features = frontend(F.pad(stream, (TAIL, 0)))  # (1, 40, frames)
        return spotter.head.frames(features)[0][0].T.softmax(-1)


def _chunked(model: StatefulSpotter, stream: torch.Tensor, sizes: list[int]) -> torch.Tensor:
    """The stateful model over ``stream`` in chunks of ``sizes`` hops (cycled)."""
    state, outputs, first, i = model.initial_state(), [], 0, 0
    with torch.no_grad():
        while first < stream.shape[1]:
            size = sizes[i % len(sizes)] * HOP
            probabilities, *state = model(stream[:, first : first + size], *state)
            outputs.append(probabilities[0])
            first, i = first + size, i + 1
    return torch.cat(outputs)


@pytest.mark.parametrize("tau", [1.0, 3.0])
@pytest.mark.parametrize("chunk", ["1 hop", "3 hops", "1 s", "random"])
def test_stateful_model_equals_the_whole_stream_frame_for_frame(tau: float, chunk: str) -> None:
    spotter = _spotter(tau)
    stream = _speechlike(1.5 if chunk == "1 hop" else 4.0)  # 150 or 400 frames
    sizes = {
        "1 hop": [1],
        "3 hops": [3],
        "1 s": [100],
        "random": np.random.default_rng(1).integers(1, 80, 50).tolist(),
    }[chunk]
    model = StatefulSpotter(spotter.frontend, spotter.head)
    ours = _chunked(model, stream, sizes)
    theirs = _whole_stream(spotter, stream)
    assert ours.shape == theirs.shape == (stream.shape[1] // HOP, 12)
    assert (ours - theirs).abs().max() < 1e-4
    assert theirs.std(0).mean() > 0.02  # probabilities that move from frame to frame


def test_a_frame_depends_on_no_later_sample() -> None:
    """The output at a frame is the causal model's clip output on the stream up to that frame
    (its last frame), and changing later samples leaves it as it was."""
    spotter = _spotter()
    stream = _speechlike(3.0, seed=2)
    whole = _whole_stream(spotter, stream)
    for frame in (0, 57, 150, 299):
        prefix = stream[:, : (frame + 1) * HOP]
        assert (_whole_stream(spotter, prefix)[-1] - whole[frame]).abs().max() < 1e-5
    changed = stream.clone()
    changed[:, 150 * HOP :] = _speechlike(1.5, seed=7) * 3
    after = _whole_stream(spotter, changed)
    assert (after[:150] - whole[:150]).abs().max() == 0
    assert (after[150:] - whole[150:]).abs().max() > 0.02


def test_state_shapes_are_documented_and_small() -> None:
    spotter = _spotter()
    model = StatefulSpotter(spotter.frontend, spotter.head)
    shapes = model.state_shapes(batch=2)
    # frame tail, stem, 12 BC-ResBlocks (dilation 1, 1, 2, 2, 4 x 4, 8 x 4), head conv, pool
    assert shapes[0] == (2, TAIL)
    assert shapes[1] == (2, 1, 40, 4)
    assert [s[1:] for s in shapes[2:14]] == [
        (8, 1, 2), (8, 1, 2), (12, 1, 4), (12, 1, 4), *[(16, 1, 8)] * 4, *[(20, 1, 16)] * 4,
    ]  # fmt: skip
    assert shapes[14:] == [(2, 20, 5, 4), (2, 12, 1, 100)]  # the pool keeps 12 logits' past
    assert sum(np.prod(s[1:]) for s in shapes) == 4032  # floats per stream: 16.1 KB
    state = model.initial_state(batch=2)
    assert [tuple(t.shape) for t in state] == shapes and all(not t.any() for t in state)


def test_causal_bcresnet_keeps_the_paper_parameter_count_and_a_clip_is_its_last_frame() -> None:
    causal, plain = BCResNet(causal=True), BCResNet()
    assert sum(p.numel() for p in causal.parameters()) == 9232
    assert causal.state_dict().keys() == plain.state_dict().keys()
    spotter = _spotter()
    head = spotter.head
    features = spotter.frontend(torch.cat([_speechlike(1.0, seed) for seed in (8, 9, 10)]))
    with torch.no_grad():
        assert torch.equal(head(features), head.frames(features)[0][..., -1])
        # a clip of `window` frames: the pool is the mean of them all, the plain model's pool
        pooled = head.head[1:4](_trunk(head, features)).mean(-1, keepdim=True)  # (3, 32, 1, 1)
        expected = head.head[5](pooled).flatten(1)
        assert (head(features) - expected).abs().max() < 1e-5
    with pytest.raises(ValueError, match="model.causal=true"):
        plain.frames(features)
    with pytest.raises(ValueError, match="model.window"):
        BCResNet(causal=True, window=1)


def _trunk(head: BCResNet, features: torch.Tensor) -> torch.Tensor:
    """Stem, stages and the head's depthwise conv of a causal BC-ResNet, as ``frames`` runs
    them, with zero padding written out."""
    x = head.stem(F.pad(features[:, None], (4, 0)))
    for stage in head.stages:
        for block in stage:
            f2 = block.f2(block.expand(x))
            f1 = block.f1(F.pad(f2.mean(2, keepdim=True), (block.past_frames, 0)))
            x = torch.relu(f2 + f1 + (x if block.identity else 0))
    return head.head[0](F.pad(x, (4, 0)))


def test_detector_streams_a_causal_model_frame_by_frame() -> None:
    spotter = _spotter()
    audio = _speechlike(8.0, seed=3)[0].numpy()
    detector = StreamingDetector.from_spotter(
        spotter, CLASSES, clip_samples=16000, keep_scores=True
    )
    assert isinstance(detector.scorer, FrameScorer)
    detector.detect(audio)
    times, scores = detector.scores()
    # window k starts at k * 30 ms and ends at the frame ending 1 s later
    whole = _whole_stream(spotter, torch.from_numpy(audio)[None]).numpy()
    ends = (times * 16 + 16000).astype(int) // HOP - 1
    assert len(times) == (len(audio) - 16000) // 480 + 1
    assert np.abs(scores - whole[ends]).max() < 1e-4
    # chunk-invariant: pushed in pieces of random sizes, the same scores
    rng = np.random.default_rng(4)
    detector.reset()
    cuts = np.sort(rng.integers(0, len(audio), 40))
    for piece in np.split(audio, cuts):
        detector.push(piece)
    assert np.abs(detector.scores()[1] - scores).max() < 1e-6


def test_window_scoring_differs_from_the_stream_by_its_zero_start() -> None:
    """A window scored on its own starts its causal model from zeros; the stream's frame at
    the window's end has the audio before the window in its receptive field."""
    spotter = _spotter()
    audio = _speechlike(6.0, seed=5)[0].numpy()
    scores = {}
    for stateful in (True, False):
        detector = StreamingDetector.from_spotter(
            spotter, CLASSES, clip_samples=16000, keep_scores=True, stateful=stateful
        )
        assert isinstance(detector.scorer, FrameScorer if stateful else TorchScorer)
        detector.detect(audio)
        scores[stateful] = detector.scores()[1]
    assert scores[True].shape == scores[False].shape
    assert np.abs(scores[True] - scores[False]).max() > 1e-3


def test_models_that_cannot_stream_frame_by_frame_say_why() -> None:
    frontend = MelSpectrogram(n_mels=40)
    assert "model.causal=true" in stateful_problem(frontend, BCResNet())
    pcen = MelSpectrogram(n_mels=40, compression="pcen")
    assert "PCEN" in stateful_problem(pcen, BCResNet(causal=True))
    assert stateful_problem(frontend, BCResNet(causal=True)) is None
    plain = KeywordSpotter(frontend, BCResNet()).eval()
    with pytest.raises(ValueError, match="cannot stream frame by frame: .*model.causal=true"):
        StreamingDetector.from_spotter(plain, CLASSES, clip_samples=16000, stateful=True)
    detector = StreamingDetector.from_spotter(plain, CLASSES, clip_samples=16000)
    assert isinstance(detector.scorer, TorchScorer)


def test_a_trained_causal_checkpoint_streams(causal_checkpoint: Path) -> None:
    from kws.training import load_checkpoint

    module = load_checkpoint(causal_checkpoint)
    head = module.spotter.head
    assert head.causal and head.window == 101  # filled from a clip's frames
    spotter = module.spotter.eval()
    stream = _speechlike(4.0, seed=6)
    model = StatefulSpotter(spotter.frontend, spotter.head)
    ours = _chunked(model, stream, [1, 7, 100, 3])
    assert (ours - _whole_stream(spotter, stream)).abs().max() < 1e-4
