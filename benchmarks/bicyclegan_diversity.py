"""BicycleGAN vs the paper's baselines on embedded digits: diversity and realism (Fig. 6 in miniature).

    python benchmarks/bicyclegan_diversity.py --iters 800          # bicyclegan and pix2pix_noise, ~2 min on 2 cores
    python benchmarks/bicyclegan_diversity.py --iters 800 --presets bicyclegan cvae_gan cvae_gan++ clr_gan pix2pix_noise

Each preset of :class:`~translation_zoo.models.BicycleGAN` (the paper's variants, same networks and data) trains for
``--iters`` batches, then is scored on the test split as the paper scores it (§4.1). Tasks (``--task``):

* ``coarse`` (default): the MNIST digit of ``mnist_edges`` averaged over ``--factor`` x ``--factor`` blocks (4: an
  8x8 image, enlarged back to 32x32) → the digit. Many real digits share one coarse input, so there is real
  variety to capture.
* ``edges``: the Canny edge map → the digit (close to one-to-one; the quickstart's task).

Scores:

* diversity: the official protocol (README of junyanz/BicycleGAN): for each of ``--inputs`` test inputs (100),
  ``--samples`` outputs (20) from random codes z ~ N(0, I), and the perceptual distance of the 19 consecutive
  pairs, averaged over all pairs. The distance is LPIPS when its backbone weights are installed
  (``--distance lpips_alex``); offline, the default is ``digits_mnist``: the squared distance between the
  unit-normalised features of the MNIST digit classifier shipped with the package (LPIPS' recipe -- normalised deep
  features, squared L2 -- in a network trained on the target domain), divided by 4 so it lies in [0, 1].
  A model that collapses to one output per input scores 0. Two reference rows give the scale: the real digits
  whose inputs are nearest to each test input (``--samples`` of them, scored like samples) and consecutive real
  test digits (different inputs).
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
    "init_type": "normal",  # the official xavier(0.02) needs far more than a demo's steps (see the quickstart recipe)
}


def coarse(digits: Tensor, factor: int = 4) -> Tensor:
    """The digit averaged over ``factor`` x ``factor`` blocks and enlarged back (nearest): the coarse input of
    the ``coarse`` task. Many real digits share one coarse image; the strokes' style is left open."""
    return F.interpolate(F.avg_pool2d(digits, factor), scale_factor=factor, mode="nearest")


