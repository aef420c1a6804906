"""Long test audio: the labels say where each word is, streams repeat per seed, words keep to
their slots and to their split's speakers, noise streams hold no keyword, bad input is named."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections import Counter, namedtuple
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pytest
import soundfile as sf

from kws.data.audio import read_waveform
from kws.data.layout import (
    BACKGROUND_NOISE,
    CLIP_SAMPLES,
    KEYWORDS,
    SAMPLE_RATE,
    SILENCE,
    TESTING_LIST,
    UNKNOWN,
    VALIDATION_LIST,
)
from kws.data.splits import speaker_id
from kws.data.stream_audio import (
    CLIP_MS,
    StreamWriteError,
    find_clips,
    make_noise_stream,
    make_stream,
    mixing,
    plan_words,
)
from kws.data.stream_audio.__main__ import main

MS = SAMPLE_RATE // 1000


def listed(root: Path, list_name: str) -> set[str]:
    """The relative clip paths of a split list."""
    return set((root / list_name).read_text().split())


def relative(root: Path, path: Path) -> str:
    return path.relative_to(root).as_posix()


def split_of(root: Path, rel: str) -> str:
    """``train``, ``val`` or ``test``, as the lists say."""
    if rel in listed(root, VALIDATION_LIST):
        return "val"
    return "test" if rel in listed(root, TESTING_LIST) else "train"


def names(folder: Path) -> list[str]:
    """Every name in ``folder``, hidden ones included; [] when it does not exist."""
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


class Row(NamedTuple):
    label: str
    start_ms: int

    @property
    def is_keyword(self) -> bool:
        return self.label != UNKNOWN


def read_labels(path: Path) -> list[Row]:
    """The rows of a labels CSV, checking its header and time order."""
    header, *lines = path.read_text().splitlines()
    assert header == "label,start_ms"
    rows = [Row(label, int(start)) for label, start in (line.split(",") for line in lines)]
    assert rows == sorted(rows, key=lambda row: row.start_ms)
    return rows


def read_stream(path: Path) -> np.ndarray:
    audio, rate = sf.read(path, dtype="float32")
    assert rate == SAMPLE_RATE and audio.ndim == 1 and sf.info(path).subtype == "PCM_16"
    return audio


# --- the labels match the audio ------------------------------------------------------------------


def test_each_label_marks_a_clip_of_that_word_from_the_test_split(synthetic_root, tmp_path):
    """Without background, the audio is the placed clips and nothing else: at every labelled
    start it matches a clip of that word (of a non-keyword for ``_unknown_``) from
    testing_list.txt, found by correlation against every clip of the tree."""
    files = make_stream(synthetic_root, tmp_path, minutes=2.0, volume=0.0, seed=5)
    audio = read_stream(files.wav)
    rows = read_labels(files.labels)
    assert len(audio) == 120 * SAMPLE_RATE and files.seconds == 120.0
    assert len(rows) == 120_000 // (CLIP_MS + 2000) == 40
    assert files.keyword_count == sum(r.is_keyword for r in rows) > 0
    assert files.unknown_count == sum(r.label == UNKNOWN for r in rows) > 0

    clips = sorted(p for p in synthetic_root.glob("*/*.wav") if BACKGROUND_NOISE not in p.parts)
    bank = np.zeros((len(clips), CLIP_SAMPLES), dtype=np.float32)
    for i, path in enumerate(clips):
        clip = read_waveform(path)
        bank[i, : len(clip)] = clip
    bank /= np.linalg.norm(bank, axis=1, keepdims=True)
    segments = np.stack([audio[r.start_ms * MS :][:CLIP_SAMPLES] for r in rows])
    score = segments @ bank.T / np.linalg.norm(segments, axis=1, keepdims=True)
    testing = listed(synthetic_root, TESTING_LIST)
    for i, (row, best) in enumerate(zip(rows, score.argmax(axis=1), strict=True)):
        word = clips[best].parent.name
        assert score[i, best] > 0.99, (row, score[i, best])
        assert word == row.label if row.is_keyword else word not in KEYWORDS, (row, word)
        assert relative(synthetic_root, clips[best]) in testing, row

    silent = np.ones(len(audio), dtype=bool)
    for row in rows:
        silent[row.start_ms * MS : row.start_ms * MS + CLIP_SAMPLES] = False
    assert not np.any(audio[silent]), "sound where no word is labelled"


def test_the_labels_are_the_plan_and_the_background_is_there(synthetic_root, tmp_path):
    """The CSV is ``label,start_ms`` rows of the placements in time order; with the default
    background every second of the stream sounds, and a word is louder than the noise."""
    files = make_stream(synthetic_root, tmp_path, minutes=1.0, seed=3)
    clips = find_clips(synthetic_root, "test")
    plan = plan_words(clips, 60.0, seed=3)
    lines = files.labels.read_text().splitlines()
    assert lines[0] == "label,start_ms"
    assert lines[1:] == [f"{p.label},{p.start_ms}" for p in plan]

    audio = read_stream(files.wav)
    rms = np.sqrt(np.mean(audio.reshape(60, SAMPLE_RATE) ** 2, axis=1))
    assert np.all(rms > 0), "a second without background"
    loud = [np.abs(audio[p.start_ms * MS :][:CLIP_SAMPLES]).max() for p in plan]
    quiet = np.abs(audio).max(initial=0.0, where=_outside(plan, len(audio)))
    assert np.median(loud) > quiet


def _outside(plan, samples: int) -> np.ndarray:
    mask = np.ones(samples, dtype=bool)
    for p in plan:
        mask[p.start_ms * MS : p.start_ms * MS + CLIP_SAMPLES] = False
    return mask


# --- determinism ---------------------------------------------------------------------------------


def test_the_same_seed_gives_the_same_bytes_and_another_seed_others(synthetic_root, tmp_path):
    made = {
        run: make_stream(synthetic_root, tmp_path / run, minutes=0.5, seed=seed)
        for run, seed in (("a", 7), ("b", 7), ("c", 8))
    }
    a, b, c = made.values()
    for kind in ("wav", "labels", "info"):
        assert getattr(a, kind).read_bytes() == getattr(b, kind).read_bytes(), kind
    assert a.wav.read_bytes() != c.wav.read_bytes()
    assert a.labels.read_bytes() != c.labels.read_bytes()


# --- where the words go --------------------------------------------------------------------------


@pytest.mark.parametrize(("gap_ms", "jitter_ms"), [(2000, None), (1000, 250), (0, 0)])
def test_words_keep_to_their_slots(synthetic_root, gap_ms, jitter_ms):
    """Word ``i`` starts in ``[i * slot, i * slot + jitter]`` (slot = 1 s + gap), so clips
    never overlap and the average gap is ``gap_ms``; only slots ending in the stream count."""
    clips = find_clips(synthetic_root, "test")
    seconds = 3600.0
    plan = plan_words(clips, seconds, seed=1, gap_ms=gap_ms, jitter_ms=jitter_ms)
    jitter = gap_ms if jitter_ms is None else jitter_ms
    slot = CLIP_MS + gap_ms
    assert len(plan) == int(seconds * 1000) // slot
    offsets = np.array([p.start_ms - i * slot for i, p in enumerate(plan)])
    assert offsets.min() >= 0 and offsets.max() <= jitter
    if jitter:
        assert offsets.min() < 0.05 * jitter and offsets.max() > 0.95 * jitter
        assert abs(offsets.mean() - jitter / 2) < 0.05 * jitter
    gaps = np.diff([p.start_ms for p in plan]) - CLIP_MS
    assert gaps.min() >= 0 and abs(gaps.mean() - gap_ms) <= 0.02 * gap_ms + 1
    assert plan[-1].start_ms + CLIP_MS <= seconds * 1000


def test_about_the_chosen_share_of_words_is_unknown(synthetic_root):
    clips = find_clips(synthetic_root, "test")
    plan = plan_words(clips, 10 * 3600.0, seed=2)  # 12,000 words
    labels = Counter(p.label for p in plan)
    assert abs(labels[UNKNOWN] / len(plan) - 0.3) < 0.02
    keywords = [labels[word] for word in KEYWORDS]
    assert set(labels) == {UNKNOWN, *KEYWORDS}
    assert min(keywords) > 0.8 * 0.07 * len(plan) and max(keywords) < 1.2 * 0.07 * len(plan)
    every = {p.clip for p in plan}
    assert every == {p for paths in clips.keywords.values() for p in paths} | set(clips.unknown)
    for fraction in (0.0, 1.0):
        plan = plan_words(clips, 600.0, seed=2, unknown_fraction=fraction)
        assert {p.label == UNKNOWN for p in plan} == {fraction == 1.0}


@pytest.mark.parametrize("split", ["test", "val", "train"])
def test_words_come_only_from_the_chosen_split(synthetic_root, split):
    """Every clip placed is in the split's list (train: in neither list); a test or validation
    speaker is never a training speaker; ``_unknown_`` clips are non-keywords of the split."""
    clips = find_clips(synthetic_root, split)
    plan = plan_words(clips, 1200.0, seed=4)
    assert {p.label for p in plan} >= {UNKNOWN}
    for p in plan:
        rel = relative(synthetic_root, p.clip)
        assert split_of(synthetic_root, rel) == split, rel
        word = rel.split("/")[0]
        assert word == p.label if p.label != UNKNOWN else word not in KEYWORDS
    train = find_clips(synthetic_root, "train")
    train_speakers = {speaker_id(p.name) for paths in train.keywords.values() for p in paths}
    speakers = {speaker_id(p.clip.name) for p in plan}
    assert speakers.isdisjoint(train_speakers) == (split != "train")


def test_the_official_test_archive_is_the_test_split_when_given(synthetic_root, tmp_path):
    official = tmp_path / "speech_commands_test_set_v0.02"
    testing = sorted(listed(synthetic_root, TESTING_LIST))
    for name in (SILENCE, UNKNOWN, *KEYWORDS):
        (official / name).mkdir(parents=True)
    sf.write(official / SILENCE / "quiet.wav", np.zeros(SAMPLE_RATE), SAMPLE_RATE)
    for rel in testing:
        word, file = rel.split("/")
        folder = word if word in KEYWORDS else UNKNOWN
        shutil.copy(synthetic_root / rel, official / folder / f"{word}_{file}")
    clips = find_clips(synthetic_root, "test", test_root=official)
    assert all(p.parent == official / UNKNOWN for p in clips.unknown) and clips.unknown
    assert all(p.parent == official / "yes" for p in clips.keywords["yes"])
    files = make_stream(synthetic_root, tmp_path / "out", minutes=0.5, test_root=official)
    assert files.keyword_count > 0


# --- noise streams -------------------------------------------------------------------------------


def test_a_noise_stream_has_no_keyword(synthetic_root, tmp_path):
    quiet = make_noise_stream(synthetic_root, tmp_path, minutes=0.5, name="quiet")
    assert quiet.labels.read_text() == "label,start_ms\n"
    assert quiet.keyword_count == quiet.unknown_count == 0
    audio = read_stream(quiet.wav)
    assert len(audio) == 30 * SAMPLE_RATE and np.sqrt(np.mean(audio**2)) > 1e-3

    talk = make_noise_stream(synthetic_root, tmp_path, minutes=10, speech_fraction=0.5, seed=1)
    rows = read_labels(talk.labels)
    assert talk.wav.name == "noise_stream.wav" and talk.keyword_count == 0
    assert {r.label for r in rows} == {UNKNOWN} and talk.unknown_count == len(rows)
    assert 0.35 < len(rows) / (600_000 // (CLIP_MS + 2000)) < 0.65


def test_background_is_steady_across_segment_joins_and_loops_short_files(tmp_path):
    """Noise alone needs only ``_background_noise_``; a fixed gain keeps the level through the
    crossfades between segments, and a 1 s recording is looped under the longer segments."""
    root = tmp_path / "root"
    (root / BACKGROUND_NOISE).mkdir(parents=True)
    white = np.random.default_rng(0).standard_normal(SAMPLE_RATE) * 0.1
    sf.write(root / BACKGROUND_NOISE / "white.wav", white, SAMPLE_RATE, subtype="PCM_16")
    files = make_noise_stream(root, tmp_path / "out", minutes=0.5, volume=0.5, fixed_volume=True)
    audio = read_stream(files.wav)
    rms = np.sqrt(np.mean(audio.reshape(-1, 320) ** 2, axis=1))  # 20 ms windows
    assert np.allclose(rms, 0.05, rtol=0.2), (rms.min(), rms.max())
    joins = rms.reshape(-1, 50)[:, -5:]  # the 100 ms before each whole second: the crossfades
    assert abs(joins.mean() / rms.mean() - 1) < 0.03


# --- the command and bad input -------------------------------------------------------------------


def test_the_command_writes_what_the_function_writes(synthetic_root, tmp_path):
    out = tmp_path / "cli"
    command = [sys.executable, "-m", "kws.data.stream_audio", str(out)]
    settings = ["--root", str(synthetic_root), "--minutes", "0.25", "--seed", "2"]
    done = subprocess.run([*command, *settings], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert re.fullmatch(r"wrote \S+test_stream\.wav \(15 s; \d+ keywords, \d+ non-keywords\) .*\n",
                        done.stdout)  # fmt: skip
    assert "mixing" not in done.stderr  # no progress bar in a pipe
    assert names(out) == ["test_stream.json", "test_stream.wav", "test_stream_labels.csv"]
    same = make_stream(synthetic_root, tmp_path / "lib", minutes=0.25, seed=2)
    assert (out / "test_stream.wav").read_bytes() == same.wav.read_bytes()
    assert (out / "test_stream_labels.csv").read_bytes() == same.labels.read_bytes()

    main([str(out), "--root", str(synthetic_root), "--noise", "--minutes", "0.2", "--name", "n"])
    assert "n.wav" in names(out) and "n_labels.csv" in names(out)
    with pytest.raises(SystemExit):
        main([str(out), "--root", str(synthetic_root), "--speech-fraction", "0.5"])


def test_a_relative_root_finds_its_background_noise(synthetic_root, tmp_path, monkeypatch):
    """``--root`` relative to the working folder: the noise recordings are found under it once,
    not under the root joined to itself."""
    monkeypatch.chdir(synthetic_root.parent)
    relative_root = Path(synthetic_root.name)
    clips = find_clips(relative_root, "test")
    assert clips.noise and all(p.is_file() for p in clips.noise)
    assert clips.noise == [relative_root / p.relative_to(synthetic_root) for p in
                           find_clips(synthetic_root, "test").noise]  # fmt: skip
    out = tmp_path / "relative"
    main([str(out), "--root", str(relative_root), "--noise", "--speech-fraction", "0.5",
          "--minutes", "0.2", "--name", "n"])  # fmt: skip
    assert "n.wav" in names(out) and "n_labels.csv" in names(out)


def test_a_relative_root_is_written_once_and_absolute(synthetic_root, tmp_path, monkeypatch):
    """The stream's JSON names the data set by its absolute path, once: readable from any
    working folder."""
    monkeypatch.chdir(synthetic_root.parent)
    relative_root = synthetic_root.name
    main([str(tmp_path / "out"), "--root", relative_root, "--minutes", "0.2", "--volume", "0"])
    main([str(tmp_path / "out"), "--root", relative_root, "--minutes", "0.2", "--noise"])
    for name in ("test_stream.json", "noise_stream.json"):
        info = json.loads((tmp_path / "out" / name).read_text())
        assert info["root"] == str(synthetic_root), name


def quick_start_tree(tmp_path: Path, synthetic_root: Path, *folders: str) -> None:
    """A working folder holding ``data/<folder>`` for each of ``folders``: the generated data
    set, as ``python train.py experiment=quickstart`` leaves it there."""
    for folder in folders:
        (tmp_path / "data").mkdir(exist_ok=True)
        (tmp_path / "data" / folder).symlink_to(synthetic_root)


def test_without_root_the_generated_data_serves_when_the_real_is_absent(
    synthetic_root, tmp_path, monkeypatch, capsys
):
    """The README's ``python -m kws.data.stream_audio OUT_DIR --split test`` after the quick
    start: no ``data/speech_commands_v0.02``, only the generated ``data/synthetic_speech_commands``,
    which is used, and said so; the real data set comes first when it is there."""
    monkeypatch.chdir(tmp_path)
    message = _refused(["out", "--minutes", "0.2"])
    assert "data/speech_commands_v0.02" in message and "data/synthetic_speech_commands" in message
    assert "python -m kws.data.synthetic" in message and names(tmp_path / "out") == []
    quick_start_tree(tmp_path, synthetic_root, "synthetic_speech_commands")
    capsys.readouterr()
    main(["out", "--split", "test", "--minutes", "0.2"])
    said = capsys.readouterr()
    assert said.err.splitlines()[0] == (
        "--root: data/speech_commands_v0.02 is missing; using the generated data set "
        "data/synthetic_speech_commands"
    )
    assert said.out.startswith("wrote out/test_stream.wav (12 s; ")
    info = json.loads((tmp_path / "out" / "test_stream.json").read_text())
    assert info["root"] == str(tmp_path / "data" / "synthetic_speech_commands")
    quick_start_tree(tmp_path, synthetic_root, "speech_commands_v0.02")
    main(["out", "--minutes", "0.2"])
    assert "generated" not in capsys.readouterr().err
    info = json.loads((tmp_path / "out" / "test_stream.json").read_text())
    assert info["root"] == str(tmp_path / "data" / "speech_commands_v0.02")


@pytest.mark.parametrize("name", ["../../x", "sub/x", "..", ".x", "", "a\\b"])
def test_a_name_that_is_not_a_file_name_is_refused_before_anything_is_written(
    synthetic_root, tmp_path, capsys, name
):
    """``--name ../../x`` would write beside, or above, OUT_DIR."""
    out = tmp_path / "a" / "b" / "out"
    for noise in ([], ["--noise"]):
        with pytest.raises(SystemExit) as stopped:
            main([str(out), "--root", str(synthetic_root), "--minutes", "0.2", "--name", name,
                  *noise])  # fmt: skip
        assert stopped.value.code == 2
        last = capsys.readouterr().err.splitlines()[-1]
        assert f"error: argument --name: name {name!r} must be a file name (" in last
    assert list(tmp_path.rglob("*")) == []
    with pytest.raises(ValueError, match="must be a file name"):
        make_noise_stream(synthetic_root, out, minutes=0.2, name=name)


def _refused(argv: list[str]) -> str:
    """Run the command in-process; the one ``error:`` line it exits with."""
    with pytest.raises(SystemExit) as stopped:
        main(argv)
    message = str(stopped.value.code)
    assert message.startswith("error: ") and "\n" not in message
    return message


def test_a_missing_root_is_one_error_line_and_nothing_is_written(tmp_path):
    message = _refused([str(tmp_path / "out"), "--root", str(tmp_path / "nowhere")])
    assert str(tmp_path / "nowhere") in message and "no such folder" in message
    assert names(tmp_path / "out") == []


def test_a_corrupt_clip_of_the_split_is_named_and_nothing_is_written(root, tmp_path):
    """A bad clip among those this seed places stops the run before anything is written."""
    bad = plan_words(find_clips(root, "test"), 60.0)[0].clip  # what --minutes 1 places first
    bad.write_bytes(b"RIFF" + b"\x00" * 40)
    out = tmp_path / "out"
    message = _refused([str(out), "--root", str(root), "--minutes", "1"])
    assert message.startswith(f"error: {bad}: ")
    assert names(out) == []
    # a clip of another split is not the stream's business
    make_stream(root, out, split="val", minutes=0.2)


def test_a_corrupt_noise_file_is_named(root, tmp_path):
    bad = sorted((root / BACKGROUND_NOISE).glob("*.wav"))[1]
    bad.write_bytes(b"garbage")
    message = _refused([str(tmp_path / "out"), "--root", str(root), "--noise", "--minutes", "1"])
    assert message.startswith(f"error: {bad}: ") and names(tmp_path / "out") == []


def test_a_write_that_fails_keeps_the_old_stream_and_leaves_no_temporary(
    synthetic_root, tmp_path, monkeypatch
):
    old = make_stream(synthetic_root, tmp_path, minutes=0.5)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    read_word, calls = mixing._read_word, []

    def disk_full_on_the_third_word(path: Path, read: Any) -> np.ndarray:
        calls.append(path)
        if len(calls) == 3:
            raise OSError(28, "No space left on device")
        return read_word(path, read)

    monkeypatch.setattr(mixing, "_read_word", disk_full_on_the_third_word)
    with pytest.raises(StreamWriteError, match=re.escape(f"{old.wav}: cannot be written")):
        make_stream(synthetic_root, tmp_path, minutes=0.5, seed=1)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_too_little_free_space_stops_before_anything_is_written(
    synthetic_root, tmp_path, monkeypatch
):
    usage = namedtuple("Usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10**9, 10**9 - 1000, 1000))
    with pytest.raises(
        StreamWriteError, match=r"needs 96\d,\d{3} bytes and the disk has 1,000 free"
    ):
        make_stream(synthetic_root, tmp_path / "out", minutes=0.5)
    assert names(tmp_path / "out") == []


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ({"minutes": 0}, "minutes must be a positive"),
        ({"minutes": 0.01}, "too short for a word"),
        ({"minutes": 1e6}, "too long for one WAV file"),
        ({"unknown_fraction": 1.5}, "unknown_fraction must be in"),
        ({"gap_ms": 1000, "jitter_ms": 1500}, "jitter_ms must be in"),
        ({"volume": float("nan")}, "volume must be"),
        ({"split": "dev"}, "split must be one of"),
        ({"seed": -1}, "seed must be at least 0"),
        ({"keywords": ["yes", "yes"]}, "keywords must be distinct"),
        ({"keywords": ["yes", "marvel"]}, r"no clips of the keywords \['marvel'\]"),
    ],
)
def test_settings_out_of_range_are_named(synthetic_root, tmp_path, setting, message):
    with pytest.raises((ValueError, FileNotFoundError), match=message):
        make_stream(synthetic_root, tmp_path / "out", **setting)
    assert names(tmp_path / "out") == []
