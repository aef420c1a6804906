"""``python -m kws.benchmark export CKPT``: each export of a checkpoint against PyTorch.

Exports the checkpoint (float ONNX and both int8 variants, ``kws.export``), then scores PyTorch
eager float32, ONNX float32, ONNX int8 (whole model) and ONNX int8 (head only, frontend float)
on the checkpoint's test split: accuracy, agreement of the predicted class with PyTorch's, the
largest difference of probabilities from PyTorch's, file size, and latency per one-second clip
at batch 1 on one CPU thread (the median of many calls, the variants taking turns so that drifts
in machine load hit each alike). Ratios are against PyTorch eager and the float ONNX file,
measured in the same run.
"""

from __future__ import annotations

import argparse
import io
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from kws.benchmark.common import Report
from kws.training import load_checkpoint
from kws_runtime.io import write_json
from kws_runtime.model_info import INPUT_NAME, OUTPUT_NAMES

if TYPE_CHECKING:
    import onnx

# onnx, onnxruntime and kws.export (the export extra) are imported when the command runs, so
# the other benchmarks run without them.

VARIANTS = {  # name in the table: the export's key in FILE_NAMES (None: PyTorch itself)
    "pytorch eager float32": None,
    "onnx float32": "onnx",
    "onnx int8 (whole model)": "int8",
    "onnx int8 (head only)": "int8-head",
}
_EVAL_BATCH = 100


def _latencies(
    runners: dict[str, Callable[[np.ndarray], Any]], clip: np.ndarray, calls: int
) -> dict[str, float]:
    """Median seconds per call of each runner at batch 1, the runners taking turns."""
    seconds: dict[str, list[float]] = {name: [] for name in runners}
    for run in runners.values():  # warm up: first calls allocate and plan
        for _ in range(5):
            run(clip)
    for _ in range(calls):
        for name, run in runners.items():
            begin = time.perf_counter()
            run(clip)
            seconds[name].append(time.perf_counter() - begin)
    return {name: statistics.median(values) for name, values in seconds.items()}


def stage_tensors(model: onnx.ModelProto) -> dict[str, str]:
    """The tensor each frontend stage of a float export hands on: ``stft`` (the output of the
    convolution with the kernels, or of the ``DFT``), ``power``, ``mel`` (the projection's
    output), ``log``, and ``dct`` for MFCCs; only the stages the frontend has.

    Args:
        model: a float export (``kws.export``).
    """
    from kws.export.quantize import ancestors, frontend_output

    boundary = frontend_output(model)
    producer = {name: node for node in model.graph.node for name in node.output}
    frontend = [n for n in model.graph.node if n.name in set(ancestors(model, boundary))]
    stages: dict[str, str] = {}
    matmuls = [n for n in frontend if n.op_type == "MatMul"]
    for node in frontend:  # in graph order
        if node.op_type in ("Conv", "DFT") and "stft" not in stages:
            stages["stft"] = node.output[0]
        if node is (matmuls[0] if matmuls else None):
            stages["power"] = next(t for t in node.input if t in producer)
            stages["mel"] = node.output[0]
        if node.op_type == "Log":
            if "mel" not in stages:  # a plain STFT: the log takes the power itself
                stages["power"] = producer[node.input[0]].input[0]
            stages["log"] = node.output[0]
    if boundary != stages.get("log"):
        stages["dct"] = boundary
    return stages


def on_grid(values: np.ndarray, low: float, high: float, bits: int) -> np.ndarray:
    """``values`` put on a per-tensor asymmetric grid of ``2**bits`` steps spanning ``[low, high]``
    (and 0), as onnxruntime's MinMax calibration sets activations, and read back as floats.

    Args:
        values: any array.
        low: the calibrated minimum; ``high``: the maximum.
        bits: the grid's width.
    """
    low, high = min(low, 0.0), max(high, 0.0)
    scale = (high - low) / (2**bits - 1) or 1.0
    return (np.clip(np.round((values - low) / scale), 0, 2**bits - 1) * scale + low).astype(
        np.float32
    )


