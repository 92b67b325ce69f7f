"""GAN objectives, regularizers and the image pool, usable from any paper."""

from .adversarial import GAN_MODES, GANLoss
from .feature_matching import feature_matching_loss
from .image_pool import ImagePool
from .perceptual import VGGLoss, VGGWeightsError, vgg19_features
from .regularizers import gradient_penalty, r1_penalty

__all__ = [
    "GAN_MODES",
    "GANLoss",
    "ImagePool",
    "VGGLoss",
    "VGGWeightsError",
    "feature_matching_loss",
    "gradient_penalty",
    "r1_penalty",
    "vgg19_features",
]
