"""The size settings every head shares, checked before any layer is built."""

from collections.abc import Mapping
from typing import Any

from kws_runtime.checks import check_number

#: Where a head's settings sit in the configs (``conf/model/*.yaml``): every error about a
#: setting names it as ``model.<argument>``.
KEY = "model."
#: The largest feature count, frame count or class count a head takes: far above what a frontend
#: gives (``n_fft`` 8192 gives 4,097 bins, a 60 s clip at hop 160 6,001 frames), low enough that
#: a typo of a few digits is refused before memory is asked for.
MAX_SIZE = 100_000


def check_sizes(num_classes: int, **sizes: int) -> None:
    """Reject head sizes that are not whole numbers in ``[1, MAX_SIZE]``.

    Args:
        num_classes: the logits (the data's classes, not a config setting).
        **sizes: the head's size settings by name (``n_features=40``), each named in an error
            as ``model.<name>``.

    Raises:
        ValueError: a size out of range, naming its key.
    """
    for name, value in sizes.items():
        check_number(KEY + name, value, 1, MAX_SIZE, integer=True)
    check_number("num_classes", num_classes, 1, MAX_SIZE, integer=True)


def unset_sizes(config: Mapping[str, Any], n_features: int, n_frames: int) -> dict[str, int]:
    """The size settings a head config leaves ``None``, filled from its input: ``n_features``
    from the features per frame, ``frames`` (a linear head's input) and ``window`` (a causal
    BC-ResNet's pool) from a clip's frames.

    Args:
        config: the head's config (``conf/model/*.yaml``).
        n_features: features per frame of one clip through the frontend.
        n_frames: its frames.

    Returns:
        ``{name: size}`` for each of those settings present in ``config`` as ``None``.
    """
    sizes = {"n_features": n_features, "frames": n_frames, "window": n_frames}
    return {k: v for k, v in sizes.items() if k in config and config[k] is None}
