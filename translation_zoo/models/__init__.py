"""One LightningModule per paper, all derived from :class:`TranslationGAN`."""

from .alae import ALAE
from .base import Condition, ConditionError, InferenceSpec, TranslationGAN
from .bicyclegan import BicycleGAN
from .cut import CUT
from .cyclegan import CycleGAN
from .dcgan import DCGAN
from .discogan import DiscoGAN
from .dualgan import DualGAN
from .gan import GAN
from .pix2pix import Pix2Pix
from .stylegan2 import StyleGAN2
from .ugatit import UGATIT
from .vae import VAE

__all__ = [
    "ALAE",
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
    "StyleGAN2",
    "TranslationGAN",
]