class CoarseDigits(DemoPairedDataModule):
    """``mnist_edges``' digits with A = :func:`coarse` (B) instead of the edge map: coarse → digit, a task where one
    input has many plausible real outputs (the stroke style; sometimes the class)."""

    def __init__(self, *args: Any, factor: int = 4, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.factor = factor

    def on_after_batch_transfer(self, batch: dict[str, Any], dataloader_idx: int) -> dict[str, Any]:
        return {**batch, "A": coarse(batch["B"], self.factor)}


TASKS = {"coarse": CoarseDigits, "edges": DemoPairedDataModule}


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


def test_batches(data: DemoPairedDataModule) -> list[dict[str, Any]]:
    """The test split's batches as the model sees them (the task's inputs A)."""
    return [data.on_after_batch_transfer(batch, 0) for batch in data.test_dataloader()]


@torch.no_grad()
def realism(model: BicycleGAN, data: DemoPairedDataModule, extractor: str = "digits_mnist") -> float:
    """FID (in ``extractor``'s space) of one random-z output per test input against the real test targets."""
    suite = TranslationMetrics(("fid",), extractor, paired=False)
    model.eval()
    for batch in test_batches(data):
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


#: Names of the reference rows of :func:`evaluate` (real digits, no model).
REAL_SHARED = "real digits sharing the input"
REAL_OTHER = "real digits of different inputs"


def evaluate(
    presets: list[str],
    task: str = "coarse",
    iters: int = 400,
    batch_size: int = 16,
    seed: int = 0,
    inputs: int = 100,
    samples: int = 20,
    distance: str = "digits_mnist",
    max_dataset_size: int | None = None,
    grid: str | None = None,
    factor: int = 4,
    **overrides: Any,
) -> dict[str, dict[str, float]]:
    """Train every preset on the same data and score diversity and realism; returns preset -> numbers, plus two
    reference rows on real digits (no model), the metric's scale:

    * :data:`REAL_SHARED`: :func:`real_variety`, the ``samples`` real digits whose inputs are nearest to each test
      input, scored like a model's samples -- what a model that spreads over the data's real variety would score;
    * :data:`REAL_OTHER`: consecutive real test digits (different inputs, mostly different classes).

    ``factor``: the block size of the ``coarse`` task. ``grid``: also save a PNG per preset (``grid`` with
    ``{preset}`` filled in): for 8 test inputs, the input, the real digit and 6 random-z samples.
    """
    kwargs = {"factor": factor} if task == "coarse" else {}
    data = TASKS[task](batch_size=batch_size, max_dataset_size=max_dataset_size, num_workers=0, **kwargs)
    data.prepare_data()
    data.setup("fit")
    data.setup("test")
    test_inputs = torch.cat([b["A"] for b in test_batches(data)])[:inputs]
    test_targets = torch.cat([b["B"] for b in test_batches(data)])[:inputs]
    dist = build_distance(distance)
    results = {}
    for preset in presets:
        model, seconds = train(preset, iters, batch_size, seed, data, **overrides)
        torch.manual_seed(seed)
        outputs = sample(model, test_inputs, samples)
        div = consecutive_pair_diversity(outputs, dist)
        torch.manual_seed(seed)
        results[preset] = {"diversity": div, "fid": realism(model, data), "train_s": seconds}
        if grid:
            save_grid(test_inputs[:8], test_targets[:8], outputs[:8, :6], grid.format(preset=preset))
    results[REAL_SHARED] = {"diversity": real_variety(data, test_inputs, samples, dist)}
    real = torch.stack([test_targets[:-1], test_targets[1:]], 1)  # consecutive real digits of different inputs
    results[REAL_OTHER] = {"diversity": float(lpips_diversity(real, net=dist))}
    return results


@torch.no_grad()
def real_variety(data: DemoPairedDataModule, inputs: Tensor, k: int, distance: nn.Module) -> float:
    """The diversity of real digits that share (nearly) each input: for each of ``inputs``, the ``k`` training pairs
    whose input A is nearest (L2), their real digits B taken as that input's "samples", scored with the protocol
    of :func:`consecutive_pair_diversity`. The scale a model that captures the data's spread should approach."""
    train_a, train_b = [], []
    for batch in data.train_dataloader():
        batch = data.on_after_batch_transfer(batch, 0)
        train_a.append(batch["A"].flatten(1))
        train_b.append(batch["B"])
    train_a, train_b = torch.cat(train_a), torch.cat(train_b)
    nearest = torch.cdist(inputs.flatten(1), train_a).topk(k, largest=False).indices  # (N, k)
    return consecutive_pair_diversity(train_b[nearest], distance)


def save_grid(inputs: Tensor, targets: Tensor, samples: Tensor, path: str) -> None:
    """Rows: input, real target, then the samples; one column per input. Images in [-1, 1], 1 channel."""
    from PIL import Image

    rows = [inputs, targets, *samples.transpose(0, 1)]  # each (N, C, H, W)
    grid = torch.cat([torch.cat(list(r), dim=-1) for r in rows], dim=-2)[0]
    Image.fromarray(((grid.clamp(-1, 1) + 1) * 127.5).round().byte().numpy()).save(path)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--presets", nargs="+", default=["bicyclegan", "pix2pix_noise"], choices=list(BicycleGAN.PRESETS)
    )
    parser.add_argument("--task", default="coarse", choices=list(TASKS), help="coarse → digit or edges → digit")
    parser.add_argument("--factor", type=int, default=4, help="coarse task: block size (4: an 8x8 input)")
    parser.add_argument("--iters", type=int, default=800, help="training batches per preset")
    parser.add_argument("--batch-size", type=int, default=16, help="halves of 8: cVAE-GAN / cLR-GAN (official: 2)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--inputs", type=int, default=100, help="test inputs (official protocol: 100)")
    parser.add_argument("--samples", type=int, default=20, help="outputs per input (official protocol: 20)")
    parser.add_argument("--distance", default="digits_mnist", help="digits_mnist, or lpips_alex if installed")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--grid", help="save sample grids, e.g. runs/bicyclegan_{preset}.png")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    results = evaluate(
        args.presets,
        args.task,
        args.iters,
        args.batch_size,
        args.seed,
        args.inputs,
        args.samples,
        args.distance,
        grid=args.grid,
        factor=args.factor,
    )
    print(
        f"\ntask {args.task}, {args.iters} batches of {args.batch_size}, seed {args.seed}; diversity: "
        f"{args.inputs} inputs x {args.samples} samples, {args.samples - 1} consecutive pairs, "
        f"distance {args.distance}\n"
    )
    print(f"| preset | diversity ({args.distance}) ↑ | realism: FID (digits_mnist) ↓ | train s |")
    print("|---|---|---|---|")
    for preset, r in results.items():
        fid, seconds = (f"{r['fid']:.2f}", f"{r['train_s']:.0f}") if "fid" in r else ("–", "–")
        print(f"| {preset} | {r['diversity']:.4f} | {fid} | {seconds} |")


if __name__ == "__main__":
    main()
