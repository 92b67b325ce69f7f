"""IcGAN: Invertible Conditional GANs for image editing.

Perarnau, van de Weijer, Raducanu, Álvarez. NeurIPS 2016 Workshop on Adversarial Training. arXiv:1611.06355
Reference code: Guim3/IcGAN (Lua Torch: ``trainGAN.lua``, ``trainEncoder.lua``, ``cfg/mainConfig.lua``,
``data/donkey_celebA.lua``, ``data/donkey_mnist.lua``, ``data/generateEncoderDataset.lua``,
``generation/reconstructWithVariations.lua``).

A conditional DCGAN x' = G(z, y) is trained first; then two encoders invert it: E_z maps an image to its latent z,
E_y to its conditional vector y. Editing a real image x = encode (z, y) = (E_z(x), E_y(x)), change y, decode
G(z, y'). The conditional vector y holds one value in {-1, +1} per attribute (CelebA's 18 attributes as the official
``donkey_celebA.lua`` keeps them; MNIST: a one-hot class vector with -1 elsewhere).

Networks (official ``trainGAN.lua`` / ``trainEncoder.lua``, defaults of ``cfg/mainConfig.lua``):

* G: z (nz = 100, N(0, 1)) and y concatenated at the input (the paper's best position of y in G), a 4x4
  full convolution to ngf·S/8 maps of 4x4, then 4x4 stride-2 full convolutions halving the filters up to S/2, each
  with batch norm + ReLU, and a last 4x4 stride-2 full convolution to the image with tanh (ngf = 64, S = 64:
  118-512-256-128-64-3).
* D: a 4x4 stride-2 convolution (no batch norm) + LeakyReLU(0.2) on x; y, replicated to the S/2 x S/2 maps, is
  concatenated to its output (y inserted in the first convolutional layer: the paper's best position in D);
  then 4x4 stride-2 convolutions doubling the filters with batch norm + LeakyReLU(0.2) down to 4x4, and a 4x4
  convolution to one output with a sigmoid (ndf = 64: 3-64(+18)-128-256-512-1).
* E_z and E_y (``getEncoder``, after the VAE/GAN encoder): 4 5x5 stride-2 convolutions (pad 2) from nf = 32 filters
  doubling (32-64-128-256), each batch norm + ReLU, then Linear(256·(S/16)², FC) + batch norm + ReLU and a linear
  output: E_z FC = 256·4·4 = 4,096 (``FCsz = nil``), 100 outputs; E_y FC = 512, ny outputs.
* Initialisation: G and D as DCGAN (``weights_init``: conv weights N(0, 0.02), biases 0, batch-norm weights
  N(1, 0.02), biases 0); the encoders keep Torch7's defaults (conv/linear weights and biases U(±1/√fan_in), as
  PyTorch's defaults; batch-norm weights U(0, 1), biases 0).

Parameters at the official CelebA defaults (64x64 RGB, 18 attributes), equal to the Lua definitions counted layer by
layer (``tests/test_icgan.py`` shows the arithmetic and pins them): G 3,725,123; D 2,803,393; E_z 18,278,244;
E_y 3,186,962. MNIST at the same 64 px (1 channel, 10 classes): G 3,657,537; D 2,784,961; E_z 18,276,644;
E_y 3,181,258.

Training (paper §3, the official scripts):

1. The cGAN, ``gan_epochs`` = 25 epochs, batch 64, Adam(2e-4, β = (0.5, 0.999)) for G and D, BCE losses. Each
   iteration (``fDx`` then ``fGx``): D on real (x, y) -> 1, on real x with a *wrong* y (``trainWrongY``: the labels of
   another image, never equal to its own; MNIST: another class) -> 0 with weight ½, and on (G(z, y'), y') -> 0 with
   weight ½, y' drawn from the label distribution (the paper's cGAN objective min_G max_D v(D, G) with y, plus the
   official mismatch term); then G on the same fakes against the updated D: -log D(G(z, y'), y') (the non-saturating
   form of the generator's objective).
2. The encoders, ``encoder_epochs`` = 15 epochs, batch 64, Adam(1e-4, β = (0.1, 0.999)) each (``cfg`` options 1/2):
   E_z on generated pairs, L_ez = E ‖z − E_z(G(z, y'))‖²₂ (the paper's L_ez; MSE), with G in eval mode after its
   batch-norm statistics are refreshed by 100 forward passes of 256 samples (``stabilizeBN`` of
   ``generateEncoderDataset.lua``); E_y on real labelled images, L_ey = E ‖y − E_y(x)‖²₂ (the paper's L_ey; MSE, the
   official ``trainEncoder.lua`` criterion). E_z and E_y are independent (neither reads the other), so they train
   side by side in this phase.

Inference (``generation/reconstructWithVariations.lua``): z = E_z(x), y = E_y(x) thresholded at 0 to ±1
(``threshold = true``), then G(z, y) with the edited y, every network in eval mode.

Training in Lightning: one batch = one official iteration of the current phase; the phase is the epoch
(``current_epoch < gan_epochs``: cGAN, then the encoders); every network has its optimiser from the start, so a
checkpoint written anywhere resumes exactly (the batch-norm refresh is recorded in the ``bn_refreshed`` buffer and
happens once). Training stops by itself after ``gan_epochs + encoder_epochs`` epochs.

Deviations:

* y' (the cGAN's sampled conditions and E_z's training conditions) is drawn from the current batch's labels (a random
  permutation, or with replacement for E_z's ``enc_z_batch_size`` pairs: the empirical label distribution) instead of
  from the whole label file (``sampleY``; for MNIST's encoder set, classes in turn); the wrong y is
  another batch item's labels differing from the image's own (retried up to 10 permutations; if every item has the
  same labels, one random attribute is flipped); for class labels, a uniformly drawn other class, as the official
  MNIST loader.
* E_z trains on freshly generated pairs at every step (an endless set) instead of a fixed file of 182,638 generated
  images of which 66 % train; E_y trains on the data module's training split instead of the first 66 % of all images.
  An encoder epoch is an epoch of the data module (CelebA: 182,638 images), not of those files (120,541 / 133,715).
* D returns the logit; the sigmoid is applied inside the BCE (``binary_cross_entropy_with_logits``, the same value,
  safe under autocast). The reported D loss is the sum of the terms (the official log halves it).
* ``labels="domain"`` (one class per image, the zoo's folder-per-domain data) is the official MNIST mode: y is the
  one-hot class vector with -1 elsewhere; at inference E_y's output becomes the one-hot vector of its largest entry
  (the official MNIST path feeds E_y's raw output back).
* Inference resizes images to ``image_size`` (bilinear) and the edited image back to the input size; the networks are
  fixed-size (E_z/E_y end in fully-connected layers), as the official 64x64 pipeline.
* ``train_encoders_with_gan`` (not the paper, off by default): also train E_z (on the current G's samples, generated
  with batch statistics) and E_y at every cGAN step, then the encoder phase as usual; the tiny test preset uses it so
  that one step exercises every network.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from .base import Condition, InferenceSpec, TranslationGAN


def _dcgan_init(m: nn.Module) -> None:
    """``weights_init`` of ``trainGAN.lua``: (full) convolutions N(0, 0.02) with zero bias; batch norm N(1, 0.02)."""
    if isinstance(m, nn.Conv2d | nn.ConvTranspose2d):
        nn.init.normal_(m.weight, 0.0, 0.02)
        nn.init.zeros_(m.bias)
    elif isinstance(m, nn.BatchNorm2d):
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


def _torch7_init(m: nn.Module) -> None:
    """Torch7's default ``reset``: conv/linear weights and biases U(±1/√fan_in) (PyTorch's defaults too); batch norm
    weights U(0, 1), biases 0 (``nn.BatchNormalization:reset``)."""
    if isinstance(m, nn.Conv2d | nn.Linear):
        bound = 1.0 / math.sqrt(m.weight[0].numel())
        nn.init.uniform_(m.weight, -bound, bound)
        nn.init.uniform_(m.bias, -bound, bound)
    elif isinstance(m, nn.BatchNorm1d | nn.BatchNorm2d):
        nn.init.uniform_(m.weight, 0.0, 1.0)
        nn.init.zeros_(m.bias)


def _check_size(image_size: int, minimum: int) -> int:
    if image_size < minimum or image_size & (image_size - 1):
        raise ValueError(f"image_size={image_size} must be a power of 2 >= {minimum} (the official fineSize)")
    return int(math.log2(image_size)) - 3  # the official nConvLayers: layers between the first and the last


# ------------------------------------------------------------------------------------------------ networks
class IcGANGenerator(nn.Module):
    """G(z, y): z and y concatenated at the input (``netG`` of ``trainGAN.lua``).

    Args:
        output_nc: image channels (CelebA 3, MNIST 1).
        nz: length of z (official 100).
        ny: length of y (CelebA 18).
        ngf: filters of the last hidden layer (official 64).
        image_size: output side S, a power of 2 >= 8 (official ``fineSize`` 64).
    """

    def __init__(self, output_nc: int = 3, nz: int = 100, ny: int = 18, ngf: int = 64, image_size: int = 64) -> None:
        super().__init__()
        n_mid = _check_size(image_size, 8)
        mult = image_size // 8
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(nz + ny, ngf * mult, 4),  # 1x1 -> 4x4
            nn.BatchNorm2d(ngf * mult),
            nn.ReLU(True),
        ]
        for _ in range(n_mid):  # 4x4 -> S/2 x S/2, halving the filters
            layers += [nn.ConvTranspose2d(ngf * mult, ngf * mult // 2, 4, 2, 1), nn.BatchNorm2d(ngf * mult // 2)]
            layers.append(nn.ReLU(True))
            mult //= 2
        layers += [nn.ConvTranspose2d(ngf, output_nc, 4, 2, 1), nn.Tanh()]
        self.main = nn.Sequential(*layers)
        self.apply(_dcgan_init)

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """z (N, nz), y (N, ny) -> images (N, C, S, S) in [-1, 1]."""
        return self.main(torch.cat([z, y.to(z.dtype)], 1)[:, :, None, None])


class IcGANDiscriminator(nn.Module):
    """D(x, y): y replicated over the first convolution's S/2 x S/2 output and concatenated there (``netD``).
    Returns the logit (N,) of "real and matching y" (the official sigmoid is applied in the loss)."""

    def __init__(self, input_nc: int = 3, ny: int = 18, ndf: int = 64, image_size: int = 64) -> None:
        super().__init__()
        n_mid = _check_size(image_size, 8)
        self.image_size = image_size
        self.x_conv = nn.Sequential(nn.Conv2d(input_nc, ndf, 4, 2, 1), nn.LeakyReLU(0.2, True))
        layers: list[nn.Module] = []
        c_in, mult = ndf + ny, 1
        for _ in range(n_mid):  # S/2 -> 4x4, doubling the filters
            layers += [nn.Conv2d(c_in, ndf * mult * 2, 4, 2, 1), nn.BatchNorm2d(ndf * mult * 2)]
            layers.append(nn.LeakyReLU(0.2, True))
            mult *= 2
            c_in = ndf * mult
        layers.append(nn.Conv2d(c_in, 1, 4))  # 4x4 -> 1x1
        self.main = nn.Sequential(*layers)
        self.apply(_dcgan_init)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        h = self.x_conv(x)  # (N, ndf, S/2, S/2)
        y_maps = y.to(h.dtype)[:, :, None, None].expand(-1, -1, h.shape[2], h.shape[3])
        return self.main(torch.cat([h, y_maps], 1)).flatten()


class IcGANEncoder(nn.Module):
    """E_z or E_y (``getEncoder`` of ``trainEncoder.lua``): 5x5 stride-2 convolutions with batch norm + ReLU, then a
    fully-connected layer with batch norm + ReLU and a linear output.

    Args:
        input_nc: image channels.
        out_dim: nz (E_z) or ny (E_y).
        nf: filters of the first convolution, doubled per layer (official 32).
        n_layers: convolutions (official ``nConvLayers`` 4).
        fc: width of the hidden fully-connected layer; ``None``: as wide as its input (official E_z), E_y 512.
        image_size: input side S, divisible by 2**n_layers.
    """

    def __init__(
        self,
        input_nc: int = 3,
        out_dim: int = 100,
        nf: int = 32,
        n_layers: int = 4,
        fc: int | None = None,
        image_size: int = 64,
    ) -> None:
        super().__init__()
        if image_size % 2**n_layers:
            raise ValueError(f"image_size={image_size} must be divisible by 2**enc_layers={2**n_layers}")
        layers: list[nn.Module] = []
        c_in, c_out = input_nc, nf
        for _ in range(n_layers):
            layers += [nn.Conv2d(c_in, c_out, 5, 2, 2), nn.BatchNorm2d(c_out), nn.ReLU(True)]
            c_in, c_out = c_out, c_out * 2
        flat = (image_size // 2**n_layers) ** 2 * c_in
        fc = flat if fc is None else fc
        self.conv = nn.Sequential(*layers)
        self.fc = nn.Sequential(nn.Linear(flat, fc), nn.BatchNorm1d(fc), nn.ReLU(True), nn.Linear(fc, out_dim))
        self.apply(_torch7_init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.conv(x).flatten(1))


def _resized(x: torch.Tensor, size: int) -> torch.Tensor:
    """x bilinearly resized to size x size (the identity at that size: align_corners=False at scale 1)."""
    return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)


def _threshold(y: torch.Tensor, index: bool) -> torch.Tensor:
    """E_y's output -> a conditional vector in {-1, 1}: sign at 0 (``applyThreshold(Y, 0)``), or for class labels
    the one-hot vector of the largest entry."""
    if index:
        return torch.zeros_like(y).scatter_(1, y.argmax(1, keepdim=True), 1.0) * 2 - 1
    return torch.where(y > 0, torch.ones_like(y), -torch.ones_like(y))


class _Editor(nn.Module):
    """What inference and export run: x (any size) -> G(E_z(x), y) at the input's size, with y = the thresholded
    E_y(x) (no target) or the given target (attributes: values in the data's scale, 0 off / 1 on, y = 2t - 1;
    classes: an index)."""

    def __init__(self, model: IcGAN, with_target: bool) -> None:
        super().__init__()
        self.enc_z, self.enc_y, self.gen = model.enc_z, model.enc_y, model.gen
        self.size, self.index, self.with_target = model.hparams.image_size, model.index_labels, with_target
        self.ny = model.ny

    def forward(self, x: torch.Tensor, target: torch.Tensor | None = None) -> torch.Tensor:
        h = _resized(x, self.size)
        z = self.enc_z(h)
        if target is None:
            y = _threshold(self.enc_y(h), self.index)
        elif self.index:
            y = F.one_hot(target.long().reshape(-1), self.ny).to(h.dtype).expand(h.shape[0], -1) * 2 - 1
        else:
            y = (target.to(h.dtype).reshape(-1, self.ny) * 2 - 1).expand(h.shape[0], -1)
        out = self.gen(z, y)
        return F.interpolate(out, size=x.shape[-2:], mode="bilinear", align_corners=False)


# ----------------------------------------------------------------------------------------------- the model
class IcGAN(TranslationGAN):
    """IcGAN (Perarnau et al. 2016): a conditional GAN, then encoders E_z and E_y that invert it for editing.

    Args:
        input_nc: image channels (CelebA 3; MNIST 1).
        n_domains: ny, the length of y: attributes (``labels="attributes"``, CelebA 18) or classes (``"domain"``).
        labels: ``attributes`` (batches ``"attrs"`` (N, K) in {0, 1} -> y = 2·attrs − 1, CelebA files) or ``domain``
            (batches ``"domain"`` (N,) -> one-hot y with −1 elsewhere, the official MNIST mode).
        image_size: S, the training side (official ``fineSize`` 64); a power of 2, >= 16.
        nz: length of z (official 100), drawn from N(0, 1) (official ``noise = 'normal'``).
        ngf / ndf: G's last / D's first filters (official 64 / 64).
        enc_nf: the encoders' first filters (official ``nf`` 32); enc_layers: their convolutions (official 4).
        enc_z_fc: E_z's hidden fully-connected width (official ``FCsz = nil``: as wide as its input, 4,096 at 64 px).
        enc_y_fc: E_y's (official 512).
        gan_epochs: epochs of the cGAN phase (official ``niter`` 25).
        encoder_epochs: epochs of the encoder phase (official ``nEpochs`` 15).
        enc_z_batch_size: generated pairs per E_z step (official ``batchSize`` of the encoder options, 64); E_y
            trains on the data module's batches (the recipe's batch size: 64).
        train_wrong_y: D also learns real images with mismatched y as fake (official ``trainWrongY = true``).
        lr / beta1 / beta2: Adam for G and D (official 2e-4, 0.5, Torch's default 0.999).
        lr_enc / beta1_enc: Adam for E_z and E_y (official 1e-4, 0.1).
        bn_refresh_batches / bn_refresh_batch_size: G's batch-norm statistics refresh before the encoder phase
            (official ``stabilizeBN``: 100 forward passes of 256 samples); 0 disables it.
        train_encoders_with_gan: also train E_z and E_y during the cGAN phase (not the paper; see Deviations).
        domain_names: attribute (or class) names in label order, saved with the model; ``edit`` takes them.
        **kwargs: options of :class:`TranslationGAN` (``optimizer``, ``fused``).
    """

    batch_kind = "multidomain"
    tiny_config = {
        "input_nc": 1,
        "n_domains": 3,
        "labels": "domain",
        "image_size": 32,
        "nz": 8,
        "ngf": 4,
        "ndf": 4,
        "enc_nf": 4,
        "enc_y_fc": 16,
        "bn_refresh_batches": 2,
        "bn_refresh_batch_size": 4,
        "enc_z_batch_size": 4,
        "train_encoders_with_gan": True,
    }

    def __init__(
        self,
        input_nc: int = 3,
        n_domains: int = 18,
        labels: Literal["attributes", "domain"] = "attributes",
        image_size: int = 64,
        nz: int = 100,
        ngf: int = 64,
        ndf: int = 64,
        enc_nf: int = 32,
        enc_layers: int = 4,
        enc_z_fc: int | None = None,
        enc_y_fc: int | None = 512,
        gan_epochs: int = 25,
        encoder_epochs: int = 15,
        enc_z_batch_size: int = 64,
        train_wrong_y: bool = True,
        lr: float = 2e-4,
        beta1: float = 0.5,
        beta2: float = 0.999,
        lr_enc: float = 1e-4,
        beta1_enc: float = 0.1,
        bn_refresh_batches: int = 100,
        bn_refresh_batch_size: int = 256,
        train_encoders_with_gan: bool = False,
        domain_names: list[str] | None = None,
        lr_policy: Literal["linear", "step", "cosine", "constant"] = "constant",
        **kwargs: Any,
    ) -> None:
        super().__init__(lr=lr, beta1=beta1, beta2=beta2, lr_policy=lr_policy, **kwargs)
        if labels not in ("attributes", "domain"):
            raise ValueError(f"labels must be 'attributes' or 'domain', got {labels!r}")
        if n_domains < (2 if labels == "domain" else 1):
            raise ValueError(f"n_domains={n_domains} is too small for labels={labels!r}")
        if domain_names is not None and len(domain_names) != n_domains:
            raise ValueError(f"domain_names has {len(domain_names)} names for n_domains={n_domains}")
        if gan_epochs < 0 or encoder_epochs < 0:
            raise ValueError("gan_epochs and encoder_epochs must be >= 0")
        _check_size(image_size, 16)
        self.ny = n_domains
        self.gen = IcGANGenerator(input_nc, nz, n_domains, ngf, image_size)
        self.disc = IcGANDiscriminator(input_nc, n_domains, ndf, image_size)
        self.enc_z = IcGANEncoder(input_nc, nz, enc_nf, enc_layers, enc_z_fc, image_size)
        self.enc_y = IcGANEncoder(input_nc, n_domains, enc_nf, enc_layers, enc_y_fc, image_size)
        # Whether G's batch-norm statistics were refreshed for the encoder phase (once; kept in checkpoints).
        self.register_buffer("bn_refreshed", torch.zeros((), dtype=torch.bool))
        self.inference_size = (image_size, image_size)

    @property
    def index_labels(self) -> bool:
        return self.hparams.labels == "domain"

    # ------------------------------------------------------------------------------------------- players
    def param_groups(self) -> dict[str, list[nn.Module]]:
        return {"G": [self.gen], "D": [self.disc], "E_z": [self.enc_z], "E_y": [self.enc_y]}

    def configure_optimizers(self):
        """Adam(lr, (beta1, beta2)) for G and D, Adam(lr_enc, (beta1_enc, beta2)) for E_z and E_y (official
        ``optimStateG/D`` and ``trainEncoder.lua``'s ``optimState``); an injected ``optimizer`` serves all four."""
        hp = self.hparams
        groups = [list(self._parameters_of(mods)) for mods in self.param_groups().values()]
        if self.optimizer_factory is not None:
            return [self.optimizer_factory(p) for p in groups], []
        settings = [(hp.lr, hp.beta1)] * 2 + [(hp.lr_enc, hp.beta1_enc)] * 2
        return [
            torch.optim.Adam(p, lr=lr, betas=(b1, hp.beta2), fused=hp.fused) for p, (lr, b1) in zip(groups, settings)
        ], []

    # ----------------------------------------------------------------------------------------- labels
    def batch_y(self, batch: dict[str, Any]) -> torch.Tensor:
        """The conditional vectors y (N, ny) in {-1, 1} of a batch (attributes: 2a − 1; classes: one-hot ±1)."""
        key = "domain" if self.index_labels else "attrs"
        if key not in batch:
            other = "attrs" if key == "domain" else "domain"
            raise KeyError(
                f"IcGAN(labels={self.hparams.labels!r}) reads batch[{key!r}], but the batch has {other!r}: set "
                f"labels={'attributes' if key == 'domain' else 'domain'!r} to match the data module's layout"
            )
        if self.index_labels:
            return F.one_hot(batch["domain"].long().reshape(-1), self.ny).float() * 2 - 1
        return batch["attrs"].float() * 2 - 1

    def sample_y(self, y: torch.Tensor) -> torch.Tensor:
        """y' drawn from the label distribution: the batch's own vectors in a random order."""
        return y[torch.randperm(y.shape[0], device=y.device)]

    def wrong_y(self, y: torch.Tensor) -> torch.Tensor:
        """For every image a y that is not its own (``trainWrongY``): another class drawn uniformly (classes), or
        another batch item's attributes that differ (up to 10 random orders; failing that, one attribute flipped)."""
        n = y.shape[0]
        if self.index_labels:
            cls = y.argmax(1)
            other = (cls + torch.randint(1, self.ny, (n,), device=y.device)) % self.ny
            return F.one_hot(other, self.ny).to(y.dtype) * 2 - 1
        out = y.clone()
        same = torch.ones(n, dtype=torch.bool, device=y.device)
        for _ in range(10):
            cand = y[torch.randperm(n, device=y.device)]
            take = same & (cand != y).any(1)
            out[take] = cand[take]
            same &= ~take
            if not bool(same.any()):
                return out
        rows = same.nonzero().flatten()
        cols = torch.randint(0, self.ny, (len(rows),), device=y.device)
        out[rows, cols] = -out[rows, cols]
        return out

    # -------------------------------------------------------------------------------------- training
    def in_gan_phase(self) -> bool:
        return self.current_epoch < self.hparams.gan_epochs

    def on_train_batch_start(self, batch: dict[str, Any], batch_idx: int) -> int | None:
        super().on_train_batch_start(batch, batch_idx)
        hp = self.hparams
        if self.current_epoch >= hp.gan_epochs + hp.encoder_epochs:
            self.trainer.should_stop = True  # both phases are done
            return -1
        return None

    @torch.no_grad()
    def refresh_generator_bn(self, y_pool: torch.Tensor) -> None:
        """``stabilizeBN``: re-estimate G's batch-norm running statistics with ``bn_refresh_batches`` forward passes
        of ``bn_refresh_batch_size`` samples in training mode (y drawn from ``y_pool``), then never again."""
        hp = self.hparams
        was = self.gen.training
        self.gen.train()
        for _ in range(hp.bn_refresh_batches):
            idx = torch.randint(0, y_pool.shape[0], (hp.bn_refresh_batch_size,), device=y_pool.device)
            self.gen(torch.randn(hp.bn_refresh_batch_size, hp.nz, device=y_pool.device), y_pool[idx])
        self.gen.train(was)
        self.bn_refreshed.fill_(True)

    def _encoder_steps(self, x: torch.Tensor, y: torch.Tensor, opts: dict[str, Any], gen_eval: bool = True) -> None:
        """One E_z step on generated pairs (L_ez) and one E_y step on the real labelled batch (L_ey). ``gen_eval``:
        G generates in eval mode (the encoder phase, ``generateEncoderDataset.lua``: net:evaluate() after
        stabilizeBN); else with batch statistics (``train_encoders_with_gan``: G's running statistics still lag)."""
        n = self.hparams.enc_z_batch_size
        self.gen.train(not gen_eval)
        with torch.no_grad():
            z = torch.randn(n, self.hparams.nz, device=x.device)
            y_gen = y[torch.randint(0, y.shape[0], (n,), device=y.device)]  # drawn from the label distribution
            x_gen = self.gen(z, y_gen)
        self.gen.train()
        self.enc_z.train(), self.enc_y.train()
        with self.toggled_optimizer(opts["E_z"]):
            self._step(opts["E_z"], {"enc_z": F.mse_loss(self.enc_z(x_gen), z)})  # ‖z − E_z(G(z, y'))‖²
        with self.toggled_optimizer(opts["E_y"]):
            self._step(opts["E_y"], {"enc_y": F.mse_loss(self.enc_y(x), y)})  # ‖y − E_y(x)‖²

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        hp = self.hparams
        x = batch["image"]  # (N, C, S, S)
        y = self.batch_y(batch).to(x.dtype)  # (N, ny) in {-1, 1}
        opts = dict(zip(self.param_groups(), self.optimizers()))

        if not self.in_gan_phase():
            # Phase 2: the encoders, G frozen with refreshed batch-norm statistics.
            if hp.bn_refresh_batches and not bool(self.bn_refreshed):
                self.refresh_generator_bn(y)
            self._encoder_steps(x, y, opts)
            return

        # Phase 1: the cGAN. (1) D: maximise log D(x, y) + ½ log(1 − D(x, y_wrong)) + ½ log(1 − D(G(z, y'), y')).
        self.gen.train(), self.disc.train()
        z = torch.randn(x.shape[0], hp.nz, device=x.device, dtype=x.dtype)
        y_fake = self.sample_y(y)
        fake = self.gen(z, y_fake)  # computed once: detached for D, reused for G
        with self.toggled_optimizer(opts["D"]):
            real_logit = self.disc(x, y)
            losses = {"d_real": F.binary_cross_entropy_with_logits(real_logit, torch.ones_like(real_logit))}
            fake_weight = 1.0
            if hp.train_wrong_y:
                wrong_logit = self.disc(x, self.wrong_y(y))
                losses["d_wrong_y"] = 0.5 * F.binary_cross_entropy_with_logits(
                    wrong_logit, torch.zeros_like(wrong_logit)
                )
                fake_weight = 0.5  # "fake image error is shared equally between real Y and wrong Y"
            fake_logit = self.disc(fake.detach(), y_fake)
            d_fake = F.binary_cross_entropy_with_logits(fake_logit, torch.zeros_like(fake_logit))
            losses["d_fake"] = fake_weight * d_fake
            self._step(opts["D"], losses)

        # (2) G: maximise log D(G(z, y'), y') with the updated D, on the same fakes.
        with self.toggled_optimizer(opts["G"]):
            logit = self.disc(fake, y_fake)
            self._step(opts["G"], {"g_adv": F.binary_cross_entropy_with_logits(logit, torch.ones_like(logit))})

        if hp.train_encoders_with_gan:
            self._encoder_steps(x, y, opts, gen_eval=False)

    # ------------------------------------------------------------------------------------- inference
    def inference_conditions(self) -> dict[str, Condition]:
        if self.index_labels:
            return {
                "target": Condition(
                    "index", "the class to generate the image as (default: the one E_y reads)", dim=self.ny
                )
            }
        return {
            "target": Condition(
                "vector",
                "attribute values of the edited image: 0 off, 1 on (y = 2t - 1; default: those E_y reads)",
                dim=self.ny,
            )
        }

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(z, y) = (E_z(x), E_y(x) thresholded to ±1) of images x (N, C, S, S)."""
        return self.enc_z(x), _threshold(self.enc_y(x), self.index_labels)

    def decode(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """G(z, y): y (N, ny) in the network's ±1 scale."""
        return self.gen(z, y)

    def forward(self, x: torch.Tensor, target: int | torch.Tensor | None = None) -> torch.Tensor:
        """x edited to ``target``: attribute values (N, K) or (K,) (0 off, 1 on; other values extrapolate), or a
        class index (``labels="domain"``); ``None`` reconstructs x with the attributes E_y reads. Any input size
        (resized to ``image_size`` and back)."""
        if target is not None and not isinstance(target, torch.Tensor):
            target = torch.as_tensor(target, device=x.device)
        return _Editor(self, target is not None)(x, target)

    def edit(self, x: torch.Tensor, attribute: int | str, value: float = 1.0) -> torch.Tensor:
        """x with one attribute set to ``value`` (0 off, 1 on) and the others as E_y reads them; for class labels,
        x decoded as class ``attribute``. ``attribute``: an index or a name of ``domain_names``."""
        if isinstance(attribute, str):
            names = self.hparams.domain_names or []
            if attribute not in names:
                raise ValueError(f"unknown attribute {attribute!r}; domain_names: {names}")
            attribute = names.index(attribute)
        if not 0 <= attribute < self.ny:
            raise ValueError(f"attribute index {attribute} is out of range 0..{self.ny - 1}")
        h = _resized(x, self.hparams.image_size)
        z, y = self.encode(h)
        if self.index_labels:
            y = torch.full_like(y, -1.0)
            y[:, attribute] = 1.0
        else:
            y[:, attribute] = 2 * value - 1
        return F.interpolate(self.decode(z, y), size=x.shape[-2:], mode="bilinear", align_corners=False)

    @torch.no_grad()
    def sample(
        self, n: int | None = None, target: int | torch.Tensor | None = None, z: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``n`` images G(z, y) from z ~ N(0, 1) (or the given z (N, nz)) with the condition ``target``: attribute
        values (0 off, 1 on; default all off) or a class index (default 0). Eval mode, no gradients."""
        if z is None:
            if n is None:
                raise ValueError("give n or z")
            z = torch.randn(n, self.hparams.nz, device=self.bn_refreshed.device)
        n = z.shape[0]
        if self.index_labels:
            idx = torch.as_tensor(0 if target is None else target, device=z.device).long().reshape(-1)
            y = F.one_hot(idx, self.ny).to(z.dtype).expand(n, -1) * 2 - 1
        else:
            t = torch.zeros(self.ny) if target is None else torch.as_tensor(target, dtype=z.dtype)
            y = (t.to(z.device, z.dtype).reshape(-1, self.ny) * 2 - 1).expand(n, -1)
        was = self.training
        self.eval()
        try:
            return self.gen(z, y)
        finally:
            self.train(was)

    def inference_spec(self, **conditions: Any) -> InferenceSpec:
        conditions = self.check_conditions(conditions)
        nc = int(self.hparams.input_nc)
        if "target" not in conditions:
            return InferenceSpec(_Editor(self, False), nc)
        example = torch.zeros(1, dtype=torch.long) if self.index_labels else torch.zeros(1, self.ny)
        return InferenceSpec(_Editor(self, True), nc, 1, {"target": example})

    @torch.no_grad()
    def visuals(self, batch: dict[str, Any]) -> list[list[torch.Tensor]]:
        """x, its reconstruction, then x with each attribute flipped (classes: decoded as every class)."""
        x = batch["image"]
        z, y = self.encode(x)
        row = [x, self.decode(z, y)]
        for j in range(self.ny):
            edited = y.clone()
            if self.index_labels:
                edited.fill_(-1.0)
                edited[:, j] = 1.0
            else:
                edited[:, j] = -edited[:, j]
            row.append(self.decode(z, edited))
        return [row]

    def eval_step(self, batch: dict[str, Any], stage: str) -> None:
        """The official encoders' test errors: MSE of E_y on real labelled images and of E_z on generated pairs;
        the reconstruction error of G(E_z(x), E_y(x)) and E_y's attribute accuracy (sign / argmax)."""
        x = batch["image"]
        y = self.batch_y(batch).to(x.dtype)
        n = x.shape[0]
        y_hat = self.enc_y(x)
        z = torch.randn(n, self.hparams.nz, device=x.device, dtype=x.dtype)
        self.log(f"{stage}/enc_y_mse", F.mse_loss(y_hat, y), prog_bar=True, batch_size=n, sync_dist=True)
        self.log(f"{stage}/enc_z_mse", F.mse_loss(self.enc_z(self.gen(z, y)), z), batch_size=n, sync_dist=True)
        self.log(f"{stage}/rec_mse", F.mse_loss(self(x), x), batch_size=n, sync_dist=True)
        self.log(f"{stage}/enc_y_acc", (_threshold(y_hat, self.index_labels) == y).float().mean(), batch_size=n,
                 sync_dist=True)  # fmt: skip


__all__ = ["IcGAN", "IcGANDiscriminator", "IcGANEncoder", "IcGANGenerator"]
