"""CVAE-GAN: Fine-Grained Image Generation through Asymmetric Training.

Bao, Chen, Wen, Li, Hua. ICCV 2017. arXiv:1703.10155
Reference code: none released; implemented from the paper (arXiv:1703.10155v2, §3 and Algorithm 1). Every choice the
paper leaves open is listed under "Deviations and choices" below.

Four networks (§3.1, Fig. 2(e)): an encoder E that maps an image x and its condition c to q(z | x, c) = N(μ, σ²I);
a generator G that decodes (z, c) into an image; a discriminator D (real or generated) and a classifier C (the
class / attributes of an image). c is a one-hot class (the paper's identities, species; ``labels="domain"``) or a
vector of binary attributes (``labels="attributes"``, CelebA attribute files). The terms, with the paper's names:

- L_D = -E[log D(x_r)] - E[log(1 - D(x_f))] - E[log(1 - D(x_p))] (Eq. 1 with Algorithm 1's three terms): D's cross
  entropy on real images, reconstructions x_f = G(E(x_r, c_r), c_r) and prior samples x_p = G(z_p, c_r), z_p ~ N(0, I).
- L_C = -E[log P(c_r | x_r)] (Eq. 3): C's cross entropy on real images (binary attributes: the sum over attributes
  of their binary cross entropies).
- L_GD = ½ ||E_x f_D(x_r) - E_z f_D(x_p)||² (Eq. 2): mean feature matching of G against D — the asymmetric part: G
  does not minimise D's cross entropy but matches the mean of D's features of real images.
- L_GC = ½ Σ_c ||E_{x∼c} f_C(x_r) - E_{z} f_C(G(z, c))||² (Eq. 4): class-wise mean feature matching against C.
- L_KL = ½ (μᵀμ + Σ (exp ε - ε - 1)) (Eq. 5), ε = log σ², summed over z, averaged over images.
- L_G = ½ (||x_r - x_f||² + ||f_D(x_r) - f_D(x_f)||² + ||f_C(x_r) - f_C(x_f)||²) (Eq. 6): the pixel reconstruction
  plus pairwise feature matching in D's and C's features.
- L = L_D + L_C + λ1 L_KL + λ2 L_G + λ3 L_GD + λ4 L_GC (Eq. 7), λ1 = 3, λ2 = 1, λ3 = λ4 = 1e-3 (§3.4).

Algorithm 1 (asymmetric training): from one batch every loss is computed first, then
θ_D ← θ_D - ∇L_D; θ_C ← θ_C - ∇L_C; θ_G ← θ_G - ∇(λ2 L_G + λ3 L_GD + λ4 L_GC); θ_E ← θ_E - ∇(λ1 L_KL + λ2 L_G).
All four gradients are taken at the same parameters (``torch.autograd.grad`` of each network's own loss), then
each network steps: the order D, C, G, E of the algorithm then changes nothing.

Inference (the model contract, ``forward(x, target=...)``): z = μ(x, c_src), the image decoded with the target
condition, G(z, c_tgt). The source condition c_src is given (``source=``) or read by C from the image (the classifier
is part of the model, so editing needs no labels). :meth:`sample` draws class-conditional images G(z_p, c),
:meth:`morph` interpolates z between two images and/or c between two conditions (the paper's Fig. 6 and 7:
"attribute morphing").

Parameters at the defaults (``labels="domain"``, n_domains 530 = the FaceScrub identities, 64x64 RGB, nz 256, nf 64):
E 7,494,976; G 9,211,779; D 2,765,633; C 7,099,730 (``tests/test_cvaegan.py`` pins them with the layer arithmetic).
No official code exists to count against.

Deviations and choices (the paper leaves these open or states them too loosely to implement as written):

- Architectures: the paper builds E and C on GoogLeNet (Inception) and G and D as DCGAN's; the Inception variant at
  the paper's image size is not specified, so E and C here are DCGAN discriminator stacks (4x4 stride-2 convolutions,
  batch norm from the second, LeakyReLU 0.2; widths nf·2^i capped at ``max_nf``) down to 4x4, E with two linear heads
  (μ, log σ²) and C with a linear classifier. G is the DCGAN generator (a linear layer to max_nf x 4 x 4, 4x4
  stride-2 transposed convolutions with batch norm and ReLU, tanh); D is the DCGAN discriminator.
- Where c enters: E reads c as constant input channels (CVAE), G reads the concatenation [z, c] (``encoder_condition``
  turns E's off).
- f_D and f_C: the output of the last convolution block of D / C (max_nf x 4 x 4, flattened), the layer before their
  heads ("an intermediate layer" in the paper).
- Batch statistics: D and C each run once on [x_r; x_f; x_p] (their batch norm normalises over all three, so the
  feature means are comparable); C's loss reads the real rows only.
- Class-wise means (Eq. 4) over the images of each class present in the batch (no running averages); with
  ``labels="attributes"`` every (attribute, value) pair is a class. x_p uses the real conditions c_r of the batch
  (Algorithm 1), so every class of the batch has both means.
- Reparameterisation z = μ + exp(ε / 2) ⊙ r (the paper prints exp(ε), inconsistent with Eq. 5's ε = log σ²).
- Norms: squared L2 norms summed over pixels / features / z and averaged over the batch (the paper writes the norms
  per sample without the reduction).
- Optimiser: Adam(2e-4, (0.5, 0.999)) for every network (DCGAN's; the paper does not state its own), constant rate;
  batch 64; DCGAN's initialisation N(0, 0.02) (batch norm γ ~ N(1, 0.02)). Image size 64 (the paper's is not stated
  for every dataset; ``image_size`` 32..256, powers of two).
- Inference uses z = μ (no sampling) and C's prediction for the source condition when none is given. E and C end in
  linear layers, so images of another size are resized to ``image_size`` and the output back to their size.
- Precision: the per-network gradients are taken with ``torch.autograd.grad``; use fp32 or bf16 (fp16's loss scaler
  is not applied). For the same reason DDP does not all-reduce them: train on one device.
- G's batch-norm running statistics are updated by both of its passes (reconstructions and prior samples).
"""

