"""Bad input gets a clear error naming the file and the problem, lists every bad file, and with
``skip_bad_files`` is left out and counted; odd but valid WAVs (24-bit, float) read fine."""

from __future__ import annotations

import logging
import math
import shutil
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from kws.data import KEYWORDS, SILENCE, UNKNOWN
from kws.data.audio import read_clip
from kws.data.cache import BadFilesError
from kws_runtime.audio import BadAudioError


def tone(seconds: float = 1.0, rate: int = 16000) -> np.ndarray:
    return 0.5 * np.sin(2 * np.pi * 440 * np.arange(int(seconds * rate)) / rate)


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def not_audio(path: Path) -> None:
    path.write_bytes(b"this is not audio " * 100)


def empty(path: Path) -> None:
    path.write_bytes(b"")


def stereo(path: Path) -> None:
    sf.write(path, np.stack([tone(), tone()], axis=1), 16000, subtype="PCM_16")


def eight_khz(path: Path) -> None:
    sf.write(path, tone(rate=8000), 8000, subtype="PCM_16")


def too_long(path: Path) -> None:
    sf.write(path, tone(1.5), 16000, subtype="PCM_16")


def delete(path: Path) -> None:
    path.unlink()


# What is done to a file, the words its error must contain, and which file it is done to:
# (folder, n): the n-th clip of a training word; "listed": the first validation-list clip;
# "noise": a background-noise file.
BAD_KINDS: dict[str, tuple[Callable[[Path], None], str, tuple[str, int] | str]] = {
    "truncated": (truncate, "truncated: header declares 32000 audio bytes", ("yes", 0)),
    "not audio": (not_audio, "not readable as audio", ("no", 0)),
    "empty": (empty, "empty file", ("up", 0)),
    "stereo": (stereo, "2 channels, expected mono", ("down", 0)),
    "8 kHz": (eight_khz, "sample rate 8000 Hz, expected 16000", ("left", 0)),
    "too long": (too_long, "1.500 s long, expected at most 1 s", ("bed", 0)),
    "listed but missing": (delete, "named in validation_list.txt but missing", "listed"),
    "bad noise": (not_audio, "not readable as audio", "noise"),
}


def target(root: Path, where: tuple[str, int] | str) -> Path:
    """The file a bad kind is planted in (a 1 s training clip for the clip kinds)."""
    if where == "listed":
        return root / (root / "validation_list.txt").read_text().split()[0]
    if where == "noise":
        return sorted((root / "_background_noise_").glob("*.wav"))[0]
    word, n = where
    listed = set((root / "validation_list.txt").read_text().split())
    listed |= set((root / "testing_list.txt").read_text().split())
    clips = [
        p
        for p in sorted((root / word).glob("*.wav"))
        if f"{word}/{p.name}" not in listed and sf.info(p).frames == 16000
    ]
    return clips[n]


def plant(root: Path, kinds: list[str]) -> dict[Path, str]:
    """Spoil one file per kind; ``{path: expected problem}``."""
    planted = {}
    for kind in kinds:
        spoil, problem, where = BAD_KINDS[kind]
        path = target(root, where)
        spoil(path)
        planted[path] = problem
    return planted


def assert_nothing_cached(root: Path) -> None:
    cache = root.parent / "cache"
    assert not cache.exists() or not list(cache.iterdir()), "no cache, whole or half"


@pytest.mark.parametrize("kind", BAD_KINDS)
def test_a_bad_file_is_named_with_its_problem(root, kind, datamodule):
    [(path, problem)] = plant(root, [kind]).items()
    with pytest.raises(BadFilesError) as error:
        datamodule(root).prepare_data()
    assert f"{path}: {problem}" in str(error.value)
    assert "skip_bad_files" in str(error.value)
    assert error.value.problems.keys() == {str(path)}
    assert_nothing_cached(root)


