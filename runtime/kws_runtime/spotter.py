"""``Spotter``: an exported kws model (ONNX) run by onnxruntime on numpy arrays, without torch.

Two kinds of export load: a clip export (``waveform`` clips in, ``probabilities`` and ``logits``
out) and a streaming export (``python -m kws.export --streaming``: a chunk of samples and the
state in, each new frame's probabilities and the next state out), which ``RuntimeStream`` runs
over a stream, each sample through the model once.

The model file is a file a user hands over, so it is treated as hostile: it is read and parsed
as ``kws_runtime.model_file`` reads it (size capped, ONNX only, a kws export's kind of graph,
no external data) and its metadata is checked (``ModelInfo.from_props``) before onnxruntime
builds a session; the graph must take and give exactly what the metadata promises, and every
output is checked before it is returned.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnxruntime as ort

from kws_runtime.audio import float_problem, read_converted, to_float32
from kws_runtime.calibration import Calibration
from kws_runtime.graph_checks import MAX_CALL_ACTIVATIONS, check_shapes
from kws_runtime.model_file import open_session, ort_detail, parse_model, read_model_bytes
from kws_runtime.model_info import (
    CHUNK_NAME,
    INPUT_NAME,
    MAX_METADATA_ENTRIES,
    OUTPUT_NAMES,
    ModelFileError,
    ModelInfo,
    ModelInfoError,
    StreamInfo,
)
from kws_runtime.stream import RuntimeStream

#: Clips (a streaming export: hops) per onnxruntime call by default: enough to keep the cores
#: busy, few enough that the features of a chunk stay small whatever batch a caller passes.
MAX_BATCH = 256


class Spotter:
    """A keyword spotter exported by kws, run with onnxruntime: waveforms in, class scores out.

    Build it with ``Spotter.from_file``. ``run`` and ``predict`` take clips at the model's
    sample rate of at most ``clip_samples`` samples, one ``(samples,)`` or a batch
    ``(batch, samples)``, float in [-1, 1] or int16; shorter clips are zero-padded at the end,
    as training pads them. Any batch size is fine: clips go to onnxruntime ``max_batch`` at a
    time, each chunk converted on its own, so a large batch (e.g. a read-only sliding-window
    view over long audio) is never copied whole.

    A streaming export (``streaming`` is not None) scores a clip as a stream that starts with
    it: the probabilities at its last frame, the window score ``stream()`` gives a detector.
    It has no logits: ``run`` gives the log-probabilities in their place, which differ from the
    logits by a constant per clip (softmax, argmax and cross-entropy take them as logits).

    Args:
        session: an onnxruntime session over the exported model.
        info: the model's metadata.
        origin: where the model came from, for messages.
        max_batch: clips per onnxruntime call; a streaming export's hops per call. Default
            ``MAX_BATCH`` (256).

    Raises:
        ModelFileError: the graph does not take and give what ``info`` describes: a clip
            export's input ``waveform`` float ``(batch, clip_samples)`` with a free batch
            dimension and outputs ``probabilities`` and ``logits``, float
            ``(batch, len(class_names))``; a streaming export's ``chunk`` float ``(1, samples)``
            and states in, ``probabilities`` float ``(1, frames, len(class_names))`` and the
            next states out, each state float of its shape.
    """

    def __init__(
        self,
        session: ort.InferenceSession,
        info: ModelInfo,
        origin: str,
        max_batch: int = MAX_BATCH,
    ) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be at least 1: {max_batch}")
        self._session = session
        self.info = info
        self.origin = origin
        self.max_batch = max_batch
        self._check_graph()

    @classmethod
    def from_file(
        cls, path: str | os.PathLike[str], threads: int = 1, max_batch: int = MAX_BATCH
    ) -> Spotter:
        """Load an exported ONNX model.

        Args:
            path: the ``.onnx`` file, at most ``model_file.MAX_MODEL_BYTES``; it must hold the whole
                model (no external data files). A clip export or a streaming export.
            threads: onnxruntime threads within one operator, at least 1. Default 1.
            max_batch: the most clips (a streaming export: hops) per onnxruntime call; fewer
                where the graph's tensors for that many would hold more than
                ``graph_checks.MAX_CALL_ACTIVATIONS`` elements. Default ``MAX_BATCH`` (256).

        Raises:
            ModelFileError: the file is missing, unreadable, too large, not a loadable ONNX
                model, not a kws export's kind of graph (see ``graph_checks.check_graph``; a
                streaming export's shapes per hop of its metadata), or its graph does not
                match its metadata.
            ModelInfoError: its metadata is missing, malformed, more than
                ``MAX_METADATA_ENTRIES`` entries or not a kws export's.
            Both messages start with ``path``; all but the last check run before onnxruntime
            builds anything.
        """
        if threads < 1:
            raise ValueError(f"threads must be at least 1: {threads}")
        path = Path(path)
        data = read_model_bytes(path)
        model = parse_model(data, path)
        if len(model.metadata_props) > MAX_METADATA_ENTRIES:
            raise ModelInfoError(
                f"{path}: {len(model.metadata_props):,} metadata entries, more than "
                f"{MAX_METADATA_ENTRIES}"
            )
        props = {prop.key: prop.value for prop in model.metadata_props}
        info = ModelInfo.from_props(props, origin=str(path))
        hop = None if info.streaming is None else info.streaming.hop_length
        clip_elements = check_shapes(model, str(path), hop)  # per clip, or per hop
        del model  # the session parses the bytes itself
        max_batch = min(max_batch, max(1, MAX_CALL_ACTIVATIONS // max(clip_elements, 1)))
        return cls(open_session(data, path, threads), info, str(path), max_batch)

    @property
    def class_names(self) -> tuple[str, ...]:
        """The output classes, in the order of the score columns."""
        return self.info.class_names

    @property
    def sample_rate(self) -> int:
        """The sample rate of the audio the model takes, in Hz."""
        return self.info.sample_rate

    @property
    def calibration(self) -> Calibration | None:
        """The detection threshold calibrated on validation streams when the model was trained
        stream-aware (``kws.streaming.calibration``), else None."""
        data = self.info.calibration
        return None if data is None else Calibration.from_dict(data, "metadata")

    @property
    def clip_samples(self) -> int:
        """The samples per clip the model takes; shorter clips are zero-padded."""
        return self.info.clip_samples

    @property
    def streaming(self) -> StreamInfo | None:
        """How a streaming export runs (hop, states), or None for a clip export."""
        return self.info.streaming

    def stream(self) -> RuntimeStream:
        """A new stream through a streaming export, from zeros of its state.

        Raises:
            ValueError: the model is a clip export.
        """
        return RuntimeStream(self)

    def _check_graph(self) -> None:
        """Raise ``ModelFileError`` unless the graph's inputs and outputs are those of a kws
        export with this metadata (a name in an expected shape: a free dimension)."""
        inputs, outputs = self._session.get_inputs(), self._session.get_outputs()
        classes = len(self.class_names)
        expected: dict[str, list[int | str]]
        if self.streaming is None:
            expected = {
                INPUT_NAME: ["batch", self.clip_samples],
                **dict.fromkeys(OUTPUT_NAMES, ["batch", classes]),
            }
            input_names = [INPUT_NAME]
        else:
            states = self.streaming.states
            expected = {CHUNK_NAME: [1, "samples"], OUTPUT_NAMES[0]: [1, "frames", classes]}
            expected |= {state.input: list(state.shape) for state in states}
            expected |= {state.output: list(state.shape) for state in states}
            input_names = [CHUNK_NAME, *(state.input for state in states)]
        names = [node.name for node in inputs], sorted(node.name for node in outputs)
        output_names = sorted(set(expected) - set(input_names))
        if names != (input_names, output_names):
            raise ModelFileError(
                f"{self.origin}: graph takes {names[0]} and gives {names[1]}, expected "
                f"{input_names} and {output_names}"
            )
        for node in (*inputs, *outputs):
            shape, want = node.shape, expected[node.name]
            if not (
                node.type == "tensor(float)"
                and len(shape) == len(want)
                and all(
                    size is None or isinstance(size, str)
                    if isinstance(wanted, str)
                    else size == wanted
                    for size, wanted in zip(shape, want, strict=True)
                )
            ):
                raise ModelFileError(
                    f"{self.origin}: graph's {node.name!r} is {node.type} {shape}, its "
                    f"metadata asks for tensor(float) {want}"
                )

    def read_clip(
        self, path: str | os.PathLike[str], report: Callable[[str], None] | None = None
    ) -> np.ndarray:
        """One audio file as a clip for this model: any rate and channel count soundfile reads,
        converted to ``sample_rate`` in mono as training converts
        (``kws_runtime.audio.read_converted``).

        Args:
            path: the audio file, at most one clip (``clip_samples / sample_rate`` seconds) long.
            report: called with the line saying the file was converted, when it was. Default
                None: not told.

        Returns:
            ``(samples,)`` float32 in [-1, 1], not padded.

        Raises:
            BadAudioError: the file is unusable (unreadable, too long, a sample rate out of
                range, NaN samples, ...); the message starts with ``path``.
        """
        samples, conversion = read_converted(
            Path(path), self.sample_rate, max_seconds=self.clip_samples / self.sample_rate
        )
        if conversion and report is not None:
            report(conversion)
        return to_float32(samples)

    def _check_waveform(self, waveform: np.ndarray) -> None:
        """Raise ``ValueError`` unless ``waveform`` has a dtype, rank and length ``run`` takes;
        the samples themselves are checked chunk by chunk."""
        if waveform.dtype != np.int16 and waveform.dtype.kind != "f":
            raise ValueError(f"waveform must be float or int16 samples, got {waveform.dtype}")
        if waveform.ndim not in (1, 2):
            raise ValueError(
                f"waveform must be (samples,) or (batch, samples), got shape {waveform.shape}"
            )
        samples = waveform.shape[-1]
        if samples > self.clip_samples:
            raise ValueError(
                f"clips of {samples} samples, longer than the model's {self.clip_samples} "
                f"({self.info.clip_seconds:g} s at {self.sample_rate} Hz): score longer audio "
                "window by window"
            )

    def _clips(self, chunk: np.ndarray, first: int) -> np.ndarray:
        """Rows of a checked waveform as float32 ``(rows, clip_samples)``, zero-padded; a
        ``ValueError`` names the first bad row (counted from ``first``)."""
        clips = to_float32(chunk)
        problem = None if chunk.dtype == np.int16 else float_problem(clips)
        if problem and problem.non_finite:
            raise ValueError(f"waveform clip {first + problem.row} has NaN or infinite samples")
        if problem:
            raise ValueError(
                f"waveform clip {first + problem.row} reaches {problem.peak:.3g}: float samples "
                f"must be in [-1, 1] (int16 samples are scaled by 1/32768)"
            )
        return np.pad(clips, ((0, 0), (0, self.clip_samples - clips.shape[1])))

    def run(self, waveform: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The probabilities and logits of each clip.

        Args:
            waveform: ``(samples,)`` or ``(batch, samples)`` with ``samples`` at most
                ``clip_samples`` (shorter clips are zero-padded at the end) and ``batch`` any
                size, 0 included. Float of any width, in [-1, 1] (up to ``FLOAT_PEAK_LIMIT``
                passes, as it does from a file), or int16, scaled by 1/32768.

        Returns:
            ``(probabilities, logits)``, float32 ``(classes,)`` each for one clip,
            ``(batch, classes)`` for a batch; columns in the order of ``class_names``. A
            streaming export's: its probabilities at each clip's last frame, and their logarithm
            in place of logits (see the class).

        Raises:
            ValueError: the dtype, rank or length is wrong, or a clip holds NaN, infinite or
                far out of range samples; the message says which clip.
            ModelFileError: the model failed on the clips or gave outputs of the wrong shape
                or NaN or infinite scores.
        """
        waveform = np.asarray(waveform)
        self._check_waveform(waveform)
        batch = waveform[np.newaxis] if waveform.ndim == 1 else waveform
        classes = len(self.class_names)
        probabilities = np.empty((len(batch), classes), dtype=np.float32)
        logits = np.empty((len(batch), classes), dtype=np.float32)
        rows = self.max_batch if self.streaming is None else 1  # a stream takes one clip
        for start in range(0, len(batch), rows):
            clips = self._clips(batch[start : start + rows], start)
            end = start + len(clips)
            if self.streaming is None:
                probabilities[start:end], logits[start:end] = self._run_chunk(clips)
            else:
                probabilities[start] = self.stream().step(clips[0])[-1]
                tiny = np.finfo(np.float32).tiny  # an underflowed probability: a finite logit
                logits[start] = np.log(np.maximum(probabilities[start], tiny))
        if waveform.ndim == 1:
            return probabilities[0], logits[0]
        return probabilities, logits

    def _run_chunk(self, clips: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One onnxruntime call on ``(rows, clip_samples)`` float32 clips, outputs checked."""
        expected = (len(clips), len(self.class_names))
        outputs = self._checked_run(
            list(OUTPUT_NAMES), {INPUT_NAME: clips}, [expected] * 2, f"{len(clips)} clips"
        )
        return outputs[0], outputs[1]

    def _run_stream(
        self, chunk: np.ndarray, state: list[np.ndarray]
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """One onnxruntime call of a streaming export, outputs checked.

        Args:
            chunk: float32 ``(n * hop_length,)`` samples, ``n >= 1``.
            state: the state, float32 arrays of ``streaming.states``' shapes.

        Returns:
            ``(probabilities (n, classes) float32, next state)``.
        """
        assert self.streaming is not None, "a clip export has no state"
        states = self.streaming.states
        hops = len(chunk) // self.streaming.hop_length
        feeds = {CHUNK_NAME: chunk[np.newaxis]} | {
            info.input: value for info, value in zip(states, state, strict=True)
        }
        names = [OUTPUT_NAMES[0], *(info.output for info in states)]
        shapes = [(1, hops, len(self.class_names)), *(info.shape for info in states)]
        outputs = self._checked_run(names, feeds, shapes, f"a chunk of {hops} hops")
        return outputs[0][0], outputs[1:]

    def _checked_run(
        self,
        names: list[str],
        feeds: dict[str, np.ndarray],
        shapes: list[tuple[int, ...]],
        what: str,
    ) -> list[np.ndarray]:
        """One onnxruntime call; each output must be float32 of its shape and finite.

        Args:
            names: the outputs to compute.
            feeds: the inputs by name.
            shapes: each output's expected shape.
            what: the input, as messages name it (``"8 clips"``).

        Raises:
            ModelFileError: onnxruntime failed, or an output is not as expected.
        """
        try:
            outputs = self._session.run(names, feeds)
        except Exception as error:  # onnxruntime's errors share no base class below Exception
            raise ModelFileError(
                f"{self.origin}: the model failed on {what} ({ort_detail(error)})"
            ) from None
        for name, output, shape in zip(names, outputs, shapes, strict=True):
            if output.shape != tuple(shape) or output.dtype != np.float32:
                raise ModelFileError(
                    f"{self.origin}: the model gave {name!r} {output.dtype} {output.shape} for "
                    f"{what}, expected float32 {tuple(shape)}"
                )
            if not np.isfinite(output).all():
                raise ModelFileError(f"{self.origin}: the model gave NaN or infinite {name!r}")
        return outputs

    def predict(self, waveform: np.ndarray) -> np.ndarray:
        """The class probabilities of each clip: ``run(waveform)[0]``.

        Args:
            waveform: ``(samples,)`` or ``(batch, samples)``, as for ``run``.

        Returns:
            float32 ``(classes,)`` for one clip, ``(batch, classes)`` for a batch.
        """
        return self.run(waveform)[0]
