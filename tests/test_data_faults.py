"""Faults in the data, the disk and the settings: each is one clear error naming the file, the
folder or the config key, before any training, and leaves nothing half-written behind."""

from __future__ import annotations

import errno
import io
import json
import logging
import os
import re
import shutil
import socket
import subprocess
import sys
import tarfile
from collections import namedtuple
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from kws.data import cache
from kws.data.audio import read_clip
from kws.data.cache import (
    INDEX,
    MANIFEST,
    BadFilesError,
    CacheDamagedError,
    CacheWriteError,
)
from kws.data.download import ArchiveError, extract_tar
from kws.data.files import staging_folder
from kws.data.tree import DataTreeError
from kws_runtime.audio import BadAudioError


def listed(root: Path) -> set[str]:
    return set((root / "validation_list.txt").read_text().split()) | set(
        (root / "testing_list.txt").read_text().split()
    )


def training_clip(root: Path, word: str = "yes") -> Path:
    return next(
        p for p in sorted((root / word).glob("*.wav")) if f"{word}/{p.name}" not in listed(root)
    )


def folder_contents(folder: Path) -> list[str]:
    """Every name under ``folder``, hidden ones included; [] when it does not exist."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) if folder.exists() else []


# --- non-finite samples ---------------------------------------------------------------------


def one_nan(n: int) -> np.ndarray:
    samples = np.full(n, 0.25)
    samples[n // 2] = np.nan
    return samples


def all_inf(n: int) -> np.ndarray:
    return np.full(n, np.inf)


@pytest.mark.filterwarnings("error::RuntimeWarning")  # no anonymous numpy warning either
@pytest.mark.parametrize("samples", [one_nan, all_inf])
@pytest.mark.parametrize("where", ["clip", "noise"])
def test_a_float_wav_with_nan_or_infinity_is_a_bad_file(root, samples, where, datamodule):
    if where == "clip":
        path, frames = training_clip(root), 16000
    else:
        path, frames = sorted((root / "_background_noise_").glob("*.wav"))[0], 32000
    sf.write(path, samples(frames), 16000, subtype="FLOAT")
    bad = 1 if samples is one_nan else frames
    problem = f"{bad} of {frames} samples are NaN or infinite"
    if where == "clip":
        with pytest.raises(BadAudioError, match=f"^{re.escape(str(path))}: {problem}$"):
            read_clip(path)

    with pytest.raises(BadFilesError) as error:
        datamodule(root).prepare_data()
    assert error.value.problems == {str(path): problem}
    assert folder_contents(root.parent / "cache") == []

    dm = datamodule(root, skip_bad_files=True)
    dm.setup()
    assert dm.skipped_files == {str(path): problem}
    relative = str(path.relative_to(root))
    assert all(relative not in index.paths for index in dm.split_index.values())


@pytest.mark.parametrize(("scale", "bad"), [(1.5, False), (1000.0, True), (1e30, True)])
def test_float_samples_far_beyond_full_scale_are_a_bad_file(tmp_path, scale, bad):
    path = tmp_path / "loud.wav"
    sf.write(path, scale * np.sin(np.linspace(0, 100, 16000)), 16000, subtype="DOUBLE")
    if not bad:  # up to the limit, clipped to full scale as before
        assert np.abs(read_clip(path)).max() == 32767
        return
    with pytest.raises(BadAudioError, match=re.escape(f"float samples reach {scale:.3g}, far")):
        read_clip(path)


# --- a full disk --------------------------------------------------------------------------------

Usage = namedtuple("Usage", "total used free")


def test_too_little_free_space_stops_before_anything_is_written(root, monkeypatch, datamodule):
    monkeypatch.setattr(shutil, "disk_usage", lambda path: Usage(10**9, 10**9 - 1000, 1000))
    monkeypatch.setattr(cache, "_write_clips", lambda *args: pytest.fail("a split was written"))
    with pytest.raises(CacheWriteError) as error:
        datamodule(root).setup()
    message = str(error.value)
    assert "\n" not in message and "1,000 free" in message and "data.cache_dir" in message
    assert folder_contents(root.parent / "cache") == [], "no staging folder, no cache"

    monkeypatch.undo()
    datamodule(root).setup()
    [folder] = (root.parent / "cache").iterdir()
    needed = sum(p.stat().st_size for p in folder.iterdir())
    assert message.startswith(f"{folder}: the decoded cache needs {needed:,} bytes and the disk")


def test_a_write_that_fails_names_the_folder_and_leaves_nothing(root, monkeypatch, datamodule):
    real = cache.read_clips

    def disk_full_after_a_block(paths, write, *settings):
        written = []

        def write_or_fail(start, clips):
            if written:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            written.append(start)
            write(start, clips)

        return real(paths, write_or_fail, *settings)

    monkeypatch.setattr(cache, "read_clips", disk_full_after_a_block)
    with pytest.raises(CacheWriteError) as error:
        datamodule(root).setup()
    assert folder_contents(root.parent / "cache") == [], "no staging folder, no cache"

    monkeypatch.undo()
    datamodule(root).setup()
    [folder] = (root.parent / "cache").iterdir()
    needed = sum(p.stat().st_size for p in folder.iterdir())
    assert str(error.value) == (
        f"{folder}: writing the decoded cache failed (No space left on device); it needs "
        f"{needed:,} bytes: free some space, or put the cache on another disk (data.cache_dir)"
    )


def test_the_work_folders_of_a_killed_build_are_removed_and_live_ones_kept(tmp_path):
    target = tmp_path / "cache" / "some-cache"
    killed = subprocess.run(
        [
            sys.executable,
            "-c",
            "import os, sys; from pathlib import Path; from kws.data.files import staging_folder\n"
            "with staging_folder(Path(sys.argv[1])) as staging:\n"
            "    (staging / 'train.npy').write_bytes(bytes(1000))\n"
            "    print(staging.name, os.getpid()); sys.stdout.flush(); os._exit(9)  # no clean-up",
            str(target),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert killed.returncode == 9, killed.stderr
    staged, pid = killed.stdout.split()
    host = socket.gethostname()
    assert staged.startswith(f".some-cache.tmp-{host}-{pid}-")
    assert (target.parent / staged / "train.npy").is_file(), "left behind, as by a killed build"
    trash = f".some-cache.old-{host}-{pid}-abc"  # an old version it was deleting
    live = [
        f".some-cache.tmp-{host}-{os.getpid()}-running",  # this process: alive
        ".some-cache.tmp-another-host-1-abc",  # another host's: its processes are not seen
        ".some-cache.tmp-abc123",  # no owner in the name: not ours to judge
        f".other.tmp-{host}-{pid}-abc",  # another target's
    ]
    for name in [trash, *live]:
        (target.parent / name).mkdir()

    with staging_folder(target) as staging:
        assert staging.name.startswith(f".some-cache.tmp-{host}-{os.getpid()}-")
        assert sorted(p.name for p in target.parent.iterdir()) == sorted([staging.name, *live])
    assert sorted(p.name for p in target.parent.iterdir()) == sorted(live)


# --- a damaged cache ----------------------------------------------------------------------------


def truncate_train(folder: Path) -> str:
    path = folder / "train.npy"
    size = path.stat().st_size
    with path.open("r+b") as handle:
        handle.truncate(size // 2)
    return f"{path}: {size // 2:,} bytes, the manifest records {size:,}"


def delete_val(folder: Path) -> str:
    (folder / "val.npy").unlink()
    return f"{folder / 'val.npy'}: missing"


def delete_index(folder: Path) -> str:
    (folder / INDEX).unlink()
    return f"{folder / INDEX}: missing"


def edit_labels(folder: Path) -> str:
    index = json.loads((folder / INDEX).read_text())
    size = (folder / INDEX).stat().st_size
    index["train"]["labels"].reverse()  # the same labels in another order
    (folder / INDEX).write_text(json.dumps(index))
    assert (folder / INDEX).stat().st_size == size, "the same size: only the hash tells"
    return f"{folder / INDEX}: changed since the build (its sha256 is not the manifest's)"


def delete_manifest(folder: Path) -> str:
    (folder / MANIFEST).unlink()
    return f"{folder / MANIFEST}: missing"


@pytest.mark.parametrize(
    "damage", [truncate_train, delete_val, delete_index, edit_labels, delete_manifest]
)
def test_a_damaged_cache_is_rebuilt_or_named(synthetic_root, tmp_path, damage, caplog, datamodule):
    built = datamodule(synthetic_root, cache_dir=str(tmp_path))
    built.setup()
    original = {split: (np.array(d.clips), d.labels) for split, d in built.datasets.items()}
    del built  # its memory maps: reading a truncated one would be a SIGBUS
    [folder] = tmp_path.iterdir()
    problem = damage(folder)

    with pytest.raises(CacheDamagedError) as error:
        datamodule(synthetic_root, cache_dir=str(tmp_path), rebuild_cache=False).setup()
    message = str(error.value)
    assert message.startswith(f"{problem}: the decoded cache is damaged (data.rebuild_cache=true")
    assert "\n" not in message

    with caplog.at_level(logging.WARNING):
        rebuilt = datamodule(synthetic_root, cache_dir=str(tmp_path))
        rebuilt.setup()
    assert f"rebuilding the damaged decoded cache: {problem}" in caplog.text
    for split, (clips, labels) in original.items():
        assert np.array_equal(rebuilt.datasets[split].labels, labels)
        assert np.array_equal(rebuilt.datasets[split].clips, clips)
    datamodule(synthetic_root, cache_dir=str(tmp_path), rebuild_cache=False).setup()  # whole


# --- the data tree ------------------------------------------------------------------------------


def test_a_link_loop_in_the_data_tree_is_named(root, datamodule):
    loop = root / "yes" / "loop.wav"
    loop.symlink_to(loop)
    expected = f"{loop}: cannot be examined (Too many levels of symbolic links)"
    with pytest.raises(DataTreeError, match=f"^{re.escape(expected)}$"):
        datamodule(root).prepare_data()


@pytest.mark.parametrize(
    ("link", "target", "why"),
    [
        ("wow2", "wow", "read through {root}/wow already"),  # a word folder that is another
        ("no/x_nohash_0.wav", "../yes/{clip}", "read through {root}/yes already"),
    ],
)
def test_a_link_that_would_read_a_clip_twice_is_named(root, datamodule, link, target, why):
    """A clip read through a link and where it is would land in two word folders (``_unknown_``
    and its own word) and in two splits: the scan stops first, naming the link."""
    (root / link).symlink_to(target.format(clip=training_clip(root).name))
    with pytest.raises(DataTreeError) as error:
        datamodule(root).prepare_data()
    assert str(error.value).startswith(f"{root / link} is a link to ")
    assert why.format(root=root) in str(error.value)


def test_an_unreadable_folder_in_the_data_tree_is_named(root, monkeypatch, datamodule):
    real = os.scandir

    def refuse_yes(path="."):
        if Path(path) == root / "yes":
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))
        return real(path)

    monkeypatch.setattr(os, "scandir", refuse_yes)  # as root, chmod 000 does not keep one out
    expected = f"{root / 'yes'}: cannot list this folder (Permission denied)"
    with pytest.raises(DataTreeError, match=f"^{re.escape(expected)}$"):
        datamodule(root).prepare_data()


# --- archives -----------------------------------------------------------------------------------


def member(name: str, kind: bytes = tarfile.REGTYPE, mtime: float = 0) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mtime = mtime
    return info


@pytest.mark.parametrize(
    ("members", "problem"),
    [
        ([member("a"), member("a", tarfile.DIRTYPE)], "clashes with an earlier member"),
        ([member("a"), member("a/b")], "clashes with an earlier member"),
        ([member("a", tarfile.DIRTYPE), member("a")], "clashes with an earlier member"),
        ([member("a"), member("b", mtime=1e30)], "has a modification time out of range (1e+30)"),
    ],
)
def test_an_archive_that_cannot_be_laid_out_is_an_archive_error(tmp_path, members, problem):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info in members:
            tar.addfile(info, io.BytesIO(b""))
    path = tmp_path / "work" / "bad.tar"
    path.parent.mkdir()
    path.write_bytes(buffer.getvalue())
    with pytest.raises(ArchiveError) as error:
        extract_tar(path, tmp_path / "work" / "target")
    assert str(error.value).startswith(f"{path}: member {members[-1].name!r} {problem}")
    assert str(error.value).endswith("; nothing was extracted")
    assert folder_contents(tmp_path / "work") == ["bad.tar"]


# --- settings and splits ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ({"keywords": []}, "data.keywords is empty"),
        ({"keywords": ["yes", "no", "yes"]}, "data.keywords names ['yes'] more than once"),
        ({"keywords": ["yes", "maybe"]}, "data.keywords: ['maybe'] not among the Speech Commands"),
        ({"batch_size": -1}, "data.batch_size must be in [1, 65536], got -1"),
        ({"batch_size": 0}, "data.batch_size must be in [1, 65536], got 0"),
        ({"eval_batch_size": 0}, "data.eval_batch_size must be in [1, 65536]"),
        ({"num_workers": -1}, "data.num_workers must be in [0, 1024], got -1"),
        ({"protocol": "kaldi"}, "data.protocol must be one of ['bcresnet', 'tensorflow', 'all_"),
    ],
)
def test_settings_out_of_range_name_their_key_at_once(tmp_path, setting, message, datamodule):
    with pytest.raises(ValueError) as error:
        datamodule(tmp_path / "nowhere", **setting)  # no data needed: nothing is read
    assert str(error.value).startswith(message)


@pytest.mark.parametrize("first_call", ["prepare_data", "setup_fit"])
def test_an_empty_test_split_is_named_before_training(root, first_call, datamodule):
    (root / "testing_list.txt").write_text("")  # no speaker in the test split
    dm = datamodule(root)
    with pytest.raises(ValueError) as error:
        dm.prepare_data() if first_call == "prepare_data" else dm.setup("fit")
    assert str(error.value).startswith(
        f"{root}: the test split is empty: no usable clip of the keywords ['yes', 'no', "
    )
    assert str(error.value).endswith(
        "is in testing_list.txt (a generated data set needs more speakers or another seed)"
    )
    assert folder_contents(root.parent / "cache") == [], "nothing built"
