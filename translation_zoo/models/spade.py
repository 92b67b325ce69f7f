"""SPADE / GauGAN: Semantic Image Synthesis with Spatially-Adaptive Normalization.

Park, Liu, Wang, Zhu. CVPR 2019. arXiv:1903.07291
Reference code: NVlabs/SPADE (``models/networks/{generator,architecture,normalization,discriminator,encoder,loss}.py``,
``models/pix2pix_model.py``, ``trainers/pix2pix_trainer.py``, ``options/*.py``), commit fecacc9.

Input (§3, official ``preprocess_input``): the label map one-hot in ``label_nc`` channels (+1 for the don't-care id
``label_nc`` with ``contain_dontcare_label``) and, unless ``no_instance``, the boundary map of the instance map
(a pixel is 1 where a 4-neighbour has another id, the official ``get_edges``): ``semantic_nc`` channels, the input
of every SPADE layer and, stacked with the image, of D.

Networks (the official defaults):

- G, ``SPADEGenerator`` (Fig. 4): a 3x3 conv of the label map down-sampled (nearest) to the input size / 2^n
  (``use_vae``: a linear layer of z ~ N(0, I), z_dim 256, to 16·ngf x sh x sw with sw = crop_size / 2^n,
  sh = sw / aspect_ratio), then SPADE residual blocks head_0 (16·ngf), G_middle_0, G_middle_1 (16·ngf), up_0..up_3
  (8, 4, 2, 1 ·ngf), each after a nearest 2x up-sampling (n = 5 up-samplings for ``num_upsampling_layers="normal"``;
  ``more`` adds one between the middle blocks, ``most`` also a last up_4 block at ngf/2), then leaky ReLU 0.2, a
  3x3 conv to RGB, tanh. ngf 64.
- SPADE residual block (Fig. 4 right): x_s + conv_1(lrelu(SPADE_1(conv_0(lrelu(SPADE_0(x)))))), with a learned
  shortcut conv_s(SPADE_s(x)) (1x1, no bias) when the width changes; the middle width is min(fin, fout); every conv
  spectral-normalised (``norm_G = "spectralspadesyncbatch3x3"``).
- SPADE (Eq. 1): γ(m) ⊙ BN(x) + ... in the official form ``BN(x) · (1 + γ) + β``, BN without affine parameters
  (``syncbatch``: synchronised across GPUs); γ, β from a shared 3x3 conv (nhidden 128) + ReLU of the label map
  resized (nearest) to x, then one 3x3 conv each.
- D: ``num_D`` = 2 PatchGANs on an image pyramid with intermediate features
  (:class:`~translation_zoo.nn.multiscale.MultiscaleDiscriminator`), ``n_layers_D`` = 4 (the official count: three
  stride-2 4x4 convs and one stride-1, then the 1-channel conv; the shared class's ``n_layers`` = 3), ndf 64; the
  inner convs spectral-normalised without bias and followed by instance norm (``norm_D = "spectralinstance"``),
  the first and last convs plain, as the official ``NLayerDiscriminator``.
- E (``use_vae``, §3.3 and appendix B), ``ConvEncoder``: the image resized to 256x256 (bilinear), six stride-2 3x3
  convs (ngf, 2, 4, 8, 8, 8 ·ngf; spectral norm + instance norm, ``norm_E``), leaky ReLU 0.2, two linear layers to
  μ and log σ² (256 each).

Init: the official ``init_weights`` with ``init_type="xavier"``, ``init_variance`` = 0.02: conv and linear weights
Xavier-normal with gain 0.02 (the spectral norm's ``weight_orig``), biases 0; batch norms have no parameters.

Objective (§3, appendix A): hinge loss (``gan_mode="hinge"``), D: E[relu(1 - D(s, x))] + E[relu(1 + D(s, G(s)))],
G: -E[D(s, G(s))], each averaged over the D scales; + λ_feat Σ_k Σ_i 1/num_D · L1(D_k^i(s, G(s)), D_k^i(s, x))
(pix2pixHD's feature matching, λ_feat = 10, no per-layer weight); + λ_vgg L_VGG (λ_vgg = 10); with ``use_vae`` +
λ_kld KL(N(μ, σ²) || N(0, I)) summed over the batch and the code (λ_kld = 0.05). D sees real and fake stacked in
one batch, as the official ``discriminate``. TTUR (Heusel et al. 2017): Adam with lr_G = lr/2 = 1e-4, lr_D = 2·lr =
4e-4, β = (0, 0.9) (the code's; the paper writes β2 = 0.999, the authors confirmed 0.9 in NVlabs/SPADE#50);
``no_TTUR``: both lr, β = (0.5, 0.999). ``niter`` = ``n_epochs`` = 50 epochs at the initial rate, ``niter_decay`` =
``n_epochs_decay`` = 0 epochs of linear decay (the code's defaults; the official update after epoch e > niter:
lr -= lr0/niter_decay). Batch 1 by default (the paper: 32 on 8 GPUs; see the recipes).

Parameter counts equal the official networks' (NVlabs/SPADE at fecacc9 imported side by side; pinned in
tests/test_spade.py): G COCO-Stuff (182 labels + don't-care + edges) 97,480,899 (with ``use_vae`` 112,626,883);
G ADE20K (150 + don't-care, no instances) 96,492,483 (VAE 111,942,595); G Cityscapes (35 + edges, 512x256,
``more``) 93,048,003; D COCO 5,904,514, D ADE20K 5,836,930, D Cityscapes 5,601,410; E (crop 256) 10,463,424.

Deviations:
- Sync batch norm: G's SPADE layers hold ``nn.BatchNorm2d`` (same keys and statistics as the official
  ``SynchronizedBatchNorm2d``); under DDP set the trainer's ``sync_batchnorm: true`` (Lightning converts them to
  ``nn.SyncBatchNorm``; the recipes do). On one device the two are the same.
- Each iteration computes the fake once: G's step uses it, D's step sees it detached. The official trainer runs G
  again (without gradients) for D's step, i.e. D sees the fake of the just-updated G (and, with ``use_vae``, a new z).
- Without ``use_vae`` G starts from the label map down-sampled to (H / 2^n, W / 2^n) of the given map, so any size
  that is a multiple of 2^n gives an output of that size; the official code uses (crop_size / 2^n,
  crop_size / aspect_ratio / 2^n) whatever the input: the same at the training size.
- E: the official encoder resizes to 256 and has six layers only when ``crop_size`` >= 256 (smaller crops fail
  at its linear layers); here crops below 256 resize to ``crop_size`` (a power of two) with log2(crop_size) - 2
  layers. The μ/σ layers have ``z_dim`` outputs (official: 256, its default z_dim).
- The official ``--no_ganFeat_loss`` D returns logits only; here D always returns its features (same weights).
- Not implemented: ``netG=pix2pixhd`` (the zoo's Pix2PixHD is that model), ``D_steps_per_G`` > 1, ``netD_subarch``
  other than ``n_layer``, ``gan_mode`` other than hinge/ls/original (use ``gan_mode`` hinge | lsgan | vanilla).
"""

