"""The runtime installed alone (``pip install ./runtime``): no torch in its environment, and its
``detect`` command finds on a WAV what the runtime finds in this process.

Needs ``KWS_RUNTIME_VENV``: a virtual environment holding only ``kws-runtime`` and its
dependencies. ``.ci/run`` makes one (``.venv-runtime``); elsewhere these tests skip.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import soundfile as sf

from kws.data.stream_audio import make_stream
from kws.export import export_checkpoint
from kws_runtime import Spotter
from kws_runtime.detector import StreamingDetector
from kws_runtime.posterior import PosteriorSettings

ROOT = Path(__file__).resolve().parents[1]
VENV = os.environ.get("KWS_RUNTIME_VENV")
#: What ``pip install ./runtime[listen]`` may bring: the runtime, its dependencies, theirs, and
#: the tools every virtual environment has.
ALLOWED = {
    "kws-runtime", "numpy", "onnx", "onnxruntime", "soundfile", "soxr", "sounddevice",
    "cffi", "pycparser", "protobuf", "flatbuffers", "packaging", "ml-dtypes",
    "typing-extensions", "pip", "setuptools", "wheel",
}  # fmt: skip
pytestmark = pytest.mark.skipif(
    VENV is None, reason="KWS_RUNTIME_VENV names no runtime-only environment (.ci/run makes one)"
)


def _python() -> str:
    return str(Path(VENV) / "bin" / "python")


def test_the_runtime_environment_holds_no_torch() -> None:
    result = subprocess.run([_python(), "-c", "import torch"], capture_output=True, text=True)
    assert result.returncode == 1 and "No module named 'torch'" in result.stderr
    listed = subprocess.run(
        [_python(), "-m", "pip", "list", "--format=json"], capture_output=True, text=True
    )
    names = {p["name"].lower().replace("_", "-") for p in json.loads(listed.stdout)}
    assert "kws-runtime" in names
    assert names <= ALLOWED, f"not the runtime's: {sorted(names - ALLOWED)}"


def test_detect_on_a_wav_finds_what_the_runtime_finds(
    linear_checkpoint: Path, synthetic_root: Path, tmp_path: Path
) -> None:
    """``python -m kws_runtime detect`` in the runtime-only environment prints, line for line,
    the detections ``StreamingDetector.from_runtime`` makes of the same file here."""
    export_checkpoint(linear_checkpoint, tmp_path / "export", formats=("onnx",))
    model = tmp_path / "export" / "spotter.onnx"
    stream = make_stream(synthetic_root, tmp_path / "stream", minutes=0.5, seed=5)
    spotter = Spotter.from_file(model)
    settings = PosteriorSettings(threshold=0.5)
    detector = StreamingDetector.from_runtime(spotter, settings=settings)
    samples, rate = sf.read(stream.wav, dtype="int16")
    assert rate == spotter.sample_rate
    expected = detector.detect(samples)
    assert expected, "the stream should hold detections at threshold 0.5"
    result = subprocess.run(
        [_python(), "-m", "kws_runtime", "detect", str(model), str(stream.wav),
         "--threshold", "0.5"],
        capture_output=True, text=True, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    printed = [line.split("  ") for line in result.stdout.splitlines()]
    assert [(path, label) for path, _, label, _ in printed] == [
        (str(stream.wav), d.label) for d in expected
    ]
    for (_, seconds, _, score), found in zip(printed, expected, strict=True):
        assert float(seconds) == pytest.approx(found.time_ms / 1000, abs=5e-4)
        assert float(score) == pytest.approx(found.score, abs=5e-4)
    assert "threshold 0.5 (--threshold)" in result.stderr
