"""What an exported kws model says about itself: the metadata that travels inside the file.

An ONNX export carries it as ``metadata_props`` (one key per field, each value JSON), a
torch.export program as the JSON file beside it. A streaming export (``python -m kws.export
--streaming``: a chunk of samples and the state in, each new frame's probabilities and the next
state out) also says how to run it: ``streaming``, a ``StreamInfo``. Both sides use
``ModelInfo``: the exporter writes ``to_props()``, the runtime reads ``from_props()``, which
treats the values as hostile input (an exported file is a file a user hands over) and checks
every field before use.

Torch-free: numpy and the standard library only.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from typing import Any

from kws_runtime.calibration import Calibration

#: The longest clip a checkpoint or an exported model may ask for: 60 s at 16 kHz.
MAX_CLIP_SAMPLES = 60 * 16_000

#: The format tag of an exported kws model; a reader refuses any other.
EXPORT_FORMAT = "kws-export-1"
#: The graph's input and outputs, by name.
INPUT_NAME = "waveform"
OUTPUT_NAMES = ("probabilities", "logits")
#: A streaming export's samples input, ``(1, n * hop_length)``; its first output is
#: ``OUTPUT_NAMES[0]``, ``(1, n, classes)``, then the next state.
CHUNK_NAME = "chunk"
#: The most state tensors a streaming export may have (a BC-ResNet has 16), the most dimensions
#: of one, and the most elements of them all (BC-ResNet-1: 6,516; BC-ResNet-8: 40,576).
MAX_STATES = 256
MAX_STATE_DIMS = 8
MAX_STATE_ELEMENTS = 2**22
#: How the weights are stored: float, int8 everywhere, or int8 in the head with a float frontend.
QUANTIZATIONS = ("float32", "int8", "int8-head")
#: The most classes a model may name, and the longest class name.
MAX_CLASSES = 1_000
MAX_CLASS_NAME = 64
#: The most metadata entries a model file may hold (a kws export writes 10, a streaming export
#: 11), and the longest value read, in characters (a kws export's longest is a few KB).
MAX_METADATA_ENTRIES = 64
MAX_METADATA_CHARS = 2**17
#: The deepest nesting of lists and objects in a metadata value (a kws export's: 4 at most, a
#: streaming export's states).
MAX_METADATA_DEPTH = 16


class ModelInfoError(ValueError):
    """Metadata that is missing, malformed or not a kws export's."""


class ModelFileError(ModelInfoError):
    """A model file that cannot be used: unreadable, too large, not ONNX, or a graph that is not
    a kws export's kind, does not match its metadata or fails when run. A ``ModelInfoError``, so
    that one ``except`` catches every problem with a model file; ``str()`` starts with the
    file's path."""


def _class_name_problem(name: object) -> str | None:
    """Why ``name`` cannot be a class name (class names go into CSV fields, report lines and,
    in a data set, folder names), or None."""
    if not isinstance(name, str) or not name:
        return "is not a non-empty string"
    if len(name) > MAX_CLASS_NAME:
        return f"is {len(name):,} characters long, more than {MAX_CLASS_NAME}"
    if "/" in name or "\\" in name or name in (".", ".."):
        return "is a path, not a name (it holds / or \\, or is . or ..)"
    if not name.isprintable():
        return "holds a line break or another control character"
    return None


