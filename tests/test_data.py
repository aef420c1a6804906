"""The DataModule on generated data: the protocols, splits, silence, batches, augmentation."""

from __future__ import annotations

import logging
import math
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from kws.data import KEYWORDS, SILENCE, UNKNOWN, WORDS, SpeechCommandsDataModule, datasets
from kws.data.augment import Augmentation, crops
from kws.data.datasets import ClipRows
from kws.data.sources import fetch_missing


def words_per_split(root: Path) -> dict[str, Counter]:
    """Clips per word and split, counted straight from the folders and the list files."""
    listed = {
        **{p: "val" for p in (root / "validation_list.txt").read_text().split()},
        **{p: "test" for p in (root / "testing_list.txt").read_text().split()},
    }
    counts = {"train": Counter(), "val": Counter(), "test": Counter()}
    for word in WORDS:
        for clip in (root / word).glob("*.wav"):
            counts[listed.get(f"{word}/{clip.name}", "train")][word] += 1
    return counts


class FakeTrainer:
    training = False
    current_epoch = 0


def test_class_order_is_silence_unknown_then_keywords(synthetic_root, datamodule):
    assert datamodule(synthetic_root).class_names == [SILENCE, UNKNOWN, *KEYWORDS]
    all_words = datamodule(synthetic_root, keywords=["bed", "bird"], silence_and_unknown=False)
    assert all_words.class_names == ["bed", "bird"]


@pytest.mark.parametrize("protocol", ["bcresnet", "tensorflow"])
def test_silence_and_unknown_sizes_follow_the_protocol(synthetic_root, protocol, datamodule):
    dm = datamodule(synthetic_root, protocol=protocol)
    dm.setup()
    on_disk = words_per_split(synthetic_root)
    for split, index in dm.split_index.items():
        per_class = Counter(dm.class_names[label] for label in index.labels)
        keyword_clips = sum(on_disk[split][k] for k in KEYWORDS)
        assert {k: per_class[k] for k in KEYWORDS} == {k: on_disk[split][k] for k in KEYWORDS}
        if protocol == "bcresnet":
            expected = math.ceil(keyword_clips / len(KEYWORDS))  # mean keyword class, rounded up
        else:
            expected = math.ceil(0.1 * keyword_clips)
        available = sum(n for word, n in on_disk[split].items() if word not in KEYWORDS)
        assert per_class[SILENCE] == expected, split
        assert per_class[UNKNOWN] == min(expected, available), split
        unknown = [p for p, y in zip(index.paths, index.labels, strict=True) if y == 1]
        assert len(set(unknown)) == len(unknown), "no clip drawn twice"
        assert {p.split("/")[0] for p in unknown} <= set(WORDS) - set(KEYWORDS)
        assert len(dm.datasets[split]) == len(index.paths)


def test_unknown_subset_is_drawn_once_from_the_seed(synthetic_root, datamodule):
    first = datamodule(synthetic_root, seed=0).build_index()["train"].paths
    again = datamodule(synthetic_root, seed=0).build_index()["train"].paths
    other = datamodule(synthetic_root, seed=1).build_index()["train"].paths
    assert first == again
    assert first != other
    dm = datamodule(synthetic_root, seed=0)
    dm.setup()
    assert dm.split_index["train"].paths == first, "the cache serves the same draw every epoch"


def test_splits_follow_the_lists_and_share_no_speaker(synthetic_root, datamodule):
    index = datamodule(synthetic_root).build_index()
    speakers = {split: set(split_index.speakers) - {""} for split, split_index in index.items()}
    assert all(speakers.values())
    assert not speakers["train"] & speakers["val"]
    assert not speakers["train"] & speakers["test"]
    assert not speakers["val"] & speakers["test"]
    for split, list_name in (("val", "validation_list.txt"), ("test", "testing_list.txt")):
        listed = set((synthetic_root / list_name).read_text().split())
        assert {p for p in index[split].paths if p} <= listed
        assert {p for p in index[split].paths if p.split("/")[0] in KEYWORDS} == {
            p for p in listed if p.split("/")[0] in KEYWORDS
        }


def test_all_words_config_has_35_classes_and_every_clip(compose_config, synthetic_root):
    cfg = compose_config(["data=speech_commands_35", f"data.root={synthetic_root}"])
    dm = instantiate(cfg.data, _convert_="all")
    assert dm.class_names == list(WORDS) and dm.num_classes == 35
    dm.prepare_data()
    dm.setup()
    on_disk = words_per_split(synthetic_root)
    for split, index in dm.split_index.items():
        assert "" not in index.paths, "no silence clips"
        assert Counter(WORDS[label] for label in index.labels) == on_disk[split]
    assert dm.hparams.test_set == "list"


