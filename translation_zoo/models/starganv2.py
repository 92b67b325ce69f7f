"""StarGAN v2: Diverse Image Synthesis for Multiple Domains.

Choi, Uh, Yoo, Ha. CVPR 2020. arXiv:1912.01865
Reference code: clovaai/stargan-v2 (``core/model.py``, ``core/solver.py``, ``core/checkpoint.py``, ``core/utils.py``,
``core/data_loader.py``; defaults from ``main.py`` and the training commands of its README).

Four networks (§2, Figure 2): a generator G(x, s) that renders the image x with the style code s (an encoder of
pre-activation residual blocks with instance norm and average-pool down-sampling, two bottleneck blocks, and a decoder
of residual blocks whose norms are AdaIN modulated by s, nearest up-sampling; every block divides its sum by √2);
a mapping network F_y(z) (4 shared linear layers of width 512, then one head of 4 layers per domain, ReLU); a style
encoder E_y(x) and a discriminator D_y(x) of the same trunk (residual blocks without norm, down to 4x4, a 4x4 conv),
with one linear head per domain (E) or one output channel per domain (D). The channels start at 2^14 / img_size and
double at each resolution up to 512; G has log2(img_size) - 4 down-samplings, one more with the high-pass filter
(``w_hpf`` > 0, CelebA-HQ), which also drops the decoder blocks' shortcuts, as in the official code.

Training (``solver.train``): every iteration runs four updates, in this order —
D with a latent-guided fake, D with a reference-guided fake, then G (with F and E) on the latent-guided losses and G
alone on the reference-guided losses. D's loss is the non-saturating adversarial loss (Eq. 1) plus R1 on real
images, λ_reg/2 · E‖∇_x D_y(x)‖² (λ_reg = 1); G's is L_adv + λ_sty L_sty − λ_ds L_ds + λ_cyc L_cyc (Eq. 5 with
Eqs. 1-4), λ_sty = λ_cyc = 1 and λ_ds = 1 (CelebA-HQ) or 2 (AFHQ) decaying linearly to 0 over ``ds_iter`` = 100k
iterations; the target domain of both steps is the domain of the reference pair. Adam (lr 1e-4; F: 1e-6),
β = (0, 0.99), weight decay 1e-4 (L2 added to the gradient, ``torch.optim.Adam``), batch 8, 100k iterations; He
initialisation (``kaiming_normal_``, fan_in, biases 0) of G, F, E, D; exponential moving averages of G, F and E
(β = 0.999) after every iteration are the networks that sample and are evaluated; as the official ``build_model``
copies them before the solver's He initialisation, they start from PyTorch's default initialisation.

Parameters at the paper's 256x256 (equal to the official networks of ``core/model.py``, counted with
``sum(p.numel())``; ``tests/test_starganv2.py`` pins them):

* AFHQ (3 domains, ``w_hpf=0``): G 33,892,995, F 3,259,072, E 20,949,760, D 20,852,803;
* CelebA-HQ (2 domains, ``w_hpf=1``): G 43,467,395, F 2,438,272, E 20,916,928, D 20,852,290.

Official weights: ``<iter>_nets_ema.ckpt`` (``{"generator", "mapping_network", "style_encoder"}``, the averaged
networks the official ``sample``/``eval`` use) loads with ``from_official("starganv2", "100000_nets_ema.ckpt")``
into ``gen_ema``/``mapping_network_ema``/``style_encoder_ema``, the networks inference uses; a ``discriminator``
entry (``<iter>_nets.ckpt``) loads into ``disc``. Our keys are the official ones: ``to_official(model)`` gives the
official state dicts (``save_official`` writes one file per network, ``<epoch>_nets_<name>.ckpt``; the official
``<iter>_nets_ema.ckpt`` is ``torch.save`` of the dict of ``generator``, ``mapping_network`` and ``style_encoder``).

Deviations:

* The FAN face-landmark network of CelebA-HQ (``core/wing.py``, pretrained ``wing.ckpt``) is not included: with
  ``w_hpf`` > 0 the generator is built as the official one (keys, extra block, no decoder shortcuts, the ``hpf``
  filter) and ``Generator.forward`` takes the official ``masks``, but training and inference here run without
  masks (no high-pass skip connections). AFHQ (``w_hpf=0``) uses no masks in the official code either.
* Data: the official loaders draw source images with a domain-balanced sampler and apply a random resized crop
  (p 0.5, scale 0.8-1, ratio 0.9-1.1) before the flip; :class:`~translation_zoo.data.MultiDomainDataModule` draws
  source images uniformly (reference domains are balanced) and flips only.
* λ_ds decays in closed form, max(0, λ_ds · (1 − i / ds_iter)) at iteration i, instead of the official repeated
  subtraction, which equals it up to rounding until ``ds_iter`` but can then overshoot by its rounding residue and
  stay at −λ_ds / ds_iter (no iteration uses that with the official ``total_iters`` = ``ds_iter`` = 100k).
* Without ``reference`` entries in a batch (plain multi-domain batches), the reference pair is drawn from the batch
  itself: a random permutation gives the first references and their domains (the reference-guided targets), the
  second reference is a random image of the same domain in the batch; the latent-guided targets then run through
  the domains in turn from a random one. Use ``MultiDomainDataModule(references=True)`` for the official draw (one
  target domain per item for both steps, that of the reference pair).
* Inference clamps G's output to [-1, 1] (its last layer is a linear 1x1 conv; the official code clamps when it saves
  images). A reference image is resized (bilinear) to ``img_size`` before the style encoder, whose last 4x4 conv
  needs that size. The official ``hidden_dim`` option is unused in the official code (F's width is fixed at 512);
  here ``hidden_dim`` (512) sets it, and ``dim_in`` (default 2^14 / img_size) can shrink the channels for tiny
  variants.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from ..losses.regularizers import r1_penalty
from ..nn.ema import moving_average_copy, update_moving_average
from .base import Condition, InferenceSpec, TranslationGAN

# ------------------------------------------------------------------------------------------------ blocks


def he_init(module: nn.Module) -> None:
    """The official ``utils.he_init``: conv and linear weights ~ kaiming_normal_(fan_in, relu), biases 0."""
    if isinstance(module, (nn.Conv2d, nn.Linear)):
        nn.init.kaiming_normal_(module.weight, mode="fan_in", nonlinearity="relu")
        if module.bias is not None:
            nn.init.zeros_(module.bias)


def _actv(x: torch.Tensor) -> torch.Tensor:
    return F.leaky_relu(x, 0.2)  # the official blocks' activation


class ResBlk(nn.Module):
    """Pre-activation residual block: (IN) -> LReLU -> conv3x3 (-> avg-pool) -> (IN) -> LReLU -> conv3x3, plus a
    shortcut (1x1 conv when the width changes, avg-pool when down-sampling), the sum scaled by 1/√2. Official keys
    ``conv1``, ``conv2``, ``norm1``, ``norm2``, ``conv1x1``."""

    def __init__(self, dim_in: int, dim_out: int, normalize: bool = False, downsample: bool = False) -> None:
        super().__init__()
        self.normalize, self.downsample = normalize, downsample
        self.conv1 = nn.Conv2d(dim_in, dim_in, 3, 1, 1)
        self.conv2 = nn.Conv2d(dim_in, dim_out, 3, 1, 1)
        if normalize:
            self.norm1 = nn.InstanceNorm2d(dim_in, affine=True)
            self.norm2 = nn.InstanceNorm2d(dim_in, affine=True)
        self.learned_sc = dim_in != dim_out
        if self.learned_sc:
            self.conv1x1 = nn.Conv2d(dim_in, dim_out, 1, 1, 0, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skip = self.conv1x1(x) if self.learned_sc else x
        if self.downsample:
            skip = F.avg_pool2d(skip, 2)
        h = self.conv1(_actv(self.norm1(x) if self.normalize else x))
        if self.downsample:
            h = F.avg_pool2d(h, 2)
        h = self.conv2(_actv(self.norm2(h) if self.normalize else h))
        return (skip + h) / math.sqrt(2)


class AdaIN(nn.Module):
    """(1 + γ(s)) · IN(x) + β(s), with [γ, β] = fc(s) (official keys ``fc``)."""

    def __init__(self, style_dim: int, num_features: int) -> None:
        super().__init__()
        self.norm = nn.InstanceNorm2d(num_features, affine=False)
        self.fc = nn.Linear(style_dim, num_features * 2)

    def forward(self, x: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        gamma, beta = self.fc(s)[:, :, None, None].chunk(2, dim=1)  # (N, C, 1, 1) each
        return (1 + gamma) * self.norm(x) + beta


class AdainResBlk(nn.Module):
    """Decoder block: AdaIN -> LReLU (-> nearest x2) -> conv3x3 -> AdaIN -> LReLU -> conv3x3; with ``w_hpf`` = 0
    the shortcut (x2, 1x1 conv when the width changes) is added and the sum scaled by 1/√2, with ``w_hpf`` > 0 the
    block returns the residual branch alone (official)."""

    def __init__(self, dim_in: int, dim_out: int, style_dim: int, w_hpf: float = 0, upsample: bool = False) -> None:
        super().__init__()
        self.w_hpf, self.upsample = w_hpf, upsample
        self.conv1 = nn.Conv2d(dim_in, dim_out, 3, 1, 1)
        self.conv2 = nn.Conv2d(dim_out, dim_out, 3, 1, 1)
        self.norm1 = AdaIN(style_dim, dim_in)
        self.norm2 = AdaIN(style_dim, dim_out)
        self.learned_sc = dim_in != dim_out
        if self.learned_sc:
            self.conv1x1 = nn.Conv2d(dim_in, dim_out, 1, 1, 0, bias=False)

    def forward(self, x: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        h = _actv(self.norm1(x, s))
        if self.upsample:
            h = F.interpolate(h, scale_factor=2, mode="nearest")
        h = self.conv2(_actv(self.norm2(self.conv1(h), s)))
        if self.w_hpf != 0:
            return h
        skip = F.interpolate(x, scale_factor=2, mode="nearest") if self.upsample else x
        if self.learned_sc:
            skip = self.conv1x1(skip)
        return (h + skip) / math.sqrt(2)


class HighPass(nn.Module):
    """Depth-wise 3x3 Laplacian-like filter / w_hpf (official buffer ``filter``), for the FAN-mask skips."""

    def __init__(self, w_hpf: float) -> None:
        super().__init__()
        kernel = torch.full((3, 3), -1.0)
        kernel[1, 1] = 8.0
        self.register_buffer("filter", kernel / w_hpf)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight = self.filter[None, None].expand(x.shape[1], 1, 3, 3).to(x.dtype)
        return F.conv2d(x, weight, padding=1, groups=x.shape[1])


def _widths(img_size: int, dim_in: int | None) -> int:
    if img_size < 16 or img_size & (img_size - 1):
        raise ValueError(f"img_size must be a power of two >= 16, got {img_size}")
    return dim_in if dim_in is not None else 2**14 // img_size


class Generator(nn.Module):
    """G(x, s): the official ``Generator`` (keys ``from_rgb``, ``encode.<i>``, ``decode.<i>``, ``to_rgb``, ``hpf``).

    Args:
        input_nc: image channels (official 3).
        img_size: training size; sets the number of down-samplings (log2(img_size) - 4, +1 with ``w_hpf`` > 0).
        style_dim: length of s (official 64).
        max_conv_dim: channel cap (official 512).
        w_hpf: weight of the high-pass filter (official 1 for CelebA-HQ, 0 for AFHQ).
        dim_in: channels after ``from_rgb`` (official 2^14 / img_size).
    """

    def __init__(
        self,
        input_nc: int = 3,
        img_size: int = 256,
        style_dim: int = 64,
        max_conv_dim: int = 512,
        w_hpf: float = 1,
        dim_in: int | None = None,
    ) -> None:
        super().__init__()
        width = _widths(img_size, dim_in)
        self.from_rgb = nn.Conv2d(input_nc, width, 3, 1, 1)
        self.encode = nn.ModuleList()
        self.decode = nn.ModuleList()
        self.to_rgb = nn.Sequential(
            nn.InstanceNorm2d(width, affine=True), nn.LeakyReLU(0.2), nn.Conv2d(width, input_nc, 1, 1, 0)
        )
        self.n_down = int(math.log2(img_size)) - 4 + (1 if w_hpf > 0 else 0)
        decode: list[nn.Module] = []  # built from the outside in, reversed at the end
        for _ in range(self.n_down):
            wider = min(width * 2, max_conv_dim)
            self.encode.append(ResBlk(width, wider, normalize=True, downsample=True))
            decode.append(AdainResBlk(wider, width, style_dim, w_hpf=w_hpf, upsample=True))
            width = wider
        for _ in range(2):  # bottleneck
            self.encode.append(ResBlk(width, width, normalize=True))
            decode.append(AdainResBlk(width, width, style_dim, w_hpf=w_hpf))
        self.decode.extend(reversed(decode))
        if w_hpf > 0:
            self.hpf = HighPass(w_hpf)

    @property
    def size_multiple(self) -> int:
        return 2**self.n_down

    def forward(self, x: torch.Tensor, s: torch.Tensor, masks: tuple[torch.Tensor, ...] | None = None) -> torch.Tensor:
        """x (N, C, H, W), s (N, style_dim) -> (N, C, H, W), unbounded (a linear last layer). ``masks``: the
        official FAN heatmaps (two (N, 1, h, w) maps), which add high-pass filtered encoder features at 32, 64 and
        128 px (official; FAN itself is not part of this module)."""
        h = self.from_rgb(x)
        features: dict[int, torch.Tensor] = {}
        for block in self.encode:
            if masks is not None and h.shape[2] in (32, 64, 128):
                features[h.shape[2]] = h
            h = block(h)
        for block in self.decode:
            h = block(h, s)
            size = h.shape[2]
            if masks is not None and size in (32, 64, 128):
                mask = F.interpolate(masks[0] if size == 32 else masks[1], size=size, mode="bilinear")
                h = h + self.hpf(mask * features[size])
        return self.to_rgb(h)


def _pick(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """out (N, n_domains, ...) -> out[i, y_i] (N, ...): every head runs, the target's is read (official)."""
    index = y.long().reshape(-1, 1, *([1] * (out.dim() - 2))).expand(-1, 1, *out.shape[2:])
    return out.gather(1, index).squeeze(1)


