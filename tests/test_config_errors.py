"""A bad setting fails before any data is touched, with one message naming its config key; the
commands print it as one `error: ...` line, and the traceback only when asked for."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import run_command

from kws.tasks import train

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    ("override", "reason"),
    [
        ("test_ckpt=middle", "test_ckpt must be 'best' or 'last', got 'middle'"),
        ("trainer.max_epochs=0", r"trainer\.max_epochs must be a positive integer"),
        ("+trainer.max_steps=0", r"trainer\.max_steps must be a positive integer"),
        ("module.optimizer.lr=abc", r"module\.optimizer: '<' not supported"),
        ("module.optimizer.lr=-1", r"module\.optimizer: Invalid learning rate: -1"),
        ("module.frontend_optimizer.lr=-1", r"module\.frontend_optimizer: Invalid learning rate"),
        ("+module.frontend_optimizer.bogus=1", r"module\.frontend_optimizer: .*'bogus'"),
        ("module.optimizer._target_=torch.optim.Nope", r"module\.optimizer\._target_"),
        ("module.scheduler.warmup_epochs=abc", r"module\.scheduler"),
        ("model._target_=os.system", r"model\._target_: 'os\.system' is not one of"),
    ],
)
def test_a_bad_setting_fails_before_the_data_is_looked_at(
    compose_config, tmp_path, override, reason
):
    # No data set exists there: reaching the data would fail with another message.
    cfg = compose_config([f"data_dir={tmp_path / 'nowhere'}", "data.download=false", override])
    with pytest.raises(ValueError, match=reason):
        train(cfg)
    assert not (tmp_path / "nowhere").exists()


def test_the_command_prints_one_error_line_and_the_traceback_only_on_request(tmp_path):
    quiet = run_command("train.py", "trainer.max_epochs=0", cwd=tmp_path)
    assert quiet.returncode == 1
    assert "Traceback" not in quiet.stderr
    errors = [line for line in quiet.stderr.splitlines() if line.startswith("error: ")]
    assert errors == [
        "error: trainer.max_epochs must be a positive integer (or -1 for no limit), got 0"
    ]
    loud = run_command("train.py", "trainer.max_epochs=0", "debug=true", cwd=tmp_path)
    assert loud.returncode == 1 and "Traceback" in loud.stderr
    assert "trainer.max_epochs must be a positive integer" in loud.stderr
