"""One owner of the clip format (issue 27): the data module's ``ClipFormat`` (sample rate and
samples) is what the module is sized for, what its checkpoint and export keep, what the detector
scores windows of, and where a model meets data the one rule (``ClipFormat.mismatch``) refuses a
difference, naming the setting."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import torch

from kws.data.audio import read_clip
from kws.data.clip_format import SPEECH_COMMANDS_CLIPS, ClipFormat
from kws.export.graph import model_info
from kws.streaming import StreamingDetector
from kws.training import KWSModule

MEL = {"_target_": "kws.frontend.MelSpectrogram", "n_mels": 40}
LINEAR = {"_target_": "kws.models.LinearClassifier", "n_features": None, "frames": None}
SGD = {"_target_": "torch.optim.SGD", "lr": 0.1}


def test_a_model_meets_data_by_one_rule():
    model = ClipFormat(24000, max_seconds=None)
    assert model.mismatch(ClipFormat(24000, max_seconds=None)) is None
    assert model.mismatch(SPEECH_COMMANDS_CLIPS) == (
        "the model takes clips of 24000 samples (1.5 s), the data's are 16000 samples (1 s); use "
        "data of its own clip length (a folder's data.clip_seconds)"
    )
    other_rate = ClipFormat(24000, max_seconds=None, sample_rate=8000)
    assert other_rate.mismatch(model) == (
        "the model hears 8000 Hz, the data's clips are 16000 Hz (frontend.sample_rate)"
    )


def test_the_sample_rate_is_the_format_s_own(tmp_path):
    """A file is converted to the format's rate, and a row is its clip_samples at that rate."""
    t = np.arange(16000) / 16000
    sf.write(tmp_path / "tone.wav", 0.5 * np.sin(2 * np.pi * 440 * t), 16000, subtype="PCM_16")
    half = ClipFormat(4000, convert=True, max_seconds=None, sample_rate=8000)
    assert half.seconds == 0.5 and half.row_frames(16000) == 8000
    row = read_clip(tmp_path / "tone.wav", half)
    assert row.shape == (4000,)
    spectrum = np.abs(np.fft.rfft(row.astype(np.float64)))
    assert np.argmax(spectrum) * 8000 / 4000 == pytest.approx(440, abs=2)  # 440 Hz at 8 kHz
    with pytest.raises(ValueError, match="shorter than a row of 16000 samples at 8000 Hz"):
        ClipFormat(16000, max_seconds=1.0, sample_rate=8000)


def test_the_module_export_and_detector_take_the_clips_the_module_was_built_for():
    module = KWSModule(MEL, LINEAR, ["a", "b"], SGD, clip_samples=24000).eval()
    assert module.clip_format == ClipFormat(24000, max_seconds=None)
    info = model_info(module)
    assert (info.sample_rate, info.clip_samples) == (16000, 24000)
    detector = StreamingDetector.from_spotter(
        module.spotter, module.class_names, clip_samples=module.clip_format.clip_samples
    )
    assert detector.clip_samples == 24000
    assert len(detector.detect(np.zeros(24000 + 480, np.float32))) == 0
    assert detector.windows_scored == 2  # 1.5 s windows every 30 ms
    with pytest.raises(TypeError, match="clip_samples"):
        StreamingDetector.from_spotter(module.spotter, module.class_names)  # no one-second guess
    assert torch.isfinite(module(torch.zeros(1, 24000))).all()


def test_int8_export_refuses_data_of_another_rate_before_reading_it(synthetic_root):
    """A checkpoint whose frontend hears 8 kHz (crafted, or made before the rate was checked)
    is not calibrated on its 16 kHz training clips: export refuses by the one rule."""
    from kws.export.checkpoint import training_data

    module = KWSModule(
        frontend={**MEL, "sample_rate": 8000}, model=LINEAR, optimizer=SGD,
        class_names=["_silence_", "_unknown_", "yes"],
    )  # fmt: skip
    module.checkpoint_metadata = {
        "datamodule": {
            "_target_": "kws.data.SpeechCommandsDataModule",
            "root": str(synthetic_root),
            "test_set": "list",
        }
    }
    with pytest.raises(ValueError, match=r"^crafted\.ckpt: the model hears 8000 Hz, the data's"):
        training_data(module, "crafted.ckpt")
