"""SIFID, the single-image FID of SinGAN (Shaham, Dekel, Michaeli, ICCV 2019, §3.1), and a patch-shuffle baseline.

SIFID compares the *internal* statistics of two images: the feature vectors at every position of a convolutional
feature map of the real image form one sample, those of a generated image another, and SIFID is the Fréchet
distance between Gaussians fitted to the two (computed with :class:`~translation_zoo.metrics.FrechetDistance`,
float64). The paper takes the map just before the second pooling layer of the FID InceptionV3 (64 channels).

Feature networks, by name (the name goes into reports, so numbers of different spaces are never mixed):

- ``"random_conv"``: a fixed, randomly initialised stem shaped like InceptionV3's first block (three 3x3 convs
  with ReLU, 32-32-64 channels, then a 3x3 max pool of stride 2), weights drawn from a fixed seed, so every install
  computes the same numbers, with no download. Unlike Inception's its first conv has stride 1: the map is at half
  the resolution, so the small images of the quickstart (48 px: 21x21 = 441 positions) still give enough samples
  for a 64x64 covariance. Random convolutional features
  capture local colour and texture statistics well (Ustyuzhaninov et al., "What does it take to generate natural
  textures?", ICLR 2017) but are *not* the paper's feature space: the values are not comparable to published
  SIFIDs. It is the zoo's offline stand-in until the InceptionV3 weights can be supplied.
- any ``nn.Module`` mapping images (N, 3, H, W) in [-1, 1] to maps (N, D, h, w).

:func:`patch_shuffle` makes the trivial baseline of the SinGAN learning test: the image cut into tiles and the
tiles permuted (every patch real, the arrangement random).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from translation_zoo.metrics.distribution import FrechetDistance

SIFID_FEATURES: tuple[str, ...] = ("random_conv",)


class RandomConvFeatures(nn.Module):
    """The ``"random_conv"`` feature map: an InceptionV3-like stem with fixed random weights (see module docstring).

    Args:
        seed: the seed of the weights (part of the feature space's definition).
    """

    name = "random_conv"
    num_features = 64

    def __init__(self, seed: int = 0) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.convs = nn.ModuleList([nn.Conv2d(3, 32, 3), nn.Conv2d(32, 32, 3), nn.Conv2d(32, 64, 3, padding=1)])
        for conv in self.convs:  # He-normal weights, zero biases: activations keep their scale through the ReLUs
            fan_in = conv.in_channels * conv.kernel_size[0] * conv.kernel_size[1]
            conv.weight.data = torch.randn(conv.weight.shape, generator=g) * (2.0 / fan_in) ** 0.5
            conv.bias.data.zero_()
        self.pool = nn.MaxPool2d(3, stride=2)
        self.requires_grad_(False).eval()

    def train(self, mode: bool = True) -> RandomConvFeatures:
        return super().train(False)

    def forward(self, x: Tensor) -> Tensor:
        """Images (N, 1 or 3, H, W) in [-1, 1] -> maps (N, 64, h, w) (h = (H - 7) // 2 + 1)."""
        if x.ndim != 4 or x.shape[1] not in (1, 3):
            raise ValueError(f"Expected images of shape (N, 1 or 3, H, W), got {tuple(x.shape)}.")
        x = x.float().expand(-1, 3, -1, -1)
        for conv in self.convs:
            x = torch.relu(conv(x))
        return self.pool(x)


def build_sifid_features(name: str) -> nn.Module:
    """A SIFID feature network by name (``SIFID_FEATURES``)."""
    if name == "random_conv":
        return RandomConvFeatures()
    raise ValueError(f"unknown SIFID feature network {name!r}; expected one of {SIFID_FEATURES} or an nn.Module")


def _positions(maps: Tensor) -> Tensor:
    """(1, D, h, w) -> (h·w, D) float64: one sample per position."""
    return maps[0].flatten(1).t().double()


@torch.no_grad()
def sifid(real: Tensor, fakes: Tensor, features: str | nn.Module = "random_conv") -> Tensor:
    """SIFID of each image of ``fakes`` against ``real``: (N,) float64, lower is closer; 0 for ``fakes = real``.

    Args:
        real: the real image (1, C, H, W) or (C, H, W) in [-1, 1].
        fakes: generated images (N, C, h, w) in [-1, 1]; their size may differ from the real one's.
        features: a name of ``SIFID_FEATURES`` or a module giving feature maps (N, D, h, w).

    Raises:
        ValueError: a feature map with fewer positions than 2 (the image is too small for the network).
    """
    net = build_sifid_features(features) if isinstance(features, str) else features
    device = next(net.parameters()).device if any(True for _ in net.parameters()) else real.device
    real = (real[None] if real.ndim == 3 else real).to(device)
    real_maps = net(real[:1])
    if real_maps.shape[-2] * real_maps.shape[-1] < 2:
        raise ValueError(f"a {tuple(real.shape[-2:])} image gives a {tuple(real_maps.shape[-2:])} feature map")
    real_positions = _positions(real_maps)
    out = []
    for fake in fakes.to(device):
        metric = FrechetDistance(real_positions.shape[1]).to(device)
        metric.update(real_positions, real=True)
        metric.update(_positions(net(fake[None])), real=False)
        out.append(metric.compute().double().clamp_min(0))
    return torch.stack(out)


def patch_shuffle(image: Tensor, n: int, tiles: int = 4, generator: torch.Generator | None = None) -> Tensor:
    """``n`` versions of ``image`` (1, C, H, W) cut into ``tiles`` x ``tiles`` tiles and randomly permuted.

    H and W are cropped to multiples of ``tiles``. The trivial "generator" that only rearranges real patches:
    a model of the image's internal statistics should beat its SIFID.
    """
    image = image[None] if image.ndim == 3 else image
    c, h, w = image.shape[1], image.shape[-2] // tiles * tiles, image.shape[-1] // tiles * tiles
    th, tw = h // tiles, w // tiles
    blocks = image[0, :, :h, :w].reshape(c, tiles, th, tiles, tw).permute(1, 3, 0, 2, 4).reshape(-1, c, th, tw)
    out = []
    for _ in range(n):
        order = torch.randperm(tiles * tiles, generator=generator)
        grid = blocks[order].reshape(tiles, tiles, c, th, tw).permute(2, 0, 3, 1, 4).reshape(c, h, w)
        out.append(grid)
    return torch.stack(out)


__all__ = ["SIFID_FEATURES", "RandomConvFeatures", "build_sifid_features", "patch_shuffle", "sifid"]
