"""kws.reporting.compare (``python -m kws.compare``): runs grouped by setting, statistics over
seeds recomputed from the runs' own files, paired tests against the fixed baseline, figures,
filter centres from the checkpoints, the study configs, and the sweep hooks."""

from __future__ import annotations

import csv
import json
import os
import runpy
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra._internal.callbacks import Callbacks  # what Hydra runs its callbacks with
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from matplotlib.image import imread
from omegaconf import OmegaConf, read_write
from scipy import stats

import kws.training.callbacks
from kws.compare.__main__ import main
from kws.frontend import MelSpectrogram
from kws.reporting.compare import (
    group_settings,
    paired_tests,
    read_centres,
    read_run,
    write_comparison,
)
from kws.reporting.sweep import SweepReport
from kws.tasks import train

ROOT = Path(__file__).resolve().parents[1]
MEL = "kws.frontend.MelSpectrogram"


def make_run(
    run_dir: Path,
    seed: int,
    trainable_mel: bool,
    test_acc: float,
    lr: float = 0.1,
    mel_change: float = 0.0,
    *,
    trainable_stft: bool = False,
    n_mels: int = 40,
    model: str = "kws.models.BCResNet",
    frontend: dict | None = None,
    frontend_trainable: int | None = None,
) -> None:
    """A finished run folder as train.py leaves it, minus checkpoints and logs."""
    run_dir.mkdir(parents=True)
    if frontend is None:
        frontend = {"_target_": MEL, "trainable_stft": trainable_stft,
                    "trainable_mel": trainable_mel, "n_mels": n_mels}  # fmt: skip
    if frontend_trainable is None:
        frontend_trainable = 10280 * trainable_mel + 246720 * trainable_stft
    head = {"_target_": model, "tau": 1.0} if "BCResNet" in model else {"_target_": model}
    config = {
        "seed": seed,
        "output_dir": str(run_dir),
        "frontend": frontend,
        "model": head,
        "module": {"optimizer": {"lr": lr}},
        "data": {"seed": seed, "root": "data/synthetic"},
        "logger": {"csv": {"save_dir": str(run_dir)}},
        "callbacks": {"model_checkpoint": {"dirpath": f"{run_dir}/checkpoints"}},
        "trainer": {"enable_progress_bar": seed % 2 == 0},
    }
    OmegaConf.save(OmegaConf.create(config), run_dir / "config.yaml")
    head_params = 9232 if "BCResNet" in model else n_mels * 101 * 12 + 12
    metrics = {
        "val/acc": test_acc + 0.01, "test/acc": test_acc, "test/f1": test_acc - 0.02,
        "parameters": {"head_trainable": head_params, "frontend_trainable": frontend_trainable},
        "drift": {"mel_basis_change": mel_change, "stft_kernel_change": 0.0},
    }  # fmt: skip
    (run_dir / "metrics.json").write_text(json.dumps(metrics))


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as file:
        return list(csv.DictReader(file))


def paired_of(sweep: Path) -> dict[str, dict[str, str]]:
    """The paired tests of a sweep folder by setting name, as ``paired_tests`` makes them."""
    settings = group_settings([read_run(p.parent) for p in sorted(sweep.glob("*/metrics.json"))])
    tests, _ = paired_tests(settings)
    return {t.setting.name(): t for t in tests}


