"""DRIT++: Diverse Image-to-Image Translation via Disentangled Representations.
Lee, Tseng, Mao, Huang, Lu, Singh, Yang. IJCV 2020 (extends DRIT, ECCV 2018). arXiv:1905.01270
Reference code: HsinYingLee/DRIT (master, ``src/``: ``model.py`` ``DRIT``, ``networks.py``, ``options.py``,
``train.py``, ``test.py``, ``test_transfer.py``; the MDMM multi-domain folder is not covered here).

An image x of domain X is split in a content code z^c_x = E^c_X(x) (a spatial map in a space shared by the domains:
the last residual block of the content encoders is shared, and a content discriminator D^c tries to tell the
domains' content codes apart) and an attribute code z^a_x = E^a_X(x) (8 numbers, prior N(0, I)). The generator G_Y
renders a content code with an attribute of domain Y. Translation X→Y: G_Y(z^c_x, z) with z ~ N(0, I) (random
attributes, one output per draw: the official ``test.py``) or z = E^a_Y(y) of an exemplar y (the official
``test_transfer.py``).

Networks (the official ``networks.py``, default ``--concat 1``):

* ``enc_c`` (``E_content``): per domain a 7x7 conv with LeakyReLU(0.01) and no norm, two 3x3 stride-2 convs doubling
  the width (instance norm, ReLU), three residual blocks (instance norm); then one residual block shared by both
  domains (``conv_share``), followed in training by additive N(0, 1) noise (``GaussianNoiseLayer``); reflection
  padding. Content code: 4·``ngf`` channels at 1/4 of the image side.
* ``enc_a`` (``E_attr_concat``, the default): per domain a 4x4 stride-2 conv and three residual down-sampling blocks
  (``BasicBlock``: LeakyReLU(0.2), 3x3 convs, mean pooling, 1x1 shortcut; 64→128→192→256), LeakyReLU, global
  average pooling and two linear heads giving μ and log σ² of z^a (8 numbers). ``concat=False``: ``E_attr``, five
  convs with ReLU, global pooling and a 1x1 conv giving z^a directly.
* ``gen`` (``G_concat``): a residual block shared by both domains, then per domain three residual blocks, two
  transposed 3x3 stride-2 convs with layer norm and ReLU, a 1x1 transposed conv and tanh; z^a is tiled and
  concatenated to the input of each of these four stages. ``concat=False``: ``G``, four residual blocks whose two
  halves each take the code (through an MLP 8→256→256→4·256) by concatenation and 1x1 convs (``MisINSResBlock``).
* ``dis_a``, ``dis_b`` (``disA``, ``disB``) judge the cross translations (with encoded attributes); ``dis_a2``,
  ``dis_b2`` (``disA2``, ``disB2``) judge the translations with random attributes against the other half of the
  batch. ``dis_scale`` 3 (default): three scales (average pooled by 2), each four 4x4 stride-2 convs with
  LeakyReLU(0.01) doubling from ``ndf`` 64 and a 1x1 conv; ``dis_scale`` 1: the official ``Dis``, six 3x3 stride-2
  convs (to 2048 channels) and a 1x1 conv. ``dis_spectral_norm``: spectral norm on every conv.
* ``dis_content`` (``Dis_content``): three 7x7 stride-2 convs and a 4x4 conv at the content width with LeakyReLU(0.01),
  then a 1x1 conv.

Losses (§3 of arXiv:1905.01270; weights as hard-coded in the official ``model.py``), all GAN terms the vanilla
(sigmoid + binary cross-entropy) loss summed over the discriminator's scales:

* content adversarial loss L^content_adv (Eq. 1): D^c labels domain Y's content codes 1 and X's 0; the encoders
  push both towards 0.5 (weight 1);
* domain adversarial losses L^domain_adv (Eq. 5): ``dis_a``/``dis_b`` on the cross translations, ``dis_a2``/``dis_b2``
  on the translations with random attributes z (weight 1 each);
* cross-cycle consistency L^cc_1 (Eq. 3-4): translate across with swapped attributes, encode the results, swap back:
  ``lambda_cc`` 10 (mean L1);
* self-reconstruction L^recon_1 (§3.4): G_X(z^c_x, z^a_x) ≈ x, ``lambda_recon`` 10;
* KL loss L_KL (§3.4): ``lambda_kl_attr`` 0.01 · KL(N(μ, σ²) ‖ N(0, I)), summed over the batch and the 8 numbers
  (``concat=False``: 0.01 · mean(z^a)²); the content codes' "KL" 0.01 · mean((z^c)²) (``lambda_kl_content``);
* latent regression L^latent_1 (§3.4): E^a(G(z^c, z)) ≈ z with z ~ N(0, I), ``lambda_latent`` 10 (mean L1, the
  attribute encoder's μ);
* mode seeking L_ms (§3.5, DRIT++, Mao et al. 2019): 1 / (mean|G(c, z1) − G(c, z2)| / mean|z1 − z2| + 1e-5) per
  direction, weight ``lambda_ms`` 1; two random codes per input, both judged by ``dis_a2``/``dis_b2``
  (``mode_seeking=False``: the official ``--no_ms``, DRIT without L_ms).

Training (official ``train.py``/``model.py``): each batch of 2 is split in halves, the first for the encoded
attributes and the cross cycle, the second as real images for ``dis_a2``/``dis_b2``. Every ``d_iter`` (3) batches
(and for the last two batches of an epoch) a full iteration: update every discriminator (``dis_content``'s gradient
clipped to norm 5), then the encoders and the generator with all the losses above but the latent regression and
the L_ms/GAN terms of the random translations, then ``enc_c`` and ``gen`` again (not ``enc_a``) with the latent
regression, L_ms and those GAN terms; the other batches update ``dis_content`` alone. Adam(lr 1e-4, β (0.5, 0.999),
weight decay 1e-4) for every network, lr/2.5 for ``dis_content``; the ``lambda`` policy: constant for
``n_ep_decay`` = 600 epochs, then linear to 0 over the remaining ``n_ep`` − 600 = 600 (here ``n_epochs`` = 601 and
``n_epochs_decay`` = 600, the same rule in the base class's terms); N(0, 0.02) for the weights of every conv and
transposed conv, PyTorch's default init for biases and linear layers.

Parameters (defaults: 3 channels, ``concat``, ``dis_scale`` 3), equal to the official networks: ``enc_c``
9,018,112 (per domain 3,918,976, shared block 1,180,160), ``enc_a`` 2,688,160, ``gen`` 9,564,710, ``dis_a`` =
``dis_b`` = ``dis_a2`` = ``dis_b2`` 8,271,171, ``dis_content`` 10,683,649; ``concat=False``: ``enc_a`` 5,529,872,
``gen`` 17,146,374; ``dis_scale=1``: 25,149,057 per domain discriminator (``tests/test_drit.py`` pins them).

Deviations:

* The second encoder/generator update (latent regression, L_ms, GAN on random translations) uses the gradient at
  the same forward pass as the first update. The official code calls ``backward`` on the retained graph after the
  first optimiser step, which PyTorch 0.4 allowed (its in-place ``.data`` updates were invisible to autograd) and
  later versions refuse; both are one Adam step of the two losses in sequence.
* The fakes are computed once per iteration and serve the discriminator and the generator updates (the official
  code does the same: ``update_D`` runs ``forward`` and ``update_EG`` reuses it).
* Batches of N > 2: the first N // 2 images take the encoded path, the rest the random one (the official code
  hard-codes one image for the first half and runs at batch 2, where both agree). A batch of 1 uses its image in both.
* ``dis_norm="instance"`` adds instance norms to the discriminators' convs. The official option is a no-op (its
  ``LeakyReLUConv2d`` compares the string ``'norm'`` with ``'Instance'``), so the official networks never had them;
  the default ``none`` is the official behaviour. Instance norm without affine parameters adds no weights.
* Example-guided translation with the concat attribute encoder uses z = μ (deterministic); the official
  ``test_transfer.py`` draws z = μ + σ·ε from the posterior.
* ``ngf``, ``nef``, ``ndf`` and ``dis_content_n_down`` (the official code fixes 64, 64, 64 and 3) exist for small
  images: the official content discriminator needs images of at least 212 px.

Official weights: the official ``saver`` writes ``<ep>.pth``/``last.pth`` = ``{"disA", "disA2", "disB", "disB2",
"disContent", "enc_c", "enc_a", "gen"`` (state dicts), the optimisers' states, ``"ep"``, ``"total_it"}``; the released
``example.pth`` (http://vllab.ucmerced.edu/hylee/DRIT/models/example.pth, ``models/download_model.sh``) is such a
file. :meth:`DRIT.from_official_file` reads it (``weights_only=True``) and builds the model with the architecture
read from the weights; our keys inside each network are the official ones (spectral-norm convs: the official
``weight`` buffer becomes PyTorch's ``weight_v``).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from .base import Condition, InferenceSpec, TranslationGAN


# --------------------------------------------------------------------------------------------------- blocks
# Module and attribute names give the official state-dict keys (enc_c.convA.3.model.5.weight, enc_a.fc_A.0.bias).
def _sn(conv: nn.Module, on: bool) -> nn.Module:
    return nn.utils.spectral_norm(conv) if on else conv


class LeakyReLUConv2d(nn.Module):
    """Reflection pad, conv, [instance norm], LeakyReLU (slope 0.01, PyTorch's default, as the official block)."""

    def __init__(self, n_in: int, n_out: int, k: int, s: int, p: int = 0, norm: str = "none", sn: bool = False):
        super().__init__()
        layers: list[nn.Module] = [nn.ReflectionPad2d(p), _sn(nn.Conv2d(n_in, n_out, k, s, 0), sn)]
        if norm == "instance":
            layers.append(nn.InstanceNorm2d(n_out, affine=False))
        layers.append(nn.LeakyReLU(inplace=True))
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class ReLUINSConv2d(nn.Module):
    """Reflection pad, conv, instance norm, ReLU."""

    def __init__(self, n_in: int, n_out: int, k: int, s: int, p: int = 0) -> None:
        super().__init__()
        self.model = nn.Sequential(
            nn.ReflectionPad2d(p), nn.Conv2d(n_in, n_out, k, s, 0), nn.InstanceNorm2d(n_out), nn.ReLU(inplace=True)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class INSResBlock(nn.Module):
    """x + IN(conv3x3(ReLU(IN(conv3x3(x))))), reflection padding."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.model = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3), nn.InstanceNorm2d(dim), nn.ReLU(inplace=True),
            nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3), nn.InstanceNorm2d(dim),
        )  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.model(x)


class GaussianNoiseLayer(nn.Module):
    """Adds N(0, 1) noise to the shared content code in training (the official ``GaussianNoiseLayer``)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + torch.randn_like(x) if self.training else x


class LayerNorm(nn.Module):
    """Layer norm over (C, H, W) with a per-channel affine (weight, bias of shape (C, 1, 1)), as the official one."""

    def __init__(self, n_out: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(n_out, 1, 1))
        self.bias = nn.Parameter(torch.zeros(n_out, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = x.shape[1:]
        return F.layer_norm(x, shape, self.weight.expand(shape), self.bias.expand(shape), self.eps)


class ReLUINSConvTranspose2d(nn.Module):
    """Transposed conv (3x3, stride 2, output x2), layer norm, ReLU (the official name says IN; it is LN)."""

    def __init__(self, n_in: int, n_out: int) -> None:
        super().__init__()
        self.model = nn.Sequential(
            nn.ConvTranspose2d(n_in, n_out, 3, 2, 1, output_padding=1), LayerNorm(n_out), nn.ReLU(inplace=True)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class ContentEncoder(nn.Module):
    """E^c_X, E^c_Y (official ``E_content``): (N, C, H, W) -> content (N, 4·ngf, H/4, W/4); last block shared."""

    def __init__(self, input_nc_a: int, input_nc_b: int, ngf: int = 64) -> None:
        super().__init__()

        def branch(channels: int) -> nn.Sequential:
            layers: list[nn.Module] = [LeakyReLUConv2d(channels, ngf, 7, 1, 3)]
            layers += [ReLUINSConv2d(ngf, 2 * ngf, 3, 2, 1), ReLUINSConv2d(2 * ngf, 4 * ngf, 3, 2, 1)]
            return nn.Sequential(*layers, *(INSResBlock(4 * ngf) for _ in range(3)))

        self.convA, self.convB = branch(input_nc_a), branch(input_nc_b)
        self.conv_share = nn.Sequential(INSResBlock(4 * ngf), GaussianNoiseLayer())
        self.output_nc = 4 * ngf

    def forward_a(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv_share(self.convA(x))

    def forward_b(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv_share(self.convB(x))


class BasicBlock(nn.Module):
    """Residual down-sampling block of ``E_attr_concat``: LeakyReLU, 3x3 conv, LeakyReLU, 3x3 conv, mean pool; shortcut
    mean pool and 1x1 conv."""

    def __init__(self, n_in: int, n_out: int) -> None:
        super().__init__()
        self.conv = nn.Sequential(
            nn.LeakyReLU(0.2), nn.ReflectionPad2d(1), nn.Conv2d(n_in, n_in, 3), nn.LeakyReLU(0.2),
            nn.Sequential(nn.ReflectionPad2d(1), nn.Conv2d(n_in, n_out, 3), nn.AvgPool2d(2, 2)),
        )  # fmt: skip
        self.shortcut = nn.Sequential(nn.AvgPool2d(2, 2), nn.Conv2d(n_in, n_out, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x) + self.shortcut(x)


class AttributeEncoderConcat(nn.Module):
    """E^a_X, E^a_Y (official ``E_attr_concat``): (N, C, H, W) -> (μ, log σ²), each (N, nz)."""

    def __init__(self, input_nc_a: int, input_nc_b: int, nz: int = 8, nef: int = 64) -> None:
        super().__init__()
        widths = [nef * min(4, n) for n in range(1, 5)]  # 64, 128, 192, 256

        def branch(channels: int) -> nn.Sequential:
            layers: list[nn.Module] = [nn.ReflectionPad2d(1), nn.Conv2d(channels, nef, 4, 2, 0)]
            layers += [BasicBlock(widths[i], widths[i + 1]) for i in range(3)]
            return nn.Sequential(*layers, nn.LeakyReLU(0.2), nn.AdaptiveAvgPool2d(1))

        self.conv_A, self.conv_B = branch(input_nc_a), branch(input_nc_b)
        self.fc_A, self.fcVar_A = nn.Sequential(nn.Linear(widths[-1], nz)), nn.Sequential(nn.Linear(widths[-1], nz))
        self.fc_B, self.fcVar_B = nn.Sequential(nn.Linear(widths[-1], nz)), nn.Sequential(nn.Linear(widths[-1], nz))

    def forward_a(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.conv_A(x).flatten(1)
        return self.fc_A(h), self.fcVar_A(h)

    def forward_b(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.conv_B(x).flatten(1)
        return self.fc_B(h), self.fcVar_B(h)


class AttributeEncoder(nn.Module):
    """The official ``E_attr`` (``concat=False``): (N, C, H, W) -> z^a (N, nz), no distribution."""

    def __init__(self, input_nc_a: int, input_nc_b: int, nz: int = 8, nef: int = 64) -> None:
        super().__init__()

        def branch(channels: int) -> nn.Sequential:
            layers: list[nn.Module] = [nn.ReflectionPad2d(3), nn.Conv2d(channels, nef, 7, 1), nn.ReLU(inplace=True)]
            for n_in, n_out in ((nef, 2 * nef), (2 * nef, 4 * nef), (4 * nef, 4 * nef), (4 * nef, 4 * nef)):
                layers += [nn.ReflectionPad2d(1), nn.Conv2d(n_in, n_out, 4, 2), nn.ReLU(inplace=True)]
            return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Conv2d(4 * nef, nz, 1, 1, 0))

        self.model_a, self.model_b = branch(input_nc_a), branch(input_nc_b)

    def forward_a(self, x: torch.Tensor) -> torch.Tensor:
        return self.model_a(x).flatten(1)

    def forward_b(self, x: torch.Tensor) -> torch.Tensor:
        return self.model_b(x).flatten(1)


def _tile(z: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """z (N, nz) tiled to (N, nz, H, W) of ``like``."""
    return z[:, :, None, None].expand(-1, -1, like.shape[2], like.shape[3])


class GeneratorConcat(nn.Module):
    """G_X, G_Y (official ``G_concat``): content (N, dim, h, w) and z^a (N, nz) -> image (N, C, 4h, 4w)."""

    def __init__(self, output_nc_a: int, output_nc_b: int, nz: int = 8, dim: int = 256) -> None:
        super().__init__()
        self.dec_share = nn.Sequential(INSResBlock(dim))

        def branch(out: int) -> tuple[nn.Module, ...]:
            t1 = dim + nz
            t2 = t1 + nz
            t3 = t2 // 2 + nz
            t4 = t3 // 2 + nz
            return (
                nn.Sequential(*(INSResBlock(t1) for _ in range(3))),
                nn.Sequential(ReLUINSConvTranspose2d(t2, t2 // 2)),
                nn.Sequential(ReLUINSConvTranspose2d(t3, t3 // 2)),
                nn.Sequential(nn.ConvTranspose2d(t4, out, 1, 1, 0), nn.Tanh()),
            )

        self.decA1, self.decA2, self.decA3, self.decA4 = branch(output_nc_a)
        self.decB1, self.decB2, self.decB3, self.decB4 = branch(output_nc_b)

    def _decode(self, stages: tuple[nn.Module, ...], x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        out = self.dec_share(x)
        for stage in stages:
            out = stage(torch.cat([out, _tile(z, out)], 1))
        return out

    def forward_a(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return self._decode((self.decA1, self.decA2, self.decA3, self.decA4), x, z)

    def forward_b(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return self._decode((self.decB1, self.decB2, self.decB3, self.decB4), x, z)


class MisINSResBlock(nn.Module):
    """Residual block of ``G``: each of its two 3x3 conv + IN halves is followed by two 1x1 convs (ReLU) over the
    features concatenated with the tiled code."""

    def __init__(self, dim: int, dim_extra: int) -> None:
        super().__init__()

        def conv3x3() -> nn.Sequential:
            return nn.Sequential(nn.Sequential(nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3)), nn.InstanceNorm2d(dim))

        def blk() -> nn.Sequential:
            wide = dim + dim_extra
            return nn.Sequential(nn.Conv2d(wide, wide, 1), nn.ReLU(), nn.Conv2d(wide, dim, 1), nn.ReLU())

        self.conv1, self.conv2, self.blk1, self.blk2 = conv3x3(), conv3x3(), blk(), blk()

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        zz = _tile(z, x)
        out = self.blk1(torch.cat([self.conv1(x), zz], 1))
        return x + self.blk2(torch.cat([self.conv2(out), zz], 1))


class Generator(nn.Module):
    """The official ``G`` (``concat=False``): four ``MisINSResBlock`` fed by an MLP of z^a, two up-sampling stages."""

    def __init__(self, output_nc_a: int, output_nc_b: int, nz: int = 8, dim: int = 256) -> None:
        super().__init__()
        self.dim = dim

        def up(out: int) -> nn.Sequential:
            return nn.Sequential(
                ReLUINSConvTranspose2d(dim, dim // 2), ReLUINSConvTranspose2d(dim // 2, dim // 4),
                nn.ConvTranspose2d(dim // 4, out, 1, 1, 0), nn.Tanh(),
            )  # fmt: skip

        def mlp() -> nn.Sequential:
            return nn.Sequential(
                nn.Linear(nz, dim), nn.ReLU(inplace=True), nn.Linear(dim, dim), nn.ReLU(inplace=True),
                nn.Linear(dim, 4 * dim),
            )  # fmt: skip

        self.decA1, self.decA2, self.decA3, self.decA4 = (MisINSResBlock(dim, dim) for _ in range(4))
        self.decA5 = up(output_nc_a)
        self.decB1, self.decB2, self.decB3, self.decB4 = (MisINSResBlock(dim, dim) for _ in range(4))
        self.decB5 = up(output_nc_b)
        self.mlpA, self.mlpB = mlp(), mlp()

    def _decode(self, blocks: tuple[nn.Module, ...], mlp: nn.Module, x: torch.Tensor, z: torch.Tensor):
        codes = torch.split(mlp(z), self.dim, dim=1)
        for block, code in zip(blocks[:4], codes):
            x = block(x, code)
        return blocks[4](x)

    def forward_a(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return self._decode((self.decA1, self.decA2, self.decA3, self.decA4, self.decA5), self.mlpA, x, z)

    def forward_b(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return self._decode((self.decB1, self.decB2, self.decB3, self.decB4, self.decB5), self.mlpB, x, z)


class MultiScaleDis(nn.Module):
    """The official ``MultiScaleDis``: ``n_scale`` nets of four 4x4 stride-2 convs (LeakyReLU) and a 1x1 conv, on the
    image average-pooled by 2 for each further scale. Returns one logit map per scale."""

    def __init__(self, input_nc: int, n_scale: int = 3, ndf: int = 64, norm: str = "none", sn: bool = False):
        super().__init__()
        self.downsample = nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False)

        def net() -> nn.Sequential:
            layers: list[nn.Module] = [LeakyReLUConv2d(input_nc, ndf, 4, 2, 1, norm, sn)]
            ch = ndf
            for _ in range(3):
                layers.append(LeakyReLUConv2d(ch, 2 * ch, 4, 2, 1, norm, sn))
                ch *= 2
            return nn.Sequential(*layers, _sn(nn.Conv2d(ch, 1, 1, 1, 0), sn))

        self.Diss = nn.ModuleList(net() for _ in range(n_scale))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        outs = []
        for dis in self.Diss:
            outs.append(dis(x))
            x = self.downsample(x)
        return outs


class Dis(nn.Module):
    """The official ``Dis`` (``dis_scale=1``): six 3x3 stride-2 convs from ``ndf`` doubling (no norm on the last),
    a 1x1 conv. Returns [logits (N·h·w,)]."""

    def __init__(self, input_nc: int, ndf: int = 64, norm: str = "none", sn: bool = False) -> None:
        super().__init__()
        layers: list[nn.Module] = [LeakyReLUConv2d(input_nc, ndf, 3, 2, 1, norm, sn)]
        ch = ndf
        for _ in range(4):
            layers.append(LeakyReLUConv2d(ch, 2 * ch, 3, 2, 1, norm, sn))
            ch *= 2
        layers.append(LeakyReLUConv2d(ch, 2 * ch, 3, 2, 1, "none", sn))
        self.model = nn.Sequential(*layers, _sn(nn.Conv2d(2 * ch, 1, 1, 1, 0), sn))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return [self.model(x).flatten()]


class ContentDis(nn.Module):
    """D^c (official ``Dis_content``): ``n_down`` (3) 7x7 stride-2 convs and a 4x4 conv at the content width, with
    LeakyReLU(0.01), then a 1x1 conv. Returns [logits (N·h·w,)] (1x1 per image for 216 px crops)."""

    def __init__(self, dim: int = 256, n_down: int = 3) -> None:
        super().__init__()
        layers = [LeakyReLUConv2d(dim, dim, 7, 2, 1) for _ in range(n_down)]
        self.model = nn.Sequential(*layers, LeakyReLUConv2d(dim, dim, 4, 1, 0), nn.Conv2d(dim, 1, 1, 1, 0))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return [self.model(x).flatten()]


def gaussian_weights_init(net: nn.Module, std: float = 0.02) -> None:
    """The official ``gaussian_weights_init``: N(0, 0.02) for the weight of every conv and transposed conv; biases,
    linear layers and layer norms keep PyTorch's init. Spectral-normed convs keep PyTorch's init too: the official
    init reaches only their normalised copy, which every training forward recomputes."""
    for m in net.modules():
        if isinstance(m, nn.Conv2d | nn.ConvTranspose2d) and "weight" in m._parameters:
            nn.init.normal_(m.weight, 0.0, std)


class RandomAttributeTranslator(nn.Module):
    """x_{X→Y} = G_Y(E^c_X(x), z) for a given attribute code z (N or 1, nz): the exported network."""

    def __init__(self, enc_c: ContentEncoder, gen: nn.Module, direction: str) -> None:
        super().__init__()
        self.enc_c, self.gen, self.a2b = enc_c, gen, direction == "a2b"
        self.size_multiple = 4

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        z = z.to(x.dtype).expand(x.shape[0], -1)
        if self.a2b:
            return self.gen.forward_b(self.enc_c.forward_a(x), z)
        return self.gen.forward_a(self.enc_c.forward_b(x), z)


class ExampleGuidedTranslator(nn.Module):
    """x_{X→Y} = G_Y(E^c_X(x), E^a_Y(y)) for exemplars y of domain Y (concat: the posterior mean μ)."""

    def __init__(self, enc_c: ContentEncoder, enc_a: nn.Module, gen: nn.Module, direction: str) -> None:
        super().__init__()
        self.translate = RandomAttributeTranslator(enc_c, gen, direction)
        self.enc_a, self.a2b = enc_a, direction == "a2b"
        self.size_multiple = 4

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        z = self.enc_a.forward_b(style) if self.a2b else self.enc_a.forward_a(style)
        return self.translate(x, z[0] if isinstance(z, tuple) else z)


def _bce(logits: list[torch.Tensor], target: float) -> torch.Tensor:
    """Σ over the scales of BCE(sigmoid(logits), target), each a mean (the official sigmoid + BCE)."""
    return sum(F.binary_cross_entropy_with_logits(o, torch.full_like(o, target)) for o in logits)


# ------------------------------------------------------------------------------------------------- model
class DRIT(TranslationGAN):
    """DRIT++ (Lee et al. 2020): disentangled content and attribute codes, diverse unpaired translation.

    Args:
        input_nc: channels of domain A (official ``input_dim_a``: 3).
        output_nc: channels of domain B (``input_dim_b``: 3).
        ngf: width of the content encoders' first conv; the content code has 4·ngf channels (official 64 → 256).
        nef: width of the attribute encoders' first conv (official 64).
        ndf: width of the domain discriminators' first conv (official 64).
        nz: length of the attribute code z^a (official ``nz``: 8).
        concat: ``E_attr_concat`` + ``G_concat`` (official ``--concat 1``, default) or ``E_attr`` + ``G`` (0).
        dis_scale: scales of the domain discriminators (``--dis_scale`` 3; 1: the official single-scale ``Dis``).
        dis_norm: ``none`` (official) or ``instance`` (a deviation: the official option has no effect).
        dis_spectral_norm: spectral norm on the domain discriminators' convs (``--dis_spectral_norm``, off).
        dis_content_n_down: 7x7 stride-2 convs of the content discriminator (official 3; needs content maps of
            ≥ 53 px, i.e. images ≥ 212 px; 0 for 32 px images).
        d_iter: a full iteration every ``d_iter`` batches, the content discriminator alone on the others (3).
        mode_seeking: the DRIT++ mode-seeking term and the second random code (``not --no_ms``: True).
        lambda_cc: cross-cycle consistency L^cc_1, Eq. (3-4) (10).
        lambda_recon: self-reconstruction L^recon_1 (10).
        lambda_kl_attr: KL of the attribute codes (0.01).
        lambda_kl_content: L2 of the content codes (0.01).
        lambda_latent: latent regression L^latent_1 (10).
        lambda_ms: weight of the mode-seeking term L_ms (1).
        lr: Adam learning rate of every network but the content discriminator (1e-4).
        lr_content_ratio: the content discriminator's learning rate is lr / this (2.5).
        clip_content: gradient-norm clip of the content discriminator (5).
        weight_decay: Adam's L2 weight decay (1e-4).
        n_epochs: epochs at the initial learning rate (official ``n_ep_decay`` + 1 = 601).
        n_epochs_decay: epochs of linear decay (official ``n_ep`` − ``n_ep_decay`` = 600).
        val_metrics: validation/test metrics of A→B with random attributes (see ``build_eval_metrics``).
        feature_extractor: feature space of FID/KID.
        **kwargs: the base class's options (``lr_policy``, ``optimizer``, ``fused``, ...).
    """

    batch_kind = "unpaired"
    tiny_config = {
        "input_nc": 1, "output_nc": 1, "ngf": 4, "nef": 4, "ndf": 4, "nz": 4, "dis_scale": 2,
        "dis_content_n_down": 0, "d_iter": 1,
    }  # fmt: skip
    official_names = ("drit",)
    official_networks = {
        "enc_c": "enc_c", "enc_a": "enc_a", "gen": "gen", "disA": "dis_a", "disB": "dis_b", "disA2": "dis_a2",
        "disB2": "dis_b2", "disContent": "dis_content",
    }  # fmt: skip
    official_file_pattern = "{name}_{epoch}.pth"  # not the official layout (one file, see from_official_file)

    def __init__(
        self,
        input_nc: int = 3,
        output_nc: int = 3,
        ngf: int = 64,
        nef: int = 64,
        ndf: int = 64,
        nz: int = 8,
        concat: bool = True,
        dis_scale: int = 3,
        dis_norm: Literal["none", "instance"] = "none",
        dis_spectral_norm: bool = False,
        dis_content_n_down: int = 3,
        d_iter: int = 3,
        mode_seeking: bool = True,
        lambda_cc: float = 10.0,
        lambda_recon: float = 10.0,
        lambda_kl_attr: float = 0.01,
        lambda_kl_content: float = 0.01,
        lambda_latent: float = 10.0,
        lambda_ms: float = 1.0,
        lr: float = 1e-4,
        lr_content_ratio: float = 2.5,
        clip_content: float = 5.0,
        beta1: float = 0.5,
        beta2: float = 0.999,
        weight_decay: float = 1e-4,
        lr_policy: Literal["linear", "step", "cosine", "constant"] = "linear",
        n_epochs: int = 601,
        n_epochs_decay: int = 600,
        val_metrics: list[str] | None = None,
        feature_extractor: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            lr=lr, beta1=beta1, beta2=beta2, lr_policy=lr_policy, n_epochs=n_epochs, n_epochs_decay=n_epochs_decay,
            **kwargs,
        )  # fmt: skip
        if dis_norm not in ("none", "instance"):
            raise ValueError(f"dis_norm must be 'none' or 'instance', got {dis_norm!r}")
        if min(ngf, nef, ndf, nz, dis_scale, d_iter) < 1 or dis_content_n_down < 0:
            raise ValueError("ngf, nef, ndf, nz, dis_scale and d_iter must be >= 1; dis_content_n_down >= 0")
        self.enc_c = ContentEncoder(input_nc, output_nc, ngf)
        dim = self.enc_c.output_nc
        if concat:
            self.enc_a: nn.Module = AttributeEncoderConcat(input_nc, output_nc, nz, nef)
            self.gen: nn.Module = GeneratorConcat(input_nc, output_nc, nz, dim)
        else:
            self.enc_a = AttributeEncoder(input_nc, output_nc, nz, nef)
            self.gen = Generator(input_nc, output_nc, nz, dim)

        def dis(channels: int) -> nn.Module:
            if dis_scale > 1:
                return MultiScaleDis(channels, dis_scale, ndf, dis_norm, dis_spectral_norm)
            return Dis(channels, ndf, dis_norm, dis_spectral_norm)

        self.dis_a, self.dis_b, self.dis_a2, self.dis_b2 = dis(input_nc), dis(output_nc), dis(input_nc), dis(output_nc)
        self.dis_content = ContentDis(dim, dis_content_n_down)
        for net in (
            self.enc_c,
            self.enc_a,
            self.gen,
            self.dis_a,
            self.dis_b,
            self.dis_a2,
            self.dis_b2,
            self.dis_content,
        ):
            gaussian_weights_init(net)  # the official initialize()
        self.eval_metrics = self.build_eval_metrics(val_metrics, feature_extractor, paired=False)

    # ------------------------------------------------------------------------------------------- players
    def param_groups(self) -> dict[str, list[nn.Module]]:
        return {
            "G": [self.enc_c, self.enc_a, self.gen],
            "D": [self.dis_a, self.dis_a2, self.dis_b, self.dis_b2],
            "D_content": [self.dis_content],
        }

    def configure_optimizers(self):
        optimizers, schedulers = super().configure_optimizers()
        hp, opt_dc = self.hparams, optimizers[2]
        if self.optimizer_factory is None:  # the official lr_dcontent = lr / 2.5
            for group in opt_dc.param_groups:
                group["lr"] = group["initial_lr"] = hp.lr / hp.lr_content_ratio
            for sch in schedulers:
                if sch.optimizer is opt_dc and hasattr(sch, "base_lrs"):
                    sch.base_lrs = [hp.lr / hp.lr_content_ratio for _ in sch.base_lrs]

        def clip(optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
            params = [p for g in optimizer.param_groups for p in g["params"] if p.grad is not None]
            nn.utils.clip_grad_norm_(params, hp.clip_content)  # official: clip_grad_norm_(disContent, 5)

        opt_dc.register_step_pre_hook(clip)
        return optimizers, schedulers

    # ----------------------------------------------------------------------------------------- inference
    def inference_conditions(self) -> dict[str, Condition]:
        hp = self.hparams
        return {
            "direction": Condition(
                "choice", "a2b: G_B(E^c_A(x), z) (A→B), b2a: G_A(E^c_B(x), z) (B→A)", choices=("a2b", "b2a"),
                default="a2b",
            ),
            "z": Condition("code", "attribute code z; missing: sampled from N(0, I) per call (official test.py)",
                           dim=hp.nz),
            "style": Condition(
                "image", "an exemplar of the target domain: its attribute E^a(style) (official test_transfer.py)",
                channels=hp.output_nc,
            ),
        }  # fmt: skip

    def inference_spec(self, **conditions: Any) -> InferenceSpec:
        """``RandomAttributeTranslator`` called as ``module(image, z)``; with ``style``, ``module(image, style)``."""
        conditions = self.check_conditions(conditions)
        direction = conditions.get("direction", "a2b")
        channels = int(self.hparams.input_nc if direction == "a2b" else self.hparams.output_nc)
        if "style" in conditions:
            module: nn.Module = ExampleGuidedTranslator(self.enc_c, self.enc_a, self.gen, direction)
            extra = {"style": conditions["style"][:1]}
        else:
            z = conditions.get("z")
            device = next(self.parameters()).device
            extra = {"z": z[:1] if z is not None else torch.randn(1, self.hparams.nz, device=device)}
            module = RandomAttributeTranslator(self.enc_c, self.gen, direction)
        return InferenceSpec(module, channels, 4, extra)

    def sample_z(self, n: int, like: torch.Tensor) -> torch.Tensor:
        """z ~ N(0, I), (n, nz): the attribute prior."""
        return torch.randn(n, self.hparams.nz, device=like.device, dtype=like.dtype)

    def encode_attr(self, x: torch.Tensor, domain: str) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(μ, log σ²) of domain ``domain``'s attribute encoder (concat), or (z^a, None) (``concat=False``)."""
        out = self.enc_a.forward_a(x) if domain == "a" else self.enc_a.forward_b(x)
        return out if isinstance(out, tuple) else (out, None)

    @staticmethod
    def reparameterize(mu: torch.Tensor, logvar: torch.Tensor | None) -> torch.Tensor:
        """z^a = μ + σ·ε, ε ~ N(0, I) (concat); ``concat=False``: the code itself (``logvar`` None)."""
        return mu if logvar is None else mu + torch.randn_like(mu) * (0.5 * logvar).exp()

    def forward(
        self,
        x: torch.Tensor,
        z: torch.Tensor | None = None,
        style: torch.Tensor | None = None,
        direction: Literal["a2b", "b2a"] = "a2b",
    ) -> torch.Tensor:
        """Translate x (N, C, H, W): A→B = G_B(E^c_A(x), z) (``b2a``: G_A(E^c_B(x), z)) with z = ``z`` (N or 1, nz),
        z = E^a of exemplars ``style`` of the target domain (N or 1, C, H', W'; concat: the mean μ), or z ~ N(0, I)
        drawn anew at every call (one per image)."""
        if direction not in ("a2b", "b2a"):
            raise ValueError(f"direction must be 'a2b' or 'b2a', got {direction!r}")
        if z is not None and style is not None:
            raise ValueError("give z or style, not both")
        if style is not None:
            return ExampleGuidedTranslator(self.enc_c, self.enc_a, self.gen, direction)(x, style)
        if z is None:
            z = self.sample_z(x.shape[0], x)
        return RandomAttributeTranslator(self.enc_c, self.gen, direction)(x, z)

    # ------------------------------------------------------------------------------------------ training
    def _log_losses(self, losses: dict[str, torch.Tensor]) -> None:
        self.log_dict(
            {f"train/{k}": v.detach() for k, v in losses.items()}, on_step=True, on_epoch=True,
            batch_size=self._batch_size, sync_dist=self.trainer.world_size > 1,
        )  # fmt: skip

    def _full_iteration(self, batch_idx: int) -> bool:
        """The official schedule: a full iteration when (it + 1) % d_iter == 0 or in the last two batches."""
        d_iter = self.hparams.d_iter
        n = self._trainer.num_training_batches if self._trainer is not None else math.inf
        return (batch_idx + 1) % d_iter == 0 or (math.isfinite(n) and batch_idx >= n - 2)

    def _content_d_losses(self, c_a: torch.Tensor, c_b: torch.Tensor) -> dict[str, torch.Tensor]:
        # L^content_adv (Eq. 1), D^c's side: domain B's content codes are "real", A's "fake".
        out_a, out_b = self.dis_content(c_a.detach()), self.dis_content(c_b.detach())
        return {"d_content": _bce(out_b, 1.0) + _bce(out_a, 0.0)}

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        hp = self.hparams
        opt_g, opt_d, opt_dc = self.optimizers()
        real_a, real_b = batch["A"], batch["B"]  # (N, input_nc, H, W), (N, output_nc, H, W)
        half = max(1, real_a.shape[0] // 2)
        a_enc, b_enc = real_a[:half], real_b[:half]  # encoded-attribute path and the cross cycle
        a_rand = real_a[half:] if real_a.shape[0] > 1 else real_a  # real images for dis_a2 / dis_b2
        b_rand = real_b[half:] if real_b.shape[0] > 1 else real_b

        if not self._full_iteration(batch_idx):  # official update_D_content
            with torch.no_grad():
                c_a, c_b = self.enc_c.forward_a(a_enc), self.enc_c.forward_b(b_enc)
            with self.toggled_optimizer(opt_dc):
                self._step(opt_dc, self._content_d_losses(c_a, c_b))
            return

        # Official forward(): content and attribute codes of the first half.
        c_a, c_b = self.enc_c.forward_a(a_enc), self.enc_c.forward_b(b_enc)  # (n, 4·ngf, H/4, W/4)
        mu_a, logvar_a = self.encode_attr(a_enc, "a")
        mu_b, logvar_b = self.encode_attr(b_enc, "b")
        z_a, z_b = self.reparameterize(mu_a, logvar_a), self.reparameterize(mu_b, logvar_b)
        n = c_a.shape[0]
        z_r1 = self.sample_z(n, c_a)
        codes = [z_r1, self.sample_z(n, c_a)] if hp.mode_seeking else [z_r1]
        k = len(codes)
        # One generator call per domain: [cross translation, self reconstruction, random code(s)].
        out_a = self.gen.forward_a(torch.cat([c_b, c_a, *[c_b] * k]), torch.cat([z_a, z_a, *codes]))
        out_b = self.gen.forward_b(torch.cat([c_a, c_b, *[c_a] * k]), torch.cat([z_b, z_b, *codes]))
        fake_a, fake_aa, *fake_a_rand = out_a.split(n)  # fake_a = G_A(z^c_b, z^a_a): content of b, attribute of a
        fake_b, fake_bb, *fake_b_rand = out_b.split(n)
        # Second cross translation (Eq. 3-4): encode the translations, swap back.
        c_b_rec, c_a_rec = self.enc_c.forward_a(fake_a), self.enc_c.forward_b(fake_b)
        mu_a_rec, logvar_a_rec = self.encode_attr(fake_a, "a")
        mu_b_rec, logvar_b_rec = self.encode_attr(fake_b, "b")
        z_a_rec, z_b_rec = self.reparameterize(mu_a_rec, logvar_a_rec), self.reparameterize(mu_b_rec, logvar_b_rec)
        fake_a_recon = self.gen.forward_a(c_a_rec, z_a_rec)
        fake_b_recon = self.gen.forward_b(c_b_rec, z_b_rec)
        # Latent regression: E^a of the random translations (concat: the mean μ).
        mu2_a, _ = self.encode_attr(fake_a_rand[0], "a")
        mu2_b, _ = self.encode_attr(fake_b_rand[0], "b")

        # Official update_D: the domain discriminators (L^domain_adv, Eq. 5) and D^c (Eq. 1).
        with self.toggled_optimizer(opt_d):
            d_losses = {
                "d_a": _bce(self.dis_a(a_enc), 1.0) + _bce(self.dis_a(fake_a.detach()), 0.0),
                "d_b": _bce(self.dis_b(b_enc), 1.0) + _bce(self.dis_b(fake_b.detach()), 0.0),
                # One term per random code, each with the real images (the official backward_D per fake).
                "d_a2": sum(_bce(self.dis_a2(a_rand), 1.0) + _bce(self.dis_a2(f.detach()), 0.0) for f in fake_a_rand),
                "d_b2": sum(_bce(self.dis_b2(b_rand), 1.0) + _bce(self.dis_b2(f.detach()), 0.0) for f in fake_b_rand),
            }
            self._step(opt_d, d_losses)
        with self.toggled_optimizer(opt_dc):
            self._step(opt_dc, self._content_d_losses(c_a, c_b))

        with self.toggled_optimizer(opt_g):
            # Official backward_G_alone (enc_c and gen only): GAN on the random translations, latent regression, L_ms.
            alone = {
                "g_adv_a2": sum(_bce(self.dis_a2(f), 1.0) for f in fake_a_rand),
                "g_adv_b2": sum(_bce(self.dis_b2(f), 1.0) for f in fake_b_rand),
                "g_latent_a": hp.lambda_latent * (mu2_a - z_r1).abs().mean(),
                "g_latent_b": hp.lambda_latent * (mu2_b - z_r1).abs().mean(),
            }
            if hp.mode_seeking:  # L_ms (§3.5): 1 / (mean|G(c, z1) − G(c, z2)| / mean|z1 − z2| + ε)
                dz = (codes[1] - codes[0]).abs().mean()
                lz_ab = (fake_b_rand[1] - fake_b_rand[0]).abs().mean() / dz
                lz_ba = (fake_a_rand[1] - fake_a_rand[0]).abs().mean() / dz
                alone["g_ms_ab"] = hp.lambda_ms / (lz_ab + 1e-5)
                alone["g_ms_ba"] = hp.lambda_ms / (lz_ba + 1e-5)
            alone_total = torch.stack([v.float() for v in alone.values()]).sum()
            if not bool(torch.isfinite(alone_total.detach())):
                self._stop_diverged(alone, alone_total)
            opt_g.zero_grad(set_to_none=True)
            self.manual_backward(alone_total, retain_graph=True)
            second = [p for m in (self.enc_c, self.gen) for p in m.parameters()]
            alone_grads = [p.grad for p in second]

            # Official backward_EG (enc_c, enc_a, gen).
            if hp.concat:  # KL(N(μ, σ²) ‖ N(0, I)), summed as the official code
                kl_a = -0.5 * torch.sum(1 + logvar_a - mu_a.pow(2) - logvar_a.exp())
                kl_b = -0.5 * torch.sum(1 + logvar_b - mu_b.pow(2) - logvar_b.exp())
            else:
                kl_a, kl_b = z_a.pow(2).mean(), z_b.pow(2).mean()
            g_losses = {
                "g_content_a": _bce(self.dis_content(c_a), 0.5),  # Eq. (1), the encoders' side
                "g_content_b": _bce(self.dis_content(c_b), 0.5),
                "g_adv_a": _bce(self.dis_a(fake_a), 1.0),  # Eq. (5)
                "g_adv_b": _bce(self.dis_b(fake_b), 1.0),
                "g_recon_a": hp.lambda_recon * F.l1_loss(fake_aa, a_enc),  # self-reconstruction
                "g_recon_b": hp.lambda_recon * F.l1_loss(fake_bb, b_enc),
                "g_cc_a": hp.lambda_cc * F.l1_loss(fake_a_recon, a_enc),  # cross-cycle consistency, Eq. (3-4)
                "g_cc_b": hp.lambda_cc * F.l1_loss(fake_b_recon, b_enc),
                "g_kl_attr_a": hp.lambda_kl_attr * kl_a,
                "g_kl_attr_b": hp.lambda_kl_attr * kl_b,
                "g_kl_content_a": hp.lambda_kl_content * c_a.pow(2).mean(),
                "g_kl_content_b": hp.lambda_kl_content * c_b.pow(2).mean(),
            }
            self._step(opt_g, g_losses)
            # Official update_EG, second part: enc_c and gen step again (enc_a has no gradient: Adam skips it).
            opt_g.zero_grad(set_to_none=True)
            for p, g in zip(second, alone_grads):
                p.grad = g
            opt_g.step()
            opt_g.zero_grad(set_to_none=True)
            self._log_losses(alone)

    # ------------------------------------------------------------------------------------------- visuals
    @torch.no_grad()
    def visuals(self, batch: dict[str, Any]) -> list[list[torch.Tensor]]:
        """Per domain (the official display): x | translation with the other image's attribute | two random
        attributes | self-reconstruction."""
        real_a, real_b = batch["A"], batch["B"]
        n = min(real_a.shape[0], real_b.shape[0])
        real_a, real_b = real_a[:n], real_b[:n]
        c_a, c_b = self.enc_c.forward_a(real_a), self.enc_c.forward_b(real_b)
        z_a, z_b = self.encode_attr(real_a, "a")[0], self.encode_attr(real_b, "b")[0]
        rows = []
        for real, c, own_z, other_z, own, other in (
            (real_a, c_a, z_a, z_b, self.gen.forward_a, self.gen.forward_b),
            (real_b, c_b, z_b, z_a, self.gen.forward_b, self.gen.forward_a),
        ):
            rows.append(
                [real, other(c, other_z), other(c, self.sample_z(n, c)), other(c, self.sample_z(n, c)), own(c, own_z)]
            )
        return rows

    # ---------------------------------------------------------------------------------------- evaluation
    def eval_step(self, batch: dict[str, Any], stage: str) -> None:
        """val/cyc_a, val/cyc_b: L1 of the cross cycle x → G_B(E^c_A(x), z) → G_A(E^c_B(·), E^a_A(x)) with z ~ N(0,
        I) (attribute means), and the metrics of A→B with a random attribute per image against real B."""
        real_a, real_b = batch["A"], batch["B"]
        fake_b, fake_a = self(real_a), self(real_b, direction="b2a")
        cyc_a = self.gen.forward_a(self.enc_c.forward_b(fake_b), self.encode_attr(real_a, "a")[0])
        cyc_b = self.gen.forward_b(self.enc_c.forward_a(fake_a), self.encode_attr(real_b, "b")[0])
        self.log(f"{stage}/cyc_a", F.l1_loss(cyc_a, real_a), prog_bar=True, batch_size=len(real_a), sync_dist=True)
        self.log(f"{stage}/cyc_b", F.l1_loss(cyc_b, real_b), batch_size=len(real_b), sync_dist=True)
        self.update_eval_metrics(fake_b, real_b, batch)

    # ---------------------------------------------------------------------------------- official weights
    @classmethod
    def official_to_ours(cls, name: str, state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The official keys; spectral-normed convs: the official ``(weight_orig, weight, weight_u)`` become PyTorch's
        ``(weight_orig, weight_u, weight_v)``, v chosen so that u·W·v is the official σ = W / weight."""
        out = dict(state_dict)
        for key in [k for k in state_dict if k.endswith(".weight_orig")]:
            prefix = key[: -len("weight_orig")]
            w, u = state_dict[key], state_dict[prefix + "weight_u"]
            sigma = (w.flatten() @ w.flatten()) / (w.flatten() @ state_dict[prefix + "weight"].flatten())
            mat = w.flatten(1)  # the discriminators' convs (spectral norm over dim 0)
            v = F.normalize(mat.t() @ u, dim=0)
            out[prefix + "weight_v"] = v * sigma / (u @ mat @ v)
            del out[prefix + "weight"]
        return out

    @classmethod
    def ours_to_official(cls, name: str, state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Our keys with PyTorch's spectral-norm ``weight_v`` replaced by the official normalised ``weight``."""
        out = dict(state_dict)
        for key in [k for k in state_dict if k.endswith(".weight_v")]:
            prefix = key[: -len("weight_v")]
            w, u, v = state_dict[prefix + "weight_orig"], state_dict[prefix + "weight_u"], state_dict[key]
            out[prefix + "weight"] = w / (u @ w.flatten(1) @ v)
            del out[key]
        return out

    @classmethod
    def from_official_file(cls, checkpoint: str | os.PathLike | Mapping[str, Any], **options: Any) -> DRIT:
        """The model from an official checkpoint (``example.pth``, ``<ep>.pth``, ``last.pth`` of the official saver:
        the networks' state dicts next to optimiser states and counters), read with ``weights_only=True``, in eval
        mode; options not given are read from the weights.

        Raises:
            translation_zoo.hub.OfficialWeightsError: a file without DRIT networks, or weights that do not fit.
            FileNotFoundError: a missing file.
        """
        from ..hub import OfficialWeightsError, from_official

        if isinstance(checkpoint, Mapping):
            obj: Any = checkpoint
        else:
            if not os.path.isfile(checkpoint):
                raise FileNotFoundError(f"checkpoint {checkpoint} does not exist")
            obj = torch.load(checkpoint, map_location="cpu", weights_only=True)
        if not isinstance(obj, Mapping):
            raise OfficialWeightsError(f"{checkpoint}: expected the official DRIT dict, got {type(obj).__name__}")
        nets = {k: obj[k] for k in cls.official_networks if k in obj}
        if not nets:
            raise OfficialWeightsError(
                f"no DRIT networks in the checkpoint (expected {list(cls.official_networks)}, found {list(obj)[:8]})"
            )
        return from_official("drit", **nets, **options)

    @classmethod
    def official_options(cls, state: dict[str, dict[str, torch.Tensor]], hparams: dict[str, Any]) -> dict[str, Any]:
        from ..hub import Evidence, OfficialWeightsError, merge_evidence

        evidence: dict[str, Evidence] = {}
        if "enc_c" in state:
            sd, ev = state["enc_c"], Evidence()
            if "convA.0.model.1.weight" not in sd:
                raise OfficialWeightsError("enc_c: not a DRIT E_content (no convA.0.model.1.weight)")
            for key, channels in (("convA.0.model.1.weight", "input_nc"), ("convB.0.model.1.weight", "output_nc")):
                ev.add(channels, sd[key].shape[1], f"{key} takes {sd[key].shape[1]} channels")
            ev.add("ngf", sd["convA.0.model.1.weight"].shape[0], "convA.0.model.1.weight's filters")
            evidence["enc_c"] = ev
        if "enc_a" in state:
            sd, ev = state["enc_a"], Evidence()
            if "fc_A.0.weight" in sd:
                ev.add("concat", True, "E_attr_concat keys (fc_A)")
                ev.add("nz", sd["fc_A.0.weight"].shape[0], "fc_A.0.weight's outputs")
                first = ("conv_A.1.weight", "conv_B.1.weight")
            elif "model_a.16.weight" in sd:
                ev.add("concat", False, "E_attr keys (model_a)")
                ev.add("nz", sd["model_a.16.weight"].shape[0], "model_a.16.weight's outputs")
                first = ("model_a.1.weight", "model_b.1.weight")
            else:
                raise OfficialWeightsError("enc_a: neither E_attr_concat (fc_A) nor E_attr (model_a)")
            ev.add("nef", sd[first[0]].shape[0], f"{first[0]}'s filters")
            ev.add("input_nc", sd[first[0]].shape[1], f"{first[0]} takes {sd[first[0]].shape[1]} channels")
            ev.add("output_nc", sd[first[1]].shape[1], f"{first[1]} takes {sd[first[1]].shape[1]} channels")
            evidence["enc_a"] = ev
        if "gen" in state:
            sd, ev = state["gen"], Evidence()
            if "dec_share.0.model.1.weight" in sd:
                ev.add("concat", True, "G_concat keys (dec_share)")
                dim = sd["dec_share.0.model.1.weight"].shape[0]
                ev.add("nz", sd["decA1.0.model.1.weight"].shape[0] - dim, "decA1 width − content width")
                last = ("decA4.0.weight", "decB4.0.weight")
            elif "mlpA.0.weight" in sd:
                ev.add("concat", False, "G keys (mlpA)")
                ev.add("nz", sd["mlpA.0.weight"].shape[1], "mlpA.0.weight's inputs")
                dim = sd["mlpA.0.weight"].shape[0]
                last = ("decA5.2.weight", "decB5.2.weight")
            else:
                raise OfficialWeightsError("gen: neither G_concat (dec_share) nor G (mlpA)")
            ev.add("ngf", dim // 4, f"content width {dim} = 4·ngf")
            ev.add("input_nc", sd[last[0]].shape[1], f"{last[0]} gives {sd[last[0]].shape[1]} channels")
            ev.add("output_nc", sd[last[1]].shape[1], f"{last[1]} gives {sd[last[1]].shape[1]} channels")
            evidence["gen"] = ev
        for name, channels in (
            ("disA", "input_nc"),
            ("disB", "output_nc"),
            ("disA2", "input_nc"),
            ("disB2", "output_nc"),
        ):
            if name not in state:
                continue
            sd, ev = state[name], Evidence()
            sn = any(k.endswith("weight_orig") for k in sd)
            w = "weight_orig" if sn else "weight"
            ev.add("dis_spectral_norm", sn, "weight_orig keys" if sn else "plain conv weights")
            if f"Diss.0.0.model.1.{w}" in sd:
                ev.add("dis_scale", len({k.split(".")[1] for k in sd}), "nets in Diss")
                first = sd[f"Diss.0.0.model.1.{w}"]
            elif f"model.0.model.1.{w}" in sd:
                ev.add("dis_scale", 1, "the single-scale Dis")
                first = sd[f"model.0.model.1.{w}"]
            else:
                raise OfficialWeightsError(f"{name}: neither MultiScaleDis (Diss) nor Dis (model)")
            ev.add("ndf", first.shape[0], "the first conv's filters")
            ev.add(channels, first.shape[1], f"the first conv takes {first.shape[1]} channels")
            evidence[name] = ev
        if "disContent" in state:
            sd, ev = state["disContent"], Evidence()
            stages = {int(k.split(".")[1]) for k in sd if k.startswith("model.")}
            ev.add("dis_content_n_down", max(stages) - 1, f"disContent.model has {max(stages) + 1} stages")
            evidence["disContent"] = ev
        return merge_evidence(evidence, hparams)


__all__ = [
    "DRIT",
    "AttributeEncoder",
    "AttributeEncoderConcat",
    "ContentDis",
    "ContentEncoder",
    "Dis",
    "Generator",
    "GeneratorConcat",
    "MultiScaleDis",
]
