"""U-GAT-IT: Unsupervised Generative Attentional Networks with Adaptive Layer-Instance Normalization for Image-to-Image Translation.

Kim, Kim, Kang, Lee. ICLR 2020. arXiv:1907.10830
Reference code: znxlwm/UGATIT-pytorch (``networks.py``, ``UGATIT.py``, ``main.py``), the official PyTorch port; the
paper's numbers came from the TensorFlow code taki0112/UGATIT.

Two generators ``gen_a2b`` (G_{s→t}) and ``gen_b2a`` (G_{t→s}). Each is an encoder (7x7 conv, two stride-2 convs,
``n_res`` residual blocks, instance norm, no conv biases), an attention module (§2.1.1: the auxiliary classifier
η_s on global average- and max-pooled features, whose weights w_s re-weight the feature maps, the class activation
map; its channel sum is the attention heatmap), an MLP that computes AdaLIN's γ, β from the attended features
(from all of them, or, with ``light``, from their global average), ``n_res`` residual blocks with AdaLIN, and two
nearest-upsampling blocks with LIN. Four discriminators with spectral norm and their own CAM classifier η_D: a
global (7 layers, 286x286 receptive field) and a local one (5 layers, 70x70) per domain. Losses (§2.2): LSGAN on
the real/fake map and on η_D's logits (λ1 = 1), cycle L1 (λ2 = 10), identity L1 (λ3 = 10), CAM (λ4 = 1000:
binary cross-entropy of η_s, source = 1, target = 0). Adam(1e-4, β = (0.5, 0.999), weight decay 1e-4) for G and
D; 1M iterations of batch 1, the learning rate constant for the first half and then decayed linearly to 0 per
iteration (``decay_flag``); ρ of every AdaLIN/LIN clipped to [0, 1] after each generator step. The discriminators
are updated first in each iteration, as in the official code. Initialisation: PyTorch's defaults (the official code
sets none).

Parameters (default 256x256 RGB, ``ngf = ndf = 64``, ``n_res = 4``), equal to the official networks': each
generator 278,959,808 (of which 268,435,456 in the first MLP layer, whose width depends on ``img_size``); with
``light=True`` 10,589,888; global discriminator 53,130,176; local discriminator 3,290,560. In all 670,761,088
(full) and 134,021,248 (light).

Deviations: none in the math; the computation is arranged for speed, with equal results up to float rounding:

* the fakes G(a), F(b) are computed once per iteration and reused by the D step (detached) and the G step; the
  official code computes them twice and back-propagates its D loss through both generators too (gradients it then
  zeroes). Each generator translates its source and (for the identity and CAM losses) its target domain in one
  batch; every layer works per image, so this equals two calls.
* each discriminator judges real and fake images in one batch: its spectral norm runs one power iteration per D
  step where the official code runs two (one per call). σ's estimate differs negligibly; eval-mode outputs of given
  weights are identical.
* the CAM re-weighting followed by the 1x1 conv, conv(cat(x·w_gap, x·w_gmp)), runs as one 1x1 conv whose weight
  is folded with w_gap, w_gmp (same function, half the FLOPs); AdaLIN/LIN compute the layer statistics from the
  per-channel ones and apply one fused multiply-add.
* the heatmaps in the image grids use an analytic jet colour map (the official ``cam`` helper uses OpenCV's).

Official weights: the official code saves all six networks in ONE file, ``<dataset>_params_<iteration>.pt`` (and
``<dataset>_params_latest.pt``), a dict ``{"genA2B": ..., "genB2A": ..., "disGA": ..., "disGB": ..., "disLA": ...,
"disLB": ...}`` of state dicts; ``load_model(path, model="ugatit")`` reads such a file (``weights_only``) and builds
the model from it (the options are read from the keys; a light model's keys do not tell ``img_size``), as does
``from_official("ugatit", path)``. Released weights: none in PyTorch. The
PyTorch port's README releases no weights; the TensorFlow code (taki0112/UGATIT) released selfie2anime
checkpoints (50 and 100 epochs, Google Drive) in TensorFlow's format, which are not imported here.
"""  # noqa: E501 (the title line)

from __future__ import annotations

import math
import re
from functools import partial
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from .base import Condition, InferenceSpec, TranslationGAN

# --------------------------------------------------------------------------------------------------- blocks


