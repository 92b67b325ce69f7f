"""One LightningModule per paper, all derived from :class:`TranslationGAN`."""

from .base import Condition, ConditionError, InferenceSpec, TranslationGAN
from .cyclegan import CycleGAN
from .pix2pix import Pix2Pix

__all__ = ["Condition", "ConditionError", "CycleGAN", "InferenceSpec", "Pix2Pix", "TranslationGAN"]
