"""One LightningModule per paper, all derived from :class:`TranslationGAN`."""

from .base import Condition, InferenceSpec, TranslationGAN
from .cyclegan import CycleGAN
from .pix2pix import Pix2Pix

__all__ = ["Condition", "CycleGAN", "InferenceSpec", "Pix2Pix", "TranslationGAN"]