def layer_instance_norm(
    x: torch.Tensor, rho: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor, eps: float
) -> torch.Tensor:
    """γ · (ρ · IN(x) + (1 − ρ) · LN(x)) + β, the (adaptive) layer-instance normalisation of §2.1.1 (AdaLIN).

    As in the official code the variances are unbiased (``torch.var``'s default) and ε is added to them.

    Args:
        x: (N, C, H, W) activations.
        rho: (1, C, 1, 1) gate ρ.
        gamma: scale, broadcastable to (N, C, 1, 1).
        beta: shift, broadcastable to (N, C, 1, 1).
        eps: ε.
    """
    c, hw = x.shape[1], x.shape[2] * x.shape[3]
    var_in, mean_in = torch.var_mean(x, dim=(2, 3), keepdim=True)  # (N, C, 1, 1): instance statistics
    # Layer statistics from the per-channel ones (every channel has hw values): one pass over x instead of two.
    mean_ln = mean_in.mean(1, keepdim=True)
    sq_dev = (hw - 1) * var_in + hw * (mean_in - mean_ln).square()
    var_ln = sq_dev.sum(1, keepdim=True) / (c * hw - 1)
    inv_in, inv_ln = torch.rsqrt(var_in + eps), torch.rsqrt(var_ln + eps)
    # ρ(x - μ_I)/σ_I + (1 - ρ)(x - μ_L)/σ_L = (x - μ_I)(ρ/σ_I + (1 - ρ)/σ_L) + (1 - ρ)(μ_I - μ_L)/σ_L
    scale = gamma * (rho * inv_in + (1 - rho) * inv_ln)
    shift = beta + gamma * (1 - rho) * (mean_in - mean_ln) * inv_ln
    return torch.addcmul(shift, x - mean_in, scale)


