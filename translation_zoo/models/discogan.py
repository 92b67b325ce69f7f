"""DiscoGAN: Learning to Discover Cross-Domain Relations with Generative Adversarial Networks.

Kim, Cha, Kim, Lee, Kim. ICML 2017. arXiv:1703.05192
Reference code: SKTBrain/DiscoGAN (``discogan/model.py``: ``Generator``, ``Discriminator``;
``discogan/image_translation.py``: the training loop, ``--model_arch discogan``).

Two encoder-decoder generators without skip connections (G_AB = ``gen_a2b``, the official ``generator_B``;
G_BA = ``gen_b2a``, the official ``generator_A``) and two DCGAN-style discriminators (``disc_a`` judges domain A,
the official ``discriminator_A``; ``disc_b`` judges domain B), 64x64 images. The official configuration, each
number from ``image_translation.py`` (its argparse defaults, and the README's commands):

- Generator (``extra_layers=False``): four 4x4 stride-2 convolutions 64-128-256-512 (LeakyReLU 0.2, batch norm
  from the second on), four 4x4 stride-2 transposed convolutions 256-128-64-C (batch norm + ReLU, a sigmoid at
  the end); no biases, no skips; bottleneck 512x4x4.
- Discriminator: four 4x4 stride-2 convolutions 64-128-256-512 (LeakyReLU 0.2, batch norm from the second on),
  then a 4x4 valid convolution to one logit; its three batch-normed activations are the feature-matching features.
- Losses per direction (A->B shown; the paper's L_G_AB = L_GAN_B + L_CONST_A, §3.3-3.4):
  ``(0.1 · L_GAN_B + 0.9 · L_FM_B) · (1 - rate) + rate · L_CONST_A`` with L_GAN_B the non-saturating binary
  cross-entropy of D_B on G_AB(x_A), L_CONST_A the mean squared error of G_BA(G_AB(x_A)) against x_A (on [0, 1]
  images), and L_FM_B the feature-matching term of the code only (not in the paper):
  Σ_l mean_{c,h,w} (mean_n f_l(x_B) - mean_n f_l(G_AB(x_A)))², the official ``HingeEmbeddingLoss`` of the
  squared difference of batch-mean features with target 1, which is their plain mean. L_G sums both directions;
  L_D = L_D_A + L_D_B, each ``0.5 · BCE(D(real), 1) + 0.5 · BCE(D(fake), 0)``.
- Schedule: ``rate`` = ``starting_rate`` = 0.01 for the first ``gan_curriculum`` = 10,000 iterations (a strong
  GAN loss first), then ``default_rate`` = 0.5. Each iteration takes a new batch and updates ONE player:
  the discriminators when ``iteration % update_interval == 0`` (``update_interval`` = 3), else the generators,
  i.e. 1 D step and 2 G steps per 3 batches.
- Adam(lr 2e-4, betas (0.5, 0.999), weight_decay 1e-5) for both players; constant learning rate; batch size 64;
  ``epoch_size`` = 5000 epochs over min(|A|, |B|) // 64 batches each.
- Initialisation: the PyTorch default of 2017, which the official code relies on (it sets none): conv and
  transposed-conv weights ~ U(±1/sqrt(in_channels · k · k)), batch-norm weights ~ U(0, 1), biases 0
  (``init_type="torch_legacy"``).
- Data: images in [0, 1] (``cv2`` BGR / 255) resized to 64x64; edges2shoes/edges2handbags are split into two
  disjoint halves of the training files (A = the edge halves of the first, B = the photo halves of the
  second), edges thickened by a 3x3 dilation.

Parameters (default configuration, 3 channels, 64x64), equal to the official networks': each generator
5,513,856; each discriminator 2,765,568 (``tests/test_discogan.py`` pins them).

Image size: the official networks are built for 64x64. Here the depth follows ``image_size`` (a power of two
>= 16): both networks downsample ``log2(image_size) - 2`` times, so the bottleneck and the discriminator's last
input are 4x4 as at 64 px (64 -> the official 4 levels; 32 -> 3 levels, for the embedded 32x32 digits). Widths
double per level up to 8 · ngf (only reached above 64 px). The generator is fully convolutional: it translates
any multiple of ``2 ** levels`` (its ``size_multiple``).

Deviations:
- The zoo's images are in [-1, 1]; each network maps its input to [0, 1] first and the generator maps its sigmoid
  output back (``2 · sigmoid - 1``), so every layer and every loss sees the official ranges (L_CONST is the MSE
  on [0, 1] images, i.e. a quarter of the MSE on [-1, 1] images).
- The discriminators return logits and the GAN terms use binary cross-entropy on logits, the numerically stable
  form of the official sigmoid + ``BCELoss`` (identical values away from saturation).
- Work that does not change the stepped player's update is skipped: on D iterations the fakes are computed without
  gradients and the reconstructions are not computed; on G iterations D's real-image features are computed
  without gradients. (The official code runs every forward pass in every iteration; the only other effect is on
  batch-norm running statistics, which its training never reads.)
- Inference: ``forward`` runs the generator in the module's mode, i.e. after ``.eval()`` with batch-norm running
  statistics (so one image translates independently of its batch, and export gives the same network). The
  official code samples its test images in training mode, normalising with the test batch's statistics;
  ``eval_mode=False`` does that.
- ``alternate_players=False`` (not official) updates D and then G on every batch; only the tiny preset uses it,
  because the zoo-wide contract checks that one training batch updates every parameter.
- Official ablations (``--model_arch gan``/``recongan``) are not provided. No official weights were released.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from functools import partial
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from ..nn import init_weights
from .base import Condition, TranslationGAN


def _to_unit(x: torch.Tensor) -> torch.Tensor:
    """[-1, 1] -> [0, 1], the official image range."""
    return x * 0.5 + 0.5


def _levels(image_size: int) -> int:
    """Stride-2 levels that bring ``image_size`` down to 4x4 (64 -> 4, the official depth)."""
    levels = int(math.log2(image_size)) - 2 if image_size > 0 else 0
    if image_size < 16 or 2 ** (levels + 2) != image_size:
        raise ValueError(f"image_size must be a power of two >= 16 (official: 64), got {image_size}")
    return levels


class DiscoGANGenerator(nn.Module):
    """Encoder-decoder of the official ``Generator`` (``extra_layers=False``), with its layer indices.

    ``levels`` 4x4 stride-2 convolutions (LeakyReLU 0.2, batch norm from the second), then as many 4x4 stride-2
    transposed convolutions (batch norm + ReLU; sigmoid after the last). No biases, no skip connections.

    Args:
        input_nc: input channels.
        output_nc: output channels.
        ngf: filters of the first convolution (official 64).
        levels: number of down- (and up-) sampling steps (official 4, for 64x64).
    """

    def __init__(self, input_nc: int, output_nc: int, ngf: int = 64, levels: int = 4) -> None:
        super().__init__()
        widths = [ngf * min(2**i, 8) for i in range(levels)]  # 64, 128, 256, 512 at the official depth
        layers: list[nn.Module] = [nn.Conv2d(input_nc, widths[0], 4, 2, 1, bias=False), nn.LeakyReLU(0.2, True)]
        for c_in, c_out in zip(widths, widths[1:]):
            layers += [nn.Conv2d(c_in, c_out, 4, 2, 1, bias=False), nn.BatchNorm2d(c_out), nn.LeakyReLU(0.2, True)]
        for c_in, c_out in zip(widths[:0:-1], widths[-2::-1]):
            layers += [nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(True)]
        layers += [nn.ConvTranspose2d(widths[0], output_nc, 4, 2, 1, bias=False), nn.Sigmoid()]
        # ``main.<i>`` as in the official module, so state dicts share their keys.
        self.main = nn.Sequential(*layers)
        #: Input sides must be multiples of this (every level halves them).
        self.size_multiple = 2**levels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, input_nc, H, W) in [-1, 1] -> (N, output_nc, H, W) in (-1, 1)."""
        return self.main(_to_unit(x)) * 2 - 1  # the official net maps [0, 1] images to a sigmoid in (0, 1)


