"""pix2pix: Image-to-Image Translation with Conditional Adversarial Networks.

Isola, Zhu, Zhou, Efros. CVPR 2017. arXiv:1611.07004
Reference code: junyanz/pytorch-CycleGAN-and-pix2pix (``models/pix2pix_model.py``, ``--model pix2pix``).

Generator: U-Net 256 with dropout 0.5 in the three innermost decoder blocks; discriminator: 70x70 PatchGAN on
concat(A, B) (the conditional D); batch norm; N(0, 0.02) init; vanilla GAN loss + λ_L1·L1 with λ_L1 = 100;
D's loss halved; Adam(2e-4, β1 = 0.5); batch size 1; 100 epochs + 100 of linear decay.

Test-time behaviour follows the paper (§3.2, "At inference time, we run the generator net in exactly the same
manner as during the training phase"): dropout stays on and batch norm uses the test batch's statistics, as the
official code does without ``--eval``. Set ``eval_mode=True`` for a deterministic generator (``--eval``).

Deviations: none in the math. Inference in paper mode leaves batch-norm running statistics untouched (the
official code updates them at test time, but never uses them).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from ..hub import default_option, merge_evidence
from ..losses import GANLoss
from ..nn import define_discriminator, define_generator, init_weights
from ..nn.readback import (
    JUNYANZ_LICENCE,
    check_discriminator_input,
    infer_discriminator,
    infer_generator,
    same_option,
)
from ..weights import Pretrained, WeightsFile
from .base import TranslationGAN

# The released generators: scripts/download_pix2pix_model.sh of the official code ("available models are
# edges2shoes, sat2map, map2sat, facades_label2photo, and day2night") fetches
# http://efrosgans.eecs.berkeley.edu/pix2pix/models-pytorch/$FILE.pth into ./checkpoints/${FILE}_pretrained/
# latest_net_G.pth. Trained with the `--model pix2pix` defaults: unet_256, ngf 64, batch norm, dropout (a U-Net's
# dropout cannot be read from its keys, so the entries state it).
_RELEASE_URL = "http://efrosgans.eecs.berkeley.edu/pix2pix/models-pytorch/{}.pth"
_RELEASE_OPTIONS = {"netG": "unet_256", "ngf": 64, "norm": "batch", "use_dropout": True}
# name: (source, target, dataset, reverse, note)
_RELEASES: dict[str, tuple[str, str, str, str | None, str]] = {
    "edges2shoes": ("shoe edge map", "shoe photo", "edges2shoes", None, ""),
    "sat2map": ("aerial photo", "map", "maps", "map2sat", ""),
    "map2sat": ("map", "aerial photo", "maps", "sat2map", ""),
    "facades_label2photo": (
        "facade label map",
        "facade photo",
        "facades",
        None,
        "The dataset's A is the photo: the official test runs it with --direction BtoA (README).",
    ),
    "day2night": ("day scene", "night scene", "night2day", None, ""),
}
_RELEASE_NOTE = (
    "Runs like the official test.py without --eval: dropout on and batch-norm statistics of the input, so outputs "
    "vary from call to call; pass eval_mode=True for the deterministic generator."
)


@contextlib.contextmanager
def paper_test_mode(net: nn.Module) -> Iterator[None]:
    """Run ``net`` with dropout on and batch-statistics norms, restoring its modes and BN buffers after."""
    modes = {m: m.training for m in net.modules()}
    bn_buffers = {
        name: buf.clone()
        for name, buf in net.named_buffers()
        if name.rsplit(".", 1)[-1] in ("running_mean", "running_var", "num_batches_tracked")
    }
    net.train()
    try:
        yield
    finally:
        for m, mode in modes.items():
            m.training = mode
        state = dict(net.named_buffers())
        with torch.no_grad():
            for name, saved in bn_buffers.items():
                state[name].copy_(saved)


class Pix2Pix(TranslationGAN):
    """Conditional GAN with an L1 term (Isola et al. 2017).

    Args:
        input_nc: channels of A (the source).
        output_nc: channels of B (the target).
        ngf: generator filters in the last conv layer (paper: 64).
        ndf: discriminator filters in the first conv layer (paper: 64).
        netG: generator architecture (``unet_256``, ``unet_128``, ``unet_<k>d``, ``resnet_9blocks`` ...).
        netD: discriminator (``basic`` = 70x70 PatchGAN, ``n_layers``, ``pixel``).
        n_layers_D: layers of the ``n_layers`` discriminator.
        norm: ``batch`` (paper), ``instance``, ``syncbatch``, ``none``.
        use_dropout: dropout in the generator (paper: on; it is the model's only noise source).
        gan_mode: ``vanilla`` (paper), ``lsgan``, ``hinge``, ``wgangp``.
        lambda_l1: λ of Eq. (4) (paper: 100).
        lambda_gan: weight of the cGAN term; 0 gives the paper's "L1 only" ablation (Table 1).
        eval_mode: use eval-mode dropout/BN at inference (the official ``--eval``); off = the paper's behaviour.
        val_metrics: what validation and test report (logged as ``val/<name>``, ``test/<name>``): any of ``l1``,
            ``psnr``, ``ssim`` (against the aligned target, images mapped to [0, 1]) and ``fid``, ``kid``, ``acc``
            (in ``feature_extractor``'s space; ``acc`` is the pix2pix paper's "FCN-score" idea: a classifier's
            accuracy on G(x) w.r.t. the source's label, read from demo file names). ``None``: ``l1``, ``psnr``,
            ``ssim``, plus ``fid`` and ``kid`` if ``feature_extractor`` is set.
        feature_extractor: feature space of fid/kid/acc: ``digits_mnist`` (the demo's MNIST targets),
            ``digits_uci``, or ``inception`` (the standard FID network; its weights are never downloaded, see
            :mod:`translation_zoo.metrics`). Metric names carry it, e.g. ``val/fid_digits_mnist``.
        **kwargs: optimiser/schedule options of :class:`TranslationGAN` (lr, beta1, n_epochs, ...).
    """

    batch_kind = "paired"
    tiny_config = {"input_nc": 1, "output_nc": 1, "ngf": 8, "ndf": 8, "netG": "unet_5d"}

    def __init__(
        self,
        input_nc: int = 3,
        output_nc: int = 3,
        ngf: int = 64,
        ndf: int = 64,
        netG: str = "unet_256",
        netD: Literal["basic", "n_layers", "pixel"] = "basic",
        n_layers_D: int = 3,
        norm: Literal["batch", "instance", "syncbatch", "none"] = "batch",
        use_dropout: bool = True,
        gan_mode: Literal["vanilla", "lsgan", "hinge", "wgangp"] = "vanilla",
        lambda_l1: float = 100.0,
        lambda_gan: float = 1.0,
        eval_mode: bool = False,
        val_metrics: list[str] | None = None,
        feature_extractor: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        hp = self.hparams
        self.gen = init_weights(
            define_generator(netG, input_nc, output_nc, ngf, norm, use_dropout), hp.init_type, hp.init_gain
        )
        # Conditional D: it sees the source next to the (real or fake) target.
        self.disc = init_weights(
            define_discriminator(netD, input_nc + output_nc, ndf, n_layers_D, norm), hp.init_type, hp.init_gain
        )
        self.criterion_gan = GANLoss(gan_mode)
        # Validation/test: G(x) against the aligned target y (the base's validation_step and test_step).
        self.eval_metrics = self.build_eval_metrics(val_metrics, feature_extractor, paired=True)

    # Official weights: ``<epoch>_net_G.pth`` / ``<epoch>_net_D.pth`` of ``--model pix2pix``, key for key ours.
    official_names = ("pix2pix",)
    official_networks = {"G": "gen", "D": "disc"}

    @classmethod
    def official_options(cls, state: dict[str, dict[str, torch.Tensor]], hparams: dict[str, Any]) -> dict[str, Any]:
        evidence, d_input = {}, None
        if "G" in state:
            evidence["G"] = infer_generator(state["G"])
        if "D" in state:
            evidence["D"], d_input = infer_discriminator(state["D"])
        options = merge_evidence(evidence, hparams, same_option)
        if d_input is not None:  # the conditional D sees A and B stacked
            nc = {c: hparams.get(c, options.get(c, default_option(cls, c))) for c in ("input_nc", "output_nc")}
            check_discriminator_input(
                f"D: its first conv takes {d_input} channels",
                d_input,
                nc["input_nc"] + nc["output_nc"],
                "input_nc + output_nc (it judges A and B stacked)",
                nc,
            )
        return options

    @classmethod
    def released_weights(cls) -> tuple[Pretrained, ...]:
        return tuple(
            Pretrained(
                name=f"pix2pix/{name}",
                model="Pix2Pix",
                official_model="pix2pix",
                files=(WeightsFile("G", _RELEASE_URL.format(name), "latest_net_G.pth"),),
                options={**_RELEASE_OPTIONS, "input_nc": 3, "output_nc": 3},
                source=source,
                target=target,
                dataset=f"pix2pix/{dataset}",
                reverse=f"pix2pix/{reverse}" if reverse else None,
                licence=JUNYANZ_LICENCE,
                notes=" ".join(n for n in (note, _RELEASE_NOTE) if n),
            )
            for name, (source, target, dataset, reverse, note) in _RELEASES.items()
        )

    def param_groups(self) -> dict[str, list[nn.Module]]:
        return {"G": [self.gen], "D": [self.disc]}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training or self.hparams.eval_mode:
            return self.gen(x)
        with paper_test_mode(self.gen):
            return self.gen(x)

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        hp = self.hparams
        real_a, real_b = batch["A"], batch["B"]  # (N, input_nc, H, W), (N, output_nc, H, W)
        opt_g, opt_d = self.optimizers()
        fake_b = self.gen(real_a)  # computed once: D sees it detached, G's losses through it

        # D step: maximise log D(x, y) + log(1 - D(x, G(x))) — Eq. (1); halved "to slow D relative to G" (§3.3).
        with self.toggled_optimizer(opt_d):
            pred_fake = self.disc(torch.cat([real_a, fake_b.detach()], 1))
            pred_real = self.disc(torch.cat([real_a, real_b], 1))
            self._step(
                opt_d,
                {
                    "d_fake": 0.5 * self.criterion_gan(pred_fake, False),
                    "d_real": 0.5 * self.criterion_gan(pred_real, True),
                },
            )

        # G step: G* = arg min_G max_D L_cGAN(G, D) + λ L_L1(G) — Eq. (4), with L_L1 of Eq. (3).
        with self.toggled_optimizer(opt_g):
            losses = {"g_l1": hp.lambda_l1 * F.l1_loss(fake_b, real_b)}
            if hp.lambda_gan > 0:
                pred_fake = self.disc(torch.cat([real_a, fake_b], 1))
                # Non-saturating form: maximise log D(x, G(x)) (§3.3).
                losses["g_gan"] = hp.lambda_gan * self.criterion_gan(pred_fake, True, for_discriminator=False)
            self._step(opt_g, losses)
