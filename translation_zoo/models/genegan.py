"""GeneGAN: Learning Object Transfiguration and Attribute Subspace from Unpaired Data.

Zhou, Xiao, Yang, Feng, He, He. BMVC 2017. arXiv:1705.04932
Reference code: Prinsphield/GeneGAN (TensorFlow; ``model.py``, ``train.py``, ``dataset.py``, ``test.py``). No
weights were released, so there is no official-weights reader.

Two unpaired sets of aligned images: ``Au`` have the object (e.g. eyeglasses, a smile; here any binary attribute),
``B0`` do not. One encoder (official ``splitter``) maps an image to a feature map whose channels are split into a
background part and an object part: ``Au -> [A, u]``, ``B0 -> [B, ε]`` (the last ``object_ratio`` = 1/4 of the
channels are the object feature). One decoder (official ``joiner``) maps the concatenation back to an image. The
object feature of an image without the object should be zero, so ``B0`` is decoded from ``[B, 0]``. Crossbreeding
swaps the object features of a pair: the children ``Bu = dec(B, u)`` (B with A's object) and ``A0 = dec(A, 0)``
(A with its object removed).

Losses (§3 of the paper, named as there; the weights are the official ``model.py``'s, converted from its pixel range
[0, 255] to the zoo's [-1, 1]):

* nulling loss L_nulling = |ε|₁: the object feature of a without-object image is pushed to zero (``G_loss['e']``,
  mean absolute value, weight 1);
* reconstruction loss L_reconstruct = |Au − dec(A, u)|₁ + |B0 − dec(B, 0)|₁ (``cycle_Ax`` + ``cycle_Be``: mean
  absolute error / 255 of [0, 255] images = 0.5 x the mean absolute error of [-1, 1] images);
* parallelogram loss L_parallelogram = |Au + B0 − Bu − A0|₁ (``parallelogram``: 0.01 x the mean over [0, 255]
  images = 1.275 x the mean over [-1, 1] images);
* adversarial loss: one discriminator per set, D_u (official ``D_Ax``: real Au vs the child Bu) and D_0 (``D_Be``:
  real B0 vs the child A0). The paper writes the standard GAN objective; the official code trains WGAN critics
  (no sigmoid; D minimises mean D(fake) − mean D(real), G minimises −mean D(fake)) with every critic variable
  clipped to [−0.01, 0.01] after each critic step, which is what is done here;
* plus the official L2 weight decay of the generator's convolution kernels: Σ 0.5 · 5e-5 · mean(W²).

Training (official ``train.py`` / ``dataset.py``): batches of 64 Au and 64 B0 images (two independent shuffled
queues), 64x64 RGB, no augmentation; RMSProp (decay 0.8, no momentum) with learning rate 5e-5 for G and D, constant;
100,000 iterations, each = one critic step (100 critic steps at every 500th iteration, starting with iteration 0)
then one generator step.

Networks (official ``model.py``; every convolution 4x4 stride 2 'SAME' = padding 1, no bias, weights N(0, 0.02);
batch norm as ``tf.layers.batch_normalization``: momentum 0.99, ε 1e-3, γ = 1, β = 0; images enter as x / 255 of
[0, 255], i.e. (x + 1) / 2 of ours):

* splitter: C128 - LReLU(0.2), C256 - BN - LReLU, C512 - BN - LReLU (a 512x8x8 map at 64 px); channels 0..383 are
  the background A, 384..511 the object u;
* joiner: deconv 512 - BN - ReLU (H/4), deconv 256 - BN - ReLU (H/2), deconv 3 + bias (H), tanh;
* discriminators: C128 - LReLU, C256 - BN - LReLU, C512 - BN - LReLU, C512 - BN - LReLU, linear (512·(H/16)² -> 1).

Parameters at the defaults (64x64 RGB), equal to the official TensorFlow graph's trainable variables (counted layer
by layer in ``tests/test_genegan.py``): splitter 2,629,120, joiner 6,305,283 (G 8,934,403); each discriminator
6,832,641 (both 13,665,282), of which the final linear layer's bias is a buffer here (see the deviations).

Deviations:

* Data feeding: the official code reads Au and B0 from two separate queues, 64 + 64 per step, with a fresh pair of
  batches for every critic step and for the generator step. Here a batch of the zoo's attribute data
  (``{"image", "attrs"}``, CelebA layout, or ``{"image", "domain"}``) is split into the images with the attribute
  and those without, and the first k = min(#with, #without) of each form the k pairs (a 50 % attribute in batches
  of 128 gives about 59 pairs). A batch whose images all fall on one side trains nothing. The generator step
  reuses the batch of the iteration's last critic step.
* The critic's final bias gets an identically zero gradient under the WGAN loss (it cancels between mean D(fake)
  and mean D(real) over equally many images) and starts at zero, so the official variable never changes; it is kept
  as a zero buffer ``fc_bias`` (in the state dict, not a trainable parameter), with the same outputs.
* RMSProp: :class:`RMSPropTF` starts the mean square at 1 like TensorFlow 1.x (PyTorch starts at 0); PyTorch adds ε
  (1e-10) outside the square root, TensorFlow inside (no difference unless a gradient is ~0).
* The official ``sess.run([d_opt, loss_D, clip_d])`` leaves the order of update and clip to TensorFlow; the clip
  follows the update here (the WGAN algorithm). Batch-norm running statistics (used only in eval mode) are updated
  once per network call; the official control dependencies update every batch norm of the graph in every step, so
  in a critic step the joiner's running statistics see 2 calls here and 4 there.
* CelebA: the official ``preprocess.py`` aligns the in-the-wild images by 5 landmarks into 256x256 crops
  (``align_5p``) before resizing to 64x64; the recipe uses the aligned-and-cropped release instead (a centred
  178x178 crop resized to 64x64).
* Equation numbers: the paper's loss terms are cited by their names in §3; the paper text was not available here
  to check its numbering.

Inference: ``model(x, reference=r)`` transplants r's object into x (the child ``dec(A_x, u_r)``; r is resized to x
if needed, the method assumes aligned images); ``model(x)`` or ``model(x, target=0)`` removes the object
(``dec(A_x, 0)``); ``model(x, target=1)`` decodes x with its own object feature (reconstruction).
:meth:`GeneGAN.interpolate` scales the transplanted object feature (official ``test.py -m interpolation``) and
:meth:`GeneGAN.crossbreed` returns both children of a pair (official ``-m swap``).
"""

