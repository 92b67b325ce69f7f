"""MUNIT: Multimodal Unsupervised Image-to-Image Translation.

Huang, Liu, Belongie, Kautz. ECCV 2018. arXiv:1804.04732
Reference code: NVlabs/MUNIT (master: ``trainer.py`` ``MUNIT_Trainer``, ``networks.py`` ``AdaINGen``/``MsImageDis``,
``configs/edges2shoes_folder.yaml``, ``train.py``, ``test.py``).

Each domain i has an auto-encoder (``gen_a``, ``gen_b``, the official ``AdaINGen``) whose code is split in a
content code c = E^c_i(x) (a spatial map, shared by the domains) and a style code s = E^s_i(x) (a vector of
``style_dim`` numbers, domain specific, prior N(0, I)). The decoder G_i(c, s) feeds s through an MLP that gives the
affine parameters of the adaptive instance norms (AdaIN) in its residual blocks. Translation x_{1→2} = G2(E^c_1(x1),
s2): a style code s2 ~ N(0, I) per sample gives a different output for one input (random styles), or s2 =
E^s_2(y) of an exemplar y of domain 2 (example-guided translation, the official ``test.py --style``).

Networks (the official ``networks.py``; blocks shared with UNIT in :mod:`translation_zoo.nn.unit_blocks`):

* content encoder: 7x7 conv, ``n_downsample`` 4x4 stride-2 convs doubling the width, ``n_res`` residual blocks;
  instance norm, ReLU, reflection padding (the UNIT encoder);
* style encoder: 7x7 conv, two 4x4 stride-2 convs doubling the width, two more at that width (the official code
  fixes 4 down-samplings), global average pooling, a 1x1 conv to ``style_dim``; no norm, ReLU;
* MLP: ``style_dim`` → ``mlp_dim`` → ``mlp_dim`` → 2 · Σ (AdaIN channels) (ReLU between, none at the end);
* decoder: ``n_res`` residual blocks with AdaIN, ``n_downsample`` x (nearest x2, 5x5 conv, layer norm, ReLU), a
  7x7 conv and tanh;
* discriminators D1 (``dis_a``), D2 (``dis_b``): three scales (the image, then average-pooled by 2 twice), each
  ``n_layers_d`` 4x4 stride-2 convs with LeakyReLU(0.2), no norm, and a 1x1 conv; the loss sums the scales.

Losses (§3.2, Eq. (1)-(5) of arXiv:1804.04732 v2; weights of the official configs): image reconstruction
L^{x_i}_recon = ‖G_i(E^c_i(x_i), E^s_i(x_i)) − x_i‖₁ (Eq. 1), λx = ``lambda_x`` = 10 (``recon_x_w``); content
reconstruction L^{c_1}_recon = ‖E^c_2(G2(c1, s2)) − c1‖₁ (Eq. 2), λc = ``lambda_c`` = 1 (``recon_c_w``); style
reconstruction L^{s_2}_recon = ‖E^s_2(G2(c1, s2)) − s2‖₁ with s2 ~ N(0, I) (Eq. 3), λs = ``lambda_s`` = 1
(``recon_s_w``); the GAN loss L^{x_2}_GAN (Eq. 4), least squares (``gan_mode='lsgan'``, the official ``gan_type``),
weight ``lambda_gan`` = 1 (``gan_w``); Eq. (5) is their weighted sum over both directions. The style-augmented
cycle consistency of the paper's analysis (§4), made explicit by the official code as ‖G1(E^c_2(x_{1→2}),
E^s_1(x1)) − x1‖₁ with weight ``recon_x_cyc_w``: ``lambda_cyc`` = 0 here (edges2shoes, edges2handbags); the official
summer2winter_yosemite256 and synthia2cityscape configs set 10 (the authors advise 10 where the translation is
pixel-aligned and 0 where it changes shapes, NVlabs/MUNIT#60). All L1 terms are means (the official
``recon_criterion``). Adam(1e-4, β = (0.5, 0.999), weight decay 1e-4) for G = {gen_a, gen_b} and D = {dis_a,
dis_b}; the learning rate halves every 100,000 iterations, stepped before each iteration as in the official
``train.py``; batch 1; D updated before G in each iteration. Initialisation: Kaiming-normal (fan_in) weights of
every conv and linear layer (the MLP too) and zero biases, then N(0, 0.02) for the discriminators (the official
``weights_init('kaiming')`` then ``weights_init('gaussian')``); the layer norms' γ start U(0, 1) and β 0.

Parameters (``configs/edges2shoes_folder.yaml``, also edges2handbags, summer2winter and synthia2cityscape: 3
channels, ``ngf = ndf = 64``, ``style_dim`` 8, ``mlp_dim`` 256, 2 down-samplings, 4 residual blocks, 4-layer D at 3
scales), equal to the official networks: ``gen_a`` = ``gen_b`` = 15,026,187 each (style encoder 2,764,936, content
encoder 5,385,856, decoder 5,754,627, MLP 1,120,768 producing 4,096 AdaIN parameters), ``dis_a`` = ``dis_b`` =
8,271,171 each (``tests/test_munit.py`` pins them).

Deviations:

* The fakes x_{1→2}, x_{2→1} (with one draw of the random styles) are computed once per iteration and serve the D
  step (detached) and then the G step; the official code encodes and decodes again in its G step with a fresh
  style draw. The generators do not change in between, so the losses have the same distribution.
* The domain-invariant perceptual loss (``vgg_w``: 0 in every config but synthia2cityscape; it needs the
  converted Caffe VGG16 weights) is not provided.
* ``activ`` (relu) and ``pad_type`` (reflect) of the official configs are fixed, not options (every official config
  uses these values); so is the discriminator's norm (none).
* Style codes are (N, ``style_dim``) here; the official code carries them as (N, ``style_dim``, 1, 1). The values
  and the state-dict keys are the same.

Official weights: the official code saves ``gen_<iteration>.pt`` = ``{"a": gen_a, "b": gen_b}`` and
``dis_<iteration>.pt`` = ``{"a": dis_a, "b": dis_b}``; the released edges2shoes model (Google Drive, TUTORIAL.md;
not fetchable by URL here) is such a generator file. Our keys are the official ones; the official AdaIN layers also
save unused dummy ``running_mean``/``running_var`` buffers, which :meth:`MUNIT.official_to_ours` drops and
:meth:`MUNIT.ours_to_official` writes back (zeros/ones, as the official module creates them).
``MUNIT.from_official_files("gen_01000000.pt", "dis_01000000.pt")`` builds the model with the architecture read
from the weights.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from ..losses import GANLoss
from ..nn import init_weights
from ..nn.unit_blocks import (
    AdaptiveInstanceNorm2d,
    ContentEncoder,
    ConvBlock,
    Decoder,
    MsImageDis,
    official_step_lr,
    read_official_pair,
)
from .base import Condition, InferenceSpec, TranslationGAN


# --------------------------------------------------------------------------------------------------- blocks
# Module and attribute names give the official state-dict keys (enc_style.model.6.weight, mlp.model.2.fc.bias).
class StyleEncoder(nn.Module):
    """E^s_i: 7x7 conv, 2 stride-2 4x4 convs doubling the width, ``n_downsample - 2`` more at that width (official:
    4 in all), global average pooling, 1x1 conv; no norm, ReLU. (N, C, H, W) -> (N, style_dim)."""

    def __init__(self, input_nc: int, ngf: int, style_dim: int, n_downsample: int = 4) -> None:
        super().__init__()
        layers: list[nn.Module] = [ConvBlock(input_nc, ngf, 7, 1, 3, "none", "relu")]
        dim = ngf
        for _ in range(2):
            layers.append(ConvBlock(dim, 2 * dim, 4, 2, 1, "none", "relu"))
            dim *= 2
        for _ in range(n_downsample - 2):
            layers.append(ConvBlock(dim, dim, 4, 2, 1, "none", "relu"))
        layers += [nn.AdaptiveAvgPool2d(1), nn.Conv2d(dim, style_dim, 1)]
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x).flatten(1)


class LinearBlock(nn.Module):
    """The official ``LinearBlock`` without norm: linear layer (``fc``), then ReLU or nothing."""

    def __init__(self, in_features: int, out_features: int, act: bool) -> None:
        super().__init__()
        self.fc = nn.Linear(in_features, out_features)
        self.activation = nn.ReLU() if act else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.activation(self.fc(x))


class MLP(nn.Module):
    """Style code -> AdaIN parameters: ``n_blocks`` linear layers (official 3), ReLU between them."""

    def __init__(self, in_features: int, out_features: int, hidden: int, n_blocks: int = 3) -> None:
        super().__init__()
        dims = [in_features] + [hidden] * (n_blocks - 1) + [out_features]
        self.model = nn.Sequential(*(LinearBlock(dims[i], dims[i + 1], act=i < n_blocks - 1) for i in range(n_blocks)))

    def forward(self, s: torch.Tensor) -> torch.Tensor:
        return self.model(s.flatten(1))


class AdaINGen(nn.Module):
    """One domain's auto-encoder, the official ``AdaINGen``: ``enc_content`` (E^c_i), ``enc_style`` (E^s_i),
    ``mlp`` and ``dec`` (G_i)."""

    def __init__(
        self,
        input_nc: int,
        ngf: int = 64,
        style_dim: int = 8,
        mlp_dim: int = 256,
        n_downsample: int = 2,
        n_res: int = 4,
    ) -> None:
        super().__init__()
        self.enc_style = StyleEncoder(input_nc, ngf, style_dim, 4)
        self.enc_content = ContentEncoder(input_nc, ngf, n_downsample, n_res)
        self.dec = Decoder(self.enc_content.output_dim, input_nc, n_downsample, n_res, res_norm="adain")
        self.mlp = MLP(style_dim, self.dec.num_adain_params, mlp_dim, 3)
        self.style_dim = style_dim
        self.size_multiple = 2**n_downsample

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(content (N, ngf·2^k, H/2^k, W/2^k), style (N, style_dim))."""
        return self.enc_content(x), self.enc_style(x)

    def decode(self, content: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        return self.dec(content, self.mlp(style))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Reconstruction G_i(E^c_i(x), E^s_i(x))."""
        return self.decode(*self.encode(x))


class StyleTranslator(nn.Module):
    """x_{i→j} = G_j(E^c_i(x), s) for a given style code s (N, style_dim): the exported network (random styles)."""

    def __init__(self, source: AdaINGen, target: AdaINGen) -> None:
        super().__init__()
        self.enc_content, self.target = source.enc_content, target
        self.size_multiple = source.size_multiple

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return self.target.decode(self.enc_content(x), z.expand(x.shape[0], -1))


class ExampleGuidedTranslator(nn.Module):
    """x_{i→j} = G_j(E^c_i(x), E^s_j(style)): the exported network for an exemplar (official ``test.py --style``)."""

    def __init__(self, source: AdaINGen, target: AdaINGen) -> None:
        super().__init__()
        self.enc_content, self.target = source.enc_content, target
        self.size_multiple = source.size_multiple

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        return self.target.decode(self.enc_content(x), self.target.enc_style(style).expand(x.shape[0], -1))


# ------------------------------------------------------------------------------------------------- model
class MUNIT(TranslationGAN):
    """MUNIT (Huang et al. 2018): content/style auto-encoders, translation with random or exemplar styles.

    Args:
        input_nc: channels of domain A (official ``input_dim_a``: 3).
        output_nc: channels of domain B (``input_dim_b``: 3).
        ngf: filters of the encoders' first conv (``gen.dim``: 64).
        ndf: filters of the discriminators' first conv (``dis.dim``: 64).
        style_dim: length of the style code s (``gen.style_dim``: 8).
        mlp_dim: width of the MLP that maps s to the AdaIN parameters (``gen.mlp_dim``: 256).
        n_downsample: stride-2 convs of each content encoder and up-samplings of each decoder
            (``gen.n_downsample``: 2).
        n_res: residual blocks of each content encoder and each decoder (``gen.n_res``: 4).
        n_layers_d: stride-2 convs of each discriminator scale (``dis.n_layer``: 4).
        num_scales: discriminator scales (``dis.num_scales``: 3).
        gan_mode: ``lsgan`` (``dis.gan_type``: lsgan) or ``vanilla`` (the official ``nsgan``).
        lambda_gan: weight of the GAN terms, Eq. (4)-(5) (``gan_w``: 1).
        lambda_x: λx of Eq. (5), weight of the image reconstruction, Eq. (1) (``recon_x_w``: 10).
        lambda_c: λc, weight of the content reconstruction, Eq. (2) (``recon_c_w``: 1).
        lambda_s: λs, weight of the style reconstruction, Eq. (3) (``recon_s_w``: 1).
        lambda_cyc: weight of the explicit style-augmented cycle reconstruction (``recon_x_cyc_w``: 0 in the
            edges2shoes config; 10 in summer2winter_yosemite256 and synthia2cityscape).
        lr: Adam learning rate of G and D (``lr``: 1e-4).
        beta1: Adam β1 (``beta1``: 0.5).
        beta2: Adam β2 (``beta2``: 0.999).
        weight_decay: Adam's L2 weight decay (``weight_decay``: 1e-4).
        step_size: the official ``lr_policy: step``, per iteration (batch): the learning rate is multiplied by
            ``gamma`` every ``step_size`` iterations (``step_size``: 100,000). ``None``: the epoch-based
            ``lr_policy``/``lr_scheduler`` of the base class instead.
        gamma: the step policy's factor (``gamma``: 0.5).
        lr_policy: base-class epoch schedule, used only when ``step_size`` is ``None``.
        init_type: generator initialisation (``init``: kaiming); the discriminators get N(0, 0.02) as in the
            official code.
        val_metrics: what validation and test report for A→B with random styles (``fid``, ``kid``, ``acc``;
            ``None``: ``fid`` and ``kid`` if ``feature_extractor`` is set), next to the cycle errors.
        feature_extractor: feature space of fid/kid/acc, one of domain B (``digits_uci`` for the demo).
        **kwargs: further options of :class:`TranslationGAN` (``fused``, ``optimizer``, ...).
    """

    batch_kind = "unpaired"
    tiny_config = {
        "input_nc": 1,
        "output_nc": 1,
        "ngf": 4,
        "ndf": 4,
        "style_dim": 4,
        "mlp_dim": 8,
        "n_downsample": 2,
        "n_res": 1,
        "n_layers_d": 2,
        "num_scales": 2,
    }

    official_names = ("munit",)
    official_networks = {"gen_a": "gen_a", "gen_b": "gen_b", "dis_a": "dis_a", "dis_b": "dis_b"}
    official_file_pattern = "{name}_{epoch}.pt"  # not the official layout (two files of two networks): see above

    def __init__(
        self,
        input_nc: int = 3,
        output_nc: int = 3,
        ngf: int = 64,
        ndf: int = 64,
        style_dim: int = 8,
        mlp_dim: int = 256,
        n_downsample: int = 2,
        n_res: int = 4,
        n_layers_d: int = 4,
        num_scales: int = 3,
        gan_mode: Literal["lsgan", "vanilla"] = "lsgan",
        lambda_gan: float = 1.0,
        lambda_x: float = 10.0,
        lambda_c: float = 1.0,
        lambda_s: float = 1.0,
        lambda_cyc: float = 0.0,
        lr: float = 1e-4,
        beta1: float = 0.5,
        beta2: float = 0.999,
        weight_decay: float = 1e-4,
        step_size: int | None = 100_000,
        gamma: float = 0.5,
        lr_policy: Literal["linear", "step", "cosine", "constant"] = "constant",
        init_type: Literal["normal", "xavier", "kaiming", "orthogonal"] = "kaiming",
        val_metrics: list[str] | None = None,
        feature_extractor: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(lr=lr, beta1=beta1, beta2=beta2, lr_policy=lr_policy, init_type=init_type, **kwargs)
        if gan_mode not in ("lsgan", "vanilla"):
            raise ValueError(f"gan_mode must be 'lsgan' or 'vanilla' (the official nsgan), got {gan_mode!r}")
        if n_downsample < 0 or n_res < 0 or n_layers_d < 1 or num_scales < 1 or style_dim < 1 or mlp_dim < 1:
            raise ValueError("n_downsample and n_res must be >= 0; n_layers_d, num_scales, style_dim and mlp_dim >= 1")
        if step_size is not None:
            if step_size < 1:
                raise ValueError(f"step_size must be >= 1 (iterations) or None, got {step_size}")
            if self.lr_scheduler_factory is not None or lr_policy != "constant":
                raise ValueError(
                    "step_size is the official per-iteration step policy; set step_size=None to use lr_policy or "
                    "lr_scheduler instead"
                )

        self.gen_a = AdaINGen(input_nc, ngf, style_dim, mlp_dim, n_downsample, n_res)
        self.gen_b = AdaINGen(output_nc, ngf, style_dim, mlp_dim, n_downsample, n_res)
        self.dis_a = MsImageDis(input_nc, ndf, n_layers_d, num_scales)
        self.dis_b = MsImageDis(output_nc, ndf, n_layers_d, num_scales)
        for net in (self.gen_a, self.gen_b):
            init_weights(net, init_type)  # convs and the MLP's linear layers, as the official weights_init
        for net in (self.dis_a, self.dis_b):
            init_weights(net, "normal", 0.02)  # the official weights_init('gaussian') of the discriminators
        self.criterion_gan = GANLoss(gan_mode)
        self.eval_metrics = self.build_eval_metrics(val_metrics, feature_extractor, paired=False)

    # ------------------------------------------------------------------------------------------- players
    def param_groups(self) -> dict[str, list[nn.Module]]:
        return {"G": [self.gen_a, self.gen_b], "D": [self.dis_a, self.dis_b]}

    def configure_optimizers(self):
        hp = self.hparams
        if hp.step_size is None:
            return super().configure_optimizers()
        optimizers = self._make_optimizers()  # Adam with the official weight decay
        return optimizers, official_step_lr(optimizers, hp.step_size, hp.gamma)

    def on_train_epoch_end(self) -> None:
        if self.hparams.step_size is None:  # else stepped per iteration in training_step
            super().on_train_epoch_end()

    # ----------------------------------------------------------------------------------------- inference
    def inference_conditions(self) -> dict[str, Condition]:
        hp = self.hparams
        return {
            "direction": Condition(
                "choice", "a2b: G2(E1c(x), s2) (A→B), b2a: G1(E2c(x), s1) (B→A)", choices=("a2b", "b2a"), default="a2b"
            ),
            "z": Condition("code", "style code s; missing: sampled from N(0, I) per call", dim=hp.style_dim),
            "style": Condition(
                "image",
                "an exemplar of the target domain: its style E^s(style) picks the output (official test.py --style)",
                channels=hp.output_nc,
            ),
        }

    def _gens(self, direction: str) -> tuple[AdaINGen, AdaINGen]:
        if direction == "a2b":
            return self.gen_a, self.gen_b
        if direction == "b2a":
            return self.gen_b, self.gen_a
        raise ValueError(f"direction must be 'a2b' or 'b2a', got {direction!r}")

    def inference_spec(self, **conditions: Any) -> InferenceSpec:
        """``StyleTranslator`` called as ``module(image, z)``; with ``style``, ``module(image, style)``."""
        conditions = self.check_conditions(conditions)
        direction = conditions.get("direction", "a2b")
        source, target = self._gens(direction)
        channels = int(self.hparams.input_nc if direction == "a2b" else self.hparams.output_nc)
        if "style" in conditions:
            module: nn.Module = ExampleGuidedTranslator(source, target)
            extra = {"style": conditions["style"][:1]}
        else:
            z = conditions.get("z")
            device = next(self.parameters()).device
            extra = {"z": z[:1] if z is not None else torch.randn(1, self.hparams.style_dim, device=device)}
            module = StyleTranslator(source, target)
        return InferenceSpec(module, channels, source.size_multiple, extra)

    def sample_style(self, n: int, like: torch.Tensor) -> torch.Tensor:
        """s ~ N(0, I), (n, style_dim): the style prior."""
        return torch.randn(n, self.hparams.style_dim, device=like.device, dtype=like.dtype)

    def forward(
        self,
        x: torch.Tensor,
        z: torch.Tensor | None = None,
        style: torch.Tensor | None = None,
        direction: Literal["a2b", "b2a"] = "a2b",
    ) -> torch.Tensor:
        """Translate x (N, C, H, W): A→B = G2(E^c_1(x), s) (``b2a``: G1(E^c_2(x), s)) with s = ``z`` (N or 1,
        style_dim), s = E^s(style) of exemplars of the target domain (N or 1, C, H', W'), or s ~ N(0, I) drawn anew
        at every call (one per image)."""
        if z is not None and style is not None:
            raise ValueError("give z or style, not both")
        source, target = self._gens(direction)
        if style is not None:
            z = target.enc_style(style)
        elif z is None:
            z = self.sample_style(x.shape[0], x)
        return target.decode(source.enc_content(x), z.to(x.dtype).expand(x.shape[0], -1))

    # ------------------------------------------------------------------------------------------ training
    def _gan(self, outputs: list[torch.Tensor], real: bool) -> torch.Tensor:
        # GANLoss averages over the scales; the official loss sums them.
        return len(outputs) * self.criterion_gan(outputs, real)

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        hp = self.hparams
        x_a, x_b = batch["A"], batch["B"]  # (N, input_nc, H, W), (N, output_nc, H, W)
        opt_g, opt_d = self.optimizers()

        # Random styles from the prior, encode, translate: x_{2→1} = G1(c2, s1), x_{1→2} = G2(c1, s2).
        s_a, s_b = self.sample_style(x_a.shape[0], x_a), self.sample_style(x_b.shape[0], x_b)  # (N, style_dim)
        c_a, s_a_prime = self.gen_a.encode(x_a)
        c_b, s_b_prime = self.gen_b.encode(x_b)
        x_ba = self.gen_a.decode(c_b, s_a)
        x_ab = self.gen_b.decode(c_a, s_b)

        # D step first, as in the official train.py: L_GAN of Eq. (4), the discriminators' side.
        with self.toggled_optimizer(opt_d):
            fa, fb = x_ba.detach(), x_ab.detach()
            self._step(
                opt_d,
                {
                    "d_a": hp.lambda_gan * (self._gan(self.dis_a(fa), False) + self._gan(self.dis_a(x_a), True)),
                    "d_b": hp.lambda_gan * (self._gan(self.dis_b(fb), False) + self._gan(self.dis_b(x_b), True)),
                },
            )

        with self.toggled_optimizer(opt_g):
            x_a_recon = self.gen_a.decode(c_a, s_a_prime)  # within domain: G1(E^c_1(x1), E^s_1(x1))
            x_b_recon = self.gen_b.decode(c_b, s_b_prime)
            c_b_recon, s_a_recon = self.gen_a.encode(x_ba)  # encode the translations again
            c_a_recon, s_b_recon = self.gen_b.encode(x_ab)
            losses = {
                # L_GAN, Eq. (4), the generators' side.
                "g_adv_a": hp.lambda_gan * self._gan(self.dis_a(x_ba), True),
                "g_adv_b": hp.lambda_gan * self._gan(self.dis_b(x_ab), True),
                # Image reconstruction, Eq. (1), λx.
                "g_rec_x_a": hp.lambda_x * F.l1_loss(x_a_recon, x_a),
                "g_rec_x_b": hp.lambda_x * F.l1_loss(x_b_recon, x_b),
                # Style reconstruction, Eq. (3), λs: E^s_1(G1(c2, s1)) against the prior sample s1.
                "g_rec_s_a": hp.lambda_s * F.l1_loss(s_a_recon, s_a),
                "g_rec_s_b": hp.lambda_s * F.l1_loss(s_b_recon, s_b),
                # Content reconstruction, Eq. (2), λc: E^c_2(G2(c1, s2)) against c1.
                "g_rec_c_a": hp.lambda_c * F.l1_loss(c_a_recon, c_a),
                "g_rec_c_b": hp.lambda_c * F.l1_loss(c_b_recon, c_b),
            }
            if hp.lambda_cyc > 0:  # style-augmented cycle (§4): x_{1→2→1} = G1(E^c_2(x_{1→2}), E^s_1(x1))
                losses["g_cyc_x_a"] = hp.lambda_cyc * F.l1_loss(self.gen_a.decode(c_a_recon, s_a_prime), x_a)
                losses["g_cyc_x_b"] = hp.lambda_cyc * F.l1_loss(self.gen_b.decode(c_b_recon, s_b_prime), x_b)
            self._step(opt_g, losses)

        if hp.step_size is not None:
            schedulers = self.lr_schedulers()
            for sch in schedulers if isinstance(schedulers, list) else [schedulers]:
                sch.step()

    # ------------------------------------------------------------------------------------------- visuals
    @torch.no_grad()
    def visuals(self, batch: dict[str, Any]) -> list[list[torch.Tensor]]:
        """The official sample grid per domain: x | reconstruction | translation with two random styles."""
        rows = []
        for real, own, other in ((batch["A"], self.gen_a, self.gen_b), (batch["B"], self.gen_b, self.gen_a)):
            c, s = own.encode(real)
            s1, s2 = self.sample_style(real.shape[0], real), self.sample_style(real.shape[0], real)
            rows.append([real, own.decode(c, s), other.decode(c, s1), other.decode(c, s2)])
        return rows

    # ---------------------------------------------------------------------------------------- evaluation
    def eval_step(self, batch: dict[str, Any], stage: str) -> None:
        """val/cyc_a, val/cyc_b: L1 of x_{1→2→1} = G1(E^c_2(G2(E^c_1(x1), s2)), E^s_1(x1)) with s2 ~ N(0, I) (the
        style-augmented cycle), and the metrics of A→B (a random style per image) against real B."""
        real_a, real_b = batch["A"], batch["B"]
        n = real_a.shape[0]
        c_a, s_a = self.gen_a.encode(real_a)
        c_b, s_b = self.gen_b.encode(real_b)
        fake_b = self.gen_b.decode(c_a, self.sample_style(n, real_a))
        fake_a = self.gen_a.decode(c_b, self.sample_style(real_b.shape[0], real_b))
        cyc_a = self.gen_a.decode(self.gen_b.enc_content(fake_b), s_a)
        cyc_b = self.gen_b.decode(self.gen_a.enc_content(fake_a), s_b)
        self.log(f"{stage}/cyc_a", F.l1_loss(cyc_a, real_a), prog_bar=True, batch_size=n, sync_dist=True)
        self.log(f"{stage}/cyc_b", F.l1_loss(cyc_b, real_b), batch_size=real_b.shape[0], sync_dist=True)
        self.update_eval_metrics(fake_b, real_b, batch)

    # ---------------------------------------------------------------------------------- official weights
    @classmethod
    def official_to_ours(cls, name: str, state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The official keys, minus the AdaIN layers' unused dummy buffers (and the PyTorch 0.3 InstanceNorm
        statistics of the content encoder, as the official ``pytorch03_to_pytorch04``)."""
        if not name.startswith("gen"):
            return dict(state_dict)
        return {
            k: v
            for k, v in state_dict.items()
            if not (k.endswith((".norm.running_mean", ".norm.running_var")) and k.startswith(("dec.", "enc_content.")))
        }

    @classmethod
    def ours_to_official(cls, name: str, state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Our state dict with the official AdaIN dummy buffers put back (zeros / ones), in the official key order,
        so that the official ``load_state_dict`` (strict) takes it."""
        if not name.startswith("gen"):
            return dict(state_dict)
        # The official AdaIN module registers its buffers; here they follow the conv of the same block.
        ordered: dict[str, torch.Tensor] = {}
        for k, v in state_dict.items():
            ordered[k] = v
            if k.startswith("dec.model.0.") and k.endswith(".conv.bias"):
                prefix = k[: -len("conv.bias")]
                c = v.shape[0]
                ordered[prefix + "norm.running_mean"] = torch.zeros(c, dtype=v.dtype)
                ordered[prefix + "norm.running_var"] = torch.ones(c, dtype=v.dtype)
        return ordered

    @classmethod
    def from_official_files(
        cls,
        gen: str | os.PathLike | Mapping[str, Any] | None = None,
        dis: str | os.PathLike | Mapping[str, Any] | None = None,
        **options: Any,
    ) -> MUNIT:
        """The model from the official ``gen_<iteration>.pt`` / ``dis_<iteration>.pt`` (each ``{"a": ..., "b": ...}``,
        read with ``weights_only=True``), in eval mode; options not given are read from the weights.

        Raises:
            translation_zoo.hub.OfficialWeightsError: a file that is not ``{"a", "b"}`` state dicts, or weights that
                do not fit the given options.
        """
        from ..hub import from_official

        return from_official("munit", **read_official_pair(gen, dis), **options)

    @classmethod
    def official_options(cls, state: dict[str, dict[str, torch.Tensor]], hparams: dict[str, Any]) -> dict[str, Any]:
        from ..hub import Evidence, OfficialWeightsError, merge_evidence

        evidence: dict[str, Evidence] = {}
        for name, channels in (("gen_a", "input_nc"), ("gen_b", "output_nc")):
            if name not in state:
                continue
            sd, ev = state[name], Evidence()
            if "enc_content.model.0.conv.weight" not in sd or "mlp.model.0.fc.weight" not in sd:
                raise OfficialWeightsError(f"{name}: not a MUNIT AdaINGen (no enc_content.model.0.conv.weight/mlp)")
            first = sd["enc_content.model.0.conv.weight"]  # (ngf, channels, 7, 7)
            ev.add("ngf", first.shape[0], f"enc_content.model.0.conv.weight has {first.shape[0]} filters")
            ev.add(channels, first.shape[1], f"enc_content.model.0.conv.weight takes {first.shape[1]} channels")
            stages = {int(k.split(".")[2]) for k in sd if k.startswith("enc_content.model.")}
            ev.add("n_downsample", max(stages) - 1, f"enc_content.model has {max(stages) + 1} stages")
            n_res = len({k.split(".")[4] for k in sd if k.startswith(f"enc_content.model.{max(stages)}.model.")})
            ev.add("n_res", n_res, f"{n_res} content encoder residual blocks")
            mlp = sd["mlp.model.0.fc.weight"]  # (mlp_dim, style_dim)
            ev.add("style_dim", mlp.shape[1], f"mlp.model.0.fc.weight takes {mlp.shape[1]} style values")
            ev.add("mlp_dim", mlp.shape[0], f"mlp.model.0.fc.weight has {mlp.shape[0]} outputs")
            evidence[name] = ev
        for name, channels in (("dis_a", "input_nc"), ("dis_b", "output_nc")):
            if name not in state:
                continue
            sd, ev = state[name], Evidence()
            if "cnns.0.0.conv.weight" not in sd:
                raise OfficialWeightsError(f"{name}: not a MUNIT MsImageDis (no cnns.0.0.conv.weight)")
            first = sd["cnns.0.0.conv.weight"]
            ev.add("ndf", first.shape[0], f"cnns.0.0.conv.weight has {first.shape[0]} filters")
            ev.add(channels, first.shape[1], f"cnns.0.0.conv.weight takes {first.shape[1]} channels")
            scales = len({k.split(".")[1] for k in sd})
            ev.add("num_scales", scales, f"{scales} nets in cnns")
            layers = len({k.split(".")[2] for k in sd if k.startswith("cnns.0.")}) - 1
            ev.add("n_layers_d", layers, f"cnns.0 has {layers} 4x4 convs")
            evidence[name] = ev
        return merge_evidence(evidence, hparams)


__all__ = [
    "MUNIT",
    "MLP",
    "AdaINGen",
    "AdaptiveInstanceNorm2d",
    "ExampleGuidedTranslator",
    "StyleEncoder",
    "StyleTranslator",
]
