"""Speech Commands data: layout, download, audio reading, the protocol, the decoded cache, device
augmentation, the DataModule and the generator.

Kept free of heavy imports so ``python -m kws.data.synthetic`` starts fast; the DataModule lives
in ``kws.data.speech_commands``.
"""

from kws.data.layout import KEYWORDS, SILENCE, UNKNOWN, WORDS

__all__ = ["KEYWORDS", "SILENCE", "UNKNOWN", "WORDS"]
