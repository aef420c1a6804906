"""A checkpoint is hostile input: loading, evaluating or resuming from one never runs code or
writes files, whatever its configs name; only what ``kws.registry`` holds for each part is built."""

from __future__ import annotations

import contextlib
import copy
import re
import resource
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from conftest import run_command

from kws.registry import REGISTRY, ConfigError, build
from kws.training import CheckpointError, KWSModule, load_checkpoint, saved_datamodule

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
    "kws.frontend.mel.torch",  # a module's attribute under a part's package, not registered
    "kws.frontend.stft.F.conv1d",
    "kws.models.bcresnet.PastFrames",  # a real kws class, not registered
    "kws.frontend.mel.MelSpectrogram._load_from_state_dict",
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


def test_a_folder_checkpoint_of_a_retired_setting_says_what_to_pass(tmp_path):
    # Saved before data.align replaced data.long_clips.
    saved = {"_target_": "kws.data.FolderDataModule", "root": str(tmp_path / "words"),
             "keywords": ["hey"], "long_clips": "refuse"}  # fmt: skip
    with pytest.raises(CheckpointError, match=r"^x\.ckpt: its data settings cannot be used "
                       r"\(data\.long_clips is gone: data\.align .*pass data=\.\.\."):  # fmt: skip
        saved_datamodule("x.ckpt", saved)


@contextlib.contextmanager
def address_space_cap(extra: int) -> Iterator[None]:
    """Let this process map at most ``extra`` more bytes while the block runs, so a memory bomb
    ends in an allocation error, not in the machine's memory."""
    status = Path("/proc/self/status").read_text()
    mapped = int(re.search(r"VmSize:\s+(\d+) kB", status).group(1)) * 1024
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (mapped + extra, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


BCRESNET = {"_target_": "kws.models.BCResNet", "n_features": None}
HOP_1 = {"_target_": "kws.frontend.STFT", "n_fft": 8192, "hop_length": 1}


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        (  # 4.4 G parameters: 17.7 GB
            {"model": {**BCRESNET, "tau": 1000}},
            r"model kws\.models\.BCResNet \(.*tau=1000.*\) has 4,420,516,003 parameters, more "
            r"than 50,000,000",
        ),
        (  # a linear layer of 4e8 inputs: 4.8 GB
            {"model": {**LINEAR, "n_features": 20000, "frames": 20000}},
            r"model kws\.models\.LinearClassifier \(n_features=20000, frames=20000\) has "
            r"1,200,000,003 parameters",
        ),
        (  # 960,001 frames of 8,192 samples: 31.5 GB
            {
                "frontend": HOP_1,
                "model": {**LINEAR, "n_features": 4097, "frames": 960001},
                "clip_samples": 960000,
            },
            r"frontend kws\.frontend\.STFT \(n_fft=8192, hop_length=1\) cuts a clip of "
            r"clip_samples=960000 into 960,001 frames of 8,194 values \(29\.3 GiB\)",
        ),
        (  # BC-ResNet-70 (45 M parameters) on 60 s: a 0.5 GB activation per clip
            {"model": {**BCRESNET, "tau": 70}, "clip_samples": 960000},
            r"model kws\.models\.BCResNet \(.*tau=70.*\) makes a 0\.50 GiB tensor of one clip's "
            r"\(40, 6001\) features",
        ),
        (  # a frontend too big to build, refused before the layer is (which refuses it too)
            {"frontend": {"_target_": "kws.frontend.LEAF", "n_fft": 10**9}},
            r"frontend\.n_fft=1000000000 is above 8192",
        ),
    ],
    ids=["bcresnet-tau-1000", "linear-20000x20000", "stft-hop-1-60s", "activation", "leaf-n_fft"],
)
def test_a_model_too_big_for_memory_is_refused_before_it_is_built(
    genuine, tmp_path, changes, reason
):
    checkpoint = copy.deepcopy(genuine)
    checkpoint["hyper_parameters"].update(changes)
    path = tmp_path / "bomb.ckpt"
    torch.save(checkpoint, path)
    assert path.stat().st_size < 4 * 2**20  # a file of a few MB
    with address_space_cap(3 * 2**30), pytest.raises(CheckpointError) as error:
        load_checkpoint(path)
    assert re.match(
        rf"{re.escape(str(path))}: damaged or tampered kws checkpoint: ", str(error.value)
    )
    assert re.search(reason, str(error.value)), str(error.value)


@pytest.mark.parametrize(
    ("frontend", "model", "clip_samples"),
    [
        (MEL, {**BCRESNET, "tau": 8}, 16000),  # BC-ResNet-8: 321 K parameters
        ({**MEL, "n_fft": 2048}, LINEAR, 960000),  # 60 s clips: 6,001 frames of 2,050 bins
    ],
    ids=["bcresnet-8", "60s-clips"],
)
def test_real_models_pass_the_size_checks(tmp_path, frontend, model, clip_samples):
    module = KWSModule(frontend, model, ["a", "b", "c"], SGD, clip_samples=clip_samples)
    checkpoint = {"hyper_parameters": dict(module.hparams), "state_dict": module.state_dict()}
    torch.save(checkpoint, tmp_path / "real.ckpt")
    loaded = load_checkpoint(tmp_path / "real.ckpt")
    assert loaded.hparams.clip_samples == clip_samples
    assert sum(p.numel() for p in loaded.parameters()) > 3e5


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
def test_weights_that_are_not_finite_are_refused(genuine, tmp_path, value):
    checkpoint = copy.deepcopy(genuine)
    checkpoint["state_dict"]["spotter.head.fc.weight"][1, 7] = value
    checkpoint["state_dict"]["spotter.head.fc.weight"][2, 9] = value
    torch.save(checkpoint, tmp_path / "nan.ckpt")
    message = (
        rf"{re.escape(str(tmp_path / 'nan.ckpt'))}: damaged or tampered kws checkpoint: "
        r"its weights state_dict\['spotter\.head\.fc\.weight'\] hold 2 NaN or infinite values"
    )
    with pytest.raises(CheckpointError, match=message):
        load_checkpoint(tmp_path / "nan.ckpt")
