"""The multi-scale PatchGAN discriminator of pix2pixHD (Wang et al. CVPR 2018, §3.2 "Multi-scale discriminators").

``num_D`` discriminators of identical architecture judge the same input at scales 1, 1/2, 1/4, ... (3x3 average
pooling with stride 2, padding 1, ``count_include_pad=False``). Each is an ``n_layers``-layer PatchGAN with 4x4
kernels, padding 2 (the official ``ceil((4 - 1) / 2)``), biases everywhere, filters doubling up to 512.

The parameter layout is the official ``networks.MultiscaleDiscriminator``'s, so its state dicts load key for key:
with ``get_interm_feat`` (the official ``getIntermFeat``, on whenever the feature-matching loss is used) each layer is
its own ``nn.Sequential`` named ``scale<i>_layer<j>`` (j = 0 .. n_layers + 1); without it each scale is one
``nn.Sequential`` named ``layer<i>``. Scale index ``num_D - 1`` sees the full-resolution input (the official order).

The output is a list over scales (full resolution first) of lists of features: every layer's output with
``get_interm_feat`` (the last one is the patch logits), else just the logits.

Shared by pix2pixHD and SPADE (whose discriminator is this one with spectral norm on the convolutions).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from .conv import get_norm_layer


def patch_layers(
    input_nc: int,
    ndf: int = 64,
    n_layers: int = 3,
    norm_layer: Callable[[int], nn.Module] | None = None,
    use_sigmoid: bool = False,
    conv: Callable[..., nn.Module] = nn.Conv2d,
) -> list[list[nn.Module]]:
    """The layers of one official pix2pixHD ``NLayerDiscriminator``, grouped as the official ``sequence``.

    Args:
        input_nc: input channels.
        ndf: filters of the first layer (then doubled per layer, at most 512).
        n_layers: stride-2 layers (the official ``n_layers_D``: 3).
        norm_layer: a factory ``f(channels)``; ``None``: instance norm without affine parameters (official).
        use_sigmoid: append a sigmoid group (the official ``--no_lsgan``).
        conv: the convolution class (SPADE wraps it in spectral norm).

    Returns:
        ``n_layers + 2`` groups (``+ 1`` with the sigmoid), each a list of modules.
    """
    norm_layer = norm_layer or get_norm_layer("instance")
    kw, padw = 4, 2  # the official ceil((kw - 1) / 2)
    groups: list[list[nn.Module]] = [[conv(input_nc, ndf, kw, stride=2, padding=padw), nn.LeakyReLU(0.2, True)]]
    nf = ndf
    for _ in range(1, n_layers):
        nf_prev, nf = nf, min(nf * 2, 512)
        groups.append([conv(nf_prev, nf, kw, stride=2, padding=padw), norm_layer(nf), nn.LeakyReLU(0.2, True)])
    nf_prev, nf = nf, min(nf * 2, 512)
    groups.append([conv(nf_prev, nf, kw, stride=1, padding=padw), norm_layer(nf), nn.LeakyReLU(0.2, True)])
    groups.append([conv(nf, 1, kw, stride=1, padding=padw)])
    if use_sigmoid:
        groups.append([nn.Sigmoid()])
    return groups


class MultiscaleDiscriminator(nn.Module):
    """``num_D`` PatchGAN discriminators on an image pyramid (official ``MultiscaleDiscriminator``).

    Args:
        input_nc: input channels (pix2pixHD: label one-hot + edge map + image).
        ndf: filters of each discriminator's first layer (official ``--ndf``: 64).
        n_layers: stride-2 layers per discriminator (official ``--n_layers_D``: 3).
        norm: ``instance`` (official default), ``batch``, ``syncbatch`` or ``none``; or a factory ``f(channels)``.
        use_sigmoid: a final sigmoid (official ``--no_lsgan``; the zoo's losses take logits, so off by default).
        num_D: number of scales (official ``--num_D``: 2; the 1024p label2city training uses 3).
        get_interm_feat: return every layer's features (official ``getIntermFeat``; needed by feature matching).
        conv: the convolution class of every layer.
    """

    def __init__(
        self,
        input_nc: int,
        ndf: int = 64,
        n_layers: int = 3,
        norm: str | Callable[[int], nn.Module] = "instance",
        use_sigmoid: bool = False,
        num_D: int = 3,
        get_interm_feat: bool = False,
        conv: Callable[..., nn.Module] = nn.Conv2d,
    ) -> None:
        super().__init__()
        self.num_D = num_D
        self.n_layers = n_layers
        self.get_interm_feat = get_interm_feat
        norm_layer = get_norm_layer(norm) if isinstance(norm, str) else norm
        for i in range(num_D):
            groups = patch_layers(input_nc, ndf, n_layers, norm_layer, use_sigmoid, conv)
            if get_interm_feat:
                # The official class copies only the first n_layers + 2 groups: its sigmoid is dropped there.
                groups = groups[: n_layers + 2]
            self.n_groups = len(groups)
            if get_interm_feat:
                for j, group in enumerate(groups):
                    self.add_module(f"scale{i}_layer{j}", nn.Sequential(*group))
            else:
                self.add_module(f"layer{i}", nn.Sequential(*[m for g in groups for m in g]))
        self.downsample = nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False)

    def scale(self, i: int) -> list[nn.Module]:
        """The layer groups of the discriminator of scale ``i`` (``num_D - 1``: the full-resolution one)."""
        if self.get_interm_feat:
            return [getattr(self, f"scale{i}_layer{j}") for j in range(self.n_groups)]
        return [getattr(self, f"layer{i}")]

    def forward(self, x: torch.Tensor) -> list[list[torch.Tensor]]:
        """Features of every scale, full resolution first: ``out[s][-1]`` is scale ``s``'s patch output."""
        out = []
        for s in range(self.num_D):
            feats, h = [], x
            for layer in self.scale(self.num_D - 1 - s):
                h = layer(h)
                feats.append(h)
            out.append(feats)
            if s != self.num_D - 1:
                x = self.downsample(x)
        return out


__all__ = ["MultiscaleDiscriminator", "patch_layers"]
