"""One LightningModule per paper, all derived from :class:`TranslationGAN`."""

from .base import Condition, ConditionError, InferenceSpec, TranslationGAN
from .bicyclegan import BicycleGAN
from .cut import CUT
from .cyclegan import CycleGAN
from .dcgan import DCGAN
from .discogan import DiscoGAN
from .dualgan import DualGAN
from .gan import GAN
from .pix2pix import Pix2Pix
from .ugatit import UGATIT
from .vae import VAE

__all__ = [
    "UGATIT",
    "VAE",
    "BicycleGAN",
    "CUT",
    "DCGAN",
    "Condition",
    "ConditionError",
    "CycleGAN",
    "DiscoGAN",
    "DualGAN",
    "GAN",
    "InferenceSpec",
    "Pix2Pix",
    "TranslationGAN",
]