def test_runs_differing_only_in_seed_form_one_setting(tmp_path):
    sweep = tmp_path / "sweep"
    accuracies = {(False, 0): 0.80, (False, 1): 0.84, (False, 2): 0.83, (True, 0): 0.90}
    for job, ((mel, seed), acc) in enumerate(accuracies.items()):
        make_run(sweep / str(job), seed, mel, acc, mel_change=0.05 * mel * (seed + 1))
    make_run(sweep / "4", 0, True, 0.7, lr=0.01, mel_change=0.2)
    (sweep / "5").mkdir()
    OmegaConf.save(OmegaConf.create({"seed": 9}), sweep / "5" / "config.yaml")  # unfinished
    for not_a_run in (sweep / "0" / ".hydra", sweep / "0" / "wandb" / "run-1" / "files"):
        not_a_run.mkdir(parents=True)
        (not_a_run / "config.yaml").write_text("seed: 0\n")

    paths = write_comparison([sweep], sweep)
    assert [p.name for p in paths] == [
        "comparison.md",
        "comparison.csv",
        "comparison_paired.csv",
        "comparison.png",
        "comparison_gain.png",
    ]  # fmt: skip (one n_mels, no checkpoints: no n_mels or centres figure)
    rows = read_rows(sweep / "comparison.csv")
    assert [(r["trainable_mel"], r["setting"], r["n_seeds"], r["paper_setting"]) for r in rows] == [
        ("True", "module.optimizer.lr=0.01", "1", "B"),
        ("False", "module.optimizer.lr=0.1", "3", "A"),
        ("True", "module.optimizer.lr=0.1", "1", "B"),
    ]
    fixed = rows[1]
    assert float(fixed["test_acc_mean"]) == pytest.approx(np.mean([0.80, 0.84, 0.83]))
    assert float(fixed["test_acc_std"]) == pytest.approx(np.std([0.80, 0.84, 0.83], ddof=1))
    assert float(fixed["val_acc_mean"]) == pytest.approx(np.mean([0.81, 0.85, 0.84]))
    assert fixed["seeds"] == "0;1;2" and int(fixed["head_params"]) == 9232
    assert (
        int(fixed["frontend_trainable_params"]) == 0
        and int(rows[0]["frontend_trainable_params"]) == 10280
    )
    assert float(fixed["mel_basis_change"]) == 0.0
    assert rows[2]["test_acc_std"] == rows[2]["test_acc_ci_low"] == ""  # one seed: no spread
    assert float(rows[2]["mel_basis_change"]) == 0.05
    assert float(rows[0]["mel_basis_change"]) == pytest.approx(0.2)  # as metrics.json says

    markdown = (sweep / "comparison.md").read_text()
    assert "# Comparison: 5 runs in 3 settings" in markdown
    assert (
        "| module.optimizer.lr=0.1 | BCResNet τ=1 | MelSpectrogram | fixed | fixed | A |"
        in markdown
    )
    assert "82.33 ± 2.08" in markdown and "3 (0, 1, 2)" in markdown
    # lr=0.01 has no fixed baseline (another schedule); lr=0.1 pairs with one seed: no test.
    assert "lr=0.01: no fixed setting with the same head, data, schedule" in markdown
    assert "not tested: 1 paired seed(s)" in markdown and "| better |" not in markdown
    skipped = markdown.split("Skipped")[1]
    assert "`5`" in skipped and ".hydra" not in skipped and "wandb" not in skipped
    height, width, _ = imread(sweep / "comparison.png").shape
    assert width >= 1000 and height >= 500


