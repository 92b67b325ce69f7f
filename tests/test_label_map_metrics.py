"""translation_zoo.metrics.label_maps: the segmentation protocol of pix2pixHD/SPADE on the digit_scenes demo.

Known values of the scores, the shipped segmenter on real held-out photos (the ceiling), scores and FID that fall
when the photos stop showing their label maps, and (slow) pix2pixHD against a pix2pix baseline of its size.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import lightning as L
import pytest
import torch
import torch.nn.functional as F

from translation_zoo.metrics.features import FeatureExtractor
from translation_zoo.metrics.label_maps import (
    NUM_CLASSES,
    LabelMapFeatures,
    augment,
    confusion_matrix,
    label_map_fid,
    load_scenes,
    scores_from_confusion,
    segmentation_scores,
    segmenter_info,
    shipped_features,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")
BENCHMARK = Path(__file__).resolve().parent.parent / "benchmarks" / "label2photo_digit_scenes.py"


def load_benchmark():
    spec = importlib.util.spec_from_file_location("label2photo_digit_scenes", BENCHMARK)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def val_scenes():
    """The 100 real validation scenes (never seen by the shipped segmenter)."""
    return load_scenes("val")


# ---------------------------------------------------------------- scores: known values
def test_scores_of_a_hand_made_confusion_matrix():
    # rows true, columns predicted; class 2 never occurs but is predicted once.
    conf = torch.tensor([[8, 2, 0], [1, 3, 1], [0, 0, 0]])
    s = scores_from_confusion(conf)
    assert s["pixel_acc"] == pytest.approx(11 / 15)
    assert s["mean_class_acc"] == pytest.approx((8 / 10 + 3 / 5) / 2)  # over the classes present
    # IoU: class 0 8/(10+9-8), class 1 3/(5+5-3), class 2 0/(0+1-0) (predicted, absent: counts as 0)
    assert s["miou"] == pytest.approx((8 / 11 + 3 / 7 + 0.0) / 3)


def test_confusion_matrix_counts_pixels_and_ignores_out_of_range_ids():
    target = torch.tensor([[0, 0, 1], [1, 255, -1]])
    pred = torch.tensor([[0, 1, 1], [0, 0, 0]])
    conf = confusion_matrix(pred, target, num_classes=2)
    assert conf.tolist() == [[1, 1], [1, 1]]
    assert scores_from_confusion(confusion_matrix(target.clamp(0, 1), target.clamp(0, 1), 2)) == {
        "pixel_acc": 1.0, "mean_class_acc": 1.0, "miou": 1.0,
    }  # fmt: skip


def test_scores_refuse_wrong_shapes():
    images = torch.zeros(2, 3, 64, 64)
    with pytest.raises(ValueError, match="(?i)label maps"):
        segmentation_scores(images, torch.zeros(2, 1, 32, 32, dtype=torch.long))
    with pytest.raises(ValueError, match="integer"):
        segmentation_scores(images, torch.zeros(2, 1, 64, 64))
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\)"):
        segmentation_scores(torch.zeros(2, 1, 64, 64), torch.zeros(2, 1, 64, 64, dtype=torch.long))
    with pytest.raises(ValueError, match="no labelled pixels|No labelled"):
        scores_from_confusion(torch.zeros(3, 3))


def test_augment_moves_photo_and_label_together():
    g = torch.Generator().manual_seed(0)
    label = torch.zeros(4, 64, 64, dtype=torch.long)
    label[:, 20:30, 24:40] = 5
    image = (label == 5).float()[:, None].expand(-1, 3, -1, -1) * 2 - 1  # the label's square, drawn
    x, y = augment(image, label, g)
    assert ((y == 5) == (x[:, 0] > 0)).all()  # still aligned
    assert ((y == -1) == (x[:, 0] == 0)).all()  # uncovered border: ignored in the loss, 0 in the photo
    assert not torch.equal(y, label)


# ---------------------------------------------------------------- the shipped segmenter on real photos
def test_shipped_segmenter_on_real_held_out_photos_is_the_ceiling(val_scenes):
    """The real validation photos score what the weights' metadata says (recomputed here), and high."""
    s = segmentation_scores(val_scenes["image"], val_scenes["label"])
    info = segmenter_info()
    for k, v in s.items():
        assert v == pytest.approx(float(info[f"real_val_{k}"]), abs=2e-3), k
    assert s["pixel_acc"] > 0.9 and s["miou"] > 0.75


def test_scores_fall_when_photos_do_not_show_their_label_maps(val_scenes):
    images, labels = val_scenes["image"], val_scenes["label"]
    real = segmentation_scores(images, labels)
    wrong_scene = segmentation_scores(images.roll(1, 0), labels)  # another scene's photo
    grey = segmentation_scores(torch.zeros_like(images), labels)
    blurred = segmentation_scores(F.avg_pool2d(images, 4).repeat_interleave(4, -1).repeat_interleave(4, -2), labels)
    for worse in (wrong_scene, grey):
        assert worse["miou"] < 0.5 * real["miou"] and worse["pixel_acc"] < real["pixel_acc"] - 0.2
    assert blurred["miou"] < real["miou"] - 0.1


