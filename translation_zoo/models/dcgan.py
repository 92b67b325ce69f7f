"""DCGAN: Unsupervised Representation Learning with Deep Convolutional Generative Adversarial Networks.

Radford, Metz, Chintala. ICLR 2016. arXiv:1511.06434
Reference code: Newmu/dcgan_code (Theano; ``faces/train_uncond_dcgan.py``, the unconditional 64x64 model).

The paper's architecture guidelines (§3): strided convolutions instead of pooling (fractionally-strided in G),
batch norm in both networks except G's output and D's input layer, no fully connected hidden layers (G's first
layer is a projection of z reshaped to a 4x4 map, D's last is flattened into one sigmoid unit), ReLU in G with a
tanh output, LeakyReLU (slope 0.2) in D. Training (§4): images scaled to [-1, 1], batch 128, weights ~ N(0, 0.02),
Adam with learning rate 2e-4 and β1 = 0.5.

The official configuration (``train_uncond_dcgan.py``), the defaults here:

- 64x64x3 images, z 100-d ~ U(-1, 1); ``ngf`` = ``ndf`` = 128 (G: 4x4x1024 -> 8x8x512 -> 16x16x256 -> 32x32x128 ->
  64x64x3, Figure 1 of the paper); 5x5 kernels, stride 2, no biases (batch norm has them), the projection
  ``z -> ngf*8*4*4`` a linear layer with batch norm per unit; D mirrors G and ends in a linear unit without bias.
- Batch norm weights ~ N(1, 0.02), biases 0, ε = 1e-8.
- Losses: D ``BCE(D(x), 1) + BCE(D(G(z)), 0)``, G ``BCE(D(G(z)), 1)`` (the non-saturating GAN loss).
- Adam(2e-4, β = (0.5, 0.999)) with L2 weight decay 1e-5 for both players; 25 epochs at a constant rate.
  One player per batch: G on even updates, D on odd ones (``k = 1``).

Parameters (official configuration: 64x64x3, nz 100, ngf = ndf = 128): G 18,885,760; D 17,232,768. In the
configuration of pytorch/examples' ``dcgan/main.py`` (nz 100, ngf = ndf = 64), which many users know, that code has
G 3,576,704 and D 2,765,568; ``layout="pytorch_examples"`` builds exactly those networks (4x4 kernels, the projection
a 4x4 transposed convolution with per-channel batch norm, D's last layer a 4x4 convolution). With the official
layout the same widths give G 5,142,080 and D 4,315,584: 5x5 instead of 4x4 kernels (x25/16 on every
convolution) and batch norm per unit of the projection (2 · 8192 instead of 2 · 512 parameters).
``tests/test_backbones.py`` pins all four.

Image size: the depth follows ``image_size`` (a power of two >= 8): ``log2(image_size) - 2`` up-/downsamplings,
so the first and last feature maps are 4x4 as at 64 px (32 px, the embedded digits: three levels, ngf*4 at 4x4).

Deviations:
- Sampling: the Theano code normalises with the statistics of the batch being generated, also at sampling time.
  Here batch norm keeps running averages and ``eval()`` uses them (so one sample does not depend on the others in
  its batch, and exports are deterministic); in ``train()`` mode the networks normalise with the batch as the
  official code always does.
- D returns logits and the losses use BCE on logits (the numerically stable form of sigmoid + cross-entropy).
- ``alternate_players=False`` (not official) updates D then G on every batch, as pytorch/examples does; the tiny
  preset uses it, because the zoo-wide contract checks that one training batch updates every parameter.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from ..nn import init_weights
from .base import Condition, InferenceSpec, TranslationGAN

Layout = Literal["official", "pytorch_examples"]


def _levels(image_size: int) -> int:
    levels = int(math.log2(image_size)) - 2
    if image_size < 8 or 2 ** (levels + 2) != image_size:
        raise ValueError(f"image_size must be a power of two >= 8, got {image_size}")
    return levels


def _up(c_in: int, c_out: int, layout: Layout) -> nn.ConvTranspose2d:
    """A fractionally-strided convolution that doubles the size (official: 5x5, Theano's ``deconv``)."""
    if layout == "official":
        return nn.ConvTranspose2d(c_in, c_out, 5, 2, padding=2, output_padding=1, bias=False)
    return nn.ConvTranspose2d(c_in, c_out, 4, 2, padding=1, bias=False)


def _down(c_in: int, c_out: int, layout: Layout) -> nn.Conv2d:
    """A strided convolution that halves the size (official: 5x5, padding 2)."""
    return nn.Conv2d(c_in, c_out, *((5, 2, 2) if layout == "official" else (4, 2, 1)), bias=False)


class Generator(nn.Module):
    """z (N, nz) -> images (N, C, S, S) in [-1, 1]: projection to 4x4, fractionally-strided convolutions."""

    def __init__(self, nz: int, ngf: int, channels: int, image_size: int, layout: Layout, eps: float) -> None:
        super().__init__()
        levels = _levels(image_size)
        width = ngf * 2 ** (levels - 1)  # 8 · ngf at 64 px
        self.top = (width, 4, 4)
        if layout == "official":  # a linear projection, batch norm per unit (Theano's 2-D batchnorm)
            self.project = nn.Sequential(nn.Linear(nz, width * 16, bias=False), nn.BatchNorm1d(width * 16, eps=eps))
        else:  # pytorch/examples: a 4x4 transposed convolution of z as a 1x1 map, batch norm per channel
            self.project = nn.Sequential(nn.ConvTranspose2d(nz, width, 4, 1, 0, bias=False), nn.BatchNorm2d(width))
        layers: list[nn.Module] = []
        for _ in range(levels - 1):
            layers += [_up(width, width // 2, layout), nn.BatchNorm2d(width // 2, eps=eps), nn.ReLU()]
            width //= 2
        layers += [_up(width, channels, layout), nn.Tanh()]  # no batch norm on the output (§3)
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.project(z if isinstance(self.project[0], nn.Linear) else z[:, :, None, None])
        return self.net(F.relu(h.view(z.shape[0], *self.top)))  # (N, 8·ngf, 4, 4) at 64 px


class Discriminator(nn.Module):
    """Images (N, C, S, S) -> logits (N, 1): strided convolutions with LeakyReLU 0.2, one linear unit."""

    def __init__(self, ndf: int, channels: int, image_size: int, layout: Layout, eps: float) -> None:
        super().__init__()
        levels = _levels(image_size)
        layers: list[nn.Module] = [_down(channels, ndf, layout), nn.LeakyReLU(0.2)]  # no batch norm on the input
        width = ndf
        for _ in range(levels - 1):
            layers += [_down(width, width * 2, layout), nn.BatchNorm2d(width * 2, eps=eps), nn.LeakyReLU(0.2)]
            width *= 2
        self.net = nn.Sequential(*layers)
        if layout == "official":
            self.out = nn.Sequential(nn.Flatten(), nn.Linear(width * 16, 1, bias=False))
        else:
            self.out = nn.Sequential(nn.Conv2d(width, 1, 4, 1, 0, bias=False), nn.Flatten())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.net(x))


class DCGAN(TranslationGAN):
    """DCGAN with the official unconditional 64x64 configuration (see the module docstring).

    Args:
        channels: image channels (3).
        image_size: image height = width (64; a power of two >= 8).
        nz: dimension of z (100).
        ngf: G's width at the last hidden layer (official 128; 8·ngf channels at 4x4).
        ndf: D's width at the first layer (official 128).
        noise: prior p_z, ``uniform`` on [-1, 1] (official) or ``gaussian`` N(0, I) (pytorch/examples).
        layout: ``official`` (5x5 kernels, linear projection) or ``pytorch_examples`` (4x4 kernels, pytorch/examples'
            networks, parameter for parameter). On the 32x32 demo digits at ngf = 16 the official layout learned far
            more slowly than ``pytorch_examples`` in the same number of batches (benchmarks/backbones_digits.py).
        weight_decay: Adam's L2 weight decay (official 1e-5; pytorch/examples 0).
        alternate_players: one player per batch, G first (official); ``False``: D then G on every batch.
        lr_policy: ``constant`` (official: 25 epochs at 2e-4, ``niter_decay = 0``) or a decay of the base class.
        val_metrics: validation/test metrics (``fid``, ``kid``) of samples against real images.
        feature_extractor: their feature space (``digits_mnist`` for the embedded digits).
        **kwargs: :class:`TranslationGAN` options (``lr`` 2e-4 and ``beta1`` 0.5 are the paper's).
    """

    batch_kind = "unconditional"
    tiny_config = {"channels": 1, "image_size": 32, "nz": 8, "ngf": 4, "ndf": 4, "alternate_players": False}

    def __init__(
        self,
        channels: int = 3,
        image_size: int = 64,
        nz: int = 100,
        ngf: int = 128,
        ndf: int = 128,
        noise: Literal["uniform", "gaussian"] = "uniform",
        layout: Layout = "official",
        weight_decay: float = 1e-5,
        alternate_players: bool = True,
        lr_policy: Literal["linear", "step", "cosine", "constant"] = "constant",
        val_metrics: list[str] | None = None,
        feature_extractor: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(lr_policy=lr_policy, **kwargs)
        if noise not in ("uniform", "gaussian"):
            raise ValueError(f"noise must be 'uniform' or 'gaussian', got {noise!r}")
        if layout not in ("official", "pytorch_examples"):
            raise ValueError(f"layout must be 'official' or 'pytorch_examples', got {layout!r}")
        eps = 1e-8 if layout == "official" else 1e-5  # Theano's batchnorm e=1e-8; PyTorch's default
        self.gen = init_weights(Generator(nz, ngf, channels, image_size, layout, eps), "normal", 0.02)
        self.disc = init_weights(Discriminator(ndf, channels, image_size, layout, eps), "normal", 0.02)
        self.eval_metrics = self.build_eval_metrics(val_metrics, feature_extractor, paired=False)

    def param_groups(self) -> dict[str, list[nn.Module]]:
        return {"G": [self.gen], "D": [self.disc]}

    def configure_optimizers(self):
        if self.optimizer_factory is not None:
            return super().configure_optimizers()
        hp = self.hparams
        optimizers = [
            torch.optim.Adam(
                list(self._parameters_of(mods)),
                lr=hp.lr,
                betas=(hp.beta1, hp.beta2),
                weight_decay=hp.weight_decay,  # the official Regularizer(l2=1e-5): g += 1e-5 · θ before Adam
                fused=hp.fused,
            )
            for mods in self.param_groups().values()
        ]
        schedulers = [self._make_scheduler(opt) for opt in optimizers]
        return optimizers, [s for s in schedulers if s is not None]

    def sample_z(self, n: int) -> torch.Tensor:
        """n codes from the prior p_z, (N, nz)."""
        z = torch.empty(n, self.hparams.nz, device=self.device)
        return z.uniform_(-1, 1) if self.hparams.noise == "uniform" else z.normal_()

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        real = batch["image"]  # (N, C, S, S) in [-1, 1]
        opt_g, opt_d = self.optimizers()
        z = self.sample_z(real.shape[0])
        # Official schedule: one optimiser step per batch, so global_step counts the batches; G on even ones.
        alternate = self.hparams.alternate_players
        train_d = not alternate or self.global_step % 2 == 1
        train_g = not alternate or self.global_step % 2 == 0

        if train_d:
            with self.toggled_optimizer(opt_d):
                with torch.no_grad():
                    fake = self.gen(z)
                pred_real, pred_fake = self.disc(real), self.disc(fake)
                self._step(
                    opt_d,
                    {
                        "d_real": F.binary_cross_entropy_with_logits(pred_real, torch.ones_like(pred_real)),
                        "d_fake": F.binary_cross_entropy_with_logits(pred_fake, torch.zeros_like(pred_fake)),
                    },
                )
        if train_g:
            with self.toggled_optimizer(opt_g):
                pred = self.disc(self.gen(z))
                self._step(opt_g, {"g_adv": F.binary_cross_entropy_with_logits(pred, torch.ones_like(pred))})

    # ----------------------------------------------------------------------------------------- inference
    def inference_conditions(self) -> dict[str, Condition]:
        return {"z": Condition("code", "latent code; drawn from the prior p_z when missing", dim=self.hparams.nz)}

    def forward(self, n: int | None = None, z: torch.Tensor | None = None) -> torch.Tensor:
        """``n`` samples G(z), z ~ p_z, or one per given code ``z`` (N, nz); (N, C, S, S) in [-1, 1]."""
        if z is None:
            if n is None:
                raise ValueError("give the number of samples n or the codes z")
            z = self.sample_z(n)
        return self.gen(z.to(self.device))

    def inference_spec(self, **conditions: Any) -> InferenceSpec:
        self.check_conditions(conditions)
        hp = self.hparams
        return InferenceSpec(self.gen, hp.channels, 1, {"z": torch.zeros(1, hp.nz)}, image_input=False)
