"""The DataModule on generated data: the 12-class protocols, silence, augmentation, bad files."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from kws.data import KEYWORDS, SILENCE, UNKNOWN
from kws.data.audio import BadAudioError
from kws.data.augment import Augmentation
from kws.data.speech_commands import SpeechCommandsDataModule
from kws.data.splits import speaker_id


def datamodule(root: Path, **kwargs) -> SpeechCommandsDataModule:
    return SpeechCommandsDataModule(root=str(root), test_set="list", **kwargs)


def counts(labels: np.ndarray, classes: list[str]) -> dict[str, int]:
    return {name: int((labels == i).sum()) for i, name in enumerate(classes)}


def test_class_order_is_silence_unknown_then_keywords(synthetic_root):
    assert datamodule(synthetic_root).class_names == [SILENCE, UNKNOWN, *KEYWORDS]
    all_words = datamodule(synthetic_root, keywords=["bed", "bird"], silence_and_unknown=False)
    assert all_words.class_names == ["bed", "bird"]


@pytest.mark.parametrize("protocol", ["bcresnet", "tensorflow"])
def test_silence_and_unknown_sizes_follow_the_protocol(synthetic_root, protocol):
    dm = datamodule(synthetic_root, protocol=protocol)
    words_by_split = dm._word_clips_by_split()
    for split, index in dm.build_index().items():
        per_class = counts(index.labels, dm.class_names)
        keyword_clips = sum(per_class[k] for k in KEYWORDS)
        assert keyword_clips == sum(len(words_by_split[split][k]) for k in KEYWORDS)
        if protocol == "bcresnet":
            expected = round(keyword_clips / len(KEYWORDS))
        else:
            expected = math.ceil(0.1 * keyword_clips)
        available = sum(len(c) for w, c in words_by_split[split].items() if w not in KEYWORDS)
        assert per_class[SILENCE] == expected, split
        assert per_class[UNKNOWN] == min(expected, available), split
        unknown_words = {
            p.split("/")[0] for p, y in zip(index.paths, index.labels, strict=True) if y == 1
        }
        assert unknown_words and not unknown_words & set(KEYWORDS)


def test_unknown_subset_is_drawn_once_from_the_seed(synthetic_root):
    first = datamodule(synthetic_root, seed=0).build_index()["train"].paths
    again = datamodule(synthetic_root, seed=0).build_index()["train"].paths
    other = datamodule(synthetic_root, seed=1).build_index()["train"].paths
    assert first == again
    assert first != other


def test_splits_follow_the_lists_and_share_no_speaker(synthetic_root):
    index = datamodule(synthetic_root).build_index()
    speakers = {
        split: {speaker_id(p) for p in split_index.paths if p}
        for split, split_index in index.items()
    }
    assert not speakers["train"] & speakers["val"]
    assert not speakers["train"] & speakers["test"]
    assert not speakers["val"] & speakers["test"]
    listed = set((synthetic_root / "validation_list.txt").read_text().split())
    assert {p for p in index["val"].paths if p.split("/")[0] in KEYWORDS} == {
        p for p in listed if p.split("/")[0] in KEYWORDS
    }


def test_evaluation_silence_is_fixed_noise_and_training_silence_is_zeros(synthetic_root):
    first, second = datamodule(synthetic_root), datamodule(synthetic_root)
    first.setup()
    second.setup()
    silence = first.class_names.index(SILENCE)
    val_silent = first.datasets["val"].labels == silence
    val_clips = first.datasets["val"].clips[val_silent]
    assert val_clips.abs().amax(dim=1).min() > 0, "every evaluation silence clip holds noise"
    assert torch.equal(val_clips, second.datasets["val"].clips[val_silent])
    train_silent = first.datasets["train"].labels == silence
    assert first.datasets["train"].clips[train_silent].abs().max() == 0


def test_batches_come_whole_from_the_in_memory_clips(synthetic_root):
    dm = datamodule(synthetic_root, batch_size=32)
    dm.setup()
    clips, labels = next(iter(dm.val_dataloader()))
    assert clips.dtype == torch.int16 and clips.shape == (32, 16000)
    assert torch.equal(clips, dm.datasets["val"].clips[:32])
    assert torch.equal(labels, dm.datasets["val"].labels[:32])


def test_augmentation_shifts_with_zeros_mixes_noise_and_clamps():
    torch.manual_seed(0)
    ramp = torch.linspace(-0.5, 0.5, 16000).repeat(64, 1)
    noise = torch.ones(2, 32000)
    shift_only = Augmentation(shift_s=0.1, noise_prob=0.0)(ramp, noise, None)
    # each row is the ramp moved by a whole number of samples, the gap filled with zeros
    for row in shift_only[:8]:
        nonzero = row.nonzero().squeeze(1)
        start, end = nonzero.min().item(), nonzero.max().item() + 1
        assert (row[:start] == 0).all() and (row[end:] == 0).all()
        assert end - start >= 16000 - 1600 - 1
    assert len({tuple(r.nonzero()[[0, -1]].flatten().tolist()) for r in shift_only}) > 8

    silence = torch.zeros(64, dtype=torch.bool)
    silence[:32] = True
    loud = Augmentation(shift_s=0.0, noise_prob=0.0, silence_noise_volume=5.0)
    mixed = loud(torch.zeros(64, 16000), noise, silence)
    assert (mixed[32:] == 0).all(), "no noise where noise_prob is 0 and the clip is not silence"
    assert (mixed[:32] > 0).all() and mixed.max() <= 1.0, "silence gets noise, clamped to 1"


def test_augmentation_runs_only_in_training(synthetic_root):
    class FakeTrainer:
        training = False

    dm = datamodule(synthetic_root)
    dm.setup()
    batch = (dm.datasets["val"].clips[:8], dm.datasets["val"].labels[:8])
    dm.trainer = FakeTrainer()
    waveforms, _ = dm.on_after_batch_transfer(batch, 0)
    assert torch.equal(waveforms, batch[0].float() / 32768)
    dm.trainer.training = True
    augmented, _ = dm.on_after_batch_transfer(batch, 0)
    assert not torch.equal(augmented, waveforms)


def test_every_bad_file_is_named(synthetic_root, tmp_path):
    root = tmp_path / "copy"
    shutil.copytree(synthetic_root, root)
    yes = sorted((root / "yes").glob("*.wav"))
    yes[0].write_bytes(yes[0].read_bytes()[:30])  # truncated inside the header
    yes[1].write_bytes(b"this is not audio" * 100)
    yes[2].write_bytes(b"")
    dm = datamodule(root)
    with pytest.raises(BadAudioError) as error:
        dm.setup()
    message = str(error.value)
    assert "3 bad audio file(s)" in message
    for bad in yes[:3]:
        assert str(bad) in message


def test_a_listed_clip_that_is_missing_is_named(synthetic_root, tmp_path):
    root = tmp_path / "copy"
    shutil.copytree(synthetic_root, root)
    listed = (root / "validation_list.txt").read_text().split()[0]
    (root / listed).unlink()
    with pytest.raises(FileNotFoundError, match=listed):
        datamodule(root).build_index()
