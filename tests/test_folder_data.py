"""A folder of one's own words (``data=folder``): conversion to 16 kHz mono clips of any length,
splits by speaker, classes and balance, bad input listed at once, and training end to end."""

from __future__ import annotations

import json
import math
import re
import shutil
from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import soxr
import torch

from kws.data import SILENCE, UNKNOWN, FolderDataModule
from kws.data.audio import read_clip
from kws.data.cache import BadFilesError
from kws.data.folder import FolderIndex
from kws.data.splits import speaker_set
from kws.data.stream_audio import write_word_stream
from kws.data.synthetic import speak, speaker_ids, write_words
from kws.data.tree import DataTreeError
from kws_runtime.audio import RESAMPLE_QUALITY

SPEAKERS = 30  # seed 0: 24 in training, 3 in validation, 3 in testing by the speaker hash
KEYWORDS = ["hey_kitchen", "lights_on"]


@pytest.fixture(scope="session")
def own_words(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four words that are not Speech Commands words by 30 speakers, no list files:
    ``hey_kitchen`` and ``banana`` as 44.1 kHz stereo FLAC (the second channel at 0.8 of the
    first), ``lights_on`` and ``window`` as 48 kHz mono WAV."""
    base = tmp_path_factory.mktemp("own_words")
    flac = write_words(base / "flac", ["hey_kitchen", "banana"], SPEAKERS, 0, 44100, 2, ".flac")
    wav = write_words(base / "wav", ["lights_on", "window"], SPEAKERS, 0, 48000, 1, ".wav")
    root = base / "words"
    root.mkdir()
    for tree in (flac, wav):
        for word in tree.iterdir():
            word.rename(root / word.name)
    return root


@pytest.fixture
def words(own_words: Path, tmp_path: Path) -> Path:
    """A private copy of the folder, so that a test may add or spoil files."""
    return Path(shutil.copytree(own_words, tmp_path / "words"))


def folder(root: Path, **settings) -> FolderDataModule:
    return FolderDataModule(root=str(root), keywords=settings.pop("keywords", KEYWORDS), **settings)


def row_of(dm: FolderDataModule, relative: str) -> np.ndarray:
    for split, index in dm.split_index.items():
        if relative in index.paths:
            return dm.datasets[split].clips[index.paths.index(relative)]
    raise AssertionError(f"{relative} is in no split")


def below_7khz(x: np.ndarray) -> np.ndarray:
    spectrum = np.fft.rfft(x)
    spectrum[np.fft.rfftfreq(len(x), 1 / 16000) > 7000] = 0  # soxr keeps the band below it
    return np.fft.irfft(spectrum, len(x))


# --- conversion -----------------------------------------------------------------------------


def test_flac_and_wav_at_any_rate_become_the_16khz_mono_recording(own_words, tmp_path):
    dm = folder(own_words, cache_dir=str(tmp_path / "cache"))
    dm.setup()
    assert dm.clip_samples == 16000
    for i, sid in enumerate(speaker_ids(0, SPEAKERS)[:6]):
        for word, name, level in [("hey_kitchen", f"{sid}_nohash_0.flac", 0.9),  # (1 + 0.8) / 2
                                  ("lights_on", f"{sid}_nohash_0.wav", 1.0)]:  # fmt: skip
            spoken = speak(word, i).astype(float)  # what write_words resampled and wrote
            expected = np.zeros(16000)
            expected[: len(spoken)] = level * spoken
            row = below_7khz(row_of(dm, f"{word}/{name}").astype(float))
            error = np.sqrt(np.mean((row - below_7khz(expected)) ** 2))
            assert error < 0.01 * np.sqrt(np.mean(expected**2)), (word, i)  # 40 dB below it


def test_16khz_mono_rows_are_speech_commands_rows_and_stereo_is_mixed_down(tmp_path):
    rng = np.random.default_rng(0)
    (tmp_path / "yes").mkdir()
    mono = rng.uniform(-0.5, 0.5, 12000)
    sf.write(tmp_path / "yes" / "a.wav", mono, 16000, subtype="PCM_16")
    sf.write(tmp_path / "yes" / "b.wav", np.stack([mono, -mono], 1), 16000, subtype="PCM_16")
    sf.write(tmp_path / "yes" / "c.wav", np.stack([mono, mono], 1), 16000, subtype="PCM_16")
    fmt = FolderIndex(tmp_path, ("yes",)).clip_format
    assert np.array_equal(read_clip(tmp_path / "yes" / "a.wav", fmt),
                          read_clip(tmp_path / "yes" / "a.wav"))  # fmt: skip
    assert not read_clip(tmp_path / "yes" / "b.wav", fmt).any()  # left and right cancel
    assert np.array_equal(read_clip(tmp_path / "yes" / "c.wav", fmt),
                          read_clip(tmp_path / "yes" / "a.wav"))  # fmt: skip


def test_a_row_is_soxr_on_the_channels_mean(tmp_path):
    rng = np.random.default_rng(4)
    (tmp_path / "word").mkdir()
    files = {}
    for name, rate, channels in [("a.flac", 44100, 2), ("b.wav", 48000, 3), ("c.aiff", 22050, 1)]:
        audio = rng.integers(-12000, 12000, (int(0.8 * rate), channels), dtype=np.int16)
        sf.write(tmp_path / "word" / name, audio, rate)
        mean = audio.astype(np.float64).mean(axis=1) / 32768
        files[name] = rate, mean
    fmt = FolderIndex(tmp_path, ("word",)).clip_format
    for _ in range(2):  # each decoding thread keeps its resampler: later clips are resampled alike
        for name, (rate, mean) in files.items():
            expected = soxr.resample(mean.astype(np.float32), rate, 16000, RESAMPLE_QUALITY)
            row = read_clip(tmp_path / "word" / name, fmt)
            assert len(expected) == 12800 and not row[12800:].any()
            assert np.abs(row[:12800] - np.round(expected * 32768)).max() <= 1, name


def take(
    seconds: float,
    bursts: list[tuple[float, float, float]],
    rate: int = 16000,
    channels: int = 1,
    seed: int = 5,
) -> np.ndarray:
    """A recording of quiet room noise (-66 dBFS) with 1 kHz tone bursts ``(start_s, length_s,
    amplitude)``, float ``(frames,)``, or ``(frames, channels)`` with every channel at 1 / (1 +
    its index) of the first."""
    t = np.arange(round(seconds * rate)) / rate
    audio = np.random.default_rng(seed).uniform(-5e-4, 5e-4, len(t))
    for start, length, amplitude in bursts:
        audio += np.where((t >= start) & (t < start + length),
                          amplitude * np.sin(2 * np.pi * 1000 * t), 0.0)  # fmt: skip
    if channels == 1:
        return audio
    return np.stack([audio / (1 + c) for c in range(channels)], axis=1)


def write_take(path: Path, audio: np.ndarray, rate: int = 16000) -> np.ndarray:
    """Write ``audio`` as 16-bit PCM; return the int16 samples the file holds."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, audio, rate, subtype="PCM_16")
    return sf.read(path, dtype="int16")[0]


def loudest_by_brute_force(samples: np.ndarray, length: int) -> int:
    """The start of the ``length`` window with the most energy, one window at a time."""
    x = samples.astype(np.float64) ** 2
    return int(np.argmax([x[i : i + length].sum() for i in range(len(x) - length + 1)]))


def test_the_loudest_window_keeps_a_burst_late_in_a_3_second_take(tmp_path):
    """A 0.4 s burst at 1.7 s of a 3 s take: the loudest 1 s window holds all of it, where the
    first second (data.align=cut) holds none of it."""
    held = write_take(tmp_path / "word" / "late.wav", take(3.0, [(1.7, 0.4, 0.5)]))
    index = FolderIndex(tmp_path, ("word",))
    assert index.align == "loudest"  # the default
    assert index.inspect(index.find(index.scan())) == {}  # 3 s is no problem
    row = read_clip(tmp_path / "word" / "late.wav", index.clip_format)
    start = loudest_by_brute_force(held, 16000)
    assert 11200 <= start <= 27200  # 1.1 s to 1.7 s: windows that hold the whole burst
    np.testing.assert_array_equal(row, held[start : start + 16000])
    burst = np.flatnonzero(np.abs(row) > 0.25 * 32768)
    assert 27200 - start <= burst[0] < burst[-1] <= 33600 - start  # 1.7 s to 2.1 s, all there
    assert burst[-1] - burst[0] > 6380  # of 6400 samples
    assert np.sum(row.astype(float) ** 2) > 0.999 * np.sum(held.astype(float) ** 2)
    cut = read_clip(tmp_path / "word" / "late.wav", replace(index, align="cut").clip_format)
    assert np.array_equal(cut, held[:16000]) and np.abs(cut).max() < 20  # noise only


@pytest.mark.parametrize(("rate", "channels"), [(22050, 1), (44100, 2)])
def test_the_loudest_window_of_a_converted_flac(tmp_path, rate, channels):
    """22.05 kHz mono and 44.1 kHz stereo FLAC: converted as before (the channels' mean,
    resampled with soxr), then the loudest window of the converted take, whole burst in it."""
    held = write_take(tmp_path / "word" / "late.flac", take(3.0, [(1.7, 0.4, 0.5)], rate,
                                                           channels), rate)  # fmt: skip
    mean = held.reshape(len(held), -1).astype(np.float64).mean(axis=1) / 32768
    converted = np.round(soxr.resample(mean.astype(np.float32), rate, 16000, RESAMPLE_QUALITY)
                         * 32768)  # fmt: skip
    assert len(converted) == 48000
    row = read_clip(tmp_path / "word" / "late.flac", FolderIndex(tmp_path, ("word",)).clip_format)
    level = 0.5 * (1 + 1 / 2) / 2 if channels == 2 else 0.5  # the mean of 1 and 1/2 of it
    onset = np.flatnonzero(np.abs(row) > level / 2 * 32768)[0]
    offset = np.flatnonzero(np.abs(converted) > level / 2 * 32768)[0] - onset
    assert 11200 <= offset <= 27200
    assert np.abs(row - converted[offset : offset + 16000]).max() <= 1
    assert np.sum(row.astype(float) ** 2) > 0.999 * np.sum(converted**2)


def test_start_trims_leading_silence_and_cut_keeps_the_first_seconds(tmp_path):
    """A quiet burst at 0.6 s, a loud one at 2.0 s: ``cut`` keeps 0 to 1 s, ``start`` 0.6 to
    1.6 s (from the first 10 ms within 30 dB of the loudest), ``loudest`` the loud burst. A
    take shorter than the row: kept whole from its start (``cut``, ``loudest``) or from its
    sound (``start``), zero-padded."""
    held = write_take(tmp_path / "word" / "two.wav", take(3.0, [(0.6, 0.2, 0.3), (2.0, 0.4, 0.8)]))
    short = write_take(tmp_path / "word" / "short.wav", take(0.8, [(0.3, 0.2, 0.5)]))
    rows = {}
    for align in ("loudest", "start", "cut"):
        fmt = FolderIndex(tmp_path, ("word",), align=align).clip_format
        rows[align] = [
            read_clip(tmp_path / "word" / name, fmt) for name in ("two.wav", "short.wav")
        ]
    assert np.array_equal(rows["cut"][0], held[:16000])
    assert np.array_equal(rows["start"][0], held[9600:25600])
    start = loudest_by_brute_force(held, 16000)
    assert 22400 <= start <= 32000 and np.array_equal(
        rows["loudest"][0], held[start : start + 16000]
    )
    for align in ("cut", "loudest"):
        assert np.array_equal(rows[align][1][:12800], short) and not rows[align][1][12800:].any()
    assert (
        np.array_equal(rows["start"][1][:8000], short[4800:]) and not rows["start"][1][8000:].any()
    )


def test_a_clip_seconds_row_of_every_length_under_every_align(tmp_path):
    """Takes of 1.0, 1.55 and 1.7 s at clip_seconds=1.5 all make 1.5 s rows (data.long_clips
    refused the 1.7 s one), and a word clip over a minute is refused, named."""
    rng = np.random.default_rng(1)
    audio = {name: rng.integers(-16000, 16000, int(seconds * 16000), dtype=np.int16)
             for name, seconds in [("short", 1.0), ("within", 1.55), ("long", 1.7)]}  # fmt: skip
    (tmp_path / "word").mkdir()
    for name, samples in audio.items():
        sf.write(tmp_path / "word" / f"{name}.wav", samples, 16000)
    for align in ("loudest", "start", "cut"):
        index = FolderIndex(tmp_path, ("word",), clip_seconds=1.5, align=align)
        fmt = index.clip_format
        assert fmt.clip_samples == 24000
        assert index.inspect(index.find(index.scan())) == {}
        short = read_clip(tmp_path / "word" / "short.wav", fmt)
        assert np.array_equal(short[:16000], audio["short"]) and not short[16000:].any()
        for name in ("within", "long"):
            row = read_clip(tmp_path / "word" / f"{name}.wav", fmt)
            first = 0 if align != "loudest" else loudest_by_brute_force(audio[name], 24000)
            assert np.array_equal(row, audio[name][first : first + 24000]), (align, name)
    sf.write(tmp_path / "word" / "hour.wav", np.zeros(61 * 8000, dtype=np.int16), 8000)
    index = FolderIndex(tmp_path, ("word",))
    assert index.inspect(index.find(index.scan())) == {
        str(tmp_path / "word" / "hour.wav"): "61.000 s long, expected at most 60 s"
    }


def test_changing_align_builds_another_cache_and_going_back_reuses_the_first(tmp_path):
    words = tmp_path / "words"
    held = {}
    for i in range(20):
        held[i] = write_take(words / "word" / f"s{i}_nohash_0.wav",
                             take(2.5, [(1.2 + 0.02 * i, 0.3, 0.5)], seed=i))  # fmt: skip
        write_take(words / "other" / f"s{i}_nohash_0.wav", take(0.5, [(0.1, 0.2, 0.4)], seed=i))
    cache = tmp_path / "cache"

    def rows(align: str) -> dict[str, np.ndarray]:
        dm = FolderDataModule(root=str(words), keywords=["word"], align=align,
                              cache_dir=str(cache), protocol="all_unknown")  # fmt: skip
        dm.setup()
        return {path: row_of(dm, path) for path in dm.split_index["train"].paths
                if path.startswith("word/")}  # fmt: skip

    def built() -> dict[str, int]:  # {align: when its manifest was written}, of each cache
        manifests = [folder / "manifest.json" for folder in cache.iterdir()]
        return {json.loads(m.read_text())["align"]: m.stat().st_mtime_ns for m in manifests}

    cut = rows("cut")
    first = built()
    loudest = rows("loudest")
    assert list(first) == ["cut"] and built().keys() == {"cut", "loudest"}
    assert len(cut) == len(loudest) > 10
    for path, row in cut.items():
        i = int(path.split("/s")[1].split("_")[0])
        assert np.array_equal(row, held[i][:16000])
        start = loudest_by_brute_force(held[i], 16000)
        burst = np.flatnonzero(np.abs(held[i]) > 0.25 * 32768)  # 1.2 + 0.02 i s, 0.3 s long
        assert start <= burst[0] and burst[-1] < start + 16000 and burst[-1] > 16000
        assert np.array_equal(loudest[path], held[i][start : start + 16000])
    again = rows("cut")
    assert built()["cut"] == first["cut"]  # opened, not rebuilt
    assert all(np.array_equal(again[path], cut[path]) for path in cut)


@pytest.mark.parametrize("old", ["data.long_clips=cut", "data.long_tolerance_s=0.5"])
def test_the_removed_long_clips_settings_name_data_align(compose_config, tmp_path, old):
    from kws.tasks import train

    cfg = compose_config(["data=folder", f"data.root={tmp_path}", "data.keywords=[a,b]", old])
    with pytest.raises(ValueError, match=rf"^{old.split('=')[0]} is gone: data\.align"):
        train(cfg)


def test_clip_seconds_1_5_runs_through_the_frontend_and_the_heads(own_words, tmp_path):
    from kws.training import KWSModule

    dm = folder(own_words, clip_seconds=1.5, batch_size=8, cache_dir=str(tmp_path / "cache"))
    dm.setup()
    waveforms, labels = dm.batches.waveforms(next(iter(dm.train_dataloader())))
    assert waveforms.shape == (8, 24000)
    mel = {"_target_": "kws.frontend.MelSpectrogram", "n_fft": 512, "win_length": 480,
           "hop_length": 160, "n_mels": 40}  # fmt: skip
    heads = {
        "bcresnet": {"_target_": "kws.models.BCResNet", "tau": 1.0},
        "linear": {"_target_": "kws.models.LinearClassifier", "n_features": None, "frames": None},
    }
    for name, head in heads.items():
        module = KWSModule(frontend=mel, model=head, class_names=dm.class_names,
                           optimizer={"_target_": "torch.optim.SGD", "lr": 0.1},
                           clip_samples=dm.clip_samples).eval()  # fmt: skip
        with torch.no_grad():
            assert module.spotter.frontend(waveforms).shape == (8, 40, 151)  # 1 + 24000 / 160
            logits = module(waveforms)
        assert logits.shape == (8, 3) and torch.isfinite(logits).all(), name


# --- splits ---------------------------------------------------------------------------------


def test_no_speaker_is_in_two_splits_and_the_hash_sets_the_shares(own_words):
    index = FolderIndex(own_words, tuple(KEYWORDS), protocol="all_unknown")
    built = index.build_index()
    speakers = {split: {index.speaker(p) for p in built[split].paths} for split in built}
    assert speakers["train"].isdisjoint(speakers["val"] | speakers["test"])
    assert speakers["val"].isdisjoint(speakers["test"])
    assert [len(speakers[s]) for s in ("train", "val", "test")] == [24, 3, 3]
    assert sum(len(split.paths) for split in built.values()) == 4 * SPEAKERS  # every clip, once


def test_adding_files_moves_no_clip_to_another_split(words):
    def splits() -> dict[str, str]:
        built = FolderIndex(words, tuple(KEYWORDS), protocol="all_unknown").build_index()
        return {path: split for split, index in built.items() for path in index.paths}

    before = splits()
    for i, sid in enumerate(speaker_ids(7, 40)):  # 40 new speakers, and new takes of old ones
        for word in ("hey_kitchen", "window"):
            clip = speak(word, i, seed=7).astype(np.float32) / 32768
            sf.write(words / word / f"{sid}_nohash_0.wav", clip, 16000, subtype="PCM_16")
    old = speaker_ids(0, SPEAKERS)[0]
    sf.write(words / "banana" / f"{old}_nohash_5.wav", np.zeros(8000), 16000, subtype="PCM_16")
    after = splits()
    assert len(after) == len(before) + 81
    assert {path: after[path] for path in before} == before
    assert after[f"banana/{old}_nohash_5.wav"] == before[f"banana/{old}_nohash_0.flac"]


def test_a_speaker_pattern_finds_speakers_in_other_names_and_folders(tmp_path):
    takes = {"alice": 6, "bob": 6, "carol": 6, "dave": 6, "erin": 6, "frank": 6}
    for word in ("open", "close"):
        for person, count in takes.items():
            (tmp_path / word / person).mkdir(parents=True)
            for take in range(count):
                sf.write(tmp_path / word / person / f"take{take}.wav", np.full(3200, 0.1), 16000)
    index = FolderIndex(tmp_path, ("open", "close"), unknown=False,
                        speaker_pattern=r"^(?P<speaker>[a-z]+)/", validation_percentage=30,
                        testing_percentage=30)  # fmt: skip
    built = index.build_index()
    where = {index.speaker(p): split for split, i in built.items() for p in i.paths}
    assert set(where) == set(takes)  # six speakers, each in one split, every take with it
    for split, split_index in built.items():
        assert all(where[index.speaker(p)] == split for p in split_index.paths)
        assert Counter(index.speaker(p) for p in split_index.paths) == {
            person: 12 for person, chosen in where.items() if chosen == split
        }


def test_list_files_decide_the_splits_when_present(words):
    names = sorted(p.name for p in (words / "hey_kitchen").iterdir())
    (words / "validation_list.txt").write_text(f"hey_kitchen/{names[0]}\nlights_on/x.wav\n")
    (words / "testing_list.txt").write_text(f"hey_kitchen/{names[1]}\n")
    with pytest.raises(BadFilesError) as error:
        folder(words).setup()
    assert error.value.problems == {
        str(words / "lights_on" / "x.wav"): "named in validation_list.txt but missing"
    }
    dm = folder(words, skip_bad_files=True)
    dm.setup()
    assert dm.split_index["val"].paths[:1] == [f"hey_kitchen/{names[0]}"]
    keyword = [p for p in dm.split_index["test"].paths if not p.startswith("banana")]
    assert keyword == [f"hey_kitchen/{names[1]}"]


def hey_kitchen_take(words: Path) -> str:
    """The first ``hey_kitchen`` recording's name."""
    return sorted(p.name for p in (words / "hey_kitchen").iterdir())[0]


@pytest.mark.parametrize(
    ("link", "target", "why"),
    [  # (the link below the root, where it points, relative to the link's folder)
        ("banana/loopdir", "..", "holds the link itself (a loop)"),
        ("banana/up", "../..", "holds the link itself (a loop)"),  # the root's parent
        ("banana/again", ".", "holds the link itself (a loop)"),
        ("banana/x_nohash_0.flac", "../hey_kitchen/{take}", "read through {words}/hey_kitchen"),
        ("music", "hey_kitchen", "read through {words}/hey_kitchen"),  # a word folder that is one
    ],
)
def test_a_link_that_would_read_a_recording_twice_stops_naming_it(words, link, target, why):
    """A recording reached through a link and again where it is would be indexed twice, under
    another word folder (``_unknown_``) and another speaker's split: the scan stops instead."""
    (words / link).parent.mkdir(exist_ok=True)
    (words / link).symlink_to(target.format(take=hey_kitchen_take(words)))
    index = FolderIndex(words, tuple(KEYWORDS))
    with pytest.raises(DataTreeError) as error:
        index.build_index()
    message = str(error.value)
    assert message.startswith(f"{words / link} is a link to ") and "\n" not in message
    assert why.format(words=words.resolve()) in message
    (words / link).unlink()
    assert sum(len(split.paths) for split in index.build_index().values()) > 0


def test_links_to_recordings_elsewhere_are_read_once_under_their_folder(words, tmp_path):
    """Links to recordings outside the root are followed; two links to one are refused."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    take = hey_kitchen_take(words)
    shutil.move(words / "hey_kitchen" / take, elsewhere / take)
    (words / "hey_kitchen" / take).symlink_to(elsewhere / take)
    shutil.move(words / "window", elsewhere / "window")
    (words / "window").symlink_to(elsewhere / "window")
    index = FolderIndex(words, tuple(KEYWORDS), protocol="all_unknown")
    paths = [p for split in index.build_index().values() for p in split.paths]
    assert len(paths) == len(set(paths)) == 4 * SPEAKERS  # every clip once, as before
    assert f"hey_kitchen/{take}" in paths
    assert sum(p.startswith("window/") for p in paths) == SPEAKERS
    (words / "banana" / "y_nohash_0.flac").symlink_to(elsewhere / take)
    with pytest.raises(DataTreeError) as error:
        index.build_index()
    message = str(error.value)  # one of the two links is named, and the other as the reason
    assert message.count(" is a link to ") == 1 and " already: " in message
    assert str(words / "banana" / "y_nohash_0.flac") in message
    assert str(words / "hey_kitchen" / take) in message
    (words / "banana" / "y_nohash_0.flac").unlink()
    negatives = tmp_path / "negatives"  # a keyword recording as a negative: refused too
    negatives.mkdir()
    (negatives / "k.flac").symlink_to(words / "lights_on" / "00b37868_nohash_0.wav")
    with pytest.raises(DataTreeError, match=f"^{negatives / 'k.flac'} is a link to "):
        replace(index, negatives=(negatives,)).scan()


# --- classes and balance --------------------------------------------------------------------


def long_recording(path: Path, seconds: float, rate: int = 22050) -> np.ndarray:
    audio = np.random.default_rng(2).integers(-9000, 9000, int(seconds * rate), dtype=np.int16)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, audio, rate)
    return audio


@pytest.mark.parametrize("protocol", ["bcresnet", "tensorflow", "all_unknown"])
def test_classes_and_their_sizes_follow_the_protocol(own_words, tmp_path, protocol):
    long_recording(tmp_path / "negatives" / "kitchen_radio.wav", 30.3)  # 30 pieces and 0.3 s
    noise = np.random.default_rng(3).uniform(-0.2, 0.2, (3 * 32000, 2))
    (tmp_path / "noise").mkdir()
    sf.write(tmp_path / "noise" / "fan.flac", noise, 32000, subtype="PCM_16")
    dm = folder(own_words, protocol=protocol, negatives=[str(tmp_path / "negatives")],
                noise_dir=str(tmp_path / "noise"), cache_dir=str(tmp_path / "cache"))  # fmt: skip
    assert dm.class_names == [SILENCE, UNKNOWN, *KEYWORDS]
    dm.setup()
    index = dm.clip_source
    clips = index.find(index.scan()).word_clips
    assert len(clips[str(tmp_path / "negatives")]) == 31
    on_disk = {split: Counter() for split in ("train", "val", "test")}  # by the speaker hash
    for word, paths in clips.items():
        for path in paths:
            chosen = speaker_set(index.speaker(path))
            on_disk[{"training": "train", "validation": "val", "testing": "test"}[chosen]][
                word if word in KEYWORDS else UNKNOWN
            ] += 1
    for split, split_index in dm.split_index.items():
        per_class = Counter(dm.class_names[label] for label in split_index.labels)
        keyword_clips = sum(on_disk[split][word] for word in KEYWORDS)
        others = on_disk[split][UNKNOWN]
        assert {w: per_class[w] for w in KEYWORDS} == {w: on_disk[split][w] for w in KEYWORDS}
        size = math.ceil((0.1 if protocol == "tensorflow" else 0.5) * keyword_clips)
        assert per_class[SILENCE] == size
        assert per_class[UNKNOWN] == (others if protocol == "all_unknown" else min(size, others))
        silence = dm.datasets[split].clips[split_index.labels == 0]
        assert (np.abs(silence).max(axis=1) > 0).all() == (split != "train")  # fixed noise


def test_negative_pieces_are_the_recording_cut_into_clips(own_words, tmp_path):
    audio = long_recording(tmp_path / "negatives" / "street" / "walk.wav", 2.3, rate=16000)
    dm = folder(own_words, keywords=["hey_kitchen"], negatives=[str(tmp_path / "negatives")],
                protocol="all_unknown", cache_dir=str(tmp_path / "cache"))  # fmt: skip
    assert dm.class_names == [UNKNOWN, "hey_kitchen"]  # a detector: one keyword, the rest
    dm.setup()
    file = tmp_path / "negatives" / "street" / "walk.wav"
    pieces = [f"{file}#{k}" for k in range(3)]  # 1 s, 1 s, then 0.3 s padded
    rows = [row_of(dm, piece) for piece in pieces]
    expected = audio
    assert np.array_equal(rows[0], expected[:16000]) and np.array_equal(
        rows[1], expected[16000:32000]
    )
    assert np.array_equal(rows[2][:4800], expected[32000:]) and not rows[2][4800:].any()
    labels = {
        path: label
        for i in dm.split_index.values()
        for path, label in zip(i.paths, i.labels, strict=True)
    }
    assert {labels[piece] for piece in pieces} == {0}


def test_a_stream_of_a_folder_split_places_its_converted_clips_over_its_noise(own_words, tmp_path):
    (tmp_path / "noise").mkdir()
    noise = np.random.default_rng(4).uniform(-0.2, 0.2, (3 * 32000, 2))
    sf.write(tmp_path / "noise" / "fan.flac", noise, 32000, subtype="PCM_16")
    dm = folder(own_words, clip_seconds=1.5, noise_dir=str(tmp_path / "noise"),
                cache_dir=str(tmp_path / "cache"))  # fmt: skip
    dm.setup()
    clips = dm.stream_clips("test")
    rows = {  # the test split's cache rows, by the path stream_clips gives
        own_words / path: dm.datasets["test"].clips[i]
        for i, path in enumerate(dm.split_index["test"].paths)
        if path
    }
    placed = [path for word in KEYWORDS for path in clips.keywords[word]] + clips.unknown
    assert sorted(placed) == sorted(rows) and clips.clip_ms == 1500
    for path in placed[:3] + placed[-3:]:  # read as the cache reads: 44.1 / 48 kHz -> 16 kHz
        np.testing.assert_array_equal(clips.read(path) * 32768, rows[path])
    assert clips.noise == [tmp_path / "noise" / "fan.flac"]

    files = write_word_stream(clips, own_words, tmp_path / "stream", minutes=0.5, seed=1)
    audio, rate = sf.read(files.wav, dtype="float32")
    assert rate == 16000 and len(audio) == 30 * 16000
    with open(files.labels) as handle:
        labels = [line.strip().split(",") for line in handle][1:]
    starts = [int(start) for _, start in labels]
    assert len(labels) == 30_000 // (1500 + 2000)  # one word per slot of clip_seconds + gap
    assert [start // 3500 for start in starts] == list(range(len(labels)))
    assert {label for label, _ in labels} <= {*KEYWORDS, UNKNOWN}
    words = np.zeros(len(audio), dtype=bool)
    for start in starts:
        words[start * 16 : start * 16 + 24000] = True
    assert np.abs(audio[~words]).max() > 1e-3  # the noise folder's background between words
    assert json.loads(files.info.read_text())["clip_ms"] == 1500
    quiet = replace(clips, noise=[])  # a folder without noise_dir: a background needs volume 0
    with pytest.raises(FileNotFoundError, match=f"{own_words}: no background-noise recordings"):
        write_word_stream(quiet, own_words, tmp_path / "quiet", minutes=0.5)
    assert not (tmp_path / "quiet").exists()


# --- bad input ------------------------------------------------------------------------------


def test_every_problem_is_listed_at_once_and_nothing_is_built(words, tmp_path):
    (words / "empty_word").mkdir()
    (words / "empty_word" / "notes.txt").write_text("no audio here")
    (words / "broken").mkdir()
    (words / "broken" / "a.wav").write_bytes(b"not audio at all " * 10)
    short = words / "hey_kitchen" / "short_nohash_0.wav"
    sf.write(short, np.full(800, 0.1), 16000, subtype="PCM_16")  # 0.05 s
    long = words / "lights_on" / "long_nohash_0.flac"
    sf.write(long, np.full((61 * 8000, 2), 0.1), 8000, subtype="PCM_16")  # 61 s
    sf.write(words / "lights_on" / "take_nohash_0.flac", np.full((3 * 44100, 2), 0.1), 44100,
             subtype="PCM_16")  # 3 s: the loudest second is taken  # fmt: skip
    cache = tmp_path / "cache"
    dm = folder(words, keywords=["hey_kitchen", "stop"], speaker_pattern="^spk-",
                cache_dir=str(cache))  # fmt: skip
    with pytest.raises(BadFilesError) as error:
        dm.setup()
    problems = error.value.problems
    assert set(problems) == {
        str(words / "stop"), str(words / "empty_word"), str(words / "broken"),
        str(words / "broken" / "a.wav"), str(short), str(long), "data.speaker_pattern",
    }  # fmt: skip
    assert problems[str(words / "stop")].startswith("no such folder, but data.keywords names it")
    assert problems[str(words / "empty_word")].startswith("no recordings, only 1 other file(s)")
    assert problems[str(short)] == "0.050 s long, need at least 0.1 s"
    assert problems[str(long)] == "61.000 s long, expected at most 60 s"
    assert problems["data.speaker_pattern"].startswith("'^spk-' matches none of the 124 clips")
    assert str(error.value).startswith("7 problem(s) in the data:\n")
    assert not cache.exists() or not any(cache.iterdir()), "nothing half-built"
    with pytest.raises(BadFilesError, match="data.speaker_pattern"):  # not a bad file: stays
        folder(words, speaker_pattern="^spk-", skip_bad_files=True,
               cache_dir=str(cache)).setup()  # fmt: skip


def test_bad_files_alone_can_be_left_out(words, tmp_path):
    bad = words / "hey_kitchen" / "cut_nohash_0.wav"
    sf.write(bad, np.full(16000, 0.1), 16000, subtype="PCM_16")
    bad.write_bytes(bad.read_bytes()[:9000])
    with pytest.raises(BadFilesError) as error:
        folder(words, cache_dir=str(tmp_path / "cache")).setup()
    assert list(error.value.problems) == [str(bad)]
    assert str(error.value).startswith("1 bad file(s):\n")
    dm = folder(words, skip_bad_files=True, cache_dir=str(tmp_path / "cache"))
    dm.setup()
    assert list(dm.skipped_files) == [str(bad)]


def lost_sync(path: Path, seconds: float = 3.0) -> None:
    """A 44.1 kHz stereo FLAC whose bytes past the middle are overwritten with 4000 zeros: its
    header is whole, and libsndfile loses sync part-way through decoding it."""
    noise = np.random.default_rng(6).uniform(-0.5, 0.5, (round(seconds * 44100), 2))
    sf.write(path, noise, 44100, subtype="PCM_16")
    data = bytearray(path.read_bytes())
    data[len(data) // 2 : len(data) // 2 + 4000] = bytes(4000)
    path.write_bytes(bytes(data))


def test_flac_damaged_part_way_is_named_every_one_before_decoding(words, tmp_path):
    """FLAC files that lose sync half-way (the first second decodes) are each named by the
    check, before anything is built; left out with data.skip_bad_files=true."""
    damaged = [words / "hey_kitchen" / "x_nohash_0.flac", words / "banana" / "y_nohash_0.flac",
               words / "lights_on" / "z_nohash_1.flac"]  # fmt: skip
    for path in damaged:
        lost_sync(path)
        assert len(sf.read(path, frames=44100)[0]) == 44100  # its start reads
        with pytest.raises(sf.LibsndfileError):  # "lost sync", or another word for it
            sf.read(path)
    cache = tmp_path / "cache"
    for align in ("loudest", "cut"):  # cut reads only the first second, the check all of it
        with pytest.raises(BadFilesError) as error:
            folder(words, align=align, cache_dir=str(cache)).setup()
        assert sorted(error.value.problems) == sorted(str(path) for path in damaged)
        for problem in error.value.problems.values():
            assert problem.startswith(
                "damaged: decoding fails between 1.000 s and 2.000 s of its 3.000 s ("
            )
        assert str(error.value).startswith("3 bad file(s):\n")
        assert not cache.exists() or not any(cache.iterdir()), "nothing built"
    dm = folder(words, skip_bad_files=True, cache_dir=str(cache))
    dm.setup()
    assert sorted(dm.skipped_files) == sorted(str(path) for path in damaged)
    assert not any(p.startswith(("hey_kitchen/x_", "banana/y_")) for i in dm.split_index.values()
                   for p in i.paths)  # fmt: skip


def test_damaged_negatives_and_noise_are_named_too(own_words, tmp_path):
    (tmp_path / "negatives").mkdir()
    (tmp_path / "noise").mkdir()
    lost_sync(tmp_path / "negatives" / "radio.flac", 6.0)
    lost_sync(tmp_path / "noise" / "fan.flac", 6.0)
    with pytest.raises(BadFilesError) as error:
        folder(own_words, negatives=[str(tmp_path / "negatives")],
               noise_dir=str(tmp_path / "noise")).setup()  # fmt: skip
    assert sorted(error.value.problems) == [str(tmp_path / "negatives" / "radio.flac"),
                                            str(tmp_path / "noise" / "fan.flac")]  # fmt: skip
    problems = error.value.problems  # a negative is checked a second at a time, noise read whole
    damaged = r"damaged: decoding fails between {} s and {} s of its 6\.000 s \(.+\)"
    radio, fan = str(tmp_path / "negatives" / "radio.flac"), str(tmp_path / "noise" / "fan.flac")
    assert re.fullmatch(damaged.format(r"[23]\.000", r"[34]\.000"), problems[radio])
    assert re.fullmatch(damaged.format(r"0\.000", r"6\.000"), problems[fan])


def test_word_folders_and_files_with_spaces_end_to_end(compose_config, tmp_path):
    """A word folder "hey kitchen", files with spaces, list files naming them."""
    root = tmp_path / "my words"
    for i in range(12):
        for word, burst in (("hey kitchen", 0.8), ("other words", 0.3)):
            write_take(
                root / word / f"take {i}_nohash_0.wav", take(1.2, [(0.3, 0.4, burst)], seed=i)
            )
    (root / "validation_list.txt").write_text(
        "hey kitchen/take 0_nohash_0.wav\r\nother words/take 0_nohash_0.wav\r\n"
    )
    (root / "testing_list.txt").write_text("hey kitchen/take 1_nohash_0.wav\n\n")
    cfg = compose_config(["data=folder", f"data.root={root}", 'data.keywords=["hey kitchen"]'])
    assert list(cfg.data.keywords) == ["hey kitchen"]
    dm = folder(root, keywords=cfg.data.keywords, cache_dir=str(tmp_path / "cache"),
                batch_size=4, augment=False)  # fmt: skip
    dm.setup()
    assert dm.class_names == [UNKNOWN, "hey kitchen"]
    labelled = {split: dict(zip(i.paths, i.labels.tolist(), strict=True))
                for split, i in dm.split_index.items()}  # fmt: skip
    assert labelled["val"] == {"hey kitchen/take 0_nohash_0.wav": 1,
                               "other words/take 0_nohash_0.wav": 0}  # fmt: skip
    assert labelled["test"] == {"hey kitchen/take 1_nohash_0.wav": 1}
    assert sum(label == 1 for label in labelled["train"].values()) == 10
    waveforms, labels = dm.batches.waveforms(next(iter(dm.val_dataloader())))
    assert waveforms.shape == (2, 16000) and sorted(labels.tolist()) == [0, 1]
    loud = waveforms[labels == 1].abs().max()
    assert 0.75 < loud < 0.85  # the keyword's 0.8 burst, read from "hey kitchen/take 0..."


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ({"clip_seconds": 0.05}, "data.clip_seconds must be a number of at least 0.1, got 0.05"),
        ({"clip_seconds": 61}, "data.clip_seconds must be at most 60, got 61"),
        ({"align": "trim"}, "data.align must be one of 'loudest', 'start', 'cut', got 'trim'"),
        ({"long_clips": "refuse"}, "data.long_clips is gone: data.align ("),
        ({"long_tolerance_s": 0.1}, "data.long_tolerance_s is gone: data.align ("),
        ({"validation_percentage": 0}, "data.validation_percentage and data.testing_percentage"),
        ({"testing_percentage": 95}, "data.validation_percentage + data.testing_percentage must"),
        ({"speaker_pattern": "(unclosed"}, "data.speaker_pattern '(unclosed' is not a regular"),
        ({"keywords": ["a/b"]}, "data.keywords: ['a/b'] are not word folder names"),
        ({"keywords": [True]}, "data.keywords: [True] are not word folder names"),
        ({"keywords": ["stop"], "unknown": False}, "data.keywords: one keyword ['stop'] is one"),
        ({"keywords": ["a", "a"]}, "data.keywords names ['a'] more than once"),
        ({"negatives": "folder"}, "data.negatives must be a list of folders"),
    ],
)
def test_settings_out_of_range_name_their_key_at_once(tmp_path, setting, message):
    with pytest.raises(ValueError) as error:
        folder(tmp_path / "nowhere", **setting)  # no data needed: nothing is read
    assert str(error.value).startswith(message)


def test_missing_folders_and_misplaced_negatives_are_named(words, tmp_path):
    with pytest.raises(FileNotFoundError) as error:
        folder(tmp_path / "nowhere", negatives=[str(tmp_path / "gone")]).setup()
    assert str(error.value) == (
        f"data.root: {tmp_path / 'nowhere'} is not a folder; "
        f"data.negatives[0]: {tmp_path / 'gone'} is not a folder"
    )
    (words / "testing_list.txt").write_text("")
    with pytest.raises(BadFilesError) as error:
        folder(words, negatives=[str(words / "banana")], cache_dir=str(tmp_path / "c")).setup()
    assert set(error.value.problems) == {"data.negatives[0]", str(words / "validation_list.txt")}


# --- end to end -----------------------------------------------------------------------------


@pytest.mark.parametrize("model", ["linear", pytest.param("bcresnet", marks=pytest.mark.slow)])
def test_train_then_evaluate_from_the_checkpoint_alone(own_words, compose_config, tmp_path, model):
    from kws.tasks import evaluate, train

    quiet = "trainer.enable_progress_bar=false"
    cfg = compose_config(["data=folder", f"data.root={own_words}",
                          f"data.keywords=[{','.join(KEYWORDS)}]", "data.clip_seconds=1.5",
                          "data.batch_size=16", "trainer.max_epochs=2", f"model={model}",
                          "module.scheduler.warmup_epochs=0", quiet])  # fmt: skip
    metrics = train(cfg)
    checkpoint = torch.load(metrics["checkpoint"], map_location="cpu", weights_only=True)
    assert checkpoint["hyper_parameters"]["clip_samples"] == 24000
    assert checkpoint["hyper_parameters"]["class_names"] == [UNKNOWN, *KEYWORDS]
    assert checkpoint["datamodule_hyper_parameters"]["_target_"] == "kws.data.FolderDataModule"
    stream = ["stream=true", "stream_minutes=0.5", "stream_free_minutes=0.5",
              "detector.threshold=0.5"]  # fmt: skip
    evaluated = evaluate(
        compose_config([f"ckpt_path={metrics['checkpoint']}", quiet, *stream], name="evaluate")
    )
    assert evaluated["test/acc"] == pytest.approx(metrics["test/acc"], abs=1e-6)
    written = json.loads((tmp_path / "run" / "metrics.json").read_text())  # evaluate's
    assert written["classes"] == [UNKNOWN, *KEYWORDS] and written["num_clips"] == 9
    # the same split as streams of 1.5 s words (no noise folder: no background), one of them
    # keyword-free
    for name, file in [("words", "test_stream"), ("keyword_free", "test_keyword_free")]:
        with open(tmp_path / "run" / "stream" / f"{file}_labels.csv") as handle:
            placed = len(handle.readlines()) - 1
        # 1.5 s slots and a 2 s gap; the keyword-free stream labels its speech slots only
        assert placed == 30_000 // 3500 if name == "words" else 0 < placed <= 30_000 // 3500
        counted = evaluated["stream"]["streams"][name]["stream"]
        assert counted["keywords"] + counted["other_labels"] == placed
    assert evaluated["stream"]["streams"]["words"]["stream"]["keywords"] > 0
    assert evaluated["stream"]["streams"]["keyword_free"]["stream"]["keywords"] == 0


def test_stream_shaped_batches_of_a_folder_use_its_negatives_and_clip_length(own_words, tmp_path):
    long_recording(tmp_path / "negatives" / "radio.wav", 12.0, rate=22050)
    dm = folder(own_words, clip_seconds=1.5, negatives=[str(tmp_path / "negatives")],
                cache_dir=str(tmp_path / "cache"), batch_size=20,
                stream_examples={"negative_share": 0.5, "stream_minutes": 0.5})  # fmt: skip
    dm.setup()
    stream = dm.batches.keyword_free
    assert stream.audio.shape == (30 * 16000,)  # no noise_dir: words and pieces, no background
    clips = dm.stream_clips("train")
    assert any("#" in str(path) for path in clips.unknown)  # the negatives' pieces are in it
    batch = dm.batches.training_batch(next(iter(dm.train_dataloader())))
    assert batch.waveforms.shape == (20 + 2 + 10, 24000)  # clips, partial keywords, windows
    assert batch.labels[batch.not_keyword].eq(dm.class_names.index(UNKNOWN)).all()  # no silence
