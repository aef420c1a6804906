"""The reporting commands, one name each (``python -m kws.compare``,
``python -m kws.reporting.figures``), their argument parsing only in ``__main__.py`` modules,
reporting's files at most 400 lines, and the sweep hook where the Hydra config names it."""

from __future__ import annotations

import ast
import runpy
import sys
from pathlib import Path

import pytest
from hydra.utils import instantiate
from matplotlib.image import imread
from omegaconf import OmegaConf

import kws.plotting.frontend
import kws.plotting.images
import kws.reporting.figures
from kws.reporting.sweep import SweepReport

ROOT = Path(__file__).resolve().parents[1]
#: The packages this layout covers: reporting, its commands, the figures training draws.
PACKAGES = ("kws/reporting", "kws/compare", "kws/plotting")
MAX_LINES = 400


def python_files() -> list[Path]:
    return sorted(path for package in PACKAGES for path in (ROOT / package).rglob("*.py"))


def run_command(module: str, *args: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """``python -m module args...`` in this process."""
    monkeypatch.setattr(sys, "argv", [f"python -m {module}", *args])
    runpy.run_module(module, run_name="__main__", alter_sys=True)


def test_every_file_is_at_most_400_lines():
    long = {str(p.relative_to(ROOT)): n for p in python_files()
            if (n := len(p.read_text().splitlines())) > MAX_LINES}  # fmt: skip
    assert not long, f"over {MAX_LINES} lines: {long}"


def test_only_main_modules_parse_arguments():
    parsing = []
    for path in python_files():
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom):
                names = [node.module]
            if "argparse" in names and path.name != "__main__.py":
                parsing.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not parsing


def test_the_compare_command_has_one_name(tmp_path, monkeypatch):
    with pytest.raises(SystemExit, match="error: no finished training run"):
        run_command("kws.compare", str(tmp_path), monkeypatch=monkeypatch)
    with pytest.raises(ImportError, match="cannot be directly executed"):
        run_command("kws.reporting.compare", str(tmp_path), monkeypatch=monkeypatch)


def test_the_figures_command_refuses_a_missing_checkpoint_in_one_line(tmp_path, monkeypatch):
    missing = tmp_path / "missing.ckpt"
    with pytest.raises(SystemExit) as stop:
        run_command("kws.reporting.figures", str(missing), str(tmp_path / "out"),
                    monkeypatch=monkeypatch)  # fmt: skip
    message = str(stop.value.code)
    assert message.startswith("error: ") and str(missing) in message and "\n" not in message
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("dpi", ["0", "5", "100000"])
def test_the_figures_command_refuses_a_resolution_out_of_range_first(tmp_path, monkeypatch, dpi):
    """Checked before the checkpoint is read: the missing checkpoint is never reached."""
    with pytest.raises(SystemExit, match=rf"^error: --dpi must be in \[10, 1200\], got {dpi}$"):
        run_command("kws.reporting.figures", str(tmp_path / "missing.ckpt"), str(tmp_path),
                    "--dpi", dpi, monkeypatch=monkeypatch)  # fmt: skip


def test_the_figures_command_draws_a_checkpoints_frontend(
    linear_checkpoint, tmp_path, monkeypatch, capsys
):
    out = tmp_path / "figures"
    run_command("kws.reporting.figures", str(linear_checkpoint), str(out), "--dpi", "20",
                monkeypatch=monkeypatch)  # fmt: skip
    names = ["mel_filterbank", "stft_kernels", "stft_response", "frontend_drift"]
    assert capsys.readouterr().out.split() == [str(out / f"{name}.png") for name in names]
    height, width, _ = imread(out / "mel_filterbank.png").shape
    assert (width, height) == (11 * 20, 7.5 * 20)  # the moved-filters layout, 11 x 7.5 in


def test_the_figures_names_keep_their_reporting_path():
    """``kws.reporting.figures`` is the public face; each name is the one object of its owner."""
    names = {
        kws.plotting.images: ("DPI", "figure_to_rgb", "save_figures", "save_images"),
        kws.plotting.frontend: (
            "frontend_figures", "mel_filterbank_figure", "stft_kernels_figure",
            "stft_response_figure", "kernel_responses", "drift_figure", "RESPONSE_FLOOR_DB",
            "CHANGE_FLOOR_DB",
        ),
    }  # fmt: skip
    for owner, owned in names.items():
        for name in owned:
            assert getattr(kws.reporting.figures, name) is getattr(owner, name)
    assert callable(kws.reporting.figures.confusion_matrix_figure)


def test_the_hydra_config_runs_reportings_sweep_hook(tmp_path, caplog):
    hydra = OmegaConf.load(ROOT / "conf" / "hydra" / "default.yaml")
    callback = instantiate(hydra.callbacks.sweep_report)
    assert type(callback) is SweepReport
    callback.on_multirun_end(OmegaConf.create({"hydra": {"sweep": {"dir": str(tmp_path)}}}))
    assert "no comparison report: no finished training run" in caplog.text
    assert list(tmp_path.iterdir()) == []
