"""One LightningModule per paper, all derived from :class:`TranslationGAN`."""

from .base import Condition, ConditionError, InferenceSpec, TranslationGAN
from .bicyclegan import BicycleGAN
from .cut import CUT
from .cyclegan import CycleGAN
from .discogan import DiscoGAN
from .dualgan import DualGAN
from .pix2pix import Pix2Pix
from .ugatit import UGATIT

__all__ = [
    "UGATIT",
    "BicycleGAN",
    "CUT",
    "Condition",
    "ConditionError",
    "CycleGAN",
    "DiscoGAN",
    "DualGAN",
    "InferenceSpec",
    "Pix2Pix",
    "TranslationGAN",
]
