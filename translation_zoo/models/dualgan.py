"""DualGAN: Unsupervised Dual Learning for Image-to-Image Translation.

Yi, Zhang, Tan, Gong. ICCV 2017. arXiv:1704.02510
Reference code: duxingren14/DualGAN (TensorFlow 1; ``model.py``, ``ops.py``, ``main.py``). There is no official
PyTorch code, so no speed comparison. Released weights: TensorFlow checkpoints only (``checkpoint/download_ckpt.sh``:
facades, day-night, oil-chinese, sketch-photo), which are not imported here (no official-weights import).

Two U-Net translators, G_A: U→V (``gen_a2b``) and G_B: V→U (``gen_b2a``), and two Wasserstein critics, D_A judging
domain V (``disc_b``, the official ``A_d_``) and D_B judging domain U (``disc_a``, the official ``B_d_``), trained
with the WGAN critic loss, weight clipping and RMSProp (§3, Algorithm 1). The generators' loss adds the two
reconstruction errors with the large weights λ_U = λ_V = 1000 of the official README commands (Eq. 3).

Numbers, with their source (paper §3 / official ``main.py`` flags, the README's training command, ``model.py``):

- Generator (``fcn`` of model.py): U-Net with 8 stride-2 convs (e1: 5x5, e2-e8: 3x3; gcn, 2, 4, 8, 8, 8, 8,
  8 x gcn filters, gcn = 64), LeakyReLU(0.2) before e2-e8, norm after e2-e8; decoder d1-d8 of stride-2 transposed
  convs (d1-d7: 3x3, d8: 5x5), ReLU before each, norm after d1-d7, each concatenated with the mirrored encoder
  output, tanh at the end. Every conv has a bias. TensorFlow "SAME" padding, reproduced exactly (it is
  asymmetric: the extra row/column of padding goes at the bottom/right, see :class:`SameConv2d`).
- Norm: the official ``batch_norm`` of ops.py takes the moments over the spatial axes only (``tf.nn.moments(x,
  [1, 2])``), per sample and channel: it is an instance norm with a learned scale ~ N(1, 0.02) and shift 0,
  ε = 1e-6 (:class:`TFInstanceNorm`), never a batch norm, and it has no running statistics.
- Dropout: off (``--dropout_rate 0``). The official flag is TensorFlow 1's *keep* probability of d1-d3.
- Critic (``discriminator`` of model.py): h0 5x5 conv (dcn = 64) + LeakyReLU(0.2) without norm; h1, h2, h3, h3_1
  3x3 convs with 2, 4, 8, 8 x dcn filters, norm, LeakyReLU(0.2); all stride 2. Head: ``patchgan``, a 3x3 stride-2
  conv to one channel (a 4x4 map of scores at 256 px, each seeing 129x129 pixels), or ``globalgan``, one linear
  layer on the flattened 8x8 features. The paper (§3) uses a PatchGAN critic, so ``patchgan`` is our default;
  the official ``--disc_type`` defaults to ``globalgan``. (The paper speaks of 70x70 patches; the official
  PatchGAN's scores each see 129x129 pixels. We follow the code.)
- Loss: WGAN (§3, Eqs. 1-3): l^d_A = D_A(G_A(u)) - D_A(v), l^d_B = D_B(G_B(v)) - D_B(u), clipping every critic
  variable to [-c, c] after each critic step with c = 0.01 (official ``--clip_value``; paper: c in [0.01, 0.1]);
  l^g = λ_U ||u - G_B(G_A(u))||_1 + λ_V ||v - G_A(G_B(v))||_1 - D_B(G_B(v)) - D_A(G_A(u)), the norms being mean
  absolute errors (``--loss_metric L1``). ``gan_mode="wgan-gp"`` swaps clipping for the official code's gradient
  penalty (γ = 10, its ``--GAN_type`` default).
- n_critic = 1 critic step per generator step: the official ``--n_critic`` default, which every official training
  command uses (the paper, §3, "typically" sets 2-4; on the digits task 2 trained less reliably, see
  ``benchmarks/RESULTS.md``). As in the official ``run_optim``, each batch updates the critics first, then the
  generators on every n_critic-th batch.
- RMSProp with lr = 5e-5 and decay 0.9 for both players (official ``train``; paper §3: momentum methods such as
  Adam were unstable), TensorFlow 1's variant (:class:`TFRMSprop`); constant learning rate; batch size 1;
  100 epochs; images resized to 256x256 (``cv2.resize``), never flipped: ``main.py`` passes
  ``flip=(args.flip == 'True')``, a bool compared with a string, so the official training runs without the flips
  that its ``--flip`` flag (default True) promises.
- Init: conv weights ~ truncated N(0, 0.02) (cut at 2σ), transposed-conv and linear weights ~ N(0, 0.02), biases 0.

Parameters (input_nc = output_nc = 3, default configuration): each generator 30,627,907; each critic 3,921,281
(``patchgan``) or 3,949,441 (``globalgan`` at 256 px), of which one is the head's bias, kept as a constant buffer
(a Wasserstein critic's bias gets a zero gradient, so it never leaves its initial 0 in the official code either).
These are the official TensorFlow variable counts, read from the official graph built with TensorFlow
(``tests/test_dualgan.py`` pins them). With the official variables loaded, the four networks give the official
graph's outputs to within 1e-5 at 256 px, and one training iteration (critic step, clipping, generator step) gives
the official updates to float32 precision (checked outside the repository against the official code).

Notes:

- At 256 px the innermost features e8 are 1x1, where the instance norm returns its shift alone: e8's conv and
  norm scale get no gradient, as in the official code. With ``num_downs`` below log2(image side) every layer trains
  (the 32 px quickstart uses 4 levels).

Deviations:

- Where the paper and the official code's defaults differ, the defaults follow the paper (§3, Algorithm 1):
  WGAN with weight clipping (the code's ``--GAN_type`` default is ``wgan-gp``: ``gan_mode="wgan-gp"``) and a
  PatchGAN critic (the code's ``--disc_type`` default is ``globalgan``: ``disc_type="globalgan"``). The README's
  training commands pass neither flag, so they run ``wgan-gp`` with ``globalgan``; ``n_critic``, ``clip_value``,
  the optimiser, the learning rate and the batch size are the code's defaults.
- With ``dropout`` > 0 it is the probability of zeroing (official: the keep probability), and it is off in
  eval mode (official: on at test time as well).
- The critic/generator schedule counts batches within the epoch (``batch_idx``); the official code counts them
  across epochs. The two differ only at the start of an epoch whose predecessor had a length not divisible
  by ``n_critic``.
- Not offered: the official ``--GAN_type classic`` (cross-entropy loss, two generator steps per batch).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from ..losses import gradient_penalty
from .base import Condition, TranslationGAN

# ----------------------------------------------------------------------------------------------- layers


def same_pads(size: int, kernel: int, stride: int = 2) -> tuple[int, int]:
    """TensorFlow's "SAME" padding of one axis: (before, after), the odd pixel after."""
    total = max((-(-size // stride) - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


class SameConv2d(nn.Conv2d):
    """Stride-2 convolution with TensorFlow's "SAME" padding (the official ``conv2d`` of ops.py).

    For an even input side TensorFlow pads ``kernel - 2`` pixels, the odd one at the bottom/right: (0, 1) for a
    3x3 kernel, (1, 2) for 5x5, which no symmetric ``padding=`` of PyTorch reproduces. The generator only sees
    even sides (it checks its input), so it uses these fixed pads; ``even_input=False`` computes the pads from
    each input's size (the critic accepts any size).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, even_input: bool = True) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride=2, padding=0, bias=True)
        self.even_input = even_input
        before = (kernel_size - 2) // 2
        self.even_pads = (before, kernel_size - 2 - before) * 2  # (left, right, top, bottom) for F.pad

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.even_input:
            pads = self.even_pads
        else:
            k = self.kernel_size[0]
            pads = (*same_pads(x.shape[-1], k), *same_pads(x.shape[-2], k))
        return super().forward(F.pad(x, pads))


class SameConvTranspose2d(nn.ConvTranspose2d):
    """Stride-2 transposed convolution that doubles H and W like the official ``deconv2d`` (TF "SAME").

    It is the adjoint of :class:`SameConv2d`: the full transposed output (2H + k - 2 rows) loses the rows that
    the forward convolution padded, (k - 2) // 2 at the top and the rest at the bottom (likewise for columns).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride=2, padding=0, bias=True)
        self.crop = ((kernel_size - 2) // 2, kernel_size - 2 - (kernel_size - 2) // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        top, bottom = self.crop
        y = super().forward(x)
        return y[..., top : y.shape[-2] - bottom, top : y.shape[-1] - bottom]


class TFInstanceNorm(nn.Module):
    """The official ``batch_norm`` of ops.py: per-sample, per-channel moments over H and W (an instance norm).

    (x - mean) / sqrt(var + ε) * scale + shift with the biased variance, ε = 1e-6, a learned scale ~ N(1, 0.02)
    and shift 0, no running statistics; computed in float32. Written out like the official op rather than with
    ``F.group_norm``/``F.instance_norm``: those refuse one value per channel in training (the 256 px U-Net's
    innermost features are 1x1 at batch 1), and their fused kernels leave a rounding residue of x - mean there
    that the 1/sqrt(ε) = 1000 gain blows up (outputs 1e-3 off the official ones); here x - mean is exactly 0 and
    the layer returns its shift, as the official one does.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.eps = 1e-6
        self.weight = nn.Parameter(torch.empty(channels).normal_(1.0, 0.02))  # official "scale"
        self.bias = nn.Parameter(torch.zeros(channels))  # official "center"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.float()
        mean = x.mean((2, 3), keepdim=True)
        var = (x - mean).square().mean((2, 3), keepdim=True)
        return torch.addcmul(
            self.bias[:, None, None], (x - mean) * torch.rsqrt(var + self.eps), self.weight[:, None, None]
        )


def _init_official(net: nn.Module) -> nn.Module:
    """Initialise like ops.py: conv ~ truncated N(0, 0.02) cut at 2σ, deconv/linear ~ N(0, 0.02), biases 0."""
    for m in net.modules():
        if isinstance(m, nn.ConvTranspose2d | nn.Linear):
            nn.init.normal_(m.weight, 0.0, 0.02)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Conv2d):
            nn.init.trunc_normal_(m.weight, 0.0, 0.02, a=-0.04, b=0.04)
            nn.init.zeros_(m.bias)
    return net


def _widths(base: int, n: int) -> list[int]:
    """Filters of the official encoders: base, 2, 4, 8, 8, ... x base."""
    return [base * min(2**i, 8) for i in range(n)]


# --------------------------------------------------------------------------------------------- networks


class Down(nn.Module):
    """Encoder level e_i: [LeakyReLU(0.2)] - SameConv2d - [norm] (e1 has neither the activation nor the norm)."""

    def __init__(self, in_channels: int, out_channels: int, first: bool) -> None:
        super().__init__()
        self.first = first
        self.conv = SameConv2d(in_channels, out_channels, 5 if first else 3)
        self.norm = nn.Identity() if first else TFInstanceNorm(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.conv(x if self.first else F.leaky_relu(x, 0.2)))


class Up(nn.Module):
    """Decoder level d_j: ReLU - SameConvTranspose2d - norm [- dropout]; the last one: ReLU - 5x5 - tanh."""

    def __init__(self, in_channels: int, out_channels: int, last: bool, dropout: float = 0.0) -> None:
        super().__init__()
        self.last = last
        self.deconv = SameConvTranspose2d(in_channels, out_channels, 5 if last else 3)
        self.norm = nn.Identity() if last else TFInstanceNorm(out_channels)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.deconv(F.relu(x))
        return torch.tanh(y) if self.last else self.dropout(self.norm(y))


class DualGANUnet(nn.Module):
    """The official DualGAN generator (``fcn`` of model.py): a U-Net of ``num_downs`` stride-2 levels.

    Each decoder output is concatenated with the mirrored encoder output ([d_j, e_{n-j}], in that order) before
    the next decoder level. Image sides must be multiples of ``2**num_downs`` (``size_multiple``).

    Args:
        input_nc: input channels.
        output_nc: output channels.
        ngf: filters of e1 (official ``--gcn``, 64); deeper levels have 2, 4, then 8 x ngf.
        num_downs: stride-2 levels (official: 8, for 256 px).
        dropout: probability of zeroing after the norms of d1-d3 (official: off).
    """

    def __init__(
        self, input_nc: int = 3, output_nc: int = 3, ngf: int = 64, num_downs: int = 8, dropout: float = 0.0
    ) -> None:
        super().__init__()
        if num_downs < 2:
            raise ValueError(f"num_downs must be >= 2, got {num_downs}")
        self.size_multiple = 2**num_downs
        w = _widths(ngf, num_downs)
        self.down = nn.ModuleList(Down(input_nc if i == 0 else w[i - 1], w[i], first=i == 0) for i in range(num_downs))
        ups = [Up(w[-1], w[-2], last=False, dropout=dropout)]  # d1 sees e_n alone
        for j in range(1, num_downs - 1):  # d_{j+1} sees [d_j, e_{n-j}]: twice the filters of e_{n-j}
            ups.append(Up(2 * w[-1 - j], w[-2 - j], last=False, dropout=dropout if j < 3 else 0.0))
        ups.append(Up(2 * w[0], output_nc, last=True))
        self.up = nn.ModuleList(ups)
        _init_official(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m = self.size_multiple
        if x.shape[-1] % m or x.shape[-2] % m:
            raise ValueError(f"DualGANUnet needs height and width divisible by {m}, got {tuple(x.shape[-2:])}")
        skips = []
        for down in self.down:
            x = down(x)
            skips.append(x)
        x = skips.pop()  # e_n, the innermost features
        for up in self.up[:-1]:
            x = torch.cat([up(x), skips.pop()], dim=1)
        return self.up[-1](x)


class DualGANCritic(nn.Module):
    """The official DualGAN critic (``discriminator`` of model.py): raw scores, no sigmoid.

    Args:
        input_nc: channels of the judged domain.
        ndf: filters of h0 (official ``--dcn``, 64); then 2, 4, 8, 8 x ndf.
        n_layers: stride-2 conv layers before the head (official: 5, h0-h3_1).
        disc_type: ``patchgan`` (a stride-2 3x3 conv to a map of scores) or ``globalgan`` (one linear score).
        image_size: image side, needed by ``globalgan`` only (its linear layer sees the whole final map).
    """

    def __init__(
        self,
        input_nc: int = 3,
        ndf: int = 64,
        n_layers: int = 5,
        disc_type: Literal["patchgan", "globalgan"] = "patchgan",
        image_size: int = 256,
    ) -> None:
        super().__init__()
        if disc_type not in ("patchgan", "globalgan"):
            raise ValueError(f"disc_type must be 'patchgan' or 'globalgan', got {disc_type!r}")
        self.disc_type = disc_type
        w = _widths(ndf, n_layers)
        layers: list[nn.Module] = [SameConv2d(input_nc, w[0], 5, even_input=False), nn.LeakyReLU(0.2)]
        for i in range(1, n_layers):
            layers += [SameConv2d(w[i - 1], w[i], 3, even_input=False), TFInstanceNorm(w[i]), nn.LeakyReLU(0.2)]
        self.features = nn.Sequential(*layers)
        if disc_type == "patchgan":
            self.head: nn.Module = SameConv2d(w[-1], 1, 3, even_input=False)
        else:
            side = image_size
            for _ in range(n_layers):
                side = -(-side // 2)
            self.head = nn.Linear(side * side * w[-1], 1)
        _init_official(self)
        # A Wasserstein critic's loss, mean D(fake) - mean D(real), and the generators' -mean D(fake) do not change
        # when the score is shifted by a constant: the head's bias gets a zero gradient and stays at its initial 0
        # in the official code too. It is kept as a constant buffer under the same key (``head.bias``), so the
        # state dict still holds every official variable and every parameter trains.
        del self.head.bias
        self.head.register_buffer("bias", torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.features(x)
        if self.disc_type == "patchgan":
            return self.head(h)  # (N, 1, H/64, W/64)
        return self.head(h.permute(0, 2, 3, 1).flatten(1))  # (N, 1); NHWC order as the official reshape


# ------------------------------------------------------------------------------------------- optimiser


class TFRMSprop(torch.optim.Optimizer):
    """RMSProp as TensorFlow 1's ``tf.train.RMSPropOptimizer`` (momentum 0, not centred), used by the official code.

    ms <- decay * ms + (1 - decay) * g², θ <- θ - lr * g / sqrt(ms + ε), with ms starting at **1** (TensorFlow's
    slot initialiser) and ε inside the root. ``torch.optim.RMSprop`` starts at 0 and adds ε outside, which makes
    its first steps ~3x lr·sign(g) instead of ~lr·g: a different early training.

    Args:
        params: parameters or parameter groups.
        lr: learning rate (DualGAN: 5e-5).
        decay: the moving average's decay ρ (DualGAN: 0.9).
        eps: ε (TensorFlow's default 1e-10).
    """

    def __init__(self, params: Iterable, lr: float = 5e-5, decay: float = 0.9, eps: float = 1e-10) -> None:
        if lr < 0 or not 0 <= decay < 1 or eps < 0:
            raise ValueError(f"invalid TFRMSprop settings lr={lr}, decay={decay}, eps={eps}")
        super().__init__(params, {"lr": lr, "decay": decay, "eps": eps})

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            if not params:
                continue
            for p in params:
                if "ms" not in self.state[p]:
                    self.state[p]["ms"] = torch.ones_like(p, memory_format=torch.preserve_format)
            grads = [p.grad for p in params]
            ms = [self.state[p]["ms"] for p in params]
            torch._foreach_mul_(ms, group["decay"])
            torch._foreach_addcmul_(ms, grads, grads, value=1 - group["decay"])
            denom = torch._foreach_add(ms, group["eps"])
            torch._foreach_sqrt_(denom)
            torch._foreach_addcdiv_(params, grads, denom, value=-group["lr"])
        return loss


# ----------------------------------------------------------------------------------------------- model


class DualGAN(TranslationGAN):
    """Two U-Net translators and two Wasserstein critics trained in a closed loop (Yi et al. 2017).

    Args:
        input_nc: channels of domain A (the paper's U; official ``--A_channels``).
        output_nc: channels of domain B (V; ``--B_channels``).
        ngf: generator filters in the first conv layer (official ``--gcn``: 64).
        ndf: critic filters in the first conv layer (``--dcn``: 64).
        num_downs: stride-2 levels of the U-Net (official: 8 for 256 px); image sides must be multiples of
            ``2**num_downs``.
        n_layers_D: stride-2 conv layers of the critic before its head (official: 5).
        disc_type: critic head, ``patchgan`` (paper §3) or ``globalgan`` (the official ``--disc_type`` default).
        image_size: training image side; only ``globalgan`` needs it (official ``--image_size``: 256).
        dropout: probability of zeroing after the norms of d1-d3 in training (official: off).
        gan_mode: ``wgan`` (paper: WGAN with weight clipping) or ``wgan-gp`` (the official ``--GAN_type`` default:
            gradient penalty instead of clipping).
        clip_value: c of Algorithm 1, the critics' weight clipping bound (official ``--clip_value``: 0.01).
        n_critic: critic steps per generator step (Algorithm 1; official ``--n_critic``: 1; paper §3: 2-4).
        lambda_A: λ_U of Eq. (3), weight of ||u - G_B(G_A(u))|| (official README: 1000; ``--lambda_A``).
        lambda_B: λ_V of Eq. (3), weight of ||v - G_A(G_B(v))|| (official README: 1000).
        lambda_gp: γ of the gradient penalty with ``wgan-gp`` (official: 10).
        loss_metric: the reconstruction distance, ``L1`` (official default) or ``L2`` (mean squared error).
        rmsprop_decay: decay of the RMSProp average (official: 0.9).
        val_metrics: what validation and test report for G_A: A→B, next to the reconstruction errors
            ``cyc_a``/``cyc_b``: ``fid``, ``kid`` of G_A(a) against the real B images and ``acc`` (a classifier's
            accuracy on G_A(a) w.r.t. a's label, read from demo file names). ``None``: ``fid`` and ``kid`` if
            ``feature_extractor`` is set, else only the reconstruction errors.
        feature_extractor: feature space of fid/kid/acc, a space of domain B: ``digits_uci`` for the demo's
            MNIST→UCI task, ``inception`` for photos.
        lr: RMSProp learning rate of both players (official ``--lr``: 5e-5).
        lr_policy: the official learning rate is constant.
        n_epochs: official README ``--epoch 100``.
        n_epochs_decay: epochs of linear decay (official: none).
        **kwargs: other options of :class:`TranslationGAN`. ``optimizer`` replaces the RMSProp of both players
            (``beta1``/``beta2``/``fused`` only matter for the base's Adam, which DualGAN does not use).
    """

    batch_kind = "unpaired"
    tiny_config = {"input_nc": 1, "output_nc": 1, "ngf": 8, "ndf": 8, "num_downs": 4, "n_layers_D": 3}

    def __init__(
        self,
        input_nc: int = 3,
        output_nc: int = 3,
        ngf: int = 64,
        ndf: int = 64,
        num_downs: int = 8,
        n_layers_D: int = 5,
        disc_type: Literal["patchgan", "globalgan"] = "patchgan",
        image_size: int = 256,
        dropout: float = 0.0,
        gan_mode: Literal["wgan", "wgan-gp"] = "wgan",
        clip_value: float = 0.01,
        n_critic: int = 1,
        lambda_A: float = 1000.0,
        lambda_B: float = 1000.0,
        lambda_gp: float = 10.0,
        loss_metric: Literal["L1", "L2"] = "L1",
        rmsprop_decay: float = 0.9,
        val_metrics: list[str] | None = None,
        feature_extractor: str | None = None,
        lr: float = 5e-5,
        lr_policy: Literal["linear", "step", "cosine", "constant"] = "constant",
        n_epochs: int = 100,
        n_epochs_decay: int = 0,
        **kwargs: Any,
    ) -> None:
        super().__init__(lr=lr, lr_policy=lr_policy, n_epochs=n_epochs, n_epochs_decay=n_epochs_decay, **kwargs)
        if gan_mode not in ("wgan", "wgan-gp"):
            raise ValueError(f"gan_mode must be 'wgan' or 'wgan-gp', got {gan_mode!r}")
        if loss_metric not in ("L1", "L2"):
            raise ValueError(f"loss_metric must be 'L1' or 'L2', got {loss_metric!r}")
        if n_critic < 1:
            raise ValueError(f"n_critic must be >= 1, got {n_critic}")
        self.gen_a2b = DualGANUnet(input_nc, output_nc, ngf, num_downs, dropout)  # G_A: U -> V
        self.gen_b2a = DualGANUnet(output_nc, input_nc, ngf, num_downs, dropout)  # G_B: V -> U
        self.disc_b = DualGANCritic(output_nc, ndf, n_layers_D, disc_type, image_size)  # D_A: judges V
        self.disc_a = DualGANCritic(input_nc, ndf, n_layers_D, disc_type, image_size)  # D_B: judges U
        self.eval_metrics = self.build_eval_metrics(val_metrics, feature_extractor, paired=False)

    # ------------------------------------------------------------------------------------- players
    def param_groups(self) -> dict[str, list[nn.Module]]:
        # One optimiser over both generators, one over both critics (the official g_vars / d_vars).
        return {"G": [self.gen_a2b, self.gen_b2a], "D": [self.disc_a, self.disc_b]}

    def configure_optimizers(self):
        if self.optimizer_factory is not None:
            return super().configure_optimizers()
        hp = self.hparams
        optimizers = [
            TFRMSprop(list(self._parameters_of(mods)), lr=hp.lr, decay=hp.rmsprop_decay)
            for mods in self.param_groups().values()
        ]
        schedulers = [self._make_scheduler(opt) for opt in optimizers]  # stepped per epoch by the base
        return optimizers, [s for s in schedulers if s is not None]

    # ----------------------------------------------------------------------------------- inference
    def inference_conditions(self) -> dict[str, Condition]:
        return {
            "direction": Condition(
                "choice", "a2b: G_A translates A (U) to B (V); b2a: G_B translates B to A", ("a2b", "b2a"), "a2b"
            )
        }

    def forward(self, x: torch.Tensor, direction: Literal["a2b", "b2a"] = "a2b") -> torch.Tensor:
        if direction == "a2b":
            return self.gen_a2b(x)
        if direction == "b2a":
            return self.gen_b2a(x)
        raise ValueError(f"direction must be 'a2b' or 'b2a', got {direction!r}")

    # ------------------------------------------------------------------------------------ training
    def training_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        hp = self.hparams
        real_a, real_b = batch["A"], batch["B"]  # u: (N, input_nc, H, W), v: (N, output_nc, H, W)
        opt_g, opt_d = self.optimizers()
        update_g = batch_idx % hp.n_critic == 0  # Algorithm 1: n_critic critic steps per generator step

        # The translations, once: the critics see them detached, the generators (if they step) reuse the graph.
        with torch.set_grad_enabled(update_g):
            fake_b = self.gen_a2b(real_a)  # G_A(u, z)
            fake_a = self.gen_b2a(real_b)  # G_B(v, z')

        # Critic step (Algorithm 1, lines 5-7), first as in the official run_optim.
        with self.toggled_optimizer(opt_d):
            losses = {
                "d_b": self._critic_loss(self.disc_b, real_b, fake_b.detach()),  # l^d_A, Eq. (1)
                "d_a": self._critic_loss(self.disc_a, real_a, fake_a.detach()),  # l^d_B, Eq. (2)
            }
            if hp.gan_mode == "wgan-gp":  # γ · E[(||∇D(x̂)||₂ - 1)²] (WGAN-GP, Eq. 3 of arXiv:1704.00028)
                losses["d_gp_b"] = hp.lambda_gp * gradient_penalty(self.disc_b, real_b, fake_b)
                losses["d_gp_a"] = hp.lambda_gp * gradient_penalty(self.disc_a, real_a, fake_a)
            self._step(opt_d, losses)
        if hp.gan_mode == "wgan":
            self._clip_critics()  # clip(ω_A, -c, c), clip(ω_B, -c, c)

        if not update_g:
            return
        # Generator step (Algorithm 1, line 10): l^g of Eq. (3) against the critics just updated.
        with self.toggled_optimizer(opt_g):
            rec_a = self.gen_b2a(fake_b)  # G_B(G_A(u))
            rec_b = self.gen_a2b(fake_a)  # G_A(G_B(v))
            self._step(
                opt_g,
                {
                    "g_adv_a2b": -self.disc_b(fake_b).float().mean(),  # -D_A(G_A(u))
                    "g_adv_b2a": -self.disc_a(fake_a).float().mean(),  # -D_B(G_B(v))
                    "g_rec_a": hp.lambda_A * self._distance(rec_a, real_a),  # λ_U ||u - G_B(G_A(u))||
                    "g_rec_b": hp.lambda_B * self._distance(rec_b, real_b),  # λ_V ||v - G_A(G_B(v))||
                },
            )

    @staticmethod
    def _critic_loss(critic: nn.Module, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        """D(fake) - D(real), each averaged over the batch and the score map (Eqs. 1-2)."""
        return critic(fake).float().mean() - critic(real).float().mean()

    def _distance(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if self.hparams.loss_metric == "L1":
            return F.l1_loss(x.float(), y.float())
        return F.mse_loss(x.float(), y.float())

    @torch.no_grad()
    def _clip_critics(self) -> None:
        c = self.hparams.clip_value
        for p in self._parameters_of([self.disc_a, self.disc_b]):
            p.clamp_(-c, c)

    # ---------------------------------------------------------------------------------- evaluation
    def visuals(self, batch: dict[str, Any]) -> list[list[torch.Tensor]]:
        return self.cycle_visuals(batch, self.gen_a2b, self.gen_b2a)

    def eval_step(self, batch: dict[str, Any], stage: str) -> None:
        # val/cyc_a, val/cyc_b (the L1 reconstruction errors of Eq. 3) and the metrics of G_A(u) against real v.
        self.eval_cycle(batch, stage, self.gen_a2b, self.gen_b2a)
