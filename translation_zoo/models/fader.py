"""Fader Networks: Manipulating Images by Sliding Attributes.

Lample, Zeghidour, Usunier, Bordes, Denoyer, Ranzato. NeurIPS 2017. arXiv:1706.00409
Reference code: facebookresearch/FaderNetworks (``src/model.py``, ``src/training.py``, ``src/utils.py``, ``train.py``,
``interpolate.py``, ``src/evaluation.py``).

An encoder E maps the image x to a latent z = E(x); a decoder D rebuilds x from (z, y), where y, the attributes, are
given as one-hot blocks (a pair (1 - a, a) per binary attribute, n_cat columns per categorical one) and enter *every*
decoder layer as constant feature maps. A latent discriminator P predicts y from z; the encoder is trained to make
that prediction fail, so z carries no attribute information and the decoder has to read y. At test time y is a
fader: a binary attribute's pair (1 - α, α) with α anywhere on the real line (α = 0 off, 1 on; beyond [0, 1] the
paper's exaggerated edits, the official ``interpolate.py`` ``--alpha_min/--alpha_max`` up to 10).

Objectives (§3 of the paper; the names are the paper's symbols):

* L_dis(θ_dis | θ_enc) = -1/m Σ log p_θdis(y | E(x)) — the latent discriminator's loss (§3.2, "discriminator
  objective"): cross-entropy of P(E(x)) against y, summed over attributes (official ``get_attr_loss``).
* L(θ_enc, θ_dec | θ_dis) = 1/m Σ ‖D(E(x), y) − x‖² − λ_E log p_θdis(1 − y | E(x)) (§3.2, "adversarial objective"):
  MSE reconstruction plus λ_E times the discriminator's cross-entropy against *flipped* attributes (for categorical
  attributes a random other category, as the official code). λ_E grows linearly from 0 to ``lambda_lat_dis`` = 1e-4
  over ``lambda_schedule`` = 500,000 iterations (§3.3 and the official ``get_lambda``).
* Optional, off by default as in the paper (official README: "only the first two losses are used"): a PatchGAN
  discriminator on images decoded with random attributes (``lambda_ptc_dis``, ``n_ptc_dis``; BCE with smoothed
  labels 0.2 / 0.8) and a classifier discriminator on them (``lambda_clf_dis``, ``n_clf_dis``); their λ follow the
  same linear schedule.

Each iteration (the official ``train.py`` loop) runs ``n_lat_dis`` = 1 latent-discriminator step (the autoencoder in
eval mode, z without gradient), then the optional patch/classifier discriminator steps, then one autoencoder step
(the discriminators in eval mode). Every step clips the gradient norm of its network at ``clip_grad_norm`` = 5.
Adam(lr 2e-4, β = (0.5, 0.999)) for every network, batch 32, 256x256 images, horizontal flips.

Networks (the official defaults: ``n_layers`` 6, ``init_fm`` 32, ``max_fm`` 512, ``hid_dim`` 512, batch norm,
transposed convolutions, no skips, ``lat_dis_dropout`` 0.3, ``dec_dropout`` 0): encoder of 4x4 stride-2 convs
(C32-C64-C128-C256-C512-C512, batch norm from the second, LeakyReLU 0.2) to a 512x4x4 latent; the mirrored decoder of
4x4 stride-2 transposed convs whose inputs are the previous maps plus the attribute maps (batch norm + ReLU, the last
tanh); the latent discriminator continues the encoder's convolutions down to 1x1 (``log2(image_size)`` layers in all,
with dropout), then Linear(512, 512)-LeakyReLU-Linear(512, n_attr). Parameters, equal to the official ``AutoEncoder``
/ ``LatentDiscriminator`` / ``PatchDiscriminator`` / ``Classifier`` built from ``src/model.py`` with the defaults of
``train.py`` (counted with ``sum(p.numel())``; ``tests/test_fader.py`` pins them):

* two binary attributes (``train.py``'s default ``Smiling,Male``, n_attr 4): AE 14,032,352, latent discriminator
  8,656,388, patch discriminator 695,137, classifier 15,641,956;
* one binary attribute (the released ``male.pth``, ``young.pth``, ...; n_attr 2): AE 14,000,512, latent
  discriminator 8,655,362.

Deviations:

* The official loop draws a fresh random batch for every discriminator step and for the autoencoder step; here one
  batch of the data module serves all steps of an iteration (Lightning reads one batch per ``training_step``).
* The paper's §4 text gives Adam's learning rate as 0.002; the official ``train.py`` (``adam,lr=0.0002``) uses 2e-4,
  which is the default here (set ``lr`` for the other). Likewise the paper's text describes a 7-layer encoder
  (C16 ... C512, a 512x2x2 latent) with ReLU; the defaults here are the official code's (6 layers from 32 filters, a
  512x4x4 latent, LeakyReLU 0.2 in the encoder), which is what the parameter counts above are checked against
  (``n_layers=7, init_fm=16`` gives the paper's layout).
* A conv bias directly before batch norm (official layout, kept for the state dicts) gets a gradient that is zero up
  to round-off; at the latent discriminator's last layer (1x1 maps) with a batch of 2 it is exactly zero in bf16.
* Training checks the official code's ``assert`` statements with ``ValueError``; no NaN ``exit()``: the zoo's divergence
  check stops training instead.
* Attribute labels come from the data module in its order (``selected_attrs``); the official loader sorts attributes
  by (number of categories, name). Give ``selected_attrs`` sorted that way to match released multi-attribute models.
* ``labels="domain"`` (one domain index per image, e.g. the zoo's folder-per-domain data) is treated as one
  categorical attribute with ``n_domains`` categories (the official ``--attr Name.n`` form).

Official weights: the released models (``models/download.sh``: ``male.pth``, ``young.pth``, ``classifier256.pth``
...) and ``train.py``'s saves are *pickled whole modules* (``torch.save(model)``): unpickling them runs code named in
the file. :func:`load_official` (also ``FaderNetworks.from_official``) refuses them by default; with
``trust_pickled_code=True`` it unpickles them with a restricted unpickler (torch layers and the four official network
classes only, the latter replaced by an inert container) and keeps only the state dict and the architecture
attributes. :func:`convert_official` writes them to a safe file (tensors and plain values), which :func:`load_official`
then reads with ``weights_only=True`` and no opt-in. ``translation_zoo.hub.from_official("fader", ae=..., lat_dis=...)``
takes plain state dicts (e.g. ``read_official(path, trust_pickled_code=True)[0]``); given a pickled file it refuses it
too (``weights_only=True``). State-dict keys are the official ones (``enc_layers.*``, ``dec_layers.*``,
``conv_layers.*``, ``proj_layers.*``, ``layers.*``).
"""

