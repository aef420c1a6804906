"""A model file read as hostile input, and the onnxruntime session over it.

The file's size is capped, it is parsed from bytes as ONNX only and its graph must be a kws
export's kind (``kws_runtime.graph_checks``) before onnxruntime builds a session. An ONNX file
may point its weights at "external data" files, which the graph checks refuse; loaded from
bytes, onnxruntime would look for them below the current working directory, so the session is
also told to look in a new empty folder instead, where nothing can be found.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import onnx
import onnxruntime as ort
from google.protobuf.message import DecodeError

from kws_runtime.graph_checks import check_structure
from kws_runtime.model_info import ModelFileError

#: The largest model file read (128 MiB: twice the float32 weights ``graph_checks.MAX_WEIGHTS``
#: allows, and parsing many small messages takes about ten times a file's size); a kws export
#: is a few MB.
MAX_MODEL_BYTES = 128 * 2**20
_ORT_DETAIL_CHARS = 300  # enough of an onnxruntime message to say why


def read_model_bytes(path: Path) -> bytes:
    """The bytes of the model file ``path``, at most ``MAX_MODEL_BYTES`` of them.

    Args:
        path: the model file.

    Raises:
        ModelFileError: it is missing, unreadable or too large.
    """
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_MODEL_BYTES + 1)
    except FileNotFoundError:
        raise ModelFileError(f"{path}: file does not exist") from None
    except OSError as error:
        raise ModelFileError(f"{path}: cannot be read ({error.strerror})") from None
    if len(data) > MAX_MODEL_BYTES:
        raise ModelFileError(f"{path}: more than {MAX_MODEL_BYTES:,} bytes, too large for a model")
    return data


def parse_model(data: bytes, path: Path) -> onnx.ModelProto:
    """The ONNX model in ``data``, its parts checked (``graph_checks.check_structure``; its
    shapes are checked once its metadata is read).

    Args:
        data: the file's bytes.
        path: the file, for messages.

    Raises:
        ModelFileError: not an ONNX model, or not a kws export's kind.
    """
    try:
        model = onnx.ModelProto.FromString(data)
    except DecodeError:
        raise ModelFileError(f"{path}: not a usable ONNX model (not an ONNX file)") from None
    check_structure(model, str(path))
    return model


def ort_detail(error: Exception) -> str:
    """The gist of an onnxruntime error: its first line without the ``[ONNXRuntimeError] : 1 :
    FAIL :`` prefix, C++ source locations and failed checks' signatures, shortened.

    Args:
        error: what onnxruntime raised.
    """
    lines = str(error).strip().splitlines() or [type(error).__name__]
    detail = re.sub(r"^\[ONNXRuntimeError\] : \d+ : \w+ : ", "", lines[0])
    detail = detail.split(" was false. ", 1)[-1]  # a failed check's message follows its code
    detail = re.sub(r"\S+\.(?:cc|h):\d+ ", "", detail)
    if len(detail) > _ORT_DETAIL_CHARS:
        detail = detail[: _ORT_DETAIL_CHARS - 3] + "..."
    return detail


def open_session(data: bytes, path: Path, threads: int) -> ort.InferenceSession:
    """An onnxruntime CPU session over an ONNX model, running ``threads`` threads within an
    operator and one operator at a time, that finds no external data.

    Args:
        data: the model's bytes (checked: ``parse_model``).
        path: the file, for messages.
        threads: threads within an operator.

    Raises:
        ModelFileError: onnxruntime cannot build it, with the gist of its error.
    """
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 4  # fatal only: errors are raised, and reported, by kws
    options.add_session_config_entry("session.load_model_format", "ONNX")
    with tempfile.TemporaryDirectory(prefix="kws-no-external-data-") as empty:
        # From bytes, external data would be read below the working directory; an empty
        # folder holds none, and onnxruntime refuses paths that climb out of it.
        options.add_session_config_entry(
            "session.model_external_initializers_file_folder_path", empty
        )
        try:
            return ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
        except Exception as error:  # onnxruntime's errors share no base class below Exception
            raise ModelFileError(f"{path}: not a usable ONNX model ({ort_detail(error)})") from None
