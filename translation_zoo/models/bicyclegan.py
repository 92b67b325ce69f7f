"""BicycleGAN: Toward Multimodal Image-to-Image Translation.

Zhu, Zhang, Pathak, Darrell, Efros, Wang, Shechtman. NeurIPS 2017. arXiv:1711.11586
Reference code: junyanz/BicycleGAN (``models/bicycle_gan_model.py``, ``models/networks.py``, ``--model bicycle_gan``).

One input A, many plausible outputs B: a generator G(A, z) takes a latent code z (``nz`` = 8) besides the image, and
two cycles tie z to the output (§3):

* cVAE-GAN (B → z → B̂, §3.2): an encoder E maps the real B to a Gaussian q(z|B); G reconstructs B from A and a sample
  of it (L1, weight λ = ``lambda_l1``); a KL term pulls q(z|B) towards N(0, I) (``lambda_kl``); a discriminator D
  judges G(A, E(B)) (``lambda_gan``).
* cLR-GAN (z → B̂ → ẑ, §3.3): G turns a random z ~ N(0, I) into an output judged by a second discriminator D2
  (``lambda_gan2``), and E must recover z from it, L1 on the encoder mean (``lambda_z``, λ_latent).
* BicycleGAN (§3.4) trains both at once: the hybrid objective sums the five terms.

Networks (official defaults): G = U-Net 256 (8 down-samplings) with z tiled and concatenated to the input of every
down-sampling conv (``where_add="all"``; ``"input"``: to the image only), transposed-conv up-sampling, ReLU in the
decoder, instance norm (no affine parameters, no statistics), no dropout unless asked (the official training scripts
pass ``--use_dropout``); E = ResNet encoder for 256x256 images (``resnet_256``: a stride-2 conv, four residual
down-sampling blocks, 8x8 average pooling, linear heads for μ and log σ²) or the plain conv encoder (``conv_256``);
D and D2 = two-scale PatchGANs (``basic_256_multi``: a 70x70 PatchGAN on the image and one with half the filters on
the image average-pooled to half size), judging B alone (``conditional_D=False``). Every conv carries a bias (the
official BicycleGAN networks have no ``use_bias`` rule); Xavier-normal init with gain 0.02.

Training step (official ``optimize_parameters``): each batch (size 2) is split in halves. The first half (A₁, B₁)
drives both branches: z_enc = μ + σ·ε from E(B₁), fake_enc = G(A₁, z_enc), fake_rand = G(A₁, z) with z ~ N(0, I).
The second half only supplies D2's real images (B₂; or (A₂, B₂) with ``conditional_D``). G and E are updated first
with the five terms, where the latent regression ||E(G(A₁, z)) − z||₁ reaches G only ("we only update G for the
L1 latent loss", §3.4 implementation details; E's weights are held fixed for that term); then D on
(B₁, fake_enc) and D2 on (B₂, fake_rand), with the fakes computed before the G step. LSGAN; D losses not halved;
losses of the two scales summed; KL summed over the code and averaged over the batch (see Deviations).
Adam(2e-4, β = (0.5, 0.999)); 100 epochs + 100 of linear decay by default (edges2shoes: 30 + 30).

Test time (official ``test.py``): networks in eval mode (dropout off), z ~ N(0, I) per sample, or μ of E(B) for an
exemplar ("encoded"); ``--sync`` shares the sequence of codes across inputs (``sync=True`` here).

The paper's ablations (§4, Figs. 5-6) are presets of this class, :meth:`BicycleGAN.preset` (see ``PRESETS``):

=================  =========================================================================================
``pix2pix_noise``  G(A, z) with z ~ N(0, I) trained with L1 + GAN only (no E): the paper's baseline
``cvae_gan``       cVAE-GAN alone: L1 + KL + GAN on G(A, E(B))
``cvae_gan++``     cVAE-GAN + the GAN term on random-z outputs (D2)
``clr_gan``        cLR-GAN alone: GAN on G(A, z) + latent regression on E's mean, which trains E too (§3.3)
``bicyclegan``     the full model (the defaults)
=================  =========================================================================================

Parameter counts (default configuration, 3 → 3 channels; equal to the official networks, pinned in
``tests/test_bicyclegan.py``): G ``unet_256``/``all`` 54,794,627 (``where_add="input"``: 54,417,795); E ``resnet_256``
2,590,032 (``conv_256``: 2,760,656); D and D2 ``basic_256_multi`` 3,458,978 each.

Deviations:

* L_KL is averaged over the batch (the expectation over B in the paper's L_KL, §3.2); the official code sums
  it over the batch. At the official batch size of 2 (one image in the cVAE-GAN half) the two are equal; at larger
  batches the sum multiplies λ_KL by the half-batch size against the (averaged) L1 and GAN terms, which squeezes
  the code towards the prior: on the digits demo (batch 16, 400 batches) the summed KL cut random-z diversity ~5x
  (``benchmarks/bicyclegan_diversity.py``, see ``benchmarks/RESULTS.md``).
* Two optimisers, not four: one Adam over G and E, one over D and D2. Adam works per parameter, so with the
  official shared settings (same lr and betas, stepped together) the updates are identical.
* ``unet_<S>``/``resnet_<S>``/``conv_<S>`` accept any power-of-two size S (log₂S down-samplings; log₂S − 3 encoder
  levels), so 32x32 demo images use the official blocks. ``where_add="all"`` below 64 px uses one innermost block
  fewer than the official constructor would build (which fails at that size anyway).
* ``norm="none"`` keeps an identity layer in the discriminators (the official code crashes there).
* A style image whose size differs from E's input size (``resnet_256``: 256x256) is resized (bilinear) before
  encoding; the official code only encodes at the training size.
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Callable
from typing import Any, ClassVar, Literal

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from ..hub import Evidence, OfficialWeightsError, default_option, merge_evidence
from ..losses import GANLoss
from ..nn import init_weights
from ..weights import Pretrained, WeightsFile
from .base import Condition, InferenceSpec, TranslationGAN

NormFactory = Callable[[int], nn.Module] | None

# Released weights: ``pretrained_models/download_model.sh <name>`` of junyanz/BicycleGAN fetches G and E (the double
# slash is the script's). The test scripts (``scripts/test_<name>.sh``) run them with the default options except
# ``--input_nc`` and the image size; ``maps`` is tested at 512x512 with ``--no_encode`` (the unet_256 G is fully
# convolutional; E, trained at 256x256, is not used there).
_RELEASE_URL = "http://efrosgans.eecs.berkeley.edu/BicycleGAN//models/{}_net_{}.pth"
_RELEASE_OPTIONS = {"netG": "unet_256", "netE": "resnet_256", "nz": 8, "ngf": 64, "nef": 64, "where_add": "all"}
# name: (source, target, input_nc, size, official test direction, note)
_RELEASES: dict[str, tuple[str, str, int, int, str, str]] = {
    "edges2shoes": ("shoe edge map", "shoe photo", 1, 256, "AtoB", ""),
    "edges2handbags": ("handbag edge map", "handbag photo", 1, 256, "AtoB", ""),
    "night2day": ("night photo", "day photo", 3, 256, "AtoB", ""),
    "facades": ("facade label map", "facade photo", 3, 256, "BtoA", ""),
    "maps": (
        "map",
        "aerial photo",
        3,
        512,
        "BtoA",
        "The official test runs it at 512x512 without an encoded output (--no_encode); style= resizes the "
        "exemplar to E's 256x256.",
    ),
}
_LICENCE = (
    "BSD (two-clause text; LICENSE of junyanz/BicycleGAN, (c) 2017 Jun-Yan Zhu, Richard Zhang and Deepak Pathak); "
    "the authors state no separate terms for the weights; the training data keep their own terms"
)


# ---------------------------------------------------------------------------------------------- building blocks
def norm_factory(norm: str) -> NormFactory:
    """The official BicycleGAN ``get_norm_layer``: ``None`` for ``none`` (the layer is left out, shifting indices)."""
    if norm == "batch":
        return lambda c: nn.BatchNorm2d(c, affine=True, track_running_stats=True)
    if norm == "instance":
        return lambda c: nn.InstanceNorm2d(c, affine=False, track_running_stats=False)
    if norm == "none":
        return None
    raise ValueError(f"norm must be 'batch', 'instance' or 'none', got {norm!r}")


def nonlinearity(nl: str) -> Callable[[], nn.Module]:
    """In-place ReLU / LeakyReLU(0.2) / ELU, as the official ``get_non_linearity``."""
    if nl == "relu":
        return lambda: nn.ReLU(inplace=True)
    if nl == "lrelu":
        return lambda: nn.LeakyReLU(0.2, inplace=True)
    if nl == "elu":
        return lambda: nn.ELU(inplace=True)
    raise ValueError(f"nl must be 'relu', 'lrelu' or 'elu', got {nl!r}")


def upsampling(in_nc: int, out_nc: int, upsample: str) -> list[nn.Module]:
    """×2 up-sampling: a 4x4 stride-2 transposed conv (``basic``) or bilinear resize + reflect-padded 3x3 conv."""
    if upsample == "basic":
        return [nn.ConvTranspose2d(in_nc, out_nc, kernel_size=4, stride=2, padding=1)]
    if upsample == "bilinear":
        return [
            nn.Upsample(scale_factor=2, mode="bilinear"),
            nn.ReflectionPad2d(1),
            nn.Conv2d(in_nc, out_nc, kernel_size=3, stride=1, padding=0),
        ]
    raise ValueError(f"upsample must be 'basic' or 'bilinear', got {upsample!r}")


def tile(z: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """z (N, nz) as a constant (N, nz, H, W) map the size of ``like``."""
    return z.view(z.shape[0], z.shape[1], 1, 1).expand(z.shape[0], z.shape[1], like.shape[2], like.shape[3])


def size_from_name(name: str, prefix: str, minimum: int) -> int:
    """``"unet_256"`` -> 256 (a power of two ≥ ``minimum``)."""
    m = re.fullmatch(re.escape(prefix) + r"_(\d+)", name)
    size = int(m.group(1)) if m else 0
    if size < minimum or size & (size - 1):
        raise ValueError(f"expected {prefix}_<S> with S a power of two >= {minimum} (e.g. {prefix}_256), got {name!r}")
    return size


class UnetBlock(nn.Module):
    """One U-Net level of ``where_add="input"`` (official ``UnetBlock``): z enters with the image only.

    ``model`` holds [LeakyReLU, down conv, norm, inner levels, ReLU, up-sampling, norm, dropout] (the outermost level
    has no activation/norm before its conv and ends in tanh; the innermost has no inner levels). Inner levels return
    ``cat(model(x), x)``; as in the official code the in-place LeakyReLU that opens ``model`` has already turned x
    into LeakyReLU(x) when the skip connection reads it.
    """

    def __init__(
        self,
        input_nc: int,
        outer_nc: int,
        inner_nc: int,
        submodule: nn.Module | None,
        norm: NormFactory,
        nl: Callable[[], nn.Module],
        upsample: str,
        outermost: bool = False,
        innermost: bool = False,
        use_dropout: bool = False,
    ) -> None:
        super().__init__()
        self.outermost = outermost
        down_conv = nn.Conv2d(input_nc, inner_nc, kernel_size=4, stride=2, padding=1)
        if outermost:
            layers = [down_conv, submodule, nl(), *upsampling(2 * inner_nc, outer_nc, upsample), nn.Tanh()]
        elif innermost:
            layers = [nn.LeakyReLU(0.2, inplace=True), down_conv, nl(), *upsampling(inner_nc, outer_nc, upsample)]
            layers += [norm(outer_nc)] if norm else []
        else:
            layers = [nn.LeakyReLU(0.2, inplace=True), down_conv, *([norm(inner_nc)] if norm else []), submodule]
            layers += [nl(), *upsampling(2 * inner_nc, outer_nc, upsample), *([norm(outer_nc)] if norm else [])]
            layers += [nn.Dropout(0.5)] if use_dropout else []
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.outermost:
            return self.model(x)
        y = self.model(x)  # rewrites x in place: the skip carries LeakyReLU(x), as officially
        return torch.cat([y, x], 1)


class UnetBlockWithZ(nn.Module):
    """One U-Net level of ``where_add="all"`` (official ``UnetBlock_with_z``): z is tiled and concatenated to the
    input of its down-sampling conv. ``down`` = [LeakyReLU, conv, norm], ``up`` = [ReLU, up-sampling, norm, dropout]
    (outermost: ``down`` = [conv], ``up`` ends in tanh). The skip connection carries the block's input x."""

    def __init__(
        self,
        input_nc: int,
        outer_nc: int,
        inner_nc: int,
        nz: int,
        submodule: nn.Module | None,
        norm: NormFactory,
        nl: Callable[[], nn.Module],
        upsample: str,
        outermost: bool = False,
        innermost: bool = False,
        use_dropout: bool = False,
    ) -> None:
        super().__init__()
        self.outermost, self.nz = outermost, nz
        down_conv = nn.Conv2d(input_nc + nz, inner_nc, kernel_size=4, stride=2, padding=1)
        if outermost:
            down = [down_conv]
            up = [nl(), *upsampling(2 * inner_nc, outer_nc, upsample), nn.Tanh()]
        elif innermost:
            down = [nn.LeakyReLU(0.2, inplace=True), down_conv]
            up = [nl(), *upsampling(inner_nc, outer_nc, upsample), *([norm(outer_nc)] if norm else [])]
        else:
            down = [nn.LeakyReLU(0.2, inplace=True), down_conv, *([norm(inner_nc)] if norm else [])]
            up = [nl(), *upsampling(2 * inner_nc, outer_nc, upsample), *([norm(outer_nc)] if norm else [])]
            up += [nn.Dropout(0.5)] if use_dropout else []
        self.down = nn.Sequential(*down)
        self.submodule = submodule
        self.up = nn.Sequential(*up)

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        # A new tensor: the in-place LeakyReLU in ``down`` leaves x (the skip) untouched.
        xz = torch.cat([x, tile(z, x)], 1) if self.nz > 0 else x
        h = self.down(xz)
        y = self.up(h if self.submodule is None else self.submodule(h, z))
        return y if self.outermost else torch.cat([y, x], 1)


