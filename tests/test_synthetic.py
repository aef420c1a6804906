"""The Speech Commands split rule and the synthetic Speech-Commands-shaped data generator."""

from __future__ import annotations

import importlib
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from kws.data.layout import KEYWORDS, SAMPLE_RATE, WORDS
from kws.data.splits import speaker_id, which_set
from kws.data.synthetic import NOISE_FILES, generate
from kws.data.synthetic.__main__ import main

# Lines of the published lists. v0.02 validation_list.txt / testing_list.txt as copied in
# github.com/ubkarakaya/Human-Data-Analytic; v0.01 ones as in
# github.com/christosfranco/Signal-Processing-and-Voice-Recognition.
VALIDATION_LISTED = [
    "right/a69b9b3e_nohash_0.wav",  # v0.02, first line
    "right/0d82fd99_nohash_0.wav",  # v0.02
    "eight/ff2b842e_nohash_3.wav",  # v0.02
    "cat/8b775397_nohash_0.wav",  # v0.01, first line
    "go/6a27a9bf_nohash_0.wav",  # v0.01
    "four/dca2797e_nohash_4.wav",  # v0.01
]
TESTING_LISTED = [
    "right/bb05582b_nohash_3.wav",  # v0.02, first line
    "right/893705bb_nohash_8.wav",  # v0.02
    "eight/893705bb_nohash_12.wav",  # v0.02
    "cat/2aa787cf_nohash_0.wav",  # v0.01, first line
    "go/0ea0e2f4_nohash_1.wav",  # v0.01
    "four/27c30960_nohash_0.wav",  # v0.01
]
# In neither list: lines of a v0.02 training list derived as "every clip minus both lists"
# (github.com/danieleninni/small-footprint-keyword-spotting, training_list.txt).
TRAINING_UNLISTED = [
    "backward/0165e0e8_nohash_0.wav",
    "backward/017c4098_nohash_2.wav",
    "backward/0a2b400e_nohash_4.wav",
    "backward/2aca1e72_nohash_13.wav",
]

CLIP_NAME = re.compile(r"^[0-9a-f]{8}_nohash_\d+\.wav$")
SPEAKERS = 30  # seed 0 puts 3 of them in validation and 3 in testing


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate(tmp_path_factory.mktemp("synth") / "speech_commands", speakers=SPEAKERS)


def _clips(root: Path) -> list[str]:
    return sorted(f"{w}/{p.name}" for w in WORDS for p in (root / w).glob("*.wav"))


def _listed(root: Path, split: str) -> list[str]:
    return (root / f"{split}_list.txt").read_text().splitlines()


def test_speaker_id() -> None:
    assert speaker_id("bed/0a7c2a8d_nohash_0.wav") == "0a7c2a8d"
    assert speaker_id("/data/sc/eight/893705bb_nohash_12.wav") == "893705bb"


@pytest.mark.parametrize(
    ("name", "split"),
    [(n, "validation") for n in VALIDATION_LISTED]
    + [(n, "testing") for n in TESTING_LISTED]
    + [(n, "training") for n in TRAINING_UNLISTED],
)
def test_which_set_matches_published_lists(name: str, split: str) -> None:
    assert which_set(name) == split


