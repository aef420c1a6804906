"""What a person sees in ``python -m kws.compare``'s figures, asserted on the drawn figure: no
two texts (titles, tick labels, axis labels, value labels) or legends overlap, every one lies
inside the canvas, and the accuracy labels sit inside their panel, above their bar's error bar
and seeds. The settings are those of the stream study (``outputs/stream_quality``: one plain and
two stream-aware settings, whose labels list a dozen differing config keys) and of the basis
study's grid."""

from __future__ import annotations

import re
from itertools import combinations
from pathlib import Path

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.transforms import Bbox

from kws.reporting.compare import (
    Centres,
    Run,
    Setting,
    centres_figure,
    comparison_figure,
    gain_figure,
    group_settings,
    n_mels_figure,
    paired_tests,
)
from kws.reporting.figures import DPI

MEL = "kws.frontend.MelSpectrogram"
STREAM_EXAMPLES = {
    "hard_share": 0.1, "negative_share": 0.2, "partial_cut": (0.1, 0.5), "partial_share": 0.05,
    "place_prob": 1.0, "start_epoch": 0, "stream_gap_ms": 500, "stream_minutes": 10,
    "stream_volume": 1.0, "weight": 1.0,
}  # fmt: skip
# The test accuracies of outputs/stream_quality's runs, by setting and seed.
STREAM_ACCURACIES = {
    "plain": (0.9693251252174377, 0.8773006200790405, 0.9509202241897583),
    "streaming": (0.9631901979446411, 0.9447852969169617, 0.9386503100395203),
    "streaming_ramp": (0.9631901979446411, 0.9263803958892822, 0.907975435256958),
}


def make_run(
    name: str,
    seed: int,
    test_acc: float,
    *,
    trainable_mel: bool = True,
    trainable_stft: bool = False,
    n_mels: int = 40,
    model: str = "kws.models.BCResNet",
    config: dict | None = None,
) -> Run:
    """A finished run as ``read_run`` reads it from disk."""
    head = {"model._target_": model} | ({"model.tau": 1.0} if "BCResNet" in model else {})
    flat = {
        "seed": seed, **head, "frontend._target_": MEL, "frontend.trainable_stft": trainable_stft,
        "frontend.trainable_mel": trainable_mel, "frontend.n_mels": n_mels, **(config or {}),
    }  # fmt: skip
    trainable = 10280 * trainable_mel + 246720 * trainable_stft
    drift = {
        "mel_basis_change": 0.05 * (seed + 1) * trainable_mel,
        "stft_kernel_change": 0.002 * (seed + 1) * trainable_stft,
        "mel_centre_shift_hz": 20.0 * seed * trainable_mel,
    }
    metrics = {"val/acc": test_acc, "test/acc": test_acc, "test/f1": test_acc}
    head_params = 9232 if "BCResNet" in model else n_mels * 101 * 12 + 12
    return Run(Path(f"/runs/{name}/seed_{seed}"), flat, metrics, head_params, trainable, drift)


def stream_study() -> list[Setting]:
    """The three settings of outputs/stream_quality, three seeds each."""
    plain = {
        "callbacks.best_checkpoint.mode": "max", "callbacks.best_checkpoint.monitor": "val/acc",
        "data.batch_size": 100, "data.stream_examples": None, "trainer.check_val_every_n_epoch": 1,
    }  # fmt: skip
    streaming = {
        "callbacks.best_checkpoint.mode": "min",
        "callbacks.best_checkpoint.monitor": "val/frr_at_target",
        "data.batch_size": 50,
        **{f"data.stream_examples.{key}": value for key, value in STREAM_EXAMPLES.items()},
        "trainer.check_val_every_n_epoch": 10,
    }
    configs = {
        "plain": plain,
        "streaming": streaming | {"callbacks.stream_validation.ramp_negative_weight": False},
        "streaming_ramp": streaming | {"callbacks.stream_validation.ramp_negative_weight": True},
    }
    return group_settings([
        make_run(name, seed, acc, config=configs[name])
        for name, accuracies in STREAM_ACCURACIES.items()
        for seed, acc in enumerate(accuracies)
    ])  # fmt: skip


def basis_study(models: tuple[str, ...] = ("linear", "bcresnet")) -> list[Setting]:
    """The basis study's grid: settings A-D at 10, 20 and 40 filters under each head, 3 seeds."""
    rng = np.random.default_rng(0)
    targets = {"linear": "kws.models.LinearClassifier", "bcresnet": "kws.models.BCResNet"}
    return group_settings([
        make_run(f"{model}-{n}-{stft}-{mel}", seed, float(rng.uniform(0.6, 0.95)),
                 trainable_mel=mel, trainable_stft=stft, n_mels=n, model=targets[model])
        for model in models for n in (10, 20, 40) for stft in (False, True)
        for mel in (False, True) for seed in (0, 1, 2)
    ])  # fmt: skip


