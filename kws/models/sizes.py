"""The size settings every head shares, checked before any layer is built."""

from kws.checks import check_number

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