def test_statistics_are_those_of_the_runs_own_metrics_files(tmp_path):
    """Settings A and B at 10 and 40 Mel bases, 3 seeds each: every number the report gives for
    one setting and one test, recomputed here from the metrics.json files with the formulas."""
    sweep, rng = tmp_path / "sweep", np.random.default_rng(0)
    for job, (n_mels, mel, seed) in enumerate(
        (n, m, s) for n in (10, 40) for m in (False, True) for s in (0, 1, 2)
    ):
        make_run(sweep / f"{job:02d}", seed, mel, float(rng.uniform(0.5, 0.9)), n_mels=n_mels,
                 model="kws.models.LinearClassifier")  # fmt: skip
    write_comparison([sweep], sweep)

    def accuracies(n_mels: int, mel: bool) -> np.ndarray:
        runs = [json.loads((sweep / f"{j:02d}" / "metrics.json").read_text()) for j in range(12)]
        start = 6 * (n_mels == 40) + 3 * mel
        return np.array([m["test/acc"] for m in runs[start : start + 3]])  # seeds 0, 1, 2

    trained, fixed = accuracies(10, True), accuracies(10, False)
    row = next(
        r for r in read_rows(sweep / "comparison.csv")
        if r["setting"] == "frontend.n_mels=10" and r["paper_setting"] == "B"
    )  # fmt: skip
    half = stats.t.ppf(0.975, df=2) * trained.std(ddof=1) / np.sqrt(3)
    assert float(row["test_acc_mean"]) == pytest.approx(trained.mean(), rel=1e-12)
    assert float(row["test_acc_std"]) == pytest.approx(trained.std(ddof=1), rel=1e-12)
    assert float(row["test_acc_ci_low"]) == pytest.approx(trained.mean() - half, rel=1e-12)
    assert float(row["test_acc_ci_high"]) == pytest.approx(trained.mean() + half, rel=1e-12)
    assert int(row["head_params"]) == 10 * 101 * 12 + 12

    differences = trained - fixed
    t = differences.mean() / (differences.std(ddof=1) / np.sqrt(3))
    p = 2 * stats.t.sf(abs(t), df=2)
    gain_half = stats.t.ppf(0.975, df=2) * differences.std(ddof=1) / np.sqrt(3)
    tests = read_rows(sweep / "comparison_paired.csv")
    assert [r["baseline"] for r in tests] == [
        "LinearClassifier, MelSpectrogram, A (both fixed), frontend.n_mels=10",
        "LinearClassifier, MelSpectrogram, A (both fixed), frontend.n_mels=40",
    ]
    test = tests[0]
    assert test["seeds"] == "0;1;2" and test["metric"] == "test/acc"
    assert float(test["gain"]) == pytest.approx(differences.mean(), rel=1e-12)
    assert float(test["t"]) == pytest.approx(t, rel=1e-9)
    assert float(test["p"]) == pytest.approx(p, rel=1e-9)
    assert float(test["gain_ci_low"]) == pytest.approx(differences.mean() - gain_half, rel=1e-9)
    verdict = "better" if p < 0.05 and t > 0 else "worse" if p < 0.05 else "no significant"
    assert test["verdict"].startswith(verdict)

    markdown = (sweep / "comparison.md").read_text()
    line = next(x for x in markdown.splitlines() if x.startswith("| frontend.n_mels=10 |")
                and "| B |" in x)  # fmt: skip
    assert f"{100 * trained.mean():.2f} ± {100 * trained.std(ddof=1):.2f}" in line
    assert f"[{100 * (trained.mean() - half):.2f}, {100 * (trained.mean() + half):.2f}]" in line
    assert f"| {100 * differences.mean():+.2f} [" in markdown and f"| {p:.2g} |" in markdown
    for name in ("comparison_n_mels", "comparison_gain"):  # one line per setting, 2 n_mels each
        height, width, _ = imread(sweep / f"{name}.png").shape
        assert width >= 700 and height >= 500


@pytest.mark.parametrize(
    ("gains", "verdict"),
    [
        ([0.10, 0.11, 0.09, 0.12], "better"),  # a clear gain on every seed
        ([-0.08, -0.07, -0.09, -0.08], "worse"),
        ([0.02, -0.03, 0.005, -0.01], "no significant difference"),  # noise
        ([0.04, 0.04, 0.04, 0.04], "not tested: every seed gained exactly as much"),
    ],
)
def test_a_setting_is_called_better_only_when_the_seeds_support_it(tmp_path, gains, verdict):
    baseline = [0.80, 0.84, 0.83, 0.78]
    for seed, (acc, gain) in enumerate(zip(baseline, gains, strict=True)):
        make_run(tmp_path / f"fixed{seed}", seed, False, acc)
        make_run(tmp_path / f"trained{seed}", seed, True, acc + gain)
    (test,) = paired_of(tmp_path).values()
    assert test.verdict.startswith(verdict)
    assert test.seeds == [0, 1, 2, 3] and test.gain == pytest.approx(np.mean(gains))
    if verdict in ("better", "worse"):
        assert test.p_value < 0.01 and test.ci[0] * test.ci[1] > 0  # the CI excludes 0
    elif verdict == "no significant difference":
        assert test.p_value > 0.5 and test.ci[0] < 0 < test.ci[1]
    else:
        assert test.p_value is None


