"""Exponential moving averages of networks (StarGAN v2's ``nets_ema``, StyleGAN2's ``G_ema``, ALAE's ``model_s``).

A model keeps the averaged copy as an ordinary submodule (so it is saved, loaded, moved and exported with the
model) and calls :func:`update_moving_average` after its optimiser steps::

    self.gen_ema = moving_average_copy(self.gen)
    ...
    update_moving_average([(self.gen, self.gen_ema)], beta=half_life_beta(n, 10_000))

θ_ema ← β·θ_ema + (1 − β)·θ for every parameter; buffers (BatchNorm statistics, StyleGAN2's ``w_avg``) are either
left to the averaged network or copied from the trained one, as each official code does.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable

import torch
from torch import nn


def moving_average_copy(net: nn.Module) -> nn.Module:
    """A frozen copy of ``net`` to average into (no gradients; the optimiser never sees it)."""
    return copy.deepcopy(net).requires_grad_(False)


def half_life_beta(batch_size: int, half_life: float) -> float:
    """β for a half-life counted in images: after ``half_life`` images a parameter's old value weighs ½."""
    return 0.5 ** (batch_size / max(half_life, 1e-8))


@torch.no_grad()
def update_moving_average(
    pairs: Iterable[tuple[nn.Module, nn.Module]], beta: float, copy_buffers: bool = False
) -> None:
    """θ_ema ← lerp(θ, θ_ema, β) = β·θ_ema + (1 − β)·θ for each ``(net, ema)`` pair.

    Args:
        pairs: ``(trained network, its moving average)`` with the same architecture.
        beta: the decay β in [0, 1]; 0 copies the trained weights, 1 freezes the average.
        copy_buffers: also copy the trained network's buffers (StyleGAN2); else the average keeps its own
            (StarGAN v2, ALAE average parameters only).
    """
    if not 0.0 <= beta <= 1.0:
        raise ValueError(f"moving-average decay beta must lie in [0, 1], got {beta}")
    for net, ema in pairs:
        params, ema_params = list(net.parameters()), list(ema.parameters())
        if len(params) != len(ema_params):
            raise ValueError(
                f"moving average of {type(net).__name__}: {len(params)} parameters vs {len(ema_params)} in the copy"
            )
        for p, p_ema in zip(params, ema_params):
            p_ema.lerp_(p.detach().to(p_ema.dtype), 1.0 - beta)
        if copy_buffers:
            for b, b_ema in zip(net.buffers(), ema.buffers()):
                b_ema.copy_(b)
