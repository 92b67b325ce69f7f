"""U-Net generator of pix2pix (Isola et al. 2017, §3.2.1 and appendix 6.1.1).

Layer for layer the official ``UnetGenerator``/``UnetSkipConnectionBlock`` (same module nesting, so official
state-dict keys map one to one): a recursive encoder-decoder whose block ``i`` concatenates its input with the
output of block ``i+1``. Encoder: Ck = Conv(4x4, stride 2) - norm - LeakyReLU(0.2); decoder: ReLU -
ConvTranspose(4x4, stride 2) - norm, with dropout 0.5 in the ``num_downs - 5`` innermost decoder blocks.
"""

from __future__ import annotations

import torch
from torch import nn

from .conv import conv_bias, get_norm_layer


class UnetSkipConnectionBlock(nn.Module):
    """One level of the U-Net: ``x -> [x, up(sub(down(x)))]``.

    Args:
        outer_nc: channels of this block's input (and of its skip half of the output).
        inner_nc: channels after the down-convolution.
        input_nc: input channels if different from ``outer_nc`` (outermost block only).
        submodule: the next, deeper block.
        outermost / innermost: the first and last level.
        norm: normalization name.
        use_dropout: dropout 0.5 after the up-convolution.
    """

    def __init__(
        self,
        outer_nc: int,
        inner_nc: int,
        input_nc: int | None = None,
        submodule: nn.Module | None = None,
        outermost: bool = False,
        innermost: bool = False,
        norm: str = "batch",
        use_dropout: bool = False,
    ) -> None:
        super().__init__()
        self.outermost = outermost
        norm_layer = get_norm_layer(norm)
        use_bias = conv_bias(norm)
        input_nc = outer_nc if input_nc is None else input_nc
        downconv = nn.Conv2d(input_nc, inner_nc, kernel_size=4, stride=2, padding=1, bias=use_bias)
        downrelu = nn.LeakyReLU(0.2)
        uprelu = nn.ReLU()
        if outermost:
            upconv = nn.ConvTranspose2d(inner_nc * 2, outer_nc, kernel_size=4, stride=2, padding=1)
            model = [downconv, submodule, uprelu, upconv, nn.Tanh()]
        elif innermost:
            upconv = nn.ConvTranspose2d(inner_nc, outer_nc, kernel_size=4, stride=2, padding=1, bias=use_bias)
            model = [downrelu, downconv, uprelu, upconv, norm_layer(outer_nc)]
        else:
            upconv = nn.ConvTranspose2d(inner_nc * 2, outer_nc, kernel_size=4, stride=2, padding=1, bias=use_bias)
            model = [downrelu, downconv, norm_layer(inner_nc), submodule, uprelu, upconv, norm_layer(outer_nc)]
            if use_dropout:
                model.append(nn.Dropout(0.5))
        self.model = nn.Sequential(*model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.outermost:
            return self.model(x)
        # The official block's first LeakyReLU is in-place, so its skip actually carries LeakyReLU(x). The parent
        # feeds the concatenation straight into a ReLU, and ReLU(LeakyReLU(x)) = ReLU(x), so passing x is the
        # same function without in-place ops (which break autograd under some fast paths).
        return torch.cat([x, self.model(x)], dim=1)


class UnetGenerator(nn.Module):
    """U-Net generator with ``num_downs`` down-samplings (``num_downs=8``: unet_256, ``7``: unet_128).

    Args:
        input_nc: input channels.
        output_nc: output channels.
        num_downs: number of down-samplings; images must be divisible by ``2**num_downs``.
        ngf: filters in the outermost conv layer.
        norm: normalization name.
        use_dropout: dropout in the inner decoder blocks (pix2pix uses it, as its noise source).
    """

    def __init__(
        self,
        input_nc: int = 3,
        output_nc: int = 3,
        num_downs: int = 8,
        ngf: int = 64,
        norm: str = "batch",
        use_dropout: bool = False,
    ) -> None:
        super().__init__()
        if num_downs < 5:
            raise ValueError(f"num_downs must be >= 5 (the U-Net has 5 fixed levels), got {num_downs}")
        self.num_downs = num_downs
        block = UnetSkipConnectionBlock(ngf * 8, ngf * 8, norm=norm, innermost=True)
        for _ in range(num_downs - 5):
            block = UnetSkipConnectionBlock(ngf * 8, ngf * 8, submodule=block, norm=norm, use_dropout=use_dropout)
        block = UnetSkipConnectionBlock(ngf * 4, ngf * 8, submodule=block, norm=norm)
        block = UnetSkipConnectionBlock(ngf * 2, ngf * 4, submodule=block, norm=norm)
        block = UnetSkipConnectionBlock(ngf, ngf * 2, submodule=block, norm=norm)
        self.model = UnetSkipConnectionBlock(
            output_nc, ngf, input_nc=input_nc, submodule=block, outermost=True, norm=norm
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        factor = 2**self.num_downs
        if x.shape[-1] % factor or x.shape[-2] % factor:
            raise ValueError(
                f"UnetGenerator with num_downs={self.num_downs} needs height and width divisible by {factor}, "
                f"got {tuple(x.shape[-2:])}"
            )
        return self.model(x)

    @property
    def size_multiple(self) -> int:
        """Height and width must be multiples of this (every level halves the image)."""
        return 2**self.num_downs