def _depth(value: object) -> int:
    """How deeply lists and objects nest in a JSON value (0 for a number or string, 1 for a flat
    list or object), counted without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, depth)
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return deepest


def _name_problem(name: object) -> str | None:
    """Why ``name`` cannot name a graph input or output of a streaming export, or None."""
    if not isinstance(name, str) or not name or len(name) > MAX_CLASS_NAME:
        return f"is not a name of 1 to {MAX_CLASS_NAME} characters"
    if not name.isprintable():
        return "holds a line break or another control character"
    return None


@dataclass(frozen=True)
class StateInfo:
    """One state tensor of a streaming export: fed as ``input``, its next value read from
    ``output``.

    Args:
        input: the graph input's name.
        output: the graph output's name.
        shape: its shape, batch (1) first.
    """

    input: str
    output: str
    shape: tuple[int, ...]


@dataclass(frozen=True)
class StreamInfo:
    """How a streaming export runs: a chunk ``CHUNK_NAME`` of ``(1, n * hop_length)`` samples
    and each of ``states`` in, the probabilities ``(1, n, classes)`` of the ``n`` frames the
    chunk completes and each state's next value out. A stream starts from zeros of every state.

    Args:
        hop_length: the samples per frame; a chunk holds a whole number of frames.
        states: the state tensors, in the graph's order of inputs (and of outputs).
    """

    hop_length: int
    states: tuple[StateInfo, ...]

    @property
    def state_elements(self) -> int:
        """The state's elements, all tensors together."""
        return sum(math.prod(state.shape) for state in self.states)

    @classmethod
    def from_dict(cls, fields: object, clip_samples: int, origin: str) -> StreamInfo:
        """Read and check the ``streaming`` metadata (hostile input).

        Args:
            fields: the decoded value.
            clip_samples: the model's clip, which must be a whole number of hops.
            origin: the file it came from, for messages.

        Raises:
            ModelInfoError: a malformed value: a hop that does not divide ``clip_samples``;
                no states or more than ``MAX_STATES``; a name that is empty, long, not
                printable or used twice (the chunk's and the probabilities' included); a shape
                that is not 1 to ``MAX_STATE_DIMS`` positive sizes of batch 1, or states of
                more than ``MAX_STATE_ELEMENTS`` elements in all. The message names ``origin``
                and the part.
        """
        where = f"{origin}: metadata 'streaming'"
        if not isinstance(fields, dict):
            raise ModelInfoError(f"{where} must be a JSON object")
        hop = fields.get("hop_length")
        if isinstance(hop, bool) or not isinstance(hop, int) or not 0 < hop <= clip_samples:
            raise ModelInfoError(f"{where} 'hop_length' must be in 1..{clip_samples}: {hop!r}")
        if clip_samples % hop:
            raise ModelInfoError(
                f"{where} 'hop_length' {hop} does not divide the clip's {clip_samples} samples"
            )
        rows = fields.get("states")
        if not (isinstance(rows, list) and 0 < len(rows) <= MAX_STATES):
            raise ModelInfoError(f"{where} 'states' must be a list of 1 to {MAX_STATES} states")
        names, states, elements = {CHUNK_NAME, OUTPUT_NAMES[0]}, [], 0
        for index, row in enumerate(rows):
            part = f"{where} state {index}"
            if not isinstance(row, dict):
                raise ModelInfoError(f"{part} must be a JSON object")
            for key in ("input", "output"):
                problem = _name_problem(row.get(key))
                if problem:
                    raise ModelInfoError(f"{part} {key!r} {problem}")
                if row[key] in names:
                    raise ModelInfoError(f"{part} {key!r} {row[key]!r} names another tensor too")
                names.add(row[key])
            shape = row.get("shape")
            if not (
                isinstance(shape, list)
                and 0 < len(shape) <= MAX_STATE_DIMS
                and all(type(size) is int and 0 < size <= MAX_STATE_ELEMENTS for size in shape)
                and shape[0] == 1
            ):
                raise ModelInfoError(
                    f"{part} 'shape' must be 1 to {MAX_STATE_DIMS} sizes, batch 1 first: {shape!r}"
                )
            elements += math.prod(shape)
            if elements > MAX_STATE_ELEMENTS:
                raise ModelInfoError(
                    f"{part} brings the state to more than {MAX_STATE_ELEMENTS:,} elements"
                )
            states.append(StateInfo(row["input"], row["output"], tuple(shape)))
        return cls(hop, tuple(states))


