"""Evaluation metrics for image-to-image translation, built on torchmetrics.

- :class:`TranslationMetrics` -- the suite models update in validation/test: FID, KID and classifier
  accuracy in a chosen feature space (names carry it: ``fid_digits_mnist``), PSNR/SSIM/L1 for paired tasks.
- Feature extractors: :class:`DigitFeatures` (small CNNs trained on the demo digit domains, shipped as
  safetensors) and :class:`InceptionFeatures` (the standard FID InceptionV3; needs ``torch-fidelity`` and
  user-supplied weights, never downloaded).
- :func:`lpips_diversity` -- mean pairwise LPIPS between samples of a multimodal model.
- :func:`segmentation_scores` / :class:`LabelMapFeatures` -- label-to-photo fidelity on the ``digit_scenes`` demo: a
  small U-Net trained on the real demo photos segments synthesised photos (pixel accuracy, mean class accuracy,
  mIoU: the pix2pixHD/SPADE protocol); its pooled features give FID in a demo feature space.

Images are float tensors in [-1, 1], shape (N, 1 or 3, H, W).
"""

from translation_zoo.metrics.digits import DigitClassifier, digit_split
from translation_zoo.metrics.distribution import FrechetDistance, KernelDistance
from translation_zoo.metrics.diversity import LPIPS, lpips_diversity
from translation_zoo.metrics.features import (
    BUILTIN_EXTRACTORS,
    INCEPTION_WEIGHTS_ENV,
    DigitFeatures,
    FeatureExtractor,
    InceptionFeatures,
    build_feature_extractor,
)
from translation_zoo.metrics.label_maps import LabelMapFeatures, label_map_fid, segmentation_scores
from translation_zoo.metrics.paired import PAIRED_METRICS, to_unit_range
from translation_zoo.metrics.suite import ALL_METRICS, TranslationMetrics, score_translations

__all__ = [
    "ALL_METRICS",
    "BUILTIN_EXTRACTORS",
    "INCEPTION_WEIGHTS_ENV",
    "LPIPS",
    "PAIRED_METRICS",
    "DigitClassifier",
    "DigitFeatures",
    "LabelMapFeatures",
    "FeatureExtractor",
    "FrechetDistance",
    "InceptionFeatures",
    "KernelDistance",
    "TranslationMetrics",
    "build_feature_extractor",
    "score_translations",
    "digit_split",
    "lpips_diversity",
    "to_unit_range",
    "label_map_fid",
    "segmentation_scores",
]
