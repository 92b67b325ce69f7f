"""ResNet generator of CycleGAN (Zhu et al. 2017, appendix 7.2), after Johnson et al. 2016.

Layer for layer the official ``ResnetGenerator``/``ResnetBlock`` (same ``model.<i>`` indices, so official
state-dict keys map one to one): c7s1-ngf, d2ngf, d4ngf, ``n_blocks`` x R4ngf, u2ngf, ungf, c7s1-output_nc, tanh.
"""

from __future__ import annotations

import torch
from torch import nn

from .conv import conv_bias, get_norm_layer

PADDINGS = ("reflect", "replicate", "zero")


def _pad(padding_type: str, size: int) -> tuple[list[nn.Module], int]:
    """Explicit padding layers (reflect/replicate) or the conv's own zero padding."""
    if padding_type == "reflect":
        return [nn.ReflectionPad2d(size)], 0
    if padding_type == "replicate":
        return [nn.ReplicationPad2d(size)], 0
    if padding_type == "zero":
        return [], size
    raise ValueError(f"padding_type must be one of {PADDINGS}, got {padding_type!r}")


class ResnetBlock(nn.Module):
    """Residual block: ``x + conv-norm-relu-[dropout]-conv-norm(x)`` with 3x3 convs."""

    def __init__(self, dim: int, padding_type: str = "reflect", norm: str = "instance", use_dropout: bool = False):
        super().__init__()
        norm_layer = get_norm_layer(norm)
        use_bias = conv_bias(norm)
        block: list[nn.Module] = []
        pad, p = _pad(padding_type, 1)
        block += [*pad, nn.Conv2d(dim, dim, kernel_size=3, padding=p, bias=use_bias), norm_layer(dim), nn.ReLU()]
        if use_dropout:
            block.append(nn.Dropout(0.5))
        pad, p = _pad(padding_type, 1)
        block += [*pad, nn.Conv2d(dim, dim, kernel_size=3, padding=p, bias=use_bias), norm_layer(dim)]
        self.conv_block = nn.Sequential(*block)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv_block(x)


class ResnetGenerator(nn.Module):
    """ResNet generator: 2 stride-2 down-samplings, ``n_blocks`` residual blocks, 2 up-samplings.

    Args:
        input_nc: input channels.
        output_nc: output channels.
        ngf: filters in the first conv layer.
        norm: normalization name (CycleGAN: instance).
        use_dropout: dropout in the residual blocks.
        n_blocks: residual blocks (6 for 128x128 images, 9 for 256x256 in the paper).
        padding_type: ``reflect`` | ``replicate`` | ``zero``.
    """

    #: Two stride-2 convolutions: other sizes run, but come out rounded up to a multiple of 4.
    size_multiple = 4

    def __init__(
        self,
        input_nc: int = 3,
        output_nc: int = 3,
        ngf: int = 64,
        norm: str = "instance",
        use_dropout: bool = False,
        n_blocks: int = 9,
        padding_type: str = "reflect",
    ) -> None:
        super().__init__()
        if n_blocks < 0:
            raise ValueError(f"n_blocks must be >= 0, got {n_blocks}")
        norm_layer = get_norm_layer(norm)
        use_bias = conv_bias(norm)
        # The stem and head always reflect-pad, whatever ``padding_type`` the blocks use (as in the official code).
        model: list[nn.Module] = [
            nn.ReflectionPad2d(3),
            nn.Conv2d(input_nc, ngf, kernel_size=7, padding=0, bias=use_bias),
            norm_layer(ngf),
            nn.ReLU(),
        ]
        n_downsampling = 2
        for i in range(n_downsampling):
            mult = 2**i
            model += [
                nn.Conv2d(ngf * mult, ngf * mult * 2, kernel_size=3, stride=2, padding=1, bias=use_bias),
                norm_layer(ngf * mult * 2),
                nn.ReLU(),
            ]
        mult = 2**n_downsampling
        model += [ResnetBlock(ngf * mult, padding_type, norm, use_dropout) for _ in range(n_blocks)]
        for i in range(n_downsampling):
            mult = 2 ** (n_downsampling - i)
            model += [
                nn.ConvTranspose2d(
                    ngf * mult, ngf * mult // 2, kernel_size=3, stride=2, padding=1, output_padding=1, bias=use_bias
                ),
                norm_layer(ngf * mult // 2),
                nn.ReLU(),
            ]
        model += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, output_nc, kernel_size=7, padding=0), nn.Tanh()]
        self.model = nn.Sequential(*model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)
