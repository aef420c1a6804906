"""Reading kws checkpoints as hostile input, with the data they name, and checking one before a
resume.

No pickled code runs, nothing is written, and only what ``kws.registry`` holds for each part is
built, with plain-data arguments; a model that would not fit in memory, or weights that are not
finite numbers, are refused before the model is built.
"""

from __future__ import annotations

import copy
import os
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from torch import nn

from kws.frontend.functional import MAX_N_FFT
from kws.models.sizes import unset_sizes
from kws.registry import ConfigError, build, check
from kws.training.module import CHECKPOINT_FORMAT, HPARAM_KEYS, KWSModule, saved_negative_weight
from kws_runtime.calibration import Calibration
from kws_runtime.model_info import MAX_CLIP_SAMPLES


class CheckpointError(ValueError):
    """A file that is not a readable kws checkpoint."""


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0] if lines else ''}"


#: The most parameters a checkpoint's model may have: 200 MB of float32, 150x BC-ResNet-8's 321 K.
MAX_PARAMETERS = 50_000_000
#: The most bytes one tensor that a checkpoint's frontend or head makes of one clip may take
#: (256 MiB): a 60 s clip's STFT at ``n_fft`` 8,192 and hop 160 takes 197 MB, BC-ResNet-8's
#: largest activation of it 61 MB, one second of 40 log-Mel bands 16 KB.
MAX_CLIP_TENSOR_BYTES = 2**28
#: The frontend settings that size the tensors it builds (kernels, filterbanks, filter taps),
#: each at most ``MAX_N_FFT``, checked before the frontend is built.
FRONTEND_SIZE_KEYS = ("n_fft", "win_length", "n_mels", "n_mfcc", "kernel_size")


def _compressed_member(path: Path) -> str | None:
    """The first compressed member of a zip file (``torch.save`` writes none), else None."""
    if not zipfile.is_zipfile(path):
        return None
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError):
        return None  # torch.load names what is wrong
    return next((m.filename for m in members if m.compress_type != zipfile.ZIP_STORED), None)


