"""Distribution distances (FID, KID) on features that were already extracted.

torchmetrics' ``FrechetInceptionDistance`` and ``KernelInceptionDistance`` accept any ``nn.Module`` as
``feature``. We give them an identity module and extract features once in
:class:`~translation_zoo.metrics.suite.TranslationMetrics`: the extractor then runs once per batch instead
of once per metric, and it is held (and kept out of checkpoints) in one place. The statistics themselves --
float64 mean/covariance sums with ``sum`` reduction across DDP ranks for FID, all features gathered for KID
-- are torchmetrics'.
"""

from __future__ import annotations

import warnings
from typing import Any

import torch
from torch import Tensor, nn
from torchmetrics.image.fid import FrechetInceptionDistance
from torchmetrics.image.kid import KernelInceptionDistance
from torchmetrics.utilities import dim_zero_cat


class PrecomputedFeatures(nn.Module):
    """Identity "feature extractor": ``update`` receives features (N, D), not images.

    Has ``num_features`` so torchmetrics does not probe it with a dummy image.
    """

    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.num_features = int(num_features)

    def forward(self, features: Tensor) -> Tensor:
        if features.ndim != 2 or features.shape[1] != self.num_features:
            raise ValueError(f"Expected features of shape (N, {self.num_features}), got {tuple(features.shape)}.")
        return features


class FrechetDistance(FrechetInceptionDistance):
    """Fréchet distance between Gaussians fitted to real and fake features (FID in any feature space).

    ``update(features, real)`` takes features (N, D) from a feature extractor. Mean and covariance sums are
    accumulated in float64, and torchmetrics takes the trace of the matrix square root from the eigenvalues
    of ``Sigma_r @ Sigma_f`` in float64.

    Args:
        num_features: feature width D.
        **kwargs: passed to ``FrechetInceptionDistance`` (e.g. ``reset_real_features``).
    """

    def __init__(self, num_features: int, **kwargs: Any) -> None:
        super().__init__(feature=PrecomputedFeatures(num_features), **kwargs)


class KernelDistance(KernelInceptionDistance):
    """Kernel (MMD, cubic polynomial kernel) distance between real and fake features (KID in any space).

    Three changes to torchmetrics' ``KernelInceptionDistance``, which it wraps:

    - the subset size adapts to small sets: ``min(subset_size, n_real, n_fake)``, so a validation set of a
      few dozen images still gets a score. When both sets have exactly that many samples, every "subset" is
      the whole set: ``kid`` is then the unbiased MMD^2 estimate on all samples, computed once, and
      ``kid_std`` is 0 -- it measures the spread over random subsets, not the estimator's uncertainty;
    - features are stored in float64: the cubic kernel of float32 features loses most of its precision to
      cancellation in the MMD estimate;
    - subsets are drawn with the RNG seeded to ``seed`` inside ``torch.random.fork_rng``, so the score is
      reproducible and computing it leaves the global RNG state that training uses untouched.

    ``update(features, real)`` takes features (N, D) from a feature extractor.

    Args:
        num_features: feature width D.
        subsets: number of random subsets averaged.
        subset_size: the largest subset size (1000, as in torch-fidelity and torchmetrics).
        seed: seed of the subset sampling.
        **kwargs: passed to ``KernelInceptionDistance`` (``degree``, ``gamma``, ``coef``, ...).
    """

    def __init__(
        self, num_features: int, subsets: int = 100, subset_size: int = 1000, seed: int = 0, **kwargs: Any
    ) -> None:
        with warnings.catch_warnings():
            # "will save all extracted features in buffer": expected, and small for our feature sizes.
            warnings.filterwarnings("ignore", message=".*will save all extracted features.*")
            super().__init__(
                feature=PrecomputedFeatures(num_features), subsets=subsets, subset_size=subset_size, **kwargs
            )
        self.max_subset_size = subset_size
        self.seed = seed

    def update(self, features: Tensor, real: bool) -> None:
        """Store features (N, D) of real or fake images (in float64)."""
        super().update(features.double(), real)

    def compute(self) -> tuple[Tensor, Tensor]:
        """KID mean and standard deviation over the subsets.

        Raises:
            ValueError: fewer than 2 real or fake samples.
        """
        n_real = dim_zero_cat(self.real_features).shape[0]
        n_fake = dim_zero_cat(self.fake_features).shape[0]
        n = min(n_real, n_fake)
        if n < 2:
            raise ValueError(f"KID needs at least 2 real and 2 fake samples, got {n}.")
        subsets = self.subsets
        self.subset_size = min(self.max_subset_size, n)
        if n_real == n_fake == self.subset_size:
            self.subsets = 1  # every subset would be the full set: one evaluation gives the same mean
        try:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(self.seed)
                mean, std = super().compute()
            return mean.float(), std.float()  # float32 like FID (the float64 states are an internal detail)
        finally:
            self.subset_size, self.subsets = self.max_subset_size, subsets
