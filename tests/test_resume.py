"""Resuming with the README's command (`python train.py ... ckpt_path=RUN/checkpoints/last.ckpt`)
goes on in the checkpoint's run folder and ends exactly as an uninterrupted run; a checkpoint of
another model or class list is refused before any training."""

from __future__ import annotations

import csv
import re
import shutil
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from hydra.utils import instantiate

from kws.data import FolderDataModule, SpeechCommandsDataModule
from kws.tasks import train
from kws.tasks.train import build_module
from kws.training import CheckpointError, KWSModule, check_resume
from kws.training.hard_negatives import HardNegativeMining
from kws.training.stream_validation import StreamValidation

BASE = ["model=linear", "trainer.max_epochs=4", "trainer.deterministic=true", "seed=3",
        "data.batch_size=64", "test_ckpt=best", "trainer.enable_progress_bar=false",
        # The worst epoch as `best`: an early one, so the choice spans the interruption.
        "callbacks.best_checkpoint.mode=min"]  # fmt: skip


class StopAfterEpoch(pl.Callback):
    """Ends fitting after ``epoch`` (0-based), as a killed job would, once its checkpoint is out."""

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.current_epoch == self.epoch and not trainer.sanity_checking:
            trainer.should_stop = True


def weights(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, weights_only=True)["state_dict"]


def test_a_resumed_run_ends_exactly_like_an_uninterrupted_one(
    compose_config, synthetic_overrides, tmp_path
):
    base = [*synthetic_overrides, *BASE]
    whole = train(compose_config([*base, f"output_dir={tmp_path / 'whole'}"]))

    cut = tmp_path / "cut"
    train(
        compose_config(
            [
                *base,
                f"output_dir={cut}",
                f"+callbacks.stop._target_={__name__}.StopAfterEpoch",
                "+callbacks.stop.epoch=1",
            ]
        )  # fmt: skip
    )
    # The run folder moves (its checkpoints name the old place), then the README's command: a
    # new Hydra folder, the checkpoint of the interrupted run.
    cut = Path(shutil.move(cut, tmp_path / "moved"))
    resumed = train(
        compose_config(
            [*base, f"output_dir={tmp_path / 'new'}", f"ckpt_path={cut}/checkpoints/last.ckpt"]
        )
    )
    assert resumed["epochs"] == whole["epochs"] == 4
    for key in ("val/acc", "val/loss", "test/acc", "test/loss"):
        assert resumed[key] == whole[key], key
    assert Path(resumed["checkpoint"]) == cut / "checkpoints" / "best.ckpt"
    assert torch.load(resumed["checkpoint"], weights_only=True)["epoch"] <= 1
    best_whole, best_resumed = (
        weights(p / "checkpoints" / "best.ckpt") for p in (tmp_path / "whole", cut)
    )
    assert best_whole.keys() == best_resumed.keys()
    assert all(torch.equal(best_whole[k], best_resumed[k]) for k in best_whole)
    assert (cut / "metrics.json").is_file() and not (tmp_path / "new" / "metrics.json").exists()
    assert sorted(p.name for p in (cut / "checkpoints").iterdir()) == ["best.ckpt", "last.ckpt"]
    logged = [row["epoch"] for row in csv.DictReader((cut / "csv" / "metrics.csv").open())]
    assert {"0", "1", "2", "3"} <= set(logged), "the resumed run keeps the first epochs' log"


@pytest.fixture
def run_folder(compose_config, synthetic_overrides, tmp_path) -> Path:
    """A run folder holding an (untrained) BC-ResNet-1 checkpoint on the 12 classes."""
    cfg = compose_config(synthetic_overrides)
    datamodule = instantiate(cfg.data, _convert_="all")
    module = build_module(cfg, datamodule.class_names, datamodule.clip_format)
    run = tmp_path / "trained"
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.yaml").write_text("seed: 0\n")
    torch.save({"hyper_parameters": dict(module.hparams), "state_dict": module.state_dict(),
                "datamodule_hyper_parameters": dict(datamodule.hparams)},
               run / "checkpoints" / "last.ckpt")  # fmt: skip
    return run


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        (
            ["data.keywords=[no,yes,up,down,left,right,on,off,stop,go]"],
            r"class_names: checkpoint \['_silence_', '_unknown_', 'yes', 'no'",
        ),
        (["model=linear"], r"model: checkpoint \{'_target_': 'kws.models.BCResNet'"),
        (["data.keywords=[yes,no]"], "class_names"),
        (["frontend.n_mels=80"], r"frontend: checkpoint"),
        (
            ["data.protocol=tensorflow"],
            r"data\.protocol: checkpoint 'bcresnet', config 'tensorflow'",
        ),
        (["data.seed=7"], r"data\.seed: checkpoint 0, config 7"),
    ],
)
def test_resume_refuses_another_model_or_class_list(
    compose_config, synthetic_overrides, run_folder, overrides, reason
):
    ckpt = run_folder / "checkpoints" / "last.ckpt"
    cfg = compose_config([*synthetic_overrides, *overrides, f"ckpt_path={ckpt}"])
    with pytest.raises(CheckpointError, match=rf"{ckpt}: cannot resume.*{reason}"):
        train(cfg)
    assert sorted(p.name for p in run_folder.rglob("*")) == [
        "checkpoints",
        "config.yaml",
        "last.ckpt",
    ]


