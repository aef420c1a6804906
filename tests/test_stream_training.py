"""Stream-aware training end to end (experiment=streaming): validation on streams, the calibrated
threshold in the checkpoint and the export, hard negatives kept across a resume, the negative
weight ramp, and the errors that stop a run before its first epoch."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import CONF_DIR
from hydra import compose, initialize_config_dir

from kws.tasks import train
from kws.training import load_checkpoint
from kws.training.hard_negatives import pick_windows
from kws_runtime.calibration import Calibration

#: A few seconds of everything: two epochs, short streams, the linear head.
QUICK = [
    "experiment=streaming",
    "model=linear",
    "trainer.max_epochs=2",
    "trainer.check_val_every_n_epoch=1",
    "module.scheduler.warmup_epochs=0",
    "trainer.enable_progress_bar=false",
    "data.stream_examples.stream_minutes=0.5",
    "callbacks.stream_validation.word_minutes=0.5",
    "callbacks.stream_validation.free_minutes=0.5",
    "callbacks.hard_negatives.every_n_epochs=1",
    "callbacks.hard_negatives.max_windows=16",
    "~callbacks.frontend_figures",
]


def logged(run: Path) -> list[dict[str, str]]:
    with open(run / "csv" / "metrics.csv") as file:
        return [{k: v for k, v in row.items() if v} for row in csv.DictReader(file)]


@pytest.fixture(scope="module")
def streaming_run(tmp_path_factory: pytest.TempPathFactory, synthetic_root: Path) -> Path:
    """One stream-aware run of two epochs on the session's generated data."""
    run = tmp_path_factory.mktemp("streaming")
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose(
            "train",
            overrides=[f"output_dir={run}", "data=synthetic", f"data.root={synthetic_root}",
                       *QUICK, "callbacks.stream_validation.ramp_negative_weight=true"],
        )  # fmt: skip
    train(cfg)
    return run


def test_validation_logs_stream_figures_and_calibrates(streaming_run: Path):
    rows = [r for r in logged(streaming_run) if "val/frr_at_target" in r]
    assert len(rows) == 3  # epochs 1 and 2, and the final validation of the best checkpoint
    for row in rows:
        assert 0.0 <= float(row["val/frr"]) <= 1.0 and float(row["val/fa_per_hour"]) >= 0.0
        assert 0.0 < float(row["val/threshold"]) <= 1.0
    # The best checkpoint's weights were listened to in their epoch: the final validation takes
    # those figures and listens to nothing.
    assert all(float(row["val/stream_seconds"]) > 0.0 for row in rows[:2])
    assert float(rows[2]["val/stream_seconds"]) == 0.0
    best = min(rows[:2], key=lambda r: float(r["val/frr_at_target"]))  # ties: the first
    for key in ("val/frr_at_target", "val/fa_per_hour", "val/frr", "val/threshold"):
        assert rows[2][key] == best[key], key
    metrics = json.loads((streaming_run / "metrics.json").read_text())
    assert {"val/frr_at_target", "val/fa_per_hour", "val/threshold"} <= set(metrics)
    # The best checkpoint was chosen by the false-reject rate at the target, and holds the
    # threshold its validation calibrated.
    best = torch.load(streaming_run / "checkpoints" / "best.ckpt", weights_only=True)
    monitor = next(v for k, v in best["callbacks"].items() if "val/frr_at_target" in k)
    assert monitor["best_model_score"] == pytest.approx(min(float(r["val/frr_at_target"])
                                                            for r in rows[:2]))  # fmt: skip
    module = load_checkpoint(streaming_run / "checkpoints" / "best.ckpt")
    assert isinstance(module.calibration, Calibration)
    assert module.calibration.threshold == pytest.approx(float(metrics["val/threshold"]))
    assert module.calibration.target_fa_per_hour == 0.5
    assert module.calibration.hours == pytest.approx(1.0 / 60)


def test_hard_negatives_are_mined_kept_and_resumed(streaming_run: Path, synthetic_root: Path):
    last = torch.load(streaming_run / "checkpoints" / "last.ckpt", weights_only=True)
    [state] = [v for k, v in last["callbacks"].items() if k.startswith("HardNegativeMining")]
    assert 0 < len(state["starts"]) <= 16 and len(state["fingerprint"]) == 64
    assert state["starts"] == sorted(state["starts"])
    assert "negative_weight" in last and last["negative_weight"] >= 1.0
    # Mined once (after epoch 1; the last epoch mines nothing).
    assert sum("train/hard_negatives" in r for r in logged(streaming_run)) == 1


