"""GAN: Generative Adversarial Nets.

Goodfellow, Pouget-Abadie, Mirza, Xu, Warde-Farley, Ozair, Courville, Bengio. NeurIPS 2014. arXiv:1406.2661
Reference code: goodfeli/adversarial (Pylearn2; ``mnist.yaml`` is the MNIST experiment, ``__init__.py`` holds
``AdversaryPair``, ``Generator`` and the cost ``AdversaryCost2``).

A generator G maps noise z ~ p_z to an image; a discriminator D gives the probability that an image is real. They
play the two-player minimax game of Eq. (1):

    min_G max_D V(D, G) = E_x[log D(x)] + E_z[log(1 - D(G(z)))]

and, as §3 of the paper advises, G maximises log D(G(z)) instead of minimising log(1 - D(G(z))) (the
"non-saturating" loss: strong gradients early in training, when D rejects every sample).

The official MNIST configuration (``mnist.yaml``), the defaults here:

- G: z (100-d, ``noise: 'uniform'``, U(-1, 1)) -> Linear 1200 + ReLU -> Linear 1200 + ReLU -> Linear 784 + sigmoid.
  Weights ~ U(-0.05, 0.05) (``irange: .05``), biases 0.
- D: 784 -> maxout 240 units x 5 pieces -> maxout 240 x 5 -> Linear 1 + sigmoid. Weights ~ U(-0.005, 0.005).
  Dropout on D's inputs: keep 0.8 on the image (scale 1.25), keep 0.5 on each hidden layer (scale 2), i.e.
  inverted dropout p = 0.2 and p = 0.5; none in G.
- D's cost ``0.5 * (BCE(D(x), 1) + BCE(D(G(z)), 0))``; G's cost ``BCE(D(G(z)), 1)`` = -log D(G(z)).
- SGD, batch 100, learning rate 0.1 divided by 1.000004 after every update (not below 1e-6), momentum 0.5
  rising linearly to 0.7 between epochs 1 and 250 (``MomentumAdjustor``). MNIST: the first 50,000 training
  digits, pixels in [0, 1].

Parameters (official configuration, 28x28 MNIST): G 2,503,984; D 1,231,441 (``tests/test_backbones.py`` pins them).

Deviations:
- Update order: the Pylearn2 code takes the gradients of both costs from one set of samples and one dropout mask
  and updates D and G simultaneously. Here each batch follows Algorithm 1 of the paper with k = ``k`` = 1: D steps
  on detached samples, then G steps with D applied afresh (a new dropout mask) to the same samples.
- The output layer's bias of G starts at 0; the official code starts it at the logit of the training pixels' mean
  (``init_sigmoid_bias_from_marginals``), a data-dependent initialisation a model built without data cannot do.
- D returns logits and the costs use BCE on logits (the numerically stable form of sigmoid + cross-entropy).
- Momentum: PyTorch's SGD keeps ``v = μ v + g; θ -= lr v``, Pylearn2 ``v = μ v - lr g; θ += v``; identical at a
  constant learning rate, and the rate decays by 4e-6 per update here.
- The zoo's images are in [-1, 1]: D sees ``(x + 1) / 2`` and G's sigmoid output is returned as ``2 · y - 1``, so
  every layer sees the official [0, 1] range. Images are flattened (``channels x image_size²`` inputs); the
  paper's MLPs are for 28x28 MNIST, the embedded demo digits are 32x32.
- No official weights were released in a format we can read (Pylearn2 pickles).
"""

from __future__ import annotations

from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from .base import Condition, InferenceSpec, TranslationGAN


class Maxout(nn.Module):
    """Maxout layer (Goodfellow et al. 2013): the max over ``pieces`` linear units for each of ``units`` outputs."""

    def __init__(self, in_features: int, units: int, pieces: int) -> None:
        super().__init__()
        self.units, self.pieces = units, pieces
        self.linear = nn.Linear(in_features, units * pieces)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x).view(x.shape[0], self.units, self.pieces).amax(-1)  # (N, units)


