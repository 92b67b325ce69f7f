"""Discriminator regularizers: WGAN-GP gradient penalty and R1."""

from __future__ import annotations

from collections.abc import Callable

import torch


def gradient_penalty(
    disc: Callable[[torch.Tensor], torch.Tensor],
    real: torch.Tensor,
    fake: torch.Tensor,
    kind: str = "mixed",
    constant: float = 1.0,
) -> torch.Tensor:
    """WGAN-GP penalty E[(||grad D(x_hat)||_2 - constant)^2] (Gulrajani et al. 2017, Eq. 3), without λ.

    Args:
        disc: the critic.
        real / fake: batches of the same shape; ``fake`` is detached here.
        kind: where to evaluate: ``mixed`` (random interpolates, the paper), ``real`` or ``fake``.
        constant: the target norm.
    """
    fake = fake.detach()
    if kind == "real":
        x = real
    elif kind == "fake":
        x = fake
    elif kind == "mixed":
        alpha = torch.rand(real.shape[0], *([1] * (real.dim() - 1)), device=real.device, dtype=real.dtype)
        x = alpha * real + (1 - alpha) * fake
    else:
        raise ValueError(f"kind must be 'mixed', 'real' or 'fake', got {kind!r}")
    x = x.detach().requires_grad_(True)
    out = disc(x)
    outs = out if isinstance(out, list | tuple) else [out]
    grads = torch.autograd.grad([o.sum() for o in outs], x, create_graph=True)[0]
    grads = grads.flatten(1).float()
    return ((grads.norm(2, dim=1) - constant) ** 2).mean()


def r1_penalty(real_pred: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """R1 penalty E[||grad D(x)||^2] on real data (Mescheder et al. 2018, Eq. 9), without the γ/2 factor.

    ``real`` must have ``requires_grad=True`` when ``real_pred`` was computed.
    """
    (grad,) = torch.autograd.grad(real_pred.sum(), real, create_graph=True)
    return grad.float().pow(2).flatten(1).sum(1).mean()