class DiscoGANDiscriminator(nn.Module):
    """The official ``Discriminator``: ``conv1``..``conv<levels>`` (4x4 stride 2; ``bn2``.. from the second;
    LeakyReLU 0.2), then ``conv<levels + 1>``, a 4x4 valid convolution to one logit on the 4x4 map.

    Args:
        input_nc: input channels.
        ndf: filters of the first convolution (official 64).
        levels: stride-2 convolutions (official 4, for 64x64).
    """

    def __init__(self, input_nc: int, ndf: int = 64, levels: int = 4) -> None:
        super().__init__()
        self.levels = levels
        c_prev = input_nc
        for i in range(1, levels + 1):  # module names as in the official class: conv1, conv2, bn2, ...
            c = ndf * min(2 ** (i - 1), 8)
            self.add_module(f"conv{i}", nn.Conv2d(c_prev, c, 4, 2, 1, bias=False))
            if i > 1:
                self.add_module(f"bn{i}", nn.BatchNorm2d(c))
            self.add_module(f"relu{i}", nn.LeakyReLU(0.2, True))
            c_prev = c
        self.add_module(f"conv{levels + 1}", nn.Conv2d(c_prev, 1, 4, 1, 0, bias=False))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """(N, C, S, S) in [-1, 1] -> logits (N, 1, 1, 1) and the batch-normed activations (feature matching)."""
        h = _to_unit(x)
        feats = []
        for i in range(1, self.levels + 1):
            h = getattr(self, f"conv{i}")(h)
            if i > 1:
                h = getattr(self, f"relu{i}")(getattr(self, f"bn{i}")(h))
                feats.append(h)
            else:
                h = self.relu1(h)
        return getattr(self, f"conv{self.levels + 1}")(h), feats