def test_every_bad_file_is_listed_at_once(root, datamodule):
    planted = plant(root, list(BAD_KINDS))
    with pytest.raises(BadFilesError) as error:
        datamodule(root).setup()
    message = str(error.value)
    assert message.startswith(f"{len(BAD_KINDS)} bad file(s):")
    for path, problem in planted.items():
        assert f"{path}: {problem}" in message
    assert_nothing_cached(root)


def test_skip_bad_files_leaves_them_out_counts_them_and_keeps_the_protocol(
    root, caplog, datamodule
):
    listed = {p: "val" for p in (root / "validation_list.txt").read_text().split()}
    listed |= {p: "test" for p in (root / "testing_list.txt").read_text().split()}
    planted = plant(root, list(BAD_KINDS))
    with caplog.at_level(logging.WARNING):
        dm = datamodule(root, skip_bad_files=True)
        dm.setup()
    assert dm.skipped_files.keys() == {str(p) for p in planted}
    assert f"left out {len(BAD_KINDS)} bad file(s)" in caplog.text

    bad = {str(p.relative_to(root)) for p in planted}
    good = Counter()
    for word in KEYWORDS:
        for clip in (root / word).glob("*.wav"):
            if f"{word}/{clip.name}" not in bad:
                good[listed.get(f"{word}/{clip.name}", "train")] += 1
    for split, index in dm.split_index.items():
        assert not bad & set(index.paths), split
        per_class = Counter(dm.class_names[label] for label in index.labels)
        assert sum(per_class[k] for k in KEYWORDS) == good[split]
        assert per_class[SILENCE] == math.ceil(good[split] / len(KEYWORDS))
        assert per_class[UNKNOWN] == per_class[SILENCE]  # plenty of other words to draw from

    with pytest.raises(BadFilesError, match=f"{len(BAD_KINDS)} bad file"):
        datamodule(root).setup()  # the same cache, opened without skipping: still an error


@pytest.mark.parametrize("subtype", ["PCM_24", "PCM_32", "FLOAT", "DOUBLE"])
def test_24_bit_and_float_wavs_read_at_full_scale(root, subtype, datamodule):
    path = target(root, ("yes", 0))
    original = read_clip(path)
    sf.write(path, original / 32768.0, 16000, subtype=subtype)
    assert np.array_equal(read_clip(path), original)
    dm = datamodule(root)
    dm.setup()  # no error, nothing skipped
    assert dm.skipped_files == {}
    row = dm.split_index["train"].paths.index(str(path.relative_to(root)))
    assert np.array_equal(dm.datasets["train"].clips[row], original)


def test_float_wav_full_scale_maps_to_int16_full_scale(tmp_path):
    path = tmp_path / "float.wav"
    sf.write(path, np.array([0.0, 0.5, -0.5, 1.0, -1.0, 1.5]), 16000, subtype="FLOAT")
    assert read_clip(path)[:6].tolist() == [0, 16384, -16384, 32767, -32768, 32767]


def test_read_clip_pads_short_clips_and_names_the_file(tmp_path):
    short = tmp_path / "short.wav"
    sf.write(short, np.full(4000, 0.25), 16000, subtype="PCM_16")
    clip = read_clip(short)
    assert clip.shape == (16000,) and (clip[:4000] == 8192).all() and not clip[4000:].any()
    with pytest.raises(BadAudioError, match=f"{tmp_path / 'missing.wav'}: file does not exist"):
        read_clip(tmp_path / "missing.wav")


def test_no_background_noise_is_a_clear_error(root, datamodule):
    shutil.rmtree(root / "_background_noise_")
    with pytest.raises(FileNotFoundError, match="_background_noise_: no background-noise .wav"):
        datamodule(root).setup()
    assert_nothing_cached(root)


def test_a_missing_list_file_is_named(root, datamodule):
    (root / "testing_list.txt").unlink()
    with pytest.raises(FileNotFoundError, match="testing_list.txt is missing"):
        datamodule(root).setup()
