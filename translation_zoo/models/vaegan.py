"""VAE-GAN: Autoencoding beyond pixels using a learned similarity metric.

Larsen, Sønderby, Larochelle, Winther. ICML 2016. arXiv:1512.09300
Reference code: andersbll/autoencoding_beyond_pixels (Theano/DeepPy; ``architectures.img64x64``, ``model/aegan.py``,
``aegan.py`` and the CelebA script ``celeba_aegan.py``), the defaults here.

A VAE whose decoder is also a GAN generator. The encoder's code z ~ q(z|x) = N(μ, σ²I) (reparameterised) is decoded
into x̃ = Dec(z); instead of a pixel-wise error, the reconstruction is measured in the features Dis_l of the
discriminator's l-th layer, a Gaussian observation model p(Dis_l(x) | z) = N(Dis_l(x) | Dis_l(x̃), I) (Eq. 6).
The terms (the paper's symbols; equation numbers of arXiv:1512.09300v2):

- L_prior = D_KL(q(z|x) || N(0, I)) (Eq. 4) = ``-½ Σ_j (1 + log σ_j² - μ_j² - σ_j²)`` per image.
- L_llike^Dis_l = -E_q[log p(Dis_l(x) | z)] (Eq. 7) = ``½ ||Dis_l(x̃) - Dis_l(x)||²`` per image (+ a constant);
  it replaces the VAE's pixel-wise L_llike^pixel (Eq. 3).
- L_GAN = log Dis(x) + log(1 - Dis(Gen(z_p))) (Eq. 5), z_p ~ N(0, I), Gen = Dec; with ``discriminate_recon`` also
  + log(1 - Dis(Dec(Enc(x)))) (the three-term L_GAN of §2.3, "Discriminating based on samples from p(z) and
  q(z|x)"). L = L_prior + L_llike^Dis_l + L_GAN (Eq. 8).

Per-network routing (Algorithm 1, "Limiting error signals to relevant networks" and "Weighting VAE vs. GAN",
§2.3), as the official code computes it: one forward pass, then every network steps with its own gradient
(simultaneously, not in turns). With L_GAN as in Eq. 5 (the log-likelihood D maximises):

- Enc minimises L_prior + L_llike^Dis_l (no GAN gradient reaches the encoder);
- Dec minimises γ · L_llike^Dis_l + L_GAN, i.e. it descends log(1 - Dis(Dec(z_p))) (the saturating minimax form,
  as the official code: the gradient of D's objective with respect to the generated images, sign flipped);
- Dis minimises -L_GAN (only; the similarity term does not train D).

Algorithm 1 prints the Dec and Dis updates as -∇(γ L_llike - L_GAN) and -∇L_GAN: consistent only with L_GAN read
as D's cross-entropy, the negative of Eq. 5 (with Eq. 5 itself, Dec would help D and Dis would hurt itself). The
official code's signs, above, are the ones implemented (``tests/test_vaegan.py`` checks the gradients).

The official CelebA configuration (the defaults):

- 64x64x3 images in [-1, 1], z 128-d. 5x5 kernels everywhere; convolutions followed by batch norm have no bias.
  Enc: 3 x [conv stride 2, BN, ReLU] with 64, 128, 256 filters, then a linear layer to 1,024 units + BN + ReLU and
  two linear heads μ and log σ². Dec: linear z -> 256x8x8 + BN (per unit) + ReLU, 3 x [5x5 transposed conv stride 2,
  BN, ReLU] with 256, 128, 32 filters, a 5x5 conv to 3 channels (with bias), tanh. Dis: 5x5 conv 32 (stride 1, with
  bias) + ReLU, 3 x [conv stride 2, BN, ReLU] with 128, 256, 256 filters, linear 512 + BN + ReLU, linear 1, sigmoid.
  Batch norm: momentum 0.9 (PyTorch 0.1), ε 1e-6 after convolutions and 1e-5 after linear layers (DeepPy's).
- Dis_l = the 4th convolution's output of Dis, before its batch norm (official ``recon_depth=9``: the first nine
  layers of Dis), 256x8x8; at 32x32 the 3rd, 192x8x8 (``cifar_aegan.py``: ``recon_depth=6``). The similarity pass
  runs Dis's layers on the batch [x̃; x] (its batch norm normalises over both); the GAN pass runs Dis on
  [x; Dec(z_p)] (and the reconstructions when ``discriminate_recon``).
- γ: the official decoder gradient is w ∇L_llike + (1 - w) ∇L_GAN with ``recon_vs_gan_weight`` w = 1e-6 on CelebA,
  i.e. γ = w / (1 - w); here the decoder minimises (γ L_llike + L_GAN) / (1 + γ), the same with γ = 1e-6.
- D's loss weights real and generated images 0.5 each (``real_vs_gen_weight``, ``real_weight``); log terms are
  log(d + 1e-3).
- The official CelebA run discriminates prior samples only (``discriminate_ae_recon=False``); the paper's Eq.
  with reconstructions is ``discriminate_recon=True`` (also the default of the official ``build_model``).
- Equilibrium (official trainer): with D's costs on real, c_r = mean -log(Dis(x)), and on generated images,
  c_f = mean -log(1 - Dis(x̂)): D is not updated when c_r or c_f < 0.68 - 0.35, Dec not when c_r or c_f > 0.68 +
  0.35; if both would be skipped, both update. Enc always updates.
- RMSProp (decay 0.9, ε 1e-8 added after the square root, as ``torch.optim.RMSprop``) for each network; learning
  rate 0.025 / 64 = 3.9e-4 (the official rate divided by the batch size: the official losses are sums over the
  batch; the paper's "0.0003") annealed per epoch of 250 batches to 1e-5 / 64 over 250 epochs as
  ``lr_start - (e / 250)^0.75 (lr_start - lr_stop)`` (DeepPy's GammaAnnealer); batch 64.
- L2 weight decay 1e-5 on the summed loss (DeepPy: gradient + 2·1e-5·w) on every conv/linear weight except the
  μ / log σ² heads; here added to the gradients of the batch-mean losses as 2·1e-5·w / N.
- Initialisation: DeepPy's AutoFiller, weights ~ U(±1 / sqrt(3 · fan_in)) (fan_in: input units; for a transposed
  convolution the output channels x 25, as DeepPy computes it from the weight's shape), biases 0, BN γ = 1, β = 0.

Parameters (official 64x64 configuration): encoder 18,071,360; decoder 4,693,155; discriminator 10,953,857, equal
to the official DeepPy networks' (``architectures.img64x64`` with ``n_hidden=128``; ``tests/test_vaegan.py`` counts
them layer by layer from that architecture and pins them). 32x32: 5,488,448; 2,481,187; 4,047,873.
``image_size=32`` builds the official ``img32x32`` networks (Dec from 256x4x4 with 192, 128, 32 filters, Dis 128,
192, 256).

Attribute editing (§4.2, ``celeba_aegan.py``): an attribute's vector is the mean code of images with the attribute
minus the mean code of images without it; ``edit(x, attribute, strength)`` decodes Enc(x) + strength · vector.
:meth:`compute_attribute_vectors` computes them from a data loader whose batches carry ``"attrs"`` (the CelebA
attribute layout of :class:`~translation_zoo.data.multidomain.MultiDomainDataModule`); they are buffers, saved in
checkpoints. While training on such batches the vectors are kept up to date from the current epoch's codes.

Deviations:
- Batch norm at inference: DeepPy keeps a running mean of 1 / sqrt(var + ε); PyTorch keeps the running variance.
  The decoder's running statistics come from the reconstruction pass only, as the official code (whose GAN pass runs
  a copy of the decoder with its own statistics); D's running statistics are never used.
- Batch-mean losses instead of the official batch sums (RMSProp is invariant to the scale but for ε: 1e-8 here is
  relative to gradients 64x smaller than the official's).
- Reconstructions, edits and attribute vectors use the posterior mean μ; the official code decodes a sampled z.
- No data augmentation in the model (the official CelebA pipeline jitters translation, scale, rotation, gamma,
  contrast and hue before cropping; see ``recipes/vaegan_celeba.yaml``).
- γ: (γ L_llike + L_GAN) / (1 + γ) with γ = 1e-6 gives w = 1e-6 / (1 + 1e-6), 1e-12 off the official 1e-6.
- Precision: the per-network gradients are taken with ``torch.autograd.grad``; use fp32 or bf16 (fp16's loss
  scaler is not applied).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterable, Iterator
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from .base import Condition, InferenceSpec, TranslationGAN

#: Official layouts (``architectures.img32x32`` / ``img64x64``): encoder convs, decoder start (channels, size) and
#: transposed convs, discriminator first conv and strided convs.
LAYOUTS: dict[int, dict[str, Any]] = {
    64: {"enc": (64, 128, 256), "dec_from": (256, 8), "dec": (256, 128, 32), "dis0": 32, "dis": (128, 256, 256)},
    32: {"enc": (64, 128, 256), "dec_from": (256, 4), "dec": (192, 128, 32), "dis0": 32, "dis": (128, 192, 256)},
}
#: Dis_l of the official scripts: recon_depth 9 at 64x64 (celeba/lfw/stl_aegan.py), 6 at 32x32 (cifar_aegan.py).
OFFICIAL_LLIKE_LAYER = {64: 4, 32: 3}
BN_MOMENTUM = 0.1  # DeepPy's momentum 0.9 is the weight of the old running value
BN_EPS_2D, BN_EPS_1D = 1e-6, 1e-5  # architectures.py sets 1e-6 for spatial BN; BatchNormalization's default 1e-5


def _bn2d(c: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(c, eps=BN_EPS_2D, momentum=BN_MOMENTUM)


def _bn1d(c: int) -> nn.BatchNorm1d:
    return nn.BatchNorm1d(c, eps=BN_EPS_1D, momentum=BN_MOMENTUM)


def _down(c_in: int, c_out: int) -> nn.Sequential:
    """conv 5x5 stride 2 (no bias) -> BN -> ReLU (official ``conv_block``)."""
    return nn.Sequential(nn.Conv2d(c_in, c_out, 5, 2, 2, bias=False), _bn2d(c_out), nn.ReLU())


def _up(c_in: int, c_out: int) -> nn.Sequential:
    """transposed conv 5x5 stride 2 (no bias, doubles the size) -> BN -> ReLU (``conv_block(backward=True)``)."""
    return nn.Sequential(
        nn.ConvTranspose2d(c_in, c_out, 5, 2, 2, output_padding=1, bias=False), _bn2d(c_out), nn.ReLU()
    )


class Encoder(nn.Module):
    """Enc: images (N, C, S, S) -> μ, log σ² (N, nz)."""

    def __init__(self, channels: int, image_size: int, widths: tuple[int, ...], fc: int, nz: int) -> None:
        super().__init__()
        chans = (channels, *widths)
        self.convs = nn.Sequential(*(_down(a, b) for a, b in zip(chans[:-1], chans[1:])))
        side = image_size // 2 ** len(widths)
        self.fc = nn.Sequential(nn.Flatten(), nn.Linear(widths[-1] * side * side, fc, bias=False), _bn1d(fc), nn.ReLU())
        self.mu = nn.Linear(fc, nz)  # official NormalEncoder: two affine heads
        self.logvar = nn.Linear(fc, nz)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.fc(self.convs(x))
        return self.mu(h), self.logvar(h)


class Decoder(nn.Module):
    """Dec (the GAN's generator): z (N, nz) -> images (N, C, S, S) in [-1, 1]."""

    def __init__(self, nz: int, start: tuple[int, int], widths: tuple[int, ...], channels: int) -> None:
        super().__init__()
        c0, s0 = start
        self.fc = nn.Sequential(
            nn.Linear(nz, c0 * s0 * s0, bias=False), _bn1d(c0 * s0 * s0), nn.ReLU(), nn.Unflatten(1, (c0, s0, s0))
        )
        chans = (c0, *widths)
        self.ups = nn.Sequential(*(_up(a, b) for a, b in zip(chans[:-1], chans[1:])))
        self.out = nn.Conv2d(widths[-1], channels, 5, 1, 2)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.out(self.ups(self.fc(z))))


