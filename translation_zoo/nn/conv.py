"""Normalization and activation factories shared by every architecture.

The norm choices follow the official pix2pix/CycleGAN code (``networks.get_norm_layer``): batch norm with
learned affine parameters and running statistics, instance norm *without* affine parameters or running
statistics, and "none". ``syncbatch`` is batch norm synchronised across DDP ranks.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from torch import nn

NORMS = ("batch", "syncbatch", "instance", "none")
ACTIVATIONS = ("relu", "lrelu", "tanh", "none")

NormFactory = Callable[[int], nn.Module]


def get_norm_layer(norm: str = "instance") -> NormFactory:
    """Return a factory ``f(num_features) -> nn.Module`` for the named normalization.

    Args:
        norm: one of ``batch``, ``syncbatch``, ``instance``, ``none``.
    """
    if norm == "batch":
        return functools.partial(nn.BatchNorm2d, affine=True, track_running_stats=True)
    if norm == "syncbatch":
        return functools.partial(nn.SyncBatchNorm, affine=True, track_running_stats=True)
    if norm == "instance":
        return functools.partial(nn.InstanceNorm2d, affine=False, track_running_stats=False)
    if norm == "none":
        return lambda num_features: nn.Identity()
    raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")


def conv_bias(norm: str) -> bool:
    """Whether a conv followed by ``norm`` carries a bias, as in the official code.

    Batch norm's shift makes a conv bias redundant, so the official networks drop it; instance norm without
    affine parameters keeps it. The official code also drops it for ``none`` (its ``use_bias`` test only
    recognises instance norm); we keep that so official checkpoints load key for key.
    """
    if norm not in NORMS:
        raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")
    return norm == "instance"


def get_activation(name: str, inplace: bool = False) -> nn.Module:
    """Return the named activation: ``relu``, ``lrelu`` (slope 0.2, the GAN default), ``tanh``, ``none``."""
    if name == "relu":
        return nn.ReLU(inplace)
    if name == "lrelu":
        return nn.LeakyReLU(0.2, inplace)
    if name == "tanh":
        return nn.Tanh()
    if name == "none":
        return nn.Identity()
    raise ValueError(f"activation must be one of {ACTIVATIONS}, got {name!r}")
