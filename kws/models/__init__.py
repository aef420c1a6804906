"""Keyword-spotting heads and spectrogram augmentation (pure torch)."""

from kws.models.bcresnet import BCResNet
from kws.models.linear import LinearClassifier
from kws.models.spec_augment import SpecAugment

__all__ = ["BCResNet", "LinearClassifier", "SpecAugment"]
