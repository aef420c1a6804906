"""Recordings of any rate and channel count: ``detect.py``'s block-wise conversion and the
runtime's whole-file one are training's, and hostile headers and samples stay refused."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from kws.data.audio import read_noise
from kws.data.clip_format import ClipFormat
from kws_runtime.audio import BadAudioError, MonoConverter, read_converted
from kws_runtime.scan import Recording


def _stereo(path: Path, seconds: float, rate: int) -> np.ndarray:
    rng = np.random.default_rng(1)
    samples = np.clip(rng.normal(0, 4000, (round(seconds * rate), 2)), -32768, 32767)
    sf.write(path, samples.astype(np.int16), rate, subtype="PCM_16")
    return samples.astype(np.int16)


@pytest.mark.parametrize("block_samples", [1000, 16000, 160_000])
def test_block_wise_conversion_is_the_whole_file_s_bit_for_bit(tmp_path, block_samples):
    """A 44.1 kHz stereo file read in blocks of any size joins to exactly what training's
    whole-file conversion makes of it, and as many samples as ``Recording.frames`` says."""
    path = tmp_path / "stereo.wav"
    _stereo(path, 3.3, 44100)
    recording = Recording.open(path, 16000)
    assert (recording.file_rate, recording.channels, recording.frames) == (44100, 2, 52800)
    assert recording.conversion == f"converted {path}: 44100 Hz 2 channels -> 16000 Hz mono"
    joined = np.concatenate(list(recording.blocks(block_samples)))
    training = read_noise(path, ClipFormat(convert=True, max_seconds=None))
    whole, line = read_converted(path, 16000)
    assert line == recording.conversion and len(joined) == recording.frames
    np.testing.assert_array_equal(joined, whole)
    np.testing.assert_array_equal(joined.astype(np.float32) / 32768, training)


def test_a_16_khz_mono_recording_is_heard_as_it_is(tmp_path):
    path = tmp_path / "mono.wav"
    samples = np.arange(-20000, 20000, 7, dtype=np.int16)
    sf.write(path, samples, 16000, subtype="PCM_16")
    recording = Recording.open(path, 16000)
    assert recording.conversion is None
    np.testing.assert_array_equal(np.concatenate(list(recording.blocks(999))), samples)
    np.testing.assert_array_equal(MonoConverter(16000, 16000, 1)(samples[:, None]), samples)


def _header(channels: int, rate: int, data: bytes = bytes(16)) -> bytes:
    """A PCM_16 RIFF/WAVE file whose header says ``channels`` and ``rate``."""
    fmt = struct.pack("<HHIIHH", 1, channels, rate, rate * 2 * channels, 2 * channels, 16)
    body = b"WAVEfmt " + struct.pack("<I", 16) + fmt + b"data" + struct.pack("<I", len(data))
    return b"RIFF" + struct.pack("<I", len(body) + len(data)) + body + data


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("rate0", r"rate0\.wav: not readable as audio \(.*incomplete"),
        ("rate500", r"rate500\.wav: sample rate 500 Hz, outside \[1000, 384000\]"),
        ("channels0", r"channels0\.wav: not readable as audio \(Channel count is zero"),
        ("channels2000", r"channels2000\.wav: not readable as audio \(Too many channels"),
        ("nan", r"nan\.wav: 1 of 176400 samples are NaN or infinite"),
        ("text", r"text\.wav: not readable as audio"),
    ],
)
def test_hostile_recordings_are_refused_naming_the_file(tmp_path, case, message):
    path = tmp_path / f"{case}.wav"
    if case == "nan":
        samples = np.zeros((44100 * 2, 2), np.float32)
        samples[100, 1] = np.nan
        sf.write(path, samples, 44100, subtype="FLOAT")
    elif case == "text":
        path.write_text("label,start_ms\nyes,100\n")
    else:
        channels = {"channels0": 0, "channels2000": 2000}.get(case, 1)
        path.write_bytes(_header(channels, {"rate0": 0, "rate500": 500}.get(case, 16000)))
    with pytest.raises(BadAudioError, match=message):
        recording = Recording.open(path, 16000)
        list(recording.blocks())
    with pytest.raises(BadAudioError, match=message):
        read_converted(path, 16000)