from __future__ import annotations

import io
import math
import os
import pickle
from pathlib import Path
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from .base import Condition, InferenceSpec, TranslationGAN

# models/download.sh of the official code: pickled whole modules (see the module docstring).
OFFICIAL_URLS = {
    name: f"https://dl.fbaipublicfiles.com/FaderNetworks/{name}.pth"
    for name in ("classifier128", "classifier256", "eyeglasses", "male", "narrow_eyes", "young", "pointy_nose")
}
# interpolate.py examples in the official README: the alpha range that shows each released attribute.
OFFICIAL_ALPHAS = {"eyeglasses": 2.0, "male": 2.0, "narrow_eyes": 10.0, "young": 10.0, "pointy_nose": 10.0}
DECONV_METHODS = ("convtranspose", "upsampling", "pixelshuffle")


# ------------------------------------------------------------------------------------------------ networks
def _conv_stack(
    image_size: int,
    input_nc: int,
    init_fm: int,
    max_fm: int,
    n_layers: int,
    n_attr: int,
    n_skip: int,
    deconv_method: str,
    instance_norm: bool,
    enc_dropout: float,
    dec_dropout: float,
) -> tuple[list[nn.Sequential], list[nn.Sequential]]:
    """Encoder layers (input first) and decoder layers (latent first), laid out as the official ``build_layers`` so
    that state-dict keys match: encoder i = conv4x4/2 [norm if i > 0] LeakyReLU(0.2) [dropout]; decoder (mirrored)
    = up-sampling conv [norm, dropout in the last three, ReLU] or, for the image layer, tanh."""
    if not init_fm <= max_fm:
        raise ValueError(f"init_fm={init_fm} must be <= max_fm={max_fm}")
    if not 0 <= n_skip <= n_layers - 1:
        raise ValueError(f"n_skip={n_skip} must be in 0..n_layers-1={n_layers - 1}")
    if image_size < 2 or image_size & (image_size - 1):
        raise ValueError(f"image_size={image_size} must be a power of 2 (the official code asserts it)")
    if n_layers > int(math.log2(image_size)):
        raise ValueError(f"n_layers={n_layers} halves {image_size} px below 1 px")
    if deconv_method not in DECONV_METHODS:
        raise ValueError(f"deconv_method must be one of {DECONV_METHODS}, got {deconv_method!r}")
    norm = nn.InstanceNorm2d if instance_norm else nn.BatchNorm2d
    enc: list[nn.Sequential] = []
    dec: list[nn.Sequential] = []
    c_in, c_out = input_nc, init_fm
    for i in range(n_layers):
        skip = n_layers - (n_skip + 1) <= i < n_layers - 1
        d_in = c_out + n_attr + (c_out if skip else 0)  # previous maps + attribute maps (+ skipped encoder maps)
        e_layers: list[nn.Module] = [nn.Conv2d(c_in, c_out, 4, 2, 1)]
        if i > 0:
            e_layers.append(norm(c_out, affine=True))
        e_layers.append(nn.LeakyReLU(0.2, inplace=True))
        if enc_dropout > 0:
            e_layers.append(nn.Dropout(enc_dropout))
        if deconv_method == "convtranspose":
            d_layers: list[nn.Module] = [nn.ConvTranspose2d(d_in, c_in, 4, 2, 1, bias=False)]
        elif deconv_method == "upsampling":
            d_layers = [nn.UpsamplingNearest2d(scale_factor=2), nn.Conv2d(d_in, c_in, 3, 1, 1)]
        else:
            d_layers = [nn.Conv2d(d_in, c_in * 4, 3, 1, 1), nn.PixelShuffle(2)]
        if i > 0:
            d_layers.append(norm(c_in, affine=True))
            if dec_dropout > 0 and i >= n_layers - 3:
                d_layers.append(nn.Dropout(dec_dropout))
            d_layers.append(nn.ReLU(inplace=True))
        else:
            d_layers.append(nn.Tanh())
        enc.append(nn.Sequential(*e_layers))
        dec.insert(0, nn.Sequential(*d_layers))
        c_in, c_out = c_out, min(2 * c_out, max_fm)
    return enc, dec