from __future__ import annotations

import math
import re
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import spectral_norm

from ..losses import GANLoss
from ..losses.feature_matching import feature_matching_loss
from ..losses.perceptual import VGGLoss
from ..nn.conv import get_norm_layer
from ..nn.label_maps import get_edges, label_colors, label_ids, one_hot
from ..nn.multiscale import MultiscaleDiscriminator
from ..weights import Pretrained, WeightsFile
from .base import Condition, InferenceSpec, TranslationGAN

#: Trainable parameters of the official networks (NVlabs/SPADE fecacc9, imported side by side with a stand-in
#: SynchronizedBatchNorm2d); pinned in tests/test_spade.py.
OFFICIAL_PARAMS = {
    "G_coco": 97_480_899,
    "G_coco_vae": 112_626_883,
    "G_ade20k": 96_492_483,
    "G_ade20k_vae": 111_942_595,
    "G_cityscapes": 93_048_003,
    "D_coco": 5_904_514,
    "D_ade20k": 5_836_930,
    "D_cityscapes": 5_601_410,
    "E_256": 10_463_424,
}

UPSAMPLINGS = {"normal": 5, "more": 6, "most": 7}


# ----------------------------------------------------------------------------------------------- networks
def _parse_spade_norm(norm_G: str) -> tuple[bool, str, int]:
    """``"spectralspadesyncbatch3x3"`` -> (spectral, param-free norm, kernel size), as the official parser."""
    m = re.fullmatch(r"(spectral)?spade(\D+)(\d)x\d", norm_G)
    if m is None or m.group(2) not in ("syncbatch", "batch", "instance"):
        raise ValueError(
            f"norm_G must look like [spectral]spade(syncbatch|batch|instance)<k>x<k>, e.g. "
            f"'spectralspadesyncbatch3x3' (official default), got {norm_G!r}"
        )
    return m.group(1) is not None, m.group(2), int(m.group(3))


def _parse_plain_norm(norm: str, what: str) -> tuple[bool, str]:
    """``"spectralinstance"`` -> (spectral, sub-norm) for D and E (official ``get_nonspade_norm_layer``)."""
    spectral = norm.startswith("spectral")
    sub = norm[len("spectral") :] if spectral else norm
    sub = {"": "none", "sync_batch": "batch", "syncbatch": "batch"}.get(sub, sub)
    if sub not in ("none", "batch", "instance"):
        raise ValueError(f"{what} must be [spectral](instance|batch|sync_batch|none), got {norm!r}")
    return spectral, sub


def _norm_conv(conv: nn.Conv2d, norm: str, what: str) -> nn.Module:
    """The official ``get_nonspade_norm_layer(opt, norm)(conv)``: spectral norm, then (dropping the conv's bias) a
    norm, as ``Sequential(conv, norm)``; the conv alone without a sub-norm."""
    spectral, sub = _parse_plain_norm(norm, what)
    if sub != "none" and conv.bias is not None:
        conv.bias = None  # meaningless before a norm (official)
    if spectral:
        conv = spectral_norm(conv)
    if sub == "none":
        return conv
    return nn.Sequential(conv, get_norm_layer(sub)(conv.out_channels))


class SPADENorm(nn.Module):
    """SPADE, the spatially-adaptive denormalisation, Eq. (1): ``norm(x) · (1 + γ(m)) + β(m)``.

    Args:
        norm_nc: channels of x.
        label_nc: channels of the semantic map m (``semantic_nc``).
        param_free: ``syncbatch`` / ``batch`` (``nn.BatchNorm2d`` without affine parameters; converted to
            ``nn.SyncBatchNorm`` by Lightning's ``sync_batchnorm``) or ``instance``.
        ks: kernel size of the three convs (official 3).
        nhidden: width of the shared embedding (official 128, hard-coded there).
    """

    def __init__(self, norm_nc: int, label_nc: int, param_free: str = "syncbatch", ks: int = 3, nhidden: int = 128):
        super().__init__()
        if param_free == "instance":
            self.param_free_norm: nn.Module = nn.InstanceNorm2d(norm_nc, affine=False)
        else:
            self.param_free_norm = nn.BatchNorm2d(norm_nc, affine=False)
        pw = ks // 2
        self.mlp_shared = nn.Sequential(nn.Conv2d(label_nc, nhidden, ks, padding=pw), nn.ReLU())
        self.mlp_gamma = nn.Conv2d(nhidden, norm_nc, ks, padding=pw)
        self.mlp_beta = nn.Conv2d(nhidden, norm_nc, ks, padding=pw)

    def forward(self, x: torch.Tensor, segmap: torch.Tensor) -> torch.Tensor:
        normalized = self.param_free_norm(x)
        segmap = F.interpolate(segmap, size=x.shape[2:], mode="nearest")
        actv = self.mlp_shared(segmap)
        return normalized * (1 + self.mlp_gamma(actv)) + self.mlp_beta(actv)


class SPADEResnetBlock(nn.Module):
    """The SPADE residual block (Fig. 4): keys ``conv_0``, ``conv_1``, ``conv_s``, ``norm_0``, ``norm_1``,
    ``norm_s`` as the official class."""

    def __init__(self, fin: int, fout: int, semantic_nc: int, norm_G: str, nhidden: int = 128) -> None:
        super().__init__()
        spectral, param_free, ks = _parse_spade_norm(norm_G)
        self.learned_shortcut = fin != fout
        fmiddle = min(fin, fout)
        sn = spectral_norm if spectral else (lambda m: m)
        self.conv_0 = sn(nn.Conv2d(fin, fmiddle, 3, padding=1))
        self.conv_1 = sn(nn.Conv2d(fmiddle, fout, 3, padding=1))
        if self.learned_shortcut:
            self.conv_s = sn(nn.Conv2d(fin, fout, 1, bias=False))
        self.norm_0 = SPADENorm(fin, semantic_nc, param_free, ks, nhidden)
        self.norm_1 = SPADENorm(fmiddle, semantic_nc, param_free, ks, nhidden)
        if self.learned_shortcut:
            self.norm_s = SPADENorm(fin, semantic_nc, param_free, ks, nhidden)

    def forward(self, x: torch.Tensor, seg: torch.Tensor) -> torch.Tensor:
        x_s = self.conv_s(self.norm_s(x, seg)) if self.learned_shortcut else x
        dx = self.conv_0(F.leaky_relu(self.norm_0(x, seg), 0.2))
        dx = self.conv_1(F.leaky_relu(self.norm_1(dx, seg), 0.2))
        return x_s + dx