def test_the_baseline_is_the_nearest_fixed_frontend_of_the_same_head_and_filters(tmp_path):
    """A zoo: each trainable frontend pairs with fixed Mel of its own head and n_mels."""
    sinc = {"_target_": "kws.frontend.SincFilterbank", "n_mels": 40, "min_band_hz": 50.0}
    pcen = {"_target_": MEL, "trainable_stft": False, "trainable_mel": True, "n_mels": 40,
            "compression": "pcen"}  # fmt: skip
    for seed in (0, 1):
        for model in ("kws.models.BCResNet", "kws.models.LinearClassifier"):
            head = model.rsplit(".", 1)[-1]
            make_run(tmp_path / f"{head}-fixed-{seed}", seed, False, 0.8, model=model)
            make_run(tmp_path / f"{head}-mel-{seed}", seed, True, 0.8, model=model)
            make_run(tmp_path / f"{head}-sinc-{seed}", seed, True, 0.8, model=model,
                     frontend=sinc, frontend_trainable=80)  # fmt: skip
        make_run(tmp_path / f"pcen-{seed}", seed, True, 0.8, frontend=pcen, frontend_trainable=80)
        make_run(tmp_path / f"fixed20-{seed}", seed, False, 0.8, n_mels=20)
        make_run(tmp_path / f"mel10-{seed}", seed, True, 0.8, n_mels=10)  # no fixed at 10
    settings = group_settings([read_run(p.parent) for p in sorted(tmp_path.glob("*/metrics.json"))])
    tests, unpaired = paired_tests(settings)
    pairs = {t.setting.name(): t.baseline.name() for t in tests}
    assert pairs == {
        "BCResNet τ=1, MelSpectrogram, B (Mel trained), frontend.n_mels=40":
            "BCResNet τ=1, MelSpectrogram, A (both fixed), frontend.n_mels=40",
        "BCResNet τ=1, MelSpectrogram, B (Mel trained), frontend.compression=pcen, "
        "frontend.n_mels=40": "BCResNet τ=1, MelSpectrogram, A (both fixed), frontend.n_mels=40",
        "BCResNet τ=1, SincFilterbank":
            "BCResNet τ=1, MelSpectrogram, A (both fixed), frontend.n_mels=40",
        "LinearClassifier, MelSpectrogram, B (Mel trained), frontend.n_mels=40":
            "LinearClassifier, MelSpectrogram, A (both fixed), frontend.n_mels=40",
        "LinearClassifier, SincFilterbank":
            "LinearClassifier, MelSpectrogram, A (both fixed), frontend.n_mels=40",
    }  # fmt: skip
    # min_band_hz, which only Sinc has, tells no settings apart; compression, which two Mel
    # settings both have, does.
    assert not any("min_band_hz" in name for name in pairs)
    ((setting, reason),) = unpaired
    assert setting.value("frontend.n_mels") == 10 and reason.startswith("no fixed setting")
    assert all(t.verdict == "no significant difference (identical scores)" for t in tests)


def test_cli_explains_a_folder_without_runs(tmp_path, monkeypatch):
    with pytest.raises(SystemExit, match="error: no finished training run"):
        main([str(tmp_path)])
    monkeypatch.setattr(sys, "argv", ["python -m kws.compare", str(tmp_path / "missing")])
    with pytest.raises(SystemExit, match="not a folder"):
        runpy.run_module("kws.compare", run_name="__main__")  # the command the issue names


def compose_sweep(experiment: str, overrides: list[str] = ()) -> tuple[dict, OmegaConf]:
    """An experiment's sweep parameters and its composed config (with ``overrides``)."""
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose(
            "train", return_hydra_config=True,
            overrides=[f"experiment={experiment}", "output_dir=x", *overrides],
        )  # fmt: skip
    return dict(cfg.hydra.sweeper.params), cfg


@pytest.mark.parametrize("experiment", ["basis_study", "basis_study_quick"])
def test_the_basis_study_sweeps_the_papers_grid(experiment):
    params, cfg = compose_sweep(experiment)
    assert params == {
        "model": "linear,bcresnet",
        "frontend.n_mels": "10,20,40",
        "frontend.trainable_stft": "false,true",
        "frontend.trainable_mel": "false,true",
        "seed": "0,1,2",
    }
    assert cfg.model.tau == 1.0 and cfg.frontend._target_ == MEL
    assert cfg.data.root.endswith("synthetic_speech_commands") == experiment.endswith("quick")


