"""Networks by their official pix2pix/CycleGAN option names (``--netG``, ``--netD``)."""

from __future__ import annotations

import re

from torch import nn

from .discriminators import PatchDiscriminator, PixelDiscriminator
from .resnet import ResnetGenerator
from .unet import UnetGenerator

GENERATORS = ("unet_128", "unet_256", "unet_<num_downs>", "resnet_6blocks", "resnet_9blocks", "resnet_<n>blocks")
DISCRIMINATORS = ("basic", "n_layers", "pixel")


def define_generator(
    netG: str, input_nc: int, output_nc: int, ngf: int = 64, norm: str = "batch", use_dropout: bool = False
) -> nn.Module:
    """Build a generator by name.

    ``unet_128`` / ``unet_256`` are U-Nets with 7 / 8 down-samplings (``unet_<k>d``, e.g. ``unet_5d``, gives any
    depth k); ``resnet_<n>blocks`` is the ResNet generator with n residual blocks.
    """
    named_unets = {"unet_128": 7, "unet_256": 8}
    if netG in named_unets:
        return UnetGenerator(input_nc, output_nc, named_unets[netG], ngf, norm, use_dropout)
    if m := re.fullmatch(r"unet_(\d+)d", netG):
        return UnetGenerator(input_nc, output_nc, int(m.group(1)), ngf, norm, use_dropout)
    if m := re.fullmatch(r"resnet_(\d+)blocks", netG):
        return ResnetGenerator(input_nc, output_nc, ngf, norm, use_dropout, n_blocks=int(m.group(1)))
    raise ValueError(
        f"netG must be one of unet_128, unet_256, unet_<k>d (k >= 5 down-samplings), resnet_<n>blocks; got {netG!r}"
    )


def define_discriminator(
    netD: str, input_nc: int, ndf: int = 64, n_layers_D: int = 3, norm: str = "batch"
) -> nn.Module:
    """Build a discriminator by name: ``basic`` (70x70 PatchGAN), ``n_layers`` (``n_layers_D``) or ``pixel``."""
    if netD == "basic":
        return PatchDiscriminator(input_nc, ndf, 3, norm)
    if netD == "n_layers":
        return PatchDiscriminator(input_nc, ndf, n_layers_D, norm)
    if netD == "pixel":
        return PixelDiscriminator(input_nc, ndf, norm)
    raise ValueError(f"netD must be one of {DISCRIMINATORS}, got {netD!r}")
