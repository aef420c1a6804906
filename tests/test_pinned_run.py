"""Two short runs' metrics, pinned: a refactor that changes what kws computes changes these.

Recorded with the code of issue 11 (before the layout of issue 12) on the project's 2-core CPU
machine; ``trainer.deterministic=true``, so they repeat to float32 rounding.
"""

from __future__ import annotations

import pytest

from kws.tasks import train

COMMON = ["trainer.max_epochs=3", "trainer.deterministic=true", "seed=0", "data.batch_size=64",
          "trainer.enable_progress_bar=false"]  # fmt: skip
PINNED = {
    "linear": (
        ["experiment=tutorial_linear"],
        {"test/acc": 0.13333334028720856, "test/f1": 0.03842618316411972,
         "test/loss": 429.34649658203125, "val/acc": 0.11764705926179886,
         "val/f1": 0.036556605249643326, "val/loss": 356.4727783203125},
    ),
    "bcresnet": (
        ["module.scheduler.warmup_epochs=0"],
        {"test/acc": 0.07999999821186066, "test/f1": 0.012345679104328156,
         "test/loss": 2.4904065132141113, "val/acc": 0.10294117778539658,
         "val/f1": 0.015555555932223797, "val/loss": 2.4939074516296387},
    ),
}  # fmt: skip


@pytest.mark.parametrize("model", PINNED)
def test_a_short_run_gives_the_pinned_metrics(compose_config, synthetic_overrides, model):
    overrides, expected = PINNED[model]
    metrics = train(compose_config([*overrides, *synthetic_overrides, f"model={model}", *COMMON]))
    assert {key: metrics[key] for key in expected} == pytest.approx(expected, rel=1e-5)
