"""StyleGAN2: Analyzing and Improving the Image Quality of StyleGAN.

Karras, Laine, Aittala, Hellsten, Lehtinen, Aila. CVPR 2020. arXiv:1912.04958
Reference code: NVlabs/stylegan2-ada-pytorch (``training/networks.py``, ``training/loss.py``,
``training/training_loop.py``; ``train.py``'s ``cfg_specs``), the official PyTorch port of the paper's config F.

The networks (§2-4 of the paper, config F):

- Mapping network f: z (512) -> w (512): z normalised to unit second moment, 8 fully connected layers with leaky
  ReLU (0.2, gain sqrt 2) and a learning-rate multiplier of 0.01; w broadcast to one w per layer (``num_ws``). The
  running mean of w (``w_avg``, decay 0.995) serves the truncation trick at inference (``truncation_psi``).
- Synthesis network g: a learned 4x4 constant; per resolution a block of two modulated 3x3 convolutions (the
  first upsamples x2) with weight demodulation (Eq. 1-3), a per-layer noise input with a learned strength
  (initialised at 0), bias and leaky ReLU; the "skip" output: every block has a 1x1 modulated toRGB (no
  demodulation) and the RGB images of the lower resolutions are upsampled and added (Figure 7).
- Discriminator: "resnet" blocks (two 3x3 convolutions, the second downsamples, plus a 1x1 downsampling skip,
  both scaled by sqrt(0.5)), fromRGB only at the input; the 4x4 epilogue with the minibatch standard deviation
  (one feature over groups of ``mbstd_group_size``), a 3x3 convolution, a fully connected layer and the logit.
- Every layer uses the equalised learning rate: weights initialised N(0, 1) and multiplied at run time by
  ``lr_multiplier / sqrt(fan_in)``; biases multiplied by ``lr_multiplier``. Resampling uses the FIR filter
  [1, 3, 3, 1] (outer product, normalised). Activations are clamped to ±256 (``conv_clamp``; official configs).
- Widths: ``min(channel_base / resolution, channel_max)`` per resolution, for G and D alike.

Training (``loss.py`` / ``training_loop.py``): the non-saturating logistic loss (G: softplus(-D(G(z))); D:
softplus(D(G(z))) + softplus(-D(x))); lazy R1 on real images (gamma/2 · |∇D(x)|², every 16 D steps, multiplied by
16); lazy path-length regularisation (weight 2, every 4 G steps, multiplied by 4, on half the batch, pl_mean decay
0.01, the image perturbation scaled by 1/sqrt(H·W)); style mixing with probability 0.9 (a second w from a second z
from a random layer on); Adam (β = (0, 0.99), ε = 1e-8) with the lazy-regularisation correction: lr · c and
β^c with c = interval / (interval + 1) (4/5 for G, 16/17 for D); G's exponential moving average (``G_ema``) with a
half-life of ``ema_kimg`` thousand images (β = 0.5^(batch / (ema_kimg · 1000))), optional ramp-up; buffers
(``w_avg``) copied to G_ema. Each phase (G main, G reg, D main, D reg) has its own latents and its own optimiser
step, in that order, as in the official loop. Samples come from G_ema.

Presets (``train.py`` ``cfg_specs``, :data:`PRESETS`, ``StyleGAN2.from_preset(name)``); the defaults are
``paper256``:

=============  ====  =====  =============  ======  =====  ========  ==========  ======  ============
preset         GPUs  batch  channel_base   lr      gamma  ema_kimg  ema_rampup  mbstd   map layers
=============  ====  =====  =============  ======  =====  ========  ==========  ======  ============
paper256       8     64     16384 (0.5x)   0.0025  1      20        None        8       8
stylegan2      8     32     32768 (1x)     0.002   10     10        None        4       8
=============  ====  =====  =============  ======  =====  ========  ==========  ======  ============

Both: 25,000 kimg, channel_max 512, z = w = 512, conv_clamp 256. Parameters at 256x256x3 (equal to the official
``Generator``/``Discriminator`` built with these configs; ``tests/test_stylegan2.py`` pins them):
paper256 G 24,767,458 (mapping 2,101,248), D 24,001,089; stylegan2 G 30,034,338, D 28,864,129.
G_ema is a copy of G (not trained by the optimiser).

Module and parameter names follow the official code (``mapping.fc0.weight``, ``synthesis.b4.const``,
``synthesis.b8.conv0.affine.bias``, ``b256.fromrgb.weight``, ``b4.fc.weight`` ...), so official weights load key for
key into ``gen``/``gen_ema``/``disc``. Official ``.pkl`` files contain pickled code: :func:`read_official_pkl` reads
their tensors with a restricted unpickler that executes none of it (see there).

Deviations:
- No custom CUDA ops: upfirdn2d, bias_act and the resampling convolutions are written with plain PyTorch ops
  (the official reference implementations compute the same values); the modulated convolution uses the
  official non-fused form (scale activations, convolve, scale by the demodulation coefficients) in training and
  inference alike (the fused grouped convolution is the same function).
- No mixed precision inside the networks (official: the 4 highest resolutions in fp16, ``num_fp16_res=4``); use
  the trainer's ``precision`` instead. The ±256 clamp is kept.
- No ADA (adaptive discriminator augmentation): that is the later paper (Karras et al., NeurIPS 2020), not
  StyleGAN2; the official repository's ``--aug=noaug`` is what runs here. No conditioning labels (``c_dim = 0``).
- Minibatch standard deviation: when the batch is not a multiple of the group size, the official code fails; here
  the group is the largest divisor of the batch not above ``mbstd_group_size``.
- Inference clamps the images to [-1, 1] (the official ``generate.py`` clamps when it writes the PNGs) and uses
  the constant noise buffers (``noise_mode="const"``, ``generate.py``'s default); training uses random noise.
- Schedule in optimiser steps per batch: the official loop counts ``batch_idx`` over the whole batch across GPUs;
  here the regularisation intervals count this process's training batches.
"""

