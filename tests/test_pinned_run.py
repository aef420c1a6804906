"""Two short runs' metrics, pinned: a refactor that changes what kws computes changes these.

Recorded with the code of issue 11 (before the layout of issue 12) on the project's 2-core CPU
machine; ``trainer.deterministic=true``, so they repeat to float32 rounding on one kind of CPU
kernels. PyTorch picks its kernels by the CPU's vector width (``AVX2``, ``AVX512``), and three
epochs of BC-ResNet amplify their rounding differences past any tolerance, so each kind keeps
its own pins: ``AVX512`` was recorded with the same code on the project's machine when it moved
to an AVX-512 CPU (the code of issue 22's start gave identical numbers to issue 21's).
"""

from __future__ import annotations

import pytest
import torch

from kws.tasks import train

COMMON = ["trainer.max_epochs=3", "trainer.deterministic=true", "seed=0", "data.batch_size=64",
          "trainer.enable_progress_bar=false"]  # fmt: skip
LINEAR = ["experiment=tutorial_linear"]
BCRESNET = ["module.scheduler.warmup_epochs=0"]
PINNED = {
    "AVX2": {
        "linear": (LINEAR, {
            "test/acc": 0.13333334028720856, "test/f1": 0.03842618316411972,
            "test/loss": 429.34649658203125, "val/acc": 0.11764705926179886,
            "val/f1": 0.036556605249643326, "val/loss": 356.4727783203125}),
        "bcresnet": (BCRESNET, {
            "test/acc": 0.07999999821186066, "test/f1": 0.012345679104328156,
            "test/loss": 2.4904065132141113, "val/acc": 0.10294117778539658,
            "val/f1": 0.015555555932223797, "val/loss": 2.4939074516296387}),
    },
    "AVX512": {
        "linear": (LINEAR, {
            "test/acc": 0.13333334028720856, "test/f1": 0.03842617943882942,
            "test/loss": 429.347900390625, "val/acc": 0.11764705926179886,
            "val/f1": 0.036556605249643326, "val/loss": 356.47308349609375}),
        "bcresnet": (BCRESNET, {
            "test/acc": 0.09333333373069763, "test/f1": 0.014227642677724361,
            "test/loss": 2.492217779159546, "val/acc": 0.0882352963089943,
            "val/f1": 0.013513513840734959, "val/loss": 2.4951894283294678}),
    },
}  # fmt: skip
CAPABILITY = torch.backends.cpu.get_cpu_capability()


@pytest.mark.skipif(
    CAPABILITY not in PINNED,
    reason=f"metrics pinned for {', '.join(PINNED)} kernels only, not {CAPABILITY}",
)
@pytest.mark.parametrize("model", ["linear", "bcresnet"])
def test_a_short_run_gives_the_pinned_metrics(compose_config, synthetic_overrides, model):
    overrides, expected = PINNED[CAPABILITY][model]
    metrics = train(compose_config([*overrides, *synthetic_overrides, f"model={model}", *COMMON]))
    assert {key: metrics[key] for key in expected} == pytest.approx(expected, rel=1e-5)
