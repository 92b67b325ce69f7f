"""Discriminator feature matching (pix2pixHD, Wang et al. CVPR 2018, Eq. (4)).

L_FM(G, D_k) = E Σ_i 1/N_i ||D_k^(i)(s, x) - D_k^(i)(s, G(s))||_1 over the intermediate layers i of each scale k,
with the official weights of ``models/pix2pixHD_model.py``: every term is a mean L1 distance (the 1/N_i), weighted by
``4 / (n_layers_D + 1)`` per layer and ``1 / num_D`` per scale; the real features are detached. λ (``lambda_feat``,
10 in pix2pixHD) is applied by the caller. SPADE uses the same sum without the per-layer factor
(``layer_weight=1``).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F


def feature_matching_loss(
    fake_features: Sequence[Sequence[torch.Tensor]],
    real_features: Sequence[Sequence[torch.Tensor]],
    layer_weight: float | None = None,
) -> torch.Tensor:
    """Σ_k Σ_i w_D w_layer L1(D_k^(i)(fake), D_k^(i)(real).detach()) over all but the last output of each scale.

    Args:
        fake_features: per scale, every layer's output on the generated image (a
            :class:`~translation_zoo.nn.multiscale.MultiscaleDiscriminator` with ``get_interm_feat``); the last
            entry of each scale (the patch logits) is not matched, as in the official code.
        real_features: the same on the real image (detached here).
        layer_weight: per-layer weight; ``None``: pix2pixHD's ``4 / (n_layers_D + 1)``, where the
            ``n_layers_D + 2`` outputs per scale give ``n_layers_D``. The scale weight is ``1 / num_D``.

    Returns:
        The scalar loss (fp32).
    """
    num_d = len(fake_features)
    if num_d == 0 or num_d != len(real_features):
        raise ValueError(f"expected the same non-zero number of scales, got {num_d} and {len(real_features)}")
    total = fake_features[0][0].new_zeros((), dtype=torch.float32)
    for fake, real in zip(fake_features, real_features, strict=True):
        w_layer = 4.0 / (len(fake) - 1) if layer_weight is None else layer_weight  # len = n_layers_D + 2
        for f, r in zip(fake[:-1], real[:-1], strict=True):
            total = total + (w_layer / num_d) * F.l1_loss(f.float(), r.detach().float())
    return total


__all__ = ["feature_matching_loss"]