@pytest.mark.parametrize(
    ("state", "message"),
    [
        ({"starts": [1.5]}, "not sample offsets"),
        ({"starts": [-16000]}, "not sample offsets"),
        ({"starts": [2**70]}, "not sample offsets"),
        ({"starts": [True]}, "not sample offsets"),
        ({"starts": "0,1"}, "not sample offsets"),
        ({"starts": list(range(17))}, "holds 17 windows, more than max_windows=16"),
        ({"starts": [0]}, "name no stream they were mined from"),
        ({"starts": [0], "fingerprint": 7}, "name no stream they were mined from"),
    ],
)
def test_a_checkpoints_hard_negatives_are_checked(state, message):
    from kws.training.hard_negatives import HardNegativeMining

    mining = HardNegativeMining(max_windows=16)
    with pytest.raises(ValueError, match=message):
        mining.load_state_dict(state)
    mining.load_state_dict({"starts": [0, 16000], "fingerprint": "f"})
    assert mining.starts.tolist() == [0, 16000] and mining.fingerprint == "f"


def test_pick_windows_keeps_the_highest_apart():
    scores = np.array([0.1, 0.9, 0.85, 0.2, 0.95, 0.005])
    starts = np.arange(6) * 1600
    assert pick_windows(scores, starts, 3, 0.01, 3200).tolist() == [1600, 6400]
    assert pick_windows(scores, starts, 1, 0.01, 1).tolist() == [6400]
    assert pick_windows(scores, starts, 10, 0.5, 1).tolist() == [1600, 3200, 6400]


def test_a_validation_split_without_keywords_stops_before_training(
    compose_config, root: Path, tmp_path: Path
):
    for clip in (root / "yes").iterdir():
        if clip.name in (root / "validation_list.txt").read_text():
            clip.unlink()
    listed = [line for line in (root / "validation_list.txt").read_text().split()
              if not line.startswith("yes/")]  # fmt: skip
    (root / "validation_list.txt").write_text("\n".join(listed) + "\n")
    cfg = compose_config(["data=synthetic", f"data.root={root}", *QUICK])
    with pytest.raises(FileNotFoundError, match=r"no clips of the keywords \['yes'\] in the val"):
        train(cfg)
    assert not (tmp_path / "run" / "checkpoints").exists()  # nothing trained, nothing saved


def test_an_unmet_target_is_a_warning_and_the_checkpoint_says_so(
    compose_config, synthetic_overrides, monkeypatch, caplog, tmp_path: Path
):
    from kws.training import stream_validation

    real = stream_validation.calibrate

    def over_budget(points, *args, **kwargs):  # every threshold one false accept an hour over
        worse = [p._replace(false_accepts_per_hour=p.false_accepts_per_hour + 1.0) for p in points]
        return real(worse, *args, **kwargs)

    monkeypatch.setattr(stream_validation, "calibrate", over_budget)
    cfg = compose_config([*synthetic_overrides, *QUICK, "trainer.max_epochs=1",
                          "callbacks.hard_negatives.every_n_epochs=5"])  # fmt: skip
    with caplog.at_level("WARNING"):
        metrics = train(cfg)
    assert metrics["calibration"]["met"] is False
    assert metrics["calibration"]["false_accepts_per_hour"] >= 1.0
    assert "the calibrated threshold misses its target: no threshold keeps within 0.5 false " \
        "accepts per hour and detects a keyword; the best reached is" in caplog.text  # fmt: skip
    module = load_checkpoint(tmp_path / "run" / "checkpoints" / "best.ckpt")
    assert module.calibration.met is False
    written = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert written["calibration"]["met"] is False


@pytest.mark.parametrize(
    ("weight", "message"),
    [(float("nan"), "negative_weight nan is not a finite number > 0"),
     (-2.0, "negative_weight -2.0 is not a finite number > 0"),
     ("nan", "negative_weight is 'nan', not a number")],
)  # fmt: skip
def test_a_tampered_negative_weight_is_refused(
    streaming_run: Path, tmp_path: Path, weight, message
):
    from kws.training import CheckpointError

    checkpoint = torch.load(streaming_run / "checkpoints" / "best.ckpt", weights_only=True)
    assert checkpoint["negative_weight"] >= 1.0  # the ramp's weight, kept
    checkpoint["negative_weight"] = weight
    path = tmp_path / "tampered.ckpt"
    torch.save(checkpoint, path)
    with pytest.raises(CheckpointError, match=f"{path}: its {message}"):
        load_checkpoint(path)