def test_label_map_features_are_a_frozen_feature_extractor(val_scenes):
    ext = LabelMapFeatures()
    assert isinstance(ext, FeatureExtractor) and ext.name == "digit_scenes" and ext.num_features == 64
    ext.train()
    assert not ext.training and not any(p.requires_grad for p in ext.parameters())
    x = val_scenes["image"][:8]
    f = ext(x)
    assert f.shape == (8, 64) and torch.isfinite(f).all()
    assert torch.equal(ext(x[:3]), f[:3])  # no batch dependence
    assert ext.segment(x).shape == (8, NUM_CLASSES, 64, 64)


def test_fid_in_segmenter_space_separates_real_from_degraded_photos(val_scenes):
    """Two real held-out splits (100 scenes each) are closer than real and recoloured or noisy photos. (With 100
    samples in 64 dimensions FID has a bias of about 12 even between real sets; the benchmark uses the 400 training
    photos as reference.) Measured: real 12.0, channels swapped 22.6, noise σ 0.2 17.6."""
    reference, x = load_scenes("test")["image"], val_scenes["image"]
    ext = shipped_features()
    noise = 0.2 * torch.randn(x.shape, generator=torch.Generator().manual_seed(0))
    real = label_map_fid(reference, x, ext)
    swapped = label_map_fid(reference, x[:, [2, 0, 1]], ext)  # the colours of other classes
    noisy = label_map_fid(reference, (x + noise).clamp(-1, 1), ext)
    assert real < 0.6 * swapped and real < 0.8 * noisy


# ---------------------------------------------------------------- the benchmark's baseline adapter
def test_pix2pix_baseline_gets_the_pix2pixhd_input_at_a_similar_size():
    bench = load_benchmark()
    hd, base = bench.build("pix2pixhd", 2), bench.build("pix2pix", 2)
    n = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert (n(hd.gen), n(hd.disc)) == (1_093_507, 357_858)
    assert (n(base.gen), n(base.disc)) == (1_032_699, 365_724)  # within 6 % and 3 %
    assert base.gen.model.model[0].in_channels == hd.gen.model[1].in_channels == NUM_CLASSES + 1
    label = torch.randint(0, NUM_CLASSES, (2, 1, 64, 64))
    instance = label * 1000
    encoded = base.encode(label, instance)
    assert torch.equal(encoded, hd.encode_input(label, instance))
    base.eval()
    assert base(label, instance=instance).shape == (2, 3, 64, 64)
    assert bench.recipe_model("pix2pixhd")[0].__name__ == "Pix2PixHD"
    with pytest.raises(SystemExit, match="no digit_scenes recipe"):
        bench.build("no_such_model", 2)


# ---------------------------------------------------------------- learning (slow)
@pytest.mark.slow
@pytest.mark.xfail(
    strict=True,
    run=False,
    reason="Not shown in budget, and the opposite was measured: after 6 epochs (batch 4, the pix2pixHD demo recipe, "
    "no VGG loss) on 1 thread, seeds 0/1/2, val mIoU pix2pixHD 0.237/0.234/0.205 vs pix2pix 0.627/0.575/0.628 "
    "(pixel acc 0.49 vs 0.86; the real photos: 0.935 / 0.984); FID in the segmenter's space favours pix2pixHD "
    "(14.0 vs 17.6, ceiling 9.6). One 6-epoch pix2pixHD run alone takes ~150 s on 1 thread (pix2pix ~100 s), over "
    "the 120 s budget. benchmarks/label2photo_digit_scenes.py; see benchmarks/RESULTS.md.",
)
def test_pix2pixhd_beats_a_pix2pix_baseline_of_its_size_on_segmentation_score():
    """pix2pixHD §4.1 / Table 1 in miniature: the same epochs on digit_scenes, the same input (one-hot label map +
    instance boundaries), pix2pixHD (demo recipe) vs pix2pix (U-Net + PatchGAN of about the same parameter count);
    the shipped segmenter (trained on real photos) segments each model's photos of the 100 validation label maps."""
    from translation_zoo.data.labelmaps import DemoLabelMapDataModule

    bench = load_benchmark()
    scores = {}
    for name in ("pix2pix", "pix2pixhd"):
        L.seed_everything(0)
        model = bench.build(name, EPOCHS)
        dm = DemoLabelMapDataModule(batch_size=4)
        L.Trainer(
            accelerator="cpu", max_epochs=EPOCHS, limit_val_batches=0, logger=False, enable_checkpointing=False,
            enable_progress_bar=False, enable_model_summary=False,
        ).fit(model, dm)  # fmt: skip
        dm.setup("validate")
        fake = bench.synthesise(model, dm)
        labels = torch.cat([b["label"] for b in dm.val_dataloader()])
        scores[name] = segmentation_scores(fake, labels)
    print(scores)
    # the paper's Table 1 (Cityscapes) has pix2pixHD well above pix2pix on mIoU; asked here: a clear margin
    assert scores["pix2pixhd"]["miou"] > scores["pix2pix"]["miou"] + MARGIN


EPOCHS = 6
MARGIN = 0.02
