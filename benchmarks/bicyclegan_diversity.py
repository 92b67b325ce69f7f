"""BicycleGAN vs the paper's baselines on the embedded edges → digits data: diversity and realism (Fig. 6 in miniature).

    python benchmarks/bicyclegan_diversity.py                       # bicyclegan and pix2pix_noise, ~3 min on 2 cores
    python benchmarks/bicyclegan_diversity.py --presets bicyclegan cvae_gan cvae_gan++ clr_gan pix2pix_noise

Each preset of :class:`~translation_zoo.models.BicycleGAN` (the paper's variants, same networks and data) trains for
``--iters`` batches on ``mnist_edges`` (Canny edges of an MNIST digit → the digit, 32x32), then is scored on the
test split as the paper scores it (§4.1):

* diversity: the official protocol (README of junyanz/BicycleGAN): for each of ``--inputs`` test inputs (100),
  ``--samples`` outputs (20) from random codes z ~ N(0, I), and the perceptual distance of the 19 consecutive
  pairs, averaged over all pairs. The distance is LPIPS when its backbone weights are installed
  (``--distance lpips_alex``); offline, the default is ``digits_mnist``: the squared distance between the
  unit-normalised features of the MNIST digit classifier shipped with the package (LPIPS' recipe -- normalised deep
  features, squared L2 -- in a network trained on the target domain), divided by 4 so it lies in [0, 1].
  A model that collapses to one output per input scores 0.
* realism: FID between one random-z output per test input and the real test digits, in the same feature space
  (``fid_digits_mnist`` of :class:`~translation_zoo.metrics.TranslationMetrics`; the paper used human judgements).

The paper's claim is that pix2pix+noise learns to ignore z (diversity ≈ 0) while BicycleGAN stays diverse at
comparable realism; ``tests/test_bicyclegan.py::test_bicyclegan_is_more_diverse_than_pix2pix_noise`` runs a shorter
version. Numbers: ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from translation_zoo.data import DemoPairedDataModule
from translation_zoo.metrics import LPIPS, TranslationMetrics, build_feature_extractor, lpips_diversity
from translation_zoo.models.bicyclegan import BicycleGAN

# The quickstart's networks (recipes/quickstart_bicyclegan_digits.yaml): the official blocks sized for 32x32 digits.
DEMO_CONFIG: dict[str, Any] = {
    "input_nc": 1,
    "output_nc": 1,
    "netG": "unet_32",
    "netE": "resnet_32",
    "netD": "basic_128_multi",
    "netD2": "basic_128_multi",
    "ngf": 16,
    "ndf": 16,
    "nef": 16,
}


class FeatureDistance(nn.Module):
    """Per-pair perceptual distance in a feature extractor's space: ||f̂(a) − f̂(b)||² / 4 with f̂ = f / ||f||."""

    def __init__(self, extractor: str = "digits_mnist") -> None:
        super().__init__()
        self.extractor = build_feature_extractor(extractor)
        self.name = extractor

    @torch.no_grad()
    def forward(self, a: Tensor, b: Tensor) -> Tensor:
        fa, fb = F.normalize(self.extractor(a).float(), dim=1), F.normalize(self.extractor(b).float(), dim=1)
        return (fa - fb).pow(2).sum(1) / 4


def build_distance(name: str) -> nn.Module:
    """``lpips_alex`` / ``lpips_vgg`` (needs torchvision's backbone weights) or a feature extractor name."""
    if name.startswith("lpips_"):
        net = LPIPS(name[len("lpips_") :])
        net.name = name
        return net
    return FeatureDistance(name)


@torch.no_grad()
def sample(model: BicycleGAN, inputs: Tensor, n_samples: int) -> Tensor:
    """(N, K, C, H, W): K random-z outputs for each of the N inputs, in eval mode."""
    was = model.training
    model.eval()
    try:
        return torch.stack([model(inputs) for _ in range(n_samples)], 1)
    finally:
        model.train(was)