class MappingNetwork(nn.Module):
    """F_y(z): 4 shared linear layers, then per domain 3 linear layers and a linear output (official keys ``shared``,
    ``unshared.<y>``), ReLU in between.

    Args:
        latent_dim: length of z (official 16).
        style_dim: length of s (official 64).
        n_domains: domains.
        hidden_dim: width (official 512, fixed in the official code).
    """

    def __init__(self, latent_dim: int = 16, style_dim: int = 64, n_domains: int = 2, hidden_dim: int = 512) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Linear(latent_dim, hidden_dim), nn.ReLU()]
        for _ in range(3):
            layers += [nn.Linear(hidden_dim, hidden_dim), nn.ReLU()]
        self.shared = nn.Sequential(*layers)
        self.unshared = nn.ModuleList()
        for _ in range(n_domains):
            head: list[nn.Module] = []
            for _ in range(3):
                head += [nn.Linear(hidden_dim, hidden_dim), nn.ReLU()]
            self.unshared.append(nn.Sequential(*head, nn.Linear(hidden_dim, style_dim)))

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """z (N, latent_dim), y (N,) domain indices -> s (N, style_dim)."""
        h = self.shared(z)
        return _pick(torch.stack([head(h) for head in self.unshared], dim=1), y)


def _trunk(input_nc: int, img_size: int, max_conv_dim: int, dim_in: int | None) -> tuple[list[nn.Module], int]:
    """The shared trunk of E and D: conv3x3, log2(img_size) - 2 down-sampling ResBlks (to 4x4), LReLU, conv4x4
    (to 1x1), LReLU; returns the layers and the last width."""
    width = _widths(img_size, dim_in)
    layers: list[nn.Module] = [nn.Conv2d(input_nc, width, 3, 1, 1)]
    for _ in range(int(math.log2(img_size)) - 2):
        wider = min(width * 2, max_conv_dim)
        layers.append(ResBlk(width, wider, downsample=True))
        width = wider
    layers += [nn.LeakyReLU(0.2), nn.Conv2d(width, width, 4, 1, 0), nn.LeakyReLU(0.2)]
    return layers, width