class SPADEGenerator(nn.Module):
    """G (Fig. 4 left, appendix A): keys as the official ``SPADEGenerator``.

    Args:
        semantic_nc: channels of the semantic input (one-hot labels + don't-care + edge map).
        ngf: width (official 64).
        num_upsampling_layers: ``normal`` (5), ``more`` (6), ``most`` (7) 2x up-samplings.
        use_vae: start from a code z (``fc`` linear) instead of the down-sampled label map (``fc`` 3x3 conv).
        z_dim: length of z (256).
        crop_size / aspect_ratio: the training size (width, width / height): fixes the latent grid of ``use_vae``.
        norm_G: the SPADE layers' norm (official ``spectralspadesyncbatch3x3``).
        nhidden: SPADE's embedding width (128).
        output_nc: image channels (3).
    """

    def __init__(
        self,
        semantic_nc: int,
        ngf: int = 64,
        num_upsampling_layers: str = "normal",
        use_vae: bool = False,
        z_dim: int = 256,
        crop_size: int = 256,
        aspect_ratio: float = 1.0,
        norm_G: str = "spectralspadesyncbatch3x3",
        nhidden: int = 128,
        output_nc: int = 3,
    ) -> None:
        super().__init__()
        if num_upsampling_layers not in UPSAMPLINGS:
            raise ValueError(
                f"num_upsampling_layers must be one of {tuple(UPSAMPLINGS)}, got {num_upsampling_layers!r}"
            )
        nf = ngf
        self.ngf, self.mode, self.use_vae, self.z_dim = ngf, num_upsampling_layers, use_vae, z_dim
        self.n_up = UPSAMPLINGS[num_upsampling_layers]
        self.sw = crop_size // 2**self.n_up
        self.sh = round(self.sw / aspect_ratio)
        if use_vae:
            if self.sw < 1 or self.sh < 1:
                raise ValueError(f"crop_size {crop_size} is too small for {self.n_up} up-samplings with use_vae")
            self.fc: nn.Module = nn.Linear(z_dim, 16 * nf * self.sw * self.sh)
        else:
            self.fc = nn.Conv2d(semantic_nc, 16 * nf, 3, padding=1)
        block = lambda fin, fout: SPADEResnetBlock(fin, fout, semantic_nc, norm_G, nhidden)  # noqa: E731
        self.head_0 = block(16 * nf, 16 * nf)
        self.G_middle_0 = block(16 * nf, 16 * nf)
        self.G_middle_1 = block(16 * nf, 16 * nf)
        self.up_0 = block(16 * nf, 8 * nf)
        self.up_1 = block(8 * nf, 4 * nf)
        self.up_2 = block(4 * nf, 2 * nf)
        self.up_3 = block(2 * nf, 1 * nf)
        final_nc = nf
        if num_upsampling_layers == "most":
            self.up_4 = block(nf, nf // 2)
            final_nc = nf // 2
        self.conv_img = nn.Conv2d(final_nc, output_nc, 3, padding=1)
        self.size_multiple = 2**self.n_up

    def forward(self, seg: torch.Tensor, z: torch.Tensor | None = None) -> torch.Tensor:
        """``seg`` (N, semantic_nc, H, W) -> image (N, output_nc, H, W) in [-1, 1]; with ``use_vae`` the output is
        (sh·2^n, sw·2^n) and ``z`` (N, z_dim) is drawn from N(0, I) when missing."""
        up = lambda t: F.interpolate(t, scale_factor=2, mode="nearest")  # noqa: E731
        if self.use_vae:
            if z is None:
                z = torch.randn(seg.shape[0], self.z_dim, device=seg.device, dtype=seg.dtype)
            x = self.fc(z).view(-1, 16 * self.ngf, self.sh, self.sw)
        else:
            size = (seg.shape[-2] // 2**self.n_up, seg.shape[-1] // 2**self.n_up)
            x = self.fc(F.interpolate(seg, size=size, mode="nearest"))
        x = self.head_0(x, seg)
        x = self.G_middle_0(up(x), seg)
        if self.mode in ("more", "most"):
            x = up(x)
        x = self.G_middle_1(x, seg)
        for block in (self.up_0, self.up_1, self.up_2, self.up_3):
            x = block(up(x), seg)
        if self.mode == "most":
            x = self.up_4(up(x), seg)
        return torch.tanh(self.conv_img(F.leaky_relu(x, 0.2)))


class ConvEncoder(nn.Module):
    """E (appendix B): image -> (μ, log σ²), keys as the official ``ConvEncoder``.

    Args:
        ngf: width (the official code uses ``ngf``, not ``nef``).
        crop_size: >= 256: the official six layers on the image resized to 256x256; smaller powers of two: the
            image resized to crop_size with log2(crop_size) - 2 layers (a deviation; the official code fails there).
        z_dim: length of μ and log σ² (official 256).
        norm_E: ``spectralinstance`` (official).
    """

    def __init__(self, ngf: int = 64, crop_size: int = 256, z_dim: int = 256, norm_E: str = "spectralinstance"):
        super().__init__()
        self.size = 256 if crop_size >= 256 else crop_size
        n_layers = int(round(math.log2(self.size))) - 2
        if 2 ** (n_layers + 2) != self.size or n_layers < 1:
            raise ValueError(f"use_vae with crop_size < 256 needs a power of two >= 8, got {crop_size}")
        self.n_layers = n_layers
        cin = 3
        for i in range(n_layers):
            cout = ngf * min(2**i, 8)
            self.add_module(f"layer{i + 1}", _norm_conv(nn.Conv2d(cin, cout, 3, stride=2, padding=1), norm_E, "norm_E"))
            cin = cout
        self.fc_mu = nn.Linear(cin * 4 * 4, z_dim)
        self.fc_var = nn.Linear(cin * 4 * 4, z_dim)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if x.shape[-2:] != (self.size, self.size):
            x = F.interpolate(x, size=(self.size, self.size), mode="bilinear", align_corners=False)
        for i in range(self.n_layers):
            x = F.leaky_relu(getattr(self, f"layer{i + 1}")(x), 0.2)
        x = x.flatten(1)
        return self.fc_mu(x), self.fc_var(x)


class _DiscriminatorConvs:
    """The ``conv`` factory that makes the shared :class:`MultiscaleDiscriminator` the official SPADE one: of each
    scale's ``n_groups`` convs (called in order), the first and the last are plain convs with bias, the inner ones
    get ``norm_D``'s spectral norm (and lose their bias before a norm)."""

    def __init__(self, n_groups: int, norm_D: str) -> None:
        self.n_groups, self.norm_D, self.calls = n_groups, norm_D, 0
        self.spectral, sub = _parse_plain_norm(norm_D, "norm_D")
        self.bias = sub == "none"

    def __call__(self, cin: int, cout: int, kernel_size: int, stride: int = 1, padding: int = 0) -> nn.Module:
        position, self.calls = self.calls % self.n_groups, self.calls + 1
        if position in (0, self.n_groups - 1):
            return nn.Conv2d(cin, cout, kernel_size, stride=stride, padding=padding)
        conv = nn.Conv2d(cin, cout, kernel_size, stride=stride, padding=padding, bias=self.bias)
        return spectral_norm(conv) if self.spectral else conv


def spade_discriminator(
    input_nc: int, ndf: int = 64, n_layers_D: int = 4, num_D: int = 2, norm_D: str = "spectralinstance"
) -> MultiscaleDiscriminator:
    """The official SPADE ``MultiscaleDiscriminator`` of ``NLayerDiscriminator``s, built by the shared class."""
    if n_layers_D < 2:
        raise ValueError(f"n_layers_D must be >= 2, got {n_layers_D}")
    _, sub = _parse_plain_norm(norm_D, "norm_D")
    norm = (lambda c: nn.Identity()) if sub == "none" else get_norm_layer(sub)
    convs = _DiscriminatorConvs(n_layers_D + 1, norm_D)
    return MultiscaleDiscriminator(input_nc, ndf, n_layers_D - 1, norm, num_D=num_D, get_interm_feat=True, conv=convs)


def official_init(net: nn.Module, init_type: str = "xavier", gain: float = 0.02) -> nn.Module:
    """The official ``BaseNetwork.init_weights``: batch-norm weights N(1, gain) (none here: they are param-free),
    conv/linear weights by ``init_type`` (``xavier``: Xavier-normal with ``gain``; the spectral norm's
    ``weight_orig``), their biases 0."""
    for m in net.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            if m.weight is not None:
                nn.init.normal_(m.weight, 1.0, gain)
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.modules.conv._ConvNd | nn.Linear):
            w = getattr(m, "weight_orig", None)
            w = m.weight if w is None else w
            with torch.no_grad():
                if init_type == "normal":
                    nn.init.normal_(w, 0.0, gain)
                elif init_type == "xavier":
                    nn.init.xavier_normal_(w, gain=gain)
                elif init_type == "xavier_uniform":
                    nn.init.xavier_uniform_(w, gain=1.0)
                elif init_type == "kaiming":
                    nn.init.kaiming_normal_(w, a=0, mode="fan_in")
                elif init_type == "orthogonal":
                    nn.init.orthogonal_(w, gain=gain)
                elif init_type == "none":
                    m.reset_parameters()
                    continue
                else:
                    raise ValueError(f"init_type {init_type!r} is not one of the official choices")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
    return net


class LabelToImage(nn.Module):
    """What ``translate`` and ``export`` run: the grayscale label image in [-1, 1] (N, 1, H, W) (+ ``z`` with
    ``use_vae``) -> image, with the label map's own boundaries as the edge map (no instance map at hand)."""

    def __init__(self, gen: SPADEGenerator, n_labels: int, use_edges: bool, encoder: ConvEncoder | None = None):
        super().__init__()
        self.gen, self.n_labels, self.use_edges, self.encoder = gen, n_labels, use_edges, encoder
        self.size_multiple = gen.size_multiple

    def forward(self, x: torch.Tensor, code: torch.Tensor | None = None) -> torch.Tensor:
        ids = label_ids(x)
        seg = [one_hot(ids, self.n_labels, x.dtype)] + ([get_edges(ids).to(x.dtype)] if self.use_edges else [])
        if self.encoder is not None and code is not None:
            code = self.encoder(code)[0]  # a style image: its mean code (deterministic for export)
        return self.gen(torch.cat(seg, 1), code)


def lr_factor(epoch: int, niter: int, niter_decay: int) -> float:
    """LR multiplier during 0-based epoch ``epoch``: the official ``update_learning_rate`` after each 1-based epoch
    e > niter subtracts lr0 / niter_decay, so epoch e (0-based) runs at 1 - max(0, e - niter) / niter_decay."""
    if niter_decay <= 0:
        return 1.0
    return max(0.0, 1.0 - max(0, epoch - niter) / niter_decay)


# ----------------------------------------------------------------------------------------- released weights
#: The authors' Google Drive archive of the pretrained generators (NVlabs/SPADE README, "Generating Images Using
#: Pretrained Model"): checkpoints.tar.gz holding <name>_pretrained/latest_net_G.pth.
RELEASE_URL = "https://drive.google.com/uc?export=download&id=12gvlTbMvUcJewQlSEaZdeb2CdOB-b8kQ"
RELEASE_LICENCE = "CC BY-NC-SA 4.0 (NVlabs/SPADE LICENSE.md)"
RELEASES = {
    # name: (options, size, source, target, dataset)
    "coco": (
        {"label_nc": 182, "contain_dontcare_label": True, "no_instance": False, "crop_size": 256},
        256, "COCO-Stuff label + instance maps", "COCO photos", None,
    ),
    "ade20k": (
        {"label_nc": 150, "contain_dontcare_label": True, "no_instance": True, "crop_size": 256},
        256, "ADE20K label maps", "ADE20K scene photos", None,
    ),
    "cityscapes": (
        {"label_nc": 35, "contain_dontcare_label": False, "no_instance": False, "crop_size": 512,
         "aspect_ratio": 2.0, "num_upsampling_layers": "more"},
        512, "Cityscapes label + instance maps (512x256)", "Cityscapes street photos", None,
    ),
}  # fmt: skip


# ---------------------------------------------------------------------------------------------------- model
# ---------------------------------------------------------------------------------------------------- model
class SPADE(TranslationGAN):
    """SPADE (GauGAN): semantic label maps (+ instance maps) to photos with spatially-adaptive normalisation.

    The defaults are the official training defaults (``train.py`` with ``--dataset_mode coco``, the official default
    dataset: 182 COCO-Stuff labels + don't-care, instance edges, crop 256).

    Args:
        label_nc: label classes without the don't-care class (official ``--label_nc``; COCO-Stuff 182).
        contain_dontcare_label: one more one-hot channel for the don't-care id ``label_nc``.
        no_instance: no instance map, hence no edge channel (official ``--no_instance``).
        output_nc: image channels (3).
        ngf: G's width (64); E's too, as in the official code.
        num_upsampling_layers: ``normal`` | ``more`` (Cityscapes) | ``most``.
        norm_G: ``spectralspadesyncbatch3x3`` (official SPADE default): spectral norm on G's convs, SPADE with a
            param-free (sync) batch norm and 3x3 convs.
        nhidden: SPADE's embedding width (128, hard-coded in the official code).
        use_vae: train with the image encoder E and the KL term: multimodal and style-guided synthesis.
        z_dim: length of z (256).
        crop_size / aspect_ratio: the training size (official ``--crop_size``, ``--aspect_ratio``): the latent grid
            of ``use_vae`` is crop_size / 2^n wide and crop_size / aspect_ratio / 2^n high; E's depth.
        norm_E: E's norm (``spectralinstance``).
        ndf / n_layers_D / num_D / norm_D: D's width (64), layers (4), scales (2), norm (``spectralinstance``).
        gan_mode: ``hinge`` (official) | ``lsgan`` (``ls``) | ``vanilla`` (``original``).
        lambda_feat: λ of the feature-matching loss (10); 0 = ``--no_ganFeat_loss``.
        lambda_vgg: λ of the VGG19 loss (10); 0 = ``--no_vgg_loss``.
        lambda_kld: λ of the KL term with ``use_vae`` (0.05).
        vgg_weights: a torchvision VGG19 state-dict file; ``None``: torchvision's cache, downloaded on first use.
        no_TTUR: equal learning rates and β = (0.5, 0.999); TTUR (default): lr/2 for G (+E), 2·lr for D, β = (0, 0.9).
        lr: the official ``--lr`` (2e-4) before the TTUR split.
        beta1 / beta2: Adam's β; ``None``: (0, 0.9) with TTUR, (0.5, 0.999) with ``no_TTUR`` (official).
        n_epochs / n_epochs_decay: ``--niter`` (50) / ``--niter_decay`` (0) epochs.
        init_type / init_gain: ``xavier`` / 0.02 (official ``--init_type``, ``--init_variance``).
        val_metrics / feature_extractor: the validation metrics (see :class:`~translation_zoo.models.Pix2Pix`).
        **kwargs: other options of :class:`TranslationGAN`.
    """

    batch_kind = "semantic"
    tiny_config = {
        "label_nc": 5,
        "contain_dontcare_label": False,
        "ngf": 2,
        "nhidden": 8,
        "use_vae": True,  # the zoo-wide tests cover the z= / style= conditions; tests/test_spade.py the plain G
        "z_dim": 8,
        "crop_size": 32,
        "ndf": 4,
        "n_layers_D": 2,
        "lambda_vgg": 0.0,  # the VGG19 weights are a download; tests/test_spade.py injects a random backbone
    }

    official_names = ("spade", "gaugan")  # the official --model is "pix2pix": taken by the zoo's Pix2Pix
    official_networks = {"G": "gen", "D": "disc", "E": "encoder"}
    official_file_pattern = "{epoch}_net_{name}.pth"

    def __init__(
        self,
        label_nc: int = 182,
        contain_dontcare_label: bool = True,
        no_instance: bool = False,
        output_nc: int = 3,
        ngf: int = 64,
        num_upsampling_layers: Literal["normal", "more", "most"] = "normal",
        norm_G: str = "spectralspadesyncbatch3x3",
        nhidden: int = 128,
        use_vae: bool = False,
        z_dim: int = 256,
        crop_size: int = 256,
        aspect_ratio: float = 1.0,
        norm_E: str = "spectralinstance",
        ndf: int = 64,
        n_layers_D: int = 4,
        num_D: int = 2,
        norm_D: str = "spectralinstance",
        gan_mode: Literal["hinge", "lsgan", "vanilla"] = "hinge",
        lambda_feat: float = 10.0,
        lambda_vgg: float = 10.0,
        lambda_kld: float = 0.05,
        vgg_weights: str | None = None,
        no_TTUR: bool = False,
        lr: float = 2e-4,
        beta1: float | None = None,
        beta2: float | None = None,
        n_epochs: int = 50,
        n_epochs_decay: int = 0,
        init_type: Literal["xavier", "normal", "xavier_uniform", "kaiming", "orthogonal", "none"] = "xavier",
        init_gain: float = 0.02,
        val_metrics: list[str] | None = None,
        feature_extractor: str | None = None,
        **kwargs: Any,
    ) -> None:
        default_betas = (0.5, 0.999) if no_TTUR else (0.0, 0.9)
        super().__init__(
            lr=lr,
            beta1=default_betas[0] if beta1 is None else beta1,
            beta2=default_betas[1] if beta2 is None else beta2,
            n_epochs=n_epochs,
            n_epochs_decay=n_epochs_decay,
            init_type="normal",  # validated here: the base knows fewer init types than the official code
            init_gain=init_gain,
            **kwargs,
        )
        if gan_mode not in ("hinge", "lsgan", "vanilla"):
            raise ValueError(f"gan_mode must be 'hinge', 'lsgan' or 'vanilla', got {gan_mode!r}")
        if init_type not in ("xavier", "normal", "xavier_uniform", "kaiming", "orthogonal", "none"):
            raise ValueError(f"init_type {init_type!r} is not one of the official choices")
        # hparams keep beta1/beta2 as given (None: the official default of the TTUR setting, resolved here).
        self.betas = (default_betas[0] if beta1 is None else beta1, default_betas[1] if beta2 is None else beta2)
        self.n_labels = label_nc + int(contain_dontcare_label)
        semantic_nc = self.n_labels + (0 if no_instance else 1)
        gen = SPADEGenerator(
            semantic_nc, ngf, num_upsampling_layers, use_vae, z_dim, crop_size, aspect_ratio, norm_G, nhidden, output_nc
        )
        disc = spade_discriminator(semantic_nc + output_nc, ndf, n_layers_D, num_D, norm_D)
        self.gen = official_init(gen, init_type, init_gain)
        self.disc = official_init(disc, init_type, init_gain)
        self.encoder = (
            official_init(ConvEncoder(ngf, crop_size, z_dim, norm_E), init_type, init_gain) if use_vae else None
        )
        self.criterion_gan = GANLoss(gan_mode)
        self._vgg: list[VGGLoss] = []  # built on first use, outside the module tree: not in checkpoints
        self.eval_metrics = self.build_eval_metrics(val_metrics, feature_extractor, paired=True)
        self.size_multiple = gen.size_multiple

    # ------------------------------------------------------------------------------------------ players
    def param_groups(self) -> dict[str, list[nn.Module]]:
        return {"G": [self.gen] + ([self.encoder] if self.encoder is not None else []), "D": [self.disc]}

    def _make_optimizers(self) -> list[torch.optim.Optimizer]:
        """Adam per player with the official TTUR split (official ``create_optimizers``): G (+E) at lr/2, D at 2·lr,
        β = (0, 0.9); ``no_TTUR``: both at lr, β = (0.5, 0.999). An injected optimiser gets the same lr split."""
        hp = self.hparams
        scales = (1.0, 1.0) if hp.no_TTUR else (0.5, 2.0)
        optimizers = []
        for mods, scale in zip(self.param_groups().values(), scales, strict=True):
            params = list(self._parameters_of(mods))
            if self.optimizer_factory is not None:
                opt = self.optimizer_factory(params)
            else:
                opt = torch.optim.Adam(params, lr=hp.lr, betas=self.betas, fused=hp.fused)
            for group in opt.param_groups:
                group["lr"] *= scale
            optimizers.append(opt)
        return optimizers

    def _make_scheduler(self, opt: torch.optim.Optimizer):
        hp = self.hparams
        if self.lr_scheduler_factory is None and hp.lr_policy == "linear":
            return torch.optim.lr_scheduler.LambdaLR(opt, lambda e: lr_factor(e, hp.n_epochs, hp.n_epochs_decay))
        return super()._make_scheduler(opt)

    def zero_gradient_parameters(self) -> set[str]:
        """Parameters whose gradient is mathematically zero in a training step (so that a low-precision step may
        leave them unchanged; tests/test_zoo.py's mixed-precision test): G's conv biases whose every path meets a
        param-free norm first (a per-channel constant is removed by it; all but the last block's ``conv_1``, the
        generator's ``fc`` included), and, with the hinge loss, D's last biases while every D output is inside the
        margins (at initialisation)."""
        last = "up_4" if self.hparams.num_upsampling_layers == "most" else "up_3"
        names = {
            f"gen.{n}"
            for n, _ in self.gen.named_parameters()
            if n.endswith("bias") and n.split(".")[0] != "conv_img" and ".mlp_" not in n and n != f"{last}.conv_1.bias"
        }
        if self.hparams.gan_mode == "hinge":
            final = self.hparams.n_layers_D
            names |= {f"disc.{n}" for n, _ in self.disc.named_parameters() if n.endswith(f"_layer{final}.0.bias")}
        return names

    # ------------------------------------------------------------------------------------------- inputs
    def encode_input(self, label: torch.Tensor, instance: torch.Tensor | None) -> torch.Tensor:
        """The semantic input (official ``preprocess_input``): one-hot labels (N, n_labels, H, W) + the edge map of
        ``instance`` (of the label map when ``None``) unless ``no_instance``."""
        inputs = [one_hot(label, self.n_labels)]
        if not self.hparams.no_instance:
            inputs.append(get_edges(label if instance is None else instance))
        return torch.cat(inputs, 1)

    def encode_z(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(z, μ, log σ²) of images (official ``encode_z``: z = μ + ε · exp(½ log σ²), ε ~ N(0, I))."""
        mu, logvar = self.encoder(image)
        return mu + torch.randn_like(logvar) * torch.exp(0.5 * logvar), mu, logvar

    def vgg_loss(self) -> VGGLoss:
        """The perceptual loss, built on first use (downloads the VGG19 weights once)."""
        if not self._vgg:
            self._vgg.append(VGGLoss(weights=self.hparams.vgg_weights))
        return self._vgg[0]

    def set_vgg_backbone(self, backbone: nn.Module) -> None:
        """Use ``backbone`` (torchvision ``vgg19().features``) for the perceptual loss (tests: random weights)."""
        self._vgg[:] = [VGGLoss(backbone=backbone)]

    # ---------------------------------------------------------------------------------------- inference
    def inference_conditions(self) -> dict[str, Condition]:
        if not self.hparams.use_vae:
            return {}
        hp = self.hparams
        return {
            "z": Condition("code", "style code z ~ N(0, I) (sampled when missing)", dim=hp.z_dim),
            "style": Condition("image", "a reference photo: its style code from the encoder", channels=hp.output_nc),
        }

    def forward(
        self,
        x: torch.Tensor,
        instance: torch.Tensor | None = None,
        z: torch.Tensor | None = None,
        style: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Synthesise images (N, output_nc, H, W) in [-1, 1] from label maps.

        Args:
            x: label ids (N, 1, H, W) int, or the grayscale label image in [-1, 1] (what ``translate`` gives).
            instance: instance ids (N, 1, H, W); ``None``: the label map's boundaries make the edge map.
            z: style codes (N or 1, z_dim) (``use_vae``); missing: from ``style``, else drawn from N(0, I).
            style: reference photos (N or 1, 3, h, w) (``use_vae``): z = the encoder's sample, as the official test.
        """
        seg = self.encode_input(label_ids(x), instance)
        if self.hparams.use_vae:
            # Codes and style images in the model's float type (translation_zoo.inference.prepare_conditions casts
            # them to the dtype of x, which is int64 for label ids: see the note on it).
            z = None if z is None else z.to(seg.dtype)
            if z is None and style is not None:
                z = self.encode_z(style.to(seg.dtype))[0]
            if z is not None and z.shape[0] != seg.shape[0]:
                z = z.expand(seg.shape[0], -1)
        elif z is not None or style is not None:
            raise ValueError("SPADE: z/style need a model trained with use_vae=True")
        return self.gen(seg, z)

    def inference_spec(self, **conditions: Any) -> InferenceSpec:
        conditions = self.check_conditions(conditions)
        hp = self.hparams
        style = "style" in conditions
        net = LabelToImage(self.gen, self.n_labels, not hp.no_instance, self.encoder if style else None)
        extra: dict[str, torch.Tensor] = {}
        if hp.use_vae:
            if style:
                extra = {"style": conditions["style"][:1]}
            else:
                z = conditions.get("z")
                extra = {"z": z[:1] if z is not None else torch.randn(1, hp.z_dim, device=self.device)}
        return InferenceSpec(net, 1, int(self.size_multiple), extra)

    def predict_step(self, batch: dict[str, Any], batch_idx: int, dataloader_idx: int = 0) -> dict[str, Any]:
        """``{"fake", "path"}`` (and ``"samples"``) from a predict batch ``{"label", "instance"?, "path"}``."""
        from ..inference import prepare_conditions  # here: inference imports the models

        x = batch["label"]
        conditions = prepare_conditions(self, self.predict_conditions, x.float())  # float: codes keep their values
        n = max(1, int(self.predict_num_samples))
        samples = [self(x, instance=batch.get("instance"), **conditions) for _ in range(n)]
        out = {"fake": samples[0], "path": batch.get("path")}
        if n > 1:
            out["samples"] = samples
        return out

    @torch.no_grad()
    def visuals(self, batch: dict[str, Any]) -> list[list[torch.Tensor]]:
        label = label_ids(batch["label"])
        style = batch.get("image") if self.hparams.use_vae else None
        fake = self(label, instance=batch.get("instance"), style=style)
        row = [label_colors(label, self.n_labels).to(fake.dtype), fake]
        return [row + ([batch["image"]] if "image" in batch else [])]

    def eval_step(self, batch: dict[str, Any], stage: str) -> None:
        # The official test with use_vae encodes the real photo (generate_fake(input_semantics, real_image)).
        style = batch["image"] if self.hparams.use_vae else None
        fake = self(batch["label"], instance=batch.get("instance"), style=style)
        self.update_eval_metrics(fake, batch["image"], batch)

    # ---------------------------------------------------------------------------------------- training
    def discriminate(
        self, seg: torch.Tensor, fake: torch.Tensor, real: torch.Tensor
    ) -> tuple[list[list[torch.Tensor]], list[list[torch.Tensor]]]:
        """D on fake and real pairs stacked in one batch (official ``discriminate``): (features of fakes, of reals)."""
        n = fake.shape[0]
        out = self.disc(torch.cat([torch.cat([seg, fake], 1), torch.cat([seg, real], 1)], 0))
        return [[t[:n] for t in scale] for scale in out], [[t[n:] for t in scale] for scale in out]

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        hp = self.hparams
        real = batch["image"]  # (N, 3, H, W)
        seg = self.encode_input(label_ids(batch["label"]), batch.get("instance")).to(real.dtype)
        opt_g, opt_d = self.optimizers()

        # G (+E) step: L_GAN (hinge) + λ_feat L_FM + λ_vgg L_VGG (+ λ_kld KL with use_vae), appendix A and B.
        with self.toggled_optimizer(opt_g):
            losses: dict[str, torch.Tensor] = {}
            z = None
            if self.encoder is not None:
                z, mu, logvar = self.encode_z(real)
                kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())  # KL(N(μ, σ²) || N(0, I)), summed
                losses["g_kld"] = hp.lambda_kld * kld
            fake = self.gen(seg, z)  # computed once: D's step sees it detached
            pred_fake, pred_real = self.discriminate(seg, fake, real)
            losses["g_gan"] = self.criterion_gan(pred_fake, True, for_discriminator=False)
            if hp.lambda_feat > 0:  # Σ_k Σ_i λ/num_D · L1 (pix2pixHD Eq. 4 without its per-layer weight)
                losses["g_feat"] = hp.lambda_feat * feature_matching_loss(pred_fake, pred_real, layer_weight=1.0)
            if hp.lambda_vgg > 0:
                losses["g_vgg"] = hp.lambda_vgg * self.vgg_loss().to(fake.device)(fake, real)
            self._step(opt_g, losses)

        # D step: hinge, E[relu(1 + D(s, G(s)))] + E[relu(1 - D(s, x))] (no ½, as the official code).
        with self.toggled_optimizer(opt_d):
            pred_fake, pred_real = self.discriminate(seg, fake.detach(), real)
            self._step(
                opt_d,
                {
                    "d_fake": self.criterion_gan(pred_fake, False, for_discriminator=True),
                    "d_real": self.criterion_gan(pred_real, True, for_discriminator=True),
                },
            )

    # --------------------------------------------------------------------------------- official weights
    @staticmethod
    def _official_d_key(key: str, num_d: int) -> str:
        """Official ``discriminator_<i>.model<j>.0[.<k>].<leaf>`` (i = 0 sees the full resolution; the inner layers
        are ``Sequential(Sequential(conv, norm), LeakyReLU)``) -> ours ``scale<num_D - 1 - i>_layer<j>.<k>.<leaf>``."""
        m = re.fullmatch(r"discriminator_(\d+)\.model(\d+)\.0\.(?:(\d+)\.)?(.+)", key)
        if m is None:
            return key
        return f"scale{num_d - 1 - int(m[1])}_layer{m[2]}.{m[3] or '0'}.{m[4]}"

    @classmethod
    def official_to_ours(cls, name: str, state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        if name != "D":
            return state_dict  # G and E: the official layout key for key
        num_d = len({k.split(".")[0] for k in state_dict if k.startswith("discriminator_")}) or 1
        return {cls._official_d_key(k, num_d): v for k, v in state_dict.items()}

    @classmethod
    def ours_to_official(cls, name: str, state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        if name != "D":
            return state_dict
        num_d = len({k.split("_layer")[0] for k in state_dict if k.startswith("scale")}) or 1
        last = max(int(re.match(r"scale\d+_layer(\d+)", k)[1]) for k in state_dict if k.startswith("scale"))
        out = {}
        for k, v in state_dict.items():
            m = re.fullmatch(r"scale(\d+)_layer(\d+)\.(\d+)\.(.+)", k)
            s, j, sub, leaf = int(m[1]), int(m[2]), m[3], m[4]
            inner = 0 < j < last  # the official inner layers are Sequential(Sequential(conv, norm), LeakyReLU)
            head = f"discriminator_{num_d - 1 - s}.model{j}.0."
            out[head + (f"{sub}.{leaf}" if inner else leaf)] = v
        order = lambda k: tuple(int(n) for n in re.match(r"discriminator_(\d+)\.model(\d+)", k).groups())  # noqa: E731
        return dict(sorted(out.items(), key=lambda kv: order(kv[0])))  # the official order (a stable sort)

    @classmethod
    def official_options(cls, state: dict[str, dict[str, torch.Tensor]], hparams: dict[str, Any]) -> dict[str, Any]:
        from ..hub import OfficialWeightsError, default_option

        found: dict[str, Any] = {}
        why: dict[str, str] = {}
        g_in = None
        if "G" in state:
            g = state["G"]
            fc = g["fc.weight"]
            conv = g.get("head_0.conv_0.weight_orig", g.get("head_0.conv_0.weight"))
            mlp = g["head_0.norm_0.mlp_shared.0.weight"]
            spectral = "head_0.conv_0.weight_orig" in g
            batch = "head_0.norm_0.param_free_norm.running_mean" in g
            ks = int(mlp.shape[-1])
            found |= {
                "use_vae": fc.dim() == 2,
                "ngf": int(conv.shape[0]) // 16,
                "nhidden": int(mlp.shape[0]),
                "norm_G": f"{'spectral' if spectral else ''}spade{'syncbatch' if batch else 'instance'}{ks}x{ks}",
                "output_nc": int(g["conv_img.weight"].shape[0]),
            }
            if "up_4.conv_0.bias" in g:
                found["num_upsampling_layers"] = "most"
            if fc.dim() == 2:
                found["z_dim"] = int(fc.shape[1])
            why |= {k: "G's keys and shapes" for k in found}
            g_in = int(mlp.shape[1])
        if "E" in state:
            e = state["E"]
            w = e.get("layer1.0.weight_orig", e.get("layer1.0.weight", e.get("layer1.weight_orig")))
            if w is not None and "ngf" not in found:
                found["ngf"], why["ngf"] = int(w.shape[0]), "E's first conv"
            found["use_vae"], why["use_vae"] = True, "an encoder E is given"
            found["z_dim"], why["z_dim"] = int(e["fc_mu.weight"].shape[0]), "E's fc_mu"
            e_layers = len({k.split(".")[0] for k in e if k.startswith("layer")})
        if "D" in state:
            d = state["D"]
            scales = {k.split("_layer")[0] for k in d if k.startswith("scale")}
            layers = {int(re.match(r"scale\d+_layer(\d+)", k)[1]) for k in d if k.startswith("scale")}
            found |= {"num_D": len(scales), "n_layers_D": max(layers), "ndf": int(d["scale0_layer0.0.weight"].shape[0])}
            why |= {k: "D's keys and shapes" for k in ("num_D", "n_layers_D", "ndf")}

        def same(k: str, a: Any, b: Any) -> bool:  # sync and plain batch norm are one layer here
            if k == "norm_G" and isinstance(a, str) and isinstance(b, str):
                return a.replace("syncbatch", "batch") == b.replace("syncbatch", "batch")
            return a == b

        for k, v in found.items():
            if k in hparams and not same(k, hparams[k], v):
                raise OfficialWeightsError(f"{k}={hparams[k]!r} contradicts the official weights ({why[k]}: {k}={v!r})")
        opt = {
            k: default_option(cls, k)
            for k in (
                "label_nc",
                "contain_dontcare_label",
                "no_instance",
                "ngf",
                "crop_size",
                "aspect_ratio",
                "num_upsampling_layers",
            )
        }
        opt = {**opt, **found, **hparams}  # fmt: skip
        if g_in is not None:
            expected = opt["label_nc"] + int(opt["contain_dontcare_label"]) + (0 if opt["no_instance"] else 1)
            if expected != g_in:
                raise OfficialWeightsError(
                    f"G's SPADE layers take {g_in} semantic channels, but label_nc={opt['label_nc']} "
                    f"(+{int(opt['contain_dontcare_label'])} don't-care) and no_instance={opt['no_instance']} give "
                    f"{expected}: set label_nc, contain_dontcare_label or no_instance to fit"
                )
        if "E" in state:
            size = 256 if opt["crop_size"] >= 256 else opt["crop_size"]
            if 2 ** (e_layers + 2) != size:
                raise OfficialWeightsError(
                    f"E has {e_layers} stride-2 layers (input {2 ** (e_layers + 2)} px; the official encoder: 6 for "
                    f"crop_size >= 256), but crop_size={opt['crop_size']} gives {size} px: set crop_size"
                )
        if found.get("use_vae") and "G" in state:
            n_up = UPSAMPLINGS[opt["num_upsampling_layers"]]
            sw = opt["crop_size"] // 2**n_up
            cells = int(state["G"]["fc.weight"].shape[0]) // (16 * opt["ngf"])
            if sw * round(sw / opt["aspect_ratio"]) != cells:
                raise OfficialWeightsError(
                    f"G's fc makes a latent grid of {cells} cells, but crop_size={opt['crop_size']}, "
                    f"aspect_ratio={opt['aspect_ratio']} and num_upsampling_layers={opt['num_upsampling_layers']!r} "
                    f"give {sw}x{round(sw / opt['aspect_ratio'])}: set them to the training options"
                )
        return found

    @classmethod
    def released_weights(cls) -> tuple[Pretrained, ...]:
        return tuple(
            Pretrained(
                name=f"spade/{name}",
                model="SPADE",
                official_model="spade",
                files=(
                    WeightsFile(
                        "G",
                        RELEASE_URL,
                        "latest_net_G.pth",
                        archive="tar.gz",
                        member=f"{name}_pretrained/latest_net_G.pth",
                    ),
                ),  # fmt: skip
                options=options,
                source=source,
                target=target,
                input_nc=1,
                size=size,
                dataset=dataset,
                licence=RELEASE_LICENCE,
                notes=(
                    "The authors' Google Drive archive checkpoints.tar.gz (all three releases, about 1 GB); Drive may "
                    "ask to confirm large downloads: then fetch it in a browser and put it where the error says. "
                    "Inputs: label ids (and instance maps), as SPADE's test.py; translate() feeds the label PNG."
                ),
            )
            for name, (options, size, source, target, dataset) in RELEASES.items()
        )


__all__ = [
    "OFFICIAL_PARAMS",
    "SPADE",
    "ConvEncoder",
    "SPADEGenerator",
    "SPADENorm",
    "SPADEResnetBlock",
    "get_edges",
    "lr_factor",
    "official_init",
    "spade_discriminator",
]