class UnetGeneratorZ(nn.Module):
    """G(A, z): the official ``G_Unet_add_input`` (``where_add="input"``) or ``G_Unet_add_all`` (``"all"``).

    ``num_downs`` levels (8 for 256x256: the innermost reaches 1x1); filters ngf, 2ngf, 4ngf, then 8ngf; dropout in
    the ``num_downs - 5`` 8ngf levels above the innermost when ``use_dropout``.
    """

    def __init__(
        self,
        input_nc: int,
        output_nc: int,
        nz: int,
        num_downs: int,
        ngf: int = 64,
        norm: str = "instance",
        nl: str = "relu",
        use_dropout: bool = False,
        upsample: str = "basic",
        where_add: str = "all",
    ) -> None:
        super().__init__()
        if where_add not in ("input", "all"):
            raise ValueError(f"where_add must be 'input' or 'all', got {where_add!r}")
        if num_downs < 5:
            raise ValueError(f"the U-Net needs at least 5 down-samplings, got {num_downs}")
        self.nz, self.num_downs = nz, num_downs
        self.where_add = where_add = "input" if nz == 0 else where_add  # as the official define_G
        n, act = norm_factory(norm), nonlinearity(nl)
        if where_add == "input":

            def level(i, o, inner, sub, **kw):
                return UnetBlock(i, o, inner, sub, n, act, upsample, **kw)
        else:

            def level(i, o, inner, sub, **kw):
                return UnetBlockWithZ(i, o, inner, nz, sub, n, act, upsample, **kw)

        block = level(8 * ngf, 8 * ngf, 8 * ngf, None, innermost=True)
        for _ in range(num_downs - 5):
            block = level(8 * ngf, 8 * ngf, 8 * ngf, block, use_dropout=use_dropout)
        for mult in (4, 2, 1):
            block = level(mult * ngf, mult * ngf, 2 * mult * ngf, block)
        first_in = input_nc + nz if where_add == "input" else input_nc
        self.model = level(first_in, output_nc, ngf, block, outermost=True)

    @property
    def size_multiple(self) -> int:
        """Height and width must be multiples of this (every level halves the image)."""
        return 2**self.num_downs

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """x (N, input_nc, H, W) in [-1, 1], z (N, nz) -> (N, output_nc, H, W) in [-1, 1]."""
        if self.where_add == "input":
            return self.model(torch.cat([x, tile(z, x)], 1) if self.nz > 0 else x)
        return self.model(x, z)