from __future__ import annotations

import math
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from ..nn.init import init_weights
from .base import Condition, InferenceSpec, TranslationGAN


# ------------------------------------------------------------------------------------------------ networks
def _widths(image_size: int, nf: int, max_nf: int) -> list[int]:
    """Channel widths of the stride-2 stages from ``image_size`` down to 4x4 (DCGAN: 64, 128, 256, 512 at 64 px)."""
    if image_size < 8 or image_size & (image_size - 1):
        raise ValueError(f"image_size={image_size} must be a power of 2 >= 8")
    return [min(nf * 2**i, max_nf) for i in range(int(math.log2(image_size)) - 2)]


class ConvStack(nn.Module):
    """The DCGAN discriminator trunk: 4x4 stride-2 convs, batch norm from the second, LeakyReLU 0.2; image (N, C, S,
    S) -> features (N, widths[-1], 4, 4). Shared by E, D and C (each its own copy)."""

    def __init__(self, in_channels: int, widths: list[int]) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c = in_channels
        for i, w in enumerate(widths):
            layers.append(nn.Conv2d(c, w, 4, 2, 1, bias=i == 0))
            if i > 0:
                layers.append(nn.BatchNorm2d(w))
            layers.append(nn.LeakyReLU(0.2))
            c = w
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class Encoder(nn.Module):
    """E: image (N, C, S, S) and condition c (N, n_c) -> μ, log σ² (N, nz) of q(z | x, c)."""

    def __init__(self, input_nc: int, n_cond: int, widths: list[int], nz: int, condition: bool) -> None:
        super().__init__()
        self.condition = condition
        self.trunk = ConvStack(input_nc + (n_cond if condition else 0), widths)
        self.mu = nn.Linear(widths[-1] * 16, nz)
        self.logvar = nn.Linear(widths[-1] * 16, nz)

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.condition:  # c as constant maps (CVAE)
            x = torch.cat([x, c.to(x.dtype)[:, :, None, None].expand(-1, -1, x.shape[2], x.shape[3])], 1)
        h = self.trunk(x).flatten(1)
        return self.mu(h), self.logvar(h)


