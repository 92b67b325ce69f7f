"""VGG19 perceptual loss of pix2pixHD (Wang et al. CVPR 2018, Eq. (5) footnote: "perceptual loss ... with λ = 10")
and SPADE.

L_VGG(x, y) = Σ_i w_i ||F_i(x) - F_i(y)||_1 (means), with F_i the VGG19 activations relu1_1, relu2_1, relu3_1,
relu4_1, relu5_1 (torchvision ``vgg19().features[0:2], [2:7], [7:12], [12:21], [21:30]``) and w = 1/32, 1/16, 1/8,
1/4, 1, as in the official ``networks.VGGLoss``. Like the official code, images go in as they are ([-1, 1], no
ImageNet normalisation) and the target's features are not differentiated.

Weights: torchvision's ``VGG19_Weights.IMAGENET1K_V1`` (what the official ``vgg19(pretrained=True)`` loads), read
from the torch hub cache (``<torch hub dir>/checkpoints/vgg19-dcbb9e9d.pth``) and downloaded there on first use
like any torchvision user gets them. Where they cannot be had (offline, ``$TRANSLATION_ZOO_OFFLINE=1``), the error
names the URL and the path to put the file at. Never a random-weights fallback: tests inject a backbone.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

#: The official slices of ``vgg19().features`` (ends exclusive): relu1_1, relu2_1, relu3_1, relu4_1, relu5_1.
VGG19_SLICES = ((0, 2), (2, 7), (7, 12), (12, 21), (21, 30))
#: The official per-layer weights.
VGG_LAYER_WEIGHTS = (1.0 / 32, 1.0 / 16, 1.0 / 8, 1.0 / 4, 1.0)
VGG19_URL = "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth"  # torchvision VGG19_Weights.IMAGENET1K_V1


class VGGWeightsError(FileNotFoundError):
    """The VGG19 ImageNet weights are neither in the torch hub cache nor downloadable; says where to put them."""


def vgg19_weights_path() -> Path:
    """Where torchvision keeps the VGG19 weights: ``<torch hub dir>/checkpoints/vgg19-dcbb9e9d.pth``."""
    return Path(torch.hub.get_dir()) / "checkpoints" / VGG19_URL.rsplit("/", 1)[-1]


def vgg19_features(weights: str | os.PathLike | None = None) -> nn.Sequential:
    """torchvision's ``vgg19().features`` with the ImageNet weights, frozen and in eval mode.

    Args:
        weights: a state-dict file of torchvision's ``vgg19`` (the whole model's keys, ``features.<i>.*``).
            ``None``: the torch hub cache, downloading ``VGG19_URL`` there if missing (unless
            ``$TRANSLATION_ZOO_OFFLINE`` is set).

    Raises:
        VGGWeightsError: no weights file and no download; the message names the URL and the path to fill.
    """
    from torchvision.models import vgg19

    path = Path(weights).expanduser() if weights is not None else vgg19_weights_path()
    how = (
        f"download {VGG19_URL} and put it at {path}"
        + (" (the torch hub cache: set TORCH_HOME to move it)" if weights is None else "")
        + ", or pass the file as the VGG weights"
    )
    if path.is_file():
        state = torch.load(path, map_location="cpu", weights_only=True)
    elif weights is not None:
        raise VGGWeightsError(f"VGG19 weights file {path} does not exist: {how}")
    elif os.environ.get("TRANSLATION_ZOO_OFFLINE", "").lower() in ("1", "true", "yes"):
        raise VGGWeightsError(f"the perceptual loss needs the VGG19 ImageNet weights (offline mode): {how}")
    else:
        try:
            state = torch.hub.load_state_dict_from_url(VGG19_URL, map_location="cpu", check_hash=True)
        except Exception as e:  # no network, proxy refusals, a truncated file: all end in the same advice
            raise VGGWeightsError(
                f"the perceptual loss needs the VGG19 ImageNet weights and they could not be downloaded ({e}): {how}"
            ) from e
    model = vgg19(weights=None)
    model.load_state_dict(state)
    return model.features.eval().requires_grad_(False)


class VGGLoss(nn.Module):
    """Σ_i w_i L1(F_i(x), F_i(y)) on the five VGG19 slices (the official ``VGGLoss``).

    Args:
        backbone: ``vgg19().features`` (or a torchvision ``VGG`` with ``.features``) to use; ``None`` loads the
            ImageNet weights with :func:`vgg19_features` (``weights``). Tests pass random weights here.
        weights: a VGG19 state-dict file, when ``backbone`` is ``None``.
        layer_weights: w_i (official: 1/32, 1/16, 1/8, 1/4, 1).
    """

    def __init__(
        self,
        backbone: nn.Module | None = None,
        weights: str | os.PathLike | None = None,
        layer_weights: Sequence[float] = VGG_LAYER_WEIGHTS,
    ) -> None:
        super().__init__()
        features = vgg19_features(weights) if backbone is None else getattr(backbone, "features", backbone)
        if len(features) < VGG19_SLICES[-1][1]:
            raise ValueError(f"the backbone must be vgg19().features ({VGG19_SLICES[-1][1]}+ layers)")
        self.slices = nn.ModuleList(nn.Sequential(*features[a:b]) for a, b in VGG19_SLICES)
        self.layer_weights = tuple(float(w) for w in layer_weights)
        self.requires_grad_(False).eval()

    def train(self, mode: bool = True) -> VGGLoss:
        return super().train(False)  # a fixed feature extractor: always eval mode

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The five activations of ``x`` (N, 3, H, W)."""
        out = []
        for s in self.slices:
            x = s(x)
            out.append(x)
        return out

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The loss of ``x`` (differentiated) against the target ``y`` (not differentiated)."""
        with torch.no_grad():
            fy = self.features(y)
        fx = self.features(x)
        total = x.new_zeros((), dtype=torch.float32)
        for w, a, b in zip(self.layer_weights, fx, fy, strict=True):
            total = total + w * F.l1_loss(a.float(), b.float())
        return total


__all__ = ["VGG19_SLICES", "VGG19_URL", "VGG_LAYER_WEIGHTS", "VGGLoss", "VGGWeightsError", "vgg19_features"]
