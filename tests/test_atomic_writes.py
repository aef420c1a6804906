"""Results appear whole or not at all: a write that fails leaves the old file and no temporary."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from kws.reporting.figures import save_images
from kws.training.checkpoint_io import AtomicCheckpointIO
from kws_runtime.io import atomic_write, write_json


class DiskFullError(OSError):
    """What a writer raises after it has written part of its file."""


def _half_a_png(image: Image.Image, fp, *args, **kwargs) -> None:
    """Stands in for ``Image.save``: the start of a PNG, then a failure; to a file object, or to
    the final path itself as ``save_images`` used to pass it."""
    if isinstance(fp, (str, Path)):
        with open(fp, "wb") as file:
            file.write(b"\x89PNG\r\n")
    else:
        fp.write(b"\x89PNG\r\n")
    raise DiskFullError


class Unpicklable:
    def __reduce__(self):
        raise DiskFullError


def _cut_short(path: Path) -> None:
    with atomic_write(path) as file:
        file.write("half")
        raise DiskFullError


def _unserialisable_json(path: Path) -> None:
    write_json(path, {"a": 1, "b": object()})


def _png_cut_short(path: Path) -> None:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Image.Image, "save", _half_a_png)
        save_images({path.stem: np.zeros((4, 4, 3), dtype=np.uint8)}, path.parent)


def _checkpoint_cut_short(path: Path) -> None:
    AtomicCheckpointIO().save_checkpoint({"state": torch.zeros(3), "x": Unpicklable()}, path)


WRITERS = {  # the final file's name, a write that fails, what it raises
    "atomic_write": ("out.txt", _cut_short, DiskFullError),
    "write_json": ("metrics.json", _unserialisable_json, TypeError),
    "save_images": ("mel_filterbank.png", _png_cut_short, DiskFullError),
    "checkpoint": ("last.ckpt", _checkpoint_cut_short, DiskFullError),
}


@pytest.mark.parametrize("name", WRITERS)
@pytest.mark.parametrize("existing", [False, True], ids=["new", "rewrite"])
def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path, name, existing):
    filename, write, error = WRITERS[name]
    path = tmp_path / filename
    if existing:
        path.write_bytes(b"the previous, whole file")
    with pytest.raises(error):
        write(path)
    assert [p.name for p in tmp_path.iterdir()] == ([filename] if existing else [])
    if existing:
        assert path.read_bytes() == b"the previous, whole file"


def test_a_finished_write_is_renamed_into_place_with_the_usual_permissions(tmp_path):
    plain = tmp_path / "plain.csv"
    plain.write_text("x")
    path = tmp_path / "table.csv"
    path.write_text("old")
    with atomic_write(path, newline="") as file:
        file.write("a,b\r\n")
        assert path.read_text() == "old"  # the old file stays whole until the new one is
    assert path.read_bytes() == b"a,b\r\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plain.csv", "table.csv"]
    assert os.stat(path).st_mode == os.stat(plain).st_mode  # umask applies, as for open()


def test_the_writers_write_what_they_are_given(tmp_path):
    write_json(tmp_path / "m.json", {"b": 2, "a": [1.5]})
    assert json.loads((tmp_path / "m.json").read_text()) == {"a": [1.5], "b": 2}
    pixels = np.zeros((4, 6, 3), dtype=np.uint8)
    pixels[:, 3:] = (255, 0, 0)
    (written,) = save_images({"red": pixels}, tmp_path / "figures")
    np.testing.assert_array_equal(np.asarray(Image.open(written).convert("RGB")), pixels)
    AtomicCheckpointIO().save_checkpoint({"w": torch.arange(3)}, tmp_path / "ckpt" / "a.ckpt")
    assert torch.equal(torch.load(tmp_path / "ckpt" / "a.ckpt")["w"], torch.arange(3))
    assert {p.name for p in tmp_path.rglob("*")} == {
        "m.json", "figures", "red.png", "ckpt", "a.ckpt"
    }  # fmt: skip
