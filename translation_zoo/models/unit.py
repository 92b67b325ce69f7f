"""UNIT: Unsupervised Image-to-Image Translation Networks.

Liu, Breuel, Kautz. NeurIPS 2017. arXiv:1703.00848
Reference code: mingyuliutw/UNIT, master (the 2018 re-release in the MUNIT code structure: ``trainer.py``
``UNIT_Trainer``, ``networks.py`` ``VAEGen``/``MsImageDis``, ``configs/unit_*.yaml``); the paper's shared layers
follow its ``version_02`` branch (``src/trainers/cocogan_nets.py``, ``n_enc_shared_blk``/``n_gen_shared_blk``).

The shared-latent space assumption (§2): a pair of corresponding images x1, x2 maps to one latent code z. Each
domain has a VAE (``gen_a``: E1, G1; ``gen_b``: E2, G2). E_i(x) is the mean of q_i(z|x) = N(E_i(x), I): training
decodes z = E_i(x) + n with n ~ N(0, I), inference decodes E_i(x) itself. x1→2 = G2(E1(x1)). Encoder: 7x7 conv,
``n_downsample`` 4x4 stride-2 convs and ``n_res`` residual blocks, instance norm, ReLU, reflection padding. Decoder:
``n_res`` residual blocks (instance norm), ``n_downsample`` x (nearest upsampling, 5x5 conv, layer norm, ReLU), a
7x7 conv and tanh. The weight sharing of §2 (the last layers of E1, E2 and the first of G1, G2 are one set of
weights): the last ``n_shared`` residual blocks of the encoders and the first ``n_shared`` of the decoders are the
same modules in ``gen_a`` and ``gen_b``. Discriminators D1 (``dis_a``), D2 (``dis_b``): three scales (the input,
then average-pooled by 2 twice), each ``n_layers_d`` 4x4 stride-2 convs with LeakyReLU(0.2), no norm, and a 1x1
conv; the loss is summed over the scales.

Losses (Eq. 2-5, weights of the official configs): the VAE terms L_VAE (Eq. 3): λ1 KL(q_i(z|x_i) || N(0, I)),
computed as the official code does, mean(E_i(x)²) (the KL of N(μ, I) against N(0, I) is ½ Σ μ²: a constant
factor), weight ``lambda_kl`` = 0.01, and -λ2 log p_G(x|z) as the L1 reconstruction error (a Laplacian
likelihood), ``lambda_rec`` = 10. The GAN terms L_GAN (Eq. 4), least squares (``gan_mode='lsgan'``), λ0 =
``lambda_gan`` = 1. The cycle terms L_CC (Eq. 5): λ3 KL(q(z|x1→2) || N(0, I)), ``lambda_kl_cyc`` = 0.01, and the
L1 error of x1→2→1 = G1(E2(x1→2) + n), λ4 = ``lambda_cyc`` = 10. (The paper's λ0..λ4 = 10, 0.1, 100, 0.1, 100
are these x10 on per-pixel sums; the official configs use these values on means.) Adam(1e-4, β = (0.5, 0.999),
weight decay 1e-4) for G = {gen_a, gen_b} and D = {dis_a, dis_b}; the learning rate halves every 100,000
iterations, stepped before each iteration as in the official ``train.py``; batch 1; D updated before G in each
iteration. Initialisation: Kaiming-normal (fan_in) conv weights and zero biases, then N(0, 0.02) for the
discriminators (the official ``weights_init('kaiming')`` then ``weights_init('gaussian')``); the layer norms' γ
start U(0, 1) and β 0, as in the official ``LayerNorm``.

Parameters (config ``unit_edges2handbags_folder``, also edges2shoes, summer2winter and gta2city: 3 channels,
``ngf = ndf = 64``, 2 down-samplings, 4 residual blocks, 4-layer D at 3 scales), equal to the official networks:
``gen_a`` = ``gen_b`` = 11,140,483 each (its encoder 5,385,856, its decoder 5,754,627), ``dis_a`` = ``dis_b`` =
8,271,171 each (``tests/test_unit.py`` pins them). With ``n_shared = 1`` one encoder and one decoder residual
block (1,180,160 parameters each) belong to both generators: 19,920,646 distinct generator parameters instead of
22,280,966.

Deviations:

* ``n_shared = 1`` by default: the paper's weight sharing (§2, Fig. 1; the ``version_02`` code shares one encoder
  and one decoder residual block). The official master code shares no weights (two independent ``VAEGen``); set
  ``n_shared = 0`` for it (its weights load only so, and ``from_official`` reads it from them). Every network's
  own parameter count is the official one either way.
* The fakes x1→2, x2→1 (with one draw of the noise n) are computed once per iteration and serve the D step
  (detached) and then the G step; the official code encodes and decodes again in its G step with a fresh noise
  draw. The generators do not change in between, so the losses have the same distribution.
* The domain-invariant perceptual loss of the MUNIT code (``vgg_w``, 0 in every UNIT config) is not provided.

Official weights: the official code saves ``gen_<iteration>.pt`` = ``{"a": gen_a, "b": gen_b}`` and
``dis_<iteration>.pt`` = ``{"a": dis_a, "b": dis_b}``; our key layout is the official one, key for key
(:meth:`UNIT.official_to_ours` is the identity; the InstanceNorm statistics of PyTorch 0.3 files are dropped, as
the official ``pytorch03_to_pytorch04`` does). ``UNIT.from_official_files("gen_01000000.pt", "dis_01000000.pt")``
builds the model (options read from the weights; ``n_shared = 0`` for independent generators). Released weights:
``unit_gta2city.pt`` (GTA5 → Cityscapes, 512 px, a generator file) on Google Drive (``TUTORIAL.md``); it cannot be
fetched by URL here, so it is not in :func:`translation_zoo.weights` - load the downloaded file with
``from_official_files``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import partial
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from ..losses import GANLoss
from ..nn import init_weights
from ..nn.unit_blocks import ContentEncoder, Decoder, LayerNorm, MsImageDis, official_step_lr, read_official_pair
from .base import Condition, InferenceSpec, TranslationGAN

# --------------------------------------------------------------------------------------------------- blocks
# The official networks.py blocks that MUNIT shares unchanged live in translation_zoo/nn/unit_blocks.py; their module
# and attribute names give the official state-dict keys (``enc.model.3.model.0.model.1.conv.weight``).
Encoder = ContentEncoder  # E_i: the official ContentEncoder (IN, ReLU), the mean of q_i(z|x)


class VAEGen(nn.Module):
    """One domain's VAE, the official ``VAEGen``: ``enc`` (E_i) and ``dec`` (G_i)."""

    def __init__(self, input_nc: int, ngf: int = 64, n_downsample: int = 2, n_res: int = 4) -> None:
        super().__init__()
        self.enc = Encoder(input_nc, ngf, n_downsample, n_res)
        self.dec = Decoder(self.enc.output_dim, input_nc, n_downsample, n_res, res_norm="in")
        self.size_multiple = 2**n_downsample

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """E_i(x), the mean of q_i(z|x) = N(E_i(x), I)."""
        return self.enc(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.dec(z)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Reconstruction G_i(E_i(x)) without noise (the official eval mode)."""
        return self.dec(self.enc(x))


def share_layers(gen_a: VAEGen, gen_b: VAEGen, n_shared: int) -> None:
    """Tie the last ``n_shared`` residual blocks of the encoders and the first ``n_shared`` of the decoders: gen_b's
    become gen_a's modules (one set of tensors, §2's weight sharing)."""
    enc_a, enc_b = gen_a.enc.model[-1].model, gen_b.enc.model[-1].model
    dec_a, dec_b = gen_a.dec.model[0].model, gen_b.dec.model[0].model
    n = len(enc_a)
    for i in range(n - n_shared, n):
        enc_b[i] = enc_a[i]
    for i in range(n_shared):
        dec_b[i] = dec_a[i]


class Translator(nn.Module):
    """x_{i→j} = G_j(E_i(x)), for inference and export (no noise, as at the official test time)."""

    def __init__(self, source: VAEGen, target: VAEGen) -> None:
        super().__init__()
        self.enc = source.enc
        self.dec = target.dec
        self.size_multiple = source.size_multiple

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dec(self.enc(x))


def kl_unit_variance(mu: torch.Tensor) -> torch.Tensor:
    """The official KL term of q(z|x) = N(μ, I) against N(0, I): mean(μ²) (the KL is ½ Σ μ², up to that factor)."""
    return mu.float().square().mean()


# ------------------------------------------------------------------------------------------------- model
class UNIT(TranslationGAN):
    """UNIT (Liu et al. 2017): two VAE-GANs with a shared latent space and cycle consistency.

    Args:
        input_nc: channels of domain A (official ``input_dim_a``: 3).
        output_nc: channels of domain B (``input_dim_b``: 3).
        ngf: filters of the encoders' first conv (``gen.dim``: 64).
        ndf: filters of the discriminators' first conv (``dis.dim``: 64).
        n_downsample: stride-2 convs of each encoder and up-samplings of each decoder (``gen.n_downsample``: 2).
        n_res: residual blocks of each encoder and each decoder (``gen.n_res``: 4).
        n_shared: of those, residual blocks at the end of the encoders and the start of the decoders that the two
            domains share (§2's weight sharing; the paper's code: 1; official master: 0, see the module doc).
        n_layers_d: stride-2 convs of each discriminator scale (``dis.n_layer``: 4).
        num_scales: discriminator scales (``dis.num_scales``: 3).
        gan_mode: ``lsgan`` (``dis.gan_type``: lsgan) or ``vanilla`` (the official ``nsgan``).
        lambda_gan: λ0 of Eq. (4) (``gan_w``: 1).
        lambda_rec: λ2 of Eq. (3), weight of the L1 reconstruction (``recon_x_w``: 10).
        lambda_kl: λ1 of Eq. (3), weight of the KL term (``recon_kl_w``: 0.01).
        lambda_cyc: λ4 of Eq. (5), weight of the L1 cycle reconstruction (``recon_x_cyc_w``: 10).
        lambda_kl_cyc: λ3 of Eq. (5), weight of the KL term of the translated image's code (``recon_kl_cyc_w``:
            0.01).
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
        val_metrics: what validation and test report for A→B (``fid``, ``kid``, ``acc``; ``None``: ``fid`` and
            ``kid`` if ``feature_extractor`` is set), next to the cycle errors.
        feature_extractor: feature space of fid/kid/acc, one of domain B (``digits_uci`` for the demo).
        **kwargs: further options of :class:`TranslationGAN` (``fused``, ``optimizer``, ...).
    """

    batch_kind = "unpaired"
    tiny_config = {
        "input_nc": 1,
        "output_nc": 1,
        "ngf": 4,
        "ndf": 4,
        "n_downsample": 2,
        "n_res": 2,
        "n_shared": 1,
        "n_layers_d": 2,
        "num_scales": 2,
    }

    official_names = ("unit",)
    official_networks = {"gen_a": "gen_a", "gen_b": "gen_b", "dis_a": "dis_a", "dis_b": "dis_b"}
    official_file_pattern = "{name}_{epoch}.pt"  # not the official layout (two files of two networks): see above

    def __init__(
        self,
        input_nc: int = 3,
        output_nc: int = 3,
        ngf: int = 64,
        ndf: int = 64,
        n_downsample: int = 2,
        n_res: int = 4,
        n_shared: int = 1,
        n_layers_d: int = 4,
        num_scales: int = 3,
        gan_mode: Literal["lsgan", "vanilla"] = "lsgan",
        lambda_gan: float = 1.0,
        lambda_rec: float = 10.0,
        lambda_kl: float = 0.01,
        lambda_cyc: float = 10.0,
        lambda_kl_cyc: float = 0.01,
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
        if not 0 <= n_shared <= n_res:
            raise ValueError(f"n_shared must be in 0..n_res = {n_res} (residual blocks shared), got {n_shared}")
        if gan_mode not in ("lsgan", "vanilla"):
            raise ValueError(f"gan_mode must be 'lsgan' or 'vanilla' (the official nsgan), got {gan_mode!r}")
        if n_downsample < 0 or n_res < 0 or n_layers_d < 1 or num_scales < 1:
            raise ValueError("n_downsample and n_res must be >= 0, n_layers_d and num_scales >= 1")
        if step_size is not None:
            if step_size < 1:
                raise ValueError(f"step_size must be >= 1 (iterations) or None, got {step_size}")
            if self.lr_scheduler_factory is not None or lr_policy != "constant":
                raise ValueError(
                    "step_size is the official per-iteration step policy; set step_size=None to use lr_policy or "
                    "lr_scheduler instead"
                )

        self.gen_a = VAEGen(input_nc, ngf, n_downsample, n_res)
        self.gen_b = VAEGen(output_nc, ngf, n_downsample, n_res)
        self.dis_a = MsImageDis(input_nc, ndf, n_layers_d, num_scales)
        self.dis_b = MsImageDis(output_nc, ndf, n_layers_d, num_scales)
        for net in (self.gen_a, self.gen_b):
            init_weights(net, init_type)
        for net in (self.dis_a, self.dis_b):
            init_weights(net, "normal", 0.02)  # the official weights_init('gaussian') of the discriminators
        share_layers(self.gen_a, self.gen_b, n_shared)
        self.criterion_gan = GANLoss(gan_mode)
        self.eval_metrics = self.build_eval_metrics(val_metrics, feature_extractor, paired=False)

    # ------------------------------------------------------------------------------------------- players
    def param_groups(self) -> dict[str, list[nn.Module]]:
        # One optimiser over both VAEs (shared blocks counted once) and one over both discriminators.
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
        return {
            "direction": Condition(
                "choice", "a2b: G2(E1(x)) (A→B), b2a: G1(E2(x)) (B→A)", choices=("a2b", "b2a"), default="a2b"
            )
        }

    def inference_spec(self, **conditions: Any) -> InferenceSpec:
        conditions = self.check_conditions(conditions)
        if conditions.get("direction", "a2b") == "a2b":
            return InferenceSpec(
                Translator(self.gen_a, self.gen_b), int(self.hparams.input_nc), self.gen_a.size_multiple
            )
        return InferenceSpec(Translator(self.gen_b, self.gen_a), int(self.hparams.output_nc), self.gen_b.size_multiple)

    def forward(self, x: torch.Tensor, direction: Literal["a2b", "b2a"] = "a2b") -> torch.Tensor:
        """Translate without noise (z = E(x), as the official test code): A→B = G2(E1(x)), B→A = G1(E2(x))."""
        if direction == "a2b":
            return self.gen_b.decode(self.gen_a.encode(x))
        if direction == "b2a":
            return self.gen_a.decode(self.gen_b.encode(x))
        raise ValueError(f"direction must be 'a2b' or 'b2a', got {direction!r}")

    # ------------------------------------------------------------------------------------------ training
    def _gan(self, outputs: list[torch.Tensor], real: bool) -> torch.Tensor:
        # GANLoss averages over the scales; the official loss sums them.
        return len(outputs) * self.criterion_gan(outputs, real)

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        hp = self.hparams
        real_a, real_b = batch["A"], batch["B"]  # (N, input_nc, H, W), (N, output_nc, H, W)
        opt_g, opt_d = self.optimizers()

        # Encode: μ = E_i(x) and the sample z_i = μ + n, n ~ N(0, I) (the reparametrisation of q_i(z|x) = N(μ, I)).
        h_a, h_b = self.gen_a.encode(real_a), self.gen_b.encode(real_b)  # (N, ngf·2^k, H/2^k, W/2^k)
        z_a, z_b = h_a + torch.randn_like(h_a), h_b + torch.randn_like(h_b)
        fake_a = self.gen_a.decode(z_b)  # x_{2→1} = G1(z2)
        fake_b = self.gen_b.decode(z_a)  # x_{1→2} = G2(z1)

        # D step first, as in the official train.py: L_GAN of Eq. (4), the discriminators' side.
        with self.toggled_optimizer(opt_d):
            fa, fb = fake_a.detach(), fake_b.detach()
            self._step(
                opt_d,
                {
                    "d_a": hp.lambda_gan * (self._gan(self.dis_a(fa), False) + self._gan(self.dis_a(real_a), True)),
                    "d_b": hp.lambda_gan * (self._gan(self.dis_b(fb), False) + self._gan(self.dis_b(real_b), True)),
                },
            )

        with self.toggled_optimizer(opt_g):
            rec_a = self.gen_a.decode(z_a)  # x_{1→1} = G1(z1)
            rec_b = self.gen_b.decode(z_b)
            # Encode the translations again, then decode back: x_{1→2→1} = G1(E2(x_{1→2}) + n).
            h_ab, h_ba = self.gen_b.encode(fake_b), self.gen_a.encode(fake_a)
            cyc_a = self.gen_a.decode(h_ab + torch.randn_like(h_ab))
            cyc_b = self.gen_b.decode(h_ba + torch.randn_like(h_ba))
            losses = {
                # L_GAN, Eq. (4), the generators' side (λ0).
                "g_adv_a": hp.lambda_gan * self._gan(self.dis_a(fake_a), True),
                "g_adv_b": hp.lambda_gan * self._gan(self.dis_b(fake_b), True),
                # L_VAE, Eq. (3): -log p_G(x|z) as L1 (λ2) and KL(q(z|x) || N(0, I)) (λ1).
                "g_rec_a": hp.lambda_rec * F.l1_loss(rec_a, real_a),
                "g_rec_b": hp.lambda_rec * F.l1_loss(rec_b, real_b),
                "g_kl_a": hp.lambda_kl * kl_unit_variance(h_a),
                "g_kl_b": hp.lambda_kl * kl_unit_variance(h_b),
                # L_CC, Eq. (5): the cycle reconstruction as L1 (λ4) and the KL of the translation's code (λ3).
                "g_cyc_a": hp.lambda_cyc * F.l1_loss(cyc_a, real_a),
                "g_cyc_b": hp.lambda_cyc * F.l1_loss(cyc_b, real_b),
                "g_kl_cyc_a": hp.lambda_kl_cyc * kl_unit_variance(h_ab),
                "g_kl_cyc_b": hp.lambda_kl_cyc * kl_unit_variance(h_ba),
            }
            self._step(opt_g, losses)

        if hp.step_size is not None:
            schedulers = self.lr_schedulers()
            for sch in schedulers if isinstance(schedulers, list) else [schedulers]:
                sch.step()

    # ------------------------------------------------------------------------------------------- visuals
    @torch.no_grad()
    def visuals(self, batch: dict[str, Any]) -> list[list[torch.Tensor]]:
        """The official sample grid per domain: x | reconstruction G_i(E_i(x)) | translation | cycle."""
        rows = []
        for real, own, other in ((batch["A"], self.gen_a, self.gen_b), (batch["B"], self.gen_b, self.gen_a)):
            h = own.encode(real)
            fake = other.decode(h)
            rows.append([real, own.decode(h), fake, own.decode(other.encode(fake))])
        return rows

    # ---------------------------------------------------------------------------------------- evaluation
    def eval_step(self, batch: dict[str, Any], stage: str) -> None:
        # val/cyc_a, val/cyc_b (L1 of the noise-free cycle) and the metrics of A→B against real B.
        self.eval_cycle(batch, stage, partial(self, direction="a2b"), partial(self, direction="b2a"))

    # ---------------------------------------------------------------------------------- official weights
    @classmethod
    def official_to_ours(cls, name: str, state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return dict(state_dict)  # the official keys, key for key (hub drops PyTorch 0.3 InstanceNorm statistics)

    @classmethod
    def from_official_files(
        cls,
        gen: str | os.PathLike | Mapping[str, Any] | None = None,
        dis: str | os.PathLike | Mapping[str, Any] | None = None,
        **options: Any,
    ) -> UNIT:
        """The model from the official ``gen_<iteration>.pt`` / ``dis_<iteration>.pt`` (each ``{"a": ..., "b": ...}``,
        read with ``weights_only=True``), in eval mode; options not given are read from the weights.

        Raises:
            translation_zoo.hub.OfficialWeightsError: a file that is not ``{"a", "b"}`` state dicts, or weights that
                do not fit the given options.
        """
        from ..hub import from_official

        return from_official("unit", **read_official_pair(gen, dis), **options)

    @classmethod
    def official_options(cls, state: dict[str, dict[str, torch.Tensor]], hparams: dict[str, Any]) -> dict[str, Any]:
        from ..hub import Evidence, OfficialWeightsError, merge_evidence

        evidence: dict[str, Evidence] = {}
        for name, channels in (("gen_a", "input_nc"), ("gen_b", "output_nc")):
            if name not in state:
                continue
            sd, ev = state[name], Evidence()
            if "enc.model.0.conv.weight" not in sd:
                raise OfficialWeightsError(f"{name}: not a UNIT VAEGen (no enc.model.0.conv.weight)")
            first = sd["enc.model.0.conv.weight"]  # (ngf, channels, 7, 7)
            ev.add("ngf", first.shape[0], f"enc.model.0.conv.weight has {first.shape[0]} filters")
            ev.add(channels, first.shape[1], f"enc.model.0.conv.weight takes {first.shape[1]} channels")
            stages = {int(k.split(".")[2]) for k in sd if k.startswith("enc.model.")}
            ev.add("n_downsample", max(stages) - 1, f"enc.model has {max(stages) + 1} stages")
            n_res = len({k.split(".")[4] for k in sd if k.startswith(f"enc.model.{max(stages)}.model.")})
            ev.add("n_res", n_res, f"{n_res} encoder residual blocks")
            evidence[name] = ev
        if "gen_a" in state and "gen_b" in state:
            evidence["gen_a/gen_b"] = Evidence()
            n_shared = _count_shared(state["gen_a"], state["gen_b"], evidence["gen_a"]["n_res"][0])
            evidence["gen_a/gen_b"].add("n_shared", n_shared, f"{n_shared} residual blocks are equal in both")
        elif "gen_a" in state or "gen_b" in state:
            evidence["gen"] = Evidence()
            evidence["gen"].add("n_shared", 0, "one generator given: the official independent VAEs")
        for name, channels in (("dis_a", "input_nc"), ("dis_b", "output_nc")):
            if name not in state:
                continue
            sd, ev = state[name], Evidence()
            if "cnns.0.0.conv.weight" not in sd:
                raise OfficialWeightsError(f"{name}: not a UNIT MsImageDis (no cnns.0.0.conv.weight)")
            first = sd["cnns.0.0.conv.weight"]
            ev.add("ndf", first.shape[0], f"cnns.0.0.conv.weight has {first.shape[0]} filters")
            ev.add(channels, first.shape[1], f"cnns.0.0.conv.weight takes {first.shape[1]} channels")
            scales = len({k.split(".")[1] for k in sd})
            ev.add("num_scales", scales, f"{scales} nets in cnns")
            layers = len({k.split(".")[2] for k in sd if k.startswith("cnns.0.")}) - 1
            ev.add("n_layers_d", layers, f"cnns.0 has {layers} 4x4 convs")
            evidence[name] = ev
        return merge_evidence(evidence, hparams)


def _count_shared(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor], n_res: int) -> int:
    """How many trailing encoder / leading decoder residual blocks hold equal tensors in both generators (0 for the
    official independent VAEs; ``n_shared`` for weights written from a model with shared blocks)."""
    enc = max(int(k.split(".")[2]) for k in a if k.startswith("enc.model."))

    def same(prefix: str) -> bool:
        keys = [k for k in a if k.startswith(prefix)]
        return bool(keys) and all(k in b and b[k].shape == a[k].shape and torch.equal(a[k], b[k]) for k in keys)

    for n in range(n_res, 0, -1):
        enc_same = all(same(f"enc.model.{enc}.model.{i}.") for i in range(n_res - n, n_res))
        dec_same = all(same(f"dec.model.0.model.{i}.") for i in range(n))
        if enc_same and dec_same:
            return n
    return 0


__all__ = ["UNIT", "LayerNorm", "MsImageDis", "Translator", "VAEGen", "kl_unit_variance", "share_layers"]
