"""A bad setting fails before any data is touched, with one message naming its config key; the
commands print it as one `error: ...` line, and the traceback only when asked for."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from conftest import run_command

from kws.frontend import MelSpectrogram
from kws.models import KeywordSpotter, LinearClassifier
from kws.tasks import train
from kws.tasks.common import compile_model

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    ("override", "reason"),
    [
        ("test_ckpt=middle", "test_ckpt must be 'best' or 'last', got 'middle'"),
        ("trainer.max_epochs=0", r"trainer\.max_epochs must be a positive integer"),
        ("+trainer.max_steps=0", r"trainer\.max_steps must be a positive integer"),
        ("module.optimizer.lr=abc", r"module\.optimizer\.lr must be a finite number, got 'abc'"),
        ("module.optimizer.lr=-1", r"module\.optimizer\.lr must be in \[0, inf\], got -1"),
        ("module.optimizer.lr=1e400", r"module\.optimizer\.lr must be a finite number, got inf"),
        ("module.optimizer.lr=nan", r"module\.optimizer\.lr must be a finite number, got nan"),
        ("module.optimizer.weight_decay=-0.1", r"module\.optimizer\.weight_decay must be in \[0,"),
        ("module.optimizer.momentum=1", r"module\.optimizer\.momentum must be in \[0, 1\), got 1"),
        ("module.optimizer.momentum=inf", r"module\.optimizer\.momentum must be a finite number"),
        ("+module.optimizer.dampening=inf", r"module\.optimizer\.dampening must be a finite"),
        ("module.frontend_optimizer.lr=-1", r"frontend_optimizer\.lr must be in \[0, inf\], got"),
        ("module.frontend_optimizer.lr=nan", r"module\.frontend_optimizer\.lr must be a finite"),
        ("module.frontend_optimizer.weight_decay=-inf", r"frontend_optimizer\.weight_decay must"),
        ("module.scheduler.warmup_epochs=-2", r"module\.scheduler\.warmup_epochs must be in \[0,"),
        ("module.scheduler.warmup_epochs=nan", r"scheduler\.warmup_epochs must be a finite number"),
        ("module.spec_augment.freq_mask_width=-3", r"spec_augment\.freq_mask_width must be in \["),
        ("module.spec_augment.time_mask_width=2.5", r"spec_augment\.time_mask_width must be a w"),
        ("+module.spec_augment.n_time_masks=1000000", r"spec_augment\.n_time_masks must be in \["),
        ("+module.spec_augment.fill=nan", r"module\.spec_augment\.fill must be a finite number"),
        ("data.augmentation.noise_prob=5", r"augmentation\.noise_prob must be in \[0, 1\], got 5"),
        ("data.augmentation.noise_volume=-1", r"data\.augmentation\.noise_volume must be in \[0,"),
        ("data.augmentation.shift_s=100", r"augmentation\.shift_s must be in \[0, 1\], got 100"),
        ("data.augmentation.silence_noise_volume=nan", r"silence_noise_volume must be a finite"),
        ("callbacks.frontend_figures.every_n_epochs=nan", r"frontend_figures\.every_n_epochs mu"),
        ("+callbacks.frontend_figures.dpi=0", r"callbacks\.frontend_figures\.dpi must be in \[10,"),
        ("compile={fullgraph:abc}", r"compile\.fullgraph must be true or false, got 'abc'"),
        ("compile={dynamic:3}", r"compile\.dynamic must be true, false or null, got 3"),
        ("compile={mode:[1]}", r"compile\.mode must be a name or null, got \[1\]"),
        ("compile={options:5}", r"compile\.options must be a map of settings to values, got 5"),
        ("+module.frontend_optimizer.bogus=1", r"module\.frontend_optimizer: .*'bogus'"),
        ("module.optimizer._target_=torch.optim.Nope", r"module\.optimizer\._target_"),
        ("module.scheduler.warmup_epochs=abc", r"module\.scheduler"),
        ("model._target_=os.system", r"model\._target_: 'os\.system' is not one of"),
        ("frontend.sample_rate=22050", r"frontend\.sample_rate=22050 but the data's clips are 16"),
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


def test_a_compile_setting_torch_refuses_while_tracing_names_its_key():
    # The log-Mel frontend breaks the graph (its kernel cache), which fullgraph forbids: torch
    # says so only at the first call, and that error now names the setting.
    spotter = KeywordSpotter(MelSpectrogram(), LinearClassifier(40, 101, 12))
    compile_model(spotter, {"fullgraph": True})
    with pytest.raises(ValueError, match=r"^compile\.fullgraph=true: torch\.compile cannot trace"):
        spotter(torch.zeros(2, 16000))


def test_a_backend_that_fails_at_the_first_call_is_named():
    from torch._dynamo import register_backend

    @register_backend(name="kws_test_broken")
    def broken(graph, inputs):
        raise RuntimeError("no compiler here")

    spotter = KeywordSpotter(MelSpectrogram(), LinearClassifier(40, 101, 12))
    compile_model(spotter, {"backend": "kws_test_broken"})
    with pytest.raises(ValueError, match=r"^compile\.backend=kws_test_broken: the backend failed "
                       r"to compile the model \(RuntimeError: no compiler here\)$"):  # fmt: skip
        spotter(torch.zeros(2, 16000))
