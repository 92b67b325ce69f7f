"""SinGAN learns one photo: SIFID of its samples against a patch-shuffle baseline, and samples that are not copies.

Trains SinGAN (official networks and losses, a reduced budget) on the embedded single-image demo, then scores
``n`` random samples (from the coarsest scale, as the paper's SIFID table does) against the training image:

- ``sifid``: mean SIFID of the samples (translation_zoo.metrics.sifid, feature network ``random_conv``);
- ``sifid_shuffle``: the same for the image's tiles randomly permuted (``tiles`` x ``tiles``: every patch real, the
  arrangement random), the trivial baseline a model of the image's internal statistics should beat;
- ``sifid_before``: the same for the samples of the untrained pyramid (the model starts far from the image);
- ``l1_to_image``: mean |sample - image| (0 for a copy), ``l1_between``: mean pairwise |sample_i - sample_j|
  (diversity; 0 when every sample is the same), ``rec_rmse``: RMSE of the reconstruction from the fixed noise.

    python benchmarks/singan_demo.py --size 48 --min-size 16 --niter 100 --seed 0

Numbers and the commands that made them: benchmarks/RESULTS.md ("SinGAN").
"""

from __future__ import annotations

import argparse
import json
import time

import lightning as L
import torch

from translation_zoo.data.single import DemoSingleImageDataModule
from translation_zoo.metrics.sifid import patch_shuffle, sifid
from translation_zoo.models.singan import SinGAN


def score(model: SinGAN, image: torch.Tensor, n: int, seed: int) -> dict[str, float]:
    torch.manual_seed(seed)
    samples = model.sample(n)
    pairs = [(i, j) for i in range(n) for j in range(i + 1, n)]
    return {
        "sifid": sifid(image, samples).mean().item(),
        "l1_to_image": (samples - image).abs().mean().item(),
        "l1_between": sum((samples[i] - samples[j]).abs().mean().item() for i, j in pairs) / max(1, len(pairs)),
    }


def train_and_score(
    name: str = "immunohistochemistry",
    size: int = 48,
    min_size: int = 16,
    niter: int = 100,
    nfc: int = 32,
    n: int = 8,
    tiles: int = 4,
    seed: int = 0,
) -> dict[str, float]:
    """Train on the demo photo ``name`` (longer side ``size``) and score ``n`` samples (see the module docstring)."""
    L.seed_everything(seed, verbose=False)
    dm = DemoSingleImageDataModule(name=name, size=size, steps_per_epoch=niter)
    dm.setup("fit")
    image = dm.image[None]
    model = SinGAN(
        image_size=tuple(image.shape[-2:]),
        nfc=nfc,
        min_nfc=nfc,
        min_size=min_size,
        niter=niter,
        lr_milestone=max(1, round(0.8 * niter)),  # the official drop at 1600 of 2000 iterations
    )
    image = model.reals(image)[-1]  # the image the finest scale learns (after the official max_size resize)
    # Before training: only scale 0 exists; its samples are resized to the image's size by forward.
    before = score(model, image, n, seed)["sifid"]
    trainer = L.Trainer(
        accelerator="cpu",
        max_epochs=-1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    start = time.perf_counter()
    trainer.fit(model, datamodule=dm)
    seconds = time.perf_counter() - start
    model.eval()
    out = score(model, image, n, seed)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        rec_rmse = (model.reconstruct() - image).pow(2).mean().sqrt().item()
    return {
        **out,
        "sifid_shuffle": sifid(image, patch_shuffle(image, n, tiles, g)).mean().item(),
        "sifid_before": before,
        "rec_rmse": rec_rmse,
        "scales": model.num_scales,
        "train_seconds": round(seconds, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--name", default="immunohistochemistry")
    parser.add_argument("--size", type=int, default=48)
    parser.add_argument("--min-size", type=int, default=16)
    parser.add_argument("--niter", type=int, default=100)
    parser.add_argument("--nfc", type=int, default=32)
    parser.add_argument("--n", type=int, default=8)
    parser.add_argument("--tiles", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    a = parser.parse_args()
    torch.set_num_threads(a.threads)
    r = train_and_score(a.name, a.size, a.min_size, a.niter, a.nfc, a.n, a.tiles, a.seed)
    print(json.dumps({"args": vars(a), **{k: round(v, 4) if isinstance(v, float) else v for k, v in r.items()}}))


if __name__ == "__main__":
    main()
