"""CycleGAN: Unpaired Image-to-Image Translation using Cycle-Consistent Adversarial Networks.

Zhu, Park, Isola, Efros. ICCV 2017. arXiv:1703.10593
Reference code: junyanz/pytorch-CycleGAN-and-pix2pix (``models/cycle_gan_model.py``, ``--model cycle_gan``).

Two ResNet-9 generators (G: A→B = ``gen_a2b``, F: B→A = ``gen_b2a``) with instance norm and reflection padding;
two 70x70 PatchGANs (``disc_b`` judges domain B, the official ``netD_A``; ``disc_a`` judges domain A, the
official ``netD_B``); LSGAN loss; cycle loss with λ_A = λ_B = 10; identity loss 0.5·λ; D updated on a pool
of 50 past fakes; D's loss halved; Adam(2e-4, β1 = 0.5); batch size 1; 100 + 100 epochs of linear decay.

Deviations: none in the math. The image pool draws from torch's RNG instead of Python's ``random`` so that
seeding and checkpointed RNG state cover it.
"""

from __future__ import annotations

from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from ..hub import default_option, merge_evidence
from ..losses import GANLoss, ImagePool
from ..nn import define_discriminator, define_generator, init_weights
from ..nn.readback import (
    JUNYANZ_LICENCE,
    check_discriminator_input,
    infer_discriminator,
    infer_generator,
    same_option,
)
from ..weights import Pretrained, WeightsFile
from .base import Condition, TranslationGAN

# The released generators: scripts/download_cyclegan_model.sh of the official code fetches
# http://efrosgans.eecs.berkeley.edu/cyclegan/pretrained_models/$FILE.pth into
# ./checkpoints/${FILE}_pretrained/latest_net_G.pth; the README tests them with `test.py --model test --no_dropout`
# (the test model's defaults: resnet_9blocks, ngf 64, instance norm, no dropout).
_RELEASE_URL = "http://efrosgans.eecs.berkeley.edu/cyclegan/pretrained_models/{}.pth"
_RELEASE_OPTIONS = {"netG": "resnet_9blocks", "ngf": 64, "norm": "instance", "use_dropout": False}
_YOSEMITE = "summer2winter_yosemite"
# name: (source, target, dataset, reverse)
_RELEASES: dict[str, tuple[str, str, str, str | None]] = {
    "apple2orange": ("apple", "orange", "apple2orange", "orange2apple"),
    "orange2apple": ("orange", "apple", "apple2orange", "apple2orange"),
    "summer2winter_yosemite": ("Yosemite, summer", "Yosemite, winter", _YOSEMITE, "winter2summer_yosemite"),
    "winter2summer_yosemite": ("Yosemite, winter", "Yosemite, summer", _YOSEMITE, "summer2winter_yosemite"),
    "horse2zebra": ("horse", "zebra", "horse2zebra", "zebra2horse"),
    "zebra2horse": ("zebra", "horse", "horse2zebra", "horse2zebra"),
    "monet2photo": ("Monet painting", "photo", "monet2photo", "style_monet"),
    "style_monet": ("photo", "Monet painting", "monet2photo", "monet2photo"),
    "style_cezanne": ("photo", "Cezanne painting", "cezanne2photo", None),
    "style_ukiyoe": ("photo", "Ukiyo-e print", "ukiyoe2photo", None),
    "style_vangogh": ("photo", "Van Gogh painting", "vangogh2photo", None),
    "sat2map": ("aerial photo", "map", "maps", "map2sat"),
    "map2sat": ("map", "aerial photo", "maps", "sat2map"),
    "cityscapes_photo2label": ("street photo", "Cityscapes label map", "cityscapes", "cityscapes_label2photo"),
    "cityscapes_label2photo": ("Cityscapes label map", "street photo", "cityscapes", "cityscapes_photo2label"),
    "facades_photo2label": ("facade photo", "facade label map", "facades", "facades_label2photo"),
    "facades_label2photo": ("facade label map", "facade photo", "facades", "facades_photo2label"),
    "iphone2dslr_flower": ("iPhone flower photo", "DSLR flower photo", "iphone2dslr_flower", None),
}