ZOO = {
    "fixed_mel": (MEL, {"trainable_mel": False}),
    "trainable_mel": (MEL, {"trainable_mel": True}),
    "triangular": ("kws.frontend.TriangularFilterbank", {}),
    "sinc": ("kws.frontend.SincFilterbank", {}),
    "leaf": ("kws.frontend.LEAF", {}),
    "mel_pcen": (MEL, {"trainable_mel": True, "compression": "pcen"}),
}


@pytest.mark.parametrize("setting", ZOO)
def test_the_frontend_zoo_sweeps_six_frontends_under_two_heads(setting):
    target, keys = ZOO[setting]
    params, cfg = compose_sweep("frontend_zoo_quick", [f"experiment/zoo@_global_={setting}"])
    assert params["experiment/zoo@_global_"].split(",") == list(ZOO)
    assert sorted(p.stem for p in (ROOT / "conf/experiment/zoo").glob("*.yaml")) == sorted(ZOO)
    assert params["model"] == "linear,bcresnet" and params["seed"] == "0,1,2"
    assert cfg.frontend._target_ == target
    assert {key: cfg.frontend[key] for key in keys} == keys
    assert cfg.data.root.endswith("synthetic_speech_commands")


def test_a_quick_study_runs_end_to_end_and_draws_the_checkpoints_filters(tmp_path, synthetic_root):
    """experiment=basis_study_quick cut to settings A and B of the linear head at 10 Mel bases,
    seeds 0 and 1, four steps at a constant rate (the Mel basis's ten times the default, so that
    it moves): four runs through train.py -m, then the sweep's report."""
    sweep = tmp_path / "sweep"
    command = [
        sys.executable, str(ROOT / "train.py"), "-m", "experiment=basis_study_quick",
        f"data.root={synthetic_root}", "model=linear", "frontend.n_mels=10",
        "frontend.trainable_stft=false", "seed=0,1", "trainer.max_epochs=1",
        "+trainer.limit_train_batches=4", "module.scheduler=null",
        "module.frontend_optimizer.lr=0.01", f"hydra.sweep.dir={sweep}",
    ]  # fmt: skip
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    rows = read_rows(sweep / "comparison.csv")
    assert [(r["paper_setting"], r["seeds"], r["head_params"]) for r in rows] == [
        ("A", "0;1", "12132"), ("B", "0;1", "12132"),
    ]  # fmt: skip
    (test,) = read_rows(sweep / "comparison_paired.csv")
    metrics = {
        (cfg["frontend"]["trainable_mel"], cfg["seed"]): json.loads(
            (job / "metrics.json").read_text()
        )["test/acc"]
        for job in sweep.iterdir()
        if job.is_dir() and (cfg := OmegaConf.load(job / "config.yaml"))
    }
    gains = [metrics[True, seed] - metrics[False, seed] for seed in (0, 1)]
    assert float(test["gain"]) == pytest.approx(np.mean(gains), rel=1e-12)
    assert test["seeds"] == "0;1"

    ((setting, centres),), problems = read_centres(group_settings(
        [read_run(p.parent) for p in sweep.glob("*/metrics.json")]
    ))  # fmt: skip
    assert setting.paper_setting == "B" and not problems
    for run in centres:  # the centres of the filters each run's tested checkpoint holds
        assert run.checkpoint.parent.parent.parent == sweep
        state = torch.load(run.checkpoint, weights_only=True)["state_dict"]
        mel = MelSpectrogram(n_mels=10, trainable_mel=True)
        mel.load_state_dict({k.removeprefix("spotter.frontend."): v for k, v in state.items()
                             if k.startswith("spotter.frontend.")})  # fmt: skip
        initial, learned = (c.numpy() for c in mel.filter_centres())
        np.testing.assert_array_equal(run.learned, learned)
        np.testing.assert_allclose(run.initial, MelSpectrogram(n_mels=10).filter_centres()[0])
        assert np.abs(run.learned - run.initial).max() > 0  # the basis trained
    markdown = (sweep / "comparison.md").read_text()
    assert "![learned filter centres against initial ones](comparison_centres.png)" in markdown


