"""Writing a spotter as a ``torch.export`` program (``.pt2``) with its metadata beside it.

The program is the graph PyTorch itself runs without the Python model code (in C++ with
AOTInductor, or reloaded with ``torch.export.load``); the metadata the ONNX file carries inside
goes to a JSON file of the same stem, since a ``.pt2`` archive holds no free-form fields.
"""

from __future__ import annotations

from pathlib import Path

import torch

from kws.export.graph import InferenceGraph
from kws.export.onnx_model import example_batch
from kws_runtime.io import atomic_write, write_json
from kws_runtime.model_info import INPUT_NAME, ModelInfo


def to_program(graph: InferenceGraph, info: ModelInfo) -> torch.export.ExportedProgram:
    """``graph`` traced by ``torch.export`` with a dynamic batch axis.

    Args:
        graph: the spotter to export.
        info: its metadata (clip length).
    """
    example = torch.from_numpy(example_batch(info))
    batch = torch.export.Dim("batch")
    return torch.export.export(graph, (example,), dynamic_shapes={INPUT_NAME: {0: batch}})


def save_program(program: torch.export.ExportedProgram, info: ModelInfo, path: Path) -> Path:
    """Write ``program`` to ``path`` (``.pt2``) and ``info`` to the ``.json`` beside it, each
    under a temporary name renamed when complete; the program is renamed last.

    Args:
        program: from ``to_program``.
        info: its metadata.
        path: the ``.pt2`` file; its folder must exist.

    Returns:
        The metadata file.
    """
    metadata = path.with_suffix(".json")
    write_json(metadata, info.to_dict())
    with atomic_write(path, "wb") as handle:
        torch.export.save(program, handle)
    return metadata
