"""Semantic label maps as network inputs (pix2pixHD, SPADE): one-hot classes, instance boundary maps, grid colours.

Every function is written without in-place ops or data-dependent shapes, so the generators that use them export.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def get_edges(instance: torch.Tensor) -> torch.Tensor:
    """Boundary map (N, 1, H, W) float of an id map (N, 1, H, W): 1 where a 4-neighbour has another id (the
    official pix2pixHD / SPADE ``get_edges``)."""
    dx = (instance[..., :, 1:] != instance[..., :, :-1]).to(torch.float32)  # (N, 1, H, W-1)
    dy = (instance[..., 1:, :] != instance[..., :-1, :]).to(torch.float32)  # (N, 1, H-1, W)
    horizontal = torch.maximum(F.pad(dx, (1, 0)), F.pad(dx, (0, 1)))
    vertical = torch.maximum(F.pad(dy, (0, 0, 1, 0)), F.pad(dy, (0, 0, 0, 1)))
    return torch.maximum(horizontal, vertical)


def one_hot(label: torch.Tensor, n: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """(N, 1, H, W) ids -> (N, n, H, W) one-hot (ids outside 0..n-1: all zeros); comparison-based so it exports."""
    classes = torch.arange(n, device=label.device, dtype=label.dtype).view(1, n, 1, 1)
    return (label == classes).to(dtype)


def label_ids(x: torch.Tensor) -> torch.Tensor:
    """Integer label ids (N, 1, H, W) of ``x``: integer tensors as they are; a float tensor is the grayscale label
    image in [-1, 1] (what ``translate`` and exported graphs take), id = round((x + 1) · 127.5)."""
    if x.is_floating_point():
        return torch.round((x.float() + 1) * 127.5).long()
    return x.long()


def label_colors(label: torch.Tensor, n: int) -> torch.Tensor:
    """(N, 1, H, W) ids -> (N, 3, H, W) colours in [-1, 1] (the PASCAL bit-interleaved colour map), for grids."""
    cmap = torch.zeros(max(n, 1), 3)
    for i in range(n):
        c, r, g, b = i, 0, 0, 0
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        cmap[i] = torch.tensor([r, g, b]) / 127.5 - 1
    ids = label.long().clamp(0, max(n - 1, 0))[:, 0]
    return cmap.to(label.device)[ids].permute(0, 3, 1, 2)