def test_which_set_honours_percentages() -> None:
    # A testing clip's percentage lies in [10, 20), a validation clip's in [0, 10): so with the
    # thresholds moved these assignments follow from the published lists alone.
    assert which_set(TESTING_LISTED[0], validation_percentage=20, testing_percentage=0) == (
        "validation"
    )
    assert which_set(VALIDATION_LISTED[0], validation_percentage=0, testing_percentage=10) == (
        "testing"
    )
    assert which_set(VALIDATION_LISTED[0], 0, 0) == which_set(TESTING_LISTED[0], 0, 0) == "training"
    shares = Counter(which_set(f"{i:08x}_nohash_0.wav") for i in range(0, 2**32, 2**32 // 20000))
    assert 0.09 < shares["validation"] / 20000 < 0.11
    assert 0.09 < shares["testing"] / 20000 < 0.11


def test_layout(tree: Path) -> None:
    folders = sorted(p.name for p in tree.iterdir() if p.is_dir())
    assert folders == sorted([*WORDS, "_background_noise_"])
    assert len(WORDS) == 35 and set(KEYWORDS) <= set(WORDS) and list(WORDS) == sorted(WORDS)
    assert sorted(p.name for p in (tree / "_background_noise_").iterdir()) == sorted(NOISE_FILES)
    assert {p.name for p in tree.iterdir() if p.is_file()} == {
        "README.md",
        "validation_list.txt",
        "testing_list.txt",
    }
    for word in WORDS:
        for path in (tree / word).iterdir():
            assert CLIP_NAME.match(path.name), path
    assert len({speaker_id(c) for c in _clips(tree)}) == SPEAKERS


def test_audio_format(tree: Path) -> None:
    frames = []
    for rel in _clips(tree):
        info = sf.info(tree / rel)
        assert (info.samplerate, info.channels, info.subtype, info.format) == (
            SAMPLE_RATE,
            1,
            "PCM_16",
            "WAV",
        ), rel
        frames.append(info.frames)
    frames = np.array(frames)
    assert frames.max() == SAMPLE_RATE and frames.min() >= 0.6 * SAMPLE_RATE
    assert 0.02 < np.mean(frames < SAMPLE_RATE) < 0.25  # most are 1 s, some are cut short
    for name in NOISE_FILES:
        info = sf.info(tree / "_background_noise_" / name)
        assert (info.samplerate, info.channels, info.subtype) == (SAMPLE_RATE, 1, "PCM_16")
        assert info.duration >= 5


def test_lists_follow_which_set(tree: Path) -> None:
    clips = _clips(tree)
    splits: dict[str, set[str]] = {}
    for split in ("validation", "testing"):
        listed = _listed(tree, split)
        assert listed == sorted(listed) and listed, split
        assert set(listed) == {c for c in clips if which_set(c) == split}
        assert all((tree / rel).is_file() for rel in listed)
        splits[split] = {speaker_id(rel) for rel in listed}
    splits["training"] = {speaker_id(c) for c in clips if which_set(c) == "training"}
    assert not splits["training"] & splits["validation"]
    assert not splits["training"] & splits["testing"]
    assert not splits["validation"] & splits["testing"]


def test_keywords_dominate(tree: Path) -> None:
    counts = Counter(rel.split("/")[0] for rel in _clips(tree))
    keyword = np.mean([counts[w] for w in KEYWORDS])
    other = np.mean([counts[w] for w in WORDS if w not in KEYWORDS])
    assert keyword > 2.5 * other > 0


def test_speakers_differ_in_loudness(tree: Path) -> None:
    peaks = [np.abs(sf.read(tree / rel)[0]).max() for rel in _clips(tree)]
    assert np.percentile(peaks, 10) < 0.15 and np.percentile(peaks, 90) > 0.4


def _features(audio: np.ndarray) -> np.ndarray:
    """Log band energies of the loud part of a clip, minus their means (removes microphone colour
    and loudness), averaged over each quarter of it (keeps the order of the sounds)."""
    frames = np.lib.stride_tricks.sliding_window_view(audio, 400)[::160] * np.hanning(400)
    power = np.abs(np.fft.rfft(frames, 512)) ** 2
    bands = np.log(np.add.reduceat(power, np.geomspace(4, 240, 25).astype(int), axis=1) + 1e-9)
    loud = np.flatnonzero(bands.sum(1) > bands.sum(1).max() - 45)
    speech = bands[loud.min() : loud.max() + 1]
    return np.concatenate([q.mean(0) for q in np.array_split(speech - speech.mean(0), 4)])


def test_words_are_speaker_independent_patterns(tree: Path) -> None:
    """Nearest word centroid, learnt on training speakers, must recognise held-out speakers.

    Chance is 1/35: a generator that gave every word the same pattern (or a constant tone) fails.
    """
    train, held_out = [], []
    for rel in _clips(tree):
        sample = (_features(sf.read(tree / rel)[0]), rel.split("/")[0])
        (train if which_set(rel) == "training" else held_out).append(sample)
    words = sorted({w for _, w in train})
    centroids = np.stack([np.mean([f for f, w in train if w == word], 0) for word in words])
    hits = [words[np.argmin(((centroids - f) ** 2).sum(1))] == word for f, word in held_out]
    assert len(held_out) >= 50
    assert np.mean(hits) > 0.35


def test_deterministic(tmp_path: Path) -> None:
    first = generate(tmp_path / "a", speakers=3, seed=7)
    second = generate(tmp_path / "b", speakers=3, seed=7)
    other = generate(tmp_path / "c", speakers=3, seed=8)
    files = sorted(p.relative_to(first) for p in first.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(second) for p in second.rglob("*") if p.is_file())
    for rel in files:
        assert (first / rel).read_bytes() == (second / rel).read_bytes(), rel
    assert not {speaker_id(c) for c in _clips(first)} & {speaker_id(c) for c in _clips(other)}
    noise = Path("_background_noise_") / NOISE_FILES[0]
    assert (first / noise).read_bytes() != (other / noise).read_bytes()


def test_refuses_non_empty_folder(tmp_path: Path) -> None:
    out = tmp_path / "data"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="not empty"):
        generate(out, speakers=1)
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]  # no temporary folder left
    generate(out, speakers=1, force=True)
    assert not (out / "keep.txt").exists() and (out / "README.md").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]


