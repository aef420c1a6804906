"""Running exported kws models without torch: numpy, onnx, onnxruntime and soundfile only.

``Spotter.from_file("model.onnx")`` loads an ONNX file written by the exporter (the whole
spotter, waveform to scores, with its ``ModelInfo`` in the file's metadata) and
``predict(waveform)`` scores clips; ``python -m kws.runtime MODEL.onnx a.wav ...`` prints each
file's top class. A streaming export (``python -m kws.export --streaming``) also runs as a
stream, each sample through the model once: ``Spotter.stream()``, a ``RuntimeStream``.
Nothing here imports torch, Lightning or Hydra, so a deployment needs only this package's light
dependencies.
"""

from kws.runtime.model_info import ModelFileError, ModelInfo, ModelInfoError
from kws.runtime.spotter import RuntimeStream, Spotter

__all__ = ["ModelFileError", "ModelInfo", "ModelInfoError", "RuntimeStream", "Spotter"]
