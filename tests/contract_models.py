"""Two small test-only models of other kinds than pix2pix/CycleGAN, to prove the zoo-wide contract is general.

* :class:`TinyMultimodal`: paired and multimodal, like BicycleGAN — ``forward(x, z=None, style=None)``; a code
  ``z`` (sampled from N(0, I) when missing) or a style image encoded by ``E`` picks one of many outputs; the
  exported graph takes ``z`` as a second input.
* :class:`TinyMultiDomain`: multi-domain, like StarGAN — batches ``{"image", "domain"}``, ``forward(x, target=0)``
  with a target domain index; the discriminator has an auxiliary domain classifier; the exported graph takes
  the target index as a second input.

They are not papers: the losses are the simplest that train every parameter. They live in the tests so that the
zoo-wide tests (tests/test_zoo.py) run over them exactly as over the paper files.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from translation_zoo.losses import GANLoss
from translation_zoo.models import Condition, InferenceSpec, TranslationGAN


def _conv(i: int, o: int) -> nn.Module:
    return nn.Conv2d(i, o, 3, padding=1)


class CodeGenerator(nn.Module):
    """G(x, code): the code is broadcast over the image and stacked with it (BicycleGAN's ``where_add=input``)."""

    def __init__(self, input_nc: int, output_nc: int, nz: int, ngf: int) -> None:
        super().__init__()
        self.net = nn.Sequential(_conv(input_nc + nz, ngf), nn.ReLU(), _conv(ngf, output_nc), nn.Tanh())

    def forward(self, x: torch.Tensor, code: torch.Tensor) -> torch.Tensor:
        code = code.to(x.dtype)[:, :, None, None].expand(-1, -1, x.shape[2], x.shape[3])
        return self.net(torch.cat([x, code], 1))


class Encoder(nn.Module):
    """E(image) -> a code of length ``nz``."""

    def __init__(self, input_nc: int, nz: int, ngf: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            _conv(input_nc, ngf), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(ngf, nz)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class TinyMultimodal(TranslationGAN):
    """Paired multimodal translation: many outputs for one input, chosen by a code or a style image."""

    batch_kind = "paired"
    tiny_config = {"input_nc": 1, "output_nc": 1}

    def __init__(self, input_nc: int = 1, output_nc: int = 1, nz: int = 4, ngf: int = 8, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.gen = CodeGenerator(input_nc, output_nc, nz, ngf)
        self.encoder = Encoder(output_nc, nz, ngf)
        self.disc = nn.Sequential(_conv(input_nc + output_nc, ngf), nn.LeakyReLU(0.2), _conv(ngf, 1))
        self.criterion_gan = GANLoss("lsgan")

    def param_groups(self) -> dict[str, list[nn.Module]]:
        return {"G": [self.gen, self.encoder], "D": [self.disc]}

    def inference_conditions(self) -> dict[str, Condition]:
        hp = self.hparams
        return {
            "z": Condition("code", "latent code; sampled from N(0, I) when missing", dim=hp.nz),
            "style": Condition("image", "an exemplar target image, encoded by E", channels=hp.output_nc),
        }

    def forward(self, x: torch.Tensor, z: torch.Tensor | None = None, style: torch.Tensor | None = None):
        if style is not None:
            z = self.encoder(style)
        if z is None:
            z = torch.randn(x.shape[0], self.hparams.nz, device=x.device)
        return self.gen(x, z)

    def inference_spec(self, **conditions: Any) -> InferenceSpec:
        self.check_conditions(conditions)
        return InferenceSpec(self.gen, self.hparams.input_nc, 1, {"z": torch.zeros(1, self.hparams.nz)})

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        real_a, real_b = batch["A"], batch["B"]
        opt_g, opt_d = self.optimizers()
        fake_b = self.gen(real_a, self.encoder(real_b))
        with self.toggled_optimizer(opt_d):
            self._step(
                opt_d,
                {
                    "d_fake": self.criterion_gan(self.disc(torch.cat([real_a, fake_b.detach()], 1)), False),
                    "d_real": self.criterion_gan(self.disc(torch.cat([real_a, real_b], 1)), True),
                },
            )
        with self.toggled_optimizer(opt_g):
            pred = self.disc(torch.cat([real_a, fake_b], 1))
            self._step(
                opt_g,
                {"g_gan": self.criterion_gan(pred, True, for_discriminator=False), "g_l1": F.l1_loss(fake_b, real_b)},
            )


class DomainGenerator(nn.Module):
    """G(x, target index): the one-hot target is broadcast and stacked with the image (StarGAN's input layout)."""

    def __init__(self, input_nc: int, n_domains: int, ngf: int) -> None:
        super().__init__()
        self.n_domains = n_domains
        self.net = nn.Sequential(_conv(input_nc + n_domains, ngf), nn.ReLU(), _conv(ngf, input_nc), nn.Tanh())

    def forward(self, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        onehot = F.one_hot(target.long(), self.n_domains).to(x.dtype)
        return self.net(torch.cat([x, onehot[:, :, None, None].expand(-1, -1, x.shape[2], x.shape[3])], 1))


class TinyMultiDomain(TranslationGAN):
    """Multi-domain translation with a target domain index and an auxiliary domain classifier in D."""

    batch_kind = "multidomain"
    tiny_config = {"input_nc": 1, "n_domains": 3}

    def __init__(self, input_nc: int = 1, n_domains: int = 3, ngf: int = 8, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.gen = DomainGenerator(input_nc, n_domains, ngf)
        self.disc = nn.Sequential(_conv(input_nc, ngf), nn.LeakyReLU(0.2), nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.disc_src = nn.Linear(ngf, 1)
        self.disc_cls = nn.Linear(ngf, n_domains)

    def param_groups(self) -> dict[str, list[nn.Module]]:
        return {"G": [self.gen], "D": [self.disc, self.disc_src, self.disc_cls]}

    def inference_conditions(self) -> dict[str, Condition]:
        return {"target": Condition("index", "the target domain", default=0, dim=self.hparams.n_domains)}

    def forward(self, x: torch.Tensor, target: int | torch.Tensor = 0) -> torch.Tensor:
        target = torch.as_tensor(target, device=x.device).long().expand(x.shape[0])
        return self.gen(x, target)

    def inference_spec(self, **conditions: Any) -> InferenceSpec:
        self.check_conditions(conditions)
        return InferenceSpec(self.gen, self.hparams.input_nc, 1, {"target": torch.zeros(1, dtype=torch.long)})

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        real, domain = batch["image"], batch["domain"]
        target = (domain + 1) % self.hparams.n_domains
        opt_g, opt_d = self.optimizers()
        fake = self.gen(real, target)
        with self.toggled_optimizer(opt_d):
            h_real, h_fake = self.disc(real), self.disc(fake.detach())
            self._step(
                opt_d,
                {
                    "d_adv": F.softplus(-self.disc_src(h_real)).mean() + F.softplus(self.disc_src(h_fake)).mean(),
                    "d_cls": F.cross_entropy(self.disc_cls(h_real), domain),
                },
            )
        with self.toggled_optimizer(opt_g):
            h = self.disc(fake)
            self._step(
                opt_g,
                {
                    "g_adv": F.softplus(-self.disc_src(h)).mean(),
                    "g_cls": F.cross_entropy(self.disc_cls(h), target),
                    "g_rec": F.l1_loss(self.gen(fake, domain), real),
                },
            )

    @torch.no_grad()
    def visuals(self, batch: dict[str, Any]) -> list[list[torch.Tensor]]:
        x = batch["image"]
        return [[x, *(self(x, target=t) for t in range(self.hparams.n_domains))]]

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        self.log("val/l1_rec", F.l1_loss(self(self(batch["image"], target=1), target=0), batch["image"]))

    def test_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        self.validation_step(batch, batch_idx)


CONTRACT_MODELS = [TinyMultimodal, TinyMultiDomain]