def test_synthetic_option_touches_only_data(compose_config, synthetic_root):
    plain = OmegaConf.to_container(compose_config([]))
    synthetic = OmegaConf.to_container(compose_config(["data=synthetic"]))
    assert {k: v for k, v in synthetic.items() if k != "data"} == {
        k: v for k, v in plain.items() if k != "data"
    }
    assert synthetic["data"] == {
        **plain["data"],
        "root": "${data_dir}/synthetic_speech_commands",
        "test_root": None,
        "test_set": "list",
        "generate_synthetic": True,
    }
    cfg = compose_config(["data=synthetic", f"data.root={synthetic_root}"])
    assert instantiate(cfg.data).class_names == [SILENCE, UNKNOWN, *KEYWORDS], "keywords: null"


def test_generating_missing_data_says_where_what_and_how_long(tmp_path, caplog):
    """``data=synthetic`` on first use: one line before the generation, none once it is there."""
    root = tmp_path / "data" / "synthetic_speech_commands"
    dm = SpeechCommandsDataModule(root=str(root), generate_synthetic=True, synthetic_speakers=3,
                                  test_set="list")  # fmt: skip
    with caplog.at_level(logging.INFO, logger="kws.data.sources"):
        fetch_missing(dm.folders, download=False)
        fetch_missing(dm.folders, download=False)
    assert [record.getMessage() for record in caplog.records] == [
        f"{root} is missing: generating a synthetic data set of 3 speakers (about 1 s on 2 CPU "
        "cores; once, kept for later runs)"
    ]
    assert (root / "testing_list.txt").is_file()


def test_augmentation_works_at_the_data_clip_rate_which_is_no_data_setting(
    synthetic_root, datamodule
):
    dm = datamodule(synthetic_root, augmentation={"shift_s": 0.25})
    assert dm.augmentation.sample_rate == dm.clip_format.sample_rate == 16000
    assert dm.augmentation.max_shift == 4000
    with pytest.raises(ValueError, match=r"^data\.augmentation\.sample_rate is not a setting"):
        datamodule(synthetic_root, augmentation={"sample_rate": 8000})


def test_saved_hyper_parameters_rebuild_the_datamodule(synthetic_root, datamodule):
    dm = datamodule(synthetic_root, batch_size=7)
    assert dm.hparams["_target_"] == "kws.data.SpeechCommandsDataModule"
    assert "_target_" not in dm.hparams_initial, "not logged as a setting"
    assert dm.hparams["keywords"] == list(KEYWORDS), "the default, spelled out"
    again = instantiate(dict(dm.hparams))
    assert type(again) is SpeechCommandsDataModule
    assert dict(again.hparams) == dict(dm.hparams)


def test_official_test_set_is_read_one_folder_per_class(synthetic_root, tmp_path):
    test_root = tmp_path / "speech_commands_test_set_v0.02"
    rng = np.random.default_rng(0)
    for i, name in enumerate([SILENCE, UNKNOWN, *KEYWORDS]):
        (test_root / name).mkdir(parents=True)
        for j in range(i % 3 + 1):
            audio = (rng.uniform(-0.5, 0.5, 16000) * 32767).astype(np.int16)
            sf.write(test_root / name / f"{j:08x}_nohash_0.wav", audio, 16000, subtype="PCM_16")
    dm = SpeechCommandsDataModule(root=str(synthetic_root), test_root=str(test_root))
    dm.setup()
    test = dm.split_index["test"]
    assert np.bincount(test.labels).tolist() == [i % 3 + 1 for i in range(12)]
    first_silence = str(test_root / test.paths[0])
    assert test.paths[0].startswith(f"{SILENCE}/")
    silence_clip = dm.datasets["test"].clips[0]
    assert np.array_equal(silence_clip, sf.read(first_silence, dtype="int16")[0]), (
        "the official archive's silence clips are real recordings, served as they are"
    )

    (test_root / "bed").mkdir()
    shutil.copy(first_silence, test_root / "bed")
    with pytest.raises(FileNotFoundError, match="bed"):
        SpeechCommandsDataModule(root=str(synthetic_root), test_root=str(test_root)).setup()


def test_evaluation_silence_is_fixed_noise_and_training_silence_is_zeros(
    synthetic_root, tmp_path, datamodule
):
    first = datamodule(synthetic_root, cache_dir=str(tmp_path / "first"))
    second = datamodule(synthetic_root, cache_dir=str(tmp_path / "second"))
    first.setup()
    silence = first.class_names.index(SILENCE)
    val_silent = first.datasets["val"].labels == silence
    val_clips = first.datasets["val"].clips[val_silent]
    assert val_silent.sum() > 0 and np.abs(val_clips).max(axis=1).min() > 0, "all hold noise"
    second.setup()  # built from scratch: the same noise
    assert np.array_equal(val_clips, second.datasets["val"].clips[val_silent])
    train_silent = first.datasets["train"].labels == silence
    assert train_silent.sum() > 0 and np.abs(first.datasets["train"].clips[train_silent]).max() == 0


