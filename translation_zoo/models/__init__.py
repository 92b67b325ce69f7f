"""One LightningModule per paper, all derived from :class:`TranslationGAN`."""

from .alae import ALAE
from .base import Condition, ConditionError, InferenceSpec, TranslationGAN
from .bicyclegan import BicycleGAN
from .consingan import ConSinGAN
from .cut import CUT
from .cvaegan import CVAEGAN
from .cyclegan import CycleGAN
from .dcgan import DCGAN
from .discogan import DiscoGAN
from .drit import DRIT
from .dualgan import DualGAN
from .fader import FaderNetworks
from .gan import GAN
from .genegan import GeneGAN
from .icgan import IcGAN
from .munit import MUNIT
from .pix2pix import Pix2Pix
from .pix2pixhd import Pix2PixHD
from .singan import SinGAN
from .spade import SPADE
from .stargan import StarGAN
from .starganv2 import StarGANv2
from .stylegan2 import StyleGAN2
from .ugatit import UGATIT
from .unit import UNIT
from .vae import VAE
from .vaegan import VAEGAN

__all__ = [
    "ALAE",
    "UGATIT",
    "UNIT",
    "VAE",
    "VAEGAN",
    "BicycleGAN",
    "CUT",
    "CVAEGAN",
    "ConSinGAN",
    "DCGAN",
    "DRIT",
    "Condition",
    "ConditionError",
    "CycleGAN",
    "DiscoGAN",
    "DualGAN",
    "FaderNetworks",
    "GAN",
    "GeneGAN",
    "IcGAN",
    "MUNIT",
    "InferenceSpec",
    "Pix2Pix",
    "Pix2PixHD",
    "SPADE",
    "SinGAN",
    "StarGAN",
    "StarGANv2",
    "StyleGAN2",
    "TranslationGAN",
]