def test_the_calibrated_threshold_travels_into_the_export(streaming_run: Path, tmp_path: Path):
    pytest.importorskip("onnxruntime")
    from kws.export.checkpoint import export_checkpoint
    from kws.streaming import StreamingDetector
    from kws_runtime import Spotter

    checkpoint = streaming_run / "checkpoints" / "best.ckpt"
    export_checkpoint(checkpoint, tmp_path)
    spotter = Spotter.from_file(tmp_path / "spotter.onnx")
    expected = load_checkpoint(checkpoint).calibration
    assert spotter.calibration == expected
    detector = StreamingDetector.from_runtime(spotter)
    assert detector.handler.settings.threshold == expected.threshold


def test_a_resumed_run_continues_with_the_saved_hard_negatives(
    streaming_run: Path, tmp_path: Path, synthetic_root: Path, monkeypatch: pytest.MonkeyPatch
):
    import shutil

    from kws.training.hard_negatives import HardNegativeMining

    run = Path(shutil.copytree(streaming_run, tmp_path / "run"))
    last = run / "checkpoints" / "last.ckpt"
    saved = torch.load(last, weights_only=True)["callbacks"]
    [state] = [v for k, v in saved.items() if k.startswith("HardNegativeMining")]
    handed: list[list[int]] = []
    original = HardNegativeMining.on_fit_start

    def spy(self, trainer, pl_module):
        original(self, trainer, pl_module)
        hard = trainer.datamodule.batches.hard_starts
        handed.append([] if hard is None else hard.tolist())

    monkeypatch.setattr(HardNegativeMining, "on_fit_start", spy)
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose(
            "train",
            overrides=["data=synthetic", f"data.root={synthetic_root}", *QUICK,
                       "trainer.max_epochs=3", f"ckpt_path={last}", f"output_dir={run}"],
        )  # fmt: skip
    train(cfg)
    assert handed == [state["starts"]]  # the saved set, before the first resumed step


def test_a_run_resumed_between_validations_mines_as_the_uninterrupted_one(
    compose_config, synthetic_overrides, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
):
    """Validation every 2 epochs saves its checkpoints before an epoch's end: the windows each
    epoch trains on must still be those of the uninterrupted run."""
    import shutil

    from kws.data.batches import ClipBatches

    used: dict[int, list[int]] = {}
    copy = tmp_path / "after_epoch_2"  # the run folder as it stood after 2 epochs
    original = ClipBatches.training_batch

    def spy(self, batch, epoch=0):
        if epoch not in used:
            used[epoch] = [] if self.hard_starts is None else self.hard_starts.tolist()
            if epoch == 2 and not copy.exists():
                shutil.copytree(tmp_path / "run", copy)
        return original(self, batch, epoch)

    monkeypatch.setattr(ClipBatches, "training_batch", spy)
    settings = [*synthetic_overrides, *QUICK, "trainer.max_epochs=3",
                "trainer.check_val_every_n_epoch=2", "trainer.deterministic=true",
                "seed=0"]  # fmt: skip
    train(compose_config(settings))
    uninterrupted = dict(used)
    assert uninterrupted[1] != uninterrupted[2]  # mined again before epoch 2 (0-based)
    used.clear()
    train(compose_config([*settings, f"ckpt_path={copy / 'checkpoints' / 'last.ckpt'}",
                          f"output_dir={copy}"]))  # fmt: skip
    assert used == {2: uninterrupted[2]}


@pytest.mark.parametrize("weight", [0.5, float("inf"), True])
def test_the_ramp_only_raises_the_weight(weight):
    from kws.training.stream_validation import StreamValidation

    with pytest.raises(ValueError, match="max_negative_weight must be a finite number >= 1"):
        StreamValidation(max_negative_weight=weight)


@pytest.mark.parametrize(
    ("callback", "settings", "message"),
    [
        ("hard", {"every_n_epochs": 0}, r"callbacks.hard_negatives.every_n_epochs must be in \[1"),
        ("hard", {"max_windows": 2.5}, "max_windows must be a whole number"),
        ("hard", {"min_score": float("nan")}, "min_score must be a finite number"),
        ("hard", {"spacing_ms": 0}, r"spacing_ms must be in \(0"),
        ("validation", {"free_minutes": -1}, r"stream_validation.free_minutes must be in \(0"),
        ("validation", {"speech_fraction": 2}, r"speech_fraction must be in \[0, 1\]"),
        ("validation", {"batch_size": True}, "batch_size must be a whole number"),
        ("validation", {"batch_size": 5000}, r"validation.batch_size must be in \[1, 4096\]"),
    ],
)
def test_the_callbacks_settings_name_their_key(callback, settings, message):
    from kws.training.hard_negatives import HardNegativeMining
    from kws.training.stream_validation import StreamValidation

    kind = HardNegativeMining if callback == "hard" else StreamValidation
    with pytest.raises(ValueError, match=message):
        kind(**settings)
