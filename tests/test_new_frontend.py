"""A new frontend is one file and one config, nothing else (issue 27): ``tiny_bands.py``, written
here into a folder searched as part of the ``kws.frontend`` package (as if it were
``kws/frontend/tiny_bands.py``), and ``frontend/tiny_bands.yaml`` in a config folder on Hydra's
search path. It trains, is saved, loads back from the checkpoint in a process that has not
imported it (the registry imports it, being under ``kws.frontend``), exports as kws's own
frontends do (its STFT as an ONNX ``DFT``, no kernels stored), and streams with the frame cache
and frame by frame, in PyTorch and in the runtime alike. Nothing of kws or conf/ is touched."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from conftest import CONF_DIR
from hydra import compose, initialize_config_dir

import kws.frontend
from kws.export import FILE_NAMES, export_checkpoint
from kws.registry import REGISTRY
from kws.streaming import PosteriorSettings, StreamingDetector
from kws.tasks import train
from kws.training import load_checkpoint
from kws_runtime import Spotter
from kws_runtime.detector import FrameScorer

NAME = "kws.frontend.tiny_bands"

#: The new frontend's one file: a fixed power spectrum averaged over equal bands, then a log.
FRONTEND_FILE = '''"""Band energies: a power spectrum averaged over equal bands, then a log."""

import torch
from torch import nn

from kws.frontend.stft import STFT
from kws.registry import register


@register("frontend")
class TinyBands(nn.Module):
    """Waveforms ``(batch, samples)`` to log band energies ``(batch, n_bands, frames)``."""

    def __init__(self, n_fft: int = 512, hop_length: int = 160, n_bands: int = 40) -> None:
        super().__init__()
        self.stft = STFT(n_fft=n_fft, win_length=480, hop_length=hop_length)
        band = torch.arange(n_fft // 2 + 1) * n_bands // (n_fft // 2 + 1)
        weights = nn.functional.one_hot(band, n_bands).T.float() / torch.bincount(band)[:, None]
        self.register_buffer("bands", weights, persistent=False)

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        return torch.log(torch.matmul(self.bands, self.stft(waveform)) + 1e-6)

    def frame_stft(self) -> STFT:
        return self.stft
'''

#: Its one config file.
CONFIG_FILE = """_target_: kws.frontend.tiny_bands.TinyBands
n_fft: 512
hop_length: 160
n_bands: 40
"""


def forget_the_frontend(monkeypatch: pytest.MonkeyPatch) -> None:
    """As in a new process: the module not imported, nothing of it registered."""
    monkeypatch.delitem(sys.modules, NAME, raising=False)
    kept = {k: v for k, v in REGISTRY["frontend"].items() if not k.startswith(NAME)}
    monkeypatch.setitem(REGISTRY, "frontend", kept)


@pytest.fixture
def new_frontend(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The two new files; returns the config folder to put on Hydra's search path."""
    package = tmp_path / "plugin"
    package.mkdir()
    (package / "tiny_bands.py").write_text(FRONTEND_FILE)
    configs = tmp_path / "conf"
    (configs / "frontend").mkdir(parents=True)
    (configs / "frontend" / "tiny_bands.yaml").write_text(CONFIG_FILE)
    monkeypatch.setattr(kws.frontend, "__path__", [*kws.frontend.__path__, str(package)])
    forget_the_frontend(monkeypatch)
    yield configs
    sys.modules.pop(NAME, None)


def test_a_new_frontend_is_one_file_and_one_config(
    new_frontend, synthetic_root, tmp_path, monkeypatch
):
    run = tmp_path / "run"
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose(
            "train",
            overrides=[f"hydra.searchpath=[file://{new_frontend}]", f"output_dir={run}",
                       "data=synthetic", f"data.root={synthetic_root}", "frontend=tiny_bands",
                       "model=bcresnet", "model.causal=true", "trainer.max_epochs=1",
                       "module.scheduler.warmup_epochs=0", "trainer.enable_progress_bar=false"],
        )  # fmt: skip
    assert NAME not in sys.modules
    train(cfg)
    checkpoint = run / "checkpoints" / "last.ckpt"

    forget_the_frontend(monkeypatch)
    module = load_checkpoint(checkpoint)
    assert type(module.spotter.frontend).__module__ == NAME  # imported by the registry

    out = tmp_path / "out"
    export_checkpoint(checkpoint, out, ("onnx",), streaming=True)
    clip_file = out / FILE_NAMES["onnx"]
    graph = onnx.load(clip_file).graph
    assert "DFT" in {node.op_type for node in graph.node}  # the STFT's export special case
    assert clip_file.stat().st_size < 200_000, "no 964 KB of Fourier kernels stored"
    spotter = Spotter.from_file(clip_file)
    clips = np.random.default_rng(0).normal(0, 0.1, (4, 16000)).astype(np.float32)
    with torch.no_grad():
        expected = module.spotter(torch.from_numpy(clips)).softmax(dim=-1).numpy()
    np.testing.assert_allclose(spotter.predict(clips), expected, rtol=0, atol=1e-5)

    audio = np.random.default_rng(1).normal(0, 0.1, 4 * 16000).astype(np.float32)
    settings = PosteriorSettings(threshold=0.3)
    names, clip = module.class_names, module.clip_format.clip_samples

    def scores(detector: StreamingDetector) -> np.ndarray:
        detector.detect(audio)
        return detector.scores()[1]

    cached = StreamingDetector.from_spotter(
        module.spotter,
        names,
        clip_samples=clip,
        settings=settings,
        stateful=False,
        keep_scores=True,
    )
    assert cached.scorer.cached, "the stream's frames are reused (frame_stft())"
    uncached = StreamingDetector.from_spotter(
        module.spotter,
        names,
        clip_samples=clip,
        settings=settings,
        stateful=False,
        cache=False,
        keep_scores=True,
    )
    np.testing.assert_allclose(scores(cached), scores(uncached), rtol=0, atol=1e-5)

    frames = StreamingDetector.from_spotter(
        module.spotter, names, clip_samples=clip, settings=settings, keep_scores=True
    )
    runtime = StreamingDetector.from_runtime(
        Spotter.from_file(out / FILE_NAMES["stream"]), settings=settings, keep_scores=True
    )
    assert isinstance(frames.scorer, FrameScorer) and isinstance(runtime.scorer, FrameScorer)
    np.testing.assert_allclose(scores(runtime), scores(frames), rtol=0, atol=1e-4)
