"""GAN objectives, regularizers and the image pool, usable from any paper."""

from .adversarial import GAN_MODES, GANLoss
from .image_pool import ImagePool
from .regularizers import gradient_penalty, r1_penalty

__all__ = ["GAN_MODES", "GANLoss", "ImagePool", "gradient_penalty", "r1_penalty"]