def lr_sweep(n: int) -> list[Setting]:
    """``n`` settings apart in the head's learning rate only, 2 seeds each."""
    return group_settings([
        make_run(f"lr{i}", seed, 0.5 + 0.04 * i + 0.01 * seed,
                 config={"module.optimizer.lr": 10.0 ** (-1 - i / 4)})
        for i in range(n) for seed in (0, 1)
    ])  # fmt: skip


def centres_of(setting: Setting, n_mels: int = 40) -> list[Centres]:
    """Each run's filter centres: the initial ones, and learned ones a few tens of Hz off."""
    initial = np.linspace(60.0, 7500.0, n_mels)
    return [
        Centres(r.seed, Path(f"{r.path}/checkpoints/best.ckpt"), 20 + r.seed,
                initial, initial + 30.0 * np.sin(np.arange(n_mels) + r.seed))
        for r in setting.runs
    ]  # fmt: skip


def draw(figure: Figure) -> FigureCanvasAgg:
    """The figure drawn as ``save_figures`` draws it."""
    figure.set_dpi(DPI)
    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    return canvas


def drawn_boxes(figure: Figure) -> list[tuple[str, Bbox]]:
    """Every text the drawn figure shows (titles, axis and tick labels, value labels) and every
    legend (as one box), each with its extent on the canvas."""
    renderer = draw(figure).get_renderer()
    texts, legends = [figure._suptitle] if figure._suptitle else [], list(figure.legends)
    for axis in figure.axes:
        if not axis.get_visible():
            continue
        texts += [axis.title, axis._left_title, axis._right_title, *axis.texts]
        for side in (axis.xaxis, axis.yaxis):
            texts.append(side.label)
            # The ticks drawn: those inside the view limits (matplotlib's own choice).
            texts += [tick.label1 for tick in side._update_ticks()]
        legends += [axis.get_legend()] if axis.get_legend() else []
    boxes = [
        (text.get_text(), text.get_window_extent(renderer))
        for text in texts
        if text.get_visible() and text.get_text().strip()
    ]
    return boxes + [(f"legend {legend.texts[0].get_text()!r}, ...", legend.get_window_extent(
        renderer)) for legend in legends]  # fmt: skip


def assert_readable(figure: Figure) -> list[tuple[str, Bbox]]:
    """No two texts or legends of the drawn figure closer than a pixel, each inside the canvas;
    returns them."""
    boxes = drawn_boxes(figure)
    canvas = figure.bbox
    outside = [
        text for text, box in boxes
        if box.x0 < canvas.x0 or box.y0 < canvas.y0 or box.x1 > canvas.x1 or box.y1 > canvas.y1
    ]  # fmt: skip
    assert not outside, f"outside the {canvas.width:.0f}x{canvas.height:.0f} canvas: {outside}"
    overlaps = [
        (a, b) for (a, box_a), (b, box_b) in combinations(boxes, 2)
        if box_a.padded(1).overlaps(box_b)
    ]  # fmt: skip
    assert not overlaps, f"{len(overlaps)} overlapping pair(s), e.g. {overlaps[:3]}"
    return boxes


def words(text: str) -> str:
    """The text without line breaks and spaces: what wrapping may not change."""
    return re.sub(r"\s+", "", text)


def test_the_stream_studys_comparison_is_readable_and_its_labels_whole():
    settings = stream_study()
    assert len(settings) == 3
    figure = comparison_figure(settings)
    assert_readable(figure)
    accuracy, drift = figure.axes
    shown = [label.get_text() for label in drift.get_xticklabels()]
    # Every word of every setting's label, wrapped to fit its slot.
    assert [words(text) for text in shown] == [words(s.label()) for s in settings]
    assert max(text.count("\n") for text in shown) >= len(settings[1].differences)
    # Broken where a config key breaks best: after "=", else after "." or "_".
    broken = {line for text in shown for line in text.split("\n")} - {
        line for s in settings for line in s.label().split("\n")
    }
    assert broken and all(line[-1] in "=._" for line in broken if line.startswith("callbacks"))
    assert "callbacks.best_checkpoint.monitor=" in broken
    assert all(not label.get_visible() for label in accuracy.get_xticklabels())  # shared axis
    # The accuracy labels: mean ± std over seeds, inside the panel, above the error bar and the
    # highest seed.
    renderer = figure.canvas.get_renderer()
    panel = accuracy.get_window_extent(renderer)
    labels = accuracy.texts
    assert [words(t.get_text()) for t in labels] == ["93.25±4.87", "94.89±1.28", "93.25±2.81"]
    for i, (label, setting) in enumerate(zip(labels, settings, strict=True)):
        seeds = 100 * setting.metric("test/acc")
        top = max(seeds.mean() + seeds.std(ddof=1), seeds.max())
        box = label.get_window_extent(renderer)
        assert box.y0 > accuracy.transData.transform((i, top))[1]
        assert panel.x0 < box.x0 and box.x1 < panel.x1 and box.y1 < panel.y1
    title = accuracy.title.get_window_extent(renderer)
    assert all(label.get_window_extent(renderer).y1 < title.y0 for label in labels)


