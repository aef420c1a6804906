"""The settings every kws DataModule shares, and their range checks: each error names the
config key (``data.<key>``)."""

from __future__ import annotations

from collections.abc import Collection

from kws.data.split_protocol import PROTOCOLS
from kws_runtime.checks import check_number

#: The most clips in a batch: 65,536 one-second clips are 2 GiB of int16 audio and 8 GiB of
#: float32 waveforms on the device, past any keyword-spotting run's memory.
MAX_BATCH_SIZE = 65536
#: The most DataLoader worker processes (each a process with its own copy of the loader).
MAX_WORKERS = 1024


def check_common_settings(
    keywords: Collection[str],
    protocol: str,
    batch_size: int,
    eval_batch_size: int | None,
    num_workers: int,
) -> None:
    """Raise ``ValueError`` naming the config key of the first setting every data source shares
    that is out of range.

    Args:
        keywords: the words to spot: at least one, each once.
        protocol: one of ``kws.data.split_protocol.PROTOCOLS``.
        batch_size: a whole number in ``[1, MAX_BATCH_SIZE]``.
        eval_batch_size: a whole number in ``[1, MAX_BATCH_SIZE]``, or None.
        num_workers: a whole number in ``[0, MAX_WORKERS]``.

    Raises:
        ValueError: a setting out of range, naming its config key (``data.batch_size``, ...).
    """
    if protocol not in PROTOCOLS:
        raise ValueError(f"data.protocol must be one of {list(PROTOCOLS)}, got {protocol!r}")
    if not keywords:
        raise ValueError("data.keywords is empty: name at least one word to spot")
    repeated = sorted({word for word in keywords if list(keywords).count(word) > 1})
    if repeated:
        raise ValueError(f"data.keywords names {repeated} more than once: each word is one class")
    check_number("data.batch_size", batch_size, 1, MAX_BATCH_SIZE, integer=True)
    if eval_batch_size is not None:
        check_number("data.eval_batch_size", eval_batch_size, 1, MAX_BATCH_SIZE, integer=True)
    check_number("data.num_workers", num_workers, 0, MAX_WORKERS, integer=True)