from __future__ import annotations

import io
import math
import pickle
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..nn.ema import half_life_beta, moving_average_copy, update_moving_average
from .base import Condition, InferenceSpec, TranslationGAN

#: ``train.py``'s ``cfg_specs`` (the two configurations of the paper's networks), in this class's options.
PRESETS: dict[str, dict[str, Any]] = {
    "paper256": {
        "channel_base": 16384,
        "mbstd_group_size": 8,
        "lr": 0.0025,
        "r1_gamma": 1.0,
        "ema_kimg": 20.0,
        "ema_rampup": None,
        "mapping_layers": 8,
    },
    "stylegan2": {
        "channel_base": 32768,
        "mbstd_group_size": 4,
        "lr": 0.002,
        "r1_gamma": 10.0,
        "ema_kimg": 10.0,
        "ema_rampup": None,
        "mapping_layers": 8,
    },
}
#: Batch size of each preset (the official total over 8 GPUs); set on the data module.
PRESET_BATCH = {"paper256": 64, "stylegan2": 32}

SQRT2 = math.sqrt(2.0)


# ------------------------------------------------------------------------------------------ resampling
def setup_filter(taps: list[float]) -> torch.Tensor:
    """The 2-D FIR filter: outer product of ``taps`` with itself, normalised to sum 1 ((4, 4) for [1, 3, 3, 1])."""
    f = torch.as_tensor(taps, dtype=torch.float32)
    f = torch.outer(f, f)
    return f / f.sum()


def upfirdn2d(
    x: torch.Tensor,
    f: torch.Tensor,
    up: int = 1,
    down: int = 1,
    pad: tuple[int, int, int, int] = (0, 0, 0, 0),
    gain: float = 1.0,
) -> torch.Tensor:
    """Upsample by zero insertion, pad (x0, x1, y0, y1; negative crops), convolve with ``f``, keep every ``down``-th."""
    n, c, h, w = x.shape
    if up > 1:
        x = F.pad(x.reshape(n, c, h, 1, w, 1), [0, up - 1, 0, 0, 0, up - 1]).reshape(n, c, h * up, w * up)
    x0, x1, y0, y1 = pad
    x = F.pad(x, [max(x0, 0), max(x1, 0), max(y0, 0), max(y1, 0)])
    x = x[:, :, max(-y0, 0) : x.shape[2] - max(-y1, 0), max(-x0, 0) : x.shape[3] - max(-x1, 0)]
    f = (f * gain).to(x.dtype).flip([0, 1])  # gain ** (ndim / 2) with a 2-D filter; a convolution, not correlation
    x = F.conv2d(x, f[None, None].expand(c, 1, *f.shape), groups=c)
    return x[:, :, ::down, ::down]


def upsample2d(x: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
    """x2 upsampling with the FIR filter (the skip generator's RGB path)."""
    return upfirdn2d(x, f, up=2, pad=(2, 1, 2, 1), gain=4.0)


def conv2d_resample(
    x: torch.Tensor, w: torch.Tensor, f: torch.Tensor, up: int = 1, down: int = 1, padding: int = 0
) -> torch.Tensor:
    """Convolution with x2 up- or downsampling through the FIR filter (the official ``conv2d_resample``).

    Upsampling: a stride-2 transposed convolution, then the filter (gain 4). The official layers call it with
    ``flip_weight=False`` there, i.e. a true convolution, which a transposed convolution of the unflipped kernel is.
    Downsampling: the filter, then a stride-2 convolution (1x1: filter and subsample, then the 1x1 convolution).
    """
    kh = w.shape[-1]
    if up > 1:
        # Padding of the upsampled image ((fw + up - 1) // 2, (fw - up) // 2 with fw = 4) less what the transposed
        # convolution adds (k - 1, k - up).
        p0, p1 = padding + 2 - (kh - 1), padding + 1 - (kh - up)
        x = F.conv_transpose2d(x, w.transpose(0, 1), stride=2)
        return upfirdn2d(x, f, pad=(p0, p1, p0, p1), gain=4.0)
    if down > 1:
        p = padding + 1  # (fw - down + 1) // 2 = (fw - down) // 2 = 1 with fw = 4
        if kh == 1:
            return F.conv2d(upfirdn2d(x, f, down=2, pad=(p, p, p, p)), w)
        return F.conv2d(upfirdn2d(x, f, pad=(p, p, p, p)), w, stride=2)
    return F.conv2d(x, w, padding=padding)


def bias_act(
    x: torch.Tensor, b: torch.Tensor | None, act: str, gain: float = 1.0, clamp: float | None = None
) -> torch.Tensor:
    """Bias, activation (``lrelu``: slope 0.2 and gain sqrt 2; ``linear``), gain and clamp (the official order)."""
    if b is not None:
        x = x + b.to(x.dtype).reshape(1, -1, *([1] * (x.dim() - 2)))
    if act == "lrelu":
        x = F.leaky_relu(x, 0.2) * (SQRT2 * gain)
    elif gain != 1:
        x = x * gain
    if clamp is not None:
        x = x.clamp(-clamp, clamp)
    return x


# ----------------------------------------------------------------------------------- equalised layers
class FullyConnectedLayer(nn.Module):
    """Linear layer with the equalised learning rate: W ~ N(0, 1) / lr_mul, used as W · lr_mul / sqrt(fan_in)."""

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        activation: str = "linear",
        lr_multiplier: float = 1.0,
        bias_init: float = 0.0,
    ) -> None:
        super().__init__()
        self.activation = activation
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr_multiplier)
        self.bias = nn.Parameter(torch.full([out_features], float(bias_init))) if bias else None
        self.weight_gain = lr_multiplier / math.sqrt(in_features)
        self.bias_gain = lr_multiplier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b = None if self.bias is None else self.bias * self.bias_gain
        return bias_act(x.matmul((self.weight * self.weight_gain).t().to(x.dtype)), b, self.activation)


