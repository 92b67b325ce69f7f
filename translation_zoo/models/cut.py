"""CUT / FastCUT: Contrastive Learning for Unpaired Image-to-Image Translation.

Park, Efros, Zhang, Zhu. ECCV 2020. arXiv:2007.15651
Reference code: taesungp/contrastive-unpaired-translation (``models/cut_model.py``, ``models/patchnce.py``,
``models/networks.py``; ``--model cut --CUT_mode CUT|FastCUT``).

One generator G: A→B (``gen``), the CycleGAN ResNet generator with anti-aliased sampling: each stride-2 conv becomes
a stride-1 conv followed by a [1, 2, 1]² blur-and-subsample (:class:`Downsample`), each transposed conv a fixed
[1, 3, 3, 1]² up-sampling (:class:`Upsample`) followed by a 3x3 conv. One 70x70 PatchGAN D (``disc``), anti-aliased
the same way. Instead of a second generator and a cycle, the PatchNCE loss (Eq. 3) asks each patch of G(x) to be
recognised as the patch of x at the same place among the other patches of x (the negatives, Eq. 2): G's own encoder
embeds x and G(x) at the layers ``nce_layers`` (official 0, 4, 8, 12, 16: the padded input, the two down-sampling
convs, residual blocks 1 and 5), ``num_patches`` = 256 locations are sampled per layer, and a two-layer MLP per layer
(``mlp_head``, the paper's H, ``netF_nc`` = 256 outputs) projects them onto the unit sphere; logits are dot products
over the temperature τ = 0.07. CUT adds the same loss on (y, G(y)) (the "identity" NCE term, λ_Y of Eq. 5) with
λ_NCE = 1; FastCUT drops it, raises λ_NCE to 10 and adds flip-equivariance (G(x) of a flipped x, flipped back,
must embed like x). LSGAN; Xavier init (gain 0.02); Adam(2e-4, β1 = 0.5); batch 1; D is updated before G. CUT:
200 + 200 epochs of linear decay, FastCUT 150 + 50.

Parameter counts (default 3-channel CUT and FastCUT, ``resnet_9blocks``, ``ngf = ndf = 64``, ``netF_nc = 256``),
equal to the official networks (``tests/test_cut.py``): G 11,378,179; D 2,764,737; F (``mlp_head``) 560,384.

Deviations (none in the math; ``tests/test_cut.py`` checks losses and outputs against numbers from the official
code):

* The MLP head is built in ``__init__`` from the generator's known channels at ``nce_layers`` instead of lazily on
  the first batch, so parameter groups, optimisers, checkpoints and DDP see it from the start. It is built after G
  and D, as the official code's first batch does, so a seed gives the official initial weights of all three.
* F's parameters join G's Adam (the official code gives F its own Adam with the same settings and schedule: the same
  update, since Adam is per parameter).
* Patch locations and the flip coin are drawn from torch's RNG (official: numpy's), so seeding and checkpointed RNG
  state cover them.
* The keys of the PatchNCE loss, the encoder features of the real images, are taken from G's forward pass on them
  (detached) instead of a second encoder pass: the same values (up to float rounding) at ~10% fewer FLOPs, because
  the paper's G (instance norm, no dropout) treats each image on its own. Not for a flipped FastCUT batch (G saw the
  flipped images: the keys get their own pass), and not when G has batch norm or dropout (``normG="batch"``,
  ``use_dropout``; :attr:`CUT.keys_from_forward`): there the official second pass runs, in the official order.
  ``tests/test_cut.py`` checks the gradients against the official recomputation and the losses of both paths
  against the official code.
* The official ``train.py`` runs one extra forward/backward on the first batch (``data_dependent_initialize``, which
  creates F) without an optimiser step; it changes no weight (only batch-norm running statistics with
  ``normG="batch"``) and is not run here.
* Data (not this file): during the decay epochs the official ``UnalignedDataset`` resizes images to ``crop_size``
  instead of ``load_size`` (no random crop any more); :class:`~translation_zoo.data.UnpairedDataModule` keeps
  ``load_size`` + random crop for the whole run.
* Patches are gathered before the official (N, H·W, C) layout is formed, not after a copy of the whole map.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any, ClassVar, Literal

import torch
import torch.nn.functional as F
from torch import nn

from ..hub import Evidence, OfficialWeightsError, default_option, merge_evidence
from ..losses import GANLoss
from ..nn import PatchDiscriminator, PixelDiscriminator, ResnetBlock, conv_bias, get_norm_layer, init_weights
from ..weights import Pretrained, WeightsFile
from .base import TranslationGAN

StateDict = dict[str, torch.Tensor]

#: Official option defaults that differ between ``--CUT_mode CUT`` and ``FastCUT``
#: (``CUTModel.modify_commandline_options``).
MODE_DEFAULTS: dict[str, dict[str, Any]] = {
    "cut": {"lambda_NCE": 1.0, "nce_idt": True, "flip_equivariance": False, "n_epochs": 200, "n_epochs_decay": 200},
    "fastcut": {"lambda_NCE": 10.0, "nce_idt": False, "flip_equivariance": True, "n_epochs": 150, "n_epochs_decay": 50},
}


# ------------------------------------------------------------------------------------------ released weights
#: The authors' one archive of the six released generators (README "Apply a pre-trained CUT model and evaluate FID":
#: ``wget http://efrosgans.eecs.berkeley.edu/CUT/pretrained_models.tar; tar -xf pretrained_models.tar`` puts each at
#: ``checkpoints/<dataset>_<mode>_pretrained/latest_net_G.pth``; ``experiments/pretrained_launcher.py`` names them).
RELEASE_URL = "http://efrosgans.eecs.berkeley.edu/CUT/pretrained_models.tar"
#: The options of every release: the official defaults of ``train.py`` (``pretrained_launcher.py`` sets only the data,
#: the name, ``--CUT_mode`` and, for Cityscapes, ``--direction BtoA``).
RELEASE_OPTIONS: dict[str, Any] = {
    "input_nc": 3,
    "output_nc": 3,
    "netG": "resnet_9blocks",
    "ngf": 64,
    "normG": "instance",
    "use_dropout": False,
    "antialias": True,
    "antialias_up": True,
}
# dataset: (source, target, our dataset "<family>/<name>" or None, note)
RELEASES: dict[str, tuple[str, str, str | None, str]] = {
    "horse2zebra": ("horse", "zebra", "cyclegan/horse2zebra", ""),
    "cat2dog": (
        "cat face (AFHQ)",
        "dog face (AFHQ)",
        None,
        "Trained on AFHQ cat -> dog (train/cat as trainA, train/dog as trainB; AFHQ comes from clovaai/stargan-v2's "
        "download.sh afhq-dataset).",
    ),
    "cityscapes": (
        "Cityscapes label map",
        "street photo",
        "cyclegan/cityscapes",
        "Trained label map -> photo (the official --direction BtoA of the A = photo, B = label layout) on the authors' "
        "resized, JPEG-compressed Cityscapes; its FID is measured on their validation set "
        "http://efrosgans.eecs.berkeley.edu/CUT/datasets/cityscapes_val_for_CUT.tar.",
    ),
}
CUT_LICENCE = (
    "BSD (two-clause text; LICENSE of taesungp/contrastive-unpaired-translation, (c) 2020 Taesung Park and Jun-Yan "
    "Zhu); the authors state no separate terms for the weights; the training data keep their own terms"
)
_RELEASE_NOTE = (
    "One archive holds the six CUT/FastCUT generators; each entry takes its own latest_net_G.pth from it. "
    "The official test.py runs G at 256x256 (load_size = crop_size = 256, no crop)."
)


# ------------------------------------------------------------------------------------------ anti-aliasing
def binomial_filter(size: int) -> torch.Tensor:
    """The normalised 2-D binomial filter of side ``size`` (3: [1, 2, 1]ᵀ[1, 2, 1] / 16), Zhang 2019's blur."""
    row = torch.tensor([math.comb(size - 1, k) for k in range(size)], dtype=torch.float32)
    filt = row[:, None] * row[None, :]
    return filt / filt.sum()