class Generator(nn.Module):
    """G: [z, c] (N, nz + n_c) -> image (N, C, S, S) in [-1, 1] (the DCGAN generator)."""

    def __init__(self, nz: int, n_cond: int, widths: list[int], output_nc: int) -> None:
        super().__init__()
        top = widths[-1]
        self.fc = nn.Sequential(
            nn.Linear(nz + n_cond, top * 16, bias=False),
            nn.BatchNorm1d(top * 16),
            nn.ReLU(),
            nn.Unflatten(1, (top, 4, 4)),
        )
        layers: list[nn.Module] = []
        for c_in, c_out in zip(widths[::-1], widths[::-1][1:]):
            layers += [nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU()]
        layers += [nn.ConvTranspose2d(widths[0], output_nc, 4, 2, 1), nn.Tanh()]
        self.ups = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        return self.ups(self.fc(torch.cat([z, c.to(z.dtype)], 1)))


class FeatureNet(nn.Module):
    """D (``n_out=1``: the real/fake logit) or C (``n_out`` class / attribute logits): image -> (logits (N, n_out),
    features f (N, widths[-1] * 16)), f the last convolution block's output, flattened."""

    def __init__(self, input_nc: int, widths: list[int], n_out: int) -> None:
        super().__init__()
        self.trunk = ConvStack(input_nc, widths)
        self.head = nn.Linear(widths[-1] * 16, n_out)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f = self.trunk(x).flatten(1)
        return self.head(f), f


def _resized(x: torch.Tensor, size: int | tuple[int, int]) -> torch.Tensor:
    """x bilinearly resized (the identity at its own size: align_corners=False at scale 1). E and C end in linear
    layers, so inference runs them at the training size and resizes the output back to the input's."""
    return F.interpolate(x, size=(size, size) if isinstance(size, int) else size, mode="bilinear", align_corners=False)