class Generator(nn.Module):
    """z (N, nz) -> images (N, C, H, W) in [-1, 1]: two ReLU layers and a sigmoid output (the official MLP)."""

    def __init__(self, nz: int, hidden: int, channels: int, image_size: int) -> None:
        super().__init__()
        self.shape = (channels, image_size, image_size)
        self.net = nn.Sequential(
            nn.Linear(nz, hidden),
            nn.ReLU(),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            nn.Linear(hidden, channels * image_size * image_size),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        y = torch.sigmoid(self.net(z))  # the official [0, 1] pixels
        return (2 * y - 1).view(z.shape[0], *self.shape)


class Discriminator(nn.Module):
    """Images (N, C, H, W) in [-1, 1] -> logits (N, 1): dropout, two maxout layers, one linear unit."""

    def __init__(self, channels: int, image_size: int, units: int, pieces: int, p_input: float, p_hidden: float):
        super().__init__()
        self.net = nn.Sequential(
            nn.Dropout(p_input),
            Maxout(channels * image_size * image_size, units, pieces),
            nn.Dropout(p_hidden),
            Maxout(units, units, pieces),
            nn.Dropout(p_hidden),
            nn.Linear(units, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net((x.flatten(1) + 1) / 2)  # D sees the official [0, 1] pixels


class GAN(TranslationGAN):
    """The original GAN with the MLPs of the paper's MNIST experiment (see the module docstring).

    Args:
        channels: image channels (MNIST: 1).
        image_size: image height = width (MNIST: 28; the embedded demo digits: 32).
        nz: dimension of z (official 100).
        noise: prior p_z, ``uniform`` on [-1, 1] (official ``noise: 'uniform'``) or ``gaussian`` N(0, I).
        g_hidden: width of G's two ReLU layers (official 1200).
        d_units: maxout units per D layer (official 240).
        d_pieces: pieces per maxout unit (official 5).
        d_dropout_input: dropout probability on D's input image (official 0.2: keep 0.8).
        d_dropout_hidden: dropout probability on D's hidden layers (official 0.5).
        k: discriminator steps per generator step (Algorithm 1; official and paper: 1).
        g_init_range: G's weights ~ U(-r, r) (official 0.05).
        d_init_range: D's weights ~ U(-r, r) (official 0.005).
        lr: SGD learning rate (official 0.1).
        lr_decay: the learning rate is divided by this after every update (official 1.000004).
        min_lr: the decay stops here (official 1e-6).
        momentum: initial momentum (official 0.5).
        final_momentum: momentum reached at epoch ``momentum_saturate`` (official 0.7).
        momentum_start: epoch at which the momentum starts to rise (official 1).
        momentum_saturate: epoch at which it reaches ``final_momentum`` (official 250).
        val_metrics: validation/test metrics (``fid``, ``kid``) of samples against real images.
        feature_extractor: their feature space (``digits_mnist`` for the embedded digits).
        **kwargs: :class:`TranslationGAN` options; ``optimizer`` replaces the official SGD (then ``lr_decay`` and the
            momentum schedule are not applied, ``lr_policy``/``lr_scheduler`` are).
    """

    batch_kind = "unconditional"
    # d_init_range: at the official U(±0.005) the logits of real and fake are ~0 and, in bf16, the output bias gets
    # exactly zero gradient (0.5·(σ(0) - 1) + 0.5·σ(0)) in the first step.
    tiny_config = {"image_size": 32, "nz": 8, "g_hidden": 16, "d_units": 8, "d_pieces": 2, "d_init_range": 0.5}

    def __init__(
        self,
        channels: int = 1,
        image_size: int = 28,
        nz: int = 100,
        noise: Literal["uniform", "gaussian"] = "uniform",
        g_hidden: int = 1200,
        d_units: int = 240,
        d_pieces: int = 5,
        d_dropout_input: float = 0.2,
        d_dropout_hidden: float = 0.5,
        k: int = 1,
        g_init_range: float = 0.05,
        d_init_range: float = 0.005,
        lr: float = 0.1,
        lr_decay: float = 1.000004,
        min_lr: float = 1e-6,
        momentum: float = 0.5,
        final_momentum: float = 0.7,
        momentum_start: int = 1,
        momentum_saturate: int = 250,
        val_metrics: list[str] | None = None,
        feature_extractor: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(lr=lr, **kwargs)
        if noise not in ("uniform", "gaussian"):
            raise ValueError(f"noise must be 'uniform' or 'gaussian', got {noise!r}")
        if k < 1:
            raise ValueError(f"k (discriminator steps per generator step) must be >= 1, got {k}")
        self.gen = Generator(nz, g_hidden, channels, image_size)
        self.disc = Discriminator(channels, image_size, d_units, d_pieces, d_dropout_input, d_dropout_hidden)
        for net, r in ((self.gen, g_init_range), (self.disc, d_init_range)):
            for m in net.modules():
                if isinstance(m, nn.Linear):  # Pylearn2's irange: weights ~ U(-r, r), biases 0
                    nn.init.uniform_(m.weight, -r, r)
                    nn.init.zeros_(m.bias)
        self.eval_metrics = self.build_eval_metrics(val_metrics, feature_extractor, paired=False)

    # ------------------------------------------------------------------------------------------- players
    def param_groups(self) -> dict[str, list[nn.Module]]:
        return {"G": [self.gen], "D": [self.disc]}

    def configure_optimizers(self):
        if self.optimizer_factory is not None or self.lr_scheduler_factory is not None:
            return super().configure_optimizers()
        hp = self.hparams
        sgd = [
            torch.optim.SGD(list(self._parameters_of(mods)), lr=hp.lr, momentum=hp.momentum)
            for mods in self.param_groups().values()
        ]
        return sgd, []  # the official decay and momentum schedules are applied in training_step / per epoch

    def sample_z(self, n: int) -> torch.Tensor:
        """n codes from the prior p_z, (N, nz)."""
        z = torch.empty(n, self.hparams.nz, device=self.device)
        return z.uniform_(-1, 1) if self.hparams.noise == "uniform" else z.normal_()

    # ------------------------------------------------------------------------------------------ training
    def training_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        real = batch["image"]  # (N, C, H, W) in [-1, 1]
        opt_g, opt_d = self.optimizers()
        fake = self.gen(self.sample_z(real.shape[0]))

        # D ascends V(D, G) of Eq. (1): BCE of real -> 1 and fake -> 0 (the official cost has a factor 0.5).
        with self.toggled_optimizer(opt_d):
            pred_real, pred_fake = self.disc(real), self.disc(fake.detach())
            self._step(
                opt_d,
                {
                    "d_real": 0.5 * F.binary_cross_entropy_with_logits(pred_real, torch.ones_like(pred_real)),
                    "d_fake": 0.5 * F.binary_cross_entropy_with_logits(pred_fake, torch.zeros_like(pred_fake)),
                },
            )
        # Algorithm 1: G steps once per k D steps, maximising log D(G(z)) (§3: the non-saturating form of Eq. (1)).
        if (batch_idx + 1) % self.hparams.k == 0:
            with self.toggled_optimizer(opt_g):
                pred = self.disc(fake)
                self._step(opt_g, {"g_adv": F.binary_cross_entropy_with_logits(pred, torch.ones_like(pred))})
        self._official_schedule()

    def _official_schedule(self) -> None:
        """The learning rate after this update (divided by ``lr_decay`` per update, floored at ``min_lr``)."""
        hp = self.hparams
        if self.optimizer_factory is not None or self.lr_scheduler_factory is not None:
            return
        updates = self.trainer.fit_loop.epoch_loop._batches_that_stepped + 1  # restored on resume
        lr = max(hp.lr / hp.lr_decay**updates, hp.min_lr)
        for opt in self.trainer.optimizers:
            for group in opt.param_groups:
                group["lr"] = lr

    def on_train_epoch_start(self) -> None:
        """Pylearn2's ``MomentumAdjustor``: momentum moves linearly from its initial to its final value."""
        hp = self.hparams
        if self.optimizer_factory is not None:
            return
        epoch = self.current_epoch + 1  # Pylearn2 counts the epochs seen, starting at 1 after the first
        alpha = min(1.0, max(0.0, (epoch - hp.momentum_start) / max(1, hp.momentum_saturate - hp.momentum_start)))
        for opt in self.trainer.optimizers:
            for group in opt.param_groups:
                group["momentum"] = hp.momentum * (1 - alpha) + hp.final_momentum * alpha

    # ----------------------------------------------------------------------------------------- inference
    def inference_conditions(self) -> dict[str, Condition]:
        return {"z": Condition("code", "latent code; drawn from the prior p_z when missing", dim=self.hparams.nz)}

    def forward(self, n: int | None = None, z: torch.Tensor | None = None) -> torch.Tensor:
        """``n`` samples G(z), z ~ p_z, or one per given code ``z`` (N, nz); (N, C, H, W) in [-1, 1]."""
        if z is None:
            if n is None:
                raise ValueError("give the number of samples n or the codes z")
            z = self.sample_z(n)
        return self.gen(z.to(self.device))

    def inference_spec(self, **conditions: Any) -> InferenceSpec:
        self.check_conditions(conditions)
        hp = self.hparams
        return InferenceSpec(self.gen, hp.channels, 1, {"z": torch.zeros(1, hp.nz)}, image_input=False)