class FaderAutoEncoder(nn.Module):
    """E and D: ``encode(x)`` -> [x, h1, ..., z]; ``decode(enc_outputs, y)`` -> [z, ..., x̂]; the official keys
    ``enc_layers.<i>.<j>`` / ``dec_layers.<i>.<j>``. Any image side that is a multiple of 2**n_layers works.

    Args:
        input_nc: image channels (official ``--img_fm`` 3).
        n_attr: length of the one-hot attribute vector y (2 per binary attribute).
        image_size / init_fm / max_fm / n_layers / n_skip / deconv_method / instance_norm / dec_dropout: the
            official options of the same names (``--img_sz`` for image_size).
    """

    def __init__(
        self,
        input_nc: int = 3,
        n_attr: int = 4,
        image_size: int = 256,
        init_fm: int = 32,
        max_fm: int = 512,
        n_layers: int = 6,
        n_skip: int = 0,
        deconv_method: str = "convtranspose",
        instance_norm: bool = False,
        dec_dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.n_attr, self.n_layers, self.n_skip = n_attr, n_layers, n_skip
        self.size_multiple = 2**n_layers
        enc, dec = _conv_stack(
            image_size, input_nc, init_fm, max_fm, n_layers, n_attr, n_skip, deconv_method, instance_norm, 0.0,
            dec_dropout,
        )  # fmt: skip
        self.enc_layers = nn.ModuleList(enc)
        self.dec_layers = nn.ModuleList(dec)

    def encode(self, x: torch.Tensor) -> list[torch.Tensor]:
        """x (N, C, H, W) -> [x, every encoder output]; the last is z (N, fm, H / 2**n_layers, W / 2**n_layers)."""
        outs = [x]
        for layer in self.enc_layers:
            outs.append(layer(outs[-1]))
        return outs

    def decode(self, enc_outputs: list[torch.Tensor], y: torch.Tensor) -> list[torch.Tensor]:
        """[z, ..., x̂] from the encoder outputs and the attribute vector y (N, n_attr), fed to every layer."""
        outs = [enc_outputs[-1]]
        y = y.to(outs[0].dtype)[:, :, None, None]
        for i, layer in enumerate(self.dec_layers):
            h = outs[-1]
            inputs = [h, y.expand(-1, -1, h.shape[2], h.shape[3])]
            if 0 < i <= self.n_skip:
                inputs.append(enc_outputs[-1 - i])
            outs.append(layer(torch.cat(inputs, 1)))
        return outs

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """D(E(x), y): (N, C, H, W)."""
        return self.decode(self.encode(x), y)[-1]


class LatentDiscriminator(nn.Module):
    """P(y | z): the encoder's convolutions continued from the latent down to 1x1, then a 2-layer MLP; the official
    keys ``conv_layers.<k>.<j>`` / ``proj_layers.{0,2}``. It reads the encoder output ``n_skip`` layers before z."""

    def __init__(
        self,
        input_nc: int = 3,
        n_attr: int = 4,
        image_size: int = 256,
        init_fm: int = 32,
        max_fm: int = 512,
        n_layers: int = 6,
        n_skip: int = 0,
        hid_dim: int = 512,
        dropout: float = 0.3,
    ) -> None:
        super().__init__()
        n_dis_layers = int(math.log2(image_size))
        enc, _ = _conv_stack(
            image_size, input_nc, init_fm, max_fm, n_dis_layers, n_attr, 0, "convtranspose", False, dropout, 0.0
        )
        self.conv_out_fm = min(init_fm * 2 ** (n_dis_layers - 1), max_fm)
        self.conv_layers = nn.Sequential(*enc[n_layers - n_skip :])
        self.proj_layers = nn.Sequential(
            nn.Linear(self.conv_out_fm, hid_dim), nn.LeakyReLU(0.2, inplace=True), nn.Linear(hid_dim, n_attr)
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """(N, fm, s, s) latent -> (N, n_attr) logits (one softmax block per attribute)."""
        return self.proj_layers(self.conv_layers(z).flatten(1))


class PatchDiscriminator(nn.Module):
    """The official optional PatchGAN: 4 stride-2/1 convs with batch norm, a 1-channel conv, sigmoid, averaged over
    patches; keys ``layers.<i>``. Returns (N,) probabilities of "real"."""

    def __init__(self, input_nc: int = 3, init_fm: int = 32, max_fm: int = 512, n_patch_dis_layers: int = 3) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(input_nc, init_fm, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        c_in, c_out = init_fm, min(2 * init_fm, max_fm)
        for n in range(n_patch_dis_layers):
            last = n == n_patch_dis_layers - 1
            layers += [nn.Conv2d(c_in, c_out, 4, 1 if last else 2, 1), nn.BatchNorm2d(c_out), nn.LeakyReLU(0.2, True)]
            if not last:
                c_in, c_out = c_out, min(2 * c_out, max_fm)
        layers += [nn.Conv2d(c_out, 1, 4, 1, 1), nn.Sigmoid()]
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x).flatten(1).mean(1)


class AttributeClassifier(nn.Module):
    """The official ``Classifier`` (the evaluation classifier ``--eval_clf`` and the optional classifier
    discriminator): ``log2(image_size)`` encoder-style convs down to 1x1 and the 2-layer MLP; keys ``conv_layers.*``
    / ``proj_layers.*``. Images must be ``image_size`` square."""

    def __init__(
        self,
        input_nc: int = 3,
        n_attr: int = 4,
        image_size: int = 256,
        init_fm: int = 32,
        max_fm: int = 512,
        hid_dim: int = 512,
    ) -> None:
        super().__init__()
        n_layers = int(math.log2(image_size))
        enc, _ = _conv_stack(image_size, input_nc, init_fm, max_fm, n_layers, n_attr, 0, "convtranspose", False, 0, 0)
        self.conv_out_fm = min(init_fm * 2 ** (n_layers - 1), max_fm)
        self.conv_layers = nn.Sequential(*enc)
        self.proj_layers = nn.Sequential(
            nn.Linear(self.conv_out_fm, hid_dim), nn.LeakyReLU(0.2, inplace=True), nn.Linear(hid_dim, n_attr)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj_layers(self.conv_layers(x).flatten(1))


class _Slider(nn.Module):
    """The autoencoder with the fader values as input: what inference and export run. ``target`` is (N, K) slider
    values α (binary attributes: y = (1 - α, α) per attribute) or (N,) a category index (``labels="domain"``)."""

    def __init__(self, ae: FaderAutoEncoder, n_attributes: int, n_categories: int, index: bool) -> None:
        super().__init__()
        self.ae, self.n_attributes, self.n_categories, self.index = ae, n_attributes, n_categories, index

    def forward(self, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if self.index:
            y = F.one_hot(target.long().reshape(-1), self.n_categories).to(x.dtype)
        else:
            a = target.to(x.dtype).reshape(-1, self.n_attributes)
            y = torch.stack([1 - a, a], dim=2).flatten(1)  # (N, 2K): (1 - α_k, α_k) per attribute
        return self.ae(x, y.expand(x.shape[0], -1))


# ----------------------------------------------------------------------------------------------- the model
class FaderNetworks(TranslationGAN):
    """Fader Networks (Lample et al. 2017): an attribute-invariant latent and a decoder driven by attribute faders.

    Args:
        input_nc: image channels (official ``--img_fm`` 3).
        n_domains: number of attributes (``labels="attributes"``: binary attributes, 2 one-hot columns each;
            official default ``Smiling,Male`` = 2) or of categories of the one attribute (``labels="domain"``).
        labels: ``attributes`` (batches ``"attrs"`` (N, K) in {0, 1}, CelebA files) or ``domain`` (batches
            ``"domain"`` (N,), folder per domain: one categorical attribute).
        image_size: training image side (official ``--img_sz`` 256); the latent discriminator depends on it.
        init_fm / max_fm: filters of the first layer / cap (official 32 / 512).
        n_layers: encoder/decoder layers (official 6: a 4x4 latent at 256 px).
        n_skip: encoder-decoder skip connections (official 0).
        deconv_method: ``convtranspose`` (official default), ``upsampling`` or ``pixelshuffle``.
        instance_norm: instance instead of batch norm in the autoencoder (official False).
        hid_dim: hidden width of the latent discriminator / classifier MLP (official 512).
        dec_dropout: dropout in the decoder's last three layers (official 0).
        lat_dis_dropout: dropout in the latent discriminator (official 0.3).
        n_lat_dis / n_ptc_dis / n_clf_dis: steps of each discriminator per autoencoder step (official 1 / 0 / 0);
            a network with 0 steps is not built.
        smooth_label: label smoothing of the patch discriminator (official 0.2).
        lambda_ae: weight of the reconstruction MSE (official 1).
        lambda_lat_dis: λ_E, the latent discriminator's weight in the encoder loss at the end of the schedule
            (official 1e-4).
        lambda_ptc_dis / lambda_clf_dis: the optional discriminators' weights (official 0).
        lambda_schedule: iterations over which every λ grows linearly from 0 (official 500,000; 0: constant).
        clip_grad_norm: gradient-norm clip of every network's step (official 5; 0: off).
        lr / beta1 / beta2: Adam for every network (official 2e-4, 0.5, 0.999).
        domain_names: attribute (or category) names in label order, saved with the model.
        eval_clf: a safe state-dict file of an :class:`AttributeClassifier` trained on the same attributes and image
            size (the official ``--eval_clf``, converted with :func:`convert_official`); validation then logs the
            swap accuracy. ``None``: reconstruction and latent-discriminator accuracy only.
        **kwargs: options of :class:`TranslationGAN` (``optimizer``, ``lr_scheduler``, ``fused``).
    """

    batch_kind = "multidomain"
    tiny_config = {
        "input_nc": 1,
        "n_domains": 3,
        "labels": "domain",
        "image_size": 32,
        "init_fm": 4,
        "max_fm": 16,
        "n_layers": 3,
        "hid_dim": 16,
    }

    official_names = ("fader", "fadernetworks", "fader_networks")
    official_networks = {"ae": "ae", "lat_dis": "lat_dis", "ptc_dis": "ptc_dis", "clf_dis": "clf_dis"}
    official_file_pattern = "{epoch}_{name}.pth"  # train.py's save_model: best_rec_ae.pth, periodic-5_lat_dis.pth

    def __init__(
        self,
        input_nc: int = 3,
        n_domains: int = 2,
        labels: Literal["attributes", "domain"] = "attributes",
        image_size: int = 256,
        init_fm: int = 32,
        max_fm: int = 512,
        n_layers: int = 6,
        n_skip: int = 0,
        deconv_method: Literal["convtranspose", "upsampling", "pixelshuffle"] = "convtranspose",
        instance_norm: bool = False,
        hid_dim: int = 512,
        dec_dropout: float = 0.0,
        lat_dis_dropout: float = 0.3,
        n_lat_dis: int = 1,
        n_ptc_dis: int = 0,
        n_clf_dis: int = 0,
        smooth_label: float = 0.2,
        lambda_ae: float = 1.0,
        lambda_lat_dis: float = 1e-4,
        lambda_ptc_dis: float = 0.0,
        lambda_clf_dis: float = 0.0,
        lambda_schedule: int = 500_000,
        clip_grad_norm: float = 5.0,
        lr: float = 2e-4,
        beta1: float = 0.5,
        beta2: float = 0.999,
        domain_names: list[str] | None = None,
        eval_clf: str | None = None,
        lr_policy: Literal["linear", "step", "cosine", "constant"] = "constant",
        **kwargs: Any,
    ) -> None:
        super().__init__(lr=lr, beta1=beta1, beta2=beta2, lr_policy=lr_policy, **kwargs)
        if labels not in ("attributes", "domain"):
            raise ValueError(f"labels must be 'attributes' or 'domain', got {labels!r}")
        if labels == "domain" and n_domains < 2:
            raise ValueError("labels='domain' needs n_domains >= 2 (the categories of the attribute)")
        if n_domains < 1:
            raise ValueError(f"n_domains must be >= 1, got {n_domains}")
        if domain_names is not None and len(domain_names) != n_domains:
            raise ValueError(f"domain_names has {len(domain_names)} names for n_domains={n_domains}")
        for name, weight, steps in (
            ("lat_dis", lambda_lat_dis, n_lat_dis),
            ("ptc_dis", lambda_ptc_dis, n_ptc_dis),
            ("clf_dis", lambda_clf_dis, n_clf_dis),
        ):
            if steps < 0:
                raise ValueError(f"n_{name} must be >= 0, got {steps}")
            if weight and not steps:  # the official train.py asserts the same
                raise ValueError(f"lambda_{name}={weight} needs n_{name} >= 1 (the discriminator must be trained)")
        if not 0 <= smooth_label < 0.5:
            raise ValueError(f"smooth_label must be in [0, 0.5), got {smooth_label}")
        if not 0 <= lat_dis_dropout < 1 or not 0 <= dec_dropout < 1:
            raise ValueError("dropouts must be in [0, 1)")
        self.n_attr = 2 * n_domains if labels == "attributes" else n_domains  # one-hot length (official n_attr)
        arch = {"init_fm": init_fm, "max_fm": max_fm, "image_size": image_size}
        self.ae = FaderAutoEncoder(
            input_nc, self.n_attr, n_layers=n_layers, n_skip=n_skip, deconv_method=deconv_method,
            instance_norm=instance_norm, dec_dropout=dec_dropout, **arch,
        )  # fmt: skip
        # As the official train.py: a discriminator with no training steps is not built (None).
        self.lat_dis = (
            LatentDiscriminator(input_nc, self.n_attr, n_layers=n_layers, n_skip=n_skip, hid_dim=hid_dim,
                                dropout=lat_dis_dropout, **arch)
            if n_lat_dis else None
        )  # fmt: skip
        self.ptc_dis = PatchDiscriminator(input_nc, init_fm, max_fm) if n_ptc_dis else None
        self.clf_dis = AttributeClassifier(input_nc, self.n_attr, hid_dim=hid_dim, **arch) if n_clf_dis else None
        self._eval_classifier: AttributeClassifier | None = None
        # Official initialisation: PyTorch's defaults (src/model.py initialises nothing).

    # ------------------------------------------------------------------------------------------- players
    def param_groups(self) -> dict[str, list[nn.Module]]:
        groups = {"ae": [self.ae]}
        for name in ("lat_dis", "ptc_dis", "clf_dis"):
            if getattr(self, name) is not None:
                groups[name] = [getattr(self, name)]
        return groups

    def configure_optimizers(self):
        optimizers, schedulers = super().configure_optimizers()
        if self.hparams.clip_grad_norm:
            # The official clip (utils.clip_grad_norm: scale by max_norm / (norm + 1e-6) when that is < 1, which is
            # what clip_grad_norm_ does) runs between backward and step: a pre-step hook on each network's
            # optimiser, so the shared _step stays the one zero_grad/backward/step.
            for opt in optimizers:
                opt.register_step_pre_hook(self._clip_hook)
        return optimizers, schedulers

    def _clip_hook(self, optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
        grads = [p for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
        if grads:
            torch.nn.utils.clip_grad_norm_(grads, self.hparams.clip_grad_norm)

    def lambda_factor(self, iteration: int) -> float:
        """The official ``get_lambda`` factor after ``iteration`` finished autoencoder steps: min(it, s) / s."""
        s = self.hparams.lambda_schedule
        return 1.0 if s == 0 else min(iteration, s) / s

    # ----------------------------------------------------------------------------------------- labels
    @property
    def categories(self) -> list[int]:
        """Categories per attribute: [2] * K binary attributes, or [n_domains] for one categorical attribute."""
        n = self.hparams.n_domains
        return [2] * n if self.hparams.labels == "attributes" else [n]

    def batch_categories(self, batch: dict[str, Any]) -> torch.Tensor:
        """(N, n_attributes) int64: the category of every attribute of every image."""
        key = "attrs" if self.hparams.labels == "attributes" else "domain"
        if key not in batch:
            other = "domain" if key == "attrs" else "attrs"
            raise KeyError(
                f"FaderNetworks(labels={self.hparams.labels!r}) reads batch[{key!r}], but the batch has {other!r}: "
                f"set labels={'domain' if key == 'attrs' else 'attributes'!r} to match the data module's layout"
            )
        value = batch[key]
        return value.round().long() if key == "attrs" else value.long().reshape(-1, 1)

    def one_hot(self, cats: torch.Tensor) -> torch.Tensor:
        """(N, A) categories -> y (N, n_attr): the concatenated one-hot blocks (official attribute layout)."""
        return torch.cat([F.one_hot(cats[:, j], n) for j, n in enumerate(self.categories)], 1).float()

    def attr_loss(self, logits: torch.Tensor, cats: torch.Tensor) -> torch.Tensor:
        """Σ over attributes of the softmax cross-entropy of each attribute's logit block (official
        ``get_attr_loss``; −log p(y | ·) of L_dis)."""
        loss, k = logits.new_zeros(()), 0
        for j, n in enumerate(self.categories):
            loss = loss + F.cross_entropy(logits[:, k : k + n], cats[:, j])
            k += n
        return loss

    def other_categories(self, cats: torch.Tensor) -> torch.Tensor:
        """1 − y of the adversarial objective: for every attribute a uniformly drawn *different* category (binary:
        the flipped value), as ``get_attr_loss(..., flip=True)``."""
        n = torch.tensor(self.categories, device=cats.device)
        shift = (torch.rand(cats.shape, device=cats.device) * (n - 1)).long() + 1
        return (cats + shift) % n

    def random_categories(self, cats: torch.Tensor) -> torch.Tensor:
        """Uniformly drawn categories for every attribute (official ``flip_attributes(..., 'all')``)."""
        n = torch.tensor(self.categories, device=cats.device)
        return (torch.rand(cats.shape, device=cats.device) * n).long()

    def slider_vector(self, alpha: torch.Tensor) -> torch.Tensor:
        """Fader values α (N, K) -> y (N, 2K): (1 − α_k, α_k) per binary attribute (official ``interpolate.py``)."""
        return torch.stack([1 - alpha, alpha], dim=2).flatten(1)

    # -------------------------------------------------------------------------------------- training
    # Autoencoder steps done (the official params.n_total_iter that drives the λ schedule); kept in checkpoints.
    ae_iteration: int = 0

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        hp = self.hparams
        x = batch["image"]  # (N, C, H, W)
        cats = self.batch_categories(batch)  # (N, A)
        y = self.one_hot(cats)  # (N, n_attr)
        opts = dict(zip(self.param_groups(), self.optimizers()))
        lam = self.lambda_factor(self.ae_iteration)

        # 1. Latent discriminator: minimise L_dis on z = E(x); the autoencoder in eval mode, z without gradient.
        for _ in range(hp.n_lat_dis):
            self.ae.eval()
            self.lat_dis.train()
            with torch.no_grad():
                z = self.ae.encode(x)[-1 - hp.n_skip]
            with self.toggled_optimizer(opts["lat_dis"]):
                self._step(opts["lat_dis"], {"lat_dis": self.attr_loss(self.lat_dis(z), cats)})

        # 2. Optional patch discriminator: real x against D(E(x), random y), smoothed labels.
        for _ in range(hp.n_ptc_dis):
            self.ae.eval()
            self.ptc_dis.train()
            with torch.no_grad():
                fake = self.ae(x, self.one_hot(self.random_categories(cats)))
            with self.toggled_optimizer(opts["ptc_dis"]):
                real_p, fake_p = self.ptc_dis(x), self.ptc_dis(fake)
                self._step(
                    opts["ptc_dis"],
                    {
                        "ptc_dis_real": F.binary_cross_entropy(real_p, torch.full_like(real_p, 1 - hp.smooth_label)),
                        "ptc_dis_fake": F.binary_cross_entropy(fake_p, torch.full_like(fake_p, hp.smooth_label)),
                    },
                )

        # 3. Optional classifier discriminator: predicts the attributes of real images.
        for _ in range(hp.n_clf_dis):
            self.clf_dis.train()
            with self.toggled_optimizer(opts["clf_dis"]):
                self._step(opts["clf_dis"], {"clf_dis": self.attr_loss(self.clf_dis(x), cats)})

        # 4. Autoencoder: L(θ_enc, θ_dec | θ_dis) with the scheduled λ; the discriminators in eval mode.
        self.ae.train()
        for name in ("lat_dis", "ptc_dis", "clf_dis"):
            if getattr(self, name) is not None:
                getattr(self, name).eval()
        with self.toggled_optimizer(opts["ae"]):
            enc = self.ae.encode(x)
            x_rec = self.ae.decode(enc, y)[-1]
            losses = {"ae_rec": hp.lambda_ae * F.mse_loss(x_rec, x)}  # ‖D(E(x), y) − x‖², mean over pixels
            if hp.lambda_lat_dis:
                # −λ_E log p_θdis(1 − y | E(x)): the encoder pushes P towards the other attribute values.
                logits = self.lat_dis(enc[-1 - hp.n_skip])
                losses["ae_lat_dis"] = hp.lambda_lat_dis * lam * self.attr_loss(logits, self.other_categories(cats))
            if hp.lambda_ptc_dis or hp.lambda_clf_dis:
                flipped = self.random_categories(cats)
                x_flip = self.ae.decode(enc, self.one_hot(flipped))[-1]
                if hp.lambda_ptc_dis:
                    p = self.ptc_dis(x_flip)
                    losses["ae_ptc_dis"] = (
                        hp.lambda_ptc_dis * lam * F.binary_cross_entropy(p, torch.full_like(p, 1 - hp.smooth_label))
                    )
                if hp.lambda_clf_dis:
                    losses["ae_clf_dis"] = hp.lambda_clf_dis * lam * self.attr_loss(self.clf_dis(x_flip), flipped)
            self._step(opts["ae"], losses)
        self.ae_iteration += 1
        self.log("train/lambda_lat_dis", hp.lambda_lat_dis * lam, on_step=True, on_epoch=False)

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        super().on_save_checkpoint(checkpoint)
        checkpoint["fader_ae_iteration"] = self.ae_iteration

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        super().on_load_checkpoint(checkpoint)
        self.ae_iteration = int(checkpoint.get("fader_ae_iteration", 0))

    # ------------------------------------------------------------------------------------- inference
    def inference_conditions(self) -> dict[str, Condition]:
        n = self.hparams.n_domains
        if self.hparams.labels == "domain":
            return {"target": Condition("index", "the target category of the attribute", default=0, dim=n)}
        return {
            "target": Condition(
                "vector",
                "fader value per attribute: 0 off, 1 on, beyond [0, 1] exaggerated (the paper's sliders, e.g. -1..2)",
                dim=n,
            )
        }

    def _attribute_vector(self, x: torch.Tensor, target: Any) -> torch.Tensor:
        n = self.hparams.n_domains
        if self.hparams.labels == "domain":
            index = torch.as_tensor(0 if target is None else target, device=x.device).long().reshape(-1)
            return F.one_hot(index.expand(x.shape[0]), n).to(x.dtype)
        if target is None:
            alpha = x.new_zeros(x.shape[0], n)
        else:
            alpha = torch.as_tensor(target, device=x.device, dtype=x.dtype).reshape(-1, n).expand(x.shape[0], -1)
        return self.slider_vector(alpha)

    def forward(self, x: torch.Tensor, target: int | torch.Tensor | None = None) -> torch.Tensor:
        """D(E(x), y) for ``target``: fader values α (N, K) or (K,) of the binary attributes (y = (1 − α, α) each;
        default all 0), or a category index (``labels="domain"``; default 0)."""
        return self.ae(x, self._attribute_vector(x, target))

    def inference_spec(self, **conditions: Any) -> InferenceSpec:
        self.check_conditions(conditions)
        index = self.hparams.labels == "domain"
        example = torch.zeros(1, dtype=torch.long) if index else torch.zeros(1, self.hparams.n_domains)
        module = _Slider(self.ae, len(self.categories), self.hparams.n_domains, index)
        return InferenceSpec(module, int(self.hparams.input_nc), self.ae.size_multiple, {"target": example})

    @staticmethod
    def official_alphas(alpha_min: float, alpha_max: float, n: int) -> list[float]:
        """The fader values of the official ``interpolate.py``: ``n`` evenly spaced from 1 − alpha_min to alpha_max
        (``alpha_min = alpha_max = 2``: −1 .. 2, the README's setting for ``male``; 10 for ``young``)."""
        return torch.linspace(1 - alpha_min, alpha_max, n).tolist()

    @torch.no_grad()
    def slide(
        self, x: torch.Tensor, alphas: list[float], attribute: int = 0, target: torch.Tensor | None = None
    ) -> list[torch.Tensor]:
        """x decoded once per fader value of ``attribute`` (the others from ``target``, default 0): the paper's
        interpolation figures. The latent is computed once."""
        if self.hparams.labels != "attributes":
            raise ValueError("slide() moves a binary attribute's fader: it needs labels='attributes'")
        n = self.hparams.n_domains
        base = (
            x.new_zeros(x.shape[0], n)
            if target is None
            else torch.as_tensor(target, dtype=x.dtype).expand(x.shape[0], n)
        )
        enc = self.ae.encode(x)
        out = []
        for a in alphas:
            alpha = base.clone()
            alpha[:, attribute] = a
            out.append(self.ae.decode(enc, self.slider_vector(alpha))[-1])
        return out

    @torch.no_grad()
    def visuals(self, batch: dict[str, Any]) -> list[list[torch.Tensor]]:
        x = batch["image"]
        cats = self.batch_categories(batch)
        row = [x, self.ae(x, self.one_hot(cats))]  # input, reconstruction
        for j, n in enumerate(self.categories):  # each attribute set to each category (binary: flipped both ways)
            for c in range(n):
                edited = cats.clone()
                edited[:, j] = c
                row.append(self.ae(x, self.one_hot(edited)))
        return [row]

    # ------------------------------------------------------------------------------------- evaluation
    @torch.no_grad()
    def swap_accuracy(self, x: torch.Tensor, cats: torch.Tensor, classifier: nn.Module) -> torch.Tensor:
        """The official ``eval_clf_accuracy``: for every attribute j and category c, set attribute j of every image
        to c, decode, and score whether ``classifier`` (logit blocks in this model's attribute layout) predicts c.
        Returns (n_attr,) accuracies, one per (attribute, category)."""
        enc = self.ae.encode(x)
        accs, k = [], 0
        for j, n in enumerate(self.categories):
            for c in range(n):
                edited = cats.clone()
                edited[:, j] = c
                pred = classifier(self.ae.decode(enc, self.one_hot(edited))[-1])[:, k : k + n].argmax(1)
                accs.append((pred == c).float().mean())
            k += n
        return torch.stack(accs)

    def eval_classifier(self) -> AttributeClassifier | None:
        """The evaluation classifier of ``eval_clf`` (read with ``weights_only=True``), or None."""
        path = self.hparams.eval_clf
        if path is None:
            return None
        if self._eval_classifier is None:
            sd = torch.load(Path(path).expanduser(), map_location="cpu", weights_only=True)
            if isinstance(sd, dict) and "state_dict" in sd:
                sd = sd["state_dict"]
            clf = AttributeClassifier(
                self.hparams.input_nc, self.n_attr, self.hparams.image_size, self.hparams.init_fm,
                self.hparams.max_fm, self.hparams.hid_dim,
            )  # fmt: skip
            clf.load_state_dict(sd)
            self._eval_classifier = clf.eval().to(self.device)
        return self._eval_classifier

    def eval_step(self, batch: dict[str, Any], stage: str) -> None:
        # The official Evaluator: reconstruction MSE, latent-discriminator accuracy, classifier swap accuracy.
        x, cats = batch["image"], self.batch_categories(batch)
        n = x.shape[0]
        enc = self.ae.encode(x)
        mse = F.mse_loss(self.ae.decode(enc, self.one_hot(cats))[-1], x)
        self.log(f"{stage}/ae_loss", mse, prog_bar=True, batch_size=n, sync_dist=True)
        if self.lat_dis is not None:
            logits, k, correct = self.lat_dis(enc[-1 - self.hparams.n_skip]), 0, []
            for j, c in enumerate(self.categories):
                correct.append((logits[:, k : k + c].argmax(1) == cats[:, j]).float().mean())
                k += c
            self.log(f"{stage}/lat_dis_accu", torch.stack(correct).mean(), batch_size=n, sync_dist=True)
        clf = self.eval_classifier()
        if clf is not None:
            self.log(f"{stage}/clf_accu", self.swap_accuracy(x, cats, clf).mean(), batch_size=n, sync_dist=True)

    # -------------------------------------------------------------------------------- official weights
    @classmethod
    def official_options(cls, state: dict[str, dict[str, torch.Tensor]], hparams: dict[str, Any]) -> dict[str, Any]:
        """Architecture read back from the official keys: channels, n_layers, init_fm, n_attr, norm, deconv method,
        and from the latent discriminator the image size and hid_dim."""
        from ..hub import Evidence, OfficialWeightsError, merge_evidence

        evidence: dict[str, Evidence] = {}
        labels = hparams.get("labels", "attributes")
        n_layers = None
        if "ae" in state:
            sd, ev = state["ae"], Evidence()
            if "enc_layers.0.0.weight" not in sd:
                raise OfficialWeightsError("ae: not a Fader Networks autoencoder (no enc_layers.0.0.weight)")
            first = sd["enc_layers.0.0.weight"]  # (init_fm, img_fm, 4, 4)
            n_layers = len({k.split(".")[1] for k in sd if k.startswith("enc_layers.")})
            ev.add("input_nc", first.shape[1], f"enc_layers.0.0.weight takes {first.shape[1]} channels")
            ev.add("init_fm", first.shape[0], f"enc_layers.0.0.weight has {first.shape[0]} filters")
            ev.add("n_layers", n_layers, f"{n_layers} encoder layers")
            top = sd[f"enc_layers.{n_layers - 1}.0.weight"].shape[0]
            if top < first.shape[0] * 2 ** (n_layers - 1):
                ev.add("max_fm", top, f"the encoder stops doubling at {top} filters")
            ev.add("instance_norm", "enc_layers.1.1.running_mean" not in sd, "norm without/with running statistics")
            d0 = sd["dec_layers.0.0.weight"]
            if d0.shape[-1] == 4:
                method, d_in = "convtranspose", d0.shape[0]
            elif "dec_layers.0.1.weight" in sd:  # nearest up-sampling, then a 3x3 conv
                method, d_in = "upsampling", sd["dec_layers.0.1.weight"].shape[1]
            else:
                method, d_in = "pixelshuffle", d0.shape[1]
            ev.add("deconv_method", method, "the first decoder layer's convolution")
            n_attr = d_in - top
            ev.add("n_domains", n_attr // 2 if labels == "attributes" else n_attr, f"the decoder reads {n_attr} labels")
            skips = 0
            for i in range(1, n_layers):
                w = sd.get(f"dec_layers.{i}.0.weight", sd.get(f"dec_layers.{i}.1.weight"))
                c_in = w.shape[0] if method == "convtranspose" else w.shape[1]
                enc_fm = sd[f"enc_layers.{n_layers - 1 - i}.0.weight"].shape[0]
                skips += c_in == 2 * enc_fm + n_attr
            ev.add("n_skip", skips, f"{skips} decoder layers also read encoder maps")
            evidence["ae"] = ev
        if "lat_dis" in state:
            sd, ev = state["lat_dis"], Evidence()
            if "proj_layers.2.weight" not in sd:
                raise OfficialWeightsError("lat_dis: not a Fader Networks latent discriminator (no proj_layers)")
            n_conv = len({k.split(".")[1] for k in sd if k.startswith("conv_layers.")})
            ev.add("hid_dim", sd["proj_layers.0.weight"].shape[0], "proj_layers.0's width")
            n_attr = sd["proj_layers.2.weight"].shape[0]
            ev.add("n_domains", n_attr // 2 if labels == "attributes" else n_attr, f"{n_attr} logits")
            n_enc = n_layers if n_layers is not None else hparams.get("n_layers", 6)
            skip = evidence.get("ae", {}).get("n_skip", (hparams.get("n_skip", 0),))[0]
            ev.add("image_size", 2 ** (n_conv + n_enc - skip), f"{n_conv} convs after the encoder's {n_enc - skip}")
            evidence["lat_dis"] = ev
        options = merge_evidence(evidence, hparams)
        if "ptc_dis" in state and not hparams.get("n_ptc_dis"):
            options["n_ptc_dis"] = 1
        if "clf_dis" in state and not hparams.get("n_clf_dis"):
            options["n_clf_dis"] = 1
        if "lat_dis" not in state and "image_size" not in hparams:
            options["image_size"] = 256  # the AE alone works at any size; build P for the official 256
        return options


# ------------------------------------------------------------------------------------ pickled official files
class PickledModuleError(RuntimeError):
    """An official Fader Networks file that is a pickled whole module and was not trusted explicitly."""


class _OfficialModuleStandIn(nn.Module):
    """What the official network classes (``src.model.AutoEncoder`` ...) unpickle into: a plain container of the
    pickled layers and attributes. None of the official code is needed or run; only the state dict is used."""

    def forward(self, *args: Any) -> None:  # pragma: no cover - never called
        raise RuntimeError("a stand-in for a pickled official module: use its state_dict()")


_OFFICIAL_CLASSES = {"AutoEncoder", "LatentDiscriminator", "PatchDiscriminator", "Classifier"}


def _no_backend(*args: Any) -> None:
    """PyTorch 0.3 modules pickled their THNN backend getter; it no longer exists and is not needed."""
    return None


class _RestrictedUnpickler(pickle.Unpickler):
    """Unpickles the official saves with an allow-list: torch layers, tensor/storage rebuilders, OrderedDict and
    plain containers; the official classes map to :class:`_OfficialModuleStandIn`. Anything else is refused."""

    def find_class(self, module: str, name: str) -> Any:
        if module.split(".")[-1] == "model" and name in _OFFICIAL_CLASSES:  # src.model.<Class>
            return _OfficialModuleStandIn
        if module == "torch.nn.backends.thnn" and name == "_get_thnn_function_backend":
            return _no_backend
        if module == "collections" and name == "OrderedDict":
            return super().find_class(module, name)
        if module in ("builtins", "__builtin__") and name in ("set", "frozenset", "slice", "tuple", "list", "dict"):
            return super().find_class(module, name)
        if module == "torch._utils" and name.startswith("_rebuild_"):
            return super().find_class(module, name)
        if module == "torch" and (name.endswith("Storage") or name in ("Size", "device", "float32", "int64")):
            return super().find_class(module, name)
        if module in ("torch.storage", "torch.serialization") and name in ("_load_from_bytes", "UntypedStorage"):
            return super().find_class(module, name)
        if module.startswith("torch.nn.modules."):
            obj = super().find_class(module, name)
            if isinstance(obj, type) and issubclass(obj, nn.Module):
                return obj
        raise pickle.UnpicklingError(f"refusing to unpickle {module}.{name}: not a torch layer or an official network")


class _RestrictedPickleModule:
    Unpickler = _RestrictedUnpickler

    @staticmethod
    def load(file: Any, **kwargs: Any) -> Any:
        return _RestrictedUnpickler(file, **kwargs).load()


_ARCH_ATTRIBUTES = ("img_sz", "img_fm", "init_fm", "max_fm", "n_layers", "n_skip", "deconv_method", "instance_norm",
                    "hid_dim", "attr", "n_attr")  # fmt: skip


def read_official(
    source: str | os.PathLike | bytes, *, trust_pickled_code: bool = False
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """One official network file -> (state dict, architecture attributes found in it).

    A plain state dict (e.g. written by :func:`convert_official`) is read with ``weights_only=True``. A pickled whole
    module (every released official file) is refused unless ``trust_pickled_code=True``.

    Raises:
        PickledModuleError: the file is a pickled module and ``trust_pickled_code`` is False.
        pickle.UnpicklingError: a trusted file that names something besides torch layers and the official networks.
    """
    where = "<bytes>" if isinstance(source, bytes) else str(source)

    def stream() -> Any:
        return io.BytesIO(source) if isinstance(source, bytes) else Path(source).expanduser()

    try:
        obj = torch.load(stream(), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        if not trust_pickled_code:
            raise PickledModuleError(
                f"{where} is a pickled whole module (the official Fader Networks files are saved with "
                "torch.save(model)): loading it would run code named in the file, so it is refused. Only if you "
                "trust where it came from, pass trust_pickled_code=True (it is unpickled with an allow-list of "
                "torch layers and converted to a state dict), or convert it once with "
                "translation_zoo.models.fader.convert_official(path, out, trust_pickled_code=True) and load the safe "
                f"file from then on. ({type(e).__name__}: {str(e).splitlines()[0]})"
            ) from None
        obj = torch.load(stream(), map_location="cpu", weights_only=False, pickle_module=_RestrictedPickleModule)
        if not isinstance(obj, nn.Module):
            raise PickledModuleError(f"{where}: expected a pickled network, got {type(obj).__name__}") from None
        arch = {k: getattr(obj, k) for k in _ARCH_ATTRIBUTES if k in obj.__dict__}
        return {k: v.detach().clone() for k, v in obj.state_dict().items()}, arch
    if isinstance(obj, dict) and "state_dict" in obj and "fader_arch" in obj:  # convert_official's file
        return dict(obj["state_dict"]), dict(obj["fader_arch"])
    if not isinstance(obj, dict):
        raise PickledModuleError(f"{where}: expected a state dict, got {type(obj).__name__}")
    return dict(obj), {}


def _arch_options(arch: dict[str, Any]) -> dict[str, Any]:
    """Our constructor options from the official networks' attributes (what a pickled module records)."""
    out: dict[str, Any] = {}
    names = {"img_sz": "image_size", "img_fm": "input_nc", "init_fm": "init_fm", "max_fm": "max_fm",
             "n_layers": "n_layers", "n_skip": "n_skip", "deconv_method": "deconv_method",
             "instance_norm": "instance_norm", "hid_dim": "hid_dim"}  # fmt: skip
    for k, ours in names.items():
        if k in arch:
            out[ours] = arch[k]
    if "attr" in arch:
        attr = [(str(name), int(n)) for name, n in arch["attr"]]
        if all(n == 2 for _, n in attr):
            out.update(labels="attributes", n_domains=len(attr), domain_names=[name for name, _ in attr])
        elif len(attr) == 1:
            out.update(labels="domain", n_domains=attr[0][1])
        else:
            raise PickledModuleError(f"attributes {attr}: several categorical attributes are not supported here")
    return out


def convert_official(
    source: str | os.PathLike, out: str | os.PathLike, *, trust_pickled_code: bool = False
) -> dict[str, torch.Tensor]:
    """Convert one official file (a pickled module) into a safe file of tensors and plain values (readable with
    ``weights_only=True``): ``{"state_dict": ..., "fader_arch": {...}}``. Returns the state dict.

    Raises:
        PickledModuleError: unless ``trust_pickled_code=True`` (see :func:`read_official`).
    """
    sd, arch = read_official(source, trust_pickled_code=trust_pickled_code)
    plain = {k: (list(map(list, v)) if k == "attr" else v) for k, v in arch.items()}
    torch.save({"state_dict": sd, "fader_arch": plain}, Path(out).expanduser())
    return sd


def load_official(
    ae: str | os.PathLike | bytes | None = None,
    lat_dis: str | os.PathLike | bytes | None = None,
    *,
    trust_pickled_code: bool = False,
    **options: Any,
) -> FaderNetworks:
    """A :class:`FaderNetworks` from official files (the released ``male.pth`` ... are autoencoders).

    Args:
        ae / lat_dis: official files: pickled modules (refused unless ``trust_pickled_code``), files written by
            :func:`convert_official`, or plain state dicts.
        trust_pickled_code: allow unpickling pickled whole modules (restricted to torch layers; still only for files
            whose source you trust).
        **options: constructor options; those the files imply are read from them.

    Raises:
        PickledModuleError: a pickled module without ``trust_pickled_code=True``.
    """
    from ..hub import from_official

    weights: dict[str, Any] = {}
    implied: dict[str, Any] = {}
    for name, source in (("ae", ae), ("lat_dis", lat_dis)):
        if source is not None:
            sd, arch = read_official(source, trust_pickled_code=trust_pickled_code)
            weights[name] = sd
            implied.update(_arch_options(arch))
    if not weights:
        raise ValueError("give the official ae (and optionally lat_dis) file")
    return from_official("fader", **weights, **{**implied, **options})


FaderNetworks.from_official = staticmethod(load_official)  # type: ignore[attr-defined]


__all__ = [
    "OFFICIAL_ALPHAS",
    "OFFICIAL_URLS",
    "AttributeClassifier",
    "FaderAutoEncoder",
    "FaderNetworks",
    "LatentDiscriminator",
    "PatchDiscriminator",
    "PickledModuleError",
    "convert_official",
    "load_official",
    "read_official",
]
