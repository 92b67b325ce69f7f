"""ALAE: Adversarial Latent Autoencoders.

Pidhorskyi, Adjeroh, Doretto. CVPR 2020. arXiv:2004.04467
Reference code: podgorskiy/ALAE (``model.py``, ``net.py``, ``train_alae.py``, ``losses.py``, ``lreq.py``,
``custom_adam.py``; the MNIST MLP experiment is ``configs/mnist_fc.yaml``).

Four networks (§4, Figure 2): a mapping F: z -> w, a generator G: w -> x, an encoder E: x -> w and a discriminator D
that works on the latent space, w -> logit, so that the GAN's discriminator is D∘E. The game is played in the latent
space: E and D tell real from generated images, F and G fool them, and E∘G must give back the w that made the image
(the latent reconstruction Δ(F || E∘G), Eq. (6)). Every batch runs the three steps of Algorithm 1, in the official
order (``train_alae.py``):

1. E and D: ``softplus(D(E(G(F(z))))) + softplus(-D(E(x)))`` plus R1 on real images,
   ``γ/2 · ||∇_x D(E(x))||²`` (γ = 10, the official default of ``discriminator_logistic_simple_gp``);
2. F and G: the non-saturating ``softplus(-D(E(G(F(z)))))`` with a new z;
3. E, G (and F, see Deviations): ``mean((E(G(w)) - w)²)`` with ``w = F(z)`` as a fixed target (``s.detach()``).

The MLP variant of the paper's MNIST experiment (``configs/mnist_fc.yaml``: ``GeneratorFC``, ``EncoderFC``), the
defaults here:

- latent size 50 (z and w), F: pixel norm of z, then 6 equalised linear layers 50 -> 50, each with LeakyReLU 0.2 and
  the learning-rate multiplier 0.1; G: w -> 1024 -> 1024 -> 28·28 (LeakyReLU 0.2, a linear output), the 28x28 image
  resized (nearest) to the 32x32 training size (the official MNIST records are the digits padded to 32x32); E: the
  32x32 image resized (nearest) to 28x28 -> 1024 -> 1024 -> 50, LeakyReLU 0.2 after every layer, the last included;
  D: 3 equalised linear layers 50 -> 50 -> 50 -> 1 with the multiplier 0.1 and no activation (see below).
- Equalised learning rate (``lreq.py``, "implicit" form): weights start at N(0, (√2 / √fan_in)²), biases at 0, and
  the optimiser's step of every weight is scaled by ``√2 / √fan_in · lrmul`` and of every bias by ``lrmul``.
- Two optimisers, F+G and E+D: Adam without momentum (``LREQAdam``: β1 = 0, β2 = 0.99, ε 1e-8), learning rate 0.002
  (``LEARNING_RATES`` at the MLP's level of detail), constant; batch 128; 600 epochs of the 60,000 digits.
- An exponential moving average of the networks (``model_s``), decay ``0.5 ** (batch / 10,000)`` per batch (a
  half-life of 10,000 images), is what the official figures sample and reconstruct with; here too
  (``use_ema=True``). As the official ``model_s`` (a second ``Model``), the averaged networks start from their own
  random initialisation, not from a copy of the trained ones: after k batches of 128 the initial weights still
  count for ``0.5 ** (k / 78)`` of them.

Parameters (official configuration): F 15,300; G 1,905,424; E 1,904,690, equal to the official networks (counted by
instantiating the official ``Model(generator="GeneratorFC", encoder="EncoderFC", latent_size=50, mapping_layers=6,
channels=1)``). D 5,151 here against 7,650 official, all of them live: the official D of this experiment is
``MappingDNoStyle`` (``configs/mnist_fc.yaml``: ``MAPPING_D: "MappingDNoStyle"``; the branch ``mnist`` of the official
repository, whose training script reads that key, builds it), three layers 50 -> 50 -> 50 -> 50 of which the loss reads
output 0 only. Its last layer's other 49 rows (49 · 51 = 2,499 parameters) never get a gradient and never change any
output, so here the last layer has the one output the loss reads: the same function and the same training (the zoo's
contract also requires every parameter to train). The released ``Model`` ignores ``MAPPING_D`` and builds
``MappingD`` (10,200 parameters: a last layer of 2 · 50 outputs read at ``[:, 0, 50]``, podgorskiy/ALAE#38), which
expects the style-based encoder's 3-D output and fails with an IndexError on ``EncoderFC``'s 2-D w, so the released
code cannot run this configuration as shipped. ``tests/test_alae.py`` pins these numbers.

No MNIST weights are released (the official ``training_artifacts/download_all.py`` fetches the StyleALAE models of
FFHQ, CelebA, LSUN bedroom and CelebA-HQ only), so there is no official-weights import for this variant.

Latent editing at inference: :meth:`encode` (x -> w), :meth:`decode` (w -> x), :meth:`reconstruct` (G(E(x))) and
:meth:`edit` (G(E(x) + α·direction)), with the EMA networks by default.

Deviations:
- D has no activations between its layers, as the official code: its author calls that an error kept to stay
  consistent with the published results (podgorskiy/ALAE#44). ``d_activation=True`` puts LeakyReLU 0.2 between them.
- Step 3 of Algorithm 1 updates θ_E and θ_G; the official code steps both optimisers, so F (through G's input, the
  target ``w`` is detached) is updated as well. Here as the official code. Under the PyTorch the official code was
  written for (1.4, ``zero_grad`` zeroes gradients instead of dropping them) that step also gives D's Adam a zero
  gradient: D's weights stay, but its second-moment estimate decays by β2 and its step count advances, twice per
  batch in all. Here the same (D gets zero gradients before E's optimiser steps in step 3).
- Adam: ``torch.optim.Adam(betas=(0, 0.99))`` with one parameter group per equalisation coefficient (learning rate
  ``lr · coefficient``). The official ``LREQAdam`` adds ε to √v before the bias correction of v, PyTorch after it:
  the same update up to ε (1e-8) scaled by √(1 - β2^t).
- The official code also tracks the average w (``dlatent_avg``) for truncation; only StyleALAE's figures truncate.
  Not kept here, and D's moving average (never used by the official code) is not kept either.
- Not built yet: StyleALAE (the style-based G with AdaIN, E with instance-norm style extraction, the progressive
  growing schedule of ``lod_driver.py``). ``variant`` accepts ``"mlp"`` only.
- Images: the zoo's [-1, 1], as the official ``x / 127.5 - 1``. G's output layer is linear: training uses it as it
  is, inference (``forward``, ``sample``, :meth:`decode`, export) clamps it to [-1, 1], as the official code does
  only when it writes images. Channels: G's output and E's input have
  ``channels · mlp_size²`` units (official: one channel).
"""

