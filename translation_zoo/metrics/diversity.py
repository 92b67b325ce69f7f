"""Diversity of multimodal translations: mean pairwise LPIPS between samples for the same input.

Used by BicycleGAN, MUNIT, DRIT and StarGAN v2 to show that a model does not collapse to one output per
input: higher is more diverse. LPIPS itself is torchmetrics' ``LearnedPerceptualImagePatchSimilarity``; its
linear calibration layers ship inside torchmetrics, but its ImageNet backbone comes from torchvision's
download cache, which this library never fills -- :class:`LPIPS` checks for the file first and says how to
supply it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlparse

import torch
from torch import Tensor, nn

LPIPS_NETS: tuple[str, ...] = ("alex", "vgg", "squeeze")


def lpips_backbone_weights(net_type: str = "alex") -> tuple[Path, str]:
    """Where torchvision looks for the LPIPS backbone weights, and where they come from.

    Returns:
        (path in ``<torch hub dir>/checkpoints/``, download URL). The hub dir follows ``TORCH_HOME``.
    """
    import torchvision.models as tvm

    enums = {"alex": tvm.AlexNet_Weights, "vgg": tvm.VGG16_Weights, "squeeze": tvm.SqueezeNet1_1_Weights}
    if net_type not in enums:
        raise ValueError(f"Unknown LPIPS net_type {net_type!r}; expected one of {LPIPS_NETS}.")
    # torchmetrics builds the backbone with the enum's DEFAULT weights, so the file name must match it.
    url = enums[net_type].DEFAULT.url
    return Path(torch.hub.get_dir()) / "checkpoints" / Path(urlparse(url).path).name, url


class LPIPS(nn.Module):
    """Per-pair LPIPS distance (torchmetrics) for images in [-1, 1]; grey images are repeated to RGB.

    Args:
        net_type: backbone, ``"alex"`` (the usual choice for diversity), ``"vgg"`` or ``"squeeze"``.

    Raises:
        FileNotFoundError: the backbone weights are not in the torch hub cache (nothing is downloaded).
    """

    def __init__(self, net_type: str = "alex") -> None:
        super().__init__()
        path, url = lpips_backbone_weights(net_type)
        if not path.is_file():
            raise FileNotFoundError(
                f"LPIPS ({net_type}) needs torchvision's ImageNet backbone weights '{path.name}', which are "
                f"not downloaded here. Get them from {url} on a machine with internet access and copy the "
                f"file to {path} (the torch hub cache; set TORCH_HOME to use <TORCH_HOME>/hub/checkpoints/). "
                "Or pass your own per-pair distance as `net=`."
            )
        from torchmetrics.image.lpip import LearnedPerceptualImagePatchSimilarity

        self.net_type = net_type
        self.lpips = LearnedPerceptualImagePatchSimilarity(net_type=net_type, reduction="none")

    @torch.no_grad()
    def forward(self, a: Tensor, b: Tensor) -> Tensor:
        """Images (M, 1 or 3, H, W) in [-1, 1] -> LPIPS distance per pair (M,)."""
        if a.shape[1] == 1:
            a, b = a.expand(-1, 3, -1, -1), b.expand(-1, 3, -1, -1)
        # clamp: torchmetrics rejects values outside [-1, 1], which an unbounded generator can produce.
        d = self.lpips(a.float().clamp(-1, 1), b.float().clamp(-1, 1)).reshape(-1)
        self.lpips.reset()  # used as a function: do not let per-call scores pile up in the metric state
        return d


@torch.no_grad()
def lpips_diversity(
    samples: Tensor,
    net: Callable[[Tensor, Tensor], Tensor] | None = None,
    net_type: str = "alex",
    batch_size: int = 64,
) -> Tensor:
    """Mean pairwise LPIPS between the samples generated for each input, averaged over inputs.

    Every unordered pair (i < j) of the K samples of an input counts once.

    Args:
        samples: (N, K, C, H, W) -- K samples for each of N inputs -- or (K, C, H, W) for one input;
            values in [-1, 1].
        net: per-pair distance ``(a, b) -> (M,)``; defaults to :class:`LPIPS` with ``net_type``. Passing your
            own (a built ``LPIPS``, or a stand-in in tests) avoids rebuilding the backbone on every call.
        net_type: LPIPS backbone used when ``net`` is None.
        batch_size: pairs evaluated per forward pass.

    Returns:
        0-d float tensor.

    Raises:
        ValueError: fewer than two samples per input.
        FileNotFoundError: ``net`` is None and the LPIPS backbone weights are missing.
    """
    if samples.ndim == 4:
        samples = samples.unsqueeze(0)
    if samples.ndim != 5 or samples.shape[1] < 2:
        raise ValueError(
            f"Expected samples of shape (N, K>=2, C, H, W) or (K>=2, C, H, W), got {tuple(samples.shape)}."
        )
    if net is None:
        net = LPIPS(net_type).to(samples.device)
    k = samples.shape[1]
    i, j = torch.triu_indices(k, k, offset=1, device=samples.device)  # the K(K-1)/2 unordered pairs
    a = samples[:, i].flatten(0, 1)  # (N * P, C, H, W)
    b = samples[:, j].flatten(0, 1)
    d = torch.cat([net(a[s : s + batch_size], b[s : s + batch_size]).reshape(-1) for s in range(0, len(a), batch_size)])
    # Every input has the same number of pairs, so the plain mean is the mean over inputs of per-input means.
    return d.double().mean().float()