class Downsample(nn.Module):
    """Blur with a binomial filter, then keep every second pixel (anti-aliased stride 2; Zhang, ICML 2019).

    The filter is a buffer (``filt``, one copy per channel), as in the official code, so official state dicts load
    key for key. Reflection padding keeps the size at ``ceil(H / 2)``.
    """

    def __init__(self, channels: int, filt_size: int = 3) -> None:
        super().__init__()
        self.pad = ((filt_size - 1) // 2, filt_size // 2) * 2  # left, right, top, bottom
        self.register_buffer("filt", binomial_filter(filt_size)[None, None].repeat(channels, 1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.pad(x, self.pad, mode="reflect")
        return F.conv2d(x, self.filt.to(x.dtype), stride=2, groups=x.shape[1])


class Upsample(nn.Module):
    """Double the size by zero insertion and a binomial filter (×4 to keep the mean) with replicated borders.

    With the official [1, 3, 3, 1] filter this is bilinear up-sampling by 2; kept as the official transposed
    convolution so that the ``filt`` buffer and the rounding match.
    """

    def __init__(self, channels: int, filt_size: int = 4) -> None:
        super().__init__()
        self.filt_size = filt_size
        self.register_buffer("filt", (binomial_filter(filt_size) * 4)[None, None].repeat(channels, 1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pad = (self.filt_size - 1) // 2
        x = F.pad(x, (1, 1, 1, 1), mode="replicate")
        out = F.conv_transpose2d(x, self.filt.to(x.dtype), stride=2, padding=1 + pad, groups=x.shape[1])
        out = out[:, :, 1:, 1:]
        return out if self.filt_size % 2 else out[:, :, :-1, :-1]


# -------------------------------------------------------------------------------------------------- networks
class CUTGenerator(nn.Module):
    """ResNet generator of CUT: c7s1-ngf, two down-samplings, ``n_blocks`` residual blocks, two up-samplings, c7s1.

    Layer for layer the official ``ResnetGenerator`` of CUT (``model.<i>`` indices and ``filt`` buffers), so official
    state dicts load key for key. :meth:`encode` returns the outputs of chosen layers of ``model`` (PatchNCE's
    features); with ``antialias=antialias_up=False`` the network is CycleGAN's.

    Args:
        input_nc: input channels.
        output_nc: output channels.
        ngf: filters of the first conv layer.
        norm: ``instance`` (paper), ``batch``, ``syncbatch``, ``none``.
        use_dropout: dropout in the residual blocks (official default: off).
        n_blocks: residual blocks (9 for 256x256 images).
        antialias: stride-1 conv + :class:`Downsample` instead of a stride-2 conv (official ``--no_antialias``
            unset).
        antialias_up: :class:`Upsample` + 3x3 conv instead of a transposed conv (``--no_antialias_up`` unset).
    """

    #: Two down-samplings: other sizes run, but come out rounded up to a multiple of 4.
    size_multiple = 4

    def __init__(
        self,
        input_nc: int = 3,
        output_nc: int = 3,
        ngf: int = 64,
        norm: str = "instance",
        use_dropout: bool = False,
        n_blocks: int = 9,
        antialias: bool = True,
        antialias_up: bool = True,
    ) -> None:
        super().__init__()
        norm_layer, bias = get_norm_layer(norm), conv_bias(norm)
        # In-place ReLUs as in the official code: a feature taken at a norm layer (e.g. nce_layers 2, 5) is then the
        # rectified tensor there too.
        layers: list[nn.Module] = [
            nn.ReflectionPad2d(3),
            nn.Conv2d(input_nc, ngf, 7, bias=bias),
            norm_layer(ngf),
            nn.ReLU(inplace=True),
        ]
        for c in (ngf, 2 * ngf):
            if antialias:
                layers += [
                    nn.Conv2d(c, 2 * c, 3, padding=1, bias=bias),
                    norm_layer(2 * c),
                    nn.ReLU(inplace=True),
                    Downsample(2 * c),
                ]
            else:
                layers += [
                    nn.Conv2d(c, 2 * c, 3, stride=2, padding=1, bias=bias),
                    norm_layer(2 * c),
                    nn.ReLU(inplace=True),
                ]
        layers += [ResnetBlock(4 * ngf, "reflect", norm, use_dropout) for _ in range(n_blocks)]
        for c in (4 * ngf, 2 * ngf):
            if antialias_up:
                layers += [Upsample(c), nn.Conv2d(c, c // 2, 3, padding=1, bias=bias)]
            else:
                layers += [nn.ConvTranspose2d(c, c // 2, 3, stride=2, padding=1, output_padding=1, bias=bias)]
            layers += [norm_layer(c // 2), nn.ReLU(inplace=True)]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, output_nc, 7), nn.Tanh()]
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)

    def forward_features(self, x: torch.Tensor, layers: Sequence[int]) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """The output and the outputs of ``model[i]`` for ``i`` in ``layers`` (sorted), from one pass.

        The features equal :meth:`encode`'s: that stops at the last requested layer, so an in-place ReLU right after
        it has not rectified it yet; here that one feature is copied before the pass goes on.
        """
        feats = []
        last = max(layers, default=-1)
        for i, layer in enumerate(self.model):
            x = layer(x)
            if i in layers:
                followed_in_place = i == last < len(self.model) - 1 and getattr(self.model[i + 1], "inplace", False)
                feats.append(x.clone() if followed_in_place else x)
        return x, feats

    def encode(self, x: torch.Tensor, layers: Sequence[int]) -> list[torch.Tensor]:
        """The outputs of ``model[i]`` for ``i`` in ``layers`` (sorted), running only up to the last of them."""
        feats = []
        for i, layer in enumerate(self.model[: max(layers) + 1]):
            x = layer(x)
            if i in layers:
                feats.append(x)
        return feats

    def layer_channels(self, layers: Sequence[int]) -> list[int]:
        """Channels of the outputs of ``model[i]`` for ``i`` in ``layers``, without running the network."""
        if not layers or max(layers) >= len(self.model) or min(layers) < 0:
            raise ValueError(f"nce_layers must index the generator's {len(self.model)} layers, got {list(layers)}")
        channels, c = [], self.model[1].in_channels
        for i, layer in enumerate(self.model):
            c = getattr(layer, "out_channels", c)  # convs change the channels; blocks, norms, sampling keep them
            if i in layers:
                channels.append(c)
        return channels


class CUTPatchDiscriminator(nn.Module):
    """70x70 PatchGAN of CUT: each stride-2 4x4 conv becomes a stride-1 conv + activation + :class:`Downsample`.

    Layer for layer the official anti-aliased ``NLayerDiscriminator`` (``model.<i>``, ``filt`` buffers).

    Args:
        input_nc: input channels.
        ndf: filters of the first layer.
        n_layers: down-sampling layers (3 = the 70x70 PatchGAN).
        norm: normalization of every layer but the first.
    """

    def __init__(self, input_nc: int = 3, ndf: int = 64, n_layers: int = 3, norm: str = "instance") -> None:
        super().__init__()
        if n_layers < 1:
            raise ValueError(f"n_layers must be >= 1, got {n_layers}")
        norm_layer, bias = get_norm_layer(norm), conv_bias(norm)
        layers: list[nn.Module] = [
            nn.Conv2d(input_nc, ndf, 4, padding=1),
            nn.LeakyReLU(0.2, inplace=True),
            Downsample(ndf),
        ]
        mult = 1
        for n in range(1, n_layers):
            prev, mult = mult, min(2**n, 8)
            layers += [
                nn.Conv2d(ndf * prev, ndf * mult, 4, padding=1, bias=bias),
                norm_layer(ndf * mult),
                nn.LeakyReLU(0.2, inplace=True),
                Downsample(ndf * mult),
            ]
        prev, mult = mult, min(2**n_layers, 8)
        layers += [
            nn.Conv2d(ndf * prev, ndf * mult, 4, padding=1, bias=bias),
            norm_layer(ndf * mult),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf * mult, 1, 4, padding=1),
        ]
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


def sample_patch_ids(locations: int, num_patches: int, device: torch.device) -> torch.Tensor:
    """``min(num_patches, locations)`` distinct random locations, drawn on the CPU from torch's global RNG."""
    return torch.randperm(locations)[:num_patches].to(device)


def coin_flip() -> bool:
    """True with probability 1/2, from torch's global RNG (FastCUT's random flip of a batch)."""
    return bool(torch.rand(()) < 0.5)


class PatchSampleMLP(nn.Module):
    """The paper's H (official ``PatchSampleF``, ``--netF mlp_sample``): sample locations, project, normalise.

    For each feature map l, the same ``num_patches`` random locations of every image are gathered, passed through
    ``mlp_<l>`` (Linear-ReLU-Linear to ``nc`` dims; omitted for ``--netF sample``) and L2-normalised.

    Args:
        in_channels: channels of each feature map, in order.
        nc: output dimension of every MLP (official ``--netF_nc``: 256).
        use_mlp: project with the MLPs (``mlp_sample``) or only sample and normalise (``sample``).
    """

    def __init__(self, in_channels: Sequence[int], nc: int = 256, use_mlp: bool = True) -> None:
        super().__init__()
        self.use_mlp = use_mlp
        if use_mlp:
            for i, c in enumerate(in_channels):
                self.add_module(f"mlp_{i}", nn.Sequential(nn.Linear(c, nc), nn.ReLU(), nn.Linear(nc, nc)))

    def forward(
        self, feats: Sequence[torch.Tensor], num_patches: int, patch_ids: Sequence[torch.Tensor] | None = None
    ) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Returns the (N · P, C') embeddings per map (image-major, as the official layout) and the locations."""
        out, ids = [], []
        for i, feat in enumerate(feats):  # (N, C, H, W)
            n, c = feat.shape[:2]
            flat = feat.flatten(2)  # (N, C, H·W)
            idx = sample_patch_ids(flat.shape[2], num_patches, feat.device) if patch_ids is None else patch_ids[i]
            x = flat[:, :, idx].transpose(1, 2).reshape(-1, c)  # (N · P, C)
            if self.use_mlp:
                x = getattr(self, f"mlp_{i}")(x)
            # The official Normalize: x / (||x||₂ + 1e-7).
            out.append(x / (x.pow(2).sum(1, keepdim=True).sqrt() + 1e-7))
            ids.append(idx)
        return out, ids


def patch_nce_loss(
    feat_q: torch.Tensor, feat_k: torch.Tensor, n_images: int, tau: float, negatives_from_minibatch: bool = False
) -> torch.Tensor:
    """Per-patch PatchNCE loss ℓ(v, v⁺, v⁻) of Eq. (2), before the mean over patches.

    Args:
        feat_q: (N · P, C) normalised queries v (patches of G(x)), image-major.
        feat_k: (N · P, C) normalised keys of the same locations of x (v⁺ at the same index, the other P - 1
            locations of the same image as v⁻); treated as constants.
        n_images: N.
        tau: the temperature τ (official ``--nce_T``: 0.07).
        negatives_from_minibatch: draw negatives from all N · P patches of the batch (official
            ``--nce_includes_all_negatives_from_minibatch``, for single-image training), not only from the same image.

    Returns:
        (N · P,) cross-entropy of the positive against the negatives.
    """
    feat_q, feat_k = feat_q.float(), feat_k.detach().float()
    dim = feat_q.shape[1]
    l_pos = (feat_q * feat_k).sum(1, keepdim=True)  # (N · P, 1): v · v⁺
    groups = 1 if negatives_from_minibatch else n_images
    q, k = feat_q.view(groups, -1, dim), feat_k.view(groups, -1, dim)
    l_neg = torch.bmm(q, k.transpose(1, 2))  # (groups, P', P'): v · v⁻
    # The diagonal holds the positives again: the official code masks it to -10 (exp(-10 / τ) ≈ 0).
    eye = torch.eye(q.shape[1], dtype=torch.bool, device=q.device)[None]
    l_neg = l_neg.masked_fill(eye, -10.0).view(-1, q.shape[1])
    logits = torch.cat([l_pos, l_neg], 1) / tau
    return F.cross_entropy(
        logits, torch.zeros(logits.shape[0], dtype=torch.long, device=logits.device), reduction="none"
    )


# ------------------------------------------------------------------------------------------------------ model
class CUT(TranslationGAN):
    """Contrastive Unpaired Translation (Park et al. 2020): one generator, PatchNCE instead of a cycle.

    ``mode`` picks the official preset (``--CUT_mode``): the options left at ``None`` take its values.

    Args:
        input_nc: channels of domain A.
        output_nc: channels of domain B (must equal ``input_nc`` when ``nce_idt``: G also translates B).
        mode: ``cut`` (λ_NCE 1, identity NCE, no flips, 200 + 200 epochs) or ``fastcut`` (λ_NCE 10, no identity NCE,
            flip-equivariance, 150 + 50 epochs).
        ngf: generator filters in the first conv layer (paper: 64).
        ndf: discriminator filters in the first conv layer (paper: 64).
        netG: ``resnet_<n>blocks`` (``resnet_9blocks`` for 256x256 in the paper).
        netD: ``basic`` (70x70 PatchGAN), ``n_layers`` (``n_layers_D``) or ``pixel`` (1x1).
        n_layers_D: layers of the ``n_layers`` discriminator.
        normG: generator normalization (official ``--normG``: instance).
        normD: discriminator normalization (``--normD``: instance).
        use_dropout: dropout in G's residual blocks (official ``--no_dropout`` default: off).
        antialias: anti-aliased down-sampling in G and D (official default; ``--no_antialias`` turns it off).
        antialias_up: anti-aliased up-sampling in G (official default; ``--no_antialias_up``).
        gan_mode: ``lsgan`` (paper), ``vanilla``, ``hinge``, ``wgangp`` (no gradient penalty, as in the official CUT).
        lambda_GAN: weight of L_GAN (Eq. 1; paper 1).
        lambda_NCE: weight of the PatchNCE terms (λ_X of Eq. 5; ``None``: 1 for CUT, 10 for FastCUT).
        nce_idt: add the identity term L_PatchNCE(G, H, Y) on (y, G(y)) (λ_Y of Eq. 5; ``None``: CUT on, FastCUT
            off). As in the official code the two terms are averaged: λ_NCE · (L_X + L_Y) / 2.
        nce_layers: indices of G's ``model`` layers whose outputs PatchNCE compares (official ``0,4,8,12,16``).
        netF: ``mlp_sample`` (paper: the two-layer MLP H) or ``sample`` (no projection, an ablation).
        netF_nc: output dimension of H's MLPs (official 256).
        nce_T: temperature τ of Eq. (2) (official 0.07).
        num_patches: locations sampled per layer and image (official 256).
        nce_includes_all_negatives_from_minibatch: negatives from every image of the batch, not only the same one
            (official default off; on for single-image training).
        flip_equivariance: flip a batch horizontally with probability 1/2 before G and flip G's features of the
            output back for PatchNCE (``None``: FastCUT on, CUT off).
        n_epochs: epochs at the initial learning rate (``None``: 200 for CUT, 150 for FastCUT).
        n_epochs_decay: epochs of linear decay (``None``: 200 for CUT, 50 for FastCUT).
        init_type: weight initialisation (official CUT: ``xavier`` with gain ``init_gain`` = 0.02).
        val_metrics: what validation and test report for G(a) against real B (``fid``, ``kid``, ``acc``; see
            :class:`~translation_zoo.models.CycleGAN`). ``None``: ``fid`` and ``kid`` if ``feature_extractor`` is set.
        feature_extractor: feature space of fid/kid/acc (``digits_uci`` for the demo's MNIST→UCI task,
            ``inception`` for photos).
        **kwargs: optimiser/schedule options of :class:`TranslationGAN`.
    """

    batch_kind = "unpaired"
    tiny_config = {
        "input_nc": 1,
        "output_nc": 1,
        "ngf": 8,
        "ndf": 8,
        "netG": "resnet_2blocks",
        "nce_layers": (0, 4, 8, 12),
        "netF_nc": 16,
        "num_patches": 32,
    }

    # Official weights: ``<epoch>_net_{G,D,F}.pth`` of ``--model cut``, key for key ours; the released models
    # (horse2zebra, cat2dog, cityscapes; CUT and FastCUT) hold ``latest_net_G.pth`` only, as test.py loads only G.
    official_names = ("cut", "fastcut")
    official_networks = {"G": "gen", "D": "disc", "F": "mlp_head"}
    #: Constructor options implied by the name given to ``from_official`` (the weights look alike).
    official_presets: ClassVar[dict[str, dict[str, Any]]] = {"cut": {"mode": "cut"}, "fastcut": {"mode": "fastcut"}}

    @classmethod
    def released_weights(cls) -> tuple[Pretrained, ...]:
        """The six released generators: ``cut/<dataset>_<mode>`` (the official ``--name``, e.g. ``horse2zebra_cut``)."""
        return tuple(
            Pretrained(
                name=f"cut/{dataset}_{mode}",
                model="CUT",
                official_model=mode,
                files=(
                    WeightsFile(
                        "G",
                        RELEASE_URL,
                        "latest_net_G.pth",
                        archive="tar",
                        member=f"checkpoints/{dataset}_{mode}_pretrained/latest_net_G.pth",
                    ),
                ),
                options={**RELEASE_OPTIONS, "mode": mode},
                source=source,
                target=target,
                dataset=ours,
                licence=CUT_LICENCE,
                notes=" ".join(t for t in (note, _RELEASE_NOTE) if t),
            )
            for dataset, (source, target, ours, note) in RELEASES.items()
            for mode in ("cut", "fastcut")
        )

    def __init__(
        self,
        input_nc: int = 3,
        output_nc: int = 3,
        mode: Literal["cut", "fastcut"] = "cut",
        ngf: int = 64,
        ndf: int = 64,
        netG: str = "resnet_9blocks",
        netD: Literal["basic", "n_layers", "pixel"] = "basic",
        n_layers_D: int = 3,
        normG: Literal["instance", "batch", "syncbatch", "none"] = "instance",
        normD: Literal["instance", "batch", "syncbatch", "none"] = "instance",
        use_dropout: bool = False,
        antialias: bool = True,
        antialias_up: bool = True,
        gan_mode: Literal["vanilla", "lsgan", "hinge", "wgangp"] = "lsgan",
        lambda_GAN: float = 1.0,
        lambda_NCE: float | None = None,
        nce_idt: bool | None = None,
        nce_layers: tuple[int, ...] = (0, 4, 8, 12, 16),
        netF: Literal["mlp_sample", "sample"] = "mlp_sample",
        netF_nc: int = 256,
        nce_T: float = 0.07,
        num_patches: int = 256,
        nce_includes_all_negatives_from_minibatch: bool = False,
        flip_equivariance: bool | None = None,
        n_epochs: int | None = None,
        n_epochs_decay: int | None = None,
        init_type: Literal["normal", "xavier", "kaiming", "orthogonal"] = "xavier",
        val_metrics: list[str] | None = None,
        feature_extractor: str | None = None,
        **kwargs: Any,
    ) -> None:
        if mode not in MODE_DEFAULTS:
            raise ValueError(f"mode must be 'cut' or 'fastcut' (the official --CUT_mode), got {mode!r}")
        preset = MODE_DEFAULTS[mode]
        # Resolved before the base records the hyper-parameters, so checkpoints hold the values used.
        lambda_NCE = preset["lambda_NCE"] if lambda_NCE is None else lambda_NCE
        nce_idt = preset["nce_idt"] if nce_idt is None else nce_idt
        flip_equivariance = preset["flip_equivariance"] if flip_equivariance is None else flip_equivariance
        n_epochs = preset["n_epochs"] if n_epochs is None else n_epochs
        n_epochs_decay = preset["n_epochs_decay"] if n_epochs_decay is None else n_epochs_decay
        nce_layers = tuple(int(i) for i in nce_layers)
        super().__init__(n_epochs=n_epochs, n_epochs_decay=n_epochs_decay, init_type=init_type, **kwargs)
        hp = self.hparams
        # Under LightningCLI, save_hyperparameters records the config as given (None for a preset value), not the
        # frame's resolved locals: write the values used, which checkpoints and the LR schedule read.
        hp.update(
            lambda_NCE=lambda_NCE,
            nce_idt=nce_idt,
            flip_equivariance=flip_equivariance,
            n_epochs=n_epochs,
            n_epochs_decay=n_epochs_decay,
            nce_layers=nce_layers,
        )
        m = re.fullmatch(r"resnet_(\d+)blocks", netG)
        if m is None:
            raise ValueError(f"netG must be resnet_<n>blocks (CUT's encoder-decoder), got {netG!r}")
        if nce_idt and input_nc != output_nc:
            raise ValueError(
                f"nce_idt needs input_nc == output_nc (G also translates B; got {input_nc} and {output_nc}): "
                "set nce_idt=False"
            )
        if list(nce_layers) != sorted(set(nce_layers)):
            raise ValueError(f"nce_layers must be increasing layer indices, got {list(nce_layers)}")
        if num_patches < 1:
            raise ValueError(f"num_patches must be >= 1, got {num_patches}")

        # Built in the official order (G, D, then F at the first batch), so a seed gives the official initial weights.
        self.gen = init_weights(
            CUTGenerator(input_nc, output_nc, ngf, normG, use_dropout, int(m.group(1)), antialias, antialias_up),
            hp.init_type,
            hp.init_gain,
        )
        if netD == "pixel":
            disc: nn.Module = PixelDiscriminator(output_nc, ndf, normD)
        else:
            n_layers = 3 if netD == "basic" else n_layers_D
            disc = (CUTPatchDiscriminator if antialias else PatchDiscriminator)(output_nc, ndf, n_layers, normD)
        self.disc = init_weights(disc, hp.init_type, hp.init_gain)
        channels = self.gen.layer_channels(nce_layers)
        # The paper's H; the official code creates it lazily from the first batch's features, here from the known
        # channels. Without PatchNCE (lambda_NCE = 0) the official code never creates it.
        self.mlp_head = (
            init_weights(PatchSampleMLP(channels, netF_nc, netF == "mlp_sample"), hp.init_type, hp.init_gain)
            if lambda_NCE > 0
            else None
        )
        self.criterion_gan = GANLoss(gan_mode)
        self.eval_metrics = self.build_eval_metrics(val_metrics, feature_extractor, paired=False)

    # ------------------------------------------------------------------------------------------ players
    def param_groups(self) -> dict[str, list[nn.Module]]:
        # H is trained with G (official: its own Adam with G's settings; the same update).
        gen = [self.gen] if self.mlp_head is None else [self.gen, self.mlp_head]
        return {"G": gen, "D": [self.disc]}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.gen(x)

    # ------------------------------------------------------------------------------------------ training
    def training_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        hp = self.hparams
        real_a, real_b = batch["A"], batch["B"]  # (N, input_nc, H, W), (N, output_nc, H, W)
        n = real_a.shape[0]
        opt_g, opt_d = self.optimizers()

        # G runs once, on A and (for the identity NCE term) B together, as the official forward().
        real = torch.cat([real_a, real_b]) if hp.nce_idt else real_a
        flipped = hp.flip_equivariance and coin_flip()  # FastCUT's flip-equivariance
        if flipped:
            real = real.flip(3)
        nce = hp.lambda_NCE > 0
        reuse = nce and self.keys_from_forward and not flipped
        if reuse:
            fake, feats_real = self.gen.forward_features(real, hp.nce_layers)
        else:
            fake = self.gen(real)
        fake_b = fake[:n]  # G(x)

        # D step first, as in the official optimize_parameters: LSGAN form of Eq. (1), halved.
        with self.toggled_optimizer(opt_d):
            self._step(
                opt_d,
                {
                    "d_fake": 0.5 * self.criterion_gan(self.disc(fake_b.detach()), False),
                    "d_real": 0.5 * self.criterion_gan(self.disc(real_b), True),
                },
            )

        # G step: L_GAN(G, D, X, Y) + λ_X L_PatchNCE(G, H, X) + λ_Y L_PatchNCE(G, H, Y) — Eq. (5).
        with self.toggled_optimizer(opt_g):
            losses: dict[str, torch.Tensor] = {}
            if hp.lambda_GAN > 0:
                # L_GAN(G, D, X, Y) of Eq. (1), generator side (LSGAN: (D(G(x)) - 1)²).
                losses["g_gan"] = hp.lambda_GAN * self.criterion_gan(self.disc(fake_b), True, for_discriminator=False)
            if nce:
                # λ_X L_PatchNCE(G, H, X) (Eq. 3) and, for CUT, λ_Y L_PatchNCE(G, H, Y) on (y, G(y)), each as the
                # official calculate_NCE_loss: queries from G's encoder on the translation (flipped back if the batch
                # was flipped), keys of the unflipped source; the images of one term share their patch locations.
                terms = []
                parts = ((slice(0, n), real_a), (slice(n, None), real_b)) if hp.nce_idt else ((slice(0, n), real_a),)
                for part, src in parts:
                    # One encoder pass per term (not one over [G(x); G(y)] sliced after): the slices' backward
                    # would write both halves into full-size zero tensors, at every layer.
                    feats_out = self.gen.encode(fake[part], hp.nce_layers)
                    if flipped:
                        feats_out = [f.flip(3) for f in feats_out]
                    if reuse:
                        feats_src = [f[part] for f in feats_real]  # detached in patch_nce
                    else:
                        # A flipped batch, or batch norm / dropout in G: the official second pass (its keys carry a
                        # graph there, but the loss detaches them after H).
                        with torch.no_grad():
                            feats_src = self.gen.encode(src, hp.nce_layers)
                    terms.append(self.patch_nce(feats_src, feats_out))
                if hp.nce_idt:
                    # λ_X = λ_Y: the official code averages the two terms, λ_NCE · (L_X + L_Y) / 2.
                    losses["g_nce"], losses["g_nce_idt"] = 0.5 * terms[0], 0.5 * terms[1]
                else:
                    losses["g_nce"] = terms[0]
            self._step(opt_g, losses)

    @property
    def keys_from_forward(self) -> bool:
        """Whether the PatchNCE keys may come from G's forward pass on [x; y] (see the module docstring).

        True when G computes each image independently of the others in its batch, deterministically: instance norm
        or none, no dropout (the paper's G). With batch norm or dropout the official second pass runs instead (in
        the official order: queries, then keys), so batch norm sees the official batches.
        """
        hp = self.hparams
        return hp.normG in ("instance", "none") and not hp.use_dropout

    def patch_nce(self, feats_src: list[torch.Tensor], feats_out: list[torch.Tensor]) -> torch.Tensor:
        """λ_NCE · L_PatchNCE(G, H, ·) of Eq. (3), averaged over the layers as in the official code.

        Args:
            feats_src: G's encoder features of the source images (the keys; no gradient flows into them).
            feats_out: G's encoder features of their translations (the queries).
        """
        hp = self.hparams
        n = feats_out[0].shape[0]
        with torch.no_grad():  # the keys are constants (the official PatchNCELoss detaches them after H)
            keys, ids = self.mlp_head([f.detach() for f in feats_src], hp.num_patches)
        queries, _ = self.mlp_head(feats_out, hp.num_patches, ids)
        total = sum(
            patch_nce_loss(q, k, n, hp.nce_T, hp.nce_includes_all_negatives_from_minibatch).mean()
            for q, k in zip(queries, keys, strict=True)
        )
        return hp.lambda_NCE * total / len(queries)

    @torch.no_grad()
    def visuals(self, batch: dict[str, Any]) -> list[list[torch.Tensor]]:
        real_a, real_b = batch["A"], batch["B"]
        rows = [[real_a, self.gen(real_a)]]
        if self.hparams.input_nc == self.hparams.output_nc:
            rows.append([real_b, self.gen(real_b)])  # the identity mapping the NCE identity term shapes
        return rows

    # ---------------------------------------------------------------------------------- official weights
    @classmethod
    def official_options(cls, state: dict[str, StateDict], hparams: dict[str, Any]) -> dict[str, Any]:
        """Architecture read back from official ``G``/``D``/``F`` state dicts (see the module docstring)."""
        evidence: dict[str, Evidence] = {}
        if "G" in state:
            evidence["G"] = _infer_generator(state["G"])
        d_in = None
        if "D" in state:
            evidence["D"], d_in = _infer_discriminator(state["D"])
        options = merge_evidence(evidence, hparams)

        def option(name: str) -> Any:
            return hparams.get(name, options.get(name, default_option(cls, name)))

        if d_in is not None and d_in != option("output_nc"):
            raise OfficialWeightsError(
                f"D: its first conv takes {d_in} channels, but it judges domain B and output_nc = "
                f"{option('output_nc')}: set output_nc={d_in}"
            )
        if "F" in state:
            options.update(_check_head(state["F"], option, hparams))
        if "nce_idt" not in hparams and option("input_nc") != option("output_nc"):
            options["nce_idt"] = False  # these weights cannot have been trained with the identity term
        return options


# ------------------------------------------------------------------------------ official architecture read-back
def _norm_evidence(sd: StateDict, norm: str, conv_bias_key: str, option: str, ev: Evidence) -> None:
    """Batch norm has affine weights and statistics (and no conv bias); instance norm neither; ``none`` no bias."""
    if f"{norm}running_mean" in sd and f"{norm}weight" in sd:
        ev.add(option, "batch", f"found {norm}running_mean: batch-norm statistics")
    elif conv_bias_key in sd:
        ev.add(option, "instance", f"found {conv_bias_key} and no parameters at {norm[:-1]}: instance norm")
    else:
        ev.add(option, "none", f"found neither norm parameters at {norm[:-1]} nor {conv_bias_key}: no normalisation")


def _infer_generator(sd: StateDict) -> Evidence:
    ev = Evidence()
    w = sd.get("model.1.weight")
    if w is None or w.dim() != 4 or w.shape[-1] != 7:
        raise OfficialWeightsError(
            f"unrecognised generator weights: expected CUT's ResnetGenerator, found {sorted(sd)[:6]}"
        )
    ev.add("ngf", w.shape[0], f"model.1.weight has shape {tuple(w.shape)}")
    ev.add("input_nc", w.shape[1], f"model.1.weight has shape {tuple(w.shape)}")
    down = "model.7.filt" in sd  # the first Downsample's filter
    ev.add("antialias", down, f"{'found' if down else 'no'} model.7.filt (the anti-aliased down-sampling's filter)")
    start = 12 if down else 10
    blocks = sorted({int(m.group(1)) for k in sd if (m := re.match(r"model\.(\d+)\.conv_block\.", k))})
    if blocks != list(range(start, start + len(blocks))):
        raise OfficialWeightsError(f"ResNet generator weights with residual blocks at unexpected indices {blocks}")
    n = len(blocks)
    ev.add("netG", f"resnet_{n}blocks", f"found {n} residual blocks model.{start}… ")
    up = start + n
    aa_up = f"model.{up}.filt" in sd  # the first Upsample's filter
    ev.add("antialias_up", aa_up, f"model.{up} {'is' if aa_up else 'is not'} an Upsample with a filt buffer")
    head = f"model.{up + (9 if aa_up else 7)}.weight"
    if head not in sd:
        raise OfficialWeightsError(f"generator weights without their output conv {head}")
    ev.add("output_nc", sd[head].shape[0], f"{head} has shape {tuple(sd[head].shape)}")
    if n:
        pattern = re.compile(rf"model\.{start}\.conv_block\.(\d+)\.weight$")
        second = max(int(m.group(1)) for k, v in sd.items() if (m := pattern.match(k)) and v.dim() == 4)
        ev.add("use_dropout", second == 6, f"second conv of each residual block at conv_block.{second}")
    _norm_evidence(sd, "model.2.", "model.1.bias", "normG", ev)
    return ev


def _infer_discriminator(sd: StateDict) -> tuple[Evidence, int]:
    ev = Evidence()
    if "net.0.weight" in sd:
        ev.add("netD", "pixel", "found net.0.weight, the 1x1 PixelGAN")
        ev.add("ndf", sd["net.0.weight"].shape[0], f"net.0.weight has shape {tuple(sd['net.0.weight'].shape)}")
        _norm_evidence(sd, "net.3.", "net.2.bias", "normD", ev)
        return ev, sd["net.0.weight"].shape[1]
    if "model.0.weight" not in sd:
        raise OfficialWeightsError(f"unrecognised discriminator weights: found {sorted(sd)[:6]}")
    convs = sorted(
        int(m.group(1)) for k, v in sd.items() if (m := re.match(r"model\.(\d+)\.weight$", k)) and v.dim() == 4
    )
    aa = "model.2.filt" in sd
    ev.add("antialias", aa, f"{'found' if aa else 'no'} model.2.filt (the anti-aliased down-sampling's filter)")
    n_layers, rest = divmod(convs[-1] - 2, 4 if aa else 3)
    if rest or n_layers < 1:
        raise OfficialWeightsError(f"PatchGAN weights with their last conv at model.{convs[-1]}: not the official D")
    ev.add("netD", "basic" if n_layers == 3 else "n_layers", f"last conv at model.{convs[-1]}: {n_layers} layers")
    ev.add("n_layers_D", n_layers, f"last conv at model.{convs[-1]}")
    ev.add("ndf", sd["model.0.weight"].shape[0], f"model.0.weight has shape {tuple(sd['model.0.weight'].shape)}")
    first = 3 if aa else 2  # the second conv; its norm follows it
    _norm_evidence(sd, f"model.{first + 1}.", f"model.{first}.bias", "normD", ev)
    return ev, sd["model.0.weight"].shape[1]


def _check_head(sd: StateDict, option: Any, hparams: dict[str, Any]) -> dict[str, Any]:
    """F: its MLPs' widths give ``netF_nc``; their number and inputs must fit ``nce_layers`` of the generator."""
    mlps = sorted(int(m.group(1)) for k in sd if (m := re.match(r"mlp_(\d+)\.0\.weight$", k)))
    if not mlps:
        raise OfficialWeightsError("F has no mlp_<i>.0.weight: not the official PatchSampleF with --netF mlp_sample")
    nc = sd["mlp_0.0.weight"].shape[0]
    if "netF_nc" in hparams and hparams["netF_nc"] != nc:
        raise OfficialWeightsError(f"F: mlp_0.0.weight has {nc} outputs, you passed netF_nc={hparams['netF_nc']}")
    gen = CUTGenerator(
        option("input_nc"), option("output_nc"), option("ngf"), "none", False,
        int(re.fullmatch(r"resnet_(\d+)blocks", option("netG")).group(1)), option("antialias"), option("antialias_up"),
    )  # fmt: skip
    layers = option("nce_layers")
    found = [sd[f"mlp_{i}.0.weight"].shape[1] for i in mlps]
    expected = gen.layer_channels(layers)
    if found != expected:
        raise OfficialWeightsError(
            f"F: its {len(found)} MLPs take {found} channels, but the generator's layers {list(layers)} have "
            f"{expected}: set nce_layers to the official --nce_layers the weights were trained with"
        )
    return {"netF_nc": nc}


__all__ = [
    "CUT",
    "CUTGenerator",
    "CUTPatchDiscriminator",
    "Downsample",
    "PatchSampleMLP",
    "Upsample",
    "patch_nce_loss",
]
