"""translation_zoo.metrics: known values, monotonicity, the shipped digit classifiers, error paths."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from translation_zoo.metrics import (
    INCEPTION_WEIGHTS_ENV,
    LPIPS,
    DigitFeatures,
    InceptionFeatures,
    KernelDistance,
    TranslationMetrics,
    digit_split,
    lpips_diversity,
    score_translations,
)


@pytest.fixture(scope="module")
def mnist_test():
    """Held-out MNIST digits (never seen by the shipped classifier): (1000, 1, 32, 32) in [-1, 1], labels."""
    _, _, x, y = digit_split("mnist")
    return x, y


@pytest.fixture(scope="module")
def uci_test():
    _, _, x, y = digit_split("uci")
    return x, y


def shift_right(x: torch.Tensor, px: int) -> torch.Tensor:
    """Translate images right by ``px`` pixels, filling with background (-1)."""
    return x if px == 0 else F.pad(x, (px, 0, 0, 0), value=-1.0)[..., :-px]


def random_images(n: int = 8, c: int = 1, size: int = 32, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, c, size, size, generator=g) * 2 - 1


# ---------------------------------------------------------------- paired metrics


def test_identical_images_give_zero_l1_unit_ssim_infinite_psnr():
    x = random_images(8, 3)
    m = TranslationMetrics(("psnr", "ssim", "l1"))
    m.update(x, x.clone())
    out = m.compute()
    assert out["l1"].item() == 0.0
    assert out["ssim"].item() == pytest.approx(1.0, abs=1e-5)
    assert math.isinf(out["psnr"].item()) and out["psnr"].item() > 0


@pytest.mark.parametrize("offset", [0.05, 0.2])
def test_constant_offset_gives_closed_form_psnr_and_l1(offset):
    # Real in [-0.5, 0.5] so that real + offset stays in [-1, 1] (no clipping). In [0, 1] units the error is
    # offset / 2 everywhere, so PSNR = 10 log10(1 / (offset / 2)^2) with data_range 1 and L1 = offset / 2.
    real = random_images(6, 1) * 0.5
    m = TranslationMetrics(("psnr", "l1"))
    m.update(real + offset, real)
    out = m.compute()
    assert out["psnr"].item() == pytest.approx(-20 * math.log10(offset / 2), abs=1e-3)
    assert out["l1"].item() == pytest.approx(offset / 2, abs=1e-6)


def test_ssim_drops_for_noisy_images():
    x = random_images(4, 1, seed=1) * 0.5
    m = TranslationMetrics(("ssim",))
    m.update(x + 0.3 * random_images(4, 1, seed=2), x)
    assert m.compute()["ssim"].item() < 0.9


def test_paired_metrics_refused_for_unpaired_data():
    with pytest.raises(ValueError, match="paired=False"):
        TranslationMetrics(("fid", "psnr"), paired=False)
    m = TranslationMetrics(("psnr",))
    with pytest.raises(ValueError, match="differ in shape"):
        m.update(random_images(4), random_images(5))


# ---------------------------------------------------------------- digit classifiers


@pytest.mark.parametrize(("domain", "min_acc"), [("mnist", 0.97), ("uci", 0.95)])
def test_digit_classifier_accuracy_on_held_out_real_digits(domain, min_acc, request):
    x, y = request.getfixturevalue(f"{domain}_test")
    ext = DigitFeatures(domain)
    with torch.no_grad():
        feats, logits = ext.features_and_logits(x)
    assert feats.shape == (len(x), ext.num_features)
    assert (logits.argmax(1) == y).float().mean().item() > min_acc


def test_classifier_score_is_high_on_real_digits_and_near_chance_on_noise(mnist_test):
    x, y = mnist_test
    x, y = x[:500], y[:500]
    m = TranslationMetrics(("acc",), "digits_mnist")
    m.update(x, x, labels=y)
    assert m.compute()["acc_digits_mnist"].item() > 0.97
    m.reset()
    m.update(random_images(500, seed=3), x, labels=y)  # same labels, images replaced by noise
    assert m.compute()["acc_digits_mnist"].item() < 0.3


def test_digit_features_handle_rgb_and_other_sizes(mnist_test):
    x = mnist_test[0][:16]
    ext = DigitFeatures("mnist")
    with torch.no_grad():
        gray = ext(x)
        rgb = ext(x.expand(-1, 3, -1, -1))  # luma weights sum to 1, so a grey RGB image is the same input
        big = ext(F.interpolate(x, size=64, mode="nearest"))
    torch.testing.assert_close(rgb, gray, atol=1e-4, rtol=1e-4)
    assert big.shape == gray.shape
    assert (big - gray).abs().mean() < gray.abs().mean()  # resized back, so close to the original features


def test_extractor_stays_frozen_in_eval_mode():
    m = TranslationMetrics(("fid",), "digits_mnist")
    m.train()
    assert not m.extractor.training
    assert not any(p.requires_grad for p in m.extractor.parameters())


# ---------------------------------------------------------------- FID / KID


def test_fid_of_a_set_against_itself_is_zero(mnist_test):
    x = mnist_test[0][:500]
    m = TranslationMetrics(("fid",), "digits_mnist", paired=False)
    m.update(x, x)
    assert abs(m.compute()["fid_digits_mnist"].item()) < 1e-4


def test_fid_and_kid_grow_with_the_shift(mnist_test):
    # Two disjoint halves of the held-out digits, the "fake" half shifted right by 0..4 px. (The unbiased
    # KID estimate of a set against *itself* is slightly negative, so disjoint halves are the fair baseline.)
    x = mnist_test[0]
    real, other = x[:500], x[500:]
    fid, kid = [], []
    for px in (0, 1, 2, 4):
        m = TranslationMetrics(("fid", "kid"), "digits_mnist", paired=False)
        m.update(shift_right(other, px), real)
        out = m.compute()
        fid.append(out["fid_digits_mnist"].item())
        kid.append(out["kid_digits_mnist"].item())
    assert fid[0] > 0 and fid == sorted(fid) and len(set(fid)) == len(fid), fid
    assert fid[-1] > 4 * fid[0], fid
    assert kid == sorted(kid) and len(set(kid)) == len(kid), kid
    assert abs(kid[0]) < 0.25 * kid[1], kid


def test_fid_separates_domains(mnist_test, uci_test):
    m = TranslationMetrics(("fid",), "digits_mnist", paired=False)
    m.update(mnist_test[0][:300], mnist_test[0][300:600])  # two disjoint MNIST halves
    same = m.compute()["fid_digits_mnist"].item()
    m.reset()
    m.update(uci_test[0][:300], mnist_test[0][300:600])
    assert m.compute()["fid_digits_mnist"].item() > 5 * same


def test_kid_adapts_subset_size_and_leaves_global_rng_alone():
    g = torch.Generator().manual_seed(0)
    kid = KernelDistance(num_features=8, subsets=10, subset_size=1000)
    kid.update(torch.randn(12, 8, generator=g), real=True)
    kid.update(torch.randn(7, 8, generator=g) + 2, real=False)  # far fewer than 1000 samples
    state = torch.get_rng_state()
    mean, std = kid.compute()
    assert torch.equal(state, torch.get_rng_state())
    assert mean.item() > 0 and torch.isfinite(std)
    assert kid.compute()[0].item() == mean.item()  # seeded subsets: reproducible


# ---------------------------------------------------------------- the suite


class ToyFeatures(nn.Module):
    """A stand-in extractor: per-image mean and std."""

    name = "toy"
    num_features = 2

    def forward(self, x):
        return torch.stack([x.flatten(1).mean(1), x.flatten(1).std(1)], 1)


def test_suite_names_carry_the_extractor_name(uci_test):
    x, y = uci_test[0][:40], uci_test[1][:40]
    m = TranslationMetrics(("fid", "kid", "acc", "psnr", "ssim", "l1"), "digits_uci")
    m.update(x, x, labels=y)
    out = m.compute()
    names = ["fid_digits_uci", "kid_digits_uci", "kid_std_digits_uci", "acc_digits_uci", "psnr", "ssim", "l1"]
    assert list(out) == names == m.metric_names

    toy = TranslationMetrics(("fid", "kid"), ToyFeatures(), paired=False)
    toy.update(random_images(10, seed=4), random_images(10, seed=5))
    assert set(toy.compute()) == {"fid_toy", "kid_toy", "kid_std_toy"}


def test_suite_errors_are_explicit():
    with pytest.raises(ValueError, match="Unknown metric"):
        TranslationMetrics(("fid", "is"))
    with pytest.raises(ValueError, match="classifier"):
        TranslationMetrics(("acc",), ToyFeatures(), paired=False)
    m = TranslationMetrics(("acc",), "digits_mnist")
    with pytest.raises(ValueError, match="labels"):
        m.update(random_images(4), random_images(4))


def test_extractor_is_kept_out_of_checkpoints():
    host = nn.Module()
    host.metrics = TranslationMetrics(("fid", "acc", "psnr"), "digits_mnist")
    host.layer = nn.Linear(2, 2)
    sd = host.state_dict()
    assert set(sd) == {"layer.weight", "layer.bias"}
    # A checkpoint that does carry (other) extractor weights still loads strictly and changes nothing.
    before = {k: v.clone() for k, v in host.metrics.extractor.state_dict().items()}
    legacy = dict(sd, **{f"metrics.extractor.{k}": torch.zeros_like(v) for k, v in before.items()})
    host.load_state_dict(legacy, strict=True)
    host.load_state_dict(sd, strict=True)
    for k, v in host.metrics.extractor.state_dict().items():
        assert torch.equal(v, before[k])


# ---------------------------------------------------------------- external weights: clear errors


def test_inception_without_weights_says_how_to_supply_them(monkeypatch, tmp_path):
    monkeypatch.delenv(INCEPTION_WEIGHTS_ENV, raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(FileNotFoundError, match=INCEPTION_WEIGHTS_ENV) as err:
        InceptionFeatures()
    assert "weights-inception-2015-12-05-6726825d.pth" in str(err.value)
    assert str(tmp_path) in str(err.value)  # the torch hub cache location it looked in

    monkeypatch.setenv(INCEPTION_WEIGHTS_ENV, str(tmp_path / "nowhere.pth"))
    with pytest.raises(FileNotFoundError, match="nowhere.pth"):
        InceptionFeatures()

    # The suite builds Inception lazily: constructing it (e.g. parsing a recipe) needs no weights ...
    m = TranslationMetrics(("fid",), "inception", paired=False)
    assert m.metric_names == ["fid_inception"]
    with pytest.raises(FileNotFoundError, match=INCEPTION_WEIGHTS_ENV):  # ... the first update does
        m.update(random_images(2), random_images(2))


def test_lpips_without_backbone_weights_says_how_to_supply_them(monkeypatch, tmp_path):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="TORCH_HOME") as err:
        lpips_diversity(random_images(3))
    assert "alexnet-owt-7be5be79.pth" in str(err.value) and str(tmp_path) in str(err.value)
    with pytest.raises(FileNotFoundError, match="vgg16"):
        LPIPS("vgg")


def mean_abs_distance(a, b):
    """Stand-in for LPIPS: per-pair mean absolute difference."""
    return (a - b).abs().flatten(1).mean(1)


def test_lpips_diversity_math_with_a_stand_in_net():
    x = random_images(1, 3, seed=6)
    same = x.expand(4, -1, -1, -1)  # K = 4 identical samples of one input
    assert lpips_diversity(same, net=mean_abs_distance).item() == 0.0

    # Constant samples 0, 0.5, -0.5: pair distances 0.5, 0.5, 1.0 -> mean 2/3.
    consts = torch.tensor([0.0, 0.5, -0.5]).view(3, 1, 1, 1).expand(3, 1, 8, 8)
    assert lpips_diversity(consts, net=mean_abs_distance).item() == pytest.approx(2 / 3)

    # (N, K, ...) averages over inputs: a diverse input (2/3) and a collapsed one (0) -> 1/3; small batches
    # must not change the result.
    both = torch.stack([consts, torch.zeros(3, 1, 8, 8)])
    assert lpips_diversity(both, net=mean_abs_distance, batch_size=2).item() == pytest.approx(1 / 3)
    with pytest.raises(ValueError, match="K>=2"):
        lpips_diversity(x, net=mean_abs_distance)


def test_score_translations_counts_each_real_image_once_and_reads_demo_labels():
    torch.manual_seed(0)
    a, b = torch.rand(6, 1, 32, 32) * 2 - 1, torch.rand(3, 1, 32, 32) * 2 - 1
    paths_a = [f"{i:05d}_label{i % 10}.png" for i in range(6)]
    batches = [  # B repeats as in an unpaired test split longer on the A side
        {"A": a[:3], "B": b, "A_path": paths_a[:3], "B_path": ["b0", "b1", "b2"]},
        {"A": a[3:], "B": b, "A_path": paths_a[3:], "B_path": ["b0", "b1", "b2"]},
    ]
    got = score_translations(lambda x: -x, batches, metrics=("fid", "acc"), feature_extractor="digits_uci")
    suite = TranslationMetrics(("fid", "acc"), "digits_uci", paired=False)
    suite.update(-a, b, torch.arange(6) % 10)  # every fake, each real once
    want = {k: float(v) for k, v in suite.compute().items()}
    assert got.keys() == want.keys() == {"fid_digits_uci", "acc_digits_uci"}
    assert got == pytest.approx(want, rel=1e-5)
    twice = TranslationMetrics(("fid",), "digits_uci", paired=False)
    twice.update(-a, torch.cat([b, b]))
    assert float(twice.compute()["fid_digits_uci"]) != pytest.approx(got["fid_digits_uci"], rel=1e-3)