class StyleEncoder(nn.Module):
    """E_y(x): the trunk (official keys ``shared``) and one linear head per domain (``unshared.<y>``)."""

    def __init__(
        self,
        input_nc: int = 3,
        img_size: int = 256,
        style_dim: int = 64,
        n_domains: int = 2,
        max_conv_dim: int = 512,
        dim_in: int | None = None,
    ) -> None:
        super().__init__()
        layers, width = _trunk(input_nc, img_size, max_conv_dim, dim_in)
        self.shared = nn.Sequential(*layers)
        self.unshared = nn.ModuleList(nn.Linear(width, style_dim) for _ in range(n_domains))

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """x (N, C, img_size, img_size), y (N,) -> s (N, style_dim)."""
        h = self.shared(x).flatten(1)
        return _pick(torch.stack([head(h) for head in self.unshared], dim=1), y)


class Discriminator(nn.Module):
    """D_y(x): the trunk and a 1x1 conv with one logit per domain (official keys ``main``)."""

    def __init__(
        self,
        input_nc: int = 3,
        img_size: int = 256,
        n_domains: int = 2,
        max_conv_dim: int = 512,
        dim_in: int | None = None,
    ) -> None:
        super().__init__()
        layers, width = _trunk(input_nc, img_size, max_conv_dim, dim_in)
        self.main = nn.Sequential(*layers, nn.Conv2d(width, n_domains, 1, 1, 0))

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """x (N, C, img_size, img_size), y (N,) -> the logit of domain y_i, (N,)."""
        return _pick(self.main(x).flatten(1), y)


