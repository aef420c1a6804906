"""A checkpoint is hostile input: loading, evaluating or resuming from one never runs code or
writes files, whatever its configs name; only ``kws.training.registry``'s exact names are built."""

from __future__ import annotations

import copy
import zipfile
from pathlib import Path
from typing import Any

import pytest
import torch
from conftest import run_command

from kws.training import CheckpointError, KWSModule, load_checkpoint, saved_datamodule
from kws.training.registry import REGISTRY, ConfigError, build

ROOT = Path(__file__).resolve().parents[1]
MEL = {"_target_": "kws.frontend.MelSpectrogram", "n_mels": 40}
LINEAR = {"_target_": "kws.models.LinearClassifier", "n_features": None, "frames": None}
SGD = {"_target_": "torch.optim.SGD", "lr": 0.1}


@pytest.fixture(scope="module")
def genuine() -> dict[str, Any]:
    """A real (untrained) kws checkpoint's contents, as ``torch.save`` would write them."""
    module = KWSModule(MEL, LINEAR, ["a", "b", "c"], SGD)
    return {"hyper_parameters": dict(module.hparams), "state_dict": module.state_dict()}


def tampered(genuine: dict[str, Any], path: Path, part: str, config: Any) -> Path:
    checkpoint = copy.deepcopy(genuine)
    checkpoint["hyper_parameters"][part] = config
    torch.save(checkpoint, path)
    return path


def test_the_genuine_checkpoint_loads(genuine, tmp_path):
    torch.save(genuine, tmp_path / "ok.ckpt")
    module = load_checkpoint(tmp_path / "ok.ckpt")
    assert module.class_names == ["a", "b", "c"] and not module.training
    loaded = module.state_dict()
    assert loaded.keys() == genuine["state_dict"].keys()
    assert all(torch.equal(loaded[k], genuine["state_dict"][k]) for k in loaded)


# Callables reached through the attribute paths of kws's and the standard library's modules.
ATTACKS = [
    "kws.frontend.stft.torch.load",
    "kws.frontend.stft.torch.save",
    "kws.tasks.common.os.system",
    "kws.data.download.tarfile.open",
    "os.system",
    "builtins.eval",
    "subprocess.Popen",
    "kws.frontend.MelSpectrogram.__init__",
    "kws.frontend.mel.MelSpectrogram",  # a real class, but not under its registered name
    "torch.optim.Optimizer",
]


@pytest.mark.parametrize("part", ["frontend", "model", "optimizer", "spec_augment", "scheduler"])
@pytest.mark.parametrize("target", ATTACKS)
def test_a_target_outside_the_registry_is_refused(genuine, tmp_path, part, target):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    config = {"_target_": target, "f": str(victim), "obj": {}, "weights_only": False}
    path = tampered(genuine, tmp_path / "evil.ckpt", part, config)
    with pytest.raises(CheckpointError, match=rf"{path}: .*{part}\._target_: '{target}'"):
        load_checkpoint(path)
    assert victim.read_text() == "precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["evil.ckpt", "victim.txt"]


@pytest.mark.parametrize(
    ("config", "reason"),
    [
        (
            {**MEL, "n_mels": {"_target_": "os.system", "command": "touch pwned"}},
            r"frontend\.n_mels",
        ),
        ({**MEL, "_partial_": True}, "'_partial_' is not an argument"),
        ({**MEL, "_args_": ["touch pwned"]}, "'_args_' is not an argument"),
        ({**MEL, "__class__": "x"}, "'__class__' is not an argument"),
        (["kws.frontend.MelSpectrogram"], "expected a config with a _target_"),
    ],
)
def test_arguments_must_be_plain_data(genuine, tmp_path, config, reason):
    path = tampered(genuine, tmp_path / "evil.ckpt", "frontend", config)
    with pytest.raises(CheckpointError, match=reason):
        load_checkpoint(path)
    assert not (tmp_path / "pwned").exists()


@pytest.mark.parametrize(
    ("key", "value", "reason"),
    [
        ("class_names", ["a", "a", "b"], "repeat a name"),
        ("class_names", [], "non-empty list"),
        ("clip_samples", 10**12, "outside"),
        ("format", "kws-0", "not a kws checkpoint"),
    ],
)
def test_hyper_parameters_are_checked_before_anything_is_built(
    genuine, tmp_path, key, value, reason
):
    path = tampered(genuine, tmp_path / "odd.ckpt", key, value)
    with pytest.raises(CheckpointError, match=reason):
        load_checkpoint(path)


def test_an_extra_hyper_parameter_is_refused(genuine, tmp_path):
    checkpoint = copy.deepcopy(genuine)
    checkpoint["hyper_parameters"]["_target_"] = "os.system"
    torch.save(checkpoint, tmp_path / "extra.ckpt")
    with pytest.raises(CheckpointError, match="hyper-parameters"):
        load_checkpoint(tmp_path / "extra.ckpt")


def test_every_registered_name_imports_to_what_it_builds():
    from hydra.utils import get_object

    for table in REGISTRY.values():
        for name, target in table.items():
            assert get_object(name) is target, name


def test_build_names_the_config_key_to_fix():
    with pytest.raises(ConfigError, match=r"module\.optimizer\._target_: 'torch\.optim\.LBFGSX'"):
        build({"_target_": "torch.optim.LBFGSX"}, "optimizer")


def test_evaluate_and_resume_refuse_a_code_running_checkpoint_in_one_line(genuine, tmp_path):
    victim = tmp_path / "victim.txt"
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.yaml").write_text("seed: 0\n")
    path = run / "checkpoints" / "last.ckpt"
    config = {"_target_": "kws.frontend.stft.torch.save", "obj": "pwned", "f": str(victim)}
    tampered(genuine, path, "frontend", config)

    evaluated = run_command("evaluate.py", f"ckpt_path={path}", cwd=tmp_path)
    resumed = run_command("train.py", "data=synthetic", f"ckpt_path={path}", cwd=tmp_path)
    for result in (evaluated, resumed):
        assert result.returncode == 1, result.stderr
        assert "Traceback" not in result.stderr
        errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
        assert len(errors) == 1 and str(path) in errors[0]
        assert "'kws.frontend.stft.torch.save' is not one of" in errors[0]
    assert not victim.exists()


def test_a_compressed_zip_is_refused_before_it_is_unpacked(genuine, tmp_path):
    torch.save(genuine, tmp_path / "plain.ckpt")
    bomb = tmp_path / "deflated.ckpt"
    with zipfile.ZipFile(tmp_path / "plain.ckpt") as plain, zipfile.ZipFile(bomb, "w") as out:
        for member in plain.infolist():
            out.writestr(member.filename, plain.read(member), zipfile.ZIP_DEFLATED)
    assert torch.load(bomb, weights_only=True)["hyper_parameters"]  # torch itself would load it
    with pytest.raises(
        CheckpointError, match=r"deflated\.ckpt: not a torch\.save file .*compressed"
    ):
        load_checkpoint(bomb)


def test_saved_data_settings_keep_the_cache_beside_the_data(tmp_path):
    saved = {"_target_": "kws.data.SpeechCommandsDataModule", "root": str(tmp_path / "data"),
             "cache_dir": str(tmp_path / "elsewhere"), "test_set": "list"}  # fmt: skip
    datamodule = saved_datamodule("x.ckpt", saved)
    assert datamodule.cache_dir == tmp_path / "cache"
    with pytest.raises(CheckpointError, match=r"x\.ckpt: its data\.root is not an absolute path"):
        saved_datamodule("x.ckpt", {**saved, "root": "data/speech_commands_v0.02"})