class _Editor(nn.Module):
    """What inference and export run: x (any size) resized to the training size, C reads the source condition, E
    encodes, G decodes with the target, the output resized to x's size. ``target``: (N,) class indices (``index``)
    or (N, K) attribute values."""

    def __init__(self, model: CVAEGAN, index: bool) -> None:
        super().__init__()
        self.encoder, self.gen, self.clf = model.encoder, model.gen, model.clf
        self.index, self.n, self.size = index, model.n_cond, model.hparams.image_size

    def condition(self, target: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        if self.index:
            return F.one_hot(target.long().reshape(-1), self.n).to(like.dtype).expand(like.shape[0], -1)
        return target.to(like.dtype).reshape(-1, self.n).expand(like.shape[0], -1)

    def source(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.clf(x)[0]
        if self.index:
            return F.one_hot(logits.argmax(1), self.n).to(x.dtype)
        return (logits > 0).to(x.dtype)

    def forward(self, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        h = _resized(x, self.size)
        mu = self.encoder(h, self.source(h))[0]
        return _resized(self.gen(mu, self.condition(target, h)), x.shape[-2:])


# ----------------------------------------------------------------------------------------------- the model
class CVAEGAN(TranslationGAN):
    """CVAE-GAN (see the module docstring).

    Args:
        input_nc: image channels (3).
        n_domains: classes (``labels="domain"``; FaceScrub 530 identities, CUB 200 species, Oxford flowers 102) or
            binary attributes (``labels="attributes"``).
        labels: ``domain`` (batches ``"domain"`` (N,): c one-hot) or ``attributes`` (batches ``"attrs"`` (N, K) in
            {0, 1}: c the attribute vector).
        image_size: training image side (64; a power of two).
        nz: dimension of z (256; not stated by the paper).
        nf: filters of the first convolution of E, D, C and the last of G (DCGAN's 64).
        max_nf: cap of the filters (512).
        encoder_condition: E reads c besides x (the CVAE's q(z | x, c)).
        lambda_kl / lambda_rec / lambda_gd / lambda_gc: λ1..λ4 of Eq. 7 for L_KL, L_G, L_GD, L_GC (3, 1, 1e-3, 1e-3).
        lr / beta1 / beta2: Adam of every network (2e-4, 0.5, 0.999).
        domain_names: class or attribute names in label order, saved with the model.
        val_metrics / feature_extractor: the evaluation suite (:meth:`TranslationGAN.build_eval_metrics`): metrics of
            prior samples of the batch's classes against the real images.
        **kwargs: options of :class:`TranslationGAN` (``optimizer``, ``lr_scheduler``, ``fused``, ``init_type``...).
    """

    batch_kind = "multidomain"
    tiny_config = {"input_nc": 1, "n_domains": 3, "labels": "domain", "image_size": 32, "nz": 8, "nf": 4, "max_nf": 16}

    def __init__(
        self,
        input_nc: int = 3,
        n_domains: int = 530,
        labels: Literal["domain", "attributes"] = "domain",
        image_size: int = 64,
        nz: int = 256,
        nf: int = 64,
        max_nf: int = 512,
        encoder_condition: bool = True,
        lambda_kl: float = 3.0,
        lambda_rec: float = 1.0,
        lambda_gd: float = 1e-3,
        lambda_gc: float = 1e-3,
        lr: float = 2e-4,
        beta1: float = 0.5,
        beta2: float = 0.999,
        domain_names: list[str] | None = None,
        lr_policy: Literal["linear", "step", "cosine", "constant"] = "constant",
        val_metrics: list[str] | None = None,
        feature_extractor: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(lr=lr, beta1=beta1, beta2=beta2, lr_policy=lr_policy, **kwargs)
        if labels not in ("domain", "attributes"):
            raise ValueError(f"labels must be 'domain' or 'attributes', got {labels!r}")
        if n_domains < (2 if labels == "domain" else 1):
            raise ValueError(f"n_domains={n_domains}: need >= 2 classes or >= 1 attribute")
        if domain_names is not None and len(domain_names) != n_domains:
            raise ValueError(f"domain_names has {len(domain_names)} names for n_domains={n_domains}")
        self.n_cond = n_domains  # length of c: one-hot classes or K attribute values
        widths = _widths(image_size, nf, max_nf)
        self.encoder = Encoder(input_nc, n_domains, widths, nz, encoder_condition)
        self.gen = Generator(nz, n_domains, widths, input_nc)
        self.disc = FeatureNet(input_nc, widths, 1)
        self.clf = FeatureNet(input_nc, widths, n_domains)
        for net in (self.encoder, self.gen, self.disc, self.clf):
            init_weights(net, self.hparams.init_type, self.hparams.init_gain)
        self.eval_metrics = self.build_eval_metrics(val_metrics, feature_extractor, paired=False)
        self.inference_size = (image_size, image_size)  # E and C take this size only (translate resizes to it)

    def param_groups(self) -> dict[str, list[nn.Module]]:
        # Algorithm 1's order: D, C, G, E.
        return {"D": [self.disc], "C": [self.clf], "G": [self.gen], "E": [self.encoder]}

    # ----------------------------------------------------------------------------------------- labels
    @property
    def index_labels(self) -> bool:
        return self.hparams.labels == "domain"

    def batch_labels(self, batch: dict[str, Any]) -> torch.Tensor:
        """(N,) int64 classes (``domain``) or (N, K) float attribute values in {0, 1} (``attributes``)."""
        key = "domain" if self.index_labels else "attrs"
        if key not in batch:
            raise KeyError(
                f"CVAEGAN(labels={self.hparams.labels!r}) reads batch[{key!r}]; set labels="
                f"{'attributes' if self.index_labels else 'domain'!r} to match the data module's layout"
            )
        value = batch[key]
        return value.long().reshape(-1) if self.index_labels else (value > 0.5).float()

    def condition(self, labels: torch.Tensor) -> torch.Tensor:
        """c (N, n_c): one-hot classes or the attribute vector."""
        return F.one_hot(labels, self.n_cond).float() if self.index_labels else labels.float()

    def classifier_loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """L_C (Eq. 3): -log P(c | x), softmax cross entropy over classes, or the sum over binary attributes."""
        if self.index_labels:
            return F.cross_entropy(logits, labels)
        return F.binary_cross_entropy_with_logits(logits, labels, reduction="none").sum(1).mean()

    def class_groups(self, labels: torch.Tensor) -> list[torch.Tensor]:
        """Boolean masks (N,) of the classes present in the batch: one per class, or one per (attribute, value)."""
        if self.index_labels:
            return [labels == k for k in labels.unique()]
        masks = []
        for k in range(labels.shape[1]):
            for v in (0.0, 1.0):
                m = labels[:, k] == v
                if m.any():
                    masks.append(m)
        return masks

    # ------------------------------------------------------------------------------------------ losses
    def losses(self, x: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
        """Every term of Algorithm 1 on real images x (N, C, S, S) with labels; unweighted, batch means."""
        n = x.shape[0]
        c = self.condition(labels)
        mu, logvar = self.encoder(x, c)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        x_f = self.gen(z, c)  # reconstruction
        x_p = self.gen(torch.randn_like(mu), c)  # prior sample of the same classes
        both = torch.cat([x, x_f, x_p])  # (3N, C, S, S): one batch norm statistic for all three
        d_logit, f_d = self.disc(both)
        c_logit, f_c = self.clf(both)
        d_logit = d_logit.squeeze(1).float()
        f_d, f_c = f_d.float(), f_c.float()
        real, fake = torch.ones_like(d_logit[:n]), torch.zeros_like(d_logit[:n])
        loss_d = (
            F.binary_cross_entropy_with_logits(d_logit[:n], real)
            + F.binary_cross_entropy_with_logits(d_logit[n : 2 * n], fake)
            + F.binary_cross_entropy_with_logits(d_logit[2 * n :], fake)
        )  # Eq. 1 with Algorithm 1's three terms
        loss_c = self.classifier_loss(c_logit[:n].float(), labels)  # Eq. 3, real images only
        kl = (0.5 * (mu.float() ** 2 + logvar.float().exp() - logvar.float() - 1).sum(1)).mean()  # Eq. 5
        fd_r, fd_f, fd_p = f_d.chunk(3)
        fc_r, fc_f, fc_p = f_c.chunk(3)

        def sq(a: torch.Tensor) -> torch.Tensor:  # ½ ||a||² per image, batch mean
            return 0.5 * a.flatten(1).pow(2).sum(1).mean()

        rec = sq(x.float() - x_f.float()) + sq(fd_r - fd_f) + sq(fc_r - fc_f)  # Eq. 6 (pairwise feature matching)
        gd = 0.5 * (fd_r.mean(0) - fd_p.mean(0)).pow(2).sum()  # Eq. 2 (mean feature matching against D)
        gc = sum(
            0.5 * (fc_r[m].mean(0) - fc_p[m].mean(0)).pow(2).sum() for m in self.class_groups(labels)
        )  # Eq. 4 (class-wise mean feature matching against C)
        return {"d": loss_d, "c": loss_c, "kl": kl, "rec": rec, "gd": gd, "gc": gc, "d_real": d_logit[:n]}

    def network_gradients(self, terms: dict[str, torch.Tensor]) -> dict[str, list[tuple[nn.Parameter, Any]]]:
        """Each network's (parameter, gradient) pairs of its own loss of Algorithm 1, all at the current parameters:
        D: L_D; C: L_C; G: λ2 L_G + λ3 L_GD + λ4 L_GC; E: λ1 L_KL + λ2 L_G (``terms``: the weighted terms ``d``, ``c``,
        ``kl``, ``rec``, ``gd``, ``gc``). G and E need separate passes: through D's and C's batch norm over
        [x_r; x_f; x_p], L_GD and L_GC also depend on x_f and so on E, which Algorithm 1 does not let them train."""
        losses = {
            "D": terms["d"],
            "C": terms["c"],
            "G": terms["rec"] + terms["gd"] + terms["gc"],
            "E": terms["kl"] + terms["rec"],
        }
        out = {}
        for i, (name, modules) in enumerate(self.param_groups().items()):
            params = list(self._parameters_of(modules))
            grads = torch.autograd.grad(losses[name], params, retain_graph=i < len(losses) - 1, allow_unused=True)
            out[name] = list(zip(params, grads))
        return out

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        hp = self.hparams
        x, labels = batch["image"], self.batch_labels(batch)
        out = self.losses(x, labels)
        terms = {
            "d": out["d"],
            "c": out["c"],
            "kl": hp.lambda_kl * out["kl"],
            "rec": hp.lambda_rec * out["rec"],
            "gd": hp.lambda_gd * out["gd"],
            "gc": hp.lambda_gc * out["gc"],
        }
        total = torch.stack(list(terms.values())).sum()
        if not bool(torch.isfinite(total.detach())):
            self._stop_diverged(terms, total)
        grads = self.network_gradients(terms)
        opts = dict(zip(self.param_groups(), self.optimizers()))
        for name in ("D", "C", "G", "E"):  # Algorithm 1's update order
            opt = opts[name]
            opt.zero_grad(set_to_none=True)
            for p, g in grads[name]:
                p.grad = torch.zeros_like(p) if g is None else g.to(p.dtype)
            opt.step()
        logged = {k: v.detach() for k, v in terms.items()}
        logged["d_real_prob"] = torch.sigmoid(out["d_real"].detach()).mean()
        self.log_dict(
            {f"train/{k}": v for k, v in logged.items()},
            on_step=True,
            on_epoch=True,
            batch_size=x.shape[0],
            sync_dist=self.trainer.world_size > 1,
        )

    # ------------------------------------------------------------------------------------- inference
    def inference_conditions(self) -> dict[str, Condition]:
        n = self.hparams.n_domains
        if self.index_labels:
            return {"target": Condition("index", "the class to generate the image in", default=0, dim=n)}
        return {
            "target": Condition(
                "vector", "attribute values of the output (0 off, 1 on; default: the classifier's reading of x)", dim=n
            )
        }

    def _target_condition(self, x: torch.Tensor, target: Any, source: torch.Tensor) -> torch.Tensor:
        if target is None:
            if self.index_labels:
                target = 0
            else:
                return source
        if self.index_labels:
            index = torch.as_tensor(target, device=x.device).long().reshape(-1)
            return F.one_hot(index.expand(x.shape[0]), self.n_cond).to(x.dtype)
        return torch.as_tensor(target, device=x.device, dtype=x.dtype).reshape(-1, self.n_cond).expand(x.shape[0], -1)

    def source_condition(self, x: torch.Tensor) -> torch.Tensor:
        """c of images x as C reads it (one-hot of the most likely class, or the attributes with P > 0.5)."""
        return _Editor(self, self.index_labels).source(x)

    def encode(self, x: torch.Tensor, source: Any = None) -> tuple[torch.Tensor, torch.Tensor]:
        """μ, log σ² (N, nz) of q(z | x, c); c = ``source`` (labels: classes (N,) or attributes (N, K)), else C's."""
        c = self.source_condition(x) if source is None else self.condition(torch.as_tensor(source, device=x.device))
        return self.encoder(x, c.to(x.dtype))

    def forward(self, x: torch.Tensor, target: Any = None, source: Any = None) -> torch.Tensor:
        """G(μ(x, c_src), c_tgt): x (N, C, H, W) in [-1, 1] (run at ``image_size``, the output resized back)
        re-generated with ``target`` (a class index, default 0; or attribute values (N, K) / (K,), default the
        source's). ``source``: x's labels (default: C's reading)."""
        h = _resized(x, self.hparams.image_size)
        c_src = self.source_condition(h) if source is None else self.condition(torch.as_tensor(source, device=x.device))
        c_src = c_src.to(h.dtype)
        mu = self.encoder(h, c_src)[0]
        return _resized(self.gen(mu, self._target_condition(h, target, c_src)), x.shape[-2:])

    @torch.no_grad()
    def sample(self, n: int | None = None, target: Any = None, z: torch.Tensor | None = None) -> torch.Tensor:
        """Class-conditional samples G(z, c), z ~ N(0, I) (or the given ``z`` (N, nz)), in eval mode: ``target`` a
        class index (int or (N,)) or attribute values ((K,) or (N, K)); default class 0 / all attributes off."""
        if z is None:
            if n is None:
                raise ValueError("give the number of samples n or the codes z")
            z = torch.randn(n, self.hparams.nz, device=self.device)
        z = z.to(self.device)
        if target is None:
            target = 0 if self.index_labels else torch.zeros(1, self.n_cond)
        target = torch.as_tensor(target)
        if self.index_labels and not bool(((target >= 0) & (target < self.n_cond)).all()):
            raise ValueError(f"target {target.tolist()} out of range: classes 0..{self.n_cond - 1}")
        c = self._target_condition(z, target, z.new_zeros(z.shape[0], self.n_cond))
        was_training = self.training
        self.eval()
        try:
            return self.gen(z, c)
        finally:
            self.train(was_training)

    @torch.no_grad()
    def morph(
        self,
        x_a: torch.Tensor,
        x_b: torch.Tensor | None = None,
        steps: int = 8,
        source_a: Any = None,
        source_b: Any = None,
        target_a: Any = None,
        target_b: Any = None,
    ) -> list[torch.Tensor]:
        """Attribute morphing (§4, Fig. 6/7): ``steps`` images from a to b, G((1 - t) z_a + t z_b, (1 - t) c_a +
        t c_b), z = μ of each image with its source condition (given or C's). ``x_b=None``: z stays z_a and only c
        moves from ``target_a`` to ``target_b`` (the same person in another class / attributes). ``target_a`` /
        ``target_b`` default to the source conditions."""
        if steps < 2:
            raise ValueError(f"steps must be >= 2, got {steps}")
        was_training = self.training
        self.eval()
        try:
            x_b_ = x_a if x_b is None else x_b
            ca = self.source_condition(x_a) if source_a is None else self.condition(torch.as_tensor(source_a))
            cb = self.source_condition(x_b_) if source_b is None else self.condition(torch.as_tensor(source_b))
            za, zb = self.encoder(x_a, ca)[0], self.encoder(x_b_, cb)[0]
            ta = ca if target_a is None else self._target_condition(x_a, target_a, ca)
            tb = (ca if x_b is None else cb) if target_b is None else self._target_condition(x_b_, target_b, cb)
            out = []
            for t in torch.linspace(0, 1, steps).tolist():
                out.append(self.gen((1 - t) * za + t * zb, (1 - t) * ta + t * tb))
            return out
        finally:
            self.train(was_training)

    def inference_spec(self, **conditions: Any) -> InferenceSpec:
        self.check_conditions(conditions)
        example = torch.zeros(1, dtype=torch.long) if self.index_labels else torch.zeros(1, self.n_cond)
        return InferenceSpec(_Editor(self, self.index_labels), int(self.hparams.input_nc), 1, {"target": example})

    @torch.no_grad()
    def visuals(self, batch: dict[str, Any]) -> list[list[torch.Tensor]]:
        """x | reconstruction | a prior sample of x's class | x edited (next class, or each attribute flipped)."""
        x, labels = batch["image"], self.batch_labels(batch)
        c = self.condition(labels)
        mu = self.encoder(x, c)[0]
        row = [x, self.gen(mu, c), self.gen(torch.randn_like(mu), c)]
        if self.index_labels:
            row.append(self.gen(mu, self.condition((labels + 1) % self.n_cond)))
        else:
            for k in range(self.n_cond):
                flipped = labels.clone()
                flipped[:, k] = 1 - flipped[:, k]
                row.append(self.gen(mu, flipped))
        return [row]

    def eval_step(self, batch: dict[str, Any], stage: str) -> None:
        x, labels = batch["image"], self.batch_labels(batch)
        n = x.shape[0]
        c = self.condition(labels)
        mu = self.encoder(x, c)[0]
        self.log(f"{stage}/rec_mse", F.mse_loss(self.gen(mu, c), x), prog_bar=True, batch_size=n, sync_dist=True)
        logits = self.clf(x)[0]
        pred = logits.argmax(1) if self.index_labels else (logits > 0).float()
        acc = (pred == labels).float().mean()
        self.log(f"{stage}/clf_acc", acc, batch_size=n, sync_dist=True)
        self.update_eval_metrics(self.gen(torch.randn_like(mu), c), x, batch)  # samples of the batch's classes


__all__ = ["CVAEGAN", "ConvStack", "Encoder", "FeatureNet", "Generator"]