from __future__ import annotations

from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from .base import Condition, ConditionError, InferenceSpec, TranslationGAN

BN_MOMENTUM = 0.01  # tf.layers.batch_normalization momentum 0.99 (PyTorch counts the other way)
BN_EPS = 1e-3  # tf.layers.batch_normalization epsilon


def _conv(c_in: int, c_out: int) -> nn.Conv2d:
    """4x4 stride-2 'SAME' convolution without bias (official ``make_conv``)."""
    return nn.Conv2d(c_in, c_out, 4, 2, 1, bias=False)


def _bn(c: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(c, eps=BN_EPS, momentum=BN_MOMENTUM)


class Splitter(nn.Module):
    """The encoder (official ``G_splitter``): image (N, C, H, W) in [-1, 1] -> (background (N, 4ngf − n_obj, H/8, W/8),
    object (N, n_obj, H/8, W/8)), n_obj = int(4ngf · object_ratio)."""

    def __init__(self, input_nc: int = 3, ngf: int = 128, object_ratio: float = 0.25) -> None:
        super().__init__()
        self.n_object = int(4 * ngf * object_ratio)
        if not 0 < self.n_object < 4 * ngf:
            raise ValueError(f"object_ratio={object_ratio} leaves {self.n_object} of {4 * ngf} channels to the object")
        self.conv1 = _conv(input_nc, ngf)
        self.conv2 = _conv(ngf, 2 * ngf)
        self.bn2 = _bn(2 * ngf)
        self.conv3 = _conv(2 * ngf, 4 * ngf)
        self.bn3 = _bn(4 * ngf)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = F.leaky_relu(self.conv1((x + 1) / 2), 0.2)  # official: image / 255 of [0, 255] images
        h = F.leaky_relu(self.bn2(self.conv2(h)), 0.2)
        h = F.leaky_relu(self.bn3(self.conv3(h)), 0.2)
        return h[:, : -self.n_object], h[:, -self.n_object :]


class Joiner(nn.Module):
    """The decoder (official ``G_joiner``): (background, object) -> image (N, C, 8h, 8w) in [-1, 1]."""

    def __init__(self, output_nc: int = 3, ngf: int = 128) -> None:
        super().__init__()
        self.deconv1 = nn.ConvTranspose2d(4 * ngf, 4 * ngf, 4, 2, 1, bias=False)
        self.bn1 = _bn(4 * ngf)
        self.deconv2 = nn.ConvTranspose2d(4 * ngf, 2 * ngf, 4, 2, 1, bias=False)
        self.bn2 = _bn(2 * ngf)
        self.deconv3 = nn.ConvTranspose2d(2 * ngf, output_nc, 4, 2, 1, bias=True)  # official W, then the bias 'b'

    def forward(self, background: torch.Tensor, obj: torch.Tensor) -> torch.Tensor:
        h = torch.cat([background, obj], 1)
        h = F.relu(self.bn1(self.deconv1(h)))
        h = F.relu(self.bn2(self.deconv2(h)))
        return torch.tanh(self.deconv3(h))  # official (tanh + 1) · 255 / 2 in [0, 255] = tanh in [-1, 1]


class Critic(nn.Module):
    """A discriminator (official ``D_Ax`` / ``D_Be``): image (N, C, S, S) -> (N,) WGAN critic values."""

    def __init__(self, input_nc: int = 3, ndf: int = 128, image_size: int = 64) -> None:
        super().__init__()
        if image_size % 16:
            raise ValueError(f"image_size={image_size} must be a multiple of 16 (four stride-2 convolutions)")
        self.conv1 = _conv(input_nc, ndf)
        self.conv2 = _conv(ndf, 2 * ndf)
        self.bn2 = _bn(2 * ndf)
        self.conv3 = _conv(2 * ndf, 4 * ndf)
        self.bn3 = _bn(4 * ndf)
        self.conv4 = _conv(4 * ndf, 4 * ndf)
        self.bn4 = _bn(4 * ndf)
        self.fc = nn.Linear(4 * ndf * (image_size // 16) ** 2, 1, bias=False)
        # The official fc bias: its WGAN gradient is identically zero, so it stays at its initial 0 (module docstring).
        self.register_buffer("fc_bias", torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.leaky_relu(self.conv1((x + 1) / 2), 0.2)
        h = F.leaky_relu(self.bn2(self.conv2(h)), 0.2)
        h = F.leaky_relu(self.bn3(self.conv3(h)), 0.2)
        h = F.leaky_relu(self.bn4(self.conv4(h)), 0.2)
        return (self.fc(h.flatten(1)) + self.fc_bias).squeeze(1)


def official_init(module: nn.Module) -> None:
    """Official initialisation: every kernel N(0, 0.02), biases 0, batch norm γ = 1 and β = 0."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


class RMSPropTF(torch.optim.RMSprop):
    """``torch.optim.RMSprop`` whose mean square starts at 1, as TensorFlow 1.x's ``RMSPropOptimizer`` (PyTorch: 0).

    Defaults are the official ``tf.train.RMSPropOptimizer(lr, decay=0.8)``: α (decay) 0.8, ε 1e-10, no momentum.
    """

    def __init__(self, params: Any, lr: float = 5e-5, alpha: float = 0.8, eps: float = 1e-10, **kwargs: Any) -> None:
        super().__init__(params, lr=lr, alpha=alpha, eps=eps, **kwargs)
        for group in self.param_groups:
            for p in group["params"]:
                state = self.state[p]
                state["step"] = torch.zeros((), dtype=torch.float32)
                state["square_avg"] = torch.ones_like(p, memory_format=torch.preserve_format)
                if group["momentum"] > 0:
                    state["momentum_buffer"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                if group["centered"]:
                    state["grad_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)


class _Crossbreed(nn.Module):
    """Inference/export: x decoded with its own object feature scaled by ``target`` (0: removed, 1: kept)."""

    def __init__(self, splitter: Splitter, joiner: Joiner) -> None:
        super().__init__()
        self.splitter, self.joiner = splitter, joiner

    def forward(self, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        background, obj = self.splitter(x)
        gate = target.to(obj.dtype).reshape(-1, 1, 1, 1)
        return self.joiner(background, obj * gate)


class _Transplant(nn.Module):
    """Inference/export: x decoded with the object feature of ``reference`` (resized to x's size when it differs)."""

    def __init__(self, splitter: Splitter, joiner: Joiner) -> None:
        super().__init__()
        self.splitter, self.joiner = splitter, joiner

    def forward(self, x: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
        if reference.shape[-2:] != x.shape[-2:]:
            reference = F.interpolate(reference, size=x.shape[-2:], mode="bilinear", align_corners=False)
        background, _ = self.splitter(x)
        _, obj = self.splitter(reference)
        return self.joiner(background, obj.expand(x.shape[0], -1, -1, -1))


# ----------------------------------------------------------------------------------------------- the model
class GeneGAN(TranslationGAN):
    """GeneGAN (Zhou et al. 2017): object transfiguration by swapping the object part of an encoder's features.

    Args:
        input_nc: image channels (official 3).
        image_size: training image side (official 64); the discriminators' linear layer depends on it.
        ngf: filters of the splitter's first layer (official 128: C128-C256-C512; the joiner mirrors 512-256).
        ndf: filters of the discriminators' first layer (official 128: C128-C256-C512-C512).
        object_ratio: fraction of the splitter's channels that form the object feature (official
            ``second_ratio`` 0.25: the last 128 of 512).
        labels: ``attributes`` (batches ``"attrs"`` (N, K) in {0, 1}, CelebA files) or ``domain`` (batches
            ``"domain"`` (N,): folder per domain).
        n_domains: columns of ``attrs`` (``labels="attributes"``) or number of domains (``labels="domain"``).
        attribute: the attribute's column of ``attrs``, or the domain index of the images with the object (the
            others are the images without it).
        domain_names: attribute or domain names in label order, saved with the model.
        lambda_nulling: weight of the nulling loss |ε|₁ (official 1).
        lambda_rec: weight of each reconstruction L1 on [-1, 1] images (official 1/255 on [0, 255] = 0.5).
        lambda_parallelogram: weight of the parallelogram L1 on [-1, 1] images (official 0.01 on [0, 255] = 1.275).
        lambda_adv: weight of each generator adversarial term (official 1).
        weight_decay: L2 decay of G's kernels, Σ 0.5 · wd · mean(W²) (official 5e-5).
        clip_value: the critics' weight clip (official 0.01).
        n_critic: critic steps per generator step (official 1).
        n_critic_boost: critic steps at every ``boost_every``-th iteration, from iteration 0 (official 100 / 500).
        boost_every: see ``n_critic_boost`` (0: never).
        lr: RMSProp learning rate of G and D (official 5e-5, constant).
        rmsprop_decay: RMSProp decay (official 0.8).
        **kwargs: options of :class:`TranslationGAN` (``optimizer`` replaces RMSProp, ``lr_scheduler`` ...).
    """

    batch_kind = "multidomain"
    tiny_config = {
        "input_nc": 1,
        "image_size": 32,
        "ngf": 8,
        "ndf": 8,
        "labels": "domain",
        "n_domains": 2,
        "attribute": 1,
        "n_critic_boost": 1,
    }

    def __init__(
        self,
        input_nc: int = 3,
        image_size: int = 64,
        ngf: int = 128,
        ndf: int = 128,
        object_ratio: float = 0.25,
        labels: Literal["attributes", "domain"] = "attributes",
        n_domains: int = 1,
        attribute: int = 0,
        domain_names: list[str] | None = None,
        lambda_nulling: float = 1.0,
        lambda_rec: float = 0.5,
        lambda_parallelogram: float = 1.275,
        lambda_adv: float = 1.0,
        weight_decay: float = 5e-5,
        clip_value: float = 0.01,
        n_critic: int = 1,
        n_critic_boost: int = 100,
        boost_every: int = 500,
        lr: float = 5e-5,
        rmsprop_decay: float = 0.8,
        lr_policy: Literal["linear", "step", "cosine", "constant"] = "constant",
        **kwargs: Any,
    ) -> None:
        super().__init__(lr=lr, lr_policy=lr_policy, **kwargs)
        if labels not in ("attributes", "domain"):
            raise ValueError(f"labels must be 'attributes' or 'domain', got {labels!r}")
        if labels == "domain" and n_domains < 2:
            raise ValueError("labels='domain' needs n_domains >= 2 (images with and without the object)")
        if not 0 <= attribute < n_domains:
            raise ValueError(f"attribute={attribute} must index one of the n_domains={n_domains} labels")
        if domain_names is not None and len(domain_names) != n_domains:
            raise ValueError(f"domain_names has {len(domain_names)} names for n_domains={n_domains}")
        if n_critic < 1 or n_critic_boost < 1 or boost_every < 0:
            raise ValueError("n_critic and n_critic_boost must be >= 1, boost_every >= 0")
        if image_size % 16:
            raise ValueError(f"image_size={image_size} must be a multiple of 16")
        self.splitter = Splitter(input_nc, ngf, object_ratio)
        self.joiner = Joiner(input_nc, ngf)
        self.disc_u = Critic(input_nc, ndf, image_size)  # official D_Ax: images with the object
        self.disc_0 = Critic(input_nc, ndf, image_size)  # official D_Be: images without it
        for net in (self.splitter, self.joiner, self.disc_u, self.disc_0):
            official_init(net)
        self.size_multiple = 8
        #: generator iterations done (the official loop's ``i``) and critic steps done within the current one
        self.iteration = 0
        self.critic_done = 0

    # ------------------------------------------------------------------------------------------- players
    def param_groups(self) -> dict[str, list[nn.Module]]:
        return {"G": [self.splitter, self.joiner], "D": [self.disc_u, self.disc_0]}

    def _make_optimizers(self) -> list[torch.optim.Optimizer]:
        if self.optimizer_factory is not None:
            return super()._make_optimizers()
        hp = self.hparams
        return [
            RMSPropTF(list(self._parameters_of(mods)), lr=hp.lr, alpha=hp.rmsprop_decay)
            for mods in self.param_groups().values()
        ]

    def critic_steps(self, iteration: int) -> int:
        """Critic steps of generator iteration ``iteration`` (official: 100 if i % 500 == 0 else 1)."""
        hp = self.hparams
        return hp.n_critic_boost if hp.boost_every and iteration % hp.boost_every == 0 else hp.n_critic

    # ---------------------------------------------------------------------------------------------- data
    def has_object(self, batch: dict[str, Any]) -> torch.Tensor:
        """(N,) bool: which images of the batch have the attribute (the set Au); the others are B0."""
        hp = self.hparams
        key = "attrs" if hp.labels == "attributes" else "domain"
        if key not in batch:
            other = "domain" if key == "attrs" else "attrs"
            raise KeyError(
                f"GeneGAN(labels={hp.labels!r}) reads batch[{key!r}], but the batch has {other!r}: set "
                f"labels={'domain' if key == 'attrs' else 'attributes'!r} to match the data module's layout"
            )
        if key == "attrs":
            return batch["attrs"][:, hp.attribute] > 0.5
        return batch["domain"].reshape(-1) == hp.attribute

    def split_pairs(self, batch: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor] | None:
        """(Au, B0): the first k images with and the first k without the attribute, k = min of the two counts;
        ``None`` when one side is empty."""
        x, flag = batch["image"], self.has_object(batch)
        a_u, b_0 = x[flag], x[~flag]
        k = min(len(a_u), len(b_0))
        return None if k == 0 else (a_u[:k], b_0[:k])

    # -------------------------------------------------------------------------------------------- losses
    def family(self, a_u: torch.Tensor, b_0: torch.Tensor) -> dict[str, torch.Tensor]:
        """Everything one pair gives: features A, u, B, ε; reconstructions Au', B0'; children Bu, A0."""
        background_a, u = self.splitter(a_u)
        background_b, e = self.splitter(b_0)
        zero = torch.zeros_like(e)
        return {
            "A": background_a,
            "u": u,
            "B": background_b,
            "e": e,
            "a_u_rec": self.joiner(background_a, u),
            "b_0_rec": self.joiner(background_b, zero),
            "b_u": self.joiner(background_b, u),
            "a_0": self.joiner(background_a, zero),
        }

    def generator_losses(self, a_u: torch.Tensor, b_0: torch.Tensor) -> dict[str, torch.Tensor]:
        """The generator's objective (official ``G_loss`` + weight decay), each term weighted."""
        hp = self.hparams
        c = self.family(a_u, b_0)
        return {
            "g_nulling": hp.lambda_nulling * c["e"].abs().mean(),  # L_nulling = |ε|₁
            "g_rec_au": hp.lambda_rec * (a_u - c["a_u_rec"]).abs().mean(),  # L_reconstruct, Au term
            "g_rec_b0": hp.lambda_rec * (b_0 - c["b_0_rec"]).abs().mean(),  # L_reconstruct, B0 term
            "g_adv_bu": -hp.lambda_adv * self.disc_u(c["b_u"]).mean(),  # the child Bu should pass as Au
            "g_adv_a0": -hp.lambda_adv * self.disc_0(c["a_0"]).mean(),  # the child A0 should pass as B0
            # L_parallelogram = |Au + B0 − Bu − A0|₁
            "g_parallelogram": hp.lambda_parallelogram * (a_u + b_0 - c["b_u"] - c["a_0"]).abs().mean(),
            "g_decay": self.kernel_decay(),
        }

    def kernel_decay(self) -> torch.Tensor:
        """Σ 0.5 · weight_decay · mean(W²) over the splitter's and joiner's kernels (official ``loss_G_decay``: the
        variables named ``W``; not batch norm, not the joiner's bias)."""
        kernels = [m.weight for m in (*self.splitter.modules(), *self.joiner.modules())
                   if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]  # fmt: skip
        return 0.5 * self.hparams.weight_decay * torch.stack([w.square().mean() for w in kernels]).sum()

    def critic_losses(self, a_u: torch.Tensor, b_0: torch.Tensor) -> dict[str, torch.Tensor]:
        """The critics' WGAN objective (official ``D_loss``): mean D(fake) − mean D(real) for each set."""
        with torch.no_grad():
            background_a, u = self.splitter(a_u)
            background_b, e = self.splitter(b_0)
            b_u = self.joiner(background_b, u)
            a_0 = self.joiner(background_a, torch.zeros_like(e))
        return {
            "d_u": self.disc_u(b_u).mean() - self.disc_u(a_u).mean(),  # official Ax_Bx
            "d_0": self.disc_0(a_0).mean() - self.disc_0(b_0).mean(),  # official Be_Ae
        }

    @torch.no_grad()
    def clip_critics(self) -> None:
        """Clip every critic variable (kernels, batch-norm γ and β) to [−clip_value, clip_value] (official
        ``clip_d``)."""
        c = self.hparams.clip_value
        for p in (*self.disc_u.parameters(), *self.disc_0.parameters()):
            p.clamp_(-c, c)

    # ------------------------------------------------------------------------------------------ training
    def training_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        pair = self.split_pairs(batch)
        if pair is None:  # every image on one side: no pair to crossbreed (module docstring)
            return
        a_u, b_0 = pair
        opt_g, opt_d = self.optimizers()

        # 1. One critic step: WGAN loss on real Au / child Bu and real B0 / child A0, then the weight clip.
        with self.toggled_optimizer(opt_d):
            self._step(opt_d, self.critic_losses(a_u, b_0))
        self.clip_critics()
        self.critic_done += 1
        if self.critic_done < self.critic_steps(self.iteration):
            return

        # 2. The generator step after the iteration's critic steps.
        with self.toggled_optimizer(opt_g):
            self._step(opt_g, self.generator_losses(a_u, b_0))
        self.critic_done = 0
        self.iteration += 1

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        super().on_save_checkpoint(checkpoint)
        checkpoint["genegan_schedule"] = {"iteration": self.iteration, "critic_done": self.critic_done}

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        super().on_load_checkpoint(checkpoint)
        schedule = checkpoint.get("genegan_schedule", {})
        self.iteration = int(schedule.get("iteration", 0))
        self.critic_done = int(schedule.get("critic_done", 0))

    # ----------------------------------------------------------------------------------------- inference
    def inference_conditions(self) -> dict[str, Condition]:
        return {
            "reference": Condition(
                "image",
                "an image with the object (attribute): its object feature is transplanted into the input",
                channels=self.hparams.input_nc,
            ),
            "target": Condition(
                "index", "without a reference: 0 removes the object (its feature nulled), 1 keeps it", default=0, dim=2
            ),
        }

    def forward(
        self, x: torch.Tensor, reference: torch.Tensor | None = None, target: int | torch.Tensor | None = None
    ) -> torch.Tensor:
        """``dec(A_x, u_reference)`` with a reference (the child Bu); else ``dec(A_x, target · u_x)``: target 0
        (default) removes the object (A0), 1 keeps it (the reconstruction)."""
        if reference is not None:
            if target is not None and torch.as_tensor(target).ne(1).any():
                raise ConditionError("GeneGAN: target must be 1 (or left out) when a reference is given")
            return _Transplant(self.splitter, self.joiner)(x, reference)
        gate = torch.as_tensor(0 if target is None else target, device=x.device).reshape(-1)
        return _Crossbreed(self.splitter, self.joiner)(x, gate.expand(x.shape[0]))

    def inference_spec(self, **conditions: Any) -> InferenceSpec:
        conditions = self.check_conditions(conditions)
        hp = self.hparams
        if "reference" in conditions:
            module: nn.Module = _Transplant(self.splitter, self.joiner)
            extra = {"reference": torch.zeros(1, hp.input_nc, hp.image_size, hp.image_size)}
        else:
            module = _Crossbreed(self.splitter, self.joiner)
            extra = {"target": torch.full((1,), int(conditions.get("target", 0)), dtype=torch.long)}
        return InferenceSpec(module, int(hp.input_nc), self.size_multiple, extra)

    @torch.no_grad()
    def crossbreed(self, a_u: torch.Tensor, b_0: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The two children of a pair (official ``test.py -m swap``): (Bu: b_0 with a_u's object, A0: a_u without
        it)."""
        c = self.family(a_u, b_0)
        return c["b_u"], c["a_0"]

    @torch.no_grad()
    def interpolate(self, x: torch.Tensor, reference: torch.Tensor, strengths: list[float]) -> list[torch.Tensor]:
        """x decoded with the reference's object feature scaled by each strength λ (official ``test.py -m
        interpolation``: ``joiner(B, u · λ)``)."""
        background, _ = self.splitter(x)
        _, obj = self.splitter(reference)
        obj = obj.expand(x.shape[0], -1, -1, -1)
        return [self.joiner(background, obj * s) for s in strengths]

    @torch.no_grad()
    def visuals(self, batch: dict[str, Any]) -> list[list[torch.Tensor]]:
        """One row: x | x with its own object (reconstruction) | x without it | a reference | x with its object.
        References are the batch's images with the object (cycled), or the batch rolled by one if it has none."""
        x = batch["image"]
        flag = self.has_object(batch)
        idx = flag.nonzero().flatten()
        if len(idx):
            ref = x[idx[torch.arange(len(x), device=x.device) % len(idx)]]
        else:
            ref = x.roll(1, 0)
        return [[x, self(x, target=1), self(x, target=0), ref, self(x, reference=ref)]]

    def eval_step(self, batch: dict[str, Any], stage: str) -> None:
        """Validation/test: the reconstruction L1 (own object feature for images with the attribute, nulled for
        those without, as in training) and the mean |object feature| of the images without it (the nulling
        loss)."""
        x, flag = batch["image"], self.has_object(batch)
        n = x.shape[0]
        background, obj = self.splitter(x)
        rec = self.joiner(background, obj * flag.to(obj.dtype).reshape(-1, 1, 1, 1))
        self.log(f"{stage}/rec_l1", F.l1_loss(rec, x), prog_bar=True, batch_size=n, sync_dist=True)
        if (~flag).any():
            self.log(f"{stage}/nulling", obj[~flag].abs().mean(), batch_size=n, sync_dist=True)


__all__ = ["Critic", "GeneGAN", "Joiner", "RMSPropTF", "Splitter", "official_init"]