def test_resume_needs_the_checkpoint_in_its_run_folder(
    compose_config, synthetic_overrides, run_folder, tmp_path
):
    loose = Path(shutil.copy(run_folder / "checkpoints" / "last.ckpt", tmp_path / "loose.ckpt"))
    with pytest.raises(FileNotFoundError, match=rf"ckpt_path={loose}: resuming needs"):
        train(compose_config([*synthetic_overrides, f"ckpt_path={loose}"]))
    with pytest.raises(FileNotFoundError, match="no such checkpoint file"):
        train(compose_config([*synthetic_overrides, f"ckpt_path={tmp_path / 'gone.ckpt'}"]))


def one_epoch_run(compose_config, synthetic_overrides, run: Path) -> tuple[list[str], Path]:
    """A one-epoch linear run in ``run``: its overrides, and its ``last.ckpt`` to resume from."""
    base = [*synthetic_overrides, "model=linear", "trainer.max_epochs=1",
            "trainer.enable_progress_bar=false"]  # fmt: skip
    train(compose_config([*base, f"output_dir={run}"]))
    return base, run / "checkpoints" / "last.ckpt"


def test_resume_takes_no_path_from_the_checkpoint_and_follows_no_link(
    compose_config, synthetic_overrides, tmp_path
):
    run = tmp_path / "run"
    base, last = one_epoch_run(compose_config, synthetic_overrides, run)
    victim = tmp_path / "victim"
    (victim / "inner").mkdir(parents=True)
    checkpoint = torch.load(last, weights_only=True)
    for state in checkpoint["callbacks"].values():  # Lightning deletes a "previous" best/last
        if "best_model_path" in state:
            state["best_model_path"] = state["last_model_path"] = f"local://{victim}"
            state["kth_best_model_path"] = str(victim)
            state["best_k_models"] = {str(victim): state["best_model_score"]}
    torch.save(checkpoint, last)

    metrics = train(compose_config([*base, "trainer.max_epochs=2", f"ckpt_path={last}"]))
    assert (victim / "inner").is_dir(), "a path from the checkpoint was deleted"
    assert Path(metrics["checkpoint"]).parent == run / "checkpoints"

    (run / "csv" / "metrics.csv").unlink()
    (run / "csv" / "metrics.csv").symlink_to(tmp_path / "elsewhere.csv")
    with pytest.raises(ValueError, match=r"metrics\.csv is a symbolic link"):
        train(compose_config([*base, "trainer.max_epochs=3", f"ckpt_path={last}"]))
    assert not (tmp_path / "elsewhere.csv").exists()


@pytest.fixture(scope="module")
def linear() -> tuple[KWSModule, dict]:
    """A small (untrained) module and its checkpoint's contents."""
    module = KWSModule(
        {"_target_": "kws.frontend.MelSpectrogram", "n_mels": 40},
        {"_target_": "kws.models.LinearClassifier", "n_features": None, "frames": None},
        ["a", "b", "c"],
        {"_target_": "torch.optim.SGD", "lr": 0.1},
    )
    return module, {"hyper_parameters": dict(module.hparams), "state_dict": module.state_dict()}