class CycleGAN(TranslationGAN):
    """Two generators trained adversarially and with cycle consistency (Zhu et al. 2017).

    Args:
        input_nc: channels of domain A.
        output_nc: channels of domain B.
        ngf: generator filters in the first conv layer (paper: 64).
        ndf: discriminator filters in the first conv layer (paper: 64).
        netG: generator (``resnet_9blocks`` for 256x256 in the paper, ``resnet_6blocks`` for 128x128, ``unet_256``).
        netD: discriminator (``basic`` = 70x70 PatchGAN, ``n_layers``, ``pixel``).
        n_layers_D: layers of the ``n_layers`` discriminator.
        norm: ``instance`` (paper), ``batch``, ``syncbatch``, ``none``.
        use_dropout: dropout in the generators (paper: off).
        gan_mode: ``lsgan`` (paper), ``vanilla``, ``hinge``, ``wgangp``.
        lambda_A: weight of the forward cycle loss ||F(G(a)) - a||_1 (λ of Eq. 3; paper 10).
        lambda_B: weight of the backward cycle loss ||G(F(b)) - b||_1 (paper 10).
        lambda_identity: identity-loss weight relative to λ (paper §5.2: 0.5; 0 disables it).
        pool_size: images in each discriminator's history pool (paper: 50).
        lambda_gan: weight of both generators' adversarial terms L_GAN of Eq. (3) (paper: 1). 0 gives the paper's
            "Cycle alone" ablation (Table 4); the discriminators then still train but no longer steer G or F.
        val_metrics: what validation and test report for G: A→B, as ``val/<name>`` and ``test/<name>`` next to the
            cycle errors ``cyc_a``/``cyc_b``: ``fid``, ``kid`` of G(a) against the real B images, and ``acc``
            (a classifier's accuracy on G(a) w.r.t. a's label, read from demo file names; the digits analogue of
            the paper's FCN-score). Unpaired: no l1/psnr/ssim. ``None``: ``fid`` and ``kid`` if
            ``feature_extractor`` is set, else only the cycle errors.
        feature_extractor: feature space of fid/kid/acc, a space of domain B: ``digits_uci`` for the demo's
            MNIST→UCI task, ``inception`` for photos (weights never downloaded, see :mod:`translation_zoo.metrics`).
            Metric names carry it, e.g. ``val/fid_digits_uci``.
        **kwargs: optimiser/schedule options of :class:`TranslationGAN`.
    """

    batch_kind = "unpaired"
    tiny_config = {"input_nc": 1, "output_nc": 1, "ngf": 8, "ndf": 8, "netG": "resnet_2blocks"}

    def __init__(
        self,
        input_nc: int = 3,
        output_nc: int = 3,
        ngf: int = 64,
        ndf: int = 64,
        netG: str = "resnet_9blocks",
        netD: Literal["basic", "n_layers", "pixel"] = "basic",
        n_layers_D: int = 3,
        norm: Literal["batch", "instance", "syncbatch", "none"] = "instance",
        use_dropout: bool = False,
        gan_mode: Literal["vanilla", "lsgan", "hinge", "wgangp"] = "lsgan",
        lambda_A: float = 10.0,
        lambda_B: float = 10.0,
        lambda_identity: float = 0.5,
        pool_size: int = 50,
        lambda_gan: float = 1.0,
        val_metrics: list[str] | None = None,
        feature_extractor: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        hp = self.hparams
        if lambda_identity > 0 and input_nc != output_nc:
            raise ValueError(
                f"lambda_identity > 0 needs input_nc == output_nc (got {input_nc} and {output_nc}); "
                "set lambda_identity=0 or use the same channels for both domains"
            )

        def gen(i: int, o: int) -> nn.Module:
            return init_weights(define_generator(netG, i, o, ngf, norm, use_dropout), hp.init_type, hp.init_gain)

        def disc(i: int) -> nn.Module:
            return init_weights(define_discriminator(netD, i, ndf, n_layers_D, norm), hp.init_type, hp.init_gain)

        self.gen_a2b, self.gen_b2a = gen(input_nc, output_nc), gen(output_nc, input_nc)
        self.disc_a, self.disc_b = disc(input_nc), disc(output_nc)
        self.fake_a_pool, self.fake_b_pool = ImagePool(pool_size), ImagePool(pool_size)
        self.criterion_gan = GANLoss(gan_mode)
        # Validation/test: G(a) against real b (unpaired, so distribution and classifier metrics only).
        self.eval_metrics = self.build_eval_metrics(val_metrics, feature_extractor, paired=False)

    # Official weights of ``--model cycle_gan``: ``<epoch>_net_{G_A,G_B,D_A,D_B}.pth``, key for key ours. The official
    # D_A judges domain B (it trains against G_A's fakes), D_B domain A. A one-direction release (the pretrained
    # models, ``--model test``) is a single ``latest_net_G.pth``: the A→B generator.
    official_names = ("cyclegan", "cycle_gan")
    official_networks = {"G_A": "gen_a2b", "G_B": "gen_b2a", "D_A": "disc_b", "D_B": "disc_a"}
    official_aliases = {"G": "G_A"}

    @classmethod
    def official_options(cls, state: dict[str, dict[str, torch.Tensor]], hparams: dict[str, Any]) -> dict[str, Any]:
        evidence = {g: infer_generator(state[g]) for g in ("G_A", "G_B") if g in state}
        d_inputs = {}
        for d in ("D_A", "D_B"):
            if d in state:
                evidence[d], d_inputs[d] = infer_discriminator(state[d])
        # G_B maps B -> A: its input is the model's output_nc and vice versa.
        swap = {"G_B": {"input_nc": "output_nc", "output_nc": "input_nc"}}
        options = merge_evidence(evidence, hparams, same_option, rename=swap)
        nc = {c: hparams.get(c, options.get(c, default_option(cls, c))) for c in ("input_nc", "output_nc")}
        judged = {"D_A": ("output_nc", "it judges domain B"), "D_B": ("input_nc", "it judges domain A")}
        for d, in_nc in d_inputs.items():
            option, what = judged[d]
            check_discriminator_input(
                f"{d}: its first conv takes {in_nc} channels", in_nc, nc[option], f"{option} ({what})", nc
            )
        if "lambda_identity" not in hparams and nc["input_nc"] != nc["output_nc"]:
            # The identity loss needs equal channels; these weights cannot have been trained with it.
            options["lambda_identity"] = 0.0
        return options

    @classmethod
    def released_weights(cls) -> tuple[Pretrained, ...]:
        return tuple(
            Pretrained(
                name=f"cyclegan/{name}",
                model="CycleGAN",
                official_model="cyclegan",
                files=(WeightsFile("G_A", _RELEASE_URL.format(name), "latest_net_G.pth"),),
                options={**_RELEASE_OPTIONS, "input_nc": 3, "output_nc": 3},
                source=source,
                target=target,
                direction="a2b",
                dataset=f"cyclegan/{dataset}",
                reverse=f"cyclegan/{reverse}" if reverse else None,
                licence=JUNYANZ_LICENCE,
                notes="One generator (official G_A, our gen_a2b): direction 'b2a' is untrained"
                + (f"; use cyclegan/{reverse} for {target} -> {source}." if reverse else "."),
            )
            for name, (source, target, dataset, reverse) in _RELEASES.items()
        )

    def param_groups(self) -> dict[str, list[nn.Module]]:
        # One optimiser over both generators and one over both discriminators, as in the official code.
        return {"G": [self.gen_a2b, self.gen_b2a], "D": [self.disc_a, self.disc_b]}

    def inference_conditions(self) -> dict[str, Condition]:
        return {"direction": Condition("choice", "a2b: G (A→B), b2a: F (B→A)", choices=("a2b", "b2a"), default="a2b")}

    def forward(self, x: torch.Tensor, direction: Literal["a2b", "b2a"] = "a2b") -> torch.Tensor:
        if direction == "a2b":
            return self.gen_a2b(x)
        if direction == "b2a":
            return self.gen_b2a(x)
        raise ValueError(f"direction must be 'a2b' or 'b2a', got {direction!r}")

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        hp = self.hparams
        real_a, real_b = batch["A"], batch["B"]  # (N, input_nc, H, W), (N, output_nc, H, W)
        opt_g, opt_d = self.optimizers()

        # G step first, as in the reference (D is frozen while G updates).
        with self.toggled_optimizer(opt_g):
            fake_b = self.gen_a2b(real_a)  # G(a)
            rec_a = self.gen_b2a(fake_b)  # F(G(a))
            fake_a = self.gen_b2a(real_b)  # F(b)
            rec_b = self.gen_a2b(fake_a)  # G(F(b))
            losses: dict[str, torch.Tensor] = {}
            if hp.lambda_gan > 0:  # 0: the "Cycle alone" ablation (Table 4)
                # L_GAN(G, D_Y, X, Y) and L_GAN(F, D_X, Y, X) — Eq. (1), least-squares form (§4).
                gan = self.criterion_gan
                losses["g_gan_a2b"] = hp.lambda_gan * gan(self.disc_b(fake_b), True, for_discriminator=False)
                losses["g_gan_b2a"] = hp.lambda_gan * gan(self.disc_a(fake_a), True, for_discriminator=False)
            # L_cyc(G, F) — Eq. (2), weighted by λ as in Eq. (3).
            losses["g_cyc_a"] = hp.lambda_A * F.l1_loss(rec_a, real_a)
            losses["g_cyc_b"] = hp.lambda_B * F.l1_loss(rec_b, real_b)
            if hp.lambda_identity > 0:
                # Identity loss (§5.2, Eq. 6 of the arXiv version): G(b) ≈ b, F(a) ≈ a, weighted 0.5·λ.
                losses["g_idt_b"] = hp.lambda_B * hp.lambda_identity * F.l1_loss(self.gen_a2b(real_b), real_b)
                losses["g_idt_a"] = hp.lambda_A * hp.lambda_identity * F.l1_loss(self.gen_b2a(real_a), real_a)
            self._step(opt_g, losses)

        # D step on pooled fakes (§4 "Training details"); each D's loss halved.
        with self.toggled_optimizer(opt_d):
            pooled_b = self.fake_b_pool.query(fake_b)
            pooled_a = self.fake_a_pool.query(fake_a)
            self._step(
                opt_d,
                {
                    "d_b": self._disc_loss(self.disc_b, real_b, pooled_b),
                    "d_a": self._disc_loss(self.disc_a, real_a, pooled_a),
                },
            )

    def _disc_loss(self, disc: nn.Module, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        """0.5 · (L(D(real), 1) + L(D(fake), 0)): the halved D objective of the reference ``backward_D_basic``."""
        return 0.5 * (self.criterion_gan(disc(real), True) + self.criterion_gan(disc(fake), False))

    def visuals(self, batch: dict[str, Any]) -> list[list[torch.Tensor]]:
        return self.cycle_visuals(batch, self.gen_a2b, self.gen_b2a)

    def eval_step(self, batch: dict[str, Any], stage: str) -> None:
        # val/cyc_a, val/cyc_b (L1 of Eq. 2) and the metrics of G(a) against real b.
        self.eval_cycle(batch, stage, self.gen_a2b, self.gen_b2a)