def init_torch_legacy(net: nn.Module) -> nn.Module:
    """The default initialisation of PyTorch <= 0.3, which the official code used (it sets none).

    Conv and transposed-conv weights (and biases) ~ U(-1/sqrt(n), 1/sqrt(n)) with n = in_channels · k_h · k_w
    (``_ConvNd.reset_parameters`` of the time; today's default uses a different fan for transposed convs);
    batch-norm weights ~ U(0, 1), biases 0 (``_BatchNorm.reset_parameters`` before PyTorch 1.0).
    """
    for m in net.modules():
        if isinstance(m, nn.modules.conv._ConvNd):
            n = m.in_channels * math.prod(m.kernel_size)
            bound = 1.0 / math.sqrt(n)
            nn.init.uniform_(m.weight, -bound, bound)
            if m.bias is not None:
                nn.init.uniform_(m.bias, -bound, bound)
        elif isinstance(m, nn.modules.batchnorm._BatchNorm) and m.affine:
            nn.init.uniform_(m.weight, 0.0, 1.0)
            nn.init.zeros_(m.bias)
    return net


@contextlib.contextmanager
def _batch_statistics(net: nn.Module) -> Iterator[None]:
    """Run ``net`` with batch-statistics batch norm (the official test-time mode), leaving its buffers as they were."""
    modes = {m: m.training for m in net.modules()}
    saved = {k: v.clone() for k, v in net.state_dict().items() if k.rsplit(".", 1)[-1].startswith(("running", "num"))}
    net.train()
    try:
        yield
    finally:
        for m, mode in modes.items():
            m.training = mode
        with torch.no_grad():
            state = net.state_dict()
            for k, v in saved.items():
                state[k].copy_(v)


def _bce_real(logits: torch.Tensor) -> torch.Tensor:
    """BCE(sigmoid(logits), 1): the generator's non-saturating term (the official ``gen_loss``), in fp32."""
    logits = logits.float()
    return F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits))