def end_sweep(sweep_dir: Path) -> None:
    SweepReport().on_multirun_end(OmegaConf.create({"hydra": {"sweep": {"dir": str(sweep_dir)}}}))


def test_sizes_and_drift_are_what_training_wrote(tmp_path, compose_config, synthetic_overrides):
    cfg = compose_config(
        [
            *synthetic_overrides,
            "model=linear",
            "frontend.trainable_stft=true",
            "+trainer.fast_dev_run=true",
            "module.scheduler=null",
            f"output_dir={tmp_path / 'runs' / 'one'}",
        ]
    )
    train(cfg)
    write_comparison([tmp_path / "runs"], tmp_path / "report")
    (row,) = read_rows(tmp_path / "report" / "comparison.csv")
    assert int(row["head_params"]) == 40 * 101 * 12 + 12
    assert int(row["frontend_trainable_params"]) == 2 * 257 * 480 + 40 * 257
    for key in ("mel_basis_change", "stft_kernel_change"):  # one SGD step: moved, not gone
        assert 0.0 < float(row[key]) < 0.5, key


def test_sweep_report_writes_into_the_sweep_folder(tmp_path, caplog):
    make_run(tmp_path / "sweep" / "0", seed=0, trainable_mel=False, test_acc=0.8)
    end_sweep(tmp_path / "sweep")
    assert "| 80.00 |" in (tmp_path / "sweep" / "comparison.md").read_text()
    empty = tmp_path / "empty"
    empty.mkdir()
    end_sweep(empty)  # e.g. a sweep of evaluate.py: a warning, no report, no failure
    assert "no comparison report" in caplog.text and not list(empty.iterdir())


@pytest.fixture
def hydra_multirun_job():
    """Hydra's state inside job 1 of a sweep, as ``HydraConfig.get()`` reports it to a job."""
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("train", return_hydra_config=True, overrides=["output_dir=x"])
    cfg.hydra.mode = RunMode.MULTIRUN
    cfg.hydra.sweep.dir = "multirun/train/2026-01-01_00-00-00"
    cfg.hydra.job.override_dirname = "frontend.trainable_mel=true,seed=1"
    HydraConfig.instance().set_config(cfg)
    yield cfg
    HydraConfig.instance().cfg = None


def test_hydra_runs_the_sweep_report_after_every_sweep(hydra_multirun_job, tmp_path):
    """The training config's callbacks, as Hydra's dispatcher runs them when a sweep ends (it
    turns a callback's error into a warning: the report's content is the check)."""
    make_run(tmp_path / "0", seed=0, trainable_mel=False, test_acc=0.8)
    make_run(tmp_path / "1", seed=1, trainable_mel=False, test_acc=0.9)
    with read_write(hydra_multirun_job.hydra):
        hydra_multirun_job.hydra.sweep.dir = str(tmp_path)
    Callbacks(hydra_multirun_job).on_multirun_end(config=hydra_multirun_job)
    markdown = (tmp_path / "comparison.md").read_text()
    assert "# Comparison: 2 runs in 1 settings" in markdown
    assert "85.00 ± 7.07" in markdown  # the two runs' mean and standard deviation


def test_wandb_runs_of_a_sweep_share_its_folder_as_group(hydra_multirun_job, monkeypatch):
    monkeypatch.setattr(
        kws.training.callbacks, "WandbLogger", dict
    )  # records what W&B would be given
    assert kws.training.callbacks.wandb_logger(project="kws") == {
        "project": "kws",
        "group": "multirun/train/2026-01-01_00-00-00",
        "name": "frontend.trainable_mel=true,seed=1",
    }
    assert kws.training.callbacks.wandb_logger(group="mine", name="run")["group"] == "mine"
    HydraConfig.instance().cfg = None  # a single run: W&B's own defaults
    assert kws.training.callbacks.wandb_logger() == {"group": None, "name": None}