def read_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """A kws checkpoint file as a dict of tensors and plain data, its hyper-parameters checked
    for shape (not yet built); nothing in it runs and nothing is written.

    Args:
        path: the ``.ckpt`` file.
        map_location: where its tensors go (default ``"cpu"``).

    Raises:
        CheckpointError: the file is missing, not a ``torch.save`` file that loads with
            ``weights_only=True`` (or a zip with compressed members, which ``torch.save`` never
            writes and which could unpack to far more than the file), or not a kws checkpoint;
            its weights are not all finite numbers; or its model would be too big to build
            (``_size_problem``); the message names the file, and the setting or tensor.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    compressed = _compressed_member(path)
    if compressed:  # a small file could unpack to gigabytes before anything is checked
        raise CheckpointError(
            f"{path}: not a torch.save file (member {compressed!r} is compressed; torch.save "
            "stores every member uncompressed)"
        )
    try:
        checkpoint = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:  # noqa: BLE001 - the unpickler raises many kinds for foreign files
        raise CheckpointError(f"{path}: not a readable checkpoint ({_first_line(error)})") from None
    hparams = checkpoint.get("hyper_parameters") if isinstance(checkpoint, dict) else None
    if not isinstance(hparams, dict) or hparams.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(
            f"{path}: not a kws checkpoint (no '{CHECKPOINT_FORMAT}' hyper-parameters)"
        )
    problem = _hparams_problem(hparams)
    if problem is None and not isinstance(checkpoint.get("state_dict"), dict):
        problem = "no state_dict"
    problem = problem or _weights_problem(checkpoint["state_dict"]) or _size_problem(hparams)
    if problem:
        raise CheckpointError(f"{path}: damaged or tampered kws checkpoint: {problem}")
    return checkpoint


def _hparams_problem(hparams: dict[str, Any]) -> str | None:
    """What is wrong with a checkpoint's hyper-parameters, or None; their configs must name
    registered targets with plain-data arguments (``kws.registry.check``)."""
    if set(hparams) != HPARAM_KEYS:
        return f"hyper-parameters {sorted(map(str, hparams))}, expected {sorted(HPARAM_KEYS)}"
    names = hparams["class_names"]
    if not (isinstance(names, list) and names and all(isinstance(n, str) for n in names)):
        return "class_names must be a non-empty list of strings"
    if len(set(names)) != len(names):
        return f"class_names {names} repeat a name"
    samples = hparams["clip_samples"]
    if not isinstance(samples, int) or isinstance(samples, bool):
        return "clip_samples must be an integer"
    if not 0 < samples <= MAX_CLIP_SAMPLES:
        return f"clip_samples {samples} outside 1..{MAX_CLIP_SAMPLES}"
    if not isinstance(hparams["frontend_optimizer"], dict):
        return "frontend_optimizer must be a dict"
    try:
        for part in ("frontend", "model", "optimizer", "spec_augment", "scheduler"):
            if hparams[part] is not None or part in ("frontend", "model", "optimizer"):
                check(hparams[part], part)
    except ConfigError as error:
        return str(error)
    return None


def _weights_problem(state_dict: dict[Any, Any]) -> str | None:
    """The first weight of a state dict that is not a tensor or holds NaN or infinite values."""
    for key, value in state_dict.items():
        if not isinstance(value, torch.Tensor):
            return f"its weights state_dict[{key!r}] are a {type(value).__name__}, not a tensor"
        if value.is_floating_point() or value.is_complex():
            bad = value.numel() - int(torch.isfinite(value).sum())
            if bad:
                return f"its weights state_dict[{key!r}] hold {bad} NaN or infinite values"
    return None


def _size_problem(hparams: dict[str, Any]) -> str | None:
    """What would make a checkpoint's model take more memory than any real keyword spotter, or
    None; read before anything big is allocated. Each setting may lie within its own bounds
    while their product does not, so the sizes are computed from all of them:

    * the frontend's size settings (``FRONTEND_SIZE_KEYS``) are at most ``MAX_N_FFT`` before it
      is built; its framing layers (``STFT``, LEAF's pooling: a ``num_frames`` and an ``n_fft``)
      cut a clip of ``clip_samples`` into frames of ``n_fft`` samples with ``n_fft // 2 + 1``
      complex bins, and its filterbank gives ``n_mels`` values a frame: frames x the widest of
      those, in float32, at most ``MAX_CLIP_TENSOR_BYTES``, before the frontend is run;
    * the head is built on the ``meta`` device (shapes, no storage) for the frontend's features:
      at most ``MAX_PARAMETERS`` parameters, and its layers' outputs for one clip each at most
      ``MAX_CLIP_TENSOR_BYTES``.

    A head that does not take the features is left to ``KWSModule``, which says so."""
    frontend_config, model_config = hparams["frontend"], hparams["model"]
    samples = hparams["clip_samples"]
    for key in FRONTEND_SIZE_KEYS:
        value = frontend_config.get(key)
        if isinstance(value, int) and value > MAX_N_FFT:
            return f"frontend.{key}={value} is above {MAX_N_FFT}"
    target = frontend_config["_target_"]
    try:
        frontend = build(frontend_config, "frontend")
        framing = [m for m in frontend.modules() if hasattr(m, "num_frames")]
        frames = [m.num_frames(samples) for m in framing]
    except (TypeError, ValueError) as error:
        return (
            f"frontend {target} cannot be built for clip_samples={samples} ({_first_line(error)})"
        )
    widths = [m.n_fft + 2 for m in framing]
    widths += [m.n_mels for m in frontend.modules() if isinstance(getattr(m, "n_mels", None), int)]
    largest = 4 * max(frames, default=1) * max(widths, default=1)
    if largest > MAX_CLIP_TENSOR_BYTES:
        layer = framing[frames.index(max(frames))]
        return (
            f"frontend {target} (n_fft={layer.n_fft}, hop_length={layer.hop_length}) cuts a clip "
            f"of clip_samples={samples} into {max(frames):,} frames of {max(widths):,} values "
            f"({largest / 2**30:.1f} GiB), more than the {MAX_CLIP_TENSOR_BYTES / 2**20:.0f} MiB "
            "a kws checkpoint may ask for one clip"
        )
    with torch.no_grad():
        n_features, n_frames = frontend(torch.zeros(1, samples)).shape[1:]
    return _head_problem(model_config, len(hparams["class_names"]), n_features, n_frames)


def _head_problem(
    config: dict[str, Any], num_classes: int, n_features: int, n_frames: int
) -> str | None:
    """``_size_problem``'s check of the head, built on the ``meta`` device as ``KWSModule``
    builds it (its sizes set to None filled from the features)."""
    unset = unset_sizes(config, n_features, n_frames)
    arguments = ", ".join(f"{k}={v!r}" for k, v in config.items() if k != "_target_")
    described = f"model {config['_target_']} ({arguments})"
    largest = 0

    def record(layer: nn.Module, inputs: Any, output: Any) -> None:
        nonlocal largest
        if isinstance(output, torch.Tensor):
            largest = max(largest, output.nbytes)

    try:
        with torch.device("meta"):
            head = build(config, "model", num_classes=num_classes, **unset)
        parameters = sum(p.numel() for p in head.parameters())
        if parameters > MAX_PARAMETERS:
            return f"{described} has {parameters:,} parameters, more than {MAX_PARAMETERS:,}"
        for layer in head.modules():
            layer.register_forward_hook(record)
        head.eval()(torch.zeros(1, n_features, n_frames, device="meta"))
    except (TypeError, ValueError, RuntimeError):
        return None  # KWSModule names what does not fit, with the same arguments
    if largest > MAX_CLIP_TENSOR_BYTES:
        return (
            f"{described} makes a {largest / 2**30:.2f} GiB tensor of one clip's "
            f"({n_features}, {n_frames}) features, more than the "
            f"{MAX_CLIP_TENSOR_BYTES / 2**20:.0f} MiB a kws checkpoint may ask for one clip"
        )
    return None


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> KWSModule:
    """Rebuild a trained ``KWSModule`` from a checkpoint file alone, in eval mode.

    No pickled code runs, nothing is written, and only the registered frontends, heads,
    optimisers and schedules of ``kws.registry`` are built, with plain-data arguments.

    Args:
        path: the ``.ckpt`` file.
        map_location: where its tensors go (default ``"cpu"``).

    Raises:
        CheckpointError: see ``read_checkpoint``; also when its weights do not fit its model.
    """
    checkpoint = read_checkpoint(path, map_location)
    hparams = checkpoint["hyper_parameters"]
    try:
        module = KWSModule(**{k: v for k, v in hparams.items() if k != "format"})
        module.load_state_dict(checkpoint["state_dict"])
    except Exception as error:  # noqa: BLE001 - a damaged file can fail in many ways here
        raise CheckpointError(f"{path}: damaged kws checkpoint ({_first_line(error)})") from None
    module.calibration, module.negative_weight = _saved_training_state(path, checkpoint)
    datamodule = checkpoint.get("datamodule_hyper_parameters")
    module.checkpoint_metadata = {
        "epoch": checkpoint.get("epoch"),
        "datamodule": datamodule if isinstance(datamodule, dict) else None,
    }
    return module.eval()


def _saved_training_state(
    path: str | Path, checkpoint: dict[str, Any]
) -> tuple[Calibration | None, float]:
    """A checkpoint's calibrated threshold (None if it holds none) and negative loss weight.

    Raises:
        CheckpointError: either is out of range; the message names the file.
    """
    saved = checkpoint.get("calibration")
    try:
        calibration = None if saved is None else Calibration.from_dict(saved, str(path))
        return calibration, saved_negative_weight(checkpoint)
    except ValueError as error:
        message = str(error) if str(error).startswith(str(path)) else f"{path}: {error}"
        raise CheckpointError(f"{message} (a damaged or tampered kws checkpoint)") from None


def _check_callback_states(
    path: str | Path, checkpoint: dict[str, Any], callbacks: Sequence[pl.Callback]
) -> None:
    """Load each callback's saved state into a copy of it, as Lightning will on resume (by its
    ``state_key``), so a crafted state fails now, named, before any training.

    Raises:
        CheckpointError: the checkpoint's ``callbacks`` are not states by name, or a callback
            refuses its state; the message names the file and the state's key.
    """
    states = checkpoint.get("callbacks")
    if states is None:
        return
    if not isinstance(states, dict):
        raise CheckpointError(
            f"{path}: its callbacks are a {type(states).__name__}, not callback states by name "
            "(a damaged or tampered kws checkpoint)"
        )
    for key, state in states.items():
        if not isinstance(state, dict):
            raise CheckpointError(
                f"{path}: its callbacks[{key!r}] is a {type(state).__name__}, not a callback's "
                "state (a damaged or tampered kws checkpoint)"
            )
    for callback in callbacks:
        key = callback.state_key
        if not states.get(key):  # Lightning loads only a non-empty state
            continue
        try:
            copy.deepcopy(callback).load_state_dict(copy.deepcopy(states[key]))
        except Exception as error:  # noqa: BLE001 - a crafted state can fail in many ways
            raise CheckpointError(
                f"{path}: its callbacks[{key!r}] is refused ({_first_line(error)}); a damaged or "
                "tampered kws checkpoint"
            ) from None


def saved_datamodule(ckpt_path: str, saved: dict[str, Any]) -> Any:
    """The data a checkpoint was trained on, as it is on disk now. The checkpoint's settings are
    hostile input: they are built through the registry (a registered DataModule, its arguments
    as plain data), with absolute data paths only, the cache in its default place beside the
    data (a saved ``cache_dir`` is ignored), and nothing downloaded or generated.

    Args:
        ckpt_path: the checkpoint, for messages.
        saved: its ``datamodule_hyper_parameters``.

    Returns:
        The DataModule, not yet set up.

    Raises:
        CheckpointError: a data path is relative, or the settings name no registered DataModule
            or do not fit its arguments; the message names the checkpoint.
    """
    settings = {k: v for k, v in saved.items() if k != "cache_dir"}  # default: beside root

    def unusable(error: Exception) -> CheckpointError:
        return CheckpointError(
            f"{ckpt_path}: its data settings cannot be used ({error}); pass data=... to evaluate it"
        )

    try:
        source = check(settings, "data")[0]
    except ConfigError as error:
        raise unusable(error) from None
    paths: dict[str, Any] = {}
    for key in source.PATH_KEYS:  # the data source names its own path settings
        value = saved.get(key)
        if isinstance(value, list):
            paths |= {f"{key}[{i}]": item for i, item in enumerate(value)}
        else:
            paths[key] = value
    relative = [k for k, p in paths.items() if p and not os.path.isabs(str(p))]
    if relative:
        raise CheckpointError(
            f"{ckpt_path}: its data.{relative[0]} is not an absolute path; pass data=... to "
            "evaluate it"
        )
    try:
        return build(settings, "data", **source.OFFLINE)  # nothing downloaded or generated
    except (ConfigError, TypeError, ValueError) as error:  # ValueError: a retired setting, say
        raise unusable(error) from None


def check_resume(
    path: str | Path,
    module: KWSModule,
    datamodule: Any = None,
    callbacks: Sequence[pl.Callback] = (),
) -> None:
    """Refuse to resume training ``module`` from a checkpoint of another model, class list or
    data set, or one whose saved training state is damaged.

    Args:
        path: the checkpoint to resume from.
        module: the freshly configured module the run would continue.
        datamodule: the configured DataModule; its hyper-parameters named by its
            ``RESUME_KEYS`` must equal the checkpoint's (another data set, protocol or split
            would change what the best score is compared against). Default None: not checked.
        callbacks: the run's callbacks; each must take its state saved in the checkpoint (a
            copy of each is loaded; the callbacks themselves are left as they are). Default
            none.

    Raises:
        CheckpointError: see ``read_checkpoint``; the calibration, negative weight or a
            callback's state is refused (the message names the file and the state's key); or
            the checkpoint's class names (in order), frontend, head, clip length or data differ
            from the configured run's: the message lists each.
    """
    checkpoint = read_checkpoint(path)
    _saved_training_state(path, checkpoint)
    _check_callback_states(path, checkpoint, callbacks)
    saved, ours = checkpoint["hyper_parameters"], module.hparams
    differences = [
        f"{key}: checkpoint {saved[key]!r}, config {ours[key]!r}"
        for key in ("class_names", "frontend", "model", "clip_samples")
        if saved[key] != ours[key]
    ]
    saved_data = checkpoint.get("datamodule_hyper_parameters")
    if datamodule is not None and isinstance(saved_data, dict):
        ours_data = dict(datamodule.hparams)
        differences += [
            f"data.{key}: checkpoint {saved_data.get(key)!r}, config {ours_data.get(key)!r}"
            for key in type(datamodule).RESUME_KEYS
            if saved_data.get(key) != ours_data.get(key)
        ]
    if differences:
        raise CheckpointError(
            f"{path}: cannot resume, the run is configured differently ("
            + "; ".join(differences)
            + ")"
        )