class AdaLIN(nn.Module):
    """Adaptive layer-instance normalisation (§2.1.1): γ, β come from the attention MLP; ρ is learnt, starts at 0.9."""

    def __init__(self, num_features: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps
        self.rho = nn.Parameter(torch.full((1, num_features, 1, 1), 0.9))

    def forward(self, x: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
        # gamma, beta: (N, C) per image
        return layer_instance_norm(x, self.rho, gamma[:, :, None, None], beta[:, :, None, None], self.eps)


class LIN(nn.Module):
    """Layer-instance normalisation of the up-sampling blocks (the official ``ILN``): learnt ρ (starts at 0, i.e. LN),
    per-channel γ (1) and β (0)."""

    def __init__(self, num_features: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps
        self.rho = nn.Parameter(torch.zeros(1, num_features, 1, 1))
        self.gamma = nn.Parameter(torch.ones(1, num_features, 1, 1))
        self.beta = nn.Parameter(torch.zeros(1, num_features, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return layer_instance_norm(x, self.rho, self.gamma, self.beta, self.eps)


class ResnetBlock(nn.Module):
    """Encoder residual block: x + [pad, 3x3 conv, IN, ReLU, pad, 3x3 conv, IN](x), convolutions without bias."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.conv_block = nn.Sequential(
            nn.ReflectionPad2d(1),
            nn.Conv2d(dim, dim, 3, bias=False),
            nn.InstanceNorm2d(dim),
            nn.ReLU(inplace=True),
            nn.ReflectionPad2d(1),
            nn.Conv2d(dim, dim, 3, bias=False),
            nn.InstanceNorm2d(dim),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv_block(x)


class ResnetAdaLINBlock(nn.Module):
    """Decoder residual block with AdaLIN after each 3x3 conv (γ, β shared by every block of the generator)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.pad = nn.ReflectionPad2d(1)
        self.conv1 = nn.Conv2d(dim, dim, 3, bias=False)
        self.norm1 = AdaLIN(dim)
        self.conv2 = nn.Conv2d(dim, dim, 3, bias=False)
        self.norm2 = AdaLIN(dim)

    def forward(self, x: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.norm1(self.conv1(self.pad(x)), gamma, beta), inplace=True)
        return x + self.norm2(self.conv2(self.pad(h)), gamma, beta)


def cam_logits(x: torch.Tensor, gap_fc: nn.Module, gmp_fc: nn.Module) -> torch.Tensor:
    """η(x) before the sigmoid, for global average and global max pooling: (N, 2)."""
    return torch.cat(
        [gap_fc(F.adaptive_avg_pool2d(x, 1).flatten(1)), gmp_fc(F.adaptive_max_pool2d(x, 1).flatten(1))], 1
    )


def attended_conv1x1(x: torch.Tensor, w_gap: torch.Tensor, w_gmp: torch.Tensor, conv: nn.Conv2d) -> torch.Tensor:
    """conv1x1(cat(x · w_gap, x · w_gmp)): the attention feature maps a(x) = w · E(x) of both poolings, fused.

    ``w_gap``, ``w_gmp`` (1, C) are η's weights (the un-normalised ones under spectral norm, as in the official
    code). Scaling x's channels before a 1x1 conv equals scaling the conv's input columns, so the two branches fold
    into one (C, C) kernel: the same function with half the FLOPs and no (N, 2C, H, W) intermediate.
    """
    c = x.shape[1]
    w = conv.weight  # (C, 2C, 1, 1)
    folded = w[:, :c] * w_gap.reshape(1, c, 1, 1) + w[:, c:] * w_gmp.reshape(1, c, 1, 1)
    return F.conv2d(x, folded, conv.bias)


# ----------------------------------------------------------------------------------------------- networks
class UGATITGenerator(nn.Module):
    """G_{s→t} of Fig. 1(a): encoder, CAM attention, γ/β MLP, AdaLIN residual blocks, LIN up-sampling decoder.

    Returns ``(image, cam_logit, heatmap)``: the translation (N, output_nc, H, W) in [-1, 1], η_s's logits (N, 2)
    (global average / max pooling) and the attention heatmap (N, 1, H/4, W/4), as the official generator does.

    Args:
        input_nc: input channels.
        output_nc: output channels.
        ngf: filters of the first conv (paper 64); the bottleneck has 4·ngf.
        n_res: residual blocks in the encoder and in the decoder (paper 4).
        img_size: the image side; the first MLP layer reads all (img_size/4)² · 4·ngf attended features, so the
            full generator takes exactly img_size x img_size images.
        light: compute γ, β from globally average-pooled features instead (the official "light" model; any size
            that is a multiple of 4).
    """

    def __init__(
        self,
        input_nc: int = 3,
        output_nc: int = 3,
        ngf: int = 64,
        n_res: int = 4,
        img_size: int = 256,
        light: bool = False,
    ) -> None:
        super().__init__()
        if n_res < 0:
            raise ValueError(f"n_res must be >= 0, got {n_res}")
        if not light and (img_size < 4 or img_size % 4):
            raise ValueError(f"img_size must be a positive multiple of 4 (two stride-2 convs), got {img_size}")
        self.light = light
        self.img_size = img_size
        #: What inference needs the image sides to be multiples of. The full model takes only img_size.
        self.size_multiple = 4 if light else img_size
        dim = 4 * ngf

        encoder: list[nn.Module] = [
            nn.ReflectionPad2d(3),
            nn.Conv2d(input_nc, ngf, 7, bias=False),
            nn.InstanceNorm2d(ngf),
            nn.ReLU(inplace=True),
        ]
        for c in (ngf, 2 * ngf):  # two stride-2 down-samplings
            encoder += [
                nn.ReflectionPad2d(1),
                nn.Conv2d(c, 2 * c, 3, stride=2, bias=False),
                nn.InstanceNorm2d(2 * c),
                nn.ReLU(inplace=True),
            ]
        encoder += [ResnetBlock(dim) for _ in range(n_res)]
        self.encoder = nn.Sequential(*encoder)

        # Auxiliary classifier η_s (is the input from the source domain?) and the attention 1x1 conv.
        self.gap_fc = nn.Linear(dim, 1, bias=False)
        self.gmp_fc = nn.Linear(dim, 1, bias=False)
        self.conv1x1 = nn.Conv2d(2 * dim, dim, 1)

        mlp_in = dim if light else (img_size // 4) ** 2 * dim
        self.mlp = nn.Sequential(
            nn.Linear(mlp_in, dim, bias=False),
            nn.ReLU(inplace=True),
            nn.Linear(dim, dim, bias=False),
            nn.ReLU(inplace=True),
        )
        self.gamma = nn.Linear(dim, dim, bias=False)
        self.beta = nn.Linear(dim, dim, bias=False)

        self.decoder_res = nn.ModuleList(ResnetAdaLINBlock(dim) for _ in range(n_res))
        up: list[nn.Module] = []
        for c in (dim, dim // 2):  # two nearest-neighbour up-samplings
            up += [
                nn.Upsample(scale_factor=2, mode="nearest"),
                nn.ReflectionPad2d(1),
                nn.Conv2d(c, c // 2, 3, bias=False),
                LIN(c // 2),
                nn.ReLU(inplace=True),
            ]
        up += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, output_nc, 7, bias=False), nn.Tanh()]
        self.decoder_up = nn.Sequential(*up)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = self.encoder(x)  # E_s(x): (N, 4ngf, H/4, W/4)
        cam_logit = cam_logits(x, self.gap_fc, self.gmp_fc)  # η_s(x): (N, 2)
        x = F.relu(attended_conv1x1(x, self.gap_fc.weight, self.gmp_fc.weight, self.conv1x1), inplace=True)
        heatmap = x.sum(1, keepdim=True)  # (N, 1, H/4, W/4)
        if self.light:
            h = x.mean((2, 3))
        else:
            h = x.flatten(1)
            if h.shape[1] != self.mlp[0].in_features:
                raise ValueError(
                    f"the full U-GAT-IT generator takes {self.img_size}x{self.img_size} images (its MLP reads every "
                    f"attended feature), got {4 * x.shape[2]}x{4 * x.shape[3]}: resize to img_size, or use light=True"
                )
        h = self.mlp(h)
        gamma, beta = self.gamma(h), self.beta(h)  # (N, 4ngf) each, shared by all AdaLIN layers
        for block in self.decoder_res:
            x = block(x, gamma, beta)
        return self.decoder_up(x), cam_logit, heatmap


class UGATITDiscriminator(nn.Module):
    """D_t of Fig. 1(b): a spectral-norm PatchGAN encoder, CAM attention with its classifier η_D, and a 4x4 conv
    classifier C_D. Returns ``(logits map, cam_logit (N, 2), heatmap)``.

    Args:
        input_nc: input channels.
        ndf: filters of the first conv (paper 64).
        n_layers: 7 for the global discriminator (286x286 receptive field), 5 for the local one (70x70): ``n_layers
            - 2`` stride-2 convs, one stride-1 conv, and the classifier conv.
    """

    def __init__(self, input_nc: int = 3, ndf: int = 64, n_layers: int = 5) -> None:
        super().__init__()
        if n_layers < 3:
            raise ValueError(f"n_layers must be >= 3, got {n_layers}")
        sn = nn.utils.spectral_norm  # the official hook-based spectral norm: weight_orig / weight_u / weight_v
        layers: list[nn.Module] = [nn.ReflectionPad2d(1), sn(nn.Conv2d(input_nc, ndf, 4, 2)), nn.LeakyReLU(0.2, True)]
        c = ndf
        for _ in range(n_layers - 3):
            layers += [nn.ReflectionPad2d(1), sn(nn.Conv2d(c, 2 * c, 4, 2)), nn.LeakyReLU(0.2, True)]
            c *= 2
        layers += [nn.ReflectionPad2d(1), sn(nn.Conv2d(c, 2 * c, 4, 1)), nn.LeakyReLU(0.2, True)]
        c *= 2
        self.encoder = nn.Sequential(*layers)
        self.gap_fc = sn(nn.Linear(c, 1, bias=False))
        self.gmp_fc = sn(nn.Linear(c, 1, bias=False))
        self.conv1x1 = nn.Conv2d(2 * c, c, 1)
        self.classifier = nn.Sequential(nn.ReflectionPad2d(1), sn(nn.Conv2d(c, 1, 4, bias=False)))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = self.encoder(x)
        cam_logit = cam_logits(x, self.gap_fc, self.gmp_fc)  # η_D(x): (N, 2)
        # The official code re-weights with the raw parameters weight_orig (its ``parameters()[0]``), not σ-scaled.
        w_gap, w_gmp = self.gap_fc.weight_orig, self.gmp_fc.weight_orig
        x = F.leaky_relu(attended_conv1x1(x, w_gap, w_gmp, self.conv1x1), 0.2, inplace=True)
        heatmap = x.sum(1, keepdim=True)
        return self.classifier(x), cam_logit, heatmap


@torch.no_grad()
def clip_rho_(net: nn.Module) -> None:
    """ρ ← clip_[0,1](ρ) for every AdaLIN/LIN (§2.1.1; the official ``RhoClipper`` after each generator step)."""
    for m in net.modules():
        if isinstance(m, AdaLIN | LIN):
            m.rho.clamp_(0.0, 1.0)


def heatmap_image(heatmap: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(N, 1, h, w) attention heatmap -> (N, 3, H, W) jet-coloured image in [-1, 1], like the official ``cam``:
    min-max scaled per image, bilinearly resized to the image size, coloured blue (low) to red (high)."""
    h = heatmap.detach().float()
    lo, hi = h.amin((1, 2, 3), keepdim=True), h.amax((1, 2, 3), keepdim=True)
    h = F.interpolate((h - lo) / (hi - lo).clamp_min(1e-12), size=size, mode="bilinear", align_corners=False)
    rgb = [(1.5 - (4 * h - k).abs()).clamp(0, 1) for k in (3, 2, 1)]  # the classic jet ramps
    return torch.cat(rgb, 1) * 2 - 1


class _ImageOnly(nn.Module):
    """A U-GAT-IT generator for inference and export: returns the image alone."""

    def __init__(self, gen: UGATITGenerator) -> None:
        super().__init__()
        self.gen = gen
        self.size_multiple = gen.size_multiple

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.gen(x)[0]


def _mse(x: torch.Tensor, target: float) -> torch.Tensor:
    return F.mse_loss(x, torch.full_like(x, target))


def _bce(logits: torch.Tensor, target: float) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, target))


# ------------------------------------------------------------------------------------------------- model
class UGATIT(TranslationGAN):
    """U-GAT-IT (Kim et al. 2020): attention-guided two-way translation with AdaLIN.

    Args:
        input_nc: channels of domain A.
        output_nc: channels of domain B; must equal ``input_nc`` (each generator also sees the other domain, for
            the identity and CAM losses).
        ngf: generator filters in the first conv (official ``--ch``: 64).
        ndf: discriminator filters in the first conv (official ``--ch``: 64).
        n_res: residual blocks of each generator's encoder and decoder (official ``--n_res``: 4).
        img_size: the training image side (official ``--img_size``: 256); the full generator's MLP depends on it.
        light: the official light model (``--light``): γ, β from pooled features; 10.6M instead of 279M generator
            parameters at 256x256.
        n_layers_global: layers of the global discriminators (official: 7, fixed in the code).
        n_layers_local: layers of the local discriminators (official: 5, fixed in the code).
        lambda_adv: λ1, weight of the adversarial terms, on D's map and on η_D's logits (official ``--adv_weight``).
        lambda_cyc: λ2, weight of the cycle L1 loss (``--cycle_weight``: 10).
        lambda_idt: λ3, weight of the identity L1 loss (``--identity_weight``: 10).
        lambda_cam: λ4, weight of the generators' CAM loss (``--cam_weight``: 1000).
        lr: Adam learning rate of G and D (``--lr``: 1e-4).
        beta1: Adam β1 (0.5 in the official code).
        beta2: Adam β2 (0.999).
        weight_decay: Adam's L2 weight decay (``--weight_decay``: 1e-4).
        decay_flag: the official schedule (``--decay_flag``): constant for the first ``n_iterations // 2`` training
            iterations (batches), then linear decay to 0 at ``n_iterations``, updated every iteration. It is
            counted in batches, not epochs: set ``trainer.max_steps = 2 * n_iterations`` (Lightning counts the G
            and the D step). ``False``: the epoch-based ``lr_policy``/``lr_scheduler`` of the base class instead.
        n_iterations: training iterations of the official schedule (``--iteration``: 1,000,000).
        lr_policy: base-class epoch schedule used when ``decay_flag`` is off (``constant`` by default).
        init_type: must stay ``None``: PyTorch's default initialisation, as in the official code.
        val_metrics: what validation and test report for G: A→B, as for CycleGAN: ``fid``, ``kid``, ``acc``
            (``None``: ``fid`` and ``kid`` if ``feature_extractor`` is set), next to the cycle errors.
        feature_extractor: feature space of fid/kid/acc, a space of domain B (``digits_uci`` for the demo).
        **kwargs: further options of :class:`TranslationGAN` (``fused``, ``optimizer``, ...).
    """

    batch_kind = "unpaired"
    # The light generator: the full one only takes img_size inputs, which export's size probe cannot satisfy (the
    # full model at 32x32 is tested in tests/test_ugatit.py).
    tiny_config = {
        "input_nc": 1,
        "output_nc": 1,
        "ngf": 8,
        "ndf": 8,
        "n_res": 1,
        "img_size": 32,
        "light": True,
        "n_layers_global": 5,
        "n_layers_local": 3,
    }

    # Official weights: one file ``<dataset>_params_<iteration>.pt`` holding these six state dicts.
    official_names = ("ugatit", "u-gat-it")
    official_networks = {
        "genA2B": "gen_a2b",
        "genB2A": "gen_b2a",
        "disGA": "disc_global_a",
        "disGB": "disc_global_b",
        "disLA": "disc_local_a",
        "disLB": "disc_local_b",
    }
    official_file_pattern = "{epoch}_params_{name}.pt"  # not the official layout (one file): see the module doc

    def __init__(
        self,
        input_nc: int = 3,
        output_nc: int = 3,
        ngf: int = 64,
        ndf: int = 64,
        n_res: int = 4,
        img_size: int = 256,
        light: bool = False,
        n_layers_global: int = 7,
        n_layers_local: int = 5,
        lambda_adv: float = 1.0,
        lambda_cyc: float = 10.0,
        lambda_idt: float = 10.0,
        lambda_cam: float = 1000.0,
        lr: float = 1e-4,
        beta1: float = 0.5,
        beta2: float = 0.999,
        weight_decay: float = 1e-4,
        decay_flag: bool = True,
        n_iterations: int = 1_000_000,
        lr_policy: Literal["linear", "step", "cosine", "constant"] = "constant",
        init_type: None = None,
        val_metrics: list[str] | None = None,
        feature_extractor: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(lr=lr, beta1=beta1, beta2=beta2, lr_policy=lr_policy, init_type=init_type, **kwargs)
        if input_nc != output_nc:
            raise ValueError(
                f"U-GAT-IT needs input_nc == output_nc (got {input_nc} and {output_nc}): each generator also "
                "translates images of its target domain (identity loss) and classifies both domains (CAM loss)"
            )
        if init_type is not None:
            raise ValueError(f"init_type={init_type!r}: U-GAT-IT uses PyTorch's default initialisation (leave it None)")
        if decay_flag and (self.lr_scheduler_factory is not None or lr_policy != "constant"):
            raise ValueError(
                "decay_flag=True is the official per-iteration linear decay; set decay_flag=False to use lr_policy "
                "or lr_scheduler instead"
            )
        if n_iterations < 2:
            raise ValueError(f"n_iterations must be >= 2, got {n_iterations}")

        def gen() -> UGATITGenerator:
            return UGATITGenerator(input_nc, output_nc, ngf, n_res, img_size, light)

        self.gen_a2b, self.gen_b2a = gen(), gen()
        self.disc_global_a = UGATITDiscriminator(input_nc, ndf, n_layers_global)
        self.disc_global_b = UGATITDiscriminator(output_nc, ndf, n_layers_global)
        self.disc_local_a = UGATITDiscriminator(input_nc, ndf, n_layers_local)
        self.disc_local_b = UGATITDiscriminator(output_nc, ndf, n_layers_local)
        if not light:
            self.inference_size = (img_size, img_size)  # the only size the full generator takes
        self.eval_metrics = self.build_eval_metrics(val_metrics, feature_extractor, paired=False)

    # ------------------------------------------------------------------------------------------- players
    def param_groups(self) -> dict[str, list[nn.Module]]:
        # One optimiser over both generators and one over the four discriminators, as in the official code.
        return {
            "G": [self.gen_a2b, self.gen_b2a],
            "D": [self.disc_global_a, self.disc_global_b, self.disc_local_a, self.disc_local_b],
        }

    def configure_optimizers(self):
        hp = self.hparams
        optimizers = []
        for modules in self.param_groups().values():
            params = list(self._parameters_of(modules))
            if self.optimizer_factory is not None:
                optimizers.append(self.optimizer_factory(params))
            else:
                optimizers.append(
                    torch.optim.Adam(
                        params, lr=hp.lr, betas=(hp.beta1, hp.beta2), weight_decay=hp.weight_decay, fused=hp.fused
                    )
                )
        if hp.decay_flag:
            half = hp.n_iterations // 2
            # Factor of the learning rate used by iteration k (0-based; the official step k + 1): the official code
            # subtracts lr / half before every step past the half, reaching 0 at the last one.
            schedulers = [
                torch.optim.lr_scheduler.LambdaLR(opt, lambda k: max(0.0, 1.0 - max(0, k + 1 - half) / half))
                for opt in optimizers
            ]
        else:
            schedulers = [s for s in (self._make_scheduler(opt) for opt in optimizers) if s is not None]
        return optimizers, schedulers

    def on_train_epoch_end(self) -> None:
        if not self.hparams.decay_flag:  # with decay_flag the schedule is stepped per iteration in training_step
            super().on_train_epoch_end()

    # ----------------------------------------------------------------------------------------- inference
    def inference_conditions(self) -> dict[str, Condition]:
        return {
            "direction": Condition(
                "choice", "a2b: G_s→t (A→B), b2a: G_t→s (B→A)", choices=("a2b", "b2a"), default="a2b"
            )
        }

    def inference_spec(self, **conditions: Any) -> InferenceSpec:
        conditions = self.check_conditions(conditions)
        direction = conditions.get("direction", "a2b")
        gen = self.gen_a2b if direction == "a2b" else self.gen_b2a
        # Wrapped: the generator also returns η's logits and the heatmap; inference and export want the image.
        return InferenceSpec(_ImageOnly(gen), int(self.hparams.input_nc), gen.size_multiple)

    def forward(self, x: torch.Tensor, direction: Literal["a2b", "b2a"] = "a2b") -> torch.Tensor:
        if direction == "a2b":
            return self.gen_a2b(x)[0]
        if direction == "b2a":
            return self.gen_b2a(x)[0]
        raise ValueError(f"direction must be 'a2b' or 'b2a', got {direction!r}")

    # ------------------------------------------------------------------------------------------ training
    def training_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        hp = self.hparams
        real_a, real_b = batch["A"], batch["B"]  # (N, C, H, W) each
        n = real_a.shape[0]
        opt_g, opt_d = self.optimizers()

        # Each generator translates its source domain and (identity, CAM) its target domain in one batch.
        out, cam_a2b, _ = self.gen_a2b(torch.cat([real_a, real_b]))
        fake_b, idt_b = out[:n], out[n:]  # G_{s→t}(x_s), G_{s→t}(x_t)
        out, cam_b2a, _ = self.gen_b2a(torch.cat([real_b, real_a]))
        fake_a, idt_a = out[:n], out[n:]  # G_{t→s}(x_t), G_{t→s}(x_s)

        # D step first, as in the official code: L_lsgan and L_cam^D of §2.2 on every discriminator, D's side.
        with self.toggled_optimizer(opt_d):
            fa, fb = fake_a.detach(), fake_b.detach()
            self._step(
                opt_d,
                {
                    "d_global_a": hp.lambda_adv * self._d_loss(self.disc_global_a, real_a, fa),
                    "d_local_a": hp.lambda_adv * self._d_loss(self.disc_local_a, real_a, fa),
                    "d_global_b": hp.lambda_adv * self._d_loss(self.disc_global_b, real_b, fb),
                    "d_local_b": hp.lambda_adv * self._d_loss(self.disc_local_b, real_b, fb),
                },
            )

        with self.toggled_optimizer(opt_g):
            rec_a = self.gen_b2a(fake_b)[0]  # G_{t→s}(G_{s→t}(x_s))
            rec_b = self.gen_a2b(fake_a)[0]
            losses = {
                # L_lsgan + L_cam^D, G's side (λ1): fakes judged as real by both scales of D.
                "g_adv_a": hp.lambda_adv * self._g_adv((self.disc_global_a, self.disc_local_a), fake_a),
                "g_adv_b": hp.lambda_adv * self._g_adv((self.disc_global_b, self.disc_local_b), fake_b),
                # L_cycle (λ2) and L_identity (λ3), both L1.
                "g_cyc_a": hp.lambda_cyc * F.l1_loss(rec_a, real_a),
                "g_cyc_b": hp.lambda_cyc * F.l1_loss(rec_b, real_b),
                "g_idt_a": hp.lambda_idt * F.l1_loss(idt_a, real_a),
                "g_idt_b": hp.lambda_idt * F.l1_loss(idt_b, real_b),
                # L_cam^G (λ4): η_s says "source" (1) for x_s and "not source" (0) for x_t.
                "g_cam_a": hp.lambda_cam * (_bce(cam_b2a[:n], 1.0) + _bce(cam_b2a[n:], 0.0)),
                "g_cam_b": hp.lambda_cam * (_bce(cam_a2b[:n], 1.0) + _bce(cam_a2b[n:], 0.0)),
            }
            self._step(opt_g, losses)
        clip_rho_(self.gen_a2b)  # ρ ∈ [0, 1] after each update (§2.1.1)
        clip_rho_(self.gen_b2a)

        if hp.decay_flag:
            schedulers = self.lr_schedulers()
            for sch in schedulers if isinstance(schedulers, list) else [schedulers]:
                sch.step()

    @staticmethod
    def _d_loss(disc: nn.Module, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        """(D(x_t) − 1)² + D(G(x_s))² on the logit map and on η_D's logits (official MSE targets 1 / 0)."""
        n = real.shape[0]
        logit, cam, _ = disc(torch.cat([real, fake]))  # one batch: real, then fake
        return _mse(logit[:n], 1.0) + _mse(logit[n:], 0.0) + _mse(cam[:n], 1.0) + _mse(cam[n:], 0.0)

    @staticmethod
    def _g_adv(discs: tuple[nn.Module, ...], fake: torch.Tensor) -> torch.Tensor:
        """Σ_D (D(G(x_s)) − 1)² on the logit map and on η_D's logits, over the global and the local D."""
        total = fake.new_zeros(())
        for disc in discs:
            logit, cam, _ = disc(fake)
            total = total + _mse(logit, 1.0) + _mse(cam, 1.0)
        return total

    # ------------------------------------------------------------------------------------------- visuals
    @torch.no_grad()
    def visuals(self, batch: dict[str, Any]) -> list[list[torch.Tensor]]:
        """The official sample grid, one row per direction: x, then attention heatmap and image of the identity
        G(x_t), of the translation and of the cycle reconstruction."""
        rows = []
        for real, gen, back in (
            (batch["A"], self.gen_a2b, self.gen_b2a),
            (batch["B"], self.gen_b2a, self.gen_a2b),
        ):
            size = real.shape[-2:]
            idt, _, heat_idt = back(real)  # the generator into x's own domain
            fake, _, heat_fake = gen(real)
            rec, _, heat_rec = back(fake)
            rows.append(
                [
                    real,
                    heatmap_image(heat_idt, size),
                    idt,
                    heatmap_image(heat_fake, size),
                    fake,
                    heatmap_image(heat_rec, size),
                    rec,
                ]
            )
        return rows

    # ---------------------------------------------------------------------------------------- evaluation
    def eval_step(self, batch: dict[str, Any], stage: str) -> None:
        # val/cyc_a, val/cyc_b (L1 of the cycle loss) and the metrics of G_s→t(a) against real b.
        self.eval_cycle(batch, stage, partial(self, direction="a2b"), partial(self, direction="b2a"))

    # ---------------------------------------------------------------------------------- official weights
    # Official key prefixes -> ours (everything after them matches): generator DownBlock -> encoder, FC -> mlp,
    # UpBlock1_<k> -> decoder_res.<k-1>, UpBlock2 -> decoder_up; discriminator model -> encoder, conv -> classifier.1.
    _PREFIXES = {
        "gen": (("DownBlock.", "encoder."), ("FC.", "mlp."), ("UpBlock2.", "decoder_up.")),
        "dis": (("model.", "encoder."), ("conv.", "classifier.1.")),
    }

    @classmethod
    def _rename(cls, name: str, state_dict: dict[str, torch.Tensor], to_ours: bool) -> dict[str, torch.Tensor]:
        out = {}
        for key, value in state_dict.items():
            if to_ours:
                key = re.sub(r"^UpBlock1_(\d+)\.", lambda m: f"decoder_res.{int(m.group(1)) - 1}.", key)
            else:
                key = re.sub(r"^decoder_res\.(\d+)\.", lambda m: f"UpBlock1_{int(m.group(1)) + 1}.", key)
            for official, ours in cls._PREFIXES[name[:3]]:
                old, new = (official, ours) if to_ours else (ours, official)
                if key.startswith(old):
                    key = new + key[len(old) :]
                    break
            out[key] = value
        return out

    @classmethod
    def official_to_ours(cls, name: str, state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return cls._rename(name, state_dict, to_ours=True)

    @classmethod
    def ours_to_official(cls, name: str, state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return cls._rename(name, state_dict, to_ours=False)

    @classmethod
    def official_options(cls, state: dict[str, dict[str, torch.Tensor]], hparams: dict[str, Any]) -> dict[str, Any]:
        from ..hub import Evidence, OfficialWeightsError, merge_evidence

        evidence: dict[str, Evidence] = {}
        for name in ("genA2B", "genB2A"):
            if name not in state:
                continue
            sd, ev = state[name], Evidence()
            if "encoder.1.weight" not in sd or "mlp.0.weight" not in sd:
                raise OfficialWeightsError(f"{name}: not a U-GAT-IT generator (no DownBlock.1.weight / FC.0.weight)")
            first = sd["encoder.1.weight"]  # (ngf, input_nc, 7, 7)
            ngf = first.shape[0]
            ev.add("ngf", ngf, f"DownBlock.1.weight has {ngf} filters")
            ev.add("input_nc", first.shape[1], f"DownBlock.1.weight takes {first.shape[1]} channels")
            last = [k for k in sd if k.startswith("decoder_up.") and k.endswith(".weight") and sd[k].dim() == 4][-1]
            ev.add("output_nc", sd[last].shape[0], f"the last conv gives {sd[last].shape[0]} channels")
            n_res = len({k.split(".")[1] for k in sd if k.startswith("decoder_res.")})
            ev.add("n_res", n_res, f"{n_res} UpBlock1_<k> blocks")
            fc_in = sd["mlp.0.weight"].shape[1]
            if fc_in == 4 * ngf:
                ev.add("light", True, f"FC.0 reads {fc_in} = 4·ngf pooled features (the light model)")
            else:
                side = math.isqrt(fc_in // (4 * ngf))
                if side * side * 4 * ngf != fc_in:
                    raise OfficialWeightsError(f"{name}: FC.0.weight reads {fc_in} features, not (img_size/4)²·4·ngf")
                ev.add("light", False, f"FC.0 reads {fc_in} features (the full model)")
                ev.add("img_size", 4 * side, f"FC.0 reads ({side}x{side})·{4 * ngf} features")
            evidence[name] = ev
        for name, option in (
            ("disGA", "n_layers_global"),
            ("disGB", "n_layers_global"),
            ("disLA", "n_layers_local"),
            ("disLB", "n_layers_local"),
        ):
            if name not in state:
                continue
            sd, ev = state[name], Evidence()
            convs = sorted({int(k.split(".")[1]) for k in sd if k.startswith("encoder.") and k.endswith("weight_orig")})
            if not convs:
                raise OfficialWeightsError(f"{name}: not a U-GAT-IT discriminator (no model.<i>.weight_orig)")
            ev.add(option, len(convs) + 1, f"{len(convs)} convs in model")
            ev.add("ndf", sd["encoder.1.weight_orig"].shape[0], "model.1.weight_orig's filters")
            ev.add("input_nc", sd["encoder.1.weight_orig"].shape[1], "model.1.weight_orig's input channels")
            evidence[name] = ev
        return merge_evidence(evidence, hparams)


__all__ = ["LIN", "UGATIT", "AdaLIN", "UGATITDiscriminator", "UGATITGenerator", "clip_rho_", "layer_instance_norm"]
