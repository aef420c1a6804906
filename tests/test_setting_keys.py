"""Issue 23: every numeric setting of every frontend and head (``conf/frontend/*.yaml``,
``conf/model/*.yaml``), the data's batch sizes and the Trainer's gradient clipping is checked for
a finite value in its range before any work, and the error names the config key."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml

from kws.data import SpeechCommandsDataModule
from kws.frontend import LEAF, SincFilterbank, TriangularFilterbank
from kws.models.sizes import unset_sizes
from kws.registry import build
from kws.tasks import train
from kws.tasks.common import make_trainer

CONF = Path(__file__).resolve().parents[1] / "conf"
#: Settings that take whole numbers (``2.5`` is refused for them).
WHOLE = {"sample_rate", "n_fft", "win_length", "hop_length", "n_mels", "n_mfcc", "init_seed",
         "kernel_size", "n_features", "frames", "sub_bands"}  # fmt: skip
#: Numeric settings a config may leave out or set to null, walked too.
OPTIONAL = {"mel": ["top_db"], "mfcc": ["top_db", "n_mfcc"], "bcresnet": ["sub_bands"]}


def config(group: str, name: str) -> dict[str, Any]:
    """``conf/<group>/<name>.yaml`` as a config ``build`` takes, over the files its
    ``defaults`` name."""
    settings = yaml.safe_load((CONF / group / f"{name}.yaml").read_text())
    bases = [base for base in settings.pop("defaults", []) if base != "_self_"]
    return {key: value for base in bases for key, value in config(group, base).items()} | settings


def numeric_settings() -> list[tuple[str, str, str, object]]:
    """``(group, file, key, bad value)`` for each numeric setting of each frontend and head."""
    cases = []
    for group in ("frontend", "model"):
        for path in sorted((CONF / group).glob("*.yaml")):
            settings = config(group, path.stem)
            keys = [
                key
                for key, value in settings.items()
                if key in WHOLE or isinstance(value, float) or key in ("f_max", "log_eps")
            ]
            for key in dict.fromkeys([*keys, *OPTIONAL.get(path.stem, [])]):
                huge = 10**30 if key in WHOLE else 1e30
                values = [math.nan, math.inf, -math.inf, -1, huge]
                values += [2.5] if key in WHOLE else []
                cases += [(group, path.stem, key, value) for value in values]
    return cases


def make(group: str, name: str, **changes: Any) -> torch.nn.Module:
    """The layer ``conf/<group>/<name>.yaml`` configures, with ``changes``; a head's null sizes
    become those of 40 bands by 101 frames (a log-Mel clip), as ``KWSModule`` fills them."""
    settings = {**config(group, name), **changes}
    if "top_db" in changes:
        settings["log"] = "db"
    if group == "frontend":
        return build(settings, "frontend")
    return build(settings, "model", num_classes=12, **unset_sizes(settings, 40, 101))


@pytest.mark.parametrize(
    ("group", "name", "key", "value"),
    numeric_settings(),
    ids=lambda v: repr(v) if isinstance(v, float | int) else str(v),
)
def test_every_numeric_setting_out_of_range_names_its_key(group, name, key, value):
    with pytest.raises(ValueError) as error:
        make(group, name, **{key: value})
    assert re.match(rf"{group}\.{key}\b", str(error.value)), str(error.value)


def test_the_walk_covers_every_frontend_and_head():
    walked = {(group, name, key) for group, name, key, _ in numeric_settings()}
    assert ("frontend", "leaf", "log_eps") in walked and ("model", "bcresnet", "tau") in walked
    assert len({name for _, name, _ in walked}) == 9  # 7 frontends, 2 heads
    assert {key for _, name, key in walked if name == "mel_tutorial"} >= {"n_fft", "power"}


@pytest.mark.parametrize(
    ("group", "name", "changes", "message"),
    [
        ("frontend", "mel", {"log_eps": math.nan}, r"frontend\.log_eps must be a finite number"),
        ("frontend", "leaf", {"log_eps": -1.0}, r"frontend\.log_eps must be in \(0, 1\], got -1"),
        ("frontend", "mel", {"f_min": -100.0}, r"frontend\.f_min must satisfy 0 <= f_min < f_max"),
        (
            "frontend",
            "sinc",
            {"f_max": 9000.0},
            r"frontend\.f_max must .* = 8000, got f_min=0.0, f_max=9000.0",
        ),
        ("frontend", "mel", {"power": math.inf}, r"frontend\.power must be a finite number"),
        ("frontend", "mfcc", {"top_db": math.nan}, r"frontend\.top_db must be a finite number"),
        ("frontend", "stft", {"hop_length": 2.5}, r"frontend\.hop_length must be a whole number"),
        ("frontend", "stft", {"hop_length": 481}, r"frontend\.hop_length must be in \[1, 480\]"),
        ("frontend", "leaf", {"pooling_width": math.inf}, r"frontend\.pooling_width must be a"),
        ("frontend", "sinc", {"min_low_hz": 7990.0}, r"frontend\.min_low_hz \+ frontend\.min_b"),
        ("frontend", "triangular", {"sample_rate": math.inf}, r"frontend\.sample_rate must be a"),
        ("model", "bcresnet", {"dropout": 5}, r"model\.dropout must be in \[0, 1\], got 5"),
        ("model", "bcresnet", {"tau": math.nan}, r"model\.tau must be a finite number, got nan"),
        ("model", "bcresnet", {"tau": 0.1}, r"model\.tau must be in \[0.125, 1000\], got 0.1"),
        ("model", "linear", {"frames": -1}, r"model\.frames must be in \[1, 100000\], got -1"),
    ],
)
def test_the_message_says_what_the_range_is(group, name, changes, message):
    with pytest.raises(ValueError, match=f"^{message}"):
        make(group, name, **changes)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("frontend.log_eps=nan", r"^frontend\.log_eps must be a finite number, got nan"),
        ("frontend.f_min=-100", r"^frontend\.f_min must satisfy 0 <= f_min < f_max"),
        ("frontend=leaf frontend.n_fft=16384", r"^frontend\.n_fft must be in \[2, 8192\], got"),
        ("model.dropout=5", r"^model\.dropout must be in \[0, 1\], got 5"),
        ("model.tau=nan", r"^model\.tau must be a finite number, got nan"),
        ("data.batch_size=100000000", r"^data\.batch_size must be in \[1, 65536\], got 100000000"),
        ("+data.eval_batch_size=100000", r"^data\.eval_batch_size must be in \[1, 65536\]"),
        ("data.num_workers=100000", r"^data\.num_workers must be in \[0, 1024\], got 100000"),
        ("trainer.gradient_clip_val=nan", r"^trainer\.gradient_clip_val must be a finite number"),
        ("trainer.gradient_clip_val=-1", r"^trainer\.gradient_clip_val must be in \[0, inf\]"),
    ],
)
def test_train_names_the_key_before_the_data_is_looked_at(
    compose_config, tmp_path, override, message
):
    # No data set exists there: reaching the data would fail with another message.
    overrides = [f"data_dir={tmp_path / 'nowhere'}", "data.download=false", *override.split()]
    with pytest.raises(ValueError, match=message):
        train(compose_config(overrides))
    assert not (tmp_path / "nowhere").exists()
    assert not (tmp_path / "run" / "config.yaml").exists()


def test_gradient_clipping_is_checked_before_the_trainer_is_built(compose_config):
    cfg = compose_config(["trainer.gradient_clip_val=inf"])
    with pytest.raises(ValueError, match=r"^trainer\.gradient_clip_val must be a finite number"):
        make_trainer(cfg)
    assert make_trainer(compose_config(["trainer.gradient_clip_val=0.5"])).gradient_clip_val == 0.5


@pytest.mark.parametrize("batch_size", [0, 65537, 10**8, 2.5, math.nan])
def test_the_datamodule_bounds_its_batch_size(tmp_path, batch_size):
    with pytest.raises(ValueError, match=r"^data\.batch_size must be"):
        SpeechCommandsDataModule(root=str(tmp_path), batch_size=batch_size, download=False)
    assert SpeechCommandsDataModule(root=str(tmp_path), batch_size=65536).hparams.batch_size


# Size bounds of the layers themselves: n_fft, kernel_size, n_mels.


@pytest.mark.parametrize(
    ("layer", "settings", "message"),
    [
        (LEAF, {"n_fft": 8194}, r"frontend\.n_fft must be in \[2, 8192\], got 8194"),
        (SincFilterbank, {"kernel_size": 513}, r"frontend\.kernel_size must be in \[1, 512\]"),
        (SincFilterbank, {"kernel_size": 250}, r"frontend\.kernel_size must be odd"),
        (TriangularFilterbank, {"n_mels": 258}, r"frontend\.n_mels must be in \[1, 257\]"),
        (SincFilterbank, {"n_mels": 258}, r"frontend\.n_mels must be in \[1, 257\]"),
        (
            LEAF,
            {"n_mels": 130, "n_fft": 256, "win_length": 256},
            r"frontend\.n_mels must be in \[1, 129\]",
        ),
    ],
)
def test_sizes_are_bounded_by_the_layer(layer, settings, message):
    with pytest.raises(ValueError, match=f"^{message}"):
        layer(**settings)


@pytest.mark.parametrize(
    ("layer", "settings"),
    [(TriangularFilterbank, {}), (SincFilterbank, {"kernel_size": 63}), (LEAF, {})],
)
def test_as_many_filters_as_bins_still_build(layer, settings):
    frontend = layer(n_fft=64, win_length=64, hop_length=32, n_mels=33, **settings)
    features = frontend(0.1 * torch.randn(1, 800))
    assert features.shape == (1, 33, 26) and torch.isfinite(features).all()