class Conv2dLayer(nn.Module):
    """Convolution with the equalised learning rate and optional FIR up/downsampling (the discriminator's)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        bias: bool = True,
        activation: str = "linear",
        down: int = 1,
        resample_filter: list[float] = (1, 3, 3, 1),
        conv_clamp: float | None = None,
    ) -> None:
        super().__init__()
        self.activation, self.down, self.conv_clamp = activation, down, conv_clamp
        self.register_buffer("resample_filter", setup_filter(list(resample_filter)))
        self.padding = kernel_size // 2
        self.weight_gain = 1 / math.sqrt(in_channels * kernel_size**2)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None

    def forward(self, x: torch.Tensor, gain: float = 1.0) -> torch.Tensor:
        w = (self.weight * self.weight_gain).to(x.dtype)
        x = conv2d_resample(x, w, self.resample_filter, down=self.down, padding=self.padding)
        clamp = None if self.conv_clamp is None else self.conv_clamp * gain
        return bias_act(x, self.bias, self.activation, gain=gain, clamp=clamp)


# -------------------------------------------------------------------------------------------- mapping
def normalize_2nd_moment(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """z / sqrt(mean(z²) + eps) per sample (the "normalize z" of StyleGAN's mapping network)."""
    return x * (x.square().mean(dim=1, keepdim=True) + eps).rsqrt()


class MappingNetwork(nn.Module):
    """z (N, z_dim) -> w (N, num_ws, w_dim): 8 leaky-ReLU FC layers at 0.01 lr; tracks w_avg for truncation."""

    def __init__(
        self,
        z_dim: int,
        w_dim: int,
        num_ws: int,
        num_layers: int = 8,
        lr_multiplier: float = 0.01,
        w_avg_beta: float = 0.995,
    ) -> None:
        super().__init__()
        self.z_dim, self.w_dim, self.num_ws, self.num_layers, self.w_avg_beta = (
            z_dim,
            w_dim,
            num_ws,
            num_layers,
            w_avg_beta,
        )
        features = [z_dim] + [w_dim] * num_layers
        for i in range(num_layers):
            setattr(
                self,
                f"fc{i}",
                FullyConnectedLayer(features[i], features[i + 1], activation="lrelu", lr_multiplier=lr_multiplier),
            )
        self.register_buffer("w_avg", torch.zeros(w_dim))

    def forward(
        self,
        z: torch.Tensor,
        truncation_psi: float = 1.0,
        truncation_cutoff: int | None = None,
        skip_w_avg_update: bool = False,
    ) -> torch.Tensor:
        x = normalize_2nd_moment(z.float())
        for i in range(self.num_layers):
            x = getattr(self, f"fc{i}")(x)
        if self.training and not skip_w_avg_update:  # w_avg <- lerp(mean w, w_avg, 0.995)
            self.w_avg.copy_(x.detach().float().mean(0).lerp(self.w_avg, self.w_avg_beta))
        x = x.unsqueeze(1).repeat(1, self.num_ws, 1)  # (N, num_ws, w_dim)
        if truncation_psi != 1:  # the truncation trick: w' = w_avg + psi (w - w_avg)
            cut = self.num_ws if truncation_cutoff is None else truncation_cutoff
            x = torch.cat([self.w_avg.to(x.dtype).lerp(x[:, :cut], truncation_psi), x[:, cut:]], 1)
        return x


# ------------------------------------------------------------------------------------------ synthesis
def modulated_conv2d(
    x: torch.Tensor,
    weight: torch.Tensor,
    styles: torch.Tensor,
    f: torch.Tensor | None = None,
    up: int = 1,
    padding: int = 0,
    demodulate: bool = True,
    noise: torch.Tensor | None = None,
) -> torch.Tensor:
    """Modulation (Eq. 1: w'_ijk = s_i w_ijk), demodulation (Eq. 3: divide by sqrt(Σ w'² + 1e-8)), convolution.

    Written as the official non-fused path: x · s, convolve with the shared weight, multiply by the per-sample
    demodulation coefficients (then add the noise). ``x`` (N, I, H, W), ``weight`` (O, I, k, k), ``styles`` (N, I).
    """
    n = x.shape[0]
    x = x * styles.to(x.dtype).reshape(n, -1, 1, 1)
    x = conv2d_resample(x, weight.to(x.dtype), f, up=up, padding=padding)
    if demodulate:
        dcoefs = ((weight.unsqueeze(0) * styles.reshape(n, 1, -1, 1, 1)).square().sum([2, 3, 4]) + 1e-8).rsqrt()
        x = x * dcoefs.to(x.dtype).reshape(n, -1, 1, 1)  # (N, O)
    if noise is not None:
        x = x + noise.to(x.dtype)
    return x


class SynthesisLayer(nn.Module):
    """Modulated 3x3 convolution (optionally x2 up) + noise with learned strength + bias + leaky ReLU."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        w_dim: int,
        resolution: int,
        up: int = 1,
        resample_filter: list[float] = (1, 3, 3, 1),
        conv_clamp: float | None = None,
        kernel_size: int = 3,
    ) -> None:
        super().__init__()
        self.resolution, self.up, self.conv_clamp, self.padding = resolution, up, conv_clamp, kernel_size // 2
        self.register_buffer("resample_filter", setup_filter(list(resample_filter)))
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)  # styles start at 1
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.register_buffer("noise_const", torch.randn(resolution, resolution))
        self.noise_strength = nn.Parameter(torch.zeros([]))
        self.bias = nn.Parameter(torch.zeros(out_channels))

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise_mode: str = "random", gain: float = 1.0) -> torch.Tensor:
        styles = self.affine(w)
        if noise_mode == "random":
            noise = torch.randn(x.shape[0], 1, self.resolution, self.resolution, device=x.device) * self.noise_strength
        elif noise_mode == "const":
            noise = self.noise_const * self.noise_strength
        else:
            noise = None
        x = modulated_conv2d(x, self.weight, styles, self.resample_filter, self.up, self.padding, noise=noise)
        clamp = None if self.conv_clamp is None else self.conv_clamp * gain
        return bias_act(x, self.bias, "lrelu", gain=gain, clamp=clamp)


class ToRGBLayer(nn.Module):
    """Modulated 1x1 convolution without demodulation, styles scaled by 1/sqrt(fan_in)."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, conv_clamp: float | None = None) -> None:
        super().__init__()
        self.conv_clamp = conv_clamp
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, 1, 1))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.weight_gain = 1 / math.sqrt(in_channels)

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        x = modulated_conv2d(x, self.weight, self.affine(w) * self.weight_gain, demodulate=False)
        return bias_act(x, self.bias, "linear", clamp=self.conv_clamp)


