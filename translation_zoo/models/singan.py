"""SinGAN: Learning a Generative Model from a Single Natural Image.

Shaham, Dekel, Michaeli. ICCV 2019. arXiv:1905.01164
Reference code: tamarott/SinGAN (``config.py``, ``SinGAN/training.py``, ``SinGAN/models.py``,
``SinGAN/functions.py``, ``SinGAN/imresize.py``, ``SinGAN/manipulate.py``).

A pyramid of fully convolutional GANs {G_0, ..., G_N} (coarsest first, the paper counts the other way round), each
learning the distribution of patches of one image x at one scale. Scale n makes an image from noise and the
upsampled image of the scales below it (Eq. (2)):

    x~_0 = G_0(z_0),    x~_n = x~_{n-1}↑ + ψ_n(z_n + x~_{n-1}↑),

and is trained (scales one after the other, coarse to fine, the finished ones frozen) on (Eq. (3))

    min_G max_D  L_adv(G_n, D_n) + α L_rec(G_n),

with L_adv the WGAN-GP loss (Gulrajani et al. 2017) of a Markovian (patch) critic D_n, and L_rec the reconstruction
loss: with the fixed noise maps {z*, 0, ..., 0}, the pyramid must reproduce the image, ``||G_n(0, x~rec_{n-1}↑) -
x_n||²`` (at the coarsest scale ``||G_0(z*) - x_0||²``). The standard deviation of the noise z_n (n > 0) is
proportional to the root mean squared error of the upsampled reconstruction at that scale (§2.2).

The official configuration (``config.py`` and ``training.py``), the defaults here:

- Pyramid (``functions.adjust_scales2image``): the image is first resized so that its longer side is at most
  ``max_size`` = 250; the coarsest scale's shorter side is ``min_size`` = 25; the number of scales follows from
  ``scale_factor`` = 0.75 (``ceil(log_0.75(25 / shorter side)) + 1`` minus the scales skipped by the ``max_size``
  resize), and the factor actually used is re-derived so that the pyramid ends exactly at ``min_size``
  (``(25 / shorter side) ** (1 / N)``, e.g. 0.7743 at 512x512). :func:`pyramid` reproduces the official sizes.
- Resizing: the official bicubic resizer with antialiasing (A. Shocher's ``imresize``, MATLAB's rules), applied to
  the image quantised to uint8 and clipped to [-1, 1] afterwards, for the pyramid and for every upsampling between
  scales. :func:`imresize` is that resizer, as dense matrices applied on the device.
- Networks per scale (``models.py``): 5 conv 3x3 layers without padding, ``nfc`` = ``min_nfc`` = 32 channels,
  doubled every 4 scales up to 128 (``min(32 · 2^floor(n / 4), 128)``); head and body Conv-BatchNorm-LeakyReLU(0.2);
  G ends in Conv + tanh and adds its input image (a residual ψ_n), D (WGAN critic) in a Conv to one channel.
  Inputs are zero-padded by ``(ker - 1) · num_layer / 2`` = 5 pixels, so outputs keep the image size.
  Conv weights ~ N(0, 0.02) (biases keep PyTorch's default), BatchNorm weights ~ N(1, 0.02), biases 0.
  A new scale starts from the previous scale's trained G and D when its width is unchanged.
- Parameters per scale (3-channel images): G 29,763 / D 29,185 at 32 channels (scales 0-3), 114,819 / 113,665 at
  64 (scales 4-7), 450,819 / 448,513 at 128 (the official networks' counts; ``tests/test_singan.py`` pins them).
  D's last bias is among them but is a constant buffer here: a Wasserstein critic's bias gets zero gradient, so it
  keeps its initial value in the official code too.
- Training (``training.train_single_scale``), per scale: ``niter`` = 2000 iterations, each 3 critic steps then 3
  generator steps; Adam(5e-4, β = (0.5, 0.999)) for both, new optimisers per scale, learning rate × 0.1 after
  1600 iterations (``MultiStepLR``); α = 10; gradient penalty weight 0.1, the penalty on the norm over channels at
  each pixel of the critic's input gradient at a random interpolate; noise amplitude ``0.1 · RMSE`` at scales > 0
  and 1 at the coarsest; the coarsest scale's noise is one grey channel repeated over the colour channels.

Training in Lightning: one batch = one official iteration (3 D steps, 3 G steps) on the one image. A stage (scale)
is ``niter`` batches; the next scale's networks and optimisers are made when a batch starts after the last one of a
stage (``on_train_batch_start``), and training stops by itself after the last scale. The built scales, the
iteration within the stage, the noise amplitudes and z* are in the state dict, so a checkpoint written anywhere
(mid-stage too) resumes exactly; the real pyramid and the fixed reconstruction input of the current stage are
recomputed from the image. One device only (the networks change during training).

Inference (``forward``/``sample``): random samples at the training size, ``scale_v``/``scale_h`` for other aspect
ratios and sizes (the official ``random_samples_arbitrary_sizes``), ``start_scale`` to keep the coarse scales of
the training image (the reconstruction noise below it, the official ``gen_start_scale``), ``reference`` to inject an
image at ``start_scale`` >= 1 (harmonisation, editing, paint-to-image: the reference is downsampled to the scale
below and upsampled into ``start_scale``, as the official scripts do; blending with a mask is left to the caller);
:meth:`SinGAN.super_resolve` (the official ``SR.py`` loop with the finest generator) and :meth:`SinGAN.animate`
(``generate_gif``).

Deviations from the official code:
- The generator steps recompute ``G(noise, prev)`` before each step. The official code reuses the fake of the
  last critic step, with its graph, for all 3 generator steps; that needs PyTorch <= 1.4 (later versions raise an
  in-place modification error at the second step, because Adam changed G's weights), and then back-propagates
  through a graph whose saved weights were modified in place. The first generator step is the official one; each
  recomputation also updates G's BatchNorm running statistics once more (2 extra updates per iteration).
- Noise channels = image channels (the official ``nc_z`` defaults to 3 and is never tied to ``nc_im``);
  grayscale images (``nc_im=1``) go through the same per-channel pipeline (the official code converts with
  ``rgb2gray`` at every resize, which breaks on 1-channel arrays).
- Images whose shorter side, after the ``max_size`` resize, is below ``min_size`` are refused (the official code
  computes a pyramid that grows towards the coarsest scale).
- Batched inference: samples are generated as a batch, in eval mode (BatchNorm running statistics, as the official
  code after ``G.eval()``), so the noise of a batch is drawn in another order than the official one-by-one loop.
- ``forward`` before the last scale is trained returns the finest trained scale resized to the training size.
- The reconstruction noise z* of the coarsest scale: the official code draws a new one at every iteration of the
  coarsest stage and keeps the last (``training.py``: ``z_opt`` is re-drawn inside the epoch loop when
  ``Gs == []``); so does this code (the paper describes one fixed z*).
- No official weights: the authors released code, not trained pyramids (their per-scale ``netG.pth`` files use the
  same keys as ``gens.<n>``).
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..nn.single_image import (  # shared unchanged with ConSinGAN
    Pyramid,
    gradient_penalty,
    imresize,
    resized_length,
    weights_init,
)
from .base import Condition, InferenceSpec, TranslationGAN

MAX_NFC = 128  # official: min(nfc_init * 2 ** floor(scale / 4), 128)
NFC_DOUBLING = 4


# ------------------------------------------------------------------------------------------------- the pyramid
def pyramid(height: int, width: int, min_size: int = 25, max_size: int = 250, scale_factor: float = 0.75) -> Pyramid:
    """The official scales of a ``height`` x ``width`` image (the float arithmetic of the official code).

    Raises:
        ValueError: the image is too small for ``min_size`` (after the ``max_size`` resize).
    """
    if min(height, width) < 1 or not 0 < scale_factor < 1 or min_size < 1 or max_size < min_size:
        raise ValueError(
            f"need a positive image size, 0 < scale_factor < 1 and 1 <= min_size <= max_size; got {height}x{width}, "
            f"scale_factor={scale_factor}, min_size={min_size}, max_size={max_size}"
        )
    short, long = min(height, width), max(height, width)
    num_scales = math.ceil(math.log(math.pow(min_size / short, 1), scale_factor)) + 1
    scale2stop = math.ceil(math.log(min(max_size, long) / long, scale_factor))
    stop_scale = num_scales - scale2stop
    scale1 = min(max_size / long, 1)
    real_h, real_w = resized_length(height, scale1), resized_length(width, scale1)
    if min(real_h, real_w) < min_size or stop_scale < 1:
        raise ValueError(
            f"the image is {height}x{width} ({real_h}x{real_w} after resizing its longer side to max_size="
            f"{max_size}): its shorter side must be at least min_size={min_size} pixels"
        )
    factor = math.pow(min_size / min(real_h, real_w), 1 / stop_scale)
    sizes = tuple(
        (
            resized_length(real_h, math.pow(factor, stop_scale - i)),
            resized_length(real_w, math.pow(factor, stop_scale - i)),
        )
        for i in range(stop_scale + 1)
    )
    return Pyramid(scale1, factor, sizes)


def nfc_at(scale: int, nfc: int) -> int:
    """Channels of scale ``scale``'s networks: ``nfc`` doubled every 4 scales, at most 128 (official)."""
    return min(nfc * 2 ** (scale // NFC_DOUBLING), MAX_NFC)


# ------------------------------------------------------------------------------------------------- networks
class ConvBlock(nn.Sequential):
    """Conv (no padding) - BatchNorm - LeakyReLU(0.2), the official block (keys ``conv``, ``norm``)."""

    def __init__(self, c_in: int, c_out: int, ker_size: int) -> None:
        super().__init__()
        self.add_module("conv", nn.Conv2d(c_in, c_out, ker_size, stride=1, padding=0))
        self.add_module("norm", nn.BatchNorm2d(c_out))
        self.add_module("LeakyRelu", nn.LeakyReLU(0.2, inplace=True))


def _body(nfc: int, min_nfc: int, ker_size: int, num_layer: int) -> tuple[nn.Sequential, int]:
    """The official body: ``num_layer - 2`` blocks whose width halves from ``nfc`` but never below ``min_nfc``."""
    body, n = nn.Sequential(), nfc
    for i in range(num_layer - 2):
        n = int(nfc / 2 ** (i + 1))
        body.add_module(f"block{i + 1}", ConvBlock(max(2 * n, min_nfc), max(n, min_nfc), ker_size))
    return body, max(n, min_nfc)


class Generator(nn.Module):
    """ψ_n of one scale (official ``GeneratorConcatSkip2CleanAdd``): ``G(x, y) = tail(body(head(x))) + y``.

    ``x`` = padded noise + upsampled image, ``y`` = the padded upsampled image; the unpadded convolutions shrink
    ``x`` by ``(ker_size - 1) · num_layer`` pixels, and ``y`` is cropped to the same size.
    """

    def __init__(self, nc_im: int, nfc: int, min_nfc: int, ker_size: int, num_layer: int) -> None:
        super().__init__()
        self.head = ConvBlock(nc_im, nfc, ker_size)
        self.body, width = _body(nfc, min_nfc, ker_size, num_layer)
        self.tail = nn.Sequential(nn.Conv2d(width, nc_im, ker_size, stride=1, padding=0), nn.Tanh())

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        x = self.tail(self.body(self.head(x)))
        ind = int((y.shape[2] - x.shape[2]) / 2)
        return x + y[:, :, ind : y.shape[2] - ind, ind : y.shape[3] - ind]


class WDiscriminator(nn.Module):
    """D_n, the patch critic of one scale (official ``WDiscriminator``): one score per receptive field."""

    def __init__(self, nc_im: int, nfc: int, min_nfc: int, ker_size: int, num_layer: int) -> None:
        super().__init__()
        self.head = ConvBlock(nc_im, nfc, ker_size)
        self.body, width = _body(nfc, min_nfc, ker_size, num_layer)
        self.tail = nn.Conv2d(width, 1, ker_size, stride=1, padding=0)
        # The Wasserstein loss and its gradient penalty do not change when the score is shifted by a constant: the
        # tail's bias gets a zero gradient and keeps its initial value in the official code too. It is a constant
        # buffer under the same key, so every parameter here trains.
        bias = self.tail.bias.detach()
        del self.tail.bias
        self.tail.register_buffer("bias", bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.tail(self.body(self.head(x)))


# -------------------------------------------------------------------------------------------- generation
def generate(
    gens: list[nn.Module],
    noise_amps: list[torch.Tensor],
    noises: list[torch.Tensor | None],
    scale_factor: float,
    pad: int,
    in_s: torch.Tensor,
    start: int = 0,
    sizes: list[tuple[int, int]] | None = None,
) -> torch.Tensor:
    """Run scales ``start ... len(gens) - 1`` (the official ``SinGAN_generate``, batched).

    Args:
        gens: the generators of every scale (index = scale).
        noise_amps: their noise amplitudes.
        noises: per scale from ``start``, the (unpadded) noise map (N, 1 or C, h_n, w_n); a 1-channel map is repeated
            over the colour channels (the coarsest scale's grey noise).
        scale_factor: the pyramid's factor; the image of a scale is upsampled by ``1 / scale_factor`` into the next.
        pad: the zero padding of noise and image (``(ker_size - 1) · num_layer / 2``).
        in_s: the image entering scale ``start`` (N, C, h_start, w_start) (zeros for a random sample).
        start: the first scale to run.
        sizes: per scale from ``start``, the size to crop the upsampled image to (default: each noise map's size);
            when the upsampled image is smaller, it is padded and stretched bilinearly as the official code does.
    """
    image = in_s
    for i, n in enumerate(range(start, len(gens))):
        z = noises[i]
        c = image.shape[1]
        if z.shape[1] != c:
            z = z.expand(-1, c, -1, -1)
        h, w = sizes[i] if sizes is not None else (int(z.shape[-2]), int(z.shape[-1]))
        if i > 0:
            image = imresize(image, 1 / scale_factor)[:, :, :h, :w]
        prev = F.pad(image, [pad] * 4)
        zp = F.pad(z, [pad] * 4)
        if prev.shape[-2:] != zp.shape[-2:]:
            prev = prev[:, :, : zp.shape[2], : zp.shape[3]]
            prev = F.interpolate(prev, size=zp.shape[-2:], mode="bilinear", align_corners=True)
        image = gens[n](noise_amps[n] * zp + prev, prev)
    return image


class PyramidSampler(nn.Module):
    """SinGAN's sampling as one network, for export: noise maps of scales ``start ...`` in, an image out.

    Scales below ``start`` run with the reconstruction noise (z*, then zeros) and are computed once, here, as the
    fixed image entering ``start`` (or a given ``in_s``: an injected reference). Inputs ``z<n>`` (N, 1 or C, h_n,
    w_n), the unpadded noise of scale n (1 channel at the coarsest scale).
    """

    def __init__(
        self,
        gens: nn.ModuleList,
        noise_amps: torch.Tensor,
        scale_factor: float,
        pad: int,
        in_s: torch.Tensor,
        start: int,
        final_size: tuple[int, int] | None,
    ) -> None:
        super().__init__()
        self.gens = gens
        self.register_buffer("noise_amps", noise_amps.clone())
        self.register_buffer("in_s", in_s.clone())
        self.scale_factor, self.pad, self.start, self.final_size = scale_factor, pad, start, final_size

    def forward(self, *noises: torch.Tensor) -> torch.Tensor:
        n = noises[0].shape[0]
        in_s = self.in_s.expand(n, -1, -1, -1)
        amps = list(self.noise_amps)
        out = generate(list(self.gens), amps, list(noises), self.scale_factor, self.pad, in_s, self.start)
        if self.final_size is not None and tuple(out.shape[-2:]) != self.final_size:
            out = imresize(out, size=self.final_size)
        return out


# ------------------------------------------------------------------------------------------------- the model
class SinGAN(TranslationGAN):
    """SinGAN: a pyramid of patch GANs learnt from one image (see the module docstring).

    Args:
        image_size: (height, width) of the training image as given (before the ``max_size`` resize). ``None``: taken
            from the first training batch. It fixes the pyramid (:func:`pyramid`), the size of z* and of samples.
        nc_im: image channels (official ``nc_im`` 3); the noise has as many.
        nfc: channels of the coarsest scale's networks (official 32), doubled every 4 scales up to 128.
        min_nfc: the narrowest layer (official 32; with ``nfc`` = ``min_nfc`` every layer of a scale is as wide).
        ker_size: convolution kernel (official 3).
        num_layer: convolutions per network (official 5).
        scale_factor: the pyramid's factor before it is re-derived (official 0.75; paper r = 4/3 upsampling).
        min_size: shorter side of the coarsest scale (official 25).
        max_size: the image is first resized so its longer side is at most this (official 250).
        noise_amp: noise amplitude per unit RMSE of the upsampled reconstruction, scales > 0 (official 0.1).
        niter: iterations (batches) per scale (official 2000); each is ``d_steps`` critic and ``g_steps`` G steps.
        lr_g: G's Adam learning rate (official 5e-4).
        lr_d: D's Adam learning rate (official 5e-4).
        lr_milestone: iterations of a scale after which both rates are multiplied by ``gamma`` (official 1600).
        gamma: that factor (official 0.1).
        beta1: Adam β1 (official 0.5).
        beta2: Adam β2 (official 0.999).
        d_steps: critic steps per iteration (official ``Dsteps`` 3).
        g_steps: generator steps per iteration (official ``Gsteps`` 3).
        lambda_grad: weight of the gradient penalty (official 0.1).
        alpha: α, the weight of the reconstruction loss in Eq. (3) (official 10).
        **kwargs: :class:`TranslationGAN` options (``optimizer`` replaces the Adam of both players; ``fused``).
    """

    batch_kind = "single_image"
    tiny_config = {"image_size": (32, 32), "nfc": 8, "min_nfc": 8, "num_layer": 3, "niter": 3}

    def __init__(
        self,
        image_size: tuple[int, int] | None = None,
        nc_im: int = 3,
        nfc: int = 32,
        min_nfc: int = 32,
        ker_size: int = 3,
        num_layer: int = 5,
        scale_factor: float = 0.75,
        min_size: int = 25,
        max_size: int = 250,
        noise_amp: float = 0.1,
        niter: int = 2000,
        lr_g: float = 5e-4,
        lr_d: float = 5e-4,
        lr_milestone: int = 1600,
        gamma: float = 0.1,
        beta1: float = 0.5,
        beta2: float = 0.999,
        d_steps: int = 3,
        g_steps: int = 3,
        lambda_grad: float = 0.1,
        alpha: float = 10.0,
        **kwargs: Any,
    ) -> None:
        if kwargs.get("lr_scheduler") is not None:
            raise ValueError("SinGAN schedules its learning rates per scale itself (lr_milestone, gamma)")
        # The base's lr/lr_policy are unused (lr_g, lr_d and the per-scale schedule are SinGAN's own).
        kwargs.setdefault("lr", lr_g)
        kwargs.setdefault("lr_policy", "constant")
        super().__init__(beta1=beta1, beta2=beta2, **kwargs)
        if nc_im not in (1, 3):
            raise ValueError(f"nc_im must be 1 or 3, got {nc_im}")
        if num_layer < 2 or ker_size < 1 or ker_size % 2 == 0:
            raise ValueError(f"need num_layer >= 2 and an odd ker_size, got {num_layer} and {ker_size}")
        for name, value in (("niter", niter), ("d_steps", d_steps), ("g_steps", g_steps)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        self.pad = (ker_size - 1) * num_layer // 2  # official int(((ker_size - 1) * num_layer) / 2)
        self.gens = nn.ModuleList()
        self.disc: WDiscriminator | None = None
        # Iterations done at the last built scale; the built scales are len(self.gens).
        self.register_buffer("scale_iter", torch.zeros((), dtype=torch.long))
        self.register_buffer("noise_amps", torch.zeros(0))  # per built scale
        self.register_buffer("image_hw", torch.zeros(2, dtype=torch.long))  # the training image's size; 0 = unknown
        self.register_buffer("z_opt", torch.zeros(0))  # z*, (1, C, h_0, w_0) once the size is known
        self.geometry: Pyramid | None = None
        self._z_prev: torch.Tensor | None = None  # the fixed reconstruction input of the current stage (recomputed)
        if image_size is not None:
            self._set_image_size(image_size)
        self._add_scale()

    # ------------------------------------------------------------------------------------------- geometry
    def _set_image_size(self, image_size: Any) -> None:
        hw = tuple(int(s) for s in image_size)
        if len(hw) != 2:
            raise ValueError(f"image_size must be (height, width), got {image_size!r}")
        hp = self.hparams
        if self.geometry is not None:
            if hw != tuple(self.image_hw.tolist()):
                raise ValueError(
                    f"this SinGAN was built for a {self.image_hw[0]}x{self.image_hw[1]} image (image_size), got "
                    f"{hw[0]}x{hw[1]}: a SinGAN learns one image; train a new model for another"
                )
            return
        self.geometry = pyramid(*hw, hp.min_size, hp.max_size, hp.scale_factor)
        self.image_hw = torch.tensor(hw, dtype=torch.long, device=self.image_hw.device)
        h0, w0 = self.geometry.sizes[0]
        if self.z_opt.shape != (1, hp.nc_im, h0, w0):
            self.z_opt = torch.zeros(1, hp.nc_im, h0, w0, device=self.z_opt.device)
        hp.image_size = hw  # saved with the checkpoint's hyper-parameters

    @property
    def num_scales(self) -> int:
        """Scales of the full pyramid (known once the image size is)."""
        if self.geometry is None:
            raise RuntimeError("SinGAN does not know its image yet: pass image_size or train it on an image")
        return self.geometry.num_scales

    @property
    def finished(self) -> bool:
        """Whether every scale is trained."""
        return (
            self.geometry is not None
            and len(self.gens) == self.geometry.num_scales
            and int(self.scale_iter) >= self.hparams.niter
        )

    # ------------------------------------------------------------------------------------------- networks
    def _networks(self, scale: int) -> tuple[Generator, WDiscriminator]:
        hp = self.hparams
        width = (nfc_at(scale, hp.nfc), nfc_at(scale, hp.min_nfc), hp.ker_size, hp.num_layer)
        # The official order (training.init_models): G built and initialised, then D.
        gen = Generator(hp.nc_im, *width)
        gen.apply(weights_init)
        disc = WDiscriminator(hp.nc_im, *width)
        disc.apply(weights_init)
        return gen, disc

    def _add_scale(self) -> None:
        """Start the next scale: new G and D (the previous scale's weights when as wide), the previous G frozen."""
        scale = len(self.gens)
        gen, disc = self._networks(scale)
        device = self.scale_iter.device
        gen, disc = gen.to(device), disc.to(device)
        if scale > 0 and nfc_at(scale, self.hparams.nfc) == nfc_at(scale - 1, self.hparams.nfc):
            gen.load_state_dict(self.gens[-1].state_dict())
            disc.load_state_dict(self.disc.state_dict())
        if scale > 0:
            self.gens[-1].requires_grad_(False).eval()
        self.gens.append(gen)
        self.disc = disc
        self.noise_amps = torch.cat([self.noise_amps, self.noise_amps.new_zeros(1)])
        self.scale_iter.zero_()
        self._z_prev = None
        self.train(self.training)

    def train(self, mode: bool = True) -> SinGAN:
        super().train(mode)
        for gen in self.gens[:-1]:  # finished scales stay in eval mode (official: G.eval() after its scale)
            gen.train(False)
        return self

    def param_groups(self) -> dict[str, list[nn.Module]]:
        """The current scale's players (the finished scales' generators are frozen)."""
        return {"G": [self.gens[-1]], "D": [self.disc]}

    def configure_optimizers(self):
        """Fresh Adam optimisers for the current scale (official: new optimisers at every scale)."""
        hp = self.hparams
        groups = [list(self._parameters_of(mods)) for mods in self.param_groups().values()]
        if self.optimizer_factory is not None:
            return [self.optimizer_factory(p) for p in groups], []
        return [
            torch.optim.Adam(p, lr=lr, betas=(hp.beta1, hp.beta2), fused=hp.fused)
            for p, lr in zip(groups, (hp.lr_g, hp.lr_d))
        ], []

    def load_state_dict(self, state_dict: Any, strict: bool = True, assign: bool = False):
        """Rebuild the scales the state dict holds (and its image size) before loading it."""
        hw = state_dict.get("image_hw")
        if hw is not None and int(hw.min()) > 0:
            if self.geometry is None:
                self._set_image_size(hw.tolist())
            elif tuple(hw.tolist()) != tuple(self.image_hw.tolist()):
                self._set_image_size(hw.tolist())  # raises: another image
        indices = {int(k.split(".")[1]) for k in state_dict if k.startswith("gens.")}
        if indices:
            with torch.random.fork_rng(devices=[]):  # building networks to overwrite must not move the user's RNG
                while len(self.gens) > max(indices) + 1:
                    del self.gens[-1]
                    self.noise_amps = self.noise_amps[:-1]
                width = nfc_at(len(self.gens) - 1, self.hparams.nfc)
                if len(self.gens) == max(indices) + 1 and self.disc.head.conv.out_channels != width:
                    self.disc = self._networks(len(self.gens) - 1)[1].to(self.scale_iter.device)
                while len(self.gens) < max(indices) + 1:
                    self._add_scale()
        for name in ("noise_amps", "z_opt"):
            if name in state_dict and getattr(self, name).shape != state_dict[name].shape:
                setattr(self, name, torch.zeros_like(state_dict[name], device=self.scale_iter.device))
        self._z_prev = None
        out = super().load_state_dict(state_dict, strict=strict, assign=assign)
        for gen in self.gens[:-1]:
            gen.requires_grad_(False)
        self.train(self.training)
        return out

    # ------------------------------------------------------------------------------------------- training
    def setup(self, stage: str) -> None:
        if stage == "fit" and self.trainer.world_size > 1:
            raise ValueError("SinGAN trains on one image and changes its networks between scales: use one device")

    def on_train_batch_start(self, batch: dict[str, Any], batch_idx: int) -> int | None:
        super().on_train_batch_start(batch, batch_idx)
        if self.geometry is None:
            self._set_image_size(batch["image"].shape[-2:])
        if int(self.scale_iter) < self.hparams.niter:
            return None
        if len(self.gens) < self.num_scales:
            # A new stage: its networks and optimisers, made here so that Lightning's optimiser hooks (step
            # counting) attach to them before the batch runs.
            self._add_scale()
            self.trainer.strategy.setup_optimizers(self.trainer)
            return None
        self.trainer.should_stop = True  # every scale is trained
        return -1

    def reals(self, image: torch.Tensor) -> list[torch.Tensor]:
        """The real pyramid of ``image`` (1, C, H, W): the ``max_size`` resize, then each scale from it."""
        geo = self.geometry
        real = imresize(image, geo.scale1)
        top = geo.num_scales - 1
        return [imresize(real, math.pow(geo.scale_factor, top - i)) for i in range(top + 1)]

    def _noise(self, n: int, scale: int, size: tuple[int, int]) -> torch.Tensor:
        """Gaussian noise (N, C, h, w); one grey channel repeated at the coarsest scale (official)."""
        c = 1 if scale == 0 else self.hparams.nc_im
        z = torch.randn(n, c, *size, device=self.scale_iter.device)
        return z.expand(-1, self.hparams.nc_im, -1, -1) if c == 1 else z

    @torch.no_grad()
    def _draw(self, reals: list[torch.Tensor], scale: int, rec: bool) -> torch.Tensor:
        """The image entering ``scale`` (1, C, h, w), generated by the finished scales (official ``draw_concat``):
        with fresh noise, or with the reconstruction noise {z*, 0, ...} when ``rec``."""
        image = torch.zeros_like(reals[0])
        sf, pad = self.geometry.scale_factor, self.pad
        for n in range(scale):
            if rec:
                z = self.z_opt if n == 0 else torch.zeros_like(reals[n])
            else:
                z = self._noise(1, n, reals[n].shape[-2:])
            prev = F.pad(image, [pad] * 4)
            image = self.gens[n](self.noise_amps[n] * F.pad(z, [pad] * 4) + prev, prev)
            image = imresize(image, 1 / sf)[:, :, : reals[n + 1].shape[2], : reals[n + 1].shape[3]]
        return image

    def _update(self, opt, losses: dict[str, torch.Tensor]) -> None:
        """One player's step as the base's ``_step`` (divergence check, logging), with one backward pass per term in
        the official order: the gradients are summed as the official code sums them, so the updates are the
        official ones bit for bit on a CPU (Adam turns the float noise of near-zero gradients, e.g. of a conv bias
        before BatchNorm, into steps of ±lr, so a different summation order would make the runs drift apart)."""
        total = torch.stack([v.float() for v in losses.values()]).sum()
        if not bool(torch.isfinite(total.detach())):
            self._stop_diverged(losses, total)
        opt.zero_grad(set_to_none=True)
        for loss in losses.values():
            self.manual_backward(loss)
        opt.step()
        self.log_dict({f"train/{k}": v.detach() for k, v in losses.items()}, on_step=True, on_epoch=True, batch_size=1)

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        image = batch["image"]
        if image.shape[0] > 1 and not bool((image == image[:1]).all()):
            raise ValueError("SinGAN learns one image: every batch must hold that one image (batch_size 1)")
        hp, scale, pad = self.hparams, len(self.gens) - 1, self.pad
        reals = self.reals(image[:1])
        real = reals[scale]
        gen, disc = self.gens[scale], self.disc
        opt_g, opt_d = self.optimizers()
        decay = hp.gamma if int(self.scale_iter) >= hp.lr_milestone else 1.0  # MultiStepLR([lr_milestone])
        for opt, lr in ((opt_g, hp.lr_g), (opt_d, hp.lr_d)):
            if self.optimizer_factory is None:
                for group in opt.param_groups:
                    group["lr"] = lr * decay
        first = int(self.scale_iter) == 0

        # This iteration's noise (official order: z* is re-drawn at every iteration of the coarsest scale).
        size = tuple(real.shape[-2:])
        if first:
            # The official stage draws a noise map that only gives z*'s shape (``fixed_noise``); drawn here too,
            # so that this code and the official one use the same random stream.
            torch.randn(1, hp.nc_im, *size, device=real.device)
        if scale == 0:
            self.z_opt = self._noise(1, 0, size).contiguous()
        noise_ = self._noise(1, scale, size)

        # Critic steps: maximise D(x_n) - D(G(z)) with the gradient penalty (Eq. (3), L_adv = WGAN-GP).
        for j in range(hp.d_steps):
            if scale == 0:
                prev = torch.zeros_like(real)
                if first and j == 0:
                    self.noise_amps[0] = 1.0
                    self._z_prev = torch.zeros_like(real)
            else:
                prev = self._draw(reals, scale, rec=False)  # x~_{n-1}↑ from fresh noise at the scales below
                if first and j == 0:
                    # The fixed input of the reconstruction loss, and σ_n ∝ its RMSE (§2.2).
                    self._z_prev = self._draw(reals, scale, rec=True)
                    self.noise_amps[scale] = hp.noise_amp * torch.sqrt(F.mse_loss(real, self._z_prev))
            # Zero padding commutes with σ·z + x~↑: the official pads noise and image first, the numbers are equal.
            noise = F.pad(noise_ if scale == 0 else self.noise_amps[scale] * noise_ + prev, [pad] * 4)
            prev = F.pad(prev, [pad] * 4)
            fake = gen(noise, prev)
            with self.toggled_optimizer(opt_d):
                self._update(
                    opt_d,
                    {
                        "d_real": -disc(real).mean(),
                        "d_fake": disc(fake.detach()).mean(),
                        "d_gp": gradient_penalty(disc, real, fake, hp.lambda_grad),
                    },
                )

        # Generator steps: fool the critic and reconstruct x_n from {z*, 0, ...} (Eq. (3): L_adv + α L_rec).
        if self._z_prev is None:  # resumed in the middle of a stage: the fixed input is recomputed exactly
            self._z_prev = torch.zeros_like(real) if scale == 0 else self._draw(reals, scale, rec=True)
        z_star = self.z_opt if scale == 0 else torch.zeros_like(real)
        rec_in = F.pad(self.noise_amps[scale] * z_star + self._z_prev, [pad] * 4)
        z_prev = F.pad(self._z_prev, [pad] * 4)
        for j in range(hp.g_steps):
            if j > 0:  # deviation: a fresh fake from the updated G, same noise and input (module docstring)
                fake = gen(noise, prev)
            with self.toggled_optimizer(opt_g):
                self._update(
                    opt_g,
                    {"g_adv": -disc(fake).mean(), "g_rec": hp.alpha * F.mse_loss(gen(rec_in, z_prev), real)},
                )
        self.scale_iter += 1
        self.log("train/scale", float(scale), on_step=True, on_epoch=False, batch_size=1)

    # ------------------------------------------------------------------------------------------ inference
    @property
    def unconditional(self) -> bool:
        return True  # generates from noise: forward(n), sample(n)

    def inference_conditions(self) -> dict[str, Condition]:
        scales = self.geometry.num_scales if self.geometry is not None else len(self.gens)
        return {
            "start_scale": Condition(
                "index",
                "without reference: the scales below it use the reconstruction noise (official gen_start_scale); "
                "with reference: the scale (>= 1) the reference is injected at",
                dim=scales,
            ),
            "reference": Condition(
                "image",
                "an image injected at start_scale (harmonisation, editing, paint-to-image); resized to the training "
                "image's size",
                channels=self.hparams.nc_im,
            ),
        }

    def _final_size(self, scale_v: float = 1.0, scale_h: float = 1.0) -> tuple[int, int]:
        h, w = self.geometry.sizes[-1]
        return round(scale_v * h), round(scale_h * w)

    def _plan(
        self, n: int, start_scale: int | None, reference: torch.Tensor | None, scale_v: float, scale_h: float
    ) -> tuple[torch.Tensor, int, list[torch.Tensor | None]]:
        """(the image entering the first scale run, that scale, fixed noise maps below ``start_scale``)."""
        if self.geometry is None:
            raise RuntimeError("SinGAN does not know its image yet: pass image_size or train it on an image")
        geo, c, device = self.geometry, self.hparams.nc_im, self.scale_iter.device
        if reference is not None:
            if start_scale is None:
                start_scale = 1
            if not 1 <= start_scale < geo.num_scales:
                raise ValueError(
                    f"SinGAN: the reference is injected at start_scale 1..{geo.num_scales - 1} (the scales above "
                    f"the coarsest), got {start_scale}"
                )
            if (scale_v, scale_h) != (1.0, 1.0):
                raise ValueError("SinGAN: a reference is injected at the training size (scale_v = scale_h = 1)")
            top = geo.num_scales - 1
            ref = reference.to(device)
            if tuple(ref.shape[-2:]) != geo.sizes[-1]:
                ref = imresize(ref, size=geo.sizes[-1])
            # Official harmonization/editing/paint2image: down to the scale below, then upsampled like a generated
            # image into start_scale.
            h0, w0 = geo.sizes[start_scale - 1]
            in_s = imresize(ref, math.pow(geo.scale_factor, top - start_scale + 1))[:, :, :h0, :w0]
            h1, w1 = geo.sizes[start_scale]
            in_s = imresize(in_s, 1 / geo.scale_factor)[:, :, :h1, :w1]
            if in_s.shape[0] != n:
                in_s = in_s.expand(n, -1, -1, -1)
            return in_s, start_scale, []
        start_scale = 0 if start_scale is None else start_scale
        if start_scale > 0 and (scale_v, scale_h) != (1.0, 1.0):
            raise ValueError("SinGAN: start_scale keeps the training image's layout; use it at scale_v = scale_h = 1")
        h0, w0 = geo.sizes[0]
        in_s = torch.zeros(n, c, round(scale_v * h0), round(scale_h * w0), device=device)
        fixed = [self.z_opt if i == 0 else torch.zeros(1, c, *geo.sizes[i], device=device) for i in range(start_scale)]
        return in_s, 0, [z.expand(n, -1, -1, -1) for z in fixed]

    def _noise_sizes(self, first: int, scale_v: float, scale_h: float) -> list[tuple[int, int]]:
        return [(round(scale_v * h), round(scale_h * w)) for h, w in self.geometry.sizes[first : len(self.gens)]]

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
            reference: images (1 or N, C, H, W) injected at ``start_scale`` (default 1), resized to the training
                image's size first (official harmonisation, editing and paint-to-image).
            start_scale: without ``reference``, the scales below it take the reconstruction noise (the official
                ``gen_start_scale``: samples keep the training image's coarse layout).
            scale_v: height factor of arbitrary-size samples (official ``random_samples_arbitrary_sizes``).
            scale_h: width factor.
        """
        if n is None:
            n = reference.shape[0] if reference is not None else 1
        if reference is not None and reference.shape[0] not in (1, n):
            raise ValueError(f"SinGAN: give 1 or n={n} reference images, got {reference.shape[0]}")
        in_s, first, fixed = self._plan(n, start_scale, reference, scale_v, scale_h)
        sizes = self._noise_sizes(first, scale_v, scale_h)
        noises = [*fixed, *(self._noise(n, s, hw) for s, hw in enumerate(sizes[len(fixed) :], first + len(fixed)))]
        out = generate(
            list(self.gens), list(self.noise_amps), noises, self.geometry.scale_factor, self.pad, in_s, first
        )
        final = self._final_size(scale_v, scale_h)
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

    def inference_spec(self, **conditions: Any) -> InferenceSpec:
        """A :class:`PyramidSampler`: inputs ``z<n>``, the noise of each scale from the first random one."""
        conditions = self.check_conditions(conditions)
        reference, start = conditions.get("reference"), conditions.get("start_scale")
        if start is not None and start >= len(self.gens):
            raise ValueError(
                f"SinGAN: start_scale {start} is not trained yet (trained scales: 0..{len(self.gens) - 1})"
            )
        in_s, first, fixed = self._plan(1, start, reference, 1.0, 1.0)
        if fixed:  # the scales below start_scale are fixed: run them once, their image enters start_scale
            in_s = generate(
                list(self.gens)[: len(fixed)],
                list(self.noise_amps),
                fixed,
                self.geometry.scale_factor,
                self.pad,
                in_s,
            )
            in_s = imresize(in_s, 1 / self.geometry.scale_factor)
            h, w = self.geometry.sizes[len(fixed)]
            in_s, first = in_s[:, :, :h, :w], len(fixed)
        sizes = self._noise_sizes(first, 1.0, 1.0)
        extra = {f"z{s}": torch.zeros(1, 1 if s == 0 else self.hparams.nc_im, *hw) for s, hw in enumerate(sizes, first)}
        module = PyramidSampler(
            self.gens, self.noise_amps, self.geometry.scale_factor, self.pad, in_s, first, self._final_size()
        )
        return InferenceSpec(module, self.hparams.nc_im, 1, extra, image_input=False)

    @torch.no_grad()
    def visuals(self, batch: dict[str, Any]) -> list[list[torch.Tensor]]:
        """Rows: samples of the scales trained so far | the real image at that scale | the reconstruction."""
        n = len(batch["image"])
        if self.geometry is None:
            self._set_image_size(batch["image"].shape[-2:])
        reals = self.reals(batch["image"][:1])
        scale = len(self.gens) - 1
        sizes = self._noise_sizes(0, 1.0, 1.0)
        zeros = torch.zeros(n, self.hparams.nc_im, *sizes[0], device=self.scale_iter.device)
        sf, amps = self.geometry.scale_factor, list(self.noise_amps)
        samples = generate(
            list(self.gens), amps, [self._noise(n, s, hw) for s, hw in enumerate(sizes)], sf, self.pad, zeros
        )
        fixed = [self.z_opt.expand(n, -1, -1, -1)] + [zeros.new_zeros(n, zeros.shape[1], *hw) for hw in sizes[1:]]
        rec = generate(list(self.gens), amps, fixed, sf, self.pad, zeros)
        return [[samples, reals[scale].expand(n, -1, -1, -1), rec]]

    # ------------------------------------------------------------------------------------------ applications
    @torch.no_grad()
    def reconstruct(self) -> torch.Tensor:
        """The pyramid's reconstruction of the training image (1, C, H, W): the fixed noise {z*, 0, ...} at every
        trained scale (what the reconstruction loss trains; the official ``G(z_opt)`` images), in eval mode."""
        was_training = self.training
        self.eval()
        try:
            return self(1, start_scale=len(self.gens))
        finally:
            self.train(was_training)

    @torch.no_grad()
    def super_resolve(self, image: torch.Tensor, factor: float = 4.0) -> torch.Tensor:
        """Super-resolution by ``factor`` with the finest generator (the official ``SR.py``), in eval mode.

        The image (N, C, h, w) in [-1, 1] (the paper: the training image itself) is upsampled in
        ``k = round(log_{2^(-1/3)}(1 / factor))`` steps of ``factor^(1/k)``, each refined by the finest generator
        with its noise amplitude; the result is cropped to ``int(factor · size)``. The paper trains the model for
        this with ``min_size=18, alpha=100`` and the scale factor of one step.
        """
        was_training = self.training
        self.eval()
        try:
            step = math.pow(1 / 2, 1 / 3)
            iters = round(math.log(1 / factor, step))
            step = math.pow(factor, 1 / iters)
            x = image.to(self.scale_iter.device)
            current = imresize(x, step)
            gen, amp, pad = self.gens[-1], self.noise_amps[-1], self.pad
            for i in range(iters):
                if i > 0:
                    current = imresize(current, step)
                z = self._noise(current.shape[0], 0 if i == 0 else 1, tuple(current.shape[-2:]))
                prev = F.pad(current, [pad] * 4)
                current = gen(amp * F.pad(z, [pad] * 4) + prev, prev)
            return current[:, :, : int(factor * x.shape[2]), : int(factor * x.shape[3])]
        finally:
            self.train(was_training)

    @torch.no_grad()
    def animate(self, frames: int = 100, alpha: float = 0.1, beta: float = 0.9, start_scale: int = 2) -> torch.Tensor:
        """A short video (frames, C, H, W) in [-1, 1]: a random walk around z* in noise space (official
        ``generate_gif``): ``z_t = α z* + (1 - α)(z_{t-1} + β (z_{t-1} - z_{t-2}) + (1 - β) ε)`` at the scales from
        ``start_scale`` on, z* below. Meant for models trained with noise over the padded border (the official
        ``animation_train`` mode); works on any trained model."""
        if self.geometry is None:
            raise RuntimeError("SinGAN does not know its image yet: pass image_size or train it on an image")
        was_training = self.training
        self.eval()
        try:
            geo, c, pad, device = self.geometry, self.hparams.nc_im, self.pad, self.scale_iter.device
            images: torch.Tensor | None = None
            for n, gen in enumerate(self.gens):
                h, w = geo.sizes[n]
                hp_, wp_ = h + 2 * pad, w + 2 * pad
                z_opt = F.pad(self.z_opt, [pad] * 4) if n == 0 else torch.zeros(1, c, hp_, wp_, device=device)

                def eps(n: int = n, shape: tuple[int, int] = (hp_, wp_)) -> torch.Tensor:
                    return torch.randn(1, 1 if n == 0 else c, *shape, device=device).expand(-1, c, -1, -1)

                z_prev1, z_prev2 = 0.95 * z_opt + 0.05 * eps(), z_opt
                out = []
                for t in range(frames):
                    diff = beta * (z_prev1 - z_prev2) + (1 - beta) * eps()
                    z_curr = alpha * z_opt + (1 - alpha) * (z_prev1 + diff)
                    z_prev2, z_prev1 = z_prev1, z_curr
                    if images is None:
                        prev = torch.zeros(1, c, hp_, wp_, device=device)
                    else:
                        prev = F.pad(imresize(images[t : t + 1], 1 / geo.scale_factor)[:, :, :h, :w], [pad] * 4)
                    z_in = z_opt if n < start_scale else z_curr
                    out.append(gen(self.noise_amps[n] * z_in + prev, prev))
                images = torch.cat(out)
            return images
        finally:
            self.train(was_training)


__all__ = ["Generator", "Pyramid", "PyramidSampler", "SinGAN", "WDiscriminator", "generate", "imresize", "pyramid"]
