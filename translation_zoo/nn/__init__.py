"""Shared building blocks: generators, discriminators, norm factory and initialisation."""

from .conv import conv_bias, get_activation, get_norm_layer
from .discriminators import PatchDiscriminator, PixelDiscriminator
from .ema import half_life_beta, moving_average_copy, update_moving_average
from .factory import define_discriminator, define_generator
from .init import init_weights
from .label_maps import get_edges, label_colors, label_ids, one_hot
from .multiscale import MultiscaleDiscriminator, patch_layers
from .resnet import ResnetBlock, ResnetGenerator
from .unet import UnetGenerator, UnetSkipConnectionBlock

__all__ = [
    "MultiscaleDiscriminator",
    "PatchDiscriminator",
    "PixelDiscriminator",
    "ResnetBlock",
    "ResnetGenerator",
    "UnetGenerator",
    "UnetSkipConnectionBlock",
    "conv_bias",
    "define_discriminator",
    "define_generator",
    "get_activation",
    "get_edges",
    "get_norm_layer",
    "half_life_beta",
    "init_weights",
    "label_colors",
    "label_ids",
    "moving_average_copy",
    "one_hot",
    "patch_layers",
    "update_moving_average",
]