class SynthesisBlock(nn.Module):
    """One resolution of the skip generator: (const | conv0 up) -> conv1 -> toRGB, RGB skip upsampled and added."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        w_dim: int,
        resolution: int,
        img_channels: int,
        conv_clamp: float | None,
    ) -> None:
        super().__init__()
        self.in_channels, self.resolution = in_channels, resolution
        self.register_buffer("resample_filter", setup_filter([1, 3, 3, 1]))
        if in_channels == 0:
            self.const = nn.Parameter(torch.randn(out_channels, resolution, resolution))
        else:
            self.conv0 = SynthesisLayer(in_channels, out_channels, w_dim, resolution, up=2, conv_clamp=conv_clamp)
        self.conv1 = SynthesisLayer(out_channels, out_channels, w_dim, resolution, conv_clamp=conv_clamp)
        self.torgb = ToRGBLayer(out_channels, img_channels, w_dim, conv_clamp=conv_clamp)
        self.num_conv = 1 if in_channels == 0 else 2
        self.num_torgb = 1

    def forward(
        self, x: torch.Tensor | None, img: torch.Tensor | None, ws: torch.Tensor, noise_mode: str = "random"
    ) -> tuple[torch.Tensor, torch.Tensor]:
        w_iter = iter(ws.unbind(1))
        if self.in_channels == 0:
            x = self.const.unsqueeze(0).repeat(ws.shape[0], 1, 1, 1)
        else:
            x = self.conv0(x, next(w_iter), noise_mode)
        x = self.conv1(x, next(w_iter), noise_mode)
        y = self.torgb(x, next(w_iter))
        img = y if img is None else upsample2d(img, self.resample_filter) + y  # the skip architecture (Fig. 7b)
        return x, img


class SynthesisNetwork(nn.Module):
    """ws (N, num_ws, w_dim) -> images (N, C, R, R): blocks b4, b8, ..., b{R}; each block's toRGB shares its w
    with the next block's first convolution (the official split of ws)."""

    def __init__(
        self,
        w_dim: int,
        img_resolution: int,
        img_channels: int,
        channel_base: int,
        channel_max: int,
        conv_clamp: float | None,
    ) -> None:
        super().__init__()
        log2 = int(math.log2(img_resolution))
        if img_resolution < 4 or 2**log2 != img_resolution:
            raise ValueError(f"image_size must be a power of two >= 4, got {img_resolution}")
        self.w_dim, self.block_resolutions = w_dim, [2**i for i in range(2, log2 + 1)]
        ch = {r: min(channel_base // r, channel_max) for r in self.block_resolutions}
        self.num_ws = 0
        for r in self.block_resolutions:
            block = SynthesisBlock(ch[r // 2] if r > 4 else 0, ch[r], w_dim, r, img_channels, conv_clamp)
            self.num_ws += block.num_conv
            setattr(self, f"b{r}", block)
        self.num_ws += 1  # the last toRGB

    def forward(self, ws: torch.Tensor, noise_mode: str = "random") -> torch.Tensor:
        x = img = None
        w_idx = 0
        for r in self.block_resolutions:
            block = getattr(self, f"b{r}")
            x, img = block(x, img, ws.narrow(1, w_idx, block.num_conv + block.num_torgb), noise_mode)
            w_idx += block.num_conv
        return img


class Generator(nn.Module):
    """G = g ∘ f: z (N, z_dim) -> images (N, C, R, R) (unbounded; about [-1, 1])."""

    def __init__(
        self,
        z_dim: int,
        w_dim: int,
        img_resolution: int,
        img_channels: int,
        mapping_layers: int,
        channel_base: int,
        channel_max: int,
        conv_clamp: float | None,
    ) -> None:
        super().__init__()
        self.z_dim, self.w_dim = z_dim, w_dim
        self.synthesis = SynthesisNetwork(w_dim, img_resolution, img_channels, channel_base, channel_max, conv_clamp)
        self.num_ws = self.synthesis.num_ws
        self.mapping = MappingNetwork(z_dim, w_dim, self.num_ws, mapping_layers)

    def forward(self, z: torch.Tensor, truncation_psi: float = 1.0, noise_mode: str = "random") -> torch.Tensor:
        return self.synthesis(self.mapping(z, truncation_psi), noise_mode)


class Sampler(nn.Module):
    """The inference/export network: z -> G_ema(z) with truncation, constant noise, clamped to [-1, 1]."""

    def __init__(self, gen: Generator, truncation_psi: float, noise_mode: str) -> None:
        super().__init__()
        self.gen, self.truncation_psi, self.noise_mode = gen, truncation_psi, noise_mode

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.gen(z, self.truncation_psi, self.noise_mode).clamp(-1, 1)


# ------------------------------------------------------------------------------------------ discriminator
class DiscriminatorBlock(nn.Module):
    """Residual block: (fromRGB at the input) conv0 3x3, conv1 3x3 down, + 1x1 down skip; both · sqrt(0.5)."""

    def __init__(
        self, in_channels: int, tmp_channels: int, out_channels: int, img_channels: int, conv_clamp: float | None
    ) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.register_buffer("resample_filter", setup_filter([1, 3, 3, 1]))
        if in_channels == 0:
            self.fromrgb = Conv2dLayer(img_channels, tmp_channels, 1, activation="lrelu", conv_clamp=conv_clamp)
        self.conv0 = Conv2dLayer(tmp_channels, tmp_channels, 3, activation="lrelu", conv_clamp=conv_clamp)
        self.conv1 = Conv2dLayer(tmp_channels, out_channels, 3, activation="lrelu", down=2, conv_clamp=conv_clamp)
        self.skip = Conv2dLayer(tmp_channels, out_channels, 1, bias=False, down=2)

    def forward(self, x: torch.Tensor | None, img: torch.Tensor) -> torch.Tensor:
        if self.in_channels == 0:
            x = self.fromrgb(img)
        y = self.skip(x, gain=math.sqrt(0.5))
        return y + self.conv1(self.conv0(x), gain=math.sqrt(0.5))


class MinibatchStdLayer(nn.Module):
    """Appends the standard deviation over groups of the batch, averaged over channels and pixels (F features)."""

    def __init__(self, group_size: int | None, num_channels: int = 1) -> None:
        super().__init__()
        self.group_size, self.num_channels = group_size, num_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        g = n if self.group_size is None else min(self.group_size, n)
        while n % g:  # deviation: the official code requires a batch divisible by the group size
            g -= 1
        f = self.num_channels
        y = x.reshape(g, -1, f, c // f, h, w)  # (G, n, F, c, H, W)
        y = (y - y.mean(0)).square().mean(0)
        y = (y + 1e-8).sqrt().mean(dim=[2, 3, 4])  # (n, F)
        y = y.reshape(-1, f, 1, 1).repeat(g, 1, h, w)  # (N, F, H, W)
        return torch.cat([x, y], 1)


class DiscriminatorEpilogue(nn.Module):
    """4x4: minibatch stddev, 3x3 conv, FC, logit."""

    def __init__(
        self,
        in_channels: int,
        resolution: int,
        mbstd_group_size: int | None,
        mbstd_num_channels: int,
        conv_clamp: float | None,
    ) -> None:
        super().__init__()
        self.mbstd = MinibatchStdLayer(mbstd_group_size, mbstd_num_channels) if mbstd_num_channels > 0 else None
        self.conv = Conv2dLayer(
            in_channels + mbstd_num_channels, in_channels, 3, activation="lrelu", conv_clamp=conv_clamp
        )
        self.fc = FullyConnectedLayer(in_channels * resolution**2, in_channels, activation="lrelu")
        self.out = FullyConnectedLayer(in_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.mbstd is not None:
            x = self.mbstd(x)
        return self.out(self.fc(self.conv(x).flatten(1)))


class Discriminator(nn.Module):
    """Images (N, C, R, R) -> logits (N, 1): residual blocks b{R} ... b8, epilogue b4."""

    def __init__(
        self,
        img_resolution: int,
        img_channels: int,
        channel_base: int,
        channel_max: int,
        mbstd_group_size: int | None,
        mbstd_num_channels: int,
        conv_clamp: float | None,
    ) -> None:
        super().__init__()
        log2 = int(math.log2(img_resolution))
        self.block_resolutions = [2**i for i in range(log2, 2, -1)]
        ch = {r: min(channel_base // r, channel_max) for r in [*self.block_resolutions, 4]}
        for r in self.block_resolutions:
            in_ch = ch[r] if r < img_resolution else 0
            setattr(self, f"b{r}", DiscriminatorBlock(in_ch, ch[r], ch[r // 2], img_channels, conv_clamp))
        self.b4 = DiscriminatorEpilogue(ch[4], 4, mbstd_group_size, mbstd_num_channels, conv_clamp)

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        x = None
        for r in self.block_resolutions:
            x = getattr(self, f"b{r}")(x, img)
        return self.b4(x)


# ----------------------------------------------------------------------------------------------- model
class StyleGAN2(TranslationGAN):
    """StyleGAN2 (config F) with the official ``paper256`` configuration as defaults (see the module docstring).

    Args:
        channels: image channels (3).
        image_size: resolution R (256; a power of two >= 8).
        z_dim: dimension of z (512).
        w_dim: dimension of w (512).
        mapping_layers: layers of the mapping network (8).
        channel_base: width multiplier, ``min(channel_base / res, channel_max)`` channels (paper256 16384,
            stylegan2 32768).
        channel_max: width cap (512).
        mbstd_group_size: minibatch-stddev group (paper256 8, stylegan2 4; official default 4).
        mbstd_num_channels: minibatch-stddev features (1).
        conv_clamp: activation clamp (256 in the official configs; None disables).
        r1_gamma: γ of the R1 penalty γ/2 · E|∇D(x)|² (paper256 1, stylegan2 10).
        r1_interval: lazy R1: every this many D steps (16).
        pl_weight: path-length regularisation weight (2).
        pl_interval: lazy path length: every this many G steps (4).
        pl_decay: decay of the running mean path length ``pl_mean`` (0.01).
        pl_batch_shrink: the path-length batch is the batch divided by this (2).
        style_mixing_prob: probability of style mixing per batch (0.9).
        ema_kimg: half-life of G_ema in thousands of images (paper256 20, stylegan2 10).
        ema_rampup: EMA ramp-up (None in both presets): half-life at most ``seen images · ema_rampup``.
        truncation_psi: ψ of the truncation trick at inference (1: none).
        noise_mode: noise at inference: ``const`` (official generate.py), ``random`` or ``none``.
        lr: Adam learning rate before the lazy-regularisation correction (paper256 0.0025, stylegan2 0.002).
        beta1: Adam β1 (0). beta2: Adam β2 (0.99). eps: Adam ε (1e-8).
        val_metrics: validation/test metrics (``fid``, ``kid``) of G_ema's samples against real images.
        feature_extractor: their feature space (``digits_mnist`` for the embedded digits).
        **kwargs: :class:`TranslationGAN` options.
    """

    batch_kind = "unconditional"
    tiny_config = {
        "channels": 1,
        "image_size": 32,
        "z_dim": 8,
        "w_dim": 8,
        "mapping_layers": 2,
        "channel_base": 64,
        "channel_max": 8,
        "mbstd_group_size": 2,
        "ema_kimg": 0.001,
    }

    def __init__(
        self,
        channels: int = 3,
        image_size: int = 256,
        z_dim: int = 512,
        w_dim: int = 512,
        mapping_layers: int = 8,
        channel_base: int = 16384,
        channel_max: int = 512,
        mbstd_group_size: int | None = 8,
        mbstd_num_channels: int = 1,
        conv_clamp: float | None = 256,
        r1_gamma: float = 1.0,
        r1_interval: int = 16,
        pl_weight: float = 2.0,
        pl_interval: int = 4,
        pl_decay: float = 0.01,
        pl_batch_shrink: int = 2,
        style_mixing_prob: float = 0.9,
        ema_kimg: float = 20.0,
        ema_rampup: float | None = None,
        truncation_psi: float = 1.0,
        noise_mode: Literal["const", "random", "none"] = "const",
        lr: float = 0.0025,
        beta1: float = 0.0,
        beta2: float = 0.99,
        eps: float = 1e-8,
        lr_policy: Literal["linear", "step", "cosine", "constant"] = "constant",
        val_metrics: list[str] | None = None,
        feature_extractor: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(lr=lr, beta1=beta1, beta2=beta2, lr_policy=lr_policy, **kwargs)
        self.gen = Generator(z_dim, w_dim, image_size, channels, mapping_layers, channel_base, channel_max, conv_clamp)
        self.disc = Discriminator(
            image_size, channels, channel_base, channel_max, mbstd_group_size, mbstd_num_channels, conv_clamp
        )
        self.gen_ema = moving_average_copy(self.gen).eval()
        self.register_buffer("pl_mean", torch.zeros([]))
        self.register_buffer("images_seen", torch.zeros([], dtype=torch.float64))  # for the EMA ramp-up
        self.eval_metrics = self.build_eval_metrics(val_metrics, feature_extractor, paired=False)

    def train(self, mode: bool = True) -> StyleGAN2:
        super().train(mode)
        self.gen_ema.eval()  # G_ema only ever samples: its mapping must not track w_avg itself (copied from G)
        return self

    @classmethod
    def from_preset(cls, preset: Literal["paper256", "stylegan2"], **overrides: Any) -> StyleGAN2:
        """The official configuration ``preset`` (:data:`PRESETS`); ``overrides`` win.

        The batch size belongs to the data module: :data:`PRESET_BATCH`."""
        if preset not in PRESETS:
            raise ValueError(f"preset must be one of {sorted(PRESETS)}, got {preset!r}")
        return cls(**{**PRESETS[preset], **overrides})

    # ------------------------------------------------------------------------------------------- players
    def param_groups(self) -> dict[str, list[nn.Module]]:
        return {"G": [self.gen], "D": [self.disc]}

    def configure_optimizers(self):
        if self.optimizer_factory is not None:
            return super().configure_optimizers()
        hp = self.hparams
        optimizers = []
        for mods, interval in ((self.param_groups()["G"], hp.pl_interval), (self.param_groups()["D"], hp.r1_interval)):
            c = interval / (interval + 1)  # lazy regularisation: mb_ratio (training_loop.py)
            optimizers.append(
                torch.optim.Adam(
                    list(self._parameters_of(mods)),
                    lr=hp.lr * c,
                    betas=(hp.beta1**c, hp.beta2**c),
                    eps=hp.eps,
                    fused=hp.fused,
                )
            )
        schedulers = [self._make_scheduler(opt) for opt in optimizers]
        return optimizers, [s for s in schedulers if s is not None]

    # ------------------------------------------------------------------------------------------ training
    def run_gen(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """G(z) with style mixing (loss.py ``run_G``): images and the ws used."""
        ws = self.gen.mapping(z)
        if self.hparams.style_mixing_prob > 0:
            cutoff = int(torch.randint(1, ws.shape[1], ()))
            if float(torch.rand(())) >= self.hparams.style_mixing_prob:
                cutoff = ws.shape[1]
            ws2 = self.gen.mapping(torch.randn_like(z), skip_w_avg_update=True)
            ws = torch.cat([ws[:, :cutoff], ws2[:, cutoff:]], 1)
        return self.gen.synthesis(ws), ws

    def sample_z(self, n: int) -> torch.Tensor:
        """n codes z ~ N(0, I), (N, z_dim)."""
        return torch.randn(n, self.hparams.z_dim, device=self.device)

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        hp = self.hparams
        real = batch["image"]  # (N, C, R, R) in [-1, 1]
        n = real.shape[0]
        opt_g, opt_d = self.optimizers()
        step = self.trainer.fit_loop.epoch_loop._batches_that_stepped  # batches trained so far (restored on resume)

        # Gmain: the non-saturating loss softplus(-D(G(z))).
        with self.toggled_optimizer(opt_g):
            fake, _ = self.run_gen(self.sample_z(n))
            self._step(opt_g, {"g_adv": F.softplus(-self.disc(fake)).mean()})
        # Greg: lazy path-length regularisation, every pl_interval batches, weighted by the interval.
        if hp.pl_weight > 0 and step % hp.pl_interval == 0:
            with self.toggled_optimizer(opt_g):
                fake, ws = self.run_gen(self.sample_z(max(1, n // hp.pl_batch_shrink)))
                pl_noise = torch.randn_like(fake) / math.sqrt(fake.shape[2] * fake.shape[3])
                (grads,) = torch.autograd.grad((fake * pl_noise).sum(), ws, create_graph=True)
                lengths = grads.square().sum(2).mean(1).sqrt()  # |J_w^T y| per sample, mean over the ws
                pl_mean = self.pl_mean.lerp(lengths.mean().detach().to(self.pl_mean.dtype), hp.pl_decay)
                self.pl_mean.copy_(pl_mean)
                penalty = (lengths - pl_mean).square().mean()
                self._step(opt_g, {"g_pl": penalty * hp.pl_weight * hp.pl_interval})
        # Dmain: softplus(D(G(z))) + softplus(-D(x)).
        with self.toggled_optimizer(opt_d):
            with torch.no_grad():
                fake, _ = self.run_gen(self.sample_z(n))
            self._step(
                opt_d,
                {"d_fake": F.softplus(self.disc(fake)).mean(), "d_real": F.softplus(-self.disc(real)).mean()},
            )
        # Dreg: lazy R1 on real images, γ/2 · |∇_x D(x)|², every r1_interval batches, weighted by the interval.
        if hp.r1_gamma > 0 and step % hp.r1_interval == 0:
            with self.toggled_optimizer(opt_d):
                real_ = real.detach().requires_grad_(True)
                (grads,) = torch.autograd.grad(self.disc(real_).sum(), real_, create_graph=True)
                r1 = grads.square().sum([1, 2, 3]).mean()
                self._step(opt_d, {"d_r1": r1 * (hp.r1_gamma / 2) * hp.r1_interval})
        self.update_ema(n)

    @torch.no_grad()
    def update_ema(self, batch_size: int) -> None:
        """G_ema <- lerp(G, G_ema, β), β = 0.5^(batch / ema_nimg); buffers copied (training_loop.py)."""
        hp = self.hparams
        ema_nimg = hp.ema_kimg * 1000
        if hp.ema_rampup is not None:  # the images seen before this batch (official cur_nimg)
            ema_nimg = min(ema_nimg, float(self.images_seen) * hp.ema_rampup)
        beta = half_life_beta(batch_size, ema_nimg)
        self.images_seen += batch_size
        update_moving_average([(self.gen, self.gen_ema)], beta, copy_buffers=True)

    # ----------------------------------------------------------------------------------------- inference
    def inference_conditions(self) -> dict[str, Condition]:
        return {"z": Condition("code", "latent code; drawn from N(0, I) when missing", dim=self.hparams.z_dim)}

    def sampler(self, ema: bool = True) -> Sampler:
        """G_ema (or the raw G) as the inference network, with ``truncation_psi`` and ``noise_mode``."""
        hp = self.hparams
        return Sampler(self.gen_ema if ema else self.gen, hp.truncation_psi, hp.noise_mode)

    def forward(self, n: int | None = None, z: torch.Tensor | None = None, ema: bool = True) -> torch.Tensor:
        """``n`` samples of G_ema (``ema=False``: of the raw G), or one per code ``z`` (N, z_dim); in [-1, 1]."""
        if z is None:
            if n is None:
                raise ValueError("give the number of samples n or the codes z")
            z = self.sample_z(n)
        return self.sampler(ema)(z.to(self.device))

    def inference_spec(self, **conditions: Any) -> InferenceSpec:
        self.check_conditions(conditions)
        return InferenceSpec(
            self.sampler(), self.hparams.channels, 1, {"z": torch.zeros(1, self.hparams.z_dim)}, image_input=False
        )

    # ----------------------------------------------------------------------------------- official weights
    @classmethod
    def from_official_pkl(cls, path: str | Path, **options: Any) -> StyleGAN2:
        """A model with the networks of an official snapshot ``.pkl`` (G, G_ema, D; whichever it holds; a G_ema-only
        file such as the released FFHQ models fills G with G_ema), read without running its pickled code.

        Architecture options (``channels``, ``image_size``, ``z_dim``, ``w_dim``, ``mapping_layers``,
        ``channel_base``, ``channel_max``) are read back from the tensors' shapes unless given.
        """
        nets = read_official_pkl(path)
        g = nets.get("G_ema", nets.get("G"))
        if g is None:
            raise OfficialPickleError(f"{path}: no 'G_ema' or 'G' network in the file (found {sorted(nets)})")
        model = cls(**{**official_options(g), **options})
        gen_state = nets.get("G", g)
        for name, module, state in (("G", model.gen, gen_state), ("G_ema", model.gen_ema, g)):
            _load_official(module, state, f"{path} [{name}]")
        if "D" in nets:
            _load_official(model.disc, nets["D"], f"{path} [D]")
        return model


# --------------------------------------------------------------------------------- official .pkl import
class OfficialPickleError(pickle.UnpicklingError):
    """An official ``.pkl`` holds something other than the known tensor containers, or does not fit."""


class _PersistentObject:
    """What the safe stand-in for ``torch_utils.persistence._reconstruct_persistent_obj`` returns: the pickled
    module's class name and its ``__dict__`` (nothing of the pickled source code is run)."""

    def __init__(self, meta: dict[str, Any]) -> None:
        self.class_name = str(meta.get("class_name"))
        self.state = dict(meta.get("state") or {})

    def state_dict(self, prefix: str = "") -> dict[str, torch.Tensor]:
        """``nn.Module.state_dict``'s keys and tensors, walked from ``_parameters``, ``_buffers``, ``_modules``."""
        out: dict[str, torch.Tensor] = {}
        skip = set(self.state.get("_non_persistent_buffers_set") or ())
        for kind in ("_parameters", "_buffers"):
            for k, v in (self.state.get(kind) or {}).items():
                if isinstance(v, torch.Tensor) and k not in skip:
                    out[prefix + k] = v.detach()
        for k, child in (self.state.get("_modules") or {}).items():
            if isinstance(child, _PersistentObject):
                out.update(child.state_dict(f"{prefix}{k}."))
        return out


def _load_from_bytes(data: bytes) -> Any:
    """``torch.storage._load_from_bytes`` (how plain pickle stores a tensor's storage), with ``weights_only``."""
    return torch.load(io.BytesIO(data), weights_only=True, map_location="cpu")


def _codecs_encode(text: str, encoding: str = "utf-8") -> bytes:
    """``_codecs.encode`` (pickle protocol 2 stores bytes as latin-1 text); nothing but encoding."""
    if encoding not in ("latin1", "latin-1"):
        raise OfficialPickleError(f"_codecs.encode with encoding {encoding!r} is not a pickled byte string")
    return text.encode(encoding)


#: (module, name) -> the object the restricted unpickler hands out. Anything else is refused.
_ALLOWED_GLOBALS: dict[tuple[str, str], Any] = {
    ("collections", "OrderedDict"): __import__("collections").OrderedDict,
    ("builtins", "set"): set,
    ("builtins", "dict"): dict,
    ("builtins", "list"): list,
    ("builtins", "tuple"): tuple,
    ("_codecs", "encode"): _codecs_encode,
    ("torch._utils", "_rebuild_tensor_v2"): torch._utils._rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): torch._utils._rebuild_parameter,
    ("torch.storage", "_load_from_bytes"): _load_from_bytes,
    ("torch_utils.persistence", "_reconstruct_persistent_obj"): _PersistentObject,
    ("dnnlib.util", "EasyDict"): dict,
    ("dnnlib", "EasyDict"): dict,
    ("numpy", "dtype"): np.dtype,
}
try:  # numpy >= 2 names its core module numpy._core; official files were written with numpy.core
    from numpy._core.multiarray import scalar as _np_scalar
except ImportError:  # pragma: no cover - numpy 1.x
    from numpy.core.multiarray import scalar as _np_scalar
_ALLOWED_GLOBALS[("numpy.core.multiarray", "scalar")] = _np_scalar
_ALLOWED_GLOBALS[("numpy._core.multiarray", "scalar")] = _np_scalar
for _dtype in ("Float", "Double", "Half", "Long", "Int", "Short", "Char", "Byte", "Bool", "BFloat16"):
    _ALLOWED_GLOBALS[("torch", f"{_dtype}Storage")] = getattr(torch, f"{_dtype}Storage")


class _RestrictedUnpickler(pickle.Unpickler):
    """Resolves only :data:`_ALLOWED_GLOBALS`; any other global (code, classes, callables) is refused."""

    def __init__(self, file: Any, path: str) -> None:
        super().__init__(file)
        self.path = path

    def find_class(self, module: str, name: str) -> Any:
        found = _ALLOWED_GLOBALS.get((module, name))
        if found is None:
            raise OfficialPickleError(
                f"{self.path}: refused to load the global {module}.{name}: official StyleGAN2 .pkl files are read "
                "without running pickled code, and only tensors, dicts and the persistence records of the official "
                "networks are accepted. The file is not an official snapshot, or holds something else."
            )
        return found

    def persistent_load(self, pid: Any) -> Any:
        raise OfficialPickleError(f"{self.path}: persistent ids ({pid!r}) are not part of an official .pkl")


def read_official_pkl(path: str | Path) -> dict[str, dict[str, torch.Tensor]]:
    """The state dicts (official key layout) of the networks in an official snapshot ``.pkl``, by name
    (``G``, ``D``, ``G_ema``; ``augment_pipe`` where present), without executing the file's pickled code.

    Official snapshots are ``pickle.dump({"G": ..., "D": ..., "G_ema": ..., "augment_pipe": ...,
    "training_set_kwargs": ...})`` where every network is a ``persistent_class`` instance pickled as
    ``_reconstruct_persistent_obj(meta)`` with its source code in ``meta``. The unpickler here maps that hook to a
    function that keeps only the object's state (the source is never compiled), tensors to torch's rebuild
    functions (storages through ``torch.load(..., weights_only=True)``), ``EasyDict`` to ``dict``, and refuses any
    other global with :class:`OfficialPickleError` naming the file and the global.
    """
    path = str(path)
    with open(path, "rb") as fh:
        data = _RestrictedUnpickler(fh, path).load()
    if not isinstance(data, dict):
        raise OfficialPickleError(f"{path}: expected a dict of networks, found {type(data).__name__}")
    return {k: v.state_dict() for k, v in data.items() if isinstance(v, _PersistentObject)}


def official_options(state: dict[str, torch.Tensor]) -> dict[str, Any]:
    """Architecture options read back from an official G state dict (keys and shapes)."""
    blocks = sorted(int(k.split(".")[1][1:]) for k in state if k.startswith("synthesis.b") and k.endswith("torgb.bias"))
    if not blocks:
        raise OfficialPickleError("not a StyleGAN2 generator: no synthesis.b<res>.torgb.bias")
    res = blocks[-1]
    layers = sum(1 for k in state if k.startswith("mapping.fc") and k.endswith(".weight"))
    ch_top = state[f"synthesis.b{res}.conv1.weight"].shape[0]
    channel_max = max(state[f"synthesis.b{r}.conv1.weight"].shape[0] for r in blocks)
    return {
        "channels": int(state[f"synthesis.b{res}.torgb.bias"].shape[0]),
        "image_size": res,
        "z_dim": int(state["mapping.fc0.weight"].shape[1]),
        "w_dim": int(state[f"mapping.fc{layers - 1}.weight"].shape[0]),
        "mapping_layers": layers,
        # Each block has min(channel_base // res, channel_max) channels: the top block's width fixes channel_base
        # unless it is capped too (then any base >= channel_max · res gives the same networks).
        "channel_base": int(ch_top * res) if ch_top < channel_max else int(channel_max * res),
        "channel_max": int(channel_max),
    }


def _load_official(module: nn.Module, state: dict[str, torch.Tensor], where: str) -> None:
    ours = module.state_dict()
    missing = sorted(set(ours) - set(state))
    unexpected = sorted(set(state) - set(ours))
    shapes = [
        f"{k}: file {tuple(state[k].shape)}, model {tuple(ours[k].shape)}"
        for k in ours
        if k in state and state[k].shape != ours[k].shape
    ]
    if missing or unexpected or shapes:
        raise OfficialPickleError(
            f"{where} does not fit: missing {missing[:5]}, unexpected {unexpected[:5]}, shapes {shapes[:5]}"
        )
    module.load_state_dict({k: v.float() for k, v in state.items()})


__all__ = ["PRESETS", "PRESET_BATCH", "OfficialPickleError", "StyleGAN2", "official_options", "read_official_pkl"]
