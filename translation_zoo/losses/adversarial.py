"""Adversarial objectives usable from any paper: vanilla, lsgan, hinge, wgan-gp.

``GANLoss(mode)(prediction, target_is_real, for_discriminator)``; ``prediction`` may be one logit map or a
list of them (multi-scale discriminators), in which case the per-scale losses are averaged.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

GAN_MODES = ("vanilla", "lsgan", "hinge", "wgangp")


class GANLoss(nn.Module):
    """The GAN objective of the chosen ``gan_mode``.

    - ``vanilla``: the original minimax loss with the non-saturating generator (Goodfellow et al. 2014),
      as binary cross-entropy on logits (pix2pix Eq. 1).
    - ``lsgan``: least squares (Mao et al. 2017), MSE to 1 / 0 (CycleGAN §4 "Training details").
    - ``hinge``: D: E[relu(1 - D(x))] + E[relu(1 + D(G(z)))]; G: -E[D(G(z))] (Lim & Ye 2017; SPADE).
    - ``wgangp``: D: -E[D(x)] + E[D(G(z))]; G: -E[D(G(z))] (Gulrajani et al. 2017); pair it with
      :func:`translation_zoo.losses.gradient_penalty`.

    Args:
        gan_mode: one of ``vanilla``, ``lsgan``, ``hinge``, ``wgangp``.
        target_real_label / target_fake_label: label values for vanilla/lsgan.
    """

    def __init__(self, gan_mode: str = "vanilla", target_real_label: float = 1.0, target_fake_label: float = 0.0):
        super().__init__()
        if gan_mode not in GAN_MODES:
            raise ValueError(f"gan_mode must be one of {GAN_MODES}, got {gan_mode!r}")
        self.gan_mode = gan_mode
        self.real_label = target_real_label
        self.fake_label = target_fake_label

    def _single(self, pred: torch.Tensor, target_is_real: bool, for_discriminator: bool) -> torch.Tensor:
        pred = pred.float()  # losses in fp32 even under autocast
        if self.gan_mode in ("vanilla", "lsgan"):
            target = torch.full_like(pred, self.real_label if target_is_real else self.fake_label)
            if self.gan_mode == "vanilla":
                return F.binary_cross_entropy_with_logits(pred, target)
            return F.mse_loss(pred, target)
        if self.gan_mode == "hinge" and for_discriminator:
            return F.relu(1.0 - pred).mean() if target_is_real else F.relu(1.0 + pred).mean()
        # wgangp (both players) and the hinge generator: the critic's mean score.
        return -pred.mean() if target_is_real else pred.mean()

    def forward(
        self,
        prediction: torch.Tensor | Sequence[torch.Tensor],
        target_is_real: bool,
        for_discriminator: bool = True,
    ) -> torch.Tensor:
        """Loss of ``prediction`` against the real (``True``) or fake (``False``) target.

        Args:
            prediction: discriminator output(s), logits.
            target_is_real: whether the ground truth is "real".
            for_discriminator: only matters for ``hinge``: the generator's loss is ``-mean(D(G(z)))``.
        """
        if isinstance(prediction, torch.Tensor):
            return self._single(prediction, target_is_real, for_discriminator)
        losses = [
            self._single(p[-1] if isinstance(p, list | tuple) else p, target_is_real, for_discriminator)
            for p in prediction
        ]
        return torch.stack(losses).mean()
