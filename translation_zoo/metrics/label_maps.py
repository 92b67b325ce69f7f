"""Label-map fidelity of synthesised photos: the pix2pixHD / SPADE segmentation protocol on the ``digit_scenes`` demo.

pix2pixHD (§4.1, Table 1) and SPADE (§4, Table 1) score a label-to-photo model by running a semantic segmentation
network trained on *real* photos over the *synthesised* ones and comparing its prediction with the input label map:
pixel accuracy and mean IoU (pix2pix's "FCN-score" reports per-pixel accuracy, per-class accuracy and class IoU the
same way). Here the segmenter is a small U-Net trained on the real photos of the embedded demo
(:class:`~translation_zoo.data.labelmaps.DemoLabelMapDataModule`, 400 training scenes, 14 classes) and shipped in
``weights/label_maps_digit_scenes.safetensors`` (about 0.2 MB), like the digit classifiers of
:mod:`translation_zoo.metrics.digits`; ``python -m translation_zoo.metrics.label_maps`` retrains it (seeded,
deterministic, a few minutes on two cores). Its score on the real held-out photos is the ceiling a generator can
reach (stored in the file's metadata and printed by the benchmark).

- :func:`segmentation_scores` ``(images, labels) -> {"pixel_acc", "mean_class_acc", "miou"}``;
- :func:`confusion_matrix` and :func:`scores_from_confusion` for accumulating over batches;
- :class:`LabelMapFeatures`: a :class:`~translation_zoo.metrics.features.FeatureExtractor` (name
  ``digit_scenes``) of the same network, its bottleneck averaged over the image and standardised on the real
  training photos, for FID in a demo feature space (:func:`label_map_fid`, with
  :class:`~translation_zoo.metrics.distribution.FrechetDistance`).

Images are float (N, 3, 64, 64) in [-1, 1]; label maps int (N, 1, 64, 64) (or (N, 64, 64)) of class ids
``0 .. 13``. Choices the papers leave open: IoU averaged over the classes that occur in the label maps or the
predictions (a class predicted but absent counts as IoU 0, as in the FCN / Cityscapes scripts); mean class accuracy
over the classes present in the label maps; scores pooled over all pixels of the set (one confusion matrix), not
averaged per image.
"""

from __future__ import annotations

import json
import os
import time
from functools import lru_cache
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from translation_zoo.metrics.features import FeatureExtractor

WEIGHTS_DIR = Path(__file__).parent / "weights"
NUM_CLASSES = 14  # DEMO_LABEL_NC of data/labelmaps.py: 4 textures + 10 digits (checked at load time)
SCENE_SIZE = 64
SCORE_NAMES = ("pixel_acc", "mean_class_acc", "miou")
# Training recipe of the shipped weights (train_segmenter's defaults).
EPOCHS = 30
BATCH_SIZE = 16
LR = 3e-3
WEIGHT_DECAY = 1e-4
MAX_SHIFT = 8  # random translation (px) of photo and label together: generated objects are not always aligned


def segmenter_weights_path() -> Path:
    """Where the shipped segmenter lives: ``metrics/weights/label_maps_digit_scenes.safetensors``."""
    return WEIGHTS_DIR / "label_maps_digit_scenes.safetensors"


# ------------------------------------------------------------------------------------------------- network
def _double_conv(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1), nn.ReLU(inplace=True),
        nn.Conv2d(c_out, c_out, 3, padding=1), nn.ReLU(inplace=True),
    )  # fmt: skip