def stage_errors(
    model: onnx.ModelProto,
    calibration: np.ndarray,
    clips: np.ndarray,
    labels: np.ndarray,
    bits: tuple[int, ...] = (8, 16),
) -> list[dict[str, Any]]:
    """What quantising each frontend stage's output alone costs, the rest of the model in float:
    the stage's tensor is put on a ``bits``-bit grid set on the calibration clips (MinMax, per
    tensor, as onnxruntime sets activations), and the graph runs on from there.

    Args:
        model: a float export.
        calibration: ``(n, samples)`` clips that set each grid's range.
        clips: ``(m, samples)`` test clips; ``labels``: their classes ``(m,)``.
        bits: the grid widths to try. Default 8 and 16.

    Returns:
        Per stage and width: the test accuracy, and the relative RMS error the grid adds to the
        frontend's output (the head's input).
    """
    import onnx
    import onnxruntime as ort

    from kws.export.quantize import frontend_output

    stages = stage_tensors(model)
    boundary = frontend_output(model)
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    del probe.graph.output[:]
    names = list(dict.fromkeys([*stages.values(), boundary]))  # each tensor once
    probe.graph.output.extend(onnx.helper.make_empty_tensor_value_info(t) for t in names)
    run_probe = ort.InferenceSession(probe.SerializeToString()).run
    calibrated = dict(zip(names, run_probe(names, {INPUT_NAME: calibration}), strict=True))
    exact = dict(zip(names, run_probe(names, {INPUT_NAME: clips}), strict=True))
    features = exact[boundary]  # the head's input, as the float model computes it
    rows = []
    inferred = onnx.shape_inference.infer_shapes(model)
    for stage, tensor in stages.items():
        low, high = float(calibrated[tensor].min()), float(calibrated[tensor].max())
        rest = onnx.utils.Extractor(inferred).extract_model([tensor], [boundary, OUTPUT_NAMES[0]])
        run_rest = ort.InferenceSession(rest.SerializeToString()).run
        for width in bits:
            grid = on_grid(exact[tensor], low, high, width)
            moved, probabilities = run_rest(None, {tensor: grid})
            error = np.sqrt(np.mean((moved - features) ** 2) / np.mean(features**2))
            rows.append({
                "stage": stage, "bits": width,
                "range": [low, high],
                "accuracy": float((probabilities.argmax(axis=1) == labels).mean()),
                "feature_error": float(error),
            })  # fmt: skip
    return rows


