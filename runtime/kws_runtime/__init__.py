"""kws-runtime: exported kws keyword spotters run without torch (numpy, onnx, onnxruntime,
soundfile and soxr only), installable on its own (``pip install ./runtime``).

``Spotter.from_file("model.onnx")`` loads an ONNX file written by the exporter (the whole
spotter, waveform to scores, with its ``ModelInfo`` in the file's metadata, every part checked
as hostile input) and ``predict(waveform)`` scores clips. A streaming export (``python -m
kws.export --streaming``) also runs as a stream, each sample through the model once:
``Spotter.stream()``, a ``RuntimeStream``. ``kws_runtime.detector.StreamingDetector`` finds
keywords in a stream pushed in chunks; ``kws_runtime.audio`` reads and converts recordings as
training does. Commands: ``python -m kws_runtime`` (clips), ``detect`` (recordings) and
``listen`` (a microphone).
"""

from kws_runtime.model_info import ModelFileError, ModelInfo, ModelInfoError
from kws_runtime.spotter import Spotter
from kws_runtime.stream import RuntimeStream

__all__ = ["ModelFileError", "ModelInfo", "ModelInfoError", "RuntimeStream", "Spotter"]