class EncoderBlock(nn.Module):
    """Residual down-sampling block of E (official ``BasicBlock``): [norm, act, conv3x3, norm, act, conv3x3 + avg
    pool] + [avg pool, conv1x1]."""

    def __init__(self, in_nc: int, out_nc: int, norm: NormFactory, nl: Callable[[], nn.Module]) -> None:
        super().__init__()
        layers = [*([norm(in_nc)] if norm else []), nl(), nn.Conv2d(in_nc, in_nc, 3, 1, 1)]
        layers += [*([norm(in_nc)] if norm else []), nl()]
        layers += [nn.Sequential(nn.Conv2d(in_nc, out_nc, 3, 1, 1), nn.AvgPool2d(2, 2))]
        self.conv = nn.Sequential(*layers)
        self.shortcut = nn.Sequential(nn.AvgPool2d(2, 2), nn.Conv2d(in_nc, out_nc, 1, 1, 0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Order matters without a norm: the in-place activation then rewrites x before the shortcut reads it.
        y = self.conv(x)
        return y + self.shortcut(x)


class Encoder(nn.Module):
    """E(B) -> (μ, log σ²), each (N, nz): the official ``E_ResNet`` (``resnet_<S>``) or ``E_NLayers`` (``conv_<S>``).

    Both reduce an SxS image to 8x8, average-pool it to one vector and apply two linear heads (``fc``, ``fcVar``).
    ``resnet_<S>``: a 4x4 stride-2 conv (nef) and log₂S − 4 residual blocks (2nef, 3nef, 4nef, 4nef ...).
    ``conv_<S>``: log₂S − 3 stride-2 4x4 convs (nef, 2nef, 4nef, 4nef ...). LeakyReLU(0.2) throughout.
    """

    def __init__(self, input_nc: int, nz: int, nef: int = 64, netE: str = "resnet_256", norm: str = "instance") -> None:
        super().__init__()
        kind = netE.split("_")[0]
        if kind not in ("resnet", "conv"):
            raise ValueError(f"netE must be resnet_<S> or conv_<S> (official: resnet_256, conv_256), got {netE!r}")
        self.input_size = size_from_name(netE, kind, 32)
        levels = int(math.log2(self.input_size)) - 3
        n, act = norm_factory(norm), nonlinearity("lrelu")  # the official define_E always uses LeakyReLU
        if kind == "resnet":
            layers: list[nn.Module] = [nn.Conv2d(input_nc, nef, 4, 2, 1)]
            for i in range(1, levels):
                layers.append(EncoderBlock(nef * min(4, i), nef * min(4, i + 1), n, act))
            width = nef * min(4, levels)
            layers += [act(), nn.AvgPool2d(8)]
        else:
            layers = [nn.Conv2d(input_nc, nef, 4, 2, 1), act()]
            width = nef
            for i in range(1, levels):
                prev, width = width, nef * min(2**i, 4)
                layers += [nn.Conv2d(prev, width, 4, 2, 1), *([n(width)] if n else []), act()]
            layers += [nn.AvgPool2d(8)]
        # Registered in the official order (state-dict order: E_ResNet's heads come first).
        heads = {"fc": nn.Sequential(nn.Linear(width, nz)), "fcVar": nn.Sequential(nn.Linear(width, nz))}
        if kind == "resnet":
            self.fc, self.fcVar = heads["fc"], heads["fcVar"]
            self.conv = nn.Sequential(*layers)
        else:
            self.conv = nn.Sequential(*layers)
            self.fc, self.fcVar = heads["fc"], heads["fcVar"]

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if x.shape[-2:] != (self.input_size, self.input_size):
            raise ValueError(
                f"the encoder takes {self.input_size}x{self.input_size} images (netE ending in _{self.input_size}), "
                f"got {tuple(x.shape[-2:])}: choose netE for the training crop size"
            )
        h = self.conv(x).flatten(1)
        return self.fc(h), self.fcVar(h)


class MultiscaleDiscriminator(nn.Module):
    """``num_D`` PatchGANs (official ``D_NLayersMulti``): scale i sees the input average-pooled i times (3x3,
    stride 2, padding excluded from the mean) and has round(ndf / 2^i) filters. Returns one logit map per scale.

    Each PatchGAN: 4x4 convs, stride 2 for the first ``n_layers``, then a stride-1 conv and a 1-channel stride-1 conv;
    LeakyReLU(0.2); norm after every conv but the first and last; all convs biased.
    """

    def __init__(self, input_nc: int, ndf: int = 64, n_layers: int = 3, norm: str = "instance", num_D: int = 2):
        super().__init__()
        self.num_D = num_D
        make_norm = norm_factory(norm) or (lambda c: nn.Identity())
        if num_D == 1:
            self.model = self._patchgan(input_nc, ndf, n_layers, make_norm)
        else:
            self.model_0 = self._patchgan(input_nc, ndf, n_layers, make_norm)
            self.down = nn.AvgPool2d(3, stride=2, padding=[1, 1], count_include_pad=False)
            for i in range(1, num_D):
                self.add_module(f"model_{i}", self._patchgan(input_nc, int(round(ndf / 2**i)), n_layers, make_norm))

    @staticmethod
    def _patchgan(input_nc: int, ndf: int, n_layers: int, make_norm: Callable[[int], nn.Module]) -> nn.Sequential:
        layers = [nn.Conv2d(input_nc, ndf, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        width = ndf
        for i in range(1, n_layers + 1):
            prev, width = width, ndf * min(2**i, 8)
            stride = 2 if i < n_layers else 1
            layers += [nn.Conv2d(prev, width, 4, stride, 1), make_norm(width), nn.LeakyReLU(0.2, True)]
        layers.append(nn.Conv2d(width, 1, 4, 1, 1))
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        if self.num_D == 1:
            return [self.model(x)]
        out = []
        for i in range(self.num_D):
            out.append(getattr(self, f"model_{i}")(x))
            if i != self.num_D - 1:
                x = self.down(x)
        return out


class StyleGuidedGenerator(nn.Module):
    """G(A, μ(E(style))): the exported network for an exemplar ("encoded" in the official ``test.py``)."""

    def __init__(self, gen: UnetGeneratorZ, encoder: Encoder) -> None:
        super().__init__()
        self.gen, self.encoder = gen, encoder
        self.size_multiple = gen.size_multiple

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        return self.gen(x, encode_mean(self.encoder, style).expand(x.shape[0], -1))


def encode_mean(encoder: Encoder, style: torch.Tensor) -> torch.Tensor:
    """μ of E(style), resizing the style images to the encoder's input size if they differ."""
    size = encoder.input_size
    if style.shape[-2:] != (size, size):
        style = F.interpolate(style, size=(size, size), mode="bilinear", align_corners=False)
    return encoder(style)[0]


# ------------------------------------------------------------------------------------------------------- model
class BicycleGAN(TranslationGAN):
    """Multimodal paired translation with a latent code tied to the output by two cycles (Zhu et al. 2017).

    Args:
        input_nc: channels of A (edges2shoes: 1).
        output_nc: channels of B.
        nz: length of the latent code z (official ``--nz`` 8).
        ngf: generator filters in the first/last level (64).
        ndf: discriminator filters in the first conv of the full-resolution PatchGAN (64).
        nef: encoder filters in its first conv (64).
        netG: ``unet_<S>``: a U-Net for SxS images, log₂S levels (official ``unet_256``, ``unet_128``).
        netD: ``basic_256_multi`` (PatchGANs with 3 stride-2 convs, 70x70 receptive field) or ``basic_128_multi``
            (2 stride-2 convs); ``num_Ds`` scales each.
        netD2: the same for D2 (the cLR-GAN branch's discriminator).
        netE: ``resnet_<S>`` (official ``resnet_256``, ``resnet_128``) or ``conv_<S>``, for SxS images.
        num_Ds: scales per discriminator (2).
        norm: ``instance`` (official), ``batch``, ``none``.
        nl: the generator decoder's activation, ``relu`` (official), ``lrelu``, ``elu``.
        upsample: ``basic`` (transposed conv, official) or ``bilinear`` (resize + 3x3 conv).
        where_add: where z enters G: ``all`` (every down-sampling conv, official) or ``input``.
        use_dropout: dropout 0.5 in the generator's 8ngf decoder levels (official default off; the official
            training scripts turn it on). Off at test time (eval mode), as the official ``test.py``.
        conditional_D: D and D2 judge (A, B) stacked instead of B alone (official default off).
        use_same_D: one discriminator for both branches (no D2).
        gan_mode: ``lsgan`` (official), ``vanilla``, ``hinge``, ``wgangp``.
        lambda_l1: λ, weight of L1^VAE = ||B − G(A, E(B))||₁ (10).
        lambda_kl: λ_KL, weight of KL(q(z|B) || N(0, I)) (0.01).
        lambda_z: λ_latent, weight of L1^latent = ||z − E(G(A, z))||₁ (0.5).
        lambda_gan: weight of the cVAE-GAN branch's adversarial term, D on G(A, E(B)) (1).
        lambda_gan2: weight of the cLR-GAN branch's adversarial term, D2 on G(A, z) (1).
        encode: the reconstruction branch takes z from E(B) (cVAE-GAN); ``False`` samples it from N(0, I), which
            with ``lambda_kl = lambda_z = 0`` is the pix2pix+noise baseline.
        latent_updates_encoder: L1^latent also trains E. Off in BicycleGAN (official: "we only update G"); on for
            cLR-GAN alone, whose objective minimises it over G and E and gives E no other signal.
        sync: at test time, share the codes across inputs (official ``test.py --sync``): one z per forward call for
            the whole batch, and in ``lightning predict`` the same ``num_samples`` codes for every input.
        val_metrics: validation/test metrics of random-z samples (see :class:`~translation_zoo.models.Pix2Pix`).
        feature_extractor: feature space of fid/kid/acc (``digits_mnist`` for the demo; ``inception`` for photos).
        init_type: weight initialisation (official ``xavier`` with gain 0.02).
        n_epochs: epochs at the initial learning rate (official ``--niter`` 100).
        n_epochs_decay: epochs of linear decay (official ``--niter_decay`` 100).
        lr_decay_iters: epochs between steps of the ``step`` policy (official 100).
        **kwargs: optimiser/schedule options of :class:`TranslationGAN` (lr 2e-4, beta1 0.5, ...).
    """

    batch_kind = "paired"
    tiny_config: ClassVar[dict[str, Any]] = {
        "input_nc": 1,
        "output_nc": 1,
        "nz": 4,
        "ngf": 8,
        "ndf": 8,
        "nef": 8,
        "netG": "unet_32",
        "netE": "resnet_32",
        "netD": "basic_128_multi",
        "netD2": "basic_128_multi",
        "use_dropout": True,
    }
    #: The paper's variants (§4): constructor options over the defaults; build one with :meth:`preset`.
    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {
        "bicyclegan": {},
        "cvae_gan": {"lambda_gan2": 0.0, "lambda_z": 0.0},
        "cvae_gan++": {"lambda_z": 0.0},
        "clr_gan": {"lambda_l1": 0.0, "lambda_kl": 0.0, "lambda_gan": 0.0, "latent_updates_encoder": True},
        "pix2pix_noise": {"encode": False, "lambda_kl": 0.0, "lambda_gan2": 0.0, "lambda_z": 0.0},
    }

    # Official weights: ``<epoch>_net_{G,E,D,D2}.pth`` of ``--model bicycle_gan`` (the releases: G and E), key for key.
    official_names = ("bicyclegan", "bicycle_gan")
    official_networks = {"G": "gen", "E": "encoder", "D": "disc", "D2": "disc2"}

    def __init__(
        self,
        input_nc: int = 3,
        output_nc: int = 3,
        nz: int = 8,
        ngf: int = 64,
        ndf: int = 64,
        nef: int = 64,
        netG: str = "unet_256",
        netD: Literal["basic_256_multi", "basic_128_multi"] = "basic_256_multi",
        netD2: Literal["basic_256_multi", "basic_128_multi"] = "basic_256_multi",
        netE: str = "resnet_256",
        num_Ds: int = 2,
        norm: Literal["instance", "batch", "none"] = "instance",
        nl: Literal["relu", "lrelu", "elu"] = "relu",
        upsample: Literal["basic", "bilinear"] = "basic",
        where_add: Literal["all", "input"] = "all",
        use_dropout: bool = False,
        conditional_D: bool = False,
        use_same_D: bool = False,
        gan_mode: Literal["lsgan", "vanilla", "hinge", "wgangp"] = "lsgan",
        lambda_l1: float = 10.0,
        lambda_kl: float = 0.01,
        lambda_z: float = 0.5,
        lambda_gan: float = 1.0,
        lambda_gan2: float = 1.0,
        encode: bool = True,
        latent_updates_encoder: bool = False,
        sync: bool = False,
        val_metrics: list[str] | None = None,
        feature_extractor: str | None = None,
        init_type: Literal["normal", "xavier", "kaiming", "orthogonal"] = "xavier",
        n_epochs: int = 100,
        n_epochs_decay: int = 100,
        lr_decay_iters: int = 100,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            init_type=init_type,
            n_epochs=n_epochs,
            n_epochs_decay=n_epochs_decay,
            lr_decay_iters=lr_decay_iters,
            **kwargs,
        )
        hp = self.hparams
        if nz < 1:
            raise ValueError(f"nz must be >= 1 (the latent code is the point of the model), got {nz}")

        def init(net: nn.Module) -> nn.Module:
            return init_weights(net, hp.init_type, hp.init_gain)

        num_downs = int(math.log2(size_from_name(netG, "unet", 32)))
        self.gen = init(
            UnetGeneratorZ(input_nc, output_nc, nz, num_downs, ngf, norm, nl, use_dropout, upsample, where_add)
        )
        # E is needed to encode B (cVAE-GAN) or to regress z (cLR-GAN); pix2pix+noise has none.
        self.encoder = init(Encoder(output_nc, nz, nef, netE, norm)) if encode or lambda_z > 0 else None
        d_in = input_nc + output_nc if conditional_D else output_nc

        def discriminator(name: str) -> MultiscaleDiscriminator:
            return init(
                MultiscaleDiscriminator(d_in, ndf, {"basic_256_multi": 3, "basic_128_multi": 2}[name], norm, num_Ds)
            )

        # Only the discriminators a loss uses exist (the official use_D / use_D2).
        self.disc = discriminator(netD) if lambda_gan > 0 or (use_same_D and lambda_gan2 > 0) else None
        self.disc2 = discriminator(netD2) if lambda_gan2 > 0 and not use_same_D else None
        if lambda_l1 > 0 and not encode and lambda_kl > 0:
            raise ValueError("lambda_kl needs encode=True (there is no q(z|B) to regularise)")
        if self.disc is None and self.disc2 is None:
            raise ValueError("lambda_gan and lambda_gan2 are both 0: the model needs at least one adversarial term")
        self.criterion_gan = GANLoss(gan_mode)
        self.eval_metrics = self.build_eval_metrics(val_metrics, feature_extractor, paired=True)
        self._sync_codes: torch.Tensor | None = None

    @classmethod
    def preset(cls, name: str, **overrides: Any) -> BicycleGAN:
        """One of the paper's variants (``PRESETS``), e.g. ``BicycleGAN.preset("cvae_gan", input_nc=1)``."""
        if name not in cls.PRESETS:
            raise ValueError(f"unknown preset {name!r}; the paper's variants are {sorted(cls.PRESETS)}")
        return cls(**{**cls.PRESETS[name], **overrides})

    def param_groups(self) -> dict[str, list[nn.Module]]:
        # G and E update together, D and D2 together (see "Deviations" in the module docstring).
        gens = [m for m in (self.gen, self.encoder) if m is not None]
        return {"G": gens, "D": [m for m in (self.disc, self.disc2) if m is not None]}

    # ---------------------------------------------------------------------------------------------- inference
    def inference_conditions(self) -> dict[str, Condition]:
        hp = self.hparams
        conditions = {"z": Condition("code", "latent code z; missing: sampled from N(0, I) per call", dim=hp.nz)}
        if self.encoder is not None:
            conditions["style"] = Condition(
                "image",
                "an exemplar B: its code μ(E(B)) picks the output (the official 'encoded')",
                channels=hp.output_nc,
            )
        return conditions

    def sample_z(self, n: int, like: torch.Tensor) -> torch.Tensor:
        """z ~ N(0, I), (n, nz); with ``sync`` one code shared by the n inputs."""
        nz = self.hparams.nz
        if self.hparams.sync:
            return torch.randn(1, nz, device=like.device, dtype=like.dtype).expand(n, nz)
        return torch.randn(n, nz, device=like.device, dtype=like.dtype)

    def forward(
        self, x: torch.Tensor, z: torch.Tensor | None = None, style: torch.Tensor | None = None
    ) -> torch.Tensor:
        """G(A, z) for A = x (N, input_nc, H, W): z given (N or 1, nz), μ(E(style)) for exemplars ``style``
        (N or 1, output_nc, H', W'), or sampled from N(0, I) (a new draw at every call)."""
        if z is not None and style is not None:
            raise ValueError("give z or style, not both")
        if style is not None:
            if self.encoder is None:
                raise ValueError("this model has no encoder (encode=False, lambda_z=0): style= is not available")
            z = encode_mean(self.encoder, style)
        elif z is None:
            z = self.sample_z(x.shape[0], x)
        if z.shape[0] == 1 and x.shape[0] > 1:
            z = z.expand(x.shape[0], -1)
        return self.gen(x, z.to(x.dtype))

    def inference_spec(self, **conditions: Any) -> InferenceSpec:
        """``gen`` called as ``gen(image, z)``; with ``style``, G and E called as ``module(image, style)``."""
        conditions = self.check_conditions(conditions)
        hp = self.hparams
        if "style" in conditions:
            module: nn.Module = StyleGuidedGenerator(self.gen, self.encoder)
            extra = {"style": conditions["style"][:1]}
        else:
            z = conditions.get("z")
            extra = {"z": z[:1] if z is not None else torch.randn(1, hp.nz, device=next(self.gen.parameters()).device)}
            module = self.gen
        return InferenceSpec(module, int(hp.input_nc), self.gen.size_multiple, extra)

    def on_predict_start(self) -> None:
        self._sync_codes = None  # a new prediction run draws its own shared codes

    def predict_step(self, batch: dict[str, Any], batch_idx: int, dataloader_idx: int = 0) -> dict[str, Any]:
        """As the base, plus ``sync``: sample k of every input uses the same code z_k (official ``--sync``)."""
        given = {k for k, v in self.predict_conditions.items() if v is not None}
        if not self.hparams.sync or given & {"z", "style"}:
            return super().predict_step(batch, batch_idx, dataloader_idx)
        x = batch["A"]
        k = max(1, int(self.predict_num_samples))
        if self._sync_codes is None or self._sync_codes.shape[0] < k:
            self._sync_codes = torch.randn(k, self.hparams.nz, device=x.device, dtype=x.dtype)
        samples = [self(x, z=self._sync_codes[i : i + 1]) for i in range(k)]
        out = {"fake": samples[0], "path": batch.get("path")}
        if k > 1:
            out["samples"] = samples
        return out

    @torch.no_grad()
    def visuals(self, batch: dict[str, Any]) -> list[list[torch.Tensor]]:
        """A | B | G(A, μ(E(B))) (the "encoded" output) | three random-z samples."""
        a, b = batch["A"], batch["B"]
        row = [a, b]
        if self.encoder is not None and b.shape[-1] == self.encoder.input_size:
            row.append(self(a, style=b))
        return [row + [self(a) for _ in range(3)]]

    # ----------------------------------------------------------------------------------------------- training
    def encode(self, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """z = μ + σ·ε with (μ, log σ²) = E(B) (the reparameterisation trick); returns z, μ, log σ²."""
        mu, logvar = self.encoder(b)
        return mu + torch.exp(0.5 * logvar) * torch.randn_like(mu), mu, logvar

    def _encode_with_fixed_weights(self, b: torch.Tensor) -> torch.Tensor:
        """μ of E(b) with E's weights as constants: gradients reach b (hence G), never E."""
        params = {k: v.detach() for k, v in self.encoder.named_parameters()}
        return functional_call(self.encoder, {**params, **dict(self.encoder.named_buffers())}, (b,))[0]

    def _adversarial(self, disc: nn.Module, images: torch.Tensor, real: bool, for_discriminator: bool = True):
        # Official GANLoss over a multi-scale D: the sum of the per-scale losses.
        return sum(self.criterion_gan(p, real, for_discriminator) for p in disc(images))

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        hp = self.hparams
        real_a, real_b = batch["A"], batch["B"]  # (N, input_nc, H, W), (N, output_nc, H, W)
        half = real_a.shape[0] // 2
        if half == 0:
            return None  # the official step needs a batch of two (one per branch); it skips smaller ones too
        a1, b1 = real_a[:half], real_b[:half]  # the cVAE-GAN half; G's inputs of both branches
        a2, b2 = real_a[half:], real_b[half:]  # real images for D2 only
        opt_g, opt_d = self.optimizers()

        # cVAE-GAN (B → z → B̂, §3.2): z from q(z|B) = N(μ, σ²) = E(B); pix2pix+noise: z ~ N(0, I).
        if hp.encode:
            z_enc, mu, logvar = self.encode(b1)
        else:
            z_enc = torch.randn(half, hp.nz, device=a1.device, dtype=a1.dtype)
        # cLR-GAN (z → B̂ → ẑ, §3.3): a random code through G, for D2 and the latent regression. (Drawn before the
        # G passes, as officially, so that a seeded step draws the same numbers as the official one.)
        z_rand = torch.randn(half, hp.nz, device=a1.device, dtype=a1.dtype)
        fake_enc = self.gen(a1, z_enc)
        fake_rand = self.gen(a1, z_rand) if hp.lambda_gan2 > 0 or hp.lambda_z > 0 else None

        def judged(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
            return torch.cat([a, b], 1) if hp.conditional_D else b

        disc2 = self.disc if hp.use_same_D else self.disc2

        # G and E step: the hybrid objective (§3.4), each term weighted as officially.
        with self.toggled_optimizer(opt_g):
            losses = {}
            if hp.lambda_gan > 0:  # L_GAN^VAE: D judges G(A, E(B))  (§3.2)
                losses["g_gan"] = hp.lambda_gan * self._adversarial(self.disc, judged(a1, fake_enc), True, False)
            if hp.lambda_gan2 > 0:  # L_GAN: D2 judges G(A, z), z ~ N(0, I)  (§3.3)
                losses["g_gan2"] = hp.lambda_gan2 * self._adversarial(disc2, judged(a1, fake_rand), True, False)
            if hp.lambda_kl > 0:  # L_KL = E_B[KL(N(μ, σ²) || N(0, I))]: summed over the code, mean over B
                losses["kl"] = hp.lambda_kl * (-0.5) * torch.sum(1 + logvar - mu.pow(2) - logvar.exp()) / half
            if hp.lambda_l1 > 0:  # L1^VAE = ||B − G(A, E(B))||₁  (§3.2; pix2pix+noise: L1^image with random z)
                losses["g_l1"] = hp.lambda_l1 * F.l1_loss(fake_enc, b1)
            if hp.lambda_z > 0:  # L1^latent = ||z − E(G(A, z))||₁ on the encoder mean  (§3.3)
                mu2 = (
                    self.encoder(fake_rand)[0]
                    if hp.latent_updates_encoder
                    else self._encode_with_fixed_weights(fake_rand)
                )
                losses["z_l1"] = hp.lambda_z * F.l1_loss(mu2, z_rand)
            self._step(opt_g, losses)

        # D step (after G, on the fakes from before it, as the official optimize_parameters): LSGAN, not halved.
        with self.toggled_optimizer(opt_d):
            losses = {}
            if hp.lambda_gan > 0:
                losses["d_fake"] = self._adversarial(self.disc, judged(a1, fake_enc.detach()), False)
                losses["d_real"] = self._adversarial(self.disc, judged(a1, b1), True)
            if hp.lambda_gan2 > 0:
                losses["d2_fake"] = self._adversarial(disc2, judged(a1, fake_rand.detach()), False)
                losses["d2_real"] = self._adversarial(disc2, judged(a2, b2), True)
            self._step(opt_d, losses)

    # ---------------------------------------------------------------------------------------- official weights
    @classmethod
    def official_options(cls, state: dict[str, dict[str, torch.Tensor]], hparams: dict[str, Any]) -> dict[str, Any]:
        """Architecture read back from official ``G``/``E``/``D``/``D2`` state dicts (see :func:`read_generator` ...).

        ``nz`` comes from E's heads when E is given; for a ``where_add="input"`` G alone it cannot be told apart
        from ``input_nc`` and is taken from ``hparams`` (default 8). ``use_dropout`` and ``nl`` leave no trace
        in the weights (they keep their defaults unless given).
        """
        evidence: dict[str, Evidence] = {}
        if "E" in state:
            evidence["E"] = read_encoder(state["E"])
        nz = hparams.get("nz", evidence["E"]["nz"][0] if "E" in evidence else default_option(cls, "nz"))
        if "G" in state:
            evidence["G"] = read_generator(state["G"], nz)
            if evidence["G"]["where_add"][0] == "input" and "E" not in state and "nz" not in hparams:
                warnings.warn(
                    f"a where_add='input' generator does not show nz (its first conv takes input_nc + nz channels): "
                    f"assuming nz={nz}; pass nz=... or the encoder E (whose heads show it) if that is wrong",
                    UserWarning,
                    stacklevel=3,
                )
        d_inputs = {}
        for name, option in (("D", "netD"), ("D2", "netD2")):
            if name in state:
                evidence[name], d_inputs[name] = read_discriminator(state[name], option)
        options = merge_evidence(evidence, hparams)
        nc = {c: hparams.get(c, options.get(c, default_option(cls, c))) for c in ("input_nc", "output_nc")}
        for name, in_nc in d_inputs.items():
            if in_nc == nc["output_nc"]:
                conditional = False
            elif in_nc == nc["input_nc"] + nc["output_nc"]:
                conditional = True
            else:
                raise OfficialWeightsError(
                    f"{name}: its first conv takes {in_nc} channels, but output_nc={nc['output_nc']} (B alone) or "
                    f"input_nc + output_nc = {nc['input_nc'] + nc['output_nc']} (conditional_D) was expected: set "
                    "input_nc/output_nc to match the weights"
                )
            if "conditional_D" in hparams and hparams["conditional_D"] != conditional:
                raise OfficialWeightsError(
                    f"{name} takes {in_nc} channels, so conditional_D={conditional}; you passed "
                    f"conditional_D={hparams['conditional_D']}: pass conditional_D={conditional} or leave it out"
                )
            options["conditional_D"] = conditional
        return options

    @classmethod
    def released_weights(cls) -> tuple[Pretrained, ...]:
        """The five G + E releases of the official ``download_model.sh``, with the options of its test scripts."""
        return tuple(
            Pretrained(
                name=f"bicyclegan/{name}",
                model="BicycleGAN",
                official_model="bicyclegan",
                files=tuple(
                    WeightsFile(net, _RELEASE_URL.format(name, net), f"latest_net_{net}.pth") for net in ("G", "E")
                ),
                options={**_RELEASE_OPTIONS, "input_nc": input_nc, "output_nc": 3},
                source=source,
                target=target,
                input_nc=input_nc,
                size=size,
                dataset=f"pix2pix/{name}",
                licence=_LICENCE,
                notes=" ".join(
                    n
                    for n in (
                        "Trained on the dataset's B -> A (official --direction BtoA)." if direction == "BtoA" else "",
                        note,
                        "As the official test.py: eval mode, a new z ~ N(0, I) per call (z= to fix it), "
                        "style=<exemplar B> for the encoded output.",
                    )
                    if n
                ),
            )
            for name, (source, target, input_nc, size, direction, note) in _RELEASES.items()
        )


# ---------------------------------------------------------------------------------------- architecture read-back
def _keys_under(sd: dict[str, torch.Tensor], prefix: str) -> set[str]:
    return {k[len(prefix) :] for k in sd if k.startswith(prefix)}


def _norm_at(sd: dict[str, torch.Tensor], prefix: str) -> str | None:
    """The norm at ``prefix``: ``batch`` (affine weights and statistics), ``instance`` (statistics only: InstanceNorm
    saved before PyTorch 0.4), or ``None`` when it left no keys (instance norm since 0.4, or an identity)."""
    keys = {k for k in _keys_under(sd, prefix) if "." not in k}
    if {"weight", "running_mean"} <= keys:
        return "batch"
    return "instance" if "running_mean" in keys else None


def read_generator(sd: dict[str, torch.Tensor], nz: int) -> Evidence:
    """What an official ``G_Unet_add_input``/``G_Unet_add_all`` state dict says (``where_add``, ``netG``, ``ngf``,
    channels, ``upsample``, ``norm``)."""
    ev = Evidence()
    if "model.model.0.weight" in sd:  # G_Unet_add_input: nested ``model.model.1.model.<k>...``
        ev.add("where_add", "input", "found model.model.0.weight (z concatenated to the input only)")
        first = sd["model.model.0.weight"]
        # outermost: [conv, sub, relu, up..., tanh]; up = [convT] or [upsample, pad, conv]
        upsample = "basic" if "model.model.3.weight" in sd else "bilinear"
        head = sd["model.model.3.weight" if upsample == "basic" else "model.model.5.weight"]
        output_nc = head.shape[1] if upsample == "basic" else head.shape[0]
        # A level with a norm holds its inner level at index 3 ([lrelu, conv, norm, sub, ...]), without one at 2.
        with_norm = any(k.startswith("model.model.1.model.3.model.") for k in sd)
        sub = 3 if with_norm else 2
        depth, prefix = 2, "model.model.1."
        while any(k.startswith(f"{prefix}model.{sub}.model.") for k in sd):
            depth, prefix = depth + 1, f"{prefix}model.{sub}."
        if depth > 2 and not any(k.startswith(prefix + "model.1.") for k in sd):
            raise OfficialWeightsError("unrecognised add-input U-Net: a level without its down-sampling conv")
        norm = (_norm_at(sd, "model.model.1.model.2.") or "instance") if with_norm else "none"
        input_nc = first.shape[1] - nz
        if input_nc < 1:
            raise OfficialWeightsError(
                f"model.model.0.weight takes {first.shape[1]} channels, fewer than nz + 1 = {nz + 1}: pass the nz the "
                "weights were trained with (or give E, whose heads show it)"
            )
        ev.add("input_nc", input_nc, f"model.model.0.weight takes {first.shape[1]} = input_nc + nz ({nz}) channels")
        ngf = first.shape[0]
        ev.add("netG", f"unet_{2**depth}", f"found {depth} nested U-Net levels")
        ev.add("nz", nz, "where_add='input' cannot show nz; the given or default nz")
    elif "model.down.0.weight" in sd:  # G_Unet_add_all: ``model.submodule.submodule...``
        ev.add("where_add", "all", "found model.down.0.weight (z concatenated at every level)")
        depth = 1 + max((k.count("submodule.") for k in sd), default=0)
        first = sd["model.down.0.weight"]
        ngf = first.shape[0]
        second = sd["model.submodule.down.1.weight"]  # (2ngf, ngf + nz, 4, 4)
        nz_g = second.shape[1] - ngf
        ev.add("nz", nz_g, f"model.submodule.down.1.weight has shape {tuple(second.shape)} = (2ngf, ngf + nz)")
        ev.add("input_nc", first.shape[1] - nz_g, f"model.down.0.weight takes {first.shape[1]} = input_nc + nz")
        upsample = "basic" if "model.up.1.weight" in sd else "bilinear"
        head = sd["model.up.1.weight" if upsample == "basic" else "model.up.3.weight"]
        output_nc = head.shape[1] if upsample == "basic" else head.shape[0]
        # [lrelu, conv, norm] with or without the norm: only batch norm (or old instance statistics) shows.
        norm = _norm_at(sd, "model.submodule.down.2.")
        ev.add("netG", f"unet_{2**depth}", f"found {depth} nested U-Net levels")
    else:
        raise OfficialWeightsError(
            "unrecognised BicycleGAN generator weights: expected G_Unet_add_all (model.down.0.weight) or "
            f"G_Unet_add_input (model.model.0.weight); found {sorted(sd)[:4]}"
        )
    ev.add("ngf", ngf, f"the first conv has {ngf} filters")
    ev.add("output_nc", output_nc, f"the last up-sampling layer gives {output_nc} channels")
    ev.add("upsample", upsample, "transposed conv" if upsample == "basic" else "resize + conv in the last level")
    if norm is not None:
        ev.add("norm", norm, "from the norm slot of the second level")
    return ev


def read_encoder(sd: dict[str, torch.Tensor]) -> Evidence:
    """``netE``, ``nef``, ``output_nc`` (E's input), ``nz`` and ``norm`` of an official ``E_ResNet``/``E_NLayers``."""
    ev = Evidence()
    if "fc.0.weight" not in sd or "conv.0.weight" not in sd:
        raise OfficialWeightsError(
            f"unrecognised BicycleGAN encoder weights: expected fc.0 and conv.0; found {sorted(sd)[:4]}"
        )
    first = sd["conv.0.weight"]
    blocks = sorted({int(m.group(1)) for k in sd if (m := re.match(r"conv\.(\d+)\.shortcut\.", k))})
    if blocks:
        levels = len(blocks) + 1
        ev.add("netE", f"resnet_{2 ** (levels + 3)}", f"found {len(blocks)} residual blocks conv.1 … conv.{blocks[-1]}")
        with_norm = "conv.1.conv.2.weight" in sd  # [norm, act, conv, ...] vs [act, conv, ...]
        norm = (_norm_at(sd, "conv.1.conv.0.") or "instance") if with_norm else "none"
    else:
        convs = sorted(
            {int(m.group(1)) for k, v in sd.items() if (m := re.match(r"conv\.(\d+)\.weight$", k)) and v.dim() == 4}
        )
        levels = len(convs)
        ev.add("netE", f"conv_{2 ** (levels + 3)}", f"found {levels} stride-2 convs")
        # [conv, act, (conv, norm, act)...]: convs at 0, 2, 5, 8 with a norm, 0, 2, 4, 6 without.
        norm = _norm_at(sd, "conv.3.") or ({5: "instance", 4: "none"}.get(convs[2]) if len(convs) > 2 else None)
    ev.add("nef", first.shape[0], f"conv.0.weight has shape {tuple(first.shape)}")
    ev.add("output_nc", first.shape[1], f"conv.0.weight takes {first.shape[1]} channels (E encodes B)")
    ev.add("nz", sd["fc.0.weight"].shape[0], f"fc.0.weight has shape {tuple(sd['fc.0.weight'].shape)}")
    if norm is not None:
        ev.add("norm", norm, "from E's normalisation slots")
    return ev


def read_discriminator(sd: dict[str, torch.Tensor], option: str) -> tuple[Evidence, int]:
    """(evidence for ``option`` (``netD``/``netD2``), ``ndf``, ``num_Ds``, ``norm``; the input channels)."""
    ev = Evidence()
    scales = sorted({int(m.group(1)) for k in sd if (m := re.match(r"model_(\d+)\.", k))})
    prefix = "model_0." if scales else "model."
    if prefix + "0.weight" not in sd:
        raise OfficialWeightsError(f"unrecognised BicycleGAN discriminator weights; found {sorted(sd)[:4]}")
    num_d = len(scales) or 1
    convs = sorted(
        {
            int(m.group(1))
            for k, v in sd.items()
            if (m := re.match(re.escape(prefix) + r"(\d+)\.weight$", k)) and v.dim() == 4
        }
    )
    n_layers = (convs[-1] - 2) // 3
    names = {3: "basic_256_multi", 2: "basic_128_multi"}
    if n_layers not in names:
        raise OfficialWeightsError(
            f"a PatchGAN with {n_layers} stride-2 layers: only basic_256_multi / basic_128_multi"
        )
    ev.add(option, names[n_layers], f"last conv at {prefix}{convs[-1]}: {n_layers} stride-2 layers")
    ev.add("num_Ds", num_d, f"{num_d} scale(s)")
    ev.add(
        "ndf", sd[prefix + "0.weight"].shape[0], f"{prefix}0.weight has shape {tuple(sd[prefix + '0.weight'].shape)}"
    )
    norm = _norm_at(sd, prefix + "3.")
    if norm is not None:
        ev.add("norm", norm, f"found {prefix}3 with {'batch-norm parameters' if norm == 'batch' else 'old statistics'}")
    return ev, sd[prefix + "0.weight"].shape[1]


__all__ = [
    "BicycleGAN",
    "Encoder",
    "MultiscaleDiscriminator",
    "StyleGuidedGenerator",
    "UnetGeneratorZ",
    "read_discriminator",
    "read_encoder",
    "read_generator",
]
