"""Data-pipeline throughput (decode + augment + collate) against what training consumes.

    python benchmarks/loader.py --workers 0 4 --train-images-per-s 0.5

Builds a temporary dataset of real photos (``skimage.data``, resized and randomly cropped/flipped into distinct
images), saved as JPEG like the official datasets: ``paired`` = 512x256 aligned A|B files (pix2pix layout, A the
photo and B its greyscale edge map), ``unpaired`` = 256x256 files in ``trainA/`` and ``trainB/`` (CycleGAN
layout). It then drives ``PairedDataModule`` / ``UnpairedDataModule`` with the recipes' preprocessing
(load_size 286, random crop 256, flip; batch 1) and reports images per second for each worker count, median of
``--repeats`` passes after the workers have started, and the single-process CPU cost per image (the share of the
CPU that data loading takes from training on a machine with few cores).

With ``--train-images-per-s`` (e.g. the ``images/s`` of ``benchmarks/throughput.py``), it prints the margin:
loader images/s divided by training images/s.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "cat", "immunohistochemistry", "hubble_deep_field")


def make_images(n: int, size: int, seed: int = 0) -> list[Image.Image]:
    """``n`` distinct RGB ``size`` x ``size`` images cut from skimage's sample photos."""
    from skimage import data

    rng = np.random.default_rng(seed)
    photos = [Image.fromarray(getattr(data, name)()).convert("RGB") for name in PHOTOS]
    out = []
    for i in range(n):
        photo = photos[i % len(photos)]
        w, h = photo.size
        side = int(rng.integers(min(w, h) // 2, min(w, h) + 1))
        x0, y0 = int(rng.integers(0, w - side + 1)), int(rng.integers(0, h - side + 1))
        img = photo.crop((x0, y0, x0 + side, y0 + side)).resize((size, size), Image.BICUBIC)
        if rng.random() < 0.5:
            img = img.transpose(Image.FLIP_LEFT_RIGHT)
        out.append(img)
    return out


def build_datasets(root: Path, n: int) -> None:
    """``root/paired/train/*.jpg`` (512x256 A|B) and ``root/unpaired/train{A,B}/*.jpg`` (256x256)."""
    images = make_images(2 * n, 256)
    (root / "paired" / "train").mkdir(parents=True)
    for i, img in enumerate(images[:n]):
        edges = img.convert("L").filter(ImageFilter.FIND_EDGES).convert("RGB")
        ab = Image.new("RGB", (512, 256))
        ab.paste(img, (0, 0))
        ab.paste(edges, (256, 0))
        ab.save(root / "paired" / "train" / f"{i:04d}.jpg", quality=95)
    for domain, part in (("trainA", images[:n]), ("trainB", images[n:])):
        (root / "unpaired" / domain).mkdir(parents=True)
        for i, img in enumerate(part):
            img.save(root / "unpaired" / domain / f"{i:04d}.jpg", quality=95)


def make_datamodule(kind: str, root: Path, workers: int):
    from translation_zoo.data import PairedDataModule, UnpairedDataModule

    # The recipes' data settings (pix2pix_facades.yaml, cyclegan_horse2zebra.yaml) apart from the worker count.
    common = dict(load_size=286, crop_size=256, batch_size=1, num_workers=workers, persistent_workers=True)
    dm = (
        PairedDataModule(root=str(root / "paired"), **common)
        if kind == "paired"
        else UnpairedDataModule(root=str(root / "unpaired"), **common)
    )
    dm.setup("fit")
    return dm


def measure(kind: str, root: Path, workers: int, images: int, repeats: int) -> tuple[float, list[float], float]:
    """(median images/s, all passes' images/s, CPU seconds per image in this process)."""
    dm = make_datamodule(kind, root, workers)
    loader = dm.train_dataloader()
    rates = []
    cpu0 = time.process_time()
    for r in range(repeats + 1):  # pass 0 starts the workers and warms the caches
        it = iter(loader)
        t0 = time.perf_counter()
        count = 0
        for batch in it:
            count += batch["A"].shape[0]
            if count >= images:
                break
        if r:
            rates.append(count / (time.perf_counter() - t0))
    cpu_per_image = (time.process_time() - cpu0) / (images * (repeats + 1))
    del loader
    return statistics.median(rates), rates, cpu_per_image


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workers", type=int, nargs="+", default=[0, 4], help="num_workers values (recipes: 4)")
    p.add_argument("--kinds", nargs="+", default=["paired", "unpaired"], choices=["paired", "unpaired"])
    p.add_argument("--n", type=int, default=200, help="images per domain written to the temporary dataset")
    p.add_argument("--images", type=int, default=200, help="images timed per pass")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--train-images-per-s", type=float, help="training consumption to compare against")
    args = p.parse_args()
    import torch

    load = os.getloadavg()
    print(f"# {os.cpu_count()} CPUs, torch threads {torch.get_num_threads()}, load average {load[0]:.2f}")
    print("| data | num_workers | images/s (median) | min-max | CPU ms/image (num_workers=0) | margin over training |")
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        build_datasets(root, args.n)
        for kind in args.kinds:
            for workers in args.workers:
                med, rates, cpu = measure(kind, root, workers, args.images, args.repeats)
                margin = f"{med / args.train_images_per_s:.0f}x" if args.train_images_per_s else "-"
                cpu_ms = f"{cpu * 1e3:.1f}" if workers == 0 else "-"
                print(
                    f"| {kind} 256x256 | {workers} | {med:.0f} | {min(rates):.0f}-{max(rates):.0f} | {cpu_ms} "
                    f"| {margin} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
