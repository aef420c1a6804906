"""Keyword-spotting networks in pure torch: the heads, SpecAugment and the whole spotter."""

from kws.models.bcresnet import BCResNet
from kws.models.keyword_spotter import KeywordSpotter
from kws.models.linear import LinearClassifier
from kws.models.spec_augment import SpecAugment

__all__ = ["BCResNet", "KeywordSpotter", "LinearClassifier", "SpecAugment"]