from __future__ import annotations

import math
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from ..nn.ema import half_life_beta, update_moving_average
from .base import Condition, InferenceSpec, TranslationGAN


class EqualLinear(nn.Linear):
    """A linear layer with the equalised learning rate of ``lreq.Linear`` in its implicit form.

    The weights start at N(0, (gain / √fan_in)²) and the forward pass is a plain ``F.linear``; the optimiser scales
    the step of the weight by :attr:`weight_coef` = gain / √fan_in · lrmul and of the bias by :attr:`bias_coef` =
    lrmul (:meth:`ALAE.configure_optimizers`), which is StyleGAN's runtime weight scaling for an Adam optimiser.
    """

    def __init__(self, in_features: int, out_features: int, gain: float = math.sqrt(2.0), lrmul: float = 1.0):
        super().__init__(in_features, out_features)
        self.weight_coef = gain / math.sqrt(in_features) * lrmul
        self.bias_coef = lrmul
        with torch.no_grad():
            self.weight.normal_(0.0, gain / math.sqrt(in_features))
            self.bias.zero_()


def pixel_norm(z: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """z / sqrt(mean(z²) + ε) over the features (F's input normalisation)."""
    return z * torch.rsqrt(z.pow(2).mean(1, keepdim=True) + eps)


class Mapping(nn.Module):
    """F: z (N, latent) -> w (N, latent): pixel norm, ``layers`` equalised linear layers (lrmul 0.1) + LeakyReLU."""

    def __init__(self, latent_size: int, layers: int, lrmul: float = 0.1) -> None:
        super().__init__()
        self.fc = nn.ModuleList(EqualLinear(latent_size, latent_size, lrmul=lrmul) for _ in range(layers))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = pixel_norm(z)
        for fc in self.fc:
            x = F.leaky_relu(fc(x), 0.2)
        return x


class GeneratorMLP(nn.Module):
    """G: w (N, latent) -> images (N, C, S, S): two LeakyReLU layers, a linear C·m² output resized to S (nearest)."""

    def __init__(self, latent_size: int, hidden: int, channels: int, mlp_size: int, image_size: int) -> None:
        super().__init__()
        self.shape = (channels, mlp_size, mlp_size)
        self.image_size = image_size
        self.fc1 = EqualLinear(latent_size, hidden)
        self.fc2 = EqualLinear(hidden, hidden)
        self.fc3 = EqualLinear(hidden, channels * mlp_size * mlp_size)

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        x = F.leaky_relu(self.fc1(w), 0.2)
        x = F.leaky_relu(self.fc2(x), 0.2)
        x = self.fc3(x).view(w.shape[0], *self.shape)  # (N, C, 28, 28)
        return F.interpolate(x, size=self.image_size)  # nearest, as GeneratorFC's F.interpolate(x, 2 ** (2 + lod))


class EncoderMLP(nn.Module):
    """E: images (N, C, S, S) -> w (N, latent): resized to m x m (nearest), three layers each with LeakyReLU 0.2."""

    def __init__(self, latent_size: int, hidden: int, channels: int, mlp_size: int) -> None:
        super().__init__()
        self.mlp_size = mlp_size
        self.fc1 = EqualLinear(channels * mlp_size * mlp_size, hidden)
        self.fc2 = EqualLinear(hidden, hidden)
        self.fc3 = EqualLinear(hidden, latent_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, size=self.mlp_size).flatten(1)  # (N, C·28·28)
        x = F.leaky_relu(self.fc1(x), 0.2)
        x = F.leaky_relu(self.fc2(x), 0.2)
        return F.leaky_relu(self.fc3(x), 0.2)  # the official EncoderFC activates its output too


class LatentDiscriminator(nn.Module):
    """D: w (N, latent) -> logits (N, 1): equalised linear layers (lrmul 0.1), official: no activation between them."""

    def __init__(self, latent_size: int, layers: int, activation: bool, lrmul: float = 0.1) -> None:
        super().__init__()
        sizes = [latent_size] * layers + [1]
        self.fc = nn.ModuleList(EqualLinear(a, b, lrmul=lrmul) for a, b in zip(sizes[:-1], sizes[1:]))
        self.activation = activation

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        for i, fc in enumerate(self.fc):
            w = fc(w)
            if self.activation and i < len(self.fc) - 1:
                w = F.leaky_relu(w, 0.2)
        return w


class ALAE(TranslationGAN):
    """Adversarial Latent Autoencoder, the MLP variant of the paper's MNIST experiment (see the module docstring).

    Args:
        variant: ``mlp`` (the MNIST experiment's ``GeneratorFC``/``EncoderFC``). StyleALAE is not built yet.
        channels: image channels (MNIST: 1).
        image_size: side of the training images (official: 32, MNIST padded to 32x32).
        mlp_size: side of the images G's and E's MLPs produce and read (official 28), resized to/from ``image_size``.
        latent_size: dimension of z and w (``LATENT_SPACE_SIZE``, 50).
        hidden: width of G's and E's hidden layers (1024).
        mapping_layers: layers of F (``MAPPING_LAYERS``, 6).
        d_layers: layers of D (3, fixed in the official ``Model``).
        d_activation: LeakyReLU 0.2 between D's layers (official: none, podgorskiy/ALAE#44).
        r1_gamma: γ of the R1 penalty γ/2 · E||∇_x D(E(x))||² on real images (10).
        lr: learning rate of both optimisers (``LEARNING_RATES``: 0.002).
        beta1: Adam β1 (``ADAM_BETA_0``: 0; ``LREQAdam`` has no first moment).
        beta2: Adam β2 (``ADAM_BETA_1``: 0.99).
        ema_half_life: half-life, in images, of the moving average of F, G and E (10,000); 0 disables it.
        use_ema: sample, encode and reconstruct with the averaged networks (official figures) when they exist.
        lr_policy: ``constant`` (official: ``LEARNING_DECAY_STEPS: []``) or a decay of the base class.
        val_metrics: validation/test metrics (``fid``, ``kid``) of samples against real images.
        feature_extractor: their feature space (``digits_mnist`` for the embedded digits).
        **kwargs: :class:`TranslationGAN` options; ``optimizer`` replaces the equalised Adam (then the
            equalisation coefficients are not applied).
    """

    batch_kind = "unconditional"
    tiny_config = {"image_size": 32, "mlp_size": 8, "latent_size": 8, "hidden": 16, "mapping_layers": 2}

    def __init__(
        self,
        variant: Literal["mlp"] = "mlp",
        channels: int = 1,
        image_size: int = 32,
        mlp_size: int = 28,
        latent_size: int = 50,
        hidden: int = 1024,
        mapping_layers: int = 6,
        d_layers: int = 3,
        d_activation: bool = False,
        r1_gamma: float = 10.0,
        lr: float = 0.002,
        beta1: float = 0.0,
        beta2: float = 0.99,
        ema_half_life: float = 10_000.0,
        use_ema: bool = True,
        lr_policy: Literal["linear", "step", "cosine", "constant"] = "constant",
        val_metrics: list[str] | None = None,
        feature_extractor: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(lr=lr, beta1=beta1, beta2=beta2, lr_policy=lr_policy, **kwargs)
        if variant != "mlp":
            raise ValueError(f"variant must be 'mlp' (StyleALAE is not built yet), got {variant!r}")
        self.mapping = Mapping(latent_size, mapping_layers)
        self.gen = GeneratorMLP(latent_size, hidden, channels, mlp_size, image_size)
        self.encoder = EncoderMLP(latent_size, hidden, channels, mlp_size)
        self.disc = LatentDiscriminator(latent_size, d_layers, d_activation)
        if ema_half_life > 0:
            # The official model_s: a second model with its own random initialisation, averaged towards the trained
            # networks after every batch and never trained by an optimiser.
            self.mapping_ema = Mapping(latent_size, mapping_layers).requires_grad_(False)
            self.gen_ema = GeneratorMLP(latent_size, hidden, channels, mlp_size, image_size).requires_grad_(False)
            self.encoder_ema = EncoderMLP(latent_size, hidden, channels, mlp_size).requires_grad_(False)
        self.eval_metrics = self.build_eval_metrics(val_metrics, feature_extractor, paired=False)

    # ------------------------------------------------------------------------------------------- players
    def param_groups(self) -> dict[str, list[nn.Module]]:
        # The official decoder_optimizer (G and F) and encoder_optimizer (E and D).
        return {"FG": [self.mapping, self.gen], "ED": [self.encoder, self.disc]}

    def configure_optimizers(self):
        if self.optimizer_factory is not None:
            return super().configure_optimizers()
        hp = self.hparams
        optimizers = []
        for mods in self.param_groups().values():
            by_coef: dict[float, list[nn.Parameter]] = {}
            for m in mods:
                for layer in m.modules():
                    if isinstance(layer, EqualLinear):
                        by_coef.setdefault(layer.weight_coef, []).append(layer.weight)
                        by_coef.setdefault(layer.bias_coef, []).append(layer.bias)
            groups = [{"params": ps, "lr": hp.lr * c} for c, ps in by_coef.items()]
            counted = {id(p) for g in groups for p in g["params"]}
            assert counted == {id(p) for p in self._parameters_of(mods)}, "a parameter outside EqualLinear"
            optimizers.append(torch.optim.Adam(groups, lr=hp.lr, betas=(hp.beta1, hp.beta2), fused=hp.fused))
        schedulers = [self._make_scheduler(opt) for opt in optimizers]
        return optimizers, [s for s in schedulers if s is not None]

    def sample_z(self, n: int) -> torch.Tensor:
        """n codes z ~ N(0, I), (N, latent)."""
        return torch.randn(n, self.hparams.latent_size, device=self.device)

    # ------------------------------------------------------------------------------------------ training
    def training_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        real = batch["image"]  # (N, C, S, S) in [-1, 1]
        n = real.shape[0]
        opt_fg, opt_ed = self.optimizers()

        # Step I (E, D): real images -> real, generated -> fake, in the latent space; R1 on real images.
        with self.toggled_optimizer(opt_ed):
            with torch.no_grad():
                fake = self.gen(self.mapping(self.sample_z(n)))
            real = real.detach().requires_grad_(True)
            d_real = self.disc(self.encoder(real))  # (N, 1)
            d_fake = self.disc(self.encoder(fake))
            (grad,) = torch.autograd.grad(d_real.sum(), real, create_graph=True)
            self._step(
                opt_ed,
                {
                    "d_real": F.softplus(-d_real).mean(),
                    "d_fake": F.softplus(d_fake).mean(),
                    "d_r1": 0.5 * self.hparams.r1_gamma * grad.pow(2).flatten(1).sum(1).mean(),
                },
            )

        # Step II (F, G): the non-saturating loss through D∘E, a new z.
        with self.toggled_optimizer(opt_fg):
            d_fake = self.disc(self.encoder(self.gen(self.mapping(self.sample_z(n)))))
            self._step(opt_fg, {"g_adv": F.softplus(-d_fake).mean()})

        # Step III: the latent reconstruction Δ(F || E∘G) = mean((E(G(w)) - w)²), w = F(z) the fixed target. Both
        # optimisers step (official): E and G, and F through G's input.
        w = self.mapping(self.sample_z(n))
        opt_ed.zero_grad(set_to_none=True)
        self._step(opt_fg, {"lae": (self.encoder(self.gen(w)) - w.detach()).pow(2).mean()})
        # D is not in this loss. The official code (PyTorch 1.4, whose zero_grad zeroes gradients) still steps D's
        # Adam with zero gradients: D's weights stay, its second moments decay by beta2 and its step count advances.
        for p in self.disc.parameters():
            p.grad = torch.zeros_like(p)
        opt_ed.step()
        self._update_ema(n)

    @torch.no_grad()
    def _update_ema(self, batch_size: int) -> None:
        """model_s.lerp(model, 0.5 ** (batch / half-life)) of ``train_alae.py``."""
        half_life = self.hparams.ema_half_life
        if half_life <= 0:
            return
        pairs = ((self.mapping, self.mapping_ema), (self.gen, self.gen_ema), (self.encoder, self.encoder_ema))
        update_moving_average(pairs, half_life_beta(batch_size, half_life))

    # ----------------------------------------------------------------------------------------- inference
    def _nets(self) -> tuple[nn.Module, nn.Module, nn.Module]:
        """F, G, E for inference: the moving averages when ``use_ema`` and they exist."""
        if self.hparams.use_ema and self.hparams.ema_half_life > 0:
            return self.mapping_ema, self.gen_ema, self.encoder_ema
        return self.mapping, self.gen, self.encoder

    def inference_conditions(self) -> dict[str, Condition]:
        dim = self.hparams.latent_size
        return {"z": Condition("code", "latent code; drawn from the prior N(0, I) when missing", dim=dim)}

    def forward(self, n: int | None = None, z: torch.Tensor | None = None) -> torch.Tensor:
        """``n`` samples G(F(z)), z ~ N(0, I), or one per given code ``z`` (N, latent); (N, C, S, S)."""
        if z is None:
            if n is None:
                raise ValueError("give the number of samples n or the codes z")
            z = self.sample_z(n)
        mapping, gen, _ = self._nets()
        return _Sampler(mapping, gen)(z.to(self.device))

    @torch.no_grad()
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """w = E(x) (N, latent) of images (N, C, S, S) in [-1, 1]."""
        return self._nets()[2](x.to(self.device))

    @torch.no_grad()
    def decode(self, w: torch.Tensor) -> torch.Tensor:
        """G(w): images (N, C, S, S) of latent codes w (N, latent)."""
        return self._nets()[1](w.to(self.device)).clamp(-1, 1)

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """G(E(x)): the reconstruction of images (N, C, S, S) in [-1, 1] (§6: the paper's reconstruction figures)."""
        return self.decode(self.encode(x))

    @torch.no_grad()
    def edit(self, x: torch.Tensor, direction: torch.Tensor, alpha: float | torch.Tensor = 1.0) -> torch.Tensor:
        """Latent editing: G(E(x) + α · direction).

        Args:
            x: images (N, C, S, S) in [-1, 1].
            direction: a direction in W, (latent,) or (N, latent) (e.g. the difference of the mean codes of two
                sets of images, or a principal direction as the official ``principal_directions``).
            alpha: its step, a float or (N,) per image.
        """
        w = self.encode(x)
        alpha = torch.as_tensor(alpha, dtype=w.dtype, device=w.device).reshape(-1, 1)
        return self.decode(w + alpha * direction.to(w.device, w.dtype))

    @torch.no_grad()
    def visuals(self, batch: dict[str, Any]) -> list[list[torch.Tensor]]:
        x = batch["image"]
        return [[x, self.reconstruct(x), self(x.shape[0])]]  # real | reconstruction | sample

    def inference_spec(self, **conditions: Any) -> InferenceSpec:
        self.check_conditions(conditions)
        mapping, gen, _ = self._nets()
        hp = self.hparams
        z = torch.zeros(1, hp.latent_size)
        return InferenceSpec(_Sampler(mapping, gen), hp.channels, 1, {"z": z}, image_input=False)


class _Sampler(nn.Module):
    """G∘F as one exportable network: z (N, latent) -> images (N, C, S, S), clamped to [-1, 1].

    G's output layer is linear; the official code clamps only when it saves images (``save_image``). Inference here
    clamps the same way; training (and E's view of generated images) uses G's raw output.
    """

    def __init__(self, mapping: Mapping, gen: GeneratorMLP) -> None:
        super().__init__()
        self.mapping, self.gen = mapping, gen

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.gen(self.mapping(z)).clamp(-1, 1)