class SceneSegmenter(nn.Module):
    """A small U-Net: (N, 3, H, W) photo in [-1, 1] -> (N, num_classes, H, W) per-pixel class logits.

    Three poolings (64 -> 8 px; the receptive field of the bottleneck covers a whole digit), widths 16-32-48-64,
    skip connections, bilinear up-sampling, no normalisation layers (so a pixel's prediction does not depend on
    the other images of the batch), ~190k parameters.

    Args:
        num_classes: label classes.
        width: channels of the first level (doubled, then x1.5, x1.33 below).
    """

    def __init__(self, num_classes: int = NUM_CLASSES, width: int = 16) -> None:
        super().__init__()
        w1, w2, w3, w4 = width, 2 * width, 3 * width, 4 * width
        self.num_classes = num_classes
        self.num_features = w4
        self.enc1, self.enc2, self.enc3 = _double_conv(3, w1), _double_conv(w1, w2), _double_conv(w2, w3)
        self.bottleneck = _double_conv(w3, w4)
        self.dec3, self.dec2, self.dec1 = (
            _double_conv(w4 + w3, w3),
            _double_conv(w3 + w2, w2),
            _double_conv(w2 + w1, w1),
        )
        self.head = nn.Conv2d(w1, num_classes, 1)
        # Per-feature mean/std of the pooled bottleneck on the real training photos (set_feature_stats).
        self.register_buffer("feature_mean", torch.zeros(w4))
        self.register_buffer("feature_std", torch.ones(w4))

    def features_and_logits(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Photos (N, 3, H, W), H and W multiples of 8 -> standardised features (N, 64), logits (N, K, H, W)."""
        e1 = self.enc1(x)  # (N, w1, H, W)
        e2 = self.enc2(F.max_pool2d(e1, 2))  # (N, w2, H/2, W/2)
        e3 = self.enc3(F.max_pool2d(e2, 2))  # (N, w3, H/4, W/4)
        b = self.bottleneck(F.max_pool2d(e3, 2))  # (N, w4, H/8, W/8)
        up = lambda t, ref: F.interpolate(t, size=ref.shape[-2:], mode="bilinear", align_corners=False)  # noqa: E731
        d3 = self.dec3(torch.cat([up(b, e3), e3], 1))
        d2 = self.dec2(torch.cat([up(d3, e2), e2], 1))
        d1 = self.dec1(torch.cat([up(d2, e1), e1], 1))
        features = (b.mean((2, 3)) - self.feature_mean) / self.feature_std
        return features, self.head(d1)

    def forward(self, x: Tensor) -> Tensor:
        """Photos (N, 3, H, W) in [-1, 1] -> logits (N, num_classes, H, W)."""
        return self.features_and_logits(x)[1]

    @torch.no_grad()
    def set_feature_stats(self, x: Tensor, batch_size: int = 100) -> None:
        """Standardise the pooled features with their statistics on real photos ``x`` (so FID has a fixed scale)."""
        was_training = self.training
        self.eval()
        self.feature_mean.zero_()
        self.feature_std.fill_(1.0)
        h = torch.cat([self.features_and_logits(xb)[0] for xb in x.split(batch_size)]).double()
        self.feature_mean.copy_(h.mean(0))
        self.feature_std.copy_(h.std(0).clamp_min(1e-6))
        self.train(was_training)


def _check(images: Tensor, labels: Tensor | None = None) -> Tensor | None:
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"Expected photos of shape (N, 3, H, W) in [-1, 1], got {tuple(images.shape)}.")
    if images.shape[-1] % 8 or images.shape[-2] % 8:
        raise ValueError(f"Photo height and width must be multiples of 8, got {tuple(images.shape[-2:])}.")
    if labels is None:
        return None
    shape = tuple(labels.shape)
    if labels.ndim == 4:
        if labels.shape[1] != 1:
            raise ValueError(f"Expected label maps (N, 1, H, W) of class ids, got {tuple(labels.shape)}.")
        labels = labels[:, 0]
    if labels.shape != (images.shape[0], *images.shape[-2:]) or labels.is_floating_point():
        raise ValueError(
            f"Label maps must be integer class ids of shape (N, [1,] H, W) matching the photos {tuple(images.shape)}, "
            f"got {shape} {labels.dtype}."
        )
    return labels.long()


# ------------------------------------------------------------------------------------------------- scores
def confusion_matrix(pred: Tensor, target: Tensor, num_classes: int = NUM_CLASSES) -> Tensor:
    """Pixel counts (K, K) int64: row = true class (``target``), column = predicted class; ids outside
    ``0 .. K-1`` in ``target`` (e.g. a don't-care id) are ignored."""
    pred, target = pred.reshape(-1).long(), target.reshape(-1).long()
    keep = (target >= 0) & (target < num_classes)
    idx = target[keep] * num_classes + pred[keep].clamp(0, num_classes - 1)
    return torch.bincount(idx, minlength=num_classes**2).view(num_classes, num_classes).cpu()


def scores_from_confusion(conf: Tensor) -> dict[str, float]:
    """``{"pixel_acc", "mean_class_acc", "miou"}`` of a confusion matrix (rows true, columns predicted).

    pixel_acc = Σ_k n_kk / Σ n; mean_class_acc = mean over classes with true pixels of n_kk / Σ_j n_kj;
    miou = mean over classes with a non-empty union of n_kk / (Σ_j n_kj + Σ_j n_jk - n_kk).
    """
    conf = conf.double()
    tp, true, predicted = conf.diagonal(), conf.sum(1), conf.sum(0)
    total = conf.sum()
    if total == 0:
        raise ValueError("No labelled pixels to score.")
    union = true + predicted - tp
    present = true > 0
    return {
        "pixel_acc": float(tp.sum() / total),
        "mean_class_acc": float((tp[present] / true[present]).mean()),
        "miou": float((tp[union > 0] / union[union > 0]).mean()),
    }


@torch.no_grad()
def predict_labels(images: Tensor, segmenter: nn.Module | None = None, batch_size: int = 100) -> Tensor:
    """The segmenter's label map (N, H, W) int64 of photos (N, 3, H, W) in [-1, 1]."""
    _check(images)
    net = segmenter if segmenter is not None else shipped_segmenter()
    param = next(net.parameters())
    out = [net(xb.to(param.device, param.dtype).clamp(-1, 1)).argmax(1).cpu() for xb in images.split(batch_size)]
    return torch.cat(out)


def segmentation_scores(
    images: Tensor, labels: Tensor, segmenter: nn.Module | None = None, num_classes: int = NUM_CLASSES
) -> dict[str, float]:
    """How well a segmenter trained on real demo photos recovers the label maps from (synthesised) photos.

    Args:
        images: photos (N, 3, H, W) in [-1, 1], e.g. G(labels); values outside are clamped.
        labels: the label maps they should show, (N, 1, H, W) or (N, H, W) integer class ids.
        segmenter: the network (default: the shipped ``digit_scenes`` segmenter, see :func:`shipped_segmenter`).
        num_classes: K; label ids outside ``0 .. K-1`` are ignored.

    Returns:
        ``{"pixel_acc", "mean_class_acc", "miou"}`` pooled over all pixels (see :func:`scores_from_confusion`).
    """
    labels = _check(images, labels)
    return scores_from_confusion(confusion_matrix(predict_labels(images, segmenter), labels, num_classes))


# ------------------------------------------------------------------------------------------------- features
class LabelMapFeatures(FeatureExtractor):
    """Features (N, 64) of the ``digit_scenes`` segmenter: its bottleneck averaged over the image, standardised
    with the statistics of the real training photos (unit variance on real data, so FID has a fixed scale).

    Args:
        weights_path: a ``.safetensors`` file to load instead of the shipped one.
    """

    name = "digit_scenes"

    def __init__(self, weights_path: str | os.PathLike | None = None) -> None:
        super().__init__()
        self.net = load_segmenter(weights_path)
        self.num_features = self.net.num_features
        self.freeze()

    def forward(self, x: Tensor) -> Tensor:
        """Photos (N, 3, H, W) in [-1, 1] -> features (N, 64)."""
        _check(x)
        return self.net.features_and_logits(x.to(self.net.head.weight.dtype).clamp(-1, 1))[0]

    def segment(self, x: Tensor) -> Tensor:
        """Photos (N, 3, H, W) in [-1, 1] -> per-pixel logits (N, 14, H, W)."""
        _check(x)
        return self.net(x.to(self.net.head.weight.dtype).clamp(-1, 1))


@torch.no_grad()
def label_map_fid(
    real: Tensor, fake: Tensor, extractor: FeatureExtractor | None = None, batch_size: int = 100
) -> float:
    """FID between two sets of photos (N, 3, H, W) in [-1, 1] in ``extractor``'s feature space (default:
    :class:`LabelMapFeatures`), with :class:`~translation_zoo.metrics.distribution.FrechetDistance`. Needs more
    images than feature dimensions for a well-conditioned estimate: use the whole split (100-400 scenes)."""
    from translation_zoo.metrics.distribution import FrechetDistance

    ext = extractor if extractor is not None else shipped_features()
    fid = FrechetDistance(ext.num_features)
    for images, is_real in ((real, True), (fake, False)):
        for xb in images.split(batch_size):
            fid.update(ext(xb), real=is_real)
    return float(fid.compute())


# ------------------------------------------------------------------------------------------------- weights
def load_segmenter(weights_path: str | os.PathLike | None = None) -> SceneSegmenter:
    """The segmenter with the shipped (or given) weights, in eval mode with gradients off.

    Raises:
        FileNotFoundError: no weights file (says how to make one).
        RuntimeError: the file was trained on another version of the demo data.
    """
    from safetensors import safe_open
    from safetensors.torch import load_file

    from translation_zoo.data.labelmaps import DEMO_LABEL_NC, DEMO_VERSION

    path = Path(weights_path) if weights_path is not None else segmenter_weights_path()
    if not path.is_file():
        raise FileNotFoundError(
            f"digit_scenes segmenter weights not found at {path}. They ship with the package; regenerate them with: "
            "python -m translation_zoo.metrics.label_maps"
        )
    with safe_open(str(path), "pt") as f:
        info = json.loads((f.metadata() or {}).get("translation_zoo", "{}"))
    if int(info.get("demo_version", DEMO_VERSION)) != DEMO_VERSION:
        raise RuntimeError(
            f"{path} was trained on digit_scenes v{info['demo_version']}, the data are v{DEMO_VERSION}: retrain it "
            "with python -m translation_zoo.metrics.label_maps"
        )
    net = SceneSegmenter(DEMO_LABEL_NC)
    net.load_state_dict(load_file(str(path)), strict=True)  # strict: an architecture change cannot load silently
    net.requires_grad_(False)
    return net.eval()


@lru_cache(maxsize=1)
def shipped_segmenter() -> SceneSegmenter:
    """The shipped segmenter, loaded once per process."""
    return load_segmenter()


@lru_cache(maxsize=1)
def shipped_features() -> LabelMapFeatures:
    """:class:`LabelMapFeatures` of the shipped weights, loaded once per process."""
    return LabelMapFeatures()


def segmenter_info(weights_path: str | os.PathLike | None = None) -> dict[str, str]:
    """The metadata stored with the weights: how they were made and the held-out scores on real photos."""
    from safetensors import safe_open

    path = Path(weights_path) if weights_path is not None else segmenter_weights_path()
    with safe_open(str(path), "pt") as f:
        return json.loads((f.metadata() or {}).get("translation_zoo", "{}"))


# ------------------------------------------------------------------------------------------------- data
def load_scenes(split: str, root: str | os.PathLike | None = None) -> dict[str, Tensor]:
    """A whole ``digit_scenes`` split as tensors: ``{"image" (N, 3, 64, 64), "label" (N, 1, 64, 64), "instance"}``
    (generated on first use; splits ``train`` 400, ``val`` 100, ``test`` 100)."""
    from translation_zoo.data.labelmaps import DemoLabelMapDataModule

    dm = DemoLabelMapDataModule(root=None if root is None else str(root), batch_size=100)
    dm.prepare_data()
    stage = {"train": "fit", "val": "validate", "test": "test"}[split]
    dm.setup(stage)
    dataset = {"train": dm.train_set, "val": dm.val_set, "test": dm.test_set}[split]
    items = [dataset[i] for i in range(len(dataset))]  # the eval transform for val/test; train: no flip, full size
    return {k: torch.stack([it[k] for it in items]) for k in ("image", "label", "instance")}


def _shift(x: Tensor, dy: int, dx: int, fill: float) -> Tensor:
    """Translate (C, H, W) by (dy, dx) pixels, filling the uncovered border with ``fill``."""
    h, w = x.shape[-2:]
    out = torch.full_like(x, fill)
    out[..., max(dy, 0) : h + min(dy, 0), max(dx, 0) : w + min(dx, 0)] = x[
        ..., max(-dy, 0) : h - max(dy, 0), max(-dx, 0) : w - max(dx, 0)
    ]
    return out


def augment(images: Tensor, labels: Tensor, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """Random translation by up to ``MAX_SHIFT`` px of photo and label together (uncovered pixels: ignore id -1).

    No flips (digits are not mirror-symmetric) and no colour jitter (colour tells classes apart in the demo)."""
    out_x, out_y = images.clone(), labels.clone()
    shifts = torch.randint(-MAX_SHIFT, MAX_SHIFT + 1, (len(images), 2), generator=generator)
    for i, (dy, dx) in enumerate(shifts.tolist()):
        out_x[i] = _shift(images[i], dy, dx, 0.0)
        out_y[i] = _shift(labels[i], dy, dx, -1)
    return out_x, out_y


def train_segmenter(
    seed: int = 0, epochs: int = EPOCHS, root: str | os.PathLike | None = None, log: bool = True
) -> tuple[SceneSegmenter, dict[str, str]]:
    """Train the segmenter on the real ``train`` photos; returns (network in eval mode, metadata with the scores
    on the real ``val`` and ``test`` photos, never seen in training)."""
    from translation_zoo.data.labelmaps import DEMO_LABEL_NC, DEMO_VERSION

    start = time.perf_counter()
    train = load_scenes("train", root)
    x, y = train["image"], train["label"][:, 0]
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    net = SceneSegmenter(DEMO_LABEL_NC)
    steps = epochs * -(-len(x) // BATCH_SIZE)
    opt = torch.optim.AdamW(net.parameters(), lr=LR, weight_decay=WEIGHT_DECAY)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=LR, total_steps=steps, pct_start=0.2)
    for epoch in range(epochs):
        net.train()
        total = 0.0
        for idx in torch.randperm(len(x), generator=gen).split(BATCH_SIZE):
            xb, yb = augment(x[idx], y[idx], gen)
            loss = F.cross_entropy(net(xb), yb, ignore_index=-1)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(idx)
        if log:
            print(f"  epoch {epoch + 1:2d}/{epochs}  loss {total / len(x):.4f}", flush=True)
    net.set_feature_stats(x)
    net.eval()
    info = {"arch": "SceneSegmenter", "demo_version": str(DEMO_VERSION), "seed": str(seed), "epochs": str(epochs),
            "made_by": "python -m translation_zoo.metrics.label_maps"}  # fmt: skip
    for split in ("val", "test"):
        held = load_scenes(split, root)
        for k, v in segmentation_scores(held["image"], held["label"], net).items():
            info[f"real_{split}_{k}"] = f"{v:.4f}"
    info["train_s"] = f"{time.perf_counter() - start:.0f}"
    return net, info


def save_segmenter(net: SceneSegmenter, info: dict[str, str], path: str | os.PathLike) -> None:
    """Write ``net`` as safetensors with ``info`` as one sorted-JSON metadata entry (reruns give the same file)."""
    from safetensors.torch import save_file

    state = {k: v.detach().contiguous() for k, v in net.state_dict().items()}
    save_file(state, str(path), metadata={"translation_zoo": json.dumps(info, sort_keys=True)})


def main() -> None:
    """Retrain the shipped segmenter: ``python -m translation_zoo.metrics.label_maps [--out PATH]``."""
    import argparse

    parser = argparse.ArgumentParser(description="Train the digit_scenes segmenter behind segmentation_scores.")
    parser.add_argument("--out", type=Path, default=segmenter_weights_path())
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument("--threads", type=int, default=1, help="float results depend on the thread count")
    args = parser.parse_args()
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(args.threads)
    net, info = train_segmenter(args.seed, args.epochs)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    save_segmenter(net, info, args.out)
    print(json.dumps(info, indent=1, sort_keys=True))
    print(f"-> {args.out} ({args.out.stat().st_size / 1024:.0f} KB)")


__all__ = [
    "LabelMapFeatures",
    "SceneSegmenter",
    "confusion_matrix",
    "label_map_fid",
    "load_scenes",
    "load_segmenter",
    "predict_labels",
    "scores_from_confusion",
    "segmentation_scores",
    "segmenter_info",
    "train_segmenter",
]

if __name__ == "__main__":
    main()
