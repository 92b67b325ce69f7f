"""StarGAN: Unified Generative Adversarial Networks for Multi-Domain Image-to-Image Translation.

Choi, Choi, Kim, Ha, Kim, Choo. CVPR 2018. arXiv:1711.09020
Reference code: yunjey/stargan (``model.py``, ``solver.py``, ``main.py``, ``data_loader.py``).

One generator G(x, c) takes the image and the target label c stacked as constant feature maps: conv 7x7, two
stride-2 down-samplings, 6 residual blocks, two transposed-conv up-samplings, conv 7x7 + tanh; instance norm with
affine parameters and running statistics (``track_running_stats=True``, as the official code), no conv biases. The
PatchGAN discriminator (6 stride-2 convs with LeakyReLU(0.01)) has two heads: D_src (a 3x3 conv, the Wasserstein
critic map) and D_cls (a conv spanning the whole last feature map: the domain logits). Losses: WGAN-GP
(λ_gp = 10), domain classification (λ_cls = 1; binary cross-entropy summed over attributes for CelebA's
multi-label vectors, softmax cross-entropy for single-label domains such as RaFD), reconstruction L1 (λ_rec = 10).
D is updated every iteration, G every ``n_critic`` = 5; Adam(1e-4, β = (0.5, 0.999)), batch 16, 200k iterations,
the last 100k with the official LR decay. Target labels are the batch's own labels shuffled (``randperm``).

Parameters of the default networks (128x128 RGB, c_dim = 5, 64 filters), equal to the official ``Generator()`` /
``Discriminator()`` built from yunjey/stargan ``model.py`` and counted with ``sum(p.numel())``: G 8,430,528,
D 44,762,048 (RaFD, c_dim 8: 8,439,936 and 44,786,624; ``tests/test_stargan.py`` pins them).

Deviations:

* Inference uses per-image instance statistics in eval mode too. The official code never calls ``eval()`` (its
  ``test()`` runs G in train mode), so its results, and the released weights', use per-image statistics; the running
  buffers are kept (updated in training) only so state dicts match the official ones key for key.
* The official LR decay subtracts lr/``num_iters_decay`` every ``lr_update_step`` (1000) iterations of the decay
  phase, which lowers the LR by only 0.1% in total; the paper says "linearly decay to 0". The default reproduces the
  code; ``lr_decay_to_zero=True`` follows the paper's text (the same steps, each lr·lr_update_step/num_iters_decay).
* The multi-dataset mask vector (CelebA + RaFD, ``--dataset Both``) is not implemented.
* The gradient penalty is computed in fp32 (``losses.gradient_penalty``); with fp32 training it equals the
  official one.

Official weights: ``<iteration>-G.ckpt`` and ``<iteration>-D.ckpt`` state dicts (``from_official("stargan",
G="200000-G.ckpt")``); our ``gen``/``disc`` use the official keys (``main.*``, ``conv1``, ``conv2``).
"""

from __future__ import annotations

from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from ..losses.regularizers import gradient_penalty
from .base import Condition, InferenceSpec, TranslationGAN

# download.sh of the official code (pretrained-celeba-128x128): the zip holds 200000-G.ckpt and 200000-D.ckpt,
# trained on CelebA with Black_Hair, Blond_Hair, Brown_Hair, Male, Young.
OFFICIAL_CELEBA_128_URL = "https://www.dropbox.com/s/7e966qq0nlxwte4/celeba-128x128-5attrs.zip?dl=0"
OFFICIAL_CELEBA_ATTRS = ("Black_Hair", "Blond_Hair", "Brown_Hair", "Male", "Young")
HAIR_COLOURS = ("Black_Hair", "Blond_Hair", "Brown_Hair", "Gray_Hair")


