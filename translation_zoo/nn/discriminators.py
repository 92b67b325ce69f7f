"""PatchGAN discriminators of pix2pix/CycleGAN (Isola et al. 2017 §3.2.2; appendix 6.1.2).

Layer for layer the official ``NLayerDiscriminator`` (``model.<i>``) and ``PixelDiscriminator`` (``net.<i>``).
With ``n_layers=3`` the receptive field of each output is 70x70 ("basic"); ``n_layers=0`` here means the 1x1
PixelGAN. The output is a map of logits, one per patch.
"""

from __future__ import annotations

import torch
from torch import nn

from .conv import conv_bias, get_norm_layer


class PatchDiscriminator(nn.Module):
    """N-layer PatchGAN: C64 - C128 - C256 - C512(stride 1) - conv to 1 channel, 4x4 kernels.

    Args:
        input_nc: input channels (pix2pix: source + target channels, the conditional D).
        ndf: filters in the first layer.
        n_layers: stride-2 layers (3 = the 70x70 PatchGAN).
        norm: normalization name; the first layer never has one.
    """

    def __init__(self, input_nc: int = 3, ndf: int = 64, n_layers: int = 3, norm: str = "batch") -> None:
        super().__init__()
        if n_layers < 1:
            raise ValueError(f"n_layers must be >= 1 (use PixelDiscriminator for a 1x1 PatchGAN), got {n_layers}")
        norm_layer = get_norm_layer(norm)
        use_bias = conv_bias(norm)
        kw, padw = 4, 1
        seq: list[nn.Module] = [nn.Conv2d(input_nc, ndf, kw, stride=2, padding=padw), nn.LeakyReLU(0.2)]
        nf_mult = 1
        for n in range(1, n_layers):
            nf_prev, nf_mult = nf_mult, min(2**n, 8)
            seq += [
                nn.Conv2d(ndf * nf_prev, ndf * nf_mult, kw, stride=2, padding=padw, bias=use_bias),
                norm_layer(ndf * nf_mult),
                nn.LeakyReLU(0.2),
            ]
        nf_prev, nf_mult = nf_mult, min(2**n_layers, 8)
        seq += [
            nn.Conv2d(ndf * nf_prev, ndf * nf_mult, kw, stride=1, padding=padw, bias=use_bias),
            norm_layer(ndf * nf_mult),
            nn.LeakyReLU(0.2),
            nn.Conv2d(ndf * nf_mult, 1, kw, stride=1, padding=padw),
        ]
        self.model = nn.Sequential(*seq)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class PixelDiscriminator(nn.Module):
    """1x1 PatchGAN ("pixel" D): judges each pixel's colour statistics only."""

    def __init__(self, input_nc: int = 3, ndf: int = 64, norm: str = "batch") -> None:
        super().__init__()
        norm_layer = get_norm_layer(norm)
        use_bias = conv_bias(norm)
        self.net = nn.Sequential(
            nn.Conv2d(input_nc, ndf, 1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(ndf, ndf * 2, 1, bias=use_bias),
            norm_layer(ndf * 2),
            nn.LeakyReLU(0.2),
            nn.Conv2d(ndf * 2, 1, 1, bias=use_bias),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)
