"""Paired (full-reference) metrics: PSNR, SSIM and L1 between a translation and its ground-truth target.

Convention: images in [-1, 1] are mapped to [0, 1] (and clipped there, as saving them as 8-bit images
would) before any paired metric, and ``data_range = 1``. For PSNR and L1 this is only a rescaling
(PSNR is the same as with ``data_range = 2`` on [-1, 1]; L1 is half the [-1, 1] value), but SSIM is *not*
shift invariant -- its luminance term depends on the mean intensity -- so computing it on [-1, 1] would give
numbers incomparable with published ones, which use [0, 1] or [0, 255].
"""

from __future__ import annotations

from torch import Tensor
from torchmetrics import MeanAbsoluteError, Metric
from torchmetrics.image import PeakSignalNoiseRatio, StructuralSimilarityIndexMeasure

PAIRED_METRICS: tuple[str, ...] = ("psnr", "ssim", "l1")


def to_unit_range(x: Tensor) -> Tensor:
    """Images in [-1, 1] -> float [0, 1], clipped (a generator without a final tanh may overshoot)."""
    return ((x.float() + 1) / 2).clamp(0, 1)


def build_paired_metric(name: str) -> Metric:
    """A torchmetrics metric for images already in [0, 1] (see :func:`to_unit_range`).

    - ``psnr``: per-image PSNR in dB (``data_range = 1``), averaged over images -- the usual convention in
      translation papers, rather than the PSNR of the pooled MSE. Identical images give ``inf``.
    - ``ssim``: per-image SSIM (Gaussian window 11, sigma 1.5), averaged.
    - ``l1``: mean absolute error per pixel, in [0, 1] units.
    """
    if name == "psnr":
        return PeakSignalNoiseRatio(data_range=1.0, dim=(1, 2, 3))
    if name == "ssim":
        return StructuralSimilarityIndexMeasure(data_range=1.0)
    if name == "l1":
        return MeanAbsoluteError()
    raise ValueError(f"Unknown paired metric {name!r}; expected one of {PAIRED_METRICS}.")