class InstanceNormStats(nn.InstanceNorm2d):
    """``InstanceNorm2d(affine=True, track_running_stats=True)`` (the official layer and state dict) that always
    normalises with per-image statistics, as the official G does at test time (it is never put in eval mode).
    The running statistics are still updated in training."""

    def __init__(self, num_features: int) -> None:
        super().__init__(num_features, affine=True, track_running_stats=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            return super().forward(x)
        return F.instance_norm(x, None, None, self.weight, self.bias, True, self.momentum or 0.0, self.eps)


class ResidualBlock(nn.Module):
    """x + (conv3x3 -> IN -> ReLU -> conv3x3 -> IN)(x); the official keys ``main.{0,1,3,4}``."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.main = nn.Sequential(
            nn.Conv2d(dim, dim, 3, 1, 1, bias=False),
            InstanceNormStats(dim),
            nn.ReLU(inplace=True),
            nn.Conv2d(dim, dim, 3, 1, 1, bias=False),
            InstanceNormStats(dim),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.main(x)


class StarGANGenerator(nn.Module):
    """G(x, c): the official ``Generator`` (keys ``main.<i>``), with ``input_nc`` image channels.

    Args:
        input_nc: image channels (official 3).
        c_dim: label length (official ``--c_dim``).
        conv_dim: filters of the first conv (official ``--g_conv_dim``: 64).
        repeat_num: residual blocks (official ``--g_repeat_num``: 6).
    """

    size_multiple = 4  # two stride-2 down-samplings

    def __init__(self, input_nc: int = 3, c_dim: int = 5, conv_dim: int = 64, repeat_num: int = 6) -> None:
        super().__init__()
        layers: list[nn.Module] = [
            nn.Conv2d(input_nc + c_dim, conv_dim, 7, 1, 3, bias=False),
            InstanceNormStats(conv_dim),
            nn.ReLU(inplace=True),
        ]
        dim = conv_dim
        for _ in range(2):
            layers += [nn.Conv2d(dim, dim * 2, 4, 2, 1, bias=False), InstanceNormStats(dim * 2), nn.ReLU(inplace=True)]
            dim *= 2
        layers += [ResidualBlock(dim) for _ in range(repeat_num)]
        for _ in range(2):
            layers += [
                nn.ConvTranspose2d(dim, dim // 2, 4, 2, 1, bias=False),
                InstanceNormStats(dim // 2),
                nn.ReLU(inplace=True),
            ]
            dim //= 2
        layers += [nn.Conv2d(dim, input_nc, 7, 1, 3, bias=False), nn.Tanh()]
        self.main = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        """x (N, C, H, W) in [-1, 1], c (N, c_dim) float label -> (N, C, H, W)."""
        c = c.to(x.dtype)[:, :, None, None].expand(-1, -1, x.shape[2], x.shape[3])  # the label as constant maps
        return self.main(torch.cat([x, c], dim=1))


class StarGANDiscriminator(nn.Module):
    """The official PatchGAN ``Discriminator``: ``main`` (strided convs), ``conv1`` (D_src) and ``conv2`` (D_cls).

    Args:
        input_nc: image channels.
        image_size: training image side (D_cls's kernel is image_size / 2**repeat_num).
        c_dim: domains / attributes.
        conv_dim: filters of the first conv (official ``--d_conv_dim``: 64).
        repeat_num: strided convs (official ``--d_repeat_num``: 6).
    """

    def __init__(
        self, input_nc: int = 3, image_size: int = 128, c_dim: int = 5, conv_dim: int = 64, repeat_num: int = 6
    ) -> None:
        super().__init__()
        if image_size % 2**repeat_num:
            raise ValueError(f"image_size={image_size} must be a multiple of 2**d_repeat_num = {2**repeat_num}")
        layers: list[nn.Module] = [nn.Conv2d(input_nc, conv_dim, 4, 2, 1), nn.LeakyReLU(0.01)]
        dim = conv_dim
        for _ in range(1, repeat_num):
            layers += [nn.Conv2d(dim, dim * 2, 4, 2, 1), nn.LeakyReLU(0.01)]
            dim *= 2
        self.main = nn.Sequential(*layers)
        self.conv1 = nn.Conv2d(dim, 1, 3, 1, 1, bias=False)
        self.conv2 = nn.Conv2d(dim, c_dim, image_size // 2**repeat_num, bias=False)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(N, C, S, S) -> D_src (N, 1, S/64, S/64), D_cls logits (N, c_dim)."""
        h = self.main(x)
        return self.conv1(h), self.conv2(h).flatten(1)


class _Translator(nn.Module):
    """G with the target as an index (single-label) or a vector: what inference and export run."""

    def __init__(self, gen: StarGANGenerator, n_domains: int, index: bool) -> None:
        super().__init__()
        self.gen, self.n_domains, self.index = gen, n_domains, index

    def forward(self, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if self.index:
            target = F.one_hot(target.long().reshape(-1), self.n_domains).to(x.dtype)
        return self.gen(x, target)


class StarGAN(TranslationGAN):
    """One generator for every domain, conditioned on the target label (Choi et al. 2018).

    Args:
        input_nc: image channels (official 3).
        n_domains: label length, the official ``--c_dim`` (5 CelebA attributes; 8 RaFD expressions).
        labels: ``attributes`` (multi-label 0/1 vectors, batches ``"attrs"``, BCE; official CelebA) or ``domain``
            (one domain index per image, batches ``"domain"``, softmax CE; official RaFD).
        image_size: training image side (official 128); D's classification head depends on it.
        g_conv_dim / d_conv_dim: filters of the first G / D conv (official 64 / 64).
        g_repeat_num: residual blocks of G (official 6).
        d_repeat_num: strided convs of D (official 6).
        lambda_cls: λ_cls of Eq. (7)/(8) (official 1).
        lambda_rec: λ_rec of Eq. (8) (official 10).
        lambda_gp: λ_gp of the WGAN-GP term in Eq. (8) (official 10).
        n_critic: D updates per G update (official 5): G is updated on every ``n_critic``-th batch.
        lr: learning rate of G and D (official ``--g_lr`` = ``--d_lr`` = 1e-4).
        beta1 / beta2: Adam betas (official 0.5, 0.999).
        num_iters: training iterations (batches; official 200,000).
        num_iters_decay: iterations of LR decay at the end (official 100,000).
        lr_update_step: iterations between LR decrements (official 1,000).
        lr_decay_to_zero: the paper's "decay to 0" instead of the official code's 0.1% (module docstring).
        domain_names: names of the domains / attributes in label order (from the data module; saved with the
            model, used to build the attribute targets of the sample grids: hair colours are exclusive).
        **kwargs: options of :class:`TranslationGAN` (``optimizer``, ``lr_scheduler``, ``fused``).
    """

    batch_kind = "multidomain"
    tiny_config = {
        "input_nc": 1,
        "n_domains": 3,
        "labels": "domain",
        "image_size": 32,
        "g_conv_dim": 8,
        "d_conv_dim": 8,
        "g_repeat_num": 1,
        "d_repeat_num": 3,
        "n_critic": 1,
    }

    official_names = ("stargan",)
    official_networks = {"G": "gen", "D": "disc"}
    official_file_pattern = "{epoch}-{name}.ckpt"

    def __init__(
        self,
        input_nc: int = 3,
        n_domains: int = 5,
        labels: Literal["attributes", "domain"] = "attributes",
        image_size: int = 128,
        g_conv_dim: int = 64,
        d_conv_dim: int = 64,
        g_repeat_num: int = 6,
        d_repeat_num: int = 6,
        lambda_cls: float = 1.0,
        lambda_rec: float = 10.0,
        lambda_gp: float = 10.0,
        n_critic: int = 5,
        lr: float = 1e-4,
        beta1: float = 0.5,
        beta2: float = 0.999,
        num_iters: int = 200_000,
        num_iters_decay: int = 100_000,
        lr_update_step: int = 1000,
        lr_decay_to_zero: bool = False,
        domain_names: list[str] | None = None,
        lr_policy: Literal["linear", "step", "cosine", "constant"] = "constant",
        **kwargs: Any,
    ) -> None:
        super().__init__(lr=lr, beta1=beta1, beta2=beta2, lr_policy=lr_policy, **kwargs)
        if labels not in ("attributes", "domain"):
            raise ValueError(f"labels must be 'attributes' or 'domain', got {labels!r}")
        if n_critic < 1:
            raise ValueError(f"n_critic must be >= 1, got {n_critic}")
        if domain_names is not None and len(domain_names) != n_domains:
            raise ValueError(f"domain_names has {len(domain_names)} names for n_domains={n_domains}")
        if labels == "domain" and n_domains < 2:
            raise ValueError("labels='domain' needs n_domains >= 2")
        self.gen = StarGANGenerator(input_nc, n_domains, g_conv_dim, g_repeat_num)
        self.disc = StarGANDiscriminator(input_nc, image_size, n_domains, d_conv_dim, d_repeat_num)
        # Official initialisation: PyTorch's defaults (model.py initialises nothing).

    # ------------------------------------------------------------------------------------------- players
    def param_groups(self) -> dict[str, list[nn.Module]]:
        return {"G": [self.gen], "D": [self.disc]}

    def lr_factor(self, iteration: int) -> float:
        """LR multiplier after ``iteration`` finished iterations: the official loop decrements the LR after
        iteration i (1-based) when i % lr_update_step == 0 and i > num_iters - num_iters_decay."""
        hp = self.hparams
        start = hp.num_iters - hp.num_iters_decay
        steps = max(0, iteration // hp.lr_update_step - start // hp.lr_update_step)
        step = (hp.lr_update_step if hp.lr_decay_to_zero else 1) / hp.num_iters_decay
        return max(0.0, 1.0 - steps * step)

    def configure_optimizers(self):
        optimizers, schedulers = super().configure_optimizers()
        if self.lr_scheduler_factory is None and self.hparams.lr_policy == "constant":
            # Stepped per iteration in training_step (both players: D's LR decays on every batch boundary too).
            schedulers = [torch.optim.lr_scheduler.LambdaLR(opt, self.lr_factor) for opt in optimizers]
        return optimizers, schedulers

    @property
    def _official_schedule(self) -> bool:
        return self.lr_scheduler_factory is None and self.hparams.lr_policy == "constant"

    def on_train_epoch_end(self) -> None:
        if not self._official_schedule:  # the official schedule is stepped per iteration
            super().on_train_epoch_end()

    # ----------------------------------------------------------------------------------------- labels
    def label_vector(self, label: torch.Tensor) -> torch.Tensor:
        """The generator's condition c (N, c_dim) of a batch label: one-hot of a domain index (official
        ``label2onehot``) or the attribute vector itself."""
        if self.hparams.labels == "domain":
            return F.one_hot(label.long(), self.hparams.n_domains).float()
        return label.float()

    def classification_loss(self, logits: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        """−log D_cls(c|x) of Eq. (2)/(3): BCE summed over attributes and averaged over images (official CelebA),
        or softmax cross-entropy (official RaFD)."""
        if self.hparams.labels == "domain":
            return F.cross_entropy(logits, label.long())
        return F.binary_cross_entropy_with_logits(logits, label.to(logits.dtype), reduction="sum") / logits.shape[0]

    def _batch_label(self, batch: dict[str, Any]) -> torch.Tensor:
        key = "domain" if self.hparams.labels == "domain" else "attrs"
        if key not in batch:
            other = "attrs" if key == "domain" else "domain"
            raise KeyError(
                f"StarGAN(labels={self.hparams.labels!r}) reads batch[{key!r}], but the batch has {other!r}: "
                f"set labels={'attributes' if key == 'domain' else 'domain'!r} to match the data module's layout"
            )
        return batch[key]

    # -------------------------------------------------------------------------------------- training
    def training_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        hp = self.hparams
        x_real = batch["image"]  # (N, C, H, W)
        label_org = self._batch_label(batch)  # (N,) int64 or (N, c_dim) {0, 1}
        # Target labels: the batch's labels in random order (official solver.train).
        label_trg = label_org[torch.randperm(label_org.shape[0], device=label_org.device)]
        c_org, c_trg = self.label_vector(label_org), self.label_vector(label_trg)
        opt_g, opt_d = self.optimizers()

        x_fake = self.gen(x_real, c_trg)  # G(x, c), computed once; D sees it detached
        with self.toggled_optimizer(opt_d):
            out_src, out_cls = self.disc(x_real)
            fake_src, _ = self.disc(x_fake.detach())
            self._step(
                opt_d,
                {
                    # L_adv of Eq. (1) in its Wasserstein form (§4, Eq. 8's WGAN-GP): −D_src(x) + D_src(G(x, c)).
                    "d_real": -out_src.mean(),
                    "d_fake": fake_src.mean(),
                    # λ_cls · L_cls^r, Eq. (2) and (7).
                    "d_cls": hp.lambda_cls * self.classification_loss(out_cls, label_org),
                    # λ_gp · E[(‖∇D_src(x̂)‖₂ − 1)²] at random interpolates x̂ (Eq. 8).
                    "d_gp": hp.lambda_gp * gradient_penalty(lambda x: self.disc(x)[0], x_real, x_fake),
                },
            )

        if (self.d_iteration + 1) % hp.n_critic == 0:
            with self.toggled_optimizer(opt_g):
                fake_src, fake_cls = self.disc(x_fake)
                x_rec = self.gen(x_fake, c_org)  # G(G(x, c), c')
                self._step(
                    opt_g,
                    {
                        "g_fake": -fake_src.mean(),  # L_adv, Eq. (1), G's side
                        "g_cls": hp.lambda_cls * self.classification_loss(fake_cls, label_trg),  # L_cls^f, Eq. (3)
                        "g_rec": hp.lambda_rec * (x_real - x_rec).abs().mean(),  # L_rec, Eq. (4)
                    },
                )
        self.d_iteration += 1
        if self._official_schedule:
            for sch in self.lr_schedulers():
                sch.step()

    # Iterations done (D steps): Lightning's global_step counts G steps too. Kept in checkpoints (exact resume).
    d_iteration: int = 0

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        super().on_save_checkpoint(checkpoint)
        checkpoint["stargan_d_iteration"] = self.d_iteration

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        super().on_load_checkpoint(checkpoint)
        self.d_iteration = int(checkpoint.get("stargan_d_iteration", 0))

    # ------------------------------------------------------------------------------------- inference
    def inference_conditions(self) -> dict[str, Condition]:
        n = self.hparams.n_domains
        if self.hparams.labels == "domain":
            return {"target": Condition("index", "the target domain", default=0, dim=n)}
        return {"target": Condition("vector", "the target attribute vector (0/1 per attribute)", dim=n)}

    def forward(self, x: torch.Tensor, target: int | torch.Tensor | None = None) -> torch.Tensor:
        """Translate x (N, C, H, W) into ``target``: a domain index (``labels="domain"``; default 0) or an
        attribute vector (N, n_domains) or (n_domains,) (default: all attributes 0)."""
        if self.hparams.labels == "domain":
            index = torch.as_tensor(0 if target is None else target, device=x.device).long().reshape(-1)
            c = F.one_hot(index.expand(x.shape[0]), self.hparams.n_domains).to(x.dtype)
        elif target is None:
            c = x.new_zeros(x.shape[0], self.hparams.n_domains)
        else:
            c = torch.as_tensor(target, device=x.device, dtype=x.dtype).reshape(-1, self.hparams.n_domains)
            c = c.expand(x.shape[0], -1)
        return self.gen(x, c)

    def inference_spec(self, **conditions: Any) -> InferenceSpec:
        self.check_conditions(conditions)
        index = self.hparams.labels == "domain"
        example = torch.zeros(1, dtype=torch.long) if index else torch.zeros(1, self.hparams.n_domains)
        module = _Translator(self.gen, self.hparams.n_domains, index)
        return InferenceSpec(module, int(self.hparams.input_nc), StarGANGenerator.size_multiple, {"target": example})

    def target_labels(self, label_org: torch.Tensor) -> list[torch.Tensor]:
        """One target label per domain/attribute for the sample grid (official ``create_labels``): domain i; or the
        attributes with attribute i flipped, where a hair colour is set exclusively."""
        n = self.hparams.n_domains
        if self.hparams.labels == "domain":
            return [torch.full((label_org.shape[0],), i, dtype=torch.long, device=label_org.device) for i in range(n)]
        names = list(self.hparams.domain_names or [])
        hair = [i for i, name in enumerate(names) if name in HAIR_COLOURS]
        out = []
        for i in range(n):
            c = label_org.clone().float()
            if i in hair:
                c[:, hair] = 0
                c[:, i] = 1
            else:
                c[:, i] = 1 - c[:, i]
            out.append(c)
        return out

    @torch.no_grad()
    def translate_all(self, x: torch.Tensor, label_org: torch.Tensor | None = None) -> list[torch.Tensor]:
        """x translated into every domain (or with every attribute edited), as the official sample grid."""
        if label_org is None:
            label_org = (
                torch.zeros(x.shape[0], dtype=torch.long, device=x.device)
                if self.hparams.labels == "domain"
                else x.new_zeros(x.shape[0], self.hparams.n_domains)
            )
        return [self.gen(x, self.label_vector(c)) for c in self.target_labels(label_org)]

    @torch.no_grad()
    def visuals(self, batch: dict[str, Any]) -> list[list[torch.Tensor]]:
        x = batch["image"]
        key = "domain" if self.hparams.labels == "domain" else "attrs"
        return [[x, *self.translate_all(x, batch.get(key))]]

    def eval_step(self, batch: dict[str, Any], stage: str) -> None:
        # Reconstruction error of x -> G(x, c_trg) -> G(·, c_org) (L_rec, Eq. 4) for shuffled targets.
        x, label = batch["image"], self._batch_label(batch)
        trg = self.label_vector(label.flip(0))
        rec = self.gen(self.gen(x, trg), self.label_vector(label))
        self.log(f"{stage}/l1_rec", F.l1_loss(rec, x), prog_bar=True, batch_size=x.shape[0], sync_dist=True)

    # -------------------------------------------------------------------------------- official weights
    @classmethod
    def official_options(cls, state: dict[str, dict[str, torch.Tensor]], hparams: dict[str, Any]) -> dict[str, Any]:
        """Architecture read back from the official G/D keys: c_dim, conv dims, repeat nums, image size."""
        from ..hub import Evidence, OfficialWeightsError, merge_evidence

        evidence: dict[str, Evidence] = {}
        if "G" in state:
            sd, ev = state["G"], Evidence()
            if "main.0.weight" not in sd:
                raise OfficialWeightsError("G: not a StarGAN generator (no main.0.weight)")
            first = sd["main.0.weight"]  # (conv_dim, 3 + c_dim, 7, 7)
            convs = [k for k in sd if k.startswith("main.") and k.endswith(".weight") and sd[k].dim() == 4]
            out_nc = sd[convs[-1]].shape[0]
            ev.add("g_conv_dim", first.shape[0], f"main.0.weight has {first.shape[0]} filters")
            ev.add("input_nc", out_nc, f"the last conv gives {out_nc} channels")
            ev.add("n_domains", first.shape[1] - out_nc, f"main.0.weight takes {first.shape[1]} = {out_nc} + c_dim")
            blocks = {k.split(".")[1] for k in sd if k.startswith("main.") and ".main." in k}
            ev.add("g_repeat_num", len(blocks), f"{len(blocks)} residual blocks")
            evidence["G"] = ev
        if "D" in state:
            sd, ev = state["D"], Evidence()
            if "conv2.weight" not in sd:
                raise OfficialWeightsError("D: not a StarGAN discriminator (no conv2.weight)")
            convs = sorted(int(k.split(".")[1]) for k in sd if k.startswith("main.") and k.endswith(".weight"))
            n = len(convs)
            ev.add("d_repeat_num", n, f"{n} strided convs in main")
            ev.add("d_conv_dim", sd["main.0.weight"].shape[0], "main.0.weight's filters")
            ev.add("input_nc", sd["main.0.weight"].shape[1], "main.0.weight's input channels")
            cls_w = sd["conv2.weight"]  # (c_dim, dim, k, k)
            ev.add("n_domains", cls_w.shape[0], f"conv2 gives {cls_w.shape[0]} logits")
            ev.add("image_size", cls_w.shape[-1] * 2**n, f"conv2's kernel {cls_w.shape[-1]} x 2**{n}")
            evidence["D"] = ev
        options = merge_evidence(evidence, hparams)
        if "image_size" not in options and "image_size" not in hparams and "G" in state:
            # G alone works at any size; build D for the official 128 unless told otherwise.
            options["image_size"] = 128
        return options


__all__ = [
    "HAIR_COLOURS",
    "OFFICIAL_CELEBA_128_URL",
    "OFFICIAL_CELEBA_ATTRS",
    "InstanceNormStats",
    "StarGAN",
    "StarGANDiscriminator",
    "StarGANGenerator",
]