@pytest.mark.parametrize("n", [1, 2, 5, 12])
def test_the_comparison_of_a_learning_rate_sweep_is_readable(n):
    settings = lr_sweep(n)
    assert len(settings) == n
    figure = comparison_figure(settings)
    assert_readable(figure)
    assert figure.get_figwidth() >= 11.0 and figure.get_figheight() >= 8.0


def test_the_basis_studys_figures_are_readable():
    settings = basis_study()
    assert len(settings) == 24
    tests, unpaired = paired_tests(settings)
    assert len(tests) == 18 and not unpaired
    assert_readable(comparison_figure(settings))
    for figure in (n_mels_figure(settings), gain_figure(tests)):
        assert_readable(figure)
        # The legend beside the panels, hiding none of their lines and error bars.
        renderer = figure.canvas.get_renderer()
        (legend,) = [*figure.legends, *filter(None, (a.get_legend() for a in figure.axes))]
        assert len(legend.texts) >= 3  # settings B, C and D (and the gain's filter counts)
        box = legend.get_window_extent(renderer)
        assert not any(box.overlaps(a.get_window_extent(renderer)) for a in figure.axes)


@pytest.mark.parametrize("count", [1, 3, 4])
def test_the_filter_centres_of_the_stream_study_have_readable_titles(count):
    """One panel per setting, three to a row: the titles name each setting in full, wrapped
    to their panel, apart from each other and inside the canvas."""
    settings = (stream_study() * 2)[:count]
    figure = centres_figure([(s, centres_of(s)) for s in settings])
    assert_readable(figure)
    titles = [axis.title.get_text() for axis in figure.axes if axis.get_visible()]
    assert [words(t) for t in titles] == [words(s.name()) for s in settings]
    renderer = figure.canvas.get_renderer()
    for axis in figure.axes[:count]:
        title = axis.title.get_window_extent(renderer)
        panel = axis.get_window_extent(renderer)
        assert panel.x0 <= title.x0 and title.x1 <= panel.x1  # no wider than its panel
        assert title.y0 >= panel.y1  # above it
        assert panel.height > 150  # the titles leave the panel room (pixels)


def test_texts_are_drawn_as_written_even_with_dollar_signs():
    """A config value with ``$`` signs is text, not mathtext: drawn as written, and a value
    mathtext cannot parse does not fail the figure."""
    runs = [
        make_run(f"path{i}", seed, 0.8 + 0.01 * i, config={"data.root": root})
        for i, root in enumerate(["/data/$HOME$", r"/data/$\frac$"])
        for seed in (0, 1)
    ]
    settings = group_settings(runs)
    figure = comparison_figure(settings)
    assert_readable(figure)
    shown = [label.get_text() for label in figure.axes[1].get_xticklabels()]
    assert all(r"\$" in text for text in shown)  # escaped: matplotlib draws a plain $
    figure = centres_figure([(s, centres_of(s)) for s in settings])
    assert_readable(figure)


def test_a_diverged_run_draws_a_readable_comparison():
    """A run whose metrics.json holds NaN accuracy and drift (training diverged): the figure is
    drawn, its limits from the finite values."""
    runs = [make_run("ok", seed, 0.9 - 0.02 * seed) for seed in (0, 1)]
    runs += [make_run("nan", seed, float("nan"), config={"module.optimizer.lr": 10.0})
             for seed in (0, 1)]  # fmt: skip
    runs[2].drift = {"mel_basis_change": float("nan"), "stft_kernel_change": 0.0}
    figure = comparison_figure(group_settings(runs))
    assert_readable(figure)
    accuracy, drift = figure.axes
    assert accuracy.get_ylim() == (0.0, 100.0)
    assert 7.5 < drift.get_ylim()[1] < 15.0  # above the finite drift: 0.05 and 0.1, 7.5% on average