class Discriminator(nn.Module):
    """Dis: images (N, C, S, S) -> logits (N,) of "real"; :meth:`features` gives Dis_l."""

    def __init__(self, channels: int, image_size: int, first: int, widths: tuple[int, ...], fc: int) -> None:
        super().__init__()
        self.conv0 = nn.Conv2d(channels, first, 5, 1, 2)  # stride 1, with bias, no BN
        chans = (first, *widths)
        self.convs = nn.ModuleList(nn.Conv2d(a, b, 5, 2, 2, bias=False) for a, b in zip(chans[:-1], chans[1:]))
        self.norms = nn.ModuleList(_bn2d(b) for b in widths)
        side = image_size // 2 ** len(widths)
        self.fc = nn.Sequential(
            nn.Flatten(), nn.Linear(widths[-1] * side * side, fc, bias=False), _bn1d(fc), nn.ReLU(), nn.Linear(fc, 1)
        )

    @property
    def n_layers(self) -> int:
        """Number of convolutions (the possible l of Dis_l)."""
        return 1 + len(self.convs)

    def features(self, x: torch.Tensor, layer: int) -> torch.Tensor:
        """Dis_l(x): the output of the ``layer``-th convolution (1-based), before its batch norm and ReLU; layer 0:
        the pixels (the official ``recon_depth=0``, a pixel-wise Gaussian VAE error, Eq. 3)."""
        if layer == 0:
            return x
        h = self.conv0(x)
        if layer == 1:
            return h
        h = F.relu(h)
        for i, (conv, norm) in enumerate(zip(self.convs, self.norms), start=2):
            h = conv(h)
            if i == layer:
                return h
            h = F.relu(norm(h))
        raise ValueError(f"llike_layer must be in 0..{self.n_layers}, got {layer}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.conv0(x))
        for conv, norm in zip(self.convs, self.norms):
            h = F.relu(norm(conv(h)))
        return self.fc(h).squeeze(1)


def autofill_(net: nn.Module, gain: float = 1.0) -> nn.Module:
    """DeepPy's ``AutoFiller``: weights ~ U(±gain / sqrt(3 · fan_in)), biases 0, batch norm γ = 1, β = 0.

    fan_in = prod(weight.shape[1:]) in DeepPy's layouts: input units of a linear layer (DeepPy stores (in, out)),
    in_channels · k² of a conv, and out_channels · k² of a transposed conv (DeepPy stores (in, out, k, k) as PyTorch).
    """
    for m in net.modules():
        if isinstance(m, nn.Linear):
            fan_in = m.in_features
        elif isinstance(m, nn.modules.conv._ConvNd):
            fan_in = math.prod(m.weight.shape[1:])
        elif isinstance(m, nn.modules.batchnorm._BatchNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
            continue
        else:
            continue
        bound = gain / math.sqrt(fan_in) / math.sqrt(3)
        nn.init.uniform_(m.weight, -bound, bound)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    return net


@contextlib.contextmanager
def frozen_bn_stats(net: nn.Module) -> Iterator[None]:
    """Batch norm in ``net`` normalises with the batch but leaves its running statistics as they are (momentum 0):
    the official GAN pass runs a copy of the decoder whose statistics are never used for inference."""
    norms = [m for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    saved = [m.momentum for m in norms]
    for m in norms:
        m.momentum = 0.0
    try:
        yield
    finally:
        for m, momentum in zip(norms, saved):
            m.momentum = momentum


class VAEGAN(TranslationGAN):
    """VAE-GAN (see the module docstring).

    Args:
        channels: image channels (CelebA 3).
        image_size: 64 (the official CelebA/LFW networks) or 32 (the official CIFAR/STL ``img32x32`` networks).
        nz: dimension of z (official ``n_hidden`` 128).
        width: multiplies every convolution's filter count (1: official; small values for CPU demos).
        enc_fc: units of the encoder's linear layer (1,024).
        dis_fc: units of the discriminator's linear layer (512).
        llike_layer: l of Dis_l, the convolution of Dis whose pre-batch-norm output measures the reconstruction;
            ``None``: the official scripts' choice for the image size, the 4th at 64x64 (CelebA, LFW, STL:
            ``recon_depth=9``, 256 x 8 x 8 features) and the 3rd at 32x32 (CIFAR: ``recon_depth=6``, 192 x 8 x 8);
            0: the pixels (official ``recon_depth=0``: the VAE's pixel-wise Gaussian error, Eq. 3, GAN kept).
        gamma: γ, the weight of L_llike^Dis_l against L_GAN in the decoder's loss (official w = 1e-6 on CelebA).
        discriminate_recon: also show D the reconstructions Dec(Enc(x)) (the paper's L_GAN with three terms); the
            official CelebA run shows it prior samples only (False).
        real_weight: the weight of the real images in D's loss, the generated ones get 1 - it (official
            ``real_vs_gen_weight``: 0.5; the LFW script 0.33).
        gan_eps: ε inside D's logarithms, log(d + ε) and log(1 - d + ε) (1e-3).
        margin: the equilibrium margin (0.35); ``None`` updates every network on every batch.
        equilibrium: the equilibrium value of D's costs (0.68, ≈ log 2).
        lr: RMSProp's starting rate (0.025 / 64).
        lr_stop: the annealed rate at ``n_epochs`` (1e-5 / 64); ``None``: the base class's ``lr_policy`` instead.
        lr_gamma: the annealing exponent (0.75).
        n_epochs: annealing epochs (official: 250 epochs of 250 batches).
        weight_decay: the official L2 coefficient on the summed loss (1e-5).
        attributes: names of the attributes of ``batch["attrs"]``' columns (e.g. CelebA's selected attributes), for
            the edit vectors; ``None``: no editing.
        init_gain: the AutoFiller gain (1).
        val_metrics: validation/test metrics of samples (``fid``, ``kid``); the reconstructions' pixel MSE is logged
            as ``<stage>/rec_mse`` in any case.
        feature_extractor: their feature space (``digits_mnist`` for the embedded digits).
        **kwargs: :class:`TranslationGAN` options; ``optimizer`` replaces RMSProp.
    """

    batch_kind = "unconditional"
    tiny_config = {"channels": 1, "image_size": 32, "nz": 4, "width": 0.125, "enc_fc": 16, "dis_fc": 16}

    def __init__(
        self,
        channels: int = 3,
        image_size: Literal[32, 64] = 64,
        nz: int = 128,
        width: float = 1.0,
        enc_fc: int = 1024,
        dis_fc: int = 512,
        llike_layer: int | None = None,
        gamma: float = 1e-6,
        discriminate_recon: bool = False,
        real_weight: float = 0.5,
        gan_eps: float = 1e-3,
        margin: float | None = 0.35,
        equilibrium: float = 0.68,
        lr: float = 0.025 / 64,
        lr_stop: float | None = 1e-5 / 64,
        lr_gamma: float = 0.75,
        n_epochs: int = 250,
        weight_decay: float = 1e-5,
        attributes: list[str] | None = None,
        init_gain: float = 1.0,
        lr_policy: Literal["linear", "step", "cosine", "constant"] = "constant",
        val_metrics: list[str] | None = None,
        feature_extractor: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(lr=lr, lr_policy=lr_policy, n_epochs=n_epochs, init_gain=init_gain, **kwargs)
        if image_size not in LAYOUTS:
            raise ValueError(f"image_size must be one of {sorted(LAYOUTS)} (the official networks), got {image_size}")
        layout = LAYOUTS[image_size]

        def w(cs: Iterable[int]) -> tuple[int, ...]:
            return tuple(max(1, round(c * width)) for c in cs)

        c0, s0 = layout["dec_from"]
        self.encoder = Encoder(channels, image_size, w(layout["enc"]), enc_fc, nz)
        self.decoder = Decoder(nz, (w([c0])[0], s0), w(layout["dec"]), channels)
        self.disc = Discriminator(channels, image_size, w([layout["dis0"]])[0], w(layout["dis"]), dis_fc)
        #: l of Dis_l (``llike_layer``, or the official scripts' layer for the image size)
        self.llike_layer = OFFICIAL_LLIKE_LAYER[image_size] if llike_layer is None else llike_layer
        if not 0 <= self.llike_layer <= self.disc.n_layers:
            raise ValueError(f"llike_layer must be in 0..{self.disc.n_layers}, got {llike_layer}")
        if not 0 < real_weight < 1:
            raise ValueError(f"real_weight must be in (0, 1), got {real_weight}")
        for net in (self.encoder, self.decoder, self.disc):
            autofill_(net, init_gain)
        # Official wdecay: every conv/linear weight but the μ / log σ² heads (NormalEncoder has none).
        heads = {id(self.encoder.mu.weight), id(self.encoder.logvar.weight)}
        self._decayed = {
            id(m.weight)
            for m in self.modules()
            if isinstance(m, nn.Linear | nn.modules.conv._ConvNd) and id(m.weight) not in heads
        }
        k = len(attributes or [])
        # Attribute vectors (K, nz) and the number of images with / without each attribute they came from (K, 2).
        self.register_buffer("attr_vectors", torch.zeros(k, nz))
        self.register_buffer("attr_counts", torch.zeros(k, 2))
        # Running sums of the current training epoch (not saved: the vectors are).
        self.register_buffer("_attr_sums", torch.zeros(k, 2, nz), persistent=False)
        self.register_buffer("_attr_n", torch.zeros(k, 2), persistent=False)
        self.eval_metrics = self.build_eval_metrics(val_metrics, feature_extractor, paired=False)

    def param_groups(self) -> dict[str, list[nn.Module]]:
        return {"Enc": [self.encoder], "Dec": [self.decoder], "Dis": [self.disc]}

    def configure_optimizers(self):
        if self.optimizer_factory is not None:
            return super().configure_optimizers()
        hp = self.hparams
        opts = [
            torch.optim.RMSprop(list(self._parameters_of(mods)), lr=hp.lr, alpha=0.9, eps=1e-8)
            for mods in self.param_groups().values()
        ]
        if hp.lr_stop is None:
            scheds = [self._make_scheduler(o) for o in opts]
            return opts, [s for s in scheds if s is not None]

        def anneal(e: int) -> float:  # DeepPy GammaAnnealer, as a factor of lr_start
            t = min(e, hp.n_epochs) / hp.n_epochs
            return (hp.lr - t**hp.lr_gamma * (hp.lr - hp.lr_stop)) / hp.lr

        return opts, [torch.optim.lr_scheduler.LambdaLR(o, anneal) for o in opts]

    # ------------------------------------------------------------------------------------------ the losses
    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """μ, log σ² (N, nz) of q(z|x) for images (N, C, H, W) in [-1, 1]."""
        return self.encoder(x)

    def losses(self, x: torch.Tensor) -> dict[str, Any]:
        """One forward pass of Algorithm 1 on real images ``x`` (N, C, S, S): every loss term (batch means) and each
        network's loss. Returns ``{"enc": {...}, "dec": {...}, "dis": {...}, "d_real", "d_fake", "mu"}`` where
        ``d_real`` / ``d_fake`` are D's costs -mean log Dis(x), -mean log(1 - Dis(x̂)) (the equilibrium's)."""
        hp = self.hparams
        n = x.shape[0]
        mu, logvar = self.encoder(x)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)  # reparameterisation
        x_tilde = self.decoder(z)  # (N, C, S, S): its batch norm statistics are the ones kept for inference
        prior = (-0.5 * (1 + logvar - mu**2 - logvar.exp()).sum(1)).mean()  # L_prior (Eq. 4), KL per image
        # L_llike^Dis_l (Eqs. 6-7): Dis's first layers on [x̃; x] together (their batch norm sees both), the real
        # features as a fixed target. Dis's parameters are not trained by this term (only Enc's and Dec's are).
        f_tilde, f_x = self.disc.features(torch.cat([x_tilde, x]), self.llike_layer).chunk(2)
        llike = 0.5 * (f_tilde - f_x.detach()).pow(2).flatten(1).sum(1).mean()
        # L_GAN: D sees [x; Dec(z_p)] (+ Dec(z) of the reconstructions, without a gradient to the encoder).
        z_gen = torch.randn_like(mu)
        if hp.discriminate_recon:
            z_gen = torch.cat([z.detach(), z_gen])
        with frozen_bn_stats(self.decoder):
            x_gen = self.decoder(z_gen)
        d = torch.sigmoid(self.disc(torch.cat([x, x_gen])))
        log_real = torch.log(d[:n] + hp.gan_eps).mean()  # mean log Dis(x)
        log_fake = torch.log(1 - d[n:] + hp.gan_eps).mean()  # mean log(1 - Dis(x̂)) over the generated images
        rw = hp.real_weight
        gan = rw * log_real + (1 - rw) * log_fake  # L_GAN (Eq. 5), real / generated weighted as the official
        # Dec minimises γ L_llike + L_GAN (Eq. 5's sign: it descends log(1 - Dis(Dec(z_p))), fooling D), normalised
        # by 1 + γ as the official w, 1 - w. The official decoder gradient is that of D's whole objective (real images
        # too: D's batch norm mixes the batch) scaled by 1 / (a generated image's weight (1 - rw) · N / generated).
        scale = x_gen.shape[0] / ((1 - rw) * n)
        return {
            "enc": {"prior": prior, "llike": llike},
            "dec": {"dec_llike": hp.gamma / (1 + hp.gamma) * llike, "dec_gan": scale * gan / (1 + hp.gamma)},
            "dis": {"dis_gan": -gan},
            "d_real": -log_real.detach(),
            "d_fake": -log_fake.detach(),
            "mu": mu.detach(),
        }

    def equilibrium_updates(self, d_real: float, d_fake: float) -> tuple[bool, bool]:
        """(update Dec, update Dis) from D's costs (the official trainer's margin rule)."""
        hp = self.hparams
        if hp.margin is None:
            return True, True
        low, high = hp.equilibrium - hp.margin, hp.equilibrium + hp.margin
        update_dis = not (d_real < low or d_fake < low)  # D is winning: let it rest
        update_dec = not (d_real > high or d_fake > high)  # D is losing: let Dec rest
        if not (update_dec or update_dis):
            return True, True
        return update_dec, update_dis

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        x = batch["image"]
        out = self.losses(x)
        update_dec, update_dis = self.equilibrium_updates(float(out["d_real"]), float(out["d_fake"]))
        updates = (True, update_dec, update_dis)  # Enc always steps
        players = zip(self.optimizers(), self.param_groups().values(), ("enc", "dec", "dis"), updates)
        losses = {name: out[name] for name in ("enc", "dec", "dis")}
        total = torch.stack([v for terms in losses.values() for v in terms.values()]).sum()
        if not bool(torch.isfinite(total.detach())):
            self._stop_diverged({k: v for terms in losses.values() for k, v in terms.items()}, total)
        # Every network's gradient of its own loss at the same parameters, then the steps (the official update).
        steps = []
        for opt, modules, name, update in players:
            params = list(self._parameters_of(modules))
            loss = torch.stack(list(losses[name].values())).sum()
            grads = torch.autograd.grad(loss, params, retain_graph=True, allow_unused=True)
            steps.append((opt, params, grads, update))
        decay = 2 * self.hparams.weight_decay / x.shape[0]
        for opt, params, grads, update in steps:
            if not update:
                continue
            opt.zero_grad(set_to_none=True)
            for p, g in zip(params, grads):
                g = torch.zeros_like(p) if g is None else g
                p.grad = g + decay * p.detach() if id(p) in self._decayed else g
            opt.step()
        self._accumulate_attributes(batch, out["mu"])
        logged = {k: v.detach() for terms in losses.values() for k, v in terms.items()}
        logged.update(d_real=out["d_real"], d_fake=out["d_fake"])
        logged.update(update_dec=torch.tensor(float(update_dec)), update_dis=torch.tensor(float(update_dis)))
        self.log_dict(
            {f"train/{k}": v for k, v in logged.items()},
            on_step=True,
            on_epoch=True,
            batch_size=x.shape[0],
            sync_dist=self.trainer.world_size > 1,
        )

    # ----------------------------------------------------------------------------------- attribute vectors
    def on_train_epoch_start(self) -> None:
        self._attr_sums.zero_()
        self._attr_n.zero_()

    def _accumulate_attributes(self, batch: dict[str, Any], mu: torch.Tensor) -> None:
        """Update the vectors from this epoch's codes so far (batches with ``"attrs"`` only)."""
        if "attrs" not in batch or not len(self.attr_vectors):
            return
        self._add_codes(mu, batch["attrs"], self._attr_sums, self._attr_n)
        self._set_vectors(self._attr_sums, self._attr_n)

    def _add_codes(self, mu: torch.Tensor, attrs: torch.Tensor, sums: torch.Tensor, ns: torch.Tensor) -> None:
        """Add codes ``mu`` (N, nz) to the sums (K, 2, nz) and counts (K, 2) of images with / without each attribute."""
        on = (attrs > 0.5).to(mu.dtype)  # (N, K): {0, 1} labels (MultiDomainDataModule) or ±1 (CelebA's file)
        if on.ndim != 2 or on.shape[1] != len(self.attr_vectors):
            raise ValueError(
                f"batch['attrs'] has shape {tuple(attrs.shape)}; the model edits {len(self.attr_vectors)} attributes "
                f"{self.hparams.attributes} (one column each)"
            )
        sums[:, 0] += on.T @ mu
        sums[:, 1] += (1 - on).T @ mu
        ns += torch.stack([on.sum(0), (1 - on).sum(0)], 1)

    def _set_vectors(self, sums: torch.Tensor, ns: torch.Tensor) -> None:
        ok = (ns > 0).all(1)  # an attribute seen both present and absent
        means = sums / ns.clamp(min=1).unsqueeze(-1)
        self.attr_vectors[ok] = (means[:, 0] - means[:, 1])[ok]
        self.attr_counts[ok] = ns[ok]

    @torch.no_grad()
    def compute_attribute_vectors(
        self, batches: Iterable[dict[str, Any]], max_batches: int | None = None
    ) -> dict[str, torch.Tensor]:
        """Attribute vectors from images with attribute labels, with the current encoder (eval mode), stored in the
        model (and so in its checkpoints).

        Args:
            batches: a data loader (or any iterable) of ``{"image": (N, C, S, S), "attrs": (N, K)}`` batches whose
                columns are ``attributes`` in order (1 / True = the image has it).
            max_batches: stop after this many batches.

        Returns:
            attribute name -> its vector (nz,): mean μ of the images with it minus the mean μ of those without.

        Raises:
            ValueError: the model was built without ``attributes``, a batch has no ``"attrs"`` or the wrong number
                of columns, or an attribute is present in all or none of the images.
        """
        if not len(self.attr_vectors):
            raise ValueError("build the model with attributes=[names of batch['attrs'] columns] to edit attributes")
        names = list(self.hparams.attributes)
        sums, ns = torch.zeros_like(self._attr_sums), torch.zeros_like(self._attr_n)
        was_training = self.training
        self.eval()
        try:
            for i, batch in enumerate(batches):
                if max_batches is not None and i >= max_batches:
                    break
                if "attrs" not in batch:
                    raise ValueError("batches need 'attrs' (N, K) attribute labels (the CelebA attribute layout)")
                mu = self.encoder(batch["image"].to(self.device))[0]
                self._add_codes(mu, batch["attrs"].to(self.device), sums, ns)
        finally:
            self.train(was_training)
        missing = [names[k] for k in range(len(names)) if not (ns[k] > 0).all()]
        if missing:
            raise ValueError(f"attributes {missing} are present in all or none of the images: no vector")
        self._set_vectors(sums, ns)
        return dict(zip(names, self.attr_vectors.clone()))

    def attribute_index(self, attribute: str | int) -> int:
        names = list(self.hparams.attributes or [])
        if isinstance(attribute, str):
            if attribute not in names:
                raise ValueError(f"unknown attribute {attribute!r}; the model's attributes: {names}")
            return names.index(attribute)
        if not 0 <= attribute < len(names):
            raise ValueError(f"attribute index {attribute} out of range: {len(names)} attributes {names}")
        return int(attribute)

    @torch.no_grad()
    def edit(self, x: torch.Tensor, attribute: str | int, strength: float = 1.0) -> torch.Tensor:
        """Images ``x`` (N, C, S, S) in [-1, 1] with ``attribute`` added (``strength`` < 0: removed) by latent
        arithmetic: Dec(μ(x) + strength · vector) (eval mode). ``strength=0`` gives the reconstruction.

        Raises:
            ValueError: an unknown attribute, or its vector was never computed (:meth:`compute_attribute_vectors`).
        """
        k = self.attribute_index(attribute)
        if not (self.attr_counts[k] > 0).all():
            raise ValueError(
                f"no vector for {self.hparams.attributes[k]!r} yet: call compute_attribute_vectors(loader) "
                "(or train on batches with 'attrs')"
            )
        was_training = self.training
        self.eval()
        try:
            mu = self.encoder(x.to(self.device))[0]
            return self.decoder(mu + strength * self.attr_vectors[k])
        finally:
            self.train(was_training)

    # ----------------------------------------------------------------------------------------- inference
    def inference_conditions(self) -> dict[str, Condition]:
        return {"z": Condition("code", "latent code; drawn from the prior N(0, I) when missing", dim=self.hparams.nz)}

    def forward(self, n: int | None = None, z: torch.Tensor | None = None) -> torch.Tensor:
        """Samples Dec(z) of ``n`` codes z ~ N(0, I), or of the given ``z`` (N, nz)."""
        if z is None:
            if n is None:
                raise ValueError("give the number of samples n or the codes z")
            z = torch.randn(n, self.hparams.nz, device=self.device)
        return self.decoder(z.to(self.device))

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """Dec(μ(x)) (in the current train/eval mode): images (N, C, S, S) in [-1, 1]."""
        return self.decoder(self.encoder(x)[0])

    @torch.no_grad()
    def visuals(self, batch: dict[str, Any]) -> list[list[torch.Tensor]]:
        x = batch["image"]
        return [[x, self.reconstruct(x), self(x.shape[0])]]  # real | reconstruction | sample

    def eval_step(self, batch: dict[str, Any], stage: str) -> None:
        x = batch["image"]
        mse = F.mse_loss(self.reconstruct(x), x)
        self.log(f"{stage}/rec_mse", mse, prog_bar=True, batch_size=x.shape[0], sync_dist=True)
        super().eval_step(batch, stage)  # FID/KID of samples

    def inference_spec(self, **conditions: Any) -> InferenceSpec:
        self.check_conditions(conditions)
        hp = self.hparams
        return InferenceSpec(self.decoder, hp.channels, 1, {"z": torch.zeros(1, hp.nz)}, image_input=False)


__all__ = ["VAEGAN", "Decoder", "Discriminator", "Encoder", "autofill_", "frozen_bn_stats"]
