"""Blocks of the single-image GANs (SinGAN, ConSinGAN) that both papers' official code shares unchanged.

- :func:`imresize`: the official bicubic resizer with antialiasing (A. Shocher's ``imresize``, MATLAB's rules; the
  same file in tamarott/SinGAN and tohinz/ConSinGAN), applied to the image quantised to uint8 as both official codes
  do, as dense matrices on the device; :func:`quantize`, :func:`image_to_model_range`.
- :class:`Pyramid`: the sizes of an image pyramid (each paper computes its own, see their ``pyramid`` functions).
- :func:`weights_init` (the official init of both) and :func:`gradient_penalty` (the official WGAN-GP term of both).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn


@dataclass(frozen=True)
class Pyramid:
    """The official pyramid of an image (``functions.adjust_scales2image`` + ``creat_reals_pyramid``).

    Attributes:
        scale1: the factor of the first resize (longer side to at most ``max_size``; 1 if already smaller).
        scale_factor: the factor between consecutive scales actually used (re-derived from ``min_size``).
        sizes: (height, width) of every scale, coarsest first; the last is the resized image's size.
    """

    scale1: float
    scale_factor: float
    sizes: tuple[tuple[int, int], ...]

    @property
    def num_scales(self) -> int:
        return len(self.sizes)


def resized_length(length: int, scale: float) -> int:
    """Output length of the official resizer for a scale factor (``ceil(length · scale)``; unchanged at 1)."""
    return length if scale == 1.0 else math.ceil(length * scale)


def _cubic(x: np.ndarray) -> np.ndarray:
    ax = np.abs(x)
    ax2, ax3 = ax**2, ax**3
    return (1.5 * ax3 - 2.5 * ax2 + 1) * (ax <= 1) + (-0.5 * ax3 + 2.5 * ax2 - 4 * ax + 2) * ((1 < ax) & (ax <= 2))


@functools.lru_cache(maxsize=512)
def _resize_matrix(in_length: int, out_length: int, scale: float, antialias: bool) -> torch.Tensor:
    """(out_length, in_length) float64 weights of the official cubic resizer along one dimension.

    The official resizer (``imresize.contributions``) weights ``ceil(4 / scale) + 2`` input pixels per output pixel
    (the kernel stretched by ``1 / scale`` when antialiasing), normalises the weights, reflects positions past the
    far border, and gives the positions before the near border weight 0 (it casts them to unsigned integers, far
    from every pixel, where the cubic kernel is 0).
    """
    kernel_width = 4.0
    if antialias:
        kernel_width *= 1.0 / scale

        def kernel(a: np.ndarray) -> np.ndarray:
            return scale * _cubic(scale * a)
    else:
        kernel = _cubic
    out = np.arange(1, out_length + 1)
    match = 1.0 * out / scale + 0.5 * (1 - 1.0 / scale)
    left = np.floor(match - kernel_width / 2)
    positions = left[:, None] + np.arange(np.ceil(kernel_width) + 2) - 1  # (out, taps), may be negative
    weights = kernel(1.0 * match[:, None] - positions - 1)
    weights[positions < 0] = 0.0
    sums = weights.sum(1)
    sums[sums == 0] = 1.0
    weights = 1.0 * weights / sums[:, None]
    mirror = np.concatenate([np.arange(in_length), np.arange(in_length - 1, -1, -1)])
    index = mirror[np.mod(np.maximum(positions, 0).astype(np.int64), 2 * in_length)]
    matrix = np.zeros((out_length, in_length))
    np.add.at(matrix, (np.repeat(np.arange(out_length), positions.shape[1]), index.ravel()), weights.ravel())
    return torch.from_numpy(matrix)


_DEVICE_MATRICES: dict[tuple, torch.Tensor] = {}


def _matrix_on(device: torch.device, *key: Any) -> torch.Tensor:
    if device.type == "cpu":
        return _resize_matrix(*key)
    found = _DEVICE_MATRICES.get((device, *key))
    if found is None:
        if len(_DEVICE_MATRICES) > 512:
            _DEVICE_MATRICES.clear()
        found = _DEVICE_MATRICES[(device, *key)] = _resize_matrix(*key).to(device)
    return found


def quantize(x: torch.Tensor) -> torch.Tensor:
    """Images in [-1, 1] -> the official uint8 levels 0..255 (float32; ``functions.torch2uint8``: truncation)."""
    return torch.floor(((x.float() + 1) / 2).clamp(0, 1) * 255)


def imresize(x: torch.Tensor, scale: float | None = None, size: tuple[int, int] | None = None) -> torch.Tensor:
    """The official ``imresize(x, scale)`` / ``imresize_to_shape(x, size)`` of images (N, C, H, W) in [-1, 1].

    The images are quantised to uint8 (truncated), resized with the antialiased bicubic kernel of the official
    resizer (antialiasing when the height shrinks), divided by 255 and clipped back to [-1, 1], as the official code
    does through numpy. The output size is ``ceil(side · scale)``, or ``size``. Float32 out; no gradient.
    """
    h, w = int(x.shape[-2]), int(x.shape[-1])  # ints, also while tracing (the matrices are constants)
    if size is None:
        if scale is None:
            raise ValueError("give scale or size")
        scales = (float(scale), float(scale))
        size = (resized_length(h, scale), resized_length(w, scale))
    else:
        scales = (1.0 * size[0] / h, 1.0 * size[1] / w)
    antialias = scales[0] < 1
    with torch.no_grad(), torch.autocast(x.device.type, enabled=False):
        u = quantize(x).double()
        # Dimension by dimension, the smaller factor first (numpy's argsort of the official code).
        for dim in sorted((0, 1), key=lambda d: scales[d]):
            if scales[dim] == 1.0:
                continue
            m = _matrix_on(u.device, (h, w)[dim], int(size[dim]), scales[dim], antialias)
            u = torch.matmul(m, u) if dim == 0 else torch.matmul(u, m.t())
        y = (u / 255).float()
        return ((y - 0.5) * 2).clamp(-1, 1)


def image_to_model_range(image: torch.Tensor) -> torch.Tensor:
    """uint8 (or 0..255 integer-valued) images -> [-1, 1] exactly as the official ``np2torch`` (float64 / 255)."""
    return ((image.double() / 255).float() - 0.5).mul(2).clamp(-1, 1)


def weights_init(m: nn.Module) -> None:
    """The official init: conv weights ~ N(0, 0.02) (biases untouched), BatchNorm weights ~ N(1, 0.02), biases 0."""
    name = type(m).__name__
    if "Conv2d" in name:
        m.weight.data.normal_(0.0, 0.02)
    elif "Norm" in name:
        m.weight.data.normal_(1.0, 0.02)
        m.bias.data.fill_(0)


def gradient_penalty(disc: nn.Module, real: torch.Tensor, fake: torch.Tensor, weight: float) -> torch.Tensor:
    """The official WGAN-GP term: ``weight · mean_pixels((||∇_x̂ D(x̂)||_channels - 1)²)`` at x̂ = a·real + (1-a)·fake.

    One uniform ``a`` per call, drawn on the CPU as the official ``torch.rand(1, 1)``; the norm is over the
    channels at each pixel (``gradients.norm(2, dim=1)``); no gradient reaches the generator.
    """
    a = torch.rand(1, 1).to(real.device, real.dtype).expand(real.size())
    x = (a * real + (1 - a) * fake.detach()).requires_grad_(True)
    out = disc(x)
    (grad,) = torch.autograd.grad(out, x, torch.ones_like(out), create_graph=True)
    return ((grad.norm(2, dim=1) - 1) ** 2).mean() * weight


__all__ = ["Pyramid", "gradient_penalty", "image_to_model_range", "imresize", "quantize", "weights_init"]