def test_batches_come_whole_from_the_cache(synthetic_root, datamodule):
    dm = datamodule(synthetic_root, batch_size=32)
    dm.setup()
    clips, labels = next(iter(dm.val_dataloader()))
    assert clips.dtype == torch.int16 and clips.shape == (32, 16000)
    assert np.array_equal(clips.numpy(), dm.datasets["val"].clips[:32])
    assert np.array_equal(labels.numpy(), dm.datasets["val"].labels[:32])
    served = torch.cat([labels for _, labels in dm.train_dataloader()])
    assert torch.equal(served.sort().values, torch.from_numpy(np.sort(dm.datasets["train"].labels)))


def test_on_device_serves_rows_and_gathers_them_after_the_transfer(
    synthetic_root, datamodule, monkeypatch
):
    dm = datamodule(synthetic_root, batch_size=16, on_device=True, augment=False, num_workers=2)
    dm.setup()
    loader = dm.train_dataloader()
    assert loader.num_workers == 0, "nothing for workers to do"
    batch = next(iter(loader))
    assert isinstance(batch, ClipRows) and batch.rows.shape == (16,)
    waveforms, labels = dm.on_after_batch_transfer(batch, 0)
    rows = batch.rows.numpy()
    train = dm.datasets["train"]
    assert torch.equal(waveforms, torch.from_numpy(train.clips[rows]).float() / 32768)
    assert torch.equal(labels, torch.from_numpy(train.labels[rows]))
    copies = []
    copy_to_device = datasets.copy_to_device
    monkeypatch.setattr(
        datasets, "copy_to_device", lambda *args: copies.append(1) or copy_to_device(*args)
    )
    dm.on_after_batch_transfer(next(iter(loader)), 0)
    assert copies == [], "the split moved to the device once, at the first batch"
    assert dm.val_dataloader().dataset is dm.datasets["val"], "evaluation batches stay clips"


def test_crops_are_the_windows_asked_for():
    source = torch.arange(3 * 50, dtype=torch.float32).view(3, 50)
    rows, starts = torch.tensor([2, 0, 2, 1]), torch.tensor([40, 0, 3, 17])
    expected = torch.stack([source[r, s : s + 10] for r, s in zip(rows, starts, strict=True)])
    assert torch.equal(crops(source, rows, starts, 10), expected)


def test_augmentation_shifts_with_zeros_mixes_noise_and_clamps():
    torch.manual_seed(0)
    ramp = torch.linspace(-0.5, 0.5, 16000).repeat(64, 1)
    noise = torch.ones(2, 32000)
    silent_bank = torch.zeros(2, 32000)  # every clip gets "noise", and so a shift: zeros
    shift_only = Augmentation(shift_s=0.1, noise_prob=1.0)(ramp, silent_bank, None)
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


def test_augmentation_runs_only_in_training_and_can_be_turned_off(synthetic_root, datamodule):
    dm = datamodule(synthetic_root)
    dm.setup()
    clips = torch.from_numpy(np.array(dm.datasets["val"].clips[:8]))
    batch = (clips, torch.zeros(8, dtype=torch.int64))
    dm.trainer = FakeTrainer()
    waveforms, _ = dm.on_after_batch_transfer(batch, 0)
    assert torch.equal(waveforms, batch[0].float() / 32768)
    dm.trainer.training = True
    augmented = dm.on_after_batch_transfer(batch, 0).waveforms
    assert not torch.equal(augmented, waveforms)
    assert augmented.abs().max() <= 1.0

    plain = datamodule(synthetic_root, augment=False)
    plain.setup()
    plain.trainer = dm.trainer
    assert torch.equal(plain.on_after_batch_transfer(batch, 0)[0], waveforms)


def test_augment_needs_no_trainer_and_draws_as_training_does(synthetic_root, datamodule):
    dm = datamodule(synthetic_root)
    with pytest.raises(RuntimeError, match="setup"):
        dm.augment(torch.zeros(2, 16000), torch.zeros(2, dtype=torch.int64))
    dm.setup()
    assert dm.trainer is None
    clips, labels = next(iter(dm.train_dataloader()))
    waveforms = clips.float() / 32768
    torch.manual_seed(0)
    augmented = dm.augment(waveforms, labels)
    assert not torch.equal(augmented, waveforms) and augmented.abs().max() <= 1.0
    silence = labels == dm.class_names.index(SILENCE)
    torch.manual_seed(0)
    expected = dm.augmentation(waveforms, dm.batches.noise_bank, silence)
    assert torch.equal(augmented, expected)

    dm.trainer = FakeTrainer()
    dm.trainer.training = True
    torch.manual_seed(0)
    hooked = dm.on_after_batch_transfer((clips, labels), 0)
    assert torch.equal(hooked.waveforms, augmented) and torch.equal(hooked.labels, labels)
    assert hooked.weights is None and hooked.not_keyword is None  # clips only

    plain = datamodule(synthetic_root, augment=False)
    plain.setup()
    assert plain.augment(waveforms, labels) is waveforms
