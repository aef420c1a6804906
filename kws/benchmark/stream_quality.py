"""``python -m kws.benchmark stream-quality``: how well recipes' spotters hold up on a stream.

For every seed, each recipe (an experiment config, with overrides) is trained on generated data
(``train.py``'s own code, into ``--out``), then its best checkpoint listens, at its own
``detector.threshold=auto`` threshold (the calibrated one, else TensorFlow's 0.7), to two streams
of the test split's speakers, the same for every recipe of that seed: a word stream in
TensorFlow's layout (``--word-minutes``, 10) and a keyword-free stream (``--free-minutes``, 60;
non-keyword speech in half its slots over background noise at U(0, 1)). Reported per recipe, as
mean and standard deviation over the seeds:

* the false-reject rate at the best threshold within 1 and within 0.5 false accepts per hour (the
  DET curve of both streams pooled: false accepts over all 70 minutes, false rejects over the
  word stream's keywords);
* at the threshold the recipe deploys: false accepts per hour (pooled, and on the keyword-free
  stream alone) and the false-reject rate;
* clip accuracy on the test split and training time, each against the first recipe's (the
  baseline) of the same seed: the accuracy difference in points, the time ratio.

Streams are made in memory (``kws.data.stream_audio.render_stream``) from the run's data, so the
benchmark needs no files but the generated data set, which training makes on first use.
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from hydra import compose, initialize_config_dir

from kws.benchmark.common import Report
from kws.data.stream_audio import DEFAULT_NOISE_VOLUME, DEFAULT_VOLUME, render_stream
from kws.streaming import StreamingDetector
from kws.streaming.scoring import (
    FA_PER_HOUR_TARGETS,
    DetPoint,
    det_curves,
    frr_at_false_accepts,
    pool_det_curves,
)
from kws_runtime.detector import BATCH_SIZE, STRIDE_MS
from kws_runtime.io import write_json
from kws_runtime.scan import DetectorConfig

CONF_DIR = Path(__file__).resolve().parents[2] / "conf"
#: The recipes compared by default: ``name=override,override,...``; the first is the baseline.
RECIPES = (
    "plain=experiment=quickstart",
    "streaming=experiment=quickstart_streaming",
    "streaming_ramp=experiment=quickstart_streaming,"
    "callbacks.stream_validation.ramp_negative_weight=true",
)


@dataclass(frozen=True)
class Recipe:
    """A named recipe: ``train.py`` overrides.

    Args:
        name: how the report names it.
        overrides: Hydra overrides of ``conf/train.yaml``.
    """

    name: str
    overrides: tuple[str, ...]

    @classmethod
    def parse(cls, text: str) -> Recipe:
        """``name=override,override,...``; a comma inside brackets or quotes belongs to its
        override (``data.stream_examples.partial_cut=[0.1,0.7]``).

        Raises:
            ValueError: no name, no override, or unbalanced brackets or quotes.
        """
        name, _, rest = text.partition("=")
        overrides, current, closing = [], "", []
        for char in rest:
            if closing and char == closing[-1]:
                closing.pop()
            elif closing and closing[-1] in "'\"":
                pass  # inside quotes: nothing opens
            elif char in "[({'\"":
                closing.append({"[": "]", "(": ")", "{": "}"}.get(char, char))
            elif char == "," and not closing:
                overrides.append(current)
                current = ""
                continue
            current += char
        overrides = tuple(o for o in [*overrides, current] if o)
        if not name or not overrides or closing:
            raise ValueError(f"a recipe is NAME=OVERRIDE[,OVERRIDE...], got {text!r}")
        return cls(name, overrides)


def train_recipe(recipe: Recipe, seed: int, out: Path, extra: tuple[str, ...]) -> dict[str, Any]:
    """Train one recipe with one seed into ``out/<name>/seed_<seed>``, timed.

    Returns:
        ``train.py``'s metrics, the run folder and ``train_seconds``; and the composed config.
    """
    from kws.tasks import train

    run = out / recipe.name / f"seed_{seed}"
    overrides = [*recipe.overrides, f"seed={seed}", f"output_dir={run}", *extra,
                 "trainer.enable_progress_bar=false"]  # fmt: skip
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose("train", overrides=overrides)
    began = time.perf_counter()
    metrics = train(cfg)
    return {**metrics, "run": str(run), "train_seconds": time.perf_counter() - began}, cfg


def listen(
    checkpoint: str, streams: list[Any], stride_ms: float, stateful: bool | None = None
) -> dict[str, Any]:
    """A checkpoint's detector, at its ``threshold=auto`` settings, over the streams.

    Args:
        checkpoint: the best checkpoint.
        streams: ``[word stream, keyword-free stream]`` (``RenderedStream``).
        stride_ms: the detector's stride.
        stateful: the detector's ``stateful`` (``StreamingDetector.from_spotter``); None
            (default): frame by frame where the model can.

    Returns:
        The figures of the module docstring.
    """
    from kws.training import load_checkpoint

    module = load_checkpoint(checkpoint)
    settings, note = DetectorConfig(stride_ms, BATCH_SIZE, {}).settings_for(module.calibration)
    names = module.class_names
    scored = []
    for stream in streams:
        detector = StreamingDetector.from_spotter(
            module.spotter, names, clip_samples=module.clip_format.clip_samples,
            sample_rate=module.clip_format.sample_rate,
            stride_ms=stride_ms, settings=settings, keep_track=True, stateful=stateful,
        )  # fmt: skip
        scored.append(detector.listen(stream.audio, stream.labels))
    words, free = det_curves(scored, names, settings.suppression_ms, [settings.threshold])
    pooled = pool_det_curves([words, free])
    deployed = _at(pooled, settings.threshold)
    result = {
        "threshold": settings.threshold,
        "threshold_source": note,
        "fa_per_hour": deployed.false_accepts_per_hour,
        "keyword_free_fa_per_hour": _at(free, settings.threshold).false_accepts_per_hour,
        "frr": deployed.false_reject_rate,
        "keywords": deployed.keywords,
        "hours": deployed.hours,
    }
    for budget in FA_PER_HOUR_TARGETS:
        best = frr_at_false_accepts(pooled, budget)
        result[f"frr_at_{budget:g}_fa_per_hour"] = 1.0 if best is None else best.false_reject_rate
    return result


def _at(points: list[DetPoint], threshold: float) -> DetPoint:
    """The point of a sweep at ``threshold``, one of its thresholds."""
    return next(p for p in points if p.threshold == threshold)


def test_streams(cfg: Any, seed: int, word_minutes: float, free_minutes: float) -> list[Any]:
    """The test split's word stream and keyword-free stream, in memory, for one seed.

    Args:
        cfg: a composed training config (its ``data``).
        seed: the streams' seed (the keyword-free one takes ``seed + 1``).
        word_minutes: the word stream's length.
        free_minutes: the keyword-free stream's length.
    """
    from kws.tasks.common import instantiate_config

    datamodule = instantiate_config(cfg.data, _convert_="all")
    datamodule.prepare_data()
    datamodule.setup("test")
    clips = datamodule.stream_clips("test")
    noise = bool(clips.noise)
    return [
        render_stream(clips, word_minutes, seed, volume=DEFAULT_VOLUME if noise else 0.0),
        render_stream(
            clips, free_minutes, seed + 1, unknown_fraction=1.0, word_fraction=0.5,
            volume=DEFAULT_NOISE_VOLUME if noise else 0.0,
        ),
    ]  # fmt: skip


FIGURES = (
    "frr_at_1_fa_per_hour", "frr_at_0.5_fa_per_hour", "fa_per_hour", "keyword_free_fa_per_hour",
    "frr", "threshold", "test_acc", "train_seconds", "acc_vs_baseline", "time_vs_baseline",
)  # fmt: skip


def bench_stream_quality(
    recipes: list[Recipe],
    seeds: list[int],
    out: Path,
    word_minutes: float = 10.0,
    free_minutes: float = 60.0,
    stride_ms: float = STRIDE_MS,
    extra: tuple[str, ...] = (),
    window_scoring: bool = False,
) -> Report:
    """Train every recipe with every seed and score each on the seed's test streams.

    Args:
        recipes: the recipes; the first is the baseline.
        seeds: the seeds.
        out: where the runs go.
        word_minutes: the word stream's length.
        free_minutes: the keyword-free stream's length.
        stride_ms: the detector's stride.
        extra: overrides for every recipe (a shorter schedule for a quick check).
        window_scoring: for a recipe whose spotter streams frame by frame (a causal model),
            also listen with whole windows scored (``stateful=False``), reported as the recipe
            ``<name>/windows``. Default False.

    Returns:
        ``runs`` (every recipe and seed) and ``summary`` (each figure's mean and standard
        deviation per recipe).
    """
    runs = []
    for seed in seeds:
        streams = None
        baseline: dict[str, Any] | None = None
        for recipe in recipes:
            metrics, cfg = train_recipe(recipe, seed, out, extra)
            if streams is None:
                streams = test_streams(cfg, seed, word_minutes, free_minutes)
            trained = {
                "seed": seed,
                "run": metrics["run"],
                "test_acc": metrics["test/acc"],
                "train_seconds": metrics["train_seconds"],
            }
            detectors = [(recipe.name, None)]
            if window_scoring and "model.causal=true" in recipe.overrides:
                detectors.append((f"{recipe.name}/windows", False))
            for name, stateful in detectors:
                row = {
                    "recipe": name,
                    **trained,
                    **listen(metrics["checkpoint"], streams, stride_ms, stateful),
                }
                baseline = baseline or row
                row["acc_vs_baseline"] = 100.0 * (row["test_acc"] - baseline["test_acc"])
                row["time_vs_baseline"] = row["train_seconds"] / baseline["train_seconds"]
                runs.append(row)
                print(format_row(row), flush=True)
    summary = {}
    for name in dict.fromkeys(r["recipe"] for r in runs):
        rows = [r for r in runs if r["recipe"] == name]
        summary[name] = {
            figure: {
                "mean": statistics.fmean(r[figure] for r in rows),
                "sd": statistics.stdev(r[figure] for r in rows) if len(rows) > 1 else 0.0,
            }
            for figure in FIGURES
        }
    return {
        "settings": {
            "recipes": {r.name: list(r.overrides) for r in recipes}, "seeds": seeds,
            "word_minutes": word_minutes, "free_minutes": free_minutes, "stride_ms": stride_ms,
            "extra": list(extra), "threads": torch.get_num_threads(),
        },
        "runs": runs,
        "summary": summary,
    }  # fmt: skip


def format_row(row: dict[str, Any]) -> str:
    """One run, on one line."""
    return (
        f"{row['recipe']} seed {row['seed']}: FRR {row['frr_at_1_fa_per_hour']:.1%} at <= 1 FA/h, "
        f"{row['frr_at_0.5_fa_per_hour']:.1%} at <= 0.5 FA/h; at its threshold "
        f"{row['threshold']:.3g}: {row['fa_per_hour']:.2f} FA/h (keyword-free "
        f"{row['keyword_free_fa_per_hour']:.2f}), FRR {row['frr']:.1%}; clip accuracy "
        f"{row['test_acc']:.2%}; trained in {row['train_seconds']:.0f} s"
    )


def format_stream_quality(report: Report) -> str:
    """The summary as a table: mean ± sd over seeds per recipe."""
    settings = report["settings"]
    lines = [
        f"stream quality over seeds {settings['seeds']}: {settings['word_minutes']:g}-minute "
        f"word stream + {settings['free_minutes']:g}-minute keyword-free stream of the test "
        f"speakers, stride {settings['stride_ms']:g} ms, {settings['threads']} threads",
        "recipe            FRR@<=1FA/h    FRR@<=0.5FA/h  FA/h at thr   FRR at thr    "
        "threshold      clip acc        train s      time ratio",
    ]
    for name, figures in report["summary"].items():

        def cell(key: str, scale: float = 1.0, form: str = ".1f", f=figures) -> str:
            return f"{scale * f[key]['mean']:{form}} ± {scale * f[key]['sd']:{form}}"

        lines.append(
            f"{name:<17} {cell('frr_at_1_fa_per_hour', 100):<14} "
            f"{cell('frr_at_0.5_fa_per_hour', 100):<14} {cell('fa_per_hour', 1, '.2f'):<13} "
            f"{cell('frr', 100):<13} {cell('threshold', 1, '.3f'):<14} "
            f"{cell('test_acc', 100, '.2f'):<15} {cell('train_seconds', 1, '.0f'):<12} "
            f"{cell('time_vs_baseline', 1, '.2f')}"
        )
    lines.append(
        "FRR and clip accuracy in %; FA/h and FRR at each recipe's deployed threshold "
        "(detector.threshold=auto); time ratio against the first recipe, same seed"
    )
    return "\n".join(lines)


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Add the ``stream-quality`` command.

    Args:
        commands: the CLI's subparsers.
    """
    parser = commands.add_parser(
        "stream-quality", help="train recipes over seeds and score them on test streams"
    )
    parser.add_argument("--recipe", action="append", default=None,
                        help="NAME=OVERRIDE[,OVERRIDE...]; repeat; the first is the baseline "
                        f"(default: {'; '.join(RECIPES)})")  # fmt: skip
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--word-minutes", type=float, default=10.0)
    parser.add_argument("--free-minutes", type=float, default=60.0)
    parser.add_argument("--stride-ms", type=float, default=STRIDE_MS)
    parser.add_argument("--out", type=Path, default=Path("outputs/stream_quality"),
                        help="where the training runs go (%(default)s)")  # fmt: skip
    parser.add_argument("--extra", nargs="*", default=[],
                        help="overrides for every recipe, e.g. trainer.max_epochs=2")  # fmt: skip
    parser.add_argument("--json", help="also write the results to this JSON file")
    parser.add_argument("--window-scoring", action="store_true",
                        help="also score a causal recipe's (model.causal=true) windows whole, "
                        "as the recipe NAME/windows")  # fmt: skip
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    """Run the ``stream-quality`` command from its parsed arguments."""
    try:
        recipes = [Recipe.parse(text) for text in (args.recipe or RECIPES)]
        if len({r.name for r in recipes}) < len(recipes):
            raise ValueError("recipe names must differ")
        if not args.seeds or min(args.seeds) < 0:
            raise ValueError(f"seeds must be 0 or more, got {args.seeds}")
        for name in ("word_minutes", "free_minutes"):
            if not getattr(args, name) > 0:
                raise ValueError(f"--{name.replace('_', '-')} must be > 0")
        if args.json and not Path(args.json).resolve().parent.is_dir():
            raise ValueError(f"--json {args.json}: its folder does not exist")
    except ValueError as error:
        raise SystemExit(f"error: {error}") from None
    report = bench_stream_quality(
        recipes, args.seeds, args.out, args.word_minutes, args.free_minutes, args.stride_ms,
        tuple(args.extra), args.window_scoring,
    )  # fmt: skip
    print(format_stream_quality(report))
    if args.json:
        write_json(args.json, report)
