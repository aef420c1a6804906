"""python -m kws.benchmark stream-quality, quick: two recipes, one seed, one epoch, short streams
(the real run: docs/streaming.md#measured)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kws.benchmark.__main__ import main
from kws.benchmark.stream_quality import Recipe, format_stream_quality


def test_two_recipes_are_trained_scored_and_compared(
    synthetic_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture
):
    out = tmp_path / "runs"
    streaming = ",".join([
        "streaming=experiment=quickstart_streaming", "data.stream_examples.stream_minutes=0.5",
        "callbacks.stream_validation.word_minutes=0.5",
        "callbacks.stream_validation.free_minutes=0.5",
    ])  # fmt: skip
    main([
        "stream-quality", "--seeds", "3",
        "--recipe", "plain=experiment=quickstart",
        "--recipe", streaming,
        "--extra", "model=linear", "trainer.max_epochs=1", "++trainer.check_val_every_n_epoch=1",
        f"data.root={synthetic_root}", "~callbacks.frontend_figures",
        "--word-minutes", "0.5", "--free-minutes", "0.5", "--out", str(out),
        "--json", str(tmp_path / "report.json"),
    ])  # fmt: skip
    report = json.loads((tmp_path / "report.json").read_text())
    plain, streaming = report["runs"]
    assert (plain["recipe"], streaming["recipe"]) == ("plain", "streaming")
    assert Path(plain["run"]) == out / "plain" / "seed_3"
    assert (out / "streaming" / "seed_3" / "metrics.json").is_file()
    for run in (plain, streaming):
        assert 0.0 <= run["frr_at_1_fa_per_hour"] <= 1.0 and run["fa_per_hour"] >= 0.0
        assert run["hours"] == pytest.approx(1 / 60) and run["keywords"] > 0
        assert run["train_seconds"] > 0
    # The plain model has no calibration: TensorFlow's 0.7; the stream-aware one deploys its own.
    assert plain["threshold"] == 0.7 and "no calibrated threshold" in plain["threshold_source"]
    assert streaming["threshold_source"].startswith(f"threshold {streaming['threshold']:.4g}")
    assert "calibrated" in streaming["threshold_source"]
    assert streaming["time_vs_baseline"] == pytest.approx(
        streaming["train_seconds"] / plain["train_seconds"]
    )
    assert streaming["acc_vs_baseline"] == pytest.approx(
        100 * (streaming["test_acc"] - plain["test_acc"])
    )
    summary = report["summary"]["streaming"]
    assert summary["fa_per_hour"]["mean"] == streaming["fa_per_hour"]
    assert summary["fa_per_hour"]["sd"] == 0.0  # one seed
    printed = capsys.readouterr().out
    assert format_stream_quality(report) in printed and "plain seed 3: FRR" in printed


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--recipe", "plain"], "a recipe is NAME=OVERRIDE"),
        (["--recipe", "a=x=1", "--recipe", "a=y=2"], "recipe names must differ"),
        (["--seeds", "-1"], "seeds must be 0 or more"),
        (["--free-minutes", "0"], "--free-minutes must be > 0"),
        (["--json", "/no/such/folder/report.json"], "its folder does not exist"),
    ],
)
def test_bad_options_stop_before_any_training(argv, message, tmp_path, capsys):
    with pytest.raises(SystemExit, match=message):
        main(["stream-quality", "--out", str(tmp_path / "runs"), *argv])
    assert not (tmp_path / "runs").exists()


def test_a_recipe_is_a_name_and_overrides():
    assert Recipe.parse("r=experiment=quickstart,seed=1") == Recipe(
        "r", ("experiment=quickstart", "seed=1")
    )
    # A list value's commas are its own (they were taken for override separators: Hydra then
    # stopped the run at "[0.1").
    assert Recipe.parse("cut=experiment=quickstart,data.x=[0.1,0.7],y='a,b'").overrides == (
        "experiment=quickstart", "data.x=[0.1,0.7]", "y='a,b'"
    )  # fmt: skip
    for bad in ("r", "r=", "r=a=[1,2"):
        with pytest.raises(ValueError, match="a recipe is NAME=OVERRIDE"):
            Recipe.parse(bad)