class _LatentTranslator(nn.Module):
    """x, target (N,), z (N, latent) -> G(x, F_target(z)) clamped to [-1, 1]: what latent-guided inference and
    export run."""

    def __init__(self, gen: Generator, mapping: MappingNetwork) -> None:
        super().__init__()
        self.gen, self.mapping = gen, mapping

    def forward(self, x: torch.Tensor, target: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return self.gen(x, self.mapping(z, target.reshape(-1))).clamp(-1, 1)


class _ReferenceTranslator(nn.Module):
    """x, target (N,), reference (N, C, img_size, img_size) -> G(x, E_target(reference)) clamped to [-1, 1]."""

    def __init__(self, gen: Generator, style_encoder: StyleEncoder, img_size: int) -> None:
        super().__init__()
        self.gen, self.style_encoder, self.img_size = gen, style_encoder, img_size

    def forward(self, x: torch.Tensor, target: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
        if reference.shape[-2:] != (self.img_size, self.img_size):
            size = (self.img_size, self.img_size)
            reference = F.interpolate(reference, size=size, mode="bilinear", align_corners=False)
        return self.gen(x, self.style_encoder(reference, target.reshape(-1))).clamp(-1, 1)


# ------------------------------------------------------------------------------------------------- model
class StarGANv2(TranslationGAN):
    """Diverse multi-domain translation with a latent code or a reference image (Choi et al. 2020).

    Args:
        input_nc: image channels (official 3).
        n_domains: domains (official ``--num_domains``: 2 CelebA-HQ, 3 AFHQ).
        img_size: training size (official 256); sets the depth of G, E and D.
        latent_dim: length of z (official 16).
        hidden_dim: width of F (official 512).
        style_dim: length of s (official 64).
        max_conv_dim: channel cap (official 512).
        dim_in: channels of the first conv (official 2^14 / img_size when ``None``).
        w_hpf: high-pass filter weight (official default 1, CelebA-HQ; AFHQ 0). See the module docstring.
        lambda_reg: λ_reg of the R1 term (official 1).
        lambda_sty: λ_sty of Eq. (5) (official 1).
        lambda_ds: initial λ_ds of Eq. (5) (official default 1 = CelebA-HQ; AFHQ 2).
        ds_iter: iterations over which λ_ds decays linearly to 0 (official 100,000).
        lambda_cyc: λ_cyc of Eq. (5) (official 1).
        lr: learning rate of G, E and D (official 1e-4).
        f_lr: learning rate of F (official 1e-6).
        beta1 / beta2: Adam betas (official 0, 0.99).
        weight_decay: Adam's L2 weight decay (official 1e-4).
        ema_beta: decay of the moving averages of G, F and E (official 0.999).
        use_ema: inference with the moving averages (official sampling and evaluation) rather than the trained nets.
        domain_names: domain names in index order (from the data module; saved with the model).
        **kwargs: options of :class:`TranslationGAN` (``optimizer``, ``lr_scheduler``, ``fused``).
    """

    batch_kind = "multidomain"
    tiny_config = {
        "input_nc": 1,
        "n_domains": 2,
        "img_size": 32,
        "latent_dim": 4,
        "hidden_dim": 16,
        "style_dim": 8,
        "max_conv_dim": 16,
        "dim_in": 8,
        "w_hpf": 0,
        # Two domains: a batch of two then reaches every domain head (the zoo's one-step test checks every
        # parameter moves). A fast average: with 0.999 one step moves a norm weight by less than fp32 resolves.
        "ema_beta": 0.5,
    }

    official_names = ("starganv2", "stargan-v2", "stargan_v2")
    # The averaged networks are what the official sample/eval modes load (<iter>_nets_ema.ckpt); D from _nets.ckpt.
    official_networks = {
        "generator": "gen_ema",
        "mapping_network": "mapping_network_ema",
        "style_encoder": "style_encoder_ema",
        "discriminator": "disc",
    }
    official_file_pattern = "{epoch}_nets_{name}.ckpt"  # not the official layout (one file): see the module doc

    def __init__(
        self,
        input_nc: int = 3,
        n_domains: int = 2,
        img_size: int = 256,
        latent_dim: int = 16,
        hidden_dim: int = 512,
        style_dim: int = 64,
        max_conv_dim: int = 512,
        dim_in: int | None = None,
        w_hpf: float = 1.0,
        lambda_reg: float = 1.0,
        lambda_sty: float = 1.0,
        lambda_ds: float = 1.0,
        ds_iter: int = 100_000,
        lambda_cyc: float = 1.0,
        lr: float = 1e-4,
        f_lr: float = 1e-6,
        beta1: float = 0.0,
        beta2: float = 0.99,
        weight_decay: float = 1e-4,
        ema_beta: float = 0.999,
        use_ema: bool = True,
        domain_names: list[str] | None = None,
        lr_policy: Literal["linear", "step", "cosine", "constant"] = "constant",
        **kwargs: Any,
    ) -> None:
        super().__init__(lr=lr, beta1=beta1, beta2=beta2, lr_policy=lr_policy, **kwargs)
        if n_domains < 2:
            raise ValueError(f"n_domains must be >= 2, got {n_domains}")
        if domain_names is not None and len(domain_names) != n_domains:
            raise ValueError(f"domain_names has {len(domain_names)} names for n_domains={n_domains}")
        if not 0.0 <= ema_beta <= 1.0:
            raise ValueError(f"ema_beta must be in [0, 1], got {ema_beta}")
        if ds_iter < 1:
            raise ValueError(f"ds_iter must be >= 1, got {ds_iter}")
        self.gen = Generator(input_nc, img_size, style_dim, max_conv_dim, w_hpf, dim_in)
        self.mapping_network = MappingNetwork(latent_dim, style_dim, n_domains, hidden_dim)
        self.style_encoder = StyleEncoder(input_nc, img_size, style_dim, n_domains, max_conv_dim, dim_in)
        self.disc = Discriminator(input_nc, img_size, n_domains, max_conv_dim, dim_in)
        # Official build_model: the averaged copies are taken before the Solver applies he_init to the trained
        # networks only, so they start from PyTorch's default initialisation (kept: it is what the official runs do).
        self.gen_ema = moving_average_copy(self.gen)
        self.mapping_network_ema = moving_average_copy(self.mapping_network)
        self.style_encoder_ema = moving_average_copy(self.style_encoder)
        for net in (self.gen, self.mapping_network, self.style_encoder, self.disc):
            net.apply(he_init)

    #: Finished training iterations (4 updates each); kept in checkpoints. Sets the λ_ds decay.
    iteration: int = 0

    # ------------------------------------------------------------------------------------------- players
    def param_groups(self) -> dict[str, list[nn.Module]]:
        # The official optimisers: generator, mapping_network, style_encoder, discriminator.
        return {"G": [self.gen], "F": [self.mapping_network], "E": [self.style_encoder], "D": [self.disc]}

    def configure_optimizers(self):
        if self.optimizer_factory is not None:
            return super().configure_optimizers()
        hp = self.hparams
        optimizers = [
            torch.optim.Adam(
                list(self._parameters_of(mods)),
                lr=hp.f_lr if name == "F" else hp.lr,
                betas=(hp.beta1, hp.beta2),
                weight_decay=hp.weight_decay,
                fused=hp.fused,
            )
            for name, mods in self.param_groups().items()
        ]
        schedulers = [self._make_scheduler(opt) for opt in optimizers]
        return optimizers, [s for s in schedulers if s is not None]

    def lambda_ds_at(self, iteration: int) -> float:
        """λ_ds used in iteration ``iteration`` (0-based): linear decay from ``lambda_ds`` to 0 over ``ds_iter``."""
        hp = self.hparams
        return max(0.0, hp.lambda_ds * (1.0 - iteration / hp.ds_iter))

    # ------------------------------------------------------------------------------------------ training
    def _references(self, batch: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """(x_ref, x_ref2, y_ref, y_latent): the reference pair, its domains (the reference-guided targets) and the
        latent-guided targets. Official (``references=True`` batches): both targets are the reference domains.
        Without references they are drawn from the batch itself (module docstring): references by a permutation,
        latent targets in turn from a random domain (every domain when the batch has as many images)."""
        if "reference" in batch:
            y = batch["reference_domain"].long()
            return batch["reference"], batch["reference2"], y, y
        x, y = batch["image"], batch["domain"].long()
        n, n_domains = x.shape[0], self.hparams.n_domains
        perm = torch.randperm(n, device=x.device)
        y_ref = y[perm]
        same = (y_ref[:, None] == y[None, :]).float()  # (N, N): the batch's images of each target's domain
        second = torch.multinomial(same, 1).squeeze(1)
        y_latent = (torch.randint(n_domains, (), device=x.device) + torch.arange(n, device=x.device)) % n_domains
        return x[perm], x[second], y_ref, y_latent

    def _only(self, *players: nn.Module):
        """Context: only ``players``' parameters require gradients (the official code also computes, then discards,
        the others' gradients; freezing them gives the same updates)."""
        model = self

        class _Toggle:
            def __enter__(self) -> None:
                keep = {id(p) for m in players for p in m.parameters()}
                self.frozen = [
                    p
                    for net in (model.gen, model.mapping_network, model.style_encoder, model.disc)
                    for p in net.parameters()
                    if p.requires_grad and id(p) not in keep
                ]
                for p in self.frozen:
                    p.requires_grad_(False)

            def __exit__(self, *exc: Any) -> None:
                for p in self.frozen:
                    p.requires_grad_(True)

        return _Toggle()

    def d_losses(
        self, x_real: torch.Tensor, y_org: torch.Tensor, y_trg: torch.Tensor, s_trg: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """D's terms (official ``compute_d_loss``) for a style code ``s_trg`` of the target domains."""
        hp = self.hparams
        x_real = x_real.detach().requires_grad_(True)
        out = self.disc(x_real, y_org)
        with torch.no_grad():
            x_fake = self.gen(x_real, s_trg)
        out_fake = self.disc(x_fake, y_trg)
        return {
            "real": F.binary_cross_entropy_with_logits(out, torch.ones_like(out)),  # L_adv, Eq. (1), log D_y(x)
            "fake": F.binary_cross_entropy_with_logits(out_fake, torch.zeros_like(out_fake)),  # log(1 − D(G(x, s)))
            # R1 (Mescheder et al. 2018) on real images: λ_reg / 2 · E‖∇_x D_y(x)‖² (official r1_reg).
            "reg": hp.lambda_reg * 0.5 * r1_penalty(out, x_real),
        }

    def g_losses(
        self,
        x_real: torch.Tensor,
        y_org: torch.Tensor,
        y_trg: torch.Tensor,
        s_trg: torch.Tensor,
        s_trg2: torch.Tensor,
        lambda_ds: float,
    ) -> dict[str, torch.Tensor]:
        """G's terms (official ``compute_g_loss``) for two style codes of the target domains."""
        hp = self.hparams
        x_fake = self.gen(x_real, s_trg)
        out = self.disc(x_fake, y_trg)
        x_fake2 = self.gen(x_real, s_trg2).detach()  # the official code detaches the second image
        s_org = self.style_encoder(x_real, y_org)
        x_rec = self.gen(x_fake, s_org)
        return {
            "adv": F.binary_cross_entropy_with_logits(out, torch.ones_like(out)),  # L_adv, Eq. (1), non-saturating
            "sty": hp.lambda_sty * (self.style_encoder(x_fake, y_trg) - s_trg).abs().mean(),  # L_sty, Eq. (2)
            "ds": -lambda_ds * (x_fake - x_fake2).abs().mean(),  # −λ_ds L_ds, Eq. (3), maximised
            "cyc": hp.lambda_cyc * (x_rec - x_real).abs().mean(),  # L_cyc, Eq. (4), s_org = E_y(x)
        }

    def sample_z(self, n: int, like: torch.Tensor) -> torch.Tensor:
        """n latent codes z ~ N(0, I), (N, latent_dim), on ``like``'s device and dtype."""
        return torch.randn(n, self.hparams.latent_dim, device=like.device, dtype=like.dtype)

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        x_real, y_org = batch["image"], batch["domain"].long()  # (N, C, H, W), (N,)
        x_ref, x_ref2, y_ref, y_lat = self._references(batch)
        n = x_real.shape[0]
        z_trg, z_trg2 = self.sample_z(n, x_real), self.sample_z(n, x_real)  # the official fetcher's two draws
        lambda_ds = self.lambda_ds_at(self.iteration)
        opt_g, opt_f, opt_e, opt_d = self.optimizers()

        def prefixed(prefix: str, losses: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
            return {f"{prefix}_{k}": v for k, v in losses.items()}

        # D: a latent-guided fake, then a reference-guided fake (two updates).
        with self._only(self.disc):
            with torch.no_grad():
                s_lat = self.mapping_network(z_trg, y_lat)
            self._step(opt_d, prefixed("d_latent", self.d_losses(x_real, y_org, y_lat, s_lat)))
            with torch.no_grad():
                s_ref = self.style_encoder(x_ref, y_ref)
            self._step(opt_d, prefixed("d_ref", self.d_losses(x_real, y_org, y_ref, s_ref)))

        # G, F and E on the latent-guided losses (one backward, three optimiser steps).
        with self._only(self.gen, self.mapping_network, self.style_encoder):
            s_trg, s_trg2 = self.mapping_network(z_trg, y_lat), self.mapping_network(z_trg2, y_lat)
            losses = self.g_losses(x_real, y_org, y_lat, s_trg, s_trg2, lambda_ds)
            opt_f.zero_grad(set_to_none=True)
            opt_e.zero_grad(set_to_none=True)
            self._step(opt_g, prefixed("g_latent", losses))
            opt_f.step()
            opt_e.step()

        # G alone on the reference-guided losses.
        with self._only(self.gen):
            s_trg, s_trg2 = self.style_encoder(x_ref, y_ref), self.style_encoder(x_ref2, y_ref)
            self._step(opt_g, prefixed("g_ref", self.g_losses(x_real, y_org, y_ref, s_trg, s_trg2, lambda_ds)))

        self.update_ema()
        self.iteration += 1
        self.log("train/lambda_ds", lambda_ds, on_step=True, on_epoch=False, batch_size=n)

    @torch.no_grad()
    def update_ema(self) -> None:
        """θ_ema ← β θ_ema + (1 − β) θ for G, F and E (official ``moving_average``, parameters only)."""
        pairs = (
            (self.gen, self.gen_ema),
            (self.mapping_network, self.mapping_network_ema),
            (self.style_encoder, self.style_encoder_ema),
        )
        update_moving_average(pairs, self.hparams.ema_beta)

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        super().on_save_checkpoint(checkpoint)
        checkpoint["starganv2_iteration"] = self.iteration

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        super().on_load_checkpoint(checkpoint)
        self.iteration = int(checkpoint.get("starganv2_iteration", 0))

    # ----------------------------------------------------------------------------------------- inference
    def nets(self) -> tuple[Generator, MappingNetwork, StyleEncoder]:
        """G, F, E for inference: the moving averages when ``use_ema``."""
        if self.hparams.use_ema:
            return self.gen_ema, self.mapping_network_ema, self.style_encoder_ema
        return self.gen, self.mapping_network, self.style_encoder

    def inference_conditions(self) -> dict[str, Condition]:
        hp = self.hparams
        return {
            "target": Condition("index", "the target domain", default=0, dim=hp.n_domains),
            "z": Condition("code", "latent code of the style; drawn from N(0, I) when missing", dim=hp.latent_dim),
            "reference": Condition(
                "image",
                "a reference image of the target domain whose style is used (instead of z)",
                channels=hp.input_nc,
            ),
        }

    def forward(
        self,
        x: torch.Tensor,
        target: int | torch.Tensor = 0,
        z: torch.Tensor | None = None,
        reference: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Translate x (N, C, H, W) in [-1, 1] into domain ``target`` with the style of ``reference`` (N or 1, C,
        H', W') (reference-guided) or of the latent ``z`` (N, latent_dim) (latent-guided; drawn from N(0, I) when
        both are missing). Output clamped to [-1, 1]."""
        gen, mapping, style_encoder = self.nets()
        y = torch.as_tensor(target, device=x.device).long().reshape(-1).expand(x.shape[0])
        if reference is not None:
            ref = reference.to(x.device, x.dtype).expand(x.shape[0], -1, -1, -1)
            return _ReferenceTranslator(gen, style_encoder, self.hparams.img_size)(x, y, ref)
        if z is None:
            z = self.sample_z(x.shape[0], x)
        return _LatentTranslator(gen, mapping)(x, y, z.to(x.device, x.dtype).expand(x.shape[0], -1))

    def inference_spec(self, **conditions: Any) -> InferenceSpec:
        conditions = self.check_conditions(conditions)
        hp = self.hparams
        gen, mapping, style_encoder = self.nets()
        target = torch.zeros(1, dtype=torch.long)
        if "reference" in conditions:
            module = _ReferenceTranslator(gen, style_encoder, hp.img_size)
            extra = {"target": target, "reference": torch.zeros(1, hp.input_nc, hp.img_size, hp.img_size)}
        else:
            module = _LatentTranslator(gen, mapping)
            extra = {"target": target, "z": torch.zeros(1, hp.latent_dim)}
        return InferenceSpec(module, int(hp.input_nc), gen.size_multiple, extra)

    @torch.no_grad()
    def visuals(self, batch: dict[str, Any]) -> list[list[torch.Tensor]]:
        """Rows: x | x into every domain with one z per row; with references: reference | G(x, E(reference))."""
        x = batch["image"]
        z = self.sample_z(1, x)
        rows = [[x, *(self(x, target=t, z=z) for t in range(self.hparams.n_domains))]]
        if "reference" in batch:
            ref, y = batch["reference"], batch["reference_domain"].long()
            gen, _, style_encoder = self.nets()
            rows.append([x, ref, _ReferenceTranslator(gen, style_encoder, self.hparams.img_size)(x, y, ref)])
        return rows

    def eval_step(self, batch: dict[str, Any], stage: str) -> None:
        # The cycle error of Eq. (4) with the inference networks: x -> G(x, F_y'(z)) -> G(·, E_y(x)), y' shuffled.
        x, y = batch["image"], batch["domain"].long()
        gen, mapping, style_encoder = self.nets()
        y_trg = y.flip(0)
        fake = gen(x, mapping(self.sample_z(x.shape[0], x), y_trg))
        rec = gen(fake, style_encoder(x, y))
        self.log(f"{stage}/l1_cyc", F.l1_loss(rec, x), prog_bar=True, batch_size=x.shape[0], sync_dist=True)

    # -------------------------------------------------------------------------------- official weights
    @classmethod
    def official_options(cls, state: dict[str, dict[str, torch.Tensor]], hparams: dict[str, Any]) -> dict[str, Any]:
        """Architecture read back from the official keys: channels, sizes, domains, code lengths, w_hpf."""
        from ..hub import Evidence, OfficialWeightsError, merge_evidence

        def blocks(sd: dict[str, torch.Tensor], prefix: str) -> list[int]:
            return sorted({int(k.split(".")[1]) for k in sd if k.startswith(prefix) and k.endswith("conv1.weight")})

        evidence: dict[str, Evidence] = {}
        if "generator" in state:
            sd, ev = state["generator"], Evidence()
            if "from_rgb.weight" not in sd:
                raise OfficialWeightsError("generator: not a StarGAN v2 generator (no from_rgb.weight)")
            width, channels = sd["from_rgb.weight"].shape[:2]
            w_hpf = 0.0 if "hpf.filter" not in sd else float(8.0 / sd["hpf.filter"][1, 1])
            n_down = len(blocks(sd, "encode.")) - 2
            img_size = 2 ** (n_down + 4 - (1 if w_hpf > 0 else 0))
            ev.add("input_nc", int(channels), "from_rgb.weight's input channels")
            ev.add("w_hpf", w_hpf, "hpf.filter" + (" present" if w_hpf else " absent"))
            ev.add("img_size", img_size, f"{n_down} down-sampling blocks in encode")
            ev.add("dim_in", int(width), "from_rgb.weight's filters")
            ev.add("style_dim", int(sd["decode.0.norm1.fc.weight"].shape[1]), "decode.0.norm1.fc's input")
            widths = [int(v.shape[0]) for k, v in sd.items() if k.startswith("encode.") and k.endswith("conv2.weight")]
            ev.add("max_conv_dim", max(widths), "the widest encode block")
            evidence["generator"] = ev
        if "mapping_network" in state:
            sd, ev = state["mapping_network"], Evidence()
            if "shared.0.weight" not in sd:
                raise OfficialWeightsError("mapping_network: not a StarGAN v2 mapping network (no shared.0.weight)")
            heads = {int(k.split(".")[1]) for k in sd if k.startswith("unshared.")}
            ev.add("latent_dim", int(sd["shared.0.weight"].shape[1]), "shared.0.weight's input")
            ev.add("hidden_dim", int(sd["shared.0.weight"].shape[0]), "shared.0.weight's output")
            ev.add("n_domains", len(heads), f"{len(heads)} unshared heads")
            ev.add("style_dim", int(sd["unshared.0.6.weight"].shape[0]), "unshared.0.6.weight's output")
            evidence["mapping_network"] = ev
        for name in ("style_encoder", "discriminator"):
            if name not in state:
                continue
            sd, ev = state[name], Evidence()
            trunk = "shared" if name == "style_encoder" else "main"
            if f"{trunk}.0.weight" not in sd:
                raise OfficialWeightsError(f"{name}: not a StarGAN v2 {name} (no {trunk}.0.weight)")
            n_res = len(blocks(sd, f"{trunk}."))
            ev.add("img_size", 2 ** (n_res + 2), f"{n_res} down-sampling blocks in {trunk}")
            ev.add("input_nc", int(sd[f"{trunk}.0.weight"].shape[1]), f"{trunk}.0.weight's input channels")
            ev.add("dim_in", int(sd[f"{trunk}.0.weight"].shape[0]), f"{trunk}.0.weight's filters")
            widths = [int(v.shape[0]) for k, v in sd.items() if k.endswith("conv2.weight")]
            ev.add("max_conv_dim", max(widths), f"the widest {trunk} block")
            if name == "style_encoder":
                heads = {int(k.split(".")[1]) for k in sd if k.startswith("unshared.")}
                ev.add("n_domains", len(heads), f"{len(heads)} unshared heads")
                ev.add("style_dim", int(sd["unshared.0.weight"].shape[0]), "unshared.0.weight's output")
            else:
                last = max(int(k.split(".")[1]) for k in sd if k.startswith("main."))
                ev.add("n_domains", int(sd[f"main.{last}.weight"].shape[0]), f"main.{last} gives one logit per domain")
            evidence[name] = ev
        options = merge_evidence(evidence, hparams)
        if "dim_in" in options and "img_size" in options and options["dim_in"] == 2**14 // options["img_size"]:
            options["dim_in"] = None  # the official width rule
        return options


__all__ = [
    "AdaIN",
    "AdainResBlk",
    "Discriminator",
    "Generator",
    "HighPass",
    "MappingNetwork",
    "ResBlk",
    "StarGANv2",
    "StyleEncoder",
    "he_init",
]
