"""``TranslationMetrics``: the evaluation suite a translation model updates in validation and test.

Typical use inside a LightningModule::

    self.val_metrics = TranslationMetrics(("fid", "kid", "acc", "psnr", "ssim", "l1"), "digits_mnist")

    def validation_step(self, batch, batch_idx):
        self.val_metrics.update(self(batch["A"]), batch["B"], labels=batch.get("label"))

    def on_validation_epoch_end(self):
        self.log_dict({f"val/{k}": v for k, v in self.val_metrics.compute().items()})
        self.val_metrics.reset()

Metric names carry the feature extractor's name whenever the value depends on it (``fid_digits_mnist``,
``kid_inception``, ``acc_digits_uci``), so numbers from different feature spaces are never mixed up.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn
from torchmetrics.classification import MulticlassAccuracy

from translation_zoo.metrics.distribution import FrechetDistance, KernelDistance
from translation_zoo.metrics.features import BUILTIN_EXTRACTORS, build_feature_extractor
from translation_zoo.metrics.paired import PAIRED_METRICS, build_paired_metric, to_unit_range

DISTRIBUTION_METRICS: tuple[str, ...] = ("fid", "kid")
CLASSIFIER_METRICS: tuple[str, ...] = ("acc",)
ALL_METRICS: tuple[str, ...] = DISTRIBUTION_METRICS + CLASSIFIER_METRICS + PAIRED_METRICS
# Built-ins that are only constructed at the first update(): the FID Inception is ~100 MB and needs
# weights supplied by the user, and building a model (e.g. a recipe parse test) must not require them.
_LAZY_EXTRACTORS = {"inception": 2048}


class TranslationMetrics(nn.Module):
    """FID / KID / classifier accuracy in a chosen feature space, plus PSNR / SSIM / L1 for paired tasks.

    Each image is passed through the feature extractor once per ``update``, however many feature-based
    metrics are requested. All states are torchmetrics states: they follow the module's device and are
    synchronised across DDP ranks in :meth:`compute`.

    The extractor is frozen and excluded from ``state_dict`` (and tolerated when absent on load): it is
    rebuilt from its own weight files, so checkpoints do not carry it and can be loaded whichever extractor
    the metrics were built with.

    Args:
        metrics: any of ``"fid"``, ``"kid"``, ``"acc"`` (classifier score: accuracy of the extractor's
            classifier on the fakes w.r.t. the sources' labels, the pix2pix "FCN-score" idea),
            ``"psnr"``, ``"ssim"``, ``"l1"`` (paired only; computed on images mapped to [0, 1], see
            :mod:`translation_zoo.metrics.paired`).
        feature_extractor: a built-in name (``"inception"``, ``"digits_mnist"``, ``"digits_uci"``) or an
            ``nn.Module`` with ``name: str``, ``num_features: int`` and ``forward(x in [-1, 1]) -> (N, D)``;
            ``"acc"`` also needs ``num_classes: int`` and ``features_and_logits(x)``. A module passed in is
            frozen (``requires_grad_(False)``) and put in eval mode at every update. Digit extractors load
            at construction (small); ``"inception"`` at the first update.
        paired: whether ``real`` in :meth:`update` is the aligned ground truth of ``fake``. Unpaired setups
            (CycleGAN-style) must pass ``paired=False``, and then requesting psnr/ssim/l1 is an error at
            construction -- they would silently compare unrelated images.
        kid_subsets: number of KID subsets.
        kid_subset_size: largest KID subset size; smaller sets use all their samples.

    Raises:
        ValueError: unknown metric or extractor name, paired metrics with ``paired=False``, or ``"acc"`` with
            an extractor that is not a classifier.
    """

    def __init__(
        self,
        metrics: Sequence[str] = ("fid", "kid", "psnr", "ssim", "l1"),
        feature_extractor: str | nn.Module = "digits_mnist",
        *,
        paired: bool = True,
        kid_subsets: int = 100,
        kid_subset_size: int = 1000,
    ) -> None:
        super().__init__()
        metrics = tuple(dict.fromkeys(metrics))  # de-duplicate, keep order
        unknown = [m for m in metrics if m not in ALL_METRICS]
        if unknown:
            raise ValueError(f"Unknown metric(s) {unknown}; available: {ALL_METRICS}.")
        if not paired and any(m in PAIRED_METRICS for m in metrics):
            raise ValueError(
                f"{[m for m in metrics if m in PAIRED_METRICS]} need the aligned ground truth of each "
                "translation; with paired=False use only " + str(DISTRIBUTION_METRICS + CLASSIFIER_METRICS)
            )
        self.metric_keys = metrics
        self.paired = paired
        self.needs_features = any(m in DISTRIBUTION_METRICS + CLASSIFIER_METRICS for m in metrics)

        self.extractor: nn.Module | None = None
        self._lazy_extractor: str | None = None
        num_features, num_classes = 0, 0
        if self.needs_features:
            if isinstance(feature_extractor, str):
                if feature_extractor in _LAZY_EXTRACTORS:
                    self._lazy_extractor = feature_extractor
                    self.extractor_name = feature_extractor
                    num_features = _LAZY_EXTRACTORS[feature_extractor]
                else:
                    if feature_extractor not in BUILTIN_EXTRACTORS:
                        raise ValueError(
                            f"Unknown feature extractor {feature_extractor!r}; built-ins are {BUILTIN_EXTRACTORS}."
                        )
                    self.extractor = build_feature_extractor(feature_extractor)
            elif isinstance(feature_extractor, nn.Module):
                for attr, typ in (("name", str), ("num_features", int)):
                    if not isinstance(getattr(feature_extractor, attr, None), typ):
                        raise ValueError(f"A custom feature extractor needs a `{attr}: {typ.__name__}` attribute.")
                self.extractor = feature_extractor.requires_grad_(False).eval()
            else:
                raise TypeError(f"feature_extractor must be a str or nn.Module, got {type(feature_extractor)}.")
            if self.extractor is not None:
                self.extractor_name = self.extractor.name
                num_features = self.extractor.num_features
                num_classes = int(getattr(self.extractor, "num_classes", 0) or 0)
            if "acc" in metrics and (num_classes < 2 or not hasattr(self.extractor, "features_and_logits")):
                raise ValueError(
                    f"'acc' needs a classifier extractor (with num_classes and features_and_logits); "
                    f"{self.extractor_name!r} is not one. Use 'digits_mnist' or 'digits_uci'."
                )
        else:
            self.extractor_name = feature_extractor if isinstance(feature_extractor, str) else "none"

        self.metrics = nn.ModuleDict()
        for m in metrics:
            if m == "fid":
                self.metrics[m] = FrechetDistance(num_features)
            elif m == "kid":
                self.metrics[m] = KernelDistance(num_features, subsets=kid_subsets, subset_size=kid_subset_size)
            elif m == "acc":
                self.metrics[m] = MulticlassAccuracy(num_classes=num_classes, average="micro")
            else:
                self.metrics[m] = build_paired_metric(m)

        self.register_state_dict_post_hook(_drop_extractor_from_state_dict)
        self.register_load_state_dict_pre_hook(_keep_own_extractor_on_load)

    @property
    def metric_names(self) -> list[str]:
        """The keys :meth:`compute` returns, in order."""
        names = []
        for m in self.metric_keys:
            if m in DISTRIBUTION_METRICS + CLASSIFIER_METRICS:
                names.append(f"{m}_{self.extractor_name}")
                if m == "kid":
                    names.append(f"kid_std_{self.extractor_name}")
            else:
                names.append(m)
        return names

    def _get_extractor(self, device: torch.device) -> nn.Module:
        if self.extractor is None:
            assert self._lazy_extractor is not None
            self.extractor = build_feature_extractor(self._lazy_extractor).to(device)
        elif self.extractor.training:  # a custom module that the host model's .train() switched back
            self.extractor.eval()
        return self.extractor

    @torch.no_grad()
    def update(self, fake: Tensor, real: Tensor, labels: Tensor | None = None) -> None:
        """Accumulate one batch.

        Args:
            fake: translations (N, C, H, W) in [-1, 1].
            real: real target-domain images in [-1, 1]: the aligned ground truth of ``fake`` (same shape)
                when ``paired``, otherwise any real batch of the target domain (any size; only used by
                fid/kid).
            labels: class labels (N,) of the *sources* of ``fake``; required when ``"acc"`` is requested.

        Raises:
            ValueError: missing labels for ``acc``, or shapes that do not match for paired metrics.
        """
        if "acc" in self.metric_keys and labels is None:
            raise ValueError("'acc' is requested, so update() needs the source labels: update(fake, real, labels).")
        paired_keys = [m for m in self.metric_keys if m in PAIRED_METRICS]
        if paired_keys and fake.shape != real.shape:
            raise ValueError(
                f"{paired_keys} compare each translation with its target, but fake {tuple(fake.shape)} and "
                f"real {tuple(real.shape)} differ in shape."
            )
        # Metrics are computed in fp32 even inside a bf16/fp16 autocast region: low-precision features
        # would bias the covariance estimates FID depends on.
        with torch.autocast(device_type=fake.device.type, enabled=False):
            if self.needs_features:
                extractor = self._get_extractor(fake.device)
                if "acc" in self.metric_keys:
                    feats_fake, logits = extractor.features_and_logits(fake.float())
                    self.metrics["acc"].update(logits, labels.to(logits.device).long())
                else:
                    feats_fake = extractor(fake.float())
                if any(m in DISTRIBUTION_METRICS for m in self.metric_keys):
                    feats_real = extractor(real.float())
                    for m in DISTRIBUTION_METRICS:
                        if m in self.metric_keys:
                            self.metrics[m].update(feats_fake.float(), real=False)
                            self.metrics[m].update(feats_real.float(), real=True)
            if paired_keys:
                fake01, real01 = to_unit_range(fake), to_unit_range(real)
                for m in paired_keys:
                    self.metrics[m].update(fake01, real01)

    @torch.no_grad()
    def update_batch(
        self, fake: Tensor, batch: Mapping[str, Any], real: Tensor | None = None, seen: set[str] | None = None
    ) -> None:
        """:meth:`update` from a data batch: ``fake`` translates ``batch["A"]``, ``real`` defaults to ``batch["B"]``.

        Labels for ``acc`` come from ``batch["label"]`` or else from the demo file names in ``batch["A_path"]``.
        Unpaired val/test sets repeat B when A is longer (CycleGAN's testB is read as index % len(B)); a repeated
        real image would count twice in the real statistics, so with ``seen`` (the ``B_path`` values counted so
        far, updated here) each real image counts once.
        """
        real = batch["B"] if real is None else real
        labels = None
        if "acc" in self.metric_keys:
            if "label" in batch:
                labels = batch["label"]
            else:
                from translation_zoo.data.demo import label_from_path  # here: the metrics do not need the data stack

                # Demo files are named <index>_label<digit>.png; DataError names the file if not.
                labels = torch.tensor([label_from_path(p) for p in batch["A_path"]], device=fake.device)
        if seen is not None and not self.paired and "B_path" in batch:
            keep = []
            for i, path in enumerate(batch["B_path"]):  # one by one: a batch may hold a repeat too
                if path not in seen:
                    seen.add(path)
                    keep.append(i)
            real = real[keep]
        self.update(fake, real, labels)

    def compute(self) -> dict[str, Tensor]:
        """All requested metrics, named as in :attr:`metric_names` (synchronised across DDP ranks)."""
        out: dict[str, Tensor] = {}
        for m in self.metric_keys:
            value = self.metrics[m].compute()
            if m == "kid":
                out[f"kid_{self.extractor_name}"], out[f"kid_std_{self.extractor_name}"] = value
            elif m in DISTRIBUTION_METRICS + CLASSIFIER_METRICS:
                out[f"{m}_{self.extractor_name}"] = value
            else:
                out[m] = value
        return out

    def reset(self) -> None:
        """Clear the accumulated states of every metric."""
        for metric in self.metrics.values():
            metric.reset()

    def extra_repr(self) -> str:
        return f"metrics={list(self.metric_keys)}, extractor={self.extractor_name!r}, paired={self.paired}"


def _drop_extractor_from_state_dict(module: TranslationMetrics, state_dict: dict, prefix: str, *args) -> None:
    # The extractor is fixed and reloaded from its own files; keeping it out of checkpoints saves its size
    # (100 MB for Inception) and lets a checkpoint load whichever extractor the metrics are built with.
    for key in [k for k in state_dict if k.startswith(prefix + "extractor.")]:
        del state_dict[key]


def _keep_own_extractor_on_load(module: TranslationMetrics, state_dict: dict, prefix: str, *args) -> None:
    # Counterpart of _drop_extractor_from_state_dict for strict loading: ignore any extractor weights in the
    # checkpoint and feed the extractor its current values, so its keys are neither missing nor unexpected.
    for key in [k for k in state_dict if k.startswith(prefix + "extractor.")]:
        del state_dict[key]
    if module.extractor is not None:
        for key, value in module.extractor.state_dict().items():
            state_dict[prefix + "extractor." + key] = value


@torch.no_grad()
def score_translations(
    translate: Callable[[Tensor], Tensor],
    batches: Iterable[Mapping[str, Any]],
    metrics: Sequence[str] = ("fid", "acc"),
    feature_extractor: str | nn.Module = "digits_uci",
    paired: bool = False,
) -> dict[str, float]:
    """Score ``translate(batch["A"])`` against ``batch["B"]`` over a whole split, outside any Trainer.

    The benchmarks' and slow tests' one-liner: the same suite and the same once-per-real-image counting as a
    model's validation (:meth:`TranslationMetrics.update_batch`). Returns :meth:`TranslationMetrics.compute` as
    floats, e.g. ``{"fid_digits_uci": 12.3, "acc_digits_uci": 0.81}``.
    """
    suite = TranslationMetrics(metrics, feature_extractor, paired=paired)
    seen: set[str] = set()
    for batch in batches:
        suite.update_batch(translate(batch["A"]), batch, seen=seen)
    return {name: float(value) for name, value in suite.compute().items()}
