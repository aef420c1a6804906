"""``kws.registry``: each part's classes register themselves where they are defined; a name
leads to a registered one or to nothing, and only modules under the part's own package are
ever imported to find one."""

from __future__ import annotations

import importlib

import pytest
import torch

from kws.frontend import MelSpectrogram
from kws.models import BCResNet
from kws.registry import REGISTRY, ConfigError, build, check, lookup, register
from kws.training.schedules import warmup_cosine


@pytest.mark.parametrize(
    ("part", "names", "expected"),
    [
        ("frontend", ["kws.frontend.MelSpectrogram", "kws.frontend.mel.MelSpectrogram"],
         MelSpectrogram),
        ("model", ["kws.models.BCResNet", "kws.models.bcresnet.BCResNet"], BCResNet),
        ("optimizer", ["torch.optim.SGD"], torch.optim.SGD),
        ("scheduler", ["kws.training.schedules.warmup_cosine"], warmup_cosine),
    ],
)  # fmt: skip
def test_every_path_to_a_registered_class_leads_to_it(part, names, expected):
    assert [lookup(part, name) for name in names] == [expected] * len(names)


def test_the_data_sources_register_themselves():
    from kws.data import FolderDataModule, SpeechCommandsDataModule

    assert lookup("data", "kws.data.SpeechCommandsDataModule") is SpeechCommandsDataModule
    assert lookup("data", "kws.data.FolderDataModule") is FolderDataModule


@pytest.mark.parametrize(
    "name",
    [
        "os.system",  # outside the part's package
        "kws.tasks.common.os.system",
        "kws.frontendx.evil.Evil",  # a namesake of the package
        "kws.frontend._private.Thing",  # a private module
        "kws.frontend.__main__.main",
        "kws.frontend.mel.MelSpectrogram.__init__",
        "kws.frontend..MelSpectrogram",
        "kws.frontend.a-b.C",
        "kws.frontend.MelSpectrogram\n.x",
    ],
)
def test_only_modules_under_the_part_package_are_imported(monkeypatch, name):
    imported = []
    real = importlib.import_module

    def spy(module: str, *args, **kwargs):
        imported.append(module)
        return real(module, *args, **kwargs)

    monkeypatch.setattr(importlib, "import_module", spy)
    assert lookup("frontend", name) is None
    assert imported == ["kws.frontend"]  # the part's package, where its classes register


@pytest.mark.parametrize(
    "name",
    ["kws.frontend.mel.torch", "kws.frontend.stft.F.conv1d", "kws.frontend.no_such_module.X",
     "kws.models.bcresnet.PastFrames", "kws.frontend.STFT.forward", 42, None],
)  # fmt: skip
def test_a_name_that_leads_to_nothing_registered_is_refused(name):
    with pytest.raises(ConfigError, match=r"frontend\._target_: .* is not one of \[.*@register"):
        check({"_target_": name}, "frontend")


def test_a_class_is_registered_for_its_part_only():
    with pytest.raises(ConfigError, match=r"^model\._target_: 'kws.frontend.MelSpectrogram'"):
        check({"_target_": "kws.frontend.MelSpectrogram"}, "model")


def test_a_class_registers_by_its_definition_and_its_other_names(monkeypatch):
    monkeypatch.setitem(REGISTRY, "model", dict(REGISTRY["model"]))

    @register("model", "my.Head")
    class Head(torch.nn.Linear):
        pass

    config = {"_target_": f"{__name__}.{Head.__qualname__}", "in_features": 3}
    head = build(config, "model", out_features=2)
    assert isinstance(head, Head) and head.weight.shape == (2, 3)
    assert lookup("model", "my.Head") is Head
    assert lookup("frontend", "my.Head") is None
    with pytest.raises(KeyError):
        register("head")


@pytest.mark.parametrize("part", ["frontend", "model", "data"])
def test_a_name_too_deep_or_long_for_an_import_is_refused_in_one_line(part):
    # 300 dotted parts took Python's import past its recursion limit (a RecursionError, no key).
    home = {"frontend": "kws.frontend", "model": "kws.models", "data": "kws.data"}[part]
    for name in (home + ".a" * 300 + ".X", f"{home}.{'a' * 300}.X"):
        with pytest.raises(ConfigError, match=rf"^{part}\._target_: '{home}\.a.{{40,}}\.\.\. is"):
            check({"_target_": name}, part)


def test_arguments_nested_too_deep_are_refused_in_one_line():
    deep: list = [1]
    for _ in range(400):  # torch.save writes it; a recursive check ran out of stack on it
        deep = [deep]
    with pytest.raises(ConfigError, match=r"^frontend\.n_mels: only .* \(at most 8 deep\)"):
        check({"_target_": "kws.frontend.MelSpectrogram", "n_mels": deep}, "frontend")
    nested = [[[[[[[[1]]]]]]]]  # 8 deep: still plain data
    assert check({"_target_": "kws.frontend.MelSpectrogram", "n_mels": nested}, "frontend")
