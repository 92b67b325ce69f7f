"""Feature extractors for distribution metrics (FID, KID) and classifier scores.

Every extractor is an ``nn.Module`` with

- ``name: str`` -- part of every metric name (``fid_<name>``, ``kid_<name>``, ``acc_<name>``), so numbers
  computed in different feature spaces are never confused;
- ``num_features: int`` -- the width D of the features;
- ``forward(x) -> (N, D)`` float features for images ``x`` in [-1, 1] of shape (N, 1 or 3, H, W); channel
  conversion and resizing happen inside;
- optionally ``features_and_logits(x) -> ((N, D), (N, K))`` and ``num_classes: int`` when the extractor is a
  classifier, which enables the classifier score ``acc_<name>``.

Extractors are frozen: parameters never require grad and ``train()`` keeps them in eval mode, so putting a
LightningModule in training mode does not change its evaluation metrics.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from translation_zoo.metrics.digits import DIGIT_DOMAINS, DIGIT_SIZE, DigitClassifier, digit_weights_path

INCEPTION_WEIGHTS_ENV = "TRANSLATION_ZOO_INCEPTION_WEIGHTS"
# The FID InceptionV3 (TF 2015-12-05 graph converted to PyTorch) that torch-fidelity and torchmetrics use.
INCEPTION_WEIGHTS_FILE = "weights-inception-2015-12-05-6726825d.pth"
INCEPTION_WEIGHTS_URL = "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/" + INCEPTION_WEIGHTS_FILE


def _rgb_to_gray(x: Tensor) -> Tensor:
    """(N, 3, H, W) -> (N, 1, H, W) with ITU-R BT.601 luma weights (what PIL's ``convert("L")`` uses)."""
    w = x.new_tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
    return (x * w).sum(1, keepdim=True)


def _check_images(x: Tensor) -> None:
    if x.ndim != 4 or x.shape[1] not in (1, 3):
        raise ValueError(f"Expected images of shape (N, 1 or 3, H, W), got {tuple(x.shape)}.")


class FeatureExtractor(nn.Module):
    """Base class of the built-in extractors: frozen, always in eval mode.

    Subclasses set ``name`` and ``num_features`` (and ``num_classes`` > 0 if they implement
    :meth:`features_and_logits`) and implement :meth:`forward`.
    """

    name: str
    num_features: int
    num_classes: int = 0

    def train(self, mode: bool = True) -> FeatureExtractor:
        """Ignore ``mode``: a metric's feature space must not change when the host model trains."""
        return super().train(False)

    def freeze(self) -> FeatureExtractor:
        """Put in eval mode and stop gradients to the parameters; returns ``self``."""
        self.requires_grad_(False)
        return self.eval()

    def features_and_logits(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Features (N, D) and class logits (N, K) in one pass; only classifier extractors implement it."""
        raise NotImplementedError(f"Feature extractor {self.name!r} is not a classifier.")

    def extra_repr(self) -> str:
        return f"name={self.name!r}, num_features={self.num_features}"


class DigitFeatures(FeatureExtractor):
    """Penultimate-layer features (64-d) and logits of a small CNN trained on one demo digit domain.

    Features are standardised with their per-dimension mean/std on the domain's training digits (stored in
    the weights file), so each has unit variance on real data and FID/KID values are on a fixed scale.

    The network was trained by ``scripts/train_digit_classifier.py`` on 80 % of the domain's real 32x32
    digits (held-out accuracy is in the file's metadata and the README). Inputs are converted to one
    channel (BT.601 luma) and resized to 32x32 (bilinear, antialiased) if needed.

    Args:
        domain: ``"mnist"`` or ``"uci"``; the metric name is ``digits_<domain>``.
        weights_path: a ``.safetensors`` file to load instead of the shipped one.
    """

    def __init__(self, domain: str = "mnist", weights_path: str | os.PathLike | None = None) -> None:
        super().__init__()
        if domain not in DIGIT_DOMAINS:
            raise ValueError(f"Unknown digit domain {domain!r}; expected one of {DIGIT_DOMAINS}.")
        from safetensors.torch import load_file

        path = Path(weights_path) if weights_path is not None else digit_weights_path(domain)
        if not path.is_file():
            raise FileNotFoundError(
                f"Digit classifier weights not found at {path}. They ship with the package; regenerate them "
                "with: python scripts/train_digit_classifier.py"
            )
        self.domain = domain
        self.name = f"digits_{domain}"
        self.net = DigitClassifier()
        # safetensors: plain tensors, no pickle. strict=True so an architecture change cannot load silently.
        self.net.load_state_dict(load_file(str(path)), strict=True)
        self.num_features = self.net.num_features
        self.num_classes = self.net.num_classes
        self.freeze()

    def _prepare(self, x: Tensor) -> Tensor:
        _check_images(x)
        x = x.to(self.net.embed.weight.dtype)
        if x.shape[1] == 3:
            x = _rgb_to_gray(x)
        if x.shape[-2:] != (DIGIT_SIZE, DIGIT_SIZE):
            x = F.interpolate(x, size=(DIGIT_SIZE, DIGIT_SIZE), mode="bilinear", antialias=True)
        return x

    def features_and_logits(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Images (N, C, H, W) in [-1, 1] -> features (N, 64), logits (N, 10)."""
        return self.net.features_and_logits(self._prepare(x))

    def forward(self, x: Tensor) -> Tensor:
        """Images (N, C, H, W) in [-1, 1] -> features (N, 64)."""
        return self.features_and_logits(x)[0]


def resolve_inception_weights(weights_path: str | os.PathLike | None = None) -> Path:
    """Find the FID Inception weights without downloading anything.

    Looked up in order: ``weights_path``, the environment variable ``TRANSLATION_ZOO_INCEPTION_WEIGHTS``,
    then ``<torch hub dir>/checkpoints/weights-inception-2015-12-05-6726825d.pth`` (where torch-fidelity
    would have cached its own download; the hub dir follows ``TORCH_HOME``).

    Raises:
        FileNotFoundError: naming the file, where to get it and where to put it.
    """
    hub_file = Path(torch.hub.get_dir()) / "checkpoints" / INCEPTION_WEIGHTS_FILE
    candidates: list[tuple[str, Path]] = []
    if weights_path is not None:
        candidates.append(("weights_path argument", Path(weights_path)))
    if os.environ.get(INCEPTION_WEIGHTS_ENV):
        candidates.append((f"${INCEPTION_WEIGHTS_ENV}", Path(os.environ[INCEPTION_WEIGHTS_ENV])))
    candidates.append(("torch hub cache", hub_file))
    for _, path in candidates:
        if path.is_file():
            return path
    tried = "; ".join(f"{src}: {path}" for src, path in candidates)
    raise FileNotFoundError(
        "FID InceptionV3 weights not found, and translation_zoo never downloads them (no silent fallback "
        f"to another feature extractor either). Tried {tried}. Get '{INCEPTION_WEIGHTS_FILE}' from "
        f"{INCEPTION_WEIGHTS_URL} on a machine with internet access, then either set "
        f"{INCEPTION_WEIGHTS_ENV}=/path/to/{INCEPTION_WEIGHTS_FILE}, pass "
        f"InceptionFeatures(weights_path=...), or copy it to {hub_file}."
    )


class InceptionFeatures(FeatureExtractor):
    """The standard FID InceptionV3 (pool3, 2048-d), as implemented by torch-fidelity.

    Images in [-1, 1] are quantised to uint8 (what a saved image would hold), grey images are repeated to
    RGB, and torch-fidelity resizes to 299x299 with its TensorFlow-1-compatible bilinear interpolation, so
    scores are comparable with the published FID protocol.

    Needs the optional dependency ``torch-fidelity`` (``pip install torch-fidelity``) for the architecture
    and a local copy of the weights (see :func:`resolve_inception_weights`); nothing is downloaded.

    Args:
        weights_path: path of ``weights-inception-2015-12-05-6726825d.pth``; when ``None`` it is looked up in
            ``$TRANSLATION_ZOO_INCEPTION_WEIGHTS`` and then in the torch hub cache.

    Raises:
        FileNotFoundError: the weights are not found (checked before anything else is imported).
        ImportError: ``torch-fidelity`` is not installed.
    """

    name = "inception"
    num_features = 2048

    def __init__(self, weights_path: str | os.PathLike | None = None) -> None:
        super().__init__()
        path = resolve_inception_weights(weights_path)
        try:
            from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3
        except ImportError as e:
            raise ImportError(
                "InceptionFeatures needs the optional dependency torch-fidelity for the FID InceptionV3 "
                "architecture: pip install torch-fidelity"
            ) from e
        # An explicit path makes torch-fidelity load the file instead of downloading. Note that it
        # unpickles the .pth (torch.load(weights_only=False)): only use a file from a source you trust.
        self.net = FeatureExtractorInceptionV3("inception-v3-compat", ["2048"], str(path))
        self.freeze()

    def forward(self, x: Tensor) -> Tensor:
        """Images (N, 1 or 3, H, W) in [-1, 1] -> pool3 features (N, 2048)."""
        _check_images(x)
        x = ((x.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        return self.net(x)[0].reshape(x.shape[0], -1)


BUILTIN_EXTRACTORS: tuple[str, ...] = ("inception", "digits_mnist", "digits_uci")


def build_feature_extractor(name: str) -> FeatureExtractor:
    """A built-in extractor by its metric name: ``"inception"``, ``"digits_mnist"`` or ``"digits_uci"``."""
    if name == "inception":
        return InceptionFeatures()
    if name.startswith("digits_") and name[len("digits_") :] in DIGIT_DOMAINS:
        return DigitFeatures(name[len("digits_") :])
    raise ValueError(f"Unknown feature extractor {name!r}; built-ins are {BUILTIN_EXTRACTORS}.")
