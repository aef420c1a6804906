"""Taking a trained spotter off the training stack: ONNX (float and int8) and ``torch.export``.

``graph`` says what is exported (``InferenceGraph``: waveform to probabilities and logits, the
frontend inside) and its metadata, ``onnx_model`` and ``program`` write the two formats,
``quantize`` makes the int8 variants, and ``checkpoint`` runs it all for one checkpoint file,
as ``python -m kws.export CKPT OUT_DIR`` does. ``kws_runtime`` runs the ONNX files without torch.
"""

from kws.export.checkpoint import FILE_NAMES, FORMATS, export_checkpoint
from kws.export.graph import InferenceGraph, model_info
from kws.export.onnx_model import ExportError

__all__ = [
    "FILE_NAMES",
    "FORMATS",
    "ExportError",
    "InferenceGraph",
    "export_checkpoint",
    "model_info",
]