def feature_matching_loss(real_feats: list[torch.Tensor], fake_feats: list[torch.Tensor]) -> torch.Tensor:
    """Σ_l mean((mean_n real_l - mean_n fake_l)²): the official ``get_fm_loss`` (HingeEmbeddingLoss, target 1)."""
    return sum(((r.float().mean(0) - f.float().mean(0)) ** 2).mean() for r, f in zip(real_feats, fake_feats))


class DiscoGAN(TranslationGAN):
    """Two coupled GANs with reconstruction losses, trained on unpaired data (Kim et al. 2017).

    Args:
        input_nc: channels of domain A (official: 3).
        output_nc: channels of domain B (official: 3).
        ngf: generator filters in the first layer (official: 64).
        ndf: discriminator filters in the first layer (official: 64).
        image_size: training image side; sets both networks' depth (official ``--image_size`` 64; 32 for the
            embedded digits). A power of two >= 16.
        gan_curriculum: iterations with ``starting_rate`` before switching to ``default_rate`` (official 10000).
        starting_rate: weight ``rate`` of the reconstruction loss (GAN and feature matching get ``1 - rate``)
            during the curriculum (official 0.01).
        default_rate: ``rate`` afterwards (official 0.5; the README's handbags->shoes command uses 0.5 throughout).
        lambda_gan: weight of L_GAN inside the adversarial part (official 0.1, hard-coded).
        lambda_fm: weight of the feature-matching term inside the adversarial part (official 0.9, hard-coded;
            0 gives the paper's objective, which has no feature matching).
        update_interval: the discriminators are updated on iterations ``i % update_interval == 0``, the generators
            on the others (official 3).
        alternate_players: the official one-player-per-batch schedule; ``False`` updates D then G on every batch.
        weight_decay: Adam's L2 weight decay of both players (official 1e-5).
        lr_policy: the official learning rate is constant.
        init_type: ``torch_legacy`` (official: PyTorch's 2017 default) or one of the zoo's initialisations.
        eval_mode: inference with batch-norm running statistics once the model is in eval mode (default); ``False``
            normalises with the test batch's statistics, as the official code's test samples do.
        val_metrics: what validation and test report for G_AB: ``fid``, ``kid`` of G_AB(a) against real B, ``acc``
            (a classifier's accuracy on G_AB(a) w.r.t. a's label, demo digits only); next to the reconstruction
            errors ``val/const_a``/``val/const_b``. ``None``: ``fid`` and ``kid`` if ``feature_extractor`` is set.
        feature_extractor: feature space of fid/kid/acc, a space of domain B (``digits_uci`` for the demo digits,
            ``inception`` for photos).
        **kwargs: optimiser options of :class:`TranslationGAN` (``lr`` 2e-4, ``beta1`` 0.5, ``beta2`` 0.999 are
            the official values).
    """

    batch_kind = "unpaired"
    tiny_config = {
        "input_nc": 1,
        "output_nc": 1,
        "ngf": 8,
        "ndf": 8,
        "image_size": 32,
        "alternate_players": False,
    }

    def __init__(
        self,
        input_nc: int = 3,
        output_nc: int = 3,
        ngf: int = 64,
        ndf: int = 64,
        image_size: int = 64,
        gan_curriculum: int = 10000,
        starting_rate: float = 0.01,
        default_rate: float = 0.5,
        lambda_gan: float = 0.1,
        lambda_fm: float = 0.9,
        update_interval: int = 3,
        alternate_players: bool = True,
        weight_decay: float = 1e-5,
        lr_policy: Literal["linear", "step", "cosine", "constant"] = "constant",
        init_type: Literal["torch_legacy", "normal", "xavier", "kaiming", "orthogonal"] = "torch_legacy",
        eval_mode: bool = True,
        val_metrics: list[str] | None = None,
        feature_extractor: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(lr_policy=lr_policy, init_type=init_type, **kwargs)
        levels = _levels(image_size)
        if update_interval < 2:
            raise ValueError(
                f"update_interval must be >= 2 (1 would never update the generators), got {update_interval}"
            )
        hp = self.hparams

        def init(net: nn.Module) -> nn.Module:
            return init_torch_legacy(net) if init_type == "torch_legacy" else init_weights(net, init_type, hp.init_gain)

        self.gen_a2b = init(DiscoGANGenerator(input_nc, output_nc, ngf, levels))  # G_AB (official generator_B)
        self.gen_b2a = init(DiscoGANGenerator(output_nc, input_nc, ngf, levels))  # G_BA (official generator_A)
        self.disc_a = init(DiscoGANDiscriminator(input_nc, ndf, levels))  # D_A
        self.disc_b = init(DiscoGANDiscriminator(output_nc, ndf, levels))  # D_B
        self.eval_metrics = self.build_eval_metrics(val_metrics, feature_extractor, paired=False)

    # ----------------------------------------------------------------------------------------- players
    def param_groups(self) -> dict[str, list[nn.Module]]:
        # One Adam over both generators, one over both discriminators (official optim_gen / optim_dis).
        return {"G": [self.gen_a2b, self.gen_b2a], "D": [self.disc_a, self.disc_b]}

    def configure_optimizers(self):
        if self.optimizer_factory is not None:
            return super().configure_optimizers()
        hp = self.hparams
        optimizers = [
            torch.optim.Adam(
                list(self._parameters_of(mods)),
                lr=hp.lr,
                betas=(hp.beta1, hp.beta2),
                weight_decay=hp.weight_decay,  # L2 added to the gradient, as the official Adam(weight_decay=1e-5)
                fused=hp.fused,
            )
            for mods in self.param_groups().values()
        ]
        schedulers = [self._make_scheduler(opt) for opt in optimizers]
        return optimizers, [s for s in schedulers if s is not None]

    def schedule(self, iteration: int) -> tuple[str, float]:
        """(player to update, ``rate``) at 0-based ``iteration``: the official curriculum and alternation."""
        hp = self.hparams
        rate = hp.starting_rate if iteration < hp.gan_curriculum else hp.default_rate
        if not hp.alternate_players:
            return "DG", rate
        return ("D" if iteration % hp.update_interval == 0 else "G"), rate

    # --------------------------------------------------------------------------------------- inference
    def inference_conditions(self) -> dict[str, Condition]:
        return {
            "direction": Condition("choice", "a2b: G_AB (A→B), b2a: G_BA (B→A)", choices=("a2b", "b2a"), default="a2b")
        }

    def forward(self, x: torch.Tensor, direction: Literal["a2b", "b2a"] = "a2b") -> torch.Tensor:
        if direction not in ("a2b", "b2a"):
            raise ValueError(f"direction must be 'a2b' or 'b2a', got {direction!r}")
        gen = self.gen_a2b if direction == "a2b" else self.gen_b2a
        if self.training or self.hparams.eval_mode:
            return gen(x)
        with _batch_statistics(gen):
            return gen(x)

    # ---------------------------------------------------------------------------------------- training
    def training_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        hp = self.hparams
        real_a, real_b = batch["A"], batch["B"]  # (N, input_nc, S, S), (N, output_nc, S, S) in [-1, 1]
        opt_g, opt_d = self.optimizers()
        # The official ``iters``: one optimiser step per batch, so Lightning's step counter counts iterations.
        iteration = self.global_step if hp.alternate_players else self.global_step // 2
        player, rate = self.schedule(iteration)
        if "D" in player:
            with self.toggled_optimizer(opt_d):
                self._step(opt_d, self.discriminator_losses(real_a, real_b))
        if "G" in player:
            with self.toggled_optimizer(opt_g):
                self._step(opt_g, self.generator_losses(real_a, real_b, rate))

    def discriminator_losses(self, real_a: torch.Tensor, real_b: torch.Tensor) -> dict[str, torch.Tensor]:
        """L_D = L_D_A + L_D_B (§3.4), each ``0.5 · BCE(D(real), 1) + 0.5 · BCE(D(fake), 0)`` as in the code."""
        with torch.no_grad():  # only D is updated from these
            fake_b = self.gen_a2b(real_a)  # x_AB
            fake_a = self.gen_b2a(real_b)  # x_BA
        return {
            "d_a": self._disc_loss(self.disc_a, real_a, fake_a),
            "d_b": self._disc_loss(self.disc_b, real_b, fake_b),
        }

    def _disc_loss(self, disc: nn.Module, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        logit_real, logit_fake = disc(real)[0].float(), disc(fake)[0].float()
        return 0.5 * F.binary_cross_entropy_with_logits(
            logit_real, torch.ones_like(logit_real)
        ) + 0.5 * F.binary_cross_entropy_with_logits(logit_fake, torch.zeros_like(logit_fake))

    def generator_losses(self, real_a: torch.Tensor, real_b: torch.Tensor, rate: float) -> dict[str, torch.Tensor]:
        """L_G = L_G_AB + L_G_BA (§3.4) with the code's weights: per direction
        ``(1 - rate) · (lambda_gan · L_GAN + lambda_fm · L_FM) + rate · L_CONST``."""
        hp = self.hparams
        fake_b = self.gen_a2b(real_a)  # x_AB = G_AB(x_A)
        fake_a = self.gen_b2a(real_b)  # x_BA = G_BA(x_B)
        rec_a = self.gen_b2a(fake_b)  # x_ABA = G_BA(G_AB(x_A))
        rec_b = self.gen_a2b(fake_a)  # x_BAB
        logit_fake_b, feats_fake_b = self.disc_b(fake_b)
        logit_fake_a, feats_fake_a = self.disc_a(fake_a)
        with torch.no_grad():  # D is not updated here: its view of the real images is a constant target
            feats_real_b = self.disc_b(real_b)[1]
            feats_real_a = self.disc_a(real_a)[1]
        adv = 1.0 - rate
        return {
            # L_GAN_B = -E[log D_B(G_AB(x_A))] (§3.2), the non-saturating form; the code's weight 0.1 · (1 - rate).
            "g_gan_b": adv * hp.lambda_gan * _bce_real(logit_fake_b),
            "g_gan_a": adv * hp.lambda_gan * _bce_real(logit_fake_a),
            # Feature matching of D's batch-mean activations: code only, weight 0.9 · (1 - rate).
            "g_fm_b": adv * hp.lambda_fm * feature_matching_loss(feats_real_b, feats_fake_b),
            "g_fm_a": adv * hp.lambda_fm * feature_matching_loss(feats_real_a, feats_fake_a),
            # L_CONST_A = d(G_BA(G_AB(x_A)), x_A) (§3.2), d = MSE on [0, 1] images; weight ``rate``.
            "g_const_a": rate * F.mse_loss(_to_unit(rec_a).float(), _to_unit(real_a).float()),
            "g_const_b": rate * F.mse_loss(_to_unit(rec_b).float(), _to_unit(real_b).float()),
        }

    # ------------------------------------------------------------------------------------- evaluation
    def visuals(self, batch: dict[str, Any]) -> list[list[torch.Tensor]]:
        # x_A | x_AB | x_ABA and x_B | x_BA | x_BAB, the official result rows.
        return self.cycle_visuals(batch, partial(self, direction="a2b"), partial(self, direction="b2a"))

    def eval_step(self, batch: dict[str, Any], stage: str) -> None:
        # val/const_a, val/const_b: the reconstruction errors L_CONST (MSE on [0, 1] images).
        a2b, b2a = partial(self, direction="a2b"), partial(self, direction="b2a")
        self.eval_cycle(batch, stage, a2b, b2a, lambda x, y: F.mse_loss(_to_unit(x), _to_unit(y)), "const")


__all__ = ["DiscoGAN", "DiscoGANDiscriminator", "DiscoGANGenerator", "feature_matching_loss", "init_torch_legacy"]
