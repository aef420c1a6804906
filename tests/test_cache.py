"""The decoded cache: built once, memory-mapped after, rebuilt on change, never taken half-built."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from kws.data import cache, index
from kws.data.audio import read_clip
from kws.data.cache import MANIFEST, CacheDamagedError, ClipCache


def cache_folders(root: Path) -> list[Path]:
    return sorted((root.parent / "cache").iterdir())


def manifest(root: Path) -> dict:
    [folder] = cache_folders(root)
    return json.loads((folder / MANIFEST).read_text())


def forbid_audio_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args, **kwargs):
        raise AssertionError(f"a WAV file was opened: {args[:1]}")

    monkeypatch.setattr(sf, "SoundFile", refuse)
    monkeypatch.setattr(sf, "read", refuse)
    monkeypatch.setattr(sf, "info", refuse)


def test_cache_holds_every_split_and_later_runs_read_no_wav(root, monkeypatch, datamodule):
    built = datamodule(root)
    built.prepare_data()
    built.setup()
    [folder] = cache_folders(root)
    assert {p.name for p in folder.iterdir()} == {
        "train.npy", "val.npy", "test.npy", "index.json", "noise.npy", MANIFEST,
    }  # fmt: skip
    index = json.loads((folder / "index.json").read_text())
    for split, dataset in built.datasets.items():
        assert isinstance(dataset.clips, np.memmap) and dataset.clips.dtype == np.int16
        assert dataset.clips.shape == (len(index[split]["paths"]), 16000)
    for split, scanned in built.build_index().items():  # the cache's index is the tree's
        assert index[split]["paths"] == scanned.paths
        assert index[split]["labels"] == scanned.labels.tolist()
    first_word = next(i for i, p in enumerate(index["train"]["paths"]) if p)
    wav = sf.read(root / index["train"]["paths"][first_word], dtype="int16")[0]
    assert np.array_equal(built.datasets["train"].clips[first_word, : len(wav)], wav)

    forbid_audio_reads(monkeypatch)
    again = datamodule(root)
    again.prepare_data()
    again.setup()
    for _ in range(2):  # epochs
        for clips, labels in again.train_dataloader():
            assert clips.shape[1] == 16000 and len(clips) == len(labels)
    for split, dataset in again.datasets.items():
        assert np.array_equal(dataset.clips, built.datasets[split].clips)
    assert cache_folders(root) == [folder]


def test_cache_is_rebuilt_when_a_source_file_changes(root, datamodule):
    first = datamodule(root)
    first.setup()
    paths = first.split_index["train"].paths
    row = next(i for i, p in enumerate(paths) if p)
    louder = np.full(8000, 1234, dtype=np.int16)
    sf.write(root / paths[row], louder, 16000, subtype="PCM_16")

    second = datamodule(root)
    second.setup()
    assert np.array_equal(second.datasets["train"].clips[row, :8000], louder)
    assert not second.datasets["train"].clips[row, 8000:].any()
    assert len(cache_folders(root)) == 1, "the stale cache was replaced, not kept beside"

    before = manifest(root)["sources"]
    os.utime(root / paths[row], ns=(1, 1))  # the same bytes, another modification time
    datamodule(root).setup()
    assert manifest(root)["sources"] != before


def test_other_settings_get_their_own_cache(root, datamodule):
    datamodule(root, protocol="bcresnet").setup()
    datamodule(root, protocol="tensorflow").setup()
    datamodule(root, protocol="tensorflow", seed=3).setup()
    assert len(cache_folders(root)) == 3


def test_an_interrupted_build_leaves_nothing_behind(root, monkeypatch, datamodule):
    decoded = []
    real = index.read_clip  # what the Speech Commands source reads a row with

    def read_then_fail(path):
        decoded.append(path)
        if len(decoded) == 100:
            raise KeyboardInterrupt  # the user stops the build half way
        return real(path)

    monkeypatch.setattr(index, "read_clip", read_then_fail)
    with pytest.raises(KeyboardInterrupt):
        datamodule(root).setup()
    assert not (root.parent / "cache").exists() or not list((root.parent / "cache").iterdir())

    monkeypatch.setattr(index, "read_clip", real)
    dm = datamodule(root)
    dm.setup()
    assert len(dm.datasets["train"]) > 100


def test_a_cache_without_its_manifest_is_damaged_and_rebuilt(root, monkeypatch, datamodule):
    built = datamodule(root)
    built.setup()
    [folder] = cache_folders(root)
    sources = manifest(root)["sources"]
    paths = {split: built.split_index[split].paths for split in built.datasets}
    words = {split: [row for row, path in enumerate(paths[split]) if path] for split in paths}
    decoded = {
        split: [read_clip(root / paths[split][row]) for row in words[split]] for split in paths
    }
    with monkeypatch.context() as reading:  # opened whole: each WAV's samples, none decoded
        forbid_audio_reads(reading)
        opened = ClipCache.open(folder, sources)
        for split, rows in decoded.items():
            assert opened.index(split).paths == paths[split]
            assert opened.clips(split)[words[split]].tobytes() == np.stack(rows).tobytes()
    (folder / MANIFEST).unlink()
    with pytest.raises(CacheDamagedError, match=f"^{folder / MANIFEST}: missing$"):
        ClipCache.open(folder, sources)
    decoded = []
    real = cache._write_clips
    monkeypatch.setattr(cache, "_write_clips", lambda *a: decoded.append(a[0].stem) or real(*a))
    dm = datamodule(root)
    dm.setup()
    assert decoded == ["train", "val", "test"], "every split was decoded again"
    assert (folder / MANIFEST).is_file() and len(dm.datasets["train"]) > 0
