"""One LightningModule per paper, all derived from :class:`TranslationGAN`."""

from .base import TranslationGAN
from .cyclegan import CycleGAN
from .pix2pix import Pix2Pix

__all__ = ["CycleGAN", "Pix2Pix", "TranslationGAN"]
