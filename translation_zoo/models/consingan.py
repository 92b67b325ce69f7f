"""ConSinGAN: Improved Techniques for Training Single-Image GANs.

Hinz, Fisher, Wang, Wermter. WACV 2021. arXiv:2003.11512
Reference code: tohinz/ConSinGAN (``ConSinGAN/config.py`` and ``main_train.py`` for the defaults,
``ConSinGAN/models.py``, ``ConSinGAN/training_generation.py``, ``ConSinGAN/training_harmonization_editing.py``,
``ConSinGAN/functions.py``, ``evaluate_model.py``).

Like SinGAN, a GAN learnt from the patches of one image x, coarse to fine over an image pyramid x_0 ... x_N. Unlike
SinGAN, there is ONE generator that grows: stage n adds a block of ``num_layer`` convolutions (initialised as a copy
of the previous block) on top of the features of the stages below, upsampled to the new resolution, with noise
added in feature space; the generator is trained *concurrently* on its last ``train_depth`` blocks (paper §3.1,
"multi-stage training"), the lower of them with the learning rate scaled by ``lr_scale`` per stage below the top
(``lr_g · lr_scale^(k-1-i)`` for the i-th of the k trained blocks; the head while n < ``train_depth`` with
``lr_g · lr_scale^n``; the tail always ``lr_g``); earlier blocks are frozen. Each stage's critic is a fresh patch
critic that starts from the previous stage's weights. The loss at stage n is SinGAN's (paper §3.1):

    min_G max_D  L_adv(G, D_n) + α L_rec(G),

L_adv the WGAN-GP loss of the patch critic D_n on x_n, L_rec = ``||G(z_rec) - x_n||²`` with a fixed input z_rec:
the coarsest image x_0 itself at stage 0 (generation, retargeting, harmonisation), and fixed noise maps above it
(scaled by each stage's noise amplitude, which is 0.1 x the RMSE of the stage's first reconstruction).

"Improved rescaling" (paper §3.2): fewer stages (6), with more of them at low resolution: the scales of stages
n = 0 .. N-1 are ``r^((N-1)/ln(N) · ln(N-n) + 1)`` of the image (N = ``train_stages`` - 1), where the official
code derives r from ``min_size``: ``r = (min_size / shorter side)^(1/N)`` (``functions.adjust_scales2image`` and
``create_reals_pyramid``; :func:`pyramid` reproduces the official sizes). Harmonisation uses the old, geometric
rescaling ``r^(N-n)``, as the official code does.

The official configuration (``config.py`` + ``main_train.py`` defaults), the defaults here:

- Image resized so that its longer side is at most ``max_size`` = 250 (the official resizer, :func:`imresize`);
  ``train_stages`` = 6, ``min_size`` = 25, ``train_depth`` = 3, ``lr_scale`` = 0.1.
- Networks: ``nfc`` = 64 channels everywhere, 3x3 convolutions without padding, LeakyReLU(0.05), no normalisation
  (``batch_norm`` adds BatchNorm to the generator only, as the official flag does). Generator: head conv block on the
  zero-padded (1 px) input, a body of ``num_layer`` = 3 conv blocks per stage, tail conv + tanh on the 1-px padded
  features. Critic: head + ``num_layer`` conv blocks + a conv to one channel. Conv weights ~ N(0, 0.02).
  In generation mode the head's output is bicubically upsampled by 2 px and the features entering each higher stage
  are upsampled to the stage's size + 2·``num_layer`` (noise added there), so that the unpadded block ends at the
  stage's size: this gives diversity at the image borders (official README). Retargeting/harmonisation pad instead.
- Parameters (3-channel images, default options; equal to the official networks built from the official code, and
  pinned in ``tests/test_consingan.py``): G 114,307 at stage 0, + 110,784 per stage: 668,227 with all 6 stages;
  D 113,153 per stage (its last bias included; see below).
- Training, per stage: ``niter`` = 2000 iterations, each ``d_steps`` = 3 critic steps then ONE generator backward
  pass followed by ``g_steps`` = 3 Adam steps with those same gradients (official ``for _ in range(opt.Gsteps):
  optimizerG.step()``); Adam(5e-4, β = (0.5, 0.999)) for G and D, new optimisers per stage; both learning rates
  × ``gamma`` = 0.1 from iteration 0.8 · ``niter`` on (the official ``MultiStepLR(milestones=[0.8 * niter])``: only
  when 0.8 · niter is a whole number, e.g. not for niter = 7, as there); WGAN-GP weight ``lambda_grad`` = 0.1 (the
  official per-pixel gradient norm over channels at one random interpolate); α = 10. Only the last critic step's
  fake keeps its graph, and the generator step reuses it (official).
- Modes (``train_mode``): ``generation`` (default), ``retarget`` (same, with padding instead of the border
  upsampling; the official mode for samples of other sizes) and ``harmonization`` (the official recipe adds
  ``train_stages=3, min_size=120, lrelu_alpha=0.3, niter=1000, batch_norm=True``): the generator's input at stage 0
  is the coarsest image *augmented* at every iteration (:func:`harmonization_augment`), so it learns to map
  a naive image to the training image's style; at test time the naive image is given as ``reference``.

Training in Lightning (as ``SinGAN``): one batch = one official iteration on the one image; a stage is ``niter``
batches; the next stage's block, critic and optimisers are made when a batch starts after the last one of a stage
(``on_train_batch_start``); training stops by itself after the last stage. The stage's iteration, the noise
amplitudes and the fixed reconstruction inputs are in the state dict, so a checkpoint written anywhere (mid-stage
too) resumes exactly. One device only.

Inference (``forward``/``sample``): random samples at the training size or any other (``scale_v``/``scale_h``,
the official ``evaluate_model`` sizes), ``start_scale`` (the stages below it take their fixed reconstruction
input: samples keep the coarse layout), ``reference`` (harmonisation and editing as the official
``evaluate_model``: the image replaces the stage-0 input, resized to the coarsest size; every stage takes its fixed
input unless ``start_scale`` says from where on noise is random; blending with a mask is left to the caller).

Deviations from the official code:
- The critic's last bias is a constant buffer (as in ``SinGAN``): a Wasserstein critic's bias gets an exactly zero
  gradient (real and fake maps have the same size), so it keeps its initial value in the official code too.
- Frozen parts of G get ``requires_grad=False`` (the official code leaves the head trainable but never steps it
  after stage ``train_depth``; the numbers are the same).
- The harmonisation augmentation is re-implemented with torch (the official one uses albumentations/imgaug on a
  float image in 0..255): the same composition, probabilities and ranges (one of {noise, invert/sepia, channel
  dropout/shuffle, HSV shift} with probability 0.25, then 1-2 cut-out holes of a random colour with probability
  0.9, sizes in pixels as there); its random numbers come from torch's generator (so resume stays exact); the HSV
  shift is applied in kornia's HSV space.
- Not implemented: the ``editing`` and ``animation`` modes, fine-tuning on a naive image (``--fine_tune``).
- Images whose shorter side, after the ``max_size`` resize, is below ``min_size`` are refused; the new rescaling
  needs ``train_stages`` >= 3 (the official formula divides by ln(N) = 0 at 2 stages).
- ``scale_factor`` (not an official option; default ``None`` = the official derivation from ``min_size``) fixes
  r instead, e.g. the r = 0.55 the paper's rescaling discussion uses.
- Noise channels: the stage-0 noise has ``nc_im`` channels, the feature noise ``nfc`` (as there); grayscale images
  (``nc_im=1``) go through the same pipeline (the official code converts with ``rgb2gray``).
- Batched inference in eval mode; ``forward`` before the last stage is trained returns the finest trained stage
  resized to the training size.
- No official weights: the authors released code, not trained models (their ``netG.pth`` keys are ``gen.*`` here).

Equation numbers of the paper could not be checked offline; comments cite its sections.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..nn.single_image import Pyramid, gradient_penalty, imresize, resized_length, weights_init
from .base import Condition, InferenceSpec, TranslationGAN

TRAIN_MODES = ("generation", "retarget", "harmonization")
ACTIVATIONS = ("lrelu", "elu", "prelu", "selu")


# ------------------------------------------------------------------------------------------------- the pyramid
def pyramid(
    height: int,
    width: int,
    min_size: int = 25,
    max_size: int = 250,
    train_stages: int = 6,
    rescaling: str = "improved",
    scale_factor: float | None = None,
) -> Pyramid:
    """The official stages of a ``height`` x ``width`` image (``adjust_scales2image`` + ``create_reals_pyramid``).

    Args:
        rescaling: ``"improved"`` (paper §3.2: more stages at low resolution) or ``"geometric"`` (SinGAN's, the
            official harmonisation mode's).
        scale_factor: r; ``None``: the official ``(min_size / shorter side)^(1 / (train_stages - 1))``.

    Raises:
        ValueError: too few stages for the rescaling, or the image is too small for ``min_size``.
    """
    need = 3 if rescaling == "improved" else 2
    if train_stages < need:
        raise ValueError(f"the {rescaling} rescaling needs train_stages >= {need}, got {train_stages}")
    if min(height, width) < 1 or min_size < 1 or max_size < min_size:
        raise ValueError(
            f"need a positive image size and 1 <= min_size <= max_size; got {height}x{width}, min_size={min_size}, "
            f"max_size={max_size}"
        )
    scale1 = min(max_size / max(height, width), 1)
    real_h, real_w = resized_length(height, scale1), resized_length(width, scale1)
    if min(real_h, real_w) < min_size:
        raise ValueError(
            f"the image is {height}x{width} ({real_h}x{real_w} after resizing its longer side to max_size="
            f"{max_size}): its shorter side must be at least min_size={min_size} pixels"
        )
    stop = train_stages - 1
    factor = math.pow(min_size / min(real_h, real_w), 1 / stop) if scale_factor is None else float(scale_factor)
    sizes = []
    for i in range(stop):
        if rescaling == "improved":
            scale = math.pow(factor, ((stop - 1) / math.log(stop)) * math.log(stop - i) + 1)
        else:
            scale = math.pow(factor, stop - i)
        sizes.append((resized_length(real_h, scale), resized_length(real_w, scale)))
    sizes.append((real_h, real_w))
    return Pyramid(scale1, factor, tuple(sizes))


# ------------------------------------------------------------------------------------------------- networks
def _activation(name: str, lrelu_alpha: float) -> nn.Module:
    if name == "lrelu":
        return nn.LeakyReLU(lrelu_alpha, inplace=True)
    if name == "elu":
        return nn.ELU(alpha=1.0, inplace=True)
    if name == "prelu":
        return nn.PReLU(num_parameters=1, init=0.25)
    return nn.SELU(inplace=True)


class ConvBlock(nn.Sequential):
    """Conv (keys ``conv``) - optional BatchNorm (``norm``) - activation (named as the official: ``lrelu`` ...)."""

    def __init__(self, c_in: int, c_out: int, ker: int, pad: int, act: str, alpha: float, norm: bool) -> None:
        super().__init__()
        self.add_module("conv", nn.Conv2d(c_in, c_out, kernel_size=ker, stride=1, padding=pad))
        if norm:
            self.add_module("norm", nn.BatchNorm2d(c_out))
        self.add_module(act, _activation(act, alpha))


class Discriminator(nn.Module):
    """D_n, the patch critic of one stage (official ``Discriminator``): head, ``num_layer`` blocks, conv to 1."""

    def __init__(self, nc_im: int, nfc: int, ker: int, num_layer: int, pad: int, act: str, alpha: float) -> None:
        super().__init__()
        self.head = ConvBlock(nc_im, nfc, ker, pad, act, alpha, False)
        self.body = nn.Sequential()
        for i in range(num_layer):
            self.body.add_module(f"block{i}", ConvBlock(nfc, nfc, ker, pad, act, alpha, False))
        self.tail = nn.Conv2d(nfc, 1, kernel_size=ker, padding=pad)
        # A Wasserstein critic's bias gets an exactly zero gradient: a constant buffer under the official key.
        bias = self.tail.bias.detach()
        del self.tail.bias
        self.tail.register_buffer("bias", bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.tail(self.body(self.head(x)))


def _upsample(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """The official upsampling between stages: bicubic, ``align_corners=True``."""
    return F.interpolate(x, size=[int(size[0]), int(size[1])], mode="bicubic", align_corners=True)


class GrowingGenerator(nn.Module):
    """The one generator of every stage (official ``GrowingGenerator``): head, a body block per stage, tail.

    ``forward(noises, sizes, noise_amps)``: ``noises[0]`` (N, nc_im, h_0, w_0) is the stage-0 input (noise, or an
    image), ``noises[n]`` (N, nfc, ...) the feature noise of stage n (in generation mode 2·num_layer pixels larger
    than stage n), ``sizes[n]`` the (h, w) of stage n; the output has the size of the last block's stage.
    """

    def __init__(
        self,
        nc_im: int,
        nfc: int,
        ker: int,
        num_layer: int,
        pad: int,
        act: str,
        alpha: float,
        batch_norm: bool,
        border_upsampling: bool,
    ) -> None:
        super().__init__()
        self.num_layer, self.border_upsampling = num_layer, border_upsampling
        self._pad_block = num_layer - 1 if border_upsampling else num_layer
        self.head = ConvBlock(nc_im, nfc, ker, pad, act, alpha, batch_norm)
        first = nn.Sequential()
        for i in range(num_layer):
            first.add_module(f"block{i}", ConvBlock(nfc, nfc, ker, pad, act, alpha, batch_norm))
        self.body = nn.ModuleList([first])
        self.tail = nn.Sequential(nn.Conv2d(nfc, nc_im, kernel_size=ker, padding=pad), nn.Tanh())

    def init_next_stage(self) -> None:
        """A new stage: its block starts as a copy of the last one (official)."""
        self.body.append(copy.deepcopy(self.body[-1]))

    def forward(
        self, noises: list[torch.Tensor], sizes: list[tuple[int, int]], noise_amps: torch.Tensor
    ) -> torch.Tensor:
        x = self.head(F.pad(noises[0], [1] * 4))
        if self.border_upsampling:
            x = _upsample(x, (x.shape[2] + 2, x.shape[3] + 2))
        out = self.body[0](F.pad(x, [self._pad_block] * 4))
        grow = 2 * self.num_layer
        for n, block in enumerate(self.body[1:], 1):
            h, w = sizes[n]
            up = _upsample(out, (h, w))
            if self.border_upsampling:
                out = block(_upsample(out, (h + grow, w + grow)) + noises[n] * noise_amps[n]) + up
            else:
                out = block(F.pad(up + noises[n] * noise_amps[n], [self._pad_block] * 4)) + up
        return self.tail(F.pad(out, [1] * 4))


# ------------------------------------------------------------------------------------- harmonisation augmentation
def _uniform(lo: float, hi: float) -> float:
    return lo + (hi - lo) * float(torch.rand(()))


def _randint(lo: int, hi: int) -> int:
    """Uniform integer in [lo, hi] (both included, as Python's ``random.randint`` of the official code)."""
    return lo + int(torch.randint(0, hi - lo + 1, ()))


def _choice(weights: list[float]) -> int:
    return int(torch.multinomial(torch.tensor(weights, dtype=torch.float64), 1))


_SEPIA = torch.tensor([[0.393, 0.769, 0.189], [0.349, 0.686, 0.168], [0.272, 0.534, 0.131]])


@torch.no_grad()
def harmonization_augment(image: torch.Tensor) -> torch.Tensor:
    """The official harmonisation augmentation (``functions.Augment``) of an image (1, C, h, w) in [-1, 1].

    On the 0..255 scale: with probability 0.25 one of (weights as albumentations' ``OneOf`` normalises them)
    {one of (multiplicative noise U(0.5, 1.5) per element and channel; additive Gaussian noise of σ ~ U(2.55, 12.75)
    shared by the channels; Gaussian noise of variance U(10, 50)), one of (invert, sepia), one of (drop a channel to
    0, shuffle the channels), an HSV shift (hue ±20 OpenCV units, saturation ±30, value ±20)} with weights 0.5, 0.5,
    0.5, 0.1; then with probability 0.9 a cut-out of 1 hole of 30-60 px or 2 holes of 15-30 px (square sides drawn
    per call, centred at a random pixel, clipped at the border) filled with a random colour 0..256. Back to [-1, 1]
    with clipping, as the official ``np2torch``. Random numbers from torch's global generator.
    """
    x = ((image.float() + 1) / 2).clamp(0, 1) * 255
    _, c, h, w = x.shape
    # The cut-out's parameters are drawn when the official transform is built, before it runs.
    color = [_randint(0, 256) for _ in range(3)]
    holes = _randint(1, 2)
    hole_h, hole_w = (_randint(15, 30), _randint(15, 30)) if holes == 2 else (_randint(30, 60), _randint(30, 60))
    if float(torch.rand(())) < 0.25:
        group = _choice([0.5, 0.5, 0.5, 0.1])
        if group == 0:
            kind = _choice([0.2, 0.5, 0.5])
            if kind == 0:
                x = x * (0.5 + torch.rand_like(x))
            elif kind == 1:
                x = x + torch.randn(1, 1, h, w, device=x.device) * _uniform(0.01 * 255, 0.05 * 255)
            else:
                x = x + torch.randn_like(x) * math.sqrt(_uniform(10, 50))
        elif group == 1:
            if _choice([0.5, 0.5]) == 0 or c != 3:
                x = 255 - x
            else:
                x = torch.einsum("ij,njhw->nihw", _SEPIA.to(x), x)
        elif group == 2:
            if _choice([0.5, 0.5]) == 0:
                x = x.clone()
                x[:, _randint(0, c - 1)] = 0
            else:
                x = x[:, torch.randperm(c, device="cpu").to(x.device)]
        elif c == 3:
            import kornia  # only here: the rest of the model does not need it

            hsv = kornia.color.rgb_to_hsv((x / 255).clamp(0, 1))
            dh, ds, dv = _uniform(-20, 20), _uniform(-30, 30), _uniform(-20, 20)
            hue = torch.remainder(hsv[:, :1] + dh * 2 * math.pi / 180, 2 * math.pi)
            sat = (hsv[:, 1:2] + ds / 255).clamp(0, 1)
            val = (hsv[:, 2:] + dv / 255).clamp(0, 1)
            x = kornia.color.hsv_to_rgb(torch.cat([hue, sat, val], 1)) * 255
    if float(torch.rand(())) < 0.9:
        x = x.clone()
        fill = torch.tensor(color[:c], dtype=x.dtype, device=x.device).view(1, c, 1, 1)
        for _ in range(holes):
            y, xx = _randint(0, h), _randint(0, w)
            y1 = min(max(y - hole_h // 2, 0), h)
            x1 = min(max(xx - hole_w // 2, 0), w)
            y2, x2 = min(y1 + hole_h, h), min(x1 + hole_w, w)
            x[:, :, y1:y2, x1:x2] = fill.expand(1, c, y2 - y1, x2 - x1)
    return ((x / 255 - 0.5) * 2).clamp(-1, 1)


# ------------------------------------------------------------------------------------------------- export
class ConSinGANSampler(nn.Module):
    """The generator with its stage sizes and amplitudes as one network, for export: noise maps ``z<n>`` of the
    stages from ``start`` in, an image out; the inputs of the stages below ``start`` are fixed buffers."""

    def __init__(
        self,
        gen: GrowingGenerator,
        noise_amps: torch.Tensor,
        sizes: list[tuple[int, int]],
        fixed: list[torch.Tensor],
        final_size: tuple[int, int],
    ) -> None:
        super().__init__()
        self.gen, self.sizes, self.final_size, self.start = gen, sizes, final_size, len(fixed)
        self.register_buffer("noise_amps", noise_amps.clone())
        for i, z in enumerate(fixed):
            self.register_buffer(f"fixed{i}", z.clone())

    def forward(self, *noises: torch.Tensor) -> torch.Tensor:
        n = noises[0].shape[0]
        fixed = [getattr(self, f"fixed{i}").expand(n, -1, -1, -1) for i in range(self.start)]
        out = self.gen([*fixed, *noises], self.sizes, self.noise_amps)
        if tuple(out.shape[-2:]) != self.final_size:
            out = imresize(out, size=self.final_size)
        return out


# ------------------------------------------------------------------------------------------------- the model
class ConSinGAN(TranslationGAN):
    """ConSinGAN: one growing generator trained concurrently on its last stages (see the module docstring).

    Args:
        image_size: (height, width) of the training image as given (before the ``max_size`` resize). ``None``: taken
            from the first training batch. It fixes the pyramid (:func:`pyramid`).
        train_mode: ``generation`` (official default), ``retarget`` or ``harmonization``.
        nc_im: image channels (official 3).
        nfc: channels of every layer (official 64).
        ker_size: convolution kernel (official 3).
        num_layer: conv blocks per stage's body and in the critic's body (official 3).
        padd_size: convolution padding (official 0).
        noise_amp: noise amplitude per unit RMSE of a stage's first reconstruction (official 0.1).
        min_size: shorter side of the coarsest stage (official 25; the harmonisation recipe 120).
        max_size: the image is first resized so that its longer side is at most this (official 250).
        train_stages: stages N + 1 (official 6; harmonisation 3).
        train_depth: stages trained concurrently (official 3).
        lr_scale: learning-rate factor per stage below the top (official 0.1).
        scale_factor: r of the pyramid; ``None`` (official): derived from ``min_size`` (module docstring).
        niter: iterations (batches) per stage (official 2000).
        lr_g: G's Adam learning rate (official 5e-4).
        lr_d: D's Adam learning rate (official 5e-4).
        gamma: learning-rate factor from iteration 0.8 · niter on (official 0.1).
        beta1: Adam β1 (official 0.5).
        beta2: Adam β2 (official 0.999).
        d_steps: critic steps per iteration (official ``Dsteps`` 3).
        g_steps: Adam steps of G per iteration, all with the one gradient (official ``Gsteps`` 3).
        lambda_grad: weight of the gradient penalty (official 0.1).
        alpha: α, the weight of the reconstruction loss (official 10).
        activation: ``lrelu`` (official), ``elu``, ``prelu`` or ``selu``.
        lrelu_alpha: LeakyReLU slope (official 0.05; the harmonisation recipe 0.3).
        batch_norm: BatchNorm in the generator's blocks (official off; on in the harmonisation recipe).
        **kwargs: :class:`TranslationGAN` options (``optimizer`` replaces the Adam of both players; ``fused``).
    """

    batch_kind = "single_image"
    # nfc 16, not 8: at 8 channels the official init (conv weights N(0, 0.02), default biases) leaves every critic
    # pre-activation with its bias's sign, so the hidden biases get an exactly zero gradient in the first step.
    tiny_config = {"image_size": (32, 32), "nfc": 16, "num_layer": 2, "min_size": 12, "train_stages": 3, "niter": 2}

    def __init__(
        self,
        image_size: tuple[int, int] | None = None,
        train_mode: str = "generation",
        nc_im: int = 3,
        nfc: int = 64,
        ker_size: int = 3,
        num_layer: int = 3,
        padd_size: int = 0,
        noise_amp: float = 0.1,
        min_size: int = 25,
        max_size: int = 250,
        train_stages: int = 6,
        train_depth: int = 3,
        lr_scale: float = 0.1,
        scale_factor: float | None = None,
        niter: int = 2000,
        lr_g: float = 5e-4,
        lr_d: float = 5e-4,
        gamma: float = 0.1,
        beta1: float = 0.5,
        beta2: float = 0.999,
        d_steps: int = 3,
        g_steps: int = 3,
        lambda_grad: float = 0.1,
        alpha: float = 10.0,
        activation: str = "lrelu",
        lrelu_alpha: float = 0.05,
        batch_norm: bool = False,
        **kwargs: Any,
    ) -> None:
        if kwargs.get("lr_scheduler") is not None:
            raise ValueError("ConSinGAN schedules its learning rates per stage itself (gamma at 0.8 * niter)")
        kwargs.setdefault("lr", lr_g)
        kwargs.setdefault("lr_policy", "constant")
        super().__init__(beta1=beta1, beta2=beta2, **kwargs)
        if train_mode not in TRAIN_MODES:
            raise ValueError(f"train_mode must be one of {TRAIN_MODES}, got {train_mode!r}")
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {ACTIVATIONS}, got {activation!r}")
        if nc_im not in (1, 3):
            raise ValueError(f"nc_im must be 1 or 3, got {nc_im}")
        if ker_size != 3 or padd_size != 0:
            # The official stage arithmetic (1-px pads around head and tail, num_layer-px pads per block) holds
            # for 3x3 kernels without padding only.
            raise ValueError(
                f"ConSinGAN's growing generator needs ker_size=3, padd_size=0; got {ker_size}, {padd_size}"
            )
        for name, value in (
            ("niter", niter),
            ("d_steps", d_steps),
            ("g_steps", g_steps),
            ("train_depth", train_depth),
            ("num_layer", num_layer),
        ):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        self.rescaling = "geometric" if train_mode == "harmonization" else "improved"
        pyramid(64, 64, 1, 250, train_stages, self.rescaling)  # checks train_stages early
        self.gen = GrowingGenerator(
            nc_im, nfc, ker_size, num_layer, padd_size, activation, lrelu_alpha, batch_norm, train_mode == "generation"
        )
        self.gen.apply(weights_init)  # official order: G (init_G) before the first stage's D (init_D)
        self.disc = self._new_disc()
        self.register_buffer("stage_iter", torch.zeros((), dtype=torch.long))  # iterations done in the last stage
        self.register_buffer("noise_amps", torch.zeros(1))  # per built stage
        self.register_buffer("image_hw", torch.zeros(2, dtype=torch.long))  # 0 = unknown
        self.register_buffer("z_opt0", torch.zeros(0))  # the fixed reconstruction inputs z_opt<n>, one per stage
        self.geometry: Pyramid | None = None
        if image_size is not None:
            self._set_image_size(image_size)
        self._freeze()

    # ------------------------------------------------------------------------------------------- geometry
    def _set_image_size(self, image_size: Any) -> None:
        hw = tuple(int(s) for s in image_size)
        if len(hw) != 2:
            raise ValueError(f"image_size must be (height, width), got {image_size!r}")
        hp = self.hparams
        if self.geometry is not None:
            if hw != tuple(self.image_hw.tolist()):
                raise ValueError(
                    f"this ConSinGAN was built for a {self.image_hw[0]}x{self.image_hw[1]} image (image_size), got "
                    f"{hw[0]}x{hw[1]}: a ConSinGAN learns one image; train a new model for another"
                )
            return
        self.geometry = pyramid(*hw, hp.min_size, hp.max_size, hp.train_stages, self.rescaling, hp.scale_factor)
        self.image_hw = torch.tensor(hw, dtype=torch.long, device=self.image_hw.device)
        if self.z_opt0.numel() == 0:
            self.z_opt0 = torch.zeros(1, hp.nc_im, *self.geometry.sizes[0], device=self.z_opt0.device)
        hp.image_size = hw

    @property
    def num_stages(self) -> int:
        """Stages built so far (the generator's blocks)."""
        return len(self.gen.body)

    @property
    def finished(self) -> bool:
        return self.num_stages == self.hparams.train_stages and int(self.stage_iter) >= self.hparams.niter

    def reals(self, image: torch.Tensor) -> list[torch.Tensor]:
        """The real pyramid of ``image`` (1, C, H, W): the ``max_size`` resize, then each stage from it."""
        geo = self.geometry
        real = imresize(image, geo.scale1)
        return [imresize(real, size=hw) if hw != tuple(real.shape[-2:]) else real for hw in geo.sizes]

    def fixed_noise(self) -> list[torch.Tensor]:
        """The fixed reconstruction inputs of the built stages (official ``fixed_noise``)."""
        return [getattr(self, f"z_opt{n}") for n in range(self.num_stages)]

    def _noise_shape(self, stage: int, hw: tuple[int, int]) -> tuple[int, int, int]:
        hp = self.hparams
        if stage == 0:
            return (hp.nc_im, *hw)
        grow = 2 * hp.num_layer if hp.train_mode == "generation" else 0
        return (hp.nfc, hw[0] + grow, hw[1] + grow)

    def _noise(self, n: int, stage: int, hw: tuple[int, int]) -> torch.Tensor:
        return torch.randn(n, *self._noise_shape(stage, hw), device=self.stage_iter.device)

    # ------------------------------------------------------------------------------------------- networks
    def _new_disc(self) -> Discriminator:
        hp = self.hparams
        disc = Discriminator(hp.nc_im, hp.nfc, hp.ker_size, hp.num_layer, hp.padd_size, hp.activation, hp.lrelu_alpha)
        disc.apply(weights_init)
        return disc

    def _freeze(self) -> None:
        """Train the last ``train_depth`` blocks, the tail, and the head while the stage is below ``train_depth``."""
        hp, depth = self.hparams, self.num_stages - 1
        for i, block in enumerate(self.gen.body):
            block.requires_grad_(i >= self.num_stages - hp.train_depth)
        self.gen.head.requires_grad_(depth < hp.train_depth)
        self.gen.tail.requires_grad_(True)

    def _add_stage(self) -> None:
        """Start the next stage (official order): a fresh critic loading the previous one's weights, a new block."""
        disc = self._new_disc().to(self.stage_iter.device)
        disc.load_state_dict(self.disc.state_dict())
        self.disc = disc
        self.gen.init_next_stage()
        self._freeze()
        self.noise_amps = torch.cat([self.noise_amps, self.noise_amps.new_zeros(1)])
        self.stage_iter.zero_()

    def param_groups(self) -> dict[str, list[nn.Module]]:
        """G (its trained parts: the frozen blocks have ``requires_grad=False``) and the current critic."""
        return {"G": [self.gen], "D": [self.disc]}

    def _g_groups(self) -> list[tuple[list[nn.Parameter], float]]:
        """G's parameter groups and learning rates (official ``parameter_list``, paper §3.1)."""
        hp, depth = self.hparams, self.num_stages - 1
        trained = list(self.gen.body[-hp.train_depth :])
        groups = [
            (list(b.parameters()), hp.lr_g * hp.lr_scale ** (len(trained) - 1 - i)) for i, b in enumerate(trained)
        ]
        if depth - hp.train_depth < 0:
            groups.append((list(self.gen.head.parameters()), hp.lr_g * hp.lr_scale**depth))
        groups.append((list(self.gen.tail.parameters()), hp.lr_g))
        return groups

    def configure_optimizers(self):
        """Fresh optimisers per stage: Adam for the critic, Adam over G's groups with their scaled rates."""
        hp = self.hparams
        g_groups = [{"params": p, "lr": lr} for p, lr in self._g_groups()]
        d_params = list(self.disc.parameters())
        if self.optimizer_factory is not None:
            return [self.optimizer_factory(g_groups), self.optimizer_factory(d_params)], []
        betas = (hp.beta1, hp.beta2)
        return [
            torch.optim.Adam(g_groups, lr=hp.lr_g, betas=betas, fused=hp.fused),
            torch.optim.Adam(d_params, lr=hp.lr_d, betas=betas, fused=hp.fused),
        ], []

    def load_state_dict(self, state_dict: Any, strict: bool = True, assign: bool = False):
        """Rebuild the stages the state dict holds (and its image size) before loading it."""
        hw = state_dict.get("image_hw")
        if hw is not None and int(hw.min()) > 0:
            self._set_image_size(hw.tolist())
        blocks = {int(k.split(".")[2]) for k in state_dict if k.startswith("gen.body.")}
        if blocks:
            with torch.random.fork_rng(devices=[]):  # networks built only to be overwritten: keep the user's RNG
                while self.num_stages > max(blocks) + 1:
                    del self.gen.body[-1]
                while self.num_stages < max(blocks) + 1:
                    self.gen.init_next_stage()
            self._freeze()
        device = self.stage_iter.device
        for key, value in state_dict.items():
            if key == "noise_amps" or (key.startswith("z_opt") and key[5:].isdigit()):
                if key not in self._buffers or self._buffers[key].shape != value.shape:
                    self.register_buffer(key, torch.zeros_like(value, device=device))
        for key in [k for k in self._buffers if k.startswith("z_opt") and k[5:].isdigit()]:
            if int(key[5:]) >= self.num_stages and key not in state_dict:
                del self._buffers[key]
        return super().load_state_dict(state_dict, strict=strict, assign=assign)

    # ------------------------------------------------------------------------------------------- training
    def setup(self, stage: str) -> None:
        if stage == "fit" and self.trainer.world_size > 1:
            raise ValueError("ConSinGAN trains on one image and grows its generator between stages: use one device")

    def on_train_batch_start(self, batch: dict[str, Any], batch_idx: int) -> int | None:
        super().on_train_batch_start(batch, batch_idx)
        if self.geometry is None:
            self._set_image_size(batch["image"].shape[-2:])
        if int(self.stage_iter) < self.hparams.niter:
            return None
        if self.num_stages < self.hparams.train_stages:
            self._add_stage()  # its networks and optimisers, before the batch runs (Lightning's step counting)
            self.trainer.strategy.setup_optimizers(self.trainer)
            return None
        self.trainer.should_stop = True  # every stage is trained
        return -1

    @torch.no_grad()
    def _begin_stage(self, reals: list[torch.Tensor], sizes: list[tuple[int, int]]) -> None:
        """The stage's fixed reconstruction input and its noise amplitude (official ``train_single_scale``)."""
        hp, depth = self.hparams, self.num_stages - 1
        if depth == 0:
            self.z_opt0 = reals[0].clone()  # generation, retargeting, harmonisation: the coarsest image itself
            self.noise_amps[0] = 1.0
            return
        self.register_buffer(f"z_opt{depth}", self._noise(1, depth, sizes[depth]))
        self.noise_amps[depth] = 0.0
        rec = self.gen(self.fixed_noise(), sizes, self.noise_amps)
        self.noise_amps[depth] = hp.noise_amp * torch.sqrt(F.mse_loss(rec, reals[depth]))

    def _training_noise(self, reals: list[torch.Tensor], sizes: list[tuple[int, int]]) -> list[torch.Tensor]:
        """This iteration's input: noise at every stage, or the augmented coarsest image at stage 0 when
        harmonising (official order: stage 0 first)."""
        noises = []
        for n in range(self.num_stages):
            if n == 0 and self.hparams.train_mode == "harmonization":
                noises.append(harmonization_augment(reals[0]))
            else:
                noises.append(self._noise(1, n, sizes[n]))
        return noises

    def _g_update(self, opt, losses: dict[str, torch.Tensor]) -> None:
        """G's update: one backward pass of the summed losses, then ``g_steps`` optimiser steps with it (official)."""
        total = torch.stack([v.float() for v in losses.values()]).sum()
        if not bool(torch.isfinite(total.detach())):
            self._stop_diverged(losses, total)
        opt.zero_grad(set_to_none=True)
        self.manual_backward(total)
        for _ in range(self.hparams.g_steps):
            opt.step()
        self.log_dict({f"train/{k}": v.detach() for k, v in losses.items()}, on_step=True, on_epoch=True, batch_size=1)

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        image = batch["image"]
        if image.shape[0] > 1 and not bool((image == image[:1]).all()):
            raise ValueError("ConSinGAN learns one image: every batch must hold that one image (batch_size 1)")
        hp, depth = self.hparams, self.num_stages - 1
        reals = self.reals(image[:1])
        sizes = [tuple(r.shape[-2:]) for r in reals]
        real = reals[depth]
        opt_g, opt_d = self.optimizers()
        # MultiStepLR(milestones=[0.8 * niter]): a float milestone, reached only when it is a whole number.
        milestone = 0.8 * hp.niter
        decay = hp.gamma if milestone == int(milestone) and int(self.stage_iter) >= milestone else 1.0
        if self.optimizer_factory is None:
            for group, (_, lr) in zip(opt_g.param_groups, self._g_groups()):
                group["lr"] = lr * decay
            for group in opt_d.param_groups:
                group["lr"] = hp.lr_d * decay
        if int(self.stage_iter) == 0:
            self._begin_stage(reals, sizes)
        noise = self._training_noise(reals, sizes)
        amps = self.noise_amps

        # Critic steps: maximise D(x_n) - D(G(z)) with the gradient penalty (L_adv, WGAN-GP; paper §3.1). Only the
        # last step's fake keeps its graph: the generator step reuses it (official).
        for j in range(hp.d_steps):
            if j == hp.d_steps - 1:
                fake = self.gen(noise, sizes, amps)
            else:
                with torch.no_grad():
                    fake = self.gen(noise, sizes, amps)
            with self.toggled_optimizer(opt_d):
                self._step(
                    opt_d,
                    {
                        "d_real": -self.disc(real).mean(),
                        "d_fake": self.disc(fake.detach()).mean(),
                        "d_gp": gradient_penalty(self.disc, real, fake, hp.lambda_grad),
                    },
                )

        # Generator: fool the critic and reconstruct x_n from the fixed inputs (L_adv + α L_rec, paper §3.1).
        with self.toggled_optimizer(opt_g):
            losses = {"g_adv": -self.disc(fake).mean()}
            if hp.alpha != 0:
                rec = self.gen(self.fixed_noise(), sizes, amps)
                losses["g_rec"] = hp.alpha * F.mse_loss(rec, real)
            self._g_update(opt_g, losses)
        self.stage_iter += 1
        self.log("train/stage", float(depth), on_step=True, on_epoch=False, batch_size=1)

    # ------------------------------------------------------------------------------------------ inference
    @property
    def unconditional(self) -> bool:
        return True  # generates from noise: forward(n), sample(n)

    def inference_conditions(self) -> dict[str, Condition]:
        return {
            "start_scale": Condition(
                "index",
                "the stages below it take their fixed reconstruction input (with reference: default all stages)",
                dim=self.hparams.train_stages + 1,
            ),
            "reference": Condition(
                "image",
                "an image replacing the stage-0 input (harmonisation, editing: the naive image), resized to the "
                "coarsest stage",
                channels=self.hparams.nc_im,
            ),
        }

    def _sizes(self, scale_v: float, scale_h: float) -> list[tuple[int, int]]:
        """Stage sizes of samples (official ``evaluate_model``: ``int(side · factor)``)."""
        return [(int(h * scale_v), int(w * scale_h)) for h, w in self.geometry.sizes]

    def _inputs(
        self, n: int, reference: torch.Tensor | None, start_scale: int | None, sizes: list[tuple[int, int]]
    ) -> tuple[list[torch.Tensor], int]:
        """(the fixed inputs of the stages below the first random one, that stage)."""
        built = self.num_stages
        start = (built if reference is not None else 0) if start_scale is None else min(start_scale, built)
        if (start > 0 or reference is not None) and sizes != list(self.geometry.sizes):
            raise ValueError("ConSinGAN: start_scale and reference keep the training layout (scale_v = scale_h = 1)")
        fixed = [z.expand(n, -1, -1, -1) for z in self.fixed_noise()[:start]]
        if reference is not None:
            ref = reference.to(self.stage_iter.device)
            ref = imresize(ref, size=self.geometry.sizes[0]) if tuple(ref.shape[-2:]) != self.geometry.sizes[0] else ref
            ref = ref.expand(n, -1, -1, -1)
            fixed = [ref, *fixed[1:]] if start > 0 else []
            if start == 0:  # the reference at stage 0, noise everywhere else
                fixed, start = [ref], 1
        return fixed, start

    def forward(
        self,
        n: int | None = None,
        reference: torch.Tensor | None = None,
        start_scale: int | None = None,
        scale_v: float = 1.0,
        scale_h: float = 1.0,
    ) -> torch.Tensor:
        """``n`` samples (N, C, H, W) in [-1, 1] at the training size (× ``scale_v`` / ``scale_h``).

        Args:
            n: number of samples (default: one per reference image, else 1).
            reference: images (1 or N, C, H, W) replacing the stage-0 input (harmonisation/editing).
            start_scale: the stages below it take their fixed reconstruction input (with ``reference``, default:
                every stage, as the official ``evaluate_model``).
            scale_v: height factor of samples of other sizes.
            scale_h: width factor.
        """
        if self.geometry is None:
            raise RuntimeError("ConSinGAN does not know its image yet: pass image_size or train it on an image")
        if n is None:
            n = reference.shape[0] if reference is not None else 1
        if reference is not None and reference.shape[0] not in (1, n):
            raise ValueError(f"ConSinGAN: give 1 or n={n} reference images, got {reference.shape[0]}")
        sizes = self._sizes(scale_v, scale_h)
        fixed, start = self._inputs(n, reference, start_scale, sizes)
        noises = [*fixed, *(self._noise(n, s, sizes[s]) for s in range(start, self.num_stages))]
        out = self.gen(noises, sizes, self.noise_amps)
        final = sizes[-1]
        return out if tuple(out.shape[-2:]) == final else imresize(out, size=final)

    @torch.no_grad()
    def sample(
        self, n: int | None = None, scale_v: float = 1.0, scale_h: float = 1.0, **conditions: Any
    ) -> torch.Tensor:
        """``n`` samples in eval mode without gradients; ``scale_v``/``scale_h``: other sizes (:meth:`forward`)."""
        conditions = self.check_conditions(conditions)
        was_training = self.training
        self.eval()
        try:
            return self(n, scale_v=scale_v, scale_h=scale_h, **conditions)
        finally:
            self.train(was_training)

    @torch.no_grad()
    def reconstruct(self) -> torch.Tensor:
        """The reconstruction of the training image (1, C, H, W) from the fixed inputs (what L_rec trains)."""
        was_training = self.training
        self.eval()
        try:
            return self(1, start_scale=self.num_stages)
        finally:
            self.train(was_training)

    def inference_spec(self, **conditions: Any) -> InferenceSpec:
        """A :class:`ConSinGANSampler`: inputs ``z<n>``, the noise of each stage from the first random one."""
        conditions = self.check_conditions(conditions)
        if self.geometry is None:
            raise RuntimeError("ConSinGAN does not know its image yet: pass image_size or train it on an image")
        sizes = list(self.geometry.sizes)
        fixed, start = self._inputs(1, conditions.get("reference"), conditions.get("start_scale"), sizes)
        if start >= self.num_stages:
            raise ValueError("ConSinGAN: every stage takes its fixed input here: nothing random to export")
        extra = {f"z{s}": torch.zeros(1, *self._noise_shape(s, sizes[s])) for s in range(start, self.num_stages)}
        module = ConSinGANSampler(self.gen, self.noise_amps, sizes, fixed, sizes[-1])
        return InferenceSpec(module, self.hparams.nc_im, 1, extra, image_input=False)

    @torch.no_grad()
    def visuals(self, batch: dict[str, Any]) -> list[list[torch.Tensor]]:
        """Rows: samples of the stages trained so far | the real image at that stage | the reconstruction."""
        n = len(batch["image"])
        if self.geometry is None:
            self._set_image_size(batch["image"].shape[-2:])
        reals = self.reals(batch["image"][:1])
        sizes = list(self.geometry.sizes)
        samples = self.gen([self._noise(n, s, sizes[s]) for s in range(self.num_stages)], sizes, self.noise_amps)
        fixed = [z.expand(n, -1, -1, -1) for z in self.fixed_noise()]
        rec = self.gen(fixed, sizes, self.noise_amps)
        return [[samples, reals[self.num_stages - 1].expand(n, -1, -1, -1), rec]]


__all__ = ["ConSinGAN", "ConSinGANSampler", "Discriminator", "GrowingGenerator", "harmonization_augment", "pyramid"]
