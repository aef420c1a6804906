"""train.py's ``compile``: torch.compile in place, same numbers and state keys, clear errors."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

from kws.frontend import MelSpectrogram
from kws.models import KeywordSpotter, LinearClassifier
from kws.tasks.common import compile_model
from kws.tasks.train import train


def _spotter() -> KeywordSpotter:
    torch.manual_seed(0)
    return KeywordSpotter(MelSpectrogram(trainable_mel=True), LinearClassifier(num_classes=3))


def test_compiled_training_step_matches_eager_and_keeps_the_state_dict_keys():
    eager, compiled = _spotter(), _spotter()
    compile_model(compiled, {"backend": "cudagraphs"})  # on the CPU: traced, not captured
    assert compiled._compiled_call_impl is not None
    assert list(compiled.state_dict()) == list(eager.state_dict())
    waveforms = 0.1 * torch.randn(4, 16000, generator=torch.Generator().manual_seed(1))
    labels = torch.tensor([0, 1, 2, 1])
    for model in (eager, compiled):
        torch.nn.functional.cross_entropy(model(waveforms), labels).backward()
    torch.testing.assert_close(compiled(waveforms), eager(waveforms), rtol=1e-5, atol=1e-5)
    for (name, p), q in zip(eager.named_parameters(), compiled.parameters(), strict=True):
        torch.testing.assert_close(q.grad, p.grad, rtol=1e-4, atol=1e-6, msg=name)


#: Each graph torch.compile hands the ``kws_test_recording`` backend: per input, its shape, or
#: ``"SymInt"`` for a size left symbolic (a dynamic shape).
TRACED: list[list[tuple[int, ...] | str]] = []


def _recording_backend(graph: torch.fx.GraphModule, inputs: list) -> Callable:
    TRACED.append([tuple(x.shape) if isinstance(x, torch.Tensor) else "SymInt" for x in inputs])
    return graph.forward  # runs the traced graph as it is


torch._dynamo.register_backend(_recording_backend, name="kws_test_recording")


@pytest.mark.parametrize(
    ("settings", "traced", "symbolic"),
    [
        ({}, [1, 1, 1, 0, 0], [0, 0, 0, 0, 0]),  # each batch size traced once, static
        ({"dynamic": None}, [1, 1, 0, 0, 0], [0, 1, 0, 0, 0]),  # torch's: dynamic from the 2nd
    ],
)
def test_shapes_are_static_unless_the_settings_say_otherwise(settings, traced, symbolic):
    """Batches of 4, 3, 2, 4 and 3 clips: at which calls torch.compile traces graphs, at which
    their sizes are symbolic, and the same outputs as eager at every call."""
    torch._dynamo.reset()
    eager, compiled = _spotter(), _spotter()
    compile_model(compiled, {"backend": "kws_test_recording", **settings})
    waveforms = 0.1 * torch.randn(4, 16000, generator=torch.Generator().manual_seed(1))
    graphs = []  # per call, the inputs of each graph traced
    with torch.no_grad():
        for batch in (4, 3, 2, 4, 3):
            TRACED.clear()
            out = compiled(waveforms[:batch])
            graphs.append(list(TRACED))
            torch.testing.assert_close(out, eager(waveforms[:batch]), rtol=1e-5, atol=1e-5)
    assert [int(bool(call)) for call in graphs] == traced
    assert [int(any("SymInt" in inputs for inputs in call)) for call in graphs] == symbolic


def test_no_settings_compile_nothing():
    model = _spotter()
    compile_model(model, None)
    compile_model(model, {})
    assert model._compiled_call_impl is None


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"backnd": "eager"}, r"compile\.backnd: torch\.compile takes no such argument"),
        ({"backend": "nope"}, r"^compile\.backend: Invalid backend: 'nope'"),
        ({"mode": "fastest"}, r"^compile\.mode: Unrecognized mode=fastest"),
        ({"options": {"bogus": 1}}, r"^compile\.options: Unexpected optimization option bogus"),
        (
            {"mode": "default", "options": {"max_autotune": True}},
            r"^compile\.mode and compile\.options: Either mode or options can be specified",
        ),
        ("cudagraphs", r"compile must map torch\.compile's arguments to values"),
    ],
)
def test_bad_settings_name_the_key(settings, message):
    with pytest.raises(ValueError, match=message):
        compile_model(_spotter(), settings)


def test_train_refuses_a_bad_compile_setting_before_writing_anything(
    compose_config, synthetic_overrides, tmp_path
):
    cfg = compose_config([*synthetic_overrides, "model=linear", "compile={backend:nope}"])
    with pytest.raises(ValueError, match=r"^compile\.backend: Invalid backend: 'nope'"):
        train(cfg)
    assert not (tmp_path / "run" / "config.yaml").exists()