@pytest.mark.slow
def test_a_sweep_writes_its_comparison_and_closes_each_wandb_run(tmp_path, synthetic_root):
    sweep = tmp_path / "sweep"
    command = [
        sys.executable, str(ROOT / "train.py"), "-m", "data=synthetic",
        f"data.root={synthetic_root}", "model=linear", "logger=many", "trainer.max_epochs=1",
        "+trainer.limit_train_batches=2", "trainer.enable_progress_bar=false",
        "frontend.trainable_mel=false,true", "seed=0,1", f"hydra.sweep.dir={sweep}",
    ]  # fmt: skip
    env = {**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true"}
    subprocess.run(command, cwd=tmp_path, env=env, check=True, timeout=600, capture_output=True)
    rows = read_rows(sweep / "comparison.csv")
    assert [(r["trainable_mel"], r["n_seeds"]) for r in rows] == [("False", "2"), ("True", "2")]
    for job, mel, seed in [(0, "False", 0), (1, "False", 1), (2, "True", 0), (3, "True", 1)]:
        (records,) = (sweep / str(job) / "wandb").glob("offline-run-*/run-*.wandb")
        content = records.read_bytes()
        assert f"frontend.trainable_mel={mel}".encode() in content  # the job's own run name
        assert f"seed={seed}".encode() in content


@pytest.mark.slow
@pytest.mark.parametrize(
    ("experiment", "settings", "tests"),
    [("basis_study_quick", 24, 18), ("frontend_zoo_quick", 12, 10)],
)
def test_a_quick_study_runs_whole(tmp_path, synthetic_root, experiment, settings, tests):
    """The whole quick grid: every setting with seeds 0-2, each trainable one tested."""
    sweep = tmp_path / "sweep"
    command = [
        sys.executable, str(ROOT / "train.py"), "-m", f"experiment={experiment}",
        f"data.root={synthetic_root}", f"hydra.sweep.dir={sweep}",
    ]  # fmt: skip
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=7200)
    assert done.returncode == 0, done.stderr[-2000:]
    rows = read_rows(sweep / "comparison.csv")
    assert len(rows) == settings and {r["seeds"] for r in rows} == {"0;1;2"}
    paired = read_rows(sweep / "comparison_paired.csv")
    assert len(paired) == tests and {r["seeds"] for r in paired} == {"0;1;2"}
    assert all(r["p"] or r["verdict"] not in ("better", "worse") for r in paired)
    for name in ("comparison.png", "comparison_gain.png", "comparison_centres.png"):
        assert (sweep / name).is_file()
    assert (sweep / "comparison_n_mels.png").is_file() == (experiment == "basis_study_quick")


def test_stream_aware_runs_show_their_stream_figures(tmp_path):
    sweep = tmp_path / "sweep"
    figures = {0: (0.10, 0.0, 0.80), 1: (0.20, 6.0, 0.90)}  # FRR at target, FA/h, threshold
    for seed, (frr, fa, threshold) in figures.items():
        make_run(sweep / str(seed), seed, True, 0.9)
        path = sweep / str(seed) / "metrics.json"
        metrics = json.loads(path.read_text())
        metrics |= {"val/frr_at_target": frr, "val/fa_per_hour": fa, "val/frr": frr / 2,
                    "val/threshold": threshold}  # fmt: skip
        path.write_text(json.dumps(metrics))
    make_run(sweep / "plain", 2, True, 0.9, lr=0.01)  # logged no stream figure
    write_comparison([sweep], sweep)
    rows = {r["setting"]: r for r in read_rows(sweep / "comparison.csv")}
    streaming = rows["module.optimizer.lr=0.1"]
    assert float(streaming["val_frr_at_target_mean"]) == pytest.approx(0.15)
    assert float(streaming["val_fa_per_hour_std"]) == pytest.approx(np.std([0.0, 6.0], ddof=1))
    assert float(streaming["val_threshold_mean"]) == pytest.approx(0.85)
    assert rows["module.optimizer.lr=0.01"]["val_frr_at_target_mean"] == ""
    markdown = (sweep / "comparison.md").read_text()
    assert "val FRR at target (%) | val FA/h at reference" in markdown
    assert "| 15 ± 7.1 | 3 ± 4.2 | 7.5 ± 3.5 | 0.85 ± 0.071 |" in markdown