def consecutive_pair_diversity(samples: Tensor, distance: nn.Module) -> float:
    """Mean distance over the K − 1 consecutive pairs (k, k + 1) of every input's K samples (the official protocol;
    :func:`~translation_zoo.metrics.lpips_diversity` on all unordered pairs has the same expectation)."""
    pairs = torch.stack([samples[:, :-1], samples[:, 1:]], 2).flatten(0, 1)  # (N * (K - 1), 2, C, H, W)
    return float(lpips_diversity(pairs, net=distance))


@torch.no_grad()
def realism(model: BicycleGAN, data: DemoPairedDataModule, extractor: str = "digits_mnist") -> float:
    """FID (in ``extractor``'s space) of one random-z output per test input against the real test targets."""
    suite = TranslationMetrics(("fid",), extractor, paired=False)
    model.eval()
    for batch in data.test_dataloader():
        suite.update(model(batch["A"]), batch["B"])
    return float(suite.compute()[f"fid_{extractor}"])


def train(preset: str, iters: int, batch_size: int, seed: int, data: DemoPairedDataModule, **overrides: Any) -> tuple:
    """The preset trained for ``iters`` batches; returns (model, seconds)."""
    L.seed_everything(seed, verbose=False)
    model = BicycleGAN.preset(preset, **{**DEMO_CONFIG, "fused": True, **overrides})
    trainer = L.Trainer(
        accelerator="cpu",
        max_epochs=-1,
        max_steps=2 * iters,  # two optimiser steps (G+E, then D+D2) per batch
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
        deterministic=True,
    )
    start = time.perf_counter()
    trainer.fit(model, datamodule=data)
    return model.eval(), time.perf_counter() - start


def evaluate(
    presets: list[str],
    iters: int = 400,
    batch_size: int = 16,
    seed: int = 0,
    inputs: int = 100,
    samples: int = 20,
    distance: str = "digits_mnist",
    max_dataset_size: int | None = None,
    **overrides: Any,
) -> dict[str, dict[str, float]]:
    """Train every preset on the same data and score diversity and realism; returns preset -> numbers."""
    data = DemoPairedDataModule(batch_size=batch_size, max_dataset_size=max_dataset_size, num_workers=0)
    data.prepare_data()
    data.setup("fit")
    data.setup("test")
    test_inputs = torch.cat([b["A"] for b in data.test_dataloader()])[:inputs]
    dist = build_distance(distance)
    results = {}
    for preset in presets:
        model, seconds = train(preset, iters, batch_size, seed, data, **overrides)
        torch.manual_seed(seed)
        div = consecutive_pair_diversity(sample(model, test_inputs, samples), dist)
        torch.manual_seed(seed)
        results[preset] = {"diversity": div, "fid": realism(model, data), "train_s": seconds}
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--presets", nargs="+", default=["bicyclegan", "pix2pix_noise"], choices=list(BicycleGAN.PRESETS)
    )
    parser.add_argument("--iters", type=int, default=400, help="training batches per preset")
    parser.add_argument("--batch-size", type=int, default=16, help="halves of 8: cVAE-GAN / cLR-GAN (official: 2)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--inputs", type=int, default=100, help="test inputs (official protocol: 100)")
    parser.add_argument("--samples", type=int, default=20, help="outputs per input (official protocol: 20)")
    parser.add_argument("--distance", default="digits_mnist", help="digits_mnist, or lpips_alex if installed")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    results = evaluate(args.presets, args.iters, args.batch_size, args.seed, args.inputs, args.samples, args.distance)
    print(
        f"\n{args.iters} batches of {args.batch_size}, seed {args.seed}; diversity: {args.inputs} inputs x "
        f"{args.samples} samples, {args.samples - 1} consecutive pairs, distance {args.distance}\n"
    )
    print(f"| preset | diversity ({args.distance}) ↑ | realism: FID (digits_mnist) ↓ | train s |")
    print("|---|---|---|---|")
    for preset, r in results.items():
        print(f"| {preset} | {r['diversity']:.4f} | {r['fid']:.2f} | {r['train_s']:.0f} |")


if __name__ == "__main__":
    main()
