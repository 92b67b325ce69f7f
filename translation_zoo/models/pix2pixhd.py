"""pix2pixHD: High-Resolution Image Synthesis and Semantic Manipulation with Conditional GANs.

Wang, Liu, Zhu, Tao, Kautz, Catanzaro. CVPR 2018. arXiv:1711.11585
Reference code: NVIDIA/pix2pixHD (``models/networks.py``, ``models/pix2pixHD_model.py``, ``options/*.py``,
``train.py``, ``encode_features.py``), commit 14b3b3c.

Input (§3.3, §3.4): the label map as a one-hot of ``label_nc`` channels (+1 with ``contain_dontcare_label``), the
boundary map of the instance map (a pixel is 1 where any 4-neighbour has another instance id, the official
``get_edges``) and, with ``instance_feat``/``label_feat``, ``feat_num`` channels of instance-wise features.

Networks (the official defaults, label2city): G1 ``GlobalGenerator`` (ngf 64, 4 down-samplings, 9 residual blocks,
reflection padding, instance norm); G = {G1, G2} ``LocalEnhancer`` (``netG="local"``, ngf 32: the global part gets
ngf·2^n_local_enhancers = 64 and drops its last 3 layers; each enhancer a 7x7 conv + one down-sampling, 3 residual
blocks, one up-sampling; the input pyramid is 3x3 average pooling); D: ``num_D`` = 2 PatchGANs of 3 layers on an
image pyramid with intermediate features (:class:`~translation_zoo.nn.multiscale.MultiscaleDiscriminator`);
E: the instance-wise feature ``Encoder`` (nef 16, 4 down-samplings, instance-wise average pooling of its output).
N(0, 0.02) conv weights with PyTorch's default biases, as the official ``weights_init``.

Objective (Eq. 5): min_G (Σ_k L_GAN(G, D_k) + λ Σ_k L_FM(G, D_k)) + λ_VGG L_VGG, with LSGAN (the official
default), λ = ``lambda_feat`` = 10 (Eq. 4, weights 4/(n_layers_D+1) per layer and 1/num_D per scale) and the VGG19
perceptual loss with λ 10 (the official code weights it by ``lambda_feat`` too). D minimises ½(L_real + L_fake).
Adam(2e-4, β = (0.5, 0.999)); batch 1; ``niter`` = ``n_epochs`` = 100 epochs at the initial rate, then
``niter_decay`` = ``n_epochs_decay`` = 100 epochs of linear decay (the official update: after epoch e > niter,
lr -= lr0/niter_decay, so the last epoch runs at lr0/niter_decay); ``niter_fix_global`` epochs first train only the
outermost local enhancer (and E), then a fresh Adam for all of G (the official ``update_fixed_params``). Each
iteration computes the fake once, updates G and then D (the official order).

Test time (§3.4): with instance features, ``fit_feature_clusters`` runs the official ``encode_features.py``: each
training instance's encoded feature (and its area relative to (H·W)/32) per class, K-means (``n_clusters`` = 10,
``random_state=0``) over the instances larger than half that unit; ``forward`` then gives each instance a random
cluster centre of its class (the official ``sample_features``), or E(real image) with ``real=``.

Parameter counts equal the official networks' (``networks.py`` imported side by side; tests/test_pix2pixhd.py pins
them), label2city with 36 input channels (35 labels + edges) and 3 outputs: netG global (ngf 64) 182,546,755; netG
local (ngf 32, the released label2city_1024p G) 182,857,059; netD (39 inputs) 5,603,202 with num_D 2 and 8,404,803
with num_D 3; netE (nef 16) 788,803.

Deviations:
- The label of an instance (feature encoding and sampling) is read from the label map at the instance's pixel; the
  official code derives it as ``id // 1000`` for ids ≥ 1000: the same on Cityscapes' instance encoding, and defined
  for other encodings too.
- Instances whose class has no clusters get zero features (the official map is left uninitialised there); the
  cluster choice uses torch's RNG, not NumPy's; K-means runs with ``n_init=10`` (the official scikit-learn default
  of its time).
- ``gan_mode="vanilla"`` (the official ``--no_lsgan``) is BCE on logits. The official ``--no_lsgan`` with feature
  matching loses its sigmoid (its ``MultiscaleDiscriminator`` keeps only ``n_layers_D + 2`` layers) and feeds
  logits to ``BCELoss``; without feature matching it is sigmoid + BCE, the same loss as here.
- With ``niter_fix_global`` > ``niter`` the official code resets G's learning rate to lr0 at the switch; here the
  schedule continues. ``contain_dontcare_label`` is SPADE's option (pix2pixHD has none; off by default).
- Out-of-range label ids give an all-zero one-hot (the official scatter fails); without an instance map the label
  map's boundaries are used (what translating a single label file or an exported graph can offer).
- Not implemented: ``label_nc=0`` (RGB inputs), precomputed feature maps (``--load_features``), fp16 via apex.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from ..losses import GANLoss, ImagePool
from ..losses.feature_matching import feature_matching_loss
from ..losses.perceptual import VGGLoss
from ..nn import init_weights
from ..nn.conv import get_norm_layer
from ..nn.label_maps import get_edges, label_colors, label_ids, one_hot
from ..nn.multiscale import MultiscaleDiscriminator
from .base import InferenceSpec, TranslationGAN

#: Trainable parameters of the official networks (networks.py at 14b3b3c, imported side by side) for label2city
#: (label_nc 35 + edge map = 36 inputs, 3 outputs, instance norm); pinned in tests/test_pix2pixhd.py.
OFFICIAL_PARAMS = {
    "G_global_ngf64": 182_546_755,
    "G_local_ngf32": 182_857_059,
    "D_num_D2_input39": 5_603_202,
    "D_num_D3_input39": 8_404_803,
    "E_nef16": 788_803,
}


# ------------------------------------------------------------------------------------------------- inputs
def instance_average(features: torch.Tensor, instance: torch.Tensor) -> torch.Tensor:
    """Instance-wise average pooling (§3.4): every pixel gets its instance's mean feature, per image and channel.

    Args:
        features: (N, C, H, W).
        instance: (N, 1, H, W) integer ids.
    """
    n, c, h, w = features.shape
    _, inverse = torch.unique(instance, return_inverse=True)  # ids -> 0..K-1
    k = int(inverse.max()) + 1
    seg = (inverse.view(n, h * w) + k * torch.arange(n, device=features.device).view(n, 1)).view(-1)  # (N·H·W,)
    flat = features.permute(0, 2, 3, 1).reshape(-1, c)  # (N·H·W, C)
    sums = flat.new_zeros(n * k, c).index_add(0, seg, flat)
    counts = torch.bincount(seg, minlength=n * k).clamp_min(1).to(flat.dtype)
    return (sums / counts[:, None])[seg].view(n, h, w, c).permute(0, 3, 1, 2)


# ----------------------------------------------------------------------------------------------- networks
class ResnetBlock(nn.Module):
    """x + [pad, conv3x3, norm, ReLU, pad, conv3x3, norm](x): the official pix2pixHD block (convs keep their bias
    with any norm); keys ``conv_block.<i>``."""

    def __init__(self, dim: int, norm_layer, padding_type: str = "reflect") -> None:
        super().__init__()
        pad = {"reflect": nn.ReflectionPad2d, "replicate": nn.ReplicationPad2d}.get(padding_type)
        p = 0 if pad else 1
        layers: list[nn.Module] = []
        for i in range(2):
            layers += [pad(1)] if pad else []
            layers += [nn.Conv2d(dim, dim, 3, padding=p), norm_layer(dim)]
            if i == 0:
                layers.append(nn.ReLU(True))
        self.conv_block = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv_block(x)


def _global_layers(input_nc, output_nc, ngf, n_downsampling, n_blocks, norm_layer) -> list[nn.Module]:
    layers: list[nn.Module] = [nn.ReflectionPad2d(3), nn.Conv2d(input_nc, ngf, 7), norm_layer(ngf), nn.ReLU(True)]
    for i in range(n_downsampling):
        m = 2**i
        layers += [nn.Conv2d(ngf * m, ngf * m * 2, 3, stride=2, padding=1), norm_layer(ngf * m * 2), nn.ReLU(True)]
    layers += [ResnetBlock(ngf * 2**n_downsampling, norm_layer) for _ in range(n_blocks)]
    for i in range(n_downsampling):
        m = 2 ** (n_downsampling - i)
        layers += [
            nn.ConvTranspose2d(ngf * m, ngf * m // 2, 3, stride=2, padding=1, output_padding=1),
            norm_layer(ngf * m // 2),
            nn.ReLU(True),
        ]
    return layers + [nn.ReflectionPad2d(3), nn.Conv2d(ngf, output_nc, 7), nn.Tanh()]


class GlobalGenerator(nn.Module):
    """G1 (§3.2): c7s1-ngf, n_downsampling × d(2^i·ngf), n_blocks residual blocks, n_downsampling × u, c7s1-3, tanh.

    Keys ``model.<i>`` as the official ``GlobalGenerator``.
    """

    def __init__(self, input_nc, output_nc, ngf=64, n_downsampling=4, n_blocks=9, norm="instance") -> None:
        super().__init__()
        self.model = nn.Sequential(
            *_global_layers(input_nc, output_nc, ngf, n_downsampling, n_blocks, get_norm_layer(norm))
        )
        self.size_multiple = 2**n_downsampling

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class LocalEnhancer(nn.Module):
    """G = {G1, G2, ...} (§3.2): the global generator (ngf·2^n_local_enhancers filters, last 3 layers dropped) on
    the input down-sampled n times; each local enhancer n adds its front end's features to the coarser output and
    refines at twice the resolution. Keys ``model.*``, ``model<n>_1.*``, ``model<n>_2.*`` as the official class.
    """

    def __init__(
        self,
        input_nc,
        output_nc,
        ngf=32,
        n_downsample_global=4,
        n_blocks_global=9,
        n_local_enhancers=1,
        n_blocks_local=3,
        norm="instance",
    ) -> None:
        super().__init__()
        norm_layer = get_norm_layer(norm)
        self.n_local_enhancers = n_local_enhancers
        glob = _global_layers(
            input_nc, output_nc, ngf * 2**n_local_enhancers, n_downsample_global, n_blocks_global, norm_layer
        )
        self.model = nn.Sequential(*glob[:-3])  # without the final pad/conv/tanh
        for n in range(1, n_local_enhancers + 1):
            f = ngf * 2 ** (n_local_enhancers - n)
            down = [
                nn.ReflectionPad2d(3), nn.Conv2d(input_nc, f, 7), norm_layer(f), nn.ReLU(True),
                nn.Conv2d(f, f * 2, 3, stride=2, padding=1), norm_layer(f * 2), nn.ReLU(True),
            ]  # fmt: skip
            up: list[nn.Module] = [ResnetBlock(f * 2, norm_layer) for _ in range(n_blocks_local)]
            up += [nn.ConvTranspose2d(f * 2, f, 3, stride=2, padding=1, output_padding=1), norm_layer(f), nn.ReLU(True)]
            if n == n_local_enhancers:
                up += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, output_nc, 7), nn.Tanh()]
            self.add_module(f"model{n}_1", nn.Sequential(*down))
            self.add_module(f"model{n}_2", nn.Sequential(*up))
        self.downsample = nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False)
        self.size_multiple = 2 ** (n_downsample_global + n_local_enhancers)

    def local_parameters(self) -> list[nn.Parameter]:
        """The outermost enhancer's parameters: what ``niter_fix_global`` trains alone (official: the keys starting
        with ``model<n_local_enhancers>``)."""
        n = self.n_local_enhancers
        return [*getattr(self, f"model{n}_1").parameters(), *getattr(self, f"model{n}_2").parameters()]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pyramid = [x]
        for _ in range(self.n_local_enhancers):
            pyramid.append(self.downsample(pyramid[-1]))
        out = self.model(pyramid[-1])
        for n in range(1, self.n_local_enhancers + 1):
            front = getattr(self, f"model{n}_1")(pyramid[self.n_local_enhancers - n])
            out = getattr(self, f"model{n}_2")(front + out)
        return out


class Encoder(nn.Module):
    """E (§3.4): an encoder-decoder (c7s1-nef, n × down, n × up, c7s1-feat_num, tanh) followed by instance-wise
    average pooling. Keys ``model.<i>`` as the official ``Encoder``."""

    def __init__(self, input_nc=3, output_nc=3, ngf=16, n_downsampling=4, norm="instance") -> None:
        super().__init__()
        norm_layer = get_norm_layer(norm)
        layers: list[nn.Module] = [nn.ReflectionPad2d(3), nn.Conv2d(input_nc, ngf, 7), norm_layer(ngf), nn.ReLU(True)]
        for i in range(n_downsampling):
            m = 2**i
            layers += [nn.Conv2d(ngf * m, ngf * m * 2, 3, stride=2, padding=1), norm_layer(ngf * m * 2), nn.ReLU(True)]
        for i in range(n_downsampling):
            m = 2 ** (n_downsampling - i)
            layers += [
                nn.ConvTranspose2d(ngf * m, ngf * m // 2, 3, stride=2, padding=1, output_padding=1),
                norm_layer(ngf * m // 2),
                nn.ReLU(True),
            ]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, output_nc, 7), nn.Tanh()]
        self.model = nn.Sequential(*layers)
        self.size_multiple = 2**n_downsampling

    def forward(self, image: torch.Tensor, instance: torch.Tensor) -> torch.Tensor:
        return instance_average(self.model(image), instance)


def official_init(net: nn.Module, gain: float = 0.02) -> nn.Module:
    """The official ``weights_init``: conv and transposed-conv weights ~ N(0, gain), their biases left at PyTorch's
    default; batch-norm weights ~ N(1, gain), biases 0."""
    for m in net.modules():
        if isinstance(m, nn.modules.conv._ConvNd):
            nn.init.normal_(m.weight, 0.0, gain)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, gain)
            nn.init.zeros_(m.bias)
    return net


class LabelToImage(nn.Module):
    """What ``translate`` and ``export`` run: the grayscale label image in [-1, 1] (N, 1, H, W) -> image, with
    the label map's own boundaries as the edge map."""

    def __init__(self, gen: nn.Module, n_labels: int, use_edges: bool, use_features: bool) -> None:
        super().__init__()
        self.gen, self.n_labels, self.use_edges, self.use_features = gen, n_labels, use_edges, use_features
        self.size_multiple = gen.size_multiple

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.use_features:
            raise NotImplementedError(
                "a pix2pixHD with instance features samples them per instance at test time: use the model itself "
                "(forward / translate), not an exported graph"
            )
        ids = label_ids(x)
        inputs = [one_hot(ids, self.n_labels, x.dtype)]
        if self.use_edges:
            inputs.append(get_edges(ids).to(x.dtype))
        return self.gen(torch.cat(inputs, 1))


