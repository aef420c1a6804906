"""Reading kws checkpoints as hostile input, with the data they name, and checking one before a
resume.

No pickled code runs, nothing is written, and only ``kws.training.registry``'s exact names are
built, with plain-data arguments.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path
from typing import Any

import torch

from kws.data.layout import MAX_CLIP_SAMPLES
from kws.streaming.calibration import Calibration
from kws.training.module import CHECKPOINT_FORMAT, HPARAM_KEYS, KWSModule, saved_negative_weight
from kws.training.registry import ConfigError, build, check


class CheckpointError(ValueError):
    """A file that is not a readable kws checkpoint."""


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0] if lines else ''}"


#: The data settings a resumed run must share with its checkpoint: which clips, in which split.
RESUME_DATA_KEYS = ("root", "test_root", "test_set", "protocol", "seed")


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
            the message names the file.
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
    if problem:
        raise CheckpointError(f"{path}: damaged or tampered kws checkpoint: {problem}")
    return checkpoint


def _hparams_problem(hparams: dict[str, Any]) -> str | None:
    """What is wrong with a checkpoint's hyper-parameters, or None; their configs must name
    registered targets with plain-data arguments (``kws.training.registry.check``)."""
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


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> KWSModule:
    """Rebuild a trained ``KWSModule`` from a checkpoint file alone, in eval mode.

    No pickled code runs, nothing is written, and only the registered frontends, heads,
    optimisers and schedules of ``kws.training.registry`` are built, with plain-data arguments.

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
    saved = checkpoint.get("calibration")
    try:
        module.calibration = None if saved is None else Calibration.from_dict(saved, str(path))
        module.negative_weight = saved_negative_weight(checkpoint)
    except ValueError as error:
        message = str(error) if str(error).startswith(str(path)) else f"{path}: {error}"
        raise CheckpointError(f"{message} (a damaged or tampered kws checkpoint)") from None
    datamodule = checkpoint.get("datamodule_hyper_parameters")
    module.checkpoint_metadata = {
        "epoch": checkpoint.get("epoch"),
        "datamodule": datamodule if isinstance(datamodule, dict) else None,
    }
    return module.eval()


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
    paths = {k: saved.get(k) for k in ("root", "test_root", "noise_dir")}
    paths |= {f"negatives[{i}]": p for i, p in enumerate(saved.get("negatives") or [])}
    relative = [k for k, p in paths.items() if p and not os.path.isabs(str(p))]
    if relative:
        raise CheckpointError(
            f"{ckpt_path}: its data.{relative[0]} is not an absolute path; pass data=... to "
            "evaluate it"
        )
    settings = {k: v for k, v in saved.items() if k != "cache_dir"}  # default: beside root
    try:
        offline = check(settings, "data")[0].OFFLINE  # nothing downloaded or generated
        return build(settings, "data", **offline)
    except (ConfigError, TypeError) as error:
        raise CheckpointError(
            f"{ckpt_path}: its data settings cannot be used ({error}); pass data=... to evaluate it"
        ) from None


def check_resume(
    path: str | Path, module: KWSModule, data_settings: dict[str, Any] | None = None
) -> None:
    """Refuse to resume training ``module`` from a checkpoint of another model, class list or
    data set.

    Args:
        path: the checkpoint to resume from.
        module: the freshly configured module the run would continue.
        data_settings: the configured DataModule's hyper-parameters; those of
            ``RESUME_DATA_KEYS`` must equal the checkpoint's (another data set, protocol or
            unknown draw would change what the best score is compared against). Default None:
            not checked.

    Raises:
        CheckpointError: see ``read_checkpoint``; or the checkpoint's class names (in order),
            frontend, head, clip length or data differ from the configured run's: the message
            lists each.
    """
    checkpoint = read_checkpoint(path)
    saved, ours = checkpoint["hyper_parameters"], module.hparams
    differences = [
        f"{key}: checkpoint {saved[key]!r}, config {ours[key]!r}"
        for key in ("class_names", "frontend", "model", "clip_samples")
        if saved[key] != ours[key]
    ]
    saved_data = checkpoint.get("datamodule_hyper_parameters")
    if data_settings is not None and isinstance(saved_data, dict):
        differences += [
            f"data.{key}: checkpoint {saved_data.get(key)!r}, config {data_settings.get(key)!r}"
            for key in RESUME_DATA_KEYS
            if saved_data.get(key) != data_settings.get(key)
        ]
    if differences:
        raise CheckpointError(
            f"{path}: cannot resume, the run is configured differently ("
            + "; ".join(differences)
            + ")"
        )