def bench_export(
    checkpoint: Path,
    out_dir: Path,
    calls: int = 300,
    calibration: int = 300,
    data_root: str | None = None,
) -> Report:
    """Export ``checkpoint`` into ``out_dir`` and measure each variant (see the module's doc).
    onnxruntime runs on one thread; PyTorch on torch's current threads (the command sets one).

    Args:
        checkpoint: a trained kws checkpoint whose data (or ``data_root``) is on disk.
        out_dir: where the exports go.
        calls: timed calls per variant. Default 300.
        calibration: training clips to calibrate int8 with. Default 300.
        data_root: the data set's folder if it moved since training. Default None.
    """
    import onnx

    from kws.export import FILE_NAMES
    from kws.export.checkpoint import calibration_clips, export_module, training_data
    from kws_runtime import Spotter

    module = load_checkpoint(checkpoint)
    datamodule = training_data(module, checkpoint, data_root)
    calibration_set = calibration_clips(datamodule, calibration)
    exported = export_module(module, out_dir, ("onnx",), calibration_set, checkpoint)
    test = datamodule.datasets["test"]
    clips = np.asarray(test.clips, dtype=np.float32) / 32768.0  # (clips, samples)
    labels = np.asarray(test.labels)
    spotter = module.spotter.eval()

    def pytorch(batch: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return spotter(torch.from_numpy(batch)).softmax(dim=-1).numpy()

    weights = io.BytesIO()  # PyTorch's file: the weights inference needs (no initial_* copies)
    torch.save({k: v for k, v in spotter.state_dict().items() if ".initial_" not in k}, weights)
    runners: dict[str, Callable[[np.ndarray], np.ndarray]] = {}
    sizes: dict[str, int] = {}
    for name, kind in VARIANTS.items():
        if kind is None:
            runners[name], sizes[name] = pytorch, len(weights.getvalue())
        else:
            path = out_dir / FILE_NAMES[kind]
            runners[name], sizes[name] = (
                Spotter.from_file(path, threads=1).predict,
                path.stat().st_size,
            )
    probabilities = {
        name: np.concatenate(
            [run(clips[i : i + _EVAL_BATCH]) for i in range(0, len(clips), _EVAL_BATCH)]
        )
        for name, run in runners.items()
    }
    latency = _latencies(runners, clips[:1], calls)
    stages = stage_errors(
        onnx.load(out_dir / FILE_NAMES["onnx"]), calibration_set, clips, labels,
    )  # fmt: skip
    reference = probabilities["pytorch eager float32"]
    rows = []
    for name in VARIANTS:
        predicted = probabilities[name].argmax(axis=1)
        rows.append({
            "variant": name,
            "accuracy": float((predicted == labels).mean()),
            "same_class_as_pytorch": float((predicted == reference.argmax(axis=1)).mean()),
            "max_probability_difference": float(np.abs(probabilities[name] - reference).max()),
            "bytes": sizes[name],
            "size_vs_onnx_float": sizes[name] / sizes["onnx float32"],
            "latency_ms": 1000 * latency[name],
            "latency_vs_pytorch": latency[name] / latency["pytorch eager float32"],
        })  # fmt: skip
    return {
        "checkpoint": str(checkpoint),
        "test_clips": len(labels),
        "export": exported,
        "rows": rows,
        "stages": stages,
    }


def format_export(report: Report) -> str:
    """The benchmark's table, one row per variant."""
    lines = [
        f"{report['test_clips']} test clips of {report['checkpoint']}; latency: batch 1, "
        "1 CPU thread, median",
        f"{'variant':<26}{'test acc':>9}{'same cls':>9}{'max |dp|':>10}{'KB':>9}"
        f"{'size/onnx':>10}{'ms/clip':>9}{'time/torch':>11}",
    ]
    for row in report["rows"]:
        lines.append(
            f"{row['variant']:<26}{100 * row['accuracy']:>8.2f}%"
            f"{100 * row['same_class_as_pytorch']:>8.2f}%{row['max_probability_difference']:>10.2e}"
            f"{row['bytes'] / 1024:>9.1f}{row['size_vs_onnx_float']:>10.2f}"
            f"{row['latency_ms']:>9.3f}{row['latency_vs_pytorch']:>11.2f}"
        )
    lines += [
        "",
        "each frontend stage's output alone on an integer grid (MinMax on the calibration clips),",
        "the rest in float: test accuracy and the relative RMS error it adds to the head's input",
        f"{'stage':<8}{'calibrated range':>26}{'int8 acc':>10}{'int8 err':>10}"
        f"{'int16 acc':>11}{'int16 err':>11}",
    ]
    by_stage: dict[str, dict[int, dict[str, Any]]] = {}
    for row in report["stages"]:
        by_stage.setdefault(row["stage"], {})[row["bits"]] = row
    for stage, widths in by_stage.items():
        low, high = widths[8]["range"]
        cells = "".join(
            f"{100 * widths[b]['accuracy']:>9.2f}%{widths[b]['feature_error']:>10.2e}"
            for b in (8, 16)
        )
        lines.append(f"{stage:<8}{f'[{low:.3g}, {high:.3g}]':>26}{cells}")
    return "\n".join(lines)


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Add the ``export`` command.

    Args:
        commands: the CLI's subparsers.
    """
    parser = commands.add_parser("export", help="each export of a checkpoint against PyTorch")
    parser.add_argument("checkpoint", type=Path, help="a trained kws checkpoint")
    parser.add_argument("--out-dir", type=Path, help="keep the exports here (default: temporary)")
    parser.add_argument("--calls", type=int, default=300, help="timed calls per variant")
    parser.add_argument("--calibration-clips", type=int, default=300)
    parser.add_argument("--data-root", help="the data set's folder, if it moved since training")
    parser.add_argument("--json", help="also write the results to this JSON file")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    """Run the ``export`` command from its parsed arguments."""
    torch.set_num_threads(1)  # PyTorch's latency on one thread, as onnxruntime's sessions
    with tempfile.TemporaryDirectory(prefix="kws-export-") as scratch:
        out_dir = args.out_dir or Path(scratch)
        out_dir.mkdir(parents=True, exist_ok=True)
        report = bench_export(
            args.checkpoint, out_dir, args.calls, args.calibration_clips, args.data_root
        )
    print(format_export(report))
    if args.json:
        write_json(
            args.json,
            {"settings": {k: str(v) for k, v in vars(args).items() if k != "run"}, **report},
        )