def test_fills_an_existing_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    assert generate(tmp_path / "data", speakers=1) == tmp_path / "data"
    assert (tmp_path / "data" / "validation_list.txt").is_file()


def test_cli(tmp_path: Path) -> None:
    out = tmp_path / "cli"
    command = [sys.executable, "-m", "kws.data.synthetic", str(out), "--speakers", "2"]
    done = subprocess.run([*command, "--seed", "3"], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert re.search(r"^wrote \d+ clips from 2 speakers .* in [\d.]+ s$", done.stdout)
    with pytest.raises(SystemExit) as refused:  # in-process: a second interpreter costs seconds
        main([str(out), "--speakers", "2"])
    assert refused.value.code != 0 and "not empty" in str(refused.value.code)


def test_cli_without_out_dir_writes_where_data_synthetic_reads(tmp_path, monkeypatch) -> None:
    """``python -m kws.data.synthetic`` alone makes ``data/synthetic_speech_commands``."""
    monkeypatch.chdir(tmp_path)
    main(["--speakers", "2"])
    out = tmp_path / "data" / "synthetic_speech_commands"
    assert (out / "testing_list.txt").is_file() and len(list(out.glob("*/*.wav"))) > 35
    with pytest.raises(SystemExit) as refused:  # a folder of words needs its own place
        main(["--words", "a,b"])
    assert refused.value.code == 2


@pytest.mark.parametrize(
    ("package", "command"),
    [("synthetic", True), ("stream_audio", True), ("tts", True), ("folder", False)],
)
def test_each_generator_is_a_package_whose_command_alone_parses_arguments(package, command):
    """``python -m kws.data.<package>`` runs its ``__main__.py``, the one file that parses
    arguments; every file holds one job in at most 400 lines."""
    module = importlib.import_module(f"kws.data.{package}")
    assert hasattr(module, "__path__"), f"kws.data.{package} is a single module"
    files = {path.name: path.read_text() for path in Path(module.__file__).parent.glob("*.py")}
    assert ("__main__.py" in files) == command
    assert {name for name, text in files.items() if "argparse" in text} <= {"__main__.py"}
    assert max(len(text.splitlines()) for text in files.values()) <= 400