@pytest.mark.parametrize(
    ("callbacks", "reason"),
    [
        ([0, 1], r"its callbacks are a list, not callback states by name"),
        ({"HardNegativeMining": [0, 16000]}, r"callbacks\['HardNegativeMining'\] is a list, not"),
        (
            {"HardNegativeMining": {"starts": "0,16000", "fingerprint": "f"}},
            r"callbacks\['HardNegativeMining'\] is refused \(ValueError: .*\('starts'\) are not "
            r"sample offsets \(integers >= 0\), got '0,16000'",
        ),
        (
            {"HardNegativeMining": {"starts": [0, 16000], "fingerprint": 7}},
            r"callbacks\['HardNegativeMining'\] is refused \(ValueError: .*its 'fingerprint' is 7",
        ),
        (
            {"HardNegativeMining": {"starts": list(range(300)), "fingerprint": "f"}},
            r"callbacks\['HardNegativeMining'\] is refused \(ValueError: .*'starts' holds 300 "
            r"windows, more than max_windows=256",
        ),
    ],
    ids=["not-a-dict", "state-not-a-dict", "starts", "fingerprint", "too-many"],
)
def test_a_crafted_callback_state_names_the_file_and_the_key(linear, tmp_path, callbacks, reason):
    module, checkpoint = linear
    torch.save({**checkpoint, "callbacks": callbacks}, tmp_path / "last.ckpt")
    path = re.escape(str(tmp_path / "last.ckpt"))
    with pytest.raises(CheckpointError, match=rf"^{path}: .*{reason}"):
        check_resume(tmp_path / "last.ckpt", module, callbacks=[HardNegativeMining()])


def test_a_sound_callback_state_passes_and_the_check_loads_no_callback(linear, tmp_path):
    module, checkpoint = linear
    state = {"HardNegativeMining": {"starts": [0, 16000], "fingerprint": "f"}}
    torch.save({**checkpoint, "callbacks": state}, tmp_path / "last.ckpt")
    mining = HardNegativeMining()
    check_resume(tmp_path / "last.ckpt", module, callbacks=[mining, StreamValidation()])
    assert mining.starts.tolist() == [] and mining.fingerprint is None


@pytest.mark.parametrize(
    ("key", "value", "reason"),
    [
        ("negative_weight", float("nan"), r"its negative_weight nan is not a finite number > 0"),
        ("calibration", {"threshold": 2.0}, r"calibration\.target_fa_per_hour is None"),
    ],
)
def test_resume_names_the_file_of_a_crafted_calibration(linear, tmp_path, key, value, reason):
    module, checkpoint = linear
    torch.save({**checkpoint, key: value}, tmp_path / "last.ckpt")
    path = re.escape(str(tmp_path / "last.ckpt"))
    with pytest.raises(CheckpointError, match=rf"^{path}: .*{reason}"):
        check_resume(tmp_path / "last.ckpt", module)


def test_resume_refuses_a_crafted_score_naming_the_file_and_the_callback(
    compose_config, synthetic_overrides, tmp_path
):
    run = tmp_path / "run"
    base, last = one_epoch_run(compose_config, synthetic_overrides, run)
    checkpoint = torch.load(last, weights_only=True)
    [key] = [k for k, state in checkpoint["callbacks"].items() if state.get("monitor")]
    checkpoint["callbacks"][key]["best_model_score"] = "abc"
    torch.save(checkpoint, last)
    before = sorted(p.name for p in run.rglob("*"))
    reason = rf"callbacks\[{re.escape(repr(key))}\] is refused \(ValueError: its best_model_score"
    with pytest.raises(CheckpointError, match=rf"^{re.escape(str(last))}: .*{reason}"):
        train(compose_config([*base, "trainer.max_epochs=2", f"ckpt_path={last}"]))
    assert sorted(p.name for p in run.rglob("*")) == before


def test_a_data_source_names_the_settings_a_resume_must_keep(linear, tmp_path):
    """check_resume compares the settings the data source's own ``RESUME_KEYS`` name: a folder
    data set's split percentages among them (its splits are drawn from them), Speech Commands'
    official test set among its own."""
    assert "validation_percentage" in FolderDataModule.RESUME_KEYS
    assert "test_set" in SpeechCommandsDataModule.RESUME_KEYS
    assert "negatives" in FolderDataModule.PATH_KEYS
    module, checkpoint = linear
    saved = {"root": "/data/words", "seed": 0, "validation_percentage": 10.0}
    torch.save({**checkpoint, "datamodule_hyper_parameters": saved}, tmp_path / "last.ckpt")

    class Folder:  # a configured data source: its class's keys, its hyper-parameters
        RESUME_KEYS = FolderDataModule.RESUME_KEYS

        def __init__(self, **settings: object) -> None:
            self.hparams = settings

    check_resume(tmp_path / "last.ckpt", module, Folder(**saved))
    with pytest.raises(
        CheckpointError, match=r"cannot resume.*data\.validation_percentage: checkpoint 10\.0, "
    ):
        check_resume(
            tmp_path / "last.ckpt", module, Folder(**{**saved, "validation_percentage": 20.0})
        )