class Pix2PixHD(TranslationGAN):
    """pix2pixHD: label maps (+ instance maps) to photos with a coarse-to-fine G, multi-scale D and feature matching.

    Args:
        label_nc: label classes (official ``--label_nc``: 35 for Cityscapes' label ids).
        contain_dontcare_label: one more one-hot channel for the don't-care id ``label_nc`` (SPADE's option).
        output_nc: image channels (3).
        no_instance: no instance map, hence no edge map (official ``--no_instance``).
        instance_feat: instance-wise encoded features from E as input (official ``--instance_feat``).
        label_feat: class-wise encoded features (E pooled over the label map; official ``--label_feat``).
        feat_num: feature channels (official 3).
        nef: E's filters (official 16).
        n_downsample_E: E's down-samplings (official 4).
        n_clusters: K of the test-time K-means per class (official 10).
        netG: ``global`` (G1, the 512p stage) or ``local`` (G1 + local enhancers, the 1024p stage).
        ngf: G's filters (official 64 for global; the 1024p scripts use 32 for local).
        n_downsample_global / n_blocks_global: G1's down-samplings (4) and residual blocks (9).
        n_local_enhancers / n_blocks_local: local enhancers (1) and their residual blocks (3).
        niter_fix_global: epochs during which only the outermost local enhancer (and E) trains (official 0; 10 in
            the 1024p script).
        norm: ``instance`` (official) or ``batch``.
        ndf / n_layers_D / num_D: D's filters (64), layers (3) and scales (2; the 1024p script uses 3).
        gan_mode: ``lsgan`` (official) or ``vanilla`` (``--no_lsgan``).
        lambda_feat: λ of the feature-matching loss, Eq. (4)-(5) (10); 0 = ``--no_ganFeat_loss``.
        lambda_vgg: weight of the VGG loss (10; the official code uses ``lambda_feat``); 0 = ``--no_vgg_loss``.
        vgg_weights: a torchvision VGG19 state-dict file; ``None``: torchvision's cache, downloaded on first use.
        pool_size: image-pool size for D's fakes (official 0: none).
        load_pretrain: start training from these weights (official ``--load_pretrain``: the 1024p stage starts
            from the 512p model): a folder with official ``latest_net_{G,D,E}.pth`` or our Lightning ``.ckpt``.
            As the official ``load_network``, every tensor whose name and shape fit is taken (the global
            generator's layers, the shared discriminator scales); the rest keeps its initialisation. Read when
            ``fit`` starts (a resumed run's checkpoint then replaces it), not at construction.
        val_metrics / feature_extractor: the validation metrics (see :class:`~translation_zoo.models.Pix2Pix`).
        **kwargs: optimiser/schedule options of :class:`TranslationGAN`; ``n_epochs`` / ``n_epochs_decay`` are
            the official ``niter`` / ``niter_decay`` (100 / 100).
    """

    batch_kind = "semantic"
    tiny_config = {
        "label_nc": 5,
        "ngf": 4,
        "n_downsample_global": 2,
        "n_blocks_global": 1,
        "ndf": 4,
        "n_layers_D": 2,
        "lambda_vgg": 0.0,  # the VGG19 weights are a download; tests/test_pix2pixhd.py injects a random backbone
    }

    official_names = ("pix2pixHD",)  # the official --model (names are matched case-blind)
    official_networks = {"G": "gen", "D": "disc", "E": "encoder"}
    official_file_pattern = "{epoch}_net_{name}.pth"

    def __init__(
        self,
        label_nc: int = 35,
        contain_dontcare_label: bool = False,
        output_nc: int = 3,
        no_instance: bool = False,
        instance_feat: bool = False,
        label_feat: bool = False,
        feat_num: int = 3,
        nef: int = 16,
        n_downsample_E: int = 4,
        n_clusters: int = 10,
        netG: Literal["global", "local"] = "global",
        ngf: int = 64,
        n_downsample_global: int = 4,
        n_blocks_global: int = 9,
        n_local_enhancers: int = 1,
        n_blocks_local: int = 3,
        niter_fix_global: int = 0,
        norm: Literal["instance", "batch"] = "instance",
        ndf: int = 64,
        n_layers_D: int = 3,
        num_D: int = 2,
        gan_mode: Literal["lsgan", "vanilla"] = "lsgan",
        lambda_feat: float = 10.0,
        lambda_vgg: float = 10.0,
        vgg_weights: str | None = None,
        pool_size: int = 0,
        load_pretrain: str | None = None,
        val_metrics: list[str] | None = None,
        feature_extractor: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if netG not in ("global", "local"):
            raise ValueError(f"netG must be 'global' or 'local', got {netG!r}")
        if gan_mode not in ("lsgan", "vanilla"):
            raise ValueError(f"gan_mode must be 'lsgan' or 'vanilla' (the official --no_lsgan), got {gan_mode!r}")
        if niter_fix_global and netG != "local":
            raise ValueError("niter_fix_global trains the local enhancer alone first: it needs netG='local'")
        self.n_labels = label_nc + int(contain_dontcare_label)
        self.use_features = instance_feat or label_feat
        g_in = self.n_labels + (0 if no_instance else 1) + (feat_num if self.use_features else 0)
        if netG == "global":
            gen = GlobalGenerator(g_in, output_nc, ngf, n_downsample_global, n_blocks_global, norm)
        else:
            gen = LocalEnhancer(
                g_in, output_nc, ngf, n_downsample_global, n_blocks_global, n_local_enhancers, n_blocks_local, norm
            )
        d_in = self.n_labels + (0 if no_instance else 1) + output_nc
        disc = MultiscaleDiscriminator(d_in, ndf, n_layers_D, norm, num_D=num_D, get_interm_feat=lambda_feat > 0)
        self.gen = self._init(gen)
        self.disc = self._init(disc)
        self.encoder = (
            self._init(Encoder(output_nc, feat_num, nef, n_downsample_E, norm)) if self.use_features else None
        )
        # Test-time clusters of encoded features, per class: centres and how many of them are valid.
        self.register_buffer("feat_centers", torch.zeros(self.n_labels, n_clusters, feat_num))
        self.register_buffer("feat_n_centers", torch.zeros(self.n_labels, dtype=torch.long))
        self.criterion_gan = GANLoss(gan_mode)
        self.fake_pool = ImagePool(pool_size) if pool_size > 0 else None
        self._vgg: list[VGGLoss] = []  # built on first use, outside the module tree: not in checkpoints
        self._global_unfrozen = False  # niter_fix_global: G's optimiser was renewed (official update_fixed_params)
        self.eval_metrics = self.build_eval_metrics(val_metrics, feature_extractor, paired=True)
        self.size_multiple = max(gen.size_multiple, 2**n_downsample_E if self.use_features else 1)

    def _init(self, net: nn.Module) -> nn.Module:
        hp = self.hparams
        if hp.init_type == "normal":
            return official_init(net, hp.init_gain)
        return init_weights(net, hp.init_type, hp.init_gain)

    # ------------------------------------------------------------------------------------------ players
    def param_groups(self) -> dict[str, list[nn.Module]]:
        g = [self.gen] + ([self.encoder] if self.encoder is not None else [])
        return {"G": g, "D": [self.disc]}

    def configure_optimizers(self):
        self._set_global_frozen(False)  # every G parameter goes into G's optimiser; training_step freezes
        return super().configure_optimizers()

    def _make_scheduler(self, opt: torch.optim.Optimizer):
        hp = self.hparams
        if self.lr_scheduler_factory is None and hp.lr_policy == "linear":
            return torch.optim.lr_scheduler.LambdaLR(opt, lambda e: lr_factor(e, hp.n_epochs, hp.n_epochs_decay))
        return super()._make_scheduler(opt)

    def _frozen_parameters(self) -> list[nn.Parameter]:
        """G's parameters outside the outermost local enhancer (what ``niter_fix_global`` keeps fixed)."""
        if not isinstance(self.gen, LocalEnhancer):
            return []
        local = {id(p) for p in self.gen.local_parameters()}
        return [p for p in self.gen.parameters() if id(p) not in local]

    def _set_global_frozen(self, frozen: bool) -> None:
        for p in self._frozen_parameters():
            p.requires_grad_(not frozen)

    def setup(self, stage: str) -> None:
        if stage == "fit" and self.hparams.load_pretrain:
            self.load_pretrained_networks(self.hparams.load_pretrain)

    def load_pretrained_networks(self, source: str | os.PathLike) -> dict[str, list[str]]:
        """Copy every tensor of ``source`` whose name and shape fit (official ``load_network``'s fallback).

        Args:
            source: a folder with official ``latest_net_G.pth`` (+ ``_D``, ``_E``), or a Lightning ``.ckpt`` of
                a Pix2PixHD.

        Returns:
            Per official network name, the top-level modules left (partly) uninitialised (reported as the
            official code prints them).

        Raises:
            FileNotFoundError: no such checkpoint, or a folder without ``latest_net_G.pth``.
        """
        from lightning.pytorch.utilities import rank_zero_info

        from ..hub import read_state_dict

        path = Path(source).expanduser()
        states: dict[str, dict[str, torch.Tensor]] = {}
        if path.is_dir():
            for name in self.official_networks:
                file = path / self.official_file_pattern.format(epoch="latest", name=name)
                if file.is_file():
                    states[name] = read_state_dict(file, name)
            if "G" not in states:
                raise FileNotFoundError(f"load_pretrain: {path} holds no latest_net_G.pth (the generator must exist)")
        elif path.is_file():
            sd = torch.load(path, map_location="cpu", weights_only=True).get("state_dict", {})
            for name, attr in self.official_networks.items():
                part = {k[len(attr) + 1 :]: v for k, v in sd.items() if k.startswith(attr + ".")}
                if part:
                    states[name] = part
        else:
            raise FileNotFoundError(f"load_pretrain: {path} does not exist")
        report = {}
        for name, attr in self.official_networks.items():
            net = getattr(self, attr)
            if net is None or name not in states:
                continue
            own = net.state_dict()
            fit = {k: v for k, v in states[name].items() if k in own and own[k].shape == v.shape}
            net.load_state_dict({**own, **fit})
            report[name] = sorted({k.split(".")[0] for k in own if k not in fit})
            rank_zero_info(f"load_pretrain: {name} <- {len(fit)}/{len(own)} tensors; not from it: {report[name]}")
        return report

    # ------------------------------------------------------------------------------------------- inputs
    def encode_input(self, label: torch.Tensor, instance: torch.Tensor | None) -> torch.Tensor:
        """One-hot label map (+ edge map of ``instance``, the label map when ``None``): (N, n_labels [+1], H, W)."""
        inputs = [one_hot(label, self.n_labels)]
        if not self.hparams.no_instance:
            inputs.append(get_edges(label if instance is None else instance))
        return torch.cat(inputs, 1)

    def vgg_loss(self) -> VGGLoss:
        """The perceptual loss, built on first use (downloads the VGG19 weights once; see
        :mod:`translation_zoo.losses.perceptual`)."""
        if not self._vgg:
            self._vgg.append(VGGLoss(weights=self.hparams.vgg_weights))
        return self._vgg[0]

    def set_vgg_backbone(self, backbone: nn.Module) -> None:
        """Use ``backbone`` (torchvision ``vgg19().features``) for the perceptual loss (tests: random weights)."""
        self._vgg[:] = [VGGLoss(backbone=backbone)]

    # ---------------------------------------------------------------------------------------- inference
    def forward(
        self,
        x: torch.Tensor,
        instance: torch.Tensor | None = None,
        feat: torch.Tensor | None = None,
        real: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Synthesise images (N, output_nc, H, W) in [-1, 1] from label maps.

        Args:
            x: label ids (N, 1, H, W) int, or the grayscale label image in [-1, 1] (what ``translate`` gives).
            instance: instance ids (N, 1, H, W); ``None``: the label map's boundaries make the edge map.
            feat: a feature map (N, feat_num, H, W) to use as is (instance-feature models).
            real: encode this image with E for the features (the official ``--use_encoded_image``); otherwise
                each instance gets a random cluster centre of its class (:meth:`fit_feature_clusters`).
        """
        label = label_ids(x)
        input_label = self.encode_input(label, instance)
        if self.use_features:
            if feat is None:
                by = label if self.hparams.label_feat or instance is None else instance
                feat = self.encoder(real, by) if real is not None else self.sample_features(by, label)
            input_label = torch.cat([input_label, feat.to(input_label.dtype)], 1)
        return self.gen(input_label)

    def inference_spec(self, **conditions: Any) -> InferenceSpec:
        self.check_conditions(conditions)
        hp = self.hparams
        net = LabelToImage(self.gen, self.n_labels, not hp.no_instance, self.use_features)
        return InferenceSpec(net, 1, int(self.size_multiple))

    def predict_step(self, batch: dict[str, Any], batch_idx: int, dataloader_idx: int = 0) -> dict[str, Any]:
        """``{"fake", "path"}`` (and ``"samples"``) from a predict batch ``{"label", "instance"?, "path"}``."""
        n = max(1, int(self.predict_num_samples))
        samples = [self(batch["label"], instance=batch.get("instance")) for _ in range(n)]
        out = {"fake": samples[0], "path": batch.get("path")}
        if n > 1:
            out["samples"] = samples
        return out

    @torch.no_grad()
    def visuals(self, batch: dict[str, Any]) -> list[list[torch.Tensor]]:
        label = label_ids(batch["label"])
        fake = self(label, instance=batch.get("instance"), real=batch.get("image") if self.use_features else None)
        row = [label_colors(label, self.n_labels).to(fake.dtype), fake]
        return [row + ([batch["image"]] if "image" in batch else [])]

    def eval_step(self, batch: dict[str, Any], stage: str) -> None:
        # With instance features: E(photo) until clusters are fitted (the official --use_encoded_image), so that
        # validation during training needs no clustering pass.
        real = batch["image"] if self.use_features and int(self.feat_n_centers.sum()) == 0 else None
        fake = self(batch["label"], instance=batch.get("instance"), real=real)
        self.update_eval_metrics(fake, batch["image"], batch)

    # ---------------------------------------------------------------------------------------- features
    def _instances(self, by: torch.Tensor, label: torch.Tensor):
        """Per image b and instance id i of ``by``: (b, mask, class of the instance's middle pixel, pixel count).

        The middle pixel is the official one: the ``num // 2``-th of the instance's pixels in row-major order."""
        for b in range(by.shape[0]):
            ids = by[b, 0]
            for i in torch.unique(ids).tolist():
                mask = ids == i
                flat = mask.flatten().nonzero()[:, 0]
                mid = int(flat[flat.numel() // 2])
                cls = int(label[b, 0].flatten()[mid])
                yield b, mask, mid, cls, int(flat.numel())

    @torch.no_grad()
    def encode_features(self, image: torch.Tensor, instance: torch.Tensor, label: torch.Tensor) -> dict[int, Any]:
        """The official ``encode_features``: class -> array (instances, feat_num + 1) of each instance's feature
        and its size in units of (H·W)/32 pixels."""
        label = label_ids(label)
        by = label if self.hparams.label_feat else instance
        feat = self.encoder(image, by)
        h, w = by.shape[-2:]
        out: dict[int, list] = {}
        for b, _, mid, cls, num in self._instances(by, label):
            vec = feat[b].flatten(1)[:, mid].float().cpu().numpy()
            out.setdefault(cls, []).append(np.append(vec, num / (h * w // 32)))
        return {k: np.stack(v) for k, v in out.items()}

    @torch.no_grad()
    def fit_feature_clusters(self, batches: Iterable[dict[str, Any]], n_clusters: int | None = None) -> None:
        """Encode every training image's instances and K-means them per class (official ``encode_features.py``).

        Args:
            batches: semantic batches ``{"label", "instance", "image"}`` (e.g. the train loader, unshuffled).
            n_clusters: K (default: the ``n_clusters`` hyper-parameter).
        """
        from sklearn.cluster import KMeans

        if not self.use_features:
            raise RuntimeError("fit_feature_clusters needs instance_feat or label_feat")
        k_max = self.feat_centers.shape[1] if n_clusters is None else min(n_clusters, self.feat_centers.shape[1])
        was_training = self.training
        self.eval()
        collected: dict[int, list] = {}
        for batch in batches:
            param = next(self.parameters())
            image = batch["image"].to(param.device, param.dtype)
            label = batch["label"].to(param.device)
            instance = batch.get("instance")
            instance = label if instance is None else instance.to(param.device)
            for cls, rows in self.encode_features(image, instance, label).items():
                collected.setdefault(cls, []).append(rows)
        self.train(was_training)
        self.feat_centers.zero_()
        self.feat_n_centers.zero_()
        for cls, parts in collected.items():
            if not 0 <= cls < self.n_labels:
                continue
            rows = np.concatenate(parts)
            rows = rows[rows[:, -1] > 0.5, :-1]  # the official size threshold
            if rows.shape[0]:
                k = min(rows.shape[0], k_max)
                km = KMeans(n_clusters=k, random_state=0, n_init=10).fit(rows)
                self.feat_centers[cls, :k] = torch.as_tensor(km.cluster_centers_, dtype=self.feat_centers.dtype)
                self.feat_n_centers[cls] = k

    def sample_features(self, by: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        """A feature map (N, feat_num, H, W): each instance of ``by`` gets a random cluster centre of its class
        (official ``sample_features``); classes without clusters get zeros."""
        if int(self.feat_n_centers.sum()) == 0:
            raise RuntimeError(
                "this pix2pixHD uses instance features: call fit_feature_clusters(train batches) first (the official "
                "encode_features.py), or pass real= (encode a photo) or feat= (a feature map)"
            )
        n, _, h, w = by.shape
        out = torch.zeros(n, self.hparams.feat_num, h, w, device=by.device)
        for b, mask, _, cls, _ in self._instances(by, label):
            k = int(self.feat_n_centers[cls]) if 0 <= cls < self.n_labels else 0
            if k:
                centre = self.feat_centers[cls, int(torch.randint(k, ()))]
                out[b] = torch.where(mask, centre.view(-1, 1, 1).to(out.dtype), out[b])
        return out

    # ---------------------------------------------------------------------------------------- training
    def training_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        hp = self.hparams
        label, instance, real = label_ids(batch["label"]), batch.get("instance"), batch["image"]
        opt_g, opt_d = self.optimizers()
        fixed = hp.niter_fix_global > 0 and self.current_epoch < hp.niter_fix_global
        if hp.niter_fix_global > 0 and not fixed and not self._global_unfrozen:
            # Official update_fixed_params: a new Adam over all of G (and E) after niter_fix_global epochs.
            opt_g.optimizer.state.clear()
            self._global_unfrozen = True
        self._set_global_frozen(fixed)

        input_label = self.encode_input(label, instance).to(real.dtype)  # (N, n_labels + 1, H, W)
        g_in = input_label
        if self.use_features:
            by = label if hp.label_feat or instance is None else instance
            g_in = torch.cat([input_label, self.encoder(real, by)], 1)  # E(x) pooled per instance, §3.4
        fake = self.gen(g_in)  # computed once: G's losses through it, D sees it detached
        # D on the real pair, once: its logits for D's loss, its features (detached) for feature matching.
        pred_real = self.disc(torch.cat([input_label, real], 1))

        # G step: Eq. (5) — Σ_k L_GAN(G, D_k) + λ Σ_k L_FM(G, D_k) + λ_VGG L_VGG.
        with self.toggled_optimizer(opt_g):
            pred_fake = self.disc(torch.cat([input_label, fake], 1))
            losses = {"g_gan": sum(self.criterion_gan(p[-1], True, for_discriminator=False) for p in pred_fake)}
            if hp.lambda_feat > 0:
                losses["g_feat"] = hp.lambda_feat * feature_matching_loss(pred_fake, pred_real)  # Eq. (4)
            if hp.lambda_vgg > 0:
                losses["g_vgg"] = hp.lambda_vgg * self.vgg_loss().to(fake.device)(fake, real)
            self._step(opt_g, losses)

        # D step: ½ Σ_k [L(D_k(s, x), real) + L(D_k(s, G(s)), fake)] (the official ½).
        with self.toggled_optimizer(opt_d):
            fake_pair = torch.cat([input_label, fake.detach()], 1)
            if self.fake_pool is not None:
                fake_pair = self.fake_pool.query(fake_pair)
            pred_fake = self.disc(fake_pair)
            self._step(
                opt_d,
                {
                    "d_real": 0.5 * sum(self.criterion_gan(p[-1], True) for p in pred_real),
                    "d_fake": 0.5 * sum(self.criterion_gan(p[-1], False) for p in pred_fake),
                },
            )
        self._set_global_frozen(False)

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        super().on_save_checkpoint(checkpoint)
        checkpoint["pix2pixhd_global_unfrozen"] = self._global_unfrozen

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        super().on_load_checkpoint(checkpoint)
        self._global_unfrozen = bool(checkpoint.get("pix2pixhd_global_unfrozen", False))

    # --------------------------------------------------------------------------------- official weights
    @classmethod
    def official_options(cls, state: dict[str, dict[str, torch.Tensor]], hparams: dict[str, Any]) -> dict[str, Any]:
        from ..hub import OfficialWeightsError, default_option

        found: dict[str, Any] = {}
        why: dict[str, str] = {}
        if "G" in state:
            g = state["G"]
            n_local = len({k.split("_")[0] for k in g if k.startswith("model") and "_" in k.split(".")[0]})
            blocks = lambda prefix: len({k.split(".")[1] for k in g if k.startswith(prefix) and ".conv_block." in k})  # noqa: E731
            first = g[f"model{n_local}_1.1.weight"] if n_local else g["model.1.weight"]
            glob_convs = [
                k for k, v in g.items() if k.startswith("model.") and v.dim() == 4 and ".conv_block." not in k
            ]
            down = [k for k in glob_convs if g[k].shape[-1] == 3 and g[k].shape[0] == 2 * g[k].shape[1]]
            found |= {
                "netG": "local" if n_local else "global",
                "ngf": int(first.shape[0]),
                "n_downsample_global": len(down) // 2,  # as many transposed convs (in = 2·out) as strided ones
                "n_blocks_global": blocks("model."),
                "norm": "batch" if any(k.endswith("running_mean") for k in g) else "instance",
            }
            if n_local:
                found |= {"n_local_enhancers": n_local, "n_blocks_local": blocks(f"model{n_local}_2.")}
            why |= {k: "G's keys and shapes" for k in found}
            g_in = int(first.shape[1])
        if "D" in state:
            d = state["D"]
            interm = any(k.startswith("scale") for k in d)
            scales = {k.split("_")[0] if interm else k.split(".")[0] for k in d}
            convs = sorted(
                k for k in d if k.endswith("weight") and d[k].dim() == 4 and k.startswith(("scale0", "layer0"))
            )
            found |= {"num_D": len(scales), "n_layers_D": len(convs) - 2, "ndf": int(d[convs[0]].shape[0])}
            why |= {k: "D's keys and shapes" for k in ("num_D", "n_layers_D", "ndf")}
            if not interm and hparams.get("lambda_feat", 10.0) > 0:
                found["lambda_feat"] = 0.0  # trained with --no_ganFeat_loss: D without intermediate outputs
                why["lambda_feat"] = "D has no intermediate outputs (--no_ganFeat_loss)"
        if "E" in state:
            e = state["E"]
            found["nef"] = int(e["model.1.weight"].shape[0])
            last_key = max((k for k in e if k.endswith(".weight")), key=lambda k: int(k.split(".")[1]))
            found["feat_num"] = int(e[last_key].shape[0])
            found["n_downsample_E"] = sum(1 for k, v in e.items() if v.dim() == 4 and v.shape[-1] == 3) // 2
            if not hparams.get("label_feat") and "instance_feat" not in hparams:
                found["instance_feat"] = True
            why |= {k: "E's keys and shapes" for k in ("nef", "feat_num", "n_downsample_E", "instance_feat")}
        for k, v in found.items():
            if k in hparams and hparams[k] != v:
                raise OfficialWeightsError(f"{k}={hparams[k]!r} contradicts the official weights ({why[k]}: {k}={v!r})")
        if "G" in state:
            opt = {**{k: default_option(cls, k) for k in ("label_nc", "contain_dontcare_label", "no_instance",
                                                            "instance_feat", "label_feat", "feat_num")},
                   **found, **hparams}  # fmt: skip
            expected = (
                opt["label_nc"]
                + int(opt["contain_dontcare_label"])
                + (0 if opt["no_instance"] else 1)
                + (opt["feat_num"] if opt["instance_feat"] or opt["label_feat"] else 0)
            )
            if expected != g_in:
                raise OfficialWeightsError(
                    f"G's first conv takes {g_in} input channels, but label_nc={opt['label_nc']} "
                    f"(+{int(opt['contain_dontcare_label'])} don't-care), no_instance={opt['no_instance']} and "
                    f"instance_feat/label_feat give {expected}: set label_nc, no_instance or instance_feat to fit"
                )
        return found


def lr_factor(epoch: int, n_epochs: int, n_epochs_decay: int) -> float:
    """LR multiplier during 0-based epoch ``epoch`` (official ``update_learning_rate``, called after every epoch
    e > niter (1-based): lr -= lr0 / niter_decay): ``1 - max(0, epoch - n_epochs) / n_epochs_decay``."""
    if n_epochs_decay <= 0:
        return 1.0
    return max(0.0, 1.0 - max(0, epoch - n_epochs) / n_epochs_decay)


__all__ = ["Encoder", "GlobalGenerator", "LocalEnhancer", "Pix2PixHD", "get_edges", "instance_average", "lr_factor"]
