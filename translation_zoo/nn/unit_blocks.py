"""The blocks UNIT and MUNIT share unchanged: the official ``networks.py`` of mingyuliutw/UNIT (master) and
NVlabs/MUNIT define them identically.

Module and attribute names give the official state-dict keys (``enc.model.3.model.0.model.1.conv.weight``,
``dec.model.2.norm.gamma``, ``cnns.0.0.conv.weight``), which are public API of both papers' checkpoints.

* :class:`LayerNorm`: the official decoder's layer norm (unbiased std, γ ~ U(0, 1), β = 0).
* :class:`AdaptiveInstanceNorm2d`: instance norm whose per-sample affine parameters are given at call time (MUNIT's
  decoder; the official module has them assigned as attributes before each decode, here they are arguments).
* :class:`ConvBlock` (official ``Conv2dBlock``), :class:`ResBlock`, :class:`ResBlocks`.
* :class:`ContentEncoder` (UNIT's E_i, MUNIT's content encoder E^c_i) and :class:`Decoder` (UNIT's G_i with instance
  norm residual blocks, MUNIT's G_i with AdaIN residual blocks).
* :class:`MsImageDis`: the multi-scale discriminator.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

NORMS = ("in", "ln", "adain", "none")


class LayerNorm(nn.Module):
    """The official decoder's layer norm: per image over (C, H, W), (x - mean) / (std + eps) with the unbiased std,
    then a per-channel γ (initialised U(0, 1)) and β (0)."""

    def __init__(self, num_features: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps
        self.gamma = nn.Parameter(torch.rand(num_features))
        self.beta = nn.Parameter(torch.zeros(num_features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.flatten(1)
        std, mean = torch.std_mean(flat, dim=1)
        shape = (-1,) + (1,) * (x.dim() - 1)
        x = (x - mean.view(shape)) / (std.view(shape) + self.eps)
        return x * self.gamma.view(1, -1, 1, 1) + self.beta.view(1, -1, 1, 1)


class AdaptiveInstanceNorm2d(nn.Module):
    """AdaIN(x, γ, β) = γ · (x - μ(x)) / σ(x) + β per sample and channel (biased variance, eps 1e-5, as the official
    batch-norm-over-(1, N·C) formulation). γ, β: (N, C), produced from a style code by MUNIT's MLP. No parameters and
    no buffers (the official module's ``running_mean``/``running_var`` are unused dummies; MUNIT's weight import
    drops them)."""

    def __init__(self, num_features: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.num_features = num_features
        self.eps = eps

    def forward(self, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        return F.instance_norm(x, eps=self.eps) * weight[:, :, None, None] + bias[:, :, None, None]

    def extra_repr(self) -> str:
        return str(self.num_features)


def _norm(norm: str, channels: int) -> nn.Module:
    if norm == "in":
        return nn.InstanceNorm2d(channels)  # no affine parameters, no running statistics (official 'in')
    if norm == "ln":
        return LayerNorm(channels)
    if norm == "adain":
        return AdaptiveInstanceNorm2d(channels)
    if norm == "none":
        return nn.Identity()
    raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")


def _activation(name: str) -> nn.Module:
    return {"relu": nn.ReLU, "lrelu": partial(nn.LeakyReLU, 0.2), "tanh": nn.Tanh, "none": nn.Identity}[name]()


AdaINParams = tuple[torch.Tensor, torch.Tensor]  # (γ, β), each (N, C)


class ConvBlock(nn.Module):
    """The official ``Conv2dBlock``: reflection padding, conv (with bias), norm, activation. With an AdaIN norm,
    ``forward(x, adain=(γ, β))``."""

    def __init__(
        self, in_ch: int, out_ch: int, kernel: int, stride: int, padding: int, norm: str = "none", act: str = "relu"
    ) -> None:
        super().__init__()
        # padding_mode="reflect" pads exactly like the official separate ReflectionPad2d.
        self.conv = nn.Conv2d(in_ch, out_ch, kernel, stride, padding, padding_mode="reflect")
        self.norm = _norm(norm, out_ch)
        self.activation = _activation(act)

    def forward(self, x: torch.Tensor, adain: AdaINParams | None = None) -> torch.Tensor:
        x = self.conv(x)
        x = self.norm(x) if adain is None else self.norm(x, *adain)
        return self.activation(x)


class ResBlock(nn.Module):
    """x + [3x3 conv, norm, ReLU, 3x3 conv, norm](x), reflection padding (norm: ``in``, or ``adain`` with
    ``forward(x, [(γ1, β1), (γ2, β2)])``)."""

    def __init__(self, dim: int, norm: str = "in") -> None:
        super().__init__()
        self.model = nn.Sequential(
            ConvBlock(dim, dim, 3, 1, 1, norm, "relu"), ConvBlock(dim, dim, 3, 1, 1, norm, "none")
        )

    def forward(self, x: torch.Tensor, adain: list[AdaINParams] | None = None) -> torch.Tensor:
        if adain is None:
            return x + self.model(x)
        return x + self.model[1](self.model[0](x, adain[0]), adain[1])


class ResBlocks(nn.Module):
    def __init__(self, n: int, dim: int, norm: str = "in") -> None:
        super().__init__()
        self.model = nn.Sequential(*(ResBlock(dim, norm) for _ in range(n)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class ContentEncoder(nn.Module):
    """7x7 conv, ``n_downsample`` 4x4 stride-2 convs (doubling the width), ``n_res`` residual blocks; IN, ReLU.
    (N, input_nc, H, W) -> (N, ngf·2^n_downsample, H/2^n_downsample, W/2^n_downsample)."""

    def __init__(self, input_nc: int, ngf: int, n_downsample: int, n_res: int) -> None:
        super().__init__()
        layers: list[nn.Module] = [ConvBlock(input_nc, ngf, 7, 1, 3, "in", "relu")]
        dim = ngf
        for _ in range(n_downsample):
            layers.append(ConvBlock(dim, 2 * dim, 4, 2, 1, "in", "relu"))
            dim *= 2
        layers.append(ResBlocks(n_res, dim))
        self.model = nn.Sequential(*layers)
        self.output_dim = dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class Decoder(nn.Module):
    """``n_res`` residual blocks (norm ``res_norm``: ``in`` for UNIT, ``adain`` for MUNIT), ``n_upsample`` x
    (nearest x2, 5x5 conv, layer norm, ReLU), 7x7 conv, tanh.

    With ``res_norm='adain'``, ``forward(x, adain_params)`` takes the (N, :attr:`num_adain_params`) vector of the
    official MLP, read in the official order: for each AdaIN layer in module order, β (the official "mean") then γ
    (the official "std"), ``num_features`` values each.
    """

    def __init__(self, dim: int, output_nc: int, n_upsample: int, n_res: int, res_norm: str = "in") -> None:
        super().__init__()
        layers: list[nn.Module] = [ResBlocks(n_res, dim, res_norm)]
        for _ in range(n_upsample):
            layers += [nn.Upsample(scale_factor=2), ConvBlock(dim, dim // 2, 5, 1, 2, "ln", "relu")]
            dim //= 2
        layers.append(ConvBlock(dim, output_nc, 7, 1, 3, "none", "tanh"))
        self.model = nn.Sequential(*layers)
        self.num_adain_params = sum(2 * m.num_features for m in self.modules() if isinstance(m, AdaptiveInstanceNorm2d))

    def forward(self, x: torch.Tensor, adain_params: torch.Tensor | None = None) -> torch.Tensor:
        if not self.num_adain_params:
            return self.model(x)
        if adain_params is None or adain_params.shape[1] != self.num_adain_params:
            got = None if adain_params is None else tuple(adain_params.shape)
            raise ValueError(f"the AdaIN decoder needs (N, {self.num_adain_params}) AdaIN parameters, got {got}")
        res_blocks, *rest = self.model
        offset = 0
        for block in res_blocks.model:
            pairs = []
            for conv in block.model:
                c = conv.norm.num_features
                beta, gamma = adain_params[:, offset : offset + c], adain_params[:, offset + c : offset + 2 * c]
                pairs.append((gamma, beta))
                offset += 2 * c
            x = block(x, pairs)
        for layer in rest:
            x = layer(x)
        return x


class MsImageDis(nn.Module):
    """The official multi-scale discriminator: ``num_scales`` identical nets on the image average-pooled by 2
    (3x3, stride 2, padding 1, padding excluded from the mean) between scales; each ``n_layers`` 4x4 stride-2 convs
    (LeakyReLU 0.2, no norm, reflection padding) and a 1x1 conv to one channel. Returns one logit map per scale."""

    def __init__(self, input_nc: int, ndf: int = 64, n_layers: int = 4, num_scales: int = 3) -> None:
        super().__init__()
        self.n_layers = n_layers
        self.cnns = nn.ModuleList(self._make_net(input_nc, ndf, n_layers) for _ in range(num_scales))

    @staticmethod
    def _make_net(input_nc: int, ndf: int, n_layers: int) -> nn.Sequential:
        layers: list[nn.Module] = [ConvBlock(input_nc, ndf, 4, 2, 1, "none", "lrelu")]
        dim = ndf
        for _ in range(n_layers - 1):
            layers.append(ConvBlock(dim, 2 * dim, 4, 2, 1, "none", "lrelu"))
            dim *= 2
        layers.append(nn.Conv2d(dim, 1, 1))
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        # The coarsest net's last 4x4 conv reflection-pads a 1-pixel border, which needs at least 2 pixels.
        smallest = min(x.shape[-2:]) // 2 ** (len(self.cnns) - 1 + self.n_layers - 1)
        if smallest < 2:
            raise ValueError(
                f"images of {tuple(x.shape[-2:])} are too small for a {self.n_layers}-layer discriminator at "
                f"{len(self.cnns)} scales: the sides must be at least {2 ** (len(self.cnns) + self.n_layers - 1)}"
            )
        outputs = []
        for i, net in enumerate(self.cnns):
            if i:
                x = F.avg_pool2d(x, 3, 2, 1, count_include_pad=False)
            outputs.append(net(x))
        return outputs


__all__ = [
    "AdaptiveInstanceNorm2d",
    "ConvBlock",
    "ContentEncoder",
    "Decoder",
    "LayerNorm",
    "MsImageDis",
    "ResBlock",
    "ResBlocks",
]


# ---------------------------------------------------------------------------------- training and checkpoints
def official_step_lr(
    optimizers: list[torch.optim.Optimizer], step_size: int, gamma: float
) -> list[torch.optim.lr_scheduler.LRScheduler]:
    """The official per-iteration step schedule of both codes: iteration k (0-based) uses lr·γ^⌊(k+1)/step_size⌋.

    The official ``train.py`` steps its StepLR before each iteration, so the first decay already applies to iteration
    ``step_size - 1``. Step the returned schedulers once per training iteration."""
    return [torch.optim.lr_scheduler.LambdaLR(o, lambda k: gamma ** ((k + 1) // step_size)) for o in optimizers]


def read_official_pair(gen: Any = None, dis: Any = None) -> dict[str, Any]:
    """The networks of the official ``gen_<iteration>.pt`` / ``dis_<iteration>.pt`` (each ``{"a": ..., "b": ...}``,
    read with ``weights_only=True``) as ``{"gen_a", "gen_b", "dis_a", "dis_b"}`` state dicts (a missing file is
    skipped).

    Raises:
        translation_zoo.hub.OfficialWeightsError: a file that is not ``{"a", "b"}`` state dicts.
    """
    from ..hub import OfficialWeightsError, read_checkpoint

    weights: dict[str, Any] = {}
    for kind, source in (("gen", gen), ("dis", dis)):
        if source is None:
            continue
        bundle = read_checkpoint(source)
        if set(bundle) != {"a", "b"}:
            raise OfficialWeightsError(
                f"the official {kind}_<iteration>.pt holds {{'a': ..., 'b': ...}}, this one {sorted(bundle)}"
            )
        weights.update({f"{kind}_a": bundle["a"], f"{kind}_b": bundle["b"]})
    return weights