@dataclass(frozen=True)
class ModelInfo:
    """An exported spotter's description: enough to feed it audio and read its scores.

    Args:
        class_names: the output classes, in order.
        sample_rate: the audio the model takes, in Hz.
        clip_samples: the samples per clip the model takes (the graph's fixed time axis).
        frontend: the frontend's config (``_target_`` and arguments), as in the checkpoint.
        head: the head's config, as in the checkpoint.
        quantization: one of ``QUANTIZATIONS``. Default ``"float32"``.
        data: the data settings the checkpoint was trained with, or ``None``. Default ``None``.
        source: where the export came from (checkpoint file name, sha256, epoch). Default
            empty.
        calibration: the detection threshold calibrated on validation streams
            (``kws.streaming.calibration.Calibration.as_dict()``), or ``None``. Default ``None``.
        streaming: how a streaming export runs, or ``None`` for a clip export (``waveform`` in,
            ``probabilities`` and ``logits`` out). Default ``None``.
    """

    class_names: tuple[str, ...]
    sample_rate: int
    clip_samples: int
    frontend: dict[str, Any]
    head: dict[str, Any]
    quantization: str = "float32"
    data: dict[str, Any] | None = None
    source: dict[str, Any] = field(default_factory=dict)
    calibration: dict[str, Any] | None = None
    streaming: StreamInfo | None = None

    def to_dict(self) -> dict[str, Any]:
        """The metadata as one JSON-ready dict, with its ``format`` (the JSON sidecar's form);
        a clip export's has no ``streaming``."""
        fields = {"format": EXPORT_FORMAT, **asdict(self), "class_names": list(self.class_names)}
        if self.streaming is None:
            del fields["streaming"]
        return fields

    def to_props(self) -> dict[str, str]:
        """The metadata as string key/value pairs (ONNX ``metadata_props``), each value JSON."""
        return {key: json.dumps(value, sort_keys=True) for key, value in self.to_dict().items()}

    @classmethod
    def from_props(cls, props: dict[str, str], origin: str) -> ModelInfo:
        """Read and check metadata written by ``to_props``.

        Args:
            props: the string key/value pairs, e.g. an ONNX model's ``metadata_props``; keys
                that are not ``ModelInfo`` fields (or ``format``) are ignored.
            origin: the file they came from, for messages.

        Raises:
            ModelInfoError: see ``from_dict``; also a value that is not JSON, longer than
                ``MAX_METADATA_CHARS`` or nested too deeply to read.
        """
        fields = {}
        for key in ("format", *cls.__dataclass_fields__):
            if key not in props:
                continue
            raw = props[key]
            if len(raw) > MAX_METADATA_CHARS:
                raise ModelInfoError(
                    f"{origin}: metadata {key!r} is {len(raw):,} characters long, more than "
                    f"{MAX_METADATA_CHARS:,}"
                )
            try:
                fields[key] = json.loads(raw)
            except RecursionError:
                raise ModelInfoError(
                    f"{origin}: metadata {key!r} is nested more than {MAX_METADATA_DEPTH} deep"
                ) from None
            except (TypeError, ValueError):
                raise ModelInfoError(f"{origin}: metadata {key!r} is not JSON") from None
        return cls.from_dict(fields, origin)

    @classmethod
    def from_dict(cls, fields: dict[str, Any], origin: str) -> ModelInfo:
        """Read and check metadata written by ``to_dict`` (hostile input: every field checked).

        Args:
            fields: the decoded fields.
            origin: the file they came from, for messages.

        Raises:
            ModelInfoError: a field is missing or malformed (nested more than
                ``MAX_METADATA_DEPTH`` deep; a class name that is empty, longer than
                ``MAX_CLASS_NAME``, not printable or holds a path separator; more than
                ``MAX_CLASSES`` or repeated names; ``streaming`` as ``StreamInfo.from_dict``
                refuses it), or the format is not ``EXPORT_FORMAT``; the message names
                ``origin`` and the field.
        """

        def value(key: str) -> Any:
            if key not in fields:
                raise ModelInfoError(f"{origin}: not a kws export (no {key!r} in its metadata)")
            return fields[key]

        for key, field_value in fields.items():
            if _depth(field_value) > MAX_METADATA_DEPTH:
                raise ModelInfoError(
                    f"{origin}: metadata {key!r} is nested more than {MAX_METADATA_DEPTH} deep"
                )

        if value("format") != EXPORT_FORMAT:
            raise ModelInfoError(
                f"{origin}: export format {value('format')!r}, this kws reads {EXPORT_FORMAT!r}"
            )
        names = value("class_names")
        if not (isinstance(names, list) and 0 < len(names) <= MAX_CLASSES):
            raise ModelInfoError(
                f"{origin}: metadata 'class_names' must be a list of 1 to {MAX_CLASSES:,} names"
            )
        for index, name in enumerate(names):
            problem = _class_name_problem(name)
            if problem:
                raise ModelInfoError(f"{origin}: metadata 'class_names' entry {index} {problem}")
        if len(set(names)) != len(names):
            raise ModelInfoError(f"{origin}: metadata 'class_names' must be distinct names")
        numbers = {}
        for key, top in (("sample_rate", 384_000), ("clip_samples", MAX_CLIP_SAMPLES)):
            number = value(key)
            if isinstance(number, bool) or not isinstance(number, int) or not 0 < number <= top:
                raise ModelInfoError(f"{origin}: metadata {key!r} must be in 1..{top}: {number!r}")
            numbers[key] = number
        quantization = value("quantization")
        if quantization not in QUANTIZATIONS:
            raise ModelInfoError(
                f"{origin}: metadata 'quantization' must be one of {QUANTIZATIONS}: "
                f"{quantization!r}"
            )
        parts = {}
        for key in ("frontend", "head", "data", "source"):
            optional = key == "data"
            part = value(key) if key in fields or not optional else None
            if not (isinstance(part, dict) or (optional and part is None)):
                raise ModelInfoError(f"{origin}: metadata {key!r} must be a JSON object")
            parts[key] = part
        calibration = fields.get("calibration")
        if calibration is not None:
            try:
                calibration = Calibration.from_dict(calibration, origin).as_dict()
            except ValueError as error:
                raise ModelInfoError(f"metadata 'calibration': {error}") from None
        streaming = fields.get("streaming")
        if streaming is not None:
            streaming = StreamInfo.from_dict(streaming, numbers["clip_samples"], origin)
        return cls(
            tuple(names),
            **numbers,
            quantization=quantization,
            **parts,
            calibration=calibration,
            streaming=streaming,
        )

    @property
    def clip_seconds(self) -> float:
        """The clip length in seconds."""
        return self.clip_samples / self.sample_rate
